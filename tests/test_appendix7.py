"""Appendix 7, the DANs' casework books: hand-worked checks on a tiny frame, recovery of the
synthetic truth, the null scenario, disclosure control and the figures."""

from __future__ import annotations

import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM

from gf_eval.analysis import casework as cw
from gf_eval.appendix import casework_tables as ct
from gf_eval.disclosure import check, determined, protect, suppression_mask

# --- a tiny casework book, worked by hand --------------------------------------------------------
# case, family, dan, referral, allocation, closure, route, engaged (victim, perpetrator,
# children), children, contacts, reason, then (alloc, close) for dash, swemwbs, safety, sdq.
N = None
TINY = [
    ("C1", "F1", "A", "2015-09-01", "2015-09-10", "2015-12-15", "marac", "YYY", 2, 10,
     "planned_completion", (15, 9), (20, 26), (3, 7), (20, 14)),
    ("C2", "F2", "A", "2015-09-05", "2015-09-20", N, "police", "YNN", 1, 5, N,
     (12, N), (18, N), (4, N), (N, N)),
    ("C3", "F3", "B", "2015-10-01", "2015-10-20", "2016-01-31", "social_care", "YNY", 3, 8,
     "disengaged", (18, N), (15, N), (2, N), (22, N)),
    ("C4", "F1", "B", "2016-01-01", "2016-01-15", "2016-06-30", "marac", "YYY", 2, 20,
     "planned_completion", (10, 6), (22, 24), (5, 6), (18, 17)),
    ("C5", "F4", "B", "2016-02-01", "2016-02-03", "2016-03-31", "self", "YNN", 1, 4,
     "moved_area", (14, 13), (19, 19), (6, 6), (N, N)),
    ("C6", "F5", "A", "2016-04-01", "2016-04-02", "2016-11-30", "health", "NYN", 2, 6,
     "other", (9, 14), (21, 20), (4, 5), (N, N)),
]  # fmt: skip


def _tiny() -> pd.DataFrame:
    """TINY with the typed table's dtypes (strings, dates, booleans, Int64)."""
    rows = []
    for (case, fam, dan, ref, alloc, close, route, eng, kids, contacts, reason,
         *measures) in TINY:  # fmt: skip
        row = {"case_id": case, "family_id": fam, "dan_id": dan, "referral_date": ref,
               "allocation_date": alloc, "closure_date": close, "referral_route": route,
               "n_children": kids, "contacts": contacts, "closure_reason": reason}  # fmt: skip
        for member, flag in zip(("victim", "perpetrator", "children"), eng, strict=True):
            row[f"{member}_engaged"] = flag == "Y"
        for m, (a, c) in zip(("dash", "swemwbs", "safety", "sdq"), measures, strict=True):
            row[f"{m}_alloc"], row[f"{m}_close"] = a, c
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in ("case_id", "family_id", "dan_id", "referral_route", "closure_reason"):
        df[col] = df[col].astype("string")
    for col in ("referral_date", "allocation_date", "closure_date"):
        df[col] = pd.to_datetime(df[col])
    for col in df.columns[df.columns.str.endswith("_engaged")]:
        df[col] = df[col].astype("boolean")
    ints = ["n_children", "contacts", *(c for c in df.columns if c.endswith(("_alloc", "_close")))]
    for col in ints:
        df[col] = pd.array([None if pd.isna(v) else int(v) for v in df[col]], dtype="Int64")
    return df


