"""How much common random numbers across grid points sharpen a sweep's differences.

For two neighbouring grid points v1 and v2, a sweep estimates the difference D = m(v2) − m(v1) of a
metric m. With independent seeds Var(D) = Var(m1) + Var(m2); with common seeds (replication r of
both points on the same seed: ``sweep(..., common_seeds=True)``) the covariance of the two runs is
subtracted. This script runs R replications of both points under both schemes and prints, per
strategy, the sample variance of D_r under each and their ratio (the variance reduction: how many
times more replications independent seeds need for the same precision of a difference).

    .venv/bin/python benchmarks/crn_variance.py --replications 12
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from resilsim import load_scenario, sweep

ROOT = Path(__file__).resolve().parent.parent

#: (scenario, varied key, the two values, metric, overrides that keep each run short)
CASES = [
    ("scenarios/analytics-aurora-scale-up.yaml", "service.workers", (40, 44), "success_rate",
     {"duration": 600, "warmup": 120}),
    ("scenarios/counters-rate-limited.yaml", "service.rate_limit.token_bucket.rate", (50, 55), "success_rate",
     {"duration": 300, "warmup": 60}),
]


def differences(scenario, key, values, metric, replications, common):
    """Per strategy, the replications' differences m(v2) − m(v1) (array of length ``replications``)."""
    df = sweep(scenario, {key: list(values)}, replications=replications, seed=11, common_seeds=common,
               progress=False)
    out = {}
    for name, g in df.groupby("strategy"):
        wide = g.pivot_table(index="replication", columns=key, values=metric)
        out[name] = (wide[values[1]] - wide[values[0]]).to_numpy()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=12)
    args = ap.parse_args(argv)
    print(f"{'scenario':34} {'strategy':16} {'Var(D) indep':>13} {'Var(D) common':>13} {'reduction':>9}")
    for path, key, values, metric, over in CASES:
        scenario = load_scenario(ROOT / path, overrides=over)
        t0 = time.perf_counter()
        indep = differences(scenario, key, values, metric, args.replications, False)
        common = differences(scenario, key, values, metric, args.replications, True)
        for name in indep:
            vi, vc = np.var(indep[name], ddof=1), np.var(common[name], ddof=1)
            ratio = vi / vc if vc > 0 else float("inf")
            print(f"{Path(path).stem:34} {name:16} {vi:13.3e} {vc:13.3e} {ratio:9.1f}")
        print(f"  ({key} {values[0]} → {values[1]}, {metric}, {args.replications} replications, "
              f"{time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
