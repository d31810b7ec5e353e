"""Network hops between clients and the API (scenario ``network:``; resilsim.sim.network)."""
import math

import numpy as np
import pytest

from resilsim import load_scenario, simulate

from ..conftest import small


def _no_queue(service=None, **over):
    """A scenario where nothing queues: 1,000 workers for 50 requests/s of 50 ms."""
    d = small(duration=200, **over)
    d["service"]["workers"] = 1000
    d["service"]["operations"]["query_metrics"]["latency"] = service or {"constant": 0.05}
    return d


def _latency(result, strategy=None):
    r = result.requests
    if strategy is not None:
        r = r[r["strategy"] == strategy]
    ok = r[r["outcome"] == "success"]
    return (ok["end"] - ok["start"]).to_numpy()


def test_success_latency_grows_by_the_mean_hop_time():
    # Request hop exponential (mean 20 ms), response hop exponential (mean 30 ms), constant 50 ms service, no
    # queue: each success takes 50 ms + its two hops. The mean over n ≈ 10,000 requests is 50 + 50 ms within
    # 4 standard errors (sd of the hop sum √(0.02² + 0.03²) = 36 ms, so 4·36/√n ≈ 1.4 ms).
    net = {"latency": {"request": {"exponential": {"mean": 0.02}}, "response": {"exponential": {"mean": 0.03}}}}
    plain, hops = simulate(_no_queue(), seed=3), simulate(_no_queue(network=net), seed=3)
    lp, lh = _latency(plain), _latency(hops)
    assert np.allclose(lp, 0.05)
    n = len(lh)
    assert n > 9000 and hops.summary()["success_rate"].iloc[0] == 1.0
    tol = 4 * math.hypot(0.02, 0.03) / math.sqrt(n)
    assert abs((lh.mean() - lp.mean()) - 0.05) < tol
    # The summary reports the hops apart from queueing and service.
    s = hops.summary().iloc[0]
    assert abs(s["network_s"] - 0.05) < tol
    assert s["service_s"] == pytest.approx(0.05)
    assert s["queue_s"] == pytest.approx(0.0, abs=1e-9)
    assert "network_s" not in plain.summary().columns


def test_a_round_trip_is_split_evenly_and_hops_draw_from_their_own_stream():
    # Constant round trip of 0.1 s: every attempt takes exactly its service time + 0.1 s. The service times are
    # the same draws as without a network (the hops have their own stream; no queue keeps the start order).
    net = {"latency": {"round_trip": {"constant": 0.1}}}
    svc = {"exponential": {"mean": 0.05}}
    plain, hops = simulate(_no_queue(svc), seed=5), simulate(_no_queue(svc, network=net), seed=5)
    a, b = plain.attempts, hops.attempts
    assert len(a) == len(b)
    np.testing.assert_allclose((b["end"] - b["start"]).to_numpy(), (a["end"] - a["start"]).to_numpy() + 0.1,
                               atol=1e-9)
    np.testing.assert_array_equal(a["start"].to_numpy(), b["start"].to_numpy())
    assert hops.summary()["network_s"].iloc[0] == pytest.approx(0.1)


@pytest.mark.parametrize("timeout, timed_out", [(0.10, True), (0.12, False)])
def test_timeouts_run_from_the_send_hops_included(timeout, timed_out):
    # 30 ms there, 50 ms of service, 30 ms back: 110 ms from send to answer. A 100 ms timeout times out every
    # attempt (and the answers that come later are discarded); 120 ms times out none.
    net = {"latency": {"request": {"constant": 0.03}, "response": {"constant": 0.03}}}
    d = _no_queue(network=net)
    d["clients"]["timeout"] = timeout
    r = simulate(d, seed=1)
    out = r.requests["outcome"].value_counts()
    n = len(r.requests)
    if timed_out:
        assert out.get("success", 0) == 0 and out["failed"] == n  # never retried (strategy none): failed
        assert (r.attempts["source"] == "client_timeout").all()
        # Each answer came back after the client had given up: all the service was wasted.
        assert r.stats["none"]["wasted_s"] == pytest.approx(n * 0.05, rel=1e-3)
        assert math.isnan(r.summary()["network_s"].iloc[0])  # no attempt was answered
    else:
        assert out["success"] == n
        assert r.stats["none"]["wasted_s"] == 0


def test_deadlines_run_from_the_send_hops_included():
    net = {"latency": {"request": {"constant": 0.2}}}
    d = _no_queue(network=net)
    d["clients"]["deadline"] = 0.2
    r = simulate(d, seed=1)
    assert (r.requests["outcome"] == "deadline").all()


def test_strategies_share_the_hops():
    # Common random numbers: with no failures, retrying changes nothing, so two strategies see the same hops and
    # record the same rows; a strategy that draws jitter or guard numbers does not shift the hops.
    net = {"latency": {"request": {"lognormal": {"median": 0.02, "p99": 0.2}}, "response": {"exponential": {"mean": 0.01}}}}
    d = _no_queue(network=net, strategies={
        "none": {"retry": "none"},
        "jittered": {"retry": {"wait": {"exponential": {"base": 0.1, "cap": 5}}, "jitter": "full", "stop": {"attempts": 4}},
                     "guards": {"ratio": {"percent": 0.1}}}})
    r = simulate(d, seed=11)
    a = r.attempts
    x, y = a[a["strategy"] == "none"], a[a["strategy"] == "jittered"]
    np.testing.assert_array_equal(x["end"].to_numpy(), y["end"].to_numpy())


def test_hops_with_queueing_hedging_and_guards_keep_the_invariants():
    # Every run's rows pass resilsim.invariants (simulate checks them); queueing shows up as queue_s.
    net = {"latency": {"request": {"exponential": {"mean": 0.01}}, "response": {"gamma": {"shape": 2, "scale": 0.01}}}}
    d = small(duration=120, network=net, strategies={
        "retry": {"retry": {"wait": {"exponential": {"base": 0.05, "cap": 1}}, "jitter": "full", "stop": {"attempts": 3}},
                  "guards": {"breaker": {"minimum_calls": 20, "open_s": 2}}},
        "hedged": {"retry": "none", "hedge": {"delay": 0.1}}})
    d["service"]["workers"] = 3  # 50/s × 50 ms = 2.5 busy of 3: a queue
    d["clients"]["timeout"] = 0.5
    d["faults"] = {"background": {"ANALYTICS_2000": 0.05}}
    r = simulate(d, seed=2)
    s = r.summary()
    assert (s["queue_s"] > 0.01).all()
    assert (s["network_s"] - 0.03).abs().max() < 0.005
    assert r.guard_stats().loc["hedged", "hedges"] > 0


def test_a_scenario_without_network_is_unchanged_by_an_empty_override():
    d = small()
    assert load_scenario(d).network is None
    with pytest.raises(Exception, match="round_trip"):
        load_scenario(small(network={"latency": {}}))
