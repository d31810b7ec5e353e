"""Every summary metric's name, unit, bounds and label: tables, charts, plans and reports read them here.

A metric is a column of :meth:`resilsim.Result.summary` (one row per
strategy) and of a sweep's rows. ``bounds`` is the range it can take (a
confidence band drawn outside it would suggest impossible values);
``better`` says which way is good, for SLO checks and charts.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Metric(NamedTuple):
    """One summary metric: its column name, unit, the range it can take and its axis label."""

    name: str
    unit: str          # "" for counts and ratios
    label: str         # axis or column label, unit included
    low: float | None  # smallest possible value (None: unbounded)
    high: float | None  # largest possible value (None: unbounded)
    better: str        # "higher" or "lower"
    # (amplification's low is 0, not 1: a strategy whose guards shed requests sends fewer attempts than requests)
    meaning: str       # one line for docs and tooltips


#: The summary metrics, in the order tables show them.
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("requests", "", "requests", 0, None, "higher", "requests offered after the warm-up"),
    Metric("success_rate", "", "request success rate (0–1)", 0.0, 1.0, "higher",
           "share of requests that ended in success"),
    Metric("p50_s", "s", "p50 latency (s)", 0.0, None, "lower", "median request latency, seconds"),
    Metric("p95_s", "s", "p95 latency (s)", 0.0, None, "lower", "95th percentile request latency, seconds"),
    Metric("p99_s", "s", "p99 latency (s)", 0.0, None, "lower", "99th percentile request latency, seconds"),
    Metric("mean_attempts", "", "attempts per request", 0.0, None, "lower", "attempts sent per request"),
    Metric("amplification", "", "attempts per request", 0.0, None, "lower",
           "attempts sent ÷ requests offered"),
    Metric("peak_amplification", "", "peak attempts per request (10 s)", 0.0, None, "lower",
           "the most attempts sent ÷ requests offered over any 10 s of the window"),
    Metric("goodput_rps", "1/s", "goodput (successful requests/s)", 0.0, None, "higher",
           "successful requests per second"),
    Metric("wasted_s", "s", "wasted service time (s)", 0.0, None, "lower",
           "service time spent on attempts whose answer nobody waited for, seconds"),
    Metric("duplicate_effects", "", "duplicate side effects", 0, None, "lower",
           "served attempts of a non-idempotent request beyond its first served one (whole run)"),
    Metric("recovery_s", "s", "time to recover (s)", 0.0, None, "lower",
           "seconds from an incident's end until success is back within 1 point of before"),
    # With a network only (scenario.network): where answered attempts spent their time, whole run.
    Metric("network_s", "s", "network time per attempt (s)", 0.0, None, "lower",
           "mean seconds an answered attempt spent in the network (request and response hops), whole run"),
    Metric("queue_s", "s", "queueing time per attempt (s)", 0.0, None, "lower",
           "mean seconds an answered attempt waited at the API before service or refusal, whole run (with a network)"),
    Metric("service_s", "s", "service time per attempt (s)", 0.0, None, "lower",
           "mean seconds of service an answered attempt got, whole run (with a network)"),
    Metric("mser5_warmup_s", "s", "detected warm-up (s)", 0.0, None, "lower",
           "warm-up detected by MSER-5, seconds"),
)}

#: The quantities on the run charts' axes (plots.py reads its axis labels here): name → label, unit included.
AXES: dict[str, str] = {
    "time": "time (s)",
    "arrival_time": "request arrival time (s)",
    "attempt_time": "attempt start time (s)",
    "success_rate": "request success rate (0–1)",
    "success_difference": "success rate − {baseline}'s (percentage points)",
    "latency": "latency of successful requests (s)",
    "latency_share": "fraction of successful requests (0–1)",
    "latency_tail": "fraction slower than x (0–1, log)",
    "load": "requests or attempts per second (1/s)",
    "errors": "failed attempts per second (1/s)",
    "layer_load": "attempts per second at the layer (1/s)",
    "outcome_share": "fraction of measured requests (0–1)",
    "outcome_count": "measured requests",
    "guard_share": "share open / rejection probability (0–1)",
    "budget_tokens": "retry-budget tokens",
}


def axis(name: str, **fill) -> str:
    """The axis label of chart quantity ``name`` (:data:`AXES`), its ``{placeholders}`` filled from ``fill``."""
    return AXES[name].format(**fill)


#: The metrics an SLO may name (``plan``): the per-request outcomes a review sets targets on.
SLO_METRICS = ("success_rate", "p50_s", "p95_s", "p99_s", "amplification", "peak_amplification", "goodput_rps",
               "mean_attempts", "recovery_s")


def label(name: str) -> str:
    """The axis label of metric ``name`` (the name itself when it is not a summary metric)."""
    m = METRICS.get(name)
    return m.label if m is not None else name


def clip(name: str, lo, hi):
    """Confidence bounds ``lo``, ``hi`` (arrays) clipped to the range metric ``name`` can take."""
    m = METRICS.get(name)
    a, b = (m.low, m.high) if m is not None else (None, None)
    return np.clip(np.asarray(lo, float), a, b), np.clip(np.asarray(hi, float), a, b)
