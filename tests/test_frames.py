"""gf_eval.frames against the pandas steps it stands in for."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gf_eval.frames import lookup, sort_order, sort_rows


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "text": pd.array(rng.choice(["b", "a", "ab", "é", "Z", ""], n), dtype="string[pyarrow]"),
        "count": pd.array(rng.integers(-3, 3, n), dtype="Int64"),
        "day": pd.to_datetime("2014-01-01") + pd.to_timedelta(rng.integers(0, 5, n), "D"),
        "key": pd.array([f"K{i:05d}" for i in rng.permutation(n)], dtype="str"),
    }, index=rng.permutation(n) + 7)  # fmt: skip
    for col in ("text", "count", "day"):
        df.loc[rng.random(n) < 0.1, col] = None
    return df


def test_sorts_as_pandas_sorts():
    # pyarrow's sort must give pandas' stable order, missing values last, ties as they came.
    df = _frame(3000, 4)
    for by in (["text", "count", "day"], ["day", "text"], ["count"], [*df.columns]):
        expected = df.sort_values(by, kind="mergesort")
        pd.testing.assert_frame_equal(sort_rows(df, by), expected)
        assert sort_order(df, by).tolist() == [df.index.get_loc(i) for i in expected.index]
    floats = df.assign(x=np.random.default_rng(1).random(len(df)))
    assert sort_order(floats, ["text", "x"]) is None  # NaN sorts otherwise in pyarrow
    expected = floats.sort_values("x", kind="mergesort")
    pd.testing.assert_frame_equal(sort_rows(floats, ["x"]), expected)


def test_lookup_is_a_left_merge_on_a_unique_key():
    table = pd.DataFrame({"id": pd.array(["a", "b", "c", None], dtype="str"),
                          "value": pd.array(["x", None, "z", "w"], dtype="str")})  # fmt: skip
    keys = pd.Series(pd.array(["c", "a", "q", None, "a"], dtype="str"), index=[5, 3, 1, 0, 9])
    merged = keys.rename("id").to_frame().merge(table, on="id", how="left")["value"]
    got = lookup(keys, table, "id", "value")
    assert got.index.tolist() == [5, 3, 1, 0, 9]
    pd.testing.assert_series_equal(got.reset_index(drop=True), merged)
    repeated = pd.concat([table, table.iloc[:1]])  # a merge would repeat the row
    assert lookup(keys, repeated, "id", "value") is None
    assert lookup(keys.astype(object), table, "id", "value") is None
