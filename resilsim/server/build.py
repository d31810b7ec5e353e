"""From a scenario's service/faults/clients sections to the pure API-side objects of one run.

Nothing here imports SimPy: :func:`build_admission` and :func:`build_incidents`
make plain objects, and :func:`make_gate` a plain function the SimPy
service calls once per attempt before the workers.
"""
from __future__ import annotations

import math

import numpy as np

from .faults import Incident
from .hints import RetryAfterHint
from .incidents import expand
from .limiters import Scoped, TokenBucket, make_limiter
from .quota import Admission, Auth, Credits, Quota


def build_retry_after(scenario) -> RetryAfterHint:
    """The :class:`RetryAfterHint` of the scenario's ``service.retry_after`` (default: no hint)."""
    spec = scenario.service.retry_after
    return RetryAfterHint(spec.send, spec.seconds if spec.value == "fixed" else None)


def tenant_tiers(scenario) -> tuple[list[str], list[int]]:
    """(tier names, tier index of each tenant); one 'default' tenant when the scenario names none."""
    tenants = scenario.clients.tenants or {"default": 1}
    names = list(tenants)
    tier_of = [k for k, n in enumerate(tenants.values()) for _ in range(n)]
    return names, tier_of


def build_admission(scenario, catalog, index: dict, ops: list[str], sources: dict) -> Admission | None:
    """The :class:`Admission` of the scenario's limiters, quota, credits, locks and request limits; None if none.

    ``index`` maps catalog code names to the run's code indices; ``sources``
    maps 'request', 'limiter', 'quota' to recorder source numbers.
    """
    svc = scenario.service
    code = lambda name: index[catalog[name].code]  # noqa: E731
    tiers, tier_of = tenant_tiers(scenario)
    op_index = {o: i for i, o in enumerate(ops)}
    violations = []
    for o in ops:
        v = svc.operations[o].violations
        if v:
            cum = list(np.cumsum(list(v.values())))
            violations.append((cum, [code(c) for c in v]))
        else:
            violations.append(None)
    limiters = []
    for rl in svc.rate_limits():
        kind = rl.kinds()[0]
        params = getattr(rl, kind).model_dump()
        scoped = Scoped(lambda kind=kind, params=params: make_limiter(kind, **params), per=rl.per,
                        per_operation=rl.per_operation,
                        operations=[op_index[o] for o in rl.operations] if rl.operations else None)
        limiters.append((scoped, code(rl.code or catalog.rate_limit_code)))
    quota = quota_code = None
    if svc.quota is not None:
        q = svc.quota
        limits = [math.inf if q.tiers.get(tiers[t], None) is None else q.tiers[tiers[t]] for t in tier_of]
        quota = Quota(limits, q.period, q.offset)
        quota_code = code(q.code or catalog.quota_code)
    credits = credit_code = None
    if svc.credits is not None:
        c = svc.credits
        credits = Credits([c.tiers.get(tiers[t], math.inf) for t in tier_of],
                          [svc.operations[o].credits for o in ops], c.period)
        credit_code = code(c.code)
    locked, lock_code = set(), -1
    if svc.locks is not None:
        locked = {(tiers.index(t), op_index[o]) for t, lst in svc.locks.tiers.items() for o in lst}
        lock_code = code(svc.locks.code)
    if not (any(violations) or locked or limiters or quota or credits):
        return None
    return Admission(tier_of=tier_of, violations=violations, locked=locked, lock_code=lock_code,
                     limiters=limiters, quota=quota, quota_code=-1 if quota_code is None else quota_code,
                     credits=credits, credit_code=-1 if credit_code is None else credit_code,
                     src_request=sources["request"], src_limiter=sources["limiter"], src_quota=sources["quota"])


def build_auth(scenario, gen: np.random.Generator) -> Auth | None:
    """Expiring tokens, one per client, issued at random phases drawn from ``gen``; None without a lifetime."""
    life = scenario.clients.token_lifetime
    if life is None:
        return None
    n = len(tenant_tiers(scenario)[1]) * scenario.clients.clients_per_tenant
    return Auth(life, gen.random(n).tolist())


