"""Result: the tidy tables of one simulation and the summary derived from them.

``requests`` has one row per request, ``attempts`` one row per attempt,
``timeline`` one row per strategy and time bin; every table has a
``strategy`` column, so strategies compare with a ``groupby``. Metrics are
computed here and only here.
"""
from __future__ import annotations

import functools
import html
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .errors import ResilsimError, ScenarioError
from .records import (CODE_CANCELLED, CODE_OK, CODE_TIMEOUT, OUT_FAILED, OUT_INCOMPLETE, OUT_SUCCESS, OUTCOMES, SOURCES,
                      RunRecord)
from .server.build import capacity_rps, global_rate_limit_rps

#: The tables with a row per request, attempt or time bin, written as Parquet or CSV (:meth:`Result.write_tables`).
ROW_TABLES = ("requests", "attempts", "timeline")
#: The per-layer tables written as CSV beside them only when the scenario has services (:meth:`Result.services`,
#: :meth:`Result.edges`, :meth:`Result.service_timeline`), read back by :meth:`Result.read_layers`.
LAYER_TABLES = ("services", "edges", "service_timeline")
TABLE_FORMATS = ("parquet", "csv")

SUMMARY_COLUMNS = ["strategy", "requests", "success_rate", "p50_s", "p95_s", "p99_s", "mean_attempts",
                   "amplification", "peak_amplification", "goodput_rps", *OUTCOMES, "wasted_s"]

#: With a network (``scenario.network``), the summary's breakdown of answered attempts' time (metrics.py).
NETWORK_COLUMNS = ["network_s", "queue_s", "service_s"]

#: The columns of :meth:`Result.services` (and, without ``busy_s``, with the edge's name, :meth:`Result.edges`).
SERVICE_COLUMNS = ["strategy", "service", "calls", "calls_ok", "success_rate", "attempts", "attempts_ok",
                   "attempt_timeouts", "not_sent", "skipped", "amplification", "mean_s", "p99_s", "queue_s", "busy_s",
                   "utilisation"]
EDGE_COLUMNS = ["strategy", "edge", "caller", *SERVICE_COLUMNS[1:-3]]

#: Peak amplification: the most attempts per offered request over any span of this many seconds.
PEAK_WINDOW_S = 10.0


class Window(NamedTuple):
    """The span of arrival times a summary measures, seconds: [``start``, ``end``).

    ``label`` says which window it is in words, for tables and reports;
    ``incident`` is the (start, end) of the incident(s) it names (None for the
    run or an explicit span): time to recover counts from its end.
    """

    start: float
    end: float
    label: str
    incident: tuple | None = None


def window_of(scenario, window=None) -> Window:
    """The :class:`Window` that ``window`` names in ``scenario``.

    ``None`` or ``"run"``: the whole run after the warm-up, [warmup, duration)
    (what every summary measured before windows existed). ``"incident:NAME"``:
    the incident of that name (``use:``/``name:``), or ``"incident:N"`` the
    N-th incident (1-based, for unnamed ones); ``"incident:all"``: from the
    first incident's start to the last one's end. An incident running past
    the run ends at ``duration``. ``"START,END"`` or ``(start, end)``: that
    span, seconds. Anything else, an incident the scenario lacks, start >= end
    or a span outside [0, duration]: :class:`ScenarioError`.
    """
    s = scenario
    if isinstance(window, Window):
        return window
    if window is None or window == "run":
        return Window(float(s.warmup), float(s.duration), f"run after warm-up ({s.warmup:g}–{s.duration:g} s)")
    incidents = s.faults.incidents
    if isinstance(window, str) and window.startswith("incident:"):
        key = window.split(":", 1)[1].strip()
        names = [i.name or f"incident:{k}" for k, i in enumerate(incidents, 1)]
        if key == "all" and incidents:
            picked, what = list(incidents), "every incident"
        elif key in [i.name for i in incidents if i.name]:
            picked, what = [i for i in incidents if i.name == key], f"incident {key}"
        elif key.isdigit() and 1 <= int(key) <= len(incidents):
            picked = [incidents[int(key) - 1]]
            what = f"incident {picked[0].name or key}"
        else:
            known = ", ".join(names + ["all"]) if incidents else "none"
            raise ScenarioError(f"{window!r} names no incident of scenario {s.name!r}; its incidents: {known}",
                                path="window")
        a = min(i.start for i in picked)
        b = min(float(s.duration), max(i.start + i.duration for i in picked))
        return Window(float(a), float(b), f"{what} ({a:g}–{b:g} s)", (float(a), float(b)))
    span = window.split(",") if isinstance(window, str) else window
    try:
        a, b = (float(v) for v in span)
    except (TypeError, ValueError):
        raise ScenarioError(f"{window!r} must be 'run', 'incident:NAME', 'incident:all' or 'START,END' "
                            "in seconds", path="window") from None
    if not (math.isfinite(a) and math.isfinite(b)) or a >= b:
        raise ScenarioError(f"{window!r} must start before it ends (START < END, seconds)", path="window")
    if a < 0 or b > s.duration:
        raise ScenarioError(f"{a:g}–{b:g} s lies outside the run (0–{s.duration:g} s)", path="window")
    return Window(a, b, f"{a:g}–{b:g} s")


