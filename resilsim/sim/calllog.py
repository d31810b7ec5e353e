"""What each call between services did, one row per call, for the per-service metrics over a window.

Kept by every :class:`resilsim.sim.calls.Edge` (only in a run with ``services:``; nothing otherwise): one
row per call when it ends, is not sent or is skipped. ``origin`` is the arrival time of the client request
the call serves (through any number of layers), so that :meth:`resilsim.Result.services` selects the calls
of the requests :meth:`resilsim.Result.summary` measures. A call counts its attempts the caller stopped waiting
for as they end (:class:`resilsim.sim.calls.Call`'s ``timeouts``); a call still in flight when the run ends has
no row. Waits in a service's queue are logged by the service itself (``resilsim.sim.calls._QueueLog``).
"""
from __future__ import annotations

from array import array

import numpy as np

from ..records import CALL_FAILED as FAILED, CALL_NOT_SENT as NOT_SENT, CALL_OK as OK, CALL_SKIPPED as SKIPPED

#: The columns of :meth:`CallLog.arrays`, in the order of a row.
COLUMNS = ("origin", "start", "end", "status", "attempts", "timeouts")


class CallLog:
    """The rows of one edge's calls, as one flat ``array('d')`` of :data:`COLUMNS` (no Python object per row:
    a list of tuples would grow the garbage collector's work with every call), read by :meth:`arrays`."""

    __slots__ = ("rows",)

    def __init__(self):
        self.rows = array("d")

    def ended(self, req, now: float, ok: bool) -> None:
        """The call ``req`` (a :class:`~resilsim.sim.calls.Call`) ended at ``now`` seconds."""
        self.rows.extend((req.origin, req.t0, now, OK if ok else FAILED, req.n, req.timeouts))

    def not_made(self, origin: float, now: float, status: int) -> None:
        """A call of the request that arrived at ``origin`` was not sent or was skipped (``status``) at ``now``."""
        self.rows.extend((origin, now, now, status, 0, 0))

    def arrays(self) -> dict:
        """The rows as numpy columns (:data:`COLUMNS`): times in seconds, the rest int64."""
        cols = columns(self.rows, COLUMNS)
        return {c: v if c in ("origin", "start", "end") else v.astype(np.int64) for c, v in cols.items()}


def columns(log, names) -> dict:
    """A flat ``array('d')`` of rows of ``len(names)`` values as numpy float columns named ``names`` (copies: the
    log may go on growing)."""
    table = np.frombuffer(log, dtype=float).reshape(-1, len(names)) if log else np.zeros((0, len(names)))
    return {c: table[:, i].copy() for i, c in enumerate(names)}
