"""The synthetic control engine (gf_eval.stats.synthetic_control): weights, the augmented
variant, placebo inference, and refusals of bad input."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from gf_eval.stats.synthetic_control import (
    PlaceboResults,
    SyntheticControl,
    placebo,
    simplex_weights,
)


def _slsqp(A, b):
    """The reference solver: scipy's general SLSQP on the simplex, run to a tight tolerance."""
    J = A.shape[1]
    P, q = A.T @ A, A.T @ b
    # At 1e-12 SLSQP can stop on a failed line search at the limit of its precision (scipy
    # 1.17.1, seed 99's fourth problem): it is then run to 1e-10, and must succeed there.
    for ftol in (1e-12, 1e-10):
        res = optimize.minimize(
            lambda w: 0.5 * w @ P @ w - q @ w, np.full(J, 1 / J), jac=lambda w: P @ w - q,
            bounds=[(0, 1)] * J, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1,
                                               "jac": lambda w: np.ones(J)}],
            method="SLSQP", options={"ftol": ftol, "maxiter": 2000},
        )  # fmt: skip
        if res.success or "linesearch" not in res.message:
            break
    assert res.success, res.message
    return res.x


def _random_problem(rng, T0, J, inside=True):
    D = rng.normal(size=(T0, J)) + rng.normal(size=(T0, 1))
    if inside:  # a point in the donors' convex hull, plus noise
        b = D @ rng.dirichlet(np.full(J, 0.5)) + rng.normal(0, 0.3, T0)
    else:
        b = rng.normal(0, 2, T0)
    return D, b


def _factor_panel(rng, T=40, J=30, loading_treated=None, noise=0.5, effect=0.0, T0=30):
    """Y_it = 5 + lambda_i1 f_1t + lambda_i2 f_2t + e_it, the factors trending random walks;
    column 0 is the treated unit, which gets `effect` added from period T0 on."""
    f = np.cumsum(rng.normal(0.3, 1.0, size=(T, 2)), axis=0)
    lam = rng.uniform(0.5, 1.5, size=(J + 1, 2))
    if loading_treated is not None:
        lam[0] = loading_treated
    Y = 5 + f @ lam.T + rng.normal(0, noise, size=(T, J + 1))
    Y[T0:, 0] += effect
    return Y[:, 0], Y[:, 1:]


# --- the weights ---------------------------------------------------------------------------


def test_hand_calculation_exact_combination():
    rng = np.random.default_rng(7)
    T, T0, J = 12, 8, 4
    donors = rng.normal(10, 2, size=(T, J))
    treated = 0.3 * donors[:, 0] + 0.7 * donors[:, 1]
    treated[T0:] += 2.0
    res = SyntheticControl(treated, donors, T0).fit()
    np.testing.assert_allclose(res.weights, [0.3, 0.7, 0, 0], atol=1e-10)
    np.testing.assert_allclose(res.gap[:T0], 0, atol=1e-10)
    np.testing.assert_allclose(res.gap[T0:], 2.0, atol=1e-10)
    assert res.effect() == pytest.approx(2.0)
    assert res.effect([9, 10]) == pytest.approx(2.0)
    assert res.pre_rmspe == pytest.approx(0, abs=1e-10)
    assert res.post_rmspe == pytest.approx(2.0)
    np.testing.assert_allclose(res.synthetic, donors @ res.weights)


@pytest.mark.parametrize("T0,J", [(5, 3), (20, 8), (10, 40), (40, 150)])
def test_weights_on_the_simplex(T0, J):
    rng = np.random.default_rng(T0 * 1000 + J)
    for inside in (True, False):
        w = simplex_weights(*_random_problem(rng, T0, J, inside))
        assert w.shape == (J,)
        assert (w >= 0).all()
        assert w.sum() == pytest.approx(1, abs=1e-12)


