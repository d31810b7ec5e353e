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
