"""Validation: the synthetic extracts pass, and every kind of bad input gets a clear error.

Each bad-input test corrupts a copy of a valid extract and checks that the run fails, that the
message names the file, the column, the check, the number of failing rows and the first rows,
that no typed table is left behind, that the raw file is untouched, and that no key, date or
free-text value is echoed.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gf_eval import codes, validation
from gf_eval.extracts import EXTRACTS
from gf_eval.files import sha256
from gf_eval.validation.identifiers import find_identifiers, identifier_by_name
from gf_eval.validation.schemas import SCHEMAS


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def set_cells(path: Path, column: str, values: dict[int, str]) -> list[list[str]]:
    """Set data rows (1 = first row after the header) of `column`; return the old rows."""
    rows = read_rows(path)
    old = [list(r) for r in rows]
    j = rows[0].index(column)
    for i, value in values.items():
        rows[i][j] = value
    write_rows(path, rows)
    return old


def fails(workdir: Path, name: str, calendar=None) -> tuple[str, dict]:
    """Run validation on workdir/<name>.csv, expect failure; return (message, report)."""
    raw = workdir / f"{name}.csv"
    before = sha256(raw) if raw.exists() else None
    out = workdir / f"{name}.parquet"
    report_path = workdir / f"{name}.report.json"
    parents = {p: workdir / f"parent_{p}.parquet" for p in EXTRACTS[name].parents}
    with pytest.raises(validation.ValidationFailed) as err:
        validation.run(name, raw, out, report_path, parents, calendar)
    assert not out.exists(), "a failed validation must leave no typed table"
    if before:
        assert sha256(raw) == before, "the raw file must never be modified"
    report = json.loads(report_path.read_text())
    assert report["valid"] is False and report["n_failures"] >= 1
    message = str(err.value)
    assert str(raw) in message
    return message, report


def test_every_synthetic_extract_is_valid(interim_dir, raw_dir):
    for name, extract in EXTRACTS.items():
        report = json.loads((interim_dir / f"{name}.json").read_text())
        assert report["valid"], report["failures"]
        assert report["sha256"] == sha256(raw_dir / extract.filename)
        table = pd.read_parquet(interim_dir / f"{name}.parquet")
        assert len(table) == report["rows"] > 0


def test_interim_tables_are_typed(interim_dir):
    marac = pd.read_parquet(interim_dir / "marac_cases.parquet")
    assert str(marac["referral_date"].dtype).startswith("datetime64")
    assert str(marac["dash_score"].dtype) == "Int64"
    assert str(marac["dan_involved"].dtype) == "boolean"
    assert str(marac["victim_key"].dtype).startswith("string")


def test_schemas_cover_the_code_lists():
    survey = SCHEMAS["survey"].to_schema().columns
    assert {c for c in survey if c.startswith("q")} == set(codes.SURVEY_ITEMS)
    casework = SCHEMAS["casework"].to_schema().columns
    for measure in codes.CASEWORK_MEASURES:
        assert {f"{measure}_alloc", f"{measure}_close"} <= set(casework)
    assert set(SCHEMAS) == set(EXTRACTS)


def test_no_schema_column_looks_like_an_identifier():
    for model in SCHEMAS.values():
        for column in model.to_schema().columns:
            assert identifier_by_name(column) is None, column


@pytest.mark.parametrize(
    "column, what",
    [("postcode", "postcode"), ("Post_Code", "postcode"), ("child_surname", "name"),
     ("DateOfBirth", "birth"), ("dob", "birth"), ("nhs_number", "NHS"), ("UPN", "UPN"),
     ("home_address", "address"), ("first_name", "name")],
)  # fmt: skip
def test_identifier_names_are_recognised(column, what):
    assert what in identifier_by_name(column)


def test_identifier_contents_are_recognised():
    df = pd.DataFrame({
        "ref_a": ["DN1 3BU", "DN4 5HT", "S64 0AB"],
        "ref_b": ["943 476 5919", "9434765870", "401 023 2137"],  # valid NHS check digits
        "ref_c": ["A823401512001", "B823401512002", "C823401512003"],
        "fine": ["C1234567", "C2345678", "C3456789"],
    })  # fmt: skip
    found = find_identifiers(df)
    assert set(found) == {"ref_a", "ref_b", "ref_c"}
    assert "postcode" in found["ref_a"] and "NHS" in found["ref_b"] and "UPN" in found["ref_c"]


# --- Bad input: one test each --------------------------------------------------------------


def test_missing_file(workdir):
    (workdir / "survey.csv").unlink()
    message, report = fails(workdir, "survey")
    assert "file not found" in message and report["sha256"] is None


def test_empty_file(workdir):
    (workdir / "survey.csv").write_bytes(b"")
    message, _ = fails(workdir, "survey")
    assert "empty" in message


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", b"\xef\xbb\xbf \r\n\n"])
def test_a_byte_order_mark_alone_is_an_empty_file(workdir, content):
    (workdir / "survey.csv").write_bytes(content)
    message, _ = fails(workdir, "survey")
    assert "file is empty" in message


def test_header_only(workdir):
    path = workdir / "survey.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    message, _ = fails(workdir, "survey")
    assert "header only" in message


def test_wrong_delimiter(workdir):
    path = workdir / "marac_cases.csv"
    path.write_text(path.read_text().replace(",", ";"))
    message, _ = fails(workdir, "marac_cases")
    assert "comma-separated" in message and "semicolon" in message


def test_bytes_that_are_not_utf8(workdir):
    path = workdir / "marac_cases.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"white", b"wh\xe9te", 1)
    path.write_bytes(b"\n".join(lines))
    message, _ = fails(workdir, "marac_cases")
    assert "not UTF-8" in message and "line 4" in message


def test_ragged_row(workdir):
    path = workdir / "cs_children.csv"
    lines = path.read_text().splitlines()
    lines[5] += ",extra,cells"
    path.write_text("\n".join(lines) + "\n")
    message, _ = fails(workdir, "cs_children")
    assert "malformed CSV: 1 row does not have the header's 4 fields (first rows: 5)" in message


@pytest.mark.parametrize("row", [1, 7])
def test_short_row_or_trailing_comma(workdir, row):
    path = workdir / "cs_children.csv"
    lines = path.read_text().splitlines()
    lines[row] = lines[row].rsplit(",", 1)[0] if row == 7 else lines[row] + ","
    path.write_text("\n".join(lines) + "\n")
    message, _ = fails(workdir, "cs_children")
    assert f"1 row does not have the header's 4 fields (first rows: {row})" in message
    assert lines[row].split(",")[0] not in message  # the child key is not echoed


@pytest.mark.parametrize("value", ["inf", "1e30", "3.0", "1e1", "99999999999999999999"])
def test_numbers_must_be_plain_whole_numbers(workdir, value):
    set_cells(workdir / "marac_cases.csv", "dash_score", {2: value})
    message, _ = fails(workdir, "marac_cases")
    assert "column dash_score: type: whole number: 1 row fails (first rows: 2)" in message
    assert "out of range" not in message


def test_composite_key_duplicates_name_their_columns(workdir):
    rows = read_rows(workdir / "cs_factors.csv")
    write_rows(workdir / "cs_factors.csv", rows + [rows[1]])
    message, report = fails(workdir, "cs_factors")
    assert f"columns assessment_id, factor: duplicate key: 2 rows fail (first rows: 1, {len(rows)})" in message


def test_child_measure_needs_engaged_children(workdir):
    rows = read_rows(workdir / "casework.csv")
    h = rows[0]
    i = next(i for i, r in enumerate(rows[1:], 1) if r[h.index("children_engaged")] == "N")
    set_cells(workdir / "casework.csv", "sdq_alloc", {i: "12"})
    message, _ = fails(workdir, "casework")
    assert f"sdq_alloc and sdq_close only where children_engaged is Y: 1 row fails (first rows: {i})" in message


def test_missing_column(workdir):
    path = workdir / "marac_cases.csv"
    rows = read_rows(path)
    j = rows[0].index("dash_score")
    write_rows(path, [r[:j] + r[j + 1 :] for r in rows])
    message, report = fails(workdir, "marac_cases")
    assert "column dash_score: column missing" in message
    assert report["failure_counts"] == {"dash_score": {"column missing": 0}}


@pytest.mark.parametrize("name", ["cs_assessments", "cs_cp_plans"])
def test_a_missing_join_key_is_reported_and_its_date_rules_skipped(workdir, name):
    # The rules comparing dates with the parent referral join on referral_id.
    path = workdir / f"{name}.csv"
    rows = read_rows(path)
    j = rows[0].index("referral_id")
    write_rows(path, [r[:j] + r[j + 1 :] for r in rows])
    message, report = fails(workdir, name)
    assert "column referral_id: column missing" in message
    assert list(report["failure_counts"]) == ["referral_id"]


def test_unexpected_column(workdir):
    path = workdir / "survey.csv"
    rows = read_rows(path)
    write_rows(path, [rows[0] + ["worker_notes"]] + [r + ["secret note"] for r in rows[1:]])
    message, _ = fails(workdir, "survey")
    assert "column worker_notes: unexpected column" in message
    assert "secret note" not in message


def test_wrong_type(workdir):
    set_cells(workdir / "marac_cases.csv", "dash_score", {4: "high", 9: "12.5"})
    set_cells(workdir / "marac_cases.csv", "referral_date", {6: "03/02/2014"})
    message, report = fails(workdir, "marac_cases")
    assert "column dash_score: type: whole number: 2 rows fail (first rows: 4, 9)" in message
    assert "column referral_date: type: date as YYYY-MM-DD: 1 row fails (first rows: 6)" in message
    assert "03/02/2014" not in message  # dates are never echoed


def test_value_out_of_range(workdir):
    set_cells(workdir / "marac_cases.csv", "dash_score", {2: "25", 3: "-1"})
    message, report = fails(workdir, "marac_cases")
    assert "column dash_score: out of range: above 24: 1 row fails (first rows: 2)" in message
    assert "column dash_score: out of range: below 0: 1 row fails (first rows: 3)" in message


def test_date_outside_the_extract_period(workdir, calendar):
    set_cells(workdir / "survey.csv", "response_date", {1: "2019-01-01"})
    message, _ = fails(workdir, "survey", calendar)
    assert "column response_date: date outside the extract period" in message


def test_unknown_code(workdir):
    set_cells(workdir / "cs_factors.csv", "factor", {3: "3X", 8: "99"})
    message, report = fails(workdir, "cs_factors")
    assert "column factor: value not in the code list: 2 rows fail (first rows: 3, 8)" in message
    assert "values: 3X, 99" in message


def test_duplicate_key(workdir):
    rows = read_rows(workdir / "casework.csv")
    set_cells(workdir / "casework.csv", "case_id", {7: rows[6][0]})
    message, report = fails(workdir, "casework")
    assert "column case_id: duplicate key: 2 rows fail (first rows: 6, 7)" in message
    assert rows[6][0] not in message  # keys are never echoed


def test_impossible_date_order(workdir):
    rows = read_rows(workdir / "cs_referrals.csv")
    closed = next(i for i, r in enumerate(rows[1:], 1) if r[rows[0].index("closure_date")])
    set_cells(workdir / "cs_referrals.csv", "closure_date", {closed: "2011-04-01"})
    set_cells(workdir / "cs_referrals.csv", "referral_date", {closed: "2013-05-05"})
    message, _ = fails(workdir, "cs_referrals")
    assert (
        f"columns referral_date, closure_date: referral_date <= closure_date: 1 row fails "
        f"(first rows: {closed})"
    ) in message


def test_factor_21_must_stand_alone(workdir):
    rows = read_rows(workdir / "cs_factors.csv")
    # The first assessment with two or more factors: make its first factor 21.
    ids = [r[0] for r in rows[1:]]
    i = next(i for i in range(1, len(ids)) if ids[i] == ids[i - 1]) - 1
    set_cells(workdir / "cs_factors.csv", "factor", {i + 1: "21"})
    message, _ = fails(workdir, "cs_factors")
    assert "factor 21 (no factors identified) stands alone" in message


def test_orphan_keys(workdir):
    set_cells(workdir / "cs_referrals.csv", "child_id", {5: "CZZZ999", 11: "CZZZ998"})
    message, report = fails(workdir, "cs_referrals")
    assert (
        "column child_id: foreign_key: every child_id exists in cs_children.child_id: "
        "2 rows fail (first rows: 5, 11)"
    ) in message
    assert "CZZZ999" not in message


def test_orphan_family_in_casework(workdir):
    set_cells(workdir / "casework.csv", "family_id", {1: "FNOWHERE"})
    message, _ = fails(workdir, "casework")
    assert "every family_id exists in cs_children.family_id: 1 row fails" in message


def test_dates_across_tables(workdir):
    set_cells(workdir / "cs_assessments.csv", "start_date", {500: "2011-04-01"})
    rows = read_rows(workdir / "cs_assessments.csv")
    refs = pd.read_csv(workdir / "cs_referrals.csv", dtype=str).set_index("referral_id")
    assert refs.loc[rows[500][1], "referral_date"] > "2011-04-01"
    message, _ = fails(workdir, "cs_assessments")
    assert "cs_referrals.referral_date <= start_date: 1 row fails (first rows: 500)" in message


@pytest.mark.parametrize("header", ["postcode", "nhs_number", "child_name", "date_of_birth"])
def test_identifying_column_by_name_is_refused(workdir, header):
    rows = read_rows(workdir / "cs_children.csv")
    rows[0][rows[0].index("ethnicity")] = header
    write_rows(workdir / "cs_children.csv", rows)
    message, report = fails(workdir, "cs_children")
    assert "not anonymised" in message and f"column {header}: direct identifier" in message
    assert report["refused"]


def test_identifying_column_by_content_is_refused(workdir):
    rows = read_rows(workdir / "cs_children.csv")
    j = rows[0].index("ethnicity")
    postcodes = ["DN1 3BU", "DN4 5HT", "DN2 6AB", "S64 0AB"]
    for i, row in enumerate(rows[1:]):
        row[j] = postcodes[i % 4]
    write_rows(workdir / "cs_children.csv", rows)
    message, _ = fails(workdir, "cs_children")
    assert "column ethnicity: direct identifier refused: most of its values look like postcodes" in message
    assert not any(p in message for p in postcodes)


def test_free_text_is_never_echoed(workdir):
    long_text = "Confidential remark " * 120
    set_cells(workdir / "survey.csv", "comment", {2: long_text})
    message, report = fails(workdir, "survey")
    assert "column comment" in message and "Confidential" not in message
    assert "Confidential" not in json.dumps(report)


def test_a_failed_rerun_removes_the_old_typed_table(workdir, calendar):
    out = workdir / "survey.parquet"
    validation.run("survey", workdir / "survey.csv", out, workdir / "r.json", {}, calendar)
    assert out.exists()
    set_cells(workdir / "survey.csv", "wave", {1: "midline"})
    fails(workdir, "survey")


def test_the_command_exits_non_zero_with_the_message(workdir):
    set_cells(workdir / "marac_cases.csv", "referral_route", {3: "walk_in"})
    result = subprocess.run(
        [sys.executable, "-m", "gf_eval", "validate", "marac_cases",
         "--raw", str(workdir / "marac_cases.csv"), "--out", str(workdir / "m.parquet"),
         "--report", str(workdir / "m.json"), "--log", str(workdir / "m.log")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert "column referral_route: value not in the code list: 1 row fails (first rows: 3)" in result.stderr
    assert "Traceback" not in result.stderr
    log = (workdir / "m.log").read_text()
    assert "column referral_route: value not in the code list: 1 row fails (first rows: 3)" in log
    # Not a code of the list nor made of its words, and a word may be a name: withheld.
    assert "walk_in" not in log and "values withheld: 1 not shown" in log
    assert not (workdir / "m.parquet").exists()


@pytest.mark.parametrize("column, value, check", [
    ("referral_date", "1000-01-01", "type: date as YYYY-MM-DD"),
    ("referral_date", "٢٠١٥-٠١-٠١", "type: date as YYYY-MM-DD"),
    ("age_at_referral", "١٢", "type: whole number"),
])  # fmt: skip
def test_dates_beyond_timestamps_and_non_ascii_digits_are_failures_not_crashes(
    workdir, calendar, column, value, check
):
    path = workdir / "cs_referrals.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[4, column] = value
    frame.to_csv(path, index=False)
    parents = {"cs_children": pd.read_parquet(workdir / "parent_cs_children.parquet")}
    typed, report = validation.validate_extract("cs_referrals", path, parents, calendar)
    assert typed is None
    hits = [f for f in report["failures"] if f["column"] == column and f["check"] == check]
    assert hits and hits[0]["rows"] == 1 and hits[0]["first_rows"] == [5]
    if column.endswith("_date"):  # dates are never echoed; numbers are, by design
        assert value not in json.dumps(report, ensure_ascii=False)
