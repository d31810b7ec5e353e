"""Quotas, credits, tier locks and request limits, pure: what a tenant may still do at ``now``.

Tenants sit on subscription tiers (free / pro / enterprise, as the scenario
names them). Each decision takes ``now`` (seconds) and answers; nothing here
knows SimPy. :class:`Admission` chains them with the rate limiters in the
order a real API checks: request validity, tier lock, rate limit, quota,
credits.
"""
from __future__ import annotations

import bisect
import math


class Quota:
    """A request quota per tenant and period, reset on aligned boundaries (every ``period`` s from ``offset``).

    ``limits[t]`` is tenant ``t``'s quota (``math.inf``: unlimited). A
    rejection's Retry-After is the time to the next reset, so a client's
    ``after_reset`` advice waits exactly that long.
    """

    __slots__ = ("limits", "period", "offset", "used", "reset_at")

    def __init__(self, limits: list[float], period: float, offset: float = 0.0):
        if period <= 0:
            raise ValueError("a quota period must be > 0 seconds")
        self.limits = list(limits)
        self.period = float(period)
        self.offset = float(offset)
        self.used = [0] * len(self.limits)
        self.reset_at = self.next_reset(0.0)

    def next_reset(self, now: float) -> float:
        """The first reset strictly after ``now`` (seconds)."""
        return self.offset + (math.floor((now - self.offset) / self.period) + 1) * self.period

    def try_use(self, now: float, tenant: int) -> float:
        """Count one request of ``tenant`` at ``now``: 0.0 if within quota, else seconds to the reset."""
        if now >= self.reset_at:
            self.used = [0] * len(self.limits)
            self.reset_at = self.next_reset(now)
        if self.used[tenant] < self.limits[tenant]:
            self.used[tenant] += 1
            return 0.0
        return self.reset_at - now


class Credits:
    """Credit-metered operations (AI insights): each tenant has ``allowance[t]`` credits per period.

    ``costs[op]`` is what one attempt of operation ``op`` spends (0: free).
    An attempt that would overdraw is refused (ANALYTICS_1603 on analytics)
    and spends nothing; the balance refills at each aligned reset.
    """

    __slots__ = ("allowance", "costs", "period", "balance", "reset_at", "spent")

    def __init__(self, allowance: list[float], costs: list[float], period: float):
        if period <= 0:
            raise ValueError("a credit period must be > 0 seconds")
        self.allowance = list(allowance)
        self.costs = list(costs)
        self.period = float(period)
        self.balance = list(self.allowance)
        self.reset_at = self.period
        self.spent = 0.0

    def try_spend(self, now: float, tenant: int, op: int) -> float:
        """Spend the credits of one ``op`` attempt: 0.0 if paid, else seconds to the refill."""
        cost = self.costs[op]
        if cost == 0:
            return 0.0
        if now >= self.reset_at:
            self.balance = list(self.allowance)
            self.reset_at = (math.floor(now / self.period) + 1) * self.period
        if self.balance[tenant] >= cost:
            self.balance[tenant] -= cost
            self.spent += cost
            return 0.0
        return self.reset_at - now


