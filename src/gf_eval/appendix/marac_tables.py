"""Appendix 5: the MARAC data, April 2012 (data_start) to March 2017 (data_end).

The derived cases carry a history year (from April 2011) so that the 12-month repeat rule can
look back from the first study month; those referrals are never reported. Financial years run
April to March ("2015-16"); financial quarters start in April ("2015-16 Q1" = Apr-Jun 2015).
"""

from __future__ import annotations

import dataclasses
import textwrap

import numpy as np
import pandas as pd

from gf_eval import codes
from gf_eval.appendix.build import TOTAL, counts_by, financial_quarter, financial_year, rate_by
from gf_eval.appendix.plotting import COLOURS, new_figure
from gf_eval.appendix.publish import Figure, Table
from gf_eval.config import Calendar
from gf_eval.derive.marac import repeat_reconciliation
from gf_eval.disclosure import TableSpec, suppression_mask
from gf_eval.layout import PART_FIGURES, PART_TABLES

APPENDIX = "5"
TABLES, FIGURES = PART_TABLES["5"], PART_FIGURES["5"]
PERIODS = ("pre", "post")
DASH_BANDS = (("0-4", 0, 4), ("5-9", 5, 9), ("10-13", 10, 13), ("14-18", 14, 18),
              ("19-24", 19, codes.DASH_MAX))  # fmt: skip
CHILD_BANDS = ("0", "1", "2", "3", "4+")
PARTNER = "partner_agencies"
DAN_ROWS = ("DAN involved", "No DAN involvement")
REPEAT_RULE = ("repeat: the same victim and perpetrator referred again within 12 months "
               "(0 to 365 days) of their previous referral (SafeLives definition), derived from "
               "the pseudonymised victim and perpetrator keys; referrals from April 2011 are used "
               "only to look back")  # fmt: skip
ASSOCIATION = ("Pre and post windows are compared descriptively: differences are associations, "
               "not effects of the DAN service (other changes over time are not "
               "controlled).")  # fmt: skip


# --- dates and labels --------------------------------------------------------------------------


def _day(d: pd.Timestamp) -> str:
    return f"{d.day} {d:%B %Y}"


def _one(date: pd.Timestamp, quarter: bool = False) -> str:
    s = pd.Series([date])
    return (financial_quarter(s) if quarter else financial_year(s)).iloc[0]


def _orders(cal: Calendar) -> tuple[list[str], list[str]]:
    """Every financial year and quarter of the reporting period, so empty ones still show."""
    months = pd.Series(cal.months().to_timestamp())
    years, quarters = financial_year(months), financial_quarter(months)
    return list(dict.fromkeys(years)), list(dict.fromkeys(quarters))


def _windows(config: dict) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    win = config["windows"]
    return {p: (pd.Timestamp(win[p]["start"]), pd.Timestamp(win[p]["end"])) for p in PERIODS}


def _window_text(config: dict) -> str:
    (a, b), (c, d) = _windows(config).values()
    return (f"pre = referrals {_day(a)} to {_day(b)} (the 12 months before the DAN service "
            f"started); post = referrals {_day(c)} to {_day(d)}")  # fmt: skip


def _period_text(cal: Calendar) -> str:
    return f"referred {_day(cal.data_start)} to {_day(cal.data_end)}"


def _incomplete_note(cal: Calendar, what: str) -> str:
    return (f"{cal.data_end:%B %Y} is incomplete: a case referred then but discussed at a "
            f"meeting after {_day(cal.data_end)} is not in the extract, so {what} is "
            "undercounted.")  # fmt: skip


# --- data --------------------------------------------------------------------------------------


def _reported(cases: pd.DataFrame, cal: Calendar) -> pd.DataFrame:
    """Cases referred in the reporting period, with financial year and quarter labels."""
    date = cases["referral_date"].dt.normalize()
    df = cases[(date >= cal.data_start) & (date <= cal.data_end)].copy()
    df["financial_year"] = financial_year(df["referral_date"])
    df["financial_quarter"] = financial_quarter(df["referral_date"])
    df["repeat"] = df["repeat"].astype(bool)
    return df


