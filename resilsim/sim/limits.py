"""Runaway work, bounded: the watchdog that stops one strategy's run at a scenario's ``limits``.

A scenario whose load or retries grow without limit (immediate retries
against a saturated service, an unstable queue) would otherwise fill memory
or run for hours. :func:`resilsim.sim.events.run_until` calls the watchdog
every :data:`CHECK_EVERY` events (never per event); the watchdog compares
plain counters (attempts sent, events processed), the wall clock and the
process's resident memory with the caps, and answers the reason to stop,
or None. The run then ends where it is: finished requests keep their rows,
requests in flight stay ``incomplete``, and the Result says it was truncated.
Caps on attempts and events are deterministic (same seed, same stopping
point); wall time and memory are not. See docs/reliability.md.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

from ..errors import ScenarioError
from .recorder import ATTEMPT_COLUMNS, REQUEST_COLUMNS

#: Events processed between two checks: overshoot is at most this many events.
CHECK_EVERY = 4096
#: The least derived attempt cap, so tiny runs are never stopped by rounding.
MIN_ATTEMPTS = 10_000
#: Derived event cap per allowed attempt (an attempt costs 2-4 events; arrivals and sampler ticks add a few).
EVENTS_PER_ATTEMPT = 20
#: Attempts one request may make: the recorder's attempt numbers are 16-bit (at most 32,767), and a
#: request can add at most CHECK_EVERY attempts between two checks (a zero-wait retry loop against an
#: instant refusal makes one event per attempt), so the run stops well before the column would overflow.
MAX_ATTEMPTS_PER_REQUEST = 32_767 - 2 * CHECK_EVERY


#: Bytes one expected request costs with full recording, per strategy: its row, 1.25 attempt rows (the
#: recorder's first allocation) and the tables built from them at the end (as much again).
REQUEST_BYTES = 2 * (sum(np.dtype(t).itemsize for t in REQUEST_COLUMNS.values())
                     + 1.25 * sum(np.dtype(t).itemsize for t in ATTEMPT_COLUMNS.values()))
#: Bytes one timeline bin costs per strategy: the sampler's columns (up to 7 with guards), the summary
#: recorder's counts and the timeline table's row (about 16 columns).
BIN_BYTES = 8 * 7 + 4 * 7 + 8 * 16
#: Bytes a strategy's run costs whatever its length: its SimPy environment, policies and record objects.
STRATEGY_BYTES = 200_000


def memory_estimate(scenario, record: str = "full", strategies: int | None = None) -> float:
    """The least memory (bytes) a run of ``strategies`` strategies (default: all) allocates: every strategy's
    record is kept until the Result is built, and its columns and timeline bins are allocated up front."""
    n = len(scenario.strategies) if strategies is None else strategies
    bins = math.ceil(scenario.duration / scenario.bin)
    per_run = STRATEGY_BYTES + BIN_BYTES * bins
    if record == "full":
        per_run += REQUEST_BYTES * expected_requests(scenario)
    return n * per_run


def check_budget(scenario, record: str = "full", strategies: int | None = None) -> None:
    """Refuse, before anything is allocated, a run whose :func:`memory_estimate` is beyond
    ``limits.max_memory_mb``: the watchdog only checks memory once the run has started, and a run's
    columns and bins are allocated before that. Raises :class:`ScenarioError` (one sentence)."""
    cap = scenario.limits.max_memory_mb
    if cap is None:
        return
    need = memory_estimate(scenario, record, strategies) / 2 ** 20
    if need > cap:
        n = len(scenario.strategies) if strategies is None else strategies
        bins = math.ceil(scenario.duration / scenario.bin)
        rows = f"{expected_requests(scenario):,.0f} expected requests and " if record == "full" else ""
        raise ScenarioError(
            f"the run needs about {need:,.0f} MiB ({'1 strategy with' if n == 1 else f'{n:,} strategies, each with'} {rows}"
            f"{bins:,} timeline bins), more than limits.max_memory_mb ({cap:g} MiB); shorten duration, widen bin, "
            f"run fewer strategies{'' if record != 'full' else ', record summaries only'} or raise the limit")


def expected_requests(scenario) -> float:
    """Requests the scenario's arrivals offer on average: rate × duration plus the rate changes' extra (a rate
    curve: its integral over the run; a replayed trace: its timestamps within the run, times its rate scale)."""
    users = _closed_requests(scenario)
    a = scenario.clients.arrival
    if a is None:
        return users
    return users + _open_requests(scenario, a)


def _closed_requests(scenario) -> float:
    # Closed-loop users: each at most one request per think time plus mean service time and hops (an estimate).
    c = scenario.clients.closed
    if c is None:
        return 0.0
    from ..server.build import mean_service_s
    cycle = mean_service_s(scenario.service)
    if c.think is not None:
        cycle += c.think.distribution().mean
    if scenario.network is not None:
        cycle += sum(lat.distribution().mean for _, lat in scenario.network.latency.specs())
    return c.users * scenario.duration / cycle


def _open_requests(scenario, a) -> float:
    p = a.poisson
    if p is not None:
        return max(p.rate * scenario.duration + sum((c.rate - p.rate) * c.duration for c in p.changes), 0.0)
    from ..scenario.data import curve_integral
    from ..scenario.load import read_curve, read_trace
    if a.curve is not None:
        return curve_integral(*read_curve(a.curve.file), scenario.duration, a.curve.scale, a.curve.time_scale)
    t = read_trace(a.replay.file) * a.replay.time_scale
    return float(np.searchsorted(t, scenario.duration)) * a.replay.rate_scale


def attempt_cap(scenario) -> int:
    """The run's cap on attempts sent: ``limits.max_attempts``, else max_amplification × expected requests."""
    lim = scenario.limits
    if lim.max_attempts is not None:
        return int(lim.max_attempts)
    return max(MIN_ATTEMPTS, int(math.ceil(lim.max_amplification * expected_requests(scenario))))


