"""Appendix 6 (social care tables and figures): exact numbers on tiny hand-made derived data,
disclosure control of every table alone and of the tables together, and a build on the default
synthetic authority."""

from __future__ import annotations

import copy
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from gf_eval import codes
from gf_eval.appendix import social_care_tables as a6
from gf_eval.appendix.build import financial_year
from gf_eval.appendix.publish import Figure, Table
from gf_eval.config import Calendar, load_config
from gf_eval.derive import social_care
from gf_eval.derive.rules import days_since_previous, within_window
from gf_eval.derive.series import monthly_series
from gf_eval.derive.status import GROUPS, STATUSES
from gf_eval.disclosure import TableSpec, _constraints, _pinned, check, protect, suppression_mask

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "config" / "config.yaml")
CAL = Calendar.from_config(CONFIG)
DVA_STATUS = pd.CategoricalDtype(social_care.STATUSES)
VSTATUS = pd.CategoricalDtype(STATUSES, ordered=True)

NAMES = list(a6.TABLES)


def with_threshold(config: dict, threshold: int) -> dict:
    out = copy.deepcopy(config)
    out["disclosure"]["threshold"] = threshold
    return out


def dates(values) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values)), dtype="datetime64[ns]")


# ---------------------------------------------------------------------------------------------
# hand-made derived data
# ---------------------------------------------------------------------------------------------

# (referral_id, child, referral_date, source, closure_date, status, 3A, 3B, 3C, rereferral)
# R01-R03 are before April 2013 (R01 in the history year); R14 is after the data end.
EPISODES = [
    ("R01", "A", "2011-06-01", "6", "2011-08-01", "not_collected", 0, 0, 0, False),
    ("R02", "B", "2012-09-10", "2A", "2012-12-01", "not_collected", 0, 0, 0, False),
    ("R03", "A", "2012-05-01", "6", "2012-07-01", "not_collected", 0, 0, 0, True),
    ("R04", "C", "2013-04-01", "6", "2013-10-01", "dva", 0, 1, 0, False),
    ("R05", "D", "2013-07-15", "3A", "2013-09-01", "not_dva", 0, 0, 0, False),
    ("R06", "C", "2014-02-01", "6", "2014-06-01", "dva", 1, 1, 0, True),
    ("R07", "E", "2014-05-01", "1C", "2014-06-01", "not_dva", 0, 0, 0, False),
    ("R08", "F", "2015-03-31", "5D", None, "dva", 0, 0, 1, False),
    ("R09", "C", "2015-06-01", "6", "2016-05-01", "dva", 0, 1, 0, False),
    ("R13", "F", "2016-02-01", "2B", "2016-03-01", "dva", 0, 1, 1, True),
    ("R10", "G", "2016-04-01", None, None, "not_dva", 0, 0, 0, False),
    ("R11", "C", "2016-06-01", "6", None, "pending", 0, 0, 0, False),
    ("R12", "D", "2017-01-10", "2A", None, "pending", 0, 0, 0, False),
    ("R15", "G", "2017-02-01", "8", None, "pending", 0, 0, 0, True),
    ("R14", "E", "2017-04-05", "6", None, "dva", 0, 1, 0, False),
]


def make_episodes(rows=EPISODES) -> pd.DataFrame:
    cols = list(zip(*rows))
    out = pd.DataFrame({
        "referral_id": pd.Series(cols[0], dtype="string"),
        "child_id": pd.Series(cols[1], dtype="string"),
        "referral_date": dates(cols[2]),
        "referral_source": pd.Series(cols[3], dtype="string"),
        "closure_date": dates(cols[4]),
        "family_id": pd.Series([f"F{c}" for c in cols[1]], dtype="string"),
        "rereferral": pd.Series(cols[9], dtype=bool),
        "f3A": pd.Series(cols[6], dtype=bool),
        "f3B": pd.Series(cols[7], dtype=bool),
        "f3C": pd.Series(cols[8], dtype=bool),
        "dva_status": pd.Series(cols[5], dtype=DVA_STATUS),
    })  # fmt: skip
    out["first_authorised"] = out["referral_date"]
    return out.sort_values("referral_date", kind="mergesort").reset_index(drop=True)


