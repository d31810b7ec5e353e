"""Result: the tidy tables of one simulation and the summary derived from them.

``requests`` has one row per request, ``attempts`` one row per attempt,
``timeline`` one row per strategy and time bin; every table has a
``strategy`` column, so strategies compare with a ``groupby``. Metrics are
computed here and only here.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .sim.recorder import CODE_OK, CODE_TIMEOUT, OUTCOMES, SOURCES

SUMMARY_COLUMNS = ["strategy", "requests", "success_rate", "p50_s", "p95_s", "p99_s", "mean_attempts",
                   "amplification", "goodput_rps", *OUTCOMES, "wasted_s"]


@dataclass
class Result:
    """What :func:`resilsim.simulate` returns: the scenario, the seed and tidy DataFrames."""

    scenario: object
    seed: object
    requests: pd.DataFrame
    attempts: pd.DataFrame
    timeline: pd.DataFrame
    windows: list = field(default_factory=list)
    strategies: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    @classmethod
    def from_runs(cls, scenario, seed, codes: list, runs: dict) -> "Result":
        """Assemble the tables of several strategy runs (internal to :func:`simulate`)."""
        # Columns are built as categoricals straight from the recorder's integer codes: object
        # arrays of names cost ~200 bytes per attempt at 1M requests (benchmarks/RESULTS.md).
        names = [c.code for c in codes] + ["TIMEOUT", ""]
        http = np.array([c.http for c in codes] + [0, 200], dtype=np.int16)
        order = list(runs)

        def table_codes(col):
            # Codes -1 (ok) and -2 (timeout) map to the last two names.
            return np.where(col == CODE_OK, len(codes) + 1, np.where(col == CODE_TIMEOUT, len(codes), col))

        views = {name: (run["recorder"].requests.view(), run["recorder"].attempts.view()) for name, run in runs.items()}
        coded = {name: (table_codes(r["code"]), table_codes(a["code"])) for name, (r, a) in views.items()}
        used = np.unique(np.concatenate([np.concatenate(pair) for pair in coded.values()] + [np.array([len(codes) + 1])]))
        remap = np.full(len(names), -1, dtype=np.int16)
        remap[used] = np.arange(len(used))
        code_categories = [names[i] for i in used]

        def cat(values, categories):
            return pd.Categorical.from_codes(values, categories=categories)

        req_frames, att_frames, tl_frames = [], [], []
        strategies, stats, windows = {}, {}, []
        for k, (name, run) in enumerate(runs.items()):
            rec = run["recorder"]
            windows = run["windows"]
            r, a = views[name]
            rcode, acode = coded[name]
            req = pd.DataFrame({
                "strategy": cat(np.full(len(r["start"]), k, dtype=np.int8), order),
                "request": np.arange(len(r["start"]), dtype=np.int64),
                "operation": cat(r["operation"], run["operations"]),
                "start": r["start"], "end": r["end"], "latency": r["end"] - r["start"],
                "attempts": r["attempts"],
                "outcome": cat(r["outcome"], list(OUTCOMES)),
                "code": cat(remap[rcode], code_categories),
            })
            att = pd.DataFrame({
                "strategy": cat(np.full(len(a["start"]), k, dtype=np.int8), order),
                "request": a["request"], "attempt": a["attempt"], "start": a["start"], "end": a["end"],
                "status": http[acode], "code": cat(remap[acode], code_categories),
                "source": cat(a["source"], list(SOURCES)),
            })
            req_frames.append(req)
            att_frames.append(att)
            tl_frames.append(_timeline(name, req, att, scenario, run))
            strategies[name] = run["policy"].describe()
            stats[name] = {"wall_s": run["wall_s"], "busy_s": run["busy_time"], "wasted_s": run["wasted_time"],
                           "reject_s": run.get("reject_time", 0.0),
                           "attempt_bytes": rec.attempts.nbytes, "end_time": run["end_time"]}
        requests = pd.concat(req_frames, ignore_index=True) if len(req_frames) > 1 else req_frames[0]
        attempts = pd.concat(att_frames, ignore_index=True) if len(att_frames) > 1 else att_frames[0]
        timeline = pd.concat(tl_frames, ignore_index=True)
        timeline["strategy"] = pd.Categorical(timeline["strategy"], categories=order)
        return cls(scenario, seed, requests, attempts, timeline, windows, strategies, stats)

    # ------------------------------------------------------------ metrics

    def measured(self) -> pd.DataFrame:
        """Requests that arrived inside the measurement window [warmup, duration)."""
        s = self.scenario
        r = self.requests
        return r[(r["start"] >= s.warmup) & (r["start"] < s.duration)]

    def summary(self) -> pd.DataFrame:
        """One row per strategy: requests, success rate, latency percentiles (s), attempts, goodput, outcomes.

        Latency percentiles are of successful requests (first send to final
        answer, seconds); ``amplification`` is attempts ÷ requests;
        ``goodput_rps`` is successful requests per second of the window;
        ``wasted_s`` is service time spent on abandoned attempts (seconds, whole run);
        with incidents or arrival-rate changes, ``recovery_s`` (see :func:`recovery_time`).
        """
        s = self.scenario
        window = s.duration - s.warmup
        req = self.measured()
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
            rows.append({
                "strategy": name, "requests": n,
                "success_rate": len(ok) / n if n else np.nan,
                "p50_s": pct[0], "p95_s": pct[1], "p99_s": pct[2],
                "mean_attempts": r["attempts"].mean() if n else np.nan,
                "amplification": n_att / n if n else np.nan,
                "goodput_rps": len(ok) / window,
                **{o: int(counts.get(o, 0)) for o in OUTCOMES},
                # Service seconds spent on attempts whose client had already timed out (whole run).
                "wasted_s": self.stats.get(name, {}).get("wasted_s", np.nan),
            })
        columns = SUMMARY_COLUMNS
        trigger = _trigger_window(s)
        if trigger is not None:
            columns = [*SUMMARY_COLUMNS, "recovery_s"]
            tl = self.timeline
            for row in rows:
                row["recovery_s"] = recovery_time(tl[tl["strategy"] == row["strategy"]], s, *trigger)
        return pd.DataFrame(rows, columns=columns).set_index("strategy")

    # ------------------------------------------------------------ output

    def to_csv(self, out: str | Path) -> list[Path]:
        """Write requests.csv, attempts.csv, timeline.csv and summary.csv into ``out``; return the paths."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, df in (("requests", self.requests), ("attempts", self.attempts),
                         ("timeline", self.timeline), ("summary", self.summary())):
            p = out / f"{name}.csv"
            df.to_csv(p, index=(name == "summary"))
            paths.append(p)
        return paths

    def __repr__(self) -> str:
        s = self.scenario
        return (f"<Result {s.name!r} seed={self.seed} strategies={len(self.strategies)} "
                f"requests={len(self.requests)} attempts={len(self.attempts)}>\n"
                + self.summary().to_string(float_format=lambda v: f"{v:.4g}"))

    def _repr_html_(self) -> str:
        s = self.scenario
        table = self.summary().to_html(float_format=lambda v: f"{v:.4g}", border=0)
        head = (f"<b>{html.escape(s.name)}</b> · api {html.escape(s.api)} · seed {html.escape(str(self.seed))} · "
                f"{s.duration:g} s (warm-up {s.warmup:g} s) · {len(self.requests)} requests, "
                f"{len(self.attempts)} attempts")
        return (f'<div style="font-family: sans-serif; font-size: 12px">{head}'
                f'<div style="overflow-x:auto">{table}</div></div>')


