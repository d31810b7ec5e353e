"""Rate limiters against hand-computed sequences."""
import math

import pytest

from resilsim.server.limiters import (FixedWindow, Scoped, SlidingWindowCounter, SlidingWindowLog, TokenBucket,
                                      make_limiter)


@pytest.mark.parametrize("rate,burst", [(2.0, 5.0), (0.5, 1.0), (10.0, 50.0)])
def test_token_bucket_admits_rate_times_time_plus_burst_under_overload(rate, burst):
    # One attempt every 10 ms for an hour, far above the rate: admitted = r·3600 + b, ± 1 for the last fraction.
    tb = TokenBucket(rate, burst)
    admitted = sum(tb.try_acquire(k * 0.01) == 0.0 for k in range(360_000))
    assert abs(admitted - (rate * 3600 + burst)) <= 1


def test_token_bucket_retry_after_is_time_to_next_token():
    tb = TokenBucket(2.0, 1.0)
    assert tb.try_acquire(0.0) == 0.0
    assert tb.try_acquire(0.1) == pytest.approx(0.4)   # 0.2 tokens now, 0.8 more at 2/s
    assert tb.try_acquire(0.5) == 0.0


def test_fixed_window_resets_on_aligned_boundaries_and_retry_after_is_time_to_next_window():
    fw = FixedWindow(3, 10.0)
    assert [fw.try_acquire(t) for t in (0.0, 1.0, 2.0)] == [0.0, 0.0, 0.0]
    assert fw.try_acquire(3.0) == pytest.approx(7.0)
    assert fw.try_acquire(9.99) == pytest.approx(0.01)
    assert fw.try_acquire(10.0) == 0.0                   # new window
    # An idle gap: the window holding t=25 is [20, 30), whatever happened before.
    assert [fw.try_acquire(25.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert fw.try_acquire(26.0) == pytest.approx(4.0)


def test_fixed_window_allows_two_limits_across_a_boundary():
    # The known weakness of fixed windows: 2×limit within a short span around a reset.
    fw = FixedWindow(5, 1.0)
    ok = sum(fw.try_acquire(t) == 0.0 for t in [0.9] * 5 + [1.0] * 5)
    assert ok == 10


def test_sliding_log_counts_any_window_and_retry_after_is_oldest_leaving():
    sw = SlidingWindowLog(2, 10.0)
    assert sw.try_acquire(0.0) == 0.0
    assert sw.try_acquire(4.0) == 0.0
    assert sw.try_acquire(5.0) == pytest.approx(5.0)    # t=0 leaves at 10
    assert sw.try_acquire(10.0) == 0.0                  # t=0 has left
    assert sw.try_acquire(11.0) == pytest.approx(3.0)   # log [4, 10]: 4 leaves at 14
    # No boundary burst: 5 at 0.9 and 5 at 1.0 with limit 5 per second admits only 5.
    sw = SlidingWindowLog(5, 1.0)
    assert sum(sw.try_acquire(t) == 0.0 for t in [0.9] * 5 + [1.0] * 5) == 5


def test_sliding_counter_weights_previous_window():
    sc = SlidingWindowCounter(10, 10.0)
    assert all(sc.try_acquire(float(t)) == 0.0 for t in range(10))
    assert sc.try_acquire(9.5) == pytest.approx(0.5)      # full, nothing before: wait for the next window
    # t=12: previous=10 weighs 10×0.8 = 8; two more fit (0+8+1, 1+8+1 ≤ 10), the third waits until f=0.3.
    assert sc.try_acquire(12.0) == 0.0
    assert sc.try_acquire(12.0) == 0.0
    assert sc.try_acquire(12.0) == pytest.approx(1.0)
    assert sc.try_acquire(13.0) == 0.0                    # 2 + 7 + 1 = 10
    # Two windows later the old count no longer weighs.
    assert sc.try_acquire(35.0) == 0.0 and sc.previous == 0


def test_scoped_per_tenant_and_per_operation_are_independent():
    sc = Scoped(lambda: FixedWindow(1, 60.0), per="tenant")
    assert sc.try_acquire(0.0, op=0, tenant=1) == 0.0
    assert sc.try_acquire(0.0, op=0, tenant=2) == 0.0
    assert sc.try_acquire(1.0, op=1, tenant=1) == pytest.approx(59.0)
    po = Scoped(lambda: FixedWindow(1, 60.0), per="client", per_operation=True)
    assert po.try_acquire(0.0, op=0, client=3) == 0.0
    assert po.try_acquire(0.0, op=1, client=3) == 0.0
    assert po.try_acquire(0.0, op=1, client=3) > 0.0
    only = Scoped(lambda: FixedWindow(1, 60.0), operations=[1])
    assert all(only.try_acquire(0.0, op=0) == 0.0 for _ in range(5))   # not counted
    assert only.try_acquire(0.0, op=1) == 0.0 and only.try_acquire(0.0, op=1) > 0.0


def test_make_limiter_and_bad_parameters():
    assert isinstance(make_limiter("sliding_log", limit=3, window=1), SlidingWindowLog)
    with pytest.raises(ValueError):
        FixedWindow(0, 1.0)
    with pytest.raises(ValueError):
        Scoped(lambda: None, per="region")
    assert math.isclose(make_limiter("token_bucket", rate=1, burst=1).rate, 1.0)
