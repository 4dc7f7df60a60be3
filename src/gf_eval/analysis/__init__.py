"""Models of the derived series: the pre-specified primary ITS for each target, its
sensitivity analyses and the descriptive pre/post comparisons."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gf_eval.files import atomic_path, write_text
from gf_eval.layout import MODEL_FILES, VALUE_FILES  # noqa: F401  (the files written here)


# Each estimand: the truth.json key, and the estimate's columns.
TRUTH_ESTIMANDS = {
    "end": ("relative_change_end", "relative_change", "ci_low", "ci_high"),
    "average": ("relative_change_average", "average_change", "average_ci_low", "average_ci_high"),
}


def truth_check(estimates: pd.DataFrame, truth: dict | None) -> pd.DataFrame:
    """Each primary estimate beside the generator's true relative change, for both estimands
    (synthetic data only)."""
    cols = ["target", "estimand", "true_relative_change", "relative_change", "ci_low", "ci_high",
            "covered"]  # fmt: skip
    if truth is None:
        return pd.DataFrame(columns=cols)
    primary = estimates[estimates["primary"]].set_index("target")
    rows = []
    for target, t in truth["targets"].items():
        row = primary.loc[target]
        for estimand, (key, est, low, high) in TRUTH_ESTIMANDS.items():
            true = t[key]
            rows.append([target, estimand, true, row[est], row[low], row[high],
                         bool(row[low] <= true <= row[high])])  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def write_models(series_path: str | Path, out: str | Path, config: dict,
                 truth_path: str | Path | None = None) -> list[Path]:  # fmt: skip
    """Fit every target's models on the monthly series and write the working outputs; with the
    synthetic generator's truth.json, also the comparison with the true effects."""
    import json

    from gf_eval.analysis import targets

    result = targets.run(pd.read_parquet(series_path), config)
    truth = json.loads(Path(truth_path).read_text()) if truth_path else None
    result["truth_check"] = truth_check(result["estimates"], truth)
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
