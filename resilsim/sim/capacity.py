"""Capacity cuts on SimPy's clock: a service's worker count changes at the moments its schedule says.

The schedule is pure (:class:`resilsim.server.capacity.WorkerSchedule`);
this only puts one event per change on the queue, at set-up, and calls
:meth:`resilsim.sim.service.Service.set_workers` when it fires. A scenario
without ``workers`` in an incident builds none of this.
"""
from __future__ import annotations

from .events import PRIORITY


class _Change:
    """One scheduled change of a service's workers."""

    __slots__ = ("callbacks", "_ok", "workers")

    def __init__(self, workers: int, callbacks: list):
        self.callbacks = callbacks
        self._ok = True
        self.workers = workers


def schedule_cuts(env, service, schedule) -> int:
    """Schedule every change of ``schedule`` (a :class:`~resilsim.server.capacity.WorkerSchedule`) on
    ``service``; return how many. Changes at or after the run's end simply never fire."""
    def apply(change):
        service.set_workers(change.workers, env._now)

    changes = schedule.changes()
    for t, w in changes:
        env.schedule(_Change(w, [apply]), PRIORITY, t - env.now)
    return len(changes)
