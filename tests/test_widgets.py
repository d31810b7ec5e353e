"""The explorer panel, headless: set control values, the callbacks re-run the simulation and redraw."""
import pytest

pytest.importorskip("ipywidgets")

import resilsim  # noqa: E402
from resilsim.widgets import CUSTOM, LIBRARY, NONE, build_explorer, explore  # noqa: E402
from tests.conftest import small, wait_within  # noqa: E402


def _scenario():
    d = small(duration=40, strategies={"none": {"retry": "none"},
                                       "fixed": {"retry": {"wait": {"fixed": 0.05}, "stop": {"attempts": 3}}}})
    d["clients"]["timeout"] = 0.5
    return resilsim.load_scenario(d)


@pytest.fixture
def ex():
    return build_explorer(_scenario(), preview=20, charts=("success_over_time", "load_over_time"))


def test_panel_is_a_box_with_the_explorer():
    import ipywidgets as w

    panel = explore(_scenario(), preview=20)
    assert isinstance(panel, w.VBox)
    # It opens on a run of the preview, with the scenario's strategies.
    assert panel.explorer.result.scenario.duration == 20
    assert list(panel.explorer.result.strategies) == list(_scenario().strategies)


def test_first_preview_is_shortened(ex):
    assert ex.result.scenario.duration == 20
    assert all(len(img.value) > 1000 for img in ex.images)
    assert "success_rate" in ex.table.value


def test_workers_slider_reruns_and_changes_charts(ex):
    runs, table, png = ex.runs, ex.table.value, ex.images[0].value
    ex.controls["workers"].value = 1  # the callback runs the preview again
    assert ex.runs == runs + 1
    assert ex.result.scenario.service.workers == 1
    assert ex.table.value != table
    assert ex.images[0].value != png


def test_load_and_rate_limit(ex):
    ex.controls["load"].value = 100.0
    assert ex.result.scenario.clients.arrival.poisson.rate == 100.0
    ex.controls["rate_limit"].value = 20.0
    assert ex.result.scenario.service.rate_limit.token_bucket.rate == 20.0
    ex.controls["rate_limit"].value = 0.0
    assert ex.result.scenario.service.rate_limit is None


def test_incident_controls_add_an_incident_with_catalog_code(ex):
    code = ex.controls["incident_code"].options[1]
    ex.controls["incident_rate"].value = 0.5
    ex.controls["incident_start"].value = 5.0
    ex.controls["incident_duration"].value = 10.0
    ex.controls["incident_code"].value = code
    assert ex.result.windows and ex.result.windows[0][:2] == (5.0, 15.0)
    ex.controls["incident_code"].value = NONE
    assert ex.result.windows == []


def test_strategy_picker_and_custom_strategy(ex):
    ex.controls["strategies"].value = ("none", CUSTOM)
    assert list(ex.result.strategies) == ["none", CUSTOM]
    ex.controls["attempts"].value = 2
    assert ex.result.summary().loc[CUSTOM, "mean_attempts"] <= 2
    ex.controls["strategies"].value = ()
    assert "pick at least one" in ex.status.value


def test_run_button_runs_full_duration(ex):
    ex.button.click()
    assert ex.result.scenario.duration == 40
    assert "full run" in ex.status.value


def test_bad_value_says_why_and_keeps_last_result(ex):
    last = ex.result
    ex.controls["load"].min = 0.0
    ex.controls["load"].value = 0.0  # the schema wants a positive rate
    assert ex.result is last
    assert "rate" in ex.status.value


def _lines(fig):
    """(label, x, y) of every line in a figure's first Axes (NaN as None, so equal gaps compare equal)."""
    def values(a):
        return [None if v != v else float(v) for v in a]
    return [(ln.get_label(), values(ln.get_xdata()), values(ln.get_ydata())) for ln in fig.axes[0].get_lines()]


def _expected(ex):
    """Table HTML and each chart's lines drawn independently from a fresh simulation of the controls' scenario."""
    from matplotlib.figure import Figure

    from resilsim import plots

    sc = ex.scenario(full=False)
    r = resilsim.simulate(sc, seed=ex.seed, strategies=ex._names, record=ex.preview_record)
    lines = []
    for name in ex.charts:
        fig = Figure()
        getattr(plots, name)(r, ax=fig.add_subplot())
        lines.append(_lines(fig))
    return r, r.summary().to_html(float_format=lambda v: f"{v:.3g}"), lines


