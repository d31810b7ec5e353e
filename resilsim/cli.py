"""The command line: ``resilsim run | validate | catalog | schema | presets | sweep | plan | report | fit``.

Bad input gets one sentence naming the file, the field and what is allowed,
and exit status 2; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from pathlib import Path

EXIT_USAGE = 2
#: Exit statuses (docs/reliability.md): 0 done; 1 internal error or broken invariant (a bug: report it);
#: 2 bad input, bad usage or an unusable output directory; 3 finished, but some results are partial or
#: missing (a run stopped at a scenario limit, or sweep runs failed); 130 interrupted.
EXIT_BUG = 1
EXIT_PARTIAL = 3
#: Made before it is needed: printing it must not need memory the process no longer has.
_OUT_OF_MEMORY = ("resilsim: out of memory; give the scenario a lower limits.max_memory_mb so the run is refused "
                  "or stopped first, or shorten it (duration, arrival rate, strategies)\n")
#: What `run --format` takes (resilsim.result.TABLE_FORMATS, restated so that `--help` imports no pandas;
#: tests/test_cli.py checks that the two agree).
TABLE_FORMATS = ("parquet", "csv")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2), like every other bad input."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _int_at_least(minimum: int, what: str):
    """An argparse type: an integer ≥ ``minimum``, else the message "must be ``what``"."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value
    return parse


#: argparse type: an integer ≥ 0 (seeds).
non_negative_int = _int_at_least(0, "a non-negative integer")
#: argparse type: an integer ≥ 1 (replications, workers).
positive_int = _int_at_least(1, "a positive integer")


