"""Random-effects meta-analysis against metafor's published BCG results, hand calculations, exact
identities and a coverage simulation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gf_eval.stats.meta import random_effects

# ---------------------------------------------------------------------------------------------
# BCG vaccine trials (Colditz et al. 1994; metafor's dat.bcg): tpos, tneg, cpos, cneg
# ---------------------------------------------------------------------------------------------

BCG = np.array(
    [
        [4, 119, 11, 128],
        [6, 300, 29, 274],
        [3, 228, 11, 209],
        [62, 13536, 248, 12619],
        [33, 5036, 47, 5761],
        [180, 1361, 372, 1079],
        [8, 2537, 10, 619],
        [505, 87886, 499, 87892],
        [29, 7470, 45, 7232],
        [17, 1699, 65, 1600],
        [186, 50448, 141, 27197],
        [5, 2493, 3, 2338],
        [27, 16886, 29, 17825],
    ],
    dtype=float,
)


def bcg_yi_vi() -> tuple[np.ndarray, np.ndarray]:
    """Log risk ratios and their variances, as escalc(measure="RR") computes them."""
    tpos, tneg, cpos, cneg = BCG.T
    yi = np.log((tpos / (tpos + tneg)) / (cpos / (cpos + cneg)))
    vi = 1 / tpos - 1 / (tpos + tneg) + 1 / cpos - 1 / (cpos + cneg)
    return yi, vi


def bcg(**kwargs):
    yi, vi = bcg_yi_vi()
    return random_effects(yi, np.sqrt(vi), **kwargs)


# metafor prints 4 decimals: allow half a unit in the last place plus a hair
PRINTED = 5.1e-5


def test_bcg_effect_sizes_match_escalc():
    # metafor's escalc(measure="RR") on dat.bcg, trials 1, 6 and 8 (printed to 4 decimals)
    yi, vi = bcg_yi_vi()
    assert yi[[0, 5, 7]] == pytest.approx([-0.8893, -0.7861, 0.0120], abs=PRINTED)
    assert vi[[0, 5, 7]] == pytest.approx([0.3256, 0.0069, 0.0040], abs=PRINTED)


def test_bcg_fixed_effect_and_q_match_metafor():
    # metafor tests (test_misc_metan_vs_rma.uni_with_dat.bcg.r), rma(method="FE"): estimate
    # -0.4303, CI -0.5097 to -0.3509, z -10.6247, QE 152.2330 (df 12)
    res = bcg()
    assert res.fixed_estimate == pytest.approx(-0.4303, abs=PRINTED)
    assert res.fixed_ci_low == pytest.approx(-0.5097, abs=PRINTED)
    assert res.fixed_ci_high == pytest.approx(-0.3509, abs=PRINTED)
    assert res.fixed_estimate / res.fixed_se == pytest.approx(-10.6247, abs=PRINTED)
    assert res.q == pytest.approx(152.2330, abs=PRINTED)
    assert res.q_df == 12
    assert res.q_p < 1e-20  # printed as p < .0001; chi2(12) tail at 152 is ~1e-26


def test_bcg_dersimonian_laird_matches_metafor():
    # rma(yi, vi, method="DL"): tau2 0.3088, estimate -0.7141 (se 0.1787), CI -1.0644 to
    # -0.3638, z -3.9952, I2 92.1173%, H2 12.69
    res = bcg(method="DL")
    assert res.tau2 == pytest.approx(0.3088, abs=PRINTED)
    assert res.estimate == pytest.approx(-0.7141, abs=PRINTED)
    assert res.se == pytest.approx(0.1787, abs=PRINTED)
    assert res.ci_low == pytest.approx(-1.0644, abs=PRINTED)
    assert res.ci_high == pytest.approx(-0.3638, abs=PRINTED)
    assert res.statistic == pytest.approx(-3.9952, abs=PRINTED)
    assert res.df == math.inf
    assert res.i2 == pytest.approx(0.921173, abs=5.1e-7)
    assert res.h2 == pytest.approx(12.69, abs=0.0051)
    assert res.tau == pytest.approx(0.5557, abs=PRINTED)


def test_bcg_reml_matches_metafor():
    # rma(yi, vi) (REML, metafor's default): tau2 0.3132, tau 0.5597, estimate -0.7145,
    # se 0.1798, z -3.9744, CI -1.0669 to -0.3622, I2 92.22%, Q 152.2330
    res = bcg(method="REML")
    assert res.tau2 == pytest.approx(0.3132, abs=PRINTED)
    assert res.tau == pytest.approx(0.5597, abs=PRINTED)
    assert res.estimate == pytest.approx(-0.7145, abs=PRINTED)
    assert res.se == pytest.approx(0.1798, abs=PRINTED)
    assert res.statistic == pytest.approx(-3.9744, abs=PRINTED)
    assert res.ci_low == pytest.approx(-1.0669, abs=PRINTED)
    assert res.ci_high == pytest.approx(-0.3622, abs=PRINTED)
    assert res.q == pytest.approx(152.2330, abs=PRINTED)
    # metafor's printed I2 for a random-effects fit is tau2 / (tau2 + s2): 92.22% under REML.
    # The Q-based I2 = (Q - df) / Q = 140.2330 / 152.2330 does not depend on the estimator.
    assert res.i2_tau2 == pytest.approx(0.9222, abs=PRINTED)
    assert res.i2 == pytest.approx((152.2330 - 12) / 152.2330, abs=1e-6)


def test_bcg_reml_solves_the_restricted_score_equation():
    # REML fixed point (Viechtbauer 2005, eq. 12), written out independently of the module:
    # tau2 = sum w^2 ((y - mu)^2 - v) / sum w^2 + 1 / sum w, with w = 1 / (v + tau2)
    yi, vi = bcg_yi_vi()
    tau2 = bcg(method="REML").tau2
    w = 1 / (vi + tau2)
    mu = np.sum(w * yi) / np.sum(w)
    rhs = np.sum(w**2 * ((yi - mu) ** 2 - vi)) / np.sum(w**2) + 1 / np.sum(w)
    assert tau2 == pytest.approx(rhs, rel=1e-8)


def test_bcg_relative_change_matches_metafor_predict():
    # predict(rma(..., method="DL"), transf=exp): RR 0.4896, CI 0.3449 to 0.6950
    rc = bcg(method="DL").relative_change()
    assert rc.estimate == pytest.approx(0.4896 - 1, abs=PRINTED)
    assert rc.ci_low == pytest.approx(0.3449 - 1, abs=PRINTED)
    assert rc.ci_high == pytest.approx(0.6950 - 1, abs=PRINTED)
    # fixed effect: predict(rma(..., method="FE"), transf=exp): 0.6503, CI 0.6007 to 0.7040
    fe = bcg().relative_change(fixed=True)
    assert (fe.estimate, fe.ci_low, fe.ci_high) == pytest.approx(
        (0.6503 - 1, 0.6007 - 1, 0.7040 - 1), abs=PRINTED
    )
    assert math.isnan(fe.pi_low) and math.isnan(fe.pi_high)


def test_bcg_hksj_matches_metafor_knha_and_weighted_regression():
    # rma(yi, vi, method="DL", test="knha"): se 0.1807, t -3.9520 on 12 df, p 0.0019, CI -1.1078
    # to -0.3204. Source: Viechtbauer's R code for Borenstein et al. (2009), as transcribed in a
    # secondary compilation; the weighted-regression check below is independent of it.
    res = bcg(method="DL", hksj=True)
    assert res.estimate == pytest.approx(-0.7141, abs=PRINTED)  # HKSJ leaves mu unchanged
    assert res.se == pytest.approx(0.1807, abs=PRINTED)
    assert res.statistic == pytest.approx(-3.9520, abs=PRINTED)
    assert res.df == 12
    assert res.p_value == pytest.approx(0.0019, abs=PRINTED)
    assert res.ci_low == pytest.approx(-1.1078, abs=PRINTED)
    assert res.ci_high == pytest.approx(-0.3204, abs=PRINTED)
    # HKSJ = weighted least squares of y on a constant with weights 1 / (v + tau2), standard
    # error scaled by the residual mean square (what an OLS-type fit reports)
    yi, vi = bcg_yi_vi()
    sw = np.sqrt(1 / (vi + 0.3087602628))  # DL tau2, checked above against 0.3088
    coef, ssr, *_ = np.linalg.lstsq(sw[:, None], sw * yi, rcond=None)
    se_wls = math.sqrt(ssr[0] / (len(yi) - 1) / np.sum(sw**2))
    assert res.se == pytest.approx(se_wls, rel=1e-8)
    assert res.estimate == pytest.approx(coef[0], rel=1e-10)


def test_bcg_prediction_interval_by_hand():
    # Higgins et al. (2009): mu +/- t(k-2) sqrt(tau2 + SE^2). From metafor's DL figures
    # (mu -0.7141, tau2 0.3088, se 0.1787): t(11, 0.975) = 2.2010, sqrt(0.3088 + 0.0319) =
    # 0.5837, half-width 1.2848, so -1.9989 to 0.5707 (to rounding of the inputs)
    half = stats.t.ppf(0.975, 11) * math.sqrt(0.3088 + 0.1787**2)
    res = bcg(method="DL")
    assert res.pi_low == pytest.approx(-0.7141 - half, abs=2e-4)
    assert res.pi_high == pytest.approx(-0.7141 + half, abs=2e-4)
    assert (res.pi_low, res.pi_high) == pytest.approx((-1.9989, 0.5707), abs=2e-4)


# ---------------------------------------------------------------------------------------------
# a three-study example worked by hand
# ---------------------------------------------------------------------------------------------

# y = 0.1, 0.3, 0.5 with SE 0.1, 0.2, 0.2, so v = 0.01, 0.04, 0.04 and w = 100, 25, 25
#   sum w = 150; fixed = (100*0.1 + 25*0.3 + 25*0.5) / 150 = 30 / 150 = 0.2; SE = sqrt(1/150)
#   Q = 100*(-0.1)^2 + 25*(0.1)^2 + 25*(0.3)^2 = 1 + 0.25 + 2.25 = 3.5 on 2 df
#   C = sum w - sum w^2 / sum w = 150 - (10000 + 625 + 625) / 150 = 150 - 75 = 75
#   tau2 = (Q - df) / C = 1.5 / 75 = 0.02
#   w* = 1 / (v + 0.02) = 1/0.03, 1/0.06, 1/0.06 = 33.33, 16.67, 16.67; sum w* = 66.67
#   mu = (3.333 + 5 + 8.333) / 66.67 = 0.25; SE = sqrt(1 / 66.67) = sqrt(0.015)
#   I2 = (3.5 - 2) / 3.5 = 3/7; H2 = 3.5 / 2 = 1.75
#   weights: fixed 100/150, 25/150, 25/150 = 2/3, 1/6, 1/6; random 1/2, 1/4, 1/4
#   PI: 0.25 +/- t(1, 0.975) sqrt(0.02 + 0.015) = 0.25 +/- 12.7062 * 0.187083
#   HKSJ: sum w* (y - mu)^2 = 33.33*0.0225 + 16.67*0.0025 + 16.67*0.0625 = 0.75 + 0.041667
#         + 1.041667 = 1.833333; variance = 1.833333 / (2 * 66.67) = 0.01375; t on 2 df
Y3, SE3 = [0.1, 0.3, 0.5], [0.1, 0.2, 0.2]


def test_three_studies_dersimonian_laird_by_hand():
    res = random_effects(Y3, SE3, method="DL")
    assert res.fixed_estimate == pytest.approx(0.2, rel=1e-12)
    assert res.fixed_se == pytest.approx(math.sqrt(1 / 150), rel=1e-12)
    assert res.fixed_ci_low == pytest.approx(0.2 - 1.959964 * math.sqrt(1 / 150), abs=1e-6)
    assert res.q == pytest.approx(3.5, rel=1e-12)
    assert res.q_p == pytest.approx(math.exp(-3.5 / 2), rel=1e-10)  # chi2(2) tail is exp(-x/2)
    assert res.tau2 == pytest.approx(0.02, rel=1e-12)
    assert res.estimate == pytest.approx(0.25, rel=1e-12)
    assert res.se == pytest.approx(math.sqrt(0.015), rel=1e-12)
    assert res.ci_high == pytest.approx(0.25 + 1.959964 * math.sqrt(0.015), abs=1e-6)
    assert res.i2 == pytest.approx(3 / 7, rel=1e-12)
    assert res.i2_tau2 == pytest.approx(3 / 7, rel=1e-12)  # the two agree under DL
    assert res.h2 == pytest.approx(1.75, rel=1e-12)
    assert res.weights_fixed == pytest.approx((2 / 3, 1 / 6, 1 / 6), rel=1e-12)
    assert res.weights == pytest.approx((0.5, 0.25, 0.25), rel=1e-12)
    assert res.pi_low == pytest.approx(0.25 - 12.7062 * 0.187083, abs=1e-3)
    assert res.pi_high == pytest.approx(0.25 + 12.7062 * 0.187083, abs=1e-3)


def test_three_studies_hksj_by_hand():
    res = random_effects(Y3, SE3, method="DL", hksj=True)
    assert res.estimate == pytest.approx(0.25, rel=1e-12)
    assert res.se == pytest.approx(math.sqrt(0.01375), rel=1e-10)
    assert res.se_unadjusted == pytest.approx(math.sqrt(0.015), rel=1e-12)
    assert res.df == 2
    # t(2, 0.975) = 4.302653
    assert res.ci_low == pytest.approx(0.25 - 4.302653 * math.sqrt(0.01375), abs=1e-6)
    t_stat = 0.25 / math.sqrt(0.01375)
    # t on 2 df has the closed-form two-sided p = 1 - t / sqrt(2 + t^2)
    assert res.p_value == pytest.approx(1 - t_stat / math.sqrt(2 + t_stat**2), rel=1e-9)
    # the prediction interval keeps the unadjusted SE (Higgins et al. 2009), as without HKSJ
    assert res.pi_low == pytest.approx(0.25 - 12.7062 * 0.187083, abs=1e-3)


def test_relative_change_is_exp_minus_one():
    # exp(0.25) - 1 = 0.284025
    rc = random_effects(Y3, SE3).relative_change()
    assert rc.estimate == pytest.approx(0.2840254, abs=1e-7)
    assert rc.ci_low == pytest.approx(math.exp(0.25 - 1.959964 * math.sqrt(0.015)) - 1, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# homogeneity, small k, labels, summary
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["DL", "REML"])
def test_identical_estimates_give_no_heterogeneity(method):
    res = random_effects([-0.2] * 5, [0.1, 0.2, 0.15, 0.3, 0.25], method=method)
    assert res.q == pytest.approx(0, abs=1e-20)
    assert res.tau2 == 0
    assert res.i2 == 0
    assert res.estimate == pytest.approx(res.fixed_estimate, rel=1e-12)
    assert res.estimate == pytest.approx(-0.2, rel=1e-12)
    assert res.se == pytest.approx(res.fixed_se, rel=1e-12)
    assert res.weights == pytest.approx(res.weights_fixed, rel=1e-12)


@pytest.mark.parametrize("method", ["DL", "REML"])
def test_dispersion_below_chance_truncates_tau2_at_zero(method):
    # w = 25 each, mean 0.10: Q = 25 * (0 + 0.01^2 + 0.01^2 + 0) = 0.005, far below df = 3
    res = random_effects([0.10, 0.11, 0.09, 0.10], [0.2, 0.2, 0.2, 0.2], method=method)
    assert res.q < res.q_df
    assert res.tau2 == 0
    assert res.i2 == 0
    assert res.estimate == pytest.approx(0.10, rel=1e-12)  # equal weights: the plain mean


def test_two_sites_pool_without_prediction_interval():
    # w = 1/0.01, 1/0.04 = 100, 25; fixed = (100*0 + 25*0.5) / 125 = 0.1
    # Q = 100*0.01 + 25*0.16 = 5; C = 125 - 10625/125 = 40; tau2 = (5 - 1) / 40 = 0.1
    res = random_effects([0.0, 0.5], [0.1, 0.2])
    assert res.fixed_estimate == pytest.approx(0.1, rel=1e-12)
    assert res.tau2 == pytest.approx(0.1, rel=1e-12)
    # w* = 1/0.11, 1/0.14; mu = (0.5/0.14) / (1/0.11 + 1/0.14) = 0.5 * 0.11 / 0.25 = 0.22
    assert res.estimate == pytest.approx(0.22, rel=1e-12)
    assert math.isnan(res.pi_low) and math.isnan(res.pi_high)
    assert "not available" in res.summary()


def test_labels_from_argument_and_series_index():
    res = random_effects([0.1, 0.2, 0.4], [0.1, 0.1, 0.2], labels=["A", "B", "C"])
    assert res.labels == ("A", "B", "C")
    series = pd.Series([0.1, 0.2, 0.4], index=["north", "south", "east"])
    assert random_effects(series, [0.1, 0.1, 0.2]).labels == ("north", "south", "east")
    assert random_effects([0.1, 0.2], [0.1, 0.1]).labels == ("site 1", "site 2")


def test_summary_reports_the_key_figures():
    text = bcg(method="REML").summary()
    for piece in ("REML", "152.2330", "-0.71453", "0.3132", "92.12%", "92.22%", "-51.1%"):
        assert piece in text  # exp(-0.7145) - 1 = -0.5106
    assert all(len(line) <= 100 for line in text.splitlines())
    assert str(bcg()) == bcg().summary()
    assert bcg().to_dict()["q_df"] == 12


def test_alpha_sets_the_level():
    # 90% interval: z(0.95) = 1.644854
    res = random_effects(Y3, SE3, alpha=0.10)
    assert res.ci_low == pytest.approx(0.25 - 1.644854 * math.sqrt(0.015), abs=1e-6)
    assert res.pi_high == pytest.approx(0.25 + 6.313752 * 0.187083, abs=1e-4)  # t(1, 0.95)


# ---------------------------------------------------------------------------------------------
# simulation: HKSJ coverage
# ---------------------------------------------------------------------------------------------


def test_hksj_interval_covers_the_truth_about_95_percent():
    # 2000 meta-analyses of k = 10 sites; true log rate ratio log(0.8), tau2 = 0.04, each site's
    # SE drawn from 0.10-0.25; the effect each site reports is mu + u_i + e_i. (HKSJ coverage
    # sags towards 93% when site precisions vary much more widely, e.g. SEs of 0.05-0.30.)
    rng = np.random.default_rng(20240611)
    mu, tau2, k, reps = math.log(0.8), 0.04, 10, 2000
    covered = 0
    for _ in range(reps):
        se = rng.uniform(0.10, 0.25, k)
        y = mu + rng.normal(0, math.sqrt(tau2), k) + rng.normal(0, se)
        res = random_effects(y, se, method="DL", hksj=True)
        covered += res.ci_low <= mu <= res.ci_high
    assert 0.92 <= covered / reps <= 0.98


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"estimates": [0.1, 0.2], "standard_errors": [0.1]}, "differ in length"),
        ({"estimates": [0.1], "standard_errors": [0.1]}, "at least 2 sites"),
        ({"estimates": [], "standard_errors": []}, "at least 2 sites"),
        ({"estimates": [0.1, 0.2], "standard_errors": [0.1, 0.0]}, "must all be positive"),
        ({"estimates": [0.1, 0.2], "standard_errors": [-0.1, 0.2]}, "must all be positive"),
        ({"estimates": [0.1, np.nan], "standard_errors": [0.1, 0.2]}, "estimates contains 1"),
        ({"estimates": [0.1, 0.2], "standard_errors": [0.1, np.inf]}, "standard_errors contains"),
        ({"estimates": [0.1, None], "standard_errors": [0.1, 0.2]}, "only numbers"),
        ({"estimates": ["0.1", "0.2"], "standard_errors": [0.1, 0.2]}, "only numbers"),
        ({"estimates": [True, False], "standard_errors": [0.1, 0.2]}, "only numbers"),
        ({"estimates": [[0.1, 0.2]], "standard_errors": [[0.1, 0.2]]}, "one-dimensional"),
        ({"estimates": 0.1, "standard_errors": 0.1}, "one-dimensional"),
        ({"estimates": [0.1, 0.2], "standard_errors": [0.1, 0.2], "method": "PM"}, "method"),
        ({"estimates": [0.1, 0.2], "standard_errors": [0.1, 0.2], "alpha": 1.5}, "alpha"),
        ({"estimates": [0.1, 0.2], "standard_errors": [0.1, 0.2], "labels": ["a"]}, "labels"),
    ],
)
def test_bad_input_raises_a_named_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        random_effects(**kwargs)


def test_modified_hksj_never_narrows_below_the_unadjusted_interval():
    # Three sites that agree closely: plain HKSJ shrinks the SE far below sqrt(1 / sum w).
    y, se = [-0.10, -0.11, -0.105], [0.1, 0.1, 0.1]
    plain = random_effects(y, se, method="REML", hksj=True)
    modified = random_effects(y, se, method="REML", hksj="modified")
    unadjusted = (1 / (3 / 0.01)) ** 0.5  # tau^2 = 0, so sum w = 3 / 0.1^2
    assert plain.se < unadjusted
    assert modified.se == pytest.approx(unadjusted)
    assert modified.df == 2  # still t with k - 1 df
    with pytest.raises(ValueError, match="hksj"):
        random_effects(y, se, hksj="yes")
