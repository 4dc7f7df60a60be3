"""The professionals' e-survey: baseline against follow-up, item by item and by scale.

The two waves are independent samples (responses are not linked across waves), so every
comparison is between two groups, follow-up against baseline. Per item the primary test is the
two-sided Mann-Whitney U with the rank-biserial correlation; the secondary analysis is a
proportional-odds model of the item on wave adjusted for agency. Each family of eight p-values
(Mann-Whitney; ordinal logit) is adjusted across the items separately, by the method of the
config key `analysis.survey_adjustment`. Only the wave, agency, role and item columns are ever
read: the free-text `comment` never is.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from gf_eval import codes
from gf_eval.stats.prepost import ordinal_logit, ordinal_two_groups
from gf_eval.stats.reliability import cronbach_alpha

BASELINE, FOLLOW_UP = codes.SURVEY_WAVES
ITEMS = tuple(codes.SURVEY_ITEMS)
SCALES: dict[str, tuple[str, ...]] = {
    scale: tuple(i for i, (s, _) in codes.SURVEY_ITEMS.items() if s == scale)
    for scale in dict.fromkeys(s for s, _ in codes.SURVEY_ITEMS.values())
}
ADJUSTMENTS = {"holm": "Holm (family-wise error rate)",
               "fdr_bh": "Benjamini-Hochberg (false discovery rate)"}  # fmt: skip
# A scale score needs all but one of the scale's items answered: one skip is common (about 3%
# of answers are blank) and the other items still measure the scale; two would lean on few.
MAX_SKIPPED = 1
COLUMNS = ("wave", "agency", "role", *ITEMS)


def answers(survey: pd.DataFrame) -> pd.DataFrame:
    """The columns the analyses use (never the comment), with items as floats (NaN = skipped)."""
    out = survey[list(COLUMNS)].copy()
    for col in ("wave", "agency", "role"):
        out[col] = out[col].astype(object)
    if bad := sorted(set(out["wave"].dropna()) - set(codes.SURVEY_WAVES)):
        raise ValueError(f"unknown survey waves: {bad}")
    for item in ITEMS:
        out[item] = out[item].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        known = out[item].dropna()
        if ((known < codes.LIKERT_MIN) | (known > codes.LIKERT_MAX) | (known % 1 != 0)).any():
            raise ValueError(f"item {item} has values outside {codes.LIKERT_MIN}..."
                             f"{codes.LIKERT_MAX}")  # fmt: skip
    return out


def _by_wave(values: pd.Series, wave: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    x = values.to_numpy(dtype=float)
    return x[(wave == BASELINE).to_numpy()], x[(wave == FOLLOW_UP).to_numpy()]


def adjust(pvalues, method: str) -> np.ndarray:
    """p-values adjusted across the family by `method` ("holm" or "fdr_bh"); NaN stays NaN and
    is not counted in the family."""
    if method not in ADJUSTMENTS:
        raise ValueError(f"adjustment must be one of {sorted(ADJUSTMENTS)}, got {method!r}")
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def rank_biserial_ci(before, after, level: float = 0.95) -> tuple[float, float]:
    """Interval for r = P(after > before) - P(after < before), ties counting half.

    The variance of U1 / (n0 n1) is DeLong's, from each value's placement among the other
    group's values (valid with ties); the interval is Wald on the Fisher z (atanh) scale so that
    its limits stay inside (-1, 1). NaN when either group has fewer than 2 values or r = +-1.
    """
    x0 = np.asarray(before, dtype=float)
    x1 = np.asarray(after, dtype=float)
    x0, x1 = x0[~np.isnan(x0)], x1[~np.isnan(x1)]
    if x0.size < 2 or x1.size < 2:
        return math.nan, math.nan
    s0, s1 = np.sort(x0), np.sort(x1)
    # share of the other group below each value, ties counting half
    v1 = (np.searchsorted(s0, x1, "left") + np.searchsorted(s0, x1, "right")) / (2 * x0.size)
    v0 = 1 - (np.searchsorted(s1, x0, "left") + np.searchsorted(s1, x0, "right")) / (2 * x1.size)
    r = 2 * v1.mean() - 1
    se_r = 2 * math.sqrt(v1.var(ddof=1) / x1.size + v0.var(ddof=1) / x0.size)
    if abs(r) >= 1 or se_r == 0:
        return math.nan, math.nan
    half = stats.norm.isf((1 - level) / 2) * se_r / (1 - r * r)
    return math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half)


def _welch(x0: np.ndarray, x1: np.ndarray, level: float) -> tuple[float, float, float]:
    """(low, high, p) of mean(x1) - mean(x0) by Welch's t; NaN with fewer than 2 per group."""
    if x0.size < 2 or x1.size < 2:
        return math.nan, math.nan, math.nan
    res = stats.ttest_ind(x1, x0, equal_var=False)
    ci = res.confidence_interval(level)
    return float(ci.low), float(ci.high), float(res.pvalue)


