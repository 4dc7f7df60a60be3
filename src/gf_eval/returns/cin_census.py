"""Import of Children in Need (CIN) census XML returns into the five `cs_*` tables.

`read_census(paths, families=None)` reads one census return per file and gives `cs_children`,
`cs_referrals`, `cs_assessments`, `cs_factors` and `cs_cp_plans` with exactly the contract's
columns (docs/data_dictionary.md, sections 2.2 to 2.6). Key columns hold identifying values
(`LAchildID`, or several parts joined by `compose`) for the pseudonymisation step to hash:

- child_id = LAchildID; family_id = FamilyID from the optional families CSV (`LAchildID,FamilyID`),
  or the LAchildID itself when no families file is given (each child its own family);
- referral_id = compose(LAchildID, CINreferralDate);
- assessment_id = compose(LAchildID, CINreferralDate, AssessmentActualStartDate, n), n the
  0-based ordinal, in document order, among the episode's assessments with that start date;
- plan_id = compose(LAchildID, CINreferralDate, CPPstartDate).

`age_at_referral` is the age in completed years on CINreferralDate from PersonBirthDate; an
unborn child (no PersonBirthDate, or one after the referral) is 0. A plan's `category` is its
InitialCategoryOfAbuse: the contract's category is the one the plan was made under, which does
not change as the plan goes on, so a plan reads the same in every return that lists it, whereas
LatestCategoryOfAbuse is revised from return to return.

Checks, each failure a `ReturnError` naming the file, the line or element path, the rule and a
count, and never a value read from the file:

- the file must be well-formed XML (parsed with lxml, resolving no entities and using no network);
- the header's CollectionDetails/Year picks the schema: the public XSD of that census year
  (`schemas/cin_census`, 2017 to 2024). A year before 2017 has no public XSD and is checked
  against the earliest (2017); the import report records it (`schema_fallback`). A file that
  fails its year's schema but passes another year's is refused as valid against that other
  year's schema, not the one its header declares; any other schema failure is refused with a
  count of errors per element and kind (not in the allowed list, does not match the pattern,
  missing required element, unexpected element, not a valid date, ...) and their first lines.
  lxml's own messages quote values, so they are rewritten, never passed on;
- two files declaring the same census year are refused;
- within one file, a child, an episode or a plan listed twice with different content is refused
  (exact repeats are dropped);
- with a families file, every child of the returns must be in it, with one FamilyID.

Several years. The census for the year ending 31 March Y lists every child in need at any time
in that year, as known on its reference date (31 March Y unless the header gives another), so an
episode open across 31 March appears in two returns and is updated in the later one (a closure
date, an authorisation, factors, a plan end date). The returns are combined record by record:
children matched on LAchildID, episodes on (LAchildID, CINreferralDate), assessments on their
key (episode, start date, ordinal), plans on (LAchildID, CINreferralDate, CPPstartDate). For each
key the record from the return with the latest reference date wins entirely: all its fields, and
for an assessment its factors, which replace the earlier return's. What matching cannot detect:
a record removed or re-keyed in a later return. An episode whose referral date was corrected, an
assessment deleted, or a plan whose start date was corrected in a later return leaves the earlier
record in place (as a separate record when re-keyed), since its absence from a later return is
indistinguishable from its falling outside that year. Nor can it tell which of two assessments
with the same start date is which if their document order changes between returns.

The output is deduplicated and sorted by its key columns, so the same input gives the same
tables whatever the order of `paths`.
"""

from __future__ import annotations

import csv
import datetime as _dt
import re
from functools import lru_cache
from pathlib import Path

import pandas as pd
from lxml import etree

from gf_eval.extracts import EXTRACTS
from gf_eval.returns import ReturnError, compose_columns
from gf_eval.returns.ages import age_in_years

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "cin_census"
PUBLIC_YEARS = tuple(range(2017, 2025))  # census years with a public XSD in SCHEMA_DIR

COLUMNS = {name: list(EXTRACTS[name].columns)
           for name in ("cs_children", "cs_referrals", "cs_assessments", "cs_factors",
                        "cs_cp_plans")}  # fmt: skip
DATES = {"referral_date", "closure_date", "start_date", "authorised_date", "end_date"}

