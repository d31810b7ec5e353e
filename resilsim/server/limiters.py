"""Rate limiters, pure: each takes ``now`` (seconds) and answers.

``try_acquire(now)`` returns 0.0 when the attempt is admitted, or the number
of seconds until it would be (the ``Retry-After`` the API sends with its
rate-limit code). :class:`Scoped` keeps one limiter per key (a client, a
tenant, an operation) and builds them lazily.
"""
from __future__ import annotations

import math
from collections import deque


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, at most ``burst`` stored.

    It starts full. Refilled lazily on each call, so it costs nothing while idle.
    """

    __slots__ = ("rate", "burst", "tokens", "last")

    def __init__(self, rate: float, burst: float):
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = 0.0

    def try_acquire(self, now: float) -> float:
        """Take one token at ``now``: 0.0 if admitted, else seconds until the next token."""
        tokens = self.tokens + (now - self.last) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.last = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate


class FixedWindow:
    """At most ``limit`` attempts per window of ``window`` seconds; windows start at multiples of ``window``.

    Resets are aligned (as ``X-RateLimit-Reset`` on a clock boundary), so a
    rejection's Retry-After is the time to the next boundary.
    """

    __slots__ = ("limit", "window", "count", "window_end")

    def __init__(self, limit: int, window: float):
        if limit < 1 or window <= 0:
            raise ValueError("a fixed window needs limit >= 1 and window > 0")
        self.limit = int(limit)
        self.window = float(window)
        self.count = 0
        self.window_end = self.window

    def try_acquire(self, now: float) -> float:
        """Count one attempt at ``now``: 0.0 if admitted, else seconds to the next window."""
        if now >= self.window_end:
            # Jump to the window holding ``now`` (idle windows cost nothing).
            self.window_end = (math.floor(now / self.window) + 1) * self.window
            self.count = 0
        if self.count < self.limit:
            self.count += 1
            return 0.0
        return self.window_end - now


class SlidingWindowLog:
    """At most ``limit`` attempts in any ``window`` seconds: the exact log of admitted attempt times.

    Memory is ``limit`` floats per key; Retry-After is the time until the
    oldest admitted attempt leaves the window.
    """

    __slots__ = ("limit", "window", "log")

    def __init__(self, limit: int, window: float):
        if limit < 1 or window <= 0:
            raise ValueError("a sliding window needs limit >= 1 and window > 0")
        self.limit = int(limit)
        self.window = float(window)
        self.log: deque = deque()

    def try_acquire(self, now: float) -> float:
        """Count one attempt at ``now``: 0.0 if admitted, else seconds until a slot frees."""
        log = self.log
        edge = now - self.window
        while log and log[0] <= edge:
            log.popleft()
        if len(log) < self.limit:
            log.append(now)
            return 0.0
        return log[0] + self.window - now


class SlidingWindowCounter:
    """The two-counter approximation of a sliding window (as Cloudflare and many gateways use).

    The estimate at ``now`` is ``current + previous × (1 − elapsed/window)``,
    windows aligned to multiples of ``window``; admitted while the estimate is
    below ``limit``. Retry-After is the time until the previous window's
    weighted share has dropped enough to admit one more (at most the
    window's end, when that share is gone).
    """

    __slots__ = ("limit", "window", "start", "current", "previous")

    def __init__(self, limit: int, window: float):
        if limit < 1 or window <= 0:
            raise ValueError("a sliding window needs limit >= 1 and window > 0")
        self.limit = int(limit)
        self.window = float(window)
        self.start = 0.0
        self.current = 0
        self.previous = 0

    def try_acquire(self, now: float) -> float:
        """Count one attempt at ``now``: 0.0 if admitted, else seconds until the estimate admits one."""
        w = self.window
        if now >= self.start + w:
            k = math.floor(now / w) * w
            self.previous = self.current if k - self.start < 2 * w else 0
            self.current = 0
            self.start = k
        frac = (now - self.start) / w
        if self.current + self.previous * (1.0 - frac) + 1.0 <= self.limit:
            self.current += 1
            return 0.0
        room = self.limit - 1.0 - self.current
        if room < 0 or self.previous == 0:
            return self.start + w - now
        # previous × (1 − f) ≤ room  ⇔  f ≥ 1 − room / previous
        f_need = 1.0 - room / self.previous
        return max(f_need - frac, 0.0) * w or 1e-9


def make_limiter(kind: str, **params):
    """A fresh limiter: ``kind`` is token_bucket (rate, burst), fixed_window, sliding_log or sliding_counter (limit, window)."""
    if kind == "token_bucket":
        return TokenBucket(params["rate"], params["burst"])
    cls = {"fixed_window": FixedWindow, "sliding_log": SlidingWindowLog,
           "sliding_counter": SlidingWindowCounter}[kind]
    return cls(params["limit"], params["window"])


class Scoped:
    """One limiter per key, built on first use by ``factory()``.

    ``per`` is ``"global"``, ``"tenant"`` or ``"client"``; ``per_operation``
    keeps separate limiters per operation. ``operations`` (a set of
    operation indices, or None for all) limits which operations it counts.
    """

    __slots__ = ("factory", "per", "per_operation", "operations", "limiters", "_one")

    def __init__(self, factory, per: str = "global", per_operation: bool = False, operations=None):
        if per not in ("global", "tenant", "client"):
            raise ValueError("per must be global, tenant or client")
        self.factory = factory
        self.per = per
        self.per_operation = per_operation
        self.operations = None if operations is None else frozenset(operations)
        self.limiters: dict = {}
        self._one = factory() if per == "global" and not per_operation else None

    def try_acquire(self, now: float, op: int = 0, tenant: int = 0, client: int = 0) -> float:
        """Ask the limiter of this attempt's key at ``now``: 0.0 if admitted, else the Retry-After (s)."""
        if self.operations is not None and op not in self.operations:
            return 0.0
        one = self._one
        if one is not None:
            return one.try_acquire(now)
        key = 0 if self.per == "global" else (tenant if self.per == "tenant" else client)
        if self.per_operation:
            key = (key, op)
        lim = self.limiters.get(key)
        if lim is None:
            lim = self.limiters[key] = self.factory()
        return lim.try_acquire(now)
