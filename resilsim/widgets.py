"""The interactive explorer: ipywidgets sliders and pickers that re-run a short simulation and redraw the charts.

    >>> from resilsim.widgets import explore
    >>> explore("scenarios/metastable-retry-storm.yaml")     # in a notebook cell

The strategy picker offers the scenario's strategies, every library preset
(``library: grpc``, with its own guards) and a custom strategy: exponential
backoff from the sliders plus the guards picked (a retry budget, a circuit
breaker with its failure rate and open time, adaptive throttling with its K).
Moving a control re-runs a *preview* (the scenario cut to ``preview``
seconds around its first incident, so dragging stays responsive; sliders
update on release); its time axes are labelled in the run's own seconds.
The preview is simulated in summary mode (``record="summary"``): its
counts, success rates and outcome shares are exactly what
:func:`~resilsim.simulate` gives for the same preview scenario and seed;
its latency percentiles come from streaming histograms: the table's
p50/p95/p99 within 0.1 % of the exact ones, the latency bands' within 1 %
(under a pixel on their log axis); the status line says so. In a
notebook (:func:`explore`) the preview runs in a thread, and changes that
come while it runs are taken together (debounce: one preview of the
latest values).
The Run button runs the full duration, one strategy after another, with a
progress bar and a Cancel button. The seed box re-runs with another seed,
and "export YAML" writes the scenario of the view for ``resilsim run``.

Charts are rendered off-screen (matplotlib ``Figure`` on an Agg canvas, no
pyplot) into ``Image`` widgets, and the summary into an ``HTML`` widget, so
the whole panel works headless: tests set ``.value`` on the controls and read
:attr:`Explorer.result`, :attr:`Explorer.table`, :attr:`Explorer.images` and
:attr:`Explorer.figures`. A redraw keeps each chart's figure: every chart
gets the new run's data in its existing artists (lines, bands, bars,
labels), is drawn anew only when its make-up changed (other strategies or
outcomes), and the layout is recomputed only when the chart's frame
(strategies, incidents, legend, axis range) changed.
"""
from __future__ import annotations

import copy
import io
import threading

from .errors import ScenarioError, worker_ended
from .scenario import Scenario, given_fields, load_scenario

CHARTS = ("success_over_time", "load_over_time", "outcomes_by_strategy", "latency_bands")
JITTERS = ("none", "full", "equal", "decorrelated")
CUSTOM = "custom (sliders)"
NONE = "(none)"
KEEP = "(as in scenario)"
LIBRARY = "library: "  # picker entries "library: grpc" run the library preset (resilsim.policies.library)
#: The custom strategy's retry budget picker: label → ``guards:`` entries (docs/strategies.md, Guards).
BUDGETS = {"none": {},
           "token bucket (gRPC: 10 tokens, 0.1)": {"token_bucket": {"max_tokens": 10, "token_ratio": 0.1}},
           "ratio 10% (SRE book, no floor)": {"ratio": {"percent": 0.1, "min_per_s": 0.0}}}
#: The custom strategy's breaker, besides the two sliders: a count window short enough to act in a preview.
BREAKER = {"window": 20, "minimum_calls": 20, "half_open_calls": 5}


def _num(x, default):
    return default if x is None else x


#: Row charts (:data:`resilsim.plots.ROW_CHARTS`) the explorer draws from a summary-only run's counts: the
#: outcome counts are the same, the latency bands' percentiles within 1 % (streaming histograms).
SUMMARY_CHARTS = ("outcomes_by_strategy", "latency_bands")
#: Charts whose x-axis is simulated time: a preview labels their ticks in the run's own seconds.
TIME_CHARTS = ("success_over_time", "load_over_time", "latency_bands", "errors_over_time", "guards_over_time")
#: The moving-mean cap (s) each time-series chart uses by default (its ``smooth``), for in-place updates.


class _Chart:
    """One chart of the panel: an off-screen figure kept between redraws, rendered to PNG bytes.

    When the chart's frame (strategies, incidents, load changes, limits,
    seed, window) is unchanged, :meth:`draw` puts the new run's data into the
    existing lines of a time series, or empties the Axes and draws the plot
    function into it again (a new Axes would build its ticks anew: half the
    cost of a chart); otherwise it draws into a new Axes in the same place.
    Constrained layout, the costly part of a draw, runs only when what it
    makes room for (legend entries, incident label rows, the y-axis range's
    digits) changed. A time series whose lines took the new data and whose
    axes did not move is blitted: the picture of everything but its lines
    (kept from the last full draw) is restored and only the lines are drawn
    over it, a fifth of a full draw (text and ticks are most of that). Its
    lines are always drawn last, so a blitted picture is the full draw's.
    """

    def __init__(self, name: str):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.name = name
        self.figure = Figure(figsize=(8, 3.4), dpi=90)
        self.canvas = FigureCanvasAgg(self.figure)
        self.frame = None
        self.decor = None
        self.position = None
        self.layouts = 0  # constrained-layout passes so far
        self.background = None  # (pixels without the data lines, the axes' limits then), for blitting
        self.blits = 0  # redraws that drew only the lines

    def draw(self, result, offset: float) -> bytes:
        """Show ``result`` (its time axis shifted by ``offset`` seconds in the labels); return the PNG."""
        from . import plots

        frame = _frame(self.name, result, offset)
        update = _UPDATES.get(self.name)
        same = frame == self.frame and len(self.figure.axes) == 1  # a twin Axes (guards chart) is drawn anew
        updated = same and update is not None and update(self.figure.axes[0], result, self.name)
        if not updated:
            if same:
                ax = self.figure.axes[0]
                before = ax.get_ylim()
                _empty(ax)
            else:
                self.figure.clear()
                ax = self.figure.add_subplot()
                if self.position is not None:
                    ax.set_position(self.position)
            getattr(plots, self.name)(result, ax=ax)
            ax.relim()  # the limits of what is drawn now, not of what was removed
            if offset and self.name in TIME_CHARTS:
                _run_seconds(ax, offset)
            if same and self.name in STICKY_LOG_Y and ax.get_yscale() == "log":
                _keep_log_range(ax, before)
            self.frame = frame
        ax = self.figure.axes[0]
        # What changes with the data is drawn apart (animated: a full draw leaves it out), spines included
        # so that every one of them keeps its place in the z-order.
        fg = _foreground(ax, self.name)
        for artist in fg:
            artist.set_animated(True)
        # Legend entries and tick labels in the foreground are inside another artist (a full draw draws them
        # whatever their animated flag): hidden while the picture of the rest is drawn, then drawn alone where
        # it put them. The layout pass sees them (it makes room for them).
        nested = [a for a in fg if a not in ax.get_children()]
        decor = _decor(self.figure)
        view = (decor, _view(ax, self.name, nested))
        if same and fg and self.background is not None and self.background[1] == view:
            self.canvas.restore_region(self.background[0])
            self.blits += 1
        else:
            laid_out = decor != self.decor
            if laid_out:
                self.figure.set_layout_engine("constrained")
                self.canvas.draw()
                self.figure.set_layout_engine("none")  # later draws keep these places
                self.position = ax.get_position()
                self.decor = decor
                self.layouts += 1
            if nested or not laid_out:  # the picture of the rest (the layout's draw, when it has no nested parts)
                for artist in nested:
                    artist.set_visible(False)
                self.canvas.draw()
            self.background = (self.canvas.copy_from_bbox(self.figure.bbox), view) if fg else None
            for artist in nested:
                artist.set_visible(True)
        for artist in fg:
            ax.draw_artist(artist)
        return _png(self.canvas)


