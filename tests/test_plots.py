"""Charts: each returns an Axes with the expected lines and labels, and leaks no figure."""

import inspect

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import resilsim  # noqa: E402
from resilsim import plots  # noqa: E402
from tests.conftest import small, wait_within  # noqa: E402


@pytest.fixture(scope="module")
def result():
    d = small(duration=40, strategies={"none": {"retry": "none"}, "retry3": {"retry": {"wait": {"fixed": 0.05}, "stop": {"attempts": 3}, "retry_on": {"timeouts": True}}}})
    d["service"]["workers"] = 3  # near capacity: timeouts and retries to draw
    d["faults"] = {"incidents": [{"name": "outage", "start": 15, "duration": 10, "code": "ANALYTICS_2000",
                                  "rate": 0.8}]}
    d["clients"]["timeout"] = 0.3
    return resilsim.simulate(d, seed=1)


@pytest.fixture(autouse=True)
def no_leak(monkeypatch):
    """After each test, every open pyplot figure is one whose Axes a chart returned: nothing else was left open."""
    returned = []

    def keep(fn):
        def chart(*args, **kwargs):
            out = fn(*args, **kwargs)
            for ax in out if isinstance(out, list) else [out]:  # errors_by_strategy: one Axes per facet
                if isinstance(ax, Axes):
                    returned.append(ax.figure)
            return out
        return chart

    for name, fn in vars(plots).items():
        if inspect.isfunction(fn) and fn.__module__ == plots.__name__ and not name.startswith("_"):
            monkeypatch.setattr(plots, name, keep(fn))
    plt.close("all")
    try:
        yield
        leaked = [n for n in plt.get_fignums() if not any(plt.figure(n) is f for f in returned)]
        assert leaked == [], f"figures left open that no chart returned: {leaked}"
    finally:
        plt.close("all")


def _labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def test_latency_bands_has_three_percentiles_per_strategy(result):
    ax = plots.latency_bands(result)
    labels = _labels(ax)
    for name in result.strategies:
        for p in (50, 95, 99):
            assert f"{name} p{p}" in labels
    assert "(s)" in ax.get_ylabel()
    assert "seed 1" in ax.get_title(loc="left")
    ax_lines = {line.get_label(): line for line in ax.get_lines()}
    # p99 is never below p50 in any bin.
    name = next(iter(result.strategies))
    p99, p50 = ax_lines[f"{name} p99"].get_ydata(), ax_lines[f"{name} p50"].get_ydata()
    seen = ~np.isnan(p50)  # NaN: a bin without a success, drawn as a gap
    assert seen.any() and np.all(p99[seen] >= p50[seen])


def test_outcomes_stacked_bars_sum_to_one(result):
    ax = plots.outcomes_by_strategy(result)
    counts = result.outcome_counts()
    assert set(counts["strategy"]) == set(result.strategies)
    heights = np.zeros(len(result.strategies))
    for c in ax.containers:
        heights += np.array([p.get_height() for p in c.patches])
    np.testing.assert_allclose(heights, 1.0)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "success" in legend
    # Segments differ by hatch, not colour alone.
    hatches = [c.patches[0].get_hatch() for c in ax.containers]
    assert len(set(hatches)) == len(hatches)


def test_outcome_counts_split_failures_by_code(result):
    counts = result.outcome_counts()
    req = result.measured()
    assert counts["requests"].sum() == len(req)
    assert not (counts["outcome"] == "failed").any()


def test_measured_columns_are_the_measured_table_cut_down(result):
    """The charts and outcome_counts ask measured() for their columns only: the same rows and values."""
    full = result.measured()
    cols = ["strategy", "outcome", "latency"]
    pd.testing.assert_frame_equal(result.measured(columns=cols), full[cols])
    pd.testing.assert_frame_equal(result.measured((20.0, 30.0), columns=("code",)), result.measured((20.0, 30.0))[["code"]])
    assert 0 < len(result.measured((20.0, 30.0))) < len(full)
    from resilsim.result import outcome_counts
    pd.testing.assert_frame_equal(result.outcome_counts(), outcome_counts(full))


def test_outcome_counts_fast_path_is_the_row_by_row_table(result):
    """Twin test: outcome_counts counts integer codes; the plain form turns every row into strings."""
    from resilsim.result import _outcome_counts_rows, outcome_counts

    pd.testing.assert_frame_equal(outcome_counts(result.measured()), _outcome_counts_rows(result.measured()))
    rng = np.random.default_rng(7)
    for k in range(300):  # small tables: many ties in count, strategies and outcomes in any first-seen order
        n = int(rng.integers(1, 40))
        df = pd.DataFrame({"strategy": rng.choice(["b", "a", "c"], n),
                           "outcome": rng.choice(["success", "failed", "retries_exhausted"], n),
                           "code": rng.choice(["", "X", "Y"], n)})
        if k % 2:
            df = df.astype("category")
        pd.testing.assert_frame_equal(outcome_counts(df), _outcome_counts_rows(df))
    missing = pd.DataFrame({"strategy": ["a", None], "outcome": ["success", "failed"], "code": ["", "X"]})
    pd.testing.assert_frame_equal(outcome_counts(missing), _outcome_counts_rows(missing))
    empty = result.measured().iloc[:0]
    pd.testing.assert_frame_equal(outcome_counts(empty), _outcome_counts_rows(empty))


