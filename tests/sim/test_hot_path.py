"""The core's inlined hot path against its general form: the same rows, tables and run statistics.

Each fast path in resilsim/sim (Request and Attempt built without ``__init__``, the next arrival and the
completion pushed onto SimPy's heap directly, the cached fault segment, TimerQueue.add's append, the guards'
success sink and Clients._finish inline in ``respond``, run_until's sentinel) is held here to the plain code
it stands for: subclasses below restore the general form (the calls the fast path inlines), and whole runs
of the pinned workloads must give the same digests. The plain classes run through the fused loop
(resilsim/sim/fused.py), so these twins hold it too; tests/sim/test_fused.py holds it to the plain classes
run through ``run_until``.
"""
import bisect
import inspect

import pytest
import simpy

import resilsim.sim.run as run_module
from resilsim import load_scenario, simulate
from resilsim.records import CODE_OK, OUT_SUCCESS, SRC_BACKGROUND, SRC_INCIDENT, SRC_PROCESSING_TIMEOUT, SRC_SERVICE
from resilsim.server.faults import FROM_INCIDENT
from resilsim.sim.clients import Clients
from resilsim.sim.events import PRIORITY, Attempt, Request, Tick, run_until
from resilsim.sim.service import Service

from ..conftest import bench
from ..test_determinism import CASES, digest, tables_digest

STATS = ["busy_s", "wasted_s", "reject_s", "end_time", "attempts_sent", "requests_done", "stopped_at"]


class GeneralClients(Clients):
    """Clients with the calls the hot path inlines: Request(...), _schedule_next, Attempt(...), TimerQueue.add,
    _guard_result and _finish."""

    def _arrive(self, tick) -> None:
        now = self.env._now
        i = self._i
        req = Request(self._next_id, self._ops[i], now, now + self.deadline)
        ten = self.tenancy
        if ten is not None:
            req.tenant, req.client, req.prop_u = ten.tenants[i], ten.clients[i], ten.props[i]
        self._next_id += 1
        self._i = i + 1
        self._schedule_next()
        self._enter(req, now)

    def send(self, req, now):
        req.n += 1
        att = Attempt(req, req.n, now)
        self.attempts_sent += 1
        g = self.guards
        if g is not None and g.tracks_attempts:
            g.pick(req).on_attempt_start(now, req.n > 1) if hasattr(g, "pick") else g.on_attempt_start(now, req.n > 1)
        self.service.submit(att, now)
        if self.timers is not None and not att.answered:
            limit = min(now + self.timeout, req.deadline_at)
            if att.callbacks is None or now + att.service_time > limit:
                self.timers.add(att, limit - now, self._timer_cbs)
        return att

    def respond(self, att, now):
        if att.answered:
            return
        att.answered = True
        req, code = att.req, att.code
        self.rec.attempt(req.id, att.n, att.t_sent, now, code, att.source)
        if self.guards is not None:
            self._guard_result(req, att.n, now, code, False)
        if code == CODE_OK:
            self._finish(req, now, CODE_OK, OUT_SUCCESS)
            return
        self._after_failure(req, now, code, self.plans[code], att.retry_after)


class GeneralService(Service):
    """Service._start with the fault segment from _segment and the completion through Environment.schedule."""

    def _start(self, att, now):
        op = att.req.op
        total, cum, idx, origin, slow = self._segment(now)[op]
        d = self.samplers[op]() * slow
        if total > 0.0:
            u = self.fault_u.random()
            if u < total:
                j = bisect.bisect_right(cum, u)
                att.code = idx[j]
                att.source = SRC_INCIDENT if origin[j] == FROM_INCIDENT else SRC_BACKGROUND
            else:
                att.code, att.source = CODE_OK, SRC_SERVICE
        else:
            att.code, att.source = CODE_OK, SRC_SERVICE
        if self._adjust:
            if self.opt.load_alpha:
                d *= 1.0 + self.opt.load_alpha * ((self.workers - self.free) / self.workers) ** self.opt.load_power
            if d > self.opt.processing_timeout:
                d = self.opt.processing_timeout
                att.code, att.source = self.opt.processing_code, SRC_PROCESSING_TIMEOUT
        att.service_time = d
        att.callbacks = self._done_cbs
        self.env.schedule(att, PRIORITY, d)


