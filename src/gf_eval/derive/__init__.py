"""Derived data: cases and episodes with the 12-month rules and DVA status, the monthly series
and the children's status cohort, from the validated typed tables (docs/derived_data.md)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gf_eval.config import Calendar
from gf_eval.derive.marac import marac_cases
from gf_eval.derive.series import monthly_series
from gf_eval.derive.social_care import episodes
from gf_eval.files import atomic_path
from gf_eval.layout import DERIVE_INPUTS as INPUTS, DERIVED  # noqa: F401


def series_tables(tables: dict[str, pd.DataFrame], config: dict):
    """(MARAC cases, episodes, monthly series) from the typed extracts: what the targets need,
    for the single site and for each site of a multi-site run alike."""
    cal = Calendar.from_config(config)
    marac = marac_cases(tables["marac_cases"])
    eps = episodes(tables["cs_referrals"], tables["cs_children"], tables["cs_assessments"],
                   tables["cs_factors"])  # fmt: skip
    series = monthly_series(cal, marac, eps, tables["cs_cp_plans"], tables["cs_looked_after"],
                            config["analysis"]["max_pending_share"])  # fmt: skip
    return marac, eps, series


def derive(tables: dict[str, pd.DataFrame], config: dict) -> dict[str, pd.DataFrame]:
    """Every derived table from the typed extracts (keyed by extract name)."""
    from gf_eval.derive.status import cohort

    cal = Calendar.from_config(config)
    marac, eps, series = series_tables(tables, config)
    status = cohort(tables["casework"], tables["cs_children"], eps, tables["cs_cp_plans"],
                    tables["cs_looked_after"], cal)  # fmt: skip
    out = {"marac_cases": marac, "episodes": eps, "monthly_series": series,
           "status_cohort": status}  # fmt: skip
    for name, df in out.items():  # parquet keeps no pandas Period type
        for col in df.columns:
            if isinstance(df[col].dtype, pd.PeriodDtype):
                df[col] = df[col].dt.strftime("%Y-%m")
    return out


def run(interim: str | Path, out: str | Path, config: dict) -> list[Path]:
    """Read the typed tables in `interim`, write the derived ones to `out`; return the paths."""
    tables = {name: pd.read_parquet(Path(interim) / f"{name}.parquet") for name in INPUTS}
    written = []
    for name, df in derive(tables, config).items():
        path = Path(out) / f"{name}.parquet"
        with atomic_path(path) as tmp:
            df.to_parquet(tmp, index=False)
        written.append(path)
    return written
