"""The recorder: one row per attempt and one per request, in preallocated numpy columns.

Rows are written in place (no per-attempt objects kept) and the columns
double when full, so memory is a few tens of bytes per attempt. They become
pandas DataFrames once, at the end (:mod:`resilsim.result`).
"""
from __future__ import annotations

import numpy as np

# Where an attempt's answer came from: which protection or fault answered it.
SOURCES = ("service", "limiter", "capacity", "queue_timeout", "background", "incident", "client_timeout")
SRC_SERVICE, SRC_LIMITER, SRC_CAPACITY, SRC_QUEUE_TIMEOUT, SRC_BACKGROUND, SRC_INCIDENT, SRC_CLIENT_TIMEOUT = range(7)
# API-side protections (resilsim.server): quota/credits/tier lock, an invalid request, an expired token,
# the processing timeout and load shedding. Appended so the codes above keep their values.
SOURCES = SOURCES + ("quota", "request", "auth", "processing_timeout", "shed")
SRC_QUOTA, SRC_REQUEST, SRC_AUTH, SRC_PROCESSING_TIMEOUT, SRC_SHED = range(7, 12)

# How a request ended.
OUTCOMES = ("success", "failed", "gave_up", "deadline", "shed", "incomplete")
OUT_SUCCESS, OUT_FAILED, OUT_GAVE_UP, OUT_DEADLINE, OUT_SHED, OUT_INCOMPLETE = range(6)

# Code column values below zero: not an error code.
CODE_OK = -1
CODE_TIMEOUT = -2

ATTEMPT_COLUMNS = {"request": np.int64, "attempt": np.int16, "start": np.float64, "end": np.float64,
                   "code": np.int16, "source": np.int8}
REQUEST_COLUMNS = {"operation": np.int16, "start": np.float64, "end": np.float64, "attempts": np.int16,
                   "code": np.int16, "outcome": np.int8}


class Columns:
    """A set of equally long numpy columns with a fill count; doubles its capacity when full."""

    def __init__(self, dtypes: dict, capacity: int):
        self.dtypes = dtypes
        self.capacity = max(int(capacity), 16)
        self.cols = {k: np.zeros(self.capacity, dtype=t) for k, t in dtypes.items()}
        self.n = 0

    def grow(self, need: int) -> None:
        """Make room for at least ``need`` rows (amortised doubling)."""
        cap = self.capacity
        while cap < need:
            cap *= 2
        if cap != self.capacity:
            for k, col in self.cols.items():
                new = np.zeros(cap, dtype=col.dtype)
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

    def __init__(self, expected_requests: int):
        self.requests = Columns(REQUEST_COLUMNS, expected_requests)
        self.attempts = Columns(ATTEMPT_COLUMNS, int(expected_requests * 1.25))
        self._bind()

    def _bind(self):
        a = self.attempts.cols
        self._a_req, self._a_att, self._a_start = a["request"], a["attempt"], a["start"]
        self._a_end, self._a_code, self._a_src = a["end"], a["code"], a["source"]
        r = self.requests.cols
        self._r_end, self._r_att, self._r_code, self._r_out = r["end"], r["attempts"], r["code"], r["outcome"]

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

    def request(self, request: int, end: float, attempts: int, code: int, outcome: int) -> None:
        """Record how a request ended."""
        self._r_end[request] = end
        self._r_att[request] = attempts
        self._r_code[request] = code
        self._r_out[request] = outcome
