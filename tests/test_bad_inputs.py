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
     "queue, operations, rate_limit, quota, credits, locks, processing_timeout, load_latency, shed, reject_cost, retry_after)"),
    (["validate", "{good}", "--set", "foo"],
     "resilsim: {good}: override 'foo' must look like dotted.key=value"),
    (["validate", "{good}", "--set", "clients.arrival.poisson.rate=-1"],
     "resilsim: {good}:19: clients.arrival.poisson.rate: Input should be greater than 0 (got -1)"),
    (["validate", "no/such/file.yaml"], "resilsim: no/such/file.yaml: no such file"),
    (["validate", str(HERE)], f"resilsim: {HERE}: is a directory, not a scenario file"),
    (["run", "{good}", "--strategy", "nope", "--no-charts"],
     "resilsim: {good}: --strategy: unknown strategy 'nope'; the scenario has none, immediate, docs, retry-after"),
    # Usage errors: one line and exit 2 too (argparse's usage block is not printed).
    (["run", "{good}", "--seed", "-1"],
     "resilsim run: argument --seed: must be a non-negative integer, got '-1' (see resilsim run --help)"),
    (["run", "{good}", "--seed", "abc"],
     "resilsim run: argument --seed: must be a non-negative integer, got 'abc' (see resilsim run --help)"),
    (["run", "{good}", "--seed", "1.5"],
     "resilsim run: argument --seed: must be a non-negative integer, got '1.5' (see resilsim run --help)"),
    (["run", "{good}", "--bogus"], "resilsim: unrecognized arguments: --bogus (see resilsim --help)"),
    (["run", "{good}", "--strategy"],
     "resilsim run: argument --strategy: expected one argument (see resilsim run --help)"),
    (["frobnicate", "{good}"],
     "resilsim: argument COMMAND: invalid choice: 'frobnicate' (choose from 'run', 'validate', 'catalog', "
     "'presets', 'sweep', 'plan', 'report') (see resilsim --help)"),
    (["validate"], "resilsim validate: the following arguments are required: scenarios (see resilsim validate --help)"),
    (["run", "no/such/file.yaml"], "resilsim: no/such/file.yaml: no such file"),
    (["run", "{here}"], "resilsim: {here}: is a directory, not a scenario file"),
    # --set on a missing key, with a bad value
    (["validate", "{good}", "--set", "nope.key=1"],
     "resilsim: {good}: nope: unknown field 'nope' (allowed: name, description, api, duration, warmup, drain, bin, "
     "service, faults, clients, strategies, limits)"),
    (["validate", "{good}", "--set", "duration=abc"],
     "resilsim: {good}:8: duration: Input should be a valid number, unable to parse string as a number (got 'abc')"),
    (["validate", "{good}", "--set", "clients.timeout=100"],
     "resilsim: {good}:18: clients: deadline (60.0 s) is shorter than the attempt timeout (100.0 s)"),
    # sweeps and plans
    (["sweep", "{good}", "--replications", "0", "--out", "o"],
     "resilsim sweep: argument --replications: must be a positive integer, got '0' (see resilsim sweep --help)"),
    (["sweep", "{good}", "--workers", "0", "--out", "o"],
     "resilsim sweep: argument --workers: must be a positive integer, got '0' (see resilsim sweep --help)"),
    (["sweep", "{good}", "--seed", "-3", "--out", "o"],
     "resilsim sweep: argument --seed: must be a non-negative integer, got '-3' (see resilsim sweep --help)"),
    (["sweep", "{good}", "--grid", "service.workers=2"],
     "resilsim sweep: the following arguments are required: --out (see resilsim sweep --help)"),
    (["sweep", "{good}", "--grid", "nope.key=1,2", "--out", "o"],
     "resilsim: grid: 'nope.key' is not a field of the scenario; use a dotted path such as service.workers or "
     "clients.arrival.poisson.rate"),
    (["sweep", "{good}", "--grid", "service.workers", "--out", "o"],
     "resilsim: --grid: --grid 'service.workers' must look like dotted.key=v1,v2"),
    (["sweep", "{good}", "--grid", "service.workers=a,b", "--out", "o"],
     "resilsim: grid: service.workers: Input should be a valid integer, unable to parse string as an integer (got 'a')"),
    (["sweep", "{good}", "--grid", "service.workers=2", "--out", "{good}/x", "--inprocess"],
     "resilsim: {good}/x: cannot write sweep results (Not a directory); finished runs already stored are kept"),
    (["plan", "{good}", "--vary", "nope", "--over", "1,2", "--slo", "success_rate>=0.9"],
     "resilsim: grid: 'nope' is not a field of the scenario; use a dotted path such as service.workers or "
     "clients.arrival.poisson.rate"),
    (["plan", "{good}", "--vary", "service.workers", "--over", "a,b", "--slo", "success_rate>=0.9"],
     "resilsim: --over: --over 'a,b' must look like LO,HI, e.g. 1,64"),
    (["plan", "{good}", "--vary", "service.workers", "--over", "1,4", "--slo", "bogus"],
     "resilsim: --slo: SLO 'bogus' must look like success_rate>=0.999 or p99_s<=2"),
    (["plan", "{good}", "--vary", "service.workers", "--over", "1,4", "--slo", "success_rate>=0.9",
      "--replications", "0"],
     "resilsim plan: argument --replications: must be a positive integer, got '0' (see resilsim plan --help)"),
    # report on something that is not a result, catalog of no API
    (["report", "{here}"], "resilsim: {here}: neither a run directory (summary.csv), a sweep directory "
                           "(manifest.json) nor a plan directory (plan.json)"),
    (["report", "no/such/dir"],
     "resilsim: no/such/dir: not a directory; give a `resilsim run --out` or `resilsim sweep --out` directory"),
    (["catalog", "nope"],
     "resilsim: nope: no such catalog; give one of analytics, nanostream, counters or the path of a catalog YAML file"),
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
    argv = [a.replace("{good}", str(GOOD)).replace("{here}", str(HERE)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == line.replace("{good}", str(GOOD)).replace("{here}", str(HERE)) + "\n"


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
