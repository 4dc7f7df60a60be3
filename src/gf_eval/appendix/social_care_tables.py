"""Appendix 6: children's social care data on children's vulnerability status.

Tables and figures from the derived episodes, monthly series and status cohort and the typed
child protection plans and looked-after starts. Only data_start (April 2012) to data_end
(March 2017) is reported: the history year before it only feeds the 12-month re-referral rule.
DVA status is known from April 2013 (`dva_known_from`). Episodes still awaiting an assessment at
the data end are "pending": every DVA table shows them apart, never as not DVA.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from gf_eval import codes
from gf_eval.appendix.build import TOTAL, counts_by, financial_year
from gf_eval.appendix.axes import date_axis, period_bounds, period_middle
from gf_eval.appendix.plotting import COLOURS, new_figure
from gf_eval.appendix.publish import Figure, Table
from gf_eval.config import Calendar
from gf_eval.derive import status as vstatus
from gf_eval.derive.social_care import dva_known_from
from gf_eval.appendix.linked import WITHHELD_NOTE, Cell, protect_linked  # noqa: F401
from gf_eval.disclosure import TableSpec, protect, suppression_mask
from gf_eval.layout import PART_FIGURES, PART_TABLES

APPENDIX = "6"
TABLES, FIGURES = PART_TABLES["6"], PART_FIGURES["6"]
HORIZONS = (6, 12)  # months after the index date; the cohort's status_<h> columns

# Episode DVA status (derive.social_care.STATUSES) as published.
STATUS_LABELS = {"dva": "DVA", "not_dva": "Not DVA", "pending": "Pending",
                 "not_collected": "Not collected"}  # fmt: skip
CORE_STATUSES = ("DVA", "Not DVA", "Pending")

# Referral sources in the groups of the CIN census publication.
SOURCE_GROUPS: dict[str, tuple[str, ...]] = {
    "Individual (1A-1D)": ("1A", "1B", "1C", "1D"),
    "Schools (2A)": ("2A",),
    "Education services (2B)": ("2B",),
    "Health (3A-3F)": ("3A", "3B", "3C", "3D", "3E", "3F"),
    "Housing (4)": ("4",),
    "LA services (5A-5D)": ("5A", "5B", "5C", "5D"),
    "Police (6)": ("6",),
    "Other legal agency (7)": ("7",),
    "Other (8)": ("8",),
    "Anonymous (9)": ("9",),
    "Unknown (10)": ("10",),
}
SOURCE_GROUP_OF = {code: group for group, cs in SOURCE_GROUPS.items() for code in cs}

VSTATUS_LABELS = {"none": "None", "cin": "Child in need", "cp_plan": "CP plan",
                  "looked_after": "Looked after"}  # fmt: skip
GROUP_LABELS = {"dan": "DAN", "comparison": "Comparison"}

PENDING_NOTE = ("Pending: the episode was still open at the data end with no authorised "
                "assessment, so its DVA status is not yet known; pending episodes are shown "
                "apart and never counted as not DVA.")  # fmt: skip
NOT_COLLECTED_NOTE = ("Not collected: the episode's only authorised assessments recorded no "
                      "factors (factors were collected only from April 2013), so its DVA "
                      "status is unknown.")  # fmt: skip
NA_NOTE = "':' marks a count that is not available: DVA status is known only from April 2013."
DVA_NOTE = ("DVA is a factor when an authorised assessment of the episode records factor 3A, "
            "3B or 3C (domestic violence with the child, a parent or carer, or another person "
            "in the household as subject).")  # fmt: skip


# --- small helpers --------------------------------------------------------------------------


def _fy_order(first: pd.Timestamp, last: pd.Timestamp) -> list[str]:
    """Financial years from the one holding `first` to the one holding `last`."""
    ends = financial_year(pd.Series([first, last]))
    y0, y1 = (int(s[:4]) for s in ends)
    return [f"{y}-{(y + 1) % 100:02d}" for y in range(y0, y1 + 1)]


def _between(df: pd.DataFrame, col: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    return df[df[col].between(start, end)].copy()


def _status(episodes: pd.DataFrame) -> pd.Series:
    """Published DVA status label per episode (NA stays NA)."""
    return episodes["dva_status"].astype(object).map(STATUS_LABELS)


def _status_order(labels: pd.Series) -> list[str]:
    """The core statuses always; "Not collected" only when it occurs, so no count is lost."""
    extra = [s for s in STATUS_LABELS.values() if s not in CORE_STATUSES and (labels == s).any()]
    return [*CORE_STATUSES, *extra]


def _pct(num, den) -> np.ndarray:
    """100 * num / den as floats; NaN where den is 0 or NA (undefined, not zero)."""
    num = pd.Series(num).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    den = pd.Series(den).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 100 * num / den, np.nan)


def _calendar_notes(cal: Calendar) -> tuple[str, ...]:
    """A note when the first or last financial year is only partly in the data."""
    notes = []
    if cal.data_start.month != 4:
        notes.append(f"The first financial year starts at {cal.data_start:%B %Y}: partial.")
    if cal.data_end.month != 3:
        notes.append(f"The last financial year ends at {cal.data_end:%B %Y}: partial.")
    return tuple(notes)


def _series_by_fy(series: pd.DataFrame, cols: list[str], years: list[str]) -> pd.DataFrame:
    """Monthly counts summed by financial year; NA for a year with any NA month (unknown)."""
    when = pd.PeriodIndex(series["month"], freq="M").to_timestamp()
    fy = financial_year(pd.Series(when, index=series.index))
    counts = series[cols].astype("Int64")
    sums = counts.groupby(fy).sum(min_count=1)
    unknown = counts.isna().groupby(fy).any()
    return sums.mask(unknown).reindex(years).astype("Int64")


def _known_split(table: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Add `not_collected` (referrals neither known nor pending) where any occur, so that
    referrals = referrals_known + pending (+ not_collected) holds and is declared."""
    rest = table["referrals"] - table["referrals_known"] - table["pending"]
    parts = ("referrals_known", "pending")
    if (rest.fillna(0) > 0).any():
        table.insert(list(table.columns).index("pending") + 1, "not_collected", rest)
        parts = (*parts, "not_collected")
    return table, parts