PLANS = [  # (plan_id, referral_id, start_date, category)
    ("P1", "R02", "2012-10-01", "NEG"),
    ("P2", "R02", "2013-05-01", "EMO"),  # its episode was assessed before factors
    ("P3", "R04", "2013-06-01", "EMO"),
    ("P4", "R05", "2013-08-01", "NEG"),
    ("P5", "R09", "2015-07-01", "MUL"),
    ("P6", "R11", "2016-09-01", "PHY"),
    ("P7", "R01", "2011-07-01", "NEG"),  # history year
]
LOOKED_AFTER = [  # (child_id, became_looked_after)
    ("B", "2012-11-01"),
    ("C", "2014-03-01"),  # R06 (DVA) open
    ("D", "2013-08-15"),  # R05 (not DVA) open
    ("C", "2013-10-01"),  # R04 closes that day: no open episode
    ("H", "2015-01-01"),  # no episodes at all
    ("G", "2016-05-01"),  # R10 (not DVA) open
    ("D", "2017-02-01"),  # R12 (pending) open
    ("F", "2016-02-15"),  # R08 and R13 (both DVA) open
    ("A", "2011-09-01"),  # history year
]
# (child, group, status_0, status_6, status_12); None = not observable yet.
COHORT = [
    ("K1", "dan", "none", "cin", "cin"),
    ("K2", "dan", "cin", "none", "none"),
    ("K3", "dan", "cin", "cp_plan", None),
    ("K4", "dan", "cp_plan", "cp_plan", "looked_after"),
    ("K5", "comparison", "cin", "cin", "cin"),
    ("K6", "comparison", "cin", "none", None),
    ("K7", "comparison", "none", None, None),
]


def make_cohort(rows=COHORT) -> pd.DataFrame:
    cols = list(zip(*rows))
    return pd.DataFrame({
        "child_id": pd.Series(cols[0], dtype="string"),
        "family_id": pd.Series([f"F{c}" for c in cols[0]], dtype="string"),
        "group": pd.Series(cols[1], dtype=pd.CategoricalDtype(GROUPS)),
        "index_date": dates(["2016-01-01"] * len(rows)),
        "status_0": pd.Series(cols[2], dtype=VSTATUS),
        "status_6": pd.Series(cols[3], dtype=VSTATUS),
        "status_12": pd.Series(cols[4], dtype=VSTATUS),
    })  # fmt: skip


def hand_inputs(episode_rows=EPISODES):
    eps = make_episodes(episode_rows)
    cols = list(zip(*PLANS))
    plans = pd.DataFrame({"plan_id": pd.Series(cols[0], dtype="string"),
                          "referral_id": pd.Series(cols[1], dtype="string"),
                          "start_date": dates(cols[2]), "end_date": dates([None] * len(PLANS)),
                          "category": pd.Series(cols[3], dtype="string")})  # fmt: skip
    cols = list(zip(*LOOKED_AFTER))
    la = pd.DataFrame({"child_id": pd.Series(cols[0], dtype="string"),
                       "became_looked_after": dates(cols[1])})  # fmt: skip
    marac = pd.DataFrame({"referral_date": dates([]), "repeat": pd.Series([], dtype=bool)})
    series = monthly_series(CAL, marac, eps, plans, la, 0.05)
    derived = {"episodes": eps, "monthly_series": series, "status_cohort": make_cohort()}
    return derived, {"cs_cp_plans": plans, "cs_looked_after": la}


@pytest.fixture(scope="module")
def exact() -> dict[str, Table]:
    """The hand tables without any suppression (threshold 0), so every count can be read."""
    derived, typed = hand_inputs()
    return {t.name: t for t in a6.tables(derived, typed, with_threshold(CONFIG, 0))}


def cells(table: Table, cols) -> dict:
    """{row label: [values of cols]} with NA as None, for comparing to hand counts."""
    frame = table.frame[list(cols)]
    return {r: [None if pd.isna(v) else float(v) for v in row]
            for r, row in zip(frame.index, frame.itertuples(index=False))}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# helpers and code lists
# ---------------------------------------------------------------------------------------------


def test_declared_names():
    assert len(a6.TABLES) == 10 and all(n.startswith("a6_") for n in a6.TABLES)
    assert a6.FIGURES == ("a6_factor_prevalence", "a6_status_step_rates")


