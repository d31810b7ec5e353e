"""record="stream": summary counts, and every row written to Parquet as the run goes, the same rows as a full run."""
from pathlib import Path

import pandas as pd
import pytest

from resilsim import load_scenario, simulate
from resilsim.sim import recorder as recorder_module

from .conftest import bench

ROOT = Path(__file__).resolve().parents[1]


def _as_full(df: pd.DataFrame, keys: list) -> pd.DataFrame:
    # Categories differ by design (the stream lists every catalog code); compare the values as strings.
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype(str)
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("chunk", [97, None])
def test_streamed_rows_are_the_full_runs_rows(tmp_path, monkeypatch, chunk):
    if chunk is not None:  # many row groups, blocks of arrivals forgotten mid-run
        monkeypatch.setattr(recorder_module, "STREAM_CHUNK", chunk)
    scenario = load_scenario(bench("all_features.yaml", 200.0, drain=30.0))
    full = simulate(scenario, seed=5)
    streamed = simulate(scenario, seed=5, record="stream", rows_to=tmp_path)
    att = pd.read_parquet(tmp_path / "attempts.parquet")
    req = pd.read_parquet(tmp_path / "requests.parquet")
    # Attempts come in the full recorder's order; requests as they finished, the unfinished last.
    pd.testing.assert_frame_equal(_as_full(att, []), _as_full(full.attempts, []))
    pd.testing.assert_frame_equal(_as_full(req, ["strategy", "request"]), _as_full(full.requests, ["strategy", "request"]))
    for c in ("request", "attempt", "start", "end", "status"):
        assert att[c].dtype == full.attempts[c].dtype
    counts = ["requests", "success_rate", "mean_attempts", "amplification"]
    pd.testing.assert_frame_equal(streamed.summary()[counts], full.summary()[counts])


def test_unfinished_requests_are_written_as_incomplete(tmp_path):
    # A run cut by its drain: requests still retrying at the end have a row, outcome incomplete, no end.
    scenario = load_scenario(bench("reference.yaml", 30.0, drain=0.0))
    full = simulate(scenario, seed=1)
    simulate(scenario, seed=1, record="stream", rows_to=tmp_path)
    req = pd.read_parquet(tmp_path / "requests.parquet")
    assert len(req) == len(full.requests) and req["request"].is_unique
    left = req[req["outcome"] == "incomplete"]
    assert len(left) == (full.requests["outcome"] == "incomplete").sum() > 0
    assert left["end"].isna().all()


def test_stream_needs_a_folder():
    with pytest.raises(ValueError, match="rows_to"):
        simulate(load_scenario(bench("reference.yaml", 5.0)), seed=0, record="stream")


def test_a_run_stopped_at_a_limit_streams_the_partial_rows(tmp_path):
    data = bench("reference.yaml", 400.0)
    data["limits"] = {"max_attempts": 9000}  # stops mid-run, with arrivals drawn ahead that never happen
    scenario = load_scenario(data)
    full = simulate(scenario, seed=2)
    assert full.truncated
    simulate(scenario, seed=2, record="stream", rows_to=tmp_path)
    req = pd.read_parquet(tmp_path / "requests.parquet")
    pd.testing.assert_frame_equal(_as_full(req, ["strategy", "request"]), _as_full(full.requests, ["strategy", "request"]))
    assert len(pd.read_parquet(tmp_path / "attempts.parquet")) == len(full.attempts)


def test_cli_stream_writes_the_rows_into_the_run_folder_and_the_report_reads_them(tmp_path, capsys):
    import yaml

    from resilsim.cli import main

    sc = tmp_path / "s.yaml"
    sc.write_text(yaml.safe_dump(bench("reference.yaml", 30.0)))
    out = tmp_path / "out"
    assert main(["run", str(sc), "--stream", "--no-charts", "--out", str(out)]) == 0
    assert "full-jitter" in capsys.readouterr().out
    names = sorted(p.name for p in out.iterdir())
    assert names == ["attempts.parquet", "requests.parquet", "run.json", "scenario.yaml", "summary.csv",
                     "timeline.parquet"]
    full = simulate(load_scenario(sc), seed=0)
    assert len(pd.read_parquet(out / "attempts.parquet")) == len(full.attempts)
    assert main(["report", str(out), "-o", str(tmp_path / "r.html")]) == 0
    assert main(["run", str(sc), "--stream", "--format", "csv", "--out", str(out)]) == 2
    assert capsys.readouterr().err == "resilsim: --stream writes the rows as Parquet; leave out --format csv\n"