def test_fast_solver_equals_slsqp():
    rng = np.random.default_rng(2024)
    for k in range(40):
        T0, J = int(rng.integers(10, 30)), int(rng.integers(2, 9))  # T0 > J: a unique optimum
        A, b = _random_problem(rng, T0, J, inside=bool(k % 2))
        np.testing.assert_allclose(simplex_weights(A, b), _slsqp(A, b), atol=1e-6)


def test_fast_solver_fit_no_worse_than_slsqp_with_more_donors_than_periods():
    # With J > T0 the weights need not be unique, but the fit (the objective) is.
    rng = np.random.default_rng(99)
    for _ in range(10):
        A, b = _random_problem(rng, 8, 25, inside=False)
        w, ref = simplex_weights(A, b), _slsqp(A, b)
        sse = lambda v: float(np.sum((A @ v - b) ** 2))  # noqa: E731
        assert sse(w) <= sse(ref) + 1e-8


def test_solver_scale_invariant():
    rng = np.random.default_rng(5)
    A, b = _random_problem(rng, 15, 6)
    np.testing.assert_allclose(simplex_weights(1e6 * A, 1e6 * b), simplex_weights(A, b),
                               atol=1e-9)  # fmt: skip


# --- recovery on a factor model ------------------------------------------------------------


def test_recovers_additive_effect_inside_the_hull():
    errors = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        treated, donors = _factor_panel(rng, loading_treated=[1.0, 1.0], effect=5.0)
        errors.append(SyntheticControl(treated, donors, 30).fit().effect() - 5.0)
    errors = np.array(errors)
    assert abs(errors.mean()) < 0.3  # noise sd 0.5 over 10 post periods; the fit adds some
    assert np.abs(errors).max() < 1.5


def test_augmented_less_biased_outside_the_hull():
    sc, asc = [], []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        # loadings above every donor's (at most 1.5): no convex combination matches the trend
        treated, donors = _factor_panel(rng, loading_treated=[2.0, 1.8], effect=3.0)
        model = SyntheticControl(treated, donors, 30)
        sc.append(model.fit().effect() - 3.0)
        fit = model.fit("augmented")
        asc.append(fit.effect() - 3.0)
        assert fit.weights.sum() == pytest.approx(1, abs=1e-9)
        assert fit.ridge > 0
    bias_sc, bias_asc = abs(np.mean(sc)), abs(np.mean(asc))
    assert bias_sc > 1.0  # plain SC cannot reach the treated's trend
    assert bias_asc < 0.5 * bias_sc


def test_augmented_weights_may_be_negative_and_large_ridge_returns_sc():
    rng = np.random.default_rng(3)
    treated, donors = _factor_panel(rng, loading_treated=[2.0, 1.8], effect=0.0)
    model = SyntheticControl(treated, donors, 30)
    fit = model.fit("augmented", ridge=1.0)
    assert (fit.weights < 0).any()
    np.testing.assert_allclose(fit.simplex_weights, model.fit().weights)
    np.testing.assert_allclose(model.fit("augmented", ridge=1e12).weights, model.fit().weights,
                               atol=1e-6)  # fmt: skip


