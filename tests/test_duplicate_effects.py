"""Retry safety: served attempts of a non-idempotent request beyond its first are counted as duplicate side effects.

The counts are checked against arithmetic on the attempt rows, on scenarios built so that the answer
is known: a constant service time longer than the client's attempt timeout makes every attempt
abandoned yet served, so a request's duplicates are its attempts minus one.
"""
import numpy as np
import pytest

import resilsim


def scenario(idempotent=False, latency=None, timeout=0.5, strategies=None, workers=400):
    return resilsim.load_scenario({
        "name": "dups", "api": "counters", "duration": 60, "warmup": 0, "drain": 30,
        "service": {"workers": workers, "operations": {
            "increment": {"weight": 0.7, "idempotent": idempotent, "latency": latency or {"constant": 1.0}},
            "get_counter": {"weight": 0.3, "latency": latency or {"constant": 1.0}}}},
        "clients": {"arrival": {"poisson": {"rate": 20}}, "timeout": timeout, "deadline": 30},
        "strategies": strategies or {
            "three": {"retry": {"wait": {"fixed": 0.1}, "stop": {"attempts": 3}}},
            "none": {"retry": "none"},
            "urllib3": {"retry": "urllib3"}}})


def test_every_attempt_abandoned_but_served_counts_attempts_minus_one():
    r = resilsim.simulate(scenario(), seed=2)
    s = r.summary()
    req = r.requests
    inc = req[req.operation == "increment"]
    # Every attempt times out (0.5 s < 1 s of service) and every one is served: nothing fails at the server.
    assert (r.attempts.code == "TIMEOUT").all()
    # urllib3 retries no POST (a non-idempotent operation): no duplicates; its GETs are retried 3 times
    for name, per_request in (("three", 2), ("none", 0), ("urllib3", 0)):
        n = (inc.strategy == name).sum()
        assert (inc[inc.strategy == name].attempts == per_request + 1).all()
        assert s.loc[name, "duplicate_effects"] == per_request * n, name
    # get_counter is idempotent: its retries are no duplicates
    assert (req[(req.operation == "get_counter") & (req.strategy == "three")].attempts == 3).all()
    assert (req[(req.operation == "get_counter") & (req.strategy == "urllib3")].attempts == 4).all()


def test_urllib3_adapter_asks_urllib3_about_the_non_idempotent_operation():
    pytest.importorskip("urllib3")
    st = {"default": {"retry": {"urllib3": {"total": 2}}},
          "post-allowed": {"retry": {"urllib3": {"total": 2, "allowed_methods": ["GET", "POST"]}}}}
    r = resilsim.simulate(scenario(strategies=st), seed=2)
    req, s = r.requests, r.summary()
    inc = req[req.operation == "increment"]
    assert (inc[inc.strategy == "default"].attempts == 1).all() and s.loc["default", "duplicate_effects"] == 0
    n = (inc.strategy == "post-allowed").sum()
    assert (inc[inc.strategy == "post-allowed"].attempts == 3).all()
    assert s.loc["post-allowed", "duplicate_effects"] == 2 * n


def test_only_served_attempts_count():
    # Lognormal service times around the timeout: some attempts answered, some abandoned; a busy service
    # with a queue; faults refuse some. Count served attempts per request from the rows and compare.
    lat = {"lognormal": {"median": 0.4, "p99": 2.0}}
    st = {"five": {"retry": {"wait": {"fixed": 0.05}, "stop": {"attempts": 5}}}}
    s = scenario(latency=lat, strategies=st, workers=6)
    r = resilsim.simulate(s, seed=7)
    dups = int(r.summary().loc["five", "duplicate_effects"])
    a, req = r.attempts, r.requests
    inc_ids = set(req[req.operation == "increment"].request)
    # A served attempt answered OK, or was abandoned (TIMEOUT) and completed at the server later. The rows hold the
    # server's completion only for answered ones, so recompute with the service's own counter off and on:
    ok = a[(a.code == "OK") & a.request.isin(inc_ids)].groupby("request").size()
    assert dups >= int((ok - 1).clip(lower=0).sum())  # at least the duplicates among answered attempts
    timeouts = int(((a.code == "TIMEOUT") & a.request.isin(inc_ids)).sum())
    assert dups <= int((ok - 1).clip(lower=0).sum()) + timeouts  # at most one more per abandoned attempt
    assert dups > 0


def test_idempotent_operations_add_no_column_and_change_nothing():
    st = {"three": {"retry": {"wait": {"fixed": 0.1}, "stop": {"attempts": 3}}}}
    a = resilsim.simulate(scenario(idempotent=True, strategies=st), seed=3)
    b = resilsim.simulate(scenario(idempotent=False, strategies=st), seed=3)
    assert "duplicate_effects" not in a.summary().columns and "duplicate_effects" not in a.stats["three"]
    assert b.summary().loc["three", "duplicate_effects"] > 0
    cols = ["request", "start", "end", "attempts", "code", "outcome"]
    assert np.array_equal(a.requests[cols].to_numpy(), b.requests[cols].to_numpy())


@pytest.mark.parametrize("record", ["summary"])
def test_summary_only_runs_count_the_same(record):
    s = scenario(strategies={"three": {"retry": {"wait": {"fixed": 0.1}, "stop": {"attempts": 3}}}})
    full = resilsim.simulate(s, seed=2).summary()
    small = resilsim.simulate(s, seed=2, record=record).summary()
    assert small.loc["three", "duplicate_effects"] == full.loc["three", "duplicate_effects"] > 0


def test_error_answers_are_no_side_effect():
    # No client timeout: every retry follows an error the server answered without doing the work, so each
    # request has at most one served attempt (its success) and there is no duplicate, however many retries.
    s = scenario(timeout=None, latency={"constant": 0.05},
                 strategies={"five": {"retry": {"wait": {"fixed": 0.05}, "stop": {"attempts": 5}}}})
    d = s.model_dump()
    d["faults"] = {"background": {"-1000": 0.4}}
    r = resilsim.simulate(resilsim.load_scenario(d), seed=1)
    assert r.summary().loc["five", "amplification"] > 1.4
    assert r.summary().loc["five", "duplicate_effects"] == 0


def test_sweeps_and_reports_carry_the_column():
    import pandas as pd

    from resilsim.report import KEY_COLUMNS
    from resilsim.sweep.stats import aggregate
    s = scenario(strategies={"three": {"retry": {"wait": {"fixed": 0.1}, "stop": {"attempts": 3}}}})
    rows = []
    for seed in (1, 2):
        df = resilsim.simulate(s, seed=seed, record="summary").summary().reset_index()
        rows.append(df.assign(point=0, replication=seed))
    agg = aggregate(pd.concat(rows, ignore_index=True))
    both = [r["duplicate_effects"] for r in rows]
    assert agg["duplicate_effects"].iloc[0] == pytest.approx((both[0].iloc[0] + both[1].iloc[0]) / 2)
    assert "duplicate_effects" in KEY_COLUMNS
