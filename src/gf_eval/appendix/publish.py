"""Writing published tables: disclosure control, a CSV and a JSON sidecar per table.

Each table goes to results/tables/<name>.csv with its row labels as the first column. The
sidecar <name>.json holds the number ("Table 5.1", from the part's declared order), the
title, the caption (what the table shows and how it was computed), the data source, the
disclosure spec, so that a reviewer can re-check the CSV with `gf_eval.disclosure.check`
without running any of the analysis, and the label and unit of every column
(`gf_eval.appendix.columns`, documented in docs/published_columns.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gf_eval.appendix.columns import columns_json, number
from gf_eval.config import extract_dir, synthetic_data
from gf_eval.disclosure import TableSpec, check, protect
from gf_eval.files import atomic_path, write_text


class DisclosureFailure(RuntimeError):
    """A table would have been published with a disclosive cell: a bug, never data."""


@dataclass(frozen=True)
class Table:
    """One published table: row labels in the index, counts and derived values as columns."""

    name: str
    appendix: str
    title: str
    caption: str
    frame: pd.DataFrame
    spec: TableSpec
    notes: tuple[str, ...] = field(default_factory=tuple)
    # "primary": the pre-specified analysis; "sensitivity": departs from it on purpose;
    # "descriptive": no model of the programme's effect.
    plan: str = "descriptive"


def source_note(config: dict) -> str:
    """The data-source line every table and figure carries."""
    if synthetic_data(config):
        return (f"Source: synthetic data from the gf-eval generator (seed {config['seed']}, "
                f"scenario {config['synthetic']['scenario'] or 'null'}); not real records.")  # fmt: skip
    return (f"Source: extracts in {extract_dir(config)}; file checksums in "
            "results/validation/.")  # fmt: skip


def spec_to_json(spec: TableSpec) -> dict:
    return {
        "counts": list(spec.counts),
        "derived": {k: [list(s) if isinstance(s, tuple) else s for s in v]
                    for k, v in spec.derived.items()},  # fmt: skip
        "column_totals": [[t, list(p)] for t, p in spec.column_totals],
        "row_totals": [[t, list(p)] for t, p in spec.row_totals],
        "decimals": dict(spec.decimals),
        "labels": list(spec.labels),
        "suppress": [list(k) for k in spec.suppress],
    }


def spec_from_json(data: dict) -> TableSpec:
    return TableSpec(
        counts=tuple(data["counts"]),
        derived={k: tuple(tuple(s) if isinstance(s, list) else s for s in v)
                 for k, v in data["derived"].items()},  # fmt: skip
        column_totals=tuple((t, tuple(p)) for t, p in data["column_totals"]),
        row_totals=tuple((t, tuple(p)) for t, p in data["row_totals"]),
        decimals=data["decimals"],
        labels=tuple(data["labels"]),
        suppress=tuple(tuple(k) for k in data.get("suppress", [])),
    )


def write_table(table: Table, outdir: str | Path, threshold: int, source: str) -> list[Path]:
    """Protect, check and write one table and its sidecar; return both paths."""
    frame = table.frame.copy()
    frame.index = frame.index.map(str)
    published = protect(frame, table.spec, threshold)
    problems = check(published, table.spec, threshold)
    if problems:
        raise DisclosureFailure(f"table {table.name}: " + "; ".join(problems[:5]))
    outdir = Path(outdir)
    csv = outdir / f"{table.name}.csv"
    with atomic_path(csv) as tmp:
        published.to_csv(tmp, lineterminator="\n")
    meta = {
        "name": table.name,
        "number": number("Table", table.appendix, table.name),
        "appendix": table.appendix,
        "title": table.title,
        "caption": table.caption,
        "notes": list(table.notes),
        "plan": table.plan,
        "source": source,
        "disclosure": {"threshold": threshold, "symbols": {"c": "suppressed (1 to "
                       f"{threshold}, or to protect such a count)", ":": "not available",
                       "z": "not applicable"}, "spec": spec_to_json(table.spec)},  # fmt: skip
        "columns": columns_json([published.index.name, *published.columns], table.name),
    }
    sidecar = outdir / f"{table.name}.json"
    write_text(sidecar, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return [csv, sidecar]


@dataclass(frozen=True)
class Figure:
    """One published figure; `figure` is a matplotlib Figure whose axes carry a title and
    labelled axes with units. The source note is added when it is written."""

    name: str
    appendix: str
    title: str
    caption: str
    figure: object


# Fixed metadata so that the same figure gives the same bytes on every run.
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}


def write_figure(fig: Figure, outdir: str | Path, source: str) -> list[Path]:
    """Save `fig` as PNG (screens) and SVG (print) with the source note; return the paths."""
    import matplotlib

    outdir = Path(outdir)
    mpl_fig = fig.figure
    mpl_fig.text(0.01, 0.005, source, fontsize=7, color="0.35", ha="left", va="bottom")
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "gf-eval", "svg.fonttype": "path"}):
        for ext, meta in (("png", PNG_METADATA), ("svg", SVG_METADATA)):
            path = outdir / f"{fig.name}.{ext}"
            with atomic_path(path) as tmp:
                mpl_fig.savefig(tmp, format=ext, dpi=150, metadata=meta)
            paths.append(path)
    meta = {"name": fig.name, "number": number("Figure", fig.appendix, fig.name),
            "appendix": fig.appendix, "title": fig.title, "caption": fig.caption,
            "source": source}  # fmt: skip
    write_text(outdir / f"{fig.name}.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return [*paths, outdir / f"{fig.name}.json"]


def write_tables(tables: list[Table], outdir: str | Path, config: dict) -> list[Path]:
    threshold = config["disclosure"]["threshold"]
    source = source_note(config)
    names = [t.name for t in tables]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate table names: {sorted(n for n in names if names.count(n) > 1)}")
    return [p for t in tables for p in write_table(t, outdir, threshold, source)]


def read_published(csv: str | Path) -> tuple[pd.DataFrame, TableSpec, dict]:
    """A published table as written (all text), its spec and its metadata."""
    csv = Path(csv)
    meta = json.loads(csv.with_suffix(".json").read_text(encoding="utf-8"))
    frame = pd.read_csv(csv, dtype=str, index_col=0, keep_default_na=False)
    return frame, spec_from_json(meta["disclosure"]["spec"]), meta
