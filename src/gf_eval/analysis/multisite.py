"""Many sites: for each treated site and target, the single-site ITS, a controlled ITS
against the comparison sites, and across treated sites a random-effects meta-analysis.

The estimand is the relative change in the target's rate `horizon_months` after the site's
own start, against its counterfactual: exp(level + slope * horizon) - 1. In the controlled
model the comparison sites are pooled into one series (counts and denominators summed month by
month), and the treated-minus-comparison terms (Linden's diff_level_change and
diff_slope_change) carry the effect: a change common to every site, such as a national shock,
moves the comparison series too and cancels. The single-site model cannot tell such a change
from the programme's.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from gf_eval.analysis import targets
from gf_eval.config import Calendar, site_config
from gf_eval.layout import MULTISITE_FILES
from gf_eval.stats.its import ITS, ITSInputError, Term
from gf_eval.stats.meta import random_effects

log = logging.getLogger(__name__)


def _frame(series: pd.DataFrame, target: str, config: dict) -> pd.DataFrame:
    return targets.model_frame(series, target, targets.plan(config)[0], config)


def _term(t: Term) -> dict:
    return {"relative_change": float(np.expm1(t.estimate)), "ci_low": float(np.expm1(t.ci_low)),
            "ci_high": float(np.expm1(t.ci_high)), "log_ratio": t.estimate, "log_ratio_se": t.se,
            "p": t.p}  # fmt: skip


def controlled_fit(treated: pd.DataFrame, comparisons: list[pd.DataFrame], target: str,
                   config: dict, horizon: int) -> dict:  # fmt: skip
    """The controlled ITS of one treated site against the pooled comparison sites."""
    t_frame = _frame(treated, target, config)
    return controlled_from_pool(t_frame, Pool([_frame(c, target, config) for c in comparisons]),
                                config, horizon)  # fmt: skip


class Pool:
    """The comparison sites of one target pooled into one series: counts and denominators
    summed month by month over the months every site has. `without(i)` is the pool of all but
    site i, from the sums, so that each comparison site can be a placebo without re-adding the
    others (a 150-site panel has 145 of them)."""

    KEYS = ["month", "t", "calendar_month"]

    def __init__(self, frames: list[pd.DataFrame]):
        self.frames = frames
        stacked = pd.concat(frames)
        self.sums = stacked.groupby(self.KEYS, as_index=False)[["y", "n"]].sum()
        self.count = stacked.groupby("month").size()  # sites having each month

    def series(self, without: int | None = None) -> tuple[pd.DataFrame, set]:
        """The pooled series and the months every (remaining) site has."""
        if without is None:
            return self.sums, set(self.count.index[self.count == len(self.frames)])
        own = self.frames[without].set_index("month")[["y", "n"]]
        sums = self.sums.set_index("month")
        has = sums.index.isin(own.index)
        rest = sums.copy()
        rest.loc[has, ["y", "n"]] -= own.reindex(sums.index[has]).to_numpy()
        count = self.count - self.count.index.isin(own.index)
        return rest.reset_index(), set(count.index[count == len(self.frames) - 1])


def controlled_from_pool(t_frame: pd.DataFrame, pool: Pool, config: dict, horizon: int,
                         without: int | None = None) -> dict:  # fmt: skip
    """The controlled ITS of the series `t_frame` against `pool` (less its site `without`)."""
    cal = Calendar.from_config(config)
    primary = targets.plan(config)[0]
    pooled, months = pool.series(without)
    # Only months every series has (DVA months still under assessment drop out anywhere).
    months &= set(t_frame["month"])
    both = pd.concat([t_frame.assign(site="treated"), pooled.assign(site="comparison")])
    both = both[both["month"].isin(months)].reset_index(drop=True)
    model = ITS(both, "y", "t", cal.t0, family=primary.family, offset="n",
                season="calendar_month" if primary.harmonics else None,
                harmonics=primary.harmonics, group="site", treated="treated",
                allow_gaps=True)  # only the months every site has: there may be gaps  # fmt: skip
    res = model.fit(se=primary.se, lags=primary.lags)
    term = res.lincom({"diff_level_change": 1.0, "diff_slope_change": float(horizon)})
    return {**_term(term), "months_fitted": int(res.nobs // 2)}


def single_fit(series: pd.DataFrame, target: str, config: dict, horizon: int) -> dict:
    fit = targets.fit(series, target, targets.plan(config)[0], config)
    w = {"level_change": 1.0, "slope_change": float(horizon)}
    return {**_term(fit.result.lincom(w)), "months_fitted": fit.result.nobs}


def run(series: dict[str, pd.DataFrame], sites: dict[str, str | None], config: dict) -> dict:
    """`series`: site -> monthly series; `sites`: site -> intervention start or None.
    Returns the per-site estimates and the pooled estimates as DataFrames."""
    horizon = int(config["multisite"]["horizon_months"])
    treated = [s for s, start in sites.items() if start]
    comparison = [s for s, start in sites.items() if not start]
    if not treated or not comparison:
        raise ValueError(f"a multi-site run needs treated and comparison sites; got "
                         f"{len(treated)} treated and {len(comparison)} comparison")  # fmt: skip
    rows = []
    for i, site in enumerate(treated, 1):
        cfg = site_config(config, sites[site])
        log.info("[%d/%d] %s (start %s): single-site and controlled models", i, len(treated),
                 site, sites[site])  # fmt: skip
        for target in targets.TARGETS:
            for model, fit in (("single-site", lambda: single_fit(series[site], target, cfg,
                                                                    horizon)),
                               ("controlled", lambda: controlled_fit(
                                   series[site], [series[c] for c in comparison], target, cfg,
                                   horizon))):  # fmt: skip
                try:
                    rows.append({"site": site, "start": sites[site], "target": target,
                                 "model": model, **fit(), "note": ""})  # fmt: skip
                except ITSInputError as err:
                    rows.append({"site": site, "start": sites[site], "target": target,
                                 "model": model, "note": f"not estimable: {err}"})  # fmt: skip
    estimates = pd.DataFrame(rows)
    pooled = []
    for (target, model), part in estimates.dropna(subset=["log_ratio"]).groupby(
            ["target", "model"], sort=False):  # fmt: skip
        if len(part) < 2:
            continue
        meta = random_effects(part["log_ratio"], part["log_ratio_se"], labels=list(part["site"]),
                              method="REML",
                              hksj="modified" if len(part) >= 3 else False)  # fmt: skip
        rc = meta.relative_change()
        pooled.append({"target": target, "model": model, "sites": meta.k,
                       "relative_change": rc.estimate, "ci_low": rc.ci_low,
                       "ci_high": rc.ci_high, "pi_low": rc.pi_low, "pi_high": rc.pi_high,
                       "tau2": meta.tau2, "i2": meta.i2, "q": meta.q, "q_p": meta.q_p,
                       "p": meta.p_value})  # fmt: skip
    return {"estimates": estimates, "pooled": pd.DataFrame(pooled)}


def panel_truth(config: dict) -> dict[str, float]:
    """The synthetic panel's true relative change at the horizon, per target (every treated
    site has the config's effects)."""
    h = int(config["multisite"]["horizon_months"])
    effects = config["synthetic"]["effects"]
    if config["synthetic"]["scenario"] in (None, "null"):
        return {t: 0.0 for t in targets.TARGETS}
    return {t: float(np.expm1(effects[t]["level_change"] + h * effects[t]["slope_change"]))
            for t in targets.TARGETS}  # fmt: skip


