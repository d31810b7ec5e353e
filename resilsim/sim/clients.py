"""The clients: open-loop arrivals, closed-loop users, attempts, timeouts and retries. The SimPy side of the client.

Decisions come from the pure policy objects: each code is resolved once to a
:class:`resilsim.policies.CodePlan`, and a failed attempt costs one table
lookup and one call of :func:`resilsim.policies.decide`.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from heapq import heappush
from operator import attrgetter

import numpy as np

from ..policies.retry import decide
from ..records import (CODE_CANCELLED, CODE_OK, CODE_TIMEOUT, OUT_BY_NAME, OUT_DEADLINE, OUT_SHED, OUT_SUCCESS,
                       SRC_CANCELLED, SRC_CLIENT_TIMEOUT)
from ..rng import BLOCK, BlockRandom
from .events import PRIORITY, Attempt, Held, Line, Request, Tick, Timer, TimerQueue

_new = object.__new__  # a slotted event object without its __init__ (Clients._arrive, send)

#: Arrivals of closed-loop users (and open ones beside them) handed to the recorder at a time.
_ARRIVAL_BLOCK = 1024


class _Arrivals:
    """How the open arrivals are drawn, once per block of arrivals: the base Poisson ``rate`` (per second), the
    numpy Generator ``gen``, the operations' cumulative weights ``op_cum``, the time ``t`` of the last arrival
    drawn (seconds) and ``source`` (an _Inverted or _Replayed; None: plain Poisson at ``rate``)."""

    __slots__ = ("rate", "gen", "op_cum", "t", "source")

    def __init__(self, rate: float, gen, op_cum: np.ndarray):
        self.rate, self.gen, self.op_cum, self.t, self.source = rate, gen, op_cum, 0.0, None


class _Tenancy:
    """Tenants for the requests of the current arrival block: each one's tenant, client and a uniform number
    for its request properties, copied onto the :class:`Request` when it arrives (nothing kept per request)."""

    def __init__(self, gen, n_tenants: int, clients_per_tenant: int, auth):
        self.gen, self.n_tenants, self.per_tenant, self.auth = gen, n_tenants, clients_per_tenant, auth
        self.tenants: list = []
        self.clients: list = []
        self.props: list = []

    def draw(self, n: int) -> None:
        """Draw the next ``n`` requests' tenants, clients and uniforms in one block."""
        g = self.gen
        tenants = g.integers(0, self.n_tenants, n)
        self.tenants = tenants.tolist()
        self.clients = (tenants * self.per_tenant + g.integers(0, self.per_tenant, n)).tolist()
        self.props = g.random(n).tolist()


class _Keyed:
    """Guard state per tenant or per client: a fresh set of guards per key, made on its first request."""

    def __init__(self, make, scope: str, rng):
        self.make = make                  # zero-arg: a fresh resilsim.policies.guards.Guards
        self.key_of = attrgetter(scope)   # request → its key ("tenant" or "client")
        self.rng = rng
        self.by_key: dict = {}
        self.tracks_attempts = make().tracks_attempts  # the same guard kinds for every key

    def pick(self, req: Request):
        """The guards of ``req``'s tenant or client."""
        k = self.key_of(req)
        g = self.by_key.get(k)
        if g is None:
            g = self.by_key[k] = self.make()
            g.rng = self.rng
        return g

    def all(self) -> list:
        """Every guard set made so far."""
        return list(self.by_key.values())


class _Inverted:
    """A piecewise-constant arrival rate, by inversion: the cumulative intensity Λ at time breakpoints ``tb``."""

    def __init__(self, lb: np.ndarray, tb: np.ndarray):
        self.lb, self.tb, self.pos = lb, tb, 0.0

    def block(self, gen) -> np.ndarray:
        """The next block of arrival times, seconds."""
        # Unit-rate arrivals in Λ-space, mapped back to time: exact for piecewise-constant rates.
        lam = self.pos + np.cumsum(gen.exponential(1.0, BLOCK))
        self.pos = float(lam[-1])
        return np.interp(lam, self.lb, self.tb)


class _Replayed:
    """Arrival times given in advance (a trace), handed out a block at a time."""

    def __init__(self, times: np.ndarray):
        self.times, self.pos = times, 0

    def block(self, gen) -> np.ndarray:
        """The next block of arrival times, seconds; past the trace's end, one time at infinity."""
        out = self.times[self.pos:self.pos + BLOCK]
        self.pos += BLOCK
        return out if len(out) else np.array([math.inf])


class _User:
    """One closed-loop user, scheduled itself for when it sends its next request (its tenant and client: with tenants)."""

    __slots__ = ("callbacks", "_ok", "tenant", "client")

    def __init__(self):
        self.callbacks = None
        self._ok = True
        self.tenant = self.client = 0