def test_source_groups_cover_every_census_code_once():
    grouped = [c for cs in a6.SOURCE_GROUPS.values() for c in cs]
    assert sorted(grouped) == sorted(codes.REFERRAL_SOURCES)
    assert len(grouped) == len(set(grouped))
    assert grouped == list(codes.REFERRAL_SOURCES)  # census order


def test_hand_rereferral_flags_follow_the_12_month_rule():
    eps = make_episodes()
    gaps = days_since_previous(eps["referral_date"], eps["child_id"])
    assert list(within_window(gaps)) == list(eps["rereferral"])
    assert gaps[eps["referral_id"] == "R11"].item() == 366  # a leap year: not a re-referral


def test_financial_year_labels():
    got = financial_year(dates(["2013-03-31", "2013-04-01", "2017-03-31", "2000-01-15", None]))
    assert list(got[:4]) == ["2012-13", "2013-14", "2016-17", "1999-00"]
    assert pd.isna(got.iloc[4])
    assert a6._fy_order(CAL.data_start, CAL.data_end) == ["2012-13", "2013-14", "2014-15",
                                                          "2015-16", "2016-17"]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# hand counts
# ---------------------------------------------------------------------------------------------


def test_referrals_by_source_hand_counts(exact):
    t = exact["a6_referrals_by_source"]
    cols = ["DVA", "Not DVA", "Pending", "Total"]
    assert list(t.frame.columns[:4]) == cols  # no "Not collected" column: none occur
    got = cells(t, cols)
    # History and pre-April-2013 referrals (R01-R03) and R14 after the data end are left out:
    # otherwise Police would hold 6 referrals and Schools 2.
    assert got == {
        "Individual (1A-1D)": [0, 1, 0, 1],
        "Schools (2A)": [0, 0, 1, 1],
        "Education services (2B)": [1, 0, 0, 1],
        "Health (3A-3F)": [0, 1, 0, 1],  # source 3A (GP) is not factor 3A
        "Housing (4)": [0, 0, 0, 0],
        "LA services (5A-5D)": [1, 0, 0, 1],
        "Police (6)": [3, 0, 1, 4],
        "Other legal agency (7)": [0, 0, 0, 0],
        "Other (8)": [0, 0, 1, 1],
        "Anonymous (9)": [0, 0, 0, 0],
        "Unknown (10)": [0, 0, 0, 0],
        "Not recorded": [0, 1, 0, 1],
        "Total": [5, 3, 3, 11],
    }
    assert t.frame.at["Police (6)", "pct_dva_of_known"] == pytest.approx(100.0)
    assert t.frame.at["Total", "pct_dva_of_known"] == pytest.approx(62.5)  # 5 of 8 known
    assert np.isnan(t.frame.at["Housing (4)", "pct_dva_of_known"])  # 0/0 is undefined
    assert t.frame.at["Police (6)", "pct_of_referrals"] == pytest.approx(400 / 11)


def test_factor_prevalence_hand_counts(exact):
    t = exact["a6_factor_prevalence"]
    cols = ["referrals", "referrals_known", "pending", "3A", "3B", "3C", "any_dva"]
    assert cells(t, cols) == {
        "2013-14": [3, 3, 0, 1, 2, 0, 2],
        "2014-15": [2, 2, 0, 0, 0, 1, 1],
        "2015-16": [2, 2, 0, 0, 2, 1, 2],
        "2016-17": [4, 1, 3, 0, 0, 0, 0],
        "Total": [11, 8, 3, 1, 4, 2, 5],
    }
    assert "2012-13" not in t.frame.index  # factors were not collected then
    assert t.frame.at["2013-14", "pct_3B"] == pytest.approx(200 / 3)
    assert t.frame.at["2016-17", "pct_any_dva"] == pytest.approx(0.0)  # pending not in base
    assert t.frame.at["Total", "pct_any_dva"] == pytest.approx(62.5)
    assert any("several" in n for n in t.notes)


