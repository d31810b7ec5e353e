"""Charts, matplotlib: each function takes tidy data and ``ax=None``, draws, and returns the Axes.

A run's charts take a :class:`resilsim.Result` or the tidy table they draw:
the timeline (``success_over_time``, ``load_over_time``, ``guards_over_time``),
the requests (``latency_cdf``, ``latency_bands``, ``outcomes_by_strategy``) or
the attempts (``errors_over_time``), e.g. read back from ``out/*.parquet`` or a
sweep store. Given a table, ``windows=`` (incidents as ``(start, end, label)``),
``title=``, ``duration=`` (seconds of arrivals) and ``warmup=`` (seconds left out of the summary)
say what a Result would have said. Sweep charts take the tidy
``param, strategy, mean, lo, hi`` table (:func:`resilsim.sweep.stats.metric_table`).

No ``plt.show()``, no global style changes: styles are set per call, and
strategies differ by line style as well as colour so a grey-scale print
still reads. Charts draw; what they show is computed by the result, the
metrics vocabulary and the sweep statistics.
"""
from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import numpy as np

from . import metrics

LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (8, 2)))


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    return ax


def _styles(names):
    return dict(zip(names, itertools.cycle(LINESTYLES)))


LABEL_PT = 7      # font size of incident labels (points)
LABEL_ROW_PT = 9  # height of one row of incident labels above the axes (points)


class Source(NamedTuple):
    """What a run's chart draws from: its table and what a Result says around it."""

    frame: object        # the tidy table drawn (timeline, requests or attempts)
    strategies: list     # strategy names, in the order lines and bars are drawn
    windows: list        # incidents, (start, end, label) in seconds
    changes: list        # arrival-rate changes, (start, end, label) in seconds
    bin_s: float         # width of a time bin, seconds
    duration: float      # seconds of arrivals
    title: str | None    # e.g. "scenario · seed 3"
    result: object       # the Result, or None for a plain table
    warmup: float = 0.0  # seconds at the start left out of the summary, shaded on time charts


def source(data, table: str, *, windows=None, title=None, duration=None, bin_s=None, warmup=None,
           columns=None) -> Source:
    """The :class:`Source` of a chart from a Result (``table``: "timeline", "measured" or "attempts") or a tidy table.

    For a table, strategies keep their first-seen order; ``bin_s`` (seconds)
    defaults to the smallest step of its ``time`` column (1 s without one) and
    ``duration`` (seconds of arrivals, as the scenario's) to its last time or
    start plus one bin: give the run's own (``run.json``) to draw exactly what
    the Result draws. ``warmup`` (seconds) defaults to the scenario's, or 0 for a table. ``columns``: of a
    Result's measured requests, only these (a chart's own columns: a smaller copy); a table is drawn as given.
    """
    if hasattr(data, "scenario"):
        frame = data.measured(columns=columns) if table == "measured" else getattr(data, table)
        s = data.scenario
        return Source(frame, list(data.strategies), list(data.windows) if windows is None else list(windows),
                      data.load_changes(), s.bin, s.duration, data.title() if title is None else title, data,
                      float(s.warmup if warmup is None else warmup))
    frame = data
    strategies = list(dict.fromkeys(frame["strategy"].astype(str))) if "strategy" in frame else []
    if bin_s is None:
        steps = np.diff(np.unique(frame["time"].to_numpy(float))) if "time" in frame else np.array([])
        bin_s = float(steps[steps > 0].min()) if (steps > 0).any() else 1.0
    if duration is None:
        col = next((c for c in ("time", "start") if c in frame), None)
        duration = (float(frame[col].max()) if col and len(frame) else 0.0) + bin_s
    return Source(frame, strategies, list(windows or []), [], float(bin_s), float(duration), title, None,
                  float(warmup or 0.0))


def _caption(ax, src: Source):
    """The source's title (scenario and seed) as the chart's left title, above the incident labels."""
    if not src.title:
        return
    rows = getattr(ax, "_resilsim_label_rows", 0)
    ax.set_title(src.title, fontsize=9, loc="left", color="0.3", pad=6 + rows * LABEL_ROW_PT)


WARMUP_LABEL = "warm-up (not in the summary)"


def _shade_incidents(ax, windows, changes=(), warmup: float = 0.0, names: bool = True):
    """Shade incident windows (grey), arrival-rate changes (hatched) and the warm-up (dotted); name each above the axes.

    Names go in rows above the plot, a name moving up a row when it would
    overlap the previous one in its row, so adjacent incidents stay legible.
    ``names=False`` shades without names (the lower panels of a faceted figure).
    """
    ax._resilsim_label_rows = 0
    if warmup > 0:
        ax.axvspan(0, warmup, facecolor="0.97", edgecolor="0.8", hatch=".", zorder=0, lw=0, label=WARMUP_LABEL)
    spans = []
    for i, (start, end, label) in enumerate(windows):
        ax.axvspan(start, end, color="0.85", zorder=0, lw=0, label="incident" if i == 0 else None)
        spans.append((start, label))
    for i, (start, end, label) in enumerate(changes):
        ax.axvspan(start, end, facecolor="none", edgecolor="0.6", hatch="///", zorder=0, lw=0,
                   label="load change" if i == 0 else None)
        spans.append((start, label))
    if not spans or not names:
        return
    x0, x1 = ax.get_xlim()
    # Data units per point of text. The Axes shrinks once the layout places legends and labels,
    # so assume at most 85% of the figure's width: over-estimating only costs a row.
    width_pt = min(ax.bbox.width, 0.85 * ax.figure.bbox.width) * 72 / ax.figure.dpi
    per_pt = (x1 - x0) / max(width_pt, 1.0)
    row_end: list[float] = []
    for start, label in sorted(spans, key=lambda t: t[0]):
        width = (len(label) + 2) * LABEL_PT * 0.62 * per_pt
        row = next((r for r, end in enumerate(row_end) if start >= end), len(row_end))
        if row == len(row_end):
            row_end.append(0.0)
        row_end[row] = start + width
        ax.annotate(label, (max(start, x0), 1.0), xycoords=ax.get_xaxis_transform(), xytext=(1, 2 + row * LABEL_ROW_PT),
                    textcoords="offset points", fontsize=LABEL_PT, va="bottom", color="0.3")
    ax._resilsim_label_rows = len(row_end)


