"""The evaluation's appendix tables and figures, and the targets table, from the derived data
and the models. Every published table passes `gf_eval.disclosure` (see `publish`).

Parts: "targets" (the headline table, sensitivity, placebo, figures per target), "5" (MARAC
data), "6" (social care data), "7" (the DANs' casework books), "8" (the e-survey) and "vfm"
(value for money, from the working tables of `analysis.value_for_money`). `outputs(part)` lists the files a part writes, so that the
workflow can declare them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gf_eval.layout import DERIVE_INPUTS, PARTS, SITE_PARTS, VALUE_FILES, part_files

# The typed extracts parts 7 and 8 read.
PART_EXTRACTS = {"7": ("casework",), "8": ("survey",)}
MODEL_TABLES = ("estimates", "prepost", "placebo", "predictions", "power")



def _module(part: str):
    if part == "targets":
        from gf_eval.appendix import targets_tables as module
    elif part == "5":
        from gf_eval.appendix import marac_tables as module
    elif part == "6":
        from gf_eval.appendix import social_care_tables as module
    elif part == "7":
        from gf_eval.appendix import casework_tables as module
    elif part == "8":
        from gf_eval.appendix import survey_tables as module
    elif part == "vfm":
        from gf_eval.appendix import value_tables as module
    else:
        raise ValueError(f"unknown appendix part {part!r}; one of {', '.join(PARTS)}")
    return module


def outputs(part: str) -> dict[str, list[str]]:
    """File names (relative to the tables and figures folders) that `part` writes."""
    return part_files(part)


def build_part(part: str, derived: str | Path, interim: str | Path, models: str | Path,
               config: dict):  # fmt: skip
    """(tables, figures) of one part, read from the workflow's folders."""
    derived, interim = Path(derived), Path(interim)
    models = None if models is None else Path(models)
    m = _module(part)
    if part == "targets":
        series = pd.read_parquet(derived / "monthly_series.parquet")
        fits = {k: pd.read_csv(models / f"{k}.csv", keep_default_na=False, na_values=[""])
                for k in MODEL_TABLES}  # fmt: skip
        return m.tables(series, fits, config), m.figures(series, fits, config)
    if part == "vfm":
        working = {name.removesuffix(".csv"): pd.read_csv(models.parent / "value_for_money" / name,
                                                          keep_default_na=False, na_values=[""])
                   for name in VALUE_FILES}  # fmt: skip
        return m.tables(working, config), m.figures(working, config)
    if part in PART_EXTRACTS:
        typed = {n: pd.read_parquet(interim / f"{n}.parquet") for n in PART_EXTRACTS[part]}
        tables = m.tables(typed, config)
        return tables, m.figures(typed, config, published=tables)
    data = {p.stem: pd.read_parquet(p) for p in sorted(derived.glob("*.parquet"))}
    if part == "5":
        tables = m.tables(data, config)
        return tables, m.figures(data, config, published=tables)
    typed = {name: pd.read_parquet(interim / f"{name}.parquet") for name in DERIVE_INPUTS}
    tables = m.tables(data, typed, config)
    return tables, m.figures(data, typed, config, published=tables)


def write(part: str, derived, interim, models, tables_dir, figures_dir, config: dict) -> list[Path]:
    """Build one part and write its tables and figures; return the paths written."""
    from gf_eval.appendix.publish import source_note, write_figure, write_tables

    tables, figures = build_part(part, derived, interim, models, config)
    m = _module(part)
    names = ([t.name for t in tables], [f.name for f in figures])
    if names != (list(m.TABLES), list(m.FIGURES)):
        raise RuntimeError(f"appendix {part}: built {names}, declared {(m.TABLES, m.FIGURES)}")
    paths = write_tables(tables, tables_dir, config)
    for fig in figures:
        paths += write_figure(fig, figures_dir, source_note(config))
    return paths
