"""Retry policies: which failures to retry, how long to wait, when to stop.

A :class:`RetryPolicy` is ``wait + stop + retry_on`` (tenacity's three
questions), optionally with per-code :class:`Rule` s (the doc presets use
them: "429: back off 1 s, 2 s, 4 s ... capped at 30 s; NotFound: never").

The catalog's advice decides what a retry means:

- ``never``: the request fails with that code;
- ``reauth``: one token refresh (``reauth_delay`` seconds) and one retry;
- ``after_reset``: wait for the quota reset only if it comes before the
  deadline, else fail with that code;
- ``retry``, ``backoff``, ``after_window``, ``after_lock``: wait as the
  policy's wait says (a :func:`retry_after` wait honours the server's hint).

The policy is pure: :meth:`RetryPolicy.decide` takes the facts of the failed
attempt and an rng and returns a :class:`Decision`. The simulator resolves
each code once to a :class:`CodePlan` (:meth:`RetryPolicy.plan`) and keeps
the per-attempt path to a table lookup.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

from ..catalog import in_family
from .stops import Attempts, Never, Stop, attempts
from .waits import Exponential, Fixed, FullJitter, Linear, NoWait, Wait

# What to do with a failed attempt, per code.
FAIL = 0          # not retryable: the request ends "failed" with this code
RETRY = 1         # wait as the plan says, then retry
REAUTH = 2        # refresh the token (reauth_delay), retry once
AFTER_RESET = 3   # wait for the quota reset if inside the deadline, else fail


class RetryOn:
    """Base class of retry-on predicates: ``retry_on(code) -> bool``."""

    def __call__(self, code) -> bool:  # pragma: no cover
        raise NotImplementedError

    def __or__(self, other: "RetryOn") -> "RetryOn":
        return AnyOf((self, other))

    def __and__(self, other: "RetryOn") -> "RetryOn":
        return AllOf((self, other))

    def describe(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, slots=True)
class ByAdvice(RetryOn):
    """Retry what the catalog's advice allows (every advice but ``never``)."""

    def __call__(self, code):
        return code.advice != "never"

    def describe(self):
        return "advice"


@dataclass(frozen=True, slots=True)
class OnStatus(RetryOn):
    """Retry responses with one of these HTTP statuses."""

    statuses: frozenset

    def __call__(self, code):
        return code.http in self.statuses

    def describe(self):
        return "status:" + ",".join(map(str, sorted(self.statuses)))


@dataclass(frozen=True, slots=True)
class OnCodes(RetryOn):
    """Retry exactly these codes (catalog names such as ``"ANALYTICS_1900"`` or ``"TIMEOUT"``)."""

    codes: frozenset

    def __call__(self, code):
        return _named(code, self.codes)

    def describe(self):
        return "codes:" + ",".join(sorted(self.codes))


@dataclass(frozen=True, slots=True)
class AnyOf(RetryOn):
    """Retry when any predicate says so."""

    parts: tuple

    def __call__(self, code):
        return any(p(code) for p in self.parts)

    def describe(self):
        return "|".join(p.describe() for p in self.parts)


@dataclass(frozen=True, slots=True)
class AllOf(RetryOn):
    """Retry only when every predicate says so."""

    parts: tuple

    def __call__(self, code):
        return all(p(code) for p in self.parts)

    def describe(self):
        return "&".join(p.describe() for p in self.parts)


def _named(code, names: frozenset) -> bool:
    """Whether ``code`` is one of ``names``, or a member of a family among them (``104XXX``: the catalog's rule)."""
    return code.code in names or (code.family and any(in_family(code.code, name) for name in names))


def by_advice() -> RetryOn:
    """Retry what the catalog's advice allows (the default)."""
    return ByAdvice()


def on_status(*statuses: int) -> RetryOn:
    """Retry responses with these HTTP statuses (a client-side timeout has status 0)."""
    return OnStatus(frozenset(int(s) for s in statuses))


