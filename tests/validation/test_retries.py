"""Independent failures and retry-load arithmetic against closed forms."""
import math

import pytest

from resilsim import load_scenario, simulate
from resilsim import theory

from .conftest import Z, proportion_se

pytestmark = pytest.mark.validation


def flaky(p, attempts, rate=200.0, duration=100.0):
    return load_scenario({
        "name": "independent-failures", "api": "analytics", "duration": duration,
        "service": {"workers": 10_000, "operations": {"op": {"latency": {"constant": 0.001}}}},
        "faults": {"background": {"ANALYTICS_2000": p}} if p > 0 else {},
        "clients": {"arrival": {"poisson": {"rate": rate}}},
        "strategies": {"r": {"retry": {"wait": {"none": True}, "stop": {"attempts": attempts}}}},
    })


@pytest.mark.parametrize("p,n", [(0.3, 3), (0.6, 4)])
def test_success_is_one_minus_p_to_the_n(p, n, record, scale):
    s = simulate(flaky(p, n, duration=100 * scale), seed=21).summary().loc["r"]
    N = int(s["requests"])
    expected = theory.success_probability(p, n)
    assert record(f"success with p={p}, n={n}", "1 − pⁿ", expected, s["success_rate"],
                  Z * proportion_se(expected, N))
    mean_att = (1 - p ** n) / (1 - p)
    second = sum(k * k * (p ** (k - 1)) * (1 - p) for k in range(1, n)) + n * n * p ** (n - 1)
    sd = math.sqrt(second - mean_att ** 2)
    assert record(f"mean attempts with p={p}, n={n}", "(1 − pⁿ)/(1 − p)", mean_att, s["mean_attempts"],
                  Z * sd / math.sqrt(N))


@pytest.mark.parametrize("f", [0.0, 0.1, 0.3, 0.5, 1.0])
def test_retry_load_for_three_retries(f, record, scale):
    # Brooker (2022) / SRE book: 100 clients × 10 requests/s, N = 3 retries: load = (1 − f^4)/(1 − f).
    s = simulate(flaky(f, 4, rate=1000.0, duration=20 * scale), seed=22).summary().loc["r"]
    N = int(s["requests"])
    expected = theory.retry_load(f, 3)
    # Attempts per request take values 1..4 with a geometric law truncated at 4.
    probs = [f ** (k - 1) * (1 - f) for k in range(1, 4)] + [f ** 3]
    var = sum(k * k * q for k, q in zip(range(1, 5), probs)) - expected ** 2
    tol = Z * math.sqrt(max(var, 0) / N) + 1e-12
    assert record(f"retry load at f={f}, 3 retries (× first tries)", "Brooker 2022, SRE ch. 21", expected,
                  s["amplification"], tol)
