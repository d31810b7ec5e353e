"""Client-side guards, pure: retry budgets, retry quota, circuit breakers, adaptive throttling.

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
- ``take(now) -> bool`` and ``wait(now) -> seconds``: only for a guard with
  ``blocks = True`` (the AWS adaptive limiter), which makes an attempt *wait*
  rather than refusing it. When an attempt is due (after allow_*, after the
  backoff) the simulator sends it if ``take`` succeeds; otherwise it joins a
  line, and the line's head is sent when ``wait`` says a token is there
  (asked again each time, at the rate of the moment).
- ``describe() -> dict``: flat parameters for result rows and the docs.

Each class's docstring names the library or text it follows.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from functools import partial
from itertools import count

# C-level callables that do nothing useful, standing in for a hook with nothing to do: cheaper than a
# Python no-op on the per-attempt path.
_NO_OP_0 = tuple  # called with no argument
_NO_OP_1 = bool   # called with one (``now``)


class Guard:
    """Base class of guards: every hook allows and records nothing."""

    kind = "guard"
    #: Whether ``on_result`` takes ``throttled``. The composite passes that flag only to guards that
    #: say so, so the guards written before it keep their four-argument ``on_result``.
    hears_throttles = False
    #: Whether the guard delays attempts (``take`` / ``wait``) instead of refusing them. The
    #: simulator asks only guards that say so, so the refusing guards cost nothing more.
    blocks = False
    #: For a guard whose ``allow_request`` always allows and only records ``now`` (a ratio budget's
    #: deposit): that record as a C-level callable (a list's ``append``), which the composite hands out
    #: as its ``admit``, cheaper than a Python call per request. None: call ``allow_request``.
    deposit = None
    #: True while ``allow_request`` would allow without recording anything (a closed breaker): the
    #: composite's ``admit`` then leaves it out. A guard that sets it keeps it up to date (and calls
    #: ``changed``).
    passive = False
    #: The same for ``allow_retry``: True while it would allow without recording anything (a closed breaker),
    #: so the composite's ``allow_retry`` leaves the guard out. A guard that sets it keeps it up to date (and
    #: calls ``changed``).
    passive_retry = False
    #: While not None: a zero-argument callable, C-level where possible, that records a successful
    #: attempt exactly as ``on_result(now, True, ...)`` would, at any ``now`` and whatever the flags (a
    #: closed breaker whose count window no run of successes can open). Callers may use it instead of
    #: ``on_result`` for successes. A guard that sets it keeps it up to date (and calls ``changed``).
    success_sink = None
    #: Set by the :class:`Guards` holding this guard (a guard belongs to one): called with no argument
    #: after ``passive``, ``passive_retry`` or ``success_sink`` changed, so the composite's fast hooks follow.
    changed = None
    #: In :class:`Guards`: a one-argument callable standing for ``allow_request(now)`` while every guard
    #: would allow it (recording the deposits), or None: call ``allow_request``. Always None here.
    admit = None

    def allow_request(self, now: float, rng=None) -> bool:
        """Whether a new request may send its first attempt at ``now`` (seconds)."""
        return True

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        """Whether a request may retry at ``now`` (seconds); ``timeout``: the failure was a timeout."""
        return True

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False,
                  throttled: bool = False) -> None:
        """Record the outcome of one attempt finished at ``now`` (seconds).

        ``throttled``: the response was a throttle (HTTP 429, see
        :func:`resilsim.policies.library.is_throttle`); only guards with
        ``hears_throttles`` are given it.
        """

    def on_attempt_start(self, now: float, is_retry: bool) -> None:
        """Record that an attempt starts at ``now`` (seconds)."""

    def on_attempt_end(self, now: float, is_retry: bool) -> None:
        """Record that an attempt ends at ``now`` (seconds)."""

    def take(self, now: float) -> bool:
        """Take the permission to send an attempt at ``now`` (seconds) if it is there; False: it must wait."""
        return True

    def wait(self, now: float) -> float:
        """Seconds from ``now`` until :meth:`take` would succeed, at the rate of the moment (0: now)."""
        return 0.0

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


class RetryTokenBucket(Guard):
    """Brooker's retry token bucket ("Fixing retries with token buckets and circuit breakers", 2022).

    After ``AdaptiveRetryStrategy`` in mbrooker/simulator_example
    ``retry_sim/retry_strategy.py`` (lines 25-42): the bucket starts full
    at ``capacity`` tokens; each request deposits ``deposit`` tokens when
    its first attempt goes (``start``, line 34-35), never above
    ``capacity``; a retry is allowed while the bucket holds *more than*
    ``cost`` tokens and takes ``cost`` (``should_retry``, lines 37-42:
    ``if self.bucket > 1.0``). Outcomes are not counted, and there is no
    cap per request: a request retries while the bucket allows, up to its
    retry policy's own stop. The post's figures use capacity 5, deposit
    0.1, cost 1 (``AdaptiveRetryFactory(0.1, 5)``, retry_sim.py line 62),
    one bucket per client (``scope: client``). Unlike gRPC's
    :class:`TokenBucketBudget`, tokens come from requests, not successes.
    """

    kind = "retry_token_bucket"

    def __init__(self, capacity: float = 5.0, deposit: float = 0.1, cost: float = 1.0):
        if capacity <= 0 or deposit < 0 or cost <= 0:
            raise ValueError("capacity and cost must be positive, deposit ≥ 0")
        self.capacity = float(capacity)
        self.deposit_per_call = float(deposit)
        self.cost = float(cost)
        self.tokens = self.capacity

    def allow_request(self, now: float, rng=None) -> bool:
        t = self.tokens + self.deposit_per_call
        self.tokens = t if t < self.capacity else self.capacity
        return True

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        if self.tokens > self.cost:
            self.tokens -= self.cost
            return True
        return False

    def describe(self) -> dict:
        return {"guard": self.kind, "capacity": self.capacity, "deposit": self.deposit_per_call, "cost": self.cost}


class _Times:
    """Times (seconds, never decreasing) added with ``append`` and counted over a trailing window.

    A list and the index of its oldest live entry: adding is the list's own C-level ``append`` (a
    ratio budget hands it out as its deposit), and forgetting what aged out is one ``bisect``, not a
    Python loop over the expired entries. The expired prefix is cut off now and then, so memory stays
    proportional to the window.
    """

    __slots__ = ("times", "head", "append")

    def __init__(self):
        self.times: list = []
        self.head = 0
        self.append = self.times.append

    def count_after(self, cut: float) -> int:
        """How many times are later than ``cut`` (seconds); forgets the others (``cut`` must not decrease)."""
        times = self.times
        head = bisect_right(times, cut, self.head)
        if head > 4096 and head > len(times) >> 1:
            del times[:head]
            head = 0
        self.head = head
        return len(times) - head


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
        self._requests = _Times()
        self._retries = _Times()
        self.deposit = self._requests.append  # what allow_request does

    def balance(self, now: float) -> float:
        """Retries still available at ``now`` (may be fractional)."""
        cut = now - self.ttl
        # _Times.count_after of both lists, written out: the balance is asked on every retry (two frames fewer);
        # tests/policies/test_guards.py holds it to count_after.
        q, r = self._requests, self._retries
        qt, rt = q.times, r.times
        qh = bisect_right(qt, cut, q.head)
        if qh > 4096 and qh > len(qt) >> 1:
            del qt[:qh]
            qh = 0
        q.head = qh
        rh = bisect_right(rt, cut, r.head)
        if rh > 4096 and rh > len(rt) >> 1:
            del rt[:rh]
            rh = 0
        r.head = rh
        return self.min_per_s * self.ttl + self.percent * (len(qt) - qh) - (len(rt) - rh)

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

    ``retry_only=True`` is the retry circuit breaker of Brooker's 2022 post:
    first attempts are always sent and only retries are refused while open
    (half-open, ``half_open_calls`` retries are let through). Every
    attempt's outcome, first tries included, still fills the window and,
    half-open, counts towards the probe verdict.
    """

    kind = "breaker"
    hears_throttles = True  # takes ``throttled`` (and ignores it), so the composite can call it directly

    def __init__(self, failure_rate: float = 0.5, window: float = 100, window_type: str = "count",
                 minimum_calls: int = 100, open_s: float = 60.0, half_open_calls: int = 10,
                 retry_only: bool = False):
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
        self.retry_only = bool(retry_only)
        self.state = CLOSED
        self.passive = True  # while CLOSED (always, retry_only: first attempts never ask)
        self.passive_retry = True  # while CLOSED: allow_retry answers True and records nothing
        self.opened_at = -math.inf
        self.transitions: list = []  # (now, new state), for plots and tests
        # The window. Count: ``_seq`` outcomes since the breaker last closed, and the sequence numbers of
        # the failures among the last ``_cap`` of them. Time: (time, failed) pairs in a deque.
        self._cap = int(window) if window_type == "count" else None  # len > window ⇔ len > int(window)
        self._seq = 0
        self._fails: deque = deque()
        self._calls: deque = deque()
        self._failures = 0  # time window: failures in _calls
        # Successes through ``success_sink`` (count window only) just tick a C-level counter; on_result
        # adds them to _seq first. ``_mark``: the counter's value at the last look.
        self._tally = count()
        self._mark = -1
        self._sink = self._tally.__next__
        self.success_sink = self._sink if self._cap is not None else None
        self._probes_sent = 0
        self._probe_results = 0
        self._probe_failures = 0

    def _to(self, now: float, state: str) -> None:
        self.state = state
        self.passive = state == CLOSED or self.retry_only
        self.passive_retry = state == CLOSED
        self.transitions.append((now, state))
        if state == OPEN:
            self.opened_at = now
        elif state == HALF_OPEN:
            self._probes_sent = self._probe_results = self._probe_failures = 0
        else:
            self._seq = 0
            self._fails.clear()
            self._mark = next(self._tally)
            self._calls.clear()
            self._failures = 0
        # Successes may skip on_result only while closed with a count window (an empty one is safe).
        self.success_sink = self._sink if state == CLOSED and self._cap is not None else None
        if self.changed is not None:
            self.changed()

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

    # The hooks below run on every request and attempt: the CLOSED case is tested first, without calls.

    def allow_request(self, now: float, rng=None) -> bool:
        return self.state == CLOSED or self.retry_only or self._permit(now)

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        return self.state == CLOSED or self._permit(now)

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False,
                  throttled: bool = False) -> None:
        failed = not success
        if self.state != CLOSED:
            if self.state_at(now) == HALF_OPEN:
                self._probe_results += 1
                self._probe_failures += failed
                if self._probe_results >= self.half_open_calls:
                    if self._probe_failures / self._probe_results >= self.failure_rate:
                        self._to(now, OPEN)
                    else:
                        self._to(now, CLOSED)
            return  # OPEN: a late result of a call let through before opening
        cap = self._cap
        if cap is None:
            calls = self._calls
            failures = self._failures + failed
            calls.append((now, failed))
            cut = now - self.window
            while calls and calls[0][0] <= cut:
                failures -= calls.popleft()[1]
            self._failures = failures
            n = len(calls)
            if n >= self.minimum_calls and failures / n >= self.failure_rate:
                self._to(now, OPEN)
            return
        # Count window: this outcome, after the successes the sink counted since the last look.
        tally = next(self._tally)
        seq = self._seq + 1 + (tally - self._mark - 1)
        self._mark = tally
        self._seq = seq
        fails = self._fails
        if failed:
            fails.append(seq)
        cut = seq - cap
        while fails and fails[0] <= cut:
            fails.popleft()
        n = seq if seq < cap else cap
        if n >= self.minimum_calls and len(fails) / n >= self.failure_rate:
            self._to(now, OPEN)
            return
        # The sink may count successes while no run of successes could open the breaker before the next
        # failure: their failure rate only falls, so the first one to reach minimum_calls decides.
        minimum = self.minimum_calls
        safe = True
        if minimum <= cap:
            after = seq + 1 if seq + 1 > minimum else minimum
            safe = len(fails) / (after if after < cap else cap) < self.failure_rate
        sink = self._sink if safe else None
        if sink is not self.success_sink:
            self.success_sink = sink
            if self.changed is not None:
                self.changed()

    def describe(self) -> dict:
        return {"guard": self.kind, "failure_rate": self.failure_rate, "window": self.window,
                "window_type": self.window_type, "minimum_calls": self.minimum_calls,
                "open_s": self.open_s, "half_open_calls": self.half_open_calls, "retry_only": self.retry_only}


