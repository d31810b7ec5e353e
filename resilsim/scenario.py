"""The scenario: what is simulated, as a validated, frozen pydantic model.

Load one with :func:`load_scenario` from a YAML file, a YAML string or a dict;
change it with :func:`with_overrides` (dotted paths, as ``--set`` on the
command line), which returns a new scenario and never touches the caller's.
Every duration is in seconds; every rate is per second unless it says
otherwise.
"""
from __future__ import annotations

import copy
import difflib
import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ScenarioError

PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]

#: Largest file resilsim reads as a scenario (bytes): a hand-written scenario is a few KiB.
MAX_FILE_BYTES = 1_000_000


class Model(BaseModel):
    """Base of scenario models: unknown keys are errors, objects are frozen once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


# ---------------------------------------------------------------- service side

class ExponentialLatency(Model):
    mean: PosFloat = Field(description="mean service time, seconds")


class LogNormalLatency(Model):
    median: PosFloat = Field(description="median service time, seconds")
    p99: PosFloat | None = Field(None, description="99th percentile, seconds (or give sigma)")
    sigma: PosFloat | None = Field(None, description="standard deviation of the log (or give p99)")

    @model_validator(mode="after")
    def _one_shape(self):
        if (self.p99 is None) == (self.sigma is None):
            raise ValueError("give exactly one of p99 or sigma")
        if self.p99 is not None and self.p99 <= self.median:
            raise ValueError(f"p99 ({self.p99}) must be greater than the median ({self.median})")
        return self


class MixtureLatency(Model):
    value: PosFloat = Field(description="usual service time, seconds")
    slow: PosFloat = Field(description="slow service time, seconds")
    p_slow: Probability = Field(description="probability of the slow time")


class Latency(Model):
    """One of: ``{exponential: {mean}}``, ``{lognormal: {median, p99|sigma}}``, ``{constant: seconds}``, ``{mixture: ...}``."""

    exponential: ExponentialLatency | None = None
    lognormal: LogNormalLatency | None = None
    constant: PosFloat | None = None
    mixture: MixtureLatency | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k in ("exponential", "lognormal", "constant", "mixture") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one distribution: exponential, lognormal, constant or mixture")
        return self

    def distribution(self):
        """The pure distribution object (resilsim.server.latency)."""
        from .server import latency as L
        if self.exponential:
            return L.Exponential(self.exponential.mean)
        if self.lognormal:
            ln = self.lognormal
            return L.LogNormal.from_p99(ln.median, ln.p99) if ln.p99 else L.LogNormal(ln.median, ln.sigma)
        if self.mixture:
            m = self.mixture
            return L.Mixture(m.value, m.slow, m.p_slow)
        return L.Constant(self.constant)


class Operation(Model):
    weight: PosFloat = Field(1.0, description="share of requests for this operation (normalised)")
    latency: Latency = Field(default_factory=lambda: Latency(exponential={"mean": 0.1}))
    uses: list[str] = Field(default_factory=list, description="dependencies (aurora, model, ...) an incident's `dependency` can take down")
    violations: dict[str, Probability] = Field(default_factory=dict, description="code → fraction of requests breaking a request limit (max entities, tiles, history days)")
    credits: NonNegFloat = Field(0.0, description="credits one attempt spends (service.credits)")

    @field_validator("violations", mode="before")
    @classmethod
    def _violations_str(cls, v):
        return {str(k): p for k, p in v.items()} if isinstance(v, dict) else v


class Queue(Model):
    limit: Annotated[int, Field(ge=0)] | None = Field(None, description="queued attempts beyond the workers; None: unbounded")
    timeout: PosFloat | None = Field(None, description="seconds an attempt may wait in the queue before the API answers its timeout code")
    discipline: Literal["fifo", "lifo", "adaptive_lifo", "codel"] = Field("fifo", description="who a free worker serves next")
    lifo_above: Annotated[int, Field(ge=0)] = Field(10, description="adaptive_lifo: serve newest first while more than this many wait")
    codel_target: PosFloat = Field(0.005, description="codel: queue delay past which waiting attempts are shed, seconds")
    codel_interval: PosFloat = Field(0.1, description="codel: shedding starts when the queue has not drained for this long, seconds")


class TokenBucketSpec(Model):
    rate: PosFloat = Field(description="tokens per second")
    burst: Annotated[float, Field(ge=1, allow_inf_nan=False)] = Field(description="bucket size, attempts")


class WindowSpec(Model):
    limit: Annotated[int, Field(ge=1)] = Field(description="attempts admitted per window")
    window: PosFloat = Field(description="window length, seconds")


class RateLimit(Model):
    """One of ``token_bucket``, ``fixed_window``, ``sliding_log``, ``sliding_counter``, with its scope."""

    token_bucket: TokenBucketSpec | None = None
    fixed_window: WindowSpec | None = None
    sliding_log: WindowSpec | None = None
    sliding_counter: WindowSpec | None = None
    per: Literal["global", "tenant", "client"] = Field("global", description="one limiter for all, per tenant or per client")
    per_operation: bool = Field(False, description="a separate limiter per operation")
    operations: list[str] = Field(default_factory=list, description="operations counted; empty: all")
    code: str | None = Field(None, description="code answered; default: the catalog's rate_limit_code")

    @field_validator("code", mode="before")
    @classmethod
    def _code_str(cls, v):
        return None if v is None else str(v)

    @model_validator(mode="after")
    def _exactly_one(self):
        given = self.kinds()
        if len(given) != 1:
            raise ValueError("give exactly one limiter: token_bucket, fixed_window, sliding_log or sliding_counter")
        return self

    def kinds(self) -> list[str]:
        """The limiter kinds given (exactly one once validated)."""
        return [k for k in ("token_bucket", "fixed_window", "sliding_log", "sliding_counter") if getattr(self, k) is not None]


class ProcessingTimeout(Model):
    after: PosFloat = Field(description="seconds of service after which the server gives up on an attempt")
    code: str | None = Field(None, description="code answered; default: the catalog's timeout_code")


class LoadLatency(Model):
    alpha: NonNegFloat = Field(description="service time × (1 + alpha × utilisation^power)")
    power: PosFloat = 1.0


class Shed(Model):
    load: PosFloat = Field(description="refuse arrivals while (in service + queued) ÷ workers is at least this")


class QuotaSpec(Model):
    per: Literal["tenant"] = Field("tenant", description="quotas are per tenant (its tier's limit)")
    period: PosFloat = Field(description="seconds between resets (3600: hourly, 86400: daily)")
    offset: NonNegFloat = Field(0.0, description="first reset's offset within a period, seconds")
    tiers: dict[str, Annotated[int, Field(ge=0)] | None] = Field(description="tier → requests per period; null: unlimited")
    code: str | None = Field(None, description="code answered; default: the catalog's quota_code")


class CreditsSpec(Model):
    period: PosFloat = Field(86400.0, description="seconds between refills")
    tiers: dict[str, NonNegFloat] = Field(description="tier → credits per period")
    code: str = Field("ANALYTICS_1603", description="code answered when the credits are spent")


class TierLocks(Model):
    tiers: dict[str, list[str]] = Field(description="tier → operations it may not call")
    code: str = Field("ANALYTICS_1702", description="code answered (TIER_FEATURE_LOCKED)")


class Service(Model):
    workers: Annotated[int, Field(ge=1, le=100_000)] = Field(description="attempts served at once")
    queue: Queue = Field(default_factory=Queue)
    operations: dict[str, Operation] = Field(default_factory=lambda: {"default": Operation()})
    rate_limit: RateLimit | list[RateLimit] | None = None
    quota: QuotaSpec | None = None
    credits: CreditsSpec | None = None
    locks: TierLocks | None = None
    processing_timeout: ProcessingTimeout | None = None
    load_latency: LoadLatency | None = None
    shed: Shed | None = None
    reject_cost: NonNegFloat = Field(0.0, description="mean service times a worker spends on each refused attempt")

    def rate_limits(self) -> list[RateLimit]:
        """The rate limiters, as a list (empty: none)."""
        rl = self.rate_limit
        return [] if rl is None else (list(rl) if isinstance(rl, list) else [rl])

    @field_validator("operations")
    @classmethod
    def _some_operation(cls, v):
        if not v:
            raise ValueError("needs at least one operation")
        return v


# ---------------------------------------------------------------- faults

class FlapSpec(Model):
    # Not `on`/`off`: YAML 1.1 reads those keys as booleans.
    mean_on: PosFloat = Field(description="mean seconds the incident is on (exponential)")
    mean_off: PosFloat = Field(description="mean seconds it is off (exponential)")


class RampSpec(Model):
    up: NonNegFloat = Field(description="seconds the rates take to rise to full")
    down: NonNegFloat = Field(description="seconds they take to fall back to zero")
    steps: Annotated[int, Field(ge=1, le=100)] = Field(5, description="steps per ramp")


class IncidentSpec(Model):
    use: str | None = Field(None, description="a library incident (resilsim.server.incidents); other fields override it")
    start: NonNegFloat = Field(description="seconds from the start of the run")
    duration: PosFloat = Field(description="seconds")
    dependency: str | None = Field(None, description="fails only operations whose `uses` lists it")
    flap: FlapSpec | None = None
    ramp: RampSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _library(cls, data):
        if isinstance(data, dict) and data.get("use") is not None:
            from .server.incidents import LIBRARY
            name = str(data["use"])
            if name not in LIBRARY:
                raise ValueError(f"unknown library incident {name!r}; known: {', '.join(LIBRARY)}")
            merged = {**LIBRARY[name][1], "name": name}
            if "rates" in data and "code" not in data:
                merged.pop("code", None)
                merged.pop("rate", None)
            merged.update(data)
            return merged
        return data
    code: str | None = Field(None, description="error code answered during the incident")
    rate: Probability = Field(1.0, description="probability per attempt of answering `code`")
    rates: dict[str, Probability] = Field(default_factory=dict, description="several codes: code → probability")
    operations: list[str] = Field(default_factory=list, description="operations affected; empty: all")
    slowdown: Annotated[float, Field(ge=1, allow_inf_nan=False)] = Field(1.0, description="service-time factor")
    name: str = ""

    @field_validator("code", mode="before")
    @classmethod
    def _code_str(cls, v):
        return None if v is None else str(v)

    @field_validator("rates", mode="before")
    @classmethod
    def _rates_str(cls, v):
        return {str(k): p for k, p in v.items()} if isinstance(v, dict) else v

    def all_rates(self) -> dict[str, float]:
        """Code → probability, merging ``code``/``rate`` with ``rates``."""
        out = dict(self.rates)
        if self.code is not None:
            out[self.code] = out.get(self.code, 0.0) + self.rate
        return out


class Faults(Model):
    background: dict[str, Probability] = Field(default_factory=dict, description="code → probability per attempt, always")
    incidents: list[IncidentSpec] = Field(default_factory=list)

    @field_validator("background", mode="before")
    @classmethod
    def _codes_str(cls, v):
        return {str(k): p for k, p in v.items()} if isinstance(v, dict) else v

    @field_validator("background")
    @classmethod
    def _sum(cls, v):
        if sum(v.values()) > 1.0:
            raise ValueError(f"background error rates sum to {sum(v.values()):g}, above 1")
        return v


# ---------------------------------------------------------------- clients

class RateChange(Model):
    start: NonNegFloat = Field(description="seconds from the start of the run")
    duration: PosFloat = Field(description="seconds")
    rate: PosFloat = Field(description="requests per second inside the window")


class Poisson(Model):
    rate: PosFloat = Field(description="requests per second, all clients together")
    changes: list[RateChange] = Field(default_factory=list, description="windows with another rate (a campaign spike)")

    @model_validator(mode="after")
    def _no_overlap(self):
        ch = sorted(self.changes, key=lambda c: c.start)
        for a, b in zip(ch, ch[1:]):
            if b.start < a.start + a.duration:
                raise ValueError(f"arrival rate changes overlap (at {b.start} s)")
        return self

    def max_rate(self) -> float:
        """The highest rate of any window, requests per second."""
        return max([self.rate] + [c.rate for c in self.changes])


class Arrival(Model):
    poisson: Poisson


class Clients(Model):
    arrival: Arrival
    timeout: PosFloat | None = Field(None, description="seconds a client waits for one attempt")
    deadline: PosFloat | None = Field(None, description="seconds a request may take, retries included")
    tenants: dict[str, Annotated[int, Field(ge=1, le=1_000_000)]] | None = Field(
        None, description="tier → number of tenants; each request belongs to one, drawn uniformly")
    clients_per_tenant: Annotated[int, Field(ge=1, le=10_000)] = Field(1, description="clients (API keys) per tenant")
    token_lifetime: PosFloat | None = Field(None, description="seconds a client's token stays valid; expired: the auth code")

    @model_validator(mode="after")
    def _deadline_after_timeout(self):
        if self.timeout and self.deadline and self.deadline < self.timeout:
            raise ValueError(f"deadline ({self.deadline} s) is shorter than the attempt timeout ({self.timeout} s)")
        return self


# ---------------------------------------------------------------- limits (runaway work; docs/reliability.md)

class Limits(Model):
    """Caps on one strategy's run: reaching one stops the run there, keeping its partial tables."""

    max_amplification: Annotated[float, Field(ge=1, le=1e6, allow_inf_nan=False)] = Field(
        50.0, description="attempts per expected request (arrival rate × duration) before the run stops; "
                          "sets max_attempts when that is not given")
    max_attempts: Annotated[int, Field(ge=1, le=10**12)] | None = Field(
        None, description="attempts sent in one run; default: max_amplification × expected requests, at least 10,000")
    max_events: Annotated[int, Field(ge=1, le=10**13)] | None = Field(
        None, description="simulation events in one run; default: 20 × max_attempts")
    wall_s: PosFloat | None = Field(3600.0, description="wall-clock seconds one run may take; null: no limit")
    max_memory_mb: PosFloat | None = Field(
        4096.0, description="MiB the process's resident memory may grow during one run; null: no limit")


