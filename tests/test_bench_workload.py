"""The benchmark harness runs the same all-features workload at every size (benchmarks/run.py)."""
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from resilsim import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def _harness():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_longer_runs_repeat_the_incident_pattern():
    data = yaml.safe_load((ROOT / "benchmarks" / "all_features.yaml").read_text())
    period, original = data["duration"], data["faults"]["incidents"]
    incidents_for = _harness().incidents_for
    # 1M requests at 60/s: ten copies of the file's incidents, one per period, each valid in the run.
    long = incidents_for(data, 1_000_000 / 60)
    assert len(long) == 10 * len(original)
    for k in range(10):
        for inc, orig in zip(long[k * len(original):(k + 1) * len(original)], original):
            assert inc["start"] == orig["start"] + k * period
            assert inc["duration"] == orig["duration"] and inc.get("ramp") == orig.get("ramp")
    load_scenario({**data, "duration": 1_000_000 / 60, "faults": {**data["faults"], "incidents": long}})
    # Up to the file's length, incidents keep their place: start and length scale with the run.
    short = incidents_for(data, period / 5)
    assert [(i["start"], i["duration"]) for i in short] == [
        pytest.approx((o["start"] / 5, o["duration"] / 5), rel=1e-12) for o in original]


def test_run_phases_logs_every_process_of_the_command(capsys):
    """benchmarks/run_phases.py: the phases of the parent and of each strategy's worker, and the command's totals
    (it wraps functions by name: renamed, a phase would silently go missing)."""
    spec = importlib.util.spec_from_file_location("run_phases", ROOT / "benchmarks" / "run_phases.py")
    run_phases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_phases)
    assert run_phases.main([str(ROOT / "scenarios" / "counters-rate-limited.yaml"), "--extra",
                            "--set duration=60 --processes 2 --no-charts"]) == 0
    out = capsys.readouterr().out
    strategies = list(load_scenario(ROOT / "scenarios" / "counters-rate-limited.yaml").strategies)
    for name in strategies:
        assert re.search(rf"^child \d +simulate strategy {name} ", out, re.M), (name, out)
    for phase in ("imported resilsim.scenario", "meanwhile", "Result.from_runs", "Result.write_tables",
                  "write_run_dir"):
        assert re.search(rf"^parent +{re.escape(phase)}", out, re.M), (phase, out)
    assert re.search(r"^command: wall \d+\.\d+ s, CPU \d+\.\d+ s", out, re.M), out
