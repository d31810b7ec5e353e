"""Services behind the API (resilsim.sim.calls): calls in sequence, a held worker, answers, deadlines, guards."""
import copy

import pytest

from resilsim import load_scenario, simulate
from resilsim.scenario import with_overrides
from resilsim.sim import calls as C


def scenario(api_calls=None, services=None, clients=None, strategy=None, duration=20, rate=5, api_workers=1000):
    """A small analytics scenario: one API operation (1 ms) with ``api_calls``, and ``services``."""
    return {
        "name": "calls", "api": "analytics", "duration": duration, "drain": 120,
        "service": {"workers": api_workers, "operations": {"query_metrics": {
            "latency": {"constant": 0.001}, "calls": api_calls or []}}},
        "services": services or {},
        "clients": {"arrival": {"poisson": {"rate": rate}}, **(clients or {})},
        "strategies": {"s": strategy or {"retry": "none"}},
    }


def db(latency=0.001, error_rate=0.0, workers=1000, **kw):
    return {"workers": workers, "error_rate": error_rate, "operations": {"query": {"latency": {"constant": latency}}},
            **kw}


def rows(result):
    return result.services().set_index("service")


def test_sre_book_three_layers_of_four_attempts_reach_the_bottom_64_times():
    # SRE book, "Addressing Cascading Failures": 3 layers × 4 attempts → 64 attempts at the bottom. The database
    # always fails; every layer stops after 4 attempts with no wait: exactly 4, 16, 64 attempts per client request.
    four = {"retry": {"stop": {"attempts": 4}}}
    s = scenario(api_calls=[{"service": "backend", "operation": "read", "on_failure": "ANALYTICS_1900", **four}],
                 services={"backend": {"workers": 1000, "operations": {"read": {
                     "latency": {"constant": 0.001}, "calls": [{"service": "db", "operation": "query", **four}]}}},
                     "db": db(error_rate=1.0)},
                 strategy=four)
    r = simulate(s, seed=3)
    t = rows(r)
    n = t.loc["api", "calls"]
    assert n > 50
    assert t.loc["api", "attempts"] == 4 * n
    assert t.loc["backend", "attempts"] == 16 * n
    assert t.loc["db", "attempts"] == 64 * n
    assert t.loc["db", "amplification"] == 64.0
    assert t.loc["db", "attempts_ok"] == 0 and t.loc["backend", "calls_ok"] == 0
    # Clients see the seed's code for the database, from the dependency.
    a = r.attempts
    assert set(a["code"]) == {"ANALYTICS_1900"} and set(a["source"]) == {"dependency"}


def test_calls_go_in_sequence_and_the_worker_is_held_through_them():
    # API: 1 ms of its own after a 50 ms database call and a 20 ms cache call: 71 ms per request, in sequence.
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900"},
                            {"service": "cache", "operation": "query", "on_failure": "ANALYTICS_1804"}],
                 services={"db": db(latency=0.05), "cache": db(latency=0.02)}, rate=2)
    r = simulate(s, seed=1)
    t = rows(r)
    n = t.loc["api", "calls"]
    req = r.requests
    assert (req["end"] - req["start"]).round(6).eq(0.071).all()
    assert t.loc["api", "busy_s"] == pytest.approx(0.071 * n)       # held through both calls
    assert t.loc["db", "busy_s"] == pytest.approx(0.05 * n)
    assert t.loc["db", "calls_ok"] == t.loc["cache", "calls_ok"] == n


def test_a_failed_call_answers_its_on_failure_code_and_skips_the_rest():
    s = scenario(api_calls=[{"service": "cache", "operation": "query", "on_failure": "ANALYTICS_1804"},
                            {"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900"}],
                 services={"db": db(), "cache": db(error_rate=1.0)})
    r = simulate(s, seed=1)
    t = rows(r)
    assert t.loc["db", "calls"] == 0                              # never reached
    assert set(r.attempts["code"]) == {"ANALYTICS_1804"}
    assert (r.requests["outcome"] != "success").all()