FIRST_LINES = 3  # line numbers quoted per kind of schema error
_TYPE_WORDS = {
    "xs:date": "date", "xs:gYear": "year", "xs:dateTime": "date and time",
    "xs:positiveInteger": "positive whole number", "xs:integer": "whole number",
    "xs:string": "text",
}  # fmt: skip


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=True)  # fmt: skip


def schema_path(year: int) -> Path:
    return SCHEMA_DIR / f"CIN_schema_{year}.xsd"


@lru_cache(maxsize=None)
def schema(year: int) -> etree.XMLSchema:
    """The public XSD of census year `year` (one of PUBLIC_YEARS)."""
    return etree.XMLSchema(etree.parse(str(schema_path(year)), _parser()))


@lru_cache(maxsize=None)
def _schema_names() -> frozenset[str]:
    """Every element name any public schema declares: the only names a message may show."""
    names = set()
    for year in PUBLIC_YEARS:
        tree = etree.parse(str(schema_path(year)), _parser())
        names |= {str(n) for n in tree.xpath("//*[local-name()='element']/@name")}
    return frozenset(names)


@lru_cache(maxsize=None)
def _required_names() -> frozenset[str]:
    """Element names that every public schema declares as required wherever they occur."""
    optional, required = set(), set()
    for year in PUBLIC_YEARS:
        tree = etree.parse(str(schema_path(year)), _parser())
        for el in tree.xpath("//*[local-name()='element'][@name]"):
            (optional if el.get("minOccurs") == "0" else required).add(el.get("name"))
    return frozenset(required - optional)


def schema_year(year: int) -> int:
    """The census year whose public XSD checks a return declaring `year`."""
    if year < PUBLIC_YEARS[0]:
        return PUBLIC_YEARS[0]
    return year


def parse(path: str | Path) -> etree._ElementTree:
    """The file as an lxml tree; ReturnError (file, line, column) if not well-formed XML."""
    path = Path(path)
    try:
        return etree.parse(str(path), _parser())
    except etree.XMLSyntaxError as err:
        line, column = (err.position or (err.lineno, 0))[:2]
        raise ReturnError(
            f"{path.name}: line {line}, column {column}: not well-formed XML (1 error; the "
            "file cannot be read further)"
        ) from None
    except OSError:
        raise ReturnError(f"{path.name}: the file cannot be read") from None


def header(tree: etree._ElementTree, path: str | Path) -> tuple[int, pd.Timestamp]:
    """The census year declared in Header/CollectionDetails/Year and the reference date
    (ReferenceDate, else 31 March of that year)."""
    name = Path(path).name
    root = tree.getroot()
    if not isinstance(root.tag, str) or root.tag != "Message":
        raise ReturnError(f"{name}: line {root.sourceline}: the root element is not Message, so "
                          "this is not a CIN census return (1 record)")  # fmt: skip
    where = "/Message/Header/CollectionDetails/Year"
    found = tree.xpath(where)
    if not found:
        raise ReturnError(f"{name}: {where}: missing required element (the census year decides "
                          "the schema) (1 record)")  # fmt: skip
    el = found[0]
    text = (el.text or "").strip()
    if not re.fullmatch(r"\d{4}", text):
        raise ReturnError(f"{name}: line {el.sourceline}, {where}: not a valid year (1 record)")
    year = int(text)
    ref = pd.Timestamp(year, 3, 31)
    found = tree.xpath("/Message/Header/CollectionDetails/ReferenceDate")
    if found:
        ref_el = found[0]
        parsed = _date((ref_el.text or "").strip())
        if parsed is None:
            raise ReturnError(f"{name}: line {ref_el.sourceline}, "
                              "/Message/Header/CollectionDetails/ReferenceDate: not a valid date "
                              "(1 record)")  # fmt: skip
        ref = parsed
    return year, ref


def _clean_path(path: str | None) -> str:
    """An lxml element path with sibling indices dropped and any name that no schema declares
    (so could be anything the file holds) replaced."""
    names = _schema_names()
    parts = []
    for part in re.sub(r"\[\d+\]", "", path or "").split("/"):
        if part:
            parts.append(part if part in names else "(an element not in the schema)")
    return "/" + "/".join(parts)