def _in_windows(df: pd.DataFrame, config: dict) -> pd.DataFrame:
    """Cases in the pre or post window, with `period`; cases outside both are dropped."""
    date = df["referral_date"].dt.normalize()
    period = pd.Series(pd.NA, index=df.index, dtype=object)
    for name, (start, end) in _windows(config).items():
        period[(date >= start) & (date <= end)] = name
    out = df[period.notna()].copy()
    out["period"] = period[period.notna()]
    return out


def _yes_no(flag: pd.Series) -> pd.Series:
    known = flag.notna()
    out = pd.Series(np.nan, index=flag.index, dtype=object)
    out[known] = np.where(flag[known].astype(bool), "Yes", "No")
    return out


def _dash_band(score: pd.Series) -> pd.Series:
    s = score.astype("Float64").astype(float)
    out = pd.Series(np.nan, index=score.index, dtype=object)
    for label, low, high in DASH_BANDS:
        out[(s >= low) & (s <= high)] = label
    return out


# --- tables ------------------------------------------------------------------------------------


def _table(short: str, title: str, caption: str, built, notes) -> Table:
    frame, spec = built
    frame.index = frame.index.map(str)
    return Table(f"a5_{short}", APPENDIX, title, caption, frame, spec, tuple(notes))


def _with_derived(spec: TableSpec, derived: dict) -> TableSpec:
    return dataclasses.replace(spec, derived={**spec.derived, **derived})


def _repeat_table(df: pd.DataFrame, cal: Calendar, years, quarters) -> Table:
    """Cases and repeats by financial quarter with each year's subtotal, in one table: published
    apart, a year could give away a quarter suppressed in the other table."""
    q0 = _one(cal.intervention_start, quarter=True)
    timing = (f"Periods before {q0} are before the DAN service started "
              f"({_day(cal.intervention_start)}); {q0} contains the start; funding ended "
              f"{_day(cal.funding_end)}, in {_one(cal.funding_end, quarter=True)}.")  # fmt: skip
    by_q, _ = rate_by(df, "financial_quarter", "repeat", row_order=quarters, missing=None,
                      n_name="cases", k_name="repeats", rate_name="repeat_rate_pct")  # fmt: skip
    rows, groups = [], []
    for year in years:
        parts = [q for q in quarters if q.startswith(year)]
        block = by_q.loc[parts, ["cases", "repeats", "not_repeats"]]
        rows.append(block)
        rows.append(block.sum().to_frame(year).T)
        groups.append((year, tuple(parts)))
    frame = pd.concat([*rows, by_q.loc[[TOTAL], ["cases", "repeats", "not_repeats"]]])
    frame = frame.astype("int64")
    frame["repeat_rate_pct"] = 100 * frame["repeats"] / frame["cases"].where(frame["cases"] > 0)
    frame.index.name = "financial_year_or_quarter"
    spec = TableSpec(counts=("cases", "repeats", "not_repeats"),
                     derived={"repeat_rate_pct": ("repeats", "cases")},
                     column_totals=(("cases", ("repeats", "not_repeats")),),
                     row_totals=(*groups, (TOTAL, tuple(years))))  # fmt: skip
    return _table(
        "cases_by_quarter", "MARAC cases and repeat cases by financial year and quarter",
        f"MARAC cases {_period_text(cal)}, by the financial quarter of referral, with each "
        "financial year's subtotal after its quarters: cases, repeat cases, other cases and the "
        f"repeat rate (repeats per 100 cases). A case is a {REPEAT_RULE}. Denominator: all "
        "cases referred in the period; Total is the whole period.",
        (frame, spec),
        [timing, _incomplete_note(cal, _one(cal.data_end, quarter=True)),
         "Repeat rates before and after the start are associations, not effects."],
    )  # fmt: skip


