"""The statistics of a sweep: MSER-5 warm-up detection and 95 % intervals per grid point and strategy.

Replications are the independent unit (the requests of one run share its
incidents and queues). See docs/sweeps.md, "Intervals", for the methods and
their measured coverage.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .. import metrics as vocabulary

def mser5(timeline: pd.DataFrame, scenario=None, column: str | None = None) -> dict:
    """MSER-5 warm-up (seconds) per strategy from a per-second series.

    Batches the series in 5s, and picks the truncation d (in the first half)
    minimising the variance of the mean of the rest: var/(n-d)^2 · Σ(x-x̄)².
    ``column`` defaults to queue_length (else attempts_rps) of :attr:`Result.timeline`.
    """
    out = {}
    if timeline is None or timeline.empty:
        return out
    col = column or next((c for c in ("queue_length", "attempts_rps", "success_rate")
                          if c in timeline.columns), None)
    if col is None:
        num = [c for c in timeline.columns if c not in ("strategy", "t", "time", "start") and
               pd.api.types.is_numeric_dtype(timeline[c])]
        if not num:
            return out
        col = num[0]
    tcol = next((c for c in ("t", "time", "start", "bin") if c in timeline.columns), None)
    for name, g in timeline.groupby("strategy", observed=True):
        x = g[col].to_numpy(dtype=float)
        x = x[~np.isnan(x)]
        b = len(x) // 5
        if b < 4:
            out[str(name)] = 0.0
            continue
        y = x[: b * 5].reshape(b, 5).mean(axis=1)
        best, best_d = np.inf, 0
        for d in range(0, b // 2):
            rest = y[d:]
            stat = ((rest - rest.mean()) ** 2).sum() / len(rest) ** 2
            if stat < best:
                best, best_d = stat, d
        if tcol is not None:
            t = g[tcol].to_numpy(dtype=float)
            step = (t[1] - t[0]) if len(t) > 1 else 1.0
            out[str(name)] = float(t[0] + best_d * 5 * step)
        else:
            out[str(name)] = float(best_d * 5)
    return out


# Two-sided 95% t quantiles t_{0.975, df} for df = 1..30; beyond, a Cornish-Fisher expansion of the normal one.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (to ~3 decimals)."""
    if df < 1:
        return math.nan
    if df <= 30:
        return _T975[df - 1]
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


#: Fewer replications than this behind an interval: tables and reports say the interval is rough.
FEW_REPLICATIONS = 5


def proportion_interval(rates, requests) -> tuple[float, float, float]:
    """(mean, low, high) of a proportion over replications: a score interval that stays in [0, 1].

    ``rates`` are the replications' proportions (e.g. success rates), ``requests``
    the requests behind each. Requests within a run are correlated (they share
    incidents and queues), so the binomial count overstates the information; the
    interval uses the effective sample size whose binomial variance equals the
    between-replication variance of the mean, n_eff = p̄(1 − p̄)·n / s², in
    Wilson's score interval with Student's t quantile (n − 1 degrees of
    freedom) in place of z. When the replications agree exactly (s² = 0, e.g.
    every run at 100 %) the total request count is used. Coverage is checked in
    tests/test_sweep_stats.py and docs/sweeps.md.
    """
    x = np.asarray(rates, float)
    ok = ~np.isnan(x)
    x, reqs = x[ok], np.asarray(requests, float)[ok]
    n = len(x)
    if n == 0:
        return np.nan, np.nan, np.nan
    mean = float(x.mean())
    if n == 1:
        return mean, np.nan, np.nan
    q = mean * (1 - mean)
    s2 = float(x.var(ddof=1))
    n_eff = q * n / s2 if s2 > 0 and q > 0 else float(reqs.sum())
    t = t975(n - 1)
    z2 = t * t / n_eff
    centre = (mean + z2 / 2) / (1 + z2)
    half = t / (1 + z2) * math.sqrt(q / n_eff + z2 / (4 * n_eff))
    # The score interval always holds the mean; min/max only absorb rounding at p̄ = 0 or 1.
    return mean, max(0.0, min(mean, centre - half)), min(1.0, max(mean, centre + half))


