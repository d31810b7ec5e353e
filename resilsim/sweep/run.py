"""Running a sweep: the worker each run goes to, the executors, and :func:`sweep` itself.

Seeds: one root ``SeedSequence(seed)``; each (grid point, replication) gets
its own spawned child (or, with ``common_seeds``, replication *r* the same
child at every point), shared by every strategy of the run (common random
numbers). A run's numbers depend only on its scenario and seed, never on the
executor, the order or the number of workers.
"""
from __future__ import annotations

import math
import os
import time
import traceback
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pandas as pd

from ..errors import ResilsimError, ScenarioError
from ..scenario import Scenario, given_fields, load_scenario
from ..sim.limits import check_budget
from ..sim.workers import THREAD_VARS, init_worker, pool_size  # the package's pool pattern
from .grid import as_grid, check_grid, check_size
from .stats import mser5
from .tasks import canon, make_tasks, tidy

#: The most runs sent to a local worker in one call (:func:`chunks`): a progress bar and a resumable store
#: hear of a chunk's runs when the whole chunk is done, so chunks stay short.
CHUNK_MOST = 8


# ---------------------------------------------------------------- the worker (module level: it pickles)

def run_task(base: dict, task: dict, warmup: str | None = None, keep_attempts: bool = False,
             strategies: dict | None = None, window=None) -> dict:
    """Simulate one run of a sweep; return compact rows (never raises: a failure becomes an error row).

    ``strategies``: the strategies to run instead of the scenario's (as :func:`resilsim.simulate` takes them).
    ``window``: what each row's metrics measure (see :func:`resilsim.result.window_of`); its
    ``window`` column says which, in words.

    Returns ``{"rows": [...], "timeline": DataFrame|None, "attempts": DataFrame|None}``.
    """
    for v in THREAD_VARS:
        os.environ.setdefault(v, "1")
    from ..sim import simulate

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
        # A window other than the run's needs the rows too: summary-only counts window only to bin resolution.
        raw = keep_attempts or warmup == "mser5" or window not in (None, "run")
        result = simulate(scenario, seed=ss, record="full" if raw else "summary", strategies=strategies)
        summary = result.summary(window=window)
        mser = mser5(result.timeline, scenario)
        measured = result
        if warmup == "mser5":
            # Re-measure from the detected truncation point (the later of it and the scenario's warm-up).
            measured = _measured_from(result, max(mser.values(), default=0.0))
            summary = measured.summary()
        layers = _service_columns(measured, None if warmup == "mser5" else window)
        rows = []
        guard_stats = result.guard_stats()
        for rec in summary.reset_index().to_dict("records"):
            name = rec.pop("strategy")
            row = dict(common)
            row["strategy"] = name
            row["window"] = summary.attrs["window"]
            row.update({k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()})
            row.update(layers.get(name, {}))  # svc.NAME.METRIC: only with services
            row["strategy_params"] = canon(result.strategies.get(name, {}))
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
    except MemoryError:
        # The run's tables are let go with this frame before anything else is made; no traceback text.
        return _failed(common, t0, "MemoryError: the run ran out of memory (lower limits.max_memory_mb, "
                                   "shorten the run or use fewer workers)", "")
    except Exception as e:  # noqa: BLE001 - one failing grid point must not stop the sweep
        return _failed(common, t0, f"{type(e).__name__}: {e}", traceback.format_exc(limit=5))


def _failed(common: dict, t0: float, error: str, trace: str) -> dict:
    """The one row of a run that raised: its parameters, ``error`` and ``traceback`` texts."""
    row = dict(common)
    row["strategy"] = ""
    row["wall_s"] = time.perf_counter() - t0
    row["error"] = error
    row["traceback"] = trace
    return {"rows": [row], "timeline": None, "attempts": None}


def run_chunk(base: dict, tasks: list[dict], warmup: str | None = None, keep_attempts: bool = False,
              strategies: dict | None = None, window=None) -> list[dict]:
    """:func:`run_task` for each of ``tasks`` in turn, in one worker call; the outputs in the same order.

    A pool's per-call cost (pickling the scenario and the answer, waking a worker) is paid once per chunk
    rather than once per run, which matters for runs of a fraction of a second.
    """
    return [run_task(base, t, warmup, keep_attempts, strategies, window) for t in tasks]