def _shown_lines(ex):
    return [_lines(chart.figure) for chart in ex.figures]


@pytest.mark.parametrize("knob, value", [("load", 80.0), ("workers", 2), ("incident_rate", 0.9)])
def test_redraw_shows_the_run_with_the_new_value(ex, knob, value):
    if knob == "incident_rate":  # an incident with a code first, at a low rate
        ex.controls["incident_rate"].value = 0.1
        ex.controls["incident_code"].value = ex.controls["incident_code"].options[1]
    before = ex.table.value, ex.images[0].value, _shown_lines(ex)
    ex.controls[knob].value = value
    r, table, lines = _expected(ex)
    # What the panel shows is exactly the run with the new value, not the previous one: the lines updated in
    # place hold what a fresh chart of an independent run draws.
    assert ex.table.value == table and _shown_lines(ex) == lines
    assert ex.table.value != before[0] and ex.images[0].value != before[1] and _shown_lines(ex) != before[2]
    assert ex.result.summary().equals(r.summary())


def test_preview_is_a_window_around_a_late_incident():
    d = small(duration=200)
    d["faults"] = {"incidents": [{"name": "late", "start": 120, "duration": 60, "code": "ANALYTICS_2000",
                                  "rate": 0.5}]}
    d["clients"]["arrival"]["poisson"]["changes"] = [{"start": 100, "duration": 15, "rate": 80}]
    ex = build_explorer(resilsim.load_scenario(d), preview=40)
    assert ex.result is not None, ex.status.value
    # Window: from a quarter of its length before the incident (110 s) to 150 s, shifted to start at 0.
    assert ex.offset == 110 and ex.result.scenario.duration == 40
    assert ex.result.windows[0][:2] == (10.0, 40.0)
    change = ex.result.scenario.clients.arrival.poisson.changes[0]
    assert (change.start, change.duration) == (0.0, 5.0)  # 100–115 s clipped to 110–115 s
    assert "110–150 s" in ex.status.value
    ex.button.click()  # the full run is not shifted
    assert ex.offset == 0 and ex.result.windows[0][:2] == (120.0, 180.0)


def test_custom_strategy_guard_pickers_reach_the_run(ex):
    c = ex.controls
    c["strategies"].value = ("none", CUSTOM)
    c["budget"].value = "token bucket (gRPC: 10 tokens, 0.1)"
    c["breaker"].value = True
    c["breaker_rate"].value = 0.3
    c["breaker_open"].value = 7.0
    c["throttle_k"].value = 2.0
    p = ex.result.strategies[CUSTOM]
    # Consulted in the documented order: throttle, token bucket, breaker last.
    assert p["guards"] == "throttle+token_bucket+breaker"
    assert (p["breaker_failure_rate"], p["breaker_open_s"], p["throttle_k"], p["token_bucket_max_tokens"]) == \
        (0.3, 7.0, 2.0, 10.0)
    assert "breaker_open_s=7" in ex.table.value and "throttle_k=2" in ex.table.value  # shown under the summary
    c["budget"].value = "ratio 10% (SRE book, no floor)"
    c["breaker"].value = False
    c["throttle_k"].value = 0.0  # off
    p = ex.result.strategies[CUSTOM]
    assert p["guards"] == "ratio" and p["ratio_percent"] == 0.1 and "breaker_open_s" not in p
    assert "guards" not in ex.result.strategies["none"]


def test_guarded_custom_run_is_the_run_of_the_same_yaml(ex):
    c = ex.controls
    c["incident_rate"].value = 0.9  # an outage of the catalog's first code, so the breaker has work to do
    c["incident_code"].value = c["incident_code"].options[1]
    c["breaker"].value = True
    c["strategies"].value = ("none", CUSTOM)
    stats = ex.result.guard_stats()
    assert stats.loc[CUSTOM, "shed_first"] > 0  # the breaker opened and shed requests
    r, table, lines = _expected(ex)  # an independent simulation of the controls' scenario
    assert r.guard_stats().equals(stats) and ex.result.summary().equals(r.summary())
    assert _shown_lines(ex) == lines


def test_library_presets_are_in_the_strategy_picker(ex):
    from resilsim.scenario import library_presets

    options = ex.controls["strategies"].options
    assert all(LIBRARY + n in options for n in library_presets())
    ex.controls["strategies"].value = ("none", LIBRARY + "aws-adaptive")
    p = ex.result.strategies[LIBRARY + "aws-adaptive"]
    assert p["retry"] == "aws-adaptive" and p["guards"] == "client_rate+quota"  # its own guards come with it
    assert list(ex.result.strategies) == ["none", LIBRARY + "aws-adaptive"]


