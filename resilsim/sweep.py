"""Parameter sweeps: many runs (grid point × replication), on every core or a Dask cluster, resumable.

    >>> df = resilsim.sweep("scenarios/counters-rate-limited.yaml",
    ...                     {"service.workers": [4, 8, 16]}, replications=5, store="results/workers")
    >>> resilsim.aggregate(df)

Seeds: one root ``SeedSequence(seed)``; each (grid point, replication) gets
its own spawned child, shared by every strategy of the point (common random
numbers). A run's numbers depend only on its scenario and seed, never on the
executor, the order or the number of workers.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import sys
import time
import traceback
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ResilsimError, ScenarioError
from .scenario import Scenario, given_fields, is_field_path, load_scenario

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


# ---------------------------------------------------------------- grids

@dataclass
class Grid:
    """A list of grid points (dicts of dotted key → value).

    Build with :meth:`product` (full factorial), :meth:`zip` (parallel lists),
    :meth:`random` or :meth:`latin` (sampled over ``{key: (lo, hi)}`` ranges).
    """

    points: list = field(default_factory=list)
    kind: str = "product"
    spec: dict = field(default_factory=dict)

    @classmethod
    def product(cls, axes: dict) -> "Grid":
        """Every combination of the values in ``axes`` ({key: [values]})."""
        keys = list(axes)
        pts = [dict(zip(keys, combo)) for combo in itertools.product(*(list(axes[k]) for k in keys))]
        return cls(pts, "product", {k: list(v) for k, v in axes.items()})

    @classmethod
    def zip(cls, axes: dict) -> "Grid":
        """Point i takes the i-th value of every list (all lists the same length)."""
        lengths = {len(list(v)) for v in axes.values()}
        if len(lengths) > 1:
            raise ScenarioError(f"a zipped grid needs lists of one length, got lengths {sorted(lengths)}", path="grid")
        keys = list(axes)
        pts = [dict(zip(keys, combo)) for combo in zip(*(list(axes[k]) for k in keys))]
        return cls(pts, "zip", {k: list(v) for k, v in axes.items()})

    @classmethod
    def random(cls, ranges: dict, n: int, seed: int = 0) -> "Grid":
        """``n`` points drawn uniformly in ``{key: (lo, hi)}`` (ints stay ints)."""
        rng = np.random.default_rng(seed)
        u = rng.random((n, len(ranges)))
        return cls(_scale(ranges, u), "random", {"ranges": {k: list(v) for k, v in ranges.items()}, "n": n, "seed": seed})

    @classmethod
    def latin(cls, ranges: dict, n: int, seed: int = 0) -> "Grid":
        """``n`` Latin-hypercube points in ``{key: (lo, hi)}``: each range cut in n strata, each used once."""
        rng = np.random.default_rng(seed)
        d = len(ranges)
        u = (np.argsort(rng.random((d, n)), axis=1).T + rng.random((n, d))) / n
        return cls(_scale(ranges, u), "latin", {"ranges": {k: list(v) for k, v in ranges.items()}, "n": n, "seed": seed})

    def keys(self) -> list[str]:
        """The swept dotted keys."""
        return list(dict.fromkeys(k for p in self.points for k in p))


def _scale(ranges: dict, u: np.ndarray) -> list[dict]:
    pts = []
    for row in u:
        p = {}
        for (k, (lo, hi)), x in zip(ranges.items(), row):
            if isinstance(lo, int) and isinstance(hi, int):
                p[k] = int(min(hi, lo + math.floor(x * (hi - lo + 1))))
            else:
                p[k] = float(lo + x * (hi - lo))
        pts.append(p)
    return pts


def as_grid(grid, zipped: bool = False) -> Grid:
    """A :class:`Grid` from a Grid, a dict of lists (factorial, or zipped) or a list of point dicts."""
    if isinstance(grid, Grid):
        return grid
    if grid is None:
        return Grid([{}], "product", {})
    if isinstance(grid, dict):
        axes = {k: (v if isinstance(v, (list, tuple)) else [v]) for k, v in grid.items()}
        return Grid.zip(axes) if zipped else Grid.product(axes)
    if isinstance(grid, (list, tuple)):
        return Grid([dict(p) for p in grid], "points", {"points": [dict(p) for p in grid]})
    raise ScenarioError(f"a grid must be a dict of lists, a list of points or a Grid, not {type(grid).__name__}",
                        path="grid")


# ---------------------------------------------------------------- run specs

def _canon(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))


def run_id(scenario_data: dict, overrides: dict, replication: int, root_seed: int, common_seeds: bool = False) -> str:
    """Deterministic id of one run: a hash of (scenario dump, overrides, replication, root seed[, common seeds])."""
    key = [scenario_data, overrides, replication, root_seed] + (["common-seeds"] if common_seeds else [])
    h = hashlib.sha256(_canon(key).encode())
    return h.hexdigest()[:16]


def _tasks(base: dict, grid: Grid, replications: range, seed: int, common_seeds: bool = False) -> list[dict]:
    # Independent seeds: child i·R + r for point i, replication r. Common seeds: child r at every point,
    # so points differ only by their parameters (smoother curves, sharper differences), and replications
    # can be added later (child r is the same however many are spawned).
    root = np.random.SeedSequence(seed)
    n = len(replications)
    children = root.spawn(replications.stop if common_seeds else len(grid.points) * n)
    tasks = []
    for i, point in enumerate(grid.points):
        for r in replications:
            child = children[r if common_seeds else i * n + r]
            tasks.append({"point": i, "overrides": dict(point), "replication": r, "entropy": int(root.entropy),
                          "spawn_key": tuple(child.spawn_key),
                          "run_id": run_id(base, point, r, seed, common_seeds)})
    return tasks


# ---------------------------------------------------------------- the worker (module level: it pickles)

def _init_worker():
    for v in _THREAD_VARS:
        os.environ[v] = "1"


def run_task(base: dict, task: dict, warmup: str | None = None, keep_attempts: bool = False) -> dict:
    """Simulate one run of a sweep; return compact rows (never raises: a failure becomes an error row).

    Returns ``{"rows": [...], "timeline": DataFrame|None, "attempts": DataFrame|None}``.
    """
    for v in _THREAD_VARS:
        os.environ.setdefault(v, "1")
    from .sim import simulate

    t0 = time.perf_counter()
    common = {"run_id": task["run_id"], "point": task["point"], "replication": task["replication"],
              "seed_entropy": str(task["entropy"]), "spawn_key": "/".join(map(str, task["spawn_key"]))}
    for k, v in task["overrides"].items():
        common[k] = v
    try:
        scenario = load_scenario(base, overrides=task["overrides"]) if task["overrides"] else load_scenario(base)
        ss = np.random.SeedSequence(task["entropy"], spawn_key=task["spawn_key"])
        # Summary-only recording (flat memory, same counts, percentiles within 0.1 %) unless rows are needed:
        # attempts kept, or a re-measurement from the MSER-5 warm-up.
        raw = keep_attempts or warmup == "mser5"
        result = simulate(scenario, seed=ss, record="full" if raw else "summary")
        summary = result.summary()
        mser = mser5(result.timeline, scenario)
        if warmup == "mser5":
            # Re-measure from the detected truncation point (the later of it and the scenario's warm-up).
            summary = _summary_from(result, max(mser.values(), default=0.0))
        rows = []
        guard_stats = result.guard_stats()
        for rec in summary.reset_index().to_dict("records"):
            name = rec.pop("strategy")
            row = dict(common)
            row["strategy"] = name
            row.update({k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()})
            row["strategy_params"] = _canon(result.strategies.get(name, {}))
            # Guard refusals and hedges (whole run; zeros without guards): see Result.guard_stats.
            row.update({c: guard_stats.at[name, c].item() for c in guard_stats.columns})  # held_s: float seconds
            row["mser5_warmup_s"] = float(mser.get(name, np.nan))
            row["wall_s"] = time.perf_counter() - t0
            row["error"] = ""
            # A run stopped at a scenario limit keeps its partial numbers, flagged (docs/reliability.md).
            row["truncated"] = result.truncated.get(name, "")
            rows.append(row)
        tl = _downsample(result.timeline)
        att = result.attempts if keep_attempts else None
        return {"rows": rows, "timeline": tl, "attempts": att}
    except Exception as e:  # noqa: BLE001 - one failing grid point must not stop the sweep
        row = dict(common)
        row["strategy"] = ""
        row["wall_s"] = time.perf_counter() - t0
        row["error"] = f"{type(e).__name__}: {e}"
        row["traceback"] = traceback.format_exc(limit=5)
        return {"rows": [row], "timeline": None, "attempts": None}


def _summary_from(result, start: float) -> pd.DataFrame:
    import copy
    res = copy.copy(result)
    res.scenario = result.scenario.model_copy(update={"warmup": max(result.scenario.warmup, float(start))})
    return res.summary()


def _downsample(tl: pd.DataFrame, max_bins: int = 600) -> pd.DataFrame | None:
    if tl is None or tl.empty:
        return None
    n = tl.groupby("strategy", observed=True).size().max()
    if n <= max_bins:
        return tl
    step = int(math.ceil(n / max_bins))
    return tl.groupby("strategy", observed=True, group_keys=False).apply(lambda g: g.iloc[::step])


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


# ---------------------------------------------------------------- executors

def _make_executor(executor, workers):
    """(executor, owned, cleanup) for the ``executor`` argument."""
    if executor is None or executor == "local":
        n = workers or os.cpu_count() or 1
        return ProcessPoolExecutor(max_workers=n, initializer=_init_worker), True, None
    if executor == "inprocess":
        return None, False, None
    if isinstance(executor, Executor):
        return executor, False, None
    try:
        import distributed
    except ImportError:  # pragma: no cover - optional extra
        raise ResilsimError(f"executor {executor!r} needs Dask: pip install \"resilsim[dask]\"") from None
    if executor == "dask":
        cluster = distributed.LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
        client = distributed.Client(cluster)
        def cleanup():
            client.close()
            cluster.close()
        return client.get_executor(), True, cleanup
    if isinstance(executor, str):
        client = distributed.Client(executor)
        return client.get_executor(), True, client.close
    if isinstance(executor, distributed.Client):
        return executor.get_executor(), False, None
    raise ResilsimError(f"unknown executor {executor!r}; use None, 'local', 'inprocess', 'dask', a scheduler "
                        "address, a distributed.Client or a concurrent.futures.Executor")


# ---------------------------------------------------------------- sweep

def _base(scenario) -> dict:
    s = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    return given_fields(s)


def check_grid(base: dict, grid: Grid) -> None:
    """Refuse grid keys that are not paths of the scenario (one sentence, ScenarioError)."""
    for key in grid.keys():
        if not is_field_path(base, key):
            raise ScenarioError(f"{key!r} is not a field of the scenario; use a dotted path such as "
                                "service.workers or clients.arrival.poisson.rate", path="grid")
    for p in grid.points[:1]:
        try:
            load_scenario(base, overrides=p)  # values of the wrong type fail here, once, before any work
        except ScenarioError as e:
            raise ScenarioError(str(e), path="grid") from None


def sweep(scenario, grid=None, replications: int = 1, seed: int = 0, executor=None, workers: int | None = None,
          store=None, progress: bool = True, keep_attempts: bool = False, zipped: bool = False,
          warmup: str | None = None, common_seeds: bool = False) -> pd.DataFrame:
    """Run ``scenario`` at every grid point × replication; return a tidy DataFrame.

    One row per run × strategy: the swept parameters, ``replication``,
    ``seed_entropy``/``spawn_key``, ``run_id``, the summary metrics of
    :meth:`Result.summary`, ``strategy_params``, ``mser5_warmup_s``, ``wall_s``
    (seconds) and ``error`` ("" when the run succeeded).
    ``executor``: None/"local" (process pool, ``workers`` or every core),
    "inprocess", "dask" (a LocalCluster), a scheduler address, a
    ``distributed.Client`` or any ``concurrent.futures.Executor``.
    ``store``: a results directory, locked while the sweep runs (a second sweep into it meanwhile is
    refused); finished runs are skipped on rerun, unreadable run files are run again.
    ``warmup="mser5"`` measures from the detected warm-up instead of the scenario's.
    ``common_seeds=True`` runs replication *r* of every grid point on the same
    seed (common random numbers across points); by default each point has
    its own seeds. The strategies of one run always share their seed.
    """
    from .store import Store

    base = _base(scenario)
    g = as_grid(grid, zipped)
    check_grid(base, g)
    reps = _replications(replications, common_seeds)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ScenarioError(f"must be a non-negative integer, got {seed!r}", path="seed")
    if workers is not None and (not isinstance(workers, (int, np.integer)) or workers < 1):
        raise ScenarioError(f"must be a positive integer, got {workers!r}", path="workers")
    tasks = _tasks(base, g, reps, int(seed), common_seeds)
    st = None
    if store is not None:
        st = Store(store)
        # Locks the directory until st.close(): a second sweep into it meanwhile is refused.
        st.open({"scenario": base, "grid": {"kind": g.kind, "spec": g.spec, "points": g.points},
                 "replications": len(reps) if reps.start == 0 else [reps.start, reps.stop],
                 "seed": int(seed), "warmup": warmup,
                 **({"common_seeds": True} if common_seeds else {})})
    rows_by_id: dict = {}
    bar = ex = cleanup = None
    owned = False
    failed = truncated = 0

    def finish(out):
        nonlocal failed, truncated
        rid = out["rows"][0]["run_id"]
        if out["rows"][0].get("error"):
            failed += 1
        elif any(r.get("truncated") for r in out["rows"]):
            truncated += 1
        if st is not None:
            st.write(rid, out)
        else:
            rows_by_id[rid] = out["rows"]
        if bar is not None:
            bar.update(1)
            bar.set_postfix(failed=failed, truncated=truncated, refresh=False)

    try:
        if st is not None:
            done = st.finished()
            todo = [t for t in tasks if t["run_id"] not in done]
        else:
            todo = tasks
        bar = _bar(len(tasks), len(tasks) - len(todo), progress)
        ex, owned, cleanup = _make_executor(executor, workers) if todo else (None, False, None)
        if ex is None:
            for t in todo:
                finish(run_task(base, t, warmup, keep_attempts))
        else:
            futs = [ex.submit(run_task, base, t, warmup, keep_attempts) for t in todo]
            try:
                seen = set()
                for f in as_completed(futs):
                    finish(f.result())
                    seen.add(id(f))
            except BrokenProcessPool:
                # Keep every run that did finish before the pool broke, whatever order they were reported in.
                for f in futs:
                    if f.done() and not f.cancelled() and f.exception() is None and id(f) not in seen:
                        finish(f.result())
                    f.cancel()
                where = f"; the finished runs are stored in {store}: rerun the same sweep to resume" if store else ""
                raise ResilsimError(f"a sweep worker process died (killed, or out of memory){where}") from None
            except BaseException:
                for f in futs:
                    f.cancel()
                raise
    finally:
        if bar is not None:
            bar.close()
        if owned and ex is not None:
            ex.shutdown(wait=True, cancel_futures=True) if isinstance(ex, ProcessPoolExecutor) else ex.shutdown(wait=False)
        if cleanup:
            cleanup()
        if st is not None:
            st.close()
    if st is not None:
        return st.load()
    rows = [r for t in tasks for r in rows_by_id.get(t["run_id"], [])]
    return _tidy(pd.DataFrame(rows))


def _replications(replications, common_seeds: bool) -> range:
    """The replication numbers to run: ``n`` (an integer ≥ 1) is 0..n−1; a ``range`` adds replications to common seeds."""
    if isinstance(replications, range):
        if not common_seeds:
            raise ScenarioError("a range of replications needs common_seeds=True (the seeds of replication r must not "
                                "depend on how many there are)", path="replications")
        if len(replications) < 1 or replications.start < 0 or replications.step != 1:
            raise ScenarioError(f"must be a non-empty range of replication numbers from 0, got {replications!r}",
                                path="replications")
        return replications
    if isinstance(replications, (bool, np.bool_)) or not isinstance(replications, (int, np.integer)) or replications < 1:
        raise ScenarioError(f"replications must be a whole number of at least 1, got {replications!r}",
                            path="replications")
    return range(int(replications))


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    if "error" in df:
        df["error"] = df["error"].fillna("")
    df["truncated"] = df["truncated"].fillna("") if "truncated" in df else ""
    # ok: ran to the end; truncated: stopped at a scenario limit (partial numbers); failed: raised (see error).
    df["status"] = np.where(df["error"] != "", "failed", np.where(df["truncated"] != "", "truncated", "ok")) \
        if "error" in df else np.where(df["truncated"] != "", "truncated", "ok")
    return df.sort_values(["point", "replication", "strategy"], kind="stable").reset_index(drop=True)


def _bar(total: int, initial: int, progress: bool):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, initial=initial, unit="run", desc="sweep")


# ---------------------------------------------------------------- aggregation

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


METRICS = ["success_rate", "p50_s", "p95_s", "p99_s", "mean_attempts", "amplification", "goodput_rps", "wasted_s"]


def aggregate(df: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Per grid point and strategy: n, and mean, ci_low, ci_high (95%) of every metric.

    Proportions (success rate) get :func:`proportion_interval` (inside [0, 1],
    allowing for requests correlated within a run); other metrics
    :func:`mean_interval`, cut to the range the metric can take. ``few_replications``
    is True where fewer than :data:`FEW_REPLICATIONS` runs stand behind a row's
    intervals. Failed runs and runs truncated at a scenario limit are left out
    (and counted in ``failed_runs`` and ``truncated_runs``): their numbers are
    missing or partial.
    """
    from .metrics import METRICS as VOCABULARY

    if df.empty:
        return df
    params = param_columns(df)
    ok = df[df["error"].fillna("") == ""] if "error" in df else df
    if "truncated" in ok:
        ok = ok[ok["truncated"].fillna("") == ""]
    metrics = metrics or [m for m in METRICS if m in df.columns] + \
        [c for c in ("mser5_warmup_s",) if c in df.columns]
    keys = ["point", *params, "strategy"]
    rows = []
    for k, g in ok.groupby(keys, dropna=False, sort=True):
        row = dict(zip(keys, k if isinstance(k, tuple) else (k,)))
        n = len(g)
        row["n"] = n
        row["few_replications"] = n < FEW_REPLICATIONS
        for m in metrics:
            spec = VOCABULARY.get(m)
            if spec is not None and (spec.low, spec.high) == (0.0, 1.0) and "requests" in g:
                mean, lo, hi = proportion_interval(g[m].to_numpy(float), g["requests"].to_numpy(float))
            else:
                mean, lo, hi = mean_interval(g[m].to_numpy(float), *((spec.low, spec.high) if spec else (None, None)))
            row[m] = mean
            row[f"{m}_ci_low"] = lo
            row[f"{m}_ci_high"] = hi
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
    """The swept-parameter columns of a sweep DataFrame (the dotted keys)."""
    return [c for c in df.columns if "." in c]


