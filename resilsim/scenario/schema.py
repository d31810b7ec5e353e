"""The scenario's schema: what is simulated, as validated, frozen pydantic models.

One concept: the shape of a scenario file, each field with its unit and its
check beside it. Reading YAML, mapping errors to lines and checking codes
against the API's catalog live in :mod:`resilsim.scenario.load`. Every
duration is in seconds; every rate is per second unless it says otherwise.
"""
from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, StrictBool, \
    field_validator, model_validator
from pydantic_core import PydanticCustomError

#: Sizes a duration, rate or factor may have (seconds, per second): 1 ns to about 30,000 years. Outside
#: them sums and products overflow or underflow (1e308, 5e-324), and no real system is that far out.
SMALLEST, LARGEST = 1e-9, 1e12


def _number(v):
    # YAML reads yes/no/on/off as booleans; a boolean is never a number of seconds or workers.
    if isinstance(v, bool):
        raise PydanticCustomError("float_type", "Input should be a number, not true or false")
    return v


def _whole(v):
    if isinstance(v, bool):
        raise PydanticCustomError("int_type", "Input should be a whole number, not true or false")
    if isinstance(v, float) and v.is_integer():  # 4.5 gets pydantic's own "fractional part" message
        raise PydanticCustomError("int_type", "Input should be a whole number, without a decimal point")
    return v


def _size(v: float) -> float:
    if v != 0 and not SMALLEST <= abs(v) <= LARGEST:
        raise ValueError(f"must be between {SMALLEST:g} and {LARGEST:g}")
    return v


def _size_or_zero(v: float) -> float:
    if v != 0 and not SMALLEST <= abs(v) <= LARGEST:
        raise ValueError(f"must be 0 or between {SMALLEST:g} and {LARGEST:g}")
    return v


#: Markers of a number (never a boolean) and a whole number (never a boolean or a float), put after a field's
#: constraints so pydantic checks those in its usual order.
NUMBER = BeforeValidator(_number)
WHOLE = BeforeValidator(_whole)
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False), NUMBER, AfterValidator(_size)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False), NUMBER, AfterValidator(_size_or_zero)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False), NUMBER]

class Model(BaseModel):
    """Base of scenario models: unknown keys are errors, objects are frozen once built.

    ``defer_build``: a model's validator is built when it first validates (loading a scenario builds the
    Scenario's, which holds every model it nests), not as its class is made: each of the ~60 models built its
    own at import, most never used alone: the interpreter, ``import resilsim.scenario`` and loading the aurora
    scenario took 0.40 -> 0.33 s CPU (medians of 10 interleaved runs, 2026-12-03). Code that reads the models'
    fields (their annotations) calls :func:`complete_models` first.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, defer_build=True)


# ---------------------------------------------------------------- service side

class ExponentialLatency(Model):
    mean: PosFloat = Field(description="mean service time, seconds")


#: Widest lognormal latency: sigma of the log, and the p99 ÷ median it gives (e^(2.326 · 5) ≈ 112,000).
MAX_SIGMA = 5.0
MAX_P99_RATIO = 100_000


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
        # Wider than this, the mean is astronomically above the median and draws overflow to infinity.
        if self.sigma is not None and self.sigma > MAX_SIGMA:
            raise ValueError(f"sigma ({self.sigma:g}) must be at most {MAX_SIGMA:g}")
        if self.p99 is not None and self.p99 > MAX_P99_RATIO * self.median:
            raise ValueError(f"p99 ({self.p99:g}) must be at most {MAX_P99_RATIO:,.0f} times the median "
                             f"({self.median:g})")
        return self


class MixtureLatency(Model):
    value: PosFloat = Field(description="usual service time, seconds")
    slow: PosFloat = Field(description="slow service time, seconds")
    p_slow: Probability = Field(description="probability of the slow time")

    @model_validator(mode="after")
    def _slow_is_slower(self):
        if self.slow <= self.value:
            raise ValueError(f"slow ({self.slow:g} s) must be longer than value ({self.value:g} s)")
        return self


class NormalLatency(Model):
    mean: PosFloat = Field(description="mean service time, seconds")
    sd: PosFloat = Field(description="standard deviation, seconds (draws below 0 count as 0)")


class ShapeScaleLatency(Model):
    shape: PosFloat = Field(description="shape parameter (k, or α for Pareto)")
    scale: PosFloat = Field(description="scale parameter, seconds (θ, λ, or the Pareto minimum x_m)")


class ParetoLatency(ShapeScaleLatency):
    @model_validator(mode="after")
    def _finite_mean(self):
        if self.shape <= 1:
            raise ValueError(f"shape ({self.shape}) must be greater than 1 (at or below 1 the mean service time is infinite)")
        return self


class EmpiricalLatency(Model):
    file: str = Field(description="CSV or Parquet file of latency samples (seconds, one column), relative to the "
                                  "scenario file; each service time is one of them drawn at random")
    _samples: tuple | None = PrivateAttr(None)  # set by load_scenario, which reads the file

    def keep(self, samples) -> None:
        """Keep the file's ``samples`` (seconds), read by :func:`resilsim.scenario.load_scenario`."""
        self._samples = tuple(float(x) for x in samples)

    def samples(self) -> np.ndarray:
        """The samples (seconds); the scenario must come from :func:`resilsim.scenario.load_scenario`."""
        if self._samples is None:
            raise ValueError(f"empirical latency {self.file!r}: its samples were not read; "
                             "build the scenario with load_scenario")
        return np.array(self._samples)


#: Latency distributions a scenario may name, in the order error messages list them.
LATENCY_KINDS = ("exponential", "lognormal", "constant", "mixture", "normal", "gamma", "weibull", "pareto", "empirical")


