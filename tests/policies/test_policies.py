import math
import random

import pytest
from hypothesis import given, settings, strategies as st

from resilsim.catalog import load_catalog
from resilsim.policies import (RetryPolicy, Rule, attempts, deadline, elapsed, exponential, fixed, jitter,
                               linear, never, none, on_codes, on_status, preset, retry_after)
from resilsim.policies.retry import AFTER_RESET, FAIL, REAUTH, RETRY


class Const:
    """An rng that always answers the same uniform number."""

    def __init__(self, u):
        self.u = u

    def random(self):
        return self.u


def seq(wait, n, rng=None):
    rng = rng or Const(0.5)
    out, prev = [], 0.0
    for a in range(1, n + 1):
        prev = wait(a, prev, rng)
        out.append(prev)
    return out


def test_exponential_doubles_from_base_and_caps():
    assert seq(exponential(base=1, cap=30), 7) == [1, 2, 4, 8, 16, 30, 30]
    assert seq(exponential(base=0.1, multiplier=3), 3) == pytest.approx([0.1, 0.3, 0.9])


def test_fixed_linear_and_none():
    assert seq(fixed(2), 3) == [2, 2, 2]
    assert seq(linear(1, 2, cap=6), 5) == [1, 3, 5, 6, 6]
    assert seq(none(), 3) == [0, 0, 0]


def test_jitters_follow_the_aws_blog_definitions():
    exp = exponential(base=1, cap=30)
    assert seq(exp + jitter("full"), 4, Const(0.25)) == [0.25, 0.5, 1.0, 2.0]
    assert seq(exp + jitter("equal"), 3, Const(0.5)) == [0.75, 1.5, 3.0]
    # decorrelated: min(cap, U(base, 3*prev)), prev starts at base
    assert seq(exp + jitter("decorrelated"), 3, Const(0.5)) == [2.0, 3.5, 5.75]
    assert seq(exp + jitter("additive", 1.0), 2, Const(0.5)) == [1.5, 2.5]
    assert seq(exp + jitter("proportional", 0.2), 2, Const(1.0)) == pytest.approx([1.2, 2.4])
    assert seq(exp + jitter("none"), 2) == [1, 2]


def test_waits_add_like_tenacity():
    assert seq(fixed(1) + fixed(0.5), 2) == [1.5, 1.5]


def test_decorrelated_needs_a_finite_cap():
    with pytest.raises(ValueError, match="finite cap"):
        exponential(base=1) + jitter("decorrelated")


def test_unknown_jitter_is_refused():
    with pytest.raises(ValueError, match="jitter must be one of"):
        jitter("wobbly")


@settings(max_examples=300, deadline=None)
@given(base=st.floats(0.001, 10), cap=st.floats(0.01, 100), kind=st.sampled_from(["full", "equal", "decorrelated", "none"]),
       n=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
def test_every_jittered_delay_is_within_zero_and_cap(base, cap, kind, n, seed):
    wait = exponential(base=base, cap=cap) + jitter(kind)
    for d in seq(wait, n, random.Random(seed)):
        assert 0.0 <= d <= cap + 1e-12


def test_stops_and_their_combinations():
    assert attempts(3)(3, 0, 0) and not attempts(3)(2, 0, 0)
    assert elapsed(10)(1, 10, 0) and not elapsed(10)(1, 9.9, 0)
    assert deadline(10)(1, 8, 2.5) and not deadline(10)(1, 8, 2)
    s = attempts(5) | elapsed(60)
    assert s(5, 0, 0) and s(1, 61, 0) and not s(2, 1, 0)
    b = attempts(5) & elapsed(60)
    assert not b(5, 0, 0) and b(5, 60, 0)
    assert not never()(10**6, 1e9, 0)
    assert s.bounded and not never().bounded and s.max_attempts == 5


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 20), fails=st.integers(1, 50))
def test_attempts_never_exceed_the_stop(n, fails):
    policy = RetryPolicy(wait=exponential(0.1, cap=1) + jitter("full"), stop=attempts(n))
    code = load_catalog("analytics")["ANALYTICS_2001"]
    made, elapsed_s, prev = 1, 0.0, 0.0
    rng = random.Random(n)
    for _ in range(fails):
        d = policy.decide(code, attempt=made, elapsed=elapsed_s, previous_wait=prev, rng=rng)
        if not d.retry:  # never retried: failed; retried, then stopped: retries exhausted
            assert d.outcome == ("retries_exhausted" if made > 1 else "failed")
            break
        made += 1
        elapsed_s += d.wait
        prev = d.wait
    assert made <= n