def test_dva_rereferrals_hand_counts(exact):
    t = exact["a6_dva_rereferrals"]
    cols = ["referrals", "rereferrals", "referrals_known", "pending", "dva_rereferrals",
            "pending_rereferrals"]  # fmt: skip
    assert cells(t, cols) == {
        "2012-13": [2, 1, None, None, None, None],  # R01 is in the history year
        "2013-14": [3, 1, 3, 0, 1, 0],
        "2014-15": [2, 0, 2, 0, 0, 0],
        "2015-16": [2, 1, 2, 0, 1, 0],
        "2016-17": [4, 1, 1, 3, 0, 1],
    }
    assert t.frame.at["2013-14", "rereferral_rate"] == pytest.approx(100 / 3)
    assert t.frame.at["2015-16", "dva_rereferral_rate"] == pytest.approx(50.0)
    assert t.frame.at["2016-17", "dva_rereferral_rate"] == pytest.approx(0.0)  # per known
    published = protect(t.frame, t.spec, 0)
    assert published.at["2012-13", "dva_rereferral_rate"] == ":"


def test_cin_dva_hand_counts(exact):
    t = exact["a6_cin_dva"]
    cols = ["referrals_known", "pending", "dva_referrals", "dva_open_31_march"]
    # Open DVA episodes at 31 March: 2014 R06; 2015 R08 (referred that day); 2016 R08 and
    # R09 (R13 closed on 1 March); 2017 R08.
    assert cells(t, cols) == {
        "2013-14": [3, 0, 2, 1],
        "2014-15": [2, 0, 1, 1],
        "2015-16": [2, 0, 2, 2],
        "2016-17": [1, 3, 0, 1],
    }
    assert t.frame.at["2013-14", "pct_dva_of_known"] == pytest.approx(200 / 3)


def test_cp_plans_hand_counts(exact):
    t = exact["a6_cp_plans"]
    cols = ["DVA", "Not DVA", "Pending", "Not collected", "Total"]
    # From April 2013 only: P1 (2012) and P7 (history) are left out; P2 belongs to an episode
    # assessed before factors were collected, so it is "Not collected", not "Not DVA".
    assert cells(t, cols) == {
        "Neglect (NEG)": [0, 1, 0, 0, 1],
        "Physical abuse (PHY)": [0, 0, 1, 0, 1],
        "Sexual abuse (SAB)": [0, 0, 0, 0, 0],
        "Emotional abuse (EMO)": [1, 0, 0, 1, 2],
        "Multiple categories (MUL)": [1, 0, 0, 0, 1],
        "Total": [2, 1, 1, 1, 5],
    }
    y = exact["a6_cp_plans_by_year"]
    cats = ["Neglect", "Physical abuse", "Sexual abuse", "Emotional abuse", "Multiple categories",
            "Total", "DVA", "Not DVA", "Pending", "Not collected"]  # fmt: skip
    assert cells(y, cats) == {
        "2012-13": [1, 0, 0, 0, 0, 1, None, None, None, None],
        "2013-14": [1, 0, 0, 2, 0, 3, 1, 1, 0, 1],
        "2014-15": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "2015-16": [0, 0, 0, 0, 1, 1, 1, 0, 0, 0],
        "2016-17": [0, 1, 0, 0, 0, 1, 0, 0, 1, 0],
        "Total": [2, 1, 0, 2, 1, 6, None, None, None, None],
    }


def test_looked_after_hand_counts(exact):
    t = exact["a6_looked_after"]
    cols = ["looked_after_starts", "dva_episode_open", "pending_episode_open",
            "not_collected_episode_open", "not_dva_episode_open", "no_open_episode"]  # fmt: skip
    assert cells(t, cols) == {
        "2012-13": [1, None, None, None, None, None],
        "2013-14": [3, 1, 0, 0, 1, 1],
        "2014-15": [1, 0, 0, 0, 0, 1],
        "2015-16": [1, 1, 0, 0, 0, 0],
        "2016-17": [2, 0, 1, 0, 1, 0],
        "Total": [8, None, None, None, None, None],
    }


