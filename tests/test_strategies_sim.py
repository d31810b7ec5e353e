"""Strategies with guards and hedging, through the simulation: YAML → objects → behaviour.

Scenarios are small (tens of seconds, ≤ 60 requests/s) with fixed seeds; the
bounds below are derived from the guards' arithmetic, not fitted to a run.
"""
import json

import numpy as np
import pytest

from resilsim import load_scenario, simulate
from resilsim.policies import guards as G
from resilsim.scenario import build_strategy, library_presets

from .conftest import small
from .test_determinism import digest

T0, T1 = 20.0, 40.0  # the outage: every attempt started in [T0, T1) fails with DATABASE_ERROR (advice "retry")
RATE = 50.0


def outage(strategies: dict, **over) -> dict:
    d = small(duration=60, drain=30,
              faults={"incidents": [{"start": T0, "duration": T1 - T0, "code": "ANALYTICS_1900", "rate": 1.0}]},
              clients={"arrival": {"poisson": {"rate": RATE}}, "timeout": 1.0, "deadline": 10},
              strategies=strategies)
    d["service"]["workers"] = 16
    d.update(over)
    return d


BREAKER = {"failure_rate": 0.5, "window": 20, "minimum_calls": 20, "open_s": 5, "half_open_calls": 5}


def in_outage(att, name):
    a = att[att["strategy"] == name]
    return a[(a["start"] >= T0) & (a["start"] < T1)]


# ---------------------------------------------------------------- YAML ↔ objects

def test_every_guard_kind_maps_one_to_one_onto_its_class():
    spec = {"retry": "immediate", "guards": {
        "breaker": {"failure_rate": 0.4, "window": 30, "window_type": "time", "minimum_calls": 7, "open_s": 9,
                    "half_open_calls": 2},
        "throttle": {"k": 1.5, "window": 60},
        "client_rate": {"beta": 0.6},
        "token_bucket": {"max_tokens": 8, "token_ratio": 0.2},
        "ratio": {"percent": 0.1, "ttl": 5, "min_per_s": 2},
        "concurrency": {"percent": 0.3, "min_retries": 4},
        "quota": {"capacity": 100, "cost": 3, "timeout_cost": 6, "refund": 2}}}
    made = build_strategy(spec, "all").make_guards()
    # Consulted in this order: the breaker last (a half-open probe it grants must not be refused after).
    assert [type(g) for g in made] == [G.AdaptiveThrottle, G.ClientRateLimiter, G.TokenBucketBudget,
                                       G.ConcurrencyBudget, G.RatioBudget, G.RetryQuota, G.CircuitBreaker]
    th, cr, tb, co, ra, q, b = made
    assert (b.failure_rate, b.window, b.window_type, b.minimum_calls, b.open_s, b.half_open_calls) == \
        (0.4, 30, "time", 7, 9, 2)
    assert (th.k, th.window) == (1.5, 60) and cr.beta == 0.6
    assert (tb.max_tokens, tb.token_ratio) == (8, 0.2)
    assert (ra.percent, ra.ttl, ra.min_per_s) == (0.1, 5, 2)
    assert (co.percent, co.min_retries) == (0.3, 4)
    assert (q.capacity, q.cost, q.timeout_cost, q.refund) == (100, 3, 6, 2)


def test_defaults_are_the_classes_defaults_and_state_is_fresh_each_time():
    s = build_strategy({"retry": "immediate", "guards": {"breaker": {}, "token_bucket": {}, "quota": {}}}, "d")
    tb1, q1, b1 = s.make_guards()
    ref = (G.TokenBucketBudget(), G.RetryQuota(), G.CircuitBreaker())
    assert [g.describe() for g in (tb1, q1, b1)] == [g.describe() for g in ref]
    tb1.on_result(0.0, False, False)
    tb2, q2, b2 = s.make_guards()
    assert tb2 is not tb1 and tb2.tokens == tb2.max_tokens  # no state shared between runs


