"""Randomisation inference: the generic test, exact enumeration, the StaggeredDiD fast path,
placebo start dates, and calibration under the null with few treated units."""

import math
import time

import numpy as np
import pandas as pd
import pytest

from gf_eval.stats.permutation import (PermutationResult, Reassignment, permutation_test,
                                       placebo_dates, staggered_permutation_test,
                                       staggered_placebo)  # fmt: skip
from gf_eval.stats.staggered import StaggeredDiD

from test_staggered import G, Y, tiny  # the staggered DiD tests' hand-calculated panel


def model(data, **kw):
    return StaggeredDiD(data, "unit", "time", "y", "g", **kw)


# ---------------------------------------------------------------------------------------------
# the generic test
# ---------------------------------------------------------------------------------------------


def test_reassignment_counts_and_enumerates_distinct_assignments():
    r = Reassignment([3, 3, 4, 4, np.nan, np.inf])
    assert r.count() == math.factorial(6) // (2 * 2 * 2) == 90
    rows = r.enumerate()
    assert rows.shape == (90, 6) and len({tuple(x) for x in rows}) == 90
    for row in rows:  # each keeps the multiset of start dates
        assert sorted(row.tolist()) == [3, 3, 4, 4, np.inf, np.inf]
    draws = r.draw_many(np.random.default_rng(0), 500)
    assert np.all(np.sort(draws, axis=1) == np.sort(r.observed))
    with pytest.raises(ValueError, match="nothing to permute"):
        Reassignment([np.nan, 0 * np.inf, np.inf])


def test_a_difference_in_means_with_a_custom_draw():
    """Any statistic and any draw: two-sample difference in means, treatment labels shuffled.
    The p-value is (1 + #as extreme)/(1 + n) and its Monte Carlo SE sqrt(p(1-p)/n)."""
    rng = np.random.default_rng(5)
    y = np.r_[rng.normal(1.0, 1, 15), rng.normal(0, 1, 15)]
    z0 = np.r_[np.ones(15), np.zeros(15)].astype(bool)

    def stat(z):
        return y[z].mean() - y[~z].mean()

    res = permutation_test(stat, z0, lambda g: g.permutation(z0), n=499, seed=1)
    assert isinstance(res, PermutationResult) and not res.exact and res.n == 499
    k = int(np.sum(np.abs(res.distribution) >= abs(res.statistic) - 1e-9))
    assert res.p == pytest.approx((1 + k) / 500)
    assert res.mc_se == pytest.approx(math.sqrt(res.p * (1 - res.p) / 499))
    assert res.p < 0.05
    greater = permutation_test(stat, z0, lambda g: g.permutation(z0), n=499, seed=1,
                               alternative="greater")  # fmt: skip
    less = permutation_test(stat, z0, lambda g: g.permutation(z0), n=499, seed=1,
                            alternative="less")  # fmt: skip
    assert greater.p <= res.p and less.p > 0.9
    # the same seed gives the same draws
    assert permutation_test(stat, z0, lambda g: g.permutation(z0), n=499, seed=1).p == res.p
    with pytest.raises(ValueError, match="alternative"):
        permutation_test(stat, z0, lambda g: g.permutation(z0), alternative="both")
    with pytest.raises(ValueError, match="exact enumeration needs a Reassignment"):
        permutation_test(stat, z0, lambda g: g.permutation(z0), exact=True)
    with pytest.raises(ValueError, match="not finite"):
        permutation_test(lambda z: math.nan if z[0] else 1.0, z0, lambda g: g.permutation(z0))


def test_exact_enumeration_when_assignments_are_few():
    """6 units in 3 groups of 2: 90 distinct assignments <= n = 999, so all are enumerated
    and p = #as extreme / 90, the observed assignment among them."""
    m = model(tiny())
    res = staggered_permutation_test(m)
    assert res.exact and res.n == 90 and res.mc_se == 0
    assert res.statistic == pytest.approx(m.fit().overall().estimate)  # 2.8
    assert res.p == pytest.approx(res.n_extreme / 90) and res.n_extreme >= 1
    # the enumerated distribution, recomputed one assignment at a time by the full estimator
    rows = Reassignment(m.unit_groups).enumerate()
    for i in (0, 17, 89):
        d = tiny().assign(g=lambda d: d.unit.map(dict(zip(m.units, rows[i]))))
        assert res.distribution[i] == pytest.approx(model(d).fit().overall().estimate)
    mc = staggered_permutation_test(m, n=50, seed=3)
    assert not mc.exact and mc.n == 50


def test_fast_path_matches_the_fitted_estimates():
    m = model(tiny(), control="notyet")
    res = m.fit()
    assert m.estimate_for_groups(m.unit_groups)[0] == pytest.approx(res.overall().estimate)
    assert m.estimate_for_groups(m.unit_groups, kind="group")[0] == pytest.approx(
        res.overall("group").estimate)
    for e in res.event_study().event_times:
        assert m.estimate_for_groups(m.unit_groups, target=e)[0] == pytest.approx(
            res.event_study().theta(e).estimate)
    swapped = np.where(m.unit_groups == 3, 4.0, np.where(m.unit_groups == 4, 3.0, m.unit_groups))
    d = tiny().assign(g=lambda d: d.g.map({3: 4, 4: 3, 0: 0}))
    assert m.estimate_for_groups(swapped)[0] == pytest.approx(
        model(d, control="notyet").fit().overall().estimate)
    with pytest.raises(ValueError, match="columns"):
        m.estimate_for_groups(np.zeros(5))


