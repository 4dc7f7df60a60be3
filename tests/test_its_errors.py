"""AR(1)-plus-white-noise standard errors (REML sandwich and parametric bootstrap) and the
NB2 fit by profile likelihood: recovery, exact identities, hand calculations, coverage."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.linalg import block_diag

from gf_eval.cli import main
from gf_eval.stats import errors
from gf_eval.stats.its import ITS, ITSInputError


def ar1_plus_white(rng, n, c, rho, sd=1.0, times=None):
    """Gaussian noise with covariance sd^2 ((1 - c) I + c R(rho)), R over `times`."""
    times = np.arange(n) if times is None else np.asarray(times)
    d = errors.gaps(times, None, 1.0)
    x = errors.ar1_draws(rng, d, rho, 1)[0]
    return sd * (np.sqrt(c) * x + np.sqrt(1 - c) * rng.standard_normal(n))


def count_series(rng, rho=0.6, sigma=0.1, n_pre=40, n_post=20, base=30.0, level=-0.15,
                 slope=-0.01):  # fmt: skip
    """Monthly counts with a population offset, trend, seasonality and AR(1) noise of marginal
    SD sigma on the log rate (as gf_eval.stats.simulation), and the true log effect at the
    last month."""
    n = n_pre + n_post
    t = np.arange(n)
    x = (t >= n_pre).astype(float)
    u = ar1_plus_white(rng, n, 1.0, rho, sigma)
    month = t % 12 + 1
    pop = np.linspace(1.0, 1.05, n)
    log_mu = (np.log(pop) + np.log(base) + 0.003 * t + level * x + slope * x * (t - n_pre)
              + 0.08 * np.cos(2 * np.pi * month / 12) + u)  # fmt: skip
    df = pd.DataFrame({"t": t, "y": rng.poisson(np.exp(log_mu)), "month": month, "pop": pop})
    return df, level + slope * (n_post - 1)


def ols_residuals(y, X):
    return y - X @ np.linalg.lstsq(X, y, rcond=None)[0]


# --- REML ---------------------------------------------------------------------------------


def _information_se(r, X, d, model):
    """Standard errors of (c, rho) from the numerical Hessian of the restricted likelihood."""
    h = 1e-3
    x0 = np.array([model.c, model.rho])

    def ll(x):
        return errors.profile(r, X, d, *x).loglik

    H = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h, np.eye(2)[j] * h
            H[i, j] = (ll(x0 + ei + ej) - ll(x0 + ei - ej) - ll(x0 - ei + ej)
                       + ll(x0 - ei - ej)) / (4 * h * h)  # fmt: skip
    return np.sqrt(np.diag(np.linalg.inv(-H)))


@pytest.mark.parametrize("c, rho", [(0.6, 0.7), (0.4, -0.5)])
def test_reml_recovers_c_and_rho_on_a_long_series(c, rho):
    rng = np.random.default_rng(20)
    n = 2000
    t = np.arange(n)
    X = np.column_stack([np.ones(n), t / n, t >= 1200])
    r = ols_residuals(X @ [1.0, 2.0, -1.0] + ar1_plus_white(rng, n, c, rho, sd=2.0), X)
    d = errors.gaps(t, None, 1.0)
    model = errors.reml(r, X, d)
    se = _information_se(r, X, d, model)
    assert abs(model.c - c) < 4 * se[0] and se[0] < 0.1, (model, se)
    assert abs(model.rho - rho) < 4 * se[1] and se[1] < 0.1, (model, se)
    assert model.scale == pytest.approx(4.0, rel=0.15)


def test_white_noise_gives_an_identity_working_correlation():
    # With c = 0 rho is not identified (nor is c when rho = 0): what must hold is V = I, so
    # the lag-1 correlation c * rho is near 0 and the sandwich is the model-based covariance.
    rng = np.random.default_rng(21)
    n = 2000
    t = np.arange(n)
    X = np.column_stack([np.ones(n), t / n])
    y = X @ [1.0, 2.0] + rng.standard_normal(n)
    r = ols_residuals(y, X)
    d = errors.gaps(t, None, 1.0)
    model = errors.reml(r, X, d)
    assert abs(model.c * model.rho) < 0.05, model
    ols = sm.OLS(y, X).fit()
    assert np.sqrt(np.diag(errors.sandwich(X, d, model))) == pytest.approx(ols.bse, rel=0.1)


def test_the_kalman_filter_and_the_dense_factors_agree(monkeypatch):
    rng = np.random.default_rng(22)
    t = np.r_[0:30, 33:50, 0:25]  # a gap of 3 steps, then a second series
    ids = np.r_[np.zeros(47), np.ones(25)]
    d = errors.gaps(t, ids, 1.0)
    X = np.column_stack([np.ones(t.size), t, ids])
    r = ols_residuals(rng.standard_normal(t.size), X)
    dense = [errors.profile(r, X, d, c, rho) for c, rho in [(0.0, 0.3), (0.5, -0.6), (1.0, 0.9)]]
    monkeypatch.setattr(errors, "DENSE_MAX", 0)
    kalman = [errors.profile(r, X, d, m.c, m.rho) for m in dense]
    for a, b in zip(dense, kalman):
        assert (a.loglik, a.scale) == pytest.approx((b.loglik, b.scale), rel=1e-10)


def test_gaps_give_powers_of_the_time_distance():
    d = errors.gaps(np.array([0.0, 2, 4, 10, 0, 2]), np.array([0, 0, 0, 0, 1, 1]), 2.0)
    assert list(d) == [0, 1, 1, 3, 0, 1]
    first, second = errors.correlation(d, 0.5, -0.8)
    assert first[0, 3] == pytest.approx(0.5 * (-0.8) ** 5)  # (10 - 0) / 2 steps
    assert first[1, 1] == 1.0 and second.shape == (2, 2)
    assert second[0, 1] == pytest.approx(0.5 * -0.8)


# --- the sandwich: exact identities and a hand calculation -----------------------------------


def test_the_sandwich_with_c_0_is_the_model_based_covariance():
    rng = np.random.default_rng(23)
    df, _ = count_series(rng)
    model = ITS(df, "y", "t", 40, family="quasipoisson", offset="pop", season="month",
                harmonics=1)  # fmt: skip
    X = model.exog.to_numpy(dtype=float)
    glm = sm.GLM(df.y.to_numpy(), X, family=sm.families.Poisson(), offset=np.log(df["pop"]))
    base = glm.fit(scale="X2")
    w = base.mu  # Poisson, log link: the working weights are the means
    A = np.sqrt(w)[:, None] * X
    d = errors.gaps(df.t.to_numpy(), None, 1.0)
    white = errors.profile(base.resid_pearson, A, d, 0.0, 0.7)
    assert white.scale == pytest.approx(base.pearson_chi2 / base.df_resid, rel=1e-9)
    assert errors.sandwich(A, d, white) == pytest.approx(np.asarray(base.cov_params()), rel=1e-6)
    # Gaussian: the OLS covariance.
    y = X @ np.ones(X.shape[1]) + rng.standard_normal(len(X))
    ols = sm.OLS(y, X).fit()
    white = errors.profile(ols.resid, X, d, 0.0, -0.2)
    assert errors.sandwich(X, d, white) == pytest.approx(np.asarray(ols.cov_params()), rel=1e-9)


def test_reml_and_sandwich_by_hand_on_six_points():
    t = np.array([0.0, 1, 2, 4, 5, 6])  # a missing period between 2 and 4
    X = np.column_stack([np.ones(6), t])
    y = np.array([1.0, 2.5, 2.0, 4.5, 4.0, 6.5])
    r = ols_residuals(y, X)
    c, rho = 0.4, 0.5
    V = (1 - c) * np.eye(6) + c * rho ** np.abs(np.subtract.outer(t, t))
    Vi = np.linalg.inv(V)
    P = Vi - Vi @ X @ np.linalg.inv(X.T @ Vi @ X) @ X.T @ Vi
    scale = r @ P @ r / 4
    loglik = -0.5 * (np.linalg.slogdet(V)[1] + np.linalg.slogdet(X.T @ Vi @ X)[1]
                     - np.linalg.slogdet(X.T @ X)[1] + 4 * np.log(scale) + 4)  # fmt: skip
    d = errors.gaps(t, None, 1.0)
    got = errors.profile(r, X, d, c, rho)
    assert (got.scale, got.loglik) == pytest.approx((scale, loglik), rel=1e-10)
    bread = np.linalg.inv(X.T @ X)
    assert errors.sandwich(X, d, got) == pytest.approx(scale * bread @ X.T @ V @ X @ bread,
                                                       rel=1e-10)  # fmt: skip


def test_the_ar1_fit_uses_the_sandwich_in_every_derived_quantity():
    rng = np.random.default_rng(24)
    df, _ = count_series(rng)
    model = ITS(df, "y", "t", 40, family="quasipoisson", offset="pop", season="month",
                harmonics=1)  # fmt: skip
    base, res = model.fit(), model.fit(se="ar1")
    assert res.params.to_numpy() == pytest.approx(base.params.to_numpy(), rel=1e-12)
    X = model.exog.to_numpy(dtype=float)
    mu = np.exp(X @ res.params.to_numpy() + np.log(df["pop"].to_numpy()))
    A = np.sqrt(mu)[:, None] * X
    e = res.error_model
    assert set(e) == {"c", "rho", "scale"} and 0 <= e["c"] <= 1 and -0.99 <= e["rho"] <= 0.99
    d = errors.gaps(df.t.to_numpy(), None, 1.0)
    cov = errors.sandwich(A, d, errors.ErrorModel(e["c"], e["rho"], e["scale"], 0, 60, 6))
    assert res.cov_params().to_numpy() == pytest.approx(cov, rel=1e-6)
    assert res.use_t and res.df_resid == base.df_resid - 2
    # Intervals on t with df_resid - 2 everywhere: terms, the end effect, predictions.
    q = stats.t.ppf(0.975, 52)
    lc = res.terms["level_change"]
    assert lc.ci_high - lc.estimate == pytest.approx(q * np.sqrt(cov[2, 2]), rel=1e-6)
    w = pd.Series(0.0, index=res.params.index)
    w["level_change"], w["slope_change"] = 1.0, 19.0
    end = res.relative_change_end()
    se = float(np.sqrt(w @ res.cov_params() @ w))
    assert end.ci_low == pytest.approx(np.expm1(w @ res.params - q * se), rel=1e-5)
    pred = res.predictions()
    assert (pred["fitted_low"] < pred["fitted"]).all()
    assert "error model: AR(1) share c" in res.summary()
    assert res.to_dict()["error_model"] == e
    placebo = model.placebo([20], se="ar1")
    assert set(placebo.term) == {"level_change", "slope_change"}


def test_controlled_its_has_one_block_per_series():
    rng = np.random.default_rng(25)
    parts = [count_series(rng)[0].assign(site=s) for s in "AB"]
    df = pd.concat(parts, ignore_index=True)
    res = ITS(df, "y", "t", 40, family="quasipoisson", offset="pop", group="site",
              treated="A").fit(se="ar1")  # fmt: skip
    X = res.model.exog.to_numpy(dtype=float)
    mu = np.exp(X @ res.params.to_numpy() + np.log(res.model.data["pop"].to_numpy()))
    A = np.sqrt(mu)[:, None] * X
    e = res.error_model
    R = e["rho"] ** np.abs(np.subtract.outer(np.arange(60), np.arange(60)))
    V = block_diag(*[(1 - e["c"]) * np.eye(60) + e["c"] * R] * 2)
    bread = np.linalg.inv(A.T @ A)
    cov = e["scale"] * bread @ A.T @ V @ A @ bread
    assert res.cov_params().to_numpy() == pytest.approx(cov, rel=1e-6)


# --- coverage by simulation ---------------------------------------------------------------


def test_ar1_errors_cover_the_end_effect_where_model_errors_do_not():
    # 200 series of 60 months with AR(1) log-rate noise, rho 0.6 and SD 0.1 (the case where
    # quasi-Poisson model-based intervals undercover): coverage of the true log effect at the
    # last month by the 95% intervals. Seen here: model 0.815, ar1 0.905; in 400 series
    # (effect and null): model 0.86-0.88, ar1 0.91-0.92. The REML (c, rho) of 60 points
    # understate the long-range correlation, so ar1 falls short of 0.95 (issue 13).
    rng = np.random.default_rng(2013)
    covered = {"model": [], "ar1": []}
    for _ in range(200):
        df, truth = count_series(rng)
        model = ITS(df, "y", "t", 40, family="quasipoisson", offset="pop", season="month",
                    harmonics=1)  # fmt: skip
        for se in covered:
            end = model.fit(se=se).lincom({"level_change": 1.0, "slope_change": 19.0})
            covered[se].append(end.ci_low <= truth <= end.ci_high)
    coverage = {se: float(np.mean(v)) for se, v in covered.items()}
    assert coverage["ar1"] >= 0.89, coverage
    assert coverage["model"] < 0.85 and coverage["ar1"] - coverage["model"] >= 0.05, coverage


# --- the parametric bootstrap -------------------------------------------------------------


def test_the_bootstrap_is_deterministic_given_the_seed_and_needs_one():
    rng = np.random.default_rng(26)
    df, _ = count_series(rng)
    model = ITS(df, "y", "t", 40, family="quasipoisson", offset="pop")
    a = model.fit(se="bootstrap", bootstrap=50, seed=7)
    b = model.fit(se="bootstrap", bootstrap=50, seed=7)
    c = model.fit(se="bootstrap", bootstrap=50, seed=8)
    assert a.bse.to_numpy() == pytest.approx(b.bse.to_numpy(), rel=0, abs=0)
    assert not np.allclose(a.bse.to_numpy(), c.bse.to_numpy())
    assert a.error_model["replications"] == 50 and a.error_model["seed"] == 7
    assert a.df_resid == model.fit().df_resid - 2
    with pytest.raises(ITSInputError, match="need a seed"):
        model.fit(se="bootstrap")


@pytest.mark.parametrize("family", ["gaussian", "quasipoisson"])
def test_bootstrap_standard_errors_match_the_sandwich_on_a_long_series(family):
    rng = np.random.default_rng(27)
    if family == "gaussian":
        n = 240
        t = np.arange(n)
        df = pd.DataFrame({"t": t, "y": 0.01 * t - 0.5 * (t >= 160)
                           + ar1_plus_white(rng, n, 0.6, 0.6, 0.3)})  # fmt: skip
        model = ITS(df, "y", "t", 160)
    else:
        df, _ = count_series(rng, n_pre=160, n_post=80)
        model = ITS(df, "y", "t", 160, family="quasipoisson", offset="pop")
    sandwich = model.fit(se="ar1")
    boot = model.fit(se="bootstrap", bootstrap=399 if family == "gaussian" else 199, seed=3)
    assert boot.error_model["c"] == sandwich.error_model["c"]
    for name in ("level_change", "slope_change"):
        ratio = boot.terms[name].se / sandwich.terms[name].se
        if family == "gaussian":  # the bootstrap draws from exactly the sandwich's model
            assert ratio == pytest.approx(1.0, abs=0.1), name
        else:
            # Counts draw Poisson noise (Pearson variance 1) whatever the fitted white share:
            # when REML puts phi (1 - c) below 1 (here c = 1) the bootstrap adds more white
            # noise than the fit has, and its SEs are larger (seen: 1.23, 1.16).
            assert 0.9 <= ratio <= 1.35, (name, ratio)


# --- negative binomial by profile likelihood ----------------------------------------------


def poisson_months(seed, n=60, start=40):
    """Small Poisson counts with no overdispersion: the case where the old NB2 fit (Newton,
    Nelder-Mead, BFGS on the joint likelihood) failed for this seed (alpha -> 0)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    mu = np.exp(np.log(8) + 0.003 * t - 0.2 * (t >= start))
    return pd.DataFrame({"t": t, "y": rng.poisson(mu), "pop": np.ones(n), "month": t % 12 + 1})


