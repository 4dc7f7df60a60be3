"""The 12-month rules: a MARAC case is a repeat, and a referral a re-referral, when the same
victim-perpetrator pair (or the same child) was referred within 365 days before.

Gaps are counted in whole days between referral dates: a gap of 0 to 365 days is "within 12
months"; 366 days or more starts afresh (CONVENTIONS.md). Each event is compared with the
previous event of the same key, not with the first one, so a chain of referrals 300 days apart
is a chain of repeats.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOW_DAYS = 365


def days_since_previous(dates: pd.Series, keys: pd.DataFrame | pd.Series) -> pd.Series:
    """Days from each event back to the previous event with the same key(s); NA for a first.

    Events on the same date for the same key are ordered as they appear in the input.
    """
    frame = pd.DataFrame(keys).reset_index(drop=True)
    when = pd.to_datetime(dates).to_numpy()
    n = len(frame)
    if np.isnat(when).any():  # where a missing date sorts is the sort's business
        return _days_since_previous_sorted(dates, frame, when)
    # Only the order of each key's own events matters, so any numbering of the keys will do:
    # factorized codes, not the keys' text, which sorting would compare (most of the time).
    group = np.zeros(n, dtype=np.int64)
    for col in frame.columns:
        codes, uniques = pd.factorize(frame[col], use_na_sentinel=False)  # NA: a key too
        group = pd.factorize(group * len(uniques) + codes)[0]  # renumbered: never overflows
    order = np.lexsort((np.arange(n), when.view(np.int64), group))  # key, date, position
    w, g = when[order], group[order]
    days = np.zeros(n, dtype=np.int64)
    first = np.ones(n, dtype=bool)
    if n > 1:
        days[1:] = (w[1:] - w[:-1]) // np.timedelta64(1, "D")  # whole days, as .dt.days
        first[1:] = g[1:] != g[:-1]
    values, missing = np.empty(n, dtype=np.int64), np.empty(n, dtype=bool)
    values[order], missing[order] = days, first
    return pd.Series(pd.arrays.IntegerArray(values, missing), index=dates.index, name="_date")


def _days_since_previous_sorted(dates, frame: pd.DataFrame, when: np.ndarray) -> pd.Series:
    key_cols = list(frame.columns)
    frame["_date"] = when
    frame["_pos"] = range(len(frame))
    ordered = frame.sort_values([*key_cols, "_date", "_pos"], kind="mergesort")
    previous = ordered.groupby(key_cols, sort=False, dropna=False)["_date"].shift()
    gap = (ordered["_date"] - previous).dt.days.astype("Int64")
    return gap.sort_index().set_axis(dates.index)


def within_window(gap_days: pd.Series, window: int = WINDOW_DAYS) -> pd.Series:
    """True where the previous event was 0 to `window` days before; False for a first event."""
    return (gap_days.notna() & (gap_days <= window)).astype(bool)
