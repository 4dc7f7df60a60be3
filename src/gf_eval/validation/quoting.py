"""Which failing values a validation message or report may quote: one policy for every path.

A shifted column or a wrong paste puts names, NHS numbers, postcodes or dates of birth into
coded and numeric columns, where they fail the column's checks. Whatever prints or stores a
failing value (the error message, hence the console, the `--log` file and Snakemake's log, and
the JSON report) takes it from `disclose`, which quotes a value only when `judge` finds it
provably harmless, and otherwise counts it, by the kind of identifier it looks like (from
`identifiers.looks_like`) or as not shown. Column names read from the header go through `judge`
too: a file whose header row is missing has a data row there.

Provably harmless means:
- in a coded column: a code of the column's own list in another letter case ("Police", "y"),
  or made only of the list's own words ("social_care", "social care"); or, unless it looks
  like an identifier, a short code: 1 to 4 capital letters and digits, with a digit ("9Z",
  "RC9", "99") or, in a list of letter codes, letters only ("WXYZ");
- in a numeric column: a plain decimal number that does not look like an identifier, within a
  plausible range around the column's own (one width of the range, at least 10, either side):
  25 or -1 for a 0 to 24 score, 12.5 for a whole number, never 20090417 or 9434765919;
- for a column name: lower-case snake_case or camelCase ("worker_notes", "dateOfBirth"), not
  like an identifier, in a header that has at least one of the extract's own columns.
Everything else is withheld: a value that may be harmless but cannot be shown to be (a plain
word such as "smith" could be a surname) is counted as "not shown". Keys, dates and free text
have no domain and are never quoted (their checks and row numbers say enough).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from gf_eval.validation.identifiers import looks_like

NOT_SHOWN = "not shown"  # withheld as not provably harmless, though not like an identifier
SHORT_CODE = re.compile(r"[A-Z0-9]{1,4}")
WORDS = re.compile(r"[A-Za-z0-9]+(?:[_ -][A-Za-z0-9]+)*")
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
COLUMN_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*|[a-z]+(?:[A-Z][a-z0-9]+)+")
MAX_COLUMN_NAME = 40


@dataclass(frozen=True)
class Domain:
    """What a column's valid values look like, for judging its failing ones."""

    kind: str  # "code", "number" or "header"
    codes: tuple[str, ...] = ()  # a code list; for "header", the extract's own column names
    low: float | None = None
    high: float | None = None


def domain_of(column) -> Domain | None:
    """The domain of a pandera column marked `echo` (codes, numbers, flags), else None."""
    if not (column.metadata and column.metadata.get("echo")):
        return None
    stats = {check.name: check.statistics for check in column.checks}
    if "isin" in stats:
        return Domain("code", tuple(map(str, stats["isin"]["allowed_values"])))
    low = stats.get("greater_than_or_equal_to", {}).get("min_value")
    high = stats.get("less_than_or_equal_to", {}).get("max_value")
    if low is not None and high is not None:
        return Domain("number", low=float(low), high=float(high))
    return None  # an echo column of a shape this policy does not know: quote nothing


def header_domain(expected: Iterable[str], header: Iterable[str]) -> Domain:
    """The domain of the names in `header`: the extract's `expected` columns, or nothing at
    all when the header has none of them (it may be a data row: the header row missing)."""
    expected = tuple(expected)
    return Domain("header", expected if set(expected) & set(header) else ())


def text_of(value: object) -> str | None:
    """A value as it would be written: None when missing, whole floats without ".0"."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    try:
        if value != value:  # pd.NA raises here, NaN-likes are unequal to themselves
            return None
    except TypeError:
        return None
    return str(value)


def judge(value: object, domain: Domain | None) -> str | None:
    """THE policy: None if `value` may be quoted, else why not: the kind of identifier it looks
    like ("postcode", "name", ...) or NOT_SHOWN."""
    text = text_of(value)
    if text is None or domain is None:
        return NOT_SHOWN
    text = text.strip()
    if domain.kind == "code" and _from_the_code_list(text, domain.codes):
        return None
    if domain.kind == "header" and (not domain.codes or text in domain.codes):
        return None if text in domain.codes else NOT_SHOWN
    kind = looks_like(text)
    if kind:
        return kind
    if domain.kind == "code" and _short_code(text, domain.codes):
        return None
    if domain.kind == "number" and _plausible_number(text, domain.low, domain.high):
        return None
    if domain.kind == "header" and _column_name(text):
        return None
    return NOT_SHOWN


def disclose(
    values: Iterable[object], domain: Domain | None, limit: int
) -> tuple[list[str], dict[str, int]]:
    """(up to `limit` distinct values that may be quoted, sorted; {why withheld: how many of
    the others}) for the failing values of one check, one per failing row. Missing values are
    neither. Without a domain (keys, dates, free text) nothing is quoted and nothing counted."""
    if domain is None:
        return [], {}
    shown: set[str] = set()
    withheld: Counter[str] = Counter()
    verdicts: dict[str, str | None] = {}  # values repeat: each distinct one is judged once
    for value in values:
        text = text_of(value)
        if text is None:
            continue
        if text not in verdicts:
            verdicts[text] = judge(text, domain)
        why = verdicts[text]
        if why is None:
            shown.add(text.strip())
        else:
            withheld[why] += 1
    return sorted(shown)[:limit], dict(sorted(withheld.items()))


QUOTED = re.compile(r"'[^'\n]{2,}'|\"[^\"\n]{2,}\"")


def library_message(err: BaseException) -> str:
    """Another library's error text (pandas', the csv module's) for a message, with every
    quoted part of two or more characters withheld: that is where they put a cell's text."""
    return QUOTED.sub("'(withheld)'", str(err))


def describe_withheld(withheld: dict[str, int]) -> str:
    """ "3 look like identifiers (NHS number, postcode), 1 not shown", or "" if none."""
    kinds = {k: n for k, n in withheld.items() if k != NOT_SHOWN}
    parts = []
    if kinds:
        n = sum(kinds.values())
        like = "looks like an identifier" if n == 1 else "look like identifiers"
        parts.append(f"{n} {like} ({', '.join(sorted(kinds))})")
    if withheld.get(NOT_SHOWN):
        parts.append(f"{withheld[NOT_SHOWN]} {NOT_SHOWN}")
    return ", ".join(parts)


def _from_the_code_list(text: str, codes: tuple[str, ...]) -> bool:
    """One of the codes in another case, or made only of the words of the codes."""
    folded = text.casefold()
    if any(folded == c.casefold() for c in codes):
        return True
    if not WORDS.fullmatch(text):
        return False
    words = {w.casefold() for c in codes for w in re.split(r"[_-]", c) if w}
    return all(w.casefold() in words for w in re.split(r"[_ -]", text))


def _short_code(text: str, codes: tuple[str, ...]) -> bool:
    if not SHORT_CODE.fullmatch(text):
        return False
    if any(c.isdigit() for c in text):
        return True
    return any(c.isalpha() and c.isupper() for c in codes)  # letters only, like some codes


def _plausible_number(text: str, low: float | None, high: float | None) -> bool:
    if low is None or high is None or not PLAIN_NUMBER.fullmatch(text):
        return False
    number = float(text)
    margin = max(high - low, 10.0)
    return math.isfinite(number) and low - margin <= number <= high + margin


def _column_name(text: str) -> bool:
    return len(text) <= MAX_COLUMN_NAME and bool(COLUMN_NAME.fullmatch(text))
