"""The ITS engine against published results, hand calculations and exact identities."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.diagnostic import acorr_breusch_godfrey

from gf_eval.stats.its import ITS, ITSInputError

# A copy of the project's reference case (tests/data/its/README.md), so a clone runs alone.
REFERENCE = Path(__file__).resolve().parent / "data" / "its"
SICILY_TERMS = {"smokban": "level_change", "time": "pre_slope",
                "slope_itsa": "slope_change", "slope_bernal": "slope_change"}  # fmt: skip
# The published models (README of the reference case) as API keyword arguments and CLI flags.
SICILY_MODELS = {
    "M1_poisson": ({"family": "poisson", "slope_change": False},
                   ["--family", "poisson", "--no-slope-change"]),
    "M2_quasipoisson": ({"family": "quasipoisson", "slope_change": False},
                        ["--family", "quasipoisson", "--no-slope-change"]),
    "M3_quasipoisson_harmonics2": (
        {"family": "quasipoisson", "slope_change": False, "season": "month", "harmonics": 2},
        ["--family", "quasipoisson", "--no-slope-change", "--season", "month", "--harmonics", "2"]),
    "M4_itsa_convention": (
        {"family": "quasipoisson", "season": "month", "harmonics": 2},
        ["--family", "quasipoisson", "--season", "month", "--harmonics", "2"]),
    "M4_bernal_convention": (
        {"family": "quasipoisson", "season": "month", "harmonics": 2, "slope_origin": 36},
        ["--family", "quasipoisson", "--season", "month", "--harmonics", "2",
         "--slope-origin", "36"]),
}  # fmt: skip


@pytest.fixture(scope="module")
def sicily() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "sicily.csv")


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((REFERENCE / "expected.json").read_text())


def _check_published(terms: dict, dispersion: float, df_resid: float, want: dict) -> None:
    assert dispersion == pytest.approx(want["dispersion"], rel=1e-4)
    assert df_resid == want["df_resid"]
    for name, values in want["terms"].items():
        t = terms[SICILY_TERMS[name]]
        got = {"estimate": t["estimate"], "se": t["se"], "ratio": np.exp(t["estimate"]),
               "ratio_ci_low": np.exp(t["ci_low"]), "ratio_ci_high": np.exp(t["ci_high"])}  # fmt: skip
        for key, value in values.items():
            assert got[key] == pytest.approx(value, rel=1e-4), (name, key)


@pytest.mark.parametrize("model", SICILY_MODELS)
def test_published_sicily_models_through_the_api(sicily, expected, model):
    kwargs, _ = SICILY_MODELS[model]
    res = ITS(sicily, "aces", "time", 37, offset="stdpop", **kwargs).fit()
    terms = {k: v.to_dict() for k, v in res.terms.items()}
    _check_published(terms, res.dispersion, res.df_resid, expected[model])


@pytest.mark.parametrize("model", SICILY_MODELS)
def test_published_sicily_models_through_the_command(expected, model, tmp_path):
    _, flags = SICILY_MODELS[model]
    out = tmp_path / "its.json"
    result = subprocess.run(
        [sys.executable, "-m", "gf_eval", "its", str(REFERENCE / "sicily.csv"), "--outcome",
         "aces", "--time", "time", "--start", "37", "--offset", "stdpop", *flags,
         "--json", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "level_change" in result.stdout  # the summary is printed
    got = json.loads(out.read_text())
    _check_published(got["terms"], got["dispersion"], got["df_resid"], expected[model])


# --- simulated series --------------------------------------------------------------------------


def ar1_series(n=60, start=40, rho=0.5, sd=1.0, b=(10.0, 0.1, -2.0, 0.2), seed=1, groups=None):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = (t >= start).astype(float)
    e = np.zeros(n)
    for i in range(n):
        e[i] = (rho * e[i - 1] if i else 0) + rng.normal(0, sd)
    y = b[0] + b[1] * t + b[2] * x + b[3] * x * (t - start) + e
    return pd.DataFrame({"t": t, "y": y, "month": t % 12 + 1})


def test_gaussian_model_is_ordinary_least_squares_by_hand():
    df = ar1_series()
    res = ITS(df, "y", "t", 40).fit()
    X = np.column_stack([np.ones(60), df.t, df.t >= 40, (df.t >= 40) * (df.t - 40)])
    beta, rss, *_ = np.linalg.lstsq(X, df.y, rcond=None)
    cov = rss[0] / (60 - 4) * np.linalg.inv(X.T @ X)
    names = ["intercept", "pre_slope", "level_change", "slope_change"]
    for i, name in enumerate(names):
        assert res.terms[name].estimate == pytest.approx(beta[i], rel=1e-9)
        assert res.terms[name].se == pytest.approx(np.sqrt(cov[i, i]), rel=1e-9)
    post = res.terms["post_slope"]
    assert post.estimate == pytest.approx(beta[1] + beta[3])
    assert post.se == pytest.approx(np.sqrt(cov[1, 1] + cov[3, 3] + 2 * cov[1, 3]))
    # t inference on the residual df, as Stata's regress.
    q = stats.t.ppf(0.975, 56)
    assert res.terms["level_change"].ci_low == pytest.approx(beta[2] - q * np.sqrt(cov[2, 2]))


def _newey_by_hand(X, e, lag, groups=None):
    n, k = X.shape
    groups = np.zeros(n, dtype=int) if groups is None else groups
    S = np.zeros((k, k))
    for g in np.unique(groups):
        Xg, eg = X[groups == g], e[groups == g]
        u = Xg * eg[:, None]
        S += u.T @ u
        for lag_l in range(1, lag + 1):
            w = 1 - lag_l / (lag + 1)
            G = u[lag_l:].T @ u[:-lag_l]
            S += w * (G + G.T)
    bread = np.linalg.inv(X.T @ X)
    return n / (n - k) * bread @ S @ bread  # Stata's small-sample scaling


def test_newey_west_matches_the_hand_formula_with_stata_scaling():
    df = ar1_series(rho=0.6, seed=3)
    res = ITS(df, "y", "t", 40).fit(se="newey", lags=3)
    X = np.column_stack([np.ones(60), df.t, df.t >= 40, (df.t >= 40) * (df.t - 40)]).astype(float)
    beta = np.linalg.lstsq(X, df.y, rcond=None)[0]
    cov = _newey_by_hand(X, df.y.to_numpy() - X @ beta, 3)
    se = res.terms["level_change"].se
    assert se == pytest.approx(np.sqrt(cov[2, 2]), rel=1e-9)
    tstat = beta[2] / se
    assert res.terms["level_change"].p == pytest.approx(2 * stats.t.sf(abs(tstat), 56), rel=1e-9)


def test_controlled_its_equals_separate_fits_and_lags_stay_within_series():
    treated = ar1_series(seed=5, b=(10, 0.1, -3.0, -0.2)).assign(site="A")
    control = ar1_series(seed=6, b=(8, 0.12, 0.5, 0.05)).assign(site="B")
    both = pd.concat([treated, control], ignore_index=True)
    res = ITS(both, "y", "t", 40, group="site", treated="A").fit(se="newey", lags=2)
    alone_t = ITS(treated, "y", "t", 40).fit()
    alone_c = ITS(control, "y", "t", 40).fit()
    # A fully interacted model reproduces each series' own least-squares line exactly.
    for name in ("intercept", "pre_slope", "level_change", "slope_change", "post_slope"):
        assert res.terms[name].estimate == pytest.approx(alone_t.terms[name].estimate)
        assert res.terms[f"control_{name}"].estimate == pytest.approx(alone_c.terms[name].estimate)
    for name in ("level_change", "slope_change"):
        diff = alone_t.terms[name].estimate - alone_c.terms[name].estimate
        assert res.terms[f"diff_{name}"].estimate == pytest.approx(diff)
    # Newey-West with lags taken within each series (no cross-series products).
    X = res.model.exog.to_numpy(dtype=float)
    e = both.sort_values(["site", "t"]).y.to_numpy() - X @ res.params.to_numpy()
    groups = (res.model.data["site"] == "B").to_numpy().astype(int)
    cov = _newey_by_hand(X, e, 2, groups)
    j = list(res.model.exog.columns).index("diff_level_change")
    assert res.terms["diff_level_change"].se == pytest.approx(np.sqrt(cov[j, j]), rel=1e-9)


def test_prais_winsten_is_gls_with_ar1_errors_at_its_rho():
    df = ar1_series(rho=0.6, seed=11)
    res = ITS(df, "y", "t", 40).fit(se="prais")
    rho = res.rho
    X = res.model.exog.to_numpy(dtype=float)
    sigma = rho ** np.abs(np.subtract.outer(np.arange(60), np.arange(60)))
    gls = sm.GLS(df.y.to_numpy(), X, sigma=sigma).fit()
    assert res.params.to_numpy() == pytest.approx(gls.params, rel=1e-7)
    assert res.bse.to_numpy() == pytest.approx(gls.bse, rel=1e-6)
    # rho is the fixed point: the lag-1 regression coefficient of the untransformed residuals.
    e = df.y.to_numpy() - X @ res.params.to_numpy()
    assert rho == pytest.approx(e[:-1] @ e[1:] / (e[:-1] @ e[:-1]), abs=1e-6)
    assert 0.3 < rho < 0.9
    # The first observation is kept, as Stata's prais does.
    assert res.nobs == 60 and res.df_resid == 56


def test_phase_in_periods_are_left_out_of_the_fit():
    df = ar1_series(seed=2)
    res = ITS(df, "y", "t", 40, exclude=3).fit()
    keep = ~df.t.isin([40, 41, 42])
    X = np.column_stack([np.ones(60), df.t, df.t >= 40, (df.t >= 40) * (df.t - 40)])[keep]
    beta = np.linalg.lstsq(X.astype(float), df.y[keep], rcond=None)[0]
    assert res.nobs == 57
    assert res.terms["slope_change"].estimate == pytest.approx(beta[3])
    # The phase-in months are still predicted, flagged as outside the fit.
    pred = res.predictions()
    assert list(pred.loc[~pred.in_fit, "time"]) == [40, 41, 42]


def _poisson_series(n=120, start=80, b=(3.0, 0.004, -0.3, -0.01), seed=4, alpha=0.0):
    """Counts with a population offset; alpha > 0 makes them negative binomial (NB2)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    pop = rng.uniform(0.9, 1.1, n)
    x = (t >= start).astype(float)
    mu = np.exp(b[0] + b[1] * t + b[2] * x + b[3] * x * (t - start) + np.log(pop))
    if alpha:
        mu = mu * rng.gamma(1 / alpha, alpha, n)  # gamma-Poisson mixture, variance mu + alpha mu^2
    return pd.DataFrame({"t": t, "y": rng.poisson(mu), "pop": pop})


