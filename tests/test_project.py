"""Project set-up: dependency lists agree, and the config is checked against its schema."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from gf_eval.config import ConfigError, load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]


def _normalise(spec: str) -> tuple[str, str]:
    name, version = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec).groups()
    return name.lower().replace("_", "-"), version.replace(" ", "")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = project["dependencies"] + [d for extra in extras.values() for d in extra]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = [d for d in env if isinstance(d, str) and not d.startswith(("python", "pip"))]
    assert sorted(map(_normalise, conda)) == sorted(map(_normalise, declared))
    python = next(d for d in env if isinstance(d, str) and d.startswith("python"))
    assert _normalise(python)[1] == project["requires-python"]


def test_constraints_pin_every_dependency():
    pins = dict(
        _normalise(line.replace("==", " ==", 1))
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        assert _normalise(spec)[0] in pins, spec


def test_default_config_is_valid():
    config = load_config(ROOT / "config" / "config.yaml")
    assert config["targets"] == {"repeat_marac": -0.25, "dva_rereferrals": -0.30, "cin_dva": -0.10}
    assert config["disclosure"]["threshold"] == 5


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.pop("seed"), "'seed' is a required property"),
        (lambda c: c["targets"].update(cin_dva=0.1), "targets/cin_dva"),
        (lambda c: c["calendar"].update(data_start="2012-13-01"), "calendar/data_start"),
        (lambda c: c["synthetic"].update(scenario="maybe"), "synthetic/scenario"),
        (lambda c: c.update(extra_key=1), "Additional properties"),
        (lambda c: c["calendar"].update(intervention_start="2011-09-01"), "order"),
        (lambda c: c["windows"]["pre"].update(end="2015-10-31"), "windows/pre must end"),
        (lambda c: c["windows"]["post"].update(end="2018-01-31"), "within data_start"),
        (lambda c: c["analysis"]["sensitivity"].update(placebo_starts=["2015-10-01"]),
         "placebo_starts"),
        (lambda c: c["analysis"]["primary"].update(family="gaussian"), "analysis/primary/family"),
        (lambda c: c["analysis"].update(max_pending_share=1.5), "max_pending_share"),
    ],
)
def test_bad_configs_are_refused_with_the_key_named(change, message):
    config = copy.deepcopy(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    change(config)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


@pytest.mark.parametrize(
    "panel, message",
    [
        ({"treated": 150}, "treated must be from 1 to n_sites - 1"),
        ({"first_start": "2016-06-01", "stagger_months": 3}, "has no data 12 months later"),
        ({"first_start": "2015-09-15"}, "must be the 1st of a month"),
    ],
)
def test_bad_multisite_configs_are_refused(panel, message):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config.update(yaml.safe_load((ROOT / "config" / "multisite.yaml").read_text()))
    validate_config(config)  # the shipped multi-site config is valid
    config["multisite"]["panel"].update(panel)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


def test_null_scenario_may_be_written_unquoted():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["synthetic"]["scenario"] = None  # `scenario: null` in YAML
    validate_config(config)


# Stage of each module or subpackage; a module may import only its own stage or lower ones.
# `stats` (the engine) and `disclosure` are generic: they import nothing else of gf_eval, and
# only the stages from the models on use the engine.
# `layout` (the files each step writes) and `sites` (a multi-site run's sites) are read by the
# Snakefile before any job, so they sit at the bottom with the config; `forkserver` runs the
# commands, beside the command line; `frames` (pandas' table steps done by pyarrow) serves
# the stages from validation on.
STAGES = {"codes": 0, "extracts": 0, "config": 0, "files": 0, "disclosure": 0, "layout": 0,
          "sites": 0, "parallel": 0, "frames": 0, "synth": 1, "returns": 1, "validation": 2, "derive": 3, "stats": 4,
          "analysis": 4, "appendix": 5, "report": 6, "explore": 9, "preflight": 9, "cli": 9,
          "forkserver": 9, "command": 9, "__main__": 9}  # fmt: skip
GENERIC = ("stats", "disclosure")


def _gf_imports(path: Path) -> set[str]:
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gf_eval"):
            parts = node.module.split(".")
            found.add(parts[1] if len(parts) > 1 else node.names[0].name)
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("gf_eval.")}
    return found


def test_no_stage_imports_a_higher_one():
    package = ROOT / "src" / "gf_eval"
    for path in package.rglob("*.py"):
        rel = path.relative_to(package).parts
        stage = rel[0].removesuffix(".py")
        if stage == "__init__":
            continue
        for imported in _gf_imports(path):
            if stage in GENERIC:
                assert imported == stage, f"{path}: the generic {stage} imports gf_eval.{imported}"
            assert STAGES[imported] <= STAGES[stage], f"{path}: imports gf_eval.{imported}"


def test_the_extract_contract_lists_the_schemas_columns():
    from gf_eval.extracts import EXTRACTS
    from gf_eval.validation.schemas import SCHEMAS

    assert set(EXTRACTS) == set(SCHEMAS)
    for name, schema in SCHEMAS.items():
        assert EXTRACTS[name].columns == tuple(schema.to_schema().columns), name
