"""Network incidents between two services, pure: what the network does to a call attempt sent at a moment.

A :class:`LinkSchedule` is compiled once from the windows of the network
incidents on one call edge (``faults.incidents[i].edge``): outside every
window it answers None (the call goes straight to the callee, as without
incidents); inside, the probability that an attempt is lost on its way and
the extra hops it takes. Overlapping windows combine: an attempt is lost if
any of them loses it (1 − Π(1 − loss)), and their hops add up.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class LinkWindow:
    """A window ``[start, end)`` (seconds) of one network incident on an edge.

    ``loss`` is the probability per attempt that it is lost on the request
    hop; ``request``, ``response`` and ``round_trip`` are zero-argument
    samplers of extra hop seconds (None: none that way); a round trip is
    split evenly between the two hops.
    """

    start: float
    end: float
    loss: float = 0.0
    request: Callable | None = None
    response: Callable | None = None
    round_trip: Callable | None = None
    name: str = ""

    def hops(self) -> tuple[float, float]:
        """One draw of this window's extra ``(request, response)`` hop seconds."""
        if self.round_trip is not None:
            half = self.round_trip() * 0.5
            return half, half
        return (self.request() if self.request is not None else 0.0,
                self.response() if self.response is not None else 0.0)


class LinkSchedule:
    """The network incidents of one edge, compiled into segments between their boundaries."""

    def __init__(self, windows: list[LinkWindow]):
        self.windows = sorted(windows, key=lambda w: w.start)
        bounds = sorted({0.0} | {w.start for w in windows} | {w.end for w in windows})
        self.bounds = bounds
        self.segments = []
        for t in bounds:
            active = tuple(w for w in self.windows if w.start <= t < w.end)
            if not active:
                self.segments.append(None)
                continue
            kept = math.prod(1.0 - w.loss for w in active)
            self.segments.append((1.0 - kept, active))

    def span(self, now: float) -> tuple[float, float, tuple | None]:
        """``(start, end, segment)`` of the segment holding ``now`` (seconds): segment is None outside every
        window, else ``(loss, active windows)``."""
        b = self.bounds
        k = bisect.bisect_right(b, now) - 1
        return b[k], (b[k + 1] if k + 1 < len(b) else math.inf), self.segments[k]

    def at(self, now: float):
        """The segment in force at ``now``: None, or ``(loss probability, active windows)``."""
        return self.span(now)[2]
