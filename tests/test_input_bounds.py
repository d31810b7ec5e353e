"""Inputs that used to run away, crash or pass unchecked through the Python API: each ends in one sentence,
a bounded cost, or (for valid input) a result. The command-line corpus is tests/test_bad_inputs.py."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from resilsim import ScenarioError, load_scenario, simulate
from resilsim.cli import main
from resilsim.errors import CatalogError
from resilsim.policies import waits
from resilsim.sim import limits
from resilsim.sweep import Grid, sweep
from resilsim.sweep.run import pool_size, run_task

from .conftest import small


# ---------------------------------------------------------------- the bounded reader

def test_reader_keeps_merge_keys_and_refuses_one_key_written_twice():
    from resilsim.yamlsafe import YamlInputError, parse
    assert parse("a: &a {x: 1, y: 1}\nb:\n  <<: *a\n  y: 2\n") == {"a": {"x": 1, "y": 1}, "b": {"x": 1, "y": 2}}
    with pytest.raises(YamlInputError, match=r"duplicate key '-1000.0' \(the same key as '-1000'\)"):
        parse("background: {-1000: 0.1, -1000.0: 0.2}\n")


# ---------------------------------------------------------------- simulate checks what it did not load itself

@pytest.mark.parametrize("change,message", [
    (lambda s: s.model_copy(update={"warmup": 100.0}), "warmup (100.0 s) must be shorter than duration (60.0 s)"),
    (lambda s: s.model_copy(update={"strategies": {}}), "strategies: give at least one strategy"),
    (lambda s: s.model_copy(update={"service": s.service.model_copy(update={"workers": 0})}),
     "service.workers: Input should be greater than or equal to 1 (got 0)"),
    (lambda s: s.model_copy(update={"duration": True}), "duration: Input should be a number, not true or false"),
])
def test_simulate_revalidates_a_changed_scenario(change, message):
    s = load_scenario(small(duration=60))
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        simulate(change(s), seed=1)


def test_simulate_refuses_an_unknown_strategy_name():
    with pytest.raises(ScenarioError, match="unknown strategy 'nope'"):
        simulate(small(duration=5), strategies=["nope"])


# ---------------------------------------------------------------- memory estimate before the run

def test_memory_estimate_counts_every_strategy_and_each_recording_mode():
    s = load_scenario(small(duration=100, strategies={f"s{i}": {"retry": "none"} for i in range(4)}))
    full, summary = limits.memory_estimate(s, "full"), limits.memory_estimate(s, "summary")
    per_request = limits.REQUEST_BYTES * 50 * 100
    assert full - summary == pytest.approx(4 * per_request)
    assert limits.memory_estimate(s, "full", strategies=1) == pytest.approx(full / 4)
    # 29 bytes a request row, 29 an attempt row: (23 + 1.25 × 29) × 2.
    assert limits.REQUEST_BYTES == pytest.approx(2 * (23 + 1.25 * 29))


def test_refusal_comes_before_any_allocation():
    # 10^10 requests would need ~1 TB: refused in milliseconds, and the process does not grow.
    before = limits.rss_bytes()
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError, match=r"the run needs about [\d,]+ MiB \(1 strategy with 10,000,000,000 "):
        simulate(small(duration=1e6, clients={"arrival": {"poisson": {"rate": 1e4}}}))
    assert time.perf_counter() - t0 < 5 and limits.rss_bytes() - before < 50 * 2 ** 20


def test_no_memory_limit_means_no_refusal():
    s = load_scenario(small(duration=5, limits={"max_memory_mb": None}))
    limits.check_budget(s, "full", 10**6)  # nothing raised: the user asked for no limit


# ---------------------------------------------------------------- integer widths

def test_more_than_127_strategies_run():
    r = simulate(small(duration=2, strategies={f"s{i}": {"retry": "none"} for i in range(130)}), seed=1)
    assert r.requests["strategy"].nunique() == 130
    assert (r.requests.groupby("strategy", observed=True).size() == len(r.requests) // 130).all()


def test_summary_only_request_with_more_than_32767_attempts():
    # Every attempt fails at once (0.1 ms) and is retried with no wait until an 8 s deadline: ~40,000 attempts
    # per request, past the 16 bits the summary recorder's buffer used to have.
    d = {"name": "many-attempts", "api": "counters", "duration": 3, "drain": 20,
         "service": {"workers": 4, "operations": {"increment": {"latency": {"constant": 0.0001}}}},
         "faults": {"background": {"-1000": 1.0}},
         "clients": {"arrival": {"poisson": {"rate": 3}}, "deadline": 8},
         "strategies": {"hammer": {"retry": {"wait": {"none": True}, "retry_on": {"codes": ["-1000"]}}}},
         "limits": {"max_attempts": 1_000_000}}
    summary = simulate(d, seed=0, record="summary").summary()
    assert summary.loc["hammer", "mean_attempts"] > 32_767


def test_operations_and_catalog_codes_are_bounded():
    ops = {f"op{i}": {} for i in range(10_001)}
    with pytest.raises(ScenarioError, match="has 10,001 operations; at most 10,000 are allowed"):
        load_scenario(small(service={"workers": 1, "operations": ops}))
    from resilsim.catalog.load import parse_catalog
    code = '  - {code: "C%d", http: 500, name: N, category: c, message: m, advice: never}\n'
    text = "api: big\ntitle: t\nbody: counters\ncodes:\n" + "".join(code % i for i in range(10_001))
    with pytest.raises(CatalogError, match="more than 100000 values|at most 10,000"):
        parse_catalog(text, "big.yaml")


# ---------------------------------------------------------------- waits

def test_additive_jitter_on_a_fixed_wait_adds_to_it():
    w = waits.fixed(1.0) + waits.jitter("additive", 0.5)
    rng = np.random.default_rng(3)
    got = [w(2, 1.0, rng) for _ in range(200)]
    assert min(got) >= 1.0 and max(got) <= 1.5 and np.mean(got) == pytest.approx(1.25, abs=0.05)
    assert w.cap == 1.5
    # A wait with a cap of its own still keeps to it.
    capped = waits.exponential(1.0, 2.0, cap=4.0) + waits.jitter("additive", 3.0)
    assert max(capped(5, 1.0, rng) for _ in range(200)) == 4.0


# ---------------------------------------------------------------- sweeps

def test_grids_are_sized_before_they_are_made():
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError, match="100,000,000 runs, more than the 100,000"):
        Grid.product({"service.workers": range(10**4), "clients.clients_per_tenant": range(10**4)})
    with pytest.raises(ScenarioError, match="'service.workers' has no values"):
        sweep(small(duration=5), {"service.workers": []}, executor="inprocess", progress=False)
    with pytest.raises(ScenarioError, match=r"1 grid points × 100,000,000 replications"):
        sweep(small(duration=5), None, replications=10**8, executor="inprocess", progress=False)
    with pytest.raises(ScenarioError, match="has no points"):
        sweep(small(duration=5), [], executor="inprocess", progress=False)
    assert time.perf_counter() - t0 < 5


def test_pool_size_is_capped_by_tasks_and_cores():
    cores = os.cpu_count() or 1
    assert pool_size(1000, 24) == min(24, cores)
    assert pool_size(None, 3) == min(3, cores)
    assert pool_size(1000, 24, force=True) == 24
    assert pool_size(2, 0) == 1


def test_pool_workers_exit_when_their_parent_is_killed(tmp_path):
    script = textwrap.dedent("""
        import os, signal
        from concurrent.futures import ProcessPoolExecutor
        from resilsim.sweep.run import init_worker
        if __name__ == "__main__":
            ex = ProcessPoolExecutor(max_workers=2, initializer=init_worker)
            list(ex.map(abs, range(8)))  # the workers are up
            print(" ".join(str(p) for p in ex._processes), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # no shutdown: the workers are left waiting for work
    """)
    (tmp_path / "parent.py").write_text(script)
    out = subprocess.run([sys.executable, str(tmp_path / "parent.py")], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()}, timeout=60)
    assert out.returncode == -signal.SIGKILL
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


# ---------------------------------------------------------------- out of memory, unreadable run folders

def test_out_of_memory_is_one_prepared_line(monkeypatch, capsys, tmp_path):
    def boom(*a, **k):
        raise MemoryError()
    monkeypatch.setattr("resilsim.sim.simulate", boom)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(json.dumps(small(duration=5)))
    assert main(["run", str(scenario), "--out", str(tmp_path / "o"), "--no-charts"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resilsim: out of memory; ") and err.count("\n") == 1


def test_a_sweep_run_out_of_memory_is_a_short_error_row(monkeypatch):
    def boom(*a, **k):
        raise MemoryError()
    monkeypatch.setattr("resilsim.sim.simulate", boom)
    task = {"run_id": "x", "point": 0, "replication": 0, "entropy": 1, "spawn_key": (0,), "overrides": {}}
    row = run_task(small(duration=5), task)["rows"][0]
    assert row["error"].startswith("MemoryError: the run ran out of memory") and row["traceback"] == ""


def test_report_on_a_garbage_summary_is_one_sentence(tmp_path, capsys):
    from resilsim.files import sha256_of
    scenario = tmp_path / "s.yaml"
    scenario.write_text(json.dumps(small(duration=5)))
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "--no-charts"]) == 0
    bad = out / "summary.csv"
    bad.write_bytes(b"\x00\x01garbage\n\"unclosed")
    meta = json.loads((out / "run.json").read_text())  # as if the run had written it: the checksum agrees
    meta["files"]["summary.csv"] = {"bytes": bad.stat().st_size, "sha256": sha256_of(bad)}
    (out / "run.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["report", str(out), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"resilsim: {bad}: not a table resilsim wrote") and err.count("\n") == 1