class Latency(Model):
    """One of: ``{exponential: {mean}}``, ``{lognormal: {median, p99|sigma}}``, ``{constant: seconds}``,
    ``{mixture: ...}``, ``{normal: {mean, sd}}``, ``{gamma|weibull|pareto: {shape, scale}}``, ``{empirical: {file}}``."""

    exponential: ExponentialLatency | None = None
    lognormal: LogNormalLatency | None = None
    constant: PosFloat | None = None
    mixture: MixtureLatency | None = None
    normal: NormalLatency | None = None
    gamma: ShapeScaleLatency | None = None
    weibull: ShapeScaleLatency | None = None
    pareto: ParetoLatency | None = None
    empirical: EmpiricalLatency | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k in LATENCY_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one distribution: " + ", ".join(LATENCY_KINDS[:-1])
                             + " or " + LATENCY_KINDS[-1])
        return self

    def distribution(self):
        """The pure distribution object (resilsim.server.latency)."""
        from ..server import latency as L
        if self.exponential:
            return L.Exponential(self.exponential.mean)
        if self.lognormal:
            ln = self.lognormal
            return L.LogNormal.from_p99(ln.median, ln.p99) if ln.p99 else L.LogNormal(ln.median, ln.sigma)
        if self.mixture:
            m = self.mixture
            return L.Mixture(m.value, m.slow, m.p_slow)
        if self.normal:
            return L.Normal(self.normal.mean, self.normal.sd)
        for kind, cls in (("gamma", L.Gamma), ("weibull", L.Weibull), ("pareto", L.Pareto)):
            spec = getattr(self, kind)
            if spec is not None:
                return cls(spec.shape, spec.scale)
        if self.empirical:
            return L.Empirical(self.empirical.samples())
        return L.Constant(self.constant)


class Operation(Model):
    weight: PosFloat = Field(1.0, description="share of requests for this operation (normalised)")
    latency: Latency = Field(default_factory=lambda: Latency(exponential={"mean": 0.1}))
    uses: list[str] = Field(default_factory=list, description="dependencies (aurora, model, ...) an incident's `dependency` can take down")
    violations: dict[str, Probability] = Field(default_factory=dict, description="code → fraction of requests breaking a request limit (max entities, tiles, history days)")
    credits: NonNegFloat = Field(0.0, description="credits one attempt spends (service.credits)")
    idempotent: StrictBool = Field(True, description="false: each served attempt has a side effect (an increment, "
                                                     "a payment); the summary counts duplicate_effects")
    calls: list["Call"] = Field(default_factory=list, description="downstream calls a worker makes, in sequence, "
                                "before its own service time; it is held while it waits (docs/call-graph.md)")

    @field_validator("violations", mode="before")
    @classmethod
    def _violations_str(cls, v):
        return {str(k): p for k, p in v.items()} if isinstance(v, dict) else v


class Queue(Model):
    limit: Annotated[int, Field(ge=0), WHOLE] | None = Field(None, description="queued attempts beyond the workers; None: unbounded")
    timeout: PosFloat | None = Field(None, description="seconds an attempt may wait in the queue before the API answers its timeout code")
    discipline: Literal["fifo", "lifo", "adaptive_lifo", "codel"] = Field("fifo", description="who a free worker serves next")
    lifo_above: Annotated[int, Field(ge=0), WHOLE] = Field(10, description="adaptive_lifo: serve newest first while more than this many wait")
    codel_target: PosFloat = Field(0.005, description="codel: queue delay past which waiting attempts are shed, seconds")
    codel_interval: PosFloat = Field(0.1, description="codel: shedding starts when the queue has not drained for this long, seconds")


class TokenBucketSpec(Model):
    rate: PosFloat = Field(description="tokens per second")
    burst: Annotated[float, Field(ge=1, allow_inf_nan=False), NUMBER, AfterValidator(_size)] = Field(description="bucket size, attempts")


class WindowSpec(Model):
    limit: Annotated[int, Field(ge=1), WHOLE] = Field(description="attempts admitted per window")
    window: PosFloat = Field(description="window length, seconds")


class RateLimit(Model):
    """One of ``token_bucket``, ``fixed_window``, ``sliding_log``, ``sliding_counter``, with its scope."""

    token_bucket: TokenBucketSpec | None = None
    fixed_window: WindowSpec | None = None
    sliding_log: WindowSpec | None = None
    sliding_counter: WindowSpec | None = None
    per: Literal["global", "tenant", "client"] = Field("global", description="one limiter for all, per tenant or per client")
    per_operation: StrictBool = Field(False, description="a separate limiter per operation")
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
    tiers: dict[str, Annotated[int, Field(ge=0), WHOLE] | None] = Field(description="tier → requests per period; null: unlimited")
    code: str | None = Field(None, description="code answered; default: the catalog's quota_code")


class CreditsSpec(Model):
    period: PosFloat = Field(86400.0, description="seconds between refills")
    tiers: dict[str, NonNegFloat] = Field(description="tier → credits per period")
    code: str = Field("ANALYTICS_1603", description="code answered when the credits are spent")


class TierLocks(Model):
    tiers: dict[str, list[str]] = Field(description="tier → operations it may not call")
    code: str = Field("ANALYTICS_1702", description="code answered (TIER_FEATURE_LOCKED)")


