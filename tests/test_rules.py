"""The 12-month repeat MARAC and re-referral rules against hand-made examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gf_eval.derive.marac import marac_cases, repeat_reconciliation
from gf_eval.derive.rules import days_since_previous
from gf_eval.derive.series import _open_at, _per_month
from gf_eval.derive.social_care import episodes


def _cases(rows):
    df = pd.DataFrame(rows, columns=["case_id", "victim_key", "perpetrator_key", "referral_date",
                                     "coordinator_repeat"])  # fmt: skip
    df["referral_date"] = pd.to_datetime(df["referral_date"])
    df["coordinator_repeat"] = df["coordinator_repeat"].astype("boolean")
    return df


# 2015-03-01 + 365 days = 2016-02-29 (2016 is a leap year); + 366 days = 2016-03-01.
MARAC = _cases([
    ("c1", "V1", "P1", "2015-03-01", False),  # first referral of the pair
    ("c2", "V1", "P1", "2016-02-29", True),   # exactly 365 days after c1: a repeat
    ("c3", "V1", "P1", "2017-03-01", True),   # 366 days after c2: a new case (flag disagrees)
    ("c4", "V1", "P2", "2017-03-02", False),  # same victim, new perpetrator: not a repeat
    ("c5", "V2", "P3", "2015-01-01", False),
    ("c6", "V2", "P3", "2015-01-01", False),  # the same day: a repeat (gap 0; flag disagrees)
    ("c7", "V2", "P3", "2015-12-31", False),  # 364 days after c6: a repeat (flag disagrees)
    ("c8", "V3", "P4", "2014-01-01", False),
    ("c9", "V3", "P4", "2015-01-02", False),  # 366 days: not a repeat
])  # fmt: skip
EXPECTED_REPEAT = {"c1": False, "c2": True, "c3": False, "c4": False, "c5": False, "c6": True,
                   "c7": True, "c8": False, "c9": False}  # fmt: skip
EXPECTED_GAP = {"c2": 365, "c3": 366, "c6": 0, "c7": 364, "c9": 366}


def test_repeat_rule_matches_the_hand_made_example():
    out = marac_cases(MARAC).set_index("case_id")
    assert out["repeat"].to_dict() == EXPECTED_REPEAT
    gaps = out["gap_days"].dropna().astype(int).to_dict()
    assert gaps == EXPECTED_GAP


def test_repeat_rule_does_not_depend_on_row_order():
    shuffled = MARAC.sample(frac=1, random_state=3)
    out = marac_cases(shuffled).set_index("case_id")
    assert out["repeat"].to_dict() == EXPECTED_REPEAT


def test_reconciliation_counts_the_disagreements_by_hand():
    table = repeat_reconciliation(marac_cases(MARAC), pd.Timestamp("2010-01-01"))
    table = table.set_index("gap_since_previous_referral")
    # first referrals: c1, c4, c5, c8 -- all flagged N, no disagreement
    assert table.loc["first referral of the pair", ["cases", "disagree"]].tolist() == [4, 0]
    # 0-365 days: c2 (flag Y), c6 (N), c7 (N) -> rule repeats 3, 2 not flagged
    assert table.loc["0-365 days"].drop("cases").to_dict() == {
        "rule_repeat": 3, "coordinator_repeat": 1, "flagged_not_rule": 0,
        "rule_not_flagged": 2, "disagree": 2}  # fmt: skip
    # 366-400 days: c3 (flag Y), c9 (N) -> one flagged that the rule does not count
    assert table.loc["366-400 days", ["cases", "flagged_not_rule", "disagree"]].tolist() == [2, 1, 1]
    assert table["cases"].sum() == len(MARAC)


def _social(referrals, assessments=(), factors=()):
    refs = pd.DataFrame(referrals, columns=["referral_id", "child_id", "referral_date",
                                            "closure_date"])  # fmt: skip
    for col in ("referral_date", "closure_date"):
        refs[col] = pd.to_datetime(refs[col])
    children = pd.DataFrame({"child_id": refs["child_id"].unique()})
    children["family_id"] = "F" + children["child_id"]
    ass = pd.DataFrame(list(assessments), columns=["assessment_id", "referral_id",
                                                   "authorised_date"])  # fmt: skip
    ass["authorised_date"] = pd.to_datetime(ass["authorised_date"])
    fac = pd.DataFrame(list(factors), columns=["assessment_id", "factor"])
    return episodes(refs, children, ass, fac).set_index("referral_id")


def test_rereferral_rule_matches_the_hand_made_example():
    out = _social([
        ("r1", "K1", "2015-03-01", "2015-04-01"),
        ("r2", "K1", "2016-02-29", "2016-03-10"),  # 365 days after r1: a re-referral
        ("r3", "K1", "2017-03-01", None),          # 366 days after r2: not
        ("r4", "K2", "2016-02-29", "2016-03-01"),  # another child, same day: not
        ("r5", "K2", "2016-03-01", None),          # 1 day after r4: a re-referral
    ])  # fmt: skip
    assert out["rereferral"].to_dict() == {"r1": False, "r2": True, "r3": False, "r4": False,
                                           "r5": True}  # fmt: skip
    assert out.loc["r3", "gap_days"] == 366


def test_dva_status_of_each_kind_of_episode():
    out = _social(
        [
            ("r1", "K1", "2015-01-05", "2015-03-01"),  # assessed, 3B -> dva
            ("r2", "K2", "2015-01-05", "2015-03-01"),  # assessed, factor 21 -> not_dva
            ("r3", "K3", "2015-01-05", "2015-01-07"),  # closed, never assessed -> not_dva
            ("r4", "K4", "2017-03-20", None),          # open, not yet assessed -> pending
            ("r5", "K5", "2013-01-05", "2013-03-01"),  # assessed before April 2013 -> not_collected
            ("r6", "K6", "2016-01-05", None),          # 1st assessment 4B, 2nd 3C -> dva
        ],
        assessments=[("a1", "r1", "2015-02-01"), ("a2", "r2", "2015-02-01"),
                     ("a5", "r5", "2013-02-01"), ("a6", "r6", "2016-02-01"),
                     ("a7", "r6", "2016-06-01"), ("a4", "r4", None)],
        factors=[("a1", "3B"), ("a1", "4B"), ("a2", "21"), ("a6", "4B"), ("a7", "3C")],
    )  # fmt: skip
    assert out["dva_status"].astype(str).to_dict() == {
        "r1": "dva", "r2": "not_dva", "r3": "not_dva", "r4": "pending", "r5": "not_collected",
        "r6": "dva"}  # fmt: skip
    assert out.loc["r6", ["f3A", "f3B", "f3C"]].tolist() == [False, False, True]
    assert out.loc["r1", "first_authorised"] == pd.Timestamp("2015-02-01")


@pytest.mark.parametrize("gap, expected", [(0, True), (364, True), (365, True), (366, False)])
def test_window_edges(gap, expected):
    start = pd.Timestamp("2014-06-15")
    cases = _cases([("a", "V", "P", start, False), ("b", "V", "P", start + pd.Timedelta(days=gap),
                                                     False)])  # fmt: skip
    assert bool(marac_cases(cases).set_index("case_id").loc["b", "repeat"]) is expected


def _gaps_by_sorting(dates: pd.Series, keys) -> pd.Series:
    """days_since_previous as it was: sort by the keys' text, then shift within each key."""
    frame = pd.DataFrame(keys).reset_index(drop=True)
    key_cols = list(frame.columns)
    frame["_date"] = pd.to_datetime(dates).to_numpy()
    frame["_pos"] = range(len(frame))
    ordered = frame.sort_values([*key_cols, "_date", "_pos"], kind="mergesort")
    previous = ordered.groupby(key_cols, sort=False, dropna=False)["_date"].shift()
    gap = (ordered["_date"] - previous).dt.days.astype("Int64")
    return gap.sort_index().set_axis(dates.index)


