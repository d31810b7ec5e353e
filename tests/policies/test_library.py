"""Library presets: each one against the schedule, attempts, retry-on and guards its library documents.

Numbers are those of each library's source and docs; each test fails if a preset's number is wrong.
"""
import math
import pickle
import random

import pytest

from resilsim.catalog import ErrorCode, load_catalog
from resilsim.policies.guards import (CLOSED, HALF_OPEN, OPEN, AdaptiveThrottle, CircuitBreaker, ClientRateLimiter,
                                      ConcurrencyBudget, Guards, RatioBudget, RetryQuota, TokenBucketBudget)
from resilsim.policies.library import (LIBRARY, LibraryPreset, UnknownPresetError, Urllib3Backoff, is_throttle,
                                       library_preset)
from resilsim.policies.retry import AFTER_RESET, FAIL, RETRY


class Const:
    """An rng that always answers the same uniform number."""

    def __init__(self, u):
        self.u = u

    def random(self):
        return self.u


TOP = 1.0 - 1e-12  # the largest uniform number, as near 1 as a draw gets


def code(http, advice="retry", name=None):
    """A catalog-like code with this HTTP status and advice."""
    return ErrorCode(code=name or f"E{http}", http=http, name="n", category="c", message="m", resolution="",
                     advice=advice)


TIMEOUT = ErrorCode(code="TIMEOUT", http=0, name="CLIENT_TIMEOUT", category="Client", message="timeout",
                    resolution="", advice="retry")


def schedule(p: LibraryPreset, c, rng, n=20, retry_after=None):
    """The waits of one request failing with ``c`` until the policy stops (elapsed time stays 0)."""
    out, prev = [], 0.0
    for attempt in range(1, n + 1):
        d = p.policy.decide(c, attempt=attempt, elapsed=0.0, previous_wait=prev, retry_after=retry_after, rng=rng)
        if not d.retry:
            return out, d.outcome
        out.append(d.wait)
        prev = d.wait
    return out, None


def retried(p, c, retry_after=None):
    return p.policy.decide(c, attempt=1, elapsed=0.0, retry_after=retry_after, rng=Const(0.5)).retry


# ---------------------------------------------------------------- registry

NAMES = ["stamina", "urllib3", "urllib3-backoff", "grpc", "envoy", "envoy-budget", "finagle", "aws-standard",
         "aws-standard-2020", "aws-adaptive", "resilience4j", "sre-book"]


@pytest.mark.parametrize("name", NAMES)
def test_every_preset_is_registered_named_and_cites_its_source(name):
    p = library_preset(name)
    assert isinstance(p, LibraryPreset) and p.name == name and p.policy.name == name
    assert p.library and p.version  # each preset names the library and the release it follows
    assert len(p.source) > 20 and "(" in p.source  # names the library and the file or page
    first, second = p.guards(), p.guards()
    assert all(a is not b for a, b in zip(first, second))  # a fresh state per call
    assert p.describe()["retry"] == name
    back = pickle.loads(pickle.dumps(p))  # sweeps send presets to worker processes
    assert back.policy == p.policy and [g.describe() for g in back.guards()] == [g.describe() for g in first]


def test_registry_has_exactly_the_twelve_presets():
    assert list(LIBRARY) == NAMES


def test_unknown_preset_names_the_closest_and_the_known_ones():
    with pytest.raises(KeyError) as e:
        library_preset("grcp")
    assert isinstance(e.value, UnknownPresetError)
    msg = str(e.value)
    assert msg.startswith("unknown library preset 'grcp'; did you mean grpc?")
    assert msg.endswith("known: " + ", ".join(NAMES))
    with pytest.raises(UnknownPresetError, match="^unknown library preset 'zzz'; known: stamina"):
        library_preset("zzz")


def test_overrides_reach_the_factory():
    assert library_preset("aws-standard", max_attempts=5).policy.stop.max_attempts == 5
    with pytest.raises(TypeError):
        library_preset("grpc", attempts=3)


# ---------------------------------------------------------------- stamina

