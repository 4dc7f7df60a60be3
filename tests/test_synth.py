"""The generator: determinism, the code lists, and agreement with its own configured truth."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gf_eval import codes, synth
from gf_eval.config import Calendar
from gf_eval.extracts import EXTRACTS
from gf_eval.files import sha256
from gf_eval.synth.marac import simulate_marac
from gf_eval.synth.series import Effect

from conftest import with_synthetic


def _public(df: pd.DataFrame) -> pd.DataFrame:
    return df[[c for c in df.columns if not c.startswith("_")]]


def test_same_settings_give_byte_identical_files(generated, settings, raw_dir, tmp_path):
    synth.write(*synth.generate(settings), tmp_path)
    names = [e.filename for e in EXTRACTS.values()] + ["truth.json"]
    assert {n: sha256(tmp_path / n) for n in names} == {n: sha256(raw_dir / n) for n in names}


def test_a_subset_of_extracts_is_the_same_files_without_the_rest(settings, raw_dir, tmp_path):
    # A panel's comparison sites are generated without casework books and survey: the files
    # written are byte for byte those of the whole generation (each family has its own stream).
    series = ["marac_cases", "cs_children", "cs_referrals", "cs_assessments", "cs_factors",
              "cs_cp_plans", "cs_looked_after"]  # fmt: skip
    tables, truth = synth.generate(settings, series)
    assert sorted(tables) == sorted(series)
    written = synth.write(tables, truth, tmp_path)
    assert sorted(p.name for p in written) == sorted([EXTRACTS[e].filename for e in series]
                                                     + ["truth.json"])  # fmt: skip
    for name in series:
        assert sha256(tmp_path / EXTRACTS[name].filename) == sha256(raw_dir / EXTRACTS[name].filename)
    assert "casework" not in truth and "survey" not in truth
    assert truth["targets"] == synth.generate(settings)[1]["targets"]
    with pytest.raises(ValueError, match=r"unknown extracts \['surveys'\]"):
        synth.generate(settings, ["surveys"])


def test_another_seed_gives_other_data(settings, generated):
    other = dict(settings, seed=settings["seed"] + 1)
    tables, _ = synth.generate(other)
    assert not tables["marac_cases"]["victim_key"].equals(generated[0]["marac_cases"]["victim_key"])


def test_every_extract_is_written_with_public_columns_only(raw_dir):
    for extract in EXTRACTS.values():
        header = (raw_dir / extract.filename).read_text(encoding="utf-8").splitlines()[0]
        assert header and not any(col.startswith("_") for col in header.split(","))


def test_true_relative_change_is_the_segmented_effect_at_the_last_month(generated, settings):
    _, truth = generated
    # Hand count: September 2015 is 3 * 12 + 5 = 41 months after April 2012; March 2017 is 59.
    assert (truth["t0"], truth["t_end"]) == (41, 59)
    for name, cfg in settings["synthetic"]["effects"].items():
        if name in truth["targets"]:
            expected = math.exp(cfg["level_change"] + cfg["slope_change"] * (59 - 41)) - 1
            assert truth["targets"][name]["relative_change_end"] == pytest.approx(expected)
            assert truth["targets"][name]["months_post"] == 19


def test_null_scenario_has_no_effects(settings):
    _, truth = synth.generate(with_synthetic(settings, scenario="null"))
    for target in truth["targets"].values():
        assert target["relative_change_end"] == 0 and target["relative_change_cumulative"] == 0
    for measure in codes.CASEWORK_MEASURES:
        # Only the floor and ceiling of each scale move the expected change off zero, by a
        # few hundredths of a point: far below what 300 cases could detect (SE ~0.15).
        assert abs(truth["casework"][measure]["mean_change_all_cases"]) < 0.05
    for item in truth["survey"]["items"].values():
        assert item["log_odds_ratio_conditional"] == 0 and abs(item["rank_biserial"]) < 0.01


def test_marac_repeats_follow_the_12_month_rule(generated):
    cases = generated[0]["marac_cases"].sort_values(["referral_date", "case_id"])
    previous = cases.groupby(["victim_key", "perpetrator_key"])["referral_date"].shift()
    rule = (cases["referral_date"] - previous).dt.days <= 365
    assert (rule == cases["_repeat"]).all()
    # Returning pairs after more than 12 months exist, so the rule's boundary matters.
    assert ((cases["referral_date"] - previous).dt.days > 365).sum() > 20
    disagree = ((cases["coordinator_repeat"] == "Y") != rule).mean()
    assert 0.005 < disagree < 0.06


def test_rereferrals_follow_the_12_month_rule(generated):
    refs = generated[0]["cs_referrals"].sort_values(["referral_date", "referral_id"])
    previous = refs.groupby("child_id")["referral_date"].shift()
    rule = (refs["referral_date"] - previous).dt.days <= 365
    assert (rule == refs["_type"].isin(["A", "C"])).all()


def _share_ratio(cases: pd.DataFrame, cal: Calendar) -> tuple[float, float, float]:
    study = cases[cases["referral_date"] >= cal.data_start]
    post = study["referral_date"] >= cal.intervention_start
    pre_share = study.loc[~post, "_repeat"].mean()
    return pre_share, study.loc[post, "_repeat"].mean() / pre_share, post.sum()


@pytest.mark.parametrize("level", [0.0, -0.4])
def test_marac_repeat_share_and_its_change_match_the_configuration(calendar, level):
    # A large authority and a pure level change make the expected values exact:
    # pre-period share 0.27 (REPEAT_SHARE.base) and post/pre ratio exp(level).
    cases, _ = simulate_marac(calendar, Effect(level, 0.0), 4.0, np.random.default_rng(7))
    pre, ratio, n_post = _share_ratio(cases, calendar)
    n_pre = (cases["referral_date"] >= calendar.data_start).sum() - n_post
    # Binomial error inflated by 1.5 for the AR(1) month-to-month noise in the share.
    se_pre = 1.5 * math.sqrt(0.27 * 0.73 / n_pre)
    assert abs(pre - 0.27) < 3 * se_pre + 0.01  # + the seasonal term's small bias
    se_log_ratio = 1.5 * math.sqrt((1 - 0.27) / (0.27 * n_pre) + 1 / (0.27 * math.exp(level) * n_post))
    assert abs(math.log(ratio) - level) < 3 * se_log_ratio


def test_social_care_shares_match_the_configuration(generated, calendar):
    refs = generated[0]["cs_referrals"]
    pre = refs[(refs["referral_date"] >= calendar.data_start)
               & (refs["referral_date"] < calendar.intervention_start)]  # fmt: skip
    n = len(pre)
    shares = pre["_type"].value_counts(normalize=True)
    # Configured pre-period shares (trend terms add under 3% over the period); referrals are
    # clustered in sibling groups of ~1.5, so the binomial error is inflated by 2.
    for share, expected in ((shares["A"], 0.075), (shares["A"] + shares["B"], 0.40),
                            (shares["A"] + shares["C"], 0.225)):  # fmt: skip
        assert abs(share - expected) < 3 * 2 * math.sqrt(expected * (1 - expected) / n) + 0.03 * expected


def test_dva_episodes_carry_a_dva_factor_and_others_do_not(generated):
    tables = generated[0]
    factors = tables["cs_factors"].merge(tables["cs_assessments"], on="assessment_id")
    factors = factors.merge(tables["cs_referrals"][["referral_id", "_type"]], on="referral_id")
    dva = factors.groupby("assessment_id").agg(
        has=("factor", lambda f: f.isin(codes.DVA_FACTORS).any()), kind=("_type", "first")
    )
    assert (dva["has"] == dva["kind"].isin(["A", "B"])).all()


def test_code_lists_are_the_conventions(generated):
    tables = generated[0]
    assert set(tables["cs_referrals"]["referral_source"].dropna()) <= set(codes.REFERRAL_SOURCES)
    assert set(tables["cs_referrals"]["closure_reason"].dropna()) <= set(codes.CLOSURE_REASONS)
    assert "RC9" not in codes.CLOSURE_REASONS
    assert set(tables["cs_factors"]["factor"]) <= set(codes.FACTORS)
    assert set(tables["cs_children"]["ethnicity"].dropna()) <= set(codes.ETHNICITIES)
    assert len(codes.ETHNICITIES) == 20
    assert tables["cs_children"]["child_id"].str.len().max() <= 10
    dash = tables["marac_cases"]["dash_score"].dropna()
    assert dash.between(0, 24).all() and (dash >= 14).mean() > 0.5


def test_volumes_and_mixes_are_doncaster_like(generated, calendar):
    tables, _ = generated
    marac = tables["marac_cases"]
    per_year = len(marac[marac["referral_date"] >= calendar.data_start]) / 5
    assert 250 < per_year < 500  # "a few hundred cases a year"
    assert 0.55 < (marac["referring_agency"] == "police").mean() < 0.72  # ~36% non-police
    assert 0.04 < (marac["victim_sex"] == "M").mean() < 0.09  # 6.5% male
    refs = tables["cs_referrals"]
    assert 0.22 < (refs["referral_source"] == "6").mean() < 0.40  # police the largest source
    assert refs["referral_source"].value_counts().index[0] == "6"
    families = tables["cs_children"].groupby("family_id").size()
    assert (families > 1).mean() > 0.2  # families with several children
    survey = tables["survey"]
    assert 120 < (survey["wave"] == "baseline").sum() < 200  # about 160 professionals


def test_messiness_is_there(generated, calendar):
    tables, _ = generated
    marac = tables["marac_cases"]
    assert marac["dash_score"].isna().mean() > 0.01
    assert marac["victim_lgbt"].isna().mean() > 0.1
    # Late recording: the last days' referrals await a meeting after the extract date.
    last_month = marac["referral_date"] >= calendar.data_end - pd.Timedelta(days=30)
    assert marac.loc[last_month, "meeting_date"].max() <= calendar.data_end
    open_assessments = tables["cs_assessments"]["authorised_date"].isna()
    assert open_assessments.sum() > 10
    assert not tables["cs_factors"]["assessment_id"].isin(
        tables["cs_assessments"].loc[open_assessments, "assessment_id"]
    ).any()
    # Factors were collected only from April 2013, so earlier assessments have none.
    assessed = tables["cs_assessments"].merge(tables["cs_factors"], on="assessment_id", how="left")
    early = assessed["authorised_date"] < pd.Timestamp(codes.FACTORS_COLLECTED_FROM)
    assert early.sum() > 1000 and assessed.loc[early, "factor"].isna().all()
    assert assessed.loc[~early & assessed["authorised_date"].notna(), "factor"].notna().all()
    casework = tables["casework"]
    closed = casework["closure_date"].notna()
    assert 0.05 < casework.loc[closed, "dash_close"].isna().mean() < 0.6


def test_monthly_counts_are_serially_correlated(generated, calendar):
    refs = generated[0]["cs_referrals"]
    monthly = refs.groupby(refs["referral_date"].dt.to_period("M")).size()
    monthly = monthly[monthly.index >= calendar.data_start.to_period("M")]
    # Detrended lag-1 autocorrelation of log counts: AR(1) rho 0.5 plus seasonality.
    resid = np.log(monthly.to_numpy()) - np.polyval(np.polyfit(np.arange(60), np.log(monthly), 1), np.arange(60))
    assert np.corrcoef(resid[:-1], resid[1:])[0, 1] > 0.2


def test_casework_families_exist_in_social_care(generated):
    tables = generated[0]
    assert tables["casework"]["family_id"].isin(tables["cs_children"]["family_id"]).all()
    assert 200 < len(tables["casework"]) < 450
