"""Retries without backoff at moderate load (Brooker, 2023): stable without retries, unbounded with them."""
import pytest

from resilsim import load_scenario, simulate

pytestmark = pytest.mark.validation


def test_timeout_retries_at_80_percent_utilisation_grow_the_queue(record, scale):
    # One worker; service 0.1 ms w.p. 0.999 and 10 ms otherwise (mean 0.1099 ms); 80% utilisation.
    mean = 0.0001 * 0.999 + 0.010 * 0.001
    lam = 0.8 / mean
    base = {
        "name": "brooker-2023", "api": "analytics", "duration": 20 * scale, "drain": 5,
        "service": {"workers": 1, "operations": {"op": {"latency": {"mixture": {"value": 0.0001, "slow": 0.010,
                                                                                  "p_slow": 0.001}}}}},
        "clients": {"arrival": {"poisson": {"rate": lam}}, "timeout": 0.015},
        "strategies": {
            "no-retries": {"retry": "none"},
            "retry-over-15ms": {"retry": {"wait": {"none": True}, "stop": {"attempts": 3}}},
        },
    }
    res = simulate(load_scenario(base), seed=50)
    r = res.requests
    T = base["duration"]
    for name in res.strategies:
        x = r[r["strategy"] == name]
        early = x[(x["start"] > 2) & (x["start"] < T / 4)]["latency"].mean()
        late = x[(x["start"] > 3 * T / 4) & (x["start"] < T)]["latency"].mean()
        if name == "no-retries":
            assert record("no retries: mean latency late ÷ early", "Brooker 2023: stable", 1.0, late / early, 0.5)
        else:
            sr = (x["outcome"] == "success").mean()
            assert record("retry after 15 ms: late-run success rate", "Brooker 2023: collapses", 0.0, sr, 0.2,
                          ok=sr < 0.2)
            a = res.attempts
            amp = (a["strategy"] == name).sum() / len(x)
            assert record("retry after 15 ms: amplification", "→ attempt cap (3)", 3.0, amp, 0.5)
