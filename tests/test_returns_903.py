"""The SSDA903 import (`gf_eval.returns.ssda903`) and the synthetic 903 return it reads."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from gf_eval import synth
from gf_eval.config import Calendar, load_config, synth_settings
from gf_eval.returns import ReturnError
from gf_eval.returns.ssda903 import TABLES, read_ssda903
from gf_eval.synth.returns.identities import identities
from gf_eval.synth.returns.ssda903 import collection_year, write_ssda903

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "returns" / "ssda903"
SAMPLE = DATA / "liiatools_SSDA903_2020_episodes.csv"
EPISODES = ",".join(TABLES["episodes"])
# Identifying values written into the bad files: none may appear in a message.
SECRET_CHILD = "SECRET9876"
SECRET_POST = "ZZ9 9ZQ"


def frame(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "child_id": pd.Series([c for c, _ in rows], dtype=str),
            "became_looked_after": pd.Series(pd.to_datetime([d for _, d in rows])).astype(
                "datetime64[us]"
            ),
        }
    )


def test_hand_made_files_give_one_row_per_start():
    got = read_ssda903(sorted(DATA.glob("SSDA903_*.csv")))["cs_looked_after"]
    # A001: two periods (the P episode is no start); 0042: one start, repeated in 2016, kept
    # as text with its leading zeros; the L episode is no start either.
    expected = frame([("0042", "2015-03-15"), ("A001", "2014-05-01"), ("A001", "2015-02-20")])
    pd.testing.assert_frame_equal(got, expected)
    assert list(got.columns) == ["child_id", "became_looked_after"]


def test_a_folder_and_any_order_of_files_give_the_same_table(caplog):
    files = sorted(DATA.glob("*.csv"))  # the hand-made files and the public sample
    with caplog.at_level(logging.INFO, logger="gf_eval.returns.ssda903"):
        from_folder = read_ssda903(DATA)["cs_looked_after"]
    pd.testing.assert_frame_equal(from_folder, read_ssda903(files[::-1])["cs_looked_after"])
    assert "SSDA903_2016_header.csv" in caplog.text and "ignored" in caplog.text


def test_header_file_is_not_taken_for_episodes_whatever_its_name(tmp_path):
    (tmp_path / "SSDA903_2016_episodes.csv").write_bytes(
        (DATA / "SSDA903_2016_header.csv").read_bytes()
    )
    with pytest.raises(ReturnError, match="none of the 1 files is an episodes table"):
        read_ssda903([tmp_path / "SSDA903_2016_episodes.csv"])
    renamed = tmp_path / "whatever.csv"
    renamed.write_bytes((DATA / "SSDA903_2015_episodes.csv").read_bytes())
    assert len(read_ssda903([renamed])["cs_looked_after"]) == 3


def test_public_sample_imports_with_its_count_of_starts():
    with SAMPLE.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    starts = {(r["CHILD"], r["DECOM"]) for r in rows if r["RNE"] == "S"}
    got = read_ssda903([SAMPLE])["cs_looked_after"]
    assert len(got) == len(starts) > 0
    assert set(zip(got["child_id"], got["became_looked_after"].dt.strftime("%d/%m/%Y"))) == starts


def test_byte_order_mark_and_extra_columns_are_accepted(tmp_path):
    text = (DATA / "SSDA903_2015_episodes.csv").read_text(encoding="utf-8")
    lines = [line + ",extra" for line in text.splitlines()]
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    assert len(read_ssda903([path])["cs_looked_after"]) == 3


# ---- bad inputs ---------------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def row(child=SECRET_CHILD, decom="01/05/2014", rne="S") -> str:
    return f"{child},{decom},{rne},V2,N1,U6,PR1,,,,{SECRET_POST},DN2 2BB,XXXXXXX"


def refused(path: Path, *match: str) -> str:
    with pytest.raises(ReturnError) as err:
        read_ssda903([path])
    message = str(err.value)
    assert str(path) in message
    for m in match:
        assert m in message, message
    for secret in (SECRET_CHILD, SECRET_POST, "2014-05-01", "31/02/2015", "QQ"):
        assert secret not in message, message
    return message


def test_not_a_903_table(tmp_path):
    refused(write(tmp_path, "a.csv", f"name,postcode,dob\n{SECRET_CHILD},{SECRET_POST},x\n"),
            "not a recognised SSDA903 table")  # fmt: skip
    # A file without its header line: the first data row must not be quoted.
    refused(write(tmp_path, "b.csv", row() + "\n" + row() + "\n"), "not a recognised SSDA903")
    message = refused(write(tmp_path, "c.csv", EPISODES.replace(",", ";") + "\n"),
                      "semicolon-separated")  # fmt: skip
    assert "not a recognised" in message
    refused(write(tmp_path, "d.csv", ""), "empty file")


def test_missing_required_column_is_named(tmp_path):
    header = EPISODES.replace("RNE,", "")
    body = "\n".join(r.replace(",S,", ",", 1) for r in [row(), row()])
    refused(write(tmp_path, "e.csv", f"{header}\n{body}\n"), "column RNE missing")


def test_unreadable_decom_counts_rows_without_values(tmp_path):
    rows = [row(), row(decom="2014-05-01"), row(), row(decom="31/02/2015"), row(decom="")]
    message = refused(write(tmp_path, "f.csv", EPISODES + "\n" + "\n".join(rows) + "\n"),
                      "column DECOM", "3 rows", "rows 3, 5, 6 (the header is row 1)")  # fmt: skip
    assert "DD/MM/YYYY" in message


def test_rne_outside_the_903_list(tmp_path):
    rows = [row(rne="QQ"), row(), row(rne="s"), row(rne="")]
    refused(write(tmp_path, "g.csv", EPISODES + "\n" + "\n".join(rows) + "\n"),
            "column RNE", "3 rows", "S, L, P, T, B, U", "rows 2, 4, 5")  # fmt: skip


def test_many_bad_rows_show_the_first_five(tmp_path):
    rows = [row(rne="QQ")] * 8
    refused(write(tmp_path, "h.csv", EPISODES + "\n" + "\n".join(rows) + "\n"),
            "8 rows", "rows 2, 3, 4, 5, 6, ...")  # fmt: skip


def test_not_utf8(tmp_path):
    text = EPISODES + "\n" + row().replace("DN2 2BB", "Zoë's") + "\n"
    path = write(tmp_path, "i.csv", text.encode("cp1252"))
    offset = text.encode("cp1252").index(b"\xeb")
    refused(path, "not UTF-8", f"byte offset {offset}", "line 2")


def test_blank_child_and_ragged_rows(tmp_path):
    refused(write(tmp_path, "j.csv", EPISODES + "\n" + row(child="") + "\n" + row() + "\n"),
            "column CHILD", "1 rows", "rows 2 ")  # fmt: skip
    refused(write(tmp_path, "k.csv", EPISODES + "\n" + row() + ",extra\n"),
            "1 rows do not have the 13 fields")  # fmt: skip


# ---- the synthetic return -----------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    """The generator's tables at scale 0.05, their calendar and identities."""
    config = load_config(ROOT / "config" / "config.yaml")
    settings = json.loads(synth_settings(config))
    settings["synthetic"]["scale"] = 0.05
    tables, _ = synth.generate(settings)
    return tables, Calendar.from_config(settings), identities(tables, settings["seed"])


