"""``simulate()``: one scenario, every strategy, on common random numbers."""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
from functools import partial
import time

import numpy as np
import simpy

from ..catalog import ErrorCode, load_catalog
from ..errors import ScenarioError
from ..policies.retry import OnCodes, without_hint
from ..records import SRC_AUTH, SRC_LIMITER, SRC_QUOTA, SRC_REQUEST, RunRecord
from ..rng import BlockRandom, late_stream, resolve_seed, spawn_streams
from ..catalog.codes import first_member
from ..errors import PolicyError
from ..policies.build import Strategy, build_strategy
from ..scenario import Scenario, load_scenario
from ..server.build import build_incidents, mean_service_s
from ..server.faults import FaultSchedule
from .clients import Clients
from .events import run_until
from .fused import fusable, run_fused
from .limits import CHECK_EVERY, Watchdog, check_budget, expected_requests, trim_partial
from .recorder import new_recorder
from .sampler import Sampler
from .service import Service, ServiceOptions

#: The client-side timeout, as a code a policy can be asked about: retried by
#: default (advice "retry"), like every retry library does with timeouts.
CLIENT_TIMEOUT = ErrorCode(code="TIMEOUT", http=0, name="CLIENT_TIMEOUT", category="Client",
                           message="The client stopped waiting for the attempt", resolution="", advice="retry")


def code_table(scenario: Scenario, catalog) -> list:
    """The run's error codes: the catalog's codes, then concrete family members the scenario names."""
    codes = [c for c in catalog.codes if not c.family]
    names = {c.code for c in codes}
    named = list(scenario.faults.background) + [c for i in scenario.faults.incidents if i.service is None
                                                  for c in i.all_rates()]
    named += [c.on_failure for o in scenario.service.operations.values() for c in o.calls]
    for fam in (c for c in catalog.codes if c.family):
        # A family ("104XXX") appears as one concrete member unless the scenario names others.
        members = [n for n in named if n not in names and n in catalog and catalog[n].family]
        if first_member(fam.code) not in members:
            members.insert(0, first_member(fam.code))
        for m in members:
            if m not in names:
                codes.append(catalog[m])
                names.add(m)
    return codes


def _api_side(scenario, catalog, index: dict, ops: list, streams, clients) -> tuple:
    """The scenario's API-side protections (resilsim.server): ``(limiter, rate_limit_code, ServiceOptions)``
    for the service; the clients get their tenants and arrival-rate changes when the scenario has them."""
    from ..server.build import build_admission, build_auth, build_retry_after, make_gate, tenant_tiers
    svc, cl = scenario.service, scenario.clients
    _configure_arrivals(cl.arrival, clients)
    admission = build_admission(scenario, catalog, index, ops,
                                {"request": SRC_REQUEST, "limiter": SRC_LIMITER, "quota": SRC_QUOTA})
    auth = build_auth(scenario, streams["server"])
    limiter, rate_limit_code = None, _resolve(catalog.rate_limit_code, catalog, index)
    simple = admission.simple_limiter() if admission is not None and auth is None else None
    if simple is not None:
        # One global limiter and nothing else: the service's own limiter slot, no gate, no tenants.
        limiter, rate_limit_code = simple
        admission = None
    gate = None
    if admission is not None or auth is not None:
        clients.configure_tenants(streams["server"], len(tenant_tiers(scenario)[1]), cl.clients_per_tenant, auth)
        auth_code = _resolve(catalog.auth_code, catalog, index)

        def gate(service):
            return make_gate(service, admission, auth, auth_code, SRC_AUTH)
    pt, q, load = svc.processing_timeout, svc.queue, svc.load_latency
    mean_service = mean_service_s(svc)
    codel = q.discipline == "codel"
    options = ServiceOptions(
        make_gate=gate,
        processing_timeout=pt.after if pt else math.inf,
        processing_code=(_resolve(pt.code or catalog.timeout_code, catalog, index) if pt else -1),
        load_alpha=load.alpha if load else 0.0, load_power=load.power if load else 1.0,
        discipline=q.discipline, lifo_above=q.lifo_above,
        codel_target=q.codel_target if codel else math.inf, codel_interval=q.codel_interval if codel else math.inf,
        shed_load=svc.shed.load if svc.shed else math.inf, reject_s=svc.reject_cost * mean_service,
        retry_after=build_retry_after(scenario),
        side_effects=tuple(not svc.operations[o].idempotent for o in ops))
    return limiter, rate_limit_code, options