def test_derived_effects_are_the_segment_terms_on_the_response_scale():
    df = _poisson_series()
    res = ITS(df, "y", "t", 80, family="poisson", offset="pop").fit()
    b = res.params
    V = res.cov_params()
    # Last period: exp(b2 + b3 * (119 - 80)) - 1, its interval exp of the linear combination's.
    w = pd.Series(0.0, index=b.index)
    w["level_change"], w["slope_change"] = 1.0, 119 - 80
    est, se = float(w @ b), float(np.sqrt(w @ V @ w))
    end = res.relative_change_end()
    assert end.estimate == pytest.approx(np.expm1(est), rel=1e-7)
    assert end.ci_low == pytest.approx(np.expm1(est - 1.959963984540054 * se), rel=1e-5)
    # Counterfactual predictions keep the offset; the post total compares the two by hand.
    X = res.model.exog.to_numpy(dtype=float)
    X_cf = X.copy()
    X_cf[:, [2, 3]] = 0
    fitted = np.exp(X @ b.to_numpy() + np.log(df["pop"]))
    counterfactual = np.exp(X_cf @ b.to_numpy() + np.log(df["pop"]))  # keeps the offset
    pred = res.predictions()
    assert pred["counterfactual"].to_numpy() == pytest.approx(counterfactual, rel=1e-9)
    assert pred["fitted"].to_numpy() == pytest.approx(fitted, rel=1e-9)
    post = df.t >= 80
    total = fitted[post].sum() / counterfactual[post].sum() - 1
    assert res.relative_change_cumulative().estimate == pytest.approx(total, rel=1e-7)
    absolute = res.effect_at(90)["absolute"].estimate
    assert absolute == pytest.approx(fitted[90] - counterfactual[90], rel=1e-7)


