"""Validation never repeats an identifier that landed where a code or a number belongs.

A shifted column or a wrong paste can put a name, an NHS number, a postcode or a date of birth
into a coded or numeric column. Each test plants such a value in a copy of a valid extract,
runs `gf-eval validate ... --log` and scans everything the run wrote (the console, the log
file and the JSON report) for the value and its obvious variants (without spaces, other case,
digits only, each part of a name). Harmless bad codes and numbers are still quoted, because
users need them to fix their files.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from gf_eval import cli, validation
from gf_eval.validation import reading
from gf_eval.extracts import EXTRACTS
from gf_eval.validation.identifiers import find_identifiers

from conftest import copy_project, snakemake

MONTHS = "January February March April May June July August September October November December"


def variants(value: str) -> set[str]:
    """The value and the forms it could be echoed in: no spaces, other case, digits only,
    day-month-year orders of a date, each word of a name."""
    out = {value, value.replace(" ", ""), value.upper(), value.lower()}
    out |= {v.replace(" ", "") for v in set(out)}
    digits = re.sub(r"[^0-9]", "", value)
    if len(digits) >= 6:
        out.add(digits)
        out.add(f"{digits[:3]} {digits[3:6]} {digits[6:]}")  # NHS-number spacing
    date = re.fullmatch(
        r"(\d{4})-(\d{2})-(\d{2})|(\d{2})/(\d{2})/(\d{4})|(\d{4})(\d{2})(\d{2})", value
    )
    if date:
        parts = [p for p in date.groups() if p]
        y, m, d = parts if len(parts[0]) == 4 else parts[::-1]
        out |= {f"{y}-{m}-{d}", f"{d}/{m}/{y}", f"{y}{m}{d}", f"{d}{m}{y}", f"{d}.{m}.{y}",
                f"{d} {MONTHS.split()[int(m) - 1]} {y}"}  # fmt: skip
    words = re.findall(r"[A-Za-z']{3,}", value)
    if len(words) > 1 or (words and words[0][0].isupper()):
        out |= set(words)
    return out


def assert_not_in(texts: dict[str, str], value: str) -> None:
    for where, text in texts.items():
        for form in variants(value):
            assert form not in text, f"{form!r} (from {value!r}) appears in {where}"


def set_cells(path: Path, column: str, values: dict[int, str]) -> None:
    """Set data rows (1 = the first row after the header) of `column`."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    j = rows[0].index(column)
    for i, value in values.items():
        rows[i][j] = value
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def validate_cli(workdir: Path, name: str, capsys) -> tuple[int, dict[str, str]]:
    """Run `gf-eval validate` on workdir/<name>.csv; (exit code, {where: every text written})."""
    capsys.readouterr()  # drop anything printed before
    out, report, log = (workdir / f"{name}.{ext}" for ext in ("parquet", "report.json", "log"))
    args = ["validate", name, "--raw", str(workdir / f"{name}.csv"), "--out", str(out),
            "--report", str(report), "--log", str(log)]  # fmt: skip
    for parent in EXTRACTS[name].parents:
        args += ["--parent", f"{parent}={workdir / f'parent_{parent}.parquet'}"]
    code = cli.main(args)
    captured = capsys.readouterr()
    texts = {"stdout": captured.out, "stderr": captured.err}
    for path in (report, log, out):
        if path.exists():
            texts[path.name] = path.read_bytes().decode("utf-8", errors="replace")
    # Whatever else the run left in the folder (it should be nothing else).
    for path in workdir.iterdir():
        if path.name not in texts and path.suffix not in (".csv", ".parquet", ".json"):
            texts[path.name] = path.read_bytes().decode("utf-8", errors="replace")
    return code, texts


def failure(texts: dict[str, str], column: str) -> list[dict]:
    report = json.loads(next(t for w, t in texts.items() if w.endswith("report.json")))
    return [f for f in report["failures"] if f["column"] == column]


# --- The four cases found, each in the column and extract it was found in -------------------


