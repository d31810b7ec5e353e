"""``make bench``: resilsim's core against the plain SimPy baseline, on the same machine, in one run.

Every measurement runs in a fresh subprocess (``run.py --child ...``) so its
peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own. Each
configuration runs ``--repeat`` times (seeds 0, 1, 2, ...) and the table shows
medians. The workloads of one size run interleaved, seed by seed, and each
speed ratio is the median of the ratios of same-seed runs taken one after the
other: on a shared machine, a slow spell then slows both sides of a ratio
instead of one. Wall seconds cover the simulation and building its attempt table
(a pandas DataFrame for both: the baseline's ``run_baseline``, resilsim's
``simulate`` + ``result.attempts``, which is built on first use), not the
interpreter start or imports. Peak RSS is taken after the summary too; the
requests table (also built on first use) is measured separately.

Workloads:

* ``baseline``  -- benchmarks/baseline_simpy.py, ``n`` requests;
* ``floor``     -- benchmarks/floor_heapq.py, the same workload as a bare heapq event loop, ``n`` requests:
  the pure-Python limit ``resilsim`` is compared with (target: reference <= 1.3x its time per attempt);
* ``resilsim``  -- benchmarks/reference.yaml with ``duration = n / 60`` s;
* ``all-features`` -- benchmarks/all_features.yaml (circuit breaker and retry budget included), same duration
  (its incidents repeated once per 1,667 s for longer runs: :func:`incidents_for`);
* ``empty``     -- imports and a 1-second reference run: the RSS floor that
  "bytes per recorded attempt" is measured over;
* ``summary``   -- the reference with ``record="summary"`` (counts and latency
  histograms, no rows), at ``--summary-requests`` (default 1M and 10M): its
  peak RSS must not grow with the number of requests (target: within 10 %).

Then, unless ``--no-user``, issue 18's figures for what a user waits for, each from its own script in a
fresh interpreter: ``resilsim run`` ÷ ``simulate()`` (run_end_to_end.py), the explorer's redraw
(explorer_redraw.py), sweep scaling for ~0.2 s and ~2 s runs (sweep_throughput.py) and a streamed run's
memory at 1M and 10M requests (stream_memory.py; 200k and 2M with ``--quick``).

Usage::

    python benchmarks/run.py                 # 100k and 1M requests, 5 runs each (the baseline 3)
    python benchmarks/run.py --quick         # 20k and 200k requests, the same
    python benchmarks/run.py --requests 50000 500000 --repeat 5 --no-write
    python benchmarks/run.py --summary-requests 1000000 5000000   # a shorter summary-mode check
"""
from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RATE = 60.0  # requests per simulated second in both workloads
SCENARIOS = {"resilsim": HERE / "reference.yaml", "all-features": HERE / "all_features.yaml"}

# Targets from issue 8.
TARGET_SPEEDUP = 2.5
TARGET_LINEAR = 11.0
TARGET_BYTES = 100.0
TARGET_FEATURES = 1.5
TARGET_FLOOR = 1.3  # resilsim's reference time per attempt / the bare event loop's (benchmarks/floor_heapq.py)
TARGET_SUMMARY_GROWTH = 1.10  # peak RSS at the large summary size / at the small one
# Issue 18: where the user waits.
TARGET_RUN = 1.5  # `resilsim run` wall / simulate() wall, same scenario and seed
TARGET_REDRAW = 0.3  # seconds per slider change of the explorer, 60 s preview
TARGET_SWEEP_SHORT = 1.7  # runs/s with 2 workers / with 1, runs of ~0.2 s
TARGET_SWEEP_LONG = 0.9  # runs/s with every core / with 1, divided by the cores, runs of a few seconds
TARGET_STREAM = 1.5  # a streamed run's peak RSS at 10M requests / at 1M


