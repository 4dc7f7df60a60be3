"""Read a raw CSV extract as text, refusing files a schema cannot even look at.

Everything is read as strings; types are parsed column by column afterwards so that every bad
cell is reported, rather than pandas guessing a type or stopping at the first bad value.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from gf_eval.files import NotUTF8, utf8_text
from gf_eval.validation.quoting import library_message

DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
BLANK = re.compile(rb"[ \t\n\r\x0b\x0c]*\Z")  # only what bytes.strip() removes, or nothing
# Every character str.splitlines() breaks lines at (\r\n is \r followed by \n).
LINE_BREAK = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# pandas' own string dtype, the one read_csv(dtype=str) gives (pyarrow-backed, NaN for missing).
TEXT = pd.StringDtype("pyarrow", na_value=float("nan"))


class ExtractError(ValueError):
    """The file cannot be read as a CSV extract; the message names the file and the problem."""


def read_csv_text(path: str | Path) -> pd.DataFrame:
    """The extract as a DataFrame of strings (missing cells are NA), or ExtractError."""
    path = Path(path)
    if not path.is_file():
        raise ExtractError(f"{path}: file not found")
    raw = path.read_bytes()
    # `not raw.strip()` without copying the file, a UTF-8 byte order mark alone included
    if BLANK.match(raw, len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0):
        raise ExtractError(f"{path}: file is empty (expected a header row and data rows)")
    try:
        text = utf8_text(raw)
    except NotUTF8 as err:
        raise ExtractError(
            f"{path}: not UTF-8 text: byte offset {err.offset} (line {err.line}) is not valid "
            "UTF-8; save the extract as UTF-8 CSV"
        ) from None
    header = _first_line(text)
    if "," not in header:
        found = [name for sep, name in DELIMITERS.items() if sep in header]
        hint = f" (the header is {found[0]}-separated)" if found else ""
        raise ExtractError(f"{path}: the header has no commas: expected comma-separated values{hint}")
    df = _read_plain(raw.removeprefix(codecs.BOM_UTF8), text, header)
    plain = df is not None
    if not plain:  # anything beyond plain comma-separated lines: the general, slower reader
        _check_row_lengths(path, text)
        try:
            df = pd.read_csv(
                io.StringIO(text),
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                index_col=False,
            )
        except (pd.errors.ParserError, csv.Error) as err:
            # pandas' message gives line numbers and field counts; any quoted part is withheld
            # all the same, in case a version of pandas quotes the cell.
            raise ExtractError(f"{path}: malformed CSV: {library_message(err)}".strip()) from None
    names = [name.strip() for name in next(csv.reader([header]))]
    if len(set(names)) != len(names):
        raise ExtractError(f"{path}: duplicate column names in the header")
    df.columns = df.columns.str.strip()
    if df.empty:
        raise ExtractError(f"{path}: header only: the file has no data rows")
    if not plain:  # _read_plain strips its cells itself
        for col in df.columns:
            df[col] = df[col].str.strip().replace("", pd.NA)
    return df


def _first_line(text: str) -> str:
    """text.splitlines()[0] without splitting the whole file."""
    found = LINE_BREAK.search(text)
    return text[: found.start()] if found else text.splitlines()[0]


def _read_plain(data: bytes, text: str, header: str) -> pd.DataFrame | None:
    """The common case, read by pyarrow; None if the file is not plain enough for that.

    Plain: no quotes, carriage returns or NUL bytes; a header that ends at the first \n and
    has distinct, non-empty names; every row as wide as the header; at least one data row; no
    field longer than the csv module allows. Such a file is split on \n and commas alone, so
    pyarrow, the csv module and pandas read the same strings from it. Anything else, and every
    malformed file, goes to the general reader, whose messages stay exactly as they were.
    pyarrow parses several times faster than pandas with dtype=str and needs no second pass
    with the csv module to check the row widths: it refuses a row of the wrong width itself.
    """
    if b'"' in data or b"\r" in data or b"\0" in data or "\ufeff" in header:
        return None
    if text.find("\n") != len(header):
        return None
    names = header.split(",")
    if "" in names or len(set(names)) != len(names):
        return None
    limit = csv.field_size_limit()
    if max(map(len, names)) > limit:
        return None
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pa_csv.ParseOptions(quote_char=False, ignore_empty_lines=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.large_string() for name in names},
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowException:  # a row of the wrong width, for one: the general reader says which
        return None
    if table.num_rows == 0:
        return None
    for column in table.columns:
        # UTF-8 bytes >= characters, so within the limit in bytes is within it in characters.
        if (pc.max(pc.binary_length(column)).as_py() or 0) > limit:
            return None
    return pd.DataFrame({name: _text(column) for name, column in zip(names, table.columns)})


def _text(column: pa.ChunkedArray) -> pd.Series:
    """The cells stripped, empty ones missing: .str.strip().replace("", pd.NA), in pyarrow."""
    trimmed = pc.utf8_trim_whitespace(column)  # what pandas' str.strip() calls for this dtype
    column = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, trimmed.type), trimmed)
    return pd.Series(pd.arrays.ArrowStringArray(column, dtype=TEXT))


def _check_row_lengths(path: Path, text: str) -> None:
    """Every row must have as many fields as the header (pandas would pad or shift them)."""
    try:
        rows = csv.reader(io.StringIO(text))
        width = len(next(rows))
        bad = [i for i, row in enumerate(rows, 1) if row and len(row) != width]
    except csv.Error as err:
        raise ExtractError(f"{path}: malformed CSV: {library_message(err)}") from None
    if bad:
        first = ", ".join(map(str, bad[:5]))
        raise ExtractError(
            f"{path}: malformed CSV: {len(bad)} row{'s do' if len(bad) != 1 else ' does'} not have "
            f"the header's {width} fields (first rows: {first})"
        )
