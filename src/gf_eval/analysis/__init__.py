"""Models of the derived series: the pre-specified primary ITS for each target, its
sensitivity analyses and the descriptive pre/post comparisons."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gf_eval.files import atomic_path, write_text

#: Working (not for publication) model outputs, written to results/working/models/.
MODEL_FILES = ("prepost.csv", "estimates.csv", "placebo.csv", "predictions.csv", "summaries.txt")


def write_models(series_path: str | Path, out: str | Path, config: dict) -> list[Path]:
    """Fit every target's models on the monthly series and write the working outputs."""
    from gf_eval.analysis import targets

    result = targets.run(pd.read_parquet(series_path), config)
    out = Path(out)
    written = []
    for name in MODEL_FILES[:-1]:
        path = out / name
        with atomic_path(path) as tmp:
            result[name.removesuffix(".csv")].to_csv(tmp, index=False, lineterminator="\n",
                                                     float_format="%.10g")  # fmt: skip
        written.append(path)
    text = "\n\n".join(f"{k}\n{v}" for k, v in result["summaries"].items()) + "\n"
    write_text(out / MODEL_FILES[-1], text)
    write_text(out / "README.txt", "Working model outputs: not for publication. The published "
               "tables are in results/tables/.\n")  # fmt: skip
    return [*written, out / MODEL_FILES[-1]]
