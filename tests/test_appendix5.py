"""Appendix 5 (MARAC) tables and figures, checked against counts made by hand from a small
made-up derived frame, against disclosure control, and on the default synthetic data."""

from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from gf_eval.appendix import marac_tables
from gf_eval.appendix.build import TOTAL
from gf_eval.config import Calendar
from gf_eval.disclosure import SUPPRESSED, check, protect

NA = None
# One case a line: number (the hand counts below cite it; "-" = never reported), referral date,
# agency, route, DASH score, children, victim's sex, age band, ethnic group, disabled, LGBT+,
# coordinator's repeat flag, DAN involved, days since the pair's last referral ("-" = NA).
HAND = """
-   2011-05-10  police     vhr  16  2  F  25-34  white  0  0  1  0  -
-   2011-12-01  police     rep  15  1  F  25-34  white  0  0  1  0  100
-   2012-03-31  idva       pj   9   0  M  18-24  white  0  0  0  0  -
-   2017-04-03  police     rep  16  1  F  25-34  white  0  0  1  1  40
1   2012-04-01  police     vhr  15  1  F  35-44  white  0  0  1  0  327
2   2012-07-15  health     pe   12  -  M  35-44  white  0  0  0  0  -
3   2013-03-31  police     vhr  20  3  F  35-44  white  0  0  1  0  380
4   2013-06-01  police     vhr  14  0  F  35-44  white  0  0  0  0  -
5   2013-12-20  csc        pj   -   4  F  35-44  white  0  0  0  0  200
6   2014-05-05  police     vhr  18  2  F  35-44  white  0  0  0  0  -
7   2014-09-01  police     vhr  17  1  F  25-34  white  1  0  1  0  50
8   2014-11-11  idva       pj   10  0  F  18-24  asian  0  -  0  0  -
9   2015-02-28  police     rep  13  5  M  -      white  -  -  1  0  365
10  2015-04-01  housing    pe   9   2  F  25-34  -      0  1  0  0  401
11  2015-08-31  police     vhr  19  1  F  55+    white  0  0  0  0  -
12  2015-09-01  police     vhr  21  0  F  16-17  white  0  0  0  1  366
13  2015-10-10  idva       vhr  14  3  F  25-34  black  1  0  1  1  100
14  2015-12-24  health     pj   11  -  F  35-44  white  1  -  0  0  -
15  2016-02-01  police     rep  16  2  U  25-34  mixed  -  0  0  0  30
16  2016-03-31  police     vhr  -   1  F  -      white  0  1  0  1  -
17  2016-04-01  probation  pj   5   0  F  45-54  -      0  0  1  0  10
18  2016-08-31  police     vhr  24  4  F  18-24  white  0  0  1  1  -
19  2016-09-01  police     vhr  14  6  F  35-44  white  0  0  0  0  -
20  2016-12-31  voluntary  pe   0   2  M  35-44  white  0  0  1  1  200
21  2017-01-01  police     vhr  15  1  F  35-44  white  0  0  1  1  20
22  2017-03-31  police     vhr  19  0  F  35-44  white  0  0  0  0  -
"""
# Pre window: cases 7-11; post window: 12-18; programme period: 12-20 (config/config.yaml).
SHORT = {"vhr": "visible_high_risk", "pj": "professional_judgement",
         "pe": "potential_escalation", "rep": "repeat", "csc": "childrens_social_care",
         "voluntary": "voluntary_sector"}  # fmt: skip
INTS = {3, 4, 8, 9, 10, 11, 12}  # DASH, children, the four 0/1 flags, gap; the rest is text


def parse(text: str) -> list[tuple]:
    rows = []
    for line in text.strip().splitlines():
        fields = [None if f == "-" else SHORT.get(f, f) for f in line.split()[1:]]
        rows.append(tuple(int(f) if f is not None and i in INTS else f
                          for i, f in enumerate(fields)))  # fmt: skip
    return rows


ROWS = parse(HAND)
YEARS = ["2012-13", "2013-14", "2014-15", "2015-16", "2016-17"]


