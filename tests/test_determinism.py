"""Pinned results: the core's optimisations must not change what a seed produces.

Digests of every attempt and request row (``rows``) and of the summary, timeline,
guard and run-stat tables (``tables``) are pinned for every shipped scenario
(squeezed into 60 simulated seconds), the benchmark reference workload, and the
all-features workload with variants that between them take every fast path and
its general twin: each guard kind and scope, hedging (with and without guards, and
behind a blocking limiter), each queue discipline, load shedding, costly
rejections, processing timeouts, load-dependent latency and the service's own
global limiter. If a change alters behaviour on purpose (a new random draw, a
fixed bug), re-pin with ``python -m tests.test_determinism`` and say why in the
commit.
"""
import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from resilsim import load_scenario, simulate

from .conftest import SCENARIOS, bench, shortened

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
PUBLISHED = sorted((Path(__file__).resolve().parent.parent / "scenarios" / "published").glob("*.yaml"))
DURATION = 60.0  # simulated seconds: about 3,600 requests, well under a second of wall time


def digest(result) -> str:
    """SHA-256 of the attempt and request tables' values, in row order."""
    h = hashlib.sha256()
    for df, cols in ((result.attempts, ["request", "attempt", "start", "end", "status", "code", "source"]),
                     (result.requests, ["request", "operation", "start", "end", "attempts", "code", "outcome"])):
        for c in cols:
            s = df[c]
            # Hash values, not category codes: the order of categories is not behaviour.
            values = s.astype(str).to_numpy() if hasattr(s, "cat") else s.to_numpy()
            if values.dtype == object:
                values = np.array([str(v) for v in values]).astype("U")
            h.update(c.encode())
            h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()[:16]


