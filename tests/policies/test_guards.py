"""Guards: breaker transitions, budget arithmetic, throttle formula, quota, properties."""
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilsim.policies.guards import (
    CLOSED, HALF_OPEN, OPEN, AdaptiveThrottle, CircuitBreaker, ConcurrencyBudget, Guards,
    RatioBudget, RetryQuota, TokenBucketBudget,
)


class AlwaysLow:
    """An rng whose draws are always 0: rejects whenever p > 0."""

    def random(self):
        return 0.0


def test_token_bucket_grpc_arithmetic():
    b = TokenBucketBudget(10, 0.1)
    assert b.allow_retry(0)
    for _ in range(5):
        b.on_result(0, False, False)
    assert b.tokens == 5 and not b.allow_retry(0)  # tokens must be > max/2
    b.on_result(0, True, False)
    assert b.tokens == pytest.approx(5.1) and b.allow_retry(0)
    for _ in range(100):
        b.on_result(0, True, False)
    assert b.tokens == 10  # capped at max_tokens


def test_ratio_budget_floor_deposits_and_ttl():
    b = RatioBudget(percent=0.2, ttl=10, min_per_s=0)
    for _ in range(10):
        b.allow_request(0.0)
    assert b.allow_retry(0.0) and b.allow_retry(0.0)  # 10 × 0.2 = 2 retries
    assert not b.allow_retry(0.0)
    assert b.balance(10.0) == 0  # deposits and withdrawals expired after ttl
    f = RatioBudget(percent=0.0, ttl=10, min_per_s=1)
    assert sum(f.allow_retry(1.0) for _ in range(20)) == 10  # floor: min_per_s · ttl


def test_concurrency_budget_envoy_min_and_percent():
    b = ConcurrencyBudget(0.2, 3)
    for _ in range(3):
        assert b.allow_retry(0)
        b.on_attempt_start(0, True)
    assert not b.allow_retry(0)  # 3 retries of 3 active: min 3 reached
    for _ in range(12):
        b.on_attempt_start(0, False)
    assert b.active == 15 and not b.allow_retry(0)  # 20% of 15 = 3 retries, all in flight
    for _ in range(5):
        b.on_attempt_start(0, False)
    assert b.allow_retry(0)  # 20% of 20 = 4 > 3 retries in flight
    b.on_attempt_end(0, True)
    assert b.retries_active == 2


def test_breaker_transitions_count_window():
    br = CircuitBreaker(failure_rate=0.5, window=4, minimum_calls=4, open_s=10, half_open_calls=2)
    for ok in (True, False, True):
        br.on_result(0, ok, False)
    assert br.state == CLOSED
    br.on_result(1, False, False)  # 2/4 failures ≥ 50%
    assert br.state == OPEN
    assert not br.allow_request(5) and not br.allow_retry(10.9)
    assert br.allow_request(11) and br.state == HALF_OPEN
    assert br.allow_request(11) and not br.allow_request(11)  # only 2 probes
    br.on_result(11, True, False)
    br.on_result(11, False, False)  # 1/2 failed ≥ 50%: open again
    assert br.state == OPEN and br.opened_at == 11
    assert br.allow_request(21) and br.allow_request(21)
    br.on_result(22, True, False)
    br.on_result(22, True, False)
    assert br.state == CLOSED
    assert [s for _, s in br.transitions] == [OPEN, HALF_OPEN, OPEN, HALF_OPEN, CLOSED]


def test_breaker_count_window_slides_and_minimum_calls():
    br = CircuitBreaker(failure_rate=0.5, window=4, minimum_calls=4, open_s=10, half_open_calls=1)
    for ok in (False, True, True, True, True, True):
        br.on_result(0, ok, False)
    br.on_result(0, False, False)  # window = T T T F: 25%
    assert br.state == CLOSED
    b2 = CircuitBreaker(failure_rate=0.5, window=100, minimum_calls=5)
    for _ in range(4):
        b2.on_result(0, False, False)
    assert b2.state == CLOSED  # below minimum calls


def test_breaker_time_window_forgets_old_calls():
    br = CircuitBreaker(failure_rate=0.5, window=10, window_type="time", minimum_calls=2)
    br.on_result(0, False, False)
    br.on_result(11, False, False)  # the first failure left the window
    assert br.state == CLOSED
    br.on_result(12, False, False)
    assert br.state == OPEN


