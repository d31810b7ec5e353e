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

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any

from .library import LibraryPolicy, LibraryPreset
from .retry import AFTER_RESET, FAIL, RETRY, CodePlan, RetryAfter, RetryOn
from .guards import Guard
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
    # An operation marked idempotent: false is sent as a POST: urllib3's allowed_methods decide what it retries.
    policy = dataclasses.replace(policy, unsafe=dataclasses.replace(policy, method="POST"))
    return LibraryPreset(policy=policy, guards=list,
                         source="the user's urllib3.util.Retry, asked through its own is_retry, increment and "
                                "get_backoff_time", library="urllib3", version=u.__version__)


# ================================================================ what a simulated call raises

#: The extras that install each adapter's library.
TENACITY_EXTRA = "resilsim[tenacity]"
STAMINA_EXTRA = "resilsim[stamina]"
BOTOCORE_EXTRA = "resilsim[botocore]"


class SimulatedHTTPError(Exception):
    """What a simulated call raises for an error response (for tenacity's and stamina's ``retry``/``on``).

    ``status`` is the HTTP status, ``code`` the catalog code (``"104000"``,
    ``"ANALYTICS_1701"``) and ``retry_after`` the server's Retry-After in
    seconds (None: the response carries none).
    """

    def __init__(self, status: int, code: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status} {code}")
        self.status = status
        self.code = code
        self.retry_after = retry_after


class SimulatedTimeout(TimeoutError):
    """What a simulated call raises when the client's attempt timeout passes (status 0, code ``"TIMEOUT"``)."""

    status = 0
    code = "TIMEOUT"
    retry_after = None


def simulated_failure(status: int, code: str, retry_after: float | None = None) -> BaseException:
    """The default ``raises`` of :func:`from_tenacity` and :func:`from_stamina`: a :class:`SimulatedTimeout`
    for status 0, else a :class:`SimulatedHTTPError` (``retry_after`` in seconds or None)."""
    if status == 0:
        return SimulatedTimeout("the client's attempt timeout passed")
    return SimulatedHTTPError(status, code, retry_after)


def _seed_of(rng) -> int:
    """A 53-bit seed drawn from the simulation's ``rng`` (one ``rng.random()``)."""
    return int(rng.random() * 9007199254740992.0)


class _DrawingFrom:
    """Within ``with``: the ``random`` module seeded with ``seed``; its state before is restored after.

    tenacity, stamina and botocore's legacy mode draw their jitter from the
    ``random`` module; here each draw is seeded from the simulation's rng, so a
    run is reproducible and the caller's own ``random`` state is untouched
    (not thread-safe: runs in one process run one at a time).
    """

    __slots__ = ("seed", "state")

    def __init__(self, seed: int):
        self.seed = seed

    def __enter__(self):
        import random
        self.state = random.getstate()
        random.seed(self.seed)

    def __exit__(self, *exc):
        import random
        random.setstate(self.state)
        return False


# ================================================================ tenacity (and stamina, which runs on it)

def _tenacity(who: str = "from_tenacity", extra: str = TENACITY_EXTRA):
    try:
        import tenacity
    except ImportError:
        raise MissingLibraryError(f"{who} needs tenacity: pip install '{extra}'") from None
    return tenacity


