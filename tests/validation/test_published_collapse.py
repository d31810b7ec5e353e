"""The shipped simple_collapse_sim scenarios (scenarios/published/brooker-collapse-*.yaml) against his code and theory.

Issue 16, item 3 (results table item 13). Brooker's server is infinitely parallel; an attempt's service
time, fixed when it arrives, is 1 s + 0.01 s per attempt in service (itself included); hops are
exponential (0.1 s); clients time out after 3 s and make 3 attempts. Two checks:

- The service-time law, exactly as he states it: with Poisson arrivals at λ and no timeouts, PASTA and
  Little's law give E[S] = 1.01 + 0.01·λ·E[S], so E[S] = 1.01/(1 − 0.01λ) (1.6833 s at 40/s; leaving
  the arriving attempt out of the count would give 1.6667 s). Measured: `service_s` of five 2,000 s
  runs; tolerance 4 standard errors of their mean.
- The qualitative result of his code, run apart (docs/published.md): a run "stays collapsed" when
  fewer than half the requests that arrived in its last 20 s succeeded. His spike variant, seeds
  0-199: no backoff stays collapsed in 138 of 200 runs (0.69), backoff with jitter in none; his ramp: every
  run of both. resilsim's fixed seeds must give a collapsed share within 4 binomial standard errors of
  his (both samples' variances), backoff with jitter never collapsed in the spike, every ramp run
  collapsed.
"""
import math
from pathlib import Path

import pytest
import yaml

from resilsim import load_scenario, simulate

from .conftest import Z

pytestmark = pytest.mark.validation

PUBLISHED = Path(__file__).resolve().parents[2] / "scenarios" / "published"
#: His code's collapsed runs (docs/published.md, "Brooker, simple_collapse_sim"): spike, no backoff.
HIS_SPIKE_COLLAPSED, HIS_SPIKE_RUNS = 138, 200
THRESHOLD = 0.5  # success rate of the last 20 s of arrivals below which a run stayed collapsed


def _data(name: str) -> dict:
    return yaml.safe_load((PUBLISHED / name).read_text())


def _window_success(data: dict, seed: int, window: tuple[float, float]) -> dict:
    s = simulate(load_scenario(data), seed=seed, record="summary").summary(window=window)
    return s["success_rate"].to_dict()


def test_service_time_grows_with_concurrency_as_his_does(record, scale):
    lam = 40.0
    d = _data("brooker-collapse-spike.yaml")
    d["clients"]["arrival"]["poisson"] = {"rate": lam}
    d["clients"]["timeout"] = 60  # no attempt times out: every attempt answered, none retried
    d["duration"], d["drain"] = 2000 * scale, 60
    d["strategies"] = {"none": {"retry": "none"}}
    means = [simulate(load_scenario(d), seed=130 + k, record="summary").summary().loc["none", "service_s"]
             for k in range(5)]
    mean = sum(means) / len(means)
    se = math.sqrt(sum((m - mean) ** 2 for m in means) / (len(means) - 1) / len(means))
    expected = 1.01 / (1 - 0.01 * lam)
    assert record("Brooker collapse: mean service time at 40/s (s)", "1.01/(1 − 0.01λ), PASTA + Little",
                  expected, mean, Z * se)
    # The law that leaves the arriving attempt out (1/(1 − 0.01λ)) must be told apart from it.
    assert abs(1 / (1 - 0.01 * lam) - expected) > Z * se


def test_spike_no_backoff_mostly_stays_collapsed_backoff_never(record):
    d = _data("brooker-collapse-spike.yaml")
    n = 30
    rates = [_window_success(d, seed, (60.0, 80.0)) for seed in range(n)]
    collapsed = sum(r["no_backoff"] < THRESHOLD for r in rates)
    his = HIS_SPIKE_COLLAPSED / HIS_SPIKE_RUNS
    se = math.sqrt(his * (1 - his) / n + his * (1 - his) / HIS_SPIKE_RUNS)
    assert record(f"Brooker collapse, spike: no backoff, runs stayed collapsed (share of {n})",
                  f"his code, {HIS_SPIKE_COLLAPSED}/{HIS_SPIKE_RUNS}", his, collapsed / n, Z * se)
    assert collapsed > n / 2  # most runs
    backoff = sum(r["backoff_and_jitter"] < THRESHOLD for r in rates)
    assert record(f"Brooker collapse, spike: backoff and jitter, runs stayed collapsed (of {n})",
                  "his code, 0/200", 0, backoff, 0)
    # Collapse is all or nothing: a run either keeps (nearly) no success or is healthy, where only the
    # requests too young to finish by 80 s fail (his healthy runs: 0.88-0.93, seeds 0-199).
    for r in rates:
        for v in r.values():
            assert v < 0.05 or v > 0.8, rates


def test_ramp_stays_collapsed_with_and_without_backoff(record):
    d = _data("brooker-collapse-ramp.yaml")
    n = 5
    rates = [_window_success(d, seed, (55.0, 75.0)) for seed in range(n)]
    for name in ("no_backoff", "backoff_and_jitter"):
        collapsed = sum(r[name] < THRESHOLD for r in rates)
        assert record(f"Brooker collapse, ramp: {name}, runs stayed collapsed (of {n})", "his code, 50/50", n,
                      collapsed, 0)
