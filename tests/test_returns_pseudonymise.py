"""Pseudonymisation and the period cut, by hand calculation, and the import commands."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pandas as pd
import pytest

from gf_eval.cli import main
from gf_eval.config import Calendar
from gf_eval.extracts import EXTRACTS
from gf_eval.returns import ReturnError, compose, period
from gf_eval.returns.pseudonymise import load_key, pseudonymise, pseudonyms, write_extract
from gf_eval.validation.identifiers import find_identifiers

KEY = b"0123456789abcdef-test-key"


def _hand(kind: str, text: str, prefix: str, length: int) -> str:
    digest = hmac.new(KEY, f"{kind}\x1f{text}".encode(), hashlib.sha256).digest()
    return prefix + base64.b32encode(digest).decode()[:length]


def test_a_pseudonym_is_the_keyed_hash_of_the_normalised_value():
    got = pseudonyms(KEY, "child", pd.Series(["DN0001234", " dn0001234 "]))
    assert got.tolist() == [_hand("child", "dn0001234", "C", 9)] * 2
    assert len(got[0]) == 10  # the contract's limit for child_id
    family = pseudonyms(KEY, "family", pd.Series(["FAM 001"]))[0]
    assert family == _hand("family", "fam 001", "F", 16)
    # each part of a composite key is normalised on its own
    part = pseudonyms(KEY, "episode", pd.Series([compose(" DN1 ", "2015-09-01")]))[0]
    assert part == _hand("episode", "dn1\x1f2015-09-01", "R", 16)


def test_kinds_and_keys_give_different_pseudonyms():
    value = pd.Series(["X1"])
    assert pseudonyms(KEY, "child", value)[0][1:] != pseudonyms(KEY, "family", value)[0][1:10]
    assert pseudonyms(KEY, "family", value)[0] != pseudonyms(b"another-key-of-16b", "family",
                                                             value)[0]  # fmt: skip


def _tables() -> dict[str, pd.DataFrame]:
    children = pd.DataFrame({"child_id": ["DN1", "DN2"], "family_id": ["FAM1", "FAM1"],
                             "gender": ["1", "2"], "ethnicity": ["WBRI", None],
                             "forename": ["Jane", "John"]})  # fmt: skip
    looked_after = pd.DataFrame({"child_id": ["dn2"],
                                 "became_looked_after": pd.to_datetime(["2015-01-01"])})
    return {"cs_children": children, "cs_looked_after": looked_after}


def test_pseudonymise_keeps_the_contract_columns_and_the_links():
    out = pseudonymise(_tables(), KEY)
    assert list(out["cs_children"].columns) == list(EXTRACTS["cs_children"].columns)
    assert "forename" not in out["cs_children"].columns
    # the same child, written differently in two returns, is one child
    assert out["cs_looked_after"]["child_id"][0] in set(out["cs_children"]["child_id"])
    assert out["cs_children"]["family_id"].nunique() == 1
    assert not set(out["cs_children"]["child_id"]) & {"DN1", "DN2"}
    # rows are in pseudonym order, not the source's
    assert out["cs_children"]["child_id"].is_monotonic_increasing


def test_pseudonymise_refuses_a_missing_column_or_key():
    tables = _tables()
    with pytest.raises(ReturnError, match="no column ethnicity"):
        pseudonymise({"cs_children": tables["cs_children"].drop(columns="ethnicity")}, KEY)
    tables["cs_children"].loc[1, "child_id"] = " "
    with pytest.raises(ReturnError, match=r"cs_children.child_id: 1 rows have no identifying"):
        pseudonymise(tables, KEY)


def test_the_extract_is_byte_identical_for_the_same_key(tmp_path):
    a = write_extract(pseudonymise(_tables(), KEY), tmp_path / "a")
    b = write_extract(pseudonymise(_tables(), KEY), tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    c = write_extract(pseudonymise(_tables(), b"a-different-16-byte-key"), tmp_path / "c")
    assert a[0].read_bytes() != c[0].read_bytes()


@pytest.mark.parametrize(
    "content, message",
    [(None, "not found"), (b"", "empty"), (b"  \n", "empty"), (b"short-key", "too short")],
)  # fmt: skip
def test_a_key_file_that_is_missing_empty_or_short_is_refused(tmp_path, content, message):
    path = tmp_path / "gf.key"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ReturnError, match=message) as err:
        load_key(path, environ={})
    assert "short-key" not in str(err.value)


def test_the_key_comes_from_the_file_or_environment_and_never_the_config(tmp_path):
    path = tmp_path / "gf.key"
    path.write_bytes(KEY + b"\n")
    assert load_key(None, environ={"GF_EVAL_KEY_FILE": str(path)}) == KEY
    assert load_key(None, environ={"GF_EVAL_KEY": KEY.decode()}) == KEY
    with pytest.raises(ReturnError, match="no pseudonymisation key"):
        load_key(None, environ={})


CAL = Calendar(*(pd.Timestamp(d) for d in ("2011-04-01", "2012-04-01", "2017-03-31",
                                           "2015-09-01", "2016-12-31")))  # fmt: skip


def _d(*days):
    return pd.to_datetime(list(days))


def test_the_period_cut_follows_section_1_2_by_hand():
    referrals = pd.DataFrame({
        "referral_id": ["early", "in", "late"], "child_id": ["a", "a", "a"],
        "referral_date": _d("2011-03-31", "2017-01-10", "2017-04-01"),
        "referral_source": ["6", "6", "6"], "primary_need": ["N1"] * 3,
        "age_at_referral": [3, 9, 9], "closure_date": _d("2011-05-01", "2017-05-01", None),
        "closure_reason": ["RC8", "RC8", None]})  # fmt: skip
    assessments = pd.DataFrame({
        "assessment_id": ["x", "y", "z"], "referral_id": ["early", "in", "in"],
        "start_date": _d("2011-04-02", "2017-01-12", "2017-04-02"),
        "authorised_date": _d("2011-04-20", "2017-04-20", None)})  # fmt: skip
    factors = pd.DataFrame({"assessment_id": ["x", "y"], "factor": ["3B", "3B"]})
    plans = pd.DataFrame({"plan_id": ["p"], "referral_id": ["in"],
                          "start_date": _d("2017-02-01"), "end_date": _d("2017-06-01"),
                          "category": ["EMO"]})  # fmt: skip
    marac = pd.DataFrame({"case_id": ["m1", "m2"], "referral_date": _d("2017-03-20", "2016-01-01"),
                          "meeting_date": _d("2017-04-03", "2016-01-10")})  # fmt: skip
    out = period.as_at({"cs_referrals": referrals, "cs_assessments": assessments,
                        "cs_factors": factors, "cs_cp_plans": plans, "marac_cases": marac}, CAL)
    r = out["cs_referrals"]
    assert r["referral_id"].tolist() == ["in"]
    assert r["closure_date"].isna().all() and r["closure_reason"].isna().all()
    a = out["cs_assessments"]
    assert a["assessment_id"].tolist() == ["y"] and a["authorised_date"].isna().all()
    assert out["cs_factors"].empty  # y was not authorised by data_end
    assert out["cs_cp_plans"]["end_date"].isna().all()
    assert out["marac_cases"]["case_id"].tolist() == ["m2"]


def test_casework_closed_after_the_data_end_is_open_with_no_closure_measures():
    cw = pd.DataFrame({"case_id": ["c"], "referral_date": _d("2016-11-01"),
                       "allocation_date": _d("2016-11-05"), "closure_date": _d("2017-05-01"),
                       "closure_reason": ["completed"], "dash_close": [3], "swemwbs_close": [20],
                       "safety_close": [8], "sdq_close": [10]})  # fmt: skip
    out = period.as_at({"casework": cw}, CAL)["casework"]
    assert out["closure_date"].isna().all() and out["closure_reason"].isna().all()
    assert out[["dash_close", "swemwbs_close", "safety_close", "sdq_close"]].isna().all().all()


@pytest.fixture(scope="module")
def small_returns(tmp_path_factory, settings):
    """The synthetic raw returns of a small authority, with their key."""
    from gf_eval.synth import generate
    from gf_eval.synth.returns import write_returns

    small = {**settings, "synthetic": {**settings["synthetic"], "scale": 0.05}}
    tables, truth = generate(small)
    root = tmp_path_factory.mktemp("returns")
    write_returns(tables, truth, small, root / "returns", root / "gf.key", root / "truth.json")
    return root, tables


def test_no_key_no_extract(small_returns, tmp_path, monkeypatch, capsys):
    root, _ = small_returns
    monkeypatch.delenv("GF_EVAL_KEY", raising=False)
    monkeypatch.delenv("GF_EVAL_KEY_FILE", raising=False)
    assert main(["pseudonymise", "all", "--returns", str(root / "returns"),
                 "--out", str(tmp_path / "out")]) == 2  # fmt: skip
    assert "no pseudonymisation key" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_pseudonymised_returns_carry_no_identifier_and_repeat_byte_for_byte(small_returns,
                                                                            tmp_path):  # fmt: skip
    root, tables = small_returns
    args = ["pseudonymise", "all", "--returns", str(root / "returns"),
            "--key-file", str(root / "gf.key")]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    files = sorted((tmp_path / "a").iterdir())
    assert [p.name for p in files] == sorted(e.filename for e in EXTRACTS.values())
    assert all(p.read_bytes() == (tmp_path / "b" / p.name).read_bytes() for p in files)
    for path in files:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert find_identifiers(df) == {}, path.name
    text = "".join(p.read_text() for p in files)
    key = (root / "gf.key").read_text().strip()
    assert key not in text
    for child in tables["cs_children"]["child_id"][:50]:
        assert child not in text  # the generator's own keys are not carried over either


def test_every_key_column_of_the_contract_has_a_kind():
    from gf_eval.returns.pseudonymise import KEY_COLUMNS

    for name, extract in EXTRACTS.items():
        assert set(KEY_COLUMNS[name]) == set(extract.keys), name


def test_import_counts_a_return_and_names_a_bad_one(small_returns, tmp_path, capsys):
    root, tables = small_returns
    assert main(["import", "marac", "--returns", str(root / "returns")]) == 0
    assert f"marac: {len(tables['marac_cases'])} rows for marac_cases" in capsys.readouterr().err
    broken = tmp_path / "returns" / "cin_census"
    broken.mkdir(parents=True)
    (broken / "cin_2017.xml").write_text("<Message><Header>")
    assert main(["import", "cin_census", "--returns", str(tmp_path / "returns")]) == 2
    err = capsys.readouterr().err
    assert "cin_2017.xml" in err and "not well-formed XML" in err