@dataclass(frozen=True, eq=False)
class TenacityCalls:
    """tenacity's three questions for one retry configuration, asked with a synthetic ``RetryCallState``.

    ``retry``, ``stop`` and ``wait`` are tenacity's (or stamina's) callables
    of a ``RetryCallState``; ``retrying`` is the ``Retrying`` object they come
    from (None for stamina); ``raises(status, code, retry_after)`` is what the
    user's call raises (or returns) for a failed attempt. The state's clock is
    simulated time: ``start_time`` 0, ``outcome_timestamp`` the seconds since
    the request started, ``upcoming_sleep`` the next wait (seconds).
    """

    retry: Any
    stop: Any
    wait: Any
    retrying: Any = None
    raises: Any = simulated_failure

    def state(self, attempt: int, elapsed: float, status: int, code: str, retry_after=None, upcoming=0.0):
        """The ``RetryCallState`` after attempt ``attempt`` failed with ``status``/``code``, ``elapsed`` s in."""
        t = _tenacity()
        rcs = t.RetryCallState(retry_object=self.retrying, fn=None, args=(), kwargs={})
        rcs.start_time = 0.0
        rcs.attempt_number = attempt
        rcs.outcome_timestamp = elapsed
        rcs.upcoming_sleep = upcoming
        failure = self.raises(status, code, retry_after)
        fut = t.Future(attempt)
        if isinstance(failure, BaseException):
            fut.set_exception(failure)
        else:
            fut.set_result(failure)  # a user's call that returns its failures (tenacity's retry_if_result)
        rcs.outcome = fut
        return rcs

    def retried(self, status: int, code: str) -> bool:
        """Whether ``retry`` retries the first failure with ``status``/``code``."""
        with _DrawingFrom(0):
            return bool(self.retry(self.state(1, 0.0, status, code)))

    def next_wait(self, attempt: int, status: int, code: str, retry_after, rng) -> float:
        """``wait`` after attempt ``attempt`` failed (seconds); its random draws seeded from ``rng``.

        ``retry`` is asked first on the same state, as tenacity does (a stamina
        backoff hook leaves its custom wait there).
        """
        rcs = self.state(attempt, 0.0, status, code, retry_after)
        with _DrawingFrom(_seed_of(rng)):
            self.retry(rcs)
            return float(self.wait(rcs))

    def stops(self, attempt: int, elapsed: float, next_wait: float, status: int, code: str) -> bool:
        """Whether ``stop`` ends the request after attempt ``attempt``, ``elapsed`` s in, the next wait given."""
        return bool(self.stop(self.state(attempt, elapsed, status, code, upcoming=next_wait)))


def _stop_bound(stop) -> tuple[bool, float]:
    """(bounded, max attempts) of a tenacity stop, read from its kind (unknown kinds: unbounded)."""
    t = _tenacity()
    if isinstance(stop, t.stop_after_attempt):
        return True, stop.max_attempt_number
    if isinstance(stop, (t.stop_after_delay, t.stop_before_delay)):
        return True, math.inf
    if isinstance(stop, (t.stop_any, t.stop_all)):
        parts = [_stop_bound(s) for s in stop.stops]
        if isinstance(stop, t.stop_any):
            return any(b for b, _ in parts), min((n for _, n in parts), default=math.inf)
        return all(b for b, _ in parts), max((n for _, n in parts), default=math.inf)
    return False, math.inf


@dataclass(frozen=True)
class TenacityWait(RetryAfter):
    """tenacity's ``wait`` for a failure with ``status``/``code`` (seconds); its draws come from the run's rng.

    A response's Retry-After reaches the library as the raised error's
    ``retry_after``: what the library makes of it (nothing, for tenacity's
    own waits; a stamina backoff hook may return it) is the wait.
    """

    calls: Any = None
    status: int = 0
    code: str = ""

    @property
    def cap(self):
        return math.inf

    def __call__(self, attempt, previous, rng):
        return self.calls.next_wait(attempt, self.status, self.code, None, rng)

    def honour(self, hint, attempt, previous, rng):
        return self.calls.next_wait(attempt, self.status, self.code, hint, rng)

    def describe(self):
        return {"wait": "tenacity"}


@dataclass(frozen=True)
class TenacityStop(Stop):
    """tenacity's ``stop`` after ``attempt`` failures with ``status``/``code``, ``elapsed`` and the next wait given."""

    calls: Any = None
    status: int = 0
    code: str = ""

    def __call__(self, attempt, elapsed, next_wait):
        return self.calls.stops(attempt, elapsed, next_wait, self.status, self.code)

    @property
    def bounded(self):
        return _stop_bound(self.calls.stop)[0]

    @property
    def max_attempts(self):
        return _stop_bound(self.calls.stop)[1]

    def describe(self):
        n = self.max_attempts
        return {"stop_attempts": n} if math.isfinite(n) else {}


