"""The data dictionary of the published tables: every column name that a table in
results/<source>/tables/ (or the report's working truth table) can carry, with a human label
and a unit.

The CSVs keep their machine names, which the disclosure check and the tests read; each table's
JSON sidecar carries `"columns": {name: {"label": ..., "unit": ...}}` from here (see
`publish.write_table`), the report prints the labels as headers and formats each cell by its
unit, and docs/published_columns.md is generated from this module (`markdown()`;
tests/test_report_format.py checks that it is in step and that no published column lacks an
entry).

A name means the same thing in every table unless `TABLE_COLUMNS` gives the table its own
entry (`ci_low` is a relative change in the targets tables and a score difference in
Appendix 7). Columns whose names depend on the data follow `PATTERNS` (`dan_1`, `dan_2`, ...)
or the `pct_<column>` rule: the percentage of the named column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# unit: what the number is, and how the report prints it.
UNITS = {
    "count": "a whole number (cases, people, episodes, plans, responses); printed with "
             "thousands separators",
    "percent": "per 100 of the denominator the caption names (0 to 100), one decimal",
    "percent_change": "a change in per cent (-10.7: 10.7% lower); printed with its sign and %",
    "relative_change": "a fraction (-0.25: 25% lower than the comparison); printed as a "
                       "percentage with one decimal and its sign",
    "p_value": "a probability from 0 to 1; printed as <0.001 below 0.001, else 3 decimals",
    "share": "a probability or share from 0 to 1 (a power); printed as a whole percentage",
    "score": "points on the measure's own scale (a mean, difference or quantile of scores)",
    "days": "a number of days (a median or quartile)",
    "statistic": "a unitless statistic (effect size, coefficient, reliability, weight, "
                 "log odds ratio, Cronbach's alpha)",
    "yes_no": "yes or no",
    "period": "a month, a date or a range of months",
    "text": "words: a row label, description, verdict or note",
    "pounds": "pounds sterling in the appraisal's price year (a present value where the "
              "caption says so); printed with a pound sign and thousands separators",
    "events": "a model estimate of a number of events (fractional, negative for an "
              "increase); printed with one decimal and thousands separators",
}
# Cells that disclosure control writes instead of a value; never reformatted.
SYMBOLS = ("c", ":", "z")


@dataclass(frozen=True)
class Column:
    label: str
    unit: str

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r} for {self.label!r}")

    def to_json(self) -> dict:
        return {"label": self.label, "unit": self.unit}


C = Column

COLUMNS: dict[str, Column] = {
    # --- row labels (the first column of each CSV) ---
    "target": C("Target", "text"),
    "label": C("Analysis", "text"),
    "month": C("Referral month", "period"),
    "financial_year": C("Financial year", "period"),
    "financial_year_or_quarter": C("Financial year or quarter", "period"),
    "financial_quarter_of_allocation": C("Financial quarter of allocation", "period"),
    "month_end": C("Month end", "period"),
    "period": C("Window", "text"),
    "dan": C("DAN involvement", "text"),
    "dash_band": C("DASH score band", "text"),
    "victim_age_band": C("Victim's age band", "text"),
    "victim_disabled": C("Victim disabled", "text"),
    "victim_ethnic_group": C("Victim's ethnic group", "text"),
    "victim_lgbt": C("Victim LGBT+", "text"),
    "victim_sex": C("Victim's sex", "text"),
    "referral_route": C("Referral route", "text"),
    "referring_agency": C("Referring agency", "text"),
    "gap_since_previous_referral": C("Days since the pair's previous referral", "text"),
    "category": C("Category of plan", "text"),
    "source_group": C("Referral source", "text"),
    "group_and_horizon": C("Group and horizon", "text"),
    "group: status_at_index": C("Group: status at the index date", "text"),
    "measure": C("Measure", "text"),
    "who_engaged": C("Who engaged", "text"),
    "closure_reason": C("Closure reason", "text"),
    "item_wave": C("Item and wave", "text"),
    "item": C("Item", "text"),
    "respondents": C("Respondents", "count"),
    "scale": C("Scale", "text"),
    # --- the targets ---
    "description": C("Target measure", "text"),
    "pre_count": C("Count, pre", "count"),
    "post_count": C("Count, post", "count"),
    "pre_denominator": C("Denominator, pre", "count"),
    "post_denominator": C("Denominator, post", "count"),
    "pre_rate": C("Rate per 100, pre", "percent"),
    "post_rate": C("Rate per 100, post", "percent"),
    "prepost_change_pct": C("Change in count, pre to post (%)", "percent_change"),
    "relative_change": C("Relative change at data end (%)", "relative_change"),
    "average_change": C("Average relative change over the post period (%)", "relative_change"),
    "average_ci_low": C("Average change, 95% CI lower (%)", "relative_change"),
    "average_ci_high": C("Average change, 95% CI upper (%)", "relative_change"),
    "average_p": C("p, average change", "p_value"),
    "estimand": C("Verdict on", "text"),
    "power": C("Power to detect the target change, from the pre-period", "share"),
    "mde": C("Minimum detectable change at 80% power (%)", "relative_change"),
    "true_relative_change": C("True relative change (%)", "relative_change"),
    "covered": C("Interval covers the truth", "yes_no"),
    "target_change": C("Target change (%)", "relative_change"),
    "verdict": C("Verdict", "text"),
    "count_change_pct": C("Change in count (%)", "percent_change"),
    "count_change_ci_low": C("Change in count, 95% CI lower (%)", "percent_change"),
    "count_change_ci_high": C("Change in count, 95% CI upper (%)", "percent_change"),
    "rate_change_pct": C("Change in rate (%)", "percent_change"),
    "rate_change_ci_low": C("Change in rate, 95% CI lower (%)", "percent_change"),
    "rate_change_ci_high": C("Change in rate, 95% CI upper (%)", "percent_change"),
    "analysis": C("Change from the primary model", "text"),
    "primary": C("Plan", "text"),
    "note": C("Note", "text"),
    "placebo_start": C("Placebo start", "period"),
    "includes_no_change": C("Interval includes no change", "yes_no"),
    "referrals": C("Referrals", "count"),
    "referrals_known": C("Referrals with known DVA status", "count"),
    "pending": C("Pending (status not yet known)", "count"),
    "pending_share": C("Pending (% of referrals)", "percent"),
    "in_dva_models": C("In the DVA models", "text"),
    # --- Appendix 5: MARAC ---
    "cases": C("Cases", "count"),
    "repeats": C("Repeat cases", "count"),
    "not_repeats": C("Other cases", "count"),
    "repeat_rate_pct": C("Repeat rate (%)", "percent"),
    "pre": C("Pre", "count"),
    "post": C("Post", "count"),
    "Total": C("Total", "count"),
    "recorded": C("Recorded", "count"),
    "not_recorded": C("Not recorded", "count"),
    "children": C("Children", "count"),
    "mean_children": C("Mean children per case", "score"),
    "cases_with_score": C("Cases with a score", "count"),
    "high_risk": C("Score 14 or more", "count"),
    "not_high_risk": C("Score under 14", "count"),
    "high_risk_pct": C("Score 14 or more (%)", "percent"),
    "police": C("Police", "count"),
    "partner_agencies": C("Partner agencies", "count"),
    "rule_repeat": C("Repeat by the rule", "count"),
    "coordinator_repeat": C("Flagged by the coordinator", "count"),
    "rule_and_flagged": C("Both", "count"),
    "flagged_not_rule": C("Flagged, not rule", "count"),
    "rule_not_flagged": C("Rule, not flagged", "count"),
    "disagree": C("Disagree", "count"),
    "disagree_pct": C("Disagree (%)", "percent"),
    # --- Appendix 6: social care ---
    "dva_referrals": C("DVA referrals", "count"),
    "pct_dva_of_known": C("DVA (% of known)", "percent"),
    "dva_open_31_march": C("DVA episodes open at 31 March", "count"),
    "DVA": C("DVA", "count"),
    "Not DVA": C("Not DVA", "count"),
    "Pending": C("Pending", "count"),
    "Not collected": C("Not collected", "count"),
    "Neglect": C("Neglect", "count"),
    "Physical abuse": C("Physical abuse", "count"),
    "Sexual abuse": C("Sexual abuse", "count"),
    "Emotional abuse": C("Emotional abuse", "count"),
    "Multiple categories": C("Multiple categories", "count"),
    "rereferrals": C("Re-referrals", "count"),
    "rereferral_rate": C("Re-referral rate (%)", "percent"),
    "dva_rereferrals": C("DVA re-referrals", "count"),
    "pending_rereferrals": C("Pending re-referrals", "count"),
    "dva_rereferral_rate": C("DVA re-referrals per 100 known referrals", "percent"),
    "3A": C("3A", "count"),
    "3B": C("3B", "count"),
    "3C": C("3C", "count"),
    "any_dva": C("Any of 3A to 3C", "count"),
    "looked_after_starts": C("Looked-after starts", "count"),
    "dva_episode_open": C("DVA episode open", "count"),
    "pending_episode_open": C("Pending episode open", "count"),
    "not_collected_episode_open": C("Not-collected episode open", "count"),
    "not_dva_episode_open": C("Only not-DVA episodes open", "count"),
    "no_open_episode": C("No open episode", "count"),
    "pct_dva_episode_open": C("DVA episode open (%)", "percent"),
    "pct_of_referrals": C("Share of all referrals (%)", "percent"),
    "children_in_group": C("Children in the group", "count"),
    "children_observed": C("Children observed", "count"),
    "stepped_up": C("Stepped up", "count"),
    "stepped_down": C("Stepped down", "count"),
    "unchanged": C("Unchanged", "count"),
    "not_yet_observable": C("Not yet observable", "count"),
    "None": C("Later: none", "count"),
    "Child in need": C("Later: child in need", "count"),
    "CP plan": C("Later: CP plan", "count"),
    "Looked after": C("Later: looked after", "count"),
    # --- Appendix 7: casework ---
    "measure_name": C("Measure (scale)", "text"),
    "better": C("Better is", "text"),
    "open": C("Open at data end", "count"),
    "closed": C("Closed", "count"),
    "completers": C("Completers", "count"),
    "noncompleters": C("Non-completers", "count"),
    "closed_no_alloc": C("Closed, no allocation score", "count"),
    "whole_family_completers": C("Whole family engaged, completers", "count"),
    "whole_family_noncompleters": C("Whole family engaged, non-completers", "count"),
    "victim_only_completers": C("Victim only engaged, completers", "count"),
    "victim_only_noncompleters": C("Victim only engaged, non-completers", "count"),
    "disengaged_completers": C("Closed as disengaged, completers", "count"),
    "disengaged_noncompleters": C("Closed as disengaged, non-completers", "count"),
    "mean_alloc_completers": C("Mean allocation score, completers", "score"),
    "mean_alloc_noncompleters": C("Mean allocation score, non-completers", "score"),
    "alloc_p": C("p, allocation score (Welch)", "p_value"),
    "pattern_p": C("p, engagement pattern (chi-square)", "p_value"),
    "disengaged_p": C("p, closed as disengaged", "p_value"),
    "new_families": C("New families", "count"),
    "returning_cases": C("Returning cases", "count"),
    "pct_cases": C("Share of cases (%)", "percent"),
    "compared_with": C("Compared with", "text"),
    "n_whole_family": C("Pairs, whole family", "count"),
    "n_reference": C("Pairs, comparison pattern", "count"),
    "p": C("p", "p_value"),
    "alloc_slope": C("Allocation-score coefficient", "statistic"),
    "0-90 days": C("0-90 days", "count"),
    "91-182 days": C("91-182 days", "count"),
    "183-364 days": C("183-364 days", "count"),
    "365+ days": C("365+ days", "count"),
    "0-6 days": C("0-6 days", "count"),
    "7-13 days": C("7-13 days", "count"),
    "14-27 days": C("14-27 days", "count"),
    "28+ days": C("28+ days", "count"),
    "pct_closed": C("Share of closed (%)", "percent"),
    "median_days": C("Median days", "days"),
    "q1_days": C("Lower quartile, days", "days"),
    "q3_days": C("Upper quartile, days", "days"),
    "median_contacts": C("Median contacts", "score"),
    "q1_contacts": C("Lower quartile, contacts", "score"),
    "q3_contacts": C("Upper quartile, contacts", "score"),
    "cc_mean_change": C("Complete-case mean change", "score"),
    "cc_ci_low": C("Complete-case 95% CI, lower", "score"),
    "cc_ci_high": C("Complete-case 95% CI, upper", "score"),
    "ipw_mean_change": C("Weighted (IPW) mean change", "score"),
    "ipw_ci_low": C("Weighted (IPW) 95% CI, lower", "score"),
    "ipw_ci_high": C("Weighted (IPW) 95% CI, upper", "score"),
    "max_weight": C("Largest weight", "statistic"),
    "change_p10": C("10th percentile change", "score"),
    "change_p90": C("90th percentile change", "score"),
    "bound_p10": C("Bound: mean if missing got the 10th percentile", "score"),
    "bound_p90": C("Bound: mean if missing got the 90th percentile", "score"),
    "n_pairs": C("Complete pairs", "count"),
    "mean_alloc": C("Mean at allocation", "score"),
    "mean_close": C("Mean at closure", "score"),
    "mean_change": C("Mean change", "score"),
    "t_p": C("p, paired t test", "p_value"),
    "wilcoxon_p": C("p, Wilcoxon", "p_value"),
    "d_z": C("Effect size d_z", "statistic"),
    "reliability": C("Reliability", "statistic"),
    "sd_alloc": C("SD at allocation", "score"),
    "reliable_threshold": C("Reliable change threshold", "score"),
    "improved": C("Reliably improved", "count"),
    "no_reliable_change": C("No reliable change", "count"),
    "deteriorated": C("Reliably deteriorated", "count"),
    "pct_improved": C("Reliably improved (%)", "percent"),
    "pct_no_reliable_change": C("No reliable change (%)", "percent"),
    "pct_deteriorated": C("Reliably deteriorated (%)", "percent"),
    # --- Appendix 8: e-survey ---
    "answered": C("Answered", "count"),
    "missing": C("Missing", "count"),
    "mean": C("Mean answer (1-5)", "score"),
    "statement": C("Statement", "text"),
    "n_baseline": C("n, baseline", "count"),
    "n_follow_up": C("n, follow-up", "count"),
    "median_baseline": C("Median, baseline", "score"),
    "median_follow_up": C("Median, follow-up", "score"),
    "rank_biserial": C("Rank-biserial correlation", "statistic"),
    "rb_ci_low": C("Rank-biserial, 95% CI lower", "statistic"),
    "rb_ci_high": C("Rank-biserial, 95% CI upper", "statistic"),
    "mw_p": C("p, Mann-Whitney", "p_value"),
    "mw_p_adjusted": C("p, Mann-Whitney, Holm-adjusted", "p_value"),
    "log_odds_ratio": C("Log odds ratio (ordered logit)", "statistic"),
    "lor_ci_low": C("Log odds ratio, 95% CI lower", "statistic"),
    "lor_ci_high": C("Log odds ratio, 95% CI upper", "statistic"),
    "logit_p": C("p, ordered logit", "p_value"),
    "logit_p_adjusted": C("p, ordered logit, Holm-adjusted", "p_value"),
    "baseline": C("Baseline", "count"),
    "follow_up": C("Follow-up", "count"),
    "respondents_baseline": C("Respondents, baseline", "count"),
    "scored_baseline": C("Scored, baseline", "count"),
    "not_scored_baseline": C("Not scored, baseline", "count"),
    "respondents_follow_up": C("Respondents, follow-up", "count"),
    "scored_follow_up": C("Scored, follow-up", "count"),
    "not_scored_follow_up": C("Not scored, follow-up", "count"),
    "mean_baseline": C("Mean score, baseline", "score"),
    "mean_baseline_ci_low": C("Mean score, baseline, 95% CI lower", "score"),
    "mean_baseline_ci_high": C("Mean score, baseline, 95% CI upper", "score"),
    "mean_follow_up": C("Mean score, follow-up", "score"),
    "mean_follow_up_ci_low": C("Mean score, follow-up, 95% CI lower", "score"),
    "mean_follow_up_ci_high": C("Mean score, follow-up, 95% CI upper", "score"),
    "difference_ci_low": C("Difference, 95% CI lower", "score"),
    "difference_ci_high": C("Difference, 95% CI upper", "score"),
    "welch_p": C("p, Welch t test", "p_value"),
    "alpha": C("Cronbach's alpha", "statistic"),
    "alpha_ci_low": C("Cronbach's alpha, 95% CI lower", "statistic"),
    "alpha_ci_high": C("Cronbach's alpha, 95% CI upper", "statistic"),
    "alpha_baseline": C("Cronbach's alpha, baseline", "statistic"),
    "alpha_follow_up": C("Cronbach's alpha, follow-up", "statistic"),
    # --- value for money ---
    "package": C("What is valued", "text"),
    "target_correlation": C("Assumed correlation between the targets' errors", "statistic"),
    "benefit": C("Benefit, present value (£)", "pounds"),
    "benefit_low": C("Benefit, 95% interval lower (£)", "pounds"),
    "benefit_high": C("Benefit, 95% interval upper (£)", "pounds"),
    "cost": C("Cost (£)", "pounds"),
    "net": C("Net benefit, present value (£)", "pounds"),
    "net_low": C("Net benefit, 95% interval lower (£)", "pounds"),
    "net_high": C("Net benefit, 95% interval upper (£)", "pounds"),
    "bcr": C("Benefit-cost ratio", "statistic"),
    "bcr_low": C("Benefit-cost ratio, 95% interval lower", "statistic"),
    "bcr_high": C("Benefit-cost ratio, 95% interval upper", "statistic"),
    "p_bcr_above_1": C("P(ratio > 1)", "share"),
    "true_bcr": C("True benefit-cost ratio (synthetic data)", "statistic"),
    "months_modelled": C("Months modelled", "count"),
    "avoided_to_data_end": C("Events avoided, start to data end", "events"),
    "avoided_to_data_end_low": C("Events avoided to data end, 95% interval lower", "events"),
    "avoided_to_data_end_high": C("Events avoided to data end, 95% interval upper", "events"),
    "avoided_to_horizon": C("Events avoided, start to the horizon", "events"),
    "avoided_to_horizon_low": C("Events avoided to the horizon, 95% interval lower", "events"),
    "avoided_to_horizon_high": C("Events avoided to the horizon, 95% interval upper", "events"),
    "true_avoided_to_data_end": C("True events avoided to data end (synthetic data)", "events"),
    "true_avoided_to_horizon": C("True events avoided to the horizon (synthetic data)", "events"),
    "event": C("Event valued", "text"),
    "unit_cost": C("Unit cost (£)", "pounds"),
    "counterfactual_events": C("Counterfactual events over the period", "events"),
    "value_at_risk": C("Value at risk, present value (£)", "pounds"),
    "break_even_change": C("Break-even change (%)", "relative_change"),
    "unit_cost_row": C("Unit cost (row of the file)", "text"),
    "unit": C("Unit", "text"),
    "price_year": C("Price year", "period"),
    "verified": C("Verified against its source", "yes_no"),
    "used": C("Used", "yes_no"),
    "cost_uprated": C("Cost in the appraisal's prices (£)", "pounds"),
    "low_uprated": C("Low value in the appraisal's prices (£)", "pounds"),
    "high_uprated": C("High value in the appraisal's prices (£)", "pounds"),
    "assumed_range": C("Assumed range", "yes_no"),
    "source": C("Source", "text"),
    "location": C("Where in the source", "text"),
    "parameter": C("Setting", "text"),
    "base_setting": C("Base value", "statistic"),
    "low_setting": C("Low value", "statistic"),
    "high_setting": C("High value", "statistic"),
    "bcr_at_low": C("Ratio at the low value", "statistic"),
    "bcr_at_high": C("Ratio at the high value", "statistic"),
}

_RELATIVE_CI = {"ci_low": C("95% CI, lower (%)", "relative_change"),
                "ci_high": C("95% CI, upper (%)", "relative_change")}  # fmt: skip
_SCORE_CI = {"ci_low": C("95% CI, lower", "score"), "ci_high": C("95% CI, upper", "score")}
# Names whose meaning depends on the table.
TABLE_COLUMNS: dict[str, dict[str, Column]] = {
    "targets": {**_RELATIVE_CI, "months_fitted": C("Months fitted", "period")},
    "target_sensitivity": {**_RELATIVE_CI, "months_fitted": C("Months fitted", "count")},
    "target_placebo": {**_RELATIVE_CI,
                       "relative_change": C("Relative change at the last pre month (%)",
                                            "relative_change")},  # fmt: skip
    "truth_check": {**_RELATIVE_CI, "estimand": C("Estimand", "text"),
                    "relative_change": C("Estimate (%)", "relative_change")},
    "a7_outcomes": {**_SCORE_CI},
    "a7_engagement_outcomes": {**_SCORE_CI,
                               "difference": C("Difference, whole family", "score")},  # fmt: skip
    "a8_scale_scores": {"difference": C("Difference, follow-up - baseline", "score")},
    "a5_children": {**{b: C(f"{b} children", "count") for b in ("0", "1", "2", "3", "4+")},
                    "cases": C("Cases", "count")},  # fmt: skip
    "a8_item_responses": {str(k): C(f"Response {k}", "count") for k in range(1, 6)},
    "vfm_unit_costs": {"cost": C("Cost as published (£)", "pounds")},
    "vfm_avoided": {"description": C("Events", "text")},
    "vfm_appraisal": {"description": C("Which avoided events, at which unit costs", "text")},
}
# Names that follow the data: (pattern, label template, unit).
PATTERNS: tuple[tuple[str, str, str], ...] = (
    (r"dan_(\d+)", "DAN {0}", "count"),
)
# Estimate, lower and upper bound of one 95% interval: the report prints them in one cell.
INTERVALS: tuple[tuple[str, str, str], ...] = (
    ("relative_change", "ci_low", "ci_high"),
    ("average_change", "average_ci_low", "average_ci_high"),
    ("mean_change", "ci_low", "ci_high"),
    ("difference", "ci_low", "ci_high"),
    ("count_change_pct", "count_change_ci_low", "count_change_ci_high"),
    ("rate_change_pct", "rate_change_ci_low", "rate_change_ci_high"),
    ("cc_mean_change", "cc_ci_low", "cc_ci_high"),
    ("ipw_mean_change", "ipw_ci_low", "ipw_ci_high"),
    ("rank_biserial", "rb_ci_low", "rb_ci_high"),
    ("log_odds_ratio", "lor_ci_low", "lor_ci_high"),
    ("mean_baseline", "mean_baseline_ci_low", "mean_baseline_ci_high"),
    ("mean_follow_up", "mean_follow_up_ci_low", "mean_follow_up_ci_high"),
    ("difference", "difference_ci_low", "difference_ci_high"),
    ("alpha", "alpha_ci_low", "alpha_ci_high"),
    ("benefit", "benefit_low", "benefit_high"),
    ("net", "net_low", "net_high"),
    ("bcr", "bcr_low", "bcr_high"),
    ("avoided_to_data_end", "avoided_to_data_end_low", "avoided_to_data_end_high"),
    ("avoided_to_horizon", "avoided_to_horizon_low", "avoided_to_horizon_high"),
)


def lookup(name: str, table: str | None = None) -> Column | None:
    """The entry of column `name` in `table`, or None when the dictionary has none."""
    if table in TABLE_COLUMNS and name in TABLE_COLUMNS[table]:
        return TABLE_COLUMNS[table][name]
    if name in COLUMNS:
        return COLUMNS[name]
    for pattern, template, unit in PATTERNS:
        match = re.fullmatch(pattern, name)
        if match:
            return Column(template.format(*match.groups()), unit)
    if name.startswith("pct_"):
        base = lookup(name[4:], table)
        if base is not None and base.unit == "count":
            return Column(f"{base.label} (%)", "percent")
    return None


def describe(name: str, table: str | None = None) -> Column:
    """As `lookup`, but a name missing from the dictionary gets its own name as label and
    the unit "text" (tests/test_report_format.py fails on any such column)."""
    return lookup(name, table) or Column(name, "text")


def columns_json(names, table: str | None = None) -> dict:
    """The sidecar's "columns": {name: {"label", "unit"}} for the columns `names`."""
    return {n: describe(n, table).to_json() for n in names}


