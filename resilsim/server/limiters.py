"""Rate limiters, pure: each takes ``now`` (seconds) and answers.

``try_acquire(now)`` returns 0.0 when the attempt is admitted, or the number
of seconds until it would be (the ``Retry-After`` the API sends with its
rate-limit code).
"""
from __future__ import annotations


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
