"""Benchmark: the whole workflow, single-site and multi-site, end to end, against a floor.

    python benchmarks/workflow.py [--sites 1 10 50 150] [--cores 2] [--repeat 3] [--keep DIR]

Each case runs in a fresh copy of the project (Snakefile, config, rules, profiles) under a
temporary folder: 1 site is the default single-site run (`snakemake`); N > 1 sites is the
national synthetic panel (`snakemake --configfile config/multisite.yaml`) with N sites, 5 of
them treated (fewer when N is small). For each case it records the wall time of a run from
nothing, the wall time of a dry run from nothing (`snakemake -n`, before the run) and of a
no-op rerun (after it), each the median of --repeat calls, and, from a second run from
nothing in a copy of its own (watching a run slows it), the peak memory of the largest single
process (GNU time's maximum resident set size over snakemake and every job it starts; with
--cores 2 at most two jobs run at once) and the peak memory of all of them at once (sampled
from /proc every 0.2 s, so Linux only: their resident sizes summed, and their proportional
set sizes summed, which counts the pages that jobs forked from the fork server share with it
once).

The floor is what Snakemake alone costs for the same jobs and files: a Snakefile written from
the real run's `--detailed-summary`, one rule per job with the same input, output and log
files and a parameter, whose jobs only touch their outputs, and whose imports are the standard
library and Snakemake. Its dry run and no-op are timed in the same way, next to the real ones,
so that the ratios hold on a machine of any speed; its run from nothing (once) is what
Snakemake alone costs to run the same jobs. For the run from nothing it also records the
machine's busy and idle core-seconds (from /proc/stat, so meaningful only on an otherwise idle
machine): the CPU the run needs, whose share per core (busy / --cores) is the least wall time
that any scheduling of the same work could reach, and the cores it left unused. On a machine
whose speed varies from one minute to the next, compare runs by these and by the floors, not
by wall time alone. Prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ITEMS = ("Snakefile", "config", "rules", "profiles", "environment.yml")
PAGE = os.sysconf("SC_PAGE_SIZE")


def copy_project(dest: Path, sites: int) -> list[str]:
    dest.mkdir(parents=True)
    for item in ITEMS:
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / item)
    if sites == 1:
        return []
    multi = yaml.safe_load((dest / "config" / "multisite.yaml").read_text())
    multi["multisite"]["panel"].update(n_sites=sites, treated=min(5, sites // 2))
    (dest / "config" / "bench.yaml").write_text(yaml.safe_dump(multi, sort_keys=False))
    return ["--configfile", "config/bench.yaml"]


def tree_memory_mib(root: int) -> tuple[float, float]:
    """Memory of process `root` and all its descendants now, from /proc (Linux): the sum of
    their resident sizes, and of their proportional set sizes (PSS: a page shared by k
    processes counts 1/k to each). Jobs forked from the fork server share its pages, which
    the resident sum counts once for every job; PSS counts them once."""
    children = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # the process has just ended
            continue
        children[ppid].append(int(stat.parent.name))
    rss = pss = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            pss += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)[1]) * 1024
        except (OSError, IndexError, TypeError):
            pass
        stack += children[pid]
    return rss / 2**20, pss / 2**20


FLOOR = """\
# The floor: the real workflow's jobs and files, with nothing but Snakemake to run them.
import json

JOBS = json.load(open("floor_jobs.json"))


rule all:
    input:
        [f for job in JOBS for f in job["output"]],


for job in JOBS:

    rule:
        name:
            job["name"]
        input:
            job["input"]
        output:
            job["output"]
        log:
            job["log"]
        params:
            code="floor",
        shell:
            "touch {output} {log}"