@pytest.mark.parametrize("value", ["Jane Doe", "Smith, John", "O'Brien"])
def test_a_name_in_a_coded_column_is_not_echoed(workdir, capsys, value):
    set_cells(workdir / "marac_cases.csv", "referring_agency", {3: value, 7: value})
    code, texts = validate_cli(workdir, "marac_cases", capsys)
    assert code == 1
    assert_not_in(texts, value)
    check = "column referring_agency: value not in the code list: 2 rows fail (first rows: 3, 7)"
    assert check in texts["stderr"]
    assert "withheld" in texts["stderr"] and "withheld" in texts["marac_cases.log"]
    (hit,) = failure(texts, "referring_agency")
    assert hit["examples"] == [] and sum(hit["withheld"].values()) == 2


@pytest.mark.parametrize("value", ["943 476 5919", "9434765919", "943-476-5919"])
def test_an_nhs_number_in_a_numeric_column_is_not_echoed(workdir, capsys, value):
    set_cells(workdir / "casework.csv", "contacts", {2: value, 4: value, 9: value})
    code, texts = validate_cli(workdir, "casework", capsys)
    assert code == 1
    assert_not_in(texts, value)
    assert "column contacts: " in texts["stderr"]
    assert "3 rows fail (first rows: 2, 4, 9)" in texts["stderr"]
    assert "3 look like identifiers (NHS number)" in texts["stderr"]
    (hit,) = failure(texts, "contacts")
    assert hit["withheld"] == {"NHS number": 3}


@pytest.mark.parametrize("value", ["DN1 3BU", "DN13BU", "dn1 3bu"])
def test_a_postcode_in_a_coded_column_is_not_echoed(workdir, capsys, value):
    set_cells(workdir / "cs_children.csv", "ethnicity", {1: value, 5: value, 6: value})
    code, texts = validate_cli(workdir, "cs_children", capsys)
    assert code == 1
    assert_not_in(texts, value)
    check = "column ethnicity: value not in the code list: 3 rows fail (first rows: 1, 5, 6)"
    assert check in texts["stderr"]
    assert "values withheld: 3 look like identifiers (postcode)" in texts["stderr"]


@pytest.mark.parametrize("value", ["2009-04-17", "17/04/2009", "20090417", "17 April 2009"])
def test_a_date_of_birth_in_a_numeric_column_is_not_echoed(workdir, capsys, value):
    set_cells(workdir / "cs_referrals.csv", "age_at_referral", {8: value})
    code, texts = validate_cli(workdir, "cs_referrals", capsys)
    assert code == 1
    assert_not_in(texts, value)
    assert "column age_at_referral: " in texts["stderr"]
    assert "1 row fails (first rows: 8)" in texts["stderr"]
    assert "1 looks like an identifier (date)" in texts["stderr"]
    (hit,) = failure(texts, "age_at_referral")
    assert hit["examples"] == [] and hit["withheld"] == {"date": 1}


# --- What is still quoted -------------------------------------------------------------------


def test_harmless_bad_codes_are_still_quoted(workdir, capsys):
    set_cells(workdir / "cs_referrals.csv", "referral_source", {2: "9Z", 3: "9Z"})
    set_cells(workdir / "cs_referrals.csv", "closure_reason", {4: "RC9"})
    set_cells(workdir / "cs_referrals.csv", "age_at_referral", {5: "19", 6: "12.5"})
    code, texts = validate_cli(workdir, "cs_referrals", capsys)
    assert code == 1
    for text in (texts["stderr"], texts["cs_referrals.log"]):
        assert (
            "column referral_source: value not in the code list: 2 rows fail (first rows: 2, 3); "
            "values: 9Z"
        ) in text
        assert "values: RC9" in text
        assert (
            "column age_at_referral: out of range: above 18: 1 row fails (first rows: 5); "
            "values: 19"
        ) in text
        assert "type: whole number: 1 row fails (first rows: 6); values: 12.5" in text
    assert failure(texts, "referral_source")[0]["examples"] == ["9Z"]


def test_a_known_code_in_another_case_or_of_the_lists_words_is_quoted(workdir, capsys):
    set_cells(workdir / "marac_cases.csv", "referring_agency", {2: "Police", 4: "social care"})
    set_cells(workdir / "marac_cases.csv", "victim_disabled", {3: "y"})
    code, texts = validate_cli(workdir, "marac_cases", capsys)
    assert code == 1
    assert "values: Police, social care" in texts["stderr"] and "values: y" in texts["stderr"]