def test_errors_over_time_one_line_per_code(result):
    ax = plots.errors_over_time(result, strategy="retry3")
    att = result.attempts
    codes = set(att[(att["strategy"] == "retry3") & (att["code"] != "")]["code"].astype(str))
    assert codes, "fixture should produce failed attempts"
    assert set(_labels(ax)) == codes
    assert "per second" in ax.get_ylabel()


def test_sweep_metric_draws_band_per_strategy():
    df = pd.DataFrame({"param": [1, 2, 3] * 2, "strategy": ["a"] * 3 + ["b"] * 3,
                       "mean": [0.5, 0.7, 0.9, 0.4, 0.6, 0.8], "lo": [0.4, 0.6, 0.8, 0.3, 0.5, 0.7],
                       "hi": [0.6, 0.8, 1.0, 0.5, 0.7, 0.9]})
    ax = plots.sweep_metric(df, metric="success rate", caption="s · seed 0")
    assert _labels(ax) == ["a", "b"]
    assert len(ax.collections) == 2  # one CI band each
    assert ax.get_lines()[0].get_linestyle() != ax.get_lines()[1].get_linestyle()
    assert ax.get_ylabel() == "success rate"


def test_sweep_metric_missing_columns_says_so():
    ax = plots.sweep_metric(pd.DataFrame({"x": [1]}))
    assert any("no data" in t.get_text() for t in ax.texts)


def test_heatmap_annotates_each_cell():
    df = pd.DataFrame({"workers": [1, 1, 2, 2], "rate": [10, 20, 10, 20], "mean": [0.1, 0.2, 0.3, 0.4]})
    ax = plots.sweep_heatmap(df, x="workers", y="rate")
    assert sorted(t.get_text() for t in ax.texts) == ["0.10", "0.20", "0.30", "0.40"]
    assert ax.get_xlabel() == "workers"


def test_plan_chart_draws_slo_and_chosen():
    df = pd.DataFrame({"param": [1, 2, 3], "strategy": ["a"] * 3, "mean": [0.5, 0.9, 0.99],
                       "lo": [0.4, 0.85, 0.98], "hi": [0.6, 0.95, 1.0]})
    ax = plots.plan_chart(df, slo=0.95, chosen=3, param="workers", metric="success rate")
    labels = _labels(ax)
    assert "SLO 0.95" in labels and "chosen workers = 3" in labels
    assert ax.get_xlabel() == "workers" and not any("no data" in t.get_text() for t in ax.texts)
    ax2 = plots.plan_chart(df, slo=1.5, chosen=None)
    assert any("no swept value" in t.get_text() for t in ax2.texts)


def test_guards_without_data_says_so(result):
    ax = plots.guards_over_time(result)
    assert not plots.has_guards(result)
    assert any("no data" in t.get_text() for t in ax.texts)


def test_guards_chart_draws_breaker_and_budget_of_guarded_strategies_only(tmp_path):
    r = _guarded_result()
    assert plots.has_guards(r)
    ax = plots.guards_over_time(r)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["budgeted: budget tokens (right axis)", "breaker: breaker open"]
    breaker = next(line for line in ax.get_lines() if line.get_label() == "breaker: breaker open")
    t, y = breaker.get_xdata(), breaker.get_ydata()
    assert y[(t > 25) & (t < 40)].max() == 1.0 and y[t < 15].max() == 0.0  # opens in the outage only
    styles = [h.get_linestyle() for h in ax.get_legend().legend_handles]
    assert len(set(styles)) == len(styles)
    assert "guards_over_time" in {p.stem for p in plots.save_charts(r, tmp_path)}


def test_given_ax_is_used_and_no_figure_created(result):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    for fn in (plots.latency_bands, plots.outcomes_by_strategy, plots.errors_over_time):
        assert fn(result, ax=ax) is ax
        ax.clear()
    assert plt.get_fignums() == []


def test_save_charts_writes_all(result, tmp_path):
    paths = plots.save_charts(result, tmp_path)
    assert {p.stem for p in paths} >= {"latency_bands", "outcomes_by_strategy", "errors_over_time"}
    assert all(p.stat().st_size > 1000 for p in paths)
    assert plt.get_fignums() == []


def test_metric_table_and_plan_answer():
    from types import SimpleNamespace

    ev = pd.DataFrame({"service.workers": [1, 2, 4, 1, 2, 4], "strategy": ["a"] * 3 + ["b"] * 3,
                       "success_rate": [0.5, 0.9, 0.999, 0.4, 0.8, 0.99],
                       "success_rate_ci_low": [0.4, 0.85, 0.998, 0.3, 0.7, np.nan],
                       "success_rate_ci_high": [0.6, 0.95, 1.0, 0.5, 0.9, np.nan]})
    from resilsim.sweep import metric_table
    tidy = metric_table(ev, "success_rate")
    assert list(tidy.columns) == ["param", "strategy", "mean", "lo", "hi"]
    assert tidy.loc[5, "lo"] == 0.99  # a missing CI collapses onto the mean
    p = SimpleNamespace(vary="service.workers", slo={"success_rate": ">=0.99"}, answers={"a": 4, "b": None},
                        evidence=ev)
    ax = plots.plan_answer(p)
    labels = _labels(ax)
    assert "SLO 0.99" in labels
    assert "chosen for a: service.workers = 4" in labels
    assert ax.get_xlabel() == "service.workers (count)"  # the key with its unit
    assert any(t.get_text() == "no value in range meets the SLO for strategy b" for t in ax.texts)


