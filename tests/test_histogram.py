"""The streaming latency histogram: quantiles within its stated relative error of numpy's exact ones."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilsim.histogram import LogHistogram

from .test_fuzz import FUZZ

# Values inside the histogram's exact range [1 µs, 1e7 s], zeros allowed.
values = st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 1e7)), min_size=1, max_size=300)
quantiles = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=10)


@FUZZ(300)
@given(values, quantiles, st.sampled_from([1e-3, 1e-2, 0.05]))
def test_quantile_within_relative_error_of_numpy(xs, qs, alpha):
    x = np.array(xs)
    h = LogHistogram(alpha)
    h.add(x[: len(x) // 2])  # in two batches: adding is cumulative
    h.add(x[len(x) // 2:])
    exact = np.quantile(x, qs)
    got = h.quantile(qs)
    # The bound is exact in real arithmetic; 1e-12 covers floating-point rounding.
    assert np.all(np.abs(got - exact) <= alpha * exact + 1e-12 * np.maximum(exact, 1.0)), (got, exact)


def test_lognormal_latencies_percentiles_within_bound():
    rng = np.random.default_rng(5)
    x = rng.lognormal(np.log(0.1), 1.2, 200_000)
    h = LogHistogram()
    for chunk in np.array_split(x, 37):
        h.add(chunk)
    p = [50, 95, 99, 99.9]
    rel = np.abs(h.percentile(p) - np.percentile(x, p)) / np.percentile(x, p)
    assert h.count == len(x) and rel.max() <= h.relative_error
    # Not trivially exact either: the bins really are approximations.
    assert rel.max() > 0


def test_extremes_and_empty():
    h = LogHistogram()
    assert np.isnan(h.quantile([0.5])).all()
    h.add([0.0, 0.0, 3.0])
    assert h.quantile([0.0, 1.0]).tolist() == [0.0, 3.0]  # min and max are exact
    with pytest.raises(ValueError, match=">= 0"):
        h.add([-1.0])
    with pytest.raises(ValueError, match=">= 0"):
        h.add([np.nan])


def test_merge_is_the_same_as_adding_everything():
    rng = np.random.default_rng(1)
    a, b = rng.exponential(1, 500), rng.exponential(3, 700)
    h1, h2, both = LogHistogram(), LogHistogram(), LogHistogram()
    h1.add(a)
    h2.add(b)
    both.add(np.concatenate([a, b]))
    h1.merge(h2)
    assert (h1.counts == both.counts).all() and h1.min == both.min and h1.max == both.max
    with pytest.raises(ValueError):
        h1.merge(LogHistogram(0.01))


def test_banded_quantiles_within_relative_error_per_band():
    from resilsim.histogram import BandedLogHistogram, _quantile

    rng = np.random.default_rng(7)
    t = rng.uniform(0, 60, 5000)
    x = rng.lognormal(-2, 1.2, 5000)
    x[:7] = 0.0  # zeros are counted exactly
    for alpha in (1e-3, 1e-2):
        h = BandedLogHistogram(10.0, 7, alpha)  # the last band gets nothing: NaN
        for lo in range(0, 5000, 997):  # in batches: the sparse counts merge
            h.add(t[lo:lo + 997], x[lo:lo + 997])
        q = h.quantiles([0.5, 0.95, 0.99])
        assert np.isnan(q[6]).all()
        for b in range(6):
            exact = np.percentile(x[(t // 10) == b], [50, 95, 99])
            assert np.all(np.abs(q[b] - exact) <= alpha * exact + 1e-12), (alpha, b, q[b], exact)
    # Twin: sparse slots (zeros left out) give LogHistogram's own quantiles.
    whole = LogHistogram()
    whole.add(x)
    nz = np.flatnonzero(whole.counts)
    reps = whole.representatives
    assert np.array_equal(_quantile(reps[nz], whole.counts[nz], [0.1, 0.5, 0.99], whole.min, whole.max),
                          whole.quantile([0.1, 0.5, 0.99]))
