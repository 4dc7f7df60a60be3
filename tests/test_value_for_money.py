"""Value for money: the arithmetic by hand, recovery of the true benefit-cost ratio on synthetic
data, the null scenario, and bad unit-cost files."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import ROOT
from gf_eval.analysis import value_for_money as vfm
from gf_eval.config import Calendar
from gf_eval.stats.economics import Appraisal, break_even, discount_factors, uprate

HEADER = "event,unit,cost,low,high,price_year,source,location,url,verified,note\n"
# Round figures for the tests, every event valued, so that every package is appraised.
TEST_COSTS = HEADER + (
    "repeat_marac_case,per case,3000,,,2016,test figure,,,true,\n"
    "referral,per referral,1500,1000,2000,2016,test figure,,,true,\n"
    "child_in_need_episode,per episode,4000,,,2016,test figure,,,true,\n"
    "domestic_abuse_victim,per victim,34015,,,2016,test figure,,,true,\n"
)
DEFLATORS = "financial_year,deflator\n2014,93.217\n2015,94.019\n2016,96.245\n2017,97.921\n"


def files(tmp_path, costs: str = TEST_COSTS, deflators: str = DEFLATORS):
    (tmp_path / "costs.csv").write_text(costs)
    (tmp_path / "deflators.csv").write_text(deflators)
    return tmp_path / "costs.csv", tmp_path / "deflators.csv"


# --- the arithmetic, by hand ----------------------------------------------------------------


def test_uprating_discounting_and_the_appraisal_by_hand():
    deflators = {2015: 94.019, 2016: 96.245}
    assert uprate(100.0, 2015, 2016, deflators)[0] == pytest.approx(100 * 96.245 / 94.019)
    np.testing.assert_allclose(discount_factors(np.array([0, 0.5, 0.99, 1, 2.5]), 0.035),
                               [1, 1, 1, 1 / 1.035, 1 / 1.035**2])  # fmt: skip
    with pytest.raises(ValueError, match="no deflator for year.*2013"):
        uprate(1.0, 2013, 2016, deflators)
    # 24 months of 2 events avoided at £1,000: year 0 undiscounted, year 1 at 1/1.035
    months = np.arange(24)
    pv = vfm.present_value(np.full(24, 2.0), months, 1000.0, 0.035)
    assert pv == pytest.approx(24_000 + 24_000 / 1.035)
    draws = np.arange(1.0, 101.0) * 1000  # benefits of £1,000 to £100,000
    res = Appraisal(benefit=50_000, draws=draws, cost=40_000).fit()
    assert res.bcr == pytest.approx(1.25) and res.net == pytest.approx(10_000)
    assert res.p_bcr_above_1 == pytest.approx(60 / 100)  # £41,000 .. £100,000
    assert res.bcr_ci == pytest.approx(tuple(np.quantile(draws, [0.025, 0.975]) / 40_000))
    assert break_even(40_000, 200_000) == pytest.approx(0.2)


def test_programme_cost_by_hand(config):
    cal = Calendar.from_config(config)
    v = copy.deepcopy(config["value_for_money"])
    v["programme"] = {"price_year": 2015, "grant": None, "set_up": 10_000,
                      "posts": [{"role": "DAN", "fte": 2, "annual_cost": 36_000}]}  # fmt: skip
    deflators = {2015: 94.019, 2016: 96.245}
    # September 2015 to December 2016: 16 months at £6,000, 12 in year 0 and 4 in year 1
    by_hand = (10_000 + 12 * 6_000 + 4 * 6_000 / 1.035) * 96.245 / 94.019
    assert vfm.programme_cost(v, cal, deflators, 0.035) == pytest.approx(by_hand)
    v["programme"]["grant"] = 160_000  # a grant replaces the posts and set-up
    by_hand = (12 * 10_000 + 4 * 10_000 / 1.035) * 96.245 / 94.019
    assert vfm.programme_cost(v, cal, deflators, 0.035) == pytest.approx(by_hand)


def test_months_past_the_model_carry_its_last_month_forward():
    times = np.array([10, 11, 13])  # month 12 was left out of the fit
    fitted = np.array([[8.0, 9.0, 6.0]])
    cf = np.array([[10.0, 10.0, 12.0]])
    months, modelled, avoided, counter = vfm.extend(times, fitted, cf, 10, 15)
    np.testing.assert_array_equal(months, np.arange(10, 16))
    np.testing.assert_array_equal(modelled, [True, True, False, True, False, False])
    # 12 carries 11 forward; 14 and 15 carry 13 (cf 12, relative effect 0.5)
    np.testing.assert_allclose(avoided[0], [2, 1, 1, 6, 6, 6])
    np.testing.assert_allclose(counter[0], [10, 10, 10, 12, 12, 12])


def test_the_true_effect_is_held_at_the_data_end():
    flows = vfm.Flows(np.arange(4), np.ones(4, bool), np.zeros(4), np.zeros((1, 4)),
                      np.full(4, 100.0))  # fmt: skip
    got = vfm.true_avoided(flows, {"level_change": -0.1, "slope_change": -0.05}, data_end=2)
    path = np.array([-0.1, -0.15, -0.2, -0.2])
    np.testing.assert_allclose(got, 100 * (1 - np.exp(path)))


def test_draws_of_the_coefficients_follow_their_covariance(pipeline):
    from gf_eval.analysis import targets

    fit = targets.fit(pipeline["derived"]["monthly_series"], "repeat_marac",
                      targets.plan(pipeline["config"])[0], pipeline["config"])  # fmt: skip
    draws = fit.result.draw_params(20_000, np.random.default_rng(1))
    se = fit.result.bse.to_numpy()
    # 20,000 draws: a mean within 4 SEs of its Monte Carlo error, SDs within 3%, correlations
    # within 0.03 (their Monte Carlo SD is about 0.007)
    np.testing.assert_array_less(np.abs(draws.mean(axis=0) - fit.result.params) / se,
                                 4 / np.sqrt(len(draws)))  # fmt: skip
    np.testing.assert_allclose(draws.std(axis=0), se, rtol=0.03)
    cov = fit.result.cov_params().to_numpy()
    np.testing.assert_allclose(np.corrcoef(draws.T), cov / np.outer(se, se), atol=0.03)
    # at the point estimate, the simulated counts are the model's own predictions
    sim = fit.result.simulate(fit.result.params.to_numpy()[None, :])
    pred = fit.result.predictions()
    post = pred[pred["time"] >= fit.result.model.start]
    n = fit.frame.set_index("t").loc[post["time"], "n"].to_numpy()
    np.testing.assert_allclose(sim["fitted"], post["fitted"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(sim["counterfactual"], post["counterfactual"].to_numpy(), rtol=1e-9)
    assert n.size == len(sim)


# --- on synthetic data ----------------------------------------------------------------------


def _appraise(run: dict, tmp_path, costs: str = TEST_COSTS) -> dict:
    c, d = files(tmp_path, costs)
    return vfm.run(run["derived"]["monthly_series"], run["config"], vfm.read_unit_costs(c),
                   vfm.read_deflators(d), run["truth"])  # fmt: skip


def test_the_ratio_interval_holds_the_ratio_of_the_true_effects(pipeline, tmp_path):
    out = _appraise(pipeline, tmp_path)
    a = out["appraisal"]
    valued = a[a["bcr"].notna()]
    assert set(valued["package"]) == set(vfm.PACKAGES)
    for _, row in valued.iterrows():
        assert row["bcr_low"] <= row["true_bcr"] <= row["bcr_high"], row.to_dict()
        assert 0 <= row["p_bcr_above_1"] <= 1
    # every avoided-events interval holds the true count too
    av = out["avoided"]
    assert ((av["avoided_low"] <= av["true_avoided"]) & (av["true_avoided"] <= av["avoided_high"])).all()
    # the headline is the first package, given at three correlations; the others once
    head = a[a["package"] == "services"]
    assert sorted(head["target_correlation"]) == [0.0, 0.5, 1.0] and head["headline"].all()
    assert (a.groupby("package").size().drop(["services", "services_rereferrals", "societal"]) == 1).all()


def test_the_correlation_between_targets_widens_the_interval_as_it_should(pipeline, tmp_path):
    """The sum of two positively related benefits varies more than of two independent ones."""
    a = _appraise(pipeline, tmp_path)["appraisal"].set_index(["package", "target_correlation"])
    width = {r: a.loc[("services", r), "bcr_high"] - a.loc[("services", r), "bcr_low"]
             for r in (0.0, 1.0)}  # fmt: skip
    assert width[1.0] > width[0.0]
    # the point estimate does not depend on the assumption
    assert a.loc[("services", 0.0), "bcr"] == pytest.approx(a.loc[("services", 1.0), "bcr"])


def test_unverified_costs_are_not_used_and_leave_a_package_unvalued(pipeline, tmp_path):
    costs = TEST_COSTS.replace("child_in_need_episode,per episode,4000,,,2016,test figure,,,true,",
                               "child_in_need_episode,per episode,4000,,,2016,test figure,,,false,")
    out = _appraise(pipeline, tmp_path, costs)
    a = out["appraisal"].set_index("package")
    assert a.loc["services", "note"].startswith("not valued")
    assert pd.isna(a.loc["services", "bcr"])
    assert a.loc["services_rereferrals", "headline"].all()  # the first package with every cost
    used = out["unit_costs"].set_index("event")["used"]
    assert not used["child_in_need_episode"] and used["referral"]
    # the authority's own figure replaces the file's
    config = copy.deepcopy(pipeline["config"])
    config["value_for_money"]["unit_costs"] = {"child_in_need_episode": {"cost": 2500, "price_year": 2015}}
    c, d = files(tmp_path, costs)
    again = vfm.run(pipeline["derived"]["monthly_series"], config, vfm.read_unit_costs(c),
                    vfm.read_deflators(d), pipeline["truth"])  # fmt: skip
    row = again["unit_costs"].query("event == 'child_in_need_episode' and used").iloc[0]
    assert row["cost_uprated"] == pytest.approx(2500 * 96.245 / 94.019)
    assert again["appraisal"].set_index("package").loc["services", "headline"].any()


@pytest.mark.slow
def test_null_scenario_the_chance_of_paying_for_itself_is_what_the_noise_alone_gives(
        null_pipeline, tmp_path):  # fmt: skip
    """With no effect, the benefit is noise around zero: the share of draws in which the
    ratio exceeds 1 is the chance that the noise alone exceeds the cost, 1 - Phi((cost -
    estimate) / sd), and well below a half; the true ratio is 0 and the interval holds it; no
    verdict says that the programme paid for itself."""
    out = _appraise(null_pipeline, tmp_path)
    for _, row in out["appraisal"].dropna(subset=["bcr"]).iterrows():
        assert row["true_bcr"] == 0
        assert row["bcr_low"] <= 0 <= row["bcr_high"]
        sd = (row["benefit_high"] - row["benefit_low"]) / (2 * 1.96)
        implied = stats.norm.sf((row["cost"] - row["benefit"]) / sd)
        assert row["p_bcr_above_1"] == pytest.approx(implied, abs=0.06), row.to_dict()
        assert row["p_bcr_above_1"] < 0.5
        assert not row["verdict"].startswith("pays for itself")


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("row, message", [
    ("referral,per referral,1500,,,,test,,,true,", r"price_year.*1 row"),
    ("referral,per referral,-20,,,2016,test,,,true,", r"column cost: greater_than_or_equal_to\(0\) \(1 row\)"),
    ("referrals_made,per referral,1500,,,2016,test,,,true,", r"column event: str_matches.*\(1 row\)"),
    ("referral,per referral,1500,1600,2000,2016,test,,,true,", r"low <= cost <= high"),
    ("referral,per referral,,,,2016,test,,,true,", r"a verified row needs its cost"),
    ("referral,per referral,1500,,,2016,test,,,maybe,", r"column verified: must be true or false"),
])  # fmt: skip
def test_a_bad_unit_cost_file_is_refused_naming_the_rule(tmp_path, row, message):
    path = tmp_path / "bad_costs.csv"
    path.write_text(HEADER + row + "\n")
    with pytest.raises(vfm.UnitCostError, match=message) as err:
        vfm.read_unit_costs(path)
    assert "bad_costs.csv" in str(err.value)


def test_a_missing_column_or_deflator_year_is_refused(tmp_path, config):
    path = tmp_path / "costs.csv"
    path.write_text(HEADER.replace(",price_year", "") + "referral,per referral,1500,,,test,,,true,\n")
    with pytest.raises(vfm.UnitCostError, match="column price_year: missing"):
        vfm.read_unit_costs(path)
    deflators = tmp_path / "deflators.csv"
    deflators.write_text("financial_year,deflator\n2016,96.245\n2016,97\n")
    with pytest.raises(vfm.UnitCostError, match=r"financial_year.*unique.*2 rows"):
        vfm.read_deflators(deflators)
    costs = vfm.read_unit_costs(files(tmp_path)[0])
    with pytest.raises(vfm.UnitCostError, match="no deflator for year.*2016"):
        vfm.chosen_costs(costs, config["value_for_money"], {2015: 94.0})


def test_the_command_exits_non_zero_on_a_bad_unit_cost_file(tmp_path, pipeline):
    series = tmp_path / "series.parquet"
    pipeline["derived"]["monthly_series"].to_parquet(series)
    costs, deflators = files(tmp_path, HEADER + "referral,per referral,-1,,,2016,t,,,true,\n")
    proc = subprocess.run([sys.executable, "-m", "gf_eval", "value-for-money", "--series",
                           str(series), "--unit-costs", str(costs), "--deflators", str(deflators),
                           "--out", str(tmp_path / "out"), "--config",
                           str(ROOT / "config" / "config.yaml")],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 1
    assert "costs.csv: column cost: greater_than_or_equal_to(0) (1 row)" in proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_shipped_unit_costs_and_deflators_pass_their_schemas(config):
    costs = vfm.read_unit_costs(ROOT / config["value_for_money"]["unit_costs_file"])
    deflators = vfm.read_deflators(ROOT / config["value_for_money"]["deflators_file"])
    assert set(costs["event"].str.extract(vfm.EVENT_PATTERN)[0]) == set(vfm.EVENTS)
    # every verified figure has its source and where in it
    verified = costs[costs["verified"]]
    assert verified["source"].str.len().gt(0).all() and verified["location"].notna().all()
    assert verified["price_year"].isin(list(deflators) + [2023]).all()
    # HM Treasury's own check: the published percentage change 2016-17 on 2015-16 is 2.37%
    assert 100 * (deflators[2016] / deflators[2015] - 1) == pytest.approx(2.37, abs=0.005)


def _intro(out: dict, config: dict, tmp_path) -> str:
    from gf_eval.report import html

    working = tmp_path / "working"
    working.mkdir(exist_ok=True)
    for name, frame in out.items():
        frame.to_csv(working / f"{name}.csv", index=False)
    return html._value_intro(working, config)


def test_the_report_says_cannot_tell_when_the_interval_spans_1(pipeline, tmp_path):
    out = _appraise(pipeline, tmp_path)
    text = _intro(out, pipeline["config"], tmp_path)
    head = out["appraisal"].query("package == 'services' and target_correlation == 0").iloc[0]
    assert head["bcr_low"] < 1 < head["bcr_high"]  # the default data's wide interval
    assert "cannot tell: the 95% interval of the ratio spans 1" in text
    assert "paid for itself" not in text and "pays for itself" not in text
    assert "test figure" in text  # the source of every unit cost used
    assert f"true effects give a ratio of {head['true_bcr']:.2f}" in text


def test_the_report_says_when_nothing_can_be_valued(pipeline, tmp_path):
    costs = HEADER + "domestic_abuse_victim,per victim,34015,,,2016,test figure,,,false,\n"
    text = _intro(_appraise(pipeline, tmp_path, costs), pipeline["config"], tmp_path)
    assert "No valuation" in text and "cannot be valued" in text
