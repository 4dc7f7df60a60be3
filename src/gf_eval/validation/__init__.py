"""Validate a raw extract: read, refuse identifiers, parse types, check schema and relations.

`validate_extract` returns the typed table (or None) and a report; `run` adds the file side:
the JSON report always, the typed parquet only when the extract is valid, and a
ValidationFailed error whose message names the file, columns, checks, row counts and the first
failing rows. No message or report ever shows the values of keys, dates or free text; a failing
code or number is quoted only when `quoting.judge` finds it provably harmless, and otherwise
counted as withheld (an identifier in the wrong column is never repeated). If validation itself
breaks, the ValidationError names the step and the exception's type but not its text, which
pandas and pyarrow fill with the cell they failed on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_lib
import pyarrow.parquet as pq

from gf_eval.config import Calendar
from gf_eval.extracts import EXTRACTS, KEY_NAMES
from gf_eval.files import atomic_path, sha256, write_text
from gf_eval.frames import sort_rows
from gf_eval.validation.identifiers import find_identifiers
from gf_eval.validation.quoting import NOT_SHOWN, describe_withheld, disclose, domain_of
from gf_eval.validation.quoting import header_domain, judge
from gf_eval.validation.reading import ExtractError, read_csv_text
from gf_eval.validation import relations
from gf_eval.validation.relations import RELATIONS, parent_columns
from gf_eval.validation.schemas import SCHEMAS

FIRST_ROWS = 5
EXAMPLES = 3


class ValidationFailed(Exception):
    """An extract failed validation; str() is the full, value-free explanation."""


class ValidationError(ValueError):
    """Validation itself could not finish (a bug, or a pandas or pyarrow error); the message
    names the file, the step and the exception's type, never the exception's own text."""


@contextmanager
def _step(what: str) -> Iterator[None]:
    """Turn any error of `what` into a ValidationError that does not repeat its message."""
    try:
        yield
    except ValidationError:
        raise
    except Exception as err:
        raise ValidationError(
            f"{what} raised {type(err).__name__} (its message is not shown, as it may quote a "
            "cell of the file; run gf_eval.validation.validate_extract in Python to see it)"
        ) from None


@dataclass
class Failure:
    column: str
    check: str
    rows: int  # failing data rows; 0 for a rule about the file or a column as a whole
    first_rows: list[int] = field(default_factory=list)  # 1 = the first row after the header
    examples: list[str] = field(default_factory=list)  # values quoting.judge lets through
    withheld: dict[str, int] = field(default_factory=dict)  # {why: failing rows not quoted}

    def describe(self) -> str:
        where = "file"
        if self.column:
            where = f"{'columns' if ', ' in self.column else 'column'} {self.column}"
        text = f"  {where}: {self.check}"
        if self.rows:
            text += f": {self.rows} row{'s fail' if self.rows != 1 else ' fails'}"
            text += f" (first rows: {', '.join(map(str, self.first_rows))})"
        if self.examples:
            text += f"; values: {', '.join(self.examples)}"
        if self.withheld:
            text += f"; values withheld: {describe_withheld(self.withheld)}"
        return text


def validate_extract(
    name: str,
    path: str | Path,
    parents: dict[str, pd.DataFrame] | None = None,
    calendar: Calendar | None = None,
) -> tuple[pd.DataFrame | None, dict]:
    """Validate one extract file against its schema; return (typed table or None, report)."""
    path = Path(path)
    model = SCHEMAS[name]
    report: dict = {"extract": name, "file": str(path), "sha256": None, "rows": None}
    failures: list[Failure] = []
    typed = None
    try:
        report["sha256"] = sha256(path) if path.is_file() else None
        raw = read_csv_text(path)
    except ExtractError as err:
        failures.append(Failure("", str(err).removeprefix(f"{path}: "), 0))
        raw = None
    if raw is not None:
        report["rows"] = len(raw)
        expected = list(model.to_schema().columns)
        labels = _header_labels(list(raw.columns), expected)
        report["columns"] = [labels[c] for c in raw.columns]
        if not set(expected) & set(raw.columns):
            failures.append(Failure("", "the header has none of the expected column names: "
                                        "is the header row missing?", 0))  # fmt: skip
        with _step(f"{path}: looking for direct identifiers"):
            identifiers = find_identifiers(raw)
        if identifiers:
            report["refused"] = "the extract is not anonymised: it carries direct identifiers"
            failures += [
                Failure(labels[col], f"direct identifier refused: {why}", 0)
                for col, why in identifiers.items()
            ]
        else:
            parents = parents or {}
            absent = [p for p in EXTRACTS[name].parents if p not in parents]
            if absent:
                raise ValueError(f"{name}: validating it needs the parent tables {absent}")
            try:
                typed, checked = _check(model, raw, parents, calendar, name, labels)
            except ValidationError as err:
                raise ValidationError(f"{path}: validation could not finish: {err}") from None
            failures = sorted(failures + checked, key=lambda f: (f.column, f.check))
    report["valid"] = not failures
    report["n_failures"] = len(failures)
    report["failures"] = [asdict(f) for f in failures]
    counts: dict[str, dict[str, int]] = {}
    for f in failures:
        counts.setdefault(f.column or "(file)", {})[f.check] = f.rows
    report["failure_counts"] = counts
    return (typed if not failures else None), report


def _header_labels(columns: list[str], expected: list[str]) -> dict[str, str]:
    """{name in the header: how messages and the report name it}: the name itself when
    quoting.judge lets it through, else its position ("#5 (header withheld)")."""
    domain = header_domain(expected, columns)
    labels = {}
    for i, name in enumerate(columns, 1):
        why = judge(name, domain)
        if why is None:
            labels[name] = name
        else:
            like = "" if why == NOT_SHOWN else f": looks like an identifier ({why})"
            labels[name] = f"#{i} (header withheld{like})"
    return labels


def _check(model, raw, parents, calendar, name, labels) -> tuple[pd.DataFrame, list[Failure]]:
    schema = model.to_schema()
    typed, failures, bad_cells = _parse_types(schema, raw)
    with _step("the schema checks"):
        try:
            schema.validate(typed, lazy=True)
        except pa.errors.SchemaErrors as err:
            failures += _from_pandera(err.failure_cases, schema, bad_cells, labels)
    missing = {f.column for f in failures if f.check == "column missing"}
    if calendar is not None:
        with _step("the extract period check"):
            failures += _date_range(typed, calendar)
    try:
        for relation in RELATIONS.get(name, []):
            if missing.intersection(relation.needs):  # already reported as a missing column
                continue
            with _step(f"the rule {relation.check!r}"):
                ok = relation.rule(typed, parents)
            columns = ", ".join(relation.columns)
            failures += _rows_failure(columns, relation.check, ~ok, typed, None)
    finally:
        relations.forget()
    return typed, sorted(failures, key=lambda f: (f.column, f.check))


def _parse_types(schema, raw: pd.DataFrame):
    """Parse each schema column from text to its type; unparseable cells become failures."""
    typed = raw.copy()
    failures, bad_cells = [], set()
    for col, column in schema.columns.items():
        if col not in raw:
            continue
        text = raw[col]
        dtype = str(column.dtype)
        if not (dtype.startswith("datetime64") or dtype == "Int64"):
            continue
        # Dates and numbers repeat a lot: each distinct text is checked and parsed once, and
        # the results are spread back to the rows by their codes (-1 for a missing cell).
        with _step(f"parsing column {col} as {dtype}"):
            codes, distinct = text.factorize()
            try:
                parsed, bad_distinct, rule = _parse(pd.Series(distinct, dtype=text.dtype), dtype)
            except Exception:
                _parse(text, dtype)  # pandas' own error for the column (_step hides its text)
                raise
        typed[col] = pd.Series(parsed.array.take(codes, allow_fill=True), index=text.index)
        # A trailing False answers code -1: a missing cell is never a type failure.
        bad = pd.Series(np.append(bad_distinct, False)[codes], index=text.index)
        if bad.any():
            failures += _rows_failure(col, rule, bad, raw, domain_of(column))
            bad_cells.update((col, i) for i in raw.index[bad])
    return typed, failures, bad_cells


def _parse(text: pd.Series, dtype: str) -> tuple[pd.Series, np.ndarray, str]:
    """(parsed values, True where a present text does not parse, the rule's name)."""
    if dtype.startswith("datetime64"):
        # ASCII digits only ("\d" also matches other scripts' digits, which pandas rejects).
        shaped = text.str.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fillna(False).astype(bool)
        parsed = pd.to_datetime(text.where(shaped), format="%Y-%m-%d", errors="coerce")
        # A year outside what nanosecond timestamps hold (1677-2262) is a bad date, not a crash.
        inside = (parsed >= pd.Timestamp.min.ceil("D")) & (parsed <= pd.Timestamp.max.floor("D"))
        parsed = parsed.where(inside).astype(dtype)
        return parsed, (text.notna() & parsed.isna()).to_numpy(), "type: date as YYYY-MM-DD"
    # Plain digits only, short enough to be exact: no 1.0, 1e3, inf or 20-digit values.
    whole = text.str.fullmatch(r"-?[0-9]{1,15}").fillna(False).astype(bool)
    parsed = pd.to_numeric(text.where(whole)).astype("Float64").astype("Int64")
    return parsed, (text.notna() & ~whole).to_numpy(), "type: whole number"


def _rows_failure(column, check, bad: pd.Series, values: pd.DataFrame, domain) -> list[Failure]:
    """The failure of the rows where `bad`; their values of `column` go through
    quoting.disclose (a domain of None, for keys, dates and rules, quotes nothing)."""
    if not bad.any():
        return []
    rows = [int(i) + 1 for i in values.index[bad.to_numpy()][:FIRST_ROWS]]
    examples, withheld = [], {}
    if domain is not None:
        examples, withheld = disclose(values.loc[bad.to_numpy(), column], domain, EXAMPLES)
    return [Failure(column, check, int(bad.sum()), rows, examples, withheld)]


def _from_pandera(cases: pd.DataFrame, schema, bad_cells: set, labels: dict) -> list[Failure]:
    failures = []
    whole = cases[cases["index"].isna()]
    for _, case in whole.iterrows():
        check = str(case["check"])
        if check == "column_in_dataframe":
            failures.append(Failure(str(case["failure_case"]), "column missing", 0))
        elif check == "column_in_schema":  # a name from the header: maybe a data row's cell
            column = labels.get(case["failure_case"], "(header withheld)")
            failures.append(Failure(column, "unexpected column", 0))
        elif check.startswith("dtype("):
            failures.append(Failure(str(case["column"]), f"wrong type: expected {check}", 0))
        # other whole-column cases are checks that could not run because a column is missing
    rows = cases[cases["index"].notna()].copy()
    rows["index"] = rows["index"].astype(int)
    frame_level = rows["schema_context"] == "DataFrameSchema"
    for check, group in rows[frame_level].groupby("check", sort=True):
        if check == "multiple_fields_uniqueness":
            columns, check = list(group["column"].unique()), "duplicate key"
        else:
            columns = [c for c in schema.columns if re.search(rf"\b{c}\b", str(check))]
        failures.append(_grouped(", ".join(columns), str(check), group, None))
    for (col, check), group in rows[~frame_level].groupby(["column", "check"], sort=True):
        group = group[[(col, i) not in bad_cells for i in group["index"]]]
        if group.empty:
            continue
        domain = domain_of(schema.columns[col])
        failures.append(_grouped(str(col), _plain(str(check)), group, domain))
    return failures


def _grouped(column: str, check: str, group: pd.DataFrame, domain) -> Failure:
    """One failure from pandera's failure cases of one check; the failing values (pandera's
    failure_case, one per failing row) go through quoting.disclose."""
    index = sorted(set(group["index"]))
    examples, withheld = [], {}
    if domain is not None:
        values = group.drop_duplicates("index")["failure_case"]
        examples, withheld = disclose(values, domain, EXAMPLES)
    rows = [i + 1 for i in index[:FIRST_ROWS]]
    return Failure(column, check, len(index), rows, examples, withheld)


def _plain(check: str) -> str:
    """Pandera's check names in words a data manager would use."""
    if check.startswith("isin("):
        return "value not in the code list"
    if check == "field_uniqueness":
        return "duplicate key"
    if check == "not_nullable":
        return "missing value"
    if check.startswith("str_matches("):
        return f"key format {check.removeprefix('str_matches(').removesuffix(')')}"
    bounds = re.match(r"(greater|less)_than_or_equal_to\((.*)\)", check)
    if bounds:
        return f"out of range: {'below' if bounds[1] == 'greater' else 'above'} {bounds[2]}"
    return check


def _date_range(typed: pd.DataFrame, calendar: Calendar) -> list[Failure]:
    failures = []
    first, last = calendar.history_start, calendar.data_end
    for col in typed.columns:
        if str(typed[col].dtype).startswith("datetime64"):
            bad = typed[col].notna() & ((typed[col] < first) | (typed[col] > last))
            check = f"date outside the extract period {first:%Y-%m-%d} to {last:%Y-%m-%d}"
            failures += _rows_failure(col, check, bad, typed, None)
    return failures


def to_interim(model, typed: pd.DataFrame) -> pd.DataFrame:
    """The typed table for data/interim: Y/N flags as booleans, columns in schema order, rows
    sorted by their contents and then their keys. Not in the file's order, nor by key alone: the
    same records from another source (the returns route, another key) must give the same
    analysis, and a pseudonym carries no order."""
    schema = model.to_schema()
    keys = [c for c in schema.columns if c in KEY_NAMES]
    order = [c for c in schema.columns if c not in keys] + keys
    out = sort_rows(typed[list(schema.columns)], order).reset_index(drop=True)
    for col, column in schema.columns.items():
        if column.metadata and column.metadata.get("flag"):
            out[col] = out[col].map({"Y": True, "N": False}).astype("boolean")
        elif str(column.dtype).startswith("string") or str(column.dtype) == "str":
            out[col] = out[col].astype("string")
    return out


def _read_parent(path: str | Path, columns: list[str] | None) -> pd.DataFrame:
    """A validated parent table: only the columns the relations read, when they are known and
    present (the rest are never looked at), else the whole table as before."""
    if columns is not None and Path(path).is_file():
        try:
            names = pq.read_schema(path).names
        except (OSError, pa_lib.ArrowException):
            names = []
        if set(columns) <= set(names):
            return pd.read_parquet(path, columns=[c for c in names if c in columns])
    return pd.read_parquet(path)


def run(
    name: str,
    raw: str | Path,
    out: str | Path,
    report_path: str | Path,
    parents: dict[str, str | Path] | None = None,
    calendar: Calendar | None = None,
) -> dict:
    """Validate, write the report, and write the parquet only if valid; raise if not."""
    out = Path(out)
    out.unlink(missing_ok=True)  # never leave an earlier run's table looking valid
    needed = parent_columns(name)
    parent_frames = {k: _read_parent(v, (needed or {}).get(k)) for k, v in (parents or {}).items()}
    typed, report = validate_extract(name, raw, parent_frames, calendar)
    if typed is not None:
        with _step(f"{raw}: writing the typed table"), atomic_path(out) as tmp:
            to_interim(SCHEMAS[name], typed).to_parquet(tmp, index=False)
    write_text(report_path, json.dumps(report, indent=2, sort_keys=True) + "\n")
    if typed is None:
        head = f"{raw}: {report.get('refused') or 'validation failed'}"
        lines = [Failure(**f).describe() for f in report["failures"]]
        raise ValidationFailed(
            f"{head} ({report['n_failures']} problem{'s' if report['n_failures'] != 1 else ''}):\n"
            + "\n".join(lines)
            + f"\nNo typed table was written. Report: {report_path}"
        )
    return report