def test_stamina_schedule_attempts_and_45s():
    p = library_preset("stamina")
    low, outcome = schedule(p, code(503), Const(0.0))
    assert low == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]) and outcome == "retries_exhausted"  # 10 attempts
    high, _ = schedule(p, code(503), Const(0.5))
    assert high == pytest.approx([0.6, 0.7, 0.9, 1.3, 2.1, 3.7, 5.0, 5.0, 5.0])  # + U(0, 1), capped at 5
    d = p.policy.decide(code(503), attempt=2, elapsed=45.0, rng=Const(0.0))
    assert not d.retry and d.outcome == "retries_exhausted"
    assert p.policy.decide(code(503), attempt=2, elapsed=44.9, rng=Const(0.0)).retry


def test_stamina_retries_5xx_and_timeouts_only_and_ignores_retry_after():
    p = library_preset("stamina")
    assert all(retried(p, code(s)) for s in (500, 502, 503, 504)) and retried(p, TIMEOUT)
    assert not any(retried(p, code(s)) for s in (400, 401, 404, 429))
    assert not p.policy.decide(code(401, "reauth"), attempt=1, elapsed=0, rng=Const(0)).reauth
    assert p.policy.decide(code(503), attempt=1, elapsed=0, retry_after=30.0, rng=Const(0.0)).wait == 0.1


# ---------------------------------------------------------------- urllib3

def test_urllib3_default_four_attempts_no_backoff():
    p = library_preset("urllib3")
    waits, outcome = schedule(p, TIMEOUT, Const(0.9))
    assert waits == [0.0, 0.0, 0.0] and outcome == "retries_exhausted"  # Retry.DEFAULT: 3 retries, backoff_factor 0


def test_urllib3_retry_after_only_for_413_429_503():
    p = library_preset("urllib3")
    for s in (413, 429, 503):
        assert p.policy.plan(code(s)).action == AFTER_RESET
        assert not retried(p, code(s))  # without the header: returned to the caller
        d = p.policy.decide(code(s), attempt=1, elapsed=0.0, retry_after=7.0, rng=Const(0.5))
        assert d.retry and d.wait == 7.0
    for s in (500, 502, 504, 400):  # no status_forcelist by default
        assert not retried(p, code(s)) and not retried(p, code(s), retry_after=1.0)
    assert retried(p, TIMEOUT)


def test_urllib3_non_idempotent_retries_nothing():
    p = library_preset("urllib3", idempotent=False, status_forcelist=(503,))
    assert not retried(p, TIMEOUT) and not retried(p, code(503), retry_after=1.0)


def test_urllib3_backoff_factor_schedule_and_cap():
    waits, outcome = schedule(library_preset("urllib3-backoff"), code(500), Const(0.5))
    assert waits == [0.0, 1.0, 2.0] and outcome == "retries_exhausted"  # 0, factor·2^(k−1) for k = 2, 3
    long, _ = schedule(library_preset("urllib3-backoff", total=10), code(500), Const(0.5))
    assert long == [0, 1, 2, 4, 8, 16, 32, 64, 120, 120]  # backoff_max 120 s
    j = Urllib3Backoff(1.0, jitter=2.0)
    assert j(3, 0.0, Const(0.25)) == 4.5 and j(1, 0.0, Const(0.25)) == 0.0


def test_urllib3_backoff_forcelist_and_retry_after():
    p = library_preset("urllib3-backoff")
    assert all(retried(p, code(s)) for s in (500, 502, 503, 504))
    d = p.policy.decide(code(503), attempt=2, elapsed=0.0, retry_after=9.0, rng=Const(0.5))
    assert d.wait == 9.0  # Retry-After wins over the backoff
    assert not retried(p, code(429)) and retried(p, code(429), retry_after=2.0)
    assert not retried(p, code(501)) and not retried(p, code(400))


# ---------------------------------------------------------------- gRPC

GRPC_NOMINAL = [0.1, 0.2, 0.4]


