"""Many sites, compared across designs: synthetic control, staggered DiD and randomisation
inference, beside the single-site and controlled ITS of `multisite`.

Every design here works on each site's monthly log rate of a target, log((y + 0.5) / (n + 0.5))
(half a count on each side keeps a small site's empty months defined; DVA months still under
assessment drop out). With
`h` = `multisite.horizon_months`, the estimand of the synthetic control and the staggered DiD is
the mean log change over the event months h-4 to h (the five months up to the horizon; a single
month's rate is too noisy, and the window ends where the DVA series end for the last site to
start), reported as a relative change exp(.) - 1. The ITS models estimate the change at month h
itself; the truth beside each row is that of its own estimand.

- Synthetic control, per treated site: donors are the comparison sites, the weights fitted on
  the months before the site's start (gf_eval.stats.synthetic_control); plain (simplex weights)
  and augmented (ridge ASCM, its penalty chosen by cross-validation on the treated site and
  kept for its placebos). Placebos in space: each comparison site treated in turn, from the
  same start. Per site: the post/pre RMSPE ratio rank and the effect's placebo p-value, and
  the placebo interval. Pooled: the mean of the treated sites' effects, its p-value and
  interval from the distribution over random sets of comparison sites given the treated sites'
  starts (randomisation inference), each effect studentised by its site's pre-period RMSPE so
  that a noisy treated site is not judged against quieter ones (`pooled_permutation`). Each
  set is refitted jointly (`placebo_sets`): every site of the set gets the comparison sites
  outside the set as its donors, as the treated sites have none of each other. Sets drawn
  from the one-at-a-time placebos instead let one placebo be another's donor: their gaps are
  then negatively correlated, while the treated sites' gaps share donors and are positively
  correlated, so the reference distribution of the mean was about 14% too narrow (simulated
  coverage of the 95% interval 0.90 under an exchangeable null with 30 sites;
  benchmarks/designs_simulation.py).
- Staggered DiD (Callaway & Sant'Anna 2021; gf_eval.stats.staggered): group-time ATTs on the
  log rate, the not-yet-treated and never-treated sites as controls, each cohort against the
  month before its start; aggregated to an event study and an overall effect, with analytic
  (influence-function) intervals, and a permutation p-value from re-assigning the start dates
  across all sites (gf_eval.stats.permutation). A placebo-date check moves every start 12
  months earlier on pre-programme data: an effect there signals a design problem.
- The pooled ITS estimates get a permutation p-value too: the mean of the treated sites' log
  ratios against the means over random sets of comparison sites, each fitted by the same model
  from the treated sites' starts (point estimates only, so with model-based standard errors).
  Those placebo fits are the costly part, so they use at most
  `multisite.inference.placebo_sites` (20) comparison sites, drawn with the seed.
"""

from __future__ import annotations

import itertools
import logging
import math

import numpy as np
import pandas as pd

from gf_eval.analysis import targets
from gf_eval.analysis.multisite import Pool, controlled_from_pool, single_fit
from gf_eval.config import Calendar, site_config
from gf_eval.parallel import map_forked
from gf_eval.stats.its import ITSInputError
from gf_eval.stats.permutation import Reassignment, permutation_test, staggered_placebo
from gf_eval.stats.staggered import StaggeredDiD
from gf_eval.stats.synthetic_control import SyntheticControl

log = logging.getLogger(__name__)
WINDOW = 5  # event months h-4..h
PLACEBO_SHIFT = 12  # months each start moves earlier in the placebo-date check
ALPHA = 0.05


def window(horizon: int) -> list[int]:
    return list(range(horizon - WINDOW + 1, horizon + 1))


def log_rates(series: dict[str, pd.DataFrame], target: str, config: dict) -> pd.DataFrame:
    """Months x sites of the target's monthly log rate; NaN where a site has no such month (a
    month with no denominator, or DVA still under assessment)."""
    primary = targets.plan(config)[0]
    frames = {}
    for site, s in series.items():
        f = targets.model_frame(s, target, primary, config, keep_empty=True)
        # Half a count on each side keeps a small site's empty months defined.
        rate = np.log((f["y"].to_numpy() + 0.5) / (f["n"].to_numpy() + 0.5))
        frames[site] = pd.Series(rate, index=f["t"].astype(int))
    wide = pd.DataFrame(frames).dropna(how="all").sort_index()
    return wide.reindex(range(int(wide.index.min()), int(wide.index.max()) + 1))