def test_throttle_formula_exact():
    t = AdaptiveThrottle(k=2, window=120)
    for i in range(10):
        t.on_result(0, i < 3, False)  # 10 requests, 3 accepts
    assert t.reject_probability(1) == pytest.approx((10 - 2 * 3) / 11)
    assert not t.allow_request(1, AlwaysLow())  # rejected locally...
    assert t.reject_probability(1) == pytest.approx((11 - 6) / 12)  # ...and counted
    assert t.reject_probability(200) == 0  # window expired
    healthy = AdaptiveThrottle()
    for _ in range(10):
        healthy.on_result(0, True, False)
    assert healthy.reject_probability(0) == 0 and healthy.allow_request(0, AlwaysLow())


def test_quota_aws_costs_and_refunds():
    q = RetryQuota()
    assert q.allow_retry(0) and q.tokens == 495
    assert q.allow_retry(0, timeout=True) and q.tokens == 485
    q.on_result(0, True, True)
    assert q.tokens == 495  # the retry's cost refunded
    q.on_result(0, True, False)
    assert q.tokens == 496
    small = RetryQuota(capacity=12)
    assert small.allow_retry(0) and small.allow_retry(0) and not small.allow_retry(0)
    for _ in range(50):
        small.on_result(0, True, False)
    assert small.tokens == 12


def test_guards_composite_short_circuits_and_describes():
    q = RetryQuota(capacity=100)
    g = Guards(TokenBucketBudget(2, 0.1), q)
    for _ in range(2):
        g.on_result(0, False, False)
    assert not g.allow_retry(0)
    assert q.tokens == 100  # not charged: the bucket refused first
    d = g.describe()
    assert d["guards"] == "token_bucket+quota" and d["quota.cost"] == 5
    assert not Guards()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), max_size=200))
def test_token_bucket_stays_in_range(outcomes):
    b = TokenBucketBudget(10, 0.1)
    for ok in outcomes:
        b.on_result(0, ok, False)
        assert 0 <= b.tokens <= 10
        assert b.allow_retry(0) == (b.tokens > 5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 5)), max_size=200), st.integers(0, 2**32))
def test_throttle_probability_bounded_and_never_rejects_when_healthy(events, seed):
    t = AdaptiveThrottle(k=2, window=30)
    rng = random.Random(seed)
    now = 0.0
    for ok, dt in events:
        now += dt
        p = t.reject_probability(now)
        assert 0 <= p < 1
        if t.allow_request(now, rng):
            t.on_result(now, ok, False)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 300), st.integers(0, 300))
def test_ratio_budget_never_exceeds_ratio_plus_floor(requests, retries_wanted):
    b = RatioBudget(percent=0.1, ttl=10, min_per_s=1)
    for _ in range(requests):
        b.allow_request(0.0)
    granted = sum(b.allow_retry(0.0) for _ in range(retries_wanted))
    assert granted <= 10 + 0.1 * requests
    assert granted == min(retries_wanted, int(10 + 0.1 * requests + 1e-9))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 3)), max_size=300))
def test_breaker_state_is_always_valid_and_open_refuses(events):
    br = CircuitBreaker(failure_rate=0.5, window=10, minimum_calls=5, open_s=5, half_open_calls=3)
    now = 0.0
    for ok, dt in events:
        now += dt
        if br.allow_request(now):
            br.on_result(now, ok, False)
        assert br.state in (CLOSED, OPEN, HALF_OPEN)
        if br.state == OPEN and now - br.opened_at < 5:
            assert not br.allow_request(now)


def test_breaker_count_ring_opens_exactly_when_the_last_window_calls_fail_enough():
    # The count window is a ring with a running failure count; a naive list of the calls since the
    # breaker last closed must give the same decision after every outcome (fixed seeds).
    opened = 0
    for seed in range(40):
        r = random.Random(seed)
        window, minimum = r.choice([1, 3, 10]), r.choice([1, 3, 10])
        b = CircuitBreaker(failure_rate=0.5, window=window, minimum_calls=minimum, open_s=1.0, half_open_calls=2)
        since_close, t, p = [], 0.0, r.random()
        for _ in range(600):
            t += r.expovariate(20)
            if r.random() < 0.03:
                p = r.random()
            was = b.state_at(t)
            failed = r.random() < p
            b.on_result(t, not failed, False)
            if was == CLOSED:
                since_close.append(failed)
                last = since_close[-window:]
                expect = len(last) >= minimum and sum(last) / len(last) >= 0.5
                assert (b.state == OPEN) == expect
                opened += expect
            if b.state != CLOSED:
                since_close = []
    assert opened > 100  # the check saw the breaker open often