class _Users:
    """Closed-loop users: ``starts[k]`` is when user k sends its first request (seconds); after a request ends (any
    outcome) its user thinks for a draw of ``think`` (a zero-argument sampler, seconds; None: no think time) and
    sends the next. ``u`` (uniform numbers) picks each request's operation and request properties."""

    def __init__(self, starts: list, think, u, open_arrivals: bool, warmup: float):
        self.starts = starts
        self.think = think
        self.u = u
        self.open = open_arrivals   # open arrivals run beside the users (their rows are then written on arrival)
        self.of: dict = {}          # request id → its user, while the request is open
        self.cbs: list = []
        # Arrivals not yet handed to the recorder (ids from `first`), handed over in blocks (one recorder call per
        # request costs more than its simulation in summary mode): before any of them ends, when the block is
        # full, at the first arrival measured (the recorder learns where measuring starts) and at the run's end.
        self.first = 0
        self.times: list = []
        self.ops: list = []
        self.warmup = warmup
        self.measuring = False      # the first measured arrival has been handed over
        self.op_cum: list = []      # the clients' op_cum as a list (one bisect per request)


class _Ext:
    """Client options off the hot path (guards' failure table, hedging) and their counters."""

    def __init__(self):
        self.fails = None          # per code index: does it count as a failure for the guards? None: every error
        self.timeout_fails = True  # does a client-side timeout count as a failure?
        self.throttles = None      # per code index: is it a throttle (HTTP 429, the rate-limit code)?
        self.refused_first = 0     # requests shed by a guard before their first attempt
        self.refused_retry = 0     # retries a guard refused (the request ended shed)
        self.refused_hedge = 0     # hedges a guard refused (the request went on with its first attempt)
        self.held = 0              # attempts a blocking guard (the AWS adaptive limiter) made wait
        self.held_s = 0.0          # seconds they waited in all
        self.held_deadline = 0     # requests whose deadline came while their attempt waited
        self.held_cbs: list = []
        self.line_cbs: list = []
        self.lines: dict = {}      # guard set → its Line of attempts waiting for the blocking guard
        self.hedge_delay = 0.0
        self.hedge_extra = 0
        self.hedges_sent = 0
        self.hedge_wins = 0        # requests a hedged copy answered first with success
        self.copies: dict = {}     # request id → its hedged attempts (first one first), while the race is open
        self.hedge_cbs: list = []


