"""``simulate()``: one scenario, every strategy, on common random numbers."""
from __future__ import annotations

import time

import numpy as np
import simpy

from ..catalog import ErrorCode, load_catalog
from ..policies.retry import FAIL, CodePlan
from ..rng import BlockRandom, spawn_streams
from ..scenario import Scenario, build_policy, load_scenario
from ..server.build import build_incidents
from ..server.faults import FaultSchedule
from .clients import Clients
from .events import run_until
from .recorder import Recorder
from .sampler import Sampler
from .service import Service

#: The client-side timeout, as a code a policy can be asked about: retried by
#: default (advice "retry"), like every retry library does with timeouts.
CLIENT_TIMEOUT = ErrorCode(code="TIMEOUT", http=0, name="CLIENT_TIMEOUT", category="Client",
                           message="The client stopped waiting for the attempt", resolution="", advice="retry")


def code_table(scenario: Scenario, catalog) -> list:
    """The run's error codes: the catalog's codes, then concrete family members the scenario names."""
    codes = [c for c in catalog.codes if not c.family]
    names = {c.code for c in codes}
    named = list(scenario.faults.background) + [c for i in scenario.faults.incidents for c in i.all_rates()]
    for fam in (c for c in catalog.codes if c.family):
        # A family ("104XXX") appears as one concrete member unless the scenario names others.
        members = [n for n in named if n not in names and n in catalog and catalog[n].family]
        if fam.code.replace("X", "0") not in members:
            members.insert(0, fam.code.replace("X", "0"))
        for m in members:
            if m not in names:
                codes.append(catalog[m])
                names.add(m)
    return codes


def _configure_api_side(scenario, catalog, index, ops, streams, service, clients, samplers) -> dict:
    """Wire the scenario's API-side protections (resilsim.server) into the service and clients; their counters."""
    from ..server.build import build_admission, build_auth, make_gate, tenant_tiers
    from .recorder import SRC_AUTH, SRC_LIMITER, SRC_QUOTA, SRC_REQUEST
    svc, cl = scenario.service, scenario.clients
    if cl.arrival.poisson.changes:
        clients.configure_changes([(c.start, c.start + c.duration, c.rate) for c in cl.arrival.poisson.changes])
    admission = build_admission(scenario, catalog, index, ops,
                                {"request": SRC_REQUEST, "limiter": SRC_LIMITER, "quota": SRC_QUOTA})
    auth = build_auth(scenario, streams["server"])
    simple = admission.simple_limiter() if admission is not None and auth is None else None
    if simple is not None:
        # One global limiter and nothing else: the service's own limiter slot, no gate, no tenants.
        service.limiter, service.rate_limit_code = simple
        admission = None
    gate = None
    if admission is not None or auth is not None:
        clients.configure_tenants(streams["server"], len(tenant_tiers(scenario)[1]), cl.clients_per_tenant, auth)
        gate = make_gate(service, clients, admission, auth,
                         _resolve(catalog.auth_code, catalog, index), SRC_AUTH)
    pt = svc.processing_timeout
    q = svc.queue
    weights = np.array([svc.operations[o].weight for o in ops], dtype=float)
    mean_service = float(np.dot(weights / weights.sum(),
                                [svc.operations[o].latency.distribution().mean for o in ops]))
    service.configure(gate=gate, processing_timeout=pt.after if pt else None,
                      processing_code=(_resolve(pt.code or catalog.timeout_code, catalog, index) if pt else None),
                      load_alpha=svc.load_latency.alpha if svc.load_latency else 0.0,
                      load_power=svc.load_latency.power if svc.load_latency else 1.0,
                      discipline=q.discipline, lifo_above=q.lifo_above, codel_target=q.codel_target,
                      codel_interval=q.codel_interval, shed_load=svc.shed.load if svc.shed else None,
                      reject_cost=svc.reject_cost, mean_service=mean_service)
    return {"admission": admission, "auth": auth}


def _resolve(name: str | None, catalog, index: dict) -> int:
    # An API may document no such code (nanoStream has no rate-limit code): -1, never answered.
    if name is None:
        return -1
    return index[catalog[name].code]


