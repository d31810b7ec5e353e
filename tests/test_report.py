"""The HTML report: one self-contained file (no external src/href), with the tables, charts and plan answer."""
import re
import shutil
import subprocess

import pandas as pd
import pytest

from resilsim.cli import main
from resilsim.report import render, write_report
from tests.conftest import small

import yaml


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    sc = small(duration=30, strategies={"none": {"retry": "none"},
                                        "fixed": {"retry": {"wait": {"fixed": 0.05}, "stop": {"attempts": 3}}}})
    sc["faults"] = {"incidents": [{"name": "outage", "start": 10, "duration": 5, "code": "ANALYTICS_2000",
                                   "rate": 0.8}]}
    (d / "s.yaml").write_text(yaml.safe_dump(sc))
    assert main(["run", str(d / "s.yaml"), "--seed", "7", "--out", str(d / "out"), "--no-charts"]) == 0
    return d / "out"


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    import resilsim
    d = tmp_path_factory.mktemp("sweep") / "sw"
    resilsim.sweep(small(duration=20), {"service.workers": [2, 4]}, replications=2, seed=3,
                   executor="inprocess", store=d, progress=False)
    return d


def _self_contained(text):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "<script" not in text.lower()
    assert "<link" not in text.lower()


def test_run_saves_what_the_report_needs(run_dir):
    assert (run_dir / "scenario.yaml").exists()
    assert '"seed": 7' in (run_dir / "run.json").read_text()


def test_run_report_is_self_contained_with_tables_and_charts(run_dir, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", str(run_dir), "-o", str(out)]) == 0
    text = out.read_text()
    _self_contained(text)
    assert text.count("data:image/png;base64,") >= 5
    assert "seed <b>7</b>" in text
    summary = pd.read_csv(run_dir / "summary.csv")
    for name in summary["strategy"]:
        assert f"<th>{name}</th>" in text  # a row of the summary table per strategy
    assert "success_rate" in text and "outage" in text
    assert "chart not drawn" not in text


def test_sweep_report_has_ci_table_and_sweep_charts(sweep_dir):
    text = render(sweep_dir)
    _self_contained(text)
    assert "95% confidence" in text
    assert re.search(r"\d\.\d+ \[\d", text)  # mean [low, high]
    assert "service.workers" in text
    assert text.count("data:image/png;base64,") >= 4
    assert "chart not drawn" not in text


def test_plan_answer_in_report(sweep_dir, tmp_path):
    from resilsim.plan import Plan
    ev = pd.DataFrame({"service.workers": [2, 4], "strategy": ["none", "none"], "n": [2, 2],
                       "meets": [False, True], "success_rate": [0.9, 0.999],
                       "success_rate_ci_low": [0.85, 0.998], "success_rate_ci_high": [0.95, 1.0]})
    p = Plan("service.workers", (1, 8), "min", {"success_rate": ">=0.99"}, {"none": 4}, ev)
    text = write_report(sweep_dir, tmp_path / "p.html", plan=p).read_text()
    assert "Planning answer" in text and "service.workers = 4" in text


def test_not_a_result_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "x.html")]) == 2
    assert "neither a run directory" in capsys.readouterr().err


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="chromium not installed")
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    out = write_report(run_dir, tmp_path / "r.html")
    png = tmp_path / "shot.png"
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}",
                    "--window-size=1200,1600", out.as_uri()], check=True, capture_output=True, timeout=120)
    assert png.stat().st_size > 10_000


def test_ci_table_is_compact_mean_and_interval():
    from resilsim.report import ci_table

    agg = pd.DataFrame({"point": [0, 1], "service.workers": [2, 4], "strategy": ["a", "a"], "n": [3, 1],
                        "success_rate": [0.9, 0.99], "success_rate_ci_low": [0.85, float("nan")],
                        "success_rate_ci_high": [0.95, float("nan")], "p99_s": [1.5, 0.5],
                        "p99_s_ci_low": [1.25, float("nan")], "p99_s_ci_high": [1.75, float("nan")]})
    t = ci_table(agg)
    assert list(t.columns) == ["service.workers", "strategy", "n", "success_rate", "p99_s"]
    assert t.loc[0, "success_rate"] == "0.9 [0.85, 0.95]"
    assert t.loc[1, "success_rate"] == "0.99"  # one replication: no interval to show
    assert "<table" in t.to_html()


def test_plan_out_dir_makes_a_plan_report(tmp_path, capsys):
    sc = small(duration=15, strategies={"none": {"retry": "none"}})
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(sc))
    out = tmp_path / "plan"
    assert main(["plan", str(tmp_path / "s.yaml"), "--vary", "service.workers", "--over", "1,4",
                 "--slo", "success_rate>=0.5", "--replications", "2", "--workers", "1", "--out", str(out)]) == 0
    assert (out / "plan.json").exists() and (out / "scenario.yaml").exists()
    assert main(["report", str(out), "-o", str(tmp_path / "p.html")]) == 0
    text = (tmp_path / "p.html").read_text()
    _self_contained(text)
    assert "Planning answer" in text and "service.workers = " in text and "Scenario" in text
    assert "data:image/png;base64," in text and "chart not drawn" not in text


def test_broken_plan_json_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "plan.json").write_text('{"vary": 1}')
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "x.html")]) == 2
    assert "not a plan written by" in capsys.readouterr().err