def _facts(make, seed=7):
    r = simulate(load_scenario(make()), seed=seed)
    return digest(r), tables_digest(r), [[s[k] for k in STATS] for s in r.stats.values()]


@pytest.mark.parametrize("name", ["reference.yaml", "all_features.yaml", "all_features+guards-per-tenant",
                                  "all_features+guards-per-client", "all_features+hedge",
                                  "all_features+blocking-limiter-deadlines", "all_features+adaptive-lifo-processing-timeout",
                                  "all_features+network", "all_features+closed-and-open",
                                  "scenarios/analytics-incident-library.yaml"])
def test_the_inlined_hot_path_gives_what_its_general_form_gives(name, monkeypatch):
    fast = _facts(CASES[name])
    monkeypatch.setattr(run_module, "Clients", GeneralClients)
    monkeypatch.setattr(run_module, "Service", GeneralService)
    assert _facts(CASES[name]) == fast


def test_the_general_form_is_what_runs_when_patched(monkeypatch):
    # The twin above compares something: the patched classes are the ones the run builds.
    built = []
    monkeypatch.setattr(run_module, "Clients", type("Spy", (GeneralClients,), {
        "__init__": lambda self, *a, **k: (built.append(type(self)), GeneralClients.__init__(self, *a, **k))[1]}))
    simulate(load_scenario(CASES["reference.yaml"]()), seed=1)
    assert built and issubclass(built[0], GeneralClients)


def test_long_runs_cross_arrival_blocks_the_same_way(monkeypatch):
    # 200 s at 60 requests/s: three blocks of 4,096 arrivals, so _arrive's fallback to _schedule_next (a refill)
    # runs too; the all-features workload with its timers and guards.
    for name in ("reference.yaml", "all_features.yaml"):
        fast = _facts(lambda: bench(name, 200.0), seed=3)
        with monkeypatch.context() as m:
            m.setattr(run_module, "Clients", GeneralClients)
            m.setattr(run_module, "Service", GeneralService)
            assert _facts(lambda: bench(name, 200.0), seed=3) == fast


_UNSET = object()  # a slot never set


def _slots(obj) -> dict:
    return {s: getattr(obj, s, _UNSET) for s in type(obj).__slots__}


def test_request_and_attempt_built_inline_are_the_init_ones(monkeypatch):
    # Every field Request.__init__ / Attempt.__init__ sets, and no other, with the same values: checked on the
    # objects as the inlined code hands them on (a new request to send, an attempt to the service), before
    # anything else touches them.
    assert "req = _new(Request)" in inspect.getsource(Clients._arrive)
    assert "att = _new(Attempt)" in inspect.getsource(Clients.send)
    seen = {"req": 0, "att": 0}
    send, submit = Clients.send, Service.submit

    def check_send(self, req, now):
        if req.n == 0:  # a request just made by _arrive
            fresh = Request(req.id, req.op, req.t0, req.deadline_at)
            if self.tenancy is not None:  # set on arrival only with tenants, as the general form does
                fresh.tenant, fresh.client, fresh.prop_u = req.tenant, req.client, req.prop_u
            assert _slots(req) == _slots(fresh)
            seen["req"] += 1
        return send(self, req, now)

    def check_submit(self, att, now):
        assert _slots(att) == _slots(Attempt(att.req, att.n, att.t_sent))
        seen["att"] += 1
        submit(self, att, now)

    monkeypatch.setattr(Clients, "send", check_send)
    monkeypatch.setattr(Service, "submit", check_submit)
    # Through the callbacks (run_until): the fused loop builds its own, held to __init__ in tests/sim/test_fused.py.
    monkeypatch.setattr(run_module, "fusable", lambda clients, service, cuts: False)
    for name in ("reference.yaml", "all_features.yaml"):
        simulate(load_scenario(CASES[name]()), seed=2)
    assert seen["req"] > 5000 and seen["att"] > 5000


