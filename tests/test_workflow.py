"""The Snakemake workflow end to end, in a temporary copy of the project."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gf_eval.returns.layout import RETURNS

from gf_eval import synth
from gf_eval.extracts import EXTRACTS

from conftest import ROOT, copy_project, snakemake, with_synthetic

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def project(workflow_project) -> Path:
    return workflow_project[0]


@pytest.fixture(scope="module")
def first_run(workflow_project) -> subprocess.CompletedProcess:
    return workflow_project[1]


def test_a_bare_snakemake_runs_the_whole_workflow(project, first_run):
    assert first_run.returncode == 0, first_run.stderr[-3000:]
    # Every job but `all` (which runs nothing) ran in a process forked from the fork server.
    jobs = int(re.search(r"^total\s+(\d+)", first_run.stdout + first_run.stderr, re.M)[1])
    assert f"gf-eval fork server: ran {jobs - 1} jobs" in first_run.stderr
    for name in EXTRACTS:
        assert (project / "data" / "interim" / "synthetic" / f"{name}.parquet").is_file()
        assert (project / "results" / "synthetic" / "validation" / f"{name}.json").is_file()
        assert (project / "logs" / "synthetic" / "validate" / f"{name}.log").is_file()
    assert (project / "data" / "raw" / "synthetic" / "truth.json").is_file()
    marac = pd.read_parquet(project / "data" / "interim" / "synthetic" / "marac_cases.parquet")
    assert 0 < len(marac) < 1500  # scale 0.3 of a few hundred a year over six years


def test_a_second_run_has_nothing_to_do(project, first_run):
    rerun = snakemake(project)
    assert rerun.returncode == 0
    assert "Nothing to be done" in rerun.stdout + rerun.stderr


def test_real_extracts_folder_is_used_and_failures_stop_downstream(tmp_path, settings):
    project = copy_project(tmp_path / "project")
    real = project / "data" / "raw" / "elsewhere"
    synth.write(*synth.generate(with_synthetic(settings, scale=0.3)), real)
    (real / "truth.json").unlink()
    children = (real / "cs_children.csv").read_text().splitlines()
    children[3] = children[3].rsplit(",", 1)[0] + ",XXXX"  # an unknown ethnicity code
    (real / "cs_children.csv").write_text("\n".join(children) + "\n")
    result = snakemake(project, "--config", "extracts=data/raw/elsewhere")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error in rule validate" in out and "logs/elsewhere/validate/cs_children.log" in out
    assert "column ethnicity: value not in the code list: 1 row fails (first rows: 3)" in (
        project / "logs" / "elsewhere" / "validate" / "cs_children.log"
    ).read_text()
    # Nothing downstream of the failed table ran, and the generator did not run at all.
    for child in ("cs_children", "cs_referrals", "cs_looked_after", "casework"):
        assert not (project / "data" / "interim" / "elsewhere" / f"{child}.parquet").exists()
    assert not (project / "data" / "raw" / "synthetic").exists()
    assert not (project / "data" / "interim" / "synthetic").exists()
    report = (project / "results" / "elsewhere" / "validation" / "cs_children.json").read_text()
    assert '"valid": false' in report


def test_a_bad_config_is_refused_before_anything_runs(project):
    result = snakemake(project, "-n", "--config", "seed=-3")
    assert result.returncode != 0
    assert "seed" in result.stdout + result.stderr


def test_snakemake_lint_is_clean():
    result = snakemake(ROOT, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_check_passes():
    result = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "Snakefile"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_slurm_profile_gives_every_rule_its_resources():
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    rules = set()
    for path in (ROOT / "Snakefile", ROOT / "rules" / "multisite.smk"):
        rules |= set(re.findall(r"^rule (\w+):", path.read_text(), re.M))
    # rules/returns.smk: its rule for the synthetic returns, and one import rule per return
    returns = (ROOT / "rules" / "returns.smk").read_text()
    rules |= set(re.findall(r"^\s+rule (\w+):", returns, re.M))
    assert 'f"import_{name}"' in returns
    rules |= {f"import_{name}" for name in RETURNS}
    assert rules - {"all"} == set(profile["set-resources"])


# Libraries the steps use, which the workflow's own code (the Snakefile, its rules and the
# modules they call) must not import while Snakemake builds the workflow: every `snakemake`
# call (a no-op, a dry run) builds it, and each import would cost it seconds (issue 17).
# Snakemake itself imports some of them (yte imports numpy; pandas for its params check): that
# is the floor's cost too, so only imports made from our files count. A synthetic panel draws
# its sites with numpy. rfc3987-syntax compiles grammars on import.
HEAVY = {"pandas", "numpy", "scipy", "statsmodels", "matplotlib", "pandera", "pyarrow",
         "rfc3987_syntax"}  # fmt: skip
WATCH = """
import builtins, json, sys, traceback
ours = ("/gf_eval/", "/Snakefile", ".smk")
found = set()
real_import = builtins.__import__
def watch(name, *args, **kwargs):
    if name.split(".")[0] in HEAVY:
        where = traceback.extract_stack()[-2].filename
        if any(part in where or where.endswith(part) for part in ours):
            found.add(name.split(".")[0])
    return real_import(name, *args, **kwargs)
builtins.__import__ = watch
sys.argv = ["snakemake", *sys.argv[1:]]
from snakemake.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print("imported by the workflow:", json.dumps(sorted(found)), "exit", code)
"""


@pytest.mark.parametrize("config, allowed", [((), []),
                                             (("--configfile", "config/multisite.yaml"),
                                              ["numpy"])])  # fmt: skip
def test_building_the_workflow_imports_no_heavy_library(tmp_path, config, allowed):
    project = copy_project(tmp_path / "project")
    for attempt in ("from nothing", "after a dry run wrote the settings"):
        run = subprocess.run([sys.executable, "-c", f"HEAVY = {sorted(HEAVY)!r}" + WATCH, "-n",
                              *config], cwd=project, capture_output=True, text=True)  # fmt: skip
        line = [x for x in run.stdout.splitlines() if x.startswith("imported by the workflow:")]
        assert line and line[0].endswith("exit 0"), run.stdout[-2000:] + run.stderr[-2000:]
        assert line[0] == f"imported by the workflow: {json.dumps(allowed)} exit 0", attempt