def build_incidents(scenario, catalog, ops: list[str], gen_factory, cuts: list | None = None) -> list[Incident]:
    """The plain incident windows of the scenario (library defaults applied, dependencies resolved,
    flapping and ramps expanded); ``gen_factory()`` gives an rng with ``.random()`` for flapping. ``cuts``, a
    list, receives the API's capacity cuts ``(start, end, workers)`` (:mod:`resilsim.server.capacity`)."""
    from .capacity import incident_cuts
    out = []
    rng = None
    for i in scenario.faults.incidents:
        if i.service is not None or i.edge is not None:
            continue  # an incident on a service behind the API or between two (resilsim.sim.calls builds it)
        operations = tuple(i.operations)
        if i.dependency:
            users = tuple(o for o in ops if i.dependency in scenario.service.operations[o].uses)
            # No operation declares its dependencies: the dependency takes down every operation.
            operations = users or operations
        rates = {catalog[c].code: p for c, p in i.all_rates().items()}
        flap = ramp = None
        if i.flap is not None:
            rng = rng or gen_factory()
            flap = (i.flap.mean_on, i.flap.mean_off)
        if i.ramp is not None:
            ramp = (i.ramp.up, i.ramp.down, i.ramp.steps)
        windows = expand(i.start, i.duration, rates, operations, i.slowdown, i.name or (i.use or ""), flap, ramp, rng)
        out += windows
        if cuts is not None:
            cuts += incident_cuts(i, windows, scenario.service.workers)
    return out


def make_gate(service, admission: Admission | None, auth: Auth | None, auth_code: int, src_auth: int):
    """``gate(att, now) -> bool``: answers an attempt refused before the workers (expired token, then
    admission); the service calls it first in ``submit``. Requests carry their tenant, client and
    properties' uniform (``Clients.configure_tenants``)."""
    reject = service.reject
    if auth is None and admission is not None and admission.limits_and_quota_only():
        return _limits_and_quota_gate(admission, reject)

    def gate(att, now: float) -> bool:
        req = att.req
        client = req.client
        if auth is not None and not auth.valid(now, client):
            att.retry_after = None
            reject(att, now, auth_code, src_auth)
            return True
        if admission is not None:
            c = admission.check(now, req.op, req.tenant, client, req.prop_u)
            if c >= 0:
                att.retry_after = admission.retry_after
                reject(att, now, c, admission.source)
                return True
        return False

    return gate


def _limits_and_quota_gate(admission: Admission, reject):
    """The gate for the common case of rate limits (global, per tenant or per client) and a quota, nothing else.

    The same decisions, counters and answers as :meth:`Admission.check`
    (tests/server/test_quota.py compares them), with each limiter looked up
    here and the quota's common case inline: one call per attempt instead of
    five, on the hot path.
    """
    limiters = [(s._one, s.limiters, s.factory, s.per == "client", code) for s, code in admission.limiters]
    quota, quota_code = admission.quota, admission.quota_code
    src_limiter, src_quota = admission.src_limiter, admission.src_quota
    rejected = admission.rejected

    def refuse(att, now: float, kind: str, source: int, code: int, wait: float) -> bool:
        # The cold path: count the refusal and answer with the protection's code and Retry-After.
        rejected[kind] += 1
        admission.source, admission.retry_after = source, wait
        att.retry_after = wait
        reject(att, now, code, source)
        return True

    if len(limiters) == 1:
        return _one_limit_and_quota_gate(limiters[0], quota, quota_code, src_limiter, src_quota, refuse)

    def gate(att, now: float) -> bool:
        req = att.req
        for one, by_key, factory, per_client, code in limiters:
            lim = one
            if lim is None:
                key = req.client if per_client else req.tenant
                lim = by_key.get(key)
                if lim is None:
                    lim = by_key[key] = factory()
            wait = lim.try_acquire(now)
            if wait > 0.0:
                return refuse(att, now, "limiter", src_limiter, code, wait)
        if quota is not None:
            tenant = req.tenant
            used = quota.used
            if now < quota.reset_at and used[tenant] < quota.limits[tenant]:
                used[tenant] += 1  # Quota.try_use's common case (in the period, under the limit) without the call
            else:
                wait = quota.try_use(now, tenant)
                if wait > 0.0:
                    return refuse(att, now, "quota", src_quota, quota_code, wait)
        return False

    return gate


