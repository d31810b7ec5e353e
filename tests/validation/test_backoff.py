"""Backoff schedules match their definitions in distribution (Kolmogorov–Smirnov), in the policies and in the simulator."""
import numpy as np
import pytest
from scipy import stats

from resilsim import load_scenario, simulate
from resilsim.policies import exponential, jitter
from resilsim.rng import BlockRandom

pytestmark = pytest.mark.validation

ALPHA = 0.001   # KS significance: a correct sampler fails one run in a thousand (seeds are fixed)


def draws(wait, attempt, n, seed=0, previous=0.0):
    rng = BlockRandom(np.random.default_rng(seed))
    return np.array([wait(attempt, previous, rng) for _ in range(n)])


@pytest.mark.parametrize("attempt", [1, 3, 6])
def test_full_jitter_is_uniform_up_to_the_capped_exponential(attempt, record, scale):
    base, cap = 0.5, 10.0
    v = min(cap, base * 2 ** (attempt - 1))
    d = draws(exponential(base, cap=cap) + jitter("full"), attempt, 5000 * scale, seed=attempt)
    p = stats.kstest(d, stats.uniform(0, v).cdf).pvalue
    assert record(f"full jitter, retry {attempt}: KS p-value", "AWS blog: U(0, min(cap, base·2ⁿ))", "p > 0.001", p, "KS test",
                  ok=p > ALPHA)


def test_equal_jitter_is_uniform_on_the_upper_half(record, scale):
    v = 4.0
    d = draws(exponential(1.0, cap=30) + jitter("equal"), 3, 5000 * scale, seed=5)
    p = stats.kstest(d, stats.uniform(v / 2, v / 2).cdf).pvalue
    assert record("equal jitter: KS p-value", "AWS blog: v/2 + U(0, v/2)", "p > 0.001", p, "KS test", ok=p > ALPHA)


def test_decorrelated_jitter_given_previous(record, scale):
    base, cap, prev = 1.0, 100.0, 4.0
    d = draws(exponential(base, cap=cap) + jitter("decorrelated"), 3, 5000 * scale, seed=6, previous=prev)
    p = stats.kstest(d, stats.uniform(base, 3 * prev - base).cdf).pvalue
    assert record("decorrelated jitter: KS p-value", "AWS blog: U(base, 3·previous)", "p > 0.001", p, "KS test",
                  ok=p > ALPHA)


def test_simulated_retry_gaps_follow_full_jitter(record, scale):
    # In the simulator: the gap between an error answer and the next attempt of the same request.
    s = load_scenario({
        "name": "gaps", "api": "analytics", "duration": 200 * scale,
        "service": {"workers": 1000, "operations": {"op": {"latency": {"constant": 0.001}}}},
        "faults": {"background": {"ANALYTICS_2001": 0.5}},
        "clients": {"arrival": {"poisson": {"rate": 50}}},
        "strategies": {"fj": {"retry": {"wait": {"exponential": {"base": 0.2, "cap": 5}}, "jitter": "full",
                                        "stop": {"attempts": 4}}}},
    })
    a = simulate(s, seed=30).attempts.sort_values(["request", "attempt"])
    prev_end = a.groupby("request")["end"].shift()
    gaps = (a["start"] - prev_end)[a["attempt"] == 3].to_numpy()
    p = stats.kstest(gaps, stats.uniform(0, 0.4).cdf).pvalue
    assert record("simulated gap before retry 2 (full jitter): KS p-value", "U(0, 0.4 s)", "p > 0.001", p, "KS test",
                  ok=p > ALPHA)