def on_codes(*codes: str) -> RetryOn:
    """Retry exactly these catalog codes (``"TIMEOUT"`` for a client-side timeout)."""
    return OnCodes(frozenset(str(c) for c in codes))


@dataclass(frozen=True, slots=True)
class RetryAfter(Wait):
    """Honour the server's ``Retry-After`` (or rate-limit reset) when the response has one, else ``fallback``.

    ``max_hint`` is the longest hint honoured (seconds); a longer one falls back too.
    """

    fallback: Wait = field(default_factory=NoWait)
    max_hint: float = math.inf

    @property
    def cap(self):
        # A wait is either an honoured hint or the fallback's.
        return max(self.fallback.cap, self.max_hint)

    def __call__(self, attempt, previous, rng):
        return self.fallback(attempt, previous, rng)

    def honour(self, hint: float, attempt: int, previous: float, rng) -> float:
        """The wait, in seconds, when the server's hint is ``hint`` seconds: the hint itself."""
        return hint

    def describe(self):
        return {**self.fallback.describe(), "retry_after": True}


def retry_after(fallback: Wait | None = None, max_hint: float = math.inf) -> Wait:
    """A wait that honours ``Retry-After`` up to ``max_hint`` seconds and otherwise waits as ``fallback``
    (default: no wait)."""
    return RetryAfter(fallback if fallback is not None else NoWait(), max_hint)


@dataclass(frozen=True, slots=True)
class Rule:
    """A per-code rule: failures matching ``codes``, ``advice`` or ``http`` wait and stop as given.

    A rule with ``retry=False`` says "never" for what it matches.
    """

    codes: frozenset = frozenset()
    advice: frozenset = frozenset()
    http: frozenset = frozenset()
    wait: Wait = field(default_factory=NoWait)
    stop: Stop = field(default_factory=lambda: attempts(3))
    retry: bool = True

    def matches(self, code) -> bool:
        """True when this rule covers ``code``."""
        return _named(code, self.codes) or code.advice in self.advice or code.http in self.http


@dataclass(frozen=True, slots=True)
class CodePlan:
    """What a policy does with one code: an action, the wait and the stop that apply."""

    action: int
    wait: Wait
    stop: Stop
    honours_retry_after: bool
    probability: float = 1.0  # a retry the plan allows goes with this probability, else the request gives up


