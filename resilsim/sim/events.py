"""The two kinds of scheduled things the simulator puts on SimPy's event queue.

SimPy's loop (``Environment.step``) pops ``(time, priority, id, event)`` and
calls ``event.callbacks``; anything with ``callbacks`` and ``_ok`` will do.
An :class:`Attempt` or a :class:`Request` is scheduled itself, with a shared,
prebuilt callback list, instead of a generator process per request: that
avoids a Process, an Initialize event and a Timeout per step, which is most
of plain SimPy's cost per attempt (see benchmarks/RESULTS.md).
"""
from __future__ import annotations

from collections import deque
from heapq import heappush
from itertools import islice
from operator import attrgetter, indexOf, itemgetter

from simpy.core import NORMAL

PRIORITY = NORMAL


class Request:
    """A request in flight: what the client wants done, across its attempts."""

    # tenant, client and prop_u (a uniform number for its request properties) are set on arrival only when
    # requests carry tenants (Clients.configure_tenants), and read only then.
    __slots__ = ("callbacks", "id", "op", "t0", "n", "prev_wait", "reauthed", "deadline_at", "done",
                 "tenant", "client", "prop_u")

    #: what SimPy's loop asks of a processed event: it never fails (a class attribute, so no request and no attempt
    #: stores it: two stores and two slots fewer per attempt on the hot path)
    _ok = True

    def __init__(self, rid: int, op: int, t0: float, deadline_at: float):
        self.callbacks = None
        self.id = rid
        self.op = op
        self.t0 = t0
        self.n = 0              # attempts sent so far
        self.prev_wait = 0.0    # the last backoff, seconds (decorrelated jitter needs it)
        self.reauthed = False
        self.deadline_at = deadline_at
        self.done = False


class Attempt:
    """One call of the API for a request; scheduled as the service's completion event."""

    # hop (network seconds so far) is set and read only with a network (resilsim.sim.network).
    __slots__ = ("callbacks", "req", "n", "t_sent", "t_queued", "code", "source", "retry_after",
                 "answered", "abandoned", "service_time", "hop")

    _ok = True  # it never fails (see Request._ok)

    def __init__(self, req: Request, n: int, t_sent: float):
        self.callbacks = None
        self.req = req
        self.n = n
        self.t_sent = t_sent
        self.t_queued = t_sent
        self.code = -1
        self.source = 0
        self.retry_after = None
        self.answered = False   # the client has its answer (or gave up on it)
        self.abandoned = False  # the client timed out before the answer
        self.service_time = 0.0


class Timer:
    """A client-side timer for one attempt (attempt timeout or request deadline)."""

    __slots__ = ("callbacks", "_ok", "att")

    def __init__(self, att: Attempt, callbacks: list):
        self.callbacks = callbacks
        self._ok = True
        self.att = att


_attempt = itemgetter(2)        # a pending timer's attempt
_answered = attrgetter("answered")


class TimerQueue:
    """Client-side timers kept in a FIFO beside SimPy's heap, with one heap entry for the earliest.

    Most timers find their attempt answered long before they are due (a 5 s
    timeout on attempts answered in 0.1-1 s), so a heap event per timer is
    mostly wasted work (benchmarks/RESULTS.md: ≈1.8 µs per attempt). Timers
    added in time order wait here instead; a single entry on SimPy's heap
    stands for the earliest one still unanswered, and when it comes up the
    answered ones behind it are dropped together. Each timer keeps the heap
    key ``(time, priority, id)`` a :class:`Timer` event would have had (the
    same time, computed the same way, and an id taken from SimPy's counter
    when it is added), so a timer that fires does so in exactly the same
    order as before: same events, same random numbers, same results. A timer
    added out of time order (a deadline earlier than the attempt timeout)
    is scheduled as an ordinary :class:`Timer` event with that key.
    """

    __slots__ = ("callbacks", "_ok", "env", "pending", "armed", "_cbs")

    def __init__(self, env):
        self.callbacks = None
        self._ok = True
        self.env = env
        self.pending: deque = deque()  # (time, id, attempt, callbacks), in heap-key order
        self.armed = False             # this object is on SimPy's heap, keyed as pending[0]
        self._cbs = [self._due]

    def add(self, att: Attempt, delay: float, callbacks: list) -> None:
        """A timer ``delay`` seconds from now for ``att``; ``callbacks`` get a :class:`Timer` if it fires unanswered."""
        env = self.env
        at = env._now + delay  # as Environment.schedule computes it
        eid = next(env._eid)
        pending = self.pending
        if not pending:
            pending.append((at, eid, att, callbacks))
            self._arm(at, eid)
        elif at >= pending[-1][0]:
            pending.append((at, eid, att, callbacks))  # the heap entry stands for pending[0]
        else:
            heappush(env._queue, (at, PRIORITY, eid, Timer(att, callbacks)))

    def _arm(self, at: float, eid: int) -> None:
        self.callbacks = self._cbs
        self.armed = True
        heappush(self.env._queue, (at, PRIORITY, eid, self))

    def _due(self, _event) -> None:
        self.armed = False
        pending = self.pending
        _, _, att, callbacks = pending.popleft()
        if not att.answered:
            timer = Timer(att, None)
            for cb in callbacks:
                cb(timer)
        if self.armed:
            return  # a callback added the only pending timer, and armed for it
        # Timers of answered attempts would do nothing when due: drop them now. Most are answered (a few
        # hundred per timeout), so the first one still open is found by a C-level scan, not a Python loop.
        try:
            i = indexOf(map(_answered, map(_attempt, pending)), False)
        except ValueError:
            pending.clear()
            return
        if i:
            self.pending = pending = deque(islice(pending, i, None))
        at, eid = pending[0][0], pending[0][1]
        self._arm(at, eid)


