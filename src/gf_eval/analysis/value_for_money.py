"""Value for money: the events the programme avoided, valued at public unit costs, against
what it cost (config `value_for_money`; HM Treasury Green Book conventions).

- **Avoided events.** For each target, the primary ITS (`targets.fit`) gives, in each month from
  the start, the counterfactual count (the pre-period trend continued) and the fitted count;
  counterfactual minus fitted is the events avoided. Months after the model's last month (the
  data end, or the last DVA month with its status known) up to `horizon_months` after the data
  end keep the last modelled month's counterfactual count and relative effect: the effect at the
  data end is assumed to persist for the horizon, neither growing nor fading.
- **Uncertainty.** Coefficients are drawn from each primary fit's estimated sampling
  distribution (`ITSResults.draw_params`, seeded from `config.seed`), and every benefit, ratio
  and probability comes from those draws, never from adding intervals. The fits of different
  targets are separate, so the correlation of their errors is an assumption:
  `target_correlation` (default 0, independent) is the correlation of the standard normals
  behind the draws, term by term; the appraisal table gives every package that adds targets at
  0, 0.5 and 1 as well.
- **Valuation.** Each avoided event times its unit cost (`config/unit_costs.csv`, uprated with
  the HM Treasury GDP deflators of `config/gdp_deflators.csv` to `price_year`), discounted by
  whole years from the start at `discount_rate` (3.5%, year 0 undiscounted). The programme's
  cost (its grant, or else its posts and set-up) is discounted and uprated in the same way.
- **What is added, what is an alternative** (`PACKAGES`): a repeat MARAC case avoided saves a
  MARAC's work; a referral with DVA avoided saves a child-in-need episode. Those are different
  services and are added. DVA re-referrals are a subset of the referrals with DVA, so they are
  valued only as an alternative to them, never added to them. The Home Office's social and
  economic cost of domestic abuse per victim is a wider, societal valuation of the same repeat
  MARAC cases: an alternative to the MARAC's cost, and an upper bound, since a repeat case
  avoided need not spare a victim a whole period of abuse.
- **Truth.** On synthetic data the same valuation of the generator's true effects (on the
  model's counterfactual counts) gives the true ratio beside the estimate.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from gf_eval.analysis import VALUE_FILES, targets
from gf_eval.config import Calendar
from gf_eval.stats.economics import Appraisal, break_even, discount_factors, uprate

log = logging.getLogger(__name__)

EVENTS = ("repeat_marac_case", "referral", "child_in_need_episode", "child_protection_plan",
          "looked_after_year", "domestic_abuse_victim")  # fmt: skip
EVENT_PATTERN = re.compile(r"^(%s)(_[a-z0-9_]+)?$" % "|".join(EVENTS))
# The event each target's avoided counts are, by default.
TARGET_EVENTS = {"repeat_marac": "repeat_marac_case", "dva_rereferrals": "referral",
                 "cin_dva": "child_in_need_episode"}  # fmt: skip
# package -> (description, {target: event}); the first is the headline.
PACKAGES = {
    "services": ("MARAC and children's social care: repeat MARAC cases and children in need "
                 "with DVA, added (different services)",
                 {"repeat_marac": "repeat_marac_case", "cin_dva": "child_in_need_episode"}),
    "services_rereferrals": ("Alternative: repeat MARAC cases and DVA re-referrals (a subset "
                             "of the referrals with DVA, so never added to them)",
                             {"repeat_marac": "repeat_marac_case", "dva_rereferrals": "referral"}),
    "societal": ("Alternative, an upper bound: repeat MARAC cases valued at the social and "
                 "economic cost of domestic abuse per victim, and children in need with DVA",
                 {"repeat_marac": "domestic_abuse_victim", "cin_dva": "child_in_need_episode"}),
    "societal_marac": ("Alternative, an upper bound on one target alone: repeat MARAC cases "
                       "valued at the social and economic cost of domestic abuse per victim",
                       {"repeat_marac": "domestic_abuse_victim"}),
}
CORRELATIONS = (0.0, 0.5, 1.0)
BREAK_EVEN_COLUMNS = ("target", "event", "unit_cost", "counterfactual_events", "value_at_risk",
                      "break_even_change", "average_change", "average_ci_low",
                      "average_ci_high", "target_change")  # fmt: skip
SENSITIVITY_COLUMNS = ("parameter", "low_setting", "high_setting", "base_setting",
                       "assumed_range", "bcr_at_low", "bcr_at_high", "bcr")  # fmt: skip
FILES = VALUE_FILES  # the working outputs, in results/<source>/working/value_for_money/


class UnitCostError(ValueError):
    """A unit-cost or deflator file breaks its rules."""


class UnitCostSchema(pa.DataFrameModel):
    """config/unit_costs.csv: one public unit cost per row (docs/value_for_money.md)."""

    event: Series[str] = pa.Field(str_matches=EVENT_PATTERN.pattern)
    unit: Series[str] = pa.Field(str_length={"min_value": 1})
    cost: Series[float] = pa.Field(ge=0, nullable=True)
    low: Series[float] = pa.Field(ge=0, nullable=True)
    high: Series[float] = pa.Field(ge=0, nullable=True)
    price_year: Series[pd.Int64Dtype] = pa.Field(ge=1990, le=2100, nullable=True)
    source: Series[str] = pa.Field(str_length={"min_value": 1})
    location: Series[str] = pa.Field(nullable=True)
    url: Series[str] = pa.Field(nullable=True)
    verified: Series[bool]
    note: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check(error="a verified row needs its cost")
    def verified_has_cost(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df["verified"] | df["cost"].notna()

    @pa.dataframe_check(error="a row with a cost needs its price_year")
    def cost_has_price_year(cls, df: pd.DataFrame) -> Series[bool]:
        return df["cost"].isna() | df["price_year"].notna()

    @pa.dataframe_check(error="low <= cost <= high where a range is given")
    def range_holds_cost(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["low"].isna() | (df["low"] <= df["cost"])) & (
            df["high"].isna() | (df["cost"] <= df["high"]))  # fmt: skip

    class Config:
        strict = True
        coerce = True


class DeflatorSchema(pa.DataFrameModel):
    financial_year: Series[int] = pa.Field(ge=1950, le=2100, unique=True)
    deflator: Series[float] = pa.Field(gt=0)

    class Config:
        strict = True
        coerce = True


def _validated(schema, frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """`frame` checked by `schema`; UnitCostError naming the file, each column, its rule and
    how many rows break it."""
    required = list(schema.to_schema().columns)
    missing = [c for c in required if c not in frame.columns]
    extra = [c for c in frame.columns if c not in required]
    if missing or extra:
        raise UnitCostError(f"{path}: " + "; ".join(
            [f"column {c}: missing" for c in missing]
            + [f"column {c}: not a column of this file" for c in extra]))  # fmt: skip
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        lines = []
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=True):
            rows = group["index"].dropna().nunique() or len(group)
            where = "table" if pd.isna(column) else f"column {column}"
            lines.append(f"{where}: {check} ({rows} row{'s' if rows != 1 else ''})")
        raise UnitCostError(f"{path}: " + "; ".join(lines)) from None


def _read_csv(path: Path, **kw) -> pd.DataFrame:
    try:
        return pd.read_csv(path, comment="#", dtype=str, **kw)
    except FileNotFoundError:
        raise UnitCostError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise UnitCostError(f"{path}: not a readable CSV ({type(err).__name__})") from None


def read_unit_costs(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    frame = _read_csv(path, keep_default_na=False, na_values=[""])
    if "verified" in frame.columns:
        frame["verified"] = frame["verified"].str.strip().str.lower().map(
            {"true": True, "false": False})  # fmt: skip
        if frame["verified"].isna().any():
            raise UnitCostError(f"{path}: column verified: must be true or false "
                                f"({int(frame['verified'].isna().sum())} rows)")  # fmt: skip
    return _validated(UnitCostSchema, frame, path)


def read_deflators(path: str | Path) -> dict[int, float]:
    path = Path(path)
    frame = _validated(DeflatorSchema, _read_csv(path), path)
    return dict(zip(frame["financial_year"].astype(int), frame["deflator"].astype(float)))


@dataclass(frozen=True)
class UnitCost:
    event: str
    unit: str
    cost: float  # in the appraisal's price year
    low: float
    high: float
    source: str
    assumed_range: bool  # low and high are the config's +-range, the source gives none


def chosen_costs(costs: pd.DataFrame, vfm: dict, deflators: dict[int, float],
                 ) -> dict[str, UnitCost]:  # fmt: skip
    """Per event, the unit cost used, in `price_year` prices: the config's own value for it
    (`unit_costs` overrides) if any, else the first verified row of the file. An event with
    neither is left out, and so is every package that needs it."""
    year, spread = int(vfm["price_year"]), float(vfm["sensitivity"]["unit_cost_range"])
    out = {}
    overrides = vfm.get("unit_costs") or {}
    for event in sorted(set(costs["event"]) | set(overrides)):
        if event in overrides:
            o = overrides[event]
            row = {"unit": o.get("unit", ""), "cost": o["cost"], "low": o.get("low"),
                   "high": o.get("high"), "price_year": o["price_year"],
                   "source": o.get("source", "the authority's own figure (config)")}  # fmt: skip
        else:
            rows = costs[(costs["event"] == event) & costs["verified"]]
            if rows.empty:
                continue
            row = rows.iloc[0].to_dict()
        try:
            uprate(0.0, row["price_year"], year, deflators)
        except ValueError as err:
            raise UnitCostError(f"unit cost of {event} ({row['source']}): price_year: {err}") from None
        cost = float(uprate(row["cost"], row["price_year"], year, deflators)[0])
        given = row.get("low") is not None and pd.notna(row.get("low"))
        low = float(uprate(row["low"], row["price_year"], year, deflators)[0]) if given else cost * (1 - spread)
        given_high = row.get("high") is not None and pd.notna(row.get("high"))
        high = (float(uprate(row["high"], row["price_year"], year, deflators)[0]) if given_high
                else cost * (1 + spread))  # fmt: skip
        out[event] = UnitCost(event, str(row["unit"]), cost, low, high, str(row["source"]),
                              not (given and given_high))  # fmt: skip
    return out


# --- avoided events -----------------------------------------------------------------------


@dataclass
class Flows:
    """Per month from the start to the horizon's end: months since the start, and the avoided
    events (draws x months) with their point estimate; `modelled` marks the months the model
    covers (the rest carry the last modelled month forward)."""

    months: np.ndarray
    modelled: np.ndarray
    point: np.ndarray
    draws: np.ndarray
    counterfactual: np.ndarray  # the point estimate's counterfactual counts


def extend(times: np.ndarray, fitted: np.ndarray, counterfactual: np.ndarray, t0: int,
           last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Months t0..last with the avoided events (rows: draws), carrying the last modelled
    month's counterfactual and relative effect forward; months missing inside the modelled
    range (left out of the fit) are carried forward the same way from the month before."""
    months = np.arange(t0, last + 1)
    pos = np.searchsorted(times, months, side="right") - 1  # the latest modelled month <= t
    if np.any(pos < 0):
        raise ValueError("the model has no month at or before the start")
    cf = counterfactual[:, pos]
    ratio = fitted[:, pos] / np.where(cf > 0, cf, np.nan)
    avoided = np.nan_to_num(cf * (1 - ratio))
    return months, np.isin(months, times), avoided, cf


