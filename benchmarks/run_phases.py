"""Where ``resilsim run``'s time goes: each phase's wall and CPU seconds, in every process the command starts.

The command runs as the user runs it (``python -m resilsim run SCENARIO --seed SEED --out TMP``, then its
own exit), in a fresh interpreter whose imports are watched: as each module below finishes importing, the
functions named for it are wrapped so that they log when they start and end (wall clock shared by all
processes, and the CPU seconds of the process they run in). Forked processes inherit the wrappers, so the
strategies' workers and the forked chart process log too; spawned ones (``--chart-workers N``, the default
from 4 cores) do not, and show only as the parent's wait. With ``--processes 1`` the parent's imports run
before the strategies, unlogged as a phase (the import marks show them). Nothing of resilsim is changed; the
watch costs about 0.5 µs per import statement (~5 ms in all).

Printed per round: the phases in time order (process, start and end in seconds from the command's start, CPU
seconds), then the command's wall and CPU (its own and its children's) and ``CPU / cores``: the wall time
the command could not go under on this machine if every core were its own and every phase could overlap.

Usage::

    MPLBACKEND=Agg python benchmarks/run_phases.py                        # aurora scale-up, seed 0, 1 round
    MPLBACKEND=Agg python benchmarks/run_phases.py --rounds 3 --extra '--processes 1'
    PYTHONPATH=/tmp/old MPLBACKEND=Agg python benchmarks/run_phases.py    # run from /tmp/old: an older tree
"""
from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: module -> functions (or Class.method) logged when they start and end. Names missing in a tree are skipped.
WATCH = {
    "resilsim.sim": ["simulate"],
    "resilsim.sim.run": ["_run_in_worker", "_run_one"],
    "resilsim.sim.workers": ["run_side_by_side"],
    "resilsim.result": ["Result.from_runs", "Result.write_tables", "Result.summary"],
    "resilsim.run_folder": ["write_run_dir"],
    "resilsim.plots": ["save_charts"],
    "resilsim.chart_pool": ["draw_here", "_draw_taken", "warm_up", "ForkedCharts.wait", "ChartPool.wait"],
}
#: modules whose import's end is logged (a mark, not a phase)
MARKS = ("resilsim.scenario", "pandas", "pyarrow.parquet", "matplotlib.figure")

CHILD = r"""
import builtins, os, sys, time
LOG, T0 = os.environ["RUN_PHASES_LOG"], float(os.environ["RUN_PHASES_T0"])
WATCH, MARKS = {watch!r}, {marks!r}

def log(what):
    line = f"{{os.getpid()}}\t{{time.monotonic() - T0:.4f}}\t{{time.process_time():.4f}}\t{{what}}\n"
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)  # one write per line: processes do not interleave
    os.write(fd, line.encode()); os.close(fd)

def wrapped(f, label, meanwhile_arg=False):
    def w(*a, **k):
        if meanwhile_arg and len(a) > 3 and a[3] is not None:  # run_side_by_side(task, jobs, processes, meanwhile)
            a = (*a[:3], wrapped(a[3], "meanwhile (parent: imports, chart warm-up)"))
        name = label
        if label == "_run_in_worker":  # (scenario, root, name, record)
            name = f"simulate strategy {{a[2]}}"
        elif label == "_run_one":  # (scenario, seed, strategy, ...)
            name = f"simulate strategy {{getattr(a[2], 'name', '?')}}"
        log("> " + name)
        try:
            return f(*a, **k)
        finally:
            log("< " + name)
    return w

pending, real_import = dict(WATCH), builtins.__import__
pending.update((m, []) for m in MARKS)

def watch(*a, **k):
    module = real_import(*a, **k)
    if pending:
        for name in [n for n in pending if n in sys.modules]:
            m = sys.modules[name]
            if getattr(getattr(m, "__spec__", None), "_initializing", False):
                continue  # still importing: its functions may not exist yet
            if name in MARKS:
                log(f"= imported {{name}}")
            for fn in pending.pop(name):
                owner, _, attr = fn.rpartition(".")
                target = getattr(m, owner) if owner else m
                if hasattr(target, attr):
                    setattr(target, attr, wrapped(getattr(target, attr), attr if not owner else fn,
                                                  meanwhile_arg=attr == "run_side_by_side"))
    return module

builtins.__import__ = watch
log("= interpreter started")
sys.argv = ["resilsim", *sys.argv[1:]]
from resilsim.cli import console
console()
"""


