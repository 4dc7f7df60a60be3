"""The analysts' notebooks (notebooks/*.py, jupytext percent) and their loaders in
gf_eval.explore: every notebook runs against a finished workflow and stays a thin layer over
the package."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from gf_eval import explore
from gf_eval.analysis.targets import TARGETS

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
IDS = [p.stem for p in NOTEBOOKS]
HEADER = re.compile(
    r"\A# ---\n# jupyter:\n#   jupytext:\n#     formats: py:percent\n"
    r"#     text_representation:\n(#       .*\n)+#   kernelspec:\n(#     .*\n)+# ---\n"
)
# A crude guard against re-implementing an analysis in a notebook: model fits belong to the
# package, and a 365 would be the 12-month rule written out again.
FORBIDDEN = ("sm.GLM", "smf.", "statsmodels", "scipy", "365")


def test_the_four_notebooks_and_their_readme_exist():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_"]
    readme = (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8")
    for word in ("jupytext --to notebook", "snakemake", "GF_EVAL_ROOT"):
        assert word in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_jupytext_percent_with_cells(path):
    text = path.read_text(encoding="utf-8")
    assert HEADER.match(text), "missing the jupytext percent YAML header"
    cells = re.findall(r"^# %%(.*)$", text, flags=re.MULTILINE)
    assert len(cells) >= 3
    assert sum(c.strip() == "[markdown]" for c in cells) >= 2
    assert all(len(line) <= 100 for line in text.splitlines())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_reimplements_no_analysis(path):
    text = path.read_text(encoding="utf-8")
    found = [word for word in FORBIDDEN if word in text]
    assert not found, f"{path.name}: call the package instead of {found}"
    assert "explore." in text, f"{path.name}: load through gf_eval.explore"
    # The appendix modules switch matplotlib to Agg on import: no plots inside Jupyter.
    assert "gf_eval.appendix" not in text, f"{path.name}: read tables with explore.published"


BIN = Path(sys.executable).parent


def test_the_notebooks_extra_brings_what_opens_and_executes_them():
    # `pip install -e ".[notebooks]"` (notebooks/README.md): JupyterLab opens them, jupytext
    # pairs the .py files with notebooks, nbconvert and ipykernel execute them.
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["notebooks"]  # fmt: skip
    assert {re.match(r"[\w-]+", d).group() for d in extra} == {
        "jupyterlab", "jupytext", "nbconvert", "ipykernel"}
    readme = (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8")
    assert 'pip install -c constraints.txt -e ".[notebooks]" && jupyter lab notebooks/' in readme
    lab = subprocess.run([str(BIN / "jupyter"), "lab", "--version"], capture_output=True, text=True)
    assert lab.returncode == 0, "the notebooks extra is not installed: " + lab.stderr


@pytest.mark.workflow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executes_through_jupytext_on_a_finished_workflow(path, workflow_project,
                                                                    tmp_path):
    """Executed as the README says, in a Jupyter kernel, not as a plain script."""
    project, run = workflow_project
    assert run.returncode == 0, run.stderr[-3000:]
    env = {**os.environ, "GF_EVAL_ROOT": str(project), "MPLBACKEND": "Agg"}
    out = tmp_path / f"{path.stem}.ipynb"
    done = subprocess.run([str(BIN / "jupytext"), "--to", "notebook", "--execute", "--output",
                           str(out), str(path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, f"{path.name} failed:\n{done.stderr[-5000:]}"
    cells = json.loads(out.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(c.get("execution_count") for c in code)  # every cell ran
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]


@pytest.mark.workflow
def test_loaders_read_every_kind_of_output(workflow_project, monkeypatch):
    project, run = workflow_project
    assert run.returncode == 0, run.stderr[-3000:]
    monkeypatch.setenv(explore.ROOT_ENV, str(project))
    assert explore.config()["synthetic"]["scale"] == 0.3
    assert len(explore.typed("casework")) > 0
    assert len(explore.derived("monthly_series")) == explore.calendar().t_end + 1
    assert set(explore.model_output("estimates")["target"]) == set(TARGETS)
    frame, spec, meta = explore.published("target_sensitivity")
    assert len(frame) > 0 and meta["name"] == "target_sensitivity" and spec.labels
    assert explore.truth()["scale"] == 0.3


def test_explore_leaves_the_matplotlib_backend_alone():
    # gf_eval.appendix.plotting forces Agg on import, which would hide plots in Jupyter.
    code = "import matplotlib, gf_eval.explore; print(matplotlib.get_backend())"
    env = {**os.environ, "MPLBACKEND": "svg"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "svg"


def test_root_honours_gf_eval_root(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # a Snakefile here must not win over the variable
    monkeypatch.setenv(explore.ROOT_ENV, str(tmp_path))
    assert explore.root() == tmp_path.resolve()
    monkeypatch.setenv(explore.ROOT_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="GF_EVAL_ROOT"):
        explore.root()


def test_root_is_the_nearest_folder_with_a_snakefile(tmp_path, monkeypatch):
    monkeypatch.delenv(explore.ROOT_ENV, raising=False)
    (tmp_path / "Snakefile").touch()
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert explore.root() == tmp_path.resolve()
    (tmp_path / "Snakefile").unlink()
    with pytest.raises(FileNotFoundError, match="GF_EVAL_ROOT"):
        explore.root()


def test_a_missing_output_says_to_run_snakemake(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    monkeypatch.setenv(explore.ROOT_ENV, str(tmp_path))
    for load in (explore.derived, explore.typed, explore.model_output, explore.published):
        with pytest.raises(FileNotFoundError, match="run `snakemake` first") as err:
            load("nonexistent")
        assert "nonexistent" in str(err.value)


def test_published_needs_its_sidecar(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    monkeypatch.setenv(explore.ROOT_ENV, str(tmp_path))
    tables = tmp_path / "results" / "synthetic" / "tables"
    tables.mkdir(parents=True)
    (tables / "lonely.csv").write_text("label,n\nTotal,10\n")
    with pytest.raises(FileNotFoundError, match=r"lonely\.json"):
        explore.published("lonely")


def test_truth_is_none_for_real_extracts(tmp_path, monkeypatch):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["extracts"] = "data/raw/doncaster"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv(explore.ROOT_ENV, str(tmp_path))
    assert explore.truth() is None