# Reference numbers from pysyncon 1.7.0 (AugSynth, use_covariates=False; run in a scratch
# venv, not a dependency): a constructed panel of 10 periods (7 pre), a treated unit with a
# factor loading of 0.5 (below every donor's, 0.8 to 2.0) and 3.0 added from period 7, values
# rounded to 2 decimals. pysyncon solves the weights by SLSQP (ftol 1e-12), so the plain weights
# agree to about 1e-7.
PYSYNCON_PANEL = np.array([
    [9.83, 9.43, 9.40, 9.50, 9.33, 9.97],
    [9.28, 8.46, 7.74, 7.06, 9.19, 8.03],
    [9.34, 9.22, 8.43, 8.04, 9.86, 8.99],
    [9.70, 10.26, 9.73, 9.41, 9.95, 9.71],
    [9.63, 8.48, 8.96, 8.31, 9.80, 9.31],
    [9.95, 8.96, 8.75, 8.55, 8.96, 8.85],
    [8.47, 7.33, 5.89, 4.44, 8.07, 6.88],
    [11.44, 6.59, 4.19, 2.84, 6.90, 6.14],
    [11.28, 6.94, 5.11, 3.25, 6.88, 5.85],
    [11.72, 7.49, 6.33, 4.55, 8.39, 6.53],
])  # fmt: skip
PYSYNCON_SYNW = [0.0090335194, 0.0, 0.0, 0.9437703702, 0.0471961104]
PYSYNCON_LAMBDA = 33.66337209309734  # chosen by its cross-validation (1-SE rule)
PYSYNCON_W_AUG = [0.0172277894, -0.0047466716, -0.0180308717, 0.9490615811, 0.0564881728]
PYSYNCON_W_AUG_LAMBDA1 = [0.0998601251, -0.0051824032, -0.1504678116, 0.809261083, 0.2465290067]
PYSYNCON_ATT = 4.085684868574738  # mean gap over the 3 post periods, augmented


def test_matches_pysyncon_reference_numbers():
    model = SyntheticControl(PYSYNCON_PANEL[:, 0], PYSYNCON_PANEL[:, 1:], 7)
    np.testing.assert_allclose(model.fit().weights, PYSYNCON_SYNW, atol=1e-6)
    aug = model.fit("augmented")
    assert aug.ridge == pytest.approx(PYSYNCON_LAMBDA, rel=1e-9)
    np.testing.assert_allclose(aug.weights, PYSYNCON_W_AUG, atol=1e-6)
    assert aug.effect() == pytest.approx(PYSYNCON_ATT, abs=1e-6)
    np.testing.assert_allclose(model.fit("augmented", ridge=1.0).weights,
                               PYSYNCON_W_AUG_LAMBDA1, atol=1e-6)  # fmt: skip


# --- placebo inference ---------------------------------------------------------------------


def _iid_panel(rng, T=14, T0=10, J=19):
    """Units exchangeable by construction: one common factor, loadings and noise iid."""
    f = np.cumsum(rng.normal(size=T))
    Y = np.outer(f, rng.uniform(0.5, 1.5, J + 1)) + rng.normal(size=(T, J + 1))
    return Y[:, 0], Y[:, 1:]


@pytest.mark.parametrize("include_treated", [False, True])
def test_placebo_p_values_calibrated_under_no_effect(include_treated):
    # 200 seeded panels with no effect and J = 19, so p takes the values k/20 and P(p <= 0.1)
    # is 0.1 for exchangeable units (exactly so with include_treated, where every unit is fitted
    # against all the others). Binomial SE of the share: sqrt(0.1 * 0.9 / 200) = 0.021; the
    # tolerance is 3 SE, 0.064.
    ratio_p, effect_p = [], []
    for seed in range(200):
        treated, donors = _iid_panel(np.random.default_rng(seed))
        res = SyntheticControl(treated, donors, 10).fit()
        ratio_p.append(res.p_value(include_treated=include_treated))
        effect_p.append(res.effect_p_value(include_treated=include_treated))
    for p in (np.array(ratio_p), np.array(effect_p)):
        assert ((p > 0) & (p <= 1)).all()
        assert abs((p <= 0.1 + 1e-12).mean() - 0.1) < 0.064


def test_large_effect_ranks_first():
    rng = np.random.default_rng(11)
    treated, donors = _factor_panel(rng, loading_treated=[1.0, 1.0], effect=20.0)
    res = SyntheticControl(treated, donors, 30).fit()
    pl = res.placebos()
    assert isinstance(pl, PlaceboResults)
    assert pl.n == 30 and pl.gaps.shape == (40, 30)
    assert res.p_value() == pytest.approx(1 / 31)
    assert res.effect_p_value() == pytest.approx(1 / 31)
    assert res.ratio > pl.ratio.max()
    aug = SyntheticControl(treated, donors, 30).fit("augmented")
    assert aug.p_value() == pytest.approx(1 / 31)


