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
    from resilsim.sweep.plan import Plan
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


# ---------------------------------------------------------------- a run folder is one run, or refused

def _run(tmp_path, out, *extra):
    sc = tmp_path / "s.yaml"
    if not sc.exists():
        sc.write_text(yaml.safe_dump(small(duration=10, strategies={"none": {"retry": "none"}})))
    return main(["run", str(sc), "--out", str(out), *extra])


def _digests(folder):
    import hashlib
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_run_into_a_used_folder_replaces_the_previous_runs_files_and_keeps_others(tmp_path):
    out = tmp_path / "out"
    assert _run(tmp_path, out, "--seed", "1") == 0
    assert {"requests.parquet", "success_over_time.png", "latency_cdf.png"} <= {p.name for p in out.iterdir()}
    (out / "notes.txt").write_text("mine")  # not the run's: it stays
    assert _run(tmp_path, out, "--seed", "2", "--no-charts", "--summary-only") == 0
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "run.json", "scenario.yaml", "summary.csv",
                                                      "timeline.parquet"]
    assert main(["report", str(out), "-o", str(tmp_path / "r.html")]) == 0
    assert "seed <b>2</b>" in (tmp_path / "r.html").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary folder left"


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_write_that_fails_midway_leaves_the_previous_run_whole(tmp_path, monkeypatch, capsys, fmt):
    import errno
    from pathlib import Path

    import pyarrow.parquet as pq
    out = tmp_path / "out"
    assert _run(tmp_path, out, "--seed", "1", "--no-charts", "--format", fmt) == 0
    before = _digests(out)
    owner, attr = (pq, "write_table") if fmt == "parquet" else (pd.DataFrame, "to_csv")
    real, calls = getattr(owner, attr), {"n": 0}

    def filling(first, path=None, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # the second table is cut short: the disk is full
            Path(path).write_text("cut")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(first, path, *a, **kw)

    monkeypatch.setattr(owner, attr, filling)
    capsys.readouterr()
    assert _run(tmp_path, out, "--seed", "2", "--no-charts", "--format", fmt) == 2
    err = capsys.readouterr().err
    assert err == (f"resilsim: {out}: cannot write the run's files (the disk is full); what the folder held "
                   "before is unchanged\n")
    assert calls["n"] == 2
    monkeypatch.setattr(owner, attr, real)
    assert _digests(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary folder left"
    assert main(["report", str(out), "-o", str(tmp_path / "r.html")]) == 0
    assert "seed <b>1</b>" in (tmp_path / "r.html").read_text()


def test_report_refuses_a_run_folder_that_is_incomplete_or_mixes_two_runs(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run(tmp_path, a, "--seed", "1", "--no-charts") == 0
    assert _run(tmp_path, b, "--seed", "2", "--no-charts") == 0
    html_out = str(tmp_path / "r.html")
    again = f"run `resilsim run --out {a}` again"
    cases = [
        (lambda: shutil.copy(b / "summary.csv", a / "summary.csv"),
         f"{a / 'summary.csv'}: changed since the run recorded in run.json wrote it (its size or checksum "
         f"differs), so the folder mixes files of two runs; {again}"),
        (lambda: (a / "requests.parquet").write_bytes((a / "requests.parquet").read_bytes()[:200]),
         f"{a / 'requests.parquet'}: changed since the run recorded in run.json wrote it (its size or checksum "
         f"differs), so the folder mixes files of two runs; {again}"),
        (lambda: (a / "timeline.parquet").unlink(),
         f"{a / 'timeline.parquet'}: missing; the folder does not hold the whole run run.json records; {again}"),
        (lambda: (a / "run.json").unlink(),
         f"{a}: incomplete run folder (no run.json: the run writing it did not finish); {again}"),
        (lambda: (a / "run.json").write_text('{"seed": 1, "files": '),
         f"{a / 'run.json'}: lists no files with their checksums (cut, edited, or written by an older resilsim), "
         f"so the folder cannot be checked to hold one run; {again}"),
    ]
    for spoil, line in cases:
        assert _run(tmp_path, a, "--seed", "1", "--no-charts") == 0
        assert main(["report", str(a), "-o", html_out]) == 0
        spoil()
        capsys.readouterr()
        assert main(["report", str(a), "-o", html_out]) == 2
        assert capsys.readouterr().err == f"resilsim: {line}\n"
    # A table of another run that run.json does not list (a summary-only run wrote no requests table).
    assert _run(tmp_path, a, "--seed", "1", "--no-charts", "--summary-only") == 0
    shutil.copy(b / "requests.parquet", a / "requests.parquet")
    assert main(["report", str(a), "-o", html_out]) == 2
    assert capsys.readouterr().err == (
        f"resilsim: {a / 'requests.parquet'}: not part of the run recorded in run.json (left from another run), so "
        f"the folder mixes files of two runs; {again}\n")


def test_run_out_onto_a_file_is_one_sentence(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert _run(tmp_path, f, "--no-charts") == 2
    assert capsys.readouterr().err == f"resilsim: {f}: is not a directory; give --out a folder for the run's files\n"
    assert f.read_text() == "x"


# ---------------------------------------------------------------- the first screen a review reads

def _first_screen(text: str) -> str:
    """The report up to its first chart or detail table: what a reviewer reads first."""
    cut = min(i for i in (text.find("<h2>Charts"), text.find("<h2>Evidence"), text.find("<h2>Every metric"),
                          text.find("<h2>Outcomes"), len(text)) if i >= 0)
    return text[:cut]


def test_run_report_first_screen(run_dir):
    first = _first_screen(render(run_dir))
    for part in ("Question.", "Recommendation.", "Assumptions that drive it", "Limits of the model", "Reproduce",
                 f"resilsim run {run_dir / 'scenario.yaml'} --seed 7 --out {run_dir}", "resilsim 0.", "report made"):
        assert part in first, part
    # Strategies as a table with their source, not a YAML dump.
    assert "<th>waits (s)</th>" in first and "the scenario&#x27;s own" in first and "stop:" not in first
    assert "ANALYTICS_2000 INTERNAL_SERVER_ERROR" in first and "the API&#x27;s documentation" in first


def test_plan_report_first_screen_answers_with_interval_recommendation_and_command(tmp_path):
    sc = small(duration=20, warmup=2, strategies={"none": {"retry": "none"}})
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(sc))
    out = tmp_path / "plan"
    assert main(["plan", str(tmp_path / "s.yaml"), "--vary", "service.workers", "--over", "1,8", "--slo",
                 "success_rate>=0.5", "--replications", "2", "--workers", "1", "--no-progress",
                 "--out", str(out)]) == 0
    first = _first_screen(render(out))
    assert "Question.</b> What is the least <b>service.workers</b> in [1, 8]" in first
    assert "measured over <b>run after warm-up (2–20 s)</b>" in first
    assert re.search(r"Use none and provision service.workers = \d+", first)
    assert re.search(r"success_rate [\d.]+ \[[\d.]+, [\d.]+\] against &gt;=0.5 \(margin [\d.]+ at the bound\)", first)
    assert f"resilsim plan {out / 'scenario.yaml'} --vary service.workers --over 1,8 --slo " in first
    assert "few: rough interval" in first  # 2 replications


def test_unrecovered_runs_say_never():
    from resilsim.report import _interval, _never, ci_table
    assert _never(pd.DataFrame({"recovery_s": [float("nan"), 3.0]}))["recovery_s"].tolist() == ["never", "3"]
    assert _interval({"recovery_s": float("nan")}, "recovery_s") == "never"
    agg = pd.DataFrame({"strategy": ["a"], "n": [3], "recovery_s": [4.0], "recovery_s_ci_low": [1.0],
                        "recovery_s_ci_high": [float("inf")]})
    assert ci_table(agg, metrics=("recovery_s",)).loc[0, "recovery_s"] == "4 [1, never]"


def test_a_run_with_services_writes_its_layers_and_the_report_draws_load_by_layer(run_dir, tmp_path):
    # The run folder of a scenario with services holds services.csv, edges.csv and service_timeline.csv; the
    # report reads them back (the same numbers as the run's) and draws the load-by-layer chart. Without services:
    # none of them, and no such chart (run_dir's scenario has none).
    from resilsim import load_scenario, simulate
    from tests.sim.test_calls import db, scenario
    three = {"retry": {"stop": {"attempts": 3}}}
    sc = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900", **three}],
                  services={"db": db(error_rate=0.3)}, rate=20, duration=10)
    sc["strategies"] = {"none": {"retry": "none"}, "three": three}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(sc))
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "s.yaml"), "--seed", "3", "--out", str(out), "--no-charts"]) == 0
    want = simulate(load_scenario(tmp_path / "s.yaml"), seed=3)
    got = pd.read_csv(out / "services.csv")
    assert list(got["service"]) == ["api", "db", "api", "db"]
    pd.testing.assert_frame_equal(got, want.services().reset_index(drop=True), check_dtype=False)
    assert len(pd.read_csv(out / "edges.csv")) == 2 and len(pd.read_csv(out / "service_timeline.csv")) > 0
    assert main(["report", str(out), "-o", str(tmp_path / "r.html")]) == 0
    text = (tmp_path / "r.html").read_text()
    assert "Load by layer" in text and "Services behind the API" in text and "chart not drawn" not in text
    assert not any((run_dir / f).exists() for f in ("services.csv", "edges.csv", "service_timeline.csv"))
    assert main(["report", str(run_dir), "-o", str(tmp_path / "plain.html")]) == 0
    assert "Load by layer" not in (tmp_path / "plain.html").read_text()
