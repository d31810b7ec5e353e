"""Windows: metrics over the run, an incident or a span, for full and summary-only results, sweeps and plans;
and the limits that say why no value meets an SLO."""
import math

import numpy as np
import pandas as pd
import pytest

from resilsim import load_scenario, simulate, sweep
from resilsim.errors import ScenarioError
from resilsim.result import window_of
from resilsim.sweep import aggregate, plan
from resilsim.sweep.plan import _meets, binding_limits

from ..conftest import small


def outage(**over):
    """50 requests/s, 8 fast workers, every attempt failing with ANALYTICS_1900 for 20 s from t = 40 s."""
    d = {"duration": 100, "warmup": 10, "drain": 30,
         "faults": {"incidents": [{"name": "db-down", "start": 40, "duration": 20, "code": "ANALYTICS_1900",
                                   "rate": 1.0}]},
         "strategies": {"none": {"retry": "none"},
                        "three": {"retry": {"wait": {"fixed": 0.2}, "stop": {"attempts": 3}}}}}
    d.update(over)
    return small(**d)


def test_incident_window_measures_the_requests_arriving_during_it():
    r = simulate(outage(), seed=3)
    req = r.requests
    w = r.summary(window="incident:db-down")
    assert w.attrs["window"] == "incident db-down (40–60 s)"
    for name in ("none", "three"):
        mine = req[(req["strategy"] == name) & (req["start"] >= 40) & (req["start"] < 60)]
        assert w.at[name, "requests"] == len(mine)
        assert w.at[name, "success_rate"] == pytest.approx((mine["outcome"] == "success").mean())
    # Every attempt fails during the outage: without retries nothing succeeds; the whole run hides that.
    assert w.at["none", "success_rate"] < 0.05 < r.summary().at["none", "success_rate"] - 0.5
    # The default window is the run after the warm-up, as before windows existed.
    pd.testing.assert_frame_equal(r.summary(), r.summary(window="run"))
    assert r.summary().attrs["window"] == "run after warm-up (10–100 s)"
    assert window_of(r.scenario, "incident:1") == window_of(r.scenario, "incident:db-down")
    assert window_of(r.scenario, (40, 60)).label == "40–60 s"


def test_summary_only_windows_what_its_bins_hold_and_says_no_to_the_rest():
    full = simulate(outage(), seed=3).summary(window="incident:db-down")
    summ = simulate(outage(), seed=3, record="summary").summary(window="incident:db-down")
    # Bin-aligned window: the counts by arrival bin are the full run's exactly.
    for col in ("requests", "success_rate", "goodput_rps", "success", "peak_amplification", "recovery_s"):
        assert summ[col].tolist() == pytest.approx(full[col].tolist(), nan_ok=True), col
    # Latency percentiles, mean attempts and the other outcomes are not kept per bin.
    assert summ[["p99_s", "mean_attempts", "retries_exhausted"]].isna().all().all()
    assert summ.at["none", "amplification"] == 1.0


def test_peak_amplification_is_the_retry_storm_not_its_average():
    s = simulate(outage(), seed=3).summary()
    assert s.at["none", "peak_amplification"] == pytest.approx(1.0)
    # Three attempts per request during the outage, diluted over the whole run.
    assert s.at["three", "peak_amplification"] > 2.5 > 1.5 > s.at["three", "amplification"]


@pytest.mark.parametrize("window, message", [
    ("incident:nope", "window: 'incident:nope' names no incident of scenario 'small'; its incidents: db-down, all"),
    ("60,40", "window: '60,40' must start before it ends (START < END, seconds)"),
    ((0, 500), "window: 0–500 s lies outside the run (0–100 s)"),
    ("soon", "window: 'soon' must be 'run', 'incident:NAME', 'incident:all' or 'START,END' in seconds"),
])
def test_bad_windows_get_one_sentence(window, message):
    with pytest.raises(ScenarioError) as e:
        window_of(load_scenario(outage()), window)
    assert str(e.value) == message