def test_held_workers_make_a_slow_dependency_queue_the_api():
    # One API worker, a 1 s database: the API serves one request per second whatever its own speed (a worker
    # waits for its call). 3 requests per second offered: most wait and time out at the client; a call made for
    # one is cut at the client's deadline (propagated).
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900"}],
                 services={"db": db(latency=1.0)}, clients={"timeout": 5}, rate=3, api_workers=1, duration=60)
    t = rows(simulate(s, seed=2))
    n = t.loc["api", "calls"]
    assert n > 150
    assert 1 <= t.loc["db", "attempts_ok"] <= 60 + 5 + 1   # at most one completed call per second
    assert t.loc["db", "attempt_timeouts"] > 100   # cut at the deadline the client gave
    assert t.loc["api", "busy_s"] <= 60 + 5 + 1


def _deadline_case(propagate):
    # Client waits 0.5 s; the API calls a 1 s database with a 0.3 s attempt timeout and up to 5 attempts, no wait.
    call = {"service": "db", "operation": "query", "on_failure": "ANALYTICS_1903", "timeout": 0.3,
            "retry": {"stop": {"attempts": 5}}, "propagate_deadline": propagate}
    s = scenario(api_calls=[call], services={"db": db(latency=1.0)}, clients={"timeout": 0.5}, rate=2)
    r = simulate(s, seed=4)
    return rows(r), r.requests["start"].to_numpy()


def _held(starts, seconds, duration=20):
    # Worker-seconds inside the run (busy_s is measured over the window's clock time) of a worker held ``seconds``
    # from each request's arrival.
    return float((starts + seconds).clip(max=duration).sum() - starts.sum())


def test_deadlines_propagate_and_can_be_switched_off():
    from resilsim.errors import ScenarioWarning
    with pytest.warns(ScenarioWarning, match="timeout"):  # every call times out, on purpose: the load warns
        (on, starts), (off, _) = _deadline_case(True), _deadline_case(False)
    n = on.loc["api", "calls"]
    # Propagated: attempt 1 times out at 0.3 s, attempt 2 at the caller's 0.5 s deadline; no third.
    assert on.loc["db", "attempts"] == 2 * n
    assert on.loc["db", "attempt_timeouts"] == 2 * n
    assert on.loc["api", "busy_s"] == pytest.approx(_held(starts, 0.5))
    # Not propagated: all 5 attempts, 1.5 s of an API worker per request for a client gone after 0.5 s.
    assert off.loc["db", "attempts"] == 5 * n
    assert off.loc["api", "busy_s"] == pytest.approx(_held(starts, 1.5))
    assert _held(starts, 1.5) < 1.5 * n  # some requests' work runs past the run's end: the window leaves it out


def test_a_call_due_after_the_callers_deadline_is_not_sent():
    # The first call (not propagating) takes 0.6 s, past the 0.5 s the client waits: the second is never sent.
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900",
                             "propagate_deadline": False},
                            {"service": "cache", "operation": "query", "on_failure": "ANALYTICS_1804"}],
                 services={"db": db(latency=0.6), "cache": db()}, clients={"timeout": 0.5}, rate=1)
    t = rows(simulate(s, seed=1))
    n = t.loc["api", "calls"]
    assert t.loc["cache", "calls"] == t.loc["cache", "not_sent"] == n
    assert t.loc["cache", "attempts"] == 0


def test_two_callers_of_one_service_each_get_their_own_answers():
    # The API and a backend both call the database, with different retries: each edge counts its own.
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900",
                             "retry": {"stop": {"attempts": 2}}},
                            {"service": "backend", "operation": "read", "on_failure": "ANALYTICS_1801"}],
                 services={"db": db(error_rate=1.0), "backend": {"workers": 100, "operations": {"read": {
                     "calls": [{"service": "db", "operation": "query", "retry": {"stop": {"attempts": 3}}}]}}}})
    t = rows(simulate(s, seed=1))
    n = t.loc["api", "calls"]
    assert t.loc["db", "attempts"] == 2 * n          # the API's calls fail first; the backend is never reached
    assert t.loc["backend", "calls"] == 0
    s["service"]["operations"]["query_metrics"]["calls"].reverse()
    t = rows(simulate(s, seed=1))
    assert t.loc["db", "attempts"] == 3 * n          # now only the backend's calls reach it


