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
#: Relative error of the per-band histograms of summary-only runs (the latency-bands chart): 1 %, under a
#: pixel on the chart's log axis, and a tenth of the distinct slots to keep per band.
BAND_RELATIVE_ERROR = 1e-2


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
        self.counts += np.bincount(self.slots(x), minlength=len(self.counts))

    def slots(self, x: np.ndarray) -> np.ndarray:
        """The slot of each value of ``x`` (seconds, >= 0, checked by the caller) in :attr:`counts` (0: zero)."""
        pos = x > 0.0
        slots = np.zeros(len(x), dtype=np.int64)
        k = np.ceil(np.log(x[pos]) * self._inv_log_gamma).astype(np.int64) - self._k0  # only x > 0: no log(0)
        slots[pos] = 1 + np.clip(k, 0, len(self.counts) - 2)
        return slots

    @property
    def representatives(self) -> np.ndarray:
        """The value (s) each slot of :attr:`counts` stands for (slot 0: zero): within the relative error of every
        value counted in it. The same values for every histogram of this error and range: do not write to them."""
        return self._reps

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
        return _quantile(self._reps, self.counts, q, self.min, self.max)

    def percentile(self, p) -> np.ndarray:
        """Percentiles ``p`` (in [0, 100]); see :meth:`quantile`."""
        return self.quantile(np.asarray(p, dtype=float) / 100.0)

    def __repr__(self) -> str:
        return f"<LogHistogram n={self.count} relative_error={self.relative_error:g}>"


def _quantile(reps: np.ndarray, counts: np.ndarray, q, lo_value: float, hi_value: float) -> np.ndarray:
    """Quantiles ``q`` of values counted as ``counts`` (slot order) standing for ``reps`` (s), clamped to the
    exact minimum and maximum; zero counts may be left out (sparse slots give the same answer). NaN when empty."""
    q = np.atleast_1d(np.asarray(q, dtype=float))
    cum = np.cumsum(counts)
    n = int(cum[-1]) if len(cum) else 0
    if n == 0:
        return np.full(len(q), np.nan)
    h = q * (n - 1)
    lo = np.floor(h)
    frac = h - lo
    hi = np.minimum(lo + 1, n - 1)
    # The value of rank r (0-based) lies in the first slot whose cumulative count exceeds r.
    v_lo = reps[np.searchsorted(cum, lo, side="right")]
    v_hi = reps[np.searchsorted(cum, hi, side="right")]
    return np.clip(v_lo + frac * (v_hi - v_lo), lo_value, hi_value)


def band_width(duration: float, bin_s: float, window: float | None = None) -> float:
    """Seconds per time band of the latency-bands chart: ``window`` (default about a hundredth of the run,
    a multiple of 5 s, at least 10 s), never under the timeline's bin ``bin_s`` (s)."""
    if window is None:
        window = max(10.0, float(np.ceil(duration / 100 / 5) * 5))
    return max(window, bin_s)


def band_edges(duration: float, width: float) -> np.ndarray:
    """The edges (s) of the latency-bands chart's time bands of ``width`` seconds over a run of ``duration``
    seconds: 0, width, 2·width, ... up to the first edge at or past ``duration`` (numpy's ``arange`` of them; the bands
    are the spans between neighbours)."""
    return np.arange(0.0, duration + width, width)


class BandedLogHistogram:
    """A :class:`LogHistogram` per time band (requests by arrival time): quantiles per band.

    Summary-only runs keep one per strategy so that the latency-bands chart
    (p50/p95/p99 of successful requests per ``width``-second band of arrival
    time) can be drawn without rows, each quantile within ``relative_error``
    of the exact one. The counts are one int32 row of slots per band (at the
    default 1 %: 1,497 slots, 6 KiB a band; the chart has about a hundred
    bands whatever the duration, so at most about 0.6 MiB), fixed when the
    run starts. Why not sparse (band, slot) pairs: merging them at every fold
    cost time that grew with the pairs kept. Bands run from 0; arrival times
    past the last band count in the last.
    """

    def __init__(self, width: float, nbands: int, relative_error: float = BAND_RELATIVE_ERROR):
        self.width = float(width)
        self.nbands = max(int(nbands), 1)
        self._slots = LogHistogram(relative_error)  # the slot arithmetic and representatives
        # int32: a band's slot would need 2^31 requests to overflow.
        self.counts = np.zeros((self.nbands, len(self._slots.counts)), dtype=np.int32)
        self.min = np.full(self.nbands, math.inf)   # exact extremes per band (seconds)
        self.max = np.full(self.nbands, -math.inf)

    def add(self, times, values) -> None:
        """Add values (seconds, >= 0) of requests that arrived at ``times`` (seconds)."""
        t = np.asarray(times, dtype=float).ravel()
        x = np.asarray(values, dtype=float).ravel()
        if not len(x):
            return
        if not float(x.min()) >= 0.0 or math.isnan(float(x.max())):
            raise ValueError("BandedLogHistogram takes values >= 0 (seconds), not negative numbers or NaN")
        band = np.clip((t // self.width).astype(np.int64), 0, self.nbands - 1)
        np.minimum.at(self.min, band, x)
        np.maximum.at(self.max, band, x)
        size = self.counts.shape[1]
        lo, hi = int(band.min()), int(band.max()) + 1  # a batch is a few seconds of arrivals: a band or two
        c = np.bincount((band - lo) * size + self._slots.slots(x), minlength=(hi - lo) * size)
        self.counts[lo:hi] += c.reshape(hi - lo, size).astype(np.int32)

    def quantiles(self, q) -> np.ndarray:
        """Quantiles ``q`` (in [0, 1]) per band: shape (bands, len(q)), seconds; NaN rows for empty bands."""
        q = np.atleast_1d(np.asarray(q, dtype=float))
        out = np.full((self.nbands, len(q)), np.nan)
        for b in np.flatnonzero(self.counts.any(axis=1)):
            out[b] = _quantile(self._slots.representatives, self.counts[b], q, self.min[b], self.max[b])
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held: the counts and the per-band extremes (the slot table is shared arithmetic)."""
        return self.counts.nbytes + self.min.nbytes + self.max.nbytes