def test_caseload_by_quarter_by_hand(config):
    t = ct.caseload_table(_tiny(), config).frame
    # Financial quarters Sep 2015 (2015-16 Q2) to Dec 2016 (2016-17 Q3); DAN A = dan_1.
    assert list(t.index) == ["2015-16 Q2", "2015-16 Q3", "2015-16 Q4", "2016-17 Q1",
                             "2016-17 Q2", "2016-17 Q3", "Total"]  # fmt: skip
    assert t["dan_1"].tolist() == [2, 0, 0, 1, 0, 0, 3]  # C1, C2 | C6
    assert t["dan_2"].tolist() == [0, 1, 2, 0, 0, 0, 3]  # C3 | C4, C5
    assert t["Total"].tolist() == [2, 1, 2, 1, 0, 0, 6]
    # C4 is family F1's second case: returning, and its children are not counted again.
    assert t["new_families"].tolist() == [2, 1, 1, 1, 0, 0, 5]
    assert t["returning_cases"].tolist() == [0, 0, 1, 0, 0, 0, 1]
    assert t["children"].tolist() == [3, 3, 1, 2, 0, 0, 9]


def test_open_caseload_by_hand(config):
    t = ct.open_caseload_table(_tiny(), config).frame
    assert t.index[0] == "2015-09" and t.index[-1] == "2017-03"
    expected = {  # (dan_1 = A, dan_2 = B); a case closed on the month's last day is not open
        "2015-09": (2, 0), "2015-10": (2, 1), "2015-12": (1, 1), "2016-01": (1, 1),
        "2016-02": (1, 2), "2016-03": (1, 1), "2016-04": (2, 1), "2016-06": (2, 0),
        "2016-10": (2, 0), "2016-11": (1, 0), "2017-03": (1, 0),
    }  # fmt: skip
    for month, (a, b) in expected.items():
        assert (t.at[month, "dan_1"], t.at[month, "dan_2"], t.at[month, "Total"]) == (a, b, a + b)


def test_engagement_counts_by_hand():
    t = ct.engagement_table(_tiny()).frame["cases"]
    assert t["Whole family: victim, perpetrator and children"] == 2  # C1, C4
    assert t["Victim only"] == 2  # C2, C5
    assert t["Victim and children"] == 1  # C3
    assert t["Perpetrator only"] == 1  # C6
    assert t[["Victim and perpetrator", "Children only", "No one"]].tolist() == [0, 0, 0]
    assert [t[ct.MEMBER_ROWS[m]] for m in ct.MEMBERS] == [5, 3, 3]
    assert t["Total"] == 6
    pattern = cw.engagement_pattern(_tiny()).tolist()
    assert pattern == ["whole_family", "victim_only", "victim_children", "whole_family",
                       "victim_only", "victim_not_engaged"]  # fmt: skip


def test_paired_change_and_reliable_change_by_hand():
    row = cw.paired_outcomes(_tiny()).loc["dash"]
    # Pairs C1 15->9, C4 10->6, C5 14->13, C6 9->14: changes -6, -4, -1, +5.
    assert row["n_pairs"] == 4
    assert row["mean_alloc"] == pytest.approx(12.0)
    assert row["mean_close"] == pytest.approx(10.5)
    assert row["mean_change"] == pytest.approx(-1.5)
    sd = math.sqrt((4.5**2 + 2.5**2 + 0.5**2 + 6.5**2) / 3)  # SD of the changes: sqrt(23)
    half = 3.182446 * sd / 2  # t(3) 97.5% quantile x SE
    assert row["ci_low"] == pytest.approx(-1.5 - half, abs=1e-4)
    assert row["d_z"] == pytest.approx(-1.5 / sd)
    # SD of all six allocation scores 15, 12, 18, 10, 14, 9: sqrt(56 / 5); reliability 0.80.
    threshold = 1.959964 * math.sqrt(2 * 56 / 5 * (1 - 0.80))  # 4.148
    assert row["reliable_threshold"] == pytest.approx(threshold, abs=1e-4)
    # -6 improves (DASH: lower is better); +5 deteriorates; -4 is below 4.148, though the
    # four pairs' own SD (threshold 3.65) would have called it an improvement.
    assert (row["n_improved"], row["n_no_change"], row["n_deteriorated"]) == (1, 2, 1)
    sdq = cw.paired_outcomes(_tiny()).loc["sdq"]
    assert sdq["n_pairs"] == 2 and sdq["mean_change"] == pytest.approx(-3.5)  # -6 and -1


