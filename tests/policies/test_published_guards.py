"""The guards of Brooker's 2022 post, against his retry_sim code, and probabilistic retry."""
import random

import pytest

from resilsim.catalog import ErrorCode
from resilsim.policies import waits
from resilsim.policies.guards import (CLOSED, HALF_OPEN, OPEN, CircuitBreaker, Guards, RetryCircuitBreaker,
                                      RetryTokenBucket)
from resilsim.policies.retry import RetryPolicy
from resilsim.policies.stops import attempts


class PostBucket:
    """mbrooker/simulator_example retry_sim/retry_strategy.py AdaptiveRetryStrategy, transcribed."""

    def __init__(self, fill, size):
        self.size, self.fill, self.bucket = size, fill, size

    def start(self):
        self.bucket = min(self.bucket + self.fill, self.size)

    def should_retry(self):
        if self.bucket > 1.0:
            self.bucket -= 1.0
            return True
        return False


class PostBreaker:
    """The same file's CircuitBreakerRetryCall/Strategy, the ratio part (the 3-retry cap is the policy's stop)."""

    def __init__(self, max_rate):
        self.max_rate, self.calls, self.failures = max_rate, 0.0, 0.0

    def start(self):
        self.calls += 1.0

    def should_retry(self):
        self.failures += 1.0
        return not (self.failures / self.calls) > self.max_rate


def _events(seed, n=20_000):
    # A random interleaving of request starts and failed attempts (a failure only after some start).
    r = random.Random(seed)
    out = ["start"]
    for _ in range(n):
        out.append("start" if r.random() < 0.4 else "fail")
    return out


@pytest.mark.parametrize("seed", range(5))
def test_retry_token_bucket_decides_as_the_posts_code(seed):
    mine, post = RetryTokenBucket(capacity=5, deposit=0.1, cost=1), PostBucket(0.1, 5)
    for ev in _events(seed):
        if ev == "start":
            assert mine.allow_request(0.0)
            post.start()
        else:
            assert mine.allow_retry(0.0) == post.should_retry()
        assert mine.tokens == post.bucket  # bit for bit: the same float operations in the same order


def test_retry_token_bucket_arithmetic():
    b = RetryTokenBucket(capacity=5, deposit=0.1, cost=1)
    # Full at 5: four retries leave exactly 1 token, and a retry needs more than the cost.
    assert [b.allow_retry(0.0) for _ in range(5)] == [True] * 4 + [False]
    assert b.tokens == 1.0
    for _ in range(100):
        b.allow_request(0.0)
    assert b.tokens == 5.0  # deposits stop at capacity
    # Outcomes are not counted: failures take nothing, successes give nothing.
    g = Guards(b)
    g.on_result(0.0, False, False)
    assert b.tokens == 5.0
    # In the long run, retries ≈ deposit / cost per request: 10,000 requests that each want to retry.
    b = RetryTokenBucket(capacity=5, deposit=0.1, cost=1)
    allowed = 0
    for _ in range(10_000):
        b.allow_request(0.0)
        allowed += b.allow_retry(0.0)
    assert 995 <= allowed <= 1004  # 4 from the full bucket + 0.1 × 10,000, less rounding of the deposits
    with pytest.raises(ValueError):
        RetryTokenBucket(capacity=0)


@pytest.mark.parametrize("seed", range(5))
def test_retry_breaker_decides_as_the_posts_code(seed):
    mine, post = RetryCircuitBreaker(max_failure_rate=0.1), PostBreaker(0.1)
    for ev in _events(seed):
        if ev == "start":
            assert mine.allow_request(0.0)
            post.start()
        else:
            mine.on_result(0.0, False, False)  # the simulator reports the failure before asking to retry
            assert mine.allow_retry(0.0) == post.should_retry()


def test_retry_breaker_counts_every_failure_over_the_whole_run():
    b = RetryCircuitBreaker(max_failure_rate=0.1)
    for _ in range(10):
        b.allow_request(0.0)
    b.on_result(1.0, False, False)
    assert b.allow_retry(1.0)  # 1 / 10 is not above 10%
    b.on_result(2.0, False, True)  # a retry's failure counts too
    assert not b.allow_retry(2.0)  # 2 / 10
    b.on_result(3.0, True, True)
    assert not b.allow_retry(1e6)  # no window: time alone never closes it
    for _ in range(10):
        b.allow_request(4.0)
    assert b.allow_retry(4.0)  # 2 / 20
    assert b.allow_request(5.0)  # first attempts always go


def test_retry_only_breaker_refuses_retries_but_never_first_attempts():
    b = CircuitBreaker(failure_rate=0.5, window=4, minimum_calls=4, open_s=10, half_open_calls=2, retry_only=True)
    g = Guards(b)
    for _ in range(4):
        g.on_result(0.0, False, False)
    assert b.state == OPEN
    assert g.allow_request(1.0) and not g.allow_retry(1.0)
    assert g.admit is not None  # first attempts skip the breaker altogether, open or not
    # Half-open after open_s: two retries are let through as probes, a third waits for their verdict.
    assert g.allow_retry(10.0) and b.state == HALF_OPEN
    assert g.allow_retry(10.0) and not g.allow_retry(10.0)
    assert g.allow_request(10.0)
    g.on_result(10.5, True, True)
    g.on_result(10.6, True, False)  # a first attempt's outcome counts towards the verdict too
    assert b.state == CLOSED
    plain = CircuitBreaker(failure_rate=0.5, window=4, minimum_calls=4, open_s=10)
    for _ in range(4):
        plain.on_result(0.0, False, False)
    assert not plain.allow_request(1.0)  # the default breaker refuses first attempts
    assert b.describe()["retry_only"] is True


class Draws:
    """An rng that returns the given numbers in turn and counts its calls."""

    def __init__(self, *values):
        self.values, self.calls = list(values), 0

    def random(self):
        self.calls += 1
        return self.values.pop(0)


CODE = ErrorCode(code="X", http=503, name="X", category="Server", message="", resolution="", advice="retry")
NEVER = ErrorCode(code="Y", http=400, name="Y", category="Client", message="", resolution="", advice="never")


def test_probabilistic_retry_retries_with_probability_p():
    p = RetryPolicy(wait=waits.fixed(1.0), stop=attempts(10), retry_probability=0.3)
    assert p.decide(CODE, attempt=1, elapsed=0.0, rng=Draws(0.29)).retry
    assert p.decide(CODE, attempt=1, elapsed=0.0, rng=Draws(0.3)).outcome == "failed"  # never retried
    assert p.decide(CODE, attempt=2, elapsed=0.0, rng=Draws(0.3)).outcome == "retries_exhausted"
    rng = Draws()
    assert p.decide(NEVER, attempt=1, elapsed=0.0, rng=rng).outcome == "failed" and rng.calls == 0
    # p = 1 draws nothing: a policy without it sees the same random numbers as before.
    one = RetryPolicy(wait=waits.fixed(1.0), stop=attempts(10))
    rng = Draws()
    assert one.decide(CODE, attempt=1, elapsed=0.0, rng=rng).retry and rng.calls == 0
    assert "retry_probability" not in one.describe() and p.describe()["retry_probability"] == 0.3
    # Over many draws the share retried is p, within 4 standard deviations of a binomial count.
    r, n = random.Random(1), 20_000
    k = sum(p.decide(CODE, attempt=1, elapsed=0.0, rng=r).retry for _ in range(n))
    assert abs(k / n - 0.3) < 4 * (0.3 * 0.7 / n) ** 0.5
    with pytest.raises(ValueError, match="retry_probability must be between 0 and 1"):
        RetryPolicy(retry_probability=1.5)