def test_describe_flattens_policy_guards_scope_and_hedge():
    d = build_strategy({"retry": "immediate", "guards": {"scope": "tenant", "breaker": {"open_s": 7}},
                        "hedge": {"delay": 0.2, "max_extra": 2}}, "x").describe()
    assert d["retry"] == "immediate" and d["stop_attempts"] == 3
    assert d["breaker_open_s"] == 7 and d["guards"] == "breaker" and d["guard_scope"] == "tenant"
    assert (d["hedge_delay_s"], d["hedge_max_extra"]) == (0.2, 2)
    assert not any("." in k for k in d)  # dotted names are a sweep's swept parameters


def test_library_preset_names_are_accepted_with_their_guards():
    lib = library_presets()
    name = next(iter(lib))
    s = load_scenario(outage({"a": {"retry": name}, "b": {"retry": {"preset": name, "stop": {"attempts": 2}}}}))
    assert build_strategy(s.strategies["a"], "a").policy == lib[name]().policy
    assert build_strategy(s.strategies["b"], "b").policy.stop.describe() == {"stop_attempts": 2}
    n = "grpc"  # comes with gRPC's retry throttling (a token bucket)
    assert [type(g) for g in build_strategy({"retry": n}, "lib").make_guards()] == [G.TokenBucketBudget]
    own = build_strategy({"retry": n, "guards": {"breaker": {}}}, "own").make_guards()
    assert [type(g) for g in own] == [G.CircuitBreaker]  # the strategy's own guards replace the preset's


# ---------------------------------------------------------------- guards reach the simulation

@pytest.fixture(scope="module")
def through_outage():
    return simulate(load_scenario(outage({
        "immediate": {"retry": "immediate"},
        "breaker": {"retry": "immediate", "guards": {"breaker": BREAKER}},
        "budgeted": {"retry": "immediate", "guards": {"token_bucket": {"max_tokens": 10, "token_ratio": 0.1}}},
        "throttle": {"retry": "none", "guards": {"throttle": {"k": 2, "window": 10}}},
        "ignores-1900": {"retry": "immediate", "guards": {"breaker": BREAKER, "failures": ["ANALYTICS_2000"]}},
    })), seed=11)


def test_breaker_sends_far_fewer_attempts_through_a_total_outage(through_outage):
    att = through_outage.attempts
    plain = len(in_outage(att, "immediate"))
    guarded = len(in_outage(att, "breaker"))
    # Without the breaker every request sends its 3 attempts: ~3 × 50/s × 20 s = 3000.
    assert plain > 2500
    # With it: the window's 20 calls (+ those in flight when it opens: 16 workers, the rest refused), then per
    # 5 s open period at most 5 half-open probes: 20 + 16 + ceil(20/5) × 5 = 56.
    assert guarded <= 56
    g = through_outage.guard_stats().loc["breaker"]
    assert g["shed_first"] > 0.8 * RATE * (T1 - T0)  # requests shed locally while open
    r = through_outage.requests
    assert (r[(r["strategy"] == "breaker") & (r["start"] < T0)]["outcome"] == "success").all()


def test_breaker_state_and_refusals_reach_the_timeline(through_outage):
    tl = through_outage.timeline
    b = tl[tl["strategy"] == "breaker"].set_index("time")
    assert (b.loc[: T0 - 1, "breaker_open"] == 0).all()
    assert b.loc[T0 + 2: T1 - 1, "breaker_open"].mean() > 0.5
    assert (b.loc[T1 + 10:, "breaker_open"] == 0).all()  # closed again after the outage
    assert b["guard_refused_rps"].sum() == through_outage.guard_stats().loc["breaker"][["shed_first", "shed_retry"]].sum()
    assert tl[tl["strategy"] == "immediate"]["breaker_open"].isna().all()


def test_token_bucket_caps_retries(through_outage):
    a = in_outage(through_outage.attempts, "budgeted")
    retries = int((a["attempt"] > 1).sum())
    # Tokens are at 10 when the outage starts (no failure before it); every failure takes 1 and a retry
    # needs tokens > 5, so at most 5 retries (plus 0.1 per success still landing: ≤ 16 in flight → +1).
    assert retries <= 6
    assert int((in_outage(through_outage.attempts, "immediate")["attempt"] > 1).sum()) > 1500
    g = through_outage.guard_stats().loc["budgeted"]
    assert g["shed_retry"] > 0.8 * RATE * (T1 - T0) and g["shed_first"] == 0