def intervals(names, table: str | None = None) -> list[tuple[str, str, str]]:
    """The (estimate, low, high) triples all of whose columns `names` holds, each column used
    once, in the order of `names`."""
    names = list(names)
    found, used = [], set()
    for triple in INTERVALS:
        if all(n in names for n in triple) and not used & set(triple):
            found.append(triple)
            used |= set(triple)
    return sorted(found, key=lambda t: names.index(t[0]))


# --- numbering ---------------------------------------------------------------------------------

# The prefix of each part's numbers: "Table 5.1" is Appendix 5's first declared table.
PART_PREFIX = {"targets": "T", "5": "5", "6": "6", "7": "7", "8": "8", "vfm": "V",
               "multisite": "M"}  # fmt: skip


def number(kind: str, part: str, name: str) -> str | None:
    """"Table 5.3" or "Figure T.1": the position of `name` in the declared TABLES or FIGURES
    of `part`'s module (so stable across runs), or None for an undeclared name."""
    from gf_eval import appendix

    if part not in PART_PREFIX:
        return None
    if part == "multisite":
        from gf_eval.appendix import multisite_figures as module

        declared = () if kind == "Table" else module.FIGURES
    else:
        module = appendix._module(part)
        declared = module.TABLES if kind == "Table" else module.FIGURES
    if name not in declared:
        return None
    return f"{kind} {PART_PREFIX[part]}.{declared.index(name) + 1}"


