"""Token bucket against its definition: long-run rate min(λ, r), at most b + r·t in any window."""
import numpy as np
import pytest

from resilsim import load_scenario, simulate

pytestmark = pytest.mark.validation


def limited(lam, r, b, duration):
    return load_scenario({
        "name": "bucket", "api": "analytics", "duration": duration,
        "service": {"workers": 10_000, "operations": {"op": {"latency": {"constant": 0.001}}},
                    "rate_limit": {"token_bucket": {"rate": r, "burst": b}}},
        "clients": {"arrival": {"poisson": {"rate": lam}}},
        "strategies": {"none": {"retry": "none"}},
    })


def test_bucket_admits_its_rate_under_overload_and_never_more_than_b_plus_rt(record, scale):
    lam, r, b, T = 100.0, 50.0, 20.0, 300.0 * scale
    a = simulate(limited(lam, r, b, T), seed=40).attempts
    admitted = np.sort(a.loc[a["source"] != "limiter", "start"].to_numpy())
    # Deterministic bounds: at most b + r·T in all, and at least r·T − 1 under sustained overload.
    assert record("token bucket admitted per second under overload (λ=100, r=50)", "min(λ, r)", r,
                  len(admitted) / T, (b + 1) / T)
    for t in (0.1, 1.0, 10.0):
        # most admissions in any window of length t (a window starting at an admission is the worst case)
        ends = np.searchsorted(admitted, admitted + t, side="left")
        most = int((ends - np.arange(len(admitted))).max())
        assert record(f"token bucket max admitted in any {t:g} s window", "≤ b + r·t", b + r * t, most, 0,
                      ok=most <= b + r * t + 1e-9)


def test_bucket_below_its_rate_admits_nearly_everything(record, scale):
    lam, r, b, T = 30.0, 50.0, 20.0, 300.0 * scale
    a = simulate(limited(lam, r, b, T), seed=41).attempts
    admitted = int((a["source"] != "limiter").sum())
    n = len(a)
    # Below its rate a bucket with burst 20 rejects only on rare Poisson bursts: admitted ≈ λ.
    assert record("token bucket admitted rate below its rate (λ=30, r=50)", "min(λ, r)", lam,
                  admitted / T, 4 * np.sqrt(n) / T + 0.001 * lam)
