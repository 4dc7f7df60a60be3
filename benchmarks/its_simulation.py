"""Simulation study of the ITS standard-error options (issues 3 and 13), for the README.

    python benchmarks/its_simulation.py [--replications 1000] [--jobs 2] [--seed 20170301]
        [--out benchmarks/results/its_simulation_grid.csv]
        [--markdown benchmarks/results/its_simulation_grid.md]
        [--estimators NAME ...] [--half-grid-estimators NAME ...]
        [--bootstrap-replications 200] [--no-grid] [--from-csv FILE.csv ...]

The grid (gf_eval.stats.simulation.grid): rho 0, 0.3, 0.6; log-rate noise SD 0.1 and 0.2;
42/18 and 36/24 pre/post months; Poisson and negative-binomial (NB2, alpha 0.05) counts; a level
change of -0.15 and a slope change of -0.01 a month on the log scale, and the null. See
gf_eval.stats.simulation for the model. To keep the run under an hour on 2 shared cores the
comparators (`HALF_GRID`: Poisson model SE, Newey-West lags 1 and 3, Prais-Winsten) run on the
42/18 cells only and the candidates for the default on every cell. The bootstrap runs on a
subset only (rho 0 and 0.6, SD 0.1, 42/18, Poisson; `--bootstrap-replications` series per
cell, B = 199), beside the other estimators on the same series (the first series of each grid
cell).

Writes every result row as CSV (`--out`), and Markdown tables (`--markdown`): for each quantity
a compact table (cells by estimators, coverage / type I error) and one full table per estimator
(bias, RMSE, coverage, type I error, mean width, power), and which estimators meet the goal
(coverage 0.93 to 0.97 and type I error at most 0.06) in which cells. With `--from-csv` the
tables are made from earlier runs' rows without simulating.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gf_eval.stats.simulation import (
    ADAPTIVE_RULE, BOOTSTRAP, CELL, ESTIMATORS, GRID_ESTIMATORS, Scenario, grid, mc_se,
    meets_goal, run, summary_table,
)  # fmt: skip

QUANTITIES = {"end": "Log effect at the last month, b2 + b3*(n_post - 1)",
              "level": "Level change b2"}
SHORT = {
    "poisson, model SE": "P model",
    "quasi-Poisson, model SE": "QP model",
    "quasi-Poisson, Newey-West lag 1": "QP NW1",
    "quasi-Poisson, Newey-West lag 3": "QP NW3",
    "gaussian log rate, Prais-Winsten": "PW",
    "quasi-Poisson, AR(1)+white noise (REML)": "QP AR1",
    "quasi-Poisson, adaptive (BG lag-1 p < 0.05: AR(1), else model SE)": "QP adaptive",
    BOOTSTRAP: "QP boot",
}


# Run on the 42/18 cells only, to save time (the grid with every estimator would take over an
# hour on 2 shared cores): the comparators, none of them a candidate for the default after the
# first study (issue 3). The candidates (quasi-Poisson model SE, AR(1), adaptive) run everywhere.
HALF_GRID = ("poisson, model SE", "quasi-Poisson, Newey-West lag 1",
             "quasi-Poisson, Newey-West lag 3", "gaussian log rate, Prais-Winsten")


def bootstrap_subset() -> list[Scenario]:
    return [Scenario(rho, sigma=0.1, n_pre=42, n_post=18, counts="poisson") for rho in (0.0, 0.6)]


def _cell(r) -> str:
    return f"{r.counts} {r.design} {r.sigma:g} {r.rho:g}"


def compact(table: pd.DataFrame) -> str:
    """Cells by estimators: coverage / type I error, a star where the goal is met."""
    names = [e for e in ESTIMATORS if e in set(table["estimator"])]
    head = "| counts, design, SD, rho | " + " | ".join(SHORT.get(e, e) for e in names) + " |"
    lines = [head, "| --- |" + " --- |" * len(names)]
    table = table.assign(ok=meets_goal(table))
    for cell, part in table.groupby(CELL, sort=False):
        by = part.set_index("estimator")
        vals = []
        for e in names:
            if e not in by.index:
                vals.append("")
                continue
            r = by.loc[e]
            vals.append(f"{r.coverage:.3f} / {r.type_I_error:.3f}{' *' if r.ok else ''}")
        lines.append(f"| {cell[0]} {cell[1]} {cell[2]:g} {cell[3]:g} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def full(table: pd.DataFrame, estimator: str) -> str:
    part = table[table["estimator"] == estimator]
    lines = ["| counts | design | SD | rho | bias | RMSE | coverage | type I error | mean width "
             "| power | n | failed |",
             "|" + " --- |" * 12]  # fmt: skip
    for r in part.itertuples():
        lines.append(f"| {r.counts} | {r.design} | {r.sigma:g} | {r.rho:g} | {r.bias:+.4f} "
                     f"| {r.rmse:.4f} | {r.coverage:.3f} | {r.type_I_error:.3f} "
                     f"| {r.mean_width:.3f} | {r.power:.3f} | {r.replications} "
                     f"| {r.failures} |")  # fmt: skip
    return "\n".join(lines)


def clear_miss(table: pd.DataFrame) -> pd.Series:
    """Misses of the goal beyond 2 binomial Monte Carlo SEs at the goal's boundary."""
    n = table["replications"]
    low = 0.93 - 2 * np.sqrt(0.93 * 0.07 / n)
    high = 0.97 + 2 * np.sqrt(0.97 * 0.03 / n)
    t1 = 0.06 + 2 * np.sqrt(0.06 * 0.94 / n)
    return (table["coverage"] < low) | (table["coverage"] > high) | (table["type_I_error"] > t1)


