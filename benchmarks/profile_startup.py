"""Profile: where a workflow run's time goes before the work, job by job.

    python benchmarks/profile_startup.py [--keep DIR] [--no-server]

In a fresh copy of the project it runs the default workflow once (so that every job's inputs
exist), then times, one after another on a quiet machine:
- building the workflow: `snakemake -n` under `python -X importtime`, with the import time of
  each top-level package it loads;
- every job's command (from `snakemake -n -p --forceall`), run again by itself: its wall time,
  and the part of it spent importing (`-X importtime`, the top-level packages' cumulative
  times), each in its own process (--no-server) or through a fork server started for the
  purpose, as the workflow runs them.
Prints Markdown tables. The commands rewrite outputs the run already wrote, with the same
bytes, inside the copy only.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "src"))


def import_times(stderr: str) -> Counter:
    """Cumulative import time (s) of each top-level package in a `-X importtime` log."""
    out: Counter = Counter()
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if m and not m[2]:  # top level: not indented
            out[m[3].split(".")[0]] += int(m[1]) / 1e6
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", help="keep the project copy under this folder")
    parser.add_argument("--no-server", action="store_true",
                        help="time each job in its own process, not through a fork server")
    args = parser.parse_args(argv)
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gf-eval-profile-"))
    project = base / "project"
    if project.exists():
        shutil.rmtree(project)
    project.mkdir(parents=True)
    for item in ("Snakefile", "config", "rules", "profiles", "environment.yml"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / item)
    run = lambda *a, **kw: subprocess.run(a, cwd=project, capture_output=True, text=True, **kw)  # noqa: E731
    run(sys.executable, "-m", "snakemake", "--cores", "2", "--quiet", check=True)

    start = time.perf_counter()
    dry = run(sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "--quiet")
    wall = time.perf_counter() - start
    times = import_times(dry.stderr)
    print(f"## Building the workflow (`snakemake -n`): {wall:.2f} s\n")
    print("| package | import (s) |\n| --- | --- |")
    for name, sec in times.most_common(12):
        print(f"| {name} | {sec:.3f} |")

    plan = run(sys.executable, "-m", "snakemake", "-n", "-p", "--forceall", check=True)
    commands = [line.split("Shell command:", 1)[1].strip() for line in plan.stdout.splitlines()
                if "Shell command: gf-eval" in line]  # fmt: skip
    from gf_eval import forkserver

    # A job's environment as Snakemake gives it (one thread for the linear algebra).
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
               **{name: "1" for name in forkserver.THREADS_ENV})  # fmt: skip
    server = None
    if not args.no_server:
        server = forkserver.start()
        env[forkserver.ENV] = server[1]
        time.sleep(0.5)
        # The first job waits for the server's imports; that wait is the run's, not a job's.
        subprocess.run(["gf-eval", "--help"], env=env, capture_output=True)
    mode = "each in its own process" if args.no_server else "through the fork server"
    print(f"\n## Each job's command, {mode}\n")
    print("| job | wall (s) | importing (s) | top imports |\n| --- | --- | --- | --- |")
    total = total_import = 0.0
    for cmd in commands:
        words = shlex.split(cmd)
        job_env = dict(env, PYTHONPROFILEIMPORTTIME="1")
        start = time.perf_counter()
        done = subprocess.run(words, cwd=project, env=job_env, capture_output=True, text=True)
        sec = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{cmd} failed:\n{done.stderr[-2000:]}")
        imp = import_times(done.stderr)
        heavy = sum(imp.values())
        total, total_import = total + sec, total_import + heavy
        top = ", ".join(f"{n} {s:.2f}" for n, s in imp.most_common(3))
        print(f"| {' '.join(words[1:3])} | {sec:.2f} | {heavy:.2f} | {top} |")
    print(f"| **all {len(commands)} jobs** | {total:.1f} | {total_import:.1f} | |")
    if server:
        forkserver.stop(*server)
    if not args.keep:
        shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
