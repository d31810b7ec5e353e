"""The bad-input corpus (tests/bad_inputs/): each malformed scenario or CLI call gets one clear line.

Every file must fail with exactly the message in expected.yaml, through the library and through
``resilsim validate`` / ``resilsim run`` (exit 2, one stderr line, no traceback); ``--debug`` re-raises.
"""
from pathlib import Path

import pytest
import yaml

from resilsim import ScenarioError, load_scenario, simulate
from resilsim.cli import main

HERE = Path(__file__).parent / "bad_inputs"
EXPECTED = yaml.safe_load((HERE / "expected.yaml").read_text())
RUNAWAY = yaml.safe_load((HERE / "runaway" / "expected.yaml").read_text())
GOOD = Path(__file__).parent.parent / "scenarios" / "counters-rate-limited.yaml"
AURORA = Path(__file__).parent.parent / "scenarios" / "analytics-aurora-db-service.yaml"  # {aurora}: has services

# Bad CLI calls: argv → the exact stderr line ({good} is a valid scenario file).
BAD_CALLS = [
    (["validate", "{good}", "--set", "service.wrokers=3"],
     "resilsim: {good}:11: service.wrokers: unknown field 'wrokers'; did you mean 'workers'? (allowed: workers, "
     "queue, operations, rate_limit, quota, credits, locks, processing_timeout, load_latency, shed, reject_cost, retry_after)"),
    (["validate", "{good}", "--set", "foo"],
     "resilsim: {good}: override 'foo' must look like dotted.key=value"),
    (["validate", "{good}", "--set", "clients.arrival.poisson.rate=-1"],
     "resilsim: {good}:20: clients.arrival.poisson.rate: Input should be greater than 0 (got -1)"),
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
     "resilsim: argument COMMAND: invalid choice: 'frobnicate' (choose from 'run', 'validate', 'catalog', 'schema', "
     "'presets', 'sweep', 'plan', 'report', 'fit') (see resilsim --help)"),
    (["validate"], "resilsim validate: the following arguments are required: scenarios (see resilsim validate --help)"),
    (["run", "no/such/file.yaml"], "resilsim: no/such/file.yaml: no such file"),
    (["run", "{here}"], "resilsim: {here}: is a directory, not a scenario file"),
    # --set on a missing key, with a bad value
    (["validate", "{good}", "--set", "nope.key=1"],
     "resilsim: {good}: nope: unknown field 'nope' (allowed: name, description, api, duration, warmup, drain, bin, "
     "service, faults, clients, network, services, strategies, limits)"),
    (["validate", "{good}", "--set", "duration=abc"],
     "resilsim: {good}:9: duration: Input should be a valid number, unable to parse string as a number (got 'abc')"),
    (["validate", "{good}", "--set", "clients.timeout=100"],
     "resilsim: {good}:19: clients: deadline (60.0 s) is shorter than the attempt timeout (100.0 s)"),
    # sweeps and plans: a check across fields, broken by --set, still names the file
    (["sweep", "{good}", "--set", "warmup=5000", "--grid", "service.workers=2", "--out", "o"],
     "resilsim: {good}: warmup (5000.0 s) must be shorter than duration (600.0 s)"),
    (["plan", "{good}", "--set", "warmup=5000", "--vary", "service.workers", "--over", "2,4",
      "--slo", "success_rate>=0.5"],
     "resilsim: {good}: warmup (5000.0 s) must be shorter than duration (600.0 s)"),
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
    # access logs given to `resilsim fit`
    (["fit", "{here}/data/log_no_latency.csv", "--curve-out", "c.csv"],
     "resilsim: {here}/data/log_no_latency.csv: header is 'timestamp,status'; expected a CSV header with timestamp, "
     "latency and status or code columns"),
    (["fit", "{here}/data/log_negative_latency.csv", "--curve-out", "c.csv"],
     "resilsim: {here}/data/log_negative_latency.csv: line 3: latency -0.5 is negative; expected seconds ≥ 0"),
    (["fit", "{here}/data/log_empty.csv", "--curve-out", "c.csv"],
     "resilsim: {here}/data/log_empty.csv: no rows; expected a CSV header with timestamp, latency and status or "
     "code columns"),
    (["fit", "{here}/data/log_bad_timestamp.csv", "--curve-out", "c.csv"],
     "resilsim: {here}/data/log_bad_timestamp.csv: line 3: timestamp 'noon' is not a number of seconds"),
    (["fit", "{here}/data/no_such_log.csv"], "resilsim: {here}/data/no_such_log.csv: no such file"),
    (["fit", "{here}/data/log_empty.csv", "--bin", "0"], "resilsim: --bin: must be a positive number of seconds, got 0.0"),
    (["catalog", "nope"],
     "resilsim: nope: no such catalog; give one of analytics, nanostream, counters or the path of a catalog YAML file"),
    # every file and value goes through one bounded reader: sizes that lie, binaries, bombs, depth
    (["validate", "/dev/zero"], "resilsim: /dev/zero: is longer than 1,000,000 bytes, the most a scenario file may be"),
    (["catalog", "/dev/zero"], "resilsim: /dev/zero: no such catalog; give one of analytics, nanostream, counters or "
                               "the path of a catalog YAML file"),
    (["catalog", "{here}/binary.yaml"], "resilsim: {here}/binary.yaml: is not a UTF-8 text file (binary?)"),
    (["catalog", "{here}/deep_flow_5000.yaml"],
     "resilsim: {here}/deep_flow_5000.yaml: not valid YAML (nested deeper than 50 levels)"),
    (["catalog", "{here}/alias_bomb_mappings.yaml"],
     "resilsim: {here}/alias_bomb_mappings.yaml: not valid YAML (expands to more than 100000 values (an alias bomb?))"),
    (["validate", "{good}", "--set", "name=" + "[" * 3000 + "]" * 3000],
     "resilsim: {good}: name: the value is not valid YAML (nested deeper than 50 levels)"),
    (["validate", "{good}", "--set", "description=[&a [x,x,x,x,x,x,x,x,x,x], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], "
      "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]]"],
     "resilsim: {good}: description: the value is not valid YAML (expands to more than 100000 values (an alias bomb?))"),
    (["validate", "{good}", "--set", "description=" + "x" * 20_000],
     "resilsim: {good}: description: the value is longer than 10,000 characters, the most a command-line value may be"),
    (["sweep", "{good}", "--grid", "service.workers=" + "[" * 60 + "]" * 60, "--out", "o"],
     "resilsim: --grid: a value is not valid YAML (nested deeper than 50 levels)"),
    # strict numbers through --set
    (["validate", "{good}", "--set", "duration=on"],
     "resilsim: {good}:9: duration: Input should be a number, not true or false (got True)"),
    (["validate", "{good}", "--set", "service.workers=yes"],
     "resilsim: {good}:12: service.workers: Input should be a whole number, not true or false (got True)"),
    (["validate", "{good}", "--set", "service.workers=8.0"],
     "resilsim: {good}:12: service.workers: Input should be a whole number, without a decimal point (got 8.0)"),
    (["validate", "{good}", "--set", "bin=5e-324"], "resilsim: {good}: bin: must be between 1e-09 and 1e+12 (got '5e-324')"),
    (["validate", "{good}", "--set", "clients.arrival.poisson.rate=1e308"],
     "resilsim: {good}:20: clients.arrival.poisson.rate: must be between 1e-09 and 1e+12 (got '1e308')"),
    # runaway work refused before anything is allocated
    (["run", "{here}/runaway/bin_microsecond.yaml", "--summary-only", "--no-charts"],
     "resilsim: {here}/runaway/bin_microsecond.yaml: the run needs about 12,131 MiB (1 strategy with 60,000,000 "
     "timeline bins), more than limits.max_memory_mb (1000 MiB); shorten duration, widen bin, run fewer strategies "
     "or raise the limit"),
    (["run", "{good}", "--set", "duration=3e6", "--strategy", "none", "--no-charts"],
     "resilsim: {good}: the run needs about 22,644 MiB (1 strategy with 195,000,000 expected requests and 3,000,000 "
     "timeline bins), more than limits.max_memory_mb (4096 MiB); shorten duration, widen bin, run fewer strategies, "
     "record summaries only or raise the limit"),
    (["sweep", "{here}/runaway/bin_microsecond.yaml", "--grid", "service.workers=2,4", "--out", "o", "--inprocess"],
     "resilsim: the run needs about 12,131 MiB (1 strategy with 60,000,000 timeline bins), more than "
     "limits.max_memory_mb (1000 MiB); shorten duration, widen bin, run fewer strategies or raise the limit"),
    (["sweep", "{here}/cli/grid_no_values.yaml", "--out", "o", "--inprocess"],
     "resilsim: grid: 'service.workers' has no values; give at least one"),
    (["sweep", "{here}/cli/grid_million_points.yaml", "--out", "o", "--inprocess"],
     "resilsim: grid: 1,000,000 grid points × 1 replications make 1,000,000 runs, more than the 100,000 one sweep may "
     "have; split it into several sweeps"),
    (["sweep", "{here}/cli/replications_hundred_million.yaml", "--out", "o", "--inprocess"],
     "resilsim: grid: 2 grid points × 100,000,000 replications make 200,000,000 runs, more than the 100,000 one sweep "
     "may have; split it into several sweeps"),
    # plan ranges and SLOs, output folders
    (["plan", "{good}", "--vary", "service.workers", "--over", "nan,4", "--slo", "success_rate>=0.9"],
     "resilsim: --over: --over 'nan,4' must look like LO,HI, e.g. 1,64"),
    (["plan", "{good}", "--vary", "service.workers", "--over", "2,.inf", "--slo", "success_rate>=0.9"],
     "resilsim: --over: --over '2,.inf' must look like LO,HI, e.g. 1,64"),
    (["plan", "{good}", "--vary", "service.workers", "--over", "2,8,16", "--slo", "success_rate>=0.9"],
     "resilsim: --over: --over '2,8,16' must look like LO,HI, e.g. 1,64"),
    (["plan", "{good}", "--vary", "service.workers", "--over", "true,8", "--slo", "success_rate>=0.9"],
     "resilsim: --over: --over 'true,8' must look like LO,HI, e.g. 1,64"),
    (["plan", "{good}", "--vary", "service.workers", "--over", "1,4", "--slo", "success_rate>=."],
     "resilsim: slo: SLO success_rate'>=.' must look like >=0.999 or <=2"),
    (["plan", "{good}", "--vary", "service.workers", "--over", "1,4", "--slo", "p99_s<=1e999"],
     "resilsim: slo: SLO p99_s'<=1e999' must look like >=0.999 or <=2"),
    # an SLO on a service behind the API: a service the scenario lacks, a metric services do not have
    (["plan", "{good}", "--vary", "service.workers", "--over", "1,4", "--slo", "svc.aurora.success_rate>=0.99"],
     "resilsim: slo: SLO metric 'svc.aurora.success_rate' names no service of scenario 'counters-rate-limited' "
     "(its services behind the API: none)"),
    (["plan", "{aurora}", "--vary", "services.aurora.workers", "--over", "4,8", "--slo", "svc.redis.p99_s<=1"],
     "resilsim: slo: SLO metric 'svc.redis.p99_s' names no service of scenario 'analytics-aurora-db-service' "
     "(its services behind the API: aurora)"),
    (["plan", "{aurora}", "--vary", "services.aurora.workers", "--over", "4,8", "--slo", "svc.aurora.p999_s<=1"],
     "resilsim: slo: SLO metric 'svc.aurora.p999_s': 'p999_s' is not a per-service metric; use one of calls, "
     "success_rate, attempts, amplification, mean_s, p99_s, queue_s, utilisation"),
    (["plan", "{aurora}", "--vary", "services.aurora.workers", "--over", "4,8", "--slo", "sucess_rate>=0.99"],
     "resilsim: slo: unknown SLO metric 'sucess_rate'; use one of success_rate, p50_s, p95_s, p99_s, amplification, "
     "peak_amplification, goodput_rps, mean_attempts, recovery_s, or svc.SERVICE.METRIC for a service behind the API"),
    (["run", "{good}", "--out", ""],
     "resilsim run: argument --out: must name a folder, got '' (see resilsim run --help)"),
    (["sweep", "{good}", "--out", "  "],
     "resilsim sweep: argument --out: must name a folder, got '  ' (see resilsim sweep --help)"),
]