def test_adaptive_throttling_sheds_locally_only_when_the_backend_rejects(through_outage):
    r = through_outage.requests
    t = r[r["strategy"] == "throttle"]
    shed = t[t["outcome"] == "shed"]
    assert len(shed) > 0.5 * RATE * (T1 - T0)
    assert shed["start"].min() >= T0  # nothing rejected locally while the backend accepts everything
    assert (shed["attempts"] == 0).all()  # shed before any attempt was sent
    tl = through_outage.timeline
    p = tl[tl["strategy"] == "throttle"].set_index("time")["throttle_reject_p"]
    # The formula with accepts → 0 over a 10 s window of ~500 requests: p = r/(r+1) ≈ 1.
    assert p.loc[: T0 - 1].max() == 0 and p.loc[T0 + 12: T1 - 1].min() > 0.95


def test_failures_option_says_what_counts(through_outage):
    # A breaker counting only ANALYTICS_2000 never opens on a DATABASE_ERROR outage.
    g = through_outage.guard_stats().loc["ignores-1900"]
    assert g["shed_first"] == g["shed_retry"] == 0
    assert len(in_outage(through_outage.attempts, "ignores-1900")) == len(in_outage(through_outage.attempts,
                                                                                      "immediate"))


def test_breaker_per_client_scope_keeps_one_state_per_client():
    d = outage({"population": {"retry": "immediate", "guards": {"breaker": BREAKER}},
                "per-client": {"retry": "immediate", "guards": {"breaker": BREAKER, "scope": "client"}}})
    d["clients"]["tenants"] = {"free": 4}
    d["clients"]["clients_per_tenant"] = 2
    res = simulate(load_scenario(d), seed=2)
    pop, per = (len(in_outage(res.attempts, n)) for n in ("population", "per-client"))
    # Eight breakers each need their own 20 calls before opening: more attempts than one shared breaker.
    assert per > pop + 4 * 20
    assert res.strategies_table().loc["per-client", "guard_scope"] == "client"


def test_guards_that_never_act_change_nothing():
    # A breaker that never sees enough failures and an untouched budget: the same rows as without guards.
    base = {"retry": {"wait": {"exponential": {"base": 0.1}}, "jitter": "full", "stop": {"attempts": 3}}}
    d = small(duration=30, faults={"background": {"ANALYTICS_2000": 0.05}},
              strategies={"plain": base, "guarded": {**base, "guards": {
                  "breaker": {"minimum_calls": 10**6, "window": 10**6},
                  "quota": {"capacity": 10**6}}}})
    res = simulate(load_scenario(d), seed=5)
    a, b = (res.attempts[res.attempts["strategy"] == n] for n in ("plain", "guarded"))
    assert a.drop(columns="strategy").reset_index(drop=True).equals(b.drop(columns="strategy").reset_index(drop=True))


def test_same_seed_same_tables_with_guards_and_hedging():
    d = outage({"throttle": {"retry": "immediate", "guards": {"throttle": {"window": 5}, "ratio": {}}},
                "hedged": {"retry": "immediate", "hedge": {"delay": 0.05}, "guards": {"concurrency": {}}}})
    r1, r2 = simulate(load_scenario(d), seed=9), simulate(load_scenario(d), seed=9)
    assert digest(r1) == digest(r2)
    assert r1.timeline.equals(r2.timeline)
    assert digest(simulate(load_scenario(d), seed=10)) != digest(r1)


# ---------------------------------------------------------------- a blocking guard: the AWS adaptive limiter

# Pinned at 5 attempts/s once on: the cap (1e-9 × measured) is always below the floor, so the rate is min_rate.
FIVE_PER_S = {"min_rate": 5.0, "max_rate_scale": 1e-9}


def limited(block: bool = True, **over) -> dict:
    """30 requests/s against a 20/s, burst-1 rate limit: the first 429 turns the client's limiter on."""
    d = small(duration=30, drain=10, clients={"arrival": {"poisson": {"rate": 30}}, "deadline": 5},
              strategies={"held": {"retry": "none", "guards": {"client_rate": {**FIVE_PER_S, "block": block}}}})
    d["service"]["rate_limit"] = {"token_bucket": {"rate": 20, "burst": 1}}
    d.update(over)
    return d


