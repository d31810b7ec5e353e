"""The event loop: run_until and TimerQueue against SimPy's own, and a canary for the SimPy internals they use."""
import inspect
import random
from itertools import count

import pytest
import simpy
import simpy.core

import resilsim.sim.run as run_module
from resilsim.sim.events import PRIORITY, Attempt, Request, Tick, Timer, TimerQueue, run_until

from ..test_determinism import _facts

#: What to do when the canary fails.
RECHECK = ("resilsim.sim.events.run_until and TimerQueue re-implement SimPy's Environment.step and schedule on "
           "its private attributes, checked against simpy 4.1 (pyproject.toml pins simpy>=4.1,<4.2); SimPy "
           f"{simpy.__version__} differs: re-check them against simpy/core.py (step, schedule) and simpy/events.py "
           "(_ok, _value, _defused), then widen the pin")


def test_simpy_internals_are_the_ones_run_until_relies_on():
    env = simpy.Environment(initial_time=2.0)
    # Environment: the clock, the heap and the id counter, under these names and types.
    assert isinstance(getattr(env, "_now", None), float) and env.now == 2.0, RECHECK
    assert isinstance(getattr(env, "_queue", None), list) and isinstance(getattr(env, "_eid", None), count), RECHECK
    # A heap entry is (time, priority, id, event), ids from env._eid; PRIORITY is SimPy's NORMAL.
    tick = Tick()
    env.schedule(tick, PRIORITY, 0.5)
    eid = next(env._eid)
    env.schedule(tick, PRIORITY, 0.25)
    entries = sorted(env._queue)
    assert [e[:3] for e in entries] == [(2.25, PRIORITY, eid + 1), (2.5, PRIORITY, eid - 1)], RECHECK
    assert all(len(e) == 4 and e[3] is tick for e in entries) and PRIORITY == simpy.core.NORMAL, RECHECK
    # Events: success and failure in _ok and _value; defusing sets _defused.
    ev = env.event()
    ev.fail(KeyError("x"))
    assert ev._ok is False and isinstance(ev._value, KeyError) and not hasattr(ev, "_defused"), RECHECK
    ev.defused = True
    assert hasattr(ev, "_defused"), RECHECK
    assert env.event().succeed(3)._ok is True, RECHECK
    # step(): the loop run_until inlines, line for line.
    step = inspect.getsource(simpy.Environment.step)
    for line in ("self._now, _, _, event = heappop(self._queue)",
                 "callbacks, event.callbacks = event.callbacks, None",
                 "for callback in callbacks:", "callback(event)",
                 "if not event._ok and not hasattr(event, '_defused'):",
                 "exc = type(event._value)(*event._value.args)", "exc.__cause__ = event._value"):
        assert line in step, f"{RECHECK} (Environment.step no longer has: {line})"
    schedule = inspect.getsource(simpy.Environment.schedule)
    assert "heappush(self._queue, (self._now + delay, priority, next(self._eid), event))" in schedule, RECHECK


def test_run_until_raises_a_failed_event_as_simpy_does():
    env = simpy.Environment()
    env.event().fail(KeyError("lost"))
    with pytest.raises(KeyError, match="lost"):
        run_until(env, 1.0)
    env = simpy.Environment()
    ev = env.event().fail(KeyError("lost"))
    ev.defused = True
    run_until(env, 1.0)
    assert env.now == 1.0


def test_run_until_matches_simpy_run(monkeypatch):
    # The inlined event loop must process the same events in the same order as env.run(until=...).
    fast = _facts("all_features.yaml")
    monkeypatch.setattr(run_module, "run_until", lambda env, until, *watchdog: env.run(until=until))
    assert _facts("all_features.yaml") == fast


def test_run_until_stops_before_until_and_sets_now():
    env = simpy.Environment()
    seen = []

    def proc():
        for _ in range(5):
            yield env.timeout(1.0)
            seen.append(env.now)

    env.process(proc())
    run_until(env, 3.0)  # the event at exactly 3.0 is left for later, as env.run(until=3.0) does
    assert seen == [1.0, 2.0] and env.now == 3.0
    run_until(env, 10.0)
    assert seen == [1.0, 2.0, 3.0, 4.0, 5.0] and env.now == 10.0
    with pytest.raises(ValueError):
        run_until(env, 5.0)


def test_timer_queue_fires_as_a_timer_event_per_attempt_would():
    # events.TimerQueue keeps attempt timers off SimPy's heap; the timers that fire must fire at the same times
    # and in the same order among other events (ties included) as one Timer event per attempt.
    def run(queued: bool) -> list:
        env, rng, log = simpy.Environment(), random.Random(5), []
        timers = TimerQueue(env)
        # As Clients._timer: an answered attempt's timer does nothing.
        fired = [lambda t: t.att.answered or log.append(("timeout", t.att.n, env.now))]
        req = Request(0, 0, 0.0, 0.0)

        def answer(ev):
            ev.att.answered = True
            log.append(("answer", ev.att.n, env.now))

        def send(tick):
            att = Attempt(req, len(log), env.now)
            log.append(("send", att.n, env.now))
            # Times on a 0.25 s grid, so timers tie with sends and answers; some delays out of order.
            delay = 1.0 if rng.random() < 0.8 else rng.choice([0.25, 0.5, 0.75])
            if queued:
                timers.add(att, delay, fired)
            else:
                env.schedule(Timer(att, fired), PRIORITY, delay)
            if rng.random() < 0.7:  # answered after a while (a Timer event is just a scheduled call here)
                env.schedule(Timer(att, [answer]), PRIORITY, rng.choice([0.0, 0.25, 0.5, 1.0, 1.25]))
            tick.callbacks = [send]
            env.schedule(tick, PRIORITY, rng.choice([0.0, 0.25, 0.25, 0.5]))

        start = Tick()
        start.callbacks = [send]
        env.schedule(start, PRIORITY, 0.0)
        run_until(env, 300.0)
        return log

    plain, queued = run(False), run(True)
    assert plain == queued
    assert sum(e[0] == "timeout" for e in plain) > 100 and sum(e[0] == "answer" for e in plain) > 100