def _context(config: dict) -> tuple[Calendar, pd.Timestamp]:
    """The calendar and the first date whose referrals have a DVA status."""
    cal = Calendar.from_config(config)
    return cal, dva_known_from(cal.data_start)


# --- tables ---------------------------------------------------------------------------------


def _referrals_by_source(derived: dict, config: dict) -> Table:
    cal, known = _context(config)
    eps = _between(derived["episodes"], "referral_date", known, cal.data_end)
    bad = set(eps["referral_source"].dropna()) - set(SOURCE_GROUP_OF)
    if bad:
        raise ValueError(f"referral sources not in the CIN census list: {sorted(bad)[:5]}")
    eps["source_group"] = eps["referral_source"].astype(object).map(SOURCE_GROUP_OF)
    eps["status"] = _status(eps)
    frame, spec = counts_by(eps, "source_group", "status", row_order=list(SOURCE_GROUPS),
                            col_order=_status_order(eps["status"]), share=False)  # fmt: skip
    frame["pct_dva_of_known"] = _pct(frame["DVA"], frame["DVA"] + frame["Not DVA"])
    frame["pct_of_referrals"] = _pct(frame[TOTAL], [frame.at[TOTAL, TOTAL]] * len(frame))
    spec = replace(spec, derived={"pct_dva_of_known": ("DVA", "Not DVA"),
                                  "pct_of_referrals": (TOTAL, (TOTAL, TOTAL))})  # fmt: skip
    notes = [DVA_NOTE, PENDING_NOTE,
             "Unknown (10) is a source recorded as unknown; Not recorded (if shown) is a blank "
             "source.", *_calendar_notes(cal)]  # fmt: skip
    if "Not collected" in frame.columns:
        notes.insert(2, NOT_COLLECTED_NOTE)
    return Table(
        name="a6_referrals_by_source", appendix=APPENDIX,
        title="Referrals to children's social care by source and DVA status, "
              f"{known:%B %Y} to {cal.data_end:%B %Y}",
        caption=("Referrals (episodes) with a referral date from "
                 f"{known:%d %B %Y} to {cal.data_end:%d %B %Y}, counted by referral-source "
                 "group (CIN census codes in brackets) and the episode's DVA status at the "
                 "data end. pct_dva_of_known = 100 x DVA / (DVA + Not DVA): the share of "
                 "referrals with a known status where DVA was a factor. pct_of_referrals = "
                 "100 x the source's referrals / all referrals."),
        frame=frame, spec=spec, notes=tuple(notes),
    )  # fmt: skip