def test_slider_change_updates_the_lines_in_place(ex):
    fig = ex.figures[0].figure
    line = fig.axes[0].get_lines()[0]
    ydata, layouts = list(line.get_ydata()), ex.figures[0].layouts
    ex.controls["workers"].value = 1
    # The same figure and Line2D, new data: no figure rebuilt, no layout pass for a data change (the success
    # rate's axis is fixed; the load chart's is laid out again when its y range gains or loses a digit).
    assert ex.figures[0].figure is fig and fig.axes[0].get_lines()[0] is line
    assert list(line.get_ydata()) != ydata
    assert ex.figures[0].layouts == layouts


def _drawn(ax):
    """What a chart shows besides its lines: bars, their labels, the x tick labels, the shaded bands' outlines."""
    import numpy as np

    def r(*v):  # to 12 decimals: a share divided by numpy or by pandas may differ in the last bit
        return tuple(round(float(x), 12) for x in v)

    bars = [(c.get_label(), [r(p.get_x(), p.get_y(), p.get_height()) for p in c]) for c in ax.containers]
    texts = [(t.get_text(), r(*t.xy)) for t in ax.texts]
    ticks = [t.get_text() for t in ax.xaxis.get_majorticklabels()]
    fills = [[np.round(p.vertices, 12).tolist() for p in c.get_paths()] for c in ax.collections
             if hasattr(c, "set_data")]
    return bars, texts, ticks, fills


def test_redraw_of_a_row_chart_keeps_its_axes_and_legend():
    from matplotlib.figure import Figure

    from resilsim import plots

    ex = build_explorer(_scenario(), preview=20, charts=("outcomes_by_strategy", "latency_bands"))
    # Both draw from a summary-only run: outcome counts, and latency bands from streaming histograms.
    assert ex.preview_record == "summary" and ex.result.record == "summary"
    axes = [c.figure.axes[0] for c in ex.figures]
    legends = [[t.get_text() for t in a.get_legend().get_texts()] for a in axes]
    ex.controls["workers"].value = 2  # failures appear: the outcomes chart is drawn anew (new segments)
    artists = [(a.containers[0][0] if a.containers else None, a.get_lines()) for a in axes]
    ex.controls["workers"].value = 1
    r, table, lines = _expected(ex)
    assert _shown_lines(ex) == lines
    assert [c.figure.axes[0] for c in ex.figures] == axes
    # Updated in place (the same bars and lines), and what they show is what a fresh chart of the run shows.
    assert [(a.containers[0][0] if a.containers else None, a.get_lines()) for a in axes] == artists
    for chart in ex.figures:
        fresh = getattr(plots, chart.name)(r, ax=Figure().add_subplot())
        assert _drawn(chart.figure.axes[0]) == _drawn(fresh), chart.name
        if chart.name == "outcomes_by_strategy":  # the zoomed share axis
            assert chart.figure.axes[0].get_ylim() == fresh.get_ylim()
            assert chart.figure.axes[0].get_ylabel() == fresh.get_ylabel()
    # Emptied and drawn again: the bars' legend entries are not counted twice.
    assert [[t.get_text() for t in a.get_legend().get_texts()] for a in axes][1] == legends[1]
    assert len(axes[0].get_legend().get_texts()) == len(set(t.get_text() for t in axes[0].get_legend().get_texts()))


def test_timeline_charts_preview_in_summary_mode(ex):
    assert ex.preview_record == "summary" and ex.result.record == "summary"
    ex.button.click()
    assert len(ex.result.requests) > 0  # the full run keeps the rows (tables, every chart)


def test_preview_time_axis_is_in_the_runs_own_seconds():
    d = small(duration=200)
    d["faults"] = {"incidents": [{"name": "late", "start": 120, "duration": 60, "code": "ANALYTICS_2000",
                                  "rate": 0.5}]}
    ex = build_explorer(resilsim.load_scenario(d), preview=40)
    assert ex.offset == 110
    for chart in ex.figures:
        if chart.name == "outcomes_by_strategy":  # strategies on x, no time axis
            continue
        ax = chart.figure.axes[0]
        labels = [float(t.get_text()) for t in ax.get_xticklabels() if t.get_text()]
        assert labels and 110 <= min(labels) and max(labels) <= 150, (chart.name, labels)
        assert [lab - 110 for lab in labels] == list(ax.get_xticks())  # tick at preview x shows x + 110
    ex.button.click()  # the full run's axis is the run's time as simulated
    ax = ex.figures[0].figure.axes[0]
    assert max(float(t.get_text().replace("\u2212", "-")) for t in ax.get_xticklabels() if t.get_text()) > 150


