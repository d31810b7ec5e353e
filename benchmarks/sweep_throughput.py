"""Sweep throughput: runs per second with 1, 2 and every local core.

    .venv/bin/python benchmarks/sweep_throughput.py [--runs 24] [--duration 60] [--repeat 3]

Each run is the Counter API scenario (4 strategies) for ``--duration``
simulated seconds; the sweep goes to a fresh temporary results directory, so
the figures include writing the Parquet files. Pool start-up is included (it
is part of what a user waits for).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import resilsim
from resilsim.sweep import sweep

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=24, help="runs per measurement")
    ap.add_argument("--duration", type=float, default=60, help="simulated seconds per run")
    ap.add_argument("--repeat", type=int, default=3, help="measurements per worker count, interleaved")
    ap.add_argument("--json", metavar="PATH", help="also write the medians to PATH as JSON")
    args = ap.parse_args(argv)
    scenario = resilsim.load_scenario(ROOT / "scenarios" / "counters-rate-limited.yaml",
                                      overrides={"duration": args.duration})
    # One grid point per run (distinct run ids), so nothing is skipped.
    grid = {"service.workers": list(range(1, args.runs + 1))}
    cores = os.cpu_count() or 1
    counts = sorted({1, 2, cores})
    walls: dict = {n: [] for n in counts}
    per_run: dict = {n: [] for n in counts}
    # Worker counts interleaved, repeat by repeat, so that a burst of load from the machine's other tenants
    # lands on every count alike; the scaling is the median over repeats of wall(1 worker) / wall(n workers).
    for _ in range(args.repeat):
        for n in counts:
            with tempfile.TemporaryDirectory() as d:
                t0 = time.perf_counter()
                df = sweep(scenario, grid, replications=1, workers=n, store=d, progress=False)
                walls[n].append(time.perf_counter() - t0)
            assert (df["error"] == "").all(), df["error"].unique()
            per_run[n].append(df.groupby("run_id")["wall_s"].first().mean())
    print(f"{args.runs} runs × {args.duration:g} simulated s (4 strategies each), {cores} cores, "
          f"{args.repeat} repeats interleaved (medians)")
    rows = []
    print(f"{'workers':>7} {'runs':>5} {'wall_s':>8} {'runs/s':>8} {'s/run (in worker)':>18} {'x 1 worker':>11}")
    for n in counts:
        wall = statistics.median(walls[n])
        scaling = statistics.median(w1 / wn for w1, wn in zip(walls[1], walls[n]))
        print(f"{n:>7} {args.runs:>5} {wall:>8.2f} {args.runs / wall:>8.2f} {statistics.median(per_run[n]):>18.3f} "
              f"{scaling:>11.2f}")
        rows.append({"workers": n, "wall_s": wall, "runs_per_s": args.runs / wall,
                     "s_per_run": statistics.median(per_run[n]), "scaling": scaling})
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": args.runs, "duration": args.duration, "cores": cores,
                                               "repeat": args.repeat, "rows": rows}))

if __name__ == "__main__":
    main()