class Result:
    """What :func:`resilsim.simulate` returns: the scenario, the seed and tidy DataFrames.

    ``requests`` and ``attempts`` are built on first use from the recorder's
    numpy columns (zero-copy where the dtypes allow), and :meth:`summary`
    reads those columns directly, so a run that only needs its summary never
    builds the tables (benchmarks/RESULTS.md: memory per attempt). Tables
    assigned by hand replace the columns as the source of every metric.
    """

    def __init__(self, scenario, seed, requests: pd.DataFrame | None = None, attempts: pd.DataFrame | None = None,
                 timeline: pd.DataFrame | None = None, windows: list | None = None, strategies: dict | None = None,
                 stats: dict | None = None, truncated: dict | None = None):
        self.scenario = scenario
        self.seed = seed
        self.windows = [] if windows is None else windows
        self.strategies = {} if strategies is None else strategies
        self.stats = {} if stats is None else stats
        #: strategy → why its run stopped early at a scenario limit (its tables are partial); empty: none did.
        self.truncated = {} if truncated is None else truncated
        self._requests, self._attempts, self._timeline = requests, attempts, timeline
        self._runs: dict[str, RunRecord] | None = None  # from_runs: the tables come from these runs' columns
        self._codes = self._code_lut = self._code_categories = None
        self._summary_cache = None  # (scenario, {window: summary}): see summary()

    @classmethod
    def from_runs(cls, scenario, seed, codes: list, runs: dict[str, RunRecord]) -> "Result":
        """Keep the columns of several strategy runs, checked, for the tables (internal to :func:`simulate`)."""
        if any(run.recorder.summary_only for run in runs.values()):
            return SummaryResult.from_runs(scenario, seed, codes, runs)
        from .invariants import check_run
        for name, run in runs.items():  # every run is checked before its tables are built (docs/reliability.md)
            check_run(scenario, seed, name, run)
        result = cls(scenario, seed, **_described(runs, lambda rec: rec.attempts.nbytes))
        result._runs = runs
        result._codes = codes
        return result

    # ------------------------------------------------------------ tables (built on first use)

    @property
    def requests(self) -> pd.DataFrame:
        """One row per request: strategy, request id, operation, start, end, latency (s), attempts, outcome, code."""
        if self._requests is None and self._runs is not None:
            self._requests = self._table("requests")
        return self._requests

    @requests.setter
    def requests(self, value: pd.DataFrame) -> None:
        self._from_tables()
        self._requests = value
        self._tables_changed()

    @property
    def attempts(self) -> pd.DataFrame:
        """One row per attempt: strategy, request id, attempt number, start, end (s), HTTP status, code, source."""
        if self._attempts is None and self._runs is not None:
            self._attempts = self._table("attempts")
        return self._attempts

    @attempts.setter
    def attempts(self, value: pd.DataFrame) -> None:
        self._from_tables()
        self._attempts = value
        self._tables_changed()

    @property
    def timeline(self) -> pd.DataFrame:
        """One row per strategy and time bin (see :func:`_timeline`)."""
        if self._timeline is None and self._runs is not None:
            order = list(self._runs)
            frames = [_timeline(name, self.scenario, run, order) for name, run in self._runs.items()]
            self._timeline = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)  # no copy for one
        return self._timeline

    @timeline.setter
    def timeline(self, value: pd.DataFrame) -> None:
        self._timeline = value
        self._tables_changed()

    def _from_tables(self) -> None:
        # A table assigned by hand: build the others first, then the tables are the source of every metric.
        if self._runs is not None:
            _ = self.requests, self.attempts, self.timeline
            self._runs = None

    def _table(self, which: str) -> pd.DataFrame:
        # The requests or attempts table of every strategy, straight from the recorder's columns: views where
        # the dtype is already the table's (one strategy), categoricals from integer codes (no strings per row).
        runs, codes = self._runs, self._codes
        order = list(runs)
        cols = [{"req": run.recorder.requests.view(), "att": run.recorder.attempts.view()} for run in runs.values()]
        names = [c.code for c in codes] + ["TIMEOUT", "", "CANCELLED"]
        if self._code_lut is None:
            # Codes -1 (ok), -2 (timeout) and -3 (a cancelled hedge) map to the last three names; the categories
            # are the codes either table uses, in the catalog's order (the same for both tables).
            raw = np.unique(np.concatenate([np.unique(c[t]["code"]) for c in cols for t in ("req", "att")]
                                           + [np.array([CODE_OK], dtype=np.int16)]))
            table_code = np.where(raw == CODE_CANCELLED, len(codes) + 2,
                                  np.where(raw == CODE_OK, len(codes) + 1, np.where(raw == CODE_TIMEOUT, len(codes), raw)))
            used = np.unique(table_code)
            lut = np.full(len(codes) + 3, -1, dtype=np.int8 if len(used) < 127 else np.int16)
            lut[raw - CODE_CANCELLED] = np.searchsorted(used, table_code)  # indexed by raw code + 3
            self._code_lut, self._code_categories = lut, [names[i] for i in used]
        lut, code_categories = self._code_lut, self._code_categories

        def join(parts):
            return parts[0] if len(parts) == 1 else np.concatenate(parts)

        def cat(parts, categories):
            return pd.Categorical.from_codes(join(parts), dtype=_categories(tuple(categories)))

        def strategy_codes(key):
            small = np.int8 if len(cols) <= np.iinfo(np.int8).max else np.int32  # codes 0..n-1 of n strategies
            return [np.full(len(c[key]["start"]), k, dtype=small) for k, c in enumerate(cols)]

        if which == "requests":
            r = [c["req"] for c in cols]
            ops = [run.operations for run in runs.values()]
            if any(o != ops[0] for o in ops):
                raise ValueError("strategies of one result must share their operations")
            start, end = join([x["start"] for x in r]), join([x["end"] for x in r])
            data = {
                "strategy": cat(strategy_codes("req"), order),
                "request": join([np.arange(len(x["start"]), dtype=np.int64) for x in r]),
                "operation": cat([x["operation"] for x in r], ops[0]),
                "start": start, "end": end, "latency": end - start,
                "attempts": join([x["attempts"] for x in r]),
                "outcome": cat([x["outcome"] for x in r], list(OUTCOMES)),
                "code": cat([lut[x["code"] - CODE_CANCELLED] for x in r], code_categories),
            }
        else:
            http = np.array([c.http for c in codes] + [0, 200, 0], dtype=np.int16)
            # HTTP status per raw code + 3: cancelled, timeout and ok first.
            status = np.concatenate([http[[len(codes) + 2, len(codes), len(codes) + 1]], http[:len(codes)]])
            a = [c["att"] for c in cols]
            data = {
                "strategy": cat(strategy_codes("att"), order),
                "request": join([x["request"] for x in a]), "attempt": join([x["attempt"] for x in a]),
                "start": join([x["start"] for x in a]), "end": join([x["end"] for x in a]),
                "status": join([status[x["code"] - CODE_CANCELLED] for x in a]),
                "code": cat([lut[x["code"] - CODE_CANCELLED] for x in a], code_categories),
                "source": cat([x["source"] for x in a], list(SOURCES)),
            }
        return pd.DataFrame(data, copy=False)

    # ------------------------------------------------------------ metrics

    def measured(self, window=None, columns=None) -> pd.DataFrame:
        """Requests that arrived inside ``window`` (default: the measurement window [warmup, duration); see
        :func:`window_of`). ``columns``: only these columns, in this order (a copy of fewer columns: a chart
        that draws three of the nine copies a third of the bytes)."""
        w = window_of(self.scenario, window)
        r = self.requests
        keep = (r["start"] >= w.start) & (r["start"] < w.end)
        return r[keep] if columns is None else r.loc[keep, list(columns)]

    def summary(self, window=None) -> pd.DataFrame:
        """One row per strategy: requests, success rate, latency percentiles (s), attempts, goodput, outcomes.

        ``window`` picks the requests measured, by arrival time (see
        :func:`window_of`): the run after the warm-up (default), a named
        incident (``"incident:aurora-scale-up"``), every incident
        (``"incident:all"``) or ``(start, end)`` seconds; ``summary().attrs["window"]``
        says which, in words. Latency percentiles are of successful requests
        (first send to final answer, seconds); ``amplification`` is attempts ÷
        requests; ``peak_amplification`` the most attempts sent per request
        offered over any ``PEAK_WINDOW_S`` seconds of the window (by send and
        arrival time, to the timeline's bins); ``goodput_rps`` is successful
        requests per second of the window; ``wasted_s`` is service time spent
        on abandoned attempts (seconds, whole run); with incidents or
        arrival-rate changes, ``recovery_s`` (see :func:`recovery_time`;
        for an incident window, from that incident's end). With a network
        (``scenario.network``), ``network_s``, ``queue_s`` and ``service_s``:
        the mean seconds an answered attempt spent in the network (both hops),
        waiting at the API and in service (whole run, whatever the window).
        Computed once per window and kept; each call returns its own copy.
        """
        w = window_of(self.scenario, window)
        # Computed once per window and kept: `resilsim run` asks three times (the printed table, summary.csv,
        # the outcomes chart), the explorer and the report more. The cache belongs to this scenario and these
        # tables: assigning a table or another scenario starts a new one (a shallow copy, as sweeps measure
        # from a later warm-up, has its scenario). Each call returns its own copy, free to change.
        cache = getattr(self, "_summary_cache", None)
        if cache is None or cache[0] is not self.scenario:
            cache = self._summary_cache = (self.scenario, {})
        if w not in cache[1]:
            cache[1][w] = self._summary_frame(self._summary_rows(w), w)
        return cache[1][w].copy()

    def _tables_changed(self) -> None:
        # A table assigned by hand: what was computed from the old ones is stale (a new cache, not cleared in
        # place: a shallow copy of this result may share the old one).
        self._summary_cache = None

    def strategies_table(self) -> pd.DataFrame:
        """One row per strategy, indexed by name: its parameters as columns (tidy; join on ``strategy``).

        From :meth:`Strategy.describe`: the retry policy's (``retry``,
        ``wait``, ``stop_attempts``, ...), each guard's as ``kind_param``
        (``breaker_open_s``, ``token_bucket_max_tokens``, ...), ``guards``,
        ``guard_scope`` and hedging (``hedge_delay_s``). A parameter a strategy
        does not have is NaN. ``result.summary().join(result.strategies_table())``
        gives a summary a sweep can group by parameters.
        """
        rows = [{"strategy": name, **(params if isinstance(params, dict) else {"retry": str(params)})}
                for name, params in self.strategies.items()]
        return pd.DataFrame(rows).set_index("strategy")

    def services(self, window=None) -> pd.DataFrame:
        """Per strategy and service behind the API (``services:``), the API first, over ``window`` (as
        :meth:`summary`'s: default the run after the warm-up; ``"incident:NAME"``, ``"incident:all"`` or
        ``(start, end)`` seconds; ``.attrs["window"]`` says which). A service's row counts the calls made on
        behalf of the client requests that arrived in the window (the requests :meth:`summary` measures),
        through every layer: ``calls`` made to it (not sent ones included), ``calls_ok`` that succeeded after
        the caller's retries, ``success_rate`` (calls_ok ÷ calls), ``attempts`` sent to it, ``attempts_ok``
        answered with success, ``attempt_timeouts`` (the caller stopped waiting), ``not_sent`` (the caller's
        deadline had passed), ``skipped`` (a call's ``probability`` said no), ``amplification`` (attempts ÷
        client requests), ``mean_s`` and ``p99_s`` (seconds from a call's first send to its final answer as the
        caller sees it, retries and backoff included, over every call sent, successful or not), ``queue_s``
        (mean seconds an attempt waited in the service's queue until a worker took it or the queue timed it
        out, attempts the caller had stopped waiting for included; refused attempts are not counted). ``busy_s``
        and ``utilisation`` measure the workers over the window's clock time instead: ``busy_s`` is the
        worker-seconds spent inside [start, end) on attempts served to their end (a worker held through its own
        calls is busy; refusal costs are not counted), ``utilisation`` is busy_s ÷ (the service's ``workers`` ×
        the window's seconds), 0–1 (a capacity cut shows as less). The API's row is the clients' (``calls``:
        requests, as :meth:`summary`'s); its latency and queueing are NaN (see :meth:`summary`). A call still in flight when the run ends is not counted. Empty without
        services (docs/call-graph.md)."""
        w = window_of(self.scenario, window)
        if self._runs is None:
            out = self._stored_layers("services", w)
        else:
            requests = {row["strategy"]: row for row in self._summary_rows(w)} if self._has_calls() else {}
            rows = []
            for name, run in self._runs.items():
                if not run.call_logs:
                    continue
                api = requests[name]
                n, n_att = api["requests"], round(api["amplification"] * api["requests"]) if api["requests"] else 0
                busy = {svc: _busy_in(spans, w) for svc, spans in run.call_busy.items()}
                rows.append({"strategy": name, "service": "api", "calls": n,
                             "calls_ok": round(api["success_rate"] * n) if n else 0,
                             "success_rate": api["success_rate"], "attempts": n_att, "attempts_ok": math.nan,
                             "attempt_timeouts": math.nan, "not_sent": 0, "skipped": 0,
                             "amplification": api["amplification"], "mean_s": math.nan, "p99_s": math.nan,
                             "queue_s": math.nan, "busy_s": busy.get("api", math.nan),
                             "utilisation": _utilisation(busy.get("api"), self.scenario.service.workers, w)})
                for svc in self.scenario.services:
                    logs = [lg for lg in run.call_logs if lg["service"] == svc]
                    waits = run.call_waits.get(svc)
                    rows.append({"strategy": name, "service": svc, **layer_metrics(logs, w, n),
                                 "queue_s": _mean_wait(waits, w), "busy_s": busy.get(svc, math.nan),
                                 "utilisation": _utilisation(busy.get(svc), self.scenario.services[svc].workers, w)})
            out = pd.DataFrame(rows, columns=SERVICE_COLUMNS)
        out.attrs["window"] = w.label
        return out

    def edges(self, window=None) -> pd.DataFrame:
        """Per strategy and call edge (one ``calls:`` entry: ``edge`` named caller.operation→service.operation,
        its ``caller`` and ``service``), the metrics of :meth:`services` over ``window`` for that edge's calls
        alone (no ``queue_s`` or ``busy_s``: a service's). Empty without services (docs/call-graph.md)."""
        w = window_of(self.scenario, window)
        if self._runs is None:
            out = self._stored_layers("edges", w)
        else:
            requests = {row["strategy"]: row["requests"] for row in self._summary_rows(w)} if self._has_calls() else {}
            rows = [{"strategy": name, "edge": lg["edge"], "caller": lg["caller"], "service": lg["service"],
                     **layer_metrics([lg], w, requests[name])}
                    for name, run in self._runs.items() for lg in run.call_logs]
            out = pd.DataFrame(rows, columns=EDGE_COLUMNS)
        out.attrs["window"] = w.label
        return out

    def _has_calls(self) -> bool:
        return any(run.call_logs for run in (self._runs or {}).values())

    def read_layers(self, folder: str | Path) -> None:
        """Take :meth:`services`, :meth:`edges` and :meth:`service_timeline` from the CSV files
        :meth:`write_tables` wrote into ``folder`` (a result rebuilt from its tables; absent files: empty)."""
        folder = Path(folder)
        for name in LAYER_TABLES:
            p = folder / f"{name}.csv"
            if p.exists():
                setattr(self, f"_stored_{name}", pd.read_csv(p))

    def _stored_layers(self, which: str, w: Window) -> pd.DataFrame:
        # A result read back from a run folder: its services.csv / edges.csv, measured over the default window.
        cols = SERVICE_COLUMNS if which == "services" else EDGE_COLUMNS
        df = getattr(self, f"_stored_{which}", None)
        if df is None:
            return pd.DataFrame(columns=cols)
        if w != window_of(self.scenario):
            raise ResilsimError(f"a result read back from its tables has {which} over the run after the warm-up "
                                "only; simulate again for another window")
        return df.reindex(columns=cols)  # a folder written before a column existed: NaN there

    def service_timeline(self) -> pd.DataFrame:
        """Load, latency and queueing at each layer over time, tidy: one row per strategy, layer and time bin
        (``strategy``, ``service``, ``time`` in s). ``attempts_rps`` (1/s): the layer ``api`` is the clients'
        attempts (the timeline's ``attempts_rps``); a service behind the API (``services:``) counts the attempts
        of every call into it by send bin, those sent during the drain in the last bin, so that its bins add up
        to :meth:`services`' ``attempts`` (whole run). ``mean_s``, ``p50_s`` and ``p99_s`` (seconds): the
        latency of the calls into the service by the bin of their first send, as :meth:`services` measures it
        (first send to final answer, retries included; calls sent and ended); ``queue_s`` (seconds): the mean
        wait in its queue of the attempts sent to it in the bin, as :meth:`services`' ``queue_s``. NaN in a bin
        with no call (or no queued attempt), and in the ``api`` rows (see :meth:`summary` and the timeline).
        Empty without services (docs/call-graph.md)."""
        cols = ["strategy", "service", "time", "attempts_rps", "mean_s", "p50_s", "p99_s", "queue_s"]
        runs = {name: run for name, run in (self._runs or {}).items() if run.service_bins}
        if not runs:
            stored = getattr(self, "_stored_service_timeline", None)  # read back from a run folder
            return pd.DataFrame(columns=cols) if stored is None else stored.reindex(columns=cols)
        width = self.scenario.bin
        tl = self.timeline
        frames = []
        for name, run in runs.items():
            t = tl[tl["strategy"] == name]
            frames.append(pd.DataFrame({"strategy": name, "service": "api", "time": t["time"].to_numpy(float),
                                        "attempts_rps": t["attempts_rps"].to_numpy(float)}))
            for svc, bins in run.service_bins.items():
                counts = np.asarray(bins, dtype=float)
                lat = _binned_latency([lg for lg in run.call_logs if lg["service"] == svc], width, len(counts))
                frames.append(pd.DataFrame({"strategy": name, "service": svc, "time": np.arange(len(counts)) * width,
                                            "attempts_rps": counts / width, **lat,
                                            "queue_s": _binned_wait(run.call_waits.get(svc), width, len(counts))}))
        return pd.concat(frames, ignore_index=True).reindex(columns=cols)

    def guard_stats(self) -> pd.DataFrame:
        """Per strategy, whole run: requests shed by a guard before their first attempt (``shed_first``),
        retries a guard refused (``shed_retry``; both end the request as ``shed``), hedged copies sent
        (``hedges``), requests a hedged copy won (``hedge_wins``) and hedges a guard refused
        (``hedges_refused``); attempts a blocking guard (the AWS adaptive limiter) made wait (``held``),
        the seconds they waited in all (``held_s``) and requests whose deadline came while they waited
        (``held_deadline``, outcome ``deadline``). Zeros for strategies without guards or hedging.

        Only client-side guards end a request as ``shed``; server-side load
        shedding answers attempts with the API's overload code (attempt
        ``source`` ``shed``, timeline ``overload_rps``).
        """
        cols = ["shed_first", "shed_retry", "hedges", "hedge_wins", "hedges_refused", "held", "held_s",
                "held_deadline"]
        rows = [{"strategy": name, **{c: (float if c == "held_s" else int)(self.stats.get(name, {}).get(c, 0) or 0)
                                      for c in cols}} for name in self.strategies]
        return pd.DataFrame(rows, columns=["strategy", *cols]).set_index("strategy")

    def _summary_rows(self, w: Window) -> list[dict]:
        # One dict per strategy with the SUMMARY_COLUMNS (SummaryResult computes them from its counts).
        if self._runs is not None:
            return [self._summary_row(name, run.recorder.requests.view(), run.recorder.attempts.view(), w)
                    for name, run in self._runs.items()]
        req = self.measured(w)
        ids = self.attempts
        rows = []
        for name in self.strategies:
            r = req[req["strategy"] == name]
            n = len(r)
            ok = r[r["outcome"] == "success"]
            lat = ok["latency"].to_numpy()
            counts = r["outcome"].value_counts()
            a = ids[ids["strategy"] == name]
            first, last = (r["request"].iloc[0], r["request"].iloc[-1]) if n else (0, -1)
            n_att = int(((a["request"] >= first) & (a["request"] <= last)).sum())
            pct = np.percentile(lat, [50, 95, 99]) if len(lat) else [np.nan] * 3
            rows.append(self._row(name, n, len(ok), pct, r["attempts"].mean() if n else np.nan, n_att,
                                  [counts.get(o, 0) for o in OUTCOMES], w))
        return rows

    def _row(self, name: str, n: int, n_ok: int, pct, mean_attempts: float, n_att: int, outcome_counts,
             w: Window) -> dict:
        # One summary row (SUMMARY_COLUMNS) from a strategy's measured counts, however they were counted
        # (from the tables, the recorder's columns or a summary-only run's counters).
        return {
            "strategy": name, "requests": n,
            "success_rate": n_ok / n if n else np.nan,
            "p50_s": pct[0], "p95_s": pct[1], "p99_s": pct[2],
            "mean_attempts": mean_attempts,
            "amplification": n_att / n if n else np.nan,
            "goodput_rps": n_ok / (w.end - w.start),
            **{o: (c if isinstance(c, float) else int(c)) for o, c in zip(OUTCOMES, outcome_counts)},
            # Service seconds spent on attempts whose client had already timed out (whole run).
            "wasted_s": self.stats.get(name, {}).get("wasted_s", np.nan),
            # Only with a non-idempotent operation (whole run): served attempts beyond a request's first served one.
            **({"duplicate_effects": self.stats[name]["duplicate_effects"]}
               if "duplicate_effects" in self.stats.get(name, {}) else {}),
        }

    def _summary_row(self, name: str, r: dict, a: dict, w: Window) -> dict:
        # The summary row of one strategy from its recorded columns, without building the tables: the same
        # numbers as from the tables (same selections, the same numpy reductions).
        start = r["start"]
        measured = (start >= w.start) & (start < w.end)
        ids = np.flatnonzero(measured)
        n = len(ids)
        first, last = (ids[0], ids[-1]) if n else (0, -1)
        del ids
        counts = np.bincount(r["outcome"][measured], minlength=len(OUTCOMES))
        n_ok = int(counts[OUT_SUCCESS])
        mean_attempts = r["attempts"][measured].mean() if n else np.nan
        ok = measured & (r["outcome"] == OUT_SUCCESS)
        del measured
        lat = r["end"][ok]
        lat -= start[ok]  # the latency column, end − start
        del ok
        pct = np.percentile(lat, [50, 95, 99], overwrite_input=True) if len(lat) else [np.nan] * 3
        del lat
        a_req = a["request"]
        n_att = int(np.count_nonzero((a_req >= first) & (a_req <= last)))
        return self._row(name, n, n_ok, pct, mean_attempts, n_att, counts, w)

    def _timelines(self) -> dict:
        """Per strategy, the timeline columns the summary reads (peak amplification, recovery), as :class:`_Bins`."""
        tl = self.timeline
        return {} if tl is None else {name: _Bins.of_frame(g, self.scenario.bin)
                                      for name, g in tl.groupby("strategy", observed=True, sort=False)}

    def _summary_frame(self, rows: list[dict], w: Window) -> pd.DataFrame:
        s = self.scenario
        columns = SUMMARY_COLUMNS
        if any("duplicate_effects" in row for row in rows):
            columns = [*columns, "duplicate_effects"]
        trigger = w.incident or _trigger_window(s)
        by = self._timelines()
        for row in rows:
            g = by.get(row["strategy"])
            row["peak_amplification"] = np.nan if g is None else _peak_amplification(g, w.start, w.end)
        if trigger is not None and by:
            columns = [*columns, "recovery_s"]
            for row in rows:
                g = by.get(row["strategy"])
                row["recovery_s"] = np.nan if g is None else _recovery_time(g, s, *trigger)
        if s.network is not None:
            # Where answered attempts spent their time (whole run, seconds per attempt): the network's hops apart
            # from waiting at the API and service (sim.network counts them).
            columns = [*columns, *NETWORK_COLUMNS]
            for row in rows:
                st = self.stats.get(row["strategy"], {})
                n = st.get("net_answered", 0)
                for col in NETWORK_COLUMNS:
                    row[col] = st.get(f"net_{col}", np.nan) / n if n else np.nan
        df = pd.DataFrame(rows, columns=columns).set_index("strategy")
        df.attrs["window"] = w.label
        return df

    # ------------------------------------------------------------ output

    def write_tables(self, out: str | Path, format: str = "parquet") -> list[Path]:
        """Write the row tables (requests, attempts, timeline) as ``format`` and summary.csv into ``out``.

        ``format`` is ``"parquet"`` (typed columns, zstd-compressed: an order of magnitude faster to write
        and read than CSV, and a fifth of its size) or ``"csv"``; the summary is a few rows and stays CSV so
        that it reads anywhere. With services behind the API, ``services.csv``, ``edges.csv`` and
        ``service_timeline.csv`` too (:data:`LAYER_TABLES`, over the default window). Returns the paths.
        """
        if format not in TABLE_FORMATS:
            raise ValueError(f"format must be one of {', '.join(TABLE_FORMATS)}, not {format!r}")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        # The tables are built here, one after another (they are built on first use, and pandas is not
        # for several threads at once). Then the first two files (requests and attempts, the large ones)
        # are written side by side: pyarrow encodes and compresses Parquet without holding the GIL, so
        # the pair takes about the time of the larger one when a second core is free. The rest follow
        # when both are done; a failed write stops the set there (its error raised once both are over).
        frames = {out / f"{name}.{format}": getattr(self, name) for name in self._row_tables()}
        frames[out / "summary.csv"] = self.summary()
        if self._has_calls():  # with services: the per-layer tables, small, as CSV (LAYER_TABLES)
            frames.update({out / f"{name}.csv": getattr(self, name)() for name in LAYER_TABLES})
        jobs = [(df, path, path.name == "summary.csv") for path, df in frames.items()]
        if format == "parquet" and len(jobs) > 2:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=1) as pool:
                beside = pool.submit(write_table, *jobs[0])
                write_table(*jobs[1])  # on failure, leaving the block waits for the other write first
                beside.result()
            jobs = jobs[2:]
        for job in jobs:
            write_table(*job)
        return list(frames)

    def to_csv(self, out: str | Path) -> list[Path]:
        """Write every table as CSV into ``out`` (:meth:`write_tables` with ``format="csv"``); return the paths."""
        return self.write_tables(out, "csv")

    def _row_tables(self) -> tuple[str, ...]:
        # The tables this result holds rows of, in the order they are written.
        return ROW_TABLES

    def _row_counts(self) -> tuple[int, int]:
        # (requests, attempts) of the whole run, every strategy.
        if self._runs is not None:
            return (sum(run.recorder.requests.n for run in self._runs.values()),
                    sum(run.recorder.attempts.n for run in self._runs.values()))
        return len(self.requests), len(self.attempts)

    # ------------------------------------------------------------ what charts draw beside the data

    def load_changes(self) -> list[tuple]:
        """(start, end, label) of the scenario's arrival-rate changes (load spikes), seconds."""
        return [(c.start, c.start + c.duration, f"load {c.rate:g}/s") for c in self.scenario.clients.changes]

    def capacity_rps(self) -> float:
        """Attempts per second the service's workers can serve at the mean service time (an estimate)."""
        return capacity_rps(self.scenario.service)

    def rate_limit_rps(self) -> float | None:
        """The global rate limit over every operation, requests per second (None: none)."""
        return global_rate_limit_rps(self.scenario.service)

    def title(self) -> str:
        """``scenario name · seed N``: what a chart of this result says it shows."""
        return f"{self.scenario.name} · seed {self.seed}"

    def outcome_counts(self) -> pd.DataFrame:
        """Measured requests by strategy and final outcome, failures split by code: see :func:`outcome_counts`."""
        return outcome_counts(self.measured(columns=("strategy", "outcome", "code")))  # the columns it counts

    def __repr__(self) -> str:
        s = self.scenario
        n_req, n_att = self._row_counts()
        return (f"<{type(self).__name__} {s.name!r} seed={self.seed} strategies={len(self.strategies)} "
                f"requests={n_req} attempts={n_att}>\n"
                + "".join(f"stopped early: {k}: {v}\n" for k, v in self.truncated.items())
                + self.summary().to_string(float_format=lambda v: f"{v:.4g}"))

    def _repr_html_(self) -> str:
        s = self.scenario
        table = self.summary().to_html(float_format=lambda v: f"{v:.4g}", border=0)
        n_req, n_att = self._row_counts()
        head = (f"<b>{html.escape(s.name)}</b> · api {html.escape(s.api)} · seed {html.escape(str(self.seed))} · "
                f"{s.duration:g} s (warm-up {s.warmup:g} s) · {n_req} requests, "
                f"{n_att} attempts")
        for k, v in self.truncated.items():  # partial tables: say so first (docs/reliability.md)
            head += f'<br><b style="color:#b00">stopped early</b>: {html.escape(k)}: {html.escape(v)}'
        return (f'<div style="font-family: sans-serif; font-size: 12px">{head}'
                f'<div style="overflow-x:auto">{table}</div></div>')