class RetryAfterSpec(Model):
    """What a refusal (rate limit, quota, credits) tells the client about when to come back.

    No seed document promises a Retry-After or a reset time, so the default
    sends none; a scenario that turns it on should say in a comment that it
    is an assumption. A string is short for ``{send: ...}``.
    """

    send: Literal["none", "header", "body"] = Field(
        "none", description="none; a Retry-After header (every client may read it); or the error body "
                            "(only clients that read the API's documented body: doc presets, custom policies)")
    value: Literal["reset", "fixed"] = Field(
        "reset", description="reset: seconds until the window resets (or the quota period ends); fixed: `seconds`")
    seconds: PosFloat | None = Field(None, description="the fixed hint, seconds (value: fixed)")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v):
        return {"send": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _fixed_needs_seconds(self):
        if (self.value == "fixed") != (self.seconds is not None):
            raise ValueError("give seconds exactly when value is fixed")
        return self


#: Operations a service may have (the recorder keeps an operation's index in 16 bits).
MAX_OPERATIONS = 10_000


class Service(Model):
    workers: Annotated[int, Field(ge=1, le=100_000), WHOLE] = Field(description="attempts served at once")
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
    retry_after: RetryAfterSpec = Field(default_factory=RetryAfterSpec,
                                        description="what refusals tell clients about when to come back")

    def rate_limits(self) -> list[RateLimit]:
        """The rate limiters, as a list (empty: none)."""
        rl = self.rate_limit
        return [] if rl is None else (list(rl) if isinstance(rl, list) else [rl])

    @field_validator("operations")
    @classmethod
    def _some_operation(cls, v):
        if not v:
            raise ValueError("needs at least one operation")
        if len(v) > MAX_OPERATIONS:
            raise ValueError(f"has {len(v):,} operations; at most {MAX_OPERATIONS:,} are allowed")
        return v


# ---------------------------------------------------------------- faults

class FlapSpec(Model):
    # Not `on`/`off`: YAML 1.1 reads those keys as booleans.
    mean_on: PosFloat = Field(description="mean seconds the incident is on (exponential)")
    mean_off: PosFloat = Field(description="mean seconds it is off (exponential)")


class RampSpec(Model):
    up: NonNegFloat = Field(description="seconds the rates take to rise to full")
    down: NonNegFloat = Field(description="seconds they take to fall back to zero")
    steps: Annotated[int, Field(ge=1, le=100), WHOLE] = Field(5, description="steps per ramp")


class EdgeRef(Model):
    """A call edge: every call the caller's operations make to the callee (``{caller: api, callee: aurora}``)."""

    caller: str = Field(description="the caller: api (the API itself) or a name under `services:`")
    callee: str = Field(description="the callee: a name under `services:`")


class IncidentSpec(Model):
    use: str | None = Field(None, description="a library incident (resilsim.server.incidents); other fields override it")
    start: NonNegFloat = Field(description="seconds from the start of the run")
    duration: PosFloat = Field(description="seconds")
    dependency: str | None = Field(None, description="fails only operations whose `uses` lists it")
    service: str | None = Field(None, description="a service under `services:` the incident strikes instead of the "
                                "API (docs/call-graph.md); its codes are then the generic SERVICE_ERROR, "
                                "SERVICE_OVERLOADED, SERVICE_TIMEOUT and its `operations` the service's")
    workers: Annotated[int, Field(ge=1, le=100_000), WHOLE] | None = Field(
        None, description="a capacity cut: the workers the service (or the API) has during the incident, at most "
        "its own (assumed figure); work in flight finishes, new attempts queue, and the workers come back after it")
    capacity: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False), NUMBER] | None = Field(
        None, description="a capacity cut as a share instead of workers: the service keeps this share of its workers "
        "(rounded down, at least 1) during the incident, so a sweep over its workers keeps the cut in proportion")
    edge: EdgeRef | None = Field(None, description="a network incident on the calls between two services instead "
                                 "(docs/call-graph.md): give latency and/or loss, and no code, slowdown or workers")
    latency: NetworkLatency | None = Field(None, description="with edge: extra network hops of each call attempt "
                                           "sent during the incident, as network.latency's")
    loss: Probability = Field(0.0, description="with edge: probability that a call attempt sent during the incident "
                              "is lost on its way to the callee (its caller sees a timeout)")
    flap: FlapSpec | None = None
    ramp: RampSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _library(cls, data):
        if isinstance(data, dict) and data.get("use") is not None:
            from ..server.incidents import LIBRARY
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
    slowdown: Annotated[float, Field(ge=1, allow_inf_nan=False), NUMBER, AfterValidator(_size)] = Field(1.0, description="service-time factor")
    name: str = ""

    @field_validator("code", mode="before")
    @classmethod
    def _code_str(cls, v):
        return None if v is None else str(v)

    @field_validator("rates", mode="before")
    @classmethod
    def _rates_str(cls, v):
        return {str(k): p for k, p in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _rates_sum(self):
        total = sum(self.all_rates().values())
        if total > 1.0:
            raise ValueError(f"the incident's error rates sum to {total:g}, above 1")
        return self

    def cut_workers(self, nominal: int) -> int | None:
        """The workers a service of ``nominal`` workers keeps during this incident (``workers``, or ``capacity`` ×
        nominal rounded down, at least 1); None when it cuts none."""
        if self.workers is not None:
            return self.workers
        if self.capacity is not None:
            return max(1, int(self.capacity * nominal + 1e-9))
        return None

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


class CurveArrival(Model):
    """A non-homogeneous Poisson process whose rate follows a file: :func:`resilsim.scenario.data.read_curve`."""

    file: str = Field(description="CSV or Parquet file: time (seconds) and rate (requests per second), relative to "
                                  "the scenario file; each rate holds until the next row's time, the last one to the end")
    scale: PosFloat = Field(1.0, description="multiply every rate by this")
    time_scale: PosFloat = Field(1.0, description="stretch the curve's time axis by this (2: a day lasts two)")


class ReplayArrival(Model):
    """Arrivals at the timestamps of a trace: :func:`resilsim.scenario.data.read_trace`."""

    file: str = Field(description="CSV or Parquet file: one column of timestamps (seconds, sorted), relative to the "
                                  "scenario file; replayed from the first one")
    time_scale: PosFloat = Field(1.0, description="stretch the trace's time axis by this (0.5: twice as fast)")
    rate_scale: PosFloat = Field(1.0, description="requests per timestamp on average: 0.5 keeps each with probability "
                                                  "1/2, 2 sends each twice")


class Arrival(Model):
    """Exactly one of ``poisson`` (a rate, with changes), ``curve`` (a rate curve from a file) or ``replay`` (a trace)."""

    poisson: Poisson | None = None
    curve: CurveArrival | None = None
    replay: ReplayArrival | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if sum(x is not None for x in (self.poisson, self.curve, self.replay)) != 1:
            raise ValueError("give exactly one of poisson, curve or replay")
        return self

    @property
    def changes(self) -> list:
        """The Poisson rate changes (none for a curve or a replay)."""
        return self.poisson.changes if self.poisson is not None else []


class ClosedClients(Model):
    """Closed-loop users (a load tester's): each sends a request, waits for it to end, thinks, sends the next."""

    users: Annotated[int, Field(ge=1, le=1_000_000), WHOLE] = Field(description="users, each with one request at a time")
    think: Latency | None = Field(None, description="think time between a request's end (any outcome) and the user's "
                                                    "next request, seconds (a latency distribution; none: 0)")
    ramp: NonNegFloat | None = Field(None, description="seconds over which the users start, evenly (user k at "
                                                       "k·ramp/users); or give spawn_rate; neither: all at 0")
    spawn_rate: PosFloat | None = Field(None, description="users started per second (user k at k/spawn_rate); or "
                                                          "give ramp")

    @model_validator(mode="after")
    def _one_ramp(self):
        if self.ramp is not None and self.spawn_rate is not None:
            raise ValueError("give ramp (seconds) or spawn_rate (users per second), not both")
        return self

    def start_of(self, k: int) -> float:
        """When user ``k`` (0-based) sends its first request, seconds."""
        if self.spawn_rate is not None:
            return k / self.spawn_rate
        if self.ramp:
            return k * self.ramp / self.users
        return 0.0


class Clients(Model):
    arrival: Arrival | None = Field(None, description="open arrivals (requests arrive whatever the service does); "
                                                      "give arrival, closed or both")
    closed: ClosedClients | None = Field(None, description="closed-loop users (the next request after the previous "
                                                           "ends, plus think time); give arrival, closed or both")
    timeout: PosFloat | None = Field(None, description="seconds a client waits for one attempt")
    deadline: PosFloat | None = Field(None, description="seconds a request may take, retries included")
    tenants: dict[str, Annotated[int, Field(ge=1, le=1_000_000), WHOLE]] | None = Field(
        None, description="tier → number of tenants; each request belongs to one, drawn uniformly")
    clients_per_tenant: Annotated[int, Field(ge=1, le=10_000), WHOLE] = Field(1, description="clients (API keys) per tenant")
    token_lifetime: PosFloat | None = Field(None, description="seconds a client's token stays valid; expired: the auth code")

    @property
    def changes(self) -> list:
        """The open arrivals' Poisson rate changes (none for a curve, a replay or closed-loop users only)."""
        return self.arrival.changes if self.arrival is not None else []

    @model_validator(mode="after")
    def _deadline_after_timeout(self):
        if self.arrival is None and self.closed is None:
            raise ValueError("give arrival (open arrivals), closed (closed-loop users) or both")
        if self.timeout and self.deadline and self.deadline < self.timeout:
            raise ValueError(f"deadline ({self.deadline} s) is shorter than the attempt timeout ({self.timeout} s)")
        return self


# ---------------------------------------------------------------- network (hops between clients and the API)

class NetworkLatency(Model):
    """Hop times: ``request`` (client → API; in an edge incident, caller → callee) and ``response`` (the way back),
    or ``round_trip`` (both together)."""

    request: Latency | None = Field(None, description="client → API hop of each attempt, seconds (none: 0)")
    response: Latency | None = Field(None, description="API → client hop of each answer, seconds (none: 0)")
    round_trip: Latency | None = Field(None, description="both hops together, seconds: drawn once per attempt and "
                                                         "split evenly between the two (instead of request/response)")

    @model_validator(mode="after")
    def _directions_or_round_trip(self):
        if self.round_trip is not None and (self.request is not None or self.response is not None):
            raise ValueError("give round_trip, or request and/or response, not both")
        if self.round_trip is None and self.request is None and self.response is None:
            raise ValueError("give request and/or response (one hop each), or round_trip")
        return self

    def specs(self) -> list:
        """The latency specs given, as ``(field name, Latency)``."""
        return [(k, getattr(self, k)) for k in ("request", "response", "round_trip") if getattr(self, k) is not None]


class Network(Model):
    """The network between clients and the API: every attempt crosses it both ways (docs/network-and-users.md)."""

    latency: NetworkLatency = Field(description="hop times per direction, or a round trip")


# ---------------------------------------------------------------- limits (runaway work; docs/reliability.md)

class Limits(Model):
    """Caps on one strategy's run: reaching one stops the run there, keeping its partial tables."""

    max_amplification: Annotated[float, Field(ge=1, le=1e6, allow_inf_nan=False), NUMBER] = Field(
        50.0, description="attempts per expected request (arrival rate × duration) before the run stops, the calls "
                          "between services (`services:`) counted with the clients' attempts; sets max_attempts when "
                          "that is not given")
    max_attempts: Annotated[int, Field(ge=1, le=10**12), WHOLE] | None = Field(
        None, description="attempts sent in one run, at every layer (the clients' and the calls between services); "
                          "default: max_amplification × expected requests, at least 10,000")
    max_events: Annotated[int, Field(ge=1, le=10**13), WHOLE] | None = Field(
        None, description="simulation events in one run; default: 20 × max_attempts")
    wall_s: PosFloat | None = Field(3600.0, description="wall-clock seconds one run may take; null: no limit")
    max_memory_mb: PosFloat | None = Field(
        4096.0, description="MiB the process's resident memory may grow during one run; null: no limit")


# ---------------------------------------------------------------- strategies

class ExponentialWait(Model):
    base: PosFloat = 1.0
    multiplier: Annotated[float, Field(ge=1, allow_inf_nan=False), NUMBER, AfterValidator(_size)] = 2.0
    cap: PosFloat | None = None


class LinearWait(Model):
    base: NonNegFloat = 0.0
    step: PosFloat = 1.0
    cap: PosFloat | None = None


class WaitSpec(Model):
    """One of ``none: true``, ``fixed: seconds``, ``linear: {...}``, ``exponential: {...}``."""

    none: StrictBool | None = None
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
    attempts: Annotated[int, Field(ge=1, le=1000), WHOLE] | None = Field(None, description="attempts in all, the first included")
    elapsed: PosFloat | None = Field(None, description="seconds since the request started")
    deadline: PosFloat | None = Field(None, description="no retry may start later than this, seconds")


class RetryOnSpec(Model):
    advice: StrictBool = Field(True, description="retry what the catalog's advice allows")
    status: list[Annotated[int, Field(ge=100, le=599), WHOLE]] = Field(default_factory=list)
    codes: list[str] = Field(default_factory=list)
    timeouts: StrictBool = Field(True, description="retry attempts the client timed out")

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
    retry_after: StrictBool = Field(False, description="honour the server's Retry-After when given")
    stop: StopSpec | None = None
    retry_on: RetryOnSpec | None = None
    reauth_delay: NonNegFloat = Field(0.5, description="seconds a token refresh takes")
    retry_probability: Probability = Field(1.0, description="a failure the policy would retry is retried with "
                                                            "this probability (0..1), else the request gives up")
    urllib3: dict[str, Any] | None = Field(
        None, description="urllib3.util.Retry arguments (and method: GET/POST...); urllib3's own code decides "
                          "every retry (resilsim.policies.adapters.from_urllib3); no other retry field with it")
    botocore: dict[str, Any] | None = Field(
        None, description="botocore Config retries (mode: standard/legacy/adaptive, max_attempts or "
                          "total_max_attempts; and service, amz_retry_after); botocore's own code decides every retry "
                          "and its quota (resilsim.policies.adapters.from_botocore); no other retry field with it")

    @field_validator("jitter_amount")
    @classmethod
    def _proportion(cls, v, info):
        # v · U(1 − amount, 1 + amount) would be a negative wait.
        if info.data.get("jitter") == "proportional" and v > 1:
            raise ValueError("is a fraction for proportional jitter; give at most 1")
        return v

    @field_validator("urllib3", "botocore")
    @classmethod
    def _library_alone(cls, v, info):
        # Field checks (declared last, so info.data holds the others), so the message names retry.urllib3 or
        # retry.botocore: the library's own object is the whole policy, built here for its own refusal.
        if v is None:
            return v
        fields = cls.model_fields
        others = [k for k, given in info.data.items() if given != fields[k].get_default(call_default_factory=True)]
        library = info.field_name
        if others:
            raise ValueError(f"{library} takes the whole retry policy from {library}; drop {', '.join(others)}")
        from ..policies import adapters
        getattr(adapters, f"from_{library}")(v)  # the library's own refusal (or the missing extra), one sentence
        return v


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
    min_retries: Annotated[int, Field(ge=0, le=1_000_000), WHOLE] = Field(3, description="retries in flight always allowed")


class BreakerGuard(Model):
    """A resilience4j-style circuit breaker: :class:`resilsim.policies.guards.CircuitBreaker`."""

    failure_rate: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False), NUMBER] = Field(
        0.5, description="failure rate (0..1] over the window at which the breaker opens")
    window: PosFloat = Field(100, description="sliding window: the last N calls (count) or seconds (time)")
    window_type: Literal["count", "time"] = Field("count", description="count or time sliding window")
    minimum_calls: Annotated[int, Field(ge=1, le=1_000_000), WHOLE] = Field(100, description="calls in the window before it may open")
    open_s: NonNegFloat = Field(60.0, description="seconds open (every call refused) before half-open")
    half_open_calls: Annotated[int, Field(ge=1, le=1_000_000), WHOLE] = Field(10, description="probe calls let through when half-open")
    retry_only: StrictBool = Field(False, description="refuse only retries while open (first attempts always go), as "
                                                "the retry circuit breaker of Brooker's 2022 post")


