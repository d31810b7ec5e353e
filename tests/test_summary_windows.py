"""The summary's window sums (peak amplification, recovery) computed a slice of bins at a time.

Twin tests against the computation they replace (kept here verbatim: whole-column numpy), on random
timelines with tiny and default slices, and the memory they save (benchmarks/RESULTS.md).
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from resilsim import result as R
from resilsim.result import PEAK_WINDOW_S, RECOVERY_FRACTION, RECOVERY_WINDOW_S, _Bins, _window_sums


def old_peak_amplification(tl, scenario, start, end):
    width = scenario.bin
    time = tl["time"].to_numpy()
    inside = (time + width > start + 1e-9) & (time < end - 1e-9)
    offered = tl["offered_rps"].to_numpy()[inside] * width
    sent = tl["attempts_rps"].to_numpy()[inside] * width
    w = min(len(offered), max(1, int(round(PEAK_WINDOW_S / width))))
    if w == 0:
        return float("nan")
    c_off = np.concatenate([[0.0], np.cumsum(offered)])
    c_sent = np.concatenate([[0.0], np.cumsum(sent)])
    n_off = c_off[w:] - c_off[:-w]
    n_sent = c_sent[w:] - c_sent[:-w]
    has = n_off > 0
    return float((n_sent[has] / n_off[has]).max()) if has.any() else float("nan")


def old_recovery_time(tl, scenario, t0, t1):
    width = scenario.bin
    time = tl["time"].to_numpy()
    offered = tl["offered_rps"].to_numpy() * width
    ok = np.nan_to_num(tl["success_rate"].to_numpy()) * offered
    pre = (time >= scenario.warmup) & (time + width <= t0 + 1e-9)
    if ok[pre].sum() == 0:
        return float("nan")
    threshold = RECOVERY_FRACTION * ok[pre].sum() / offered[pre].sum()
    w = max(1, int(round(RECOVERY_WINDOW_S / width)))
    c_off = np.concatenate([[0.0], np.cumsum(offered)])
    c_ok = np.concatenate([[0.0], np.cumsum(ok)])
    starts = np.flatnonzero((time >= t1 - 1e-9) & (time + w * width <= scenario.duration + 1e-9))
    n_off = c_off[starts + w] - c_off[starts]
    healthy = (n_off > 0) & (c_ok[starts + w] - c_ok[starts] >= threshold * n_off)
    if not healthy.any():
        return float("nan")
    return float(time[starts[np.argmax(healthy)]] - t1)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def counts_and_timeline(rng, n, width, dip=(0, 0)):
    # Per-bin counts as a summary-only recorder keeps them (int32), with idle stretches and bins dip[0]..dip[1]
    # mostly failing, and the timeline columns _timeline_frame builds from them.
    offered = rng.poisson(rng.uniform(0, 80), n).astype(np.int32)
    offered[rng.random(n) < 0.1] = 0
    p = np.full(n, rng.uniform(0.9, 1.0))
    p[dip[0]:dip[1]] = 0.3
    succeeded = rng.binomial(offered, p).astype(np.int32)
    sent = (offered + rng.poisson(5, n)).astype(np.int32)
    counts = {"offered": offered, "succeeded": succeeded, "sent": sent}
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(offered > 0, succeeded / np.maximum(offered, 1), np.nan)
    tl = pd.DataFrame({"time": np.arange(n) * width, "offered_rps": offered / width,
                       "attempts_rps": sent / width, "success_rate": rate})
    return counts, tl


@pytest.mark.parametrize("chunk", [1, 7, 64, 0])
def test_window_sums_match_whole_column_prefix_sums(monkeypatch, chunk):
    # Sums of w consecutive values, bit for bit those of concatenate([[0], cumsum(x)]) over the whole column.
    rng = np.random.default_rng(3)
    x = rng.random(1000) * 1e3
    for w in (1, 5, 64, 999, 1000):
        c = np.concatenate([[0.0], np.cumsum(x)])
        want = c[w:] - c[:-w]
        step = chunk or 1 << 15
        parts = ((x[lo:lo + step],) for lo in range(0, len(x), step))
        got = [(first, s[0]) for first, s in _window_sums(parts, w)]
        assert [f for f, _ in got] == list(np.cumsum([0] + [len(s) for _, s in got])[:-1])
        assert np.array_equal(np.concatenate([s for _, s in got]), want), (w, chunk)


@pytest.mark.parametrize("chunk", [3, 50, 0])
def test_peak_and_recovery_are_the_whole_column_values(monkeypatch, chunk):
    # Random timelines, windows and triggers: the same float as before, from a timeline and from the counts.
    if chunk:
        monkeypatch.setattr(R, "WINDOW_CHUNK_BINS", chunk)
    rng = np.random.default_rng(11)
    checked = {"peak": 0, "recovery": 0}
    for case in range(80):
        width = [1.0, 0.5, 0.1, 2.0, 0.3][case % 5]
        n = int(rng.integers(1, 600))
        duration = n * width - rng.uniform(0, width * 0.9)
        sc = SimpleNamespace(bin=width, warmup=float(rng.uniform(0, duration / 4)), duration=duration)
        t0, t1 = sorted(rng.uniform(0, duration * 0.7, 2))
        stuck = case % 7 == 0  # fails from the trigger to the end: never recovers
        dip = (int(t0 / width), n if stuck else int(rng.uniform(t1, duration) / width))
        counts, tl = counts_and_timeline(rng, n, width, dip)
        a, b = sorted(rng.uniform(-5, duration + 5, 2))
        for start, end in ((a, b), (sc.warmup, duration)):
            want = old_peak_amplification(tl, sc, start, end)
            assert same(R.peak_amplification(tl, sc, start, end), want)
            assert same(R._peak_amplification(_Bins.of_counts(counts, width), start, end), want)
            checked["peak"] += not math.isnan(want)
        want = old_recovery_time(tl, sc, t0, t1)
        assert same(R.recovery_time(tl, sc, t0, t1), want)
        assert same(R._recovery_time(_Bins.of_counts(counts, width), sc, t0, t1), want)
        checked["recovery"] += not math.isnan(want)
    assert checked["peak"] > 100 and checked["recovery"] > 15, checked  # not a comparison of NaNs only


def test_summary_only_result_same_peak_and_recovery_as_its_timeline(monkeypatch):
    # A summary-only run with an incident: the summary (from the counts, in slices of 5 bins) has the values
    # the old functions give over its timeline, and the same as once the timeline is built.
    from resilsim import simulate
    from resilsim.scenario import load_scenario
    from tests.conftest import small

    sc = load_scenario(small(duration=120, warmup=10, faults={"incidents": [
        {"start": 40, "duration": 20, "code": "ANALYTICS_2001", "rate": 0.6}]},
        strategies={"none": {"retry": "none"}, "docs": {"retry": "analytics-docs"}}))
    monkeypatch.setattr(R, "WINDOW_CHUNK_BINS", 5)
    r = simulate(sc, 2, record="summary")
    s = r.summary()
    assert "recovery_s" in s.columns
    tl = r.timeline
    for name, g in tl.groupby("strategy", observed=True):
        assert s.loc[name, "peak_amplification"] == old_peak_amplification(g, sc, sc.warmup, sc.duration)
        assert same(s.loc[name, "recovery_s"], old_recovery_time(g, sc, 40.0, 60.0))
    assert not s["peak_amplification"].isna().any()
    pd.testing.assert_frame_equal(r.summary(), s)  # timeline built: still the counts, the same frame
    r.timeline = tl.assign(attempts_rps=tl["attempts_rps"] * 2)  # assigned by hand: the source now
    assert (r.summary()["peak_amplification"] > s["peak_amplification"]).all()


def test_window_sums_memory_does_not_grow_with_the_bins():
    # 2M bins (23 h at 0.04 s): the whole-column computation held several float64 arrays of every bin
    # (16 MB each); a slice at a time holds a few of WINDOW_CHUNK_BINS (256 KiB each).
    import tracemalloc

    rng = np.random.default_rng(0)
    n, width = 2_000_000, 0.04
    counts = {"offered": rng.poisson(3, n).astype(np.int32), "sent": rng.poisson(4, n).astype(np.int32)}
    counts["succeeded"] = counts["offered"] // 2
    sc = SimpleNamespace(bin=width, warmup=0.0, duration=n * width)
    bins = _Bins.of_counts(counts, width)
    R._peak_amplification(bins, 0.0, sc.duration)  # warm
    tracemalloc.start()
    try:
        R._peak_amplification(bins, 0.0, sc.duration)
        R._recovery_time(bins, sc, 10.0, 20.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, peak  # the old computation: > 100 MiB here
