"""simulate(processes=N): strategies in worker processes give the serial run's tables, byte for byte."""
import io
import multiprocessing
import os
import time

import numpy as np
import pytest

from resilsim import simulate
from resilsim.errors import PolicyError
from resilsim.sim import workers
from resilsim.sim import run as sim_run
from tests.conftest import small, wait_within

needs_fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")

#: Three strategies that send different numbers of attempts (so a mixed-up stream or order shows), with a guard.
SCENARIO = small(
    duration=40, warmup=5,
    service={"workers": 4, "queue": {"limit": 20, "timeout": 2},
             "operations": {"query_metrics": {"latency": {"exponential": {"mean": 0.08}}}}},
    faults={"background": {"ANALYTICS_2000": 0.05}},
    clients={"arrival": {"poisson": {"rate": 60}}, "timeout": 5, "deadline": 30},
    strategies={"none": {"retry": "none"},
                "docs": {"retry": "analytics-docs"},
                "jitter": {"retry": {"wait": {"exponential": {"base": 0.1, "cap": 2}}, "jitter": "full",
                                     "stop": {"attempts": 4}},
                           "guards": {"breaker": {"failure_rate": 0.5, "window": 20, "minimum_calls": 20,
                                                  "open_s": 5, "half_open_calls": 5}}}})


def tables(result) -> dict:
    """Every table of a result as the bytes write_tables writes (CSV), and the summary."""
    out = {}
    for name in ("requests", "attempts", "timeline"):
        buf = io.StringIO()
        getattr(result, name).to_csv(buf, index=False)
        out[name] = buf.getvalue()
    out["summary"] = result.summary().to_csv()
    return out


@needs_fork
def test_parallel_run_writes_the_serial_tables(tmp_path):
    serial = simulate(SCENARIO, seed=7)
    parallel = simulate(SCENARIO, seed=7, processes=2)
    assert list(parallel.strategies) == ["none", "docs", "jitter"]
    assert tables(parallel) == tables(serial)
    assert parallel.strategies == serial.strategies and parallel.windows == serial.windows
    a, b = tmp_path / "serial", tmp_path / "parallel"
    for r, d in ((serial, a), (parallel, b)):
        r.write_tables(d, "parquet")
    for p in sorted(a.iterdir()):
        assert p.read_bytes() == (b / p.name).read_bytes(), p.name
    # More processes than strategies or cores: the same again (at most one per strategy and core is started).
    assert tables(simulate(SCENARIO, seed=7, processes=8)) == tables(serial)


@needs_fork
def test_every_worker_gets_the_callers_seed():
    """A worker that drew its own seed (or another strategy's streams) would give other tables than the serial
    run's: with fresh entropy (seed=None), a spawned SeedSequence (as sweeps pass) and a plain int."""
    fresh = simulate(SCENARIO, seed=None, processes=2)
    assert tables(fresh) == tables(simulate(SCENARIO, seed=fresh.seed))
    child = np.random.SeedSequence(11).spawn(3)[2]
    assert tables(simulate(SCENARIO, seed=child, processes=2)) == tables(simulate(SCENARIO, seed=child))
    # The comparison can fail: another seed gives other tables for every strategy.
    other = simulate(SCENARIO, seed=8, processes=2)
    base = simulate(SCENARIO, seed=7, processes=2)
    for name in base.strategies:
        assert (base.requests[base.requests["strategy"] == name]["start"].to_numpy()[:50].tolist()
                != other.requests[other.requests["strategy"] == name]["start"].to_numpy()[:50].tolist())


@needs_fork
def test_summary_mode_runs_side_by_side_too():
    serial = simulate(SCENARIO, seed=3, record="summary")
    parallel = simulate(SCENARIO, seed=3, record="summary", processes=2)
    assert parallel.summary().to_csv() == serial.summary().to_csv()
    assert parallel.timeline.to_csv() == serial.timeline.to_csv()


def test_processes_must_be_a_count():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"^processes=.*: give a whole number of worker processes, at least 1"):
            simulate(SCENARIO, processes=bad)


def test_what_cannot_go_to_workers_runs_serially(monkeypatch, tmp_path):
    """One strategy, record="stream" (one file for all) and strategies given as Python objects stay in this
    process; processes=1 (the library's default) never starts a worker."""
    from resilsim.policies.build import build_strategy
    from resilsim.scenario import load_scenario

    def refuse(*a, **k):
        raise AssertionError("started workers")

    monkeypatch.setattr(workers, "run_side_by_side", refuse)
    simulate(SCENARIO, seed=1)
    simulate(SCENARIO, seed=1, strategies=["docs"], processes=2)
    simulate(SCENARIO, seed=1, record="stream", rows_to=tmp_path, processes=2)
    sc = load_scenario(SCENARIO)
    own = {n: build_strategy(sc.strategies[n], n, sc.clients) for n in ("none", "docs")}
    simulate(SCENARIO, seed=1, strategies=own, processes=2)
    calls = []
    simulate(SCENARIO, seed=1, meanwhile=lambda: calls.append(1))
    assert calls == [1]  # the hook runs in the serial case too