def tables_digest(result) -> str:
    """SHA-256 of the summary, timeline, guard statistics and run statistics (less wall time), as CSV."""
    import pandas as pd

    stats = pd.DataFrame({k: {c: v for c, v in s.items() if c != "wall_s"} for k, s in result.stats.items()})
    h = hashlib.sha256()
    for df in (result.summary(), result.timeline, result.guard_stats(), stats):
        h.update(df.to_csv(float_format="%.12g").encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- the workloads pinned

def _all_features(**changes):
    """benchmarks/all_features.yaml in 60 s, with ``changes``: dotted keys (``service.shed``) set to values."""
    def make():
        data = bench("all_features.yaml", DURATION)
        for key, value in changes.items():
            *path, last = key.split(".")
            node = data
            for p in path:
                node = node[p]
            if value is None:
                node.pop(last, None)
            else:
                node[last] = value
        return data
    return make


_RETRY = {"wait": {"exponential": {"base": 0.1, "multiplier": 2, "cap": 30}}, "jitter": "full",
          "stop": {"attempts": 4}, "retry_on": {"advice": False, "status": [429, 503]}}
_ALL_GUARDS = {"throttle": {}, "client_rate": {}, "token_bucket": {}, "concurrency": {}, "quota": {},
               "breaker": {"minimum_calls": 20, "open_s": 5}}

CASES = {
    "reference.yaml": lambda: bench("reference.yaml", DURATION),
    "all_features.yaml": _all_features(),
    # Every guard kind at once, per tenant; a breaker quick enough to open and half-open within the run.
    "all_features+guards-per-tenant": _all_features(strategies={"g": {
        "retry": _RETRY, "guards": {**_ALL_GUARDS, "scope": "tenant", "failures": "retryable"}}}),
    # A non-blocking client limiter (refuses) per client; failures counted from a list of codes.
    "all_features+guards-per-client": _all_features(strategies={"g": {
        "retry": _RETRY, "guards": {"client_rate": {"block": False}, "ratio": {}, "breaker": {"minimum_calls": 20},
                                    "scope": "client", "failures": ["ANALYTICS_2001", "TIMEOUT"]}}}),
    # Hedging: alone, beside guards, and behind a blocking limiter; two extra copies race the first.
    "all_features+hedge": _all_features(**{"strategies": {
        "hedge": {"retry": _RETRY, "hedge": {"delay": 0.2, "max_extra": 2}},
        "hedge-guarded": {"retry": _RETRY, "hedge": {"delay": 0.15}, "guards": {"breaker": {}, "ratio": {}}},
        "hedge-blocking": {"retry": _RETRY, "hedge": {"delay": 0.15},
                           "guards": {"client_rate": {}, "token_bucket": {}, "scope": "tenant"}},
        # Copies time out while others still run, and at the deadline; with guards told of each.
        "hedge-timeouts": {"retry": _RETRY, "hedge": {"delay": 0.1, "max_extra": 2}, "timeout": 0.3,
                           "deadline": 0.35, "guards": {"ratio": {}, "concurrency": {}}}},
        "service.rate_limit": {"token_bucket": {"rate": 20, "burst": 40}, "per": "tenant"}}),
    # Throttled hard: the blocking client limiter makes attempts wait, some past their deadline.
    "all_features+blocking-limiter-deadlines": _all_features(**{
        "service.rate_limit": {"token_bucket": {"rate": 1, "burst": 2}, "per": "tenant"},
        "strategies": {"held": {"retry": _RETRY, "deadline": 1.5, "guards": {"client_rate": {"min_rate": 0.5}}}}}),
    # Queue disciplines with the general dequeue; costly rejections, shedding, server timeouts and load latency
    # (without guards, which would shed most of an overload before it reached the queue).
    "all_features+lifo-shed-reject-cost": _all_features(**{
        "service.queue": {"limit": 50, "timeout": 2, "discipline": "lifo"}, "service.shed": {"load": 4},
        "service.reject_cost": 0.5, "service.workers": 7, "strategies.full-jitter.guards": None}),
    # Shedding in front of the FIFO queue (the fused loop calls the gate the shedding wraps, not its written-out form).
    "all_features+fifo-shed": _all_features(**{
        "service.shed": {"load": 4}, "service.workers": 7, "strategies.full-jitter.guards": None}),
    "all_features+adaptive-lifo-processing-timeout": _all_features(**{
        "service.queue": {"limit": 50, "timeout": 2, "discipline": "adaptive_lifo", "lifo_above": 5},
        "service.processing_timeout": {"after": 0.3}, "service.load_latency": {"alpha": 1.0, "power": 2},
        "service.workers": 7, "strategies.full-jitter.guards": None}),
    "all_features+codel": _all_features(**{
        "service.queue": {"limit": 100, "discipline": "codel", "codel_target": 0.05, "codel_interval": 0.5},
        "service.workers": 7, "strategies.full-jitter.guards": None}),
    # FIFO with costly rejections: the general completion path and its FIFO dequeue.
    "all_features+fifo-reject-cost": _all_features(**{"service.reject_cost": 1.0, "service.workers": 7,
                                                         "strategies.full-jitter.guards": None}),
    # One global limiter and nothing else: the service's own limiter slot, refusing free and at a cost.
    "all_features+global-limiter": _all_features(**{
        "service.rate_limit": {"token_bucket": {"rate": 50, "burst": 20}}, "service.quota": None,
        "clients.tenants": None, "strategies.full-jitter.guards": None}),
    "all_features+global-limiter-reject-cost": _all_features(**{
        "service.rate_limit": {"token_bucket": {"rate": 50, "burst": 20}}, "service.quota": None,
        "clients.tenants": None, "service.reject_cost": 0.5, "service.workers": 7,
        "strategies.full-jitter.guards": None}),
    # Network hops (resilsim.sim.network): per direction, with hedging, guards and timeouts the hops push past;
    # a round trip behind a blocking limiter.
    "all_features+network": _all_features(**{
        "network": {"latency": {"request": {"exponential": {"mean": 0.05}}, "response": {"gamma": {"shape": 2, "scale": 0.03}}}},
        "clients.timeout": 0.6, "strategies": {
            "guarded": {"retry": _RETRY, "guards": {"breaker": {"minimum_calls": 20, "open_s": 5}, "ratio": {}}},
            "hedge": {"retry": _RETRY, "hedge": {"delay": 0.2}}}}),
    "all_features+network-round-trip-blocking": _all_features(**{
        "network": {"latency": {"round_trip": {"lognormal": {"median": 0.05, "p99": 0.5}}}},
        "strategies": {"held": {"retry": _RETRY, "guards": {"client_rate": {}, "scope": "tenant"}}}}),
    # Closed-loop users: alone, and beside the open arrivals (rows written on arrival), with tenants and guards.
    "all_features+closed-users": _all_features(**{
        "clients.arrival": None, "clients.closed": {"users": 60, "think": {"exponential": {"mean": 0.5}}, "ramp": 10}}),
    "all_features+closed-and-open": _all_features(**{
        "clients.closed": {"users": 20, "think": {"constant": 0.2}, "spawn_rate": 5},
        "network": {"latency": {"round_trip": {"constant": 0.04}}}}),
    **{f"scenarios/{p.name}": (lambda p=p: shortened(p, DURATION)) for p in SCENARIOS},
    # Published experiments (docs/published.md) as shipped: 10 s (retry_sim) and 80 s (collapse) each already.
    **{f"scenarios/published/{p.name}": (lambda p=p: yaml.safe_load(p.read_text())) for p in PUBLISHED},
}

PINNED = {
    'all_features+adaptive-lifo-processing-timeout':
        {'rows': '32b2ccf949cd705e', 'tables': 'fe13ad27ecd675b0', 'attempts': 9077, 'success': 1482},
    'all_features+blocking-limiter-deadlines':
        {'rows': '7226fbd8d11f80c9', 'tables': '721d518b27321bed', 'attempts': 597, 'success': 489},
    'all_features+closed-and-open':
        {'rows': '051fecda149410c1', 'tables': '8711ac443d265543', 'attempts': 4734, 'success': 3948},
    'all_features+closed-users':
        {'rows': 'e5926783bac3ff5e', 'tables': 'a32ff632f7265f0e', 'attempts': 537, 'success': 407},
    'all_features+codel':
        {'rows': '1a1737ada4d9f766', 'tables': '9f17cdf0d3f71fb6', 'attempts': 5431, 'success': 3186},
    'all_features+fifo-reject-cost':
        {'rows': 'f15928f372a8e11a', 'tables': '0ed1ec5c9fd4866a', 'attempts': 3715, 'success': 3389},
    'all_features+global-limiter':
        {'rows': 'c7098ed3e68e71b1', 'tables': '9ac806b2c7361e88', 'attempts': 7867, 'success': 2752},
    'all_features+global-limiter-reject-cost':
        {'rows': '592aece06a32a438', 'tables': '9f5ad8bcba2f3ccf', 'attempts': 12629, 'success': 454},
    'all_features+guards-per-client':
        {'rows': 'c6a9193c28a2531d', 'tables': 'e79c0f78d07d7352', 'attempts': 3695, 'success': 3379},
    'all_features+guards-per-tenant':
        {'rows': '0f9ea8bfdc084093', 'tables': '6d59ccb0f6c3a1ba', 'attempts': 3678, 'success': 3358},
    'all_features+hedge':
        {'rows': 'eff235d16301ef63', 'tables': '15cb3bca5f304f0b', 'attempts': 21612, 'success': 7243},
    'all_features+fifo-shed':
        {'rows': '81108f4307e355b2', 'tables': 'f1abb839858c4b7c', 'attempts': 4629, 'success': 3254},
    'all_features+lifo-shed-reject-cost':
        {'rows': 'f0b60a268c772fe2', 'tables': 'ee69f21a7b2f29f8', 'attempts': 11584, 'success': 717},
    'all_features+network':
        {'rows': 'e46971421c7e913a', 'tables': 'c28e8098fc4f6b0d', 'attempts': 16873, 'success': 2702},
    'all_features+network-round-trip-blocking':
        {'rows': '0ecf1f39f419cb1e', 'tables': '73105bd8ec6ff388', 'attempts': 3721, 'success': 3393},
    'all_features.yaml':
        {'rows': '23fabdfc8e3bb542', 'tables': 'fd15b6623d412be8', 'attempts': 3730, 'success': 3388},
    'reference.yaml':
        {'rows': 'f9815e71b2798f3e', 'tables': '592e336a8503529e', 'attempts': 3643, 'success': 3465},
    'scenarios/analytics-aurora-db-service.yaml':
        {'rows': '882dffa6ca6fb945', 'tables': 'ebde7961f28bc9cf', 'attempts': 17849, 'success': 6843},
    'scenarios/analytics-aurora-scale-up.yaml':
        {'rows': '6033350bfed7163c', 'tables': '00786d3d5ee96262', 'attempts': 27538, 'success': 22544},
    'scenarios/analytics-campaign-spike.yaml':
        {'rows': '4d6e7640f639f6f9', 'tables': 'c99b8eedf653c9c8', 'attempts': 64214, 'success': 19343},
    'scenarios/analytics-incident-library.yaml':
        {'rows': 'c4a54c5763fedd8e', 'tables': 'd7f7309d896d99b7', 'attempts': 27781, 'success': 2071},
    'scenarios/analytics-load-test-users.yaml':
        {'rows': 'ab11bacc8f0f767f', 'tables': '88a9e761076b3e5f', 'attempts': 30899, 'success': 23838},
    'scenarios/analytics-overlapping-incidents.yaml':
        {'rows': '56c5706fcb52edf0', 'tables': 'e9f8ebdfa36fa61f', 'attempts': 27912, 'success': 12340},
    'scenarios/analytics-quota-busy-hour.yaml':
        {'rows': 'c16fef118044253c', 'tables': 'a6b857576512a78d', 'attempts': 9686, 'success': 8516},
    'scenarios/analytics-token-expiry.yaml':
        {'rows': '2b45aaf7ef9ca4be', 'tables': '929ec4e8f21c55ec', 'attempts': 2227, 'success': 2205},
    'scenarios/counters-increment-timeouts.yaml':
        {'rows': '6f36ae145b430d99', 'tables': '0f3d082186d4a8b5', 'attempts': 24364, 'success': 22952},
    'scenarios/counters-rate-limited.yaml':
        {'rows': '6eff8505699cb256', 'tables': '1650835148e48f4a', 'attempts': 29414, 'success': 12772},
    'scenarios/counters-unknown-burst.yaml':
        {'rows': 'bd17f6511a43576e', 'tables': 'ef9d02ccda9ae2f7', 'attempts': 6362, 'success': 3570},
    'scenarios/metastable-issue-9rps.yaml':
        {'rows': 'a9c3226f5dd68900', 'tables': '2950eee77b9d9ff8', 'attempts': 4436, 'success': 791},
    'scenarios/metastable-retry-storm.yaml':
        {'rows': '94a290e1a508a8c8', 'tables': '93e80b9bab8f12aa', 'attempts': 703, 'success': 499},
    'scenarios/metastable-two-tier-storm.yaml':
        {'rows': '4f8e3ff6039cfcad', 'tables': 'c75366d4a8f9bca4', 'attempts': 10662, 'success': 1181},
    'scenarios/nanostream-flapping-104.yaml':
        {'rows': '6dab61c9f7edecb2', 'tables': '5aef16f9f172189f', 'attempts': 3770, 'success': 3233},
    'scenarios/nanostream-internal-error-bursts.yaml':
        {'rows': '590ad8786b663547', 'tables': 'fec8cbaaebcf9dcd', 'attempts': 15748, 'success': 13219},
    'scenarios/strategies-through-an-outage.yaml':
        {'rows': 'a9600442a46089e2', 'tables': '8ffec8d27fcdf3a6', 'attempts': 24500, 'success': 16867},
    'scenarios/published/brooker-collapse-ramp.yaml':
        {'rows': '1dfe995cc100b941', 'tables': 'e5201c213d6159eb', 'attempts': 14804, 'success': 2145},
    'scenarios/published/brooker-collapse-spike.yaml':
        {'rows': '61d2a02f00d6e510', 'tables': '4d4be6d6a74600d9', 'attempts': 10323, 'success': 4338},
    'scenarios/published/brooker-retry-sim-serial.yaml':
        {'rows': '454018809f4c51af', 'tables': 'eeaf89b92a53c9f0', 'attempts': 8223, 'success': 7404},
    'scenarios/published/brooker-retry-sim.yaml':
        {'rows': 'c8a4941372b1679e', 'tables': '3e4ff592336f5544', 'attempts': 41835, 'success': 37651},
}


def _facts(name: str) -> dict:
    r = simulate(load_scenario(CASES[name]()), seed=7)
    return {"rows": digest(r), "tables": tables_digest(r), "attempts": len(r.attempts),
            "success": int((r.requests["outcome"] == "success").sum())}


def test_every_shipped_scenario_is_pinned():
    assert sorted(PINNED) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_seed_same_rows_as_pinned(name):
    assert _facts(name) == PINNED[name]


def test_baseline_and_reference_scenario_agree():
    # Same workload, two implementations: 20k requests each. Amplification is 1/(1-0.05) ≈ 1.0526 with
    # binomial sd ≈ 0.0017 at this size; 0.01 is about 4 sd of the difference of two such estimates.
    import sys

    sys.path.insert(0, str(BENCH))
    from baseline_simpy import run_baseline, summarize

    base = summarize(run_baseline(20_000, seed=1))
    data = yaml.safe_load((BENCH / "reference.yaml").read_text())
    data["duration"] = 20_000 / 60
    ours = simulate(load_scenario(data), seed=1).summary().iloc[0]
    assert abs(base["amplification"] - ours["amplification"]) < 0.01
    assert abs(base["amplification"] - 1 / 0.95) < 0.01
    assert base["success_rate"] > 0.999 and ours["success_rate"] > 0.999
    # p99 of latency swings with queueing (0.56-0.70 s across seeds at 100k); a loose band.
    assert 0.4 < ours["p99_s"] < 1.0 and 0.4 < base["p99_latency_s"] < 1.0


if __name__ == "__main__":
    for n in sorted(CASES):
        print(f"    {n!r}:\n        {_facts(n)},")
