"""Forest plots of a multi-site run: each treated site's estimate and the pooled estimate,
single-site beside controlled, one figure per target.

The estimates are relative changes with their 95% intervals (no counts), drawn on a log-ratio
axis so that a halving and a doubling sit the same distance from no change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gf_eval.appendix.plotting import COLOURS, new_figure
from gf_eval.appendix.publish import Figure
from gf_eval.appendix.targets_tables import DESCRIPTIONS

MODELS = {"single-site": COLOURS["comparison"], "controlled": COLOURS["fitted"]}
FIGURES = tuple(f"forest_{target}" for target in DESCRIPTIONS)


def forest(estimates: pd.DataFrame, pooled: pd.DataFrame, target: str, config: dict) -> Figure:
    """The forest plot of one target from `site_estimates.csv` and `pooled.csv`."""
    horizon = int(config["multisite"]["horizon_months"])
    est = estimates[estimates["target"] == target]
    pool = pooled[pooled["target"] == target]
    sites = list(dict.fromkeys(est["site"]))
    rows = [*sites, "pooled (random effects)"]
    fig, ax = new_figure(width=8.0, height=2.2 + 0.35 * len(rows))
    offsets = {"single-site": 0.15, "controlled": -0.15}
    for model, colour in MODELS.items():
        part = est[(est["model"] == model)].set_index("site").reindex(sites)
        y = len(rows) - 1 - np.arange(len(sites)) + offsets[model]
        ok = part["relative_change"].notna().to_numpy()
        ax.errorbar(1 + part["relative_change"][ok], y[ok],
                    xerr=[part["relative_change"][ok] - part["ci_low"][ok],
                          part["ci_high"][ok] - part["relative_change"][ok]],
                    fmt="s", ms=4, color=colour, capsize=2, lw=1, label=f"{model} ITS")  # fmt: skip
        p = pool[pool["model"] == model]
        if len(p):
            p = p.iloc[0]
            yp = offsets[model]
            ax.plot([1 + p["pi_low"], 1 + p["pi_high"]], [yp, yp], color=colour, lw=1, ls=":")
            centre, low, high = 1 + p["relative_change"], 1 + p["ci_low"], 1 + p["ci_high"]
            ax.fill([low, centre, high, centre], [yp, yp + 0.12, yp, yp - 0.12], color=colour)
    ax.axvline(1.0, color="0.2", lw=1)
    change = config["targets"][target]
    ax.axvline(1 + change, color=COLOURS["counterfactual"], lw=1, ls="--",
               label=f"target ({change:+.0%})")  # fmt: skip
    ax.set_xscale("log")
    ends = 1 + np.concatenate([est[["ci_low", "ci_high"]].to_numpy(float).ravel(),
                               pool[["pi_low", "pi_high"]].to_numpy(float).ravel(), [change]])
    low, high = np.nanmin(ends), np.nanmax(ends)
    ticks = [t for t in (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 10.0)
             if t == 1.0 or low / 1.2 <= t <= high * 1.2]  # fmt: skip
    ax.set_xticks(ticks, [f"{t - 1:+.0%}" for t in ticks])
    ax.minorticks_off()
    ax.set_yticks(range(len(rows)), rows[::-1])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"relative change {horizon} months after the site's start (log scale)")
    ax.set_title(f"{DESCRIPTIONS[target]}\nsite estimates and the pooled estimate", loc="left")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.subplots_adjust(left=0.22, right=0.78)
    return Figure(
        name=f"forest_{target}", appendix="multisite",
        title=f"{DESCRIPTIONS[target]}: site and pooled estimates",
        caption=(
            f"Relative change {horizon} months after each treated site's start, with its 95% "
            "interval. Orange: the site's own interrupted time series; blue: the controlled "
            "series against the comparison sites. Diamonds: the random-effects pooled "
            "estimate (REML) and its modified Hartung-Knapp interval; dotted: the 95% "
            "prediction interval for a new site. Solid line: no change; dashed: the target."
        ),
        figure=fig,
    )  # fmt: skip


def figures(estimates: pd.DataFrame, pooled: pd.DataFrame, config: dict) -> list[Figure]:
    return [forest(estimates, pooled, target, config) for target in DESCRIPTIONS]