# --- docs/published_columns.md -----------------------------------------------------------------


def markdown() -> str:
    """docs/published_columns.md: the numbering rule, the units and every entry."""
    lines = [
        "# Published tables: numbering and columns",
        "",
        "Generated from `src/gf_eval/appendix/columns.py` by",
        "`gf_eval.appendix.columns.markdown()`; `tests/test_report_format.py` fails when this",
        "file is out of step. Do not edit by hand.",
        "",
        "## Numbering",
        "",
        "Tables and figures are numbered within their part, in the order the part's module",
        "declares them (`TABLES` and `FIGURES` in `src/gf_eval/appendix/*_tables.py`), so a",
        "number never depends on what a run happened to write. Appendices 5 to 8 use their own",
        "number (`Table 5.1`, `Figure 8.2`); the targets part, which is not an appendix of the",
        "original evaluation, uses the letter T (`Table T.1` is the headline targets table); the",
        "multi-site forest plots use M. The number is in each sidecar (`\"number\"`) and in the",
        "report's headings.",
        "",
        "## Units",
        "",
        "The CSVs keep machine names and the numbers as disclosure control wrote them; the",
        "report prints each column's label and formats its cells by unit. Disclosure symbols",
        "(`c` suppressed, `:` not available, `z` not applicable) are never reformatted.",
        "",
        "| unit | meaning and report format |",
        "|---|---|",
        *(f"| `{u}` | {text} |" for u, text in UNITS.items()),
        "",
        "## Columns",
        "",
        "A name means the same in every table unless listed under its table below. `pct_<x>` is",
        "the percentage of the count column `<x>` (label: `<x>`'s label with (%)), unless listed.",
        "",
        "| column | label | unit |",
        "|---|---|---|",
        *(f"| `{n}` | {c.label} | `{c.unit}` |" for n, c in COLUMNS.items()),
        *(f"| `{p}` (pattern) | {t} | `{u}` |" for p, t, u in PATTERNS),
        "",
        "### Table-specific entries",
        "",
        "| table | column | label | unit |",
        "|---|---|---|---|",
        *(f"| `{t}` | `{n}` | {c.label} | `{c.unit}` |"
          for t, cols in TABLE_COLUMNS.items() for n, c in cols.items()),
        "",
        "## Intervals",
        "",
        "The report prints each of these (estimate, lower, upper) triples as one cell,",
        "`estimate (lower to upper)`, whenever a table holds all three:",
        "",
        *(f"- `{e}`, `{lo}`, `{hi}`" for e, lo, hi in INTERVALS),
        "",
    ]  # fmt: skip
    return "\n".join(lines)