# ---------------------------------------------------------------- strategies

class ExponentialWait(Model):
    base: PosFloat = 1.0
    multiplier: Annotated[float, Field(ge=1, allow_inf_nan=False)] = 2.0
    cap: PosFloat | None = None


class LinearWait(Model):
    base: NonNegFloat = 0.0
    step: PosFloat = 1.0
    cap: PosFloat | None = None


class WaitSpec(Model):
    """One of ``none: true``, ``fixed: seconds``, ``linear: {...}``, ``exponential: {...}``."""

    none: bool | None = None
    fixed: NonNegFloat | None = None
    linear: LinearWait | None = None
    exponential: ExponentialWait | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k in ("none", "fixed", "linear", "exponential") if getattr(self, k) not in (None, False)]
        if len(given) > 1:
            raise ValueError("give one wait: none, fixed, linear or exponential")
        return self


class StopSpec(Model):
    attempts: Annotated[int, Field(ge=1, le=1000)] | None = Field(None, description="attempts in all, the first included")
    elapsed: PosFloat | None = Field(None, description="seconds since the request started")
    deadline: PosFloat | None = Field(None, description="no retry may start later than this, seconds")


class RetryOnSpec(Model):
    advice: bool = Field(True, description="retry what the catalog's advice allows")
    status: list[Annotated[int, Field(ge=100, le=599)]] = Field(default_factory=list)
    codes: list[str] = Field(default_factory=list)
    timeouts: bool = Field(True, description="retry attempts the client timed out")

    @field_validator("codes", mode="before")
    @classmethod
    def _codes_str(cls, v):
        return [str(c) for c in v] if isinstance(v, list) else v