def _factor_prevalence(derived: dict, config: dict) -> Table:
    cal, known = _context(config)
    years = _fy_order(known, cal.data_end)
    eps = _between(derived["episodes"], "referral_date", known, cal.data_end)
    fy = financial_year(eps["referral_date"])
    status = eps["dva_status"].astype(object)
    is_known = status.isin(["dva", "not_dva"])

    def per_year(flag) -> pd.Series:
        return pd.Series(np.asarray(flag, dtype=bool), index=eps.index).groupby(fy).sum()

    frame = pd.DataFrame({
        "referrals": per_year(np.ones(len(eps))),
        "referrals_known": per_year(is_known),
        "pending": per_year(status == "pending"),
    }).reindex(years, fill_value=0)  # fmt: skip
    frame, parts = _known_split(frame)
    for code in codes.DVA_FACTORS:
        frame[code] = per_year(eps[f"f{code}"].astype(bool) & is_known).reindex(years, fill_value=0)
    frame["any_dva"] = per_year(status == "dva").reindex(years, fill_value=0)
    frame.loc[TOTAL] = frame.sum(axis=0)
    frame = frame.astype("int64")
    count_cols = list(frame.columns)
    rates = {}
    for col in (*codes.DVA_FACTORS, "any_dva"):
        frame[f"pct_{col}"] = _pct(frame[col], frame["referrals_known"])
        rates[f"pct_{col}"] = (col, "referrals_known")
    frame.index.name = "financial_year"
    spec = TableSpec(counts=tuple(count_cols), derived=rates,
                     column_totals=(("referrals", parts),),
                     row_totals=((TOTAL, tuple(years)),))  # fmt: skip
    notes = [
        "An episode can record several DVA factors, so 3A + 3B + 3C can exceed any_dva, which "
        "counts each episode once.",
        DVA_NOTE, PENDING_NOTE + " They are left out of every percentage.",
        "Episodes closed without an authorised assessment count as known, with no factors.",
        *_calendar_notes(cal),
    ]  # fmt: skip
    if "not_collected" in frame.columns:
        notes.insert(3, NOT_COLLECTED_NOTE + " They are left out of every percentage.")
    return Table(
        name="a6_factor_prevalence", appendix=APPENDIX,
        title="Domestic violence factors (3A, 3B, 3C) among episodes with a known DVA status, "
              "by financial year of referral",
        caption=("Episodes referred from "
                 f"{known:%d %B %Y} to {cal.data_end:%d %B %Y} by financial year of referral. "
                 "referrals_known: episodes whose DVA status is known (DVA or not DVA). "
                 "3A, 3B, 3C: known episodes with that factor on any authorised assessment; "
                 "any_dva: known episodes with at least one of them. pct_<x> = 100 x <x> / "
                 "referrals_known."),
        frame=frame, spec=spec, notes=tuple(notes),
    )  # fmt: skip


REREFERRAL_COLS = ["referrals", "rereferrals", "referrals_known", "pending", "dva_rereferrals",
                   "pending_rereferrals"]  # fmt: skip


def _dva_rereferrals(derived: dict, config: dict) -> Table:
    cal, known = _context(config)
    years = _fy_order(cal.data_start, cal.data_end)
    frame = _series_by_fy(derived["monthly_series"], REREFERRAL_COLS, years)
    frame, parts = _known_split(frame)
    frame.insert(2, "rereferral_rate", _pct(frame["rereferrals"], frame["referrals"]))
    frame["dva_rereferral_rate"] = _pct(frame["dva_rereferrals"], frame["referrals_known"])
    frame.index.name = "financial_year"
    counts = tuple(c for c in frame.columns if not c.endswith("_rate"))
    spec = TableSpec(counts=counts,
                     derived={"rereferral_rate": ("rereferrals", "referrals"),
                              "dva_rereferral_rate": ("dva_rereferrals", "referrals_known")},
                     column_totals=(("referrals", parts),))  # fmt: skip
    notes = [
        "Re-referral: a referral of a child within 12 months (0 to 365 days) of that child's "
        "previous referral; referrals in the 12 months before April 2012 are used to apply the "
        "rule but are not reported.",
        DVA_NOTE, PENDING_NOTE, NA_NOTE,
        "Statuses are as they stood at the data end; the pending share is largest in the last "
        "year, so its DVA re-referral rate is the least complete.",
        *_calendar_notes(cal),
    ]  # fmt: skip
    if "not_collected" in frame.columns:
        notes.insert(3, NOT_COLLECTED_NOTE)
    return Table(
        name="a6_dva_rereferrals", appendix=APPENDIX,
        title="Referrals, re-referrals and DVA re-referrals by financial year",
        caption=("Monthly series (derived monthly_series) summed by financial year of referral, "
                 f"{cal.data_start:%B %Y} to {cal.data_end:%B %Y}. rereferral_rate = 100 x "
                 "rereferrals / referrals. dva_rereferrals: re-referrals whose episode has "
                 "DVA status; pending_rereferrals: re-referrals still pending. "
                 "dva_rereferral_rate = DVA re-referrals per 100 referrals with a known DVA "
                 "status (referrals_known), the evaluation's target measure."),
        frame=frame, spec=spec, notes=tuple(notes),
    )  # fmt: skip


