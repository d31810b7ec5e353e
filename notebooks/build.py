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
        params('SCENARIO = "scenarios/analytics-aurora-scale-up.yaml"\n'
               'DURATION = 900  # seconds simulated: the whole scenario, incident (300-480 s) and recovery\nSEED = 0'),
        code(SETUP),
        code("scenario = resilsim.load_scenario(ROOT / SCENARIO)\n"
             "scenario = resilsim.with_overrides(scenario, {'duration': min(DURATION, scenario.duration)})\n"
             "print(scenario.name, '-', scenario.description)\n"
             "print('strategies:', ', '.join(scenario.strategies))"),
        md("`simulate` runs every strategy on the same random numbers (common random numbers), so "
           "differences between rows are the strategies', not the dice's."),
        code("result = resilsim.simulate(scenario, seed=SEED)\nresult"),
        md("## The summary\n\n`success_rate` is of requests arriving in the measurement window (after the "
           "warm-up); latencies are of successful requests in seconds; `amplification` is attempts per request: "
           "the load the service sees for each request the clients want done. `recovery_s` is the seconds from "
           "the incident's end until the success rate is back within 1 point of its level before the incident: "
           "0 here, because every strategy is back in the first second after 480 s. It is NaN (not a number) "
           "when a strategy never recovers before the run ends, for instance if `DURATION` stops the run inside "
           "the incident (any value below 480); p50_s to p99_s are NaN only for a strategy without a single "
           "successful request."),
        code("result.summary()"),
        md("## Charts\n\nEach chart function takes `ax=None` and returns the Axes, so they compose "
           "into your own figures. Incident windows are shaded grey, the warm-up (not in the summary) dotted. "
           "The strategies that retry lie on top of each other on the 0-1 scale, so below it one panel per "
           "strategy draws its success rate minus the `none` strategy's, in percentage points (the others in "
           "grey), and its title gives the mean difference in the incident and outside it: during the incident "
           "all three retrying strategies win about 28 points, and none of them clearly beats another."),
        code("fig = plt.figure(figsize=(9, 8), layout='constrained')\n"
             "plots.success_by_strategy(result, fig=fig, baseline='none');"),
        md("**At what cost?** The attempts each strategy sends, one panel each: the black line is what clients want done; "
           "the rest is retries. Full jitter spreads its retries, but sends the most, above the service's "
           "capacity (the dashed line) and its rate limit (dotted) for the whole incident."),
        code("fig = plt.figure(figsize=(9, 7), layout='constrained')\nplots.load_by_strategy(result, fig=fig);"),
        md("**Latency.** The CDFs of the retrying strategies lie on one curve up to about 1 s; their "
           "difference is in the tail, so the left chart draws the fraction of successful requests slower "
           "than each latency on a log axis (`tail=True`): full jitter's slowest 1% wait longest. Beside it, "
           "how each request ended, the cost in attempts under each bar."),
        code("fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout='constrained')\n"
             "plots.latency_cdf(result, ax=axes[0], tail=True)\nplots.outcomes_by_strategy(result, ax=axes[1]);"),
        code("fig = plt.figure(figsize=(9, 7), layout='constrained')\n"
             "plots.latency_bands_by_strategy(result, fig=fig);"),
        md("Which errors did clients see, per strategy? One facet per strategy on the same axes: without "
           "retries only the incident's `ANALYTICS_1900` appears; retrying strategies add the rate limiter's "
           "`ANALYTICS_1701` and the overloaded service's `ANALYTICS_2001`, which their own retries cause."),
        code("fig = plt.figure(figsize=(9, 8), layout='constrained')\nplots.errors_by_strategy(result, fig=fig);"),
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
           "Part 1: seven client strategies through one 60 s database outage: no retries, immediate "
           "retries, the API's documented retry advice (a *doc preset*), exponential backoff with full "
           "jitter, and the same retries behind client-side *guards*: a retry budget, a circuit breaker "
           "and adaptive throttling.\n\n"
           "Part 2: the metastable-failure story: a short load spike tips a single-worker service into "
           "overload, and retrying clients keep it there long after the spike has ended. Then which "
           "guard gets it out."),
        params('OUTAGE = "scenarios/strategies-through-an-outage.yaml"\n'
               'METASTABLE = "scenarios/metastable-retry-storm.yaml"\nSEED = 0'),
        code(SETUP),
        md("## Part 1: strategies through an outage\n\n"
           "The scenario file says what each strategy is and what to look for; every strategy runs on the "
           "same arrivals and faults (common random numbers), so differences are the strategies'."),
        code("outage = resilsim.load_scenario(ROOT / OUTAGE)\nprint(outage.description)\n"
             "for name, st in outage.strategies.items():\n"
             "    guards = ', '.join(st.guards.kinds()) if st.guards else '-'\n"
             "    retry = st.retry if isinstance(st.retry, str) else 'custom backoff'\n"
             "    print(f'{name:18} retry: {retry:16} guards: {guards}')\n"
             "res = resilsim.simulate(outage, seed=SEED)\n"
             "res.summary()[['success_rate', 'p99_s', 'amplification', 'goodput_rps', 'shed', 'recovery_s']]"),
        code("fig = plt.figure(figsize=(9, 11), layout='constrained')\n"
             "plots.success_by_strategy(res, fig=fig, baseline='none');"),
        code("fig = plt.figure(figsize=(9, 10), layout='constrained')\nplots.load_by_strategy(res, fig=fig);"),
        md("**Retries during the outage.** `immediate` and the doc preset (`analytics-docs`: the docs say "
           "*retry* for a database error, with no wait) multiply the attempts the service sees "
           "(`amplification`) above its capacity (the dashed line) and win almost nothing: every retry "
           "meets the same outage. Backoff with full jitter spreads the same retries out but does not "
           "send fewer. The guarded strategies stop the amplification: the budget sends about one attempt "
           "per request, and the breaker and adaptive throttling send *fewer* attempts than requests (their "
           "load line drops to zero during the outage) because they refuse requests locally."),
        code("plots.guards_over_time(res);"),
        md("**The guards at work.** The retry budget (`budgeted`) spends its tokens within seconds of the "
           "outage and refuses retries until successes refill it; the breaker opens, sheds requests "
           "locally (outcome `shed`, no attempt sent) and probes every few seconds; adaptive throttling's "
           "rejection probability climbs as accepts vanish, and because accepts must rebuild after the "
           "outage it lets traffic back slowly: it recovers last (`recovery_s`)."),
        code("plots.outcomes_by_strategy(res);"),
        md("## Part 2: the metastable failure\n\n"
           "One worker serving 10 requests/s, base load 2/s, clients time out after 0.5 s. A 10 s spike "
           "to 20/s (hatched on the charts) fills the queue. Without retries the queue drains after the "
           "spike. With 5 immediate retries on timeout, every request sends 6 attempts once waits exceed "
           "the timeout: 2/s × 6 = 12/s against a capacity of 10/s, so the overload *sustains itself* "
           "after the trigger is gone.\n\n"
           "The scenario ships five strategies: no retries, 5 immediate retries, the same behind a 10% "
           "retry budget (Finagle-style ratio, no floor), and behind the SRE book's adaptive throttling "
           "(K = 2) with its 2-minute window and with a 10 s window. We add two more: the same retries "
           "with backoff and full jitter, and behind a circuit breaker."),
        code("meta = resilsim.load_scenario(ROOT / METASTABLE)\nprint(meta.description)\n"
             "same = {'stop.attempts': 6, 'retry_on.timeouts': True}\n"
             "extra = {}\n"
             "for name, wait in (('retry-5-backoff', {'wait.exponential.base': 0.5, 'wait.exponential.cap': 10,\n"
             "                                        'jitter': 'full'}),\n"
             "                   ('retry-5-breaker', {'wait.none': True})):\n"
             "    extra.update({f'strategies.{name}.retry.{k}': v for k, v in {**same, **wait}.items()})\n"
             "extra.update({'strategies.retry-5-breaker.guards.breaker.failure_rate': 0.5,\n"
             "              'strategies.retry-5-breaker.guards.breaker.window': 20,\n"
             "              'strategies.retry-5-breaker.guards.breaker.minimum_calls': 20,\n"
             "              'strategies.retry-5-breaker.guards.breaker.open_s': 5})\n"
             "meta = resilsim.with_overrides(meta, extra)\n"
             "m = resilsim.simulate(meta, seed=SEED)\n"
             "m.summary()[['success_rate', 'amplification', 'goodput_rps', 'shed', 'recovery_s']]"),
        code("fig = plt.figure(figsize=(9, 12), layout='constrained')\n"
             "plots.success_by_strategy(m, fig=fig, baseline='no-retries');"),
        code("plots.load_over_time(m);"),
        md("**What this shows:** after the spike (30–40 s) ends, the attempt line of `retry-5-no-backoff` "
           "stays above capacity and its success rate does not come back (`recovery_s` is NaN: it never "
           "recovered); `no-retries` recovers within seconds. That is the metastable state: the trigger "
           "is gone, the retries are the load. Backoff with jitter does **not** get out of it: each "
           "attempt still times out in the long queue, so each request still sends 6 attempts, only "
           "later. The retry budget and the breaker do: they cut the retries (or the requests) while "
           "failures dominate, the queue drains, and they recover within seconds of no retries at all. "
           "Adaptive throttling recovers too, but slowly: its rejection probability forgets the spike's "
           "failures only as fast as its window slides, so the book's 2-minute window takes about three "
           "minutes and a 10 s window about half a minute (see `recovery_s`, and docs/validation.md)."),
        code("fig, ax = plt.subplots(figsize=(9, 3.5), layout='constrained')\n"
             "for (name, t), ls in zip(m.timeline.groupby('strategy', observed=True), plots.LINESTYLES):\n"
             "    ax.plot(t['time'], t['queue_length'], ls=ls, label=name)\n"
             "ax.set_xlabel('time (s)'); ax.set_ylabel('queued attempts'); ax.legend(fontsize=8)\n"
             "ax.set_title(f'{meta.name} · seed {SEED}', loc='left', fontsize=9);"),
        code("plt.close('all')"),
    ]


