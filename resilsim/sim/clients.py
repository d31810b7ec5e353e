"""The clients: open-loop arrivals, attempts, timeouts and retries. The SimPy side of the client.

Decisions come from the pure policy objects: each code is resolved once to a
:class:`resilsim.policies.CodePlan`, and a failed attempt costs one table
lookup and one call of :func:`resilsim.policies.decide`.
"""
from __future__ import annotations

import math

import numpy as np

from ..policies.retry import decide
from ..rng import BLOCK, BlockRandom
from .events import PRIORITY, Attempt, Request, Tick, Timer
from .recorder import (CODE_OK, CODE_TIMEOUT, OUT_DEADLINE, OUT_FAILED, OUT_GAVE_UP, OUT_SHED,
                       OUT_SUCCESS, SRC_CLIENT_TIMEOUT)

_OUTCOME = {"failed": OUT_FAILED, "gave_up": OUT_GAVE_UP, "deadline": OUT_DEADLINE}


class _Tenancy:
    """Per request (by id): its tenant, its client and a uniform number for its request properties."""

    def __init__(self, gen, n_tenants: int, clients_per_tenant: int, auth):
        self.gen, self.n_tenants, self.per_tenant, self.auth = gen, n_tenants, clients_per_tenant, auth
        self.tenant_of: list = []
        self.client_of: list = []
        self.prop_u: list = []

    def draw(self, n: int) -> None:
        """Draw the next ``n`` requests' tenants, clients and uniforms in one block."""
        g = self.gen
        tenants = g.integers(0, self.n_tenants, n)
        self.tenant_of.extend(tenants.tolist())
        self.client_of.extend((tenants * self.per_tenant + g.integers(0, self.per_tenant, n)).tolist())
        self.prop_u.extend(g.random(n).tolist())


