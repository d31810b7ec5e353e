"""The shipped Brooker retry_sim scenarios (scenarios/published/) against the closed forms of his setup.

Issue 16, item 3 (results table item 11). Each attempt fails independently with probability p, the
server has no capacity limit, 100 clients. What tests/validation/test_guards.py (retry load at
f ∈ {0, 0.1, 0.3, 0.5, 1}, built in code) and tests/test_published_guards_sim.py (each guard's arithmetic
at p = 0.5, 10 clients) already hold is not repeated: this file runs the scenario files users get, at
the failure rates of docs/published.md, and adds what those tests leave out: the token bucket's bound
at every rate, the breaker on both sides of its threshold, and the serial (closed-loop) clients'
request rate, a renewal-reward closed form. Tolerances: Z standard errors of the sample at hand.
"""
import math
from pathlib import Path

import pytest
import yaml

from resilsim import load_scenario, simulate

from .conftest import Z

pytestmark = pytest.mark.validation

PUBLISHED = Path(__file__).resolve().parents[2] / "scenarios" / "published"
CODE = "ANALYTICS_1900"
CLIENTS = 100
CAPACITY, DEPOSIT = 5.0, 0.1


def _run(name: str, p: float, seed: int, scale: int):
    data = yaml.safe_load((PUBLISHED / name).read_text())
    data["faults"]["background"] = {CODE: p}
    data["duration"] = data["duration"] * scale
    return simulate(load_scenario(data), seed=seed)


def _attempt_law(p: float, n: int) -> list[float]:
    """P(A = a) for a = 1..n: attempts of a request retried at once up to n attempts, failures i.i.d. p."""
    return [p ** (a - 1) * (1 - p) for a in range(1, n)] + [p ** (n - 1)]


