"""The service: rate limit, workers and queue, faults. The SimPy side of the server.

It wires the pure pieces of :mod:`resilsim.server` to SimPy's clock: an
attempt is admitted or refused by the limiter, served by a free worker or
queued, meets the fault schedule, and is answered through ``respond``.
"""
from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from heapq import heappush
from typing import Callable

from ..records import (CODE_OK, SRC_BACKGROUND, SRC_CAPACITY, SRC_INCIDENT, SRC_LIMITER, SRC_PROCESSING_TIMEOUT,
                       SRC_QUEUE_TIMEOUT, SRC_SERVICE, SRC_SHED)
from ..rng import BlockRandom
from ..server.faults import FROM_INCIDENT
from .events import PRIORITY

#: Queue disciplines: who a free worker takes next.
FIFO, LIFO, ADAPTIVE_LIFO, CODEL = "fifo", "lifo", "adaptive_lifo", "codel"
_DISCIPLINES = {FIFO: FIFO, LIFO: LIFO, ADAPTIVE_LIFO: ADAPTIVE_LIFO, CODEL: CODEL}


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """A :class:`Service`'s API-side behaviour beyond workers, queue and faults; every field off by default."""

    #: ``make_gate(service)`` builds ``gate(att, now) -> bool``, which answers an attempt before the workers
    #: (limiters, quota, auth) through the service's refusals and says whether it did; None: no gate
    make_gate: Callable | None = None
    #: seconds of service after which the server gives up on an attempt and answers ``processing_code``
    processing_timeout: float = math.inf
    #: the code a processing timeout answers (an index into the run's code table)
    processing_code: int = -1
    #: service times are multiplied by ``1 + load_alpha × utilisation^load_power`` (utilisation: busy ÷ workers)
    load_alpha: float = 0.0
    load_power: float = 1.0
    #: who a free worker takes next: fifo, lifo, adaptive_lifo (LIFO while more than ``lifo_above`` wait)
    #: or codel (an attempt that waited past ``codel_target`` seconds is shed with the overload code unless
    #: the queue was empty within the last ``codel_interval`` seconds)
    discipline: str = FIFO
    lifo_above: int = 0
    codel_target: float = math.inf
    codel_interval: float = math.inf
    #: refuse arrivals while (in service + queued) ÷ workers is at least this
    shed_load: float = math.inf
    #: seconds of a worker's time each refused attempt costs (0: refusing is free)
    reject_s: float = 0.0
    #: ``hint(wait) -> seconds | None``: the Retry-After a refusal carries, from the protection's own wait
    #: (:class:`resilsim.server.RetryAfterHint`); None: the protection's wait as it is
    retry_after: Callable | None = None
    #: per operation index, True where the operation is not idempotent (``idempotent: false``): served
    #: attempts of such a request beyond its first served one are counted (:class:`SideEffects`); None: none is
    side_effects: tuple | None = None

    def __post_init__(self):
        if self.discipline not in _DISCIPLINES:
            raise ValueError(f"unknown queue discipline {self.discipline!r}; allowed: {', '.join(_DISCIPLINES)}")
        # The module's own strings, so the dequeue loop compares by identity.
        object.__setattr__(self, "discipline", _DISCIPLINES[self.discipline])


class SideEffects:
    """Counts duplicate side effects: attempts of a non-idempotent request the server served (completed with
    success, whether or not the client still waited) beyond the request's first served one.

    Wraps the service's completion callback only when some operation is not
    idempotent, so the plain path pays nothing. ``served`` holds one byte per
    request id (ids are dense, from 0).
    """

    __slots__ = ("flags", "inner", "served", "duplicates")

    def __init__(self, flags: tuple, inner):
        self.flags = flags
        self.inner = inner
        self.served = bytearray()
        self.duplicates = 0

    def complete(self, att) -> None:
        """The service's completion of ``att``, after counting it if it was served."""
        if att.code == CODE_OK:
            req = att.req
            if self.flags[req.op]:
                rid = req.id
                served = self.served
                if rid >= len(served):
                    served.extend(bytes(rid - len(served) + 4096))
                if served[rid]:
                    self.duplicates += 1
                else:
                    served[rid] = 1
        self.inner(att)