def simulate(scenario, seed: int | np.random.SeedSequence = 0, *, strategies: list[str] | None = None):
    """Simulate every strategy of ``scenario`` on the same random numbers; return a :class:`Result`.

    ``scenario`` is a :class:`Scenario`, a path or a dict. ``seed`` is an
    int or a ``SeedSequence``; the same seed gives the same result, bit for
    bit. ``strategies`` picks some of the scenario's strategies by name.
    """
    from ..result import Result

    scenario = load_scenario(scenario) if not isinstance(scenario, Scenario) else scenario
    catalog = load_catalog(scenario.api)
    codes = code_table(scenario, catalog)
    index = {c.code: i for i, c in enumerate(codes)}
    names = strategies or list(scenario.strategies)
    runs = {}
    for name in names:
        spec = scenario.strategies[name]
        policy = build_policy(spec.retry, name)
        t0 = time.perf_counter()
        runs[name] = _run_one(scenario, seed, policy, catalog, codes, index)
        runs[name]["wall_s"] = time.perf_counter() - t0
        runs[name]["policy"] = policy
    return Result.from_runs(scenario, seed, codes, runs)


def _run_one(scenario: Scenario, seed, policy, catalog, codes: list, index: dict) -> dict:
    streams = spawn_streams(seed)
    env = simpy.Environment()
    ops = list(scenario.service.operations)
    weights = np.array([scenario.service.operations[o].weight for o in ops], dtype=float)
    arrival = scenario.clients.arrival.poisson
    offered = arrival.rate * scenario.duration + sum((c.rate - arrival.rate) * c.duration for c in arrival.changes)
    expected = int(max(offered, 0.0) * 1.05) + 64
    recorder = Recorder(expected)

    plans = [policy.plan(c) for c in codes]
    timeout_plan = policy.plan(CLIENT_TIMEOUT)
    clients = Clients(env, rate=scenario.clients.arrival.poisson.rate, until=scenario.duration,
                      op_weights=weights, arrival_gen=streams["arrivals"], jitter_gen=streams["jitter"],
                      recorder=recorder, plans=plans, timeout_plan=timeout_plan,
                      reauth_delay=policy.reauth_delay, timeout=scenario.clients.timeout,
                      deadline=scenario.clients.deadline)

    svc = scenario.service
    service_gen = streams["service"]
    samplers = [svc.operations[o].latency.distribution().sampler(service_gen) for o in ops]
    # Flapping incidents draw their on/off periods from a child of the faults stream, at set-up.
    incidents = build_incidents(scenario, catalog, ops,
                                lambda: BlockRandom(np.random.default_rng(streams["faults"].integers(2 ** 62))))
    background = {catalog[c].code: p for c, p in scenario.faults.background.items()}
    faults = FaultSchedule(ops, [c.code for c in codes], background, incidents)
    limiter = None  # rate limits go through the admission gate (resilsim.server.build)
    service = Service(env, workers=svc.workers, queue_limit=svc.queue.limit, queue_timeout=svc.queue.timeout,
                      samplers=samplers, faults=faults, fault_gen=streams["faults"], limiter=limiter,
                      rate_limit_code=_resolve(catalog.rate_limit_code, catalog, index),
                      overload_code=_resolve(catalog.overload_code, catalog, index),
                      timeout_code=_resolve(catalog.timeout_code, catalog, index),
                      respond=clients.respond)
    clients.service = service
    api = _configure_api_side(scenario, catalog, index, ops, streams, service, clients, samplers)
    sampler = Sampler(env, service, bin=scenario.bin, until=scenario.duration)
    sampler.start()
    clients.start()
    run_until(env, scenario.duration + scenario.drain)  # env.run(until=...) without SimPy's per-event step call
    return {"recorder": recorder, "operations": ops, "windows": faults.windows(),
            "busy_time": service.busy_time, "wasted_time": service.wasted_time,
            "reject_time": service.opt.reject_time, "api_side": api, "sampler": sampler, "workers": service.workers,
            "end_time": env.now}
