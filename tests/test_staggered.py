"""Staggered DiD (Callaway & Sant'Anna): a hand calculation, reference numbers from diff-diff,
an independent 2x2 OLS route per cell, recovery and coverage in simulation, and bad input."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from gf_eval.stats.staggered import StaggeredDiD, StaggeredInputError

# The tiny panel: 6 units, 5 periods; units 1, 2 start in period 3, units 3, 4 in period 4,
# units 5, 6 never (group 0).
Y = {1: [1, 2, 6, 8, 9], 2: [3, 5, 8, 12, 12], 3: [2, 4, 5, 10, 11],
     4: [0, 1, 4, 7, 11], 5: [1, 2, 3, 4, 5], 6: [2, 2, 4, 7, 7]}  # fmt: skip
G = {1: 3, 2: 3, 3: 4, 4: 4, 5: 0, 6: 0}


def tiny() -> pd.DataFrame:
    return pd.DataFrame([dict(unit=u, time=t + 1, y=float(v), g=G[u])
                         for u, ys in Y.items() for t, v in enumerate(ys)])  # fmt: skip


def fit(data, **kw):
    return StaggeredDiD(data, "unit", "time", "y", "g", **kw).fit()


def cell(res, g, t):
    row = res.att_gt[(res.att_gt.group == g) & (res.att_gt.time == t)]
    assert len(row) == 1
    return row.iloc[0]


# ---------------------------------------------------------------------------------------------
# (a) by hand
# ---------------------------------------------------------------------------------------------


def test_hand_calculation_never_treated_varying_base():
    res = fit(tiny())
    # SE by hand: sqrt(s_D^2 / N_D + s_C^2 / N_C), variances with divisor N (the influence
    # function's), N_D = N_C = 2 here.
    # ATT(3,3), base 2: cohort dY = 6-2=4, 8-5=3 (mean 3.5, s^2 0.25); never dY = 3-2=1,
    # 4-2=2 (mean 1.5, s^2 0.25): 3.5 - 1.5 = 2; SE sqrt(.25/2 + .25/2) = 0.5
    assert cell(res, 3, 3).estimate == pytest.approx(2.0)
    assert cell(res, 3, 3).se == pytest.approx(0.5)
    # ATT(3,4), base 2: 8-2=6, 12-5=7 (6.5, s^2 .25); 4-2=2, 7-2=5 (3.5, s^2 2.25): 3;
    # SE sqrt(.125 + 1.125) = sqrt(1.25)
    assert cell(res, 3, 4).estimate == pytest.approx(3.0)
    assert cell(res, 3, 4).se == pytest.approx(math.sqrt(1.25))
    # ATT(3,5), base 2: 9-2=7, 12-5=7 (7, s^2 0); 5-2=3, 7-2=5 (4, s^2 1): 3; SE sqrt(.5)
    assert cell(res, 3, 5).estimate == pytest.approx(3.0)
    assert cell(res, 3, 5).se == pytest.approx(math.sqrt(0.5))
    # ATT(4,4), base 3: 10-5=5, 7-4=3 (4, s^2 1); 4-3=1, 7-4=3 (2, s^2 1): 2; SE 1
    assert cell(res, 4, 4).estimate == pytest.approx(2.0)
    assert cell(res, 4, 4).se == pytest.approx(1.0)
    # ATT(4,5), base 3: 11-5=6, 11-4=7 (6.5); 5-3=2, 7-4=3 (2.5): 4; SE sqrt(.125+.125)
    assert cell(res, 4, 5).estimate == pytest.approx(4.0)
    assert cell(res, 4, 5).se == pytest.approx(0.5)
    # pre-periods, varying base t - 1:
    # ATT(3,2), base 1: 2-1=1, 5-3=2 (1.5); 2-1=1, 2-2=0 (0.5): 1
    # ATT(4,2), base 1: 4-2=2, 1-0=1 (1.5); (0.5): 1
    # ATT(4,3), base 2: 5-4=1, 4-1=3 (2); 3-2=1, 4-2=2 (1.5): 0.5
    assert cell(res, 3, 2).estimate == pytest.approx(1.0)
    assert cell(res, 4, 2).estimate == pytest.approx(1.0)
    assert cell(res, 4, 3).estimate == pytest.approx(0.5)
    assert cell(res, 4, 3).base == 2 and cell(res, 4, 4).base == 3
    assert len(res.att_gt) == 8  # periods 2..5 for each cohort; period 1 has no t - 1
    # event study, equal cohort sizes (2 and 2): e=0: (2 + 2)/2 = 2; e=1: (3 + 4)/2 = 3.5;
    # e=2: cohort 3 only, 3 (weight 1, so its SE is the cell's: sqrt(.5))
    es = res.event_study()
    assert es.theta(0).estimate == pytest.approx(2.0)
    assert es.theta(1).estimate == pytest.approx(3.5)
    assert es.theta(2).estimate == pytest.approx(3.0)
    assert es.theta(2).se == pytest.approx(math.sqrt(0.5))
    assert es.theta(-1).estimate == pytest.approx((0.5 + 1.0) / 2)  # ATT(3,2), ATT(4,3)
    # overall "simple": post cells (3,3),(3,4),(3,5),(4,4),(4,5), equal weights:
    # (2 + 3 + 3 + 2 + 4)/5 = 2.8; "group": theta(3) = 8/3, theta(4) = 3, mean 17/6
    assert res.overall().estimate == pytest.approx(2.8)
    assert res.overall("group").estimate == pytest.approx(17 / 6)


def test_hand_calculation_not_yet_treated():
    res = fit(tiny(), control="notyet")
    # ATT(3,3), base 2: controls never + cohort 4 (starts 4 > 3): dY 1, 2, 5-4=1, 4-1=3,
    # mean 1.75; 3.5 - 1.75 = 1.75
    assert cell(res, 3, 3).estimate == pytest.approx(1.75)
    assert cell(res, 3, 3).n_control == 4
    # ATT(3,4): cohort 4 is treated by 4, so never-treated only: 3, as with control="never"
    assert cell(res, 3, 4).estimate == pytest.approx(3.0)
    assert cell(res, 3, 4).n_control == 2


def test_universal_base_has_a_zero_reference_cell():
    res = fit(tiny(), base="universal")
    ref = cell(res, 4, 3)
    assert ref.reference and ref.estimate == 0 and math.isnan(ref.se)
    # ATT(4,1) against base 3: cohort 5-2=3, 4-0=4 (3.5); never 3-1=2, 4-2=2 (2): -1.5... with
    # the sign of t < b: (Y_1 - Y_3): cohort 2-5=-3, 0-4=-4 (-3.5); never 1-3=-2, 2-4=-2: -1.5
    assert cell(res, 4, 1).estimate == pytest.approx(-1.5)
    # post cells are the same whichever base
    post = res.att_gt[res.att_gt.post].reset_index(drop=True)
    pd.testing.assert_frame_equal(post, fit(tiny()).att_gt.query("post").reset_index(drop=True))
    assert math.isnan(res.event_study().theta(-1).se)


# ---------------------------------------------------------------------------------------------
# (c) reference numbers from diff-diff 3.13.0
# ---------------------------------------------------------------------------------------------

# These constants came from diff-diff 3.13.0 (CallawaySantAnna(control_group=...,
# base_period=..., estimation_method="reg").fit(tiny(), outcome="y", unit="unit", time="time",
# first_treat="g", aggregate="all"); analytic SEs, n_bootstrap=0), run in a scratch venv:
# {(g, t): (effect, se)}, {e: (effect, se)}, overall (simple) (effect, se).
DIFF_DIFF = {
    ("never", "varying"): (
        {(3, 2): (1.0, 0.5), (3, 3): (2.0, 0.5), (3, 4): (3.0, 1.1180339887),
         (3, 5): (3.0, 0.7071067812), (4, 2): (1.0, 0.5), (4, 3): (0.5, 0.790569415),
         (4, 4): (2.0, 1.0), (4, 5): (4.0, 0.5)},
        {-2: (1.0, 0.5), -1: (0.75, 0.414578098794425), 0: (2.0, 0.6614378277661477),
         1: (3.5, 0.7905694150420949), 2: (3.0, 0.7071067811865476)},
        (2.8, 0.6452906321960672)),
    ("never", "universal"): (
        {(3, 1): (-1.0, 0.5), (3, 3): (2.0, 0.5), (3, 4): (3.0, 1.1180339887),
         (3, 5): (3.0, 0.7071067812), (4, 1): (-1.5, 0.3535533906),
         (4, 2): (-0.5, 0.790569415), (4, 4): (2.0, 1.0), (4, 5): (4.0, 0.5)},
        {-3: (-1.5, 0.3535533905932738), -2: (-0.75, 0.414578098794425),
         0: (2.0, 0.6614378277661477), 1: (3.5, 0.7905694150420949),
         2: (3.0, 0.7071067811865476)},
        (2.8, 0.6452906321960672)),
    ("notyet", "varying"): (
        {(3, 2): (0.5, 0.5), (3, 3): (1.75, 0.5448623679), (3, 4): (3.0, 1.1180339887),
         (3, 5): (3.0, 0.7071067812), (4, 2): (0.5, 0.5), (4, 3): (0.5, 0.790569415),
         (4, 4): (2.0, 1.0), (4, 5): (4.0, 0.5)},
        {-2: (0.5, 0.5), -1: (0.5, 0.5), 0: (1.875, 0.7153451963912248),
         1: (3.5, 0.7905694150420949), 2: (3.0, 0.7071067811865476)},
        (2.75, 0.6239991987174344)),
    ("notyet", "universal"): (
        {(3, 1): (-0.5, 0.5), (3, 3): (1.75, 0.5448623679), (3, 4): (3.0, 1.1180339887),
         (3, 5): (3.0, 0.7071067812), (4, 1): (-1.5, 0.3535533906),
         (4, 2): (-0.5, 0.790569415), (4, 4): (2.0, 1.0), (4, 5): (4.0, 0.5)},
        {-3: (-1.5, 0.3535533905932738), -2: (-0.5, 0.5), 0: (1.875, 0.7153451963912248),
         1: (3.5, 0.7905694150420949), 2: (3.0, 0.7071067811865476)},
        (2.75, 0.6239991987174344)),
}  # fmt: skip
# diff-diff's group effects theta(g) (same for both bases): never 8/3 (se .7071067811865476),
# 3 (.5590169943749475); notyet 2.5833333 (.6601241465731191), 3 (.5590169943749475).


@pytest.mark.parametrize("control,base", list(DIFF_DIFF))
def test_matches_diff_diff(control, base):
    cells, events, (overall, overall_se) = DIFF_DIFF[(control, base)]
    res = fit(tiny(), control=control, base=base)
    for (g, t), (est, se) in cells.items():
        assert cell(res, g, t).estimate == pytest.approx(est, abs=1e-9)
        assert cell(res, g, t).se == pytest.approx(se, abs=1e-9)
    es = res.event_study()
    for e, (est, se) in events.items():
        assert es.theta(e).estimate == pytest.approx(est, abs=1e-12)
        assert es.theta(e).se == pytest.approx(se, abs=1e-12)
    # the overall SE includes the estimation of the weights, as diff-diff's does
    assert res.overall().estimate == pytest.approx(overall, abs=1e-12)
    assert res.overall().se == pytest.approx(overall_se, abs=1e-12)
    assert res.overall(weights_uncertainty=False).se != pytest.approx(overall_se, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# (b) each cell is a 2x2 DiD regression
# ---------------------------------------------------------------------------------------------


def simulate(seed, n=120, periods=8, starts=(3, 5, 6), shares=(0.2, 0.2, 0.2), effect=None,
             rho=0.0, sd=1.0, missing=0.0):  # fmt: skip
    """Y_it = a_i + l_t + effect(t - g) 1[t >= g] + e_it, a_i correlated with the cohort (so
    levels differ; trends are parallel), e_it AR(1) with correlation rho."""
    rng = np.random.default_rng(seed)
    cohort = rng.choice(len(starts) + 1, size=n, p=[*shares, 1 - sum(shares)])
    g = np.array([*starts, 0], dtype=float)[cohort]
    a = rng.normal(size=n) + 0.5 * cohort
    lam = np.cumsum(rng.normal(0.3, 0.5, size=periods))
    e = np.empty((n, periods))
    e[:, 0] = rng.normal(scale=sd, size=n)
    for t in range(1, periods):
        e[:, t] = rho * e[:, t - 1] + math.sqrt(1 - rho**2) * rng.normal(scale=sd, size=n)
    t = np.arange(1, periods + 1)
    y = a[:, None] + lam[None, :] + e
    if effect is not None:
        ev = t[None, :] - g[:, None]
        treated = (g[:, None] > 0) & (ev >= 0)
        y = y + np.where(treated, np.vectorize(effect)(np.maximum(ev, 0)), 0.0)
    if missing:
        y[rng.random(y.shape) < missing] = np.nan
    return pd.DataFrame({"unit": np.repeat(np.arange(n), periods), "time": np.tile(t, n),
                         "y": y.ravel(), "g": np.repeat(g, periods)})  # fmt: skip


@pytest.mark.parametrize("control,base", [("never", "varying"), ("notyet", "varying"),
                                          ("never", "universal"), ("notyet", "universal")])
def test_each_cell_is_a_two_by_two_regression(control, base):
    """ATT(g, t) equals the interaction of y ~ D * post on the cohort-g and control units over
    periods {b, t} (units missing either period dropped), fitted by statsmodels OLS. Its
    influence-function SE equals the regression's cluster-robust SE without small-sample
    correction (CR0) to 1e-8; statsmodels' default cluster SE multiplies that by
    sqrt(G/(G-1) * (N-1)/(N-K)) (G units, N = 2G rows, K = 4), so with the 25+ units of each
    cell here the two differ by under 7%."""
    data = simulate(11, effect=lambda e: 1 + e, missing=0.05)
    res = fit(data, control=control, base=base)
    groups = data.groupby("unit")["g"].first()
    worst = 0.0
    for r in res.att_gt.itertuples():
        if r.reference:
            continue
        if control == "never":
            ctrl = groups.index[groups == 0]
        else:  # never treated, or first treated after max(t, b) (anticipation 0), not g
            ctrl = groups.index[(groups == 0) | ((groups > max(r.time, r.base)) & (groups != r.group))]
        units = groups.index[groups == r.group].union(ctrl)
        sub = data[data.unit.isin(units) & data.time.isin([r.base, r.time])].dropna(subset=["y"])
        both = sub.groupby("unit")["y"].count() == 2
        sub = sub[sub.unit.isin(both.index[both])].copy()
        sub["D"] = (sub.g == r.group).astype(float)
        sub["post"] = (sub.time == r.time).astype(float)
        ols = smf.ols("y ~ D * post", data=sub)
        cr0 = ols.fit(cov_type="cluster", cov_kwds={"groups": sub.unit, "use_correction": False})
        crv = ols.fit(cov_type="cluster", cov_kwds={"groups": sub.unit})
        assert r.estimate == pytest.approx(cr0.params["D:post"], abs=1e-10)
        assert r.n_treated + r.n_control == sub.unit.nunique()
        assert r.se == pytest.approx(cr0.bse["D:post"], rel=1e-8)
        g_, n_ = sub.unit.nunique(), len(sub)
        factor = math.sqrt(g_ / (g_ - 1) * (n_ - 1) / (n_ - 4))
        assert crv.bse["D:post"] == pytest.approx(r.se * factor, rel=1e-8)
        worst = max(worst, abs(crv.bse["D:post"] / r.se - 1))
    assert worst < 0.07


def test_missing_outcomes_leave_the_unit_out_of_that_cell_only():
    data = tiny()
    data.loc[(data.unit == 1) & (data.time == 4), "y"] = np.nan
    data = data[~((data.unit == 6) & (data.time == 5))]  # a missing row: the same as a NaN
    res = fit(data)
    # ATT(3,4): unit 1 out; 12-5=7 against never 2, 5: 7 - 3.5 = 3.5
    assert cell(res, 3, 4).estimate == pytest.approx(3.5)
    assert (cell(res, 3, 4).n_treated, cell(res, 3, 4).n_control) == (1, 2)
    # ATT(3,5): unit 6 out of controls: cohort 7, 7 against 5-2=3: 4
    assert cell(res, 3, 5).estimate == pytest.approx(4.0)
    assert cell(res, 3, 3).n_treated == 2  # unit 1 still counts where it is observed


# ---------------------------------------------------------------------------------------------
# recovery and coverage
# ---------------------------------------------------------------------------------------------


def effect_path(e):
    return 1.0 + 0.5 * e  # grows with exposure


def test_event_study_recovers_a_dynamic_effect():
    """A large panel (3000 units), effects 1 + 0.5 e, parallel trends: each theta(e) is within
    its 99% interval of the truth and the 95% intervals miss at most one of the 11 event
    times (each misses with probability 5%: requiring all 11 would fail 43% of seeds)."""
    data = simulate(3, n=3000, periods=10, starts=(4, 6, 8), effect=effect_path, rho=0.5)
    es = fit(data).event_study()
    truth = np.array([effect_path(e) if e >= 0 else 0.0 for e in es.event_times])
    assert set(es.event_times) == set(range(-6, 7))
    z = (es.estimate - truth) / es.se
    assert np.all(np.abs(z) < 2.576), z
    assert np.sum(np.abs(z) > 1.96) <= 1
    es99 = fit(data).event_study(alpha=0.01)
    assert np.all((es99.ci_low < truth) & (truth < es99.ci_high))


def test_overall_interval_covers_near_95_percent():
    """400 seeded panels (200 units, random cohorts with shares 0.2 each and 0.4 never
    treated, AR(1) noise, rho 0.5). The "simple" overall ATT's estimand uses population
    shares, equal here, so it is the plain mean of effect_path over the post cells; the SE
    includes the weights' estimation. Coverage must lie in [0.92, 0.98]: 95% +/- about 2.75
    binomial SDs (1.09% for 400 panels). (Over 1000 other seeds: coverage 0.948, mean SE
    0.1301 against an SD of estimates of 0.1310; without the weights' uncertainty 0.933.)"""
    starts, periods = (4, 6, 8), 10
    cells = [t - g for g in starts for t in range(g, periods + 1)]
    truth = float(np.mean([effect_path(e) for e in cells]))
    hits = []
    for seed in range(400):
        data = simulate(1000 + seed, n=200, periods=periods, starts=starts, effect=effect_path,
                        rho=0.5)  # fmt: skip
        o = fit(data).overall()
        hits.append(o.ci_low < truth < o.ci_high)
    cover = float(np.mean(hits))
    print(f"coverage of the overall 95% interval: {cover:.3f}")
    assert 0.92 <= cover <= 0.98


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def test_anticipation_moves_the_base_back():
    res = fit(tiny(), anticipation=1)
    assert cell(res, 4, 4).base == 2 and cell(res, 4, 3).base == 2  # t=3 is an anticipation pd
    with pytest.raises(StaggeredInputError, match="cohort 3 is treated too early"):
        fit(tiny(), anticipation=2)


@pytest.mark.parametrize("change,message", [
    (lambda d: d.assign(time=d.time + 0.5), "non-integer times"),
    (lambda d: d.assign(g=np.where(d.g == 3, 1, d.g)), "cohort 1 is treated in or before the first"),
    (lambda d: pd.concat([d, d.iloc[[0]]]), "repeated"),
    (lambda d: d[d.time != 3], r"no unit is observed in period\(s\) \[3\]"),
    (lambda d: d.assign(g=np.where((d.unit == 1) & (d.time == 5), 4, d.g)), "unit 1 has more than one start"),
    (lambda d: d.assign(g=np.where(d.g == 0, 5, d.g)), "no never-treated control"),
    (lambda d: d.assign(g=0), "no unit is ever treated"),
    (lambda d: d.assign(y=np.where(d.unit.isin([1, 2]) & (d.time == 2), np.nan, d.y)),
     r"no unit of cohort 3 has the outcome observed in both period 2 and base 1"),
    (lambda d: d.assign(y=np.inf), "infinite"),
    (lambda d: d.assign(g=np.where(d.g == 3, 3.5, d.g)), "whole-number start"),
    (lambda d: d.drop(columns="y"), "columns not in the data: outcome 'y'"),
])  # fmt: skip
def test_bad_input_is_refused_with_a_reason(change, message):
    with pytest.raises(StaggeredInputError, match=message):
        fit(change(tiny()))


def test_not_yet_without_never_treated_names_the_cell():
    data = tiny().assign(g=lambda d: np.where(d.g == 0, 5, d.g))  # all treated by period 5
    with pytest.raises(StaggeredInputError, match=r"ATT\(g=3, t=5\).*never-treated or not-yet"):
        fit(data, control="notyet")
    with pytest.raises(ValueError, match="control must be"):
        fit(tiny(), control="later")


def test_start_after_the_panel_is_never_treated_and_summary_prints():
    data = tiny().assign(g=lambda d: np.where(d.g == 0, 9, d.g))
    res = fit(data)
    assert res.cohorts == {3.0: 2, 4.0: 2} and np.isinf(res.unit_groups).sum() == 2
    text = res.summary()
    assert "overall ATT (simple): 2.8" in text and "event study" in text
