"""MARAC cases with the derived 12-month repeat rule, and their reconciliation with the
coordinator's own flag."""

from __future__ import annotations

import pandas as pd

from gf_eval.derive.rules import WINDOW_DAYS, days_since_previous, within_window
from gf_eval.frames import sort_rows


def marac_cases(cases: pd.DataFrame) -> pd.DataFrame:
    """The validated cases plus `month` (referral month), `gap_days` (days since the pair's
    previous referral) and `repeat` (the SafeLives 12-month rule on victim and perpetrator)."""
    out = sort_rows(cases, ["referral_date", "case_id"]).reset_index(drop=True)
    out["month"] = out["referral_date"].dt.to_period("M")
    out["gap_days"] = days_since_previous(out["referral_date"], out[["victim_key", "perpetrator_key"]])
    out["repeat"] = within_window(out["gap_days"])
    return out


RECONCILIATION_BANDS = (
    ("first referral of the pair", None, None),
    ("0-365 days", 0, WINDOW_DAYS),
    ("366-400 days", WINDOW_DAYS + 1, 400),
    ("over 400 days", 401, None),
)


def repeat_reconciliation(cases: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """Cases referred from `start`, by the gap since the pair's previous referral, against the
    derived rule and the coordinator's flag; `disagree` counts the cases where they differ."""
    df = cases[cases["referral_date"] >= start]
    gap = df["gap_days"]
    rows = []
    for label, low, high in RECONCILIATION_BANDS:
        if low is None:
            part = df[gap.isna()]
        else:
            part = df[gap.notna() & (gap >= low) & ((gap <= high) if high is not None else True)]
        flag = part["coordinator_repeat"].astype(bool)
        rows.append(
            {
                "gap_since_previous_referral": label,
                "cases": len(part),
                "rule_repeat": int(part["repeat"].sum()),
                "coordinator_repeat": int(flag.sum()),
                "flagged_not_rule": int((flag & ~part["repeat"]).sum()),
                "rule_not_flagged": int((~flag & part["repeat"]).sum()),
            }
        )
    out = pd.DataFrame(rows)
    out["disagree"] = out["flagged_not_rule"] + out["rule_not_flagged"]
    return out
