"""Retry budgets and adaptive throttling against their arithmetic (Brooker 2022; Google SRE book ch. 21).

Issue 7 item 8: 100 clients × 10 requests/s against a backend that rejects a
fraction r of attempts: a 3-attempt cap gives 1 + r + r² attempts per
request, a 10% per-client retry budget brings it to about 1.1; adaptive
throttling (K = 2) in front of a backend accepting A per second lets about
2·A through. Item 9: the throttle's local rejections follow
p = max(0, (requests − K·accepts)/(requests + 1)) for the requests and
accepts observed in the run's own records.
"""
import math

import numpy as np
import pytest

from resilsim import load_scenario, simulate
from resilsim import theory

from .conftest import Z, batch_means

pytestmark = pytest.mark.validation

CLIENTS, PER_CLIENT = 100, 10.0          # 100 clients × 10 requests/s
RATE = CLIENTS * PER_CLIENT
CAP3 = {"wait": {"none": True}, "stop": {"attempts": 3}}
TTL = 10.0                               # the ratio budget's window (Finagle's default)


def _rejecting(r: float, duration: float):
    # A backend with ample workers that answers a retryable error with probability r per attempt.
    return load_scenario({
        "name": "retry-load-rejecting", "api": "analytics", "duration": 10 + duration, "warmup": 10,
        "service": {"workers": 10_000, "operations": {"op": {"latency": {"constant": 0.001}}}},
        "faults": {"background": {"ANALYTICS_2000": r}},
        "clients": {"arrival": {"poisson": {"rate": RATE}}, "clients_per_tenant": CLIENTS},
        "strategies": {
            "cap-3": {"retry": CAP3},
            # Retries ≤ 10% of each client's requests over 10 s, no floor (the SRE book's per-client budget).
            "budget-10pct": {"retry": CAP3, "guards": {"ratio": {"percent": 0.1, "ttl": TTL, "min_per_s": 0},
                                                       "scope": "client"}},
            # The same with Finagle's default floor of 10 retries/s per budget.
            "budget-finagle-floor": {"retry": CAP3, "guards": {"ratio": {"percent": 0.1, "ttl": TTL},
                                                               "scope": "client"}},
        },
    })


@pytest.mark.parametrize("r", [0.5, 0.9, 0.99])
def test_a_retry_budget_caps_the_load_a_rejecting_backend_sees(r, record, scale):
    res = simulate(_rejecting(r, 20 * scale), seed=70)
    summ = res.summary()

    # 3-attempt cap: attempts per request are 1, 2, 3 with probabilities 1 − r, r(1 − r), r².
    s = summ.loc["cap-3"]
    expected = 1 + r + r * r
    var = (1 * (1 - r) + 4 * r * (1 - r) + 9 * r * r) - expected ** 2
    assert record(f"3-attempt cap, backend rejecting r={r}: load (× requests)", "Brooker 2022: 1 + r + r²",
                  expected, s["amplification"], Z * math.sqrt(var / s["requests"]))

    # A 10% budget per client binds (r > 0.1): retries ≤ 0.1·requests over each 10 s. Without a floor the
    # clients want retries (≥ r·10 = 5/s each) faster than the budget frees them (1/s of deposits + 1/s of aged-out
    # retries), so at most about one retry's worth is left unspent and the load lies in
    # [1.1 − 1/(λ_c·ttl), 1.1] = [1.09, 1.1]. Its noise comes from the counts: the floor's fixed min_per_s·T
    # retries are divided by a Poisson number of requests R (relative SD 1/√R), and the retries of the first
    # and last ttl are funded by requests outside the period (0.1 × a Poisson count of λ·ttl at each end).
    for name, min_per_s, label in (("budget-10pct", 0.0, "10% per-client retry budget"),
                                   ("budget-finagle-floor", 10.0, "10% budget + Finagle floor 10 retries/s")):
        lo, hi = theory.ratio_budget_load(0.1, min_per_s, TTL, PER_CLIENT)
        if hi >= expected:
            continue  # the budget allows more than the cap ever asks for: it does not bind
        n = summ.loc[name, "requests"]
        se = (min_per_s / PER_CLIENT) / math.sqrt(n) + 0.1 * math.sqrt(2 * RATE * TTL) / n
        load = summ.loc[name, "amplification"]
        if min_per_s == 0:
            assert record(f"{label}, r={r}: load (× requests)", "SRE ch. 21: ≈ 1.1× (1 + 0.1 − unspent)",
                          (lo + hi) / 2, load, (hi - lo) / 2 + Z * se)
        else:
            # With the floor the budget frees 11 retries/s against ~17 wanted: more stays unspent at times
            # (docs/validation.md), so only the budget's guarantee, the upper bound, is checked.
            assert record(f"{label}, r={r}: load (× requests)", "budget bound 1 + 0.1 + floor/λ_c",
                          f"≤ {hi:.3g}", load, f"+{Z * se:.2g}", ok=load <= hi + Z * se)