RESULT_CHARTS = (plots.success_over_time, plots.latency_cdf, plots.load_over_time, plots.latency_bands,
                 plots.outcomes_by_strategy, plots.errors_over_time)


# Each chart's axis units: time and latency axes in seconds, rates per second; fractions and counts unitless.
CHART_UNITS = {plots.success_over_time: ("(s)", "success rate"), plots.latency_cdf: ("(s)", "fraction"),
               plots.load_over_time: ("(s)", "per second"), plots.latency_bands: ("(s;", "(s)"),
               plots.outcomes_by_strategy: ("strategy", "fraction"), plots.errors_over_time: ("(s)", "per second")}


@pytest.mark.parametrize("fn", RESULT_CHARTS, ids=lambda f: f.__name__)
def test_every_chart_captions_scenario_and_seed_and_labels_units(result, fn):
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    assert fn(result, ax=ax) is ax
    title = ax.get_title(loc="left")
    assert result.scenario.name in title and f"seed {result.seed}" in title
    x_unit, y_unit = CHART_UNITS[fn]
    assert x_unit in ax.get_xlabel() and y_unit in ax.get_ylabel(), (ax.get_xlabel(), ax.get_ylabel())


# By name: the chart is looked up when the test runs, so no_leak sees the Axes it returns.
@pytest.mark.parametrize("chart", ("success_over_time", "latency_cdf", "load_over_time"))
def test_strategies_differ_by_line_style_not_colour_alone(result, chart):
    ax = getattr(plots, chart)(result)
    styles = {}
    for line in ax.get_lines():
        for name in result.strategies:
            if line.get_label() in (name, f"attempts: {name}"):
                styles[name] = line.get_linestyle()
    assert set(styles) == set(result.strategies)
    assert len(set(styles.values())) == len(styles)


def test_latency_bands_strategies_differ_by_marker(result):
    ax = plots.latency_bands(result)
    markers = {line.get_label().rsplit(" ", 1)[0]: line.get_marker() for line in ax.get_lines()}
    assert len(set(markers.values())) == len(result.strategies)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [*result.strategies, "p50", "p95", "p99"]


def test_load_chart_draws_capacity_and_rate_limit(result):
    import resilsim

    ax = plots.load_over_time(result)
    cap = [line for line in ax.get_lines() if line.get_label().startswith("capacity")]
    # The fixture: 3 workers, exponential service with mean 0.05 s -> 60 attempts/s.
    assert len(cap) == 1 and cap[0].get_ydata()[0] == pytest.approx(60.0)
    d = result.scenario.model_dump(exclude_none=True)
    d["service"]["rate_limit"] = {"token_bucket": {"rate": 12.5, "burst": 5}}
    d["duration"] = 20
    limited = resilsim.simulate(d, seed=1)
    labels = _labels(plots.load_over_time(limited))
    assert "rate limit 12.5/s" in labels


def test_service_capacity_is_workers_over_weighted_mean_service_time():
    import resilsim

    d = small(duration=10)
    d["service"]["workers"] = 4
    d["service"]["operations"] = {"a": {"weight": 3, "latency": {"constant": 0.1}},
                                  "b": {"weight": 1, "latency": {"exponential": {"mean": 0.5}}}}
    sc = resilsim.load_scenario(d)
    from resilsim.server.build import capacity_rps
    assert capacity_rps(sc.service) == pytest.approx(4 / (0.75 * 0.1 + 0.25 * 0.5))
    assert resilsim.simulate(sc, seed=0).capacity_rps() == capacity_rps(sc.service)


def test_incident_labels_do_not_overlap_and_load_changes_are_shaded():
    import resilsim
    from matplotlib.figure import Figure

    d = small(duration=100)
    d["faults"] = {"incidents": [{"name": f"incident-number-{i}", "start": 10 + 8 * i, "duration": 5,
                                  "code": "ANALYTICS_2000", "rate": 0.5} for i in range(4)]}
    d["clients"]["arrival"]["poisson"]["changes"] = [{"start": 70, "duration": 10, "rate": 40}]
    r = resilsim.simulate(d, seed=0)
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = plots.success_over_time(r, ax=fig.add_subplot())
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text().startswith("incident-number")]
    assert len(boxes) == 4
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)
    assert any(t.get_text() == "load 40/s" for t in ax.texts)
    assert "load change" in [t.get_text() for t in ax.get_legend().get_texts()]
    # The caption sits above the label rows.
    title = ax.title if ax.title.get_text() else ax._left_title
    assert title.get_window_extent(renderer).y0 >= max(b.y1 for b in boxes) - 1


# Charts from tidy tables: what a Result draws, a table read back from disk draws the same.
TABLE_CHARTS = [(plots.success_over_time, "timeline"), (plots.load_over_time, "timeline"),
                (plots.latency_cdf, "measured"), (plots.latency_bands, "requests"),
                (plots.errors_over_time, "attempts"), (plots.guards_over_time, "timeline")]


