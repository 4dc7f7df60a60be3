"""Simulation-based power and minimum detectable effect (gf_eval.stats.power), the `gf-eval
power` command, and the targets' power from the pre-period (gf_eval.analysis.power).

Checked against independent truth: the Wald test's analytic power from the Fisher information
at the true means, the rejection rates of the project's own simulation study, ITS.fit itself,
and, on the synthetic authority, the ordering that the volumes imply."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gf_eval.cli import main
from gf_eval.stats import power as P
from gf_eval.stats import simulation

SICILY = Path(__file__).resolve().parent / "data" / "its" / "sicily.csv"
Z = stats.norm.ppf(0.975)


def analytic_power(design: P.Design, effect: float, slope_change: bool, harmonics: int):
    """Power of the Wald test of b2 (+ h*b3) with the SE from (X'WX)^-1 at the true means."""
    n, t0 = design.n, design.n_pre
    t = np.arange(n, dtype=float)
    cols = [np.ones(n), t, (t >= t0).astype(float)]
    if slope_change:
        cols.append((t >= t0) * (t - t0))
    s = design.season_values(n)
    for k in range(1, harmonics + 1):
        cols += [np.sin(2 * np.pi * k * s / 12), np.cos(2 * np.pi * k * s / 12)]
    X = np.column_stack(cols)
    mu = np.exp(design.log_mean(effect, "step"))
    cov = np.linalg.inv(X.T @ (mu[:, None] * X))
    w = np.zeros(X.shape[1])
    w[2] = 1.0
    if slope_change:
        w[3] = design.end
    se = math.sqrt(w @ cov @ w)
    d = abs(math.log1p(effect))
    return stats.norm.cdf(d / se - Z), stats.norm.cdf(-d / se - Z), se


@pytest.mark.parametrize("slope_change,harmonics", [(False, 0), (True, 1)])
def test_power_matches_the_analytic_wald_power(slope_change, harmonics):
    design = P.Design.from_volumes(60, 24, 24, season_amplitude=0.1 if harmonics else 0.0)
    _, _, se = analytic_power(design, -0.1, slope_change, harmonics)
    effect = math.expm1(-2.0 * se)  # about half power (two-sided)
    right, wrong, _ = analytic_power(design, effect, slope_change, harmonics)
    sims = 4000
    for alternative, expected in (("two-sided", right + wrong), ("reduction", right)):
        res = P.power(design, effect, seed=11, simulations=sims, family="poisson",
                      harmonics=harmonics, slope_change=slope_change, alternative=alternative)
        mc = math.sqrt(expected * (1 - expected) / sims)
        assert abs(res.power - expected) < 3 * mc + 0.01, (alternative, res.power, expected)
        assert res.mc_se == pytest.approx(math.sqrt(res.power * (1 - res.power) / sims))
    # The simulated sampling SD of the estimate is the Fisher-information SE.
    assert res.sd_estimate == pytest.approx(se, rel=0.05)


def test_fast_fit_reproduces_its_fit():
    """The vectorised IRLS gives ITS.fit's estimate and interval, series by series."""
    design = P.Design(30, 12, level=math.log(0.08), trend=0.004, season_amplitude=(0.1,),
                      season_phase=(0.5,), offset_pre=tuple(np.linspace(300, 330, 30)),
                      rho=0.4, noise_sd=0.1, horizon=14)  # fmt: skip
    draws = P._Draws(5, 12, design.n)
    y = P.simulate_counts(design, -0.2, "ramp", draws)
    fast = P.estimate(design, P.Estimator(), y)

    class Slow(P.Estimator):
        fast = False

    slow = P.estimate(design, Slow(), y)
    cols = ["estimate", "se", "ci_low", "ci_high"]
    np.testing.assert_allclose(fast[cols].to_numpy(), slow[cols].to_numpy(), rtol=1e-6, atol=1e-9)


def test_fast_ar1_standard_errors_reproduce_its_fit():
    """se="ar1": the vectorised IRLS, REML and sandwich against ITS.fit(se="ar1") series by
    series: the same estimates, the standard errors to a median well under 1% (the two REML
    searches differ only where a likelihood has two nearly equal maxima), t intervals on the
    residual df less 2, and the same power on 200 simulations within Monte Carlo error."""
    from gf_eval.stats import errors

    design = P.Design.from_volumes(30, 40, 20, trend=0.003, season_amplitude=0.1, rho=0.45,
                                   noise_sd=0.15)  # fmt: skip
    est = P.Estimator(se="ar1")
    assert est.fast

    class Slow(P.Estimator):
        fast = False

    y = P.simulate_counts(design, -0.3, "step", P._Draws(12, 200, design.n))
    fast, slow = P.estimate(design, est, y), P.estimate(design, Slow(se="ar1"), y)
    assert fast["ok"].all() and slow["ok"].all()
    np.testing.assert_allclose(fast["estimate"], slow["estimate"], rtol=1e-6, atol=1e-9)
    rel = (fast["se"] / slow["se"] - 1).abs()
    assert rel.median() < 0.005 and rel.quantile(0.8) < 0.02, rel.describe()
    q = stats.t.ppf(0.975, design.n - 6 - 2)
    np.testing.assert_allclose(fast["ci_high"] - fast["estimate"], q * fast["se"], rtol=1e-9)
    p_fast, p_slow = (fast["ci_high"] < 0).mean(), (slow["ci_high"] < 0).mean()
    assert abs(p_fast - p_slow) < 2 * math.sqrt(p_slow * (1 - p_slow) / 200), (p_fast, p_slow)
    assert ((fast["ci_high"] < 0) != (slow["ci_high"] < 0)).sum() <= 4
    # The REML likelihood reached is errors.profile's at the estimate, and never far below
    # that of errors.reml (it is above where the two searches end at different maxima).
    model = P._its_model(design, est, P._frame(design, np.arange(design.n) % 7, False), False)
    X = model.exog.to_numpy(dtype=float)
    beta = P._irls(y[:20], X, np.zeros(design.n))[0]
    mu = np.exp(beta @ X.T)
    c, rho, scale, loglik, A = P.ar1_reml(y[:20], X, mu)
    d = errors.gaps(np.arange(design.n, dtype=float), None, 1.0)
    deficit = []
    for k in range(20):
        r = (y[k] - mu[k]) / np.sqrt(mu[k])
        at = errors.profile(r, A[k], d, c[k], rho[k])
        assert at.loglik == pytest.approx(loglik[k], abs=1e-8)
        assert at.scale == pytest.approx(scale[k], rel=1e-8)
        deficit.append(errors.reml(r, A[k], d).loglik - loglik[k])
    assert np.median(deficit) < 1e-3, deficit


def test_power_agrees_with_the_simulation_study():
    """A Scenario of gf_eval.stats.simulation as a Design: the share of two-sided rejections
    of the log effect at the last month (quasi-Poisson, model SE) under the effect and under
    the null agrees with what simulation.run reports, within Monte Carlo error."""
    sc = simulation.Scenario(rho=0.3, level_change=-0.25, slope_change=0.0, n_pre=40, n_post=20,
                             base=30.0, trend=0.003, season=0.08, sigma=0.1)  # fmt: skip
    reps = 250
    study = simulation.run([sc], reps, seed=20170301, estimators=["quasi-Poisson, model SE"])
    study = study[study["quantity"] == "end"].set_index("scenario")["rejection_rate"]
    pop = np.linspace(1.0, 1.05, sc.n_pre + sc.n_post)
    design = P.Design(
        sc.n_pre, sc.n_post, level=math.log(sc.base) + sc.trend * (sc.n_pre - 1) + sc.sigma**2 / 2,
        trend=sc.trend, season_amplitude=sc.season, season_first=1, offset_pre=tuple(pop[:sc.n_pre]),
        offset_post=tuple(pop[sc.n_pre:]), rho=sc.rho, noise_sd=sc.sigma,
    )  # fmt: skip
    sims = 3000
    for kind, effect in (("effect", math.expm1(sc.level_change)), ("null", 0.0)):
        res = P.power(design, effect, seed=2, simulations=sims, alternative="two-sided")
        p = study[kind]
        mc = math.sqrt(p * (1 - p) / reps + res.power * (1 - res.power) / sims)
        assert abs(res.power - p) < 3 * mc + 0.005, (kind, res.power, p)


def test_mde_is_where_power_reaches_the_target():
    design = P.Design.from_volumes(30, 40, 18, trend=0.003, season_amplitude=0.08, rho=0.3,
                                   noise_sd=0.1)  # fmt: skip
    sims = 400
    mde = P.minimum_detectable_effect(design, 0.8, seed=7, simulations=sims)
    assert -1 < mde.mde < 0
    assert 0.8 <= mde.power_at_mde < 0.8 + 0.03
    assert mde.ci_low < mde.mde < mde.ci_high and mde.mc_se > 0
    # The same seed reproduces the search's power; a fresh seed gives ~80% within MC error.
    assert P.power(design, mde.mde, seed=7, simulations=sims).power == mde.power_at_mde
    fresh = P.power(design, mde.mde, seed=8, simulations=1000).power
    assert abs(fresh - 0.8) < 3 * math.sqrt(0.16 / 1000) + 3 * math.sqrt(0.16 / sims)
    # On common random numbers the power curve rises with the size of the reduction.
    curve = mde.curve.assign(size=-mde.curve["effect"]).sort_values("size")
    assert (np.diff(curve["power"].to_numpy()) >= -1.5 / sims).all()
    # Smaller volumes need larger effects; more simulations do not move the MDE much.
    small = P.minimum_detectable_effect(design.replace(level=math.log(8)), seed=7, simulations=sims)
    assert small.mde < mde.mde
    assert "minimum detectable effect" in mde.summary()


def test_mde_search_stops_within_a_quarter_of_its_monte_carlo_error():
    """The search locates the MDE to within the wider of tol and a quarter of its Monte Carlo
    SE: the crossing lies between the largest effect short of the target and the MDE, and a
    search to tol alone lands within that width of it, with more effects to simulate."""
    design = P.Design.from_volumes(5, 36, 12, trend=0.0, season_amplitude=0.05, rho=0.3,
                                   noise_sd=0.15)  # fmt: skip
    kw = dict(seed=11, simulations=300)
    fast = P.minimum_detectable_effect(design, 0.8, **kw)
    fine = P.minimum_detectable_effect(design, 0.8, mc_share=0, **kw)
    hi = -math.log1p(fast.mde)
    se_log = fast.mc_se / math.exp(-hi)
    width = max(0.002, 0.25 * se_log)
    assert width > 0.01  # a small authority: the Monte Carlo error allows a coarse search
    short = fast.curve[(fast.curve["power"] < 0.8) & (fast.curve["effect"] > fast.mde)]
    lo = -math.log1p(short["effect"].min())
    assert 0 < hi - lo <= width + 1e-9
    assert abs(hi + math.log1p(fine.mde)) <= width + 0.002
    assert len(fast.curve) < len(fine.curve)
    assert fine.power_at_mde >= 0.8 and fast.power_at_mde >= 0.8
    with pytest.raises(P.ITSInputError, match="mc_share"):
        P.minimum_detectable_effect(design, 0.8, mc_share=2, **kw)


def test_mde_search_starts_from_a_power_result_on_the_same_draws():
    design = P.Design.from_volumes(5, 36, 12, trend=0.0, season_amplitude=0.05, rho=0.3,
                                   noise_sd=0.15)  # fmt: skip
    kw = dict(seed=11, simulations=300)
    planned = P.power(design, -0.4, **kw)
    own = P.minimum_detectable_effect(design, 0.8, **kw)
    from_plan = P.minimum_detectable_effect(design, 0.8, probe=planned, **kw)
    # The planned change is a point of the search's curve, with the power it had.
    row = from_plan.curve[np.isclose(from_plan.curve["effect"], -0.4)]
    assert len(row) == 1 and row["power"].iloc[0] == planned.power
    assert not np.isclose(own.curve["effect"], -0.4).any()
    # Another start, the same crossing to within the search's width.
    width = max(0.002, *(0.25 * m.mc_se / (1 + m.mde) for m in (own, from_plan)))
    assert abs(math.log1p(own.mde) - math.log1p(from_plan.mde)) <= width + 1e-9
    for other in (P.power(design, -0.4, seed=12, simulations=300),
                  P.power(design, -0.4, seed=11, simulations=200),
                  P.power(design.replace(rho=0.1), -0.4, **kw),
                  P.power(design, 0.4, **kw)):  # fmt: skip
        with pytest.raises(P.ITSInputError, match="same draws"):
            P.minimum_detectable_effect(design, 0.8, probe=other, **kw)


def test_seeded_and_deterministic():
    design = P.Design.from_volumes(20, 30, 12, rho=0.2, noise_sd=0.1, dispersion=1.5)
    a = P.power(design, -0.3, seed=123, simulations=100)
    b = P.power(design, -0.3, seed=123, simulations=100)
    c = P.power(design, -0.3, seed=124, simulations=100)
    pd.testing.assert_frame_equal(a.fits, b.fits)
    assert a.power == b.power
    assert not np.allclose(a.fits["estimate"], c.fits["estimate"])
    with pytest.raises(TypeError):
        P.power(design, -0.3, simulations=100)  # the seed is required
    with pytest.raises(P.ITSInputError):
        P.power(design, -0.3, seed=None, simulations=100)


def test_counts_from_shared_draws_are_those_from_fresh_draws():
    """A search reuses one set of draws (its noise and pre-period counts are computed once):
    whatever was simulated from them before, a design's counts are those of fresh draws."""
    base = P.Design(24, 12, level=math.log(30), trend=0.01, season_amplitude=(0.2,),
                    rho=0.5, noise_sd=0.15, dispersion=0.6)  # fmt: skip
    designs = [base, base.replace(level=math.log(31)), base.replace(rho=0.2),
               base.replace(noise_sd=0.3), base.replace(dispersion=1.8), base.replace(n_post=6),
               base.replace(dispersion=1.0, nb_alpha=0.1), base.replace(noise_sd=0.0)]  # fmt: skip
    shared = P._Draws(8, 50, base.n)
    for d in designs:
        for effect, shape in ((-0.3, "step"), (0.0, "step"), (-0.5, "ramp")):
            fresh = P.simulate_counts(d, effect, shape, P._Draws(8, 50, base.n))
            np.testing.assert_array_equal(P.simulate_counts(d, effect, shape, shared), fresh)
    # The effect reaches the post period only, and the draws are really shared.
    a, b = (P.simulate_counts(base, e, "step", shared) for e in (-0.5, 0.0))
    np.testing.assert_array_equal(a[:, :24], b[:, :24])
    assert (a[:, 24:] <= b[:, 24:]).all() and (a[:, 24:] < b[:, 24:]).mean() > 0.5


def test_ar1_meat_is_the_sandwich_meat_with_v_formed():
    """A'VA by the filters equals A'VA with V = (1 - c) I + c rho^|t - s| written out."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal((5, 30, 4))
    c, rho = np.array([0.0, 0.3, 0.7, 1.0, 0.5]), np.array([0.5, -0.6, 0.95, 0.2, 0.0])
    lag = np.abs(np.subtract.outer(np.arange(30), np.arange(30)))
    for k in range(5):
        V = (1 - c[k]) * np.eye(30) + c[k] * rho[k] ** lag
        np.testing.assert_allclose(P._ar1_meat(A, c, rho)[k], A[k].T @ V @ A[k], rtol=1e-10)


def test_counts_have_the_stated_dispersion():
    """The count model given the rate: Var = phi*mu for phi above and below 1, and NB2."""
    draws = P._Draws(1, 4000, 20)
    for kw, var in (({"dispersion": 2.5}, 2.5 * 40), ({"dispersion": 0.5}, 0.5 * 40),
                    ({"nb_alpha": 0.05}, 40 + 0.05 * 1600), ({}, 40)):  # fmt: skip
        d = P.Design.from_volumes(40, 10, 10, **kw)
        y = P.simulate_counts(d, 0.0, "step", draws)
        assert y.mean() == pytest.approx(40, rel=0.01)
        assert y.var() == pytest.approx(var, rel=0.06), kw


def test_fit_design_recovers_a_known_design():
    """Fitted to a long simulated pre period, the design gets back level, trend and season."""
    true = P.Design(120, 2, level=math.log(50), trend=0.002, season_amplitude=0.15,
                    season_phase=1.0, season_first=4)  # fmt: skip
    y = P.simulate_counts(true, 0.0, "step", P._Draws(3, 1, true.n))[0][: true.n_pre]
    frame = pd.DataFrame({"t": np.arange(true.n_pre), "y": y,
                          "m": (np.arange(true.n_pre) + 3) % 12 + 1})  # fmt: skip
    fit = P.fit_design(frame, "y", "t", n_post=12, season="m")
    d = fit.design
    assert d.level == pytest.approx(true.level, abs=0.05)
    assert d.trend == pytest.approx(true.trend, abs=0.001)
    assert d.season_amplitude[0] == pytest.approx(0.15, abs=0.03)
    assert d.season_phase[0] == pytest.approx(1.0, abs=0.25)
    assert fit.dispersion == pytest.approx(1.0, abs=0.35)
    assert fit.error_method in ("reml", "moments")
    assert "design from pre-period data" in fit.summary()


def test_sites_needed_follows_the_fixed_effect_formula():
    design = P.Design.from_volumes(30, 36, 18, rho=0.3, noise_sd=0.15)
    res = P.power(design, -0.15, seed=4, simulations=300)
    k = P.sites_needed(res, 0.8)
    exact = ((Z + stats.norm.ppf(0.8)) * res.sd_estimate / abs(math.log1p(-0.15))) ** 2
    assert k == max(1, math.ceil(exact - 1e-9))
    assert P.pooled_power(res, k) >= 0.8 > (P.pooled_power(res, k - 1) if k > 1 else 0)


def run_cli(capsys, args):
    code = main(["power", *args])
    out, err = capsys.readouterr()
    return code, out, err


def parse(out: str) -> dict:
    power = float(re.search(r"^power: ([0-9.]+) \(MC SE", out, re.M).group(1))
    mde = float(re.search(r"^minimum detectable effect \(80% power\): ([+-][0-9.]+)%", out, re.M).group(1))
    post = re.search(r"^post months for 80% power: (\d+|none)", out, re.M).group(1)
    sites = re.search(r"^sites for 80% power: (\d+|none)", out, re.M).group(1)
    return {"power": power, "mde": mde / 100, "post": post, "sites": sites}


def test_command_on_the_sicily_pre_period(capsys, tmp_path):
    """A published series no one here wrote: the 36 months before the smoking ban."""
    args = [str(SICILY), "--outcome", "aces", "--time", "time", "--start", "37", "--offset",
            "stdpop", "--season", "month", "--effect", "-0.11", "--months-post", "23",
            "--simulations", "100", "--max-post", "24", "--json", str(tmp_path / "p.json")]  # fmt: skip
    code, out, err = run_cli(capsys, args)
    assert code == 0, err
    got = parse(out)
    assert 0 < got["power"] <= 1 and -1 < got["mde"] < 0
    saved = json.loads((tmp_path / "p.json").read_text())
    assert saved["power"]["power"] == pytest.approx(got["power"], abs=5e-4)
    assert saved["mde"]["mde"] == pytest.approx(got["mde"], abs=5e-4)
    assert saved["power"]["design"]["n_pre"] == 36
    # The same from a CSV of the pre-period rows only.
    pre = pd.read_csv(SICILY).query("time < 37")
    pre.to_csv(tmp_path / "pre.csv", index=False)
    code, out2, _ = run_cli(capsys, [str(tmp_path / "pre.csv"), *args[1:5], *args[7:-2]])
    assert code == 0 and parse(out2) == got


def test_command_on_stated_volumes(capsys):
    args = ["--count-per-month", "30", "--months-pre", "40", "--months-post", "18", "--trend",
            "0.003", "--rho", "0.3", "--noise-sd", "0.1", "--effect", "-0.25", "--simulations",
            "100", "--max-post", "20"]  # fmt: skip
    code, out, err = run_cli(capsys, args)
    assert code == 0, err
    got = parse(out)
    direct = P.power(P.Design.from_volumes(30, 40, 18, trend=0.003, rho=0.3, noise_sd=0.1),
                     -0.25, seed=20150901, simulations=100)  # fmt: skip
    assert got["power"] == pytest.approx(direct.power, abs=5e-4)


@pytest.mark.parametrize("args", [
    [],  # neither source
    ["--count-per-month", "30"],  # no --months-pre
    ["--count-per-month", "x", "--months-pre", "40"],
    ["--count-per-month", "30", "--months-pre", "40", "--rho", "1.2"],
    ["--count-per-month", "30", "--months-pre", "40", "--simulations", "2.5"],
    ["--count-per-month", "30", "--months-pre", "40", "--se", "nope"],
    [str(SICILY), "--outcome", "nope", "--time", "time", "--start", "37"],
    [str(SICILY), "--outcome", "aces", "--time", "time", "--start", "3"],
    [str(SICILY), "--outcome", "aces", "--time", "time", "--count-per-month", "3"],
    ["/no/such/file.csv", "--outcome", "aces", "--time", "time"],
])  # fmt: skip
def test_command_refuses_bad_input_in_one_line(capsys, args):
    code, out, err = run_cli(capsys, [*args, "--simulations", "20", "--max-post", "4"]
                             if "--simulations" not in args else args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gf-eval power: "), err


@pytest.fixture(scope="module")
def target_table(pipeline):
    """The pipeline's own power table (the config's 500 simulations)."""
    return pipeline["models"]["power"]


def test_target_power_on_the_synthetic_authority(target_table, pipeline):
    from gf_eval.config import Calendar

    t = target_table.set_index("target")
    config, series = pipeline["config"], pipeline["derived"]["monthly_series"]
    assert list(t.index) == ["repeat_marac", "dva_rereferrals", "cin_dva"]
    cal = Calendar.from_config(config)
    for target, row in t.iterrows():
        spec = config["analysis"]["series"][target]
        assert row["target_change"] == config["targets"][target]
        # The inputs are the pre-period months' own (computed here from the series directly).
        pre = series[(series["t"] < cal.t0) & series[spec["outcome"]].notna()]
        assert row["pre_months"] == len(pre)
        assert row["mean_count"] == pytest.approx(pre[spec["outcome"]].astype(float).mean())
        assert row["horizon"] == cal.t_end - cal.t0
        assert 0 < row["power"] < 1 and -1 < row["mde"] < 0
        assert 0.8 <= row["power_at_mde"] < 0.85
        # Power below 80% exactly when the target is smaller than the MDE.
        assert (row["power"] < 0.8) == (row["target_change"] > row["mde"])
    # A Doncaster-sized authority is underpowered for every target (README).
    assert (t["power"] < 0.6).all()
    # cin_dva counts ~150 a month against ~8 repeat MARAC cases: less Poisson noise, and its
    # rate is steadier, so its MDE is the smallest.
    assert t.loc["cin_dva", "mean_count"] > 10 * t.loc["repeat_marac", "mean_count"]
    assert abs(t.loc["cin_dva", "mde"]) < abs(t.loc["repeat_marac", "mde"])
    assert abs(t.loc["cin_dva", "mde"]) < abs(t.loc["dva_rereferrals", "mde"])


def test_target_power_grows_with_the_authority(target_table, settings, config, tmp_path):
    """A smaller synthetic authority (scale 0.3), generated and derived from scratch, has
    larger minimum detectable effects for every target."""
    from conftest import run_pipeline, with_synthetic

    from gf_eval.analysis.power import target_power

    small = run_pipeline(with_synthetic(settings, scale=0.3), config, tmp_path, models=False)
    s = target_power(small["derived"]["monthly_series"], small["config"], simulations=200)
    s, t = s.set_index("target"), target_table.set_index("target")
    assert (s["mean_count"] < t["mean_count"]).all()
    # More negative: a larger reduction needed; NaN: no reduction short of 100% reaches 80%.
    assert (s["mde"].isna() | (s["mde"] < t["mde"])).all(), s["mde"]
    assert t["mde"].notna().all()