#: Recovery: the first window of RECOVERY_WINDOW_S seconds after the trigger whose requests
#: succeed at RECOVERY_FRACTION or more of the pre-trigger success rate.
RECOVERY_WINDOW_S = 20.0
RECOVERY_FRACTION = 0.9


def layer_metrics(logs: list, w: Window, requests: int) -> dict:
    """The metrics of :meth:`Result.services` (all but ``queue_s`` and ``busy_s``) of the calls in ``logs`` (per-edge columns,
    :data:`resilsim.sim.calllog.COLUMNS`) made for client requests that arrived in ``w``; ``requests``: how many
    did (the amplification's denominator)."""
    from .records import CALL_FAILED, CALL_NOT_SENT, CALL_OK, CALL_SKIPPED
    keep = [(lg["origin"] >= w.start) & (lg["origin"] < w.end) for lg in logs]

    def cat(col):
        parts = [lg[col][k] for lg, k in zip(logs, keep)]
        return np.concatenate(parts) if parts else np.zeros(0)
    status = cat("status")
    made = (status == CALL_OK) | (status == CALL_FAILED)
    calls = int(np.count_nonzero(made | (status == CALL_NOT_SENT)))
    ok = int(np.count_nonzero(status == CALL_OK))
    attempts = int(cat("attempts").sum())
    lat = (cat("end") - cat("start"))[made]
    return {"calls": calls, "calls_ok": ok, "success_rate": ok / calls if calls else math.nan,
            "attempts": attempts, "attempts_ok": ok,  # a call's attempt answered with success ends it
            "attempt_timeouts": int(cat("timeouts").sum()),
            "not_sent": int(np.count_nonzero(status == CALL_NOT_SENT)),
            "skipped": int(np.count_nonzero(status == CALL_SKIPPED)),
            "amplification": attempts / requests if requests else math.nan,
            "mean_s": float(lat.mean()) if len(lat) else math.nan,
            "p99_s": float(np.percentile(lat, 99)) if len(lat) else math.nan}


