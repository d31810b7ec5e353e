"""simulate() runs its strategies with the objects that existed before frozen (sim.run.old_objects_frozen): a full
collection set off by the event loop then skips the imports' ~80k objects. The state is given back as it was."""
import gc
import multiprocessing

import pytest

from resilsim import simulate
from resilsim.sim import run as sim_run
from tests.conftest import small

SCENARIO = small(duration=20, warmup=2, strategies={"none": {"retry": "none"}, "docs": {"retry": "analytics-docs"}})


def freeze_counts_at(monkeypatch, owner, name: str) -> list:
    """gc.get_freeze_count() each time ``owner.name`` is called (the function itself still runs)."""
    counts = []
    real = getattr(owner, name)

    def spy(*a, **k):
        counts.append(gc.get_freeze_count())
        return real(*a, **k)

    monkeypatch.setattr(owner, name, spy)
    return counts


@pytest.fixture
def seen(monkeypatch):
    """gc.get_freeze_count() at the start of every strategy's run."""
    return freeze_counts_at(monkeypatch, sim_run, "_run_one")


def test_strategies_run_with_the_old_objects_frozen_and_thawed_after(seen):
    assert gc.get_freeze_count() == 0
    before = len(gc.get_objects())
    simulate(SCENARIO, seed=1)
    assert len(seen) == 2 and all(c >= before // 2 for c in seen), seen  # the imports' objects among them
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_thawed_after_a_failed_run(monkeypatch):
    def fail(*a, **k):
        assert gc.get_freeze_count() > 0
        raise RuntimeError("boom")

    monkeypatch.setattr(sim_run, "_run_one", fail)
    with pytest.raises(RuntimeError, match="boom"):
        simulate(SCENARIO, seed=1)
    assert gc.get_freeze_count() == 0


def test_a_callers_frozen_objects_stay_frozen(seen):
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        simulate(SCENARIO, seed=1)
        # Not frozen again (the count would have grown by what was made since) nor thawed (it would be 0); it may
        # shrink: frozen objects still die when their last reference goes.
        assert all(c <= frozen for c in seen) and 0 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()


def test_a_collector_switched_off_stays_off(seen):
    gc.disable()
    try:
        simulate(SCENARIO, seed=1)
        assert not gc.isenabled() and seen == [0, 0]  # nothing frozen either: left as the caller set it
    finally:
        gc.enable()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_side_by_side_thaws_too():
    frozen = []
    simulate(SCENARIO, seed=1, processes=2, meanwhile=lambda: frozen.append(gc.get_freeze_count()))
    assert frozen and frozen[0] > 0  # frozen before the fork, while the workers run
    assert gc.get_freeze_count() == 0


def test_the_cli_draws_with_the_result_frozen_and_thaws_after(tmp_path, monkeypatch):
    """resilsim run (called here in-process) freezes what exists after the simulation while it writes the folder."""
    import resilsim.sim
    from resilsim import cli

    after_run = []  # the freeze count once the simulation has returned (the imports frozen already by then)
    real = resilsim.sim.simulate

    def simulate(*a, **k):
        result = real(*a, **k)
        after_run.append(gc.get_freeze_count())
        return result

    monkeypatch.setattr(resilsim.sim, "simulate", simulate)
    during = freeze_counts_at(monkeypatch, cli, "_write_run")
    path = tmp_path / "s.yaml"
    import yaml
    path.write_text(yaml.safe_dump(SCENARIO))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out"), "--no-charts", "--processes", "1"]) == 0
    assert after_run and during and during[0] > after_run[0] > 0  # the result and what came with it frozen too
    assert gc.get_freeze_count() == 0