def user_waits(quick: bool) -> dict:
    """Issue 18's user-facing figures, each from its own script in a fresh interpreter (``--json``): ``resilsim
    run`` ÷ ``simulate()``, the explorer's redraw, sweep scaling for short and longer runs, streamed memory."""
    import tempfile

    scripts = {
        "run": ["run_end_to_end.py", "--rounds", "3"],
        "explorer": ["explorer_redraw.py"],
        # 140 simulated s: runs of ~0.2 s each, as the target says (60 s runs took ~0.2 s before the fused
        # loop; they now take ~0.1 s, which measures pool overhead rather than the target's workload).
        "sweep_short": ["sweep_throughput.py", "--repeat", "2", "--duration", "140"],
        "sweep_long": ["sweep_throughput.py", "--repeat", "1", "--runs", "8", "--duration", "900"],
        "stream": ["stream_memory.py", *(["--requests", "200000", "2000000"] if quick else [])],
    }
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, (script, *rest) in scripts.items():
            path = Path(tmp) / f"{key}.json"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, str(HERE / script), *rest, "--json", str(path)], cwd=ROOT, env=env,
                           check=True, stdout=subprocess.DEVNULL)
            found[key] = json.loads(path.read_text())
            print(f"  {key:<13} ({script} {' '.join(rest)}) {time.perf_counter() - t0:6.1f} s", file=sys.stderr,
                  flush=True)
    return found


def _peak_mib() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def child(workload: str, n: int, seed: int) -> dict:
    """Run one configuration in this process; return wall seconds, attempts, summary numbers and peak MiB."""
    sys.path.insert(0, str(HERE))
    if workload in ("baseline", "empty-baseline", "floor"):
        from baseline_simpy import run_baseline, summarize
        from floor_heapq import run_floor

        t0 = time.perf_counter()
        df = (run_floor if workload == "floor" else run_baseline)(0 if workload == "empty-baseline" else n, seed=seed)
        wall = time.perf_counter() - t0
        s = summarize(df) if len(df) else dict.fromkeys(("attempts", "requests", "success_rate",
                                                           "amplification", "p99_latency_s"), 0)
        out = {"attempts": s["attempts"], "requests": s["requests"], "success_rate": s["success_rate"],
               "amplification": s["amplification"], "p99_s": s["p99_latency_s"]}
    else:
        import resilsim.result  # noqa: F401 - imported before the clock starts (simulate imports it on first use)
        from resilsim.scenario import load_scenario
        from resilsim.sim.run import simulate

        import yaml

        path = SCENARIOS["resilsim" if workload in ("empty", "summary") else workload]
        record = "summary" if workload == "summary" else "full"
        data = yaml.safe_load(path.read_text())
        duration = 1.0 if workload == "empty" else n / RATE
        data["faults"] = {**data.get("faults", {}), "incidents": incidents_for(data, duration)}
        data["duration"] = duration
        scenario = load_scenario(data)
        # Peak RSS when the simulation is done, before simulate() builds its pandas tables.
        import resilsim.sim.run as run_module

        core = {}
        run_one = run_module._run_one

        def _measured(*a, **k):
            out = run_one(*a, **k)
            core["peak_mib"] = _peak_mib()
            return out

        run_module._run_one = _measured
        t0 = time.perf_counter()
        result = simulate(scenario, seed, record=record)
        if record == "full":
            attempts = len(result.attempts)  # the attempt table, as the baseline builds its DataFrame
        wall = time.perf_counter() - t0
        row = result.summary().iloc[0]
        if record != "full":
            attempts = sum(st["attempts_sent"] for st in result.stats.values())
        out = {"attempts": attempts, "requests": int(row["requests"]),
               "success_rate": float(row["success_rate"]), "amplification": float(row["amplification"]),
               "p99_s": float(row["p99_s"]), "core_peak_mib": core.get("peak_mib", float("nan"))}
        if record == "full":
            out["attempt_table_peak_mib"] = _peak_mib()  # before the requests table (built on first use)
            _ = result.requests  # peak_mib (below) includes it
        if record == "summary":
            # The summary's peak is the one that matters; the per-bin timeline (built on first use) adds
            # ~90 bytes per bin (duration / bin rows), reported separately.
            out["summary_peak_mib"] = _peak_mib()
            timeline = result.timeline
            out["timeline_peak_mib"] = _peak_mib()
            out["timeline_mib"] = float(timeline.memory_usage(deep=True).sum()) / 2 ** 20
    out.update(workload=workload, n=n, seed=seed, wall_s=wall, peak_mib=_peak_mib())
    return out


