"""A user's own urllib3 ``Retry`` object, simulated as it is: urllib3's code answers every decision.

``from_urllib3(retry)`` turns ``urllib3.util.Retry(total=5, backoff_factor=0.5,
status_forcelist=[429, 503])`` into a :class:`Urllib3Policy`. Which codes are
retried (``Retry.is_retry``, and ``Retry.increment`` for read timeouts and
non-idempotent methods), when a request gives up (``Retry.increment`` raising
``MaxRetryError``) and how long it waits (``Retry.get_backoff_time``) are asked
of urllib3 itself, in simulated time: nothing sleeps. urllib3 is an optional
extra (``pip install resilsim[urllib3]``); without it, one sentence says so.

Two things urllib3 cannot be asked: the jitter's draw (urllib3 draws
``backoff_jitter`` from the random module; here it comes from the
simulation's seeded rng, ``min(backoff_max, backoff + U(0, jitter))`` as
urllib3 computes it), and the mix of failures of one request (a stop is
asked by replaying the request's failures as the kind of the latest one:
exact when a request fails the same way each time).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .library import LibraryPolicy, LibraryPreset
from .retry import AFTER_RESET, FAIL, RETRY, CodePlan, RetryAfter, RetryOn
from .stops import Stop
from .waits import NoWait, Wait

#: The extra that installs urllib3 for the adapter.
URLLIB3_EXTRA = "resilsim[urllib3]"


class MissingLibraryError(ImportError, ValueError):
    """An adapter whose library is not installed; the message names the extra to install.

    A ``ValueError`` too, so a scenario naming the adapter is rejected with that one sentence.
    """


def _urllib3():
    try:
        import urllib3.exceptions
        import urllib3.response
        import urllib3.util.retry
    except ImportError:
        raise MissingLibraryError(f"from_urllib3 needs urllib3: pip install '{URLLIB3_EXTRA}'") from None
    return urllib3


def _failures(retry, method: str, status: int | None, n: int):
    """``retry`` after ``n`` failures of ``method``, each a ``status`` response or (None) a read timeout.

    Raises urllib3's ``MaxRetryError`` (or the read error itself) where urllib3 would give up.
    """
    u = _urllib3()
    for _ in range(n):
        if status is None:
            retry = retry.increment(method=method, url="/",
                                    error=u.exceptions.ReadTimeoutError(None, "/", "read timed out"))
        else:
            response = u.response.HTTPResponse(status=status, preload_content=False)
            retry = retry.increment(method=method, url="/", response=response)
    return retry


def _gives_up(retry, method: str, status: int | None, n: int) -> bool:
    u = _urllib3()
    try:
        _failures(retry, method, status, n)
    except (u.exceptions.MaxRetryError, u.exceptions.ReadTimeoutError):
        return True
    return False


class _Half:
    """An rng that draws 0.5 (for checking arguments only)."""

    @staticmethod
    def random() -> float:
        return 0.5


@dataclass(frozen=True)
class Urllib3Wait(Wait):
    """``Retry.get_backoff_time()`` after ``attempt`` failures of the request (seconds); jitter from the rng."""

    retry: Any
    method: str = "GET"
    status: int | None = None

    @property
    def cap(self):
        return float(self.retry.backoff_max)

    def __call__(self, attempt, previous, rng):
        r = _failures(self.retry.new(backoff_jitter=0.0, total=None, connect=None, read=None, status=None,
                                     other=None, redirect=None), self.method, self.status, attempt)
        v = r.get_backoff_time()
        jitter = self.retry.backoff_jitter
        if jitter:
            v = min(self.retry.backoff_max, v + rng.random() * jitter)
        return v

    def describe(self):
        return {"wait": "urllib3", "wait_base": self.retry.backoff_factor, "wait_cap": self.retry.backoff_max,
                "jitter_amount": self.retry.backoff_jitter}


@dataclass(frozen=True)
class Urllib3Stop(Stop):
    """Stop when urllib3 gives up: ``Retry.increment`` raises after ``attempt`` such failures."""

    retry: Any
    method: str = "GET"
    status: int | None = None

    def __call__(self, attempt, elapsed, next_wait):
        return _gives_up(self.retry, self.method, self.status, attempt)

    @property
    def bounded(self):
        r = self.retry
        return r.total is not None or (r.read is not None and r.status is not None)

    def describe(self):
        return {"stop_attempts": None if self.retry.total is None else self.retry.total + 1}


@dataclass(frozen=True, slots=True)
class _Urllib3Asks(RetryOn):
    """Placeholder predicate for result rows: the decisions are urllib3's (see :class:`Urllib3Policy`)."""

    def __call__(self, code):  # pragma: no cover - Urllib3Policy.plan decides
        return False

    def describe(self):
        return "urllib3"


