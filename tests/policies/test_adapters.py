"""from_urllib3: a user's own urllib3 Retry, simulated as it is, agrees with the matching preset."""
import sys

import numpy as np
import pytest
import yaml

import resilsim
from resilsim.errors import ScenarioError
from resilsim.policies.library import library_preset

pytest.importorskip("urllib3", reason="needs the urllib3 extra")
from urllib3.util import Retry  # noqa: E402

from resilsim.policies.adapters import MissingLibraryError, from_urllib3  # noqa: E402

from .test_against_libraries import STATUSES, TIMEOUT, code, our_schedule  # noqa: E402


def counters(strategies, retry_after="header", duration=120):
    d = yaml.safe_load(open("scenarios/counters-rate-limited.yaml"))
    d["duration"] = duration
    d["service"]["retry_after"] = retry_after
    d["strategies"] = strategies
    return resilsim.load_scenario(d)


@pytest.mark.parametrize("kw", [dict(total=3), dict(total=3, backoff_factor=0.5, status_forcelist=(500, 502, 503, 504)),
                                dict(total=5, status=2, backoff_factor=0.1, status_forcelist=(429,))])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_adapter_schedules_are_urllib3s(kw, method):
    p = from_urllib3(Retry(**kw), method=method)
    preset = library_preset("urllib3", total=kw["total"], backoff_factor=kw.get("backoff_factor", 0.0),
                            status_forcelist=kw.get("status_forcelist", ()), idempotent=method == "GET")
    for status in STATUSES:
        for hint in (None, 7.0):
            ours = our_schedule(p, code(status), retry_after=hint)
            if "status" not in kw:  # the preset has no separate status budget
                assert ours[0] == our_schedule(preset, code(status), retry_after=hint)[0], (status, hint)
            if status == 429 and "status" in kw and method == "GET":
                assert len(ours[0]) == 2  # status=2: two status retries, whatever total allows
    assert our_schedule(p, TIMEOUT)[0] == our_schedule(preset, TIMEOUT)[0]


@pytest.mark.parametrize("retry_after", ["none", "header"])
def test_adapter_and_preset_give_the_same_run(retry_after):
    forcelist = [500, 502, 503, 504]
    s = counters({"preset": {"retry": "urllib3-backoff"}, "adapter": {"retry": {"urllib3": {
        "total": 3, "backoff_factor": 0.5, "status_forcelist": forcelist}}},
        "default": {"retry": "urllib3"}, "default-adapter": {"retry": {"urllib3": {"total": 3}}}}, retry_after)
    r = resilsim.simulate(s, seed=1)
    req = r.requests.set_index("strategy")
    cols = ["request", "start", "end", "attempts", "code", "outcome"]
    for a, b in (("preset", "adapter"), ("default", "default-adapter")):
        assert np.array_equal(req.loc[a, cols].to_numpy(), req.loc[b, cols].to_numpy())
    amp = r.summary()["amplification"]
    # Without a Retry-After header urllib3 never retries the counter API's 429s.
    assert (amp["default"] == 1.0) == (retry_after == "none")


def test_adapter_in_yaml_rejects_other_fields_and_bad_arguments():
    with pytest.raises(ScenarioError, match="urllib3 takes the whole retry policy from urllib3; drop stop"):
        counters({"x": {"retry": {"urllib3": {"total": 3}, "stop": {"attempts": 2}}}})
    with pytest.raises(ScenarioError, match="urllib3.Retry refuses these arguments: .*'totl'"):
        counters({"x": {"retry": {"urllib3": {"totl": 3}}}})
    with pytest.raises(ScenarioError, match="^.*retry.urllib3: urllib3.Retry cannot use these arguments: "):
        counters({"x": {"retry": {"urllib3": {"total": "x"}}}})


def test_missing_urllib3_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "urllib3", None)
    with pytest.raises(MissingLibraryError, match=r"^from_urllib3 needs urllib3: pip install 'resilsim\[urllib3\]'$"):
        from_urllib3({"total": 3})
