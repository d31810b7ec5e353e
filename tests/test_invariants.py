"""Invariants: they hold on every shipped scenario, and each check catches a deliberately corrupted table."""
import copy
import dataclasses

import numpy as np
import pytest
import yaml

from resilsim import load_scenario, simulate
from resilsim.cli import main
from resilsim.errors import InvariantError
from resilsim.invariants import check_result

from .conftest import SCENARIOS, shortened, small

@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_invariants_hold_on_every_shipped_scenario(path):
    r = simulate(load_scenario(shortened(path)), seed=11)  # simulate checks the raw run ...
    check_result(r)  # ... and this the assembled tables, timeline and summary
    assert r.truncated == {}


@pytest.fixture(scope="module")
def base():
    d = small(name="inv", duration=30, faults={"background": {"ANALYTICS_1203": 0.3}},
              clients={"arrival": {"poisson": {"rate": 50}}, "timeout": 0.3, "deadline": 2.0},
              strategies={"retry": {"retry": {"wait": {"fixed": 0.05}, "stop": {"attempts": 4}}}})
    r = simulate(d, seed=5)
    req = r.requests
    # The fixture must exercise what the checks look at: retries, failures, successes.
    assert (req["attempts"] > 1).sum() > 50 and (req["outcome"] == "retries_exhausted").sum() > 5
    assert (req["outcome"] == "success").sum() > 1000
    return r


def _retried(r, k=0):
    """The id of the k-th request with at least two attempts."""
    return int(r.requests.loc[r.requests["attempts"] >= 2, "request"].iloc[k])


def _row(df, request, attempt=None):
    m = df["request"] == request
    if attempt is not None:
        m &= df["attempt"] == attempt
    return df.index[m][0]


def corrupt_requests_done(r):
    r.stats["retry"]["requests_done"] += 1


def corrupt_end_missing(r):
    i = r.requests.index[r.requests["outcome"] == "success"][3]
    r.requests.loc[i, "end"] = np.nan


def corrupt_duplicate_retry(r):
    import pandas as pd
    rid = _retried(r)
    row = r.attempts.loc[[_row(r.attempts, rid, 2)]]
    r.attempts = pd.concat([r.attempts, row], ignore_index=True)


def corrupt_attempt_count(r):
    r.requests.loc[_retried(r, 1), "attempts"] += 1


def corrupt_attempt_ends_before_start(r):
    i = r.attempts.index[5]
    r.attempts.loc[i, "end"] = r.attempts.loc[i, "start"] - 0.5


def corrupt_retry_before_previous_end(r):
    rid = _retried(r, 2)
    first, second = _row(r.attempts, rid, 1), _row(r.attempts, rid, 2)
    r.attempts.loc[second, "start"] = (r.attempts.loc[first, "start"] + r.attempts.loc[first, "end"]) / 2


def corrupt_attempt_after_deadline(r):
    # The request "started" earlier than it did: its last attempt now starts past its deadline (2 s).
    rid = _retried(r, 3)
    last = r.attempts.loc[r.attempts["request"] == rid, "start"].max()
    r.requests.loc[rid, "start"] = last - 2.5


def corrupt_success_code(r):
    i = r.requests.index[r.requests["outcome"] == "success"][7]
    r.requests.loc[i, "code"] = "ANALYTICS_1203"


def corrupt_timeline(r):
    r.timeline.loc[r.timeline.index[3], "offered_rps"] += 1


CORRUPTIONS = [
    ("ends_once", corrupt_requests_done), ("ends_once", corrupt_end_missing),
    ("attempts_add_up", corrupt_duplicate_retry), ("attempts_add_up", corrupt_attempt_count),
    ("time_order", corrupt_attempt_ends_before_start), ("time_order", corrupt_retry_before_previous_end),
    ("deadline", corrupt_attempt_after_deadline),
    ("codes_add_up", corrupt_success_code), ("codes_add_up", corrupt_timeline),
]


def test_the_uncorrupted_result_passes(base):
    check_result(base)


@pytest.mark.parametrize("check,corrupt", CORRUPTIONS, ids=[f.__name__ for _, f in CORRUPTIONS])
def test_each_corruption_is_caught(base, check, corrupt):
    r = copy.deepcopy(base)
    corrupt(r)
    with pytest.raises(InvariantError) as e:
        check_result(r)
    msg = str(e.value)
    assert f"{check}: " in msg and "\n" not in msg
    # A bug report: what broke, and the scenario, strategy and seed that reproduce it.
    assert "a bug in resilsim" in msg and "scenario 'inv'" in msg and "strategy 'retry'" in msg and "seed 5" in msg
    assert e.value.strategy == "retry" and e.value.seed == 5


