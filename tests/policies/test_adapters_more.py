"""from_tenacity, from_stamina, from_botocore: a user's own retry configuration, simulated as it is.

Each adapter is run against the matching preset (or the resilsim strategy that writes the same
configuration) on the same scenario and seed: botocore's standard mode draws its jitter from the run's
rng as the preset does, so the runs agree row for row; tenacity and stamina draw theirs from the
``random`` module seeded per draw, so the outcomes agree in distribution, within a bound from the
sample size (4.5 standard errors of a difference of two proportions, the runs taken as independent:
on common random numbers they are positively correlated, so the bound is conservative).
"""
import math
import random
import sys

import numpy as np
import pytest
import yaml

import resilsim
from resilsim.policies.library import library_preset

tenacity = pytest.importorskip("tenacity", reason="needs the tenacity extra")
stamina = pytest.importorskip("stamina", reason="needs the stamina extra")
pytest.importorskip("botocore", reason="needs the botocore extra")

from resilsim.policies.adapters import (MissingLibraryError, SimulatedHTTPError, from_botocore,  # noqa: E402
                                        from_stamina, from_tenacity)

from .test_against_libraries import TIMEOUT, Feed, assert_same_distribution, code, our_schedule  # noqa: E402

FIVE_XX = [500, 502, 503, 504]


def counters(strategies, duration=300, faults=0.1, seed_rate=65):
    """counters-rate-limited with ``faults`` of attempts failing with the API's 500 (-1000) and a 0.5 s timeout."""
    d = yaml.safe_load(open("scenarios/counters-rate-limited.yaml"))
    d["duration"] = duration
    d["faults"] = {"background": {"-1000": faults, "-1100": 0.002}}
    d["clients"]["arrival"] = {"poisson": {"rate": seed_rate}}
    d["clients"]["timeout"] = 0.5
    d["strategies"] = strategies
    return resilsim.load_scenario(d)


def assert_same_outcomes(r, a, b):
    """Outcome shares and mean attempts of strategies ``a`` and ``b`` agree within 4.5 standard errors."""
    req = r.requests
    x, y = req[req.strategy == a], req[req.strategy == b]
    n1, n2 = len(x), len(y)
    assert n1 > 5000 and n2 > 5000
    for outcome in sorted(set(x.outcome) | set(y.outcome)):
        p1, p2 = (x.outcome == outcome).mean(), (y.outcome == outcome).mean()
        p = (p1 * n1 + p2 * n2) / (n1 + n2)
        bound = 4.5 * math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2)) + 1e-9
        assert abs(p1 - p2) <= bound, (outcome, p1, p2, bound)
    m1, m2 = x.attempts.mean(), y.attempts.mean()
    se = math.sqrt(x.attempts.var() / n1 + y.attempts.var() / n2)
    assert abs(m1 - m2) <= 4.5 * se + 1e-9, (m1, m2, se)


# ---------------------------------------------------------------- botocore

def test_botocore_standard_adapter_and_preset_give_the_same_run():
    s = counters({"preset": {"retry": "aws-standard"}})
    r = resilsim.simulate(s, seed=3, strategies={"preset": {"retry": "aws-standard"},
                                                 "adapter": from_botocore({"mode": "standard"}),
                                                 "adapter4": from_botocore({"mode": "standard", "max_attempts": 3})})
    req = r.requests.set_index("strategy")
    cols = ["request", "start", "end", "attempts", "code", "outcome"]
    assert np.array_equal(req.loc["preset", cols].to_numpy(), req.loc["adapter", cols].to_numpy())
    # max_attempts 3 retries: 4 attempts, so the runs part
    assert req.loc["adapter4", "attempts"].max() == 4 and req.loc["adapter", "attempts"].max() == 3


def test_botocore_standard_waits_and_retries_as_the_preset():
    p, preset = from_botocore(None), library_preset("aws-standard")
    for status in (400, 401, 404, 429, 500, 502, 503, 504):
        for hint in (None, 2.0):
            rng1, rng2 = random.Random(status), random.Random(status)
            assert our_schedule(p, code(status), hint, rng1) == our_schedule(preset, code(status), hint, rng2)
    assert our_schedule(p, TIMEOUT, rng=random.Random(1)) == our_schedule(preset, TIMEOUT, rng=random.Random(1))
    amz = from_botocore(None, amz_retry_after=True)
    assert our_schedule(amz, code(503), 3.0, Feed([0.5] * 9))[0] == [3.0, 3.0]  # max(t, min(3, t + 5))