def test_grpc_schedule_is_full_jitter_under_the_capped_exponential():
    # gRFC A6 "Exponential Backoff": random(0, min(initialBackoff·multiplier^(n−1), maxBackoff))
    p = library_preset("grpc")
    lo, outcome = schedule(p, code(503), Const(0.0))
    assert lo == [0.0, 0.0, 0.0] and outcome == "retries_exhausted"  # 4 attempts
    hi, _ = schedule(p, code(503), Const(TOP))
    assert hi == pytest.approx(GRPC_NOMINAL)
    long = library_preset("grpc", max_attempts=5, initial_backoff=0.3)
    mid, _ = schedule(long, code(503), Const(0.5))
    assert mid == pytest.approx([0.15, 0.3, 0.5, 0.5])  # maxBackoff 1 s caps before the jitter
    rng = random.Random(7)
    ratios = [w / nominal for _ in range(2000)
              for w, nominal in zip(schedule(p, code(503), rng)[0], GRPC_NOMINAL)]
    assert all(0.0 <= r <= 1.0 for r in ratios)
    # 6000 uniform draws: the mean is 1/2 within 5 standard errors (sd 1/sqrt(12·6000) ≈ 0.0037).
    assert abs(sum(ratios) / len(ratios) - 0.5) < 5 * 0.0037
    assert min(ratios) < 0.01 and max(ratios) > 0.99


def test_grpc_attempts_clamped_to_5_and_at_least_2():
    assert library_preset("grpc", max_attempts=9).policy.stop.max_attempts == 5
    with pytest.raises(ValueError, match="maxAttempts > 1"):
        library_preset("grpc", max_attempts=1)


def test_grpc_retries_unavailable_only_never_deadline():
    p = library_preset("grpc")
    assert all(retried(p, code(s)) for s in (429, 502, 503, 504))  # HTTP → UNAVAILABLE
    assert not any(retried(p, code(s)) for s in (500, 400, 401, 404, 501))
    assert not retried(p, TIMEOUT)  # DEADLINE_EXCEEDED ends the call
    # a quota code with advice after_reset is plain UNAVAILABLE to gRPC: retried with backoff
    assert p.policy.plan(code(429, "after_reset")).action == RETRY


def test_grpc_pushback_is_the_servers_retry_after():
    p = library_preset("grpc")
    assert p.policy.decide(code(503), attempt=1, elapsed=0, retry_after=3.0, rng=Const(0.5)).wait == 3.0
    q = library_preset("grpc", pushback=False)
    assert q.policy.decide(code(503), attempt=1, elapsed=0, retry_after=3.0, rng=Const(0.5)).wait == 0.05


def test_grpc_retry_throttling_10_tokens_ratio_0_1():
    (b,) = library_preset("grpc").guards()
    assert isinstance(b, TokenBucketBudget) and (b.max_tokens, b.token_ratio) == (10, 0.1)
    for _ in range(4):
        b.on_result(0, False, False)
    assert b.allow_retry(0)  # 6 > 5
    b.on_result(0, False, False)
    assert not b.allow_retry(0)  # 5 is not > 10/2
    assert library_preset("grpc", max_tokens=None).guards() == []


# ---------------------------------------------------------------- Envoy

ENVOY_CAPS = [0.025, 0.05, 0.1, 0.2, 0.25, 0.25]


def test_envoy_backoff_25ms_doubling_to_250ms_full_jitter():
    # backoff_strategy.cc JitteredExponentialBackOffStrategy: U(0, interval), the interval doubling from 25 ms to 250 ms
    p = library_preset("envoy", num_retries=6)
    top, outcome = schedule(p, code(503), Const(TOP))
    assert top == pytest.approx(ENVOY_CAPS) and outcome == "retries_exhausted"
    assert schedule(p, code(503), Const(0.0))[0] == [0.0] * 6
    rng = random.Random(3)
    for _ in range(500):
        for w, bound in zip(schedule(p, code(503), rng)[0], ENVOY_CAPS):
            assert 0.0 <= w <= bound