def test_placebo_counts_by_hand():
    rng = np.random.default_rng(12)
    treated, donors = _factor_panel(rng, J=9, effect=1.0)
    res = SyntheticControl(treated, donors, 30).fit()
    pl = res.placebos()
    assert pl.p_value() == (1 + np.sum(pl.ratio >= res.ratio)) / 10
    eff = pl.effects()
    assert pl.effect_p_value() == (1 + np.sum(np.abs(eff) >= abs(res.effect()))) / 10
    # the placebo for donor 0 is donor 0 against donors 1..8
    alone = SyntheticControl(donors[:, 0], donors[:, 1:], 30).fit()
    np.testing.assert_allclose(pl.gaps[:, 0], alone.gap)
    assert pl.ratio[0] == pytest.approx(alone.ratio)
    assert res.placebos() is pl  # cached
    lo, hi = res.conf_int()
    q = np.quantile(eff, [0.025, 0.975])
    assert (lo, hi) == pytest.approx((res.effect() - q[1], res.effect() - q[0]))
    via_function = placebo(treated, donors, 30)
    np.testing.assert_allclose(via_function.ratio, pl.ratio)


def test_poor_prefit_placebos_excluded():
    rng = np.random.default_rng(13)
    treated, donors = _factor_panel(rng, J=12, effect=0.0)
    donors[:, 3] += rng.normal(0, 30, size=40)  # a donor no one can match
    res = SyntheticControl(treated, donors, 30).fit()
    full, cut = res.placebos(), res.placebos(max_pre_rmspe=5)
    assert full.n == 12 and full.excluded == ()
    assert 3 in cut.excluded and 3 not in cut.names
    assert cut.n == 12 - len(cut.excluded)
    assert (cut.pre_rmspe <= 5 * res.pre_rmspe).all()
    assert res.p_value(max_pre_rmspe=5) == (1 + np.sum(cut.ratio >= res.ratio)) / (1 + cut.n)


def test_placebo_interval_covers_a_constant_effect():
    # Exchangeable units, a constant effect of 2 and J = 39 placebos: coverage of the 90%
    # interval over 150 panels should be near 0.9 (binomial SE 0.024; tolerance 3 SE).
    covered = []
    for seed in range(150):
        rng = np.random.default_rng(1000 + seed)
        treated, donors = _iid_panel(rng, J=39)
        treated[10:] += 2.0
        lo, hi = SyntheticControl(treated, donors, 10).fit().conf_int(alpha=0.1)
        assert lo <= hi
        covered.append(lo <= 2.0 <= hi)
    assert abs(np.mean(covered) - 0.9) < 0.073


# --- labels, summary -----------------------------------------------------------------------


def test_dataframe_labels_and_periods():
    rng = np.random.default_rng(21)
    treated, donors = _factor_panel(rng, J=6, effect=4.0)
    years = range(1981, 2021)
    df = pd.DataFrame(donors, index=years, columns=[f"LA{j}" for j in range(6)])
    res = SyntheticControl(pd.Series(treated, index=years), df, 30).fit()
    assert list(res.weights_series.index) == list(df.columns)
    assert list(res.paths.index) == list(years)
    assert res.effect([2011, 2012]) == pytest.approx(res.gap[30:32].mean())
    mask = np.zeros(40, dtype=bool)
    mask[35:] = True
    assert res.effect(mask) == pytest.approx(res.gap[35:].mean())
    pre_mask = np.arange(40) < 30
    other = SyntheticControl(treated, donors, pre_mask).fit()
    np.testing.assert_allclose(other.weights, res.weights)
    assert res.placebos().names == tuple(df.columns)
    text = res.summary()
    assert "Synthetic control" in text and "LA" in text and "placebos: 6" in text
    assert "Augmented" in SyntheticControl(treated, donors, 30).fit("augmented").summary(
        inference=False)  # fmt: skip


