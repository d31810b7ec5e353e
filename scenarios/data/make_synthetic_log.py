"""Write scenarios/data/synthetic-access-log.csv: 20 minutes of a made-up analytics API's access log.

Seeded, so the file is the same on every run: ``python scenarios/data/make_synthetic_log.py``.
Arrivals: a Poisson process whose rate swings between 2 and 8 requests per second (a sine of
period 10 minutes), made by thinning a 8/s process. Latency: log-normal, median 80 ms, σ of the
log 0.5. Errors: ANALYTICS_2000 (HTTP 500) on 1% of requests, ANALYTICS_1900 (HTTP 503) on 0.5%.
``resilsim fit`` on it should find those figures back (tests/test_fit.py checks it does).
"""
from pathlib import Path

import numpy as np

SEED = 20_240_601
SPAN_S = 1200.0
T0 = 1_717_200_000.0  # epoch seconds: a log's timestamps are absolute


def rate(t):
    """The true arrival rate at ``t`` seconds, requests per second."""
    return 5.0 + 3.0 * np.sin(2 * np.pi * t / 600.0)


def main(out: Path = Path(__file__).with_name("synthetic-access-log.csv")) -> None:
    g = np.random.default_rng(SEED)
    top = 8.0
    t = np.cumsum(g.exponential(1 / top, int(top * SPAN_S * 1.2)))
    t = t[t < SPAN_S]
    t = t[g.random(len(t)) < rate(t) / top]  # thinning (Lewis & Shedler)
    latency = 0.08 * np.exp(0.5 * g.standard_normal(len(t)))
    u = g.random(len(t))
    code = np.where(u < 0.01, "ANALYTICS_2000", np.where(u < 0.015, "ANALYTICS_1900", ""))
    status = np.where(code == "ANALYTICS_2000", 500, np.where(code == "ANALYTICS_1900", 503, 200))
    lines = ["timestamp,latency,status,code"]
    lines += [f"{T0 + a:.3f},{b:.4f},{s},{c}" for a, b, s, c in zip(t, latency, status, code)]
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