def test_corpus_is_big_enough_and_complete():
    files = {p.name for p in HERE.glob("*.yaml")} - {"expected.yaml"}
    assert files == set(EXPECTED)
    assert {p.name for p in (HERE / "runaway").glob("*.yaml")} - {"expected.yaml"} == set(RUNAWAY)
    assert len(files) + len(RUNAWAY) + len(BAD_CALLS) >= 190


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
    argv = [a.replace("{good}", str(GOOD)).replace("{here}", str(HERE)).replace("{aurora}", str(AURORA)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == line.replace("{good}", str(GOOD)).replace("{here}", str(HERE)) + "\n"


@pytest.mark.parametrize("name", sorted(RUNAWAY))
def test_runaway_work_is_refused_before_it_starts(name, capsys, tmp_path):
    # Valid scenarios (validate accepts them) whose least memory is beyond their limits.max_memory_mb: run refuses
    # them at once, one line, nothing written.
    path = HERE / "runaway" / name
    assert main(["validate", str(path)]) == 0
    with pytest.raises(ScenarioError) as e:
        simulate(path)
    assert str(e.value) == RUNAWAY[name]
    capsys.readouterr()
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--no-charts"]) == 2
    out, err = capsys.readouterr()
    assert err == f"resilsim: {path}: {RUNAWAY[name]}\n" and "Traceback" not in out + err
    assert not (tmp_path / "o").exists()


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


def test_a_call_timeout_shorter_than_the_callees_minimum_latency_warns_in_one_line(tmp_path, capsys):
    # A warning, not an error: the scenario loads and runs (exit 0); `validate` says it in one line naming the
    # file, the field and both figures. A timeout at or above the minimum latency says nothing.
    def write(timeout):
        d = {"name": "w", "api": "analytics", "duration": 5, "service": {"workers": 10, "operations": {"query_metrics": {
                 "latency": {"constant": 0.001}, "calls": [{"service": "db", "operation": "query",
                                                            "on_failure": "ANALYTICS_1900", "timeout": timeout}]}}},
             "services": {"db": {"workers": 10, "operations": {"query": {"latency": {"constant": 0.2}}}}},
             "clients": {"arrival": {"poisson": {"rate": 5}}}, "strategies": {"s": {"retry": "none"}}}
        p = tmp_path / f"t{timeout}.yaml"
        p.write_text(yaml.safe_dump(d, sort_keys=False))
        return p
    bad, good = write(0.1), write(0.2)
    from resilsim.errors import ScenarioWarning
    with pytest.warns(ScenarioWarning, match=r"calls\[0\]\.timeout: the call's timeout \(0\.1 s\) is shorter than "
                                             r"the minimum latency of db\.query \(0\.2 s\), so every call fails"):
        load_scenario(bad)
    assert main(["validate", str(bad)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"resilsim: {bad}:") and err.count("\n") == 1 and "Traceback" not in err
    assert "service.operations.query_metrics.calls[0].timeout" in err
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_scenario(good)
    assert main(["validate", str(good)]) == 0
    assert "minimum latency" not in capsys.readouterr().err
