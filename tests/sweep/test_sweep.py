"""Sweeps: executors agree, the store resumes after a kill, failures are recorded, CIs are right."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import resilsim
from resilsim.errors import ResilsimError, ScenarioError
from resilsim.sweep.store import StoreError
from resilsim.sweep import Grid, aggregate, load_sweep, mser5, sweep, t975

from ..conftest import small

GRID = {"service.workers": [2, 4], "clients.arrival.poisson.rate": [20.0, 30.0]}


def scen(**over):
    return small(duration=15, strategies={"none": {"retry": "none"}, "imm": {"retry": "immediate"}}, **over)


def _frame(df):
    # wall_s is the only column allowed to differ between executors.
    return df.drop(columns=["wall_s"]).sort_values(["run_id", "strategy"]).reset_index(drop=True)


def fail_at_workers(monkeypatch, workers: int, exc: Exception):
    """Make the simulation raise ``exc`` at grid points with ``workers`` workers; return the real simulate."""
    import resilsim.sim as sim

    orig = sim.simulate

    def flaky(scenario, seed=0, **kw):
        if scenario.service.workers == workers:
            raise exc
        return orig(scenario, seed, **kw)

    monkeypatch.setattr(sim, "simulate", flaky)
    return orig


def test_grids():
    assert len(Grid.product({"a.b": [1, 2], "c.d": [3, 4, 5]}).points) == 6
    assert Grid.zip({"a.b": [1, 2], "c.d": [3, 4]}).points == [{"a.b": 1, "c.d": 3}, {"a.b": 2, "c.d": 4}]
    with pytest.raises(ScenarioError):
        Grid.zip({"a.b": [1, 2], "c.d": [3]})
    lh = Grid.latin({"x.y": (0.0, 1.0)}, n=10, seed=1).points
    # Latin hypercube: exactly one point in each tenth of the range.
    assert sorted(int(p["x.y"] * 10) for p in lh) == list(range(10))
    r = Grid.random({"x.y": (2, 5)}, n=50).points
    assert all(isinstance(p["x.y"], int) and 2 <= p["x.y"] <= 5 for p in r)


def test_t_quantile():
    assert t975(1) == pytest.approx(12.706, abs=1e-3)
    assert t975(40) == pytest.approx(2.021, abs=2e-3)
    assert t975(1000) == pytest.approx(1.962, abs=2e-3)


def test_executors_agree_and_seeds_are_common(tmp_path):
    a = sweep(scen(), GRID, replications=2, executor="inprocess", progress=False, store=tmp_path / "a")
    with ProcessPoolExecutor(2) as ex:
        b = sweep(scen(), GRID, replications=2, executor=ex, progress=False, store=tmp_path / "b")
    pd.testing.assert_frame_equal(_frame(a), _frame(b))
    assert len(a) == 4 * 2 * 2 and (a["error"] == "").all()
    # Every strategy of a (point, replication) shares its seed; different replications differ.
    per_run = a.groupby("run_id")["spawn_key"].nunique()
    assert (per_run == 1).all() and a["spawn_key"].nunique() == 8
    # A run id depends on the definition only: same inputs, same id.
    assert a["run_id"].nunique() == 8
    assert set(a["service.workers"]) == {2, 4}


def test_chunks_cover_every_task_once_in_order():
    from resilsim.sweep.run import chunks

    for n, workers in ((0, 2), (1, 2), (7, 2), (24, 2), (100, 3), (5, 16)):
        tasks = list(range(n))
        cut = chunks(tasks, workers, most=8)
        assert [t for c in cut for t in c] == tasks and all(1 <= len(c) <= 8 for c in cut)
        if n >= 8 * workers:
            assert len(cut) >= 2 * workers, "workers that finish early must find chunks left"
        sizes = [len(c) for c in cut]
        assert sizes == sorted(sizes, reverse=True), "chunks shrink as the sweep goes on"
        if n:
            assert sizes[-min(n, workers):] == [1] * min(n, workers), "the workers end on single runs, together"


@pytest.mark.parametrize("most", [1, 3, 8])
def test_local_workers_give_the_same_rows_whatever_the_chunking(tmp_path, monkeypatch, most):
    from resilsim.sweep import run

    ref = sweep(scen(), GRID, replications=2, executor="inprocess", progress=False, keep_attempts=True,
                store=tmp_path / "a")
    monkeypatch.setattr(run, "CHUNK_MOST", most)
    got = sweep(scen(), GRID, replications=2, workers=2, progress=False, keep_attempts=True, store=tmp_path / "b")
    pd.testing.assert_frame_equal(_frame(ref), _frame(got))
    for kind in ("attempts", "timelines"):
        a, b = (sorted((t / kind).glob("*.parquet")) for t in (tmp_path / "a", tmp_path / "b"))
        assert [p.name for p in a] == [p.name for p in b] and a
        for pa, pb in zip(a, b):
            pd.testing.assert_frame_equal(pd.read_parquet(pa), pd.read_parquet(pb))


def test_dask_local_cluster_agrees(tmp_path):
    distributed = pytest.importorskip("distributed")
    a = sweep(scen(), {"service.workers": [2, 4]}, replications=2, executor="inprocess", progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        b = sweep(scen(), {"service.workers": [2, 4]}, replications=2, executor=client, progress=False,
                  store=tmp_path / "d")
    pd.testing.assert_frame_equal(_frame(a), _frame(b))


def test_resume_skips_finished_and_refuses_changed_definition(tmp_path):
    out = tmp_path / "r"
    sweep(scen(), {"service.workers": [2]}, replications=3, executor="inprocess", progress=False, store=out)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    # The same definition again: nothing recomputed.
    sweep(scen(), {"service.workers": [2]}, replications=3, executor="inprocess", progress=False, store=out)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()} == mtimes
    with pytest.raises(StoreError, match="different sweep"):
        sweep(scen(), {"service.workers": [2, 4]}, replications=3, executor="inprocess", progress=False, store=out)
    assert len(load_sweep(out)) == 3 * 2


KILL_SCRIPT = textwrap.dedent("""
    import sys, resilsim
    from resilsim.sweep import sweep
    sys.path.insert(0, {root!r})
    from tests.conftest import small
    s = small(duration=15, strategies={{"none": {{"retry": "none"}}}})
    sweep(s, {{"service.workers": [2, 3, 4, 5, 6, 7, 8, 9]}}, replications=6, executor="inprocess",
          progress=False, store={out!r})