def incidents_for(data: dict, duration: float) -> list[dict]:
    """The scenario's incidents for a run of ``duration`` seconds, so that every size runs the same workload.

    Up to the file's own length, start and length scale with the duration (ramps and flapping
    periods do not). A longer run repeats the file's incident pattern once per file length, so 1M
    requests see ten copies of what 100k see: the same share of time in each incident phase, as
    in the reference workload, which has none. (Stretching the incidents instead would put a
    longer share of the run at their full rate, since the ramps keep their length: at 1M the error
    wave ran at its full 10 % for 3,800 s instead of 200 s, queueing grew, and the workload was not
    the same.)
    """
    incidents = data.get("faults", {}).get("incidents", [])
    period = data["duration"]
    if duration <= period:
        scale = duration / period
        return [{**inc, "start": inc["start"] * scale, "duration": inc["duration"] * scale} for inc in incidents]
    copies = []
    for k in range(int(math.ceil(duration / period))):
        copies += [{**inc, "start": inc["start"] + k * period} for inc in incidents
                   if inc["start"] + k * period < duration]
    return copies


def measure(workload: str, n: int, seed: int) -> dict:
    """Run one configuration in a fresh interpreter and return what :func:`child` measured."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", workload, str(n), str(seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed: {' '.join(cmd)}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def medians(runs: list[dict]) -> dict:
    """Median of each numeric field over repeated runs; the list of runs kept under ``runs``."""
    keys = ("wall_s", "attempts", "peak_mib", "success_rate", "amplification", "p99_s", "requests")
    out = {k: statistics.median(r[k] for r in runs) for k in keys}
    out["aps"] = statistics.median(r["attempts"] / r["wall_s"] for r in runs)
    out["runs"] = runs
    return out


def machine() -> str:
    """``uname -a``, CPU count and Python version, one line each."""
    uname = " ".join(platform.uname())
    return (f"- machine: `{uname}`\n- cpus: {os.cpu_count()}\n"
            f"- python: {platform.python_version()} ({platform.python_implementation()})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", nargs=3, metavar=("WORKLOAD", "N", "SEED"), help=argparse.SUPPRESS)
    p.add_argument("--requests", type=int, nargs=2, metavar=("SMALL", "LARGE"), default=None,
                   help="the two sizes, in requests (default 100000 1000000)")
    p.add_argument("--quick", action="store_true", help="20k and 200k requests")
    # Five same-seed pairs: with three, the median ratio of the 100k runs (0.15-0.3 s each) moved by 0.2 between
    # two quiet runs of the same code (benchmarks/RESULTS.md, 2026-12-03 14:57 and 15:02).
    p.add_argument("--repeat", type=int, default=5, help="runs per configuration (seeds 0..repeat-1)")
    p.add_argument("--baseline-repeat", type=int, default=3,
                   help="runs of the plain SimPy baseline (seeds 0..N-1, at most --repeat): its ratio is far from "
                        "its target and each 1M run takes ~13 s")
    p.add_argument("--no-baseline-large", action="store_true", help="skip the baseline at the large size")
    p.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/RESULTS.md alone")
    p.add_argument("--summary-requests", type=int, nargs=2, metavar=("SMALL", "LARGE"),
                   default=(1_000_000, 10_000_000), help="summary-mode sizes (default 1000000 10000000)")
    p.add_argument("--no-summary", action="store_true", help="skip the summary-mode memory check")
    p.add_argument("--no-user", action="store_true",
                   help="skip the user-facing checks (resilsim run, explorer, sweeps, streaming; about 3 minutes)")
    args = p.parse_args(argv)

    if args.child:
        w, n, seed = args.child
        print(json.dumps(child(w, int(n), int(seed))))
        return 0

    # resilsim's bytecode written first, as a user's first run writes it: where PYTHONDONTWRITEBYTECODE is set
    # (this VM sets it), every measured run would compile the changed modules again (0.06-0.08 s before the fork).
    compileall.compile_dir(str(ROOT / "resilsim"), quiet=1)
    small, large = args.requests or ((20_000, 200_000) if args.quick else (100_000, 1_000_000))
    t_start = time.perf_counter()
    res: dict = {}
    # The empty runs first; then, per size, the workloads interleaved seed by seed (baseline, floor, resilsim,
    # all-features with seed 0, then with seed 1, ...), so a slow spell on a shared machine lands on all three
    # alike and the ratios below compare runs taken side by side.
    blocks = [[("empty", 0, 0)], [("empty-baseline", 0, 0)]]
    for n in (small, large):
        workloads = [w for w in ("baseline", "floor", "resilsim", "all-features")
                     if not (w == "baseline" and n == large and args.no_baseline_large)]
        blocks.append([(w, n, seed) for seed in range(args.repeat) for w in workloads
                       if w != "baseline" or seed < args.baseline_repeat])
    s_small, s_large = args.summary_requests
    if not args.no_summary:
        # One run at the large summary size: its peak RSS barely varies, and each run takes minutes.
        blocks += [[("summary", s_small, seed) for seed in range(args.repeat)], [("summary", s_large, 0)]]
    for block in blocks:
        runs: dict = {}
        for w, n, seed in block:
            runs.setdefault((w, n), []).append(measure(w, n, seed))
        for (w, n), rs in runs.items():
            res[(w, n)] = m = medians(rs)
            print(f"  {w:<13} N={n:>9,}  wall {m['wall_s']:8.3f} s  {m['aps']:>11,.0f} attempts/s  "
                  f"peak {m['peak_mib']:7.1f} MiB", file=sys.stderr, flush=True)

    lines = ["| workload | N requests | wall s (median) | attempts/s | peak MiB | success rate | amplification | p99 s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for (w, n), m in res.items():
        if w.startswith("empty"):
            continue
        lines.append(f"| {w} | {n:,} | {m['wall_s']:.3f} | {m['aps']:,.0f} | {m['peak_mib']:.1f} | "
                     f"{m['success_rate']:.5f} | {m['amplification']:.4f} | {m['p99_s']:.4f} |")

    def ratio_row(name, value, target, better="<="):
        ok = value >= target if better == ">=" else value <= target
        return f"| {name} | {value:.2f} | {better} {target} | {'yes' if ok else 'NO'} |"

    def paired(a: str, b: str, n: int) -> float:
        # The median over seeds of (b's seconds per attempt) / (a's), each pair run one after the other.
        return statistics.median((rb["wall_s"] / rb["attempts"]) / (ra["wall_s"] / ra["attempts"])
                                 for ra, rb in zip(res[(a, n)]["runs"], res[(b, n)]["runs"]))

    ratios = ["| ratio | measured | target | met |", "|---|---:|---:|---|"]
    for n in (small, large):
        if ("baseline", n) in res:
            ratios.append(ratio_row(f"speed-up vs baseline, attempts/s, N={n:,}",
                                    paired("resilsim", "baseline", n), TARGET_SPEEDUP, ">="))
    # The floor's own growth beside it: what the machine (caches, memory) adds at the larger size, whatever runs.
    floor_growth = (f"; the floor's {res[('floor', large)]['wall_s'] / res[('floor', small)]['wall_s']:.2f}"
                    if ("floor", large) in res and ("floor", small) in res else "")
    ratios.append(ratio_row(f"time({large:,}) / time({small:,}), resilsim{floor_growth}",
                            res[("resilsim", large)]["wall_s"] / res[("resilsim", small)]["wall_s"],
                            TARGET_LINEAR * large / small / 10))
    floor = res[("empty", 0)]["peak_mib"]
    floors = {"resilsim": floor, "baseline": res[("empty-baseline", 0)]["peak_mib"]}
    for w in ("resilsim", "baseline"):
        if (w, large) in res:
            m, floor_w = res[(w, large)], floors[w]
            ratios.append(ratio_row(f"bytes per recorded attempt, {w}, N={large:,} (peak RSS over empty run{'; both tables built' if w == 'resilsim' else ''})",
                                    (m["peak_mib"] - floor_w) * 2 ** 20 / m["attempts"], TARGET_BYTES))
            if w == "resilsim":
                only = statistics.median(r["attempt_table_peak_mib"] for r in m["runs"])
                ratios.append(ratio_row("same, attempt table only (the requests table, built on first use, not asked for)",
                                        (only - floor_w) * 2 ** 20 / m["attempts"], TARGET_BYTES))
                core_mib = statistics.median(r["core_peak_mib"] for r in m["runs"])
                ratios.append(ratio_row("same, simulation only (peak before the pandas tables are built)",
                                        (core_mib - res[("empty", 0)]["runs"][0]["core_peak_mib"]) * 2 ** 20
                                        / m["attempts"], TARGET_BYTES))
    for n in (small, large):
        if ("floor", n) in res:
            ratios.append(ratio_row(f"reference (resilsim) cost per attempt / the bare heapq loop's, N={n:,}",
                                    paired("floor", "resilsim", n), TARGET_FLOOR))
    for n in (small, large):
        ratios.append(ratio_row(f"all-features (with breaker and retry budget) cost per attempt / reference, N={n:,}",
                                paired("resilsim", "all-features", n), TARGET_FEATURES))
    if ("summary", s_large) in res:
        def peak(n, key):
            return statistics.median(r[key] for r in res[("summary", n)]["runs"])
        for key, what in (("summary_peak_mib", "simulate + summary()"), ("timeline_peak_mib", "and the timeline")):
            if key == "timeline_peak_mib" and "timeline_mib" in res[("summary", s_large)]["runs"][0]:
                # The timeline is output with a row per bin: it grows with the duration by design.
                what += (f", a frame of {peak(s_large, 'timeline_mib'):.1f} / {peak(s_small, 'timeline_mib'):.1f} "
                         f"MiB itself")
            ratios.append(ratio_row(f"summary mode peak RSS N={s_large:,} / N={s_small:,} ({what}: "
                                    f"{peak(s_large, key):.1f} / {peak(s_small, key):.1f} MiB)",
                                    peak(s_large, key) / peak(s_small, key), TARGET_SUMMARY_GROWTH))
    if not args.no_user:
        u = user_waits(args.quick)
        r = u["run"]
        ratios.append(ratio_row(f"`resilsim run` wall / simulate() wall ({Path(r['scenario']).name}, seed {r['seed']}, "
                                f"median of {r['rounds']} rounds: {r['run_s']:.2f} / {r['simulate_s']:.2f} s; CPU "
                                f"{r['run_cpu_s']:.2f} / {r['simulate_cpu_s']:.2f} s = {r['cpu_ratio']:.2f})",
                                r["ratio"], TARGET_RUN))
        e = u["explorer"]
        ratios.append(ratio_row(f"explorer redraw per slider change, s ({e['preview']:g} s preview, median of "
                                f"{e['changes']} changes; CPU {e['redraw_cpu_s']:.3f} s; simulate alone "
                                f"{e['simulate_s']:.3f} s)", e["redraw_s"], TARGET_REDRAW))
        for key, target in (("sweep_short", TARGET_SWEEP_SHORT), ("sweep_long", TARGET_SWEEP_LONG)):
            sw = u[key]
            one = sw["rows"][0]
            if key == "sweep_short":
                two = next((row for row in sw["rows"] if row["workers"] == 2), None)
                if two is None:
                    continue  # one core: nothing to scale onto
                ratios.append(ratio_row(f"sweep runs/s, 2 workers / 1 ({sw['runs']} runs of {sw['duration']:g} "
                                        f"simulated s, {one['s_per_run']:.2f} s each)", two["scaling"], target, ">="))
            else:
                every = sw["rows"][-1]
                ratios.append(ratio_row(f"sweep runs/s, {every['workers']} workers / 1, per core ({sw['runs']} runs "
                                        f"of {sw['duration']:g} simulated s, {one['s_per_run']:.2f} s each)",
                                        every["scaling"] / every["workers"], target, ">="))
        st = u["stream"]
        ratios.append(ratio_row(f"streamed run (--stream) peak RSS N={st['large']['requests']:,} / "
                                f"N={st['small']['requests']:,} ({st['large']['peak_mib']:.1f} / "
                                f"{st['small']['peak_mib']:.1f} MiB)", st["ratio"], TARGET_STREAM))
    cmd = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report = "\n".join([
        f"## Benchmark ({now})", "", f"Command: `{cmd.strip()}` ({args.repeat} runs per configuration, the baseline "
        f"{min(args.baseline_repeat, args.repeat)}, "
        f"seeds interleaved; medians; each run a fresh subprocess; speed ratios are medians of the ratios of "
        f"runs taken side by side with the same seed; empty-run RSS floor {floor:.1f} MiB (baseline's "
        f"{floors['baseline']:.1f}); harness took {time.perf_counter() - t_start:.0f} s).", "", machine(), "",
        *lines, "", *ratios, ""])
    print(report)
    if not args.no_write:
        write_results(report)
    return 0


def write_results(report: str) -> None:
    """Replace the benchmark section of benchmarks/RESULTS.md (between markers), keeping the rest."""
    path = HERE / "RESULTS.md"
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    text = path.read_text() if path.exists() else f"# Benchmark results\n\n{start}\n{end}\n"
    if start not in text:
        text += f"\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1] if end in rest else ""
    path.write_text(f"{head}{start}\n{report}\n{end}{tail}")


if __name__ == "__main__":
    sys.exit(main())