class RetryTokenBucketGuard(Model):
    """Brooker's retry token bucket (2022): :class:`resilsim.policies.guards.RetryTokenBucket`."""

    capacity: PosFloat = Field(5.0, description="tokens at the start and at most")
    deposit: NonNegFloat = Field(0.1, description="tokens each request adds when its first attempt goes")
    cost: PosFloat = Field(1.0, description="tokens a retry takes; retries go while the bucket holds more than this")


class RetryBreakerGuard(Model):
    """Brooker's retry circuit breaker with a cumulative ratio (2022): :class:`resilsim.policies.guards.RetryCircuitBreaker`."""

    max_failure_rate: NonNegFloat = Field(0.1, description="retries are refused while failed attempts ÷ requests, "
                                                           "counted over the whole run, exceeds this")


class ThrottleGuard(Model):
    """Google SRE book client-side adaptive throttling: :class:`resilsim.policies.guards.AdaptiveThrottle`."""

    k: PosFloat = Field(2.0, description="K: reject locally with p = max(0, (requests − K·accepts) / (requests + 1))")
    window: PosFloat = Field(120.0, description="seconds of history counted in requests and accepts")


class QuotaGuard(Model):
    """AWS SDK standard-mode retry quota: :class:`resilsim.policies.guards.RetryQuota`."""

    capacity: PosFloat = Field(500, description="tokens at the start and at most")
    cost: NonNegFloat = Field(5, description="tokens a retry costs")
    timeout_cost: NonNegFloat = Field(10, description="tokens a retry after a timeout costs")
    throttle_cost: NonNegFloat | None = Field(None, description="tokens a retry after a throttle (429) costs; "
                                                                "default: cost (botocore 1.44: cost 14, throttle 5)")
    refund: NonNegFloat = Field(1, description="tokens a success without retry gives back (a successful retry refunds its cost)")