def test_botocore_quota_is_botocores():
    (quota,) = from_botocore(None).guards()
    assert quota.tokens == 500
    quota.on_result(0.0, False, False, False, True)
    assert quota.allow_retry(0.0) and quota.tokens == 495  # a throttling retry costs 5
    quota.on_result(0.0, False, True, False, False)
    assert quota.allow_retry(0.0) and quota.tokens == 481  # another retry costs 14
    quota.on_result(0.0, True, True)
    assert quota.tokens == 495  # a successful retry gives back its cost
    for _ in range(40):
        quota.on_result(0.0, False, False)
        quota.allow_retry(0.0)
    assert quota.tokens < 14 and not quota.allow_retry(0.0)


def test_botocore_legacy_is_rand_times_two_to_the_n_and_retries_throttles():
    p = from_botocore({"mode": "legacy"})
    assert p.policy.stop.max_attempts == 5 and p.guards() == []
    assert from_botocore({"mode": "legacy", "max_attempts": 2}).policy.stop.max_attempts == 3
    for status in (429, 500, 502, 503, 504):
        assert len(our_schedule(p, code(status), rng=random.Random(0))[0]) == 4
    for status in (400, 401, 403, 404, 501):
        assert our_schedule(p, code(status), rng=random.Random(0)) == ([], "not retried")
    assert len(our_schedule(p, TIMEOUT, rng=random.Random(0))[0]) == 4
    rng, ref = random.Random(8), random.Random(9)
    for n in (1, 2, 4):
        ours = [p.policy.decide(code(503), attempt=n, elapsed=0.0, rng=rng).wait for _ in range(3000)]
        assert_same_distribution(ours, [ref.random() * 2 ** (n - 1) for _ in range(3000)], f"legacy retry {n}")


def test_botocore_legacy_adapter_and_its_strategy_give_the_same_outcomes():
    s = counters({"x": {"retry": "none"}})
    same = {"wait": {"exponential": {"base": 1, "multiplier": 2}}, "jitter": "full", "stop": {"attempts": 5},
            "retry_on": {"advice": False, "status": [429] + FIVE_XX}}
    r = resilsim.simulate(s, seed=4, strategies={"legacy": from_botocore({"mode": "legacy"}),
                                                 "written": {"retry": same, "timeout": 60}})
    assert_same_outcomes(r, "legacy", "written")


def test_botocore_bad_config_is_botocores_own_sentence():
    with pytest.raises(ValueError, match=r"^botocore.config.Config refuses these retries: Invalid value provided "
                                         r"to \"mode\": \"fast\" must be one of: \('legacy', 'standard', 'adaptive'\)$"):
        from_botocore({"mode": "fast"})
    with pytest.raises(ValueError, match=r"^botocore.config.Config refuses these retries: Value provided to "
                                         r"\"max_attempts\": -1 must be an integer greater than or equal to 0.$"):
        from_botocore({"max_attempts": -1})
    with pytest.raises(ValueError, match="^from_botocore takes a botocore.config.Config or a dict of its retries, not int$"):
        from_botocore(3)


def test_botocore_adaptive_adds_the_rate_limiter():
    kinds = [g.kind for g in from_botocore({"mode": "adaptive"}).guards()]
    assert kinds == [g.kind for g in library_preset("aws-adaptive").guards()]


# ---------------------------------------------------------------- stamina

def test_stamina_adapter_and_preset_give_the_same_outcomes():
    s = counters({"x": {"retry": "none"}})
    r = resilsim.simulate(s, seed=5, strategies={"preset": {"retry": "stamina"}, "adapter": from_stamina()})
    assert_same_outcomes(r, "preset", "adapter")


def test_stamina_waits_are_staminas_distribution_and_its_hook_decides():
    p, preset = from_stamina(attempts=8, timeout=None), library_preset("stamina")
    rng1, rng2 = random.Random(1), random.Random(2)
    for n in (1, 3, 6):
        ours = [p.policy.decide(code(503), attempt=n, elapsed=0.0, rng=rng1).wait for _ in range(3000)]
        theirs = [preset.policy.wait(n, 0.0, rng2) for _ in range(3000)]
        assert_same_distribution(ours, theirs, f"stamina retry {n}")
    # a backoff hook that returns the server's Retry-After is honoured, as stamina honours it
    hooked = from_stamina(on=lambda e: e.retry_after if getattr(e, "retry_after", None) else isinstance(e, SimulatedHTTPError))
    assert hooked.policy.decide(code(429), attempt=1, elapsed=0.0, retry_after=7.0, rng=random.Random(0)).wait == 7.0
    assert our_schedule(from_stamina(on=SimulatedHTTPError, attempts=3), TIMEOUT) == ([], "not retried")
    assert len(our_schedule(from_stamina(on=SimulatedHTTPError, attempts=3), code(404))[0]) == 2
    # stamina's timeout stops retries once it has passed (simulated seconds)
    assert from_stamina(timeout=10).policy.decide(code(503), attempt=2, elapsed=10.5, rng=random.Random(0)).outcome == "retries_exhausted"