@dataclass(frozen=True, slots=True)
class _LibraryAsks(RetryOn):
    """Placeholder predicate for result rows: the decisions are the adapter's library's."""

    library: str = ""

    def __call__(self, code):  # pragma: no cover - the adapter's plan decides
        return False

    def describe(self):
        return self.library


@dataclass(frozen=True)
class TenacityPolicy(LibraryPolicy):
    """A :class:`LibraryPolicy` whose every decision is a tenacity configuration's (``calls``).

    Per code: ``retry`` on the first failure decides whether it is retried
    at all; each wait and each stop is then asked of ``wait`` and ``stop``
    with that failure, the attempt number and the simulated clock.
    """

    calls: Any = None
    library: str = "tenacity"

    def plan(self, code) -> CodePlan:
        """Ask the library once per code whether it retries; the waits and stops are asked per attempt."""
        status = 0 if code.code == "TIMEOUT" else code.http
        if not self.calls.retried(status, code.code):
            return CodePlan(FAIL, self.wait, self.stop, False)
        return CodePlan(RETRY, TenacityWait(calls=self.calls, status=status, code=code.code),
                        TenacityStop(self.calls, status, code.code), status != 0)

    def describe(self) -> dict:
        return {"retry": self.name, "wait": self.library, **self.stop.describe(), "retry_on": self.library}


def _checked(policy: LibraryPolicy, what: str) -> None:
    """Ask ``policy`` one of each kind of decision now, so arguments its library refuses fail here, in one sentence."""
    from ..catalog import ErrorCode
    try:
        for status, name in ((503, "E503"), (429, "E429"), (0, "TIMEOUT")):
            c = ErrorCode(code=name, http=status, name="n", category="c", message="m", resolution="",
                          advice="retry")
            p = policy.plan(c)
            if p.action == RETRY:
                w = p.wait(1, 0.0, _Half())
                p.stop(1, 0.0, w)
                if p.honours_retry_after:
                    p.wait.honour(1.0, 1, 0.0, _Half())
    except (TypeError, ValueError, AttributeError, ArithmeticError) as e:
        raise ValueError(f"{what} cannot use these arguments: {e}") from None


def from_tenacity(retrying, *, raises=None, name: str = "tenacity-adapter") -> LibraryPreset:
    """A preset whose decisions are ``retrying``'s (a ``tenacity.Retrying``, or a function decorated with ``@retry``).

    tenacity's own ``retry``, ``wait`` and ``stop`` objects answer every
    decision, called with a synthetic ``RetryCallState`` whose clock is the
    simulation's (``seconds_since_start`` is simulated seconds, nothing
    sleeps) and whose outcome is what the call raises for the failed
    attempt: ``raises(status, code, retry_after)``, by default
    :func:`simulated_failure` (a :class:`SimulatedTimeout`, a
    ``TimeoutError``, for a client-side timeout; else a
    :class:`SimulatedHTTPError` with ``status``, ``code``, ``retry_after``).
    Random waits draw from the ``random`` module seeded from the run's rng.
    ``before``/``after``/``before_sleep`` hooks, ``sleep`` and
    ``retry_error_callback`` are not called. No guards, no timeouts.
    """
    t = _tenacity()
    r = getattr(retrying, "retry", None) if not isinstance(retrying, t.BaseRetrying) else retrying
    if not isinstance(r, t.BaseRetrying):
        raise ValueError(f"from_tenacity takes a tenacity.Retrying or a function decorated with @tenacity.retry, "
                         f"not {type(retrying).__name__}")
    calls = TenacityCalls(r.retry, r.stop, r.wait, r, raises or simulated_failure)
    policy = TenacityPolicy(wait=NoWait(), stop=TenacityStop(calls), retry_on=_LibraryAsks("tenacity"),
                            retry_timeouts=True, name=name, calls=calls)
    _checked(policy, "tenacity")
    return LibraryPreset(policy=policy, guards=list,
                         source="the user's tenacity Retrying, asked through its own retry, wait and stop "
                                "on a RetryCallState in simulated time", library="tenacity", version=_version("tenacity"))


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:  # pragma: no cover
        return ""


