"""Import of the returns an authority already holds, and their pseudonymisation.

The stage before the raw extract: the Children in Need census XML (`cin_census`), the SSDA903
CSVs (`ssda903`) and the MARAC, casework and survey workbooks read through a YAML mapping
(`workbook`, `mapping`) are each turned into tables of the extract contract
(`docs/data_dictionary.md`). In those tables a key column (`child_id`, `referral_id`,
`victim_key`, ...) still holds the identifying value it was made from, or several joined by
`compose`; `pseudonymise` then replaces every key by a keyed hash and keeps only the
contract's columns, so nothing identifying leaves this stage. Ages are worked out from dates of
birth at import (`ages`), and the birth dates go no further.

Errors are `ReturnError`: the message names the file, where in it (element, sheet, column),
the rule broken and how many rows or records break it. It never quotes a value read from a
return, because any cell may hold an identifier.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where it is used: the Snakefile reads `layout`
    import pandas as pd

# Joins the parts of a composite identifying key (a child's ID and a referral date, say) into
# one value to hash. The unit separator cannot occur in the XML or CSV text being joined.
SEPARATOR = "\x1f"


class ReturnError(ValueError):
    """A return that cannot be imported. The message quotes no value read from the return."""


def compose(*parts: object) -> str:
    """One identifying key from its parts: text stripped, dates as YYYY-MM-DD."""
    out = []
    for part in parts:
        if isinstance(part, _dt.date):  # pandas' Timestamp too
            part = part.strftime("%Y-%m-%d")
        out.append(str(part).strip())
    return SEPARATOR.join(out)


def compose_columns(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """`compose` row by row over `columns` of `frame` (dates as YYYY-MM-DD)."""
    import pandas as pd

    parts = []
    for col in columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            s = s.dt.strftime("%Y-%m-%d")
        parts.append(s.astype("string").str.strip())
    out = parts[0]
    for p in parts[1:]:
        out = out + SEPARATOR + p
    return out.astype(object)