# The files `write` gives, each a CSV: the ITS models', then the other designs'.
OUTPUTS = MULTISITE_FILES


def write(series_dir, sites: dict[str, str | None], out, config: dict, synthetic: bool) -> list:
    """Fit every site and pool, then every other design (`gf_eval.analysis.designs`); write
    OUTPUTS and, for a synthetic panel, truth_check.csv to `out`."""
    from pathlib import Path

    from gf_eval.analysis import designs
    from gf_eval.files import atomic_path

    series = {s: pd.read_parquet(Path(series_dir) / f"{s}.parquet") for s in sites}
    result = run(series, sites, config)
    result.update(designs.compare(series, sites, config, result["estimates"], result["pooled"],
                                  panel_truth(config) if synthetic else None))  # fmt: skip
    if synthetic:
        truth = panel_truth(config)
        pooled = result["pooled"]
        result["truth_check"] = pooled.assign(
            true_relative_change=pooled["target"].map(truth),
            covered=lambda d: (d["ci_low"] <= d["true_relative_change"])
            & (d["true_relative_change"] <= d["ci_high"]))[
            ["target", "model", "true_relative_change", "relative_change", "ci_low", "ci_high",
             "covered"]]  # fmt: skip
    result["site_estimates"] = result.pop("estimates")
    written = []
    for name in (*OUTPUTS, "truth_check"):
        if name not in result:
            continue
        path = Path(out) / f"{name}.csv"
        with atomic_path(path) as tmp:
            result[name].to_csv(tmp, index=False, lineterminator="\n", float_format="%.10g")
        written.append(path)
    return written