def test_status_transitions_hand_counts(exact):
    t6 = exact["a6_status_transitions_6m"]
    cols = ["None", "Child in need", "CP plan", "Looked after", "Total"]
    assert cells(t6, cols) == {
        "DAN: None": [0, 1, 0, 0, 1],
        "DAN: Child in need": [1, 0, 1, 0, 2],
        "DAN: CP plan": [0, 0, 1, 0, 1],
        "DAN: Looked after": [0, 0, 0, 0, 0],
        "DAN: Total": [1, 1, 2, 0, 4],
        "Comparison: None": [0, 0, 0, 0, 0],  # K7 is not observable at 6 months
        "Comparison: Child in need": [1, 1, 0, 0, 2],
        "Comparison: CP plan": [0, 0, 0, 0, 0],
        "Comparison: Looked after": [0, 0, 0, 0, 0],
        "Comparison: Total": [1, 1, 0, 0, 2],
    }
    t12 = exact["a6_status_transitions_12m"]
    assert cells(t12, cols)["DAN: CP plan"] == [0, 0, 0, 1, 1]
    assert cells(t12, cols)["DAN: Total"] == [1, 1, 0, 1, 3]


def test_status_step_rates_hand_counts(exact):
    t = exact["a6_status_step_rates"]
    cols = ["children_in_group", "children_observed", "stepped_up", "stepped_down",
            "unchanged", "not_yet_observable"]  # fmt: skip
    assert cells(t, cols) == {
        "DAN, 6 months": [4, 4, 2, 1, 1, 0],
        "Comparison, 6 months": [3, 2, 0, 1, 1, 1],
        "DAN, 12 months": [4, 3, 2, 1, 0, 1],
        "Comparison, 12 months": [3, 1, 0, 0, 1, 2],
    }
    assert t.frame.at["DAN, 6 months", "pct_stepped_up"] == pytest.approx(50.0)
    assert t.frame.at["Comparison, 12 months", "pct_unchanged"] == pytest.approx(100.0)


def test_status_notes_state_what_the_comparison_cannot_show(exact):
    for name in ("a6_status_transitions_6m", "a6_status_transitions_12m",
                 "a6_status_step_rates"):  # fmt: skip
        text = " ".join(exact[name].notes)
        for phrase in (
            "not randomised",
            "selected differently",
            "index dates differ",
            "observable",
            "as recorded by children's social care",
            "no end dates",
            "descriptive, not an effect of the programme",
        ):
            assert phrase in text, (name, phrase)


def test_not_collected_status_gets_its_own_column():
    # An episode from April 2013 assessed without factor rows: its status is unknown, so it
    # must be shown apart, never folded into not DVA.
    rows = [*EPISODES, ("R20", "J", "2014-06-01", "4", "2014-08-01", "not_collected",
                        0, 0, 0, False)]  # fmt: skip
    derived, typed = hand_inputs(rows)
    tabs = {t.name: t for t in a6.tables(derived, typed, with_threshold(CONFIG, 0))}
    src = tabs["a6_referrals_by_source"].frame
    assert src.at["Housing (4)", "Not collected"] == 1
    assert src.at["Housing (4)", "Not DVA"] == 0
    assert src.at["Total", "Total"] == 12
    prev = tabs["a6_factor_prevalence"].frame
    assert prev.at["2014-15", "not_collected"] == 1
    assert prev.at["2014-15", "referrals_known"] == 2
    rer = tabs["a6_dva_rereferrals"].frame
    assert rer.at["2014-15", "not_collected"] == 1
    assert rer.at["2014-15", "referrals"] == 3


def test_unknown_referral_source_is_an_error():
    derived, typed = hand_inputs()
    derived["episodes"].loc[5, "referral_source"] = "3G"
    with pytest.raises(ValueError, match="3G"):
        a6.tables(derived, typed, CONFIG)


# ---------------------------------------------------------------------------------------------
# disclosure control
# ---------------------------------------------------------------------------------------------


def assert_publishable(tabs: list[Table], threshold: int) -> None:
    assert [t.name for t in tabs] == NAMES
    for t in tabs:
        assert t.appendix == "6" and t.title and t.caption and t.notes
        assert all(isinstance(r, str) for r in t.frame.index), t.name
        published = protect(t.frame, t.spec, threshold)
        assert check(published, t.spec, threshold) == [], t.name


def test_hand_tables_pass_disclosure_check():
    derived, typed = hand_inputs()
    tabs = a6.tables(derived, typed, CONFIG)
    assert_publishable(tabs, CONFIG["disclosure"]["threshold"])
    # Tiny counts: the step rates of the DAN group at 6 months (4 children) are suppressed.
    published = protect(tabs[-1].frame, tabs[-1].spec)
    assert published.at["DAN, 6 months", "stepped_up"] == "c"