def smooth_values(y: np.ndarray, width: int) -> np.ndarray:
    """The moving mean of ``y`` over ``width`` bins, centred, NaNs left out (as a chart draws it)."""
    if width <= 1:
        return y
    kernel = np.ones(width) / width
    mask = ~np.isnan(y)
    num = np.convolve(np.where(mask, y, 0.0), kernel, mode="same")
    den = np.convolve(mask.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


#: Default moving means (seconds, at most; a 60th of the run when shorter) of the timeline charts.
SMOOTH_S = {"success_over_time": 10.0, "load_over_time": 5.0, "errors_over_time": 5.0}


def smoothing_bins(src: Source, seconds: float | None, longest: float) -> int:
    """Bins in the moving mean: ``seconds``, or by default a 60th of the run, at most ``longest`` s.

    A short run keeps its detail (a 10 s mean would smear a 10 s spike over 20 s).
    """
    if seconds is None:
        seconds = min(longest, src.duration / 60)
    return max(1, int(round(seconds / src.bin_s)))


def _seconds_axis(axis) -> None:
    """Plain decimal tick labels (0.2, 1, 5) on a log-scaled seconds axis, minor ticks too when few decades show."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    def minor(v, _):
        lead = v / 10 ** np.floor(np.log10(v)) if v > 0 else 0
        return f"{v:g}" if round(lead) in (2, 3, 5) else ""

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    lo, hi = axis.axes.get_xlim() if axis.axis_name == "x" else axis.axes.get_ylim()
    few = lo > 0 and hi / lo < 30
    axis.set_minor_formatter(FuncFormatter(minor) if few else NullFormatter())


def success_over_time(data, *, ax=None, smooth: float | None = None, windows=None, title=None, duration=None,
                      warmup=None, baseline: str | None = None):
    """Success rate of requests by arrival time, per strategy, incidents and warm-up shaded.

    ``data``: a Result or a timeline table (``time``, ``strategy``, ``success_rate``).
    ``smooth``: seconds of moving mean (default: a 60th of the run, at most 10 s).
    ``baseline``: a strategy's name: draw every other strategy's success rate
    minus the baseline's, in percentage points, so strategies whose lines lie
    on top of each other on the 0–1 scale separate (the baseline is the zero line).
    """
    src = source(data, "timeline", windows=windows, title=title, duration=duration, warmup=warmup)
    if baseline is not None and baseline not in src.strategies:  # before a figure is made: nothing left open
        raise ValueError(f"baseline {baseline!r} is not a strategy of the data; "
                         f"strategies: {', '.join(src.strategies)}")
    ax = _axes(ax)
    tl = src.frame
    width = smoothing_bins(src, smooth, SMOOTH_S["success_over_time"])

    def series(name):
        t = tl[tl["strategy"] == name]
        return t["time"].to_numpy(float), smooth_values(t["success_rate"].to_numpy(float), width)

    styles = _styles(src.strategies)
    if baseline is not None:
        _, base = series(baseline)
        for i, (name, ls) in enumerate(styles.items()):
            if name != baseline:
                t, y = series(name)
                ax.plot(t, 100 * (y - base), ls=ls, color=f"C{i}", label=name, lw=1.4)
        ax.axhline(0, color=f"C{src.strategies.index(baseline)}", ls=styles[baseline], lw=1.0,
                   label=f"{baseline} (baseline)")
        ax.set_ylabel(metrics.axis("success_difference", baseline=baseline).replace(" (", "\n("))
    else:
        for i, (name, ls) in enumerate(styles.items()):
            ax.plot(*series(name), ls=ls, color=f"C{i}", label=name, lw=1.4)
        ax.set_ylabel(metrics.axis("success_rate"))
        ax.set_ylim(-0.02, 1.02)
    _shade_incidents(ax, src.windows, src.changes, src.warmup)
    ax.set_xlabel(metrics.axis("arrival_time"))
    _legend_outside(ax, ncol=4)
    _caption(ax, src)
    return ax


def success_by_strategy(data, *, fig=None, baseline: str | None = None, smooth: float | None = None, windows=None,
                        title=None, duration=None, warmup=None):
    """Success rate over time (top) and, below, one small multiple per strategy of its difference to ``baseline``.

    ``data``: a Result or a timeline table. ``baseline``: a strategy (default:
    the first). Each facet draws its strategy in colour and the others in
    light grey on a shared axis (percentage points), so lines that would lie
    on top of each other each get a panel, and says in its title the mean
    difference over the incidents and outside them (bins after the warm-up,
    unsmoothed). ``fig``: a matplotlib Figure (default: a new pyplot figure).
    Returns the Axes, top first.
    """
    src = source(data, "timeline", windows=windows, title=title, duration=duration, warmup=warmup)
    baseline = src.strategies[0] if baseline is None and src.strategies else baseline
    if baseline not in src.strategies:
        raise ValueError(f"baseline {baseline!r} is not a strategy of the data; "
                         f"strategies: {', '.join(src.strategies)}")
    others = [n for n in src.strategies if n != baseline]
    if fig is None:
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=(8, 3.4 + 1.3 * len(others)), layout="constrained")
    axes = fig.subplots(1 + len(others), 1, sharex=True, squeeze=False,
                        height_ratios=[2.2] + [1] * len(others))[:, 0]
    kw = dict(smooth=smooth, windows=windows, duration=duration, warmup=warmup)
    success_over_time(data, ax=axes[0], title=title, **kw)
    axes[0].get_legend().remove()
    axes[0].set_xlabel("")
    tl = src.frame
    width = smoothing_bins(src, smooth, SMOOTH_S["success_over_time"])
    styles = _styles(src.strategies)
    raw = {n: tl.loc[tl["strategy"] == n, "success_rate"].to_numpy(float) for n in src.strategies}
    t = tl.loc[tl["strategy"] == baseline, "time"].to_numpy(float)
    diff = {n: 100 * (smooth_values(raw[n], width) - smooth_values(raw[baseline], width)) for n in others}
    inside = np.zeros(len(t), bool)
    for start, end, _ in src.windows:
        inside |= (t >= start) & (t < end)
    after = t >= src.warmup
    b = src.strategies.index(baseline)
    for k, (ax, name) in enumerate(zip(axes[1:], others)):
        for other in others:  # the rest in grey, behind: the facet's strategy against the field
            if other != name:
                ax.plot(t, diff[other], color="0.62", lw=0.7, alpha=0.6, zorder=1)
        i = src.strategies.index(name)
        ax.plot(t, diff[name], ls=styles[name], color=f"C{i}", lw=1.5, zorder=3)
        ax.axhline(0, color=f"C{b}", ls=styles[baseline], lw=1.0, zorder=2)
        _shade_incidents(ax, src.windows, src.changes, src.warmup, names=False)
        d = 100 * (raw[name] - raw[baseline])
        parts = []
        for what, m in (("in incidents", inside & after), ("outside", ~inside & after)):
            if m.any() and np.isfinite(d[m]).any():
                parts.append(f"{np.nanmean(d[m]):+.1f} pp {what}")
        ax.set_title(f"{name} − {baseline}" + (f": {', '.join(parts)}" if parts else ""), fontsize=8, loc="right",
                     color="0.2", pad=3)
        ax.set_ylabel(f"− {baseline}\n(pp)", fontsize=8)
        if k < len(others) - 1:
            ax.set_xlabel("")
    if len(axes) > 1:
        lo = min(np.nanmin(d) for d in diff.values() if np.isfinite(d).any()) if others else 0.0
        hi = max(np.nanmax(d) for d in diff.values() if np.isfinite(d).any()) if others else 0.0
        pad = 0.08 * max(hi - lo, 1.0)
        for ax in axes[1:]:
            ax.set_ylim(min(lo, 0) - pad, max(hi, 0) + pad)
        axes[-1].set_xlabel(metrics.axis("arrival_time"))
        axes[1].annotate(f"below: {metrics.axis('success_difference', baseline=baseline)}; "
                         "others in grey", (0, 1), xycoords="axes fraction", xytext=(0, 3),
                         textcoords="offset points", fontsize=8, color="0.3", va="bottom")
    handles = {}
    for h, label in zip(*axes[0].get_legend_handles_labels()):
        handles.setdefault(f"{label} (baseline)" if label == baseline else label, h)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=4, fontsize=7,
               frameon=False)
    return list(axes)


def ecdf_steps(values, complementary: bool = False, keep: int = 2000):
    """The empirical CDF of ``values`` as step vertices (x sorted, y = fraction ≤ x, or > x when
    ``complementary``), thinned for drawing: ``keep`` evenly spaced steps plus the ``keep`` largest values
    exactly, so the tail a log axis magnifies is drawn step by step and a 100,000-row CDF stays cheap."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    y = np.arange(1, n + 1) / n
    if n > 2 * keep:
        idx = np.unique(np.concatenate([np.linspace(0, n - 1, keep).astype(int), np.arange(n - keep, n)]))
        x, y = x[idx], y[idx]
    x = np.concatenate([[x[0]], x])  # the curve starts from 0 (or 1) at the smallest value
    y = np.concatenate([[0.0], y])
    return x, (1.0 - y if complementary else y)


def latency_cdf(data, *, ax=None, log: bool = True, title=None, tail: bool = False):
    """Empirical CDF of successful requests' latency (seconds), per strategy.

    ``data``: a Result (its measured requests) or a requests table (``strategy``, ``outcome``, ``latency``).
    ``tail``: draw the complementary CDF (the fraction slower than each latency) on a log axis down to
    one request in the largest sample, where the p99 and p99.9 differences the CDF squeezes into its
    top edge show.
    """
    ax = _axes(ax)
    src = source(data, "measured", title=title, columns=("strategy", "outcome", "latency"))
    req = src.frame
    most = 0
    for name, ls in _styles(src.strategies).items():
        lat = req.loc[(req["strategy"] == name) & (req["outcome"] == "success"), "latency"].to_numpy()
        if len(lat):
            x, y = ecdf_steps(lat, complementary=tail)
            (line,) = ax.plot(x, y, ls=ls, label=name, drawstyle="steps-post")
            line.sticky_edges.y[:] = [0, 1]  # as Axes.ecdf: no margin beyond 0 and 1
            most = max(most, len(lat))
    if log:
        ax.set_xscale("log")
        _seconds_axis(ax.xaxis)
    ax.set_xlabel(metrics.axis("latency"))
    ax.set_ylabel(metrics.axis("latency_tail" if tail else "latency_share"))
    if tail and most:
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        ax.set_ylim(0.5 / most, 1.5)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        for q in (0.01, 0.001):  # where p99 and p99.9 sit
            if q * most >= 1:
                ax.axhline(q, color="0.6", lw=0.6, ls=":", zorder=0)
                ax.annotate(f"p{100 * (1 - q):g}", (1.0, q), xycoords=("axes fraction", "data"), xytext=(2, 0),
                            textcoords="offset points", fontsize=7, color="0.4", va="center")
    _legend_outside(ax, ncol=4)
    _caption(ax, src)
    return ax


def capacity_label(capacity: float) -> str:
    """The legend text of the capacity line."""
    return f"capacity ≈ {capacity:.3g}/s"


def load_over_time(data, *, ax=None, smooth: float | None = None, windows=None, title=None, duration=None,
                   capacity: float | None = None, rate_limit: float | None = None, warmup=None,
                   strategy: str | None = None, legend: bool = True):
    """Offered requests and attempts per second over time per strategy: the retry load the service sees.

    ``data``: a Result or a timeline table (``time``, ``strategy``,
    ``attempts_rps``, ``offered_rps``). The service's capacity
    (:meth:`resilsim.Result.capacity_rps`, or ``capacity=``) and a global
    rate limit (``rate_limit=``, requests/s) are drawn as horizontal lines.
    ``smooth``: seconds of moving mean (default: a 60th of the run, at most 5 s).
    ``strategy``: draw that strategy's attempts only (in its colour among all of them); ``legend=False``
    leaves the legend out (a faceted figure draws one).
    """
    ax = _axes(ax)
    src = source(data, "timeline", windows=windows, title=title, duration=duration, warmup=warmup)
    if src.result is not None:
        capacity = src.result.capacity_rps() if capacity is None else capacity
        rate_limit = src.result.rate_limit_rps() if rate_limit is None else rate_limit
    tl = src.frame
    width = smoothing_bins(src, smooth, SMOOTH_S["load_over_time"])
    first = tl[tl["strategy"] == src.strategies[0]]
    for i, (name, ls) in enumerate(_styles(src.strategies).items()):
        if strategy is not None and name != strategy:
            continue
        t = tl[tl["strategy"] == name]
        ax.plot(t["time"], smooth_values(t["attempts_rps"].to_numpy(float), width), ls=ls, color=f"C{i}",
                label=f"attempts: {name}")
    # Offered load on top, thin and black: without retries the attempts line lies under it.
    ax.plot(first["time"], smooth_values(first["offered_rps"].to_numpy(float), width), color="k", lw=1.0,
            zorder=3, label="offered requests")
    if capacity is not None:
        ax.axhline(capacity, color="0.2", ls=(0, (6, 3)), lw=1.2, zorder=2.5, label=capacity_label(capacity))
    if rate_limit is not None:  # only a global limiter over all operations is one line on this chart
        ax.axhline(rate_limit, color="0.4", ls=":", lw=1.2, label=f"rate limit {rate_limit:g}/s")
    _shade_incidents(ax, src.windows, src.changes, src.warmup)
    ax.set_xlabel(metrics.axis("time"))
    ax.set_ylabel(metrics.axis("load"))
    if legend:
        _legend_outside(ax)
    _caption(ax, src)
    return ax


def _facet_axes(fig, src, *, base: float, height: float):
    """(figure, Axes): one row per strategy of ``src`` on shared axes, into ``fig`` or a new pyplot figure
    ``base`` + ``height`` inches per strategy tall (8 wide)."""
    n = max(1, len(src.strategies))
    if fig is None:
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=(8, base + height * n), layout="constrained")
    return fig, fig.subplots(n, 1, sharex=True, sharey=True, squeeze=False)[:, 0]