# ================================================================ stamina

def _stamina():
    try:
        import stamina
        import stamina._config
    except ImportError:
        raise MissingLibraryError(f"from_stamina needs stamina: pip install '{STAMINA_EXTRA}'") from None
    return stamina


def from_stamina(on=None, *, attempts: int | None = 10, timeout: float | None = 45.0, wait_initial: float = 0.1,
                 wait_max: float = 5.0, wait_jitter: float = 1.0, wait_exp_base: float = 2.0, raises=None,
                 name: str = "stamina-adapter") -> LibraryPreset:
    """A preset whose decisions are stamina's, for ``stamina.retry(on=..., attempts=..., ...)`` as given.

    The arguments are stamina's (seconds; a ``timedelta`` too). ``on`` is an
    exception class, a tuple of them, or a backoff hook (exception → bool or
    seconds); the simulated call raises what ``raises`` makes (see
    :func:`from_tenacity`). None: resilsim's ``stamina`` preset's choice,
    5xx responses and client-side timeouts. stamina builds the tenacity
    ``retry``, ``stop`` and ``wait`` (``stamina.retry_context(...)``); resilsim
    asks those in simulated time, as :func:`from_tenacity` does. stamina has no
    public accessor for them: they are read from the context's ``_t_kw``
    (stamina 26.1), with stamina's testing mode and ``set_active(False)``
    applied as stamina applies them. Its jitter (``random.uniform``) is
    drawn from the ``random`` module seeded from the run's rng. No guards;
    stamina's ``timeout`` stops retrying, it cuts no attempt.
    """
    s = _stamina()
    t = _tenacity("from_stamina", STAMINA_EXTRA)
    if on is None:
        on = _five_xx_or_timeout
    try:
        ctx = s.retry_context(on=on, attempts=attempts, timeout=timeout, wait_initial=wait_initial,
                              wait_max=wait_max, wait_jitter=wait_jitter, wait_exp_base=wait_exp_base)
        kw = ctx._apply_maybe_test_mode_to_tenacity_kw(s._config.CONFIG.testing)
    except (TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"stamina cannot use these arguments: {e}") from None
    stop = kw["stop"] if s.is_active() else t.stop_after_attempt(1)
    calls = TenacityCalls(kw["retry"], stop, kw["wait"], None, raises or simulated_failure)
    policy = TenacityPolicy(wait=NoWait(), stop=TenacityStop(calls), retry_on=_LibraryAsks("stamina"),
                            retry_timeouts=True, name=name, calls=calls, library="stamina")
    _checked(policy, "stamina")
    return LibraryPreset(policy=policy, guards=list,
                         source="stamina.retry_context(...) as the user configures it: its own tenacity retry, "
                                "stop and _jittered_backoff_for_rcs wait, asked in simulated time",
                         library="stamina", version=_version("stamina"))


def _five_xx_or_timeout(e: BaseException) -> bool:
    """stamina's tutorial predicate, as the ``stamina`` preset: retry 5xx responses and timeouts."""
    status = getattr(e, "status", None)
    return isinstance(e, TimeoutError) or (status is not None and 500 <= status <= 599)


# ================================================================ botocore

def _botocore():
    try:
        import botocore.awsrequest
        import botocore.config
        import botocore.exceptions
        import botocore.loaders
        import botocore.retries.quota
        import botocore.retries.standard
        import botocore.retryhandler
        import botocore.translate
    except ImportError:
        raise MissingLibraryError(f"from_botocore needs botocore: pip install '{BOTOCORE_EXTRA}'") from None
    return botocore