def test_round_trip_gives_back_the_generators_starts(small, tmp_path):
    tables, cal, ids = small
    paths = write_ssda903(tables, ids, cal, tmp_path)
    years = range(collection_year(cal.history_start), collection_year(cal.data_end) + 1)
    assert [p.name for p in paths] == [
        f"SSDA903_{y}_{t}.csv" for y in years for t in ("header", "episodes")
    ]
    got = read_ssda903(paths)["cs_looked_after"]
    to_key = pd.Series(ids.children.index, index=ids.children["la_child_id"])
    got["child_id"] = got["child_id"].map(to_key)
    assert got["child_id"].notna().all()
    expected = tables["cs_looked_after"][["child_id", "became_looked_after"]]
    key = ["child_id", "became_looked_after"]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True),
        expected.sort_values(key)
        .reset_index(drop=True)
        .astype({"child_id": str, "became_looked_after": "datetime64[us]"}),
    )


def test_synthetic_files_are_deterministic_and_903_shaped(small, tmp_path):
    tables, cal, ids = small
    first = write_ssda903(tables, ids, cal, tmp_path / "a")
    second = write_ssda903(tables, ids, cal, tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    episodes = pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False) for p in first if "episodes" in p.name]
    )
    assert list(episodes.columns) == list(TABLES["episodes"])
    assert set(episodes["RNE"]) <= {"S", "P"} and "P" in set(episodes["RNE"])
    assert episodes["DECOM"].str.fullmatch(r"\d\d/\d\d/\d{4}").all()
    assert set(episodes["CHILD"]) <= set(ids.children["la_child_id"])
    assert set(episodes["HOME_POST"]) <= set(ids.children["postcode"])
    # An episode open at a year's end is reported again the next year: some repeat.
    assert episodes.duplicated(["CHILD", "DECOM"]).any()
    header = pd.read_csv(first[-2], dtype=str, keep_default_na=False)
    assert list(header.columns) == list(TABLES["header"])
    assert set(header["SEX"]) <= {"1", "2"}
    last = pd.read_csv(first[-1], dtype=str, keep_default_na=False)
    assert set(header["CHILD"]) == set(last["CHILD"])
