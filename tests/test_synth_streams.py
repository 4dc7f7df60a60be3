"""The generator's faster steps against the loops they replaced: the same tables from the same
random stream, and the generator left in the same state (what later steps draw depends on it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gf_eval import codes
from gf_eval.synth import social_care
from gf_eval.synth.series import choose, choose_from_uniforms, uniforms_ahead
from gf_eval.synth.social_care import OTHER_FACTORS, OTHER_FACTORS_DVA


def _factors_loop(assessments, rng):
    """The loop `_factors` replaced: one draw call after another, assessment by assessment."""
    rows = []
    dva_codes = np.array(codes.DVA_FACTORS)
    for aid, dva in zip(assessments["assessment_id"], assessments["dva"]):
        if dva:
            found = dva_codes[rng.random(3) < [0.25, 0.85, 0.1]]
            if found.size == 0:
                found = np.array(["3B"])
            table = OTHER_FACTORS_DVA
        elif rng.random() < 0.2:
            rows.append((aid, codes.NO_FACTORS))
            continue
        else:
            found = np.array([], dtype=str)
            table = OTHER_FACTORS
        others = [c for c in table if rng.random() < table[c]]
        if not dva and not others:
            others = [choose(rng, table, 1)[0]]
        rows.extend((aid, str(c)) for c in [*found, *others])
    return pd.DataFrame(rows, columns=["assessment_id", "factor"])


@pytest.mark.parametrize("n", [0, 1, 2, 7, 2000])
def test_factors_are_those_of_the_loop(n):
    rng = np.random.default_rng(n)
    assessments = pd.DataFrame({"assessment_id": [f"A{i + 1:07d}" for i in range(n)],
                                "dva": rng.random(n) < 0.4})  # fmt: skip
    ref_rng = np.random.default_rng(11)
    rng = np.random.default_rng(11)
    got, expected = social_care._factors(assessments, rng), _factors_loop(assessments, ref_rng)
    pd.testing.assert_frame_equal(got, expected)
    assert rng.bit_generator.state == ref_rng.bit_generator.state
    if n == 2000:  # every kind of assessment occurs
        assert {codes.NO_FACTORS, "3B", *OTHER_FACTORS} <= set(got["factor"])


def test_uniforms_ahead_leave_the_generator_alone():
    rng, ref = np.random.default_rng(3), np.random.default_rng(3)
    rng.integers(0, 10)  # a buffered 32-bit half is part of the state
    ref.integers(0, 10)
    ahead = uniforms_ahead(rng, 50)
    assert rng.bit_generator.state == ref.bit_generator.state
    assert ahead.tolist() == [ref.random() for _ in range(50)]
    rng.random(50)
    assert rng.bit_generator.state == ref.bit_generator.state


def test_choose_from_uniforms_is_choose():
    table = {"x": 0.5, "y": 0.3, "z": 0.15, "w": 0.06}  # sums to 1.01: choose renormalises
    rng = np.random.default_rng(8)
    u = uniforms_ahead(rng, 500)
    assert choose_from_uniforms(table, u).tolist() == choose(rng, table, 500).tolist()