def test_a_guard_on_a_call_edge_limits_its_retries():
    call = {"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900", "retry": {"stop": {"attempts": 5}}}
    plain = scenario(api_calls=[call], services={"db": db(error_rate=0.5)}, rate=20)
    guarded = copy.deepcopy(plain)
    guarded["service"]["operations"]["query_metrics"]["calls"][0]["guards"] = {"token_bucket": {}}
    a, b = rows(simulate(plain, seed=1)), rows(simulate(guarded, seed=1))
    assert b.loc["db", "attempts"] < 0.8 * a.loc["db", "attempts"]


def test_without_services_nothing_of_this_runs(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the call graph was built")

    monkeypatch.setattr(C.CallGraph, "__init__", boom)
    r = simulate(scenario(), seed=1)
    assert r.services().empty and len(r.requests) > 0


def test_service_parameters_take_dotted_overrides():
    s = load_scenario(scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900"}],
                               services={"db": db()}))
    assert with_overrides(s, {"services.db.workers": 7}).services["db"].workers == 7


def test_the_same_seed_gives_the_same_counts():
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900",
                             "retry": {"wait": {"exponential": {"base": 0.01}}, "jitter": "full",
                                       "stop": {"attempts": 3}}}],
                 services={"db": {"workers": 2, "error_rate": 0.2,
                                  "operations": {"query": {"latency": {"exponential": {"mean": 0.05}}}}}},
                 rate=20)
    a, b = simulate(s, seed=9).services(), simulate(s, seed=9).services()
    assert a.equals(b)
    assert not a.equals(simulate(s, seed=10).services())


def test_summary_mode_counts_the_same(tmp_path):
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900",
                             "retry": {"stop": {"attempts": 3}}}],
                 services={"db": db(error_rate=0.3)}, rate=20)
    full = simulate(s, seed=5).services()
    assert full.equals(simulate(s, seed=5, record="summary").services())
    assert full.equals(simulate(s, seed=5, record="stream", rows_to=tmp_path).services())


def test_a_call_with_a_count_is_made_that_many_times_in_sequence():
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900", "count": 3}],
                 services={"db": db(latency=0.01)}, rate=2)
    r = simulate(s, seed=1)
    t = rows(r)
    n = t.loc["api", "calls"]
    assert t.loc["db", "calls"] == t.loc["db", "calls_ok"] == 3 * n
    req = r.requests
    assert (req["end"] - req["start"]).round(6).eq(0.031).all()


def test_a_call_with_a_probability_is_made_by_that_share_of_attempts():
    # 30% of attempts call the database: the share made is binomial; 4 standard errors of tolerance.
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900",
                             "probability": 0.3}], services={"db": db()}, rate=50, duration=100)
    t = rows(simulate(s, seed=1))
    n = t.loc["api", "attempts"]
    assert t.loc["db", "calls"] + t.loc["db", "skipped"] == n
    assert abs(t.loc["db", "calls"] / n - 0.3) <= 4 * (0.3 * 0.7 / n) ** 0.5


def _par(cache_error=0.0, count=1):
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900", "parallel": True,
                             "count": count},
                            {"service": "cache", "operation": "query", "on_failure": "ANALYTICS_1804",
                             "parallel": True},
                            {"service": "wallet", "operation": "query", "on_failure": "ANALYTICS_1802"}],
                 services={"db": db(latency=0.05), "cache": db(latency=0.02, error_rate=cache_error),
                           "wallet": db(latency=0.01)}, rate=2)
    r = simulate(s, seed=1)
    return r, rows(r), r.requests["end"] - r.requests["start"]


def test_parallel_calls_go_out_together_and_the_worker_waits_for_all():
    # db (50 ms) and cache (20 ms) at once, then wallet (10 ms), then 1 ms of its own: 61 ms.
    r, t, latency = _par()
    n = t.loc["api", "calls"]
    assert latency.round(6).eq(0.061).all()
    assert t.loc["db", "calls_ok"] == t.loc["cache", "calls_ok"] == t.loc["wallet", "calls_ok"] == n
    assert t.loc["api", "busy_s"] == pytest.approx(0.061 * n)
    # count in a parallel group: that many copies at once (the same 61 ms).
    r, t, latency = _par(count=3)
    assert latency.round(6).eq(0.061).all() and t.loc["db", "calls"] == 3 * n


