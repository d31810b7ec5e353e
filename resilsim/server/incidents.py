"""The incident library, and the expansion of flapping and ramping incidents into plain windows.

Library entries are named after the seed documents' own hints (e.g.
ANALYTICS_1900 "Aurora Serverless may be scaling up"). A scenario uses one
as ``{use: aurora-scale-up, start: 1200}`` and may override any field.
``dependency`` names what the incident takes down: it fails only the
operations whose ``uses:`` lists that dependency (all operations when none
declares it).
"""
from __future__ import annotations

import math

from .faults import Incident

#: name → (api, default fields). Durations are seconds, rates per attempt.
LIBRARY: dict[str, tuple[str, dict]] = {
    # Seed: ANALYTICS_1900 DATABASE_ERROR "Retry; Aurora Serverless may be scaling up".
    "aurora-scale-up": ("analytics", {"duration": 180, "code": "ANALYTICS_1900", "rate": 0.6,
                                      "slowdown": 1.5, "dependency": "aurora"}),
    # Seed: ANALYTICS_1801 AIBRAIN_SERVICE_ERROR on the AI operations.
    "aibrain-restart": ("analytics", {"duration": 120, "code": "ANALYTICS_1801", "rate": 1.0,
                                      "dependency": "aibrain"}),
    # Seed: ANALYTICS_1203 MODEL_UNAVAILABLE "the model is being updated" on forecasts.
    "model-update": ("analytics", {"duration": 300, "code": "ANALYTICS_1203", "rate": 1.0,
                                   "dependency": "model"}),
    # Seed: ANALYTICS_1803 KAFKA_PUBLISH_FAILED (MSK unavailable).
    "msk-unavailable": ("analytics", {"duration": 300, "code": "ANALYTICS_1803", "rate": 0.8,
                                      "dependency": "msk"}),
    # Seed: ANALYTICS_1804 CACHE_ERROR during a Redis failover: short, and cache misses slow the rest.
    "redis-failover": ("analytics", {"duration": 30, "code": "ANALYTICS_1804", "rate": 0.5,
                                     "slowdown": 2.0, "dependency": "redis"}),
    # Seed: ANALYTICS_1904 PARTITION_ERROR during partition maintenance.
    "partition-maintenance": ("analytics", {"duration": 600, "code": "ANALYTICS_1904", "rate": 0.2,
                                            "dependency": "aurora"}),
    # Seed: ANALYTICS_2003 BOOTSTRAP_FAILED "wait for service restart": the whole API is down.
    "bootstrap-failure": ("analytics", {"duration": 90, "code": "ANALYTICS_2003", "rate": 1.0}),
    # nanoStream: the 104XXX family, "Please try again later".
    "nanostream-104-burst": ("nanostream", {"duration": 60, "code": "104000", "rate": 0.5}),
    # Counter API: -1000 Unknown, "Yes (limited)" retry guidance.
    "counters-unknown-burst": ("counters", {"duration": 60, "code": "-1000", "rate": 0.5}),
}


def flap_windows(start: float, duration: float, on_mean: float, off_mean: float, rng) -> list[tuple[float, float]]:
    """(start, end) of the 'on' periods of a flapping incident inside ``[start, start + duration)``.

    On and off periods are exponential with the given means (seconds),
    drawn from ``rng`` (anything with ``.random()``); it starts 'on'.
    """
    out, t, end, on = [], start, start + duration, True
    while t < end:
        d = -(on_mean if on else off_mean) * math.log(1.0 - rng.random())
        if on:
            out.append((t, min(t + d, end)))
        t += d
        on = not on
    return out


def ramp_levels(duration: float, up: float, down: float, steps: int) -> list[tuple[float, float, float]]:
    """(offset, length, level) steps of a ramp: level rises to 1 over ``up`` s, holds, falls to 0 over ``down`` s.

    Each ramp is ``steps`` piecewise-constant steps (a fault schedule is
    piecewise constant); level ``k/steps`` multiplies the incident's rates.
    """
    up, down = min(up, duration), min(down, max(duration - up, 0.0))
    out = []
    if up > 0:
        w = up / steps
        out += [(k * w, w, (k + 1) / steps) for k in range(steps)]
    hold = duration - up - down
    if hold > 0:
        out.append((up, hold, 1.0))
    if down > 0:
        w = down / steps
        out += [(up + hold + k * w, w, (steps - k) / steps) for k in range(steps)]
    return out


def expand(start: float, duration: float, rates: dict, operations: tuple, slowdown: float, name: str,
           flap: tuple | None = None, ramp: tuple | None = None, rng=None) -> list[Incident]:
    """The plain :class:`Incident` windows of one incident spec (flapping and ramps split into several)."""
    if flap is not None:
        return [Incident(a, b - a, dict(rates), operations, slowdown, name)
                for a, b in flap_windows(start, duration, flap[0], flap[1], rng) if b > a]
    if ramp is not None:
        return [Incident(start + off, length, {c: p * lvl for c, p in rates.items()}, operations,
                         1.0 + (slowdown - 1.0) * lvl, name)
                for off, length, lvl in ramp_levels(duration, ramp[0], ramp[1], ramp[2])]
    return [Incident(start, duration, dict(rates), operations, slowdown, name)]