def _route_and_agency(df: pd.DataFrame, win: pd.DataFrame, cal: Calendar, config: dict,
                      years) -> list[Table]:  # fmt: skip
    windows = _window_text(config)
    route = counts_by(win, "referral_route", "period", row_order=list(codes.MARAC_ROUTES),
                      col_order=PERIODS, row_names=codes.MARAC_ROUTES)  # fmt: skip
    police = df["referring_agency"] == "police"
    by_year = df.assign(agency_group=np.where(police, "police", PARTNER))
    frame, spec = counts_by(by_year, "financial_year", "agency_group", row_order=years,
                            col_order=("police", PARTNER), missing=None, share=False)  # fmt: skip
    frame[f"pct_{PARTNER}"] = 100 * frame[PARTNER] / frame[TOTAL].where(frame[TOTAL] > 0)
    spec = _with_derived(spec, {f"pct_{PARTNER}": (PARTNER, TOTAL)})
    detail = counts_by(win, "referring_agency", "period", row_order=list(codes.MARAC_AGENCIES),
                       col_order=PERIODS, row_names=codes.MARAC_AGENCIES)  # fmt: skip
    return [
        _table("referral_route", "MARAC cases by referral route, before and after the DAN "
               "service started",
               f"MARAC cases by referral route in the pre and post windows ({windows}), with "
               "the percentage of the window's cases (pct_<column>). Denominator: all cases "
               "referred in the window; Total = both windows.",
               route, [ASSOCIATION, "The 'repeat' route is the referring agency's own account; "
                       "the repeat rule in a5_cases_by_year is derived from the data."]),
        _table("referring_agency", "MARAC cases referred by the police and by partner agencies",
               f"MARAC cases {_period_text(cal)}, by financial year of referral: cases referred "
               "by the police, by partner agencies (every other agency, including IDVA "
               "services), Total, and pct_partner_agencies = partner agencies per 100 cases "
               "in the year.",
               (frame, spec),
               [_incomplete_note(cal, _one(cal.data_end)),
                "Nationally (SafeLives, 2022-23) about 36% of cases are referred by agencies "
                "other than the police; that is a later period, for scale only."]),
        _table("referring_agency_detail", "MARAC cases by referring agency, before and after "
               "the DAN service started",
               f"MARAC cases by referring agency in the pre and post windows ({windows}), with "
               "the percentage of the window's cases (pct_<column>). Denominator: all cases "
               "referred in the window; Total = both windows.",
               detail, [ASSOCIATION]),
    ]  # fmt: skip


def _dash_tables(df: pd.DataFrame, win: pd.DataFrame, cal: Calendar, config: dict,
                 years) -> list[Table]:  # fmt: skip
    dash = counts_by(win.assign(dash_band=_dash_band(win["dash_score"])), "dash_band", "period",
                     row_order=[b for b, _, _ in DASH_BANDS], col_order=PERIODS)  # fmt: skip
    scored = df[df["dash_score"].notna()]
    scored = scored.assign(high_risk=scored["dash_score"].astype(float) >= codes.DASH_HIGH_RISK)
    high = rate_by(scored, "financial_year", "high_risk", row_order=years, missing=None,
                   n_name="cases_with_score", k_name="high_risk",
                   rate_name="high_risk_pct")  # fmt: skip
    return [
        _table("dash", "DASH risk checklist scores, before and after the DAN service started",
               f"MARAC cases by DASH score band (number of 'yes' answers to the 24 questions) "
               f"in the pre and post windows ({_window_text(config)}), with the percentage of "
               "the window's cases, including those with no score recorded. Total = both "
               "windows.", dash,
               [f"A score of {codes.DASH_HIGH_RISK} or more is 'visible high risk' (bands 14-18 "
                "and 19-24); cases below it reach MARAC by professional judgement, potential "
                "escalation or as repeats.", ASSOCIATION]),
        _table("high_risk", "MARAC cases with a DASH score of 14 or more, by financial year",
               f"MARAC cases {_period_text(cal)} with a recorded DASH score, by financial year "
               f"of referral: cases with a score, cases scoring {codes.DASH_HIGH_RISK} or more "
               "(visible high risk), the rest, and high_risk_pct = high-risk cases per 100 "
               "cases with a score. Cases with no score recorded are left out of the "
               "denominator.", high,
               [_incomplete_note(cal, _one(cal.data_end)),
                "Differences between years are associations, not effects."]),
    ]  # fmt: skip


