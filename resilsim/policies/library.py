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
from .waits import Wait, exponential, fixed, jitter
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
    #: the policy for a non-idempotent operation (``idempotent: false``, a POST), where the library itself
    #: treats such requests apart (urllib3: ``allowed_methods``); None: the same policy for every operation
    unsafe: "RetryPolicy | None" = None

    reads_body = False  # a library sees Retry-After only as a header

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
    docs or source the numbers come from; ``library`` and ``version`` name the
    library and the release (or edition) whose behaviour the preset follows.
    """

    policy: RetryPolicy
    guards: Callable[[], list[Guard]]
    source: str = ""
    timeout: float | None = None
    attempt_timeout: float | None = None
    library: str = ""
    version: str = ""

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
    """stamina 26.1 ``retry()`` defaults: 10 attempts or 45 s in all, whichever first.

    Wait before retry n: ``min(wait_max, wait_initial·wait_exp_base^(n−1) + U(0, wait_jitter))``
    = min(5, 0.1·2^(n−1) + U(0, 1)) seconds (additive jitter; stamina
    ``_compute_backoff``). stamina's ``timeout`` is tenacity's
    ``stop_after_delay``: no retry once 45 s have passed; it does not cut an
    attempt in flight, so ``timeout`` is None.

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
        source="stamina retry() defaults (hynek/stamina, src/stamina/_core.py: retry, _compute_backoff, "
               "_make_stop)",
        library="stamina", version="26.1.0",
    )


