"""From a scenario's strategy specs to the pure client-side objects of one run.

The client-side twin of :mod:`resilsim.server.build`: a validated
``strategies.NAME`` entry becomes a :class:`Strategy` (a retry policy, guard
factories, hedging, timeouts). Specs are read by attribute, so this module
never imports the scenario's schema (layers run one way: scenario → policies).
"""
from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any, NamedTuple

from . import guards as G
from . import stops, waits
from .guards import Guards
from .presets import PRESETS, preset
from .retry import RetryPolicy, by_advice, on_codes, on_status, retry_after


def library_presets() -> dict:
    """``resilsim.policies.library.LIBRARY`` (name → callable returning a ``LibraryPreset``); {} without that module."""
    import importlib.util
    if importlib.util.find_spec("resilsim.policies.library") is None:
        return {}
    from .library import LIBRARY
    return LIBRARY


def preset_source(name: str) -> str | None:
    """``"doc"`` for a doc or naive preset (resilsim.policies.PRESETS), ``"library"`` for a library preset, else None."""
    if name in PRESETS:
        return "doc"
    return "library" if name in library_presets() else None


def _preset_policy(name: str):
    # Doc presets first: a library preset of the same name never shadows them.
    lib = library_presets()
    if name not in PRESETS and name in lib:
        return lib[name]().policy
    return preset(name)  # KeyError naming the known ones when unknown


class Strategy(NamedTuple):
    """A scenario's strategy as objects: what :func:`resilsim.simulate` runs for it.

    ``guards`` is None, a zero-argument callable returning a list of fresh
    guard objects, or a list of guard objects used as templates (each run,
    tenant or client with ``scope`` gets deep copies: no state passes
    between runs, and a list pickles into sweep workers where a lambda may
    not); ``failures`` says which answers the guards count as
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
        if self.guards is None:
            return []
        return list(self.guards()) if callable(self.guards) else copy.deepcopy(list(self.guards))

    def describe(self) -> dict:
        """Flat parameters for result rows: the policy's, each guard's as ``kind_param``, the scope and hedging."""
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
                  "ratio": "RatioBudget", "concurrency": "ConcurrencyBudget", "quota": "RetryQuota",
                  "retry_token_bucket": "RetryTokenBucket", "retry_ratio_breaker": "RetryCircuitBreaker"}


def build_guards(spec):
    """A zero-argument callable making fresh guard objects for ``spec`` (None when it names no guard).

    Every YAML field is the constructor argument of the same name
    (``breaker: {open_s: 10}`` → ``CircuitBreaker(open_s=10, ...)``).
    """
    made = [(getattr(G, _GUARD_CLASSES[k]), getattr(spec, k).model_dump()) for k in spec.kinds()]
    if not made:
        return None
    return lambda: [cls(**params) for cls, params in made]


def build_strategy(spec, name: str = "custom", clients=None) -> Strategy:
    """The :class:`Strategy` a validated ``strategies.NAME`` entry describes; ``clients``: the scenario's.

    ``spec`` is a :class:`resilsim.scenario.StrategySpec` (for a preset name
    or a plain dict, :func:`resilsim.scenario.build_strategy` validates first).

    A library preset (``retry: grpc`` or ``retry: {preset: grpc, ...}``)
    brings its own guards unless the strategy gives its own.
    Timeouts, most specific first: the strategy's own ``timeout`` /
    ``deadline``; else ``clients.timeout`` / ``clients.deadline``; else the
    library preset's own defaults (``attempt_timeout``, and ``timeout`` as
    the request deadline), so a scenario that sets none runs each library as
    it ships; else none. Without ``clients`` the scenario is taken to set none.
    """
    policy = build_policy(spec.retry, name)
    preset_name = spec.retry if isinstance(spec.retry, str) else spec.retry.preset
    lib = library_presets().get(preset_name) if preset_name and preset_source(preset_name) == "library" else None
    lib = lib() if lib is not None else None
    if lib is None and getattr(spec.retry, "botocore", None) is not None:
        from .adapters import from_botocore
        lib = from_botocore(spec.retry.botocore, name=name)  # its quota (and limiter) and its read timeout
    g = spec.guards
    guards = build_guards(g) if g is not None else None
    if guards is None and lib is not None and getattr(lib, "guards", None) is not None and lib.guards():
        guards = lib.guards
    hedge = (spec.hedge.delay, spec.hedge.max_extra) if spec.hedge is not None else None
    timeout, deadline = spec.timeout, spec.deadline
    if lib is not None:
        if timeout is None and (clients is None or clients.timeout is None):
            timeout = getattr(lib, "attempt_timeout", None)
        if deadline is None and (clients is None or clients.deadline is None):
            deadline = getattr(lib, "timeout", None)
    return Strategy(name, policy, guards, g.scope if g else "population", g.failures if g else "all", hedge,
                    timeout, deadline)


def build_policy(spec, name: str = "custom"):
    """The pure :class:`resilsim.policies.RetryPolicy` a scenario's ``retry:`` field describes.

    ``spec`` is a preset name or a validated ``RetrySpec``.
    """

    if isinstance(spec, str):
        return _preset_policy(spec)
    if spec.urllib3 is not None:
        from .adapters import from_urllib3
        return from_urllib3(spec.urllib3, name=name).policy
    if getattr(spec, "botocore", None) is not None:
        from .adapters import from_botocore
        return from_botocore(spec.botocore, name=name).policy
    base = _preset_policy(spec.preset) if spec.preset else None
    changes: dict = {"reauth_delay": spec.reauth_delay, "name": spec.preset or name,
                     "retry_probability": spec.retry_probability}
    if spec.wait is not None or spec.jitter != "none" or spec.retry_after:
        w = spec.wait
        if w is None:
            wait = waits.none()
        elif w.fixed is not None:
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
            wait = retry_after(wait)
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
            preds.append(by_advice())
        if r.status:
            preds.append(on_status(*r.status))
        if r.codes:
            preds.append(on_codes(*r.codes))
        changes["retry_timeouts"] = r.timeouts
        if r.timeouts:
            preds.append(on_codes("TIMEOUT"))
        if not preds:
            preds.append(on_codes())
        pred = preds[0]
        for p in preds[1:]:
            pred = pred | p
        changes["retry_on"] = pred
    policy = base or RetryPolicy()
    return dataclasses.replace(policy, **changes)
