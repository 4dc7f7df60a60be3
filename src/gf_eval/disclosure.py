"""Statistical disclosure control for published tables (DfE children's social care practice).

Symbols follow the GSS/DfE convention: ``c`` suppressed (confidential), ``:`` not available,
``z`` not applicable. The module is generic: it knows a table only through its `TableSpec`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SUPPRESSED, NOT_AVAILABLE, NOT_APPLICABLE = "c", ":", "z"

Cell = tuple[object, object]  # (row label, column)


class DisclosureError(ValueError):
    """The table or its spec is unfit for disclosure control."""


@dataclass(frozen=True)
class TableSpec:
    """What each column of a table is and which cells add up to which.

    Parameters
    ----------
    counts : count columns (whole numbers >= 0, or NA).
    derived : derived column -> its sources; a source is a column name (same row) or a
        ``(row_label, column)`` tuple (a cell of another row, e.g. the Total row).
    column_totals : ``(total_col, part_cols)``: in every row, total = sum(parts).
    row_totals : ``(total_row_label, part_row_labels)``: in every count column, likewise.
    decimals : decimal places of derived columns when formatted (default 1).
    labels : non-numeric columns, passed through unchanged.
    suppress : ``(row_label, count_column)`` cells suppressed from the start, like a small
        count: e.g. a cell that, with another published table, would reveal a suppressed count.
    """

    counts: tuple[str, ...]
    derived: Mapping[str, tuple] = field(default_factory=dict)
    column_totals: tuple[tuple[str, tuple[str, ...]], ...] = ()
    row_totals: tuple[tuple[object, tuple[object, ...]], ...] = ()
    decimals: Mapping[str, int] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    suppress: tuple[tuple[object, str], ...] = ()


def _column_constraints(column_totals, index) -> list[tuple[Cell, ...]]:
    """(total cell, *part cells) for each column total in each row, row by row."""
    return [((r, t), *((r, p) for p in ps)) for r in index for t, ps in column_totals]


def _row_constraints(row_totals, counts) -> list[tuple[Cell, ...]]:
    """(total cell, *part cells) for each row total in each count column, column by column."""
    return [((t, c), *((p, c) for p in ps)) for c in counts for t, ps in row_totals]


def _constraints(spec: TableSpec, index) -> list[tuple[Cell, ...]]:
    return (_column_constraints(spec.column_totals, index)
            + _row_constraints(spec.row_totals, spec.counts))


def _sources(spec: TableSpec, row: object, col: str) -> list[Cell]:
    return [s if isinstance(s, tuple) else (row, s) for s in spec.derived[col]]


def _validate(table: pd.DataFrame, spec: TableSpec) -> dict[Cell, float]:
    """Raise DisclosureError for unusable input; return the count values by cell (NaN = NA)."""
    declared = [*spec.counts, *spec.derived, *spec.labels]
    if not (table.index.is_unique and table.columns.is_unique):
        raise DisclosureError("the table's row labels and column names must be unique")
    if len(set(declared)) != len(declared):
        raise DisclosureError("a column is declared more than once in the spec")
    if missing := [c for c in declared if c not in table.columns]:
        raise DisclosureError(f"spec names columns not in the table: {missing}")
    # Publishing an undeclared column unchecked could leak what suppression hides.
    if extra := [c for c in table.columns if c not in declared]:
        raise DisclosureError(f"table has columns not declared in the spec: {extra}")
    if bad := [c for c in spec.decimals if c not in spec.derived]:
        raise DisclosureError(f"decimals given for columns that are not derived: {bad}")
    numeric = {*spec.counts, *spec.derived}
    for col, sources in spec.derived.items():
        for s in sources:
            r, c = s if isinstance(s, tuple) and len(s) == 2 else (None, s)
            if c not in numeric or (isinstance(s, tuple) and r not in table.index):
                raise DisclosureError(f"derived column {col!r}: unknown source {s!r}")
    for tot, parts in spec.column_totals:
        if not parts or any(c not in spec.counts for c in (tot, *parts)):
            raise DisclosureError(f"column total {tot!r}: {parts!r} must be count columns")
    for tot, parts in spec.row_totals:
        if not parts or any(r not in table.index for r in (tot, *parts)):
            raise DisclosureError(f"row total {tot!r}: row labels {parts!r} not in the table")
    if bad := [k for k in spec.suppress if k[1] not in spec.counts or k[0] not in table.index]:
        raise DisclosureError(f"cells to suppress are not count cells of the table: {bad[:3]}")
    values: dict[Cell, float] = {}
    for col in spec.counts:
        s = table[col]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            raise DisclosureError(f"count column {col!r} is not numeric ({s.dtype})")
        v = s.to_numpy(dtype=float, na_value=np.nan)
        known = v[~np.isnan(v)]
        if n_bad := int(np.sum((known < 0) | ~np.isfinite(known) | (known != np.round(known)))):
            raise DisclosureError(f"count column {col!r}: {n_bad} row(s) not a whole number >= 0")
        values.update(zip(((r, col) for r in table.index), v, strict=True))

    def n_broken(cons):  # constraints with every cell known whose total != sum(parts)
        vals = ([values[k] for k in con] for con in cons)
        return sum(not any(map(math.isnan, v)) and v[0] != sum(v[1:]) for v in vals)

    for tot, parts in spec.column_totals:
        if n := n_broken(_column_constraints([(tot, parts)], table.index)):
            raise DisclosureError(f"column total {tot!r} != sum of {list(parts)} in {n} row(s)")
    for tot, parts in spec.row_totals:
        if n := n_broken(_row_constraints([(tot, parts)], spec.counts)):
            raise DisclosureError(f"row total {tot!r} != sum of rows {list(parts)} "
                                  f"in {n} count column(s)")
    return values


def _at_least_two(cons: list[tuple[Cell, ...]], values: dict, hidden: set) -> None:
    """Grow `hidden` until no constraint holds exactly one suppressed cell."""
    changed = True
    while changed:
        changed = False
        for total, *parts in cons:
            if sum(k in hidden for k in (total, *parts)) != 1:
                continue
            open_parts = [p for p in parts if p not in hidden and values[p] > 0]
            # Every suppressed count is positive, so if only the total is suppressed some
            # part is positive: `pick` is never already hidden and the loop terminates.
            pick = min(open_parts, key=values.__getitem__) if open_parts else total
            changed |= pick not in hidden
            hidden.add(pick)


def determined(cons: Sequence[tuple[Hashable, ...]], unknown: Iterable[Hashable]) -> list:
    """The unknown cells that additive constraints ``(total, *parts)`` fix, in order.

    An attacker knows every shown cell; the unknowns are what the constraints leave. A cell is
    determined when every direction in the null space of the constraint matrix (in the
    unknowns) leaves it unchanged. Cells may be any hashable, so the check also spans tables.
    """
    unknown = set(unknown)
    order = [k for k in dict.fromkeys(k for con in cons for k in con) if k in unknown]
    if not order:
        return []
    col = {k: j for j, k in enumerate(order)}
    a = np.zeros((len(cons), len(order)))
    for i, con in enumerate(cons):
        for n, k in enumerate(con):
            if k in col:
                a[i, col[k]] += 1.0 if n == 0 else -1.0
    _, sv, vt = np.linalg.svd(a)
    rank = int(np.sum(sv > 1e-9 * max(1.0, sv.max(initial=0.0))))
    free = np.abs(vt[rank:]).max(axis=0, initial=0.0) > 1e-8
    return [k for k, f in zip(order, free, strict=True) if not f]


def _pinned(cons: list[tuple[Cell, ...]], values: dict, hidden: set) -> list[Cell]:
    """Suppressed cells the constraints determine; unknowns are the suppressed and NA cells.
    All suppressed counts are positive, so a cell that can move at all can move both ways
    within counts >= 0."""
    cells = dict.fromkeys(k for con in cons for k in con)
    unknown = [k for k in cells if k in hidden or math.isnan(values[k])]
    return [k for k in determined(cons, unknown) if k in hidden]


def suppression_mask(table: pd.DataFrame, spec: TableSpec, threshold: int = 5) -> pd.DataFrame:
    """Cells to suppress (True), for count and derived columns; labels are never suppressed.

    Primary: counts 1..`threshold` (0 is a true zero and stays). Secondary: every additive
    constraint (total and its parts) must hold 0 or >= 2 suppressed cells, so that no
    suppressed cell is the difference of a shown total and shown parts. Until stable, a
    constraint with exactly one suppressed cell also loses its smallest positive unsuppressed
    part (ties: first in order), else its total; rules are visited column totals first, row
    by row, then row totals, column by column. This is stronger than the older DfE rule
    ("suppress the next smallest cell if it is under 20"), which can leave a cell recoverable.
    Constraints holding an NA count are skipped: the missing cell already hides the difference.
    The rule alone can still leave a cell determined through a chain of constraints (two
    suppressed 2x2 blocks joined by one cell); such a cell also costs the smallest positive
    shown count that frees it, and the rule is applied again.
    Derived cells are suppressed when any source (same-row column or other-row cell) is.
    """
    values = _validate(table, spec)
    hidden = {k for k, v in values.items() if 1 <= v <= threshold} | set(spec.suppress)
    cons = _constraints(spec, table.index)
    known = [con for con in cons if not any(math.isnan(values[k]) for k in con)]
    while True:
        _at_least_two(known, values, hidden)
        if not (pinned := _pinned(cons, values, hidden)):
            break
        # Candidates: positive shown counts, smallest first (ties: constraint order).
        cells = dict.fromkeys(k for con in known for k in con)
        candidates = sorted((k for k in cells if k not in hidden and values[k] > 0),
                            key=values.__getitem__)
        if not candidates:  # cannot happen: a pinned cell would equal a sum of zeros
            raise DisclosureError(f"cannot protect {pinned[0]!r}")
        hidden.add(next((k for k in candidates
                         if pinned[0] not in _pinned(cons, values, hidden | {k})),
                        candidates[0]))
    changed = True
    while changed:  # derived columns may build on derived columns
        changed = False
        for col in spec.derived:
            for r in table.index:
                if (r, col) not in hidden and any(s in hidden for s in _sources(spec, r, col)):
                    hidden.add((r, col))
                    changed = True
    mask = pd.DataFrame(False, index=table.index, columns=table.columns)
    for r, c in hidden:
        mask.at[r, c] = True
    return mask


def protect(table: pd.DataFrame, spec: TableSpec, threshold: int = 5) -> pd.DataFrame:
    """Publishable object-dtype copy of `table`; the input is never modified.

    Suppressed cells show ``c``; counts are Python ints (NA -> ``:``); derived values are
    fixed-point strings with `spec.decimals` places (default 1), ``:`` when a source count is
    NA and ``z`` when otherwise NaN/inf (e.g. 0/0). Raises DisclosureError for bad input.
    """
    mask = suppression_mask(table, spec, threshold)
    out = table.astype(object)  # a copy
    for col in spec.counts:
        for r, v in table[col].items():
            out.at[r, col] = (SUPPRESSED if mask.at[r, col]
                              else NOT_AVAILABLE if pd.isna(v) else int(v))
    for col in spec.derived:
        try:
            vals = pd.to_numeric(table[col]).to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as e:
            raise DisclosureError(f"derived column {col!r} is not numeric") from e
        d = spec.decimals.get(col, 1)
        for r, v in zip(table.index, vals, strict=True):
            na_source = any(c in spec.counts and pd.isna(table.at[s, c])
                            for s, c in _sources(spec, r, col))
            out.at[r, col] = (SUPPRESSED if mask.at[r, col] else NOT_AVAILABLE if na_source
                              else NOT_APPLICABLE if not math.isfinite(v) else f"{v:.{d}f}")
    return out


def check(published: pd.DataFrame, spec: TableSpec, threshold: int = 5) -> list[str]:
    """Problems found in a published table (empty list = safe), e.g. a CSV read with dtype=str.

    Independent of `protect`: it reads only the symbols shown. Flags undeclared or missing
    columns, count cells showing 1..`threshold` or no readable value, constraints with exactly
    one ``c`` (and no ``:``), and derived values shown although a source is ``c``. Row labels
    are matched as given or by their string form (a CSV round trip turns 2021 into "2021").
    """
    declared = [*spec.counts, *spec.derived, *spec.labels]
    problems = [f"column {c!r} is not declared in the spec: it could leak suppressed counts"
                for c in published.columns if c not in declared]
    problems += [f"declared column {c!r} is missing" for c in declared
                 if c not in published.columns]
    rows = {str(r): r for r in published.index} | {r: r for r in published.index}
    wanted = [r for t, ps in spec.row_totals for r in (t, *ps)]
    wanted += [s[0] for ss in spec.derived.values() for s in ss if isinstance(s, tuple)]
    problems += [f"row {r!r} named in the spec is missing" for r in dict.fromkeys(wanted)
                 if r not in rows and str(r) not in rows]

    def shown(cell: Cell) -> str | None:  # the published text, None if the cell is absent
        r, c = rows.get(cell[0], rows.get(str(cell[0]))), cell[1]
        if r is None or c not in published.columns:
            return None
        v = published.at[r, c]
        return "" if pd.isna(v) else str(v).strip()

    for c in (c for c in spec.counts if c in published.columns):
        for r in published.index:
            t = shown((r, c))
            if t in (SUPPRESSED, NOT_AVAILABLE):
                continue
            try:
                v = float(t)
            except ValueError:
                problems.append(f"count ({r!r}, {c!r}) shows {t!r}, not a count or symbol")
                continue
            if 1 <= v <= threshold:
                problems.append(f"count ({r!r}, {c!r}) shows {t}, in 1..{threshold}")
    cons = _constraints(spec, published.index)
    lone = set()
    for total, *parts in cons:
        texts = [shown(k) for k in (total, *parts)]
        # A ':' cell hides the difference as well as a 'c' does.
        if None in texts or NOT_AVAILABLE in texts or texts.count(SUPPRESSED) != 1:
            continue
        lone.add(cell := (total, *parts)[texts.index(SUPPRESSED)])
        problems.append(f"{cell!r} is the only 'c' in total {total!r} = sum of {parts!r}: "
                        "it can be recovered by subtraction")
    # Chains of constraints can pin a 'c' that no single constraint gives away.
    texts = {k: shown(k) for con in cons for k in con}
    values = {k: math.nan if t in (NOT_AVAILABLE, None) else 0.0 for k, t in texts.items()}
    hidden = {k for k, t in texts.items() if t == SUPPRESSED}
    problems += [f"{cell!r} is 'c' but the shown totals and parts determine it"
                 for cell in _pinned(cons, values, hidden) if cell not in lone]
    for col in (c for c in spec.derived if c in published.columns):
        for r in published.index:
            if shown((r, col)) in (SUPPRESSED, NOT_AVAILABLE, NOT_APPLICABLE):
                continue
            if hit := [s for s in _sources(spec, r, col) if shown(s) == SUPPRESSED]:
                problems.append(f"derived ({r!r}, {col!r}) is shown but its source {hit[0]!r} "
                                "is suppressed")
    return problems