def _accepting(accepts: float, window: float, duration: float, scope: str = "client"):
    # Clients want RATE per second; the backend accepts `accepts` per second (a token bucket answering 429)
    # and has workers to spare, so an accept is decided by the limiter alone.
    guards = {"throttle": {"k": 2, "window": window}, "scope": scope}
    return load_scenario({
        "name": "throttle-backend-load", "api": "analytics", "duration": window + 10 + duration,
        "warmup": window + 10,
        "service": {"workers": 10_000, "operations": {"op": {"latency": {"constant": 0.001}}},
                    "rate_limit": {"token_bucket": {"rate": accepts, "burst": 10}}},
        "clients": {"arrival": {"poisson": {"rate": RATE}}, "clients_per_tenant": CLIENTS},
        "strategies": {"throttle": {"retry": "none", "guards": guards}},
    })


@pytest.mark.parametrize("window", [120.0, 10.0])
def test_adaptive_throttling_lets_about_twice_the_accepts_through(window, record, scale):
    A = 100.0
    sc = _accepting(A, window, 60 * scale)
    res = simulate(sc, seed=71)
    t0, t1 = sc.warmup, sc.duration
    att = res.attempts
    att = att[(att["start"] >= t0) & (att["start"] < t1)]
    n_req = int(((res.requests["start"] >= t0) & (res.requests["start"] < t1)).sum())
    accepts = float((att["status"] == 200).sum()) / (t1 - t0)
    sent = np.bincount(((att["start"] - t0)).astype(int), minlength=int(t1 - t0))  # attempts per second
    mean, se = batch_means(sent)
    expected = theory.throttle_backend_load(n_req / (t1 - t0), accepts, 2.0, window, CLIENTS)
    assert record(f"adaptive throttling K=2, W={window:g} s, 100 clients: backend load (attempts/s), A={accepts:.0f}/s",
                  "SRE ch. 21: ≈ 2·A; λ_c(K·A·W + n)/(λ_c·W + 1)", expected, mean, Z * se)


def test_local_rejections_follow_the_sre_formula(record, scale):
    # One throttle (K = 2, W = 10 s) in front of a backend accepting 100/s; the offered load steps
    # 150 → 300 → 600 → 1200 → 150 per second so p sweeps from 0 to ~0.85 and back. For every request,
    # p is recomputed from the run's records alone (attempt results and local refusals in the 10 s before
    # it) and its refusal compared with a Bernoulli(p) draw: within each band of p, refusals ~ Σ p ± Z·√Σp(1−p).
    K, W, step = 2.0, 10.0, 20.0 * scale
    rates = [300, 600, 1200, 150]
    sc = load_scenario({
        "name": "throttle-formula", "api": "analytics", "duration": step * (len(rates) + 1), "warmup": 0,
        "service": {"workers": 10_000, "operations": {"op": {"latency": {"constant": 0.001}}},
                    "rate_limit": {"token_bucket": {"rate": 100, "burst": 10}}},
        "clients": {"arrival": {"poisson": {"rate": 150, "changes": [
            {"start": step * (i + 1), "duration": step, "rate": r} for i, r in enumerate(rates)]}}},
        "strategies": {"throttle": {"retry": "none", "guards": {"throttle": {"k": K, "window": W}}}},
    })
    res = simulate(sc, seed=72)
    req = res.requests.sort_values("start")
    att = res.attempts
    t = req["start"].to_numpy()
    refused = ((req["outcome"] == "shed") & (req["attempts"] == 0)).to_numpy()
    # What the throttle counts: every attempt's result (at its end) and every local refusal (at its time).
    events = np.sort(np.concatenate([att["end"].to_numpy(), t[refused]]))
    accepts = np.sort(att.loc[att["status"] == 200, "end"].to_numpy())

    def in_window(times):
        # Events in (t − W, t): the guard drops those ≤ now − W and has not yet counted this request.
        return np.searchsorted(times, t, "left") - np.searchsorted(times, t - W, "right")

    r_n, a_n = in_window(events), in_window(accepts)
    p = np.maximum(0.0, (r_n - K * a_n) / (r_n + 1.0))
    assert not refused[p == 0].any()  # p = 0: never refused
    record("throttle: refusals when the formula gives p = 0", "SRE ch. 21", 0, int(refused[p == 0].sum()), 0)
    bands = [(0.0, 0.25), (0.25, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 1.0)]
    for lo, hi in bands:
        m = (p > lo) & (p <= hi)
        n = int(m.sum())
        assert n > 200, (lo, hi, n)  # the load steps put enough requests in every band
        expected = float(p[m].mean())
        tol = Z * math.sqrt(float((p[m] * (1 - p[m])).sum())) / n
        assert record(f"throttle: refused share where p ∈ ({lo:g}, {hi:g}] ({n} requests)",
                      "SRE ch. 21: max(0, (req − K·acc)/(req + 1))", expected, float(refused[m].mean()), tol)
    # All together, weighted as they came.
    m = p > 0
    tol = Z * math.sqrt(float((p[m] * (1 - p[m])).sum()))
    assert record("throttle: local refusals, all requests with p > 0", "Σ p over requests", float(p[m].sum()),
                  int(refused[m].sum()), tol)