def _cin_dva(derived: dict, config: dict) -> Table:
    cal, known = _context(config)
    years = _fy_order(known, cal.data_end)
    series = derived["monthly_series"]
    frame = _series_by_fy(series, ["referrals", "referrals_known", "pending", "dva_referrals"],
                          years)  # fmt: skip
    frame, parts = _known_split(frame)
    open_by_month = series.set_index("month")["cin_dva_open"].astype("Int64")
    march = [f"{int(y[:4]) + 1}-03" for y in years]
    frame["dva_open_31_march"] = open_by_month.reindex(march).to_numpy()
    frame["dva_open_31_march"] = frame["dva_open_31_march"].astype("Int64")
    frame.insert(list(frame.columns).index("dva_referrals") + 1, "pct_dva_of_known",
                 _pct(frame["dva_referrals"], frame["referrals_known"]))  # fmt: skip
    frame.index.name = "financial_year"
    counts = tuple(c for c in frame.columns if not c.startswith("pct_"))
    spec = TableSpec(counts=counts,
                     derived={"pct_dva_of_known": ("dva_referrals", "referrals_known")},
                     column_totals=(("referrals", parts),))  # fmt: skip
    notes = [
        DVA_NOTE, PENDING_NOTE,
        "Statuses are as they stood at the data end, so a DVA episode counts as DVA from its "
        "referral; episodes still pending at 31 March 2017 are not in dva_open_31_march, "
        "which is therefore a lower bound for the last year.",
        "Episodes referred before April 2013 and assessed before then have no recorded "
        "factors, so DVA episodes open at 31 March 2014 that began earlier may be missed.",
        "':' for dva_open_31_march means that 31 March of the year is after the data end.",
        *_calendar_notes(cal),
    ]  # fmt: skip
    if "not_collected" in frame.columns:
        notes.insert(2, NOT_COLLECTED_NOTE)
    return Table(
        name="a6_cin_dva", appendix=APPENDIX,
        title="Children in need with a DVA factor: new DVA episodes and episodes open at "
              "31 March, by financial year",
        caption=("From the derived monthly series. dva_referrals: episodes with DVA status "
                 "referred in the financial year (new DVA episodes); pct_dva_of_known = 100 x "
                 "dva_referrals / referrals_known (referrals with a known DVA status). "
                 "dva_open_31_march: DVA episodes referred on or before 31 March and not "
                 "closed by then (series column cin_dva_open for March)."),
        frame=frame, spec=spec, notes=tuple(notes),
    )  # fmt: skip


def _plans_with_status(derived: dict, typed: dict) -> pd.DataFrame:
    plans = typed["cs_cp_plans"]
    eps = derived["episodes"][["referral_id", "dva_status"]]
    out = plans.merge(eps, on="referral_id", how="left", validate="many_to_one")
    out["status"] = _status(out)
    return out


def _cp_plans(derived: dict, typed: dict, config: dict) -> Table:
    cal, known = _context(config)
    plans = _between(_plans_with_status(derived, typed), "start_date", known, cal.data_end)
    names = {c: f"{n} ({c})" for c, n in codes.CP_CATEGORIES.items()}
    frame, spec = counts_by(plans, "category", "status", row_order=list(codes.CP_CATEGORIES),
                            col_order=_status_order(plans["status"]), row_names=names,
                            share=False)  # fmt: skip
    frame["pct_dva_of_known"] = _pct(frame["DVA"], frame["DVA"] + frame["Not DVA"])
    spec = replace(spec, derived={"pct_dva_of_known": ("DVA", "Not DVA")})
    notes = [DVA_NOTE, PENDING_NOTE, NOT_COLLECTED_NOTE + " Plans that start after April 2013 "
             "can belong to such earlier episodes.",
             "Plans starting April 2012 to March 2013 are left out: DVA status is known only "
             "from April 2013 (they are counted in a6_cp_plans_by_year).",
             *_calendar_notes(cal)]  # fmt: skip
    return Table(
        name="a6_cp_plans", appendix=APPENDIX,
        title="Child protection plans by category and DVA status of the plan's episode, "
              f"{known:%B %Y} to {cal.data_end:%B %Y}",
        caption=("Child protection plans (typed cs_cp_plans) starting from "
                 f"{known:%d %B %Y} to {cal.data_end:%d %B %Y}, by category and the DVA status "
                 "at the data end of the episode (referral) the plan belongs to. "
                 "pct_dva_of_known = 100 x DVA / (DVA + Not DVA)."),
        frame=frame, spec=spec, notes=tuple(notes),
    )  # fmt: skip


def _cp_plans_by_year(derived: dict, typed: dict, config: dict) -> Table:
    cal, known = _context(config)
    years = _fy_order(cal.data_start, cal.data_end)
    dva_years = _fy_order(known, cal.data_end)
    plans = _between(_plans_with_status(derived, typed), "start_date", cal.data_start,
                     cal.data_end)  # fmt: skip
    plans["financial_year"] = financial_year(plans["start_date"])
    names = dict(codes.CP_CATEGORIES)
    frame, spec = counts_by(plans, "financial_year", "category", row_order=years,
                            col_order=list(codes.CP_CATEGORIES), share=False)  # fmt: skip
    cats = [c for c in frame.columns if c != TOTAL]
    frame = frame.rename(columns=names)
    cats = [names.get(c, c) for c in cats]
    dva = plans[plans["start_date"] >= known]
    statuses = _status_order(dva["status"])
    split = pd.crosstab(dva["financial_year"], dva["status"]).reindex(
        index=dva_years, columns=statuses, fill_value=0
    )
    # Not available before DVA status is known, nor for the Total row that would include those.
    split = split.reindex(frame.index).astype("Int64")
    frame = frame.join(split)
    frame["pct_dva_of_known"] = _pct(frame["DVA"], frame["DVA"] + frame["Not DVA"])
    spec = TableSpec(counts=(*cats, TOTAL, *statuses),
                     derived={"pct_dva_of_known": ("DVA", "Not DVA")},
                     column_totals=((TOTAL, tuple(cats)), (TOTAL, tuple(statuses))),
                     row_totals=((TOTAL, tuple(years)),))  # fmt: skip
    return Table(
        name="a6_cp_plans_by_year", appendix=APPENDIX,
        title="Child protection plans starting in each financial year, by category and DVA "
              "status of the plan's episode",
        caption=("Child protection plans (typed cs_cp_plans) by financial year of their start "
                 f"date, {cal.data_start:%B %Y} to {cal.data_end:%B %Y}: by category (Total = "
                 "all plans) and, from 2013-14, by the DVA status of the plan's episode at the "
                 "data end. pct_dva_of_known = 100 x DVA / (DVA + Not DVA)."),
        frame=frame, spec=spec,
        notes=(DVA_NOTE, PENDING_NOTE, NOT_COLLECTED_NOTE,
               NA_NOTE + " The Total row's DVA columns would include 2012-13, so they are ':' "
               "too (a6_cp_plans gives the totals from April 2013).",
               *_calendar_notes(cal)),
    )  # fmt: skip