def flag(v):
    return pd.NA if pd.isna(v) else bool(v)


def derived_frame(rows) -> pd.DataFrame:
    """A derived MARAC frame in the shape `gf_eval.derive` writes, from hand-made rows."""
    cols = ["referral_date", "referring_agency", "referral_route", "dash_score",
            "children_in_household", "victim_sex", "victim_age_band", "victim_ethnic_group",
            "victim_disabled", "victim_lgbt", "coordinator_repeat", "dan_involved",
            "gap_days"]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    n = len(df)
    df.insert(0, "case_id", pd.array([f"MC{i:06d}" for i in range(n)], dtype="string"))
    df.insert(1, "victim_key", pd.array([f"V{i:07d}" for i in range(n)], dtype="string"))
    df.insert(2, "perpetrator_key", pd.array([f"P{i:07d}" for i in range(n)], dtype="string"))
    df["referral_date"] = pd.to_datetime(df["referral_date"])
    df.insert(4, "meeting_date", df["referral_date"] + pd.Timedelta(days=14))
    for col in ("dash_score", "children_in_household", "gap_days"):
        df[col] = pd.array(df[col].tolist(), dtype="Int64")
    for col in ("victim_disabled", "victim_lgbt", "coordinator_repeat", "dan_involved"):
        df[col] = pd.array([flag(v) for v in df[col]], dtype="boolean")
    df["perpetrator_sex"] = "M"
    df["month"] = df["referral_date"].dt.strftime("%Y-%m")
    # The 12-month rule by its definition: a previous referral 0 to 365 days before.
    df["repeat"] = np.array([g is not pd.NA and g <= 365 for g in df["gap_days"]], dtype=bool)
    return df


@pytest.fixture(scope="module")
def hand(config) -> dict:
    return {t.name: t for t in marac_tables.tables({"marac_cases": derived_frame(ROWS)}, config)}


def col(table, name) -> list:
    return table.frame[name].tolist()


# --- hand counts -------------------------------------------------------------------------------


def test_cases_by_year_by_hand_without_history_or_later_rows(hand):
    f = hand["a5_cases_by_quarter"].frame.loc[[*YEARS, TOTAL]]
    assert f["cases"].tolist() == [3, 2, 4, 7, 6, 22]
    assert f["repeats"].tolist() == [1, 1, 2, 2, 3, 9]
    assert f["not_repeats"].tolist() == [2, 1, 2, 5, 3, 13]
    assert f.loc[TOTAL, "repeat_rate_pct"] == pytest.approx(100 * 9 / 22)
    assert f.loc["2013-14", "repeat_rate_pct"] == pytest.approx(50.0)


def test_year_subtotals_follow_their_quarters_and_are_declared(hand):
    t = hand["a5_cases_by_quarter"]
    assert list(t.frame.index[:5]) == [f"2012-13 Q{i}" for i in range(1, 5)] + ["2012-13"]
    assert ("2012-13", tuple(f"2012-13 Q{i}" for i in range(1, 5))) in t.spec.row_totals
    assert (TOTAL, tuple(YEARS)) in t.spec.row_totals


def test_cases_by_quarter_by_hand(hand):
    f = hand["a5_cases_by_quarter"].frame
    f = f[f.index.str.contains(" Q") | (f.index == TOTAL)]
    assert len(f) == 21 and f.index[0] == "2012-13 Q1" and f.index[-2] == "2016-17 Q4"
    expected = {  # quarter: (cases, repeats); every other quarter is empty
        "2012-13 Q1": (1, 1), "2012-13 Q2": (1, 0), "2012-13 Q4": (1, 0),
        "2013-14 Q1": (1, 0), "2013-14 Q3": (1, 1),
        "2014-15 Q1": (1, 0), "2014-15 Q2": (1, 1), "2014-15 Q3": (1, 0), "2014-15 Q4": (1, 1),
        "2015-16 Q1": (1, 0), "2015-16 Q2": (2, 0), "2015-16 Q3": (2, 1), "2015-16 Q4": (2, 1),
        "2016-17 Q1": (1, 1), "2016-17 Q2": (2, 0), "2016-17 Q3": (1, 1), "2016-17 Q4": (2, 1),
    }  # fmt: skip
    for q in f.index[:-1]:
        assert (f.loc[q, "cases"], f.loc[q, "repeats"]) == expected.get(q, (0, 0)), q
    assert (f.loc[TOTAL, "cases"], f.loc[TOTAL, "repeats"]) == (22, 9)


