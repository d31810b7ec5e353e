"""Plain SimPy reference workload for benchmarking resilsim's core.

This is written the way an ordinary SimPy user would write it: one generator
process per request, a ``simpy.Resource`` for the workers, ``env.timeout`` for
every wait, and ``numpy.random.default_rng(seed)`` called once per random event.
It is deliberately *not* optimised (no batching, no vectorised sampling), but
also not deliberately slow.

Units: all simulated times (``start``, ``end``, latencies, waits) are in
simulated **seconds**; rates are per simulated second.

Workload
--------
* Open-loop Poisson arrivals at ``ARRIVAL_RATE`` requests/s, ``n_requests`` of
  them, one process per request.
* A service with ``WORKERS`` workers and lognormal service times (median
  ``SERVICE_MEDIAN`` s, log-sigma ``SERVICE_SIGMA``).
* A global token bucket (``BUCKET_RATE`` tokens/s, burst ``BUCKET_BURST``),
  refilled lazily and checked when an attempt arrives, before queueing: no
  token -> immediate 429.
* ``P_503`` of served attempts answer 503 (decided after service), else 200.
* Clients retry 429 and 503 with capped exponential backoff and full jitter:
  before retry n (n = 1 for the first retry) wait
  ``U(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**(n-1)))`` s; at most
  ``MAX_ATTEMPTS`` attempts per request, then the request gives up.

Usage::

    python benchmarks/baseline_simpy.py --requests 100000 --seed 0
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd
import simpy

ARRIVAL_RATE = 60.0  # requests per second (Poisson)
WORKERS = 8  # service capacity (concurrent attempts)
SERVICE_MEDIAN = 0.1  # seconds
SERVICE_SIGMA = 0.5  # sigma of log(service time)
BUCKET_RATE = 70.0  # tokens per second
BUCKET_BURST = 50.0  # tokens
P_503 = 0.05  # fraction of served attempts answering 503
BACKOFF_BASE = 0.1  # seconds
BACKOFF_CAP = 30.0  # seconds
MAX_ATTEMPTS = 4  # attempts per request, first one included
RETRYABLE = (429, 503)

COLUMNS = ["request", "attempt", "start", "end", "status"]


class TokenBucket:
    """Global token bucket, refilled lazily on each check.

    ``rate`` is in tokens per second, ``burst`` in tokens; the bucket starts
    full. ``try_take(now)`` takes ``now`` in simulated seconds.
    """

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = 0.0

    def try_take(self, now: float) -> bool:
        """Refill up to ``now`` (s) and take one token; False if none left."""
        self.tokens = min(self.burst, self.tokens + self.rate * (now - self.last))
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def run_baseline(n_requests: int, seed: int = 0) -> pd.DataFrame:
    """Simulate ``n_requests`` requests and return one row per attempt.

    Arrivals stop after ``n_requests`` have arrived; the simulation then runs
    until every request has finished (succeeded or given up).

    Returns a DataFrame with columns ``request`` (int id, arrival order),
    ``attempt`` (1-based), ``start`` and ``end`` (simulated seconds: when the
    attempt arrived at the service and when its answer came back, queueing
    and service included) and ``status`` (HTTP code: 200, 429 or 503).
    """
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    workers = simpy.Resource(env, capacity=WORKERS)
    bucket = TokenBucket(BUCKET_RATE, BUCKET_BURST)
    records: list[tuple[int, int, float, float, int]] = []
    log_median = math.log(SERVICE_MEDIAN)

    def attempt(rid: int, n: int):
        """One attempt: token check, queue for a worker, serve, answer."""
        start = env.now
        if not bucket.try_take(start):
            records.append((rid, n, start, start, 429))
            return 429
        with workers.request() as req:
            yield req
            yield env.timeout(rng.lognormal(mean=log_median, sigma=SERVICE_SIGMA))
        status = 503 if rng.random() < P_503 else 200
        records.append((rid, n, start, env.now, status))
        return status

    def request(rid: int):
        """A client request: attempts with capped, fully jittered backoff."""
        for n in range(1, MAX_ATTEMPTS + 1):
            status = yield env.process(attempt(rid, n))
            if status not in RETRYABLE:
                return status
            if n == MAX_ATTEMPTS:
                return "retries_exhausted"
            # before retry n (n = 1 for the first retry)
            yield env.timeout(rng.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (n - 1))))

    def arrivals():
        """Open-loop Poisson source: spawns one process per request."""
        for rid in range(n_requests):
            yield env.timeout(rng.exponential(1.0 / ARRIVAL_RATE))
            env.process(request(rid))

    env.process(arrivals())
    env.run()
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def summarize(attempts: pd.DataFrame) -> dict:
    """Summarise an attempts DataFrame from :func:`run_baseline`.

    Returns a dict with ``requests`` (count), ``attempts`` (count),
    ``success_rate`` (fraction of requests whose last attempt is 200),
    ``amplification`` (attempts / requests) and ``p99_latency_s`` (99th
    percentile, in simulated seconds, of the latency of successful requests:
    end of the final attempt minus start of the first attempt; NaN if none).
    """
    n_attempts = len(attempts)
    ordered = attempts.sort_values(["request", "attempt"])
    per_req = ordered.groupby("request").agg(
        first_start=("start", "first"),
        last_end=("end", "last"),
        last_status=("status", "last"),
    )
    n_requests = len(per_req)
    ok = per_req[per_req["last_status"] == 200]
    latency = ok["last_end"] - ok["first_start"]
    return {
        "requests": n_requests,
        "attempts": n_attempts,
        "success_rate": len(ok) / n_requests if n_requests else float("nan"),
        "amplification": n_attempts / n_requests if n_requests else float("nan"),
        "p99_latency_s": float(latency.quantile(0.99)) if len(ok) else float("nan"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="requests to simulate")
    parser.add_argument("--seed", type=int, default=0, help="numpy default_rng seed")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    attempts = run_baseline(args.requests, seed=args.seed)
    wall = time.perf_counter() - t0
    summary = summarize(attempts)

    print(f"wall seconds:          {wall:.3f}")
    print(f"attempts per wall s:   {len(attempts) / wall:,.0f}")
    for key, value in summary.items():
        print(f"{key + ':':<22} {value:.4f}" if isinstance(value, float) else f"{key + ':':<22} {value}")


if __name__ == "__main__":
    main()
