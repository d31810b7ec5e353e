"""The two kinds of scheduled things the simulator puts on SimPy's event queue.

SimPy's loop (``Environment.step``) pops ``(time, priority, id, event)`` and
calls ``event.callbacks``; anything with ``callbacks`` and ``_ok`` will do.
An :class:`Attempt` or a :class:`Request` is scheduled itself, with a shared,
prebuilt callback list, instead of a generator process per request: that
avoids a Process, an Initialize event and a Timeout per step, which is most
of plain SimPy's cost per attempt (see benchmarks/RESULTS.md).
"""
from __future__ import annotations

from simpy.core import NORMAL

PRIORITY = NORMAL


class Request:
    """A request in flight: what the client wants done, across its attempts."""

    __slots__ = ("callbacks", "_ok", "id", "op", "t0", "n", "prev_wait", "reauthed", "deadline_at", "done")

    def __init__(self, rid: int, op: int, t0: float, deadline_at: float):
        self.callbacks = None
        self._ok = True
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

    __slots__ = ("callbacks", "_ok", "req", "n", "t_sent", "t_queued", "code", "source", "retry_after",
                 "answered", "abandoned", "service_time")

    def __init__(self, req: Request, n: int, t_sent: float):
        self.callbacks = None
        self._ok = True
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
    from heapq import heappop
    from itertools import repeat

    if until <= env._now:
        raise ValueError(f"until ({until}) must be greater than the current simulation time")
    queue = env._queue
    # Events go in chunks of `step`: the count costs nothing per event, only per chunk.
    step = every if watchdog is not None else 1 << 62
    events = 0
    while True:
        for _ in repeat(None, step):
            if not queue or queue[0][0] >= until:
                break
            env._now, _, _, event = heappop(queue)
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc
        else:
            events += step
            reason = watchdog(events)
            if reason is not None:
                return reason
            continue
        break
    env._now = until
    return None

