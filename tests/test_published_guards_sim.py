"""The published experiments' guards and probabilistic retry, through the simulation (YAML → objects → runs).

A service that fails half of all attempts at random (background DATABASE_ERROR, advice "retry"), no
timeouts, as in Brooker's retry_sim: the bounds come from each guard's arithmetic, with tolerances from
the number of requests (about 6,000).
"""
import pytest

from resilsim import load_scenario, simulate
from resilsim.policies import guards as G
from resilsim.scenario import build_strategy

from .conftest import small

FAIL = 0.5
IMMEDIATE = {"wait": {"none": True}}


@pytest.fixture(scope="module")
def half_failing():
    d = small(duration=60, drain=10, faults={"background": {"ANALYTICS_1900": FAIL}},
              clients={"arrival": {"poisson": {"rate": 100}}, "tenants": {"free": 10}, "deadline": 30},
              strategies={
                  "three-retries": {"retry": {**IMMEDIATE, "stop": {"attempts": 4}}},
                  "bucket": {"retry": IMMEDIATE, "guards": {"scope": "client", "retry_token_bucket": {}}},
                  "breaker": {"retry": {**IMMEDIATE, "stop": {"attempts": 4}},
                              "guards": {"scope": "client", "retry_ratio_breaker": {"max_failure_rate": 0.1}}},
                  "p-half": {"retry": {**IMMEDIATE, "retry_probability": 0.5}},
              })
    d["service"]["workers"] = 64
    return simulate(load_scenario(d), seed=3)


def _amplification(res, name):
    return res.summary().loc[name, "amplification"]


def test_guard_kinds_map_onto_the_posts_classes():
    made = build_strategy({"retry": "immediate", "guards": {
        "retry_token_bucket": {"capacity": 7, "deposit": 0.2, "cost": 2},
        "retry_ratio_breaker": {"max_failure_rate": 0.3},
        "breaker": {"retry_only": True}}}, "x").make_guards()
    assert [type(g) for g in made] == [G.RetryCircuitBreaker, G.RetryTokenBucket, G.CircuitBreaker]
    rb, tb, b = made
    assert (tb.capacity, tb.deposit_per_call, tb.cost, rb.max_failure_rate, b.retry_only) == (7, 0.2, 2, 0.3, True)


def test_each_guard_limits_retries_as_its_arithmetic_says(half_failing):
    res = half_failing
    requests = res.summary().loc["bucket", "requests"]
    # Three retries: 1 + p + p² + p³ attempts per request.
    assert _amplification(res, "three-retries") == pytest.approx(1 + FAIL + FAIL ** 2 + FAIL ** 3, rel=0.03)
    # The bucket: 0.1 retry per request, plus the 4 each of the 10 clients' full buckets give at the start.
    retries = _amplification(res, "bucket") * requests - requests
    assert retries == pytest.approx(0.1 * requests + 4 * 10, abs=5)
    # The cumulative breaker: failures per request stay near 10% once above it, each client apart, so
    # retries are rare: the failed first tries alone (50%) keep the ratio above the threshold.
    assert _amplification(res, "breaker") < 1.01
    # p = 0.5 with no cap: each failure retried with probability 1/2, so 1 / (1 − 0.5 × 0.5) attempts.
    assert _amplification(res, "p-half") == pytest.approx(1 / (1 - FAIL * 0.5), rel=0.03)
    s = res.summary()
    # A retry the draw refuses ends the request as retries_exhausted (failed before any retry); a guard's refusal ends it as shed.
    assert s.loc["p-half", "retries_exhausted"] > 0 and s.loc["p-half", "shed"] == 0
    assert s.loc["bucket", "shed"] > 0 and s.loc["breaker", "shed"] > 0


def test_retry_token_bucket_tokens_reach_the_timeline(half_failing):
    tl = half_failing.timeline
    tokens = tl[tl["strategy"] == "bucket"]["budget_tokens"].to_numpy()
    # NaN at 0 s (no client has a bucket yet); then they run dry and stay near the cost of one retry.
    assert tokens[1:].max() <= 5 and tokens[10:].mean() < 1.2
