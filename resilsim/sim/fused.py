"""The fused event loop: :func:`~resilsim.sim.events.run_until` with the commonest events handled inline.

Almost every attempt of an open-loop run is two events: the arrival tick (or a
retry's end of backoff) that sends it, and its completion at the service.
Through callbacks, those are ``Clients._arrive`` (or ``_retry``) → ``send`` →
``Service.submit`` → ``_start``, and ``Service._complete`` (→ ``_start`` of the
next queued attempt) → ``Clients.respond`` → the recorder's rows: about nine
Python frames per attempt, each reloading the same objects, and every event
goes through the general dispatch (swap the callback list, loop over it, test
``_ok``), whose attribute loads CPython cannot specialise because events of
every class pass there.

:func:`run_fused` pops the same events in the same order and does the same
work in the same order, with the bodies of those methods written out in the
loop for those kinds of event (the send written once, for arrivals and
retries); any other event (timers, samplers, guards' lines, held attempts,
incidents) goes through its callbacks as in ``run_until``, and what is rare
on those paths (refusals, guards' failure accounting, queue timeouts, a new
block of arrivals) stays a call. A failed completion's ``Clients._after_failure``
is written out too (the retry decision itself stays the policy's, one call to
its :func:`~resilsim.policies.retry.decider`), and so are the rows of a full or
a summary recorder and the admission gate of a token bucket per tenant or client
with a quota (``server.build``'s ``written_out``). It runs only where those
methods are the plain ones (:func:`fusable`): the clients and the service of
the top-level API, no subclass and no method swapped in (no hedging,
closed-loop users, network, calls between services, per-operation plans,
queue discipline other than FIFO, costly refusals, side effects,
load-dependent latency, processing timeout or capacity cut). Guards of every
kind and scope, tenants, gates (limits, quota, auth), attempt timers and
deadlines, queue limits and timeouts, incidents and every recorder are covered.

``tests/sim/test_fused.py`` holds it to the general loop: the same rows, tables
and run statistics for every pinned workload it takes, and the objects it
builds to their ``__init__``.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from heapq import heapify, heappop, heappush
from itertools import repeat

from ..policies.retry import decider
from ..records import (CODE_OK, CODE_TIMEOUT, OUT_BY_NAME, OUT_SHED, OUT_SUCCESS, SRC_BACKGROUND, SRC_CAPACITY,
                       SRC_INCIDENT, SRC_LIMITER, SRC_SERVICE)
from ..server.faults import FROM_INCIDENT
from ..server.limiters import TokenBucket
from .clients import Clients
from .events import PRIORITY, Attempt, Held, Request, Tick
from .recorder import Recorder, SummaryRecorder
from .service import Service

_new = object.__new__  # a slotted event object without its __init__ (as Clients._arrive and send do)


def _own(obj, name: str, cls) -> bool:
    # Whether obj.name is cls's own method, not one swapped in on the instance. Asked of the bound method, not of
    # vars(obj): reading an instance's __dict__ makes CPython 3.11 keep its attributes in a real dict, and every
    # `obj.x` in the loop then becomes a dict lookup (LOAD_ATTR_WITH_HINT instead of LOAD_ATTR_INSTANCE_VALUE).
    return getattr(getattr(obj, name), "__func__", None) is getattr(cls, name)


def fusable(clients, service, cuts) -> bool:
    """Whether :func:`run_fused` may run ``clients`` and ``service``: both plain, with nothing swapped in, and no
    capacity cut on the service (``cuts``: the API's cuts, ``(start, end, workers)`` each; a cut swaps the service's
    completion for one that retires workers, :meth:`~resilsim.sim.service.Service.set_workers`, mid-run)."""
    return (not cuts and type(clients) is Clients and type(service) is Service
            and _own(clients, "send", Clients) and _own(clients, "respond", Clients)
            and _own(clients, "_after_failure", Clients) and _own(service, "reject", Service)
            and clients._plain_finish and clients.users is None
            and clients._tick_cbs == [clients._arrive]
            and service.respond == clients.respond
            and service._done_cbs == [service._complete]
            and not service._adjust and not service.opt.reject_s)


def run_fused(env, clients, service, until: float, watchdog=None, every: int = 4096) -> str | None:
    """:func:`~resilsim.sim.events.run_until` for a :func:`fusable` run: the same arguments, events and answer."""
    if until <= env._now:
        raise ValueError(f"until ({until}) must be greater than the current simulation time")
    # What the methods written out below read of their objects and never change during a run, read once.
    queue = env._queue
    eid = env._eid
    c, svc, rec = clients, service, clients.rec
    tick = c._tick
    retry_cbs = c._retry_cbs
    done_cbs = svc._done_cbs
    squeue = svc.queue
    samplers = svc.samplers
    fault_u = svc.fault_u.random
    timers = c.timers
    ten = c.tenancy
    timer_cbs = c._timer_cbs
    deadline = c.deadline
    timeout = c.timeout
    limiter = svc.limiter
    # The one global token bucket (the reference workload's rate limit) is written out in the send below: its
    # try_acquire was the loop's last Python call per attempt (benchmarks/core_ab.py: 1.21 calls per attempt, 1.00 of
    # them this one). Only without a gate, which Service.submit asks first (the set-up never makes both).
    bucket = limiter if type(limiter) is TokenBucket and svc._gate is None else None
    if bucket is not None:
        limiter = None  # asked through `bucket`, not through the call
        b_rate, b_burst = bucket.rate, bucket.burst  # fixed at set-up (TokenBucket.__init__); tokens and last change
    # Service.reject's constants, for the limiter's refusals written out below (refusing is free here: no reject_s).
    rate_limit_code, refused, hint = svc.rate_limit_code, svc.refused, svc.opt.retry_after
    gate = svc._gate
    # The gate of a token bucket per tenant or client with a quota (server/build.py _one_limit_and_quota_gate: the
    # all-features workload's protections) is written out in the send below: its call was 1.00 of all features'
    # 1.63 Python calls per attempt (benchmarks/core_ab.py). Only that gate itself carries `written_out` (one
    # wrapped for load shedding does not, and is called).
    keyed = getattr(gate, "written_out", None)
    if keyed is not None:
        gate = None  # asked through `keyed`, not through the call
        k_buckets, k_per_client, k_factory, quota, q_limits, k_limited, k_over_quota = keyed
        # (all fixed at set-up: q_limits too, Quota never rebinds it; its used and reset_at change). A client's
        # bucket is built on its first attempt (k_buckets is then a dict; a list with every tenant's otherwise).
        k_get = k_buckets.get if k_per_client else None
        # The quota's counts (a list, counted in place) and the end of its period, in locals: four bytecodes fewer per
        # attempt than reading both from the quota each time. Only Quota.try_use rebinds them, at a new period, when
        # now >= reset_at: called here (k_over_quota, after which both are read again), or through some call that
        # reaches the gate (a held attempt's send, say). Then the pair here is stale only from a time >= q_reset
        # on, and time only moves on, so every later test here fails `now < q_reset` and goes to k_over_quota
        # (try_use on the quota's own state), which reads them again: a stale list is never counted in.
        q_used, q_reset = quota.used, quota.reset_at
        # Every bucket of that gate comes from its factory (a TokenBucket: the gate is chosen for it), and a token
        # bucket's rate and burst are fixed at TokenBucket.__init__: read once, from a fresh bucket thrown away.
        fresh = k_factory()
        k_rate, k_burst = fresh.rate, fresh.burst
    qlimit = svc.queue_limit
    qtimeout = svc.queue_timeout
    plans = c.plans
    guards = c.guards
    pick = getattr(guards, "pick", None)  # guards per tenant or client (a _Keyed): the request's own set
    tracks = guards is not None and guards.tracks_attempts  # guards counting attempts in flight (send tells them)
    # Clients.respond's test for the guards' success sink: one guard set that does not count attempts in flight.
    sinkable = guards is not None and pick is None and not guards.tracks_attempts
    one_set = guards is not None and pick is None and not guards.blocks  # Clients._arrive's usual guards
    # The fault segment in use and when it ends (seconds): time only moves on, so one comparison says whether it
    # still holds (segments are fixed at set-up, so it is the one Service._segment would give).
    seg, seg_end = None, -math.inf
    full = rec.__class__ is Recorder  # rows written in the loop (the streaming recorder's: through calls)
    summary = rec.__class__ is SummaryRecorder  # the explorer's preview: its buffered rows written in the loop too
    if summary:
        # SummaryRecorder.attempt and .request: fixed buffers (views taken once, in its __init__) folded into counts
        # when `chunk` rows are in; the row counts (_na, _nr) are read each time, as calls write rows too.
        chunk = rec._chunk
        s_req, s_att, s_start, s_end, s_code, s_src = (rec._a_req, rec._a_att, rec._a_start, rec._a_end,
                                                       rec._a_code, rec._a_src)
        sr_req, sr_start, sr_end, sr_att, sr_code, sr_out = (rec._r_req, rec._r_start, rec._r_end, rec._r_att,
                                                             rec._r_code, rec._r_out)
    # Clients._after_failure's decision, specialised once per code's plan (policies.retry.decider: decide's answer
    # and draws in one frame for the usual plans, instead of decide → wait → stop → Decision), and its rng.
    decisions = [decider(plan, c.reauth_delay) for plan in plans]
    jitter = c.jitter
    if full:
        # The attempt columns' views, and the capacity they were taken at: the columns grow (and the recorder
        # takes new views) only when full, so while the next row's index is below it these are still current.
        acols = rec.attempts
        a_cap = acols.capacity
        a_req, a_att, a_start, a_end, a_code, a_src = (rec._a_req, rec._a_att, rec._a_start, rec._a_end,
                                                       rec._a_code, rec._a_src)
        # The request columns' views: they grow only with a new block of arrivals (add_arrivals, from
        # Clients._schedule_next below), and are taken anew then.
        r_end, r_att, r_code, r_out = rec._r_end, rec._r_att, rec._r_code, rec._r_out
    # The arrivals' state, in locals while the loop runs (the next request id, the next arrival's index in its
    # block, the block's times and operations): only the arrival path uses it, and it is written back before
    # Clients._schedule_next reads it and when the loop ends (limits.trim_partial reads the id after a stop).
    next_id, k, times, ops = c._next_id, c._i, c._times, c._ops
    n_times = len(times)
    if ten is not None:
        # The block's tenants, clients and uniforms (_Tenancy.draw, with each new block of arrivals), in locals too.
        ten_t, ten_c, ten_u = ten.tenants, ten.clients, ten.props
    # Whether a request's prop_u (its properties' uniform) is read on this run. Its one reader is the general gate of
    # server/build.py make_gate (Admission.check's `u`: limits on entities, tiles, history days), which the service
    # would call as (or inside) svc._gate. Without a gate, or with the keyed gate written out above as the gate itself
    # (a limits-and-quota gate, which make_gate returns instead of the general one, reads only tenant and client), nothing reads it, and
    # the arrival leaves its slot empty: three bytecodes fewer per arrival (all features: the slot's store and the
    # uniform's look-up, less this test). A gate wrapped for shedding, or any other, gets it as before.
    # tests/sim/test_fused.py: the all-features twins run without it; analytics-quota-busy-hour's twin (the general
    # gate) fails with an AttributeError were it left out there (tried).
    u_read = gate is not None
    # The sentinel of run_until (see there): every event before `until` comes out before it.
    stop = Tick()
    # Attempt in a local: as a global it is this function's 129th-odd name, and a LOAD_GLOBAL past the 128th needs an
    # EXTENDED_ARG, one instruction more per attempt (which CPython runs but sys.settrace's opcode events, and so
    # benchmarks/core_ab.py's counts, do not show: they report it and the instruction it extends as one).
    attempt_cls = Attempt
    sentinel = (until, -1, -1, stop)
    heappush(queue, sentinel)
    step = every if watchdog is not None else 1 << 62
    events = 0
    # Attempts sent and requests finished here since they were last added to c.attempts_sent and c.requests_done
    # (a local += is three bytecodes fewer than an attribute's): only the watchdog reads them during a run, and
    # what other paths add to the attributes meanwhile (Clients.send, _finish) adds up the same.
    sent = done = 0
    # The service's busy seconds, added to in a local (five bytecodes instead of eight per completion) and written
    # back when the loop ends: only completions add to it, and in a fusable run every completion is the one written
    # out below (done_cbs is [svc._complete], handled here, never called); it is read only after the run
    # (run.py's stats, busy_s). The same additions in the same order from the same start: the same float.
    busy = svc.busy_time
    try:
        while True:
            # The next event popped by map's C loop, not by a call here: five bytecodes fewer per event (the global,
            # the call and the loop's own counter variable); map asks heappop lazily, once per turn, so the queue it
            # pops is the one the body has just pushed to, and after `step` events it stops without popping.
            for now, _, _, event in map(heappop, repeat(queue, step)):
                env._now = now
                if event is tick:
                    # ---- an arrival: Clients._arrive (Request(...) without its __init__, the next arrival pushed).
                    req = _new(Request)
                    req.callbacks = None
                    req.id = next_id
                    req.op = op = ops[k]
                    req.t0 = now
                    req.n = 0
                    req.prev_wait = 0.0
                    req.reauthed = False
                    req.deadline_at = now + deadline
                    req.done = False
                    if ten is not None:
                        if u_read:
                            req.tenant, req.client, req.prop_u = ten_t[k], ten_c[k], ten_u[k]
                        else:
                            req.tenant, req.client = ten_t[k], ten_c[k]  # (prop_u: nobody reads it, see u_read)
                    next_id += 1
                    k += 1
                    if k < n_times:
                        # (tick.callbacks is still tick_cbs, as Clients._arrive sets it: only run_until clears an
                        # event's callbacks, and this loop never clears the tick's)
                        heappush(queue, (times[k], PRIORITY, next(eid), tick))
                    else:
                        # The block is used up: Clients._schedule_next draws the next (and the recorder's request
                        # columns may grow then: new views).
                        c._next_id, c._i = next_id, k
                        c._schedule_next()
                        k, times, ops = c._i, c._times, c._ops
                        n_times = len(times)
                        if full:
                            r_end, r_att, r_code, r_out = rec._r_end, rec._r_att, rec._r_code, rec._r_out
                        if ten is not None:
                            ten_t, ten_c, ten_u = ten.tenants, ten.clients, ten.props
                    if one_set:
                        # The usual guards: one set for every request, none blocking (no pick, no line). Folded into
                        # the general branch below it cost all features 577.9 -> 586.3 bytecodes per attempt
                        # (benchmarks/core_ab.py, 20k requests), so it stays written out.
                        admit = guards.admit
                        if admit is not None:
                            admit(now)
                        elif not guards.allow_request(now, guards.rng):
                            c.ext.refused_first += 1
                            c._finish(req, now, CODE_OK, OUT_SHED)  # shed locally: no attempt was sent
                            continue
                    elif guards is not None:
                        g = guards if pick is None else pick(req)
                        admit = g.admit
                        if admit is not None:
                            admit(now)
                        elif not g.allow_request(now, g.rng):
                            c.ext.refused_first += 1
                            c._finish(req, now, CODE_OK, OUT_SHED)
                            continue
                        if g.blocks and c._hold(req, g, now, CODE_TIMEOUT, None):
                            continue  # waits for the client-side limiter
                else:
                    callbacks = event.callbacks
                    if callbacks is done_cbs:
                        # ---- a completion: Service._complete, then Clients.respond.
                        att = event
                        # (its callbacks stay done_cbs: run_until clears them to mark an event done, but nothing
                        # reads a finished attempt's; the send's timer test reads them before the attempt starts)
                        busy += att.service_time  # svc.busy_time, in a local while the loop runs (see `busy` above)
                        if att.abandoned:
                            svc.wasted_time += att.service_time
                        while squeue:
                            nxt = squeue.popleft()
                            if now - nxt.t_queued > qtimeout:
                                svc._time_out_queued(nxt, now)
                                continue
                            # Service._start of the next queued attempt, written out as in the send below: in the
                            # reference workload about 0.7 of all attempts start here, from the queue (a call here
                            # measured 1.21 -> 1.90 calls per attempt, benchmarks/core_ab.py).
                            nop = nxt.req.op
                            if now >= seg_end:
                                seg, seg_end = svc._segment(now), svc._seg_end
                            total, cum, idx, origin, slow = seg[nop]
                            d = samplers[nop]() * slow
                            if total > 0.0:
                                u = fault_u()
                                if u < total:
                                    j = bisect_right(cum, u)
                                    nxt.code = idx[j]
                                    nxt.source = SRC_INCIDENT if origin[j] == FROM_INCIDENT else SRC_BACKGROUND
                            # Otherwise the answer is CODE_OK from SRC_SERVICE, which a new attempt's code and source
                            # are already (Attempt.__init__; nothing sets them before it starts).
                            nxt.service_time = d
                            nxt.callbacks = done_cbs
                            heappush(queue, (now + d, PRIORITY, next(eid), nxt))
                            break
                        else:
                            svc.free += 1
                        if att.abandoned or att.answered:
                            continue
                        # Clients.respond
                        att.answered = True
                        req = att.req
                        code = att.code
                        if full:
                            # Recorder.attempt
                            row = acols.n
                            if row >= a_cap:
                                # Full, or grown through a call since the views were taken: grow if full, take
                                # the recorder's views anew.
                                if row == acols.capacity:
                                    acols.grow(row + 1)
                                    rec._bind()
                                a_cap = acols.capacity
                                a_req, a_att, a_start, a_end, a_code, a_src = (
                                    rec._a_req, rec._a_att, rec._a_start, rec._a_end, rec._a_code, rec._a_src)
                            a_req[row] = req.id
                            a_start[row] = att.t_sent
                            a_end[row] = now
                            # Attempt number, code and source only where they are not what the row holds already
                            # (recorder.ATTEMPT_PREFILL: a first attempt answered by the service, most rows).
                            n = att.n
                            if n != 1:
                                a_att[row] = n
                            if code != CODE_OK:
                                a_code[row] = code
                            src = att.source
                            if src != SRC_SERVICE:
                                a_src[row] = src
                            acols.n = row + 1
                        elif summary:
                            # SummaryRecorder.attempt
                            row = rec._na
                            s_req[row] = req.id
                            s_att[row] = att.n
                            s_start[row] = att.t_sent
                            s_end[row] = now
                            s_code[row] = code
                            s_src[row] = att.source
                            rec._na = row = row + 1
                            if row == chunk:
                                rec._fold_attempts()
                        else:
                            rec.attempt(req.id, att.n, att.t_sent, now, code, att.source)
                        if code == CODE_OK:
                            if guards is not None:
                                sink = guards.success_sink if sinkable else None
                                if sink is not None:
                                    sink()
                                else:
                                    c._guard_result(req, att.n, now, code, False)
                            outcome = OUT_SUCCESS
                        else:
                            if guards is not None:
                                # Clients._guard_result for an error answer (no timeout: timers come through calls).
                                g = guards if pick is None else pick(req)
                                retry = att.n > 1
                                if tracks:
                                    g.on_attempt_end(now, retry)
                                ext = c.ext
                                g.on_result(now, ext.fails is not None and not ext.fails[code], retry, False,
                                            ext.throttles is not None and ext.throttles[code])
                            # ---- Clients._after_failure: the policy decides (a pure call); the request ends, or its
                            # retry is scheduled after the wait.
                            t0 = req.t0
                            d = decisions[code](req.n, now - t0, req.prev_wait, att.retry_after, req.reauthed,
                                                req.deadline_at - t0, jitter)
                            if d.retry:
                                g = guards
                                if g is not None:
                                    if pick is not None:
                                        g = pick(req)
                                    if not g.allow_retry(now, g.rng, code == CODE_TIMEOUT):
                                        c.ext.refused_retry += 1
                                        c._finish(req, now, code, OUT_SHED)  # a guard refused the retry
                                        continue
                                if d.reauth:
                                    req.reauthed = True
                                    if ten is not None and ten.auth is not None:
                                        ten.auth.refresh(now, req.client)
                                req.prev_wait = wait = d.wait
                                if g is not None and g.blocks:
                                    # A blocking guard is asked when the retry is due (Clients._after_failure).
                                    held = Held(req, code, c.ext.held_cbs)
                                    heappush(queue, (now + wait, PRIORITY, next(eid), held))
                                    continue
                                req.callbacks = retry_cbs
                                heappush(queue, (now + wait, PRIORITY, next(eid), req))
                                continue
                            outcome = OUT_BY_NAME[d.outcome]
                        # Clients._finish, with the outcome: success, or the one the policy gave.
                        req.done = True
                        done += 1  # c.requests_done, added to it as `sent` is
                        if full:
                            # Recorder.request (its start is in the row already, from add_arrivals)
                            rid = req.id
                            r_end[rid] = now
                            r_att[rid] = req.n
                            if code != CODE_OK:
                                r_code[rid] = code  # (add_arrivals wrote CODE_OK in every request's row)
                            r_out[rid] = outcome
                        elif summary:
                            # SummaryRecorder.request
                            row = rec._nr
                            sr_req[row] = req.id
                            sr_start[row] = req.t0
                            sr_end[row] = now
                            sr_att[row] = req.n
                            sr_code[row] = code
                            sr_out[row] = outcome
                            rec._nr = row = row + 1
                            if row == chunk:
                                rec._fold_requests()
                        else:
                            rec.request(req.id, now, req.n, code, outcome, req.t0)
                        continue
                    if callbacks is not retry_cbs:
                        if event is stop:
                            env._now = until
                            stop = None  # popped: nothing to clean up
                            return None
                        # ---- any other event: its callbacks, as run_until calls them.
                        event.callbacks = None
                        for callback in callbacks:
                            callback(event)
                        if not event._ok and not hasattr(event, "_defused"):
                            exc = type(event._value)(*event._value.args)
                            exc.__cause__ = event._value
                            raise exc
                        continue
                    # ---- a retry's backoff has ended: Clients._retry.
                    req = event
                    req.callbacks = None
                    op = req.op
                # ---- the request's next attempt (the first, or a retry): Clients.send, Attempt(req, n, now)
                # without its __init__.
                req.n = n = req.n + 1
                att = _new(attempt_cls)
                att.callbacks = None
                att.req = req
                att.n = n
                att.t_sent = now
                att.t_queued = now
                # CODE_OK and SRC_SERVICE as literals: no global load per attempt. Were the constants changed, the
                # twin tests (tests/sim/test_fused.py) would see these rows differ from Attempt.__init__'s.
                att.code = -1
                att.source = 0
                att.retry_after = None
                att.answered = False
                att.abandoned = False
                att.service_time = 0.0
                sent += 1  # c.attempts_sent, added to it before the watchdog reads it and when the loop ends
                if tracks:
                    (guards if pick is None else pick(req)).on_attempt_start(now, n > 1)
                # Service.submit
                if bucket is not None:
                    # TokenBucket.try_acquire, the same arithmetic in the same order (the same floats; its state
                    # stays on the bucket, where anything else reads it).
                    tokens = bucket.tokens + (now - bucket.last) * b_rate
                    if tokens > b_burst:
                        tokens = b_burst
                    bucket.last = now
                    if tokens >= 1.0:
                        bucket.tokens = tokens - 1.0
                        wait = 0.0
                    else:
                        bucket.tokens = tokens
                        wait = (1.0 - tokens) / b_rate
                else:
                    wait = 0.0
                    if keyed is not None:
                        # The keyed gate's body (server/build.py _one_limit_and_quota_gate), the same arithmetic, counts and
                        # answers; its refusals through the gate's own cold paths. A refused attempt is answered
                        # there (Service.reject -> Clients.respond): no timer, on to the next event. (Kept short:
                        # the reference's send jumps over it, and a jump over 255 code units costs it an
                        # EXTENDED_ARG per attempt.)
                        tenant = req.tenant
                        if k_per_client:
                            lim = k_get(req.client)
                            if lim is None:  # a client's first attempt: its bucket is built now, as the gate does
                                lim = k_buckets[req.client] = k_factory()
                        else:
                            lim = k_buckets[tenant]
                        tokens = lim.tokens + (now - lim.last) * k_rate
                        if tokens > k_burst:
                            tokens = k_burst
                        lim.last = now
                        if tokens < 1.0:
                            lim.tokens = tokens
                            k_limited(att, now, (1.0 - tokens) / k_rate)
                            continue
                        lim.tokens = tokens - 1.0
                        # Quota.try_use's common case (in the period, under the limit), as the gate has it, on the
                        # quota's counts and period end held in locals (q_used, q_reset: see there).
                        qn = q_used[tenant]
                        if qn < q_limits[tenant] and now < q_reset:
                            q_used[tenant] = qn + 1
                        else:
                            over = k_over_quota(att, now, tenant)
                            q_used, q_reset = quota.used, quota.reset_at  # (try_use may have begun a period)
                            if over:
                                continue
                if gate is not None and gate(att, now):
                    continue  # answered by the gate (limits, quota, auth; Service.reject): no timer
                elif wait > 0.0 or limiter is not None and (wait := limiter.try_acquire(now)) > 0.0:
                    # Service.reject and Clients.respond up to the failure path, written out: two frames fewer
                    # on each refusal by the limiter (the explorer's preview has many during its incident).
                    att.code = code = rate_limit_code
                    att.source = SRC_LIMITER
                    att.retry_after = wait if hint is None else hint(wait)
                    refused.count += 1
                    att.answered = True
                    rec.attempt(req.id, n, now, now, code, SRC_LIMITER)
                    if guards is not None:
                        c._guard_result(req, n, now, code, False)
                    c._after_failure(req, now, code, plans[code], att.retry_after)
                    continue
                # send's attempt timer is decided in the two branches below, where what send asks of the attempt
                # is known without reading it (answered: no; queued: yes; in service: for d seconds), then added
                # after them. A refused attempt is answered (Service.reject -> Clients.respond): no timer. (The
                # queue first: the branch the reference's send jumps over stays under 255 code units, the
                # longest jump without an EXTENDED_ARG.)
                elif not svc.free:
                    if len(squeue) >= qlimit:
                        svc.reject(att, now, svc.overload_code, SRC_CAPACITY)
                        continue
                    squeue.append(att)  # (att.t_queued is now already: Service.submit's store left out)
                    if timers is None:
                        continue
                    limit = now + timeout  # (queued: a timer, whatever the limit)
                    if req.deadline_at < limit:
                        limit = req.deadline_at
                else:
                    svc.free -= 1
                    # Service._start
                    if now >= seg_end:
                        seg, seg_end = svc._segment(now), svc._seg_end
                    total, cum, idx, origin, slow = seg[op]
                    d = samplers[op]() * slow
                    if total > 0.0:
                        u = fault_u()
                        if u < total:
                            j = bisect_right(cum, u)
                            att.code = idx[j]
                            att.source = SRC_INCIDENT if origin[j] == FROM_INCIDENT else SRC_BACKGROUND
                    # (otherwise CODE_OK from SRC_SERVICE: what att holds already, as above)
                    att.service_time = d
                    att.callbacks = done_cbs
                    heappush(queue, (now + d, PRIORITY, next(eid), att))
                    if timers is None:
                        continue
                    limit = now + timeout
                    if req.deadline_at < limit:
                        limit = req.deadline_at
                    if now + d <= limit:
                        continue  # in service, answered in time: no timer
                # send's attempt timer (TimerQueue.add's common case inline, as send has it).
                pending = timers.pending
                at = now + (limit - now)
                if pending and at >= pending[-1][0]:
                    pending.append((at, next(eid), att, timer_cbs))
                else:
                    timers.add(att, limit - now, timer_cbs)
            events += step
            c.attempts_sent += sent
            c.requests_done += done
            sent = done = 0
            reason = watchdog(events)
            if reason is not None:
                return reason
    finally:
        svc.busy_time = busy
        c._next_id, c._i = next_id, k
        c.attempts_sent += sent
        c.requests_done += done
        if stop is not None:
            # Stopped early (the watchdog, or an exception): the sentinel leaves the queue as it was.
            queue.remove(sentinel)
            heapify(queue)
