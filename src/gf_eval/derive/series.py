"""Monthly series, one row per calendar month from data_start to data_end.

Every count is by the month of the event's own date (referral, plan start, becoming looked
after); `cin_dva_open` counts DVA episodes open at the month's end. DVA columns are NA before
factors were collected (see `social_care.dva_known_from`). Statuses are as they stood at the
data end, so a DVA episode counts as DVA from its referral month on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gf_eval.config import Calendar
from gf_eval.derive.social_care import dva_known_from

# Rates are per 100 of their denominator.
RATES = {
    "marac_repeat_rate": ("marac_repeats", "marac_cases"),
    "rereferral_rate": ("rereferrals", "referrals"),
    "dva_rereferral_rate": ("dva_rereferrals", "referrals_known"),
    "dva_referral_rate": ("dva_referrals", "referrals_known"),
    "pending_share": ("pending", "referrals"),
}


def _per_month(dates: pd.Series, months: pd.PeriodIndex, mask=None) -> np.ndarray:
    """How many of `dates` (where `mask`) fall in each of `months`; missing dates in none."""
    ordinals = months.asi8  # a month's number from 1970, as datetime64[M] counts them
    aligned = not isinstance(mask, pd.Series) or mask.index.equals(dates.index)
    plain = isinstance(dates.dtype, np.dtype) and dates.dtype.kind == "M"  # no time zone
    if not (plain and aligned and (np.diff(ordinals) > 0).all()):
        if mask is not None:
            dates = dates[mask]
        counts = dates.dt.to_period("M").value_counts()
        return counts.reindex(months, fill_value=0).to_numpy(dtype=np.int64)
    when = dates.to_numpy()
    if mask is not None:
        when = when[np.asarray(mask, dtype=bool)]
    month = when[~np.isnat(when)].astype("datetime64[M]").astype(np.int64)
    at = np.searchsorted(ordinals, month).clip(0, max(len(ordinals) - 1, 0))
    found = ordinals[at] == month if len(ordinals) else np.zeros(len(month), dtype=bool)
    return np.bincount(at[found], minlength=len(ordinals)).astype(np.int64)


def _open_at(start: pd.Series, end: pd.Series, days: pd.DatetimeIndex) -> np.ndarray:
    """For each day d, how many of the (start, end) pairs have start <= d and not end <= d (a
    missing end is open): those started by d less those that also ended by d, counted by
    binary search in sorted days rather than by comparing every pair with every day."""
    start, end, days = start.to_numpy(), end.to_numpy(), days.to_numpy()
    started = ~np.isnat(start)
    ended = started & ~np.isnat(end)
    # Started and ended by d: both dates <= d, i.e. the later of the two <= d.
    both = np.maximum(start[ended], end[ended])
    count = np.searchsorted(np.sort(start[started]), days, side="right")
    return (count - np.searchsorted(np.sort(both), days, side="right")).astype(np.int64)


def monthly_series(
    cal: Calendar,
    marac: pd.DataFrame,
    episodes: pd.DataFrame,
    plans: pd.DataFrame,
    looked_after: pd.DataFrame,
    max_pending_share: float,
) -> pd.DataFrame:
    """The monthly series of docs/derived_data.md from the derived cases and episodes."""
    months = cal.months()
    out = pd.DataFrame({"month": months.strftime("%Y-%m")})
    out["t"] = np.array([cal.month_index(m.to_timestamp()) for m in months], dtype=np.int64)
    out["calendar_month"] = months.month.to_numpy(dtype=np.int64)
    out["post"] = out["t"] >= cal.t0

    when = marac["referral_date"]
    out["marac_cases"] = _per_month(when, months)
    out["marac_repeats"] = _per_month(when, months, marac["repeat"].to_numpy())

    ref = episodes["referral_date"]
    status = episodes["dva_status"].astype(str)
    dva, known = status == "dva", status.isin(["dva", "not_dva"])
    re = episodes["rereferral"]
    out["referrals"] = _per_month(ref, months)
    out["rereferrals"] = _per_month(ref, months, re)
    out["referrals_known"] = _per_month(ref, months, known)
    out["pending"] = _per_month(ref, months, status == "pending")
    out["dva_referrals"] = _per_month(ref, months, dva)
    out["dva_rereferrals"] = _per_month(ref, months, dva & re)
    out["pending_rereferrals"] = _per_month(ref, months, (status == "pending") & re)
    month_end = months.to_timestamp(how="end").normalize()
    out["cin_dva_open"] = _open_at(episodes.loc[dva, "referral_date"],
                                   episodes.loc[dva, "closure_date"], month_end)  # fmt: skip
    # On Python strings: isin on Arrow strings makes an Arrow scalar of every value sought.
    dva_ids = episodes.loc[dva, "referral_id"].astype(object)
    plan_dva = plans["referral_id"].astype(object).isin(dva_ids)
    out["cp_plans"] = _per_month(plans["start_date"], months)
    out["cp_plans_dva"] = _per_month(plans["start_date"], months, plan_dva.to_numpy())
    out["looked_after_starts"] = _per_month(looked_after["became_looked_after"], months)

    first_dva = dva_known_from(cal.data_start).to_period("M")
    unknown = months < first_dva
    dva_cols = ["referrals_known", "pending", "dva_referrals", "dva_rereferrals",
                "pending_rereferrals", "cin_dva_open", "cp_plans_dva"]  # fmt: skip
    for col in dva_cols:
        out[col] = out[col].astype("Int64").mask(unknown)
    for rate, (num, den) in RATES.items():
        out[rate] = (100 * out[num].astype("Float64") / out[den].astype("Float64")).round(6)
    # A month is complete when few of its episodes still await their DVA status.
    out["dva_complete"] = ~unknown & (out["pending_share"] <= 100 * max_pending_share).fillna(False)
    out["dva_complete"] = out["dva_complete"].astype(bool)
    return out