@pytest.mark.parametrize("p", [0.01, 0.1, 0.3, 0.5])
def test_open_clients_follow_the_closed_forms(p, record, scale):
    res = _run("brooker-retry-sim.yaml", p, seed=160 + int(p * 100), scale=scale)
    s = res.summary()
    R = s.loc["no_retries", "requests"]  # every strategy sees the same arrivals

    # No retries: one attempt each, success 1 − p (binomial).
    assert s.loc["no_retries", "amplification"] == 1.0
    assert record(f"Brooker open, p={p}: no retries, success", "1 − p", 1 - p,
                  s.loc["no_retries", "success_rate"], Z * math.sqrt(p * (1 - p) / R))

    # Three retries: E[A] = (1 − p⁴)/(1 − p), success 1 − p⁴; SE from the law of A.
    law = _attempt_law(p, 4)
    mean = sum(a * q for a, q in enumerate(law, 1))
    var = sum(a * a * q for a, q in enumerate(law, 1)) - mean ** 2
    assert mean == pytest.approx((1 - p ** 4) / (1 - p))
    amp3 = s.loc["three_retries", "amplification"]
    assert record(f"Brooker open, p={p}: three retries, load (× requests)", "(1 − p⁴)/(1 − p)", mean, amp3,
                  Z * math.sqrt(var / R))
    assert record(f"Brooker open, p={p}: three retries, success", "1 − p⁴", 1 - p ** 4,
                  s.loc["three_retries", "success_rate"], Z * math.sqrt(p ** 4 * (1 - p ** 4) / R) + 1e-12)

    # Token bucket, one per client: it starts full at 5 and gains 0.1 per first try (never above 5); a retry
    # needs more than 1 and takes 1, leaving the bucket above 0. Tokens are conserved, so retries =
    # 5·clients + 0.1·R − (deposits lost at the cap) − (tokens left at the end) ≤ 5·clients + 0.1·R, whatever
    # p (a hard bound: no tolerance). Once p/(1 − p) > 0.1 the bucket binds: each client ends with about a
    # token or less and loses little at the cap, so the retries lie within clients·1 of the bound (checked
    # where p ≥ 0.3, where the bucket is dry nearly always).
    retries = (s.loc["adaptive_10pct", "amplification"] - 1) * R
    bound = DEPOSIT * R + CAPACITY * CLIENTS
    assert record(f"Brooker open, p={p}: token bucket, retries", "≤ 0.1·requests + 5·clients", f"≤ {bound:.0f}",
                  retries, "bound", ok=retries <= bound + 1e-6)
    if p >= 0.3:
        assert record(f"Brooker open, p={p}: token bucket binds, retries", "0.1·requests + 5·clients − ≤ 1 per client",
                      bound - CLIENTS / 2, retries, CLIENTS / 2)

    # Retry breaker (failures ÷ first tries since the start > 0.1 refuses retries, per client). Below the
    # threshold (failures per request p(1 − p⁴)/(1 − p) ≪ 0.1) it lets the three retries through but for a
    # client's first few calls (a failure among its first 9 calls puts the ratio above 0.1): the load
    # lies between no retries' and three retries'. Well above it (p ≥ 0.3: first tries alone fail at
    # p > 0.1) it refuses nearly every retry: load → 1, success → 1 − p.
    amp_b = s.loc["breaker_10pct", "amplification"]
    if p <= 0.01:
        refused = CLIENTS * 9 * p  # at most: failed first tries among each client's first 9 calls
        assert record(f"Brooker open, p={p}: retry breaker below threshold, load", "three retries' − early refusals",
                      amp3, amp_b, refused / R + Z * math.sqrt(var / R))
    if p >= 0.3:
        assert record(f"Brooker open, p={p}: retry breaker above threshold, load", "→ 1 (retries refused)", 1.0,
                      amp_b, 0.005)
        assert record(f"Brooker open, p={p}: retry breaker above threshold, success", "→ 1 − p", 1 - p,
                      s.loc["breaker_10pct", "success_rate"], Z * math.sqrt(p * (1 - p) / R) + (amp_b - 1))


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_serial_clients_follow_renewal_reward(p, record, scale):
    """100 users, each a renewal process (the server never queues): think Exp(0.1 s), then a request of
    A attempts (law above), each two Exp(10 ms) hops, with waits 0.1, 0.2, 0.4 s before retries 1..3.
    Requests started in [0, T) per user, the first at 0: T/μ + (σ²/μ² + 1)/2 (renewal theory), variance
    T·σ²/μ³; users are independent, so the total's SE is √(users·T·σ²/μ³)."""
    res = _run("brooker-retry-sim-serial.yaml", p, seed=170 + int(p * 100), scale=scale)
    s = res.summary().loc["three_retries_100_serial"]
    sc = res.scenario
    T, users, think, hop = sc.duration, sc.clients.closed.users, 0.1, 0.01
    waits = [0.0, 0.1, 0.3, 0.7]  # total backoff before a request's a-th attempt: 0, 0.1, 0.1+0.2, +0.4
    law = _attempt_law(p, 4)
    # Cycle C = think + Σ hops + backoff. E and E[C²] by conditioning on A.
    mu = think + sum(q * (2 * hop * a + waits[a - 1]) for a, q in enumerate(law, 1))
    second_d = sum(q * ((2 * hop * a + waits[a - 1]) ** 2 + 2 * a * hop ** 2) for a, q in enumerate(law, 1))
    mean_d = mu - think
    var = think ** 2 + (second_d - mean_d ** 2)
    expected = users * (T / mu + (var / mu ** 2 + 1) / 2)
    se = math.sqrt(users * T * var / mu ** 3)
    assert record(f"Brooker serial, p={p}: requests sent in {T:g} s", "renewal reward, 100 users", expected,
                  s["requests"], Z * se)
    mean_a = sum(a * q for a, q in enumerate(law, 1))
    var_a = sum(a * a * q for a, q in enumerate(law, 1)) - mean_a ** 2
    assert record(f"Brooker serial, p={p}: load (× requests)", "(1 − p⁴)/(1 − p)", mean_a, s["amplification"],
                  Z * math.sqrt(var_a / s["requests"]) + 1e-12)
