"""The targets table that answers the evaluation's headline question, the sensitivity and
placebo tables behind it, the episodes still under assessment, and one figure per target."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gf_eval.appendix.axes import month_middle, study_axis
from gf_eval.appendix.plotting import COLOURS, new_figure
from gf_eval.appendix.publish import Figure, Table
from gf_eval.config import Calendar
from gf_eval.disclosure import TableSpec
from gf_eval.layout import PART_FIGURES, PART_TABLES

TABLES, FIGURES = PART_TABLES["targets"], PART_FIGURES["targets"]

DESCRIPTIONS = {
    "repeat_marac": "Repeat MARAC cases (12-month rule)",
    "dva_rereferrals": "Re-referrals to children's social care where DVA is a factor",
    "cin_dva": "Children in need where DVA is a factor (new episodes)",
}
RATE_UNITS = {
    "repeat_marac": "repeat cases per 100 MARAC cases",
    "dva_rereferrals": "DVA re-referrals per 100 referrals",
    "cin_dva": "DVA episodes per 100 referrals",
}
MODEL_COLUMNS = ("relative_change", "ci_low", "ci_high")


def _model_spec(counts=(), derived_from=None, extra=(), labels=()) -> dict:
    derived = {c: () for c in (*MODEL_COLUMNS, *extra)}
    derived.update(derived_from or {})
    return {"counts": tuple(counts), "derived": derived, "labels": tuple(labels),
            "decimals": {c: 3 for c in (*MODEL_COLUMNS, *extra)}}  # fmt: skip


ESTIMAND_LABELS = {"end": "change at data end", "average": "average change"}


def targets_table(models: dict[str, pd.DataFrame], config: dict) -> Table:
    est, pp = models["estimates"], models["prepost"].set_index("target")
    primary = est[est["primary"]].set_index("target")
    power = models["power"].set_index("target")
    rows = []
    for target, description in DESCRIPTIONS.items():
        p, m, w = pp.loc[target], primary.loc[target], power.loc[target]
        rows.append({
            "target": target, "description": description,
            "pre_count": p["pre_count"], "post_count": p["post_count"],
            "pre_denominator": p["pre_denominator"], "post_denominator": p["post_denominator"],
            "pre_rate": p["pre_rate"], "post_rate": p["post_rate"],
            "prepost_change_pct": p["count_change_pct"],
            "relative_change": m["relative_change"], "ci_low": m["ci_low"], "ci_high": m["ci_high"],
            "average_change": m["average_change"], "average_ci_low": m["average_ci_low"],
            "average_ci_high": m["average_ci_high"],
            "target_change": f"{config['targets'][target]:.2f}",
            "estimand": ESTIMAND_LABELS[m["estimand"]], "verdict": m["verdict"],
            "power": round(float(w["power"]), 2), "mde": round(float(w["mde"]), 3),  # NaN: none
            "months_fitted": f"{m['first_month']} to {m['last_month']}",
        })  # fmt: skip
    frame = pd.DataFrame(rows).set_index("target")
    for col in ("pre_count", "post_count", "pre_denominator", "post_denominator"):
        frame[col] = frame[col].astype("int64")
    s = _model_spec(
        counts=("pre_count", "post_count", "pre_denominator", "post_denominator"),
        extra=("average_change", "average_ci_low", "average_ci_high", "power", "mde"),
        derived_from={"pre_rate": ("pre_count", "pre_denominator"),
                      "post_rate": ("post_count", "post_denominator"),
                      "prepost_change_pct": ("pre_count", "post_count")},  # fmt: skip
        labels=("description", "target_change", "estimand", "verdict", "months_fitted"),
    )
    pre, post = config["windows"]["pre"], config["windows"]["post"]
    cal = Calendar.from_config(config)
    return Table(
        name="targets", appendix="targets",
        title="The three targets: pre/post comparison, primary ITS estimate and verdict",
        caption=(
            f"Pre and post are the 12-month windows {pre['start']} to {pre['end']} and "
            f"{post['start']} to {post['end']}: counts, denominators (MARAC cases; referrals "
            "with a known DVA status) and rates per 100, and the change in the count. "
            "relative_change is the primary interrupted-time-series estimate (pre-specified in "
            f"config/config.yaml: {config['analysis']['primary']['family']} with model-based "
            "standard errors, one Fourier pair for season, the log denominator as offset) of the "
            f"relative change in the rate in the last month of data ({cal.data_end:%B %Y}) "
            "against the counterfactual trend, as a fraction (-0.25 is a 25% reduction), with "
            "its 95% interval; average_change is the average relative change over the "
            f"post-intervention months ({cal.intervention_start:%B %Y} to {cal.data_end:%B %Y}), "
            "with its 95% interval. The verdict compares the interval of the pre-specified "
            "estimand (config analysis.estimand, named in estimand) with target_change by the "
            "rule in gf_eval/stats/verdict.py. The power (column power) is the chance that the "
            "primary model's interval excludes no change (upper limit below 0) if the rate fell "
            "by the target change, and the minimum detectable change (mde) the change it would "
            "detect with 80% power, both simulated from "
            "the pre-period months alone (their level, trend, season, overdispersion and "
            "autocorrelation), so they could have been known before the programme started."
        ),
        frame=frame, spec=TableSpec(**s),
        notes=(
            "DVA months with more than "
            f"{100 * config['analysis']['max_pending_share']:g}% of episodes still under "
            "assessment are left out of the fit and the estimate at the data end is projected "
            "(see target_pending and target_sensitivity).",
            "Sensitivity analyses are in target_sensitivity; they are not the basis of the "
            "verdicts.",
            "A verdict of no evidence of reduction where power is low says little about the "
            "programme: the design could rarely have said anything else. The power and the "
            "minimum detectable change are "
            f"simulated ({config['analysis']['power']['simulations']} series, "
            f"a {config['analysis']['power']['effect_shape']} change from the start; config "
            "analysis.power) and carry Monte Carlo error of a few points; a minimum detectable "
            "change shown as z means that not even a 99% reduction reaches that power.",
        ),
        plan="primary",
    )


def prepost_table(models: dict[str, pd.DataFrame], config: dict) -> Table:
    pp = models["prepost"].set_index("target")
    cols = ["pre_count", "post_count", "count_change_pct", "count_change_ci_low",
            "count_change_ci_high", "pre_denominator", "post_denominator", "pre_rate",
            "post_rate", "rate_change_pct", "rate_change_ci_low", "rate_change_ci_high"]  # fmt: skip
    frame = pp[cols].copy()
    counts = ("pre_count", "post_count", "pre_denominator", "post_denominator")
    for col in counts:
        frame[col] = frame[col].astype("int64")
    by_count = ("pre_count", "post_count")
    by_rate = counts
    derived = {c: by_count for c in cols[2:5]} | {c: by_rate for c in cols[7:]}
    derived |= {"pre_rate": ("pre_count", "pre_denominator"),
                "post_rate": ("post_count", "post_denominator")}  # fmt: skip
    pre, post = config["windows"]["pre"], config["windows"]["post"]
    return Table(
        name="target_prepost", appendix="targets",
        title="Descriptive pre/post comparison of the three targets",
        caption=(
            f"Counts in the 12 months {pre['start']} to {pre['end']} (pre) and {post['start']} "
            f"to {post['end']} (post). count_change_pct: the change in the count, with the exact "
            "conditional (Clopper-Pearson) 95% interval of the ratio of two Poisson counts over "
            "equal periods. rate_change_pct: the change in the rate per 100 of the denominator "
            "(MARAC cases; referrals with a known DVA status), with the Katz log 95% interval "
            "of the ratio of two proportions. Descriptive only: it takes no account of trend or "
            "season, which the interrupted time series does."
        ),
        frame=frame, spec=TableSpec(counts=counts, derived=derived),
    )


def sensitivity_table(models: dict[str, pd.DataFrame]) -> Table:
    est = models["estimates"].copy()
    est["label"] = est["target"] + ": " + est["analysis"]
    frame = est.set_index("label")[["target", "analysis", "primary", *MODEL_COLUMNS,
                                    "months_fitted", "verdict", "note"]].copy()  # fmt: skip
    frame["primary"] = np.where(frame["primary"], "primary (pre-specified)", "sensitivity")
    frame["months_fitted"] = frame["months_fitted"].map(lambda v: "" if pd.isna(v) else str(int(v)))
    frame["verdict"] = frame["verdict"].fillna("")
    frame["note"] = frame["note"].fillna("")
    s = _model_spec(labels=("target", "analysis", "primary", "months_fitted", "verdict", "note"))
    return Table(
        name="target_sensitivity", appendix="targets",
        title="Primary and sensitivity analyses of the three targets",
        caption=(
            "Each row refits one target with one change from the primary model: Newey-West "
            "standard errors, Prais-Winsten AR(1) errors (a gaussian model of the log rate), a "
            "negative binomial family, no seasonal terms, the first months after the start left "
            "out as a phase-in, or, for the DVA targets, every month fitted with the episodes "
            "still under assessment counted as not DVA or as DVA. relative_change is the "
            "relative change in the rate in the last month of data against the counterfactual, "
            "with its 95% interval. Only the row marked primary is the basis of a verdict."
        ),
        frame=frame, spec=TableSpec(**s), plan="sensitivity",
    )


def placebo_table(models: dict[str, pd.DataFrame]) -> Table:
    pl = models["placebo"].copy()
    pl["label"] = pl["target"] + ": placebo start " + pl["placebo_start"]
    frame = pl.set_index("label")[["target", "placebo_start", *MODEL_COLUMNS,
                                   "includes_no_change"]].copy()  # fmt: skip
    frame["includes_no_change"] = np.where(frame["includes_no_change"], "yes", "no")
    s = _model_spec(labels=("target", "placebo_start", "includes_no_change"))
    return Table(
        name="target_placebo", appendix="targets",
        title="Placebo tests: the primary model with a false start in the pre-period",
        caption=(
            "The primary model refitted on the months before the real start, with the "
            "interruption at each placebo date; relative_change is the estimated change at the "
            "last pre-intervention month. An interval that excludes no change would suggest "
            "that the model finds effects where there are none."
        ),
        frame=frame, spec=TableSpec(**s), plan="sensitivity",
    )


def pending_table(series: pd.DataFrame, config: dict) -> Table:
    limit = 100 * config["analysis"]["max_pending_share"]
    part = series[series["pending"].fillna(0) > 0].set_index("month")
    frame = part[["referrals", "referrals_known", "pending"]].astype("int64")
    months = tuple(frame.index)
    # The Total protects the months together with the yearly pending counts of Appendix 6.
    frame.loc["Total"] = frame.sum()
    frame["pending_share"] = 100 * frame["pending"] / frame["referrals"]
    frame["in_dva_models"] = np.where(frame["pending_share"] <= limit, "fitted", "left out")
    frame.loc["Total", "in_dva_models"] = ""
    frame.index.name = "month"
    spec = TableSpec(counts=("referrals", "referrals_known", "pending"),
                     derived={"pending_share": ("pending", "referrals")},
                     column_totals=(("referrals", ("referrals_known", "pending")),),
                     row_totals=(("Total", months),), labels=("in_dva_models",))  # fmt: skip
    return Table(
        name="target_pending", appendix="targets",
        title="Referrals whose DVA status was not yet known at the data end",
        caption=(
            "Referral months with episodes still open and without an authorised assessment at "
            "the data end: their DVA factors are not yet recorded. Months with more than "
            f"{limit:g}% such episodes are left out of the DVA models' fit; the sensitivity "
            "analyses show the estimates with those months counted either way."
        ),
        frame=frame, spec=spec,
    )


def tables(series: pd.DataFrame, models: dict[str, pd.DataFrame], config: dict) -> list[Table]:
    return [targets_table(models, config), prepost_table(models, config),
            sensitivity_table(models), placebo_table(models), pending_table(series, config)]  # fmt: skip


def phase_in_statement(models: dict[str, pd.DataFrame], target: str, config: dict) -> tuple[int, str]:
    """(months shaded, what the primary model does with them), read from the primary fit's own
    specification (spec_phase_in in the estimates), so the figure says what was fitted."""
    est = models["estimates"]
    primary = est[(est["target"] == target) & est["primary"].astype(bool)]
    if len(primary) != 1:
        raise ValueError(f"estimates: expected one primary row for {target}, found {len(primary)}")
    left_out = int(primary["spec_phase_in"].iloc[0])
    if left_out:
        return left_out, "the primary model leaves these months out of its fit"
    return (config["analysis"]["sensitivity"]["phase_in_months"],
            "the primary model fits through these months")  # fmt: skip


def figures(series: pd.DataFrame, models: dict[str, pd.DataFrame], config: dict,
            site: str | None = None) -> list[Figure]:  # fmt: skip
    """One figure per target. With `site` (a multi-site run), the titles name the site and
    the end of Growing Futures' funding, which is Doncaster's alone, is not drawn."""
    cal = Calendar.from_config(config)
    programme = f"the programme at {site}" if site else "Growing Futures"
    threshold = config["disclosure"]["threshold"]
    pred = models["predictions"]
    out = []
    for target, description in DESCRIPTIONS.items():
        spec = config["analysis"]["series"][target]
        p = pred[pred["target"] == target].copy()
        s = series.set_index("month")
        count = s.loc[p["month"], spec["outcome"]].to_numpy(dtype=float)
        # Disclosure control: a monthly rate on 1..threshold events is not drawn.
        shown = ~((count >= 1) & (count <= threshold))
        phase_in, fitted_through = phase_in_statement(models, target, config)
        x = month_middle(p["month"])
        fig, ax = new_figure(8.0, 5.2)
        ax.fill_between(x, p["counterfactual_low"], p["counterfactual_high"], where=p["t"] >= cal.t0,
                        color=COLOURS["counterfactual"], alpha=0.15, linewidth=0,
                        label="counterfactual, 95% band")  # fmt: skip
        post = (p["t"] >= cal.t0).to_numpy()
        ax.plot(x[post], p["counterfactual"][post], color=COLOURS["counterfactual"], ls="--",
                label="counterfactual (pre-period trend continued)")  # fmt: skip
        ax.plot(x, p["fitted"], color=COLOURS["fitted"], label="fitted segmented trend")
        ax.plot(x[shown], p["observed"][shown], "o", ms=3, color=COLOURS["observed"],
                label="observed month")  # fmt: skip
        # Months left out of the DVA fit: observed, not used.
        late = series[(series["t"] > p["t"].max()) & series[spec["outcome"]].notna()]
        late = late[~late[spec["outcome"]].between(1, threshold)]
        if len(late):
            xl = month_middle(late["month"])
            rate = 100 * late[spec["outcome"]] / late[spec["offset"]].where(late[spec["offset"]] > 0)
            ax.plot(xl, rate, "o", ms=3,
                    mfc="none", color=COLOURS["observed"],
                    label="month left out (DVA status incomplete)")  # fmt: skip
        ax.axvline(cal.intervention_start, color="0.2", lw=1)
        ax.axvspan(cal.intervention_start, cal.intervention_start + pd.DateOffset(months=phase_in),
                   color="0.85", zorder=0,
                   label=f"shaded: start and {phase_in}-month phase-in\n({fitted_through})")  # fmt: skip
        if not site:
            ax.axvline(cal.funding_end, color="0.5", lw=1, ls=":", label="funding ends")
        ax.set_title(f"{site + ': ' if site else ''}{description}\n"
                     "monthly rate and the primary interrupted time series", loc="left")
        study_axis(ax, cal, "month of referral, by financial year (April to March; short ticks "
                            "mark the quarters)")  # fmt: skip
        ax.set_ylabel(RATE_UNITS[target])
        ax.set_ylim(bottom=0)
        # Below the axes, so that it never hides a month.
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False,
                  ncol=2)  # fmt: skip
        fig.subplots_adjust(bottom=0.31, top=0.88)
        out.append(Figure(
            name=f"target_{target}", appendix="targets",
            title=f"{description}: monthly rate with the primary model",
            caption=(
                f"Points: the observed monthly rate ({RATE_UNITS[target]}); months with 1 to "
                f"{threshold} events are not drawn (disclosure control). Blue: the primary "
                "model's fitted segmented trend. Red dashed: the counterfactual, the pre-period "
                "trend and season continued, with its 95% band. The vertical line marks the "
                f"start of {programme}, the grey band the first {phase_in} months "
                f"(phase-in): {fitted_through}"
                + ("." if site else "; the dotted line the end of funding.")
            ),
            figure=fig,
        ))  # fmt: skip
    return out