#: Recovery: the first window of RECOVERY_WINDOW_S seconds after the trigger whose requests
#: succeed at RECOVERY_FRACTION or more of the pre-trigger success rate.
RECOVERY_WINDOW_S = 20.0
RECOVERY_FRACTION = 0.9


def _trigger_window(scenario) -> tuple[float, float] | None:
    """(first start, last end) of the incidents and arrival-rate changes, seconds; None when there are none."""
    spans = [(c.start, c.start + c.duration) for c in scenario.clients.arrival.poisson.changes]
    spans += [(i.start, i.start + i.duration) for i in scenario.faults.incidents]
    if not spans:
        return None
    return min(a for a, _ in spans), max(b for _, b in spans)


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
    width = scenario.bin
    time = tl["time"].to_numpy()
    offered = tl["offered_rps"].to_numpy() * width
    ok = np.nan_to_num(tl["success_rate"].to_numpy()) * offered
    pre = (time >= scenario.warmup) & (time + width <= t0 + 1e-9)
    if ok[pre].sum() == 0:
        return float("nan")
    threshold = RECOVERY_FRACTION * ok[pre].sum() / offered[pre].sum()
    w = max(1, int(round(RECOVERY_WINDOW_S / width)))
    c_off = np.concatenate([[0.0], np.cumsum(offered)])
    c_ok = np.concatenate([[0.0], np.cumsum(ok)])
    starts = np.flatnonzero((time >= t1 - 1e-9) & (time + w * width <= scenario.duration + 1e-9))
    n_off = c_off[starts + w] - c_off[starts]
    healthy = (n_off > 0) & (c_ok[starts + w] - c_ok[starts] >= threshold * n_off)
    if not healthy.any():
        return float("nan")
    return float(time[starts[np.argmax(healthy)]] - t1)


def _timeline(name: str, req: pd.DataFrame, att: pd.DataFrame, scenario, run: dict | None = None) -> pd.DataFrame:
    """Per time bin: offered requests, attempts sent, their successes, and request success rate by arrival.

    With the run's sampler: ``queue_length`` and ``utilisation`` (busy
    workers ÷ workers) at each bin's start, and per second the attempts
    refused by the rate limiter (``limited_rps``), the quota, credits or a tier
    lock (``quota_rps``) and capacity or shedding (``overload_rps``).
    """
    width = scenario.bin
    nbins = int(np.ceil(scenario.duration / width))
    rb = np.minimum((req["start"].to_numpy() // width).astype(int), nbins - 1)
    ok = (req["outcome"] == "success").to_numpy()
    ab = np.clip((att["start"].to_numpy() // width).astype(int), 0, nbins - 1)
    a_ok = (att["code"] == "").to_numpy()
    offered = np.bincount(rb, minlength=nbins)
    succeeded = np.bincount(rb, weights=ok, minlength=nbins)
    sent = np.bincount(ab, minlength=nbins)
    sent_ok = np.bincount(ab, weights=a_ok, minlength=nbins)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(offered > 0, succeeded / np.maximum(offered, 1), np.nan)
    tl = pd.DataFrame({
        "strategy": name, "time": np.arange(nbins) * width,
        "offered_rps": offered / width, "attempts_rps": sent / width,
        "attempt_success_rps": sent_ok / width, "success_rate": rate,
    })
    sampler = (run or {}).get("sampler")
    if sampler is not None and sampler.nbins == nbins:
        src = att["source"].cat.codes.to_numpy()
        for col, kinds in (("limited_rps", ("limiter",)), ("quota_rps", ("quota",)),
                           ("overload_rps", ("capacity", "shed"))):
            hit = np.isin(src, [SOURCES.index(k) for k in kinds])
            tl[col] = np.bincount(ab, weights=hit, minlength=nbins) / width
        tl["queue_length"] = sampler.queue
        tl["utilisation"] = sampler.busy / run["workers"]
    return tl