LA_SPLIT = {"dva": "dva_episode_open", "pending": "pending_episode_open",
            "not_collected": "not_collected_episode_open", "not_dva": "not_dva_episode_open",
            "none": "no_open_episode"}  # fmt: skip


def _looked_after(derived: dict, typed: dict, config: dict) -> Table:
    cal, known = _context(config)
    years = _fy_order(cal.data_start, cal.data_end)
    dva_years = _fy_order(known, cal.data_end)
    la = _between(typed["cs_looked_after"], "became_looked_after", cal.data_start, cal.data_end)
    la = la.reset_index(drop=True)
    la["financial_year"] = financial_year(la["became_looked_after"])

    # Episodes of the child open on the day it became looked after; the most telling status
    # wins (DVA, then the two unknowns, then not DVA).
    eps = derived["episodes"][["child_id", "referral_date", "closure_date", "dva_status"]]
    pairs = la.reset_index(names="_row").merge(eps, on="child_id")
    start = pairs["became_looked_after"]
    open_ = (pairs["referral_date"] <= start) & ~(pairs["closure_date"] <= start)
    rank = {s: i for i, s in enumerate(LA_SPLIT)}
    best = (pairs.loc[open_, "dva_status"].astype(object).map(rank)
            .groupby(pairs.loc[open_, "_row"]).min())  # fmt: skip
    la["split"] = pd.Series(list(LA_SPLIT), dtype=object)[
        best.reindex(la.index, fill_value=rank["none"]).to_numpy()
    ].to_numpy()

    frame, spec = counts_by(la, "financial_year", row_order=years, share=False,
                            count_name="looked_after_starts")  # fmt: skip
    dva = la[la["became_looked_after"] >= known]
    split = pd.crosstab(dva["financial_year"], dva["split"])
    split = split.reindex(index=dva_years, columns=list(LA_SPLIT), fill_value=0)
    split.columns = list(LA_SPLIT.values())
    split = split.reindex(frame.index).astype("Int64")  # NA before DVA is known, and in Total
    frame = frame.join(split)
    frame["pct_dva_episode_open"] = _pct(frame["dva_episode_open"], frame["looked_after_starts"])
    parts = tuple(LA_SPLIT.values())
    spec = TableSpec(counts=("looked_after_starts", *parts),
                     derived={"pct_dva_episode_open": ("dva_episode_open",
                                                       "looked_after_starts")},
                     column_totals=(("looked_after_starts", parts),),
                     row_totals=spec.row_totals)  # fmt: skip
    return Table(
        name="a6_looked_after", appendix=APPENDIX,
        title="Children becoming looked after by financial year, and whether a DVA episode was "
              "open at the time",
        caption=("Looked-after starts (typed cs_looked_after, became_looked_after) from "
                 f"{cal.data_start:%B %Y} to {cal.data_end:%B %Y} by financial year. From "
                 "2013-14 each start is split by the child's episodes open that day (referred "
                 "on or before it, not closed by it): a DVA episode open; else a pending one; "
                 "else one whose status was not collected; else only not-DVA episodes; else "
                 "none. pct_dva_episode_open = 100 x dva_episode_open / looked_after_starts."),
        frame=frame, spec=spec,
        notes=(DVA_NOTE, PENDING_NOTE, NOT_COLLECTED_NOTE,
               NA_NOTE + " The Total row's split would include 2012-13, so it is ':' too.",
               "A child who became looked after twice counts twice.",
               *_calendar_notes(cal)),
    )  # fmt: skip


COHORT_NOTES = (
    "Groups: dan = children of families the Domestic Abuse Navigators (DANs) worked with, "
    "indexed at the family's first DAN allocation; comparison = children of families whose "
    "DVA became known to children's social care (an assessment recording 3A, 3B or 3C was "
    "authorised) during the programme period and who had no DAN case, indexed at that date.",
    "The groups are not randomised. Comparison families are selected differently (a DVA factor "
    "at assessment, not a referral to a DAN), so they may differ in risk, need and services "
    "received in ways these data do not show.",
    "The index dates differ in meaning: a DAN allocation against the date an assessment "
    "recording DVA was authorised, so the two groups are at different points in their contact "
    "with services.",
    "Only children indexed early enough for the later date to fall by the data end are "
    "observable: fewer children at 12 months than at 6, and those indexed earlier in the "
    "programme (see children_not_observed in a6_status_step_rates).",
    "Statuses are as recorded by children's social care: none < child in need < child "
    "protection plan < looked after, the most intensive that applies on the date.",
    "Looked-after periods have no end dates in the extract: looked-after status is assumed to "
    "last while the episode it started in is open.",
    "Any difference between the groups is descriptive, not an effect of the programme.",
)