def test_guards_fast_paths_match_the_generic_loop():
    # Guards binds allow_request / on_result straight to a single deciding / recording guard, and offers
    # admit / success_sink, which the simulator uses instead while every guard would allow (a closed breaker).
    # Twins driven alike, one through these (even seeds: admit and success_sink when offered; odd seeds: the
    # bound methods only), the other through the generic loops, must decide alike and end in the same
    # states, as the breaker opens and closes.
    for order in ("b", "r", "br", "rb", "bc", "brc", "bt", "rbq"):
        shortcuts = 0
        for seed in range(6):
            def make():
                kinds = {"b": lambda: CircuitBreaker(window=8, minimum_calls=4, open_s=0.3, half_open_calls=2),
                         "r": lambda: RatioBudget(0.2, 2.0, 1.0), "c": lambda: ConcurrencyBudget(),
                         "t": lambda: TokenBucketBudget(), "q": lambda: RetryQuota()}
                return Guards(*[kinds[k]() for k in order])
            fast, slow = make(), make()
            hooks = seed % 2 == 0
            r, t, p = random.Random(seed), 0.0, 0.5
            for _ in range(600):
                t += r.expovariate(10)
                if r.random() < 0.03:
                    p = r.random()
                op = r.random()
                if op < 0.4:
                    if hooks and fast.admit is not None:
                        fast.admit(t)
                        allowed, shortcuts = True, shortcuts + 1
                    else:
                        allowed = bool(fast.allow_request(t, None))
                    assert allowed == Guards.allow_request(slow, t, None)
                elif op < 0.55:
                    # fast: the allow_retry _refresh bound (the one guard asked, or the asked ones' loop).
                    timeout = r.random() < 0.3
                    assert fast.allow_retry(t, None, timeout) == Guards.allow_retry(slow, t, None, timeout)
                else:
                    ok = r.random() > p
                    if hooks and ok and fast.success_sink is not None:
                        fast.success_sink()
                        shortcuts += 1
                    else:
                        fast.on_result(t, ok, False, False, False)
                    Guards.on_result(slow, t, ok, False, False, False)
                for x, y in zip(fast.guards, slow.guards):
                    assert getattr(x, "state", None) == getattr(y, "state", None)
                    assert getattr(x, "tokens", None) == getattr(y, "tokens", None)
                    if isinstance(x, RatioBudget):
                        assert x.balance(t) == y.balance(t)
        assert shortcuts > 150  # the fast hooks were taken, not just offered


def test_guards_allow_retry_asks_only_guards_that_would_not_just_allow():
    # A closed breaker answers every retry True and records nothing (passive_retry), so the composite's
    # allow_retry is the budget's own while it is closed, and asks both, breaker first, once it opens.
    breaker, budget = CircuitBreaker(window=4, minimum_calls=2, open_s=1.0), RatioBudget(0.2, 2.0, 1.0)
    g = Guards(breaker, budget)
    assert g.allow_retry == budget.allow_retry
    g.on_result(0.0, False, False)
    g.on_result(0.1, False, False)
    assert breaker.state == "open" and not breaker.passive_retry
    assert g.allow_retry != budget.allow_retry and g.allow_retry(0.2) is False  # refused by the breaker
    assert Guards(breaker).allow_retry == breaker.allow_retry
    assert Guards(CircuitBreaker()).allow_retry(0.0) is True  # nobody asked: allowed
    assert Guards(budget, TokenBucketBudget()).allow_retry.func.__name__ == "_allow_retry"

