import os

import pytest

from resilsim.cli import main


SCENARIO = """\
name: tiny
api: counters
duration: 30
service:
  workers: 4
  operations: {increment: {latency: {exponential: {mean: 0.02}}}}
  rate_limit: {token_bucket: {rate: 20, burst: 5}}
clients:
  arrival: {poisson: {rate: 25}}
  deadline: 60  # counters-docs retries 429s until the deadline: without one it could never stop (refused)
strategies:
  none: {retry: none}
  docs: {retry: counters-docs}
"""


def test_catalog_prints_every_code(capsys):
    assert main(["catalog", "counters", "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "code,http,name,category,advice,message,resolution,assumed"
    assert out[-1].endswith(',"name, body"')  # HTTP_429: the guessed name and generic body are marked
    assert len(out) == 1 + 9 + 3
    assert main(["catalog", "analytics"]) == 0
    assert "ANALYTICS_1701" in capsys.readouterr().out


def test_presets_lists_every_preset_with_library_version_and_source(capsys):
    import csv
    import io

    from resilsim.policies import PRESETS
    from resilsim.policies.library import LIBRARY
    assert main(["presets", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["preset"] for r in rows] == list(PRESETS) + list(LIBRARY)
    aws = next(r for r in rows if r["preset"] == "aws-standard")
    assert (aws["library"], aws["version"]) == ("botocore", "1.44.8") and "standard.py" in aws["source"]
    assert "quota.cost=14.0" in aws["parameters"] and "wait_base=0.05" in aws["parameters"]
    assert all(r["version"] for r in rows if r["kind"] == "library")
    assert main(["presets"]) == 0 and "aws-standard-2020" in capsys.readouterr().out


def test_run_prints_a_row_per_strategy_and_writes_files(tmp_path, capsys):
    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    out = tmp_path / "out"
    assert main(["run", str(p), "--seed", "2", "--out", str(out), "--set", "duration=20"]) == 0
    text = capsys.readouterr().out
    assert "tiny · api counters · seed 2 · 20 s" in text
    lines = [l for l in text.splitlines() if l.startswith(("none ", "docs "))]
    assert len(lines) == 2
    for f in ("requests.parquet", "attempts.parquet", "summary.csv", "timeline.parquet", "success_over_time.png",
              "latency_cdf.png"):
        assert (out / f).stat().st_size > 0
    import pandas as pd
    a = pd.read_parquet(out / "attempts.parquet")
    assert set(a.loc[a["source"] == "limiter", "code"]) == {"HTTP_429"}


def test_run_writes_the_same_tables_as_parquet_and_as_csv(tmp_path, capsys):
    import pandas as pd

    from resilsim.scenario import load_scenario
    from resilsim.sim import simulate

    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    for fmt in ("parquet", "csv"):
        assert main(["run", str(p), "--seed", "3", "--out", str(tmp_path / fmt), "--format", fmt, "--no-charts"]) == 0
    assert not list((tmp_path / "parquet").glob("*s.csv")) and (tmp_path / "parquet" / "summary.csv").exists()
    result = simulate(load_scenario(p), seed=3)
    for name in ("requests", "attempts", "timeline"):
        # Parquet keeps the tables as simulate() returns them, dtypes and categories included.
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "parquet" / f"{name}.parquet"),
                                      getattr(result, name).reset_index(drop=True))
        csv = pd.read_csv(tmp_path / "csv" / f"{name}.csv", keep_default_na=False, na_values=[""])
        assert len(csv) == len(getattr(result, name)) and list(csv.columns) == list(getattr(result, name).columns)
    assert (tmp_path / "parquet" / "summary.csv").read_bytes() == (tmp_path / "csv" / "summary.csv").read_bytes()
    # Dictionaries for the names only (resilsim.result.parquet_options): times are written plain.
    import pyarrow.parquet as pq
    group = pq.ParquetFile(tmp_path / "parquet" / "attempts.parquet").metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: " ".join(group.column(i).encodings) for i in range(group.num_columns)}
    assert "DICTIONARY" in encodings["code"] and "DICTIONARY" in encodings["strategy"]
    assert "DICTIONARY" not in encodings["start"] and "DICTIONARY" not in encodings["end"]