Jitter = Literal["none", "full", "equal", "decorrelated", "additive", "proportional"]


class RetrySpec(Model):
    preset: str | None = Field(None, description="start from a named preset; other fields override it")
    wait: WaitSpec | None = None
    jitter: Jitter = "none"
    jitter_amount: NonNegFloat = Field(0.2, description="seconds (additive) or fraction (proportional)")
    retry_after: bool = Field(False, description="honour the server's Retry-After when given")
    stop: StopSpec | None = None
    retry_on: RetryOnSpec | None = None
    reauth_delay: NonNegFloat = Field(0.5, description="seconds a token refresh takes")


class TokenBucketGuard(Model):
    """gRPC retry throttling (gRFC A6): :class:`resilsim.policies.guards.TokenBucketBudget`."""

    max_tokens: PosFloat = Field(10.0, description="bucket size; retries allowed while tokens > max_tokens / 2")
    token_ratio: PosFloat = Field(0.1, description="tokens a successful attempt adds (a failure takes 1)")


class RatioGuard(Model):
    """Finagle's retry budget: :class:`resilsim.policies.guards.RatioBudget`."""

    percent: Probability = Field(0.2, description="retries allowed per request, as a fraction (0.2 = 20%)")
    ttl: PosFloat = Field(10.0, description="seconds a request's deposit (and a retry's withdrawal) lasts")
    min_per_s: NonNegFloat = Field(10.0, description="retries per second always allowed (the reserve is min_per_s × ttl)")


class ConcurrencyGuard(Model):
    """Envoy's retry budget: :class:`resilsim.policies.guards.ConcurrencyBudget`."""

    percent: Probability = Field(0.2, description="retries in flight allowed, as a fraction of attempts in flight")
    min_retries: Annotated[int, Field(ge=0, le=1_000_000)] = Field(3, description="retries in flight always allowed")


