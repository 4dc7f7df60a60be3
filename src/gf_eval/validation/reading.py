"""Read a raw CSV extract as text, refusing files a schema cannot even look at.

Everything is read as strings; types are parsed column by column afterwards so that every bad
cell is reported, rather than pandas guessing a type or stopping at the first bad value.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


class ExtractError(ValueError):
    """The file cannot be read as a CSV extract; the message names the file and the problem."""


def read_csv_text(path: str | Path) -> pd.DataFrame:
    """The extract as a DataFrame of strings (missing cells are NA), or ExtractError."""
    path = Path(path)
    if not path.is_file():
        raise ExtractError(f"{path}: file not found")
    raw = path.read_bytes()
    if not raw.strip():
        raise ExtractError(f"{path}: file is empty (expected a header row and data rows)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ExtractError(
            f"{path}: not UTF-8 text: byte offset {err.start} (line {line}) is not valid UTF-8; "
            "save the extract as UTF-8 CSV"
        ) from None
    header = text.splitlines()[0]
    if "," not in header:
        found = [name for sep, name in DELIMITERS.items() if sep in header]
        hint = f" (the header is {found[0]}-separated)" if found else ""
        raise ExtractError(f"{path}: the header has no commas: expected comma-separated values{hint}")
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
        # pandas' message gives line numbers and field counts, never cell contents.
        raise ExtractError(f"{path}: malformed CSV: {err}".strip()) from None
    names = [name.strip() for name in next(csv.reader([header]))]
    if len(set(names)) != len(names):
        raise ExtractError(f"{path}: duplicate column names in the header")
    df.columns = df.columns.str.strip()
    if df.empty:
        raise ExtractError(f"{path}: header only: the file has no data rows")
    for col in df.columns:
        df[col] = df[col].str.strip().replace("", pd.NA)
    return df


def _check_row_lengths(path: Path, text: str) -> None:
    """Every row must have as many fields as the header (pandas would pad or shift them)."""
    try:
        rows = csv.reader(io.StringIO(text))
        width = len(next(rows))
        bad = [i for i, row in enumerate(rows, 1) if row and len(row) != width]
    except csv.Error as err:
        raise ExtractError(f"{path}: malformed CSV: {err}") from None
    if bad:
        first = ", ".join(map(str, bad[:5]))
        raise ExtractError(
            f"{path}: malformed CSV: {len(bad)} row{'s do' if len(bad) != 1 else ' does'} not have "
            f"the header's {width} fields (first rows: {first})"
        )