def read_log(path: Path) -> list:
    """The child's log as (pid, wall s, cpu s, text) rows, in time order."""
    rows = []
    for line in path.read_text().splitlines():
        pid, wall, cpu, what = line.split("\t", 3)
        rows.append((int(pid), float(wall), float(cpu), what))
    return sorted(rows, key=lambda r: r[1])


def phases(rows: list) -> list:
    """(process, label, start s, end s, CPU s) per logged phase, in start order; marks as zero-length phases."""
    parent = rows[0][0]
    roles, out, open_ = {parent: "parent"}, [], {}
    for pid, wall, cpu, what in rows:
        role = roles.setdefault(pid, f"child {len(roles)}")
        kind, label = what[0], what[2:]
        if kind == ">":
            open_[(pid, label)] = (wall, cpu)
        elif kind == "<" and (pid, label) in open_:
            w0, c0 = open_.pop((pid, label))
            if wall - w0 >= 0.002:  # a cached answer (the summary asked again) is not a phase
                out.append((role, label, w0, wall, cpu - c0))
        elif kind == "=":
            out.append((role, label, wall, wall, None))
    return sorted(out, key=lambda p: (p[2], p[3]))


def _tree() -> str:
    """The source tree whose resilsim is measured: the first entry of ``PYTHONPATH`` if set, else this checkout."""
    return os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] or str(ROOT)


def one_round(scenario: str, seed: int, extra: list, tmp: Path, i: int) -> dict:
    """Run the command once under the watch; return its phases, wall and CPU seconds."""
    log = tmp / f"log{i}"
    from_tree = _tree()
    env = {**os.environ, "RUN_PHASES_LOG": str(log)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env["RUN_PHASES_T0"] = repr(time.monotonic())
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", CHILD.format(watch=WATCH, marks=MARKS), "run", scenario, "--seed",
                    str(seed), "--out", str(tmp / f"out{i}"), *extra], cwd=from_tree, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"phases": phases(read_log(log)), "wall": wall, "cpu": cpu}


def show(r: dict, cores: int) -> None:
    """Print one round: its phases, then the totals."""
    print(f"{'process':9} {'phase':48} {'start':>6} {'end':>6} {'CPU s':>6}")
    for role, label, w0, w1, cpu in r["phases"]:
        c = "" if cpu is None else f"{cpu:6.3f}"
        print(f"{role:9} {label[:48]:48} {w0:6.3f} {w1:6.3f} {c:>6}")
    print(f"command: wall {r['wall']:.3f} s, CPU {r['cpu']:.3f} s (all its processes), CPU / {cores} cores "
          f"{r['cpu'] / cores:.3f} s (the wall it could not go under here)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="scenarios/analytics-aurora-scale-up.yaml")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--extra", default="", help="more options for the command, e.g. '--processes 1'")
    a = ap.parse_args(argv)
    # resilsim's bytecode written first, as a user's first run writes it: where PYTHONDONTWRITEBYTECODE is set
    # (this VM sets it), every measured run would compile the changed modules again (0.06-0.08 s before the fork).
    compileall.compile_dir(str(Path(_tree()) / "resilsim"), quiet=1)  # the tree measured, not this one
    cores = os.cpu_count() or 1
    scenario = str(Path(a.scenario).resolve())
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.rounds):
            print(f"round {i + 1} (load {os.getloadavg()[0]:.2f}):")
            r = one_round(scenario, a.seed, a.extra.split(), Path(tmp), i)
            show(r, cores)
            walls.append(r["wall"])
            cpus.append(r["cpu"])
    if a.rounds > 1:
        print(f"median of {a.rounds}: wall {statistics.median(walls):.3f} s, CPU {statistics.median(cpus):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