# ---------------------------------------------------------------------------------------------
# placebo dates
# ---------------------------------------------------------------------------------------------


def panel(seed, n=40, periods=10, starts=(4, 5, 6, 7, 8), rho=0.7, effect=0.0, pretrend=0.0):
    """n units, len(starts) of them treated (chosen at random, one start date each), AR(1)
    noise with correlation rho, unit and period effects; `effect` added from each start;
    `pretrend` a slope the treated units follow throughout (a parallel-trends failure)."""
    rng = np.random.default_rng(seed)
    g = np.zeros(n)
    g[rng.choice(n, size=len(starts), replace=False)] = starts
    e = np.empty((n, periods))
    e[:, 0] = rng.normal(size=n)
    for t in range(1, periods):
        e[:, t] = rho * e[:, t - 1] + math.sqrt(1 - rho**2) * rng.normal(size=n)
    t = np.arange(1, periods + 1)
    y = rng.normal(size=n)[:, None] + np.cumsum(rng.normal(0, 0.3, periods))[None, :] + e
    treated = g > 0
    y = y + effect * (treated[:, None] & (t[None, :] >= g[:, None]))
    y = y + pretrend * treated[:, None] * t[None, :]
    return pd.DataFrame({"unit": np.repeat(np.arange(n), periods), "time": np.tile(t, n),
                         "y": y.ravel(), "g": np.repeat(g, periods)})  # fmt: skip


def test_placebo_dates_keep_pre_programme_data_only():
    d = placebo_dates(tiny(), "unit", "time", "g", k=1)
    # treated units keep periods before their start, never-treated keep all
    assert d[d.unit == 1].time.tolist() == [1, 2] and d[d.unit == 3].time.tolist() == [1, 2, 3]
    assert d[d.unit == 5].time.tolist() == [1, 2, 3, 4, 5]
    assert d.groupby("unit").g.first().tolist()[:4] == [2, 2, 3, 3]
    # k = 2 would start cohort 3 in period 1, with no earlier period: its units are dropped
    assert set(placebo_dates(tiny(), "unit", "time", "g", k=2).unit) == {3, 4, 5, 6}
    with pytest.raises(ValueError, match="use a smaller k"):
        placebo_dates(tiny(), "unit", "time", "g", k=3)
    pm = staggered_placebo(model(tiny()), tiny(), k=1)
    assert pm.fit().att_gt.event_time.max() == 0  # event times up to k - 1 only


def test_placebo_finds_nothing_under_parallel_trends_and_flags_a_pretrend():
    data = panel(8, n=200, starts=tuple(np.repeat([5, 6, 7, 8], 15)), effect=2.0)
    real = model(data).fit().overall()
    assert real.ci_low < 2.0 < real.ci_high
    fake = staggered_placebo(model(data), data, k=2).fit().overall()
    assert fake.ci_low < 0 < fake.ci_high
    bad = panel(8, n=200, starts=tuple(np.repeat([5, 6, 7, 8], 15)), effect=2.0, pretrend=0.4)
    flagged = staggered_placebo(model(bad), bad, k=2).fit().overall()
    assert flagged.p < 0.01 and flagged.estimate > 0.3


# ---------------------------------------------------------------------------------------------
# calibration under the null with few treated units
# ---------------------------------------------------------------------------------------------


def test_permutation_test_is_calibrated_where_the_analytic_test_over_rejects():
    """200 seeded null panels: 40 units, 5 treated (chosen at random) with starts 4..8 (cohorts
    of one unit each), AR(1) noise (rho 0.7), no effect. The permutation test of the overall
    ATT (999 draws) must reject at 5% in 2% to 9% of panels; it is exact here (random
    assignment, sharp null), so its rate is near 5% up to binomial noise (SD 1.5%). The
    analytic influence-function test, whose SE gets no variance from cohorts of one unit,
    rejects far more often; it is asserted only to exceed the permutation rate. (These seeds:
    permutation 0.075, analytic 0.165; over 1000 other seeds with 199 draws: permutation
    0.041, analytic 0.141.)"""
    t0 = time.perf_counter()
    perm, analytic = [], []
    for seed in range(200):
        m = model(panel(seed))
        o = m.fit().overall()
        analytic.append(o.p < 0.05)
        perm.append(staggered_permutation_test(m, n=999, seed=seed).p <= 0.05)
    rate, rate_analytic = float(np.mean(perm)), float(np.mean(analytic))
    print(f"rejection at 5% over 200 null panels: permutation {rate:.3f}, analytic "
          f"{rate_analytic:.3f} ({time.perf_counter() - t0:.1f} s)")
    assert 0.02 <= rate <= 0.09
    assert rate_analytic > rate