class Admission:
    """The checks an attempt passes before it reaches the workers; one call per attempt.

    ``check(now, op, tenant, client, u)`` returns -1 when admitted, else the
    index of the code to answer, with ``self.source`` (a recorder source) and
    ``self.retry_after`` (seconds or None) set. ``u`` is the request's own
    uniform number: the same for all its attempts, since an invalid request
    (too many entities) is invalid every time.

    - ``violations[op]``: (cumulative fractions, code indices) of requests
      breaking the operation's limits (max entities, tiles, history days);
    - ``locked``: set of (tier, op) refused with ``lock_code``;
    - ``limiters``: list of (:class:`~resilsim.server.limiters.Scoped`, code);
    - ``quota`` / ``credits`` with their codes;
    - ``tier_of[tenant]``: each tenant's tier index.
    """

    def __init__(self, *, tier_of: list[int], violations: list | None = None, locked=frozenset(),
                 lock_code: int = -1, limiters: list | None = None, quota: Quota | None = None,
                 quota_code: int = -1, credits: Credits | None = None, credit_code: int = -1,
                 src_request: int = 0, src_limiter: int = 0, src_quota: int = 0):
        self.tier_of = list(tier_of)
        self.violations = violations if violations and any(v for v in violations) else None
        self.locked = frozenset(locked)
        self.lock_code = lock_code
        self.limiters = list(limiters or [])
        self.quota = quota
        self.quota_code = quota_code
        self.credits = credits
        self.credit_code = credit_code
        self.src_request, self.src_limiter, self.src_quota = src_request, src_limiter, src_quota
        self.source = 0
        self.retry_after = None
        self.rejected = {"request": 0, "tier": 0, "limiter": 0, "quota": 0, "credits": 0}

    def simple_limiter(self):
        """(limiter, code) when the only check is one global limiter over all operations, else None.

        The service then calls that limiter directly, skipping the per-attempt
        tenant look-ups (the common scenario costs what it did before tenants).
        """
        if (self.violations is None and not self.locked and self.quota is None and self.credits is None
                and len(self.limiters) == 1 and self.limiters[0][0]._one is not None
                and self.limiters[0][0].operations is None):
            return self.limiters[0][0]._one, self.limiters[0][1]
        return None

    def limits_and_quota_only(self) -> bool:
        """Whether the only checks are rate limits over all operations (global, per tenant or per client) and a quota.

        The simulator then uses a gate specialised for that common case
        (:func:`resilsim.server.build.make_gate`), with the same answers.
        """
        return (self.violations is None and not self.locked and self.credits is None
                and all(s.operations is None and not s.per_operation for s, _ in self.limiters))

    def check(self, now: float, op: int, tenant: int, client: int, u: float) -> int:
        """-1 if the attempt may go on to the workers, else the code index to answer (see the class doc)."""
        self.retry_after = None
        if self.violations is not None:
            v = self.violations[op]
            if v and u < v[0][-1]:
                self.source = self.src_request
                self.rejected["request"] += 1
                return v[1][bisect.bisect_right(v[0], u)]
        if self.locked and (self.tier_of[tenant], op) in self.locked:
            self.source = self.src_quota
            self.rejected["tier"] += 1
            return self.lock_code
        for lim, code in self.limiters:
            wait = lim.try_acquire(now, op, tenant, client)
            if wait > 0.0:
                self.source = self.src_limiter
                self.retry_after = wait
                self.rejected["limiter"] += 1
                return code
        if self.quota is not None:
            wait = self.quota.try_use(now, tenant)
            if wait > 0.0:
                self.source = self.src_quota
                self.retry_after = wait
                self.rejected["quota"] += 1
                return self.quota_code
        if self.credits is not None:
            wait = self.credits.try_spend(now, tenant, op)
            if wait > 0.0:
                self.source = self.src_quota
                self.retry_after = wait
                self.rejected["credits"] += 1
                return self.credit_code
        return -1


class Auth:
    """Bearer tokens that expire: client ``c``'s token is valid until ``expires[c]`` (seconds).

    Tokens are issued staggered (``phases[c]`` in [0, 1) of a lifetime before
    the start), so they do not all expire at once. A client that re-authenticates
    gets a fresh token valid ``lifetime`` seconds from the refresh.
    """

    __slots__ = ("lifetime", "expires", "expired")

    def __init__(self, lifetime: float, phases: list[float]):
        if lifetime <= 0:
            raise ValueError("a token lifetime must be > 0 seconds")
        self.lifetime = float(lifetime)
        self.expires = [(1.0 - p) * lifetime for p in phases]
        self.expired = 0

    def valid(self, now: float, client: int) -> bool:
        """Whether ``client``'s token is still valid at ``now``."""
        if now < self.expires[client]:
            return True
        self.expired += 1
        return False

    def refresh(self, now: float, client: int) -> None:
        """``client`` gets a new token at ``now``."""
        self.expires[client] = now + self.lifetime