def folder(text: str) -> str:
    """argparse type: a folder or file name, never empty (an empty --out would write into the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a folder, got {text!r}")
    return text


def _parser() -> argparse.ArgumentParser:
    from . import __version__
    p = _Parser(prog="resilsim", description="Simulate clients, retry strategies and an API's real error codes.",
                epilog="example: resilsim run scenarios/analytics-aurora-scale-up.yaml --out out  "
                       "(`resilsim COMMAND --help` shows each command's options and an example)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                   help="print the version and exit")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="simulate every strategy of a scenario and print the comparison",
                         description="Simulate every strategy of a scenario on the same random numbers, print the "
                                     "comparison table and write tables, charts and run.json into --out.",
                         epilog="examples:\n"
                                "  resilsim run scenarios/analytics-aurora-scale-up.yaml --out out\n"
                                "  resilsim run scenarios/analytics-aurora-scale-up.yaml --set duration=600 "
                                "--strategy none --strategy docs\n"
                                "  resilsim run scenarios/analytics-aurora-scale-up.yaml "
                                "--set strategies.lib.retry=urllib3 --wide",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--seed", type=non_negative_int, default=0, help="root seed (default 0)")
    run.add_argument("--out", type=folder, default="out", help="directory for the tables and charts (default: out)")
    run.add_argument("--format", choices=TABLE_FORMATS, default="parquet",
                     help="format of the requests, attempts and timeline tables (default: parquet; the summary "
                          "is always summary.csv)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a field by dotted path, e.g. --set service.workers=16, or add a strategy: "
                          "--set strategies.lib.retry=urllib3 (repeatable)")
    run.add_argument("--strategy", action="append", default=None, metavar="NAME",
                     help="run only this strategy of the scenario (repeatable)")
    run.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    run.add_argument("--chart-workers", type=non_negative_int, default=None, metavar="N",
                     help="processes that draw the charts while the tables are written, started while the "
                          "simulation runs so that matplotlib loads meanwhile (default: 2 with 4 cores or more; "
                          "with 2 or 3, when 2 are idle, one process forked after the simulation draws part of the "
                          "charts beside this one; 0: all drawn in this process after the tables)")
    run.add_argument("--processes", type=positive_int, default=None, metavar="N",
                     help="worker processes that simulate the strategies side by side (default: one per idle "
                          "core, the cores less what other processes used while this command started, at most one per "
                          "strategy; 1: one after another in this process). The tables are the same whatever N")
    run.add_argument("--summary-only", action="store_true",
                     help="keep time-binned counts and latency histograms, not a row per request and attempt: "
                          "memory stays flat for long runs; writes summary.csv and the timeline (percentiles "
                          "within 0.1 %%)")
    run.add_argument("--stream", action="store_true",
                     help="as --summary-only, and also write every request and attempt row to Parquet as the run "
                          "goes: the rows of a long run in flat memory (request rows in the order they finished)")
    run.add_argument("--wide", action="store_true",
                     help=f"print every column of the table (default: the main ones, fitting {TABLE_WIDTH} columns)")

    val = sub.add_parser("validate", help="check scenario files and sweep definitions without running them",
                         description="Check scenario files (and sweep definitions: scenario, grid, replications) "
                                     "without running them; one line per file, exit 2 at the first bad one.",
                         epilog="examples:\n  resilsim validate scenarios/*.yaml scenarios/sweeps/capacity.yaml\n"
                                "  resilsim validate scenarios/analytics-aurora-scale-up.yaml --set service.workers=16",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    val.add_argument("scenarios", nargs="+", help="scenario YAML files or sweep definitions")
    val.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="check with this field overridden by dotted path, e.g. --set service.workers=16 (repeatable)")

    cat = sub.add_parser("catalog", help="print an API's error codes",
                         description="Print an API's error codes: HTTP status, name, category, retry advice, "
                                     "message and resolution from its source document.",
                         epilog="examples:\n  resilsim catalog analytics\n  resilsim catalog counters --format csv",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    cat.add_argument("api", help="analytics | nanostream | counters | path to a catalog YAML")
    cat.add_argument("--format", choices=("table", "csv"), default="table",
                     help="table: aligned text for reading (default); csv: for a spreadsheet or pandas")
    cat.add_argument("--wide", action="store_true", help=f"print every column and whole texts (default: what fits {TABLE_WIDTH} columns)")

    sch = sub.add_parser("schema", help="print the JSON Schema of scenario files",
                         description="Print the JSON Schema of scenario files, generated from the scenario models, "
                                     "for editors that validate and complete YAML (yaml-language-server).",
                         epilog="example:\n  resilsim schema > scenario.schema.json\n"
                                "then start a scenario file with:\n"
                                "  # yaml-language-server: $schema=scenario.schema.json",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    sch.add_argument("--indent", type=non_negative_int, default=2, help="spaces of JSON indentation (default 2)")

    pre = sub.add_parser("presets", help="list every retry preset with its library, version, source and parameters",
                         epilog="examples:\n  resilsim presets\n  resilsim presets --format csv > presets.csv",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    pre.add_argument("--format", choices=("table", "csv"), default="table",
                     help="table: aligned text for reading (default); csv: for a spreadsheet or pandas")
    pre.add_argument("--wide", action="store_true", help=f"print every column and whole texts (default: what fits {TABLE_WIDTH} columns)")

    _add_sweep_parsers(sub)
    return p


def _add_sweep_parsers(sub) -> None:
    """The ``sweep``, ``plan`` and ``report`` subcommands."""
    sw = sub.add_parser("sweep", help="run a scenario over a grid of parameters, resumably, into --out",
                        epilog="examples:\n"
                               "  resilsim sweep scenarios/counters-rate-limited.yaml --grid service.workers=4,8,16 "
                               "--replications 3 --out sweep-out\n"
                               "  resilsim sweep scenarios/sweeps/capacity.yaml --out capacity  (a sweep definition)\n"
                               "  rerunning the same command resumes: finished runs are kept",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sw.add_argument("scenario", help="scenario YAML file, or a sweep definition (scenario:, grid:, replications:)")
    sw.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                    help="a swept dotted key and its values, e.g. --grid service.workers=4,8,16 (repeatable)")
    sw.add_argument("--zip", action="store_true", help="zip the grids (point i takes every key's i-th value)")
    sw.add_argument("--sample", action="append", default=[], metavar="KEY=LO:HI",
                    help="sample a dotted key over [LO, HI] instead of a grid (repeatable; ints stay ints)")
    sw.add_argument("--samples", type=positive_int, default=20, help="points drawn with --sample (default 20)")
    sw.add_argument("--method", choices=("latin", "random"), default="latin",
                    help="how --sample draws: Latin hypercube (default) or independent uniform")
    sw.add_argument("--replications", type=positive_int, default=None, help="runs per grid point (default 1, or the file's)")
    sw.add_argument("--workers", type=positive_int, default=None,
                    help="local worker processes (default: every core; at most one per run and per core)")
    sw.add_argument("--force-workers", action="store_true", help="start --workers processes even beyond the cores")
    sw.add_argument("--dask", metavar="ADDRESS", default=None, help="use the Dask scheduler at ADDRESS ('local' starts one)")
    sw.add_argument("--inprocess", action="store_true", help="run in this process (for debugging)")
    sw.add_argument("--out", type=folder, required=True, help="results directory (rerun into it to resume)")
    sw.add_argument("--seed", type=non_negative_int, default=None, help="root seed (default 0)")
    sw.add_argument("--warmup", choices=("scenario", "mser5"), default="scenario",
                    help="measure from the scenario's warm-up or the MSER-5 detected one")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")
    sw.add_argument("--wide", action="store_true", help=f"print every column and whole texts (default: what fits {TABLE_WIDTH} columns)")
    _add_scenario_options(sw)

    pl = sub.add_parser("plan", help="least capacity (or most load) meeting an SLO, per strategy",
                        epilog="examples:\n"
                               "  resilsim plan scenarios/analytics-aurora-scale-up.yaml --vary service.workers "
                               "--over 8,64 --slo 'success_rate>=0.99'\n"
                               "  resilsim plan scenarios/analytics-aurora-scale-up.yaml --vary service.workers "
                               "--over 8,64 --slo 'success_rate>=0.75' --window incident:aurora-scale-up\n"
                               "  resilsim plan scenarios/analytics-aurora-db-service.yaml --vary services.aurora.workers "
                               "--over 4,32 --slo 'svc.aurora.success_rate>=0.99' --window incident:aurora-scale-up\n"
                               "  resilsim plan scenarios/counters-rate-limited.yaml --vary clients.arrival.poisson.rate "
                               "--over 10,200 --slo 'success_rate>=0.99' --direction max --out plan-out",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    pl.add_argument("scenario", help="scenario YAML file")
    pl.add_argument("--vary", required=True, metavar="KEY", help="dotted key to vary, e.g. service.workers")
    pl.add_argument("--over", required=True, metavar="LO,HI", help="range searched, e.g. 1,64 (ints bisect over integers)")
    pl.add_argument("--slo", action="append", required=True, metavar="METRIC<=X",
                    help="e.g. 'success_rate>=0.999' or 'p99_s<=2', quoted for the shell (repeatable); a service "
                         "behind the API: 'svc.NAME.METRIC', e.g. 'svc.aurora.success_rate>=0.99' (docs/sweeps.md)")
    pl.add_argument("--replications", type=positive_int, default=5, help="replications per value tried (default 5)")
    pl.add_argument("--precision", action="append", default=[], metavar="METRIC=HALFWIDTH",
                    help="add replications until every 95%% interval of METRIC is this narrow, e.g. "
                         "success_rate=0.005 (repeatable)")
    pl.add_argument("--max-replications", type=positive_int, default=40,
                    help="cap on replications per value with --precision (default 40)")
    pl.add_argument("--direction", choices=("min", "max"), default="min",
                    help="min: least value meeting the SLO (capacity); max: largest (load)")
    pl.add_argument("--seed", type=non_negative_int, default=0,
                    help="root seed (default 0); every value tried runs on the same seeds")
    pl.add_argument("--workers", type=positive_int, default=None,
                    help="local worker processes (default: every core; at most one per run and per core)")
    pl.add_argument("--out", type=folder, default=None, metavar="DIR",
                    help="also write plan.json and scenario.yaml into DIR, for `resilsim report DIR`")
    pl.add_argument("--no-progress", action="store_true", help="no progress bar")
    pl.add_argument("--wide", action="store_true", help=f"print every column and whole texts (default: what fits {TABLE_WIDTH} columns)")
    _add_scenario_options(pl)

    rp = sub.add_parser("report", help="write one self-contained HTML report of a run or sweep directory",
                        epilog="examples:\n  resilsim report out                 (writes out/report.html)\n"
                               "  resilsim report sweep-out -o review.html",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    rp.add_argument("path", help="a `resilsim run --out` or `resilsim sweep --out` directory")
    rp.add_argument("-o", "--output", type=folder, default=None,
                    help="HTML file to write (default: report.html inside the directory reported on)")


    ft = sub.add_parser("fit", help="fit arrivals, latency and error rates of an access log; print a scenario fragment",
                        epilog="example:\n  resilsim fit scenarios/data/synthetic-access-log.csv --curve-out curve.csv",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ft.add_argument("log", help="CSV access log with a header: timestamp, latency (seconds), status and/or code")
    ft.add_argument("--bin", type=float, default=60.0, metavar="SECONDS",
                    help="bin of the arrival curve, seconds (default: 60)")
    ft.add_argument("--curve-out", default=None, metavar="CSV",
                    help="where to write the arrival curve (default: beside the log, LOG.curve.csv)")
    ft.add_argument("--operation", default="op", help="the operation name in the fragment (default: op)")


def _add_scenario_options(p) -> None:
    """--set, --strategy and --window, shared by ``sweep`` and ``plan``."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario field before the grid, e.g. --set duration=600 (repeatable)")
    p.add_argument("--strategy", action="append", default=None, metavar="NAME",
                   help="only this strategy of the scenario (repeatable)")
    p.add_argument("--window", default=None, metavar="WINDOW",
                   help="what the metrics measure: run (after the warm-up; default), incident:NAME, "
                        "incident:all, or START,END in seconds")


