"""The explorer panel, headless: set control values, the callbacks re-run the simulation and redraw."""
import pytest

pytest.importorskip("ipywidgets")

import resilsim  # noqa: E402
from resilsim.widgets import CUSTOM, NONE, build_explorer, explore  # noqa: E402
from tests.conftest import small  # noqa: E402


def _scenario():
    d = small(duration=40, strategies={"none": {"retry": "none"},
                                       "fixed": {"retry": {"wait": {"fixed": 0.05}, "stop": {"attempts": 3}}}})
    d["clients"]["timeout"] = 0.5
    return resilsim.load_scenario(d)


@pytest.fixture
def ex():
    return build_explorer(_scenario(), preview=20)


def test_panel_is_a_box_with_the_explorer():
    import ipywidgets as w

    panel = explore(_scenario(), preview=20)
    assert isinstance(panel, w.VBox)
    assert panel.explorer.result is not None


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