def _kind(err) -> tuple[str, str]:
    """(element path, kind of failure) of one lxml schema error, with no value in either."""
    path = _clean_path(err.path)
    t, msg = err.type_name, err.message or ""
    if t == "SCHEMAV_CVC_ENUMERATION_VALID":
        return path, "not in the allowed list"
    if t == "SCHEMAV_CVC_PATTERN_VALID":
        return path, "does not match the pattern"
    if t in ("SCHEMAV_CVC_MINLENGTH_VALID", "SCHEMAV_CVC_LENGTH_VALID"):
        return path, "shorter than the allowed length (empty)"
    if t == "SCHEMAV_CVC_MAXLENGTH_VALID":
        return path, "longer than the allowed length"
    if t.startswith("SCHEMAV_CVC_DATATYPE_VALID") or t.startswith("SCHEMAV_CVC_MININCLUSIVE"):
        # "... is not a valid value of the atomic type 'xs:date'": the type is the schema's.
        found = re.findall(r"atomic type '(xs:[A-Za-z]+)'", msg)
        word = _TYPE_WORDS.get(found[-1], "value of its type") if found else "value of its type"
        return path, f"not a valid {word}"
    if t == "SCHEMAV_ELEMENT_CONTENT":
        expected = re.findall(r"Expected is (?:one of )?\( ([^)]*) \)", msg)
        names = sorted({n.strip() for n in (expected[-1].split(",") if expected else [])}
                       & _schema_names())  # fmt: skip
        if "Missing child element" in msg:
            required = [n for n in names if n in _required_names()] or names
            listed = f" ({' or '.join(required)})" if required else ""
            return path, "missing required element" + listed
        return path, "unexpected element"
    if t == "SCHEMAV_CVC_ELT_1":
        return path, "root element is not Message"
    if t.startswith("SCHEMAV_CVC_COMPLEX_TYPE_3_2"):
        return path, "unexpected attribute"
    if t == "SCHEMAV_CVC_COMPLEX_TYPE_4":
        return path, "missing required attribute"
    if t in ("SCHEMAV_CVC_TYPE_3_1_2", "SCHEMAV_CVC_COMPLEX_TYPE_2_3",
             "SCHEMAV_CVC_ELT_4_3", "SCHEMAV_CVC_COMPLEX_TYPE_2_1"):  # fmt: skip
        return path, "text or content where the schema allows none"
    return path, f"breaks the schema ({t})"


def schema_errors(tree: etree._ElementTree, year: int) -> list[tuple[str, str, int, list[int]]]:
    """[(element path, kind, count, first lines)] of the tree against census year `year`'s XSD
    (one of PUBLIC_YEARS); empty if valid."""
    xsd = schema(year)
    if xsd.validate(tree):
        return []
    groups: dict[tuple[str, str], list[int]] = {}
    for err in xsd.error_log:
        groups.setdefault(_kind(err), []).append(int(err.line))
    return [(p, k, len(lines), sorted(lines)[:FIRST_LINES]) for (p, k), lines in groups.items()]


def _years_text(years: list[int]) -> str:
    if len(years) == 1:
        return f"the {years[0]} schema"
    if years == list(range(years[0], years[-1] + 1)):
        return f"the {years[0]} to {years[-1]} schemas"
    return "the " + ", ".join(map(str, years[:-1])) + f" and {years[-1]} schemas"


def validate(tree: etree._ElementTree, path: str | Path, year: int) -> int:
    """Check the tree against the schema for declared census `year`; return the schema year
    used. ReturnError if it fails."""
    name = Path(path).name
    if year > PUBLIC_YEARS[-1]:
        raise ReturnError(
            f"{name}: /Message/Header/CollectionDetails/Year: the census year its header "
            f"declares is after {PUBLIC_YEARS[-1]}, the latest with a public schema (1 record)"
        )
    used = schema_year(year)
    errors = schema_errors(tree, used)
    if not errors:
        return used
    declared = f"the {used} schema its header declares"
    if used != year:
        declared = (f"the {used} schema (the earliest public one) used for the {year} census "
                    "its header declares")
    others = [y for y in PUBLIC_YEARS if y != used and not schema_errors(tree, y)]
    if others:
        also = f" (also valid against {_years_text(others[1:])})" if len(others) > 1 else ""
        raise ReturnError(f"{name}: valid against the {others[0]} schema, not {declared}{also}")
    total = sum(e[2] for e in errors)
    detail = "; ".join(
        f"{p}: {k} ({n} {'error' if n == 1 else 'errors'}; "
        f"line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))}"
        f"{', ...' if n > len(lines) else ''})"
        for p, k, n, lines in sorted(errors, key=lambda e: (min(e[3]), e[0], e[1]))
    )
    raise ReturnError(f"{name}: fails {declared}: {total} "
                      f"{'error' if total == 1 else 'errors'}: {detail}")  # fmt: skip