class ClientRateGuard(Model):
    """AWS SDK adaptive mode's client-side rate limiter (CUBIC): :class:`resilsim.policies.guards.ClientRateLimiter`."""

    beta: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False), NUMBER] = Field(0.7, description="rate multiplier on a throttle")
    scale: PosFloat = Field(0.4, description="CUBIC scale constant")
    min_rate: PosFloat = Field(0.5, description="lowest send rate, requests per second")
    max_rate_scale: PosFloat = Field(2.0, description="the rate is capped at this × the measured send rate")
    smoothing: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False), NUMBER] = Field(0.8, description="EWMA weight of the newest measured rate")
    bucket_s: PosFloat = Field(0.5, description="seconds per bucket of the measured send rate")
    block: StrictBool = Field(True, description="an attempt with no token waits for one, as botocore does (false: "
                                          "it is refused and the request shed, as Java v2's fastFailRateLimiting)")


#: Guard kinds in the order they are consulted; the first refusal wins. The breaker comes last: a half-open
#: probe it lets through must report back, and one a later guard refused never would (it would stay
#: half-open). The budgets that charge on allow (ratio, quota) come after the ones that only look.
GUARD_KINDS = ("throttle", "client_rate", "token_bucket", "retry_ratio_breaker", "concurrency", "ratio",
               "retry_token_bucket", "quota", "breaker")


