"""Library presets: what real retry clients do, so a user can ask "what does *my* client do here?".

Each preset is a :class:`LibraryPreset`: a retry policy, a factory of fresh
client-side guards, the library's own timeouts and the
source its numbers come from. Every number follows the library's own source
and docs (named in ``source``); where they give none, the factory's docstring says which number
resilsim uses and where it comes from.

>>> p = library_preset("grpc")
>>> p.policy.stop.max_attempts, [g.kind for g in p.guards()]
(4, ['token_bucket'])

Libraries know HTTP statuses, not the catalog's advice: a library preset
retries by status (mapped onto catalog codes through their ``http`` field),
never refreshes a token on its own and never waits for a quota reset unless
the server's ``Retry-After`` says so. A client-side timeout is the code
``"TIMEOUT"`` (status 0); whether it is retried is each library's own rule.
A throttle is an HTTP 429 response (:func:`is_throttle`); the AWS adaptive
preset's rate limiter needs the simulator to say so in ``on_result``.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable, NamedTuple

from .guards import (AdaptiveThrottle, CircuitBreaker, ClientRateLimiter, ConcurrencyBudget, Guard, Guards,
                     RatioBudget, RetryQuota, TokenBucketBudget)
from .retry import (AFTER_RESET, FAIL, RETRY, CodePlan, OnStatus, RetryAfter, RetryOn, RetryPolicy, by_advice,
                    retry_after)
from .stops import deadline, elapsed
from .stops import attempts as _attempts
from .waits import FullJitter, Wait, exponential, fixed, jitter
from .waits import none as no_wait

#: HTTP statuses that mean "throttled" for the presets (the catalogs' rate-limit and quota codes).
THROTTLE_STATUSES = frozenset({429})

#: gRPC's mapping of HTTP statuses to UNAVAILABLE (grpc/grpc doc/http-grpc-status-mapping.md):
#: what a ``retryableStatusCodes: [UNAVAILABLE]`` policy retries when the server answers in HTTP.
GRPC_UNAVAILABLE = (429, 502, 503, 504)

#: urllib3 ``Retry.RETRY_AFTER_STATUS_CODES``: retried only when the response carries Retry-After.
URLLIB3_RETRY_AFTER_STATUSES = (413, 429, 503)

#: botocore's transient statuses (``TransientRetryableChecker``); 429 joins them as a throttle.
AWS_TRANSIENT = (500, 502, 503, 504)


def is_throttle(code) -> bool:
    """Whether a response with this catalog code (anything with ``.http``) is a throttle (HTTP 429)."""
    return code.http in THROTTLE_STATUSES


# ---------------------------------------------------------------- policy pieces libraries need

@dataclass(frozen=True, slots=True)
class StatusRange(RetryOn):
    """Retry responses whose HTTP status is in ``[low, high]`` (Envoy's and stamina's "5xx")."""

    low: int = 500
    high: int = 599

    def __call__(self, code):
        return self.low <= code.http <= self.high

    def describe(self):
        return f"status:{self.low}-{self.high}"


@dataclass(frozen=True, slots=True)
class Anything(RetryOn):
    """Retry every failure (resilience4j's default: every exception is retried)."""

    def __call__(self, code):
        return True

    def describe(self):
        return "any"


@dataclass(frozen=True, slots=True)
class Urllib3Backoff(Wait):
    """urllib3 ``Retry.get_backoff_time``: 0 before retry 1, then ``min(cap, factor·2^(n−1) + U(0, jitter))``.

    ``n`` is the number of consecutive errors so far (the retry about to be
    made); seconds. urllib3's defaults: factor 0, cap (``backoff_max``) 120 s,
    jitter 0.
    """

    factor: float = 0.0
    cap: float = 120.0
    jitter: float = 0.0

    def __call__(self, attempt, previous, rng):
        if attempt <= 1:
            return 0.0
        v = self.factor * 2.0 ** (attempt - 1)
        if self.jitter:
            v += rng.random() * self.jitter
        return v if v < self.cap else self.cap

    def describe(self):
        return {"wait": "urllib3", "wait_base": self.factor, "wait_cap": self.cap, "jitter_amount": self.jitter}


@dataclass(frozen=True, slots=True)
class EnvoyInterval(Wait):
    """Envoy's back-off interval before retry n: ``min(cap, (2^n − 1)·base)`` seconds (jittered by the preset).

    The Envoy router docs give the range [0, (2^N − 1)·base) for retry N,
    capped at ``max_interval`` (default 10 × base).
    """

    base: float = 0.025
    cap: float = 0.25

    def __call__(self, attempt, previous, rng):
        try:
            v = self.base * (2.0 ** attempt - 1.0)
        except OverflowError:
            return self.cap
        return v if v < self.cap else self.cap

    def describe(self):
        return {"wait": "envoy", "wait_base": self.base, "wait_cap": self.cap}


@dataclass(frozen=True)
class LibraryPolicy(RetryPolicy):
    """A :class:`RetryPolicy` that acts as a library does: by HTTP status, not by the catalog's advice.

    A code ``retry_on`` accepts is retried after the policy's wait (a
    :func:`retry_after` wait honours the server's hint). A code whose status
    is in ``retry_after_only`` is retried only when the response carries
    ``Retry-After``, after exactly that many seconds (urllib3's 413/429/503);
    without the header the request fails with it. ``retry_timeouts`` says
    whether a client-side timeout is retried. Nothing else is.
    """

    retry_after_only: frozenset = frozenset()

    def plan(self, code) -> CodePlan:
        """Resolve what this library does with ``code``, once per code."""
        hint = isinstance(self.wait, RetryAfter)
        if code.code == "TIMEOUT":
            return CodePlan(RETRY if self.retry_timeouts else FAIL, self.wait, self.stop, False)
        if self.retry_on(code):
            return CodePlan(RETRY, self.wait, self.stop, hint)
        if code.http in self.retry_after_only:
            # decide() retries an AFTER_RESET plan only with the server's hint, after exactly that long.
            return CodePlan(AFTER_RESET, self.wait, self.stop, True)
        return CodePlan(FAIL, self.wait, self.stop, False)

    def describe(self) -> dict:
        d = super().describe()
        d["retry_timeouts"] = self.retry_timeouts
        if self.retry_after_only:
            d["retry_after_only"] = ",".join(map(str, sorted(self.retry_after_only)))
        return d


# ---------------------------------------------------------------- the preset record

class LibraryPreset(NamedTuple):
    """What a real client does: its retry policy, its guards, its timeouts and where that comes from.

    ``guards`` is a zero-argument factory returning *fresh* guard objects
    (guards hold state: each run, or each client population, needs its own).
    ``timeout`` is the library's own limit on a whole request, all
    attempts included, and ``attempt_timeout`` on one attempt, in seconds
    (None: the library sets none by default). ``source`` names the library's
    docs or source the numbers come from.
    """

    policy: RetryPolicy
    guards: Callable[[], list[Guard]]
    source: str = ""
    timeout: float | None = None
    attempt_timeout: float | None = None

    @property
    def name(self) -> str:
        """The preset's name (its policy's name, as in result rows)."""
        return self.policy.name

    def describe(self) -> dict:
        """Flat parameters of the policy, the guards and the timeouts, for result rows and the docs."""
        d = self.policy.describe()
        guards = self.guards()
        if guards:
            d.update(Guards(*guards).describe())
        d["timeout_s"] = self.timeout
        d["attempt_timeout_s"] = self.attempt_timeout
        return d


class _Fresh:
    """A zero-argument factory of fresh guards from ``(class, args)`` pairs; it pickles, a lambda would not."""

    __slots__ = ("specs",)

    def __init__(self, *specs):
        self.specs = specs

    def __call__(self) -> list[Guard]:
        return [cls(*args) for cls, args in self.specs]

    def __repr__(self) -> str:
        return "fresh(" + ", ".join(f"{cls.__name__}{tuple(args)}" for cls, args in self.specs) + ")"


_no_guards = _Fresh()


# ---------------------------------------------------------------- the presets

def stamina(attempts: int = 10, timeout: float = 45.0, wait_initial: float = 0.1, wait_max: float = 5.0,
            wait_jitter: float = 1.0, wait_exp_base: float = 2.0) -> LibraryPreset:
    """stamina ``retry()`` defaults: 10 attempts or 45 s in all, whichever first.

    Wait before retry n: ``min(wait_max, wait_initial·wait_exp_base^(n−1) + U(0, wait_jitter))``
    = min(5, 0.1·2^(n−1) + U(0, 1)) seconds (additive jitter). stamina's
    ``timeout`` is tenacity's ``stop_after_delay``: no retry once 45 s have
    passed; it does not cut an attempt in flight, so ``timeout`` is None.

    stamina has no default ``on=``: resilsim uses the predicate of stamina's
    own tutorial, "retry only on real errors": 5xx responses and transport
    errors (a timeout is an ``httpx.HTTPError``). Retry-After is not
    honoured: stamina only waits for it if the user's hook returns it.
    """
    return LibraryPreset(
        policy=LibraryPolicy(
            wait=exponential(wait_initial, wait_exp_base, wait_max) + jitter("additive", wait_jitter),
            stop=_attempts(attempts) | elapsed(timeout),
            retry_on=StatusRange(500, 599), retry_timeouts=True, name="stamina"),
        guards=_no_guards,
        source="stamina retry() defaults (hynek/stamina, src/stamina/_core.py; stamina.hynek.me)",
    )


def urllib3(total: int = 3, backoff_factor: float = 0.0, backoff_max: float = 120.0, backoff_jitter: float = 0.0,
            status_forcelist: tuple = (), respect_retry_after_header: bool = True, idempotent: bool = True,
            name: str = "urllib3") -> LibraryPreset:
    """urllib3 ``Retry.DEFAULT``: 3 retries (4 attempts), backoff_factor 0 (no wait), Retry-After respected.

    Wait before retry n: 0 for n = 1, then ``min(backoff_max, factor·2^(n−1) + U(0, jitter))``
    (:class:`Urllib3Backoff`), unless the response carries Retry-After,
    which is used as given. What is retried: client-side timeouts (read
    errors) and the statuses in ``status_forcelist`` (empty by default);
    413, 429 and 503 only when the response carries Retry-After. Other
    error responses are returned to the caller. A non-idempotent method
    (``idempotent=False``, e.g. POST) retries none of these. urllib3 sets
    no timeout by default (the socket default: none).
    """
    if total < 0:
        raise ValueError(f"total must be ≥ 0, not {total}")
    forcelist = frozenset(int(s) for s in status_forcelist) if idempotent else frozenset()
    only = frozenset(URLLIB3_RETRY_AFTER_STATUSES) - forcelist if respect_retry_after_header and idempotent \
        else frozenset()
    backoff = Urllib3Backoff(backoff_factor, backoff_max, backoff_jitter)
    return LibraryPreset(
        policy=LibraryPolicy(
            wait=retry_after(backoff) if respect_retry_after_header else backoff,
            stop=_attempts(total + 1),
            retry_on=OnStatus(forcelist), retry_after_only=only, retry_timeouts=idempotent, name=name),
        guards=_no_guards,
        source="urllib3 urllib3.util.Retry (urllib3/urllib3, src/urllib3/util/retry.py: Retry.DEFAULT, "
               "get_backoff_time, RETRY_AFTER_STATUS_CODES)",
    )


def urllib3_backoff(backoff_factor: float = 0.5, total: int = 3,
                    status_forcelist: tuple = (500, 502, 503, 504), **kw) -> LibraryPreset:
    """urllib3 ``Retry(total=3, backoff_factor=0.5, status_forcelist=(500, 502, 503, 504))``.

    urllib3 gives the formula, not a factor: 0.5 and the 5xx
    forcelist are resilsim's choice, the recipe commonly used with requests'
    ``HTTPAdapter``. Waits: 0, 1 s, 2 s (then 4, 8 ... up to 120 s with
    more retries); 503 is retried with or without Retry-After, 413 and 429
    only with it.
    """
    return urllib3(total=total, backoff_factor=backoff_factor, status_forcelist=status_forcelist,
                   name="urllib3-backoff", **kw)


def grpc(max_attempts: int = 4, initial_backoff: float = 0.1, max_backoff: float = 1.0,
         backoff_multiplier: float = 2.0, retryable_statuses: tuple = GRPC_UNAVAILABLE,
         max_tokens: float | None = 10.0, token_ratio: float = 0.1, pushback: bool = True) -> LibraryPreset:
    """gRPC retry policy (gRFC A6), the typical service config: 4 attempts, 0.1 s, 1 s, ×2, UNAVAILABLE.

    Wait before retry n: ``min(initial·multiplier^(n−1), max) · U(0.8, 1.2)``
    (±20%, as gRPC's implementations jitter; A6's text says random(0, v)).
    ``max_attempts`` above 5 is clamped to 5, as A6 requires.
    ``retryableStatusCodes: [UNAVAILABLE]`` is, over HTTP, 429, 502, 503 and
    504 (gRPC's HTTP-to-status mapping). A deadline (client-side timeout)
    ends the call: it is never retried, and gRPC sets no default deadline.
    Retry throttling: :class:`TokenBucketBudget` (10 tokens, 0.1 per
    success; retries only while tokens > 5); ``max_tokens=None`` turns it off.
    A6 takes a token only for failures with a retryable status; the guard
    hears only "failed", so here every failed attempt takes one.
    Server pushback (``grpc-retry-pushback-ms``) is modelled as the server's
    Retry-After: when a response carries one, the retry waits exactly that
    long (A6 then restarts the backoff at ``initial``; resilsim keeps
    counting retries). No hedging: A6's hedging policy replaces the retry
    policy, it does not add to it.
    """
    if max_attempts < 2:
        raise ValueError(f"gRPC's retryPolicy needs maxAttempts > 1, not {max_attempts}")
    backoff = exponential(initial_backoff, backoff_multiplier, max_backoff) + jitter("proportional", 0.2)
    guards = _no_guards if max_tokens is None else _Fresh((TokenBucketBudget, (max_tokens, token_ratio)))
    return LibraryPreset(
        policy=LibraryPolicy(
            wait=retry_after(backoff) if pushback else backoff,
            stop=_attempts(min(int(max_attempts), 5)),
            retry_on=OnStatus(frozenset(retryable_statuses)), retry_timeouts=False, name="grpc"),
        guards=guards,
        source="gRFC A6 'gRPC Retry Design' (grpc/proposal, A6-client-retries.md); gRPC "
               "doc/http-grpc-status-mapping.md",
    )


def envoy(num_retries: int = 1, base_interval: float = 0.025, max_interval: float | None = None,
          route_timeout: float | None = 15.0, budget_percent: float = 0.2,
          min_retry_concurrency: int = 3) -> LibraryPreset:
    """Envoy router retries with ``retry_on: 5xx``: 1 retry, 25 ms / 250 ms jittered backoff, 20% budget.

    Wait before retry n: ``U(0, min((2^n − 1)·base_interval, max_interval))``
    seconds, max_interval defaulting to 10 × base (250 ms): the first retry
    waits U(0, 25 ms). ``5xx`` retries any 5xx response and an upstream that
    does not answer (a per-try timeout), so client-side timeouts are retried.
    The route timeout (Envoy's default 15 s) covers all retries: no retry
    starts after it (``deadline`` stop) and the request ends there
    (``timeout``); Envoy sets no per-try timeout by default. Retry budget:
    :class:`ConcurrencyBudget`, retries in flight ≤ 20% of active requests,
    at least 3 (``budget_percent=0`` leaves the cluster circuit breaker's
    default, 3 concurrent retries).
    """
    if num_retries < 0:
        raise ValueError(f"num_retries must be ≥ 0, not {num_retries}")
    cap = 10.0 * base_interval if max_interval is None else max_interval
    stop = _attempts(num_retries + 1)
    if route_timeout:
        stop = stop | deadline(route_timeout)
    return LibraryPreset(
        policy=LibraryPolicy(wait=FullJitter(EnvoyInterval(base_interval, cap)), stop=stop,
                             retry_on=StatusRange(500, 599), retry_timeouts=True, name="envoy"),
        guards=_Fresh((ConcurrencyBudget, (budget_percent, min_retry_concurrency))),
        source="Envoy router filter docs (x-envoy-max-retries, retry back-off) and cluster circuit breakers "
               "(retry_budget); envoyproxy/envoy",
        timeout=route_timeout or None,
    )


def finagle(percent: float = 0.2, ttl: float = 10.0, min_per_s: float = 10.0,
            max_retries: int = 20) -> LibraryPreset:
    """Finagle ``RetryBudget()``: retries ≤ 20% of requests over 10 s, plus 10 retries per second.

    The budget is :class:`RatioBudget`. The retry policy is not in
    Finagle ("budget only"); resilsim's choice: Finagle retries
    at once (its requeue backoff default is no delay), retries what the
    catalog documents as retryable plus timeouts (standing in for the
    user's response classifier: Finagle itself requeues only requests that
    never reached the server), and stops a request after ``max_retries``
    retries (20: Finagle keeps one request from eating more than 0.2 of the
    budget, and the budget's reserve is 10/s × 10 s = 100).
    """
    return LibraryPreset(
        policy=LibraryPolicy(wait=no_wait(), stop=_attempts(max_retries + 1), retry_on=by_advice(),
                             retry_timeouts=True, name="finagle"),
        guards=_Fresh((RatioBudget, (percent, ttl, min_per_s))),
        source="Finagle RetryBudget and requeues (twitter/finagle, finagle-core service/RetryBudget.scala, "
               "Retries.scala; Finagle Clients guide, Retries)",
    )


def _aws_policy(max_attempts: int, base: float, cap: float, name: str) -> LibraryPolicy:
    return LibraryPolicy(
        wait=exponential(base, 2.0, cap) + jitter("full"),
        stop=_attempts(max_attempts),
        retry_on=OnStatus(frozenset(AWS_TRANSIENT) | THROTTLE_STATUSES), retry_timeouts=True, name=name)


def aws_standard(max_attempts: int = 3, base: float = 1.0, cap: float = 20.0, capacity: float = 500,
                 cost: float = 5, timeout_cost: float = 10, refund: float = 1,
                 read_timeout: float | None = 60.0) -> LibraryPreset:
    """AWS SDK standard retry mode (botocore): 3 attempts, full jitter, base 1 s, cap 20 s, 500-token quota.

    Wait before retry n: ``U(0, 1) · min(base·2^(n−1), cap)`` seconds.
    Retried: 500, 502, 503, 504 (transient), throttles (botocore knows them
    by error code; here HTTP 429) and transport errors, timeouts included.
    Retry quota: :class:`RetryQuota`, 500 tokens, 5 per retry, 10 per
    timeout retry, refund 1 on a success without retry (the retry's cost on
    a success after one); an empty quota means no retry. Retry-After is not
    honoured (the legacy mode ignores it). ``attempt_timeout`` is botocore's
    default read timeout, 60 s (botocore's default).
    """
    return LibraryPreset(
        policy=_aws_policy(max_attempts, base, cap, "aws-standard"),
        guards=_Fresh((RetryQuota, (capacity, cost, timeout_cost, refund))),
        source="AWS SDKs and Tools Reference Guide, 'Retry behavior' (standard mode); boto/botocore "
               "botocore/retries/standard.py, quota.py",
        attempt_timeout=read_timeout,
    )


def aws_adaptive(max_attempts: int = 3, base: float = 1.0, cap: float = 20.0, capacity: float = 500,
                 cost: float = 5, timeout_cost: float = 10, refund: float = 1,
                 read_timeout: float | None = 60.0, fast_fail: bool = False) -> LibraryPreset:
    """AWS SDK adaptive retry mode: standard mode plus a client-side CUBIC rate limiter.

    As :func:`aws_standard`, with :class:`ClientRateLimiter` in front of the
    quota: off until the first throttle, then every attempt needs a token
    from a bucket whose rate drops ×0.7 on a throttle and climbs back along
    ``0.4·(t − K)³ + w_max``. As in botocore, an attempt with no token
    *waits* for one (the wait counts in the request's latency; a request
    whose deadline comes first ends as ``deadline``); the retry quota is
    charged when the retry is decided, the token taken when it is sent.
    ``fast_fail=True`` refuses instead (the request is shed), as the AWS SDK
    for Java v2's ``fastFailRateLimiting``. The simulator must tell the
    limiter which responses were throttles (``on_result(..., throttled=is_throttle(code))``).
    """
    return LibraryPreset(
        policy=_aws_policy(max_attempts, base, cap, "aws-adaptive"),
        guards=_Fresh((ClientRateLimiter, (0.7, 0.4, 0.5, 2.0, 0.8, 0.5, 0.0, not fast_fail)),
                      (RetryQuota, (capacity, cost, timeout_cost, refund))),
        source="AWS SDKs and Tools Reference Guide, 'Retry behavior' (adaptive mode); boto/botocore "
               "botocore/retries/adaptive.py, bucket.py, throttling.py",
        attempt_timeout=read_timeout,
    )


def resilience4j(max_attempts: int = 3, wait_duration: float = 0.5, failure_rate: float = 0.5,
                 window: int = 100, minimum_calls: int = 100, open_s: float = 60.0,
                 half_open_calls: int = 10) -> LibraryPreset:
    """resilience4j ``RetryConfig`` and ``CircuitBreakerConfig`` defaults.

    Retry: 3 attempts, a fixed 500 ms wait, every failure retried
    (resilience4j's default predicate retries every exception; timeouts
    too). Breaker: :class:`CircuitBreaker`, failure rate 50% over a count
    window of 100 calls, at least 100 calls, open 60 s, 10 half-open calls.
    Each attempt passes the breaker (Retry decorating CircuitBreaker); an
    open breaker sheds the request, where the real Retry would wait 500 ms
    and get CallNotPermittedException again. The slow-call threshold (60 s
    at 100%) is not modelled: it trips only when every call takes 60 s.
    """
    return LibraryPreset(
        policy=LibraryPolicy(wait=fixed(wait_duration), stop=_attempts(max_attempts), retry_on=Anything(),
                             retry_timeouts=True, name="resilience4j"),
        guards=_Fresh((CircuitBreaker, (failure_rate, window, "count", minimum_calls, open_s, half_open_calls))),
        source="resilience4j docs, CircuitBreaker and Retry configuration defaults (resilience4j/resilience4j, "
               "CircuitBreakerConfig.java, RetryConfig.java)",
    )


def sre_book(max_attempts: int = 3, budget: float = 0.1, k: float = 2.0, window: float = 120.0,
             base: float = 1.0) -> LibraryPreset:
    """Google SRE book ch. 21: 3 attempts per request, retries ≤ 10% of requests, adaptive throttling K = 2.

    Guards: :class:`AdaptiveThrottle` (reject with probability
    max(0, (requests − 2·accepts)/(requests + 1)) over 2 minutes), then
    :class:`RatioBudget` (retries ≤ 10% of requests). The book gives no
    window for the ratio nor a floor: resilsim uses the throttle's 2 minutes
    and no floor. The book gives no backoff numbers either (ch. 22 asks for
    randomized exponential backoff): resilsim uses full jitter with base
    1 s, U(0, 1) then U(0, 2) seconds. Retried: what the catalog documents
    as retryable, and timeouts.
    """
    return LibraryPreset(
        policy=LibraryPolicy(wait=exponential(base, 2.0) + jitter("full"), stop=_attempts(max_attempts),
                             retry_on=by_advice(), retry_timeouts=True, name="sre-book"),
        guards=_Fresh((AdaptiveThrottle, (k, window)), (RatioBudget, (budget, window, 0.0))),
        source="Beyer et al., Site Reliability Engineering (O'Reilly 2016), ch. 21 'Handling Overload' "
               "(client-side throttling, retry budgets) and ch. 22",
    )


#: The library presets by name; each factory takes keyword overrides of its defaults.
LIBRARY: dict[str, Callable[..., LibraryPreset]] = {
    "stamina": stamina,
    "urllib3": urllib3,
    "urllib3-backoff": urllib3_backoff,
    "grpc": grpc,
    "envoy": envoy,
    "finagle": finagle,
    "aws-standard": aws_standard,
    "aws-adaptive": aws_adaptive,
    "resilience4j": resilience4j,
    "sre-book": sre_book,
}


class UnknownPresetError(KeyError):
    """A library preset name that is not in :data:`LIBRARY`; the message names the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def library_preset(name: str, **params) -> LibraryPreset:
    """The library preset ``name`` (e.g. ``"grpc"``), with keyword overrides of its defaults.

    An unknown name raises :class:`UnknownPresetError` (a ``KeyError``)
    naming the closest and all known presets.
    """
    try:
        factory = LIBRARY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(LIBRARY), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownPresetError(f"unknown library preset {name!r}; {hint}known: {', '.join(LIBRARY)}") from None
    return factory(**params)


__all__ = ["LIBRARY", "LibraryPolicy", "LibraryPreset", "THROTTLE_STATUSES", "UnknownPresetError",
           "is_throttle", "library_preset", *(f.__name__ for f in LIBRARY.values())]