def test_full_run_one_strategy_at_a_time_is_the_joint_run(ex):
    import pandas as pd

    ex.controls["strategies"].value = ("none", "fixed", CUSTOM)
    ex.button.click()
    joint = resilsim.simulate(ex.scenario(full=True), seed=ex.seed, strategies=ex._names)
    assert ex.progress.value == ex.progress.max == 3
    assert list(ex.result.strategies) == ["none", "fixed", CUSTOM]
    pd.testing.assert_frame_equal(ex.result.summary(), joint.summary())
    pd.testing.assert_frame_equal(ex.result.timeline, joint.timeline)
    pd.testing.assert_frame_equal(ex.result.requests, joint.requests)
    pd.testing.assert_frame_equal(ex.result.attempts, joint.attempts)
    assert ex.result.guard_stats().equals(joint.guard_stats())


def test_cancel_stops_the_full_run_between_strategies(ex):
    ex.controls["strategies"].value = ("none", "fixed", CUSTOM)
    preview, runs = ex.result, ex.runs

    def cancel_after_first(change):
        if change["new"] == 1:
            ex.cancel.click()  # as a user would while the second strategy runs

    ex.progress.observe(cancel_after_first, names="value")
    assert ex.run_full() is None
    assert ex.result is preview and ex.runs == runs  # the preview stays on show
    assert "cancelled after 1 of 3 strategies" in ex.status.value
    assert ex.cancel.disabled
    ex.progress.unobserve(cancel_after_first, names="value")
    ex.button.click()  # a new full run after a cancelled one runs to the end
    assert ex.result.scenario.duration == 40 and list(ex.result.strategies) == ["none", "fixed", CUSTOM]


def test_background_full_run_keeps_the_notebook_free_and_can_be_cancelled():
    ex = build_explorer(_scenario(), preview=20, charts=("success_over_time",), background=True)
    preview = ex.result
    seen = []
    ex.progress.observe(lambda ch: seen.append(ch["new"]), names="value")
    ex.button.click()
    ex.wait(60)
    assert ex.result is not preview and ex.result.scenario.duration == 40 and "full run" in ex.status.value
    assert seen == [1, 2] and ex.cancel.disabled
    # Cancelled from the thread's own progress callback: stops after the first strategy, shows nothing new.
    ex.progress.observe(lambda ch: ch["new"] == 1 and ex.cancel.click(), names="value")
    full = ex.result
    ex.button.click()
    ex.wait(60)
    assert ex.result is full and "cancelled after 1 of 2" in ex.status.value


def test_seed_box_reruns_with_its_seed(ex):
    before = ex.result.summary()
    ex.controls["seed"].value = 7
    assert ex.result.seed == 7 and "seed 7" in ex.status.value
    assert not ex.result.summary().equals(before)
    assert ex.result.summary().equals(
        resilsim.simulate(ex.scenario(), seed=7, strategies=ex._names, record=ex.preview_record).summary())


def _reproduced(path, record="full"):
    """Load an exported file, read its seed from the comment, simulate it: the Result."""
    import re

    text = path.read_text()
    seed = int(re.search(r"--seed (\d+)", text).group(1))
    return resilsim.simulate(resilsim.load_scenario(path), seed=seed, record=record)


def test_export_yaml_reproduces_the_preview_and_the_full_run(ex, tmp_path):
    c = ex.controls
    c["seed"].value = 3
    c["workers"].value = 3
    c["incident_rate"].value = 0.5
    c["incident_code"].value = c["incident_code"].options[1]
    c["strategies"].value = ("fixed", CUSTOM)
    c["breaker"].value = True
    text = ex.export_yaml(tmp_path / "preview.yaml")
    assert text == (tmp_path / "preview.yaml").read_text() and "seed 3" in text.splitlines()[0]
    r = _reproduced(tmp_path / "preview.yaml", ex.preview_record)
    assert list(r.strategies) == ["fixed", CUSTOM]  # only the strategies on show
    assert r.summary().equals(ex.result.summary()) and r.windows == ex.result.windows
    ex.button.click()
    ex.export_path.value = str(tmp_path / "full.yaml")
    ex.export_button.click()
    assert "wrote" in ex.status.value and "seed 3" in ex.status.value
    r = _reproduced(tmp_path / "full.yaml")
    assert r.scenario.duration == 40
    assert r.summary().equals(ex.result.summary()) and r.guard_stats().equals(ex.result.guard_stats())


