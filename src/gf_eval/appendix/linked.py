"""Disclosure control across the tables of one appendix part.

Several tables may count the same units (a period total in one is a sum of years in another; a
step-up count is a sum of transition cells). Each table alone passes disclosure control, but
together they could give away a suppressed count, so they are protected jointly: the published
cells of all tables, their own totals and the links between them form one linear system, and a
shown cell is withheld until no suppressed cell is determined by it. A withheld cell joins its
spec's `suppress` cells, so it shows as 'c'.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from gf_eval.appendix.publish import Table
from gf_eval.disclosure import TableSpec, determined, suppression_mask

Cell = tuple[str, str, str]  # (table name, row label, column)
WITHHELD_NOTE = ("'c' also marks a count suppressed because, together with another table of "
                 "this appendix, it would reveal a suppressed count.")  # fmt: skip


def spec_constraints(name: str, spec: TableSpec, index) -> list[tuple[Cell, ...]]:
    """(total, *parts) cells of a table's declared totals, as in gf_eval.disclosure."""
    cons = [((name, r, t), *((name, r, p) for p in ps)) for r in index
            for t, ps in spec.column_totals]  # fmt: skip
    cons += [((name, t, c), *((name, p, c) for p in ps)) for c in spec.counts
             for t, ps in spec.row_totals]  # fmt: skip
    return cons


def _determined(cons: list[tuple[Cell, ...]], unknown: set[Cell]) -> set[Cell]:
    return set(determined(cons, unknown))


def _linked_to(cell: Cell, cons: list[tuple[Cell, ...]], unknown: set[Cell]) -> list[Cell]:
    """Cells sharing a constraint with `cell`, or with an unknown cell so reached, in order."""
    seen, todo = {cell: None}, [cell]
    while todo:
        k = todo.pop(0)
        for con in (c for c in cons if k in c):
            for j in con:
                if j not in seen:
                    seen[j] = None
                    if j in unknown:
                        todo.append(j)
    return list(seen)


def _withhold(table: Table, cells: set[Cell]) -> Table:
    rows, cols = list(table.frame.index), list(table.frame.columns)
    # sorted by position: set order varies with hash seeds, and the sidecar must not
    mine = sorted(((r, c) for n, r, c in cells if n == table.name),
                  key=lambda k: (rows.index(k[0]), cols.index(k[1])))  # fmt: skip
    if not mine:
        return table
    spec = replace(table.spec, suppress=tuple(dict.fromkeys((*table.spec.suppress, *mine))))
    notes = table.notes if WITHHELD_NOTE in table.notes else (*table.notes, WITHHELD_NOTE)
    return replace(table, spec=spec, notes=notes)


def protect_linked(tabs: list[Table], links: list[tuple[Cell, ...]], threshold: int,
                   headline: tuple[str, ...] = ()) -> list[Table]:  # fmt: skip
    """`tabs` with a few small shown counts also suppressed (spec.suppress) so that no count suppressed by
    `suppression_mask` can be worked out from all the tables together; `links` are
    (total, *parts) relations between cells of different tables. Counts of the `headline`
    tables are withheld only when no other count will do."""
    withheld: set[Cell] = set()
    while True:
        current = [_withhold(t, withheld) for t in tabs]
        cons, values, unknown, suppressed = list(links), {}, set(), set()
        for t in current:
            mask = suppression_mask(t.frame, t.spec, threshold)
            cons += spec_constraints(t.name, t.spec, t.frame.index)
            for c in t.spec.counts:
                for r, v in t.frame[c].items():
                    cell = (t.name, r, c)
                    values[cell] = np.nan if pd.isna(v) else float(v)
                    if mask.at[r, c]:
                        suppressed.add(cell)
        unknown = suppressed | {k for k, v in values.items() if np.isnan(v)}
        # withheld cells are in `suppressed` through the mask; they must not be chosen again
        order = list(dict.fromkeys(k for con in cons for k in con))
        fixed = _determined(cons, unknown)  # one decomposition per round, not one per cell
        pinned = [k for k in order if k in suppressed and k in fixed]
        if not pinned:
            return current
        # Withhold a shown count linked to the first pinned cell through unknown cells: the
        # smallest that frees it, trying the headline tables last (else the first such count).
        near = _linked_to(pinned[0], cons, unknown)
        shown = sorted((k for k in near if k not in unknown and values[k] > 0),
                       key=lambda k: (k[0] in headline, values[k]))  # fmt: skip
        if not shown:
            raise RuntimeError(f"cannot protect {pinned[0]!r} across tables")
        withheld.add(
            next((k for k in shown if pinned[0] not in _determined(cons, unknown | {k})), shown[0])
        )
