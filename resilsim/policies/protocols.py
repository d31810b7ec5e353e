"""What a policy piece of one's own must offer: the protocols the built-in waits, stops, retry-on rules and guards follow.

A custom piece is a plain Python object; subclassing the built-in base class
(:class:`~resilsim.policies.waits.Wait`, :class:`~resilsim.policies.stops.Stop`,
:class:`~resilsim.policies.retry.RetryOn`, :class:`~resilsim.policies.guards.Guard`)
is optional and only brings defaults (``describe``, combining with ``+``/``|``,
guard hooks that do nothing). Pieces never read a clock: times come as
arguments (seconds), random numbers from the ``rng`` given (its ``random()``),
so the same object runs in the simulator and in a real client.

Put them together in a :class:`resilsim.policies.build.Strategy` and pass it to
:func:`resilsim.simulate` or :func:`resilsim.sweep` with ``strategies={"name":
strategy}`` (docs/strategies.md, "Policies of your own").
"""
from __future__ import annotations

import pickle
from typing import Protocol, runtime_checkable

from ..errors import PolicyError


@runtime_checkable
class WaitLike(Protocol):
    """A backoff schedule: seconds to wait before retry number ``attempt`` (1 = the first retry)."""

    def __call__(self, attempt: int, previous: float, rng) -> float:
        """Seconds before the next attempt; ``previous``: the last wait (seconds); draws only from ``rng``."""

    def describe(self) -> dict:
        """Flat parameters for result rows (keys such as ``wait``, ``wait_base``)."""


@runtime_checkable
class StopLike(Protocol):
    """A stop condition: whether a request stops retrying."""

    bounded: bool  # True when this condition alone guarantees that retries end

    def __call__(self, attempt: int, elapsed: float, next_wait: float) -> bool:
        """True to stop after ``attempt`` attempts, ``elapsed`` seconds, the next wait being ``next_wait`` seconds."""

    def describe(self) -> dict:
        """Flat parameters for result rows (keys such as ``stop_attempts``)."""


@runtime_checkable
class RetryOnLike(Protocol):
    """Which failures to retry: called once per error code of the run (a :class:`resilsim.catalog.ErrorCode`)."""

    def __call__(self, code) -> bool:
        """True to retry ``code`` (``code.code`` is ``"TIMEOUT"`` for a client-side timeout)."""

    def describe(self) -> str:
        """A short label for result rows."""


@runtime_checkable
class GuardLike(Protocol):
    """A client-side guard, shared by the requests of one population (or tenant, or client) for one run.

    ``now`` is seconds. Optional hooks (see :class:`~resilsim.policies.guards.Guard`):
    ``on_attempt_start(now, is_retry)`` / ``on_attempt_end(now, is_retry)``,
    ``blocks`` with ``take(now)`` / ``wait(now)``, ``hears_throttles`` (then
    ``on_result`` takes a fifth argument, ``throttled``), ``kind``.
    """

    def allow_request(self, now: float, rng=None) -> bool:
        """Whether a request may send its first attempt (False: it ends ``shed``)."""

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        """Whether a request may retry (False: it ends ``shed``); ``timeout``: the failure was a timeout."""

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False) -> None:
        """Hear how one attempt ended."""

    def describe(self) -> dict:
        """Flat parameters for result rows (``guard``: its kind, then its parameters)."""


#: What each protocol needs an object to have (the rest has defaults).
_NEEDS = {"WaitLike": ("__call__", "describe"), "StopLike": ("__call__", "describe", "bounded"),
          "RetryOnLike": ("__call__", "describe"), "GuardLike": ("allow_request", "allow_retry", "on_result", "describe")}


def _check(name: str, what: str, obj, proto) -> None:
    gone = [n for n in _NEEDS[proto.__name__]
            if not (hasattr(obj, n) if n == "bounded" else callable(getattr(obj, n, None)))]
    if gone:
        raise PolicyError(f"strategy {name!r}: its {what} {obj!r} does not follow resilsim.policies.protocols."
                          f"{proto.__name__}: it lacks {', '.join(gone)}")


def parts(strategy) -> list[tuple[str, object]]:
    """``(what, object)`` for every piece of ``strategy`` a user may supply: wait, stop, retry_on, each guard."""
    p = strategy.policy
    out = [("retry policy", p)]
    for what in ("wait", "stop", "retry_on"):
        if hasattr(p, what):
            out.append((what, getattr(p, what)))
    for i, g in enumerate(strategy.make_guards()):
        out.append((f"guard #{i + 1}", g))
    return out


def check_strategy(strategy) -> None:
    """Raise :class:`~resilsim.errors.PolicyError` naming the first piece of ``strategy`` that breaks its protocol."""
    p = strategy.policy
    if not callable(getattr(p, "plan", None)) or not hasattr(p, "reauth_delay"):
        raise PolicyError(f"strategy {strategy.name!r}: its policy {p!r} is not a resilsim.policies.RetryPolicy "
                          f"(put a wait, stop or retry_on of your own in RetryPolicy(wait=..., stop=..., retry_on=...))")
    for what, proto in (("wait", WaitLike), ("stop", StopLike), ("retry_on", RetryOnLike)):
        _check(strategy.name, what, getattr(p, what), proto)
    for i, g in enumerate(strategy.make_guards()):
        _check(strategy.name, f"guard #{i + 1}", g, GuardLike)


def check_picklable(strategy, dumps=pickle.dumps) -> None:
    """Raise :class:`~resilsim.errors.PolicyError` naming the piece of ``strategy`` that ``dumps`` cannot serialise
    to send it to a worker process (``pickle.dumps`` for a process pool; Dask's ``cloudpickle.dumps``)."""
    try:
        dumps(strategy)
        return
    except Exception as e:  # noqa: BLE001 - any pickling failure is reported the same way
        err = e
    culprit = ("strategy", strategy)
    if not callable(strategy.guards):
        for what, obj in parts(strategy):
            try:
                dumps(obj)
            except Exception as e:  # noqa: BLE001
                culprit, err = (what, obj), e
                if what != "retry policy":
                    break
    else:
        culprit = ("guards factory", strategy.guards)
    raise PolicyError(f"strategy {strategy.name!r}: its {culprit[0]} {culprit[1]!r} cannot be pickled to send it to "
                      f"sweep workers ({type(err).__name__}: {err}); define its class at the top level of an importable "
                      f"module (not in a function or a notebook cell's lambda), or sweep with executor='inprocess'")