def _configure_arrivals(arrival, clients) -> None:
    """Give ``clients`` the scenario's arrival process when it is not a plain Poisson rate."""
    from ..scenario.load import read_curve, read_trace
    if arrival is None:
        return  # closed-loop users only (configured in _run_one)
    if arrival.changes:
        clients.configure_changes([(c.start, c.start + c.duration, c.rate) for c in arrival.changes])
    elif arrival.curve is not None:
        c = arrival.curve
        times, rates = read_curve(c.file)
        clients.configure_curve(times * c.time_scale, rates * c.scale)
    elif arrival.replay is not None:
        r = arrival.replay
        clients.configure_replay(read_trace(r.file) * r.time_scale, r.rate_scale)


def _resolve(name: str | None, catalog, index: dict) -> int:
    # An API may document no such code (nanoStream has no rate-limit code): -1, never answered.
    if name is None:
        return -1
    return index[catalog[name].code]


def simulate(scenario, seed: int | np.random.SeedSequence | None = 0, *, strategies: list[str] | dict | None = None,
             record: str = "full", rows_to=None, processes: int = 1, meanwhile=None):
    """Simulate every strategy of ``scenario`` on the same random numbers; return a :class:`Result`.

    ``scenario`` is a :class:`Scenario`, a path or a dict. ``seed`` is an
    int ≥ 0, a ``SeedSequence`` or ``None`` (fresh entropy, drawn once; the
    result's ``seed`` is then that entropy, so ``simulate(s, seed=result.seed)``
    reproduces it). The same seed gives the same result, bit for bit, and
    every strategy sees the same streams whatever the seed's type and
    whichever strategies run beside it (common random numbers).
    ``strategies`` picks some of the scenario's strategies by name (a
    list), or gives the strategies to run instead of the scenario's (a dict
    of name → a :class:`resilsim.policies.build.Strategy` made of Python
    objects, or a strategy spec as in YAML): see docs/strategies.md,
    "Policies of your own". A piece that breaks its protocol
    (:mod:`resilsim.policies.protocols`) raises :class:`~resilsim.errors.PolicyError`.
    ``record="summary"`` keeps time-binned counts and a streaming latency
    histogram instead of a row per request and attempt: memory stays flat
    however many requests, the summary's counts are the same and its latency
    percentiles within 0.1 %; the Result has no ``requests``/``attempts``
    tables (:class:`resilsim.result.SummaryResult`). ``record="stream"`` is
    summary mode that also writes every request and attempt row to
    ``rows_to/requests.parquet`` and ``rows_to/attempts.parquet`` as the run
    goes (:class:`resilsim.result.RowStream`): the rows of a run of any
    length, in memory that does not grow with it.
    ``processes``: worker processes that simulate the strategies side by
    side (default 1: one after another in this process, no fork, as a
    notebook wants; ``None``: one per core). At most one per strategy and per
    core is used; the result is the same, byte for byte, as the serial run's
    (every strategy runs on the same root seed in either case). Only the
    scenario's own strategies (``strategies`` None or a list of names) are
    sent to workers, and not with ``record="stream"`` (one file for all):
    those run serially. ``meanwhile``: a function of no arguments called in
    this process while the workers simulate (``resilsim run`` imports its
    table and chart libraries there); called before the serial loop when
    there are no workers.
    """
    root = resolve_seed(seed)  # once: seed=None must not give each strategy other entropy
    if seed is None:
        seed = int(root.entropy)
    elif isinstance(seed, np.random.SeedSequence):
        seed = root
    # Always validated here, a Scenario object too: one made or changed outside load_scenario
    # (model_copy(update=...), model_construct) was never checked.
    scenario = load_scenario(scenario)
    built = resolve_strategies(scenario, strategies)
    check_budget(scenario, record, len(built))
    catalog = load_catalog(scenario.api)
    codes = code_table(scenario, catalog)
    index = {c.code: i for i, c in enumerate(codes)}
    if record == "stream" and rows_to is None:
        raise ValueError("record='stream' writes the rows into a folder: give it as rows_to")
    runs = {}
    sink = None
    n = _processes(processes, len(built), strategies, record)
    if n > 1:
        # Whole strategies in worker processes; each rebuilds its strategy from the scenario's spec (build_strategy,
        # as above) and runs it on the same root seed, so its record is the serial loop's (sim.workers).
        from .workers import run_side_by_side
    else:
        if meanwhile is not None:
            meanwhile()
        from ..result import RowStream  # loaded before the freeze here; side by side, only after the fork
        if record == "stream":
            sink = RowStream(rows_to, codes, list(scenario.service.operations), list(built))
    try:
        with old_objects_frozen():  # before the fork, too: the workers' collections then leave the copied pages alone
            if n > 1:
                done = run_side_by_side(_run_in_worker, [(scenario, root, name, record) for name in built], n,
                                        meanwhile)
                for (name, st), run in zip(built.items(), done):
                    runs[name] = dataclasses.replace(run, strategy=st)  # this process's own Strategy object
            else:
                for k, (name, st) in enumerate(built.items()):
                    if sink is not None:
                        sink.strategy = k
                    runs[name] = _run_one(scenario, root, st, catalog, codes, index, record, sink)
                    if sink is not None:
                        runs[name].recorder.flush()  # this strategy's last rows, before the next one's
    finally:
        if sink is not None:
            sink.close()
    from ..result import Result
    return Result.from_runs(scenario, seed, codes, runs)