class RetryCircuitBreaker(Guard):
    """Brooker's retry circuit breaker with a cumulative failure ratio (the 2022 post's "breaker_10pct").

    After ``CircuitBreakerRetryCall`` in mbrooker/simulator_example
    ``retry_sim/retry_strategy.py`` (lines 52-65): every request counts one
    call when its first attempt goes (``start``, line 57-58); every failed
    attempt, first or retry, counts one failure (line 61); a retry is
    refused while failures ÷ calls > ``max_failure_rate`` (line 62). The
    counts are cumulative over the whole run (no window, no open/closed
    state); first attempts are always sent. The post retries up to three
    times behind it at 10% (``CircuitBreakerRetryFactory(NRetriesFactory(3),
    0.1)``, retry_sim.py line 63): set that cap with the retry policy's stop.
    """

    kind = "retry_ratio_breaker"

    def __init__(self, max_failure_rate: float = 0.1):
        if not max_failure_rate >= 0:
            raise ValueError("max_failure_rate must be ≥ 0")
        self.max_failure_rate = float(max_failure_rate)
        self.calls = 0
        self.failures = 0

    def allow_request(self, now: float, rng=None) -> bool:
        self.calls += 1
        return True

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        # Refused while failures / calls > max_failure_rate, as the post's code divides (no call yet: no failure)
        return self.calls == 0 or not self.failures / self.calls > self.max_failure_rate

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False) -> None:
        if not success:
            self.failures += 1

    def describe(self) -> dict:
        return {"guard": self.kind, "max_failure_rate": self.max_failure_rate}


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
        self._requests = _Times()
        self._accepts = _Times()

    def reject_probability(self, now: float) -> float:
        """The local rejection probability at ``now`` (0..1)."""
        cut = now - self.window
        r = self._requests.count_after(cut)
        return max(0.0, (r - self.k * self._accepts.count_after(cut)) / (r + 1))

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
    """AWS SDK standard retry quota (botocore ``RetryQuotaChecker`` over ``quota.RetryQuota``).

    The quota starts at ``capacity`` (500) tokens. A retry costs ``cost``,
    ``throttle_cost`` when the failure was a throttle, or ``timeout_cost``
    when it was a timeout (None: ``cost``); with too few tokens the retry is
    refused. A successful attempt refunds the cost of the retry that led to
    it, or ``refund`` (1) on success without retry, never above capacity.
    Current botocore: cost 14, throttle 5, no timeout cost of its own; the
    2020 releases: cost 5, timeout 10, no throttle cost of its own.
    """

    kind = "quota"
    hears_throttles = True

    def __init__(self, capacity: float = 500, cost: float = 5, timeout_cost: float | None = 10,
                 refund: float = 1, throttle_cost: float | None = None):
        timeout_cost = cost if timeout_cost is None else timeout_cost
        throttle_cost = cost if throttle_cost is None else throttle_cost
        if capacity <= 0 or cost < 0 or timeout_cost < 0 or refund < 0 or throttle_cost < 0:
            raise ValueError("capacity > 0 and costs ≥ 0")
        self.capacity = float(capacity)
        self.cost = float(cost)
        self.timeout_cost = float(timeout_cost)
        self.throttle_cost = float(throttle_cost)
        self.refund = float(refund)
        self.tokens = self.capacity
        self._last_cost = self.cost
        # The simulator tells on_result about a failed attempt just before it asks allow_retry for it.
        self._throttled = False

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        cost = self.timeout_cost if timeout else (self.throttle_cost if self._throttled else self.cost)
        if self.tokens < cost:
            return False
        self.tokens -= cost
        self._last_cost = cost
        return True

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False,
                  throttled: bool = False) -> None:
        self._throttled = throttled
        if success:
            # botocore refunds the retry's cost on a successful retry; we refund the
            # last cost taken (exact when one request retries at a time).
            gain = self._last_cost if is_retry else self.refund
            self.tokens = min(self.capacity, self.tokens + gain)

    def describe(self) -> dict:
        return {"guard": self.kind, "capacity": self.capacity, "cost": self.cost,
                "throttle_cost": self.throttle_cost, "timeout_cost": self.timeout_cost, "refund": self.refund}