def _line_data(ax):
    return [(line.get_label(), np.asarray(line.get_xdata(), float).tolist(),
             np.asarray(line.get_ydata(), float).tolist()) for line in ax.get_lines()]


@pytest.mark.parametrize("chart,table", TABLE_CHARTS, ids=[c.__name__ for c, _ in TABLE_CHARTS])
def test_a_chart_of_a_table_read_back_from_parquet_draws_the_same_lines(result, chart, table, tmp_path):
    from matplotlib.figure import Figure

    frame = result.measured() if table == "measured" else getattr(result, table)
    path = tmp_path / f"{table}.parquet"
    frame.to_parquet(path)
    back = pd.read_parquet(path)
    name = chart.__name__
    kw = {"capacity": result.capacity_rps()} if name == "load_over_time" else {}
    if name not in ("latency_cdf", "guards_over_time"):
        kw["duration"] = result.scenario.duration
    if name != "latency_cdf":
        kw["windows"] = result.windows
    if name == "errors_over_time":
        kw["api"] = result.scenario.api  # names the codes as the Result's catalog does
    a = chart(result, ax=Figure().add_subplot())
    b = chart(back, ax=Figure().add_subplot(), title=result.title(), **kw)
    got, want = _line_data(b), _line_data(a)
    assert [g[0] for g in got] == [w[0] for w in want]
    for (_, gx, gy), (_, wx, wy) in zip(got, want):
        np.testing.assert_array_equal(gx, wx)
        np.testing.assert_array_equal(gy, wy)
    assert b.get_title(loc="left") == a.get_title(loc="left")


def test_outcomes_from_a_count_table(result):
    from matplotlib.figure import Figure

    a = plots.outcomes_by_strategy(result, ax=Figure().add_subplot())
    b = plots.outcomes_by_strategy(result.outcome_counts(), ax=Figure().add_subplot())
    heights = [[p.get_height() for p in c.patches] for c in a.containers]
    assert heights == [[p.get_height() for p in c.patches] for c in b.containers]


def test_source_of_a_plain_table_infers_bin_and_order():
    tl = pd.DataFrame({"time": [0.0, 2.0, 4.0, 0.0, 2.0, 4.0], "strategy": ["b"] * 3 + ["a"] * 3})
    src = plots.source(tl, "timeline")
    assert src.strategies == ["b", "a"] and src.bin_s == 2.0 and src.duration == 6.0 and src.result is None


# Charts that answer "which strategy is best, when, and at what cost" at a glance.

def test_errors_by_strategy_has_one_facet_per_strategy_with_shared_axes_and_codes(result):
    from matplotlib.figure import Figure

    fig = Figure(layout="constrained")
    axes = plots.errors_by_strategy(result, fig=fig)
    assert [ax.get_title(loc="right") for ax in axes] == [f"strategy: {n}" for n in result.strategies]
    assert all(ax.get_shared_y_axes().joined(axes[0], ax) for ax in axes)
    att = result.attempts
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    for name in result.strategies:  # every strategy's codes are in the one legend, not only the first's
        codes = set(att.loc[(att["strategy"] == name) & (att["code"] != ""), "code"].astype(str))
        assert all(any(label.split()[0] == c for label in legend) for c in codes)
    # A code keeps its colour in every facet.
    colours = {}
    for ax in axes:
        for line in ax.get_lines():
            assert colours.setdefault(line.get_label(), line.get_color()) == line.get_color()


def test_errors_chart_names_codes_from_the_catalog(result):
    labels = {label for name in result.strategies for label in _labels(plots.errors_over_time(result, strategy=name))}
    assert "ANALYTICS_2000 INTERNAL_SERVER_ERROR" in labels
    assert "TIMEOUT" in labels  # a client-side outcome, not a catalog code: bare


def _counts(success: dict) -> pd.DataFrame:
    rows = []
    for name, share in success.items():
        rows += [{"strategy": name, "outcome": "success", "requests": round(share * 1000)},
                 {"strategy": name, "outcome": "retries_exhausted", "requests": 1000 - round(share * 1000)}]
    return pd.DataFrame(rows)


def test_outcomes_axis_zooms_to_the_data_and_says_so():
    ax = plots.outcomes_by_strategy(_counts({"a": 0.87, "b": 0.93}))
    lo, hi = ax.get_ylim()
    assert 0.5 < lo <= 0.87 and hi >= 1.0  # every segment boundary visible, not a 0-1 axis
    assert f"axis from {lo:g}, not 0" in ax.get_ylabel()
    assert {t.get_text() for t in ax.texts} >= {"0.870", "0.930"}
    full = plots.outcomes_by_strategy(_counts({"a": 0.1, "b": 0.93}))
    assert full.get_ylim()[0] <= 0 and "axis from" not in full.get_ylabel()


def test_outcomes_ticks_state_each_strategys_cost(result):
    ax = plots.outcomes_by_strategy(result)
    amp = result.summary()["amplification"]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == [f"{n}\n×{amp[n]:.2f}" for n in result.strategies]
    assert "attempts sent per request" in ax.get_xlabel()


