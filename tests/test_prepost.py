"""Pre/post comparisons, checked against hand calculations, published values and the defining
properties of each interval evaluated directly with scipy.stats distributions."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from gf_eval.stats.prepost import (
    ordinal_logit,
    ordinal_two_groups,
    paired_binary,
    paired_continuous,
    proportions,
    rate_ratio,
)

Z975 = stats.norm.ppf(0.975)


def p_of_rr(rr: float, e1: float, e0: float) -> float:
    """Binomial probability that a post event falls in the post window, given the rate ratio."""
    return e1 * rr / (e1 * rr + e0)


# ---------------------------------------------------------------------------------------------
# rate ratio
# ---------------------------------------------------------------------------------------------

RR_CASES = [(2, 1.0, 9, 1.0), (6, 120.0, 15, 200.0), (40, 36.5, 55, 24.0), (1, 3.0, 1, 7.0)]


@pytest.mark.parametrize(("c1", "e1", "c0", "e0"), RR_CASES)
def test_rate_ratio_point_estimate_and_rates_by_hand(c1, e1, c0, e0):
    res = rate_ratio(c1, e1, c0, e0)
    assert res.rate_post == pytest.approx(c1 / e1, rel=1e-12)
    assert res.rate_pre == pytest.approx(c0 / e0, rel=1e-12)
    assert res.estimate == pytest.approx((c1 / e1) / (c0 / e0), rel=1e-12)
    assert res.n_total == c1 + c0


def test_rate_ratio_point_estimate_worked_example():
    # (6 / 120) / (15 / 200) = 0.05 / 0.075 = 2 / 3
    assert rate_ratio(6, 120, 15, 200).estimate == pytest.approx(2 / 3, rel=1e-12)


@pytest.mark.parametrize(("c1", "e1", "c0", "e0"), RR_CASES)
@pytest.mark.parametrize("alpha", [0.05, 0.10])
def test_rate_ratio_exact_limits_satisfy_clopper_pearson_equations(c1, e1, c0, e0, alpha):
    res = rate_ratio(c1, e1, c0, e0, method="exact", alpha=alpha)
    n = c1 + c0
    # lower limit: P(X >= c1) = alpha/2; upper limit: P(X <= c1) = alpha/2
    assert stats.binom.sf(c1 - 1, n, p_of_rr(res.ci_low, e1, e0)) == pytest.approx(
        alpha / 2, abs=1e-8
    )
    assert stats.binom.cdf(c1, n, p_of_rr(res.ci_high, e1, e0)) == pytest.approx(
        alpha / 2, abs=1e-8
    )
    assert res.ci_low < res.estimate < res.ci_high


@pytest.mark.parametrize(("c1", "e1", "c0", "e0"), RR_CASES)
def test_rate_ratio_midp_limits_satisfy_midp_equations(c1, e1, c0, e0):
    res = rate_ratio(c1, e1, c0, e0, method="midp")
    n = c1 + c0
    p_low = p_of_rr(res.ci_low, e1, e0)
    p_high = p_of_rr(res.ci_high, e1, e0)
    lower_eq = stats.binom.sf(c1, n, p_low) + 0.5 * stats.binom.pmf(c1, n, p_low)
    upper_eq = stats.binom.cdf(c1 - 1, n, p_high) + 0.5 * stats.binom.pmf(c1, n, p_high)
    assert lower_eq == pytest.approx(0.025, abs=1e-8)
    assert upper_eq == pytest.approx(0.025, abs=1e-8)
    # mid-p intervals are never wider than the exact ones
    exact = rate_ratio(c1, e1, c0, e0, method="exact")
    assert exact.ci_low < res.ci_low < res.estimate < res.ci_high < exact.ci_high


def test_rate_ratio_exact_p_value_by_hand():
    # c1 = 2 of n = 11, p0 = 1/2: P(X <= 2) = (C(11,0) + C(11,1) + C(11,2)) / 2^11
    res = rate_ratio(2, 1, 9, 1, method="exact")
    assert res.p_value == pytest.approx(2 * (1 + 11 + 55) / 2048, abs=1e-12)
    assert res.null_proportion == pytest.approx(0.5)
    assert res.statistic == 2


def test_rate_ratio_midp_p_value_by_hand():
    # P(X < 2) = 12/2048, P(X = 2) = 55/2048: p = 2 * (12 + 55/2) / 2048 = 79/2048
    res = rate_ratio(2, 1, 9, 1, method="midp")
    assert res.p_value == pytest.approx(79 / 2048, abs=1e-12)


def test_rate_ratio_exact_p_value_unequal_exposure_by_hand():
    # c1 = 1, c0 = 2, e1 = 1, e0 = 2: p0 = 1/3; P(X <= 1) = (2/3)^3 + 3 (1/3)(2/3)^2 = 20/27,
    # P(X >= 1) = 1 - (2/3)^3 = 19/27; p = min(1, 2 * 19/27) = 1
    assert rate_ratio(1, 1, 2, 2).p_value == 1.0
    # c1 = 0, c0 = 5, equal exposure: P(X <= 0) = 1/32, p = 2/32
    assert rate_ratio(0, 1, 5, 1).p_value == pytest.approx(2 / 32, abs=1e-12)


def test_rate_ratio_exact_test_agrees_with_interval():
    # with the doubled-tail test, the exact interval excludes 1 exactly when p <= alpha
    for c1, c0 in product(range(0, 12), range(0, 12)):
        if c1 + c0 == 0:
            continue
        res = rate_ratio(c1, 2.0, c0, 3.0)
        excludes_one = res.ci_high < 1 or res.ci_low > 1
        assert excludes_one == (res.p_value <= 0.05), (c1, c0)


def test_rate_ratio_zero_post_count():
    n = 9
    for method in ("exact", "midp"):
        res = rate_ratio(0, 1.0, n, 2.0, method=method)
        assert res.estimate == 0.0
        assert res.ci_low == 0.0
    # exact upper: P(X <= 0) = (1 - p)^n = 0.025; mid-p upper: 0.5 (1 - p)^n = 0.025
    for method, tail in (("exact", 0.025), ("midp", 0.05)):
        p_u = 1 - tail ** (1 / n)
        rr_u = p_u / (1 - p_u) * 2.0 / 1.0
        assert rate_ratio(0, 1.0, n, 2.0, method=method).ci_high == pytest.approx(rr_u, rel=1e-8)


def test_rate_ratio_zero_pre_count():
    n = 4
    for method, tail in (("exact", 0.025), ("midp", 0.05)):
        res = rate_ratio(n, 3.0, 0, 1.0, method=method)
        assert res.estimate == math.inf
        assert res.ci_high == math.inf
        # exact lower: P(X >= n) = p^n = 0.025; mid-p lower: 0.5 p^n = 0.025
        p_l = tail ** (1 / n)
        assert res.ci_low == pytest.approx(p_l / (1 - p_l) * 1.0 / 3.0, rel=1e-8)


def test_rate_ratio_relative_change():
    res = rate_ratio(6, 120, 15, 200)
    change, low, high = res.relative_change
    assert change == pytest.approx(2 / 3 - 1)
    assert (low, high) == pytest.approx((res.ci_low - 1, res.ci_high - 1))
    assert "Clopper-Pearson" in res.method
    assert "Rate ratio" in res.summary()


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((-1, 1, 3, 1), {}, "non-negative"),
        ((1, 1, -3, 1), {}, "non-negative"),
        ((1.5, 1, 3, 1), {}, "whole number"),
        ((1, 0, 3, 1), {}, "positive"),
        ((1, 1, 3, -2), {}, "positive"),
        ((1, 1, 3, math.inf), {}, "finite"),
        ((0, 1, 0, 1), {}, "no events"),
        (("2", 1, 3, 1), {}, "number"),
        ((2, 1, 3, 1), {"method": "wald"}, "method"),
        ((2, 1, 3, 1), {"alpha": 1.5}, "alpha"),
    ],
)
def test_rate_ratio_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rate_ratio(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# two proportions
# ---------------------------------------------------------------------------------------------


def test_proportions_pearson_chi_square_by_hand():
    s1, n1, s0, n0 = 30, 50, 20, 60
    observed = np.array([[s1, n1 - s1], [s0, n0 - s0]], dtype=float)
    total = n1 + n0
    rows = [n1, n0]
    cols = [s1 + s0, total - s1 - s0]
    chi2 = sum(
        (observed[i, j] - rows[i] * cols[j] / total) ** 2 / (rows[i] * cols[j] / total)
        for i in range(2)
        for j in range(2)
    )
    res = proportions(s1, n1, s0, n0)
    assert res.test.startswith("Pearson chi-square")
    assert res.statistic == pytest.approx(chi2, rel=1e-10)
    assert res.p_value == pytest.approx(stats.chi2.sf(chi2, 1), rel=1e-10)
    assert res.estimate == pytest.approx(30 / 50 - 20 / 60)
    assert res.min_expected == pytest.approx(50 * 50 / 110)


def test_proportions_fisher_lady_tasting_tea():
    # Fisher's tea-tasting table [[3, 1], [1, 3]]: two-sided p = 34/70
    res = proportions(3, 4, 1, 4)
    assert res.test.startswith("Fisher")
    assert math.isnan(res.statistic)
    assert res.p_value == pytest.approx(0.4857142857, abs=1e-9)


def test_proportions_chi_square_used_when_smallest_expected_is_exactly_five():
    # 5/10 vs 5/10: every expected count is exactly 5, observed = expected, chi-square 0
    res = proportions(5, 10, 5, 10)
    assert res.test.startswith("Pearson chi-square")
    assert res.statistic == pytest.approx(0.0)
    assert res.p_value == pytest.approx(1.0)
    # 4/9 vs 5/10: one expected count below 5
    assert proportions(4, 9, 5, 10).test.startswith("Fisher")


def test_proportions_katz_interval_by_hand():
    a, n1, c, n0 = 56, 70, 48, 80
    rr = (a / n1) / (c / n0)
    half = Z975 * math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
    res = proportions(a, n1, c, n0)
    assert res.ratio == pytest.approx(rr, rel=1e-12)
    assert res.ratio_ci_low == pytest.approx(math.exp(math.log(rr) - half), rel=1e-10)
    assert res.ratio_ci_high == pytest.approx(math.exp(math.log(rr) + half), rel=1e-10)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10
        ((56, 70, 48, 80), (0.2000, 0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.6000, 0.1705, 0.8090)),
        ((5, 56, 0, 29), (0.0893, -0.0381, 0.1926)),
        ((0, 10, 0, 20), (0.0000, -0.1611, 0.2775)),
        ((10, 10, 0, 10), (1.0000, 0.6075, 1.0000)),
    ],
)
def test_proportions_newcombe_published_examples(args, expected):
    res = proportions(*args)
    assert (res.estimate, res.ci_low, res.ci_high) == pytest.approx(expected, abs=5e-5)


def test_proportions_zero_counts_give_undefined_katz_interval():
    res = proportions(5, 56, 0, 29)
    assert res.ratio == math.inf
    assert math.isnan(res.ratio_ci_low) and math.isnan(res.ratio_ci_high)
    assert math.isnan(proportions(0, 10, 0, 20).ratio)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((11, 10, 3, 10), "exceeds"),
        ((1, 10, 3, 0), "empty"),
        ((-1, 10, 3, 10), "non-negative"),
        ((1, 10, 2.5, 10), "whole number"),
        ((None, 10, 2, 10), "number"),
    ],
)
def test_proportions_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        proportions(*args)


# ---------------------------------------------------------------------------------------------
# paired continuous
# ---------------------------------------------------------------------------------------------


def test_paired_continuous_by_hand():
    before = [10, 12, 9, 15, 11, None, 8]
    after = [12, 15, 9, 19, 14, 7, np.nan]
    # complete pairs: differences 2, 3, 0, 4, 3 -> mean 12/5 = 2.4
    # squared deviations 0.16 + 0.36 + 5.76 + 2.56 + 0.36 = 9.2 -> variance 9.2/4 = 2.3
    mean, var = 2.4, 2.3
    se = math.sqrt(var / 5)
    t = mean / se
    res = paired_continuous(before, after)
    assert res.n == 5
    assert res.n_dropped == 2
    assert res.estimate == pytest.approx(mean, rel=1e-12)
    assert res.sd_change == pytest.approx(math.sqrt(var), rel=1e-12)
    assert res.se == pytest.approx(se, rel=1e-12)
    assert res.t_statistic == pytest.approx(t, rel=1e-10)
    assert res.df == 4
    assert res.t_p_value == pytest.approx(2 * stats.t.sf(t, 4), rel=1e-10)
    half = stats.t.ppf(0.975, 4) * se
    assert (res.ci_low, res.ci_high) == pytest.approx((mean - half, mean + half), rel=1e-10)
    assert res.d_z == pytest.approx(mean / math.sqrt(var), rel=1e-12)
    # before 10, 12, 9, 15, 11: variance 21.2/4 = 5.3; after 12, 15, 9, 19, 14: 54.8/4 = 13.7
    assert res.sd_before == pytest.approx(math.sqrt(5.3))
    assert res.sd_after == pytest.approx(math.sqrt(13.7))
    assert res.d_av == pytest.approx(mean / ((math.sqrt(5.3) + math.sqrt(13.7)) / 2), rel=1e-12)


def test_paired_continuous_wilcoxon_by_hand():
    # non-zero differences 2, 3, 4, 3 (the zero is discarded): ranks 1, 2.5, 4, 2.5, all
    # positive, so W+ = 10, W- = 0; of the 2^4 equally likely sign patterns only all-plus and
    # all-minus are as extreme, two-sided p = 2/16
    res = paired_continuous([10, 12, 9, 15, 11], [12, 15, 9, 19, 14])
    assert res.n_zero_differences == 1
    assert res.wilcoxon_statistic == 0
    assert res.wilcoxon_p_value == pytest.approx(2 / 16)
    assert "zero_method='wilcox'" in res.method


def test_paired_continuous_wilcoxon_discards_zero_difference():
    # differences 0, 1, -2, 3, 4, 5: the zero is discarded (not ranked, as Pratt would), so the
    # non-zero ones rank 1..5 and W- = 2; subsets of {1..5} summing to <= 2 are {}, {1}, {2},
    # 3 of 32 sign patterns, two-sided p = 2 * 3/32
    before = [10, 10, 10, 10, 10, 10]
    after = [10, 11, 8, 13, 14, 15]
    res = paired_continuous(before, after)
    assert res.n_zero_differences == 1
    assert res.wilcoxon_statistic == 2
    assert res.wilcoxon_p_value == pytest.approx(6 / 32)


def test_paired_continuous_negative_change_sign():
    res = paired_continuous([5, 6, 7], [4, 4, 6])
    # differences -1, -2, -1
    assert res.estimate == pytest.approx(-4 / 3)
    assert res.t_statistic < 0 and res.d_z < 0


@pytest.mark.parametrize(
    ("before", "after", "match"),
    [
        ([1, 2, 3], [1, 2], "differ in length"),
        ([1, None, 3], [2, 3, None], "at least 2"),
        ([1], [2], "at least 2"),
        ([1, "a", 3], [1, 2, 3], "numbers"),
        ("abc", "abd", "one-dimensional"),
    ],
)
def test_paired_continuous_bad_input(before, after, match):
    with pytest.raises(ValueError, match=match):
        paired_continuous(before, after)


# ---------------------------------------------------------------------------------------------
# paired binary
# ---------------------------------------------------------------------------------------------


def make_pairs(n11, b, c, n00):
    before = [1] * n11 + [1] * b + [0] * c + [0] * n00
    after = [1] * n11 + [0] * b + [1] * c + [0] * n00
    return before, after


def test_paired_binary_mcnemar_exact_by_hand():
    before, after = make_pairs(5, 2, 9, 4)
    res = paired_binary(before, after)
    assert (res.n11, res.b, res.c, res.n00) == (5, 2, 9, 4)
    assert res.n == 20
    # min(b, c) = 2 of 11 at 1/2: p = 2 (1 + 11 + 55) / 2^11
    assert res.p_value == pytest.approx(134 / 2048, abs=1e-12)
    assert res.p_before == pytest.approx(7 / 20)
    assert res.p_after == pytest.approx(14 / 20)
    assert res.estimate == pytest.approx((9 - 2) / 20)
    # the test is symmetric in b and c
    assert paired_binary(*make_pairs(5, 9, 2, 4)).p_value == pytest.approx(134 / 2048)


def test_paired_binary_accepts_booleans_and_drops_missing():
    before = [True, True, False, None, False, True]
    after = [False, True, True, True, np.nan, True]
    res = paired_binary(before, after)
    assert res.n == 4 and res.n_dropped == 2
    assert (res.n11, res.b, res.c, res.n00) == (2, 1, 1, 0)
    assert res.p_value == 1.0  # b = c


@pytest.mark.parametrize(
    ("before", "after", "match"),
    [
        ([0, 1, 2], [0, 1, 1], "only 0, 1"),
        ([0, 1], [0, 1, 1], "differ in length"),
        ([0, None], [1, 1], "at least 2"),
        (["yes", "no"], [0, 1], "numbers"),
    ],
)
def test_paired_binary_bad_input(before, after, match):
    with pytest.raises(ValueError, match=match):
        paired_binary(before, after)


# ---------------------------------------------------------------------------------------------
# ordinal, two groups: Mann-Whitney
# ---------------------------------------------------------------------------------------------


def test_ordinal_two_groups_rank_biserial_by_hand():
    group0 = [1, 2, 2, 3]
    group1 = [2, 3, 3, 4]
    # pairwise: group1 = 2 beats 1, ties 2 and 2, loses to 3 -> 2; each 3 beats 1, 2, 2 and
    # ties 3 -> 3.5 (twice); 4 beats all four -> 4. U1 = 2 + 7 + 4 = 13 of 16 pairs
    assert sum(1.0 * (a > b) + 0.5 * (a == b) for a in group1 for b in group0) == 13
    res = ordinal_two_groups(group0, group1)
    assert res.u1 == 13
    assert res.prob_superiority == pytest.approx(13 / 16)
    # wins 11, losses 1: r = (11 - 1) / 16 = 2 * 13 / 16 - 1 = 0.625
    assert res.rank_biserial == pytest.approx(0.625)
    # with ties scipy uses the normal approximation: mean n0 n1 / 2 = 8, tie-corrected variance
    # n0 n1 / 12 * ((N + 1) - sum(t^3 - t) / (N (N - 1))) with ties of 3 at 2 and at 3
    sigma = math.sqrt(16 / 12 * (9 - 2 * (27 - 3) / 56))
    assert res.p_value == pytest.approx(2 * stats.norm.sf((13 - 8 - 0.5) / sigma), rel=1e-10)


def test_ordinal_two_groups_direction_and_missing():
    res = ordinal_two_groups([2, 3, 3, 4, None], [1, 2, 2, 3])
    assert res.rank_biserial == pytest.approx(-0.625)
    assert (res.n0, res.n1, res.n_dropped) == (4, 4, 1)
    # complete separation: every group 1 value higher -> r = 1
    assert ordinal_two_groups([1, 1, 2], [3, 4]).rank_biserial == 1.0


@pytest.mark.parametrize(
    ("group0", "group1", "match"),
    [([], [1, 2], "at least one"), ([None], [1, 2], "at least one"), (["a"], [1], "numbers")],
)
def test_ordinal_two_groups_bad_input(group0, group1, match):
    with pytest.raises(ValueError, match=match):
        ordinal_two_groups(group0, group1)


# ---------------------------------------------------------------------------------------------
# ordinal logit
# ---------------------------------------------------------------------------------------------


def two_by_two(a, b, c, d, group_values=(1, 0)):
    """Rows for a 2x2 table: group 1 has a with y = 1 and b with y = 0; group 0 has c and d."""
    g1, g0 = group_values
    rows = [(g1, 1)] * a + [(g1, 0)] * b + [(g0, 1)] * c + [(g0, 0)] * d
    return pd.DataFrame(rows, columns=["g", "y"])


@pytest.mark.parametrize("cells", [(12, 5, 7, 15), (30, 10, 3, 40), (2, 9, 8, 3)])
def test_ordinal_logit_binary_outcome_equals_cross_product_odds_ratio(cells):
    a, b, c, d = cells
    res = ordinal_logit(two_by_two(a, b, c, d), "y", "g")
    assert res.estimate == pytest.approx(math.log(a * d / (b * c)), abs=1e-4)
    # saturated binary logit: the ML standard error is Woolf's sqrt(1/a + 1/b + 1/c + 1/d)
    assert res.se == pytest.approx(math.sqrt(1 / a + 1 / b + 1 / c + 1 / d), abs=1e-4)
    assert res.n == a + b + c + d and res.n_dropped == 0
    assert res.converged
    assert res.group1_level == 1 and res.group0_level == 0
    assert res.odds_ratio == pytest.approx(a * d / (b * c), rel=1e-3)


def test_ordinal_logit_two_valued_group_labels():
    data = two_by_two(12, 5, 7, 15, group_values=("treated", "control"))
    # sorted order puts "treated" last, so it is group 1 by default
    res = ordinal_logit(data, "y", "g")
    assert res.group1_level == "treated"
    assert res.estimate == pytest.approx(math.log(12 * 15 / (5 * 7)), abs=1e-4)
    flipped = ordinal_logit(data, "y", "g", group1="control")
    assert flipped.group1_level == "control"
    assert flipped.estimate == pytest.approx(-math.log(12 * 15 / (5 * 7)), abs=1e-4)


@pytest.fixture(scope="module")
def survey() -> pd.DataFrame:
    rng = np.random.default_rng(20240501)
    n = 300
    group = rng.integers(0, 2, n)
    site = rng.choice(["north", "south", "east"], n)
    latent = 0.8 * group + np.where(site == "south", 0.5, 0.0) + rng.logistic(size=n)
    score = np.digitize(latent, [-0.5, 0.5, 1.5])
    data = pd.DataFrame({"score": score.astype(float), "group": group, "site": site})
    data.loc[[0, 5], "score"] = np.nan
    data.loc[[7], "site"] = None
    data.loc[[9], "group"] = np.nan
    return data


def test_ordinal_logit_with_covariates_drops_missing_rows(survey):
    res = ordinal_logit(survey, "score", "group", covariates=["site"])
    assert res.n == len(survey) - 4
    assert res.n_dropped == 4
    assert res.categories == (0.0, 1.0, 2.0, 3.0)
    assert res.covariate_terms == ("site=north", "site=south")  # "east" is the dropped level
    assert res.converged
    assert res.estimate > 0  # the data were generated with group 1 shifted upwards
    assert res.ci_low < res.estimate < res.ci_high
    assert "Ordered logit" in res.summary()


def test_ordinal_logit_binary_outcome_with_covariate_matches_logistic_regression(survey):
    # with two categories the ordered logit is the binary logit, threshold = -intercept
    data = survey.dropna().assign(high=lambda df: (df["score"] >= 2).astype(int))
    res = ordinal_logit(data, "high", "group", covariates=["site"])
    exog = sm.add_constant(
        pd.get_dummies(data[["group", "site"]], columns=["site"], drop_first=True, dtype=float)
    )
    logit = sm.Logit(data["high"], exog).fit(disp=False)
    assert res.estimate == pytest.approx(logit.params["group"], abs=1e-4)
    assert res.se == pytest.approx(logit.bse["group"], abs=1e-4)


def test_ordinal_logit_score_is_the_gradient_of_its_likelihood(survey):
    """The analytic score against statsmodels' numerical gradient of the same log-likelihood
    at points away from the optimum, and the fit with it against statsmodels' own
    OrderedModel fitted with numerical gradients."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel
    from statsmodels.tools.numdiff import approx_fprime

    from gf_eval.stats.prepost import _LogitOrderedModel

    data = survey.dropna()
    exog = pd.get_dummies(data[["group", "site"]], columns=["site"], drop_first=True, dtype=float)
    y = pd.Series(pd.Categorical(data["score"], ordered=True), index=data.index)
    model = _LogitOrderedModel(y, exog, distr="logit")
    statsmodels = OrderedModel(y, exog, distr="logit")
    rng = np.random.default_rng(5)
    for _ in range(5):
        params = model.start_params + rng.normal(0, 0.5, model.start_params.size)
        numeric = approx_fprime(params, statsmodels.loglike, centered=True)
        np.testing.assert_allclose(model.score(params), numeric, rtol=1e-6, atol=1e-6)
    fit = model.fit(method="bfgs", maxiter=2000, disp=False, gtol=1e-8)
    plain = statsmodels.fit(method="bfgs", maxiter=2000, disp=False, gtol=1e-8)
    np.testing.assert_allclose(fit.params, plain.params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fit.bse, plain.bse, rtol=1e-5)
    res = ordinal_logit(data, "score", "group", covariates=["site"])
    assert res.estimate == pytest.approx(plain.params["group"], abs=1e-7)