"""


def floor_jobs(project: Path, extra: list[str]) -> list[dict]:
    """The jobs of a finished run (rule, input, output and log files), from Snakemake's
    detailed summary: one row an output file, grouped by rule, inputs and logs."""
    out = subprocess.run([sys.executable, "-m", "snakemake", "--detailed-summary", "--cores", "1",
                          *extra], cwd=project, capture_output=True, text=True, check=True)  # fmt: skip
    header, *rows = [line.split("\t") for line in out.stdout.splitlines() if "\t" in line]
    col = {name: i for i, name in enumerate(header)}
    jobs: dict[tuple, dict] = {}
    for row in rows:
        split = lambda name: [f for f in row[col[name]].split(",") if f and f != "-"]  # noqa: E731
        key = (row[col["rule"]], tuple(split("input-file(s)")), tuple(split("log-file(s)")))
        job = jobs.setdefault(key, {"name": f"{key[0]}_{len(jobs)}", "input": list(key[1]),
                                    "output": [], "log": list(key[2])})  # fmt: skip
        job["output"].append(row[col["output_file"]])
    return list(jobs.values())


def make_floor(dest: Path, jobs: list[dict]) -> None:
    """A floor project: its Snakefile, the jobs, the profile, and the files no job writes."""
    dest.mkdir(parents=True)
    shutil.copytree(ROOT / "profiles", dest / "profiles")
    (dest / "Snakefile").write_text(FLOOR)
    (dest / "floor_jobs.json").write_text(json.dumps(jobs))
    made = {f for job in jobs for f in job["output"]}
    for f in {f for job in jobs for f in job["input"]} - made:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        (dest / f).touch()


def median_seconds(project: Path, args: list[str], repeat: int) -> float:
    """Median wall time of `snakemake ARGS` (which must succeed) over `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=project,
                       capture_output=True, check=True)  # fmt: skip
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) core-seconds of the whole machine since boot, from /proc/stat (Linux)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return float("nan"), float("nan")
    tick = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal: steal is time the host took, neither.
    return sum(fields[:3] + fields[5:7]) / tick, sum(fields[3:5]) / tick


def timed(project: Path, args: list[str], cores: int) -> tuple[float, float, float]:
    """(seconds, busy and idle core-seconds of the machine while it ran) of one snakemake run,
    with nothing else watching it."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet", *args]
    cpu_before = machine_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    busy, idle = (after - before for after, before in zip(machine_cpu(), cpu_before))
    if proc.returncode != 0:
        raise SystemExit(f"snakemake failed in {project}:\n{proc.stderr[-3000:]}")
    return seconds, busy, idle


def memory(project: Path, args: list[str], cores: int) -> tuple[float, float, float]:
    """(peak MiB of the largest process, peak MiB of all processes at once as the sum of
    resident sizes and as the sum of PSS) of one snakemake run, the totals sampled every
    0.2 s. Sampling costs CPU (2 to 3 core-seconds over the default run, reading every
    process's smaps_rollup), so this run is not the one timed."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "snakemake", "--cores", str(cores),
           "--quiet", *args]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    peak_rss = peak_pss = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_rss, peak_pss
        while not done.wait(0.2):
            rss, pss = tree_memory_mib(proc.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"snakemake failed in {project}:\n{stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    largest = int(rss[1]) / 1024 if rss else float("nan")
    return largest, peak_rss, peak_pss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, nargs="+", default=[1, 10, 50, 150])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3,
                        help="calls a dry run or no-op is timed over (median)")
    parser.add_argument("--keep", help="keep the project copies under this folder")
    args = parser.parse_args(argv)
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gf-eval-bench-"))
    rows = ["| sites | jobs | run from nothing (s) | floor (s) | per site (s) | peak memory, "
            "largest process (MiB) | peak memory, all processes: resident sum (MiB) | all "
            "processes: PSS (MiB) | dry run (s) | floor (s) | ratio | no-op rerun (s) | floor (s) "
            "| ratio | CPU, busy (core-s) | idle (core-s) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
            "| --- | --- |"]
    for n in args.sites:
        project, floor = base / f"sites-{n}", base / f"sites-{n}-floor"
        watched = base / f"sites-{n}-memory"
        for folder in (project, floor, watched):
            if folder.exists():
                shutil.rmtree(folder)
        extra = copy_project(project, n)
        quiet = ["--cores", str(args.cores), "--quiet", *extra]
        dry = median_seconds(project, ["-n", *quiet], args.repeat)
        seconds, busy, idle = timed(project, extra, args.cores)
        rerun = median_seconds(project, quiet, args.repeat)
        copy_project(watched, n)
        peak, total, pss = memory(watched, extra, args.cores)
        jobs = floor_jobs(project, extra)
        make_floor(floor, jobs)
        floor_quiet = ["--cores", str(args.cores), "--quiet"]
        floor_dry = median_seconds(floor, ["-n", *floor_quiet], args.repeat)
        floor_run = median_seconds(floor, floor_quiet, 1)  # the floor's run from nothing
        floor_rerun = median_seconds(floor, floor_quiet, args.repeat)
        rows.append(f"| {n} | {len(jobs) + 1} | {seconds:.1f} | {floor_run:.2f} | "
                    f"{seconds / n:.1f} | {peak:.0f} | {total:.0f} | {pss:.0f} | {dry:.2f} | "
                    f"{floor_dry:.2f} | {dry / floor_dry:.2f} | {rerun:.2f} | {floor_rerun:.2f} | "
                    f"{rerun / floor_rerun:.2f} | {busy:.1f} | {idle:.1f} |")
        print(rows[-1], flush=True)
        if not args.keep:
            for folder in (project, floor, watched):
                shutil.rmtree(folder)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