class _Operation:
    """An operation of ``service`` with no modeled errors: botocore's generic rules apply."""

    error_shapes = ()
    name = "Operation"

    def __init__(self, service: str):
        from types import SimpleNamespace
        self.service_model = SimpleNamespace(service_name=service)


def _boto_response(status: int, code: str, headers: dict | None = None):
    b = _botocore()
    return (b.awsrequest.AWSResponse("https://api.invalid/", status, headers or {}, None),
            {"Error": {"Code": code, "Message": ""}, "ResponseMetadata": {}})


def _boto_context(attempt: int, status: int, code: str, service: str, headers: dict | None = None,
                  request_context: dict | None = None):
    """botocore's ``RetryContext`` for attempt ``attempt`` failing with ``status``/``code`` (0: a read timeout)."""
    b = _botocore()
    if status == 0:
        response, parsed = None, None
        exception = b.exceptions.ReadTimeoutError(endpoint_url="https://api.invalid/")
    else:
        response, parsed = _boto_response(status, code, headers)
        exception = None
    return b.retries.standard.RetryContext(attempt_number=attempt, operation_model=_Operation(service),
                                           parsed_response=parsed, http_response=response,
                                           caught_exception=exception,
                                           request_context={} if request_context is None else request_context)


@functools.lru_cache(maxsize=64)
def _conditions(max_attempts: int):
    """botocore's ``StandardRetryConditions(max_attempts)`` (stateless: one per count)."""
    return _botocore().retries.standard.StandardRetryConditions(max_attempts=max_attempts)


@functools.lru_cache(maxsize=1)
def _detector():
    """botocore's ``ThrottlingErrorDetector`` (stateless: one for all)."""
    s = _botocore().retries.standard
    return s.ThrottlingErrorDetector(s.RetryEventAdapter())


def _hint_headers(hint, amz: bool) -> dict:
    """The response headers carrying the server's hint (seconds): Retry-After, or botocore's x-amz-retry-after."""
    if hint is None:
        return {}
    if amz:
        return {"x-amz-retry-after": str(int(round(hint * 1000)))}
    return {"retry-after": str(int(math.ceil(hint)))}


@dataclass(frozen=True)
class BotocoreWait(RetryAfter):
    """botocore's ``ExponentialBackoff.delay_amount`` for a failure with ``status``/``code`` (seconds).

    Its ``random`` is the run's rng; a hint reaches it as a response header
    (``x-amz-retry-after`` when ``amz``, else ``Retry-After``, which botocore ignores).
    """

    status: int = 0
    code: str = ""
    service: str = "generic"
    amz: bool = False

    @property
    def cap(self):
        return 25.0 if self.amz else 20.0

    def _delay(self, attempt, rng, hint):
        s = _botocore().retries.standard
        backoff = s.ExponentialBackoff(random=rng.random, service_name=self.service, throttling_detector=_detector())
        return backoff.delay_amount(_boto_context(attempt, self.status, self.code, self.service,
                                                  _hint_headers(hint, self.amz)))

    def __call__(self, attempt, previous, rng):
        return self._delay(attempt, rng, None)

    def honour(self, hint, attempt, previous, rng):
        return self._delay(attempt, rng, hint)

    def describe(self):
        return {"wait": "botocore"}


@functools.lru_cache(maxsize=4096)
def _standard_gives_up(max_attempts: int, attempt: int, status: int, code: str, service: str) -> bool:
    """botocore's answer, asked once per distinct question (it depends on nothing else): no more retries."""
    return not _conditions(max_attempts).is_retryable(_boto_context(attempt, status, code, service))


@dataclass(frozen=True)
class BotocoreStop(Stop):
    """Stop when botocore's ``StandardRetryConditions(max_attempts)`` no longer retries the failure."""

    max_attempts_: int = 3
    status: int = 503
    code: str = ""
    service: str = "generic"

    def __call__(self, attempt, elapsed, next_wait):
        return _standard_gives_up(self.max_attempts_, attempt, self.status, self.code, self.service)

    @property
    def bounded(self):
        return True

    @property
    def max_attempts(self):
        return self.max_attempts_

    def describe(self):
        return {"stop_attempts": self.max_attempts_}


