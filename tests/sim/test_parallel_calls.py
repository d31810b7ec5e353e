"""Parallel calls that wait for the first success (``parallel: first``) or a quorum (``parallel: k``)."""
import math
import re

import pytest

from resilsim import load_scenario, simulate
from resilsim.errors import ScenarioError

from .test_calls import db, rows, scenario


def _race(mode, cache_error=0.0, db_error=0.0):
    # db (50 ms) and cache (20 ms) at once, waiting as ``mode`` says, then wallet (10 ms), then 1 ms of its own.
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900", "parallel": mode},
                            {"service": "cache", "operation": "query", "on_failure": "ANALYTICS_1804",
                             "parallel": mode},
                            {"service": "wallet", "operation": "query", "on_failure": "ANALYTICS_1802"}],
                 services={"db": db(latency=0.05, error_rate=db_error), "cache": db(latency=0.02, error_rate=cache_error),
                           "wallet": db(latency=0.01)}, rate=2)
    r = simulate(s, seed=1)
    return r, rows(r), (r.requests["end"] - r.requests["start"]).round(6)


def test_first_goes_on_at_the_first_success_and_the_slower_call_runs_on_unwaited():
    r, t, latency = _race("first")
    n = t.loc["api", "calls"]
    assert latency.eq(0.031).all()                      # the cache's 20 ms, not the database's 50
    assert t.loc["db", "calls_ok"] == n                 # the database call still ran (no cancellation)
    assert (r.requests["outcome"] == "success").all()
    # The cache fails: the database's success is the first, at 50 ms.
    r, t, latency = _race("first", cache_error=1.0)
    assert latency.eq(0.061).all() and (r.requests["outcome"] == "success").all()
    # Both fail: the group fails when the last one does, with that call's code (the database's, at 50 ms).
    r, t, latency = _race("first", cache_error=1.0, db_error=1.0)
    assert latency.eq(0.05).all() and set(r.attempts["code"]) == {"ANALYTICS_1900"}
    assert t.loc["wallet", "calls"] == 0
    # Waiting for all (true) fails at the first failure, the cache's, at 20 ms.
    r, t, latency = _race(True, cache_error=1.0)
    assert latency.eq(0.02).all() and set(r.attempts["code"]) == {"ANALYTICS_1804"}


@pytest.mark.parametrize("mode,k", [(True, 3), (2, 2), ("first", 1)])
def test_a_quorum_of_k_of_3_succeeds_with_the_binomial_probability(mode, k):
    # 3 copies, each failing independently with p = 0.3: the operation succeeds when at least k succeed,
    # P = Σ_{j ≥ k} C(3, j) 0.7^j 0.3^(3−j) (0.343, 0.784, 0.973). Tolerance: 4 binomial standard errors.
    s = scenario(api_calls=[{"service": "replica", "operation": "query", "on_failure": "ANALYTICS_1900",
                             "parallel": mode, "count": 3}],
                 services={"replica": db(error_rate=0.3)}, rate=40, duration=100)
    r = simulate(s, seed=4)
    t = rows(r)
    n = int(t.loc["api", "calls"])
    assert t.loc["replica", "calls"] == 3 * n                       # every copy is made, waited for or not
    p = sum(math.comb(3, j) * 0.7 ** j * 0.3 ** (3 - j) for j in range(k, 4))
    success = float(r.summary()["success_rate"].iloc[0])
    assert abs(success - p) <= 4 * math.sqrt(p * (1 - p) / n), (mode, success, p)
    assert abs(t.loc["replica", "calls_ok"] / (3 * n) - 0.7) <= 4 * math.sqrt(0.21 / (3 * n))


def test_a_quorum_waits_for_its_kth_success():
    # Three replicas of 10, 30 and 50 ms at once: a quorum of 2 answers at 30 ms (+ 1 ms of the API's own), one of
    # 1 at 10 ms, all of them at 50 ms.
    base = {"service": "r{}", "operation": "query", "on_failure": "ANALYTICS_1900"}
    for mode, expected in [(2, 0.031), ("first", 0.011), (True, 0.051), (3, 0.051)]:
        calls = [{**base, "service": f"r{i}", "parallel": mode} for i in range(3)]
        s = scenario(api_calls=calls, services={f"r{i}": db(latency=lat) for i, lat in enumerate((0.01, 0.03, 0.05))},
                     rate=2)
        r = simulate(s, seed=1)
        assert (r.requests["end"] - r.requests["start"]).round(6).eq(expected).all(), mode


@pytest.mark.parametrize("calls,message", [
    ([{"parallel": "first"}, {"parallel": True}],
     "calls[1].parallel: a parallel group waits in one way; give the same parallel as calls[0] ('first') or start a "
     "new group after a call without it"),
    ([{"parallel": 1}, {"parallel": True}], "calls[1].parallel: a parallel group waits in one way"),
    ([{"parallel": 3}, {"parallel": 3}], "calls[0].parallel: a quorum of 3 can never be met by a group of 2 calls; "
                                         "give at most 2"),
    ([{"parallel": 0}], "calls[0].parallel: give true (wait for all), first (the first success), a number of "
                        "successes to wait for (a quorum, at least 1) or false"),
    ([{"parallel": "all"}], "calls[0].parallel: give true (wait for all)"),
])
def test_bad_parallel_groups_are_refused_in_one_sentence(calls, message):
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900", **c} for c in calls],
                 services={"db": db()})
    with pytest.raises(ScenarioError, match=re.escape(message)):
        load_scenario(s)


def test_a_quorum_counts_copies_and_two_groups_apart_wait_apart():
    # count 3 with a quorum of 3: accepted (3 copies); a plain call between two groups separates them.
    load_scenario(scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900",
                                       "parallel": 3, "count": 3}], services={"db": db()}))
    calls = [{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900", "parallel": "first"},
             {"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900"},
             {"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900", "parallel": True}]
    t = rows(simulate(scenario(api_calls=calls, services={"db": db()}), seed=1))
    assert t.loc["db", "calls"] == 3 * t.loc["api", "calls"]