def test_breaker_success_sink_counts_exactly_as_on_result():
    # While a count-window breaker offers a success sink (closed, and no run of successes could open it
    # before the next failure), successes given to the sink must leave it deciding exactly as a twin told
    # every outcome through on_result: same state after every step, same transitions, same opening times.
    sunk = 0
    for seed in range(60):
        r = random.Random(seed)
        params = dict(failure_rate=r.choice([0.2, 0.5, 0.9]), window=r.choice([1, 4, 10, 50]),
                      minimum_calls=r.choice([1, 5, 10, 60]), open_s=0.5, half_open_calls=r.choice([1, 3]))
        fast, slow = CircuitBreaker(**params), CircuitBreaker(**params)
        t, p = 0.0, r.random()
        for _ in range(800):
            t += r.expovariate(20)
            if r.random() < 0.02:
                p = r.random()
            if not fast.allow_request(t):
                assert not slow.allow_request(t)
                continue
            assert slow.allow_request(t)
            ok = r.random() > p
            if ok and fast.success_sink is not None:
                fast.success_sink()
                sunk += 1
            else:
                fast.on_result(t, ok, False)
            slow.on_result(t, ok, False)
            assert fast.state == slow.state and fast.transitions == slow.transitions
    assert sunk > 10_000  # the sink took most successes


def test_breaker_offers_no_sink_when_a_success_could_open_it():
    # 60 failures out of 99 calls, minimum 100: the 100th call opens the breaker even if it succeeds
    # (60% ≥ 50%), so that success must go through on_result.
    b = CircuitBreaker(failure_rate=0.5, window=100, minimum_calls=100)
    for i in range(99):
        b.on_result(float(i), i >= 60, False)  # the first 60 fail
    assert b.state == CLOSED and b.success_sink is None
    b.on_result(99.0, True, False)
    assert b.state == OPEN
    # A time window always goes through on_result.
    assert CircuitBreaker(window=10, window_type="time").success_sink is None


def test_time_windows_count_as_a_plain_list_would():
    # RatioBudget and AdaptiveThrottle keep their times in lists cut by bisect (and trimmed now and then);
    # their answers must equal a direct count over every time recorded, across many trims.
    r = random.Random(7)
    budget, throttle = RatioBudget(percent=0.3, ttl=5.0, min_per_s=0.5), AdaptiveThrottle(k=1.5, window=5.0)
    deposits, retries, requests, accepts = [], [], [], []
    t = 0.0
    for _ in range(30_000):
        t += r.expovariate(200)
        budget.allow_request(t)
        deposits.append(t)
        throttle.on_result(t, ok := r.random() < 0.7, False)
        requests.append(t)
        if ok:
            accepts.append(t)
        if r.random() < 0.1:
            cut = t - 5.0
            expect = 0.5 * 5.0 + 0.3 * sum(d > cut for d in deposits[-2000:]) - sum(x > cut for x in retries[-2000:])
            assert budget.balance(t) == pytest.approx(expect, abs=1e-9)
            if budget.allow_retry(t):
                retries.append(t)
            n_req, n_acc = sum(x > cut for x in requests[-2000:]), sum(x > cut for x in accepts[-2000:])
            assert throttle.reject_probability(t) == pytest.approx(max(0.0, (n_req - 1.5 * n_acc) / (n_req + 1)))
    assert len(budget._requests.times) < 6000  # trimmed: memory follows the window, not the run


def test_ratio_budget_balance_written_out_is_count_afters():
    # RatioBudget.balance writes _Times.count_after out for both of its lists: the same balance, the same lists
    # left, over enough requests and retries that both lists cut their expired prefixes (past 4,096 entries).
    from resilsim.policies.guards import _Times

    def general(b, now):
        cut = now - b.ttl
        return b.min_per_s * b.ttl + b.percent * b._requests.count_after(cut) - b._retries.count_after(cut)

    rng = random.Random(11)
    fast, slow = RatioBudget(0.3, 2.0, 0.5), RatioBudget(0.3, 2.0, 0.5)
    now, cuts, length = 0.0, 0, 0
    for _ in range(60_000):
        now += rng.expovariate(3000.0)
        for b in (fast, slow):
            b.allow_request(now)
        if rng.random() < 0.5:
            want = general(slow, now)
            assert fast.balance(now) == want
            if want >= 1.0:
                slow._retries.append(now)
                fast._retries.append(now)
        cuts += len(fast._requests.times) < length  # an expired prefix cut off
        length = len(fast._requests.times)
        for a, b in ((fast._requests, slow._requests), (fast._retries, slow._retries)):
            assert (a.times, a.head) == (b.times, b.head)
    assert cuts > 0 and isinstance(fast._retries, _Times) and len(fast._retries.times) > 0
