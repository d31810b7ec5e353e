"""Per-service and per-edge metrics over a window (Result.services(window=...), Result.edges): calls, success,
latency as the caller sees it, queueing at the service (docs/call-graph.md, "Metrics per layer")."""
import math

import numpy as np
import pytest

from resilsim import simulate

from .test_calls import db, scenario


def _incident(rate=1.0, retry=None, duration=30, **svc):
    # The API calls a database (10 ms) once per request (or with ``retry``); an incident from 10 s to 20 s.
    call = {"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900", **(retry or {})}
    s = scenario(api_calls=[call], services={"db": db(latency=0.01, **svc)}, rate=20, duration=duration)
    s["faults"] = {"incidents": [{"name": "db-down", "service": "db", "start": 10, "duration": 10,
                                  "code": "SERVICE_ERROR", "rate": rate}]}
    return s


def test_a_window_selects_the_calls_of_the_requests_that_arrived_in_it():
    # Every query inside the outage fails, every one outside succeeds: over the incident the database's success is
    # exactly 0, before it exactly 1, and the calls of the parts add up to the whole run's.
    r = simulate(_incident(), seed=1)
    t = {w: r.services(window=w).set_index("service") for w in ("run", "incident:db-down", "0,10", "20,30")}
    inc, before = t["incident:db-down"], t["0,10"]
    assert inc.loc["db", "calls"] > 100 and inc.loc["db", "success_rate"] == 0.0
    assert before.loc["db", "success_rate"] == 1.0 and t["20,30"].loc["db", "success_rate"] == 1.0
    for col in ("calls", "calls_ok", "attempts"):
        assert t["run"].loc["db", col] == inc.loc["db", col] + before.loc["db", col] + t["20,30"].loc["db", col]
    # The API's row is the summary's over the same window (requests, success, amplification).
    summ = r.summary(window="incident:db-down").loc["s"]
    assert inc.loc["api", "calls"] == summ["requests"]
    assert inc.loc["api", "success_rate"] == summ["success_rate"]
    assert inc.loc["api", "amplification"] == summ["amplification"]
    assert "db-down" in r.services(window="incident:db-down").attrs["window"]


def test_the_default_window_is_the_summarys_measurement_window():
    s = _incident()
    s["warmup"] = 10  # the warm-up is the quiet part before the outage: over the default window fewer succeed
    r = simulate(s, seed=1)
    default, run = r.services().set_index("service"), r.services(window="10,30").set_index("service")
    assert default.equals(run.loc[default.index])
    assert default.loc["api", "calls"] == r.summary().loc["s", "requests"]


def test_call_latency_includes_every_retry_as_the_caller_sees_it():
    # The database always fails in 50 ms; the API's call makes 3 attempts with no wait: every call takes 150 ms.
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900",
                             "retry": {"stop": {"attempts": 3}}}],
                 services={"db": db(latency=0.05, error_rate=1.0)}, rate=5, duration=20)
    t = simulate(s, seed=2).services().set_index("service")
    assert t.loc["db", "mean_s"] == pytest.approx(0.15, abs=1e-9)
    assert t.loc["db", "p99_s"] == pytest.approx(0.15, abs=1e-9)
    assert t.loc["db", "success_rate"] == 0.0 and t.loc["db", "amplification"] == 3.0
    assert t.loc["db", "queue_s"] == 0.0  # 1000 workers: nobody queues
    assert math.isnan(t.loc["api", "mean_s"]) and math.isnan(t.loc["api", "queue_s"])


def test_queue_wait_at_a_one_worker_service_matches_m_d_1():
    # Poisson calls (5/s) to one worker of 0.1 s each: M/D/1 at load 0.5, mean wait in queue ρS/(2(1−ρ)) = 0.05 s.
    # About 10,000 calls; the waits are correlated (busy periods): 15 % is several standard errors at this size.
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900"}],
                 services={"db": db(latency=0.1, workers=1)}, rate=5, duration=2000)
    t = simulate(s, seed=4).services().set_index("service")
    assert t.loc["db", "queue_s"] == pytest.approx(0.05, rel=0.15)
    # A call's latency is its wait plus its 0.1 s of service (no retries, nobody times out).
    assert t.loc["db", "mean_s"] == pytest.approx(t.loc["db", "queue_s"] + 0.1, rel=1e-6)


def test_queue_wait_counts_attempts_the_caller_gave_up_on():
    # One worker of 1 s on average, a call timeout of 0.2 s, 5 calls/s: the queue (limit 20) fills, the calls
    # time out (or are refused), but the queued attempts still wait until the worker takes them: seconds, far
    # more than the 0.2 s any caller waited. Counting only answered attempts would miss them.
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900", "timeout": 0.2}],
                 services={"db": {"workers": 1, "queue": {"limit": 20},
                                  "operations": {"query": {"latency": {"exponential": {"mean": 1.0}}}}}},
                 rate=5, duration=60)
    t = simulate(s, seed=4).services().set_index("service")
    assert t.loc["db", "attempt_timeouts"] > 50 and t.loc["db", "success_rate"] < 0.2
    assert t.loc["db", "queue_s"] > 2.0


def test_edges_split_a_service_between_its_callers_and_add_up_to_it():
    # The API calls the database directly and through a backend: two edges into db.
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900"},
                            {"service": "backend", "operation": "read", "on_failure": "ANALYTICS_1900"}],
                 services={"db": db(error_rate=0.2),
                           "backend": {"workers": 100, "operations": {"read": {
                               "latency": {"constant": 0.001},
                               "calls": [{"service": "db", "operation": "query", "retry": {"stop": {"attempts": 2}}}]}}}},
                 rate=20, duration=20)
    r = simulate(s, seed=5)
    e = r.edges().set_index("edge")
    assert list(e.index) == ["api.query_metrics→db.query", "api.query_metrics→backend.read", "backend.read→db.query"]
    assert list(e["caller"]) == ["api", "api", "backend"]
    t = r.services().set_index("service")
    into_db = e[e["service"] == "db"]
    for col in ("calls", "calls_ok", "attempts", "attempt_timeouts"):
        assert into_db[col].sum() == t.loc["db", col]
    assert e.loc["backend.read→db.query", "attempts"] > e.loc["backend.read→db.query", "calls"]  # it retries
    assert e.loc["api.query_metrics→db.query", "attempts"] == e.loc["api.query_metrics→db.query", "calls"]


def test_without_services_there_are_no_layers_and_the_run_record_holds_nothing():
    r = simulate(scenario(), seed=1)
    assert r.services().empty and r.edges().empty
    assert all(run.call_logs == () and run.call_waits == {} for run in r._runs.values())


def test_summary_mode_gives_the_same_metrics_over_any_window():
    s = _incident(rate=0.5, retry={"retry": {"stop": {"attempts": 3}}})
    full, summ = simulate(s, seed=6), simulate(s, seed=6, record="summary")
    assert full.services().equals(summ.services())
    a, b = full.services(window="incident:db-down"), summ.services(window="incident:db-down")
    db_rows = a["service"] == "db"
    assert a[db_rows].reset_index(drop=True).equals(b[b["service"] == "db"].reset_index(drop=True))
    assert np.isfinite(a.loc[db_rows, "p99_s"]).all()