@pytest.fixture(scope="module")
def held():
    return simulate(load_scenario(limited()), seed=5)


def test_blocking_limiter_spaces_attempts_at_its_rate_and_sheds_nothing(held):
    att, req = held.attempts, held.requests
    first_429 = att.loc[att["status"] == 429, "end"].min()
    assert first_429 < 1.0  # 30/s against a burst of 1: the limiter is on within a second
    starts = np.sort(att.loc[att["start"] > first_429 + 1e-9, "start"].to_numpy())
    gaps = np.diff(starts)
    # 30 requests/s offered, 5/s allowed: the line never empties, so every attempt goes one token (0.2 s) after
    # the previous one; none sooner (the bucket holds one token).
    assert len(gaps) > 100 and gaps.min() == pytest.approx(0.2, abs=1e-9)
    assert np.median(gaps) == pytest.approx(0.2, abs=1e-9)
    assert (req["outcome"] == "shed").sum() == 0
    g = held.guard_stats().loc["held"]
    assert g["shed_first"] == 0 and g["held"] > 100


def test_the_wait_counts_in_latency_and_the_deadline_ends_a_request_that_waits_too_long(held):
    req = held.requests
    first = held.attempts[held.attempts["attempt"] == 1].set_index("request")["start"]
    ok = req[req["outcome"] == "success"].set_index("request")
    waited = first.loc[ok.index] - ok["start"]
    assert waited.max() > 1.0  # some waited seconds for their token ...
    assert ((ok["end"] - ok["start"]) >= waited - 1e-12).all()  # ... and their latency includes it
    gave_up = req[(req["outcome"] == "deadline") & (req["attempts"] == 0)]
    # Never sent: ended exactly at the 5 s deadline, with the timeout code, each counted once.
    assert len(gave_up) > 100
    assert np.allclose(gave_up["end"] - gave_up["start"], 5.0) and (gave_up["code"] == "TIMEOUT").all()
    assert held.guard_stats().loc["held", "held_deadline"] == len(gave_up)
    assert (held.attempts["start"] <= held.attempts["request"].map(req.set_index("request")["start"]) + 5.0).all()


def test_fast_fail_limiter_sheds_instead_and_blocking_is_deterministic(held):
    shed = simulate(load_scenario(limited(block=False)), seed=5)
    assert (shed.requests["outcome"] == "shed").sum() > 100 and shed.guard_stats().loc["held", "held"] == 0
    again = simulate(load_scenario(limited()), seed=5)
    assert digest(again) == digest(held)


def test_retries_wait_for_the_limiter_after_their_backoff():
    # aws-adaptive retries 429s after U(0, 1) s; the blocking limiter then holds them too: nothing shed.
    r = simulate(load_scenario(limited(strategies={"aws": {"retry": "aws-adaptive"}})), seed=2)
    att = r.attempts
    assert (att["attempt"] > 1).sum() > 0 and (r.requests["outcome"] == "shed").sum() == 0
    assert r.guard_stats().loc["aws", "held"] > 0


# ---------------------------------------------------------------- a strategy's own timeout and deadline

def test_timeouts_strategy_first_then_scenario_then_library():
    from resilsim.scenario import Clients
    none = Clients.model_validate({"arrival": {"poisson": {"rate": 1}}})
    both = Clients.model_validate({"arrival": {"poisson": {"rate": 1}}, "timeout": 5, "deadline": 30})
    aws, envoy = {"retry": "aws-standard"}, {"retry": "envoy"}
    # A scenario that sets none: each library as it ships (botocore's 60 s read timeout; Envoy's 15 s route timeout).
    assert build_strategy(aws, "a", none)[-2:] == (60.0, None)
    assert build_strategy(envoy, "e", none)[-2:] == (None, 15.0)
    # The scenario's clients.timeout / deadline are the user's choice: they win over a library's defaults ...
    assert build_strategy(aws, "a", both)[-2:] == (None, None)
    assert build_strategy(aws, "a", both).client_limits(both) == (5, 30)
    assert build_strategy(envoy, "e", both).client_limits(both) == (5, 30)
    # ... and a strategy's own values win over both.
    own = build_strategy({**aws, "timeout": 2, "deadline": 8}, "o", both)
    assert own.client_limits(both) == (2, 8) and own.describe()["timeout_s"] == 2 and own.describe()["deadline_s"] == 8
    assert build_strategy({"retry": "immediate"}, "d", none)[-2:] == (None, None)  # doc presets bring none
    assert "timeout_s" not in build_strategy({"retry": "immediate"}, "d", none).describe()