def test_time_charts_mark_the_warm_up():
    r = resilsim.simulate(small(duration=30, warmup=8), seed=0)
    for chart in (plots.success_over_time, plots.load_over_time, plots.latency_bands, plots.errors_over_time):
        ax = chart(r)
        spans = [p for p in ax.patches if p.get_label() == plots.WARMUP_LABEL]
        if chart is plots.errors_over_time and not spans:
            continue  # "no data" (no failed attempts) draws no time axis
        assert len(spans) == 1, chart.__name__
        assert (spans[0].get_x(), spans[0].get_x() + spans[0].get_width()) == (0, 8)


def test_success_difference_to_a_baseline_separates_overlapping_lines(result):
    ax = plots.success_over_time(result, baseline="none")
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"retry3", "none (baseline)"}
    tl = result.timeline
    width = plots.smoothing_bins(plots.source(result, "timeline"), None, plots.SMOOTH_S["success_over_time"])
    want = 100 * (plots.smooth_values(tl[tl["strategy"] == "retry3"]["success_rate"].to_numpy(float), width)
                  - plots.smooth_values(tl[tl["strategy"] == "none"]["success_rate"].to_numpy(float), width))
    np.testing.assert_allclose(lines["retry3"].get_ydata(), want)
    assert "percentage points" in ax.get_ylabel()
    with pytest.raises(ValueError, match="baseline 'nope' is not a strategy"):
        plots.success_over_time(result, baseline="nope")


@pytest.mark.parametrize("chart", [plots.success_over_time, plots.latency_cdf, plots.load_over_time,
                                   plots.latency_bands, plots.outcomes_by_strategy, plots.errors_over_time])
def test_legends_sit_outside_the_data(result, chart):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = chart(result, ax=fig.add_subplot())
    fig.canvas.draw()
    box, legend = ax.get_window_extent(), ax.get_legend().get_window_extent()
    assert not box.overlaps(legend), chart.__name__


def test_saved_charts_are_the_files_the_run_command_owns(result, tmp_path):
    from resilsim.cli import main
    assert {p.name for p in plots.save_charts(result, tmp_path)} <= set(plots.CHART_FILES)
    # A run without charts into a folder holding another run's charts leaves none of them behind.
    scenario = tmp_path / "s.yaml"
    scenario.write_text(resilsim.scenario.dump_scenario(result.scenario))
    assert main(["run", str(scenario), "--out", str(tmp_path), "--no-charts"]) == 0
    assert not [p.name for p in tmp_path.glob("*.png")]


@pytest.mark.parametrize("chart", ["success_over_time", "latency_cdf", "load_over_time", "latency_bands",
                                   "outcomes_by_strategy", "errors_over_time"])
def test_every_axis_label_is_the_metrics_vocabularys_with_its_unit(result, chart):
    from resilsim import metrics
    ax = getattr(plots, chart)(result)  # looked up now: the no_leak fixture's wrapper
    for label in (ax.get_xlabel(), ax.get_ylabel()):
        flat = label.replace("\n", " ")
        if flat.startswith("strategy"):
            continue  # categories, not a quantity
        assert any(flat.startswith(q.split(" (")[0]) for q in metrics.AXES.values()), flat
        assert "(" in flat and any(u in flat for u in ("(s", "(1/s)", "(0–1", "percentage points")), flat


# ---- small multiples and tails, where lines on one Axes would lie on top of each other

def test_success_by_strategy_gives_each_strategy_a_facet_and_states_its_mean_difference(result):
    axes = plots.success_by_strategy(result, baseline="none")
    assert len(axes) == 2  # the success rate, then retry3 − none
    tl = result.timeline
    t = tl.loc[tl["strategy"] == "none", "time"].to_numpy(float)
    d = 100 * (tl.loc[tl["strategy"] == "retry3", "success_rate"].to_numpy(float)
               - tl.loc[tl["strategy"] == "none", "success_rate"].to_numpy(float))
    inside = (t >= 15) & (t < 25) & (t >= result.scenario.warmup)
    title = axes[1].get_title(loc="right")
    assert title.startswith("retry3 − none") and f"{np.nanmean(d[inside]):+.1f} pp in incidents" in title
    lo, hi = axes[1].get_ylim()
    assert lo <= min(0, np.nanmin(d)) and hi >= max(0, np.nanmax(d))  # zoomed to the data, zero in view
    assert "(pp)" in axes[1].get_ylabel() and axes[0].get_ylabel() == plots.metrics.axis("success_rate")
    with pytest.raises(ValueError, match="baseline 'nope'"):
        plots.success_by_strategy(result, baseline="nope")


def test_latency_bands_by_strategy_draws_one_strategy_per_facet_on_shared_axes(result):
    axes = plots.latency_bands_by_strategy(result)
    assert [ax.get_title(loc="right") for ax in axes] == ["strategy: none", "strategy: retry3"]
    assert {line.get_label().split()[0] for line in axes[1].get_lines()} == {"retry3"}
    assert axes[0].get_shared_y_axes().joined(axes[0], axes[1])


def test_latency_tail_shows_the_fraction_slower_on_a_log_axis(result):
    ax = plots.latency_cdf(result, tail=True)
    assert ax.get_yscale() == "log" and "slower" in ax.get_ylabel()
    ok = result.measured()
    lat = np.sort(ok[(ok["strategy"] == "retry3") & (ok["outcome"] == "success")]["latency"].to_numpy())
    line = next(x for x in ax.get_lines() if x.get_label() == "retry3")
    x, y = line.get_xdata(), line.get_ydata()
    at = np.searchsorted(x, np.median(lat), side="right") - 1  # the step at the median: half are slower
    assert y[at] == pytest.approx((lat > x[at]).mean(), abs=1 / len(lat))


