"""The service's fast paths against their general twins, its refusal count, and its options."""
import pytest

import resilsim.sim.run as run_module
from resilsim import load_scenario, simulate
from resilsim.records import SOURCES
from resilsim.sim.service import Service, ServiceOptions

from ..test_determinism import CASES, digest, tables_digest

# FIFO queues with free refusals, so the fast _complete serves them: hedged copies, a full queue (the outage),
# queue timeouts (the incident library).
FIFO_CASES = ["all_features.yaml", "all_features+hedge", "all_features+global-limiter",
              "scenarios/strategies-through-an-outage.yaml", "scenarios/analytics-incident-library.yaml"]


def _facts(name: str) -> tuple:
    r = simulate(load_scenario(CASES[name]()), seed=7)
    return digest(r), tables_digest(r)


@pytest.mark.parametrize("name", FIFO_CASES)
def test_complete_gives_what_its_general_twin_gives(name, monkeypatch):
    # Service._complete is _complete_general inlined for FIFO with free refusals: the same rows and tables.
    used = []

    class Spy(Service):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            used.append(self._done_cbs[0].__func__)

    monkeypatch.setattr(run_module, "Service", Spy)
    fast = _facts(name)
    assert used and all(f is Service._complete for f in used)

    class General(Service):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self._done_cbs = [self._complete_general]

    monkeypatch.setattr(run_module, "Service", General)
    assert _facts(name) == fast


@pytest.mark.parametrize("name", ["all_features+global-limiter", "all_features+global-limiter-reject-cost",
                                  "all_features+lifo-shed-reject-cost", "scenarios/analytics-quota-busy-hour.yaml",
                                  "scenarios/strategies-through-an-outage.yaml",
                                  "scenarios/analytics-token-expiry.yaml"])
def test_every_refusal_on_arrival_is_counted(name, monkeypatch):
    # The service's refusal count is its attempt rows answered on arrival: rate limit, quota, an invalid request,
    # auth, a full queue or load shedding (these cases have no CoDel, whose dequeue also answers "shed").
    records = []
    run_one = run_module._run_one

    def keep(*a, **k):
        records.append(run_one(*a, **k))
        return records[-1]

    monkeypatch.setattr(run_module, "_run_one", keep)
    simulate(load_scenario(CASES[name]()), seed=7)
    refused = [SOURCES.index(s) for s in ("limiter", "quota", "request", "auth", "capacity", "shed")]
    counts = []
    for rec in records:
        src = rec.recorder.attempts.view()["source"]
        counts.append((rec.refusals, int(sum((src == s).sum() for s in refused))))
    assert all(counted == rows for counted, rows in counts) and sum(rows for _, rows in counts) > 0


def test_options_name_the_allowed_disciplines():
    with pytest.raises(ValueError, match="unknown queue discipline 'random'; allowed: fifo, lifo, adaptive_lifo, codel"):
        ServiceOptions(discipline="random")
    # Equal strings from elsewhere become the module's own, which the dequeue loop compares by identity.
    assert ServiceOptions(discipline="".join(["li", "fo"])).discipline is ServiceOptions(discipline="lifo").discipline
