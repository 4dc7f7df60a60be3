"""The extract contract: which files an extract folder holds and how the tables link.

Shared by the generator (which writes them) and the validation stage (which reads them), and
read by the Snakefile to map one validation rule per extract.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Extract:
    name: str
    description: str
    columns: tuple[str, ...]  # in file order; the schemas (validation.schemas) say the rest
    parents: tuple[str, ...] = ()  # tables whose keys this one refers to

    @property
    def keys(self) -> tuple[str, ...]:
        """The key columns: pseudonyms, which carry no order or meaning."""
        return tuple(c for c in self.columns if c in KEY_NAMES)

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


KEY_NAMES = frozenset({"case_id", "victim_key", "perpetrator_key", "child_id", "family_id",
                       "referral_id", "assessment_id", "plan_id", "dan_id", "respondent_id"})  # fmt: skip


def _columns(names: str) -> tuple[str, ...]:
    return tuple(names.split())


EXTRACTS: dict[str, Extract] = {
    e.name: e
    for e in (
        Extract(
            "marac_cases",
            "MARAC cases: one row per case discussed",
            _columns(
                "case_id victim_key perpetrator_key referral_date meeting_date referring_agency "
                "referral_route dash_score children_in_household victim_sex victim_age_band "
                "victim_ethnic_group victim_disabled victim_lgbt perpetrator_sex coordinator_repeat "
                "dan_involved"
            ),
        ),
        Extract(
            "cs_children",
            "Children in social care: one row per child",
            _columns("child_id family_id gender ethnicity"),
        ),
        Extract(
            "cs_referrals",
            "Referrals (CIN episodes): one row per episode",
            _columns(
                "referral_id child_id referral_date referral_source primary_need age_at_referral "
                "closure_date closure_reason"
            ),
            ("cs_children",),
        ),
        Extract(
            "cs_assessments",
            "Assessments: one row per assessment",
            _columns("assessment_id referral_id start_date authorised_date"),
            ("cs_referrals",),
        ),
        Extract(
            "cs_factors",
            "Factors at the end of assessment",
            _columns("assessment_id factor"),
            ("cs_assessments",),
        ),
        Extract(
            "cs_cp_plans",
            "Child protection plans",
            _columns("plan_id referral_id start_date end_date category"),
            ("cs_referrals",),
        ),
        Extract(
            "cs_looked_after",
            "Starts of periods looked after",
            _columns("child_id became_looked_after"),
            ("cs_children",),
        ),
        Extract(
            "casework",
            "DAN casework books: one row per family case",
            _columns(
                "case_id family_id dan_id referral_date allocation_date closure_date referral_route "
                "victim_engaged perpetrator_engaged children_engaged n_children contacts "
                "closure_reason dash_alloc dash_close swemwbs_alloc swemwbs_close safety_alloc "
                "safety_close sdq_alloc sdq_close"
            ),
            ("cs_children",),
        ),
        Extract(
            "survey",
            "Professionals' e-survey: one row per response",
            _columns("respondent_id wave response_date agency role q01 q02 q03 q04 q05 q06 q07 q08 comment"),
        ),
    )
}