def _start_t(start: str, config: dict) -> int:
    return Calendar.from_config(config).month_index(pd.Timestamp(start))


def synthetic_controls(wide: pd.DataFrame, starts: dict[str, int], comparison: list[str],
                       horizon: int) -> tuple[list[dict], dict, list[pd.DataFrame]]:  # fmt: skip
    """Per treated site and method, the fit, effect, interval and p-values; the placebo
    effects (method -> site -> per-donor effects, for the pooled permutation); and the paths
    (treated, synthetic, and every placebo's gap) for the figures."""
    rows, paths = [], []
    placebo_effects = {"synthetic": {}, "augmented": {}}
    placebo_scales = {"synthetic": {}, "augmented": {}}  # the placebos' pre-period RMSPEs
    for site, s0 in starts.items():
        # The treated site's months, and the donors observed in every one of them.
        rows_of = wide[site].dropna().index
        donors = wide.loc[rows_of, comparison].dropna(axis=1)
        pre = rows_of < s0
        periods = rows_of.isin([s0 + e for e in window(horizon)])
        model = SyntheticControl(wide.loc[rows_of, site], donors, pre, index=rows_of)
        plain = model.fit("synthetic")
        aug_cv = model.fit("augmented")
        # The penalty chosen on the treated site is kept for its placebos: one CV per site.
        aug = model.fit("augmented", ridge=aug_cv.ridge)
        for method, res in (("synthetic", plain), ("augmented", aug)):
            pl = res.placebos()
            lo, hi = pl.conf_int(periods, ALPHA)
            est = res.effect(periods)
            rows.append({"site": site, "method": method, "log_effect": est,
                         "relative_change": float(np.expm1(est)), "ci_low": float(np.expm1(lo)),
                         "ci_high": float(np.expm1(hi)), "p_effect": pl.effect_p_value(periods),
                         "p_ratio": pl.p_value(), "pre_rmspe": res.pre_rmspe,
                         "post_rmspe": res.post_rmspe, "ratio": res.ratio,
                         "donors_weighted": int(np.sum(np.abs(res.weights) > 0.01)),
                         "max_weight": float(np.max(res.weights)), "placebos": pl.n,
                         "ridge": res.ridge})  # fmt: skip
            placebo_effects[method][site] = pd.Series(pl.effects(periods), index=pl.names)
            placebo_scales[method][site] = pd.Series(pl.pre_rmspe, index=pl.names)
            if method == "synthetic":
                frame = pd.DataFrame({"t": rows_of, "treated": model.treated,
                                      "synthetic": res.synthetic, "gap": res.gap,
                                      "augmented": aug.synthetic})  # fmt: skip
                gaps = pd.DataFrame(pl.gaps, index=rows_of, columns=list(pl.names))
                long = gaps.rename_axis("t").reset_index().melt("t", var_name="donor",
                                                                value_name="placebo_gap")
                paths.append(frame.assign(site=site, start_t=s0).merge(long, on="t"))
    return rows, (placebo_effects, placebo_scales), paths


def _draws(pool: int, k: int, n: int, seed: int) -> np.ndarray:
    """Ordered choices of k distinct sites of `pool` (draws x k): every one when there are at
    most n (few comparison sites, counted exactly), else n at random."""
    if math.perm(pool, k) <= n:
        return np.array(list(itertools.permutations(range(pool), k)))
    rng = np.random.default_rng(seed)
    return np.array([rng.choice(pool, size=k, replace=False) for _ in range(n)])


