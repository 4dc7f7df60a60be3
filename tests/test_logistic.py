"""Batched logistic IRLS against statsmodels' GLM Binomial, fit by fit: the same coefficients
and iteration counts where it vouches for a fit, and no vouching where it should not."""

import warnings

import numpy as np
import pytest
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM

from gf_eval.stats.logistic import logit_irls


def _statsmodels(x, y, start, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GLM(y.astype(float), x, family=families.Binomial()).fit(start_params=start, **kw)


def _design(rng, fits, n):
    """fits x n x 4: intercept, a 0-24 score, two binary flags (as a casework model's)."""
    x = np.ones((fits, n, 4))
    x[:, :, 1] = rng.integers(0, 25, (fits, n))
    x[:, :, 2:] = rng.random((fits, n, 2)) < [0.3, 0.2]
    eta = 2.5 - 0.1 * x[:, :, 1] + 0.5 * x[:, :, 2] - 1.5 * x[:, :, 3]
    y = rng.random((fits, n)) < 1 / (1 + np.exp(-eta))
    return x, y


@pytest.mark.parametrize("start", ["zeros", "near"])
def test_fits_agree_with_statsmodels(start):
    rng = np.random.default_rng(3)
    x, y = _design(rng, 60, 120)
    s = np.zeros(4) if start == "zeros" else np.array([2.4, -0.09, 0.4, -1.4])
    out = logit_irls(x, y, s)
    assert out.params.shape == (60, 4) and out.exact.mean() > 0.9  # most are vouched for
    for f in range(60):
        ref = _statsmodels(x[f], y[f], s)
        if out.exact[f]:
            assert ref.converged
            assert out.iterations[f] == ref.fit_history["iteration"], f
            np.testing.assert_allclose(out.params[f], ref.params, rtol=1e-8, atol=1e-10)


def test_start_may_differ_per_fit():
    rng = np.random.default_rng(4)
    x, y = _design(rng, 5, 100)
    starts = [2.5, -0.1, 0.5, -1.5] + rng.normal(0, [0.1, 0.005, 0.1, 0.1], (5, 4))
    out = logit_irls(x, y, starts)
    assert out.exact.all()
    for f in range(5):
        ref = _statsmodels(x[f], y[f], starts[f])
        assert out.iterations[f] == ref.fit_history["iteration"]
        np.testing.assert_allclose(out.params[f], ref.params, rtol=1e-8, atol=1e-10)


def test_fits_it_cannot_match_are_not_vouched_for():
    rng = np.random.default_rng(5)
    x, y = _design(rng, 4, 100)
    x[0, :, 3] = 0  # a flag with no cases: a singular design
    x[1, :, 2] = x[1, :, 3]  # two identical columns
    y[2, x[2, :, 3] == 1] = False  # a flag whose cases all fail: quasi-separation
    out = logit_irls(x, y, np.zeros(4))
    assert out.exact.tolist() == [False, False, False, True]
    np.testing.assert_allclose(out.params[3], _statsmodels(x[3], y[3], np.zeros(4)).params,
                               rtol=1e-8, atol=1e-10)  # fmt: skip


def test_complete_separation_is_followed_as_statsmodels_follows_it():
    # Every probability goes to 0 or 1 alike (statsmodels warns and goes on): the weighted
    # design stays well conditioned, and the fits agree, iteration for iteration.
    rng = np.random.default_rng(5)
    x, y = _design(rng, 1, 100)
    y[0] = x[0, :, 2] == 0
    out, ref = logit_irls(x, y, np.zeros(4)), _statsmodels(x[0], y[0], np.zeros(4))
    assert out.exact[0] and out.iterations[0] == ref.fit_history["iteration"] > 20
    assert abs(ref.params[2]) > 40  # separated: the coefficient ran off until the rule stopped it
    np.testing.assert_allclose(out.params[0], ref.params, rtol=1e-8, atol=1e-10)


def test_a_fit_statsmodels_takes_off_on_is_not_vouched_for():
    # Undamped IRLS from this start overshoots into separation: the coefficients reach 1e15.
    rng = np.random.default_rng(4)
    x, y = _design(rng, 5, 100)
    starts = rng.normal(0, 0.1, (5, 4))
    assert np.abs(_statsmodels(x[4], y[4], starts[4]).params).max() > 1e10
    assert logit_irls(x, y, starts).exact.tolist() == [True, True, True, True, False]


def test_a_fit_short_of_convergence_is_not_vouched_for():
    rng = np.random.default_rng(6)
    x, y = _design(rng, 3, 100)
    out = logit_irls(x, y, np.zeros(4), maxiter=2)
    assert not _statsmodels(x[0], y[0], np.zeros(4), maxiter=2).converged
    assert not out.exact.any() and (out.iterations == 2).all()
