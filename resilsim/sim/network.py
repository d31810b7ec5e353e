"""The network between the clients and the API: a hop before each attempt reaches the API, and one after its answer.

A :class:`Network` stands between the two without either knowing: to the
clients it is the service (its :meth:`Network.submit`), to the service it is
the clients (its :meth:`Network.reply`). So the clients' and the service's
paths stay as they are, and a scenario without ``network:`` runs none of this
(no event, no draw, no test per attempt).
"""
from __future__ import annotations

import math

from .events import PRIORITY


class Network:
    """Hops between clients and the API, drawn per attempt; counts where answered attempts spent their time.

    ``request`` and ``response`` are zero-argument samplers of the two hops
    (seconds; None: no hop that way), or ``round_trip`` one sampler of both
    together, drawn once per attempt when it is sent and split evenly.
    ``respond(att, now)`` is the clients' answer handler (bind it after
    hedging is configured); :attr:`service` is set once the service is built.
    Each attempt is scheduled itself for its hops (as the service schedules it
    for its service time); ``att.hop`` holds its network seconds so far.
    """

    def __init__(self, env, *, respond, request=None, response=None, round_trip=None):
        self.env = env
        self.respond = respond
        self.service = None          # wired by the run
        self._request = request
        self._response = response
        self._round_trip = round_trip
        self._schedule = env.schedule
        self._arrive_cbs = [self._arrive]
        self._deliver_cbs = [self._deliver]
        # Answered attempts (the client got the answer before giving up on it) and their time, seconds in all:
        # in the network (both hops), waiting at the API before service or refusal, in service.
        self.answered = 0
        self.network_s = 0.0
        self.queue_s = 0.0
        self.service_s = 0.0

    def submit(self, att, now: float) -> None:
        """The client sends ``att`` at ``now``: it reaches the API one request hop later."""
        rt = self._round_trip
        if rt is not None:
            d = rt() * 0.5
        else:
            d = self._request() if self._request is not None else 0.0
        att.hop = d
        # Not at the API yet: no service time known, so the client arms its timeout (Clients.send).
        att.service_time = math.inf
        att.callbacks = self._arrive_cbs
        self._schedule(att, PRIORITY, d)

    def _arrive(self, att) -> None:
        # The attempt reaches the API (even if the client has given up on it meanwhile: the API cannot know).
        att.service_time = 0.0
        self.service.submit(att, self.env._now)

    def reply(self, att, now: float) -> None:
        """The API answers ``att`` at ``now`` (wired as the service's ``respond``): the answer reaches the client one
        response hop later, where an attempt the client has given up on is discarded."""
        if att.answered:
            return  # the client gave up on it before the API answered (a refusal on arrival comes here too)
        if self._round_trip is not None:
            d = att.hop  # the other half of the round trip drawn at send
        else:
            d = self._response() if self._response is not None else 0.0
        att.hop += d
        att.callbacks = self._deliver_cbs
        self._schedule(att, PRIORITY, d)

    def _deliver(self, att) -> None:
        if att.answered:
            # The client timed out (or a hedged copy won) while the answer travelled: its service was wasted too.
            self.service.wasted_time += att.service_time
            return
        now = self.env._now
        hop, service = att.hop, att.service_time
        self.answered += 1
        self.network_s += hop
        self.service_s += service
        queued = now - att.t_sent - hop - service  # what is left of the attempt's time: waiting at the API
        self.queue_s += queued if queued > 0.0 else 0.0
        self.respond(att, now)

    def counts(self) -> dict:
        """Whole-run counters for the run's statistics: answered attempts and their seconds by where they went."""
        return {"net_answered": self.answered, "net_network_s": self.network_s, "net_queue_s": self.queue_s,
                "net_service_s": self.service_s}


class EdgeLink:
    """The network of one call edge during its incidents (``faults.incidents[i].edge``), between the edge's clients
    and the callee: to the clients it is the service (:meth:`submit`), to the callee the answer's way back
    (:meth:`reply`).

    ``schedule`` is the edge's :class:`~resilsim.server.links.LinkSchedule`;
    outside its windows an attempt goes straight to the callee and its answer
    straight back (one segment lookup, no draw). Inside, an attempt is lost
    with the window's probability (``loss_u.random()`` decides; it never
    reaches the callee, and its caller sees its own timeout) or takes the
    window's extra hops. ``respond(att, now)`` is the edge clients' answer
    handler; :attr:`lost` counts lost attempts.
    """

    def __init__(self, env, *, callee, respond, schedule, loss_u):
        self.env = env
        self.callee = callee
        self.respond = respond
        self.schedule = schedule
        self.loss_u = loss_u
        self._schedule = env.schedule
        self._arrive_cbs = [self._arrive]
        self._deliver_cbs = [self._deliver]
        self._start, self._end, self._seg = -math.inf, -math.inf, None
        self.lost = 0       # attempts lost on the way to the callee
        self.delayed = 0    # attempts that took extra hops

    def submit(self, att, now: float) -> None:
        """The edge's clients send ``att`` at ``now``: straight on, lost, or one extra request hop later."""
        if not (self._start <= now < self._end):
            self._start, self._end, self._seg = self.schedule.span(now)
        seg = self._seg
        att.hop = 0.0  # the extra response hop (none outside a window); set before the callee can answer
        if seg is None:
            self.callee.submit(att, now)
            return
        loss, active = seg
        if loss > 0.0 and self.loss_u.random() < loss:
            self.lost += 1
            att.service_time = math.inf  # never answered: the clients arm their timer (Clients.send)
            return
        req_s = resp_s = 0.0
        for w in active:
            a, b = w.hops()
            req_s += a
            resp_s += b
        self.delayed += 1
        att.hop = resp_s
        # Through _arrive even without a request hop: not at the callee yet, so the clients arm their timer (an
        # answer in time at the callee may still come late through the response hop).
        att.service_time = math.inf
        att.callbacks = self._arrive_cbs
        self._schedule(att, PRIORITY, req_s)

    def _arrive(self, att) -> None:
        # It reaches the callee (even if its caller gave up meanwhile: the callee cannot know).
        att.service_time = 0.0
        self.callee.submit(att, self.env._now)

    def reply(self, att, now: float) -> None:
        """The callee answers ``att`` at ``now``: to the clients at once, or one extra response hop later."""
        if att.answered:
            return
        d = att.hop
        if d <= 0.0:
            self.respond(att, now)
            return
        att.callbacks = self._deliver_cbs
        self._schedule(att, PRIORITY, d)

    def _deliver(self, att) -> None:
        if att.answered:
            self.callee.wasted_time += att.service_time  # its caller gave up while the answer travelled
            return
        self.respond(att, self.env._now)