def placebo_sets(wide: pd.DataFrame, starts: dict[str, int], comparison: list[str],
                 horizon: int, ridges: dict[str, float], n: int, seed: int) -> dict:
    """The reference sets of the pooled synthetic control, refitted jointly: each draw is K
    distinct comparison sites (K treated sites; every ordered choice when there are at most n,
    else n random draws, as `pooled_permutation` draws them), the k-th taking the k-th treated
    site's start, months and donor pool, and refitted with the comparison sites outside the
    draw as its donors, so that no site of the set is a donor of another (as for the treated
    sites). Returns method -> (effects, pre-period RMSPEs), each (draws x K), for
    `pooled_permutation(..., sets=)`. The augmented fits keep each treated site's ridge
    (`ridges`), as its one-at-a-time placebos do."""
    sites = list(starts)
    frames = {}
    for site, s0 in starts.items():
        rows_of = wide[site].dropna().index
        donors = wide.loc[rows_of, comparison].dropna(axis=1)
        frames[site] = (donors, rows_of < s0, rows_of.isin([s0 + e for e in window(horizon)]))
    pool = sorted(set.intersection(*(set(f[0].columns) for f in frames.values())))
    if len(pool) - len(sites) < 2:  # each member needs at least 2 donors outside its set
        return None
    draws = _draws(len(pool), len(sites), n, seed)
    out = {m: (np.empty(draws.shape), np.empty(draws.shape)) for m in ("synthetic", "augmented")}
    # Each site's donors as an array with its columns' positions: selecting columns there is
    # what DataFrame.drop(...).to_numpy() gives (the same values, column order and Fortran
    # layout), without pandas' cost on every one of the thousands of fits.
    arrays = {site: (f[0].to_numpy(), {c: i for i, c in enumerate(f[0].columns)})
              for site, f in frames.items()}  # fmt: skip
    for d, draw in enumerate(draws):
        chosen = [pool[i] for i in draw]
        for j, site in enumerate(sites):
            _, pre, periods = frames[site]
            values, position = arrays[site]
            keep = np.ones(values.shape[1], dtype=bool)
            keep[[position[c] for c in chosen]] = False
            model = SyntheticControl(np.ascontiguousarray(values[:, position[chosen[j]]]),
                                     np.asfortranarray(values[:, keep]), pre)  # fmt: skip
            for method, ridge in (("synthetic", None), ("augmented", ridges[site])):
                res = model.fit(method, ridge=ridge)
                out[method][0][d, j] = res.gap[periods].mean()
                out[method][1][d, j] = res.pre_rmspe
    return out


def pooled_permutation(observed: dict[str, float], placebo: dict[str, pd.Series] | None,
                       n: int, seed: int, scales: tuple[dict, dict] | None = None,
                       sets: tuple[np.ndarray, np.ndarray] | None = None,
                       ) -> tuple[float, float, float, np.ndarray]:  # fmt: skip
    """The mean of the treated sites' effects against the means over random sets of
    comparison sites, each taking one treated site's start (its placebo effect from that
    start): (statistic, p, and the interval [mean - q97.5, mean - q2.5] by test inversion).

    With `scales` (the observed sites' and the placebos' scale, e.g. pre-period RMSPEs), each
    effect is studentised by its scale first: the statistic is the mean of effect / scale and
    the interval for a constant effect tau solves mean((effect - tau) / scale) = q, so a noisy
    treated site is judged against the placebos' noise relative to their own fit, not against
    quieter sites (unstudentised, a treated site twice as noisy as the comparisons left a 95%
    interval covering in 59% of simulated panels; studentised, in 93%).

    With `sets` (effects and scales, draws x K, columns in the order of `observed`: the jointly
    refitted sets of `placebo_sets`), the draws are those sets and `placebo` (and the placebos'
    scales of `scales`) are not used; the synthetic control needs them (module docstring)."""
    sites = list(observed)
    obs = np.array([observed[s] for s in sites])
    weight = np.ones(len(sites))
    if scales is not None:
        weight = 1 / np.array([scales[0][s] for s in sites])
    if sets is not None:
        effects, set_scales = sets
        dist = (effects / set_scales if scales is not None else effects).mean(axis=1)
    else:
        pool = sorted(set.intersection(*(set(placebo[s].index) for s in sites)))
        table = np.column_stack([placebo[s].reindex(pool).to_numpy() for s in sites])  # pool x K
        if scales is not None:
            theirs = scales[1]
            table = table / np.column_stack([theirs[s].reindex(pool).to_numpy() for s in sites])
        draws = _draws(len(pool), len(sites), n, seed)
        dist = table[draws, np.arange(len(sites))].mean(axis=1)
    stat = float(np.mean(obs * weight))
    p = (1 + int(np.sum(np.abs(dist) >= abs(stat) * (1 - 1e-9)))) / (1 + len(dist))
    lo, hi = np.quantile(dist, [ALPHA / 2, 1 - ALPHA / 2])
    w = float(np.mean(weight))
    return float(np.mean(obs)), p, ((stat - hi) / w, (stat - lo) / w), dist