def test_referral_route_by_window_by_hand(hand):
    f = hand["a5_referral_route"].frame
    assert list(f.index) == ["DASH score of 14 or more", "Professional judgement",
                             "Potential escalation (commonly 3 or more incidents in 12 months)",
                             "Repeat: referred again within 12 months of the last referral",
                             TOTAL]  # fmt: skip
    assert col(hand["a5_referral_route"], "pre") == [2, 1, 1, 1, 5]
    assert col(hand["a5_referral_route"], "post") == [4, 2, 0, 1, 7]
    assert col(hand["a5_referral_route"], "Total") == [6, 3, 1, 2, 12]
    assert f.loc["DASH score of 14 or more", "pct_post"] == pytest.approx(400 / 7)
    assert f.loc[TOTAL, "pct_pre"] == pytest.approx(100.0)


def test_referring_agency_police_against_partners_by_hand(hand):
    t = hand["a5_referring_agency"]
    assert col(t, "police") == [2, 1, 3, 4, 4, 14]
    assert col(t, "partner_agencies") == [1, 1, 1, 3, 2, 8]
    assert col(t, "Total") == [3, 2, 4, 7, 6, 22]
    assert t.frame.loc[TOTAL, "pct_partner_agencies"] == pytest.approx(800 / 22)
    d = hand["a5_referring_agency_detail"].frame
    assert d.loc["Police", ["pre", "post"]].tolist() == [3, 4]
    idva = "Independent domestic violence adviser service"
    assert d.loc[idva, ["pre", "post"]].tolist() == [1, 1]
    assert d.loc["Housing", ["pre", "post"]].tolist() == [1, 0]
    assert d.loc["Probation", ["pre", "post"]].tolist() == [0, 1]
    assert d.loc["Voluntary sector", "Total"] == 0  # row 20 is after the post window
    assert len(d) == 13  # twelve agencies and Total, empty ones included


def test_dash_bands_and_high_risk_by_hand(hand):
    f = hand["a5_dash"].frame
    assert list(f.index) == ["0-4", "5-9", "10-13", "14-18", "19-24", "Not recorded", TOTAL]
    assert col(hand["a5_dash"], "pre") == [0, 1, 2, 1, 1, 0, 5]
    assert col(hand["a5_dash"], "post") == [0, 1, 1, 2, 2, 1, 7]
    assert f.loc["Not recorded", "pct_post"] == pytest.approx(100 / 7)
    h = hand["a5_high_risk"]
    assert col(h, "cases_with_score") == [3, 1, 4, 6, 6, 20]
    assert col(h, "high_risk") == [2, 1, 2, 4, 4, 13]
    assert h.frame.loc["2014-15", "high_risk_pct"] == pytest.approx(50.0)
    assert h.frame.loc[TOTAL, "high_risk_pct"] == pytest.approx(65.0)


def test_children_bands_and_mean_by_hand(hand):
    t = hand["a5_children"]
    f = t.frame
    assert f.loc["pre", ["0", "1", "2", "3", "4+", "not_recorded", "cases"]].tolist() == [
        1, 2, 1, 0, 1, 0, 5]  # fmt: skip
    assert f.loc["post", ["0", "1", "2", "3", "4+", "not_recorded", "cases"]].tolist() == [
        2, 1, 1, 1, 1, 1, 7]  # fmt: skip
    assert col(t, "children") == [9, 10, 19]
    assert col(t, "recorded") == [5, 6, 11]
    assert f["mean_children"].tolist() == pytest.approx([9 / 5, 10 / 6, 19 / 11])
    assert t.spec.derived["mean_children"] == ("children", "recorded")


