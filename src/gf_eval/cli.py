"""The gf-eval command: one subcommand per workflow step, each usable on its own."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("gf_eval")


def _setup_logging(path: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=handlers, force=True)


def _synth(args: argparse.Namespace) -> int:
    from gf_eval import synth
    from gf_eval.config import load_config, synth_settings

    if args.settings:
        settings = json.loads(args.settings)
    else:
        settings = json.loads(synth_settings(load_config(args.config)))
    log.info("generating synthetic extracts (scenario %s, seed %s, scale %s)",
             settings["synthetic"]["scenario"], settings["seed"], settings["synthetic"]["scale"])
    tables, truth = synth.generate(settings)
    for path in synth.write(tables, truth, args.out):
        log.info("wrote %s", path)
    return 0


def _parent(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PARQUET, got {text!r}")
    return name, path


def _validate(args: argparse.Namespace) -> int:
    from gf_eval import validation
    from gf_eval.config import Calendar, load_config

    parents = dict(args.parent)
    calendar = Calendar.from_config(load_config(args.config)) if args.config else None
    if args.calendar:
        calendar = Calendar.from_config({"calendar": json.loads(args.calendar)})
    try:
        report = validation.run(args.extract, args.raw, args.out, args.report, parents, calendar)
    except validation.ValidationFailed as err:
        log.error("%s", err)
        return 1
    log.info("%s: valid, %d rows; wrote %s and %s", args.raw, report["rows"], args.out, args.report)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from gf_eval.extracts import EXTRACTS

    parser = argparse.ArgumentParser(prog="gf-eval", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write the synthetic extracts and truth.json")
    p.add_argument("--out", default="data/raw/synthetic", help="output folder")
    p.add_argument("--config", default="config/config.yaml", help="config file to read")
    p.add_argument("--settings", help="the generator's settings as JSON (overrides --config)")
    p.add_argument("--log", help="also write messages to this file")
    p.set_defaults(func=_synth)

    p = sub.add_parser("validate", help="validate one extract and write its typed table")
    p.add_argument("extract", choices=sorted(EXTRACTS), help="which extract")
    p.add_argument("--raw", required=True, help="the raw CSV file")
    p.add_argument("--out", required=True, help="the typed parquet to write if valid")
    p.add_argument("--report", required=True, help="the JSON validation report to write")
    p.add_argument("--parent", action="append", default=[], metavar="NAME=PARQUET", type=_parent,
                   help="a validated parent table, for the cross-table rules")
    p.add_argument("--config", help="config file whose calendar bounds the dates")
    p.add_argument("--calendar", help="the calendar as JSON (overrides --config)")
    p.add_argument("--log", help="also write messages to this file")
    p.set_defaults(func=_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(getattr(args, "log", None))
    try:
        return args.func(args)
    except Exception as err:  # a clear one-line error, not a traceback, for any other failure
        from gf_eval.config import ConfigError

        if isinstance(err, (ConfigError, ValueError, OSError)):
            log.error("gf-eval %s: %s", args.command, err)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
