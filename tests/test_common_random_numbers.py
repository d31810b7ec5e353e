"""Common random numbers: every strategy of a run sees the same traffic and the same incidents.

The bug these tests exist for: a ``SeedSequence`` handed to ``simulate`` was
spawned once per strategy, and ``spawn`` is stateful, so strategy *i* drew
other arrivals than strategy *j* and a strategy's numbers depended on its
position in the file. A run compared with itself cannot show that; these
tests compare strategies with each other, and a strategy with itself in the
company of other strategies.
"""
import numpy as np
import pytest

from resilsim import load_scenario, plan, simulate, sweep

from .conftest import small

# Three strategies that differ in what they send, over an outage, so that a
# shared-traffic bug would show in the counts (arrivals are independent of
# the strategy in an open-loop scenario, so the counts must be equal).
STRATEGIES = {
    "none": {"retry": "none"},
    "docs": {"retry": "analytics-docs"},
    "backoff": {"retry": {"wait": {"exponential": {"base": 0.5, "cap": 4}}, "jitter": "full",
                          "stop": {"attempts": 4}}},
}


def _scenario(strategies=STRATEGIES):
    return load_scenario(small(
        duration=40, strategies=strategies,
        faults={"background": {"ANALYTICS_2000": 0.05},
                "incidents": [{"use": "aurora-scale-up", "start": 10, "duration": 10}]}))


def _arrivals(result) -> dict:
    """Per strategy, the start times of its requests (the arrival stream as the strategy saw it)."""
    req = result.requests
    return {name: g["start"].to_numpy() for name, g in req.groupby("strategy", observed=True)}


@pytest.mark.parametrize("seed", [3, np.random.SeedSequence(3), np.random.SeedSequence(3, spawn_key=(2, 5)), None],
                         ids=["int", "seedsequence", "spawned-child", "none"])
def test_every_strategy_sees_the_same_arrivals(seed):
    arrivals = _arrivals(simulate(_scenario(), seed=seed))
    first = arrivals["none"]
    assert len(first) > 500
    for name in ("docs", "backoff"):
        np.testing.assert_array_equal(arrivals[name], first, err_msg=name)


def test_a_used_seedsequence_gives_the_same_run_as_a_fresh_one():
    used = np.random.SeedSequence(11)
    used.spawn(4)  # a caller that spawned from it before must not shift the run's streams
    a = simulate(_scenario(), seed=used).summary()
    b = simulate(_scenario(), seed=np.random.SeedSequence(11)).summary()
    assert a.equals(b)


def test_seed_none_is_resolved_once_and_reported():
    r = simulate(_scenario(), seed=None)
    assert isinstance(r.seed, int)
    again = simulate(_scenario(), seed=r.seed)
    assert again.summary().equals(r.summary())


@pytest.mark.parametrize("bad", [True, -1, 2.5, "3", np.random.default_rng(1)])
def test_seed_of_another_type_is_refused(bad):
    with pytest.raises(TypeError, match=r"^seed must be a non-negative integer, a numpy SeedSequence or None, got "):
        simulate(_scenario(), seed=bad)


def test_a_strategy_row_does_not_depend_on_its_company():
    # The row of "backoff" alone, first, last and among others: the same numbers every time.
    alone = simulate(_scenario({"backoff": STRATEGIES["backoff"]}), seed=5).summary().loc["backoff"]
    reordered = simulate(_scenario(dict(reversed(STRATEGIES.items()))), seed=5).summary().loc["backoff"]
    together = simulate(_scenario(), seed=5).summary().loc["backoff"]
    assert alone.equals(reordered) and alone.equals(together)


def _sweep(strategies, **kw):
    return sweep(_scenario(strategies), {"service.workers": [6]}, replications=2, seed=9, progress=False,
                 workers=1, **kw)


def test_sweep_strategies_share_traffic_and_do_not_depend_on_order():
    df = _sweep(STRATEGIES)
    assert df["error"].eq("").all()
    per_run = df.groupby("replication")["requests"].nunique()
    assert (per_run == 1).all(), df[["replication", "strategy", "requests"]]
    # Two replications are two different seeds: their traffic differs.
    assert df.groupby("replication")["requests"].first().nunique() == 2

    cols = ["replication", "requests", "success_rate", "amplification", "p99_s"]
    reversed_df = _sweep(dict(reversed(STRATEGIES.items())))
    alone = _sweep({"backoff": STRATEGIES["backoff"]})
    want = df[df["strategy"] == "backoff"][cols].reset_index(drop=True)
    for other in (reversed_df, alone):
        got = other[other["strategy"] == "backoff"][cols].reset_index(drop=True)
        assert got.equals(want)


def test_plan_strategies_share_traffic():
    p = plan(_scenario(), vary="service.workers", over=(4, 6), slo={"success_rate": ">=0.5"},
             replications=2, seed=4, workers=1)
    assert len(p.runs) >= 6
    assert (p.runs.groupby(["service.workers", "replication"])["requests"].nunique() == 1).all()
