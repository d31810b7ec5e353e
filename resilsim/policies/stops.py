"""Stop conditions: whether a request should stop retrying.

A stop is a small object with one call, ``stop(attempt, elapsed, next_wait)``:
``attempt`` attempts were made so far, ``elapsed`` seconds have passed since
the request started, and the next retry would wait ``next_wait`` seconds.
It answers ``True`` to stop. Stops combine like tenacity's:
``attempts(5) | elapsed(60)`` stops at whichever comes first,
``a & b`` only when both agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


class Stop:
    """Base class of stop conditions."""

    def __call__(self, attempt: int, elapsed: float, next_wait: float) -> bool:  # pragma: no cover
        raise NotImplementedError

    def __or__(self, other: "Stop") -> "Stop":
        return AnyStop(self, other)

    def __and__(self, other: "Stop") -> "Stop":
        return AllStop(self, other)

    @property
    def bounded(self) -> bool:
        """True when this condition alone guarantees that retries end."""
        return False

    @property
    def max_attempts(self) -> float:
        """The most attempts a request can make under this stop (inf if unbounded by count)."""
        return math.inf

    def describe(self) -> dict:
        """The condition's parameters, flat, for result rows and the docs."""
        return {}


@dataclass(frozen=True, slots=True)
class Never(Stop):
    """Never stop (retries end only by a deadline or a non-retryable code)."""

    def __call__(self, attempt, elapsed, next_wait):
        return False


@dataclass(frozen=True, slots=True)
class Attempts(Stop):
    """Stop once ``n`` attempts (the first one included) were made."""

    n: int

    def __call__(self, attempt, elapsed, next_wait):
        return attempt >= self.n

    @property
    def bounded(self):
        return True

    @property
    def max_attempts(self):
        return self.n

    def describe(self):
        return {"stop_attempts": self.n}


@dataclass(frozen=True, slots=True)
class Elapsed(Stop):
    """Stop once ``seconds`` have passed since the request started (tenacity's stop_after_delay)."""

    seconds: float

    def __call__(self, attempt, elapsed, next_wait):
        return elapsed >= self.seconds

    @property
    def bounded(self):
        return True

    def describe(self):
        return {"stop_elapsed": self.seconds}


@dataclass(frozen=True, slots=True)
class Deadline(Stop):
    """Stop when the next retry would start after ``seconds`` from the request's start."""

    seconds: float

    def __call__(self, attempt, elapsed, next_wait):
        return elapsed + next_wait > self.seconds

    @property
    def bounded(self):
        return True

    def describe(self):
        return {"stop_deadline": self.seconds}


@dataclass(frozen=True, slots=True)
class AnyStop(Stop):
    """Stop when either condition says so (``a | b``)."""

    first: Stop
    second: Stop

    def __call__(self, attempt, elapsed, next_wait):
        return self.first(attempt, elapsed, next_wait) or self.second(attempt, elapsed, next_wait)

    @property
    def bounded(self):
        return self.first.bounded or self.second.bounded

    @property
    def max_attempts(self):
        return min(self.first.max_attempts, self.second.max_attempts)

    def describe(self):
        return {**self.first.describe(), **self.second.describe()}


@dataclass(frozen=True, slots=True)
class AllStop(Stop):
    """Stop only when both conditions say so (``a & b``)."""

    first: Stop
    second: Stop

    def __call__(self, attempt, elapsed, next_wait):
        return self.first(attempt, elapsed, next_wait) and self.second(attempt, elapsed, next_wait)

    @property
    def bounded(self):
        return self.first.bounded and self.second.bounded

    @property
    def max_attempts(self):
        return max(self.first.max_attempts, self.second.max_attempts)

    def describe(self):
        return {**self.first.describe(), **self.second.describe(), "stop_combine": "all"}


def never() -> Stop:
    """Never stop by count or time."""
    return Never()


def attempts(n: int) -> Stop:
    """Stop after ``n`` attempts in all (``attempts(1)``: no retry)."""
    if n < 1:
        raise ValueError(f"attempts must be at least 1, not {n}")
    return Attempts(int(n))


def elapsed(seconds: float) -> Stop:
    """Stop once ``seconds`` have passed since the request started."""
    return Elapsed(float(seconds))


def deadline(seconds: float) -> Stop:
    """Never schedule a retry that would start after ``seconds`` from the request's start."""
    return Deadline(float(seconds))
