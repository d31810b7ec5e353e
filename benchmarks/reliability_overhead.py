"""Cost of the reliability checks on the reference workload (docs/reliability.md).

    python benchmarks/reliability_overhead.py [runs]

Times ``simulate("benchmarks/reference.yaml")`` (100,000 requests) with the watchdog on and off
(alternating, medians), and the share of each run spent in the invariant checks (``check_run``).
"""
import statistics
import sys
import time
from pathlib import Path

import resilsim.invariants as inv
import resilsim.sim.run as run
from resilsim import load_scenario, simulate

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
scenario = load_scenario(Path(__file__).parent / "reference.yaml")
with_watchdog = run.run_until
checks, wall = {"on": [], "off": []}, {"on": [], "off": []}
orig_check = inv.check_run


def timed_check(*a):
    t = time.perf_counter()
    orig_check(*a)
    timed_check.spent = time.perf_counter() - t


inv.check_run = timed_check
for i in range(runs):
    for mode in ("on", "off"):
        run.run_until = with_watchdog if mode == "on" else (lambda env, until, watchdog=None: with_watchdog(env, until))
        t = time.perf_counter()
        simulate(scenario, seed=1)
        wall[mode].append(time.perf_counter() - t)
        checks[mode].append(timed_check.spent)
on, off = statistics.median(wall["on"]), statistics.median(wall["off"])
chk = statistics.median(checks["on"] + checks["off"])
print(f"simulate, watchdog on: {on:.3f} s, off: {off:.3f} s (medians of {runs}); "
      f"invariant checks: {chk * 1000:.1f} ms ({100 * chk / on:.1f} % of a run)")