def target_flows(fit: targets.TargetFit, z: np.ndarray, cal: Calendar, horizon: int) -> Flows:
    res = fit.result
    post = res.simulate(res.params.to_numpy()[None, :])
    times = post["time"].to_numpy(dtype=int)
    sims = res.simulate(res.draw_params(z=z))
    k = int(sims["draw"].max()) + 1
    fitted = sims["fitted"].to_numpy().reshape(k, -1)
    cf = sims["counterfactual"].to_numpy().reshape(k, -1)
    last = cal.t_end + horizon
    months, modelled, point, cf_point = extend(
        times, post["fitted"].to_numpy()[None, :], post["counterfactual"].to_numpy()[None, :],
        cal.t0, last)  # fmt: skip
    _, _, draws, _ = extend(times, fitted, cf, cal.t0, last)
    return Flows(months - cal.t0, modelled, point[0], draws, cf_point[0])


def true_avoided(flows: Flows, effect: dict, data_end: int) -> np.ndarray:
    """The events the generator's true effect avoids on the model's counterfactual counts, the
    effect at the data end held for the horizon: cf * (1 - exp(level + slope * (t - t0)))."""
    t = np.minimum(flows.months, data_end)
    path = effect["level_change"] + effect["slope_change"] * t
    return flows.counterfactual * -np.expm1(path)


