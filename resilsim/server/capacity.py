"""Capacity cuts, pure: how many workers a service has at each moment, from its incidents' ``workers``.

A capacity cut (an Aurora scale-up, a node lost, a deploy taking pods out)
leaves a service fewer workers for a while. :class:`WorkerSchedule` compiles
the cut windows of one service into the moments its worker count changes;
the SimPy side (:mod:`resilsim.sim.capacity`) applies each change when its
moment comes. Overlapping cuts: the smallest count in force wins.
"""
from __future__ import annotations

import bisect


class WorkerSchedule:
    """The workers of one service over time: ``nominal`` outside every cut, a cut's ``workers`` inside it.

    ``cuts`` are ``(start, end, workers)`` windows (seconds, seconds, count);
    a ramping cut is several windows, one per step (:func:`ramp_cuts`).
    """

    def __init__(self, nominal: int, cuts: list[tuple[float, float, int]]):
        if nominal < 1:
            raise ValueError(f"a service needs at least 1 worker, not {nominal}")
        for a, b, w in cuts:
            if not (b > a and 1 <= w <= nominal):
                raise ValueError(f"a cut needs end > start and 1 <= workers <= {nominal}; got ({a}, {b}, {w})")
        self.nominal = nominal
        self.cuts = sorted(cuts)
        bounds = sorted({a for a, _, _ in cuts} | {b for _, b, _ in cuts})
        self.bounds = bounds
        self.counts = [min([w for a, b, w in self.cuts if a <= t < b], default=nominal) for t in bounds]

    def workers_at(self, now: float) -> int:
        """The workers in force at ``now`` (seconds)."""
        k = bisect.bisect_right(self.bounds, now) - 1
        return self.nominal if k < 0 else self.counts[k]

    def changes(self) -> list[tuple[float, int]]:
        """``(time, workers)`` at each moment the count changes, in time order (none without cuts)."""
        out, last = [], self.nominal
        for t, w in zip(self.bounds, self.counts):
            if w != last:
                out.append((t, w))
                last = w
        return out


def ramp_cuts(start: float, nominal: int, workers: int, levels: list[tuple[float, float, float]]) -> list:
    """The cut windows of a ramping cut: at level ``lvl`` (0..1, from
    :func:`resilsim.server.incidents.ramp_levels`) the service has ``nominal − round((nominal − workers) × lvl)``
    workers (never fewer than ``workers``); steps that cut nothing are left out."""
    out = []
    for off, length, lvl in levels:
        w = nominal - round((nominal - workers) * lvl)
        if w < nominal:
            out.append((start + off, start + off + length, max(w, workers)))
    return out


def incident_cuts(spec, windows: list, nominal: int) -> list[tuple[float, float, int]]:
    """The cut windows of incident ``spec`` (a scenario's incident, with ``workers`` or ``capacity``: its
    ``cut_workers(nominal)``) on a service of ``nominal`` workers: its expanded ``windows``
    (:class:`~resilsim.server.faults.Incident`, flapping on-periods included) each with the cut's workers, or the
    ramp's steps (:func:`ramp_cuts`). Empty when it cuts nothing."""
    workers = spec.cut_workers(nominal)
    if workers is None or workers >= nominal:
        return []
    if spec.ramp is not None:
        from .incidents import ramp_levels
        r = spec.ramp
        return ramp_cuts(spec.start, nominal, workers, ramp_levels(spec.duration, r.up, r.down, r.steps))
    return [(w.start, w.end, workers) for w in windows]