def test_sweep_and_plan_measure_the_window_they_are_given():
    df = sweep(outage(), {"service.workers": [8]}, replications=2, executor="inprocess", progress=False,
               window="incident:db-down")
    assert set(df["window"]) == {"incident db-down (40–60 s)"}
    assert (df.loc[df["strategy"] == "none", "success_rate"] < 0.05).all()
    p = plan(outage(), vary="service.workers", over=(8, 12), slo={"success_rate": ">=0.99"}, replications=2,
             executor="inprocess", window="incident:db-down")
    assert p.answers == {"none": None, "three": None}
    assert "over incident db-down (40–60 s)" in str(p)
    # Why not: the arithmetic of the attempt cap against a total outage.
    assert "1 attempt (the strategy does not retry ANALYTICS_1900)" in p.limits["none"][0]
    assert "3 attempts (the strategy's stop) against 100% of attempts failing" in p.limits["three"][0]
    assert "why not:" in str(p)


def test_a_run_that_never_recovers_fails_a_recovery_slo():
    rows = pd.DataFrame({"point": 0, "strategy": "x", "replication": [0, 1, 2], "error": "",
                         "recovery_s": [3.0, 4.0, np.nan]})
    agg = aggregate(rows).iloc[0]
    assert agg["recovery_s_never"] == 1 and agg["recovery_s_ci_high"] == math.inf
    assert not _meets(agg, {"recovery_s": ("<=", 1000.0)})


# ---------------------------------------------------------------- why not: each bound where it binds

def test_attempt_cap_against_the_incident_failure_rate():
    s = load_scenario(outage(faults={"incidents": [{"name": "flaky", "start": 40, "duration": 20,
                                                    "code": "ANALYTICS_1900", "rate": 0.6}]}))
    found = binding_limits(s, "three", "incident:flaky", 0.99)
    assert len(found) == 1 and "at about 0.784 (1 − 0.6^3)" in found[0]
    assert binding_limits(s, "three", "incident:flaky", 0.75) == []  # 0.784 does not bind an SLO of 0.75
    # Over a window the incident covers only part of, the formula shows that part: 20 s of 40–80 s is half.
    found = binding_limits(s, "three", "40,80", 0.99)
    assert len(found) == 1 and "at about 0.892 (1 − 0.50 × 0.6^3)" in found[0], found


def test_deadline_against_the_backoff_schedule():
    # Waits of 10 s: attempts at 0, 10 and 20 s fit a 25 s deadline, the 10 the stop allows do not.
    s = load_scenario(outage(clients={"arrival": {"poisson": {"rate": 50}}, "timeout": 2, "deadline": 25},
                             faults={"incidents": [{"name": "flaky", "start": 40, "duration": 20,
                                                    "code": "ANALYTICS_1900", "rate": 0.5}]},
                             strategies={"slow": {"retry": {"wait": {"fixed": 10}, "stop": {"attempts": 10}}}}))
    found = binding_limits(s, "slow", "incident:flaky", 0.95)
    assert found and found[0].startswith("the deadline of 25.0 s fits at most 3 attempts of the backoff schedule")
    assert "0.875" in found[0]


def test_rate_limit_against_offered_load():
    s = load_scenario(outage(service={"workers": 8, "rate_limit": {"token_bucket": {"rate": 40, "burst": 40}},
                                      "operations": {"query_metrics": {}}}, faults={}))
    found = binding_limits(s, "none", None, 0.9)
    assert found == ["the rate limit of 40 attempts/s against 50 requests/s offered caps success at 0.8, "
                     "below the SLO's 0.9"]


def test_quota_against_offered_load():
    s = load_scenario(outage(service={"workers": 8, "operations": {"query_metrics": {}},
                                      "quota": {"period": 60, "tiers": {"free": 600}}},
                             clients={"arrival": {"poisson": {"rate": 50}}, "tenants": {"free": 3}}, faults={}))
    found = binding_limits(s, "none", None, 0.9)
    assert len(found) == 1 and "quota (30 requests/s" in found[0] and "caps success at 0.6" in found[0]


def test_a_bound_the_simulation_got_past_explains_nothing():
    s = load_scenario(outage(faults={"incidents": [{"name": "flaky", "start": 40, "duration": 20,
                                                    "code": "ANALYTICS_1900", "rate": 0.6}]}))
    assert binding_limits(s, "three", "incident:flaky", 0.99, reached=0.78)  # at the bound 0.784: it binds
    assert binding_limits(s, "three", "incident:flaky", 0.99, reached=0.85) == []
