"""The workflow from raw returns: checks before any job, and the synthetic returns end to end."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import copy_project, snakemake
from gf_eval.config import ConfigError, load_config
from gf_eval.preflight import check_extracts


def _config(returns: str) -> dict:
    return load_config(overrides={"returns": returns})


def test_a_missing_returns_folder_stops_before_any_job(tmp_path):
    with pytest.raises(ConfigError, match="returns folder .*nowhere does not exist"):
        check_extracts(_config(str(tmp_path / "nowhere")), root=tmp_path)


def test_a_returns_folder_lacking_a_return_names_each_missing_one(tmp_path, monkeypatch):
    folder = tmp_path / "doncaster"
    (folder / "cin_census").mkdir(parents=True)
    (folder / "cin_census" / "cin_2017.xml").write_text("<Message/>")
    monkeypatch.setenv("GF_EVAL_KEY", "0123456789abcdef0123")
    with pytest.raises(ConfigError) as err:
        check_extracts(_config(str(folder)), root=tmp_path)
    text = str(err.value)
    for name in ("ssda903/", "marac/", "casework/", "survey/"):
        assert name in text
    assert "cin_census/" not in text


def test_no_key_stops_before_any_job(tmp_path, monkeypatch):
    folder = tmp_path / "doncaster"
    for sub, name in (("cin_census", "a.xml"), ("ssda903", "a.csv"), ("marac", "a.csv"),
                      ("casework", "a.csv"), ("survey", "a.csv")):  # fmt: skip
        (folder / sub).mkdir(parents=True)
        (folder / sub / name).write_text("x")
    monkeypatch.delenv("GF_EVAL_KEY", raising=False)
    monkeypatch.delenv("GF_EVAL_KEY_FILE", raising=False)
    with pytest.raises(ConfigError, match="no pseudonymisation key"):
        check_extracts(_config(str(folder)), root=tmp_path)
    key = tmp_path / "empty.key"
    key.write_text("")
    monkeypatch.setenv("GF_EVAL_KEY_FILE", str(key))
    with pytest.raises(ConfigError, match="empty"):
        check_extracts(_config(str(folder)), root=tmp_path)


def test_a_returns_folder_may_not_take_the_embedded_datas_name(tmp_path, monkeypatch):
    monkeypatch.setenv("GF_EVAL_KEY", "0123456789abcdef0123")
    with pytest.raises(ConfigError, match="would share the output trees"):
        check_extracts(_config(str(tmp_path / "synthetic-returns")), root=tmp_path)


SCALE = 0.1


@pytest.fixture(scope="module")
def both_routes(tmp_path_factory):
    """One small synthetic authority run twice in one project: from its extract CSVs, and
    from its raw returns through import and pseudonymisation."""
    project = copy_project(tmp_path_factory.mktemp("returns") / "project", scale=SCALE)
    csv_route = snakemake(project)
    returns_route = snakemake(project, "--config", "returns=synthetic")
    return project, csv_route, returns_route


@pytest.mark.slow
@pytest.mark.workflow
def test_the_returns_route_publishes_the_csv_routes_tables(both_routes):
    project, csv_route, returns_route = both_routes
    assert csv_route.returncode == 0, csv_route.stderr[-3000:]
    assert returns_route.returncode == 0, returns_route.stderr[-3000:]
    a, b = project / "results" / "synthetic", project / "results" / "synthetic-returns"
    published = sorted(p.relative_to(a) for p in a.rglob("*")
                       if p.is_file() and p.parts[len(a.parts)] in ("tables", "figures"))  # fmt: skip
    assert len(published) > 100
    different = [str(p) for p in published if (a / p).read_bytes() != (b / p).read_bytes()]
    assert different == []
    models = sorted((a / "working" / "models").iterdir())
    assert [p.read_bytes() for p in models] == [
        (b / "working" / "models" / p.name).read_bytes() for p in models
    ]
    # the returns really were the route: census XML, 903 CSVs and workbooks
    returns = project / "data" / "returns" / "synthetic"
    assert len(list((returns / "cin_census").glob("*.xml"))) == 6
    assert list((returns / "marac").glob("*.xlsx")) and list((returns / "ssda903").glob("*.csv"))
    sums = subprocess.run(["sha256sum", "-c", str(b / "MANIFEST.sha256")], cwd=project,
                          capture_output=True)  # fmt: skip
    assert sums.returncode == 0


def _identifiers(returns: Path) -> set[str]:
    """Every identifying value the raw returns hold: full names, NHS numbers, UPNs, postcodes,
    addresses, e-mails, LAchildIDs and family references, and the key. (A surname alone is
    not scanned for: Pearson, say, is also a correlation.)"""
    import pandas as pd
    from lxml import etree

    found: set[str] = set()
    for xml in (returns / "cin_census").glob("*.xml"):
        tree = etree.parse(str(xml))
        for tag in ("LAchildID", "UPN"):
            found |= {e.text for e in tree.iter(tag)}
    fam = pd.read_csv(returns / "cin_census" / "families.csv", dtype=str)
    found |= set(fam["FamilyID"])
    marac = pd.read_excel(next((returns / "marac").glob("*.xlsx")), dtype=str)
    for col in marac.columns:
        if re.search(r"postcode|NHS", col, re.I):
            found |= set(marac[col].dropna())
    for who in ("Victim", "Perpetrator"):
        found |= set((marac[f"{who} forename"] + " " + marac[f"{who} surname"]).dropna())
    for episodes in (returns / "ssda903").glob("*episodes*.csv"):
        table = pd.read_csv(episodes, dtype=str)
        found |= set(table["HOME_POST"].dropna()) | set(table["PL_POST"].dropna())
    survey = pd.read_csv(next((returns / "survey").glob("*.csv")), dtype=str)
    found |= set(survey["Email address"].dropna())
    for book in (returns / "casework").glob("*.xlsx"):
        cw = pd.read_excel(book, dtype=str)
        for col in ("Worker", "Victim name", "Victim address", "Family ref"):
            found |= set(cw[col].dropna())
    found.add((returns.parent / "synthetic.key").read_text().strip())
    return {v for v in found if v}


def _any_of(values: set[str]) -> re.Pattern:
    """A pattern that finds any of the values: their prefix tree as nested groups, so each
    position of the text is tried against the values' first characters, not against each of
    hundreds of alternatives in turn (a plain alternation took two minutes on a run's files).
    A value that extends another adds nothing to what is found, so it is left out."""
    tree: dict = {}
    for value in values:
        node = tree
        for ch in value:
            node = node.setdefault(ch, {})
        node[""] = {}

    def group(node: dict) -> str:
        if "" in node:
            return ""
        branches = [re.escape(ch) + group(child) for ch, child in sorted(node.items())]
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return re.compile(group(tree))


def test_the_prefix_tree_pattern_finds_exactly_the_values():
    values = {"DN1 3BU", "DN1 3BX", "DN12 4AA", "Jane Doe", "Jane", "943 476 5919", "a.b+c@x.org"}
    pattern = _any_of(values)
    for value in values:
        assert pattern.search(f"before {value} after"), value
    for text in ("DN1 3B", "DN12 4A", "Jan", "943 476 591", "a.bbc@x.org", "DN1 3BV", ""):
        assert pattern.search(text) is None, text


@pytest.mark.slow
@pytest.mark.workflow
def test_no_identifier_or_key_reaches_any_file_the_run_writes(both_routes):
    project, _, returns_route = both_routes
    assert returns_route.returncode == 0, returns_route.stderr[-3000:]
    returns = project / "data" / "returns" / "synthetic"
    values = _identifiers(returns)
    assert len(values) > 500
    pattern = _any_of(values)
    census = next((returns / "cin_census").glob("*.xml")).read_text()
    assert pattern.search(census), "the scan finds the identifiers the census return holds"
    # Every file the run wrote but the raw returns and their key, which stand for what the
    # authority holds: Snakemake's own logs and metadata included.
    scanned = 0
    for path in project.rglob("*"):
        if not path.is_file() or returns in path.parents or path.name == "synthetic.key":
            continue
        if path.suffix in (".png",):
            continue  # compressed pixels; their .svg twins are scanned
        text = path.read_bytes().decode("utf-8", "replace")
        hit = pattern.search(text)
        assert hit is None, f"{path.relative_to(project)} holds an identifier of the returns"
        scanned += 1
    assert scanned > 200
    stderr = returns_route.stderr
    assert pattern.search(stderr) is None
    config = yaml.safe_load((project / "config" / "config.yaml").read_text())
    assert "key" not in yaml.safe_dump(config).lower()
