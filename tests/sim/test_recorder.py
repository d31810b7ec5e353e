"""The recorder: rows written in place survive the columns' growth, and arrivals fill request rows."""
import numpy as np

from resilsim.records import CODE_OK, OUT_INCOMPLETE, OUT_SUCCESS, SRC_LIMITER
from resilsim.sim.recorder import Recorder


def test_attempt_rows_survive_growth():
    rec = Recorder(expected_requests=4)  # room for 16 attempts: 100 forces several doublings
    for i in range(100):
        rec.attempt(i // 3, i % 3 + 1, i * 0.5, i * 0.5 + 0.25, 7 if i % 2 else CODE_OK, SRC_LIMITER)
    a = rec.attempts.view()
    assert rec.attempts.n == 100 and rec.attempts.capacity >= 100
    assert (a["request"] == np.arange(100) // 3).all()
    assert (a["attempt"] == np.arange(100) % 3 + 1).all()
    assert np.allclose(a["end"] - a["start"], 0.25) and a["start"][99] == 49.5
    assert (a["code"][1::2] == 7).all() and (a["code"][::2] == CODE_OK).all()
    assert (a["source"] == SRC_LIMITER).all()


def test_arrivals_then_request_outcome():
    rec = Recorder(expected_requests=2)
    rec.add_arrivals(0, np.array([0.1, 0.2, 0.3]), np.array([0, 1, 0]))
    rec.add_arrivals(3, np.linspace(1, 2, 40), np.zeros(40, dtype=int))  # past capacity: grows
    rec.request(1, 0.9, 2, CODE_OK, OUT_SUCCESS)
    r = rec.requests.view()
    assert rec.requests.n == 43 and len(r["start"]) == 43
    assert list(r["operation"][:3]) == [0, 1, 0] and r["start"][42] == 2.0
    assert r["outcome"][1] == OUT_SUCCESS and r["attempts"][1] == 2 and r["end"][1] == 0.9
    assert r["outcome"][0] == OUT_INCOMPLETE and np.isnan(r["end"][0])


def test_rows_written_through_memoryviews_are_numpy_item_writes():
    # The recorders write each value through a memoryview of its numpy column (cheaper per value); the general
    # form is numpy's own item write. Same bytes for what the simulator hands them: Python ints and floats,
    # numpy integer scalars (fault codes), an int time (SimPy's clock starts at int 0), negative codes, NaN,
    # and rows written after the columns grew.
    from resilsim.sim.recorder import ATTEMPT_COLUMNS, REQUEST_COLUMNS, SummaryRecorder

    rng = np.random.default_rng(5)
    n = 300
    rows = [(int(i // 2), int(i % 3 + 1), 0 if i == 0 else float(rng.random() * 100), float(rng.random() * 100),
             np.int16(rng.integers(-1, 40)) if i % 4 else int(rng.integers(-1, 40)), int(rng.integers(0, 12)))
            for i in range(n)]
    rec = Recorder(expected_requests=4)  # grows several times
    rec.add_arrivals(0, np.linspace(0, 50, n // 2), np.zeros(n // 2, dtype=int))
    plain_a = {k: np.zeros(n, dtype=t) for k, t in ATTEMPT_COLUMNS.items()}
    plain_r = {k: np.zeros(n // 2, dtype=t) for k, t in REQUEST_COLUMNS.items()}
    for i, row in enumerate(rows):
        rec.attempt(*row)
        for k, v in zip(ATTEMPT_COLUMNS, row):
            plain_a[k][i] = v
    for rid in range(n // 2):
        end = float("nan") if rid == 7 else rows[2 * rid][3]
        rec.request(rid, end, rid % 5, rows[2 * rid][4], rid % 8)
        for k, v in zip(("end", "attempts", "code", "outcome"), (end, rid % 5, rows[2 * rid][4], rid % 8)):
            plain_r[k][rid] = v
    a, r = rec.attempts.view(), rec.requests.view()
    for k in ATTEMPT_COLUMNS:
        assert a[k].dtype == plain_a[k].dtype and a[k].tobytes() == plain_a[k].tobytes(), k
    for k in ("end", "attempts", "code", "outcome"):
        assert r[k].tobytes() == plain_r[k].tobytes(), k

    summary = SummaryRecorder(bin=1.0, duration=100.0, warmup=0.0, chunk=1000)
    for row in rows:
        summary.attempt(*row)
    for k in ATTEMPT_COLUMNS:
        want = plain_a[k].astype(np.int32) if k == "attempt" else plain_a[k]
        assert summary._a[k][:n].tobytes() == want.tobytes(), k


def test_recorders_copy_and_pickle_with_their_columns():
    # The memoryviews that write rows are not state: a deep copy (tests corrupt copies of results) or a pickle
    # carries the columns, and the copy writes into its own columns, not the original's.
    import copy
    import pickle

    from resilsim.sim.recorder import SummaryRecorder

    rec = Recorder(expected_requests=4)
    rec.attempt(0, 1, 0.5, 0.75, CODE_OK, SRC_LIMITER)
    for other in (copy.deepcopy(rec), pickle.loads(pickle.dumps(rec))):
        other.attempt(1, 1, 1.0, 2.0, 3, SRC_LIMITER)
        assert other.attempts.n == 2 and list(other.attempts.view()["end"]) == [0.75, 2.0]
    assert rec.attempts.n == 1 and rec.attempts.cols["end"][1] == 0.0
    summary = SummaryRecorder(bin=1.0, duration=10.0, warmup=0.0)
    summary.attempt(0, 1, 0.5, 0.75, CODE_OK, SRC_LIMITER)
    twin = copy.deepcopy(summary)
    twin.attempt(1, 2, 1.0, 2.0, 3, SRC_LIMITER)
    assert summary._a["start"][1] == 0.0 and twin._a["start"][1] == 1.0
