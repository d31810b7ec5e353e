"""``Result.summary()`` computed once per window and reused (``resilsim run`` asks for it three times)."""
from __future__ import annotations

import copy

import pandas as pd
import pytest

from resilsim import simulate
from resilsim.result import Result, SummaryResult
from resilsim.scenario import load_scenario
from tests.conftest import small


def scenario():
    return load_scenario(small(duration=40, warmup=5, faults={"incidents": [
        {"start": 15, "duration": 10, "code": "ANALYTICS_2001", "rate": 0.5}]},
        strategies={"none": {"retry": "none"}, "docs": {"retry": "analytics-docs"}}))


@pytest.fixture
def computed(monkeypatch):
    # How many times each result class computed its summary rows.
    calls = []
    for cls in (Result, SummaryResult):
        rows = cls.__dict__["_summary_rows"]

        def counted(self, w, _rows=rows):
            calls.append(w.label)
            return _rows(self, w)

        monkeypatch.setattr(cls, "_summary_rows", counted)
    return calls


@pytest.mark.parametrize("record", ["full", "summary"])
def test_summary_is_computed_once_per_window_and_each_call_gets_a_copy(computed, record):
    r = simulate(scenario(), 1, record=record)
    first = r.summary()
    first.loc["none", "requests"] = -1  # the caller's copy: the next call does not see it
    again = r.summary()
    assert len(computed) == 1
    assert again.loc["none", "requests"] > 0 and again.attrs["window"] == first.attrs["window"]
    r.summary("incident:all")
    r.summary("incident:all")
    assert len(computed) == 2  # another window: computed once too
    # The same numbers as a result that never cached anything.
    pd.testing.assert_frame_equal(again, simulate(scenario(), 1, record=record).summary())


def test_a_table_assigned_by_hand_or_another_scenario_recomputes(computed):
    r = simulate(scenario(), 1)
    before = r.summary()
    later = copy.copy(r)  # as sweeps measure from a later warm-up: a shallow copy with another scenario
    later.scenario = r.scenario.model_copy(update={"warmup": 20.0})
    assert later.summary().loc["none", "requests"] < before.loc["none", "requests"]
    pd.testing.assert_frame_equal(r.summary(), before)  # the original's cache is untouched
    assert len(computed) == 2
    req = r.requests
    r.requests = req[req["strategy"] != "docs"].copy()  # by hand: the tables are the source now
    assert r.summary().loc["docs", "requests"] == 0
    tl = r.timeline
    r.timeline = tl.assign(attempts_rps=tl["attempts_rps"] * 3)
    assert (r.summary()["peak_amplification"] > before["peak_amplification"] * 2).all()
    assert len(computed) == 4


def test_resilsim_run_computes_the_summary_once(computed, tmp_path, capsys):
    # The printed table, summary.csv and the outcomes chart: one computation.
    import yaml

    from resilsim.cli import main

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(small(duration=20, warmup=2, strategies={
        "none": {"retry": "none"}, "docs": {"retry": "analytics-docs"}})))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--chart-workers", "0"]) == 0
    assert "outcomes_by_strategy.png" in {p.name for p in (tmp_path / "out").iterdir()}
    assert len(computed) == 1, computed
    written = pd.read_csv(tmp_path / "out" / "summary.csv", index_col=0)
    assert written["requests"].tolist() == simulate(load_scenario(path), 0).summary()["requests"].tolist()