def test_outcome_legend_keeps_error_codes_as_written():
    assert plots._outcome_label("failed: ANALYTICS_1900") == "failed: ANALYTICS_1900"
    assert plots._outcome_label("retries_exhausted") == "retries exhausted"


def test_guards_by_strategy_gives_each_guarded_strategy_a_facet_in_its_colour():
    d = small(duration=30, strategies={"none": {"retry": "none"},
                                       "brk": {"retry": "immediate", "guards": {"breaker": {}}},
                                       "bud": {"retry": "immediate", "guards": {"token_bucket": {}}}})
    r = resilsim.simulate(d, seed=1)
    axes = plots.guards_by_strategy(r)
    assert [ax.get_title(loc="right") for ax in axes] == ["brk: breaker open", "bud: retry-budget tokens"]
    assert axes[0].get_lines()[0].get_color() == "C1" and axes[1].get_lines()[0].get_color() == "C2"
    assert "(0–1)" in axes[0].get_ylabel() and "tokens" in axes[1].get_ylabel()


def test_load_by_strategy_draws_each_strategys_attempts_in_its_own_panel(result):
    axes = plots.load_by_strategy(result)
    assert [ax.get_title(loc="right") for ax in axes] == ["strategy: none", "strategy: retry3"]
    for ax, name in zip(axes, ("none", "retry3")):
        labels = _labels(ax)
        assert f"attempts: {name}" in labels and "offered requests" in labels
        assert not any(label.startswith("attempts: ") and label != f"attempts: {name}" for label in labels)
    assert axes[0].get_shared_y_axes().joined(axes[0], axes[1])  # one scale: the panels compare


def test_ecdf_steps_is_axes_ecdf_and_thins_long_runs_within_a_step():
    """Twin test: up to 2·keep values the line is Axes.ecdf's; beyond, at most one evenly spaced gap below the exact CDF."""
    from matplotlib.figure import Figure

    rng = np.random.default_rng(3)
    few = rng.lognormal(size=500)
    (want,) = [Figure().add_subplot().ecdf(few)]
    x, y = plots.ecdf_steps(few)
    np.testing.assert_array_equal(x, want.get_xdata())
    np.testing.assert_array_equal(y, want.get_ydata())
    many = rng.lognormal(size=100_000)
    x, y = plots.ecdf_steps(many, keep=500)  # 500 evenly spaced steps and the 500 slowest
    assert len(x) <= 1001 and x[-1] == many.max() and x[1] == many.min() and y[-1] == 1.0
    exact = np.searchsorted(np.sort(many), x, side="right") / len(many)  # the CDF at each kept point
    np.testing.assert_allclose(y, np.r_[0.0, exact[1:]])
    probe = np.sort(rng.choice(many, 5000))  # between kept points the line holds the last kept value
    drawn = y[np.searchsorted(x[1:], probe, side="right")]
    true = np.searchsorted(np.sort(many), probe, side="right") / len(many)
    assert np.all(drawn <= true + 1e-12) and np.all(true - drawn <= 1 / 499 + 1e-12)  # gaps of (n-1)/499 values


def test_chart_pool_draws_what_save_charts_draws(result, tmp_path):
    """Charts drawn in a worker process from chart_data's cut-down data are save_charts' PNGs, byte for byte."""
    from resilsim.chart_pool import ChartPool, chart_data

    here = plots.save_charts(result, tmp_path / "here")
    with ChartPool(1) as pool:
        there = pool.wait(pool.submit(result, tmp_path / "there"))
    assert [p.name for p in there] == [p.name for p in here]
    for a, b in zip(here, there):
        assert a.read_bytes() == b.read_bytes(), a.name
    cdf, errors = chart_data(result, "latency_cdf"), chart_data(result, "errors_over_time")
    assert 0 < len(cdf.requests) < len(result.requests) and list(cdf.requests.columns) == [
        "strategy", "outcome", "start", "latency"]  # only what the chart draws travels to the worker
    assert 0 < len(errors.attempts) < len(result.attempts) and (errors.attempts["code"] != "").all()
    assert chart_data(result, "success_over_time").requests is None


def test_forked_charts_draw_what_save_charts_draws(result, tmp_path):
    """Charts drawn by a forked process and this one together (chart_pool.ForkedCharts) are save_charts' PNGs,
    each drawn once."""
    import multiprocessing

    from resilsim.chart_pool import ForkedCharts

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork here")
    here = plots.save_charts(result, tmp_path / "here")
    names = [p.stem for p in here]
    out = tmp_path / "split"
    out.mkdir()
    forked = ForkedCharts(result, out, names)
    try:
        mine = forked.draw_rest(result)
        theirs = forked.wait()
    finally:
        forked.close()
    assert sorted(mine + theirs) == sorted(names)  # each once, whoever took it
    for p in here:
        assert p.read_bytes() == (out / p.name).read_bytes(), p.name


