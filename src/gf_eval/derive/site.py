"""One site of a multi-site run: validate the extracts the monthly series need, then derive
the series, in one step per site (a national panel has many sites, and one process per table
would cost more in start-up than in work)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from gf_eval import validation
from gf_eval.config import Calendar
from gf_eval.derive import series_tables
from gf_eval.extracts import EXTRACTS
from gf_eval.files import atomic_path, write_text
from gf_eval.layout import SERIES_EXTRACTS


def series_from_tables(tables: dict[str, pd.DataFrame], config: dict) -> pd.DataFrame:
    """The monthly series of docs/derived_data.md from a site's typed tables."""
    return series_tables(tables, config)[2]


def site_series(raw: str | Path, out: str | Path, report: str | Path, config: dict) -> Path:
    """Validate a site's series extracts in `raw` (reports to `report`, one JSON list) and
    write its monthly series to `out`; raise ValidationFailed, writing no series, if any
    extract fails."""
    out, raw = Path(out), Path(raw)
    out.unlink(missing_ok=True)  # never leave an earlier run's series looking valid
    cal = Calendar.from_config(config)
    tables, reports = {}, []
    for name in SERIES_EXTRACTS:
        parents = {p: tables[p] for p in EXTRACTS[name].parents}
        typed, rep = validation.validate_extract(name, raw / EXTRACTS[name].filename, parents, cal)
        reports.append(rep)
        if typed is None:
            write_text(report, json.dumps(reports, indent=2, sort_keys=True) + "\n")
            lines = [validation.Failure(**f).describe() for f in rep["failures"]]
            raise validation.ValidationFailed(
                f"{raw / EXTRACTS[name].filename}: {rep.get('refused') or 'validation failed'}"
                f" ({rep['n_failures']} problems):\n" + "\n".join(lines)
                + f"\nNo series was written. Report: {report}"
            )
        tables[name] = validation.to_interim(validation.SCHEMAS[name], typed)
    write_text(report, json.dumps(reports, indent=2, sort_keys=True) + "\n")
    series = series_from_tables(tables, config)
    with atomic_path(out) as tmp:
        series.to_parquet(tmp, index=False)
    return out