#: What a redraw of each chart draws anew over the kept picture of the rest (Axes attributes; "xaxis": the x
#: axis whole; "xticklabels": its tick labels alone, which the outcome bars' amplification changes; "capacity":
#: the capacity's legend text, see _foreground). Everything else must stay as it was.
FOREGROUND = {"success_over_time": ("lines",), "load_over_time": ("lines", "capacity"),
              "latency_bands": ("lines", "collections"), "outcomes_by_strategy": ("patches", "texts", "xticklabels")}
#: Charts whose log y range is kept while the new data fill most of it (so the picture of their axis can be kept).
STICKY_LOG_Y = ("latency_bands",)


def _foreground(ax, name: str) -> list:
    """The artists of ``ax`` that :data:`FOREGROUND` draws anew, with the spines, in z-order ([] for other charts).

    ``"capacity"``: the capacity line's legend entry text (it names the capacity, which the workers change);
    ``"xticklabels"``: the x tick labels alone (not the axis, its ticks and label); both drawn last, over
    what they sit on.
    """
    from .plots import capacity_label

    out, last = [], []
    for kind in FOREGROUND.get(name, ()):
        if kind == "xticklabels":
            last += list(ax.xaxis.get_majorticklabels())  # the formatter's texts of this run (updated here)
        elif kind == "capacity":
            legend = ax.get_legend()
            prefix = capacity_label(0.0).split("≈")[0]
            last += [t for t in (legend.get_texts() if legend else []) if t.get_text().startswith(prefix)]
        else:
            out += [ax.xaxis] if kind == "xaxis" else list(getattr(ax, kind))
    if out:
        out += list(ax.spines.values())
    return sorted(out, key=lambda a: a.get_zorder()) + last


def _view(ax, name: str, nested=()) -> tuple:
    """What the kept picture shows besides the foreground: limits, tick labels, legend and title texts.

    ``nested``: legend texts drawn in the foreground; only their digits may change (all digits are as wide,
    so the legend's frame around them stays the same).
    """
    import re

    def ticks(axis):
        out = []
        for locs, fmt in ((axis.get_majorticklocs(), axis.get_major_formatter()),
                          (axis.get_minorticklocs(), axis.get_minor_formatter())):
            out.append((tuple(locs), tuple(fmt.format_ticks(locs))))
        return tuple(out)

    legend = ax.get_legend()
    return (ax.get_xlim(), ax.get_ylim(), ticks(ax.yaxis),
            None if {"xaxis", "xticklabels"} & set(FOREGROUND.get(name, ())) else ticks(ax.xaxis),
            tuple(re.sub(r"\d", "0", t.get_text()) if t in nested else t.get_text() for t in legend.get_texts())
            if legend is not None else None,
            tuple(ax.get_title(loc=w) for w in ("left", "center", "right")),
            tuple((t.get_text(), t.xy if hasattr(t, "xy") else t.get_position()) for t in ax.texts)
            if "texts" not in FOREGROUND.get(name, ()) else None)


def _keep_log_range(ax, before: tuple) -> None:
    """Keep the log y range ``before`` when the data lie inside it and span at least STICKY_Y of it (in decades)."""
    import math

    lo, hi = ax.dataLim.intervaly
    b0, b1 = before
    if not (0 < b0 < b1 and 0 < lo <= hi) or not math.isfinite(lo + hi):
        return
    if b0 <= lo and hi <= b1 and math.log10(hi / lo) >= STICKY_Y * math.log10(b1 / b0):
        ax.set_ylim(before, auto=None)


def _empty(ax) -> None:
    """Remove what a plot function drew on ``ax`` and reset its scales, keeping the Axes and its tick objects."""
    for container in list(ax.containers):  # bars: their legend entries come from the containers
        container.remove()
    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts, *ax.images]:
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.set_xscale("linear")  # default locators and formatters again (a chart may have fixed or emptied them)
    ax.set_yscale("linear")
    ax.set_autoscale_on(True)
    ax.relim()


def _frame(name: str, result, offset: float) -> tuple:
    """What a chart's non-data parts show: in-place updates need it unchanged."""
    s = result.scenario
    return (name, tuple(result.strategies), tuple(tuple(w) for w in result.windows), tuple(result.load_changes()),
            s.duration, s.bin, offset, result.seed, tuple(repr(rl) for rl in s.service.rate_limits()))


