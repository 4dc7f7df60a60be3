"""The generator's faster steps against the loops they replaced: the same tables from the same
random stream, and the generator left in the same state (what later steps draw depends on it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gf_eval import codes, synth
from gf_eval.extracts import EXTRACTS
from gf_eval.synth import social_care
from gf_eval.synth.series import choose, choose_from_uniforms, numbered, uniforms_ahead
from gf_eval.synth.social_care import CHILDREN_PER_EVENT, OLD_FAMILY, OTHER_FACTORS
from gf_eval.synth.social_care import OTHER_FACTORS_DVA, Pools


def _families_loop(dates, event_type, rng):
    """The loop `_families` replaced: every family tested at every re-referral."""
    days = dates.astype("int64")
    n = days.size
    size = rng.choice(4, size=n, p=CHILDREN_PER_EVENT) + 1
    old = rng.random(n) < OLD_FAMILY
    last = np.zeros(n, dtype=np.int64)
    dva_history = np.zeros(n, dtype=bool)
    family_children, child_birth, child_family, event_children = [], [], [], []
    event_family = np.empty(n, dtype=np.int64)
    types = event_type.tolist()
    for i in range(n):
        d, kind, nf = int(days[i]), types[i], len(family_children)
        known = last[:nf]
        fam = -1
        if kind in ("A", "C"):
            eligible = np.flatnonzero((known >= d - 365) & (known <= d - 7))
            if eligible.size:
                weight = np.where(dva_history[eligible] == (kind == "A"), 4.0, 1.0)
                fam = int(rng.choice(eligible, p=weight / weight.sum()))
            else:
                types[i] = "B" if kind == "A" else "D"
        elif old[i]:
            eligible = np.flatnonzero((known < d - 365) & (known >= d - 1500))
            if eligible.size:
                fam = int(rng.choice(eligible))
        kids = [] if fam < 0 else [c for c in family_children[fam] if d - child_birth[c] < 18 * 365]
        if not kids:
            if kind in ("A", "C"):
                types[i] = "B" if kind == "A" else "D"
            fam = nf
            kids = list(range(len(child_birth), len(child_birth) + int(size[i])))
            child_birth.extend(int(d - rng.integers(0, 17 * 365)) for _ in kids)
            child_family.extend(fam for _ in kids)
            family_children.append(kids)
        last[fam] = d
        dva_history[fam] |= types[i] in ("A", "B")
        event_family[i] = fam
        event_children.append(kids)
    return event_family, types, event_children, child_family, child_birth


def _factors_loop(assessments, rng):
    """The loop `_factors` replaced: one draw call after another, assessment by assessment."""
    rows = []
    dva_codes = np.array(codes.DVA_FACTORS)
    for aid, dva in zip(assessments["assessment_id"], assessments["dva"]):
        if dva:
            found = dva_codes[rng.random(3) < [0.25, 0.85, 0.1]]
            if found.size == 0:
                found = np.array(["3B"])
            table = OTHER_FACTORS_DVA
        elif rng.random() < 0.2:
            rows.append((aid, codes.NO_FACTORS))
            continue
        else:
            found = np.array([], dtype=str)
            table = OTHER_FACTORS
        others = [c for c in table if rng.random() < table[c]]
        if not dva and not others:
            others = [choose(rng, table, 1)[0]]
        rows.extend((aid, str(c)) for c in [*found, *others])
    return pd.DataFrame(rows, columns=["assessment_id", "factor"])


def _events(seed: int, n: int, years: float):
    """n sorted event days over `years` and their types, as simulate_social_care draws them."""
    rng = np.random.default_rng(seed)
    dates = np.sort(np.datetime64("2011-04-01") + rng.integers(0, int(365 * years), n))
    types = rng.choice(np.array(["A", "B", "C", "D"]), n, p=[0.1, 0.3, 0.2, 0.4])
    return dates.astype("datetime64[D]"), types


@pytest.mark.parametrize("margin", [1.0, float("inf")])
@pytest.mark.parametrize("seed, n, years", [(1, 3000, 6), (2, 800, 6), (3, 4000, 2), (4, 1, 1)])
def test_families_are_those_of_the_loop(monkeypatch, margin, seed, n, years):
    # An infinite margin takes numpy's own steps at every re-referral: the fallback agrees too.
    monkeypatch.setattr(social_care, "MARGIN", margin)
    dates, types = _events(seed, n, years)
    rng, ref_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    event_type = types.copy()
    events, children = social_care._families(dates, event_type, rng)
    family, ref_types, kids, child_family, birth = _families_loop(dates, types.copy(), ref_rng)
    assert events["family"].tolist() == family.tolist()
    assert event_type.tolist() == ref_types == events["type"].tolist()
    assert events["children"].tolist() == kids
    assert children["family"].tolist() == child_family
    assert children["birth_day"].tolist() == birth
    assert rng.bit_generator.state == ref_rng.bit_generator.state
    if n > 1:  # the cases re-refer families, recent and old
        assert (np.array(ref_types) == "A").sum() > 10 and len(set(family)) < n * 0.9


def test_pools_pick_what_numpy_choice_picks():
    # Random pools, well beyond one bucket, against rng.choice on the members in order.
    draw = np.random.default_rng(5)
    for trial in range(40):
        n = int(draw.integers(1, 700))
        pools = Pools(n, [0] * n, [False] * n)
        for f in range(n):
            if draw.random() < 0.4:
                pools._recent(f, int(draw.integers(1, 3)))
            if draw.random() < 0.2:
                pools._old(f, 1)
        for f in draw.choice(n, size=n // 5):  # some leave again
            pools._recent(int(f), 0)
        recent = np.flatnonzero(pools.recent)
        old = np.flatnonzero(pools.old)
        rng, ref = np.random.default_rng(trial), np.random.default_rng(trial)
        for _ in range(30):
            for type_a in (True, False):
                picked = pools.pick_recent(rng, type_a, n)
                if recent.size:
                    weight = np.where((pools.recent[recent] == 2) == type_a, 4.0, 1.0)
                    assert picked == ref.choice(recent, p=weight / weight.sum())
                else:
                    assert picked == -1
            picked = pools.pick_old(rng, n)
            assert picked == (ref.choice(old) if old.size else -1)
        assert rng.bit_generator.state == ref.bit_generator.state


@pytest.mark.parametrize("n", [0, 1, 2, 7, 2000])
def test_factors_are_those_of_the_loop(n):
    rng = np.random.default_rng(n)
    assessments = pd.DataFrame({"assessment_id": [f"A{i + 1:07d}" for i in range(n)],
                                "dva": rng.random(n) < 0.4})  # fmt: skip
    ref_rng = np.random.default_rng(11)
    rng = np.random.default_rng(11)
    got, expected = social_care._factors(assessments, rng), _factors_loop(assessments, ref_rng)
    pd.testing.assert_frame_equal(got, expected)
    assert rng.bit_generator.state == ref_rng.bit_generator.state
    if n == 2000:  # every kind of assessment occurs
        assert {codes.NO_FACTORS, "3B", *OTHER_FACTORS} <= set(got["factor"])


def test_uniforms_ahead_leave_the_generator_alone():
    rng, ref = np.random.default_rng(3), np.random.default_rng(3)
    rng.integers(0, 10)  # a buffered 32-bit half is part of the state
    ref.integers(0, 10)
    ahead = uniforms_ahead(rng, 50)
    assert rng.bit_generator.state == ref.bit_generator.state
    assert ahead.tolist() == [ref.random() for _ in range(50)]
    rng.random(50)
    assert rng.bit_generator.state == ref.bit_generator.state


def test_choose_from_uniforms_is_choose():
    table = {"x": 0.5, "y": 0.3, "z": 0.15, "w": 0.06}  # sums to 1.01: choose renormalises
    rng = np.random.default_rng(8)
    u = uniforms_ahead(rng, 500)
    assert choose_from_uniforms(table, u).tolist() == choose(rng, table, 500).tolist()


def _to_csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n").encode()


def test_csv_bytes_are_to_csv_bytes():
    days = np.array(["1969-12-31T12:30", "NaT", "2016-02-29", "1000-01-01"], "datetime64[us]")
    frame = pd.DataFrame({
        "text": pd.array(["a", None, "", "é ü"], dtype="str"),
        "codes": np.array(["3A", None, "21", " x "], dtype=object),
        "count": pd.array([1, None, -30, 10**15], dtype="Int64"),
        "plain": np.array([0, 7, -1, 2**62]),
        "day": days,
        "second": days.astype("datetime64[s]"),
        "nano": np.array(["2262-04-11", "NaT", "1677-09-22", "2000-01-01T23:59"], "datetime64[ns]"),
    })  # fmt: skip
    for df in (frame, frame.iloc[:0], frame[frame["count"].isna()], frame.iloc[:, :2]):
        assert synth.csv_bytes(df) == _to_csv(df)
    # What pandas would quote, or write otherwise, is left to pandas.
    for bad in ({"text": ["a,b", "c"]}, {"text": ['say "hi"', "c"]}, {"text": ["two\nlines", "c"]},
                {"text": ["a\rb", "c"]}, {"number": [1.5, 2.0]}, {"flag": [True, False]},
                {"mixed": np.array(["a", 3], dtype=object)}, {"raw": np.array([b"a", b"b"])},
                {"day": np.array(["0999-12-31", "2000-01-01"], dtype="datetime64[s]")},
                {"zone": pd.to_datetime(["2000-01-01", "2000-01-02"], utc=True)}):  # fmt: skip
        df = pd.DataFrame({**bad, "other": ["x", "y"]})
        assert synth.csv_bytes(df) is None
    assert synth.csv_bytes(pd.DataFrame({"one": ["", "a"]})) is None  # pandas quotes ""
    assert synth.csv_bytes(pd.DataFrame({"a,b": ["x"], "c": ["y"]})) is None


def test_written_extracts_are_to_csv_bytes(generated, raw_dir):
    # Every extract the default generation writes, byte for byte what pandas writes.
    for name, extract in EXTRACTS.items():
        df = generated[0][name]
        public = df[[c for c in df.columns if not c.startswith("_")]]
        assert (raw_dir / extract.filename).read_bytes() == _to_csv(public), name


def test_numbered_is_the_f_string():
    for numbers, width in (([0, 7, 12345, 9999999, 123456789], 7), ([], 5), ([-3, 4], 3)):
        expected = [f"R{x:0{width}d}" for x in numbers]
        got = numbered("R", np.array(numbers, dtype=np.int64), width)
        assert got.tolist() == expected and got.dtype == object
        assert all(type(x) is str for x in got)
