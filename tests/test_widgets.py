"""The explorer panel, headless: set control values, the callbacks re-run the simulation and redraw."""
import pytest

pytest.importorskip("ipywidgets")

import resilsim  # noqa: E402
from resilsim.widgets import CUSTOM, LIBRARY, NONE, build_explorer, explore  # noqa: E402
from tests.conftest import small  # noqa: E402


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


def _expected(ex):
    """Table HTML and first chart PNG drawn independently from a fresh simulation of the controls' scenario."""
    import io

    from matplotlib.figure import Figure

    from resilsim import plots

    sc = ex.scenario(full=False)
    r = resilsim.simulate(sc, seed=ex.seed, strategies=ex._names)
    fig = Figure(figsize=(8, 3.4), layout="constrained", dpi=90)
    getattr(plots, ex.charts[0])(r, ax=fig.add_subplot())
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return r, r.summary().to_html(float_format=lambda v: f"{v:.3g}"), buf.getvalue()


@pytest.mark.parametrize("knob, value", [("load", 80.0), ("workers", 2), ("incident_rate", 0.9)])
def test_redraw_shows_the_run_with_the_new_value(ex, knob, value):
    if knob == "incident_rate":  # an incident with a code first, at a low rate
        ex.controls["incident_rate"].value = 0.1
        ex.controls["incident_code"].value = ex.controls["incident_code"].options[1]
    before = ex.table.value, ex.images[0].value
    ex.controls[knob].value = value
    r, table, png = _expected(ex)
    # What the panel shows is exactly the run with the new value, not the previous one.
    assert ex.table.value == table and ex.images[0].value == png
    assert (ex.table.value, ex.images[0].value) != before
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
    r, table, png = _expected(ex)  # an independent simulation of the controls' scenario
    assert r.guard_stats().equals(stats) and ex.result.summary().equals(r.summary())
    assert ex.images[0].value == png


def test_library_presets_are_in_the_strategy_picker(ex):
    from resilsim.scenario import library_presets

    options = ex.controls["strategies"].options
    assert all(LIBRARY + n in options for n in library_presets())
    ex.controls["strategies"].value = ("none", LIBRARY + "aws-adaptive")
    p = ex.result.strategies[LIBRARY + "aws-adaptive"]
    assert p["retry"] == "aws-adaptive" and p["guards"] == "client_rate+quota"  # its own guards come with it
    assert list(ex.result.strategies) == ["none", LIBRARY + "aws-adaptive"]
