"""Synthetic MARAC, casework and survey workbooks: the spreadsheets an area would hold.

`write_workbooks(tables, ids, outdir)` writes, from the generator's tables and their made-up
identities (`identities.Identities`):

- `marac/marac_cases.xlsx`: the MARAC coordinator's case-level spreadsheet: the MARAC
  reference (the synthetic case_id), real Excel dates, human labels ("Police", "IDVA",
  "Visible high risk", "Female", "Yes"/"No"), the victim's and perpetrator's forename,
  surname, date of birth, postcode and NHS number, the DASH score, children in the household,
  the coordinator's repeat flag and whether a DAN was involved;
- `casework/casework_dan_NN.xlsx`: one casework book per Domestic Abuse Navigator (in dan_id
  order), with the worker's name as a column, the case and family references, dates, labels,
  engagement yes/no and the outcome scores, and the victim's name and address;
- `survey/survey_export.csv`: a survey tool's CSV export (UTF-8 with a byte-order mark): the
  response ID (the synthetic respondent_id), submission date and time, the respondent's
  e-mail, the question wording as headers, Likert labels, agency, role, wave and comment.

`config/mappings/{marac,casework,survey}.yaml` read them back (`gf_eval.returns.workbook`):
the tables come back exactly, up to the key values. The same input gives byte-identical files:
the workbooks' document properties and the zip entries' times are fixed.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from gf_eval import codes
from gf_eval.files import atomic_path

# The labels the synthetic spreadsheets use (config/mappings/*.yaml list the same).
MARAC_AGENCY_LABELS = {
    "police": "Police", "idva": "IDVA", "health": "Health",
    "childrens_social_care": "Children's Social Care", "adult_social_care": "Adult Social Care",
    "probation": "Probation", "housing": "Housing", "mental_health": "Mental Health",
    "substance_misuse": "Drug & Alcohol Services", "education": "Education",
    "voluntary_sector": "Voluntary Sector", "other": "Other",
}  # fmt: skip
MARAC_ROUTE_LABELS = {
    "visible_high_risk": "Visible high risk", "professional_judgement": "Professional judgement",
    "potential_escalation": "Potential escalation", "repeat": "Repeat",
}  # fmt: skip
SEX_LABELS = {"F": "Female", "M": "Male", "U": "Not known"}
ETHNIC_LABELS = {"white": "White", "mixed": "Mixed", "asian": "Asian or Asian British",
                 "black": "Black or Black British", "other": "Other"}  # fmt: skip
YES_NO_LABELS = {"Y": "Yes", "N": "No"}
WAVE_LABELS = {"baseline": "Baseline", "follow_up": "Follow-up"}
LIKERT_LABELS = {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree",
                 4: "Agree", 5: "Strongly agree"}  # fmt: skip
COMMENT_HEADER = "Is there anything else you would like to tell us?"

# Fixed document times, so that the same tables give the same bytes.
FIXED_TIME = _dt.datetime(2017, 3, 31, 12, 0, 0)
DATE_FORMAT = "dd/mm/yyyy"

VICTIM_FORENAMES = ("Amy Claire Donna Emma Gemma Helen Jade Joanne Karen Kelly Laura Leanne "
                    "Lisa Michelle Natalie Nicola Rebecca Sarah Stacey Tracey").split()  # fmt: skip


def write_workbooks(tables: dict[str, pd.DataFrame], ids, outdir: str | Path) -> list[Path]:
    """Write the MARAC spreadsheet, one casework book per DAN and the survey export under
    `outdir`; return their paths (MARAC, casework books in dan_id order, survey)."""
    outdir = Path(outdir)
    written = [_marac(tables["marac_cases"], ids, outdir / "marac" / "marac_cases.xlsx")]
    written += _casework(tables, ids, outdir / "casework")
    written.append(_survey(tables["survey"], ids, outdir / "survey" / "survey_export.csv"))
    return written


# --- helpers ----------------------------------------------------------------------------------


def _blank(v):
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v


def _date(v):
    v = _blank(v)
    return None if v is None else pd.Timestamp(v).date()


def _int(v):
    v = _blank(v)
    return None if v is None else int(v)


def _label(table: dict, v):
    v = _blank(v)
    return None if v is None else table[v]


def _save(sheets: list[tuple[str, list[str], list[list], set[int]]], path: Path) -> Path:
    """An xlsx of `sheets` (title, header, rows, indices of date columns), byte for byte the
    same for the same content."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook(write_only=True)
    for title, header, rows, date_cols in sheets:
        ws = wb.create_sheet(title)
        ws.append(header)
        for row in rows:
            cells = []
            for i, v in enumerate(row):
                if i in date_cols and v is not None:
                    cell = WriteOnlyCell(ws, value=v)
                    cell.number_format = DATE_FORMAT
                    cells.append(cell)
                else:
                    cells.append(v)
            ws.append(cells)
    wb.properties.creator = "gf-eval synthetic returns"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).write_data()  # not save_workbook, which stamps the time
    # Rewrite the archive with fixed entry times (ZipFile.writestr stamps the current time).
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            dst.writestr(fixed, src.read(info.filename))
    with atomic_path(path) as tmp:
        tmp.write_bytes(out.getvalue())
    return path


# --- MARAC ------------------------------------------------------------------------------------

MARAC_HEADER = [
    "MARAC ref", "Date referred", "MARAC date", "Referring agency", "Referral route",
    "DASH score", "Victim forename", "Victim surname", "Victim DOB", "Victim postcode",
    "Victim NHS no", "Victim sex", "Victim ethnicity", "Disability", "LGBT",
    "Children in household", "Perpetrator forename", "Perpetrator surname", "Perpetrator DOB",
    "Perpetrator postcode", "Perpetrator sex", "Repeat (coordinator)", "DAN involved",
]  # fmt: skip


