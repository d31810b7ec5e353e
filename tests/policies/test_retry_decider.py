"""``decider`` (resilsim/policies/retry.py), the retry decision specialised once per plan, against ``decide``.

The simulator's fused loop asks ``decider(plan, reauth_delay)`` on every failed attempt instead of
``decide(plan, reauth_delay, ...)``: for every plan of every preset, library preset and a spread of custom
policies, over every code of the three seed APIs and a client timeout, both must give the same decision and take
the same draws from the rng, at attempt numbers inside and past the decider's table.
"""
import math
import random
from functools import partial
from types import SimpleNamespace

from resilsim.catalog import load_catalog
from resilsim.policies import (RetryPolicy, Rule, attempts, elapsed, exponential, fixed, jitter, linear, never,
                               preset, retry_after)
from resilsim.policies.library import LIBRARY
from resilsim.policies.presets import PRESETS
from resilsim.policies.retry import decide, decider, without_hint

CODES = [c for api in ("analytics", "nanostream", "counters") for c in load_catalog(api).codes]
CODES.append(SimpleNamespace(code="TIMEOUT", http=0, advice="retry", family=False, name="timeout"))

CUSTOM = [
    RetryPolicy(wait=exponential(base=0.1, cap=30) + jitter("full"), stop=attempts(4)),
    RetryPolicy(wait=exponential(base=0.5, multiplier=3, cap=10), stop=attempts(6)),
    RetryPolicy(wait=exponential(base=1e-3, multiplier=10), stop=never()),  # overflows past the table: capped
    RetryPolicy(wait=linear(0.2, 0.3, cap=2) + jitter("full"), stop=never()),
    RetryPolicy(wait=fixed(0.25), stop=attempts(3)),
    RetryPolicy(wait=fixed(0.25) + jitter("equal"), stop=attempts(3)),  # equal jitter: decide itself
    RetryPolicy(wait=exponential(base=0.1) + jitter("full"), stop=elapsed(5)),  # an elapsed stop: decide itself
    RetryPolicy(wait=retry_after(exponential(base=0.1)), stop=attempts(5)),  # a hint honoured: decide itself
    RetryPolicy(wait=exponential(base=0.1) + jitter("full"), stop=attempts(5), retry_probability=0.7),
    RetryPolicy(rules=(Rule(http=frozenset({429}), wait=fixed(1.0), stop=attempts(5)),
                       Rule(advice=frozenset({"retry"}), wait=exponential(base=0.2) + jitter("full"),
                            stop=attempts(3)))),
]


def _plans():
    policies = [f() for f in PRESETS.values()] + [LIBRARY[name]().policy for name in LIBRARY] + CUSTOM
    policies.append(preset("analytics-docs"))
    for policy in policies:
        for code in CODES:
            p = policy.plan(code)
            yield p
            yield without_hint(p)


def test_the_specialised_decision_is_decides():
    quick = 0
    for k, plan in enumerate(dict.fromkeys(_plans())):  # each distinct plan once
        fast = decider(plan, 0.5)
        quick += not isinstance(fast, partial)
        for attempt in (1, 2, 3, 4, 5, 7, 15, 16, 17, 200):
            for elapsed_s, deadline_s in ((0.0, math.inf), (1.5, 30.0), (29.9, 30.0), (0.3, 0.35)):
                for hint in (None, 0.2, 40.0):
                    for reauthed in (False, True):
                        seed = hash((k, attempt, elapsed_s, hint, reauthed)) & 0xFFFF
                        a, b = random.Random(seed), random.Random(seed)
                        want = decide(plan, 0.5, attempt, elapsed_s, 0.7, hint, reauthed, deadline_s, a)
                        got = fast(attempt, elapsed_s, 0.7, hint, reauthed, deadline_s, b)
                        assert got == want and type(got) is type(want), (plan, attempt, elapsed_s, hint)
                        assert a.random() == b.random()  # the same draws taken
    assert quick > 30  # the twin compares something: most plans are specialised
