"""MARAC, casework and survey workbooks (xlsx or CSV) read through a YAML mapping (`mapping`).

`read_mapped(paths, mapping)` reads one or more files laid out alike (one casework book per
navigator, say), applies the mapping's rules and returns {extract: table} with exactly the
contract's columns in contract order: dates datetime64, whole numbers Int64, codes, keys and
text as str or None in object columns. Key columns still hold the identifying value (the
normalised text of their source columns, joined); pseudonymisation comes later.

What is refused, each with a `ReturnError` that names the file, sheet and column and counts the
rows, never quoting a cell:

- a file that is not xlsx (a zip archive) or CSV (UTF-8, a byte-order mark allowed); an xlsx
  that is an OLE compound document, i.e. password-protected (encrypted);
- a mapping column missing from the header row (the column names are the mapping's text and
  are quoted; the header cells are not, as a misplaced header row may be data);
- merged cells touching the header row or the row under it;
- two header rows. The rule, checked in this order:
  (1) when mapped columns are missing from the header row, but are found by joining each cell
      of the header row with the cell above or below it (a group label such as "Victim" over
      "DOB", carried across the blank cells to its right as a merged label leaves them), the
      header spans two rows; when they are all found in one other row instead, that row is
      the header and `header_row` is wrong;
  (2) when the header is found, but the first row under it holds, in EVERY mapped date and
      whole-number column (number columns without labels, birth dates, date key parts), text
      that does not read as a date or number (or, with no such column, an unmapped label in
      every coded column), that row is a second header row.
- a label of a coded column that the mapping does not list (counted, with the number of
  distinct labels; the labels are not shown);
- a date or whole number that cannot be read.

Entirely blank rows are skipped. Row numbers are those the spreadsheet shows (the header is
row `header_row`; for a CSV, row n is the n-th record, which is line n unless a quoted value
spans lines).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd

from gf_eval.files import NotUTF8, utf8_text
from gf_eval.returns import ReturnError, compose_columns
from gf_eval.returns.ages import age_band, age_in_years
from gf_eval.returns.mapping import DATE, NUMBER, TEXT, Mapping, Rule, load_mapping, normalise

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
ZIP_MAGIC = b"PK\x03\x04"
XLSX_SUFFIXES = (".xlsx", ".xlsm")
FIRST_ROWS = 5  # row numbers shown in a message
_WHOLE = re.compile(r"[+-]?\d{1,15}(\.0*)?")
_TIME = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(\s*[ap]\.?m\.?)?", re.IGNORECASE)
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def read_mapped(paths: str | Path | Iterable[str | Path],
                mapping: str | Path | Mapping) -> dict[str, pd.DataFrame]:  # fmt: skip
    """{extract: table} from the files `paths` (xlsx or CSV, all laid out as `mapping` says),
    their rows in file order. `mapping` is a mapping file or a loaded `Mapping`."""
    m = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise ReturnError(f"no files given to read with mapping {m.path}")
    frames = [_read_file(Path(p), m) for p in paths]
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return {m.extract: _typed(out, m)}


# --- reading a file into rows of cells --------------------------------------------------------


class _Grid:
    """The cells of one sheet (or CSV), rows from spreadsheet row 1, and where they came from."""

    def __init__(self, where: str, rows: list[list], merged: list[tuple[int, int, int, int]]):
        self.where = where  # "file F, sheet S" for messages
        self.rows = rows
        self.merged = merged  # (min_row, min_col, max_row, max_col), 1-based


def _load(path: Path, m: Mapping) -> _Grid:
    if not path.is_file():
        raise ReturnError(f"file {path}: not found")
    suffix = path.suffix.lower()
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(OLE_MAGIC):
        if suffix in XLSX_SUFFIXES:
            raise ReturnError(
                f"file {path}: password-protected (encrypted) workbook: save an unprotected "
                "copy inside the authority"
            )
        raise ReturnError(f"file {path}: neither xlsx nor CSV (an old-style .xls or other OLE "
                          "file): save it as .xlsx or CSV UTF-8")  # fmt: skip
    if suffix in XLSX_SUFFIXES:
        if not head.startswith(ZIP_MAGIC):
            raise ReturnError(f"file {path}: not an xlsx workbook (not a zip archive)")
        return _load_xlsx(path, m)
    if suffix == ".csv":
        if head.startswith(ZIP_MAGIC):
            raise ReturnError(f"file {path}: named .csv but is a zip archive (an xlsx?)")
        return _load_csv(path)
    raise ReturnError(f"file {path}: neither xlsx nor CSV (the name must end .xlsx or .csv)")


def _load_xlsx(path: Path, m: Mapping) -> _Grid:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ReturnError(f"file {path}: cannot be read as an xlsx workbook "
                          f"({type(exc).__name__})") from None  # fmt: skip
    try:
        if m.sheet is None:
            ws, where = wb.worksheets[0], f"file {path}, first sheet"
        elif m.sheet in wb.sheetnames:
            ws, where = wb[m.sheet], f"file {path}, sheet '{m.sheet}'"
        else:
            raise ReturnError(f"file {path}: no sheet named '{m.sheet}' (the mapping's `sheet`; "
                              f"the workbook has {len(wb.sheetnames)} sheets)")  # fmt: skip
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        merged = _merged_ranges(ws)
    finally:
        wb.close()
    return _Grid(where, rows, merged)


def _merged_ranges(ws) -> list[tuple[int, int, int, int]]:
    """The sheet's merged ranges: `ws.merged_cells` where openpyxl keeps them; a read-only sheet
    does not, so its <mergeCell> elements are read from the sheet's XML instead."""
    from openpyxl.utils.cell import range_boundaries

    if hasattr(ws, "merged_cells"):
        refs = [str(r) for r in ws.merged_cells.ranges]
    else:
        refs = []
        with ws._get_source() as src:  # the sheet part of the archive
            for _event, elem in ElementTree.iterparse(src):
                if elem.tag == f"{_MAIN_NS}mergeCell" and elem.get("ref"):
                    refs.append(elem.get("ref"))
                elif elem.tag == f"{_MAIN_NS}row":
                    elem.clear()
    out = []
    for ref in refs:
        min_col, min_row, max_col, max_row = range_boundaries(ref)
        out.append((min_row, min_col, max_row, max_col))
    return out