class Clients:
    """All clients together: Poisson arrivals at ``rate`` per second until ``until`` seconds (or the arrivals of
    configure_changes / configure_curve / configure_replay; closed-loop users beside or instead: configure_users).

    ``plans[code]`` is the strategy's plan per code index; ``timeout_plan``
    is its plan for a client-side timeout. ``timeout`` and ``deadline`` are
    seconds (None: none).
    """

    def __init__(self, env, *, rate: float, until: float, op_weights: np.ndarray, arrival_gen, jitter_gen,
                 recorder, plans: list, timeout_plan, reauth_delay: float, timeout: float | None,
                 deadline: float | None):
        self.env = env
        self.until = until
        # How open arrivals are drawn (once per block): one attribute for five, see the attribute-count note below.
        self.arrivals = _Arrivals(rate, arrival_gen, np.cumsum(op_weights / op_weights.sum()))
        self.jitter = BlockRandom(jitter_gen)
        self.rec = recorder
        self.plans = plans
        self.timeout_plan = timeout_plan
        self.reauth_delay = reauth_delay
        self.timeout = math.inf if timeout is None else timeout
        self.deadline = math.inf if deadline is None else deadline
        # Attempt timers (None without a timeout or deadline): a FIFO beside the heap (events.TimerQueue).
        self.timers = TimerQueue(env) if math.isfinite(self.timeout) or math.isfinite(self.deadline) else None
        self.service = None  # wired by the run
        self._retry_cbs = [self._retry]
        self._timer_cbs = [self._timer]
        self._tick = Tick()
        self._tick_cbs = [self._arrive]
        self._times: list = []
        self._ops: list = []
        self._i = 0
        self._next_id = 0
        self.attempts_sent = 0
        self.requests_done = 0
        # respond() inlines Clients._finish while it is the one in use: not once swapped on the instance (closed-loop
        # users, calls), nor when a subclass or a test replaces it.
        self._plain_finish = type(self)._finish is _PLAIN_FINISH
        # API side (configure_tenants / configure_changes, _curve, _replay): off by default.
        self.tenancy = None     # a _Tenancy when requests carry tenants
        self.guards = None      # a resilsim.policies.guards.Guards (its rng in .rng), or a _Keyed, when the strategy has guards
        self.ext = None         # an _Ext with guards or hedging
        # Closed-loop users (configure_users) set self.users (class default None) and swap in _finish_closed.
        # Attribute count: CPython 3.11 keeps an instance's attributes in the class's shared keys (and specialises
        # self.x loads) only up to about 30 keys over every instance of the class; with 30 here every load on
        # the hot path fell back to a dict lookup (dis.dis(..., adaptive=True): LOAD_ATTR_WITH_HINT). 26 here,
        # leaving room for what hedging and closed-loop users add (send, respond, _finish, users). Hot-path reads
        # stay instance attributes: 3.11 does not specialise reading a class attribute through an instance.

    users = None  # a _Users with closed-loop users (an instance attribute only then: see the attribute-count note)

    def configure_tenants(self, gen, n_tenants: int, clients_per_tenant: int, auth=None) -> None:
        """Give every request a tenant (uniform over ``n_tenants``), a client within it and a uniform
        number for its request properties, drawn in blocks from ``gen``; ``auth`` is refreshed on reauth."""
        self.tenancy = _Tenancy(gen, n_tenants, clients_per_tenant, auth)

    def configure_guards(self, guards, rng, *, scope: str | None = None, fails: list | None = None,
                         timeout_fails: bool = True, throttles: list | None = None) -> None:
        """Put ``guards`` in front of first attempts and retries; ``rng`` (with ``.random()``) is what they draw from.

        ``guards`` is one :class:`~resilsim.policies.guards.Guards` shared by
        every request of the run, or with ``scope`` (``"tenant"`` or ``"client"``,
        which needs :meth:`configure_tenants`) a zero-argument callable making a
        fresh one per tenant or client. ``fails``
        (per code index) says which codes the guards count as failures (None:
        every error); ``timeout_fails`` the same for client-side timeouts;
        ``throttles`` (per code index) marks throttling answers (the AWS
        adaptive limiter's signal). No guards: nothing changes.
        """
        if scope is not None:
            guards = _Keyed(guards, scope, rng)
        elif not guards:
            return
        else:
            guards.rng = rng
        self.guards = guards
        if self.ext is None:
            self.ext = _Ext()
        self.ext.fails = fails
        self.ext.timeout_fails = timeout_fails
        self.ext.throttles = throttles
        self.ext.held_cbs = [self._unhold]
        self.ext.line_cbs = [self._serve]

    def configure_hedge(self, delay: float, max_extra: int = 1) -> None:
        """Hedge first attempts: ``delay`` seconds after the first attempt (and after each copy), if none
        has answered, send another copy, at most ``max_extra``; the first success wins and the other copies
        are cancelled. A failure counts only once every copy has failed. Call before the service is built
        (it takes :meth:`respond`)."""
        if self.ext is None:
            self.ext = _Ext()
        ext = self.ext
        ext.hedge_delay, ext.hedge_extra = float(delay), int(max_extra)
        ext.hedge_cbs = [self._hedge]
        # Swapped on the instance: without hedging the send/respond/timer path is unchanged.
        self.send = self._send_hedged
        self.respond = self._respond_hedged
        self._timer_cbs = [self._timer_hedged]

    def configure_op_plans(self, plans: list, timeout_plans: list) -> None:
        """Plans per operation index: ``plans[op]`` (per code) and ``timeout_plans[op]`` replace ``plans`` and
        ``timeout_plan`` for that operation's requests (a library that retries no non-idempotent request). Call
        after :meth:`configure_hedge` and before the service is built (it takes :meth:`respond`)."""
        respond, timer = self.respond, self._timer_cbs[0]

        def respond_by_op(att, now):
            op = att.req.op
            self.plans, self.timeout_plan = plans[op], timeout_plans[op]
            respond(att, now)

        def timer_by_op(t):
            op = t.att.req.op
            self.plans, self.timeout_plan = plans[op], timeout_plans[op]
            timer(t)

        self.respond = respond_by_op
        self._timer_cbs = [timer_by_op]

    def guard_sets(self) -> list:
        """Every guard set of the run (one without scope; one per tenant or client met so far)."""
        g = self.guards
        if g is None:
            return []
        return g.all() if g.__class__ is _Keyed else [g]

    def configure_changes(self, changes: list[tuple[float, float, float]]) -> None:
        """Piecewise-constant arrival rate: ``(start, end, rate)`` windows (seconds, requests per second)
        on top of the base rate, by inverting the cumulative intensity Λ(t)."""
        tb, lb, t, lam = [0.0], [0.0], 0.0, 0.0
        for start, end, rate in sorted(changes):
            lam += (start - t) * self.arrivals.rate
            tb.append(start)
            lb.append(lam)
            lam += (end - start) * rate
            tb.append(end)
            lb.append(lam)
            t = end
        far = max(t, self.until) * 2 + 1.0
        lam += (far - t) * self.arrivals.rate
        tb.append(far)
        lb.append(lam)
        self.arrivals.source = _Inverted(np.array(lb), np.array(tb))

    def configure_curve(self, times: np.ndarray, rates: np.ndarray) -> None:
        """A non-homogeneous Poisson process: rate ``rates[i]`` (requests per second) from ``times[i]`` (seconds,
        increasing, the first 0) to the next time, the last rate on to the end; by inverting Λ(t)."""
        far = max(float(times[-1]), self.until) * 2 + 1.0
        tb = np.append(times, far)
        lb = np.concatenate(([0.0], np.cumsum(rates * np.diff(tb))))
        self.arrivals.source = _Inverted(lb, tb)

    def configure_replay(self, times: np.ndarray, rate_scale: float = 1.0) -> None:
        """Arrivals at ``times`` (seconds, sorted); with ``rate_scale`` k each one sends ⌊k⌋ requests, plus one
        more with probability k − ⌊k⌋ (drawn once, here, from the arrival stream)."""
        if rate_scale != 1.0:
            whole, frac = divmod(rate_scale, 1.0)
            copies = int(whole) + (self.arrivals.gen.random(len(times)) < frac)
            times = np.repeat(times, copies)
        self.arrivals.source = _Replayed(np.asarray(times, dtype=float))

    def configure_users(self, starts: list, think, gen, open_arrivals: bool, warmup: float = 0.0) -> None:
        """Closed-loop users beside (``open_arrivals``) or instead of the open arrivals: user k sends its first
        request at ``starts[k]`` seconds, and each next one when the previous has ended (success or final failure)
        plus a draw of ``think`` (a zero-argument sampler of seconds, or None for none). ``gen`` (a numpy
        Generator) gives each request's operation and properties, and each user's tenant and client. Users send
        nothing at or after ``until``. Request ids stay in arrival order: rows are written as requests arrive (in
        blocks, see :meth:`flush_arrivals`); ``warmup`` (seconds) is where the recorder starts measuring."""
        users = self.users = _Users(list(starts), think, BlockRandom(gen), open_arrivals, warmup)
        users.op_cum = self.arrivals.op_cum.tolist()
        users.cbs = [self._user_sends]
        self._finish = self._finish_closed  # on the instance: without users, _finish is untouched
        self._plain_finish = False
        if open_arrivals:
            self._tick_cbs = [self._arrive_mixed]

    def configure_calls(self, finish) -> None:
        """Requests come from elsewhere (calls between services, :mod:`resilsim.sim.calls`): made with
        :meth:`new_id` and sent with :meth:`enter`, never by arrivals (do not :meth:`start`); each one's end goes
        to ``finish(req, now, code, outcome)`` instead of the recorder's request row."""
        self._finish = finish  # on the instance, as closed-loop users swap it
        self._plain_finish = False

    def new_id(self) -> int:
        """The next request id (requests made with :meth:`configure_calls`)."""
        rid = self._next_id
        self._next_id = rid + 1
        return rid

    def enter(self, req: Request, now: float) -> None:
        """``req`` (made elsewhere, see :meth:`configure_calls`) starts at ``now`` seconds: the guards, then its
        first attempt."""
        self._enter(req, now)

    def start(self) -> None:
        """Schedule the first arrival (and each closed-loop user's first request)."""
        users = self.users
        if users is not None:
            self._start_users(users)
            if not users.open:
                return
        self._refill()
        self._schedule_next()

    def _refill(self) -> None:
        # Draw the next block of arrivals: times and operations, written to the request columns at once.
        arr = self.arrivals
        if arr.source is None:
            gaps = arr.gen.exponential(1.0 / arr.rate, BLOCK)
            times = arr.t + np.cumsum(gaps)
        else:
            times = arr.source.block(arr.gen)
        arr.t = float(times[-1])
        times = times[times < self.until]
        ops = np.searchsorted(arr.op_cum, arr.gen.random(BLOCK)[: len(times)], side="right")
        ops = np.minimum(ops, len(arr.op_cum) - 1)
        if self.users is None:  # beside closed-loop users, each row is written on arrival (_arrive_mixed)
            self.rec.add_arrivals(self._next_id, times, ops)
        if self.tenancy is not None:
            self.tenancy.draw(len(times))
        self._times = times.tolist()
        self._ops = ops.tolist()
        self._i = 0

    def _schedule_next(self) -> None:
        i = self._i
        if i >= len(self._times):
            if self.arrivals.t >= self.until:
                return
            self._refill()
            i = 0
            if not self._times:
                return
        tick = self._tick
        tick.callbacks = self._tick_cbs
        # At the arrival's own time, not after a delay: now + (t - now) can round one step below t, and the
        # request's recorded start (t) must be the clock's time when it arrives.
        env = self.env
        heappush(env._queue, (self._times[i], PRIORITY, next(env._eid), tick))

    def _arrive(self, tick) -> None:
        env = self.env
        now = env._now
        i = self._i
        # Request(id, op, now, deadline) without its __init__ frame (CPython 3.11 does not specialise calling a class
        # with a Python __init__): the same fields, set here; tests/sim/test_hot_path.py compares the two.
        req = _new(Request)
        req.callbacks = None
        req.id = self._next_id
        req.op = self._ops[i]
        req.t0 = now
        req.n = 0
        req.prev_wait = 0.0
        req.reauthed = False
        req.deadline_at = now + self.deadline
        req.done = False
        ten = self.tenancy
        if ten is not None:
            req.tenant, req.client, req.prop_u = ten.tenants[i], ten.clients[i], ten.props[i]
        self._next_id += 1
        self._i = i = i + 1
        times = self._times
        if i < len(times):
            # _schedule_next's common case (the next arrival of this block) inline: one call fewer per request.
            tick.callbacks = self._tick_cbs
            heappush(env._queue, (times[i], PRIORITY, next(env._eid), tick))
        else:
            self._schedule_next()
        g = self.guards
        if g is not None:
            if g.__class__ is _Keyed:
                g = g.pick(req)
            admit = g.admit  # set while every guard would allow: only deposits to record
            if admit is not None:
                admit(now)
            elif not g.allow_request(now, g.rng):
                self.ext.refused_first += 1
                self._finish(req, now, CODE_OK, OUT_SHED)  # shed locally: no attempt was sent
                return
            if g.blocks and self._hold(req, g, now, CODE_TIMEOUT, None):
                return  # waits for the client-side limiter
        self.send(req, now)

    # ------------------------------------------------------------ closed-loop users (off the open path)

    def _start_users(self, users: _Users) -> None:
        env, ten = self.env, self.tenancy
        for t in users.starts:
            user = _User()
            if ten is not None:
                user.tenant = int(users.u.random() * ten.n_tenants)
                user.client = user.tenant * ten.per_tenant + int(users.u.random() * ten.per_tenant)
            user.callbacks = users.cbs
            # At its own time (as arrivals are): the request's recorded start must be the clock's time.
            heappush(env._queue, (t, PRIORITY, next(env._eid), user))

    def _write_arrival(self, rid: int, now: float, op: int) -> None:
        users = self.users
        if not users.times:
            users.first = rid
        users.times.append(now)
        users.ops.append(op)
        if len(users.times) >= _ARRIVAL_BLOCK or (not users.measuring and now >= users.warmup):
            users.measuring = users.measuring or now >= users.warmup
            self.flush_arrivals()

    def flush_arrivals(self) -> None:
        """Hand the arrivals not yet recorded to the recorder (with closed-loop users; call once the run is over)."""
        users = self.users
        if users is not None and users.times:
            self.rec.add_arrivals(users.first, np.array(users.times), np.array(users.ops, dtype=np.int16))
            users.times, users.ops = [], []

    def _arrive_mixed(self, tick) -> None:
        # An open arrival beside closed-loop users: write its row now (ids are given in arrival order), then arrive.
        self._write_arrival(self._next_id, self.env._now, self._ops[self._i])
        Clients._arrive(self, tick)

    def _user_sends(self, user: _User) -> None:
        # A closed-loop user's next request.
        now = self.env._now
        if now >= self.until:
            return  # no requests after the arrivals end (the user stops)
        users = self.users
        # bisect on a list: one request's operation, without numpy's per-call cost (searchsorted side="right")
        op = min(bisect_right(users.op_cum, users.u.random()), len(users.op_cum) - 1)
        rid = self._next_id
        self._next_id = rid + 1
        self._write_arrival(rid, now, op)
        req = Request(rid, op, now, now + self.deadline)
        ten = self.tenancy
        if ten is not None:
            req.tenant, req.client, req.prop_u = user.tenant, user.client, users.u.random()
        users.of[rid] = user
        self._enter(req, now)

    def _enter(self, req: Request, now: float) -> None:
        # The guards and first attempt of a request that has just arrived: _arrive's tail (kept inline there).
        g = self.guards
        if g is not None:
            if g.__class__ is _Keyed:
                g = g.pick(req)
            admit = g.admit
            if admit is not None:
                admit(now)
            elif not g.allow_request(now, g.rng):
                self.ext.refused_first += 1
                self._finish(req, now, CODE_OK, OUT_SHED)
                return
            if g.blocks and self._hold(req, g, now, CODE_TIMEOUT, None):
                return
        self.send(req, now)

    def _finish_closed(self, req: Request, now: float, code: int, outcome: int) -> None:
        # _finish with closed-loop users: a user's request has ended, so it thinks, then sends its next one.
        users = self.users
        if users.times and req.id >= users.first:
            self.flush_arrivals()  # its row must be there before its end is written
        Clients._finish(self, req, now, code, outcome)
        user = users.of.pop(req.id, None)
        if user is not None:
            think = users.think() if users.think is not None else 0.0
            user.callbacks = users.cbs
            self.env.schedule(user, PRIORITY, think)

    def send(self, req: Request, now: float) -> Attempt:
        """Send the next attempt of ``req`` at ``now``; return it."""
        req.n = n = req.n + 1
        # Attempt(req, n, now) without its __init__ frame (see _arrive); tests/sim/test_hot_path.py compares the two.
        att = _new(Attempt)
        att.callbacks = None
        att.req = req
        att.n = n
        att.t_sent = now
        att.t_queued = now
        att.code = -1
        att.source = 0
        att.retry_after = None
        att.answered = False
        att.abandoned = False
        att.service_time = 0.0
        self.attempts_sent += 1
        g = self.guards
        if g is not None and g.tracks_attempts:  # only the concurrency budget counts attempts in flight
            if g.__class__ is _Keyed:
                g = g.pick(req)
            g.on_attempt_start(now, req.n > 1)
        self.service.submit(att, now)
        if self.timers is not None and not att.answered:
            limit = now + self.timeout
            if req.deadline_at < limit:
                limit = req.deadline_at
            # An attempt already in service whose answer comes in time needs no timer.
            if att.callbacks is None or now + att.service_time > limit:
                timers = self.timers
                pending = timers.pending
                env = self.env
                at = env._now + (limit - now)  # as TimerQueue.add computes it
                if pending and at >= pending[-1][0]:
                    # TimerQueue.add's common case inline (a timer after the last pending one: append it, with the
                    # next SimPy id); tests/sim/test_hot_path.py holds it to add().
                    pending.append((at, next(env._eid), att, self._timer_cbs))
                else:
                    timers.add(att, limit - now, self._timer_cbs)
        return att

    def _retry(self, req: Request) -> None:
        self.send(req, self.env._now)

    def respond(self, att: Attempt, now: float) -> None:
        """The API answered ``att`` at ``now`` (wired as the service's ``respond``)."""
        if att.answered:
            return
        att.answered = True
        req = att.req
        code = att.code
        self.rec.attempt(req.id, att.n, att.t_sent, now, code, att.source)
        g = self.guards
        if g is not None:
            # _guard_result's common case inline: a success for one guard set that counts it in a sink.
            sink = g.success_sink if code == CODE_OK and g.__class__ is not _Keyed and not g.tracks_attempts else None
            if sink is not None:
                sink()
            else:
                self._guard_result(req, att.n, now, code, False)
        if code == CODE_OK:
            if self._plain_finish:
                # Clients._finish inline (unless closed-loop users or calls swapped it): one call fewer per request.
                req.done = True
                self.requests_done += 1
                self.rec.request(req.id, now, req.n, CODE_OK, OUT_SUCCESS, req.t0)
            else:
                self._finish(req, now, CODE_OK, OUT_SUCCESS)
            return
        self._after_failure(req, now, code, self.plans[code], att.retry_after)

    def _timer(self, timer: Timer) -> None:
        att = timer.att
        if att.answered:
            return
        now = self.env._now
        req = att.req
        att.abandoned = True
        self._over(att, now, CODE_TIMEOUT, SRC_CLIENT_TIMEOUT, CODE_TIMEOUT)
        if now >= req.deadline_at:
            self._finish(req, now, CODE_TIMEOUT, OUT_DEADLINE)
            return
        self._after_failure(req, now, CODE_TIMEOUT, self.timeout_plan, None)

    def _after_failure(self, req: Request, now: float, code: int, plan, retry_after) -> None:
        d = decide(plan, self.reauth_delay, req.n, now - req.t0, req.prev_wait, retry_after, req.reauthed,
                   req.deadline_at - req.t0, self.jitter)
        if not d.retry:
            self._finish(req, now, code, OUT_BY_NAME[d.outcome])
            return
        g = self.guards
        if g is not None:
            if g.__class__ is _Keyed:
                g = g.pick(req)
            if not g.allow_retry(now, g.rng, code == CODE_TIMEOUT):
                self.ext.refused_retry += 1
                self._finish(req, now, code, OUT_SHED)  # a guard refused the retry
                return
        if d.reauth:
            req.reauthed = True
            if self.tenancy is not None and self.tenancy.auth is not None:
                self.tenancy.auth.refresh(now, req.client)
        req.prev_wait = d.wait
        if g is not None and g.blocks:
            # A blocking guard is asked when the retry is due, after the backoff (botocore's send hook).
            self.env.schedule(Held(req, code, self.ext.held_cbs), PRIORITY, d.wait)
            return
        req.callbacks = self._retry_cbs
        self.env.schedule(req, PRIORITY, d.wait)

    def _finish(self, req: Request, now: float, code: int, outcome: int) -> None:
        req.done = True
        self.requests_done += 1
        self.rec.request(req.id, now, req.n, code, outcome, req.t0)

    def _over(self, att: Attempt, now: float, code: int, source: int, told: int) -> None:
        # The client is done with ``att`` at ``now`` (timed out, or a hedged copy): mark it, record its row with
        # ``code`` and ``source``, and tell the request's guards ``told`` (CODE_TIMEOUT: a timeout; a copy
        # cancelled because another won counts as a success). respond() does the same inline: its hot path.
        att.answered = True
        req = att.req
        self.rec.attempt(req.id, att.n, att.t_sent, now, code, source)
        if self.guards is not None:
            self._guard_result(req, att.n, now, told, told == CODE_TIMEOUT)

    # ------------------------------------------------------------ guards and hedging (off the plain path)

    def _guard_result(self, req: Request, n: int, now: float, code: int, timeout: bool) -> None:
        # An attempt ended with an answer (or a timeout): tell the request's guards.
        g = self.guards
        if g.__class__ is _Keyed:
            g = g.pick(req)
        retry = n > 1
        if g.tracks_attempts:
            g.on_attempt_end(now, retry)
        if code == CODE_OK:  # the common case first (a timeout comes with CODE_TIMEOUT)
            sink = g.success_sink
            if sink is not None:
                sink()
            else:
                g.on_result(now, True, retry, False, False)
            return
        ext = self.ext
        if timeout:
            g.on_result(now, not ext.timeout_fails, retry, True, False)
        else:
            ok = ext.fails is not None and not ext.fails[code]
            g.on_result(now, ok, retry, False, ext.throttles is not None and ext.throttles[code])

    def _hold(self, req: Request, g, now: float, code: int, held) -> bool:
        """Whether the attempt of ``req`` due at ``now`` must wait for ``g``'s blocking guard; if so, it joins the line.

        It goes at once when nobody waits and the guard gives a token
        (:meth:`~resilsim.policies.guards.Guard.take`). Otherwise it waits in
        ``g``'s :class:`Line` for a token (:meth:`_serve`); ``held`` is its
        :class:`Held` (None on arrival). If the request's deadline comes
        while it waits, it ends there as ``deadline`` with ``code``, having
        taken no token.
        """
        ext = self.ext
        line = ext.lines.get(g)
        if (line is None or not line.waiting) and g.take(now):
            return False
        if line is None:
            line = ext.lines[g] = Line(g)
        if held is None:
            held = Held(req, code, ext.held_cbs)
        held.queued = True
        held.since = now
        line.waiting.append(held)
        ext.held += 1
        if req.deadline_at < math.inf:
            held.callbacks = ext.held_cbs
            self.env.schedule(held, PRIORITY, req.deadline_at - now)
        if not line.armed:
            self._arm(line, now)
        return True

    def _unhold(self, held: Held) -> None:
        # A Held comes up: a retry's backoff has ended (now it is due), or a waiting attempt's deadline has come.
        req = held.req
        now = self.env._now
        if held.queued:
            if not held.done:
                held.done = True  # its line skips it
                self.ext.held_deadline += 1
                self.ext.held_s += now - held.since
                self._finish(req, now, held.code, OUT_DEADLINE)
            return
        g = self.guards
        if g.__class__ is _Keyed:
            g = g.pick(req)
        if not self._hold(req, g, now, held.code, held):
            self.send(req, now)

    def _arm(self, line: Line, now: float) -> None:
        # Wake the line when its guard says the next token comes (at least a nanosecond on: time must move).
        line.armed = True
        line.callbacks = self.ext.line_cbs
        wait = line.guards.wait(now)
        self.env.schedule(line, PRIORITY, wait if wait > 1e-9 else 1e-9)

    def _serve(self, line: Line) -> None:
        # Give the tokens there to waiting attempts, then wait for the next. Each token goes to a waiter drawn
        # at random, not the longest waiting: in botocore every blocked send sleeps until the same moment (the
        # next token) and whichever thread wakes first takes it. Draws come from the guards' own stream.
        now = self.env._now
        line.armed = False
        g, waiting, ext = line.guards, line.waiting, self.ext
        rng = g.rng
        while waiting:
            n = len(waiting)
            i = int(rng.random() * n) if n > 1 else 0
            held = waiting[i]
            if not held.done and not g.take(now):
                break
            waiting[i] = waiting[-1]  # swap-remove: order does not matter here
            waiting.pop()
            if held.done:
                continue  # its deadline came while it waited (it ended in _unhold)
            held.done = True
            ext.held_s += now - held.since
            self.send(held.req, now)
        if waiting and not line.armed:
            self._arm(line, now)

    def _send_hedged(self, req: Request, now: float) -> Attempt:
        # send() that arms a hedge timer on a request's first attempt.
        att = Clients.send(self, req, now)
        if req.n == 1 and not att.answered:
            self.env.schedule(Timer(att, self.ext.hedge_cbs), PRIORITY, self.ext.hedge_delay)
        return att

    def _hedge(self, timer: Timer) -> None:
        first = timer.att
        req = first.req
        if req.done or first.answered:
            return  # the first attempt answered (or timed out) within the delay: no hedge
        now = self.env._now
        ext = self.ext
        copies = ext.copies.get(req.id) or [first]
        if len(copies) > ext.hedge_extra:
            return
        g = self.guards
        if g is not None:
            if g.__class__ is _Keyed:
                g = g.pick(req)
            # A hedge is an extra attempt: budgets, quotas and breakers see it as a retry (as gRPC's throttling does);
            # a blocking limiter lets it go only with a token there now (a hedge that waits is no hedge).
            if not g.allow_retry(now, g.rng, False) or (g.blocks and not g.take(now)):
                ext.refused_hedge += 1
                return
        # Registered before sending: an immediate answer (a rate limiter's refusal) must see the race.
        ext.copies[req.id] = copies
        ext.hedges_sent += 1
        copies.append(Clients.send(self, req, now))
        if len(copies) <= ext.hedge_extra and not req.done:
            self.env.schedule(Timer(first, ext.hedge_cbs), PRIORITY, ext.hedge_delay)

    def _respond_hedged(self, att: Attempt, now: float) -> None:
        # respond() for a request with copies in flight: the first success wins; a failure waits for the others.
        if att.answered:
            return
        req = att.req
        copies = self.ext.copies.get(req.id)
        if copies is None:
            Clients.respond(self, att, now)
            return
        if att.code != CODE_OK and self._others_in_flight(copies, att):
            self._over(att, now, att.code, att.source, att.code)
            return
        del self.ext.copies[req.id]
        if att.code == CODE_OK and att is not copies[0]:
            self.ext.hedge_wins += 1
        self._cancel(copies, att, now, CODE_CANCELLED, SRC_CANCELLED)
        Clients.respond(self, att, now)

    def _timer_hedged(self, timer: Timer) -> None:
        # _timer() for hedged requests: a copy timing out while another runs just drops out of the race.
        att = timer.att
        if att.answered:
            return
        req = att.req
        copies = self.ext.copies.get(req.id)
        if copies is None:
            Clients._timer(self, timer)
            return
        now = self.env._now
        if now < req.deadline_at and self._others_in_flight(copies, att):
            att.abandoned = True
            self._over(att, now, CODE_TIMEOUT, SRC_CLIENT_TIMEOUT, CODE_TIMEOUT)
            return
        del self.ext.copies[req.id]
        Clients._timer(self, timer)
        # At the deadline the other copies are given up on too.
        self._cancel(copies, att, now, CODE_TIMEOUT, SRC_CLIENT_TIMEOUT)

    @staticmethod
    def _others_in_flight(copies: list, att: Attempt) -> bool:
        for c in copies:
            if c is not att and not c.answered:
                return True
        return False

    def _cancel(self, copies: list, keep: Attempt, now: float, code: int, source: int) -> None:
        # The client stops waiting for the other copies; the API still serves them (wasted work).
        # Given up at the deadline: a timeout for the guards. Cancelled because another copy succeeded: a success
        # (the call it was part of succeeded), so a breaker's half-open probes all report and it cannot stay
        # half-open.
        told = CODE_TIMEOUT if code == CODE_TIMEOUT else CODE_OK
        for c in copies:
            if c is not keep and not c.answered:
                c.abandoned = True
                self._over(c, now, code, source, told)


_PLAIN_FINISH = Clients._finish  # what respond() inlines (Clients.__init__ compares)
