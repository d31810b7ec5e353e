"""The sweep and plan commands: --set, --strategy, --window, --precision, and one sentence for bad input."""
import json

import pytest

from resilsim.cli import main

OUTAGE = "scenarios/strategies-through-an-outage.yaml"
SHORT = ["--set", "duration=150", "--set", "warmup=20", "--set", "drain=20"]


def test_plan_takes_set_strategy_window_and_precision(tmp_path, capsys):
    code = main(["plan", OUTAGE, "--vary", "service.workers", "--over", "6,10", "--slo", "success_rate>=0.5",
                 "--replications", "2", "--precision", "success_rate=0.5", "--max-replications", "4",
                 "--strategy", "exp-full-jitter", "--strategy", "none", "--window", "incident:1", *SHORT,
                 "--workers", "1", "--no-progress", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "over incident 1 (120–150 s)" in out  # the incident runs past the shortened run: cut at its end
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert set(saved["answers"]) == {"exp-full-jitter", "none"} and saved["window"] == "incident 1 (120–150 s)"
    assert "why not: at service.workers = " in out  # nothing survives a total outage without retries


def test_sweep_takes_set_strategy_and_window(tmp_path, capsys):
    code = main(["sweep", OUTAGE, "--grid", "service.workers=8", "--strategy", "none", *SHORT, "--window",
                 "100,140", "--inprocess", "--no-progress", "--out", str(tmp_path / "sw")])
    out = capsys.readouterr().out
    assert code == 0 and "measured over: 100–140 s" in out
    manifest = json.loads((tmp_path / "sw" / "manifest.json").read_text())
    assert list(manifest["scenario"]["strategies"]) == ["none"] and manifest["scenario"]["duration"] == 150


@pytest.mark.parametrize("extra, message", [
    (["--strategy", "nope"], "resilsim: " + OUTAGE + ": --strategy: unknown strategy 'nope'; the scenario has none, "
                             "immediate, analytics-docs, exp-full-jitter, budgeted, breaker, adaptive-throttle\n"),
    (["--window", "incident:aurora"], "resilsim: window: 'incident:aurora' names no incident of scenario "
                                      "'strategies-through-an-outage'; its incidents: incident:1, all\n"),
    (["--window", "300,400"], "resilsim: window: 300–400 s lies outside the run (0–360 s)\n"),
    (["--precision", "succes_rate=0.01"], None),
    (["--precision", "success_rate=tight"], "resilsim: --precision: --precision 'success_rate=tight' must look like "
                                            "METRIC=HALFWIDTH, e.g. success_rate=0.005\n"),
])
def test_plan_bad_input_is_one_sentence_exit_2(extra, message, capsys):
    code = main(["plan", OUTAGE, "--vary", "service.workers", "--over", "4,8", "--slo", "success_rate>=0.9",
                 "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    if message:
        assert err == message
    else:
        assert "precision for an unknown metric 'succes_rate'" in err