def load_sweep(path) -> pd.DataFrame:
    """One tidy DataFrame of every finished run stored in the results directory ``path``."""
    from .store import Store
    return Store(path).load()


# ---------------------------------------------------------------- command line (wired in cli.py)

def add_parsers(sub) -> None:
    """Add the ``sweep`` and ``plan`` subcommands to the CLI's subparsers."""
    from .cli import non_negative_int, positive_int
    sw = sub.add_parser("sweep", help="run a scenario over a grid of parameters, resumably, into --out")
    sw.add_argument("scenario", help="scenario YAML file, or a sweep definition (scenario:, grid:, replications:)")
    sw.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                    help="a swept dotted key and its values, e.g. --grid service.workers=4,8,16 (repeatable)")
    sw.add_argument("--zip", action="store_true", help="zip the grids (point i takes every key's i-th value)")
    sw.add_argument("--sample", action="append", default=[], metavar="KEY=LO:HI",
                    help="sample a dotted key over [LO, HI] instead of a grid (repeatable; ints stay ints)")
    sw.add_argument("--samples", type=positive_int, default=20, help="points drawn with --sample (default 20)")
    sw.add_argument("--method", choices=("latin", "random"), default="latin",
                    help="how --sample draws: Latin hypercube (default) or independent uniform")
    sw.add_argument("--replications", type=positive_int, default=None, help="runs per grid point (default 1, or the file's)")
    sw.add_argument("--workers", type=positive_int, default=None, help="local worker processes (default: every core)")
    sw.add_argument("--dask", metavar="ADDRESS", default=None, help="use the Dask scheduler at ADDRESS ('local' starts one)")
    sw.add_argument("--inprocess", action="store_true", help="run in this process (for debugging)")
    sw.add_argument("--out", required=True, help="results directory (rerun into it to resume)")
    sw.add_argument("--seed", type=non_negative_int, default=None, help="root seed (default 0)")
    sw.add_argument("--warmup", choices=("scenario", "mser5"), default="scenario",
                    help="measure from the scenario's warm-up or the MSER-5 detected one")
    sw.add_argument("--no-progress", action="store_true")

    pl = sub.add_parser("plan", help="least capacity (or most load) meeting an SLO, per strategy")
    pl.add_argument("scenario", help="scenario YAML file")
    pl.add_argument("--vary", required=True, metavar="KEY", help="dotted key to vary, e.g. service.workers")
    pl.add_argument("--over", required=True, metavar="LO,HI", help="range searched, e.g. 1,64 (ints bisect over integers)")
    pl.add_argument("--slo", action="append", required=True, metavar="METRIC<=X",
                    help="e.g. success_rate>=0.999 or p99_s<=2 (repeatable)")
    pl.add_argument("--replications", type=positive_int, default=5)
    pl.add_argument("--direction", choices=("min", "max"), default="min",
                    help="min: least value meeting the SLO (capacity); max: largest (load)")
    pl.add_argument("--seed", type=non_negative_int, default=0)
    pl.add_argument("--workers", type=positive_int, default=None)
    pl.add_argument("--out", default=None, metavar="DIR",
                    help="also write plan.json and scenario.yaml into DIR, for `resilsim report DIR`")


