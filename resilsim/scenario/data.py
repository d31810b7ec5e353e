"""Data files a scenario names: a rate curve, a trace of arrival timestamps, latency samples.

Each is a CSV file (its text read by the caller's bounded reader, the scenario's
:func:`~resilsim.scenario.load.read_text`, passed in as ``read_text``; an optional header row;
numbers only, never evaluated) or a Parquet file (its first numeric columns). A file that cannot
be used raises :class:`DataError`: one sentence naming the file and what was expected, which
:func:`~resilsim.scenario.load.load_scenario` turns into a scenario error at the field that names
the file. Files are read once per process (cached on path, size and modification time).
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from ..errors import ResilsimError, ScenarioError

CURVE = "two columns, time (seconds, increasing) and rate (requests per second, ≥ 0)"
TRACE = "one column of arrival timestamps in seconds, sorted"
SAMPLES = "one column of latencies in seconds, ≥ 0"


class DataError(ResilsimError, ValueError):
    """A data file that cannot be used: ``"{path}: {detail}"``, the detail saying what was expected."""

    def __init__(self, path, detail: str):
        self.path, self.detail = str(path), detail
        super().__init__(f"{path}: {detail}")


#: Largest Parquet file read (bytes): a day of per-second rates or a million samples.
MAX_PARQUET_BYTES = 64_000_000


def _parquet(path: Path, columns: int, what: str) -> np.ndarray:
    import pandas as pd
    if path.stat().st_size > MAX_PARQUET_BYTES:
        raise DataError(path, f"file is {path.stat().st_size} bytes, more than {MAX_PARQUET_BYTES}; expected {what}")
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - pyarrow's errors vary; the file is what is wrong
        raise DataError(path, f"not a readable Parquet file ({type(e).__name__}); expected {what}") from None
    num = [c for c in df.columns if np.issubdtype(df[c].dtype, np.number)]
    if len(num) < columns:
        raise DataError(path, f"{len(num)} numeric columns; expected {what}")
    return df[num[:columns]].to_numpy(dtype=float)


def _csv(path: Path, columns: int, what: str, read_text) -> np.ndarray:
    try:
        text = read_text(path)
    except ScenarioError as e:
        raise DataError(path, f"{e.reason}; expected {what}") from None
    rows = []
    header = True  # the first row may name the columns
    for i, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < columns:
            raise DataError(path, f"line {i} has {len(fields)} columns; expected {what}")
        try:
            rows.append([float(f) for f in fields[:columns]])
            header = False
        except ValueError:
            if header:
                header = False
                continue
            bad = next(f for f in fields[:columns] if not _is_number(f))
            raise DataError(path, f"line {i}: {bad!r} is not a number; expected {what}") from None
    arr = np.array(rows, dtype=float).reshape(-1, columns)
    if not np.isfinite(arr).all():
        raise DataError(path, f"holds a non-finite number; expected {what}")
    return arr


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


@functools.lru_cache(maxsize=32)
def _table(path: str, size: int, mtime: int, columns: int, what: str, read_text) -> np.ndarray:
    p = Path(path)
    arr = _parquet(p, columns, what) if p.suffix.lower() in (".parquet", ".pq") else _csv(p, columns, what, read_text)
    if len(arr) == 0:
        raise DataError(p, f"no rows; expected {what}")
    arr.flags.writeable = False
    return arr


def read_table(path, columns: int, what: str, read_text) -> np.ndarray:
    """The first ``columns`` numeric columns of a CSV or Parquet file (rows × columns floats, read-only);
    ``read_text(Path) -> str`` reads a CSV file's text (raising ScenarioError on a file it refuses)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise DataError(p, f"no such file; expected {what}") from None
    if p.is_dir():
        raise DataError(p, f"is a directory; expected a file with {what}")
    return _table(str(p), st.st_size, st.st_mtime_ns, columns, what, read_text)


def read_curve(path, read_text) -> tuple[np.ndarray, np.ndarray]:
    """``(times, rates)`` of a rate curve: seconds (from the first row's time) and requests per second."""
    arr = read_table(path, 2, CURVE, read_text)
    t, r = arr[:, 0] - arr[0, 0], arr[:, 1]
    if (np.diff(t) <= 0).any():
        i = int(np.argmax(np.diff(t) <= 0)) + 1
        raise DataError(path, f"times do not increase at row {i + 1}; expected {CURVE}")
    if (r < 0).any():
        raise DataError(path, f"a negative rate ({r[r < 0][0]:g}); expected {CURVE}")
    return t, r


def read_trace(path, read_text) -> np.ndarray:
    """Arrival times of a trace, seconds from its first timestamp."""
    t = read_table(path, 1, TRACE, read_text)[:, 0]
    if (np.diff(t) < 0).any():
        i = int(np.argmax(np.diff(t) < 0)) + 1
        raise DataError(path, f"timestamps are not sorted (row {i + 1} is earlier than the one before); "
                        f"expected {TRACE}")
    return t - t[0]


def read_samples(path, read_text) -> np.ndarray:
    """Latency samples, seconds."""
    s = read_table(path, 1, SAMPLES, read_text)[:, 0]
    if (s < 0).any():
        raise DataError(path, f"a negative latency ({s[s < 0][0]:g}); expected {SAMPLES}")
    return s


def curve_integral(times: np.ndarray, rates: np.ndarray, until: float, scale: float = 1.0,
                   time_scale: float = 1.0) -> float:
    """Expected arrivals of a piecewise-constant curve over [0, ``until``] seconds (the last rate holds on)."""
    t = times * time_scale
    ends = np.append(t[1:], math.inf)
    spans = np.clip(np.minimum(ends, until) - t, 0.0, None)
    return float(scale * np.dot(rates, spans))