def goal_summary(table: pd.DataFrame) -> str:
    """Per estimator: cells meeting the goal, the worst coverage and type I error and where."""
    lines = ["| estimator | cells meeting the goal | misses beyond 2 MC SE | coverage range "
             "| worst coverage cell | type I range | worst type I cell |",
             "|" + " --- |" * 7]  # fmt: skip
    table = table.assign(ok=meets_goal(table), clear=clear_miss(table))
    for e in [e for e in ESTIMATORS if e in set(table["estimator"])]:
        part = table[table["estimator"] == e]
        worst_cov = part.loc[(part["coverage"] - 0.95).abs().idxmax()]
        worst_t1 = part.loc[part["type_I_error"].idxmax()]
        lines.append(f"| {e} | {int(part['ok'].sum())} of {len(part)} | {int(part['clear'].sum())} "
                     f"| {part['coverage'].min():.3f} to {part['coverage'].max():.3f} "
                     f"| {_cell(worst_cov)}: {worst_cov.coverage:.3f} "
                     f"| {part['type_I_error'].min():.3f} to {part['type_I_error'].max():.3f} "
                     f"| {_cell(worst_t1)}: {worst_t1.type_I_error:.3f} |")  # fmt: skip
    return "\n".join(lines)


def misses(table: pd.DataFrame) -> str:
    """Per estimator, the cells that miss the goal: coverage and type I error."""
    table = table.assign(ok=meets_goal(table), clear=clear_miss(table))
    lines = []
    for e in [e for e in ESTIMATORS if e in set(table["estimator"])]:
        part = table[(table["estimator"] == e) & ~table["ok"]]
        cells = [f"{_cell(r)} ({r.coverage:.3f} / {r.type_I_error:.3f}{'!' if r.clear else ''})"
                 for r in part.itertuples()]  # fmt: skip
        lines.append(f"- {e}: " + ("; ".join(cells) if cells else "none"))
    return "\n".join(lines)


def report(results: pd.DataFrame, wall: str) -> str:
    if "study" not in results.columns:
        results = results.assign(study="grid")
    main = results[results["study"] == "grid"]
    boot = results[results["study"] == "bootstrap subset"]
    reps = int((main if len(main) else results)["replications"].max())
    out = [f"# ITS simulation grid\n\n{wall}\n",
           "Cells: counts, design (pre/post months), SD of the log-rate noise, rho. Coverage and "
           "mean width under the effect scenario (level -0.15, slope -0.01 a month), type I error "
           "under the null, power under the effect scenario (share of intervals excluding 0), "
           "all for 95% intervals. Goal: coverage 0.93 to 0.97 and type I error at most 0.06 "
           f"(marked *). Monte Carlo SE with {reps} replications: "
           f"{mc_se(0.95, reps):.4f} for a coverage of 0.95, {mc_se(0.05, reps):.4f} for a type "
           f"I error of 0.05.\n", f"Adaptive rule: {ADAPTIVE_RULE}\n",
           "Empty cells: estimators run on part of the grid only (by default the comparators "
           "on the 42/18 cells, the bootstrap on its subset) to keep the run under an hour "
           "on 2 shared cores.\n"]  # fmt: skip
    for quantity, title in QUANTITIES.items():
        if not len(main):
            break
        table = summary_table(main, quantity)
        out += [f"## {title}\n", "### Which estimators meet the goal\n", goal_summary(table), "",
                "Cells that miss (coverage / type I error; ! beyond 2 Monte Carlo SEs):\n",
                misses(table), "",
                "### Coverage / type I error\n", compact(table), ""]  # fmt: skip
        for e in [e for e in ESTIMATORS if e in set(table["estimator"])]:
            out += [f"### {e}\n", full(table, e), ""]
    if len(boot):
        n = int(boot["replications"].max())
        out += [f"## Bootstrap subset ({n} replications per cell, the first {n} series of each "
                "cell, B = 199)\n"]  # fmt: skip
        for quantity, title in QUANTITIES.items():
            table = summary_table(boot, quantity)
            out += [f"### {title}\n", compact(table), ""]
            for e in [e for e in ESTIMATORS if e in set(table["estimator"])]:
                out += [f"#### {e}\n", full(table, e), ""]
    return "\n".join(out)


