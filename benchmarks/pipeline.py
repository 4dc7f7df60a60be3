"""Benchmark: generation and validation time against the size of the synthetic authority.

    python benchmarks/pipeline.py [--scales 0.5 1 2 4] [--repeat 3]

For each scale it generates the extracts, writes them, validates all nine (parents first, as
the workflow does) and, as a baseline, reads the same CSVs with a plain pandas.read_csv. It
prints a Markdown table of the best of --repeat runs, for the README.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from gf_eval import synth, validation
from gf_eval.config import Calendar, load_config, synth_settings
from gf_eval.extracts import EXTRACTS


def best_of(repeat: int, func) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    config = load_config()
    calendar = Calendar.from_config(config)
    rows_out = ["| scale | rows | generate (s) | validate (s) | validate rows/s | pandas read (s) | validate / read |",
                "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for scale in args.scales:
        settings = json.loads(synth_settings(config))
        settings["synthetic"]["scale"] = scale
        with tempfile.TemporaryDirectory() as tmp:
            raw, interim = Path(tmp, "raw"), Path(tmp, "interim")
            generate = best_of(args.repeat, lambda: synth.write(*synth.generate(settings), raw))
            n_rows = sum(len(pd.read_csv(raw / e.filename, dtype=str)) for e in EXTRACTS.values())

            def validate_all():
                for name, extract in EXTRACTS.items():
                    parents = {p: interim / f"{p}.parquet" for p in extract.parents}
                    validation.run(name, raw / extract.filename, interim / f"{name}.parquet",
                                   interim / f"{name}.json", parents, calendar)  # fmt: skip

            def read_all():
                for extract in EXTRACTS.values():
                    pd.read_csv(raw / extract.filename)

            check = best_of(args.repeat, validate_all)
            read = best_of(args.repeat, read_all)
        rows_out.append(
            f"| {scale:g} | {n_rows:,} | {generate:.2f} | {check:.2f} | {n_rows / check:,.0f} "
            f"| {read:.2f} | {check / read:.1f}x |"
        )
        print(rows_out[-1], file=sys.stderr)
    print("\n".join(rows_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
