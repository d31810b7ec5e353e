"""Retries at every layer (issue 21): attempts through a chain of services against the closed form."""
import math

import pytest

from resilsim import simulate
from resilsim import theory

from .conftest import Z

pytestmark = pytest.mark.validation

NAMES = ["api", "s1", "s2", "s3", "s4"]


def chain(p, attempts, rate=200.0, duration=100.0):
    """Client → API → s1 → … → the bottom: ``attempts[i]`` attempts on edge i (no wait, no timeout), only the
    bottom failing, each attempt independently with probability ``p``; capacity never binds."""
    layers = len(attempts)
    retry = [{"retry": {"wait": {"none": True}, "stop": {"attempts": a}}} for a in attempts]
    services = {}
    for i in range(1, layers):
        op = {"latency": {"constant": 0.001}}
        if i < layers - 1:
            op["calls"] = [{"service": NAMES[i + 1], "operation": "op", **retry[i + 1]}]
        services[NAMES[i]] = {"workers": 100_000, "operations": {"op": op},
                              "error_rate": p if i == layers - 1 else 0.0}
    return {
        "name": "chain", "api": "analytics", "duration": duration,
        "service": {"workers": 100_000, "operations": {"op": {
            "latency": {"constant": 0.001},
            "calls": [{"service": "s1", "operation": "op", "on_failure": "ANALYTICS_1900", **retry[1]}]}}},
        "services": services,
        "clients": {"arrival": {"poisson": {"rate": rate}}},
        "strategies": {"r": retry[0]},
    }


@pytest.mark.parametrize("p,attempts", [(0.8, [2, 3, 4]), (0.5, [3, 3, 3])])
def test_attempts_per_layer_match_the_closed_form(p, attempts, record, scale):
    t = simulate(chain(p, attempts, duration=100 * scale), seed=21).services().set_index("service")
    n = int(t.loc["api", "calls"])
    for i, (mean, var) in enumerate(theory.layered_attempts(p, attempts)):
        name = NAMES[i]
        tol = Z * math.sqrt(var / n)
        assert record(f"attempts per request at layer {i + 1} ({name}), p={p}, a={attempts}",
                      "(1 − q^c)/(1 − q), q = p^(a below), c = a above", mean, t.loc[name, "amplification"], tol)
    bottom = theory.layered_attempts(p, attempts)[-1][0]
    assert bottom == pytest.approx((1 - p ** math.prod(attempts)) / (1 - p))  # the telescoped form


def test_sre_book_three_layers_four_attempts_is_64_at_the_bottom(record):
    # Google SRE book, "Addressing Cascading Failures": a request through 3 layers, each making up to 4
    # attempts, reaches the bottom up to 4³ = 64 times: the maximum, when the bottom always fails.
    t = simulate(chain(1.0, [4, 4, 4], rate=20, duration=20), seed=21).services().set_index("service")
    assert record("SRE book: 3 layers × 4 attempts, bottom always failing", "4³", 64.0,
                  t.loc["s2", "amplification"], 0.0)
    assert t.loc["api", "amplification"] == 4.0 and t.loc["s1", "amplification"] == 16.0
