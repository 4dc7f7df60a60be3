"""The YAML mapping that says how one area's MARAC, casework or survey workbook reads as a
contract table (docs/data_dictionary.md, sections 2.1, 2.8 and 2.9).

No two areas lay these spreadsheets out alike, so a small mapping file names which column
means what and which label is which code. The format, by example::

    extract: marac_cases          # the contract table: marac_cases, casework or survey
    sheet: Cases                  # optional: the sheet's name (default: the first sheet)
    header_row: 1                 # optional: the spreadsheet row holding the headers (default 1)
    drop: [Victim postcode]       # the source's identifier columns known and dropped (a record)
    columns:                      # one rule for EVERY contract column, no more, no fewer
      case_id: {key: MARAC ref}                                   # a key, from one column
      victim_key: {key: [Victim forename, Victim surname, Victim DOB]}  # ... or several
      referral_date: {column: Date referred, format: "%d/%m/%Y"}  # a date
      dash_score: {column: DASH score}                            # a whole number
      referring_agency:                                           # a code, from labels
        column: Referring agency
        labels: {Police: police, IDVA: idva}
      victim_age_band: {age_band_from_birth_date: Victim DOB, at: referral_date}
      wave: {value: baseline}                                     # a constant
      comment: {column: Comments, keep: true}                     # free text (dropped unless kept)

Rules, one of four kinds (exactly one of `column`, `key`, `age_band_from_birth_date`, `value`):

- `column`: a source column read as the contract column's type. A date column takes an
  optional `format` (strptime, e.g. "%d/%m/%Y") for dates held as text; real spreadsheet dates
  need none, and a date with a time of day ("01/09/2016 10:32") is cut to the date. A coded
  column (a code list of section 3, Y/N included) needs `labels`: {label: code}, matched after
  stripping, collapsing inner spaces and ignoring case; a label may map to null (blank). A
  whole-number column may also have `labels` (Likert wording to 1..5, say). A text column is
  dropped (left blank) unless `keep: true`.
- `key` (key columns only): the identifying value, from one column or a list of columns
  joined by `gf_eval.returns.compose_columns` after normalising text (strip, collapse inner
  spaces, casefold); a real date is written YYYY-MM-DD. A part may be {column, format} to
  read a text date with that format first. `column` on a key column is a one-part key.
- `age_band_from_birth_date` (age-band columns only): the source's date-of-birth column
  (optional `format`), and `at`: the contract date column (of this mapping) the age is taken at.
- `value`: a constant for every row (a code of the column's list, a whole number, an ISO date,
  text, or null).

A mapping that breaks these rules is refused with a `ReturnError` naming the mapping file and
the key concerned.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gf_eval import codes
from gf_eval.returns import ReturnError

# The contract columns of the three tables a mapping may produce, in contract order, with their
# kind: ("key",), ("date",), ("number",), ("text",) or ("code", allowed codes). Kept here
# because gf_eval.returns may not import the validation stage; a test checks them against
# gf_eval.validation.schemas.
KEY, DATE, NUMBER, TEXT = ("key",), ("date",), ("number",), ("text",)


def _code(values) -> tuple[str, tuple[str, ...]]:
    return ("code", tuple(values))


YN = _code(codes.YES_NO)
CONTRACT: dict[str, dict[str, tuple]] = {
    "marac_cases": {
        "case_id": KEY,
        "victim_key": KEY,
        "perpetrator_key": KEY,
        "referral_date": DATE,
        "meeting_date": DATE,
        "referring_agency": _code(codes.MARAC_AGENCIES),
        "referral_route": _code(codes.MARAC_ROUTES),
        "dash_score": NUMBER,
        "children_in_household": NUMBER,
        "victim_sex": _code(codes.SEXES),
        "victim_age_band": _code(codes.AGE_BANDS),
        "victim_ethnic_group": _code(codes.ETHNIC_GROUPS),
        "victim_disabled": YN,
        "victim_lgbt": YN,
        "perpetrator_sex": _code(codes.SEXES),
        "coordinator_repeat": YN,
        "dan_involved": YN,
    },
    "casework": {
        "case_id": KEY,
        "family_id": KEY,
        "dan_id": KEY,
        "referral_date": DATE,
        "allocation_date": DATE,
        "closure_date": DATE,
        "referral_route": _code(codes.CASEWORK_ROUTES),
        "victim_engaged": YN,
        "perpetrator_engaged": YN,
        "children_engaged": YN,
        "n_children": NUMBER,
        "contacts": NUMBER,
        "closure_reason": _code(codes.CASEWORK_CLOSURES),
        **{f"{m}_{when}": NUMBER for m in codes.CASEWORK_MEASURES for when in ("alloc", "close")},
    },
    "survey": {
        "respondent_id": KEY,
        "wave": _code(codes.SURVEY_WAVES),
        "response_date": DATE,
        "agency": _code(codes.SURVEY_AGENCIES),
        "role": _code(codes.SURVEY_ROLES),
        **{item: NUMBER for item in codes.SURVEY_ITEMS},
        "comment": TEXT,
    },
}

RULE_KINDS = ("column", "key", "age_band_from_birth_date", "value")
OPTIONS = {"labels", "format", "keep", "at"}
TOP_LEVEL = {"extract", "sheet", "header_row", "columns", "drop", "description"}


def normalise(text: object) -> str:
    """Text as it is matched: stripped, inner whitespace collapsed, case ignored."""
    return " ".join(str(text).split()).casefold()


@dataclass(frozen=True)
class Source:
    """A source column (named as in the mapping) and, for a text date, its format."""

    column: str
    format: str | None = None


@dataclass(frozen=True)
class Rule:
    target: str  # the contract column
    contract: tuple  # its kind, as in CONTRACT
    kind: str  # one of RULE_KINDS
    sources: tuple[Source, ...] = ()  # column: one; key: one or more; age band: the birth date
    labels: dict[str, Any] | None = None  # normalised label -> code (or int, or None)
    format: str | None = None  # a date column's text format
    keep: bool = False  # a text column kept
    at: str | None = None  # age band: the contract date column
    value: Any = None  # a constant


@dataclass(frozen=True)
class Mapping:
    path: str  # the mapping file, for messages
    extract: str
    sheet: str | None
    header_row: int
    rules: dict[str, Rule]  # in contract order
    drop: tuple[str, ...] = field(default=())

    @property
    def source_columns(self) -> list[str]:
        """Every source column a rule reads, once each, in rule order."""
        seen: dict[str, None] = {}
        for rule in self.rules.values():
            for src in rule.sources:
                seen.setdefault(src.column, None)
        return list(seen)


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file; a `ReturnError` names the file and key of any fault."""
    path = Path(path)
    where = f"mapping {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReturnError(f"{where}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ReturnError(f"{where}: not UTF-8 text (byte offset {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ReturnError(f"{where}: bad YAML{at}: {problem}") from None
    return parse_mapping(data, str(path))


def parse_mapping(data: Any, path: str = "<mapping>") -> Mapping:
    """Check a mapping already loaded from YAML (a dict) and return it."""
    where = f"mapping {path}"

    def fail(key: str, problem: str) -> ReturnError:
        return ReturnError(f"{where}, key '{key}': {problem}")

    if not isinstance(data, dict):
        raise ReturnError(f"{where}: the mapping must be a YAML mapping of keys "
                          "(extract, columns, ...)")  # fmt: skip
    unknown = sorted(str(k) for k in data if k not in TOP_LEVEL)
    if unknown:
        raise fail(unknown[0], f"unknown key (allowed: {', '.join(sorted(TOP_LEVEL))})")
    extract = data.get("extract")
    if extract not in CONTRACT:
        raise fail("extract", f"must be one of {', '.join(CONTRACT)}")
    sheet = data.get("sheet")
    if sheet is not None and not isinstance(sheet, (str, int)):
        raise fail("sheet", "must be a sheet name")
    header_row = data.get("header_row", 1)
    if not isinstance(header_row, int) or isinstance(header_row, bool) or header_row < 1:
        raise fail("header_row", "must be a whole number of 1 or more (the spreadsheet row)")
    drop = data.get("drop", []) or []
    if not isinstance(drop, list) or not all(isinstance(d, str) and d.strip() for d in drop):
        raise fail("drop", "must be a list of column names")
    columns = data.get("columns")
    if not isinstance(columns, dict):
        raise fail("columns", "must map each contract column to a rule")
    contract = CONTRACT[extract]
    extra = [str(c) for c in columns if c not in contract]
    if extra:
        raise fail(f"columns.{extra[0]}", f"not a column of the {extract} contract")
    missing = [c for c in contract if c not in columns]
    if missing:
        raise fail(
            "columns", f"no rule for the contract column(s) {', '.join(missing)}: every "
            "column needs one (use `value: null` for a column the source does not hold)",
        )  # fmt: skip
    rules = {c: _rule(c, contract[c], columns[c], lambda k, p, c=c: fail(f"columns.{c}{k}", p))
             for c in contract}  # fmt: skip
    for name, rule in rules.items():
        if rule.kind == "age_band_from_birth_date":
            if rule.at not in contract or contract[rule.at] != DATE:
                raise fail(f"columns.{name}.at", f"must name a date column of {extract}")
            if rules[rule.at].kind == "age_band_from_birth_date":  # pragma: no cover
                raise fail(f"columns.{name}.at", "must name a date column")
    return Mapping(path, extract, None if sheet is None else str(sheet), header_row, rules,
                   tuple(drop))  # fmt: skip


def _name(value: Any, fail, key: str) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise fail(key, "must be a column name")
    return " ".join(str(value).split())


def _check_format(fmt: Any, fail, key: str) -> str:
    if not isinstance(fmt, str) or "%" not in fmt:
        raise fail(key, "must be a strptime date format such as \"%d/%m/%Y\"")
    try:
        _dt.datetime.strptime(_dt.date(2016, 9, 1).strftime(fmt), fmt)
    except ValueError:
        raise fail(key, "is not a usable date format") from None
    return fmt


def _rule(target: str, contract: tuple, spec: Any, fail) -> Rule:
    if isinstance(spec, str):  # shorthand: `column_name: Source column`
        spec = {"key" if contract == KEY else "column": spec}
    if not isinstance(spec, dict):
        raise fail("", f"a rule must be a mapping with one of {', '.join(RULE_KINDS)}")
    kinds = [k for k in RULE_KINDS if k in spec]
    unknown = [str(k) for k in spec if k not in RULE_KINDS and k not in OPTIONS]
    if unknown:
        raise fail(f".{unknown[0]}", f"unknown rule or option (rules: {', '.join(RULE_KINDS)}; "
                   f"options: {', '.join(sorted(OPTIONS))})")  # fmt: skip
    if len(kinds) != 1:
        raise fail("", f"needs exactly one of {', '.join(RULE_KINDS)}")
    kind = kinds[0]
    allowed = {
        "column": {"labels", "format", "keep"},
        "key": set(),
        "age_band_from_birth_date": {"at", "format"},
        "value": set(),
    }[kind]
    for option in OPTIONS & set(spec):
        if option not in allowed:
            raise fail(f".{option}", f"not an option of a `{kind}` rule")
    is_code = contract[0] == "code"
    allowed_codes = contract[1] if is_code else ()

    if kind == "value":
        return Rule(target, contract, kind, value=_constant(spec["value"], contract, fail))

    if kind == "key":
        if contract != KEY:
            raise fail(".key", "only a key column (case_id, victim_key, ...) takes a `key` rule")
        parts = spec["key"] if isinstance(spec["key"], list) else [spec["key"]]
        if not parts:
            raise fail(".key", "needs at least one column")
        sources = []
        for i, part in enumerate(parts):
            if isinstance(part, dict):
                bad = set(part) - {"column", "format"}
                if bad or "column" not in part:
                    raise fail(f".key[{i}]", "a key part is a column name or {column, format}")
                fmt = part.get("format")
                sources.append(Source(_name(part["column"], fail, f".key[{i}].column"),
                                      None if fmt is None else
                                      _check_format(fmt, fail, f".key[{i}].format")))  # fmt: skip
            else:
                sources.append(Source(_name(part, fail, f".key[{i}]")))
        return Rule(target, contract, kind, sources=tuple(sources))

    if kind == "age_band_from_birth_date":
        if contract != _code(codes.AGE_BANDS):
            raise fail(".age_band_from_birth_date", "only an age-band column takes this rule")
        if "at" not in spec:
            raise fail(".at", "missing: the contract date column the age is taken at")
        fmt = spec.get("format")
        return Rule(
            target, contract, kind,
            sources=(Source(_name(spec[kind], fail, f".{kind}"),
                            None if fmt is None else _check_format(fmt, fail, ".format")),),
            at=str(spec["at"]),
        )  # fmt: skip

    # kind == "column"
    source = Source(_name(spec["column"], fail, ".column"))
    if contract == KEY:
        if "labels" in spec or "format" in spec or "keep" in spec:
            raise fail(".column", "a key column takes no options")
        return Rule(target, contract, "key", sources=(source,))
    fmt = spec.get("format")
    if fmt is not None:
        if contract != DATE:
            raise fail(".format", "only a date column takes a format")
        fmt = _check_format(fmt, fail, ".format")
    if "keep" in spec:
        if contract != TEXT:
            raise fail(".keep", "only a free-text column takes `keep`")
        if not isinstance(spec["keep"], bool):
            raise fail(".keep", "must be true or false")
    labels = None
    if "labels" in spec:
        if not (is_code or contract == NUMBER):
            raise fail(".labels", "only a coded or whole-number column takes labels")
        labels = _labels(spec["labels"], allowed_codes if is_code else None, fail)
    elif is_code:
        raise fail(".labels", "missing: a coded column needs labels {label: code}")
    return Rule(target, contract, "column", sources=(source,), labels=labels, format=fmt,
                keep=bool(spec.get("keep", False)))  # fmt: skip


def _labels(spec: Any, allowed: tuple[str, ...] | None, fail) -> dict[str, Any]:
    if not isinstance(spec, dict) or not spec:
        raise fail(".labels", "must be a mapping {label: code}")
    out: dict[str, Any] = {}
    for label, code in spec.items():
        key = f".labels.{label}"
        if label is None or isinstance(label, bool) or not str(label).strip():
            raise fail(".labels", "a label may not be blank, true or false: quote labels such as "
                       "\"Yes\" and \"No\", which YAML reads unquoted as true/false")  # fmt: skip
        if isinstance(code, bool):
            raise fail(key, "maps to true/false: quote the code (\"Y\", \"N\")")
        if code is not None:
            if allowed is None:  # a whole-number column
                if not isinstance(code, int):
                    raise fail(key, "must map to a whole number")
            else:
                code = str(code)
                if code not in allowed:
                    raise fail(key, f"maps to a code not in the list ({', '.join(allowed)})")
        norm = normalise(label)
        if norm in out and out[norm] != code:
            raise fail(key, "the same label (ignoring case and spaces) maps to two codes")
        out[norm] = code
    return out


def _constant(value: Any, contract: tuple, fail) -> Any:
    if value is None:
        return None
    if contract[0] == "code":
        if isinstance(value, bool) or str(value) not in contract[1]:
            raise fail(".value", f"must be a code of the list ({', '.join(contract[1])}) or null")
        return str(value)
    if contract == NUMBER:
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail(".value", "must be a whole number or null")
        return value
    if contract == DATE:
        if isinstance(value, _dt.date):
            return _dt.datetime(value.year, value.month, value.day)
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                return _dt.datetime.strptime(value, "%Y-%m-%d")
            except ValueError:
                pass
        raise fail(".value", "must be a date YYYY-MM-DD or null")
    if contract == KEY:
        raise fail(".value", "a key column cannot be a constant")
    return str(value)
