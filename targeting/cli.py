"""The `targeting` command: build the config, call the library, print where the outputs are.

Only `TargetingError` is caught and printed plainly; anything else is a bug and is reported as
one (with the traceback under --debug).
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path

from targeting import __version__
from targeting.config import Config, merge_sources, parse_workers, read_toml
from targeting.errors import (EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, EXIT_UNEXPECTED, TargetingError,
                              printable)

EPILOG = """\
examples:
  targeting example bleeding_trial -o trial.xlsx      write a bundled example input
  targeting validate trial.xlsx                       check the data; writes nothing
  targeting report trial.xlsx -o trial_report         the full analysis
  targeting report data.csv --outcome y --treatment arm --budget 30% --direction lower-is-better

outputs (report), written together into the -o folder once all are complete:
  brief.pdf        the brief: recommendation, headline numbers, harm box, the rule as a tree
  pack.xlsx        the Excel pack: policy, values, budget curve, subgroups, harmed groups, ...
  report.json      every number, machine-readable (its JSON Schema ships with the package)
  individuals.csv  one row per person: predicted effect, the rule's decision, leaf

exit codes: 0 success, 1 internal error (a bug), 2 usage, 3 input, 4 settings, 5 estimation,
6 output, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

FLAG_HELP = {
    "outcome": "outcome column",
    "treatment": "treatment column (0/1, booleans or two labels)",
    "treated_value": "which treatment value means treated (needed when labels are ambiguous)",
    "covariates": "comma-separated covariate columns (default: all other columns)",
    "exclude": "comma-separated columns to leave out",
    "id": "identifier column (copied to individuals.csv)",
    "direction": "higher-is-better (default) or lower-is-better",
    "budget": "share (30%% or 0.3) or number of people (250) that may be treated",
    "cost": "per-person cost: a column name or a constant",
    "budget_total": "total money that may be spent (needs --cost)",
    "currency": "shown with every amount of money: a symbol or code such as EUR, $ or CHF (default: none)",
    "propensity": "known probability of treatment: a number (0.5) or a column",
    "subgroup": "pre-specified subgroup expression, e.g. \"age > 65\" (repeatable)",
    "true_effect": "column of true effects (simulation studies): adds an accuracy table",
    "seed": "random seed (default 20240601)",
    "estimator": "auto, causal_forest, dr, t, s, x or logistic_t",
    "folds": "number of cross-fitting folds (default 5)",
    "depth": "policy tree depth: 1 or 2 (exact) or 3 (look-ahead) (default 2)",
    "min_leaf": "smallest leaf of the policy tree (default: 5%% of people, at least 20)",
    "max_bins": "candidate thresholds per numeric covariate (default 64)",
    "harm_threshold": "size of effect (outcome units) below which a group counts as harmed (default 0)",
}


# Text in a script the chart font lacks is drawn as boxes; the brief says nothing false, so
# matplotlib's warning about it is noise on the terminal.
IGNORED_WARNINGS = (r"Glyph \d+ .* missing from font",)
# What the spare process loads on start: the models' learners (scikit-learn), so that it shares the
# nuisance fits; and once the fits are done, while this process searches the rules, the brief's
# renderers (WeasyPrint, matplotlib, Jinja2).
SPARE_MODULES = ("targeting.estimate.learners",)
SPARE_LATER_MODULES = ("targeting.report.html",)


class _Parser(argparse.ArgumentParser):
    """argparse, with what it echoes back (a mistyped flag may hold escape codes) made printable."""

    def _print_message(self, message, file=None):
        super()._print_message(printable(message) if message else message, file)


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="input file: .xlsx, .csv or .parquet")
    parser.add_argument("--config", metavar="FILE.toml", help="settings file (flags override it)")
    for key, text in FLAG_HELP.items():
        flag = "--" + key.replace("_", "-")
        if key == "subgroup":
            parser.add_argument(flag, action="append", metavar="EXPR", help=text)
        else:
            parser.add_argument(flag, metavar=key.upper(), help=text)
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (flags mirror config keys)."""
    from targeting.sim.simulate import EXAMPLES

    raw = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog="targeting", description="Who should get a treatment, under a budget.", epilog=EPILOG,
                     formatter_class=raw)
    parser.add_argument("--version", action="version", version=f"targeting {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="estimate, learn the policy, and write the brief and the pack",
                            description="Estimate effects, learn the budgeted rule, and write the outputs.",
                            epilog=EPILOG, formatter_class=raw)
    _add_data_options(report)
    report.add_argument("--workers", metavar="N", help="processes for the model fits (default: the available "
                        "cores, at most 4, or 1 when others keep them all busy); the report is the same for any number")
    report.add_argument("-o", "--outdir", help="output folder (default: <input stem>_report beside the input); "
                        "earlier outputs in it are replaced together, other files are kept")
    validate = sub.add_parser("validate", help="check and summarise the data; writes nothing")
    _add_data_options(validate)
    listing = "\n".join(f"  {name:<20}{description}" for name, (_, _, description) in EXAMPLES.items())
    example = sub.add_parser("example", help="write a bundled example input", formatter_class=raw,
                             description="Write a bundled example input (a data sheet and a config sheet, so "
                             "that `targeting report FILE` needs no flags).",
                             epilog=f"examples:\n{listing}\n\nAn existing file is never overwritten.")
    example.add_argument("name", help=", ".join(EXAMPLES))
    example.add_argument("-o", "--output", help="file to write, .xlsx or .csv (default: NAME.xlsx)")
    example.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    example.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    return parser


def effective_config(args: argparse.Namespace, sheet_config: dict) -> Config:
    """defaults < the workbook's config sheet < the TOML file < command-line flags."""
    sources = [("defaults", {}), ("the workbook's config sheet", sheet_config)]
    if args.config:
        sources.append((f"config file '{Path(args.config).name}'", read_toml(args.config)))
    flags = {k: getattr(args, k) for k in FLAG_HELP if getattr(args, k, None) is not None}
    sources.append(("the command line", flags))
    return merge_sources(*sources)