def test_run_until_leaves_no_sentinel_when_stopped_early_or_by_an_error():
    env = simpy.Environment()
    fired = []

    def tick_at(t):
        tick = Tick()
        tick.callbacks = [lambda ev: fired.append(env.now)]
        env.schedule(tick, PRIORITY, t)

    for t in range(1, 11):
        tick_at(float(t))
    calls = []
    # The watchdog stops the run after the first chunk of 3 events: the queue then holds only the events left.
    assert run_until(env, 100.0, watchdog=lambda n: calls.append(n) or "stop", every=3) == "stop"
    assert fired == [1.0, 2.0, 3.0] and env.now == 3.0 and calls == [3]
    assert sorted(e[0] for e in env._queue) == [float(t) for t in range(4, 11)]
    run_until(env, 100.0)  # and a later run goes on as env.run would
    assert fired == [float(t) for t in range(1, 11)] and env.now == 100.0 and env._queue == []
    # An exception in a callback leaves the queue without the sentinel, too.
    bad = Tick()
    bad.callbacks = [lambda ev: 1 / 0]
    env.schedule(bad, PRIORITY, 1.0)
    tick_at(5.0)
    with pytest.raises(ZeroDivisionError):
        run_until(env, 200.0)
    assert [e[3] for e in env._queue] != [] and all(e[1] == PRIORITY for e in env._queue)
    run_until(env, 200.0)
    assert fired[-1] == 105.0 and env.now == 200.0


def test_plain_clients_keep_their_attributes_within_the_shared_key_limit(monkeypatch):
    # CPython 3.11 specialises `self.x` loads only while a class's instances have at most 29 attribute names among
    # them (more, and every load on the hot path is a dict lookup: LOAD_ATTR_WITH_HINT). The plain and the
    # all-features runs' clients stay at 26, so what hedging and closed-loop users add still fits.
    seen = []
    start = Clients.start

    def spy(self):
        seen.append(set(vars(self)))
        start(self)

    monkeypatch.setattr(Clients, "start", spy)
    for name in ("reference.yaml", "all_features.yaml"):
        simulate(load_scenario(CASES[name]()), seed=1)
    assert seen and max(len(keys) for keys in seen) <= 26, sorted(max(seen, key=len))


def test_services_keep_their_attributes_within_the_shared_key_limit(monkeypatch):
    # The same limit for the services: the API's plain Service (reference and all-features workloads), and in a
    # run with services the API's calling service and the services behind it, with calls of their own or not
    # (their call table, busy and queue logs included) stay at 26, so that a capacity cut's three (retiring,
    # _plain_completion, _next_from_queue while it waits for busy workers) still fit.
    from resilsim.sim import calls as C
    from .test_calls import db, scenario

    seen: dict = {}
    submit = Service.submit

    def spy(self, att, now):
        seen.setdefault(type(self), set()).update(vars(self))
        submit(self, att, now)

    monkeypatch.setattr(Service, "submit", spy)
    # Through run_until: the fused loop does what submit does without calling it (the same attributes).
    monkeypatch.setattr(run_module, "fusable", lambda clients, service, cuts: False)
    for name in ("reference.yaml", "all_features.yaml"):
        simulate(load_scenario(CASES[name]()), seed=1)
    call = {"service": "backend", "operation": "read", "on_failure": "ANALYTICS_1900", "timeout": 1,
            "retry": {"stop": {"attempts": 2}}}
    backend = db(operations={"read": {"latency": {"constant": 0.001}, "calls": [
        {"service": "db", "operation": "query", "timeout": 0.5, "parallel": True, "count": 2},
        {"service": "cache", "operation": "query", "probability": 0.5}]}})
    simulate(scenario(api_calls=[call], services={"backend": backend, "db": db(), "cache": db()}), seed=1)
    assert {Service, C._ApiCallingService, C._LoggedCallingService, C._LoggedService} <= set(seen)
    worst = max(seen.values(), key=len)
    assert max(len(keys) for keys in seen.values()) <= 26, sorted(worst)
