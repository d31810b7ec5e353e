"""The command line: ``resilsim run | validate | catalog``.

Bad input gets one sentence naming the file, the field and what is allowed,
and exit status 2; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="resilsim", description="Simulate clients, retry strategies and an API's real error codes.")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="simulate every strategy of a scenario and print the comparison")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    run.add_argument("--out", default="out", help="directory for CSVs and charts (default: out)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a field by dotted path, e.g. --set service.workers=16 (repeatable)")
    run.add_argument("--strategy", action="append", default=None, help="run only this strategy (repeatable)")
    run.add_argument("--no-charts", action="store_true", help="skip the PNG charts")

    val = sub.add_parser("validate", help="check scenario files without running them")
    val.add_argument("scenarios", nargs="+", help="scenario YAML files")
    val.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    cat = sub.add_parser("catalog", help="print an API's error codes")
    cat.add_argument("api", help="analytics | nanostream | counters | path to a catalog YAML")
    cat.add_argument("--format", choices=("table", "csv"), default="table")

    from .sweep import add_parsers as _add_sweep_parsers  # sweep + plan (issue 5)
    _add_sweep_parsers(sub)
    from .report import add_parser as _add_report_parser  # report (issue 6)
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
        return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place that turns errors into sentences
        from .catalog import CatalogError
        from .errors import ResilsimError
        if args.debug:
            raise
        if isinstance(e, (ResilsimError, CatalogError)):
            print(f"resilsim: {e}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(e, OSError):
            print(f"resilsim: {e.filename or ''}: {e.strerror}", file=sys.stderr)
            return EXIT_USAGE
        print(f"resilsim: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


def _dispatch(args) -> int:
    if args.command == "catalog":
        return _catalog(args)
    if args.command == "validate":
        return _validate(args)
    if args.command == "report":  # issue 6
        from .report import cli_report
        return cli_report(args)
    if args.command in ("sweep", "plan"):  # issue 5
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

    from .plots import save_charts
    from .scenario import load_scenario
    from .sim import simulate

    scenario = load_scenario(Path(args.scenario), overrides=args.overrides)
    if args.strategy:
        unknown = [s for s in args.strategy if s not in scenario.strategies]
        if unknown:
            from .errors import ScenarioError
            raise ScenarioError(f"unknown strategy {unknown[0]!r}; the scenario has {', '.join(scenario.strategies)}",
                                source=args.scenario, path="--strategy")
    result = simulate(scenario, seed=args.seed, strategies=args.strategy)
    summary = result.summary()
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(f"{scenario.name} · api {scenario.api} · seed {args.seed} · {scenario.duration:g} s "
              f"(warm-up {scenario.warmup:g} s)")
        print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    out = Path(args.out)
    paths = result.to_csv(out)
    paths += _save_run_meta(result, out)  # what `resilsim report` needs (issue 6)
    if not args.no_charts:
        paths += save_charts(result, out)
    print(f"wrote {', '.join(p.name for p in paths)} to {out}/")
    return 0


def _save_run_meta(result, out: Path) -> list:
    """Write scenario.yaml and run.json (seed, incident windows, strategies) beside the CSVs, for the report."""
    import json

    from .scenario import dump_scenario
    (out / "scenario.yaml").write_text(dump_scenario(result.scenario))
    meta = {"seed": result.seed, "windows": [list(w) for w in result.windows],
            "strategies": {k: str(v) for k, v in result.strategies.items()}}
    (out / "run.json").write_text(json.dumps(meta, indent=1, default=str))
    return [out / "scenario.yaml", out / "run.json"]
