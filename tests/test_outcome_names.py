"""Outcome names an SRE reads correctly: ``failed`` never retried, ``retries_exhausted`` retried then stopped.

Earlier versions called both of the stop's cases ``gave_up``; folders written with that name are refused with
one sentence naming the new one, never read as if nothing had changed.
"""
import json

import pytest

from resilsim import load_scenario, simulate
from resilsim.errors import ResilsimError, StoreError
from resilsim.records import OUTCOMES

from .conftest import SCENARIOS, shortened

OUTAGE = next(p for p in SCENARIOS if p.name == "strategies-through-an-outage.yaml")


def test_the_vocabulary_has_the_new_names_and_not_the_old_one():
    assert "retries_exhausted" in OUTCOMES and "failed" in OUTCOMES and "gave_up" not in OUTCOMES


def test_none_fails_and_retrying_strategies_exhaust_their_retries():
    r = simulate(load_scenario(shortened(OUTAGE)), seed=1)
    req = r.requests
    out, attempts, strategy = req["outcome"].astype(str), req["attempts"], req["strategy"].astype(str)
    # A request that made one attempt was never retried: it cannot have exhausted any retries.
    assert not ((out == "retries_exhausted") & (attempts <= 1)).any()
    s = r.summary()
    assert s.loc["none", "retries_exhausted"] == 0 and s.loc["none", "failed"] > 100  # the outage: 100% errors
    # exp-full-jitter retries ANALYTICS_1900 (advice "retry") 4 attempts: the outage's requests run out of them.
    assert s.loc["exp-full-jitter", "retries_exhausted"] > 100
    assert (attempts[(strategy == "exp-full-jitter") & (out == "retries_exhausted")] == 4).all()


def test_a_run_folder_with_the_old_name_is_refused_with_the_new_one(tmp_path):
    from resilsim.report import refuse_old_outcomes

    with pytest.raises(ResilsimError, match="'gave_up' is now retries_exhausted"):
        refuse_old_outcomes(tmp_path, ["requests", "success", "gave_up", "deadline"])
    refuse_old_outcomes(tmp_path, ["requests", "success", "retries_exhausted"])  # today's: no error


def test_a_sweep_folder_of_the_old_format_is_not_resumed(tmp_path):
    from resilsim.sweep.store import FORMAT, Store

    definition = {"scenario": {"name": "x"}, "grid": {}, "replications": 1, "seed": 0}
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, **definition}))
    st = Store(tmp_path)
    with pytest.raises(StoreError, match="earlier resilsim wrote .*outcome names changed"):
        st.open(definition)
    st.close()