def test_envoy_defaults_one_retry_5xx_route_timeout_15s():
    p = library_preset("envoy")
    assert p.policy.stop.max_attempts == 2 and p.timeout == 15.0 and p.attempt_timeout is None
    assert all(retried(p, code(s)) for s in (500, 501, 502, 503, 504)) and retried(p, TIMEOUT)
    assert not any(retried(p, code(s)) for s in (400, 429))
    # the route timeout covers all retries: none starts after 15 s
    assert not p.policy.decide(code(503), attempt=1, elapsed=14.99, rng=Const(TOP)).retry
    assert p.policy.decide(code(503), attempt=1, elapsed=14.9, rng=Const(TOP)).retry


def retries_allowed(b, active):
    """How many retries ``b`` lets into flight beside ``active`` first attempts."""
    for _ in range(active):
        b.on_attempt_start(0, False)
    n = 0
    while b.allow_retry(0):
        b.on_attempt_start(0, True)
        n += 1
    return n


def test_envoy_circuit_breaker_3_concurrent_retries_and_no_budget_by_default():
    (b,) = library_preset("envoy").guards()
    assert isinstance(b, ConcurrencyBudget) and (b.percent, b.min_retries) == (0.0, 3)
    assert retries_allowed(b, 50) == 3  # max_retries 3 whatever the traffic


def test_envoy_budget_20_percent_min_3():
    (b,) = library_preset("envoy-budget").guards()
    assert isinstance(b, ConcurrencyBudget) and (b.percent, b.min_retries) == (0.2, 3)
    assert retries_allowed(b, 50) == 13  # a retry while r < 0.2·(50 + r), i.e. r < 12.5: r = 0 … 12
    assert library_preset("envoy-budget").policy.stop == library_preset("envoy").policy.stop


def test_finagle_retries_what_the_catalog_allows():
    p = library_preset("finagle")
    assert retried(p, code(500, "retry")) and retried(p, TIMEOUT) and not retried(p, code(400, "never"))


# ---------------------------------------------------------------- AWS standard

def test_aws_standard_full_jitter_base_50ms_or_1s_for_throttles_cap_20():
    p = library_preset("aws-standard", max_attempts=12)
    half, outcome = schedule(p, code(503), Const(0.5))
    assert half == pytest.approx([0.025 * 2 ** k for k in range(9)] + [10, 10]) and outcome == "retries_exhausted"
    throttled, _ = schedule(p, code(429), Const(0.5))
    assert throttled == pytest.approx([0.5, 1, 2, 4, 8, 10, 10, 10, 10, 10, 10])
    rng = random.Random(11)
    for _ in range(300):
        for n, w in enumerate(schedule(p, code(503), rng)[0], start=1):
            assert 0.0 <= w <= min(0.05 * 2 ** (n - 1), 20)
    assert schedule(library_preset("aws-standard"), code(503), Const(0.5))[0] == [0.025, 0.05]  # 3 attempts


def test_aws_standard_2020_base_1s_for_every_error():
    p = library_preset("aws-standard-2020", max_attempts=8)
    for c in (code(503), code(429)):
        half, outcome = schedule(p, c, Const(0.5))
        assert half == pytest.approx([0.5, 1, 2, 4, 8, 10, 10]) and outcome == "retries_exhausted"


def test_aws_standard_retries_transient_throttles_and_timeouts():
    for name in ("aws-standard", "aws-standard-2020"):
        p = library_preset(name)
        assert all(retried(p, code(s)) for s in (500, 502, 503, 504, 429)) and retried(p, TIMEOUT)
        assert not any(retried(p, code(s)) for s in (400, 401, 403, 404, 501))
        # a standard Retry-After header is not botocore's x-amz-retry-after: ignored
        assert p.policy.decide(code(503), attempt=1, elapsed=0, retry_after=5.0, rng=Const(0.5)).retry
        assert p.attempt_timeout == 60.0
    p = library_preset("aws-standard")
    assert p.policy.decide(code(503), attempt=1, elapsed=0, retry_after=5.0, rng=Const(0.5)).wait == 0.025