def present_value(avoided: np.ndarray, months: np.ndarray, unit_cost: float,
                  rate: float) -> np.ndarray:  # fmt: skip
    """Sum over months of avoided * unit cost, discounted by whole years from the start (the
    last axis is months)."""
    return (avoided * discount_factors(months / 12.0, rate)).sum(axis=-1) * unit_cost


def programme_cost(vfm: dict, cal: Calendar, deflators: dict[int, float], rate: float) -> float:
    """The programme's cost in the appraisal's prices, discounted: its grant if given, else its
    set-up (year 0) and posts (fte * annual cost, spread over the funded months)."""
    p = vfm["programme"]
    months = cal.month_index(cal.funding_end) - cal.t0 + 1
    factors = discount_factors(np.arange(months) / 12.0, rate)
    if p.get("grant"):
        monthly = float(p["grant"]) / months
        total = monthly * factors.sum()
    else:
        per_month = sum(float(post["fte"]) * float(post["annual_cost"]) / 12
                        for post in p.get("posts", []))  # fmt: skip
        total = float(p.get("set_up") or 0) + per_month * factors.sum()
    try:
        return float(uprate(total, p["price_year"], int(vfm["price_year"]), deflators)[0])
    except ValueError as err:
        raise UnitCostError(f"config value_for_money: programme price_year or price_year: {err}") from None


