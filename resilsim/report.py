"""One self-contained HTML report of a run directory or a sweep directory, for a capacity-planning review.

    resilsim report out/ -o report.html

Everything is inline: CSS in a ``<style>`` element, charts as base64 PNG
``data:`` URIs, no JavaScript, no external assets, so the file opens offline
and can be attached to a review as it is.

A *run directory* is what ``resilsim run --out DIR`` writes (summary.csv,
timeline.csv, requests.csv, attempts.csv, and scenario.yaml + run.json with
the seed); a *sweep directory* is a :mod:`resilsim.store` results directory
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

from .errors import ResilsimError

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
    return df.to_html(index=index, float_format=lambda v: f"{v:.4g}", na_rep="–", border=0)


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


# ---------------------------------------------------------------- run directory

def _run_result(path: Path):
    """Rebuild a :class:`~resilsim.Result` from a run directory's CSVs (for the charts)."""
    from .result import Result
    from .scenario import load_scenario

    scenario = load_scenario(path / "scenario.yaml")
    meta = json.loads((path / "run.json").read_text()) if (path / "run.json").exists() else {}
    seed = meta.get("seed", "?")
    req = pd.read_csv(path / "requests.csv", keep_default_na=False, na_values=[""],
                      dtype={"code": str}) if (path / "requests.csv").exists() else None
    att = pd.read_csv(path / "attempts.csv", dtype={"code": str}) if (path / "attempts.csv").exists() else None
    tl = pd.read_csv(path / "timeline.csv") if (path / "timeline.csv").exists() else None
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

    summary = pd.read_csv(path / "summary.csv", index_col=0)
    if not (path / "scenario.yaml").exists():
        raise ResilsimError(f"{path}: no scenario.yaml; rerun `resilsim run --out {path}` with this version "
                            "so the report knows the scenario")
    result = _run_result(path)
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
    body.append(_table(summary))
    body.append("<h2>Strategies</h2><table><tr><th>strategy</th><th>policy</th></tr>" + "".join(
        f"<tr><td>{html.escape(str(k))}</td><td style='text-align:left'>{html.escape(str(v))}</td></tr>"
        for k, v in result.strategies.items()) + "</table>")
    body.append("<h2>Charts</h2>")
    cap = f"{s.name} · seed {result.seed}"
    if result.timeline is not None:
        body.append(_figure("Request success rate over time", lambda ax: plots.success_over_time(result, ax=ax),
                            cap + " · shaded: incident windows"))
        body.append(_figure("Offered load and attempts (retry amplification)",
                            lambda ax: plots.load_over_time(result, ax=ax), cap))
    if result.requests is not None:
        body.append(_figure("Outcomes by strategy", lambda ax: plots.outcomes_by_strategy(result, ax=ax), cap))
        body.append(_figure("Latency percentiles over time", lambda ax: plots.latency_bands(result, ax=ax), cap))
        body.append(_figure("Latency CDF", lambda ax: plots.latency_cdf(result, ax=ax), cap))
    if result.attempts is not None:
        for name in result.strategies:
            body.append(_figure(f"Errors by code over time: {name}",
                                lambda ax, n=name: plots.errors_over_time(result, ax=ax, strategy=n), cap,
                                figsize=(9, 3)))
    body.append("<h2>Scenario</h2><pre>" + html.escape(dump_scenario(s)) + "</pre>")
    return title, body


# ---------------------------------------------------------------- sweep directory

METRICS = ("success_rate", "p99_s", "amplification", "goodput_rps")


