"""The AWS Architecture blog's contention experiment ("Exponential Backoff And Jitter", 2015), rebuilt.

N clients start together and each wants to update one row once, with
optimistic concurrency: read the row's version, write with that version;
the write succeeds only if nobody wrote in between, else the client backs
off and starts over (read, write). Every network leg takes |Normal(10 ms,
2 ms)|. The backoff is one of resilsim's own wait objects, so the check
exercises the same code the simulator uses.

This is the model of the blog's published simulator: base 5 ms, cap 2 s,
``min(cap, base·2ⁿ)`` before retry n (resilsim's ``exponential`` with base
10 ms is the same schedule), decorrelated jitter with base 5 ms. It
returns the total write calls and the time until the last client finished.

Why here and not in the engine: the experiment's shared resource (a row
written under optimistic concurrency: read the version, write only if it
is unchanged) is nothing a resilsim scenario models, and the model exists to
hold resilsim's wait objects to the published figures. It is validation code,
so it lives with the validation tests (and may use SimPy itself, which the
package keeps to resilsim/sim/).
"""
from __future__ import annotations

import numpy as np
import simpy

from resilsim.policies import waits
from resilsim.rng import BlockRandom

BASE = 0.005     # seconds, the blog's base
CAP = 2.0        # seconds, the blog's cap


def backoff(kind: str) -> waits.Wait:
    """The blog's backoff ``kind`` (none, exponential, full, equal, decorrelated) as a resilsim wait."""
    expo = waits.exponential(base=2 * BASE, cap=CAP)   # blog: min(cap, base·2ⁿ), n = 1 first
    if kind == "none":
        return waits.none()
    if kind == "exponential":
        return expo
    if kind == "decorrelated":
        return waits.DecorrelatedJitter(BASE, CAP)
    return expo + waits.jitter(kind)


def contention(clients: int, kind: str, seed: int = 0, net_mean: float = 0.010, net_sd: float = 0.002) -> dict:
    """Run the contention experiment once: ``{"calls": write calls, "time": seconds until all succeeded}``."""
    gen = np.random.default_rng(seed)
    rng = BlockRandom(gen)
    net_draws = np.abs(gen.normal(net_mean, net_sd, size=clients * 4 * 64)).tolist()
    net_i = [0]

    def net() -> float:
        i = net_i[0]
        if i >= len(net_draws):
            net_draws.extend(np.abs(gen.normal(net_mean, net_sd, size=len(net_draws))).tolist())
        net_i[0] = i + 1
        return net_draws[i]

    env = simpy.Environment()
    state = {"version": 0, "calls": 0, "done": 0, "last": 0.0}
    wait = backoff(kind)

    def client():
        attempt, previous = 0, 0.0
        while True:
            yield env.timeout(net())              # read request travels
            seen = state["version"]
            yield env.timeout(net() + net())      # read answer back, write request travels
            state["calls"] += 1
            ok = state["version"] == seen
            if ok:
                state["version"] += 1
            yield env.timeout(net())              # write answer back
            if ok:
                state["done"] += 1
                state["last"] = env.now
                return
            attempt += 1
            previous = wait(attempt, previous, rng)
            yield env.timeout(previous)

    for _ in range(clients):
        env.process(client())
    env.run()
    return {"calls": state["calls"], "time": state["last"]}


def experiment(client_counts=(10, 20, 50, 100), kinds=("none", "exponential", "equal", "full", "decorrelated"),
               repeats: int = 20, seed: int = 0):
    """The blog's table: mean write calls and completion time (s) per backoff kind and client count."""
    import pandas as pd

    rows = []
    ss = np.random.SeedSequence(seed)
    for n in client_counts:
        for kind in kinds:
            runs = [contention(n, kind, seed=int(child.generate_state(1)[0]))
                    for child in ss.spawn(repeats)]
            rows.append({"clients": n, "backoff": kind,
                         "calls": float(np.mean([r["calls"] for r in runs])),
                         "calls_se": float(np.std([r["calls"] for r in runs], ddof=1) / np.sqrt(repeats)),
                         "time_s": float(np.mean([r["time"] for r in runs]))})
    return pd.DataFrame(rows)