def _children_built(win: pd.DataFrame) -> tuple[pd.DataFrame, TableSpec]:
    """Rows pre/post/Total, so that the mean per case can sit in a column of its own."""
    n = win["children_in_household"].astype("Float64").astype(float)
    band = pd.Series(np.where(n >= 4, "4+", n.astype(str).str.removesuffix(".0")), index=n.index)
    rows = []
    for p in PERIODS:
        sel = (win["period"] == p).to_numpy()
        row = {b: int(((band == b) & sel).sum()) for b in CHILD_BANDS}
        row["recorded"] = sum(row.values())
        row["not_recorded"] = int((n.isna() & sel).sum())
        row["cases"] = int(sel.sum())
        row["children"] = int(n[sel].sum())  # NaN is skipped: children where recorded
        rows.append(row)
    frame = pd.DataFrame(rows, index=list(PERIODS), dtype="int64")
    frame.loc[TOTAL] = frame.sum(axis=0)
    frame.index.name = "period"
    derived = {}
    for col in (*CHILD_BANDS, "not_recorded"):
        frame[f"pct_{col}"] = 100 * frame[col] / frame["cases"].where(frame["cases"] > 0)
        derived[f"pct_{col}"] = (col, "cases")
    frame["mean_children"] = frame["children"] / frame["recorded"].where(frame["recorded"] > 0)
    derived["mean_children"] = ("children", "recorded")
    spec = TableSpec(
        counts=(*CHILD_BANDS, "recorded", "not_recorded", "cases", "children"),
        derived=derived,
        column_totals=(("recorded", CHILD_BANDS), ("cases", ("recorded", "not_recorded"))),
        row_totals=((TOTAL, PERIODS),),
        decimals={"mean_children": 2},
    )
    return frame, spec


def _children_table(win: pd.DataFrame, config: dict) -> Table:
    return _table(
        "children", "Children in the household of MARAC cases, before and after the DAN "
        "service started",
        f"MARAC cases in the pre and post windows ({_window_text(config)}; Total = both) by "
        "the number of children in the victim's household (0, 1, 2, 3, 4+, not recorded); "
        "recorded = cases with the number recorded; pct_<band> = cases in the band per 100 "
        "cases; children = the children in households where recorded; mean_children = "
        "children / recorded (cases without a record are left out).",
        _children_built(win),
        [ASSOCIATION, "Nationally (SafeLives, 2022-23) there are about 1.3 children per case; "
         "a later period, for scale only."],
    )  # fmt: skip


PROFILE = (
    ("sex", "victim_sex", "Victim's sex", list(codes.SEXES), codes.SEXES),
    ("age", "victim_age_band", "Victim's age band", list(codes.AGE_BANDS), None),
    ("ethnicity", "victim_ethnic_group", "Victim's ethnic group", list(codes.ETHNIC_GROUPS),
     codes.ETHNIC_GROUPS),
    ("disability", "victim_disabled", "Victim disabled", ["Yes", "No"], None),
    ("lgbt", "victim_lgbt", "Victim LGBT+", ["Yes", "No"], None),
)  # fmt: skip


def _profile_tables(win: pd.DataFrame, config: dict) -> list[Table]:
    """One table per characteristic: each has its own Total, and labels stay plain."""
    out = []
    for short, col, what, order, names in PROFILE:
        data = win.assign(**{col: _yes_no(win[col])}) if order == ["Yes", "No"] else win
        built = counts_by(data, col, "period", row_order=order, col_order=PERIODS,
                          row_names=names)  # fmt: skip
        out.append(_table(
            f"profile_{short}", f"{what}: MARAC cases before and after the DAN service started",
            f"MARAC cases in the pre and post windows ({_window_text(config)}) by {what.lower()}"
            ", with the percentage of the window's cases (pct_<column>), including those not "
            "recorded. Total = both windows.",
            built, [ASSOCIATION, "Every case counts once, so a victim referred twice in a window "
                    "is counted twice."],
        ))  # fmt: skip
    return out


