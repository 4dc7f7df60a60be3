"""Target verdicts: one case per verdict, the boundaries between them, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gf_eval.stats import verdict as verdict_module
from gf_eval.stats.verdict import (
    BELOW_TARGET,
    CONSISTENT,
    MET,
    NO_EVIDENCE,
    VERDICTS,
    verdict,
)

TARGET = -0.25


def test_exact_strings_and_order():
    assert VERDICTS == (
        "no evidence of reduction",
        "met",
        "consistent with target",
        "reduction below target",
    )
    assert (NO_EVIDENCE, MET, CONSISTENT, BELOW_TARGET) == VERDICTS


@pytest.mark.parametrize(
    ("estimate", "ci_low", "ci_high", "expected"),
    [
        (-0.10, -0.30, 0.12, "no evidence of reduction"),  # interval spans no change
        (0.05, -0.02, 0.15, "no evidence of reduction"),  # an increase
        (-0.40, -0.55, -0.30, "met"),  # whole interval beyond -0.25
        (-0.30, -0.45, -0.10, "consistent with target"),  # estimate beyond, interval not
        (-0.15, -0.28, -0.03, "reduction below target"),  # excludes 0, estimate short
        (-0.15, -0.20, -0.10, "reduction below target"),  # interval entirely short of target
    ],
)
def test_one_case_per_verdict(estimate, ci_low, ci_high, expected):
    assert verdict(TARGET, estimate, ci_low, ci_high) == expected


def test_boundaries():
    # upper limit exactly 0: the interval includes no change
    assert verdict(TARGET, -0.5, -0.9, 0.0) == NO_EVIDENCE
    # upper limit exactly at the target: met
    assert verdict(TARGET, -0.4, -0.6, -0.25) == MET
    # estimate exactly at the target, upper limit short of it: consistent with target
    assert verdict(TARGET, -0.25, -0.4, -0.1) == CONSISTENT
    # a degenerate interval at the target is met
    assert verdict(TARGET, -0.25, -0.25, -0.25) == MET
    # just either side of each boundary
    assert verdict(TARGET, -0.5, -0.9, -1e-12) == CONSISTENT
    assert verdict(TARGET, -0.4, -0.6, -0.25 + 1e-12) == CONSISTENT
    assert verdict(TARGET, -0.25 + 1e-12, -0.4, -0.1) == BELOW_TARGET


def test_numpy_scalars_accepted():
    assert verdict(np.float64(-0.25), np.float64(-0.4), np.float32(-0.6), np.int64(0)) == (
        NO_EVIDENCE
    )


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.0, -0.3, -0.4, -0.2), "negative"),
        ((0.25, -0.3, -0.4, -0.2), "negative"),
        ((-25, -0.3, -0.4, -0.2), "between -1 and 0"),
        ((TARGET, -0.5, -0.4, -0.2), "ci_low <= estimate <= ci_high"),
        ((TARGET, -0.1, -0.4, -0.2), "ci_low <= estimate <= ci_high"),
        ((TARGET, -0.3, -0.2, -0.4), "ci_low <= estimate <= ci_high"),
        ((TARGET, math.nan, -0.4, -0.2), "finite"),
        ((TARGET, -0.3, -math.inf, -0.2), "finite"),
        ((TARGET, -0.3, -0.4, math.inf), "finite"),
        ((math.nan, -0.3, -0.4, -0.2), "finite"),
        (("-0.25", -0.3, -0.4, -0.2), "real number"),
        ((TARGET, None, -0.4, -0.2), "real number"),
    ],
)
def test_bad_input_raises(args, match):
    with pytest.raises(ValueError, match=match):
        verdict(*args)


def test_module_docstring_states_the_rule():
    doc = verdict_module.__doc__
    for text in VERDICTS:
        assert f'"{text}"' in doc
    for condition in ("ci_high >= 0", "ci_high <= target", "estimate <= target"):
        assert condition in doc