def _report(args) -> int:
    from targeting.progress import reporter

    workers = parse_workers(args.workers)
    # The clock starts before the heavy imports, so that the first line comes early and the time
    # the libraries take to load is shown as a stage of its own.
    progress = reporter(quiet=args.quiet)
    spare = []
    interrupted = False
    try:
        return _run_report(args, progress, workers, spare)
    except KeyboardInterrupt:  # Ctrl-C and SIGTERM (Terminated)
        interrupted = True
        raise
    finally:
        for process in spare:
            process.close(interrupted=interrupted)
        if progress is not None:
            progress.close()


def _run_report(args, progress, workers: int, spare: list) -> int:
    """The report command; a spare process it starts is appended to ``spare`` (the caller stops it)."""
    from targeting.data.read import read_input
    from targeting.report.outputs import check_outdir, default_outdir

    input_path = Path(args.input)
    raw = read_input(input_path)
    if progress:
        progress(f"read {raw.name}")
    config = effective_config(args, raw.sheet_config)
    outdir = Path(args.outdir) if args.outdir else default_outdir(input_path)
    check_outdir(outdir, input_path)
    from targeting.parallel import SpareProcess, Workers

    if workers > 1:
        # Started once the input is read (a file refused earlier needs no process): it loads the
        # learners while this process loads its own libraries, shares the fits, renders the brief.
        spare.append(SpareProcess(SPARE_MODULES, later=SPARE_LATER_MODULES, ignored_warnings=IGNORED_WARNINGS))
    from targeting.pipeline import run
    from targeting.report.outputs import write_outputs

    if progress:
        progress("loaded the models")
    result = run(raw, config, progress=progress, workers=Workers(workers, spare[0] if spare else None))
    paths = write_outputs(result, outdir, progress=progress, spare=spare[0] if spare else None)
    if progress is not None:
        progress.close()  # the bar goes before the paths are printed on the same terminal
    for path in paths:
        print(printable(str(path)))
    return EXIT_OK


def _validate(args) -> int:
    from targeting.data.prepare import prepare
    from targeting.data.read import read_input

    raw = read_input(Path(args.input))
    config = effective_config(args, raw.sheet_config)
    prepared = prepare(raw.frame, config)
    treated, untreated = int(prepared.t.sum()), int((1 - prepared.t).sum())
    kind = "binary (0/1)" if prepared.outcome_binary else "continuous"
    covariates = ", ".join(f"{c.name} ({c.kind}{', ' + str(c.n_missing) + ' missing' if c.n_missing else ''})"
                           for c in prepared.covariates)
    propensity = "known" if prepared.propensity is not None else "estimated from the covariates"
    lines = [  # names and labels come from the data: each line is made printable
        f"{raw.name}: {prepared.n:,} people ({treated:,} treated = '{prepared.treated_label}', "
        f"{untreated:,} untreated = '{prepared.control_label}')",
        f"outcome: '{prepared.outcome}', {kind}, {config.direction}",
        f"covariates: {covariates}",
        f"budget: {prepared.budget.describe()}; propensity: {propensity}",
        *(f"note: {item.message}" for item in prepared.findings),
        "OK: the data can be used.",
    ]
    for line in lines:
        print(printable(line))
    return EXIT_OK


def _example(args) -> int:
    from targeting.sim.examples import write_example

    path = write_example(args.name, Path(args.output) if args.output else Path(f"{args.name}.xlsx"))
    print(printable(str(path)))
    return EXIT_OK


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that the same clean-up runs as for Ctrl-C."""


def _on_signal(signum, _frame):
    # Once stopping, further signals must not interrupt the clean-up, and generators closed while
    # the stack unwinds (openpyxl's writers) must not print "Exception ignored" tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.unraisablehook = lambda _unraisable: None
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `targeting` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"report": _report, "validate": _validate, "example": _example}
    for message in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    # Signal handlers can only be set from the main thread (main() may be called from another).
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = ({signum: signal.signal(signum, _on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
                if in_main_thread else {})
    try:
        return handlers[args.command](args)
    except TargetingError as exc:
        print(printable(f"targeting: error: {exc}"), file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print("targeting: terminated (SIGTERM); no outputs were written.", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("targeting: interrupted; no outputs were written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`targeting validate x | head -1`): not an error of ours.
        # Point stdout at devnull so the interpreter's final flush does not fail again (Python docs, "Note on SIGPIPE").
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception:  # a bug: say so plainly, keep the traceback for --debug
        if getattr(args, "debug", False):
            traceback.print_exc()
        else:
            print("targeting: internal error: this is a bug in targeting, not a problem with your data. "
                  "Run again with --debug and report the traceback.", file=sys.stderr)
        return EXIT_UNEXPECTED
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def command() -> None:
    """The ``targeting`` program: `main`, then exit without the interpreter's last garbage collections.

    Over everything a report leaves (the learners, the renderers, the data) they took about 0.5 s
    after the outputs were written; freezing the objects skips them (gc.freeze). Files are closed
    and exit handlers run as before. `main` itself leaves the collector alone, for callers that go on.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    command()