def staggered(wide: pd.DataFrame, starts: dict[str, int], horizon: int, n: int, seed: int,
              ) -> dict:  # fmt: skip
    """The staggered DiD over all sites: event study, window and overall estimates with
    analytic and permutation p-values, and the placebo-date check."""
    long = wide.rename_axis("t").reset_index().melt("t", var_name="site", value_name="y")
    long = long.dropna(subset=["y"])
    long["group"] = long["site"].map(starts).astype(float)  # NaN: never treated
    model = StaggeredDiD(long, "site", "t", "y", "group", control="notyet", base="varying")
    res = model.fit(alpha=ALPHA)
    study = res.event_study()
    terms = [study.theta(e) for e in window(horizon)]
    estimate = float(np.mean([a.estimate for a in terms]))
    influence = np.mean([a.influence for a in terms], axis=0)
    se = float(np.sqrt(np.sum(influence**2)) / res.n_units)
    overall = res.overall()
    observed = np.array([starts.get(u, np.inf) for u in model.units], dtype=float)

    def window_mean(groups):
        return np.mean([model.estimate_for_groups(groups, target=e) for e in window(horizon)],
                       axis=0)  # fmt: skip

    perm = _permutation(window_mean, observed, n, seed)
    perm_overall = _permutation(lambda g: model.estimate_for_groups(g, target="overall"),
                                observed, n, seed + 1)  # fmt: skip
    # The randomisation interval: the estimate less the permutation quantiles (test inversion
    # under a constant effect), as for the synthetic control.
    ri = ((estimate - np.quantile(perm.distribution, 1 - ALPHA / 2),
           estimate - np.quantile(perm.distribution, ALPHA / 2)) if perm else (np.nan, np.nan))
    placebo = staggered_placebo(model, long, PLACEBO_SHIFT).fit(alpha=ALPHA).overall()
    z = 1.959963984540054
    return {"event_study": study.table, "att_gt": res.att_gt,
            "window": {"log_effect": estimate, "se": se, "ci": (estimate - z * se, estimate + z * se),
                       "p_permutation": perm.p if perm else np.nan, "ri": ri},  # fmt: skip
            "overall": {"log_effect": overall.estimate, "se": overall.se,
                        "ci": overall.ci, "p": overall.p,
                        "p_permutation": perm_overall.p if perm_overall else np.nan},
            "placebo": {"log_effect": placebo.estimate, "se": placebo.se, "ci": placebo.ci,
                        "p": placebo.p}}  # fmt: skip


def _permutation(statistic, observed: np.ndarray, n: int, seed: int):
    """The permutation p-value of a staggered-DiD statistic over re-assigned start dates; NaN
    when some assignment leaves the statistic undefined (a panel too small for the design)."""
    try:
        return permutation_test(statistic, observed, Reassignment(observed), n=n, seed=seed,
                                vectorized=True)  # fmt: skip
    except ValueError as err:
        log.warning("no permutation p-value: %s", err)
        return None


def its_placebos(series: dict[str, pd.DataFrame], starts: dict[str, str], comparison: list[str],
                 target: str, config: dict, horizon: int, pool: list[str]) -> dict:  # fmt: skip
    """model -> treated site -> placebo log ratios (per comparison site of `pool`, fitted from
    that treated site's start, against the other comparison sites for the controlled ITS)."""
    primary = targets.plan(config)[0]
    frames = [targets.model_frame(series[c], target, primary, config) for c in comparison]
    pooled = Pool(frames)
    out = {"single-site": {}, "controlled": {}}
    for site, start in starts.items():
        cfg = site_config(config, start)
        # Only the point estimates enter the permutation statistic, and they do not depend on
        # the standard errors: the model-based ones cost least.
        cfg["analysis"]["primary"]["se"] = "model"
        single, controlled = {}, {}
        for j in pool:
            i = comparison.index(j)
            try:
                single[j] = single_fit(series[j], target, cfg, horizon)["log_ratio"]
                controlled[j] = controlled_from_pool(frames[i], pooled, cfg, horizon,
                                                     without=i)["log_ratio"]  # fmt: skip
            except ITSInputError:
                continue
        out["single-site"][site] = pd.Series(single, dtype=float)
        out["controlled"][site] = pd.Series(controlled, dtype=float)
    return out


