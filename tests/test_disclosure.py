"""Disclosure control against hand-worked tables and an independent linear-programming attacker."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from gf_eval.disclosure import DisclosureError, TableSpec, check, protect, suppression_mask

c = "c"  # the suppression symbol, so expected grids read like the published table


def grid(interior, rows=None, cols=None) -> tuple[pd.DataFrame, TableSpec]:
    """An interior count table with a Total column, a Total row and a grand total."""
    interior = np.asarray(interior)
    rows = rows or [f"r{i}" for i in range(interior.shape[0])]
    cols = cols or [f"c{j}" for j in range(interior.shape[1])]
    t = pd.DataFrame(interior, index=rows, columns=cols)
    t["Total"] = t.sum(axis=1)
    t.loc["Total"] = t.sum(axis=0)
    spec = TableSpec(counts=(*cols, "Total"), column_totals=(("Total", tuple(cols)),),
                     row_totals=(("Total", tuple(rows)),))
    return t, spec


def expect(rows: dict, columns) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns).astype(object)


def csv_round_trip(published: pd.DataFrame) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(published.to_csv()), index_col=0, dtype=str)


def attack(published: pd.DataFrame) -> dict:
    """Min and max of each 'c' cell of a grid() table, by LP over all of its additive rules.

    Written from the grid layout alone (last column and last row are totals), not from the
    module's constraints: the published values are fixed and suppressed cells are >= 0.
    """
    a = published.to_numpy(dtype=object)
    n_r, n_c = a.shape
    hidden = [(i, j) for i in range(n_r) for j in range(n_c) if a[i, j] == c]
    pos = {cell: n for n, cell in enumerate(hidden)}
    lines = [[(i, j, 1) for j in range(n_c - 1)] + [(i, n_c - 1, -1)] for i in range(n_r)]
    lines += [[(i, j, 1) for i in range(n_r - 1)] + [(n_r - 1, j, -1)] for j in range(n_c)]
    a_eq, b_eq = np.zeros((len(lines), len(hidden))), np.zeros(len(lines))
    for k, line in enumerate(lines):
        for i, j, sign in line:
            if (i, j) in pos:
                a_eq[k, pos[(i, j)]] += sign
            else:
                b_eq[k] -= sign * int(a[i, j])
    out = {}
    for (i, j), n in pos.items():
        e = np.zeros(len(hidden))
        e[n] = 1
        lo = linprog(e, A_eq=a_eq, b_eq=b_eq, bounds=(0, None))
        hi = linprog(-e, A_eq=a_eq, b_eq=b_eq, bounds=(0, None))
        assert lo.status == 0 and hi.status in (0, 3)  # 3: unbounded above
        out[(published.index[i], published.columns[j])] = (
            lo.fun, np.inf if hi.status == 3 else -hi.fun)
    return out


# --- 1. primary suppression ---------------------------------------------------------------------


def test_primary_suppression_keeps_true_zeros_and_counts_above_threshold():
    t = pd.DataFrame({"n": [0, 1, 2, 3, 4, 5, 6, 20]})
    out = protect(t, TableSpec(counts=("n",)))
    assert out["n"].tolist() == [0, c, c, c, c, c, 6, 20]
    assert all(type(v) is int for v in out["n"] if v != c)  # Python ints, not numpy


def test_threshold_is_configurable():
    t = pd.DataFrame({"n": [0, 5, 6, 10, 11]})
    assert protect(t, TableSpec(counts=("n",)), threshold=10)["n"].tolist() == [0, c, c, c, 11]


# --- 2. secondary suppression, worked by hand ---------------------------------------------------


def test_hand_worked_3x3_with_totals():
    # r1/A = 3 is primary. Row r1 then needs a second 'c': its smallest other part is B = 10.
    # Column A needs a second 'c': its smallest other part is r3/A = 8. That leaves row r3
    # (8 alone) and column B (10 alone) each with one 'c'; both pick r3/B = 9 (row r3: 9 < 40;
    # column B: 9 < 25). Every row and column then holds 0 or 2 'c' and the totals stay shown.
    t, spec = grid([[3, 10, 20], [12, 25, 30], [8, 9, 40]], ["r1", "r2", "r3"], ["A", "B", "C"])
    assert t.loc["Total"].tolist() == [23, 44, 90, 157]
    want = expect({"r1": [c, c, 20, 33], "r2": [12, 25, 30, 67], "r3": [c, c, 40, 57],
                   "Total": [23, 44, 90, 157]}, ["A", "B", "C", "Total"])
    pd.testing.assert_frame_equal(protect(t, spec), want)


def test_small_margin_knocks_on_to_the_total_row():
    # Column A holds 2, 0, 1 with total 3: all three are primary (0 stays). Rows r1 and r3 and
    # the Total row each hold one 'c', so each loses its smallest positive other part: column B
    # (10 < 20, 25 < 40, 50 < 90). Column B then holds three 'c' and needs nothing more.
    t, spec = grid([[2, 10, 20], [0, 15, 30], [1, 25, 40]], ["r1", "r2", "r3"], ["A", "B", "C"])
    want = expect({"r1": [c, c, 20, 32], "r2": [0, 15, 30, 45], "r3": [c, c, 40, 66],
                   "Total": [c, c, 90, 143]}, ["A", "B", "C", "Total"])
    pd.testing.assert_frame_equal(protect(t, spec), want)


def test_total_is_suppressed_when_no_positive_part_is_left():
    # r1/A = 3 primary -> row r1 takes B = 7; column A takes r2/A = 8. Column B now holds
    # 7 (c) and 0 only, so its total (7) goes; row r2 holds 8 (c) and 0, so its total (8)
    # goes. Then the Total row has one 'c' (B) and takes A = 11; the Total column has one 'c'
    # (r2) and takes r1 = 10. Grand total 18 stays: every rule now has 0 or >= 2 'c'.
    t, spec = grid([[3, 7], [8, 0]], ["r1", "r2"], ["A", "B"])
    want = expect({"r1": [c, c, c], "r2": [c, 0, c], "Total": [c, c, 18]}, ["A", "B", "Total"])
    published = protect(t, spec)
    pd.testing.assert_frame_equal(published, want)
    assert all(hi - lo >= 1 for lo, hi in attack(published).values())


def test_cell_pinned_by_a_chain_of_rules_gets_an_extra_suppression():
    # Primaries (2) at r0/c0, r0/c2, r1/c1, r2/c2, r3/c3. The ">= 2 per rule" fixed point adds
    # r1/c0 = 6, r2/c3 = 6, r3/c2 = 6 and r0/c1 = 7: two suppressed 2x2 blocks joined by r0/c2.
    # Every rule then holds 0 or >= 2 'c', yet r0/c2 is recoverable: row r1 gives
    # r1c0 + r1c1 = 98 - 90 = 8, column c0 gives r0c0 + r1c0 = 78 - 70 = 8 and column c1
    # r0c1 + r1c1 = 79 - 70 = 9, so r0c0 + r0c1 = 9 and row r0 gives r0c2 = 41 - 30 - 9 = 2.
    t, spec = grid([[2, 7, 2, 30], [6, 2, 40, 50], [30, 40, 2, 6], [40, 30, 6, 2]])
    leaky = t.astype(object)
    for cell in [("r0", "c0"), ("r0", "c1"), ("r0", "c2"), ("r1", "c0"), ("r1", "c1"),
                 ("r2", "c2"), ("r2", "c3"), ("r3", "c2"), ("r3", "c3")]:
        leaky.at[cell] = c
    lo, hi = attack(leaky)[("r0", "c2")]
    assert lo == pytest.approx(2) and hi == pytest.approx(2)
    problems = check(leaky, spec)
    assert len(problems) == 1 and "('r0', 'c2')" in problems[0]
    # The smallest shown counts are 30 (r0/c3, r2/c0, r3/c1); the first in order, r0/c3,
    # closes the cycle r0-c3-r2-c2 through r0/c2.
    want = leaky.copy()
    want.at["r0", "c3"] = c
    want = want.map(lambda v: v if v == c else int(v)).astype(object)
    published = protect(t, spec)
    pd.testing.assert_frame_equal(published, want)
    assert all(hi - lo >= 1 for lo, hi in attack(published).values())


# --- 3. derived values and symbols --------------------------------------------------------------


def test_derived_values_follow_their_sources():
    t = pd.DataFrame(
        {"la": ["North", "South", "East", "West", "England"],
         "referrals": [3, 40, 57, 0, 100], "repeat": [0, 0, 4, 0, 4],
         "children": [1000, 2000, 3000, 0, 6000]},
        index=["LA1", "LA2", "LA3", "LA4", "Total"])
    t["rate"] = t["referrals"] / t["children"] * 10_000
    t["share_repeat"] = t["repeat"] / t.at["Total", "repeat"] * 100
    spec = TableSpec(counts=("referrals", "repeat", "children"),
                     derived={"rate": ("referrals", "children"),
                              "share_repeat": ("repeat", ("Total", "repeat"))},
                     row_totals=(("Total", ("LA1", "LA2", "LA3", "LA4")),),
                     decimals={"rate": 2}, labels=("la",))
    out = protect(t, spec)
    # Referrals: LA1 = 3 is primary, the column total forces the smallest positive other LA
    # (LA2 = 40; LA4 = 0 does not count). Repeat: LA3 and the Total row are both 4.
    assert out["referrals"].tolist() == [c, c, 57, 0, 100]
    assert out["repeat"].tolist() == [0, 0, c, 0, c]
    # Rates of LA1 and LA2 rest on suppressed referrals; LA4 is 0/0; 100/6000*1e4 = 166.666..
    assert out["rate"].tolist() == [c, c, "190.00", "z", "166.67"]
    # Every share divides by the suppressed Total-row repeat count, even LA1's 0.
    assert out["share_repeat"].tolist() == [c] * 5
    assert out["la"].tolist() == t["la"].tolist()
    assert check(csv_round_trip(out), spec) == []


def test_missing_counts_show_colon_and_undefined_rates_show_z():
    t = pd.DataFrame({"n": pd.array([None, 7, 0, 8], dtype="Int64"),
                      "d": pd.array([10, 0, 0, 16], dtype="Int64")})
    t["rate"] = pd.Series([np.nan, np.inf, np.nan, 0.5])
    out = protect(t, TableSpec(counts=("n", "d"), derived={"rate": ("n", "d")}))
    assert out["n"].tolist() == [":", 7, 0, 8]
    # 7/0 and 0/0 are not applicable; a rate on a missing count is itself not available.
    assert out["rate"].tolist() == [":", "z", "z", "0.5"]


def test_suppression_mask_shape_and_labels():
    t, spec = grid([[3, 10], [12, 25]])
    t.insert(0, "name", ["a", "b", "total"])
    spec = TableSpec(counts=spec.counts, column_totals=spec.column_totals,
                     row_totals=spec.row_totals, labels=("name",))
    mask = suppression_mask(t, spec)
    assert mask.index.equals(t.index) and mask.columns.equals(t.columns)
    assert mask.dtypes.eq(bool).all() and not mask["name"].any()
    # 3 is primary; 2x2 interior: its row, column and the opposite cell follow by hand.
    assert mask[["c0", "c1"]].to_numpy().tolist() == [[True, True], [True, True], [False, False]]


# --- 4. an independent attacker -----------------------------------------------------------------


def test_no_suppressed_cell_is_recoverable_in_random_tables():
    rng = np.random.default_rng(20240517)
    n_suppressed = 0
    for _ in range(200):
        shape = (int(rng.integers(2, 7)), int(rng.integers(2, 6)))
        kind = rng.choice(3, size=shape, p=[0.45, 0.2, 0.35])  # many small values and zeros
        interior = np.select([kind == 0, kind == 1], [rng.integers(0, 6, shape),
                                                     rng.integers(6, 16, shape)],
                             rng.integers(0, 80, shape))
        t, spec = grid(interior)
        published = protect(t, spec)
        counts = published.to_numpy(dtype=object)
        assert not any(v != c and 1 <= v <= 5 for v in counts.ravel())
        assert ((counts == c) | (counts == t.to_numpy())).all()  # shown values are the truth
        assert check(csv_round_trip(published), spec) == []
        for cell, (lo, hi) in attack(published).items():
            # Tables with margins are network flows: LP bounds are whole numbers, so a range
            # below 1 would pin the count.
            assert hi - lo >= 1 - 1e-7, (cell, lo, hi, published)
            n_suppressed += 1
    assert n_suppressed > 1000  # the draw does exercise secondary suppression


def test_attacker_recovers_a_lone_suppressed_cell():
    # Guards the attacker itself: with primary suppression only, 3 = 33 - 10 - 20.
    t, _ = grid([[3, 10, 20], [12, 25, 30]])
    leaky = t.astype(object)
    leaky.at["r0", "c0"] = c
    assert attack(leaky) == {("r0", "c0"): (pytest.approx(3), pytest.approx(3))}


# --- 5. check() -------------------------------------------------------------------------------


def test_check_flags_a_lone_c_a_visible_small_count_and_an_undeclared_column():
    t, spec = grid([[30, 10, 20], [12, 25, 30]])
    pub = csv_round_trip(protect(t, spec))
    assert check(pub, spec) == []
    lone = pub.copy()
    lone.at["r0", "c1"] = c  # row r0 and column c1 each hold this one 'c' with totals shown
    problems = check(lone, spec)
    assert len(problems) == 2 and all("('r0', 'c1')" in p for p in problems)
    small = pub.copy()
    small.at["r1", "c0"] = "3"
    assert check(small, spec) == ["count ('r1', 'c0') shows 3, in 1..5"]
    extra = pub.assign(notes="x")
    assert len(check(extra, spec)) == 1 and "'notes'" in check(extra, spec)[0]


def test_check_flags_a_derived_value_shown_on_a_suppressed_source():
    spec = TableSpec(counts=("n", "d"), derived={"rate": ("n", "d")})
    pub = pd.DataFrame({"n": ["c", "40"], "d": ["100", "200"], "rate": ["3.0", "20.0"]})
    problems = check(pub, spec)
    assert len(problems) == 1 and "(0, 'rate')" in problems[0]
    assert check(pub.assign(rate=["c", "20.0"]), spec) == []


# --- 6. bad input -------------------------------------------------------------------------------


def test_negative_or_fractional_counts_are_refused():
    spec = TableSpec(counts=("n", "m"))
    with pytest.raises(DisclosureError, match=r"'m'.*1 row"):
        protect(pd.DataFrame({"n": [1, 2], "m": [3, -1]}), spec)
    with pytest.raises(DisclosureError, match="'n'"):
        protect(pd.DataFrame({"n": [1.5, 2.0], "m": [3, 1]}), spec)


def test_totals_that_do_not_add_up_are_refused():
    t, spec = grid([[10, 20], [30, 40]])
    bad = t.copy()
    bad.loc[["r0", "r1"], "Total"] += 1  # the Total column now breaks in two rows
    with pytest.raises(DisclosureError, match=r"column total 'Total'.*2 row"):
        protect(bad, spec)
    bad = t.copy()
    bad.at["Total", "c1"] += 1  # column c1 no longer sums; neither does the Total row
    with pytest.raises(DisclosureError, match="'Total'"):
        protect(bad, spec)
    spec_rows = TableSpec(counts=("c0", "c1"), row_totals=(("Total", ("r0", "r1")),))
    with pytest.raises(DisclosureError, match=r"row total 'Total'.*1 count column"):
        protect(bad.drop(columns="Total"), spec_rows)


def test_spec_naming_unknown_columns_or_rows_is_refused():
    t = pd.DataFrame({"n": [10, 20]}, index=["a", "b"])
    with pytest.raises(DisclosureError, match="'missing'"):
        protect(t, TableSpec(counts=("n", "missing")))
    with pytest.raises(DisclosureError, match="'zz'"):
        protect(t, TableSpec(counts=("n",), row_totals=(("zz", ("a", "b")),)))
    with pytest.raises(DisclosureError, match="'extra'"):
        protect(t.assign(extra=1), TableSpec(counts=("n",)))


# --- 7. no mutation -----------------------------------------------------------------------------


def test_protect_does_not_mutate_its_input():
    t, spec = grid([[3, 10, 20], [12, 25, 30], [8, 9, 40]])
    before = t.copy(deep=True)
    protect(t, spec)
    suppression_mask(t, spec)
    pd.testing.assert_frame_equal(t, before)


def test_cells_listed_in_suppress_are_suppressed_and_protected_like_small_counts():
    # 40 + 30 = 70: nothing is small, but (r, a) is to be suppressed for another table's sake,
    # so (r, b) must go too or 70 - 30 would give it away.
    frame = pd.DataFrame({"a": [40], "b": [30], "t": [70]}, index=["r"])
    spec = TableSpec(counts=("a", "b", "t"), column_totals=(("t", ("a", "b")),),
                     suppress=(("r", "a"),))  # fmt: skip
    out = protect(frame, spec)
    assert out.loc["r"].tolist() == ["c", "c", 70]
    with pytest.raises(DisclosureError, match="not count cells"):
        protect(frame, TableSpec(counts=("a", "b", "t"), suppress=(("x", "a"),)))
