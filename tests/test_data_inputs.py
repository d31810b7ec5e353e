"""Traffic and latency as data: rate curves (a non-homogeneous Poisson process), replayed traces, latency shapes."""
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from resilsim import load_scenario, simulate
from resilsim.scenario.data import curve_integral
from resilsim.server import latency as L
from resilsim.sim.limits import expected_requests

from .conftest import small


def write_scenario(tmp_path, arrival, latency=None, duration=300.0):
    d = small(duration=duration, drain=5, clients={"arrival": arrival})
    d["service"]["workers"] = 64
    if latency is not None:
        d["service"]["operations"]["query_metrics"]["latency"] = latency
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_a_rate_curve_drives_a_non_homogeneous_poisson_process(tmp_path):
    (tmp_path / "data").mkdir()
    # 10/s, then 50/s, then nothing: rows are (time, rate), each rate held until the next row's time.
    (tmp_path / "data" / "curve.csv").write_text("time,rate\n1000,10\n1100,50\n1200,0\n")
    s = load_scenario(write_scenario(tmp_path, {"curve": {"file": "data/curve.csv"}}))
    assert expected_requests(s) == pytest.approx(10 * 100 + 50 * 100)
    start = simulate(s, seed=2).requests["start"].to_numpy()
    counts = np.histogram(start, bins=[0, 100, 200, 300])[0]
    for n, mean in zip(counts, (1000, 5000)):
        assert abs(n - mean) < 4 * math.sqrt(mean)  # Poisson counts
    assert counts[2] == 0
    # Within the busy segment the gaps are exponential at 50/s (KS against the exponential).
    gaps = np.diff(np.sort(start[(start >= 100) & (start < 200)]))
    assert stats.kstest(gaps, "expon", args=(0, 1 / 50)).pvalue > 0.001


def test_curve_scale_and_time_scale_and_parquet(tmp_path):
    pd.DataFrame({"time": [0.0, 50.0], "rate": [4.0, 8.0]}).to_parquet(tmp_path / "c.parquet")
    s = load_scenario(write_scenario(tmp_path, {"curve": {"file": "c.parquet", "scale": 2, "time_scale": 2}}))
    # Times ×2: 4/s over [0, 100), then 8/s; rates ×2: 8/s and 16/s over 300 s.
    assert expected_requests(s) == pytest.approx(8 * 100 + 16 * 200)
    t, r = np.array([0.0, 50.0]), np.array([4.0, 8.0])
    assert curve_integral(t, r, 300, 2, 2) == expected_requests(s)
    n = len(simulate(s, seed=1).requests)
    assert abs(n - 4000) < 4 * math.sqrt(4000)


def test_a_replayed_trace_arrives_at_its_own_timestamps(tmp_path):
    rng = np.random.default_rng(3)
    stamps = 1.7e9 + np.sort(rng.uniform(0, 100, 500))
    (tmp_path / "trace.csv").write_text("timestamp\n" + "\n".join(f"{x:.6f}" for x in stamps) + "\n")
    expect = np.array([float(f"{x:.6f}") for x in stamps])
    expect -= expect[0]
    s = load_scenario(write_scenario(tmp_path, {"replay": {"file": "trace.csv"}}))
    got = simulate(s, seed=0).requests["start"].to_numpy()
    assert np.array_equal(got, expect)  # replayed from the first timestamp, exactly
    slow = load_scenario(write_scenario(tmp_path, {"replay": {"file": "trace.csv", "time_scale": 4}}))
    got = simulate(slow, seed=0).requests["start"].to_numpy()
    assert len(got) == np.searchsorted(expect * 4, 300) and np.array_equal(got, (expect * 4)[: len(got)])
    twice = load_scenario(write_scenario(tmp_path, {"replay": {"file": "trace.csv", "rate_scale": 2}}))
    assert expected_requests(twice) == 1000
    assert len(simulate(twice, seed=0).requests) == 1000
    half = load_scenario(write_scenario(tmp_path, {"replay": {"file": "trace.csv", "rate_scale": 0.5}}))
    n = len(simulate(half, seed=0).requests)
    assert abs(n - 250) < 4 * math.sqrt(500 * 0.25)  # binomial(500, 1/2)


@pytest.mark.parametrize("dist,ref", [
    (L.Normal(0.2, 0.05), stats.norm(0.2, 0.05)),
    (L.Gamma(2.0, 0.05), stats.gamma(2.0, scale=0.05)),
    (L.Weibull(1.5, 0.1), stats.weibull_min(1.5, scale=0.1)),
    (L.Pareto(3.0, 0.02), stats.pareto(3.0, scale=0.02)),
])
def test_latency_shapes_draw_their_distribution(dist, ref):
    draw = dist.sampler(np.random.default_rng(5))
    x = np.array([draw() for _ in range(20_000)])
    assert stats.kstest(x, ref.cdf).pvalue > 0.001
    assert dist.mean == pytest.approx(ref.mean(), rel=1e-3 if isinstance(dist, L.Normal) else 1e-12)


def test_normal_mean_counts_the_truncation_at_zero():
    d = L.Normal(0.05, 0.1)  # half the draws would be negative: they count as 0
    x = np.maximum(np.random.default_rng(1).normal(0.05, 0.1, 400_000), 0)
    assert d.mean == pytest.approx(x.mean(), rel=0.01)


def test_empirical_latency_draws_only_the_samples(tmp_path):
    (tmp_path / "samples.csv").write_text("latency\n0.1\n0.2\n0.2\n0.4\n")
    s = load_scenario(write_scenario(tmp_path, {"poisson": {"rate": 20}}, {"empirical": {"file": "samples.csv"}},
                                     duration=60))
    r = simulate(s, seed=0)
    took = (r.attempts["end"] - r.attempts["start"]).round(9)
    assert set(took.unique()) <= {0.1, 0.2, 0.4}  # 64 workers: no queueing, the service time is the sample
    assert abs((took == 0.2).mean() - 0.5) < 4 * math.sqrt(0.25 / len(took))
    assert s.service.operations["query_metrics"].latency.distribution().mean == pytest.approx(0.225)


def test_data_paths_become_absolute_so_a_run_folders_copy_still_finds_them(tmp_path, monkeypatch):
    (tmp_path / "c.csv").write_text("time,rate\n0,5\n")
    s = load_scenario(write_scenario(tmp_path, {"curve": {"file": "c.csv"}}))
    assert s.clients.arrival.curve.file == str(tmp_path / "c.csv")
    monkeypatch.chdir("/")
    from resilsim.scenario import given_fields
    assert load_scenario(given_fields(s)).clients.arrival.curve.file == str(tmp_path / "c.csv")


def test_the_explorer_says_it_needs_poisson_arrivals(tmp_path):
    from resilsim import ScenarioError
    from resilsim.widgets import Explorer
    (tmp_path / "c.csv").write_text("time,rate\n0,5\n")
    with pytest.raises(ScenarioError, match="^clients.arrival: the explorer's load slider sets"):
        Explorer(load_scenario(write_scenario(tmp_path, {"curve": {"file": "c.csv"}})))
