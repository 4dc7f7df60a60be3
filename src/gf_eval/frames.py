"""Table steps done by pyarrow where pandas is slow on its Arrow-backed columns, with pandas'
results: the helpers say which inputs they take, and leave the rest to pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def sort_order(df: pd.DataFrame, by: list[str]) -> np.ndarray | None:
    """The row positions of df.sort_values(by, kind="mergesort"), a stable sort with missing
    values last, from pyarrow's stable sort of the columns (a fifth of the time); None when a
    column is not text, whole numbers or dates, whose order pyarrow and pandas share (UTF-8
    bytes sort as code points; NA and NaT are nulls)."""
    arrays = []
    for col in by:
        dtype = df[col].dtype
        plain = isinstance(dtype, np.dtype) and dtype.kind in "Mi"
        if not (plain or isinstance(dtype, (pd.StringDtype, pd.Int64Dtype))):
            return None
        arrays.append(pa.array(df[col]))
    table = pa.table(arrays, names=[str(i) for i in range(len(by))])
    keys = [(str(i), "ascending", "at_end") for i in range(len(by))]
    return pc.sort_indices(table, sort_keys=keys).to_numpy()


def sort_rows(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """df.sort_values(by, kind="mergesort"): the same frame, index labels included."""
    rows = sort_order(df, by)
    return df.sort_values(by, kind="mergesort") if rows is None else df.take(rows)


def lookup(keys: pd.Series, table: pd.DataFrame, key: str, column: str) -> pd.Series | None:
    """table[column] for each of `keys` (missing where the key is not in table[key]), as a
    left merge on a unique key gives it; None unless both keys are Arrow strings and the
    table's are unique (a merge would repeat rows)."""
    own, theirs = keys.array, table[key].array
    if not (isinstance(own, pd.arrays.ArrowStringArray)
            and isinstance(theirs, pd.arrays.ArrowStringArray)):  # fmt: skip
        return None
    theirs = theirs.__arrow_array__()
    if pc.count_distinct(theirs, mode="all").as_py() != len(theirs):
        return None
    own = own.__arrow_array__()
    value_set = theirs.cast(own.type) if theirs.type != own.type else theirs
    rows = pc.index_in(own, value_set=value_set).fill_null(-1).to_numpy().astype(np.int64)
    return pd.Series(table[column].array.take(rows, allow_fill=True), index=keys.index,
                     name=column)  # fmt: skip
