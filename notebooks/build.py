"""Generate the tutorial notebooks from this file, so they stay reviewable as plain Python.

    python notebooks/build.py        # rewrites notebooks/*.ipynb, outputs empty

Each notebook has a ``parameters`` cell (papermill's tag) with small values
so the test suite runs it top to bottom quickly; raise them for real work.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
from pathlib import Path
import matplotlib.pyplot as plt
import resilsim
from resilsim import plots

# The scenarios directory, whether the notebook runs from notebooks/ or the repository root.
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "scenarios").is_dir())"""


def params(src: str):
    cell = new_code_cell(src)
    cell.metadata["tags"] = ["parameters"]
    return cell


def md(src: str):
    return new_markdown_cell(src)


def code(src: str):
    return new_code_cell(src)


def quickstart():
    return [
        md("# resilsim quick start\n\nRun a scenario, read the summary table and the charts. "
           "A *request* is what a client wants done; each try is an *attempt*; a *strategy* is how "
           "the client retries."),
        params('SCENARIO = "scenarios/analytics-aurora-scale-up.yaml"\nDURATION = 400  # seconds simulated\nSEED = 0'),
        code(SETUP),
        code("scenario = resilsim.load_scenario(ROOT / SCENARIO)\n"
             "scenario = resilsim.with_overrides(scenario, {'duration': min(DURATION, scenario.duration)})\n"
             "print(scenario.name, '-', scenario.description)\n"
             "print('strategies:', ', '.join(scenario.strategies))"),
        md("`simulate` runs every strategy on the same random numbers (common random numbers), so "
           "differences between rows are the strategies', not the dice's."),
        code("result = resilsim.simulate(scenario, seed=SEED)\nresult"),
        md("## The summary\n\n`success_rate` is of requests arriving in the measurement window; latencies "
           "are of successful requests in seconds; `amplification` is attempts per request: the load the "
           "service sees for each request the clients want done."),
        code("result.summary()"),
        md("## Charts\n\nEach chart function takes `ax=None` and returns the Axes, so they compose "
           "into your own figures. Incident windows are shaded."),
        code("fig, axes = plt.subplots(2, 1, figsize=(9, 7), layout='constrained')\n"
             "plots.success_over_time(result, ax=axes[0])\nplots.load_over_time(result, ax=axes[1]);"),
        code("fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout='constrained')\n"
             "plots.latency_cdf(result, ax=axes[0])\nplots.outcomes_by_strategy(result, ax=axes[1]);"),
        code("plots.latency_bands(result);"),
        code("plots.errors_over_time(result, strategy=list(result.strategies)[-1]);"),
        md("## The raw tables\n\n`requests` (one row per request), `attempts` (one per attempt) and "
           "`timeline` (one per strategy and time bin) are tidy DataFrames: group by `strategy`."),
        code("result.requests.head()"),
        code("result.timeline.groupby('strategy', observed=True)[['offered_rps', 'attempts_rps']].mean()"),
        md("## Explore interactively\n\n`resilsim.widgets.explore(scenario)` shows sliders for load, workers, "
           "the rate limit, an incident and the strategies; moving one re-runs a short preview."),
        code("from resilsim.widgets import explore\n"
             "panel = explore(scenario, preview=min(60, scenario.duration), seed=SEED)\npanel"),
        code("plt.close('all')"),
    ]


def comparing():
    return [
        md("# Comparing strategies through an outage\n\n"
           "Part 1: the API's documented retry advice (a *doc preset*) against no retries, immediate "
           "retries, and exponential backoff with full jitter, through the scenario's incidents.\n\n"
           "Part 2: the metastable-failure story: a short load spike tips a single-worker service into "
           "overload, and retrying clients keep it there long after the spike has ended."),
        params('OUTAGE = "scenarios/analytics-aurora-scale-up.yaml"\nOUTAGE_DURATION = 400  # seconds\n'
               'METASTABLE = "scenarios/metastable-retry-storm.yaml"\nSEED = 0'),
        code(SETUP),
        md("## Part 1: strategies through an outage\n\nWe add three strategies to the scenario's own, "
           "so all run on the same arrivals and faults."),
        code("base = resilsim.load_scenario(ROOT / OUTAGE)\n"
             "extra = {\n"
             "    'strategies.no-retry.retry': 'none',\n"
             "    'strategies.immediate.retry': 'immediate',\n"
             "    'strategies.backoff-full-jitter.retry.wait.exponential.base': 0.2,\n"
             "    'strategies.backoff-full-jitter.retry.wait.exponential.cap': 10,\n"
             "    'strategies.backoff-full-jitter.retry.jitter': 'full',\n"
             "    'strategies.backoff-full-jitter.retry.stop.attempts': 5,\n"
             "    'duration': min(OUTAGE_DURATION, base.duration),\n"
             "}\n"
             "outage = resilsim.with_overrides(base, extra)\n"
             "print(list(outage.strategies))\n"
             "res = resilsim.simulate(outage, seed=SEED)\n"
             "res.summary()[['success_rate', 'p99_s', 'amplification', 'goodput_rps', 'wasted_s']]"),
        code("fig, axes = plt.subplots(3, 1, figsize=(9, 10), layout='constrained')\n"
             "plots.success_over_time(res, ax=axes[0])\nplots.load_over_time(res, ax=axes[1])\n"
             "plots.outcomes_by_strategy(res, ax=axes[2]);"),
        md("**What this shows:** during the incident, `immediate` multiplies the attempts the service sees "
           "(amplification) without raising the success rate much; backoff with jitter spreads the retries "
           "out, so more of them land after the incident. The table's `amplification` and `wasted_s` "
           "columns put numbers on it.\n\n"
           "Retry budgets and circuit breakers (issue 2, guards) plug in as more strategies here once "
           "the scenario schema has them; this notebook does not show them yet."),
        md("## Part 2: the metastable failure\n\n"
           "One worker serving 10 requests/s, base load 2/s, clients time out after 0.5 s. A 10 s spike "
           "to 20/s fills the queue. Without retries the queue drains after the spike. With 5 immediate "
           "retries on timeout, every request sends 6 attempts once waits exceed the timeout: "
           "2/s × 6 = 12/s against a capacity of 10/s, so the overload *sustains itself* after the "
           "trigger is gone."),
        code("meta = resilsim.load_scenario(ROOT / METASTABLE)\nprint(meta.description)\n"
             "m = resilsim.simulate(meta, seed=SEED)\n"
             "m.summary()[['success_rate', 'amplification', 'goodput_rps', 'recovery_s']]"),
        code("fig, axes = plt.subplots(2, 1, figsize=(9, 7), layout='constrained')\n"
             "plots.success_over_time(m, ax=axes[0])\nplots.load_over_time(m, ax=axes[1])\n"
             "for ax in axes:\n"
             "    ax.axvspan(30, 40, color='0.6', alpha=0.3, zorder=0)\n"
             "    ax.text(30, 0.92, ' spike', transform=ax.get_xaxis_transform(), fontsize=8)"),
        md("**What this shows:** the load chart's attempt line for `retry-5-no-backoff` stays far above "
           "the offered load after the spike (30–40 s) ends, and its success rate does not come back; "
           "`no-retries` recovers within seconds (`recovery_s`; NaN means it never recovered). "
           "That is the metastable state: the trigger is gone, the retries are the load."),
        code("if 'queue_length' in m.timeline:\n"
             "    ax = None\n"
             "    fig, ax = plt.subplots(figsize=(9, 3.5), layout='constrained')\n"
             "    for (name, t), ls in zip(m.timeline.groupby('strategy', observed=True), ['-', '--']):\n"
             "        ax.plot(t['time'], t['queue_length'], ls=ls, label=name)\n"
             "    ax.set_xlabel('time (s)'); ax.set_ylabel('queued attempts'); ax.legend()\n"
             "else:\n"
             "    print('this build records no queue length (timeline column queue_length missing)')"),
        code("plt.close('all')"),
    ]


