"""One self-contained HTML report of a run directory or a sweep directory, for a capacity-planning review.

    resilsim report out/          # writes out/report.html (-o FILE: elsewhere)

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
from .result import LAYER_TABLES, ROW_TABLES, TABLE_FORMATS

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.6em}
.meta{color:#555;font-size:.95em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right}th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.6em;font-size:.8em;overflow-x:auto;white-space:pre-wrap;
word-break:break-all}
.wide{overflow-x:auto;max-width:100%}details summary{cursor:pointer;color:#555}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
.answer{background:#eef6ee;border-left:4px solid #4a4;padding:.5em 1em}
.question{background:#f3f5fa;border-left:4px solid #57a;padding:.5em 1em}
.warn{background:#fdf6e3;border-left:4px solid #c90;padding:.5em 1em}
.first td,.first th{text-align:left;vertical-align:top}.first td{min-width:5em}
ul.tight{margin:.3em 0;padding-left:1.3em}ul.tight li{margin:.1em 0}
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


def _fig_png(make) -> str:
    """Render the Figure ``make()`` returns off-screen and return an ``<img>`` with the PNG inline (base64)."""
    fig = make()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="chart" src="data:image/png;base64,{data}">'


def _figure(title: str, draw, caption: str = "", figsize=(9, 4), whole: bool = False) -> str:
    """A titled, captioned chart: ``draw(ax)`` on one Axes, or with ``whole`` ``draw()`` returning a Figure."""
    try:
        img = _fig_png(draw) if whole else _png(draw, figsize)
    except Exception as e:  # one chart that cannot be drawn must not lose the whole report
        img = f"<p><i>chart not drawn: {html.escape(type(e).__name__)}: {html.escape(str(e))}</i></p>"
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f"<figure><h3>{html.escape(title)}</h3>{img}{cap}</figure>"


def _table(df: pd.DataFrame, index: bool = True) -> str:
    """An HTML table that scrolls sideways inside its box instead of running off the page."""
    return ("<div class='wide'>" + df.to_html(index=index, float_format=lambda v: f"{v:.4g}", na_rep="–", border=0)
            + "</div>")


#: The run summary's columns, in two tables: the figures a review reads, then the outcome counts.
KEY_COLUMNS = ("requests", "success_rate", "p50_s", "p95_s", "p99_s", "amplification", "peak_amplification",
               "goodput_rps", "wasted_s", "duplicate_effects", "recovery_s")


def run_recommendation(summary: pd.DataFrame) -> str:
    """One paragraph on a run's summary: the strategy with the best success and the cheapest one near it."""
    if summary.empty or summary["success_rate"].isna().all():
        return "No request was measured: lengthen the run or its window."
    best = summary["success_rate"].idxmax()
    top = summary.loc[best]
    text = (f"{best} has the highest success rate, {top['success_rate']:.4g}, at {top['amplification']:.3g} "
            f"attempts per request (peak {_fmt(top.get('peak_amplification'), 3)}) and p99 {_fmt(top['p99_s'], 3)} s.")
    near = summary[(summary["success_rate"] >= top["success_rate"] - 0.01) & (summary.index != best)]
    if len(near):
        cheap = near["amplification"].idxmin()
        if near.at[cheap, "amplification"] < top["amplification"] - 0.05:
            text += (f" {cheap} comes within one point ({near.at[cheap, 'success_rate']:.4g}) at "
                     f"{near.at[cheap, 'amplification']:.3g} attempts per request: the lighter load on the API "
                     "for about the same success.")
    if "recovery_s" in summary:
        stuck = [str(n) for n, v in summary["recovery_s"].items() if pd.isna(v)]
        if stuck:
            text += f" Never recovered before the run ended: {', '.join(stuck)}."
    return text


def _only(s, names: list):
    """Scenario ``s`` with only the strategies ``names``."""
    from .scenario import given_fields, load_scenario
    data = given_fields(s)
    data["strategies"] = {n: data["strategies"][n] for n in names}
    return load_scenario(data)


def _summary_tables(summary: pd.DataFrame, key: bool = True) -> str:
    """The summary's key figures (``key``), or its other columns (the outcome counts)."""
    summary = _never(summary.rename_axis(None))  # no separate header row for the index name
    cols = [c for c in KEY_COLUMNS if c in summary]
    if key:
        return _table(summary[cols])
    rest = [c for c in summary.columns if c not in cols and c != "mean_attempts"]
    return ("<h2>Outcomes</h2><p class='meta'>Final outcome of each measured request:</p>" + _table(summary[rest])
            if rest else "")


def _fmt(v, digits: int = 4) -> str:
    """A number for a sentence: 4 significant digits, "–" for NaN."""
    return "–" if v is None or (isinstance(v, float) and v != v) else f"{v:.{digits}g}"


