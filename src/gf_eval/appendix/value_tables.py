"""Value for money: the appraisal, the avoided events, the break-even changes, the unit costs
and the one-way sensitivity of the headline ratio, from the working tables of
`gf_eval.analysis.value_for_money`.

None carries the pre-specified analysis's badge: the appraisal was not in the 2017 plan; it is
built on the primary models. Every number here is a model estimate or a public unit cost, not
a count of people, so the disclosure rule for small counts has nothing to suppress; the tables
still pass `gf_eval.disclosure` like every published table. Money is rounded to the nearest £1,000 and
events to one decimal: the estimates are no more precise than that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gf_eval.appendix.plotting import new_figure
from gf_eval.appendix.publish import Figure, Table
from gf_eval.disclosure import TableSpec
from gf_eval.layout import PART_FIGURES, PART_TABLES

TABLES, FIGURES = PART_TABLES["vfm"], PART_FIGURES["vfm"]
TARGET_LABELS = {"repeat_marac": "Repeat MARAC cases",
                 "dva_rereferrals": "Re-referrals to children's social care with DVA",
                 "cin_dva": "Children in need (referrals) with DVA"}  # fmt: skip


def _money(x) -> float:
    return float(np.round(float(x), -3)) if pd.notna(x) else np.nan


def _spec(frame: pd.DataFrame, labels: tuple[str, ...], decimals: dict[str, int]) -> TableSpec:
    derived = {c: () for c in frame.columns if c not in labels}
    return TableSpec(counts=(), derived=derived, labels=labels,
                     decimals={c: decimals.get(c, 3) for c in derived})  # fmt: skip


def _price(config: dict) -> str:
    y = int(config["value_for_money"]["price_year"])
    return f"{y}-{str(y + 1)[-2:]}"


def appraisal_table(w: dict[str, pd.DataFrame], config: dict) -> Table:
    vfm = config["value_for_money"]
    a = w["appraisal"].copy()
    a["package"] = [p if c == vfm["target_correlation"] else f"{p} (correlation {c:g})"
                    for p, c in zip(a["package"], a["target_correlation"])]  # fmt: skip
    cols = ["description", "target_correlation", "benefit", "benefit_low", "benefit_high",
            "cost", "net", "net_low", "net_high", "bcr", "bcr_low", "bcr_high", "p_bcr_above_1",
            "verdict", *(["true_bcr"] if "true_bcr" in a.columns else []), "note"]  # fmt: skip
    for c in cols:
        if c not in a.columns:
            a[c] = np.nan if c != "note" else ""
    frame = a.set_index("package")[cols]
    for c in ("benefit", "benefit_low", "benefit_high", "cost", "net", "net_low", "net_high"):
        frame[c] = frame[c].map(_money)
    for c in ("bcr", "bcr_low", "bcr_high", "true_bcr", "p_bcr_above_1"):
        if c in frame.columns:
            frame[c] = frame[c].astype(float).round(2)
    frame["note"] = frame["note"].fillna("")
    frame["verdict"] = frame["verdict"].fillna("")
    return Table(
        name="vfm_appraisal", appendix="vfm",
        title="Value for money: benefit, cost and benefit-cost ratio",
        caption=(
            "Each row values the events the primary models say were avoided (Table V.2) at "
            f"the unit costs of Table V.4, in {_price(config)} prices, from the start to "
            f"{vfm['horizon_months']} months after the data end, discounted at "
            f"{100 * vfm['discount_rate']:g}% a year (year 0 undiscounted), against the "
            "programme's cost (config value_for_money.programme). Benefit, net benefit and "
            "benefit-cost ratio carry 95% intervals from "
            f"{vfm['draws']} draws of the models' coefficients; P(ratio > 1) is the share of "
            "draws in which the programme paid for itself. The headline is the first package "
            "whose every unit cost is verified (Table V.4); a package that adds targets is "
            "also given under other assumptions about how the targets' estimation errors are "
            "related (rows marked with a correlation); the alternatives value other events "
            "and are never added to one another. A package without a verified unit cost for "
            "each of its events is not valued (Note). Verdict "
            "says whether the interval of the ratio lies above 1, below 1 or spans it."
            + (" On synthetic data, true_bcr is the ratio the generator's true effects give."
               if "true_bcr" in frame.columns else "")
        ),
        frame=frame,
        spec=_spec(frame, ("description", "verdict", "note"),
                   {c: 0 for c in ("benefit", "benefit_low", "benefit_high", "cost", "net",
                                   "net_low", "net_high")}),  # fmt: skip
        notes=("The programme's cost in config/config.yaml is illustrative unless the "
               "authority has replaced it with its accounts.",
               "A ratio's interval that spans 1 means the data cannot tell whether the "
               "programme paid for itself; it does not mean that it did not."),
    )


def avoided_table(w: dict[str, pd.DataFrame], config: dict) -> Table:
    a = w["avoided"]
    first, second = sorted(a["period"].unique(), key=lambda p: (p != "start to data end", p))
    rows = []
    for target, g in a.groupby("target", sort=False):
        g = g.set_index("period")
        row = {"target": target, "description": TARGET_LABELS[target],
               "months_modelled": int(g.loc[first, "months_modelled"]),
               "avoided_to_data_end": g.loc[first, "avoided"],
               "avoided_to_data_end_low": g.loc[first, "avoided_low"],
               "avoided_to_data_end_high": g.loc[first, "avoided_high"],
               "avoided_to_horizon": g.loc[second, "avoided"],
               "avoided_to_horizon_low": g.loc[second, "avoided_low"],
               "avoided_to_horizon_high": g.loc[second, "avoided_high"]}  # fmt: skip
        if "true_avoided" in g.columns:
            row["true_avoided_to_data_end"] = g.loc[first, "true_avoided"]
            row["true_avoided_to_horizon"] = g.loc[second, "true_avoided"]
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("target")
    for c in frame.columns:
        if c.startswith(("avoided", "true_avoided")):
            frame[c] = frame[c].astype(float).round(1)
    return Table(
        name="vfm_avoided", appendix="vfm",
        title="Events avoided: counterfactual minus fitted, from the primary models",
        caption=(
            "For each target, the events the primary interrupted-time-series model puts "
            "between its counterfactual (the pre-period trend continued) and its fit, summed "
            f"from the start to the data end and to {second.removeprefix('start to ')}, with "
            "95% intervals from the draws of the model's coefficients. Months after the last "
            "modelled month (Months modelled counts those with a fit) carry its counterfactual "
            "and relative effect forward: the effect at the data end is assumed to last. A "
            "negative number is an increase."
            + (" On synthetic data, the true columns apply the generator's true effects to "
               "the model's counterfactual." if "true_avoided_to_data_end" in frame.columns
               else "")
        ),
        frame=frame, spec=_spec(frame, ("description",),
                                {c: 0 if c == "months_modelled" else 1 for c in frame.columns}),
    )


def break_even_table(w: dict[str, pd.DataFrame], config: dict) -> Table:
    b = w["break_even"].set_index("target")
    frame = b[["event", "unit_cost", "counterfactual_events", "value_at_risk",
               "break_even_change", "average_change", "average_ci_low", "average_ci_high",
               "target_change"]].copy()  # fmt: skip
    frame["unit_cost"] = frame["unit_cost"].round(0)
    frame["value_at_risk"] = frame["value_at_risk"].map(_money)
    frame["counterfactual_events"] = frame["counterfactual_events"].round(1)
    for c in ("break_even_change", "average_change", "average_ci_low", "average_ci_high"):
        frame[c] = frame[c].round(3)
    return Table(
        name="vfm_break_even", appendix="vfm",
        title="Break-even: the reduction in one target alone that would pay for the programme",
        caption=(
            "Counterfactual events are the events the primary model expected without the "
            "programme over the appraisal period (Table V.2); their value at risk is their "
            "discounted value at the unit cost. The break-even change is the relative change "
            "in that target alone, sustained over the period, whose avoided events would be "
            "worth the programme's cost (Table V.1); beside it, the estimated average change "
            "over the post-intervention months with its 95% interval, and the target. A "
            "break-even change beyond -100% cannot be reached by that target alone."
        ),
        frame=frame, spec=_spec(frame, ("event",), {"unit_cost": 0, "counterfactual_events": 1,
                                                    "value_at_risk": 0}),  # fmt: skip
    )


def unit_costs_table(w: dict[str, pd.DataFrame], config: dict) -> Table:
    u = w["unit_costs"].copy()
    u["row"] = [f"{e} ({i + 1})" for i, e in enumerate(u["event"])]
    frame = u.set_index("row")[["event", "unit", "cost", "price_year", "verified", "used",
                                "cost_uprated", "low_uprated", "high_uprated",
                                "assumed_range", "source", "location"]]  # fmt: skip
    frame.index.name = "unit_cost_row"
    for c in ("cost", "cost_uprated", "low_uprated", "high_uprated"):
        frame[c] = frame[c].astype(float).round(0)
    frame["price_year"] = frame["price_year"].map(
        lambda y: "" if pd.isna(y) else f"{int(y)}-{str(int(y) + 1)[-2:]}")  # fmt: skip
    for c in ("verified", "used", "assumed_range"):
        frame[c] = frame[c].map(lambda v: "" if pd.isna(v) else ("yes" if bool(v) else "no"))
    frame["location"] = frame["location"].fillna("")
    return Table(
        name="vfm_unit_costs", appendix="vfm",
        title="Unit costs: every figure, its source and whether it is used",
        caption=(
            f"Each row of {config['value_for_money']['unit_costs_file']} (and any the config "
            "sets), with its cost in its own price year and, where used, uprated to "
            f"{_price(config)} prices with the HM Treasury GDP deflators "
            f"({config['value_for_money']['deflators_file']}), with the low and high values of "
            "the one-way sensitivity (Table V.5). Only a figure checked against its source "
            "(Verified) is used by default, the first for each event; Assumed range marks a "
            "low and high that are the config's +-"
            f"{100 * config['value_for_money']['sensitivity']['unit_cost_range']:g}% because "
            "the source gives none."
        ),
        frame=frame,
        spec=_spec(frame, ("event", "unit", "price_year", "verified", "used", "assumed_range",
                           "source", "location"), {c: 0 for c in frame.columns}),  # fmt: skip
    )


def sensitivity_table(w: dict[str, pd.DataFrame], config: dict) -> Table:
    s = w["sensitivity"].set_index("parameter")
    frame = s[["base_setting", "low_setting", "high_setting", "bcr", "bcr_at_low",
               "bcr_at_high", "assumed_range"]].copy()  # fmt: skip
    for c in ("bcr", "bcr_at_low", "bcr_at_high"):
        frame[c] = frame[c].round(2)
    for c in ("base_setting", "low_setting", "high_setting"):
        frame[c] = frame[c].astype(float).round(3)
    frame["assumed_range"] = frame["assumed_range"].map(lambda v: "yes" if bool(v) else "no")
    return Table(
        name="vfm_sensitivity", appendix="vfm",
        title="One-way sensitivity of the headline benefit-cost ratio",
        caption=(
            "The headline ratio (Table V.1, first row; point estimate) recomputed with one "
            "setting at a time moved to its low and high value: each unit cost over its "
            "source's range (or the config's assumed range), the discount rate, and the "
            "horizon over which the effect at the data end is assumed to last (months after "
            "the data end). Figure V.1 draws it."
        ),
        frame=frame, spec=_spec(frame, ("assumed_range",), {}),
    )


def tables(working: dict[str, pd.DataFrame], config: dict) -> list[Table]:
    return [appraisal_table(working, config), avoided_table(working, config),
            break_even_table(working, config), unit_costs_table(working, config),
            sensitivity_table(working, config)]  # fmt: skip


def figures(working: dict[str, pd.DataFrame], config: dict) -> list[Figure]:
    s = working["sensitivity"]
    fig, ax = new_figure(8.0, 4.2)
    if len(s):
        base = float(s["bcr"].iloc[0])
        spans = (s["bcr_at_high"] - s["bcr_at_low"]).abs().to_numpy()
        order = np.argsort(spans)  # widest on top
        for y, i in enumerate(order):
            r = s.iloc[i]
            lo, hi = sorted((float(r["bcr_at_low"]), float(r["bcr_at_high"])))
            ax.barh(y, hi - lo, left=lo, color="#1f5fa8", alpha=0.75, height=0.6)
            ax.text(lo, y, f"{r['bcr_at_low']:.2f} ", ha="right", va="center", fontsize=7)
            ax.text(hi, y, f" {r['bcr_at_high']:.2f}", ha="left", va="center", fontsize=7)
        ax.set_yticks(range(len(order)),
                      [f"{s.iloc[i]['parameter']}\n({s.iloc[i]['low_setting']:g} to "
                       f"{s.iloc[i]['high_setting']:g})" for i in order], fontsize=7)  # fmt: skip
        ax.axvline(base, color="0.2", lw=1, label=f"headline ratio {base:.2f}")
    ax.axvline(1.0, color="#c0392b", lw=1, ls="--", label="break-even (ratio 1)")
    ax.set_xlabel("benefit-cost ratio (point estimate)")
    ax.set_title("One-way sensitivity of the headline benefit-cost ratio", loc="left")
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    fig.subplots_adjust(left=0.36, bottom=0.2)
    return [Figure(
        name="vfm_tornado", appendix="vfm",
        title="One-way sensitivity of the headline benefit-cost ratio",
        caption=("Each bar: the headline ratio (point estimate) with one setting moved from its "
                 "low to its high value (Table V.5), the others at their base values; the "
                 "widest on top. The solid line is the headline ratio, the dashed line "
                 "break-even. The bars show how much each assumption matters, not the "
                 "statistical uncertainty, which Table V.1 gives."),
        figure=fig,
    )]  # fmt: skip
