"""Client-side guards, pure: retry budgets, retry quota, circuit breaker, adaptive throttling.

A guard is a small stateful object shared by the requests of one client
population. It never reads a clock: every call takes ``now`` (seconds of
simulated or real time) and an rng with ``.random()`` where it draws.

The common interface (every hook has a no-op default in :class:`Guard`):

- ``allow_request(now, rng) -> bool``: before a request's first attempt
  (breaker, adaptive throttling). ``False`` means the request is shed locally.
- ``allow_retry(now, rng, timeout=False) -> bool``: before a retry (budgets,
  quota, breaker). ``False`` ends the request as ``shed``.
- ``on_result(now, success, is_retry, timeout=False)``: after every attempt.
- ``on_attempt_start(now, is_retry)`` / ``on_attempt_end(now, is_retry)``:
  around every attempt, for the concurrency budget.
- ``describe() -> dict``: flat parameters for result rows and the docs.

Sources are in shared/RETRY-LIBRARIES.md and each class's docstring.
"""
from __future__ import annotations

import math
from collections import deque


class Guard:
    """Base class of guards: every hook allows and records nothing."""

    kind = "guard"

    def allow_request(self, now: float, rng=None) -> bool:
        """Whether a new request may send its first attempt at ``now`` (seconds)."""
        return True

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        """Whether a request may retry at ``now`` (seconds); ``timeout``: the failure was a timeout."""
        return True

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False) -> None:
        """Record the outcome of one attempt finished at ``now`` (seconds)."""

    def on_attempt_start(self, now: float, is_retry: bool) -> None:
        """Record that an attempt starts at ``now`` (seconds)."""

    def on_attempt_end(self, now: float, is_retry: bool) -> None:
        """Record that an attempt ends at ``now`` (seconds)."""

    def describe(self) -> dict:
        """The guard's parameters, flat, for result rows and the docs."""
        return {"guard": self.kind}


class TokenBucketBudget(Guard):
    """gRPC retry throttling (gRFC A6).

    Tokens start at ``max_tokens``; each failed attempt takes 1 token, each
    success adds ``token_ratio`` (never above ``max_tokens``). Retries are
    allowed only while tokens > ``max_tokens / 2``. Typical: 10 / 0.1.
    """

    kind = "token_bucket"

    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1):
        if max_tokens <= 0 or token_ratio <= 0:
            raise ValueError("max_tokens and token_ratio must be positive")
        self.max_tokens = float(max_tokens)
        self.token_ratio = float(token_ratio)
        self.tokens = self.max_tokens

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        return self.tokens > self.max_tokens / 2

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False) -> None:
        if success:
            self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)
        else:
            self.tokens = max(0.0, self.tokens - 1.0)

    def describe(self) -> dict:
        return {"guard": self.kind, "max_tokens": self.max_tokens, "token_ratio": self.token_ratio}


class RatioBudget(Guard):
    """Finagle ``RetryBudget``: retries ≤ ``percent`` of requests over ``ttl`` plus a floor.

    Each request deposits ``percent`` of a retry; each retry withdraws one.
    Deposits expire after ``ttl`` seconds. A reserve of ``min_per_s · ttl``
    retries is always available (Finagle defaults: ttl 10 s, 10 retries/s, 20%).
    Retries withdrawn also age out after ``ttl``, so the balance is
    ``min_per_s·ttl + percent·requests(ttl) − retries(ttl)``.
    """

    kind = "ratio"

    def __init__(self, percent: float = 0.2, ttl: float = 10.0, min_per_s: float = 10.0):
        if not 0 <= percent <= 1000 or ttl <= 0 or min_per_s < 0:
            raise ValueError("percent must be ≥ 0, ttl > 0, min_per_s ≥ 0")
        self.percent = float(percent)
        self.ttl = float(ttl)
        self.min_per_s = float(min_per_s)
        self._requests: deque = deque()
        self._retries: deque = deque()

    def _expire(self, now: float) -> None:
        cut = now - self.ttl
        while self._requests and self._requests[0] <= cut:
            self._requests.popleft()
        while self._retries and self._retries[0] <= cut:
            self._retries.popleft()

    def balance(self, now: float) -> float:
        """Retries still available at ``now`` (may be fractional)."""
        self._expire(now)
        return self.min_per_s * self.ttl + self.percent * len(self._requests) - len(self._retries)

    def allow_request(self, now: float, rng=None) -> bool:
        self._requests.append(now)  # deposit
        return True

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        if self.balance(now) >= 1.0:
            self._retries.append(now)  # withdraw
            return True
        return False

    def describe(self) -> dict:
        return {"guard": self.kind, "percent": self.percent, "ttl_s": self.ttl,
                "min_retries_per_s": self.min_per_s}