def _transition_table(cohort: pd.DataFrame, horizon: int) -> Table:
    tr = vstatus.transitions(cohort, horizon)
    statuses = [VSTATUS_LABELS[s] for s in vstatus.STATUSES]
    blocks, row_totals = [], []
    for g in vstatus.GROUPS:
        part = tr[tr["group"].astype(str) == g]
        m = part.pivot_table(index="status_at_index", columns="status_after", values="children",
                             aggfunc="sum", observed=False)  # fmt: skip
        m = m.reindex(index=list(vstatus.STATUSES), columns=list(vstatus.STATUSES))
        m = m.fillna(0).astype("int64")
        m.index = [f"{GROUP_LABELS[g]}: {VSTATUS_LABELS[s]}" for s in m.index]
        m.columns = statuses
        m.loc[f"{GROUP_LABELS[g]}: {TOTAL}"] = m.sum(axis=0)
        row_totals.append((f"{GROUP_LABELS[g]}: {TOTAL}", tuple(m.index[:-1])))
        blocks.append(m)
    frame = pd.concat(blocks)
    frame[TOTAL] = frame[statuses].sum(axis=1)
    frame = frame.astype("int64")
    frame.index.name = "group: status_at_index"
    spec = TableSpec(counts=(*statuses, TOTAL), column_totals=((TOTAL, tuple(statuses)),),
                     row_totals=tuple(row_totals))  # fmt: skip
    return Table(
        name=f"a6_status_transitions_{horizon}m", appendix=APPENDIX,
        title=f"Children's vulnerability status at the index date and {horizon} months later, "
              "DAN and comparison groups",
        caption=("Children of the status cohort (derived status_cohort) whose status is "
                 f"observed both at the index date and {horizon} months later, by group, "
                 "status at the index date (rows) and status after "
                 f"{horizon} months (columns), with row and column totals "
                 "(gf_eval.derive.status.transitions)."),
        frame=frame, spec=spec, notes=COHORT_NOTES,
    )  # fmt: skip


STEP_COLS = ["children", "stepped_up", "stepped_down", "unchanged", "children_not_observed"]


def _step_rates(cohort: pd.DataFrame) -> Table:
    rows = []
    for h in HORIZONS:
        sr = vstatus.step_rates(cohort, h)
        sr = sr[sr["status_at_index"].astype(str) == vstatus.ALL]
        for g in vstatus.GROUPS:
            r = sr[sr["group"].astype(str) == g]
            vals = r[STEP_COLS].iloc[0] if len(r) else pd.Series(0, index=STEP_COLS)
            rows.append(pd.Series(vals.to_numpy(), index=STEP_COLS,
                                  name=f"{GROUP_LABELS[g]}, {h} months"))  # fmt: skip
    frame = pd.DataFrame(rows).astype("int64")
    frame = frame.rename(
        columns={"children": "children_observed", "children_not_observed": "not_yet_observable"}
    )
    frame.insert(0, "children_in_group", frame["children_observed"] + frame["not_yet_observable"])
    derived = {}
    for col in ("stepped_up", "stepped_down", "unchanged"):
        frame[f"pct_{col}"] = _pct(frame[col], frame["children_observed"])
        derived[f"pct_{col}"] = (col, "children_observed")
    frame.index.name = "group_and_horizon"
    counts = ("children_in_group", "children_observed", "stepped_up", "stepped_down",
              "unchanged", "not_yet_observable")  # fmt: skip
    spec = TableSpec(counts=counts, derived=derived,
                     column_totals=(("children_in_group",
                                     ("children_observed", "not_yet_observable")),
                                    ("children_observed",
                                     ("stepped_up", "stepped_down", "unchanged"))))  # fmt: skip
    return Table(
        name="a6_status_step_rates", appendix=APPENDIX,
        title="Children stepping up or down in vulnerability status 6 and 12 months after the "
              "index date, DAN and comparison groups",
        caption=("Per group and horizon (gf_eval.derive.status.step_rates): children observed "
                 "at both dates; stepped_up / stepped_down: status more / less intensive than "
                 "at the index date (none < child in need < CP plan < looked after); "
                 "unchanged; pct_<x> = 100 x <x> / children_observed. not_yet_observable: "
                 "children whose later date falls after the data end."),
        frame=frame, spec=spec, notes=COHORT_NOTES,
    )  # fmt: skip


def _build(derived: dict, typed: dict, config: dict) -> list[Table]:
    cohort = derived["status_cohort"]
    return [
        _referrals_by_source(derived, config),
        _factor_prevalence(derived, config),
        _dva_rereferrals(derived, config),
        _cin_dva(derived, config),
        _cp_plans(derived, typed, config),
        _cp_plans_by_year(derived, typed, config),
        _looked_after(derived, typed, config),
        *(_transition_table(cohort, h) for h in HORIZONS),
        _step_rates(cohort),
    ]