def urllib3(total: int = 3, backoff_factor: float = 0.0, backoff_max: float = 120.0, backoff_jitter: float = 0.0,
            status_forcelist: tuple = (), respect_retry_after_header: bool = True, idempotent: bool = True,
            name: str = "urllib3") -> LibraryPreset:
    """urllib3 2.8 ``Retry.DEFAULT``: 3 retries (4 attempts), backoff_factor 0 (no wait), Retry-After respected.

    Wait before retry n: 0 for n = 1, then ``min(backoff_max, factor·2^(n−1) + U(0, jitter))``
    (:class:`Urllib3Backoff`), unless the response carries Retry-After,
    which is used as given. What is retried: client-side timeouts (read
    errors) and the statuses in ``status_forcelist`` (empty by default);
    413, 429 and 503 only when the response carries Retry-After. Other
    error responses are returned to the caller. A non-idempotent method
    (``idempotent=False``, e.g. POST) retries none of these; with the default
    ``idempotent=True`` the policy's ``unsafe`` twin is that, and the simulator
    uses it for operations marked ``idempotent: false``. urllib3 sets
    no timeout by default (the socket default: none).
    """
    if total < 0:
        raise ValueError(f"total must be ≥ 0, not {total}")
    forcelist = frozenset(int(s) for s in status_forcelist) if idempotent else frozenset()
    only = frozenset(URLLIB3_RETRY_AFTER_STATUSES) - forcelist if respect_retry_after_header and idempotent \
        else frozenset()
    backoff = Urllib3Backoff(backoff_factor, backoff_max, backoff_jitter)
    # A non-idempotent operation is a POST to urllib3 (not in Retry.DEFAULT_ALLOWED_METHODS): nothing retried.
    unsafe = urllib3(total, backoff_factor, backoff_max, backoff_jitter, status_forcelist, respect_retry_after_header,
                     False, name).policy if idempotent else None
    return LibraryPreset(
        policy=LibraryPolicy(
            wait=retry_after(backoff) if respect_retry_after_header else backoff,
            stop=_attempts(total + 1),
            retry_on=OnStatus(forcelist), retry_after_only=only, retry_timeouts=idempotent, name=name,
            unsafe=unsafe),
        guards=_no_guards,
        source="urllib3 urllib3.util.Retry (urllib3/urllib3, src/urllib3/util/retry.py: Retry.DEFAULT, "
               "get_backoff_time, is_retry, RETRY_AFTER_STATUS_CODES)",
        library="urllib3", version="2.8.0",
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

    Sources, parameter by parameter (grpc/proposal A6-client-retries.md):
    ``maxAttempts`` 4, ``initialBackoff`` 0.1 s, ``maxBackoff`` 1 s,
    ``backoffMultiplier`` 2 are the example service config of "Retry
    Policy" (A6 sets no defaults); ``maxAttempts`` above 5 is clamped to 5
    ("Maximum Number of Retries"); ``maxTokens`` 10 and ``tokenRatio`` 0.1
    are the example of "Throttling Retry Attempts and Hedged RPCs".

    Wait before retry n: ``U(0, min(initialBackoff·backoffMultiplier^(n−1), maxBackoff))``
    (A6 "Exponential Backoff": ``random(0, current_backoff)``; grpc-go
    ``internal/transport`` retry and grpc-java ``RetriableStream`` do the
    same). The ±20% jitter of gRPC's doc/connection-backoff.md is for
    connection attempts, not RPC retries.
    ``retryableStatusCodes: [UNAVAILABLE]`` is, over HTTP, 429, 502, 503 and
    504 (gRPC doc/http-grpc-status-mapping.md). A deadline (client-side
    timeout) ends the call: it is never retried, and gRPC sets no default
    deadline. Retry throttling: :class:`TokenBucketBudget` (10 tokens, 0.1
    per success; retries only while tokens > 5); ``max_tokens=None`` turns
    it off. A6 takes a token only for failures with a retryable status; the
    guard hears only "failed", so here every failed attempt takes one.
    Server pushback (``grpc-retry-pushback-ms``) is modelled as the server's
    Retry-After: when a response carries one, the retry waits exactly that
    long (A6 then restarts the backoff at ``initial``; resilsim keeps
    counting retries). No hedging: A6's hedging policy replaces the retry
    policy, it does not add to it.
    """
    if max_attempts < 2:
        raise ValueError(f"gRPC's retryPolicy needs maxAttempts > 1, not {max_attempts}")
    backoff = exponential(initial_backoff, backoff_multiplier, max_backoff) + jitter("full")
    guards = _no_guards if max_tokens is None else _Fresh((TokenBucketBudget, (max_tokens, token_ratio)))
    return LibraryPreset(
        policy=LibraryPolicy(
            wait=retry_after(backoff) if pushback else backoff,
            stop=_attempts(min(int(max_attempts), 5)),
            retry_on=OnStatus(frozenset(retryable_statuses)), retry_timeouts=False, name="grpc"),
        guards=guards,
        source="gRFC A6 'gRPC Retry Design' (grpc/proposal, A6-client-retries.md: Retry Policy, "
               "Exponential Backoff, Throttling); gRPC doc/http-grpc-status-mapping.md",
        library="gRPC (gRFC A6)", version="A6 (implemented in grpc-go 1.x, grpc-java 1.x)",
    )


def envoy(num_retries: int = 1, base_interval: float = 0.025, max_interval: float | None = None,
          route_timeout: float | None = 15.0, max_retries: int = 3, budget_percent: float | None = None,
          min_retry_concurrency: int = 3, name: str = "envoy") -> LibraryPreset:
    """Envoy router retries with ``retry_on: 5xx``: 1 retry, 25 ms / 250 ms jittered backoff, 3 concurrent retries.

    Sources, parameter by parameter (envoyproxy/envoy):
    ``num_retries`` 1 (api/envoy/config/route/v3/route_components.proto,
    RetryPolicy.num_retries: "defaults to 1"); ``base_interval`` 25 ms and
    ``max_interval`` 10 × base (RetryPolicy.RetryBackOff, and the router
    filter docs, "x-envoy-max-retries"); ``route_timeout`` 15 s
    (RouteAction.timeout); ``max_retries`` 3 concurrent retries per cluster
    (api/envoy/config/cluster/v3/circuit_breaker.proto, Thresholds.max_retries
    "defaults to 3"); a retry budget (Thresholds.RetryBudget, 20% with at
    least 3) only when configured.

    Wait before retry n: ``U(0, min(base_interval·2^(n−1), max_interval))``
    seconds (source/common/common/backoff_strategy.cc,
    JitteredExponentialBackOffStrategy: the interval doubles from the base
    up to the max, and the wait is ``random() % interval``). ``5xx``
    retries any 5xx response and an upstream that does not answer (a
    per-try timeout), so client-side timeouts are retried. The route
    timeout covers all retries: no retry starts after it (``deadline``
    stop) and the request ends there (``timeout``); Envoy sets no per-try
    timeout by default. The circuit breaker is :class:`ConcurrencyBudget`
    with no percentage (retries in flight < ``max_retries``);
    ``budget_percent`` replaces it by the retry budget.
    """
    if num_retries < 0:
        raise ValueError(f"num_retries must be ≥ 0, not {num_retries}")
    cap = 10.0 * base_interval if max_interval is None else max_interval
    stop = _attempts(num_retries + 1)
    if route_timeout:
        stop = stop | deadline(route_timeout)
    guard = (ConcurrencyBudget, (0.0, max_retries)) if budget_percent is None \
        else (ConcurrencyBudget, (budget_percent, min_retry_concurrency))
    return LibraryPreset(
        policy=LibraryPolicy(wait=exponential(base_interval, 2.0, cap) + jitter("full"), stop=stop,
                             retry_on=StatusRange(500, 599), retry_timeouts=True, name=name),
        guards=_Fresh(guard),
        source="Envoy (envoyproxy/envoy: route_components.proto RetryPolicy, circuit_breaker.proto Thresholds, "
               "source/common/common/backoff_strategy.cc; router filter docs, x-envoy-max-retries)",
        timeout=route_timeout or None,
        library="Envoy", version="1.3x (v3 API)",
    )


def envoy_budget(budget_percent: float = 0.2, min_retry_concurrency: int = 3, **kw) -> LibraryPreset:
    """Envoy as :func:`envoy`, with the cluster's opt-in retry budget in place of the circuit breaker.

    Retries in flight ≤ ``budget_percent`` (20%) of active requests, at
    least ``min_retry_concurrency`` (3): circuit_breaker.proto,
    Thresholds.RetryBudget (budget_percent "defaults to 20%",
    min_retry_concurrency "defaults to 3").
    """
    return envoy(budget_percent=budget_percent, min_retry_concurrency=min_retry_concurrency,
                 name="envoy-budget", **kw)


def finagle(percent: float = 0.2, ttl: float = 10.0, min_per_s: float = 10.0,
            max_retries: int = 20) -> LibraryPreset:
    """Finagle ``RetryBudget()``: retries ≤ 20% of requests over 10 s, plus 10 retries per second.

    Sources (twitter/finagle, finagle-core/src/main/scala/com/twitter/finagle/service/RetryBudget.scala,
    ``RetryBudget.apply`` defaults): ``percent`` 0.2 (percentCanRetry),
    ``ttl`` 10 s, ``min_per_s`` 10 (minRetriesPerSec). The budget is
    :class:`RatioBudget`. The retry policy is not in Finagle ("budget
    only"); resilsim's choice: Finagle retries at once (its requeue
    backoff default is no delay), retries what the catalog documents as
    retryable plus timeouts (standing in for the user's response
    classifier: Finagle itself requeues only requests that never reached
    the server, so 401s and quota refusals are retried only where the
    catalog's advice says so), and stops a request after ``max_retries``
    retries (20: Finagle keeps one request from eating more than 0.2 of the
    budget, and the budget's reserve is 10/s × 10 s = 100).
    """
    return LibraryPreset(
        policy=LibraryPolicy(wait=no_wait(), stop=_attempts(max_retries + 1), retry_on=by_advice(),
                             retry_timeouts=True, name="finagle"),
        guards=_Fresh((RatioBudget, (percent, ttl, min_per_s))),
        source="Finagle RetryBudget and requeues (twitter/finagle, finagle-core service/RetryBudget.scala, "
               "Retries.scala; Finagle Clients guide, Retries)",
        library="Finagle", version="24.x",
    )


@dataclass(frozen=True, slots=True)
class AmzRetryAfter(RetryAfter):
    """botocore's ``x-amz-retry-after``: ``max(t, min(hint, t + 5))`` seconds, ``t`` the computed backoff.

    ``botocore.retries.standard.ExponentialBackoff.delay_amount``: the
    header raises the delay to its value, at most 5 s above the backoff.
    """

    extra: float = 5.0

    def honour(self, hint, attempt, previous, rng):
        t = self.fallback(attempt, previous, rng)
        return max(t, min(hint, self.extra + t))


@dataclass(frozen=True)
class BotocorePolicy(LibraryPolicy):
    """A :class:`LibraryPolicy` whose wait differs for throttles (HTTP 429): ``throttle_wait``."""

    throttle_wait: Wait = None

    def plan(self, code) -> CodePlan:
        p = LibraryPolicy.plan(self, code)
        if p.action == RETRY and code.code != "TIMEOUT" and is_throttle(code):
            return CodePlan(RETRY, self.throttle_wait, p.stop, isinstance(self.throttle_wait, RetryAfter))
        return p

    def describe(self) -> dict:
        d = LibraryPolicy.describe(self)
        d["throttle_wait_base"] = self.throttle_wait.describe().get("wait_base")
        return d


def _aws_policy(max_attempts: int, base: float, throttle_base: float, cap: float, amz_retry_after: bool,
                name: str) -> LibraryPolicy:
    def wait(b):
        w = exponential(b, 2.0, cap) + jitter("full")
        return AmzRetryAfter(w) if amz_retry_after else w
    return BotocorePolicy(
        wait=wait(base), throttle_wait=wait(throttle_base),
        stop=_attempts(max_attempts),
        retry_on=OnStatus(frozenset(AWS_TRANSIENT) | THROTTLE_STATUSES), retry_timeouts=True, name=name)


def aws_standard(max_attempts: int = 3, base: float = 0.05, throttle_base: float = 1.0, cap: float = 20.0,
                 capacity: float = 500, cost: float = 14, throttle_cost: float = 5, refund: float = 1,
                 amz_retry_after: bool = False, read_timeout: float | None = 60.0,
                 name: str = "aws-standard") -> LibraryPreset:
    """AWS SDK standard retry mode, botocore 1.44: 3 attempts, full jitter, base 0.05 s (1 s for throttles).

    Wait before retry n: ``U(0, 1) · min(base·2^(n−1), 20)`` seconds, base
    0.05 s, or 1 s for a throttle (botocore/retries/standard.py,
    ``ExponentialBackoff.delay_amount``; DynamoDB's 0.025 s is
    ``base=0.025``). Retried: 500, 502, 503, 504
    (``TransientRetryableChecker``), 429 (``ThrottlingStatusCodeChecker``,
    also the stand-in for botocore's throttling error codes) and transport
    errors, read timeouts included. Retry quota: :class:`RetryQuota`
    (``RetryQuotaChecker``), 500 tokens, 14 per retry, 5 per throttling
    retry, refund 1 on a success without retry (the retry's cost on a
    success after one); an empty quota means no retry.
    ``amz_retry_after=True`` models a server that sends
    ``x-amz-retry-after``: the delay becomes ``max(t, min(hint, t + 5))``.
    A standard ``Retry-After`` header is not read by botocore, so it is
    ignored by default. ``attempt_timeout`` is botocore's default read
    timeout, 60 s.
    """
    return LibraryPreset(
        policy=_aws_policy(max_attempts, base, throttle_base, cap, amz_retry_after, name),
        guards=_Fresh((RetryQuota, (capacity, cost, None, refund, throttle_cost))),
        source="boto/botocore botocore/retries/standard.py (ExponentialBackoff, RetryQuotaChecker, "
               "StandardRetryConditions), quota.py; AWS SDKs and Tools Reference Guide, 'Retry behavior'",
        attempt_timeout=read_timeout,
        library="botocore", version="1.44.8",
    )


def aws_standard_2020(max_attempts: int = 3, base: float = 1.0, cap: float = 20.0, capacity: float = 500,
                      cost: float = 5, timeout_cost: float = 10, refund: float = 1,
                      read_timeout: float | None = 60.0) -> LibraryPreset:
    """AWS SDK standard retry mode as botocore 1.15.0 (2020) to 1.43 ran it, and many deployed SDKs still do.

    Wait before retry n: ``U(0, 1) · min(2^(n−1), 20)`` seconds for every
    error (base 1 s). Retry quota: 500 tokens, 5 per retry, 10 per retry
    after a timeout, refund 1 (botocore 1.43.0 botocore/retries/standard.py,
    ``RetryQuotaChecker._RETRY_COST``, ``_TIMEOUT_RETRY_REQUEST``). No
    ``x-amz-retry-after``. Retried: as :func:`aws_standard`.
    """
    return LibraryPreset(
        policy=_aws_policy(max_attempts, base, base, cap, False, "aws-standard-2020"),
        guards=_Fresh((RetryQuota, (capacity, cost, timeout_cost, refund))),
        source="boto/botocore 1.43.0 botocore/retries/standard.py (ExponentialBackoff, RetryQuotaChecker), "
               "quota.py",
        attempt_timeout=read_timeout,
        library="botocore", version="1.15.0–1.43.x",
    )


def aws_adaptive(max_attempts: int = 3, base: float = 0.05, throttle_base: float = 1.0, cap: float = 20.0,
                 capacity: float = 500, cost: float = 14, throttle_cost: float = 5, refund: float = 1,
                 amz_retry_after: bool = False, read_timeout: float | None = 60.0,
                 fast_fail: bool = False) -> LibraryPreset:
    """AWS SDK adaptive retry mode (botocore 1.44): standard mode plus a client-side CUBIC rate limiter.

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
    std = aws_standard(max_attempts, base, throttle_base, cap, capacity, cost, throttle_cost, refund,
                       amz_retry_after, read_timeout, name="aws-adaptive")
    return std._replace(
        guards=_Fresh((ClientRateLimiter, (0.7, 0.4, 0.5, 2.0, 0.8, 0.5, 0.0, not fast_fail)),
                      *std.guards.specs),
        source="boto/botocore botocore/retries/adaptive.py, bucket.py, throttling.py, standard.py; "
               "AWS SDKs and Tools Reference Guide, 'Retry behavior' (adaptive mode)")


def resilience4j(max_attempts: int = 3, wait_duration: float = 0.5, failure_rate: float = 0.5,
                 window: int = 100, minimum_calls: int = 100, open_s: float = 60.0,
                 half_open_calls: int = 10) -> LibraryPreset:
    """resilience4j ``RetryConfig`` and ``CircuitBreakerConfig`` defaults.

    Sources (resilience4j/resilience4j): ``max_attempts`` 3 and
    ``wait_duration`` 500 ms (resilience4j-retry RetryConfig.java,
    DEFAULT_MAX_ATTEMPTS, DEFAULT_WAIT_DURATION); ``failure_rate`` 50%,
    ``window`` 100 calls (COUNT_BASED), ``minimum_calls`` 100, ``open_s``
    60 s, ``half_open_calls`` 10 (resilience4j-circuitbreaker
    CircuitBreakerConfig.java, DEFAULT_* constants).

    Retry: every failure retried after a fixed 500 ms. resilience4j's
    default predicate retries every *exception*; an error response is one
    only when the HTTP client throws on it (Feign and Spring's RestTemplate
    do on 4xx and 5xx by default), so "every failure, 4xx included" holds
    for such clients and not for one that returns error responses as
    values. Timeouts are retried. Breaker: :class:`CircuitBreaker`. Each
    attempt passes the breaker (Retry decorating CircuitBreaker); an open
    breaker sheds the request, where the real Retry would wait 500 ms and
    get CallNotPermittedException again. The slow-call threshold (60 s at
    100%) is not modelled: it trips only when every call takes 60 s.
    """
    return LibraryPreset(
        policy=LibraryPolicy(wait=fixed(wait_duration), stop=_attempts(max_attempts), retry_on=Anything(),
                             retry_timeouts=True, name="resilience4j"),
        guards=_Fresh((CircuitBreaker, (failure_rate, window, "count", minimum_calls, open_s, half_open_calls))),
        source="resilience4j (resilience4j/resilience4j, RetryConfig.java, CircuitBreakerConfig.java defaults)",
        library="resilience4j", version="2.x",
    )


def sre_book(max_attempts: int = 3, budget: float = 0.1, k: float = 2.0, window: float = 120.0,
             base: float = 1.0) -> LibraryPreset:
    """Google SRE book ch. 21: 3 attempts per request, retries ≤ 10% of requests, adaptive throttling K = 2.

    Sources (Beyer et al., *Site Reliability Engineering*, ch. 21
    "Handling Overload"): ``max_attempts`` 3 ("Per-request retry budget",
    "up to three attempts"); ``budget`` 10% ("Per-client retry budget",
    "retry requests ... up to 10% of all requests"); ``k`` 2 and ``window``
    2 minutes ("Client-Side Throttling": "requests" and "accepts" over "the
    last two minutes", ``K = 2``). The book counts a request in
    ``requests`` when the application attempts it, locally rejected ones
    included, and in ``accepts`` when the backend accepts it; resilsim's
    :class:`AdaptiveThrottle` counts both when the answer arrives, so it
    reacts one round trip later than the book's throttle.

    Guards: :class:`AdaptiveThrottle` (reject with probability
    max(0, (requests − 2·accepts)/(requests + 1))), then
    :class:`RatioBudget` (retries ≤ 10% of requests). The book gives no
    window for the ratio nor a floor: resilsim uses the throttle's 2 minutes
    and no floor. The book gives no backoff numbers either (ch. 22 asks for
    randomized exponential backoff): resilsim uses full jitter with base
    1 s, U(0, 1) then U(0, 2) seconds. Retried: what the catalog documents
    as retryable (ch. 22: "retry only on errors the backend marks
    retriable"), and timeouts.
    """
    return LibraryPreset(
        policy=LibraryPolicy(wait=exponential(base, 2.0) + jitter("full"), stop=_attempts(max_attempts),
                             retry_on=by_advice(), retry_timeouts=True, name="sre-book"),
        guards=_Fresh((AdaptiveThrottle, (k, window)), (RatioBudget, (budget, window, 0.0))),
        source="Beyer et al., Site Reliability Engineering (O'Reilly 2016), ch. 21 'Handling Overload' "
               "(client-side throttling, retry budgets) and ch. 22",
        library="Google SRE book", version="1st ed. (2016)",
    )


#: The library presets by name; each factory takes keyword overrides of its defaults.
LIBRARY: dict[str, Callable[..., LibraryPreset]] = {
    "stamina": stamina,
    "urllib3": urllib3,
    "urllib3-backoff": urllib3_backoff,
    "grpc": grpc,
    "envoy": envoy,
    "envoy-budget": envoy_budget,
    "finagle": finagle,
    "aws-standard": aws_standard,
    "aws-standard-2020": aws_standard_2020,
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


def preset_rows() -> list[dict]:
    """One row per library preset: name, library, version, source and its parameters (``k=v; ...``).

    What ``resilsim presets`` prints; the doc presets' rows come from
    :func:`resilsim.policies.presets.preset_rows`.
    """
    rows = []
    for name in LIBRARY:
        p = library_preset(name)
        params = "; ".join(f"{k}={v}" for k, v in p.describe().items() if k != "retry" and v is not None)
        rows.append({"preset": name, "kind": "library", "library": p.library, "version": p.version,
                     "source": p.source, "parameters": params})
    return rows


__all__ = ["LIBRARY", "LibraryPolicy", "LibraryPreset", "THROTTLE_STATUSES", "UnknownPresetError",
           "is_throttle", "library_preset", "preset_rows", *(f.__name__ for f in LIBRARY.values())]
