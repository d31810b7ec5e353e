"""The service: rate limit, workers and queue, faults. The SimPy side of the server.

It wires the pure pieces of :mod:`resilsim.server` to SimPy's clock: an
attempt is admitted or refused by the limiter, served by a free worker or
queued, meets the fault schedule, and is answered through ``respond``.
"""
from __future__ import annotations

import bisect
import math
from collections import deque

from ..rng import BlockRandom
from ..server.faults import FROM_INCIDENT
from .events import PRIORITY
from .recorder import (CODE_OK, SRC_BACKGROUND, SRC_CAPACITY, SRC_INCIDENT, SRC_LIMITER, SRC_QUEUE_TIMEOUT,
                       SRC_SERVICE)


class Service:
    """Workers, a bounded FIFO queue, an optional rate limiter and a fault schedule.

    ``respond(att, now)`` is called once per attempt when the API answers it.
    Codes are indices into the run's code table: ``rate_limit_code``,
    ``overload_code`` (queue full) and ``timeout_code`` (waited past
    ``queue_timeout`` seconds when a worker picks it up: servers check on
    dequeue, so the answer comes then).
    """

    def __init__(self, env, *, workers: int, queue_limit: int | None, queue_timeout: float | None,
                 samplers: list, faults, fault_gen, limiter, rate_limit_code: int, overload_code: int,
                 timeout_code: int, respond):
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
        self._done_cbs = [self._complete]
        self._schedule = env.schedule
        # Work counters (seconds of service time): busy and spent on abandoned attempts.
        self.busy_time = 0.0
        self.wasted_time = 0.0
        # Fault segments change only at incident boundaries: cache the current one.
        self._bounds = faults.bounds
        self._seg_end = -math.inf
        self._seg_start = math.inf
        self._seg = None

    def submit(self, att, now: float) -> None:
        """An attempt arrives at the API at ``now``."""
        limiter = self.limiter
        if limiter is not None:
            wait = limiter.try_acquire(now)
            if wait > 0.0:
                att.code = self.rate_limit_code
                att.source = SRC_LIMITER
                att.retry_after = wait
                self.respond(att, now)
                return
        if self.free:
            self.free -= 1
            self._start(att, now)
        elif len(self.queue) < self.queue_limit:
            att.t_queued = now
            self.queue.append(att)
        else:
            att.code = self.overload_code
            att.source = SRC_CAPACITY
            self.respond(att, now)

    def _segment(self, now: float):
        if not (self._seg_start <= now < self._seg_end):
            b = self._bounds
            k = bisect.bisect_right(b, now) - 1
            self._seg_start = b[k]
            self._seg_end = b[k + 1] if k + 1 < len(b) else math.inf
            self._seg = self.faults.segments[k]
        return self._seg

    def _start(self, att, now: float) -> None:
        op = att.req.op
        total, cum, idx, origin, slow = self._segment(now)[op]
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
        att.service_time = d
        att.callbacks = self._done_cbs
        self._schedule(att, PRIORITY, d)

    def _complete(self, att) -> None:
        now = self.env._now
        self.busy_time += att.service_time
        if att.abandoned:
            self.wasted_time += att.service_time
        queue = self.queue
        while queue:
            nxt = queue.popleft()
            if now - nxt.t_queued > self.queue_timeout:
                nxt.code = self.timeout_code
                nxt.source = SRC_QUEUE_TIMEOUT
                if not nxt.abandoned:
                    self.respond(nxt, now)
                continue
            self._start(nxt, now)
            break
        else:
            self.free += 1
        if not att.abandoned:
            self.respond(att, now)

    @property
    def queue_length(self) -> int:
        return len(self.queue)

    @property
    def in_service(self) -> int:
        return self.workers - self.free