def _one_limit_and_quota_gate(limiter: tuple, quota, quota_code: int, src_limiter: int, src_quota: int, refuse):
    """:func:`_limits_and_quota_gate`'s gate for the one rate limit a scenario usually has: the same code without
    the loop over limiters (an iterator and a five-item unpacking per attempt); tests/server/test_quota.py holds
    both to :meth:`Admission.check`. With a token bucket per tenant or client and a quota (the all-features
    benchmark's protections) the gate also carries what :mod:`resilsim.sim.fused` needs to write it out
    (:func:`_written_out`)."""
    one, by_key, factory, per_client, code = limiter

    def gate(att, now: float) -> bool:
        req = att.req
        lim = one
        if lim is None:
            key = req.client if per_client else req.tenant
            lim = by_key.get(key)
            if lim is None:
                lim = by_key[key] = factory()
        if lim.__class__ is TokenBucket:
            # TokenBucket.try_acquire inline, the same arithmetic (the usual limiter: one call fewer per attempt);
            # tests/server/test_quota.py holds it to Admission.check, which calls try_acquire.
            tokens = lim.tokens + (now - lim.last) * lim.rate
            if tokens > lim.burst:
                tokens = lim.burst
            lim.last = now
            if tokens >= 1.0:
                lim.tokens = tokens - 1.0
            else:
                lim.tokens = tokens
                return refuse(att, now, "limiter", src_limiter, code, (1.0 - tokens) / lim.rate)
        else:
            wait = lim.try_acquire(now)
            if wait > 0.0:
                return refuse(att, now, "limiter", src_limiter, code, wait)
        if quota is not None:
            tenant = req.tenant
            used = quota.used
            if now < quota.reset_at and used[tenant] < quota.limits[tenant]:
                used[tenant] += 1  # Quota.try_use's common case (in the period, under the limit) without the call
            else:
                wait = quota.try_use(now, tenant)
                if wait > 0.0:
                    return refuse(att, now, "quota", src_quota, quota_code, wait)
        return False

    if one is None and quota is not None and factory().__class__ is TokenBucket:
        # (factory() is a fresh limiter, thrown away: building one changes no state.)
        gate.written_out = _written_out(limiter, quota, quota_code, src_limiter, src_quota, refuse)
    return gate


def _written_out(limiter: tuple, quota, quota_code: int, src_limiter: int, src_quota: int, refuse) -> tuple:
    """What :mod:`resilsim.sim.fused` needs to write out the gate of a token bucket per tenant or client with a
    quota in its send (one Python call fewer per attempt; tests/sim/test_fused.py holds that form to the gate):
    the buckets (a list with every tenant's, or the dict a client's bucket joins on its first attempt), whether
    per client, the factory, the quota and its limits, and the gate's two refusals as calls."""
    _, by_key, factory, per_client, code = limiter
    if per_client:
        buckets = by_key
    else:
        # Every tenant's bucket built now, in the gate's own dict too, and listed: a list subscript per attempt. A
        # bucket's state does not depend on when it is built (full, last refilled at 0 s): no answer changes.
        buckets = [by_key.setdefault(t, factory()) for t in range(len(quota.limits))]

    def limited(att, now: float, wait: float) -> bool:
        # The bucket refused: the limiter's code, Retry-After `wait` seconds.
        return refuse(att, now, "limiter", src_limiter, code, wait)

    def over_quota(att, now: float, tenant: int) -> bool:
        # Quota.try_use itself (a new period, or the tenant at its limit): True when it refused.
        wait = quota.try_use(now, tenant)
        if wait > 0.0:
            return refuse(att, now, "quota", src_quota, quota_code, wait)
        return False

    return buckets, per_client, factory, quota, quota.limits, limited, over_quota


def mean_service_s(service) -> float:
    """The operations' mean service time weighted by their share of requests, seconds (no faults, no load)."""
    ops = list(service.operations.values())
    weights = np.array([op.weight for op in ops], dtype=float)
    return float(np.dot(weights / weights.sum(), [op.latency.distribution().mean for op in ops]))


def capacity_rps(service) -> float:
    """Attempts per second the workers can serve at :func:`mean_service_s` (an estimate, for charts and checks).

    Load-dependent latency, fast failures and refusal costs move the real figure.
    """
    return service.workers / mean_service_s(service)


def global_rate_limit_rps(service) -> float | None:
    """The rate (requests per second) of a global limiter over every operation, or None when there is none."""
    for rl in service.rate_limits():
        if rl.per == "global" and not rl.operations and not rl.per_operation:
            if rl.token_bucket:
                return float(rl.token_bucket.rate)
            w = rl.fixed_window or rl.sliding_log or rl.sliding_counter
            return w.limit / w.window
    return None
