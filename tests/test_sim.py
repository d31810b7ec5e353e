"""The simulation core: behaviour that would break if the model were wrong."""
import hashlib
import math

import numpy as np
import pandas as pd
import pytest

from resilsim import load_scenario, simulate

from .conftest import small


def outage(**over):
    d = small(
        duration=120,
        faults={"background": {"ANALYTICS_2000": 0.02},
                "incidents": [{"start": 30, "duration": 30, "code": "ANALYTICS_1900", "rate": 0.5},
                              {"start": 70, "duration": 10, "code": "ANALYTICS_1001", "rate": 0.3}]},
        clients={"arrival": {"poisson": {"rate": 40}}, "timeout": 0.3, "deadline": 5},
        strategies={
            "none": {"retry": "none"},
            "immediate": {"retry": "immediate"},
            "docs": {"retry": "analytics-docs"},
            "jitter": {"retry": {"wait": {"exponential": {"base": 0.05, "cap": 1}}, "jitter": "full",
                                 "stop": {"attempts": 4}}},
        },
    )
    d["service"]["queue"] = {"limit": 20, "timeout": 0.2}
    d["service"]["rate_limit"] = {"token_bucket": {"rate": 45, "burst": 10}}
    d.update(over)
    return d


@pytest.fixture(scope="module")
def result():
    return simulate(load_scenario(outage()), seed=3)


def test_every_request_ends_exactly_once(result):
    r = result.requests
    assert not r.duplicated(["strategy", "request"]).any()
    assert (r["outcome"] != "incomplete").all()
    assert r["end"].notna().all() and (r["end"] >= r["start"]).all()


def test_attempts_equal_requests_plus_retries(result):
    a = result.attempts
    r = result.requests
    per_request = a.groupby(["strategy", "request"], observed=True).size()
    recorded = r.set_index(["strategy", "request"])["attempts"]
    assert per_request.reindex(recorded.index, fill_value=0).equals(recorded.astype(per_request.dtype))
    # attempt numbers are 1..n per request, in time order
    a = a.sort_values(["strategy", "request", "attempt"])
    n = a.groupby(["strategy", "request"], observed=True).cumcount() + 1
    assert (n.to_numpy() == a["attempt"].to_numpy()).all()
    assert (a.groupby(["strategy", "request"], observed=True)["start"].diff().dropna() >= 0).all()
    for name, row in result.summary().iterrows():
        assert row["amplification"] >= 1.0


def test_no_retry_after_a_never_code(result):
    # Every strategy but the naive loop, which retries everything (up to its 3 attempts).
    a = result.attempts
    naive = a["strategy"] == "immediate"
    never = a[(a["code"] == "ANALYTICS_1001") & ~naive]
    assert len(never) > 0
    last = a.groupby(["strategy", "request"], observed=True)["attempt"].max()
    idx = pd.MultiIndex.from_frame(never[["strategy", "request"]])
    assert (last.reindex(idx).to_numpy() == never["attempt"].to_numpy()).all()
    r = result.requests.set_index(["strategy", "request"]).loc[idx]
    assert (r["outcome"] == "failed").all()
    retried = a[(a["code"] == "ANALYTICS_1001") & naive & (a["attempt"] < 3)]
    later = a[naive].set_index(["request", "attempt"]).index
    assert len(retried) > 0 and all((q, n + 1) in later for q, n in zip(retried.request, retried.attempt))


def test_no_retry_strategy_makes_one_attempt(result):
    r = result.requests
    assert (r[r["strategy"] == "none"]["attempts"] == 1).all()


def test_no_attempt_starts_after_the_deadline(result):
    a = result.attempts.merge(result.requests[["strategy", "request", "start"]], on=["strategy", "request"],
                              suffixes=("", "_request"))
    assert (a["start"] - a["start_request"] <= 5 + 1e-9).all()


def test_client_timeouts_end_attempts_at_the_timeout(result):
    a = result.attempts
    t = a[a["code"] == "TIMEOUT"]
    assert len(t) > 0
    assert np.allclose(t["end"] - t["start"], 0.3)


def test_strategies_share_arrivals(result):
    r = result.requests
    starts = [r[r["strategy"] == s]["start"].to_numpy() for s in result.strategies]
    for s in starts[1:]:
        assert np.array_equal(s, starts[0])


def test_rate_limiter_answers_with_retry_after_code(result):
    a = result.attempts
    rl = a[a["source"] == "limiter"]
    assert len(rl) > 0 and set(rl["code"]) == {"ANALYTICS_1701"} and set(rl["status"]) == {429}
    assert (rl["end"] == rl["start"]).all()


def test_incident_errors_only_inside_the_window(result):
    a = result.attempts
    inc = a[(a["code"] == "ANALYTICS_1900")]
    assert inc["source"].eq("incident").all()
    # service starts inside [30, 60); answers come at most a service time later
    assert inc["end"].min() >= 30 and inc["start"].max() < 60


def _digest(res):
    h = hashlib.sha256()
    for df in (res.requests, res.attempts, res.timeline):
        h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def test_same_seed_same_result_bit_for_bit():
    s = load_scenario(outage(duration=90))
    assert _digest(simulate(s, seed=11)) == _digest(simulate(s, seed=11))
    assert _digest(simulate(s, seed=11)) != _digest(simulate(s, seed=12))


def test_strategies_subset_gives_the_same_rows():
    s = load_scenario(outage(duration=90))
    full = simulate(s, seed=5)
    one = simulate(s, seed=5, strategies=["jitter"])
    a = full.attempts[full.attempts["strategy"] == "jitter"].reset_index(drop=True)
    b = one.attempts.reset_index(drop=True)
    assert np.array_equal(a[["start", "end"]].to_numpy(), b[["start", "end"]].to_numpy())


def test_independent_failures_match_one_minus_p_to_the_n():
    # No capacity limit to speak of: success = 1 - p^n, mean attempts = (1 - p^n) / (1 - p).
    p, n = 0.3, 3
    d = small(duration=400, service={"workers": 1000, "operations": {"op": {"latency": {"constant": 0.01}}}},
              faults={"background": {"ANALYTICS_2000": p}},
              clients={"arrival": {"poisson": {"rate": 50}}},
              strategies={"r": {"retry": {"wait": {"fixed": 0.01}, "stop": {"attempts": n}}}})
    s = simulate(load_scenario(d), seed=1).summary().loc["r"]
    N = s["requests"]
    expect = 1 - p ** n
    tol = 4 * math.sqrt(expect * (1 - expect) / N)     # 4 standard errors
    assert abs(s["success_rate"] - expect) < tol
    mean_att = (1 - p ** n) / (1 - p)
    var = (1 * 0.7 + 4 * 0.21 + 9 * 0.09) - mean_att ** 2
    assert abs(s["mean_attempts"] - mean_att) < 4 * math.sqrt(var / N)


def test_result_html_and_repr(result):
    html = result._repr_html_()
    assert "<table" in html and "success_rate" in html and "<script" not in html
    assert "immediate" in repr(result)
