"""The timeline built from its columns at once (no column-by-column copy): the same table as before.

Twin test against the construction it replaces (kept here verbatim), full and summary-only, several
strategies with and without guards, compared exactly (values, dtypes, categories) and as Parquet bytes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from resilsim import simulate
from resilsim.records import CODE_OK, OUT_SUCCESS, SOURCES
from resilsim.result import _sampled, write_table
from resilsim.scenario import load_scenario
from tests.conftest import bench, small


def old_timeline_frame(name, scenario, counts, run):
    width = scenario.bin
    nbins = int(np.ceil(scenario.duration / width))
    offered, succeeded = counts["offered"], counts["succeeded"]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(offered > 0, succeeded / np.maximum(offered, 1), np.nan)
    tl = pd.DataFrame({
        "strategy": name, "time": np.arange(nbins) * width,
        "offered_rps": offered / width, "attempts_rps": counts["sent"] / width,
        "attempt_success_rps": counts["sent_ok"] / width, "success_rate": rate,
    })
    if _sampled(run, nbins):
        sampler = run.sampler
        for col in ("limited", "quota", "overload"):
            tl[f"{col}_rps"] = counts[col] / width
        tl["queue_length"] = sampler.queue
        tl["utilisation"] = sampler.busy / run.workers
        for col, values in sampler.extra.items():
            tl[col] = values
    return tl


def old_counts(scenario, run):
    req, att = run.recorder.requests.view(), run.recorder.attempts.view()
    width = scenario.bin
    nbins = int(np.ceil(scenario.duration / width))
    rb = np.minimum((req["start"] // width).astype(int), nbins - 1)
    ok = req["outcome"] == OUT_SUCCESS
    ab = np.clip((att["start"] // width).astype(int), 0, nbins - 1)
    a_ok = att["code"] == CODE_OK
    counts = {"offered": np.bincount(rb, minlength=nbins), "succeeded": np.bincount(rb, weights=ok, minlength=nbins),
              "sent": np.bincount(ab, minlength=nbins), "sent_ok": np.bincount(ab, weights=a_ok, minlength=nbins)}
    if _sampled(run, nbins):
        src = att["source"]
        for col, kinds in (("limited", ("limiter",)), ("quota", ("quota",)), ("overload", ("capacity", "shed"))):
            hit = np.isin(src, [SOURCES.index(k) for k in kinds])
            counts[col] = np.bincount(ab, weights=hit, minlength=nbins)
    return counts


def old_timeline(result, record):
    runs = result._runs
    frames = [old_timeline_frame(name, result.scenario, run.recorder.bins if record == "summary"
                                 else old_counts(result.scenario, run), run) for name, run in runs.items()]
    tl = frames[0] if record == "summary" and len(frames) == 1 else pd.concat(frames, ignore_index=True)
    tl["strategy"] = pd.Categorical(tl["strategy"], categories=list(runs))
    return tl


SCENARIOS = {
    "all-features": lambda: load_scenario(bench("all_features.yaml", 120.0)),  # guards: extra columns
    "two strategies": lambda: load_scenario(small(duration=30, strategies={
        "none": {"retry": "none"}, "docs": {"retry": "analytics-docs"}})),
    "one strategy": lambda: load_scenario(small(duration=30)),
}


@pytest.mark.parametrize("record", ["full", "summary"])
@pytest.mark.parametrize("which", list(SCENARIOS))
def test_timeline_is_the_table_built_column_by_column(tmp_path, which, record):
    r = simulate(SCENARIOS[which](), 3, record=record)
    want = old_timeline(r, record)
    got = r.timeline
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.dtypes.equals(want.dtypes)
    assert got["strategy"].cat.categories.equals(want["strategy"].cat.categories)
    write_table(got, tmp_path / "new.parquet")
    write_table(want, tmp_path / "old.parquet")
    assert (tmp_path / "new.parquet").read_bytes() == (tmp_path / "old.parquet").read_bytes()
    if which == "all-features":
        assert {"breaker_open", "budget_tokens"} <= set(got.columns)  # guard state per bin, not only the sampler's
    queue = got["queue_length"].to_numpy() if "queue_length" in got else None
    if queue is not None:  # the table's own column: changing it leaves the run's sampler as it was
        before = next(iter(r._runs.values())).sampler.queue.copy()
        got.loc[0, "queue_length"] = -1.0
        assert np.array_equal(next(iter(r._runs.values())).sampler.queue, before, equal_nan=True)
