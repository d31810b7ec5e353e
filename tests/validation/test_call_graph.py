"""Retries at every layer (issue 21): attempts through a chain of services against the closed form."""
import math
from pathlib import Path

import pytest

from resilsim import load_scenario, simulate
from resilsim import theory

from .conftest import Z

pytestmark = pytest.mark.validation

NAMES = ["api", "s1", "s2", "s3", "s4"]


def chain(p, attempts, rate=200.0, duration=100.0):
    """Client → API → s1 → … → the bottom: ``attempts[i]`` attempts on edge i (no wait, no timeout), only the
    bottom failing, each attempt independently with probability ``p``; capacity never binds."""
    layers = len(attempts)
    retry = [{"retry": {"wait": {"none": True}, "stop": {"attempts": a}}} for a in attempts]
    services = {}
    for i in range(1, layers):
        op = {"latency": {"constant": 0.001}}
        if i < layers - 1:
            op["calls"] = [{"service": NAMES[i + 1], "operation": "op", **retry[i + 1]}]
        services[NAMES[i]] = {"workers": 100_000, "operations": {"op": op},
                              "error_rate": p if i == layers - 1 else 0.0}
    return {
        "name": "chain", "api": "analytics", "duration": duration,
        "service": {"workers": 100_000, "operations": {"op": {
            "latency": {"constant": 0.001},
            "calls": [{"service": "s1", "operation": "op", "on_failure": "ANALYTICS_1900", **retry[1]}]}}},
        "services": services,
        "clients": {"arrival": {"poisson": {"rate": rate}}},
        "strategies": {"r": retry[0]},
    }


@pytest.mark.parametrize("p,attempts", [(0.8, [2, 3, 4]), (0.5, [3, 3, 3])])
def test_attempts_per_layer_match_the_closed_form(p, attempts, record, scale):
    t = simulate(chain(p, attempts, duration=100 * scale), seed=21).services().set_index("service")
    n = int(t.loc["api", "calls"])
    for i, (mean, var) in enumerate(theory.layered_attempts(p, attempts)):
        name = NAMES[i]
        tol = Z * math.sqrt(var / n)
        assert record(f"attempts per request at layer {i + 1} ({name}), p={p}, a={attempts}",
                      "(1 − q^c)/(1 − q), q = p^(a below), c = a above", mean, t.loc[name, "amplification"], tol)
    bottom = theory.layered_attempts(p, attempts)[-1][0]
    assert bottom == pytest.approx((1 - p ** math.prod(attempts)) / (1 - p))  # the telescoped form


def test_sre_book_three_layers_four_attempts_is_64_at_the_bottom(record):
    # Google SRE book, "Addressing Cascading Failures": a request through 3 layers, each making up to 4
    # attempts, reaches the bottom up to 4³ = 64 times: the maximum, when the bottom always fails.
    s = chain(1.0, [4, 4, 4], rate=20, duration=20)
    # 4 + 16 + 64 = 84 attempts per request at every layer: above the runaway limit's default 50, which counts the
    # calls between services too.
    s["limits"] = {"max_amplification": 100}
    t = simulate(s, seed=21).services().set_index("service")
    assert record("SRE book: 3 layers × 4 attempts, bottom always failing", "4³", 64.0,
                  t.loc["s2", "amplification"], 0.0)
    assert t.loc["api", "amplification"] == 4.0 and t.loc["s1", "amplification"] == 16.0


# ---------------------------------------------------------------- a two-tier metastable storm

STORM = Path(__file__).resolve().parents[2] / "scenarios" / "metastable-two-tier-storm.yaml"
API_ATTEMPTS = "service.operations.query_metrics.calls.0.retry.stop.attempts"


def late_success(api_attempts: int, db_workers: int, seed: int) -> float:
    """Clients' success over the storm scenario's last 30 s (from 80 s after the 10 s trigger ends)."""
    s = load_scenario(STORM, overrides={API_ATTEMPTS: api_attempts, "services.db.workers": db_workers})
    return float(simulate(s, seed=seed).summary(window=(120, 150))["success_rate"].iloc[0])