def test_attrition_and_bounds_by_hand():
    att = cw.attrition(_tiny()).loc["dash"]
    # C2 is open; closed C3 has an allocation score but no closure score and disengaged.
    assert (att["cases"], att["open"], att["closed"]) == (6, 1, 5)
    assert (att["completers"], att["noncompleters"], att["closed_no_alloc"]) == (4, 1, 0)
    assert (att["disengaged_completers"], att["disengaged_noncompleters"]) == (0, 1)
    assert att["mean_alloc_noncompleters"] == 18
    assert (att["whole_family_completers"], att["victim_only_completers"]) == (2, 1)
    b = cw.bounds(_tiny()).loc["dash"]
    # Changes sorted -6, -4, -1, 5: 10th percentile -6 + 0.3 x 2 = -5.4, 90th -1 + 0.7 x 6 = 3.2;
    # the two cases without a pair (C2, C3) take each in turn, over all six cases.
    assert b["bound_p10"] == pytest.approx((-6 + 2 * -5.4) / 6)
    assert b["bound_p90"] == pytest.approx((-6 + 2 * 3.2) / 6)


def test_referral_route_and_involvement_by_hand():
    route = ct.referral_table(_tiny()).frame
    # Days from referral to allocation: 9, 15, 19, 14, 2, 1.
    assert route.at["MARAC", "cases"] == 2 and route.at["MARAC", "7-13 days"] == 1
    assert route.at["MARAC", "14-27 days"] == 1
    assert route.at["Total", "median_days"] == pytest.approx(11.5)
    inv = ct.involvement_table(_tiny()).frame
    # Closed: C1 96 days, C3 103, C4 167, C5 57, C6 242.
    assert inv.at["Total", "closed"] == 5
    assert inv.at["Total", "0-90 days"] == 1 and inv.at["Total", "91-182 days"] == 3
    assert inv.at["Work completed as planned", "median_days"] == pytest.approx(131.5)
    assert inv.at["Total", "median_contacts"] == 8


# --- recovery of the synthetic truth -----------------------------------------------------------


@pytest.fixture(scope="module")
def default(pipeline):
    casework, config = pipeline["typed"]["casework"], pipeline["config"]
    return {"ipw": cw.ipw_outcomes(casework, config["seed"]),
            "reg": cw.engagement_regression(casework),
            "truth": pipeline["truth"]["casework"]}  # fmt: skip


def test_ipw_intervals_hold_the_true_mean_change(default):
    # Four 95% intervals: even with exact coverage one misses about one time in five, so the
    # rule is at least three of four; every estimate must also lie inside its own interval.
    ipw, truth = default["ipw"], default["truth"]
    held = []
    for m in cw.MEASURES:
        row, true = ipw.loc[m], truth[m]["mean_change_all_cases"]
        assert row["ipw_ci_low"] < row["ipw_mean_change"] < row["ipw_ci_high"], m
        held.append(row["ipw_ci_low"] <= true <= row["ipw_ci_high"])
    assert sum(held) >= 3, dict(zip(cw.MEASURES, held, strict=True))


def test_ipw_moves_dash_toward_the_truth(default):
    # Disengaged families change half as much and mostly lose their closure score, so the
    # complete cases overstate the fall in DASH; weighting them back shrinks it toward the
    # truth. On the default data (complete cases -3.32, IPW -3.04, truth -3.06) it lands
    # closer; over 30 seeds the complete-case bias was -0.16 and the IPW bias +0.05.
    row, true = default["ipw"].loc["dash"], default["truth"]["dash"]["mean_change_all_cases"]
    assert row["cc_mean_change"] < row["ipw_mean_change"] < 0
    assert abs(row["ipw_mean_change"] - true) < abs(row["cc_mean_change"] - true)
    assert row["bound_p10"] < true < row["bound_p90"]


