"""The 12-month rules: a MARAC case is a repeat, and a referral a re-referral, when the same
victim-perpetrator pair (or the same child) was referred within 365 days before.

Gaps are counted in whole days between referral dates: a gap of 0 to 365 days is "within 12
months"; 366 days or more starts afresh (CONVENTIONS.md). Each event is compared with the
previous event of the same key, not with the first one, so a chain of referrals 300 days apart
is a chain of repeats.
"""

from __future__ import annotations

import pandas as pd

WINDOW_DAYS = 365


def days_since_previous(dates: pd.Series, keys: pd.DataFrame | pd.Series) -> pd.Series:
    """Days from each event back to the previous event with the same key(s); NA for a first.

    Events on the same date for the same key are ordered as they appear in the input.
    """
    frame = pd.DataFrame(keys).reset_index(drop=True)
    key_cols = list(frame.columns)
    frame["_date"] = pd.to_datetime(dates).to_numpy()
    frame["_pos"] = range(len(frame))
    ordered = frame.sort_values([*key_cols, "_date", "_pos"], kind="mergesort")
    previous = ordered.groupby(key_cols, sort=False, dropna=False)["_date"].shift()
    gap = (ordered["_date"] - previous).dt.days.astype("Int64")
    return gap.sort_index().set_axis(dates.index)


def within_window(gap_days: pd.Series, window: int = WINDOW_DAYS) -> pd.Series:
    """True where the previous event was 0 to `window` days before; False for a first event."""
    return (gap_days.notna() & (gap_days <= window)).astype(bool)