def linked_problems(tabs: list[Table], threshold: int) -> list:
    """Suppressed cells that the published tables determine together, by disclosure._pinned,
    with the cohort links derived here independently of the module."""
    by_name = {t.name: t for t in tabs}
    shown = {t.name: protect(t.frame, t.spec, threshold) for t in tabs}
    cons = [tuple((t.name, *k) for k in con) for t in tabs
            for con in _constraints(t.spec, t.frame.index)]  # fmt: skip
    cons += a6._links(by_name)
    labels = ["None", "Child in need", "CP plan", "Looked after"]
    for h in (6, 12):
        tr = f"a6_status_transitions_{h}m"
        for g in ("DAN", "Comparison"):
            row = ("a6_status_step_rates", f"{g}, {h} months")
            up = [(tr, f"{g}: {labels[i]}", labels[j]) for i in range(4) for j in range(i + 1, 4)]
            down = [(tr, f"{g}: {labels[i]}", labels[j]) for i in range(4) for j in range(i)]
            same = [(tr, f"{g}: {x}", x) for x in labels]
            cons += [((*row, "stepped_up"), *up), ((*row, "stepped_down"), *down),
                     ((*row, "unchanged"), *same)]  # fmt: skip
    keys = dict.fromkeys(k for con in cons for k in con)
    texts = {k: str(shown[k[0]].at[k[1], k[2]]) for k in keys}
    hidden = {k for k, v in texts.items() if v == "c"}
    values = {k: np.nan if v == ":" else 0.0 for k, v in texts.items()}
    assert all(k[0] in by_name for k in keys)
    return _pinned(cons, values, hidden)


def test_hand_tables_disclose_nothing_together():
    derived, typed = hand_inputs()
    assert linked_problems(a6.tables(derived, typed, CONFIG), 5) == []


def test_protect_linked_withholds_a_count_that_another_table_gives_away():
    # Table a: 2 + 30 = 32 suppresses 2 and 30. Table b shows the 30 as its own count.
    spec_a = TableSpec(counts=("x", "y", "Total"), column_totals=(("Total", ("x", "y")),))
    a = Table("a", "6", "a", "a", pd.DataFrame({"x": [2], "y": [30], "Total": [32]}, index=["r"]),
              spec_a)  # fmt: skip
    spec_b = TableSpec(counts=("y",))
    b = Table("b", "6", "b", "b", pd.DataFrame({"y": [30]}, index=["r"]), spec_b)
    link = [(("a", "r", "y"), ("b", "r", "y"))]
    assert check(protect(a.frame, spec_a), spec_a) == []  # each table alone is fine
    assert check(protect(b.frame, spec_b), spec_b) == []
    out = a6.protect_linked([a, b], link, 5)
    shown = {t.name: protect(t.frame, t.spec) for t in out}
    assert shown["a"].at["r", "x"] == "c"
    assert shown["b"].at["r", "y"] == "c"  # withheld: 32 - 30 would give the 2 away
    assert a6.WITHHELD_NOTE in out[1].notes and a6.WITHHELD_NOTE not in out[0].notes
    # b is a headline table and its count is the same cell as a's: it has to go all the same.
    out = a6.protect_linked([a, b], link, 5, headline=("b",))
    assert protect(out[1].frame, out[1].spec).at["r", "y"] == "c"


