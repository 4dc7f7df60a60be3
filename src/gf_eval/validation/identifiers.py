"""Refuse extracts that carry direct identifiers, by column name and by content.

Names, dates of birth, postcodes, NHS numbers, UPNs and addresses must be removed before an
extract reaches the project. A column is refused when its name says it is one of these, or when
most of its values look like postcodes, NHS numbers or UPNs whatever the column is called.
Messages name the column, the reason and how many values, never a value.

`looks_like` recognises one value (a name, postcode, NHS number, UPN, date, e-mail address or
phone number): the validation messages use it to withhold an identifier that landed in a coded
or numeric column (see `quoting.py`).
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
# For single values (looks_like): the same shapes, in either case and with - as a separator too.
UPN_ANY_CASE = re.compile(UPN.pattern, re.IGNORECASE)
NHS_WRITTEN = re.compile(r"^[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}$")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
DATE_IN_TEXT = re.compile(
    r"(?<![0-9])(?:[0-9]{4}[-/. ][0-9]{1,2}[-/. ][0-9]{1,2}"  # 2009-04-17, 2009/4/17
    r"|[0-9]{1,2}[-/. ][0-9]{1,2}[-/. ][0-9]{2,4}"  # 17/04/2009, 17-04-09, 17.04.2009
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?[ -]?{_MONTH}[ ,-]*[0-9]{{2,4}}"  # 17 April 2009, 17-Apr-09
    rf"|{_MONTH} [0-9]{{1,2}}(?:st|nd|rd|th)?,? [0-9]{{4}})(?![0-9])",  # April 17, 2009
    re.IGNORECASE,
)
DATE_DIGITS = re.compile(  # 20090417 or 17042009
    r"^(?:(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[1-9]|[12][0-9]|3[01])(?:0[1-9]|1[0-2])(?:19|20)[0-9]{2})$"
)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"^(?:\+44 ?(?:\(0\))? ?|0)[0-9][0-9 \-]{8,12}$")
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


CONTENT_TESTS = {
    "postcodes": lambda v: bool(POSTCODE.match(v)),
    "NHS numbers": lambda v: bool(NHS.match(v)) and _nhs_checksum_ok(v),
    "unique pupil numbers (UPNs)": lambda v: bool(UPN.match(v)),
}


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
    for what, test in CONTENT_TESTS.items():
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


def _count_matching(values: pd.Series, what: str) -> tuple[int, int]:
    """(present values of the whole column that look like `what`, present values)."""
    present = values.dropna().astype(str).str.strip()
    counts = present.value_counts()
    test = CONTENT_TESTS[what]
    return int(sum(n for v, n in counts.items() if test(v))), len(present)


def find_identifiers(df: pd.DataFrame) -> dict[str, str]:
    """{column: why it looks like a direct identifier, and in how many values} for every
    offending column; never a value."""
    found = {}
    for column in df.columns:
        by_name = identifier_by_name(str(column))
        if by_name:
            n = int(df[column].notna().sum())
            found[column] = f"its name suggests {by_name} ({n} value{'s' if n != 1 else ''})"
            continue
        by_content = identifier_by_content(df[column])
        if by_content:
            # Judged on a sample; counted, now that it is refused, over the whole column.
            hits, present = _count_matching(df[column], by_content)
            found[column] = (
                f"most of its values look like {by_content} ({hits} of {present} values)"
            )
    return found


NAME_MARKS = "'\u2019-."  # apostrophes, hyphen and full stop, as in O'Brien, Smith-Jones, St.


def _name_like(value: str) -> bool:
    """A person's name as typed: two or more words of letters ("Jane Doe", "Smith, John"), or
    one capitalised word with lower-case letters ("Bloggs", "O'Brien", "McDonald")."""
    words = [w for w in re.split(r"[ ,]+", value) if w]
    lettered = all(any(map(str.isalpha, w)) for w in words)
    if not words or not lettered or not all(c.isalpha() or c in NAME_MARKS for c in "".join(words)):
        return False
    if len(words) >= 2:
        return True
    word = words[0]
    return word[0].isupper() and any(c.islower() for c in word) and sum(map(str.isalpha, word)) >= 2


def looks_like(value: object) -> str | None:
    """The kind of identifier one value looks like ("name", "postcode", "NHS number", "UPN",
    "date", "email address", "phone number"), or None. Wide on purpose: it names why a value
    is withheld, and a false alarm only withholds a harmless value."""
    text = str(value).strip()
    if not text:
        return None
    if POSTCODE.match(text):
        return "postcode"
    if UPN_ANY_CASE.match(text):
        return "UPN"
    if NHS_WRITTEN.match(text) and _nhs_checksum_ok(text):
        return "NHS number"
    if DATE_IN_TEXT.search(text) or DATE_DIGITS.match(text):
        return "date"
    if EMAIL.search(text):
        return "email address"
    if PHONE.match(text) and 10 <= sum(c.isdigit() for c in text) <= 12:
        return "phone number"
    if _name_like(text):
        return "name"
    return None