def _load_csv(path: Path) -> _Grid:
    data = path.read_bytes()
    try:
        text = utf8_text(data)
    except NotUTF8 as exc:
        raise ReturnError(f"file {path}: {exc}: save it as CSV UTF-8") from None
    try:
        rows = [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise ReturnError(f"file {path}: malformed CSV ({type(exc).__name__})") from None
    return _Grid(f"file {path}", rows, [])


# --- one file ---------------------------------------------------------------------------------


def _cell(value):
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _read_file(path: Path, m: Mapping) -> pd.DataFrame:
    grid = _load(path, m)
    rows = [[_cell(v) for v in row] for row in grid.rows]
    h = m.header_row - 1
    if len(rows) <= h or all(v is None for v in rows[h]):
        raise ReturnError(f"{grid.where}: no header on row {m.header_row} (the mapping's "
                          "header_row)")  # fmt: skip
    _check_merged(grid, m)
    index = _header_index(grid, rows, m)
    first = h + 2  # spreadsheet row number of the first data row
    body = [(first + i, row) for i, row in enumerate(rows[h + 1 :])
            if any(v is not None for v in row)]  # fmt: skip
    numbers = [n for n, _ in body]
    columns = {name: [row[i] if i < len(row) else None for _, row in body]
               for name, i in index.items()}  # fmt: skip
    if body and body[0][0] == first:
        _check_second_header(grid, m, {c: v[0] for c, v in columns.items()}, first)
    problems: list[str] = []
    out: dict[str, object] = {}
    for target, rule in m.rules.items():
        if rule.kind != "age_band_from_birth_date":
            out[target] = _apply(rule, columns, numbers, grid.where, problems, len(body))
    for target, rule in m.rules.items():
        if rule.kind == "age_band_from_birth_date":
            src = rule.sources[0]
            label = _label(grid.where, src.column, target)
            births = _dates(columns[src.column], src.format, numbers, label, problems,
                            "date of birth")  # fmt: skip
            births = pd.Series(births, dtype="datetime64[ns]")
            at = pd.Series(out[rule.at], dtype="datetime64[ns]")
            out[target] = list(age_band(age_in_years(births, at)))
    if problems:
        raise ReturnError("\n".join(problems))
    frame = pd.DataFrame({t: pd.Series(out[t], dtype=object) for t in m.rules},
                         index=range(len(body)))  # fmt: skip
    return _typed(frame, m)


def _label(where: str, column: str, target: str) -> str:
    return f"{where}, column '{column}' ({target})"


def _rows(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:FIRST_ROWS])
    return f"row {shown}" if len(numbers) == 1 else f"first rows {shown}"


def _check_merged(grid: _Grid, m: Mapping) -> None:
    top, bottom = m.header_row, m.header_row + 1
    hits = [r for r in grid.merged if r[0] <= bottom and r[2] >= top]
    if hits:
        from openpyxl.utils.cell import get_column_letter

        refs = ", ".join(f"{get_column_letter(c0)}{r0}:{get_column_letter(c1)}{r1}"
                         for r0, c0, r1, c1 in hits[:FIRST_ROWS])  # fmt: skip
        raise ReturnError(
            f"{grid.where}: merged cells in the header area (row {top} and the row under it): "
            f"{len(hits)} merged range(s), {refs}: unmerge them and give every column its own "
            "header in one row"
        )


