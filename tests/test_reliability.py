"""Reliable change index and Cronbach's alpha against hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gf_eval.stats.reliability import cronbach_alpha, reliable_change


def test_reliable_change_index_by_hand():
    # SD before given as 5, reliability 0.84: SE = 5 * 0.4 = 2, S_diff = 2 * sqrt(2) = 2.8284;
    # the critical change is 1.959964 * 2.8284 = 5.5437.
    before = [20, 20, 20, 20, None]
    after = [26, 25, 14, 20, 30]
    res = reliable_change(before, after, 0.84, better="higher", sd_before=5.0)
    assert res.n == 4
    assert res.se_measurement == pytest.approx(2.0)
    assert res.s_diff == pytest.approx(2 * math.sqrt(2))
    assert res.rci == pytest.approx([6 / (2 * math.sqrt(2)), 5 / (2 * math.sqrt(2)),
                                     -6 / (2 * math.sqrt(2)), 0.0])  # fmt: skip
    assert res.threshold_change == pytest.approx(5.5437, abs=1e-4)
    assert res.category.tolist() == ["improved", "no reliable change", "deteriorated",
                                     "no reliable change"]  # fmt: skip
    assert (res.n_improved, res.n_deteriorated) == (1, 1)
    assert res.share_improved == pytest.approx(0.25)


def test_lower_is_better_flips_the_direction():
    res = reliable_change([20, 20], [14, 26], 0.84, better="lower", sd_before=5.0)
    assert res.category.tolist() == ["improved", "deteriorated"]


def test_sd_before_defaults_to_the_sample_sd():
    before = np.array([10.0, 12.0, 14.0, 16.0])  # SD (n-1) = 2.5820
    res = reliable_change(before, before + 1, 0.5)
    assert res.sd_before == pytest.approx(np.std(before, ddof=1))
    assert res.s_diff == pytest.approx(math.sqrt(2) * res.sd_before * math.sqrt(0.5))


@pytest.mark.parametrize("kwargs, message", [({"reliability": 1.0}, "reliability"),
                                             ({"reliability": 0.8, "better": "up"}, "better")])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        reliable_change([1, 2, 3], [2, 3, 4], **kwargs)


def test_cronbach_alpha_by_hand():
    # Three items, four people. Item variances (n-1): 5/3, 19/12, 1/4 -> sum 3.5.
    # Totals 6, 9, 12, 11 -> variance 7.0. alpha = 3/2 * (1 - 3.5/7) = 0.75.
    items = pd.DataFrame({"a": [1, 2, 3, 4], "b": [2, 4, 5, 4], "c": [3, 3, 4, 3]})
    assert items.var(ddof=1).tolist() == pytest.approx([5 / 3, 19 / 12, 1 / 4])
    totals = items.sum(axis=1)
    assert totals.tolist() == [6, 9, 12, 11] and totals.var(ddof=1) == pytest.approx(7.0)
    res = cronbach_alpha(items)
    assert res.alpha == pytest.approx(0.75)
    assert res.n == 4 and res.k == 3
    assert res.ci_low < res.alpha < res.ci_high


def test_alpha_of_identical_items_is_one_and_rows_with_gaps_are_dropped():
    x = [1, 2, 3, 5, None]
    res = cronbach_alpha(pd.DataFrame({"a": x, "b": x, "c": x}))
    assert res.alpha == pytest.approx(1.0) and res.n == 4


def test_alpha_is_recovered_from_a_true_score_model():
    # k parallel items with reliability rho each: alpha = k*rho / (1 + (k-1)*rho) (Spearman-Brown).
    rng = np.random.default_rng(7)
    n, k, rho = 20000, 5, 0.4
    true = rng.normal(size=n)
    noise_sd = math.sqrt((1 - rho) / rho)
    items = pd.DataFrame({f"i{j}": true + rng.normal(0, noise_sd, n) for j in range(k)})
    expected = k * rho / (1 + (k - 1) * rho)
    res = cronbach_alpha(items)
    assert res.alpha == pytest.approx(expected, abs=0.01)
    assert res.ci_low < expected < res.ci_high
