"""Simulation study of the multi-site designs' randomisation inference
(gf_eval.analysis.designs: pooled synthetic control, plain and augmented, and the staggered DiD).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
    python benchmarks/designs_simulation.py [--panels 200] [--sites 30] [--treated 5]
        [--seed 20240601] [--permutations 199] [--draws 199] [--scenarios NAME ...]
        [--variants NAME ...] [--out benchmarks/results/designs_simulation.csv]
    python benchmarks/designs_simulation.py --from-csv PART.csv ... --out FILE.csv

(the results file: the three runs and the merge at the end of this docstring).

Panels are simulated directly as monthly counts (not by the pipeline's data generator):

- N sites (`--sites`, 30), the first K (`--treated`, 5) treated from months 41, 42, ..., 40 + K
  (one month apart); T = 60 months, t = 1..60; horizon 12, so the estimand of every design is
  the mean log change over event months 8..12 (`designs.window(12)`).
- Site size s_i = exp(0.6 z), z ~ N(0, 1); denominators n_it ~ Poisson(60 s_i) (median about 60
  a month).
- Latent log share = log(0.25) + a_i (a_i ~ N(0, 0.15)) + common trend -0.002 (t - 1)
  + common seasonal 0.05 cos(2 pi (t - 7) / 12) + AR(1) site noise (rho 0.5, marginal SD 0.1)
  [+ scenario terms]; counts y_it ~ Binomial(n_it, min(share, 0.95)).
- The outcome of every design is the log rate log((y + 0.5) / (n + 0.5)), as in the pipeline.

Scenarios:

- null: exchangeable sites, no effect (truth 0).
- effect: log share changes by -0.3 from each treated site's start (truth -0.3 on the latent
  log share; the +0.5 of the log rate attenuates the observed change slightly, see `bias`).
- trends: the effect, and every comparison site's log share bends by d_i per year from month 29
  (12 months before the first start): d_i = 0.2 (0.9 z_i + sqrt(1 - 0.81) e_i), z_i the
  standardised log size, e_i ~ N(0, 1), clipped to +-0.3; treated sites d_i = 0.
- noisy: the null with the treated sites' AR(1) noise twice as large (SD 0.2).

Designs (the pipeline's own functions, as `designs.compare` calls them): plain ("synthetic")
and augmented synthetic control pooled over the treated sites by `designs.pooled_permutation`
(studentised by pre-RMSPE), and the Callaway-Sant'Anna staggered DiD of `designs.staggered`
(its window estimate, permutation p-value and randomisation interval). Reported per scenario
and design: coverage of the truth by the 95% randomisation interval; rejection rate of the
two-sided permutation test at 5% (p <= 0.05; under the null this is the type I error, otherwise
power); mean bias of the point estimate (estimate - truth); Monte Carlo SEs
(sqrt(p (1 - p) / R) for rates, SD / sqrt(R) for the bias).

Diagnosis of the pooled SC interval (`--no-diagnose` skips it). Variants of the pooled SC
inference, each changing one thing, on the same panels:

- unstudentised (iii): `pooled_permutation` without `scales`.
- equal donors (i): each treated site refitted with one comparison site (at random) left out
  of its donors, so that it has as many donors as each placebo.
- own ridge (v, augmented only): every placebo chooses its ridge penalty by its own
  cross-validation instead of reusing the treated site's.
- all sites, no refit (ii as first posed): the reference distribution draws sets of K units
  from all N sites (treated ones included), each unit's effect with donors = the comparison
  sites other than itself (a treated unit from another unit's start: its fit from that start,
  on the data with the effect removed, so it needs the truth).
- all sites, closed form: the same, as the pipeline could run it without knowing the truth:
  a treated unit's effect from another unit's start is fitted on the months before both
  starts, so that under a constant effect tau it is v - tau f (f: the share of the window's
  months from its own start on, here 1), and the test at tau needs no refit; the proposed fix.
  Its p-value is the equal-tailed one (`_p_equal_tailed`), which agrees with its interval;
  "all sites, closed form, |.| p" is the same reference with the pipeline's |.| p-value, which
  the treated sites' own effects in the pool (drawing the reference towards the observed
  statistic) make too liberal.
- comparison, refit: for each draw of K comparison sites, each drawn site is refitted with
  donors = the comparison sites not drawn (so that, as for the treated sites, no unit of the
  set is a donor of another), the treated sites as in the pipeline.
- all sites, refit: the exact re-randomisation: each draw is K units of all N, each refitted
  with donors = the N - K units not drawn (the observed assignment is one such draw).

The variants that let treated units into the reference distribution or the donor pools are
tested on the data with the hypothesised effect removed (log rate + 0.3 from each treated
site's start), i.e. coverage of the truth = the equal-tailed test at the truth not rejecting;
for the pipeline's own interval this is exactly its test inversion (checked on every panel:
`check_inversion`). Refit variants use `--draws` draws, and the augmented refits keep the
ridge chosen on the treated site of each start (as the pipeline does for its placebos).

The DiD row "did, adjusted" is the DiD's randomisation test inverted properly (permutations of
the data with the hypothesised effect removed) beside the pipeline's shortcut interval
(estimate less the quantiles of the permutation distribution of the unadjusted data).

Writes one row per panel, design and variant (`--out`, CSV) and the tables beside it (.md).
Panel i of every scenario starts from the same random numbers (seed [--seed, i]), so the
scenarios and the variants within a panel are compared on common draws.

Reading the diagnosis (the numbers are in the results file). The pipeline's pooled SC draws
its reference sets from the N - K comparison sites only. Under an exchangeable null the
treated sites' mean is the mean of K sites drawn from all N; set against means of K of the
other N - K alone, it is more dispersed than its reference (with independent unit values
the variance ratio is about N / (N - 2K): 1.5 at N = 30, 1.07 at N = 150, K = 5), so the
interval is too short and the test too liberal. Changing the donor counts, the
studentisation or the ridge does not help; letting the treated sites into the reference pool
(the randomisation test's own reference, in which the observed assignment is one draw) does,
with or without refits.

Reproducing benchmarks/results/designs_simulation.{csv,md} (one process each, about 20, 15
and 8 minutes on one core):

    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
    python benchmarks/designs_simulation.py --scenarios null --panels 400 \
        --permutations 999 --draws 199 --out /tmp/designs_sim/null30.csv
    python benchmarks/designs_simulation.py --scenarios effect trends noisy --panels 200 \
        --permutations 999 --draws 199 --variants unstudentised "did, adjusted" \
        "all sites, closed form" "comparison, refit" "all sites, refit" \
        --out /tmp/designs_sim/alt30.csv
    python benchmarks/designs_simulation.py --scenarios null --sites 150 --panels 300 \
        --permutations 999 --variants "all sites, closed form" --out /tmp/designs_sim/null150.csv
    python benchmarks/designs_simulation.py --from-csv /tmp/designs_sim/null30.csv \
        /tmp/designs_sim/alt30.csv /tmp/designs_sim/null150.csv \
        --out benchmarks/results/designs_simulation.csv
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gf_eval.analysis import designs
from gf_eval.stats.permutation import Reassignment, permutation_test
from gf_eval.stats.staggered import StaggeredDiD
from gf_eval.stats.synthetic_control import SyntheticControl, _fit_arrays

T_MONTHS = 60
FIRST_START = 41
HORIZON = 12
ALPHA = 0.05
EFFECT = -0.3
BASE_SHARE = 0.25
MEDIAN_N = 60.0
SIZE_SD = 0.6
LEVEL_SD = 0.15
TREND = -0.002  # common log-share trend a month
SEASON = 0.05
AR_RHO, AR_SD = 0.5, 0.1
BEND_FROM, BEND_SD, BEND_RHO, BEND_CLIP = 29, 0.2, 0.9, 0.3

SCENARIOS = {
    "null": {"effect": 0.0, "trends": False, "treated_noise": 1.0},
    "effect": {"effect": EFFECT, "trends": False, "treated_noise": 1.0},
    "trends": {"effect": EFFECT, "trends": True, "treated_noise": 1.0},
    "noisy": {"effect": 0.0, "trends": False, "treated_noise": 2.0},
}
METHODS = ("synthetic", "augmented")
VARIANTS = ("unstudentised", "did, adjusted", "equal donors", "own ridge", "all sites, no refit",
            "all sites, closed form", "comparison, refit", "all sites, refit")


# ---------------------------------------------------------------------------------------------
# the panel
# ---------------------------------------------------------------------------------------------


def simulate_panel(rng: np.random.Generator, scenario: dict, n_sites: int, n_treated: int):
    """(wide log rates, months x sites; starts {site: month}; comparison sites; truth)."""
    t = np.arange(1, T_MONTHS + 1)
    z = rng.normal(size=n_sites)
    size = np.exp(SIZE_SD * z)
    n = rng.poisson(MEDIAN_N * size[None, :], size=(T_MONTHS, n_sites))
    level = np.log(BASE_SHARE) + rng.normal(0, LEVEL_SD, n_sites)
    common = TREND * (t - 1) + SEASON * np.cos(2 * np.pi * (t - 7) / 12)
    sd = np.full(n_sites, AR_SD)
    sd[:n_treated] *= scenario["treated_noise"]
    noise = np.empty((T_MONTHS, n_sites))
    noise[0] = rng.normal(0, sd)
    innov = rng.normal(0, 1, (T_MONTHS, n_sites)) * sd * math.sqrt(1 - AR_RHO**2)
    for i in range(1, T_MONTHS):
        noise[i] = AR_RHO * noise[i - 1] + innov[i]
    log_share = level[None, :] + common[:, None] + noise
    starts = np.arange(FIRST_START, FIRST_START + n_treated)
    treated = np.zeros((T_MONTHS, n_sites), dtype=bool)
    for k, s0 in enumerate(starts):
        treated[:, k] = t >= s0
    log_share += scenario["effect"] * treated
    e = rng.normal(size=n_sites)  # drawn in every scenario, so the panels agree across them
    if scenario["trends"]:
        zs = (np.log(size) - np.log(size).mean()) / np.log(size).std()
        d = np.clip(BEND_SD * (BEND_RHO * zs + math.sqrt(1 - BEND_RHO**2) * e),
                    -BEND_CLIP, BEND_CLIP)  # fmt: skip
        d[:n_treated] = 0.0
        log_share += d[None, :] * np.maximum(t - BEND_FROM, 0)[:, None] / 12
    share = np.minimum(np.exp(log_share), 0.95)
    y = rng.binomial(n, share)
    names = [f"t{k}" for k in range(n_treated)] + [f"c{j:03d}" for j in range(n_sites - n_treated)]
    wide = pd.DataFrame(np.log((y + 0.5) / (n + 0.5)), index=pd.Index(t, name="t"),
                        columns=names)  # fmt: skip
    start = {names[k]: int(s0) for k, s0 in enumerate(starts)}
    return wide, start, names[n_treated:], scenario["effect"], treated


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _window_mask(s0: int) -> np.ndarray:
    return np.isin(np.arange(1, T_MONTHS + 1), [s0 + e for e in designs.window(HORIZON)])


def _fit(Y: np.ndarray, unit: int, donors: np.ndarray, s0: int, method: str, ridge,
         pre_end: int | None = None):  # fmt: skip
    """(window effect, pre-RMSPE) of `unit` (a column of Y, months x sites) from start s0, the
    weights fitted on the months before `pre_end` (default s0)."""
    pre = np.arange(1, T_MONTHS + 1) < (s0 if pre_end is None else pre_end)
    D = Y[:, donors]
    w, _, _ = _fit_arrays(Y[:, unit], D, pre, method, ridge)
    gap = Y[:, unit] - D @ w
    return float(gap[_window_mask(s0)].mean()), float(np.sqrt(np.mean(gap[pre] ** 2)))


def _equal_tailed(stat: float, dist: np.ndarray) -> tuple[bool, float]:
    """(the equal-tailed 5% test rejects, the two-sided p as in pooled_permutation)."""
    lo, hi = np.quantile(dist, [ALPHA / 2, 1 - ALPHA / 2])
    p = (1 + int(np.sum(np.abs(dist) >= abs(stat) * (1 - 1e-9)))) / (1 + len(dist))
    return not (lo <= stat <= hi), p


def _p_equal_tailed(stat: float, dist: np.ndarray) -> float:
    """2 min(#{dist >= stat}, #{dist <= stat}), the observed counted in each: the p-value
    that rejects at 5% when the equal-tailed 95% interval leaves out the null (the proposed
    fix's p with the treated sites in the pool)."""
    tol = 1e-9 * max(1.0, abs(stat))
    tail = min(int(np.sum(dist >= stat - tol)), int(np.sum(dist <= stat + tol)))
    return min(1.0, 2 * (1 + tail) / (1 + len(dist)))


def _shape(stat: float, dist: np.ndarray) -> dict:
    """The statistic at the truth and its reference distribution's SD, median and 95% range
    (for the dispersion table and the side on which an interval misses)."""
    q = np.quantile(dist, [ALPHA / 2, 0.5, 1 - ALPHA / 2])
    return {"stud_stat": stat, "dist_sd": float(np.std(dist)), "q_lo": q[0], "q_mid": q[1],
            "q_hi": q[2]}


def _row(design: str, variant: str, estimate: float, truth: float, covered: bool, p: float,
         **extra) -> dict:  # fmt: skip
    return {"design": design, "variant": variant, "estimate": estimate, "truth": truth,
            "covered": bool(covered), "p": p,
            "reject": float(p <= ALPHA) if np.isfinite(p) else np.nan, **extra}


def _did_adjusted(Yadj, wide, starts, truth, estimate, n_perm, seed) -> list[dict]:
    """The DiD's permutation test at the truth on the data with the effect removed (the proper
    test inversion; its p at 0 is the pipeline's, so none is reported)."""
    adj = pd.DataFrame(Yadj, index=wide.index, columns=wide.columns)
    long = adj.rename_axis("t").reset_index().melt("t", var_name="site", value_name="y")
    long["group"] = long["site"].map(starts).astype(float)
    model = StaggeredDiD(long, "site", "t", "y", "group", control="notyet", base="varying")
    observed = np.array([starts.get(u, np.inf) for u in model.units], dtype=float)

    def window_mean(groups):
        return np.mean([model.estimate_for_groups(groups, target=e)
                        for e in designs.window(HORIZON)], axis=0)  # fmt: skip

    perm = permutation_test(window_mean, observed, Reassignment(observed), n=n_perm, seed=seed,
                            vectorized=True)  # fmt: skip
    rej, _ = _equal_tailed(perm.statistic, perm.distribution)
    return [_row("did", "adjusted inversion", estimate, truth, not rej, np.nan)]



# ---------------------------------------------------------------------------------------------
# one panel
# ---------------------------------------------------------------------------------------------


def evaluate(wide, starts, comparison, truth, treated_mask, n_perm, n_draws, seed, variants):
    rows = []
    sites = list(starts)
    # --- the pipeline's designs
    sc, (placebo, scales), _ = designs.synthetic_controls(wide, starts, comparison, HORIZON)
    info = {}
    for method in METHODS:
        obs = {r["site"]: r["log_effect"] for r in sc if r["method"] == method}
        own = {r["site"]: r["pre_rmspe"] for r in sc if r["method"] == method}
        ridge = {r["site"]: r["ridge"] for r in sc if r["method"] == method}
        stat, p, (lo, hi), dist = designs.pooled_permutation(
            obs, placebo[method], n_perm, seed, scales=(own, scales[method]))
        w = float(np.mean([1 / own[s] for s in sites]))
        stud = float(np.mean([obs[s] / own[s] for s in sites]))
        covered = lo <= truth <= hi
        # check_inversion: the interval is the equal-tailed test at the truth, inverted
        q = np.quantile(dist, [ALPHA / 2, 1 - ALPHA / 2])
        at_truth = stud - truth * w
        if abs(at_truth - q[0]) > 1e-9 and abs(at_truth - q[1]) > 1e-9:
            assert covered == bool(q[0] <= at_truth <= q[1]), (method, at_truth, q, lo, hi)
        rows.append(_row(method, "pipeline", stat, truth, covered, p, lo=lo, hi=hi,
                         **_shape(at_truth, dist)))
        info[method] = (obs, own, ridge)
        if "unstudentised" in variants:  # (iii) not studentised
            stat_u, p_u, (lo_u, hi_u), _ = designs.pooled_permutation(
                obs, placebo[method], n_perm, seed)
            rows.append(_row(method, "unstudentised", stat_u, truth, lo_u <= truth <= hi_u, p_u,
                             lo=lo_u, hi=hi_u))
    # --- staggered DiD
    did = designs.staggered(wide, starts, HORIZON, n_perm, seed)["window"]
    lo, hi = did["ri"]
    rows.append(_row("did", "pipeline", did["log_effect"], truth, lo <= truth <= hi,
                     did["p_permutation"], lo=lo, hi=hi))
    Y = wide.to_numpy()
    Yadj = Y - truth * treated_mask
    if "did, adjusted" in variants:
        rows += _did_adjusted(Yadj, wide, starts, truth, did["log_effect"], n_perm, seed)
    # --- SC variants
    names = list(wide.columns)
    col = {s: names.index(s) for s in names}
    comp = np.array([col[c] for c in comparison])
    allu = np.arange(len(names))
    K = len(sites)
    s_of = [starts[s] for s in sites]
    rng = np.random.default_rng([seed, 1])
    for method in METHODS:
        obs, own, ridge = info[method]
        eff_obs = np.array([obs[s] for s in sites])
        own_obs = np.array([own[s] for s in sites])
        rid = [ridge[s] for s in sites]
        stat_obs = float(np.mean((eff_obs - truth) / own_obs))  # studentised, at the truth
        stat_0 = float(np.mean(eff_obs / own_obs))  # studentised, at 0
        est = float(np.mean(eff_obs))
        if "equal donors" in variants:  # (i) the treated site with one donor fewer
            e1, r1 = [], []
            for k, s in enumerate(sites):
                drop = rng.integers(len(comp))
                e, r = _fit(Y, col[s], np.delete(comp, drop), s_of[k], method, None)
                e1.append(e)
                r1.append(r)
            stat, p, (lo, hi), _ = designs.pooled_permutation(
                dict(zip(sites, e1)), placebo[method], n_perm, seed,
                scales=(dict(zip(sites, r1)), scales[method]))
            rows.append(_row(method, "equal donors", stat, truth, lo <= truth <= hi, p))
        if "own ridge" in variants and method == "augmented":  # (v) placebos' own CV ridge
            pl_e, pl_s = {}, {}
            for k, s in enumerate(sites):
                pre = wide.index < s_of[k]
                m = SyntheticControl(Y[:, col[s]], Y[:, comp], pre, index=wide.index,
                                     donor_names=comparison)  # fmt: skip
                pl = m.fit("augmented").placebos()
                pl_e[s] = pd.Series(pl.effects(_window_mask(s_of[k])), index=pl.names)
                pl_s[s] = pd.Series(pl.pre_rmspe, index=pl.names)
            stat, p, (lo, hi), _ = designs.pooled_permutation(
                obs, pl_e, n_perm, seed, scales=(own, pl_s))
            rows.append(_row(method, "own ridge", stat, truth, lo <= truth <= hi, p))
        if "all sites, no refit" in variants:  # (ii) as posed: all N units, no refit
            table_e = np.empty((len(names), K))
            table_s = np.empty((len(names), K))
            for k, s in enumerate(sites):
                table_e[comp, k] = placebo[method][s].reindex(comparison).to_numpy()
                table_s[comp, k] = scales[method][s].reindex(comparison).to_numpy()
                for a, sa in enumerate(sites):
                    e, r = _fit(Yadj, col[sa], comp, s_of[k], method, rid[k])
                    table_e[col[sa], k], table_s[col[sa], k] = e, r
            draws = np.array([rng.choice(len(names), K, replace=False) for _ in range(n_perm)])
            dist = (table_e[draws, np.arange(K)] / table_s[draws, np.arange(K)]).mean(axis=1)
            rej, p = _equal_tailed(stat_obs, dist)
            rows.append(_row(method, "all sites, no refit", est, truth, not rej,
                             p if truth == 0 else np.nan, **_shape(stat_obs, dist)))
        if "all sites, closed form" in variants:
            # (ii) as it could run in the pipeline: all N units in the reference pool, no refit;
            # a treated unit from another unit's start is fitted on the months before both
            # starts, so no hypothesised effect enters its fit, and under a constant effect tau
            # its window effect is v - tau * f (f: the share of the window's months from its
            # own start on); tested at the truth on the data as they are
            table_e = np.empty((len(names), K))
            table_s = np.empty((len(names), K))
            table_f = np.zeros((len(names), K))
            for k, s in enumerate(sites):
                table_e[comp, k] = placebo[method][s].reindex(comparison).to_numpy()
                table_s[comp, k] = scales[method][s].reindex(comparison).to_numpy()
                win = np.arange(1, T_MONTHS + 1)[_window_mask(s_of[k])]
                for a, sa in enumerate(sites):
                    e, r = _fit(Y, col[sa], comp, s_of[k], method, rid[k],
                                pre_end=min(s_of[a], s_of[k]))  # fmt: skip
                    table_e[col[sa], k], table_s[col[sa], k] = e, r
                    table_f[col[sa], k] = float(np.mean(win >= s_of[a]))
            # the draws of `pooled_permutation` (over the sorted pool, seeded alike), so that
            # this is the proposed fix (/tmp/designs_fix.diff) to the draw
            order = np.array([col[u] for u in sorted(names)])
            r2 = np.random.default_rng(seed)
            draws = order[np.array([r2.choice(len(names), K, replace=False)
                                    for _ in range(n_perm)])]  # fmt: skip
            pick = (draws, np.arange(K))
            dist_t = ((table_e - truth * table_f) / table_s)[pick].mean(axis=1)
            dist_0 = (table_e / table_s)[pick].mean(axis=1)
            rej, _ = _equal_tailed(stat_obs, dist_t)
            _, p = _equal_tailed(stat_0, dist_0)
            rows.append(_row(method, "all sites, closed form", est, truth, not rej,
                             _p_equal_tailed(stat_0, dist_0), **_shape(stat_obs, dist_t)))
            rows.append(_row(method, "all sites, closed form, |.| p", est, truth, not rej, p))
        if "comparison, refit" in variants:
            # each draw: K comparison sites, each refitted with the comparison sites not drawn
            # as donors; the same draws for the studentised and raw statistics, and for the
            # treated sites refitted without K random comparison sites (equal donor counts)
            dist, dist_raw = np.empty(n_draws), np.empty(n_draws)
            for b in range(n_draws):
                S = rng.choice(comp, K, replace=False)
                donors = np.setdiff1d(comp, S)
                v = np.array([_fit(Y, S[k], donors, s_of[k], method, rid[k]) for k in range(K)])
                dist[b] = np.mean(v[:, 0] / v[:, 1])
                dist_raw[b] = np.mean(v[:, 0])
            rej, _ = _equal_tailed(stat_obs, dist)
            _, p = _equal_tailed(stat_0, dist)
            rows.append(_row(method, "comparison, refit", est, truth, not rej, p,
                             **_shape(stat_obs, dist)))
            rej, _ = _equal_tailed(est - truth, dist_raw)
            _, p = _equal_tailed(est, dist_raw)
            rows.append(_row(method, "comparison, refit, unstudentised", est, truth, not rej, p))
            R = rng.choice(comp, K, replace=False)
            donors = np.setdiff1d(comp, R)
            v = np.array([_fit(Y, col[s], donors, s_of[k], method, rid[k])
                          for k, s in enumerate(sites)])  # fmt: skip
            at = float(np.mean((v[:, 0] - truth) / v[:, 1]))
            rej, _ = _equal_tailed(at, dist)
            _, p = _equal_tailed(float(np.mean(v[:, 0] / v[:, 1])), dist)
            rows.append(_row(method, "comparison, refit, equal donors", float(np.mean(v[:, 0])),
                             truth, not rej, p, **_shape(at, dist)))
        if "all sites, refit" in variants:
            # the exact re-randomisation: K units of all N, donors = the N - K not drawn
            dist = np.empty(n_draws)
            for b in range(n_draws):
                S = rng.choice(allu, K, replace=False)
                donors = np.setdiff1d(allu, S)
                v = np.array([_fit(Yadj, S[k], donors, s_of[k], method, rid[k])
                              for k in range(K)])  # fmt: skip
                dist[b] = np.mean(v[:, 0] / v[:, 1])
            rej, p = _equal_tailed(stat_obs, dist)
            rows.append(_row(method, "all sites, refit", est, truth, not rej,
                             p if truth == 0 else np.nan, **_shape(stat_obs, dist)))
    return rows


# ---------------------------------------------------------------------------------------------
# the study
# ---------------------------------------------------------------------------------------------


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (scen, n, design, variant), g in df.groupby(["scenario", "sites", "design", "variant"],
                                                    sort=False):  # fmt: skip
        R = len(g)
        cov, rej = g["covered"].mean(), g["reject"].mean()
        R_rej = int(g["reject"].notna().sum())
        bias = g["estimate"] - g["truth"]
        out.append({"scenario": scen, "sites": n, "design": design, "variant": variant,
                    "panels": R,
                    "coverage": cov, "coverage_se": math.sqrt(cov * (1 - cov) / R),
                    "reject": rej,
                    "reject_se": math.sqrt(rej * (1 - rej) / R_rej) if R_rej else np.nan,
                    "bias": bias.mean(), "bias_se": bias.std(ddof=1) / math.sqrt(R),
                    "sd": g["estimate"].std(ddof=1)})  # fmt: skip
    return pd.DataFrame(out)


def markdown(summary: pd.DataFrame, df: pd.DataFrame, meta: dict) -> str:
    def f(x, se, d=3):
        return f"{x:.{d}f} ({se:.{d}f})"

    lines = ["# Randomisation inference of the multi-site designs: simulation", "",
             f"Command: `{meta['command']}`", "",
             f"Panels per scenario: {meta['panels']}; sites as in the tables, {meta['treated']} "
             f"treated from months {FIRST_START}..{FIRST_START + meta['treated'] - 1}, "
             f"{T_MONTHS} months; {meta['permutations']} permutations for the pipeline's "
             f"tests, {meta['draws']} draws for the refit variants; seed {meta['seed']}. "
             "Model and scenarios: the docstring of benchmarks/designs_simulation.py.", "",
             "Entries: estimate (Monte Carlo SE). coverage: of the truth by the 95% "
             "randomisation interval; reject: two-sided permutation p <= 0.05 (type I error "
             "under null/noisy, power otherwise); bias: mean estimate - truth "
             "(truth 0 or -0.3 on the latent log share).", "",
             "Labels: `pipeline` is `designs.synthetic_controls` + `designs.pooled_permutation` "
             "without `sets` (reference sets drawn from one-at-a-time comparison placebos: "
             "`designs.compare` up to commit c3d070f) and `designs.staggered`; `comparison, "
             "refit` is the scheme of `designs.placebo_sets` (commit bc542cc), computed here "
             "with 199 draws; `all sites, closed form` is the proposed fix (treated sites in "
             "the reference pool, equal-tailed p; /tmp/designs_fix.diff, the same draws). "
             "`reject` of a variant is its test of 0 (n/a where the variant is only computed "
             "at the truth).", ""]  # fmt: skip
    for name, sel in (("The pipeline's designs", summary["variant"] == "pipeline"),
                      ("Diagnostic variants", summary["variant"] != "pipeline")):
        part = summary[sel]
        if part.empty:
            continue
        lines += [f"## {name}", "",
                  "| scenario | sites | design | variant | panels | coverage | reject | bias "
                  "| SD |",
                  "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in part.itertuples():
            lines.append(f"| {r.scenario} | {r.sites} | {r.design} | {r.variant} | {r.panels} | "
                         f"{f(r.coverage, r.coverage_se)} | {f(r.reject, r.reject_se)} | "
                         f"{f(r.bias, r.bias_se)} | {r.sd:.3f} |")  # fmt: skip
        lines.append("")
    # dispersion check: the SD of the studentised statistic over panels vs the reference SD
    disp = df[df["dist_sd"].notna()] if "dist_sd" in df else df.iloc[:0]
    if not disp.empty:
        lines += ["## The studentised SC statistic against its reference distribution", "",
                  "SD over panels of the studentised mean at the truth (mean over treated "
                  "sites of (effect - truth) / pre-RMSPE), against the mean over panels of the "
                  "SD of its reference distribution (a ratio above 1: the reference is too "
                  "narrow); and the share of panels whose statistic falls below the reference's "
                  "2.5% point or above its 97.5% point (the interval then misses the truth from "
                  "above or below).", "",
                  "| scenario | sites | method | variant | SD of statistic | mean SD of reference "
                  "| ratio | below 2.5% | above 97.5% |", "|---|---|---|---|---|---|---|---|---|"]
        for (scen, n, m, v), g in disp.groupby(["scenario", "sites", "design", "variant"],
                                               sort=False):  # fmt: skip
            a, b = g["stud_stat"].std(ddof=1), g["dist_sd"].mean()
            below = float(np.mean(g["stud_stat"] < g["q_lo"]))
            above = float(np.mean(g["stud_stat"] > g["q_hi"]))
            lines.append(f"| {scen} | {n} | {m} | {v} | {a:.3f} | {b:.3f} | {a / b:.2f} | "
                         f"{below:.3f} | {above:.3f} |")  # fmt: skip
        lines.append("")
    lines += ["## Timing (one process, 1 thread)", ""] + [f"- {t}" for t in meta["timing"]] + [""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--panels", type=int, default=200)
    ap.add_argument("--sites", type=int, default=30)
    ap.add_argument("--treated", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--permutations", type=int, default=199)
    ap.add_argument("--draws", type=int, default=199)
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS),
                    help="diagnostic variants to run (none: only the pipeline's designs)")
    ap.add_argument("--resume", action="store_true",
                    help="go on from the checkpoint of an interrupted run with the same --out")
    ap.add_argument("--from-csv", nargs="+", type=Path, default=None,
                    help="make the tables (and --out) from earlier runs' rows, no simulation")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/designs_simulation.csv"))
    args = ap.parse_args(argv)
    if args.from_csv:
        return merge(args)
    t0 = time.perf_counter()
    per = {}
    # checkpoint every 25 panels, so that an interrupted run can go on with --resume
    partial = Path(str(args.out) + ".partial.pkl")
    state = {"rows": [], "elapsed": {}, "done": {}}
    if args.resume and partial.exists():
        state = pd.read_pickle(partial)
        print(f"resuming: {state['done']} panels done", flush=True)
    rows = state["rows"]
    for name in args.scenarios:
        scen = SCENARIOS[name]
        ts = time.perf_counter()
        start = state["done"].get(name, 0)
        for i in range(start, args.panels):
            # the same panel index gives the same base draws in every scenario
            rng = np.random.default_rng([args.seed, i])
            wide, starts, comparison, truth, mask = simulate_panel(rng, scen, args.sites,
                                                                   args.treated)  # fmt: skip
            for r in evaluate(wide, starts, comparison, truth, mask, args.permutations,
                              args.draws, args.seed + i, set(args.variants)):  # fmt: skip
                rows.append({"scenario": name, "sites": args.sites, "panel": i, **r})
            if (i + 1) % 25 == 0:
                state["done"][name] = i + 1
                state["elapsed"][name] = (state["elapsed"].get(name, 0.0)
                                          + time.perf_counter() - ts)  # fmt: skip
                ts = time.perf_counter()
                pd.to_pickle(state, partial)
                print(f"{name}: {i + 1} panels, {state['elapsed'][name]:.0f} s", flush=True)
        state["elapsed"][name] = state["elapsed"].get(name, 0.0) + time.perf_counter() - ts
        state["done"][name] = args.panels
        per[name] = state["elapsed"][name] / args.panels
    df = pd.DataFrame(rows)
    df["seed"], df["permutations"], df["draws"] = args.seed, args.permutations, args.draws
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    partial.unlink(missing_ok=True)
    timing = (f"variants {' '.join(args.variants) or 'none'}: "
              + "; ".join(f"{n} {s:.2f} s a panel" for n, s in per.items())
              + f"; total {time.perf_counter() - t0:.0f} s")
    print(timing)
    Path(str(args.out.with_suffix("")) + ".timing.txt").write_text(timing + "\n")
    return report(df, args, [timing])


def merge(args) -> int:
    parts = [pd.read_csv(f, keep_default_na=False, na_values=["", "nan"]) for f in args.from_csv]
    timing = []
    for f in args.from_csv:
        t = Path(str(f.with_suffix("")) + ".timing.txt")
        if t.exists():
            timing.append(f"{f.name}: {t.read_text().strip()}")
    df = pd.concat(parts, ignore_index=True)
    df.to_csv(args.out, index=False)
    return report(df, args, timing)


def report(df: pd.DataFrame, args, timing: list[str]) -> int:
    summary = summarise(df)
    meta = {"command": "python benchmarks/designs_simulation.py " + " ".join(sys.argv[1:]),
            "panels": ", ".join(f"{s} ({n} sites) {k}" for (s, n), k in
                                df.groupby(["scenario", "sites"], sort=False)["panel"]
                                .nunique().items()),  # fmt: skip
            "sites": args.sites, "treated": args.treated,
            "permutations": ", ".join(map(str, sorted(df["permutations"].unique()))),
            "draws": ", ".join(map(str, sorted(df["draws"].unique()))),
            "seed": ", ".join(map(str, sorted(df["seed"].unique()))), "timing": timing}
    args.out.with_suffix(".md").write_text(markdown(summary, df, meta))
    print(summary.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