def test_negbin_at_alpha_0_is_the_poisson_fit_with_a_note():
    df = poisson_months(1)
    kw = dict(offset="pop", season="month", harmonics=1)
    nb = ITS(df, "y", "t", 40, family="negbin", **kw).fit()
    poisson = ITS(df, "y", "t", 40, family="poisson", **kw).fit()
    assert nb.dispersion == 0.0
    assert nb.params.to_numpy() == pytest.approx(poisson.params.to_numpy(), rel=1e-10)
    assert nb.bse.to_numpy() == pytest.approx(poisson.bse.to_numpy(), rel=1e-10)
    assert any("boundary of 0" in note for note in nb.notes)
    assert "boundary of 0" in nb.summary()


def test_negbin_converges_on_every_seed_of_small_poisson_series():
    for seed in range(10):
        res = ITS(poisson_months(seed), "y", "t", 40, family="negbin", offset="pop").fit()
        assert np.isfinite(res.bse).all() and res.dispersion >= 0


def test_negbin_recovers_a_known_alpha_and_matches_the_joint_maximum_likelihood():
    rng = np.random.default_rng(28)
    n = 400
    t = np.arange(n)
    x = (t >= 250).astype(float)
    mu = np.exp(3.0 + 0.002 * t - 0.3 * x) * rng.gamma(1 / 0.2, 0.2, n)  # NB2, alpha 0.2
    df = pd.DataFrame({"t": t, "y": rng.poisson(mu), "pop": np.ones(n)})
    res = ITS(df, "y", "t", 250, family="negbin", offset="pop").fit()
    assert res.dispersion == pytest.approx(0.2, abs=0.04)
    assert not res.notes
    # The joint maximum likelihood of statsmodels' NegativeBinomial (it converges here).
    X = res.model.exog.to_numpy(dtype=float)
    joint = sm.NegativeBinomial(df.y.to_numpy(), X).fit(disp=0, maxiter=500)
    assert res.params.to_numpy() == pytest.approx(joint.params[:-1], rel=1e-4, abs=1e-6)
    assert res.dispersion == pytest.approx(joint.params[-1], rel=1e-4)
    # Standard errors: the GLM's at the fitted alpha against the joint information, which
    # also carries the (asymptotically zero) covariance of alpha with the coefficients.
    assert res.bse.to_numpy() == pytest.approx(joint.bse[:-1], rel=3e-2)


