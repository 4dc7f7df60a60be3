"""One date axis for every monthly, quarterly and yearly figure.

Financial years run April to March. The axis has a long tick at each 1 April (a year
boundary, unlabelled), a short tick at the other quarter starts (1 July, 1 October, 1 January)
and the financial year ("2015-16") written under its middle, 1 October. The ticks are fixed
positions computed from the range, never chosen by a locator, so that two figures with the same
range have the same ticks and labels on every machine.

`period_middle`, `month_middle` and `month_last_day` turn the labels the tables use ("2015-16",
"2015-16 Q3", "2015-09") into dates on that axis.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib.dates as mdates
import numpy as np
import pandas as pd

FY_FIRST_MONTH = 4  # April
XLABEL_YEARS = "financial year (April to March; short ticks mark the quarters)"


def fy_label(date) -> str:
    """'2015-16' for a date from April 2015 to March 2016."""
    d = pd.Timestamp(date)
    year = d.year - (d.month < FY_FIRST_MONTH)
    return f"{year}-{(year + 1) % 100:02d}"


def _fy_start(label: str) -> pd.Timestamp:
    return pd.Timestamp(int(label[:4]), FY_FIRST_MONTH, 1)


def period_bounds(label: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(first day, day after the last) of a financial year '2015-16' or quarter '2015-16 Q3'."""
    label = str(label).strip()
    if " Q" in label:
        year, q = label.split(" Q")
        start = _fy_start(year) + pd.DateOffset(months=3 * (int(q) - 1))
        return start, start + pd.DateOffset(months=3)
    return _fy_start(label), _fy_start(label) + pd.DateOffset(years=1)


def period_middle(labels: Iterable[str]) -> pd.DatetimeIndex:
    """The middle of each financial year (1 October, where the axis writes its label) or
    quarter (to the day) label: the x of its value or bar."""
    out = [a + pd.DateOffset(months=6) if (b - a).days > 300 else (a + (b - a) / 2).normalize()
           for a, b in map(period_bounds, labels)]  # fmt: skip
    return pd.DatetimeIndex(out)


def period_width(labels: Iterable[str], share: float = 0.8) -> np.ndarray:
    """Bar widths in days (matplotlib's date unit): `share` of each period's length."""
    return np.array([share * (b - a).days for a, b in map(period_bounds, labels)], dtype=float)


def month_middle(months) -> pd.DatetimeIndex:
    """The 15th of each month ('2015-09', a Period or a date): the x of a monthly value."""
    idx = pd.PeriodIndex([pd.Period(m, freq="M") for m in months], freq="M")
    return idx.to_timestamp() + pd.Timedelta(days=14)


def month_last_day(months) -> pd.DatetimeIndex:
    """The last day of each month: the x of a stock counted at the month end."""
    idx = pd.PeriodIndex([pd.Period(m, freq="M") for m in months], freq="M")
    return idx.to_timestamp(how="end").normalize()


def date_axis(ax, start, end, xlabel: str | None = XLABEL_YEARS) -> None:
    """Give `ax` the house date axis from `start` to `end` (dates; `end` is exclusive, e.g.
    the day after the data end). Call it after drawing, as it fixes the limits."""
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if not start < end:
        raise ValueError(f"date axis: start {start:%Y-%m-%d} is not before end {end:%Y-%m-%d}")
    quarters = pd.date_range(start, end, freq="QS-JAN")
    major = [d for d in quarters if d.month == FY_FIRST_MONTH]
    minor = [d for d in quarters if d.month != FY_FIRST_MONTH]
    ax.set_xlim(start.to_pydatetime(), end.to_pydatetime())
    ax.set_xticks(mdates.date2num([d.to_pydatetime() for d in major]), [""] * len(major))
    mid = FY_FIRST_MONTH + 6  # October: the middle of the financial year
    ax.set_xticks(mdates.date2num([d.to_pydatetime() for d in minor]),
                  [fy_label(d) if d.month == mid else "" for d in minor], minor=True)  # fmt: skip
    ax.tick_params(axis="x", which="major", length=9, width=0.8)
    ax.tick_params(axis="x", which="minor", length=3, width=0.6, labelsize=8)
    ax.grid(axis="x", which="major", color="0.9", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    if xlabel is not None:
        ax.set_xlabel(xlabel)


def study_axis(ax, cal, xlabel: str | None = XLABEL_YEARS) -> None:
    """The date axis over the whole reporting period, data_start to data_end: the same range
    on every figure of the period."""
    date_axis(ax, cal.data_start, cal.data_end + pd.Timedelta(days=1), xlabel)


def tick_labels(ax) -> list[tuple[float, str]]:
    """(position, text) of every x tick, major then minor: what a reader sees on the axis."""
    out = []
    for minor in (False, True):
        locs = ax.get_xticks(minor=minor)
        texts = [t.get_text() for t in ax.get_xticklabels(minor=minor)]
        out += list(zip(map(float, locs), texts, strict=True))
    return out