def test_aws_x_amz_retry_after_raises_the_delay_at_most_5s_above_the_backoff():
    p = library_preset("aws-standard", amz_retry_after=True)
    d = p.policy.decide
    assert d(code(503), attempt=1, elapsed=0, retry_after=3.0, rng=Const(0.5)).wait == 3.0
    assert d(code(503), attempt=1, elapsed=0, retry_after=9.0, rng=Const(0.5)).wait == pytest.approx(5.025)
    assert d(code(429), attempt=2, elapsed=0, retry_after=0.1, rng=Const(0.5)).wait == 1.0  # never below t


def test_aws_quota_500_tokens_14_per_retry_5_per_throttle():
    (q,) = library_preset("aws-standard").guards()
    assert isinstance(q, RetryQuota)
    assert sum(q.allow_retry(0.0) for _ in range(150)) == 35  # 500 // 14
    assert q.tokens == 10
    q.on_result(0.0, True, False)  # success without retry: +1
    assert q.tokens == 11 and not q.allow_retry(0.0)
    (t,) = library_preset("aws-standard").guards()
    assert sum(t.allow_retry(0.0, timeout=True) for _ in range(100)) == 35  # a timeout costs 14 too
    (th,) = library_preset("aws-standard").guards()
    n = 0
    for _ in range(150):
        th.on_result(0.0, False, False, False, True)  # the simulator tells the throttle before asking
        n += th.allow_retry(0.0)
    assert n == 100  # 500 / 5
    (r,) = library_preset("aws-standard").guards()
    assert r.allow_retry(0.0)
    r.on_result(0.0, True, True)  # success after a retry refunds its cost
    assert r.tokens == 500


def test_aws_2020_quota_5_per_retry_10_per_timeout():
    (q,) = library_preset("aws-standard-2020").guards()
    assert sum(q.allow_retry(0.0) for _ in range(150)) == 100  # 500 / 5
    (t,) = library_preset("aws-standard-2020").guards()
    assert sum(t.allow_retry(0.0, timeout=True) for _ in range(100)) == 50  # 500 / 10


# ---------------------------------------------------------------- AWS adaptive and the CUBIC limiter

def steady(lim, rate, t0, t1):
    """Send ``rate`` responses per second from ``t0`` to ``t1`` (all successes)."""
    n = round((t1 - t0) * rate)
    for i in range(n):
        lim.on_result(t0 + i / rate, True, False)


def test_aws_adaptive_guards_limiter_first():
    p = library_preset("aws-adaptive")
    lim, q = p.guards()
    assert isinstance(lim, ClientRateLimiter) and isinstance(q, RetryQuota)
    assert schedule(p, code(503), Const(0.5))[0] == [0.025, 0.05]
    assert q.describe() == library_preset("aws-standard").guards()[0].describe()


def test_cubic_limiter_off_until_the_first_throttle():
    lim = ClientRateLimiter()
    steady(lim, 1000, 0.0, 5.0)
    assert not lim.enabled
    assert all(lim.allow_request(5.0) for _ in range(10_000))


def test_cubic_throttle_drops_rate_by_beta_and_recovers_along_the_cubic():
    lim = ClientRateLimiter()
    steady(lim, 100, 0.0, 10.0)
    measured = lim.measured_rate
    assert measured == pytest.approx(100, rel=1e-6)  # EWMA of 100 per second, converged
    lim.on_result(10.0, False, False, throttled=True)
    assert lim.enabled and lim.w_max == pytest.approx(measured)
    assert lim.rate == pytest.approx(0.7 * measured)  # rate ·= beta
    k = (measured * 0.3 / 0.4) ** (1 / 3)
    assert lim.k == pytest.approx(k)
    for dt, expected in [(k / 2, 0.4 * (-k / 2) ** 3 + measured), (k, measured), (k + 1.0, measured + 0.4),
                         (k + 2.0, measured + 3.2)]:
        assert lim.cubic_rate(10.0 + dt) == pytest.approx(expected)
    # responses that are not throttles set the rate on the cubic (2 × measured is far above it here)
    steady(lim, 100, 10.01, 10.0 + k / 2)
    lim.on_result(10.0 + k / 2, True, False)
    assert lim.rate == pytest.approx(0.4 * (-k / 2) ** 3 + measured)
    steady(lim, 100, 10.0 + k / 2, 10.0 + k)
    lim.on_result(10.0 + k, True, False)
    assert lim.rate == pytest.approx(measured)  # back at w_max after K seconds
    # a second throttle, once enabled, takes min(measured, current rate) as the new w_max
    lim.on_result(10.0 + k + 0.01, False, False, throttled=True)
    assert lim.w_max == pytest.approx(min(lim.measured_rate, measured), rel=1e-3)