def _mean_ci(x: np.ndarray, level: float) -> tuple[float, float]:
    if x.size < 2:
        return math.nan, math.nan
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(level)
    return float(ci.low), float(ci.high)


def item_summaries(survey: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per item (rows q01...): answered and skipped per wave, median and mean per wave, the mean
    difference with Welch's interval, and the Mann-Whitney U test (follow-up against baseline)
    with the rank-biserial correlation and its interval (`rank_biserial_ci`)."""
    ans = answers(survey)
    rows = {}
    for item, (scale, _wording) in codes.SURVEY_ITEMS.items():
        x0_all, x1_all = _by_wave(ans[item], ans["wave"])
        x0, x1 = x0_all[~np.isnan(x0_all)], x1_all[~np.isnan(x1_all)]
        row = {"scale": scale, f"n_{BASELINE}": x0.size, f"n_{FOLLOW_UP}": x1.size,
               f"missing_{BASELINE}": int(np.isnan(x0_all).sum()),
               f"missing_{FOLLOW_UP}": int(np.isnan(x1_all).sum())}  # fmt: skip
        for wave, x in ((BASELINE, x0), (FOLLOW_UP, x1)):
            row[f"median_{wave}"] = float(np.median(x)) if x.size else math.nan
            row[f"mean_{wave}"] = float(x.mean()) if x.size else math.nan
        row["mean_difference"] = row[f"mean_{FOLLOW_UP}"] - row[f"mean_{BASELINE}"]
        row["md_ci_low"], row["md_ci_high"], row["welch_p"] = _welch(x0, x1, level)
        if x0.size and x1.size:
            mw = ordinal_two_groups(x0, x1)
            row.update(u_statistic=mw.u1, mw_p=mw.p_value, rank_biserial=mw.rank_biserial)
        else:
            row.update(u_statistic=math.nan, mw_p=math.nan, rank_biserial=math.nan)
        row["rb_ci_low"], row["rb_ci_high"] = rank_biserial_ci(x0, x1, level)
        rows[item] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "item"
    return out


def _logit(ans: pd.DataFrame, item: str, level: float) -> dict:
    """Proportional-odds log odds ratio for follow-up, adjusted for agency; NaN when the model
    cannot be fitted or does not converge (a non-converged estimate is not reported)."""
    empty = {"log_odds_ratio": math.nan, "lor_ci_low": math.nan, "lor_ci_high": math.nan,
             "logit_p": math.nan, "logit_n": 0, "logit_converged": False}  # fmt: skip
    try:
        res = ordinal_logit(ans, item, "wave", ["agency"], alpha=1 - level, group1=FOLLOW_UP)
    except (ValueError, np.linalg.LinAlgError):
        return empty
    if not (res.converged and math.isfinite(res.se)):
        return {**empty, "logit_n": res.n}
    return {"log_odds_ratio": res.estimate, "lor_ci_low": res.ci_low, "lor_ci_high": res.ci_high,
            "logit_p": res.p_value, "logit_n": res.n, "logit_converged": True}  # fmt: skip


def item_tests(survey: pd.DataFrame, adjustment: str, level: float = 0.95) -> pd.DataFrame:
    """`item_summaries` plus, per item, the ordinal logit of the item on wave adjusted for
    agency (log odds ratio for follow-up, interval, p), and both families of p-values adjusted
    across the items by `adjustment`: mw_p_adjusted (the primary item test) and
    logit_p_adjusted (separately). `significant`: mw_p_adjusted below 1 - level."""
    if adjustment not in ADJUSTMENTS:
        raise ValueError(f"adjustment must be one of {sorted(ADJUSTMENTS)}, got {adjustment!r}")
    out = item_summaries(survey, level)
    ans = answers(survey)
    logit = pd.DataFrame.from_dict({item: _logit(ans, item, level) for item in ITEMS},
                                   orient="index")  # fmt: skip
    out = out.join(logit)
    out["mw_p_adjusted"] = adjust(out["mw_p"], adjustment)
    out["logit_p_adjusted"] = adjust(out["logit_p"], adjustment)
    out["significant"] = out["mw_p_adjusted"] < 1 - level
    return out


def respondent_scores(survey: pd.DataFrame) -> pd.DataFrame:
    """Per response: the wave and each scale's score, the mean of its answered items when no
    more than MAX_SKIPPED of them were skipped (else NaN)."""
    ans = answers(survey)
    out = ans[["wave"]].copy()
    for scale, items in SCALES.items():
        answered = ans[list(items)].notna().sum(axis=1)
        score = ans[list(items)].mean(axis=1, skipna=True)
        out[scale] = score.where(answered >= len(items) - MAX_SKIPPED)
    return out


def _alpha(items: pd.DataFrame, level: float) -> tuple[float, float, float, int]:
    try:
        res = cronbach_alpha(items, level)
    except ValueError:  # fewer than 3 complete responses
        return math.nan, math.nan, math.nan, int(items.notna().all(axis=1).sum())
    return res.alpha, res.ci_low, res.ci_high, res.n


def scale_scores(survey: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per scale: responses and scored responses per wave, the mean score per wave with its t
    interval, the difference (follow-up - baseline) with Welch's interval and p, and Cronbach's
    alpha on complete responses: both waves together (with Feldt's interval) and per wave."""
    ans = answers(survey)
    scores = respondent_scores(survey)
    rows = {}
    for scale, items in SCALES.items():
        x0_all, x1_all = _by_wave(scores[scale], scores["wave"])
        x0, x1 = x0_all[~np.isnan(x0_all)], x1_all[~np.isnan(x1_all)]
        row: dict[str, object] = {"items": ", ".join(items), "min_answered": len(items) - 1}
        for wave, x_all, x in ((BASELINE, x0_all, x0), (FOLLOW_UP, x1_all, x1)):
            row[f"respondents_{wave}"] = x_all.size
            row[f"scored_{wave}"] = x.size
            row[f"mean_{wave}"] = float(x.mean()) if x.size else math.nan
            row[f"mean_{wave}_ci_low"], row[f"mean_{wave}_ci_high"] = _mean_ci(x, level)
        row["difference"] = row[f"mean_{FOLLOW_UP}"] - row[f"mean_{BASELINE}"]
        row["difference_ci_low"], row["difference_ci_high"], row["welch_p"] = _welch(x0, x1, level)
        block = ans[list(items)]
        row["alpha"], row["alpha_ci_low"], row["alpha_ci_high"], row["alpha_n"] = _alpha(
            block, level
        )
        for wave in codes.SURVEY_WAVES:
            row[f"alpha_{wave}"] = _alpha(block[(ans["wave"] == wave).to_numpy()], level)[0]
        rows[scale] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "scale"
    return out