class GuardsSpec(Model):
    """Client-side guards of a strategy, one key per guard kind (each a class of resilsim.policies.guards)."""

    breaker: BreakerGuard | None = None
    throttle: ThrottleGuard | None = None
    client_rate: ClientRateGuard | None = None
    token_bucket: TokenBucketGuard | None = None
    ratio: RatioGuard | None = None
    concurrency: ConcurrencyGuard | None = None
    quota: QuotaGuard | None = None
    retry_token_bucket: RetryTokenBucketGuard | None = None
    retry_ratio_breaker: RetryBreakerGuard | None = None
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
    max_extra: Annotated[int, Field(ge=1, le=4), WHOLE] = Field(1, description="extra copies at most (gRPC caps attempts at 5)")


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


class Call(StrategySpec):
    """One downstream call an operation makes: the callee, and the caller's retry strategy, timeout and guards for it."""

    service: str = Field(description="the callee: a name under `services:`")
    operation: str = Field(description="the callee's operation")
    on_failure: str | None = Field(None, description="the API's code its operation answers when this call finally "
                                   "fails (e.g. ANALYTICS_1900 for the database); required on the API's calls, not "
                                   "allowed on a service's (a service answers a generic error)")
    propagate_deadline: StrictBool = Field(True, description="the callee's deadline is at most the caller's remaining "
                                           "time (the caller's attempt timeout and request deadline), as gRPC does")
    probability: Probability = Field(1.0, description="share of the operation's attempts that make this call "
                                     "(drawn per attempt); the others skip it")
    count: Annotated[int, Field(ge=1, le=100), WHOLE] = Field(1, description="times the call is made, one after "
                                                              "the other (a loop over items); in a parallel group, "
                                                              "that many copies at once")
    parallel: Union[StrictBool, Literal["first"], Annotated[int, Field(ge=1, le=10_000), WHOLE]] = Field(
        False, description="made at once with the neighbouring calls that also give parallel (the same value): true "
        "waits for all of them (the first to fail finally fails the operation); first waits for the first success "
        "(the operation fails when every one has); a number k waits for k successes (a quorum; it fails once k can "
        "no longer be reached). Calls it no longer waits for run on, unwaited")

    @field_validator("parallel", mode="before")
    @classmethod
    def _parallel_kind(cls, v):
        if isinstance(v, bool) or v == "first" or (isinstance(v, int) and v >= 1):
            return v
        raise ValueError("give true (wait for all), first (the first success), a number of successes to wait for "
                         "(a quorum, at least 1) or false")

    @model_validator(mode="after")
    def _no_hedge(self):
        if self.hedge is not None:
            raise ValueError("hedge: hedged calls between services are not modelled yet")
        if self.guards is not None and (self.guards.scope != "population" or isinstance(self.guards.failures, list)):
            raise ValueError("guards: a call's guards take scope population and failures all or retryable")
        return self