def test_victim_profile_by_hand(hand):
    sex = hand["a5_profile_sex"].frame
    assert sex.loc["Female", ["pre", "post"]].tolist() == [4, 6]
    assert sex.loc["Male", ["pre", "post"]].tolist() == [1, 0]
    assert sex.loc["Unknown or not recorded", ["pre", "post"]].tolist() == [0, 1]
    age = hand["a5_profile_age"]
    assert list(age.frame.index) == ["16-17", "18-24", "25-34", "35-44", "45-54", "55+",
                                     "Not recorded", TOTAL]  # fmt: skip
    assert col(age, "pre") == [0, 1, 2, 0, 0, 1, 1, 5]
    assert col(age, "post") == [1, 1, 2, 1, 1, 0, 1, 7]
    eth = hand["a5_profile_ethnicity"].frame
    assert eth.loc["White", ["pre", "post"]].tolist() == [3, 4]
    assert eth.loc["Not recorded", ["pre", "post"]].tolist() == [1, 1]
    assert col(hand["a5_profile_disability"], "pre") == [1, 3, 1, 5]
    assert col(hand["a5_profile_disability"], "post") == [2, 4, 1, 7]
    assert col(hand["a5_profile_lgbt"], "pre") == [1, 2, 2, 5]
    assert col(hand["a5_profile_lgbt"], "post") == [1, 5, 1, 7]


def test_dan_involvement_in_programme_period_by_hand(hand):
    t = hand["a5_dan_involvement"]
    assert list(t.frame.index) == ["DAN involved", "No DAN involvement", TOTAL]
    # rows 12-20; row 21 (DAN, January 2017) and the April 2017 row are outside
    assert col(t, "cases") == [5, 4, 9]
    assert col(t, "repeats") == [2, 2, 4]
    assert t.frame["repeat_rate_pct"].tolist() == pytest.approx([40.0, 50.0, 400 / 9])
    text = " ".join([t.title, t.caption, *t.notes]).lower()
    assert "association" in t.title.lower() and "not an effect" in t.title.lower()
    assert "not a random subset" in text


def test_repeat_reconciliation_by_hand(hand):
    t = hand["a5_repeat_reconciliation"]
    f = t.frame
    assert list(f.index) == ["first referral of the pair", "0-365 days", "366-400 days",
                             "over 400 days", TOTAL]  # fmt: skip
    assert col(t, "cases") == [10, 9, 2, 1, 22]
    assert col(t, "rule_repeat") == [0, 9, 0, 0, 9]
    assert col(t, "coordinator_repeat") == [1, 7, 1, 0, 9]
    assert col(t, "rule_and_flagged") == [0, 7, 0, 0, 7]
    assert col(t, "flagged_not_rule") == [1, 0, 1, 0, 2]
    assert col(t, "rule_not_flagged") == [0, 2, 0, 0, 2]
    assert col(t, "disagree") == [1, 2, 1, 0, 4]
    assert ("disagree", ("flagged_not_rule", "rule_not_flagged")) in t.spec.column_totals
    # coordinator_repeat is no sum of the columns beside it without rule_and_flagged
    assert ("coordinator_repeat", ("rule_and_flagged", "flagged_not_rule")) in t.spec.column_totals


# --- form and disclosure -----------------------------------------------------------------------

EXPECTED_TABLES = {
    "a5_cases_by_quarter", "a5_referral_route", "a5_referring_agency",
    "a5_referring_agency_detail", "a5_dash", "a5_high_risk", "a5_children", "a5_profile_sex",
    "a5_profile_age", "a5_profile_ethnicity", "a5_profile_disability", "a5_profile_lgbt",
    "a5_dan_involvement", "a5_repeat_reconciliation",
}  # fmt: skip


def test_every_table_is_named_labelled_and_passes_disclosure(hand, config):
    assert set(hand) == EXPECTED_TABLES
    threshold = config["disclosure"]["threshold"]
    for name, t in hand.items():
        assert t.appendix == "5" and t.title and t.caption and t.notes, name
        assert all(isinstance(r, str) for r in t.frame.index), name
        assert t.frame.index[-1] == TOTAL, name
        published = protect(t.frame, t.spec, threshold)
        assert check(published, t.spec, threshold) == [], name