class BreakerGuard(Model):
    """A resilience4j-style circuit breaker: :class:`resilsim.policies.guards.CircuitBreaker`."""

    failure_rate: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = Field(
        0.5, description="failure rate (0..1] over the window at which the breaker opens")
    window: PosFloat = Field(100, description="sliding window: the last N calls (count) or seconds (time)")
    window_type: Literal["count", "time"] = Field("count", description="count or time sliding window")
    minimum_calls: Annotated[int, Field(ge=1, le=1_000_000)] = Field(100, description="calls in the window before it may open")
    open_s: NonNegFloat = Field(60.0, description="seconds open (every call refused) before half-open")
    half_open_calls: Annotated[int, Field(ge=1, le=1_000_000)] = Field(10, description="probe calls let through when half-open")


class ThrottleGuard(Model):
    """Google SRE book client-side adaptive throttling: :class:`resilsim.policies.guards.AdaptiveThrottle`."""

    k: PosFloat = Field(2.0, description="K: reject locally with p = max(0, (requests − K·accepts) / (requests + 1))")
    window: PosFloat = Field(120.0, description="seconds of history counted in requests and accepts")


class QuotaGuard(Model):
    """AWS SDK standard-mode retry quota: :class:`resilsim.policies.guards.RetryQuota`."""

    capacity: PosFloat = Field(500, description="tokens at the start and at most")
    cost: NonNegFloat = Field(5, description="tokens a retry costs")
    timeout_cost: NonNegFloat = Field(10, description="tokens a retry after a timeout costs")
    refund: NonNegFloat = Field(1, description="tokens a success without retry gives back (a successful retry refunds its cost)")


class ClientRateGuard(Model):
    """AWS SDK adaptive mode's client-side rate limiter (CUBIC): :class:`resilsim.policies.guards.ClientRateLimiter`."""

    beta: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = Field(0.7, description="rate multiplier on a throttle")
    scale: PosFloat = Field(0.4, description="CUBIC scale constant")
    min_rate: PosFloat = Field(0.5, description="lowest send rate, requests per second")
    max_rate_scale: PosFloat = Field(2.0, description="the rate is capped at this × the measured send rate")
    smoothing: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = Field(0.8, description="EWMA weight of the newest measured rate")
    bucket_s: PosFloat = Field(0.5, description="seconds per bucket of the measured send rate")
    block: bool = Field(True, description="an attempt with no token waits for one, as botocore does (false: "
                                          "it is refused and the request shed, as Java v2's fastFailRateLimiting)")


#: Guard kinds in the order they are consulted; the first refusal wins. The breaker comes last: a half-open
#: probe it lets through must report back, and one a later guard refused never would (it would stay
#: half-open). The budgets that charge on allow (ratio, quota) come after the ones that only look.
GUARD_KINDS = ("throttle", "client_rate", "token_bucket", "concurrency", "ratio", "quota", "breaker")


class GuardsSpec(Model):
    """Client-side guards of a strategy, one key per guard kind (each a class of resilsim.policies.guards)."""

    breaker: BreakerGuard | None = None
    throttle: ThrottleGuard | None = None
    client_rate: ClientRateGuard | None = None
    token_bucket: TokenBucketGuard | None = None
    ratio: RatioGuard | None = None
    concurrency: ConcurrencyGuard | None = None
    quota: QuotaGuard | None = None
    scope: Literal["population", "tenant", "client"] = Field(
        "population", description="who shares one guard state: every request of the strategy (population), "
                                  "each tenant, or each client (API key) of clients.tenants")
    failures: Union[str, list[str]] = Field(
        "all", description="which answers count as failures for the guards: all (every error and timeout), "
                           "retryable (timeouts and codes whose catalog advice is not 'never') or a list of codes "
                           "(TIMEOUT for client-side timeouts)")

    @field_validator("failures", mode="before")
    @classmethod
    def _codes_str(cls, v):
        return [str(c) for c in v] if isinstance(v, list) else v

    @field_validator("failures")
    @classmethod
    def _failures_kind(cls, v):
        if isinstance(v, str) and v not in ("all", "retryable"):
            raise ValueError("give all, retryable or a list of error codes")
        return v

    def kinds(self) -> list[str]:
        """The guard kinds given, in the order they are consulted."""
        return [k for k in GUARD_KINDS if getattr(self, k) is not None]


class HedgeSpec(Model):
    """Hedging: more copies of a request's first attempt while it has not answered; the first success wins."""

    delay: PosFloat = Field(description="seconds after the first attempt (and between copies) before sending another")
    max_extra: Annotated[int, Field(ge=1, le=4)] = Field(1, description="extra copies at most (gRPC caps attempts at 5)")


class StrategySpec(Model):
    retry: Union[str, RetrySpec] = Field("none", description="a preset name (doc or library) or a retry block")
    guards: GuardsSpec | None = Field(None, description="client-side guards; none by default (a library preset's own guards apply)")
    hedge: HedgeSpec | None = Field(None, description="hedged first attempts; none by default")
    timeout: PosFloat | None = Field(None, description="seconds this strategy's client waits for one attempt; "
                                                       "default: clients.timeout, else the library preset's own")
    deadline: PosFloat | None = Field(None, description="seconds a request of this strategy may take, retries included; "
                                                        "default: clients.deadline, else the library preset's own")

    @model_validator(mode="after")
    def _deadline_after_timeout(self):
        if self.timeout and self.deadline and self.deadline < self.timeout:
            raise ValueError(f"deadline ({self.deadline} s) is shorter than the attempt timeout ({self.timeout} s)")
        return self


# ---------------------------------------------------------------- the scenario

