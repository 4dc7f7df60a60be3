"""The three targets: descriptive pre/post comparison, primary ITS, sensitivity analyses and
verdicts, all as the config's `analysis` section pre-specifies.

Two estimands are reported side by side: the relative change in the target's rate (count per
case or per referral) at the last month of data against the counterfactual trend,
exp(level + slope * k) - 1 with k the months from the intervention start to data_end; and the
average relative change over the post-intervention months from the start to data_end,
mean_k exp(level + slope * k) - 1. The config's `analysis.estimand` (end or average) names the
one the verdict rests on. A month whose DVA status is still too
incomplete (config `max_pending_share`) is left out of the fit, and the effect at data_end is
projected from the fitted trend; two sensitivity analyses fit every month instead, counting
the episodes still under assessment as not DVA, or as DVA.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from gf_eval.config import Calendar
from gf_eval.parallel import map_forked
from gf_eval.stats import prepost
from gf_eval.stats.its import ITS, ITSInputError, ITSResults, Term
from gf_eval.stats.verdict import verdict

log = logging.getLogger(__name__)

TARGETS = ("repeat_marac", "dva_rereferrals", "cin_dva")
# Outcome columns of the episodes still under assessment, for the DVA targets.
PENDING = {"dva_rereferrals": "pending_rereferrals", "cin_dva": "pending"}
PENDING_HANDLING = ("exclude", "as_not_dva", "as_dva")


@dataclass(frozen=True)
class Analysis:
    """One model specification; `primary` marks the pre-specified one."""

    name: str
    primary: bool = False
    family: str = "quasipoisson"
    se: str = "model"
    lags: int | None = None
    harmonics: int = 1
    phase_in: int = 0
    log_gaussian: bool = False  # gaussian on the log rate (for Prais-Winsten)
    pending: str = "exclude"
    # The month after the funding ended as a second interruption, with a level change alone:
    # one to three months follow it in the fits, too few for a slope.
    funding_end: bool = False


def plan(config: dict) -> list[Analysis]:
    """The primary analysis followed by the sensitivity analyses, in report order."""
    a = config["analysis"]
    p, s = a["primary"], a["sensitivity"]
    primary = Analysis("primary", True, p["family"], p["se"], None, p["harmonics"])
    other = dict(primary=False)
    # The other of the two standard errors the simulation study compares most closely.
    se_swap = (replace(primary, name="model-based standard errors", se="model", **other)
               if primary.se != "model" else
               replace(primary, name="AR(1) plus white noise standard errors (REML)", se="ar1",
                       **other))  # fmt: skip
    return [
        primary,
        se_swap,
        replace(primary, name=f"Newey-West standard errors, lag {s['newey_lags']}", se="newey",
                lags=s["newey_lags"], **other),  # fmt: skip
        replace(primary, name="Prais-Winsten AR(1), gaussian on the log rate", family="gaussian",
                se="prais", log_gaussian=True, **other),  # fmt: skip
        replace(primary, name="negative binomial (NB2)", family="negbin", se="model", **other),
        replace(primary, name="no seasonality", harmonics=0, **other),
        replace(primary, name=f"{s['phase_in_months']}-month phase-in left out",
                phase_in=s["phase_in_months"], **other),  # fmt: skip
        replace(primary, name="the funding end as a second interruption (a level change)",
                funding_end=True, **other),  # fmt: skip
        replace(primary, name="every month; episodes under assessment counted as not DVA",
                pending="as_not_dva", **other),  # fmt: skip
        replace(primary, name="every month; episodes under assessment counted as DVA",
                pending="as_dva", **other),  # fmt: skip
    ]


def model_frame(series: pd.DataFrame, target: str, analysis: Analysis, config: dict,
                keep_empty: bool = False) -> pd.DataFrame:  # fmt: skip
    """The months a model of `target` uses, with columns y (count), n (denominator), t,
    calendar_month and log_rate; months with no denominator too if `keep_empty`."""
    spec = config["analysis"]["series"][target]
    for key in ("outcome", "offset"):
        if spec[key] not in series.columns:
            raise ValueError(f"config analysis/series/{target}/{key}: {spec[key]!r} is not a "
                             "column of the monthly series (docs/derived_data.md)")  # fmt: skip
    df = series[series[spec["outcome"]].notna() & series[spec["offset"]].notna()].copy()
    y = df[spec["outcome"]].astype(float)
    n = df[spec["offset"]].astype(float)
    if target in PENDING:
        if analysis.pending == "exclude":
            df = df[df["dva_complete"]]
            y, n = y[df.index], n[df.index]
        else:  # every month, with all referrals as the denominator
            n = df["referrals"].astype(float)
            if analysis.pending == "as_dva":
                y = y + df[PENDING[target]].astype(float)
    out = pd.DataFrame({"month": df["month"], "t": df["t"].astype(float),
                        "calendar_month": df["calendar_month"].astype(float),
                        "y": y.to_numpy(), "n": n.to_numpy()})  # fmt: skip
    if not keep_empty:
        out = out[out["n"] > 0].reset_index(drop=True)
    # Half a count keeps the log defined in an empty month (gaussian sensitivity only).
    out["log_rate"] = np.log(np.maximum(out["y"], 0.5) / out["n"])
    return out


def _its(frame: pd.DataFrame, analysis: Analysis, start: float,
         second: float | None = None) -> ITS:  # fmt: skip
    return ITS(
        frame,
        outcome="log_rate" if analysis.log_gaussian else "y",
        time="t",
        start=start if second is None else [start, second],
        slope_change=True if second is None else (True, False),
        family=analysis.family,
        offset=None if analysis.log_gaussian else "n",
        season="calendar_month" if analysis.harmonics else None,
        harmonics=analysis.harmonics,
        exclude=analysis.phase_in,
        # Months left out of the fit (DVA status still pending, no cases) leave gaps; the
        # month index keeps each month's place in time.
        allow_gaps=True,
    )


def _change_path(res: ITSResults, months: np.ndarray) -> pd.DataFrame:
    """For each of `months` (months after the first start), the weights on the change terms
    of every interruption whose sum is the log ratio of the rate to its counterfactual."""
    model = res.model
    first = model.starts[0]
    rows = []
    for k in months:
        t, w = first + float(k), {}
        for i, start in enumerate(model.starts):
            if t >= start:
                suffix = "" if i == 0 else f"_{i + 1}"
                w[f"level_change{suffix}"] = 1.0
                if f"slope_change{suffix}" in res.params.index:
                    w[f"slope_change{suffix}"] = t - start
        rows.append(w)
    return pd.DataFrame(rows).fillna(0.0)


def relative_change_at(res: ITSResults, months_after_start: float) -> Term:
    """exp(sum of the changes k months after the start) - 1 with its interval: the relative
    change of the rate then, against the counterfactual, every interruption included (for one
    interruption, exp(level + slope * k) - 1; valid for every log-link model)."""
    w = _change_path(res, np.array([months_after_start])).iloc[0].to_dict()
    t = res.lincom(w)
    return Term(float(np.expm1(t.estimate)), t.se, float(np.expm1(t.ci_low)),
                float(np.expm1(t.ci_high)), t.p)  # fmt: skip


def relative_change_average(res: ITSResults, months: int) -> Term:
    """mean_k exp(changes at k) - 1 over k = 0 .. months - 1 (for one interruption,
    exp(level + slope * k)), with a delta-method interval built on the log scale (so that it
    keeps the ratio's skew): the average relative change of the rate over the first `months`
    post-intervention months."""
    path = _change_path(res, np.arange(months))
    names = list(path.columns)
    b = res.params[names].to_numpy()
    cov = res.cov_params().loc[names, names].to_numpy()
    W = path.to_numpy()
    ratio = np.exp(W @ b)
    log_mean = float(np.log(ratio.mean()))
    grad = (ratio @ W) / ratio.sum()
    se = float(np.sqrt(grad @ cov @ grad))
    q = res.quantile()
    p = res._p(log_mean / se) if se > 0 else float("nan")
    return Term(float(np.expm1(log_mean)), se, float(np.expm1(log_mean - q * se)),
                float(np.expm1(log_mean + q * se)), p)  # fmt: skip


ESTIMANDS = ("end", "average")


@dataclass
class TargetFit:
    target: str
    analysis: Analysis
    frame: pd.DataFrame
    result: ITSResults
    relative_change: Term  # at the last month of data
    average_change: Term  # over every post-intervention month to data_end


def fit(series: pd.DataFrame, target: str, analysis: Analysis, config: dict) -> TargetFit:
    cal = Calendar.from_config(config)
    frame = model_frame(series, target, analysis, config)
    # The first month without funding: January 2017 for a December 2016 funding end.
    second = cal.month_index(cal.funding_end) + 1 if analysis.funding_end else None
    res = _its(frame, analysis, cal.t0, second).fit(se=analysis.se, lags=analysis.lags)
    # Both over the same months as the truth: from the start to data_end, whether or not the
    # last months were in the fit.
    return TargetFit(target, analysis, frame, res, relative_change_at(res, cal.t_end - cal.t0),
                     relative_change_average(res, cal.t_end - cal.t0 + 1))  # fmt: skip


def estimate_row(f: TargetFit, target_change: float, estimand: str = "end") -> dict:
    res, rc, avg = f.result, f.relative_change, f.average_change
    lvl, slp = res.terms["level_change"], res.terms.get("slope_change")
    judged = rc if estimand == "end" else avg
    ok = all(np.isfinite([judged.estimate, judged.ci_low, judged.ci_high]))
    return {
        "target": f.target,
        "analysis": f.analysis.name,
        "primary": f.analysis.primary,
        "months_fitted": res.nobs,
        "first_month": f.frame["month"].iloc[0],
        "last_month": f.frame["month"].iloc[-1],
        "relative_change": rc.estimate,
        "ci_low": rc.ci_low,
        "ci_high": rc.ci_high,
        "p": rc.p,
        "average_change": avg.estimate,
        "average_ci_low": avg.ci_low,
        "average_ci_high": avg.ci_high,
        "average_p": avg.p,
        "estimand": estimand,
        "level_change": lvl.estimate,
        "level_change_se": lvl.se,
        "slope_change": slp.estimate if slp else np.nan,
        "slope_change_se": slp.se if slp else np.nan,
        "dispersion": res.dispersion,
        "rho": res.rho if res.rho is not None else np.nan,
        "durbin_watson": res.diagnostics.durbin_watson,
        "target_change": target_change,
        "verdict": verdict(target_change, judged.estimate, judged.ci_low, judged.ci_high)
        if ok else "",
        "note": "",
        **_spec(f.analysis),
    }


def _spec(analysis: Analysis) -> dict:
    """The specification columns of an estimates row."""
    return {f"spec_{k}": v for k, v in asdict(analysis).items() if k not in ("name", "primary")}


def placebo_rows(series: pd.DataFrame, target: str, config: dict) -> list[dict]:
    """The primary model refitted on the pre-intervention months with a false start: its
    relative change at the last pre month should include no change."""
    cal = Calendar.from_config(config)
    primary = plan(config)[0]
    frame = model_frame(series, target, primary, config)
    pre = frame[frame["t"] < cal.t0]
    rows = []
    for start in config["analysis"]["sensitivity"]["placebo_starts"]:
        t_start = cal.month_index(pd.Timestamp(start))
        res = _its(pre, primary, t_start).fit(se=primary.se, lags=primary.lags)
        rc = relative_change_at(res, cal.t0 - 1 - t_start)
        rows.append({"target": target, "placebo_start": start, "months_fitted": res.nobs,
                     "relative_change": rc.estimate, "ci_low": rc.ci_low, "ci_high": rc.ci_high,
                     "p": rc.p, "includes_no_change": bool(rc.ci_low <= 0 <= rc.ci_high)})  # fmt: skip
    return rows


def prepost_row(series: pd.DataFrame, target: str, config: dict) -> dict:
    """Counts and rates over the config's pre and post windows, for the primary series."""
    spec = config["analysis"]["series"][target]
    month = pd.PeriodIndex(series["month"], freq="M")
    sums = {}
    for w in ("pre", "post"):
        win = config["windows"][w]
        inside = (month >= pd.Period(win["start"], "M")) & (month <= pd.Period(win["end"], "M"))
        part = series[inside]
        sums[w] = (int(part[spec["outcome"]].sum()), int(part[spec["offset"]].sum()), int(inside.sum()))
    (c0, n0, m0), (c1, n1, m1) = sums["pre"], sums["post"]
    count = prepost.rate_ratio(c1, m1, c0, m0)
    rate = prepost.proportions(c1, n1, c0, n0)
    return {
        "target": target,
        "pre_count": c0, "pre_denominator": n0, "pre_rate": 100 * c0 / n0,
        "post_count": c1, "post_denominator": n1, "post_rate": 100 * c1 / n1,
        "count_change_pct": 100 * (count.estimate - 1),
        "count_change_ci_low": 100 * (count.ci_low - 1),
        "count_change_ci_high": 100 * (count.ci_high - 1),
        "rate_change_pct": 100 * (rate.ratio - 1),
        "rate_change_ci_low": 100 * (rate.ratio_ci_low - 1),
        "rate_change_ci_high": 100 * (rate.ratio_ci_high - 1),
    }  # fmt: skip


def _target_fits(series: pd.DataFrame, target: str, config: dict) -> dict[str, object]:
    """One target's pre/post row, estimate rows (primary first), primary predictions and
    summary, and placebo rows."""
    change = config["targets"][target]
    estimates, predictions, summary = [], None, None
    analyses = [a for a in plan(config) if a.pending == "exclude" or target in PENDING]
    for analysis in analyses:
        try:
            f = fit(series, target, analysis, config)
        except ITSInputError as err:
            if analysis.primary:
                raise
            # A failed sensitivity fit is reported, not hidden, and stops nothing else.
            estimates.append({"target": target, "analysis": analysis.name, "primary": False,
                              "target_change": change, "note": f"not estimable: {err}",
                              **_spec(analysis)})  # fmt: skip
            continue
        estimates.append(estimate_row(f, change, config["analysis"].get("estimand", "end")))
        if analysis.primary:
            predictions, summary = _predictions(f), f.result.summary()
    return {"prepost": prepost_row(series, target, config), "estimates": estimates,
            "predictions": predictions, "summary": summary,
            "placebo": placebo_rows(series, target, config)}  # fmt: skip


def run(series: pd.DataFrame, config: dict) -> dict[str, object]:
    """Every target: the pre/post table, the estimates of every analysis (primary first), the
    placebo fits, the primary fits' predictions and their summaries, and what the design
    could detect (power and minimum detectable change, from the pre-period months alone)."""
    from gf_eval.analysis import power

    for i, target in enumerate(TARGETS, 1):
        analyses = [a for a in plan(config) if a.pending == "exclude" or target in PENDING]
        log.info("[%d/%d] %s: fitting %d models and %d placebo starts", i, len(TARGETS), target,
                 len(analyses), len(config["analysis"]["sensitivity"]["placebo_starts"]))  # fmt: skip
    # Each target's fits and each target's power simulations are independent: side by side
    # when there are cores to spare, the longest (the simulations) first; results in order.
    tasks = [("power", t) for t in TARGETS] + [("fits", t) for t in TARGETS]
    done = map_forked(lambda task: power.target_row(series, task[1], config,
                                                    **config["analysis"]["power"])
                      if task[0] == "power" else _target_fits(series, task[1], config), tasks)  # fmt: skip
    rows, fits = done[: len(TARGETS)], done[len(TARGETS):]
    return {
        "prepost": pd.DataFrame([f["prepost"] for f in fits]),
        "estimates": pd.DataFrame([row for f in fits for row in f["estimates"]]),
        "placebo": pd.DataFrame([row for f in fits for row in f["placebo"]]),
        "predictions": pd.concat([f["predictions"] for f in fits], ignore_index=True),
        "power": pd.DataFrame(rows, columns=list(power.COLUMNS)),
        "summaries": {t: f["summary"] for t, f in zip(TARGETS, fits)},
    }


def _predictions(f: TargetFit) -> pd.DataFrame:
    """The primary fit's monthly rate per 100, fitted and counterfactual with 95% bands."""
    p = f.result.predictions()
    n = f.frame["n"].to_numpy()
    out = pd.DataFrame({"target": f.target, "month": f.frame["month"].to_numpy(), "t": p["time"],
                        "in_fit": p["in_fit"], "denominator": n})  # fmt: skip
    for col in ("observed", "fitted", "fitted_low", "fitted_high", "counterfactual",
                "counterfactual_low", "counterfactual_high"):  # fmt: skip
        out[col] = 100 * p[col].to_numpy() / n
    return out