def _decor(fig) -> tuple:
    """What the layout makes room for: legend entries (digits masked), incident label rows, y-range digits."""
    import re

    import numpy as np

    ax = fig.axes[0]
    legends = [a.get_legend() for a in fig.axes]
    texts = tuple(re.sub(r"\d", "0", t.get_text()) for lg in legends if lg is not None for t in lg.get_texts())
    lo, hi = ax.get_ylim()
    if ax.get_yscale() == "log":
        yrange = (np.floor(np.log10(max(lo, 1e-300))), np.floor(np.log10(max(hi, 1e-300))))
    else:
        yrange = (len(f"{lo:.0f}"), len(f"{hi:.0f}"))
    return texts, getattr(ax, "_resilsim_label_rows", 0), yrange


def _png(canvas) -> bytes:
    """The canvas's pixels as PNG (fast zlib level: the image goes to the browser once, not to disk).

    RGB, without the alpha channel: the figure's background is opaque, and a quarter less to filter and
    compress made the encoding a fifth quicker (1.2 ms a chart).
    """
    from PIL import Image

    w, h = canvas.get_width_height(physical=True)
    buf = io.BytesIO()
    rgba = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    rgba.convert("RGB").save(buf, format="png", compress_level=1)
    return buf.getvalue()


def _run_seconds(ax, offset: float) -> None:
    """Label the x ticks of a preview in the run's own seconds: data at x shows as ``x + offset``."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

    lo, hi = ax.get_xlim()
    ticks = MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]).tick_values(lo + offset, hi + offset) - offset
    ax.xaxis.set_major_locator(FixedLocator([t for t in ticks if lo <= t <= hi]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v + offset:g}"))


def _series(result, name: str, column: str, chart: str):
    """One strategy's timeline column, smoothed as ``chart`` smooths it by default: (time, values)."""
    import pandas as pd

    from .plots import SMOOTH_S, smooth_values, smoothing_bins, source

    tl = result.timeline
    # Rows of the strategy by its integer code, numpy only (a boolean mask over the frame per line and
    # column was a tenth of a redraw); the same rows, in the same order, as tl[tl["strategy"] == name].
    strategy = tl["strategy"]
    if isinstance(strategy.dtype, pd.CategoricalDtype):
        rows = strategy.cat.codes.to_numpy() == strategy.cat.categories.get_loc(name)
    else:
        rows = (strategy == name).to_numpy()
    width = smoothing_bins(source(result, "timeline"), None, SMOOTH_S[chart])
    return tl["time"].to_numpy(float)[rows], smooth_values(tl[column].to_numpy(float)[rows], width)


def _update_success(ax, result, chart: str) -> bool:
    """Put ``result``'s success rates into the lines :func:`plots.success_over_time` drew (False: cannot)."""
    lines = ax.get_lines()
    if len(lines) != len(result.strategies):
        return False
    for line, name in zip(lines, result.strategies):
        line.set_data(*_series(result, name, "success_rate", chart))
    return True


def _update_load(ax, result, chart: str) -> bool:
    """Put ``result``'s loads and capacity into the lines :func:`plots.load_over_time` drew (False: cannot)."""
    import numpy as np

    from .plots import capacity_label

    names = list(result.strategies)
    lines = ax.get_lines()
    legend = ax.get_legend()
    if len(lines) < len(names) + 2 or legend is None:
        return False
    for line, name in zip(lines, names):
        line.set_data(*_series(result, name, "attempts_rps", chart))
    lines[len(names)].set_data(*_series(result, names[0], "offered_rps", chart))
    cap_line = lines[len(names) + 1]
    cap = result.capacity_rps()
    label = capacity_label(cap)
    for text in legend.get_texts():
        if text.get_text() == cap_line.get_label():
            text.set_text(label)
    cap_line.set_ydata([cap, cap])
    cap_line.set_label(label)
    before = ax.get_ylim()
    ax.relim()
    ax.autoscale_view(scalex=False)
    lo, hi = ax.dataLim.intervaly
    if before[0] <= lo and hi <= before[1] and hi - lo >= STICKY_Y * (before[1] - before[0]):
        ax.set_ylim(before, auto=None)  # the data still fills most of the axis: keep it, so the chart can blit
    else:
        # A new range: up to the next major tick above the data, so that the next few changes of a slider
        # moving the same way still fit it (a load slider moved up 5 % at a time redrew the chart in full
        # at every other change; this kept range lets those blit).
        y0, y1 = ax.get_ylim()
        ticks = ax.yaxis.get_major_locator().tick_values(y0, y1)
        above = ticks[ticks >= y1]
        if len(above) and np.isfinite(above[0]) and above[0] > y0:
            ax.set_ylim(y0, float(above[0]), auto=None)
    return True


#: The load chart keeps its y range while the new data span at least this share of it (then only lines redraw).
STICKY_Y = 0.7


def _update_outcomes(ax, result, chart: str) -> bool:
    """Put ``result``'s outcome shares into the bars :func:`plots.outcomes_by_strategy` drew (False: cannot)."""
    from .plots import update_outcomes_by_strategy

    return update_outcomes_by_strategy(ax, result)


def _update_bands(ax, result, chart: str) -> bool:
    """Put ``result``'s latency bands into the lines :func:`plots.latency_bands` drew, and rescale (False: cannot)."""
    from .plots import update_latency_bands

    before = ax.get_ylim()
    if not update_latency_bands(ax, result):
        return False
    ax.relim()
    ax.autoscale_view()
    if ax.get_yscale() == "log":
        _keep_log_range(ax, before)
    return True


#: Charts whose artists take a new run's data in place (the others are redrawn): every chart of the panel.
_UPDATES = {"success_over_time": _update_success, "load_over_time": _update_load,
            "outcomes_by_strategy": _update_outcomes, "latency_bands": _update_bands}


