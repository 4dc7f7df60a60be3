"""Refuse extracts that carry direct identifiers, by column name and by content.

Names, dates of birth, postcodes, NHS numbers, UPNs and addresses must be removed before an
extract reaches the project. A column is refused when its name says it is one of these, or when
most of its values look like postcodes, NHS numbers or UPNs whatever the column is called.
Messages name the column and the reason, never a value.
"""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd

# Tokens of a column name (split on non-letters and camelCase) that mark a direct identifier.
NAME_TOKENS = {
    "name": "a name",
    "forename": "a name",
    "forenames": "a name",
    "surname": "a name",
    "firstname": "a name",
    "lastname": "a name",
    "fullname": "a name",
    "dob": "a date of birth",
    "birthdate": "a date of birth",
    "postcode": "a postcode",
    "postcodes": "a postcode",
    "zip": "a postcode",
    "nhs": "an NHS number",
    "nhsno": "an NHS number",
    "upn": "a unique pupil number (UPN)",
    "address": "an address",
    "addr": "an address",
    "street": "an address",
}
NAME_PHRASES = {
    ("date", "of", "birth"): "a date of birth",
    ("birth", "date"): "a date of birth",
    ("post", "code"): "a postcode",
    ("first", "name"): "a name",
    ("last", "name"): "a name",
    ("family", "name"): "a name",
    ("given", "name"): "a name",
    ("pupil", "number"): "a unique pupil number (UPN)",
}
POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$", re.IGNORECASE)
UPN = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")
NHS = re.compile(r"^[0-9]{3} ?[0-9]{3} ?[0-9]{4}$")
# A value matching any of the three matches this (one call instead of three for the others).
ANY = re.compile(f"(?i:{POSTCODE.pattern})|{NHS.pattern}|{UPN.pattern}")
CONTENT_SHARE = 0.5  # a column is refused when at least this share of its values match
SAMPLE = 2000  # judged on the first this many present values


def _tokens(column: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", column)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def identifier_by_name(column: str) -> str | None:
    tokens = _tokens(column)
    for token in tokens:
        if token in NAME_TOKENS:
            return NAME_TOKENS[token]
    for phrase, what in NAME_PHRASES.items():
        n = len(phrase)
        if any(tuple(tokens[i : i + n]) == phrase for i in range(len(tokens) - n + 1)):
            return what
    return None


def _nhs_checksum_ok(value: str) -> bool:
    digits = [int(c) for c in value if c.isdigit()]
    check = 11 - sum(d * w for d, w in zip(digits[:9], range(10, 1, -1))) % 11
    return (0 if check == 11 else check) == digits[9] and check != 10


def identifier_by_content(values: pd.Series) -> str | None:
    present = _first_present(values, SAMPLE)
    if present.empty:
        return None
    # Each distinct value is tested once and counted as often as it occurs (codes repeat a
    # lot), and the one-pass ANY pattern rules out most values before the three tests run; a
    # share is then the same count / size as the mean over the sample.
    sample = Counter(present.astype(str).str.strip().to_numpy())
    candidates = [(v, n) for v, n in sample.items() if ANY.match(v)]
    size = sum(sample.values())
    tests = (
        ("postcodes", lambda v: bool(POSTCODE.match(v))),
        ("NHS numbers", lambda v: bool(NHS.match(v)) and _nhs_checksum_ok(v)),
        ("unique pupil numbers (UPNs)", lambda v: bool(UPN.match(v))),
    )
    for what, test in tests:
        if sum(n for v, n in candidates if test(v)) / size >= CONTENT_SHARE:
            return what
    return None


def _first_present(values: pd.Series, n: int) -> pd.Series:
    """values.dropna().iloc[:n], without going through the whole column."""
    k = n
    while True:
        present = values.iloc[:k].dropna()
        if len(present) >= n or k >= len(values):
            return present.iloc[:n]
        k *= 8


def find_identifiers(df: pd.DataFrame) -> dict[str, str]:
    """{column: why it looks like a direct identifier} for every offending column."""
    found = {}
    for column in df.columns:
        by_name = identifier_by_name(str(column))
        if by_name:
            found[column] = f"its name suggests {by_name}"
            continue
        by_content = identifier_by_content(df[column])
        if by_content:
            found[column] = f"most of its values look like {by_content}"
    return found
