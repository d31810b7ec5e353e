"""The pure-Python floor for the reference workload: a bare event loop and nothing else.

The workload is the one of ``benchmarks/baseline_simpy.py`` and ``benchmarks/reference.yaml``
(its constants are imported from the baseline): Poisson arrivals, a global token bucket checked
before queueing (no token: 429), a FIFO queue in front of ``WORKERS`` workers with lognormal
service times, 5 % of served attempts answering 503, retries of 429 and 503 with capped
exponential backoff and full jitter, at most ``MAX_ATTEMPTS`` attempts.

The event loop is a heap of ``(time, seq, callback, args)`` tuples popped in order: no
environment, no event objects, no processes. Random numbers are drawn in blocks (as resilsim
does) and each attempt's row is appended to typed arrays. What it leaves out is what resilsim
adds on top of the bare mechanics (policy objects, error codes from a catalog, sources, request
rows, checks), so ``resilsim time / floor time`` is what those cost per attempt.

Units: simulated seconds throughout; rates per simulated second.

Usage::

    python benchmarks/floor_heapq.py --requests 100000 --seed 0
"""
from __future__ import annotations

import argparse
import heapq
import itertools
import math
import time
from array import array
from collections import deque

import numpy as np
import pandas as pd

from baseline_simpy import (ARRIVAL_RATE, BACKOFF_BASE, BACKOFF_CAP, BUCKET_BURST, BUCKET_RATE, COLUMNS,
                            MAX_ATTEMPTS, P_503, SERVICE_MEDIAN, SERVICE_SIGMA, WORKERS, summarize)

BLOCK = 4096  # random numbers drawn per numpy call


def _stream(draw):
    """An endless iterator over ``draw(BLOCK)``'s values, block after block (one numpy call per block)."""
    while True:
        yield from draw(BLOCK).tolist()


def run_floor(n_requests: int, seed: int = 0) -> pd.DataFrame:
    """Simulate ``n_requests`` requests of the reference workload; one row per attempt, as the baseline returns.

    Columns: ``request``, ``attempt`` (1-based), ``start``, ``end`` (simulated seconds) and ``status``
    (200, 429 or 503). Arrivals stop after ``n_requests``; the loop runs until every request is done.
    """
    rng = np.random.default_rng(seed)
    gap = _stream(lambda n: rng.exponential(1.0 / ARRIVAL_RATE, n)).__next__
    service = _stream(lambda n: rng.lognormal(math.log(SERVICE_MEDIAN), SERVICE_SIGMA, n)).__next__
    uniform = _stream(lambda n: rng.random(n)).__next__
    heap: list = []
    push, pop, seq = heapq.heappush, heapq.heappop, itertools.count().__next__
    queue = deque()
    rows = (array("q"), array("h"), array("d"), array("d"), array("h"))
    r_req, r_att, r_start, r_end, r_status = (a.append for a in rows)
    now = 0.0
    busy = 0
    tokens, last = BUCKET_BURST, 0.0

    def record(rid, n, start, status):
        r_req(rid)
        r_att(n)
        r_start(start)
        r_end(now)
        r_status(status)
        if status != 200 and n < MAX_ATTEMPTS:  # retry n waits U(0, min(cap, base * 2^(n-1)))
            wait = uniform() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (n - 1))
            push(heap, (now + wait, seq(), attempt, (rid, n + 1)))

    def arrive(rid):
        if rid + 1 < n_requests:
            push(heap, (now + gap(), seq(), arrive, (rid + 1,)))
        attempt(rid, 1)

    def attempt(rid, n):
        nonlocal busy, tokens, last
        tokens = min(BUCKET_BURST, tokens + BUCKET_RATE * (now - last))
        last = now
        if tokens < 1.0:
            record(rid, n, now, 429)
        elif busy < WORKERS:
            tokens -= 1.0
            busy += 1
            push(heap, (now + service(), seq(), complete, (rid, n, now)))
        else:
            tokens -= 1.0
            queue.append((rid, n, now))

    def complete(rid, n, start):
        nonlocal busy
        if queue:  # the worker takes the next queued attempt at once
            q_rid, q_n, q_start = queue.popleft()
            push(heap, (now + service(), seq(), complete, (q_rid, q_n, q_start)))
        else:
            busy -= 1
        record(rid, n, start, 503 if uniform() < P_503 else 200)

    if n_requests:
        push(heap, (gap(), seq(), arrive, (0,)))
    while heap:
        now, _, callback, args = pop(heap)
        callback(*args)
    return pd.DataFrame({c: np.frombuffer(a, dtype=a.typecode) for c, a in zip(COLUMNS, rows)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="requests to simulate")
    parser.add_argument("--seed", type=int, default=0, help="numpy default_rng seed")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    attempts = run_floor(args.requests, seed=args.seed)
    wall = time.perf_counter() - t0
    print(f"wall seconds:          {wall:.3f}")
    print(f"attempts per wall s:   {len(attempts) / wall:,.0f}")
    for key, value in summarize(attempts).items():
        print(f"{key + ':':<22} {value:.4f}" if isinstance(value, float) else f"{key + ':':<22} {value}")


if __name__ == "__main__":
    main()
