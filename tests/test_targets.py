"""The three targets on synthetic data with known effects: recovery, null scenario, plan."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import FEWEST_POWER_SIMULATIONS as FEW
from conftest import run_pipeline, with_synthetic
from gf_eval.analysis import targets
from gf_eval.stats.verdict import MET

TARGETS = ("repeat_marac", "dva_rereferrals", "cin_dva")


def _primary(models, target):
    est = models["estimates"]
    row = est[(est["target"] == target) & est["primary"]]
    assert len(row) == 1
    return row.iloc[0]


@pytest.mark.parametrize("target", TARGETS)
def test_primary_interval_holds_the_true_change_for_the_default_seed(pipeline, target):
    truth = pipeline["truth"]["targets"][target]["relative_change_end"]
    row = _primary(pipeline["models"], target)
    assert row["ci_low"] < truth < row["ci_high"], (target, truth, row["relative_change"])
    assert row["ci_low"] < row["relative_change"] < row["ci_high"]


def test_the_primary_model_is_the_pre_specified_one(pipeline, config):
    est = pipeline["models"]["estimates"]
    primary = est[est["primary"]]
    assert sorted(primary["target"]) == sorted(TARGETS)
    p = config["analysis"]["primary"]
    assert set(primary["spec_family"]) == {p["family"]}
    assert set(primary["spec_se"]) == {p["se"]}
    assert set(primary["spec_harmonics"]) == {p["harmonics"]}
    assert (est.groupby("target")["primary"].sum() == 1).all()
    # no sensitivity analysis is the primary model again under another name
    spec_cols = [c for c in est.columns if c.startswith("spec_")]
    for target, rows in est.groupby("target"):
        first = rows[rows["primary"]][spec_cols].iloc[0]
        for _, row in rows[~rows["primary"]].iterrows():
            assert not row[spec_cols].equals(first), (target, row["analysis"])


def test_dva_models_leave_out_months_still_under_assessment(pipeline, config):
    series = pipeline["derived"]["monthly_series"]
    limit = 100 * config["analysis"]["max_pending_share"]
    incomplete = series.loc[series["pending_share"] > limit, "month"].tolist()
    assert incomplete, "the synthetic data end with episodes still under assessment"
    est = pipeline["models"]["estimates"].set_index(["target", "analysis"])
    for target in ("dva_rereferrals", "cin_dva"):
        row = est.loc[(target, "primary")]
        assert row["last_month"] < min(incomplete)
        assert row["first_month"] == "2013-04"  # factors are collected from April 2013


def test_counting_pending_episodes_either_way_brackets_the_primary(pipeline):
    # Counting episodes under assessment as not DVA lowers the last months' rates and counting
    # them as DVA raises them, so with 17% and 82% pending the two estimates bracket the primary.
    est = pipeline["models"]["estimates"].set_index(["target", "analysis"])
    names = [a.name for a in targets.plan(pipeline["config"])]
    low = [n for n in names if "not DVA" in n][0]
    high = [n for n in names if n.endswith("counted as DVA")][0]
    for target in ("dva_rereferrals", "cin_dva"):
        assert (est.loc[(target, low), "relative_change"]
                < est.loc[(target, "primary"), "relative_change"]
                < est.loc[(target, high), "relative_change"])  # fmt: skip


SEEDS = (11, 22, 33, 44, 55)  # their tests read the fits, not the power table: FEW simulations


@pytest.fixture(scope="module")
def seed_runs(settings, config, tmp_path_factory):
    runs = {}
    for seed in SEEDS:
        s = {**settings, "seed": seed}
        runs[seed] = run_pipeline(s, config, tmp_path_factory.mktemp(f"seed{seed}"),
                                  power_simulations=FEW)  # fmt: skip
    return runs


@pytest.mark.slow
def test_most_seeds_cover_the_truth_and_the_estimates_are_unbiased(seed_runs):
    inside, total = 0, 0
    for target in TARGETS:
        logs, truth = [], None
        for run in seed_runs.values():
            truth = run["truth"]["targets"][target]["relative_change_end"]
            row = _primary(run["models"], target)
            inside += row["ci_low"] < truth < row["ci_high"]
            total += 1
            logs.append(np.log1p(row["relative_change"]))
        # the mean log rate ratio over seeds lies within 3 standard errors of the truth
        mean, se = np.mean(logs), np.std(logs, ddof=1) / np.sqrt(len(logs))
        assert abs(mean - np.log1p(truth)) < 3 * se + 0.02, (target, mean, np.log1p(truth))
    # With 95% intervals, 12 or fewer of 15 holding the truth has probability 0.036.
    assert inside >= total - 2, f"only {inside} of {total} intervals hold the truth"


@pytest.fixture(scope="module")
def null_runs(settings, config, null_pipeline, tmp_path_factory):
    return [null_pipeline] + [  # the config's seed, and two more
        run_pipeline(with_synthetic({**settings, "seed": seed}, scenario="null"), config,
                     tmp_path_factory.mktemp(f"null{seed}"), power_simulations=FEW)  # fmt: skip
        for seed in (101, 202)
    ]


@pytest.mark.slow
def test_null_scenario_never_says_met(null_runs):
    for run in null_runs:
        assert all(t["relative_change_end"] == 0 for t in run["truth"]["targets"].values())
        verdicts = run["models"]["estimates"]["verdict"]
        assert (verdicts != MET).all(), run["models"]["estimates"][verdicts == MET]


def test_placebo_starts_fit_only_the_pre_period(pipeline, calendar):
    placebo = pipeline["models"]["placebo"]
    assert len(placebo) == 3 * 2
    # MARAC: April 2012 to August 2015; DVA series: April 2013 to August 2015
    assert placebo.groupby("target")["months_fitted"].first().to_dict() == {
        "repeat_marac": calendar.t0, "dva_rereferrals": calendar.t0 - 12, "cin_dva": calendar.t0 - 12}


# ---- both estimands ------------------------------------------------------------------------


def test_the_average_estimand_is_the_mean_relative_change_computed_by_hand():
    # Noise-free Poisson means (huge counts) with level -0.2 and slope -0.01 from t = 24: the
    # model recovers them, and the average over 12 post months is the hand mean of exp - 1.
    import pandas as pd

    from gf_eval.stats.its import ITS

    t = np.arange(36, dtype=float)
    x = (t >= 24).astype(float)
    mu = 1e6 * np.exp(0.01 * t - 0.2 * x - 0.01 * x * (t - 24))
    frame = pd.DataFrame({"t": t, "y": np.round(mu), "n": 1.0})
    res = ITS(frame, "y", "t", 24, family="poisson", offset="n").fit()
    got = targets.relative_change_average(res, 12)
    by_hand = np.mean(np.exp(-0.2 - 0.01 * np.arange(12))) - 1
    assert got.estimate == pytest.approx(by_hand, abs=1e-4)
    assert got.ci_low < got.estimate < got.ci_high and got.ci_high - got.ci_low < 0.01
    # one month is the level change alone, which is the end estimand at k = 0
    assert targets.relative_change_average(res, 1).estimate == pytest.approx(
        targets.relative_change_at(res, 0).estimate, abs=1e-12)


def test_truth_records_the_average_over_every_post_month(pipeline, config):
    from gf_eval.config import Calendar

    cal = Calendar.from_config(config)
    months = np.arange(cal.t_end - cal.t0 + 1)  # September 2015 to March 2017: 19 months
    assert len(months) == 19
    for target in TARGETS:
        effect = config["synthetic"]["effects"][target]
        t = pipeline["truth"]["targets"][target]
        by_hand = np.mean(np.expm1(effect["level_change"] + effect["slope_change"] * months))
        assert t["relative_change_average"] == pytest.approx(by_hand, rel=1e-12)


def test_both_estimands_are_reported_and_the_config_names_the_verdicts_one(pipeline):
    import copy

    from gf_eval.stats.verdict import verdict

    est = pipeline["models"]["estimates"]
    primary = est[est["primary"]].set_index("target")
    assert (primary["estimand"] == "end").all()
    for target, row in primary.iterrows():
        assert row["average_ci_low"] < row["average_change"] < row["average_ci_high"]
        assert row["verdict"] == verdict(row["target_change"], row["relative_change"],
                                         row["ci_low"], row["ci_high"])  # fmt: skip
    config = copy.deepcopy(pipeline["config"])
    config["analysis"]["estimand"] = "average"
    config["analysis"]["power"]["simulations"] = FEW  # the verdicts read no power
    again = targets.run(pipeline["derived"]["monthly_series"], config)["estimates"]
    again = again[again["primary"]].set_index("target")
    assert (again["estimand"] == "average").all()
    for target, row in again.iterrows():
        assert row["verdict"] == verdict(row["target_change"], row["average_change"],
                                         row["average_ci_low"], row["average_ci_high"])  # fmt: skip
    # the truth check covers both estimands
    check = pipeline_truth_check(pipeline)
    assert sorted(set(check["estimand"])) == ["average", "end"] and len(check) == 6


def pipeline_truth_check(pipeline):
    from gf_eval.analysis import truth_check

    return truth_check(pipeline["models"]["estimates"], pipeline["truth"])


@pytest.mark.slow
def test_the_average_estimand_covers_the_truth_over_seeds(seed_runs):
    inside = sum(
        row["average_ci_low"] < run["truth"]["targets"][target]["relative_change_average"]
        < row["average_ci_high"]
        for run in seed_runs.values() for target in TARGETS
        for row in [_primary(run["models"], target)]
    )  # fmt: skip
    assert inside >= 13  # of 15; 12 or fewer has probability 0.036 under 95% coverage


def test_the_funding_end_sensitivity_adds_a_second_interruption_to_both_estimands():
    # Noise-free Poisson means: -0.2 and -0.01 a month from t = 24, then +0.3 from t = 30 (the
    # funding ends; a level change alone). Both estimands include every change, by hand.
    import pandas as pd

    t = np.arange(36, dtype=float)
    first, second = (t >= 24).astype(float), (t >= 30).astype(float)
    log_ratio = -0.2 * first - 0.01 * first * (t - 24) + 0.3 * second
    frame = pd.DataFrame({"t": t, "y": np.round(1e6 * np.exp(0.01 * t + log_ratio)), "n": 1.0,
                          "calendar_month": t % 12 + 1, "month": t})  # fmt: skip
    analysis = targets.Analysis("funding end", family="poisson", harmonics=0, funding_end=True)
    res = targets._its(frame, analysis, 24, 30).fit()
    end = targets.relative_change_at(res, 35 - 24)
    assert end.estimate == pytest.approx(np.expm1(log_ratio[-1]), abs=1e-4)
    average = targets.relative_change_average(res, 12)
    assert average.estimate == pytest.approx(np.mean(np.exp(log_ratio[24:])) - 1, abs=1e-4)


def test_the_funding_end_analysis_is_in_the_plan(pipeline, calendar):
    est = pipeline["models"]["estimates"]
    rows = est[est["analysis"] == "the funding end as a second interruption (a level change)"]
    assert sorted(rows["target"]) == sorted(TARGETS)
    assert (rows["spec_funding_end"] == True).all()  # noqa: E712
    assert rows["relative_change"].notna().all(), rows["note"]  # estimable for every target


# ---- the generator turned up: strongly autocorrelated, larger rate noise ----------------------

NOISY = {"rho": 0.6, "sd": 0.15}


@pytest.fixture(scope="module")
def noisy_runs(settings, config, tmp_path_factory):
    runs = {}
    for seed in SEEDS:
        s = with_synthetic({**settings, "seed": seed}, target_noise=NOISY)
        runs[seed] = run_pipeline(s, config, tmp_path_factory.mktemp(f"noisy{seed}"),
                                  power_simulations=FEW)  # fmt: skip
    return runs


@pytest.mark.slow
def test_turned_up_noise_is_autocorrelated_and_the_primary_still_recovers_the_truth(
        noisy_runs, seed_runs):  # fmt: skip
    # The setting works: the primary fits' residuals are more autocorrelated than on the
    # default data (Durbin-Watson below its 2.1 there; the counts' own white noise dilutes the
    # rate's autocorrelation, so the drop is modest: 0.15 is about 2 standard errors of the
    # difference of two means over 15 fits) ...
    def mean_dw(runs):
        return np.mean([_primary(r["models"], t)["durbin_watson"] for r in runs.values()
                        for t in TARGETS])  # fmt: skip

    assert mean_dw(noisy_runs) < mean_dw(seed_runs) - 0.15, (mean_dw(noisy_runs),
                                                             mean_dw(seed_runs))  # fmt: skip
    # ... and the recovery test of the default data passes on it too.
    inside = sum(
        row["ci_low"] < run["truth"]["targets"][target]["relative_change_end"] < row["ci_high"]
        for run in noisy_runs.values() for target in TARGETS
        for row in [_primary(run["models"], target)]
    )  # fmt: skip
    assert inside >= 13, f"only {inside} of 15 intervals hold the truth"