#: Seconds a background preview (:func:`explore`) waits after a change for more changes: a burst of changes
#: (several controls set at once, a seed typed digit by digit) runs one preview, of the latest values.
DEBOUNCE_S = 0.05

#: Worker processes of an explorer at most (a preview shows a handful of strategies).
MAX_PROCESSES = 8


class Explorer:
    """The state behind :func:`explore`: the controls, the last :class:`~resilsim.Result` and the widgets showing it.

    ``controls`` maps a knob name to its widget; :meth:`run` simulates with
    the current values (``full=False``: the preview length) and redraws.
    The preview is simulated with ``record="summary"`` when every chart
    draws from a summary-only run (the timeline's charts and
    :data:`SUMMARY_CHARTS`; not the other :data:`resilsim.plots.ROW_CHARTS`).
    The full run (:meth:`run_full`, the Run button) simulates one strategy
    after another, advancing :attr:`progress` per strategy, because
    :func:`~resilsim.simulate` has no progress hook; for the same reason
    Cancel stops it between strategies, not inside one. With ``background``
    (what :func:`explore` uses) the full run goes on in a thread, so the
    notebook stays free to take the Cancel click; without it the click
    handler returns when the run is done (headless use, tests).

    A preview keeps each strategy's run: a change that leaves a strategy's
    run as it was (the custom strategy's knobs, the strategy picker) re-runs
    only the strategies it changed, since a strategy run alone is the joint
    run's (common random numbers; tests/test_widgets.py). In summary mode
    the strategies to re-run are simulated in one joint run. ``processes`` (0: none, in this
    process; None: one per core, at most one per strategy) simulates those
    strategies side by side in worker processes kept for the explorer's
    life (:meth:`close` ends them).
    """

    def __init__(self, scenario, *, seed: int = 0, preview: float = 60.0, charts=CHARTS, background: bool = False,
                 processes: int | None = 0):
        import ipywidgets as w

        self.base: Scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.data = given_fields(self.base)
        self.charts = tuple(charts)
        self.background = background
        self.result = None
        self.runs = 0
        self.offset = 0.0  # seconds of the full run before the preview window
        self._shown = None  # (scenario data, strategy names) of the result on show
        self._generation = 0  # bumped by every run and by Cancel: a full run whose number is stale stops
        self._lock = threading.Lock()  # one redraw at a time (a full run draws from its thread)
        self._thread = None
        #: Seconds a background preview waits for more changes before it runs (a burst of changes: one preview).
        self.debounce = DEBOUNCE_S
        self.coalesced = 0  # changes taken into a later preview instead of running their own
        self._pending = 0  # changes not yet previewed (background)
        self._pending_lock = threading.Lock()
        self._previewer = None  # the thread running background previews
        self._data_lock = threading.Lock()  # one reading of the controls at a time (scenario data and names)
        self.processes = processes
        self._pool = None  # worker processes for the preview's strategies (started on first use)
        self._parts: dict = {}  # (scenario but strategies, strategy, name, seed) -> that strategy's preview Result
        s = self.base
        if s.clients.arrival is None or s.clients.arrival.poisson is None:
            raise ScenarioError("the explorer's load slider sets clients.arrival.poisson.rate; give a scenario with "
                                "Poisson arrivals (this one replays a trace, follows a rate curve or has closed-loop users only)", path="clients.arrival")
        rate = s.clients.arrival.poisson.rate
        workers = s.service.workers
        slider = dict(continuous_update=False, style={"description_width": "9em"},
                      layout=w.Layout(width="26em"))
        c = {}
        c["load"] = w.FloatSlider(value=rate, min=0.1, max=max(4 * rate, 1.0), step=max(rate / 50, 0.1),
                                  description="load (req/s)", **slider)
        c["workers"] = w.IntSlider(value=workers, min=1, max=max(4 * workers, 4), description="workers", **slider)
        self._rl0 = self._simple_rate_limit()
        c["rate_limit"] = w.FloatSlider(value=_num(self._rl0, 0.0), min=0.0, max=max(4 * rate, 1.0),
                                        step=max(rate / 50, 0.1), description="rate limit (/s, 0=off)", **slider)
        inc = self._incident()
        dur = float(s.duration)
        c["incident_start"] = w.FloatSlider(value=inc.get("start", dur / 4), min=0.0, max=dur, step=1.0,
                                            description="incident start (s)", **slider)
        c["incident_duration"] = w.FloatSlider(value=inc.get("duration", dur / 10), min=1.0, max=dur, step=1.0,
                                               description="incident length (s)", **slider)
        c["incident_rate"] = w.FloatSlider(value=inc.get("rate", 0.0 if not inc else 1.0), min=0.0, max=1.0,
                                           step=0.05, description="incident error rate", **slider)
        codes = self._codes()
        keep = [KEEP] if inc else []
        code0 = inc.get("code") if inc.get("code") in codes and not inc.get("rates") else (KEEP if inc else NONE)
        c["incident_code"] = w.Dropdown(options=[NONE, *keep, *codes], value=code0,
                                        description="incident code", style=slider["style"])
        names = list(s.strategies)
        libs = [LIBRARY + n for n in _library_names() if LIBRARY + n not in names]
        c["strategies"] = w.SelectMultiple(options=[*names, CUSTOM, *libs], value=tuple(names),
                                           description="strategies", rows=min(8, len(names) + 1 + len(libs)),
                                           style=slider["style"])
        c["attempts"] = w.IntSlider(value=4, min=1, max=10, description="custom: attempts", **slider)
        c["base"] = w.FloatSlider(value=0.1, min=0.01, max=5.0, step=0.01, description="custom: backoff base (s)",
                                  **slider)
        c["cap"] = w.FloatSlider(value=5.0, min=0.1, max=60.0, step=0.1, description="custom: backoff cap (s)",
                                 **slider)
        c["jitter"] = w.Dropdown(options=JITTERS, value="full", description="custom: jitter", style=slider["style"])
        c["budget"] = w.Dropdown(options=list(BUDGETS), value="none", description="custom: retry budget",
                                 style=slider["style"])
        c["breaker"] = w.Checkbox(value=False, description="custom: circuit breaker", style=slider["style"])
        c["breaker_rate"] = w.FloatSlider(value=0.5, min=0.05, max=1.0, step=0.05,
                                          description="breaker: failure rate", **slider)
        c["breaker_open"] = w.FloatSlider(value=10.0, min=1.0, max=120.0, step=1.0,
                                          description="breaker: open (s)", **slider)
        c["throttle_k"] = w.FloatSlider(value=0.0, min=0.0, max=4.0, step=0.1,
                                        description="custom: throttle K (0=off)", **slider)
        c["preview"] = w.FloatSlider(value=min(preview, dur), min=min(10.0, dur), max=dur, step=5.0,
                                     description="preview length (s)", **slider)
        c["seed"] = w.BoundedIntText(value=seed, min=0, max=2 ** 63 - 1, description="seed", style=slider["style"],
                                     layout=w.Layout(width="18em"))
        self.controls = c
        self.button = w.Button(description="Run full duration", button_style="primary", icon="play")
        self.cancel = w.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, description="full run", style=slider["style"])
        self.export_path = w.Text(value=f"{self.base.name}-explored.yaml", description="export to",
                                  style=slider["style"], layout=w.Layout(width="26em"))
        self.export_button = w.Button(description="Export YAML", icon="download")
        self.status = w.HTML()
        self.table = w.HTML()
        self.images = [w.Image(format="png", layout=w.Layout(max_width="100%")) for _ in self.charts]
        self.figures = [_Chart(name) for name in self.charts]  # kept between redraws (see _Chart)
        self.output = w.Output()  # errors from a run (bad combination of values) show here
        for widget in c.values():
            widget.observe(self._on_change, names="value")
        self.button.on_click(self._on_run)
        self.cancel.on_click(self._on_cancel)
        self.export_button.on_click(self._on_export)
        left = w.VBox([w.HTML("<b>load &amp; capacity</b>"), c["load"], c["workers"], c["rate_limit"],
                       w.HTML("<b>incident</b>"), c["incident_code"], c["incident_start"], c["incident_duration"],
                       c["incident_rate"]])
        right = w.VBox([w.HTML("<b>strategies</b>"), c["strategies"], c["attempts"], c["base"], c["cap"],
                        c["jitter"], c["budget"], c["breaker"], c["breaker_rate"], c["breaker_open"],
                        c["throttle_k"], w.HTML("<b>run</b>"), c["preview"], c["seed"],
                        w.HBox([self.button, self.cancel]), self.progress,
                        w.HBox([self.export_path, self.export_button]), self.status])
        self.panel = w.VBox([w.HBox([left, right]), self.output, self.table, w.VBox(self.images)])
        self.panel.explorer = self

    @property
    def preview_record(self) -> str:
        """How the preview is recorded: ``"summary"`` unless a chart needs per-request rows (``"full"``)."""
        from .plots import ROW_CHARTS

        return "full" if set(self.charts) & (set(ROW_CHARTS) - set(SUMMARY_CHARTS)) else "summary"

    @property
    def seed(self) -> int:
        """The random seed of the runs (the seed box's value)."""
        return int(self.controls["seed"].value)

    # ------------------------------------------------------------ scenario from the controls

    def _simple_rate_limit(self):
        rl = self.base.service.rate_limit
        if rl is not None and not isinstance(rl, list) and rl.token_bucket and rl.per == "global":
            return rl.token_bucket.rate
        return None

    def _incident(self) -> dict:
        inc = (self.data.get("faults") or {}).get("incidents") or []
        return dict(inc[0]) if inc else {}

    def _codes(self) -> list[str]:
        from .catalog import load_catalog

        try:
            return [x.code for x in load_catalog(self.base.api).codes]
        except Exception:  # a custom catalog path that moved: no code picker, the rest still works
            return []

    def scenario(self, full: bool = False) -> Scenario:
        """The scenario the controls describe; ``full=False`` cuts it to the preview length (seconds)."""
        return load_scenario(self._scenario_data(full)[0])

    def _scenario_data(self, full: bool) -> tuple[dict, float]:
        """The controls' scenario as plain data, and the seconds of the run before it (a preview's window).

        Also sets the names of the strategies to run (``_names``).
        """
        c = self.controls
        d = copy.deepcopy(self.data)
        d["clients"]["arrival"]["poisson"]["rate"] = float(c["load"].value)
        d["service"]["workers"] = int(c["workers"].value)
        rl = float(c["rate_limit"].value)
        if rl != _num(self._rl0, 0.0):
            if rl > 0:
                d["service"]["rate_limit"] = {"token_bucket": {"rate": rl, "burst": max(1.0, rl)}}
            else:
                d["service"].pop("rate_limit", None)
        code = c["incident_code"].value
        faults = d.setdefault("faults", {})
        incs = list(faults.get("incidents") or [])
        if code == KEEP and incs:
            # The scenario's first incident with its own codes; only its timing follows the sliders.
            incs[0] = {**incs[0], "start": float(c["incident_start"].value),
                       "duration": float(c["incident_duration"].value)}
        elif code != NONE and c["incident_rate"].value > 0:
            first = dict(incs[0]) if incs else {"name": "explorer"}
            first.update(start=float(c["incident_start"].value), duration=float(c["incident_duration"].value),
                         code=code, rate=float(c["incident_rate"].value))
            first.pop("rates", None)
            first.pop("use", None)
            incs[:1] = [first]
        elif incs:
            incs = incs[1:]
        faults["incidents"] = incs
        offset = 0.0
        if not full and c["preview"].value < self.base.duration:
            offset = self._preview_window(d, float(c["preview"].value))
        picked = c["strategies"].value
        names = [n for n in picked if n != CUSTOM and not n.startswith(LIBRARY)]
        if CUSTOM in picked:
            d["strategies"][CUSTOM] = self._custom()
            names.append(CUSTOM)
        for n in picked:
            if n.startswith(LIBRARY):
                d["strategies"][n] = {"retry": n[len(LIBRARY):]}  # its own guards and timeouts come with it
                names.append(n)
        self._names = names
        return d, offset

    def _custom(self) -> dict:
        """The custom strategy's YAML: exponential backoff from the sliders, and the guards picked."""
        c = self.controls
        spec = {"retry": {
            "wait": {"exponential": {"base": float(c["base"].value), "cap": float(c["cap"].value)}},
            "jitter": c["jitter"].value, "stop": {"attempts": int(c["attempts"].value)}}}
        guards = dict(BUDGETS[c["budget"].value])
        if c["breaker"].value:
            guards["breaker"] = {**BREAKER, "failure_rate": float(c["breaker_rate"].value),
                                 "open_s": float(c["breaker_open"].value)}
        if c["throttle_k"].value > 0:
            guards["throttle"] = {"k": float(c["throttle_k"].value)}
        if guards:
            spec["guards"] = guards
        return spec

    def _preview_window(self, d: dict, length: float) -> float:
        """Cut ``d`` to a ``length``-second window of the run that shows the first incident (or load change).

        The window starts a quarter of its length before that event; incidents
        and load changes are shifted by the window's start (returned, seconds)
        and clipped to it, so the preview simulates from 0; its charts label
        the time axis in the run's own seconds.
        """
        full = load_scenario(d)  # the validated timing (library incidents carry their own durations)
        incs, changes = full.faults.incidents, full.clients.changes
        first = min([i.start for i in incs[:1]] or [c.start for c in changes] or [0.0])
        t0 = min(max(0.0, first - length / 4), max(0.0, full.duration - length))

        def clip(entry: dict, start: float, duration: float):
            a, b = max(start - t0, 0.0), min(start + duration - t0, length)
            return {**entry, "start": a, "duration": b - a} if b > a and a < length else None

        d["faults"]["incidents"] = [e for e in (clip(dict(raw), i.start, i.duration) for raw, i in
                                                zip(d["faults"].get("incidents") or [], incs)) if e]
        poisson = d["clients"]["arrival"]["poisson"]
        if poisson.get("changes"):
            poisson["changes"] = [e for e in (clip(dict(raw), c.start, c.duration) for raw, c in
                                              zip(poisson["changes"], changes)) if e]
        d["duration"] = length
        d["warmup"] = min(float(self.base.warmup), length / 4)
        return t0

    # ------------------------------------------------------------ running and drawing

    def run(self, full: bool = False):
        """Simulate the preview with the current control values and redraw; return the Result.

        ``full`` runs the full duration instead (:meth:`run_full`). None when
        nothing ran or the values were refused (:attr:`status` says why).
        """
        if full:
            return self.run_full()
        self._generation += 1  # a full run still going stops after its current strategy
        generation = self._generation
        self.cancel.disabled = True
        self.output.clear_output()
        try:
            with self._data_lock:  # a background preview and a full run may read the controls at once
                d, offset = self._scenario_data(full=False)
                names = list(self._names)
            if not names:
                self.status.value = "<i>pick at least one strategy</i>"
                return None
            self.status.value = "<i>running the preview…</i>"
            result = self._preview(d, names)
        except Exception as e:  # a value combination the schema refuses: say why, keep the last charts
            self._error(e)
            return None
        self._show(result, d, names, offset, generation, full=False)
        return result

    def _preview(self, d: dict, names: list):
        """The preview's Result for the scenario data ``d``: strategies simulated apart, unchanged ones reused."""
        import json

        from . import simulate

        sc = load_scenario(d)  # refused values say why here, in this process
        record = self.preview_record
        base = json.dumps({k: v for k, v in d.items() if k != "strategies"}, sort_keys=True, default=str)
        keys = {n: (base, json.dumps(d["strategies"][n], sort_keys=True, default=str), n, self.seed, record)
                for n in names}
        parts = {k: v for k, v in self._parts.items() if k in keys.values()}  # kept: what this preview shows
        todo = [n for n in names if keys[n] not in parts]
        pool = self._workers(len(todo))
        if pool is None and record == "summary" and len(todo) > 1:
            # One joint run of the strategies to re-run (it shares the arrivals and the service's set-up: 8 %
            # quicker than one run each), kept per strategy: each is the run it would have been alone.
            joint = simulate(sc, seed=self.seed, strategies=todo, record=record)
            for n in todo:
                parts[keys[n]] = _strategy_part(joint, n)
        elif pool is None:
            for n in todo:
                parts[keys[n]] = _portable(simulate(sc, seed=self.seed, strategies=[n], record=record))
        else:
            from concurrent.futures.process import BrokenProcessPool

            try:
                futures = {n: pool.submit(_simulate_strategy, d, n, self.seed, record) for n in todo}
                for n, future in futures.items():
                    parts[keys[n]] = future.result()
            except BrokenProcessPool:
                # A worker died (killed, out of memory): the executor fails this and every later task, so it is
                # dropped (ended without waiting) and the next change starts new workers.
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
                raise RuntimeError(worker_ended("a worker process of the preview", "without answering")
                                   + "; the next change starts new ones") from None
        self._parts = parts
        return _combine([parts[keys[n]] for n in names], sc)

    def _workers(self, tasks: int):
        """The worker pool for ``tasks`` strategy runs, or None to run them here (no processes, or one task)."""
        if self.processes == 0 or tasks < 2:
            return None
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            from . import sim  # noqa: F401 - imported before the pool starts, so that forked workers start with it
            from .sim.workers import init_worker, pool_size

            n = pool_size(self.processes, MAX_PROCESSES)
            if n < 2:
                self.processes = 0  # one core: side by side would only take turns
                return None
            self._pool = ProcessPoolExecutor(max_workers=n, initializer=init_worker)
        return self._pool

    def close(self) -> None:
        """End the worker processes of the preview (if any); a later preview starts them again."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run_full(self):
        """Run the full duration, one strategy after another, advancing :attr:`progress`; show it when done.

        Returns the Result; None when the values were refused, when Cancel
        (or a new preview) stopped it between strategies, or when it runs in
        the background (``background``: :attr:`result` changes when it is done).
        """
        self._generation += 1
        generation = self._generation
        self.output.clear_output()
        try:
            with self._data_lock:
                d, _ = self._scenario_data(full=True)
                names = list(self._names)
            if not names:
                self.status.value = "<i>pick at least one strategy</i>"
                return None
            sc = load_scenario(d)
        except Exception as e:
            self._error(e)
            return None
        self.progress.max, self.progress.value = len(names), 0
        self.cancel.disabled = False
        self.status.value = f"<i>full run: 0 of {len(names)} strategies done…</i>"
        args = (sc, d, names, self.seed, generation)
        if self.background:
            self._thread = threading.Thread(target=self._full, args=args, daemon=True)
            self._thread.start()
            return None
        return self._full(*args)

    def _full(self, sc: Scenario, d: dict, names: list, seed: int, generation: int):
        """The full run's work (in the caller's thread or the background one); see :meth:`run_full`."""
        from . import simulate

        parts = []
        try:
            for i, name in enumerate(names):
                # Strategies run alone give the same result as run together (common random numbers).
                parts.append(simulate(sc, seed=seed, strategies=[name]))
                if generation != self._generation:
                    return None  # cancelled, or a preview took over
                self.status.value = f"<i>full run: {i + 1} of {len(names)} strategies done…</i>"
                self.progress.value = i + 1
            result = _combine(parts)
        except Exception as e:
            if generation == self._generation:
                self._error(e)
            return None
        finally:
            if generation == self._generation:
                self.cancel.disabled = True
        return result if self._show(result, d, names, 0.0, generation, full=True) else None

    def wait(self, timeout: float | None = None) -> None:
        """Wait until background previews and a background full run (if any) are over, at most ``timeout`` s each."""
        previewer = self._previewer
        if previewer is not None:
            previewer.join(timeout)
        if self._thread is not None:
            self._thread.join(timeout)

    def _show(self, result, d: dict, names: list, offset: float, generation: int, full: bool) -> bool:
        """Make ``result`` the one on show (summary table and charts) unless a newer run started; True if shown."""
        with self._lock:
            if generation != self._generation:
                return False
            self.result, self.offset, self._shown = result, offset, (d, names)
            self.runs += 1
            sc = result.scenario
            where = f" (the run's {offset:g}–{offset + sc.duration:g} s)" if offset else ""
            approx = ("; latency from streaming histograms: table within 0.1 %, bands within 1 %"
                      if getattr(result, "record", "full") == "summary" else "")
            self.status.value = (f"{'full run' if full else 'preview'}: {sc.duration:g} s simulated{where}, "
                                 f"seed {result.seed}{approx}")
            self.table.value = result.summary().to_html(float_format=lambda v: f"{v:.3g}") + self._guards_html()
            for img, chart in zip(self.images, self.figures):
                img.value = chart.draw(result, offset)
        return True

    def _error(self, e: Exception) -> None:
        """Say why a run was refused, in the status line and the output area (the last charts stay)."""
        self.status.value = f"<span style='color:#a00'>{type(e).__name__}: {e}</span>"
        self.output.append_stdout(f"{type(e).__name__}: {e}\n")  # thread-safe, unlike `with self.output`

    def export_yaml(self, path=None) -> str:
        """The scenario of the run on show as YAML that ``resilsim run`` accepts; also written to ``path`` if given.

        It holds the controls' values and the strategies shown; a comment at
        the top names the seed, so ``resilsim run FILE --seed N`` (or
        ``simulate(load_scenario(FILE), seed=N)``) reproduces the view. A
        preview exports its window as simulated: times from 0, the comment
        says where it lies in the full run.
        """
        from pathlib import Path

        from .scenario import dump_scenario

        if self._shown is None:
            raise ValueError("nothing to export yet: run a preview or the full duration first")
        d, names = self._shown
        sc = self.result.scenario
        text = dump_scenario(load_scenario({**d, "strategies": {n: d["strategies"][n] for n in names}}))
        view = (f"a {sc.duration:g} s preview: the run's {self.offset:g}–{self.offset + sc.duration:g} s, "
                "shifted to start at 0" if self.offset else f"the full {sc.duration:g} s run")
        head = (f"# Exported from the resilsim explorer ({view}), seed {self.result.seed}.\n"
                f"# Reproduce the view: resilsim run {Path(path).name if path else 'FILE'} --seed {self.result.seed}\n")
        text = head + text
        if path is not None:
            Path(path).write_text(text)
        return text

    def _guards_html(self) -> str:
        """A table of each guarded strategy's guards, their parameters and what they did ("" when none has guards)."""
        import pandas as pd

        r = self.result
        rows = {}
        for name, params in r.strategies.items():
            kinds = params.get("guards") if isinstance(params, dict) else None
            if not kinds:
                continue
            prefixes = tuple(k + "_" for k in kinds.split("+"))
            shown = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items() if k.startswith(prefixes)]
            rows[name] = {"guards": kinds, "parameters": ", ".join(shown)}
        if not rows:
            return ""
        stats = r.guard_stats()[["shed_first", "shed_retry", "held", "held_deadline"]]
        table = pd.DataFrame.from_dict(rows, orient="index").join(stats)
        table.index.name = "strategy"
        return table.to_html()

    def _on_change(self, change):
        if not self.background:
            self.run(full=False)  # headless: the preview is on show when the assignment returns
            return
        # In a notebook: the preview runs in a thread, and changes that come while it runs (or within
        # DEBOUNCE_S of the first) are taken together: one preview of the latest values, not one per change.
        with self._pending_lock:
            self._pending += 1
            if self._previewer is not None:
                return
            self._previewer = threading.Thread(target=self._preview_loop, daemon=True)
            self._previewer.start()

    def _preview_loop(self) -> None:
        """Run previews while changes are pending, each of the controls' latest values (the debounce thread)."""
        import time

        while True:
            time.sleep(self.debounce)
            with self._pending_lock:
                if not self._pending:
                    self._previewer = None
                    return
                self.coalesced += self._pending - 1
                self._pending = 0
            try:
                self.run(full=False)
            except Exception as e:  # never lose the thread's failure silently
                self._error(e)

    def _on_run(self, _button):
        self.run_full()

    def _on_cancel(self, _button):
        self._generation += 1  # the full run stops after its current strategy and shows nothing
        self.cancel.disabled = True
        self.status.value = (f"full run cancelled after {self.progress.value} of {self.progress.max} strategies; "
                             "the charts still show the last run")

    def _on_export(self, _button):
        try:
            self.export_yaml(self.export_path.value)
        except Exception as e:  # nothing on show yet, or a path that cannot be written
            self._error(e)
            return
        self.status.value = f"wrote {self.export_path.value} (seed {self.result.seed})"