class Held:
    """A request's next attempt held back by a blocking guard (the AWS adaptive limiter).

    For a retry it is first scheduled for the end of the backoff. While it
    waits in its guard set's :class:`Line` (``queued``) it is scheduled only
    for the request's deadline: if it is still waiting then (not ``done``),
    the request ends there with ``code`` (its last attempt's code, or the
    timeout code when no attempt was sent). ``since``: when it joined the
    line, seconds. Only strategies with a blocking guard make these.
    """

    __slots__ = ("callbacks", "_ok", "req", "code", "since", "queued", "done")

    def __init__(self, req: Request, code: int, callbacks: list):
        self.callbacks = callbacks
        self._ok = True
        self.req = req
        self.code = code
        self.since = 0.0
        self.queued = False
        self.done = False


class Line:
    """The attempts waiting at one set of guards for its blocking guard (not in order: see Clients._serve).

    Scheduled (``armed``) only for when the guard says the next token comes,
    so a line costs one event per attempt sent, however many wait.
    """

    __slots__ = ("callbacks", "_ok", "guards", "waiting", "armed")

    def __init__(self, guards):
        self.callbacks = None
        self._ok = True
        self.guards = guards
        self.waiting: list = []  # Held; those whose deadline came are dropped when met
        self.armed = False


class Tick:
    """A recurring event (arrivals, samplers): rescheduled by its own callback."""

    __slots__ = ("callbacks", "_ok")

    def __init__(self):
        self.callbacks = None
        self._ok = True


def run_until(env, until: float, watchdog=None, every: int = 4096) -> str | None:
    """Process ``env``'s events scheduled before ``until`` (simulated seconds), then set ``env.now = until``.

    The same events in the same order as ``env.run(until=until)`` (which
    stops before any event at exactly ``until``), without a method call per
    event: SimPy's ``step`` is a large share of the cost per attempt
    (benchmarks/RESULTS.md). Any SimPy event works here, processes included;
    a failed, undefused event raises as in SimPy.

    ``watchdog(events)`` (see :mod:`resilsim.sim.limits`) is called every
    ``every`` events with the count so far; when it answers a reason, the run
    stops there (``env.now`` stays at the last event's time) and the reason is
    returned. Returns None when the run reached ``until``.
    """
    from heapq import heapify, heappop
    from itertools import repeat

    if until <= env._now:
        raise ValueError(f"until ({until}) must be greater than the current simulation time")
    queue = env._queue
    # A sentinel entry at `until` that sorts before every event at that time (priority -1; SimPy's are 0 and 1; id
    # -1, so its event is never compared): the loop pops without testing the head first (two subscripts and a
    # comparison per event), and every event before `until` comes out before it.
    stop = Tick()
    sentinel = (until, -1, -1, stop)
    heappush(queue, sentinel)
    # Events go in chunks of `step`: the count costs nothing per event, only per chunk.
    step = every if watchdog is not None else 1 << 62
    events = 0
    try:
        while True:
            for _ in repeat(None, step):
                now, _, _, event = heappop(queue)
                if event is stop:
                    env._now = until
                    stop = None  # popped: nothing to clean up
                    return None
                env._now = now
                callbacks, event.callbacks = event.callbacks, None
                for callback in callbacks:
                    callback(event)
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
            events += step
            reason = watchdog(events)
            if reason is not None:
                return reason
    finally:
        if stop is not None:
            # Stopped early (the watchdog, or an exception): the sentinel leaves the queue as it was.
            queue.remove(sentinel)
            heapify(queue)