def _values(text: str) -> list:
    import yaml
    out = []
    for raw in text.split(","):
        try:
            out.append(yaml.safe_load(raw) if raw.strip() else raw)
        except yaml.YAMLError:
            out.append(raw)
    return out


def read_definition(path) -> dict | None:
    """A sweep definition file (YAML with ``scenario``, ``grid``, ``replications``, optional ``seed``/``zip``),
    or None when ``path`` is a plain scenario. ``scenario`` is relative to the file."""
    from .scenario import parse_yaml, read_text
    p = Path(path)
    data = parse_yaml(read_text(p), str(p))
    if "grid" not in data or "scenario" not in data:
        return None
    unknown = set(data) - {"scenario", "grid", "replications", "seed", "zip", "description", "overrides"}
    if unknown:
        raise ScenarioError(f"unknown sweep field {sorted(unknown)[0]!r}; allowed: scenario, grid, replications, "
                            "seed, zip, overrides, description", source=str(p))
    if not isinstance(data["grid"], dict):
        raise ScenarioError("must map dotted keys to lists of values", source=str(p), path="grid")
    data["scenario"] = str((p.parent / str(data["scenario"])).resolve()) if not Path(str(data["scenario"])).is_absolute() \
        else str(data["scenario"])
    return data


def cli_sweep(args) -> int:
    """``resilsim sweep``: run, store into --out, print the aggregate."""
    definition = read_definition(args.scenario) or {"scenario": args.scenario, "grid": {}}
    grid = dict(definition.get("grid") or {})
    for g in args.grid:
        if "=" not in g:
            raise ScenarioError(f"--grid {g!r} must look like dotted.key=v1,v2", path="--grid")
        k, v = g.split("=", 1)
        grid[k.strip()] = _values(v)
    if args.sample:
        grid = _sampled_grid(args, grid, args.seed if args.seed is not None else definition.get("seed", 0))
    scenario = load_scenario(Path(definition["scenario"]), overrides=definition.get("overrides") or None)
    executor = "inprocess" if args.inprocess else (args.dask if args.dask not in (None, "local") else
                                                   ("dask" if args.dask == "local" else None))
    df = sweep(scenario, grid, replications=args.replications if args.replications is not None else definition.get("replications", 1),
               seed=args.seed if args.seed is not None else definition.get("seed", 0), executor=executor,
               workers=args.workers, store=args.out, progress=not args.no_progress,
               zipped=args.zip or bool(definition.get("zip")), warmup="mser5" if args.warmup == "mser5" else None)
    agg = aggregate(df)
    failed = df.loc[df["status"] == "failed", "run_id"].nunique() if "status" in df else 0
    cut = df.loc[df["status"] == "truncated", "run_id"].nunique() if "status" in df else 0
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        cols = [c for c in agg.columns if not c.endswith(("_ci_low", "_ci_high")) and c != "point"]
        print(agg[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"{df['run_id'].nunique() if len(df) else 0} runs in {args.out}/ ({failed} failed, {cut} truncated); "
          f"load with resilsim.load_sweep({str(args.out)!r})")
    if failed or cut:
        # Exit status 3: finished, but some results are missing or partial (docs/reliability.md).
        print(f"resilsim: {failed} runs failed and {cut} stopped at a scenario limit; their rows say why "
              f"(status, error, truncated columns); rerun the same command to retry the failed ones",
              file=sys.stderr)
        return 3
    return 0


def _sampled_grid(args, grid: dict, seed: int) -> Grid:
    """The --sample ranges as a Latin-hypercube or random :class:`Grid` (drawn from ``seed``)."""
    if grid:
        raise ScenarioError("give either --grid or --sample, not both", path="--sample")
    ranges = {}
    for text in args.sample:
        key, _, span = text.partition("=")
        bounds = _values(span.replace(":", ","))
        if not key.strip() or len(bounds) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                                                          for b in bounds) or bounds[0] >= bounds[1]:
            raise ScenarioError(f"--sample {text!r} must look like dotted.key=LO:HI with numbers LO < HI",
                                path="--sample")
        ranges[key.strip()] = tuple(bounds)
    make = Grid.latin if args.method == "latin" else Grid.random
    return make(ranges, args.samples, seed=seed)


def cli_plan(args) -> int:
    """``resilsim plan``: bisect, print the answers and the evidence."""
    from .plan import plan
    try:
        lo, hi = (_values(args.over) + [None, None])[:2]
        float(lo), float(hi)
    except (TypeError, ValueError):
        raise ScenarioError(f"--over {args.over!r} must look like LO,HI, e.g. 1,64", path="--over") from None
    scenario = load_scenario(Path(args.scenario))
    p = plan(scenario, vary=args.vary, over=(lo, hi), slo=args.slo,
             replications=args.replications, direction=args.direction, seed=args.seed, workers=args.workers)
    print(p)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(p.evidence.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if getattr(args, "out", None):
        from .report import save_plan
        saved = save_plan(p, args.out, scenario=scenario, seed=args.seed,
                          replications=args.replications)
        print(f"wrote {saved}; `resilsim report {args.out} -o report.html` makes the report")
    return 0