def _dan_table(df: pd.DataFrame, cal: Calendar) -> Table:
    date = df["referral_date"].dt.normalize()
    prog = df[(date >= cal.intervention_start) & (date <= cal.funding_end)]
    dan = prog["dan_involved"].astype("boolean").fillna(False).astype(bool)
    prog = prog.assign(dan=np.where(dan, DAN_ROWS[0], DAN_ROWS[1]))
    built = rate_by(prog, "dan", "repeat", row_order=DAN_ROWS, missing=None, n_name="cases",
                    k_name="repeats", rate_name="repeat_rate_pct")  # fmt: skip
    return _table(
        "dan_involvement", "Repeat MARAC cases with and without DAN involvement: an association, "
        "not an effect",
        f"MARAC cases referred during the programme ({_day(cal.intervention_start)} to "
        f"{_day(cal.funding_end)}), by whether a Domestic Abuse Navigator was involved "
        f"(dan_involved): cases, repeat cases, other cases and the repeat rate per 100 cases. "
        f"A case is a {REPEAT_RULE}.",
        built,
        ["Association, not effect: DAN cases are not a random subset (navigators took on "
         "families by need and by referral), so differences in repeat rates may reflect who "
         "was selected rather than what the service did.",
         "A case's repeat status describes its own referral (the pair's previous referral came "
         "within 365 days before it), which can predate any DAN work.",
         "The effect of the programme on repeats is estimated by the interrupted time series "
         "models, not by this table."],
    )  # fmt: skip


RECON_COLS = ("cases", "rule_repeat", "coordinator_repeat", "rule_and_flagged",
              "flagged_not_rule", "rule_not_flagged", "disagree")  # fmt: skip


def _reconciliation_table(df: pd.DataFrame, cal: Calendar) -> Table:
    rec = repeat_reconciliation(df, cal.data_start).set_index("gap_since_previous_referral")
    # Shown so that rule_repeat and coordinator_repeat are declared sums: without it, shown
    # totals could pin a suppressed flagged_not_rule or rule_not_flagged.
    rec["rule_and_flagged"] = rec["rule_repeat"] - rec["rule_not_flagged"]
    rec = rec[list(RECON_COLS)].astype("int64")
    rec.loc[TOTAL] = rec.sum(axis=0)
    rec["disagree_pct"] = 100 * rec["disagree"] / rec["cases"].where(rec["cases"] > 0)
    spec = TableSpec(
        counts=RECON_COLS,
        derived={"disagree_pct": ("disagree", "cases")},
        column_totals=(("rule_repeat", ("rule_and_flagged", "rule_not_flagged")),
                       ("coordinator_repeat", ("rule_and_flagged", "flagged_not_rule")),
                       ("disagree", ("flagged_not_rule", "rule_not_flagged"))),
        row_totals=((TOTAL, tuple(rec.index[:-1])),),
    )  # fmt: skip
    return _table(
        "repeat_reconciliation", "Data quality: the derived repeat rule against the MARAC "
        "coordinator's repeat flag",
        f"MARAC cases {_period_text(cal)}, by the days since the same victim and perpetrator "
        "were last referred: cases; rule_repeat = repeats by the 12-month rule (0 to 365 days); "
        "coordinator_repeat = cases the coordinator flagged as repeats; rule_and_flagged = "
        "both; flagged_not_rule and rule_not_flagged = one only; disagree = flagged_not_rule + "
        "rule_not_flagged; disagree_pct = disagree per 100 cases in the row.",
        (rec, spec),
        ["A data-quality finding: neither the rule nor the flag is taken as the truth. Flags "
         "at 366 to 400 days suggest a looser reading of '12 months'; flags on a pair's first "
         "referral suggest the coordinator matched on the victim alone or on earlier records.",
         "The evaluation's repeat counts use the rule (a5_cases_by_year)."],
    )  # fmt: skip


def tables(derived: dict[str, pd.DataFrame], config: dict) -> list[Table]:
    """Appendix 5's tables from the derived MARAC cases, April 2012 to March 2017."""
    cal = Calendar.from_config(config)
    years, quarters = _orders(cal)
    df = _reported(derived["marac_cases"], cal)
    win = _in_windows(df, config)
    return [
        _repeat_table(df, cal, years, quarters),
        *_route_and_agency(df, win, cal, config, years),
        *_dash_tables(df, win, cal, config, years),
        _children_table(win, config),
        *_profile_tables(win, config),
        _dan_table(df, cal),
        _reconciliation_table(df, cal),
    ]


# --- figures -----------------------------------------------------------------------------------


def shown_values(table: Table, threshold: int) -> pd.DataFrame:
    """The table's numbers with every cell that publication suppresses set to NaN."""
    mask = suppression_mask(table.frame, table.spec, threshold)
    return table.frame.astype(float).where(~mask)