def _names(row: list) -> list[str | None]:
    return [None if v is None else normalise(v) for v in row]


def _header_index(grid: _Grid, rows: list[list], m: Mapping) -> dict[str, int]:
    h = m.header_row - 1
    header = _names(rows[h])
    wanted = m.source_columns
    index: dict[str, int] = {}
    twice = []
    for name in wanted:
        hits = [i for i, v in enumerate(header) if v == normalise(name)]
        if len(hits) > 1:
            twice.append(name)
        elif hits:
            index[name] = hits[0]
    if twice:
        raise ReturnError(f"{grid.where}: the column(s) {_quoted(twice)} named by the mapping "
                          f"appear more than once in the header (row {m.header_row})")  # fmt: skip
    missing = [n for n in wanted if n not in index]
    if missing:
        _diagnose_header(grid, rows, m, missing)
        raise ReturnError(
            f"{grid.where}: the column(s) {_quoted(missing)} named by the mapping "
            f"{m.path} are not in the header (row {m.header_row})"
        )
    return index


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _filled(row: list) -> list:
    """A header row with each label carried right across the blank cells after it."""
    out, last = [], None
    for v in row:
        last = v if v is not None else last
        out.append(last)
    return out


def _diagnose_header(grid: _Grid, rows: list[list], m: Mapping, missing: list[str]) -> None:
    """Rule (1) of the module docstring: raise if the header spans two rows or is elsewhere."""
    h = m.header_row - 1
    want = {normalise(n): n for n in missing}
    pairs = [(h - 1, h), (h, h + 1)]
    for top, bottom in pairs:
        if top < 0 or bottom >= len(rows):
            continue
        upper, lower = _filled(rows[top]), rows[bottom]
        joined = set()
        for i in range(max(len(upper), len(lower))):
            a = upper[i] if i < len(upper) else None
            b = lower[i] if i < len(lower) else None
            if a is not None and b is not None:
                joined.add(normalise(f"{a} {b}"))
        found = [want[n] for n in want if n in joined]
        if found:
            raise ReturnError(
                f"{grid.where}: two header rows: the mapped column(s) {_quoted(found)} are "
                f"found only by joining rows {top + 1} and {bottom + 1}; make the header one "
                "row, each column with its full name"
            )
    for r in range(min(len(rows), m.header_row + 10)):
        if r != h and set(want) <= set(_names(rows[r])):
            raise ReturnError(
                f"{grid.where}: the mapped columns are on row {r + 1}, not on row "
                f"{m.header_row}: set `header_row: {r + 1}` in the mapping {m.path}"
            )


def _typed_sources(m: Mapping) -> list[tuple[str, str, str | None]]:
    """(source column, 'date' or 'number', format) of the date and whole-number cells."""
    out = []
    for rule in m.rules.values():
        if rule.kind == "column" and rule.contract == DATE:
            out.append((rule.sources[0].column, "date", rule.format))
        elif rule.kind == "column" and rule.contract == NUMBER and rule.labels is None:
            out.append((rule.sources[0].column, "number", None))
        elif rule.kind == "age_band_from_birth_date":
            out.append((rule.sources[0].column, "date", rule.sources[0].format))
        elif rule.kind == "key":
            out += [(s.column, "date", s.format) for s in rule.sources if s.format]
    return list(dict.fromkeys(out))


def _check_second_header(grid: _Grid, m: Mapping, first: dict, row: int) -> None:
    """Rule (2) of the module docstring, on the first row under the header."""
    typed = _typed_sources(m)
    if typed:
        def textual(col, kind, fmt):
            v = first[col]
            if not isinstance(v, str):
                return False
            return (_read_date(v, fmt) if kind == "date" else _read_whole(v)) is _BAD

        hit = all(textual(*t) for t in typed)
        what = "date and whole-number"
        cols = [t[0] for t in typed]
    else:
        coded = [r for r in m.rules.values() if r.kind == "column" and r.labels is not None]
        cols = [r.sources[0].column for r in coded]
        hit = bool(coded) and all(
            isinstance(first[r.sources[0].column], str)
            and normalise(first[r.sources[0].column]) not in r.labels for r in coded
        )
        what = "coded"
    if hit:
        raise ReturnError(
            f"{grid.where}: two header rows: row {row}, under the header, holds text that is "
            f"not data in every mapped {what} column ({_quoted(cols)}): it looks like a second "
            "header row; make the header one row"
        )


# --- cell conversion --------------------------------------------------------------------------

_BAD = object()


