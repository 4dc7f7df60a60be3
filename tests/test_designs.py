"""The multi-site designs module: the pieces, by hand calculation, and the designs on a small
synthetic panel with a known effect."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from gf_eval.analysis import designs


def test_the_window_is_the_five_months_up_to_the_horizon():
    assert designs.window(12) == [8, 9, 10, 11, 12]


def test_pooled_permutation_enumerates_every_choice_when_there_are_few():
    # two treated sites, four comparison sites: 4 * 3 = 12 ordered choices, counted exactly
    observed = {"a": -0.5, "b": -0.3}
    placebo = {"a": pd.Series([0.1, -0.2, 0.3, -0.6], index=list("wxyz")),
               "b": pd.Series([0.0, 0.2, -0.1, 0.4], index=list("wxyz"))}  # fmt: skip
    stat, p, (lo, hi), dist = designs.pooled_permutation(observed, placebo, n=999, seed=1)
    assert stat == pytest.approx(-0.4)
    by_hand = [(placebo["a"].iloc[i] + placebo["b"].iloc[j]) / 2
               for i, j in itertools.permutations(range(4), 2)]  # fmt: skip
    assert sorted(dist) == pytest.approx(sorted(by_hand))
    extreme = sum(abs(m) >= 0.4 - 1e-12 for m in by_hand)
    assert p == pytest.approx((1 + extreme) / (1 + 12))
    q = np.quantile(by_hand, [0.025, 0.975])
    assert (lo, hi) == pytest.approx((-0.4 - q[1], -0.4 - q[0]))


def test_pooled_permutation_draws_at_random_from_many():
    rng = np.random.default_rng(3)
    pool = [f"c{i}" for i in range(40)]
    placebo = {s: pd.Series(rng.normal(0, 0.1, 40), index=pool) for s in "abc"}
    far = designs.pooled_permutation({"a": 0.5, "b": 0.5, "c": 0.5}, placebo, n=499, seed=2)
    near = designs.pooled_permutation({"a": 0.0, "b": 0.01, "c": -0.01}, placebo, n=499, seed=2)
    assert far[1] == pytest.approx(1 / 500)  # nothing as extreme: the smallest p
    assert near[1] > 0.5
    assert len(far[3]) == 499


def test_log_rates_keep_a_small_sites_empty_months(config):
    months = pd.period_range("2012-04", periods=4, freq="M")
    base = {"month": months.astype(str), "t": np.arange(4), "calendar_month": months.month,
            "marac_cases": [10, 0, 12, 9], "marac_repeats": [3, 0, 4, 0]}  # fmt: skip
    series = {"s1": pd.DataFrame(base), "s2": pd.DataFrame({**base, "marac_cases": [8, 7, 6, 5],
                                                            "marac_repeats": [1, 2, 3, 4]})}
    wide = designs.log_rates(series, "repeat_marac", config)
    assert list(wide.columns) == ["s1", "s2"] and list(wide.index) == [0, 1, 2, 3]
    # log((y + 0.5) / (n + 0.5)) by hand, the empty month included
    assert wide.loc[1, "s1"] == pytest.approx(np.log(0.5 / 0.5))
    assert wide.loc[3, "s1"] == pytest.approx(np.log(0.5 / 9.5))
    assert wide.loc[0, "s2"] == pytest.approx(np.log(1.5 / 8.5))


TRENDS = {"sd": 0.15, "size_correlation": 0.9, "start": "2014-12-01"}
HETEROGENEOUS = {"n_sites": 30, "treated": 5, "first_start": "2015-09-01", "stagger_months": 1,
                 "size": 0.5, "comparison_trends": TRENDS}  # fmt: skip


TARGETS = ("repeat_marac", "dva_rereferrals", "cin_dva")
SEEDS = (None, 7)  # the config's seed, and a second panel


def _heterogeneous_panel(config: dict, seed: int | None, work) -> dict:
    """A 30-site panel whose comparison sites change trend 9 months before the first start, the
    bigger sites upwards, every design fitted (about 60 s): the ITS estimates per site and the
    table of methods."""
    import copy

    from gf_eval import synth
    from gf_eval.analysis import multisite
    from gf_eval.config import site_config
    from gf_eval.derive.site import site_series
    from gf_eval.sites import multisite_sites

    config = copy.deepcopy(config)
    if seed is not None:
        config["seed"] = seed
    config["multisite"] = {"horizon_months": 12, "panel": HETEROGENEOUS, "sites": {},
                           "inference": {"permutations": 499, "placebo_sites": 20}}  # fmt: skip
    sites = multisite_sites(config)
    series = {}
    for name, info in sites.items():
        synth.write(*synth.generate(info["settings"]), work / name)
        cfg = (site_config(config, info["intervention_start"])
               if info["intervention_start"] else config)  # fmt: skip
        site_series(work / name, work / f"{name}.parquet", work / f"{name}.json", cfg)
        series[name] = pd.read_parquet(work / f"{name}.parquet")
    starts = {name: info["intervention_start"] for name, info in sites.items()}
    its = multisite.run(series, starts, config)
    out = designs.compare(series, starts, config, its["estimates"], its["pooled"],
                          multisite.panel_truth(config))  # fmt: skip
    return {"estimates": its["estimates"], "sites": sites,
            "methods": out["methods"].set_index(["target", "method"])}  # fmt: skip


@pytest.fixture(scope="module")
def panels(config, tmp_path_factory):
    return {seed: _heterogeneous_panel(config, seed, tmp_path_factory.mktemp(f"panel{seed}"))
            for seed in SEEDS}  # fmt: skip


@pytest.fixture(scope="module")
def heterogeneous(panels):
    return panels[None]


@pytest.mark.slow
def test_the_staggered_did_holds_the_truth_with_heterogeneous_comparison_trends(panels):
    for (seed, panel), target in itertools.product(panels.items(), TARGETS):
        row = panel["methods"].loc[(target, "staggered DiD (Callaway-Sant'Anna)")]
        assert row["ri_low"] <= row["true_relative_change"] <= row["ri_high"], (target, row)
        assert 0 < row["p_permutation"] <= 1


def predicted_pool_bias(sites: dict, calendar, horizon: int = 12) -> dict[str, float]:
    """Per treated site, the error the pooled comparison puts into a controlled ITS, from the
    generator's settings alone: the comparison pool's log rate leaves the common trend by
    g(t) = log(sum_i w_i exp(d_i * years since the change) / sum_i w_i), with w_i each site's
    scale (its volume) and d_i its change of trend. The controlled ITS fits a line to the
    pool's pre-period and takes the pool's departure from it at the horizon as a shock common
    to the treated site, so that departure is the error of the site's log ratio (opposite
    sign)."""
    comparison = [i["settings"]["synthetic"] for i in sites.values() if not i["intervention_start"]]
    w = np.array([c["scale"] for c in comparison])
    d = np.array([c.get("trend_change", {"slope": 0.0})["slope"] for c in comparison])
    k = calendar.month_index(pd.Timestamp(TRENDS["start"]))
    t = np.arange(calendar.t_end + 1)
    g = np.log((w[:, None] * np.exp(np.outer(d, np.maximum(t - k, 0) / 12))).sum(0) / w.sum())
    out = {}
    for site, info in sites.items():
        if info["intervention_start"]:
            t0 = calendar.month_index(pd.Timestamp(info["intervention_start"]))
            line = np.polyfit(t[:t0], g[:t0], 1)
            out[site] = float(g[t0 + horizon] - np.polyval(line, t0 + horizon))
    return out


@pytest.mark.slow
def test_the_pooled_comparison_its_is_off_by_what_the_comparison_trends_predict(
        panels, calendar):  # fmt: skip
    """The treated sites keep the common trend, so their single-site ITS owes nothing to the
    comparison sites; the controlled ITS differs from it by the pool's error. The bigger sites
    trend upwards after the change, so the pool overstates every treated site's
    counterfactual: by 0.10 and 0.12 on the log scale on these panels, half the repeat-MARAC
    target's effect; found, on average over the targets, 0.11 and 0.08. (On the first panel
    with the common trend kept, the differences were 0.00, +0.03 and -0.06.)"""
    for seed, panel in panels.items():
        predicted = predicted_pool_bias(panel["sites"], calendar)
        assert min(predicted.values()) > 0.05, seed  # the setting makes a material error
        est = panel["estimates"].pivot_table(index=["target", "site"], columns="model",
                                             values="log_ratio")  # fmt: skip
        off = (est["controlled"] - est["single-site"]).groupby("target").mean()
        expected = -float(np.mean(list(predicted.values())))
        print(f"panel {seed}: pooled comparison predicted {expected:+.3f}, found",
              off.round(3).to_dict())  # fmt: skip
        # Each target's difference carries the noise of its own comparison pool (DVA
        # re-referrals are the rarest: -0.02 on the second panel); their mean much less.
        assert (off < 0).all(), (seed, off)
        assert off.mean() == pytest.approx(expected, abs=0.05), (seed, off)


@pytest.mark.slow
def test_the_synthetic_control_holds_the_truth_with_heterogeneous_comparison_trends(panels):
    """Each of the two SC methods gives 6 intervals (3 targets, 2 panels). The pooled SC's
    randomisation interval covered 0.90 to 0.93 of simulated panels
    (benchmarks/designs_simulation.py), so at most one miss in six is allowed (probability
    about 0.94 at coverage 0.93). The one miss so far: DVA re-referrals on the first panel,
    -44% [-61%, -27%] against -24%, where every design, the single-site ITS with no
    comparison sites included, finds the treated sites' fall larger than the truth (-41% to
    -48%)."""
    for method in ("synthetic control (mean of sites)",
                   "augmented synthetic control (mean of sites)"):  # fmt: skip
        missed = []
        for (seed, panel), target in itertools.product(panels.items(), TARGETS):
            row = panel["methods"].loc[(target, method)]
            if not row["ri_low"] <= row["true_relative_change"] <= row["ri_high"]:
                missed.append((seed, target, round(row["relative_change"], 3),
                               round(row["ri_low"], 3), round(row["ri_high"], 3)))  # fmt: skip
        print(method, "missed:", missed)
        assert len(missed) <= 1, (method, missed)


def test_a_pool_without_one_site_is_the_sum_of_the_others():
    from gf_eval.analysis.multisite import Pool

    def frame(months, y, n):
        return pd.DataFrame({"month": months, "t": [int(m[-1]) for m in months],
                             "calendar_month": [1] * len(months), "y": y, "n": n})  # fmt: skip

    frames = [frame(["m1", "m2", "m3"], [1, 2, 3], [10, 20, 30]),
              frame(["m1", "m2"], [4, 5], [40, 50]),  # lacks m3
              frame(["m1", "m2", "m3"], [7, 8, 9], [70, 80, 90])]  # fmt: skip
    pool = Pool(frames)
    all_sites, months = pool.series()
    assert months == {"m1", "m2"}
    assert all_sites.set_index("month").loc["m1", "y"] == 12
    rest, months = pool.series(without=1)  # the site lacking m3 left out: m3 comes back
    assert months == {"m1", "m2", "m3"}
    by_month = rest.set_index("month")
    assert by_month.loc["m2", ["y", "n"]].tolist() == [10, 100]
    assert by_month.loc["m3", ["y", "n"]].tolist() == [12, 120]


def test_studentised_pooling_by_hand():
    observed = {"a": -0.6, "b": -0.2}
    placebo = {"a": pd.Series([0.2, -0.4, 0.6], index=list("xyz")),
               "b": pd.Series([0.1, 0.3, -0.2], index=list("xyz"))}  # fmt: skip
    # equal scales everywhere: the same test as unstudentised
    same = {s: pd.Series(2.0, index=list("xyz")) for s in "ab"}
    plain = designs.pooled_permutation(observed, placebo, 999, 1)
    scaled = designs.pooled_permutation(observed, placebo, 999, 1,
                                        scales=({"a": 2.0, "b": 2.0}, same))  # fmt: skip
    assert scaled[1] == pytest.approx(plain[1])
    assert scaled[2] == pytest.approx(plain[2])
    # a noisy site a (scale 4) against placebos of scale 1: its effect counts a quarter
    ones = {s: pd.Series(1.0, index=list("xyz")) for s in "ab"}
    stat, p, (lo, hi), dist = designs.pooled_permutation(observed, placebo, 999, 1,
                                                         scales=({"a": 4.0, "b": 1.0}, ones))
    assert stat == pytest.approx(-0.4)  # the estimate itself is the plain mean
    z = (-0.6 / 4 + -0.2 / 1) / 2
    by_hand = [(placebo["a"].iloc[i] + placebo["b"].iloc[j]) / 2
               for i, j in itertools.permutations(range(3), 2)]  # fmt: skip
    w = (1 / 4 + 1) / 2
    q = np.quantile(by_hand, [0.025, 0.975])
    assert (lo, hi) == pytest.approx(((z - q[1]) / w, (z - q[0]) / w))
    assert p == pytest.approx((1 + sum(abs(m) >= abs(z) - 1e-12 for m in by_hand)) / 7)


def test_placebo_sets_refit_each_set_without_its_own_members_as_donors():
    from gf_eval.stats.synthetic_control import SyntheticControl

    rng = np.random.default_rng(5)
    t = np.arange(30)
    sites = ["a", "b", "w", "x", "y", "z"]
    wide = pd.DataFrame(rng.normal(0, 0.1, (30, 6)).cumsum(0), index=t, columns=sites)
    starts = {"a": 20, "b": 22}
    sets = designs.placebo_sets(wide, starts, ["w", "x", "y", "z"], horizon=6,
                                ridges={"a": 0.5, "b": 0.5}, n=999, seed=1)  # fmt: skip
    effects, scales = sets["synthetic"]
    assert effects.shape == (12, 2)  # 4 * 3 ordered choices, every one of them
    draws = list(itertools.permutations(range(4), 2))
    d = draws.index((1, 3))  # x takes a's start, z takes b's
    for j, (site, unit) in enumerate((("a", "x"), ("b", "z"))):
        s0 = starts[site]
        by_hand = SyntheticControl(wide[unit].to_numpy(), wide[["w", "y"]].to_numpy(), t < s0)
        res = by_hand.fit("synthetic")
        months = np.isin(t, [s0 + e for e in designs.window(6)])
        assert effects[d, j] == pytest.approx(res.gap[months].mean())
        assert scales[d, j] == pytest.approx(res.pre_rmspe)
    # the pooled test over those sets: the same arithmetic as over one-at-a-time placebos
    stat, p, (lo, hi), dist = designs.pooled_permutation({"a": 0.1, "b": -0.3}, None, 999, 1,
                                                         sets=sets["synthetic"])  # fmt: skip
    assert sorted(dist) == pytest.approx(sorted(effects.mean(axis=1)))
    q = np.quantile(effects.mean(axis=1), [0.025, 0.975])
    assert (lo, hi) == pytest.approx((-0.1 - q[1], -0.1 - q[0]))


def _null_panel(rng, n_sites=24, treated=4, months=60, first=41):
    """Monthly log rates of exchangeable sites with no effect: lognormal sizes, binomial counts
    on a latent log share with a common trend and season and AR(1) noise (rho 0.5)."""
    t = np.arange(months)
    n = rng.poisson(60 * np.exp(0.6 * rng.normal(size=n_sites)), size=(months, n_sites))
    noise = np.empty((months, n_sites))
    noise[0] = rng.normal(0, 0.1, n_sites)
    for i in range(1, months):
        noise[i] = 0.5 * noise[i - 1] + rng.normal(0, 0.1 * np.sqrt(0.75), n_sites)
    share = np.exp(np.log(0.25) + rng.normal(0, 0.15, n_sites) - 0.002 * t[:, None]
                   + 0.05 * np.cos(2 * np.pi * t / 12)[:, None] + noise)  # fmt: skip
    y = rng.binomial(n, np.minimum(share, 0.95))
    names = [f"s{i:02d}" for i in range(n_sites)]
    wide = pd.DataFrame(np.log((y + 0.5) / (n + 0.5)), index=t, columns=names)
    return wide, {names[k]: first + k for k in range(treated)}, names[treated:]


@pytest.mark.slow
def test_the_pooled_synthetic_control_test_is_calibrated_under_the_null():
    """60 seeded null panels (24 sites, 4 treated one month apart), the pipeline's own pooled
    test (studentised, sets refitted jointly, 199 draws): the rejection rate at 5% lies within
    2% to 9% (binomial SD 2.8% at 5%). In benchmarks/designs_simulation.py, 400 panels of 30
    sites gave 5.2% for this test against 8.5% for sets drawn from one-at-a-time placebos."""
    rejected = {"synthetic": [], "augmented": []}
    for seed in range(60):
        wide, starts, comparison = _null_panel(np.random.default_rng([seed, 99]))
        rows, (placebo, scale), _ = designs.synthetic_controls(wide, starts, comparison, 12)
        ridges = {r["site"]: r["ridge"] for r in rows if r["method"] == "augmented"}
        sets = designs.placebo_sets(wide, starts, comparison, 12, ridges, 199, seed)
        for method in rejected:
            obs = {r["site"]: r["log_effect"] for r in rows if r["method"] == method}
            own = {r["site"]: r["pre_rmspe"] for r in rows if r["method"] == method}
            p = designs.pooled_permutation(obs, placebo[method], 199, seed,
                                           scales=(own, scale[method]), sets=sets[method])[1]
            rejected[method].append(p <= 0.05)
    rates = {m: float(np.mean(r)) for m, r in rejected.items()}
    print("rejection at 5% over 60 null panels:", rates)
    for rate in rates.values():
        assert 0.02 <= rate <= 0.09


def test_too_few_comparison_sites_for_joint_sets_fall_back_to_one_at_a_time():
    rng = np.random.default_rng(6)
    wide = pd.DataFrame(rng.normal(0, 0.1, (30, 5)).cumsum(0), columns=list("abxyz"))
    # two treated sites, three comparison sites: a set of two leaves one donor
    assert designs.placebo_sets(wide, {"a": 20, "b": 21}, ["x", "y", "z"], 6,
                                {"a": 0.5, "b": 0.5}, 99, 1) is None  # fmt: skip
