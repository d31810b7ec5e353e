"""Capacity cuts (an incident's ``workers``) and network incidents between two services (an incident's ``edge``)."""
import math

import numpy as np
import pytest
import simpy

from resilsim import load_scenario, simulate
from resilsim.errors import ScenarioError
from resilsim.server.capacity import WorkerSchedule, ramp_cuts
from resilsim.server.faults import FaultSchedule
from resilsim.server.links import LinkSchedule, LinkWindow
from resilsim.sim.capacity import schedule_cuts
from resilsim.sim.events import Attempt, Request
from resilsim.sim.service import Service, ServiceOptions

# ---------------------------------------------------------------- the pure schedules


def test_a_worker_schedule_changes_at_the_cuts_and_the_smallest_overlapping_cut_wins():
    s = WorkerSchedule(8, [(10, 20, 4), (15, 30, 2), (40, 50, 8)])
    assert s.changes() == [(10, 4), (15, 2), (30, 8)]  # the cut to 8 of 8 changes nothing
    assert [s.workers_at(t) for t in (0, 10, 14.9, 15, 20, 29.9, 30, 45)] == [8, 4, 4, 2, 2, 2, 8, 8]
    assert WorkerSchedule(8, []).changes() == []
    with pytest.raises(ValueError, match="1 <= workers <= 8"):
        WorkerSchedule(8, [(0, 1, 9)])


def test_a_ramping_cut_steps_down_to_its_workers_and_back():
    from resilsim.server.incidents import ramp_levels
    cuts = ramp_cuts(100, 10, 2, ramp_levels(40, 10, 10, 2))
    # Up in 2 steps (level 0.5 → 6 workers, 1 → 2), the hold at 2, down (1 → 2, 0.5 → 6).
    assert cuts == [(100, 105, 6), (105, 110, 2), (110, 130, 2), (130, 135, 2), (135, 140, 6)]


def test_a_link_schedule_combines_overlapping_windows():
    a = LinkWindow(10, 20, loss=0.5)
    b = LinkWindow(15, 30, loss=0.5, round_trip=lambda: 0.2)
    s = LinkSchedule([a, b])
    assert s.at(5) is None and s.at(30) is None
    assert s.at(12) == (0.5, (a,))
    loss, active = s.at(16)
    assert loss == pytest.approx(0.75) and active == (a, b)   # lost if either loses it: 1 − 0.5²
    assert b.hops() == (0.1, 0.1)                               # a round trip splits evenly
    assert s.span(25) == (20, 30, (0.5, (b,)))


# ---------------------------------------------------------------- the service under a cut


def _service(workers: int, service_s: float, **options):
    env = simpy.Environment()
    done = []
    faults = FaultSchedule(["op"], [], {}, [])
    svc = Service(env, workers=workers, queue_limit=None, queue_timeout=None, samplers=[lambda: service_s],
                  faults=faults, fault_gen=np.random.default_rng(0), limiter=None, rate_limit_code=-1,
                  overload_code=-1, timeout_code=-1, respond=lambda att, now: done.append((att.req.id, now)),
                  options=ServiceOptions(**options))
    return env, svc, done


def _submit(env, svc, n: int) -> None:
    for i in range(n):
        svc.submit(Attempt(Request(i, 0, 0.0, math.inf), 1, 0.0), 0.0)


@pytest.mark.parametrize("options", [{}, {"discipline": "lifo"}, {"reject_s": 0.0, "discipline": "codel",
                                                                       "codel_target": 100.0, "codel_interval": 1.0}])
