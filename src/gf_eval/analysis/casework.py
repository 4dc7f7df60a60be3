"""The DANs' casework books: outcome measures at allocation and at closure (Appendix 7).

Every function takes the typed casework table (flags boolean, measures Int64) and returns a tidy
DataFrame with one row per measure (codes.CASEWORK_MEASURES). Change is closure minus
allocation in the measure's own units; `better` says whether a fall or a rise is an
improvement. The sdq measure belongs to cases where the children engaged, so its base is those
cases; every other measure's base is every case.

- `paired_outcomes`: complete pairs, mean change (paired t, Wilcoxon, d_z) and reliable change.
- `attrition`: who lost the closure measure, and how they differ at allocation.
- `ipw_outcomes`: mean change reweighted for missing closure measures, with `bounds`.
- `engagement_regression`: whole-family against victim-only engagement, an association.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
# The modules themselves, not statsmodels.api, which imports all of statsmodels (0.5 s).
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant
from scipy import stats

from gf_eval import codes
from gf_eval.stats import prepost
from gf_eval.stats.logistic import logit_irls
from gf_eval.stats.reliability import reliable_change

MEASURES = tuple(codes.CASEWORK_MEASURES)
KEYS = ("case_id", "family_id", "dan_id")  # pseudonyms: they carry no order
PATTERNS = {
    "whole_family": "Whole family (victim, perpetrator and children)",
    "victim_only": "Victim only",
    "victim_children": "Victim and children",
    "victim_perpetrator": "Victim and perpetrator",
    "victim_not_engaged": "Victim not engaged",
}
# The comparison group of the engagement regression: victim-only families have no sdq (it is a
# child measure), so for sdq whole families are compared with victim-and-children families.
REFERENCE = {m: "victim_only" for m in MEASURES} | {"sdq": "victim_children"}
RESAMPLES = 500
BOUND_QUANTILES = (0.10, 0.90)


def engagement_pattern(casework: pd.DataFrame) -> pd.Series:
    """Each case's engagement pattern (a key of PATTERNS) from the three engagement flags."""
    v, p, c = (casework[f"{m}_engaged"].fillna(False).astype(bool)
               for m in ("victim", "perpetrator", "children"))  # fmt: skip
    out = np.select(
        [~v, p & c, p, c],
        ["victim_not_engaged", "whole_family", "victim_perpetrator", "victim_children"],
        "victim_only",
    )
    return pd.Series(out, index=casework.index, name="pattern")


def in_base(casework: pd.DataFrame, measure: str) -> pd.Series:
    """Cases the measure belongs to: every case, or for sdq those whose children engaged."""
    if measure == "sdq":
        return casework["children_engaged"].fillna(False).astype(bool)
    return pd.Series(True, index=casework.index)