def _read_date(v, fmt: str | None):
    """A datetime at midnight, None for a blank, or _BAD."""
    if v is None:
        return None
    if isinstance(v, _dt.datetime):
        return _dt.datetime(v.year, v.month, v.day)
    if isinstance(v, _dt.date):
        return _dt.datetime(v.year, v.month, v.day)
    if not isinstance(v, str):
        return _BAD  # a number: an Excel serial day or a typo; not guessed at
    for f in (fmt,) if fmt else ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            d = _dt.datetime.strptime(v, f)
            return _dt.datetime(d.year, d.month, d.day)
        except ValueError:
            pass
    if fmt:  # a date-time: the date, then a time of day
        head, _, tail = v.partition(" ") if "T" not in v[:11] else v.partition("T")
        if tail and _TIME.fullmatch(tail.strip()):
            try:
                d = _dt.datetime.strptime(head, fmt)
                return _dt.datetime(d.year, d.month, d.day)
            except ValueError:
                pass
    return _BAD


def _read_whole(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return _BAD
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() and abs(v) < 1e15 else _BAD
    if isinstance(v, str) and _WHOLE.fullmatch(v):
        return int(float(v)) if "." in v else int(v)
    return _BAD


def _as_text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, _dt.datetime):
        return v.strftime("%Y-%m-%d") if v.time() == _dt.time() else v.isoformat(" ")
    if isinstance(v, _dt.date):
        return v.strftime("%Y-%m-%d")
    return str(v)


def _dates(values, fmt, numbers, label, problems, what="date") -> list:
    out = [_read_date(v, fmt) for v in values]
    bad = [n for n, v in zip(numbers, out) if v is _BAD]
    if bad:
        how = f"in the format {fmt}" if fmt else "as a date cell or text YYYY-MM-DD"
        problems.append(f"{label}: {len(bad)} row(s) hold a {what} not readable {how} "
                        f"({_rows(bad)})")  # fmt: skip
    return [None if v is _BAD else v for v in out]


def _apply(rule: Rule, columns: dict, numbers: list[int], where: str, problems: list[str],
           n: int) -> list:  # fmt: skip
    if rule.kind == "value":
        return [rule.value] * n
    if rule.kind == "key":
        return _key(rule, columns, numbers, where, problems)
    col = rule.sources[0].column
    values = columns[col]
    label = _label(where, col, rule.target)
    if rule.contract == DATE:
        return _dates(values, rule.format, numbers, label, problems)
    if rule.contract == TEXT:
        return [None if v is None else _as_text(v) for v in values] if rule.keep else [None] * n
    if rule.labels is None:  # a whole number
        out = [_read_whole(v) for v in values]
        bad = [num for num, v in zip(numbers, out) if v is _BAD]
        if bad:
            problems.append(f"{label}: {len(bad)} row(s) hold a value that is not a whole "
                            f"number ({_rows(bad)})")  # fmt: skip
        return [None if v is _BAD else v for v in out]
    out, bad, distinct = [], [], set()
    for num, v in zip(numbers, values):
        if v is None:
            out.append(None)
            continue
        key = normalise(_as_text(v))
        if key in rule.labels:
            out.append(rule.labels[key])
        elif rule.contract == NUMBER and _read_whole(v) is not _BAD:
            out.append(_read_whole(v))
        else:
            out.append(None)
            bad.append(num)
            distinct.add(key)
    if bad:
        problems.append(f"{label}: {len(bad)} row(s) hold a label the mapping does not list "
                        f"({len(distinct)} distinct unmapped label(s); {_rows(bad)}): add them "
                        f"to `labels` of {rule.target}")  # fmt: skip
    return out


def _key(rule: Rule, columns: dict, numbers: list[int], where: str, problems: list[str]) -> list:
    parts = {}
    for i, src in enumerate(rule.sources):
        values = columns[src.column]
        if src.format:
            values = _dates(values, src.format, numbers, _label(where, src.column, rule.target),
                            problems)  # fmt: skip
        parts[f"p{i}"] = [None if v is None else normalise(_as_text(v)) for v in values]
    frame = pd.DataFrame(parts, dtype=object, index=range(len(numbers)))
    blank = frame.isna().all(axis=1)
    composed = compose_columns(frame.fillna(""), list(frame.columns))
    return [None if b else k for b, k in zip(blank, composed)]


def _typed(frame: pd.DataFrame, m: Mapping) -> pd.DataFrame:
    out = {}
    for target, rule in m.rules.items():
        s = frame[target]
        if rule.contract == DATE:
            out[target] = pd.to_datetime(pd.Series(s, dtype=object)).astype("datetime64[ns]")
        elif rule.contract == NUMBER:
            out[target] = pd.array([None if pd.isna(v) else int(v) for v in s], dtype="Int64")
        else:
            out[target] = pd.Series([None if v is None or (not isinstance(v, str) and pd.isna(v))
                                     else str(v) for v in s], dtype=object)  # fmt: skip
    return pd.DataFrame(out, index=range(len(frame)))[list(m.rules)]