def chunks(tasks: list, workers: int, most: int | None = None) -> list[list]:
    """``tasks`` cut into consecutive chunks for ``workers`` workers, shrinking as the sweep goes on (guided
    scheduling): each chunk is about a third of each worker's share of the tasks still unassigned, at most ``most``
    tasks (default :data:`CHUNK_MOST`), and the last ones a single task.

    Why shrinking: the workers take chunks in turn as they finish, so they end together to within the last chunk's
    length. Equal chunks of 3 runs of ~0.25 s left one of two workers idle for up to 0.75 s at the end of a 3 s
    sweep (the runs of a sweep differ in length); single-run chunks at the end bound that to one run. The large
    chunks first keep the pool's per-call cost (pickling the scenario, waking a worker; about a millisecond) paid
    on few calls.
    """
    most = CHUNK_MOST if most is None else most
    share = 3 * max(workers, 1)
    out, i = [], 0
    while i < len(tasks):
        size = max(1, min(most, -(-(len(tasks) - i) // share)))  # ceil(remaining / share)
        out.append(tasks[i:i + size])
        i += size
    return out


def _measured_from(result, start: float):
    """``result`` measured from ``start`` seconds (or its warm-up, the later): a shallow copy with that warm-up."""
    import copy
    res = copy.copy(result)
    res.scenario = result.scenario.model_copy(update={"warmup": max(result.scenario.warmup, float(start))})
    return res


def _service_columns(result, window) -> dict:
    """Per strategy, the sweep columns of the services behind the API (``svc.NAME.METRIC``, see
    :data:`resilsim.metrics.SERVICE_METRICS`) over ``window``; empty without services."""
    from ..metrics import SERVICE_METRICS, service_column
    if not result.scenario.services:
        return {}
    out: dict = {}
    for rec in result.services(window=window).to_dict("records"):
        if rec["service"] == "api":
            continue
        cols = out.setdefault(rec["strategy"], {})
        for m in SERVICE_METRICS:
            v = rec[m]
            cols[service_column(rec["service"], m)] = v.item() if isinstance(v, np.generic) else v
    return out


def _downsample(tl: pd.DataFrame, max_bins: int = 600) -> pd.DataFrame | None:
    if tl is None or tl.empty:
        return None
    n = tl.groupby("strategy", observed=True).size().max()
    if n <= max_bins:
        return tl
    step = int(math.ceil(n / max_bins))
    return tl.groupby("strategy", observed=True, group_keys=False).apply(lambda g: g.iloc[::step])


# ---------------------------------------------------------------- executors

def _make_executor(executor, workers, tasks: int, force_workers: bool = False):
    """(executor, owned, cleanup) for the ``executor`` argument; a local pool gets :func:`pool_size` processes."""
    if executor is None or executor == "local":
        n = pool_size(workers, tasks, force_workers)
        from .. import sim  # noqa: F401 - imported before the pool starts, so that forked workers start with it
        return ProcessPoolExecutor(max_workers=n, initializer=init_worker), True, None
    if executor == "inprocess":
        return None, False, None
    if isinstance(executor, Executor):
        return executor, False, None
    try:
        import distributed
    except ImportError:  # pragma: no cover - optional extra
        raise ResilsimError(f"executor {executor!r} needs Dask: pip install \"resilsim[dask]\"") from None
    if executor == "dask":
        cluster = distributed.LocalCluster(n_workers=pool_size(workers, tasks, force_workers), threads_per_worker=1,
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


def _base(scenario) -> dict:
    s = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    return given_fields(s)


def sweep(scenario, grid=None, replications: int = 1, seed: int = 0, executor=None, workers: int | None = None,
          store=None, progress: bool = True, keep_attempts: bool = False, zipped: bool = False,
          warmup: str | None = None, common_seeds: bool = False, strategies: dict | None = None,
          force_workers: bool = False, window=None) -> pd.DataFrame:
    """Run ``scenario`` at every grid point × replication; return a tidy DataFrame.

    One row per run × strategy: the swept parameters, ``replication``,
    ``seed_entropy``/``spawn_key``, ``run_id``, the summary metrics of
    :meth:`Result.summary`, ``strategy_params``, ``mser5_warmup_s``, ``wall_s``
    (seconds) and ``error`` ("" when the run succeeded).
    ``executor``: None/"local" (process pool, ``workers`` or every core, at most one per run and, unless
    ``force_workers``, one per core),
    "inprocess", "dask" (a LocalCluster), a scheduler address, a
    ``distributed.Client`` or any ``concurrent.futures.Executor``.
    ``store``: a results directory, locked while the sweep runs (a second sweep into it meanwhile is
    refused); finished runs are skipped on rerun, unreadable run files are run again.
    ``warmup="mser5"`` measures from the detected warm-up instead of the scenario's.
    ``common_seeds=True`` runs replication *r* of every grid point on the same
    seed (common random numbers across points); by default each point has
    its own seeds. The strategies of one run always share their seed.
    ``strategies``: a dict of name → :class:`resilsim.policies.build.Strategy` (or spec) run instead of
    the scenario's, as :func:`resilsim.simulate` takes it; each is sent to the workers, so a piece that
    cannot be pickled is refused before any run starts (:class:`~resilsim.errors.PolicyError`).
    ``window`` is what every run's metrics measure: the run after the warm-up
    (default), ``"incident:NAME"``, ``"incident:all"`` or ``(start, end)``
    seconds (see :func:`resilsim.result.window_of`); the rows' ``window``
    column says which, in words.
    """
    from ..result import window_of
    from .store import Store

    s = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    base = _base(s)
    if window is not None:
        window_of(s, window)  # bad windows fail here, in one sentence, not in every run
        if warmup == "mser5":
            raise ScenarioError("give a window or the MSER-5 warm-up, not both", path="window")
        window = window if isinstance(window, str) else [float(v) for v in window]
    g = as_grid(grid, zipped)
    check_grid(base, g)
    # A run beyond its memory limit is refused by simulate; refused here first, the sweep does not start.
    check_budget(load_scenario(base, overrides=g.points[0]) if g.points else load_scenario(base),
                 "full" if keep_attempts or warmup == "mser5" else "summary")
    reps = _replications(replications, common_seeds)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ScenarioError(f"must be a non-negative integer, got {seed!r}", path="seed")
    if workers is not None and (not isinstance(workers, (int, np.integer)) or workers < 1):
        raise ScenarioError(f"must be a positive integer, got {workers!r}", path="workers")
    check_size(len(g.points), reps.stop)  # before any task is made
    tasks = make_tasks(base, g, reps, int(seed), common_seeds, window)
    described = _check_strategies(base, strategies, executor)
    st = None
    if store is not None:
        st = Store(store)
        # Locks the directory until st.close(): a second sweep into it meanwhile is refused.
        st.open({"scenario": base, "grid": {"kind": g.kind, "spec": g.spec, "points": g.points},
                 "replications": len(reps) if reps.start == 0 else [reps.start, reps.stop],
                 "seed": int(seed), "warmup": warmup,
                 **({"common_seeds": True} if common_seeds else {}),
                 **({"strategies": described} if described is not None else {}),
                 **({"window": window} if window is not None else {})})
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
        ex, owned, cleanup = _make_executor(executor, workers, len(todo), force_workers) if todo else (None, False, None)
        if ex is None:
            for t in todo:
                finish(run_task(base, t, warmup, keep_attempts, strategies, window))
        else:
            chunked = isinstance(ex, ProcessPoolExecutor)  # local workers; Dask schedules each run itself
            if chunked:
                futs = [ex.submit(run_chunk, base, c, warmup, keep_attempts, strategies, window)
                        for c in chunks(todo, pool_size(workers, len(todo), force_workers))]
            else:
                futs = [ex.submit(run_task, base, t, warmup, keep_attempts, strategies, window) for t in todo]

            def outputs(f):
                return f.result() if chunked else [f.result()]
            try:
                seen = set()
                for f in as_completed(futs):
                    for out in outputs(f):
                        finish(out)
                    seen.add(id(f))
            except BrokenProcessPool:
                # Keep every run that did finish before the pool broke, whatever order they were reported in.
                for f in futs:
                    if f.done() and not f.cancelled() and f.exception() is None and id(f) not in seen:
                        for out in outputs(f):
                            finish(out)
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
    return tidy(pd.DataFrame(rows))


def _check_strategies(base: dict, strategies: dict | None, executor) -> dict | None:
    """Check a sweep's own ``strategies`` before any run: protocols, and that they reach ``executor``'s workers.

    Returns each one's parameters (for the store's manifest), or None without ``strategies``.
    """
    if strategies is None:
        return None
    import pickle

    from ..policies.build import Strategy
    from ..policies.protocols import check_picklable
    from ..sim.run import resolve_strategies
    built = resolve_strategies(load_scenario(base), strategies)  # PolicyError on a broken protocol
    if executor is None or executor == "local" or isinstance(executor, ProcessPoolExecutor):
        dumps = pickle.dumps
    elif executor == "inprocess" or isinstance(executor, Executor):
        dumps = None  # nothing is pickled in process; another executor's way of sending is its own
    else:
        try:
            from cloudpickle import dumps  # how Dask sends tasks
        except ImportError:  # pragma: no cover - Dask missing: _make_executor says so
            dumps = None
    if dumps is not None:
        for name, st in strategies.items():
            if isinstance(st, Strategy):
                check_picklable(built[str(name)], dumps)
    return {name: canon(st.describe()) for name, st in built.items()}


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


def _bar(total: int, initial: int, progress: bool):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, initial=initial, unit="run", desc="sweep")
