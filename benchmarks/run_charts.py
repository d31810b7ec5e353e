"""CPU seconds of each chart `resilsim run` writes: building the figure, then `savefig` (layout, drawing, PNG).

Simulates the scenario once, builds every table first (so that no chart pays for them), then draws
each chart of :func:`resilsim.plots.save_charts` ``--rounds`` times into memory and prints the
median CPU seconds (process time: steadier than the wall clock on a shared machine) per chart and
in all, the first round left out (imports, font cache).

Usage::

    MPLBACKEND=Agg python benchmarks/run_charts.py                                    # aurora scale-up
    MPLBACKEND=Agg python benchmarks/run_charts.py scenarios/strategies-through-an-outage.yaml --rounds 5
"""
from __future__ import annotations

import argparse
import io
import statistics
import time


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="scenarios/analytics-aurora-scale-up.yaml")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=4, help="rounds drawn (the first is not counted)")
    ap.add_argument("--label", default="", help="a word printed at the start of every line (e.g. before, after)")
    a = ap.parse_args(argv)

    import matplotlib

    from resilsim import plots
    from resilsim.scenario import load_scenario
    from resilsim.sim import simulate

    r = simulate(load_scenario(a.scenario), seed=a.seed)
    r.summary(), r.requests, r.attempts, r.timeline  # built before any chart is timed
    runs = getattr(plots, "run_charts", None)
    charts = runs(r) if runs else list(plots.CHARTS)
    times: dict = {}
    with matplotlib.rc_context({"figure.dpi": 110}):
        for i in range(max(a.rounds, 2)):
            for name, fn in charts:
                c0 = time.process_time()
                fig = plots.chart_figure(r, name, fn)
                c1 = time.process_time()
                fig.savefig(io.BytesIO(), format="png", pil_kwargs={"compress_level": 3})
                c2 = time.process_time()
                if i:
                    times.setdefault(name, []).append((c1 - c0, c2 - c1))
    total_build = total_save = 0.0
    for name, v in times.items():
        build, save = statistics.median(b for b, _ in v), statistics.median(s for _, s in v)
        total_build, total_save = total_build + build, total_save + save
        print(f"{a.label} {name:22s} build {build:.3f} s, savefig {save:.3f} s CPU")
    print(f"{a.label} all charts: build {total_build:.3f} s, savefig {total_save:.3f} s, together "
          f"{total_build + total_save:.3f} s CPU (medians of {max(a.rounds, 2) - 1} rounds, {a.scenario})")


if __name__ == "__main__":
    main()
