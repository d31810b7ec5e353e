"""One self-contained HTML report of a run directory or a sweep directory, for a capacity-planning review.

    resilsim report out/ -o report.html

Everything is inline: CSS in a ``<style>`` element, charts as base64 PNG
``data:`` URIs, no JavaScript, no external assets, so the file opens offline
and can be attached to a review as it is.

A *run directory* is what ``resilsim run --out DIR`` writes (summary.csv,
the timeline, requests and attempts tables as Parquet or CSV, and scenario.yaml + run.json with
the seed and the list of files with their checksums: a folder that is
incomplete or mixes two runs is refused); a *sweep directory* is a :mod:`resilsim.sweep.store` results directory
(manifest.json, runs/). A plan answer is included when given
(:func:`write_report`'s ``plan``) or stored as ``plan.json`` in the directory.
"""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import pandas as pd

from . import metrics
from .errors import ResilsimError
from .result import ROW_TABLES, TABLE_FORMATS

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.6em}
.meta{color:#555;font-size:.95em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right}th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.6em;font-size:.8em;overflow-x:auto}
.wide{overflow-x:auto;max-width:100%}details summary{cursor:pointer;color:#555}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
.answer{background:#eef6ee;border-left:4px solid #4a4;padding:.5em 1em}
"""


def _png(draw, figsize=(9, 4)) -> str:
    """Render ``draw(ax)`` off-screen and return an ``<img>`` with the PNG inline (base64)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained", dpi=100)
    draw(fig.add_subplot())
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="chart" src="data:image/png;base64,{data}">'


def _figure(title: str, draw, caption: str = "", figsize=(9, 4)) -> str:
    try:
        img = _png(draw, figsize)
    except Exception as e:  # one chart that cannot be drawn must not lose the whole report
        img = f"<p><i>chart not drawn: {html.escape(type(e).__name__)}: {html.escape(str(e))}</i></p>"
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f"<figure><h3>{html.escape(title)}</h3>{img}{cap}</figure>"


def _table(df: pd.DataFrame, index: bool = True) -> str:
    """An HTML table that scrolls sideways inside its box instead of running off the page."""
    return ("<div class='wide'>" + df.to_html(index=index, float_format=lambda v: f"{v:.4g}", na_rep="–", border=0)
            + "</div>")


#: The run summary's columns, in two tables: the figures a review reads, then the outcome counts.
KEY_COLUMNS = ("requests", "success_rate", "p50_s", "p95_s", "p99_s", "amplification", "goodput_rps",
               "wasted_s", "recovery_s")


def _summary_tables(summary: pd.DataFrame) -> str:
    summary = summary.rename_axis(None)  # no separate header row for the index name
    key = [c for c in KEY_COLUMNS if c in summary]
    rest = [c for c in summary.columns if c not in key and c != "mean_attempts"]
    out = _table(summary[key])
    if rest:
        out += "<p class='meta'>Final outcome of each measured request:</p>" + _table(summary[rest])
    return out


def _policy_text(policy) -> str:
    """A strategy's flat policy description as ``key: value`` pairs (a dict), or as given."""
    if isinstance(policy, dict):
        return " · ".join(f"{k}: {v}" for k, v in policy.items())
    return str(policy)


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


# ---------------------------------------------------------------- run directory

#: The files of a run directory the report reads (besides run.json): each row table as Parquet or CSV.
RUN_FILES = ("summary.csv", *(f"{t}.{f}" for t in ROW_TABLES for f in TABLE_FORMATS), "scenario.yaml")


def _read_table(path: Path, name: str) -> pd.DataFrame | None:
    """The row table ``name`` of the run folder ``path`` from its Parquet or CSV file; None when it has neither."""
    if (path / f"{name}.parquet").exists():
        return pd.read_parquet(path / f"{name}.parquet")
    p = path / f"{name}.csv"
    if not p.exists():
        return None
    if name == "requests":  # an empty code is a success, not a missing value
        return pd.read_csv(p, keep_default_na=False, na_values=[""], dtype={"code": str})
    return pd.read_csv(p, dtype={"code": str}) if name == "attempts" else pd.read_csv(p)


def _run_result(path: Path, meta: dict):
    """Rebuild a :class:`~resilsim.Result` from a run directory's tables (for the charts); ``meta``: its run.json."""
    from .result import Result
    from .scenario import load_scenario

    scenario = load_scenario(path / "scenario.yaml")
    seed = meta.get("seed", "?")
    req, att, tl = (_read_table(path, name) for name in ROW_TABLES)
    names = list(pd.read_csv(path / "summary.csv")["strategy"])
    for df in (req, att):
        if df is not None:
            df["code"] = df["code"].fillna("")
    windows = [tuple(w) for w in meta.get("windows", [])]
    strategies = meta.get("strategies") or {n: "" for n in names}
    return Result(scenario, seed, req, att, tl, windows, strategies, {})


def run_report(path: Path) -> tuple[str, list[str]]:
    """The title and HTML body parts for a run directory."""
    from . import plots
    from .scenario import dump_scenario
    from .run_folder import check_run_dir

    meta = check_run_dir(path, RUN_FILES)
    if not (path / "scenario.yaml").exists():
        raise ResilsimError(f"{path}: no scenario.yaml; rerun `resilsim run --out {path}` with this version "
                            "so the report knows the scenario")
    summary = pd.read_csv(path / "summary.csv", index_col=0)
    result = _run_result(path, meta)
    s = result.scenario
    title = f"resilsim report: {s.name}"
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='meta'>api <b>{html.escape(s.api)}</b> · seed <b>{html.escape(str(result.seed))}</b> · "
            f"{s.duration:g} s simulated, measured after a {s.warmup:g} s warm-up · "
            f"{len(summary)} strategies</p>"]
    if s.description:
        body.append(f"<p>{html.escape(s.description)}</p>")
    body.append("<h2>Summary</h2><p class='meta'>One simulation run (no replications, so no confidence "
                "intervals: run a sweep with replications for those). Latencies in seconds, of successful "
                "requests; amplification = attempts ÷ requests.</p>")
    body.append(_summary_tables(summary))
    body.append("<h2>Strategies</h2><table><tr><th>strategy</th><th style='text-align:left'>policy</th></tr>"
                + "".join(f"<tr><td>{html.escape(str(k))}</td><td style='text-align:left'>"
                          f"{html.escape(_policy_text(v))}</td></tr>" for k, v in result.strategies.items())
                + "</table>")
    body.append("<h2>Charts</h2>")
    shade = "Grey: incident windows; hatched: load changes."
    if result.timeline is not None:
        body.append(_figure("Request success rate over time", lambda ax: plots.success_over_time(result, ax=ax),
                            f"Share of requests arriving at each time that finally succeed (moving mean). {shade}"))
        body.append(_figure("Offered load and attempts (retry amplification)",
                            lambda ax: plots.load_over_time(result, ax=ax),
                            "Requests the clients want done (black) against the attempts the service receives per "
                            "strategy; the gap is the retry load. Capacity: workers ÷ mean service time."))
        if plots.has_guards(result):
            body.append(_figure("Client-side guards", lambda ax: plots.guards_over_time(result, ax=ax),
                                "Circuit breakers open, adaptive-throttling rejection probability and retry-budget "
                                f"tokens of the strategies with guards. {shade}"))
    if result.requests is not None:
        body.append(_figure("Outcomes by strategy", lambda ax: plots.outcomes_by_strategy(result, ax=ax),
                            "Final outcome of each measured request; failures split by error code."))
        body.append(_figure("Latency percentiles over time", lambda ax: plots.latency_bands(result, ax=ax),
                            "p50 / p95 / p99 latency of successful requests by arrival time (log scale)."))
        body.append(_figure("Latency CDF", lambda ax: plots.latency_cdf(result, ax=ax),
                            "Fraction of successful requests finished within a latency (log scale)."))
    if result.attempts is not None:
        for name in result.strategies:
            body.append(_figure(f"Errors by code over time: {name}",
                                lambda ax, n=name: plots.errors_over_time(result, ax=ax, strategy=n),
                                f"Failed attempts per second by error code, strategy {name}. {shade}",
                                figsize=(9, 3.4)))
    body.append("<h2>Scenario</h2><pre>" + html.escape(dump_scenario(s)) + "</pre>")
    return title, body


# ---------------------------------------------------------------- sweep directory

METRICS = ("success_rate", "p99_s", "amplification", "goodput_rps")


def sweep_report(path: Path, plan=None) -> tuple[str, list[str]]:
    """The title and HTML body parts for a sweep results directory."""
    import yaml

    from . import plots
    from .sweep.store import Store
    from .sweep.stats import aggregate, param_columns

    st = Store(path)
    manifest = st.manifest()
    runs = st.load()
    sc = manifest.get("scenario", {})
    name = sc.get("name", "scenario")
    seed = manifest.get("seed", "?")
    title = f"resilsim sweep report: {name}"
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='meta'>api <b>{html.escape(str(sc.get('api', '?')))}</b> · root seed <b>{seed}</b> · "
            f"{manifest.get('replications', '?')} replications per point · "
            f"{runs['run_id'].nunique() if len(runs) else 0} runs</p>"]
    if sc.get("description"):
        body.append(f"<p>{html.escape(sc['description'])}</p>")
    if runs.empty:
        body.append("<p><b>No finished runs in this directory.</b></p>")
        return title, body
    agg = aggregate(runs)
    params = param_columns(agg)
    grid = manifest.get("grid", {})
    spec = grid.get("spec", {})
    if isinstance(spec, dict) and spec and all(isinstance(v, list) for v in spec.values()):
        body.append(f"<h2>Grid</h2><p class='meta'>{html.escape(str(grid.get('kind', 'full')))} grid, "
                    f"{len(grid.get('points') or [])} points</p><table>" + "".join(
                        f"<tr><th>{html.escape(k)}</th><td style='text-align:left'>"
                        f"{html.escape(', '.join(map(str, v)))}</td></tr>" for k, v in spec.items()) + "</table>")
    else:
        body.append("<h2>Grid</h2><pre>" + html.escape(yaml.safe_dump(spec, sort_keys=False)) + "</pre>")
    body.append("<h2>Strategies</h2><pre>" + html.escape(yaml.safe_dump(sc.get("strategies", {}),
                                                                         sort_keys=False)) + "</pre>")
    if plan is not None:
        body.append(_plan_section(plan, f"{name} · seed {seed}"))
    body.append("<h2>Summary with 95% confidence intervals</h2><p class='meta'>mean [low, high] over "
                "replications (t-distribution, clipped to the metric's range: a success rate to [0, 1]); "
                "latencies in seconds.</p>")
    body.append(_table(ci_table(agg), index=False))
    body.append("<h2>Charts</h2>")
    cap = f"{name} · root seed {seed} · bands: 95% CI"
    if len(params) == 1:
        for m in METRICS:
            if m in agg:
                body.append(_figure(f"{metrics.label(m)} against {params[0]}",
                                    lambda ax, m=m: plots.sweep_metric(
                                        plots.tidy_sweep(agg, m, params[0]), ax=ax,
                                        metric=metrics.label(m), xlabel=params[0], caption=cap), cap))
    elif len(params) >= 2:
        for strat in agg["strategy"].unique():
            sub = agg[agg["strategy"] == strat]
            body.append(_figure(f"success rate over {params[0]} × {params[1]}: {strat}",
                                lambda ax, sub=sub: plots.sweep_heatmap(
                                    sub, x=params[0], y=params[1], value="success_rate", ax=ax,
                                    label="request success rate", caption=cap), cap))
    return title, body


def ci_table(agg: pd.DataFrame, metrics=METRICS, digits: int = 4) -> pd.DataFrame:
    """A compact view of :func:`resilsim.aggregate`'s output: one ``mean [low, high]`` text column per metric.

    Columns: the swept parameters, ``strategy``, ``n`` (replications) and
    each of ``metrics`` present (default: success rate, p99 latency in
    seconds, amplification, goodput in requests/s). A point with one
    replication has no interval and shows the mean alone. For display (a
    notebook shows it as an HTML table); compute on ``agg`` itself. Bounds
    are clipped to the metric's range (a success rate's to [0, 1]).
    """
    from .metrics import clip
    from .sweep.stats import param_columns

    if agg is None or agg.empty:
        return pd.DataFrame()
    keep = [c for c in [*param_columns(agg), "strategy", "n"] if c in agg]
    show = agg[keep].reset_index(drop=True).copy()
    for m in metrics:
        if m not in agg:
            continue
        mean = agg[m].to_numpy(float)
        lo = agg[f"{m}_ci_low"].to_numpy(float) if f"{m}_ci_low" in agg else [float("nan")] * len(agg)
        hi = agg[f"{m}_ci_high"].to_numpy(float) if f"{m}_ci_high" in agg else [float("nan")] * len(agg)
        lo, hi = clip(m, lo, hi)
        show[m] = [f"{v:.{digits}g} [{a:.{digits}g}, {b:.{digits}g}]" if pd.notna(a) and pd.notna(b)
                   else f"{v:.{digits}g}" for v, a, b in zip(mean, lo, hi)]
    return show


def _plan_section(plan, caption: str) -> str:
    from . import plots

    want = "least" if plan.direction == "min" else "most"
    slo = ", ".join(f"{k} {v}" for k, v in plan.slo.items())
    rows = "".join(f"<li><b>{html.escape(str(s))}</b>: {plan.vary} = "
                   f"{v if v is not None else 'none in range'}</li>" for s, v in plan.answers.items())
    part = (f"<h2>Planning answer</h2><div class='answer'><p>The {want} <b>{html.escape(plan.vary)}</b> in "
            f"[{plan.over[0]}, {plan.over[1]}] meeting <b>{html.escape(slo)}</b> at the pessimistic 95% "
            f"confidence bound:</p><ul>{rows}</ul></div>")
    if len(plan.evidence):
        part += _figure("Planning evidence", lambda ax: plots.plan_answer(plan, ax=ax, caption=caption), caption)
        part += "<details open><summary>evidence</summary>" + _table(plan.evidence, index=False) + "</details>"
    return part


def plan_report(path: Path, plan) -> tuple[str, list[str]]:
    """The title and HTML body parts for a directory holding only a plan (``resilsim plan --out``)."""
    import yaml

    from .scenario import dump_scenario, load_scenario

    meta = json.loads((path / "plan.json").read_text())
    s = load_scenario(path / "scenario.yaml") if (path / "scenario.yaml").exists() else None
    name = s.name if s is not None else path.name
    seed = meta.get("seed", "?")
    title = f"resilsim capacity plan: {name}"
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='meta'>api <b>{html.escape(s.api if s is not None else '?')}</b> · root seed "
            f"<b>{html.escape(str(seed))}</b> · {html.escape(str(meta.get('replications', '?')))} replications "
            f"per value tried</p>"]
    if s is not None and s.description:
        body.append(f"<p>{html.escape(s.description)}</p>")
    body.append(_plan_section(plan, f"{name} · seed {seed}"))
    if s is not None:
        body.append("<h2>Strategies</h2><pre>" + html.escape(yaml.safe_dump(_strategies_of(s), sort_keys=False))
                    + "</pre>")
        body.append("<h2>Scenario</h2><pre>" + html.escape(dump_scenario(s)) + "</pre>")
    return title, body


