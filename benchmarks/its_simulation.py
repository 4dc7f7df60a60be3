"""Simulation study of the ITS standard-error options (issue 3), for the README.

    python benchmarks/its_simulation.py [--replications 1000] [--jobs 2] [--out FILE.csv]

Series of 40 pre and 20 post months, overdispersed counts with AR(1) noise (rho 0, 0.3, 0.6),
a level change of -0.15 and a slope change of -0.01 per month on the log scale (and the null).
See gf_eval.stats.simulation for the model. Prints Markdown tables for the log effect at the
last month (the targets' scale) and for the level change.
"""

from __future__ import annotations

import argparse
import sys
import time

from gf_eval.stats.simulation import Scenario, run, summary_table


def markdown(table) -> str:
    lines = ["| estimator | rho | bias | RMSE | coverage | type I error |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in table.itertuples():
        lines.append(f"| {r.estimator} | {r.rho:g} | {r.bias:+.4f} | {r.rmse:.4f} "
                     f"| {r.coverage:.3f} | {r.type_I_error:.3f} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replications", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20170301)
    parser.add_argument("--out", help="also write every result row as CSV")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = run([Scenario(rho) for rho in (0.0, 0.3, 0.6)], args.replications, args.seed,
                  jobs=args.jobs)  # fmt: skip
    if args.out:
        results.to_csv(args.out, index=False)
    print(f"{args.replications} replications per cell, {time.perf_counter() - start:.0f} s\n")
    print("Log effect at the last month, b2 + 19*b3:\n")
    print(markdown(summary_table(results, "end")))
    print("\nLevel change b2:\n")
    print(markdown(summary_table(results, "level")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