def test_a_broken_simulator_is_a_bug_report_not_a_silent_number(monkeypatch, tmp_path, capsys):
    # A request that ends twice (as a double-counting bug would) is caught at result assembly.
    from resilsim.sim.clients import Clients
    orig = Clients._finish

    def twice(self, req, now, code, outcome):
        orig(self, req, now, code, outcome)
        if req.id == 10:
            self.requests_done += 1

    monkeypatch.setattr(Clients, "_finish", twice)
    with pytest.raises(InvariantError, match=r"ends_once: the clients ended \d+ requests .* seed 3"):
        simulate(small(duration=5), seed=3)
    sc = tmp_path / "s.yaml"
    sc.write_text(yaml.safe_dump(small(duration=5)))
    assert main(["run", str(sc), "--seed", "3", "--no-charts", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resilsim: invariant broken") and err.count("\n") == 1 and "seed 3" in err


@pytest.fixture()
def sliced(monkeypatch):
    """check_run in slices of 200 request ids (big runs are checked in slices to bound memory)."""
    import resilsim.invariants as inv
    monkeypatch.setattr(inv, "CHUNK_REQUESTS", 200)
    return inv


def _run_with(corrupt, monkeypatch):
    # Simulate the `base` scenario, corrupting the run before it is checked: ``corrupt`` edits the recorder's
    # columns in place and may return a changed record.
    import resilsim.sim.run as run_module
    orig = run_module._run_one

    def corrupted(*a, **k):
        run = orig(*a, **k)
        return corrupt(run) or run
    monkeypatch.setattr(run_module, "_run_one", corrupted)
    d = small(name="inv", duration=30, faults={"background": {"ANALYTICS_1203": 0.3}},
              clients={"arrival": {"poisson": {"rate": 50}}, "timeout": 0.3, "deadline": 2.0},
              strategies={"retry": {"retry": {"wait": {"fixed": 0.05}, "stop": {"attempts": 4}}}})
    return simulate(d, seed=5)


def test_sliced_check_passes_a_good_run_and_names_the_global_request(sliced, monkeypatch):
    r = _run_with(lambda run: None, monkeypatch)  # ~1,500 requests: 8 slices
    assert len(r.requests) > 6 * sliced.CHUNK_REQUESTS

    def late_end(run):
        # An attempt of request 1234 (slice 7) ends before it starts; and the clients' counter is off by one.
        a = run.recorder.attempts
        i = int(np.flatnonzero(a.cols["request"][: a.n] == 1234)[0])
        a.cols["end"][i] = a.cols["start"][i] - 1.0
        return dataclasses.replace(run, requests_done=run.requests_done + 1)
    with pytest.raises(InvariantError) as e:
        _run_with(late_end, monkeypatch)
    msg = str(e.value)
    assert "an attempt ends before it starts (1 rows, first request 1234)" in msg
    assert "the clients ended" in msg and e.value.check == "ends_once"


def test_stable_order_is_the_stable_argsort():
    # The packed-key sort the checks use against np.argsort(kind="stable"): the same order and sorted ids, for ids
    # with many repeats in near order (as attempt rows are), random ones, every id equal, none, one, and ids too
    # large to pack or below zero (argsort itself).
    from resilsim.invariants import stable_order

    rng = np.random.default_rng(3)
    near = np.repeat(np.arange(5000), rng.integers(1, 4, 5000))
    near = near[np.argsort(np.arange(len(near)) + rng.normal(0, 5, len(near)))]
    cases = [near, rng.integers(0, 50, 10_000), np.full(300, 7), np.zeros(0, dtype=np.int64), np.array([4]),
             rng.integers(0, 2 ** 50, 1000), np.array([3, -1, 3, 0, -1])]
    for ids in cases:
        ids = ids.astype(np.int64)
        order, sorted_ids = stable_order(ids)
        expected = np.argsort(ids, kind="stable")
        assert np.array_equal(order, expected) and np.array_equal(sorted_ids, ids[expected])
        assert order.dtype == expected.dtype