def test_negbin_works_with_ar1_errors():
    res = ITS(poisson_months(3), "y", "t", 40, family="negbin", offset="pop").fit(se="ar1")
    assert res.error_model is not None and np.isfinite(res.bse).all()


# --- the command --------------------------------------------------------------------------


@pytest.fixture()
def counts_csv(tmp_path):
    df, _ = count_series(np.random.default_rng(29))
    path = tmp_path / "counts.csv"
    df.to_csv(path, index=False)
    return path


ARGS = ["--outcome", "y", "--time", "t", "--start", "40", "--family", "quasipoisson",
        "--offset", "pop"]  # fmt: skip


def test_the_command_prints_the_error_model(capsys, counts_csv):
    assert main(["its", str(counts_csv), *ARGS, "--se", "ar1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"error model: AR\(1\) share c = [\d.]+, rho = -?[\d.]+, scale = ", out)
    assert main(["its", str(counts_csv), *ARGS, "--se", "bootstrap", "--bootstrap", "30",
                 "--seed", "5"]) == 0  # fmt: skip
    assert "bootstrap: 30 replications, seed 5" in capsys.readouterr().out


def test_the_command_refuses_a_bootstrap_without_a_seed(capsys, counts_csv):
    assert main(["its", str(counts_csv), *ARGS, "--se", "bootstrap"]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1 and "need a seed" in lines[0], err