# --- bad input -----------------------------------------------------------------------------


def _ok():
    rng = np.random.default_rng(0)
    return rng.normal(size=8), rng.normal(size=(8, 3))


@pytest.mark.parametrize("change,message", [
    (lambda y, D: (np.where(np.arange(8) == 2, np.nan, y), D, 5), "missing or infinite"),
    (lambda y, D: (y, np.where(np.arange(8)[:, None] == 1, np.inf, D), 5), "missing or infinite"),
    (lambda y, D: (y[:2], D[:2], 1), "at least 3"),
    (lambda y, D: (y, D[:, :1], 5), "at least 2 are needed"),
    (lambda y, D: (y, D, 1), "at least 2 are needed to fit"),
    (lambda y, D: (y, D, 8), "no post periods"),
    (lambda y, D: (y, D, 9), "pre = 9"),
    (lambda y, D: (y[:7], D, 5), "treated has 7 periods"),
    (lambda y, D: (y, D.T, 2), "treated has 8 periods but donors have 3"),
    (lambda y, D: (y, D[:, 0], 5), "2-dimensional"),
    (lambda y, D: (D, D, 5), "1-dimensional"),
    (lambda y, D: (y, D, np.ones(7, dtype=bool)), "7 entries for 8"),
    (lambda y, D: (y, D, np.arange(8) < 1), "1 pre period"),
    (lambda y, D: (y, D, 2.5), "boolean mask"),
    (lambda y, D: (y, D, True), "not a bool"),
    (lambda y, D: (["a"] * 8, D, 5), "only numbers"),
    (lambda y, D: (y > 0, D, 5), "not booleans"),
])  # fmt: skip
def test_bad_input_refused(change, message):
    y, D = _ok()
    with pytest.raises(ValueError, match=message):
        SyntheticControl(*change(y, D))


def test_bad_names_and_fit_options_refused():
    y, D = _ok()
    with pytest.raises(ValueError, match="donor_names has 2 entries for 3"):
        SyntheticControl(y, D, 5, donor_names=["a", "b"])
    with pytest.raises(ValueError, match="repeated"):
        SyntheticControl(y, D, 5, donor_names=["a", "b", "a"])
    with pytest.raises(ValueError, match="index has 7 entries"):
        SyntheticControl(y, D, 5, index=range(7))
    model = SyntheticControl(y, D, 5)
    with pytest.raises(ValueError, match="method must be one of"):
        model.fit("lasso")
    with pytest.raises(ValueError, match="plain synthetic control has none"):
        model.fit("synthetic", ridge=1.0)
    for bad in (0, -1, math.nan, math.inf, True, "1"):
        with pytest.raises(ValueError, match="ridge must be a positive"):
            model.fit("augmented", ridge=bad)
    with pytest.raises(ValueError, match="too few to choose the ridge"):
        SyntheticControl(y, D, 2).fit("augmented")
    SyntheticControl(y, D, 2).fit("augmented", ridge=1.0)  # a given penalty is fine
    res = model.fit()
    with pytest.raises(ValueError, match="is a pre period"):
        res.effect([3, 6])
    with pytest.raises(ValueError, match="not in the index"):
        res.effect([42])
    with pytest.raises(ValueError, match="selects no period"):
        res.effect(np.zeros(8, dtype=bool))
    with pytest.raises(ValueError, match="mask must have 8"):
        res.effect(np.ones(3, dtype=bool))
    for bad in (0, 1, 1.5, True):
        with pytest.raises(ValueError, match="alpha"):
            res.conf_int(alpha=bad)
    for bad in (0, -2, True, math.nan):
        with pytest.raises(ValueError, match="max_pre_rmspe"):
            res.placebos(max_pre_rmspe=bad)