A = load_catalog("analytics")


def test_never_advice_fails_and_retryable_retries():
    p = RetryPolicy(wait=fixed(1), stop=attempts(3))
    assert p.decide(A["ANALYTICS_1000"], attempt=1, elapsed=0).outcome == "failed"
    d = p.decide(A["ANALYTICS_1900"], attempt=1, elapsed=0)
    assert d.retry and d.wait == 1
    assert p.decide(A["ANALYTICS_1900"], attempt=3, elapsed=0).outcome == "retries_exhausted"


def test_a_request_never_retried_failed_one_retried_ran_out_of_retries():
    """The outcome names an SRE reads: ``failed`` when no retry was made, ``retries_exhausted`` after one."""
    none = RetryPolicy(wait=fixed(1), stop=attempts(1))  # the `none` strategy: a retryable code, no retry
    assert none.decide(A["ANALYTICS_1900"], attempt=1, elapsed=0).outcome == "failed"
    two = RetryPolicy(wait=fixed(1), stop=attempts(2))
    assert two.decide(A["ANALYTICS_1900"], attempt=1, elapsed=0).retry
    assert two.decide(A["ANALYTICS_1900"], attempt=2, elapsed=0).outcome == "retries_exhausted"
    assert two.decide(A["ANALYTICS_1000"], attempt=2, elapsed=0).outcome == "failed"  # not retried: failed


def test_deadline_stops_a_retry_that_would_start_late():
    p = RetryPolicy(wait=fixed(5), stop=never())
    assert p.decide(A["ANALYTICS_1900"], attempt=1, elapsed=6, deadline=10).outcome == "deadline"
    assert p.decide(A["ANALYTICS_1900"], attempt=1, elapsed=5, deadline=10).retry


def test_reauth_refreshes_once_then_fails():
    p = RetryPolicy(stop=attempts(5), reauth_delay=0.7)
    d = p.decide(A["ANALYTICS_1402"], attempt=1, elapsed=0)
    assert d.retry and d.reauth and d.wait == 0.7
    assert p.decide(A["ANALYTICS_1402"], attempt=2, elapsed=1, reauthed=True).outcome == "failed"


def test_quota_reset_waited_only_inside_the_deadline():
    p = RetryPolicy(stop=attempts(5))
    code = A["ANALYTICS_1700"]
    assert p.plan(code).action == AFTER_RESET
    assert p.decide(code, attempt=1, elapsed=1, retry_after=20, deadline=30).wait == 20
    assert p.decide(code, attempt=1, elapsed=1, retry_after=40, deadline=30).outcome == "failed"
    assert p.decide(code, attempt=1, elapsed=1, retry_after=None, deadline=30).outcome == "failed"


def test_retry_after_wait_uses_the_server_hint_else_the_fallback():
    p = RetryPolicy(wait=retry_after(fixed(3)), stop=attempts(5))
    assert p.decide(A["ANALYTICS_1701"], attempt=1, elapsed=0, retry_after=0.25).wait == 0.25
    assert p.decide(A["ANALYTICS_1701"], attempt=1, elapsed=0, retry_after=None).wait == 3


def test_retry_after_honours_hints_up_to_max_hint_and_its_cap_is_the_longest_wait():
    w = retry_after(fixed(3), max_hint=10)
    p = RetryPolicy(wait=w, stop=attempts(5))
    assert p.decide(A["ANALYTICS_1701"], attempt=1, elapsed=0, retry_after=10).wait == 10
    assert p.decide(A["ANALYTICS_1701"], attempt=1, elapsed=0, retry_after=11).wait == 3  # too long: fallback
    # cap means what it means for every wait: the longest this one can make (a hint or the fallback).
    assert w.cap == 10 and retry_after(fixed(30), max_hint=10).cap == 30 and retry_after(fixed(3)).cap == math.inf


