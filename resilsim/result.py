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
        code_names = np.array([c.code for c in codes] + ["TIMEOUT", ""], dtype=object)
        http = np.array([c.http for c in codes] + [0, 200], dtype=np.int16)
        req_frames, att_frames, tl_frames = [], [], []
        strategies, stats, windows = {}, {}, []
        order = list(runs)
        for name, run in runs.items():
            rec = run["recorder"]
            ops = run["operations"]
            windows = run["windows"]
            r = rec.requests.view()
            a = rec.attempts.view()
            # Codes -1 (ok) and -2 (timeout) index the last two names through negative indexing.
            rcode = np.where(r["code"] == CODE_OK, len(codes) + 1, np.where(r["code"] == CODE_TIMEOUT, len(codes), r["code"]))
            acode = np.where(a["code"] == CODE_OK, len(codes) + 1, np.where(a["code"] == CODE_TIMEOUT, len(codes), a["code"]))
            req = pd.DataFrame({
                "request": np.arange(len(r["start"]), dtype=np.int64),
                "operation": pd.Categorical.from_codes(r["operation"], categories=ops),
                "start": r["start"], "end": r["end"], "latency": r["end"] - r["start"],
                "attempts": r["attempts"],
                "outcome": pd.Categorical.from_codes(r["outcome"], categories=list(OUTCOMES)),
                "code": code_names[rcode],
            })
            att = pd.DataFrame({
                "request": a["request"], "attempt": a["attempt"], "start": a["start"], "end": a["end"],
                "status": http[acode], "code": code_names[acode],
                "source": pd.Categorical.from_codes(a["source"], categories=list(SOURCES)),
            })
            req.insert(0, "strategy", name)
            att.insert(0, "strategy", name)
            req_frames.append(req)
            att_frames.append(att)
            tl_frames.append(_timeline(name, req, att, scenario, run))
            strategies[name] = run["policy"].describe()
            stats[name] = {"wall_s": run["wall_s"], "busy_s": run["busy_time"], "wasted_s": run["wasted_time"],
                           "reject_s": run.get("reject_time", 0.0),
                           "attempt_bytes": rec.attempts.nbytes, "end_time": run["end_time"]}
        requests = pd.concat(req_frames, ignore_index=True)
        attempts = pd.concat(att_frames, ignore_index=True)
        for df in (requests, attempts):
            df["strategy"] = pd.Categorical(df["strategy"], categories=order)
            df["code"] = df["code"].astype("category")
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
        ``wasted_s`` is service time spent on abandoned attempts (seconds, whole run).
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
        return pd.DataFrame(rows, columns=SUMMARY_COLUMNS).set_index("strategy")

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
