"""CIN census import: the public sample and hand-made returns map as worked out by hand, several
years combine with the latest return winning, bad returns are refused with value-free messages,
and the synthetic census returns read back to the generator's tables.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from gf_eval.returns import ReturnError, compose
from gf_eval.returns.cin_census import COLUMNS, read_census

DATA = Path(__file__).parent / "data" / "returns" / "cin_census"
ROOT = Path(__file__).resolve().parents[1]

# Identifying values of the hand-made returns: none may appear in an error message.
SECRETS = ("AB12345", "UB777", "K801200001001", "2010-03-01", "2009-07-15")


# --- hand-made returns ------------------------------------------------------------------------


def message(year: int, children: str, reference: str | None = None) -> str:
    ref = f"<ReferenceDate>{reference}</ReferenceDate>" if reference else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Message>\n<Header><CollectionDetails>'
            f"<Collection>CIN</Collection><Year>{year}</Year>{ref}</CollectionDetails>"
            f"<Source><SourceLevel>L</SourceLevel><LEA>371</LEA></Source></Header>\n"
            f"<Children>\n{children}</Children>\n</Message>\n")  # fmt: skip


def child(la: str, episodes: str, birth: str | None = None, upn: str | None = None,
          gender: str = "1", ethnicity: str = "WBRI") -> str:  # fmt: skip
    upn_el = f"<UPN>{upn}</UPN>" if upn else ""
    birth_el = f"<PersonBirthDate>{birth}</PersonBirthDate>" if birth else ""
    return (f"<Child>\n<ChildIdentifiers><LAchildID>{la}</LAchildID>{upn_el}{birth_el}"
            f"<GenderCurrent>{gender}</GenderCurrent></ChildIdentifiers>\n"
            f"<ChildCharacteristics><Ethnicity>{ethnicity}</Ethnicity></ChildCharacteristics>\n"
            f"{episodes}</Child>\n")  # fmt: skip


def episode(ref: str, source: str = "6", need: str | None = "N1", closure: str | None = None,
            reason: str | None = None, assessments: str = "", plans: str = "",
            nfa: str | None = "false", extra: str = "") -> str:  # fmt: skip
    out = (f"<CINdetails>\n<CINreferralDate>{ref}</CINreferralDate>"
           f"<ReferralSource>{source}</ReferralSource>")
    out += f"<PrimaryNeedCode>{need}</PrimaryNeedCode>" if need else ""
    out += f"<CINclosureDate>{closure}</CINclosureDate>" if closure else ""
    out += f"<ReasonForClosure>{reason}</ReasonForClosure>" if reason else ""
    out += f"\n{assessments}{extra}"
    out += f"<ReferralNFA>{nfa}</ReferralNFA>\n" if nfa else ""
    return out + f"{plans}</CINdetails>\n"


def assessment(start: str, authorised: str | None = None, factors=()) -> str:
    out = f"<Assessments><AssessmentActualStartDate>{start}</AssessmentActualStartDate>"
    if authorised:
        out += f"<AssessmentAuthorisationDate>{authorised}</AssessmentAuthorisationDate>"
    if factors:
        out += ("<FactorsIdentifiedAtAssessment>"
                + "".join(f"<AssessmentFactors>{f}</AssessmentFactors>" for f in factors)
                + "</FactorsIdentifiedAtAssessment>")  # fmt: skip
    return out + "</Assessments>\n"


def plan(start: str, end: str | None = None, initial: str = "EMO", latest: str = "NEG") -> str:
    end_el = f"<CPPendDate>{end}</CPPendDate>" if end else ""
    return (f"<ChildProtectionPlans><CPPstartDate>{start}</CPPstartDate>{end_el}"
            f"<InitialCategoryOfAbuse>{initial}</InitialCategoryOfAbuse>"
            f"<LatestCategoryOfAbuse>{latest}</LatestCategoryOfAbuse>"
            "<NumberOfPreviousCPP>1</NumberOfPreviousCPP></ChildProtectionPlans>\n")  # fmt: skip


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def refused(paths, families=None) -> str:
    """The ReturnError message of importing `paths`, which must quote no identifying value."""
    with pytest.raises(ReturnError) as err:
        read_census(paths, families)
    msg = str(err.value)
    for secret in SECRETS:
        assert secret not in msg, f"the message quotes a value from the return: {msg}"
    return msg


def ts(s: str | None):
    return pd.NaT if s is None else pd.Timestamp(s)


# --- the public sample ------------------------------------------------------------------------


def test_public_sample_imports_and_maps(tmp_path):
    path = shutil.copy(DATA / "cin-2022.xml", tmp_path / "cin-2022.xml")
    tree = etree.parse(str(path))
    report: list = []
    out = read_census([path], report=report)
    counts = {
        "cs_children": "count(//Child)",
        "cs_referrals": "count(//Child/CINdetails)",
        "cs_assessments": "count(//CINdetails/Assessments)",
        "cs_factors": "count(//Assessments/FactorsIdentifiedAtAssessment/AssessmentFactors)",
        "cs_cp_plans": "count(//CINdetails/ChildProtectionPlans)",
    }
    for name, xpath in counts.items():
        assert len(out[name]) == int(tree.xpath(xpath)) > 0, name
        assert list(out[name].columns) == COLUMNS[name]
    assert out["cs_children"]["child_id"].tolist() == tree.xpath("//LAchildID/text()")
    assert out["cs_cp_plans"]["category"].tolist() == tree.xpath("//InitialCategoryOfAbuse/text()")
    assert report == [{"file": "cin-2022.xml", "year": 2022, "schema_year": 2022,
                       "schema_fallback": False, "reference_date": "2022-03-31", "children": 1,
                       "episodes": 1, "assessments": 1, "plans": 1}]  # fmt: skip
    json.dumps(report)  # plain values only


# --- hand calculation of the mapping ----------------------------------------------------------


def test_mapping_by_hand(tmp_path):
    a1 = assessment("2015-03-02", "2015-03-20", ["3B", "4B"])
    a2 = assessment("2015-03-02", "2015-03-25", ["21"])
    a3 = assessment("2015-03-10")
    kids = (
        child("AB12345", birth="2010-03-01", upn="K801200001001",
              episodes=episode("2015-02-28", closure="2015-03-10", reason="RC8", nfa="true")
              + episode("2015-03-01", need=None, assessments=a1 + a2 + a3,
                        plans=plan("2015-03-21", "2015-03-30"), source="2A"))
        + child("UB777", gender="0", ethnicity="NOBT", episodes=episode("2016-01-05"))
    )  # fmt: skip
    path = write(tmp_path / "y2016.xml", message(2016, kids))
    report: list = []
    out = read_census([path], report=report)
    assert report[0]["schema_year"] == 2017 and report[0]["schema_fallback"] is True

    children = out["cs_children"]
    assert children.to_dict("records") == [
        {"child_id": "AB12345", "family_id": "AB12345", "gender": "1", "ethnicity": "WBRI"},
        {"child_id": "UB777", "family_id": "UB777", "gender": "0", "ethnicity": "NOBT"},
    ]
    ref = out["cs_referrals"]
    r1, r2, r3 = (compose("AB12345", "2015-02-28"), compose("AB12345", "2015-03-01"),
                  compose("UB777", "2016-01-05"))  # fmt: skip
    assert ref["referral_id"].tolist() == [r1, r2, r3]
    # Born 2010-03-01: 4 the day before the fifth birthday, 5 on it; unborn is 0.
    assert ref["age_at_referral"].tolist() == [4, 5, 0]
    assert str(ref["age_at_referral"].dtype) == "Int64"
    assert ref["referral_source"].tolist() == ["6", "2A", "6"]
    assert ref["primary_need"].tolist() == ["N1", None, "N1"]
    assert ref["closure_date"].tolist()[0] == pd.Timestamp("2015-03-10")
    assert ref["closure_date"].isna().tolist() == [False, True, True]
    assert ref["closure_reason"].tolist() == ["RC8", None, None]
    assert ref["referral_date"].dtype == "datetime64[ns]"

    ass = out["cs_assessments"]
    ids = [compose("AB12345", "2015-03-01", "2015-03-02", 0),
           compose("AB12345", "2015-03-01", "2015-03-02", 1),
           compose("AB12345", "2015-03-01", "2015-03-10", 0)]  # fmt: skip
    assert ass["assessment_id"].tolist() == ids
    assert ass["referral_id"].tolist() == [r2] * 3
    assert ass["authorised_date"].tolist()[:2] == [ts("2015-03-20"), ts("2015-03-25")]
    assert pd.isna(ass["authorised_date"].iloc[2])
    assert out["cs_factors"].to_dict("records") == [
        {"assessment_id": ids[0], "factor": "3B"}, {"assessment_id": ids[0], "factor": "4B"},
        {"assessment_id": ids[1], "factor": "21"},
    ]  # fmt: skip
    # The plan's category is its initial one, not the latest.
    assert out["cs_cp_plans"].to_dict("records") == [{
        "plan_id": compose("AB12345", "2015-03-01", "2015-03-21"), "referral_id": r2,
        "start_date": ts("2015-03-21"), "end_date": ts("2015-03-30"), "category": "EMO",
    }]  # fmt: skip


def test_families_file_gives_family_ids(tmp_path):
    kids = child("AB12345", episode("2016-01-05"), birth="2010-03-01") + child(
        "UB777", episode("2016-01-05"), birth="2009-07-15")
    path = write(tmp_path / "y2017.xml", message(2017, kids))
    fam = write(tmp_path / "families.csv", "LAchildID,FamilyID\nAB12345,FAM1\nUB777,FAM1\n")
    out = read_census([path], families=fam)
    assert out["cs_children"]["family_id"].tolist() == ["FAM1", "FAM1"]

    fam = write(tmp_path / "families.csv", "LAchildID,FamilyID\nAB12345,FAM1\nXX1,FAM2\n")
    msg = refused([path], families=fam)
    assert "families.csv" in msg and "1 children" in msg and "not in the families file" in msg


# --- several years ----------------------------------------------------------------------------


def test_latest_return_wins(tmp_path):
    early = child("AB12345", birth="2010-03-01", episodes=(
        episode("2015-01-10", closure="2015-02-01", reason="RC7")
        + episode("2016-02-01", need="N4",
                  assessments=assessment("2016-02-03"), plans=plan("2016-03-01"))))  # fmt: skip
    late = child("AB12345", birth="2010-03-01", ethnicity="WOTH", episodes=episode(
        "2016-02-01", need="N1", closure="2016-09-30", reason="RC7",
        assessments=assessment("2016-02-03", "2016-02-20", ["3A"]),
        plans=plan("2016-03-01", "2016-09-01", initial="NEG")))  # fmt: skip
    p16 = write(tmp_path / "cin16.xml", message(2016, early))
    p17 = write(tmp_path / "cin17.xml", message(2017, late, reference="2017-03-31"))
    out = read_census([p17, p16])  # order of the files does not matter
    ref = out["cs_referrals"].set_index("referral_date")
    assert len(ref) == 2  # the episode closed in 2015 stays: absent later is not removed
    assert ref.loc["2016-02-01", "closure_date"] == pd.Timestamp("2016-09-30")
    assert ref.loc["2016-02-01", "primary_need"] == "N1"
    assert ref.loc["2015-01-10", "closure_reason"] == "RC7"
    assert out["cs_children"]["ethnicity"].tolist() == ["WOTH"]
    ass = out["cs_assessments"]
    assert len(ass) == 1 and ass["authorised_date"].iloc[0] == pd.Timestamp("2016-02-20")
    assert out["cs_factors"]["factor"].tolist() == ["3A"]
    plans = out["cs_cp_plans"]
    assert plans[["end_date", "category"]].values.tolist() == [[pd.Timestamp("2016-09-01"), "NEG"]]
    again = read_census([p16, p17])
    for name in out:
        pd.testing.assert_frame_equal(out[name], again[name])


def test_later_return_replaces_factors(tmp_path):
    def year(y, factors):
        ep = episode("2016-02-01", assessments=assessment("2016-02-03", "2016-02-20", factors))
        return write(tmp_path / f"c{y}.xml", message(y, child("AB12345", ep)))

    out = read_census([year(2016, ["3A", "4B"]), year(2017, ["3B"])])
    assert out["cs_factors"]["factor"].tolist() == ["3B"]


# --- bad input --------------------------------------------------------------------------------


def test_not_well_formed(tmp_path):
    text = message(2017, child("AB12345", episode("2016-01-05"), birth="2010-03-01"))
    path = write(tmp_path / "broken.xml", text.replace("</LAchildID>", "</LAchild>"))
    msg = refused([path])
    assert "broken.xml" in msg and "line 6" in msg and "not well-formed XML" in msg


def test_valid_only_against_another_years_schema(tmp_path):
    # Factor 18B first appears in the 2021 schema, CINPlanDates in the 2022 one.
    ep = episode("2016-01-05", assessments=assessment("2016-01-06", "2016-01-20", ["18B"]))
    path = write(tmp_path / "cin.xml", message(2017, child("AB12345", ep, birth="2010-03-01")))
    msg = refused([path])
    assert msg == ("cin.xml: valid against the 2021 schema, not the 2017 schema its header "
                   "declares (also valid against the 2022 to 2024 schemas)")
    extra = "<CINPlanDates><CINPlanStartDate>2016-02-01</CINPlanStartDate></CINPlanDates>"
    path = write(tmp_path / "cin.xml", message(2014, child("AB12345", episode(
        "2016-01-05", extra=extra), birth="2010-03-01")))  # fmt: skip
    msg = refused([path])
    assert msg.startswith("cin.xml: valid against the 2022 schema, not the 2017 schema (the "
                          "earliest public one) used for the 2014 census its header declares")


def test_missing_required_element(tmp_path):
    kids = (child("AB12345", episode("2016-01-05", nfa=None), birth="2010-03-01")
            + child("UB777", episode("2016-02-05", nfa=None) + episode("2016-03-01")))  # fmt: skip
    path = write(tmp_path / "cin.xml", message(2017, kids))
    msg = refused([path])
    assert "fails the 2017 schema its header declares: 2 errors" in msg
    assert ("/Message/Children/Child/CINdetails: missing required element (ReferralNFA) "
            "(2 errors; lines") in msg  # fmt: skip


def test_bad_values_are_counted_not_quoted(tmp_path):
    kids = (child("AB12345", episode("2016-01-05", source="ZZ"), birth="2010-13-01",
                  upn="K80120000100", ethnicity="WBR")
            + child("UB777", episode("2016-01-05", source="QQ"), birth="2009-07-15"))  # fmt: skip
    path = write(tmp_path / "cin.xml", message(2015, kids))
    msg = refused([path])
    assert "used for the 2015 census its header declares" in msg
    assert "ReferralSource: not in the allowed list (2 errors; lines 9, 17)" in msg
    assert "ChildIdentifiers/UPN: does not match the pattern (1 error" in msg
    assert "ChildIdentifiers/PersonBirthDate: not a valid date (1 error" in msg
    assert "Ethnicity: not in the allowed list (1 error" in msg
    for value in ("ZZ", "QQ", "K80120000100", "2010-13-01", "WBR'"):
        assert value not in msg


def test_unexpected_element_name_not_quoted(tmp_path):
    text = message(2017, child("AB12345", episode("2016-01-05"), birth="2010-03-01"))
    path = write(tmp_path / "cin.xml", text.replace("<GenderCurrent>", "<UB777/><GenderCurrent>"))
    msg = refused([path])
    assert "(an element not in the schema): unexpected element (1 error; line 6)" in msg


def test_header_must_declare_the_year(tmp_path):
    text = message(2017, child("AB12345", episode("2016-01-05"), birth="2010-03-01"))
    path = write(tmp_path / "cin.xml", text.replace("<Year>2017</Year>", ""))
    assert "CollectionDetails/Year: missing required element" in refused([path])
    path = write(tmp_path / "cin.xml", text.replace("Message>", "Other>"))
    assert "cin.xml: line 2: the root element is not Message" in refused([path])


def test_duplicate_year(tmp_path):
    text = message(2017, child("AB12345", episode("2016-01-05"), birth="2010-03-01"))
    a, b = write(tmp_path / "a.xml", text), write(tmp_path / "b.xml", text)
    msg = refused([a, b])
    assert "b.xml: declares the census year 2017, as a.xml does" in msg


def test_conflicting_records_in_one_return(tmp_path):
    kids = child("AB12345", episode("2016-01-05") + episode("2016-01-05", need="N4"))
    path = write(tmp_path / "cin.xml", message(2017, kids))
    assert "1 episodes (LAchildID and CINreferralDate) listed more than once" in refused([path])


# --- the synthetic returns read back to the generator's tables -------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from gf_eval import synth
    from gf_eval.config import Calendar, load_config, synth_settings
    from gf_eval.synth.returns.census import write_census
    from gf_eval.synth.returns.identities import identities

    settings = json.loads(synth_settings(load_config(ROOT / "config" / "config.yaml")))
    settings["synthetic"]["scale"] = 0.03
    tables, _ = synth.generate(settings)
    # Referral source 5D (early help) first appears in the 2021 schema, so no census return of
    # the study years can carry it; the writer refuses it (see the test below).
    ref = tables["cs_referrals"]
    tables["cs_referrals"] = ref.assign(referral_source=ref["referral_source"].replace("5D", "5C"))
    ids = identities(tables, settings["seed"])
    cal = Calendar.from_config(settings)
    out = tmp_path_factory.mktemp("census")
    paths = write_census(tables, ids, cal, out)
    return tables, ids, cal, paths, write_census


def test_synthetic_returns_round_trip(synthetic):
    tables, ids, cal, paths, _ = synthetic
    xml, families = paths[:-1], paths[-1]
    assert [p.name for p in xml] == [f"cin_census_{y}.xml" for y in range(2012, 2018)]
    assert families.name == "families.csv"
    report: list = []
    got = read_census(xml, families=families, report=report)
    assert [r["schema_fallback"] for r in report] == [True] * 5 + [False]

    la = ids.children["la_child_id"]
    ref = tables["cs_referrals"].copy()
    ref_key = {r: compose(la[c], d)
               for r, c, d in zip(ref["referral_id"], ref["child_id"], ref["referral_date"])}
    ass = tables["cs_assessments"].sort_values(["referral_id", "start_date", "assessment_id"])
    n = ass.groupby(["referral_id", "start_date"]).cumcount()
    ass_key = {a: f"{ref_key[r]}\x1f{s:%Y-%m-%d}\x1f{k}" for a, r, s, k in
               zip(ass["assessment_id"], ass["referral_id"], ass["start_date"], n)}  # fmt: skip
    plans = tables["cs_cp_plans"]
    plan_key = {p: f"{ref_key[r]}\x1f{s:%Y-%m-%d}" for p, r, s in
                zip(plans["plan_id"], plans["referral_id"], plans["start_date"])}  # fmt: skip

    kids = tables["cs_children"]
    kids = kids[kids["child_id"].isin(ref["child_id"])]
    expected = {
        "cs_children": kids.assign(family_id=kids["family_id"].map(ids.families),
                                   child_id=kids["child_id"].map(la)),
        "cs_referrals": ref.assign(referral_id=ref["referral_id"].map(ref_key),
                                   child_id=ref["child_id"].map(la)),
        "cs_assessments": ass.assign(assessment_id=ass["assessment_id"].map(ass_key),
                                     referral_id=ass["referral_id"].map(ref_key)),
        "cs_factors": tables["cs_factors"].assign(
            assessment_id=tables["cs_factors"]["assessment_id"].map(ass_key)),
        "cs_cp_plans": plans.assign(plan_id=plans["plan_id"].map(plan_key),
                                    referral_id=plans["referral_id"].map(ref_key)),
    }  # fmt: skip
    for name, want in expected.items():
        key = ["assessment_id", "factor"] if name == "cs_factors" else [COLUMNS[name][0]]
        want = want[COLUMNS[name]].sort_values(key).reset_index(drop=True)
        assert len(got[name]) == len(want) > 0, name
        for col in COLUMNS[name]:
            a, b = got[name][col], want[col]
            if col == "age_at_referral":
                assert a.astype("Int64").tolist() == b.astype("Int64").tolist(), (name, col)
            elif pd.api.types.is_datetime64_any_dtype(a):
                pd.testing.assert_series_equal(a, pd.to_datetime(b).astype(a.dtype),
                                               check_names=False)  # fmt: skip
            else:
                assert a.tolist() == [None if pd.isna(v) else str(v) for v in b], (name, col)


def test_synthetic_returns_as_known_on_each_reference_date(synthetic):
    _, ids, _, paths, _ = synthetic
    birth = ids.children["birth_date"].dt.strftime("%Y-%m-%d")
    tree = etree.parse(str(paths[0]))
    assert tree.xpath("string(//Source/LEA)") == "371"
    for path in paths[:-1]:
        tree = etree.parse(str(path))
        ref = tree.xpath("string(//ReferenceDate)")
        dates = tree.xpath("//Children//*[contains(local-name(), 'Date')]/text()")
        assert dates and max(dates) <= ref, path.name
        births = tree.xpath("//PersonBirthDate/text()")
        assert set(births) <= set(birth)
        # Factors only for assessments authorised by the reference date.
        assert not tree.xpath("//Assessments[not(AssessmentAuthorisationDate)]"
                              "/FactorsIdentifiedAtAssessment")  # fmt: skip


def test_synthetic_returns_are_deterministic(synthetic, tmp_path):
    tables, ids, cal, paths, write_census = synthetic
    again = write_census(tables, ids, cal, tmp_path)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]


def test_writer_refuses_what_the_census_cannot_carry(synthetic, tmp_path):
    tables, ids, cal, _, write_census = synthetic
    ref = tables["cs_referrals"]
    bad = dict(tables, cs_referrals=ref.assign(referral_source=ref["referral_source"].where(
        ref.index != ref.index[0], "5D")))  # fmt: skip
    with pytest.raises(ValueError, match="5D.*does not allow"):
        write_census(bad, ids, cal, tmp_path)
    bad = dict(tables, cs_referrals=ref.assign(referral_source=ref["referral_source"].where(
        ref.index != ref.index[0], None)))  # fmt: skip
    with pytest.raises(ValueError, match="requires ReferralSource"):
        write_census(bad, ids, cal, tmp_path)
    kids = tables["cs_children"]
    bad = dict(tables, cs_children=kids.assign(ethnicity=kids["ethnicity"].where(
        kids.index != kids.index[0], None)))  # fmt: skip
    with pytest.raises(ValueError, match="requires Ethnicity"):
        write_census(bad, ids, cal, tmp_path)
