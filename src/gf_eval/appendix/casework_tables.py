"""Appendix 7: the Domestic Abuse Navigators' (DANs') casework books.

Tables and figures from the typed casework table (one row per family case): the caseload, how
families came and how long the work lasted, who engaged, and the outcome measures at allocation
and closure with the analyses of gf_eval.analysis.casework. Several tables count the same
cases, so they are protected jointly (linked.protect_linked). Financial quarters
start in April ("2015-16 Q3" = October to December 2015).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from gf_eval import codes
from gf_eval.analysis import casework as cw
from gf_eval.appendix.build import TOTAL, counts_by, financial_quarter
from gf_eval.appendix.plotting import COLOURS, new_figure
from gf_eval.appendix.publish import Figure, Table
from gf_eval.appendix.linked import WITHHELD_NOTE, protect_linked, spec_constraints
from gf_eval.config import Calendar
from gf_eval.disclosure import TableSpec, determined, suppression_mask
from gf_eval.layout import PART_FIGURES, PART_TABLES

APPENDIX = "7"
TABLES, FIGURES = PART_TABLES["7"], PART_FIGURES["7"]

WAIT_BANDS = (("0-6 days", 0, 6), ("7-13 days", 7, 13), ("14-27 days", 14, 27),
              ("28+ days", 28, np.inf))  # fmt: skip
LENGTH_BANDS = (("0-90 days", 0, 90), ("91-182 days", 91, 182), ("183-364 days", 183, 364),
                ("365+ days", 365, np.inf))  # fmt: skip
# (label, (victim, perpetrator, children) engaged): every combination, so they add to Total.
COMBINATIONS = (
    ("Whole family: victim, perpetrator and children", (True, True, True)),
    ("Victim only", (True, False, False)),
    ("Victim and children", (True, False, True)),
    ("Victim and perpetrator", (True, True, False)),
    ("Perpetrator and children, not the victim", (False, True, True)),
    ("Perpetrator only", (False, True, False)),
    ("Children only", (False, False, True)),
    ("No one", (False, False, False)),
)
MEMBERS = ("victim", "perpetrator", "children")
MEMBER_ROWS = {m: f"Any case where the {m} engaged" for m in MEMBERS}
MEASURE_NAMES = {
    "dash": "DASH risk checklist score (0-24)",
    "swemwbs": "SWEMWBS wellbeing score (7-35)",
    "safety": "Victim's rating of feeling safe (1-10)",
    "sdq": "Index child's SDQ total difficulties (0-40)",
}
MEASURE_SHORT = {"dash": "DASH", "swemwbs": "SWEMWBS", "safety": "Feeling safe", "sdq": "SDQ"}
BASE_NOTE = ("Base: every case, except sdq, which is recorded only where the children engaged "
             "(its base is those cases).")  # fmt: skip
ASSOCIATION = ("Before-and-after change in families who received the service, with no "
               "comparison group: it is not an effect of the service, as families may have "
               "improved without it (regression to the mean, a crisis passing).")  # fmt: skip
P_DECIMALS = 4


# --- data --------------------------------------------------------------------------------------


def _month(d: pd.Timestamp) -> str:
    return f"{d:%B %Y}"


def _dan_labels(casework: pd.DataFrame) -> dict[str, str]:
    """DAN keys as published labels, dan_1 ... by the dates of their allocations, earliest
    first (the keys themselves stay in). Not by key: a pseudonym carries no order, and the same
    casework under another key must publish the same table."""
    dates = casework.dropna(subset=["dan_id"]).groupby("dan_id")["allocation_date"]
    order = sorted(dates.groups, key=lambda k: (tuple(sorted(dates.get_group(k))), k))
    return {k: f"dan_{i + 1}" for i, k in enumerate(order)}


def _band(values: pd.Series, bands) -> pd.Series:
    out = pd.Series(np.nan, index=values.index, dtype=object)
    for label, low, high in bands:
        out[(values >= low) & (values <= high)] = label
    return out


def _quartiles(values) -> tuple[float, float, float]:
    v = pd.Series(values, dtype=float).dropna().to_numpy()
    return tuple(np.percentile(v, [50, 25, 75])) if v.size else (np.nan,) * 3


def _add_quartiles(frame: pd.DataFrame, groups: pd.Series, values: pd.Series, stem: str,
                   base: str) -> dict:  # fmt: skip
    """Median and quartiles of `values` per row group (Total: all) as derived columns of
    `base`; returns their spec entries."""
    cols = [f"median_{stem}", f"q1_{stem}", f"q3_{stem}"]
    found = {row: _quartiles(values if row == TOTAL else values[groups == row])
             for row in frame.index}  # fmt: skip
    frame[cols] = pd.DataFrame.from_dict(found, orient="index", columns=cols)
    return {f"{q}_{stem}": (base,) for q in ("median", "q1", "q3")}


def _table(short: str, title: str, caption: str, frame: pd.DataFrame, spec: TableSpec,
           notes=()) -> Table:  # fmt: skip
    frame.index = frame.index.map(str)
    plan = "sensitivity" if short == "missing_sensitivity" else "descriptive"
    return Table(f"a7_{short}", APPENDIX, title, caption, frame, spec, tuple(notes), plan)


# --- caseload, referrals, involvement, engagement ----------------------------------------------


def caseload_table(casework: pd.DataFrame, config: dict) -> Table:
    """Cases allocated per financial quarter by DAN, with new families and their children."""
    cal = Calendar.from_config(config)
    df = casework.sort_values(["allocation_date", "case_id"]).copy()
    first = min(df["allocation_date"].min(), cal.intervention_start)
    last = max(df["allocation_date"].max(), cal.funding_end)
    months = pd.Series(pd.period_range(first, last, freq="M").to_timestamp())
    quarters = list(dict.fromkeys(financial_quarter(months)))
    df["quarter"] = financial_quarter(df["allocation_date"])
    dans = _dan_labels(df)
    df["dan"] = df["dan_id"].map(dans)
    frame, spec = counts_by(df, "quarter", "dan", row_order=quarters, col_order=dans.values(),
                            missing=None, share=False)  # fmt: skip
    new = ~df["family_id"].duplicated()  # a family's first case
    for col, values in (("new_families", new.astype(int)),
                        ("returning_cases", (~new).astype(int)),
                        ("children", df["n_children"].astype("Float64").fillna(0).where(new, 0))):
        by_q = values.groupby(df["quarter"]).sum().reindex(quarters, fill_value=0)
        frame[col] = [*by_q.astype("int64"), int(by_q.sum())]  # fmt: skip
    spec = replace(spec, counts=(*spec.counts, "new_families", "returning_cases", "children"),
                   column_totals=(*spec.column_totals,
                                  (TOTAL, ("new_families", "returning_cases"))))  # fmt: skip
    frame.index.name = "financial_quarter_of_allocation"
    return _table(
        "caseload_by_quarter", "DAN cases allocated by financial quarter and navigator",
        f"DAN cases by the financial quarter of allocation ({_month(first)} to {_month(last)}) "
        "and the navigator who held them (dan_1 ... in the order of their pseudonymised keys); "
        "Total = all navigators. new_families = cases that were the family's first DAN case; "
        "returning_cases = later cases of a family already allocated; children = children "
        "recorded in the new families at allocation (n_children), so each family's children "
        "count once.",
        frame, spec,
        [f"The DAN service ran from {_month(cal.intervention_start)} to "
         f"{_month(cal.funding_end)}; quarters at either end may be part-quarters.",
         "Navigators are shown by label, not by key."],
    )  # fmt: skip


def open_caseload_table(casework: pd.DataFrame, config: dict) -> Table:
    """Cases open at each month end, by DAN."""
    cal = Calendar.from_config(config)
    dans = _dan_labels(casework)
    first = min(casework["allocation_date"].min(), cal.intervention_start)
    ends = pd.period_range(first, cal.data_end, freq="M").to_timestamp(how="end").normalize()
    closure = casework["closure_date"]
    rows = {}
    for end in ends:
        live = (casework["allocation_date"] <= end) & (closure.isna() | (closure > end))
        by_dan = casework.loc[live, "dan_id"].map(dans).value_counts()
        rows[f"{end:%Y-%m}"] = by_dan.reindex(list(dans.values()), fill_value=0)
    frame = pd.DataFrame(rows).T.astype("int64")
    frame.columns.name = None
    frame[TOTAL] = frame.sum(axis=1)
    frame.index.name = "month_end"
    spec = TableSpec(counts=(*dans.values(), TOTAL),
                     column_totals=((TOTAL, tuple(dans.values())),))  # fmt: skip
    return _table(
        "open_caseload", "Open DAN caseload at each month end, by navigator",
        f"DAN cases open on the last day of each month, {_month(ends[0])} to "
        f"{_month(ends[-1])}: allocated on or before that day and not closed by it (a case "
        "closed on the last day is not open). Columns as in a7_caseload_by_quarter; Total = "
        "all navigators.",
        frame, spec,
        ["A caseload is a stock, not a flow: months do not add up, so there is no Total row.",
         f"Cases still open at {cal.data_end.day} {_month(cal.data_end)} are open in the last "
         "row."],
    )  # fmt: skip


def referral_table(casework: pd.DataFrame) -> Table:
    """Referral routes, with the days from referral to allocation."""
    days = (casework["allocation_date"] - casework["referral_date"]).dt.days
    df = casework.assign(wait=_band(days, WAIT_BANDS))
    frame, spec = counts_by(df, "referral_route", "wait", row_order=list(codes.CASEWORK_ROUTES),
                            col_order=[b for b, _, _ in WAIT_BANDS],
                            row_names=codes.CASEWORK_ROUTES, share=False)  # fmt: skip
    frame = frame.rename(columns={TOTAL: "cases"})
    spec = replace(spec, counts=tuple("cases" if c == TOTAL else c for c in spec.counts),
                   column_totals=(("cases", spec.column_totals[0][1]),))  # fmt: skip
    frame["pct_cases"] = 100 * frame["cases"] / frame.loc[TOTAL, "cases"]
    routes = df["referral_route"].map(codes.CASEWORK_ROUTES)
    derived = {"pct_cases": ("cases", (TOTAL, "cases"))}
    derived |= _add_quartiles(frame, routes, days, "days", "cases")
    spec = replace(spec, derived=derived)
    frame.index.name = "referral_route"
    return _table(
        "referral_route", "DAN cases by referral route and time from referral to allocation",
        "DAN cases by where the referral came from (C14 referral routes) and by the days from "
        "referral to allocation (allocation_date - referral_date), in bands; cases = all bands; "
        "pct_cases = the route's cases per 100 cases; median, q1 and q3 (lower and upper "
        "quartiles) of the days from referral to allocation in the route (Total: all cases).",
        frame, spec,
    )  # fmt: skip


def involvement_table(casework: pd.DataFrame) -> Table:
    """Closed cases: closure reasons, length of involvement and contacts."""
    closed = casework[casework["closure_date"].notna()]
    days = (closed["closure_date"] - closed["allocation_date"]).dt.days
    df = closed.assign(length=_band(days, LENGTH_BANDS))
    frame, spec = counts_by(df, "closure_reason", "length",
                            row_order=list(codes.CASEWORK_CLOSURES),
                            col_order=[b for b, _, _ in LENGTH_BANDS],
                            row_names=codes.CASEWORK_CLOSURES, share=False)  # fmt: skip
    frame = frame.rename(columns={TOTAL: "closed"})
    spec = replace(spec, counts=tuple("closed" if c == TOTAL else c for c in spec.counts),
                   column_totals=(("closed", spec.column_totals[0][1]),))  # fmt: skip
    frame["pct_closed"] = 100 * frame["closed"] / frame.loc[TOTAL, "closed"]
    reasons = df["closure_reason"].map(codes.CASEWORK_CLOSURES)
    derived = {"pct_closed": ("closed", (TOTAL, "closed"))}
    derived |= _add_quartiles(frame, reasons, days, "days", "closed")
    derived |= _add_quartiles(frame, reasons, closed["contacts"].astype("Float64"), "contacts",
                              "closed")  # fmt: skip
    spec = replace(spec, derived=derived)
    frame.index.name = "closure_reason"
    return _table(
        "involvement", "Closed DAN cases: why they closed, how long the work lasted, contacts",
        "DAN cases closed by the data end, by closure reason (C15) and by the length of "
        "involvement (closure_date - allocation_date, in days, in bands); closed = all bands; "
        "pct_closed = the reason's cases per 100 closed cases; median, q1 and q3 (quartiles) of "
        "the days of involvement and of the contacts recorded in the case.",
        frame, spec,
        ["Cases still open at the data end are left out: their length is not yet known (see "
         "a7_open_caseload), so the lengths here under-represent the longest pieces of work."],
    )  # fmt: skip


def engagement_table(casework: pd.DataFrame) -> Table:
    """Cases by which family members engaged: every combination, and each member's total."""
    flags = [casework[f"{m}_engaged"].fillna(False).astype(bool) for m in MEMBERS]
    counts = {}
    for label, combo in COMBINATIONS:
        hit = np.logical_and.reduce([f == want for f, want in zip(flags, combo, strict=True)])
        counts[label] = int(hit.sum())
    for member, f in zip(MEMBERS, flags, strict=True):
        counts[MEMBER_ROWS[member]] = int(f.sum())
    counts[TOTAL] = len(casework)
    frame = pd.DataFrame({"cases": counts}).astype("int64")
    frame["pct_cases"] = 100 * frame["cases"] / (frame.loc[TOTAL, "cases"] or np.nan)
    frame.index.name = "who_engaged"
    labels = [c for c, _ in COMBINATIONS]
    member_totals = tuple(
        (MEMBER_ROWS[m], tuple(c for c, combo in COMBINATIONS if combo[i]))
        for i, m in enumerate(MEMBERS)
    )
    spec = TableSpec(counts=("cases",), derived={"pct_cases": ("cases", (TOTAL, "cases"))},
                     row_totals=((TOTAL, tuple(labels)), *member_totals))  # fmt: skip
    return _table(
        "engagement", "Which family members engaged with the DAN",
        "DAN cases by which members of the family engaged with the navigator "
        "(victim_engaged, perpetrator_engaged, children_engaged): every combination, which "
        "add up to Total, then each member's total over the combinations; pct_cases = per 100 "
        "cases. 'Whole family' is all three; 'Victim only' is the victim without the "
        "perpetrator or the children.",
        frame, spec,
    )  # fmt: skip


