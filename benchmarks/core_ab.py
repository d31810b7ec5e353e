"""The core before and after a change: Python calls and bytecodes per attempt, and interleaved wall time.

Two source trees (``--before``, e.g. main exported with ``git archive``, and ``--after``, default this
checkout) are compared on the benchmark workloads (``benchmarks/reference.yaml``, ``all_features.yaml``)
and the pure-Python floor (``floor_heapq.py``):

* **calls and bytecodes per attempt** (``sys.settrace`` with opcode events around ``simulate`` and the
  attempt table, at ``--count-requests``): deterministic, so they say what a change removed whatever the
  machine's load;
* **wall seconds per attempt**, each run in a fresh interpreter (``benchmarks/run.py --child``, the
  harness of ``make bench``), rounds interleaved: per seed, floor, reference and all-features on the
  before tree, then the same on the after tree. Ratios are medians of same-seed pairs, so a slow spell on
  a shared machine lands on both sides of a ratio.

Usage::

    git -C /path/to/main archive HEAD | tar -x -C /tmp/core-before
    python benchmarks/core_ab.py --before /tmp/core-before --requests 100000 --rounds 5
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = ("floor", "resilsim", "all-features")  # run.py's names: resilsim is the reference workload


def count(workload: str, n: int) -> dict:
    """Python calls and bytecodes executed per attempt by one run of ``workload`` with ``n`` requests (seed 0),
    simulation and attempt table; the resilsim imported is the first on ``sys.path``."""
    sys.path.insert(0, str(HERE))
    import yaml

    import run as bench
    from floor_heapq import run_floor

    if workload == "floor":
        def one(seed):
            return len(run_floor(n, seed))
    else:
        import resilsim.result  # noqa: F401 - imported before counting, as the harness does before its clock
        from resilsim.scenario import load_scenario
        from resilsim.sim.run import simulate

        data = yaml.safe_load(bench.SCENARIOS[workload].read_text())
        data["faults"] = {**data.get("faults", {}), "incidents": bench.incidents_for(data, n / bench.RATE)}
        data["duration"] = n / bench.RATE
        scenario = load_scenario(data)

        def one(seed):
            return len(simulate(scenario, seed).attempts)

    one(1)  # warm: first-use imports and caches are not per attempt
    seen = collections.Counter()

    def opcodes(frame, event, arg):
        if event == "opcode":
            seen["ops"] += 1
        return opcodes

    def calls(frame, event, arg):
        frame.f_trace_opcodes = True
        seen["calls"] += 1
        return opcodes

    sys.settrace(calls)
    try:
        attempts = one(0)
    finally:
        sys.settrace(None)
    return {"attempts": attempts, "calls": seen["calls"] / attempts, "ops": seen["ops"] / attempts}


def _child(tree: str, args: list[str]) -> str:
    env = dict(os.environ, PYTHONPATH=tree, PYTHONHASHSEED="0")
    proc = subprocess.run([sys.executable, *args], env=env, cwd=tree, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child failed in {tree}: {' '.join(args)}\n{proc.stderr}")
    return proc.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", help="source tree before the change (a folder holding resilsim/)")
    p.add_argument("--after", default=str(HERE.parent), help="source tree after the change (default: this one)")
    p.add_argument("--requests", type=int, default=100_000, help="requests per timed run (default 100000)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds, seeds 0..rounds-1 (default 5)")
    p.add_argument("--count-requests", type=int, default=20_000, help="requests per counted run (default 20000)")
    p.add_argument("--count", nargs=2, metavar=("WORKLOAD", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.count:
        print(json.dumps(count(args.count[0], int(args.count[1]))))
        return 0
    if not args.before:
        p.error("--before is required")

    trees = {"before": args.before, "after": args.after}
    me = str(Path(__file__).resolve())
    print(f"calls and bytecodes per attempt ({args.count_requests:,} requests, seed 0; deterministic):")
    for w in WORKLOADS:
        for tag, tree in trees.items():
            if w == "floor" and tag == "before":
                continue  # the floor is this checkout's file whatever the tree
            c = json.loads(_child(tree, [me, "--count", w, str(args.count_requests)]))
            print(f"  {w:<13} {tag if w != 'floor' else '':<7} {c['calls']:7.2f} calls  {c['ops']:7.1f} bytecodes",
                  flush=True)

    runner = str(HERE / "run.py")
    us: dict = collections.defaultdict(list)
    print(f"\nwall µs per attempt ({args.requests:,} requests; fresh interpreter per run; interleaved):")
    for seed in range(args.rounds):
        for tag, tree in trees.items():
            for w in WORKLOADS:
                r = json.loads(_child(tree, [runner, "--child", w, str(args.requests), str(seed)]))
                us[(tag, w)].append(r["wall_s"] / r["attempts"] * 1e6)
            print(f"  seed {seed} {tag:<6} " + "  ".join(f"{w} {us[(tag, w)][-1]:.3f}" for w in WORKLOADS), flush=True)

    def med_ratio(a, b):
        return statistics.median(y / x for x, y in zip(a, b))

    print("\nmedians of same-seed ratios:")
    for tag in trees:
        print(f"  {tag:<6} reference/floor {med_ratio(us[(tag, 'floor')], us[(tag, 'resilsim')]):.2f}  "
              f"all-features/reference {med_ratio(us[(tag, 'resilsim')], us[(tag, 'all-features')]):.2f}  "
              f"(reference {statistics.median(us[(tag, 'resilsim')]):.3f} µs, "
              f"all-features {statistics.median(us[(tag, 'all-features')]):.3f} µs)")
    print(f"  after/before: reference {med_ratio(us[('before', 'resilsim')], us[('after', 'resilsim')]):.3f}, "
          f"all-features {med_ratio(us[('before', 'all-features')], us[('after', 'all-features')]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