def test_protect_linked_spares_headline_tables_when_it_can():
    # a: 2 + 30 + 40 = 72 (2 and 30 suppressed); headline b shows w = y + z = 70, which gives
    # y = 30 and x = 72 - 70 = 2 away. Withholding a's counts alone can protect both.
    spec_a = TableSpec(counts=("x", "y", "z", "Total"),
                       column_totals=(("Total", ("x", "y", "z")),))  # fmt: skip
    a = Table("a", "6", "a", "a", pd.DataFrame({"x": [2], "y": [30], "z": [40], "Total": [72]},
                                               index=["r"]), spec_a)  # fmt: skip
    spec_b = TableSpec(counts=("w",))
    b = Table("b", "6", "b", "b", pd.DataFrame({"w": [70]}, index=["r"]), spec_b)
    link = [(("b", "r", "w"), ("a", "r", "y"), ("a", "r", "z"))]
    out = a6.protect_linked([a, b], link, 5, headline=("b",))
    shown_a, shown_b = (protect(t.frame, t.spec) for t in out)
    assert shown_b.at["r", "w"] == 70
    assert shown_a.at["r", "x"] == "c"
    assert shown_a.at["r", "Total"] == "c"  # else 72 - 70 = 2
    assert check(shown_a, spec_a) == []


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def test_figures_leave_out_suppressed_values():
    derived, typed = hand_inputs()
    tabs = {t.name: t for t in a6.tables(derived, typed, CONFIG)}
    figs = a6.figures(derived, typed, CONFIG)
    try:
        assert [f.name for f in figs] == list(a6.FIGURES)
        assert all(isinstance(f, Figure) and f.appendix == "6" for f in figs)
        prev = tabs["a6_factor_prevalence"]
        mask = suppression_mask(prev.frame, prev.spec, 5)
        ax = figs[0].figure.axes[0]
        for line in ax.lines:
            code = "any_dva" if line.get_label().startswith("Any") else line.get_label()[:2]
            hidden = mask[f"pct_{code}"].drop("Total").to_numpy()
            assert hidden.any()  # tiny counts: something is suppressed
            assert np.isnan(line.get_ydata()[hidden]).all()
        # Every step rate of the tiny cohort is suppressed: no bar may be drawn.
        assert sum(len(a.patches) for a in figs[1].figure.axes) == 0
        assert [t.get_text() for a in figs[1].figure.axes for t in a.texts] == ["c"] * 8
        for f in figs:
            for a in f.figure.axes:
                assert a.get_title() and "%" in a.get_ylabel() and a.get_xlabel()
    finally:
        for f in figs:
            plt.close(f.figure)


# ---------------------------------------------------------------------------------------------
# the default synthetic authority
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(pipeline):
    derived, typed, config = pipeline["derived"], pipeline["typed"], pipeline["config"]
    return derived, typed, config, a6.tables(derived, typed, config)


def test_synthetic_tables_build_and_pass_check(synthetic):
    *_, config, tabs = synthetic
    assert_publishable(tabs, config["disclosure"]["threshold"])


def test_synthetic_tables_disclose_nothing_together(synthetic):
    *_, config, tabs = synthetic
    assert linked_problems(tabs, config["disclosure"]["threshold"]) == []


def test_synthetic_referrals_by_source_sum_to_all_referrals(synthetic):
    derived, _, config, tabs = synthetic
    cal = Calendar.from_config(config)
    src = tabs[0].frame
    eps = derived["episodes"]
    n = int(eps["referral_date"].between(pd.Timestamp("2013-04-01"), cal.data_end).sum())
    series = derived["monthly_series"]
    from_series = int(series.loc[series["month"] >= "2013-04", "referrals"].sum())
    assert int(src.at["Total", "Total"]) == n == from_series
    parts = [c for c in src.columns if c in ("DVA", "Not DVA", "Pending", "Not collected")]
    assert int(src.loc["Total", parts].sum()) == n
    assert int(src.drop(index="Total")["Total"].sum()) == n


def test_synthetic_tables_agree_with_each_other(synthetic):
    *_, tabs = synthetic
    t = {x.name: x.frame for x in tabs}
    prev, rer, cin = t["a6_factor_prevalence"], t["a6_dva_rereferrals"], t["a6_cin_dva"]
    for y in cin.index:
        for col in ("referrals", "referrals_known", "pending"):
            vals = {int(v) for v in (prev.at[y, col], rer.at[y, col], cin.at[y, col])
                    if pd.notna(v)}  # fmt: skip
            assert len(vals) == 1, (y, col)
    src = t["a6_referrals_by_source"]
    assert src.at["Total", "Pending"] == prev.at["Total", "pending"]


def test_synthetic_figures_build(synthetic):
    derived, typed, config, _ = synthetic
    figs = a6.figures(derived, typed, config)
    try:
        assert [f.name for f in figs] == list(a6.FIGURES)
        assert len(figs[0].figure.axes[0].lines) == 4
        assert all(f.caption and f.title for f in figs)
    finally:
        for f in figs:
            plt.close(f.figure)
