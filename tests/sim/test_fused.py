"""The fused event loop (resilsim/sim/fused.py) against the general one it stands for.

``run_fused`` writes out, in the loop, what an arrival, a retry and the completion of an attempt do through their
callbacks (Clients._arrive, _retry, send, Service.submit, _start, _complete, Clients.respond and the recorder's
rows).
Here every workload it runs gives the same rows, tables and run statistics as the same classes run through
``run_until`` (``fusable`` answering False), including summary and streamed recording, recorder columns grown
mid-run, arrival blocks refilled and runs stopped by the watchdog; and it runs only where it may.
"""
import inspect

import pytest
import pandas as pd

import resilsim.sim.run as run_module
from resilsim import load_scenario, simulate
from resilsim.sim.events import Attempt, Request
from resilsim.sim.fused import run_fused

from ..conftest import bench
from ..test_determinism import _RETRY, CASES, _all_features, digest, tables_digest
from .test_hot_path import STATS, _slots

#: Pinned workloads the fused loop runs (test_it_runs_where_it_may checks it does): plain, guards of every kind and
#: scope, tenants with limits and quota, auth, timers and deadlines, a queue limit and timeout, refusals, incidents
#: (flapping ones too: the fault segment changes often), shedding.
FUSED = ["reference.yaml", "all_features.yaml", "all_features+guards-per-tenant", "all_features+guards-per-client",
         "all_features+blocking-limiter-deadlines", "all_features+global-limiter", "all_features+fifo-shed",
         "scenarios/analytics-token-expiry.yaml", "scenarios/analytics-quota-busy-hour.yaml",
         "scenarios/counters-rate-limited.yaml", "scenarios/metastable-retry-storm.yaml",
         "scenarios/nanostream-flapping-104.yaml", "scenarios/strategies-through-an-outage.yaml"]

#: Pinned workloads it must leave to run_until: hedging, network hops, closed-loop users, calls between services,
#: other queue disciplines, costly refusals, processing timeouts and load-dependent latency.
GENERAL = ["all_features+hedge", "all_features+network", "all_features+closed-users", "all_features+codel",
           "all_features+lifo-shed-reject-cost", "all_features+fifo-reject-cost",
           "all_features+adaptive-lifo-processing-timeout", "scenarios/analytics-aurora-db-service.yaml"]


def _facts(make, seed=7, record="full"):
    r = simulate(load_scenario(make()), seed=seed, record=record)
    rows = digest(r) if record == "full" else None
    return rows, tables_digest(r), [[s[k] for k in STATS] for s in r.stats.values()]


def _general(m):
    m.setattr(run_module, "fusable", lambda clients, service, cuts: False)


def _loops(monkeypatch, make) -> list:
    # Which loop each strategy's run took: "fused" or "general".
    seen = []
    fused, general = run_module.run_fused, run_module.run_until
    monkeypatch.setattr(run_module, "run_fused", lambda *a: seen.append("fused") or fused(*a))
    monkeypatch.setattr(run_module, "run_until", lambda *a: seen.append("general") or general(*a))
    simulate(load_scenario(make()), seed=1)
    return seen


@pytest.mark.parametrize("name", FUSED)
def test_the_fused_loop_gives_what_the_general_loop_gives(name, monkeypatch):
    fast = _facts(CASES[name])
    with monkeypatch.context() as m:
        _general(m)
        assert _facts(CASES[name]) == fast


@pytest.mark.parametrize("record", ["summary", "stream"])
def test_summary_and_streamed_recording_through_the_fused_loop(record, monkeypatch, tmp_path):
    # Rows go through the recorder's own methods there (the loop writes a full Recorder's rows itself).
    def facts(name, folder):
        r = simulate(load_scenario(CASES[name]()), seed=5, record=record, rows_to=folder)
        rows = [pd.read_parquet(folder / f"{t}.parquet").to_csv() for t in ("attempts", "requests")] if folder else []
        return rows, tables_digest(r), [[s[k] for k in STATS] for s in r.stats.values()]

    for name in ("reference.yaml", "all_features.yaml"):
        folder = (lambda tag: tmp_path / f"{name}-{tag}") if record == "stream" else (lambda tag: None)
        fast = facts(name, folder("fused"))
        with monkeypatch.context() as m:
            _general(m)
            assert facts(name, folder("general")) == fast


