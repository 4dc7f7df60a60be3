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


@pytest.fixture(scope="module")
def heterogeneous(config, tmp_path_factory):
    """A 30-site panel whose comparison sites change trend 9 months before the first start, the
    bigger sites upwards, every design fitted (about 80 s): the ITS estimates per site and the
    table of methods."""
    import copy

    from gf_eval import synth
    from gf_eval.analysis import multisite
    from gf_eval.derive.site import multisite_sites, site_series
    from gf_eval.config import site_config

    config = copy.deepcopy(config)
    config["multisite"] = {"horizon_months": 12, "panel": HETEROGENEOUS, "sites": {},
                           "inference": {"permutations": 499, "placebo_sites": 20}}  # fmt: skip
    work = tmp_path_factory.mktemp("heterogeneous")
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


@pytest.mark.slow
def test_the_staggered_did_holds_the_truth_with_heterogeneous_comparison_trends(heterogeneous):
    for target in ("repeat_marac", "dva_rereferrals", "cin_dva"):
        row = heterogeneous["methods"].loc[(target, "staggered DiD (Callaway-Sant'Anna)")]
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
        heterogeneous, calendar):  # fmt: skip
    """The treated sites keep the common trend, so their single-site ITS owes nothing to the
    comparison sites; the controlled ITS differs from it by the pool's error. The bigger sites
    trend upwards after the change, so the pool overstates every treated site's
    counterfactual: about 0.10 on the log scale here, a tenth of the rate, the size of the
    repeat-MARAC target's whole effect. (With the same panel's common trend kept, the
    differences were 0.00, +0.03 and -0.06.)"""
    predicted = predicted_pool_bias(heterogeneous["sites"], calendar)
    assert min(predicted.values()) > 0.08  # the setting makes a material error
    est = heterogeneous["estimates"].pivot_table(index=["target", "site"], columns="model",
                                                 values="log_ratio")  # fmt: skip
    off = (est["controlled"] - est["single-site"]).groupby("target").mean()
    expected = -float(np.mean(list(predicted.values())))
    print(f"pooled comparison: predicted {expected:+.3f}, found", off.round(3).to_dict())
    for target, value in off.items():
        assert value == pytest.approx(expected, abs=0.07), target
    # the designs that weigh or choose comparisons are not moved by it (their recovery tests)


@pytest.mark.slow
@pytest.mark.xfail(reason="issue 15 left open: on this panel the synthetic control's "
                   "studentised randomisation interval still misses the truth of DVA "
                   "re-referrals (-45% [-58%, -27%] against -24%); it holds the other targets, "
                   "and every target on a second panel (seed 7)", strict=False)
def test_the_synthetic_control_holds_the_truth_with_heterogeneous_comparison_trends(
        heterogeneous):  # fmt: skip
    for target in ("repeat_marac", "dva_rereferrals", "cin_dva"):
        for method in ("synthetic control (mean of sites)",
                       "augmented synthetic control (mean of sites)"):  # fmt: skip
            row = heterogeneous["methods"].loc[(target, method)]
            assert row["ri_low"] <= row["true_relative_change"] <= row["ri_high"], (target, row)


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