def console() -> None:
    """The ``resilsim`` command and ``python -m resilsim``: :func:`main` on ``sys.argv``, then exit with its status
    (at once, without the interpreter's teardown, after a ``run`` that wrote its folder)."""
    rc, written = _main()
    if written:
        _exit_now(rc)
    sys.exit(rc)


def _exit_now(rc: int) -> None:
    # Why: after `resilsim run` the interpreter's own exit frees the run's tables (~300 MB on the aurora scenario)
    # and every module one by one, 0.15-0.25 s the user waits for with nothing left to do (benchmarks/RESULTS.md).
    # By now the folder is written and renamed into place (run_folder.write_run_dir) and every worker process
    # joined, so: flush, and end the process at once. Not with a child process still alive (multiprocessing's
    # exit handler would end or join it), nor under a profiler or tracer (`python -m cProfile -m resilsim run`,
    # coverage: they write their results at exit), nor after other commands (a sweep's Dask cluster closes at exit).
    import multiprocessing
    import os

    monitoring = getattr(sys, "monitoring", None)  # Python 3.12+: coverage and debuggers register a tool there
    if sys.getprofile() is not None or sys.gettrace() is not None or (
            monitoring is not None and any(monitoring.get_tool(i) for i in range(6))):
        sys.exit(rc)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # a reader gone (| head), no stdout: the ordinary exit
        sys.exit(rc)
    if multiprocessing.active_children():
        sys.exit(rc)
    os._exit(rc)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: sys.argv[1:]); return the exit status."""
    return _main(argv)[0]


def _main(argv: list[str] | None = None) -> tuple[int, bool]:
    """:func:`main`'s exit status, and whether the command was a ``run`` that wrote its folder (:func:`console` may
    then end the process without the interpreter's teardown)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0), False
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(warnings.showwarning)
            return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130, False
    except MemoryError:
        # Nothing is formatted from the exception: its frames (and the run's tables) go with it first.
        sys.stderr.write(_OUT_OF_MEMORY)
        return EXIT_BUG, False
    except Exception as e:  # noqa: BLE001 - the one place that turns errors into sentences
        if args.debug:
            raise
        return _error_status(e), False