def test_cubic_rate_capped_at_twice_measured_and_floored_at_half_a_request():
    lim = ClientRateLimiter()
    lim.on_result(0.0, False, False, throttled=True)  # nothing measured yet
    assert lim.enabled and lim.rate == 0.5 and lim.max_tokens == 1.0
    steady(lim, 10, 0.0, 20.0)
    lim.on_result(20.0, False, False, throttled=True)
    lim.on_result(40.0, True, False)  # far up the cubic: 0.4·(20 − K)³ ≫ 2 × measured
    assert lim.rate == pytest.approx(2.0 * lim.measured_rate)


def test_cubic_token_bucket_admits_rate_per_second_or_blocks_fifo():
    lim = ClientRateLimiter(block=False)  # fast fail: allow_* refuse without a token
    steady(lim, 100, 0.0, 10.0)
    lim.on_result(10.0, False, False, throttled=True)
    rate = lim.rate
    while lim.allow_request(10.0):
        pass  # drain
    allowed = sum(lim.allow_retry(10.0 + i / 1000) for i in range(1, 10_001))
    assert abs(allowed - rate * 10) <= 1  # tokens accrue at `rate` per second
    assert lim.refused > 0
    fresh = ClientRateLimiter()
    steady(fresh, 100, 0.0, 10.0)
    fresh.on_result(10.0, False, False, throttled=True)
    fresh.tokens = 0.0
    r = fresh.rate
    assert [fresh.acquire_delay(10.0) for _ in range(3)] == pytest.approx([1 / r, 2 / r, 3 / r])


def test_blocking_limiter_never_refuses_and_says_when_the_next_token_comes():
    lim = ClientRateLimiter()  # block=True: botocore's behaviour
    assert lim.blocks and lim.describe()["block"] is True
    assert not ClientRateLimiter(block=False).blocks
    steady(lim, 100, 0.0, 10.0)
    lim.on_result(10.0, False, False, throttled=True)
    r = lim.rate
    assert all(lim.allow_request(10.0) and lim.allow_retry(10.0) for _ in range(1000)) and lim.refused == 0
    while lim.take(10.0):
        pass  # drain the bucket
    assert -1e-6 <= lim.tokens < 1.0  # a token short of one by rounding counts as one
    w = lim.wait(10.0)
    assert w == pytest.approx((1.0 - lim.tokens) / r) and not lim.take(10.0 + w / 2)
    assert lim.wait(10.0 + w) == 0.0 and lim.take(10.0 + w)  # exactly at the computed time, despite rounding
    assert lim.wait(10.0 + w) == pytest.approx(1 / r)  # the next one, a token later
    # A throttle during the wait lowers the rate: the wait, asked again, is longer (botocore re-checks).
    before = lim.wait(10.0 + w)
    lim.on_result(10.0 + w, False, False, throttled=True)
    assert lim.rate < r and lim.wait(10.0 + w) > before


def test_composite_blocks_through_its_one_blocking_guard():
    lim, q = ClientRateLimiter(), RetryQuota()
    g = Guards(q, lim)
    assert g.blocks and not Guards(q).blocks and not Guards(q, ClientRateLimiter(block=False)).blocks
    assert g.take(0.0) and g.wait(0.0) == 0.0  # off until the first throttle
    lim.on_result(0.0, False, False, throttled=True)
    assert g.take(2.0) and not g.take(2.0) and g.wait(2.0) == pytest.approx(2.0)  # 0.5 tokens per second
    assert Guards(q).take(0.0) and Guards(q).wait(0.0) == 0.0
    with pytest.raises(ValueError, match="at most one guard may block"):
        Guards(ClientRateLimiter(), ClientRateLimiter())