class BackendService(Service):
    """A service behind the API (`services:`): the API's capacity options, generic answers, its own calls."""

    error_rate: Probability = Field(0.0, description="probability per attempt of a generic error, always (assumed: "
                                    "a scenario choice; the seeds document no codes of their own for these services)")

    @model_validator(mode="after")
    def _capacity_only(self):
        for name in ("rate_limit", "quota", "credits", "locks"):
            if getattr(self, name) is not None:
                raise ValueError(f"{name}: not modelled for a service behind the API yet; it takes workers, queue, "
                                 "operations, processing_timeout, load_latency, shed, reject_cost and error_rate")
        if self.processing_timeout is not None and self.processing_timeout.code is not None:
            raise ValueError("processing_timeout.code: a service behind the API answers a generic timeout")
        if "retry_after" in self.model_fields_set:
            raise ValueError("retry_after: a service behind the API has no rate limit to send a hint from")
        for name, op in self.operations.items():
            for field in ("weight", "uses", "violations", "credits", "idempotent"):
                if field in op.model_fields_set:
                    raise ValueError(f"operations.{name}.{field}: not read for a service behind the API (its "
                                     "operations take latency and calls)")
        return self


# ---------------------------------------------------------------- the scenario

#: Incident windows a run may have: each flapping on-period and ramp step is one, all drawn and compiled into
#: the fault schedule before the run starts, at a cost that grows with their square.
MAX_WINDOWS = 2_000