def _strategies_of(s) -> dict:
    from .scenario import given_fields

    return given_fields(s).get("strategies", {})


# ---------------------------------------------------------------- entry points

def render(path, plan=None) -> str:
    """The HTML report (a string) for a run directory or a sweep directory ``path``."""
    path = Path(path)
    if not path.is_dir():
        raise ResilsimError(f"{path}: not a directory; give a `resilsim run --out` or `resilsim sweep --out` directory")
    if plan is None:
        from .sweep.plan import load_plan
        plan = load_plan(path)
    if (path / "manifest.json").exists():
        title, body = sweep_report(path, plan)
    elif (path / "summary.csv").exists() or (path / "run.json").exists():
        title, body = run_report(path)
        if plan is not None:
            body.insert(2, _plan_section(plan, title))
    elif plan is not None and (path / "plan.json").exists():
        title, body = plan_report(path, plan)
    else:
        raise ResilsimError(f"{path}: neither a run directory (summary.csv), a sweep directory (manifest.json) "
                            "nor a plan directory (plan.json)")
    from . import __version__
    body.append(f"<p class='meta'>generated by resilsim {__version__}</p>")
    return _page(title, body)


def write_report(path, out, plan=None) -> Path:
    """Write the self-contained HTML report of ``path`` (run or sweep directory) to ``out``; return its path."""
    out = Path(out)
    out.write_text(render(path, plan), encoding="utf-8")
    return out