def test_the_first_parallel_call_to_fail_answers_and_the_others_run_on():
    r, t, latency = _par(cache_error=1.0)
    n = t.loc["api", "calls"]
    assert latency.round(6).eq(0.02).all()                          # the cache's answer, not the database's
    assert set(r.attempts["code"]) == {"ANALYTICS_1804"}
    assert t.loc["db", "calls_ok"] == n                              # the database call went on, unwaited
    assert t.loc["wallet", "calls"] == 0


def test_a_sweep_varies_a_service_by_its_dotted_key_and_the_scenario_round_trips():
    from resilsim import sweep
    from resilsim.scenario import dump_scenario
    s = load_scenario(scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900"}],
                               services={"db": db(latency=0.5, workers=1, queue={"limit": 2})},
                               clients={"timeout": 2}, rate=5, duration=30))
    assert load_scenario(dump_scenario(s)) == s
    rows_ = sweep(s, {"services.db.workers": [1, 8]}, executor="inprocess", progress=False)
    ok = rows_.set_index("services.db.workers")["success_rate"]
    assert ok[1] < 0.5 < 0.99 < ok[8]   # one 0.5 s database worker serves 2/s of the 5/s; eight serve all


# ---------------------------------------------------------------- incidents on a service

def _db_incident(**incident):
    # The API calls a 10 ms database once (no retries); an incident on the database from 10 s to 20 s.
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900"}],
                 services={"db": db(latency=0.01)}, rate=20, duration=30)
    s["faults"] = {"incidents": [{"name": "db-down", "service": "db", "start": 10, "duration": 10, **incident}]}
    return s


def test_an_outage_on_a_service_fails_its_calls_only_inside_the_window():
    r = simulate(_db_incident(code="SERVICE_ERROR", rate=1.0), seed=1)
    req = r.requests
    inside = (req["start"] >= 10) & (req["start"] < 20)
    assert inside.sum() > 100 and (~inside).sum() > 200
    assert (req.loc[inside, "outcome"] != "success").all()
    assert (req.loc[~inside, "outcome"] == "success").all()
    # Clients see the seed's code for the database, from the dependency; the API's own faults are untouched.
    failed = r.attempts[r.attempts["code"] != ""]  # success has no code
    assert set(failed["code"]) == {"ANALYTICS_1900"} and set(failed["source"]) == {"dependency"}
    t = rows(r)
    assert t.loc["db", "attempts_ok"] == (~inside).sum()
    # The window is shaded, labelled with the service's name.
    assert (10.0, 20.0, "db: db-down") in r.windows


def test_a_slowdown_on_a_service_slows_its_callers_inside_the_window():
    r = simulate(_db_incident(slowdown=3), seed=1)
    req = r.requests
    latency = (req["end"] - req["start"]).round(6)
    inside = (req["start"] >= 10) & (req["start"] < 20)
    assert latency[inside].eq(0.031).all()       # 3 × 10 ms at the database, 1 ms at the API
    assert latency[~inside].eq(0.011).all()
    assert (req["outcome"] == "success").all()


def test_a_partial_outage_on_a_service_is_retried_by_its_caller():
    # 50% of database attempts fail inside the window; the API's call retries up to 3 times (no wait): the
    # database sees (1 − 0.5³)/(1 − 0.5) = 1.75 attempts per call there, a call fails with probability 0.125.
    s = _db_incident(code="SERVICE_ERROR", rate=0.5)
    s["service"]["operations"]["query_metrics"]["calls"][0]["retry"] = {"stop": {"attempts": 3}}
    s["duration"], s["faults"]["incidents"][0]["start"], s["faults"]["incidents"][0]["duration"] = 100, 0, 100
    t = rows(simulate(s, seed=2))
    n = t.loc["db", "calls"]
    # Binomial tolerances, 4 standard errors: attempts per call has variance 0.6875 (a geometric cut at 3).
    assert abs(t.loc["db", "attempts"] / n - 1.75) <= 4 * (0.6875 / n) ** 0.5
    assert abs(1 - t.loc["db", "calls_ok"] / n - 0.125) <= 4 * (0.125 * 0.875 / n) ** 0.5