class Scenario(Model):
    """A whole scenario. Build it with :func:`load_scenario`."""

    name: str = "scenario"
    description: str = ""
    api: str = Field(description="analytics | nanostream | counters | path to a catalog YAML")
    duration: PosFloat = Field(description="seconds of arrivals")
    warmup: NonNegFloat = Field(0.0, description="seconds excluded from the summary")
    drain: NonNegFloat = Field(600.0, description="seconds after `duration` for open requests to finish")
    bin: PosFloat = Field(1.0, description="width of the timeline's bins, seconds")
    service: Service
    faults: Faults = Field(default_factory=Faults)
    clients: Clients
    strategies: dict[str, StrategySpec] = Field(default_factory=lambda: {"none": StrategySpec()})
    limits: Limits = Field(default_factory=Limits, description="caps on runaway work (docs/reliability.md)")

    @model_validator(mode="after")
    def _consistent(self):
        if self.warmup >= self.duration:
            raise ValueError(f"warmup ({self.warmup} s) must be shorter than duration ({self.duration} s)")
        for i, inc in enumerate(self.faults.incidents):
            if inc.start >= self.duration:
                raise ValueError(f"faults.incidents[{i}] starts at {inc.start} s, after the run ends ({self.duration} s)")
            if inc.code is None and not inc.rates and inc.slowdown == 1.0:
                raise ValueError(f"faults.incidents[{i}] needs a code, rates or a slowdown")
            for op in inc.operations:
                if op not in self.service.operations:
                    raise ValueError(f"faults.incidents[{i}].operations: unknown operation {op!r}; "
                                     f"known: {', '.join(self.service.operations)}")
        if not self.strategies:
            raise ValueError("strategies: give at least one strategy")
        self._consistent_api_side()
        return self

    def _consistent_api_side(self):
        svc, ops = self.service, self.service.operations
        tiers = set(self.clients.tenants or {"default": 1})
        for i, rl in enumerate(svc.rate_limits()):
            for op in rl.operations:
                if op not in ops:
                    raise ValueError(f"service.rate_limit[{i}].operations: unknown operation {op!r}; known: {', '.join(ops)}")
        for where, names in (("service.quota.tiers", svc.quota.tiers if svc.quota else {}),
                             ("service.credits.tiers", svc.credits.tiers if svc.credits else {}),
                             ("service.locks.tiers", svc.locks.tiers if svc.locks else {})):
            for t in names:
                if t not in tiers:
                    raise ValueError(f"{where}: unknown tier {t!r}; clients.tenants names: {', '.join(sorted(tiers))}")
        if svc.locks:
            for t, lst in svc.locks.tiers.items():
                for op in lst:
                    if op not in ops:
                        raise ValueError(f"service.locks.tiers.{t}: unknown operation {op!r}; known: {', '.join(ops)}")
        uses = {u for o in ops.values() for u in o.uses}
        for i, inc in enumerate(self.faults.incidents):
            if inc.flap and inc.ramp:
                raise ValueError(f"faults.incidents[{i}]: give flap or ramp, not both")
            if inc.dependency and uses and inc.dependency not in uses:
                raise ValueError(f"faults.incidents[{i}].dependency: no operation uses {inc.dependency!r}; "
                                 f"operations use: {', '.join(sorted(uses))}")
        for c in self.clients.arrival.poisson.changes:
            if c.start >= self.duration:
                raise ValueError(f"clients.arrival.poisson.changes: a change starts at {c.start} s, after the run ends")


# ---------------------------------------------------------------- loading

def load_scenario(source: str | os.PathLike | dict | Scenario, *, overrides: dict | list | None = None) -> Scenario:
    """Load and validate a scenario from a YAML file path, a YAML string or a dict.

    ``overrides`` are dotted paths (``{"service.workers": 16}`` or
    ``["service.workers=16"]``) applied before validation. Raises
    :class:`ScenarioError` with the file, the field path and what is allowed.
    """
    if isinstance(source, Scenario):
        data, label, text = source.model_dump(mode="python", exclude_none=False), None, None
        data = _strip_defaults(source)
    elif isinstance(source, dict):
        data, label, text = copy.deepcopy(source), None, None
    else:
        path_like = isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source
                                                         and source.endswith((".yaml", ".yml")))
        if path_like:
            label = str(source)
            text = _read(Path(source))
        else:
            label, text = "<string>", str(source)
        data = _parse_yaml(text, label)
    if overrides:
        data = apply_overrides(data, overrides, source=label)
    scenario = _validate(data, label, text)
    _check_codes(scenario, label, text)
    _check_stops(scenario, label, text)
    _check_strategy_limits(scenario, label, text)
    return scenario


def _strip_defaults(s: Scenario) -> dict:
    return s.model_dump(mode="python", exclude_unset=True)


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ScenarioError("no such file", source=str(path)) from None
    except OSError as e:
        raise ScenarioError(f"cannot read the file ({e.strerror})", source=str(path)) from None
    if path.is_dir():
        raise ScenarioError("is a directory, not a scenario file", source=str(path))
    if size > MAX_FILE_BYTES:
        raise ScenarioError(f"file is {size} bytes; scenarios are limited to {MAX_FILE_BYTES}", source=str(path))
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError("is not a UTF-8 text file (binary?)", source=str(path)) from None


class _BoundedLoader(yaml.SafeLoader):
    """safe_load with caps on expanded size (a 'billion laughs' alias bomb) and on nesting depth.

    Each composed node's weight is the number of nodes it expands to, an
    alias counting as the whole node it points at, so a bomb is refused
    before anything is constructed.
    """

    max_nodes = 100_000
    max_depth = 50

    def __init__(self, stream):
        super().__init__(stream)
        self._weights: dict[int, int] = {}
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        if self._depth > self.max_depth:
            raise yaml.YAMLError(f"nested deeper than {self.max_depth} levels")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        key = id(node)
        if key not in self._weights:
            if isinstance(node, yaml.MappingNode):
                w = 1 + sum(self._weights.get(id(k), 1) + self._weights.get(id(v), 1) for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                w = 1 + sum(self._weights.get(id(v), 1) for v in node.value)
            else:
                w = 1
            if w > self.max_nodes:
                raise yaml.YAMLError(f"expands to more than {self.max_nodes} values (an alias bomb?)")
            self._weights[key] = w
        return node

    def construct_mapping(self, node, deep=False):
        # A repeated key silently replaces the first in PyYAML; refuse it instead.
        seen = set()
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {k.value!r}", k.start_mark)
                seen.add(k.value)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, label: str) -> dict:
    try:
        loader = _BoundedLoader(text)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        if "could not determine a constructor for the tag" in str(e.problem):
            tag = str(e.problem).rsplit(" ", 1)[-1].replace("tag:yaml.org,2002:", "!!")
            raise ScenarioError(f"uses the tag {tag}, which is not allowed (scenarios are plain YAML; "
                                "nothing in them is evaluated)", source=label, line=line) from None
        raise ScenarioError(f"is not valid YAML ({e.problem})", source=label, line=line) from None
    except yaml.reader.ReaderError as e:
        raise ScenarioError(f"is not valid YAML (character #x{e.character:04x} at position {e.position} "
                            "is not allowed)", source=label) from None
    except yaml.YAMLError as e:
        # PyYAML's messages can span lines; the user gets one.
        raise ScenarioError(f"is not valid YAML ({' '.join(str(e).split())})", source=label) from None
    if data is None:
        raise ScenarioError("is empty; a scenario needs at least api, duration, service and clients", source=label)
    if not isinstance(data, dict):
        raise ScenarioError(f"must be a mapping of fields, not a {type(data).__name__}", source=label)
    return data


