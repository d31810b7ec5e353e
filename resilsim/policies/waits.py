"""Backoff schedules: how long a client waits before retry ``n``.

A wait is a small object with one call, ``wait(attempt, previous, rng)``:

- ``attempt``: the number of attempts made so far (1 after the first failure,
  so ``attempt`` is also the number of the retry about to be made);
- ``previous``: the previous wait in seconds (0.0 before the first retry);
  decorrelated jitter needs it;
- ``rng``: anything with ``random() -> float in [0, 1)`` (``random.Random``
  in a real client, :class:`resilsim.rng.BlockRandom` in the simulator).

It returns seconds. Waits compose the way tenacity's do: ``a + b`` adds two
waits, and ``exponential(base=1, cap=30) + jitter("full")`` jitters one.
Definitions follow the AWS Architecture blog "Exponential Backoff And
Jitter" (full, equal, decorrelated), stamina (additive) and gRFC A6
(proportional ±20%).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

INF = math.inf

JITTERS = ("none", "full", "equal", "decorrelated", "additive", "proportional")


class Wait:
    """Base class of backoff schedules."""

    #: Largest wait this schedule produces (seconds), used by jitters to re-cap.
    cap: float = INF

    @property
    def ceiling(self) -> float:
        """The cap given to this schedule (seconds; INF when none), which additive jitter keeps to."""
        return self.cap

    def __call__(self, attempt: int, previous: float, rng) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def __add__(self, other: "Wait | Jitter") -> "Wait":
        if isinstance(other, Jitter):
            return other.apply(self)
        if isinstance(other, Wait):
            return WaitSum(self, other)
        return NotImplemented

    def describe(self) -> dict:
        """The schedule's parameters, flat, for result rows and the docs."""
        return {"wait": type(self).__name__.lower()}


@dataclass(frozen=True, slots=True)
class NoWait(Wait):
    """Retry at once: always 0 s."""

    def __call__(self, attempt, previous, rng):
        return 0.0

    def describe(self):
        return {"wait": "none"}


@dataclass(frozen=True, slots=True)
class Fixed(Wait):
    """The same wait before every retry: ``seconds``."""

    seconds: float

    @property
    def cap(self):
        return self.seconds

    @property
    def ceiling(self):
        return INF  # a fixed wait has no cap: jitter added to it is kept whole

    @property
    def base(self):
        return self.seconds

    def __call__(self, attempt, previous, rng):
        return self.seconds

    def describe(self):
        return {"wait": "fixed", "wait_base": self.seconds}


@dataclass(frozen=True, slots=True)
class Linear(Wait):
    """``min(cap, base + step·(n − 1))`` seconds before retry n."""

    base: float
    step: float
    cap: float = INF

    def __call__(self, attempt, previous, rng):
        v = self.base + self.step * (attempt - 1)
        return v if v < self.cap else self.cap

    def describe(self):
        return {"wait": "linear", "wait_base": self.base, "wait_step": self.step, "wait_cap": self.cap}


@dataclass(frozen=True, slots=True)
class Exponential(Wait):
    """``min(cap, base · multiplier^(n − 1))`` seconds before retry n (n = 1 first)."""

    base: float = 1.0
    multiplier: float = 2.0
    cap: float = INF

    def __call__(self, attempt, previous, rng):
        try:
            v = self.base * self.multiplier ** (attempt - 1)
        except OverflowError:
            # A float power past ~1e308 overflows; the cap has long applied by then.
            return self.cap
        return v if v < self.cap else self.cap

    def describe(self):
        return {"wait": "exponential", "wait_base": self.base, "wait_multiplier": self.multiplier, "wait_cap": self.cap}


@dataclass(frozen=True, slots=True)
class WaitSum(Wait):
    """The sum of two waits (tenacity's ``wait_a + wait_b``)."""

    first: Wait
    second: Wait

    @property
    def cap(self):
        return self.first.cap + self.second.cap

    @property
    def ceiling(self):
        return self.first.ceiling + self.second.ceiling

    def __call__(self, attempt, previous, rng):
        return self.first(attempt, previous, rng) + self.second(attempt, previous, rng)

    def describe(self):
        return {"wait": "sum", "wait_parts": f"{self.first.describe()} + {self.second.describe()}"}