def read_results(path) -> pd.DataFrame:
    """The rows of a run's CSV (the scenario "null" kept as a string, not read as missing)."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _code() -> dict:
    """The git commit and the hashes of the working copies of the ITS code that was run."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    files = ["src/gf_eval/stats/its.py", "src/gf_eval/stats/errors.py",
             "src/gf_eval/stats/simulation.py"]  # fmt: skip

    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=root, capture_output=True, text=True,
                                  check=True).stdout.strip()  # fmt: skip
        except (OSError, subprocess.CalledProcessError):
            return None

    return {"commit": git("rev-parse", "HEAD"),
            **{f: git("hash-object", f) for f in files if (root / f).exists()}}  # fmt: skip


def _wall(timing: dict) -> str:
    parts = "; ".join(
        f"{p['study']}, {p['cells']} cells x {p['replications']} replications x "
        f"{len(p['estimators'])} estimators ({', '.join(SHORT.get(e, e) for e in p['estimators'])})"
        f": {p['seconds']:.0f} s" for p in timing["parts"]
    )  # fmt: skip
    total = sum(p["seconds"] for p in timing["parts"])
    code = timing.get("code") or {}
    files = ", ".join(f"{Path(f).name} {h[:7]}" for f, h in code.items() if f != "commit" and h)
    code_text = (f" Code: HEAD {code['commit'][:7]}; working copies (git hash-object) {files}."
                 if code.get("commit") else "")  # fmt: skip
    return (f"Seed {timing['seed']}, {timing['jobs']} processes; {parts}. Wall time in all "
            f"{total:.0f} s ({total / 60:.1f} min).{code_text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replications", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20170301)
    parser.add_argument("--estimators", nargs="+", default=list(GRID_ESTIMATORS),
                        choices=list(ESTIMATORS), metavar="NAME")  # fmt: skip
    parser.add_argument("--half-grid-estimators", nargs="*", default=list(HALF_GRID),
                        choices=list(ESTIMATORS), metavar="NAME",
                        help="run these on the 42/18 cells only (default: %(default)s)")
    parser.add_argument("--bootstrap-replications", type=int, default=200,
                        help="series per bootstrap-subset cell (0: no bootstrap)")
    parser.add_argument("--no-grid", action="store_true", help="only the bootstrap subset")
    parser.add_argument("--out", help="write every result row as CSV (after each part), and "
                        "the wall times beside it as .timing.json")
    parser.add_argument("--markdown", help="write the Markdown tables to this file")
    parser.add_argument("--from-csv", nargs="+", metavar="CSV",
                        help="make the tables from these earlier runs' rows, without simulating")
    args = parser.parse_args(argv)
    if args.from_csv:
        results = pd.concat([read_results(p) for p in args.from_csv], ignore_index=True)
        notes = []
        for p in args.from_csv:
            timing = Path(p).with_suffix(".timing.json")
            if timing.exists():
                notes.append(_wall(json.loads(timing.read_text())))
        wall = " ".join(notes) or "Tables from " + ", ".join(args.from_csv) + "."
    else:
        half = [e for e in args.estimators if e in args.half_grid_estimators]
        whole = [e for e in args.estimators if e not in half]
        parts = []
        # In order of importance, so that an interrupted run has the candidates first.
        if not args.no_grid:
            parts.append(("grid", grid(), args.replications, whole))
        if args.bootstrap_replications:
            parts.append(("bootstrap subset", bootstrap_subset(), args.bootstrap_replications,
                          list(dict.fromkeys([*args.estimators, BOOTSTRAP]))))  # fmt: skip
        if half and not args.no_grid:
            parts.append(("grid", [s for s in grid() if s.design == "42/18"], args.replications,
                          half))  # fmt: skip
        done, timing = [], {"seed": args.seed, "jobs": args.jobs, "code": _code(), "parts": []}
        for study, scenarios, reps, names in parts:
            if not names:
                continue
            start = time.perf_counter()
            rows = run(scenarios, reps, args.seed, names, jobs=args.jobs, progress=True)
            done.append(rows.assign(study=study))
            timing["parts"].append({"study": study, "cells": 2 * len(scenarios),
                                    "replications": reps, "estimators": names,
                                    "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
            print(f"part done: {timing['parts'][-1]}", file=sys.stderr, flush=True)
            results = pd.concat(done, ignore_index=True)
            if args.out:
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                results.to_csv(args.out, index=False)
                Path(args.out).with_suffix(".timing.json").write_text(
                    json.dumps(timing, indent=1) + "\n"
                )
        wall = _wall(timing)
    text = report(results, wall)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