def test_a_window_can_name_an_incident_on_a_service():
    from resilsim.result import window_of
    w = window_of(load_scenario(_db_incident(slowdown=2)), "incident:db-down")
    assert (w.start, w.end) == (10.0, 20.0)


def test_an_incident_on_a_service_is_refused_with_the_apis_codes_or_a_dependency():
    from resilsim.errors import ScenarioError
    with pytest.raises(ScenarioError, match="dependency: an incident on a service"):
        load_scenario(_db_incident(slowdown=2, dependency="aurora"))
    with pytest.raises(ScenarioError, match="service 'db' has no operation 'qurey'"):
        load_scenario(_db_incident(slowdown=2, operations=["qurey"]))


def test_a_flapping_or_ramping_incident_on_a_service_expands_into_its_windows():
    flap = simulate(_db_incident(code="SERVICE_ERROR", rate=1.0, flap={"mean_on": 1, "mean_off": 1}), seed=3)
    assert len(flap.windows) > 1 and all(label == "db: db-down" for _, _, label in flap.windows)
    assert all(10 <= a < b <= 20 for a, b, _ in flap.windows)
    again = simulate(_db_incident(code="SERVICE_ERROR", rate=1.0, flap={"mean_on": 1, "mean_off": 1}), seed=3)
    assert flap.windows == again.windows and flap.services().equals(again.services())
    ramp = simulate(_db_incident(code="SERVICE_ERROR", rate=1.0, ramp={"up": 4, "down": 4, "steps": 4}), seed=3)
    assert len(ramp.windows) == 9                    # 4 steps up, the hold, 4 steps down
    t = rows(ramp)
    assert 0 < t.loc["db", "calls"] - t.loc["db", "calls_ok"] < 10 * 20   # fewer failures than a full outage


def test_load_by_layer_lines_add_up_to_the_services_attempts_and_its_png_is_written_only_with_services(tmp_path):
    # Twin check: the chart's lines (attempts/s per bin × bin width) add up to Result.services()' whole-run attempts
    # per layer, for each strategy; the API's retries make the layers differ (the database fails 30%).
    from matplotlib.figure import Figure

    from resilsim import plots
    three = {"retry": {"stop": {"attempts": 3}}}
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900", **three}],
                 services={"db": db(error_rate=0.3)}, rate=20, duration=10)
    s["strategies"] = {"none": {"retry": "none"}, "three": three}
    r = simulate(s, seed=3)
    want = r.services().set_index(["strategy", "service"])["attempts"]
    tl = r.service_timeline()
    assert set(tl["service"]) == {"api", "db"} and set(tl["strategy"]) == {"none", "three"}
    width = r.scenario.bin
    for name in ("none", "three"):
        ax = plots.load_by_layer(r, ax=Figure().add_subplot(), strategy=name, smooth=width)  # no smoothing
        lines = {ln.get_label(): ln.get_ydata() for ln in ax.get_lines()}
        assert set(lines) == {"clients → api", "→ db"}
        assert round(sum(lines["clients → api"]) * width) == want[(name, "api")]
        assert round(sum(lines["→ db"]) * width) == want[(name, "db")]
        assert "(1/s)" in ax.get_ylabel()
    assert want[("three", "db")] > want[("three", "api")] > want[("none", "api")]  # clients' retries at the API
    assert want[("none", "db")] > want[("none", "api")]  # and the API's at the database
    assert "load_by_layer.png" in {p.name for p in plots.save_charts(r, tmp_path / "with")}
    plain = scenario(rate=20, duration=10)
    r0 = simulate(plain, seed=3)
    assert r0.service_timeline().empty
    assert "load_by_layer.png" not in {p.name for p in plots.save_charts(r0, tmp_path / "without")}
    assert "no data" in plots.load_by_layer(r0, ax=Figure().add_subplot()).texts[0].get_text()
