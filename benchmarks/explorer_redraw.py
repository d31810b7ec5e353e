"""How long the notebook explorer takes to redraw after a control changes (wall seconds, headless).

Builds the explorer over a scenario without its first run, runs the first
preview (imports and caches warm), then sets the workers and load sliders in
turn ``--changes`` times, timing each ``.value = ...`` (the callback
simulates the preview and redraws every chart before it returns). Prints
each change's wall and CPU seconds (CPU time is steadier on a shared
machine) and their medians, and the median of ``simulate`` alone for the
same preview, wall and CPU (the part no drawing change can remove).

Usage::

    PYTHONPATH=. MPLBACKEND=Agg python benchmarks/explorer_redraw.py
    PYTHONPATH=. MPLBACKEND=Agg python benchmarks/explorer_redraw.py scenarios/metastable-retry-storm.yaml --changes 9
    PYTHONPATH=. MPLBACKEND=Agg python benchmarks/explorer_redraw.py --processes auto   # strategies side by side

``--processes`` is the explorer's (0: strategies simulated in this process, the default of
``build_explorer``; ``auto``: a worker process per core, ``explore(..., processes=None)``).
"""
from __future__ import annotations

import argparse
import statistics
import time


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="scenarios/analytics-aurora-scale-up.yaml")
    ap.add_argument("--preview", type=float, default=60.0, help="preview length (simulated seconds)")
    ap.add_argument("--changes", type=int, default=8, help="slider changes timed (at least 5)")
    ap.add_argument("--processes", default="0", help="worker processes for the preview's strategies (0, N or auto)")
    ap.add_argument("--json", metavar="PATH", help="also write the medians to PATH as JSON")
    a = ap.parse_args(argv)

    from resilsim import simulate
    from resilsim.widgets import build_explorer

    processes = None if a.processes == "auto" else int(a.processes)
    ex = build_explorer(a.scenario, preview=a.preview, run=False, processes=processes)
    ex.run()
    c = ex.controls
    workers, load = c["workers"].value, c["load"].value
    times, cpu, sim, sim_cpu = [], [], [], []
    for i in range(max(a.changes, 5)):
        knob, value = (("workers", workers + (i // 2 + 1) * (-1) ** i) if i % 2 == 0
                       else ("load", round(load * (1 + 0.05 * (i // 2 + 1)), 1)))
        t0, c0 = time.perf_counter(), time.process_time()
        c[knob].value = value
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        print(f"{knob}={value}: {times[-1]:.3f} s wall, {cpu[-1]:.3f} s CPU")
        t0, c0 = time.perf_counter(), time.process_time()
        simulate(ex.scenario(), seed=ex.seed, strategies=ex._names, record=getattr(ex, "preview_record", "full"))
        sim.append(time.perf_counter() - t0)
        sim_cpu.append(time.process_time() - c0)
    assert ex.runs == len(times) + 1, "every change must have re-run the preview"
    ex.close()
    print(f"median redraw: {statistics.median(times):.3f} s wall, {statistics.median(cpu):.3f} s CPU (this process) "
          f"over {len(times)} changes ({a.scenario}, {a.preview:g} s preview, processes={a.processes}); "
          f"simulate alone: {statistics.median(sim):.3f} s wall, {statistics.median(sim_cpu):.3f} s CPU")
    if a.json:
        import json
        from pathlib import Path
        Path(a.json).write_text(json.dumps({"scenario": a.scenario, "preview": a.preview, "changes": len(times),
                                            "redraw_s": statistics.median(times), "redraw_cpu_s": statistics.median(cpu),
                                            "simulate_s": statistics.median(sim),
                                            "simulate_cpu_s": statistics.median(sim_cpu)}))


if __name__ == "__main__":
    main()
