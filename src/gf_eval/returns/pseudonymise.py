"""Pseudonymisation, run inside the authority: keyed hashes for keys, nothing else identifying.

Every key column of the imported tables (a child's LAchildID, a victim's name and date of
birth, a census episode's child and referral date, ...) is replaced by an HMAC-SHA256 of its
value under a secret key that the authority holds, read from a file or the environment, never
from the config. The same value gets the same pseudonym in every table and every source (a
child's LAchildID in the census and in the SSDA903 return, say), so the links between tables
survive; without the key nobody can recompute or reverse one. Each pseudonym is a letter for
its kind of key and base-32 characters of the hash (9 for a child, whose key the contract caps
at 10 characters; 16, or 80 bits, for the rest).

Only the contract's columns are kept: names, dates of birth, addresses, postcodes, UPNs, NHS
numbers and any free text a mapping did not keep are gone, and rows are sorted by their
pseudonyms so the source's order goes too. The same returns and key give byte-identical files.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

import pandas as pd

from gf_eval.extracts import EXTRACTS
from gf_eval.files import atomic_path
from gf_eval.returns import SEPARATOR, ReturnError

KEY_FILE_ENV = "GF_EVAL_KEY_FILE"
KEY_ENV = "GF_EVAL_KEY"
MIN_KEY_BYTES = 16
# Kind of key (the hash's domain), the pseudonym's first letter and its number of characters.
KINDS = {
    "child": ("C", 9),
    "family": ("F", 16),
    "person": ("P", 16),
    "episode": ("R", 16),
    "assessment": ("A", 16),
    "plan": ("K", 16),
    "marac_case": ("M", 16),
    "casework_case": ("W", 16),
    "worker": ("D", 16),
    "respondent": ("S", 16),
}
# The kind of each key column, table by table.
KEY_COLUMNS = {
    "marac_cases": {"case_id": "marac_case", "victim_key": "person", "perpetrator_key": "person"},
    "cs_children": {"child_id": "child", "family_id": "family"},
    "cs_referrals": {"referral_id": "episode", "child_id": "child"},
    "cs_assessments": {"assessment_id": "assessment", "referral_id": "episode"},
    "cs_factors": {"assessment_id": "assessment"},
    "cs_cp_plans": {"plan_id": "plan", "referral_id": "episode"},
    "cs_looked_after": {"child_id": "child"},
    "casework": {"case_id": "casework_case", "family_id": "family", "dan_id": "worker"},
    "survey": {"respondent_id": "respondent"},
}
assert set(KEY_COLUMNS) == set(EXTRACTS)


def load_key(key_file: str | Path | None = None, environ=None) -> bytes:
    """The secret key: from `key_file`, else the file named by GF_EVAL_KEY_FILE, else the
    value of GF_EVAL_KEY. Refuses a missing, empty or short key; never shows any of it."""
    environ = os.environ if environ is None else environ
    where = key_file or environ.get(KEY_FILE_ENV)
    if where:
        path = Path(where)
        if not path.is_file():
            raise ReturnError(f"pseudonymisation key file {path}: not found")
        key = path.read_bytes().strip()
        origin = f"key file {path}"
    elif environ.get(KEY_ENV) is not None:
        key = environ[KEY_ENV].strip().encode()
        origin = f"environment variable {KEY_ENV}"
    else:
        raise ReturnError(
            f"no pseudonymisation key: give --key-file, or set {KEY_FILE_ENV} to the key file "
            f"or {KEY_ENV} to the key (docs/preparing_data.md, 'The key'); nothing was written"
        )
    if not key:
        raise ReturnError(f"pseudonymisation {origin}: empty; nothing was written")
    if len(key) < MIN_KEY_BYTES:
        raise ReturnError(f"pseudonymisation {origin}: too short ({len(key)} bytes; at least "
                          f"{MIN_KEY_BYTES}, for example 64 hex characters from "
                          "`python -c 'import secrets; print(secrets.token_hex(32))'`)")  # fmt: skip
    return key


def key_id(key: bytes) -> str:
    """A one-way tag of the key, so that a run can tell the key changed without holding it."""
    return hmac.new(key, b"gf-eval key id", hashlib.sha256).hexdigest()[:12]


def normalise(value: object) -> str:
    """The form of an identifying value that is hashed, the same in every source: each part of
    a composite key stripped, inner spaces collapsed and case ignored, so "FAM001" in the census
    families file and "fam001 " in a casework book are the same family."""
    return SEPARATOR.join(" ".join(part.split()).casefold()
                          for part in str(value).split(SEPARATOR))  # fmt: skip


def pseudonyms(key: bytes, kind: str, values: pd.Series) -> pd.Series:
    """The pseudonym of each value for its `kind` of key; a missing value is an error."""
    prefix, length = KINDS[kind]
    normal = values.astype(object).map(normalise)
    table = {}
    for v in pd.unique(normal):
        digest = hmac.new(key, f"{kind}{SEPARATOR}{v}".encode(), hashlib.sha256).digest()
        table[v] = prefix + base64.b32encode(digest).decode()[:length]
    if len(set(table.values())) < len(table):  # about 1 in 10^4 for 100,000 children
        raise ReturnError(f"two different {kind} keys got the same pseudonym; use a new key")
    return normal.map(table)


def pseudonymise(tables: dict[str, pd.DataFrame], key: bytes) -> dict[str, pd.DataFrame]:
    """The contract's tables from imported ones: keys hashed, only contract columns, rows
    sorted by key. `tables` holds any of the extracts, each with every contract column."""
    out = {}
    for name, df in tables.items():
        columns = list(EXTRACTS[name].columns)
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ReturnError(f"{name}: the import gave no column {', '.join(missing)}")
        df = df[columns].copy()
        for col, kind in KEY_COLUMNS[name].items():
            blank = df[col].isna() | (df[col].astype("string").str.strip() == "")
            if blank.any():
                raise ReturnError(f"{name}.{col}: {int(blank.sum())} rows have no identifying "
                                  "value to make the key from")  # fmt: skip
            df[col] = pseudonyms(key, kind, df[col])
        out[name] = df.sort_values(list(KEY_COLUMNS[name]) + [c for c in columns if c not in
                                   KEY_COLUMNS[name]], kind="mergesort").reset_index(drop=True)  # fmt: skip
    return out


def write_extract(tables: dict[str, pd.DataFrame], outdir: str | Path) -> list[Path]:
    """Each table as its extract CSV, in the contract's format (docs/data_dictionary.md)."""
    outdir = Path(outdir)
    written = []
    for name, df in tables.items():
        path = outdir / EXTRACTS[name].filename
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False, date_format="%Y-%m-%d", lineterminator="\n")
        written.append(path)
    return written
