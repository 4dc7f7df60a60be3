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
    parents: tuple[str, ...] = ()  # tables whose keys this one refers to

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


EXTRACTS: dict[str, Extract] = {
    e.name: e
    for e in (
        Extract("marac_cases", "MARAC cases: one row per case discussed"),
        Extract("cs_children", "Children in social care: one row per child"),
        Extract("cs_referrals", "Referrals (CIN episodes): one row per episode", ("cs_children",)),
        Extract("cs_assessments", "Assessments: one row per assessment", ("cs_referrals",)),
        Extract("cs_factors", "Factors at the end of assessment", ("cs_assessments",)),
        Extract("cs_cp_plans", "Child protection plans", ("cs_referrals",)),
        Extract("cs_looked_after", "Starts of periods looked after", ("cs_children",)),
        Extract("casework", "DAN casework books: one row per family case", ("cs_children",)),
        Extract("survey", "Professionals' e-survey: one row per response"),
    )
}