class Clients:
    """All clients together: Poisson arrivals at ``rate`` per second until ``until`` seconds.

    ``plans[code]`` is the strategy's plan per code index; ``timeout_plan``
    is its plan for a client-side timeout. ``timeout`` and ``deadline`` are
    seconds (None: none).
    """

    def __init__(self, env, *, rate: float, until: float, op_weights: np.ndarray, arrival_gen, jitter_gen,
                 recorder, plans: list, timeout_plan, reauth_delay: float, timeout: float | None,
                 deadline: float | None):
        self.env = env
        self.rate = rate
        self.until = until
        self.op_cum = np.cumsum(op_weights / op_weights.sum())
        self.arrival_gen = arrival_gen
        self.jitter = BlockRandom(jitter_gen)
        self.rec = recorder
        self.plans = plans
        self.timeout_plan = timeout_plan
        self.reauth_delay = reauth_delay
        self.timeout = math.inf if timeout is None else timeout
        self.deadline = math.inf if deadline is None else deadline
        self.timers = math.isfinite(self.timeout) or math.isfinite(self.deadline)
        self.service = None  # wired by the run
        self._schedule = env.schedule
        self._retry_cbs = [self._retry]
        self._timer_cbs = [self._timer]
        self._tick = Tick()
        self._tick_cbs = [self._arrive]
        self._times: list = []
        self._ops: list = []
        self._i = 0
        self._next_id = 0
        self._t = 0.0
        self.attempts_sent = 0
        self.requests_done = 0
        # API side (configure_tenants / configure_changes): off by default.
        # Two attributes only (CPython specialises attribute access up to 30 per instance).
        self.tenancy = None     # a _Tenancy when requests carry tenants
        self._lam = None        # [Λ breakpoints, time breakpoints, position] for rate changes
        self.guards = None      # a resilsim.policies.guards.Guards (its rng in .rng) when the strategy has guards

    def configure_tenants(self, gen, n_tenants: int, clients_per_tenant: int, auth=None) -> None:
        """Give every request a tenant (uniform over ``n_tenants``), a client within it and a uniform
        number for its request properties, drawn in blocks from ``gen``; ``auth`` is refreshed on reauth."""
        self.tenancy = _Tenancy(gen, n_tenants, clients_per_tenant, auth)

    def configure_guards(self, guards, rng) -> None:
        """Put ``guards`` (one state shared by every request of the run) in front of first attempts and
        retries; ``rng`` (with ``.random()``) is what they draw from. No guards: nothing changes."""
        if guards:
            guards.rng = rng
            self.guards = guards

    def configure_changes(self, changes: list[tuple[float, float, float]]) -> None:
        """Piecewise-constant arrival rate: ``(start, end, rate)`` windows (seconds, requests per second)
        on top of the base rate, by inverting the cumulative intensity Λ(t)."""
        tb, lb, t, lam = [0.0], [0.0], 0.0, 0.0
        for start, end, rate in sorted(changes):
            lam += (start - t) * self.rate
            tb.append(start)
            lb.append(lam)
            lam += (end - start) * rate
            tb.append(end)
            lb.append(lam)
            t = end
        far = max(t, self.until) * 2 + 1.0
        lam += (far - t) * self.rate
        tb.append(far)
        lb.append(lam)
        self._lam = [np.array(lb), np.array(tb), 0.0]

    def start(self) -> None:
        """Schedule the first arrival."""
        self._refill()
        self._schedule_next(0.0)

    def _refill(self) -> None:
        # Draw the next block of arrivals: times and operations, written to the request columns at once.
        if self._lam is None:
            gaps = self.arrival_gen.exponential(1.0 / self.rate, BLOCK)
            times = self._t + np.cumsum(gaps)
        else:
            # Unit-rate arrivals in Λ-space, mapped back to time: exact for piecewise-constant rates.
            lam = self._lam[2] + np.cumsum(self.arrival_gen.exponential(1.0, BLOCK))
            self._lam[2] = float(lam[-1])
            times = np.interp(lam, self._lam[0], self._lam[1])
        self._t = float(times[-1])
        times = times[times < self.until]
        ops = np.searchsorted(self.op_cum, self.arrival_gen.random(BLOCK)[: len(times)], side="right")
        ops = np.minimum(ops, len(self.op_cum) - 1)
        self.rec.add_arrivals(self._next_id, times, ops)
        if self.tenancy is not None:
            self.tenancy.draw(len(times))
        self._times = times.tolist()
        self._ops = ops.tolist()
        self._i = 0

    def _schedule_next(self, now: float) -> None:
        i = self._i
        if i >= len(self._times):
            if self._t >= self.until:
                return
            self._refill()
            i = 0
            if not self._times:
                return
        tick = self._tick
        tick.callbacks = self._tick_cbs
        self._schedule(tick, PRIORITY, self._times[i] - now)

    def _arrive(self, tick) -> None:
        now = self.env._now
        i = self._i
        req = Request(self._next_id, self._ops[i], now, now + self.deadline)
        self._next_id += 1
        self._i = i + 1
        self._schedule_next(now)
        g = self.guards
        if g is not None and not g.allow_request(now, g.rng):
            self._finish(req, now, CODE_OK, OUT_SHED)  # shed locally: no attempt was sent
            return
        self.send(req, now)

    def send(self, req: Request, now: float) -> None:
        """Send the next attempt of ``req`` at ``now``."""
        req.n += 1
        att = Attempt(req, req.n, now)
        self.attempts_sent += 1
        if self.guards is not None:
            self.guards.on_attempt_start(now, req.n > 1)
        self.service.submit(att, now)
        if self.timers and not att.answered:
            limit = now + self.timeout
            if req.deadline_at < limit:
                limit = req.deadline_at
            # An attempt already in service whose answer comes in time needs no timer.
            if att.callbacks is None or now + att.service_time > limit:
                self._schedule(Timer(att, self._timer_cbs), PRIORITY, limit - now)

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
        if self.guards is not None:
            self.guards.on_attempt_end(now, att.n > 1)
            self.guards.on_result(now, code == CODE_OK, att.n > 1, False)
        if code == CODE_OK:
            self._finish(req, now, CODE_OK, OUT_SUCCESS)
            return
        self._after_failure(req, now, code, self.plans[code], att.retry_after)

    def _timer(self, timer: Timer) -> None:
        att = timer.att
        if att.answered:
            return
        now = self.env._now
        att.answered = True
        att.abandoned = True
        req = att.req
        self.rec.attempt(req.id, att.n, att.t_sent, now, CODE_TIMEOUT, SRC_CLIENT_TIMEOUT)
        if self.guards is not None:
            self.guards.on_attempt_end(now, att.n > 1)
            self.guards.on_result(now, False, att.n > 1, True)
        if now >= req.deadline_at:
            self._finish(req, now, CODE_TIMEOUT, OUT_DEADLINE)
            return
        self._after_failure(req, now, CODE_TIMEOUT, self.timeout_plan, None)

    def _after_failure(self, req: Request, now: float, code: int, plan, retry_after) -> None:
        d = decide(plan, self.reauth_delay, req.n, now - req.t0, req.prev_wait, retry_after, req.reauthed,
                   req.deadline_at - req.t0, self.jitter)
        if not d.retry:
            self._finish(req, now, code, _OUTCOME[d.outcome])
            return
        g = self.guards
        if g is not None and not g.allow_retry(now, g.rng, code == CODE_TIMEOUT):
            self._finish(req, now, code, OUT_SHED)  # a guard refused the retry
            return
        if d.reauth:
            req.reauthed = True
            if self.tenancy is not None and self.tenancy.auth is not None:
                self.tenancy.auth.refresh(now, self.tenancy.client_of[req.id])
        req.prev_wait = d.wait
        req.callbacks = self._retry_cbs
        self._schedule(req, PRIORITY, d.wait)

    def _finish(self, req: Request, now: float, code: int, outcome: int) -> None:
        req.done = True
        self.requests_done += 1
        self.rec.request(req.id, now, req.n, code, outcome)
