"""Children's vulnerability status on a date, and how it moves after an index date.

A child's status on a date is the most intensive that applies, in the order of STATUSES:
  looked_after  a looked-after start on or before the date, inside an episode of the child that
                is still open on the date (see below);
  cp_plan       a child protection plan of one of the child's episodes has started on or before
                the date and has not ended by it;
  cin           an episode (referral) of the child is open on the date;
  none          otherwise.
An episode or plan is open on a date when it started on or before it and its closure (end) date
is missing or after it: on the closure date itself it is no longer open.

Assumption: the extract carries only the dates children became looked after, never the end of a
period. We take a period to last while the episode it started in stays open, so a child stops
counting as looked after when that episode closes.

The cohort compares the children of families the Domestic Abuse Navigators (DAN) worked with
against the children of families whose DVA became known to children's social care in the
programme window but who had no DAN case.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gf_eval.config import Calendar

STATUSES = ("none", "cin", "cp_plan", "looked_after")
GROUPS = ("dan", "comparison")
ALL = "all"

_STATUS_TYPE = pd.CategoricalDtype(STATUSES, ordered=True)
_GROUP_TYPE = pd.CategoricalDtype(GROUPS)


def _open_on(start: pd.Series, end: pd.Series, date: pd.Series) -> pd.Series:
    """Started on or before `date` and not ended by it (a missing end is still open)."""
    return (start <= date) & (end.isna() | (end > date))


def status_at(
    child_ids,
    dates,
    episodes: pd.DataFrame,
    plans: pd.DataFrame,
    looked_after: pd.DataFrame,
) -> pd.Series:
    """Each child's status (ordered categorical over STATUSES) on the matching date; NA where the
    date is missing. Pairs may repeat a child. The result keeps the index of `child_ids` when it
    is a Series."""
    index = child_ids.index if isinstance(child_ids, pd.Series) else None
    ids = pd.Series(child_ids).reset_index(drop=True)
    when = pd.Series(pd.to_datetime(pd.Series(dates)).to_numpy()).reset_index(drop=True)
    if len(ids) != len(when):
        raise ValueError("child_ids and dates must have the same length")
    query = pd.DataFrame({"_row": np.arange(len(ids)), "child_id": ids, "_date": when})

    eps = episodes[["child_id", "referral_id", "referral_date", "closure_date"]]
    pairs = query.merge(eps, on="child_id")
    open_eps = pairs[_open_on(pairs["referral_date"], pairs["closure_date"], pairs["_date"])]

    # A plan belongs to the child through its episode; the episode need not be open itself.
    child_plans = plans[["referral_id", "start_date", "end_date"]].merge(
        episodes[["referral_id", "child_id"]], on="referral_id"
    )
    on_plan = query.merge(child_plans, on="child_id")
    on_plan = on_plan[_open_on(on_plan["start_date"], on_plan["end_date"], on_plan["_date"])]

    la = open_eps.merge(looked_after[["child_id", "became_looked_after"]], on="child_id")
    start = la["became_looked_after"]
    la = la[(la["referral_date"] <= start) & (start <= la["_date"])]

    level = np.zeros(len(query), dtype=np.int8)
    # Later assignments are more intensive, so each overrides the ones before it.
    for code, rows in ((1, open_eps), (2, on_plan), (3, la)):
        level[rows["_row"].unique()] = code
    level[query["_date"].isna().to_numpy()] = -1
    out = pd.Categorical.from_codes(level, dtype=_STATUS_TYPE)
    return pd.Series(out, index=index, name="status")


def _months_after(dates: pd.Series, months: int) -> pd.Series:
    """`dates` plus whole calendar months (the 31st clips to the month's last day)."""
    return dates + pd.DateOffset(months=months) if months else dates


def cohort(
    casework: pd.DataFrame,
    children: pd.DataFrame,
    episodes: pd.DataFrame,
    plans: pd.DataFrame,
    looked_after: pd.DataFrame,
    cal: Calendar,
    horizons: tuple[int, ...] = (6, 12),
) -> pd.DataFrame:
    """One row per child of a DAN or comparison family: child_id, family_id, group, index_date,
    status_0 and status_<h> for each horizon h (months after the index date; NA when that date
    is after cal.data_end, because it cannot be observed)."""
    dan = casework.groupby("family_id")["allocation_date"].min()

    # Comparison: the family's DVA became known (an assessment recording DVA was authorised)
    # inside the programme window, as a DAN allocation follows a DVA referral.
    known = episodes[
        (episodes["dva_status"] == "dva")
        & episodes["first_authorised"].between(cal.intervention_start, cal.funding_end)
        & episodes["family_id"].notna()
        & ~episodes["family_id"].isin(dan.index)
    ]
    comparison = known.groupby("family_id")["first_authorised"].min()

    families = pd.concat(
        [
            pd.DataFrame({"family_id": dan.index, "group": "dan", "index_date": dan.to_numpy()}),
            pd.DataFrame(
                {
                    "family_id": comparison.index,
                    "group": "comparison",
                    "index_date": comparison.to_numpy(),
                }
            ),
        ],
        ignore_index=True,
    )
    families["family_id"] = families["family_id"].astype(children["family_id"].dtype)
    out = children[["child_id", "family_id"]].merge(families, on="family_id")
    out["group"] = out["group"].astype(_GROUP_TYPE)
    out = out.sort_values(["group", "index_date", "family_id", "child_id"], kind="mergesort")
    out = out.reset_index(drop=True)

    for h in (0, *horizons):
        when = _months_after(out["index_date"], h)
        when = when.where(when <= cal.data_end)  # beyond the data: unobserved, not "none"
        out[f"status_{h}"] = status_at(out["child_id"], when, episodes, plans, looked_after)
    return out


def _observed(cohort: pd.DataFrame, horizon: int) -> tuple[pd.Series, pd.Series]:
    after = f"status_{horizon}"
    if after not in cohort.columns:
        raise KeyError(f"cohort has no {after} column")
    return cohort["status_0"], cohort[after]


def transitions(cohort: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Children by group, status at index and status `horizon` months later, for children whose
    status is observed at both; every combination appears, with zeros."""
    before, after = _observed(cohort, horizon)
    seen = before.notna() & after.notna()
    frame = pd.DataFrame(
        {
            "group": cohort["group"].astype(_GROUP_TYPE),
            "status_at_index": before.astype(_STATUS_TYPE),
            "status_after": after.astype(_STATUS_TYPE),
        }
    )[seen]
    counts = frame.groupby(list(frame.columns), observed=False).size()
    return counts.rename("children").reset_index()


def step_rates(cohort: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Per group, and per group and status at index (plus an "all" row first): children observed
    at the horizon, how many stepped up, down or stayed, those as percentages of the children
    observed, and children_not_observed (status missing at the horizon)."""
    before, after = _observed(cohort, horizon)
    before = before.astype(_STATUS_TYPE)
    after = after.astype(_STATUS_TYPE)
    b, a = before.cat.codes, after.cat.codes  # -1 where missing
    seen = (b >= 0) & (a >= 0)
    frame = pd.DataFrame(
        {
            "group": cohort["group"].astype(_GROUP_TYPE),
            "status_at_index": before,
            "children": seen,
            "stepped_up": seen & (a > b),
            "stepped_down": seen & (a < b),
            "unchanged": seen & (a == b),
            "children_not_observed": ~seen,
        }
    )
    cols = ["children", "stepped_up", "stepped_down", "unchanged", "children_not_observed"]
    by_status = frame.groupby(["group", "status_at_index"], observed=False)[cols].sum()
    by_status = by_status.reset_index()
    overall = frame.groupby("group", observed=False)[cols].sum().reset_index()
    overall["status_at_index"] = ALL

    levels = (ALL, *STATUSES)
    out = pd.concat([overall, by_status], ignore_index=True)
    out["status_at_index"] = pd.Categorical(out["status_at_index"].astype(str), categories=levels)
    out = out.sort_values(["group", "status_at_index"], kind="mergesort").reset_index(drop=True)
    out[cols] = out[cols].astype("int64")
    for col in ("stepped_up", "stepped_down", "unchanged"):
        # No children observed: the percentage is undefined, not zero.
        out[f"pct_{col}"] = 100 * out[col] / out["children"].where(out["children"] > 0)
    order = ["group", "status_at_index", "children", "stepped_up", "stepped_down", "unchanged"]
    pct = ["pct_stepped_up", "pct_stepped_down", "pct_unchanged"]
    return out[[*order, *pct, "children_not_observed"]]