def _interval(row, metric: str) -> str:
    """``mean [low, high]`` of ``metric`` in an aggregated row (the mean alone without an interval)."""
    mean, lo, hi = (row.get(metric), row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high"))
    if metric == "recovery_s" and (mean is None or pd.isna(mean)):
        return "never"
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return _fmt(mean)
    high = "never" if hi == float("inf") else _fmt(hi)
    return f"{_fmt(mean)} [{_fmt(lo)}, {high}]"


def _never(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a time to recover that is missing written "never" (a run that did not recover)."""
    if "recovery_s" not in df:
        return df
    df = df.copy()
    df["recovery_s"] = [("never" if pd.isna(v) else f"{v:.4g}") for v in df["recovery_s"]]
    return df


# ---------------------------------------------------------------- the first screen: assumptions, limits, reproduce

#: What the model leaves out, for every report's first screen.
MODEL_LIMITS = (
    "Arrivals are Poisson at the scenario's rates (with its rate changes); real traffic is burstier.",
    "Faults strike each attempt independently at the scenario's rates; an incident's start, length and "
    "failure rate are assumptions about the next incident, not measurements of it.",
    "One pool of identical workers behind the API's limits; no network delay beyond the service time, "
    "no client-side CPU or connection limits, no autoscaling.",
    "Intervals (95 %) cover the spread between replications of the model, not the error of the model itself.",
)


def _advice(api: str, code: str) -> str:
    """``CODE NAME (advice: ...)`` from the API's catalog (its documentation), or the code alone."""
    from .catalog import load_catalog
    try:
        c = load_catalog(api)[code]
    except Exception:  # a code the catalog does not list: show it as given
        return code
    return f"{c.code} {c.name} (HTTP {c.http}; documented advice: {c.advice})"


def _assumptions(s, varied: str = "") -> str:
    """The scenario's assumptions that drive an answer, one row each, with where each comes from;
    ``varied``: what the question varies (its rows show the scenario's own value)."""
    own, doc = "the scenario's own", "the API's documentation"
    rows = [("varied", f"{varied}; the rows below give the scenario's value of it", "the question")] if varied else []
    a, closed = s.clients.arrival, s.clients.closed
    p = a.poisson if a is not None else None
    if p is not None:
        load = f"Poisson, {p.rate:g} requests/s" + "".join(
            f"; {c.rate:g}/s from {c.start:g} s for {c.duration:g} s" for c in p.changes)
    elif a is not None:
        load = f"rate curve {a.curve.file}" if a.curve is not None else f"replayed trace {a.replay.file}"
    else:
        load = ""
    if closed is not None:
        load += ("; " if load else "") + f"{closed.users} closed-loop users"
    rows.append(("load", load, own))
    svc = s.service
    q = svc.queue
    qt = getattr(q, "timeout", None)
    rows.append(("capacity", f"{svc.workers} workers; queue limit {getattr(q, 'limit', None) or 'none'}, "
                 f"queue timeout {f'{qt:g} s' if qt else 'none'}", own))
    ops = "; ".join(f"{n} (weight {o.weight:g})" for n, o in svc.operations.items())
    rows.append(("operations", ops, own))
    for rl in svc.rate_limits():
        kind = rl.kinds()[0]
        spec = getattr(rl, kind)
        what = (f"token bucket {spec.rate:g}/s, burst {spec.burst:g}" if kind == "token_bucket"
                else f"{kind.replace('_', ' ')} {spec.limit} per {spec.window:g} s")
        rows.append(("rate limit", f"{what}, per {rl.per}", f"{own} (the refusal code and its Retry-After: {doc})"))
    if svc.quota is not None:
        tiers = ", ".join(f"{t}: {v if v is not None else 'unlimited'}" for t, v in svc.quota.tiers.items())
        rows.append(("quota", f"per tenant per {svc.quota.period:g} s: {tiers}", own))
    for code, rate in s.faults.background.items():
        rows.append(("background errors", f"{rate:.3g} of attempts answer {_advice(s.api, code)}",
                     f"rate: {own}; code and advice: {doc}"))
    for k, inc in enumerate(s.faults.incidents, 1):
        rates = "; ".join(f"{r:.0%} of attempts answer {_advice(s.api, c)}" for c, r in inc.all_rates().items())
        slow = f"; service {inc.slowdown:g}× slower" if inc.slowdown != 1 else ""
        if inc.workers is not None:
            slow += f"; {inc.workers} workers (a capacity cut)"
        elif inc.capacity is not None:
            slow += f"; {inc.capacity:.0%} of its workers (a capacity cut)"
        where = f" on operations using {inc.dependency}" if inc.dependency else ""
        if inc.service is not None:
            where = f" on service {inc.service} (generic codes, assumed)"
        if inc.edge is not None:
            extra = "extra network hops" if inc.latency is not None else ""
            lost = f"{inc.loss:.0%} of calls lost" if inc.loss else ""
            rates = "; ".join(x for x in (lost, extra) if x)
            where = f" on the network between {inc.edge.caller} and {inc.edge.callee}"
        label = inc.name or f"incident {k}"
        source = f"timing and rate: {own}; codes and advice: {doc}"
        rows.append((f"incident: {label}", f"{inc.start:g}–{inc.start + inc.duration:g} s: {rates or 'no errors'}"
                     f"{where}{slow}", source))
    c = s.clients
    rows.append(("client limits", f"attempt timeout {f'{c.timeout:g} s' if c.timeout else 'none'}, request "
                 f"deadline {f'{c.deadline:g} s' if c.deadline else 'none'}", own))
    body = "".join(f"<tr><th>{html.escape(a)}</th><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
                   for a, b, c in rows)
    return (f"<table class='first'><tr><th>assumption</th><th>value</th><th>from</th></tr>{body}</table>")


def strategies_table(s) -> pd.DataFrame:
    """One row per strategy of scenario ``s``: its retry settings in words and where they come from.

    ``attempts`` is the most attempts a request makes against the first
    incident's code (else the first background code), waits at their least,
    within the deadline (see :func:`resilsim.sweep.plan.attempts_allowed`).
    """
    from .catalog import load_catalog
    from .policies.build import build_strategy, preset_source
    from .sweep.plan import attempts_allowed

    codes = [c for inc in s.faults.incidents if inc.service is None for c in inc.all_rates()]
    codes += list(s.faults.background)
    catalog = load_catalog(s.api)
    code = catalog[codes[0]] if codes else None
    rows = []
    for name, spec in s.strategies.items():
        st = build_strategy(spec, name, s.clients)
        d = st.describe()
        preset = spec.retry if isinstance(spec.retry, str) else spec.retry.preset
        kind = preset_source(preset) if preset else None
        source = ("the naive loop" if preset in ("none", "immediate") else
                  "the API's documentation" if kind == "doc" else
                  f"library preset {preset}" if kind == "library" else "the scenario's own")
        if isinstance(spec.retry, str) and kind == "doc" and preset not in ("none", "immediate"):
            waits = "per code, as the documentation says"
        elif d.get("wait") in (None, "none"):
            waits = "none"
        else:
            parts = [d["wait"]] + [f"{k.removeprefix('wait_')} {v:g}" for k, v in d.items()
                                   if k.startswith("wait_") and isinstance(v, (int, float))]
            waits = " ".join(parts) + (f", {d['jitter']} jitter" if d.get("jitter") not in (None, "none") else "")
        timeout, deadline = st.client_limits(s.clients)
        row = {"strategy": name, "retry": preset or "custom", "waits (s)": waits}
        if code is not None:
            n, why = attempts_allowed(st, code, deadline)
            row[f"attempts on {code.code}"] = f"{n}" + (" (deadline)" if why == "deadline" else "")
        row["guards"] = d.get("guards", "none")
        row["timeout / deadline (s)"] = f"{timeout or '–'} / {deadline or '–'}"
        row["from"] = source + ("; guards: the scenario's own" if spec.guards is not None
                                 and source != "the scenario's own" else "")
        rows.append(row)
    return pd.DataFrame(rows)


def _first_screen_tail(s, command: str, made: str | None, extra_limits: list[str] = (), varied: str = "") -> list[str]:
    """Assumptions, strategies, limits of the model, the command that reproduces it, version and time."""
    from datetime import datetime, timezone

    from . import __version__
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = []
    if s is not None:
        out.append("<h2>Assumptions that drive it</h2>" + _assumptions(s, varied))
        out.append("<h3>Strategies</h3><div class='first'>" + _table(strategies_table(s), index=False) + "</div>")
    lim = "".join(f"<li>{html.escape(x)}</li>" for x in [*extra_limits, *MODEL_LIMITS])
    out.append(f"<h2>Limits of the model</h2><ul class='tight'>{lim}</ul>")
    out.append(f"<h2>Reproduce</h2><pre>{html.escape(command)}</pre>"
               f"<p class='meta'>resilsim {html.escape(__version__)} · "
               + (f"computed {html.escape(made)} · " if made else "") + f"report made {now}</p>")
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
RUN_FILES = ("summary.csv", *(f"{t}.{f}" for t in ROW_TABLES for f in TABLE_FORMATS), "scenario.yaml",
             *(f"{t}.csv" for t in LAYER_TABLES))


def _read_table(path: Path, name: str) -> pd.DataFrame | None:
    """The row table ``name`` of the run folder ``path`` from its Parquet or CSV file; None when it has neither."""
    if (path / f"{name}.parquet").exists():
        try:
            return pd.read_parquet(path / f"{name}.parquet")
        except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
            raise ResilsimError(f"{path / f'{name}.parquet'}: not a table resilsim wrote "
                                f"({' '.join(str(e).split())})") from None
    p = path / f"{name}.csv"
    if not p.exists():
        return None
    if name == "requests":  # an empty code is a success, not a missing value
        return _csv(p, keep_default_na=False, na_values=[""], dtype={"code": str})
    return _csv(p, dtype={"code": str}) if name == "attempts" else _csv(p)


def _csv(path: Path, **kw) -> pd.DataFrame:
    """A run table, or one ResilsimError naming the file when it is not one (empty, garbage, cut)."""
    try:
        df = pd.read_csv(path, **kw)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:  # EmptyDataError is a ValueError
        raise ResilsimError(f"{path}: not a table resilsim wrote ({' '.join(str(e).split())})") from None
    if path.name == "summary.csv" and "strategy" not in (list(df.columns) + [df.index.name]):
        raise ResilsimError(f"{path}: not a table resilsim wrote (no strategy column)")
    return df


def refuse_old_outcomes(path: Path, columns) -> None:
    """Raise one sentence when a table of ``path`` names an outcome an earlier resilsim wrote (``gave_up``)."""
    from .records import RENAMED_OUTCOMES

    old = [c for c in RENAMED_OUTCOMES if c in set(columns)]
    if old:
        raise ResilsimError(f"{path}: written by an earlier resilsim whose outcome {old[0]!r} is now "
                            f"{RENAMED_OUTCOMES[old[0]]}; run it again with this version")


def _run_result(path: Path, meta: dict):
    """Rebuild a :class:`~resilsim.Result` from a run directory's tables (for the charts); ``meta``: its run.json."""
    from .result import Result
    from .scenario import load_scenario

    scenario = load_scenario(path / "scenario.yaml")
    seed = meta.get("seed", "?")
    req, att, tl = (_read_table(path, name) for name in ROW_TABLES)
    names = list(_csv(path / "summary.csv")["strategy"])
    for df in (req, att):
        if df is not None:
            df["code"] = df["code"].fillna("")
    windows = [tuple(w) for w in meta.get("windows", [])]
    strategies = meta.get("strategies") or {n: "" for n in names}
    result = Result(scenario, seed, req, att, tl, windows, strategies, {})
    result.read_layers(path)  # services.csv, edges.csv, service_timeline.csv: only with services
    return result


def run_report(path: Path) -> tuple[str, list[str]]:
    """The title and HTML body parts for a run directory."""
    from . import plots
    from .scenario import dump_scenario
    from .run_folder import check_run_dir

    meta = check_run_dir(path, RUN_FILES)
    if not (path / "scenario.yaml").exists():
        raise ResilsimError(f"{path}: no scenario.yaml; rerun `resilsim run --out {path}` with this version "
                            "so the report knows the scenario")
    summary = _csv(path / "summary.csv", index_col=0)
    refuse_old_outcomes(path, summary.columns)
    result = _run_result(path, meta)
    s = result.scenario
    title = f"Run report: {s.name}"
    window = summary.attrs.get("window") or f"the run after the warm-up ({s.warmup:g}–{s.duration:g} s)"
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='meta'>api <b>{html.escape(s.api)}</b> · seed <b>{html.escape(str(result.seed))}</b> · "
            f"{s.duration:g} s simulated · {len(summary)} strategies on the same random numbers</p>"]
    if s.description:
        body.append(f"<p>{html.escape(s.description)}</p>")
    body.append(f"<div class='question'><p><b>Question.</b> How do the {len(summary)} strategies of "
                f"<b>{html.escape(s.name)}</b> fare, measured over <b>{html.escape(window)}</b>?</p></div>")
    body.append("<h2>Summary</h2><p class='meta'>One simulation run (no replications, so no confidence "
                "intervals: run a sweep with replications for those). Latencies in seconds, of successful "
                "requests; amplification = attempts ÷ requests; peak = the most attempts per request over any "
                "10 s; time to recover \"never\": success did not come back before the run ended.</p>")
    body.append(_summary_tables(summary))
    body.append(f"<div class='answer'><p><b>Recommendation.</b> {html.escape(run_recommendation(summary))}</p></div>")
    kept = [n for n in summary.index if n in s.strategies]
    shown = s if len(kept) == len(s.strategies) else _only(s, kept)
    command = f"resilsim run {path / 'scenario.yaml'} --seed {result.seed} --out {path}" + "".join(
        f" --strategy {n}" for n in kept if shown is not s)
    body += _first_screen_tail(shown, command, meta.get("made"),
                               ["One run of one seed: differences smaller than a few points may be noise; "
                                "`resilsim sweep` with replications gives intervals."])
    body.append(_summary_tables(summary, key=False))
    body.append("<h2>Charts</h2>")
    shade = "Grey: incident windows; hatched: load changes."
    if result.timeline is not None:
        body.append(_figure("Request success rate over time", lambda: plots.chart_figure(result, "success_over_time"),
                            "Share of requests arriving at each time that finally succeed (moving mean); below, each "
                            f"strategy's difference to the first, the others in grey. {shade}", whole=True))
        body.append(_figure("Offered load and attempts (retry amplification)",
                            lambda: plots.chart_figure(result, "load_over_time"),
                            "Requests the clients want done (black) against the attempts the service receives, one "
                            "panel per strategy; the gap is the retry load. Capacity: workers ÷ mean service time.",
                            whole=True))
        if plots.has_guards(result):
            body.append(_figure("Client-side guards", lambda: plots.chart_figure(result, "guards_over_time"),
                                "Circuit breakers open, adaptive-throttling rejection probability and retry-budget "
                                f"tokens, one panel per strategy with guards. {shade}", whole=True))
    layers = result.services()
    if len(layers):
        body.append(_figure("Load by layer", lambda: plots.chart_figure(result, "load_by_layer"),
                            "Attempts per second at each layer: the clients' at the API, then every call's at each "
                            "service behind it (by send time), one panel per strategy; the gaps between the lines "
                            f"are the retries each layer adds. {shade}", whole=True))
        body.append("<h3>Services behind the API</h3><p class='meta'>Over the run after the warm-up, for the "
                    "requests measured: calls, their success after the caller's retries, attempts per client "
                    "request (amplification), call latency as the caller sees it (seconds, retries included), mean "
                    "wait in the service's queue (seconds) and worker-seconds busy (whole run). The API's row is the "
                    "clients'.</p>")
        body.append(_table(layers.set_index(["strategy", "service"])[
            ["calls", "success_rate", "attempts", "amplification", "mean_s", "p99_s", "queue_s", "busy_s"]]))
    if result.requests is not None:
        body.append(_figure("Outcomes by strategy", lambda ax: plots.outcomes_by_strategy(result, ax=ax),
                            "Final outcome of each measured request; failures split by error code."))
        body.append(_figure("Latency percentiles over time", lambda: plots.chart_figure(result, "latency_bands"),
                            "p50 / p95 / p99 latency of successful requests by arrival time (log scale), "
                            "one panel per strategy.", whole=True))
        body.append(_figure("Latency CDF", lambda: plots.chart_figure(result, "latency_cdf"),
                            "Fraction of successful requests finished within a latency (log scale); below, the "
                            "fraction slower than each latency, where the tails differ.", whole=True))
    if result.attempts is not None:
        body.append(_figure("Errors by code over time", lambda: plots.chart_figure(result, "errors_over_time"),
                            f"Failed attempts per second by error code, one panel per strategy on shared axes. {shade}",
                            whole=True))
    body.append("<h2>Scenario</h2><pre>" + html.escape(dump_scenario(s)) + "</pre>")
    return title, body


# ---------------------------------------------------------------- sweep directory

METRICS = ("success_rate", "p99_s", "amplification", "peak_amplification", "goodput_rps", "recovery_s")
#: The per-service metrics (svc.NAME.METRIC) a sweep report tabulates for each service behind the API.
LAYER_SHOWN = ("success_rate", "amplification", "p99_s", "queue_s", "utilisation")
#: The metrics a one-parameter sweep report charts against the parameter.
CHARTED = ("success_rate", "p99_s", "amplification", "goodput_rps")


def sweep_report(path: Path, plan=None) -> tuple[str, list[str]]:
    """The title and HTML body parts for a sweep results directory."""
    from . import plots
    from .sweep.store import Store
    from .sweep.stats import aggregate, metric_table, param_columns, service_columns

    st = Store(path)
    manifest = st.manifest()
    runs = st.load()
    refuse_old_outcomes(path, runs.columns)
    sc = manifest.get("scenario", {})
    name = sc.get("name", "scenario")
    seed = manifest.get("seed", "?")
    title = f"Sweep report: {name}"
    window = (", ".join(runs["window"].dropna().unique()) if len(runs) and "window" in runs and
              runs["window"].notna().any() else "the run after the warm-up")
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
        varied = "; ".join(f"{k} over {', '.join(map(str, v))}" for k, v in spec.items())
    else:
        varied = f"{len(grid.get('points') or [])} sampled points of {', '.join(params) or 'the grid'}"
    body.append(f"<div class='question'><p><b>Question.</b> How do the strategies of <b>{html.escape(name)}</b> "
                f"fare as <b>{html.escape(varied)}</b>, measured over <b>{html.escape(window)}</b>?</p></div>")
    if plan is not None:
        body.append(_plan_section(plan, f"{name} · seed {seed}", name))
    else:
        body.append("<h2>Summary</h2><p class='meta'>success rate per strategy and grid point: mean [95% CI] over "
                    "replications.</p><div class='first'>" + _table(_success_grid(agg, params), index=False)
                    + "</div>")
        body.append(f"<div class='answer'><p><b>Recommendation.</b> "
                    f"{html.escape(sweep_recommendation(agg, params))}</p></div>")
    from .scenario import load_scenario
    try:
        scenario = load_scenario(sc)
    except Exception:  # a manifest from another version: the report goes on without the assumptions
        scenario = None
    reps = manifest.get("replications")
    command = ("python -c 'import json, resilsim; m = json.load(open(\"" + str(path / "manifest.json") + "\")); "
               "resilsim.sweep(m[\"scenario\"], m[\"grid\"][\"points\"], "
               f"replications={reps if isinstance(reps, int) else f'range({reps[0]}, {reps[1]})'}, seed=m[\"seed\"], "
               f"common_seeds={bool(manifest.get('common_seeds'))}, window=m.get(\"window\"), "
               f"warmup=m.get(\"warmup\"), store=\"{path}-again\")'")
    few = bool(agg.get("few_replications", pd.Series([False])).any())
    body += _first_screen_tail(scenario, command, None,
                               ["Fewer than 5 replications stand behind some intervals: treat them as rough."]
                               if few else [])
    body.append("<h2>Every metric with 95% confidence intervals</h2><p class='meta'>mean [low, high] over "
                f"replications, measured over {html.escape(window)} (success rate: a score interval inside [0, 1]; "
                "other metrics: t-interval cut to the metric's range); latencies in seconds.</p>")
    body.append(_table(ci_table(agg), index=False))
    layered = [c for c in service_columns(agg) if c.rpartition(".")[2] in LAYER_SHOWN]
    if layered:
        body.append("<h3>Services behind the API</h3><p class='meta'>Per service (columns svc.NAME.METRIC): "
                    "its calls' success after the caller's retries, attempts at it per client request, p99 call "
                    "latency as the caller sees it and mean wait in its queue (seconds); mean [95% CI] over "
                    f"replications, measured over {html.escape(window)}.</p>")
        body.append(_table(ci_table(agg, layered), index=False))
    body.append("<h2>Charts</h2>")
    cap = f"{name} · root seed {seed} · bands: 95% CI"
    from .scenario.reference import axis_label
    if len(params) == 1:
        for m in CHARTED:
            if m in agg:
                body.append(_figure(f"{metrics.label(m)} against {params[0]}",
                                    lambda ax, m=m: plots.sweep_metric(
                                        metric_table(agg, m, params[0]), ax=ax,
                                        metric=metrics.label(m), xlabel=axis_label(params[0]), caption=cap), cap))
    elif len(params) >= 2:
        for strat in agg["strategy"].unique():
            sub = agg[agg["strategy"] == strat]
            body.append(_figure(f"success rate over {params[0]} × {params[1]}: {strat}",
                                lambda ax, sub=sub: plots.sweep_heatmap(
                                    sub, x=params[0], y=params[1], value="success_rate", ax=ax,
                                    label=metrics.label("success_rate"), caption=cap, xlabel=axis_label(params[0]),
                                    ylabel=axis_label(params[1])), cap))
    return title, body


def _success_grid(agg: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """Rows: grid points; columns: strategies; cells: success rate mean [95% CI]."""
    keys = params or ["point"]
    rows = {}
    for r in agg.to_dict("records"):
        key = tuple(r[k] for k in keys)
        rows.setdefault(key, dict(zip(keys, key)))[r["strategy"]] = _interval(r, "success_rate")
    return pd.DataFrame(list(rows.values()))


def sweep_recommendation(agg: pd.DataFrame, params: list[str]) -> str:
    """One paragraph: the strategy with the highest mean success at most grid points, and its worst point."""
    keys = params or ["point"]
    best = agg.loc[agg.groupby(keys, dropna=False)["success_rate"].idxmax()]
    wins = best["strategy"].value_counts()
    name = wins.index[0]
    mine = agg[agg["strategy"] == name]
    worst = mine.loc[mine["success_rate"].idxmin()]
    at = ", ".join(f"{k} = {worst[k]}" for k in keys)
    text = (f"{name} has the highest mean success rate at {wins.iloc[0]} of {len(best)} grid points. Its worst "
            f"point is {at}: success {_interval(worst, 'success_rate')}, amplification "
            f"{_interval(worst, 'amplification')}.")
    if bool(agg["few_replications"].any()):
        text += " Fewer than 5 replications stand behind some intervals: add replications before deciding."
    return text + " For the least capacity that meets an SLO, run `resilsim plan`."


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
        show[m] = ["never" if m == "recovery_s" and pd.isna(v) else
                   f"{v:.{digits}g} [{a:.{digits}g}, {'never' if b == float('inf') else f'{b:.{digits}g}'}]"
                   if pd.notna(a) and pd.notna(b) else f"{v:.{digits}g}" for v, a, b in zip(mean, lo, hi)]
    return show


def _plan_question(plan, name: str) -> str:
    """The question a plan answers, in one sentence."""
    want = "least" if plan.direction == "min" else "most"
    slo = " and ".join(f"{k} {v}" for k, v in plan.slo.items())
    over = plan.window or "the run after the warm-up"
    return (f"What is the {want} <b>{html.escape(plan.vary)}</b> in [{plan.over[0]}, {plan.over[1]}] at which "
            f"each strategy of <b>{html.escape(name)}</b> meets <b>{html.escape(slo)}</b>, measured over "
            f"<b>{html.escape(over)}</b>, at the pessimistic 95% bound?")


def _at(plan, strategy: str, value) -> dict:
    """The evidence row of ``strategy`` at ``value`` of the varied key ({} when not tried)."""
    ev = plan.evidence
    if not len(ev) or plan.vary not in ev:
        return {}
    m = ev[(ev["strategy"] == strategy) & (ev[plan.vary] == value)]
    return m.iloc[0].to_dict() if len(m) else {}


def _answer_table(plan) -> str:
    """Per strategy: the answer, each SLO metric there as mean [95% interval], the evidence, why not."""
    rows = []
    ev = plan.evidence
    for name, v in plan.answers.items():
        mine = ev[ev["strategy"] == name] if len(ev) else ev
        where = v
        if v is None and plan.best.get(name):
            where = next(iter(plan.best[name].values()))[1]
        row = _at(plan, name, where)
        cells = {"strategy": name, plan.vary: ("none in range" if v is None else f"{v:g}")}
        for m in plan.slo:
            cells[m] = (_interval(row, m) + ("" if v is not None else f" at {where:g}")) if row else "–"
        runs = "; ".join(f"{a:g}" if a == b else f"{a:g}–{b:g}" for a, b in plan.intervals.get(name, []))
        n = row.get("n") if row else None
        evidence = (f"{len(mine)} values tried, {int(n) if n is not None and n == n else '?'} replications there"
                    + (" (few: rough interval)" if row and row.get("few_replications") else "")
                    + (f"; meets at {runs}" if runs else "; meets nowhere"))
        if plan.notes.get(name):
            evidence += f"; {plan.notes[name]}" if v is not None else " (not at every value beyond: not monotone)"
        cells["evidence"] = evidence
        cells["why not"] = " ".join(plan.limits.get(name, [])) if v is None else ""
        rows.append(cells)
    df = pd.DataFrame(rows)
    if not df["why not"].astype(bool).any():
        df = df.drop(columns="why not")
    df = df.rename(columns={m: f"{m} at the answer (else at its best): mean [95% CI]" for m in plan.slo})
    return "<div class='first'>" + _table(df, index=False) + "</div>"


def recommendation(plan) -> str:
    """One paragraph: which strategy, what value of the varied key, with what margin (plain text)."""
    answered = {k: v for k, v in plan.answers.items() if v is not None}
    over = plan.window or "the run after the warm-up"
    if not answered:
        text = f"No strategy meets the SLO anywhere in [{plan.over[0]}, {plan.over[1]}] over {over}."
        if all(plan.limits.get(k) for k in plan.answers):
            text += f" A computed limit caps every strategy below it: more {plan.vary} alone will not get there."
        partial = {k: v for k, v in plan.intervals.items() if v}
        for name, runs in partial.items():
            shown = ", ".join(f"{a:g}" if a == b else f"{a:g}–{b:g}" for a, b in runs)
            text += (f" {name} meets it only at {plan.vary} = {shown}, not at every value beyond: usable only "
                     f"if {plan.vary} stays there, and worth more replications first.")
        bests = [(name, b["success_rate"]) for name, b in plan.best.items() if "success_rate" in b]
        if bests and not partial:
            name, (best, at) = max(bests, key=lambda x: x[1][0])
            text += f" The closest is {name}: success {best:.4g} at {plan.vary} = {at:g}."
            if plan.limits.get(name):
                text += f" Why: {plan.limits[name][0]}."
            else:
                text += f" No computed limit explains it: a wider range of {plan.vary} may reach the SLO."
        return text + " Otherwise change the retry settings, the limit that binds, or the SLO."
    pick = min if plan.direction == "min" else max
    value = pick(answered.values())
    tied = [k for k, v in answered.items() if v == value]
    name = max(tied, key=lambda k: _at(plan, k, value).get("success_rate", float("-inf")) or float("-inf"))
    row = _at(plan, name, value)
    from .sweep.plan import parse_slo

    margins = []
    for m, (op, thr) in parse_slo(plan.slo).items():
        cond = plan.slo[m]
        bound = row.get(f"{m}_ci_low" if op.startswith(">") else f"{m}_ci_high", row.get(m))
        if bound is None or pd.isna(bound):
            bound = row.get(m)
        gap = (bound - thr) if op.startswith(">") else (thr - bound)
        margins.append(f"{m} {_interval(row, m)} against {cond} (margin {gap:.3g} at the bound)")
    verb = "provision" if plan.direction == "min" else "allow at most"
    text = (f"Use {name} and {verb} {plan.vary} = {value:g}: every value tried from there to "
            f"{plan.over[1] if plan.direction == 'min' else plan.over[0]} meets the SLO over {over}. There, "
            + "; ".join(margins) + ".")
    others = [f"{k} {'none in range' if v is None else f'{v:g}'}" for k, v in plan.answers.items() if k != name]
    if others:
        text += (" The others need: " if plan.direction == "min" else " The others reach: ") + ", ".join(others) + "."
    if row.get("few_replications"):
        text += " Fewer than 5 replications stand behind this interval: rerun with more before committing."
    if plan.notes.get(name):
        text += f" Note: {name} {plan.notes[name]}."
    return text


def _plan_section(plan, caption: str, name: str = "the scenario") -> str:
    part = (f"<div class='question'><p><b>Question.</b> {_plan_question(plan, name)}</p></div>"
            f"<h2>Planning answer</h2>{_answer_table(plan)}"
            f"<div class='answer'><p><b>Recommendation.</b> {html.escape(recommendation(plan))}</p></div>")
    return part


def _plan_evidence(plan, caption: str) -> str:
    if not len(plan.evidence):
        return ""
    over = plan.window or "the run after the warm-up"
    ev = plan.evidence
    shown = ev.copy()
    for m in plan.slo:
        if m in ev:
            shown[m] = [_interval(r, m) for r in ev.to_dict("records")]
            shown = shown.drop(columns=[c for c in (f"{m}_ci_low", f"{m}_ci_high") if c in shown])
    from . import plots

    return ("<h2>Evidence</h2>"
            + _figure("Planning evidence", lambda ax: plots.plan_answer(plan, ax=ax, caption=caption), caption)
            + f"<p class='meta'>Every value tried, per strategy, measured over {html.escape(over)}: mean "
              "[95% CI]; meets = the pessimistic bound of every SLO metric meets it.</p>"
            + _table(shown, index=False))


def plan_report(path: Path, plan) -> tuple[str, list[str]]:
    """The title and HTML body parts for a directory holding only a plan (``resilsim plan --out``)."""
    from .scenario import dump_scenario, load_scenario

    meta = json.loads((path / "plan.json").read_text())
    s = load_scenario(path / "scenario.yaml") if (path / "scenario.yaml").exists() else None
    name = s.name if s is not None else path.name
    seed = meta.get("seed", "?")
    title = f"Capacity plan: {name}"
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='meta'>api <b>{html.escape(s.api if s is not None else '?')}</b> · root seed "
            f"<b>{html.escape(str(seed))}</b> · {html.escape(str(meta.get('replications', '?')))} replications "
            f"per value tried (more where a precision was asked) · same seeds at every value</p>"]
    if s is not None and s.description:
        body.append(f"<p>{html.escape(s.description)}</p>")
    body.append(_plan_section(plan, f"{name} · seed {seed}", name))
    command = meta.get("command") or _plan_command_from(plan, path, meta)
    body += _first_screen_tail(s, command, meta.get("made"),
                               varied=f"{plan.vary} over [{plan.over[0]}, {plan.over[1]}]")
    body.append(_plan_evidence(plan, f"{name} · seed {seed}"))
    if s is not None:
        body.append("<h2>Scenario</h2><details><summary>the scenario file as planned</summary><pre>"
                    + html.escape(dump_scenario(s)) + "</pre></details>")
    return title, body


def _plan_command_from(plan, path: Path, meta: dict) -> str:
    """A ``resilsim plan`` command rebuilt from plan.json (for plans saved without one)."""
    import shlex
    words = ["resilsim", "plan", str(path / "scenario.yaml"), "--vary", plan.vary, "--over",
             f"{plan.over[0]},{plan.over[1]}"]
    for k, v in plan.slo.items():
        words += ["--slo", f"{k}{v}"]
    words += ["--replications", str(meta.get("replications") or 5), "--seed", str(meta.get("seed") or 0)]
    if plan.direction != "min":
        words += ["--direction", plan.direction]
    return shlex.join(words)


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
    return _page(title, body)


def write_report(path, out, plan=None) -> Path:
    """Write the self-contained HTML report of ``path`` (run or sweep directory) to ``out``; return its path."""
    out = Path(out)
    out.write_text(render(path, plan), encoding="utf-8")
    return out