@contextlib.contextmanager
def old_objects_frozen():
    """While the strategies simulate, Python's cyclic garbage collector leaves alone every object that existed
    before (modules, the scenario, the caller's own data): :func:`gc.freeze`, then :func:`gc.unfreeze` after.

    Why: a full collection walks every tracked object, and the event loop's allocations set off a few of them
    per run; on the aurora scenario (4 strategies, 84k requests each) they walked ~80k objects that only the
    imports had made, 0.05-0.1 s each, 0.12-0.20 s of a ~0.9 s run in all, and 0.045-0.057 s with them frozen
    (gc callbacks, 2026-12-03; benchmarks/RESULTS.md). The run makes no reference cycles of its own
    (``gc.collect()`` after it finds nothing), and what it does make is still collected: only the objects that
    were there before are skipped. Left as it is where the collector is off or the caller froze objects already
    (unfreezing would undo theirs). Both calls are O(1) (list splices), whatever the heap's size.
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _processes(processes: int | None, strategies: int, given, record: str) -> int:
    """How many worker processes a :func:`simulate` call runs its ``strategies`` strategies in (1: none)."""
    if processes is not None and (isinstance(processes, bool) or not isinstance(processes, int) or processes < 1):
        raise ValueError(f"processes={processes!r}: give a whole number of worker processes, at least 1, or None "
                         "for one per core")
    if processes == 1 or strategies < 2 or record == "stream" or isinstance(given, dict):
        return 1
    from .workers import pool_size
    return pool_size(processes, strategies)


def _run_in_worker(scenario: Scenario, root, name: str, record: str) -> RunRecord:
    """The scenario's strategy ``name`` run on the streams of ``root``, in a worker process: its record, without
    what cannot leave the process (the sampler's environment; the strategy, which the caller has)."""
    catalog = load_catalog(scenario.api)
    codes = code_table(scenario, catalog)
    index = {c.code: i for i, c in enumerate(codes)}
    strategy = build_strategy(scenario.strategies[name], name, scenario.clients)
    run = _run_one(scenario, root, strategy, catalog, codes, index, record)
    return run.portable(strategy=None)


def resolve_strategies(scenario: Scenario, strategies=None) -> dict:
    """Name → :class:`~resilsim.policies.build.Strategy` for a run of ``scenario``: its own strategies (all, or
    those a list names), or those of a dict (a ``Strategy``, a library preset or adapter, or a spec each), checked
    against the protocols."""
    from ..policies.protocols import check_strategy
    from ..scenario import build_strategy as build_spec
    if not isinstance(strategies, dict):
        names = strategies or list(scenario.strategies)
        unknown = [n for n in names if n not in scenario.strategies]
        if unknown:
            raise ScenarioError(f"unknown strategy {unknown[0]!r}; the scenario has {', '.join(scenario.strategies)}",
                                path="strategies")
        return {name: build_strategy(scenario.strategies[name], name, scenario.clients) for name in names}
    if not strategies:
        raise PolicyError("strategies={} gives no strategy to run; give a dict of name → Strategy or spec")
    out = {}
    for name, st in strategies.items():
        if _is_library_preset(st):
            # A library preset or adapter (resilsim.policies.adapters.from_urllib3 ...): its guards, and its own
            # timeouts where the scenario's clients set none, as build_strategy gives a library preset.
            c = scenario.clients
            st = Strategy(str(name), st.policy, st.guards if st.guards() else None,
                          timeout=st.attempt_timeout if c.timeout is None else None,
                          deadline=st.timeout if c.deadline is None else None)
        if isinstance(st, Strategy):
            st = st._replace(name=str(name))
            check_strategy(st)
        else:
            st = build_spec(st, str(name), scenario.clients)
        out[str(name)] = st
    return out


def _is_library_preset(st) -> bool:
    from ..policies.library import LibraryPreset
    return isinstance(st, LibraryPreset)


def _run_one(scenario: Scenario, seed, strategy, catalog, codes: list, index: dict, record: str,
             sink=None) -> RunRecord:
    """Run ``strategy`` through ``scenario`` on the streams of ``seed`` (a SeedSequence); its record."""
    t0 = time.perf_counter()
    policy = strategy.policy
    streams = spawn_streams(seed)
    env = simpy.Environment()
    ops = list(scenario.service.operations)
    weights = np.array([scenario.service.operations[o].weight for o in ops], dtype=float)
    expected = int(expected_requests(scenario) * 1.05) + 64
    recorder = new_recorder(record, scenario, expected, sink)

    plans = [policy.plan(c) for c in codes]
    if scenario.service.retry_after.send == "body" and not policy.reads_body:
        plans = [without_hint(p) for p in plans]  # the hint is in a body this client does not read
    timeout_plan = policy.plan(CLIENT_TIMEOUT)
    # The strategy's own timeout and deadline (or its library preset's) over the scenario's (scenario.build_strategy).
    timeout, deadline = strategy.client_limits(scenario.clients)
    arrival = scenario.clients.arrival
    poisson = arrival.poisson if arrival is not None else None
    clients = Clients(env, rate=poisson.rate if poisson is not None else 1.0, until=scenario.duration,
                      op_weights=weights, arrival_gen=streams["arrivals"], jitter_gen=streams["jitter"],
                      recorder=recorder, plans=plans, timeout_plan=timeout_plan,
                      reauth_delay=policy.reauth_delay, timeout=timeout, deadline=deadline)
    if strategy.hedge is not None:
        clients.configure_hedge(*strategy.hedge)  # before the service takes clients.respond
    unsafe = getattr(policy, "unsafe", None)
    if unsafe is not None and not all(scenario.service.operations[o].idempotent for o in ops):
        # A library that treats non-idempotent requests apart (urllib3 retries no POST): their own plans.
        u_plans = [unsafe.plan(c) for c in codes]
        if scenario.service.retry_after.send == "body" and not unsafe.reads_body:
            u_plans = [without_hint(p) for p in u_plans]
        u_timeout = unsafe.plan(CLIENT_TIMEOUT)
        safe = [scenario.service.operations[o].idempotent for o in ops]
        clients.configure_op_plans([plans if s else u_plans for s in safe],
                                   [timeout_plan if s else u_timeout for s in safe])

    svc = scenario.service
    service_gen = streams["service"]
    respond = clients.respond
    network = None
    if scenario.network is not None:
        network = _network(scenario.network, env, streams["network"], respond)
        respond = network.reply
    samplers = [svc.operations[o].latency.distribution().sampler(service_gen) for o in ops]
    # Flapping incidents draw their on/off periods from a child of the faults stream, at set-up.
    cuts: list = []  # the API's capacity cuts (incidents with workers), applied once the service is built
    incidents = build_incidents(scenario, catalog, ops,
                                lambda: BlockRandom(np.random.default_rng(streams["faults"].integers(2 ** 62))),
                                cuts)
    background = {catalog[c].code: p for c, p in scenario.faults.background.items()}
    faults = FaultSchedule(ops, [c.code for c in codes], background, incidents)
    limiter, rate_limit_code, options = _api_side(scenario, catalog, index, ops, streams, clients)
    graph = None
    if scenario.services:
        # Services behind the API (resilsim.sim.calls): built only then, on their own stream.
        from .calls import CallGraph
        graph = CallGraph(scenario, env, late_stream(seed, "services"), index, clients, CLIENT_TIMEOUT)
    service_class = Service if graph is None else graph.api_class
    service = service_class(env, workers=svc.workers, queue_limit=svc.queue.limit, queue_timeout=svc.queue.timeout,
                      samplers=samplers, faults=faults, fault_gen=streams["faults"], limiter=limiter,
                      rate_limit_code=rate_limit_code, overload_code=_resolve(catalog.overload_code, catalog, index),
                      timeout_code=_resolve(catalog.timeout_code, catalog, index), respond=respond,
                      options=options)
    if graph is not None:
        graph.attach(service)
    if cuts:
        from ..server.capacity import WorkerSchedule
        from .capacity import schedule_cuts
        schedule_cuts(env, service, WorkerSchedule(svc.workers, cuts))
    clients.service = service
    if network is not None:
        network.service = service
        clients.service = network  # attempts reach the service through the network, answers come back through it
    closed = scenario.clients.closed
    if closed is not None:
        # The users' own stream: one child for their operations, properties and tenants, one for think times.
        u_gen, think_gen = streams["users"].spawn(2)
        clients.configure_users([closed.start_of(k) for k in range(closed.users)],
                                closed.think.distribution().sampler(think_gen) if closed.think is not None else None,
                                u_gen, open_arrivals=arrival is not None, warmup=scenario.warmup)
    probe = _configure_guards(strategy, scenario, catalog, codes, index, streams, clients)
    sampler = Sampler(env, service, bin=scenario.bin, until=scenario.duration)
    if probe is not None:
        sampler.watch(*probe)
    sampler.start()
    clients.start()
    # env.run(until=...) without SimPy's per-event step call; the watchdog stops runaway work (limits.py).
    # With services, the attempt cap counts the calls between them too (every layer's attempts).
    watchdog = Watchdog(scenario, clients if graph is None else graph.all_attempts(clients), recorder)
    # The fused loop (sim/fused.py) where the clients and the service are the plain ones; run_until otherwise.
    loop = partial(run_fused, env, clients, service) if fusable(clients, service, cuts) else partial(run_until, env)
    stopped = loop(scenario.duration + scenario.drain, watchdog, CHECK_EVERY)
    clients.flush_arrivals()  # closed-loop users' last arrivals (nothing to do without them)
    if stopped is not None:
        trim_partial(recorder, clients)
    windows = faults.windows() if graph is None else faults.windows() + graph.windows()
    return RunRecord(strategy=strategy, recorder=recorder, operations=ops, windows=windows,
                     workers=svc.workers, sampler=sampler, busy_s=service.busy_time,
                     wasted_s=service.wasted_time, reject_s=service.refused.time_s,
                     refusals=service.refused.count, end_time=env.now,
                     attempts_sent=clients.attempts_sent, requests_done=clients.requests_done,
                     guard_counts=_guard_counts(clients, sampler), truncated=watchdog.reason,
                     stopped_at=env.now if watchdog.reason is not None else None,
                     wall_s=time.perf_counter() - t0,
                     duplicate_effects=effects.duplicates if (effects := getattr(service, "effects", None)) else None,
                     network=network.counts() if network is not None else {},
                     service_bins=graph.bins() if graph is not None else {},
                     call_logs=graph.logs() if graph is not None else (),
                     call_waits=graph.waits() if graph is not None else {},
                     call_busy=graph.busy() if graph is not None else {})


def _network(spec, env, gen, respond):
    """The :class:`~resilsim.sim.network.Network` of a scenario's ``network:``, drawing its hops from ``gen`` (the
    run's ``network`` stream: one child per direction, so each direction's draws are the same whatever the other's)."""
    from .network import Network
    lat = spec.latency
    req_gen, resp_gen = gen.spawn(2)
    if lat.round_trip is not None:
        return Network(env, respond=respond, round_trip=lat.round_trip.distribution().sampler(req_gen))
    return Network(env, respond=respond,
                   request=lat.request.distribution().sampler(req_gen) if lat.request is not None else None,
                   response=lat.response.distribution().sampler(resp_gen) if lat.response is not None else None)


# ---------------------------------------------------------------- client-side guards (resilsim.policies.guards)

def _configure_guards(strategy, scenario, catalog, codes: list, index: dict, streams, clients):
    """Give ``clients`` fresh guards for this run of ``strategy``; return what the sampler watches, or None.

    Guard state is made here, once per strategy run (per tenant or client on
    first use with a scope), so no state passes between strategies or runs.
    Guards draw from the run's own ``guards`` stream.
    """
    if strategy.guards is None:
        return None
    from ..policies.guards import Guards
    first = strategy.make_guards()  # the population's guard set (and the guard classes the sampler watches)
    rng = BlockRandom(streams["guards"])
    failures = strategy.failures
    if failures == "all":
        fails, timeout_fails = None, True
    elif failures == "retryable":
        fails, timeout_fails = [c.advice != "never" for c in codes], True
    else:
        counted = OnCodes(frozenset(failures))  # the codes (and code families) named, as retry_on reads them
        fails = [bool(counted(c)) for c in codes]
        timeout_fails = bool(counted(CLIENT_TIMEOUT))
    from ..policies.library import is_throttle
    rl = _resolve(catalog.rate_limit_code, catalog, index)
    throttles = [is_throttle(c) or i == rl for i, c in enumerate(codes)]
    scope = None
    if strategy.scope != "population":
        if clients.tenancy is None:
            # The same draw the API side makes for tenants (server stream), so scopes line up with it.
            from ..server.build import tenant_tiers
            clients.configure_tenants(streams["server"], len(tenant_tiers(scenario)[1]),
                                      scenario.clients.clients_per_tenant)
        scope = strategy.scope
    guards = (lambda: Guards(*strategy.make_guards())) if scope is not None else Guards(*first)
    clients.configure_guards(guards, rng, scope=scope, fails=fails, timeout_fails=timeout_fails, throttles=throttles)
    return _guard_probe(clients, [type(g).__name__ for g in first])


def _guard_probe(clients, classes: list[str]):
    """(names, probe): the guard state the sampler reads at each bin's start, averaged over guard sets.

    ``breaker_open``: share of breakers open; ``budget_tokens``: the retry
    budget's tokens (token buckets, quota) or retries left (ratio budget);
    ``throttle_reject_p``: adaptive throttling's local rejection probability;
    ``client_rate_rps``: the AWS adaptive limiter's send rate (NaN until its
    first throttle); ``refused``: guard refusals so far (made a rate later).
    Reading never changes a guard's state as the simulation sees it.
    """
    from ..policies.guards import OPEN
    names = []
    if "CircuitBreaker" in classes:
        names.append("breaker_open")
    budget = next((c for c in ("TokenBucketBudget", "RetryQuota", "RatioBudget", "RetryTokenBucket") if c in classes),
                  None)
    if budget:
        names.append("budget_tokens")
    if "AdaptiveThrottle" in classes:
        names.append("throttle_reject_p")
    if "ClientRateLimiter" in classes:
        names.append("client_rate_rps")
    names.append("refused")

    # One reader per watched name, each for its own guard class. Reading never changes a guard's state as the
    # simulation sees it: not state_at(), which would move an expired OPEN to HALF_OPEN earlier than the
    # simulation does; balance() and reject_probability() only drop expired entries.
    def breaker_open(g, now):
        return float(g.state == OPEN and now - g.opened_at < g.open_s)

    def budget_tokens(g, now):
        return g.tokens

    def budget_balance(g, now):
        return g.balance(now)

    def throttle_reject_p(g, now):
        return g.reject_probability(now)

    def client_rate_rps(g, now):
        return g.rate if g.enabled else math.nan

    # Where each name's guard sits in a guard set (every set has the classes in this order): one look per set.
    at = {"breaker_open": "CircuitBreaker", "budget_tokens": budget, "throttle_reject_p": "AdaptiveThrottle",
          "client_rate_rps": "ClientRateLimiter"}
    reader_of = {"breaker_open": breaker_open, "throttle_reject_p": throttle_reject_p,
            "budget_tokens": budget_balance if budget == "RatioBudget" else budget_tokens,
            "client_rate_rps": client_rate_rps}
    readers = [(classes.index(at[name]), reader_of[name]) for name in names if name != "refused"]

    def probe(now: float) -> tuple:
        sets = clients.guard_sets()
        out = []
        for i, read in readers:
            vals = [v for gs in sets if not math.isnan(v := read(gs.guards[i], now))]
            out.append(sum(vals) / len(vals) if vals else math.nan)
        ext = clients.ext
        out.append(ext.refused_first + ext.refused_retry)  # "refused" comes last
        return tuple(out)

    return names, probe


def _guard_counts(clients, sampler) -> dict:
    """Whole-run counts of guard refusals and hedging; turns the sampled refusals into ``guard_refused_rps``."""
    ext = clients.ext
    if ext is None:
        return {}
    extra = sampler.extra
    if "refused" in extra:
        cum = extra.pop("refused")
        # Refusals per bin: the next sample minus this one (the last bin: up to the end of arrivals).
        nxt = np.append(cum[1:], ext.refused_first + ext.refused_retry)
        extra["guard_refused_rps"] = (nxt - cum) / sampler.bin
    return {"shed_first": ext.refused_first, "shed_retry": ext.refused_retry, "hedges": ext.hedges_sent,
            "hedge_wins": ext.hedge_wins, "hedges_refused": ext.refused_hedge,
            "held": ext.held, "held_s": ext.held_s, "held_deadline": ext.held_deadline}