def test_exported_yaml_runs_from_the_command_line(ex, tmp_path):
    import pandas as pd

    from resilsim.cli import main

    ex.controls["seed"].value = 5
    ex.controls["load"].value = 70.0
    ex.button.click()
    ex.export_yaml(tmp_path / "s.yaml")
    assert main(["run", str(tmp_path / "s.yaml"), "--seed", "5", "--out", str(tmp_path / "out"), "--no-charts"]) == 0
    cli = pd.read_csv(tmp_path / "out" / "summary.csv", index_col=0)
    assert list(cli.index) == list(ex.result.summary().index)
    assert list(cli["requests"]) == list(ex.result.summary()["requests"])
    assert list(cli["success"]) == list(ex.result.summary()["success"])


def test_export_before_any_run_says_why():
    ex = build_explorer(_scenario(), preview=20, charts=("success_over_time",), run=False)
    with pytest.raises(ValueError, match="nothing to export yet"):
        ex.export_yaml()
    ex.export_button.click()
    assert "nothing to export yet" in ex.status.value


def test_a_blitted_redraw_is_the_full_draw(ex):
    """Twin test: a slider change redraws only the success lines over the kept background; the PNG is a full draw's."""
    chart, image = ex.figures[0], ex.images[0]
    assert chart.name == "success_over_time"
    blits = chart.blits
    ex.controls["workers"].value = 1
    assert chart.blits == blits + 1  # the success rate's axes are fixed: only its lines were drawn
    blitted = image.value
    chart.background = None  # forces a full draw of the same result
    assert chart.draw(ex.result, ex.offset) == blitted
    assert chart.blits == blits + 1


def _row_explorer(**kw):
    # The errors chart draws from the attempt rows: the preview keeps them (record="full").
    return build_explorer(_scenario(), preview=20, charts=("success_over_time", "errors_over_time"), **kw)


def _count_simulate(monkeypatch):
    """Spy on ``resilsim.simulate``: (the list of each call's strategies, the real function)."""
    calls = []
    real = resilsim.simulate

    def counting(*a, **kw):
        calls.append(list(kw.get("strategies") or []))
        return real(*a, **kw)

    monkeypatch.setattr(resilsim, "simulate", counting)
    return calls, real


def test_a_custom_knob_reruns_only_the_custom_strategy(monkeypatch):
    import pandas as pd

    ex = _row_explorer()
    ex.controls["strategies"].value = ("none", "fixed", CUSTOM)
    calls, real = _count_simulate(monkeypatch)
    ex.controls["attempts"].value = 6
    assert calls == [[CUSTOM]]  # none and fixed kept from the last preview
    joint = real(ex.scenario(), seed=ex.seed, strategies=ex._names)
    pd.testing.assert_frame_equal(ex.result.summary(), joint.summary())
    pd.testing.assert_frame_equal(ex.result.requests, joint.requests)
    pd.testing.assert_frame_equal(ex.result.attempts, joint.attempts)
    calls.clear()
    ex.controls["workers"].value = 3  # the service changed: every strategy again
    assert sorted(map(tuple, calls)) == sorted([("none",), ("fixed",), (CUSTOM,)])


def test_a_custom_knob_reruns_only_the_custom_strategy_in_summary_mode(monkeypatch):
    import pandas as pd

    ex = build_explorer(_scenario(), preview=20, charts=("success_over_time", "outcomes_by_strategy"))
    assert ex.preview_record == "summary"
    ex.controls["strategies"].value = ("none", "fixed", CUSTOM)
    calls, real = _count_simulate(monkeypatch)
    ex.controls["attempts"].value = 6
    assert calls == [[CUSTOM]]  # none and fixed kept from the last preview
    joint = real(ex.scenario(), seed=ex.seed, strategies=ex._names)  # full rows: the same counts
    pd.testing.assert_frame_equal(ex.result.outcome_counts().sort_values(["strategy", "outcome"], ignore_index=True),
                                  joint.outcome_counts().sort_values(["strategy", "outcome"], ignore_index=True))
    summary, exact = ex.result.summary(), joint.summary()
    pct = ["p50_s", "p95_s", "p99_s"]
    pd.testing.assert_frame_equal(summary.drop(columns=pct), exact.drop(columns=pct))
    pd.testing.assert_frame_equal(summary[pct], exact[pct], rtol=1e-3)  # the histograms' relative error
    pd.testing.assert_frame_equal(ex.result.timeline, joint.timeline[list(ex.result.timeline.columns)])
    calls.clear()
    ex.controls["workers"].value = 3  # the service changed: every strategy again, in one joint run
    assert calls == [["none", "fixed", CUSTOM]]