def planning():
    return [
        md("# Capacity planning\n\n"
           "How many workers does the service need so that clients see the SLO, per retry strategy? "
           "First a sweep (every value, several replications, confidence intervals), then `plan` (a "
           "bisection that answers with the least value meeting the SLO at the pessimistic 95% bound)."),
        params('SCENARIO = "scenarios/counters-rate-limited.yaml"\nDURATION = 120  # seconds per run\n'
               'WORKERS = [2, 4, 8]\nREPLICATIONS = 2\nSLO = {"success_rate": ">=0.95"}\n'
               'OVER = (1, 16)\nSEED = 0'),
        code(SETUP),
        code("scenario = resilsim.load_scenario(ROOT / SCENARIO)\n"
             "scenario = resilsim.with_overrides(scenario, {'duration': min(DURATION, scenario.duration)})\n"
             "print(scenario.name, '-', scenario.description)"),
        md("## A sweep over workers\n\n`executor='inprocess'` keeps it in this process (small runs); "
           "leave it out to use every core."),
        code("runs = resilsim.sweep(scenario, {'service.workers': WORKERS}, replications=REPLICATIONS, seed=SEED,\n"
             "                      executor='inprocess', progress=False)\n"
             "agg = resilsim.aggregate(runs)\n"
             "agg[['service.workers', 'strategy', 'n', 'success_rate', 'success_rate_ci_low', "
             "'success_rate_ci_high', 'p99_s']]"),
        code("fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout='constrained')\n"
             "cap = f'{scenario.name} · seed {SEED} · {REPLICATIONS} replications'\n"
             "plots.sweep_metric(plots.tidy_sweep(agg, 'success_rate'), ax=axes[0], metric='request success rate',\n"
             "                   xlabel='service.workers', caption=cap)\n"
             "plots.sweep_metric(plots.tidy_sweep(agg, 'p99_s'), ax=axes[1], metric='p99 latency (s)',\n"
             "                   xlabel='service.workers', caption=cap);"),
        md("## The plan answer\n\nThe least number of workers meeting the SLO, per strategy, ready to paste "
           "into a review. A value counts only if its 95% confidence bound meets the SLO."),
        code("p = resilsim.plan(scenario, vary='service.workers', over=OVER, slo=SLO, replications=REPLICATIONS,\n"
             "                  seed=SEED, executor='inprocess')\np"),
        code("plots.plan_answer(p, caption=f'{scenario.name} · seed {SEED}');"),
        md("## Write a report\n\nThe same in one self-contained HTML file: `resilsim report RUN_DIR -o report.html` "
           "after `resilsim run` or `resilsim sweep`."),
        code("plt.close('all')"),
    ]


NOTEBOOKS = {"01-quickstart.ipynb": quickstart, "02-comparing-strategies.ipynb": comparing,
             "03-capacity-planning.ipynb": planning}


def build(out: Path = HERE) -> list[Path]:
    """Write every notebook (no outputs) into ``out``; return the paths."""
    paths = []
    for name, fn in NOTEBOOKS.items():
        nb = new_notebook(cells=fn())
        for i, cell in enumerate(nb.cells):
            cell.id = f"cell-{i:02d}"  # stable ids: a rebuild changes only what changed
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        p = Path(out) / name
        nbformat.write(nb, p)
        paths.append(p)
    return paths


if __name__ == "__main__":
    for p in build():
        print(p)