def test_recorder_columns_grown_mid_run_and_arrival_blocks_refilled(monkeypatch):
    # Recorder columns sized for 100 requests: the attempt columns grow while the loop writes rows (in the loop,
    # and through calls: refusals, timeouts), the request columns with each new block of arrivals, so the loop's
    # views of both must follow. 200 s at 60 requests/s crosses three arrival blocks; 60 % of served attempts
    # fail in the first workload (about 2.2 attempts per request).
    def failing():
        data = bench("reference.yaml", 200.0)
        data["faults"]["background"] = {"ANALYTICS_2001": 0.6}
        data["service"]["rate_limit"] = {"token_bucket": {"rate": 90, "burst": 30}}
        return data

    from resilsim.sim.recorder import Columns

    grown = []
    grow = Columns.grow
    monkeypatch.setattr(Columns, "grow", lambda self, need: grown.append(self.dtypes) or grow(self, need))
    monkeypatch.setattr(run_module, "expected_requests", lambda scenario: 30)
    for make in (failing, lambda: bench("all_features.yaml", 200.0)):
        grown.clear()
        fast = _facts(make, seed=3)
        # Both tables, from 95 and 118 rows to over 12,000 (the request table a block of arrivals at a time).
        assert len(grown) >= 8 and len({tuple(d) for d in grown}) == 2
        with monkeypatch.context() as m:
            _general(m)
            assert _facts(make, seed=3) == fast
    assert simulate(load_scenario(failing()), seed=3).stats["full-jitter"]["attempts_sent"] > 2 * 12_000


def test_a_run_stopped_by_the_watchdog_stops_at_the_same_event(monkeypatch):
    # The attempt cap is checked every CHECK_EVERY events: both loops stop at the same one, with the same rows, and
    # the fused loop takes its sentinel off the queue as run_until does.
    from ..test_limits import storm

    left = []
    fused = run_module.run_fused

    def spy(env, *a):
        reason = fused(env, *a)
        left.append((reason, [e for e in env._queue if e[1] < 0]))
        return reason

    with monkeypatch.context() as m:
        m.setattr(run_module, "run_fused", spy)
        fast = _facts(lambda: storm(max_attempts=3000), seed=4)
    assert left and left[0][0] is not None and all(sentinels == [] for _, sentinels in left)
    with monkeypatch.context() as m:
        _general(m)
        assert _facts(lambda: storm(max_attempts=3000), seed=4) == fast


def test_a_capacity_cut_leaves_the_run_to_the_general_loop(monkeypatch):
    # A cut (an incident's workers) swaps the service's completion mid-run (Service.set_workers), which the fused loop
    # does not follow: fusable says no for it, and only for it (the same workload without the cut is fused).
    def cut():
        data = bench("reference.yaml", 60.0, drain=10.0)
        data["faults"]["incidents"] = [{"name": "half", "start": 20, "duration": 20, "workers": 4}]
        return data

    assert set(_loops(monkeypatch, cut)) == {"general"}
    assert set(_loops(monkeypatch, lambda: bench("reference.yaml", 60.0, drain=10.0))) == {"fused"}


#: The keyed gate's quota through many periods, and many tenants over their quota in each, so the loop's quota
#: counts and period end (q_used, q_reset, held in locals) go stale and are read again: alone, and beside a blocking
#: client limiter, whose held attempts are sent through calls (Clients.send -> the gate -> Quota.try_use) between the
#: loop's own sends.
SHORT_QUOTA = {"period": 7, "tiers": {"free": 12, "pro": 14, "enterprise": None}}
QUOTA_CASES = {
    "short-quota": _all_features(**{"service.quota": SHORT_QUOTA, "strategies.full-jitter.guards": None}),
    "short-quota-held": _all_features(**{
        "service.quota": SHORT_QUOTA, "strategies": {"held": {"retry": _RETRY, "deadline": 1.5, "guards": {"client_rate": {"min_rate": 0.5}}}}}),
}