class ConcurrencyBudget(Guard):
    """Envoy retry budget: retries in flight ≤ ``percent`` of active requests, at least ``min``.

    Active requests are attempts in flight (first attempts and retries).
    Envoy defaults: 20%, minimum 3 concurrent retries.
    """

    kind = "concurrency"

    def __init__(self, percent: float = 0.2, min_retries: int = 3):
        if percent < 0 or min_retries < 0:
            raise ValueError("percent and min must be ≥ 0")
        self.percent = float(percent)
        self.min_retries = int(min_retries)
        self.active = 0
        self.retries_active = 0

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        limit = max(self.min_retries, self.percent * self.active)
        return self.retries_active < limit

    def on_attempt_start(self, now: float, is_retry: bool) -> None:
        self.active += 1
        if is_retry:
            self.retries_active += 1

    def on_attempt_end(self, now: float, is_retry: bool) -> None:
        self.active -= 1
        if is_retry:
            self.retries_active -= 1

    def describe(self) -> dict:
        return {"guard": self.kind, "percent": self.percent, "min": self.min_retries}


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker(Guard):
    """resilience4j circuit breaker: CLOSED / OPEN / HALF_OPEN.

    CLOSED: outcomes go into a sliding window, by count (last ``window``
    calls) or by time (calls of the last ``window`` seconds). Once at least
    ``minimum_calls`` are in the window and the failure rate is ≥
    ``failure_rate`` (0..1), the breaker opens. OPEN: every call is refused
    for ``open_s`` seconds, then HALF_OPEN: ``half_open_calls`` probes are
    let through; if their failure rate is ≥ threshold it opens again, else
    it closes with an empty window. Defaults are resilience4j's: 50%, count
    window 100, minimum 100 calls, open 60 s, 10 half-open calls.
    Which codes count as failures is the caller's choice (``success`` flag).
    """

    kind = "breaker"

    def __init__(self, failure_rate: float = 0.5, window: float = 100, window_type: str = "count",
                 minimum_calls: int = 100, open_s: float = 60.0, half_open_calls: int = 10):
        if not 0 < failure_rate <= 1:
            raise ValueError("failure_rate must be in (0, 1]")
        if window_type not in ("count", "time"):
            raise ValueError("window_type must be 'count' or 'time'")
        if window <= 0 or minimum_calls < 1 or open_s < 0 or half_open_calls < 1:
            raise ValueError("window > 0, minimum_calls ≥ 1, open_s ≥ 0, half_open_calls ≥ 1")
        self.failure_rate = float(failure_rate)
        self.window = float(window)
        self.window_type = window_type
        self.minimum_calls = int(minimum_calls)
        self.open_s = float(open_s)
        self.half_open_calls = int(half_open_calls)
        self.state = CLOSED
        self.opened_at = -math.inf
        self.transitions: list = []  # (now, new state), for plots and tests
        self._calls: deque = deque()  # (time, failed)
        self._failures = 0
        self._probes_sent = 0
        self._probe_results = 0
        self._probe_failures = 0

    def _to(self, now: float, state: str) -> None:
        self.state = state
        self.transitions.append((now, state))
        if state == OPEN:
            self.opened_at = now
        elif state == HALF_OPEN:
            self._probes_sent = self._probe_results = self._probe_failures = 0
        else:
            self._calls.clear()
            self._failures = 0

    def state_at(self, now: float) -> str:
        """The state at ``now``, moving OPEN to HALF_OPEN once ``open_s`` has passed."""
        if self.state == OPEN and now - self.opened_at >= self.open_s:
            self._to(now, HALF_OPEN)
        return self.state

    def _permit(self, now: float) -> bool:
        state = self.state_at(now)
        if state == CLOSED:
            return True
        if state == OPEN:
            return False
        if self._probes_sent < self.half_open_calls:
            self._probes_sent += 1
            return True
        return False

    def allow_request(self, now: float, rng=None) -> bool:
        return self._permit(now)

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        return self._permit(now)

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False) -> None:
        state = self.state_at(now)
        failed = not success
        if state == HALF_OPEN:
            self._probe_results += 1
            self._probe_failures += failed
            if self._probe_results >= self.half_open_calls:
                if self._probe_failures / self._probe_results >= self.failure_rate:
                    self._to(now, OPEN)
                else:
                    self._to(now, CLOSED)
            return
        if state == OPEN:
            return  # a late result of a call let through before opening
        calls = self._calls
        calls.append((now, failed))
        self._failures += failed
        if self.window_type == "count":
            while len(calls) > self.window:
                self._failures -= calls.popleft()[1]
        else:
            cut = now - self.window
            while calls and calls[0][0] <= cut:
                self._failures -= calls.popleft()[1]
        n = len(calls)
        if n >= self.minimum_calls and self._failures / n >= self.failure_rate:
            self._to(now, OPEN)

    def describe(self) -> dict:
        return {"guard": self.kind, "failure_rate": self.failure_rate, "window": self.window,
                "window_type": self.window_type, "minimum_calls": self.minimum_calls,
                "open_s": self.open_s, "half_open_calls": self.half_open_calls}