def test_whole_family_difference_is_recovered(default):
    # sdq has no victim-only truth (a child measure), so three measures; at least two of the
    # three 95% intervals must hold the true difference.
    reg, truth = default["reg"], default["truth"]
    held = {}
    for m in ("dash", "swemwbs", "safety"):
        t = truth[m]
        diff = t["mean_change_whole_family"] - t["mean_change_victim_only"]
        held[m] = reg.at[m, "ci_low"] <= diff <= reg.at[m, "ci_high"]
    assert sum(held.values()) >= 2, held
    assert reg.at["dash", "ci_high"] < 0  # the larger DASH fall with the whole family is found


def _one_at_a_time(x, done, change, params, rng, resamples):
    """The bootstrap as first written: a statsmodels fit for each resample in turn."""
    boot = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(resamples):
            i = rng.integers(0, len(done), len(done))
            if 0 < done[i].sum() < i.size:
                y = done[i].astype(float)
                fit = GLM(y, x[i], family=families.Binomial()).fit(start_params=params)
                w = y.mean() / fit.predict(x[i])[done[i]]
                boot.append(np.sum(w * change[i][done[i]]) / np.sum(w))
    return np.array(boot)


@pytest.mark.parametrize("book", ["default", "small"])
def test_batched_bootstrap_is_the_one_at_a_time_bootstrap(pipeline, book):
    # The refits run batched, and those the batch cannot vouch for (many, in a small book
    # with separated resamples) alone: together, the same estimates as a fit per resample.
    casework = pipeline["typed"]["casework"]
    if book == "small":
        casework = casework.sample(60, random_state=7)
    for measure in ("dash", "sdq"):
        df = cw._groups(casework, measure)
        model = df[df["closed"] & df["alloc"].notna()]
        x = np.column_stack([np.ones(len(model)),
                             model[["alloc", "whole_family", "disengaged"]].to_numpy(float)])
        done = model["completer"].to_numpy()
        change = (model["close"] - model["alloc"]).to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = cw._ipw_mean(x, done, change)[2]
        new = cw._ipw_bootstrap(x, done, change, params, np.random.default_rng(1), 200)
        old = _one_at_a_time(x, done, change, params, np.random.default_rng(1), 200)
        assert new.shape == old.shape and new.size > 150, measure
        np.testing.assert_allclose(new, old, rtol=0, atol=1e-9, err_msg=measure)


# --- the null scenario -------------------------------------------------------------------------


def test_no_change_is_rarely_significant_under_the_null(null_pipeline):
    truth = null_pipeline["truth"]["casework"]
    assert all(abs(truth[m]["mean_change_all_cases"]) < 0.1 for m in cw.MEASURES)
    paired = cw.paired_outcomes(null_pipeline["typed"]["casework"])
    # Four tests at 5%: two or more false positives has probability about 1.4%.
    assert (paired["t_p"] < 0.05).sum() <= 1, paired["t_p"].to_dict()
    assert (paired["wilcoxon_p"] < 0.05).sum() <= 1, paired["wilcoxon_p"].to_dict()


# --- disclosure control and figures ------------------------------------------------------------


@pytest.fixture(scope="module")
def published(pipeline):
    return ct.tables(pipeline["typed"], pipeline["config"])


def test_tables_pass_disclosure_control(published, config):
    threshold = config["disclosure"]["threshold"]
    assert [t.name for t in published] == list(ct.TABLES)
    for t in published:
        assert t.appendix == "7" and t.title and t.caption, t.name
        assert check(protect(t.frame, t.spec, threshold), t.spec, threshold) == [], t.name


def test_tables_count_every_case_once(published, pipeline):
    casework = pipeline["typed"]["casework"]
    t = {x.name: x.frame for x in published}
    n, closed = len(casework), int(casework["closure_date"].notna().sum())
    assert t["a7_caseload_by_quarter"].at["Total", "Total"] == n
    assert t["a7_referral_route"].at["Total", "cases"] == n
    assert t["a7_engagement"].at["Total", "cases"] == n
    assert t["a7_involvement"].at["Total", "closed"] == closed
    assert t["a7_open_caseload"]["Total"].iloc[-1] == n - closed
    kids = int(casework["children_engaged"].sum())
    assert t["a7_attrition"].at["sdq", "cases"] == kids


