"""Strategies on the same random numbers, checked across strategies (not a run against itself).

Prints, per strategy, the requests of simulate() for an int seed, a SeedSequence and None; whether a
reversed subset of strategies gives the same rows as the full run, in simulate() and in sweep(); and
plan()'s requests per worker count and replication. Every strategy's count must be equal. Run from the
repository root: ``.venv/bin/python tools/checks/common_random_numbers.py`` (about a minute).
"""
import numpy as np
from resilsim import load_scenario, simulate, sweep, plan

PATH = "scenarios/strategies-through-an-outage.yaml"
SHORT = {"duration": 200}
sc = load_scenario(PATH, overrides=SHORT)
names = list(sc.strategies)
print("strategies:", names)

def counts(summary):
    s = summary.reset_index() if "strategy" not in summary.columns else summary
    return dict(zip(s["strategy"], s["requests"]))

for seed in (3, np.random.SeedSequence(3), None):
    r = simulate(sc, seed=seed)
    print("simulate seed", type(seed).__name__, counts(r.summary()))

fwd = simulate(sc, seed=5, strategies=names).summary()
sub = names[::-1][:3]
rev = simulate(sc, seed=5, strategies=sub).summary()
f = fwd.set_index("strategy") if "strategy" in fwd.columns else fwd
r_ = rev.set_index("strategy") if "strategy" in rev.columns else rev
print("simulate: reversed subset", sub, "rows identical to the full run's:", f.loc[sub].equals(r_.loc[sub]))

df = sweep(sc, grid={"service.workers": [8]}, replications=2, seed=1, progress=False, workers=1)
print("sweep requests per (replication, strategy):")
print(df.pivot_table(index="replication", columns="strategy", values="requests").to_string())
df2 = sweep(sc, grid={"service.workers": [8]}, replications=2, seed=1, progress=False, workers=1,
            strategies={n: sc.strategies[n] for n in sub})
a = df.set_index(["replication", "strategy"]).sort_index()
b = df2.set_index(["replication", "strategy"]).sort_index()
cols = [c for c in ("requests", "amplification", "success_rate", "p99_s") if c in b.columns]
print("sweep: reversed subset rows equal:", a.loc[b.index, cols].equals(b[cols]))

p = plan(sc, vary="service.workers", over=(4, 16), slo={"success_rate": ">=0.5"}, replications=2, seed=2)
print([a for a in dir(p) if not a.startswith("_")])
ev = p.runs; print(list(ev.columns))
print(ev.pivot_table(index=["value", "replication"] if "value" in ev.columns else ["service.workers", "replication"], columns="strategy", values="requests").head(8).to_string())
r = simulate(sc, seed=None)
print("seed=None reported as:", r.seed)