def _error_status(e: Exception) -> int:
    """Say ``e`` (an error no command handled) in one line on stderr; return its exit status."""
    from .errors import InvariantError, ResilsimError
    if isinstance(e, InvariantError):
        print(f"resilsim: {e}", file=sys.stderr)
        return EXIT_BUG
    if isinstance(e, ResilsimError):
        print(f"resilsim: {e}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(e, BrokenPipeError):  # `resilsim catalog analytics | head`: the reader left, say nothing
        _stdout_to_devnull()
        return 1
    if isinstance(e, OSError):
        where = f"{e.filename}: " if e.filename else ""
        print(f"resilsim: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"resilsim: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
          file=sys.stderr)
    return 1


def _stdout_to_devnull() -> None:
    """Send what is still to be printed nowhere, after the reader of stdout left (a broken pipe): Python would
    otherwise fail again when it flushes stdout at exit."""
    import os
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real stdout (a test's StringIO): nothing to redirect
        pass


def _one_line_warning(default):
    """A ``warnings.showwarning`` that prints resilsim's own warnings as one ``resilsim: ...`` line."""
    from .errors import ScenarioWarning, StoreWarning

    def show(message, category, *rest, **kw):
        if issubclass(category, (StoreWarning, ScenarioWarning)):
            print(f"resilsim: {message}", file=sys.stderr)
        else:
            default(message, category, *rest, **kw)
    return show


def _dispatch(args) -> tuple[int, bool]:
    """The command's exit status, and whether it was a ``run`` that wrote its folder (only :func:`_run` says so)."""
    if args.command == "run":
        return _run(args)
    command = {"schema": _schema, "catalog": _catalog, "presets": _presets, "validate": _validate,
               "report": _report, "sweep": _sweep, "plan": _plan, "fit": _fit}[args.command]
    return command(args), False


def _fit(args) -> int:
    from .files import atomic_bytes
    from .fit import fit_log
    fit = fit_log(args.log, args.bin)
    out = Path(args.curve_out) if args.curve_out else Path(args.log).with_suffix(".curve.csv")
    atomic_bytes(out, fit.curve_csv().encode())
    print(f"# wrote the arrival curve to {out}")
    print(fit.fragment(str(out), args.operation), end="")
    return 0


def _catalog(args) -> int:
    from .catalog import load_catalog
    return _print_frame(load_catalog(args.api).to_frame(), args.format, args.wide)


def _presets(args) -> int:
    import pandas as pd

    from .policies.library import preset_rows as library_rows
    from .policies.presets import preset_rows as doc_rows
    return _print_frame(pd.DataFrame(doc_rows() + library_rows()), args.format, args.wide)


def _print_frame(df, fmt: str, wide: bool = False) -> int:
    """Print ``df`` as CSV (``fmt == "csv"``), as a plain table of every column and whole texts (``wide``), or
    fitted to :data:`TABLE_WIDTH` columns (:func:`print_fitted`); exit status 0."""
    if fmt == "csv":
        df.to_csv(sys.stdout, index=False)
    elif wide:
        import pandas as pd
        with pd.option_context("display.max_rows", None, "display.max_colwidth", None, "display.width", None,
                               "display.max_columns", None):
            print(df.to_string(index=False))
    else:
        import pandas as pd
        with pd.option_context("display.max_rows", None):
            print_fitted(df, index=False, extra="--format csv")
    return 0


def _schema(args) -> int:
    import json

    from .scenario.reference import json_schema
    print(json.dumps(json_schema(), indent=args.indent or None, ensure_ascii=False))
    return 0


def _validate(args) -> int:
    from .scenario import load_scenario
    for path in args.scenarios:
        definition = read_definition(path)
        if definition is None:
            s = load_scenario(Path(path), overrides=args.overrides)
            print(f"{path}: ok ({s.name}: {len(s.strategies)} strategies, {s.duration:g} s)")
            continue
        from .scenario import given_fields, with_overrides
        from .sweep import as_grid, check_grid
        s = load_scenario(Path(definition["scenario"]), overrides=definition.get("overrides") or None)
        s = with_overrides(s, args.overrides) if args.overrides else s
        grid = as_grid(definition["grid"], bool(definition.get("zip")))
        check_grid(given_fields(s), grid)
        print(f"{path}: ok (sweep of {s.name}: {len(grid.points)} points × "
              f"{definition.get('replications', 1)} replications, {len(s.strategies)} strategies, {s.duration:g} s)")
    return 0


#: Columns of a terminal the printed tables fit (``run --wide`` prints every column).
TABLE_WIDTH = 100
#: A sweep's mean columns printed first (after the swept keys, strategy and n), as many as fit.
SWEEP_COLUMNS = ("success_rate", "p99_s", "amplification", "goodput_rps", "recovery_s", "p50_s")
#: The summary columns printed first, in this order, as many as fit :data:`TABLE_WIDTH`.
MAIN_COLUMNS = ("requests", "success_rate", "p50_s", "p99_s", "amplification", "goodput_rps", "duplicate_effects",
                "recovery_s", "retries_exhausted", "deadline", "shed", "failed")


def fit_table(df, width: int = TABLE_WIDTH, main=(), index: bool = True,
              fmt=lambda v: f"{v:.4g}") -> tuple[str, list, bool]:
    """``df`` as text no wider than ``width`` characters: the ``main`` columns first, long text cells cut
    with "…" (to 60, 40, then 28 characters), then the columns at the end left out until it fits.

    Returns the text, the names of the columns left out, and whether a text cell was cut.
    """
    order = [c for c in main if c in df.columns] + [c for c in df.columns if c not in main]
    df = df[order]

    def render(d):
        text = d.to_string(index=index, float_format=fmt)
        return text, max(map(len, text.splitlines()), default=0)

    text, w = render(df)
    if w <= width:
        return text, [], False
    texts = [c for c in order if df[c].map(lambda v: isinstance(v, str)).any()]
    longest = {c: int(df[c].map(lambda v: len(v) if isinstance(v, str) else 0).max()) for c in texts}
    cut, limit = df, None
    for limit in (60, 40, 28):
        cut = df.copy()
        for c in texts:
            cut[c] = cut[c].map(lambda v, n=limit: v[:n - 1] + "…" if isinstance(v, str) and len(v) > n else v)
        text, w = render(cut)
        if w <= width:
            return text, [], any(n > limit for n in longest.values())
    for n in range(len(order) - 1, 0, -1):
        text, w = render(cut[order[:n]])
        if w <= width or n == 1:
            return text, order[n:], any(longest.get(c, 0) > limit for c in order[:n])
    return text, [], any(n > limit for n in longest.values())


def print_fitted(df, *, main=(), index: bool = True, extra: str = "the files") -> None:
    """Print ``df`` fitted to :data:`TABLE_WIDTH` columns (:func:`fit_table`), then say what was left out and
    that ``--wide`` (or ``extra``) prints it whole."""
    import textwrap

    text, hidden, cut = fit_table(df, main=main, index=index)
    print(text)
    notes = []
    if hidden:
        notes.append(f"{len(hidden)} more columns: {', '.join(hidden)}")
    if cut:
        notes.append("long texts cut at …")
    if notes:
        print(textwrap.fill(f"({'; '.join(notes)}; --wide or {extra} prints everything)", TABLE_WIDTH))


def fit_columns(df, width: int = TABLE_WIDTH, main=MAIN_COLUMNS, fmt=lambda v: f"{v:.4g}") -> tuple[str, list]:
    """``df`` as text no wider than ``width`` characters, keeping the ``main`` columns that fit, in order.

    Returns the text and the names of the columns left out (empty when all fit).
    """
    order = [c for c in main if c in df.columns] + [c for c in df.columns if c not in main]
    if not order:
        return df.to_string(float_format=fmt), []
    # The most columns that fit: a column more never makes a line shorter, so a binary search finds the n the
    # scan from all columns down found (aurora: 4 renderings instead of 11, 0.013 -> 0.005 s; twin test).
    texts: dict = {}

    def fits(n: int) -> bool:
        texts[n] = df[order[:n]].to_string(float_format=fmt)
        return max(map(len, texts[n].splitlines())) <= width

    lo, hi = 1, len(order)  # the answer lies in [lo, hi]; n = 1 when even one column is too wide
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    if lo not in texts:
        fits(lo)
    return texts[lo], order[lo:]


class _LongLived:
    """How ``resilsim run`` keeps Python's cyclic garbage collector off what lives as long as the command.

    :meth:`importing`: the collector is off while a block imports (or loads the scenario), and what the block made
    is frozen after it (:func:`gc.freeze`): the modules' objects, tens of thousands, were otherwise walked again and
    again as they came (~120 collections, a full one of ~35 ms among them: 0.06-0.08 s CPU of the command's
    imports, ~0.02 s of matplotlib's) to collect a few hundred; turned off alone, the collector walked them all
    at its next collection instead. :meth:`freeze`: the same for what exists at a point (the run's result before
    its folder is written: :func:`resilsim.sim.run.old_objects_frozen`'s reason). :meth:`close` thaws all of it.
    Nothing is done where the collector is off or objects are frozen already (the caller's choice), as
    ``old_objects_frozen`` does; with this on, ``simulate()`` finds objects frozen and leaves them so.
    """

    def __init__(self):
        import gc

        self.on = gc.isenabled() and not gc.get_freeze_count()

    @contextlib.contextmanager
    def importing(self):
        """Collector off for the block; what it made frozen after."""
        import gc

        if not self.on:
            yield
            return
        gc.disable()
        try:
            yield
        finally:
            try:
                gc.freeze()
            finally:
                gc.enable()  # even if Ctrl-C lands between the two

    def freeze(self) -> None:
        """Freeze what exists now."""
        import gc

        if self.on:
            gc.freeze()

    def close(self) -> None:
        """Thaw everything frozen here (O(1): a list splice)."""
        import gc

        if self.on:
            gc.unfreeze()
            self.on = False


def _run(args) -> tuple[int, bool]:
    """``resilsim run``: its exit status, and True once its folder is written (:func:`console` may then skip the
    interpreter's teardown)."""
    long_lived = _LongLived()
    try:
        return _run_with(args, long_lived)
    finally:
        long_lived.close()


def _run_with(args, long_lived: _LongLived) -> tuple[int, bool]:
    from .cpu import cpu_sample

    # Read before the imports and the scenario's loading below (0.3-0.6 s): idle_cores counts the cores other
    # processes kept busy over that window, not over the last minute (the load average).
    since = cpu_sample()
    with long_lived.importing():
        from .errors import ScenarioError, UsageError
        from .scenario import load_scenario
        from .sim import simulate
        from .sim.workers import idle_cores

        scenario = load_scenario(Path(args.scenario), overrides=args.overrides)
    if args.strategy:
        unknown = [s for s in args.strategy if s not in scenario.strategies]
        if unknown:
            raise UsageError(f"unknown strategy {unknown[0]!r}; the scenario has {', '.join(scenario.strategies)}",
                                source=args.scenario, option="--strategy")
    if args.stream and args.format != "parquet":
        from .errors import ResilsimError
        raise ResilsimError("--stream writes the rows as Parquet; leave out --format csv")

    pool, helper = None, False  # helper: a forked process shares the charts with this one (chart_pool.fork_helper)
    # Idle cores asked once, before the run: asked again after it, the count would include this run's own
    # worker processes, and the chart process warmed up for might then not be forked (or the other way round).
    # (chart_pool is imported later, in meanwhile: it imports pandas, which must come after the workers' fork.)
    idle = idle_cores(since)

    def meanwhile():
        # While the strategies simulate (in worker processes, forked before this runs): import what the tables and
        # charts need, and start the chart workers if any (their pool's threads come after the fork).
        nonlocal pool, helper
        with long_lived.importing():
            import pandas  # noqa: F401

            from . import result  # noqa: F401
            if args.format == "parquet":
                import pyarrow.parquet  # noqa: F401
            if not args.no_charts:
                from .chart_pool import ChartPool, fork_helper, pool_workers, warm_up
                workers = pool_workers(args.chart_workers)
                if workers:
                    pool = ChartPool(workers)
                elif helper := fork_helper(args.chart_workers, idle):
                    warm_up()  # fonts loaded once, here, for the chart process forked after the run too

    def run(rows_to=None):
        record = "stream" if args.stream else "summary" if args.summary_only else "full"
        try:
            return simulate(scenario, seed=args.seed, strategies=args.strategy, record=record, rows_to=rows_to,
                            processes=args.processes or idle, meanwhile=meanwhile)
        except ScenarioError as e:  # refused before running (beyond its limits): name the file
            raise ScenarioError(e.reason, source=e.source or args.scenario, path=e.path, line=e.line) from None

    def show(result):
        try:
            _show(result)
        except BrokenPipeError:
            # `resilsim run ... | head`: the reader left after the first lines. The folder is what the command is
            # for, so it is still written; what is left to print goes nowhere.
            _stdout_to_devnull()

    def _show(result):
        summary = result.summary()
        print(f"{scenario.name} · api {scenario.api} · seed {args.seed} · {scenario.duration:g} s "
              f"(warm-up {scenario.warmup:g} s)")
        if args.wide:
            import pandas as pd
            with pd.option_context("display.width", None, "display.max_columns", None):
                print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
        else:
            text, hidden = fit_columns(summary)
            print(text)
            if hidden:
                import textwrap
                print(textwrap.fill(f"({len(hidden)} more columns in summary.csv: {', '.join(hidden)}; --wide prints "
                                    "them)", TABLE_WIDTH))

    out = Path(args.out)
    try:
        if args.stream:  # the rows go into the run folder as the simulation makes them
            result, paths = _write_run(run, out, charts=not args.no_charts, table_format=args.format, stream=True,
                                       pool=lambda: pool)
            show(result)
        else:
            result = run()
            # What exists now (modules, the result's tables) outlives the writing: the full collections that
            # drawing sets off need not walk it again (aurora: 0.105 -> 0.035 s of GC in the charts, 2026-12-03).
            # So do matplotlib's modules, imported here when this process draws charts (not with a ChartPool,
            # whose spawned workers draw them all).
            long_lived.freeze()
            if not args.no_charts and pool is None:
                with long_lived.importing():
                    import matplotlib.figure  # noqa: F401
            show(result)
            _, paths = _write_run(lambda _: result, out, charts=not args.no_charts, table_format=args.format,
                                  pool=lambda: pool, helper=helper)
    finally:
        if pool is not None:
            pool.close()
    try:
        print(f"wrote {', '.join(p.name for p in paths)} to {out}/")
    except BrokenPipeError:  # the reader left before this line; the folder is written all the same
        _stdout_to_devnull()
    for name, why in result.truncated.items():  # runaway work stopped at a limit (docs/reliability.md)
        stopped = result.stats.get(name, {}).get("stopped_at") or 0.0
        hint = " (raise the limit with --set limits.FIELD=VALUE)" if "(limits." in why else ""
        print(f"resilsim: strategy {name!r} stopped at {stopped:.4g} s of {scenario.duration:g} s: {why}; "
              f"the tables in {out}/ hold the partial run{hint}", file=sys.stderr)
    return (EXIT_PARTIAL if result.truncated else 0), True  # written: console() may skip the interpreter's teardown


def _write_run(run, out: Path, charts: bool, table_format: str = "parquet", stream: bool = False,
               pool=None, helper: bool = False) -> tuple:
    """Write a run's tables, scenario.yaml, charts and run.json into ``out`` as one set (no file of a
    previous run left beside them, nothing changed when a write fails); return the result and the paths.

    ``run(folder)`` returns the result; with ``stream`` it simulates, writing the request and attempt
    rows into ``folder`` as it goes (the folder is the set's temporary one, so they belong to the set).
    ``pool``: a :class:`resilsim.chart_pool.ChartPool` that draws the charts while the tables are written
    (None: drawn here, after them), or a function that returns one (or None) once ``run`` has returned.
    ``helper``: without a pool, draw the charts in a forked process and this one (:class:`resilsim.chart_pool.ForkedCharts`).
    """
    from . import plots
    from .report import RUN_FILES
    from .scenario import dump_scenario
    from .run_folder import write_run_dir

    meta, done = {}, {}

    def write(tmp: Path) -> list:
        nonlocal pool
        result = done["result"] = run(tmp)
        if callable(pool):
            pool = pool()  # started while the run simulated, if at all
        jobs = pool.submit(result, tmp) if charts and pool is not None else None
        forked = None
        if charts and pool is None and helper and not stream:
            # One forked process draws the charts while this one writes the tables, then both draw what is left
            # (chart_pool.ForkedCharts): forked now, before pyarrow writes anything (its threads start then).
            from .chart_pool import ForkedCharts
            names = [name for name, _ in plots.run_charts(result)]
            # The tables, built on first use, are built once, before the fork: both processes read them.
            rows = () if getattr(result, "record", "full") == "summary" else ("requests", "attempts")
            for table in (*rows, "timeline"):
                getattr(result, table)
            forked = ForkedCharts(result, tmp, names)
        try:
            paths = [tmp / "requests.parquet", tmp / "attempts.parquet"] if stream else []
            paths += result.write_tables(tmp, table_format)
            (tmp / "scenario.yaml").write_text(dump_scenario(result.scenario))  # what `resilsim report` needs
            paths.append(tmp / "scenario.yaml")
            if jobs is not None:
                paths += pool.wait(jobs)
            elif forked is not None:
                forked.draw_rest(result)
                forked.wait()
                paths += [tmp / f"{name}.png" for name in names]  # save_charts' order
            elif charts:
                paths += plots.save_charts(result, tmp)
        finally:
            if forked is not None:
                forked.close()
        meta.update({"seed": result.seed, "windows": [list(w) for w in result.windows],
                     "strategies": {k: v if isinstance(v, dict) else str(v) for k, v in result.strategies.items()},
                     "truncated": dict(result.truncated)})  # strategies stopped at a limit (partial tables)
        return paths

    # Every name a run may write, so a folder written before run.json listed its files loses them too.
    paths = write_run_dir(out, write, meta, {*RUN_FILES, *plots.CHART_FILES})
    return done["result"], paths


# ---------------------------------------------------------------- sweep, plan, report

def _values(text: str, where: str) -> list:
    """The comma-separated values of a --grid, --sample or --over option, each read as a YAML scalar."""
    from .errors import UsageError
    from .yamlsafe import YamlInputError, parse_value
    try:
        return [parse_value(raw) for raw in text.split(",")]
    except YamlInputError as e:
        raise UsageError(f"a value {e.reason}", option=where) from None


def read_definition(path) -> dict | None:
    """A sweep definition file (YAML with ``scenario``, ``grid``, ``replications``, optional ``seed``/``zip``),
    or None when ``path`` is a plain scenario. ``scenario`` is relative to the file."""
    from .scenario import parse_yaml, read_text
    from .errors import ScenarioError
    p = Path(path)
    data = parse_yaml(read_text(p), str(p))
    if "grid" not in data or "scenario" not in data:
        return None
    unknown = set(data) - {"scenario", "grid", "replications", "seed", "zip", "description", "overrides"}
    if unknown:
        raise ScenarioError(f"unknown sweep field {sorted(unknown)[0]!r}; allowed: scenario, grid, replications, "
                            "seed, zip, overrides, description", source=str(p))
    if not isinstance(data["grid"], dict):
        raise ScenarioError("must map dotted keys to lists of values", source=str(p), path="grid")
    data["scenario"] = str((p.parent / str(data["scenario"])).resolve()) if not Path(str(data["scenario"])).is_absolute() \
        else str(data["scenario"])
    return data


def _sweep(args) -> int:
    """``resilsim sweep``: run, store into --out, print the aggregate."""
    import pandas as pd

    from .errors import UsageError
    from .sweep import aggregate, sweep
    definition = read_definition(args.scenario) or {"scenario": args.scenario, "grid": {}}
    grid = dict(definition.get("grid") or {})
    for g in args.grid:
        if "=" not in g:
            raise UsageError(f"--grid {g!r} must look like dotted.key=v1,v2", option="--grid")
        k, v = g.split("=", 1)
        grid[k.strip()] = _values(v, "--grid")
    if args.sample:
        grid = _sampled_grid(args, grid, args.seed if args.seed is not None else definition.get("seed", 0))
    scenario = _scenario_for(Path(definition["scenario"]), args.overrides, args.strategy,
                             first=definition.get("overrides") or None)
    executor = "inprocess" if args.inprocess else (args.dask if args.dask not in (None, "local") else
                                                   ("dask" if args.dask == "local" else None))
    df = sweep(scenario, grid, replications=args.replications if args.replications is not None else definition.get("replications", 1),
               seed=args.seed if args.seed is not None else definition.get("seed", 0), executor=executor,
               workers=args.workers, store=args.out, progress=not args.no_progress,
               zipped=args.zip or bool(definition.get("zip")), warmup="mser5" if args.warmup == "mser5" else None,
               force_workers=args.force_workers, window=args.window)
    agg = aggregate(df)
    failed = df.loc[df["status"] == "failed", "run_id"].nunique() if "status" in df else 0
    cut = df.loc[df["status"] == "truncated", "run_id"].nunique() if "status" in df else 0
    cols = [c for c in agg.columns if not c.endswith(("_ci_low", "_ci_high")) and c != "point"]
    if len(df) and "window" in df:
        print(f"measured over: {', '.join(df['window'].dropna().unique())}")
    if args.wide:
        with pd.option_context("display.width", None, "display.max_columns", None):
            print(agg[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    else:
        from .sweep.stats import param_columns
        swept = param_columns(agg[cols])
        print_fitted(agg[cols], main=(*swept, "strategy", "n", *SWEEP_COLUMNS), index=False,
                     extra=f"resilsim.aggregate(resilsim.load_sweep({str(args.out)!r}))")
    print(f"{df['run_id'].nunique() if len(df) else 0} runs in {args.out}/ ({failed} failed, {cut} truncated); "
          f"load with resilsim.load_sweep({str(args.out)!r})")
    if failed or cut:
        # Exit status 3: finished, but some results are missing or partial (docs/reliability.md).
        print(f"resilsim: {failed} runs failed and {cut} stopped at a scenario limit; their rows say why "
              f"(status, error, truncated columns); rerun the same command to retry the failed ones",
              file=sys.stderr)
        return 3
    return 0


def _scenario_for(path: Path, overrides: list, strategies: list | None, first=None):
    """The scenario at ``path`` with overrides applied (``first``, a sweep definition's, then ``overrides``,
    KEY=VALUE strings) and only ``strategies`` kept (None: all)."""
    from .errors import ScenarioError, UsageError
    from .scenario import given_fields, load_scenario, with_overrides
    scenario = load_scenario(path, overrides=first)
    if overrides:
        try:
            scenario = with_overrides(scenario, overrides)
        except ScenarioError as e:  # a check across fields (no line of its own): still name the file
            raise ScenarioError(e.reason, source=e.source or str(path), path=e.path, line=e.line) from None
    if not strategies:
        return scenario
    unknown = [name for name in strategies if name not in scenario.strategies]
    if unknown:
        raise UsageError(f"unknown strategy {unknown[0]!r}; the scenario has {', '.join(scenario.strategies)}",
                            source=str(path), option="--strategy")
    data = given_fields(scenario)
    data["strategies"] = {name: data["strategies"][name] for name in dict.fromkeys(strategies)}
    return load_scenario(data)


def _sampled_grid(args, grid: dict, seed: int):
    """The --sample ranges as a Latin-hypercube or random :class:`resilsim.sweep.Grid` (drawn from ``seed``)."""
    from .errors import UsageError
    from .sweep import Grid
    if grid:
        raise UsageError("give either --grid or --sample, not both", option="--sample")
    ranges = {}
    for text in args.sample:
        key, _, span = text.partition("=")
        bounds = _values(span.replace(":", ","), "--sample")
        if not key.strip() or len(bounds) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                                                          for b in bounds) or bounds[0] >= bounds[1]:
            raise UsageError(f"--sample {text!r} must look like dotted.key=LO:HI with numbers LO < HI",
                                option="--sample")
        ranges[key.strip()] = tuple(bounds)
    make = Grid.latin if args.method == "latin" else Grid.random
    return make(ranges, args.samples, seed=seed)


def _plan(args) -> int:
    """``resilsim plan``: search, print the answers and the evidence."""
    import math

    import pandas as pd

    from .errors import UsageError
    from .sweep import plan, save_plan
    bounds = _values(args.over, "--over")
    if len(bounds) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b)
                                   for b in bounds):
        raise UsageError(f"--over {args.over!r} must look like LO,HI, e.g. 1,64",
                            option="--over")
    lo, hi = bounds
    precision = {}
    for text in args.precision:
        metric, _, width = text.partition("=")
        try:
            precision[metric.strip()] = float(width)
        except ValueError:
            raise UsageError(f"--precision {text!r} must look like METRIC=HALFWIDTH, e.g. success_rate=0.005",
                                option="--precision") from None
    scenario = _scenario_for(Path(args.scenario), args.overrides, args.strategy)
    p = plan(scenario, vary=args.vary, over=(lo, hi), slo=args.slo,
             replications=args.replications, direction=args.direction, seed=args.seed, workers=args.workers,
             precision=precision, max_replications=max(args.max_replications, args.replications),
             window=args.window, progress=not args.no_progress)
    print(p)
    if args.wide:
        with pd.option_context("display.width", None, "display.max_columns", None):
            print(p.evidence.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    else:
        print_fitted(p.evidence, main=(args.vary, "strategy", "n", "meets"), index=False, extra="plan.json (--out)")
    if getattr(args, "out", None):
        saved = save_plan(p, args.out, scenario=scenario, seed=args.seed,
                          replications=args.replications, command=_plan_command(args))
        print(f"wrote {saved}; `resilsim report {args.out}` makes the report ({Path(args.out) / 'report.html'})")
    return 0


def _plan_command(args) -> str:
    """The ``resilsim plan`` command that reproduces this plan from the scenario.yaml written into --out
    (overrides and the strategies kept are already in that file)."""
    import shlex
    words = ["resilsim", "plan", str(Path(args.out) / "scenario.yaml"), "--vary", args.vary, "--over", args.over]
    for slo in args.slo:
        words += ["--slo", slo]
    words += ["--replications", str(args.replications), "--seed", str(args.seed)]
    if args.direction != "min":
        words += ["--direction", args.direction]
    if args.window:
        words += ["--window", args.window]
    for text in args.precision:
        words += ["--precision", text]
    if args.precision:
        words += ["--max-replications", str(args.max_replications)]
    return shlex.join(words)


def _report(args) -> int:
    """``resilsim report``: write the HTML file and say where."""
    from .report import write_report
    p = write_report(args.path, args.output if args.output is not None else Path(args.path) / "report.html")
    print(f"wrote {p} ({p.stat().st_size / 1024:.0f} KiB)")
    return 0