# --- outcomes ----------------------------------------------------------------------------------


def _measure_frame(results: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(index=pd.Index(results.index, name="measure"))
    frame["measure_name"] = [MEASURE_NAMES[m] for m in frame.index]
    frame["better"] = [codes.CASEWORK_MEASURES[m][2] for m in frame.index]
    return frame


def outcomes_table(paired: pd.DataFrame, threshold: int) -> Table:
    """Paired outcomes at allocation and closure, with reliable change."""
    frame = _measure_frame(paired)
    frame["n_pairs"] = paired["n_pairs"].astype("int64")
    model = ["mean_alloc", "mean_close", "mean_change", "ci_low", "ci_high", "t_p",
             "wilcoxon_p", "d_z", "reliability", "sd_alloc", "reliable_threshold"]  # fmt: skip
    frame[model] = paired[model]
    parts = {"improved": "n_improved", "no_reliable_change": "n_no_change",
             "deteriorated": "n_deteriorated"}  # fmt: skip
    derived = {c: ("n_pairs",) for c in model}
    for col, src in parts.items():
        frame[col] = paired[src].astype("int64")
    for col in parts:
        frame[f"pct_{col}"] = 100 * frame[col] / frame["n_pairs"].where(frame["n_pairs"] > 0)
        derived[f"pct_{col}"] = (col, "n_pairs")
    # A small improved or deteriorated count would otherwise take the other one with it; the
    # large no-change count is suppressed instead, so that the share improved stays in view.
    small = frame[["improved", "deteriorated"]].isin(range(1, threshold + 1))
    keep = [(m, "no_reliable_change") for m in frame.index if small.loc[m].sum() == 1]
    decimals = {c: 2 for c in derived} | {"t_p": P_DECIMALS, "wilcoxon_p": P_DECIMALS}
    decimals |= {c: 1 for c in derived if c.startswith("pct_")}
    spec = TableSpec(counts=("n_pairs", *parts), derived=derived, labels=("measure_name", "better"),
                     column_totals=(("n_pairs", tuple(parts)),), decimals=decimals,
                     suppress=tuple(keep))  # fmt: skip
    return _table(
        "outcomes", "Outcome measures at allocation and at closure: paired change and "
        "reliable change",
        "Cases with the measure recorded both at allocation and at closure (n_pairs): mean at "
        "allocation and at closure, mean change (closure - allocation) with its 95% t interval, "
        "two-sided paired t test (t_p) and Wilcoxon signed-rank test (wilcoxon_p), and d_z = "
        "mean change / SD of the changes (gf_eval.stats.prepost.paired_continuous). Reliable "
        "change (Jacobson-Truax): a change larger than reliable_threshold = 1.96 x sqrt(2) x "
        "sd_alloc x sqrt(1 - reliability), where reliability is the measure's documented "
        "figure (data dictionary section 4) and sd_alloc the SD of every recorded allocation "
        "score; improved or deteriorated by the direction in 'better', with percentages of "
        "n_pairs.",
        frame, spec,
        [ASSOCIATION, BASE_NOTE,
         "Complete pairs only: families who lost their closure measure (often those who "
         "disengaged) are missing; see a7_attrition and a7_missing_sensitivity.",
         "Reliabilities: SWEMWBS 0.84 and SDQ 0.80 are published internal consistencies; DASH "
         "0.80 and the single safety item 0.70 are the project's assumptions.",
         "p-values shown as 0.0000 are below 0.00005."],
    )  # fmt: skip


def attrition_table(att: pd.DataFrame) -> Table:
    """Who lost the closure measure, and completers against non-completers at allocation."""
    frame = _measure_frame(att)
    counts = ["cases", "open", "closed", "completers", "noncompleters", "closed_no_alloc",
              "whole_family_completers", "whole_family_noncompleters",
              "victim_only_completers", "victim_only_noncompleters",
              "disengaged_completers", "disengaged_noncompleters"]  # fmt: skip
    frame[counts] = att[counts].astype("int64")
    derived = {}
    for group in ("completers", "noncompleters"):
        frame[f"mean_alloc_{group}"] = att[f"mean_alloc_{group}"]
        derived[f"mean_alloc_{group}"] = (group,)
        for what in ("whole_family", "victim_only", "disengaged"):
            col = f"pct_{what}_{group}"
            frame[col] = 100 * frame[f"{what}_{group}"] / frame[group].where(frame[group] > 0)
            derived[col] = (f"{what}_{group}", group)
    for col in ("alloc_p", "pattern_p", "disengaged_p"):
        frame[col] = att[col]
        derived[col] = ("completers", "noncompleters")
    decimals = {c: 1 for c in derived} | {c: P_DECIMALS for c in derived if c.endswith("_p")}
    decimals |= {f"mean_alloc_{g}": 2 for g in ("completers", "noncompleters")}
    spec = TableSpec(counts=tuple(counts), derived=derived, labels=("measure_name", "better"),
                     column_totals=(("cases", ("open", "closed")),
                                    ("closed", ("completers", "noncompleters",
                                                "closed_no_alloc"))),
                     decimals=decimals)  # fmt: skip
    return _table(
        "attrition", "Missing closure measures: who was followed up and how they differed",
        "Per measure, the base cases split into open at the data end and closed; closed cases "
        "into completers (both scores recorded), non-completers (allocation score, no closure "
        "score) and closed_no_alloc (no allocation score). Completers and non-completers are "
        "compared at allocation: mean allocation score (Welch t test, alloc_p); the share "
        "whose whole family or victim only engaged, with a chi-square test of the engagement "
        "pattern (whole family, victim only, victim and children, victim and perpetrator, "
        "victim not engaged) against completion (pattern_p); and the share closed because the "
        "family disengaged (chi-square, or Fisher's exact test when an expected count is under "
        "5; disengaged_p). Percentages are of the group.",
        frame, spec,
        [BASE_NOTE, "Tests are descriptive: they show whether non-completers differ, not why."],
    )  # fmt: skip


def missing_table(ipw: pd.DataFrame, paired: pd.DataFrame, att: pd.DataFrame,
                  seed: int) -> Table:  # fmt: skip
    """Complete-case, inverse-probability weighted and bounded mean change."""
    frame = _measure_frame(ipw)
    frame[["completers", "noncompleters", "cases"]] = att[["completers", "noncompleters",
                                                            "cases"]].astype("int64")  # fmt: skip
    frame["cc_mean_change"] = paired["mean_change"]
    frame["cc_ci_low"], frame["cc_ci_high"] = paired["ci_low"], paired["ci_high"]
    cols = ["ipw_mean_change", "ipw_ci_low", "ipw_ci_high", "max_weight", "change_p10",
            "change_p90", "bound_p10", "bound_p90"]  # fmt: skip
    frame[cols] = ipw[cols]
    derived = {c: ("completers",) for c in ("cc_mean_change", "cc_ci_low", "cc_ci_high",
                                            "change_p10", "change_p90")}  # fmt: skip
    derived |= {c: ("completers", "noncompleters") for c in cols[:4]}
    derived |= {c: ("completers", "cases") for c in ("bound_p10", "bound_p90")}
    spec = TableSpec(counts=("completers", "noncompleters", "cases"), derived=derived,
                     labels=("measure_name", "better"),
                     decimals={c: 2 for c in derived})  # fmt: skip
    lo, hi = (int(100 * q) for q in cw.BOUND_QUANTILES)
    return _table(
        "missing_sensitivity", "Sensitivity of the mean change to missing closure measures",
        "cc_: the complete-case mean change and 95% t interval (as a7_outcomes). ipw_: the mean "
        "change with completers weighted by the stabilised inverse probability of having the "
        "closure score, from a logistic model (GLM, binomial) fitted to the closed cases with "
        "an allocation score (completers + noncompleters) on the allocation score, whole-family "
        "engagement and closure as disengaged; 95% percentile bootstrap interval from "
        f"{cw.RESAMPLES} resamples of those cases, model refitted each time (seed {seed}); "
        "max_weight = the largest stabilised weight. Bounds: every base case without a "
        f"complete pair (cases - completers: open, unscored or not followed up) is given the "
        f"complete cases' {lo}th percentile change (change_p{lo}), then the {hi}th "
        f"(change_p{hi}); bound_p{lo} and bound_p{hi} are the resulting means over all cases.",
        frame, spec,
        [BASE_NOTE,
         "The weighting assumes that, among closed cases with the same allocation score, "
         "engagement and closure reason, whether the closure score was taken is unrelated to "
         "the change; it speaks for closed cases, as open cases have no closure reason yet.",
         f"The bounds are a plausible range, not worst-case limits: non-completers are assumed "
         f"to change no less than the {lo}th and no more than the {hi}th percentile of the "
         "completers. Which bound is the worse outcome depends on 'better'.",
         ASSOCIATION],
    )  # fmt: skip


def engagement_outcomes_table(reg: pd.DataFrame) -> Table:
    """Change by whole-family against partial engagement: an association."""
    frame = _measure_frame(reg)
    frame["compared_with"] = [cw.PATTERNS[r] for r in reg["reference"]]
    frame[["n_whole_family", "n_reference"]] = reg[["n_whole_family", "n_reference"]].astype(
        "int64")
    cols = ["difference", "ci_low", "ci_high", "p", "alloc_slope"]
    frame[cols] = reg.reindex(columns=cols)
    derived = {c: ("n_whole_family", "n_reference") for c in cols}
    spec = TableSpec(counts=("n_whole_family", "n_reference"), derived=derived,
                     labels=("measure_name", "better", "compared_with"),
                     decimals={c: 2 for c in cols} | {"p": P_DECIMALS})  # fmt: skip
    return _table(
        "engagement_outcomes", "Change in outcomes by engagement pattern: an association, not "
        "an effect",
        "Complete pairs whose whole family engaged (n_whole_family) or whose engagement was the "
        "comparison pattern (n_reference: victim only; for sdq, a child measure, victim and "
        "children). difference = the coefficient of whole-family engagement in an ordinary "
        "least squares regression of the change (closure - allocation) on whole-family "
        "engagement and the allocation score (alloc_slope: its coefficient), with HC3 robust "
        "standard errors, a normal 95% interval and two-sided p. Cases with other patterns are "
        "left out.",
        frame, spec,
        ["Association, not effect: families were not allocated to engage as a whole family, "
         "and those who did may differ in ways the allocation score does not capture.",
         "Read the difference with 'better': a negative difference is a larger fall.",
         BASE_NOTE],
    )  # fmt: skip


# --- all tables --------------------------------------------------------------------------------


def _links(t: dict[str, Table]) -> list[tuple]:
    """Cells of different tables that count the same cases (see protect_linked)."""
    att = "a7_attrition"
    whole = [m for m in cw.MEASURES if m != "sdq"]  # measures whose base is every case
    same = [
        [("a7_caseload_by_quarter", TOTAL, TOTAL), ("a7_referral_route", TOTAL, "cases"),
         ("a7_engagement", TOTAL, "cases"), *((att, m, "cases") for m in whole)],
        [("a7_engagement", MEMBER_ROWS["children"], "cases"), (att, "sdq", "cases")],
        [("a7_open_caseload", t["a7_open_caseload"].frame.index[-1], TOTAL),
         *((att, m, "open") for m in whole)],
        [("a7_involvement", TOTAL, "closed"), *((att, m, "closed") for m in whole)],
    ]
    for m in cw.MEASURES:
        same.append([("a7_outcomes", m, "n_pairs"), (att, m, "completers"),
                     ("a7_missing_sensitivity", m, "completers")])
        same.append([(att, m, "noncompleters"), ("a7_missing_sensitivity", m, "noncompleters")])
        same.append([(att, m, "cases"), ("a7_missing_sensitivity", m, "cases")])
        same.append([(att, m, "whole_family_completers"),
                     ("a7_engagement_outcomes", m, "n_whole_family")])
        if cw.REFERENCE[m] == "victim_only":
            same.append([(att, m, "victim_only_completers"),
                         ("a7_engagement_outcomes", m, "n_reference")])
    return [(a, b) for cells in same for a, b in zip(cells, cells[1:])]


def tables(typed: dict[str, pd.DataFrame], config: dict) -> list[Table]:
    """Appendix 7's tables from the typed casework table, protected jointly."""
    casework = typed["casework"]
    threshold = config["disclosure"]["threshold"]
    paired, att = cw.paired_outcomes(casework), cw.attrition(casework)
    built = [
        caseload_table(casework, config),
        open_caseload_table(casework, config),
        referral_table(casework),
        involvement_table(casework),
        engagement_table(casework),
        outcomes_table(paired, threshold),
        attrition_table(att),
        missing_table(cw.ipw_outcomes(casework, config["seed"]), paired, att, config["seed"]),
        engagement_outcomes_table(cw.engagement_regression(casework)),
    ]
    return _protect(built, _links({t.name: t for t in built}), threshold)


def _protect(built: list[Table], links: list[tuple], threshold: int) -> list[Table]:
    """Joint disclosure control. A count shown in two tables is first suppressed in both when
    either suppresses it; then one linear check of all tables and links together, and only if
    some suppressed count is still pinned, protect_linked (thorough but slow) withholds more."""
    tabs = list(built)
    while True:
        hidden, unknown = set(), set()
        for t in tabs:
            mask = suppression_mask(t.frame, t.spec, threshold)
            for c in t.spec.counts:
                for r, v in t.frame[c].items():
                    hidden |= {(t.name, r, c)} if mask.at[r, c] else set()
                    unknown |= {(t.name, r, c)} if mask.at[r, c] or pd.isna(v) else set()
        extra = dict.fromkeys(x for a, b in links for x, y in ((a, b), (b, a))
                              if y in hidden and x not in hidden)  # fmt: skip
        if not extra:
            break
        tabs = [t if not (mine := [(r, c) for n, r, c in extra if n == t.name]) else
                replace(t, spec=replace(t.spec, suppress=(*t.spec.suppress, *mine)),
                        notes=(*t.notes, WITHHELD_NOTE))
                for t in tabs]  # fmt: skip
    cons = [*links, *(k for t in tabs for k in spec_constraints(t.name, t.spec, t.frame.index))]
    if hidden & set(determined(cons, unknown)):
        return protect_linked(tabs, links, threshold)
    return tabs


# --- figures -----------------------------------------------------------------------------------


def shown(table: Table, threshold: int) -> pd.DataFrame:
    """The table's count and derived values, NaN where publication suppresses them."""
    cols = [*table.spec.counts, *table.spec.derived]
    mask = suppression_mask(table.frame, table.spec, threshold)
    return table.frame[cols].apply(pd.to_numeric).astype(float).where(~mask[cols])


SUPPRESSED_CAPTION = "Values suppressed in the table (c) are left out, never drawn."


def _caseload_figure(by_quarter: Table, open_load: Table, threshold: int) -> Figure:
    from gf_eval.appendix import axes as dates

    q = shown(by_quarter, threshold).drop(index=TOTAL)
    o = shown(open_load, threshold)
    fig, (left, right) = new_figure(10.0, 4.8, ncols=2)
    x, width = dates.period_middle(q.index), dates.period_width(q.index, 0.7)
    keep = q[TOTAL].notna().to_numpy()
    left.bar(x[keep], q[TOTAL].to_numpy()[keep], width=width[keep], color=COLOURS["dan"])
    left.set_ylabel("cases allocated per quarter")
    left.set_title("Cases allocated")
    xm = dates.month_last_day(o.index)
    dans = [c for c in o.columns if c.startswith("dan_")]
    for i, dan in enumerate(dans):
        right.plot(xm, o[dan], color=str(0.35 + 0.5 * i / max(len(dans), 1)), linewidth=1,
                   marker=".", markersize=3, label=dan)  # fmt: skip
    right.plot(xm, o[TOTAL], color=COLOURS["dan"], linewidth=2.2, label="all navigators")
    # Both panels on the same date axis, over the quarters and month ends drawn.
    start = min(dates.period_bounds(q.index[0])[0], xm[0].to_period("M").to_timestamp())
    end = max(dates.period_bounds(q.index[-1])[1], xm[-1] + pd.Timedelta(days=1))
    dates.date_axis(left, start, end, "financial quarter of allocation: one bar a quarter\n"
                                      "(short ticks mark the quarters)")  # fmt: skip
    dates.date_axis(right, start, end, "month end, by financial year\n"
                                       "(short ticks mark the quarters)")  # fmt: skip
    right.set_ylabel("open cases at month end")
    right.set_title("Open caseload")
    right.set_ylim(bottom=0)
    right.legend(frameon=False, fontsize=7, ncol=4, loc="upper center",
                 bbox_to_anchor=(0.5, -0.24))  # fmt: skip
    title = "DAN caseload: cases allocated and cases open"
    fig.suptitle(title)
    fig.subplots_adjust(bottom=0.36, top=0.85, wspace=0.3)
    return Figure(
        "a7_caseload", APPENDIX, title,
        "Left: DAN cases allocated per financial quarter, all navigators (table "
        "a7_caseload_by_quarter). Right: cases open at each month end, per navigator and in "
        "all (table a7_open_caseload); a gap in a line is a suppressed value. "
        + SUPPRESSED_CAPTION,
        fig,
    )  # fmt: skip


def _change_figure(outcomes: Table, missing: Table, threshold: int) -> Figure:
    from gf_eval.disclosure import protect

    out, miss = shown(outcomes, threshold), shown(missing, threshold)
    # The n as the published tables show them: a suppressed count stays "c", never a number.
    out_text = protect(outcomes.frame, outcomes.spec, threshold)
    miss_text = protect(missing.frame, missing.spec, threshold)
    measures = list(out.index)
    fig, axes = new_figure(10.0, 4.6, ncols=len(measures))
    series = (("complete cases", out, "mean_change", "ci_low", "ci_high", COLOURS["observed"]),
              ("weighted (IPW)", miss, "ipw_mean_change", "ipw_ci_low", "ipw_ci_high",
               COLOURS["fitted"]))  # fmt: skip
    texts = (out_text, miss_text)
    for ax, m in zip(axes, measures, strict=True):
        for i, (label, vals, est, lo, hi, colour) in enumerate(series):
            e, a, b = vals.loc[m, [est, lo, hi]]
            if not np.isnan([e, a, b]).any():
                ax.errorbar([i], [e], yerr=[[e - a], [b - e]], fmt="o", color=colour,
                            capsize=4, label=label)  # fmt: skip
            else:  # the symbol the table shows instead of the estimate
                ax.annotate(str(texts[i].at[m, est]), (i, 0.5), xycoords=("data", "axes fraction"),
                            ha="center", va="center", fontsize=9, color=colour)  # fmt: skip
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.set_xticks([0, 1], [f"complete\ncases\nn = {out_text.at[m, 'n_pairs']}",
                               f"weighted\n(IPW)\nn = {miss_text.at[m, 'completers']}\n"
                               f"+ {miss_text.at[m, 'noncompleters']} unscored"],
                      fontsize=7)  # fmt: skip
        ax.set_xlim(-0.6, 1.6)
        ax.set_title(MEASURE_SHORT[m])
        better = codes.CASEWORK_MEASURES[m][2]
        ax.set_ylabel(f"mean change, {MEASURE_SHORT[m]} points ({better} is better)", fontsize=7)
        ax.set_xlabel("estimate")
    title = "Mean change from allocation to closure, with 95% intervals"
    fig.suptitle(title)
    fig.subplots_adjust(top=0.84, wspace=0.6, bottom=0.28)
    return Figure(
        "a7_paired_change", APPENDIX, title,
        "Mean change (closure - allocation) in each measure's own points with its 95% "
        "interval: complete pairs (t interval, table a7_outcomes) and completers weighted for "
        "missing closure scores (bootstrap interval, table a7_missing_sensitivity). n under "
        "each estimate: the complete pairs (n_pairs in a7_outcomes; completers in "
        "a7_missing_sensitivity) and, for the weighted estimate, the closed cases with an "
        "allocation score but no closure score whom the weights stand in for (noncompleters), "
        "as the tables show them ('c': suppressed). A before-and-after change with no "
        "comparison group, not an effect of the service. An estimate the table suppresses is "
        "marked with its symbol in place of the point. " + SUPPRESSED_CAPTION,
        fig,
    )  # fmt: skip


def _reliable_figure(outcomes: Table, threshold: int) -> Figure:
    vals = shown(outcomes, threshold)
    fig, ax = new_figure(8.0, 4.2)
    y = np.arange(len(vals))
    parts = (("pct_improved", "improved", "#2e8b57"),
             ("pct_no_reliable_change", "no reliable change", "#bfc5ca"),
             ("pct_deteriorated", "deteriorated", COLOURS["counterfactual"]))  # fmt: skip
    left = np.zeros(len(vals))
    for col, label, colour in parts:
        v = vals[col].to_numpy()
        keep = ~np.isnan(v)
        if keep.any():
            ax.barh(y[keep], v[keep], left=left[keep], color=colour, label=label)
        left = left + np.nan_to_num(v)
    # What suppression hides is shown only as the published remainder, never split.
    rest = np.where(vals["n_pairs"].notna(), 100 - left, 0)
    if (rest > 0.05).any():
        ax.barh(y, rest, left=left, color="white", edgecolor="0.5", hatch="///",
                label="the rest (split suppressed, c)")  # fmt: skip
    ax.set_yticks(y, [MEASURE_SHORT[m] for m in vals.index])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of cases with both scores")
    ax.set_ylabel("outcome measure")
    title = "Reliable change from allocation to closure (Jacobson-Truax)"
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14),
              ncol=4)  # fmt: skip
    fig.subplots_adjust(left=0.16, bottom=0.28)
    return Figure(
        "a7_reliable_change", APPENDIX, title,
        "Percentage of complete pairs whose change was a reliable improvement, no reliable "
        "change or a reliable deterioration (table a7_outcomes). Where the table suppresses "
        "small counts, the hatched bar is the share they make up together, which the table "
        "shows by subtraction; it is not split. " + SUPPRESSED_CAPTION,
        fig,
    )  # fmt: skip


def figures(typed: dict[str, pd.DataFrame], config: dict,
            published: list[Table] | None = None) -> list[Figure]:  # fmt: skip
    """Appendix 7's figures, drawn only from values the published tables show (`published`,
    else built again)."""
    threshold = config["disclosure"]["threshold"]
    # The tables already built for publication, when given: they cost seconds to build.
    t = {x.name: x for x in (tables(typed, config) if published is None else published)}
    return [
        _caseload_figure(t["a7_caseload_by_quarter"], t["a7_open_caseload"], threshold),
        _change_figure(t["a7_outcomes"], t["a7_missing_sensitivity"], threshold),
        _reliable_figure(t["a7_outcomes"], threshold),
    ]
