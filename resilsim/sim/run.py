"""``simulate()``: one scenario, every strategy, on common random numbers."""
from __future__ import annotations

import time

import numpy as np
import simpy

from ..catalog import ErrorCode, load_catalog
from ..policies.retry import FAIL, CodePlan
from ..rng import spawn_streams
from ..scenario import Scenario, build_policy, load_scenario
from ..server.faults import FaultSchedule, Incident
from ..server.limiters import TokenBucket
from .clients import Clients
from .recorder import Recorder
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
    expected = int(scenario.clients.arrival.poisson.rate * scenario.duration * 1.05) + 64
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
    incidents = [Incident(start=i.start, duration=i.duration,
                          rates={catalog[c].code: p for c, p in i.all_rates().items()},
                          operations=tuple(i.operations), slowdown=i.slowdown, name=i.name)
                 for i in scenario.faults.incidents]
    background = {catalog[c].code: p for c, p in scenario.faults.background.items()}
    faults = FaultSchedule(ops, [c.code for c in codes], background, incidents)
    limiter = None
    if svc.rate_limit is not None:
        tb = svc.rate_limit.token_bucket
        limiter = TokenBucket(tb.rate, tb.burst)
    service = Service(env, workers=svc.workers, queue_limit=svc.queue.limit, queue_timeout=svc.queue.timeout,
                      samplers=samplers, faults=faults, fault_gen=streams["faults"], limiter=limiter,
                      rate_limit_code=_resolve(catalog.rate_limit_code, catalog, index),
                      overload_code=_resolve(catalog.overload_code, catalog, index),
                      timeout_code=_resolve(catalog.timeout_code, catalog, index),
                      respond=clients.respond)
    clients.service = service
    clients.start()
    env.run(until=scenario.duration + scenario.drain)
    return {"recorder": recorder, "operations": ops, "windows": faults.windows(),
            "busy_time": service.busy_time, "wasted_time": service.wasted_time,
            "end_time": env.now}
