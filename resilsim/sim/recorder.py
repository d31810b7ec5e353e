"""The recorder: one row per attempt and one per request, in preallocated numpy columns.

Rows are written in place (no per-attempt objects kept) and the columns
double when full, so memory is a few tens of bytes per attempt. They become
pandas DataFrames once, at the end (:mod:`resilsim.result`).
"""
from __future__ import annotations

from bisect import bisect_right

import numpy as np

from ..records import (CODE_OK, OUT_FAILED, OUT_INCOMPLETE, OUT_SUCCESS, OUTCOMES, SRC_CAPACITY, SRC_LIMITER, SRC_QUOTA,
                       SRC_SERVICE, SRC_SHED)

ATTEMPT_COLUMNS = {"request": np.int64, "attempt": np.int16, "start": np.float64, "end": np.float64,
                   "code": np.int16, "source": np.int8}
REQUEST_COLUMNS = {"operation": np.int16, "start": np.float64, "end": np.float64, "attempts": np.int16,
                   "code": np.int16, "outcome": np.int8}


#: What a full recorder's attempt columns hold before a row is written there: the commonest row's attempt number,
#: code and source (a first attempt, answered successfully by the service), so the fused loop (sim/fused.py) writes
#: those values only where they differ (up to three numpy item writes fewer per attempt, ~170 CPU instructions and
#: ~17 ns each). Rows are only ever read up to ``n``, so what the unwritten rows hold shows nowhere.
ATTEMPT_PREFILL = {"attempt": 1, "code": CODE_OK, "source": SRC_SERVICE}


class Columns:
    """A set of equally long numpy columns with a fill count; doubles its capacity when full.

    ``prefill``: column → the value its rows hold before they are written (others: zero)."""

    def __init__(self, dtypes: dict, capacity: int, prefill: dict | None = None):
        self.dtypes = dtypes
        self.prefill = prefill or {}
        self.capacity = max(int(capacity), 16)
        self.cols = {k: self._new(k, t, self.capacity) for k, t in dtypes.items()}
        self.n = 0

    def _new(self, name: str, dtype, capacity: int) -> np.ndarray:
        fill = self.prefill.get(name)
        return np.zeros(capacity, dtype=dtype) if not fill else np.full(capacity, fill, dtype=dtype)  # (0: SRC_SERVICE)

    def grow(self, need: int) -> None:
        """Make room for at least ``need`` rows (amortised doubling)."""
        cap = self.capacity
        while cap < need:
            cap *= 2
        if cap != self.capacity:
            for k, col in self.cols.items():
                new = self._new(k, col.dtype, cap)
                new[: self.n] = col[: self.n]
                self.cols[k] = new
            self.capacity = cap

    def view(self) -> dict:
        """The filled part of each column (views, no copies)."""
        return {k: c[: self.n] for k, c in self.cols.items()}

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.cols.values())


class Recorder:
    """Attempt and request rows of one run.

    Request rows are indexed by request id (ids are arrival order), so an
    arrival block writes its start times and operations in one slice.
    """

    summary_only = False  # it keeps rows (SummaryRecorder keeps counts)

    def __init__(self, expected_requests: int):
        self.requests = Columns(REQUEST_COLUMNS, expected_requests)
        self.attempts = Columns(ATTEMPT_COLUMNS, int(expected_requests * 1.25), ATTEMPT_PREFILL)
        self._bind()

    def _bind(self):
        # Rows are written one value at a time through memoryviews of the numpy columns: a memoryview item write is
        # about 40 % cheaper than numpy's (no scalar conversion machinery) and stores the same bytes
        # (tests/sim/test_recorder.py holds the two to the same columns); the columns stay numpy arrays.
        a = {k: memoryview(c) for k, c in self.attempts.cols.items()}
        self._a_req, self._a_att, self._a_start = a["request"], a["attempt"], a["start"]
        self._a_end, self._a_code, self._a_src = a["end"], a["code"], a["source"]
        r = {k: memoryview(c) for k, c in self.requests.cols.items()}
        self._r_end, self._r_att, self._r_code, self._r_out = r["end"], r["attempts"], r["code"], r["outcome"]

    def __getstate__(self) -> dict:
        return _without_views(self)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bind()

    def add_arrivals(self, first_id: int, starts: np.ndarray, operations: np.ndarray) -> None:
        """Write a block of arrivals (request ids ``first_id`` onward)."""
        end = first_id + len(starts)
        cols = self.requests
        if end > cols.capacity:
            cols.grow(end)
            self._bind()
        c = cols.cols
        c["start"][first_id:end] = starts
        c["operation"][first_id:end] = operations
        c["outcome"][first_id:end] = OUT_INCOMPLETE
        c["end"][first_id:end] = np.nan
        c["code"][first_id:end] = CODE_OK
        cols.n = end

    def attempt(self, request: int, attempt: int, start: float, end: float, code: int, source: int) -> None:
        """Record one finished attempt."""
        i = self.attempts.n
        if i == self.attempts.capacity:
            self.attempts.grow(i + 1)
            self._bind()
        self._a_req[i] = request
        self._a_att[i] = attempt
        self._a_start[i] = start
        self._a_end[i] = end
        self._a_code[i] = code
        self._a_src[i] = source
        self.attempts.n = i + 1

    def request(self, request: int, end: float, attempts: int, code: int, outcome: int, start: float = 0.0) -> None:
        """Record how a request ended (``start`` is already in its row, from :meth:`add_arrivals`)."""
        self._r_end[request] = end
        self._r_att[request] = attempts
        self._r_code[request] = code
        self._r_out[request] = outcome