def test_forked_charts_are_shared_as_each_process_comes_free(result, tmp_path):
    """Not split in advance: while this process is busy (writing the tables), the forked one goes on to the next
    chart, here all of them; it takes them costliest first. (Split by guessed costs, this process was left
    drawing its share up to 0.2 s after the other had finished.)"""
    import multiprocessing

    from resilsim.chart_pool import ForkedCharts, drawing_order

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork here")
    names = [name for name, _ in plots.run_charts(result)]
    forked = ForkedCharts(result, tmp_path, names)
    try:
        theirs = forked.wait()  # this process takes nothing until the forked one is done
        assert forked.draw_rest(result) == []
    finally:
        forked.close()
    assert theirs == drawing_order(names)
    assert drawing_order(["outcomes_by_strategy", "latency_cdf", "errors_over_time"]) == [
        "latency_cdf", "errors_over_time", "outcomes_by_strategy"]


def test_forked_charts_raise_the_childs_error(result, tmp_path):
    import multiprocessing

    from resilsim.chart_pool import ForkedCharts

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork here")
    forked = ForkedCharts(result, tmp_path / "missing" / "folder", ["latency_cdf"])
    try:
        with pytest.raises(FileNotFoundError):
            forked.wait()
    finally:
        forked.close()


def test_a_chart_pool_worker_killed_mid_chart_is_a_clear_error_not_a_hang(result, tmp_path):
    """A worker process killed while it draws (SIGKILL: out of memory, a user's kill): wait() raises a
    ChartWorkerError naming a chart, and close() returns; neither waits for an answer that never comes."""
    import os
    import signal

    from resilsim.chart_pool import ChartPool, ChartWorkerError

    pool = ChartPool(1)
    try:
        pool._pool.submit(int).result(timeout=120)  # warmed up: the charts start at once
        jobs = pool.submit(result, tmp_path / "out")
        (worker,) = pool._pool._processes.values()
        os.kill(worker.pid, signal.SIGKILL)  # its first chart takes ~0.1 s, the six together ~1 s: killed mid-way
        error = wait_within(lambda: pool.wait(jobs))
        assert isinstance(error, ChartWorkerError), repr(error)
        assert "chart worker process ended without drawing" in str(error) and ".png" in str(error)
    finally:
        assert wait_within(pool.close) is None


def test_a_forked_chart_process_killed_mid_chart_is_a_clear_error_not_a_hang(result, tmp_path):
    import multiprocessing
    import os
    import signal

    from resilsim.chart_pool import ChartWorkerError, ForkedCharts

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork here")
    forked = ForkedCharts(result, tmp_path, [name for name, _ in plots.run_charts(result)])
    try:
        os.kill(forked._proc.pid, signal.SIGKILL)
        error = wait_within(forked.wait)
        assert isinstance(error, ChartWorkerError), repr(error)
        assert str(error) == ("the forked chart process ended with exit status -9 before it had drawn its charts "
                              "(killed, or out of memory?)")
    finally:
        assert wait_within(forked.close) is None


def test_charts_left_gives_each_chart_to_one_taker():
    """chart_pool.ChartsLeft: every name once, costliest first, then None, to whichever process asks; two
    processes taking from it at once get each name once between them."""
    import multiprocessing
    import os

    from resilsim.chart_pool import ChartsLeft, drawing_order

    names = [f"chart{k}" for k in range(40)] + ["latency_cdf"]
    take = ChartsLeft(names)
    assert take() == "latency_cdf" and [take() for _ in range(40)] == [f"chart{k}" for k in range(40)]
    assert take() is None and take() is None
    take.close()
    if "fork" not in multiprocessing.get_all_start_methods():
        return
    take = ChartsLeft(names)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the other taker: writes what it took, one name per line
        try:
            got = []
            while (name := take()) is not None:
                got.append(name)
            os.write(w, "\n".join(got).encode())
        finally:
            os._exit(0)
    os.close(w)
    mine = []
    while (name := take()) is not None:
        mine.append(name)
    os.waitpid(pid, 0)
    with os.fdopen(r) as f:
        theirs = [n for n in f.read().split("\n") if n]
    take.close()
    assert sorted(mine + theirs) == sorted(names)
    assert drawing_order(names)[0] == "latency_cdf"


def test_chart_pool_workers_default(monkeypatch):
    """`resilsim run` draws in worker processes by default only with POOL_CORES cores (slower on 2 busy ones)."""
    import os

    from resilsim.chart_pool import POOL_CORES, pool_workers

    monkeypatch.setattr(os, "cpu_count", lambda: POOL_CORES - 1)
    assert pool_workers() == 0 and pool_workers(3) == 3
    monkeypatch.setattr(os, "cpu_count", lambda: POOL_CORES)
    assert pool_workers() == 2 and pool_workers(0) == 0


@pytest.mark.parametrize("name", ["success_over_time", "latency_cdf", "load_over_time", "latency_bands",
                                  "errors_over_time"])
