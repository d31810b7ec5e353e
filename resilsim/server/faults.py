"""The fault schedule, pure: which error an attempt meets, by operation and time.

Background error rates apply all the time; incidents add rates (and slow
service down) inside their windows. The schedule is compiled once into
segments between incident boundaries, so a lookup is one bisect and one
uniform draw.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# Where a fault comes from.
FROM_BACKGROUND = 0
FROM_INCIDENT = 1


@dataclass(frozen=True)
class Incident:
    """A window ``[start, start + duration)`` in which ``rates`` (code → probability per attempt) apply.

    ``operations`` limits it to those operations (empty: all); ``slowdown``
    multiplies service times inside the window.
    """

    start: float
    duration: float
    rates: dict = field(default_factory=dict)
    operations: tuple = ()
    slowdown: float = 1.0
    name: str = ""

    @property
    def end(self) -> float:
        return self.start + self.duration


class FaultSchedule:
    """Compiled error rates per operation and time segment.

    ``codes`` is the run's list of code names; lookups return an index into
    it, or -1 for no fault.
    """

    def __init__(self, operations: list[str], codes: list[str], background: dict,
                 incidents: list[Incident]):
        self.operations = list(operations)
        self.codes = list(codes)
        self.incidents = sorted(incidents, key=lambda i: i.start)
        index = {c: i for i, c in enumerate(self.codes)}
        bounds = sorted({0.0} | {i.start for i in incidents} | {i.end for i in incidents})
        self.bounds = bounds
        self._index = index
        # segments[k][op] = (p_total, cumulative probabilities, code indices, origins, slowdown)
        self.segments = []
        for t in bounds:
            active = [i for i in self.incidents if i.start <= t < i.end]
            per_op = []
            for op in self.operations:
                entries = [(p, index[c], FROM_BACKGROUND) for c, p in background.items() if p > 0]
                slow = 1.0
                for inc in active:
                    if inc.operations and op not in inc.operations:
                        continue
                    slow *= inc.slowdown
                    entries += [(p, index[c], FROM_INCIDENT) for c, p in inc.rates.items() if p > 0]
                total = sum(e[0] for e in entries)
                if total > 1.0:
                    # Overlapping incidents can sum past 1: scale to "every attempt fails".
                    entries = [(p / total, c, o) for p, c, o in entries]
                cum, acc = [], 0.0
                for p, _, _ in entries:
                    acc += p
                    cum.append(acc)
                if entries:
                    cum[-1] = min(acc, 1.0)
                per_op.append((cum[-1] if entries else 0.0, cum, [e[1] for e in entries],
                               [e[2] for e in entries], slow))
            self.segments.append(per_op)

    def segment(self, now: float) -> list:
        """The per-operation tables in force at ``now`` (seconds)."""
        return self.segments[bisect.bisect_right(self.bounds, now) - 1]

    def draw(self, now: float, op: int, u: float) -> tuple[int, int]:
        """(code index, origin) an attempt of operation ``op`` meets at ``now`` given uniform ``u``; (-1, -1) for none."""
        total, cum, idx, origin, _ = self.segment(now)[op]
        if u >= total:
            return -1, -1
        j = bisect.bisect_right(cum, u)
        return idx[j], origin[j]

    def slowdown(self, now: float, op: int) -> float:
        """The service-time factor for operation ``op`` at ``now``."""
        return self.segment(now)[op][4]

    def windows(self) -> list[tuple[float, float, str]]:
        """(start, end, label) of every incident, for shading charts."""
        return [(i.start, i.end, i.name or ",".join(i.rates)) for i in self.incidents]
