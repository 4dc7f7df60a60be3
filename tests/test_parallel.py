"""map_forked: the results of the serial map, in order, whether or not it forks."""

from __future__ import annotations

import os

import pytest

from gf_eval.parallel import map_forked


def test_results_come_back_in_order_from_other_processes():
    offset = 10  # a closure: nothing but the results is pickled
    out = map_forked(lambda x: (x + offset, os.getpid()), list(range(7)), processes=3)
    assert [v for v, _ in out] == list(range(10, 17))
    if hasattr(os, "fork"):
        assert os.getpid() not in {pid for _, pid in out}


def test_one_process_maps_here():
    out = map_forked(lambda x: (x * 2, os.getpid()), [1, 2, 3], processes=1)
    assert out == [(2, os.getpid()), (4, os.getpid()), (6, os.getpid())]


def test_an_error_in_a_child_is_raised_here():
    def fail(x):
        if x == 2:
            raise ValueError("item 2 cannot be done")
        return x

    with pytest.raises(ValueError, match="item 2 cannot be done"):
        map_forked(fail, [1, 2, 3], processes=2)


def test_a_map_inside_a_forked_part_runs_in_that_part():
    # A pool's worker may not fork a pool of its own: the inner map runs in the worker.
    out = map_forked(lambda x: map_forked(lambda y: (x * y, os.getpid()), [1, 2], processes=2),
                     [3, 4], processes=2)  # fmt: skip
    assert [[v for v, _ in inner] for inner in out] == [[3, 6], [4, 8]]
    if hasattr(os, "fork"):
        assert all(len({pid for _, pid in inner}) == 1 for inner in out)