@pytest.mark.parametrize("name", sorted(QUOTA_CASES))
def test_the_quota_written_out_through_its_periods(name, monkeypatch):
    make = QUOTA_CASES[name]
    assert set(_loops(monkeypatch, make)) == {"fused"}
    fast = _facts(make)
    r = simulate(load_scenario(make()), seed=7)
    over = r.attempts[r.attempts["code"] == "ANALYTICS_1700"]
    assert len(over) > 30 and over["end"].max() > 6 * SHORT_QUOTA["period"], len(over)  # in many periods
    with monkeypatch.context() as m:
        _general(m)
        assert _facts(make) == fast


def test_it_runs_where_it_may(monkeypatch):
    # The twins above compare something: these runs take the fused loop, and the others keep run_until.
    for name in FUSED:
        assert set(_loops(monkeypatch, CASES[name])) == {"fused"}, name
    for name in GENERAL:
        assert set(_loops(monkeypatch, CASES[name])) == {"general"}, name


def test_requests_and_attempts_built_in_the_loop_are_the_init_ones(monkeypatch):
    # Every field Request.__init__ / Attempt.__init__ sets, and no other, with the same values, as the loop hands
    # an attempt (a first one or a retry) to the service's gate (the all-features workload has one: its limits and
    # quota).
    source = inspect.getsource(run_fused)
    assert "req = _new(Request)" in source and "att = _new(attempt_cls)" in source and "attempt_cls = Attempt\n" in source
    seen = []

    def spy(env, clients, service, *a):
        gate = service._gate

        def check(att, now):
            req = att.req
            if att.n == 1:
                fresh = Request(req.id, req.op, req.t0, req.deadline_at)
                fresh.n = 1  # sent
                fresh.tenant, fresh.client, fresh.prop_u = req.tenant, req.client, req.prop_u
                assert _slots(req) == _slots(fresh)
            assert _slots(att) == _slots(Attempt(req, att.n, now))  # first attempts and retries
            seen.append(att.n)
            return gate(att, now)

        service._gate = check
        return run_fused(env, clients, service, *a)

    monkeypatch.setattr(run_module, "run_fused", spy)
    simulate(load_scenario(CASES["all_features.yaml"]()), seed=2)
    assert seen.count(1) > 3000 and len(seen) - seen.count(1) > 100


@pytest.mark.parametrize("chunk", [None, 97])
def test_the_explorer_preview_in_summary_mode(chunk, monkeypatch):
    # The explorer's 60 s preview (record="summary", many failures during the incident): the loop writes the summary
    # recorder's rows and runs the failure path (retry decision, guards, the retry's scheduling, the request's end)
    # itself. With 97-row buffers the recorder folds hundreds of times, after rows written in the loop and through
    # calls (refusals, timeouts), so the loop must follow its row counts.
    from pathlib import Path

    import resilsim.sim.recorder as recorder_module
    from resilsim.widgets import build_explorer

    if chunk is not None:
        monkeypatch.setattr(recorder_module, "SUMMARY_CHUNK", chunk)
    path = Path(__file__).resolve().parents[2] / "scenarios" / "analytics-aurora-scale-up.yaml"
    scenario = build_explorer(str(path), preview=60, run=False).scenario()

    def facts():
        r = simulate(scenario, seed=0, record="summary")
        return tables_digest(r), [[s[k] for k in STATS] for s in r.stats.values()]

    seen = []
    with monkeypatch.context() as m:
        fused = run_module.run_fused
        m.setattr(run_module, "run_fused", lambda *a: seen.append("fused") or fused(*a))
        fast = facts()
    assert seen == ["fused"] * len(fast[1]) and fast[1]  # every strategy ran through the fused loop
    with monkeypatch.context() as m:
        _general(m)
        assert facts() == fast


