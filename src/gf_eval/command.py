"""The `gf-eval` command's entry point, kept light: in a workflow run every job starts it only
to hand the job to the run's fork server (`gf_eval.forkserver`), so it imports the command-line
interface (`gf_eval.cli`, with argparse and logging) only when it runs the command itself."""

from __future__ import annotations

import os
import sys

from gf_eval import forkserver


def main() -> int:
    """`gf-eval` with this process's arguments: through the run's fork server when one
    answers, otherwise here."""
    # Commands parallelise by processes (`gf_eval.parallel`): BLAS threads on top of them
    # oversubscribe the cores (a by-hand `gf-eval models` took 4x as long). One thread,
    # as a Snakemake job of one thread gets, unless the caller says otherwise.
    for name in forkserver.THREADS_ENV:
        os.environ.setdefault(name, "1")
    address = os.environ.get(forkserver.ENV)
    if address:
        # Inside a workflow run: a process forked from the run's preloaded server does the
        # work; without an answer, this process does.
        code = forkserver.run_remote(sys.argv[1:], address)
        if code is not None:
            return code
    from gf_eval.cli import run

    return run(sys.argv[1:])