def _date(text: str | None) -> pd.Timestamp | None:
    """An xs:date's calendar date (any time zone suffix ignored); None if blank or unusable."""
    if text is None or not text.strip():
        return None
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?", text.strip())
    if not m:
        return None
    try:
        return pd.Timestamp(_dt.date(int(m[1]), int(m[2]), int(m[3])))
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return None


def _text(el, tag: str) -> str | None:
    found = el.find(tag)
    if found is None or found.text is None or not found.text.strip():
        return None
    return found.text.strip()


class _Dates:
    """Reads dates of one file, counting the ones the schema allowed but pandas cannot hold."""

    def __init__(self, name: str):
        self.name = name
        self.bad: dict[str, list[int]] = {}

    def __call__(self, el, tag: str) -> pd.Timestamp | None:
        found = el.find(tag)
        if found is None or found.text is None or not found.text.strip():
            return None
        value = _date(found.text)
        if value is None:
            self.bad.setdefault(tag, []).append(found.sourceline)
        return value

    def check(self) -> None:
        if self.bad:
            detail = "; ".join(
                f"{tag}: not a usable date ({len(lines)} records; first line {min(lines)})"
                for tag, lines in sorted(self.bad.items())
            )
            raise ReturnError(f"{self.name}: {detail}")


def extract(tree: etree._ElementTree, path: str | Path) -> dict[str, pd.DataFrame]:
    """The records of one valid return, with their identifying parts as separate columns."""
    name = Path(path).name
    date = _Dates(name)
    rows: dict[str, list] = {k: [] for k in ("children", "episodes", "assessments", "factors",
                                             "plans")}  # fmt: skip
    for child in tree.getroot().iterfind("Children/Child"):
        ident = child.find("ChildIdentifiers")
        la = _text(ident, "LAchildID")
        rows["children"].append(
            {"la": la, "birth": date(ident, "PersonBirthDate"),
             "gender": _text(ident, "GenderCurrent"),
             "ethnicity": _text(child.find("ChildCharacteristics"), "Ethnicity")}
        )  # fmt: skip
        for ep in child.iterfind("CINdetails"):
            ref = date(ep, "CINreferralDate")
            rows["episodes"].append(
                {"la": la, "ref": ref, "source": _text(ep, "ReferralSource"),
                 "need": _text(ep, "PrimaryNeedCode"), "closure": date(ep, "CINclosureDate"),
                 "reason": _text(ep, "ReasonForClosure")}
            )  # fmt: skip
            seen: dict = {}
            for a in ep.iterfind("Assessments"):
                start = date(a, "AssessmentActualStartDate")
                n = seen.get(start, 0)
                seen[start] = n + 1
                rows["assessments"].append({"la": la, "ref": ref, "start": start, "n": n,
                                            "authorised": date(a, "AssessmentAuthorisationDate")})
                for f in a.iterfind("FactorsIdentifiedAtAssessment/AssessmentFactors"):
                    if f.text and f.text.strip():
                        rows["factors"].append({"la": la, "ref": ref, "start": start, "n": n,
                                                "factor": f.text.strip()})  # fmt: skip
            for p in ep.iterfind("ChildProtectionPlans"):
                rows["plans"].append(
                    {"la": la, "ref": ref, "start": date(p, "CPPstartDate"),
                     "end": date(p, "CPPendDate"), "category": _text(p, "InitialCategoryOfAbuse")}
                )  # fmt: skip
    date.check()
    columns = {
        "children": ["la", "birth", "gender", "ethnicity"],
        "episodes": ["la", "ref", "source", "need", "closure", "reason"],
        "assessments": ["la", "ref", "start", "n", "authorised"],
        "factors": ["la", "ref", "start", "n", "factor"],
        "plans": ["la", "ref", "start", "end", "category"],
    }
    out = {}
    for table, cols in columns.items():
        df = pd.DataFrame(rows[table], columns=cols)
        for c in ("birth", "ref", "closure", "start", "authorised", "end"):
            if c in df:
                df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
        out[table] = df
    _no_conflicts(out, name)
    return out


