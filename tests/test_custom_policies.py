"""Policies of one's own as plain Python objects: through simulate() and sweeps, checked against the protocols."""
import pandas as pd
import pytest

from resilsim import Strategy, load_scenario, simulate, sweep
from resilsim.errors import PolicyError
from resilsim.policies import RetryPolicy, attempts, fixed
from resilsim.policies.protocols import GuardLike, StopLike, WaitLike

from .conftest import small
from .test_determinism import digest


class MyBucket:
    """Brooker's retry token bucket written from the post, without subclassing resilsim's Guard."""

    def __init__(self, capacity=5.0, deposit=0.1, cost=1.0):
        self.capacity, self.deposit_per_call, self.cost, self.tokens = capacity, deposit, cost, capacity

    def allow_request(self, now, rng=None):
        self.tokens = min(self.tokens + self.deposit_per_call, self.capacity)
        return True

    def allow_retry(self, now, rng=None, timeout=False):
        if self.tokens > self.cost:
            self.tokens -= self.cost
            return True
        return False

    def on_result(self, now, success, is_retry, timeout=False):
        pass

    def describe(self):
        return {"guard": "my_bucket", "capacity": self.capacity}


class MyWait:
    """Half a second, then a second, then two: as ``exponential(0.5)`` capped at 2 s."""

    def __call__(self, attempt, previous, rng):
        return min(0.5 * 2 ** (attempt - 1), 2.0)

    def describe(self):
        return {"wait": "mine"}


class MyStop:
    bounded = True

    def __call__(self, attempt, elapsed, next_wait):
        return attempt >= 4

    def describe(self):
        return {"stop": "mine"}


class MyRetryOn:
    def __call__(self, code):
        return code.advice != "never"

    def describe(self):
        return "mine"


def scenario():
    d = small(duration=30, drain=20, faults={"background": {"ANALYTICS_1900": 0.3}},
              clients={"arrival": {"poisson": {"rate": 40}}, "deadline": 30},
              strategies={"builtin": {"retry": {"wait": {"exponential": {"base": 0.5, "cap": 2}},
                                                "stop": {"attempts": 4}},
                                      "guards": {"retry_token_bucket": {}}}})
    return load_scenario(d)


def mine():
    return Strategy("mine", RetryPolicy(wait=MyWait(), stop=MyStop(), retry_on=MyRetryOn()), guards=[MyBucket()])


def test_the_pieces_follow_their_protocols():
    assert isinstance(MyWait(), WaitLike) and isinstance(MyStop(), StopLike) and isinstance(MyBucket(), GuardLike)


def test_a_custom_guard_and_policy_equal_to_built_ins_give_identical_results():
    s = scenario()
    builtin = simulate(s, seed=4)
    custom = simulate(s, seed=4, strategies={"builtin": mine()})
    assert digest(custom) == digest(builtin)
    cols = [c for c in builtin.summary().columns]
    pd.testing.assert_frame_equal(custom.summary()[cols], builtin.summary()[cols])
    assert builtin.summary().loc["builtin", "shed"] > 0  # the bucket did refuse retries: the guard was exercised
    assert custom.strategies["builtin"]["my_bucket_capacity"] == 5.0


def test_strategies_dict_takes_specs_and_objects_side_by_side_on_the_same_numbers():
    s = scenario()
    r = simulate(s, seed=4, strategies={"spec": {"retry": "none"}, "mine": mine()})
    assert list(r.summary().index) == ["spec", "mine"]
    alone = simulate(s, seed=4, strategies={"mine": mine()})
    assert r.summary().loc["mine", "amplification"] == alone.summary().loc["mine", "amplification"]


def test_a_piece_that_breaks_its_protocol_is_named():
    class NoDescribe:
        def __call__(self, attempt, previous, rng):
            return 0.0

    with pytest.raises(PolicyError, match=r"^strategy 'x': its wait <.*NoDescribe object at .*> does not follow "
                                          r"resilsim.policies.protocols.WaitLike: it lacks describe$"):
        simulate(scenario(), strategies={"x": Strategy("x", RetryPolicy(wait=NoDescribe()))})
    with pytest.raises(PolicyError, match=r"its guard #1 .* does not follow .*GuardLike: it lacks allow_request, allow_retry, "
                                          r"on_result, describe$"):
        simulate(scenario(), strategies={"x": Strategy("x", RetryPolicy(), guards=[object()])})


def test_sweeps_send_custom_strategies_to_workers_and_name_what_cannot_go():
    s = scenario()
    grid = {"clients.arrival.poisson.rate": [20, 40]}
    local = sweep(s, grid, executor=None, workers=2, progress=False, strategies={"mine": mine(), "b": fixed_spec()})
    inproc = sweep(s, grid, executor="inprocess", progress=False, strategies={"mine": mine(), "b": fixed_spec()})
    assert (local["error"] == "").all() and len(local) == 4
    cols = ["strategy", "requests", "amplification", "success_rate"]
    pd.testing.assert_frame_equal(local[cols], inproc[cols])

    class Local(MyBucket):  # a class inside a function cannot be pickled by reference
        pass

    bad = Strategy("bad", RetryPolicy(stop=attempts(3)), guards=[Local()])
    with pytest.raises(PolicyError, match=r"^strategy 'bad': its guard #1 <.*Local object at .*> cannot be pickled "
                                          r"to send it to sweep workers \("):
        sweep(s, grid, executor=None, workers=2, progress=False, strategies={"bad": bad})
    # In process nothing is pickled: the same strategy runs.
    assert (sweep(s, grid, executor="inprocess", progress=False, strategies={"bad": bad})["error"] == "").all()


def fixed_spec():
    return Strategy("b", RetryPolicy(wait=fixed(0.2), stop=attempts(2)))
