"""MARAC, casework and survey workbooks read through a YAML mapping (gf_eval.returns.workbook,
gf_eval.returns.mapping), and the synthetic workbooks that the example mappings read back."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from gf_eval import synth
from gf_eval.config import load_config, synth_settings
from gf_eval.returns import SEPARATOR, ReturnError
from gf_eval.returns.mapping import CONTRACT, load_mapping, parse_mapping
from gf_eval.returns.workbook import read_mapped
from gf_eval.synth.returns.identities import identities
from gf_eval.synth.returns.workbooks import write_workbooks
from gf_eval.validation.schemas import SCHEMAS

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "config" / "mappings"
KEYS = {
    "marac_cases": ["case_id", "victim_key", "perpetrator_key"],
    "casework": ["case_id", "family_id", "dan_id"],
    "survey": ["respondent_id"],
}


# --- the contract the mappings produce --------------------------------------------------------


@pytest.mark.parametrize("extract", list(CONTRACT))
def test_contract_columns_are_the_schemas(extract):
    schema = SCHEMAS[extract].to_schema()
    assert list(CONTRACT[extract]) == list(schema.columns)
    for name, kind in CONTRACT[extract].items():
        col = schema.columns[name]
        if kind[0] == "code":
            assert col.metadata and col.metadata.get("echo"), name
        if kind == ("number",):
            assert str(col.dtype) == "Int64", name
        if kind == ("date",):
            assert "datetime" in str(col.dtype), name


# --- the synthetic workbooks round trip -------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    """(tables, identities) of the default config at scale 0.05."""
    settings = json.loads(synth_settings(load_config(ROOT / "config" / "config.yaml")))
    settings["synthetic"]["scale"] = 0.05
    tables, _truth = synth.generate(settings)
    return tables, identities(tables, settings["seed"])


@pytest.fixture(scope="module")
def books(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("books")
    return out, write_workbooks(*small, out)


def _expected(df: pd.DataFrame, extract: str) -> pd.DataFrame:
    out = {}
    for name, kind in CONTRACT[extract].items():
        s = df[name]
        if kind == ("date",):
            out[name] = pd.to_datetime(s).astype("datetime64[ns]")
        elif kind == ("number",):
            out[name] = s.astype("Int64")
        else:
            out[name] = pd.Series([None if pd.isna(v) else str(v) for v in s], dtype=object)
    return pd.DataFrame(out)


def _same_up_to_keys(got: pd.DataFrame, expected: pd.DataFrame, keys: list[str], sort: str):
    """The tables are equal once each key column's values are mapped one to one. The rows are
    lined up by `sort` first: the workbooks' references are the synthetic ids, which the key
    normalisation lower-cases, so both sort alike."""
    assert len(got) == len(expected)
    got = got.sort_values(sort).reset_index(drop=True)
    expected = expected.sort_values(sort).reset_index(drop=True)
    for key in keys:
        pairs = pd.DataFrame({"got": got[key].to_numpy(), "want": expected[key].to_numpy()})
        assert pairs["got"].notna().all()
        assert (pairs.groupby("got")["want"].nunique() == 1).all(), key
        assert (pairs.groupby("want")["got"].nunique() == 1).all(), key
        got[key] = pd.Series(pairs["want"].to_numpy(), dtype=object, index=got.index)
    pd.testing.assert_frame_equal(got, expected)


def test_marac_round_trip(small, books):
    tables, _ids = small
    out, paths = books
    assert paths[0] == out / "marac" / "marac_cases.xlsx"
    got = read_mapped(paths[0], MAPPINGS / "marac.yaml")
    assert list(got) == ["marac_cases"]
    got = got["marac_cases"]
    assert list(got.columns) == list(CONTRACT["marac_cases"])
    assert got["referral_date"].dtype == "datetime64[ns]" and got["dash_score"].dtype == "Int64"
    assert got["referring_agency"].dtype == object
    _same_up_to_keys(got, _expected(tables["marac_cases"], "marac_cases"), KEYS["marac_cases"],
                     "case_id")  # fmt: skip


def test_casework_round_trip(small, books):
    tables, _ids = small
    out, paths = books
    casework = [p for p in paths if p.parent == out / "casework"]
    assert len(casework) == tables["casework"]["dan_id"].nunique() > 1
    got = read_mapped(casework, MAPPINGS / "casework.yaml")["casework"]
    _same_up_to_keys(got, _expected(tables["casework"], "casework"), KEYS["casework"], "case_id")


def test_survey_round_trip(small, books):
    tables, _ids = small
    out, paths = books
    assert paths[-1] == out / "survey" / "survey_export.csv"
    assert paths[-1].read_bytes().startswith(b"\xef\xbb\xbf")  # as a survey tool exports
    got = read_mapped(paths[-1], MAPPINGS / "survey.yaml")["survey"]
    assert got["comment"].notna().any()
    _same_up_to_keys(got, _expected(tables["survey"], "survey"), KEYS["survey"], "respondent_id")


def test_synthetic_books_carry_identifiers_the_mapping_drops(small, books):
    _tables, ids = small
    _out, paths = books
    ws = openpyxl.load_workbook(paths[0], read_only=True).worksheets[0]
    header, first = list(ws.iter_rows(min_row=1, max_row=2, values_only=True))
    row = dict(zip(header, first))
    assert row["Victim postcode"] in set(ids.people["postcode"])
    assert isinstance(row["Date referred"], dt.datetime)  # a real Excel date
    mapping = load_mapping(MAPPINGS / "marac.yaml")
    assert {"Victim postcode", "Victim NHS no", "Perpetrator postcode"} <= set(mapping.drop)
    assert set(mapping.drop) <= set(header)


def test_write_twice_same_bytes(small, books, tmp_path):
    out, paths = books
    again = write_workbooks(*small, tmp_path)
    assert [p.relative_to(tmp_path) for p in again] == [p.relative_to(out) for p in paths]
    for a, b in zip(paths, again):
        assert a.read_bytes() == b.read_bytes(), a.name


# --- a hand-made workbook, checked by hand ----------------------------------------------------

HAND_MAPPING = """\
extract: marac_cases
sheet: Referrals
header_row: 2
drop: [Forename, Surname, Date of birth, Postcode]
columns:
  case_id: {key: Ref}
  victim_key: {key: [Forename, Surname, Date of birth]}
  perpetrator_key: {key: [Perp name, {column: Perp DOB, format: "%d/%m/%Y"}]}
  referral_date: {column: Referred, format: "%d/%m/%Y"}
  meeting_date: {column: Meeting}
  referring_agency:
    column: Agency
    labels: {Police: police, IDVA: idva, "Not recorded": null}
  referral_route: {value: professional_judgement}
  dash_score: {column: DASH}
  children_in_household: {value: null}
  victim_sex:
    column: Sex
    labels: {Female: F, Male: M}
  victim_age_band: {age_band_from_birth_date: Date of birth, at: referral_date}
  victim_ethnic_group: {value: null}
  victim_disabled: {value: null}
  victim_lgbt: {value: null}
  perpetrator_sex: {value: M}
  coordinator_repeat:
    column: Repeat?
    labels: {"Yes": Y, "No": N, "Y": Y, "N": N}
  dan_involved: {value: N}