def test_harmless_and_identifying_values_in_one_column(workdir, capsys):
    planted = {3: "3X", 5: "DN1 3BU", 8: "Jane Doe", 9: "Bloggs"}
    set_cells(workdir / "cs_factors.csv", "factor", planted)
    code, texts = validate_cli(workdir, "cs_factors", capsys)
    assert code == 1
    assert (
        "column factor: value not in the code list: 4 rows fail (first rows: 3, 5, 8, 9); "
        "values: 3X; values withheld: 3 look like identifiers (name, postcode)"
    ) in texts["stderr"]
    for value in ("DN1 3BU", "Jane Doe", "Bloggs"):
        assert_not_in(texts, value)
    (hit,) = failure(texts, "factor")
    assert hit["examples"] == ["3X"] and hit["withheld"] == {"name": 2, "postcode": 1}


def test_a_plain_word_is_withheld_as_not_provably_harmless(workdir, capsys):
    # A lower-case word could be a surname typed in lower case: it is not shown either.
    set_cells(workdir / "cs_children.csv", "ethnicity", {2: "smith"})
    code, texts = validate_cli(workdir, "cs_children", capsys)
    assert code == 1
    assert "1 row fails (first rows: 2); values withheld: 1 not shown" in texts["stderr"]
    assert_not_in(texts, "smith")


@pytest.mark.parametrize("value", ["1000000", "1e30", "inf", "١٢"])
def test_implausible_numbers_are_withheld(workdir, capsys, value):
    set_cells(workdir / "casework.csv", "contacts", {2: value})
    code, texts = validate_cli(workdir, "casework", capsys)
    assert code == 1
    assert "values withheld" in texts["stderr"]
    assert value not in texts["stderr"]
    assert value not in json.dumps(failure(texts, "contacts"), ensure_ascii=False)


# --- Other paths a value could take ---------------------------------------------------------


def test_the_identifier_refusal_names_column_kind_and_count_never_a_value(workdir, capsys):
    path = workdir / "cs_children.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    postcodes = ["DN1 3BU", "DN4 5HT", "DN2 6AB", "S64 0AB"]
    frame["ethnicity"] = [postcodes[i % 4] for i in range(len(frame))]
    frame.loc[0, "ethnicity"] = "WBRI"
    frame.to_csv(path, index=False)
    code, texts = validate_cli(workdir, "cs_children", capsys)
    assert code == 1
    n = len(frame)
    assert (
        f"column ethnicity: direct identifier refused: most of its values look like postcodes "
        f"({n - 1} of {n} values)"
    ) in texts["stderr"]
    for value in postcodes:
        assert_not_in(texts, value)


def test_the_refusal_by_content_counts_the_whole_column():
    values = ["DN1 3BU"] * 3000 + ["WBRI"] * 1000 + [None] * 10
    found = find_identifiers(pd.DataFrame({"ethnicity": values}, dtype="string"))
    assert found["ethnicity"] == "most of its values look like postcodes (3000 of 4000 values)"


def test_a_file_without_its_header_row_does_not_echo_the_first_row(workdir, capsys):
    path = workdir / "cs_children.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[1:]) + "\n")  # the first data row becomes the header
    first = dict(zip(lines[0].split(","), lines[1].split(",")))
    code, texts = validate_cli(workdir, "cs_children", capsys)
    assert code == 1
    assert_not_in(texts, first["child_id"])
    assert_not_in(texts, first["family_id"])
    assert "column child_id: column missing" in texts["stderr"]
    assert "unexpected column" in texts["stderr"]


def test_an_unexpected_column_with_an_identifying_header_is_not_named(workdir, capsys):
    path = workdir / "survey.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["worker_notes"] = "x"
    frame["Jane Doe"] = "y"
    frame.to_csv(path, index=False)
    code, texts = validate_cli(workdir, "survey", capsys)
    assert code == 1
    assert "column worker_notes: unexpected column" in texts["stderr"]  # still named
    assert "unexpected column" in texts["stderr"] and "header withheld" in texts["stderr"]
    assert_not_in(texts, "Jane Doe")


