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

#: The per-service metrics a sweep's rows carry for each service behind the API (``services:``), as columns
#: ``svc.NAME.METRIC`` (:func:`service_column`), from :meth:`resilsim.Result.services` over the sweep's window;
#: a plan's SLO may name them (``svc.aurora.success_rate>=0.99``).
SERVICE_METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("calls", "", "calls", 0, None, "higher",
           "calls made to the service for the client requests measured (not sent ones included)"),
    Metric("success_rate", "", "call success rate (0–1)", 0.0, 1.0, "higher",
           "share of the calls to the service that succeeded after their caller's retries"),
    Metric("attempts", "", "attempts at the service", 0, None, "lower", "attempts sent to the service"),
    Metric("amplification", "", "attempts at the service per client request", 0.0, None, "lower",
           "attempts sent to the service ÷ client requests measured"),
    Metric("mean_s", "s", "mean call latency (s)", 0.0, None, "lower",
           "mean seconds from a call's first send to its final answer as the caller sees it, retries included"),
    Metric("p99_s", "s", "p99 call latency (s)", 0.0, None, "lower",
           "99th percentile of the calls' latency (first send to final answer, retries included), seconds"),
    Metric("queue_s", "s", "mean queue wait at the service (s)", 0.0, None, "lower",
           "mean seconds an attempt waited in the service's queue until a worker took it or the queue timed it out"),
    Metric("utilisation", "", "utilisation of the service's workers (0–1)", 0.0, 1.0, "lower",
           "busy worker-seconds inside the window (held through its own calls) ÷ (workers × the window's seconds)"),
)}

#: The prefix of a per-service column of a sweep: ``svc.NAME.METRIC``.
SERVICE_PREFIX = "svc."


def service_column(service: str, metric: str) -> str:
    """The sweep column of ``metric`` (a :data:`SERVICE_METRICS` name) for the service ``service``."""
    return f"{SERVICE_PREFIX}{service}.{metric}"


def split_service_column(name: str) -> tuple[str, str] | None:
    """(service, metric) of a ``svc.NAME.METRIC`` column name, or None when ``name`` is not one."""
    if not name.startswith(SERVICE_PREFIX):
        return None
    service, _, metric = name[len(SERVICE_PREFIX):].rpartition(".")
    return (service, metric) if service and metric else None


def spec(name: str) -> Metric | None:
    """The :class:`Metric` of a summary metric or of a per-service column (``svc.NAME.METRIC``); None for others."""
    m = METRICS.get(name)
    if m is not None:
        return m
    parts = split_service_column(name)
    return SERVICE_METRICS.get(parts[1]) if parts else None


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
    """The axis label of metric ``name`` (the name itself when it is not a summary or per-service metric)."""
    m = spec(name)
    if m is not None and name.startswith(SERVICE_PREFIX):
        return f"{split_service_column(name)[0]}: {m.label}"
    return m.label if m is not None else name


def clip(name: str, lo, hi):
    """Confidence bounds ``lo``, ``hi`` (arrays) clipped to the range metric ``name`` can take."""
    m = spec(name)
    a, b = (m.low, m.high) if m is not None else (None, None)
    return np.clip(np.asarray(lo, float), a, b), np.clip(np.asarray(hi, float), a, b)
