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


def _mmc(rate=100.0, mean=0.05, workers=8, duration=220, incidents=(), api_workers=200):
    # Clients (Poisson, `rate`/s) → an API of 200 workers (1 ms) → one call each to a database of `workers`
    # exponential servers (E[S] = `mean`), no queue limit, no errors: the database is M/M/c.
    return {"name": "mmc", "api": "analytics", "duration": duration, "warmup": 20,
            "service": {"workers": api_workers, "operations": {"query_metrics": {"latency": {"constant": 0.001},
                        "calls": [{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900"}]}}},
            "services": {"db": {"workers": workers, "operations": {"query": {"latency": {"exponential": {"mean": mean}}}}}},
            "faults": {"incidents": list(incidents)},
            "clients": {"arrival": {"poisson": {"rate": rate}}},
            "strategies": {"none": {"retry": "none"}}}


def test_utilisation_over_a_window_matches_m_m_c():
    # M/M/8, λ = 100/s, E[S] = 50 ms: utilisation λ·E[S]/c = 0.625. Over T = 200 s the busy worker-seconds are the
    # work of ≈ λT = 20,000 queries, a compound Poisson sum: sd = √(2λT)·E[S] = 10 s of 1,000, so utilisation has
    # sd 10 / (8 × 200) = 0.006; 4 sd = 0.025. The API's workers are held through the database's response time
    # (Erlang C) plus their own 1 ms: λ·(E[R] + 0.001)/200 = 0.0269, sd ≈ √(2λT)·E[R] / (200 T) ≈ 0.0002.
    from resilsim.theory import mmc_mean_response
    t = simulate(_mmc(), seed=3).services().set_index("service")
    assert t.loc["db", "utilisation"] == pytest.approx(0.625, abs=0.025)
    assert t.loc["db", "busy_s"] == pytest.approx(t.loc["db", "utilisation"] * 8 * 200)
    api = 100 * (mmc_mean_response(100, 20, 8) + 0.001) / 200
    assert t.loc["api", "utilisation"] == pytest.approx(api, abs=4 * 0.0002)


def test_busy_time_and_utilisation_follow_the_window():
    # The database is slowed down 2× from 100 s to 160 s: its utilisation there is 2 × 0.625 = 1.25 of what it can
    # give (over 1: a queue builds; the workers are busy all the time), outside 0.625. The busy time of two
    # adjacent windows adds up to theirs together: the window's clock time, not the requests'.
    slow = {"name": "slow", "service": "db", "start": 100, "duration": 60, "slowdown": 2.0}
    r = simulate(_mmc(incidents=[slow]), seed=4)
    t = {w: r.services(window=w).set_index("service") for w in ("20,100", "100,160", "20,160", "incident:slow")}
    assert t["20,100"].loc["db", "utilisation"] == pytest.approx(0.625, abs=0.04)  # T = 80 s: sd 0.01
    assert t["incident:slow"].loc["db", "utilisation"] > 0.97
    assert t["incident:slow"].loc["db", "busy_s"] == t["100,160"].loc["db", "busy_s"]
    for svc in ("api", "db"):
        assert t["20,100"].loc[svc, "busy_s"] + t["100,160"].loc[svc, "busy_s"] == pytest.approx(
            t["20,160"].loc[svc, "busy_s"], rel=1e-12)
    assert t["20,100"].loc["db", "busy_s"] < 0.7 * t["20,160"].loc["db", "busy_s"]
    whole = r.services(window="run").set_index("service")
    assert whole.loc["db", "busy_s"] > t["20,160"].loc["db", "busy_s"]  # not the whole run's, whatever the window


def test_utilisation_is_a_sweep_column(tmp_path):
    from resilsim.sweep import sweep
    df = sweep(_mmc(duration=60), {"services.db.workers": [8, 16]}, executor="inprocess", progress=False)
    u = df.set_index("services.db.workers")["svc.db.utilisation"]
    assert u[8] == pytest.approx(0.625, abs=0.05) and u[16] == pytest.approx(0.3125, abs=0.03)


def test_the_service_timeline_has_latency_and_queueing_by_send_bin():
    # No retries and an API that never queues: each query is sent when its client request arrives, so the bins of
    # [a, b) hold the calls services(window=(a, b)) measures: their counts, mean latency and mean queue wait agree
    # exactly (weighted by the calls of each bin). The 2× slowdown (100–160 s) puts the database over its
    # capacity: a queue builds there, and the latency grows with it (the API has workers enough for the waits).
    slow = {"name": "slow", "service": "db", "start": 100, "duration": 60, "slowdown": 2.0}
    r = simulate(_mmc(incidents=[slow], api_workers=5000), seed=4)
    st = r.service_timeline()
    db = st[st["service"] == "db"].set_index("time")
    assert list(st.columns) == ["strategy", "service", "time", "attempts_rps", "mean_s", "p50_s", "p99_s", "queue_s"]
    assert st.loc[st["service"] == "api", ["mean_s", "p99_s", "queue_s"]].isna().all().all()
    for a, b in ((20, 100), (100, 160), (160, 220)):
        bins = db.loc[a:b - 1]
        n = bins["attempts_rps"] * r.scenario.bin
        row = r.services(window=(a, b)).set_index("service").loc["db"]
        assert n.sum() == row["calls"]
        assert (bins["mean_s"] * n).sum() / n.sum() == pytest.approx(row["mean_s"], rel=1e-9)
        assert (bins["queue_s"] * n).sum() / n.sum() == pytest.approx(row["queue_s"], rel=1e-9)
    before, during = db.loc[20:99], db.loc[120:159]
    assert during["queue_s"].min() > 10 * before["queue_s"].max()
    assert (during["p99_s"] >= during["p50_s"]).all() and during["p50_s"].min() > before["p99_s"].median()
    # One bin's percentiles are those of its own calls.
    logs = r._runs["none"].call_logs[0]
    in_bin = (logs["start"] >= 50) & (logs["start"] < 51)
    lat = (logs["end"] - logs["start"])[in_bin]
    assert db.loc[50.0, "p99_s"] == pytest.approx(np.percentile(lat, 99))
    assert db.loc[50.0, "p50_s"] == pytest.approx(np.median(lat))