def apply_overrides(data: dict, overrides: dict | list, *, source: str | None = None) -> dict:
    """Return a copy of ``data`` with dotted-path overrides applied (values parsed as YAML scalars)."""
    data = copy.deepcopy(data)
    items = overrides.items() if isinstance(overrides, dict) else [_split(o, source) for o in overrides]
    for key, value in items:
        parts = key.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                node = _list_item(node, part, key, source)
                continue
            if not isinstance(node, dict):
                raise ScenarioError(f"cannot set {key!r}: {'.'.join(parts[:i])} is not a mapping", source=source)
            node = node.setdefault(part, {})
        last = parts[-1]
        if isinstance(node, list):
            idx = int(_list_item(node, last, key, source) is not None and last)
            node[idx] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ScenarioError(f"cannot set {key!r}: its parent is not a mapping", source=source)
    return data


def _list_item(node: list, part: str, key: str, source):
    if not part.isdigit() or int(part) >= len(node):
        raise ScenarioError(f"cannot set {key!r}: {part!r} is not an index below {len(node)}", source=source)
    return node[int(part)]


def _split(item: str, source) -> tuple[str, Any]:
    if "=" not in item:
        raise ScenarioError(f"override {item!r} must look like dotted.key=value", source=source)
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def with_overrides(scenario: Scenario, overrides: dict | list) -> Scenario:
    """A new scenario with dotted-path overrides applied; ``scenario`` is unchanged."""
    return load_scenario(_strip_defaults(scenario), overrides=overrides)


def _validate(data: dict, label, text) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        # An unknown key explains the rest best; otherwise the deepest error names
        # the real field (a union such as strategies.X.retry reports every member).
        errs = e.errors()
        err = max(errs, key=lambda x: (x["type"] == "extra_forbidden", len(x["loc"])))
        loc = tuple(err["loc"])
        path = _loc_path(loc)
        msg = _message(err, data)
        raise ScenarioError(msg, source=label, path=path or None, line=_line_of(text, loc)) from None


def _loc_path(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part) in ("RetrySpec", "str") or str(part).startswith(("function-after[", "list[")):
            # pydantic's names for union members, not fields
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _message(err: dict, data: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        parent = _model_at(err["loc"][:-1])
        known = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown field {key!r}{hint} (allowed: {', '.join(known)})" if known else f"unknown field {key!r}"
    if kind == "missing":
        return "is required"
    got = err.get("input")
    text = err["msg"]
    if text.startswith("Value error, "):
        text = text[len("Value error, "):]
    if isinstance(got, (dict, list)):
        return text
    shown = repr(got)
    return f"{text} (got {shown if len(shown) <= 40 else shown[:37] + '...'})"


def _model_at(loc) -> type[BaseModel] | None:
    """The pydantic model class at a location, for listing allowed keys."""
    model: Any = Scenario
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        if part in ("RetrySpec",):
            model = RetrySpec
            continue
        field = model.model_fields.get(str(part)) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            # a dict value (operations.NAME, strategies.NAME): the dict's value model
            model = _dict_value_model(model, part)
            continue
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation):
    import typing
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) is dict:
        return ("dict", args[1])
    for a in args:
        m = _inner_model(a)
        if m is not None and m != (None):
            return m
    return None


def _dict_value_model(model, part):
    if isinstance(model, tuple) and model[0] == "dict":
        inner = model[1]
        return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
    return None