@pytest.mark.parametrize("family", ["poisson", "quasipoisson", "negbin"])
def test_count_families_recover_known_coefficients(family):
    truth = (3.0, 0.004, -0.3, -0.01)
    alpha = 0.05 if family == "negbin" else 0.0
    df = _poisson_series(n=400, start=250, b=truth, seed=8, alpha=alpha)
    res = ITS(df, "y", "t", 250, family=family, offset="pop").fit()
    for name, value in zip(("intercept", "pre_slope", "level_change", "slope_change"), truth):
        assert abs(res.terms[name].estimate - value) < 4 * res.terms[name].se
    if family == "negbin":
        assert res.dispersion == pytest.approx(alpha, abs=0.03)  # NB2 alpha recovered


def test_binomial_family_recovers_known_log_odds():
    rng = np.random.default_rng(9)
    t = np.arange(300)
    x = (t >= 200).astype(float)
    eta = -1.0 + 0.002 * t - 0.4 * x
    trials = rng.integers(80, 120, 300)
    df = pd.DataFrame({"t": t, "y": rng.binomial(trials, 1 / (1 + np.exp(-eta))), "n": trials})
    res = ITS(df, "y", "t", 200, family="binomial", trials="n", slope_change=False).fit()
    assert abs(res.terms["level_change"].estimate + 0.4) < 4 * res.terms["level_change"].se
    assert res.predictions()["observed"].between(0, 1).all()


