"""The bad-input corpus (tests/bad_inputs/): each malformed scenario or CLI call gets one clear line.

Every file must fail with exactly the message in expected.yaml, through the library and through
``resilsim validate`` / ``resilsim run`` (exit 2, one stderr line, no traceback); ``--debug`` re-raises.
"""
from pathlib import Path

import pytest
import yaml

from resilsim import ScenarioError, load_scenario
from resilsim.cli import main

HERE = Path(__file__).parent / "bad_inputs"
EXPECTED = yaml.safe_load((HERE / "expected.yaml").read_text())
GOOD = Path(__file__).parent.parent / "scenarios" / "counters-rate-limited.yaml"

# Bad CLI calls: argv → the exact stderr line ({good} is a valid scenario file).
BAD_CALLS = [
    (["validate", "{good}", "--set", "service.wrokers=3"],
     "resilsim: {good}:10: service.wrokers: unknown field 'wrokers'; did you mean 'workers'? (allowed: workers, "
     "queue, operations, rate_limit, quota, credits, locks, processing_timeout, load_latency, shed, reject_cost)"),
    (["validate", "{good}", "--set", "foo"],
     "resilsim: {good}: override 'foo' must look like dotted.key=value"),
    (["validate", "{good}", "--set", "clients.arrival.poisson.rate=-1"],
     "resilsim: {good}:19: clients.arrival.poisson.rate: Input should be greater than 0 (got -1)"),
    (["validate", "no/such/file.yaml"], "resilsim: no/such/file.yaml: no such file"),
    (["validate", str(HERE)], f"resilsim: {HERE}: is a directory, not a scenario file"),
    (["run", "{good}", "--strategy", "nope", "--no-charts"],
     "resilsim: {good}: --strategy: unknown strategy 'nope'; the scenario has none, immediate, docs, retry-after"),
]


def test_corpus_is_big_enough_and_complete():
    files = {p.name for p in HERE.glob("*.yaml")} - {"expected.yaml"}
    assert files == set(EXPECTED)
    assert len(files) + len(BAD_CALLS) >= 60


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_library_gives_the_exact_message(name):
    path = HERE / name
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    assert str(e.value) == f"{path}{EXPECTED[name]}"
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cli_one_line_exit_2(name, command, capsys, tmp_path):
    path = HERE / name
    argv = [command, str(path)] + (["--out", str(tmp_path), "--no-charts"] if command == "run" else [])
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err == f"resilsim: {path}{EXPECTED[name]}\n"
    assert "Traceback" not in out + err


@pytest.mark.parametrize("argv,line", BAD_CALLS)
def test_bad_cli_calls(argv, line, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("{good}", str(GOOD)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == line.replace("{good}", str(GOOD)) + "\n"


def test_debug_shows_the_traceback():
    with pytest.raises(ScenarioError):
        main(["--debug", "validate", str(HERE / "unknown_top_key.yaml")])


def test_nothing_from_a_file_is_evaluated(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("os.system", lambda *a: calls.append(a))
    for name in ("python_object_tag.yaml", "python_name_tag.yaml"):
        with pytest.raises(ScenarioError, match="which is not allowed"):
            load_scenario(HERE / name)
    assert calls == []