def test_small_counts_are_suppressed_in_hand_tables(hand):
    t = hand["a5_cases_by_quarter"]
    published = protect(t.frame, t.spec)
    assert published.loc["2012-13", "cases"] == SUPPRESSED  # 3 cases
    assert published.loc[TOTAL, "cases"] == 22


def test_last_month_is_flagged_incomplete(hand):
    for name in ("a5_cases_by_quarter", "a5_high_risk"):
        assert any("March 2017 is incomplete" in n for n in hand[name].notes), name


# --- figures never show what the tables suppress -----------------------------------------------


def bars_by_label(ax) -> dict[str, dict[str, float]]:
    """Drawn bar values by legend label, keyed by the tick label the bar sits on."""
    out = {}
    for container in ax.containers:
        vals = {}
        if container.orientation == "vertical":
            ticks = [t.get_text() for t in ax.get_xticklabels()]
            for r in container.patches:
                vals[ticks[round(r.get_x() + r.get_width() / 2)]] = r.get_height()
        else:
            ticks = [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()]
            for r in container.patches:
                vals[ticks[round(r.get_y() + r.get_height() / 2)]] = r.get_width()
        out[container.get_label()] = vals
    return out


def quarterly_frame(small: tuple[str, int, int]) -> pd.DataFrame:
    """12 cases (6 repeats) in every quarter but one, which has `small` (quarter, n, k)."""
    rows = []
    for year in range(2012, 2017):
        for q in range(1, 5):
            start = pd.Timestamp(year, 4, 1) + pd.DateOffset(months=3 * (q - 1))
            label = f"{year}-{(year + 1) % 100:02d} Q{q}"
            n, k = (small[1], small[2]) if label == small[0] else (12, 6)
            for i in range(n):
                rows.append((str((start + pd.Timedelta(days=i)).date()), "police",
                             "visible_high_risk", 15, 1, "F", "25-34", "white", 0, 0, 0, 0,
                             100 if i < k else NA))  # fmt: skip
    return derived_frame(rows)


def test_quarter_figure_leaves_out_suppressed_counts(config):
    derived = {"marac_cases": quarterly_frame(("2013-14 Q2", 3, 1))}
    table = {t.name: t for t in marac_tables.tables(derived, config)}["a5_cases_by_quarter"]
    published = protect(table.frame, table.spec, config["disclosure"]["threshold"])
    fig = marac_tables.figures(derived, config)[0]
    try:
        ax = fig.figure.axes[0]
        assert ax.get_ylabel() == "cases per quarter" and ax.get_title()
        bars = bars_by_label(ax)
        for label, column in (("All cases", "cases"), ("Repeat cases (12-month rule)", "repeats")):
            drawn = bars[label]
            assert "2013-14 Q2" not in drawn
            for q in [q for q in published.index if " Q" in q]:
                shown = published.loc[q, column]
                if shown == SUPPRESSED:
                    assert q not in drawn, (q, column)
                else:
                    assert drawn[q] == shown, (q, column)
        # secondary suppression hid a second quarter too, and it is not drawn either
        assert len(bars["All cases"]) == 18
        assert bars["All cases"]["2014-15 Q1"] == 12
    finally:
        for f in marac_tables.figures(derived, config) + [fig]:
            plt.close(f.figure)


def route_frame(pre: dict[str, int], post: dict[str, int]) -> pd.DataFrame:
    """Cases by referral route in the pre window (from September 2014) and the post window."""
    rows = []
    for start, counts in (("2014-09-01", pre), ("2015-09-01", post)):
        for route, n in counts.items():
            rows += [(str((pd.Timestamp(start) + pd.Timedelta(days=i)).date()), "police", route,
                      15, 1, "F", "25-34", "white", 0, 0, 0, 0, NA) for i in range(n)]  # fmt: skip
    return derived_frame(rows)