class _Refusals:
    """What refusing has cost a service: attempts refused, worker seconds spent on them, seconds still owed."""

    __slots__ = ("count", "time_s", "debt", "release_cbs")

    def __init__(self, release):
        self.count = 0
        self.time_s = 0.0
        self.debt = 0.0  # owed by the next worker to finish (no worker was idle when it was refused)
        self.release_cbs = [release]


class _Release:
    """A worker busy with rejecting attempts (the cost of rejecting) is freed when this fires."""

    __slots__ = ("callbacks", "_ok")

    def __init__(self, cbs):
        self.callbacks = cbs
        self._ok = True


class Service:
    """Workers, a bounded queue, an optional rate limiter, a fault schedule and the API-side ``options``.

    ``respond(att, now)`` is called once per attempt when the API answers it.
    Codes are indices into the run's code table: ``rate_limit_code``
    (``limiter`` refused it), ``overload_code`` (queue full) and
    ``timeout_code`` (waited past ``queue_timeout`` seconds when a worker
    picks it up: servers check on dequeue, so the answer comes then).
    ``limiter`` is one global limiter (``try_acquire(now)`` → seconds to
    wait, 0: admitted) or None; ``samplers[op]()`` draws a service time in
    seconds; ``fault_gen`` is the numpy Generator the faults draw from.
    """

    def __init__(self, env, *, workers: int, queue_limit: int | None, queue_timeout: float | None,
                 samplers: list, faults, fault_gen, limiter, rate_limit_code: int, overload_code: int,
                 timeout_code: int, respond, options: ServiceOptions = ServiceOptions()):
        self.env = env
        self.workers = workers
        self.free = workers
        self.queue: deque = deque()
        self.queue_limit = math.inf if queue_limit is None else queue_limit
        self.queue_timeout = math.inf if queue_timeout is None else queue_timeout
        self.samplers = samplers
        self.faults = faults
        self.fault_u = BlockRandom(fault_gen)
        self.limiter = limiter
        self.rate_limit_code = rate_limit_code
        self.overload_code = overload_code
        self.timeout_code = timeout_code
        self.respond = respond
        # Work counters (seconds of service time): busy, and spent on abandoned attempts.
        self.busy_time = 0.0
        self.wasted_time = 0.0
        self.refused = _Refusals(self._release)
        # Fault segments change only at incident boundaries: cache the current one.
        self._seg_end = -math.inf
        self._seg_start = math.inf
        self._seg = None
        # Settings and refusal counts live on their own objects, and what only some services need is set only on
        # them (_last_empty with CoDel, effects with side effects): CPython 3.11 specialises `self.x` loads only
        # while a class's instances have at most 29 attribute names among them (tests/sim/test_hot_path.py keeps
        # a service, a calling one and the services behind the API at 26 or fewer).
        self.opt = opt = options
        self._adjust = bool(opt.load_alpha) or opt.processing_timeout != math.inf  # _start adjusts service times
        gate = opt.make_gate(self) if opt.make_gate is not None else None
        # Swapped on the instance, so the switched-off paths cost no flag test: FIFO with free refusals
        # completes through _complete, anything else through _complete_general; shedding checks before submit.
        self._done_cbs = [self._complete if opt.discipline is FIFO and not opt.reject_s else self._complete_general]
        if opt.side_effects is not None and any(opt.side_effects):
            # Only then: an attribute the plain path never has, and a wrapped completion.
            self.effects = SideEffects(tuple(opt.side_effects), self._done_cbs[0])
            self._done_cbs = [self.effects.complete]
        # submit() asks it first: the gate, or with load shedding the gate and then the shedding check.
        self._gate = gate if opt.shed_load == math.inf else _shedding(self, gate)

    def reject(self, att, now: float, code: int, source: int) -> None:
        """Refuse ``att`` at ``now`` (seconds) with the run's code index ``code`` from ``source`` (limiter, quota, ...)."""
        # Answer a refusal (every refusal on arrival comes here, so refused.count is every one); when refusing is
        # not free, a worker spends reject_s on it.
        att.code = code
        att.source = source
        hint = self.opt.retry_after
        if hint is not None and att.retry_after is not None:
            att.retry_after = hint(att.retry_after)
        refused = self.refused
        refused.count += 1
        cost = self.opt.reject_s
        if cost > 0.0:
            refused.time_s += cost
            if self.free:
                self.free -= 1
                self.env.schedule(_Release(refused.release_cbs), PRIORITY, cost)
            else:
                # No idle worker: the next one to finish pays it before taking more work.
                refused.debt += cost
        self.respond(att, now)

    def _release(self, ev) -> None:
        self._next_from_queue(self.env._now)

    def submit(self, att, now: float) -> None:
        """An attempt arrives at the API at ``now``."""
        gate = self._gate
        if gate is not None and gate(att, now):
            return  # answered by the gate (limits, quota, auth)
        limiter = self.limiter
        if limiter is not None:
            wait = limiter.try_acquire(now)
            if wait > 0.0:
                att.retry_after = wait
                self.reject(att, now, self.rate_limit_code, SRC_LIMITER)
                return
        if self.free:
            self.free -= 1
            self._start(att, now)
        elif len(self.queue) < self.queue_limit:
            att.t_queued = now
            self.queue.append(att)
        else:
            self.reject(att, now, self.overload_code, SRC_CAPACITY)

    def _segment(self, now: float):
        if not (self._seg_start <= now < self._seg_end):
            b = self.faults.bounds
            k = bisect.bisect_right(b, now) - 1
            self._seg_start = b[k]
            self._seg_end = b[k + 1] if k + 1 < len(b) else math.inf
            self._seg = self.faults.segments[k]
        return self._seg

    def _start(self, att, now: float) -> None:
        op = att.req.op
        # The cached fault segment while `now` is in it, without a call (once per attempt served); _segment otherwise.
        seg = self._seg if self._seg_start <= now < self._seg_end else self._segment(now)
        total, cum, idx, origin, slow = seg[op]
        d = self.samplers[op]() * slow
        if total > 0.0:
            u = self.fault_u.random()
            if u < total:
                j = bisect.bisect_right(cum, u)
                att.code = idx[j]
                att.source = SRC_INCIDENT if origin[j] == FROM_INCIDENT else SRC_BACKGROUND
            else:
                att.code = CODE_OK
                att.source = SRC_SERVICE
        else:
            att.code = CODE_OK
            att.source = SRC_SERVICE
        if self._adjust:
            if self.opt.load_alpha:
                d *= 1.0 + self.opt.load_alpha * ((self.workers - self.free) / self.workers) ** self.opt.load_power
            if d > self.opt.processing_timeout:
                # The server gives up on the attempt at its processing timeout.
                d = self.opt.processing_timeout
                att.code = self.opt.processing_code
                att.source = SRC_PROCESSING_TIMEOUT
        att.service_time = d
        att.callbacks = self._done_cbs
        # Environment.schedule(att, PRIORITY, d) inlined (the same heap key: its time, priority and next id), one
        # call fewer per attempt; tests/sim/test_hot_path.py holds the two to the same queue.
        env = self.env
        heappush(env._queue, (env._now + d, PRIORITY, next(env._eid), att))

    def _complete(self, att) -> None:
        now = self.env._now
        self.busy_time += att.service_time
        if att.abandoned:
            self.wasted_time += att.service_time
        # _complete_general for FIFO and free refusals, inlined: the hot path (otherwise __init__ picks the general
        # one). tests/sim/test_service.py holds the two to the same results.
        queue = self.queue
        while queue:
            nxt = queue.popleft()
            if now - nxt.t_queued > self.queue_timeout:
                self._time_out_queued(nxt, now)
                continue
            self._start(nxt, now)
            break
        else:
            self.free += 1
        if not att.abandoned:
            self.respond(att, now)

    def _time_out_queued(self, att, now: float) -> None:
        # Taken from the queue after its queue timeout: answer the timeout code instead of serving it.
        att.code = self.timeout_code
        att.source = SRC_QUEUE_TIMEOUT
        if not att.abandoned:
            self.respond(att, now)

    def _complete_general(self, att) -> None:
        # An attempt's service ends: count the work, take the next attempt (any discipline, refusal costs), answer.
        now = self.env._now
        self.busy_time += att.service_time
        if att.abandoned:
            self.wasted_time += att.service_time
        self._next_from_queue(now)
        if not att.abandoned:
            self.respond(att, now)

    def _next_from_queue(self, now: float) -> None:
        # A worker is free at ``now``: it pays any rejection debt, else serves the next queued attempt.
        refused = self.refused
        if refused.debt > 0.0:
            cost, refused.debt = refused.debt, 0.0
            self.env.schedule(_Release(refused.release_cbs), PRIORITY, cost)
            return
        queue = self.queue
        disc = self.opt.discipline
        while queue:
            if disc is LIFO or (disc is ADAPTIVE_LIFO and len(queue) > self.opt.lifo_above):
                nxt = queue.pop()
            else:
                nxt = queue.popleft()
                # CoDel sheds what waited past the target unless the queue drained recently (a burst, not a
                # standing queue).
                if (disc is CODEL and now - nxt.t_queued > self.opt.codel_target
                        and now - self._last_empty > self.opt.codel_interval):
                    nxt.code = self.overload_code
                    nxt.source = SRC_SHED
                    if not nxt.abandoned:
                        self.respond(nxt, now)
                    continue
            if now - nxt.t_queued > self.queue_timeout:
                self._time_out_queued(nxt, now)
                continue
            self._start(nxt, now)
            break
        else:
            self.free += 1
            if disc is CODEL:
                self._last_empty = now

    @property
    def queue_length(self) -> int:
        """Attempts waiting for a worker."""
        return len(self.queue)

    @property
    def in_service(self) -> int:
        """Workers busy (serving, or spending a refusal's cost), those a capacity cut will retire included."""
        return self.workers - self.free + self.retiring

    # ------------------------------------------------------------ capacity cuts (resilsim.sim.capacity)
    # Off the per-attempt path: a service no cut reaches never calls these, and while a cut waits for busy
    # workers to finish, only the instance's completion and _next_from_queue are swapped (then restored).

    #: busy workers above ``workers`` that retire when they finish (a capacity cut came while they worked)
    retiring = 0
    #: when the queue was last empty (seconds; CoDel only: set on the instance by a CoDel service alone)
    _last_empty = 0.0

    def set_workers(self, n: int, now: float) -> None:
        """From ``now`` (seconds) on, the service has ``n`` workers (a capacity cut, or its end).

        Fewer: idle workers go at once; busy ones finish what they serve and
        then retire instead of taking the next attempt, which waits in the
        queue. More: retiring workers stay, and each new one takes the next
        queued attempt (or waits idle).
        """
        delta = n - self.workers
        self.workers = n
        if delta < 0:
            idle = min(-delta, self.free)
            self.free -= idle
            owed = -delta - idle
            if owed:
                if not self.retiring:
                    self._swap_completion(True)
                self.retiring += owed
        elif delta > 0:
            kept = min(delta, self.retiring)
            if kept:
                self.retiring -= kept
                if not self.retiring:
                    self._swap_completion(False)
            for _ in range(delta - kept):
                Service._next_from_queue(self, now)  # a new worker: the next queued attempt, or idle

    def _retire(self, now: float) -> None:
        # A busy worker finished while a cut is owed one: it leaves instead of taking the next attempt.
        self.retiring -= 1
        if not self.retiring:
            self._swap_completion(False)

    def _swap_completion(self, retiring: bool) -> None:
        # While workers are owed to a cut, every completion goes through _complete_general and a freed worker
        # through _retire; afterwards the instance's own paths come back.
        effects = getattr(self, "effects", None)
        if retiring:
            self._plain_completion = effects.inner if effects is not None else self._done_cbs[0]
            general = self._complete_general
            self._next_from_queue = self._retire
        else:
            general = self._plain_completion
            del self._next_from_queue
        if effects is not None:
            effects.inner = general
        else:
            self._done_cbs[0] = general


def _shedding(service: Service, gate):
    """The gate ``service.submit`` asks first under load shedding: ``gate`` (None: none), then a refusal of every
    arrival while the load (attempts in service and queued, per worker) is at ``opt.shed_load``; True: answered.
    In service is :attr:`Service.in_service`: busy workers a capacity cut will retire still serve."""
    opt = service.opt

    def gate_and_shed(att, now: float) -> bool:
        if gate is not None and gate(att, now):
            return True
        if service.in_service + len(service.queue) >= opt.shed_load * service.workers:
            service.reject(att, now, service.overload_code, SRC_SHED)
            return True
        return False

    return gate_and_shed