"""
HAND_HEADER = ["Ref", "Forename", "Surname", "Date of birth", "Postcode", "Perp name", "Perp DOB",
               "Referred", "Meeting", "Agency", "DASH", "Sex", "Repeat?", "Notes"]  # fmt: skip


def _book(path: Path, rows: list[list], sheet: str = "Referrals", merges=()) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    for ref in merges:
        ws.merge_cells(ref)
    wb.save(path)
    return path


def _hand_rows() -> list[list]:
    return [
        ["MARAC referrals 2016", None, None],  # a title row above the header
        HAND_HEADER,
        ["M-1", "Jane", "Smith ", dt.datetime(1998, 9, 2), "DN4 7QJ", "Carl  Dean", "01/02/1980",
         "01/09/2016 10:32", dt.datetime(2016, 9, 8), " police ", 15, "Female", "Yes", "ok"],
        ["M-2", "jane", "SMITH", dt.datetime(1998, 9, 2), "DN4 7QJ", "carl dean", "01/02/1980",
         "02/09/2016", dt.datetime(2016, 9, 22, 14, 5), "IDVA", None, "female", "n", None],
        [None] * 5,  # a blank row is skipped
        ["m-3", "Amy", "Jones", None, None, "Lee Wayne", None, "28/02/2017",
         dt.datetime(2017, 3, 2), "not recorded", 3.0, "Male", "N", None],
    ]  # fmt: skip


def test_hand_made_workbook(tmp_path):
    mapping = tmp_path / "hand.yaml"
    mapping.write_text(HAND_MAPPING, encoding="utf-8")
    path = _book(tmp_path / "hand.xlsx", _hand_rows())
    df = read_mapped([path], mapping)["marac_cases"]
    assert list(df.columns) == list(CONTRACT["marac_cases"])
    assert len(df) == 3
    # Composite keys: text stripped, inner spaces collapsed, case ignored; dates as YYYY-MM-DD.
    jane = SEPARATOR.join(["jane", "smith", "1998-09-02"])
    carl = SEPARATOR.join(["carl dean", "1980-02-01"])
    assert df["victim_key"].tolist() == [jane, jane, SEPARATOR.join(["amy", "jones", ""])]
    assert df["perpetrator_key"].tolist() == [carl, carl, SEPARATOR.join(["lee wayne", ""])]
    assert df["case_id"].tolist() == ["m-1", "m-2", "m-3"]
    # A date-time truncated to the date; a real Excel date with a time likewise.
    assert df["referral_date"].tolist() == [pd.Timestamp("2016-09-01"), pd.Timestamp("2016-09-02"),
                                            pd.Timestamp("2017-02-28")]  # fmt: skip
    assert df["meeting_date"].tolist() == [pd.Timestamp("2016-09-08"), pd.Timestamp("2016-09-22"),
                                           pd.Timestamp("2017-03-02")]  # fmt: skip
    # Born 2 September 1998: 17 on 1 September 2016, 18 on 2 September; no birth date, no band.
    assert df["victim_age_band"].tolist() == ["16-17", "18-24", None]
    assert df["referring_agency"].tolist() == ["police", "idva", None]
    assert df["dash_score"].tolist() == [15, pd.NA, 3]
    assert df["victim_sex"].tolist() == ["F", "F", "M"]
    assert df["coordinator_repeat"].tolist() == ["Y", "N", "N"]
    assert df["referral_route"].tolist() == ["professional_judgement"] * 3
    assert df["perpetrator_sex"].tolist() == ["M"] * 3
    assert df["children_in_household"].isna().all() and df["victim_lgbt"].isna().all()
    assert df["dash_score"].dtype == "Int64" and df["referral_date"].dtype == "datetime64[ns]"
    assert df["victim_ethnic_group"].dtype == object


def test_survey_csv_with_constant_wave_and_dropped_comment(tmp_path):
    wave = "{column: Wave, labels: {Baseline: baseline}}"
    text = (SURVEY_MAPPING.replace(wave, "{value: baseline}")
            .replace("keep: true", "keep: false"))  # fmt: skip
    mapping = tmp_path / "survey.yaml"
    mapping.write_text(text, encoding="utf-8")
    csv_path = tmp_path / "export.csv"
    csv_path.write_bytes(
        "\ufeffID,When,Agency,Role,Q1,Comments\r\n"
        "R1,03/06/2015 09:15,Police,Manager,Agree,Call me on 07700 900123\r\n"
        "R2,04/06/2015,Health,Manager,,\r\n".encode("utf-8")
    )
    df = read_mapped(csv_path, mapping)["survey"]
    assert df["wave"].tolist() == ["baseline", "baseline"]
    assert df["response_date"].tolist() == [pd.Timestamp("2015-06-03"), pd.Timestamp("2015-06-04")]
    assert df["respondent_id"].tolist() == ["r1", "r2"]
    assert df["agency"].tolist() == ["police", "health"]
    assert df["q01"].tolist() == [4, pd.NA] and df["q02"].isna().all()
    assert df["comment"].isna().all()  # free text not kept is dropped
    assert df["q01"].dtype == "Int64" and df["comment"].dtype == object


SURVEY_MAPPING = """\
extract: survey
columns:
  respondent_id: {key: ID}
  wave: {column: Wave, labels: {Baseline: baseline}}
  response_date: {column: When, format: "%d/%m/%Y"}
  agency: {column: Agency, labels: {Police: police, Health: health}}
  role: {column: Role, labels: {Manager: manager}}
  q01: {column: Q1, labels: {Agree: 4, Disagree: 2}}
  q02: {value: null}
  q03: {value: null}
  q04: {value: null}
  q05: {value: null}
  q06: {value: null}
  q07: {value: null}
  q08: {value: null}
  comment: {column: Comments, keep: true}