def _portable(result):
    """``result`` as its tables (what :func:`_combine` joins, and what a worker process sends back whole).

    A summary-only result is already its counts (it pickles as they are).
    """
    from .result import Result

    if getattr(result, "record", "full") == "summary":
        return result
    return Result(result.scenario, result.seed, requests=result.requests, attempts=result.attempts,
                  timeline=result.timeline, windows=result.windows, strategies=result.strategies, stats=result.stats,
                  truncated=result.truncated)


def _strategy_part(result, name: str):
    """The part of a summary-only ``result`` that is strategy ``name``'s (its counts; what :func:`_combine` joins)."""
    from .result import SummaryResult

    return SummaryResult.from_runs(result.scenario, result.seed, result._codes, {name: result._runs[name]})


def _simulate_strategy(data: dict, name: str, seed: int, record: str = "full"):
    """One strategy of a preview, in a worker process: its Result as tables (or its counts, ``record="summary"``)."""
    from . import simulate

    result = _portable(simulate(load_scenario(data), seed=seed, strategies=[name], record=record))
    if record == "summary":  # the sampler's columns without the simulation it watched (which does not pickle)
        for key, run in result._runs.items():
            result._runs[key] = run.portable()
    return result


def _combine(parts: list, scenario=None):
    """One Result from single-strategy Results of the same scenario and seed: their tables one after another.

    ``scenario``: the combined result's (default: the first part's); summary-only parts keep their counts.
    """
    first = parts[0]
    scenario = first.scenario if scenario is None else scenario

    def merged(attr):
        return {k: v for p in parts for k, v in getattr(p, attr).items()}

    if getattr(first, "record", "full") == "summary":
        from .result import SummaryResult

        return SummaryResult.from_runs(scenario, first.seed, first._codes,
                                       {k: v for p in parts for k, v in p._runs.items()})
    if len(parts) == 1:
        return parts[0]
    import pandas as pd
    from pandas.api.types import union_categoricals

    from .result import Result

    def concat(frames):
        cols = {}
        for col in frames[0].columns:
            if isinstance(frames[0][col].dtype, pd.CategoricalDtype):
                cols[col] = union_categoricals([f[col] for f in frames])  # strategy names differ per part
            else:
                cols[col] = pd.concat([f[col] for f in frames], ignore_index=True)
        return pd.DataFrame(cols)

    return Result(first.scenario, first.seed, requests=concat([p.requests for p in parts]),
                  attempts=concat([p.attempts for p in parts]), timeline=concat([p.timeline for p in parts]),
                  windows=first.windows, strategies=merged("strategies"), stats=merged("stats"),
                  truncated=merged("truncated"))


