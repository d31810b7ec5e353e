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
    # Published experiments (docs/published.md) as shipped: 10 s each already.
    **{f"scenarios/published/{p.name}": (lambda p=p: yaml.safe_load(p.read_text())) for p in PUBLISHED},
}

PINNED = {
    'all_features+closed-and-open':
        {'rows': '6d3824a1204af187', 'tables': 'a17b34e3dba91f02', 'attempts': 4734, 'success': 3948},
    'all_features+closed-users':
        {'rows': 'c3a24f07937ed829', 'tables': '978e6e13d1031aeb', 'attempts': 537, 'success': 407},
    'all_features+network':
        {'rows': 'ff08fd2a380eada9', 'tables': '5a7bc84986dcf3fb', 'attempts': 16873, 'success': 2702},
    'all_features+network-round-trip-blocking':
        {'rows': '3f95394d335e6b7e', 'tables': '3362d79d9cc42fb9', 'attempts': 3721, 'success': 3393},
    'all_features+adaptive-lifo-processing-timeout':
        {'rows': '3702900bbbb65328', 'tables': '3dcb58314067bb36', 'attempts': 9077, 'success': 1482},
    'all_features+blocking-limiter-deadlines':
        {'rows': '7226fbd8d11f80c9', 'tables': '04666a47e5a08052', 'attempts': 597, 'success': 489},
    'all_features+codel':
        {'rows': 'fe53d05a48b18ec8', 'tables': '2a498ed0c492dfab', 'attempts': 5431, 'success': 3186},
    'all_features+fifo-reject-cost':
        {'rows': 'ee0a59ee38789e0a', 'tables': 'db82e76139eea802', 'attempts': 3715, 'success': 3389},
    'all_features+global-limiter':
        {'rows': '01bf880b8ace331f', 'tables': '2e0259d80c2af1b5', 'attempts': 7867, 'success': 2752},
    'all_features+global-limiter-reject-cost':
        {'rows': '01444b3d34df9bd8', 'tables': '1156c0ed2c52bb79', 'attempts': 12629, 'success': 454},
    'all_features+guards-per-client':
        {'rows': 'c6a9193c28a2531d', 'tables': 'd61b93ff47dcb1d8', 'attempts': 3695, 'success': 3379},
    'all_features+guards-per-tenant':
        {'rows': '0f9ea8bfdc084093', 'tables': 'e9b543a048b473fc', 'attempts': 3678, 'success': 3358},
    'all_features+hedge':
        {'rows': '6e74cfa0e9f00c7e', 'tables': '8bd1b31ff3ed85b0', 'attempts': 21612, 'success': 7243},
    'all_features+lifo-shed-reject-cost':
        {'rows': '54a67e73bb886c21', 'tables': '937b5176bc5fc857', 'attempts': 11584, 'success': 717},
    'all_features.yaml':
        {'rows': '0147f3ab9437140b', 'tables': '0cea702703292a49', 'attempts': 3730, 'success': 3388},
    'reference.yaml':
        {'rows': 'f9815e71b2798f3e', 'tables': '41f93528722e3f26', 'attempts': 3643, 'success': 3465},
    'scenarios/analytics-aurora-scale-up.yaml':
        {'rows': 'e6a13ae868e1a586', 'tables': '57c76e1802f8724a', 'attempts': 27538, 'success': 22544},
    'scenarios/analytics-campaign-spike.yaml':
        {'rows': '5a7049cbe2bc9640', 'tables': '2241d1080bdfdd90', 'attempts': 64214, 'success': 19343},
    'scenarios/analytics-incident-library.yaml':
        {'rows': 'b400fd00f41acdb5', 'tables': 'd7630c49c05f5957', 'attempts': 27781, 'success': 2071},
    'scenarios/analytics-load-test-users.yaml':
        {'rows': 'ef83ab67becca447', 'tables': '7c90a6ad2625eaa3', 'attempts': 30899, 'success': 23838},
    'scenarios/analytics-overlapping-incidents.yaml':
        {'rows': '2bcba275537f6ac8', 'tables': '333d677931a9cb8e', 'attempts': 27912, 'success': 12340},
    'scenarios/analytics-quota-busy-hour.yaml':
        {'rows': '36aa5fb56cfcf06b', 'tables': '6bff2700e35a0adf', 'attempts': 9686, 'success': 8516},
    'scenarios/analytics-token-expiry.yaml':
        {'rows': 'ce2bc1991c37098f', 'tables': '649e341e05b25bb4', 'attempts': 2227, 'success': 2205},
    'scenarios/counters-increment-timeouts.yaml':
        {'rows': '78f020d194d4a0c0', 'tables': '5b7fb45f3f5243a1', 'attempts': 24364, 'success': 22952},
    'scenarios/counters-rate-limited.yaml':
        {'rows': '698c0092bbc683f9', 'tables': '55ca125dd4ea4c7d', 'attempts': 29414, 'success': 12772},
    'scenarios/counters-unknown-burst.yaml':
        {'rows': '2b35937409490492', 'tables': '11e61a0b1d26a00b', 'attempts': 6362, 'success': 3570},
    'scenarios/metastable-issue-9rps.yaml':
        {'rows': '6dd57c628653381e', 'tables': 'a9e7b0e11ff0ffc6', 'attempts': 4436, 'success': 791},
    'scenarios/metastable-retry-storm.yaml':
        {'rows': 'e94ce5469924d949', 'tables': 'ebf27722957a64e1', 'attempts': 703, 'success': 499},
    'scenarios/nanostream-flapping-104.yaml':
        {'rows': 'bccd32a0aa36f711', 'tables': 'c80f35a9a9659a4b', 'attempts': 3770, 'success': 3233},
    'scenarios/nanostream-internal-error-bursts.yaml':
        {'rows': '1125a1bf26e6a939', 'tables': '407e23a56430975c', 'attempts': 15748, 'success': 13219},
    'scenarios/strategies-through-an-outage.yaml':
        {'rows': 'f3c135bdba6e877a', 'tables': '780ef59786f11eba', 'attempts': 24500, 'success': 16867},
    'scenarios/published/brooker-retry-sim-serial.yaml':
        {'rows': '454018809f4c51af', 'tables': 'b791c902ccbfc161', 'attempts': 8223, 'success': 7404},
    'scenarios/published/brooker-retry-sim.yaml':
        {'rows': '793d205d9adb152e', 'tables': '395a9684cc80492f', 'attempts': 41835, 'success': 37651},
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