def _line_of(text: str | None, loc) -> int | None:
    """The 1-based line of ``loc`` in the YAML ``text`` (the deepest key found), via compose marks."""
    if not text:
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                if part in ("RetrySpec", "str"):
                    continue
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _check_codes(s: Scenario, label, text) -> None:
    """Every error code a scenario names must be in its API's catalog."""
    from .catalog import CatalogError, load_catalog
    try:
        catalog = load_catalog(s.api)
    except CatalogError as e:
        raise ScenarioError(str(e), source=label, path="api") from None
    except (KeyError, FileNotFoundError, OSError):
        raise ScenarioError(f"unknown API {s.api!r}; use analytics, nanostream, counters or a catalog file path",
                            source=label, path="api", line=_line_of(text, ("api",))) from None
    where: list[tuple[tuple, str]] = [(("faults", "background", c), c) for c in s.faults.background]
    for i, inc in enumerate(s.faults.incidents):
        where += [(("faults", "incidents", i, "rates" if c != inc.code else "code"), c) for c in inc.all_rates()]
    for i, rl in enumerate(s.service.rate_limits()):
        if rl.code is not None:
            where.append((("service", "rate_limit", "code"), rl.code))
        elif catalog.rate_limit_code is None:
            raise ScenarioError(f"the {catalog.api} API documents no rate-limit code; give the limiter a `code:` "
                                "from its catalog", source=label, path="service.rate_limit",
                                line=_line_of(text, ("service", "rate_limit")))
    if s.service.quota is not None:
        if s.service.quota.code is not None:
            where.append((("service", "quota", "code"), s.service.quota.code))
        elif catalog.quota_code is None:
            raise ScenarioError(f"the {catalog.api} API documents no quota code; give the quota a `code:` "
                                "from its catalog", source=label, path="service.quota",
                                line=_line_of(text, ("service", "quota")))
    if s.service.processing_timeout is not None and s.service.processing_timeout.code is not None:
        where.append((("service", "processing_timeout", "code"), s.service.processing_timeout.code))
    if s.service.credits is not None:
        where.append((("service", "credits", "code"), s.service.credits.code))
    if s.service.locks is not None:
        where.append((("service", "locks", "code"), s.service.locks.code))
    for op, spec in s.service.operations.items():
        where += [(("service", "operations", op, "violations", c), c) for c in spec.violations]
    if s.clients.token_lifetime is not None and catalog.auth_code is None:
        raise ScenarioError(f"the {catalog.api} API documents no auth code for expired tokens", source=label,
                            path="clients.token_lifetime")
    for name, st in s.strategies.items():
        if isinstance(st.retry, RetrySpec) and st.retry.retry_on:
            where += [(("strategies", name, "retry", "retry_on", "codes"), c) for c in st.retry.retry_on.codes
                      if c not in ("TIMEOUT",)]
        if st.guards is not None and isinstance(st.guards.failures, list):
            where += [(("strategies", name, "guards", "failures"), c) for c in st.guards.failures if c != "TIMEOUT"]
    for loc, code in where:
        if code not in catalog:
            close = catalog.closest(code)
            hint = f"; closest: {', '.join(close)}" if close else ""
            raise ScenarioError(f"unknown {catalog.api} error code {code!r}{hint}", source=label,
                                path=_loc_path(loc), line=_line_of(text, loc))
    for name, st in s.strategies.items():
        given, loc = (st.retry, ("strategies", name, "retry")) if isinstance(st.retry, str) else \
            (st.retry.preset, ("strategies", name, "retry", "preset"))
        if given is not None and preset_source(given) is None:
            from .policies import PRESETS
            lib = list(library_presets())
            close = difflib.get_close_matches(given, list(PRESETS) + lib, n=3)
            raise ScenarioError(
                f"unknown retry preset {given!r}; known: {', '.join(PRESETS)}"
                + (f"; library: {', '.join(lib)}" if lib else "")
                + (f" (closest: {', '.join(close)})" if close else ""),
                source=label, path=_loc_path(loc), line=_line_of(text, loc))


def _check_stops(s: Scenario, label, text) -> None:
    """Refuse a strategy whose retries could go on for ever: no stop of its own and no client deadline."""
    if s.clients.deadline is not None:
        return
    for name, st in s.strategies.items():
        if st.deadline is None and not build_policy(st.retry, name).bounded:
            raise ScenarioError("retries could never stop; give stop.attempts, stop.elapsed or stop.deadline, "
                                "a deadline or a clients.deadline", source=label, path=f"strategies.{name}.retry",
                                line=_line_of(text, ("strategies", name, "retry")))


def _check_strategy_limits(s: Scenario, label, text) -> None:
    """Refuse a strategy's own attempt timeout longer than the scenario's deadline (as clients: does for its own)."""
    for name, st in s.strategies.items():
        if st.timeout and st.deadline is None and s.clients.deadline and s.clients.deadline < st.timeout:
            raise ScenarioError(f"the attempt timeout ({st.timeout} s) is longer than clients.deadline "
                                f"({s.clients.deadline} s); give a strategy deadline or a shorter timeout",
                                source=label, path=f"strategies.{name}.timeout",
                                line=_line_of(text, ("strategies", name, "timeout")))


def dump_scenario(s: Scenario) -> str:
    """The scenario as YAML (only the fields that were given), e.g. to store beside results."""
    return yaml.safe_dump(_strip_defaults(s), sort_keys=False)


# ---------------------------------------------------------------- strategies → policy objects

def library_presets() -> dict:
    """``resilsim.policies.library.LIBRARY`` (name → callable returning a ``LibraryPreset``); {} without that module."""
    import importlib.util
    if importlib.util.find_spec("resilsim.policies.library") is None:
        return {}
    from .policies.library import LIBRARY
    return LIBRARY


def preset_source(name: str) -> str | None:
    """``"doc"`` for a doc or naive preset (resilsim.policies.PRESETS), ``"library"`` for a library preset, else None."""
    from .policies import PRESETS
    if name in PRESETS:
        return "doc"
    return "library" if name in library_presets() else None


def _preset_policy(name: str):
    # Doc presets first: a library preset of the same name never shadows them.
    from .policies import PRESETS, preset
    lib = library_presets()
    if name not in PRESETS and name in lib:
        return lib[name]().policy
    return preset(name)  # KeyError naming the known ones when unknown


class Strategy(NamedTuple):
    """A scenario's strategy as objects: what :func:`resilsim.simulate` runs for it.

    ``guards`` is None or a zero-argument callable returning a list of fresh
    guard objects (one state per run, and per tenant or client with
    ``scope``); ``failures`` says which answers the guards count as
    failures; ``hedge`` is None or ``(delay seconds, max extra copies)``.
    ``timeout`` (per attempt) and ``deadline`` (per request) are seconds
    this strategy sets itself, or takes from its library preset (None: the
    scenario's ``clients`` values apply; see :func:`build_strategy`).
    """

    name: str
    policy: Any
    guards: Any = None
    scope: str = "population"
    failures: Any = "all"
    hedge: tuple | None = None
    timeout: float | None = None
    deadline: float | None = None

    def client_limits(self, clients) -> tuple:
        """``(timeout, deadline)`` in seconds for a run of this strategy: its own, else ``clients``' (None: none)."""
        return (self.timeout if self.timeout is not None else clients.timeout,
                self.deadline if self.deadline is not None else clients.deadline)

    def make_guards(self) -> list:
        """Fresh guard objects (empty list without guards)."""
        return list(self.guards()) if self.guards is not None else []

    def describe(self) -> dict:
        """Flat parameters for result rows: the policy's, each guard's as ``kind_param``, the scope and hedging."""
        from .policies.guards import Guards
        d = dict(self.policy.describe())
        made = self.make_guards()
        if made:
            for key, value in Guards(*made).describe().items():
                d[key.replace(".", "_")] = value
            d["guard_scope"] = self.scope
            d["guard_failures"] = self.failures if isinstance(self.failures, str) else ",".join(self.failures)
        if self.hedge is not None:
            d["hedge_delay_s"], d["hedge_max_extra"] = self.hedge
        if self.timeout is not None:
            d["timeout_s"] = self.timeout
        if self.deadline is not None:
            d["deadline_s"] = self.deadline
        return d