# --- the appraisal --------------------------------------------------------------------------


def _standard_normals(rng: np.random.Generator, n: int, dims: dict[str, int],
                      correlation: float) -> dict[str, np.ndarray]:  # fmt: skip
    """Per target, draws x params standard normals whose term-by-term correlation across
    targets is `correlation` (a shared part and each target's own)."""
    width = max(dims.values())
    shared = rng.standard_normal((n, width))
    own = {t: rng.standard_normal((n, width)) for t in dims}
    a, b = np.sqrt(correlation), np.sqrt(1 - correlation)
    return {t: (a * shared + b * own[t])[:, :p] for t, p in dims.items()}


def verdict(low: float, high: float) -> str:
    if low > 1:
        return "pays for itself on these assumptions: the whole 95% interval of the ratio is above 1"
    if high < 1:
        return "does not pay for itself on these assumptions: the whole 95% interval is below 1"
    return "cannot tell: the 95% interval of the ratio spans 1"


def run(series: pd.DataFrame, config: dict, unit_costs: pd.DataFrame,
        deflators: dict[int, float], truth: dict | None = None) -> dict[str, pd.DataFrame]:  # fmt: skip
    vfm = config["value_for_money"]
    cal = Calendar.from_config(config)
    rate, horizon, n = float(vfm["discount_rate"]), int(vfm["horizon_months"]), int(vfm["draws"])
    primary = targets.plan(config)[0]
    fits = {t: targets.fit(series, t, primary, config) for t in targets.TARGETS}
    dims = {t: len(f.result.params) for t, f in fits.items()}
    costs = chosen_costs(unit_costs, vfm, deflators)
    cost = programme_cost(vfm, cal, deflators, rate)

    def flows_at(correlation: float, horizon_months: int) -> dict[str, Flows]:
        rng = np.random.default_rng([int(config["seed"]), 16])
        z = _standard_normals(rng, n, dims, correlation)
        return {t: target_flows(fits[t], z[t], cal, horizon_months) for t in fits}

    base_corr = float(vfm["target_correlation"])
    flows = flows_at(base_corr, horizon)
    programme_end = cal.t_end - cal.t0  # months since the start, at the data end

    # avoided events and their value, per target and period
    avoided_rows = []
    for target, f in flows.items():
        event = TARGET_EVENTS[target]
        for period, upto in (("start to data end", programme_end),
                             (f"start to {horizon} months after the data end", f.months.max())):  # fmt: skip
            keep = f.months <= upto
            draws = f.draws[:, keep].sum(axis=1)
            row = {"target": target, "period": period, "months": int(keep.sum()),
                   "months_modelled": int((f.modelled & keep).sum()),
                   "avoided": float(f.point[keep].sum()),
                   "avoided_low": float(np.quantile(draws, 0.025)),
                   "avoided_high": float(np.quantile(draws, 0.975))}  # fmt: skip
            if truth is not None:
                row["true_avoided"] = float(true_avoided(f, truth["targets"][target],
                                                         programme_end)[keep].sum())  # fmt: skip
            avoided_rows.append(row)

    def appraise(flows: dict[str, Flows], package: dict[str, str], unit: dict[str, float],
                 rate: float) -> tuple[float, np.ndarray, float | None]:  # fmt: skip
        point = sum(float(present_value(flows[t].point, flows[t].months, unit[e], rate))
                    for t, e in package.items())  # fmt: skip
        draws = sum(present_value(flows[t].draws, flows[t].months, unit[e], rate)
                    for t, e in package.items())  # fmt: skip
        true = None
        if truth is not None:
            true = sum(float(present_value(true_avoided(flows[t], truth["targets"][t], programme_end),
                                           flows[t].months, unit[e], rate))
                       for t, e in package.items())  # fmt: skip
        return point, draws, true

    unit = {e: c.cost for e, c in costs.items()}
    # The headline: the first package whose every unit cost is known.
    valued = [n for n, (_, pkg) in PACKAGES.items() if all(e in unit for e in pkg.values())]
    headline = valued[0] if valued else None
    appraisal_rows = []
    for name, (description, package) in PACKAGES.items():
        missing = [e for e in package.values() if e not in unit]
        # The correlation matters only where targets are added: those packages get each.
        correlations = (sorted({base_corr, *CORRELATIONS}) if len(package) > 1 and not missing
                        else (base_corr,))  # fmt: skip
        for corr in correlations:
            row = {"package": name, "description": description, "target_correlation": corr,
                   "assumed": corr == base_corr, "headline": name == headline}  # fmt: skip
            if missing:
                row["note"] = ("not valued: no verified unit cost for "
                               + ", ".join(missing) + " (config value_for_money.unit_costs)")
                appraisal_rows.append(row)
                continue
            point, draws, true = appraise(flows if corr == base_corr else flows_at(corr, horizon),
                                          package, unit, rate)  # fmt: skip
            res = Appraisal(point, draws, cost).fit()
            row.update(res.to_dict())
            row["verdict"] = verdict(*res.bcr_ci)
            if truth is not None:
                row["true_bcr"] = true / cost
            appraisal_rows.append(row)

    # break-even: the relative reduction in a target alone that pays for the programme
    even_rows = []
    head_events = PACKAGES[headline][1] if headline else {}
    for target, f in flows.items():
        event = head_events.get(target, TARGET_EVENTS[target])
        if event not in unit:
            continue
        at_risk = float(present_value(f.counterfactual, f.months, unit[event], rate))
        needed = break_even(cost, at_risk)
        est = fits[target].average_change
        even_rows.append({"target": target, "event": event, "unit_cost": unit[event],
                          "counterfactual_events": float(f.counterfactual.sum()),
                          "value_at_risk": at_risk, "break_even_change": -needed,
                          "average_change": est.estimate, "average_ci_low": est.ci_low,
                          "average_ci_high": est.ci_high,
                          "target_change": float(config["targets"][target])})  # fmt: skip

    # one-way sensitivity of the headline ratio (point estimate)
    sens_rows = []
    if headline is not None:
        head = PACKAGES[headline][1]
        def ratio(unit_=unit, rate_=rate, horizon_=horizon) -> float:
            fl = flows if horizon_ == horizon else {
                t: target_flows(fits[t], np.zeros((1, dims[t])), cal, horizon_) for t in fits}
            c = programme_cost(vfm, cal, deflators, rate_)
            return appraise(fl, head, unit_, rate_)[0] / c

        base = ratio()
        for event in head.values():
            c = costs[event]
            sens_rows.append({"parameter": f"unit cost: {event}", "low_setting": c.low,
                              "high_setting": c.high, "base_setting": c.cost,
                              "assumed_range": c.assumed_range,
                              "bcr_at_low": ratio({**unit, event: c.low}),
                              "bcr_at_high": ratio({**unit, event: c.high}), "bcr": base})  # fmt: skip
        s = vfm["sensitivity"]
        lo_r, hi_r = s["discount_rates"]
        sens_rows.append({"parameter": "discount rate", "low_setting": lo_r, "high_setting": hi_r,
                          "base_setting": rate, "assumed_range": True,
                          "bcr_at_low": ratio(rate_=lo_r), "bcr_at_high": ratio(rate_=hi_r),
                          "bcr": base})  # fmt: skip
        lo_h, hi_h = s["horizon_months"]
        sens_rows.append({"parameter": "horizon (months after the data end)", "low_setting": lo_h,
                          "high_setting": hi_h, "base_setting": horizon, "assumed_range": True,
                          "bcr_at_low": ratio(horizon_=lo_h), "bcr_at_high": ratio(horizon_=hi_h),
                          "bcr": base})  # fmt: skip
    cost_rows = []
    for _, r in unit_costs.iterrows():
        c = costs.get(r["event"])
        used = bool(c is not None and c.source == r["source"] and r["verified"])
        cost_rows.append({"event": r["event"], "unit": r["unit"], "cost": r["cost"],
                          "price_year": r["price_year"], "verified": bool(r["verified"]),
                          "used": used, "cost_uprated": c.cost if used else np.nan,
                          "low_uprated": c.low if used else np.nan,
                          "high_uprated": c.high if used else np.nan,
                          "assumed_range": c.assumed_range if used else np.nan,
                          "source": r["source"], "location": r["location"]})  # fmt: skip
    for event, o in (vfm.get("unit_costs") or {}).items():
        c = costs[event]
        cost_rows.append({"event": event, "unit": o.get("unit", ""), "cost": o["cost"],
                          "price_year": int(o["price_year"]), "verified": False, "used": True,
                          "cost_uprated": c.cost, "low_uprated": c.low, "high_uprated": c.high,
                          "assumed_range": c.assumed_range, "source": c.source,
                          "location": "config value_for_money.unit_costs"})  # fmt: skip
    log.info("value for money: programme cost %.0f; %d packages appraised", cost,
             sum("bcr" in r for r in appraisal_rows))  # fmt: skip
    appraisal = pd.DataFrame(appraisal_rows)
    if "note" not in appraisal.columns:
        appraisal["note"] = ""
    return {"avoided": pd.DataFrame(avoided_rows), "appraisal": appraisal,
            "break_even": pd.DataFrame(even_rows, columns=BREAK_EVEN_COLUMNS),
            "sensitivity": pd.DataFrame(sens_rows, columns=SENSITIVITY_COLUMNS),
            "unit_costs": pd.DataFrame(cost_rows)}  # fmt: skip


def write(series_path: str | Path, out: str | Path, config: dict, unit_costs: str | Path,
          deflators: str | Path, truth_path: str | Path | None = None) -> list[Path]:  # fmt: skip
    """Appraise the programme and write the working tables (FILES) to `out`."""
    import json

    from gf_eval.files import atomic_path

    costs = read_unit_costs(unit_costs)
    deflators = read_deflators(deflators)
    truth = json.loads(Path(truth_path).read_text()) if truth_path else None
    result = run(pd.read_parquet(series_path), config, costs, deflators, truth)
    written = []
    for name in FILES:
        path = Path(out) / name
        with atomic_path(path) as tmp:
            result[name.removesuffix(".csv")].to_csv(tmp, index=False, lineterminator="\n",
                                                     float_format="%.10g")  # fmt: skip
        written.append(path)
    return written