def scores(casework: pd.DataFrame, measure: str) -> tuple[np.ndarray, np.ndarray]:
    """(allocation, closure) scores of the base cases as floats, NaN where not recorded."""
    base = casework[in_base(casework, measure)]
    return tuple(base[f"{measure}_{w}"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
                 for w in ("alloc", "close"))  # fmt: skip


def _sd_alloc(alloc: np.ndarray) -> float:
    return float(np.nanstd(alloc, ddof=1))


def paired_outcomes(casework: pd.DataFrame) -> pd.DataFrame:
    """Per measure: complete pairs, means, mean change with its 95% t interval, paired t and
    Wilcoxon p, d_z, and Jacobson-Truax reliable change. The RCI uses the measure's documented
    reliability and the SD of every recorded allocation score of the base cases (the
    population's spread before the work, not only that of the complete pairs)."""
    rows = []
    for measure, (_low, _high, better, reliability) in codes.CASEWORK_MEASURES.items():
        alloc, close = scores(casework, measure)
        res = prepost.paired_continuous(alloc, close)
        rc = reliable_change(alloc, close, reliability, better, sd_before=_sd_alloc(alloc))
        rows.append({
            "measure": measure, "better": better, "reliability": reliability,
            "n_pairs": res.n, "mean_alloc": res.mean_before, "mean_close": res.mean_after,
            "mean_change": res.estimate, "ci_low": res.ci_low, "ci_high": res.ci_high,
            "t_p": res.t_p_value, "wilcoxon_p": res.wilcoxon_p_value, "d_z": res.d_z,
            "sd_alloc": rc.sd_before, "reliable_threshold": rc.threshold_change,
            "n_improved": rc.n_improved, "n_no_change": rc.n - rc.n_improved - rc.n_deteriorated,
            "n_deteriorated": rc.n_deteriorated,
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("measure")


def _groups(casework: pd.DataFrame, measure: str) -> pd.DataFrame:
    """The base cases with alloc, close (floats), closed, completer and the pattern."""
    base = in_base(casework, measure)
    df = casework.loc[base, ["closure_date", "closure_reason"]].copy()
    df["alloc"], df["close"] = scores(casework, measure)
    df["closed"] = df["closure_date"].notna()
    df["completer"] = df["closed"] & df["alloc"].notna() & df["close"].notna()
    df["pattern"] = engagement_pattern(casework)[base]
    df["whole_family"] = (df["pattern"] == "whole_family").astype(float)
    df["disengaged"] = (df["closure_reason"] == "disengaged").fillna(False).astype(float)
    return df


def attrition(casework: pd.DataFrame) -> pd.DataFrame:
    """Per measure: cases = open + closed; closed = completers (both scores) + non-completers
    (allocation score, no closure score) + closed cases with no allocation score. Completers and
    non-completers are then compared at allocation: mean score (Welch t test), engagement
    pattern (chi-square test over the patterns present) and closure as disengaged
    (prepost.proportions: chi-square, or Fisher's exact test for small expected counts)."""
    rows = []
    for measure in MEASURES:
        df = _groups(casework, measure)
        closed = df[df["closed"]]
        scored = closed[closed["alloc"].notna()]
        comp, non = scored[scored["completer"]], scored[~scored["completer"]]
        row = {"measure": measure, "cases": len(df), "open": int((~df["closed"]).sum()),
               "closed": len(closed), "completers": len(comp), "noncompleters": len(non),
               "closed_no_alloc": int(closed["alloc"].isna().sum())}  # fmt: skip
        row["mean_alloc_completers"] = comp["alloc"].mean()
        row["mean_alloc_noncompleters"] = non["alloc"].mean()
        row["alloc_p"] = (stats.ttest_ind(comp["alloc"], non["alloc"], equal_var=False).pvalue
                          if min(len(comp), len(non)) >= 2 else math.nan)  # fmt: skip
        for pattern in ("whole_family", "victim_only"):
            row[f"{pattern}_completers"] = int((comp["pattern"] == pattern).sum())
            row[f"{pattern}_noncompleters"] = int((non["pattern"] == pattern).sum())
        table = pd.crosstab(scored["pattern"], scored["completer"])
        testable = table.shape[0] > 1 and table.shape[1] == 2
        row["pattern_p"] = stats.chi2_contingency(table).pvalue if testable else math.nan
        row["disengaged_completers"] = int(comp["disengaged"].sum())
        row["disengaged_noncompleters"] = int(non["disengaged"].sum())
        row["disengaged_p"] = (prepost.proportions(row["disengaged_noncompleters"], len(non),
                                                   row["disengaged_completers"], len(comp)).p_value
                               if len(comp) and len(non) else math.nan)  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows).set_index("measure")


def _ipw_mean(x: np.ndarray, done: np.ndarray, change: np.ndarray,
              start: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted mean change of the completers (`done`), their stabilised weights
    P(complete) / P(complete | x), and the logistic model's coefficients."""
    y = done.astype(float)
    fit = GLM(y, x, family=families.Binomial()).fit(start_params=start)
    weights = y.mean() / fit.predict(x)[done]
    return float(np.sum(weights * change[done]) / np.sum(weights)), weights, fit.params


def _ipw_bootstrap(x: np.ndarray, done: np.ndarray, change: np.ndarray, params: np.ndarray,
                   rng: np.random.Generator, resamples: int) -> np.ndarray:  # fmt: skip
    """`_ipw_mean` of each of `resamples` resamples of the cases (drawn from `rng` in turn),
    the model refitted from the full fit's `params` (a warm start: fewer iterations); a
    resample of only completers or only non-completers is skipped. The refits run together
    (logit_irls, statsmodels' IRLS batched); one it cannot vouch for (separation, a covariate
    without its cases) is redone alone by statsmodels, as every refit once was."""
    n = len(done)
    draws = (rng.integers(0, n, n) for _ in range(resamples))  # one call each: the same stream
    idx = np.array([i for i in draws if 0 < done[i].sum() < n], dtype=int).reshape(-1, n)
    xs, y = x[idx], done[idx]
    fits = logit_irls(xs, y, params)
    with np.errstate(all="ignore"):  # the fits not vouched for are overwritten below
        mu = 1.0 / (1.0 + np.exp(-np.einsum("fnk,fk->fn", xs, fits.params)))
        w = y.mean(axis=1, keepdims=True) / mu
        boot = np.where(y, w * change[idx], 0).sum(axis=1) / np.where(y, w, 0).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns of separation, as it should here
        for f in np.flatnonzero(~fits.exact):
            i = idx[f]
            boot[f] = _ipw_mean(x[i], done[i], change[i], params)[0]
    return boot


def bounds(casework: pd.DataFrame) -> pd.DataFrame:
    """Per measure, simple bounds for the mean change over every base case: each case without
    a complete pair (open, unscored or not followed up) is given the complete cases' 10th
    (bound_p10), then 90th (bound_p90) percentile change (numpy's linear interpolation). A
    plausible range, not worst-case limits."""
    rows = []
    for measure in MEASURES:
        df = _groups(casework, measure)
        change = (df["close"] - df["alloc"])[df["completer"]].to_numpy()
        q10, q90 = np.quantile(change, BOUND_QUANTILES)
        missing = len(df) - change.size
        rows.append({"measure": measure, "n_pairs": change.size, "cases": len(df),
                     "change_p10": q10, "change_p90": q90,
                     "bound_p10": (change.sum() + missing * q10) / len(df),
                     "bound_p90": (change.sum() + missing * q90) / len(df)})  # fmt: skip
    return pd.DataFrame(rows).set_index("measure")


def ipw_outcomes(casework: pd.DataFrame, seed: int, resamples: int = RESAMPLES) -> pd.DataFrame:
    """Per measure, a sensitivity analysis for missing closure measures, with `bounds`.

    Among closed cases with an allocation score, a logistic model (GLM Binomial) of having the
    closure score on the allocation score, whole-family engagement and closure as disengaged;
    completers are weighted by the stabilised inverse probability P(complete) / P(complete |
    covariates) and the weighted mean change has a percentile bootstrap 95% interval (cases
    resampled, the model refitted, `resamples` times, seeded by `seed`). It assumes the closure
    score is missing at random given those three, and speaks for closed cases (open cases have
    no closure reason yet)."""
    rng = np.random.default_rng(seed)
    # Resample in an order set by the cases' contents, not their keys: the same casework under
    # other pseudonyms gives the same interval.
    casework = casework.sort_values([c for c in casework.columns if c not in KEYS],
                                    kind="mergesort")  # fmt: skip
    rows = []
    for measure in MEASURES:
        df = _groups(casework, measure)
        model = df[df["closed"] & df["alloc"].notna()]
        x = add_constant(model[["alloc", "whole_family", "disengaged"]].to_numpy(dtype=float),
                            has_constant="add")  # fmt: skip
        done = model["completer"].to_numpy()
        change = (model["close"] - model["alloc"]).to_numpy()
        if done.all() or not done.any():  # nothing to reweight, or no one to weight
            rows.append({"measure": measure, "n_model": len(model),
                         "cc_mean_change": change[done].mean() if done.any() else math.nan})
            continue
        estimate, weights, params = _ipw_mean(x, done, change)
        boot = _ipw_bootstrap(x, done, change, params, rng, resamples)
        # A refit that fails (e.g. perfect separation on a tiny book) is dropped, not allowed
        # to blank the interval; `resamples` counts the refits used.
        boot = boot[np.isfinite(boot)]
        rows.append({
            "measure": measure, "n_model": len(model),
            "cc_mean_change": change[done].mean(),
            "ipw_mean_change": estimate, "ipw_ci_low": np.quantile(boot, 0.025),
            "ipw_ci_high": np.quantile(boot, 0.975), "resamples": len(boot),
            "max_weight": weights.max(),
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("measure").join(bounds(casework))


def engagement_regression(casework: pd.DataFrame) -> pd.DataFrame:
    """Per measure: OLS of change on whole-family engagement (1) against the REFERENCE pattern
    (0), adjusted for the allocation score, among complete pairs in those two patterns (the
    other patterns are left out); HC3 robust standard errors, normal 95% interval. An association:
    families were not allocated to engagement patterns at random."""
    rows = []
    for measure in MEASURES:
        ref = REFERENCE[measure]
        df = _groups(casework, measure)
        df = df[df["completer"] & df["pattern"].isin(["whole_family", ref])]
        row = {"measure": measure, "reference": ref, "n": len(df),
               "n_whole_family": int(df["whole_family"].sum()),
               "n_reference": int((df["pattern"] == ref).sum())}  # fmt: skip
        if min(row["n_whole_family"], row["n_reference"]) >= 2:
            x = add_constant(df[["whole_family", "alloc"]].to_numpy(dtype=float),
                                has_constant="add")  # fmt: skip
            fit = OLS((df["close"] - df["alloc"]).to_numpy(), x).fit(cov_type="HC3")
            ci = fit.conf_int()[1]
            row |= {"difference": fit.params[1], "ci_low": ci[0], "ci_high": ci[1],
                    "p": fit.pvalues[1], "alloc_slope": fit.params[2]}  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows).set_index("measure")
