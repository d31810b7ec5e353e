"""Queues against theory: M/M/c (Erlang C), M/M/c/K blocking, Little's law."""
import numpy as np
import pytest

from resilsim import load_scenario, simulate
from resilsim import theory

from .conftest import Z, batch_means

pytestmark = pytest.mark.validation


def mm(c, lam, mean_service, duration, queue=None):
    d = {
        "name": f"M/M/{c}", "api": "analytics", "duration": duration, "warmup": 50, "drain": 300,
        "service": {"workers": c, "operations": {"op": {"latency": {"exponential": {"mean": mean_service}}}}},
        "clients": {"arrival": {"poisson": {"rate": lam}}},
        "strategies": {"none": {"retry": "none"}},
    }
    if queue is not None:
        d["service"]["queue"] = {"limit": queue}
    return load_scenario(d)


@pytest.mark.parametrize("c,lam", [(10, 80.0), (4, 30.0)])
def test_mmc_mean_response_time_matches_erlang_c(c, lam, record, scale):
    mu = 10.0   # mean service 0.1 s
    res = simulate(mm(c, lam, 1 / mu, 600 * scale), seed=7)
    r = res.measured().sort_values("start")
    mean, se = batch_means(r["latency"].to_numpy())
    expected = theory.mmc_mean_response(lam, mu, c)
    assert record(f"M/M/{c} mean response time (s), ρ={lam / (c * mu):.2f}", "Erlang C", expected, mean, Z * se)


def test_mmc_probability_of_waiting_matches_erlang_c(record, scale):
    c, lam, mu = 10, 80.0, 10.0
    res = simulate(mm(c, lam, 1 / mu, 600 * scale), seed=8)
    r = res.measured().sort_values("start")
    # The response-time tail of M/M/c has a closed form in the Erlang C
    # probability of waiting; checking it at t = 0.3 s checks that probability.
    t = 0.3
    C = theory.erlang_c(c, lam / mu)
    gamma = c * mu - lam
    # P(T > t) for M/M/c: e^{-μt} (1 + C·μ/(gamma-μ)·(1 - e^{-(gamma-μ)t}))
    expected = np.exp(-mu * t) * (1 + C * mu / (gamma - mu) * (1 - np.exp(-(gamma - mu) * t)))
    measured, se = batch_means((r["latency"].to_numpy() > t).astype(float))
    assert record(f"M/M/{c} P(response > {t} s) (Erlang C tail)", "Erlang C", expected, measured, Z * se)


def test_mmck_blocking_probability(record, scale):
    c, K, lam, mu = 5, 10, 60.0, 10.0
    res = simulate(mm(c, lam, 1 / mu, 600 * scale, queue=K - c), seed=9)
    a = res.attempts
    a = a[a["start"] >= 50].sort_values("start")
    blocked = (a["source"] == "capacity").to_numpy().astype(float)
    measured, se = batch_means(blocked)
    expected = theory.mmck_blocking(lam, mu, c, K)
    assert record(f"M/M/{c}/{K} blocking probability", "M/M/c/K", expected, measured, Z * se)
    assert set(a.loc[a["source"] == "capacity", "code"]) == {"ANALYTICS_2001"}


def test_littles_law_on_a_run(record):
    # L = λW: time-average number in system from the request intervals, against λ × mean W.
    c, lam, mu = 8, 60.0, 10.0
    res = simulate(mm(c, lam, 1 / mu, 400), seed=10)
    r = res.requests
    t0, t1 = 100.0, 350.0
    inside = np.clip(np.minimum(r["end"], t1) - np.maximum(r["start"], t0), 0, None)
    L = inside.sum() / (t1 - t0)
    arrived = r[(r["start"] >= t0) & (r["start"] < t1)]
    lam_hat = len(arrived) / (t1 - t0)
    W = arrived["latency"].mean()
    _, se = batch_means(arrived.sort_values("start")["latency"].to_numpy())
    tol = Z * lam_hat * se + 0.05 * L / 10
    assert record("Little's law L = λW (requests in system)", "Little (1961)", lam_hat * W, L, tol)