def _tidy_facets(fig, axes, names, metric: str, *, title_top: bool = True) -> None:
    """Small multiples read as one figure: incident names once (above the top facet), each facet titled
    with its strategy, one x label at the bottom and one y label (``metric``'s) for the column."""
    for i, (ax, name) in enumerate(zip(axes, names)):
        if i:
            for text in ax.texts:
                text.remove()
        if i or title_top:
            ax.set_title(f"strategy: {name}", fontsize=9, loc="right", color="0.3", pad=4)
        if i < len(axes) - 1:
            ax.set_xlabel("")
        ax.set_ylabel("")
    fig.supylabel(metrics.axis(metric), fontsize=10)


def load_by_strategy(data, *, fig=None, smooth: float | None = None, windows=None, title=None, duration=None,
                     capacity: float | None = None, rate_limit: float | None = None, warmup=None):
    """:func:`load_over_time` as small multiples: each strategy's attempts against the offered requests, the
    capacity and the rate limit, one facet per strategy on shared axes (requests or attempts per second).

    Where attempts lines lie on top of each other (two retry loops alike, or a strategy that never retries
    under the offered line) each gets its own panel. ``fig``: a matplotlib Figure (default: a new pyplot
    figure). Returns the Axes, top to bottom.
    """
    src = source(data, "timeline", windows=windows, title=title, duration=duration, warmup=warmup)
    fig, axes = _facet_axes(fig, src, base=1.4, height=1.4)
    for i, (ax, name) in enumerate(zip(axes, src.strategies)):
        load_over_time(data, ax=ax, smooth=smooth, windows=windows, title=title if i == 0 else "",
                       duration=duration, capacity=capacity, rate_limit=rate_limit, warmup=warmup, strategy=name,
                       legend=False)
    _tidy_facets(fig, axes, src.strategies, "load")
    handles = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if not label.startswith("attempts: "):
                handles.setdefault(label, h)
    from matplotlib.lines import Line2D
    handles = {"attempts (in the panel's strategy's colour)": Line2D([], [], color="0.5", lw=1.5), **handles}
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    return list(axes)


def load_by_layer(data, *, ax=None, strategy: str | None = None, smooth: float | None = None, windows=None,
                  title=None, warmup=None):
    """Attempts per second over time at each layer of the call graph, for one strategy: the clients' attempts
    at the API (``api``) and, for each service behind it (``services:``), the attempts of every call into it.

    ``data``: a Result (its :meth:`~resilsim.Result.service_timeline`) or that tidy table (``strategy``,
    ``service``, ``time``, ``attempts_rps``). ``strategy``: the one drawn (default: the first).
    ``smooth``: seconds of moving mean (default: a 60th of the run, at most 5 s). Returns the Axes.
    Without services the Axes says so (see :func:`load_by_layer_by_strategy` for one facet per strategy).
    """
    ax = _axes(ax)
    frame = data.service_timeline() if hasattr(data, "scenario") else data
    src = source(data, "timeline", windows=windows, title=title, warmup=warmup)
    src = src._replace(frame=frame) if src.result is not None else source(
        frame, "timeline", windows=windows, title=title, warmup=warmup)
    if not len(frame):
        return _missing(ax, "attempts per layer (the scenario has no services:)")
    name = strategy if strategy is not None else src.strategies[0]
    width = smoothing_bins(src, smooth, SMOOTH_S["load_over_time"])
    t = frame[frame["strategy"] == name]
    for i, (svc, layer) in enumerate(t.groupby("service", sort=False)):
        label = "clients → api" if svc == "api" else f"→ {svc}"
        ax.plot(layer["time"], smooth_values(layer["attempts_rps"].to_numpy(float), width),
                color="k" if svc == "api" else f"C{i}", lw=1.0 if svc == "api" else 1.5,
                ls=LINESTYLES[i % len(LINESTYLES)], label=label)
    _shade_incidents(ax, src.windows, src.changes, src.warmup)
    ax.set_xlabel(metrics.axis("time"))
    ax.set_ylabel(metrics.axis("layer_load"))
    _legend_outside(ax, ncol=4)
    _caption(ax, src)
    return ax


def load_by_layer_by_strategy(data, *, fig=None, smooth: float | None = None, windows=None, title=None,
                              warmup=None):
    """:func:`load_by_layer` as small multiples: one facet per strategy on shared axes (attempts per second).
    ``fig``: a matplotlib Figure (default: a new pyplot figure). Returns the Axes, top to bottom."""
    src = source(data, "timeline", windows=windows, title=title, warmup=warmup)
    fig, axes = _facet_axes(fig, src, base=1.4, height=1.4)
    for i, (ax, name) in enumerate(zip(axes, src.strategies)):
        load_by_layer(data, ax=ax, strategy=name, smooth=smooth, windows=windows, title=title if i == 0 else "",
                      warmup=warmup)
        if i < len(axes) - 1 and ax.get_legend() is not None:
            ax.get_legend().remove()
    _tidy_facets(fig, axes, src.strategies, "layer_load")
    return list(axes)


def _legend_outside(ax, ncol: int = 3, **kw):
    """A legend under the x-axis label, where it hides no data and leaves the time axis its full width."""
    from matplotlib.transforms import ScaledTranslation

    # 30 points below the Axes: clear of the tick labels and the x-axis label.
    where = ax.transAxes + ScaledTranslation(0, -30 / 72, ax.figure.dpi_scale_trans)
    return ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=where,
                     ncol=ncol, frameon=False, **kw)


def _legend_right(ax, **kw):
    """A legend to the right of the Axes, outside the data (a constrained layout makes room for it)."""
    return ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                     title_fontsize=7, **kw)


HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--", "**", "||")


