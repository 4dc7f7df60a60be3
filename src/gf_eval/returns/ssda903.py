"""Import of the SSDA903 return (children looked after) into `cs_looked_after`.

The SSDA903 return is a set of CSV tables per collection year (the year ending 31 March):
header (one row per child), episodes (one row per episode of care), and others (reviews,
missing, adoption, outcomes...). Column names and code lists follow the DfE's specification,
as transcribed in Social Finance's liia-tools (MIT licence,
https://github.com/SocialFinanceDigitalLabs/liia-tools, `liiatools/spec/s903/`, schemas 2017
to 2024). Dates are DD/MM/YYYY.

Only the episodes table is used. Each episode starts with a reason for new episode (RNE):
`S` started to be looked after; `L`, `P`, `T`, `B` and `U` are changes of legal status and/or
placement inside a period of care already started. So a start of a period of being looked after
is an episode with RNE `S`, and `became_looked_after` is its DECOM (date episode commenced).
An episode still open at 31 March is reported again in the next year's file, so the same
episode is counted once: episodes are matched on CHILD and DECOM across every file given.

Files are recognised by their header line, never by their name. A file whose columns are
those of the episodes table is read; a file recognised as another 903 table (header, UASC,
reviews, ...) is checked to be UTF-8 CSV and then ignored: none of its rows is used, so its dates
of birth and UPNs go no further. A note naming the file is logged (INFO); a file that is none
of these is an error. Columns of an episodes file other than CHILD, DECOM and RNE are not
used, and extra columns an authority's system adds are allowed.

Linking to the census: CHILD is the child's ID in the authority's case-management system; in
most systems it is the same value as the census `LAchildID`, so the composite of the two returns
is keyed by that one value and `pseudonymise` hashes both to the same `child_id`. Nothing here
checks that: where the 903 CHILD differs from LAchildID (a separate looked-after-children
system, or a prefix such as the authority number), the hashed keys differ and every
`cs_looked_after` row fails the extract's foreign key check (`every child_id exists in
cs_children.child_id`) at validation; the authority must then map CHILD to LAchildID before
import. No matching on names or dates of birth is attempted.

Starts are returned whatever their date; `gf_eval.returns.period.as_at` cuts them to the
extract period (docs/data_dictionary.md 1.2). Give the files of every collection year from the
one containing `history_start` to the one containing `data_end`: a start is found only in the
files of the years its first episode was open. An episode reported with RNE S in one year's
file and another RNE in another's (a correction) is counted as a start.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from gf_eval.files import NotUTF8, utf8_text
from gf_eval.returns import ReturnError

log = logging.getLogger(__name__)

# The columns of each 903 table (liia-tools' spec, identical in the 2017 to 2024 schemas;
# SocialWorker from 2024). Episodes files of years before 2015 lack URN, so a table is
# recognised by most of its columns, not all.
TABLES: dict[str, tuple[str, ...]] = {
    "episodes": ("CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
                 "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"),
    "header": ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"),
    "uasc": ("CHILD", "DOB", "SEX", "DUC"),
    "reviews": ("CHILD", "DOB", "REVIEW", "REVIEW_CODE"),
    "missing": ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"),
    "ad1": ("CHILD", "DOB", "DATE_INT", "DATE_MATCH", "FOSTER_CARE", "NB_ADOPTR", "SEX_ADOPTR",
            "LS_ADOPTR"),
    "placed_adoption": ("CHILD", "DOB", "DATE_PLACED", "DATE_PLACED_CEASED",
                        "REASON_PLACED_CEASED"),
    "prev_perm": ("CHILD", "DOB", "PREV_PERM", "LA_PERM", "DATE_PERM"),
    "oc2": ("CHILD", "DOB", "SDQ_SCORE", "SDQ_REASON", "CONVICTED", "HEALTH_CHECK",
            "IMMUNISATIONS", "TEETH_CHECK", "HEALTH_ASSESSMENT", "SUBSTANCE_MISUSE",
            "INTERVENTION_RECEIVED", "INTERVENTION_OFFERED"),
    "oc3": ("CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"),
    "social_worker": ("CHILD", "DOB", "SW_ID", "SW_DECOM", "SW_DEC", "SW_REASON"),
}  # fmt: skip
# The episodes columns this import needs.
REQUIRED = ("CHILD", "DECOM", "RNE")
# Reasons for new episode (DfE 903 code list): S starts a period of care.
RNE_CODES = ("S", "L", "P", "T", "B", "U")
START = "S"
DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
SHOW_ROWS = 5  # row numbers quoted in a message


def read_ssda903(paths: Iterable[str | Path] | str | Path) -> dict[str, pd.DataFrame]:
    """{"cs_looked_after": child_id, became_looked_after} from SSDA903 CSV files.

    `paths` are files, or folders whose `*.csv` files are all taken (in name order). One row
    per start of a period of care (episode with RNE S), the same episode in several files
    (same CHILD and DECOM) counted once; `child_id` is CHILD as text (the identifying value,
    for `pseudonymise`), `became_looked_after` the DECOM as datetime64; sorted by both.
    Raises ReturnError for a file that is not UTF-8, not a 903 table, or an episodes table
    with a missing column, unreadable DECOM, blank CHILD or an RNE outside the 903 list.
    """
    files = _expand(paths)
    if not files:
        raise ReturnError("SSDA903: no files given")
    starts: list[pd.DataFrame] = []
    for path in files:
        header, rows = _read_csv(path)
        table = _recognise(path, header)
        if table != "episodes":
            log.info("%s: SSDA903 %s table, not needed for cs_looked_after: ignored", path, table)
            continue
        starts.append(_episode_starts(path, header, rows))
    if not starts:
        raise ReturnError(
            f"SSDA903: none of the {len(files)} files is an episodes table "
            f"(columns {', '.join(TABLES['episodes'])})"
        )
    out = pd.concat(starts, ignore_index=True).drop_duplicates()
    out = out.sort_values(["child_id", "became_looked_after"], kind="mergesort")
    out = out.reset_index(drop=True)
    out["child_id"] = out["child_id"].astype(str)
    out["became_looked_after"] = out["became_looked_after"].astype("datetime64[us]")
    return {"cs_looked_after": out}


def _expand(paths: Iterable[str | Path] | str | Path) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.glob("*.csv") if q.is_file()))
        else:
            out.append(p)
    return out


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header (names stripped) and rows (cells stripped) of a UTF-8 CSV file."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ReturnError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        text = utf8_text(data)
    except NotUTF8 as err:
        raise ReturnError(f"{path}: {err}; save the file as CSV UTF-8") from None
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise ReturnError(f"{path}: malformed CSV ({err})") from None
    records = [r for r in records if any(c.strip() for c in r)]
    if not records:
        raise ReturnError(f"{path}: empty file, no header line")
    header = [c.strip() for c in records[0]]
    rows = [[c.strip() for c in r] for r in records[1:]]
    return header, rows


def _recognise(path: Path, header: list[str]) -> str:
    """The 903 table whose columns the header holds (at least half of them and at least
    three, the best share winning). Never quotes the header: a file without one would show
    its first data row."""
    names = set(header)
    best, share = None, 0.0
    for table, cols in TABLES.items():
        hit = len(names & set(cols))
        if hit >= 3 and hit / len(cols) > share:
            best, share = table, hit / len(cols)
    if best is None or share < 0.5:
        hint = ""
        if len(header) == 1:
            for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
                if sep in header[0]:
                    hint = f"; the header has no commas and looks {name}-separated"
                    break
        raise ReturnError(
            f"{path}: not a recognised SSDA903 table: its header line holds the columns of "
            f"none of the 903 tables (episodes: {', '.join(TABLES['episodes'])}; header: "
            f"{', '.join(TABLES['header'])}; ...){hint}"
        )
    return best


def _rows_text(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:SHOW_ROWS])
    more = ", ..." if len(numbers) > SHOW_ROWS else ""
    return f"rows {shown}{more} (the header is row 1)"


def _episode_starts(path: Path, header: list[str], rows: list[list[str]]) -> pd.DataFrame:
    dupes = sorted({c for c in header if header.count(c) > 1} & set(TABLES["episodes"]))
    if dupes:
        raise ReturnError(f"{path}: episodes table: column {dupes[0]} appears more than once")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ReturnError(
            f"{path}: episodes table: column {missing[0]} missing "
            f"(required: {', '.join(REQUIRED)})"
        )
    ragged = [i + 2 for i, r in enumerate(rows) if len(r) != len(header)]
    if ragged:
        raise ReturnError(
            f"{path}: episodes table: {len(ragged)} rows do not have the {len(header)} fields "
            f"of the header: {_rows_text(ragged)}"
        )
    at = {c: header.index(c) for c in REQUIRED}
    child = [r[at["CHILD"]] for r in rows]
    rne = [r[at["RNE"]] for r in rows]
    decom = [_date(r[at["DECOM"]]) for r in rows]

    blank = [i + 2 for i, c in enumerate(child) if not c]
    if blank:
        raise ReturnError(
            f"{path}: column CHILD: {len(blank)} rows have no child ID: {_rows_text(blank)}"
        )
    bad_rne = [i + 2 for i, c in enumerate(rne) if c not in RNE_CODES]
    if bad_rne:
        raise ReturnError(
            f"{path}: column RNE: {len(bad_rne)} rows hold a code not in the 903 list "
            f"({', '.join(RNE_CODES)}, case-sensitive): {_rows_text(bad_rne)}"
        )
    bad_date = [i + 2 for i, d in enumerate(decom) if d is None]
    if bad_date:
        raise ReturnError(
            f"{path}: column DECOM: {len(bad_date)} rows hold no readable date (DD/MM/YYYY, "
            f"required): {_rows_text(bad_date)}"
        )
    keep = [i for i, c in enumerate(rne) if c == START]
    return pd.DataFrame(
        {
            "child_id": pd.Series([child[i] for i in keep], dtype=str),
            "became_looked_after": pd.Series([decom[i] for i in keep], dtype="datetime64[us]"),
        }
    )


def _date(text: str) -> dt.datetime | None:
    """A DD/MM/YYYY date (leading zeros optional), or None."""
    m = DATE.fullmatch(text)
    if not m:
        return None
    day, month, year = (int(g) for g in m.groups())
    try:
        return dt.datetime(year, month, day)
    except ValueError:
        return None
