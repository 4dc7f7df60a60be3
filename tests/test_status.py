"""Vulnerability status, the DAN and comparison cohort, transitions and step rates, checked on
tiny hand-made tables against hand-worked expectations, plus a smoke test on the default synthetic authority."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gf_eval.config import Calendar
from gf_eval.derive import social_care
from gf_eval.derive.status import STATUSES, cohort, status_at, step_rates, transitions

DVA_STATUS = pd.CategoricalDtype(social_care.STATUSES)


def dates(*values) -> pd.Series:
    """Dates as the validated tables hold them (datetime64[ns], NaT for None)."""
    return pd.Series(pd.to_datetime(list(values)), dtype="datetime64[ns]")


def ids(*values) -> pd.Series:
    return pd.Series(list(values), dtype="string")


def make_episodes(rows) -> pd.DataFrame:
    """Episodes shaped like social_care.episodes: (referral_id, child_id, family_id,
    referral_date, closure_date, dva_status, first_authorised)."""
    cols = list(zip(*rows))
    return pd.DataFrame(
        {
            "referral_id": ids(*cols[0]),
            "child_id": ids(*cols[1]),
            "family_id": ids(*cols[2]),
            "referral_date": dates(*cols[3]),
            "closure_date": dates(*cols[4]),
            "dva_status": pd.Series(cols[5], dtype=DVA_STATUS),
            "first_authorised": dates(*cols[6]),
        }
    )


def make_plans(rows) -> pd.DataFrame:
    cols = list(zip(*rows)) if rows else [[], [], [], []]
    return pd.DataFrame(
        {
            "plan_id": ids(*cols[0]),
            "referral_id": ids(*cols[1]),
            "start_date": dates(*cols[2]),
            "end_date": dates(*cols[3]),
            "category": ids(*["NEG"] * len(cols[0])),
        }
    )


def make_looked_after(rows) -> pd.DataFrame:
    cols = list(zip(*rows)) if rows else [[], []]
    return pd.DataFrame({"child_id": ids(*cols[0]), "became_looked_after": dates(*cols[1])})


# ---------------------------------------------------------------------------------------------
# status on a date
# ---------------------------------------------------------------------------------------------

# A: episode 10 Jan - 30 Jun 2015 with a plan 1 Mar - 1 May and a looked-after start 1 Apr.
# B: open episode from 1 Feb 2015, looked-after start in Dec 2014 before any episode.
# C: episode closed 1 Oct 2015, looked-after start 1 Jan 2016 after it closed.
# E: an old closed episode and a later open one.  D: no episodes.
STATUS_EPISODES = make_episodes(
    [
        ("R1", "A", "FA", "2015-01-10", "2015-06-30", "not_dva", "2015-02-01"),
        ("R2", "B", "FB", "2015-02-01", None, "not_dva", "2015-03-01"),
        ("R3", "C", "FC", "2015-01-01", "2015-10-01", "not_dva", "2015-02-01"),
        ("R4", "E", "FE", "2014-01-01", "2014-06-01", "not_dva", "2014-02-01"),
        ("R5", "E", "FE", "2015-01-01", None, "not_dva", None),
    ]
)
STATUS_PLANS = make_plans(
    [("P1", "R1", "2015-03-01", "2015-05-01"), ("P2", "R2", "2015-04-01", None)]
)
STATUS_LA = make_looked_after([("A", "2015-04-01"), ("B", "2014-12-01"), ("C", "2016-01-01")])

STATUS_CASES = [
    ("A", "2015-01-09", "none"),  # the day before the referral
    ("A", "2015-01-10", "cin"),  # the referral date itself: open
    ("A", "2015-02-28", "cin"),
    ("A", "2015-03-01", "cp_plan"),  # the plan's start date counts
    ("A", "2015-04-01", "looked_after"),  # on a plan and looked after: looked_after wins
    ("A", "2015-05-01", "looked_after"),  # plan ended that day, still looked after
    ("A", "2015-06-29", "looked_after"),
    ("A", "2015-06-30", "none"),  # the closure date: no longer open, looked-after ends too
    ("A", "2015-07-15", "none"),
    ("B", "2015-03-01", "cin"),  # looked-after start before the episode does not count
    ("B", "2015-04-01", "cp_plan"),
    ("B", "2016-12-31", "cp_plan"),  # open plan of an open episode
    ("C", "2015-09-30", "cin"),
    ("C", "2016-02-01", "none"),  # looked-after start outside any open episode
    ("E", "2014-08-01", "none"),  # between episodes
    ("E", "2015-02-01", "cin"),
    ("D", "2015-04-01", "none"),  # no episodes at all
]


def test_status_at_matches_hand_worked_statuses():
    child, day, expected = zip(*STATUS_CASES)
    got = status_at(ids(*child), dates(*day), STATUS_EPISODES, STATUS_PLANS, STATUS_LA)
    assert list(got.astype(str)) == list(expected)


def test_status_at_is_ordered_categorical_keeping_the_index():
    child = pd.Series(["A", "A", "D"], index=[10, 20, 30], dtype="string")
    got = status_at(child, dates("2015-04-01", "2015-03-01", "2015-04-01"),
                    STATUS_EPISODES, STATUS_PLANS, STATUS_LA)  # fmt: skip
    assert list(got.index) == [10, 20, 30]
    assert got.dtype == pd.CategoricalDtype(STATUSES, ordered=True)
    assert list(got.astype(str)) == ["looked_after", "cp_plan", "none"]
    assert got.max() == "looked_after"  # ordered: max is the most intensive
    assert (got > "none").tolist() == [True, True, False]


def test_status_at_missing_date_is_missing_not_none():
    got = status_at(ids("A", "D"), dates(None, "2015-04-01"),
                    STATUS_EPISODES, STATUS_PLANS, STATUS_LA)  # fmt: skip
    assert pd.isna(got.iloc[0])
    assert got.iloc[1] == "none"


def test_status_at_plan_alone_without_looked_after():
    # Without the looked-after start, A on 1 Apr is on a plan: the hierarchy, one level down.
    got = status_at(ids("A"), dates("2015-04-01"), STATUS_EPISODES, STATUS_PLANS,
                    make_looked_after([]))  # fmt: skip
    assert got.iloc[0] == "cp_plan"


# ---------------------------------------------------------------------------------------------
# cohort
# ---------------------------------------------------------------------------------------------

CAL = Calendar(
    history_start=pd.Timestamp("2011-04-01"),
    data_start=pd.Timestamp("2012-04-01"),
    data_end=pd.Timestamp("2016-12-31"),
    intervention_start=pd.Timestamp("2015-09-01"),
    funding_end=pd.Timestamp("2016-06-30"),
)

COHORT_CHILDREN = pd.DataFrame(
    {
        "child_id": ids("K1", "K2", "K3", "K4", "K5", "K6", "K7", "K8", "K9", "K10", "K11"),
        "family_id": ids("F1", "F1", "F2", "F3", "F3", "F4", "F5", "F6", "F7", "F8", "F9"),
        "gender": ids(*["1"] * 11),
        "ethnicity": ids(*["WBRI"] * 11),
    }
)
COHORT_CASEWORK = pd.DataFrame(
    {
        "case_id": ids("DC1", "DC2", "DC3"),
        "family_id": ids("F1", "F1", "F2"),
        "allocation_date": dates("2016-02-10", "2015-10-05", "2016-09-15"),
        "closure_date": dates("2016-06-01", "2016-01-10", None),
    }
)
COHORT_EPISODES = make_episodes(
    [
        # F1 is a casework family, so its in-window DVA episode must not make it a comparison.
        ("R1", "K1", "F1", "2015-09-20", None, "dva", "2015-10-01"),
        ("R3", "K3", "F2", "2016-08-01", None, "not_dva", None),
        # F3: two DVA episodes in the window; the earlier authorisation is the index date.
        ("R4", "K4", "F3", "2016-01-02", "2016-05-01", "dva", "2016-01-20"),
        ("R5", "K4", "F3", "2016-02-15", None, "dva", "2016-03-10"),
        ("R6", "K6", "F4", "2015-05-01", "2015-12-01", "dva", "2015-06-01"),  # before window
        ("R7", "K7", "F5", "2016-07-01", None, "dva", "2016-08-01"),  # after funding_end
        ("R8", "K8", "F6", "2016-01-01", None, "not_dva", "2016-02-01"),  # not DVA
        ("R9", "K9", "F7", "2015-08-01", "2015-12-01", "dva", "2015-09-01"),  # first day
        ("R10", "K10", "F8", "2016-06-01", None, "dva", "2016-06-30"),  # last day
        # F9: DVA known before the window and again inside it: indexed on the one inside.
        ("R11", "K11", "F9", "2015-01-01", "2015-04-01", "dva", "2015-03-01"),
        ("R12", "K11", "F9", "2016-01-15", "2016-05-01", "dva", "2016-02-01"),
    ]
)
COHORT_PLANS = make_plans(
    [("P1", "R1", "2016-03-01", None), ("P2", "R10", "2016-06-30", "2016-11-01")]
)
COHORT_LA = make_looked_after([("K4", "2016-06-01")])

NA = None
# child, family, group, index date, status at 0, 6 and 12 months (None: not observable).
COHORT_EXPECTED = [
    ("K1", "F1", "dan", "2015-10-05", "cin", "cp_plan", "cp_plan"),
    ("K2", "F1", "dan", "2015-10-05", "none", "none", "none"),
    ("K3", "F2", "dan", "2016-09-15", "cin", NA, NA),
    ("K9", "F7", "comparison", "2015-09-01", "cin", "none", "none"),
    ("K4", "F3", "comparison", "2016-01-20", "cin", "looked_after", NA),
    ("K5", "F3", "comparison", "2016-01-20", "none", "none", NA),
    ("K11", "F9", "comparison", "2016-02-01", "cin", "none", NA),
    ("K10", "F8", "comparison", "2016-06-30", "cp_plan", "cin", NA),
]


@pytest.fixture(scope="module")
def small_cohort() -> pd.DataFrame:
    return cohort(COHORT_CASEWORK, COHORT_CHILDREN, COHORT_EPISODES, COHORT_PLANS, COHORT_LA, CAL)


def test_cohort_columns_and_groups(small_cohort):
    expected = ["child_id", "family_id", "group", "index_date", "status_0", "status_6",
                "status_12"]  # fmt: skip
    assert list(small_cohort.columns) == expected
    assert small_cohort["child_id"].is_unique


def test_cohort_matches_hand_worked_rows(small_cohort):
    got = small_cohort.set_index("child_id")
    assert sorted(got.index) == sorted(row[0] for row in COHORT_EXPECTED)
    for child, family, group, index_date, *status in COHORT_EXPECTED:
        row = got.loc[child]
        assert (row["family_id"], row["group"]) == (family, group), child
        assert row["index_date"] == pd.Timestamp(index_date), child
        for h, want in zip((0, 6, 12), status):
            value = row[f"status_{h}"]
            assert (pd.isna(value) if want is None else value == want), (child, h, value)


def test_cohort_horizon_beyond_data_end_is_missing(small_cohort):
    got = small_cohort.set_index("child_id")
    # 15 Sep 2016 + 6 months is after 31 Dec 2016; 30 Jun + 6 months (30 Dec) is not.
    assert got.loc["K3", ["status_6", "status_12"]].isna().all()
    assert got.loc["K10", "status_6"] == "cin"
    assert pd.isna(got.loc["K10", "status_12"])
    assert "none" in set(got["status_12"].dropna())  # missing is distinct from "none"


def test_comparison_excludes_casework_and_out_of_window_families(small_cohort):
    comparison = set(small_cohort.loc[small_cohort["group"] == "comparison", "family_id"])
    assert comparison == {"F3", "F7", "F8", "F9"}
    assert "F1" not in comparison  # casework family with an in-window DVA episode
    assert not {"F4", "F5", "F6"} & set(small_cohort["family_id"])


def test_cohort_custom_horizons():
    got = cohort(COHORT_CASEWORK, COHORT_CHILDREN, COHORT_EPISODES, COHORT_PLANS, COHORT_LA,
                 CAL, horizons=(3,))  # fmt: skip
    assert [c for c in got.columns if c.startswith("status_")] == ["status_0", "status_3"]
    # K10: 30 Jun 2016 + 3 months = 30 Sep, still on the plan.
    assert got.set_index("child_id").loc["K10", "status_3"] == "cp_plan"


# ---------------------------------------------------------------------------------------------
# transitions and step rates
# ---------------------------------------------------------------------------------------------


def test_transitions_match_hand_counts(small_cohort):
    got = transitions(small_cohort, 6)
    assert list(got.columns) == ["group", "status_at_index", "status_after", "children"]
    assert len(got) == 2 * 4 * 4  # every combination, zeros included
    counts = {
        (g, a, b): n
        for g, a, b, n in got.astype({"group": str, "status_at_index": str,
                                      "status_after": str}).itertuples(index=False)
    }  # fmt: skip
    nonzero = {k: v for k, v in counts.items() if v}
    assert nonzero == {
        ("dan", "cin", "cp_plan"): 1,  # K1 (K3 not observed)
        ("dan", "none", "none"): 1,  # K2
        ("comparison", "cin", "looked_after"): 1,  # K4
        ("comparison", "none", "none"): 1,  # K5
        ("comparison", "cin", "none"): 2,  # K9, K11
        ("comparison", "cp_plan", "cin"): 1,  # K10
    }
    assert counts[("comparison", "looked_after", "looked_after")] == 0


def test_transitions_at_12_months_count_only_observed(small_cohort):
    got = transitions(small_cohort, 12)
    by_group = got.groupby("group", observed=False)["children"].sum()
    assert by_group.to_dict() == {"dan": 2, "comparison": 1}


def rate_rows(table: pd.DataFrame) -> dict:
    cols = ["children", "stepped_up", "stepped_down", "unchanged", "children_not_observed"]
    return {
        (str(r.group), str(r.status_at_index)): tuple(int(getattr(r, c)) for c in cols)
        for r in table.itertuples(index=False)
    }


def test_step_rates_match_hand_counts(small_cohort):
    got = step_rates(small_cohort, 6)
    assert list(got.columns) == [
        "group", "status_at_index", "children", "stepped_up", "stepped_down", "unchanged",
        "pct_stepped_up", "pct_stepped_down", "pct_unchanged", "children_not_observed",
    ]  # fmt: skip
    assert len(got) == 2 * 5
    # (children, up, down, unchanged, not observed)
    assert rate_rows(got) == {
        ("dan", "all"): (2, 1, 0, 1, 1),
        ("dan", "none"): (1, 0, 0, 1, 0),
        ("dan", "cin"): (1, 1, 0, 0, 1),
        ("dan", "cp_plan"): (0, 0, 0, 0, 0),
        ("dan", "looked_after"): (0, 0, 0, 0, 0),
        ("comparison", "all"): (5, 1, 3, 1, 0),
        ("comparison", "none"): (1, 0, 0, 1, 0),
        ("comparison", "cin"): (3, 1, 2, 0, 0),
        ("comparison", "cp_plan"): (1, 0, 1, 0, 0),
        ("comparison", "looked_after"): (0, 0, 0, 0, 0),
    }
    row = got[(got["group"] == "comparison") & (got["status_at_index"] == "all")].iloc[0]
    assert row["pct_stepped_up"] == pytest.approx(20.0)
    assert row["pct_stepped_down"] == pytest.approx(60.0)
    assert row["pct_unchanged"] == pytest.approx(20.0)
    empty = got[(got["group"] == "dan") & (got["status_at_index"] == "cp_plan")].iloc[0]
    assert np.isnan(empty["pct_stepped_up"])  # no children: undefined, not 0%


def test_step_rates_at_12_months(small_cohort):
    got = rate_rows(step_rates(small_cohort, 12))
    assert got[("dan", "all")] == (2, 1, 0, 1, 1)
    assert got[("comparison", "all")] == (1, 0, 1, 0, 4)
    assert got[("comparison", "cin")] == (1, 0, 1, 0, 2)  # K9 down; K4, K11 not observed


def test_unknown_horizon_is_an_error(small_cohort):
    with pytest.raises(KeyError):
        step_rates(small_cohort, 24)


# ---------------------------------------------------------------------------------------------
# smoke test on the interim tables
# ---------------------------------------------------------------------------------------------

TABLES = ("cs_children", "cs_referrals", "cs_assessments", "cs_factors", "cs_cp_plans",
          "cs_looked_after", "casework")  # fmt: skip


@pytest.fixture(scope="module")
def interim_cohort(pipeline):
    """The default synthetic authority's validated tables and its status cohort."""
    t = {name: pipeline["typed"][name] for name in TABLES}
    return t, pipeline["derived"]["status_cohort"]


def test_interim_cohort_smoke(interim_cohort):
    t, got = interim_cohort
    casework_children = t["cs_children"].loc[
        t["cs_children"]["family_id"].isin(t["casework"]["family_id"]), "child_id"
    ]
    dan = got.loc[got["group"] == "dan", "child_id"]
    assert set(casework_children) <= set(dan)
    assert got["child_id"].is_unique
    for col in ("status_0", "status_6", "status_12"):
        assert set(got[col].dropna().astype(str)) <= set(STATUSES)
    for h in (6, 12):
        rates = step_rates(got, h)
        total = rates["stepped_up"] + rates["stepped_down"] + rates["unchanged"]
        assert (total == rates["children"]).all()
        moves = transitions(got, h).groupby("group", observed=False)["children"].sum()
        overall = rates[rates["status_at_index"] == "all"].set_index("group")["children"]
        assert moves.to_dict() == overall.to_dict()