@dataclass(frozen=True)
class BotocoreStandardPolicy(LibraryPolicy):
    """botocore's standard (and adaptive) retry mode, every decision botocore's own.

    What is retried: ``StandardRetryConditions.is_retryable`` on the first
    failure; when it gives up: the same with ``max_attempts``; each wait:
    ``ExponentialBackoff.delay_amount`` (base 1 s for throttles, 0.05 s
    otherwise, 0.025 s for DynamoDB). The failure reaches botocore as the
    response's status with the catalog code as its error code, a client-side
    timeout as a ``ReadTimeoutError``.
    """

    max_attempts: int = 3
    service: str = "generic"
    amz: bool = False

    def plan(self, code) -> CodePlan:
        status = 0 if code.code == "TIMEOUT" else code.http
        if not _conditions(2).is_retryable(_boto_context(1, status, code.code, self.service)):
            return CodePlan(FAIL, self.wait, self.stop, False)
        return CodePlan(RETRY, BotocoreWait(status=status, code=code.code, service=self.service, amz=self.amz),
                        BotocoreStop(self.max_attempts, status, code.code, self.service), status != 0)

    def describe(self) -> dict:
        return {"retry": self.name, "wait": "botocore", "stop_attempts": self.max_attempts, "retry_on": "botocore",
                "mode": "standard"}


class BotocoreQuota(Guard):
    """botocore's own ``RetryQuotaChecker`` over a fresh ``quota.RetryQuota`` (500 tokens), as a guard.

    A retry is allowed when ``acquire_retry_quota`` succeeds for a context
    built from the failure the simulator just reported (a throttle: HTTP
    429; a timeout: a ``ReadTimeoutError``; else HTTP 500); a success
    releases through ``release_retry_quota``, with the last acquisition's
    request context after a retry (exact when one request retries at a
    time, as :class:`~resilsim.policies.guards.RetryQuota`).
    """

    kind = "quota"
    hears_throttles = True

    def __init__(self, service: str = "generic"):
        b = _botocore()
        self.service = service
        self.checker = b.retries.standard.RetryQuotaChecker(b.retries.quota.RetryQuota(), _detector())
        self._ok = b.awsrequest.AWSResponse("https://api.invalid/", 200, {}, None)
        self._throttled = False
        self._last: dict = {}

    @property
    def tokens(self) -> float:
        """Tokens left in botocore's quota."""
        return self.checker._quota.available_capacity

    def allow_retry(self, now: float, rng=None, timeout: bool = False) -> bool:
        status = 0 if timeout else (429 if self._throttled else 500)
        ctx = _boto_context(1, status, "", self.service)
        if self.checker.acquire_retry_quota(ctx):
            self._last = ctx.request_context
            return True
        return False

    def on_result(self, now: float, success: bool, is_retry: bool, timeout: bool = False,
                  throttled: bool = False) -> None:
        self._throttled = throttled
        if success:
            self.checker.release_retry_quota(self._last if is_retry else {}, self._ok)

    def describe(self) -> dict:
        return {"guard": self.kind, "library": "botocore", "capacity": self.checker._quota._max_capacity}


@dataclass(frozen=True)
class _Legacy:
    """botocore's legacy retry handler (``retryhandler.create_retry_handler``) for ``max_attempts`` attempts."""

    max_attempts: int
    service: str = "generic"

    def delay(self, attempt: int, status: int, code: str, seed: int) -> float | None:
        """The handler's answer after attempt ``attempt`` failed: a delay in seconds, or None (no retry)."""
        b = _botocore()
        h = _legacy_handler(self.max_attempts, self.service)
        if status == 0:
            response, exc = None, b.exceptions.ReadTimeoutError(endpoint_url="https://api.invalid/")
        else:
            response, exc = _boto_response(status, code), None
        try:
            with _DrawingFrom(seed):
                return h(attempts=attempt, response=response, caught_exception=exc, request_dict={"context": {}})
        except b.exceptions.ReadTimeoutError:
            return None  # past max_attempts botocore lets the error through


