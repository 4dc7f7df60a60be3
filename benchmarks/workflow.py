"""Benchmark: the whole workflow, single-site and multi-site, end to end.

    python benchmarks/workflow.py [--sites 1 10 50 150] [--cores 2] [--keep DIR]

Each case runs in a fresh copy of the project (Snakefile, config, rules, profiles) under a
temporary folder: 1 site is the default single-site run (`snakemake`); N > 1 sites is the
national synthetic panel (`snakemake --configfile config/multisite.yaml`) with N sites, 5 of
them treated (fewer when N is small). For each case it records the wall time of a run from
nothing, the peak memory of the largest single process (GNU time's maximum resident set
size over snakemake and every job it starts; with --cores 2 at most two jobs run at once),
the peak memory of all of them at once (their resident memory summed from /proc every 0.2 s,
so Linux only), and the wall time of a no-op rerun. Prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import os
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


def tree_rss_mib(root: int) -> float:
    """Resident memory of process `root` and all its descendants now, from /proc (Linux)."""
    children = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # the process has just ended
            continue
        children[ppid].append(int(stat.parent.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError):
            pass
        stack += children[pid]
    return total / 2**20


def timed(project: Path, args: list[str], cores: int) -> tuple[float, float, float, str]:
    """(seconds, peak MiB of the largest process, peak MiB of all processes at once, output)
    of one snakemake run. The total is sampled every 0.2 s."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "snakemake", "--cores", str(cores),
           "--quiet", *args]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    peak_total, done = 0.0, threading.Event()

    def sample() -> None:
        nonlocal peak_total
        while not done.wait(0.2):
            peak_total = max(peak_total, tree_rss_mib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"snakemake failed in {project}:\n{stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    largest = int(rss[1]) / 1024 if rss else float("nan")
    return seconds, largest, peak_total, stdout + stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, nargs="+", default=[1, 10, 50, 150])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", help="keep the project copies under this folder")
    args = parser.parse_args(argv)
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gf-eval-bench-"))
    rows = ["| sites | jobs | run from nothing (s) | per site (s) | peak memory, largest "
            "process (MiB) | peak memory, all processes (MiB) | no-op rerun (s) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for n in args.sites:
        project = base / f"sites-{n}"
        if project.exists():
            shutil.rmtree(project)
        extra = copy_project(project, n)
        seconds, peak, total, out = timed(project, extra, args.cores)
        rerun, _, _, _ = timed(project, extra, args.cores)
        dry = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", *extra],
                             cwd=project, capture_output=True, text=True)  # fmt: skip
        jobs = re.search(r"^total\s+(\d+)", dry.stdout, re.M)
        rows.append(f"| {n} | {jobs[1] if jobs else '?'} | {seconds:.0f} | {seconds / n:.1f} | "
                    f"{peak:.0f} | {total:.0f} | {rerun:.1f} |")
        print(rows[-1], flush=True)
        if not args.keep:
            shutil.rmtree(project)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
