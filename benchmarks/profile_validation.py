"""Where validation spends its time: seconds per stage, per extract, against a plain read.

    python benchmarks/profile_validation.py [--scale 4] [--repeat 3] [--raw DIR]

Generates the synthetic extracts at --scale (or uses the CSVs in --raw), runs
`validation.run` on all nine, parents first, and times each stage by wrapping the functions
`validate_extract` and `run` call. It prints the best of --repeat runs as a Markdown table, one
row per stage, and, as the baseline of issue 7, the time of a plain pandas.read_csv of the
same files. Timing wrappers only: the validation code itself is unchanged while this runs.

It also times a floor: the least any validation of the same key rules can cost, in pyarrow
alone (multi-threaded C++): read every file as text, match every key column against its
pattern, count the distinct values of every unique key, and look up every foreign key in its
parent. No types, code lists, ranges, dates, reports or typed tables; if this floor is
already over twice the plain read, no implementation of the rules can meet that goal.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pyarrow as arrow
import pyarrow.compute as pc
import pyarrow.csv as arrow_csv

from gf_eval import synth, validation
from gf_eval.config import Calendar, load_config, synth_settings
from gf_eval.extracts import EXTRACTS
from gf_eval.validation import relations
from gf_eval.validation.schemas import SCHEMAS

# stage name: (object, attribute) of each wrapped function, in pipeline order
STAGES = {
    "read parent parquet": (validation, "_read_parent"),
    "checksum (sha256)": (validation, "sha256"),
    "read CSV as text": (validation, "read_csv_text"),
    "identifier sniffing": (validation, "find_identifiers"),
    "type parsing": (validation, "_parse_types"),
    "pandera checks": (pa.DataFrameSchema, "validate"),
    "date range": (validation, "_date_range"),
    "typed table (to_interim)": (validation, "to_interim"),
    "parquet write": (pd.DataFrame, "to_parquet"),
    "report write": (validation, "write_text"),
}


def timed(totals: dict, stage: str, func):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            totals[stage] += time.perf_counter() - start

    return wrapper


def instrument(totals: dict) -> None:
    for stage, (owner, attr) in STAGES.items():
        setattr(owner, attr, timed(totals, stage, getattr(owner, attr)))
    for name, rules in relations.RELATIONS.items():
        rules[:] = [
            dataclasses.replace(r, rule=timed(totals, "cross-table relations", r.rule))
            for r in rules
        ]


def key_rules_floor(raw: Path) -> None:
    """The key rules of every extract in pyarrow alone: see the module's docstring."""
    tables = {}
    for name, extract in EXTRACTS.items():
        path = raw / extract.filename
        header = path.open(encoding="utf-8-sig").readline().strip().split(",")
        types = {column: arrow.large_string() for column in header}
        table = arrow_csv.read_csv(path, convert_options=arrow_csv.ConvertOptions(column_types=types))
        tables[name] = table
        for column, spec in SCHEMAS[name].to_schema().columns.items():
            for check in spec.checks:
                if check.name == "str_matches":
                    pc.all(pc.match_substring_regex(table[column], check.statistics["pattern"]))
            if spec.unique:
                assert pc.count_distinct(table[column]).as_py() == table.num_rows
        for relation in relations.RELATIONS.get(name, []):
            if relation.check.startswith("foreign_key"):
                (parent, parent_column), = relation.reads
                pc.all(pc.is_in(table[relation.columns[0]], value_set=tables[parent][parent_column]))


def best_of(repeat: int, func, *args) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def plain_read(raw: Path) -> None:
    for extract in EXTRACTS.values():
        pd.read_csv(raw / extract.filename)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--raw", type=Path, help="a folder of extracts instead of generating")
    args = parser.parse_args(argv)
    config = load_config()
    calendar = Calendar.from_config(config)
    with tempfile.TemporaryDirectory() as tmp:
        raw, interim = args.raw or Path(tmp, "raw"), Path(tmp, "interim")
        if not args.raw:
            settings = json.loads(synth_settings(config))
            settings["synthetic"]["scale"] = args.scale
            synth.write(*synth.generate(settings), raw)
        n_rows = sum(len(pd.read_csv(raw / e.filename, dtype=str)) for e in EXTRACTS.values())
        totals: dict[str, float] = defaultdict(float)
        instrument(totals)
        best: tuple[float, dict] | None = None
        for _ in range(args.repeat):
            totals.clear()
            start = time.perf_counter()
            for name, extract in EXTRACTS.items():
                parents = {p: interim / f"{p}.parquet" for p in extract.parents}
                validation.run(name, raw / extract.filename, interim / f"{name}.parquet",
                               interim / f"{name}.json", parents, calendar)  # fmt: skip
            total = time.perf_counter() - start
            if best is None or total < best[0]:
                best = (total, dict(totals))
        read = best_of(args.repeat, plain_read, raw)
        floor = best_of(args.repeat, key_rules_floor, raw)
    total, stages = best
    # pandera's validate, relations and parsing run inside validate_extract; nothing is nested
    # in another stage except the report write inside run, so the stages add up.
    stages["other (glue, report building)"] = total - sum(stages.values())
    source = args.raw or f"scale {args.scale:g}"
    print(f"{source}: {n_rows:,} rows; validate {total:.3f} s "
          f"({n_rows / total:,.0f} rows/s); plain pandas read {read:.3f} s; "
          f"ratio {total / read:.1f}x\n")  # fmt: skip
    print(f"Floor (key rules in pyarrow alone): {floor:.3f} s, {floor / read:.1f}x the read\n")
    print("| stage | seconds | share | x plain read |\n| --- | --- | --- | --- |")
    for stage, seconds in stages.items():
        print(f"| {stage} | {seconds:.3f} | {seconds / total:.0%} | {seconds / read:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
