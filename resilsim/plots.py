"""Charts, matplotlib: each function takes tidy data and ``ax=None``, draws, and returns the Axes.

No ``plt.show()``, no global style changes: styles are set per call, and
strategies differ by line style as well as colour so a grey-scale print
still reads.
"""
from __future__ import annotations

import itertools

import numpy as np

LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (8, 2)))


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    return ax


def _styles(names):
    return dict(zip(names, itertools.cycle(LINESTYLES)))


def _caption(ax, result):
    s = result.scenario
    ax.set_title(f"{s.name} · seed {result.seed}", fontsize=9, loc="left", color="0.3")


def _shade_incidents(ax, windows):
    for i, (start, end, label) in enumerate(windows):
        ax.axvspan(start, end, color="0.85", zorder=0, label="incident" if i == 0 else None)
        ax.text(start, 1.0, f" {label}", transform=ax.get_xaxis_transform(), fontsize=7, va="top", color="0.35")


def _smooth(y: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return y
    kernel = np.ones(width) / width
    mask = ~np.isnan(y)
    num = np.convolve(np.where(mask, y, 0.0), kernel, mode="same")
    den = np.convolve(mask.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def success_over_time(result, *, ax=None, smooth: float = 10.0):
    """Success rate of requests by arrival time, per strategy, incidents shaded; ``smooth`` seconds of moving mean."""
    ax = _axes(ax)
    tl = result.timeline
    width = max(1, int(round(smooth / result.scenario.bin)))
    for name, ls in _styles(result.strategies).items():
        t = tl[tl["strategy"] == name]
        ax.plot(t["time"], _smooth(t["success_rate"].to_numpy(float), width), ls=ls, label=name, lw=1.4)
    _shade_incidents(ax, result.windows)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("request success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, loc="lower left")
    _caption(ax, result)
    return ax


def latency_cdf(result, *, ax=None, log: bool = True):
    """Empirical CDF of successful requests' latency (seconds), per strategy."""
    ax = _axes(ax)
    req = result.measured()
    for name, ls in _styles(result.strategies).items():
        lat = req[(req["strategy"] == name) & (req["outcome"] == "success")]["latency"].to_numpy()
        if len(lat):
            ax.ecdf(lat, ls=ls, label=name)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("latency of successful requests (s)")
    ax.set_ylabel("fraction of requests")
    ax.legend(fontsize=8, loc="lower right")
    _caption(ax, result)
    return ax


def load_over_time(result, *, ax=None, smooth: float = 5.0):
    """Offered requests and attempts per second over time per strategy: the retry load the service sees."""
    ax = _axes(ax)
    tl = result.timeline
    width = max(1, int(round(smooth / result.scenario.bin)))
    first = tl[tl["strategy"] == next(iter(result.strategies))]
    ax.plot(first["time"], _smooth(first["offered_rps"].to_numpy(float), width), color="k", lw=2,
            label="offered requests")
    for name, ls in _styles(result.strategies).items():
        t = tl[tl["strategy"] == name]
        ax.plot(t["time"], _smooth(t["attempts_rps"].to_numpy(float), width), ls=ls, label=f"attempts: {name}")
    svc = result.scenario.service
    for rl in svc.rate_limits():
        # Only a global limiter over all operations is one line on this chart.
        if rl.per == "global" and not rl.operations and not rl.per_operation:
            rate = rl.token_bucket.rate if rl.token_bucket else (
                (rl.fixed_window or rl.sliding_log or rl.sliding_counter).limit
                / (rl.fixed_window or rl.sliding_log or rl.sliding_counter).window)
            ax.axhline(rate, color="0.4", ls=":", lw=1, label="rate limit")
    _shade_incidents(ax, result.windows)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("per second")
    ax.legend(fontsize=8, loc="upper right")
    _caption(ax, result)
    return ax


HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--", "**", "||")


def _missing(ax, what: str):
    """Say on the Axes (and in its title) that the data for this chart is missing, instead of failing."""
    ax.text(0.5, 0.5, f"no data: {what}", transform=ax.transAxes, ha="center", va="center", color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def latency_bands(result, *, ax=None, window: float = 10.0):
    """p50/p95/p99 latency (s) of successful requests by arrival time, per strategy, over ``window``-second bins.

    The p50 is a solid line, p95 dashed, p99 dotted; the band between p50 and
    p99 is shaded lightly. Bins without a success are gaps.
    """
    ax = _axes(ax)
    req = result.requests
    ok = req[req["outcome"] == "success"]
    if ok.empty:
        _missing(ax, "no successful requests")
        _caption(ax, result)
        return ax
    width = max(window, result.scenario.bin)
    edges = np.arange(0.0, result.scenario.duration + width, width)
    for i, name in enumerate(result.strategies):
        r = ok[ok["strategy"] == name]
        if r.empty:
            continue
        b = np.clip((r["start"].to_numpy() // width).astype(int), 0, len(edges) - 2)
        lat = r["latency"].to_numpy()
        mids, q = [], []
        for k in np.unique(b):
            mids.append(edges[k] + width / 2)
            q.append(np.percentile(lat[b == k], [50, 95, 99]))
        mids, q = np.asarray(mids), np.asarray(q)
        color = f"C{i}"
        ax.fill_between(mids, q[:, 0], q[:, 2], color=color, alpha=0.12, lw=0)
        for j, (p, ls) in enumerate(((50, "-"), (95, "--"), (99, ":"))):
            ax.plot(mids, q[:, j], ls=ls, color=color, marker="os^"[i % 3] if len(mids) < 40 else None,
                    ms=3, label=f"{name} p{p}")
    _shade_incidents(ax, result.windows)
    ax.set_yscale("log")
    ax.set_xlabel("request arrival time (s)")
    ax.set_ylabel("latency of successful requests (s)")
    ax.legend(fontsize=7, loc="upper right", ncol=max(1, len(result.strategies) // 2))
    _caption(ax, result)
    return ax


def outcome_counts(result) -> "pd.DataFrame":
    """Measured requests by strategy and final outcome, failures split by error code: a tidy count table.

    Columns: ``strategy``, ``outcome`` (``success``, ``failed: CODE``,
    ``gave_up``, ``deadline``, ``shed``, ``incomplete``), ``requests``.
    """
    import pandas as pd

    req = result.measured()
    label = req["outcome"].astype(str)
    failed = label == "failed"
    label = label.where(~failed, "failed: " + req["code"].astype(str).replace("", "?"))
    df = (pd.DataFrame({"strategy": req["strategy"].astype(str), "outcome": label})
          .value_counts().rename("requests").reset_index())
    return df


def outcomes_by_strategy(result, *, ax=None, normalise: bool = True):
    """Stacked bars of final outcomes per strategy (success, failed by code, gave up, deadline, shed).

    ``normalise`` shows fractions of measured requests, else counts. Each
    segment has its own hatch so a grey-scale print still separates them.
    """
    ax = _axes(ax)
    df = outcome_counts(result)
    if df.empty:
        _missing(ax, "no measured requests")
        _caption(ax, result)
        return ax
    table = df.pivot_table(index="strategy", columns="outcome", values="requests", aggfunc="sum", fill_value=0)
    table = table.reindex([s for s in result.strategies if s in table.index])
    order = ["success"] + sorted(c for c in table.columns if c.startswith("failed")) + [
        c for c in ("gave_up", "deadline", "shed", "incomplete") if c in table.columns]
    table = table[[c for c in order if c in table.columns]]
    if normalise:
        table = table.div(table.sum(axis=1), axis=0)
    x = np.arange(len(table.index))
    bottom = np.zeros(len(x))
    for i, col in enumerate(table.columns):
        vals = table[col].to_numpy(float)
        ax.bar(x, vals, bottom=bottom, label=col.replace("_", " "), color=f"C{i}", hatch=HATCHES[i % len(HATCHES)],
               edgecolor="0.2", lw=0.5)
        bottom += vals
    ax.set_xticks(x, list(table.index), rotation=15 if len(x) > 3 else 0, fontsize=8)
    ax.set_xlabel("strategy")
    ax.set_ylabel("fraction of measured requests" if normalise else "measured requests")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    _caption(ax, result)
    return ax


def errors_over_time(result, *, ax=None, strategy: str | None = None, smooth: float = 5.0):
    """Failed attempts per second by error code over time (from the attempts table), for one strategy.

    ``strategy`` defaults to the first; codes differ by line style and colour.
    """
    ax = _axes(ax)
    name = strategy or next(iter(result.strategies))
    att = result.attempts
    att = att[(att["strategy"] == name) & (att["code"] != "")]
    s = result.scenario
    if att.empty:
        _missing(ax, f"no failed attempts for {name}")
        _caption(ax, result)
        return ax
    width = s.bin
    nbins = int(np.ceil(s.duration / width))
    t = np.arange(nbins) * width
    b = np.clip((att["start"].to_numpy() // width).astype(int), 0, nbins - 1)
    codes = att["code"].astype(str).to_numpy()
    k = max(1, int(round(smooth / width)))
    for (code, ls) in _styles(sorted(set(codes))).items():
        y = np.bincount(b[codes == code], minlength=nbins) / width
        ax.plot(t, _smooth(y.astype(float), k), ls=ls, label=code)
    _shade_incidents(ax, result.windows)
    ax.set_xlabel("attempt start time (s)")
    ax.set_ylabel(f"failed attempts per second ({name})")
    ax.legend(fontsize=7, loc="upper right", title="error code", title_fontsize=7)
    _caption(ax, result)
    return ax


def _sweep_caption(ax, caption):
    if caption:
        ax.set_title(caption, fontsize=9, loc="left", color="0.3")


def sweep_metric(df, *, ax=None, param: str = "param", metric: str = "metric", caption: str | None = None,
                 logx: bool = False, xlabel: str | None = None):
    """A metric against a swept parameter, one line per strategy with its confidence band.

    ``df`` is tidy with columns ``param`` (or the name given), ``strategy``,
    ``mean``, ``lo``, ``hi`` (the CI bounds). ``metric`` labels the y axis
    (say it with units); ``xlabel`` the x axis (default ``param``);
    ``caption`` names the scenario and seed.
    """
    ax = _axes(ax)
    need = {param, "strategy", "mean", "lo", "hi"}
    if df is None or len(df) == 0 or not need <= set(df.columns):
        _missing(ax, f"sweep table needs columns {sorted(need)}")
        _sweep_caption(ax, caption)
        return ax
    names = list(dict.fromkeys(df["strategy"]))
    markers = "os^vDP*X"
    for i, (name, ls) in enumerate(_styles(names).items()):
        d = df[df["strategy"] == name].sort_values(param)
        x = d[param].to_numpy(float)
        ax.fill_between(x, d["lo"].to_numpy(float), d["hi"].to_numpy(float), color=f"C{i}", alpha=0.15, lw=0)
        ax.plot(x, d["mean"].to_numpy(float), ls=ls, color=f"C{i}", marker=markers[i % len(markers)], ms=4,
                label=name)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or param)
    ax.set_ylabel(metric)
    ax.legend(fontsize=8, loc="best", title="strategy (band: 95% CI)", title_fontsize=7)
    _sweep_caption(ax, caption)
    return ax


def sweep_heatmap(df, *, x: str, y: str, value: str = "mean", ax=None, caption: str | None = None,
                  label: str | None = None, fmt: str = "{:.2f}"):
    """Heatmap of ``value`` over two swept parameters ``x`` and ``y`` (mean over other rows); cells annotated.

    Annotated numbers keep it readable in grey scale; ``label`` names the colour bar (with units).
    """
    ax = _axes(ax)
    if df is None or len(df) == 0 or not {x, y, value} <= set(df.columns):
        _missing(ax, f"sweep table needs columns {x!r}, {y!r}, {value!r}")
        _sweep_caption(ax, caption)
        return ax
    grid = df.pivot_table(index=y, columns=x, values=value, aggfunc="mean").sort_index().sort_index(axis=1)
    data = grid.to_numpy(float)
    im = ax.imshow(data, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(grid.shape[1]), [str(v) for v in grid.columns], fontsize=8)
    ax.set_yticks(range(grid.shape[0]), [str(v) for v in grid.index], fontsize=8)
    lo, hi = np.nanmin(data), np.nanmax(data)
    mid = (lo + hi) / 2
    for (r, c), v in np.ndenumerate(data):
        if np.isfinite(v):
            ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=7, color="w" if v < mid else "k")
    ax.figure.colorbar(im, ax=ax, label=label or value)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    _sweep_caption(ax, caption)
    return ax


def plan_chart(df, *, slo: float, chosen=None, ax=None, param: str = "param", metric: str = "metric",
               higher_is_better: bool = True, caption: str | None = None):
    """The capacity-planning answer: the metric against the planned parameter with its CI, the SLO line and the chosen value.

    ``df`` is tidy as for :func:`sweep_metric` (column ``param``); ``param``
    names the planned parameter on the axis; ``slo`` is the target in the
    metric's units; ``chosen`` is the value the plan picked (None: none
    meets the SLO, said on the chart).
    """
    ax = sweep_metric(df, ax=ax, metric=metric, caption=caption, xlabel=param)
    ax.axhline(slo, color="k", ls="--", lw=1, label=f"SLO {slo:g}")
    if chosen is not None:
        ax.axvline(chosen, color="0.3", ls="-.", lw=1.2, label=f"chosen {param} = {chosen:g}")
        ax.annotate(f"{chosen:g}", (chosen, slo), xytext=(5, 8 if higher_is_better else -14),
                    textcoords="offset points", fontsize=8)
    else:
        ax.text(0.02, 0.02, "no swept value meets the SLO", transform=ax.transAxes, fontsize=8, color="0.2")
    ax.legend(fontsize=8, loc="best")
    return ax


def tidy_sweep(agg, metric: str = "success_rate", param: str | None = None):
    """Turn :func:`resilsim.aggregate`'s output (or a plan's evidence) into the ``param, strategy, mean, lo, hi`` table.

    ``param`` defaults to the first swept (dotted) column; rows are sorted by it.
    """
    import pandas as pd

    if param is None:
        dotted = [c for c in agg.columns if "." in c]
        if not dotted:
            raise ValueError("the sweep table has no swept (dotted) parameter column; pass param=")
        param = dotted[0]
    out = pd.DataFrame({"param": agg[param].to_numpy(), "strategy": agg["strategy"].astype(str).to_numpy(),
                        "mean": agg[metric].to_numpy(float),
                        "lo": agg.get(f"{metric}_ci_low", agg[metric]).to_numpy(float),
                        "hi": agg.get(f"{metric}_ci_high", agg[metric]).to_numpy(float)})
    # One replication has no CI: the band collapses onto the mean rather than vanishing.
    out["lo"] = out["lo"].fillna(out["mean"])
    out["hi"] = out["hi"].fillna(out["mean"])
    return out.sort_values(["strategy", "param"], kind="stable").reset_index(drop=True)


METRIC_LABELS = {"success_rate": "request success rate", "p50_s": "p50 latency (s)", "p95_s": "p95 latency (s)",
                 "p99_s": "p99 latency (s)", "amplification": "attempts per request",
                 "goodput_rps": "goodput (successful requests/s)", "mean_attempts": "attempts per request"}


def plan_answer(p, *, metric: str | None = None, strategy: str | None = None, ax=None, caption: str | None = None):
    """Chart a :class:`resilsim.plan.Plan`: the first SLO metric against the varied parameter, SLO line, chosen value.

    ``strategy`` picks one strategy's answer to mark (default: the first);
    all strategies' evidence is drawn with CI bands.
    """
    metric = metric or next(iter(p.slo))
    op_thr = p.slo[metric]
    thr = float(op_thr.lstrip("<>="))
    tidy = tidy_sweep(p.evidence, metric, param=p.vary)
    name = strategy or next(iter(p.answers))
    chosen = p.answers.get(name)
    ax = plan_chart(tidy, slo=thr, chosen=chosen, ax=ax, param=p.vary, metric=METRIC_LABELS.get(metric, metric),
                    higher_is_better=op_thr.startswith(">"), caption=caption)
    if chosen is not None:
        for line in ax.get_lines():
            if line.get_label().startswith("chosen"):
                line.set_label(f"chosen for {name}: {p.vary} = {chosen:g}")
        ax.legend(fontsize=8, loc="best")
    return ax


def guards_over_time(result, *, ax=None):
    """Circuit-breaker state and retry-budget tokens over time, when the timeline carries them.

    Looks for timeline columns ``breaker_open`` (fraction of time open per
    bin) and ``budget_tokens``; says "no data" on the chart when the run has
    neither (no guards configured, or a build without guard sampling).
    """
    ax = _axes(ax)
    tl = result.timeline
    cols = [c for c in ("breaker_open", "breaker_state", "budget_tokens") if c in tl.columns]
    if not cols:
        _missing(ax, "no guard columns (breaker_open, budget_tokens) in the timeline")
        _caption(ax, result)
        return ax
    for name, ls in _styles(result.strategies).items():
        t = tl[tl["strategy"] == name]
        for c in cols:
            ax.plot(t["time"], t[c].to_numpy(float), ls=ls, label=f"{name}: {c.replace('_', ' ')}")
    _shade_incidents(ax, result.windows)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("breaker open (0–1) / budget tokens")
    ax.legend(fontsize=7, loc="upper right")
    _caption(ax, result)
    return ax


CHARTS = (("success_over_time", success_over_time), ("latency_cdf", latency_cdf),
          ("load_over_time", load_over_time), ("latency_bands", latency_bands),
          ("outcomes_by_strategy", outcomes_by_strategy), ("errors_over_time", errors_over_time))


def save_charts(result, out) -> list:
    """Write the standard charts of a result as PNGs into ``out``; return the paths."""
    from pathlib import Path

    import matplotlib
    from matplotlib.figure import Figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"figure.dpi": 110}):
        for name, fn in CHARTS:
            fig = Figure(figsize=(8, 4), layout="constrained")
            fn(result, ax=fig.add_subplot())
            p = out / f"{name}.png"
            fig.savefig(p)
            paths.append(p)
    return paths
