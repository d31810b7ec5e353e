"""Services behind the API and the calls between them: a call graph with retries at every layer.

A scenario's ``services:`` are more :class:`~resilsim.sim.service.Service`
objects (workers, queue, latency, shedding, processing timeout), and each
``calls:`` entry of an operation is an :class:`Edge`: a
:class:`~resilsim.sim.clients.Clients` of its own (no arrivals) that sends the
caller's calls to the callee with the edge's retry policy, timeout and guards.
The calling side is the clients' machinery, unchanged: attempts, timers,
``decide``, guards; only where a call ends is different (it tells the caller
instead of writing a request row).

A worker of a caller with calls is held while its calls run, in sequence,
then serves its own service time; when a call finally fails, the worker
answers at once with the call's ``on_failure`` code (the API) or the generic
error (a service). Deadlines propagate: a call's deadline is at most the
caller's attempt's own (its client's attempt timeout and request deadline),
so a callee stops retrying when its caller would no longer wait; a call due
after that is not sent. A parallel group waits for all its calls, the first
success or a quorum (:class:`Parallel`). Incidents may cut a service's
workers (:mod:`resilsim.sim.capacity`) or strike the network of an edge
(:class:`resilsim.sim.network.EdgeLink`); both are built only when a scenario
has them. A scenario without ``services:`` builds none of this.
"""
from __future__ import annotations

import math
from array import array

import numpy as np

from ..catalog import ErrorCode
from ..policies.build import build_strategy
from ..records import CODE_OK, CODE_TIMEOUT, OUT_SUCCESS, SRC_DEPENDENCY
from ..rng import BlockRandom
from ..server.build import mean_service_s
from ..server.faults import FaultSchedule, Incident
from ..server.incidents import expand
from .calllog import NOT_SENT, SKIPPED, CallLog, columns
from .clients import Clients
from .events import PRIORITY, Request, TimerQueue
from .service import Service, ServiceOptions

_ASSUMED = ("http", "advice")
#: What a service behind the API answers: generic outcomes, no codes of its own (the seeds document none).
#: Each is retried by advice (assumed: ``retry``, as a client-side timeout is).
GENERIC = (
    ErrorCode("SERVICE_ERROR", 500, "SERVICE_ERROR", "Service", "The service failed the call", "", "retry",
              assumed=_ASSUMED),
    ErrorCode("SERVICE_OVERLOADED", 503, "SERVICE_OVERLOADED", "Service", "The service's queue was full or it shed "
              "the call", "", "retry", assumed=_ASSUMED),
    ErrorCode("SERVICE_TIMEOUT", 504, "SERVICE_TIMEOUT", "Service", "The call waited past the service's queue or "
              "processing timeout", "", "retry", assumed=_ASSUMED),
)
G_ERROR, G_OVERLOADED, G_TIMEOUT = range(len(GENERIC))


class Call(Request):
    """A request one service makes of another: the caller's attempt it serves and where it is in the sequence."""

    # origin: the arrival time of the client request it serves; timeouts: its attempts the caller stopped
    # waiting for (calllog.py).
    __slots__ = ("parent", "step", "started", "caller", "edge", "group", "origin", "timeouts")


class Parallel:
    """A parallel group of an operation's calls (consecutive calls with ``parallel:``): its edges, one per copy,
    and ``quorum``, the successes the worker waits for (None: all of them; 1: the first, ``parallel: first``)."""

    __slots__ = ("edges", "quorum")

    def __init__(self, edges: tuple, quorum: int | None):
        self.edges = edges
        self.quorum = quorum


class _Group:
    """A parallel group in flight for one worker: the successes it still waits for (``need``), the failures it can
    still take (``spare``), whether it is over (the quorum met, or out of reach)."""

    __slots__ = ("need", "spare", "done")

    def __init__(self, need: int, spare: int):
        self.need = need
        self.spare = spare
        self.done = False


class _EdgeCounts:
    """The recorder an edge's clients write to: counts only, no rows."""

    __slots__ = ("attempts", "ok", "timeouts")

    def __init__(self):
        self.attempts = self.ok = self.timeouts = 0

    def attempt(self, rid, n, t_sent, now, code, source) -> None:
        """An attempt of a call ended (answered, timed out or cancelled)."""
        self.attempts += 1
        if code == CODE_OK:
            self.ok += 1
        elif code == CODE_TIMEOUT:
            self.timeouts += 1