class Decision(NamedTuple):
    """The answer to one failed attempt: ``retry`` after ``wait`` seconds, or end with ``outcome``.

    ``outcome`` is ``"failed"`` (not retryable, or the strategy stopped the
    request before any retry: ``none``), ``"retries_exhausted"`` (the stop
    condition or the retry probability refused another retry after at least
    one) or ``"deadline"`` (the retry would start after the deadline); it is
    ``None`` when the request retries. A named tuple: it is made on
    every failed attempt of a simulation, so it must be cheap.
    """

    retry: bool
    wait: float = 0.0
    outcome: str | None = None
    reauth: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    """A retry policy: ``wait``, ``stop`` and ``retry_on``, plus optional per-code ``rules``.

    With ``rules``, the first matching rule decides and a code no rule
    matches is not retried. ``reauth_delay`` is the time a token refresh
    takes (seconds). ``name`` labels result rows. ``retry_probability``:
    a failure the policy would retry is retried with this probability
    (0..1), else the request ends (``retries_exhausted``; ``failed`` before any retry), the classic
    probabilistic retry of queueing models; the draw comes from the rng
    :meth:`decide` is given (the run's client jitter stream).
    """

    wait: Wait = field(default_factory=NoWait)
    stop: Stop = field(default_factory=lambda: attempts(1))
    retry_on: RetryOn = field(default_factory=ByAdvice)
    rules: tuple = ()
    reauth_delay: float = 0.5
    retry_timeouts: bool = True
    name: str = "custom"
    retry_probability: float = 1.0

    def __post_init__(self):
        if not 0.0 <= self.retry_probability <= 1.0:
            raise ValueError(f"retry_probability must be between 0 and 1, got {self.retry_probability}")

    #: Whether this policy reads the API's documented error body (a hint sent only there reaches it).
    #: A class attribute, not a field: libraries read headers, resilsim's own policies the body too.
    reads_body = True

    def plan(self, code) -> CodePlan:
        """Resolve what this policy does with ``code`` (an ErrorCode-like object), once per code.

        A client-side timeout is the code ``"TIMEOUT"`` (advice ``retry``);
        ``retry_timeouts=False`` never retries it.
        """
        if code.code == "TIMEOUT" and not self.retry_timeouts:
            return CodePlan(FAIL, self.wait, self.stop, False)
        if self.rules:
            for rule in self.rules:
                if rule.matches(code):
                    if not rule.retry:
                        return CodePlan(FAIL, rule.wait, rule.stop, False)
                    return CodePlan(_action(code), rule.wait, rule.stop, isinstance(rule.wait, RetryAfter),
                                    self.retry_probability)
            return CodePlan(FAIL, self.wait, self.stop, False)
        if not self.retry_on(code):
            return CodePlan(FAIL, self.wait, self.stop, False)
        return CodePlan(_action(code), self.wait, self.stop, isinstance(self.wait, RetryAfter),
                        self.retry_probability)

    def decide(self, code, *, attempt: int, elapsed: float, previous_wait: float = 0.0,
               retry_after: float | None = None, reauthed: bool = False,
               deadline: float = math.inf, rng=None) -> Decision:
        """Decide what to do after attempt number ``attempt`` failed with ``code``.

        ``elapsed`` and ``deadline`` are seconds since the request started;
        ``retry_after`` is the server's hint in seconds (None if it gave none);
        ``reauthed`` says whether this request already refreshed its token.
        """
        return decide(self.plan(code), self.reauth_delay, attempt, elapsed, previous_wait,
                      retry_after, reauthed, deadline, rng)

    @property
    def bounded(self) -> bool:
        """True when every retryable path of this policy has a stop that ends it."""
        stops = [r.stop for r in self.rules if r.retry] if self.rules else [self.stop]
        return all(s.bounded for s in stops)

    def describe(self) -> dict:
        """Flat parameters for result rows (strategy columns of a sweep)."""
        d = {"retry": self.name, **self.wait.describe(), **self.stop.describe()}
        if not self.rules:
            d["retry_on"] = self.retry_on.describe()
        if self.retry_probability < 1.0:
            d["retry_probability"] = self.retry_probability
        return d


def without_hint(plan: CodePlan) -> CodePlan:
    """``plan`` for a client that never sees the server's hint: a wait for the reset fails, backoff as usual."""
    action = FAIL if plan.action == AFTER_RESET else plan.action
    return CodePlan(action, plan.wait, plan.stop, False)


def _action(code) -> int:
    advice = code.advice
    if advice == "reauth":
        return REAUTH
    if advice == "after_reset":
        return AFTER_RESET
    return RETRY


#: The decisions that end a request, made once: a Decision is an immutable tuple, so :func:`decide` and
#: :func:`decider` hand back the same objects (nothing compares decisions by identity).
_FAILED = Decision(False, outcome="failed")
_DEADLINE = Decision(False, outcome="deadline")
#: The end of a request the policy stops, by whether it was retried (attempt > 1): a request never retried
#: ``failed`` (its only attempt's error ended it); one retried ran out of retries (``retries_exhausted``).
_STOPPED = (_FAILED, Decision(False, outcome="retries_exhausted"))


