"""Same scenario and seed: identical result tables, byte for byte, across repeated runs, fresh processes,
sweep executors and worker counts. tests/test_determinism.py pins the digests themselves."""
import hashlib
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import yaml

from resilsim import load_scenario, simulate
from resilsim.sweep import sweep

from .conftest import bench, small

ROOT = Path(__file__).resolve().parents[1]
ROWS = ("requests", "attempts", "timeline")


def all_features(duration: float = 40.0) -> dict:
    """benchmarks/all_features.yaml (limiter, quota, queue timeout, flapping and ramping incidents,
    timeout, deadline) squeezed into ``duration`` seconds."""
    return bench("all_features.yaml", duration, drain=30.0)


def hashes(out: Path, fmt: str = "csv") -> dict:
    return {t: hashlib.sha256((out / t).read_bytes()).hexdigest() for t in (*(f"{r}.{fmt}" for r in ROWS),
                                                                          "summary.csv")}


def test_fresh_processes_write_identical_tables(tmp_path):
    sc = tmp_path / "s.yaml"
    sc.write_text(yaml.safe_dump(all_features()))
    seen = {"csv": [], "parquet": []}
    for i, hashseed in enumerate(("0", "12345")):  # string hashing differs between the two processes
        for fmt in seen:
            out = tmp_path / f"o{i}{fmt}"
            env = dict(os.environ, PYTHONHASHSEED=hashseed, MPLBACKEND="Agg")
            p = subprocess.run([sys.executable, "-m", "resilsim", "run", str(sc), "--seed", "7", "--no-charts",
                                "--format", fmt, "--out", str(out)], env=env, cwd=ROOT, capture_output=True,
                               text=True, timeout=300)
            assert p.returncode == 0, p.stderr
            seen[fmt].append(hashes(out, fmt))
    # And this process, run twice: the same bytes again.
    for k in range(2):
        for fmt in seen:
            out = tmp_path / f"here{k}{fmt}"
            simulate(load_scenario(all_features()), seed=7).write_tables(out, fmt)
            seen[fmt].append(hashes(out, fmt))
    for fmt, digests in seen.items():
        assert all(h == digests[0] for h in digests[1:]), (fmt, digests)
    assert (tmp_path / "o0csv" / "attempts.csv").stat().st_size > 50_000, "the tables should not be trivial"


def _attempt_digests(store: Path) -> dict:
    return {p.stem: hashlib.sha256(pd.util.hash_pandas_object(pd.read_parquet(p), index=False).to_numpy()
                                   .tobytes()).hexdigest() for p in sorted((store / "attempts").glob("*.parquet"))}


def test_sweep_executors_and_worker_counts_agree(tmp_path):
    s = small(duration=15, strategies={"none": {"retry": "none"}, "imm": {"retry": "immediate"}},
              faults={"background": {"ANALYTICS_1203": 0.2}})
    grid = {"service.workers": [2, 4]}
    frames, digests = [], []
    runs = [("inprocess", None)] + [(f"pool{n}", n) for n in (1, 2)]
    for name, n in runs:
        store = tmp_path / name
        if n is None:
            df = sweep(s, grid, replications=2, seed=3, executor="inprocess", progress=False, store=store,
                       keep_attempts=True)
        else:
            with ProcessPoolExecutor(n) as ex:
                df = sweep(s, grid, replications=2, seed=3, executor=ex, progress=False, store=store,
                           keep_attempts=True)
        frames.append(df.drop(columns=["wall_s"]).sort_values(["run_id", "strategy"]).reset_index(drop=True))
        digests.append(_attempt_digests(store))
    assert len(frames[0]) == 2 * 2 * 2 and (frames[0]["status"] == "ok").all()
    for f, d in zip(frames[1:], digests[1:]):
        pd.testing.assert_frame_equal(frames[0], f)
        assert d == digests[0] and len(d) == 4