def _marac(df: pd.DataFrame, ids, path: Path) -> Path:
    people = ids.people
    victims = people.reindex(df["victim_key"].astype(object))
    perps = people.reindex(df["perpetrator_key"].astype(object))
    birth = df["_victim_birth_date"] if "_victim_birth_date" in df else victims["birth_date"]
    rows = []
    for i, r in enumerate(df.itertuples(index=False)):
        v, p = victims.iloc[i], perps.iloc[i]
        rows.append([
            r.case_id, _date(r.referral_date), _date(r.meeting_date),
            MARAC_AGENCY_LABELS[r.referring_agency], MARAC_ROUTE_LABELS[r.referral_route],
            _int(r.dash_score), v["forename"], v["surname"], _date(birth.iloc[i]),
            v["postcode"], v["nhs_number"], SEX_LABELS[r.victim_sex],
            _label(ETHNIC_LABELS, r.victim_ethnic_group), _label(YES_NO_LABELS, r.victim_disabled),
            _label(YES_NO_LABELS, r.victim_lgbt), _int(r.children_in_household),
            p["forename"], p["surname"], _date(p["birth_date"]), p["postcode"],
            SEX_LABELS[r.perpetrator_sex], YES_NO_LABELS[r.coordinator_repeat],
            YES_NO_LABELS[r.dan_involved],
        ])  # fmt: skip
    dates = {MARAC_HEADER.index(c) for c in ("Date referred", "MARAC date", "Victim DOB",
                                             "Perpetrator DOB")}  # fmt: skip
    return _save([("Cases", MARAC_HEADER, rows, dates)], path)


# --- casework ---------------------------------------------------------------------------------

MEASURE_LABELS = {"dash": "DASH", "swemwbs": "SWEMWBS", "safety": "Feeling safe", "sdq": "SDQ"}
CASEWORK_HEADER = [
    "Worker", "Case ref", "Family ref", "Victim name", "Victim address", "Date referred",
    "Date allocated", "Date closed", "Referred by", "Victim engaged", "Perpetrator engaged",
    "Children engaged", "No. of children", "Contacts", "Closure reason",
    *[f"{MEASURE_LABELS[m]} at {w}" for m in codes.CASEWORK_MEASURES
      for w in ("allocation", "closure")],
]  # fmt: skip


def _casework(tables: dict[str, pd.DataFrame], ids, outdir: Path) -> list[Path]:
    df = tables["casework"]
    kids = tables["cs_children"]
    # The victim's surname and address: those of the family's first child in the census data.
    first_child = kids.drop_duplicates("family_id").set_index("family_id")["child_id"]
    child = ids.children.reindex(first_child.reindex(df["family_id"].astype(object)).to_numpy())
    rng = np.random.default_rng(20150901)  # victims' forenames: a fixed stream, row by row
    forenames = np.array(VICTIM_FORENAMES)[rng.integers(0, len(VICTIM_FORENAMES), len(df))]
    routes, closures = codes.CASEWORK_ROUTES, codes.CASEWORK_CLOSURES
    written = []
    for k, dan in enumerate(sorted(df["dan_id"].astype(object).unique()), start=1):
        rows = []
        for i in np.flatnonzero((df["dan_id"] == dan).to_numpy()):
            r = df.iloc[i]
            c = child.iloc[i]
            surname = _blank(c["surname"])
            rows.append([
                ids.workers[dan], r["case_id"], ids.families[r["family_id"]],
                None if surname is None else f"{forenames[i]} {surname}", _blank(c["address"]),
                _date(r["referral_date"]), _date(r["allocation_date"]), _date(r["closure_date"]),
                routes[r["referral_route"]], YES_NO_LABELS[r["victim_engaged"]],
                YES_NO_LABELS[r["perpetrator_engaged"]], YES_NO_LABELS[r["children_engaged"]],
                _int(r["n_children"]), _int(r["contacts"]),
                _label(closures, r["closure_reason"]),
                *[_int(r[f"{m}_{w}"]) for m in codes.CASEWORK_MEASURES for w in ("alloc", "close")],
            ])  # fmt: skip
        dates = {CASEWORK_HEADER.index(c) for c in ("Date referred", "Date allocated",
                                                    "Date closed")}  # fmt: skip
        written.append(_save([("Caseload", CASEWORK_HEADER, rows, dates)],
                             outdir / f"casework_dan_{k:02d}.xlsx"))  # fmt: skip
    return written


# --- survey -----------------------------------------------------------------------------------

SURVEY_HEADER = [
    "Response ID", "Submitted", "Email address", "Survey wave", "Which agency do you work for?",
    "What is your role?", *[text for _scale, text in codes.SURVEY_ITEMS.values()],
    COMMENT_HEADER,
]  # fmt: skip


def _survey(df: pd.DataFrame, ids, path: Path) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(SURVEY_HEADER)
    for i, r in enumerate(df.itertuples(index=False)):
        # A time of day, made up from the row number, as a survey tool stamps each response.
        at = pd.Timestamp(r.response_date) + pd.Timedelta(hours=8 + (i * 7) % 10,
                                                          minutes=(i * 13) % 60)  # fmt: skip
        writer.writerow([
            r.respondent_id, at.strftime("%d/%m/%Y %H:%M"), ids.emails[r.respondent_id],
            WAVE_LABELS[r.wave], codes.SURVEY_AGENCIES[r.agency], codes.SURVEY_ROLES[r.role],
            *["" if _blank(getattr(r, q)) is None else LIKERT_LABELS[int(getattr(r, q))]
              for q in codes.SURVEY_ITEMS],
            _blank(r.comment) or "",
        ])  # fmt: skip
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue().encode("utf-8-sig"))
    return path
