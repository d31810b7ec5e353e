"""``resilsim run`` end to end against ``simulate()`` alone, same scenario and seed (issue 18's first target).

Each round runs, one after the other in fresh interpreters, a child that times
``simulate(load_scenario(SCENARIO), seed)`` alone (the clock around the call,
imports left out) and the whole command ``python -m resilsim run SCENARIO
--seed SEED --out TMP`` (wall seconds of the process: imports, simulation,
tables, charts). The ratio is taken per round, so a slow spell on a shared
machine lands on both sides of it; the medians over rounds are printed. CPU
seconds are printed beside the wall ones (the simulation's process time, and
the command's user + system time with its children's): on a machine whose
cores other work takes, they move less than the wall clock.

Usage::

    MPLBACKEND=Agg python benchmarks/run_end_to_end.py                      # aurora scale-up, 5 rounds
    MPLBACKEND=Agg python benchmarks/run_end_to_end.py scenarios/metastable-retry-storm.yaml --rounds 3
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.5  # `resilsim run` wall / simulate() wall

CHILD = """
import sys, time
from resilsim.scenario import load_scenario
from resilsim.sim import simulate
import resilsim.result  # imported before the clock starts, as simulate() would on first use
sc = load_scenario(sys.argv[1])
t0, c0 = time.perf_counter(), time.process_time(); simulate(sc, seed=int(sys.argv[2]))
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="scenarios/analytics-aurora-scale-up.yaml")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--format", default="parquet", help="the run's table format (parquet or csv)")
    ap.add_argument("--extra", default="", help="more options for the command, e.g. '--chart-workers 2'")
    ap.add_argument("--json", metavar="PATH", help="also write the medians to PATH as JSON")
    a = ap.parse_args(argv)
    # resilsim's bytecode written first, as a user's first run writes it: where PYTHONDONTWRITEBYTECODE is set
    # (this VM sets it), every measured run would compile the changed modules again (0.06-0.08 s before the fork).
    compileall.compile_dir(str(ROOT / "resilsim"), quiet=1)
    sims, runs, ratios, cpu_sims, cpu_runs, cpu_ratios = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.rounds):
            out = subprocess.run([sys.executable, "-c", CHILD, a.scenario, str(a.seed)], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout
            wall, cpu = out.strip().splitlines()[-1].split()
            sims.append(float(wall))
            cpu_sims.append(float(cpu))
            load = os.getloadavg()[0]  # the 1-minute load the command starts under (this harness's own work included)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "resilsim", "run", a.scenario, "--seed", str(a.seed), "--out",
                            str(Path(tmp) / f"r{i}"), "--format", a.format, *a.extra.split()], cwd=ROOT, check=True,
                           capture_output=True)
            runs.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_runs.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            ratios.append(runs[-1] / sims[-1])
            cpu_ratios.append(cpu_runs[-1] / cpu_sims[-1])
            print(f"round {i + 1}: simulate {sims[-1]:.2f} s, resilsim run {runs[-1]:.2f} s, ratio {ratios[-1]:.2f}; "
                  f"CPU {cpu_sims[-1]:.2f} s, {cpu_runs[-1]:.2f} s, ratio {cpu_ratios[-1]:.2f}; load {load:.2f}", flush=True)
    ratio = statistics.median(ratios)
    print(f"median: simulate {statistics.median(sims):.2f} s, resilsim run {statistics.median(runs):.2f} s, "
          f"ratio {ratio:.2f} (target <= {TARGET}: {'met' if ratio <= TARGET else 'NOT met'}; {a.scenario}, "
          f"seed {a.seed}, {a.rounds} rounds)")
    print(f"median CPU: simulate {statistics.median(cpu_sims):.2f} s, resilsim run {statistics.median(cpu_runs):.2f} s, "
          f"ratio {statistics.median(cpu_ratios):.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps({
            "scenario": a.scenario, "seed": a.seed, "rounds": a.rounds, "ratio": ratio,
            "simulate_s": statistics.median(sims), "run_s": statistics.median(runs),
            "cpu_ratio": statistics.median(cpu_ratios), "simulate_cpu_s": statistics.median(cpu_sims),
            "run_cpu_s": statistics.median(cpu_runs)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
