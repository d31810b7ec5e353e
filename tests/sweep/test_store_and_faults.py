"""Faults during long work: failing runs are recorded and retried, a full disk or unusable directory is one
sentence that keeps finished work, a lost Dask worker's runs are redone elsewhere, two sweeps into one folder
cannot mix, stray and unreadable run files are never aggregated (docs/reliability.md)."""
import errno
import os
import shutil
from concurrent.futures import Executor
from pathlib import Path

import pandas as pd
import pytest
import yaml

from resilsim.cli import main
from resilsim.sweep import aggregate, load_sweep, sweep

from ..conftest import small
from .test_sweep import _frame, fail_at_workers


def scen(**over):
    return small(duration=15, clients={"arrival": {"poisson": {"rate": 50}}, "deadline": 60},
                 strategies={"none": {"retry": "none"}, "imm": {"retry": "immediate"}}, **over)


def _mtimes(out: Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.parquet")}


def test_a_point_invalid_only_there_is_recorded_with_its_seed_and_the_rest_finish(tmp_path, capsys):
    # clients.timeout=90 is longer than the 60 s deadline: valid at the first point, invalid at the second.
    out = tmp_path / "s"
    df = sweep(scen(), {"clients.timeout": [1.0, 90.0]}, replications=2, executor="inprocess", progress=False,
               store=out)
    bad = df[df["status"] == "failed"]
    assert len(bad) == 2 and (bad["clients.timeout"] == 90.0).all()
    assert bad["error"].str.contains("ScenarioError: clients: deadline (60.0 s) is shorter than the attempt timeout",
                                     regex=False).all()
    assert (bad["seed_entropy"] != "").all() and bad["spawn_key"].nunique() == 2
    assert (df.loc[df["status"] == "ok", "clients.timeout"] == 1.0).all() and (df["status"] == "ok").sum() == 4
    assert len(list((out / "failed").glob("*.json"))) == 2
    assert aggregate(df)["failed_runs"].tolist() == [0, 0]
    # Through the CLI: the aggregate, then one sentence about the failed runs, and exit status 3.
    sc = tmp_path / "s.yaml"
    sc.write_text(yaml.safe_dump(scen()))
    rc = main(["sweep", str(sc), "--grid", "clients.timeout=1,90", "--inprocess", "--no-progress",
               "--out", str(tmp_path / "cli")])
    err = capsys.readouterr().err
    assert rc == 3 and err.count("\n") == 1 and "1 runs failed" in err and "rerun" in err


def test_a_rerun_retries_failed_runs_only(tmp_path, monkeypatch):
    import resilsim.sim as sim

    counted = []

    class Bar:  # records what the progress bar is told
        def update(self, n): pass
        def set_postfix(self, **kw): counted.append(kw["failed"])
        def close(self): pass

    import sys
    monkeypatch.setattr(sys.modules["resilsim.sweep.run"], "_bar", lambda total, initial, progress: Bar())
    orig = fail_at_workers(monkeypatch, 3, MemoryError("transient"))
    out = tmp_path / "r"
    df = sweep(scen(), {"service.workers": [2, 3, 4]}, executor="inprocess", store=out)
    assert df.groupby("service.workers")["status"].first().to_dict() == {2: "ok", 3: "failed", 4: "ok"}
    assert counted[-1] == 1, "the progress bar counts the failed run"
    before = _mtimes(out)
    monkeypatch.setattr(sim, "simulate", orig)  # the transient fault is gone
    df = sweep(scen(), {"service.workers": [2, 3, 4]}, executor="inprocess", store=out)
    assert (df["status"] == "ok").all() and df["run_id"].nunique() == 3
    after = _mtimes(out)
    changed = {k for k in after if after[k] != before[k]}
    assert len(changed) == 1, "only the failed run is recomputed"
    assert not list((out / "failed").glob("*.json"))
    assert (load_sweep(out)["status"] == "ok").all()


def test_disk_full_and_unusable_directory_through_the_cli(tmp_path, monkeypatch, capsys):
    from resilsim.sweep import store as st
    sc = tmp_path / "s.yaml"
    sc.write_text(yaml.safe_dump(scen()))
    # Output directory under a regular file (tests run as root, so chmod would not stop a write).
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["sweep", str(sc), "--grid", "service.workers=2", "--inprocess", "--no-progress",
                 "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write sweep results" in err and "Traceback" not in err
    # The disk fills after two runs: one sentence, exit 2, the two finished runs kept, no temp files.
    real, calls = st.atomic_parquet, {"n": 0}

    def filling(path, df):
        if "runs" in path.parts:
            if calls["n"] >= 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            calls["n"] += 1
        return real(path, df)

    monkeypatch.setattr(st, "atomic_parquet", filling)
    out = tmp_path / "full"
    assert main(["sweep", str(sc), "--grid", "service.workers=2,3,4,5", "--inprocess", "--no-progress",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the disk is full" in err and "kept" in err
    assert len(list((out / "runs").glob("*.parquet"))) == 2 and not list(out.rglob("*.tmp"))
    monkeypatch.setattr(st, "atomic_parquet", real)  # space freed: the rerun completes the rest
    assert main(["sweep", str(sc), "--grid", "service.workers=2,3,4,5", "--inprocess", "--no-progress",
                 "--out", str(out)]) == 0
    assert load_sweep(out)["run_id"].nunique() == 4


# ---------------------------------------------------------------- a Dask worker lost mid-sweep

def _die_once_then(marker, fn, *args, **kw):
    """Run ``fn``; but the first process to get point 1 dies abruptly, as if killed (once: marker file)."""
    task = args[1]
    if task["point"] == 1 and task["replication"] == 0:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            os._exit(1)
    return fn(*args, **kw)


class DyingOnce(Executor):
    """Wraps a Dask client's executor: the same runs, one of which kills its worker the first time."""

    def __init__(self, inner, marker):
        self.inner, self.marker = inner, str(marker)

    def submit(self, fn, *args, **kw):
        return self.inner.submit(_die_once_then, self.marker, fn, *args, **kw)

    def shutdown(self, wait=True, **kw):
        pass


def test_dask_worker_lost_mid_sweep_has_its_runs_redone_elsewhere(tmp_path):
    distributed = pytest.importorskip("distributed")
    grid = {"service.workers": [2, 3, 4]}
    ref = sweep(scen(), grid, replications=2, executor="inprocess", progress=False)
    marker = tmp_path / "died"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        df = sweep(scen(), grid, replications=2, executor=DyingOnce(client.get_executor(), marker),
                   progress=False, store=tmp_path / "d")
    assert marker.exists(), "a worker process must have died"
    assert df["run_id"].nunique() == 6 and (df["status"] == "ok").all()
    pd.testing.assert_frame_equal(_frame(ref), _frame(df))


# ---------------------------------------------------------------- sweeps that cannot mix or rot

@pytest.mark.parametrize("second_grid", [[2, 3], [4, 5]], ids=["same-sweep", "other-sweep"])
def test_two_sweeps_started_at_once_into_one_folder_one_is_refused(tmp_path, monkeypatch, second_grid):
    import threading

    import resilsim.sim as sim
    from resilsim.sweep.store import StoreError
    out = tmp_path / "race"
    start, one_ended = threading.Barrier(2), threading.Event()
    real, results = sim.simulate, {}

    def held(scenario, seed=0, **kw):
        one_ended.wait(timeout=5)  # a sweep's runs last until the other sweep has ended (or 5 s)
        return real(scenario, seed, **kw)

    monkeypatch.setattr(sim, "simulate", held)

    def go(name, workers):
        start.wait()
        try:
            results[name] = sweep(scen(), {"service.workers": workers}, executor="inprocess", progress=False,
                                  store=out)
        except StoreError as e:
            results[name] = e
        finally:
            one_ended.set()

    threads = [threading.Thread(target=go, args=("a", [2, 3])), threading.Thread(target=go, args=("b", second_grid))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [k for k, v in results.items() if isinstance(v, StoreError)]
    assert len(refused) == 1, f"exactly one sweep must be refused, got {results}"
    winner = results[({"a", "b"} - set(refused)).pop()]
    msg = str(results[refused[0]])
    assert msg.startswith(f"{out}: ") and "\n" not in msg
    assert "another sweep is writing into this directory" in msg or "different sweep" in msg
    # The store holds the winner's runs only.
    stored = load_sweep(out)
    assert sorted(stored["run_id"].unique()) == sorted(winner["run_id"].unique())
    assert len(list((out / "runs").glob("*.parquet"))) == 2


LOCK_HOLDER = """
import sys
sys.path.insert(0, {root!r})
from resilsim.scenario import load_scenario
from resilsim.sweep import as_grid
from resilsim.sweep.run import _base
from resilsim.sweep.store import Store
s = load_scenario({sc!r})
g = as_grid({{"service.workers": [2]}})
Store({out!r}).open({{"scenario": _base(s), "grid": {{"kind": g.kind, "spec": g.spec, "points": g.points}},
                      "replications": 1, "seed": 0, "warmup": None}})
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_sweep_running_in_another_process_refuses_a_second_and_its_death_frees_the_folder(tmp_path, capsys):
    import subprocess
    import sys

    out = tmp_path / "held"
    sc = tmp_path / "s.yaml"
    sc.write_text(yaml.safe_dump(scen()))
    root = str(Path(__file__).resolve().parents[2])
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER.format(root=root, out=str(out), sc=str(sc))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["sweep", str(sc), "--grid", "service.workers=2", "--inprocess", "--no-progress",
                     "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err == (f"resilsim: {out}: another sweep is writing into this directory (started at the same time, "
                       "or still running); wait for it to end, or use another --out directory\n")
        assert not list((out / "runs").glob("*.parquet"))
    finally:
        holder.kill()  # as if the holding sweep were killed: the kernel drops its lock
        holder.wait()
    # The same sweep resumes into the folder the killed one created.
    assert main(["sweep", str(sc), "--grid", "service.workers=2", "--inprocess", "--no-progress",
                 "--out", str(out)]) == 0
    assert load_sweep(out)["run_id"].nunique() == 1


def test_a_run_file_copied_from_another_sweep_is_left_out_and_reported(tmp_path):
    from resilsim.sweep.store import StoreWarning
    a, b = tmp_path / "a", tmp_path / "b"
    mine = sweep(scen(), {"service.workers": [2]}, replications=3, executor="inprocess", progress=False, store=a)
    other = sweep(small(duration=15, strategies={"other": {"retry": "none"}}), {"service.workers": [2]}, replications=1,
                  executor="inprocess", progress=False, store=b)
    stray = next((b / "runs").glob("*.parquet"))
    shutil.copy(stray, a / "runs" / stray.name)
    with pytest.warns(StoreWarning) as w:
        df = load_sweep(a)
    assert [str(x.message) for x in w] == [f"{a / 'runs'}: 1 run files that this sweep's manifest does not "
                                           "define (copied from another sweep?) were left out"]
    pd.testing.assert_frame_equal(df, mine)
    agg = aggregate(df)
    assert set(agg["strategy"]) == {"none", "imm"} and (agg["n"] == 3).all()
    assert other["run_id"].iloc[0] not in set(df["run_id"])
    (a / "runs" / stray.name).unlink()
    # Copied under the name of one of this sweep's runs, it is not that run: left out, and run again on resume.
    victim = a / "runs" / f"{mine['run_id'].iloc[0]}.parquet"
    shutil.copy(stray, victim)
    with pytest.warns(StoreWarning, match="1 unreadable run files were left out"):
        assert load_sweep(a)["run_id"].nunique() == 2
    with pytest.warns(StoreWarning, match="1 unreadable run files in .* will be run again"):
        again = sweep(scen(), {"service.workers": [2]}, replications=3, executor="inprocess", progress=False, store=a)
    pd.testing.assert_frame_equal(_frame(again), _frame(mine))


def test_cut_or_empty_run_files_are_run_again_on_resume(tmp_path, capsys):
    sc = tmp_path / "s.yaml"
    sc.write_text(yaml.safe_dump(scen()))
    out = tmp_path / "rot"
    argv = ["sweep", str(sc), "--grid", "service.workers=2,3,4", "--inprocess", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    ref = load_sweep(out)
    files = sorted((out / "runs").glob("*.parquet"))
    cut, empty, kept = files
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    empty.write_bytes(b"")
    before = kept.stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err == f"resilsim: 2 unreadable run files in {out / 'runs'} will be run again\n"
    assert kept.stat().st_mtime_ns == before, "a readable run was recomputed"
    pd.testing.assert_frame_equal(_frame(load_sweep(out)), _frame(ref))


def test_a_manifest_that_is_not_a_sweeps_is_one_sentence(tmp_path, capsys):
    from resilsim.sweep.store import StoreError
    out = tmp_path / "m"
    (out / "runs").mkdir(parents=True)
    for text in ("[]", '{"scenario": {}}'):
        (out / "manifest.json").write_text(text)
        with pytest.raises(StoreError) as e:
            load_sweep(out)
        assert str(e.value) == (f"{out / 'manifest.json'}: not a sweep manifest (a JSON object with scenario, grid, "
                                "replications and seed, as `resilsim sweep` writes)")
        assert main(["report", str(out), "-o", str(tmp_path / "r.html")]) == 2
        assert capsys.readouterr().err == f"resilsim: {e.value}\n"


def test_a_store_of_common_seeds_reads_back_every_run(tmp_path):
    # The manifest says common_seeds; the run ids it defines must be the ones the sweep wrote.
    from resilsim import load_sweep, sweep
    from ..conftest import small
    df = sweep(small(duration=10), {"service.workers": [2, 4]}, replications=2, executor="inprocess",
               progress=False, store=tmp_path / "s", common_seeds=True)
    back = load_sweep(tmp_path / "s")
    assert len(back) == len(df) == 4 and set(back["run_id"]) == set(df["run_id"])
    # Replication r has the same seed at both points.
    assert back.groupby("replication")["spawn_key"].nunique().eq(1).all()


def _general_load(out: Path) -> pd.DataFrame:
    # The general form of Store.load: every run file read back by pandas on its own, then concatenated.
    from resilsim.sweep.tasks import tidy
    frames = [pd.read_parquet(p) for p in sorted((out / "runs").glob("*.parquet"))]
    return tidy(pd.concat(frames, ignore_index=True))


@pytest.mark.parametrize("timeouts", [[1.0, 2.0], [1.0, 90.0]], ids=["one-schema", "failed-runs-mixed-schemas"])
def test_loading_a_store_equals_reading_every_run_file_with_pandas(tmp_path, timeouts):
    # Twin test of the fast paths of Store.load: the tables held from this sweep's writes (not read back) and
    # one Arrow concat when the files share a schema, against pd.read_parquet of each file and pd.concat.
    out = tmp_path / "s"
    df = sweep(scen(), {"clients.timeout": timeouts}, replications=2, executor="inprocess", progress=False,
               store=out)
    assert (df["status"] == "failed").any() == (90.0 in timeouts)
    general = _general_load(out)
    pd.testing.assert_frame_equal(df, general, check_exact=True)
    pd.testing.assert_frame_equal(load_sweep(out), general, check_exact=True)  # a fresh Store: read from disk


def test_a_run_file_written_from_its_arrow_table_has_pandas_bytes(tmp_path):
    # Store.write writes the table it keeps for load(); the file is the one DataFrame.to_parquet wrote before.
    from resilsim.files import atomic_parquet
    from resilsim.sweep.store import _table
    out = tmp_path / "s"
    sweep(scen(), {"clients.timeout": [1.0, 90.0]}, executor="inprocess", progress=False, store=out)
    files = sorted((out / "runs").glob("*.parquet"))
    assert len(files) == 2
    for p in files:
        rows = pd.DataFrame(pd.read_parquet(p).to_dict("records"))
        atomic_parquet(tmp_path / "pandas.parquet", rows)
        atomic_parquet(tmp_path / "arrow.parquet", _table(rows))
        assert (tmp_path / "pandas.parquet").read_bytes() == (tmp_path / "arrow.parquet").read_bytes()