def test_the_token_bucket_written_out_gives_what_its_try_acquire_gives(monkeypatch):
    # The fused loop takes the one global token bucket's tokens itself (no try_acquire call); the general loop asks
    # TokenBucket.try_acquire. A bucket tight enough to refuse many attempts (then retried), that still admits most
    # and refills to its burst between bursts of arrivals: the same rows, tables and statistics, and the loops did
    # take the two paths.
    from resilsim.server.limiters import TokenBucket

    def tight():
        data = bench("reference.yaml", 120.0)
        data["service"]["rate_limit"] = {"token_bucket": {"rate": 66, "burst": 3}}
        data["service"]["retry_after"] = "header"  # the refusal's wait, as Retry-After, times the retry
        data["strategies"]["full-jitter"]["retry"]["retry_after"] = True
        return data

    calls = []
    acquire = TokenBucket.try_acquire
    monkeypatch.setattr(TokenBucket, "try_acquire", lambda self, now: calls.append(now) or acquire(self, now))
    fast = _facts(tight, seed=2)
    assert calls == []  # written out
    sources = simulate(load_scenario(tight()), seed=2).attempts["source"].value_counts()
    assert sources["limiter"] > 0.2 * sources.sum() and sources["service"] > 0.5 * sources.sum()
    with monkeypatch.context() as m:
        _general(m)
        assert _facts(tight, seed=2) == fast
    assert len(calls) > 1000  # the general loop asked the bucket


def test_attempt_columns_hold_the_prefill_where_no_row_was_written():
    # The fused loop leaves a first attempt's number and a successful attempt's code and source unwritten: the
    # columns hold them already, in grown columns too.
    import numpy as np
    from resilsim.records import CODE_OK, SRC_SERVICE
    from resilsim.sim.recorder import Recorder

    rec = Recorder(10)
    cols = rec.attempts
    cols.cols["code"][:3] = 7
    cols.n = 3
    cols.grow(cols.capacity * 3)
    assert list(cols.cols["code"][:3]) == [7, 7, 7]
    assert (cols.cols["code"][3:] == CODE_OK).all() and (cols.cols["source"] == SRC_SERVICE).all()
    assert (cols.cols["attempt"] == 1).all()
    assert cols.cols["code"].dtype == np.int16



@pytest.mark.parametrize("per", ["tenant", "client"])
def test_the_keyed_gate_written_out_gives_what_the_gate_gives(per, monkeypatch):
    # The fused loop writes out the gate of a token bucket per tenant or client with a quota
    # (server/build.py _one_limit_and_quota_gate's, the all-features workload's), found by its `written_out`; the
    # general loop calls the gate. Buckets and a quota tight enough to refuse many attempts (then retried), quota
    # periods that end within the run, clients whose buckets are built on their first attempt: the same rows,
    # tables and statistics, and the loops did take the two paths.
    from resilsim.server import build

    def tight():
        data = bench("all_features.yaml", 120.0)
        data["service"]["rate_limit"] = {"token_bucket": {"rate": 3 if per == "tenant" else 2, "burst": 3},
                                         "per": per}
        data["service"]["quota"] = {"period": 25, "tiers": {"free": 30, "pro": 70, "enterprise": None}}
        data["strategies"]["full-jitter"].pop("guards")  # (a breaker would open on the refusals: few attempts)
        return data

    calls = []
    one = build._one_limit_and_quota_gate

    def counted(*a):
        gate = one(*a)

        def spy(att, now):
            calls.append(now)
            return gate(att, now)

        spy.written_out = gate.written_out
        return spy

    monkeypatch.setattr(build, "_one_limit_and_quota_gate", counted)
    fast = _facts(tight, seed=2)
    assert calls == []  # written out
    sources = simulate(load_scenario(tight()), seed=2).attempts["source"].value_counts()
    assert sources["limiter"] > 0.1 * sources.sum() and sources["quota"] > 0.05 * sources.sum()
    assert sources["service"] > 0.3 * sources.sum()
    with monkeypatch.context() as m:
        _general(m)
        assert _facts(tight, seed=2) == fast
    assert len(calls) > 1000  # the general loop asked the gate