KEYS = {
    "children": ["la"],
    "episodes": ["la", "ref"],
    "assessments": ["la", "ref", "start", "n"],
    "factors": ["la", "ref", "start", "n", "factor"],
    "plans": ["la", "ref", "start"],
}
WHAT = {
    "children": "children (LAchildID)",
    "episodes": "episodes (LAchildID and CINreferralDate)",
    "assessments": "assessments (episode, start date and ordinal)",
    "plans": "child protection plans (LAchildID, CINreferralDate and CPPstartDate)",
}


def _no_conflicts(tables: dict[str, pd.DataFrame], name: str) -> None:
    """Drop exact repeats within one file; refuse a key listed twice with different content."""
    for table, df in tables.items():
        df = df.drop_duplicates().reset_index(drop=True)
        tables[table] = df
        dup = df.duplicated(KEYS[table], keep=False)
        if dup.any() and table in WHAT:
            n = int(df[dup].drop_duplicates(KEYS[table]).shape[0])
            raise ReturnError(f"{name}: {n} {WHAT[table]} listed more than once with different "
                              "content in the same return")  # fmt: skip


def read_families(path: str | Path) -> pd.Series:
    """FamilyID by LAchildID from a CSV with the columns LAchildID,FamilyID."""
    path = Path(path)
    name = path.name
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError:
        raise ReturnError(f"{name}: not UTF-8 text") from None
    except OSError:
        raise ReturnError(f"{name}: the families file cannot be read") from None
    if not rows:
        raise ReturnError(f"{name}: empty; expected the header LAchildID,FamilyID")
    head = [c.strip() for c in rows[0]]
    if sorted(head) != ["FamilyID", "LAchildID"]:
        raise ReturnError(f"{name}: line 1: the header must be exactly the columns LAchildID and "
                          f"FamilyID ({len(head)} columns found)")  # fmt: skip
    body = rows[1:]
    short = [i + 2 for i, r in enumerate(body) if len(r) != len(head)]
    if short:
        raise ReturnError(f"{name}: {len(short)} rows without exactly 2 fields (first line "
                          f"{short[0]})")  # fmt: skip
    df = pd.DataFrame([[c.strip() for c in r] for r in body], columns=head, dtype=object)
    blank = (df == "").any(axis=1)
    if blank.any():
        first = int(blank.to_numpy().nonzero()[0][0]) + 2
        raise ReturnError(f"{name}: {int(blank.sum())} rows with a blank LAchildID or FamilyID "
                          f"(first line {first})")  # fmt: skip
    df = df.drop_duplicates()
    dup = df["LAchildID"].duplicated(keep=False)
    if dup.any():
        n = int(df.loc[dup, "LAchildID"].nunique())
        raise ReturnError(f"{name}: {n} children (LAchildID) listed with more than one FamilyID")
    return pd.Series(df["FamilyID"].to_numpy(), index=df["LAchildID"].to_numpy(), dtype=object)