@pytest.mark.parametrize("n", [0, 1, 2, 500])
def test_gaps_are_those_of_sorting_the_keys(n):
    rng = np.random.default_rng(n)
    days = pd.Series(pd.to_datetime("2012-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
                     index=rng.permutation(n) + 10)  # fmt: skip
    a = pd.array(rng.choice(["V1", "V2", "V10", "é"], n), dtype="str")
    b = pd.Series(rng.choice(["P1", "P2", None], n), dtype="str", index=days.index)
    a[rng.random(n) < 0.1] = pd.NA  # a missing key is a key too
    for keys in (pd.Series(a, index=days.index), pd.DataFrame({"a": a, "b": b}, index=days.index)):
        got = days_since_previous(days, keys)
        pd.testing.assert_series_equal(got, _gaps_by_sorting(days, keys))
    with_missing = days.astype("datetime64[us]").where(rng.random(n) > 0.1)
    keys = pd.Series(a, index=days.index)
    pd.testing.assert_series_equal(days_since_previous(with_missing, keys),
                                   _gaps_by_sorting(with_missing, keys))  # fmt: skip
    if n == 500:
        assert got.notna().sum() > 400 and (got == 0).any()


def test_open_episodes_are_counted_as_by_comparing_every_pair():
    rng = np.random.default_rng(2)
    start = pd.Series(pd.Timestamp("2013-01-01") + pd.to_timedelta(rng.integers(0, 700, 300), "D"))
    end = start + pd.to_timedelta(rng.integers(-5, 300, 300), "D")  # some end before they start
    end[rng.random(300) < 0.3] = pd.NaT
    start[:3] = pd.NaT
    days = pd.date_range("2012-12-31", "2015-06-30", freq="ME")
    expected = [int(((start <= d) & ~(end <= d)).sum()) for d in days]
    assert _open_at(start, end, days).tolist() == expected
    assert min(expected) == 0 and max(expected) > 50


def test_monthly_counts_are_those_of_value_counts():
    rng = np.random.default_rng(6)
    days = pd.to_timedelta(rng.integers(0, 900, 400), "D")
    dates = pd.Series(pd.Timestamp("1969-06-15") + days, index=rng.permutation(400))
    dates[rng.random(400) < 0.1] = pd.NaT
    mask = pd.Series(rng.random(400) < 0.5, index=dates.index)
    months = pd.period_range("1969-09", "1971-03", freq="M")  # some dates fall outside
    for m in (None, mask, mask.to_numpy(), mask.sample(frac=1, random_state=1)):
        picked = dates if m is None else dates[m]
        expected = picked.dt.to_period("M").value_counts().reindex(months, fill_value=0)
        assert _per_month(dates, months, m).tolist() == expected.tolist()
    assert _per_month(dates, months[:0]).tolist() == []