def mean_interval(values, low: float | None = None, high: float | None = None) -> tuple[float, float, float]:
    """(mean, low, high): Student's t interval (95 %) of the mean over replications, cut to [``low``, ``high``].

    Cutting an interval to the values a metric can take (a latency is never
    negative) never loses coverage: the true value lies in the cut part too.
    """
    x = np.asarray(values, float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return np.nan, np.nan, np.nan
    mean = float(x.mean())
    if len(x) == 1:
        return mean, np.nan, np.nan
    half = t975(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    lo, hi = mean - half, mean + half
    return mean, (lo if low is None else max(low, lo)), (hi if high is None else min(high, hi))


METRICS = ["success_rate", "p50_s", "p95_s", "p99_s", "mean_attempts", "amplification", "peak_amplification",
           "goodput_rps", "wasted_s", "duplicate_effects", "recovery_s"]


def aggregate(df: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Per grid point and strategy: n, and mean, ci_low, ci_high (95%) of every metric.

    Proportions (success rate) get :func:`proportion_interval` (inside [0, 1],
    allowing for requests correlated within a run); other metrics
    :func:`mean_interval`, cut to the range the metric can take. ``few_replications``
    is True where fewer than :data:`FEW_REPLICATIONS` runs stand behind a row's
    intervals. Failed runs and runs truncated at a scenario limit are left out
    (and counted in ``failed_runs`` and ``truncated_runs``): their numbers are
    missing or partial. A run that never recovered has no ``recovery_s``
    (NaN): ``recovery_s_never`` counts them, and where any did not recover
    the interval's high end is infinite (an SLO on time to recover fails).
    """
    if df.empty:
        return df
    params = param_columns(df)
    ok = df[df["error"].fillna("") == ""] if "error" in df else df
    if "truncated" in ok:
        ok = ok[ok["truncated"].fillna("") == ""]
    metrics = metrics or [m for m in METRICS if m in df.columns] + \
        [c for c in ("mser5_warmup_s",) if c in df.columns] + service_columns(df)
    keys = ["point", *params, "strategy"]
    rows = []
    for k, g in ok.groupby(keys, dropna=False, sort=True):
        row = dict(zip(keys, k if isinstance(k, tuple) else (k,)))
        n = len(g)
        row["n"] = n
        row["few_replications"] = n < FEW_REPLICATIONS
        for m in metrics:
            spec = vocabulary.spec(m)
            # A proportion's interval weighs each run by what it counted: requests, or a service's calls.
            svc = vocabulary.split_service_column(m)
            weight = "requests" if svc is None else vocabulary.service_column(svc[0], "calls")
            if spec is not None and (spec.low, spec.high) == (0.0, 1.0) and weight in g:
                mean, lo, hi = proportion_interval(g[m].to_numpy(float), g[weight].to_numpy(float))
            else:
                mean, lo, hi = mean_interval(g[m].to_numpy(float), *((spec.low, spec.high) if spec else (None, None)))
            row[m] = mean
            row[f"{m}_ci_low"] = lo
            row[f"{m}_ci_high"] = hi
            if m == "recovery_s":
                row["recovery_s_never"] = never = int(g[m].isna().sum())
                if never:
                    row[f"{m}_ci_high"] = math.inf
        rows.append(row)
    out = pd.DataFrame(rows)
    if "error" in df:
        fails = df[df["error"].fillna("") != ""].groupby("point").size()
        out["failed_runs"] = out["point"].map(fails).fillna(0).astype(int)
    if "truncated" in df and len(out):
        cut = df[df["truncated"].fillna("") != ""].groupby("point")["run_id"].nunique()
        out["truncated_runs"] = out["point"].map(cut).fillna(0).astype(int)
    return out


def strategy_table(df: pd.DataFrame) -> pd.DataFrame:
    """The strategies of a sweep DataFrame and their parameters, one column each (from ``strategy_params``).

    One row per distinct (strategy, parameters), indexed by ``strategy``
    (columns as :meth:`resilsim.Result.strategies_table`: ``retry``,
    ``wait``, ``stop_attempts``, ``breaker_open_s``, ``token_bucket_max_tokens``,
    ...). ``df.join(strategy_table(df), on="strategy")`` puts the parameters
    on every row, so a sweep groups by them; a sweep that varies a strategy
    parameter already has it as its swept (dotted) column.
    """
    if "strategy_params" not in df.columns:
        return pd.DataFrame()
    pairs = df[["strategy", "strategy_params"]].dropna().drop_duplicates()
    rows = [{"strategy": s, **json.loads(p)} for s, p in zip(pairs["strategy"], pairs["strategy_params"]) if s]
    return pd.DataFrame(rows).drop_duplicates("strategy").set_index("strategy") if rows else pd.DataFrame()


def param_columns(df: pd.DataFrame) -> list[str]:
    """The swept-parameter columns of a sweep DataFrame (the dotted keys; not the per-service metrics,
    ``svc.NAME.METRIC``)."""
    return [c for c in df.columns if "." in c and not c.startswith(vocabulary.SERVICE_PREFIX)]


def service_columns(df: pd.DataFrame) -> list[str]:
    """The per-service metric columns of a sweep DataFrame (``svc.NAME.METRIC``, in their order)."""
    return [c for c in df.columns if vocabulary.split_service_column(c) is not None]


def metric_table(agg, metric: str = "success_rate", param: str | None = None) -> pd.DataFrame:
    """One metric of :func:`aggregate`'s output (or a plan's evidence) as the ``param, strategy, mean, lo, hi`` table.

    What :func:`resilsim.plots.sweep_metric` draws. ``param`` defaults to the
    first swept (dotted) column; rows are sorted by it; bounds are cut to the
    values the metric can take.
    """
    if param is None:
        dotted = param_columns(agg)
        if not dotted:
            raise ValueError("the sweep table has no swept (dotted) parameter column; pass param=")
        param = dotted[0]
    out = pd.DataFrame({"param": agg[param].to_numpy(), "strategy": agg["strategy"].astype(str).to_numpy(),
                        "mean": agg[metric].to_numpy(float),
                        "lo": agg.get(f"{metric}_ci_low", agg[metric]).to_numpy(float),
                        "hi": agg.get(f"{metric}_ci_high", agg[metric]).to_numpy(float)})
    # One replication has no CI: the band collapses onto the mean rather than vanishing.
    out["lo"] = out["lo"].fillna(out["mean"])
    out["hi"] = out["hi"].fillna(out["mean"])
    out["lo"], out["hi"] = vocabulary.clip(metric, out["lo"].to_numpy(), out["hi"].to_numpy())
    return out.sort_values(["strategy", "param"], kind="stable").reset_index(drop=True)
