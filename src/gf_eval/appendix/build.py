"""Builders for the common table shapes, each returning (frame, TableSpec) ready for `Table`.

Row labels are strings in the index; a "Total" row (and column) is added where the shape has
one, and declared in the spec so that secondary suppression protects it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from gf_eval.disclosure import TableSpec

TOTAL = "Total"


def financial_year(dates: pd.Series) -> pd.Series:
    """'2015-16' for dates from April 2015 to March 2016; NA where there is no date."""
    dates = pd.to_datetime(dates)
    year = dates.dt.year - (dates.dt.month < 4)
    out = pd.Series(pd.NA, index=dates.index, dtype=object)
    ok = dates.notna()
    out[ok] = [f"{int(y)}-{(int(y) + 1) % 100:02d}" for y in year[ok]]
    return out


def financial_quarter(dates: pd.Series) -> pd.Series:
    """'2015-16 Q1' for April to June 2015, ..., '2015-16 Q4' for January to March 2016."""
    dates = pd.to_datetime(dates)
    q = ((dates.dt.month - 4) % 12 // 3 + 1).astype("Int64").astype(str)
    return (financial_year(dates) + " Q" + q).where(dates.notna())


def _labels(values: pd.Series, order: Sequence | None, missing: str | None) -> tuple[pd.Series, list]:
    values = values.astype(object)
    if missing is not None:
        values = values.where(values.notna(), missing)
    else:
        values = values[values.notna()]
    seen = list(pd.unique(values))
    order = list(order) if order is not None else sorted(seen, key=str)
    if missing is not None and missing in seen and missing not in order:
        order.append(missing)
    unknown = [v for v in seen if v not in order]
    if unknown:
        raise ValueError(f"values not in the table's order: {unknown[:5]}")
    return values.map(str), [str(o) for o in order]


def counts_by(
    df: pd.DataFrame,
    rows: str,
    cols: str | None = None,
    *,
    row_order: Sequence | None = None,
    col_order: Sequence | None = None,
    row_names: dict | None = None,
    missing: str | None = "Not recorded",
    share: bool = True,
    count_name: str = "count",
) -> tuple[pd.DataFrame, TableSpec]:
    """Counts of `df` rows by `rows` (and `cols`), with a Total row (and column) and, if
    `share`, the percentage of the column total ("pct" or "pct_<col>")."""
    r, r_order = _labels(df[rows], row_order, missing)
    if cols is None:
        counts = r.value_counts().reindex(r_order, fill_value=0).to_frame(count_name)
        count_cols = [count_name]
        col_totals = ()
    else:
        c, c_order = _labels(df.loc[r.index, cols], col_order, missing)
        counts = pd.crosstab(r, c.loc[r.index]).reindex(index=r_order, columns=c_order,
                                                        fill_value=0)  # fmt: skip
        counts.columns = [str(x) for x in counts.columns]
        count_cols = list(counts.columns)
        counts[TOTAL] = counts[count_cols].sum(axis=1)
        col_totals = ((TOTAL, tuple(count_cols)),)
        count_cols = [*count_cols, TOTAL]
    counts.loc[TOTAL] = counts.sum(axis=0)
    counts = counts.astype("int64")
    if row_names:
        counts.index = [row_names.get(i, i) for i in counts.index]
    counts.index.name = rows
    parts = tuple(counts.index[:-1])
    derived = {}
    if share:
        for col in count_cols:
            name = "pct" if cols is None else f"pct_{col}"
            counts[name] = 100 * counts[col] / counts.loc[TOTAL, col] if counts.loc[TOTAL, col] else float("nan")
            derived[name] = (col, (TOTAL, col))
    spec = TableSpec(counts=tuple(count_cols), derived=derived, column_totals=col_totals,
                     row_totals=((TOTAL, parts),))  # fmt: skip
    return counts, spec


def rate_by(
    df: pd.DataFrame,
    rows: str,
    flag: str,
    *,
    row_order: Sequence | None = None,
    missing: str | None = "Not recorded",
    n_name: str = "n",
    k_name: str | None = None,
    rate_name: str | None = None,
    per: float = 100,
) -> tuple[pd.DataFrame, TableSpec]:
    """Per row group: n, the count where `flag` is true, the rest, and the rate per `per`."""
    k_name = k_name or flag
    rate_name = rate_name or f"{k_name}_rate"
    r, r_order = _labels(df[rows], row_order, missing)
    sub = df.loc[r.index]
    flagged = sub[flag].astype(bool).to_numpy()
    table = pd.DataFrame({
        n_name: r.value_counts().reindex(r_order, fill_value=0),
        k_name: r[flagged].value_counts().reindex(r_order, fill_value=0),
    })  # fmt: skip
    table.loc[TOTAL] = table.sum(axis=0)
    table = table.astype("int64")
    other = f"not_{k_name}"
    table.insert(2, other, table[n_name] - table[k_name])
    table[rate_name] = per * table[k_name] / table[n_name].where(table[n_name] > 0)
    table.index.name = rows
    spec = TableSpec(counts=(n_name, k_name, other), derived={rate_name: (k_name, n_name)},
                     column_totals=((n_name, (k_name, other)),),
                     row_totals=((TOTAL, tuple(table.index[:-1])),))  # fmt: skip
    return table, spec