def test_retry_on_by_status_and_codes():
    p = RetryPolicy(stop=attempts(3), retry_on=on_status(503))
    assert p.plan(A["ANALYTICS_2001"]).action == RETRY
    assert p.plan(A["ANALYTICS_1900"]).action == FAIL
    q = RetryPolicy(stop=attempts(3), retry_on=on_codes("ANALYTICS_1900") | on_status(502))
    assert q.plan(A["ANALYTICS_1900"]).action == RETRY and q.plan(A["ANALYTICS_1800"]).action == RETRY
    assert q.plan(A["ANALYTICS_2001"]).action == FAIL


def test_timeouts_retried_unless_switched_off():
    from resilsim.sim.run import CLIENT_TIMEOUT
    assert RetryPolicy(stop=attempts(2)).plan(CLIENT_TIMEOUT).action == RETRY
    assert RetryPolicy(stop=attempts(2), retry_timeouts=False).plan(CLIENT_TIMEOUT).action == FAIL


# ---- doc presets: exactly what the seeds say

def test_counters_docs_preset_follows_the_retry_table():
    c = load_catalog("counters")
    p = preset("counters-docs")
    rng = Const(0.5)
    waits = [p.decide(c["HTTP_429"], attempt=n, elapsed=0, rng=rng).wait for n in range(1, 8)]
    assert waits == [1, 2, 4, 8, 16, 30, 30]          # "Backoff 1s,2s,4s,8s.. max 30s"
    assert p.decide(c["-1000"], attempt=1, elapsed=0, rng=rng).wait == 1
    assert p.decide(c["-1000"], attempt=3, elapsed=0, rng=rng).outcome == "retries_exhausted"  # "limited"
    for never_code in ("-1100", "-2000", "-2011", "-2010", "-2020"):
        assert p.decide(c[never_code], attempt=1, elapsed=0).outcome == "failed", never_code


def test_nanostream_docs_retries_only_internal_errors():
    n = load_catalog("nanostream")
    p = preset("nanostream-docs")
    assert p.decide(n["104123"], attempt=1, elapsed=0, rng=Const(0)).retry
    for code in n.codes:
        if not code.family:
            assert p.decide(code, attempt=1, elapsed=0).outcome == "failed", code.code


def test_codes_name_families_by_the_catalogs_rule(tmp_path):
    # A user's family with another shape than nanoStream's 104XXX: each X is one digit, as the catalog reads it.
    path = tmp_path / "mine.yaml"
    path.write_text("api: mine\ntitle: Mine\nbody: counters\ncodes:\n"
                    "  - {code: '2XXX', http: 503, name: Busy, category: c, message: m, advice: backoff, family: true}\n"
                    "  - {code: '3001', http: 500, name: Bad, category: c, message: m, advice: backoff}\n")
    cat = load_catalog(path)
    member, other = cat["2417"], cat["3001"]
    assert on_codes("2XXX")(member) and not on_codes("2XXX")(other)
    assert not on_codes("21XX")(member)
    p = RetryPolicy(rules=(Rule(codes=frozenset({"2XXX"}), wait=fixed(1), stop=attempts(3)),))
    assert p.plan(member).action == RETRY and p.plan(other).action == FAIL


def test_analytics_docs_per_code_resolution():
    p = preset("analytics-docs")
    rng = Const(0.5)
    assert p.decide(A["ANALYTICS_1900"], attempt=1, elapsed=0, rng=rng).wait == 0      # "Retry"
    assert p.decide(A["ANALYTICS_2001"], attempt=2, elapsed=0, rng=rng).wait == 2      # "Retry with exponential backoff"
    assert p.decide(A["ANALYTICS_1701"], attempt=1, elapsed=0, retry_after=0.4, rng=rng).wait == 0.4
    assert p.plan(A["ANALYTICS_1700"]).action == AFTER_RESET
    assert p.plan(A["ANALYTICS_1402"]).action == REAUTH
    assert p.decide(A["ANALYTICS_1001"], attempt=1, elapsed=0).outcome == "failed"


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(KeyError, match="known: none, immediate"):
        preset("retry-forever")