def test_aws_adaptive_blocks_unless_fast_fail():
    assert library_preset("aws-adaptive").guards()[0].blocks
    assert not library_preset("aws-adaptive", fast_fail=True).guards()[0].blocks


def test_composite_passes_throttled_only_to_guards_that_hear_it():
    lim, bucket = ClientRateLimiter(), TokenBucketBudget()
    g = Guards(bucket, lim)
    g.on_result(0.0, False, False, False, True)  # TokenBucketBudget.on_result takes no `throttled`
    assert lim.enabled and lim.throttles == 1 and bucket.tokens == 9
    g.on_result(0.1, False, False, False)  # the simulator's four-argument call still works
    assert lim.throttles == 1


def test_is_throttle_is_http_429():
    assert is_throttle(code(429)) and not is_throttle(code(503)) and not is_throttle(TIMEOUT)


# ---------------------------------------------------------------- resilience4j

def test_resilience4j_retry_3_attempts_fixed_500ms_everything():
    p = library_preset("resilience4j")
    waits, outcome = schedule(p, code(400, "never"), Const(0.3))
    assert waits == [0.5, 0.5] and outcome == "retries_exhausted"
    d = p.policy.decide(code(401, "reauth"), attempt=1, elapsed=0, rng=Const(0.3))
    assert d.retry and not d.reauth and retried(p, TIMEOUT)


def test_resilience4j_breaker_defaults():
    (br,) = library_preset("resilience4j").guards()
    assert isinstance(br, CircuitBreaker)
    for i in range(99):
        br.on_result(i, False, False)
    assert br.state == CLOSED  # 99 failures: below the minimum of 100 calls
    br.on_result(99, True, False)
    assert br.state == OPEN  # 99 of 100 failed ≥ 50%
    assert not br.allow_request(158.9)
    assert br.allow_request(159.0) and br.state == HALF_OPEN  # open 60 s from t = 99
    assert sum(br.allow_request(159.0) for _ in range(20)) == 9  # 10 half-open calls in all


# ---------------------------------------------------------------- Google SRE book

def test_sre_book_three_attempts_and_jittered_backoff():
    p = library_preset("sre-book")
    waits, outcome = schedule(p, code(503, "backoff"), Const(TOP))
    assert waits == pytest.approx([1.0, 2.0]) and outcome == "retries_exhausted"
    assert not retried(p, code(400, "never")) and retried(p, TIMEOUT)


def test_sre_book_throttle_k2_and_10_percent_budget():
    th, budget = library_preset("sre-book").guards()
    assert isinstance(th, AdaptiveThrottle) and isinstance(budget, RatioBudget)
    for i in range(100):
        th.on_result(float(i), i < 40, False)  # 100 requests, 40 accepts
    assert th.reject_probability(100.0) == pytest.approx((100 - 2 * 40) / 101)
    assert th.reject_probability(300.0) == 0.0  # 2-minute window
    for _ in range(50):
        budget.allow_request(0.0)
    assert sum(budget.allow_retry(0.0) for _ in range(20)) == 5  # 10% of 50, no floor


# ---------------------------------------------------------------- on the real catalogs

@pytest.mark.parametrize("api", ["analytics", "nanostream", "counters"])
def test_presets_retry_catalog_codes_by_their_http_status(api):
    cat = load_catalog(api)
    grpc, aws, urllib = library_preset("grpc").policy, library_preset("aws-standard").policy, library_preset("urllib3-backoff").policy
    for c in cat:
        assert (grpc.plan(c).action == RETRY) == (c.http in (429, 502, 503, 504)), c.code
        assert (aws.plan(c).action == RETRY) == (c.http in (429, 500, 502, 503, 504)), c.code
        expected = RETRY if c.http in (500, 502, 503, 504) else AFTER_RESET if c.http in (413, 429) else FAIL
        assert urllib.plan(c).action == expected, c.code
    assert math.isfinite(library_preset("envoy").timeout)