@needs_fork
def test_an_error_in_a_worker_is_raised_here_and_the_cli_says_it_in_one_line(monkeypatch, tmp_path, capsys):
    """A strategy that breaks in its worker: the caller gets the error itself (one sentence from the CLI, exit 2)."""
    import yaml

    from resilsim.cli import main

    real = sim_run._run_one

    def breaks(scenario, seed, strategy, *rest, **kw):
        if strategy.name == "docs":
            raise PolicyError("strategy 'docs': its wait returned -1.0 s; a wait must be >= 0")
        return real(scenario, seed, strategy, *rest, **kw)

    monkeypatch.setattr(sim_run, "_run_one", breaks)  # forked workers inherit the patch
    with pytest.raises(PolicyError, match="strategy 'docs': its wait returned"):
        simulate(SCENARIO, seed=1, processes=2)
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(SCENARIO))
    assert main(["run", str(p), "--out", str(tmp_path / "out"), "--processes", "2", "--no-charts"]) == 2
    err = capsys.readouterr().err
    assert err == "resilsim: strategy 'docs': its wait returned -1.0 s; a wait must be >= 0\n"
    assert not (tmp_path / "out").exists()  # nothing written


def _slow_or_failing(k: int) -> int:
    if k == 1:
        raise ValueError("job 1 fails")
    time.sleep(60)
    return k


@needs_fork
def test_workers_are_ended_when_a_job_fails():
    """The first error is raised at once: the other workers are ended, not waited for."""
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="job 1 fails"):
        workers.run_side_by_side(_slow_or_failing, [(0,), (1,)], 2)  # job 0 runs for a minute
    assert time.perf_counter() - t0 < 30
    assert not multiprocessing.active_children()


@needs_fork
def test_ctrl_c_ends_the_workers():
    """Ctrl-C while the workers compute: KeyboardInterrupt here, the workers ended (they ignore SIGINT themselves)."""
    import signal
    import threading

    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        workers.run_side_by_side(_slow_or_failing, [(0,), (2,)], 2)
    assert time.perf_counter() - t0 < 30
    assert not multiprocessing.active_children()


def test_idle_cores_are_the_cores_less_the_load(monkeypatch):
    """`resilsim run`'s default worker count: cores other work keeps busy are not counted (at least 1)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    for load, want in ((0.0, 2), (0.4, 2), (0.6, 1), (1.0, 1), (3.5, 1)):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        assert workers.idle_cores() == want, load
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.2, 0, 0))
    assert workers.idle_cores() == 13


def test_idle_cores_over_a_window_count_only_other_processes_work(monkeypatch):
    """Given a first reading, the cores other processes kept busy since then are not counted, whatever the load
    average says (it remembers the last minute: a benchmark's previous rounds, the user's previous run); this
    process's own CPU time is not other work; a window under MIN_WINDOW_S falls back to the load average."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "sysconf", lambda name: 100 if name == "SC_CLK_TCK" else os.sysconf(name))
    monkeypatch.setattr(os, "getloadavg", lambda: (1.9, 1.9, 1.9))  # a busy last minute
    since = (10_000, 4_000, 5.0)
    # 0.5 s on 2 cores = 100 jiffies; this process used 0.5 s (50), everything else idle: 2 idle cores
    assert workers.idle_cores(since, now=(10_100, 4_050, 5.5)) == 2
    # the same with another process busy on one core the whole window: 1
    assert workers.idle_cores(since, now=(10_100, 4_000, 5.5)) == 1
    # other work on 0.4 of a core (rounded as the load average is): still 2; on 0.6: 1
    assert workers.idle_cores(since, now=(10_100, 4_030, 5.5)) == 2
    assert workers.idle_cores(since, now=(10_100, 4_020, 5.5)) == 1
    # both cores busy with others while this process waited: at least 1
    assert workers.idle_cores(since, now=(10_100, 4_000, 5.0)) == 1
    # a window of 0.05 s: too short to trust, the load average decides (1.9 → 1); without a reading, too
    assert workers.idle_cores(since, now=(10_010, 4_010, 5.0)) == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert workers.idle_cores(since, now=(10_010, 4_000, 5.0)) == 2
    assert workers.idle_cores(None) == 2
    # without ``now``, the second reading is taken there and then
    monkeypatch.setattr(workers, "cpu_sample", lambda: (10_100, 4_000, 5.5))
    assert workers.idle_cores(since) == 1