"""


# --- bad input: clear errors that quote no cell -----------------------------------------------

# Cell values of the hand-made workbook that must never appear in a message (the mapping's own
# column names may: they are the analyst's text, not data).
SECRETS = ["Jane", "Smith", "jane", "smith", "DN4 7QJ", "Carl  Dean", "carl dean", "01/02/1980",
           "1980-02-01", "1998-09-02", "01/09/2016", "M-1", "M-2", "m-3", "Amy", "Jones",
           "Lee Wayne", "police", "Female", "Policeish", "Sekret Agency", "07700 900123",
           "nonsense date", "fifteen"]  # fmt: skip


def _refused(paths, mapping, *expected: str) -> str:
    with pytest.raises(ReturnError) as err:
        read_mapped(paths, mapping)
    message = str(err.value)
    for secret in SECRETS:
        assert secret not in message, (secret, message)
    for part in expected:
        assert part in message, (part, message)
    return message


@pytest.fixture
def hand_mapping(tmp_path) -> Path:
    path = tmp_path / "hand.yaml"
    path.write_text(HAND_MAPPING, encoding="utf-8")
    return path


def test_mapped_column_missing_from_the_workbook(tmp_path, hand_mapping):
    rows = _hand_rows()
    rows[1] = [("Agency name" if h == "Agency" else h) for h in HAND_HEADER]
    path = _book(tmp_path / "book.xlsx", rows)
    _refused(path, hand_mapping, str(path), "'Agency'", "not in the header (row 2)")


def test_unmapped_labels_are_counted_not_shown(tmp_path, hand_mapping):
    rows = _hand_rows()
    rows[2][9], rows[3][9] = "Policeish", "Sekret Agency"
    rows[5][9] = "Sekret Agency"
    path = _book(tmp_path / "book.xlsx", rows)
    message = _refused(path, hand_mapping, str(path), "sheet 'Referrals'", "column 'Agency'",
                       "referring_agency", "3 row(s)", "2 distinct unmapped label(s)",
                       "first rows 3, 4, 6")  # fmt: skip
    assert "Sekret" not in message


def test_unreadable_dates_and_numbers(tmp_path, hand_mapping):
    rows = _hand_rows()
    rows[3][7] = "nonsense date"  # Referred, row 4
    rows[5][7] = "2017-02-28"  # not the mapping's format, row 6
    rows[3][10] = "fifteen"  # DASH, row 4
    rows[5][6] = "1980-02-01"  # a date key part, not in its format, row 6
    path = _book(tmp_path / "book.xlsx", rows)
    message = _refused(path, hand_mapping, "column 'Referred' (referral_date): 2 row(s)",
                       "%d/%m/%Y", "first rows 4, 6", "column 'DASH' (dash_score): 1 row(s)",
                       "not a whole number (row 4)",
                       "column 'Perp DOB' (perpetrator_key)")  # fmt: skip
    assert message.count("\n") == 2  # every problem of the file in one message


def test_merged_header_cells(tmp_path, hand_mapping):
    path = _book(tmp_path / "book.xlsx", _hand_rows(), merges=["B2:C2"])
    _refused(path, hand_mapping, "merged cells in the header area", "B2:C2", "unmerge")
    # A merged title above the header row is harmless.
    ok = _book(tmp_path / "ok.xlsx", _hand_rows(), merges=["A1:C1"])
    assert len(read_mapped(ok, hand_mapping)["marac_cases"]) == 3


def test_two_header_rows_by_group_labels(tmp_path):
    """'Victim' over 'forename', 'surname' ...: the mapped names need both rows."""
    mapping = tmp_path / "two.yaml"
    mapping.write_text(HAND_MAPPING.replace("header_row: 2", "header_row: 1")
                       .replace("[Forename, Surname, Date of birth]",
                                "[Victim forename, Victim surname, Victim date of birth]")
                       .replace("from_birth_date: Date of birth",
                                "from_birth_date: Victim date of birth"),
                       encoding="utf-8")  # fmt: skip
    rows = _hand_rows()[2:]
    top = ["Ref", "Victim", None, None, "Postcode", *HAND_HEADER[5:]]
    bottom = [None, "forename", "surname", "date of birth", *[None] * 10]
    path = _book(tmp_path / "two.xlsx", [top, bottom, *rows])
    _refused(path, mapping, "two header rows", "'Victim forename'", "joining rows 1 and 2")


def test_two_header_rows_by_text_under_the_header(tmp_path, hand_mapping):
    rows = _hand_rows()
    units = ["", "", "", "dd/mm/yyyy", "", "", "dd/mm/yyyy", "date", "date", "", "0-24", "", "",
             ""]  # fmt: skip
    path = _book(tmp_path / "book.xlsx", [*rows[:2], units, *rows[2:]])
    _refused(path, hand_mapping, "two header rows", "row 3", "'Referred'", "'DASH'")


def test_header_on_another_row(tmp_path, hand_mapping):
    path = _book(tmp_path / "book.xlsx", _hand_rows()[1:])  # no title row: the header is row 1
    _refused(path, hand_mapping, "on row 1, not on row 2", "header_row: 1")


def test_password_protected_workbook(tmp_path, hand_mapping):
    path = tmp_path / "locked.xlsx"
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 4096)
    _refused(path, hand_mapping, str(path), "password-protected (encrypted) workbook: save an "
             "unprotected copy inside the authority")  # fmt: skip


@pytest.mark.parametrize("name, content, expected", [
    ("book.xls", bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 512, "neither xlsx nor CSV"),
    ("book.ods", b"PK\x03\x04" + b"\0" * 64, "neither xlsx nor CSV"),
    ("book.xlsx", b"Ref,Jane,Smith\n", "not an xlsx workbook"),
    ("book.csv", "Ref,Name\nM-1,Jos\xe9\n".encode("latin-1"), "not UTF-8"),
])  # fmt: skip
def test_not_xlsx_or_csv(tmp_path, hand_mapping, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    _refused(path, hand_mapping, str(path), expected)


def test_missing_sheet(tmp_path, hand_mapping):
    path = _book(tmp_path / "book.xlsx", _hand_rows(), sheet="Jane Smith")
    message = _refused(path, hand_mapping, "no sheet named 'Referrals'")
    assert "Jane Smith" not in message


def test_several_files_combined(tmp_path, hand_mapping):
    rows = _hand_rows()
    a = _book(tmp_path / "a.xlsx", rows[:4])
    b = _book(tmp_path / "b.xlsx", [*rows[:2], *rows[5:]])
    df = read_mapped([a, b], hand_mapping)["marac_cases"]
    assert df["case_id"].tolist() == ["m-1", "m-2", "m-3"]
    assert df["referral_date"].dtype == "datetime64[ns]" and df["dash_score"].dtype == "Int64"
    # An error names the file it is in.
    rows[5][9] = "Sekret Agency"
    c = _book(tmp_path / "c.xlsx", [*rows[:2], *rows[5:]])
    _refused([a, c], hand_mapping, str(c), "row 3")


# --- bad mappings -----------------------------------------------------------------------------


@pytest.mark.parametrize("change, expected", [
    (("  dan_involved: {value: N}\n", "  dan_involved: {value: N}\n  victim_name: {column: X}\n"),
     "key 'columns.victim_name': not a column of the marac_cases contract"),
    (("  dan_involved: {value: N}\n", ""), "no rule for the contract column(s) dan_involved"),
    (("  dash_score: {column: DASH}", "  dash_score: {column: DASH"), "bad YAML at line"),
    (("  dash_score: {column: DASH}", "  dash_score: {sum_of: [DASH]}"),
     "key 'columns.dash_score.sum_of': unknown rule or option"),
    (("  dash_score: {column: DASH}", "  dash_score: {column: DASH, value: 3}"),
     "key 'columns.dash_score': needs exactly one of"),
    (("IDVA: idva", "IDVA: adviser"), "key 'columns.referring_agency.labels.IDVA': maps to a code"),
    (('{"Yes": Y, "No": N, "Y": Y, "N": N}', "{Yes: Y, No: N}"), "quote labels"),
    (("extract: marac_cases", "extract: marac"), "key 'extract': must be one of"),
    (("header_row: 2", "header_row: 0"), "key 'header_row'"),
    (("    labels: {Female: F, Male: M}\n", ""), "key 'columns.victim_sex.labels': missing"),
    (("at: referral_date", "at: dash_score"), "key 'columns.victim_age_band.at'"),
    (('format: "%d/%m/%Y"}\n  meeting', 'format: "day-month"}\n  meeting'),
     "key 'columns.referral_date.format'"),
    (("perpetrator_sex: {value: M}", "perpetrator_sex: {value: X}"),
     "key 'columns.perpetrator_sex.value'"),
    (("sheet: Referrals", "sheets: Referrals"), "key 'sheets': unknown key"),
])  # fmt: skip
def test_bad_mapping(tmp_path, change, expected):
    old, new = change
    assert old in HAND_MAPPING
    path = tmp_path / "bad.yaml"
    path.write_text(HAND_MAPPING.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ReturnError) as err:
        load_mapping(path)
    assert f"mapping {path}" in str(err.value)
    assert expected in str(err.value)


def test_parse_mapping_and_loaded_mapping_accepted(tmp_path):
    import yaml

    mapping = parse_mapping(yaml.safe_load(HAND_MAPPING), "hand")
    assert mapping.extract == "marac_cases" and mapping.header_row == 2
    path = _book(tmp_path / "hand.xlsx", _hand_rows())
    assert len(read_mapped(path, mapping)["marac_cases"]) == 3
    with pytest.raises(ReturnError, match="not found"):
        load_mapping(tmp_path / "none.yaml")