def tables(derived: dict[str, pd.DataFrame], typed: dict[str, pd.DataFrame],
           config: dict) -> list[Table]:  # fmt: skip
    """Appendix 6's tables. publish.write_tables suppresses each one; cells that would let a
    suppressed count be worked out from another table here are also suppressed (spec.suppress)."""
    built = _build(derived, typed, config)
    return protect_linked(built, _links({t.name: t for t in built}),
                          config["disclosure"]["threshold"], headline=HEADLINE)  # fmt: skip


# --- linked tables --------------------------------------------------------------------------
# The step rates are the section's summary: withhold transition cells rather than these.
HEADLINE = ("a6_status_step_rates",)


def _fy_sum(total: Cell, table: str, years: list[str], col: str) -> tuple[Cell, ...]:
    return (total, *((table, y, col) for y in years))


def _links(t: dict[str, Table]) -> list[tuple[Cell, ...]]:
    """Relations between cells of different tables (see protect_linked)."""
    links: list[tuple[Cell, ...]] = []
    src, prev, rer, cin = (t[n] for n in ("a6_referrals_by_source", "a6_factor_prevalence",
                                          "a6_dva_rereferrals", "a6_cin_dva"))  # fmt: skip
    years = [y for y in prev.frame.index if y != TOTAL]
    shared = [c for c in ("referrals", "referrals_known", "pending", "not_collected")
              if c in prev.frame.columns]  # fmt: skip
    for y in years:
        for c in shared:  # the same counts in three tables
            links += [((prev.name, y, c), (rer.name, y, c)), ((prev.name, y, c), (cin.name, y, c))]
        links.append(((prev.name, y, "any_dva"), (cin.name, y, "dva_referrals")))
    # Period totals by source = the same totals by year.
    s = src.name
    links += [
        ((s, TOTAL, TOTAL), (prev.name, TOTAL, "referrals")),
        ((s, TOTAL, "Pending"), (prev.name, TOTAL, "pending")),
        ((s, TOTAL, "DVA"), (prev.name, TOTAL, "any_dva")),
        ((prev.name, TOTAL, "referrals_known"), (s, TOTAL, "DVA"), (s, TOTAL, "Not DVA")),
    ]
    if "Not collected" in src.frame.columns:
        links.append(((s, TOTAL, "Not collected"), (prev.name, TOTAL, "not_collected")))

    cp, cpy = t["a6_cp_plans"], t["a6_cp_plans_by_year"]
    dva_years = [y for y in cpy.frame.index if y != TOTAL and pd.notna(cpy.frame.at[y, "DVA"])]
    for row in cp.frame.index:  # category rows are "Name (CODE)", by-year columns "Name"
        col = TOTAL if row == TOTAL else row.rsplit(" (", 1)[0]
        if col in cpy.frame.columns:
            links.append(_fy_sum((cp.name, row, TOTAL), cpy.name, dva_years, col))
    for col in cp.spec.counts:
        if col != TOTAL and col in cpy.frame.columns:
            links.append(_fy_sum((cp.name, TOTAL, col), cpy.name, dva_years, col))

    steps = t["a6_status_step_rates"]
    statuses = [VSTATUS_LABELS[x] for x in vstatus.STATUSES]
    for g in vstatus.GROUPS:
        gl = GROUP_LABELS[g]
        first = (steps.name, f"{gl}, {HORIZONS[0]} months", "children_in_group")
        for h in HORIZONS:
            row, tr = f"{gl}, {h} months", t[f"a6_status_transitions_{h}m"].name
            if h != HORIZONS[0]:  # the same children at every horizon
                links.append((first, (steps.name, row, "children_in_group")))
            links.append(((steps.name, row, "children_observed"), (tr, f"{gl}: {TOTAL}", TOTAL)))
            for col, keep in (
                ("stepped_up", lambda i, j: j > i),
                ("stepped_down", lambda i, j: j < i),
                ("unchanged", lambda i, j: j == i),
            ):
                cells = [
                    (tr, f"{gl}: {a}", b)
                    for i, a in enumerate(statuses)
                    for j, b in enumerate(statuses)
                    if keep(i, j)
                ]
                links.append(((steps.name, row, col), *cells))
    return links


# --- figures --------------------------------------------------------------------------------