def test_a_cut_lets_work_in_flight_finish_then_serves_with_fewer_workers_until_it_ends(options):
    # 2 workers, 1 s per attempt, 6 attempts at 0. Cut to 1 worker at 0.5 s, back to 2 at 3.5 s: the two in flight
    # finish at 1 (one retires), then one at a time (2, 3, 4); at 3.5 the returning worker takes the last (4.5).
    env, svc, done = _service(2, 1.0, **options)
    schedule_cuts(env, svc, WorkerSchedule(2, [(0.5, 3.5, 1)]))
    _submit(env, svc, 6)
    busy = {}
    for t in (0.75, 1.5, 3.75):
        env.run(until=t)
        busy[t] = svc.in_service
    env.run(until=10)
    times = sorted(now for _, now in done)
    assert times == [1.0, 1.0, 2.0, 3.0, 4.0, 4.5]
    assert busy == {0.75: 2, 1.5: 1, 3.75: 2}   # the retiring worker counts as busy until it finishes
    assert svc.workers == 2 and svc.free == 2 and svc.retiring == 0
    assert "_next_from_queue" not in vars(svc)  # the plain paths are back
    # Without the cut: three rounds of two.
    env, svc, done = _service(2, 1.0, **options)
    _submit(env, svc, 6)
    env.run(until=10)
    assert sorted(now for _, now in done) == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]


def test_a_cut_takes_idle_workers_at_once_and_a_cut_ending_before_busy_ones_finish_keeps_them():
    env, svc, done = _service(4, 1.0)
    _submit(env, svc, 1)                       # 1 busy, 3 idle
    svc.set_workers(2, 0.0)                    # two idle workers go at once
    assert (svc.workers, svc.free, svc.retiring) == (2, 1, 0)
    svc.set_workers(1, 0.0)                    # the last idle one goes
    assert (svc.workers, svc.free, svc.retiring) == (1, 0, 0)
    _submit(env, svc, 2)                       # queued
    env2, svc2, done2 = _service(3, 1.0)
    _submit(env2, svc2, 3)                     # all 3 busy
    svc2.set_workers(1, 0.0)                   # 2 owed
    assert svc2.retiring == 2 and svc2.in_service == 3
    svc2.set_workers(3, 0.0)                   # the cut ends before they finish: they stay
    assert (svc2.workers, svc2.free, svc2.retiring) == (3, 0, 0) and "_next_from_queue" not in vars(svc2)


def test_load_shedding_during_a_cut_counts_the_busy_workers_the_cut_will_retire():
    # 4 workers busy, cut to 1 (3 retiring, still serving): the load is 4 in service per 1 worker, so with
    # shed_load 2 the next arrival is shed. Counting workers - free alone saw 1 in service and queued it.
    env, svc, done = _service(4, 1.0, shed_load=2.0)
    _submit(env, svc, 4)
    svc.set_workers(1, 0.0)
    assert svc.in_service == 4
    svc.submit(Attempt(Request(9, 0, 0.0, math.inf), 1, 0.0), 0.0)
    assert (9, 0.0) in done and len(svc.queue) == 0


# ---------------------------------------------------------------- in a run