def test_figures_build_from_published_values(pipeline, published, config):
    figs = ct.figures(pipeline["typed"], config)
    try:
        assert [f.name for f in figs] == list(ct.FIGURES)
        for f in figs:
            for ax in f.figure.axes:
                assert ax.get_xlabel() and ax.get_ylabel(), f.name
        # Deteriorations are 1 to 5 per measure in the default data: suppressed, so no bar
        # of that colour may be drawn, and the improved bars are the published shares.
        outcomes = {t.name: t for t in published}["a7_outcomes"]
        mask = suppression_mask(outcomes.frame, outcomes.spec, config["disclosure"]["threshold"])
        assert mask["deteriorated"].all()
        ax = figs[2].figure.axes[0]
        labels = [h.get_label() for h in ax.get_legend_handles_labels()[0]]
        assert "deteriorated" not in labels
        widths = sorted(round(p.get_width(), 6) for p in ax.containers[0].patches)
        assert widths == sorted(round(v, 6) for v in outcomes.frame["pct_improved"])
    finally:
        for f in figs:
            plt.close(f.figure)


def test_figure_helper_hides_suppressed_cells(published, config):
    threshold = config["disclosure"]["threshold"]
    for t in published:
        vals = ct.shown(t, threshold)
        mask = suppression_mask(t.frame, t.spec, threshold)
        assert vals.isna().where(mask[vals.columns], True).all().all(), t.name
        assert np.isfinite(vals.to_numpy()).any(), t.name


def _pinned_across(tabs, threshold) -> list:
    """Suppressed counts that the tables' totals and the shared counts determine together."""
    links = ct._links({t.name: t for t in tabs})
    cons, hidden, unknown = list(links), set(), set()
    for t in tabs:
        mask = suppression_mask(t.frame, t.spec, threshold)
        for r in t.frame.index:
            cons += [((t.name, r, tot), *((t.name, r, p) for p in ps))
                     for tot, ps in t.spec.column_totals]  # fmt: skip
            for c in t.spec.counts:
                if mask.at[r, c]:
                    hidden.add((t.name, r, c))
                if mask.at[r, c] or pd.isna(t.frame.at[r, c]):
                    unknown.add((t.name, r, c))
        cons += [((t.name, tot, c), *((t.name, p, c) for p in ps))
                 for c in t.spec.counts for tot, ps in t.spec.row_totals]  # fmt: skip
    frames = {t.name: t.frame for t in tabs}
    for a, b in links:  # a shared count really is the same number in both tables
        assert frames[a[0]].at[a[1], a[2]] == frames[b[0]].at[b[1], b[2]], (a, b)
    return [k for k in determined(cons, unknown) if k in hidden]


def test_no_suppressed_count_is_revealed_across_tables(published, config):
    assert _pinned_across(published, config["disclosure"]["threshold"]) == []


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.PerfectSeparationWarning")
def test_a_small_book_is_protected_within_and_across_tables(pipeline, config):
    # 60 cases: small counts in cells that several tables share, so that suppression in one
    # table must carry to the others.
    threshold = config["disclosure"]["threshold"]
    small = pipeline["typed"]["casework"].sample(60, random_state=7)
    tabs = ct.tables({"casework": small}, config)
    shared = {c for link in ct._links({t.name: t for t in tabs}) for c in link}
    masks = {t.name: suppression_mask(t.frame, t.spec, threshold) for t in tabs}
    assert any(masks[n].at[r, c] for n, r, c in shared)  # the case this test is for
    for t in tabs:
        assert check(protect(t.frame, t.spec, threshold), t.spec, threshold) == [], t.name
    for a, b in ct._links({t.name: t for t in tabs}):
        assert masks[a[0]].at[a[1], a[2]] == masks[b[0]].at[b[1], b[2]], (a, b)
    assert _pinned_across(tabs, threshold) == []