def planning():
    return [
        md("# Capacity planning\n\n"
           "How high must the Counter API's rate limit be so that clients, offering 65 requests/s, see the "
           "SLO, per retry strategy? "
           "First a sweep (every value, several replications, confidence intervals), then `plan` (a "
           "scan of the range, refined where the verdict changes, that answers with the least value from "
           "which every tried value meets the SLO at the pessimistic 95% bound)."),
        params('SCENARIO = "scenarios/counters-rate-limited.yaml"\nDURATION = 120  # seconds per run\n'
               'VARY = "service.rate_limit.token_bucket.rate"  # requests/s the API lets through\n'
               'VALUES = [50, 65, 80]\nREPLICATIONS = 2\nSLO = {"success_rate": ">=0.95"}\n'
               'OVER = (50, 120)\nSEED = 0'),
        code(SETUP),
        code("scenario = resilsim.load_scenario(ROOT / SCENARIO)\n"
             "scenario = resilsim.with_overrides(scenario, {'duration': min(DURATION, scenario.duration)})\n"
             "print(scenario.name, '-', scenario.description)"),
        md("## A sweep over the rate limit\n\n`executor='inprocess'` keeps it in this process (small runs); "
           "leave it out to use every core."),
        code("runs = resilsim.sweep(scenario, {VARY: VALUES}, replications=REPLICATIONS, seed=SEED,\n"
             "                      executor='inprocess', progress=False)\n"
             "agg = resilsim.aggregate(runs)  # numbers: mean, ci_low, ci_high of every metric\n"
             "from resilsim.report import ci_table\n"
             "ci_table(agg)  # the compact view: mean [95% CI] per metric"),
        code("from resilsim.sweep import metric_table  # one metric as the param, strategy, mean, lo, hi table\n"
             "fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout='constrained')\n"
             "cap = f'{scenario.name} · seed {SEED} · {REPLICATIONS} replications'\n"
             "plots.sweep_metric(metric_table(agg, 'success_rate', VARY), ax=axes[0], metric='request success rate',\n"
             "                   xlabel='rate limit (requests/s)', caption=cap)\n"
             "plots.sweep_metric(metric_table(agg, 'amplification', VARY), ax=axes[1], metric='attempts per request',\n"
             "                   xlabel='rate limit (requests/s)', caption=cap);"),
        md("## The plan answer\n\nThe least rate limit meeting the SLO, per strategy, ready to paste "
           "into a review. A value counts only if its 95% confidence bound meets the SLO; `None` means no "
           "value in `OVER` does."),
        code("p = resilsim.plan(scenario, vary=VARY, over=OVER, slo=SLO, replications=REPLICATIONS,\n"
             "                  seed=SEED, executor='inprocess')\np"),
        code("plots.plan_answer(p, caption=f'{scenario.name} · seed {SEED}');"),
        md("## A service behind the API: the database's capacity\n\n"
           "`scenarios/analytics-aurora-db-service.yaml` models Aurora as a service behind the Analytics API "
           "(docs/call-graph.md): during a scale-up 20% of its queries fail and the rest take twice as long; "
           "the API answers ANALYTICS_1900 when its call finally fails. Shortened here (90 s, the scale-up "
           "from 30 to 70 s) to stay quick; `Result.services()` measures what `summary()` does (the run after "
           "the warm-up), so its `amplification` (attempts at aurora per client request) includes the quiet "
           "seconds around the incident (`services(window='incident:aurora-scale-up')`: the scale-up alone). Retries "
           "at both layers (the API retries its call 3 times) against retries only at the edge (1 attempt):"),
        code("AURORA = 'scenarios/analytics-aurora-db-service.yaml'\n"
             "SHORT = {'duration': 90, 'warmup': 10, 'drain': 20,\n"
             "         'faults.incidents.0.start': 30, 'faults.incidents.0.duration': 40}\n"
             "API_ATTEMPTS = 'service.operations.query_metrics.calls.0.retry.stop.attempts'\n"
             "import pandas as pd\n"
             "rows, layered = [], {}\n"
             "for workers in (8, 12):\n"
             "    for retries, attempts in (('edge only', 1), ('both layers', 3)):\n"
             "        s = resilsim.load_scenario(ROOT / AURORA, overrides={**SHORT, 'services.aurora.workers': workers,\n"
             "                                                            API_ATTEMPTS: attempts})\n"
             "        r = layered[workers, retries] = resilsim.simulate(s, seed=SEED)\n"
             "        amp = r.services().query(\"service == 'aurora'\").set_index('strategy')['amplification']\n"
             "        ok = r.summary()['success_rate']\n"
             "        rows += [{'aurora workers': workers, 'retries': retries, 'strategy': k,\n"
             "                  'client success': ok[k], 'attempts at aurora per request': amp[k]} for k in amp.index]\n"
             "pd.DataFrame(rows).round(3)"),
        code("layered[8, 'both layers'].services().round(3)  # per strategy and layer, the API first"),
        code("fig = plt.figure(figsize=(9, 5), layout='constrained')\n"
             "plots.load_by_layer_by_strategy(layered[8, 'both layers'], fig=fig);"),
        md("**Retrying at one layer or both.** With 8 aurora workers the scale-up overloads the database: "
           "its queue fills, queries wait past the API's 1 s call timeout, and retrying at both layers "
           "multiplies aurora's load (each client attempt becomes up to 3 queries: the dashed line above "
           "the black one) without lifting client success, because the extra queries land on the same "
           "full queue. With 12 workers the database keeps up; a failed query is then retried once, "
           "whoever retries it, so both layers cost almost nothing more than the edge alone, and the API's "
           "quick retries turn the `docs` strategy's few exhausted requests into successes. Size the "
           "database first; retry at one layer (the edge) unless the inner retry is cheap and the "
           "callee has headroom. The full-length figures, with more seeds: docs/call-graph.md."),
        md("## Write a report\n\nThe same in one self-contained HTML file (charts embedded, no external "
           "assets), ready to attach to a review. From the command line: `resilsim sweep ... --out DIR`, "
           "`resilsim plan ... --out DIR`, then `resilsim report DIR -o report.html`. From here:"),
        code("import tempfile\nfrom resilsim.report import write_report\nfrom resilsim.sweep import save_plan\n"
             "out = Path(tempfile.mkdtemp())\n"
             "save_plan(p, out, scenario=scenario, seed=SEED, replications=REPLICATIONS)\n"
             "html = write_report(out, out / 'report.html')\n"
             "print(html, f'{html.stat().st_size / 1024:.0f} KiB')"),
        md("## Start from production: fit an access log\n\n"
           "A review starts from yesterday's traffic and the measured latency. `resilsim.fit.fit_log` reads an "
           "access log (CSV: timestamp, latency in seconds, status and/or code) and fits the arrival curve, the "
           "latency distribution (every candidate with its Kolmogorov-Smirnov distance: smaller is closer) and "
           "the per-code error rates; `resilsim fit LOG` does the same from the shell. The log here is synthetic "
           "(`scenarios/data/make_synthetic_log.py`)."),
        code("from resilsim.fit import fit_log\n"
             "fitted = fit_log(ROOT / 'scenarios/data/synthetic-access-log.csv', bin_s=60)\n"
             "print(f'{fitted.requests} requests over {fitted.span_s:.0f} s; latency fits by KS distance:',\n"
             "      ', '.join(f'{f.name} {f.ks:.3f}' for f in fitted.fits))\n"
             "fig, ax = plt.subplots(figsize=(9, 3), layout='constrained')\n"
             "ax.step(fitted.curve_t, fitted.curve_rps, where='post')\n"
             "ax.set(xlabel='time in the log (s)', ylabel='requests/s', title='fitted arrival curve');"),
        md("The fragment below is what goes into a scenario: the curve (written beside it as CSV), the best "
           "latency fit and the error rates. Paste it over a shipped scenario's `clients.arrival`, "
           "`service.operations` and `faults.background`, then plan on it as above."),
        code("print(fitted.fragment('synthetic-access-log.curve.csv', operation='query_metrics'))"),
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