def _find_cycle(edges: dict[str, set]) -> list[str] | None:
    """A cycle in the caller → callee graph ``edges`` as a list of names (first repeated last), or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n):
        state[n] = 1
        path.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state and (found := visit(n)):
            return found
    return None


def _windows(inc: IncidentSpec) -> float:
    """The windows ``inc`` expands to: its expected on-periods when it flaps, its steps when it ramps, else 1."""
    if inc.flap is not None:
        return inc.duration / (inc.flap.mean_on + inc.flap.mean_off) + 1
    if inc.ramp is not None:
        return 2 * inc.ramp.steps + 1
    return 1


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
    network: Network | None = Field(None, description="hops between clients and the API (none: answers arrive at once)")
    services: dict[str, BackendService] = Field(default_factory=dict, description="services behind the API, by name, "
                                                "which operations' `calls` reach (docs/call-graph.md)")
    strategies: dict[str, StrategySpec] = Field(default_factory=lambda: {"none": StrategySpec()})
    limits: Limits = Field(default_factory=Limits, description="caps on runaway work (docs/reliability.md)")

    @model_validator(mode="after")
    def _consistent(self):
        if self.warmup >= self.duration:
            raise ValueError(f"warmup ({self.warmup} s) must be shorter than duration ({self.duration} s)")
        for i, inc in enumerate(self.faults.incidents):
            if inc.start >= self.duration:
                raise ValueError(f"faults.incidents[{i}] starts at {inc.start} s, after the run ends ({self.duration} s)")
            if inc.edge is not None:
                self._consistent_edge_incident(i, inc)
                continue
            if inc.latency is not None or inc.loss:
                raise ValueError(f"faults.incidents[{i}]: latency and loss are for a network incident between two "
                                 "services; give edge: {caller, callee} with them")
            if inc.code is None and not inc.rates and inc.slowdown == 1.0 and inc.cut_workers(1) is None:
                raise ValueError(f"faults.incidents[{i}] needs a code, rates, a slowdown, workers or capacity")
            if inc.workers is not None or inc.capacity is not None:
                self._consistent_worker_cut(i, inc)
            if inc.service is not None:
                self._consistent_service_incident(i, inc)
                continue
            for op in inc.operations:
                if op not in self.service.operations:
                    raise ValueError(f"faults.incidents[{i}].operations: unknown operation {op!r}; "
                                     f"known: {', '.join(self.service.operations)}")
        windows = sum(_windows(inc) for inc in self.faults.incidents)
        if windows > MAX_WINDOWS:
            raise ValueError(f"faults.incidents: about {windows:,.0f} incident windows (flapping on-periods and ramp "
                             f"steps), more than the {MAX_WINDOWS:,} allowed; give flapping incidents longer mean_on "
                             "and mean_off or shorter durations")
        if not self.strategies:
            raise ValueError("strategies: give at least one strategy")
        if any(not name.strip() for name in self.strategies):
            raise ValueError("strategies: a strategy's name must not be empty")
        self._consistent_api_side()
        self._consistent_calls()
        return self

    def _consistent_worker_cut(self, i: int, inc: IncidentSpec):
        # A capacity cut: the whole service's workers (not some operations'), at most as many as it has.
        at = f"faults.incidents[{i}].{'workers' if inc.workers is not None else 'capacity'}"
        if inc.workers is not None and inc.capacity is not None:
            raise ValueError(f"faults.incidents[{i}].capacity: give workers (a count) or capacity (a share), not both")
        if inc.operations or inc.dependency is not None:
            raise ValueError(f"{at}: a capacity cut takes workers from the whole service; give it in an incident "
                             "without operations or dependency")
        if inc.service is None:
            whose, have = "the API (service.workers)", self.service.workers
        elif inc.service in self.services:
            whose, have = f"service {inc.service!r}", self.services[inc.service].workers
        else:
            return  # the unknown service is named by _consistent_service_incident
        if inc.workers is not None and inc.workers > have:
            raise ValueError(f"{at}: {inc.workers} workers during the incident, more than the {have} of {whose}; "
                             "a capacity cut leaves fewer")

    def _consistent_edge_incident(self, i: int, inc: IncidentSpec):
        # A network incident between two services: a caller and callee with calls between them; latency or loss only.
        at = f"faults.incidents[{i}]"
        others = [name for name, given in (("code", inc.code is not None), ("rates", bool(inc.rates)),
                                           ("slowdown", inc.slowdown != 1.0), ("workers", inc.workers is not None),
                                           ("capacity", inc.capacity is not None),
                                           ("service", inc.service is not None), ("operations", bool(inc.operations)),
                                           ("dependency", inc.dependency is not None), ("ramp", inc.ramp is not None))
                  if given]
        if others:
            raise ValueError(f"{at}.{others[0]}: a network incident on an edge takes latency, loss and flap only")
        if inc.latency is None and not inc.loss:
            raise ValueError(f"{at}: a network incident on an edge needs latency, loss or both")
        caller, callee = inc.edge.caller, inc.edge.callee
        if caller != "api" and caller not in self.services:
            raise ValueError(f"{at}.edge.caller: unknown caller {caller!r}; callers: "
                             f"{', '.join(['api', *self.services])}")
        if callee not in self.services:
            known = ", ".join(self.services) or "none declared"
            raise ValueError(f"{at}.edge.callee: unknown service {callee!r}; services: {known}")
        svc = self.service if caller == "api" else self.services[caller]
        reached = sorted({c.service for o in svc.operations.values() for c in o.calls})
        if callee not in reached:
            raise ValueError(f"{at}.edge: {caller} makes no call to {callee}; its calls reach: "
                             f"{', '.join(reached) or 'none'}")

    def _consistent_service_incident(self, i: int, inc: IncidentSpec):
        # An incident on a service behind the API: a declared service, its operations, its generic codes.
        at = f"faults.incidents[{i}]"
        if inc.service not in self.services:
            known = ", ".join(self.services) or "none declared"
            raise ValueError(f"{at}.service: unknown service {inc.service!r}; services: {known}")
        ops = self.services[inc.service].operations
        for op in inc.operations:
            if op not in ops:
                raise ValueError(f"{at}.operations: service {inc.service!r} has no operation {op!r}; "
                                 f"its operations: {', '.join(ops)}")
        generic = ("SERVICE_ERROR", "SERVICE_OVERLOADED", "SERVICE_TIMEOUT")
        for c in inc.all_rates():
            if c not in generic:
                raise ValueError(f"{at}.code: a service behind the API answers {', '.join(generic)}, not {c!r} "
                                 "(the API answers its calls' on_failure code)")
        if inc.dependency is not None:
            raise ValueError(f"{at}.dependency: an incident on a service strikes the service itself; give "
                             "dependency only for an incident on the API")

    def _consistent_calls(self):
        # Every call names a declared service and operation; the API's calls name a code, services' do not; no cycle.
        if "api" in self.services:
            raise ValueError("services.api: 'api' names the API itself (in Result.services()); give the service "
                             "another name")
        edges: dict[str, set] = {}
        for where, owner, svc in [("service", "API", self.service)] + [
                (f"services.{n}", n, s) for n, s in self.services.items()]:
            for op, spec in svc.operations.items():
                for i, c in enumerate(spec.calls):
                    at = f"{where}.operations.{op}.calls[{i}]"
                    if c.service not in self.services:
                        known = ", ".join(self.services) or "none declared"
                        raise ValueError(f"{at}.service: unknown service {c.service!r}; services: {known}")
                    ops = self.services[c.service].operations
                    if c.operation not in ops:
                        raise ValueError(f"{at}.operation: service {c.service!r} has no operation {c.operation!r}; "
                                         f"its operations: {', '.join(ops)}")
                    if owner == "API" and c.on_failure is None:
                        raise ValueError(f"{at}.on_failure: give the API's code its operation answers when the call "
                                         "finally fails (e.g. ANALYTICS_1900 for the database)")
                    if owner != "API" and c.on_failure is not None:
                        raise ValueError(f"{at}.on_failure: a service behind the API answers a generic error; "
                                         "on_failure is for the API's calls")
                    edges.setdefault(owner, set()).add(c.service)
                self._consistent_parallel(f"{where}.operations.{op}", spec.calls)
        cycle = _find_cycle(edges)
        if cycle:
            raise ValueError(f"services: the calls form a cycle ({' -> '.join(cycle)}); a call graph must have none")

    @staticmethod
    def _consistent_parallel(at: str, calls: list):
        # A parallel group (consecutive calls giving parallel) waits in one way, for a quorum it can reach.
        k = 0
        while k < len(calls):
            if calls[k].parallel is False:
                k += 1
                continue
            first, size = k, 0
            while k < len(calls) and calls[k].parallel is not False:
                if calls[k].parallel != calls[first].parallel or type(calls[k].parallel) is not type(
                        calls[first].parallel):
                    raise ValueError(f"{at}.calls[{k}].parallel: a parallel group waits in one way; give the same "
                                     f"parallel as calls[{first}] ({calls[first].parallel!r}) or start a new group "
                                     "after a call without it")
                size += calls[k].count
                k += 1
            mode = calls[first].parallel
            if mode is not True and mode != "first" and mode > size:
                raise ValueError(f"{at}.calls[{first}].parallel: a quorum of {mode} can never be met by a group of "
                                 f"{size} call{'s' if size != 1 else ''}; give at most {size}")

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
            if inc.dependency and inc.service is None and uses and inc.dependency not in uses:
                raise ValueError(f"faults.incidents[{i}].dependency: no operation uses {inc.dependency!r}; "
                                 f"operations use: {', '.join(sorted(uses))}")
        for c in self.clients.changes:
            if c.start >= self.duration:
                raise ValueError(f"clients.arrival.poisson.changes: a change starts at {c.start} s, after the run ends")


@functools.cache
def complete_models() -> None:
    """Resolve the forward references of the models that name models defined after them (their fields'
    annotations, which :mod:`.load`'s messages and :mod:`.reference` walk), once. Validation does not need
    it (a model resolves them when it first validates)."""
    for model in (Operation, IncidentSpec, Service, BackendService, Scenario):
        model.model_rebuild()
