"""The report, the audit trail and byte-identical reruns, on the session's workflow run."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import copy_project
from gf_eval import appendix
from gf_eval.extracts import EXTRACTS

pytestmark = pytest.mark.workflow
RESULTS = "results/synthetic"


@pytest.fixture(scope="module")
def project(workflow_project):
    path, run = workflow_project
    assert run.returncode == 0, run.stderr[-3000:]
    return path


def test_report_holds_every_part_in_the_required_order(project):
    text = (project / "results" / "synthetic" / "report.html").read_text(encoding="utf-8")
    assert "Data source: synthetic data" in text
    # 1. the targets table with its verdicts, 2. the appendices, 3. validation and diagnostics
    order = [text.index('id="targets"'), *(text.index(f'id="part-{p}"') for p in appendix.PARTS),
             text.index('id="checks"')]  # fmt: skip
    assert order == sorted(order)
    targets_section = text[order[0]:order[1]]
    assert "verdict" in targets_section and "no evidence of reduction" in targets_section
    for part in appendix.PARTS:
        outputs = appendix.outputs(part)
        for name in {f.rsplit(".", 1)[0] for f in outputs["tables"] + outputs["figures"]}:
            assert f"{name}.csv" in text or f"{name}.png" in text, name
    assert text.count("data:image/png;base64,") == sum(
        len(appendix._module(p).FIGURES) for p in appendix.PARTS)
    assert "Interrupted time series" in text  # the primary models' diagnostics
    for name in EXTRACTS:
        assert f"<td class='label'>{name}</td>" in text


def test_sensitivity_analyses_are_marked_as_departures_from_the_plan(project):
    text = (project / "results" / "synthetic" / "report.html").read_text(encoding="utf-8")
    section = text[text.index('id="target_sensitivity"'):text.index('id="target_placebo"')]
    assert "departs from the pre-specified plan" in section
    rows = re.findall(r'<tr class="(departs)?">', section)
    flagged = sum(1 for r in rows if r == "departs")
    # every analysis but the three primary ones is a departure
    csv = (project / "results" / "synthetic" / "tables" / "target_sensitivity.csv").read_text().splitlines()
    assert flagged == len(csv) - 1 - 3
    targets = text[text.index('id="targets"'):text.index('id="part-targets"')]
    assert "Pre-specified primary analysis" in targets


def test_manifest_checks_with_sha256sum_and_covers_every_output(project):
    check = subprocess.run(["sha256sum", "--check", "--quiet", f"{RESULTS}/MANIFEST.sha256"],
                           cwd=project, capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    listed = {line.split("  ", 1)[1] for line in
              (project / RESULTS / "MANIFEST.sha256").read_text().splitlines()}  # fmt: skip
    on_disk = {p.relative_to(project).as_posix() for d in ("results", "data/interim")
               for p in (project / d).rglob("*") if p.is_file()}  # fmt: skip
    assert on_disk - listed == {f"{RESULTS}/MANIFEST.sha256"}
    assert f"{RESULTS}/report.html" in listed and f"{RESULTS}/provenance.json" in listed
    # The source's own trees only
    assert all(rel.startswith((f"{RESULTS}/", "data/interim/synthetic/")) for rel in listed)


def test_provenance_records_inputs_config_versions_and_seeds(project):
    prov = json.loads((project / RESULTS / "provenance.json").read_text())
    config = yaml.safe_load((project / "config" / "config.yaml").read_text())
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    assert prov["config_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert prov["seeds"]["seed"] == config["seed"]
    assert prov["packages"]["pandas"] and prov["packages"]["statsmodels"]
    assert prov["git"]["commit"] is None  # the project copy is not a git checkout
    # the nine extracts, truth.json, and the unit costs and deflators
    assert len(prov["inputs"]) == len(EXTRACTS) + 3
    for rel, digest in prov["inputs"].items():
        assert hashlib.sha256((project / rel).read_bytes()).hexdigest() == digest


def test_nothing_hashed_carries_the_time_of_the_run(project):
    today = datetime.date.today()
    stamps = {today.isoformat(), today.strftime("%d %B %Y"), today.strftime("%Y%m%d")}
    for rel in (f"{RESULTS}/report.html", f"{RESULTS}/provenance.json",
                f"{RESULTS}/MANIFEST.sha256"):
        text = (project / rel).read_text(encoding="utf-8")
        assert not [s for s in stamps if s in text], rel


@pytest.fixture
def scratch(project, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, symlinks=True)
    return copy


def _audit(root, *args):
    return subprocess.run([sys.executable, "-m", "gf_eval", "audit", "--root", str(root), *args],
                          capture_output=True, text=True)  # fmt: skip


def test_audit_passes_on_the_run_and_names_exactly_what_differs(scratch):
    assert _audit(scratch).returncode == 0, _audit(scratch).stderr
    (scratch / RESULTS / "tables" / "a5_dash.csv").write_text("tampered\n")
    (scratch / RESULTS / "tables" / "extra.csv").write_text("x\n")
    raw = scratch / "data" / "raw" / "synthetic" / "survey.csv"
    raw.write_text(raw.read_text() + "\n")
    config = yaml.safe_load((scratch / "config" / "config.yaml").read_text())
    config["disclosure"]["threshold"] = 10
    (scratch / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = _audit(scratch)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines()
             if not line.startswith(("gf-eval audit", "config compared"))]  # fmt: skip
    assert sorted(lines) == sorted([
        f"output changed since the run: {RESULTS}/tables/a5_dash.csv",
        f"output not in the manifest: {RESULTS}/tables/extra.csv",
        "raw input changed since the run: data/raw/synthetic/survey.csv",
        "config differs from the run's in: disclosure",
    ])  # fmt: skip


@pytest.mark.slow
def test_two_clean_runs_give_byte_identical_outputs(project, tmp_path):
    # A second run from nothing, with another hash seed for Python's sets and dicts, and each
    # job in its own process (`--no-hooks`: no fork server), as `gf-eval` by hand runs it.
    other = copy_project(tmp_path / "second")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    run = subprocess.run([sys.executable, "-m", "snakemake", "--no-hooks"], cwd=other,
                         capture_output=True, text=True, env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    first = (project / RESULTS / "MANIFEST.sha256").read_text()
    second = (other / RESULTS / "MANIFEST.sha256").read_text()
    assert first == second, [a for a, b in zip(first.splitlines(), second.splitlines()) if a != b]
    assert len(first.splitlines()) > 100
