"""A streaming latency histogram with a fixed relative error (log-spaced bins, like HdrHistogram).

Summary-only runs (``simulate(..., record="summary")``) keep one per
strategy instead of a row per request: memory is fixed (about 120 KiB),
whatever the number of requests, and every quantile comes out within
``relative_error`` of the exact one (numpy's default, linear interpolation).

Why it is bounded: bin ``k`` holds the values in ``(γ^(k-1), γ^k]`` with
``γ = (1 + α) / (1 − α)`` and stands for them by ``2γ^k / (γ + 1)``, which
is within ``α`` of every value in the bin. A quantile interpolates linearly
between the two order statistics around its rank, as numpy does, using their
bins' representatives; a weighted mean of values each within ``α`` is within
``α`` of the same mean of the exact values.
"""
from __future__ import annotations

import math

import numpy as np

#: Default relative error: 0.1 % (three significant digits, HdrHistogram's usual setting).
RELATIVE_ERROR = 1e-3


class LogHistogram:
    """Counts of non-negative values (seconds) in log-spaced bins; quantiles within ``relative_error``.

    The bound holds for values in ``[lowest, highest]`` seconds (default
    1 µs to about 116 days); smaller positive values share the first bin,
    larger ones the last, and zeros are counted exactly. Quantiles are
    clamped to the exact minimum and maximum seen. Negative or NaN values
    are refused.
    """

    def __init__(self, relative_error: float = RELATIVE_ERROR, lowest: float = 1e-6, highest: float = 1e7):
        if not 0.0 < relative_error < 1.0:
            raise ValueError(f"relative_error must be in (0, 1), not {relative_error}")
        if not 0.0 < lowest < highest:
            raise ValueError(f"need 0 < lowest < highest, not {lowest}, {highest}")
        self.relative_error = float(relative_error)
        gamma = (1.0 + relative_error) / (1.0 - relative_error)
        self._inv_log_gamma = 1.0 / math.log(gamma)
        self._k0 = math.ceil(math.log(lowest) * self._inv_log_gamma)  # bin index of `lowest`
        n = math.ceil(math.log(highest) * self._inv_log_gamma) - self._k0 + 1
        # Slot 0 counts zeros (represented by 0.0); slot 1 + j is bin k0 + j.
        self.counts = np.zeros(n + 1, dtype=np.int64)
        self._reps = np.empty(n + 1)
        self._reps[0] = 0.0
        self._reps[1:] = 2.0 * gamma ** (self._k0 + np.arange(n)) / (gamma + 1.0)
        self.min = math.inf
        self.max = -math.inf

    @property
    def count(self) -> int:
        """How many values were added."""
        return int(self.counts.sum())

    def add(self, values) -> None:
        """Add a batch of values (seconds, ≥ 0)."""
        x = np.asarray(values, dtype=float).ravel()
        if not len(x):
            return
        lo, hi = float(x.min()), float(x.max())
        if not lo >= 0.0 or math.isnan(hi):
            raise ValueError("LogHistogram takes values >= 0 (seconds), not negative numbers or NaN")
        self.min, self.max = min(self.min, lo), max(self.max, hi)
        pos = x > 0.0
        slots = np.zeros(len(x), dtype=np.int64)
        k = np.ceil(np.log(x[pos]) * self._inv_log_gamma).astype(np.int64) - self._k0  # only x > 0: no log(0)
        slots[pos] = 1 + np.clip(k, 0, len(self.counts) - 2)
        self.counts += np.bincount(slots, minlength=len(self.counts))

    def merge(self, other: "LogHistogram") -> None:
        """Add ``other``'s counts (same relative error and range) into this one."""
        if len(other.counts) != len(self.counts) or other.relative_error != self.relative_error:
            raise ValueError("can only merge histograms with the same relative error and range")
        self.counts += other.counts
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)

    def quantile(self, q) -> np.ndarray:
        """Quantiles ``q`` (in [0, 1]) of the values, as numpy's ``quantile`` (linear) would give, within the error.

        NaN for each ``q`` when the histogram is empty.
        """
        q = np.atleast_1d(np.asarray(q, dtype=float))
        n = self.count
        if n == 0:
            return np.full(len(q), np.nan)
        cum = np.cumsum(self.counts)
        h = q * (n - 1)
        lo = np.floor(h)
        frac = h - lo
        hi = np.minimum(lo + 1, n - 1)
        # The value of rank r (0-based) lies in the first slot whose cumulative count exceeds r.
        v_lo = self._reps[np.searchsorted(cum, lo, side="right")]
        v_hi = self._reps[np.searchsorted(cum, hi, side="right")]
        return np.clip(v_lo + frac * (v_hi - v_lo), self.min, self.max)

    def percentile(self, p) -> np.ndarray:
        """Percentiles ``p`` (in [0, 100]); see :meth:`quantile`."""
        return self.quantile(np.asarray(p, dtype=float) / 100.0)

    def __repr__(self) -> str:
        return f"<LogHistogram n={self.count} relative_error={self.relative_error:g}>"