def slow(strategies: dict, **clients) -> dict:
    """One request per second for 10 s to an API that answers after 100 s."""
    d = small(duration=10, drain=200, clients={"arrival": {"poisson": {"rate": 1}}, **clients}, strategies=strategies)
    d["service"]["operations"]["query_metrics"]["latency"] = {"constant": 100}
    return d


def test_a_strategys_own_timeout_and_deadline_act_in_the_run():
    r = simulate(load_scenario(slow({"scenario": {"retry": "none"}, "own": {"retry": "immediate", "timeout": 2},
                                     "short": {"retry": "immediate", "timeout": 2, "deadline": 5},
                                     "aws": {"retry": "aws-standard"}}, timeout=30)), seed=1)
    att, req = r.attempts, r.requests
    took = att["end"] - att["start"]
    assert np.allclose(took[att["strategy"] == "scenario"], 30.0)  # clients.timeout
    assert np.allclose(took[att["strategy"] == "own"], 2.0)        # the strategy's own
    assert np.allclose(took[att["strategy"] == "aws"], 30.0)       # the scenario's, not botocore's 60 s
    short = req[req["strategy"] == "short"]
    assert (short["outcome"] == "deadline").all() and np.allclose(short["end"] - short["start"], 5.0)
    assert r.strategies["own"]["timeout_s"] == 2 and "timeout_s" not in r.strategies["scenario"]


def test_a_library_brings_its_own_timeout_when_the_scenario_sets_none():
    r = simulate(load_scenario(slow({"aws": {"retry": "aws-standard"}, "none": {"retry": "none"}})), seed=1)
    att = r.attempts
    took = att["end"] - att["start"]
    assert np.allclose(took[att["strategy"] == "aws"], 60.0)  # botocore's read timeout
    assert (took[att["strategy"] == "none"] >= 100.0 - 1e-9).all()  # no timeout at all: the API's answer
    assert r.strategies["aws"]["timeout_s"] == 60.0


# ---------------------------------------------------------------- hedging

DELAY = 0.1


@pytest.fixture(scope="module")
def hedged():
    d = small(duration=40, service={"workers": 64, "operations": {"query_metrics": {"latency": {
        "mixture": {"value": 0.01, "slow": 1.0, "p_slow": 0.1}}}}},
        clients={"arrival": {"poisson": {"rate": 20}}},
        strategies={"plain": {"retry": "none"}, "hedged": {"retry": "none", "hedge": {"delay": DELAY}}})
    return simulate(load_scenario(d), seed=4)


def test_hedge_only_when_the_first_attempt_is_slower_than_the_delay(hedged):
    r = hedged.requests[hedged.requests["strategy"] == "hedged"].set_index("request")
    a = hedged.attempts[hedged.attempts["strategy"] == "hedged"]
    first = a[a["attempt"] == 1].set_index("request")
    second = a[a["attempt"] == 2].set_index("request")
    assert (a["attempt"] <= 2).all()
    # A second attempt exactly DELAY after the first, and only for requests whose first had not answered by then.
    assert np.allclose(second["start"] - first.loc[second.index, "start"], DELAY)
    assert (first.loc[second.index, "end"] >= second["start"]).all()
    single = r[r["attempts"] == 1]
    assert (single["latency"] < DELAY).all()
    assert hedged.guard_stats().loc["hedged", "hedges"] == len(second)
    # ~10% of first attempts are slow: hedges are about 10% of requests (binomial, n≈800: ±4σ ≈ ±4 points).
    assert 0.06 < len(second) / len(r) < 0.14


