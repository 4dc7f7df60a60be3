"""Map a function over a few independent items in forked processes, results in input order.

For a job's independent parts (a multi-site run's three targets): on a machine with spare
cores the parts run side by side; with one core (a SLURM job given one CPU, whose affinity
says so), or without fork, they run one after another in this process. The function may be a
closure: the children are forked, so nothing is pickled but the results.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

_TASK: Callable | None = None


def _run(i: int):
    assert _TASK is not None
    return _TASK(i)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def map_forked(fn: Callable, items: Sequence, processes: int | None = None) -> list:
    """[fn(x) for x in items], in up to `processes` (default: the cores) forked processes."""
    global _TASK
    import multiprocessing

    n = min(len(items), processes or cores())
    # Inside a part already forked (a pool's worker may not have children): in this process.
    if n <= 1 or not hasattr(os, "fork") or multiprocessing.current_process().daemon:
        return [fn(x) for x in items]

    _TASK = lambda i: fn(items[i])  # noqa: E731  (inherited by the forked children)
    try:
        with multiprocessing.get_context("fork").Pool(n) as pool:
            return pool.map(_run, range(len(items)), chunksize=1)
    finally:
        _TASK = None
