"""Shared fixtures: the default synthetic extracts, generated once per test session."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gf_eval import synth, validation
from gf_eval.config import Calendar, load_config, synth_settings
from gf_eval.extracts import EXTRACTS

ROOT = Path(__file__).resolve().parents[1]
# The config schema's fewest power simulations: for pipelines whose tests read no power table.
FEWEST_POWER_SIMULATIONS = 20


@pytest.fixture(scope="session")
def config() -> dict:
    return load_config(ROOT / "config" / "config.yaml")


@pytest.fixture(scope="session")
def calendar(config) -> Calendar:
    return Calendar.from_config(config)


@pytest.fixture(scope="session")
def settings(config) -> dict:
    return json.loads(synth_settings(config))


def with_synthetic(settings: dict, **changes) -> dict:
    """A copy of the generator settings with synthetic.<key> changed."""
    out = copy.deepcopy(settings)
    out["synthetic"].update(changes)
    return out


@pytest.fixture(scope="session")
def generated(settings):
    """(tables with internal columns, truth) for the default config."""
    return synth.generate(settings)


@pytest.fixture(scope="session")
def raw_dir(generated, tmp_path_factory) -> Path:
    """The default synthetic extracts written as CSV; tests must copy before changing them."""
    out = tmp_path_factory.mktemp("raw")
    synth.write(*generated, out)
    return out


@pytest.fixture(scope="session")
def interim_dir(raw_dir, calendar, tmp_path_factory) -> Path:
    """Every default extract validated, parents first, as the workflow does."""
    out = tmp_path_factory.mktemp("interim")
    for name, extract in EXTRACTS.items():  # EXTRACTS lists parents before children
        parents = {p: out / f"{p}.parquet" for p in extract.parents}
        validation.run(
            name, raw_dir / extract.filename, out / f"{name}.parquet",
            out / f"{name}.json", parents, calendar,
        )  # fmt: skip
    return out


@pytest.fixture
def workdir(raw_dir, interim_dir, tmp_path) -> Path:
    """A scratch copy of the raw extracts plus the validated parents, safe to corrupt."""
    for path in raw_dir.iterdir():
        shutil.copy(path, tmp_path / path.name)
    for path in interim_dir.glob("*.parquet"):
        shutil.copy(path, tmp_path / f"parent_{path.name}")
    return tmp_path


def run_pipeline(settings: dict, config: dict, workdir: Path, models: bool = True,
                 power_simulations: int | None = None) -> dict:
    """Generate, validate, derive and model one synthetic authority through the package, as
    the workflow does; returns the truth, the derived tables and the model results. Tests that
    read no model leave them out (`models=False`), and tests that read no power table may run
    fewer of its simulations (`power_simulations`, at least the config schema's 20): the
    simulations are most of the models' time."""
    from gf_eval import derive
    from gf_eval.analysis import targets

    config = {**copy.deepcopy(config), "seed": settings["seed"], "synthetic": settings["synthetic"]}
    if power_simulations is not None:
        config["analysis"]["power"]["simulations"] = power_simulations
    tables, truth = synth.generate(settings)
    raw, interim = workdir / "raw", workdir / "interim"
    synth.write(tables, truth, raw)
    calendar = Calendar.from_config(config)
    for name, extract in EXTRACTS.items():
        parents = {p: interim / f"{p}.parquet" for p in extract.parents}
        validation.run(name, raw / extract.filename, interim / f"{name}.parquet",
                       interim / f"{name}.json", parents, calendar)  # fmt: skip
    typed = {name: __import__("pandas").read_parquet(interim / f"{name}.parquet")
             for name in EXTRACTS}  # fmt: skip
    derived = derive.derive(typed, config)
    fits = targets.run(derived["monthly_series"], config) if models else None
    return {"truth": truth, "derived": derived, "config": config, "typed": typed, "models": fits}


@pytest.fixture(scope="session")
def pipeline(settings, config, tmp_path_factory) -> dict:
    """The default synthetic authority taken through to the models."""
    return run_pipeline(settings, config, tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="session")
def null_pipeline(settings, config, tmp_path_factory) -> dict:
    """The default authority under the null scenario (no effect anywhere), to the models; its
    power table from the schema's fewest simulations, which no test of it reads."""
    return run_pipeline(with_synthetic(settings, scenario="null"), config,
                        tmp_path_factory.mktemp("null_pipeline"),
                        power_simulations=FEWEST_POWER_SIMULATIONS)  # fmt: skip


def snakemake(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=project, capture_output=True, text=True
    )


def copy_project(dest: Path, scale: float = 0.3) -> Path:
    """A copy of the workflow's files with a small synthetic authority (fast to run)."""
    dest.mkdir(parents=True)
    for item in ("Snakefile", "rules", "config", "profiles", "environment.yml"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / item)
    config = yaml.safe_load((dest / "config" / "config.yaml").read_text())
    config["synthetic"]["scale"] = scale
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


@pytest.fixture(scope="session")
def workflow_project(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A copy of the project after a bare `snakemake` (the default profile supplies the cores):
    its data/, results/ and logs/ are what the one-command run leaves."""
    project = copy_project(tmp_path_factory.mktemp("workflow") / "project")
    return project, snakemake(project)