@pytest.mark.parametrize("api_attempts,db_workers,recovers", [
    # Retries only at the edge (1 API attempt): a failing request sends at most 2 queries, 200/s < 320/s.
    (1, 16, True),
    # Retries at both layers: 2 × 2 = 400/s > 320/s (16 workers) — the storm outlives the trigger ...
    (2, 16, False),
    # ... and 2 × 3 = 600/s: stuck with 24 workers (480/s), recovered with 36 (720/s).
    (3, 24, False),
    (3, 36, True),
])
def test_two_tier_storm_recovers_only_below_the_boundary(api_attempts, db_workers, recovers, record):
    # The boundary: the storm lasts while rate × client attempts × API attempts × mean query time > db workers
    # (100/s × 2 × a × 0.05 s = 10a workers). Fixed seeds; recovered means ≥ 95% success late in the run, stuck
    # ≤ 20% (measured values are far from both: 1.0 and 0.0).
    for seed in (1, 2):
        ok = late_success(api_attempts, db_workers, seed)
        expected = 1.0 if recovers else 0.0
        assert record(f"two-tier storm, {api_attempts} API attempt(s), {db_workers} db workers, seed {seed}: "
                      "late client success", "λ·a_client·a_api·E[S] vs workers", expected, ok,
                      0.05 if recovers else 0.2)


# ---------------------------------------------------------------- a capacity cut: M/M/c whose c drops


def cut_scenario(cut: int, duration: float = 200.0) -> dict:
    """Clients (120/s, no retries) → API → db: M/M/8 with E[S] = 50 ms (160/s); an incident leaves ``cut`` workers
    from 50 s to 150 s. No queue limit, no timeouts: every request is served."""
    return {
        "name": "mmc-cut", "api": "analytics", "duration": duration, "drain": 600,
        "service": {"workers": 100_000, "operations": {"op": {
            "latency": {"constant": 0.001},
            "calls": [{"service": "db", "operation": "q", "on_failure": "ANALYTICS_1900"}]}}},
        "services": {"db": {"workers": 8, "operations": {"q": {"latency": {"exponential": {"mean": 0.05}}}}}},
        "faults": {"incidents": [{"name": "cut", "service": "db", "start": 50, "duration": 100, "workers": cut}]},
        "clients": {"arrival": {"poisson": {"rate": 120}}},
        "strategies": {"none": {"retry": "none"}},
    }


@pytest.mark.parametrize("cut", [4, 5])
def test_throughput_during_a_capacity_cut_is_the_cut_workers_over_the_mean_service_time(cut, record):
    # Saturated (120/s offered > c_cut / E[S]): every cut worker is busy, so completions are a Poisson process of
    # rate c_cut / E[S] (80/s, 100/s). Counted over [60, 150) s (10 s after the cut, for the retiring workers and
    # the queue to build); tolerance 4 √n / 90 s.
    r = simulate(cut_scenario(cut), seed=31)
    req = r.requests
    ok = req[req["outcome"] == "success"]
    n = int(((ok["end"] >= 60) & (ok["end"] < 150)).sum())
    expected = cut / 0.05
    assert record(f"M/M/8 cut to {cut} workers under 120/s: completions per second during the cut",
                  "c_cut / E[S]", expected, n / 90, Z * math.sqrt(expected * 90) / 90)


def test_a_stable_cut_settles_to_the_erlang_c_response_time_of_the_cut_workers(record):
    # Below the boundary (λ < c_cut / E[S]) a long cut settles to M/M/c_cut: the API, M/M/10 with E[S] = 0.1 s under
    # 30/s (ρ = 0.3), cut to 4 workers (ρ = 0.75) from 100 s for 600 s. Requests arriving 50 s into the cut until 50 s
    # before its end: mean response against Erlang C for 4 servers; tolerance 4 standard errors by batch means.
    from resilsim import theory

    from .conftest import batch_means
    d = {"name": "stable-cut", "api": "analytics", "duration": 800, "drain": 300,
         "service": {"workers": 10, "operations": {"op": {"latency": {"exponential": {"mean": 0.1}}}}},
         "faults": {"incidents": [{"name": "cut", "start": 100, "duration": 600, "workers": 4}]},
         "clients": {"arrival": {"poisson": {"rate": 30}}},
         "strategies": {"none": {"retry": "none"}}}
    req = simulate(d, seed=17).requests.sort_values("start")
    inside = req[(req["start"] >= 150) & (req["start"] < 650)]
    mean, se = batch_means((inside["end"] - inside["start"]).to_numpy())
    expected = theory.mmc_mean_response(30.0, 10.0, 4)
    assert record("M/M/10 cut to 4 workers under 30/s (ρ 0.3 → 0.75): mean response time during the cut (s)",
                  "Erlang C, c = c_cut", expected, mean, Z * se)
    before = req[(req["start"] >= 20) & (req["start"] < 100)]
    assert (before["end"] - before["start"]).mean() < 0.11           # M/M/10 at ρ 0.3: 0.1 s and almost no wait