def _without_views(recorder) -> dict:
    # A recorder's state for copy and pickle: its columns, not the memoryviews that write into them (they cannot be
    # copied or pickled; __setstate__ makes new ones on the copy's own columns).
    return {k: v for k, v in recorder.__dict__.items() if not isinstance(v, memoryview)}


_NONE_MEASURED = np.iinfo(np.int64).max  # no measured arrival yet: every id is below it

#: Rows a SummaryRecorder buffers before folding them into its counts (fixed memory, vectorised folds).
SUMMARY_CHUNK = 8192


class SummaryRecorder:
    """Summary-only recording: per-bin counts and a streaming latency histogram, no per-attempt rows.

    The same interface as :class:`Recorder` (``add_arrivals``, ``attempt``,
    ``request``); rows go into small fixed buffers of ``SUMMARY_CHUNK`` rows
    that are folded into counts when full, so memory does not grow with the
    number of requests (only with ``duration / bin``: four bytes per bin and
    counter). What it keeps is exactly what :meth:`resilsim.Result.summary`
    and the timeline need: counts are exact, latency percentiles come from a
    :class:`~resilsim.histogram.LogHistogram` (within its relative error).
    ``bin``, ``duration`` and ``warmup`` are the scenario's, in seconds.
    """

    summary_only = True

    def __init__(self, *, bin: float, duration: float, warmup: float, relative_error: float | None = None,
                 chunk: int | None = None):
        from ..histogram import (BAND_RELATIVE_ERROR, RELATIVE_ERROR, BandedLogHistogram, LogHistogram, band_edges,
                                 band_width)

        self._chunk = SUMMARY_CHUNK if chunk is None else int(chunk)  # rows buffered between folds

        self.width = float(bin)
        self.duration = float(duration)
        self.warmup = float(warmup)
        self.nbins = int(np.ceil(duration / bin))
        # Per time bin (int32: 4 bytes per bin and counter). Requests by arrival bin, attempts by send bin.
        self.bins = {k: np.zeros(self.nbins, dtype=np.int32)
                     for k in ("offered", "succeeded", "sent", "sent_ok", "limited", "quota", "overload")}
        self.latency = LogHistogram(RELATIVE_ERROR if relative_error is None else relative_error)
        # Successful requests' latency per band of arrival time, every request (warm-up too), as the
        # latency-bands chart draws it from rows (plots.latency_bands: same bands, quantiles within 1 %, a
        # tenth of a pixel on its log axis: at 0.1 % the distinct latencies kept per band grew the memory
        # of a 1,200 s run by 2.4 MB, tests/test_summary_mode.py).
        width = band_width(self.duration, self.width)
        self.bands = BandedLogHistogram(width, len(band_edges(self.duration, width)) - 1, BAND_RELATIVE_ERROR)
        self.failed_codes: dict[int, int] = {}  # finished measured requests failed, by raw code (outcome charts)
        # Measured requests are ids >= first_measured (ids are arrival order; arrivals stop at `duration`).
        self.first_measured = _NONE_MEASURED
        self.requests_measured = 0
        self.outcomes = np.zeros(len(OUTCOMES), dtype=np.int64)  # finished measured requests by outcome
        self.attempts_of_finished = 0  # Σ attempts of finished measured requests (mean_attempts)
        self.attempts_measured = 0     # attempts of measured requests (amplification)
        self.attempts_total = 0
        self.requests_total = 0
        # Whole rows (a StreamRecorder writes them out at each fold; the counts read only some columns).
        # Attempt numbers are 32-bit here: without full rows no attempt-row cap holds them to 16 bits.
        self._a = {k: np.zeros(self._chunk, dtype=t) for k, t in {**ATTEMPT_COLUMNS, "attempt": np.int32}.items()}
        self._r = {k: np.zeros(self._chunk, dtype=t) for k, t in
                   (("request", np.int64), *{**REQUEST_COLUMNS, "attempts": np.int32}.items())}
        self._bind()
        self._na = 0
        self._nr = 0
        self._last_block = (0, np.zeros(0))

    def _bind(self) -> None:
        # Written a value at a time through memoryviews (cheaper than numpy item writes: see Recorder._bind); the
        # folds read the numpy buffers in self._a and self._r.
        (self._a_req, self._a_att, self._a_start, self._a_end, self._a_code,
         self._a_src) = map(memoryview, self._a.values())
        (self._r_req, self._r_op, self._r_start, self._r_end, self._r_att, self._r_code,
         self._r_out) = map(memoryview, self._r.values())

    def __getstate__(self) -> dict:
        return _without_views(self)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bind()

    def _bin_add(self, name: str, b: np.ndarray, sign: int = 1) -> None:
        # bincount over the few bins the chunk spans, not over the whole run.
        if len(b):
            lo = int(b.min())
            counts = np.bincount(b - lo)
            self.bins[name][lo: lo + len(counts)] += sign * counts.astype(np.int32)

    def _bins_of(self, t: np.ndarray) -> np.ndarray:
        return np.clip((t // self.width).astype(np.int64), 0, self.nbins - 1)

    def add_arrivals(self, first_id: int, starts: np.ndarray, operations: np.ndarray) -> None:
        """Count a block of arrivals (request ids ``first_id`` onward) in their time bins."""
        self._bin_add("offered", self._bins_of(starts))
        measured = (starts >= self.warmup) & (starts < self.duration)
        if self.first_measured == _NONE_MEASURED and measured.any():
            self.first_measured = first_id + int(np.argmax(measured))
        self.requests_measured += int(measured.sum())
        self.requests_total = first_id + len(starts)
        self._last_block = (first_id, starts)

    def drop_arrivals_from(self, arrived: int) -> None:
        """Uncount arrivals drawn ahead that never happened (ids ≥ ``arrived``; a run stopped at a limit).

        They are all in the last block: a block is drawn only when the previous one is used up.
        """
        first, starts = self._last_block
        gone = starts[max(arrived - first, 0):]
        self._bin_add("offered", self._bins_of(gone), -1)
        self.requests_measured -= int(((gone >= self.warmup) & (gone < self.duration)).sum())
        if self.first_measured >= arrived:
            self.first_measured = _NONE_MEASURED
        self.requests_total = min(self.requests_total, arrived)

    def attempt(self, request: int, attempt: int, start: float, end: float, code: int, source: int) -> None:
        """Buffer one finished attempt."""
        i = self._na
        self._a_req[i] = request
        self._a_att[i] = attempt
        self._a_start[i] = start
        self._a_end[i] = end
        self._a_code[i] = code
        self._a_src[i] = source
        self._na = i + 1
        if i + 1 == self._chunk:
            self._fold_attempts()

    def request(self, request: int, end: float, attempts: int, code: int, outcome: int, start: float) -> None:
        """Buffer how a request ended; ``start`` is its arrival time (seconds)."""
        i = self._nr
        self._r_req[i] = request
        self._r_start[i] = start
        self._r_end[i] = end
        self._r_att[i] = attempts
        self._r_code[i] = code
        self._r_out[i] = outcome
        self._nr = i + 1
        if i + 1 == self._chunk:
            self._fold_requests()

    def _fold_attempts(self) -> None:
        n, self._na = self._na, 0
        a = self._a
        req, code, src = a["request"][:n], a["code"][:n], a["source"][:n]
        b = self._bins_of(a["start"][:n])
        self._bin_add("sent", b)
        self._bin_add("sent_ok", b[code == CODE_OK])
        self._bin_add("limited", b[src == SRC_LIMITER])
        self._bin_add("quota", b[src == SRC_QUOTA])
        self._bin_add("overload", b[(src == SRC_CAPACITY) | (src == SRC_SHED)])
        self.attempts_measured += int((req >= self.first_measured).sum())
        self.attempts_total += n

    def _fold_requests(self) -> None:
        n, self._nr = self._nr, 0
        r = self._r
        start, end, out = r["start"][:n], r["end"][:n], r["outcome"][:n]
        ok = out == OUT_SUCCESS
        start_ok, latency = start[ok], end - start
        self._bin_add("succeeded", self._bins_of(start_ok))
        m = r["request"][:n] >= self.first_measured
        self.outcomes += np.bincount(out[m], minlength=len(OUTCOMES))
        self.attempts_of_finished += int(r["attempts"][:n][m].sum())
        self.latency.add(latency[m & ok])
        self.bands.add(start_ok, latency[ok])
        codes, counts = np.unique(r["code"][:n][m & (out == OUT_FAILED)], return_counts=True)
        for code, count in zip(codes.tolist(), counts.tolist()):
            self.failed_codes[code] = self.failed_codes.get(code, 0) + count

    def flush(self) -> None:
        """Fold the buffered rows into the counts (call once the run is over; harmless to repeat)."""
        self._fold_attempts()
        self._fold_requests()

    @property
    def nbytes(self) -> int:
        """Bytes held in numpy arrays: per-bin counts, buffers and the histogram."""
        return (sum(a.nbytes for a in self.bins.values()) + sum(a.nbytes for a in self._a.values())
                + sum(a.nbytes for a in self._r.values()) + self.latency.counts.nbytes + self.bands.nbytes)


#: Rows a StreamRecorder buffers per Parquet row group: large enough that a row group's overhead is small,
#: small enough that the buffers stay a few MiB.
STREAM_CHUNK = 65536


class StreamRecorder(SummaryRecorder):
    """Summary-only counts, and every row written out as the run goes: memory flat in the number of requests.

    Each fold hands the buffered rows (numpy columns, as :data:`ATTEMPT_COLUMNS` and :data:`REQUEST_COLUMNS`
    plus ``request``) to ``sink.attempts(cols)`` / ``sink.requests(cols)``; :meth:`flush` (once the run is
    over) also hands over the requests that never finished, as the full recorder's table has them
    (outcome incomplete, no end). Attempt rows come in the full recorder's order; request rows in the
    order the requests finished. A request's operation is kept per arrival block until every request of
    the block has finished, so memory grows with the requests in flight, not with those simulated.
    """

    def __init__(self, sink, **summary):
        super().__init__(chunk=STREAM_CHUNK, **summary)
        self.sink = sink
        self._starts: list[int] = []  # first request id of each arrival block still open
        self._blocks: list[list] = []  # per open block: [operations, arrival times, finished mask, unfinished count]
        self._flushed = False

    def add_arrivals(self, first_id: int, starts: np.ndarray, operations: np.ndarray) -> None:
        super().add_arrivals(first_id, starts, operations)
        if len(starts):
            self._starts.append(first_id)
            self._blocks.append([np.asarray(operations, dtype=np.int16), starts.copy(),
                                 np.zeros(len(starts), dtype=bool), len(starts)])

    def drop_arrivals_from(self, arrived: int) -> None:
        super().drop_arrivals_from(arrived)
        while self._starts and self._starts[-1] >= arrived:
            self._starts.pop()
            self._blocks.pop()
        if self._starts:
            block, keep = self._blocks[-1], arrived - self._starts[-1]
            block[3] -= int((~block[2][keep:]).sum())
            block[:3] = [block[0][:keep], block[1][:keep], block[2][:keep]]

    def request(self, request: int, end: float, attempts: int, code: int, outcome: int, start: float) -> None:
        k = bisect_right(self._starts, request) - 1
        block, j = self._blocks[k], request - self._starts[k]
        self._r_op[self._nr] = block[0][j]
        block[2][j] = True
        block[3] -= 1
        if block[3] == 0 and k == 0:  # the oldest block is done: forget it, and the done ones after it
            while self._blocks and self._blocks[0][3] == 0:
                self._starts.pop(0)
                self._blocks.pop(0)
        super().request(request, end, attempts, code, outcome, start)

    def _fold_attempts(self) -> None:
        if self._na:
            self.sink.attempts({k: c[: self._na] for k, c in self._a.items()})
        super()._fold_attempts()

    def _fold_requests(self) -> None:
        if self._nr:
            self.sink.requests({k: c[: self._nr] for k, c in self._r.items()})
        super()._fold_requests()

    def flush(self) -> None:
        """Fold and write the buffered rows, then (once) the rows of requests that never finished."""
        super().flush()
        if self._flushed:
            return
        self._flushed = True
        for first, (ops, starts, done, left) in zip(self._starts, self._blocks):
            if left:
                ids = first + np.flatnonzero(~done)
                n = len(ids)
                self.sink.requests({"request": ids.astype(np.int64), "operation": ops[~done],
                                    "start": starts[~done], "end": np.full(n, np.nan),
                                    "attempts": np.zeros(n, dtype=np.int16),
                                    "code": np.full(n, CODE_OK, dtype=np.int16),
                                    "outcome": np.full(n, OUT_INCOMPLETE, dtype=np.int8)})


def new_recorder(record: str, scenario, expected_requests: int, sink=None):
    """The recorder for ``record``: ``"full"`` (a row per attempt and request), ``"summary"`` (counts only) or
    ``"stream"`` (counts, and the rows handed to ``sink`` as the run goes: :class:`StreamRecorder`)."""
    if record == "full":
        return Recorder(expected_requests)
    summary = {"bin": scenario.bin, "duration": scenario.duration, "warmup": scenario.warmup}
    if record == "summary":
        return SummaryRecorder(**summary)
    if record == "stream":
        return StreamRecorder(sink, **summary)
    raise ValueError(f"record must be 'full', 'summary' or 'stream', not {record!r}")