def _allow_any_retry(now: float, rng=None, timeout: bool = False) -> bool:
    # Guards.allow_retry while every guard that decides on retries would allow without recording (_refresh).
    return True


def _allow_retry(allows: tuple, now: float, rng=None, timeout: bool = False) -> bool:
    # Guards.allow_retry over the guards that are asked now (_refresh), in order: the first refusal stops it.
    for allow in allows:
        if not allow(now, rng, timeout):
            return False
    return True


class Guards(Guard):
    """Several guards acting as one: every guard must allow; every guard records.

    ``allow_*`` stops at the first refusal, so a later guard (e.g. a quota)
    is not charged for a retry an earlier one refused. At most one guard may
    block (``blocks``); ``take`` and ``wait`` are its.
    """

    kind = "guards"
    hears_throttles = True
    rng = None  # set by the simulator: what allow_request / allow_retry draw from

    def __init__(self, *guards: Guard):
        self.guards = tuple(guards)
        # A guard of one's own need not subclass Guard (resilsim.policies.protocols.GuardLike): what it leaves
        # out reads as the base class's defaults.
        blockers = [g for g in self.guards if getattr(g, "blocks", False)]
        if len(blockers) > 1:
            raise ValueError("at most one guard may block (delay attempts); got "
                             + ", ".join(g.kind for g in blockers))
        self._blocker = blockers[0] if blockers else None
        self.blocks = self._blocker is not None
        # Each hook calls only the guards that override it (the base class's do nothing), bound once here:
        # the hooks run on every attempt, so a breaker and a budget cost two calls, not ten.
        def overriding(hook):
            return [g for g in self.guards if getattr(type(g), hook, None) not in (None, getattr(Guard, hook))]
        # The guards that decide on requests and hear outcomes: the fast hooks (admit, success_sink) follow them.
        self._deciders, self._hearers = overriding("allow_request"), overriding("on_result")
        self._allow_request = tuple(g.allow_request for g in self._deciders)
        self._retriers = overriding("allow_retry")
        self._allow_retry = tuple(g.allow_retry for g in self._retriers)
        self._starts = tuple(g.on_attempt_start for g in overriding("on_attempt_start"))
        self._ends = tuple(g.on_attempt_end for g in overriding("on_attempt_end"))
        self._results = tuple((g.on_result, getattr(g, "hears_throttles", False)) for g in self._hearers)
        #: Whether any guard counts attempts in flight (the simulator skips both hooks otherwise).
        self.tracks_attempts = bool(self._starts or self._ends)
        if len(self._results) == 1 and self._results[0][1]:
            self.on_result = self._results[0][0]  # one guard records outcomes (a breaker): no loop
        for g in self.guards:
            g.changed = self._refresh
        self._refresh()
        if len(self._deciders) == 1:
            self.allow_request = self._deciders[0].allow_request  # no loop (admit covers the passive case)

    def _refresh(self) -> None:
        # admit: while every deciding guard is passive or only deposits, allow_request is just the
        # deposit (or nothing). success_sink: the one outcome-hearing guard's sink (nothing when none hears).
        # allow_retry: the guards that would not answer True without recording anything (passive_retry: a closed
        # breaker) asked in order; while that is one guard, its own allow_retry (a frame fewer per retry, two
        # with a closed breaker beside a budget). Guards.allow_retry, the class's, stays the general loop.
        deposits = []
        for g in self._deciders:
            deposit = getattr(g, "deposit", None)
            if deposit is not None:
                deposits.append(deposit)
            elif not getattr(g, "passive", False):
                deposits = None
                break
        if deposits is None or len(deposits) > 1:
            self.admit = None
        else:
            self.admit = deposits[0] if deposits else _NO_OP_1
        asked = [g for g in self._retriers if not getattr(g, "passive_retry", False)]
        if len(asked) == 1:
            self.allow_retry = asked[0].allow_retry
        elif not asked:
            self.allow_retry = _allow_any_retry
        else:
            self.allow_retry = partial(_allow_retry, tuple(g.allow_retry for g in asked))
        hearers = self._hearers
        if not hearers:
            self.success_sink = _NO_OP_0
        else:
            self.success_sink = getattr(hearers[0], "success_sink", None) if len(hearers) == 1 else None

    def __bool__(self) -> bool:
        return bool(self.guards)

    def __len__(self) -> int:
        return len(self.guards)

    def allow_request(self, now: float, rng=None) -> bool:
        for allow in self._allow_request:
            if not allow(now, rng):
                return False
        return True

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        # Every guard asked (each instance's _refresh binds a faster form over only those that decide now).
        return _allow_retry(self._allow_retry, now, rng, timeout)

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False,
                  throttled: bool = False) -> None:
        for record, hears_throttles in self._results:
            if hears_throttles:
                record(now, success, is_retry, timeout, throttled)
            else:
                record(now, success, is_retry, timeout)

    def on_attempt_start(self, now: float, is_retry: bool) -> None:
        for start in self._starts:
            start(now, is_retry)

    def on_attempt_end(self, now: float, is_retry: bool) -> None:
        for end in self._ends:
            end(now, is_retry)

    def take(self, now: float) -> bool:
        return True if self._blocker is None else self._blocker.take(now)

    def wait(self, now: float) -> float:
        return 0.0 if self._blocker is None else self._blocker.wait(now)

    def describe(self) -> dict:
        out: dict = {}
        for g in self.guards:
            d = dict(g.describe())
            kind = d.pop("guard", None) or getattr(g, "kind", None) or type(g).__name__
            for key, value in d.items():
                out[f"{kind}.{key}"] = value
        out["guards"] = "+".join(getattr(g, "kind", None) or type(g).__name__ for g in self.guards)
        return out