def event_cap(scenario) -> int:
    """The run's cap on simulation events: ``limits.max_events``, else 20 × the attempt cap."""
    lim = scenario.limits
    return int(lim.max_events) if lim.max_events is not None else EVENTS_PER_ATTEMPT * attempt_cap(scenario)


def rss_bytes() -> int:
    """The process's resident memory now, bytes (Linux: /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class Watchdog:
    """Checks one run against its caps; ``watchdog(events)`` answers why to stop, or None.

    ``clients`` gives ``attempts_sent``; ``events`` is the count run_until
    has processed so far. Built at the start of the run (its wall clock and
    memory baseline start then).
    """

    __slots__ = ("clients", "max_attempts", "max_events", "wall_deadline", "wall_s", "max_rss", "max_mb",
                 "reason", "attempt_col", "seen")

    def __init__(self, scenario, clients, recorder=None):
        lim = scenario.limits
        self.clients = clients
        # The recorder's attempt rows (None for summary-only recording): the per-request check reads the new ones.
        self.attempt_col = getattr(recorder, "attempts", None)
        self.seen = 0
        self.max_attempts = attempt_cap(scenario)
        self.max_events = event_cap(scenario)
        self.wall_s = lim.wall_s
        self.wall_deadline = time.perf_counter() + lim.wall_s if lim.wall_s is not None else math.inf
        self.max_mb = lim.max_memory_mb
        self.max_rss = rss_bytes() + lim.max_memory_mb * 2 ** 20 if lim.max_memory_mb is not None else math.inf
        self.reason = None      # the sentence saying why the run stopped, if it did

    def __call__(self, events: int) -> str | None:
        """Why the run must stop after ``events`` events (a sentence), or None to go on."""
        sent = self.clients.attempts_sent
        if sent > self.max_attempts:
            return self._stop("max_attempts", f"more than {self.max_attempts:,} attempts were sent")
        if events > self.max_events:
            return self._stop("max_events", f"more than {self.max_events:,} simulation events were processed")
        cols = self.attempt_col
        if cols is not None and cols.n > self.seen:
            top = int(cols.cols["attempt"][self.seen: cols.n].max())  # only the rows since the last check
            self.seen = cols.n
            if top > MAX_ATTEMPTS_PER_REQUEST:  # fixed by the recorder, not a field of `limits`
                self.reason = (f"a request made more than {MAX_ATTEMPTS_PER_REQUEST:,} attempts (a retry loop that "
                               "never waits?), the most one request may make")
                return self.reason
        if time.perf_counter() > self.wall_deadline:
            return self._stop("wall_s", f"it ran for more than {self.wall_s:g} s of wall-clock time")
        if self.max_rss != math.inf and rss_bytes() > self.max_rss:
            return self._stop("max_memory_mb", f"memory grew by more than {self.max_mb:g} MiB")
        return None

    def _stop(self, limit: str, why: str) -> str:
        self.reason = f"{why} (limits.{limit})"
        return self.reason


def trim_partial(recorder, clients) -> None:
    """After a stop: drop request rows drawn ahead for arrivals that never happened (ids ≥ arrived)."""
    arrived = clients._next_id
    if recorder.summary_only:
        recorder.drop_arrivals_from(arrived)  # summary-only recording keeps counts, not rows
        return
    if recorder.requests.n > arrived:
        recorder.requests.n = arrived