@dataclass(frozen=True, slots=True)
class Jitter:
    """A jitter mode, applied to a wait with ``wait + jitter("full")``.

    ``amount`` is the additive jitter in seconds (``additive``) or the
    relative spread (``proportional``: 0.2 means × U(0.8, 1.2)).
    """

    kind: str = "full"
    amount: float = 0.2

    def __post_init__(self):
        if self.kind not in JITTERS:
            raise ValueError(f"jitter must be one of {', '.join(JITTERS)}, not {self.kind!r}")

    def apply(self, wait: Wait) -> Wait:
        """Return ``wait`` with this jitter."""
        if self.kind == "none":
            return wait
        if self.kind == "full":
            return FullJitter(wait)
        if self.kind == "equal":
            return EqualJitter(wait)
        if self.kind == "decorrelated":
            base = getattr(wait, "base", None)
            if base is None or not math.isfinite(wait.cap):
                raise ValueError("decorrelated jitter needs a wait with a base and a finite cap")
            return DecorrelatedJitter(base, wait.cap)
        if self.kind == "additive":
            return AdditiveJitter(wait, self.amount)
        return ProportionalJitter(wait, self.amount)


def jitter(kind: str = "full", amount: float = 0.2) -> Jitter:
    """A jitter mode to add to a wait: ``exponential(base=1, cap=30) + jitter("full")``."""
    return Jitter(kind, amount)


@dataclass(frozen=True, slots=True)
class FullJitter(Wait):
    """AWS full jitter: U(0, v) where v is the wrapped wait."""

    wait: Wait

    @property
    def cap(self):
        return self.wait.cap

    def __call__(self, attempt, previous, rng):
        return rng.random() * self.wait(attempt, previous, rng)

    def describe(self):
        return {**self.wait.describe(), "jitter": "full"}


@dataclass(frozen=True, slots=True)
class EqualJitter(Wait):
    """AWS equal jitter: v/2 + U(0, v/2)."""

    wait: Wait

    @property
    def cap(self):
        return self.wait.cap

    def __call__(self, attempt, previous, rng):
        half = self.wait(attempt, previous, rng) / 2.0
        return half + rng.random() * half

    def describe(self):
        return {**self.wait.describe(), "jitter": "equal"}


@dataclass(frozen=True, slots=True)
class DecorrelatedJitter(Wait):
    """AWS decorrelated jitter: min(cap, U(base, 3 · previous)), previous starting at base."""

    base: float
    cap: float

    def __call__(self, attempt, previous, rng):
        prev = previous if previous > 0.0 else self.base
        hi = 3.0 * prev
        v = self.base + rng.random() * (hi - self.base) if hi > self.base else self.base
        return v if v < self.cap else self.cap

    def describe(self):
        return {"wait": "exponential", "wait_base": self.base, "wait_cap": self.cap, "jitter": "decorrelated"}


@dataclass(frozen=True, slots=True)
class AdditiveJitter(Wait):
    """stamina's jitter: min(cap, v + U(0, amount)), cap being the wrapped wait's own (none for a fixed wait)."""

    wait: Wait
    amount: float

    @property
    def cap(self):
        return min(self.wait.ceiling, self.wait.cap + self.amount)

    def __call__(self, attempt, previous, rng):
        v = self.wait(attempt, previous, rng) + rng.random() * self.amount
        cap = self.wait.ceiling
        return v if v < cap else cap

    def describe(self):
        return {**self.wait.describe(), "jitter": "additive", "jitter_amount": self.amount}


@dataclass(frozen=True, slots=True)
class ProportionalJitter(Wait):
    """gRPC's jitter: v · U(1 − amount, 1 + amount) (not re-capped, as gRFC A6)."""

    wait: Wait
    amount: float = 0.2

    @property
    def cap(self):
        return self.wait.cap * (1.0 + self.amount)

    def __call__(self, attempt, previous, rng):
        return self.wait(attempt, previous, rng) * (1.0 - self.amount + 2.0 * self.amount * rng.random())

    def describe(self):
        return {**self.wait.describe(), "jitter": "proportional", "jitter_amount": self.amount}


# Lower-case constructors, the spelling users write (tenacity style).
def none() -> Wait:
    """No wait: retry at once."""
    return NoWait()


def fixed(seconds: float) -> Wait:
    """Wait ``seconds`` before every retry."""
    return Fixed(seconds)


def linear(base: float, step: float, cap: float = INF) -> Wait:
    """Wait ``min(cap, base + step·(n − 1))`` seconds before retry n."""
    return Linear(base, step, cap)


def exponential(base: float = 1.0, multiplier: float = 2.0, cap: float = INF) -> Wait:
    """Wait ``min(cap, base · multiplier^(n − 1))`` seconds before retry n."""
    return Exponential(base, multiplier, cap)