def _binned_latency(logs: list, width: float, nbins: int) -> dict:
    # Per send bin (``width`` seconds, ``nbins`` of them, later sends in the last), the mean, median and 99th
    # percentile of the latency of the calls in ``logs`` that were sent and ended (seconds); NaN in empty bins.
    from .records import CALL_FAILED, CALL_OK
    out = {k: np.full(nbins, np.nan) for k in ("mean_s", "p50_s", "p99_s")}
    if not logs:
        return out
    start = np.concatenate([lg["start"] for lg in logs])
    status = np.concatenate([lg["status"] for lg in logs])
    made = (status == CALL_OK) | (status == CALL_FAILED)
    lat = (np.concatenate([lg["end"] for lg in logs]) - start)[made]
    b = np.clip((start[made] // width).astype(np.int64), 0, nbins - 1)
    n = np.bincount(b, minlength=nbins)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_s"] = np.where(n > 0, np.bincount(b, weights=lat, minlength=nbins) / np.maximum(n, 1), np.nan)
    order = np.lexsort((lat, b))
    lat, edges = lat[order], np.concatenate(([0], np.cumsum(n)))
    for k in np.flatnonzero(n):
        x = lat[edges[k]:edges[k + 1]]
        out["p50_s"][k], out["p99_s"][k] = np.percentile(x, (50, 99))
    return out


def _binned_wait(waits: dict | None, width: float, nbins: int) -> np.ndarray:
    # Per send bin, the mean queue wait (seconds) of the attempts sent to a service in it; NaN in empty bins.
    if waits is None or not len(waits["wait_s"]):
        return np.full(nbins, np.nan)
    b = np.clip((waits["sent"] // width).astype(np.int64), 0, nbins - 1)
    n = np.bincount(b, minlength=nbins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.bincount(b, weights=waits["wait_s"], minlength=nbins) / np.maximum(n, 1), np.nan)


def _busy_in(spans: dict, w: Window) -> float:
    # Worker-seconds of the busy spans (``start``, ``end`` columns, seconds) that fall inside [w.start, w.end).
    return float((np.clip(spans["end"], w.start, w.end) - np.clip(spans["start"], w.start, w.end)).sum())


def _utilisation(busy_s: float | None, workers: int, w: Window) -> float:
    # busy_s ÷ (workers × the window's seconds); NaN when nothing was logged.
    return math.nan if busy_s is None else busy_s / (workers * (w.end - w.start))


def _mean_wait(waits: dict | None, w: Window) -> float:
    # Mean queue wait (s) of a service's attempts serving client requests that arrived in ``w``; NaN for none.
    if waits is None:
        return math.nan
    keep = (waits["origin"] >= w.start) & (waits["origin"] < w.end)
    x = waits["wait_s"][keep]
    return float(x.mean()) if len(x) else math.nan


def outcome_counts(requests: pd.DataFrame) -> pd.DataFrame:
    """A requests table counted by strategy and final outcome, failures split by error code (tidy).

    Columns: ``strategy``, ``outcome`` (``success``, ``failed: CODE``,
    ``retries_exhausted``, ``deadline``, ``shed``, ``incomplete``), ``requests``.
    Rows: strategies in the order the requests name them; within one, the
    most frequent outcome first (ties: the one seen first).
    """
    # Why not the plain form (_outcome_counts_rows) always: it turns three columns of every row into
    # strings, which costs 0.15-0.6 s for a 900 s run (pandas' str columns); this counts integer codes
    # and names only the few distinct combinations. Same table (tests/test_plots.py twin test).
    cols = [requests[c] for c in ("strategy", "outcome", "code")] if len(requests) else []
    coded = [_codes_of(c) for c in cols]
    if not coded or any(c is None for c in coded):
        return _outcome_counts_rows(requests)
    key = np.zeros(len(requests), dtype=np.int64)
    for codes, names in coded:
        key = key * len(names) + codes
    uniq, first, counts = np.unique(key, return_index=True, return_counts=True)
    parts = []
    for codes, names in reversed(coded):
        parts.append(names[uniq % len(names)])
        uniq = uniq // len(names)
    code, outcome, strategy = parts
    label = np.where(outcome == "failed", "failed: " + np.where(code == "", "?", code), outcome)
    combos: dict = {}  # (strategy, label) -> [requests, first row]
    for s, lab, n, i in zip(strategy.tolist(), label.tolist(), counts.tolist(), first.tolist()):
        c = combos.setdefault((s, lab), [0, i])
        c[0] += n
        c[1] = min(c[1], i)
    seen: dict = {}  # strategy -> first row that names it
    for (s, _), (_, i) in combos.items():
        seen[s] = min(seen.get(s, i), i)
    rows = sorted(combos.items(), key=lambda kv: (seen[kv[0][0]], -kv[1][0], kv[1][1]))
    return pd.DataFrame({"strategy": pd.array([k[0] for k, _ in rows], dtype=str),
                         "outcome": pd.array([k[1] for k, _ in rows], dtype=str),
                         "requests": np.array([v[0] for _, v in rows], dtype=np.int64)})


def _codes_of(col: pd.Series):
    """(integer codes, their names as strings, a numpy array) of a column; None when a value is missing."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes, names = col.cat.codes.to_numpy(), col.cat.categories
    else:
        codes, names = pd.factorize(col)
    if len(codes) and codes.min() < 0:
        return None
    return codes.astype(np.int64), np.asarray(pd.Index(names).astype(str), dtype=object)


def _outcome_counts_rows(requests: pd.DataFrame) -> pd.DataFrame:
    """:func:`outcome_counts` in its plain form, row by row (its twin test's reference; tables with missing values)."""
    label = requests["outcome"].astype(str)
    failed = label == "failed"
    label = label.where(~failed, "failed: " + requests["code"].astype(str).replace("", "?"))
    names = requests["strategy"].astype(str)
    counts = pd.DataFrame({"strategy": names, "outcome": label}).value_counts().rename("requests").reset_index()
    # Strategies in the order the requests name them (a chart of this table draws them in that order).
    order = {n: i for i, n in enumerate(dict.fromkeys(names))}
    return counts.sort_values("strategy", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


def write_table(df: pd.DataFrame, path: Path, index: bool = False) -> None:
    """Write ``df`` to ``path`` as Parquet (zstd) when its name ends in ``.parquet``, else as CSV."""
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=index)
        pq.write_table(table, path, **parquet_options(table.schema))
    else:
        df.to_csv(path, index=index)


class RowStream:
    """The requests and attempts tables of a run written to Parquet row group by row group, as the run goes.

    The sink of :class:`resilsim.sim.recorder.StreamRecorder` (``simulate(..., record="stream",
    rows_to=DIR)``): it turns the recorder's integer columns into the tables' columns (strategy, code,
    status, source, outcome and operation as dictionary-encoded strings, latency = end - start) and
    appends them to ``DIR/requests.parquet`` and ``DIR/attempts.parquet`` with one
    ``pyarrow.parquet.ParquetWriter`` each, so no more than a row group is held at a time. The
    columns and dtypes are :attr:`Result.requests`' and :attr:`Result.attempts`'; the code column's
    categories are every code of the catalog (the full tables list only the codes used), and request
    rows come in the order the requests finished, the unfinished ones last.
    """

    def __init__(self, out, codes: list, operations: list, strategies: list):
        import pyarrow as pa

        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        # Indexed by raw code + 3 (records.py: -3 cancelled, -2 timeout, -1 ok, then the catalog's codes).
        self._codes = pa.array(["CANCELLED", "TIMEOUT", "", *(c.code for c in codes)])
        self._status = np.array([0, 0, 200, *(c.http for c in codes)], dtype=np.int16)
        self._dicts = {"strategy": pa.array(list(strategies)), "operation": pa.array(list(operations)),
                       "outcome": pa.array(list(OUTCOMES)), "source": pa.array(list(SOURCES))}
        self._writers: dict = {}
        self.strategy = 0  # index of the strategy whose rows come next (simulate sets it per run)

    def _dict(self, indices, values):
        import pyarrow as pa

        return pa.DictionaryArray.from_arrays(pa.array(indices), values)

    def _strategy(self, n: int):
        return self._dict(np.full(n, self.strategy, dtype=np.int8), self._dicts["strategy"])

    def attempts(self, c: dict) -> None:
        """Append a block of attempt rows (the recorder's columns: request, attempt, start, end, code, source)."""
        raw = c["code"].astype(np.int16) - CODE_CANCELLED
        self._write("attempts", {
            "strategy": self._strategy(len(raw)), "request": c["request"], "attempt": _int16(c["attempt"]),
            "start": c["start"], "end": c["end"], "status": self._status[raw],
            "code": self._dict(raw, self._codes), "source": self._dict(c["source"], self._dicts["source"])})

    def requests(self, c: dict) -> None:
        """Append a block of request rows (request, operation, start, end, attempts, code, outcome)."""
        raw = c["code"].astype(np.int16) - CODE_CANCELLED
        self._write("requests", {
            "strategy": self._strategy(len(raw)), "request": c["request"],
            "operation": self._dict(c["operation"], self._dicts["operation"]), "start": c["start"],
            "end": c["end"], "latency": c["end"] - c["start"], "attempts": _int16(c["attempts"]),
            "outcome": self._dict(c["outcome"], self._dicts["outcome"]), "code": self._dict(raw, self._codes)})

    def _write(self, name: str, cols: dict) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(cols)
        if name not in self._writers:
            self._writers[name] = pq.ParquetWriter(self.out / f"{name}.parquet", table.schema,
                                                   **parquet_options(table.schema))
        self._writers[name].write_table(table)

    def close(self) -> list[Path]:
        """Finish the files (a table without rows is written empty); return their paths."""
        for name, columns in (("requests", ["strategy", "request", "operation", "start", "end", "latency",
                                            "attempts", "outcome", "code"]),
                              ("attempts", ["strategy", "request", "attempt", "start", "end", "status", "code",
                                            "source"])):
            if name in self._writers:
                self._writers.pop(name).close()
            elif not (self.out / f"{name}.parquet").exists():
                write_table(pd.DataFrame(columns=columns), self.out / f"{name}.parquet")
        return [self.out / "requests.parquet", self.out / "attempts.parquet"]


def _int16(counts: np.ndarray) -> np.ndarray:
    """Attempt numbers as the full tables hold them (16-bit); a request beyond that is one sentence, not a wrap."""
    if len(counts) and counts.max() > np.iinfo(np.int16).max:
        raise ResilsimError(f"a request made more than {np.iinfo(np.int16).max:,} attempts (a retry loop that never "
                            "waits?), more than a streamed row holds; give the strategy a stop")
    return counts.astype(np.int16, copy=False)


#: zstd: smaller than snappy and, measured on the aurora scenario's 442k attempts, about twice as fast to write.
PARQUET_COMPRESSION = "zstd"


def parquet_options(schema) -> dict:
    """How a table with ``schema`` (a ``pyarrow.Schema``) is written to Parquet: zstd, dictionaries for text only.

    pyarrow tries a dictionary for every column by default and gives up on the
    times (float64, nearly all distinct) only after building one: writing the
    names (strategy, code, outcome, operation, source) alone as dictionaries
    halves the CPU time of writing the aurora scenario's tables (0.22 -> 0.10 s)
    for files 4-9 % larger. What is read back is the same (values and dtypes).
    """
    import pyarrow as pa

    text = [f.name for f in schema if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type)]
    return {"compression": PARQUET_COMPRESSION, "use_dictionary": text}


def _trigger_window(scenario) -> tuple[float, float] | None:
    """(first start, last end) of the incidents and arrival-rate changes, seconds; None when there are none."""
    spans = [(c.start, c.start + c.duration) for c in scenario.clients.changes]
    spans += [(i.start, i.start + i.duration) for i in scenario.faults.incidents]
    if not spans:
        return None
    return min(a for a, _ in spans), max(b for _, b in spans)


#: Bins per step when the summary's window sums walk a timeline (peak amplification, recovery): their
#: temporaries are a few arrays of this many values, not of every bin of the run (a 46 h run at 1 s bins has
#: 166,667 bins), so the summary's memory does not grow with the duration (benchmarks/RESULTS.md).
WINDOW_CHUNK_BINS = 1 << 15


class _Bins:
    """One strategy's per-bin columns as the summary reads them, a slice of bins at a time.

    ``time(lo, hi)``: the bins' start times (s); ``offered``, ``sent``: requests offered (by arrival) and
    attempts sent per bin; ``ok``: requests that succeeded per arrival bin (the success rate, NaN as 0, times
    ``offered``). From a timeline (:meth:`of_frame`) or the per-bin counts it is built from (:meth:`of_counts`,
    the same arithmetic as :func:`_timeline_frame`'s, so the same values), without building every column of
    every bin at once.
    """

    def __init__(self, n: int, width: float, time, rps):
        self.n, self.width, self.time, self._rps = n, width, time, rps

    @classmethod
    def of_frame(cls, tl: pd.DataFrame, width: float) -> "_Bins":
        """The bins of one strategy's timeline (``time``, ``offered_rps``, ``attempts_rps``, ``success_rate``)."""
        columns = {"offered": "offered_rps", "sent": "attempts_rps", "rate": "success_rate"}  # read when asked for
        return cls(len(tl), width, lambda lo, hi: tl["time"].to_numpy()[lo:hi],
                   lambda col, lo, hi: tl[columns[col]].to_numpy()[lo:hi])

    @classmethod
    def of_counts(cls, counts: dict, width: float) -> "_Bins":
        """The bins of a summary-only run's counts (``offered``, ``succeeded``, ``sent`` per bin)."""
        def rps(col, lo, hi):
            if col == "rate":  # as _timeline_frame's success_rate
                offered = counts["offered"][lo:hi]
                with np.errstate(invalid="ignore", divide="ignore"):
                    return np.where(offered > 0, counts["succeeded"][lo:hi] / np.maximum(offered, 1), np.nan)
            return counts[col][lo:hi] / width

        return cls(len(counts["offered"]), width, lambda lo, hi: np.arange(lo, hi) * width, rps)

    def offered(self, lo: int, hi: int) -> np.ndarray:
        return self._rps("offered", lo, hi) * self.width

    def sent(self, lo: int, hi: int) -> np.ndarray:
        return self._rps("sent", lo, hi) * self.width

    def ok(self, lo: int, hi: int) -> np.ndarray:
        return np.nan_to_num(self._rps("rate", lo, hi)) * self.offered(lo, hi)

    def chunks(self, chunk: int = 0):
        """(lo, hi) of consecutive slices of at most ``chunk`` bins (default :data:`WINDOW_CHUNK_BINS`)."""
        chunk = chunk or WINDOW_CHUNK_BINS
        return ((lo, min(lo + chunk, self.n)) for lo in range(0, self.n, chunk))


def _window_sums(parts, w: int):
    """Sums of ``w`` consecutive values of each column, window by window, with O(``w`` + part) memory.

    ``parts`` yields tuples of arrays (one per column), consecutive pieces of the columns. Yields
    ``(first, sums)``: the windows starting at value ``first`` onward, one array of sums per column.
    The sums are ``c[s + w] - c[s]`` of the prefix sums ``c = concatenate([[0.0], cumsum(x)])``, with the
    same floating-point operations in the same order as over the whole column at once (``cumsum`` adds
    left to right; each piece's cumsum starts from the running sum so far), so the same values.
    """
    prev = None  # per column: the prefix sums c[base .. end], the last w + 1 of them at most
    base = end = 0  # prefix indices covered by prev: [base, end]
    for piece in parts:
        m = len(piece[0])
        if m == 0:
            continue
        if prev is None:
            prev = [np.zeros(1) for _ in piece]
        new = [np.cumsum(np.concatenate([p[-1:], x]))[1:] for p, x in zip(prev, piece)]  # c[end + 1 .. end + m]
        both = [np.concatenate([p, x]) for p, x in zip(prev, new)]
        hi = end + m
        first_end = max(w, end + 1)  # window ends (prefix indices) completed by this piece: first_end .. hi
        if first_end <= hi:
            a, b = first_end - base, hi + 1 - base
            yield first_end - w, [c[a:b] - c[a - w:b - w] for c in both]
        base = max(0, hi - w)
        prev = [c[base - (hi - len(c) + 1):] for c in both]
        end = hi


def peak_amplification(tl: pd.DataFrame, scenario, start: float, end: float) -> float:
    """The most attempts sent per request offered over any ``PEAK_WINDOW_S`` seconds of [start, end).

    ``tl`` is one strategy's timeline; attempts are counted by send bin and
    requests by arrival bin, so the figure is to the timeline's bin
    resolution (``scenario.bin`` seconds; the window's first and last bins
    count whole). A window shorter than ``PEAK_WINDOW_S`` is taken whole.
    NaN when no request arrived in the window.
    """
    return _peak_amplification(_Bins.of_frame(tl, scenario.bin), start, end)


def _peak_amplification(bins: _Bins, start: float, end: float) -> float:
    # peak_amplification over bins read a slice at a time (see _window_sums).
    width = bins.width

    def inside(lo, hi):
        time = bins.time(lo, hi)
        return (time + width > start + 1e-9) & (time < end - 1e-9)

    n = sum(int(np.count_nonzero(inside(lo, hi))) for lo, hi in bins.chunks())
    w = min(n, max(1, int(round(PEAK_WINDOW_S / width))))
    if w == 0:
        return float("nan")
    peaks = []
    parts = ((bins.offered(lo, hi)[mask], bins.sent(lo, hi)[mask])
             for lo, hi in bins.chunks() for mask in (inside(lo, hi),))
    for _, (n_off, n_sent) in _window_sums(parts, w):
        has = n_off > 0
        if has.any():
            peaks.append((n_sent[has] / n_off[has]).max())
    return float(np.max(peaks)) if peaks else float("nan")


def recovery_time(tl: pd.DataFrame, scenario, t0: float, t1: float) -> float:
    """Seconds from the trigger's end ``t1`` until the request success rate is back; NaN if it never is.

    ``tl`` is one strategy's timeline. The baseline is the success rate (by
    arrival) of requests arriving in [warmup, t0). A window of
    ``RECOVERY_WINDOW_S`` seconds (at least one bin) starting at bin k is
    healthy when its requests' success rate is at least ``RECOVERY_FRACTION``
    × baseline; the recovery time is time(k) − t1 for the first bin k ≥ t1
    that starts a healthy window ending by ``duration``. NaN when no request
    arrived before the trigger, none of them succeeded, or no healthy window
    fits in the run (still stuck at the end).
    """
    return _recovery_time(_Bins.of_frame(tl, scenario.bin), scenario, t0, t1)


def _recovery_time(bins: _Bins, scenario, t0: float, t1: float) -> float:
    # recovery_time over bins read a slice at a time (see _window_sums).
    width = bins.width
    # The bins before the trigger, [warmup, t0): a run of consecutive bins (times ascend), taken whole so that
    # their sums are numpy's over the same array (pairwise summation: the same values as over a boolean selection).
    lo = hi = None
    for a, b in bins.chunks():
        time = bins.time(a, b)
        idx = np.flatnonzero((time >= scenario.warmup) & (time + width <= t0 + 1e-9))
        if len(idx):
            lo = a + idx[0] if lo is None else lo
            hi = a + idx[-1] + 1
    if lo is None:
        return float("nan")
    offered, ok = bins.offered(lo, hi), bins.ok(lo, hi)
    if ok.sum() == 0:
        return float("nan")
    threshold = RECOVERY_FRACTION * ok.sum() / offered.sum()
    del offered, ok
    w = max(1, int(round(RECOVERY_WINDOW_S / width)))
    parts = ((bins.offered(a, b), bins.ok(a, b)) for a, b in bins.chunks())
    for first, (n_off, n_ok) in _window_sums(parts, w):
        time = bins.time(first, first + len(n_off))
        healthy = ((time >= t1 - 1e-9) & (time + w * width <= scenario.duration + 1e-9)
                   & (n_off > 0) & (n_ok >= threshold * n_off))
        if healthy.any():
            return float(time[np.argmax(healthy)] - t1)
    return float("nan")


def _timeline(name: str, scenario, run: RunRecord, strategies: list | None = None) -> pd.DataFrame:
    """Per time bin: offered requests, attempts sent, their successes, and request success rate by arrival.

    From one strategy's recorded columns (numpy; see
    :mod:`resilsim.sim.recorder`). With the run's sampler: ``queue_length``
    and ``utilisation`` (busy workers ÷ workers) at each bin's start, and per
    second the attempts refused by the rate limiter (``limited_rps``), the
    quota, credits or a tier lock (``quota_rps``) and capacity or shedding
    (``overload_rps``).
    """
    req, att = run.recorder.requests.view(), run.recorder.attempts.view()
    width = scenario.bin
    nbins = int(np.ceil(scenario.duration / width))
    rb = np.minimum((req["start"] // width).astype(int), nbins - 1)
    ok = req["outcome"] == OUT_SUCCESS
    ab = np.clip((att["start"] // width).astype(int), 0, nbins - 1)
    a_ok = att["code"] == CODE_OK
    counts = {"offered": np.bincount(rb, minlength=nbins), "succeeded": np.bincount(rb, weights=ok, minlength=nbins),
              "sent": np.bincount(ab, minlength=nbins), "sent_ok": np.bincount(ab, weights=a_ok, minlength=nbins)}
    if _sampled(run, nbins):
        src = att["source"]
        for col, kinds in (("limited", ("limiter",)), ("quota", ("quota",)), ("overload", ("capacity", "shed"))):
            hit = np.isin(src, [SOURCES.index(k) for k in kinds])
            counts[col] = np.bincount(ab, weights=hit, minlength=nbins)
    return _timeline_frame(name, scenario, counts, run, strategies)


def _sampled(run: RunRecord, nbins: int) -> bool:
    return run.sampler.nbins == nbins


def _timeline_frame(name: str, scenario, counts: dict, run: RunRecord, strategies: list | None = None) -> pd.DataFrame:
    """One strategy's timeline from per-bin counts: ``offered`` and ``succeeded`` requests by arrival bin,
    ``sent`` and ``sent_ok`` attempts by send bin and, with the run's sampler, ``limited``, ``quota`` and
    ``overload`` attempts (see :func:`_timeline`; :class:`SummaryResult` keeps only these counts).

    ``strategies``: the categories of the ``strategy`` column (default: ``[name]``). The columns are made
    first and the frame takes them as they are (one block each): building it column by column copied
    them into one block as it went, twice the frame's memory at the peak (benchmarks/RESULTS.md).
    """
    width = scenario.bin
    nbins = int(np.ceil(scenario.duration / width))
    offered, succeeded = counts["offered"], counts["succeeded"]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(offered > 0, succeeded / np.maximum(offered, 1), np.nan)
    strategies = [name] if strategies is None else list(strategies)
    small = np.int8 if len(strategies) <= np.iinfo(np.int8).max else np.int32
    cols = {
        "strategy": pd.Categorical.from_codes(np.full(nbins, strategies.index(name), dtype=small), strategies),
        "time": np.arange(nbins) * width,
        "offered_rps": offered / width, "attempts_rps": counts["sent"] / width,
        "attempt_success_rps": counts["sent_ok"] / width, "success_rate": rate,
    }
    if _sampled(run, nbins):
        sampler = run.sampler
        for col in ("limited", "quota", "overload"):
            cols[f"{col}_rps"] = counts[col] / width
        cols["queue_length"] = sampler.queue.copy()  # the table's own (the sampler's array stays the run's)
        cols["utilisation"] = sampler.busy / run.workers
        for col, values in sampler.extra.items():
            cols[col] = np.array(values)  # client-side guard state (breaker_open, budget_tokens, ...; see sim.run._guard_probe)
    return pd.DataFrame(cols, copy=False)


@functools.lru_cache(maxsize=64)
def _categories(names: tuple) -> pd.CategoricalDtype:
    """The categorical dtype of these category names, built once: building one validates its categories (a string
    Index, checked unique), about 0.25 ms a column, and the same few (sources, outcomes, codes, strategies) come back
    for every table. A dtype is immutable, so tables may share it."""
    return pd.CategoricalDtype(list(names))


def _described(runs: dict[str, RunRecord], attempt_bytes) -> dict:
    """What a result keeps of its runs besides their columns: windows, strategies, run statistics, truncations.

    ``attempt_bytes(recorder)`` is the bytes the recorder holds for its attempts.
    """
    stats = {name: {"wall_s": run.wall_s, "busy_s": run.busy_s, "wasted_s": run.wasted_s, "reject_s": run.reject_s,
                    "attempt_bytes": attempt_bytes(run.recorder), "end_time": run.end_time,
                    "attempts_sent": run.attempts_sent, "requests_done": run.requests_done,
                    "stopped_at": run.stopped_at, **run.guard_counts, **run.network,
                    **({} if run.duplicate_effects is None else {"duplicate_effects": run.duplicate_effects})}
             for name, run in runs.items()}
    return {"windows": next(reversed(runs.values())).windows if runs else [],
            "strategies": {name: run.strategy.describe() for name, run in runs.items()},  # retry policy, guards, hedging
            "stats": stats, "truncated": {name: run.truncated for name, run in runs.items() if run.truncated}}


class NotRecordedError(ResilsimError, AttributeError):
    """A table a summary-only result does not have (``requests``, ``attempts``)."""


class SummaryResult(Result):
    """What ``simulate(..., record="summary")`` returns: the summary and the timeline, no per-row tables.

    :meth:`summary` has the same columns as a full :class:`Result`'s, from
    counts kept during the run: every count (requests, outcomes, attempts, so
    success rate, mean attempts, amplification and goodput) is the same as the
    full run's on the same seed; p50/p95/p99 come from a streaming
    :class:`~resilsim.histogram.LogHistogram` and are within its relative
    error (0.1 %) of the full run's. With a ``window`` other than the run
    after the warm-up, only what the time-binned counts hold can be
    measured, to the timeline's bin resolution (``scenario.bin``): requests,
    success rate and goodput by arrival bin (exact when the window's ends
    fall on bin edges), amplification as attempts *sent* in the window ÷
    requests arriving in it (not the attempts of those requests), peak
    amplification and time to recover; latency percentiles, mean attempts
    and the outcomes other than success are NaN (the histogram and outcome
    counts cover the whole measured run). For exact windowed figures
    simulate with ``record="full"``. :attr:`timeline` is the same table,
    built on first use. ``requests``, ``attempts`` and :meth:`measured` raise
    :class:`NotRecordedError`. Memory does not grow with the number of
    requests, only with ``duration / bin`` (benchmarks/RESULTS.md).
    """

    record = "summary"

    def __init__(self, scenario, seed, runs: dict, windows: list, strategies: dict, stats: dict,
                 truncated: dict | None = None):
        self.scenario = scenario
        self.seed = seed
        self.windows = windows
        self.strategies = strategies
        self.stats = stats
        self.truncated = truncated or {}
        # strategy → its run: the recorder's counts and histogram, the sampler and workers for the timeline.
        self._runs = runs
        self._codes = None  # the catalog's codes (from_runs): names of the failure codes in outcome_counts()
        self._timeline = None
        self._timeline_assigned = False  # True: the timeline was assigned by hand, the summary's source
        self._summary_cache = None
        self._measured_from = scenario.warmup

    @classmethod
    def from_runs(cls, scenario, seed, codes: list, runs: dict[str, RunRecord]) -> "SummaryResult":
        """Keep the counts of several summary-only strategy runs (internal to :func:`simulate`)."""
        for run in runs.values():
            run.recorder.flush()
        result = cls(scenario, seed, runs, **_described(runs, lambda rec: rec.nbytes))
        result._codes = codes
        return result

    def outcome_counts(self) -> pd.DataFrame:
        """Measured requests by strategy and final outcome, failures split by code, from the run's counts.

        The same counts as a full run's :meth:`Result.outcome_counts` on the same seed; within a strategy the
        most frequent outcome comes first (ties: in the order of :data:`resilsim.records.OUTCOMES`, then codes).
        """
        names = [c.code for c in (self._codes or [])]
        special = {CODE_TIMEOUT: "TIMEOUT", CODE_CANCELLED: "CANCELLED"}

        def code_name(raw: int) -> str:  # raw codes as the recorder keeps them (see Result._table)
            return special.get(raw) or (names[raw] if 0 <= raw < len(names) else "") or "?"

        rows = []
        for strategy in self.strategies:
            rec = self._runs[strategy].recorder
            done = rec.outcomes.copy()
            done[OUT_INCOMPLETE] += rec.requests_measured - int(done.sum())
            found = []
            for k, outcome in enumerate(OUTCOMES):
                if k == OUT_FAILED:
                    found += [(f"failed: {code_name(raw)}", n) for raw, n in sorted(rec.failed_codes.items())]
                elif done[k]:
                    found.append((outcome, int(done[k])))
            merged: dict = {}
            for label, n in found:
                merged[label] = merged.get(label, 0) + n
            rows += [(strategy, label, n) for label, n in sorted(merged.items(), key=lambda kv: -kv[1]) if n]
        return pd.DataFrame({"strategy": pd.array([r[0] for r in rows], dtype=str),
                             "outcome": pd.array([r[1] for r in rows], dtype=str),
                             "requests": np.array([r[2] for r in rows], dtype=np.int64)})

    def latency_bands(self, strategy: str) -> tuple[float, np.ndarray]:
        """(band width s, p50/p95/p99 per band s): ``strategy``'s successful requests by arrival time, every
        request (warm-up too), as :func:`resilsim.plots.latency_bands` draws them; each within 1 % (histogram.BAND_RELATIVE_ERROR)."""
        bands = self._runs[strategy].recorder.bands
        return bands.width, bands.quantiles([0.5, 0.95, 0.99])

    def _no_rows(self, what: str):
        raise NotRecordedError(
            f"Result.{what} is not available: this run was simulated with record='summary' (time-binned counts "
            "and latency histograms, no per-request or per-attempt rows); simulate with record='full' "
            "(the default; CLI: without --summary-only) to get the rows")

    @property
    def requests(self) -> pd.DataFrame:
        """Not recorded in summary mode: raises :class:`NotRecordedError`."""
        self._no_rows("requests")

    @property
    def attempts(self) -> pd.DataFrame:
        """Not recorded in summary mode: raises :class:`NotRecordedError`."""
        self._no_rows("attempts")

    def measured(self, window=None, columns=None) -> pd.DataFrame:
        """Not recorded in summary mode: raises :class:`NotRecordedError`."""
        self._no_rows("measured()")

    @property
    def timeline(self) -> pd.DataFrame:
        """Per strategy and time bin, the same columns as a full result's timeline (built once, on first use)."""
        if self._timeline is None:
            order = list(self._runs)
            frames = [_timeline_frame(name, self.scenario, run.recorder.bins, run, order)
                      for name, run in self._runs.items()]
            self._timeline = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)  # no copy for one
        return self._timeline

    @timeline.setter
    def timeline(self, value: pd.DataFrame) -> None:
        self._timeline = value
        self._timeline_assigned = True
        self._tables_changed()

    def _timelines(self) -> dict:
        # Why not the timeline: it has every column of every strategy (about 240 bytes per bin in all), so a
        # long run with fine bins (166,666 bins: 46 h at 1 s) would grow the summary's memory with its duration.
        # The summary reads four columns, computed here from the same counts by the same arithmetic, a slice of
        # bins at a time (_Bins.of_counts). A timeline assigned by hand is the source instead.
        if self._timeline_assigned or self._runs is None:
            return super()._timelines()
        return {name: _Bins.of_counts(run.recorder.bins, self.scenario.bin) for name, run in self._runs.items()}

    def latency_histogram(self, strategy: str):
        """The :class:`~resilsim.histogram.LogHistogram` of ``strategy``'s measured successful requests' latency (s)."""
        return self._runs[strategy].recorder.latency

    def _summary_rows(self, w: Window) -> list[dict]:
        s = self.scenario
        if w != window_of(s):
            return self._binned_rows(w)
        if s.warmup != self._measured_from:
            raise ResilsimError(f"a summary-only result is measured from the warm-up it ran with "
                                f"({self._measured_from:g} s), not {s.warmup:g} s; simulate again with that warm-up")
        rows = []
        for name in self.strategies:
            rec = self._runs[name].recorder
            n = rec.requests_measured
            done = rec.outcomes.copy()
            done[OUT_INCOMPLETE] += n - int(done.sum())  # measured requests that never finished
            rows.append(self._row(name, n, int(done[OUT_SUCCESS]), rec.latency.percentile([50, 95, 99]),
                                  rec.attempts_of_finished / n if n else np.nan, rec.attempts_measured, done, w))
        return rows

    def _binned_rows(self, w: Window) -> list[dict]:
        # A window other than the measured run: what the per-bin counts hold (see the class docstring).
        width = self.scenario.bin
        rows = []
        for name in self.strategies:
            bins = self._runs[name].recorder.bins
            time = np.arange(len(bins["offered"])) * width
            inside = (time + width > w.start + 1e-9) & (time < w.end - 1e-9)
            n = int(bins["offered"][inside].sum())
            n_ok = int(bins["succeeded"][inside].sum())
            outcomes = [float(n_ok) if o == "success" else np.nan for o in OUTCOMES]
            rows.append(self._row(name, n, n_ok, [np.nan] * 3, np.nan, int(bins["sent"][inside].sum()),
                                  outcomes, w))
        return rows

    def _row_counts(self) -> tuple[int, int]:
        recs = [run.recorder for run in self._runs.values()]
        return sum(r.requests_total for r in recs), sum(r.attempts_total for r in recs)

    def _row_tables(self) -> tuple[str, ...]:
        return ("timeline",)  # no request or attempt rows in summary mode