def test_stamina_deactivated_retries_nothing():
    stamina.set_active(False)
    try:
        # stopped at the first attempt: the request was never retried, so it ends failed (not retries_exhausted)
        assert our_schedule(from_stamina(), code(503)) == ([], "not retried")
    finally:
        stamina.set_active(True)


def test_stamina_bad_arguments_are_staminas_sentence():
    with pytest.raises(ValueError, match=r"^stamina cannot use these arguments: '>=' not supported"):
        from_stamina(attempts="x")


# ---------------------------------------------------------------- tenacity

def test_tenacity_adapter_and_the_same_strategy_give_the_same_outcomes():
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(4), wait=tenacity.wait_random_exponential(multiplier=0.1, max=2),
        retry=tenacity.retry_if_exception(lambda e: isinstance(e, TimeoutError) or 500 <= e.status <= 599))
    same = {"wait": {"exponential": {"base": 0.1, "cap": 2}}, "jitter": "full", "stop": {"attempts": 4},
            "retry_on": {"advice": False, "status": list(range(500, 600))}}
    s = counters({"x": {"retry": "none"}})
    r = resilsim.simulate(s, seed=6, strategies={"tenacity": from_tenacity(retrying), "written": {"retry": same}})
    assert_same_outcomes(r, "tenacity", "written")
    assert r.summary().loc["tenacity", "amplification"] > 1.05  # it did retry


def test_tenacity_decorated_function_and_its_clock_is_simulated():
    @tenacity.retry(stop=tenacity.stop_after_delay(5), wait=tenacity.wait_fixed(2))
    def call():  # pragma: no cover - never called
        pass
    p = from_tenacity(call)
    d = p.policy.decide(code(404), attempt=1, elapsed=4.0, rng=random.Random(0))
    assert d.retry and d.wait == 2.0  # tenacity's default retry: every exception
    assert p.policy.decide(code(404), attempt=3, elapsed=5.0, rng=random.Random(0)).outcome == "retries_exhausted"
    assert p.policy.bounded and not from_tenacity(tenacity.Retrying()).policy.bounded


def test_tenacity_seeded_draws_leave_the_callers_random_alone():
    p = from_tenacity(tenacity.Retrying(wait=tenacity.wait_random(0, 1), stop=tenacity.stop_after_attempt(3)))
    random.seed(123)
    expected = random.random()
    random.seed(123)
    a = p.policy.decide(code(503), attempt=1, elapsed=0.0, rng=random.Random(7)).wait
    assert random.random() == expected
    assert a == p.policy.decide(code(503), attempt=1, elapsed=0.0, rng=random.Random(7)).wait


def test_tenacity_bad_arguments_are_tenacitys_sentence():
    with pytest.raises(ValueError, match=r"^tenacity cannot use these arguments: '>=' not supported"):
        from_tenacity(tenacity.Retrying(stop=tenacity.stop_after_attempt("x")))
    with pytest.raises(ValueError, match=r"^from_tenacity takes a tenacity.Retrying or a function decorated with "
                                         r"@tenacity.retry, not int$"):
        from_tenacity(3)


# ---------------------------------------------------------------- missing libraries

@pytest.mark.parametrize("module, make, extra", [
    ("tenacity", lambda: from_tenacity(None), "tenacity"),
    ("stamina", lambda: from_stamina(), "stamina"),
    ("botocore", lambda: from_botocore(None), "botocore"),
])
def test_missing_library_names_the_extra(monkeypatch, module, make, extra):
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingLibraryError, match=rf"^from_{extra} needs {extra}: pip install 'resilsim\[{extra}\]'$"):
        make()


def test_botocore_in_yaml_runs_as_the_python_adapter_and_refuses_as_botocore():
    from resilsim.errors import ScenarioError
    s = counters({"yaml": {"retry": {"botocore": {"mode": "standard", "max_attempts": 2}}}})
    r = resilsim.simulate(s, seed=3, strategies=None)
    r2 = resilsim.simulate(s, seed=3, strategies={"yaml": from_botocore({"mode": "standard", "max_attempts": 2},
                                                                         name="yaml")})
    cols = ["request", "start", "end", "attempts", "code", "outcome"]
    assert np.array_equal(r.requests[cols].to_numpy(), r2.requests[cols].to_numpy())
    assert r.requests.attempts.max() == 3
    with pytest.raises(ScenarioError, match="botocore takes the whole retry policy from botocore; drop stop"):
        counters({"x": {"retry": {"botocore": {"mode": "legacy"}, "stop": {"attempts": 2}}}})
    with pytest.raises(ScenarioError, match=r"retry.botocore: botocore.config.Config refuses these retries: "
                                            r"Invalid value provided to \"mode\""):
        counters({"x": {"retry": {"botocore": {"mode": "fast"}}}})
