"""Summary-only recording (record="summary"): the same counts and timeline as a full run on the same seed,
percentiles within the histogram's bound, no row tables, and memory that does not grow with requests."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import resilsim.sim.recorder as recorder_module
from resilsim import load_scenario, simulate
from resilsim.result import NotRecordedError, SummaryResult
from resilsim.records import CODE_OK, OUT_SUCCESS, SRC_LIMITER, SRC_SERVICE
from resilsim.sim.recorder import SummaryRecorder

from .conftest import bench

ROOT = Path(__file__).resolve().parent.parent
PCT = ["p50_s", "p95_s", "p99_s"]


def _bench(name: str, duration: float = 60.0):
    return load_scenario(bench(name, duration))


CASES = {
    # warm-up 30 s, four strategies; a 2-second drain leaves requests incomplete
    "counters": lambda: load_scenario(ROOT / "scenarios" / "counters-rate-limited.yaml",
                                      overrides={"duration": 60, "drain": 2}),
    # an arrival-rate change: recovery_s comes from the timeline
    "metastable": lambda: load_scenario(ROOT / "scenarios" / "metastable-retry-storm.yaml"),
    # tenants, quota, queue timeout, incidents, client timeout and deadline
    "all-features": lambda: _bench("all_features.yaml"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_counts_and_timeline_percentiles_within_bound(case, monkeypatch):
    # A small buffer folds many times per run, so the folding itself is what is tested.
    monkeypatch.setattr(recorder_module, "SUMMARY_CHUNK", 97)
    scenario = CASES[case]()
    full, summ = simulate(scenario, 11), simulate(scenario, 11, record="summary")
    assert isinstance(summ, SummaryResult)
    a, b = full.summary(), summ.summary()
    assert list(a.columns) == list(b.columns) and list(a.index) == list(b.index)
    pd.testing.assert_frame_equal(a.drop(columns=PCT), b.drop(columns=PCT))  # counts, rates, amplification
    bound = summ.latency_histogram(a.index[0]).relative_error
    for col in PCT:
        exact, approx = a[col].to_numpy(), b[col].to_numpy()
        assert np.array_equal(np.isnan(exact), np.isnan(approx))
        ok = ~np.isnan(exact)
        assert (np.abs(approx[ok] - exact[ok]) <= bound * exact[ok] + 1e-12).all(), (col, exact, approx)
    pd.testing.assert_frame_equal(full.timeline, summ.timeline)
    assert summ.stats.keys() == full.stats.keys()
    n_req, n_att = summ._row_counts()
    assert (n_req, n_att) == (len(full.requests), len(full.attempts))


def test_rows_are_refused_with_a_clear_error(tmp_path):
    r = simulate(CASES["counters"](), 1, record="summary")
    for what in ("requests", "attempts"):
        with pytest.raises(NotRecordedError, match=r"record='summary'.*record='full'"):
            getattr(r, what)
        assert not hasattr(r, what)
    with pytest.raises(NotRecordedError):
        r.measured()
    assert sorted(p.name for p in r.to_csv(tmp_path)) == ["summary.csv", "timeline.csv"]
    assert "SummaryResult" in repr(r)
    assert f"{len(simulate(CASES['counters'](), 1).requests)} requests" in r._repr_html_()
    with pytest.raises(ValueError, match="record must be"):
        simulate(CASES["counters"](), 1, record="rows")


def test_summary_recorder_counts_by_hand():
    rec = SummaryRecorder(bin=1.0, duration=10.0, warmup=2.0)
    rec.add_arrivals(0, np.array([0.5, 1.5, 2.5, 3.5, 9.9]), np.zeros(5, dtype=int))
    assert rec.first_measured == 2 and rec.requests_measured == 3
    for rid, start in enumerate([0.5, 1.5, 2.5, 3.5]):
        rec.attempt(rid, 1, start, start + 0.1, 7, SRC_LIMITER)           # refused first attempts
        rec.attempt(rid, 2, start + 1, start + 1.25, CODE_OK, SRC_SERVICE)
        rec.request(rid, start + 1.25, 2, CODE_OK, OUT_SUCCESS, start)
    rec.attempt(4, 1, 12.0, 12.5, CODE_OK, SRC_SERVICE)                    # after duration: last bin
    rec.flush()
    assert rec.outcomes[OUT_SUCCESS] == 2 and rec.outcomes.sum() == 2     # ids 2 and 3 are measured
    assert rec.attempts_measured == 5 and rec.attempts_of_finished == 4 and rec.attempts_total == 9
    assert rec.bins["offered"].tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    assert rec.bins["succeeded"].tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert rec.bins["limited"].sum() == 4 and rec.bins["sent_ok"][9] == 1
    assert rec.latency.count == 2 and abs(rec.latency.quantile(0.5)[0] - 1.25) <= 1.25e-3
    rec.drop_arrivals_from(4)  # a run stopped before request 4 arrived
    assert rec.requests_measured == 2 and rec.bins["offered"][9] == 0


def test_truncated_run_counts_match_full():
    # A run stopped at limits.max_attempts: the arrivals drawn ahead are not counted in either mode.
    s = load_scenario(ROOT / "scenarios" / "counters-rate-limited.yaml",
                      overrides={"duration": 60, "limits.max_attempts": 5_000})
    full, summ = simulate(s, 2, strategies=["docs"]), simulate(s, 2, strategies=["docs"], record="summary")
    assert full.truncated and summ.truncated
    pd.testing.assert_frame_equal(full.summary().drop(columns=PCT), summ.summary().drop(columns=PCT))
    pd.testing.assert_frame_equal(full.timeline, summ.timeline)


def test_memory_with_tenants_does_not_grow_with_requests():
    # Requests carry their tenant and client themselves: nothing is kept per request once it is done.
    # 4× the requests (300 s → 1,200 s of the all-features workload: tenants, quota, guards) may add
    # only the longer timeline's bins (about 0.2 MiB here); per-request lists grew it by 2.6 MiB.
    import tracemalloc

    peaks = []
    for duration in (300.0, 1200.0):
        s = _bench("all_features.yaml", duration)
        simulate(s, 1, record="summary")  # imports and caches first
        tracemalloc.start()
        try:
            simulate(s, 1, record="summary")
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] - peaks[0] < 1 * 2**20, peaks


def test_cli_summary_only_writes_summary_and_timeline(tmp_path, capsys):
    from resilsim.cli import main

    out = tmp_path / "out"
    assert main(["run", str(ROOT / "benchmarks" / "reference.yaml"), "--set", "duration=30", "--summary-only",
                 "--out", str(out)]) == 0
    assert "full-jitter" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {"summary.csv", "timeline.parquet", "success_over_time.png", "load_over_time.png"} <= names
    assert not names & {"requests.parquet", "attempts.parquet", "latency_cdf.png"}
    full = simulate(load_scenario(ROOT / "benchmarks" / "reference.yaml", overrides={"duration": 30}), 0)
    written = pd.read_csv(out / "summary.csv", index_col=0)
    assert written["requests"].tolist() == full.summary()["requests"].tolist()


def test_sweep_rows_have_the_full_runs_counts():
    # Sweeps record summaries only (unless rows are asked for): the same counts as a full run of that seed.
    from resilsim.sweep import run_task
    from tests.conftest import small

    base = small(warmup=10, strategies={"none": {"retry": "none"}, "docs": {"retry": "analytics-docs"}})
    task = {"run_id": "r", "point": 0, "replication": 0, "entropy": 42, "spawn_key": (0, 1), "overrides": {}}
    rows = run_task(base, task)["rows"]
    run = simulate(load_scenario(base), np.random.SeedSequence(42, spawn_key=(0, 1)))
    full = run.summary()
    for row in rows:
        exact = full.loc[row["strategy"]]
        for col in ("requests", "success", "retries_exhausted", "incomplete", "success_rate", "amplification"):
            assert row[col] == exact[col], col
        assert abs(row["p99_s"] - exact["p99_s"]) <= 1e-3 * exact["p99_s"]
    # Rows kept: a full run, whose attempts table comes back row for row.
    pd.testing.assert_frame_equal(run_task(base, task, keep_attempts=True)["attempts"], run.attempts)


@pytest.mark.parametrize("case", ["metastable", "all-features"])
def test_summary_reads_its_columns_from_the_counts_as_the_timeline_has_them(case):
    # Twin test of SummaryResult._timelines (four columns built from the counts, not the whole timeline):
    # the summary is the same whether or not the timeline was built first.
    s = CASES[case]()
    lean = simulate(s, seed=4, record="summary")
    built = simulate(s, seed=4, record="summary")
    _ = built.timeline
    a, b = lean.summary(), built.summary()
    assert {"peak_amplification"} <= set(a.columns)
    pd.testing.assert_frame_equal(a, b)
    assert lean._timeline is None  # and the summary did not build it


def test_summary_memory_does_not_build_the_whole_timeline():
    # 20× the bins (bin 0.05 s instead of 1 s over 600 s of the all-features workload: 11,400 more bins). The
    # summary's own peak grows by its four columns and their window sums (measured 0.90 MiB, 80 bytes per
    # bin); building the whole timeline of every strategy, as it did, grew it by 1.76 MiB (155 bytes per bin).
    import tracemalloc

    peaks = []
    for b in (1.0, 0.05):
        r = simulate(_bench("all_features.yaml", 600.0).model_copy(update={"bin": b}), 1, record="summary")
        tracemalloc.start()
        try:
            r.summary()
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] - peaks[0] < 1.2 * 2**20, peaks


@pytest.mark.parametrize("case", sorted(CASES))
def test_outcome_counts_and_latency_bands_from_the_counts(case):
    """The explorer's row charts from a summary-only run: outcome counts exact, latency bands within 1 %."""
    from resilsim.histogram import BAND_RELATIVE_ERROR
    from resilsim.plots import latency_band_values

    scenario = CASES[case]()
    full, summ = simulate(scenario, 5), simulate(scenario, 5, record="summary")

    def key(df):
        return df.sort_values(["strategy", "outcome"], ignore_index=True)

    pd.testing.assert_frame_equal(key(summ.outcome_counts()), key(full.outcome_counts()))
    w_full, mids_full, exact = latency_band_values(full)
    w, mids, approx = latency_band_values(summ)
    assert w == w_full and np.array_equal(mids, mids_full) and approx.keys() == exact.keys() and exact
    for name, q in exact.items():
        assert np.array_equal(np.isnan(q), np.isnan(approx[name]))
        ok = ~np.isnan(q)
        assert (np.abs(approx[name][ok] - q[ok]) <= BAND_RELATIVE_ERROR * q[ok] + 1e-12).all(), name