_GUARD_CLASSES = {"breaker": "CircuitBreaker", "throttle": "AdaptiveThrottle", "client_rate": "ClientRateLimiter",
                  "token_bucket": "TokenBucketBudget",
                  "ratio": "RatioBudget", "concurrency": "ConcurrencyBudget", "quota": "RetryQuota"}


def build_guards(spec: GuardsSpec):
    """A zero-argument callable making fresh guard objects for ``spec`` (None when it names no guard).

    Every YAML field is the constructor argument of the same name
    (``breaker: {open_s: 10}`` → ``CircuitBreaker(open_s=10, ...)``).
    """
    from .policies import guards as G
    made = [(getattr(G, _GUARD_CLASSES[k]), getattr(spec, k).model_dump()) for k in spec.kinds()]
    if not made:
        return None
    return lambda: [cls(**params) for cls, params in made]


def build_strategy(spec: "StrategySpec | str | dict", name: str = "custom", clients: "Clients | None" = None) -> Strategy:
    """The :class:`Strategy` a scenario's ``strategies.NAME`` entry describes; ``clients``: the scenario's.

    A library preset (``retry: grpc`` or ``retry: {preset: grpc, ...}``)
    brings its own guards and hedging unless the strategy gives its own.
    Timeouts, most specific first: the strategy's own ``timeout`` /
    ``deadline``; else ``clients.timeout`` / ``clients.deadline``; else the
    library preset's own defaults (``attempt_timeout``, and ``timeout`` as
    the request deadline), so a scenario that sets none runs each library as
    it ships; else none. Without ``clients`` the scenario is taken to set none.
    """
    if not isinstance(spec, StrategySpec):
        spec = StrategySpec.model_validate({"retry": spec} if isinstance(spec, str) else spec)
    policy = build_policy(spec.retry, name)
    preset_name = spec.retry if isinstance(spec.retry, str) else spec.retry.preset
    lib = library_presets().get(preset_name) if preset_name and preset_source(preset_name) == "library" else None
    lib = lib() if lib is not None else None
    g = spec.guards
    guards = build_guards(g) if g is not None else None
    if guards is None and lib is not None and getattr(lib, "guards", None) is not None and lib.guards():
        guards = lib.guards
    hedge = (spec.hedge.delay, spec.hedge.max_extra) if spec.hedge is not None else None
    if hedge is None and lib is not None and getattr(lib, "hedge", None) is not None:
        h = lib.hedge
        hedge = (float(h.delay), int(getattr(h, "max_extra", 1))) if hasattr(h, "delay") else (float(h[0]), int(h[1]))
    timeout, deadline = spec.timeout, spec.deadline
    if lib is not None:
        if timeout is None and (clients is None or clients.timeout is None):
            timeout = getattr(lib, "attempt_timeout", None)
        if deadline is None and (clients is None or clients.deadline is None):
            deadline = getattr(lib, "timeout", None)
    return Strategy(name, policy, guards, g.scope if g else "population", g.failures if g else "all", hedge,
                    timeout, deadline)


def build_policy(spec: "str | RetrySpec", name: str = "custom"):
    """The pure :class:`resilsim.policies.RetryPolicy` a scenario's ``retry:`` field describes."""
    import dataclasses

    from . import policies as P
    from .policies import stops, waits

    if isinstance(spec, str):
        return _preset_policy(spec)
    base = _preset_policy(spec.preset) if spec.preset else None
    changes: dict = {"reauth_delay": spec.reauth_delay, "name": spec.preset or name}
    if spec.wait is not None or spec.jitter != "none" or spec.retry_after:
        w = spec.wait or WaitSpec()
        if w.fixed is not None:
            wait = waits.fixed(w.fixed)
        elif w.linear is not None:
            wait = waits.linear(w.linear.base, w.linear.step, w.linear.cap or math.inf)
        elif w.exponential is not None:
            e = w.exponential
            wait = waits.exponential(e.base, e.multiplier, e.cap or math.inf)
        else:
            wait = waits.none()
        if spec.jitter != "none":
            wait = wait + waits.jitter(spec.jitter, spec.jitter_amount)
        if spec.retry_after:
            wait = P.retry_after(wait)
        changes["wait"] = wait
    if spec.stop is not None:
        parts = []
        if spec.stop.attempts is not None:
            parts.append(stops.attempts(spec.stop.attempts))
        if spec.stop.elapsed is not None:
            parts.append(stops.elapsed(spec.stop.elapsed))
        if spec.stop.deadline is not None:
            parts.append(stops.deadline(spec.stop.deadline))
        stop = parts[0] if parts else stops.never()
        for p in parts[1:]:
            stop = stop | p
        changes["stop"] = stop
    elif base is None:
        # A retry block without a stop: retry until the deadline, as tenacity does by default.
        changes["stop"] = stops.never()
    if spec.retry_on is not None:
        r = spec.retry_on
        preds = []
        if r.advice:
            preds.append(P.by_advice())
        if r.status:
            preds.append(P.on_status(*r.status))
        if r.codes:
            preds.append(P.on_codes(*r.codes))
        changes["retry_timeouts"] = r.timeouts
        if r.timeouts:
            preds.append(P.on_codes("TIMEOUT"))
        if not preds:
            preds.append(P.on_codes())
        pred = preds[0]
        for p in preds[1:]:
            pred = pred | p
        changes["retry_on"] = pred
    policy = base or P.RetryPolicy()
    return dataclasses.replace(policy, **changes)
