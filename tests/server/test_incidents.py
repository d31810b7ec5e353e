"""The incident library, flapping and ramps."""
import random

import pytest

from resilsim.server.faults import FaultSchedule
from resilsim.server.incidents import LIBRARY, expand, flap_windows, ramp_levels


def test_flap_windows_stay_inside_and_alternate():
    rng = random.Random(3)
    w = flap_windows(100.0, 1000.0, 10.0, 30.0, rng)
    assert w[0][0] == 100.0
    assert all(100.0 <= a < b <= 1100.0 for a, b in w)
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(w, w[1:]))
    on = sum(b - a for a, b in w)
    # Expected on-share 10/(10+30) = 0.25; ~25 cycles, so a loose band.
    assert 0.08 < on / 1000.0 < 0.5


def test_ramp_levels_cover_the_duration_and_peak_at_one():
    lv = ramp_levels(100.0, 40.0, 20.0, 4)
    assert sum(length for _, length, _ in lv) == pytest.approx(100.0)
    assert [lvl for *_, lvl in lv] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    inc = expand(10.0, 100.0, {"X": 0.8}, (), 3.0, "r", ramp=(40.0, 20.0, 4))
    assert inc[0].rates["X"] == pytest.approx(0.2) and inc[0].slowdown == pytest.approx(1.5)
    assert inc[4].rates["X"] == pytest.approx(0.8) and inc[4].start == pytest.approx(50.0)


def test_ramp_schedule_rate_rises_then_falls():
    inc = expand(0.0, 100.0, {"X": 1.0}, (), 1.0, "r", ramp=(50.0, 50.0, 5))
    fs = FaultSchedule(["op"], ["X"], {}, inc)
    totals = [fs.segment(t)[0][0] for t in (5, 25, 45, 55, 75, 95)]
    assert totals == pytest.approx([0.2, 0.6, 1.0, 1.0, 0.6, 0.2])


def test_library_covers_the_seed_hints():
    for name in ("aurora-scale-up", "aibrain-restart", "model-update", "msk-unavailable", "redis-failover",
                 "partition-maintenance", "bootstrap-failure", "nanostream-104-burst", "counters-unknown-burst"):
        api, d = LIBRARY[name]
        assert d["duration"] > 0 and 0 < d["rate"] <= 1
    assert LIBRARY["aurora-scale-up"][1]["code"] == "ANALYTICS_1900"
    assert LIBRARY["aurora-scale-up"][1]["slowdown"] > 1