def test_cpu_sample_reads_this_machine():
    """On Linux a reading is (all jiffies, idle jiffies, own CPU seconds), and the counters only grow."""
    from resilsim.cpu import cpu_sample

    first = cpu_sample()
    if first is None:
        pytest.skip("no /proc/stat here")
    sum(range(2_000_000))  # some CPU time of this process
    second = cpu_sample()
    assert second[0] >= first[0] > first[1] >= 0 and second[1] >= first[1] and second[2] > first[2]


def test_the_chart_process_is_forked_only_with_two_idle_cores(monkeypatch):
    from resilsim import chart_pool

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert chart_pool.fork_helper(None, 2) == ("fork" in multiprocessing.get_all_start_methods())
    assert not chart_pool.fork_helper(0, 2) and not chart_pool.fork_helper(1, 2)  # --chart-workers given
    assert not chart_pool.fork_helper(None, 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert not chart_pool.fork_helper(None, 4)  # from 4 cores: the spawned ChartPool


def _dies(k: int) -> int:
    if k == 1:
        os._exit(1)  # a worker killed mid-job (no answer, no error sent back)
    return k


@needs_fork
def test_a_worker_that_dies_is_an_error_here_not_a_hang():
    """A worker process that ends without answering: the caller raises at once and ends the others (with a pool,
    a lost job's answer never came and the caller waited for ever)."""
    error = wait_within(lambda: workers.run_side_by_side(_dies, [(0,), (1,), (2,)], 2), 30)
    assert isinstance(error, RuntimeError) and "ended before" in str(error), repr(error)
    assert not multiprocessing.active_children()
    assert workers.run_side_by_side(_dies, [(0,), (2,), (4,)], 2) == [0, 2, 4]  # answers in the jobs' order


def _started_with_a_big_answer(k: int) -> tuple:
    # 1 MB: far over a pipe's 64 KB buffer, so its send blocks until the parent reads
    return time.monotonic(), bytes(1 << 20)


@needs_fork
def test_a_worker_goes_on_to_its_next_job_while_the_parent_is_busy():
    """A worker's answer waits to be read while the parent runs ``meanwhile`` (resilsim run imports there); its
    next job starts at once, not after the parent reads (the send was in line: each worker's second job started
    only once ``meanwhile`` had returned, 1 s here)."""
    ended = []

    def busy():
        time.sleep(1.0)
        ended.append(time.monotonic())

    t0 = time.monotonic()
    out = workers.run_side_by_side(_started_with_a_big_answer, [(k,) for k in range(4)], 2, meanwhile=busy)
    starts = [t for t, _ in out]
    assert all(len(big) == 1 << 20 for _, big in out)
    # jobs 2 and 3 are the workers' second jobs: started long before the parent's meanwhile ended
    assert max(starts[2:]) < ended[0] - 0.5, [round(t - t0, 3) for t in (*starts, ended[0])]


def _unpicklable(k: int):
    return (lambda: k) if k == 2 else k  # a lambda cannot pickle: its answer cannot be sent


@needs_fork
def test_an_answer_that_cannot_be_sent_is_an_error_here():
    """An answer that does not pickle is the caller's error (raised here, the workers ended), not a hang."""
    import pickle

    error = wait_within(lambda: workers.run_side_by_side(_unpicklable, [(k,) for k in range(4)], 2), 30)
    assert isinstance(error, (pickle.PicklingError, AttributeError, TypeError)), repr(error)
    assert not multiprocessing.active_children()


def _unpicklable_first(k: int):
    # the first job of each worker gives an answer that cannot be sent; the jobs after it finish at once
    return (lambda: k) if k < 2 else k


@needs_fork
def test_a_worker_whose_answer_cannot_be_sent_ends_with_jobs_left():
    """The sending thread stops at an answer it cannot send; the worker's next answers then have nobody to take
    them (a bounded queue): it ends, and the caller raises, rather than the worker waiting for ever."""
    import pickle

    error = wait_within(lambda: workers.run_side_by_side(_unpicklable_first, [(k,) for k in range(8)], 2), 30)
    assert isinstance(error, (pickle.PicklingError, AttributeError, TypeError)), repr(error)
    assert not multiprocessing.active_children()


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("this error does not pickle")


def _fails_unpicklably(k: int):
    raise _Unpicklable(f"job {k} failed")


@needs_fork
def test_a_jobs_error_that_cannot_be_sent_is_named_here():
    error = wait_within(lambda: workers.run_side_by_side(_fails_unpicklably, [(0,), (1,)], 2), 30)
    assert isinstance(error, RuntimeError) and "_Unpicklable: job" in str(error), repr(error)
