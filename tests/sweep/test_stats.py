"""Intervals that respect what they measure: proportions inside [0, 1], non-negative metrics non-negative,
and 95% intervals that cover the true value about 95% of the time."""
import math

import numpy as np
import pandas as pd
import pytest

from resilsim.sweep import FEW_REPLICATIONS, aggregate, mean_interval, proportion_interval, t975


def test_proportion_interval_by_hand():
    rates, reqs = np.array([0.9, 0.95, 1.0, 0.85]), np.full(4, 1000)
    mean, lo, hi = proportion_interval(rates, reqs)
    p, n, s2, t = rates.mean(), 4, rates.var(ddof=1), 3.182
    n_eff = p * (1 - p) * n / s2
    z2 = t * t / n_eff
    centre = (p + z2 / 2) / (1 + z2)
    half = t / (1 + z2) * math.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff))
    assert (mean, lo, hi) == pytest.approx((p, centre - half, centre + half))
    assert 0 < lo < mean < hi < 1  # a t-interval here would reach 1.025


@pytest.mark.parametrize("rates", [[1.0, 1.0, 1.0], [0.0, 0.0], [0.999, 1.0], [0.2, 0.9], [1e-4, 0.0, 0.0]])
def test_proportion_interval_stays_in_the_unit_interval(rates):
    mean, lo, hi = proportion_interval(rates, [500] * len(rates))
    assert 0.0 <= lo <= mean <= hi <= 1.0


def test_replications_that_agree_use_the_request_count():
    # Every run at 100 %: no spread to estimate; the interval is the binomial one over all requests.
    _, lo_small, _ = proportion_interval([1.0, 1.0, 1.0], [100] * 3)
    _, lo_big, _ = proportion_interval([1.0, 1.0, 1.0], [100_000] * 3)
    assert lo_small < lo_big < 1.0


def test_non_negative_metrics_stay_non_negative():
    mean, lo, hi = mean_interval([0.0, 0.0, 3.0], low=0.0)
    assert lo == 0.0 and hi > mean > 0
    df = pd.DataFrame({"point": 0, "x.y": 1, "strategy": "s", "error": "", "wasted_s": [0.0, 0.0, 3.0],
                       "p99_s": [0.1, 0.1, 9.0], "success_rate": [0.9, 1.0, 0.2], "requests": 100})
    agg = aggregate(df, metrics=["wasted_s", "p99_s", "success_rate"])
    assert (agg[["wasted_s_ci_low", "p99_s_ci_low", "success_rate_ci_low"]] >= 0).all(axis=None)
    assert agg["success_rate_ci_high"].iloc[0] <= 1


def test_few_replications_are_flagged():
    df = pd.DataFrame({"point": [0] * 5 + [1] * 4, "x.y": [1] * 5 + [2] * 4, "strategy": "s", "error": "",
                       "p99_s": 1.0})
    agg = aggregate(df, metrics=["p99_s"])
    assert agg.set_index("x.y")["few_replications"].to_dict() == {1: False, 2: True}
    assert FEW_REPLICATIONS == 5


# Coverage: synthetic experiments with a known true success rate. Each experiment has n replications of
# N = 2,000 requests; a replication's own success probability varies around p (Beta with concentration c:
# incidents and queues make the requests of one run correlated) or not at all (c = None).
EXPERIMENTS = 2000  # per setting: the coverage's standard error at 95% is sqrt(.95·.05/2000) = 0.49 points


@pytest.mark.parametrize("p,n,c", [(0.5, 5, 2000), (0.9, 5, 200), (0.9, 3, None), (0.98, 5, 2000),
                                   (0.98, 10, None)])
def test_proportion_interval_covers_the_true_value_95_percent_of_the_time(p, n, c):
    rng = np.random.default_rng(20261202)
    N = 2000
    covered = 0
    for _ in range(EXPERIMENTS):
        probs = rng.beta(p * c, (1 - p) * c, size=n) if c else np.full(n, p)
        rates = rng.binomial(N, probs) / N
        _, lo, hi = proportion_interval(rates, np.full(n, N))
        covered += lo <= p <= hi
    coverage = covered / EXPERIMENTS
    # 93-97%: about four standard errors either side of 95%.
    assert 0.93 <= coverage <= 0.97, coverage


def test_t_interval_covers_a_skewed_non_negative_metric():
    # Exponential replication values (a latency-like metric), n = 5: the cut t-interval's coverage.
    rng = np.random.default_rng(7)
    covered = sum(lo <= 1.0 <= hi for _, lo, hi in
                  (mean_interval(rng.lognormal(-0.5 * 0.25 ** 2, 0.25, size=5), low=0.0) for _ in range(EXPERIMENTS)))
    assert 0.93 <= covered / EXPERIMENTS <= 0.97


def test_t975():
    assert t975(4) == 2.776 and t975(1) == 12.706
    assert t975(200) == pytest.approx(1.972, abs=2e-3)
