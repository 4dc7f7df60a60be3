"""Loaders for analysts' notebooks: the workflow's outputs by name, never by hard-coded path.

The project folder is $GF_EVAL_ROOT when set, else the nearest folder at or above the current
directory that holds a Snakefile, so a notebook runs the same from notebooks/ or the root.
The outputs read are those of the config's extract source (data/interim/<source>/ and
results/<source>/); $GF_EVAL_EXTRACTS names another source's folder, as `snakemake --config
extracts=...` did.
Everything here only reads what a finished `snakemake` run wrote; nothing is recomputed.

    from gf_eval import explore
    series = explore.derived("monthly_series")
    frame, spec, meta = explore.published("target_sensitivity")
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from gf_eval.appendix.publish import read_published
from gf_eval.config import (SYNTHETIC, SYNTHETIC_DIR, Calendar, interim_dir, load_config,
                            results_dir)  # fmt: skip

ROOT_ENV = "GF_EVAL_ROOT"
EXTRACTS_ENV = "GF_EVAL_EXTRACTS"


def root() -> Path:
    """The project folder: $GF_EVAL_ROOT if set, else the nearest parent of the cwd (or the
    cwd itself) holding a Snakefile."""
    env = os.environ.get(ROOT_ENV)
    if env:
        path = Path(env).expanduser().resolve()
        if not path.is_dir():
            raise FileNotFoundError(f"{ROOT_ENV}={env}: no such folder")
        return path
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "Snakefile").is_file():
            return folder
    raise FileNotFoundError(
        f"no Snakefile in {here} or any folder above it: set {ROOT_ENV} to the gf-eval project"
    )


def _existing(relative: Path, *companions: str) -> Path:
    """The absolute path of a workflow output, or a FileNotFoundError that says what to do."""
    base = root()
    path = base / relative
    for p in (path, *(path.with_suffix(s) for s in companions)):
        if not p.is_file():
            # Listing what is there turns a typo into an obvious fix.
            there = sorted(q.stem for q in p.parent.glob(f"*{p.suffix}"))
            hint = f" (available: {', '.join(there)})" if there else ""
            raise FileNotFoundError(
                f"{p.relative_to(base)} not found in {base}: run `snakemake` first{hint}"
            )
    return path


def config() -> dict:
    """The project's validated config (config/config.yaml), with extracts=$GF_EVAL_EXTRACTS
    when that is set."""
    overrides = {"extracts": os.environ[EXTRACTS_ENV]} if os.environ.get(EXTRACTS_ENV) else None
    return load_config(root() / "config" / "config.yaml", overrides)


def _interim() -> Path:
    return Path(interim_dir(config()))


def _results() -> Path:
    return Path(results_dir(config()))


def calendar() -> Calendar:
    """The study calendar of the project's config."""
    return Calendar.from_config(config())


def typed(name: str) -> pd.DataFrame:
    """A validated extract, data/interim/<source>/<name>.parquet (e.g. "casework")."""
    return pd.read_parquet(_existing(_interim() / f"{name}.parquet"))


def derived(name: str) -> pd.DataFrame:
    """A derived table, data/interim/<source>/derived/<name>.parquet (docs/derived_data.md)."""
    return pd.read_parquet(_existing(_interim() / "derived" / f"{name}.parquet"))


def model_output(name: str) -> pd.DataFrame:
    """A working model output, results/<source>/working/models/<name>.csv: not for
    publication."""
    return pd.read_csv(_existing(_results() / "working" / "models" / f"{name}.csv"))


def published(name: str):
    """A published table as (frame, spec, meta): the CSV as written (all text, with the
    disclosure symbols), its disclosure spec and its JSON sidecar."""
    return read_published(_existing(_results() / "tables" / f"{name}.csv", ".json"))


def truth() -> dict | None:
    """The synthetic authority's true effects (truth.json), or None for real extracts."""
    if config()["extracts"] != SYNTHETIC:
        return None
    path = _existing(Path(SYNTHETIC_DIR) / "truth.json")
    return json.loads(path.read_text(encoding="utf-8"))