def test_an_exception_quoting_a_cell_is_not_passed_on(workdir, capsys, monkeypatch):
    # pandas' date parser quotes the cell it fails on ('time data "John Smith" doesn't match
    # format'). The parser keeps such text away from pandas; here that filter is bypassed, as
    # a change to the parser or to pandas might, and pandas' own error must not reach the outputs.
    set_cells(workdir / "survey.csv", "response_date", {2: "John Smith"})
    parse = validation._parse

    def unfiltered(text, dtype):
        if dtype.startswith("datetime64"):
            pd.to_datetime(text.dropna(), format="%Y-%m-%d")  # raises, quoting the cell
        return parse(text, dtype)

    monkeypatch.setattr(validation, "_parse", unfiltered)
    code, texts = validate_cli(workdir, "survey", capsys)
    assert code != 0
    assert "response_date" in texts["stderr"] and "ValueError" in texts["stderr"]
    assert_not_in(texts, "John Smith")


def test_a_csv_reader_error_quoting_a_cell_is_not_passed_on(workdir, capsys, monkeypatch):
    # pandas' and the csv module's messages give line numbers and counts today; a message that
    # quotes the text it stopped at must still not carry it to the outputs.
    value = "Smith, John"
    set_cells(workdir / "marac_cases.csv", "referring_agency", {3: value})  # quoted in the CSV

    def read_csv(*args, **kwargs):
        raise pd.errors.ParserError(f"Error tokenizing data: unexpected text '{value}' in line 4")

    monkeypatch.setattr(reading.pd, "read_csv", read_csv)
    code, texts = validate_cli(workdir, "marac_cases", capsys)
    assert code == 1
    assert "malformed CSV: Error tokenizing data: unexpected text" in texts["stderr"]
    assert_not_in(texts, value)


def test_cross_table_messages_never_quote_the_key(workdir, capsys):
    # A child_id of 10 digits passes the key format but is an NHS number; it is an orphan.
    set_cells(workdir / "cs_referrals.csv", "child_id", {4: "9434765919"})
    code, texts = validate_cli(workdir, "cs_referrals", capsys)
    assert code == 1
    check = "every child_id exists in cs_children.child_id: 1 row fails (first rows: 4)"
    assert check in texts["stderr"]
    assert_not_in(texts, "9434765919")


@pytest.mark.parametrize("value, kind", [
    ("Jane Doe", "name"), ("Smith, John", "name"), ("DN1 3BU", "postcode"), ("dn13bu", "postcode"),
    ("943 476 5919", "NHS number"), ("9434765919", "NHS number"), ("A823401512001", "UPN"),
    ("2009-04-17", "date"), ("17/04/2009", "date"), ("17 April 2009", "date"),
    ("20090417", "date"), ("jane.doe@example.org", "email address"),
    ("01302 734444", "phone number"),
    ("9Z", None), ("RC9", None), ("WBRI", None), ("12", None), ("walk_in", None),
])  # fmt: skip
def test_the_recognisers(value, kind):
    from gf_eval.validation.identifiers import looks_like

    assert looks_like(value) == kind


# --- The whole workflow ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.workflow
def test_the_workflow_never_writes_a_planted_identifier(raw_dir, tmp_path):
    """A postcode planted in one coded cell: the run fails, and no file the workflow wrote,
    wherever it puts its outputs, holds the postcode in any form."""
    project = copy_project(tmp_path / "project")
    extracts = project / "data" / "raw" / "planted"
    extracts.mkdir(parents=True)
    for path in raw_dir.iterdir():
        shutil.copy(path, extracts / path.name)
    planted = extracts / "cs_children.csv"
    value = "DN1 3BU"
    set_cells(planted, "ethnicity", {4: value})

    run = snakemake(project, "--cores", "1", "--config", f"extracts={extracts}")

    assert run.returncode != 0, run.stderr[-3000:]
    texts = {"snakemake stdout": run.stdout, "snakemake stderr": run.stderr}
    for path in project.rglob("*"):
        if path.is_file() and path != planted:
            text = path.read_bytes().decode("utf-8", errors="replace")
            texts[str(path.relative_to(project))] = text
    # It failed in the validation of the planted extract (not, say, on a broken Snakefile):
    # its report, wherever the workflow puts it, says so, and a message names the column.
    reports = [_json(t) for w, t in texts.items() if w.endswith(".json")]
    failed = [r for r in reports if isinstance(r, dict) and r.get("extract") == "cs_children"]
    assert failed and failed[0]["valid"] is False, run.stderr[-3000:]
    message = "column ethnicity: value not in the code list: 1 row fails (first rows: 4)"
    assert any(message in t for w, t in texts.items() if not w.endswith(".json"))
    assert_not_in(texts, value)


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None