@dataclass(frozen=True)
class Urllib3Policy(LibraryPolicy):
    """A :class:`LibraryPolicy` whose every decision is the user's urllib3 ``Retry`` object's.

    ``retry`` is the ``urllib3.util.Retry``; ``method`` the HTTP method of the
    simulated requests (urllib3 retries no POST by default).
    """

    retry: Any = None
    method: str = "GET"

    def plan(self, code) -> CodePlan:
        """Ask urllib3 once per code: retried always, only with Retry-After, or never."""
        r, m = self.retry, self.method
        if code.code == "TIMEOUT":
            if _gives_up(r, m, None, 1):
                return CodePlan(FAIL, self.wait, self.stop, False)
            return CodePlan(RETRY, Urllib3Wait(r, m, None), Urllib3Stop(r, m, None), False)
        wait = Urllib3Wait(r, m, code.http)
        stop = Urllib3Stop(r, m, code.http)
        honours = bool(r.respect_retry_after_header)
        if r.is_retry(m, code.http, False):
            return CodePlan(RETRY, RetryAfter(wait) if honours else wait, stop, honours)
        if r.is_retry(m, code.http, True):
            # decide() retries an AFTER_RESET plan only with the server's hint, after exactly that long.
            return CodePlan(AFTER_RESET, RetryAfter(wait), stop, True)
        return CodePlan(FAIL, self.wait, self.stop, False)

    def describe(self) -> dict:
        d = {"retry": self.name, **Urllib3Wait(self.retry, self.method).describe(),
             **Urllib3Stop(self.retry, self.method).describe(), "retry_on": "urllib3",
             "method": self.method, "status_forcelist": ",".join(map(str, sorted(self.retry.status_forcelist or ())))}
        return d


def from_urllib3(retry=None, *, method: str = "GET", name: str = "urllib3-adapter") -> LibraryPreset:
    """A preset whose decisions are ``retry``'s (a ``urllib3.util.Retry``, an int or a dict of its arguments).

    An int or None is what urllib3 makes of it (``Retry.from_int``); a dict is
    ``Retry(**dict)`` (YAML: ``retry: {urllib3: {total: 5, backoff_factor: 0.5}}``;
    its ``method`` key, if any, is the requests' HTTP method, default GET), and
    arguments urllib3 refuses raise ``ValueError`` with urllib3's own message.
    The preset has no guards and no timeouts (urllib3 sets none).
    """
    u = _urllib3()
    Retry = u.util.retry.Retry
    if isinstance(retry, dict):
        kw = dict(retry)
        method = str(kw.pop("method", method))
        try:
            retry = Retry(**kw)
        except (TypeError, ValueError) as e:
            raise ValueError(f"urllib3.Retry refuses these arguments: {e}") from None
    elif not isinstance(retry, Retry):
        retry = Retry.from_int(retry)
    try:
        # urllib3 checks its arguments only when it counts a failure: count one of each kind now.
        _gives_up(retry, method.upper(), None, 1)
        for status in (503, 429):
            _gives_up(retry, method.upper(), status, 1)
            Urllib3Wait(retry, method.upper(), status)(2, 0.0, _Half())
    except (TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"urllib3.Retry cannot use these arguments: {e}") from None
    policy = Urllib3Policy(wait=NoWait(), stop=Urllib3Stop(retry, method), retry_on=_Urllib3Asks(),
                           retry_timeouts=True, name=name, retry=retry, method=method.upper())
    return LibraryPreset(policy=policy, guards=list,
                         source="the user's urllib3.util.Retry, asked through its own is_retry, increment and "
                                "get_backoff_time", library="urllib3", version=u.__version__)