def _library_names() -> list[str]:
    """The library presets' names (``resilsim.policies.library.LIBRARY``)."""
    from .scenario import library_presets

    return list(library_presets())


def build_explorer(scenario, *, seed: int = 0, preview: float = 60.0, charts=CHARTS, run: bool = True,
                   background: bool = False, processes: int | None = 0) -> Explorer:
    """Build the :class:`Explorer` for ``scenario`` (a Scenario, path or dict) and, with ``run``, its first preview.

    ``background`` runs the full duration in a thread; ``processes`` simulates the preview's strategies side by
    side (see :class:`Explorer`).
    """
    ex = Explorer(scenario, seed=seed, preview=preview, charts=charts, background=background, processes=processes)
    if run:
        ex.run(full=False)
    return ex


def explore(scenario, *, seed: int = 0, preview: float = 60.0, charts=CHARTS, processes: int | None = 0):
    """An ipywidgets panel (VBox) to explore ``scenario``: load, workers, rate limit, incident, strategies.

    Moving a control re-runs a ``preview``-second simulation in a thread
    (changes that come while it runs are taken together), in summary mode:
    counts and success rates as :func:`~resilsim.simulate`'s, latency
    percentiles within 0.1 % (the bands' within 1 %) (``processes``: its strategies side by side in
    that many worker processes, None: one per core; the default 0 runs them
    in the notebook's process: on a shared 2-core machine workers did not
    reliably help, benchmarks/RESULTS.md);
    the button runs the full duration in the
    background with a progress bar and a Cancel button (it stops between
    strategies). The panel's ``.explorer`` attribute is the
    :class:`Explorer` behind it.
    """
    return build_explorer(scenario, seed=seed, preview=preview, charts=charts, background=True,
                          processes=processes).panel
