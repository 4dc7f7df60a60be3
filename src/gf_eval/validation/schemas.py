"""One pandera DataFrameModel per extract: columns, types, code lists, ranges, keys, date order.

Column metadata tells the validation report how to treat a column's values:
  echo     the values may appear in error messages (codes and numbers, never keys or text);
  flag     a Y/N column, stored as boolean in the typed interim table.
Columns without `echo` (keys, dates, free text) never have their values shown anywhere.
Rules that need another table (foreign keys, dates across tables) live in `relations.py`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from gf_eval import codes

ECHO = {"echo": True}
KEY_PATTERN = r"^[A-Za-z0-9_\-]{1,20}$"
CHILD_KEY_PATTERN = r"^[A-Za-z0-9_\-]{1,10}$"  # the CIN census LAchildID is at most 10 characters


def key(unique: bool = True, pattern: str = KEY_PATTERN, nullable: bool = False):
    return pa.Field(unique=unique, str_matches=pattern, nullable=nullable)


def code(values: Iterable[str], nullable: bool = False):
    return pa.Field(isin=list(values), nullable=nullable, metadata=ECHO)


def number(low: int, high: int, nullable: bool = False):
    return pa.Field(ge=low, le=high, nullable=nullable, metadata=ECHO)


def flag(nullable: bool = False):
    return pa.Field(isin=list(codes.YES_NO), nullable=nullable, metadata={**ECHO, "flag": True})


def date(nullable: bool = False):
    return pa.Field(nullable=nullable)


def ordered(df: pd.DataFrame, earlier: str, later: str) -> pd.Series:
    """True where `earlier` <= `later` or either is missing."""
    return df[earlier].isna() | df[later].isna() | (df[earlier] <= df[later])


def together(df: pd.DataFrame, a: str, b: str) -> pd.Series:
    """True where `a` and `b` are both present or both missing."""
    return df[a].isna() == df[b].isna()


class Base(pa.DataFrameModel):
    class Config:
        strict = True  # unexpected columns are errors: they may carry identifiers
        ordered = False


class MaracCases(Base):
    case_id: Series[str] = key()
    victim_key: Series[str] = key(unique=False)
    perpetrator_key: Series[str] = key(unique=False)
    referral_date: Series[pd.Timestamp] = date()
    meeting_date: Series[pd.Timestamp] = date()
    referring_agency: Series[str] = code(codes.MARAC_AGENCIES)
    referral_route: Series[str] = code(codes.MARAC_ROUTES)
    dash_score: Series[pd.Int64Dtype] = number(0, codes.DASH_MAX, nullable=True)
    children_in_household: Series[pd.Int64Dtype] = number(0, 20, nullable=True)
    victim_sex: Series[str] = code(codes.SEXES)
    victim_age_band: Series[str] = code(codes.AGE_BANDS, nullable=True)
    victim_ethnic_group: Series[str] = code(codes.ETHNIC_GROUPS, nullable=True)
    victim_disabled: Series[str] = flag(nullable=True)
    victim_lgbt: Series[str] = flag(nullable=True)
    perpetrator_sex: Series[str] = code(codes.SEXES)
    coordinator_repeat: Series[str] = flag()
    dan_involved: Series[str] = flag()

    @pa.dataframe_check(error="referral_date <= meeting_date")
    def meeting_after_referral(cls, df: pd.DataFrame) -> Series[bool]:
        return ordered(df, "referral_date", "meeting_date")

    @pa.dataframe_check(error="referral_route visible_high_risk needs dash_score >= 14")
    def high_risk_route(cls, df: pd.DataFrame) -> Series[bool]:
        vhr = df["referral_route"] == "visible_high_risk"
        return ~vhr | df["dash_score"].isna() | (df["dash_score"] >= codes.DASH_HIGH_RISK)


class CsChildren(Base):
    child_id: Series[str] = key(pattern=CHILD_KEY_PATTERN)
    family_id: Series[str] = key(unique=False)
    gender: Series[str] = code(codes.CHILD_GENDERS)
    ethnicity: Series[str] = code(codes.ETHNICITIES, nullable=True)


class CsReferrals(Base):
    referral_id: Series[str] = key()
    child_id: Series[str] = key(unique=False, pattern=CHILD_KEY_PATTERN)
    referral_date: Series[pd.Timestamp] = date()
    referral_source: Series[str] = code(codes.REFERRAL_SOURCES, nullable=True)
    primary_need: Series[str] = code(codes.PRIMARY_NEEDS, nullable=True)
    age_at_referral: Series[pd.Int64Dtype] = number(0, 18)
    closure_date: Series[pd.Timestamp] = date(nullable=True)
    closure_reason: Series[str] = code(codes.CLOSURE_REASONS, nullable=True)

    @pa.dataframe_check(error="referral_date <= closure_date")
    def closed_after_referral(cls, df: pd.DataFrame) -> Series[bool]:
        return ordered(df, "referral_date", "closure_date")

    @pa.dataframe_check(error="closure_reason present if and only if closure_date present")
    def closure_complete(cls, df: pd.DataFrame) -> Series[bool]:
        return together(df, "closure_date", "closure_reason")


class CsAssessments(Base):
    assessment_id: Series[str] = key()
    referral_id: Series[str] = key(unique=False)
    start_date: Series[pd.Timestamp] = date()
    authorised_date: Series[pd.Timestamp] = date(nullable=True)

    @pa.dataframe_check(error="start_date <= authorised_date")
    def authorised_after_start(cls, df: pd.DataFrame) -> Series[bool]:
        return ordered(df, "start_date", "authorised_date")


class CsFactors(Base):
    assessment_id: Series[str] = key(unique=False)
    factor: Series[str] = code(codes.FACTORS)

    class Config(Base.Config):
        unique = ["assessment_id", "factor"]

    @pa.dataframe_check(error="factor 21 (no factors identified) stands alone")
    def no_factors_alone(cls, df: pd.DataFrame) -> Series[bool]:
        group, _ = pd.factorize(df["assessment_id"])
        is_21 = df["factor"] == codes.NO_FACTORS
        if (group < 0).any():  # missing keys: pandas' groupby semantics, whatever they give
            per_assessment = df.groupby("assessment_id")["factor"].transform("size")
            has_21 = is_21.groupby(df["assessment_id"]).transform("any")
            return ~has_21 | (per_assessment == 1)
        # The same as the groupby above, from one factorisation of the keys instead of two.
        per_assessment = np.bincount(group)[group]
        has_21 = np.bincount(group, weights=is_21.to_numpy(dtype=bool))[group] > 0
        return pd.Series(~has_21 | (per_assessment == 1), index=df.index, name="factor")


class CsCpPlans(Base):
    plan_id: Series[str] = key()
    referral_id: Series[str] = key(unique=False)
    start_date: Series[pd.Timestamp] = date()
    end_date: Series[pd.Timestamp] = date(nullable=True)
    category: Series[str] = code(codes.CP_CATEGORIES)

    @pa.dataframe_check(error="start_date <= end_date")
    def ends_after_start(cls, df: pd.DataFrame) -> Series[bool]:
        return ordered(df, "start_date", "end_date")


class CsLookedAfter(Base):
    child_id: Series[str] = key(unique=False, pattern=CHILD_KEY_PATTERN)
    became_looked_after: Series[pd.Timestamp] = date()

    class Config(Base.Config):
        unique = ["child_id", "became_looked_after"]


def _measure(name: str, nullable: bool = True):
    low, high, _better, _reliability = codes.CASEWORK_MEASURES[name]
    return number(low, high, nullable=nullable)


class Casework(Base):
    case_id: Series[str] = key()
    family_id: Series[str] = key(unique=False)
    dan_id: Series[str] = key(unique=False)
    referral_date: Series[pd.Timestamp] = date()
    allocation_date: Series[pd.Timestamp] = date()
    closure_date: Series[pd.Timestamp] = date(nullable=True)
    referral_route: Series[str] = code(codes.CASEWORK_ROUTES)
    victim_engaged: Series[str] = flag()
    perpetrator_engaged: Series[str] = flag()
    children_engaged: Series[str] = flag()
    n_children: Series[pd.Int64Dtype] = number(0, 20)
    contacts: Series[pd.Int64Dtype] = number(0, 1000)
    closure_reason: Series[str] = code(codes.CASEWORK_CLOSURES, nullable=True)
    dash_alloc: Series[pd.Int64Dtype] = _measure("dash")
    dash_close: Series[pd.Int64Dtype] = _measure("dash")
    swemwbs_alloc: Series[pd.Int64Dtype] = _measure("swemwbs")
    swemwbs_close: Series[pd.Int64Dtype] = _measure("swemwbs")
    safety_alloc: Series[pd.Int64Dtype] = _measure("safety")
    safety_close: Series[pd.Int64Dtype] = _measure("safety")
    sdq_alloc: Series[pd.Int64Dtype] = _measure("sdq")
    sdq_close: Series[pd.Int64Dtype] = _measure("sdq")

    @pa.dataframe_check(error="referral_date <= allocation_date")
    def allocated_after_referral(cls, df: pd.DataFrame) -> Series[bool]:
        return ordered(df, "referral_date", "allocation_date")

    @pa.dataframe_check(error="allocation_date <= closure_date")
    def closed_after_allocation(cls, df: pd.DataFrame) -> Series[bool]:
        return ordered(df, "allocation_date", "closure_date")

    @pa.dataframe_check(error="closure_reason present if and only if closure_date present")
    def closure_complete(cls, df: pd.DataFrame) -> Series[bool]:
        return together(df, "closure_date", "closure_reason")

    @pa.dataframe_check(
        error="closure measures (dash_close, swemwbs_close, safety_close, sdq_close) "
        "only with a closure_date"
    )
    def closure_measures_need_closure(cls, df: pd.DataFrame) -> Series[bool]:
        closing = [f"{m}_close" for m in codes.CASEWORK_MEASURES]
        return df["closure_date"].notna() | df[closing].isna().all(axis=1)

    @pa.dataframe_check(error="sdq_alloc and sdq_close only where children_engaged is Y")
    def child_measure_needs_children(cls, df: pd.DataFrame) -> Series[bool]:
        no_sdq = df["sdq_alloc"].isna() & df["sdq_close"].isna()
        return (df["children_engaged"] == "Y") | no_sdq


def _item():
    return number(codes.LIKERT_MIN, codes.LIKERT_MAX, nullable=True)


class Survey(Base):
    respondent_id: Series[str] = key()
    wave: Series[str] = code(codes.SURVEY_WAVES)
    response_date: Series[pd.Timestamp] = date()
    agency: Series[str] = code(codes.SURVEY_AGENCIES)
    role: Series[str] = code(codes.SURVEY_ROLES)
    q01: Series[pd.Int64Dtype] = _item()
    q02: Series[pd.Int64Dtype] = _item()
    q03: Series[pd.Int64Dtype] = _item()
    q04: Series[pd.Int64Dtype] = _item()
    q05: Series[pd.Int64Dtype] = _item()
    q06: Series[pd.Int64Dtype] = _item()
    q07: Series[pd.Int64Dtype] = _item()
    q08: Series[pd.Int64Dtype] = _item()
    comment: Series[str] = pa.Field(nullable=True, str_length={"max_value": 2000})


SCHEMAS: dict[str, type[Base]] = {
    "marac_cases": MaracCases,
    "cs_children": CsChildren,
    "cs_referrals": CsReferrals,
    "cs_assessments": CsAssessments,
    "cs_factors": CsFactors,
    "cs_cp_plans": CsCpPlans,
    "cs_looked_after": CsLookedAfter,
    "casework": Casework,
    "survey": Survey,
}