def test_column_layout_places_axes_as_constrained_layout(result, name):
    """The stacked charts' one-pass layout (column_layout) against constrained layout, its general form: every
    Axes within a few points of where constrained layout puts it, and every text inside the figure."""
    import matplotlib

    with matplotlib.rc_context({"figure.dpi": 110}):
        fig = plots.chart_figure(result, name)
        assert fig.get_layout_engine() is None or type(fig.get_layout_engine()).__name__ == "PlaceHolderLayoutEngine"
        fast = [ax.get_position().frozen() for ax in fig.axes]
        fig.canvas.draw()
        drawn = fig.get_tightbbox(fig.canvas.get_renderer())  # inches: what is drawn, texts and all
        w, h = fig.get_size_inches()
        assert drawn.x0 >= -0.02 and drawn.y0 >= -0.02 and drawn.x1 <= w + 0.02 and drawn.y1 <= h + 0.02, (name, drawn)
        fig.set_layout_engine("constrained")
        fig.canvas.draw()
        slow = [ax.get_position().frozen() for ax in fig.axes]
    w, h = fig.get_size_inches() * 72
    for a, b in zip(fast, slow):
        assert abs(a.x0 - b.x0) * w < 8 and abs(a.x1 - b.x1) * w < 8, (name, a, b)
        assert abs(a.y0 - b.y0) * h < 8 and abs(a.y1 - b.y1) * h < 8, (name, a, b)


def _ticks_made(fig) -> int:
    """Tick objects matplotlib made to draw ``fig`` (drawn with Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return sum(len(a.majorTicks) + len(a.minorTicks) for ax in fig.axes for a in (ax.xaxis, ax.yaxis))


def _guarded_result():
    """Two strategies with guards (a budget, a breaker) and one without: the faceted guards chart."""
    d = small(duration=60, strategies={
        "plain": {"retry": "immediate"},
        "budgeted": {"retry": "immediate", "guards": {"token_bucket": {"max_tokens": 10, "token_ratio": 0.1}}},
        "breaker": {"retry": "immediate", "guards": {"breaker": {"failure_rate": 0.5, "window": 20,
                                                                 "minimum_calls": 20, "open_s": 5}}}})
    d["faults"] = {"incidents": [{"name": "outage", "start": 20, "duration": 20, "code": "ANALYTICS_1900",
                                  "rate": 1.0}]}
    return resilsim.simulate(d, seed=0)


def test_ticks_in_view_and_tick_marks_draw_the_same_pngs_with_fewer_ticks(result, tmp_path, monkeypatch):
    """The run charts' shortcuts against matplotlib's own drawing: in-view locators (plots._ticks_in_view),
    unlabelled ticks drawn as one marker line per axis and kind (plots._tick_marks) and titles pinned where
    matplotlib's search would leave them (plots._pin_titles) give the same PNG bytes with fewer Tick objects
    (matplotlib's locators give locations beyond each end, a log axis' a decade); also for the faceted guards
    chart (constrained layout)."""
    guarded = _guarded_result()
    fast = plots.save_charts(result, tmp_path / "fast") + plots.save_charts(guarded, tmp_path / "fast-guards")
    with matplotlib.rc_context({"figure.dpi": 110}):
        fig = plots.chart_figure(result, "latency_bands")
        assert any(type(a).__name__ == "TickMarks" for ax in fig.axes for a in ax.get_children())
        few = _ticks_made(fig)
        # _pin_titles sets matplotlib's private flag: a matplotlib without it would make the pin do nothing.
        assert all(hasattr(ax, "_autotitlepos") for ax in fig.axes)
        monkeypatch.setattr(plots, "_ticks_in_view", lambda fig: None)
        monkeypatch.setattr(plots, "_tick_marks", lambda fig: None)
        monkeypatch.setattr(plots, "_pin_titles", lambda fig: None)
        many = _ticks_made(plots.chart_figure(result, "latency_bands"))
    plain = plots.save_charts(result, tmp_path / "plain") + plots.save_charts(guarded, tmp_path / "plain-guards")
    assert "guards_over_time.png" in {p.name for p in fast}
    for a, b in zip(fast, plain, strict=True):
        assert a.read_bytes() == b.read_bytes(), a
    assert few < many, (few, many)


def test_sorted_percentiles_are_numpys_bit_for_bit():
    """Twin test: the latency bands take every bin's percentiles at once (plots.sorted_percentiles), numpy took them
    a bin at a time; the floats must be the same bits (the PNGs are compared byte for byte elsewhere)."""
    from resilsim.plots import sorted_percentiles

    rng = np.random.default_rng(11)
    makers = [lambda n: rng.lognormal(-3, 1.5, n), lambda n: rng.integers(0, 4, n) * 0.1,
              lambda n: np.full(n, rng.random()), lambda n: rng.random(n) * 1e-6 + 1e3]
    for trial in range(800):
        counts = rng.integers(1, [2, 3, 6, 50, 400][trial % 5], int(rng.integers(1, 8)))
        slices = [np.sort(makers[trial % 4](n)) for n in counts]
        if trial % 13 == 0 and counts[0] > 1:
            slices[0][-1] = np.nan  # a NaN sorts last; numpy gives NaN for that slice
        values, first = np.concatenate(slices), np.concatenate([[0], np.cumsum(counts)[:-1]])
        for percents in ((50, 95, 99), (0, 1, 33.3, 100)):
            got = sorted_percentiles(values, first, counts, percents)
            want = np.array([np.percentile(s, list(percents)) for s in slices])
            assert got.tobytes() == want.tobytes(), (trial, percents)
