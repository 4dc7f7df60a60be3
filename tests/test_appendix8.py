"""Appendix 8 (the professionals' e-survey): hand checks on a tiny made-up survey, recovery of
the generator's true shifts, the null scenario, privacy of the comments and disclosure."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text
from scipy import stats

import gf_eval.synth.survey as synth_survey
from gf_eval.analysis import survey as sv
from gf_eval.appendix import survey_tables
from gf_eval.appendix.build import TOTAL
from gf_eval.disclosure import SUPPRESSED, check, protect

# One response a line: wave (b = baseline, f = follow_up), agency, role, q01 to q08 ("-" =
# skipped). Within a response q06 = q07 = q08, so the partnership scale's alpha is exactly 1.
HAND = """
b  police  practitioner  1 2 3 3 2  2 2 2
b  police  manager       2 2 - 3 3  3 3 3
b  health  practitioner  3 3 3 - -  4 4 4
b  health  practitioner  3 4 4 4 4  1 1 1
b  police  practitioner  - 1 2 2 1  5 5 5
b  health  other         2 3 3 3 3  3 3 3
f  police  practitioner  2 3 3 4 4  2 2 2
f  health  manager       3 4 4 4 -  4 4 4
f  police  practitioner  4 4 5 5 5  3 3 3
f  health  practitioner  5 4 4 - 4  5 5 5
f  health  strategic     3 5 4 4 4  - - -
f  police  practitioner  5 3 4 4 5  1 1 1
"""
SECRET = "HAND-WRITTEN COMMENT THAT MUST NOT BE PUBLISHED"


def hand_survey() -> pd.DataFrame:
    rows = []
    for n, line in enumerate(HAND.strip().splitlines()):
        wave, agency, role, *items = line.split()
        wave = {"b": "baseline", "f": "follow_up"}[wave]
        date = "2015-06-10" if wave == "baseline" else "2016-10-20"
        rows.append([f"S{n:05d}", wave, pd.Timestamp(date), agency, role,
                     *(pd.NA if v == "-" else int(v) for v in items), SECRET])  # fmt: skip
    df = pd.DataFrame(rows, columns=["respondent_id", "wave", "response_date", "agency", "role",
                                     *sv.ITEMS, "comment"])  # fmt: skip
    for col in ("respondent_id", "wave", "agency", "role", "comment"):
        df[col] = df[col].astype("string")
    for item in sv.ITEMS:
        df[item] = df[item].astype("Int64")
    return df


@pytest.fixture(scope="module")
def hand_tables(config):
    return {t.name: t for t in survey_tables.tables({"survey": hand_survey()}, config)}


# --- (a) hand checks --------------------------------------------------------------------------


def test_item_distribution_counts_by_hand(hand_tables):
    frame = hand_tables["a8_item_responses"].frame
    # q01 baseline: 1, 2, 3, 3, 2 and one skipped; follow-up: 2, 3, 4, 5, 3, 5
    cols = ["1", "2", "3", "4", "5", "answered", "missing", "respondents"]
    assert frame.loc["q01 baseline", cols].tolist() == [1, 2, 2, 0, 0, 5, 1, 6]
    assert frame.loc["q01 follow_up", cols].tolist() == [0, 1, 2, 1, 2, 6, 0, 6]
    # q06 follow-up: 2, 4, 3, 5, skipped, 1
    assert frame.loc["q06 follow_up", cols].tolist() == [1, 1, 1, 1, 1, 5, 1, 6]
    assert frame.loc["q01 baseline", "pct_2"] == pytest.approx(100 * 2 / 6)
    assert frame.loc["q01 baseline", "pct_missing"] == pytest.approx(100 / 6)


def test_respondents_by_agency_and_role_by_hand(hand_tables):
    frame = hand_tables["a8_respondents"].frame
    assert frame.loc["Agency: Police", ["baseline", "follow_up", "Total"]].tolist() == [3, 3, 6]
    assert frame.loc["Agency: Health", ["baseline", "follow_up"]].tolist() == [3, 3]
    assert frame.loc["Role: Front-line practitioner", ["baseline", "follow_up"]].tolist() == [4, 4]
    assert frame.loc["Role: Strategic lead", ["baseline", "follow_up"]].tolist() == [0, 1]
    assert frame.loc[TOTAL, ["baseline", "follow_up", "Total"]].tolist() == [6, 6, 12]
    assert frame.loc["Role: Team leader or manager", "pct_baseline"] == pytest.approx(100 / 6)


def test_rank_biserial_and_medians_by_hand():
    res = sv.item_summaries(hand_survey()).loc["q01"]
    # Follow-up 2, 3, 3, 4, 5, 5 against baseline 1, 2, 2, 3, 3 (30 pairs): follow-up higher in
    # 1 + 3 + 3 + 5 + 5 + 5 = 22 pairs, lower in 2 (the 2 against the two 3s), tied in 6.
    assert res["rank_biserial"] == pytest.approx((22 - 2) / 30)
    assert (res["n_baseline"], res["n_follow_up"]) == (5, 6)
    assert (res["median_baseline"], res["median_follow_up"]) == (2.0, 3.5)
    assert res["mean_baseline"] == pytest.approx(11 / 5)
    assert res["mean_difference"] == pytest.approx(22 / 6 - 11 / 5)
    assert res["rb_ci_low"] < res["rank_biserial"] < res["rb_ci_high"]


def test_rank_biserial_interval_by_hand():
    # Baseline 1, 2; follow-up 2, 3. Pairs: 2>1, 2=2, 3>1, 3>2, so r = (3.5 / 4) * 2 - 1 = 0.75.
    # Placements (share of the other group below, ties half): follow-up 2 -> 0.75, 3 -> 1;
    # baseline (share of follow-up above) 1 -> 1, 2 -> 0.75. Each has variance 0.03125 (n - 1),
    # so var(U/n0n1) = 0.03125/2 + 0.03125/2 and se(r) = 2 * sqrt(0.03125).
    se_z = 2 * math.sqrt(0.03125) / (1 - 0.75**2)
    z = math.atanh(0.75)
    low, high = sv.rank_biserial_ci([1, 2], [2, 3])
    assert low == pytest.approx(math.tanh(z - 1.959964 * se_z), abs=1e-6)
    assert high == pytest.approx(math.tanh(z + 1.959964 * se_z), abs=1e-6)
    assert low == pytest.approx(-0.5447, abs=1e-4) and high == pytest.approx(0.9880, abs=1e-4)


def test_holm_and_benjamini_hochberg_by_hand():
    # Holm: sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04 -> running max 0.06.
    assert sv.adjust([0.01, 0.04, 0.03], "holm") == pytest.approx([0.03, 0.06, 0.06])
    # BH: 0.01 * 3/1, 0.03 * 3/2, 0.04 * 3/3 = 0.03, 0.045, 0.04 -> running min from the top.
    assert sv.adjust([0.01, 0.04, 0.03], "fdr_bh") == pytest.approx([0.03, 0.04, 0.04])
    # a p-value that could not be computed is not part of the family
    out = sv.adjust([0.01, math.nan, 0.04, 0.03], "holm")
    assert math.isnan(out[1]) and out[[0, 2, 3]] == pytest.approx([0.03, 0.06, 0.06])
    with pytest.raises(ValueError, match="adjustment"):
        sv.adjust([0.5], "bonferroni")


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment written out, to check the family used by item_tests."""
    order = np.argsort(p)
    out, running = np.empty_like(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


def test_item_tests_adjust_each_family_across_the_items(hand_tables, config):
    assert config["analysis"]["survey_adjustment"] == "holm"
    table = hand_tables["a8_item_tests"]
    res = table.frame
    assert res["mw_p_adjusted"].to_numpy() == pytest.approx(_holm(res["mw_p"].to_numpy()))
    fitted = res["logit_p"].notna().to_numpy()
    assert fitted.sum() >= 2, "the hand survey should fit some ordinal models"
    assert res.loc[fitted, "logit_p_adjusted"].to_numpy() == pytest.approx(
        _holm(res.loc[fitted, "logit_p"].to_numpy())
    )
    # a model that could not be fitted or did not converge shows 'z', never a number
    shown = protect(table.frame, table.spec, config["disclosure"]["threshold"])
    model = ["log_odds_ratio", "logit_p", "logit_p_adjusted"]
    assert (shown.loc[~fitted, model] == "z").to_numpy().all()
    assert "Holm" in table.caption


def test_scale_scores_by_hand(hand_tables):
    scores = sv.respondent_scores(hand_survey())
    # confidence: at most one of five items skipped; response 3 skipped two
    expected = [2.2, 2.5, np.nan, 3.8, 1.5, 2.8, 3.2, 3.75, 4.6, 4.25, 4.0, 4.2]
    assert scores["confidence"].to_numpy() == pytest.approx(expected, nan_ok=True)
    res = sv.scale_scores(hand_survey())
    conf, part = res.loc["confidence"], res.loc["partnership"]
    assert (conf["scored_baseline"], conf["scored_follow_up"]) == (5, 6)
    assert conf["mean_baseline"] == pytest.approx(12.8 / 5)
    assert conf["mean_follow_up"] == pytest.approx(24 / 6)
    # Welch's interval written out
    x0, x1 = np.array([2.2, 2.5, 3.8, 1.5, 2.8]), np.array([3.2, 3.75, 4.6, 4.25, 4.0, 4.2])
    v0, v1 = x0.var(ddof=1) / 5, x1.var(ddof=1) / 6
    df = (v0 + v1) ** 2 / (v0**2 / 4 + v1**2 / 5)
    half = stats.t.ppf(0.975, df) * math.sqrt(v0 + v1)
    assert conf["difference"] == pytest.approx(1.44)
    assert (conf["difference_ci_low"], conf["difference_ci_high"]) == pytest.approx(
        (1.44 - half, 1.44 + half)
    )
    # partnership: identical items within a response, so alpha is 1 overall and per wave
    assert (part["alpha"], part["alpha_baseline"], part["alpha_follow_up"]) == pytest.approx(
        (1.0, 1.0, 1.0)
    )
    assert (part["scored_follow_up"], part["mean_baseline"], part["difference"]) == (5, 3.0, 0.0)
    published = hand_tables["a8_scale_scores"].frame
    assert published.loc["confidence", "not_scored_baseline"] == 1


def test_unknown_wave_or_value_is_refused():
    with pytest.raises(ValueError, match="wave"):
        sv.answers(hand_survey().assign(wave="pilot"))
    bad = hand_survey()
    bad.loc[0, "q03"] = 7
    with pytest.raises(ValueError, match="q03"):
        sv.answers(bad)


# --- (b) recovery on the default synthetic data --------------------------------------------


@pytest.fixture(scope="module")
def default_tests(pipeline):
    survey = pipeline["typed"]["survey"]
    return sv.item_tests(survey, pipeline["config"]["analysis"]["survey_adjustment"])


def test_item_intervals_hold_the_true_marginal_shifts(pipeline, default_tests):
    # Rule: at least 7 of 8 intervals hold the truth. Each misses 5% of the time, and misses
    # cluster within a scale (the person effect); in 300 simulated surveys the rank-biserial
    # interval covered 95.3% of items and fewer than 7 of 8 occurred in 5.7% of them (the mean
    # difference: 94.9% and 6.7%), so a failure here would be a real fault, rarely chance.
    truth = pipeline["truth"]["survey"]["items"]
    res = default_tests
    rb = [res.at[i, "rb_ci_low"] <= t["rank_biserial"] <= res.at[i, "rb_ci_high"]
          for i, t in truth.items()]  # fmt: skip
    md = [res.at[i, "md_ci_low"] <= t["mean_difference"] <= res.at[i, "md_ci_high"]
          for i, t in truth.items()]  # fmt: skip
    assert sum(rb) >= 7, res[["rank_biserial", "rb_ci_low", "rb_ci_high"]]
    assert sum(md) >= 7, res[["mean_difference", "md_ci_low", "md_ci_high"]]
    # the intervals are not so wide that they would hold anything: none holds r = 0.5
    assert (res["rb_ci_high"] < 0.5).all()


def test_scale_shifts_point_the_true_way(pipeline):
    truth = pipeline["truth"]["survey"]["items"]
    res = sv.scale_scores(pipeline["typed"]["survey"])
    for scale, items in sv.SCALES.items():
        # The scale score is the mean of its items, so its true shift is the items' mean one.
        true = np.mean([truth[i]["mean_difference"] for i in items])
        assert true > 0
        row = res.loc[scale]
        assert row["difference"] > 0, scale
        assert row["difference_ci_low"] <= true <= row["difference_ci_high"], (scale, true)
        assert row["mean_follow_up"] > row["mean_baseline"]
        # five or three items sharing a person effect: a clearly positive alpha
        assert 0.4 < row["alpha"] < 0.95


# --- (c) null scenario --------------------------------------------------------------------------


def test_null_scenario_finds_at_most_one_item_after_adjustment(null_pipeline):
    truth = null_pipeline["truth"]["survey"]["items"]
    assert all(t["log_odds_ratio_conditional"] == 0 for t in truth.values())
    res = sv.item_tests(null_pipeline["typed"]["survey"],
                        null_pipeline["config"]["analysis"]["survey_adjustment"])  # fmt: skip
    assert (res["mw_p_adjusted"] < 0.05).sum() <= 1, res[["mw_p", "mw_p_adjusted"]]
    assert (res["significant"] == (res["mw_p_adjusted"] < 0.05)).all()
    assert (res["logit_p_adjusted"] < 0.05).sum() <= 1, res[["logit_p", "logit_p_adjusted"]]


def test_unadjusted_false_positive_rate_is_near_five_percent(calendar, monkeypatch):
    # The survey generator alone (what synth.generate calls for the survey), with zero shifts;
    # its Monte Carlo truth is not needed here, so fewer draws keep this fast.
    monkeypatch.setattr(synth_survey, "TRUTH_DRAWS", 1000)
    zero = {scale: 0.0 for scale in sv.SCALES}
    p = []
    for seed in range(1, 101):
        df, _ = synth_survey.simulate_survey(calendar, zero, 1.0, np.random.default_rng(seed))
        assert df["wave"].dtype == object or pd.api.types.is_string_dtype(df["wave"])
        p.append(sv.item_summaries(df)["mw_p"].to_numpy())
    p = np.array(p)
    # 800 tests, correlated within a survey: a standard error of about 1 percentage point
    assert 0.03 <= (p < 0.05).mean() <= 0.08
    # Holm keeps the family-wise rate at 5% or less: expect about 5 surveys in 100 or fewer.
    # An adjusted p is never below the raw one, so only surveys with a raw p < 0.05 can count.
    hits = sum((sv.adjust(row, "holm") < 0.05).any() for row in p if row.min() < 0.05)
    assert hits <= 10


# --- (d) the comments never reach the outputs, (e) disclosure ----------------------------------


@pytest.fixture(scope="module")
def built(pipeline):
    survey = pipeline["typed"]["survey"]
    config = pipeline["config"]
    tables = survey_tables.tables({"survey": survey}, config)
    figures = survey_tables.figures({"survey": survey}, config)
    yield {"tables": tables, "figures": figures, "config": config, "survey": survey}
    for f in figures:
        plt.close(f.figure)


def _texts(built) -> list[str]:
    thr = built["config"]["disclosure"]["threshold"]
    out = []
    for t in built["tables"]:
        out += [t.title, t.caption, *t.notes, *map(str, t.frame.index)]
        out += [str(v) for v in t.frame.to_numpy().ravel()]
        out += [str(v) for v in protect(t.frame, t.spec, thr).to_numpy().ravel()]
    for f in built["figures"]:
        out += [f.title, f.caption]
        out += [x.get_text() for x in f.figure.findobj(Text)]
    return out


def test_no_comment_text_reaches_any_output(built):
    assert built["survey"]["comment"].notna().any(), "the synthetic survey should have comments"
    texts = "\n".join(_texts(built)).lower()
    for comment in synth_survey.COMMENTS:
        assert comment.lower() not in texts
        assert comment.lower()[:20] not in texts  # nor a fragment of one


def test_outputs_do_not_read_the_comment_column(built, hand_tables):
    # Without the column the tables are the same, so nothing reads it.
    bare = built["survey"].drop(columns="comment")
    again = survey_tables.tables({"survey": bare}, built["config"])
    for a, b in zip(built["tables"], again, strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame)
        assert (a.caption, a.notes) == (b.caption, b.notes)
    hand = "\n".join(
        str(v)
        for t in hand_tables.values()
        for v in (t.title, t.caption, *t.notes, *t.frame.to_numpy().ravel())
    )
    assert SECRET.lower() not in hand.lower()


def test_names_match_the_declared_tables_and_figures(built):
    assert [t.name for t in built["tables"]] == list(survey_tables.TABLES)
    assert [f.name for f in built["figures"]] == list(survey_tables.FIGURES)
    assert {t.appendix for t in built["tables"]} | {f.appendix for f in built["figures"]} == {"8"}


@pytest.mark.parametrize("source", ["default", "hand"])
def test_every_table_passes_disclosure_control(built, hand_tables, source):
    thr = built["config"]["disclosure"]["threshold"]
    tables = built["tables"] if source == "default" else list(hand_tables.values())
    for t in tables:
        assert check(protect(t.frame, t.spec, thr), t.spec, thr) == [], t.name
        assert t.title and t.caption


def test_published_tables_do_not_give_each_other_away(built):
    # Each item's answers per wave appear in a8_item_responses and as n in a8_item_tests; a
    # count suppressed in one must not be shown in the other.
    thr = built["config"]["disclosure"]["threshold"]
    t = {x.name: protect(x.frame, x.spec, thr) for x in built["tables"]}
    dist, tests = t["a8_item_responses"], t["a8_item_tests"]
    hidden = 0
    for item in sv.ITEMS:
        for wave in survey_tables.WAVES:
            a, n = dist.at[f"{item} {wave}", "answered"], tests.at[item, f"n_{wave}"]
            hidden += a == SUPPRESSED
            assert (a == SUPPRESSED) <= (n == SUPPRESSED), (item, wave)
    assert hidden, "the default data should suppress some answered counts"


def test_item_figure_draws_only_shown_percentages(built):
    thr = built["config"]["disclosure"]["threshold"]
    table = next(t for t in built["tables"] if t.name == "a8_item_responses")
    shown = protect(table.frame, table.spec, thr)
    pct = [f"pct_{r}" for r in survey_tables.RESPONSES]
    assert (shown[pct] == SUPPRESSED).to_numpy().any(), "some percentages should be suppressed"
    ax = built["figures"][0].figure.axes[0]
    rows = {round(y, 6): label for y, label in zip(ax.get_yticks(), shown.index, strict=True)}
    bars = [p for p in ax.patches if p.get_height() > 0]
    assert bars
    for bar in bars:
        row = rows[round(bar.get_y() + bar.get_height() / 2, 6)]
        allowed = [float(v) for v in shown.loc[row, pct] if v != SUPPRESSED]
        assert min(abs(abs(bar.get_width()) - v) for v in allowed) < 0.051, row
    axis_labels = (ax.get_xlabel(), ax.get_ylabel(), ax.get_title())
    assert all(axis_labels) and "%" in ax.get_xlabel()


def test_scale_figure_plots_the_table_means(built):
    thr = built["config"]["disclosure"]["threshold"]
    table = next(t for t in built["tables"] if t.name == "a8_scale_scores")
    shown = protect(table.frame, table.spec, thr)
    ax = built["figures"][1].figure.axes[0]
    for container, wave in zip(ax.containers, survey_tables.WAVES, strict=True):
        y = container.lines[0].get_ydata()
        assert y == pytest.approx([float(v) for v in shown[f"mean_{wave}"]], abs=0.006)
    assert ax.get_ylabel() and ax.get_xlabel() and ax.get_title()