def test_first_answer_wins_and_the_other_copy_is_cancelled(hedged):
    r = hedged.requests[hedged.requests["strategy"] == "hedged"].set_index("request")
    a = hedged.attempts[hedged.attempts["strategy"] == "hedged"]
    two = a[a["request"].isin(r.index[r["attempts"] == 2])]
    wins = two[two["code"] == ""].set_index("request")
    cancelled = two[two["code"] == "CANCELLED"].set_index("request")
    assert len(wins) == len(cancelled) == len(two) // 2  # one winner and one cancelled copy per hedged request
    assert np.allclose(r.loc[wins.index, "end"], wins["end"])
    assert np.allclose(cancelled["end"], wins.loc[cancelled.index, "end"])
    assert (r.loc[wins.index, "outcome"] == "success").all()
    assert hedged.guard_stats().loc["hedged", "hedge_wins"] == int((wins["attempt"] == 2).sum())


def test_hedging_cuts_the_tail(hedged):
    s = hedged.summary()
    assert s.loc["plain", "p95_s"] > 0.9  # the slow mode (1 s) is in the plain tail
    # Hedged: slow only when both copies are slow (1% of requests): p95 is the hedge delay + a fast answer.
    assert s.loc["hedged", "p95_s"] < DELAY + 0.05
    assert s.loc["hedged", "success_rate"] == 1.0


# ---------------------------------------------------------------- the showcase scenario and sweeps

def test_strategy_parameters_reach_sweep_rows():
    from resilsim.sweep import run_task, strategy_table
    base = outage({"breaker": {"retry": "immediate", "guards": {"breaker": BREAKER}}}, duration=30, drain=10)
    base["faults"]["incidents"][0]["duration"] = 5
    task = {"run_id": "x", "point": 0, "replication": 0, "entropy": 1, "spawn_key": (0,), "overrides": {}}
    rows = run_task(base, task)["rows"]
    import pandas as pd
    df = pd.DataFrame(rows)
    assert json.loads(df["strategy_params"][0])["breaker_open_s"] == 5
    assert "shed_first" in df.columns
    assert strategy_table(df).loc["breaker", "breaker_minimum_calls"] == 20


def test_showcase_scenario_writes_success_load_and_guard_charts(tmp_path):
    from pathlib import Path

    import yaml

    from resilsim.cli import main
    path = Path(__file__).resolve().parents[1] / "scenarios" / "strategies-through-an-outage.yaml"
    d = yaml.safe_load(path.read_text())
    assert len(d["strategies"]) >= 6
    # Shortened to keep the test fast: the outage moves to 20–40 s of 60 s.
    d["duration"], d["warmup"], d["drain"] = 60, 5, 20
    d["faults"]["incidents"][0].update(start=20, duration=20)
    short = tmp_path / "short.yaml"
    short.write_text(yaml.safe_dump(d))
    picked = ["--strategy", "immediate", "--strategy", "budgeted", "--strategy", "breaker"]
    assert main(["run", str(short), "--out", str(tmp_path / "out"), *picked]) == 0
    for chart in ("success_over_time", "load_over_time", "guards_over_time"):
        assert (tmp_path / "out" / f"{chart}.png").stat().st_size > 1000


def test_breaker_with_hedging_and_budgets_recovers_after_the_outage():
    # Every probe a half-open breaker lets through must report back: a cancelled hedge copy, or a retry a
    # budget refuses after the breaker granted it, would otherwise keep it half-open (refusing) for ever.
    st = {"retry": "immediate", "hedge": {"delay": 0.03, "max_extra": 2},
          "guards": {"breaker": BREAKER, "token_bucket": {}, "ratio": {"min_per_s": 1}}}
    res = simulate(load_scenario(outage({"b": st})), seed=3)
    tl = res.timeline.set_index("time")
    assert tl.loc[T0 + 2: T1 - 1, "breaker_open"].mean() > 0.5
    assert (tl.loc[T1 + 10:, "breaker_open"] == 0).all()
    r = res.requests
    assert (r[r["start"] >= T1 + 10]["outcome"] == "success").mean() > 0.99