class ClientRateLimiter(Guard):
    """AWS SDK adaptive retry mode: a client-side token bucket whose send rate follows CUBIC.

    After botocore's ``retries/adaptive.py``, ``bucket.py`` and ``throttling.py``
    (the AWS SDKs' adaptive retry mode, botocore/retries/adaptive.py). Off until the first
    throttling response; from then on every attempt (first or retry) needs a
    token from a bucket filled at ``rate`` tokens per second, holding at most
    ``max(rate, 1)`` tokens. On every response (``on_result``):

    - the measured send rate is updated: responses are counted in
      ``bucket_s`` (0.5 s) time buckets and smoothed, each new bucket giving
      ``measured = smoothing·count/Δt + (1 − smoothing)·measured`` (0.8);
    - a throttle (``throttled=True``) sets ``w_max`` to the measured rate (or
      to ``min(measured, rate)`` once enabled), ``K = cbrt(w_max·(1 − beta)/scale)``
      and the new rate to ``beta·w_max`` (beta 0.7);
    - any other response sets the rate to ``scale·(t − last_throttle − K)³ + w_max``
      (scale 0.4): a cubic that climbs back to ``w_max`` after ``K`` seconds,
      flat there, then probes above it;
    - the rate is capped at ``max_rate_scale`` (2) × the measured rate and never
      below ``min_rate`` (0.5 requests per second).

    What is modelled: with ``block=True`` (the default) the limiter *blocks*
    a send until a token is there, as botocore's ``TokenBucket.acquire``
    does: it never refuses (``blocks``); :meth:`take` takes a whole token
    if there is one and :meth:`wait` says when the next one comes at the
    rate of the moment (botocore's waiters re-check after each sleep and on
    every rate change). With ``block=False`` it refuses instead (the
    request is shed) when no whole token is available, as the AWS SDK for
    Java v2 does with ``fastFailRateLimiting``. One limiter models one SDK
    client: shared by a population of clients, it limits their sum.

    The simulator must pass ``throttled`` to :meth:`on_result`; without it
    the limiter never switches on and allows everything.
    """

    kind = "client_rate"
    hears_throttles = True

    def __init__(self, beta: float = 0.7, scale: float = 0.4, min_rate: float = 0.5,
                 max_rate_scale: float = 2.0, smoothing: float = 0.8, bucket_s: float = 0.5,
                 start: float = 0.0, block: bool = True):
        if not 0 < beta < 1:
            raise ValueError("beta must be in (0, 1)")
        if scale <= 0 or min_rate <= 0 or max_rate_scale <= 0 or bucket_s <= 0:
            raise ValueError("scale, min_rate, max_rate_scale and bucket_s must be positive")
        if not 0 < smoothing <= 1:
            raise ValueError("smoothing must be in (0, 1]")
        self.beta = float(beta)
        self.scale = float(scale)
        self.min_rate = float(min_rate)
        self.max_rate_scale = float(max_rate_scale)
        self.smoothing = float(smoothing)
        self.bucket_s = float(bucket_s)
        self.block = bool(block)
        self.blocks = self.block  # the simulator delays attempts rather than asking allow_*
        self.enabled = False
        # CUBIC state (botocore CubicCalculator(starting_max_rate=0, start_time=start)).
        self.w_max = 0.0
        self.k = 0.0
        self.last_throttle = float(start)
        # Measured send rate (botocore RateClocker; its first bucket is the whole second).
        self.measured_rate = 0.0
        self._count = 0
        self._last_bucket = float(math.floor(start))
        # Token bucket (botocore TokenBucket(max_rate=1)): empty, 1 token/s, 1 token at most.
        self.rate = 1.0
        self.max_tokens = 1.0
        self.tokens = 0.0
        self._refilled_at = float(start)
        self.throttles = 0
        self.refused = 0

    def cubic_rate(self, now: float) -> float:
        """The CUBIC send rate at ``now`` (requests per second) after a non-throttled response."""
        d = now - self.last_throttle - self.k
        return self.scale * d * d * d + self.w_max

    def _refill(self, now: float) -> None:
        if now > self._refilled_at:
            t = self.tokens + (now - self._refilled_at) * self.rate
            self.tokens = t if t < self.max_tokens else self.max_tokens
            self._refilled_at = now

    def _set_rate(self, now: float, value: float) -> None:
        # Tokens earned so far accrue at the old rate before the new one applies.
        self._refill(now)
        self.rate = value if value > self.min_rate else self.min_rate
        self.max_tokens = value if value >= 1.0 else 1.0
        if self.tokens > self.max_tokens:
            self.tokens = self.max_tokens

    def _measure(self, now: float) -> float:
        bucket = math.floor(now / self.bucket_s) * self.bucket_s
        self._count += 1
        if bucket > self._last_bucket:
            current = self._count / (bucket - self._last_bucket)
            self.measured_rate = current * self.smoothing + self.measured_rate * (1.0 - self.smoothing)
            self._count = 0
            self._last_bucket = bucket
        return self.measured_rate

    def _take(self, now: float) -> bool:
        if not self.enabled or self.block:
            return True  # off, or blocking: take()/wait() delay the attempt instead
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.refused += 1
        return False

    def allow_request(self, now: float, rng=None) -> bool:
        return self._take(now)

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        return self._take(now)

    #: A token short of one by less than this still counts as one: a waiter woken at the computed time
    #: must find its token there despite float rounding (and never be woken again a few ulps later).
    _EPS = 1e-6

    def take(self, now: float) -> bool:
        """Take a token at ``now`` (seconds) if a whole one is there (always, before the first throttle)."""
        if not self.enabled:
            return True
        self._refill(now)
        if self.tokens >= 1.0 - self._EPS:
            self.tokens -= 1.0
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds from ``now`` until a whole token is there at the current rate (0: there now)."""
        if not self.enabled:
            return 0.0
        self._refill(now)
        short = 1.0 - self.tokens
        return short / self.rate if short > self._EPS else 0.0

    def acquire_delay(self, now: float) -> float:
        """Take a token at ``now`` and return how long (seconds) the SDK would block for it (0 if none).

        Tokens may go negative: waiters queue behind each other, each served
        ``1/rate`` seconds after the previous one, as threads blocked on
        botocore's bucket are, if the rate stays (a real client's sleep; the
        simulator uses :meth:`take` and :meth:`wait`, which see rate changes).
        """
        if not self.enabled:
            return 0.0
        self._refill(now)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0.0 else -self.tokens / self.rate

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False,
                  throttled: bool = False) -> None:
        measured = self._measure(now)
        if throttled:
            self.w_max = measured if not self.enabled else min(measured, self.rate)
            self.k = (self.w_max * (1.0 - self.beta) / self.scale) ** (1.0 / 3.0)
            self.last_throttle = now
            new = self.w_max * self.beta
            self.enabled = True
            self.throttles += 1
        else:
            new = self.cubic_rate(now)
        cap = self.max_rate_scale * measured
        self._set_rate(now, new if new < cap else cap)

    def describe(self) -> dict:
        return {"guard": self.kind, "beta": self.beta, "scale": self.scale, "min_rate": self.min_rate,
                "max_rate_scale": self.max_rate_scale, "smoothing": self.smoothing, "bucket_s": self.bucket_s,
                "block": self.block}
