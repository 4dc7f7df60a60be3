"""The synthetic Children in Need census returns: one XML file per census year.

`write_census(tables, ids, calendar, outdir)` writes, for every census year (ending 31 March)
from the one containing `calendar.history_start` to the one containing `calendar.data_end`,
`cin_census_<year>.xml` as the authority would have returned it on that year's 31 March, and
`families.csv` (LAchildID,FamilyID). Each return lists every child with an episode open at any
time in the year, as known on the reference date: closure dates (with their reasons and
ReferralNFA), authorisations, factors and plan end dates after it are left out, and so are
assessments and plans starting after it. Each file is checked against its year's public XSD (the
2017 one for earlier years) before it is written; a required value the synthetic data lack
(ReferralSource, Ethnicity, GenderCurrent) fails loudly rather than being invented.

NumberOfPreviousCPP: the XSDs type it xs:positiveInteger, so 0 (a first plan) is not allowed; the
value written is the plan's 1-based ordinal among the child's plans (earlier plans plus one), as
if the count included the current plan. LatestCategoryOfAbuse is the plan's category (the
generator does not change it). PersonBirthDate is the identity's birth date, UPN its UPN.

Reading the files back with `gf_eval.returns.cin_census.read_census` gives the generator's cs_*
tables up to the keys. The same input gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from lxml import etree

from gf_eval.config import Calendar
from gf_eval.files import atomic_path
from gf_eval.returns import cin_census

LEA = "371"  # Doncaster's local authority code
SOFTWARE = "gf-eval synthetic returns"


def census_years(calendar: Calendar) -> list[int]:
    """Census years (the year ending 31 March Y is Y) from history_start's to data_end's."""

    def year(d: pd.Timestamp) -> int:
        return d.year + 1 if d.month >= 4 else d.year

    return list(range(year(calendar.history_start), year(calendar.data_end) + 1))


def _day(d) -> str:
    return pd.Timestamp(d).strftime("%Y-%m-%d")


def _sub(parent, tag: str, text=None):
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def _required(df: pd.DataFrame, column: str, table: str, element: str) -> None:
    missing = df[column].isna()
    if missing.any():
        raise ValueError(f"{table}.{column}: {int(missing.sum())} rows blank, but the census "
                         f"requires {element}; the generator must give one")  # fmt: skip


def write_census(tables: dict[str, pd.DataFrame], ids, calendar: Calendar,
                 outdir: str | Path) -> list[Path]:  # fmt: skip
    """Write one census XML per year and families.csv into `outdir`; return their paths (the
    XML files by year, then families.csv)."""
    outdir = Path(outdir)
    kids = tables["cs_children"].set_index("child_id")
    ref = tables["cs_referrals"]
    _required(kids, "gender", "cs_children", "GenderCurrent")
    _required(kids, "ethnicity", "cs_children", "Ethnicity")
    _required(ref, "referral_source", "cs_referrals", "ReferralSource")
    who = ids.children
    missing = ~kids.index.isin(who.index)
    if missing.any():
        raise ValueError(f"ids.children: {int(missing.sum())} children of cs_children missing")
    ref = ref.assign(_la=ref["child_id"].map(who["la_child_id"]))
    if ref.duplicated(["_la", "referral_date"]).any():
        raise ValueError("cs_referrals: a child has two episodes on the same referral date, which "
                         "the census cannot tell apart")  # fmt: skip
    ass = tables["cs_assessments"].merge(ref[["referral_id", "child_id"]], on="referral_id")
    ass = ass.sort_values(["referral_id", "start_date", "assessment_id"], kind="stable")
    factors = tables["cs_factors"].sort_values(["assessment_id", "factor"], kind="stable")
    factors_of = factors.groupby("assessment_id", sort=False)["factor"].apply(list).to_dict()
    plans = tables["cs_cp_plans"].merge(ref[["referral_id", "child_id"]], on="referral_id")
    plans = plans.sort_values(["child_id", "start_date", "plan_id"], kind="stable")
    if plans.duplicated(["referral_id", "start_date"]).any():
        raise ValueError("cs_cp_plans: an episode has two plans starting on the same day, which "
                         "the census cannot tell apart")  # fmt: skip
    plans["ordinal"] = plans.groupby("child_id").cumcount() + 1
    # Plain records, looked up per child and episode: pandas indexing per row is too slow.
    ass_of: dict = {}
    for row in ass.itertuples(index=False):
        ass_of.setdefault(row.referral_id, []).append(row)
    plans_of: dict = {}
    for row in plans.sort_values(["start_date", "plan_id"], kind="stable").itertuples(index=False):
        plans_of.setdefault(row.referral_id, []).append(row)
    kid_of = kids[["gender", "ethnicity"]].to_dict("index")
    who_of = who.to_dict("index")

    written = []
    for year in census_years(calendar):
        end = pd.Timestamp(year, 3, 31)
        start = pd.Timestamp(year - 1, 4, 1)
        in_year = ref[(ref["referral_date"] <= end) &
                      (ref["closure_date"].isna() | (ref["closure_date"] >= start))]  # fmt: skip
        if in_year.empty:
            raise ValueError(f"census year {year}: no child in need, and a return needs one")
        _codes_allowed(in_year, "referral_source", "referralsourcetype", year)
        root = _message(year, end)
        children = _sub(root, "Children")
        in_year = in_year.sort_values(["_la", "referral_date"], kind="stable")
        episodes_of: dict = {}
        for ep in in_year.itertuples(index=False):
            episodes_of.setdefault(ep.child_id, []).append(ep)
        for child_id, episodes in episodes_of.items():
            _child(children, child_id, kid_of[child_id], who_of[child_id], episodes, end,
                   ass_of, factors_of, plans_of)  # fmt: skip
        data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        path = outdir / f"cin_census_{year}.xml"
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
            tree = cin_census.parse(tmp)
            used = cin_census.schema_year(year)
            errors = cin_census.schema_errors(tree, used)
            if errors:
                raise ValueError(f"{path.name}: the written return fails the {used} schema: "
                                 f"{errors[:3]}")  # fmt: skip
        written.append(path)

    listed = ref["child_id"].unique()
    fam = pd.DataFrame({
        "LAchildID": who.loc[listed, "la_child_id"].to_numpy(),
        "FamilyID": kids.loc[listed, "family_id"].map(ids.families).to_numpy(),
    }).sort_values("LAchildID")  # fmt: skip
    if fam["FamilyID"].isna().any():
        raise ValueError(f"ids.families: {int(fam['FamilyID'].isna().sum())} families missing")
    path = outdir / "families.csv"
    with atomic_path(path) as tmp:
        fam.to_csv(tmp, index=False, lineterminator="\n")
    written.append(path)
    return written


def _codes_allowed(df: pd.DataFrame, column: str, xsd_type: str, year: int) -> None:
    """Fail loudly on codes the year's XSD does not list (codes newer than the census year, such
    as referral source 5D, first in the 2023 schema), rather than write an invalid return."""
    used = cin_census.schema_year(year)
    tree = etree.parse(str(cin_census.schema_path(used)))
    allowed = set(tree.xpath(f"//*[local-name()='simpleType'][@name='{xsd_type}']"
                             "//*[local-name()='enumeration']/@value"))  # fmt: skip
    bad = df[column].notna() & ~df[column].isin(allowed)
    if bad.any():
        found = ", ".join(sorted(df.loc[bad, column].astype(str).unique()))
        raise ValueError(f"census year {year}: {int(bad.sum())} episodes have {column} codes "
                         f"({found}) that the {used} schema does not allow")  # fmt: skip


def _message(year: int, end: pd.Timestamp):
    root = etree.Element("Message")
    head = _sub(root, "Header")
    details = _sub(head, "CollectionDetails")
    _sub(details, "Collection", "CIN")
    _sub(details, "Year", year)
    _sub(details, "ReferenceDate", _day(end))
    source = _sub(head, "Source")
    _sub(source, "SourceLevel", "L")
    _sub(source, "LEA", LEA)
    _sub(source, "SoftwareCode", SOFTWARE)
    return root


def _child(parent, child_id, kid, who, episodes, end, ass_of, factors_of, plans_of) -> None:
    child = _sub(parent, "Child")
    ident = _sub(child, "ChildIdentifiers")
    _sub(ident, "LAchildID", who["la_child_id"])
    if pd.notna(who["upn"]):
        _sub(ident, "UPN", who["upn"])
    if pd.notna(who["birth_date"]):
        _sub(ident, "PersonBirthDate", _day(who["birth_date"]))
    _sub(ident, "GenderCurrent", kid["gender"])
    traits = _sub(child, "ChildCharacteristics")
    _sub(traits, "Ethnicity", kid["ethnicity"])
    for ep in episodes:
        cin = _sub(child, "CINdetails")
        _sub(cin, "CINreferralDate", _day(ep.referral_date))
        _sub(cin, "ReferralSource", ep.referral_source)
        if pd.notna(ep.primary_need):
            _sub(cin, "PrimaryNeedCode", ep.primary_need)
        closed = pd.notna(ep.closure_date) and ep.closure_date <= end
        if closed:
            _sub(cin, "CINclosureDate", _day(ep.closure_date))
            _sub(cin, "ReasonForClosure", ep.closure_reason)
        for row in ass_of.get(ep.referral_id, ()):
            if row.start_date <= end:
                el = _sub(cin, "Assessments")
                _sub(el, "AssessmentActualStartDate", _day(row.start_date))
                done = pd.notna(row.authorised_date) and row.authorised_date <= end
                if done:
                    _sub(el, "AssessmentAuthorisationDate", _day(row.authorised_date))
                    found = factors_of.get(row.assessment_id)
                    if found:
                        box = _sub(el, "FactorsIdentifiedAtAssessment")
                        for code in found:
                            _sub(box, "AssessmentFactors", code)
        _sub(cin, "ReferralNFA", "true" if closed and ep.closure_reason == "RC8" else "false")
        for row in plans_of.get(ep.referral_id, ()):
            if row.start_date <= end:
                el = _sub(cin, "ChildProtectionPlans")
                _sub(el, "CPPstartDate", _day(row.start_date))
                if pd.notna(row.end_date) and row.end_date <= end:
                    _sub(el, "CPPendDate", _day(row.end_date))
                _sub(el, "InitialCategoryOfAbuse", row.category)
                _sub(el, "LatestCategoryOfAbuse", row.category)
                _sub(el, "NumberOfPreviousCPP", int(row.ordinal))