_LEGACY_HANDLERS: dict = {}


def _legacy_handler(max_attempts: int, service: str):
    key = (max_attempts, service)
    h = _LEGACY_HANDLERS.get(key)
    if h is None:
        b = _botocore()
        original = b.loaders.create_loader().load_data("_retry")
        cfg = b.translate.build_retry_config(service, original.get("retry", {}), original.get("definitions", {}),
                                             {"max_attempts": max_attempts - 1})
        h = _LEGACY_HANDLERS[key] = b.retryhandler.create_retry_handler(cfg, service)
    return h


@dataclass(frozen=True)
class LegacyWait(Wait):
    """botocore legacy mode's delay, ``rand·2^(n−1)`` seconds from its ``_retry.json``, drawn from the run's rng
    (no cap of its own: :attr:`Wait.cap`)."""

    legacy: Any = None
    status: int = 503
    code: str = ""

    def __call__(self, attempt, previous, rng):
        d = _Legacy(10**6, self.legacy.service).delay(attempt, self.status, self.code, _seed_of(rng))
        return 0.0 if d is None else float(d)

    def describe(self):
        return {"wait": "botocore-legacy"}


@functools.lru_cache(maxsize=4096)
def _legacy_gives_up(legacy: _Legacy, attempt: int, status: int, code: str) -> bool:
    """The legacy handler's answer, asked once per distinct question (whether it retries draws nothing)."""
    return legacy.delay(attempt, status, code, 0) is None


@dataclass(frozen=True)
class LegacyStop(Stop):
    """Stop when botocore's legacy handler for ``max_attempts`` no longer retries the failure."""

    legacy: Any = None
    status: int = 503
    code: str = ""

    def __call__(self, attempt, elapsed, next_wait):
        return _legacy_gives_up(self.legacy, attempt, self.status, self.code)

    @property
    def bounded(self):
        return True

    @property
    def max_attempts(self):
        return self.legacy.max_attempts

    def describe(self):
        return {"stop_attempts": self.legacy.max_attempts}


@dataclass(frozen=True)
class BotocoreLegacyPolicy(LibraryPolicy):
    """botocore's legacy retry mode: its ``_retry.json`` handler decides what is retried, each delay and the stop."""

    legacy: Any = None

    def plan(self, code) -> CodePlan:
        status = 0 if code.code == "TIMEOUT" else code.http
        if _Legacy(10**6, self.legacy.service).delay(1, status, code.code, 0) is None:
            return CodePlan(FAIL, self.wait, self.stop, False)
        return CodePlan(RETRY, LegacyWait(self.legacy, status, code.code), LegacyStop(self.legacy, status, code.code),
                        False)

    def describe(self) -> dict:
        return {"retry": self.name, "wait": "botocore-legacy", "stop_attempts": self.legacy.max_attempts,
                "retry_on": "botocore", "mode": "legacy"}