""")


def test_killed_sweep_resumes_without_recomputing(tmp_path):
    out = tmp_path / "k"
    root = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(root=root, out=str(out)))
    proc = subprocess.Popen([sys.executable, str(script)])
    runs = out / "runs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not runs.exists() or len(list(runs.glob("*.parquet"))) < 5):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.parquet")}
    assert 5 <= len(before) < 48, "the sweep should have been killed part way"
    s = small(duration=15, strategies={"none": {"retry": "none"}})
    df = sweep(s, {"service.workers": [2, 3, 4, 5, 6, 7, 8, 9]}, replications=6, executor="inprocess",
               progress=False, store=out)
    after = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.parquet")}
    assert len(after) == 48 and len(df) == 48 and df["run_id"].nunique() == 48
    assert all(after[k] == v for k, v in before.items()), "a finished run was recomputed"
    # Same numbers as an uninterrupted sweep.
    full = sweep(s, {"service.workers": [2, 3, 4, 5, 6, 7, 8, 9]}, replications=6, executor="inprocess",
                 progress=False)
    pd.testing.assert_frame_equal(_frame(df), _frame(full))


def test_failing_run_recorded_and_others_continue(tmp_path, monkeypatch):
    # One grid point raises inside the simulation; its runs become error rows, the rest finish.
    fail_at_workers(monkeypatch, 3, RuntimeError("boom at three workers"))
    df = sweep(scen(), {"service.workers": [2, 3, 4]}, replications=2, executor="inprocess", progress=False,
               store=tmp_path / "f")
    bad = df[df["error"] != ""]
    assert len(bad) == 2 and bad["error"].str.contains("boom at three workers").all()
    assert (bad["spawn_key"] != "").all() and (bad["service.workers"] == 3).all()
    assert len(df[df["error"] == ""]) == 2 * 2 * 2
    agg = aggregate(df)
    assert set(agg["service.workers"]) == {2, 4} and (agg["failed_runs"] == 0).all()


def test_bad_grid_key_and_unwritable_dir(tmp_path):
    with pytest.raises(ScenarioError, match="service.wrokers"):
        sweep(scen(), {"service.wrokers": [2]}, executor="inprocess", progress=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot write sweep results"):
        sweep(scen(), {"service.workers": [2]}, executor="inprocess", progress=False, store=blocker / "x")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: directory permissions are not enforced")
        with pytest.raises(StoreError, match="not writable"):
            sweep(scen(), {"service.workers": [2]}, executor="inprocess", progress=False, store=ro / "x")
    finally:
        ro.chmod(0o700)


def test_aggregate_ci_matches_hand_computation():
    df = pd.DataFrame({"point": 0, "x.y": 1, "strategy": "s", "error": "",
                       "p99_s": [0.9, 0.95, 1.0, 0.85]})
    agg = aggregate(df, metrics=["p99_s"])
    x = np.array([0.9, 0.95, 1.0, 0.85])
    half = 3.182 * x.std(ddof=1) / 2
    assert agg["p99_s"].iloc[0] == pytest.approx(x.mean())
    assert agg["p99_s_ci_low"].iloc[0] == pytest.approx(x.mean() - half)
    assert agg["p99_s_ci_high"].iloc[0] == pytest.approx(x.mean() + half)
    assert bool(agg["few_replications"].iloc[0])


def test_mser5_finds_a_transient():
    t = np.arange(200.0)
    x = np.where(t < 40, 100 - 2.5 * t, 0.0) + np.random.default_rng(0).normal(0, 1, 200)
    d = mser5(pd.DataFrame({"strategy": "s", "time": t, "queue_length": x}))["s"]
    # The transient is 40 s long; MSER-5 truncates in 5-s batches, so within one batch of it.
    assert 35 <= d <= 50


def test_cli_sweep_and_plan(tmp_path, capsys):
    from resilsim.cli import main
    import yaml
    sc = tmp_path / "s.yaml"
    sc.write_text(yaml.safe_dump(scen()))
    out = tmp_path / "o"
    rc = main(["sweep", str(sc), "--grid", "service.workers=2,4", "--replications", "2", "--inprocess",
               "--out", str(out), "--no-progress"])
    assert rc == 0 and len(load_sweep(out)) == 2 * 2 * 2
    assert main(["sweep", str(sc), "--grid", "service.wrokers=2,4", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "'service.wrokers' is not a field of the scenario" in err and "Traceback" not in err
    # A changed definition into the same directory: one sentence, exit 2.
    assert main(["sweep", str(sc), "--grid", "service.workers=2,8", "--inprocess", "--out", str(out),
                 "--no-progress"]) == 2
    assert "different sweep" in capsys.readouterr().err


def test_capacity_sweep_definition_loads():
    from resilsim.cli import read_definition
    from resilsim.sweep import as_grid, check_grid
    from resilsim.sweep.run import _base
    d = read_definition(Path(__file__).resolve().parents[2] / "scenarios" / "sweeps" / "capacity.yaml")
    s = resilsim.load_scenario(Path(d["scenario"]), overrides=d["overrides"])
    check_grid(_base(s), as_grid(d["grid"]))
    assert len(as_grid(d["grid"]).points) * d["replications"] <= 30, "keep the default sweep small"


def test_disk_full_is_one_sentence_and_keeps_finished_runs(tmp_path, monkeypatch):
    import errno
    from resilsim.sweep import store as st
    out = tmp_path / "full"
    calls = {"n": 0}
    real = st.atomic_parquet

    def filling(path, df):
        if "runs" in path.parts and calls["n"] >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        if "runs" in path.parts:
            calls["n"] += 1
        return real(path, df)

    monkeypatch.setattr(st, "atomic_parquet", filling)
    with pytest.raises(StoreError, match="the disk is full.*kept"):
        sweep(scen(), {"service.workers": [2, 3, 4]}, executor="inprocess", progress=False, store=out)
    assert len(list((out / "runs").glob("*.parquet"))) == 2
    assert not list(out.rglob("*.tmp")), "a failed write must not leave temp files"


def _die_at_three(scenario, seed=0, **kw):
    import resilsim.sim.run as run
    if scenario.service.workers == 3:
        os._exit(9)  # the worker process dies abruptly, as if killed
    return run.simulate(scenario, seed, **kw)


def test_dead_worker_process_is_one_sentence_then_resume(tmp_path):
    out = tmp_path / "w"
    # The worker dies only on point 3; the pool breaks, finished runs stay, a rerun without the fault completes.
    import multiprocessing as mp
    ctx = mp.get_context("fork")

    def init():
        import resilsim.sim as sim
        sim.simulate = _die_at_three

    with ProcessPoolExecutor(1, mp_context=ctx, initializer=init) as ex:
        with pytest.raises(ResilsimError, match="worker process died.*rerun"):
            sweep(scen(), {"service.workers": [2, 3, 4]}, executor=ex, progress=False, store=out)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.parquet")}
    assert len(before) >= 1, "the run finished before the worker died must be stored"
    df = sweep(scen(), {"service.workers": [2, 3, 4]}, executor="inprocess", progress=False, store=out)
    assert df["run_id"].nunique() == 3 and (df["error"] == "").all()
    after = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.parquet")}
    assert all(after[k] == v for k, v in before.items())


def test_cli_sampled_sweep_draws_a_latin_hypercube(tmp_path, capsys):
    from resilsim.cli import main
    import yaml
    sc = tmp_path / "s.yaml"
    sc.write_text(yaml.safe_dump(scen()))
    out = tmp_path / "o"
    rc = main(["sweep", str(sc), "--sample", "service.workers=2:9", "--samples", "4", "--inprocess",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    df = load_sweep(out)
    workers = sorted(df.drop_duplicates("run_id")["service.workers"])
    # Latin hypercube over the 8 integers 2..9 in 4 strata: one value in each of {2,3},{4,5},{6,7},{8,9}.
    assert [(w - 2) // 2 for w in workers] == [0, 1, 2, 3]
    for bad in (["--sample", "service.workers=9:2"], ["--sample", "service.workers=a:b"],
                ["--sample", "service.workers=2:9", "--grid", "service.workers=1,2"],
                ["--sample", "service.workers=2:9", "--samples", "0"]):
        assert main(["sweep", str(sc), *bad, "--inprocess", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and "--sample" in err