def _missing(ax, what: str):
    """Say on the Axes (and in its title) that the data for this chart is missing, instead of failing."""
    ax.text(0.5, 0.5, f"no data: {what}", transform=ax.transAxes, ha="center", va="center", color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


MARKERS = "os^vDP*X"


def latency_bands(data, *, ax=None, window: float | None = None, windows=None, title=None, duration=None,
                  warmup=None, strategy: str | None = None, legend: bool = True):
    """p50/p95/p99 latency (s) of successful requests by arrival time, per strategy, over ``window``-second bins.

    ``data``: a Result or a requests table (``strategy``, ``outcome``, ``start``, ``latency``).

    Line style tells the percentile (p50 solid, p95 dashed, p99 dotted);
    colour *and* marker tell the strategy, so a grey-scale print still
    reads; the p50–p99 band is shaded lightly. ``window`` defaults to about
    a hundredth of the run (at least 10 s). Bins without a success are gaps.
    ``strategy``: draw that strategy only (in its colour among all of them);
    ``legend=False`` leaves the legend out (a faceted figure draws one).
    """
    ax = _axes(ax)
    src = _bands_source(data, windows=windows, title=title, duration=duration, warmup=warmup)
    return _draw_latency_bands(ax, src, latency_band_values(data, window=window, src=src), strategy, legend)


def _bands_source(data, **kw) -> Source:
    """The :class:`Source` of the latency bands: the timeline of a summary-only result, else the requests."""
    return source(data, "timeline" if getattr(data, "record", "full") == "summary" else "requests", **kw)


def _draw_latency_bands(ax, src: Source, bands, strategy: str | None, legend: bool):
    """Draw :func:`latency_bands` on ``ax`` from ``bands`` (:func:`latency_band_values`' answer), computed once
    for all the facets of :func:`latency_bands_by_strategy`."""
    from matplotlib.lines import Line2D

    width, mids, values = bands
    if not values:
        _missing(ax, "no successful requests")
        _caption(ax, src)
        return ax
    styles = ((50, "-", 1.6), (95, "--", 1.1), (99, ":", 1.1))
    strategy_handles = []
    for i, name in enumerate(src.strategies):
        q = values.get(name)
        if q is None or (strategy is not None and name != strategy):
            continue
        color, marker = f"C{i}", (MARKERS[i % len(MARKERS)] if strategy is None else "")  # a facet: no marker needed
        # About a dozen markers per line, offset per strategy so they do not sit on each other.
        every = (i % 3 * max(1, len(mids) // 36), max(1, len(mids) // 12))
        ax.fill_between(mids, q[:, 0], q[:, 2], color=color, alpha=0.10, lw=0)
        for j, (p, ls, lw) in enumerate(styles):
            ax.plot(mids, q[:, j], ls=ls, lw=lw, color=color, marker=marker, markevery=every, ms=4,
                    mfc="white" if j else color, label=f"{name} p{p}")
        strategy_handles.append(Line2D([], [], color=color, marker=marker, lw=1.6, label=name))
    _shade_incidents(ax, src.windows, src.changes, src.warmup)
    ax.set_yscale("log")
    _seconds_axis(ax.yaxis)
    ax.set_xlabel(f"{metrics.axis('arrival_time')[:-1]}; {width:g} s bins)")
    ax.set_ylabel(metrics.axis("latency"))
    handles = strategy_handles + [Line2D([], [], color="0.2", ls=ls, lw=lw, label=f"p{p}") for p, ls, lw in styles]
    if legend:
        _legend_outside(ax, handles=handles)
    _caption(ax, src)
    return ax


def latency_band_values(data, *, window: float | None = None, src: Source | None = None):
    """(band width s, band midpoints s, {strategy: p50/p95/p99 per band, s}) of :func:`latency_bands`.

    Successful requests by arrival time, every band of the run (NaN where none
    succeeded, so lines break there); strategies without a success are left
    out. A summary-only result (``record="summary"``) gives its streaming
    histograms' quantiles (within 1 %, bands of its own default width); a
    Result or requests table, the exact percentiles of the rows.
    """
    from .histogram import band_edges, band_width

    if getattr(data, "record", "full") == "summary":
        src = src or source(data, "timeline")
        width = band_width(src.duration, src.bin_s)  # the bands the run kept (resilsim.sim.recorder)
        if window is not None and band_width(src.duration, src.bin_s, window) != width:
            raise ValueError(f"a summary-only result has latency bands of {width:g} s only, not {window:g} s; "
                             "simulate with record='full' for other windows")
        edges = band_edges(src.duration, width)
        out = {name: q for name, q in ((n, data.latency_bands(n)[1]) for n in src.strategies)
               if not np.isnan(q).all()}
        return width, edges[:-1] + width / 2, out
    src = src or source(data, "requests")
    req = src.frame
    ok = req.loc[req["outcome"] == "success", ["strategy", "start", "latency"]]  # only the columns used
    width = band_width(src.duration, src.bin_s, window)
    edges = band_edges(src.duration, width)
    nb = len(edges) - 1
    mids = edges[:nb] + width / 2
    out = {}
    for name in src.strategies:
        r = ok[ok["strategy"] == name]
        if r.empty:
            continue
        b = np.clip((r["start"].to_numpy() // width).astype(int), 0, nb - 1)
        lat = r["latency"].to_numpy()
        # Every bin, NaN where no request succeeded, so the lines break there instead of bridging an outage.
        q = np.full((nb, 3), np.nan)
        # Each bin's latencies as one slice of the requests sorted by bin (not a mask over all of them per bin),
        # each slice sorted: every bin's percentiles at once from them (np.percentile per bin, ~40-70 µs a call,
        # took 0.015-0.025 s in aurora's 360 calls; sorting the slices, ~0.001 s).
        order = np.argsort(b, kind="stable")
        b, lat = b[order], lat[order]
        bins, first, counts = np.unique(b, return_index=True, return_counts=True)
        for lo, n in zip(first.tolist(), counts.tolist()):
            lat[lo:lo + n].sort()  # lat is this function's own copy
        q[bins] = sorted_percentiles(lat, first, counts, (50, 95, 99))
        out[name] = q
    return width, mids, out


def sorted_percentiles(values: np.ndarray, first: np.ndarray, counts: np.ndarray, percents) -> np.ndarray:
    """``np.percentile(values[f:f + n], percents)`` for every slice (``first`` f, ``counts`` n ≥ 1) of ``values``, each
    slice sorted ascending: an array (slices × percents), the same floats bit for bit (numpy's default "linear"
    method: index (n - 1)·p/100 between its two neighbours, numpy's two-sided interpolation; a slice holding NaN
    gives NaN). tests/test_plots.py compares it with np.percentile on many random slices."""
    first = np.asarray(first, dtype=np.intp)[:, None]
    n = np.asarray(counts, dtype=np.intp)[:, None]
    quantiles = np.true_divide(np.asarray(percents, dtype=float), 100)[None, :]
    at = (n - 1) * quantiles  # virtual index in the slice
    below = np.floor(at)
    last = at >= n - 1  # at or past the last value: the last value
    lo = np.where(last, n - 1, below.astype(np.intp))
    hi = np.where(last, n - 1, lo + 1)
    gamma = at - np.where(last, -1, lo)  # as numpy's (its index past the end is -1); lo == hi there anyway
    a, b = values[first + lo], values[first + hi]
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    out[np.isnan(values[first[:, 0] + n[:, 0] - 1])] = np.nan  # NaN sorts last: the slice's percentiles are NaN
    return out


def latency_bands_by_strategy(data, *, fig=None, window: float | None = None, windows=None, title=None,
                              duration=None, warmup=None):
    """:func:`latency_bands` as small multiples: one facet per strategy on shared time and latency axes (s).

    Seven strategies' three percentiles on one Axes are 21 lines on top of each other; a facet each
    keeps every band readable and the shared log axis keeps them comparable. ``fig``: a matplotlib
    Figure (default: a new pyplot figure). Returns the Axes, top to bottom.
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter

    src = _bands_source(data, windows=windows, title=title, duration=duration, warmup=warmup)
    fig, axes = _facet_axes(fig, src, base=1.4, height=1.5)
    bands = latency_band_values(data, window=window, src=src)  # once, not once per facet
    for i, (ax, name) in enumerate(zip(axes, src.strategies)):
        _draw_latency_bands(ax, src if i == 0 else src._replace(title=""), bands, name, False)
        ax.yaxis.set_minor_formatter(NullFormatter())  # small panels: major labels only (and a quicker layout)
    _tidy_facets(fig, axes, src.strategies, "latency")
    handles = [Line2D([], [], color="0.2", ls=ls, lw=lw, label=f"p{p}")
               for p, ls, lw in ((50, "-", 1.6), (95, "--", 1.1), (99, ":", 1.1))]
    handles += [h for h, label in zip(*axes[0].get_legend_handles_labels())
                if label in (WARMUP_LABEL, "incident", "load change")]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=7, frameon=False,
               title="p50–p99 shaded", title_fontsize=7)
    return list(axes)


def outcomes_by_strategy(data, *, ax=None, normalise: bool = True, title=None, zoom: bool = True):
    """Stacked bars of final outcomes per strategy (success, failed by code, retries exhausted, deadline, shed).

    ``data``: a Result, or a count table (``strategy``, ``outcome``,
    ``requests``) as :meth:`resilsim.Result.outcome_counts` gives.
    ``normalise`` shows fractions of measured requests, else counts. Each
    segment has its own hatch so a grey-scale print still separates them.
    ``zoom`` (fractions only): the axis starts just below the lowest success
    share instead of at 0 (said in the axis label), so 0.87 against 0.93 reads
    as a difference; each bar is labelled with its success share.
    """
    ax = _axes(ax)
    if hasattr(data, "scenario"):
        src = source(data, "timeline", title=title)._replace(frame=data.outcome_counts())
    else:
        src = source(data, "counts", title=title)
    df = src.frame
    if df.empty:
        _missing(ax, "no measured requests")
        _caption(ax, src)
        return ax
    table = df.pivot_table(index="strategy", columns="outcome", values="requests", aggfunc="sum", fill_value=0)
    table = table.reindex([s for s in src.strategies if s in table.index])
    table = table[_outcome_order(table.columns)]
    if normalise:
        table = table.div(table.sum(axis=1), axis=0)
    x = np.arange(len(table.index))
    bottom = np.zeros(len(x))
    for i, col in enumerate(table.columns):
        vals = table[col].to_numpy(float)
        ax.bar(x, vals, bottom=bottom, label=_outcome_label(col), color=f"C{i}", hatch=HATCHES[i % len(HATCHES)],
               edgecolor="0.2", lw=0.5)
        bottom += vals
    ticks = list(table.index)
    if src.result is not None:  # what each strategy's answer cost: the attempts it sent per request
        ticks = _amplification_ticks(ticks, src.result)
    ax.set_xticks(x, ticks, fontsize=8)
    if sum(len(str(t).split("\n")[0]) for t in ticks) * 6.5 > 0.7 * ax.figure.bbox.width * 72 / ax.figure.dpi:
        # Names wider than their bars would run into each other: slant them.
        ax.tick_params(axis="x", labelrotation=25)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
    ax.set_xlabel("strategy" if src.result is None else "strategy (× attempts sent per request: the cost in load)")
    ax.set_ylabel(metrics.axis("outcome_share" if normalise else "outcome_count"))
    if normalise and "success" in table:
        share = table["success"].to_numpy(float)
        for xi, v in zip(x, share):
            ax.annotate(f"{v:.3f}", (xi, v), xytext=(0, -3), textcoords="offset points", ha="center", va="top",
                        fontsize=7, color="w", fontweight="bold")
        if zoom:
            _zoom_to_shares(ax, share)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), title="outcome", title_fontsize=7)
    _caption(ax, src)
    return ax


def _outcome_order(outcomes) -> list:
    """The stacking order of outcome columns: success, failures by code, then the other endings."""
    outcomes = set(outcomes)
    order = ["success"] + sorted(c for c in outcomes if c.startswith("failed")) + [
        c for c in ("retries_exhausted", "deadline", "shed", "incomplete") if c in outcomes]
    return [c for c in order if c in outcomes]


def _amplification_ticks(names: list, result) -> list:
    """The tick labels of :func:`outcomes_by_strategy`'s bars: each strategy's name over the attempts it sent per
    request (``result``'s summary), what its answer cost in load."""
    amp = result.summary()["amplification"]
    return [f"{name}\n×{amp.get(name, np.nan):.2f}" for name in names]


def _zoom_to_shares(ax, share) -> bool:
    """Start ``ax``'s share axis just below the lowest success ``share`` (fractions) and say so in its label, as
    :func:`outcomes_by_strategy` zooms; False, changing nothing, where :func:`zoom_floor` says 0 (no zoom)."""
    low = zoom_floor(share)
    if low <= 0:
        return False
    ax.set_ylim(low, 1.0 + (1.0 - low) * 0.02)
    ax.set_ylabel(f"{metrics.axis('outcome_share')[:-1]};\naxis from {low:g}, not 0)")
    return True


def update_outcomes_by_strategy(ax, data) -> bool:
    """Put a Result's outcome shares into the chart :func:`outcomes_by_strategy` drew on ``ax`` (normalised, zoomed).

    Sets the bars' bottoms and heights, the success-share labels, the tick
    labels (amplification) and the axis range (zoomed or not) in place,
    without drawing the chart anew (an in-place update: what the explorer
    redraws on a slider change). False, changing nothing, when the chart's
    make-up differs: other strategies or outcomes, or no success column.
    """
    counts = data.outcome_counts()
    present = set(counts["strategy"])
    names = [s for s in data.strategies if s in present]
    order = _outcome_order(counts["outcome"])
    bars = ax.containers
    if ("success" not in order or [c.get_label() for c in bars] != [_outcome_label(c) for c in order]
            or any(len(c) != len(names) for c in bars) or len(ax.texts) != len(names)):
        return False
    row, col = {n: i for i, n in enumerate(names)}, {c: j for j, c in enumerate(order)}
    table = np.zeros((len(names), len(order)))
    for s, o, n in zip(counts["strategy"], counts["outcome"], counts["requests"]):
        table[row[s], col[o]] += n
    table = table / table.sum(axis=1, keepdims=True)
    share = table[:, col["success"]]
    bottom = np.zeros(len(names))
    for j, container in enumerate(bars):
        for rect, b, v in zip(container, bottom, table[:, j]):
            rect.set_y(b)
            rect.set_height(v)
            rect.sticky_edges.y[:] = [b]  # as ax.bar leaves it: the axis stops at the stack's foot
        bottom += table[:, j]
    x = np.arange(len(names))
    for text, xi, v in zip(ax.texts, x, share):
        text.set_text(f"{v:.3f}")
        text.xy = (xi, v)
    ax.set_xticks(x, _amplification_ticks(names, data), fontsize=8)
    if not _zoom_to_shares(ax, share):  # not zoomed: the axis autoscales to the bars, as a new chart's does
        ax.set_ylabel(metrics.axis("outcome_share"))
        ax.set_autoscaley_on(True)
        ax.relim()
        ax.autoscale_view()
    return True


def update_latency_bands(ax, data) -> bool:
    """Put a Result's latency bands into the lines and shaded bands :func:`latency_bands` drew on ``ax``.

    Only the data change (p50/p95/p99 per band, s); the caller rescales the
    axis. False, changing nothing, when other strategies have successes or
    the bands differ (another duration or bin).
    """
    _, mids, values = latency_band_values(data)
    names = [n for n in data.strategies if n in values]
    lines = ax.get_lines()
    fills = [c for c in ax.collections if hasattr(c, "set_data")]  # matplotlib >= 3.10: FillBetweenPolyCollection
    if ([line.get_label() for line in lines] != [f"{n} p{p}" for n in names for p in (50, 95, 99)]
            or len(fills) != len(names) or (lines and not np.array_equal(lines[0].get_xdata(), mids))):
        return False
    for i, name in enumerate(names):
        q = values[name]
        fills[i].set_data(mids, q[:, 0], q[:, 2])
        for j in range(3):
            lines[3 * i + j].set_ydata(q[:, j])
    return True


def _outcome_label(column: str) -> str:
    """A legend label of an outcome column: ``retries_exhausted`` → "retries exhausted"; error codes kept as written."""
    outcome, sep, code = column.partition(": ")
    return outcome.replace("_", " ") + sep + code


def zoom_floor(values, step: float = 0.05, margin: float = 0.02) -> float:
    """The lower end of a zoomed 0–1 axis: ``margin`` below the smallest of ``values``, down to a multiple of ``step``.

    0 when the smallest is within a quarter of 0 (zooming would hide nothing then).
    """
    lo = float(np.nanmin(values)) if len(values) else 0.0
    if not np.isfinite(lo) or lo < 0.25:
        return 0.0
    return max(0.0, round(np.floor((lo - margin) / step) * step, 10))


def errors_over_time(data, *, ax=None, strategy: str | None = None, smooth: float | None = None, windows=None,
                     title=None, duration=None, warmup=None, codes=None, legend: bool = True, api=None):
    """Failed attempts per second by error code over time (from the attempts table), for one strategy.

    ``data``: a Result or an attempts table (``strategy``, ``start``, ``code``).
    ``strategy`` defaults to the first; codes differ by line style and colour.
    ``codes``: every code in the order its colour and style are assigned, so
    several charts (:func:`errors_by_strategy`'s facets) draw one code alike.
    ``legend=False`` leaves the legend to the caller. ``api`` (for a table:
    the scenario's API or catalog file) names each code in the legend. For
    every strategy at once, use :func:`errors_by_strategy`.
    """
    ax = _axes(ax)
    src = source(data, "attempts", windows=windows, title=title, duration=duration, warmup=warmup)
    name = strategy or src.strategies[0]
    att = src.frame
    att = att.loc[(att["strategy"] == name) & (att["code"] != ""), ["start", "code"]]  # only the columns drawn
    if att.empty:
        _missing(ax, f"no failed attempts for {name}")
        _caption(ax, src)
        return ax
    width = src.bin_s
    nbins = int(np.ceil(src.duration / width))
    t = np.arange(nbins) * width
    b = np.clip((att["start"].to_numpy() // width).astype(int), 0, nbins - 1)
    found = att["code"]
    present = {str(c) for c in found.unique()}  # not a string per failed attempt
    order = list(codes) if codes is not None else sorted(present)
    k = smoothing_bins(src, smooth, SMOOTH_S["errors_over_time"])
    for i, code in enumerate(order):
        if code in present:
            y = np.bincount(b[(found == code).to_numpy()], minlength=nbins) / width
            ax.plot(t, smooth_values(y.astype(float), k), ls=LINESTYLES[i % len(LINESTYLES)], color=f"C{i % 10}",
                    label=code_label(code, src.result.scenario.api if src.result is not None else api))
    _shade_incidents(ax, src.windows, src.changes, src.warmup)
    ax.set_xlabel(metrics.axis("attempt_time"))
    ax.set_ylabel(metrics.axis("errors"))
    ax.set_title(f"strategy: {name}", fontsize=9, loc="right", color="0.3",
                 pad=6 + getattr(ax, "_resilsim_label_rows", 0) * LABEL_ROW_PT)
    if legend:
        _legend_outside(ax, title="error code", title_fontsize=7)
    _caption(ax, src)
    return ax


def code_label(code: str, api=None) -> str:
    """``code`` and its name in ``api``'s catalog (``ANALYTICS_1701 RATE_LIMIT_EXCEEDED``); the bare code without one."""
    if api is None:
        return code
    from .catalog import load_catalog
    try:
        entry = load_catalog(api).get(code)
    except Exception:  # noqa: BLE001 - a label is a nicety: a catalog that cannot be read leaves the bare code
        entry = None
    return f"{code} {entry.name}" if entry is not None and entry.name and entry.name != code else code


def errors_by_strategy(data, *, fig=None, smooth: float | None = None, windows=None, title=None, duration=None,
                       warmup=None, api=None):
    """Failed attempts per second by error code, one facet per strategy, on shared axes: one figure.

    ``data``: a Result or an attempts table. A code has the same colour and
    line style in every facet, and all facets share the time and rate axes,
    so a strategy whose retries overload the service (timeout or queue codes
    appearing) stands out against one that never retries. ``fig``: a
    matplotlib Figure to draw into (default: a new pyplot figure). Returns
    the Axes, one per strategy, top to bottom.
    """
    src = source(data, "attempts", windows=windows, title=title, duration=duration, warmup=warmup)
    fig, axes = _facet_axes(fig, src, base=1.2, height=1.5)
    att = src.frame
    codes = sorted({str(c) for c in att.loc[att["code"] != "", "code"].unique()})  # not a string per failed attempt
    for i, (ax, name) in enumerate(zip(axes, src.strategies)):
        errors_over_time(data, ax=ax, strategy=name, smooth=smooth, windows=windows, title=title if i == 0 else "",
                         duration=duration, warmup=warmup, codes=codes, legend=False, api=api)
    # errors_over_time titles the top facet itself, its padding made for the incident names above it
    _tidy_facets(fig, axes, src.strategies, "errors", title_top=False)
    handles = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    # Codes first, in their colour order, then the shaded spans.
    order = sorted(handles, key=lambda k: (k in (WARMUP_LABEL, "incident", "load change"), k))
    if handles:
        fig.legend([handles[k] for k in order], order, loc="outside lower center", ncol=3,
                   fontsize=7, frameon=False, title="error code", title_fontsize=7)
    return list(axes)


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
    markers = MARKERS
    for i, (name, ls) in enumerate(_styles(names).items()):
        d = df[df["strategy"] == name].sort_values(param)
        x = d[param].to_numpy(float)
        ax.fill_between(x, d["lo"].to_numpy(float), d["hi"].to_numpy(float), color=f"C{i}", alpha=0.15, lw=0)
        ax.plot(x, d["mean"].to_numpy(float), ls=ls, color=f"C{i}", marker=markers[i % len(markers)], ms=4,
                label=name)
    if logx:
        ax.set_xscale("log")
    elif all(float(v).is_integer() for v in df[param]):
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # workers, replicas: no 2.5 ticks
    ax.set_xlabel(xlabel or param)
    ax.set_ylabel(metric)
    _legend_right(ax, title="strategy (band: 95% CI)")
    _sweep_caption(ax, caption)
    return ax


def sweep_heatmap(df, *, x: str, y: str, value: str = "mean", ax=None, caption: str | None = None,
                  label: str | None = None, fmt: str = "{:.2f}", xlabel: str | None = None, ylabel: str | None = None):
    """Heatmap of ``value`` over two swept parameters ``x`` and ``y`` (mean over other rows); cells annotated.

    Annotated numbers keep it readable in grey scale; ``label`` names the colour bar (with units);
    ``xlabel``/``ylabel`` the axes (default: ``x`` and ``y``; say them with units).
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
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    _sweep_caption(ax, caption)
    return ax


def plan_chart(df, *, slo: float, chosen=None, ax=None, param: str = "param", metric: str = "metric",
               higher_is_better: bool = True, caption: str | None = None, xlabel: str | None = None):
    """The capacity-planning answer: the metric against the planned parameter with its CI, the SLO line and the chosen value.

    ``df`` is tidy as for :func:`sweep_metric` (column ``param``); ``param``
    names the planned parameter on the axis; ``slo`` is the target in the
    metric's units; ``chosen`` is the value the plan picked (None: none
    meets the SLO, said on the chart). ``xlabel``: the axis label (default ``param``; say it with its unit).
    """
    ax = sweep_metric(df, ax=ax, metric=metric, caption=caption, xlabel=xlabel or param)
    ax.axhline(slo, color="k", ls="--", lw=1, label=f"SLO {slo:g}")
    if chosen is not None:
        ax.axvline(chosen, color="0.3", ls="-.", lw=1.2, label=f"chosen {param} = {chosen:g}")
        ax.annotate(f"{chosen:g}", (chosen, slo), xytext=(5, 8 if higher_is_better else -14),
                    textcoords="offset points", fontsize=8)
    else:
        ax.text(0.02, 0.02, "no swept value meets the SLO", transform=ax.transAxes, fontsize=8, color="0.2")
    _legend_right(ax)
    return ax


def plan_answer(p, *, metric: str | None = None, strategy: str | None = None, ax=None, caption: str | None = None):
    """Chart a :class:`resilsim.sweep.Plan`: the first SLO metric against the varied parameter, SLO line, answers.

    All strategies' evidence is drawn with CI bands. ``strategy``: mark that
    strategy's answer only; by default every strategy's answer is marked in its
    colour, and the strategies no value in range serves are named on the chart.
    """
    from .scenario.reference import axis_label
    from .sweep.stats import metric_table

    metric = metric or next(iter(p.slo))
    op_thr = p.slo[metric]
    thr = float(op_thr.lstrip("<>="))
    tidy = metric_table(p.evidence, metric, param=p.vary)
    names = list(dict.fromkeys(tidy["strategy"]))  # sweep_metric's colour order
    marked = [strategy] if strategy else list(p.answers)
    chosen = {n: p.answers.get(n) for n in marked}
    ax = sweep_metric(tidy, ax=ax, metric=metrics.label(metric), caption=caption, xlabel=axis_label(p.vary))
    ax.axhline(thr, color="k", ls="--", lw=1, label=f"SLO {thr:g}")
    up = op_thr.startswith(">")
    for n, v in chosen.items():
        if v is None:
            continue
        color = f"C{names.index(n)}" if n in names else "0.3"
        ax.axvline(v, color=color, ls=(0, (4, 2)), lw=1.1, label=f"chosen for {n}: {p.vary} = {v:g}")
        if len(chosen) == 1:  # several answers side by side would print over each other: the legend has them
            ax.annotate(f"{v:g}", (v, thr), xytext=(3, 6 if up else -12), textcoords="offset points", fontsize=7,
                        color=color)
    missing = [n for n, v in chosen.items() if v is None]
    if missing:
        which = "strategy " + ", ".join(missing) if len(missing) == 1 else "strategies " + ", ".join(missing)
        ax.text(0.02, 0.02, f"no value in range meets the SLO for {which}", transform=ax.transAxes,
                fontsize=8, color="0.2")
    _legend_right(ax)
    return ax


GUARD_SHARES = {"breaker_open": "breaker open", "throttle_reject_p": "throttle rejection probability"}


def guards_over_time(data, *, ax=None, windows=None, title=None, warmup=None):
    """Client-side guard state over time: circuit breakers open, throttling probability, retry-budget tokens.

    Left axis (0–1): ``breaker_open`` (share of the strategy's breakers
    open) and ``throttle_reject_p`` (adaptive throttling's local rejection
    probability); right axis: ``budget_tokens`` (the retry budget's tokens
    or retries left). Only strategies with guards are drawn; every series has
    its own line style. Says "no data" on the chart when no strategy has a
    guard. ``data``: a Result or a timeline table. Returns the left Axes (the right one is its twin).
    """
    ax = _axes(ax)
    src = source(data, "timeline", windows=windows, title=title, warmup=warmup)
    tl = src.frame
    series = []
    for name in src.strategies:
        t = tl[tl["strategy"] == name]
        for col in (*GUARD_SHARES, "budget_tokens"):
            if col in t and t[col].notna().any():
                series.append((name, col, t))
    if not series:
        _missing(ax, "no client-side guards in this run (strategies' guards: breaker, budgets, throttle)")
        _caption(ax, src)
        return ax
    right = ax.twinx() if any(c == "budget_tokens" for _, c, _ in series) else None
    handles = []
    for i, (name, col, t) in enumerate(series):
        target = right if col == "budget_tokens" else ax
        what = "budget tokens (right axis)" if col == "budget_tokens" else GUARD_SHARES[col]
        (line,) = target.plot(t["time"], t[col].to_numpy(float), ls=LINESTYLES[i % len(LINESTYLES)],
                              color=f"C{i}", lw=1.4, drawstyle="steps-post", label=f"{name}: {what}")
        handles.append(line)
    _shade_incidents(ax, src.windows, src.changes, src.warmup)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(metrics.axis("time"))
    ax.set_ylabel(metrics.axis("guard_share"))
    if right is not None:
        right.set_ylabel(metrics.axis("budget_tokens"))
        right.set_ylim(bottom=0)
    _legend_outside(ax, ncol=2, handles=handles)
    _caption(ax, src)
    return ax


def guards_by_strategy(data, *, fig=None, windows=None, title=None, warmup=None):
    """:func:`guards_over_time` as small multiples: one facet per strategy with guards, on a shared time axis.

    A facet draws its strategy's shares (breaker open, throttle rejection probability; 0–1) on the left
    axis and its retry-budget tokens on the right, each in its own panel, so one strategy's breaker no longer
    hides behind another's throttle. ``data``: a Result or a timeline table; ``fig``: a matplotlib Figure
    (default: a new pyplot figure). Returns the left Axes, top to bottom.
    """
    src = source(data, "timeline", windows=windows, title=title, warmup=warmup)
    tl = src.frame
    guarded = [n for n in src.strategies
               if any(c in tl and tl.loc[tl["strategy"] == n, c].notna().any() for c in (*GUARD_SHARES, "budget_tokens"))]
    if fig is None:
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=(8, 1.4 + 1.7 * max(1, len(guarded))), layout="constrained")
    if len(guarded) < 2:
        return [guards_over_time(data, ax=fig.add_subplot(), windows=windows, title=title, warmup=warmup)]
    axes = fig.subplots(len(guarded), 1, sharex=True, squeeze=False)[:, 0]
    for i, (ax, name) in enumerate(zip(axes, guarded)):
        t = tl[tl["strategy"] == name]
        color = f"C{src.strategies.index(name)}"  # the strategy's colour in every other chart
        shares = [c for c in GUARD_SHARES if c in t and t[c].notna().any()]
        tokens = "budget_tokens" in t and t["budget_tokens"].notna().any()
        what = []
        for j, col in enumerate(shares):
            ax.plot(t["time"], t[col].to_numpy(float), color=color, ls=LINESTYLES[j], lw=1.4, drawstyle="steps-post")
            several = tokens or len(shares) > 1
            what.append(f"{GUARD_SHARES[col]} ({('solid', 'dashed')[j]}{', left' if tokens else ''})" if several
                        else GUARD_SHARES[col])
        if shares:
            ax.set_ylim(-0.03, 1.03)
            ax.set_ylabel("share / prob.\n(0–1)", fontsize=8)
        if tokens:
            target = ax.twinx() if shares else ax
            target.plot(t["time"], t["budget_tokens"].to_numpy(float), color=color, ls=":" if shares else "-",
                        lw=1.4, drawstyle="steps-post")
            target.set_ylim(bottom=0)
            target.set_ylabel(metrics.axis("budget_tokens").replace(" ", "\n", 1), fontsize=8)
            what.append("retry-budget tokens" + (" (right, dotted)" if shares else ""))
        _shade_incidents(ax, src.windows, src.changes, src.warmup, names=i == 0)
        ax.set_title(f"{name}: {', '.join(what)}", fontsize=8, loc="right", color="0.2", pad=3)
        if i == 0:
            _caption(ax, src)
        if i < len(axes) - 1:
            ax.set_xlabel("")
    axes[-1].set_xlabel(metrics.axis("time"))
    handles = [h for h, label in zip(*axes[0].get_legend_handles_labels())
               if label in (WARMUP_LABEL, "incident", "load change")]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    return list(axes)


CHARTS = (("success_over_time", success_over_time), ("latency_cdf", latency_cdf),
          ("load_over_time", load_over_time), ("latency_bands", latency_bands),
          ("outcomes_by_strategy", outcomes_by_strategy), ("errors_over_time", errors_over_time))


#: Every file :func:`save_charts` may write (the guards chart only when a strategy has guards); `resilsim run`
#: clears these from its output folder before writing a run.
CHART_FILES = (*(f"{name}.png" for name, _ in CHARTS), "guards_over_time.png", "load_by_layer.png")


#: Charts drawn from the per-request or per-attempt rows: not for a summary-only result (record="summary").
ROW_CHARTS = ("latency_cdf", "latency_bands", "outcomes_by_strategy", "errors_over_time")


def has_guards(result) -> bool:
    """Whether any strategy of the run recorded client-side guard state (a guards chart to draw)."""
    tl = result.timeline
    return tl is not None and any(c in tl and tl[c].notna().any() for c in (*GUARD_SHARES, "budget_tokens"))


def chart_figure(result, name: str, fn=None):
    """The matplotlib Figure of the run chart ``name`` (one of :data:`CHART_FILES`' stems), as ``resilsim run``
    writes it and the run report shows it: the faceted and two-panel views where one Axes would hide lines.

    ``fn``: the chart function (default: the one :data:`CHARTS` names). Inches: 8 wide, taller per strategy.
    """
    from matplotlib.figure import Figure

    fn = fn or dict(CHARTS, guards_over_time=guards_over_time, load_by_layer=load_by_layer).get(name)
    if fn is None:
        raise ValueError(f"no run chart named {name!r}: one of {', '.join(f[:-4] for f in CHART_FILES)}")
    names = list(result.strategies)
    column = False  # stacked Axes: placed by column_layout, not constrained layout (the same margins, quicker)
    if name == "errors_over_time":
        fig = Figure(figsize=(8, 1.4 + 1.5 * len(names)))
        column = True
        errors_by_strategy(result, fig=fig)
    elif name == "latency_cdf":
        fig = Figure(figsize=(8, 6))
        column = True
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.2])
        fn(result, ax=top)
        fn(result, ax=bottom, tail=True, title="")
        top.get_legend().remove()  # the lower panel's legend names the same lines
        top.set_xlabel("")
    elif name == "latency_bands" and len(names) > 1:
        fig = Figure(figsize=(8, 1.4 + 1.5 * len(names)))
        column = True
        latency_bands_by_strategy(result, fig=fig)
    elif name == "load_over_time" and len(names) > 1:
        fig = Figure(figsize=(8, 1.4 + 1.4 * len(names)))
        column = True
        load_by_strategy(result, fig=fig)
    elif name == "load_by_layer" and len(names) > 1:
        fig = Figure(figsize=(8, 1.4 + 1.4 * len(names)), layout="constrained")
        load_by_layer_by_strategy(result, fig=fig)
    elif name == "guards_over_time":
        tl = result.timeline
        n = sum(any(c in tl and tl.loc[tl["strategy"] == s, c].notna().any() for c in (*GUARD_SHARES, "budget_tokens"))
                for s in names)
        fig = Figure(figsize=(8, 4) if n < 2 else (8, 1.4 + 1.7 * n), layout="constrained")
        guards_by_strategy(result, fig=fig)
    elif name == "success_over_time" and len(names) > 1:
        fig = Figure(figsize=(8, 3.4 + 1.3 * (len(names) - 1)))
        column = True
        success_by_strategy(result, fig=fig, baseline=names[0])
    else:
        fig = Figure(figsize=(8, 4), layout="constrained")
        fn(result, ax=fig.add_subplot())
    _ticks_in_view(fig)
    if column:
        _tick_marks(fig)  # not under constrained layout, which would leave the marks out of the Axes' extents
        column_layout(fig)
    _pin_titles(fig)
    return fig


def _ticks_in_view(fig) -> None:
    """Give every axis of ``fig`` the ticks it draws only: :func:`_in_view` around its locators (not around a
    NullLocator or a FixedLocator, which matplotlib tells by their class)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    in_view = _in_view()
    for ax in fig.axes:
        for axis in ax._axis_map.values():
            for ticker in (axis.major, axis.minor):  # shared axes share their tickers: wrapped once
                if not isinstance(ticker.locator, (in_view, NullLocator, FixedLocator)):
                    ticker.locator = in_view(ticker.locator, axis)


def _tick_marks(fig) -> None:
    """Draw the unlabelled ticks of ``fig``'s axes (a log axis' 2..9 marks, the time ticks of the upper facets of
    a column) as one marker line per axis and kind (major, minor).

    Matplotlib makes a Tick object for each tick (two lines, a grid line and two texts, copied from the first
    tick: about a millisecond each; 200 of the 374 Ticks of aurora's six charts had no label). Where an axis'
    major or minor ticks show no label (labels off, or a NullFormatter) and only their mark,
    :func:`_tick_mark_artist` draws the marks at draw time, where the axis' locator puts them, with a copy of
    the first tick's mark (same marker, size, width, colour, transform), and the axis' own ticks of that kind
    are switched off: the same pixels (tests/test_plots.py compares the PNGs with and without). Only for figures
    placed by :func:`column_layout`, which leaves unlabelled ticks out of the margins: constrained layout counts
    them, and the marks are not in its layout.
    """
    from matplotlib.ticker import NullFormatter, NullLocator

    for ax in fig.axes:
        for axis in ax._axis_map.values():
            for major in (True, False):
                if isinstance(axis.get_major_locator() if major else axis.get_minor_locator(), NullLocator):
                    continue
                template = axis.get_major_ticks(1)[0] if major else axis.get_minor_ticks(1)[0]
                unlabelled = (not template.label1.get_visible() and not template.label2.get_visible()) or (
                    not major and isinstance(axis.get_minor_formatter(), NullFormatter))
                if (not unlabelled or not template.get_visible() or not template.tick1line.get_visible()
                        or template.tick2line.get_visible() or template.gridline.get_visible()):
                    continue  # labels, marks on both sides or a grid: matplotlib's own ticks
                ax.add_artist(_tick_mark_artist()(axis, template.tick1line, major))
                axis.set_tick_params(which="major" if major else "minor", tick1On=False, tick2On=False,
                                     label1On=False, label2On=False, gridOn=False)


def _in_view_mask(axis, locs: np.ndarray, rel_tol: float) -> np.ndarray:
    """Which of ``locs`` (data units of ``axis``) lie in the axis' view, in its transformed (drawn) space, to
    ``rel_tol`` of the view's length beyond either end: what :func:`_tick_mark_artist`'s marks and :func:`_in_view`'s
    ticks keep."""
    tr = axis.get_transform()
    with np.errstate(all="ignore"):
        lo, hi = sorted(tr.transform(np.asarray(axis.get_view_interval(), float)))
        at = tr.transform(locs.astype(float))
    tol = rel_tol * (hi - lo)
    return (at >= lo - tol) & (at <= hi + tol)


@functools.cache
def _tick_mark_artist():
    """The artist class TickMarks of :func:`_tick_marks`, made on first use."""
    from matplotlib.artist import Artist
    from matplotlib.lines import Line2D

    class TickMarks(Artist):
        """An axis' major or minor tick marks, drawn as one marker line where its ticks in view are (as
        matplotlib keeps them: within 1e-10 of the view, minor ticks on a major one left out)."""

        def __init__(self, axis, mark, major: bool):
            super().__init__()
            self.axis = axis
            self.major = major
            self.line = Line2D([], [])
            self.line.update_from(mark)  # marker, size, width, colour, transform, no clipping
            self.line.set_figure(axis.axes.figure)
            self.set_zorder(axis.get_zorder())  # drawn with the axes' axis, before its major ticks
            self.set_in_layout(False)
            self.set_clip_on(False)

        def draw(self, renderer):
            if not self.get_visible() or not self.axis.get_visible():
                return
            locs = np.asarray(self.axis.get_majorticklocs() if self.major else self.axis.get_minorticklocs(), float)
            locs = locs[_in_view_mask(self.axis, locs, 1e-10)]
            zeros = np.zeros(len(locs))
            self.line.set_data((locs, zeros) if self.axis.axis_name == "x" else (zeros, locs))
            self.line.draw(renderer)
            self.stale = False

    return TickMarks


@functools.cache
def _in_view():
    """The locator class InView, made on first use (matplotlib is imported only when a chart is drawn)."""
    from matplotlib.ticker import Locator

    class InView(Locator):
        """A locator's ticks within the view limits only (and those within a millionth of them).

        Matplotlib makes a Tick (two lines, a grid line and two texts; about a millisecond each) for every
        location a locator gives, then draws those in view; the default locators give a tick or two beyond each
        end, and a log axis' minor locator a decade beyond each: a third of a run chart's Ticks were never drawn.
        The ticks drawn are the same (matplotlib keeps those in view, to 1e-10 of the axis).
        """

        def __init__(self, base, axis):
            self.base = base
            self.axis = axis

        def set_axis(self, axis):
            super().set_axis(axis)
            self.base.set_axis(axis)

        def __call__(self):
            locs = np.asarray(self.base())
            if not len(locs):
                return locs
            return locs[_in_view_mask(self.axis, locs, 1e-6)]

        def tick_values(self, vmin, vmax):
            return self.base.tick_values(vmin, vmax)

        def view_limits(self, vmin, vmax):
            return self.base.view_limits(vmin, vmax)

        def nonsingular(self, v0, v1):
            return self.base.nonsingular(v0, v1)

        def set_params(self, **kwargs):
            self.base.set_params(**kwargs)

    return InView


def _pin_titles(fig) -> None:
    """Keep each Axes' title where matplotlib's automatic placement would put it, without its search.

    Before every draw, matplotlib moves a title up past x tick labels on top of the Axes and past the y axis'
    offset text ("1e6"), measuring every tick label of the Axes and its twins (a fifth of a run chart's drawing
    time). The run charts have their x tick labels (if any) and x label at the bottom; where also no y offset text
    shows and no twin shares the Axes, that search leaves the title at its set place, so it is skipped (the same pixels:
    tests/test_plots.py compares the PNGs). Relies on matplotlib's ``_autotitlepos`` flag (set when
    ``set_title`` is given ``y``), checked against the pinned matplotlib by that test.
    """
    for ax in fig.axes:
        if not any(t.get_text() for t in (ax.title, ax._left_title, ax._right_title)):
            continue
        if len(ax._twinned_axes.get_siblings(ax)) > 1 or ax.child_axes:
            continue
        if ax.xaxis.get_label_position() != "bottom" or any(
                t.label2.get_visible() for t in (*ax.xaxis.get_major_ticks(1), *ax.xaxis.get_minor_ticks(1))):
            continue  # something of the x axis on top (its tick labels, its label): matplotlib's search is needed
        if ax.yaxis.offsetText.get_visible():
            fmt = ax.yaxis.get_major_formatter()
            fmt.set_locs(ax.yaxis.get_majorticklocs())  # what drawing would set; the offset text comes from it
            if fmt.get_offset():
                continue
        ax._autotitlepos = False


def run_charts(result) -> list:
    """(name, chart function) of every chart :func:`save_charts` draws for ``result``, in the order it writes them."""
    charts = list(CHARTS)
    if {"breaker_open", "budget_tokens", "throttle_reject_p"} & set(result.timeline.columns):
        charts.append(("guards_over_time", guards_over_time))  # only when some strategy has guards
    if len(result.services()):
        charts.append(("load_by_layer", load_by_layer))  # only when the scenario has services
    if getattr(result, "record", "full") == "summary":
        charts = [(k, f) for k, f in charts if k not in ROW_CHARTS]  # only the timeline's charts
    return charts


def _ticklabel_extent(axis, renderer) -> float:
    """Points the visible tick labels of ``axis`` take across it (widest y label, tallest x label), with tick and pad.

    From the locators and formatters at the current limits: no Tick objects, no drawing."""
    from matplotlib.font_manager import FontProperties

    lo, hi = sorted(axis.get_view_interval())
    ticks = axis.get_major_ticks(numticks=1)  # one Tick: whether labels show, their font size, tick length, pad
    if not ticks or not ticks[0].label1.get_visible():
        return 0.0
    tick = ticks[0]
    labels = []
    for locs, fmt in ((axis.get_majorticklocs(), axis.get_major_formatter()),
                      (axis.get_minorticklocs(), axis.get_minor_formatter())):
        locs = [v for v in locs if lo - 1e-12 * abs(hi - lo) <= v <= hi + 1e-12 * abs(hi - lo)]
        labels += [t for t in fmt.format_ticks(locs) if t]
    if not labels:
        return tick.get_tick_padding() + tick.get_pad()
    prop = FontProperties(size=tick.label1.get_fontsize())
    to_pt = 72 / axis.figure.dpi
    sizes = [renderer.get_text_width_height_descent(t, prop, ismath="TeX" if t.startswith("$") else False)
             for t in labels]
    extent = max(w for w, _, _ in sizes) if axis.axis_name == "y" else max(h for _, h, _ in sizes)
    return tick.get_tick_padding() + tick.get_pad() + extent * to_pt


def column_layout(fig, pad: float = 3.0) -> None:
    """Place the Axes of ``fig``, one column of them, as constrained layout would, in one measuring pass.

    Constrained layout measures every tick label of every Axes twice before a figure is drawn (a fifth of
    ``save_charts``' time); here the titles, incident labels, axis labels and legends are measured once where
    they are, and the tick labels from their locators and formatters, so a chart has the same margins
    (``pad`` points around each Axes' decorations) without the passes. For figures of stacked Axes as
    :func:`chart_figure` makes them (no twins, no colour bars); the layout engine is switched off.
    """
    fig.set_layout_engine("none")
    if not hasattr(fig.canvas, "get_renderer"):  # a bare Figure: measure with the Agg canvas it is saved with
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    axes = sorted(fig.axes, key=lambda a: -a.get_position().y1)  # top first
    W, H = fig.get_size_inches() * 72
    to_pt = 72 / fig.dpi
    rects = []
    for ax in axes:
        box = ax.get_window_extent(renderer)
        above = below = right = 0.0
        left = _ticklabel_extent(ax.yaxis, renderer)
        low = _ticklabel_extent(ax.xaxis, renderer)
        for text in (ax.title, ax._left_title, ax._right_title, *ax.texts):
            if text.get_visible() and text.get_text():
                bb = text.get_window_extent(renderer)
                above = max(above, (bb.y1 - box.y1) * to_pt)
                right = max(right, (bb.x1 - box.x1) * to_pt)
        ylabel, xlabel = ax.yaxis.label, ax.xaxis.label
        if ylabel.get_visible() and ylabel.get_text():
            left += ax.yaxis.labelpad + ylabel.get_window_extent(renderer).width * to_pt
        if xlabel.get_visible() and xlabel.get_text():
            low += ax.xaxis.labelpad + xlabel.get_window_extent(renderer).height * to_pt
        below = low
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            bb = legend.get_window_extent(renderer)
            below = max(below, (box.y0 - bb.y0) * to_pt)
            right = max(right, (bb.x1 - box.x1) * to_pt)
        rects.append((above, below, left, right))
    bottom = pad
    for legend in fig.legends:
        bottom += legend.get_window_extent(renderer).height * to_pt + pad
    left = max(r[2] for r in rects) + pad
    if fig._supylabel is not None and fig._supylabel.get_text():
        left += fig._supylabel.get_window_extent(renderer).width * to_pt + pad
    right = max(max(r[3] for r in rects), 0.0) + pad
    gaps = [rects[i][1] + rects[i + 1][0] + 2 * pad for i in range(len(rects) - 1)]
    top = rects[0][0] + pad
    bottom += rects[-1][1] + pad
    ratios = axes[0].get_subplotspec().get_gridspec().get_height_ratios() or [1] * len(axes)
    height = H - top - bottom - sum(gaps)
    y = H - top
    for i, ax in enumerate(axes):
        h = height * ratios[i] / sum(ratios)
        ax.set_position([left / W, (y - h) / H, (W - left - right) / W, h / H])
        y -= h + (gaps[i] if i < len(gaps) else 0.0)
    if fig._supylabel is not None:
        mid = (H - top + bottom) / 2 / H
        fig._supylabel.set_position((pad / W, mid))
        fig._supylabel.set_horizontalalignment("left")


#: zlib level of the PNGs save_charts writes: 3 encodes in about 60 % of the default's (6) time, files ~8 % larger.
PNG_LEVEL = 3


def save_charts(result, out) -> list:
    """Write the standard charts of a result as PNGs into ``out``; return the paths.

    ``success_over_time.png`` shows the success rate and, below, one small
    multiple per strategy of its difference to the first (the baseline), where
    lines that lie on top of each other on the 0–1 scale separate
    (:func:`success_by_strategy`). ``errors_over_time.png``
    has one facet per strategy (:func:`errors_by_strategy`). A summary-only
    result (``record="summary"``) gets the timeline's charts only (not :data:`ROW_CHARTS`).
    """
    from pathlib import Path

    import matplotlib

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"figure.dpi": 110}):
        for name, fn in run_charts(result):
            fig = chart_figure(result, name, fn)
            p = out / f"{name}.png"
            fig.savefig(p, pil_kwargs={"compress_level": PNG_LEVEL})
            paths.append(p)
    return paths