def read_census(
    paths, families: str | Path | None = None, report: list | None = None
) -> dict[str, pd.DataFrame]:
    """The five cs_* tables from the census returns `paths` (one file per census year), keys
    holding identifying values. `families`: an optional CSV LAchildID,FamilyID. If `report` is a
    list, one value-free dict per file is appended to it: file, year, schema_year,
    schema_fallback, reference_date, children, episodes, assessments, plans."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise ReturnError("no census return given")
    loaded = []
    by_year: dict[int, str] = {}
    for path in paths:
        tree = parse(path)
        year, ref = header(tree, path)
        if year in by_year:
            raise ReturnError(f"{path.name}: declares the census year {year}, as {by_year[year]} "
                              "does: one return per census year (2 files)")  # fmt: skip
        by_year[year] = path.name
        used = validate(tree, path, year)
        records = extract(tree, path)
        loaded.append((ref, year, path.name, records))
        if report is not None:
            report.append({
                "file": path.name, "year": year, "schema_year": used,
                "schema_fallback": used != year, "reference_date": ref.strftime("%Y-%m-%d"),
                "children": len(records["children"]), "episodes": len(records["episodes"]),
                "assessments": len(records["assessments"]), "plans": len(records["plans"]),
            })  # fmt: skip
    # Latest reference date last, so that keeping the last record per key keeps the latest.
    loaded.sort(key=lambda item: (item[0], item[1]))
    combined = {}
    for table in KEYS:
        frames = [recs[table].assign(_file=i) for i, (_, _, _, recs) in enumerate(loaded)]
        combined[table] = pd.concat(frames, ignore_index=True)
    latest = {
        t: combined[t].sort_values("_file", kind="stable").drop_duplicates(KEYS[t], keep="last")
        for t in ("children", "episodes", "assessments", "plans")
    }
    # An assessment's factors come from the return whose assessment record won.
    winners = latest["assessments"][[*KEYS["assessments"], "_file"]]
    factors = combined["factors"].merge(winners, on=[*KEYS["assessments"], "_file"])
    factors = factors.drop_duplicates(KEYS["factors"])
    return _tables(latest, factors, families)


def census_report(paths, families: str | Path | None = None) -> list[dict]:
    """The import report of `read_census` alone: one value-free dict per file."""
    report: list[dict] = []
    read_census(paths, families, report=report)
    return report


def _tables(latest: dict[str, pd.DataFrame], factors: pd.DataFrame, families) -> dict:
    kids = latest["children"]
    if families is None:
        family = kids["la"]
    else:
        lookup = read_families(families)
        missing = ~kids["la"].isin(lookup.index)
        if missing.any():
            raise ReturnError(f"{Path(families).name}: {int(missing.sum())} children of the "
                              "census returns are not in the families file")  # fmt: skip
        family = kids["la"].map(lookup)
    children = pd.DataFrame({"child_id": kids["la"], "family_id": family,
                             "gender": kids["gender"], "ethnicity": kids["ethnicity"]})  # fmt: skip

    ep = latest["episodes"].merge(kids[["la", "birth"]], on="la", how="left")
    age = age_in_years(ep["birth"], ep["ref"]).to_numpy()
    referrals = pd.DataFrame({
        "referral_id": compose_columns(ep, ["la", "ref"]), "child_id": ep["la"],
        "referral_date": ep["ref"], "referral_source": ep["source"], "primary_need": ep["need"],
        # An unborn child (no birth date yet, or one after the referral) is 0.
        "age_at_referral": pd.Series(age, dtype="Int64").fillna(0).clip(lower=0),
        "closure_date": ep["closure"], "closure_reason": ep["reason"],
    })  # fmt: skip

    a = latest["assessments"]
    assessments = pd.DataFrame({
        "assessment_id": compose_columns(a, ["la", "ref", "start", "n"]),
        "referral_id": compose_columns(a, ["la", "ref"]),
        "start_date": a["start"], "authorised_date": a["authorised"],
    })  # fmt: skip
    cs_factors = pd.DataFrame({
        "assessment_id": compose_columns(factors, ["la", "ref", "start", "n"]),
        "factor": factors["factor"],
    })  # fmt: skip
    p = latest["plans"]
    plans = pd.DataFrame({
        "plan_id": compose_columns(p, ["la", "ref", "start"]),
        "referral_id": compose_columns(p, ["la", "ref"]),
        "start_date": p["start"], "end_date": p["end"], "category": p["category"],
    })  # fmt: skip
    out = {"cs_children": children, "cs_referrals": referrals, "cs_assessments": assessments,
           "cs_factors": cs_factors, "cs_cp_plans": plans}  # fmt: skip
    return {name: _finish(df, name) for name, df in out.items()}


def _finish(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """The contract's columns and types, deduplicated and sorted by the key columns."""
    df = df.reset_index(drop=True)
    for col in COLUMNS[name]:
        if col in DATES:
            df[col] = pd.to_datetime(df[col]).astype("datetime64[ns]")
        elif col == "age_at_referral":
            df[col] = df[col].astype("Int64")
        else:
            df[col] = pd.Series([None if pd.isna(v) else str(v) for v in df[col]], dtype=object)
    df = df[COLUMNS[name]].drop_duplicates()
    keys = ["assessment_id", "factor"] if name == "cs_factors" else [COLUMNS[name][0]]
    return df.sort_values(keys, kind="stable").reset_index(drop=True)
