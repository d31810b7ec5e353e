"""The command line: ``resilsim run | validate | catalog``.

Bad input gets one sentence naming the file, the field and what is allowed,
and exit status 2; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

EXIT_USAGE = 2
#: Exit statuses (docs/reliability.md): 0 done; 1 internal error or broken invariant (a bug: report it);
#: 2 bad input, bad usage or an unusable output directory; 3 finished, but some results are partial or
#: missing (a run stopped at a scenario limit, or sweep runs failed); 130 interrupted.
EXIT_BUG = 1
EXIT_PARTIAL = 3


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


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="resilsim", description="Simulate clients, retry strategies and an API's real error codes.")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="simulate every strategy of a scenario and print the comparison")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--seed", type=non_negative_int, default=0, help="root seed (default 0)")
    run.add_argument("--out", default="out", help="directory for CSVs and charts (default: out)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a field by dotted path, e.g. --set service.workers=16 (repeatable)")
    run.add_argument("--strategy", action="append", default=None, help="run only this strategy (repeatable)")
    run.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    run.add_argument("--summary-only", action="store_true",
                     help="keep time-binned counts and latency histograms, not a row per request and attempt: "
                          "memory stays flat for long runs; writes summary.csv and timeline.csv (percentiles "
                          "within 0.1 %%)")

    val = sub.add_parser("validate", help="check scenario files without running them")
    val.add_argument("scenarios", nargs="+", help="scenario YAML files")
    val.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    cat = sub.add_parser("catalog", help="print an API's error codes")
    cat.add_argument("api", help="analytics | nanostream | counters | path to a catalog YAML")
    cat.add_argument("--format", choices=("table", "csv"), default="table")

    from .sweep import add_parsers as _add_sweep_parsers  # sweep + plan
    _add_sweep_parsers(sub)
    from .report import add_parser as _add_report_parser  # report
    _add_report_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: sys.argv[1:]); return the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(warnings.showwarning)
            return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place that turns errors into sentences
        from .errors import InvariantError, ResilsimError
        if args.debug:
            raise
        if isinstance(e, InvariantError):
            print(f"resilsim: {e}", file=sys.stderr)
            return EXIT_BUG
        if isinstance(e, ResilsimError):
            print(f"resilsim: {e}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(e, BrokenPipeError):  # `resilsim catalog analytics | head`: the reader left, say nothing
            import os
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        if isinstance(e, OSError):
            where = f"{e.filename}: " if e.filename else ""
            print(f"resilsim: {where}{e.strerror or e}", file=sys.stderr)
            return EXIT_USAGE
        print(f"resilsim: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


def _one_line_warning(default):
    """A ``warnings.showwarning`` that prints resilsim's own warnings as one ``resilsim: ...`` line."""
    from .store import StoreWarning

    def show(message, category, *rest, **kw):
        if issubclass(category, StoreWarning):
            print(f"resilsim: {message}", file=sys.stderr)
        else:
            default(message, category, *rest, **kw)
    return show


def _dispatch(args) -> int:
    if args.command == "catalog":
        return _catalog(args)
    if args.command == "validate":
        return _validate(args)
    if args.command == "report":
        from .report import cli_report
        return cli_report(args)
    if args.command in ("sweep", "plan"):
        from .sweep import cli_plan, cli_sweep
        return cli_sweep(args) if args.command == "sweep" else cli_plan(args)
    return _run(args)


def _catalog(args) -> int:
    from .catalog import load_catalog
    df = load_catalog(args.api).to_frame()
    if args.format == "csv":
        df.to_csv(sys.stdout, index=False)
    else:
        import pandas as pd
        with pd.option_context("display.max_rows", None, "display.max_colwidth", 70, "display.width", 250):
            print(df.to_string(index=False))
    return 0


def _validate(args) -> int:
    from .scenario import load_scenario
    for path in args.scenarios:
        s = load_scenario(Path(path), overrides=args.overrides)
        print(f"{path}: ok ({s.name}: {len(s.strategies)} strategies, {s.duration:g} s)")
    return 0


def _run(args) -> int:
    import pandas as pd

    from .scenario import load_scenario
    from .sim import simulate

    scenario = load_scenario(Path(args.scenario), overrides=args.overrides)
    if args.strategy:
        unknown = [s for s in args.strategy if s not in scenario.strategies]
        if unknown:
            from .errors import ScenarioError
            raise ScenarioError(f"unknown strategy {unknown[0]!r}; the scenario has {', '.join(scenario.strategies)}",
                                source=args.scenario, path="--strategy")
    result = simulate(scenario, seed=args.seed, strategies=args.strategy,
                      record="summary" if args.summary_only else "full")
    summary = result.summary()
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(f"{scenario.name} · api {scenario.api} · seed {args.seed} · {scenario.duration:g} s "
              f"(warm-up {scenario.warmup:g} s)")
        print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    out = Path(args.out)
    paths = _write_run(result, out, charts=not args.no_charts)
    print(f"wrote {', '.join(p.name for p in paths)} to {out}/")
    for name, why in result.truncated.items():  # runaway work stopped at a limit (docs/reliability.md)
        stopped = result.stats.get(name, {}).get("stopped_at") or 0.0
        hint = " (raise the limit with --set limits.FIELD=VALUE)" if "(limits." in why else ""
        print(f"resilsim: strategy {name!r} stopped at {stopped:.4g} s of {scenario.duration:g} s: {why}; "
              f"the tables in {out}/ hold the partial run{hint}", file=sys.stderr)
    return EXIT_PARTIAL if result.truncated else 0


def _write_run(result, out: Path, charts: bool) -> list:
    """Write the run's tables, scenario.yaml, charts and run.json into ``out`` as one set (no file of a
    previous run left beside them, nothing changed when a write fails); return the paths."""
    from . import plots
    from .report import RUN_FILES
    from .scenario import dump_scenario
    from .store import write_run_dir

    def write(tmp: Path) -> list:
        paths = result.to_csv(tmp)
        (tmp / "scenario.yaml").write_text(dump_scenario(result.scenario))  # what `resilsim report` needs
        paths.append(tmp / "scenario.yaml")
        if charts:
            paths += plots.save_charts(result, tmp)
        return paths

    meta = {"seed": result.seed, "windows": [list(w) for w in result.windows],
            "strategies": {k: v if isinstance(v, dict) else str(v) for k, v in result.strategies.items()},
            "truncated": dict(result.truncated)}  # strategies stopped at a limit (partial tables)
    # Every name a run may write, so a folder written before run.json listed its files loses them too.
    owned = {*RUN_FILES, *(f"{name}.png" for name, _ in plots.CHARTS), "guards_over_time.png"}
    return write_run_dir(out, write, meta, owned)