def compare(series: dict[str, pd.DataFrame], sites: dict[str, str | None], config: dict,
            estimates: pd.DataFrame, pooled: pd.DataFrame, truth: dict | None) -> dict:  # fmt: skip
    """Every design for every target: returns DataFrames `methods` (one row per target and
    design), `synthetic_control`, `sc_paths`, `event_study`, `att_gt` and `placebo_dates`.
    `estimates` and `pooled` are the ITS results of `multisite.run`."""
    multi = config["multisite"]
    horizon = int(multi["horizon_months"])
    inference = multi.get("inference") or {}
    n_perm = int(inference.get("permutations", 999))
    n_pool = int(inference.get("placebo_sites", 20))
    seed = int(config["seed"])
    treated = {s: st for s, st in sites.items() if st}
    comparison = [s for s, st in sites.items() if not st]
    starts_t = {s: _start_t(st, config) for s, st in treated.items()}
    rng = np.random.default_rng([seed, 15])
    pool = sorted(rng.choice(comparison, size=min(n_pool, len(comparison)), replace=False))
    def one_target(target: str) -> tuple[list, ...]:
        rows, sc_rows, sc_paths, studies, cells, placebo_rows = [], [], [], [], [], []
        log.info("%s: synthetic controls, staggered DiD and permutation tests", target)
        wide = log_rates(series, target, config)
        true = (truth or {}).get(target)
        true_window = None
        if truth is not None:
            eff = config["synthetic"]["effects"][target]
            none = config["synthetic"]["scenario"] in (None, "null")
            mid = float(np.mean(window(horizon)))
            true_window = 0.0 if none else float(np.expm1(eff["level_change"]
                                                          + mid * eff["slope_change"]))
        # ITS, pooled by random-effects meta-analysis, with a permutation p-value
        placebo_its = its_placebos(series, treated, comparison, target, config, horizon, pool)
        for model in ("single-site", "controlled"):
            part = estimates[(estimates["target"] == target) & (estimates["model"] == model)]
            got = pooled[(pooled["target"] == target) & (pooled["model"] == model)]
            observed = dict(zip(part["site"], part["log_ratio"]))
            observed = {s: v for s, v in observed.items() if np.isfinite(v)}
            _, p_perm, ri, _ = (pooled_permutation(observed, placebo_its[model], n_perm, seed)
                                if observed else (None, np.nan, (np.nan, np.nan), None))  # fmt: skip
            g = got.iloc[0] if len(got) else None
            rows.append({"target": target, "method": f"{model} ITS (pooled)",
                         "estimand": f"change at month {horizon}", "sites": len(observed),
                         "relative_change": g["relative_change"] if g is not None else np.nan,
                         "ci_low": g["ci_low"] if g is not None else np.nan,
                         "ci_high": g["ci_high"] if g is not None else np.nan,
                         "p_analytic": g["p"] if g is not None else np.nan,
                         "p_permutation": p_perm, "ri_low": float(np.expm1(ri[0])),
                         "ri_high": float(np.expm1(ri[1])), "true_relative_change": true})  # fmt: skip
        # synthetic control
        sc, (sc_placebo, sc_scale), paths = synthetic_controls(wide, starts_t, comparison,
                                                               horizon)  # fmt: skip
        for r in sc:
            sc_rows.append({"target": target, **r})
        for p in paths:
            sc_paths.append(p.assign(target=target))
        ridges = {r["site"]: r["ridge"] for r in sc if r["method"] == "augmented"}
        sets = placebo_sets(wide, starts_t, comparison, horizon, ridges, n_perm, seed)
        if sets is None:
            log.warning("%s: too few comparison sites to refit placebo sets jointly (each set "
                        "needs %d, and 2 donors besides); the pooled synthetic control uses "
                        "one-at-a-time placebos, whose interval is narrower than it should be",
                        target, len(starts_t))  # fmt: skip
        for method in ("synthetic", "augmented"):
            obs = {r["site"]: r["log_effect"] for r in sc if r["method"] == method}
            own = {r["site"]: r["pre_rmspe"] for r in sc if r["method"] == method}
            stat, p, (lo, hi), _ = pooled_permutation(obs, sc_placebo[method], n_perm, seed,
                                                      scales=(own, sc_scale[method]),
                                                      sets=sets and sets[method])  # fmt: skip
            label = "synthetic control" if method == "synthetic" else "augmented synthetic control"
            rows.append({"target": target, "method": f"{label} (mean of sites)",
                         "estimand": f"mean change, months {horizon - WINDOW + 1}-{horizon}",
                         "sites": len(obs), "relative_change": float(np.expm1(stat)),
                         "ci_low": float(np.expm1(lo)), "ci_high": float(np.expm1(hi)),
                         "p_analytic": np.nan, "p_permutation": p, "ri_low": float(np.expm1(lo)),
                         "ri_high": float(np.expm1(hi)),
                         "true_relative_change": true_window})  # fmt: skip
        # staggered DiD
        did = staggered(wide, starts_t, horizon, n_perm, seed)
        w = did["window"]
        rows.append({"target": target, "method": "staggered DiD (Callaway-Sant'Anna)",
                     "estimand": f"mean change, months {horizon - WINDOW + 1}-{horizon}",
                     "sites": len(starts_t), "relative_change": float(np.expm1(w["log_effect"])),
                     "ci_low": float(np.expm1(w["ci"][0])), "ci_high": float(np.expm1(w["ci"][1])),
                     "p_analytic": _normal_p(w["log_effect"], w["se"]),
                     "p_permutation": w["p_permutation"], "ri_low": float(np.expm1(w["ri"][0])),
                     "ri_high": float(np.expm1(w["ri"][1])),
                     "true_relative_change": true_window})  # fmt: skip
        studies.append(did["event_study"].assign(target=target))
        cells.append(did["att_gt"].assign(target=target))
        o, pl = did["overall"], did["placebo"]
        placebo_rows += [
            {"target": target, "check": "overall ATT (all post months)", "log_effect": o["log_effect"],
             "ci_low": o["ci"][0], "ci_high": o["ci"][1], "p_analytic": o["p"],
             "p_permutation": o["p_permutation"]},
            {"target": target, "check": f"placebo: every start {PLACEBO_SHIFT} months earlier",
             "log_effect": pl["log_effect"], "ci_low": pl["ci"][0], "ci_high": pl["ci"][1],
             "p_analytic": pl["p"], "p_permutation": np.nan},
        ]  # fmt: skip
        return rows, sc_rows, sc_paths, studies, cells, placebo_rows

    # The targets are independent (their seeds are the config's): side by side when there are
    # cores to spare, concatenated in the targets' order.
    parts = map_forked(one_target, targets.TARGETS)
    rows, sc_rows, sc_paths, studies, cells, placebo_rows = (
        [x for part in parts for x in part[k]] for k in range(6))
    methods = pd.DataFrame(rows)
    if truth is not None:
        truth_col = methods["true_relative_change"]
        methods["covered"] = (methods["ci_low"] <= truth_col) & (truth_col <= methods["ci_high"])
        methods["ri_covered"] = (methods["ri_low"] <= truth_col) & (truth_col <= methods["ri_high"])
    else:
        methods = methods.drop(columns="true_relative_change")
    return {"methods": methods, "synthetic_control": pd.DataFrame(sc_rows),
            "sc_paths": pd.concat(sc_paths, ignore_index=True),
            "event_study": pd.concat(studies, ignore_index=True),
            "att_gt": pd.concat(cells, ignore_index=True),
            "placebo_dates": pd.DataFrame(placebo_rows)}  # fmt: skip


def _normal_p(estimate: float, se: float) -> float:
    from scipy import stats

    return float(2 * stats.norm.sf(abs(estimate / se))) if se > 0 else np.nan
