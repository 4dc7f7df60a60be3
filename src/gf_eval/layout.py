"""The files each step of the workflow writes: the names the Snakefile declares.

Standard library only, on purpose: every `snakemake` call (a no-op or a dry run included) reads
these, and importing the modules that write the files would cost pandas, statsmodels and
matplotlib before Snakemake could start. Those modules take their names from here, so that
there is one list of each.
"""

from __future__ import annotations

#: The three targets, in the order every table and figure gives them.
TARGETS = ("repeat_marac", "dva_rereferrals", "cin_dva")

#: The typed extracts the derivation reads (data/interim/<source>/<name>.parquet).
DERIVE_INPUTS = ("marac_cases", "cs_children", "cs_referrals", "cs_assessments", "cs_factors",
                 "cs_cp_plans", "cs_looked_after", "casework")  # fmt: skip
#: The derived tables, written to data/interim/<source>/derived/<name>.parquet.
DERIVED = ("marac_cases", "episodes", "monthly_series", "status_cohort")
#: The extracts behind the three targets' series, parents before children.
SERIES_EXTRACTS = ("marac_cases", "cs_children", "cs_referrals", "cs_assessments", "cs_factors",
                   "cs_cp_plans", "cs_looked_after")  # fmt: skip

#: Working (not for publication) model outputs, written to results/<source>/working/models/.
MODEL_FILES = ("prepost.csv", "estimates.csv", "placebo.csv", "predictions.csv",
               "power.csv", "truth_check.csv", "summaries.txt")  # fmt: skip
#: The value-for-money working tables, in results/<source>/working/value_for_money/.
VALUE_FILES = ("avoided.csv", "appraisal.csv", "break_even.csv", "sensitivity.csv",
               "unit_costs.csv")  # fmt: skip
#: The multi-site models' tables (results/<source>/<name>.csv).
MULTISITE_FILES = ("site_estimates", "pooled", "methods", "synthetic_control", "sc_paths",
                   "event_study", "att_gt", "placebo_dates")  # fmt: skip

#: The published parts: "targets", Appendices 5 to 8, and value for money.
PARTS = ("targets", "5", "6", "7", "8", "vfm")
#: The parts each treated site of a multi-site run gets, beside its targets.
SITE_PARTS = ("5", "6", "7", "8")
#: Each part's tables (results/<source>/tables/<name>.csv and .json).
PART_TABLES = {
    "targets": ("targets", "target_prepost", "target_sensitivity", "target_placebo",
                "target_pending"),
    "5": ("a5_cases_by_quarter", "a5_referral_route", "a5_referring_agency",
          "a5_referring_agency_detail", "a5_dash", "a5_high_risk", "a5_children",
          "a5_profile_sex", "a5_profile_age", "a5_profile_ethnicity", "a5_profile_disability",
          "a5_profile_lgbt", "a5_dan_involvement", "a5_repeat_reconciliation"),
    "6": ("a6_referrals_by_source", "a6_factor_prevalence", "a6_dva_rereferrals", "a6_cin_dva",
          "a6_cp_plans", "a6_cp_plans_by_year", "a6_looked_after", "a6_status_transitions_6m",
          "a6_status_transitions_12m", "a6_status_step_rates"),
    "7": ("a7_caseload_by_quarter", "a7_open_caseload", "a7_referral_route", "a7_involvement",
          "a7_engagement", "a7_outcomes", "a7_attrition", "a7_missing_sensitivity",
          "a7_engagement_outcomes"),
    "8": ("a8_respondents", "a8_item_responses", "a8_item_tests", "a8_scale_scores"),
    "vfm": ("vfm_appraisal", "vfm_avoided", "vfm_break_even", "vfm_unit_costs",
            "vfm_sensitivity"),
}  # fmt: skip
#: Each part's figures (results/<source>/figures/<name>.png, .svg and .json).
PART_FIGURES = {
    "targets": tuple(f"target_{t}" for t in TARGETS),
    "5": ("a5_cases_by_quarter", "a5_referral_route"),
    "6": ("a6_factor_prevalence", "a6_status_step_rates"),
    "7": ("a7_caseload", "a7_paired_change", "a7_reliable_change"),
    "8": ("a8_item_responses", "a8_scale_means"),
    "vfm": ("vfm_tornado",),
}
#: The multi-site figures, one of each kind per target.
MULTISITE_FIGURE_KINDS = ("forest", "designs", "event_study", "synthetic_control")
MULTISITE_FIGURES = tuple(f"{kind}_{t}" for kind in MULTISITE_FIGURE_KINDS for t in TARGETS)

TABLE_FORMATS = ("csv", "json")
FIGURE_FORMATS = ("png", "svg", "json")


def part_files(part: str) -> dict[str, list[str]]:
    """File names (relative to the tables and figures folders) that `part` writes."""
    if part not in PARTS:
        raise ValueError(f"unknown appendix part {part!r}; one of {', '.join(PARTS)}")
    return {
        "tables": [f"{n}.{ext}" for n in PART_TABLES[part] for ext in TABLE_FORMATS],
        "figures": [f"{n}.{ext}" for n in PART_FIGURES[part] for ext in FIGURE_FORMATS],
    }
