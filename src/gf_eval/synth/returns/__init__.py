"""The synthetic generator's raw returns: what an authority would hold before import.

From the generated extracts (with their internal columns), `write_returns` writes Children in
Need census XML files, SSDA903 CSVs, and MARAC, casework and survey workbooks carrying made-up
identifiers (`identities`): names, dates of birth, NHS numbers and UPNs of valid format, and
postcodes of real format. Importing and pseudonymising them gives back the same extracts, up to
the keys.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from gf_eval.config import Calendar
from gf_eval.files import write_text


def synthetic_key(seed: int) -> str:
    """The synthetic returns' pseudonymisation key: made up from the seed, so that reruns give
    the same pseudonyms. A real key is a secret of the authority's (docs/preparing_data.md)."""
    return hashlib.sha256(f"gf-eval synthetic returns key {seed}".encode()).hexdigest()


def write_returns(tables: dict[str, pd.DataFrame], truth: dict, settings: dict,
                  outdir: str | Path, key_file: str | Path, truth_file: str | Path,
                  ) -> list[Path]:  # fmt: skip
    """Write the raw returns of the generated `tables` into `outdir` (the layout of
    gf_eval.returns.layout), the truth to `truth_file` and the key to `key_file`."""
    from gf_eval.synth.returns.census import write_census
    from gf_eval.synth.returns.identities import identities
    from gf_eval.synth.returns.ssda903 import write_ssda903
    from gf_eval.synth.returns.workbooks import write_workbooks

    outdir = Path(outdir)
    cal = Calendar.from_config(settings)
    ids = identities(tables, settings["seed"])
    written = [
        *write_census(tables, ids, cal, outdir / "cin_census"),
        *write_ssda903(tables, ids, cal, outdir / "ssda903"),
        *write_workbooks(tables, ids, outdir),
    ]
    write_text(Path(truth_file), json.dumps(truth, indent=2, sort_keys=True) + "\n")
    write_text(Path(key_file), synthetic_key(settings["seed"]) + "\n")
    return [*written, Path(truth_file), Path(key_file)]