def test_ordinal_logit_order_follows_ordered_categorical(survey):
    labels = np.array(["poor", "fair", "good", "excellent"])
    data = survey.dropna().copy()
    coded = ordinal_logit(data, "score", "group")
    data["rating"] = pd.Categorical(
        labels[data["score"].astype(int)], categories=labels, ordered=True
    )
    named = ordinal_logit(data, "rating", "group")
    assert named.categories == tuple(labels)
    assert named.estimate == pytest.approx(coded.estimate, abs=1e-5)
    # reversing the category order reverses the sign of the log odds ratio
    data["rating"] = data["rating"].cat.reorder_categories(labels[::-1])
    assert ordinal_logit(data, "rating", "group").estimate == pytest.approx(
        -coded.estimate, abs=1e-4
    )


def test_ordinal_logit_bad_input(survey):
    with pytest.raises(ValueError, match="not in data"):
        ordinal_logit(survey, "score", "missing_column")
    with pytest.raises(ValueError, match="exactly two values"):
        ordinal_logit(survey, "score", "site")
    with pytest.raises(ValueError, match="fewer than 2 categories"):
        ordinal_logit(survey.assign(score=1.0), "score", "group")
    with pytest.raises(ValueError, match="group1"):
        ordinal_logit(survey, "score", "group", group1=7)
    with pytest.raises(ValueError, match="DataFrame"):
        ordinal_logit(survey.to_dict(), "score", "group")