def sweep_report(path: Path, plan=None) -> tuple[str, list[str]]:
    """The title and HTML body parts for a sweep results directory."""
    import yaml

    from . import plots
    from .store import Store
    from .sweep import aggregate, param_columns

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
    body.append("<h2>Grid</h2><pre>" + html.escape(yaml.safe_dump(manifest.get("grid", {}).get("spec", {}),
                                                                   sort_keys=False)) + "</pre>")
    body.append("<h2>Strategies</h2><pre>" + html.escape(yaml.safe_dump(sc.get("strategies", {}),
                                                                         sort_keys=False)) + "</pre>")
    if plan is not None:
        body.append(_plan_section(plan, f"{name} · seed {seed}"))
    body.append("<h2>Summary with 95% confidence intervals</h2><p class='meta'>mean [low, high] over "
                "replications (t-distribution); latencies in seconds.</p>")
    show = pd.DataFrame({c: agg[c] for c in [*params, "strategy", "n"]})
    for m in METRICS:
        if m in agg:
            lo, hi = agg.get(f"{m}_ci_low"), agg.get(f"{m}_ci_high")
            show[m] = [f"{v:.4g} [{a:.4g}, {b:.4g}]" if pd.notna(a) else f"{v:.4g}"
                       for v, a, b in zip(agg[m], lo if lo is not None else agg[m], hi if hi is not None else agg[m])]
    body.append(_table(show, index=False))
    body.append("<h2>Charts</h2>")
    cap = f"{name} · root seed {seed} · bands: 95% CI"
    if len(params) == 1:
        for m in METRICS:
            if m in agg:
                body.append(_figure(f"{plots.METRIC_LABELS.get(m, m)} against {params[0]}",
                                    lambda ax, m=m: plots.sweep_metric(
                                        plots.tidy_sweep(agg, m, params[0]), ax=ax,
                                        metric=plots.METRIC_LABELS.get(m, m), xlabel=params[0], caption=cap), cap))
    elif len(params) >= 2:
        for strat in agg["strategy"].unique():
            sub = agg[agg["strategy"] == strat]
            body.append(_figure(f"success rate over {params[0]} × {params[1]}: {strat}",
                                lambda ax, sub=sub: plots.sweep_heatmap(
                                    sub, x=params[0], y=params[1], value="success_rate", ax=ax,
                                    label="request success rate", caption=cap), cap))
    return title, body


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


def _load_plan(path: Path):
    p = path / "plan.json"
    if not p.exists():
        return None
    from .plan import Plan

    d = json.loads(p.read_text())
    return Plan(d["vary"], tuple(d["over"]), d.get("direction", "min"), d["slo"], d["answers"],
                pd.DataFrame(d.get("evidence", [])))


# ---------------------------------------------------------------- entry points

def render(path, plan=None) -> str:
    """The HTML report (a string) for a run directory or a sweep directory ``path``."""
    path = Path(path)
    if not path.is_dir():
        raise ResilsimError(f"{path}: not a directory; give a `resilsim run --out` or `resilsim sweep --out` directory")
    if plan is None:
        plan = _load_plan(path)
    if (path / "manifest.json").exists():
        title, body = sweep_report(path, plan)
    elif (path / "summary.csv").exists():
        title, body = run_report(path)
        if plan is not None:
            body.insert(2, _plan_section(plan, title))
    else:
        raise ResilsimError(f"{path}: neither a run directory (summary.csv) nor a sweep directory (manifest.json)")
    from . import __version__
    body.append(f"<p class='meta'>generated by resilsim {__version__}</p>")
    return _page(title, body)


def write_report(path, out, plan=None) -> Path:
    """Write the self-contained HTML report of ``path`` (run or sweep directory) to ``out``; return its path."""
    out = Path(out)
    out.write_text(render(path, plan), encoding="utf-8")
    return out


def add_parser(sub) -> None:
    """Add the ``report`` subcommand to the CLI's subparsers."""
    rp = sub.add_parser("report", help="write one self-contained HTML report of a run or sweep directory")
    rp.add_argument("path", help="a `resilsim run --out` or `resilsim sweep --out` directory")
    rp.add_argument("-o", "--output", default="report.html", help="HTML file to write (default: report.html)")


def cli_report(args) -> int:
    """``resilsim report``: write the HTML file and say where."""
    p = write_report(args.path, args.output)
    print(f"wrote {p} ({p.stat().st_size / 1024:.0f} KiB)")
    return 0
