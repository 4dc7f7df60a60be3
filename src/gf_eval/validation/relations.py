"""Rules across tables: keys that must exist in a parent table, and dates across tables.

Each rule takes the typed child table and its validated parents and returns a boolean Series,
True where the row passes, indexed like the child.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Relation:
    columns: tuple[str, ...]  # the child's columns the rule reads (named in reports)
    check: str
    rule: Callable[[pd.DataFrame, dict[str, pd.DataFrame]], pd.Series]
    # The (parent, column) pairs the rule reads; empty means it may read any parent column.
    reads: tuple[tuple[str, str], ...] = ()
    join: tuple[str, ...] = ()  # other child columns the rule reads: the key it joins on

    @property
    def needs(self) -> tuple[str, ...]:
        """Every child column the rule reads: without one of them it cannot run."""
        return self.columns + self.join


def parent_columns(name: str) -> dict[str, list[str]] | None:
    """{parent: the columns the relations of extract `name` read}, or None if not declared."""
    needed: dict[str, list[str]] = {}
    for relation in RELATIONS.get(name, []):
        if not relation.reads:
            return None
        for parent, column in relation.reads:
            if column not in needed.setdefault(parent, []):
                needed[parent].append(column)
    return needed


def exists_in(column: str, parent: str, parent_column: str | None = None) -> Relation:
    target = parent_column or column

    def rule(df: pd.DataFrame, parents: dict[str, pd.DataFrame]) -> pd.Series:
        return df[column].isna() | _isin(df[column], parents[parent][target])

    check = f"foreign_key: every {column} exists in {parent}.{target}"
    return Relation((column,), check, rule, ((parent, target),))


# Keys are matched by pyarrow rather than pandas: pandas' ArrowStringArray.isin turns every
# parent key into a Python object (about a second per million keys) and reindex() hashes the
# keys as Python objects too. pyarrow's index_in gives, for each child key, the position of its
# first row in the parent (nulls match nulls, as in pandas), which answers both "does it exist"
# and "the parent's row for it". Hashing the keys is still the cost of a relation, and the
# rules of one extract share their key, so the positions are remembered until forget() (the
# validation calls it after the rules of each extract). pyarrow arrays are immutable: the same
# array objects always hold the same keys.
_POSITIONS: list[tuple[pa.ChunkedArray, pa.ChunkedArray, np.ndarray]] = []


def forget() -> None:
    """Drop the remembered key positions (and the references they hold to the tables)."""
    _POSITIONS.clear()


def _arrow_strings(series: pd.Series) -> bool:
    return isinstance(series.array, pd.arrays.ArrowStringArray)


def _positions(keys: pd.Series, parent_keys: pd.Series) -> np.ndarray:
    """For each of `keys` (both pyarrow strings), its first row in `parent_keys`, or -1."""
    child, parent = keys.array.__arrow_array__(), parent_keys.array.__arrow_array__()
    for cached_child, cached_parent, rows in _POSITIONS:
        if cached_child is child and cached_parent is parent:
            return rows
    value_set = parent.cast(child.type) if parent.type != child.type else parent
    rows = pc.index_in(child, value_set=value_set).fill_null(-1).to_numpy().astype(np.int64)
    _POSITIONS[:] = [*_POSITIONS[-3:], (child, parent, rows)]
    return rows


def _isin(values: pd.Series, other: pd.Series) -> pd.Series:
    """values.isin(other): the same result, fast for pyarrow-backed strings."""
    if not (_arrow_strings(values) and _arrow_strings(other)):
        return values.isin(other)
    return pd.Series(_positions(values, other) >= 0, index=values.index, name=values.name)


def _joined(df: pd.DataFrame, parent: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """The parent's `columns` for each child row, from the first parent row with its key
    (missing where there is none)."""
    fast = _arrow_strings(df[key]) and _arrow_strings(parent[key])
    if not (fast and all(parent[c].dtype.kind == "M" for c in columns)):
        lookup = parent.drop_duplicates(key).set_index(key)[columns]
        return lookup.reindex(df[key]).set_axis(df.index)
    rows = _positions(df[key], parent[key])  # as drop_duplicates(key) then reindex
    return pd.DataFrame(
        {c: parent[c].array.take(rows, allow_fill=True) for c in columns}, index=df.index
    )


def not_before_parent(column: str, parent: str, key: str, parent_column: str) -> Relation:
    def rule(df: pd.DataFrame, parents: dict[str, pd.DataFrame]) -> pd.Series:
        other = _joined(df, parents[parent], key, [parent_column])[parent_column]
        return df[column].isna() | other.isna() | (df[column] >= other)

    reads = ((parent, key), (parent, parent_column))
    return Relation((column,), f"{parent}.{parent_column} <= {column}", rule, reads, (key,))


def not_after_parent(column: str, parent: str, key: str, parent_column: str) -> Relation:
    def rule(df: pd.DataFrame, parents: dict[str, pd.DataFrame]) -> pd.Series:
        other = _joined(df, parents[parent], key, [parent_column])[parent_column]
        return df[column].isna() | other.isna() | (df[column] <= other)

    reads = ((parent, key), (parent, parent_column))
    return Relation((column,), f"{column} <= {parent}.{parent_column}", rule, reads, (key,))


def _authorised(df: pd.DataFrame, parents: dict[str, pd.DataFrame]) -> pd.Series:
    done = _joined(df, parents["cs_assessments"], "assessment_id", ["authorised_date"])
    return done["authorised_date"].notna() | ~_isin(
        df["assessment_id"], parents["cs_assessments"]["assessment_id"]
    )


RELATIONS: dict[str, list[Relation]] = {
    "cs_referrals": [exists_in("child_id", "cs_children")],
    "cs_assessments": [
        exists_in("referral_id", "cs_referrals"),
        not_before_parent("start_date", "cs_referrals", "referral_id", "referral_date"),
        not_after_parent("authorised_date", "cs_referrals", "referral_id", "closure_date"),
    ],
    "cs_factors": [
        exists_in("assessment_id", "cs_assessments"),
        Relation(
            ("assessment_id",),
            "factors belong to an authorised (completed) assessment",
            _authorised,
            (("cs_assessments", "assessment_id"), ("cs_assessments", "authorised_date")),
        ),
    ],
    "cs_cp_plans": [
        exists_in("referral_id", "cs_referrals"),
        not_before_parent("start_date", "cs_referrals", "referral_id", "referral_date"),
        not_after_parent("start_date", "cs_referrals", "referral_id", "closure_date"),
        not_after_parent("end_date", "cs_referrals", "referral_id", "closure_date"),
    ],
    "cs_looked_after": [exists_in("child_id", "cs_children")],
    "casework": [exists_in("family_id", "cs_children")],
}
