"""Rules across tables: keys that must exist in a parent table, and dates across tables.

Each rule takes the typed child table and its validated parents and returns a boolean Series,
True where the row passes, indexed like the child.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Relation:
    columns: tuple[str, ...]  # the child's columns the rule reads (named in reports)
    check: str
    rule: Callable[[pd.DataFrame, dict[str, pd.DataFrame]], pd.Series]


def exists_in(column: str, parent: str, parent_column: str | None = None) -> Relation:
    target = parent_column or column

    def rule(df: pd.DataFrame, parents: dict[str, pd.DataFrame]) -> pd.Series:
        return df[column].isna() | df[column].isin(parents[parent][target])

    return Relation((column,), f"foreign_key: every {column} exists in {parent}.{target}", rule)


def _joined(df: pd.DataFrame, parent: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    lookup = parent.drop_duplicates(key).set_index(key)[columns]
    return lookup.reindex(df[key]).set_axis(df.index)


def not_before_parent(column: str, parent: str, key: str, parent_column: str) -> Relation:
    def rule(df: pd.DataFrame, parents: dict[str, pd.DataFrame]) -> pd.Series:
        other = _joined(df, parents[parent], key, [parent_column])[parent_column]
        return df[column].isna() | other.isna() | (df[column] >= other)

    return Relation((column,), f"{parent}.{parent_column} <= {column}", rule)


def not_after_parent(column: str, parent: str, key: str, parent_column: str) -> Relation:
    def rule(df: pd.DataFrame, parents: dict[str, pd.DataFrame]) -> pd.Series:
        other = _joined(df, parents[parent], key, [parent_column])[parent_column]
        return df[column].isna() | other.isna() | (df[column] <= other)

    return Relation((column,), f"{column} <= {parent}.{parent_column}", rule)


def _authorised(df: pd.DataFrame, parents: dict[str, pd.DataFrame]) -> pd.Series:
    done = _joined(df, parents["cs_assessments"], "assessment_id", ["authorised_date"])
    return done["authorised_date"].notna() | ~df["assessment_id"].isin(
        parents["cs_assessments"]["assessment_id"]
    )


RELATIONS: dict[str, list[Relation]] = {
    "cs_referrals": [exists_in("child_id", "cs_children")],
    "cs_assessments": [
        exists_in("referral_id", "cs_referrals"),
        not_before_parent("start_date", "cs_referrals", "referral_id", "referral_date"),
        not_after_parent("authorised_date", "cs_referrals", "referral_id", "closure_date"),
    ],
    "cs_factors": [
        exists_in("assessment_id", "cs_assessments"),
        Relation(
            ("assessment_id",),
            "factors belong to an authorised (completed) assessment",
            _authorised,
        ),
    ],
    "cs_cp_plans": [
        exists_in("referral_id", "cs_referrals"),
        not_before_parent("start_date", "cs_referrals", "referral_id", "referral_date"),
        not_after_parent("start_date", "cs_referrals", "referral_id", "closure_date"),
        not_after_parent("end_date", "cs_referrals", "referral_id", "closure_date"),
    ],
    "cs_looked_after": [exists_in("child_id", "cs_children")],
    "casework": [exists_in("family_id", "cs_children")],
}