def test_route_figure_leaves_out_suppressed_shares(config):
    routes = ["visible_high_risk", "professional_judgement", "potential_escalation", "repeat"]
    pre, post = (dict(zip(routes, n, strict=True)) for n in ([20, 10, 3, 8], [25, 12, 9, 6]))
    derived = {"marac_cases": route_frame(pre, post)}
    t = {t.name: t for t in marac_tables.tables(derived, config)}["a5_referral_route"]
    assert col(t, "pre") == [20, 10, 3, 8, 41]
    published = protect(t.frame, t.spec, config["disclosure"]["threshold"])
    figs = marac_tables.figures(derived, config)
    try:
        ax = figs[1].figure.axes[0]
        assert "%" in ax.get_xlabel() and ax.get_title()
        bars = bars_by_label(ax)
        assert len(bars) == 2
        for (label, drawn), period in zip(bars.items(), ("pre", "post"), strict=True):
            assert label.startswith(period)
            for row in published.index[:-1]:
                shown = published.loc[row, f"pct_{period}"]
                if shown == SUPPRESSED:
                    assert row not in drawn, (row, period)
                else:
                    assert drawn[row] == pytest.approx(float(shown), abs=0.05), (row, period)
        pe = "Potential escalation (commonly 3 or more incidents in 12 months)"
        assert pe not in bars["pre: Sep 2014 to Aug 2015"]  # 3 cases
        assert bars["pre: Sep 2014 to Aug 2015"]["DASH score of 14 or more"] == pytest.approx(
            100 * 20 / 41)  # fmt: skip
        assert bars["post: Sep 2015 to Aug 2016"]["DASH score of 14 or more"] == pytest.approx(
            100 * 25 / 52)  # fmt: skip
    finally:
        for f in figs:
            plt.close(f.figure)


def test_windows_follow_the_config(config):
    shifted = copy.deepcopy(config)
    shifted["windows"]["pre"] = {"start": "2012-04-01", "end": "2013-03-31"}
    tabs = {t.name: t for t in marac_tables.tables({"marac_cases": derived_frame(ROWS)}, shifted)}
    assert col(tabs["a5_referral_route"], "pre") == [2, 0, 1, 0, 3]  # rows 1-3
    assert "1 April 2012 to 31 March 2013" in tabs["a5_referral_route"].caption


# --- the default synthetic data ----------------------------------------------------------------


def test_synthetic_tables_and_figures_build(pipeline):
    cases, config = pipeline["derived"]["marac_cases"], pipeline["config"]
    cal = Calendar.from_config(config)
    threshold = config["disclosure"]["threshold"]
    tabs = {t.name: t for t in marac_tables.tables(pipeline["derived"], config)}
    assert set(tabs) == EXPECTED_TABLES
    in_period = cases["referral_date"].between(cal.data_start, cal.data_end)
    assert (cases["referral_date"] < cal.data_start).sum() > 0  # a history year to leave out
    table = tabs["a5_cases_by_quarter"].frame
    by_year = table.loc[YEARS]
    assert by_year["cases"].sum() == in_period.sum()
    assert table.loc[TOTAL, "repeats"] == cases.loc[in_period, "repeat"].sum()
    quarters = table[table.index.str.contains(" Q")]
    assert len(quarters) == 20 and quarters["cases"].sum() == in_period.sum()
    assert tabs["a5_repeat_reconciliation"].frame.loc[TOTAL, "cases"] == in_period.sum()
    for name, t in tabs.items():
        assert check(protect(t.frame, t.spec, threshold), t.spec, threshold) == [], name
    figs = marac_tables.figures(pipeline["derived"], config)
    try:
        assert [f.name for f in figs] == ["a5_cases_by_quarter", "a5_referral_route"]
        for f in figs:
            ax = f.figure.axes[0]
            assert f.appendix == "5" and ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
            assert "suppressed" in f.caption
        drawn = bars_by_label(figs[0].figure.axes[0])["All cases"]
        shown = quarters["cases"]
        assert drawn == {q: v for q, v in shown.items()}  # synthetic quarters are all large
    finally:
        for f in figs:
            plt.close(f.figure)
