"""Figures of a multi-site run, one of each kind per target:
- forest plots: each treated site's estimate and the pooled estimate, single-site beside
  controlled ITS;
- the designs side by side: every design's estimate with its intervals (and the truth on
  synthetic data);
- the staggered DiD's event study;
- the synthetic control of each treated site against the site, and the placebo gaps of the
  comparison sites (the "spaghetti" plot).

Estimates are relative changes with their 95% intervals (no counts), drawn on a log-ratio axis
so that a halving and a doubling sit the same distance from no change; paths are log rates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gf_eval.appendix.plotting import COLOURS, new_figure
from gf_eval.appendix.publish import Figure
from gf_eval.appendix.targets_tables import DESCRIPTIONS
from gf_eval.layout import MULTISITE_FIGURE_KINDS, MULTISITE_FIGURES

MODELS = {"single-site": COLOURS["comparison"], "controlled": COLOURS["fitted"]}
KINDS, FIGURES = MULTISITE_FIGURE_KINDS, MULTISITE_FIGURES
LEADS = 12  # months before the start drawn in the event study


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
    _relative_axis(ax, 1 + np.concatenate([est[["ci_low", "ci_high"]].to_numpy(float).ravel(),
                                           pool[["pi_low", "pi_high"]].to_numpy(float).ravel(),
                                           [change]]))  # fmt: skip
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


def _relative_axis(ax, values: np.ndarray) -> None:
    """A log-ratio x axis labelled in relative changes, its ticks spanning `values`."""
    ax.set_xscale("log")
    low, high = np.nanmin(values), np.nanmax(values)
    ticks = [t for t in (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 10.0)
             if t == 1.0 or low / 1.2 <= t <= high * 1.2]  # fmt: skip
    ax.set_xticks(ticks, [f"{t - 1:+.0%}" for t in ticks])
    ax.minorticks_off()


def designs(methods: pd.DataFrame, target: str, config: dict) -> Figure:
    """Every design's estimate for one target: its own interval (square) and its randomisation
    interval (thin line below), and the truth where the data are synthetic."""
    part = methods[methods["target"] == target].reset_index(drop=True)
    fig, ax = new_figure(width=8.0, height=2.0 + 0.45 * len(part))
    y = len(part) - 1 - np.arange(len(part))
    est = 1 + part["relative_change"].to_numpy(float)
    ax.errorbar(est, y, xerr=[est - 1 - part["ci_low"], part["ci_high"] - est + 1], fmt="s",
                ms=4, color=COLOURS["fitted"], capsize=2, lw=1.2, label="estimate, 95% interval")
    ax.hlines(y - 0.22, 1 + part["ri_low"], 1 + part["ri_high"], color=COLOURS["comparison"],
              lw=1, label="95% randomisation interval")  # fmt: skip
    values = [est, 1 + part[["ci_low", "ci_high", "ri_low", "ri_high"]].to_numpy(float).ravel()]
    if "true_relative_change" in part:
        truth = 1 + part["true_relative_change"].to_numpy(float)
        ax.plot(truth, y, "x", color=COLOURS["counterfactual"], ms=6, label="true change")
        values.append(truth)
    ax.axvline(1.0, color="0.2", lw=1)
    _relative_axis(ax, np.concatenate(values))
    ax.set_yticks(y, part["method"])
    ax.set_ylim(-0.8, len(part) - 0.4)
    horizon = int(config["multisite"]["horizon_months"])
    ax.set_xlabel(f"relative change up to {horizon} months after each site's start (log scale)")
    ax.set_title(f"{DESCRIPTIONS[target]}\nthe designs side by side", loc="left")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.subplots_adjust(left=0.40, right=0.76)
    return Figure(
        name=f"designs_{target}", appendix="multisite",
        title=f"{DESCRIPTIONS[target]}: the designs side by side",
        caption=(
            "Each design's estimate of the treated sites' relative change (its estimand in the "
            "methods table: the ITS models at the horizon, the synthetic control and the "
            "staggered DiD over the five months up to it), with the design's own 95% interval "
            "(squares: random-effects pooling for the ITS, the placebo interval for the "
            "synthetic control, the influence-function interval for the DiD) and, below it, "
            "the 95% randomisation interval from re-assigning the programme to comparison "
            "sites. Crosses: the true change of the synthetic panel."
        ),
        figure=fig,
    )  # fmt: skip


def event_study(study: pd.DataFrame, target: str, config: dict) -> Figure:
    """theta(e) of the staggered DiD with its 95% intervals, as relative changes."""
    part = study[study["target"] == target].sort_values("event_time")
    # A year of leads is enough to see a pre-trend; earlier ones rest on fewer cohorts.
    part = part[part["event_time"] >= -LEADS]
    fig, ax = new_figure(width=8.0, height=4.2)
    e = part["event_time"].to_numpy()
    est = np.expm1(part["estimate"].to_numpy(float))
    ax.fill_between(e, np.expm1(part["ci_low"].to_numpy(float)),
                    np.expm1(part["ci_high"].to_numpy(float)), color=COLOURS["fitted"],
                    alpha=0.2, lw=0, label="95% interval")  # fmt: skip
    ax.plot(e, est, "o-", ms=3, color=COLOURS["fitted"], lw=1, label="estimate")
    ax.axhline(0.0, color="0.2", lw=1)
    ax.axvline(-0.5, color=COLOURS["counterfactual"], lw=1, ls="--", label="programme starts")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:+.0%}")
    ax.set_xlabel("months since the site's start (event time)")
    ax.set_ylabel("relative change in the monthly rate")
    ax.set_title(f"{DESCRIPTIONS[target]}\nstaggered DiD event study", loc="left")
    ax.legend(fontsize=7, frameon=False)
    return Figure(
        name=f"event_study_{target}", appendix="multisite",
        title=f"{DESCRIPTIONS[target]}: event study (staggered DiD)",
        caption=(
            "Callaway and Sant'Anna's event study: at each month since the start, the average "
            "over the treated sites (weighted by cohort size) of the change in the log rate "
            "against the not-yet-treated and never-treated sites, as a relative change, with "
            "its 95% analytic interval (influence functions; with few treated sites it is too "
            f"narrow, see the randomisation p-values of the methods table), from {LEADS} months "
            "before the start. Before the start "
            "each point compares a month with the one before it: a trend there would break "
            "the design's parallel-trends assumption."
        ),
        figure=fig,
    )  # fmt: skip


def synthetic_control(paths: pd.DataFrame, target: str, config: dict) -> Figure:
    """For each treated site: the site against its synthetic control (left), and its gap
    against the comparison sites' placebo gaps (right)."""
    part = paths[paths["target"] == target]
    sites = list(dict.fromkeys(part["site"]))
    fig, axes = new_figure(width=8.0, height=1.2 + 2.0 * len(sites), ncols=2)
    fig.clear()
    grid = fig.subplots(len(sites), 2, squeeze=False, sharex=True)
    for row, site in zip(grid, sites):
        s = part[part["site"] == site]
        one = s.drop_duplicates("t").sort_values("t")
        start = int(one["start_t"].iloc[0])
        left, right = row
        left.plot(one["t"], one["treated"], color=COLOURS["observed"], lw=1, label=site)
        left.plot(one["t"], one["synthetic"], color=COLOURS["fitted"], lw=1, ls="--",
                  label="synthetic control")  # fmt: skip
        for donor, g in s.groupby("donor", sort=True):
            right.plot(g["t"], g["placebo_gap"], color="0.8", lw=0.5)
        right.plot(one["t"], one["gap"], color=COLOURS["fitted"], lw=1.2, label=f"{site} gap")
        for ax in row:
            ax.axvline(start - 0.5, color=COLOURS["counterfactual"], lw=1, ls="--")
            for key in ("top", "right"):
                ax.spines[key].set_visible(False)
        right.axhline(0.0, color="0.2", lw=0.8)
        left.set_ylabel("log monthly rate")
        right.set_ylabel("gap (log)")
        left.legend(fontsize=7, frameon=False, loc="upper left")
        right.legend(fontsize=7, frameon=False, loc="upper left")
    for ax in grid[-1]:
        ax.set_xlabel("month of the study (0 = first study month)")
    fig.suptitle(f"{DESCRIPTIONS[target]}: synthetic control per treated site", x=0.02,
                 ha="left", fontsize=11)  # fmt: skip
    height = fig.get_figheight()
    fig.subplots_adjust(bottom=1.0 / height, top=1 - 0.5 / height, hspace=0.35)
    return Figure(
        name=f"synthetic_control_{target}", appendix="multisite",
        title=f"{DESCRIPTIONS[target]}: synthetic control per treated site",
        caption=(
            "Left: each treated site's monthly log rate and its synthetic control, the "
            "weighted mix of comparison sites that tracks it before its start (dashed line). "
            "Right: the site's gap (site minus synthetic control) in colour, and in grey the "
            "gaps of every comparison site given the same treatment in turn (placebos in "
            "space): an effect stands out when the site's gap after the start leaves the grey "
            "band."
        ),
        figure=fig,
    )  # fmt: skip


def figures(estimates: pd.DataFrame, pooled: pd.DataFrame, config: dict,
            methods: pd.DataFrame, study: pd.DataFrame, paths: pd.DataFrame) -> list[Figure]:  # fmt: skip
    """Every figure of FIGURES, in its order."""
    draw = {"forest": lambda t: forest(estimates, pooled, t, config),
            "designs": lambda t: designs(methods, t, config),
            "event_study": lambda t: event_study(study, t, config),
            "synthetic_control": lambda t: synthetic_control(paths, t, config)}  # fmt: skip
    return [draw[kind](target) for kind in KINDS for target in DESCRIPTIONS]