def from_botocore(config=None, *, service: str = "generic", amz_retry_after: bool = False,
                  name: str = "botocore-adapter") -> LibraryPreset:
    """A preset whose decisions are botocore's, for ``botocore.config.Config(retries={...})`` as given.

    ``config`` is a ``Config``, a dict of its ``retries`` (``mode``:
    standard, legacy or adaptive; ``total_max_attempts``, or ``max_attempts``
    retries; and, as in YAML ``retry: {botocore: {...}}``, ``service`` and
    ``amz_retry_after``), or None. Config checks them (its own message, one sentence).
    As botocore 1.44 resolves them: mode standard by default,
    ``max_attempts`` n means n + 1 attempts (``args.py``); environment
    variables and config files are not read. ``service`` is the service name
    (``"dynamodb"`` waits from 0.025 s in standard mode). Standard and
    adaptive: :class:`BotocoreStandardPolicy` and botocore's own
    ``RetryQuotaChecker`` (:class:`BotocoreQuota`); adaptive adds resilsim's
    :class:`~resilsim.policies.guards.ClientRateLimiter` (botocore's sleeps on
    the wall clock), as the ``aws-adaptive`` preset. Legacy:
    :class:`BotocoreLegacyPolicy`, no quota. ``amz_retry_after``: the server's
    hint arrives as ``x-amz-retry-after`` (else as Retry-After, which botocore
    ignores). ``attempt_timeout`` is the Config's ``read_timeout`` (60 s).
    """
    b = _botocore()
    Config = b.config.Config
    if not isinstance(config, Config):
        if config is not None and not isinstance(config, dict):
            raise ValueError(f"from_botocore takes a botocore.config.Config or a dict of its retries, "
                             f"not {type(config).__name__}")
        config = dict(config or {})
        service = str(config.pop("service", service))
        amz_retry_after = bool(config.pop("amz_retry_after", amz_retry_after))
        try:
            config = Config(retries=config)
        except (b.exceptions.BotoCoreError, TypeError, ValueError) as e:
            raise ValueError(f"botocore.config.Config refuses these retries: {e}") from None
    retries = dict(config.retries or {})
    mode = retries.get("mode", "standard")
    if "total_max_attempts" in retries:
        total = retries["total_max_attempts"]
    elif "max_attempts" in retries:
        total = retries["max_attempts"] + 1
    else:
        total = None
    try:
        total = None if total is None else int(total)
    except (TypeError, ValueError) as e:
        raise ValueError(f"botocore.config.Config cannot use these retries: {e}") from None
    version = b.__version__
    read_timeout = getattr(config, "read_timeout", 60)
    if mode == "legacy":
        legacy = _Legacy(total or _legacy_default_attempts(service), service)
        policy = BotocoreLegacyPolicy(wait=NoWait(), stop=LegacyStop(legacy), retry_on=_LibraryAsks("botocore"),
                                      retry_timeouts=True, name=name, legacy=legacy)
        guards, source = list, "botocore legacy retries: retryhandler.create_retry_handler over data/_retry.json"
    else:
        n = total or b.retries.standard.DEFAULT_MAX_ATTEMPTS
        policy = BotocoreStandardPolicy(wait=NoWait(), stop=BotocoreStop(n, 503, "", service),
                                        retry_on=_LibraryAsks("botocore"), retry_timeouts=True, name=name,
                                        max_attempts=n, service=service, amz=amz_retry_after)
        guards = functools.partial(_botocore_guards, mode == "adaptive", service)
        source = ("botocore retries/standard.py: StandardRetryConditions, ExponentialBackoff, RetryQuotaChecker"
                  + ("; resilsim's ClientRateLimiter after retries/adaptive.py" if mode == "adaptive" else ""))
    _checked(policy, "botocore")
    return LibraryPreset(policy=policy, guards=guards, source=source,
                         attempt_timeout=None if read_timeout is None else float(read_timeout),
                         library="botocore", version=version)


def _botocore_guards(adaptive: bool, service: str) -> list:
    """Fresh guards of botocore's standard mode (its quota), with the adaptive rate limiter in front for adaptive."""
    guards: list = [BotocoreQuota(service)]
    if adaptive:
        from .guards import ClientRateLimiter
        guards.insert(0, ClientRateLimiter(0.7, 0.4, 0.5, 2.0, 0.8, 0.5, 0.0, True))
    return guards


def _legacy_default_attempts(service: str) -> int:
    """botocore legacy mode's attempts for ``service``: ``_retry.json``'s max_attempts (5 for most)."""
    b = _botocore()
    original = b.loaders.create_loader().load_data("_retry")
    cfg = b.translate.build_retry_config(service, original.get("retry", {}), original.get("definitions", {}))
    return int(cfg["__default__"]["max_attempts"])
