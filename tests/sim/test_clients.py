"""The clients' hedged paths against the plain ones."""
import copy

import pandas as pd
import pytest

from resilsim import load_scenario, simulate

from ..test_determinism import CASES, digest

#: Run statistics that do not depend on whether a strategy hedges (guard counts are listed only when it does).
STATS = ["busy_s", "wasted_s", "reject_s", "end_time", "attempts_sent", "requests_done", "stopped_at"]


@pytest.mark.parametrize("name", ["all_features.yaml", "all_features+guards-per-tenant",
                                  "all_features+blocking-limiter-deadlines", "scenarios/metastable-issue-9rps.yaml"])
def test_a_hedge_that_never_fires_is_the_plain_path(name):
    # Hedging swaps in its own send, respond and timer paths; while no copy is sent (the hedge delay is past
    # every deadline) they must record, notify guards and retry exactly as the plain paths do.
    data = CASES[name]()
    hedged = copy.deepcopy(data)
    for spec in hedged["strategies"].values():
        spec["hedge"] = {"delay": 10_000.0}
    plain, never = simulate(load_scenario(data), seed=7), simulate(load_scenario(hedged), seed=7)
    assert never.guard_stats()["hedges"].sum() == 0
    assert digest(never) == digest(plain)
    for table in ("summary", "guard_stats"):
        pd.testing.assert_frame_equal(getattr(never, table)(), getattr(plain, table)())
    pd.testing.assert_frame_equal(never.timeline, plain.timeline)
    assert [[s[k] for k in STATS] for s in never.stats.values()] == [[s[k] for k in STATS] for s in plain.stats.values()]