def test_month_indicators_and_covariates():
    df = ar1_series(seed=12).assign(z=lambda d: np.sin(d.t))
    res = ITS(df, "y", "t", 40, season="month", season_dummies=True, covariates=["z"]).fit()
    assert sum(c.startswith("season_") for c in res.params.index) == 11
    assert "z" in res.terms


def test_placebo_finds_a_real_earlier_break_and_not_a_false_one():
    df = ar1_series(n=80, start=60, rho=0.0, sd=0.3, seed=13)
    df.loc[df.t >= 25, "y"] -= 5  # a real break in the pre-period at t = 25
    table = ITS(df, "y", "t", 60).placebo([25, 12])
    level = table[table.term == "level_change"].set_index("start")
    assert level.loc[25, "p"] < 1e-6 and level.loc[25, "estimate"] == pytest.approx(-5, abs=0.6)
    assert level.loc[12, "p"] > 1e-3


def test_diagnostics_agree_with_independent_formulas():
    df = ar1_series(rho=0.5, seed=14)
    res = ITS(df, "y", "t", 40).fit()
    X = res.model.exog.to_numpy(dtype=float)
    ols = sm.OLS(df.y.to_numpy(), X).fit()
    e = ols.resid
    assert res.diagnostics.durbin_watson == pytest.approx(np.sum(np.diff(e) ** 2) / np.sum(e**2))
    lm, p, *_ = acorr_breusch_godfrey(ols, nlags=3, result_object=False)
    bg3 = res.diagnostics.breusch_godfrey[2]
    assert (bg3.statistic, bg3.p) == pytest.approx((lm, p), rel=1e-6)
    assert res.diagnostics.suggested_lag >= 1  # rho 0.5 leaves lag-1 autocorrelation


# --- bad input: a clear message, never a traceback ---------------------------------------------


@pytest.mark.parametrize(
    "change, args, message",
    [
        (None, ["--outcome", "nope"], "column not found: nope"),
        (lambda d: d.assign(y=d.y.astype(str).where(d.t != 5, "many")), [], "non-numeric"),
        (None, ["--start", "0"], "no observations before the start 0"),
        (None, ["--start", "500"], "no observations from the start 500"),
        (lambda d: d[(d.t >= 36) & (d.t < 44)], ["--season", "month", "--season-dummies"],
         "too few points"),
        (lambda d: d.assign(y=d.y.where(d.t != 3, -2)), ["--family", "poisson"], "negative counts"),
        (lambda d: d.assign(y=7.0), [], "the series is constant"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_error(tmp_path, change, args, message):
    df = ar1_series()
    df["y"] = df["y"].round()
    if change:
        df = change(df)
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    base = {"--outcome": "y", "--time": "t", "--start": "40"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    extra = [a for a in args if a == "--season-dummies"]
    argv = [x for kv in base.items() for x in kv if kv[0] != "--season-dummies"] + extra
    result = subprocess.run([sys.executable, "-m", "gf_eval", "its", str(path), *argv],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_api_errors_are_value_errors():
    with pytest.raises(ITSInputError, match="Prais-Winsten"):
        ITS(_poisson_series(), "y", "t", 80, family="poisson").fit(se="prais")