def _shown(table: Table, threshold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The table's numbers with every suppressed cell (and every NA) as NaN, and the text the
    published table shows (so a left-out value can carry the same symbol)."""
    mask = suppression_mask(table.frame, table.spec, threshold)
    numeric = table.frame.apply(lambda s: pd.to_numeric(s).astype("Float64"))
    return numeric.mask(mask).astype(float), protect(table.frame, table.spec, threshold)


SUPPRESSED_CAPTION = ("Values the matching table suppresses (c), withholds (:) or cannot "
                      "compute (z) are left out of the figure and marked with that "
                      "symbol.")  # fmt: skip


def _prevalence_figure(table: Table, threshold: int) -> Figure:
    shown, text = _shown(table, threshold)
    shown = shown.drop(index=TOTAL)
    fig, ax = new_figure()
    x = period_middle(shown.index)
    styles = {"3A": "#1f5fa8", "3B": "#c0392b", "3C": "#e67e22", "any_dva": "#4d4d4d"}
    for col, colour in styles.items():
        y = shown[f"pct_{col}"].to_numpy()
        label = f"{col}: {codes.FACTORS[col]}" if col in codes.FACTORS else "Any DVA factor"
        ax.plot(x, y, marker="o", color=colour, label=label,
                linestyle="--" if col == "any_dva" else "-")  # fmt: skip
        for i in np.flatnonzero(np.isnan(y)):
            symbol = text.at[shown.index[i], f"pct_{col}"]
            ax.annotate(symbol, (x[i], 0), ha="center", va="bottom", color=colour)
    date_axis(ax, period_bounds(shown.index[0])[0], period_bounds(shown.index[-1])[1],
              "financial year of referral (April to March; short ticks mark the quarters)")
    ax.set_ylabel("% of episodes with a known DVA status")
    ax.set_ylim(bottom=0)
    ax.set_title("Domestic violence factors at assessment, by financial year")
    ax.legend(fontsize=7, frameon=False)
    return Figure(
        name="a6_factor_prevalence", appendix=APPENDIX, title=ax.get_title(),
        caption=("Percentage of episodes with a known DVA status recording factor 3A, 3B or 3C, "
                 "and any of them, by financial year of referral; from table "
                 "a6_factor_prevalence (pending episodes excluded). An episode can record "
                 "several factors. " + SUPPRESSED_CAPTION),
        figure=fig,
    )  # fmt: skip


def _step_figure(table: Table, threshold: int) -> Figure:
    shown, text = _shown(table, threshold)
    fig, axes = new_figure(width=8.0, height=4.8, ncols=len(HORIZONS))
    measures = {"pct_stepped_up": "Stepped up", "pct_stepped_down": "Stepped down"}
    width = 0.38
    top = np.nanmax(shown[list(measures)].to_numpy(), initial=0.0)
    for ax, h in zip(axes, HORIZONS, strict=True):
        x = np.arange(len(measures))
        for i, g in enumerate(vstatus.GROUPS):
            row = f"{GROUP_LABELS[g]}, {h} months"
            y = shown.loc[row, list(measures)].to_numpy(dtype=float)
            pos = x + (i - 0.5) * width
            # n as the published table shows it: a suppressed count stays "c".
            n = text.at[row, "children_observed"]
            # (with every bar suppressed, the empty container still gives the legend entry)
            ax.bar(pos[~np.isnan(y)], y[~np.isnan(y)], width, color=COLOURS[g],
                   label=f"{GROUP_LABELS[g]}, n = {n}")  # fmt: skip
            for p, m in zip(pos[np.isnan(y)], np.array(list(measures))[np.isnan(y)], strict=True):
                ax.annotate(text.at[row, m], (p, 0), ha="center", va="bottom")
        ax.set_xticks(x, list(measures.values()))
        ax.set_xlim(-0.6, len(measures) - 0.4)  # so a suppressed bar's "c" is never clipped
        ax.set_ylim(0, max(10.0, top * 1.15))
        ax.set_ylabel("% of children observed")
        ax.set_xlabel(f"Status {h} months after the index date")
        ax.set_title(f"{h} months")
        # Below the axes, so that it never hides a bar.
        ax.legend(frameon=False, fontsize=8, title="children observed at both dates",
                  title_fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2))  # fmt: skip
    title = "Children stepping up or down in status: DAN and comparison groups"
    fig.suptitle(title)
    fig.subplots_adjust(top=0.84, bottom=0.33, wspace=0.3)
    return Figure(
        name="a6_status_step_rates", appendix=APPENDIX, title=title,
        caption=("Percentage of children observed at both dates whose vulnerability status "
                 "(none < child in need < CP plan < looked after) was more (stepped up) or less "
                 "(stepped down) intensive 6 and 12 months after the index date than at it; "
                 "from table a6_status_step_rates. The groups are not randomised and the "
                 "difference is descriptive, not an effect of the programme. n: children "
                 "observed at both dates in the group (children_observed, the bars' "
                 "denominator), as the table shows it. " + SUPPRESSED_CAPTION),
        figure=fig,
    )  # fmt: skip


def figures(derived: dict[str, pd.DataFrame], typed: dict[str, pd.DataFrame],
            config: dict, published: list[Table] | None = None) -> list[Figure]:  # fmt: skip
    """Appendix 6's figures, drawn only from values the published tables show (`published`,
    else built again)."""
    threshold = config["disclosure"]["threshold"]
    # The tables already built for publication, when given: building them is most of the job.
    published = {t.name: t for t in (tables(derived, typed, config) if published is None
                                     else published)}  # fmt: skip
    return [
        _prevalence_figure(published["a6_factor_prevalence"], threshold),
        _step_figure(published["a6_status_step_rates"], threshold),
    ]
