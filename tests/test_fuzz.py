"""Property-based fuzzing: the scenario loader and the retry policies never fail in an unplanned way.

Budgets (examples per test, fixed by ``settings``): loader dicts 300, loader YAML texts 300,
overrides 200, waits 500, decide 500. Derandomized so the suite is reproducible.
The ``slow`` test at the end reruns them all with ten times the budget (``RESILSIM_FUZZ_SCALE=10``).
"""
import math
import os
import random

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilsim import ScenarioError, load_scenario
from resilsim.catalog import load_catalog
from resilsim.policies import PRESETS
from resilsim.policies import waits as W

from .conftest import small

SCALE = int(os.environ.get("RESILSIM_FUZZ_SCALE", "1"))  # the slow run multiplies every budget


def FUZZ(n):
    """Settings for a fuzz test of ``n`` examples (× RESILSIM_FUZZ_SCALE)."""
    return settings(max_examples=n * SCALE, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))

# Keys drawn from the schema (and a few typos), values from everything YAML can say.
KEYS = ["name", "api", "duration", "warmup", "drain", "bin", "service", "faults", "clients", "strategies",
        "workers", "queue", "operations", "query_metrics", "latency", "exponential", "mean", "lognormal",
        "rate_limit", "quota", "background", "incidents", "start", "code", "rate", "rates", "arrival",
        "poisson", "timeout", "deadline", "tenants", "retry", "wait", "stop", "attempts", "jitter",
        "retry_on", "codes", "status", "fixed", "multiplier", "cap", "ANALYTICS_5000", "wrokers", "0"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["none", "full", "analytics", "counters", "ANALYTICS_5000", "-1000", "1e400", ".inf"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=20)
PATHS = [("duration",), ("warmup",), ("service", "workers"), ("service", "queue"),
         ("service", "operations", "query_metrics", "latency"), ("clients", "arrival", "poisson", "rate"),
         ("clients", "timeout"), ("clients", "deadline"), ("faults",), ("faults", "background"),
         ("faults", "incidents"), ("strategies", "none", "retry"), ("strategies", "x"), ("api",), ("bin",)]


def _set(d, path, value):
    node = d
    for p in path[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[path[-1]] = value


def _loads_or_scenario_error(source, overrides=None):
    try:
        load_scenario(source, overrides=overrides)
    except ScenarioError as e:
        # One sentence: where (file, line, field) and then why, on one line.
        assert e.reason and str(e).endswith(e.reason) and "\n" not in str(e)


@FUZZ(300)
@given(st.lists(st.tuples(st.sampled_from(PATHS), VALUES), min_size=1, max_size=3))
def test_random_fields_load_or_raise_scenario_error(changes):
    d = small()
    for path, value in changes:
        _set(d, path, value)
    _loads_or_scenario_error(d)


@FUZZ(300)
@given(st.one_of(st.text(max_size=200),
                 st.lists(st.tuples(st.sampled_from(PATHS), VALUES), max_size=3).map(
                     lambda ch: yaml.safe_dump(_apply(small(), ch), allow_unicode=True))))
def test_random_yaml_text_loads_or_raises_scenario_error(text):
    _loads_or_scenario_error(text + "\n")


def _apply(d, changes):
    for path, value in changes:
        _set(d, path, value)
    return d


@FUZZ(200)
@given(st.lists(st.tuples(st.text(alphabet="abcdeklmnoprstuvwy._0123", min_size=1, max_size=30),
                          st.text(max_size=10)), min_size=1, max_size=3))
def test_random_overrides_load_or_raise_scenario_error(items):
    _loads_or_scenario_error(small(), overrides=[f"{k}={v}" for k, v in items])


POS = st.floats(min_value=1e-6, max_value=1e6)
WAITS = st.one_of(
    st.just(W.none()), POS.map(W.fixed),
    st.tuples(POS, POS, POS).map(lambda t: W.linear(t[0], t[1], t[2])),
    st.tuples(POS, st.floats(min_value=1, max_value=10), POS).map(lambda t: W.exponential(t[0], t[1], t[2])))


@FUZZ(500)
@given(WAITS, st.sampled_from(W.JITTERS), st.floats(min_value=0, max_value=1), st.integers(1, 10_000),
       st.floats(min_value=0, max_value=1e6), st.integers(0, 2**32))
def test_every_wait_is_finite_non_negative_and_capped(wait, kind, amount, attempt, previous, seed):
    try:
        w = wait + W.jitter(kind, amount) if kind != "none" else wait
    except ValueError as e:  # documented refusal at construction, never at call time
        assert kind == "decorrelated" and "finite cap" in str(e)
        return
    rng = random.Random(seed)
    x = w(attempt, previous, rng)
    assert math.isfinite(x) and x >= 0
    if kind not in ("additive", "proportional") and math.isfinite(wait.cap):
        assert x <= wait.cap * (1 + 1e-9)


CODES = [c for api in ("analytics", "nanostream", "counters") for c in load_catalog(api).codes]


@FUZZ(500)
@given(st.sampled_from(sorted(PRESETS)), st.sampled_from(CODES), st.integers(1, 10_000),
       st.floats(min_value=0, max_value=1e7), st.floats(min_value=0, max_value=1e6),
       st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)), st.booleans(),
       st.one_of(st.just(math.inf), st.floats(min_value=0, max_value=1e7)), st.integers(0, 2**32))
def test_every_preset_decides_finite_waits_within_the_deadline(name, code, attempt, elapsed, previous,
                                                               retry_after, reauthed, deadline, seed):
    policy = PRESETS[name]()
    d = policy.decide(code, attempt=attempt, elapsed=elapsed, previous_wait=previous, retry_after=retry_after,
                      reauthed=reauthed, deadline=deadline, rng=random.Random(seed))
    if d.retry:
        assert math.isfinite(d.wait) and d.wait >= 0 and elapsed + d.wait <= deadline
        assert d.outcome is None
    else:
        assert d.outcome in ("failed", "retries_exhausted", "deadline")


@pytest.mark.slow
def test_fuzz_with_ten_times_the_budget():
    """Every fuzz test above with 10× its examples (18,000 in all), in a fresh interpreter."""
    import subprocess
    import sys
    from pathlib import Path
    if SCALE != 1:
        pytest.skip("already the scaled run")
    env = dict(os.environ, RESILSIM_FUZZ_SCALE="10")
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", __file__],
                       cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