def decide(plan: CodePlan, reauth_delay: float, attempt: int, elapsed: float, previous_wait: float,
           retry_after: float | None, reauthed: bool, deadline: float, rng) -> Decision:
    """The decision of :meth:`RetryPolicy.decide` for a resolved plan (shared with the simulator)."""
    action = plan.action
    if action == FAIL:
        return _FAILED
    if plan.probability < 1.0 and rng.random() >= plan.probability:
        return _STOPPED[attempt > 1]  # drawn only when it can refuse: p = 1 draws nothing
    if action == REAUTH:
        if reauthed:
            return _FAILED
        wait = reauth_delay
    elif action == AFTER_RESET:
        # Waiting past the deadline for a quota reset helps nobody: fail with the code.
        if retry_after is None or elapsed + retry_after > deadline:
            return _FAILED
        wait = retry_after
    elif plan.honours_retry_after and retry_after is not None and retry_after <= plan.wait.max_hint:
        wait = plan.wait.honour(retry_after, attempt, previous_wait, rng)
    else:
        wait = plan.wait(attempt, previous_wait, rng)
    if plan.stop(attempt, elapsed, wait):
        return _STOPPED[attempt > 1]
    if elapsed + wait > deadline:
        return _DEADLINE
    return Decision(True, wait=wait, reauth=action == REAUTH)


#: Waits that read nothing but the attempt number (no rng, no previous wait): :func:`decider` tabulates them.
_BY_ATTEMPT = (NoWait, Fixed, Linear, Exponential)
_tuple_new = tuple.__new__  # Decision(True, wait, None, False) without its Python-level __new__ (a frame)


def decider(plan: CodePlan, reauth_delay: float, table_size: int = 16):
    """:func:`decide` specialised once for ``plan``: a callable taking decide's other arguments, in its order
    (``attempt, elapsed, previous_wait, retry_after, reauthed, deadline, rng``; seconds), that gives the same
    :class:`Decision` with the same draws from ``rng``.

    The simulator decides on every failed attempt, and most plans are simple: for a plan that fails the code,
    or that retries (probability 1, no server hint honoured) after a fixed, linear or exponential wait, with or
    without full jitter, and stops after a number of attempts or never, it is one frame instead of
    decide → wait (→ jittered wait) → stop → Decision, the wait read from a table of the first ``table_size``
    waits (computed by the wait itself, so the same floats). Any other plan gets :func:`decide` itself.
    ``tests/policies/test_retry_decider.py`` holds the two to the same answers and draws.
    """
    if plan.__class__ is not CodePlan:
        return partial(decide, plan, reauth_delay)
    if plan.action == FAIL:
        return _fail
    wait, stop = plan.wait, plan.stop
    jittered = wait.__class__ is FullJitter
    base = wait.wait if jittered else wait
    if (plan.action != RETRY or plan.probability < 1.0 or plan.honours_retry_after
            or base.__class__ not in _BY_ATTEMPT or stop.__class__ not in (Attempts, Never)):
        return partial(decide, plan, reauth_delay)
    table = [base(a, 0.0, None) for a in range(table_size)]
    n = stop.n if stop.__class__ is Attempts else math.inf  # Never stops: attempt >= inf is never true
    stopped = _STOPPED

    if jittered:
        def quick(attempt, elapsed, previous_wait, retry_after, reauthed, deadline, rng):
            # FullJitter: rng.random() * the wrapped wait (drawn first, as FullJitter's expression evaluates).
            u = rng.random()
            wait = u * (table[attempt] if attempt < table_size else base(attempt, previous_wait, rng))
            if attempt >= n:
                return stopped[attempt > 1]
            if elapsed + wait > deadline:
                return _DEADLINE
            return _tuple_new(Decision, (True, wait, None, False))
    else:
        def quick(attempt, elapsed, previous_wait, retry_after, reauthed, deadline, rng):
            wait = table[attempt] if attempt < table_size else base(attempt, previous_wait, rng)
            if attempt >= n:
                return stopped[attempt > 1]
            if elapsed + wait > deadline:
                return _DEADLINE
            return _tuple_new(Decision, (True, wait, None, False))
    return quick


def _fail(attempt, elapsed, previous_wait, retry_after, reauthed, deadline, rng):
    # decider's plan for a code the policy does not retry.
    return _FAILED