@pytest.mark.parametrize("charts", [("success_over_time", "errors_over_time"), ("success_over_time", "load_over_time",
                                                                           "outcomes_by_strategy", "latency_bands")])
def test_preview_in_worker_processes_is_the_in_process_preview(charts):
    import pandas as pd

    here, pooled = (build_explorer(_scenario(), preview=20, charts=charts, processes=p) for p in (0, 2))
    try:
        for ex in (here, pooled):
            ex.controls["workers"].value = 2
        if pooled._pool is None:
            pytest.skip("one core: the explorer runs its strategies in its own process")
        tables = ("requests", "attempts", "timeline") if here.preview_record == "full" else ("timeline",)
        for name in tables:
            pd.testing.assert_frame_equal(getattr(pooled.result, name), getattr(here.result, name))
        pd.testing.assert_frame_equal(pooled.result.outcome_counts(), here.result.outcome_counts())
        pd.testing.assert_frame_equal(pooled.result.summary(), here.result.summary())
        assert [img.value for img in pooled.images] == [img.value for img in here.images]
    finally:
        pooled.close()
    assert pooled._pool is None


def test_a_preview_worker_killed_is_a_clear_error_and_the_next_change_starts_new_ones():
    """A worker process of the preview killed (out of memory, a user's kill): the status says so at once instead of
    a bare BrokenProcessPool, and the next change runs again (the broken pool would fail every later preview)."""
    import os
    import signal
    import time

    ex = build_explorer(_scenario(), preview=20, processes=2)
    try:
        ex.controls["workers"].value = 2
        if ex._pool is None:
            pytest.skip("one core: the explorer runs its strategies in its own process")
        for proc in list(ex._pool._processes.values()):
            os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.5)  # the executor sees its dead workers
        assert wait_within(lambda: setattr(ex.controls["workers"], "value", 3)) is None
        assert "worker process of the preview ended without answering" in ex.status.value
        assert ex._pool is None
        ex.controls["workers"].value = 4
        assert "ended without answering" not in ex.status.value and ex._pool is not None
        assert ex.result is not None and len(ex.result.timeline)
    finally:
        ex.close()


def test_row_charts_blit_and_every_blitted_picture_is_the_full_draw():
    """Twin test for all four charts: what a redraw shows is what a full draw of the same run shows."""
    from resilsim.widgets import CHARTS

    ex = build_explorer(_scenario(), preview=20, charts=CHARTS)
    for knob, value in (("workers", 7), ("load", 52.0), ("workers", 8), ("load", 51.0), ("attempts", 5)):
        ex.controls[knob].value = value
        for chart, image in zip(ex.figures, ex.images):
            shown = image.value
            chart.background = None
            assert chart.draw(ex.result, ex.offset) == shown, (knob, chart.name)
    blits = {chart.name: chart.blits for chart in ex.figures}
    assert blits["success_over_time"] >= 4, blits
    assert blits["outcomes_by_strategy"] >= 1 and blits["latency_bands"] >= 1, blits
    assert blits["load_over_time"] >= 1, blits  # the capacity in its legend changes with the workers: drawn alone


def test_background_previews_take_a_burst_of_changes_together():
    """Debounce: in a notebook (background) changes that come while a preview runs give one preview of the latest values."""
    ex = build_explorer(_scenario(), preview=20, charts=("success_over_time", "outcomes_by_strategy"), background=True)
    runs = ex.runs
    for workers in (2, 3, 4, 5, 6):
        ex.controls["workers"].value = workers  # returns at once: the preview runs in a thread
    ex.wait(60)
    assert ex._previewer is None and runs < ex.runs < runs + 5 and ex.coalesced >= 1
    assert ex.result.scenario.service.workers == 6  # the latest value is the one on show
    r, table, lines = _expected(ex)
    assert ex.table.value == table and _shown_lines(ex) == lines