class _EdgeClients(Clients):
    """An edge's :class:`Clients` that also counts its attempts by send bin (``bins``: a list, one int per
    ``width``-second bin of the run, sends past the last bin in the last), for the per-service timeline."""

    def send(self, req, now: float):
        """Send the next attempt of ``req`` at ``now`` (as :meth:`Clients.send`) and count it in its bin."""
        b = int(now // self.bin_width)
        bins = self.bins
        bins[b if b < len(bins) else -1] += 1
        return Clients.send(self, req, now)

    def _over(self, att, now: float, code: int, source: int, told: int) -> None:
        # The caller is done with ``att`` without an answer (timed out): count it on its call, then as Clients.
        if code == CODE_TIMEOUT:
            att.req.timeouts += 1
        Clients._over(self, att, now, code, source, told)


class Edge:
    """One ``calls:`` entry: the caller's clients for it, the callee and operation, and its counts.

    ``deadline`` is the call's own deadline in seconds (inf: none);
    ``fail_code`` the caller's code index answered when the call finally
    fails; ``propagate``: the caller's remaining time bounds the call's.
    """

    def __init__(self, name: str, target: str, op: int, clients: Clients, deadline: float, fail_code: int,
                 propagate: bool):
        self.name, self.target, self.op = name, target, op
        self.clients = clients
        self.deadline = deadline
        self.fail_code = fail_code
        self.propagate = propagate
        self.calls = 0        # calls made (each ends once)
        self.calls_ok = 0     # calls that succeeded (after retries)
        self.not_sent = 0     # calls not sent: the caller's deadline had passed (or a guard refused the first attempt)
        self.counts = _EdgeCounts()
        self.respond = clients.respond  # where the callee's answers go: the clients, or an EdgeLink's way back
        self.link = None      # an EdgeLink (resilsim.sim.network) when a network incident strikes this edge
        self.caller_name = ""  # "api" or the calling service's name (network incidents name edges by it)
        self.expires = None   # expires(att): when the sender of the caller's attempt att stops waiting (seconds)
        self.probability = 1.0
        self.draw = None      # with a probability below 1: what decides whether each call is made (.random())
        self.skipped = 0      # calls not made: the draw said no
        self.log = CallLog()  # one row per call, by the arrival time of the client request it serves

    def ended(self, req: Call, now: float, code: int, outcome: int) -> None:
        """The call ``req`` is over at ``now`` (wired as its clients' ``_finish``): tell its caller."""
        req.done = True
        self.clients.requests_done += 1
        ok = outcome == OUT_SUCCESS
        if ok:
            self.calls_ok += 1
        self.log.ended(req, now, ok)
        req.caller.call_done(req, now, ok)


class CallingService(Service):
    """A :class:`Service` whose operations may make downstream calls (:meth:`configure_calls`).

    Operations without calls take :class:`Service`'s own path; one with calls
    holds its worker through them, then serves its own service time.
    """

    def configure_calls(self, calls: list) -> None:
        """``calls[op]``: the operation's :class:`Edge` (or :class:`Parallel`) objects in order, or None (each edge's
        ``expires(att)`` says when the sender of the attempt it serves stops waiting). The one attribute it adds:
        this class keeps its instances' attribute names within CPython's limit for fast ``self.x`` loads."""
        self.calls = calls

    def _start(self, att, now: float) -> None:
        edges = self.calls[att.req.op]
        if edges is None:
            Service._start(self, att, now)
            return
        self._next(att, edges, 0, now, now)

    def _next(self, att, edges: tuple, k: int, now: float, started: float) -> None:
        # From the k-th step on, for the worker serving ``att`` (which took it at ``started``): make the next call
        # drawn (a call with a probability may be skipped), or the next parallel group; when none is left, serve
        # the operation's own time.
        while k < len(edges):
            edge = edges[k]
            if edge.__class__ is Parallel:
                if self._fan_out(att, edge, k, now, started):
                    return
                k += 1
                continue
            if edge.draw is not None and edge.draw.random() >= edge.probability:
                edge.skipped += 1
                edge.log.not_made(_origin(att), now, SKIPPED)
                k += 1
                continue
            self._send(att, edge, k, now, started, None)
            return
        Service._start(self, att, now)
        att.service_time += now - started  # the worker was held (busy) through its calls

    def _send(self, att, edge: Edge, k: int, now: float, started: float, group) -> bool:
        # Make one call of step k (of ``group``, a _Group, when it is a parallel one); False: it failed at once.
        limit = now + edge.deadline
        if edge.propagate:
            exp = edge.expires(att)
            if exp < limit:
                limit = exp
        edge.calls += 1
        if limit <= now:
            edge.not_sent += 1  # the caller would not wait for it: not sent (gRPC's DEADLINE_EXCEEDED)
            edge.log.not_made(_origin(att), now, NOT_SENT)
            if group is not None:
                group.done = True
            self._calls_failed(att, edge, now, started)
            return False
        cl = edge.clients
        req = Call(cl.new_id(), edge.op, now, limit)
        req.parent, req.step, req.started, req.caller, req.edge, req.group = att, k, started, self, edge, group
        req.origin = _origin(att)
        req.timeouts = 0
        cl.enter(req, now)
        return True

    def _fan_out(self, att, par: Parallel, k: int, now: float, started: float) -> bool:
        # A parallel group: every call drawn goes out now; False when none was drawn (go on to the next step). It
        # waits for its quorum of the calls made (all of them when it has none, or fewer were drawn).
        chosen = []
        for edge in par.edges:
            if edge.draw is not None and edge.draw.random() >= edge.probability:
                edge.skipped += 1
                edge.log.not_made(_origin(att), now, SKIPPED)
            else:
                chosen.append(edge)
        if not chosen:
            return False
        n = len(chosen)
        need = n if par.quorum is None or par.quorum > n else par.quorum
        group = _Group(need, n - need)
        for edge in chosen:
            if group.done or not self._send(att, edge, k, now, started, group):
                break  # one failed at once: the worker has answered; the rest are not made
        return True

    def call_done(self, req: Call, now: float, ok: bool) -> None:
        """A call of the worker serving ``req.parent`` ended at ``now``: the next call, its own work, or its answer."""
        att = req.parent
        group = req.group
        if group is not None:
            if group.done:
                return  # the group is over (its quorum met, or out of reach): nobody waits for this one
            if ok:
                group.need -= 1
                if group.need:
                    return  # the worker waits for more successes
            else:
                group.spare -= 1
                if group.spare >= 0:
                    return  # the quorum can still be met by the others
            group.done = True
        if not ok:
            self._calls_failed(att, req.edge, now, req.started)
            return
        self._next(att, self.calls[att.req.op], req.step + 1, now, req.started)

    def _calls_failed(self, att, edge: Edge, now: float, started: float) -> None:
        # The call finally failed: the worker answers the caller's code for it now.
        att.code = edge.fail_code
        att.source = SRC_DEPENDENCY
        att.service_time = now - started
        att.callbacks = self._done_cbs
        self.env.schedule(att, PRIORITY, 0.0)


class LayerLog:
    """What a service of a run with ``services:`` logs for :meth:`resilsim.Result.services` and
    :meth:`resilsim.Result.service_timeline`, in flat ``array('d')`` columns (no Python object per attempt for the
    garbage collector to walk): ``busy``, (start, end) seconds of each attempt a worker served, held through its
    calls, logged when it ends; ``waits`` (services behind the API only), (origin, sent, wait) per attempt taken
    from its queue or timed out there: the arrival time of the client request it serves, when its caller sent it
    and the seconds it waited."""

    __slots__ = ("busy", "waits")

    def __init__(self):
        self.busy = array("d")
        self.waits = array("d")


class _BusyLog:
    """A service that logs each served attempt's busy span (:class:`LayerLog`, attribute ``log``) when it ends:
    from ``now − service_time`` (when the worker took it) to ``now``."""

    def _complete(self, att) -> None:
        now = self.env._now
        self.log.busy.extend((now - att.service_time, now))
        super()._complete(att)

    def _complete_general(self, att) -> None:
        now = self.env._now
        self.log.busy.extend((now - att.service_time, now))
        super()._complete_general(att)


class _QueueLog(_BusyLog):
    """A service behind the API that also logs each attempt's wait in its queue when a worker takes it or the
    queue times it out (:class:`LayerLog`'s ``waits``)."""

    def _start(self, att, now: float) -> None:
        self.log.waits.extend((att.req.origin, att.t_sent, now - att.t_sent))
        super()._start(att, now)

    def _time_out_queued(self, att, now: float) -> None:
        self.log.waits.extend((att.req.origin, att.t_sent, now - att.t_sent))
        super()._time_out_queued(att, now)


class _LoggedService(_QueueLog, Service):
    """A :class:`Service` behind the API, its busy spans and queue waits logged (:class:`_QueueLog`)."""


class _LoggedCallingService(_QueueLog, CallingService):
    """A :class:`CallingService` behind the API, its busy spans and queue waits logged (:class:`_QueueLog`)."""


class _ApiService(_BusyLog, Service):
    """The API's :class:`Service` in a run with services behind it (none of its operations call): busy spans
    logged (:class:`_BusyLog`)."""


class _ApiCallingService(_BusyLog, CallingService):
    """The API's :class:`CallingService`: busy spans logged (:class:`_BusyLog`)."""


def _options(spec) -> ServiceOptions:
    """The :class:`ServiceOptions` of a service behind the API (answers from :data:`GENERIC`)."""
    pt, q, load = spec.processing_timeout, spec.queue, spec.load_latency
    codel = q.discipline == "codel"
    return ServiceOptions(
        processing_timeout=pt.after if pt else math.inf, processing_code=G_TIMEOUT if pt else -1,
        load_alpha=load.alpha if load else 0.0, load_power=load.power if load else 1.0,
        discipline=q.discipline, lifo_above=q.lifo_above,
        codel_target=q.codel_target if codel else math.inf, codel_interval=q.codel_interval if codel else math.inf,
        shed_load=spec.shed.load if spec.shed else math.inf, reject_s=spec.reject_cost * mean_service_s(spec))


class CallGraph:
    """The services behind the API of one run and the edges between them.

    ``gen`` is the run's ``services`` stream (children: per service its
    latency and fault draws, per edge its jitter, guard and call draws, in the
    scenario's order); ``index`` maps the API's codes to the run's code
    indices; ``top`` is the API's clients; ``timeout_code`` the
    :class:`ErrorCode` a client-side timeout is (retry policies plan it).
    """

    def __init__(self, scenario, env, gen: np.random.Generator, index: dict, top: Clients, timeout_code):
        from ..catalog import load_catalog
        catalog = load_catalog(scenario.api)
        self.top = top
        self.services: dict[str, Service] = {}
        names = list(scenario.services)
        kids = gen.spawn(2 * len(names) + 3 * self._n_edges(scenario))
        k = 0
        flap_rng = []  # flapping incidents on services draw from one more child, spawned only when one flaps

        def flap_gen():
            if not flap_rng:
                flap_rng.append(BlockRandom(gen.spawn(1)[0]))
            return flap_rng[0]
        self.incidents: list = []  # (service, Incident) of every incident window on a service
        for name in names:
            spec = scenario.services[name]
            ops = list(spec.operations)
            samplers = [spec.operations[o].latency.distribution().sampler(kids[k]) for o in ops]
            background = {GENERIC[G_ERROR].code: spec.error_rate} if spec.error_rate > 0 else {}
            cuts: list = []
            incidents = service_incidents(scenario, name, flap_gen, cuts)
            self.incidents += [(name, i) for i in incidents]
            faults = FaultSchedule(ops, [c.code for c in GENERIC], background, incidents)
            cls = _LoggedCallingService if any(spec.operations[o].calls for o in ops) else _LoggedService
            self.services[name] = cls(env, workers=spec.workers, queue_limit=spec.queue.limit,
                                      queue_timeout=spec.queue.timeout, samplers=samplers, faults=faults,
                                      fault_gen=kids[k + 1], limiter=None, rate_limit_code=-1,
                                      overload_code=G_OVERLOADED, timeout_code=G_TIMEOUT, respond=None,
                                      options=_options(spec))
            if cuts:
                # A capacity cut (incidents with workers): the service's worker count changes on the clock.
                from ..server.capacity import WorkerSchedule
                from .capacity import schedule_cuts
                schedule_cuts(env, self.services[name], WorkerSchedule(spec.workers, cuts))
            self.services[name].log = LayerLog()
            k += 2
        self.edges: list[Edge] = []
        into: dict[str, list] = {n: [] for n in names}
        specs = [scenario.service, *scenario.services.values()]
        built = {id(c): build_strategy(c, f"{c.service}.{c.operation}")
                 for s in specs for o in s.operations.values() for c in o.calls}
        bounded = self._bounded(scenario, built, math.isfinite(top.timeout) or math.isfinite(top.deadline))

        def edges_of(caller: str, svc_spec, code_of) -> list:
            nonlocal k
            out = []
            for op, o in svc_spec.operations.items():
                if not o.calls:
                    out.append(None)
                    continue
                row: list = []
                group = None  # the parallel group being built (consecutive calls with parallel: true, first or k)
                for c in o.calls:
                    st = built[id(c)]._replace(name=f"{caller}.{op}→{c.service}.{c.operation}")
                    timers = c.propagate_deadline and bounded[caller]
                    edge = self._edge(env, st, c, scenario, code_of(c), kids[k], kids[k + 1], timeout_code, timers)
                    if c.probability < 1.0:
                        edge.probability, edge.draw = c.probability, BlockRandom(kids[k + 2])
                    k += 3
                    edge.caller_name = caller
                    edge.expires = self._expires
                    into[c.service].append(edge)
                    if c.parallel:
                        if group is None:
                            group = []
                            row.append((group, c.parallel))  # the schema makes a group's calls agree on it
                        group.extend([edge] * c.count)  # count: that many copies at once
                    else:
                        group = None
                        row.extend([edge] * c.count)  # count: the same call made again, in sequence
                    self.edges.append(edge)
                out.append(tuple(_parallel(*x) if isinstance(x, tuple) else x for x in row))
            return out

        self.api_calls = edges_of("api", scenario.service, lambda c: index[catalog[c.on_failure].code])
        for name in names:
            calls = edges_of(name, scenario.services[name], lambda c: G_ERROR)
            svc = self.services[name]
            if isinstance(svc, CallingService):
                svc.configure_calls(calls)
        if any(i.edge is not None for i in scenario.faults.incidents):
            self._links(scenario, env, gen, flap_gen)
        for name, edges in into.items():
            svc = self.services[name]
            if len(edges) == 1:
                svc.respond = edges[0].respond
            else:
                svc.respond = _route
        #: the class the API's service must be: it calls when any of its operations does
        self.api_class = _ApiCallingService if any(e is not None for e in self.api_calls) else _ApiService
        self.api = None  # the API's service, once attached

    @staticmethod
    def _n_edges(scenario) -> int:
        specs = [scenario.service] + list(scenario.services.values())
        return sum(len(o.calls) for s in specs for o in s.operations.values())

    @staticmethod
    def _bounded(scenario, built: dict, api_bounded: bool) -> dict:
        """Caller → whether some attempt it serves can have a finite deadline (then its propagating calls need
        timers): the API when its clients have a timeout or deadline; a service when some call into it has."""
        specs = {"api": scenario.service, **scenario.services}
        memo: dict = {"api": api_bounded}

        def of(name):
            if name not in memo:
                memo[name] = any(
                    (st := built[id(c)]).timeout is not None or st.deadline is not None
                    or (c.propagate_deadline and of(caller))
                    for caller, s in specs.items() for o in s.operations.values() for c in o.calls
                    if c.service == name)
            return memo[name]

        return {name: of(name) for name in specs}

    def _edge(self, env, st, c, scenario, fail_code: int, jitter_gen, guard_gen, timeout_code, timers: bool) -> Edge:
        name = st.name
        policy = st.policy
        timeout, deadline = st.timeout, st.deadline
        target = scenario.services[c.service]
        cl = _EdgeClients(env, rate=1.0, until=0.0, op_weights=np.ones(1), arrival_gen=None, jitter_gen=jitter_gen,
                     recorder=None, plans=[policy.plan(g) for g in GENERIC], timeout_plan=policy.plan(timeout_code),
                     reauth_delay=policy.reauth_delay, timeout=timeout, deadline=None)
        cl.bin_width = scenario.bin
        cl.bins = [0] * max(1, math.ceil(scenario.duration / scenario.bin))
        if cl.timers is None and (timers or deadline is not None):
            cl.timers = TimerQueue(env)
        edge = Edge(name, c.service, list(target.operations).index(c.operation), cl,
                    math.inf if deadline is None else deadline, fail_code, c.propagate_deadline)
        cl.rec = edge.counts
        cl.configure_calls(edge.ended)  # a call's end tells its caller
        cl.service = self.services[c.service]
        if st.guards is not None:
            from ..policies.guards import Guards
            fails = None if st.failures == "all" else [g.advice != "never" for g in GENERIC]
            cl.configure_guards(Guards(*st.make_guards()), BlockRandom(guard_gen), fails=fails,
                                throttles=[False] * len(GENERIC))
        return edge

    def attach(self, api) -> None:
        """Wire the API's service (of :attr:`api_class`) to its calls and its busy log."""
        self.api = api
        api.log = LayerLog()
        if isinstance(api, CallingService):
            api.configure_calls(self.api_calls)

    def _expires(self, att) -> float:
        # When att's sender stops waiting for it: its attempt timeout from the send, or its request's deadline.
        req = att.req
        cl = req.edge.clients if req.__class__ is Call else self.top
        t = att.t_sent + cl.timeout
        return t if t < req.deadline_at else req.deadline_at

    def _links(self, scenario, env, gen, flap_gen) -> None:
        # Network incidents between two services: each edge they strike sends through an EdgeLink. Built after
        # everything else, from children of the services stream spawned only now (scenarios without them draw
        # exactly as before); flapping ones draw their windows from the services' flap stream, after theirs.
        from ..server.links import LinkSchedule, LinkWindow
        from .network import EdgeLink
        specs = []  # (caller, callee, spec, its windows: (start, end))
        for i in scenario.faults.incidents:
            if i.edge is None:
                continue
            flap = (i.flap.mean_on, i.flap.mean_off) if i.flap is not None else None
            wins = expand(i.start, i.duration, {}, (), 1.0, i.name, flap, None, flap_gen() if flap else None)
            specs.append((i.edge.caller, i.edge.callee, i, [(w.start, w.end) for w in wins]))
            label = i.name or "network"
            self.incidents += [(f"{i.edge.caller}→{i.edge.callee}", Incident(w.start, w.duration, name=label))
                               for w in wins]
        for edge in self.edges:
            mine = [(spec, wins) for a, b, spec, wins in specs if a == edge.caller_name and b == edge.target]
            if not mine:
                continue
            g = gen.spawn(1)[0]
            windows = []
            for spec, wins in mine:
                req_gen, resp_gen = g.spawn(2)
                lat = spec.latency
                samplers = {}
                if lat is not None:
                    if lat.round_trip is not None:
                        samplers["round_trip"] = lat.round_trip.distribution().sampler(req_gen)
                    else:
                        if lat.request is not None:
                            samplers["request"] = lat.request.distribution().sampler(req_gen)
                        if lat.response is not None:
                            samplers["response"] = lat.response.distribution().sampler(resp_gen)
                windows += [LinkWindow(a, b, spec.loss, name=spec.name, **samplers) for a, b in wins]
            link = EdgeLink(env, callee=self.services[edge.target], respond=edge.clients.respond,
                            schedule=LinkSchedule(windows), loss_u=BlockRandom(g.spawn(1)[0]))
            edge.link = link
            edge.respond = link.reply
            edge.clients.service = link

    def windows(self) -> list[tuple[float, float, str]]:
        """(start, end, label) of every incident window on a service ("aurora: name") or between two
        ("api→aurora: name"), for shading charts."""
        return [(i.start, i.end, f"{svc}: {i.name or ','.join(i.rates)}") for svc, i in self.incidents]

    def all_attempts(self, clients) -> "AllAttempts":
        """What the run's watchdog counts against ``limits.max_attempts``: the attempts of ``clients`` (the API's)
        and of every call between services (:class:`AllAttempts`)."""
        return AllAttempts(clients, [e.clients for e in self.edges])

    def logs(self) -> tuple:
        """Per edge, in the scenario's order: its ``edge`` name (caller.operation→service.operation), ``caller``,
        ``service`` and its calls' rows as numpy columns (:data:`resilsim.sim.calllog.COLUMNS`)."""
        return tuple({"edge": e.name, "caller": e.name.split(".", 1)[0], "service": e.target, **e.log.arrays()}
                     for e in self.edges)

    def waits(self) -> dict:
        """Per service behind the API, its attempts' waits in its queue: ``origin`` (the arrival time of the
        client request each serves), ``sent`` (when its caller sent it) and ``wait_s`` (seconds from its send
        until a worker took it or the queue timed it out), numpy columns."""
        return {name: columns(svc.log.waits, ("origin", "sent", "wait_s")) for name, svc in self.services.items()}

    def busy(self) -> dict:
        """Per service, the API (``api``) first: ``start`` and ``end`` (seconds) of each attempt a worker served
        to its end (held through its calls), numpy columns; attempts still served when the run ended are not in it."""
        layers = (("api", self.api), *self.services.items())
        return {name: columns(svc.log.busy, ("start", "end")) for name, svc in layers}

    def bins(self) -> dict:
        """Per service behind the API, its attempts by send bin (a list of ints, one per ``scenario.bin``
        seconds; sends during the drain in the last bin): the sum over the edges into it."""
        out = {}
        for name in self.services:
            es = [e.clients.bins for e in self.edges if e.target == name]
            out[name] = [sum(col) for col in zip(*es)] if es else []
        return out


class AllAttempts:
    """Attempts sent at every layer, read as ``attempts_sent`` (by :class:`resilsim.sim.limits.Watchdog`, every few
    thousand events, never per attempt): the clients' to the API plus every call edge's to its callee."""

    def __init__(self, top, edges: list):
        self.top = top
        self.edges = edges

    @property
    def attempts_sent(self) -> int:
        """Attempts sent so far, all layers together."""
        return self.top.attempts_sent + sum(e.attempts_sent for e in self.edges)


def service_incidents(scenario, name: str, flap_gen, cuts: list | None = None) -> list:
    """The plain incident windows (:class:`~resilsim.server.faults.Incident`) of the incidents on service ``name``
    (flapping and ramps expanded; ``flap_gen()`` gives the rng flapping draws from). Rates are per attempt, keyed
    by the generic codes; no ``operations``: every operation of the service. ``cuts``, a list, receives the
    service's capacity cuts ``(start, end, workers)`` (:mod:`resilsim.server.capacity`)."""
    from ..server.capacity import incident_cuts
    out = []
    for i in scenario.faults.incidents:
        if i.service != name:
            continue
        flap = (i.flap.mean_on, i.flap.mean_off) if i.flap is not None else None
        ramp = (i.ramp.up, i.ramp.down, i.ramp.steps) if i.ramp is not None else None
        windows = expand(i.start, i.duration, i.all_rates(), tuple(i.operations), i.slowdown,
                         i.name or (i.use or ""), flap, ramp, flap_gen() if flap is not None else None)
        out += windows
        if cuts is not None:
            cuts += incident_cuts(i, windows, scenario.services[name].workers)
    return out


def _parallel(edges: list, mode) -> Parallel:
    # The group of ``edges`` (one per copy) waiting as its calls' ``parallel`` says: true (all), first, or k.
    return Parallel(tuple(edges), None if mode is True else 1 if mode == "first" else int(mode))


def _origin(att) -> float:
    # The arrival time of the client request an attempt serves, through any number of calls (seconds).
    req = att.req
    return req.origin if req.__class__ is Call else req.t0


def _route(att, now: float) -> None:
    # A service several edges call: the answer goes to the call's own edge (its clients, or its link's way back).
    att.req.edge.respond(att, now)