def test_run_formats_are_the_writers(capsys):
    from resilsim import cli, result

    assert cli.TABLE_FORMATS == result.TABLE_FORMATS  # restated in cli.py so that --help imports no pandas


def test_import_and_help_load_no_heavy_library():
    import subprocess
    import sys

    heavy = ("pandas", "numpy", "matplotlib", "simpy", "pydantic", "pyarrow")
    probe = ("import sys, resilsim, resilsim.cli\n"
             "try:\n    resilsim.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
             f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "[]"


def test_the_public_names_load_on_first_use():
    import resilsim
    import resilsim.sweep.run  # binds the subpackage on resilsim: the public name must stay the function

    from resilsim.sweep import sweep
    assert resilsim.sweep is sweep and resilsim.simulate.__name__ == "simulate"
    assert set(resilsim.__all__) <= set(dir(resilsim))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        resilsim.nothing


def test_bad_file_is_one_sentence_and_exit_2(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text(SCENARIO.replace("workers: 4", "workers: -4"))
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"resilsim: {p}:5: service.workers: Input should be greater than or equal to 1 (got -4)"
    assert "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("api: nowhere\n")
    from resilsim import ScenarioError
    with pytest.raises(ScenarioError):
        main(["--debug", "validate", str(p)])


def test_missing_file_and_bad_override(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    p = tmp_path / "t.yaml"
    p.write_text(SCENARIO)
    assert main(["run", str(p), "--set", "service.workers"]) == 2
    assert "must look like dotted.key=value" in capsys.readouterr().err


def test_version_prints_the_package_version(capsys):
    import resilsim
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"resilsim {resilsim.__version__}"


@pytest.mark.parametrize("command", ["run", "validate", "catalog", "schema", "presets", "sweep", "plan", "report",
                                     "fit"])
def test_every_option_has_help_and_every_command_an_example(command):
    from resilsim.cli import _parser
    choices = next(a for a in _parser()._actions if a.dest == "command").choices
    assert sorted(choices) == sorted(["run", "validate", "catalog", "schema", "presets", "sweep", "plan", "report",
                                      "fit"])  # a new command joins the list above
    sub = choices[command]
    assert "example" in (sub.epilog or ""), command
    # Every example parses as written (a trailing "(...)" or "> file" is prose or the shell's, not the command's).
    import shlex
    examples = [line.strip() for line in sub.epilog.splitlines() if line.strip().startswith("resilsim ")]
    assert examples, command
    for line in examples:
        words = shlex.split(line.split("  (")[0].split(" > ")[0])
        try:
            _parser().parse_args(words[1:])
        except SystemExit as e:
            assert e.code == 0, f"example does not parse: {line}"
    for action in sub._actions:
        assert action.help, f"{command} {action.option_strings or action.dest} has no help text"


def test_validate_recognises_a_sweep_definition(tmp_path, capsys):
    from pathlib import Path
    capacity = Path(__file__).resolve().parents[1] / "scenarios" / "sweeps" / "capacity.yaml"
    assert main(["validate", str(capacity)]) == 0
    assert "ok (sweep of counters-rate-limited: 6 points × 3 replications" in capsys.readouterr().out
    (tmp_path / "tiny.yaml").write_text(SCENARIO)
    bad = tmp_path / "sweep.yaml"
    bad.write_text("scenario: tiny.yaml\ngrid: {service.wokers: [1, 2]}\n")
    assert main(["validate", str(bad)]) == 2
    assert "'service.wokers' is not a field of the scenario" in capsys.readouterr().err


def test_run_table_fits_100_columns_unless_wide(tmp_path, capsys):
    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    assert main(["run", str(p), "--out", str(tmp_path / "o"), "--no-charts", "--set", "duration=10"]) == 0
    narrow = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("wrote ")]
    assert max(map(len, narrow)) <= 100
    assert any("--wide prints them" in line for line in narrow)
    header = next(line for line in narrow if "success_rate" in line)
    assert "amplification" in header and "wasted_s" not in header
    assert main(["run", str(p), "--out", str(tmp_path / "o"), "--no-charts", "--set", "duration=10", "--wide"]) == 0
    wide = capsys.readouterr().out
    assert "wasted_s" in wide and "--wide" not in wide


@pytest.mark.parametrize("command", [["catalog", "nanostream"], ["catalog", "analytics"], ["presets"]])
def test_catalog_and_presets_fit_100_columns_unless_wide(command, capsys):
    assert main(command) == 0
    narrow = capsys.readouterr().out.splitlines()
    assert max(map(len, narrow)) <= 100, max(narrow, key=len)
    assert "--wide or --format csv prints everything" in " ".join(narrow[-3:])
    assert main([*command, "--wide"]) == 0
    wide = capsys.readouterr().out.splitlines()
    assert max(map(len, wide)) > 100 and "…" not in "".join(wide)  # every column, whole texts


def test_fit_table_cuts_long_texts_before_leaving_columns_out():
    import pandas as pd

    from resilsim.cli import fit_table
    df = pd.DataFrame({"code": ["A", "B"], "n": [1, 2], "message": ["x" * 90, "short"], "tail": ["t", "u"]})
    text, hidden, cut = fit_table(df, width=80, index=False)
    assert cut and hidden == [] and "x" * 59 + "…" in text and max(map(len, text.splitlines())) <= 80
    text, hidden, cut = fit_table(df[["code", "n"]], width=80, index=False)
    assert not cut and hidden == []  # nothing to cut: not said


def test_sweep_table_fits_100_columns_and_report_writes_into_the_directory(tmp_path, capsys, monkeypatch):
    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    out = tmp_path / "sw"
    assert main(["sweep", str(p), "--grid", "service.workers=2,3", "--set", "duration=10", "--inprocess",
                 "--no-progress", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[:lines.index(next(line for line in lines if line.startswith("(")))]
    assert max(map(len, table)) <= 100 and "service.workers" in table[1] and "success_rate" in table[1]
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").exists() and not (tmp_path / "report.html").exists()


def test_validation_table_goes_to_build_not_the_demos_out(tmp_path):
    from types import SimpleNamespace

    from tests.validation import conftest as validation
    validation.ROWS.append({"item": 1, "check": "c", "source": "s", "expected": 1.0, "measured": 1.0,
                            "tolerance": 0.1, "pass": True})
    try:
        validation.pytest_sessionfinish(SimpleNamespace(config=SimpleNamespace(rootpath=tmp_path)), 0)
    finally:
        validation.ROWS.pop()
    assert (tmp_path / "build" / "validation.md").is_file()
    assert not (tmp_path / "out").exists()


def test_option_errors_are_usage_errors_not_scenario_errors():
    # A bad option says nothing against the scenario file: a caller catching ScenarioError must not catch it.
    from resilsim import ScenarioError, UsageError
    from resilsim.cli import _values
    from resilsim.sweep.plan import parse_slo
    with pytest.raises(UsageError, match=r"^--grid: a value is not valid YAML") as e:
        _values("[" * 60 + "]" * 60, "--grid")
    assert not isinstance(e.value, ScenarioError)
    with pytest.raises(UsageError, match=r"^--slo: SLO 'latency' must look like"):
        parse_slo(["latency"])


def test_run_with_chart_workers_writes_the_same_files(tmp_path, capsys):
    """Charts drawn in a worker process (`--chart-workers 1`) are the files drawn in the command's own (0)."""
    import json

    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    metas = []
    for n in ("0", "1"):
        assert main(["run", str(p), "--seed", "2", "--out", str(tmp_path / n), "--set", "duration=20",
                     "--chart-workers", n]) == 0
        metas.append(json.loads((tmp_path / n / "run.json").read_text())["files"])
    assert list(metas[0]) == list(metas[1]) and "latency_cdf.png" in metas[0]
    assert metas[0] == metas[1]  # same names, sizes and checksums, in the same order
    assert main(["run", str(p), "--chart-workers", "-1"]) == 2


def test_resilsim_run_measures_idle_cores_over_its_start(tmp_path, monkeypatch):
    """`resilsim run` takes a reading before it loads the scenario and asks idle_cores about that window (not the
    1-minute load average alone)."""
    from resilsim import cpu
    from resilsim.sim import workers

    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    seen = []
    monkeypatch.setattr(cpu, "cpu_sample", lambda: ("reading",))
    monkeypatch.setattr(workers, "idle_cores", lambda since=None, now=None: seen.append(since) or 1)
    assert main(["run", str(p), "--set", "duration=5", "--no-charts", "--out", str(tmp_path / "out")]) == 0
    assert seen == [("reading",)]


_CONSOLE = """
import atexit, sys
atexit.register(lambda: print("atexit ran", file=sys.stderr))
from resilsim.cli import console
sys.argv = ["resilsim", *sys.argv[1:]]
console()
"""


def test_a_finished_run_ends_without_the_interpreters_teardown(tmp_path):
    """`resilsim run` (console()) ends the process at once once its folder is written: its output all there, its
    exit status kept, exit handlers skipped (the teardown they stand for took 0.15-0.25 s); a failed run and
    other commands exit as usual."""
    import subprocess
    import sys

    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)

    def console(*argv):
        return subprocess.run([sys.executable, "-c", _CONSOLE, *argv], capture_output=True, text=True,
                              env={**os.environ, "MPLBACKEND": "Agg"})

    done = console("run", str(p), "--set", "duration=5", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "atexit ran" not in done.stderr
    assert done.stdout.rstrip().endswith(f"run.json to {tmp_path / 'out'}/")  # flushed before the exit
    assert (tmp_path / "out" / "run.json").exists() and (tmp_path / "out" / "latency_cdf.png").exists()
    failed = console("run", str(tmp_path / "missing.yaml"))
    assert failed.returncode == 2 and "atexit ran" in failed.stderr
    other = console("catalog", "counters", "--format", "csv")
    assert other.returncode == 0 and "atexit ran" in other.stderr
    # under a profiler the run exits as usual, so that the profile is written at exit
    profiled = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(tmp_path / "prof"), "-m", "resilsim", "run",
                               str(p), "--set", "duration=5", "--no-charts", "--out", str(tmp_path / "out2")],
                              capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    assert profiled.returncode == 0 and (tmp_path / "prof").stat().st_size > 0, profiled.stderr


def test_console_skips_the_teardown_only_after_a_run_that_wrote_its_folder(tmp_path, monkeypatch, capsys):
    """console() hands the status to _exit_now (the exit without teardown) after a written run, else to sys.exit alone:
    the run says so in what it returns (in-process, the quick twin of the subprocess test above)."""
    import sys

    from resilsim import cli

    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    ended = []
    monkeypatch.setattr(cli, "_exit_now", ended.append)  # returns, so console() goes on to sys.exit

    def console(*argv):
        ended.clear()
        monkeypatch.setattr(sys, "argv", ["resilsim", *argv])
        with pytest.raises(SystemExit) as e:
            cli.console()
        return e.value.code, list(ended)

    assert console("run", str(p), "--set", "duration=5", "--no-charts", "--out", str(tmp_path / "out")) == (0, [0])
    assert console("run", str(tmp_path / "missing.yaml")) == (2, [])
    assert console("catalog", "counters", "--format", "csv") == (0, [])
    assert console("run", "--no-such-option") == (2, [])


def test_a_run_whose_reader_leaves_still_writes_its_folder(tmp_path):
    """`resilsim run ... | head -1`: the reader of stdout goes after the first line. The summary it no longer reads
    is dropped, but the folder (what the command is for) is written, and the status is 0 with nothing on stderr.
    (Before: the broken pipe ended the run before its folder, with status 1 and no word.)"""
    import subprocess
    import sys

    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    proc = subprocess.Popen([sys.executable, "-m", "resilsim", "run", str(p), "--set", "duration=5", "--no-charts",
                             "--out", str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "MPLBACKEND": "Agg"})
    proc.stdout.readline()  # the first line, then the reader leaves
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert err == ""
    assert (tmp_path / "out" / "run.json").exists() and (tmp_path / "out" / "summary.csv").exists()


def _forked_chart_path(tmp_path, monkeypatch):
    """The tiny scenario's file, with `resilsim run` set to draw its charts in a forked process and this one
    (chart_pool.ForkedCharts) whatever this machine's cores (no spawned chart pool, from 4 cores the default)."""
    import multiprocessing

    from resilsim import chart_pool

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork here")
    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    monkeypatch.setattr(chart_pool, "fork_helper", lambda requested=None, idle=None: requested is None)
    monkeypatch.setattr(chart_pool, "pool_workers", lambda requested=None: requested or 0)
    return p


def test_run_in_worker_processes_and_a_forked_chart_process_writes_the_same_files(tmp_path, monkeypatch):
    """`--processes 2` with the charts shared with a forked process (the 2-core default) writes the files of
    `--processes 1 --chart-workers 0` (everything in this process), byte for byte (run.json's checksums)."""
    import json
    from resilsim import chart_pool

    p = _forked_chart_path(tmp_path, monkeypatch)
    forks = []
    real = chart_pool.ForkedCharts

    def counted(*args, **kw):
        forks.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(chart_pool, "ForkedCharts", counted)
    files = []
    for name, extra in (("serial", ["--processes", "1", "--chart-workers", "0"]), ("parallel", ["--processes", "2"])):
        assert main(["run", str(p), "--seed", "4", "--out", str(tmp_path / name), "--set", "duration=20", *extra]) == 0
        files.append(json.loads((tmp_path / name / "run.json").read_text())["files"])
    assert files[0] == files[1] and "latency_bands.png" in files[0]
    assert forks == [1]  # the parallel run forked its chart process; the serial one did not
    assert main(["run", str(p), "--processes", "0"]) == 2


def test_run_shares_the_charts_with_the_forked_process_as_each_comes_free(tmp_path, monkeypatch):
    """While this process writes the tables, the forked chart process goes on from chart to chart: with tables
    that take until it has drawn every chart, this process draws none (split in advance, it drew a fixed share
    after the tables, up to 0.2 s after the forked process had finished, on aurora); either way every chart is
    drawn once."""
    import time

    from resilsim import chart_pool, plots
    from resilsim.result import Result

    p = _forked_chart_path(tmp_path, monkeypatch)
    drawn = {}
    real_rest, real_wait = chart_pool.ForkedCharts.draw_rest, chart_pool.ForkedCharts.wait
    monkeypatch.setattr(chart_pool.ForkedCharts, "draw_rest",
                        lambda self, result: drawn.setdefault("here", real_rest(self, result)))
    monkeypatch.setattr(chart_pool.ForkedCharts, "wait", lambda self: drawn.setdefault("there", real_wait(self)))
    real_tables = Result.write_tables

    def slow_tables(self, folder, *a, **kw):
        paths = real_tables(self, folder, *a, **kw)
        names = [name for name, _ in plots.run_charts(self)]
        deadline = time.monotonic() + 120
        while not all((folder / f"{n}.png").exists() for n in names) and time.monotonic() < deadline:
            time.sleep(0.02)
        return paths

    monkeypatch.setattr(Result, "write_tables", slow_tables)
    assert main(["run", str(p), "--seed", "4", "--out", str(tmp_path / "slow"), "--set", "duration=20",
                 "--processes", "1"]) == 0
    names = sorted(f.stem for f in (tmp_path / "slow").glob("*.png"))
    assert len(names) >= 5
    assert drawn["here"] == [] and sorted(drawn["there"]) == sorted(names), drawn
    monkeypatch.setattr(Result, "write_tables", real_tables)
    drawn.clear()
    assert main(["run", str(p), "--seed", "4", "--out", str(tmp_path / "fast"), "--set", "duration=20",
                 "--processes", "1"]) == 0
    assert sorted(drawn["here"] + drawn["there"]) == sorted(names), drawn


def test_run_imports_without_collections_and_freezes_what_lives_long(tmp_path, monkeypatch):
    """`resilsim run` turns the cyclic collector off while it imports and loads (cli._LongLived), freezes what that
    made, and gives the collector back as it found it: on, nothing frozen."""
    import gc

    from resilsim import cli
    from resilsim.sim import run as sim_run

    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    states = []  # (collector on, objects frozen) as each strategy starts, and as the summary is printed
    real_run_one, real_fit = sim_run._run_one, cli.fit_columns

    def spy_run(*a, **k):
        states.append((gc.isenabled(), gc.get_freeze_count()))
        return real_run_one(*a, **k)

    def spy_fit(*a, **k):
        states.append((gc.isenabled(), gc.get_freeze_count()))
        return real_fit(*a, **k)

    import resilsim.scenario
    real_load, loading = resilsim.scenario.load_scenario, []

    def spy_load(*a, **k):
        loading.append(gc.isenabled())
        return real_load(*a, **k)

    monkeypatch.setattr(sim_run, "_run_one", spy_run)
    monkeypatch.setattr(cli, "fit_columns", spy_fit)
    monkeypatch.setattr(resilsim.scenario, "load_scenario", spy_load)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert main(["run", str(p), "--seed", "2", "--out", str(tmp_path / "o"), "--set", "duration=10",
                 "--processes", "1", "--no-charts"]) == 0
    assert loading == [False]  # the scenario loaded with the collector off
    assert len(states) == 3 and all(on and frozen > 0 for on, frozen in states), states
    # the result frozen too before the folder is written (without that freeze the count fell: objects frozen at
    # import died by then)
    assert states[-1][1] > states[0][1]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    # a run that fails, while importing or after, or is interrupted: the collector given back all the same
    assert main(["run", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "m")]) == 2
    assert gc.isenabled() and gc.get_freeze_count() == 0

    def interrupted(*a, **k):
        assert not gc.isenabled()
        raise KeyboardInterrupt

    monkeypatch.setattr(resilsim.scenario, "load_scenario", interrupted)
    assert main(["run", str(p), "--out", str(tmp_path / "i")]) == 130
    assert gc.isenabled() and gc.get_freeze_count() == 0

    long_lived = cli._LongLived()
    with long_lived.importing():
        assert not gc.isenabled()
        made = [[] for _ in range(100)]
    assert gc.isenabled() and gc.get_freeze_count() > 0 and made
    long_lived.close()
    assert gc.get_freeze_count() == 0
    gc.disable()  # a caller's collector off: left off, nothing frozen
    try:
        off = cli._LongLived()
        with off.importing():
            pass
        off.freeze()
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_fit_columns_binary_search_keeps_what_the_scan_kept():
    """Twin test: fit_columns finds the most columns that fit by bisection; the plain scan from all columns down
    is the reference (same text, same hidden columns), on frames of many widths and a summary's own columns."""
    import numpy as np
    import pandas as pd

    from resilsim import cli

    def scan(df, width, fmt=lambda v: f"{v:.4g}"):
        order = [c for c in cli.MAIN_COLUMNS if c in df.columns] + [c for c in df.columns if c not in cli.MAIN_COLUMNS]
        for n in range(len(order), 0, -1):
            text = df[order[:n]].to_string(float_format=fmt)
            if max(map(len, text.splitlines())) <= width or n == 1:
                return text, order[n:]

    rng = np.random.default_rng(5)
    for _ in range(150):
        k, rows = int(rng.integers(1, 22)), int(rng.integers(1, 6))
        names = [*cli.MAIN_COLUMNS[: int(rng.integers(0, 4))], *(f"c{i}" * int(rng.integers(1, 4)) for i in range(k))]
        df = pd.DataFrame({c: rng.lognormal(0, 5, rows) for c in names},
                          index=pd.Index([f"s{j}" * int(rng.integers(1, 5)) for j in range(rows)], name="strategy"))
        width = int(rng.integers(5, 200))
        assert cli.fit_columns(df, width=width) == scan(df, width)