def _scenario(incidents, service_s=0.05, db_workers=8, rate=120.0, duration=200, call=None, api_workers=100_000):
    return {"name": "cut", "api": "analytics", "duration": duration, "drain": 600,
            "service": {"workers": api_workers, "operations": {"query_metrics": {
                "latency": {"constant": 0.001},
                "calls": [{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900", **(call or {})}]}}},
            "services": {"db": {"workers": db_workers,
                                "operations": {"query": {"latency": {"exponential": {"mean": service_s}}}}}},
            "faults": {"incidents": incidents},
            "clients": {"arrival": {"poisson": {"rate": rate}}},
            "strategies": {"none": {"retry": "none"}}}


def _throughput(result, a: float, b: float) -> float:
    req = result.requests
    ok = req[req["outcome"] == "success"]
    return float(((ok["end"] >= a) & (ok["end"] < b)).sum() / (b - a))


def test_a_capacity_cut_on_a_service_holds_its_throughput_at_the_cut_workers_over_the_mean_service_time():
    # M/M/c with c = 8, E[S] = 50 ms (160/s) under 120/s; cut to 4 workers (80/s) from 50 s to 150 s: saturated, so
    # completions run at c_cut / E[S] = 80/s while the queue grows; before, at the arrival rate; after, at 160/s while
    # the backlog drains. Counts in a window are Poisson while all workers are busy: tolerance 4 √n / length.
    r = simulate(_scenario([{"name": "scale-up", "service": "db", "start": 50, "duration": 100, "workers": 4}]),
                 seed=5)
    for (a, b), expected in [((10, 50), 120.0), ((60, 150), 80.0), ((155, 185), 160.0)]:
        measured = _throughput(r, a, b)
        assert abs(measured - expected) <= 4 * math.sqrt(expected * (b - a)) / (b - a), (a, b, measured)
    assert (50.0, 150.0, "db: scale-up") in r.windows
    # The same run without the cut never queues past the arrival rate.
    plain = simulate(_scenario([]), seed=5)
    assert abs(_throughput(plain, 60, 150) - 120.0) <= 4 * math.sqrt(120 * 90) / 90


def test_a_capacity_cut_on_the_api_and_a_workers_only_incident_change_no_draw_outside_it():
    # The API with 2 workers of 10 ms (200/s) under 100/s, cut to 1 (100/s: at the edge) — the cut lengthens waits;
    # a cut that ends at once (start 0, 1 worker of 2 for a moment the run never loads) leaves the rows as they were.
    s = _scenario([], api_workers=2)
    s["service"]["operations"]["query_metrics"] = {"latency": {"constant": 0.01}}
    del s["services"]
    base = simulate(s, seed=3)
    s["faults"]["incidents"] = [{"name": "half", "start": 50, "duration": 50, "workers": 1}]
    cut = simulate(s, seed=3)
    lat = lambda r, a, b: (lambda q: (q["end"] - q["start"])[(q["start"] >= a) & (q["start"] < b)].mean())(r.requests)
    assert lat(cut, 60, 100) > 3 * lat(base, 60, 100)
    assert lat(cut, 10, 50) == lat(base, 10, 50)                  # the same draws before the cut
    # Utilisation is busy workers ÷ the API's own 2: at most one busy (0.5) once the cut has retired the other.
    tl = cut.timeline
    during = tl[(tl["time"] >= 51) & (tl["time"] < 100)]["utilisation"]
    before = tl[tl["time"] < 50]["utilisation"]
    assert during.max() == 0.5 and during.mean() > 0.4 and before.max() == 1.0
    assert (50.0, 100.0, "half") in cut.windows


def test_a_ramping_and_a_flapping_cut_run_and_repeat():
    ramp = {"name": "r", "service": "db", "start": 20, "duration": 60, "workers": 2, "ramp": {"up": 20, "down": 20,
                                                                                            "steps": 3}}
    flap = {"name": "f", "service": "db", "start": 100, "duration": 50, "workers": 4,
            "flap": {"mean_on": 5, "mean_off": 5}}
    s = _scenario([ramp, flap])
    a, b = simulate(s, seed=9), simulate(s, seed=9)
    assert a.services().equals(b.services()) and a.windows == b.windows
    assert _throughput(a, 45, 60) < 50          # the hold at 2 workers: at most 40/s
    assert sum(1 for *_, label in a.windows if label == "db: f") > 1


@pytest.mark.parametrize("incident,message", [
    ({"service": "db", "workers": 9}, "faults.incidents[0].workers: 9 workers during the incident, more than the 8 of "
                                      "service 'db'; a capacity cut leaves fewer"),
    ({"workers": 2_000_000}, "faults.incidents[0].workers: Input should be less than or equal to 100000"),
    ({"service": "db", "workers": 2, "operations": ["query"]}, "a capacity cut takes workers from the whole service"),
    ({"service": "db", "workers": 0}, "greater than or equal to 1"),
])
def test_bad_worker_cuts_are_refused_in_one_sentence(incident, message):
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        load_scenario(_scenario([{"start": 10, "duration": 10, **incident}]))


# ---------------------------------------------------------------- network incidents between two services


def _edge_scenario(incident, call=None, duration=60, rate=50.0):
    s = _scenario([{"name": "partition", "edge": {"caller": "api", "callee": "db"}, "start": 20, "duration": 20,
                    **incident}], rate=rate, duration=duration, db_workers=1000,
                  call={"timeout": 0.1, **(call or {})})
    s["services"]["db"]["operations"]["query"]["latency"] = {"constant": 0.01}
    s["drain"] = 60
    return s


def test_lost_calls_are_timeouts_retried_by_the_callers_call_strategy():
    # 30% of attempts sent in the window are lost; the API's call makes 3 attempts (no wait): a call fails with
    # probability 0.3³ = 0.027 there, never outside. Attempts per call in the window: (1 − 0.3³)/(1 − 0.3).
    s = _edge_scenario({"loss": 0.3}, call={"retry": {"stop": {"attempts": 3}}}, duration=100, rate=100)
    s["faults"]["incidents"][0].update(start=0, duration=100)
    r = simulate(s, seed=5)
    t = r.services().set_index("service")
    n = int(t.loc["db", "calls"])
    failed = 1 - t.loc["db", "calls_ok"] / n
    assert abs(failed - 0.027) <= 4 * math.sqrt(0.027 * 0.973 / n)
    per_call = t.loc["db", "attempts"] / n
    # attempts per call: 1, 2 or 3 with P(>1) = 0.3, P(>2) = 0.09: variance 0.3·0.7 + … ≤ 1
    assert abs(per_call - (1 - 0.3 ** 3) / 0.7) <= 4 * math.sqrt(1.0 / n)
    assert t.loc["db", "attempt_timeouts"] == t.loc["db", "attempts"] - t.loc["db", "attempts_ok"]
    # Lost ones cost it nothing (they would add ≈ 30 s); busy_s is clock time inside the run: the calls of the
    # requests of the last 0.2 s (≈ 20, 10 ms each) may end past 100 s and count there only in part.
    assert t.loc["db", "busy_s"] == pytest.approx(t.loc["db", "attempts_ok"] * 0.01, abs=0.25)
    failed_rows = r.attempts[r.attempts["code"] != ""]
    assert set(failed_rows["code"]) == {"ANALYTICS_1900"}


def test_lost_calls_only_inside_the_window_and_extra_latency_adds_to_each_call():
    r = simulate(_edge_scenario({"loss": 1.0}), seed=5)
    req = r.requests
    inside = (req["start"] >= 20) & (req["start"] < 40)
    assert inside.sum() > 500
    assert (req.loc[inside, "outcome"] != "success").all() and (req.loc[~inside, "outcome"] == "success").all()
    assert (20.0, 40.0, "api→db: partition") in r.windows
    # 40 ms round trip (20 each way) on every call sent in the window: 11 ms → 51 ms; 15 + 25 ms one way each.
    for latency in ({"round_trip": {"constant": 0.04}}, {"request": {"constant": 0.015}, "response": {"constant": 0.025}}):
        r = simulate(_edge_scenario({"latency": latency}), seed=5)
        req = r.requests
        lat = (req["end"] - req["start"]).round(6)
        inside = (req["start"] >= 20) & (req["start"] < 40)
        assert lat[inside].eq(0.051).all() and lat[~inside].eq(0.011).all()


def test_a_slow_link_past_the_call_timeout_times_out_and_the_late_answer_is_wasted_work():
    r = simulate(_edge_scenario({"latency": {"response": {"constant": 0.5}}}), seed=5)
    t = r.services().set_index("service")
    req = r.requests
    inside = (req["start"] >= 20) & (req["start"] < 40)
    assert (req.loc[inside, "outcome"] != "success").all()
    assert t.loc["db", "attempt_timeouts"] == inside.sum()    # the db served each one; its answer came too late


def test_an_edge_incident_leaves_other_edges_and_draws_alone():
    # A scenario with an edge incident in a window no call is sent in gives the rows of the scenario without it: the
    # link's children are spawned after every other stream's, and outside its windows a call passes straight on.
    base = _edge_scenario({"loss": 0.5})
    base["faults"]["incidents"] = []
    late = _edge_scenario({"loss": 0.5})
    late["faults"]["incidents"][0].update(start=59, duration=1)
    late["duration"] = 59.0 + 1e-9
    base["duration"] = 59.0 + 1e-9
    a, b = simulate(base, seed=2), simulate(late, seed=2)
    assert a.requests.equals(b.requests) and a.attempts.equals(b.attempts)


@pytest.mark.parametrize("incident,message", [
    ({"edge": {"caller": "api", "callee": "cache"}, "loss": 0.1}, "edge.callee: unknown service 'cache'; services: db"),
    ({"edge": {"caller": "web", "callee": "db"}, "loss": 0.1}, "edge.caller: unknown caller 'web'; callers: api, db"),
    ({"edge": {"caller": "db", "callee": "db"}, "loss": 0.1}, "edge: db makes no call to db; its calls reach: none"),
    ({"edge": {"caller": "api", "callee": "db"}}, "needs latency, loss or both"),
    ({"edge": {"caller": "api", "callee": "db"}, "loss": 0.1, "code": "SERVICE_ERROR"},
     "code: a network incident on an edge takes latency, loss and flap only"),
    ({"edge": {"caller": "api", "callee": "db"}, "loss": 0.1, "workers": 2}, "workers: a network incident on an edge"),
    ({"loss": 0.1, "code": "ANALYTICS_2000"}, "latency and loss are for a network incident between two services"),
    ({"edge": {"caller": "api", "callee": "db"}, "loss": 1.5}, "less than or equal to 1"),
])
def test_bad_edge_incidents_are_refused_in_one_sentence(incident, message):
    import re
    s = _edge_scenario({})
    s["faults"]["incidents"] = [{"start": 10, "duration": 10, **incident}]
    with pytest.raises(ScenarioError, match=re.escape(message)):
        load_scenario(s)


def test_loss_on_an_edge_whose_calls_have_no_timeout_is_refused():
    s = _edge_scenario({"loss": 0.1})
    del s["service"]["operations"]["query_metrics"]["calls"][0]["timeout"]
    with pytest.raises(ScenarioError, match=r"api's call to db \(service.operations.query_metrics.calls\[0\]\) has "
                                            "no timeout or deadline, so a lost call would hold its worker for ever"):
        load_scenario(s)
    # A propagated deadline from timed clients bounds it: accepted.
    s["clients"]["timeout"] = 1
    load_scenario(s)
    # Latency alone never loses a call: accepted without a timeout.
    s = _edge_scenario({"latency": {"round_trip": {"constant": 0.1}}})
    del s["service"]["operations"]["query_metrics"]["calls"][0]["timeout"]
    load_scenario(s)


def test_a_cut_on_the_api_above_its_workers_is_refused():
    s = _scenario([{"start": 10, "duration": 10, "workers": 11}], api_workers=10)
    with pytest.raises(ScenarioError, match=r"faults.incidents\[0\].workers: 11 workers during the incident, more "
                                            r"than the 10 of the API \(service.workers\); a capacity cut leaves fewer"):
        load_scenario(s)


# ---------------------------------------------------------------- runaway limits count every layer


def test_the_attempt_cap_counts_the_calls_between_services():
    # Clients 1 attempt, the API's call 4, the backend's call to db 4 (db always fails): 1 + 4 + 16 = 21 attempts per
    # request. 1,000 expected requests, max_attempts 5,000: the clients alone (≈1,000) stay under it, every layer
    # together (≈21,000) does not, so the run stops, truncated (the watchdog looks every 4,096 events).
    four = {"retry": {"wait": {"none": True}, "stop": {"attempts": 4}}}
    s = {"name": "cap", "api": "analytics", "duration": 20, "drain": 60,
         "service": {"workers": 1000, "operations": {"op": {"latency": {"constant": 0.001}, "calls": [
             {"service": "backend", "operation": "read", "on_failure": "ANALYTICS_1900", **four}]}}},
         "services": {"backend": {"workers": 1000, "operations": {"read": {
             "latency": {"constant": 0.001}, "calls": [{"service": "db", "operation": "q", **four}]}}},
             "db": {"workers": 1000, "error_rate": 1.0, "operations": {"q": {"latency": {"constant": 0.001}}}}},
         "clients": {"arrival": {"poisson": {"rate": 50}}},
         "limits": {"max_attempts": 5000},
         "strategies": {"none": {"retry": "none"}}}
    r = simulate(s, seed=1)
    assert r.truncated and "limits.max_attempts" in next(iter(r.truncated.values()))
    assert r.requests["end"].max() < 10                  # stopped early, about 5,000 attempts in
    s["limits"]["max_attempts"] = 50_000
    r = simulate(s, seed=1)
    assert not r.truncated
    assert r.services()["attempts"].sum() > 20_000


def test_the_reports_assumptions_name_a_cut_and_a_network_incident():
    from resilsim.report import _assumptions
    cut = _assumptions(load_scenario(_scenario([{"name": "c", "service": "db", "start": 10, "duration": 5,
                                                 "workers": 3}])))
    assert "3 workers (a capacity cut)" in cut
    edge = _assumptions(load_scenario(_edge_scenario({"loss": 0.3, "latency": {"round_trip": {"constant": 0.1}}})))
    assert "30% of calls lost; extra network hops on the network between api and db" in edge


def test_a_flapping_network_incident_loses_calls_only_in_its_on_periods_and_repeats():
    s = _edge_scenario({"loss": 1.0, "flap": {"mean_on": 2, "mean_off": 2}})
    a, b = simulate(s, seed=8), simulate(s, seed=8)
    wins = [(x, y) for x, y, label in a.windows if label == "api→db: partition"]
    assert len(wins) > 2 and a.windows == b.windows and a.requests.equals(b.requests)
    req = a.requests
    on = sum(((req["start"] >= x) & (req["start"] < y)).sum() for x, y in wins)
    failed = (req["outcome"] != "success").sum()
    # A request fails exactly when its one call (made at its arrival, before the API's own 1 ms) was sent in an
    # on-period: lost, it times out, and the call makes one attempt.
    assert failed == on and 0 < failed < (req["start"].between(20, 40)).sum()


def test_a_cut_on_an_api_with_a_non_idempotent_operation_keeps_counting_duplicates():
    # The API's completion is wrapped (duplicate side effects) when an operation is not idempotent: a cut swaps the
    # wrapped completion and restores it.
    s = _scenario([], api_workers=2)
    del s["services"]
    s["service"]["operations"]["query_metrics"] = {"latency": {"constant": 0.01}, "idempotent": False}
    s["faults"]["incidents"] = [{"name": "half", "start": 50, "duration": 50, "workers": 1}]
    s["duration"] = 150
    r = simulate(s, seed=3)
    tl = r.timeline
    assert tl[(tl["time"] >= 51) & (tl["time"] < 100)]["utilisation"].max() == 0.5
    assert tl[tl["time"] >= 101]["utilisation"].max() == 1.0   # both workers back
    assert (r.requests["outcome"] == "success").all()


def test_a_cut_given_as_a_share_of_workers_is_the_same_cut_and_follows_the_services_workers():
    cut = lambda **k: _scenario([{"name": "c", "service": "db", "start": 50, "duration": 100, **k}], duration=120)
    by_count, by_share = simulate(cut(workers=4), seed=2), simulate(cut(capacity=0.5), seed=2)
    assert by_count.requests.equals(by_share.requests)                 # half of 8 is 4
    # A sweep over the service's workers keeps the share: 6 workers at 0.5 keep 3 (rounded down: 0.55 also keeps 3).
    s = load_scenario(cut(capacity=0.55), overrides={"services.db.workers": 6})
    assert s.faults.incidents[0].cut_workers(6) == 3
    three = cut(workers=3)
    three["services"]["db"]["workers"] = 6
    assert simulate(s, seed=2).requests.equals(simulate(three, seed=2).requests)
    with pytest.raises(ScenarioError, match=r"capacity: give workers \(a count\) or capacity \(a share\), not both"):
        load_scenario(cut(workers=4, capacity=0.5))
    with pytest.raises(ScenarioError, match="capacity: Input should be greater than 0"):
        load_scenario(cut(capacity=0))