class AdaptiveThrottle(Guard):
    """Google SRE book ch. 21 adaptive throttling.

    Over the last ``window`` seconds, ``requests`` counts every request
    (locally rejected ones included) and ``accepts`` those the backend
    accepted. A new request is rejected locally with probability
    ``max(0, (requests − K·accepts) / (requests + 1))``. Book: K = 2, 2 min.
    An attempt is a request here; ``success`` means the backend accepted it.
    """

    kind = "throttle"

    def __init__(self, k: float = 2.0, window: float = 120.0):
        if k <= 0 or window <= 0:
            raise ValueError("k and window must be positive")
        self.k = float(k)
        self.window = float(window)
        self._requests: deque = deque()
        self._accepts: deque = deque()

    def _expire(self, now: float) -> None:
        cut = now - self.window
        while self._requests and self._requests[0] <= cut:
            self._requests.popleft()
        while self._accepts and self._accepts[0] <= cut:
            self._accepts.popleft()

    def reject_probability(self, now: float) -> float:
        """The local rejection probability at ``now`` (0..1)."""
        self._expire(now)
        r = len(self._requests)
        return max(0.0, (r - self.k * len(self._accepts)) / (r + 1))

    def _admit(self, now: float, rng) -> bool:
        p = self.reject_probability(now)
        if p > 0 and rng.random() < p:
            self._requests.append(now)  # a local rejection counts in requests
            return False
        return True

    def allow_request(self, now: float, rng=None) -> bool:
        return self._admit(now, rng)

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        return self._admit(now, rng)

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False) -> None:
        self._requests.append(now)
        if success:
            self._accepts.append(now)

    def describe(self) -> dict:
        return {"guard": self.kind, "k": self.k, "window_s": self.window}


class RetryQuota(Guard):
    """AWS SDK standard retry quota (botocore).

    The quota starts at ``capacity`` (500) tokens. A retry costs ``cost``
    (5), or ``timeout_cost`` (10) when the failure was a timeout; with too
    few tokens the retry is refused. A successful attempt refunds the cost of
    the retry that led to it, or ``refund`` (1) on success without retry,
    never above capacity.
    """

    kind = "quota"

    def __init__(self, capacity: float = 500, cost: float = 5, timeout_cost: float = 10,
                 refund: float = 1):
        if capacity <= 0 or cost < 0 or timeout_cost < 0 or refund < 0:
            raise ValueError("capacity > 0 and costs ≥ 0")
        self.capacity = float(capacity)
        self.cost = float(cost)
        self.timeout_cost = float(timeout_cost)
        self.refund = float(refund)
        self.tokens = self.capacity
        self._last_cost = self.cost

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        cost = self.timeout_cost if timeout else self.cost
        if self.tokens < cost:
            return False
        self.tokens -= cost
        self._last_cost = cost
        return True

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False) -> None:
        if success:
            # botocore refunds the retry's cost on a successful retry; we refund the
            # last cost taken (exact when one request retries at a time).
            gain = self._last_cost if is_retry else self.refund
            self.tokens = min(self.capacity, self.tokens + gain)

    def describe(self) -> dict:
        return {"guard": self.kind, "capacity": self.capacity, "cost": self.cost,
                "timeout_cost": self.timeout_cost, "refund": self.refund}


class Guards(Guard):
    """Several guards acting as one: every guard must allow; every guard records.

    ``allow_*`` stops at the first refusal, so a later guard (e.g. a quota)
    is not charged for a retry an earlier one refused.
    """

    kind = "guards"
    rng = None  # set by the simulator: what allow_request / allow_retry draw from

    def __init__(self, *guards: Guard):
        self.guards = tuple(guards)

    def __bool__(self) -> bool:
        return bool(self.guards)

    def __len__(self) -> int:
        return len(self.guards)

    def allow_request(self, now: float, rng=None) -> bool:
        for g in self.guards:
            if not g.allow_request(now, rng):
                return False
        return True

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        for g in self.guards:
            if not g.allow_retry(now, rng, timeout):
                return False
        return True

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False) -> None:
        for g in self.guards:
            g.on_result(now, success, is_retry, timeout)

    def on_attempt_start(self, now: float, is_retry: bool) -> None:
        for g in self.guards:
            g.on_attempt_start(now, is_retry)

    def on_attempt_end(self, now: float, is_retry: bool) -> None:
        for g in self.guards:
            g.on_attempt_end(now, is_retry)

    def describe(self) -> dict:
        out: dict = {}
        for g in self.guards:
            d = g.describe()
            kind = d.pop("guard")
            for key, value in d.items():
                out[f"{kind}.{key}"] = value
        out["guards"] = "+".join(g.kind for g in self.guards)
        return out