def _quarter_x(date: pd.Timestamp, quarters: list[str]) -> float:
    """x of a date on an axis with one bar per quarter, centred on integers."""
    within = (date.month - 4) % 3 + (date.day - 1) / date.days_in_month
    return quarters.index(_one(date, quarter=True)) + within / 3 - 0.5


def _quarter_figure(table: Table, cal: Calendar, threshold: int) -> Figure:
    vals = shown_values(table, threshold)
    vals = vals[vals.index.str.contains(" Q")]  # quarters only, not the year subtotals
    quarters = list(vals.index)
    fig, ax = new_figure(9.0, 4.8)
    x = np.arange(len(quarters))
    for col, label, colour in (
        ("cases", "All cases", "#bfc5ca"),
        ("repeats", "Repeat cases (12-month rule)", COLOURS["post"]),
    ):
        keep = vals[col].notna().to_numpy()  # suppressed counts are left out, never drawn
        ax.bar(x[keep], vals[col].to_numpy()[keep], width=0.7, color=colour, label=label)
    for date, text in (
        (cal.intervention_start, "DAN service starts"),
        (cal.funding_end + pd.Timedelta(days=1), "funding ends"),
    ):
        if cal.data_start <= date <= cal.data_end:
            xv = _quarter_x(date, quarters)
            ax.axvline(xv, color=COLOURS["counterfactual"], linestyle="--", linewidth=1)
            ax.text(xv + 0.1, ax.get_ylim()[1] * 0.97, text, fontsize=8, va="top")
    ax.set_xticks(x, quarters, rotation=90, fontsize=7)
    ax.set_xlabel("financial quarter of referral (Q1 = April to June)")
    ax.set_ylabel("cases per quarter")
    title = "MARAC cases and repeat cases by financial quarter"
    ax.set_title(title)
    ax.legend(frameon=False, loc="upper left", fontsize=8)
    fig.subplots_adjust(bottom=0.3)
    return Figure(
        "a5_cases_by_quarter", APPENDIX, title,
        f"MARAC cases referred {_day(cal.data_start)} to {_day(cal.data_end)} by financial "
        "quarter, with the repeat cases among them (same victim and perpetrator referred again "
        "within 365 days), from table a5_cases_by_quarter. Counts suppressed in that table are "
        f"left out. The last quarter is incomplete: cases referred in {cal.data_end:%B %Y} but "
        "discussed after it are not in the extract.",
        fig,
    )  # fmt: skip


def _route_figure(table: Table, config: dict, threshold: int) -> Figure:
    vals = shown_values(table, threshold).drop(index=TOTAL)
    fig, ax = new_figure(8.0, 4.5)
    y = np.arange(len(vals))
    for i, (p, (start, end)) in enumerate(_windows(config).items()):
        v = vals[f"pct_{p}"].to_numpy()
        keep = ~np.isnan(v)  # suppressed shares are left out, never drawn
        ax.barh(y[keep] + (i - 0.5) * 0.38, v[keep], height=0.36, color=COLOURS[p],
                label=f"{p}: {start:%b %Y} to {end:%b %Y}")  # fmt: skip
    ax.set_yticks(y, [textwrap.fill(str(s), 32) for s in vals.index], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("% of the window's MARAC cases")
    ax.set_ylabel("referral route")
    title = "MARAC referral routes before and after the DAN service started"
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    fig.subplots_adjust(left=0.33)
    return Figure(
        "a5_referral_route", APPENDIX, title,
        f"Percentage of MARAC cases by referral route, {_window_text(config)}, from table "
        "a5_referral_route. Shares suppressed in that table are left out. A descriptive "
        "comparison: differences are associations, not effects.",
        fig,
    )  # fmt: skip


def figures(derived: dict[str, pd.DataFrame], config: dict,
            published: list[Table] | None = None) -> list[Figure]:  # fmt: skip
    """Appendix 5's figures, each drawn from its table after disclosure control (`published`,
    else built again)."""
    cal = Calendar.from_config(config)
    threshold = config["disclosure"]["threshold"]
    by_name = {t.name: t for t in (tables(derived, config) if published is None else published)}
    return [_quarter_figure(by_name["a5_cases_by_quarter"], cal, threshold),
            _route_figure(by_name["a5_referral_route"], config, threshold)]  # fmt: skip
