"""Comparisons between two windows: "pre" (the reference) and "post" (the comparison).

Every function returns a small frozen results object with the estimate, its interval, the test,
the numbers of observations used and a `method` string saying exactly what was computed; call
`summary()` for a readable account. Direction is always post relative to pre (post - pre, or
post / pre) unless a function says otherwise.

- `rate_ratio`: ratio of two Poisson rates, exact conditional (Clopper-Pearson) or mid-p.
- `proportions`: difference (Newcombe hybrid score) and ratio (Katz log) of two proportions,
  with Pearson's chi-square or, for small expected counts, Fisher's exact test.
- `paired_continuous`: mean change with paired t and Wilcoxon signed-rank tests, d_z and d_av.
- `paired_binary`: McNemar's exact test.
- `ordinal_two_groups`: Mann-Whitney U with the rank-biserial correlation.
- `ordinal_logit`: proportional-odds (ordered logit) model for a two-group comparison.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import confint_proportions_2indep

__all__ = [
    "RateRatioResult",
    "ProportionsResult",
    "PairedContinuousResult",
    "PairedBinaryResult",
    "OrdinalTwoGroupsResult",
    "OrdinalLogitResult",
    "rate_ratio",
    "proportions",
    "paired_continuous",
    "paired_binary",
    "ordinal_two_groups",
    "ordinal_logit",
]

RATE_RATIO_METHODS = ("exact", "midp")


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------


def _number(value, name: str) -> float:
    # bool is a numbers.Real, but True/False as a count or exposure is almost surely a mistake
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _count(value, name: str) -> int:
    value = _number(value, name)
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value:g}")
    if value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value:g}")
    return int(value)


def _positive(value, name: str) -> float:
    value = _number(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value:g}")
    return value


def _alpha(alpha) -> float:
    alpha = _number(alpha, "alpha")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha:g}")
    return alpha


def _numeric_array(values, name: str) -> np.ndarray:
    """1-D float array; None/NaN/pd.NA become NaN, anything non-numeric raises."""
    if isinstance(values, (str, bytes)) or np.ndim(values) != 1:
        raise ValueError(f"{name} must be a one-dimensional sequence of numbers")
    series = pd.Series(values)
    if isinstance(series.dtype, pd.CategoricalDtype):
        raise ValueError(f"{name} is categorical; pass numeric scores instead")
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        # object columns: accept real numbers and missing markers only; strings such as "3" and
        # True/False are refused rather than silently converted
        for value in series:
            if pd.isna(value):
                continue
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                raise ValueError(
                    f"{name} must contain only numbers or missing values, found {value!r}"
                )
        series = series.astype(object).where(series.notna(), np.nan)
    out = series.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(out).any():
        raise ValueError(f"{name} contains infinite values")
    return out


def _pairs(before, after) -> tuple[np.ndarray, np.ndarray, int]:
    """Numeric before/after arrays with incomplete pairs removed, and the number removed."""
    x0 = _numeric_array(before, "before")
    x1 = _numeric_array(after, "after")
    if x0.size != x1.size:
        raise ValueError(f"before and after differ in length ({x0.size} vs {x1.size})")
    keep = ~(np.isnan(x0) | np.isnan(x1))
    n_dropped = int((~keep).sum())
    if keep.sum() < 2:
        raise ValueError(f"need at least 2 complete pairs, got {int(keep.sum())}")
    return x0[keep], x1[keep], n_dropped


def _scalar(value):
    """numpy scalars as plain Python values, so results print and serialise cleanly."""
    return value.item() if isinstance(value, np.generic) else value


def _fmt_p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


class _Result:
    """Shared helpers for the frozen results dataclasses."""

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    def __str__(self) -> str:
        return self.summary()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# 1. rate ratio
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateRatioResult(_Result):
    """Ratio of the post rate to the pre rate, with interval and test of RR = 1."""

    count_post: int
    exposure_post: float
    count_pre: int
    exposure_pre: float
    rate_post: float
    rate_pre: float
    estimate: float  # rate ratio, post / pre
    ci_low: float
    ci_high: float
    statistic: int  # count_post: the binomial test statistic, conditional on n_total
    n_total: int
    null_proportion: float  # exposure_post / (exposure_post + exposure_pre)
    p_value: float
    alpha: float
    method: str

    @property
    def relative_change(self) -> tuple[float, float, float]:
        """(estimate, ci_low, ci_high) as relative changes, RR - 1 (-0.25 = 25% reduction)."""
        return self.estimate - 1, self.ci_low - 1, self.ci_high - 1

    def summary(self) -> str:
        level = round(100 * (1 - self.alpha), 6)
        return "\n".join(
            [
                "Rate ratio (post / pre)",
                f"  post: {self.count_post} events / {self.exposure_post:g} exposure"
                f" = rate {self.rate_post:.6g}",
                f"  pre:  {self.count_pre} events / {self.exposure_pre:g} exposure"
                f" = rate {self.rate_pre:.6g}",
                f"  rate ratio {self.estimate:.4f}, {level:g}% CI {self.ci_low:.4f} to"
                f" {self.ci_high:.4f}",
                f"  test of RR = 1: post count {self.statistic} of {self.n_total},"
                f" null proportion {self.null_proportion:.4f}, p = {_fmt_p(self.p_value)}",
                f"  method: {self.method}",
            ]
        )


def _p_to_rr(p: float, exposure_post: float, exposure_pre: float) -> float:
    # p = e1 RR / (e1 RR + e0)  <=>  RR = p / (1 - p) * e0 / e1
    if p >= 1:
        return math.inf
    return p / (1 - p) * exposure_pre / exposure_post


def _midp_limits(c1: int, n: int, alpha: float) -> tuple[float, float]:
    """Mid-p limits for a binomial proportion, found by root finding on the defining equations."""
    tail = alpha / 2
    if c1 == 0:
        p_low = 0.0
    else:
        # P(X > c1) + 0.5 P(X = c1) rises from 0 at p = 0 to >= 0.5 at p = 1
        def upper_tail(p):
            return stats.binom.sf(c1, n, p) + 0.5 * stats.binom.pmf(c1, n, p) - tail

        p_low = optimize.brentq(upper_tail, 0.0, 1.0, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    if c1 == n:
        p_high = 1.0
    else:
        # P(X < c1) + 0.5 P(X = c1) falls from >= 0.5 at p = 0 to 0 at p = 1
        def lower_tail(p):
            return stats.binom.cdf(c1 - 1, n, p) + 0.5 * stats.binom.pmf(c1, n, p) - tail

        p_high = optimize.brentq(lower_tail, 0.0, 1.0, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    return float(p_low), float(p_high)


def rate_ratio(
    count_post,
    exposure_post,
    count_pre,
    exposure_pre,
    method: str = "exact",
    alpha: float = 0.05,
) -> RateRatioResult:
    """Rate ratio (post rate / pre rate) with a conditional binomial interval and test.

    Given the total n = count_post + count_pre, count_post ~ Binomial(n, p) with
    p = e1 RR / (e1 RR + e0); limits for p are mapped to RR. ``method="exact"`` gives
    Clopper-Pearson limits and the exact test (doubled smaller tail); ``"midp"`` gives mid-p
    limits and the mid-p test. A zero post count gives a lower limit of 0; a zero pre count an
    upper limit (and estimate) of infinity.
    """
    c1 = _count(count_post, "count_post")
    c0 = _count(count_pre, "count_pre")
    e1 = _positive(exposure_post, "exposure_post")
    e0 = _positive(exposure_pre, "exposure_pre")
    alpha = _alpha(alpha)
    if method not in RATE_RATIO_METHODS:
        raise ValueError(f"method must be one of {RATE_RATIO_METHODS}, got {method!r}")
    n = c1 + c0
    if n == 0:
        raise ValueError("no events in either window: the rate ratio is not estimable")

    rate1, rate0 = c1 / e1, c0 / e0
    estimate = math.inf if c0 == 0 else rate1 / rate0
    p0 = e1 / (e1 + e0)

    if method == "exact":
        ci = stats.binomtest(c1, n, p0).proportion_ci(confidence_level=1 - alpha, method="exact")
        p_low, p_high = float(ci.low), float(ci.high)
        # scipy's two-sided binomtest sums outcomes no likelier than the observed one; the
        # brief's convention (and the one matching the Clopper-Pearson limits) doubles the
        # smaller one-sided tail instead
        lower_tail = stats.binomtest(c1, n, p0, alternative="less").pvalue  # P(X <= c1)
        upper_tail = stats.binomtest(c1, n, p0, alternative="greater").pvalue  # P(X >= c1)
        p_value = min(1.0, 2 * min(lower_tail, upper_tail))
        description = (
            "exact conditional test and interval: given the total count, post count ~"
            " Binomial(n, p), p = e1*RR/(e1*RR + e0); Clopper-Pearson limits for p mapped to"
            " RR; two-sided p = min(1, 2*min(P(X<=c1), P(X>=c1))) at p0 = e1/(e1+e0)"
        )
    else:
        p_low, p_high = _midp_limits(c1, n, alpha)
        half = 0.5 * stats.binom.pmf(c1, n, p0)
        lower_tail = stats.binom.cdf(c1 - 1, n, p0) + half
        upper_tail = stats.binom.sf(c1, n, p0) + half
        p_value = min(1.0, 2 * min(lower_tail, upper_tail))
        description = (
            "mid-p conditional test and interval: given the total count, post count ~"
            " Binomial(n, p), p = e1*RR/(e1*RR + e0); limits solve"
            " P(X>c1)+P(X=c1)/2 = alpha/2 (lower) and P(X<c1)+P(X=c1)/2 = alpha/2 (upper);"
            " two-sided p = min(1, 2*min(P(X<c1), P(X>c1)) + P(X=c1)) at p0 = e1/(e1+e0)"
        )

    return RateRatioResult(
        count_post=c1,
        exposure_post=e1,
        count_pre=c0,
        exposure_pre=e0,
        rate_post=rate1,
        rate_pre=rate0,
        estimate=estimate,
        ci_low=0.0 if c1 == 0 else _p_to_rr(p_low, e1, e0),
        ci_high=math.inf if c0 == 0 else _p_to_rr(p_high, e1, e0),
        statistic=c1,
        n_total=n,
        null_proportion=p0,
        p_value=float(p_value),
        alpha=alpha,
        method=description,
    )


# ---------------------------------------------------------------------------------------------
# 2. two independent proportions
# ---------------------------------------------------------------------------------------------

CHI_SQUARE = "Pearson chi-square, no continuity correction"
FISHER = "Fisher's exact test, two-sided"


@dataclass(frozen=True)
class ProportionsResult(_Result):
    """Difference and ratio of two independent proportions (post vs pre), with a test."""

    successes_post: int
    n_post: int
    successes_pre: int
    n_pre: int
    p_post: float
    p_pre: float
    estimate: float  # difference, p_post - p_pre
    ci_low: float  # Newcombe hybrid score interval for the difference
    ci_high: float
    ratio: float  # p_post / p_pre
    ratio_ci_low: float  # Katz log interval for the ratio
    ratio_ci_high: float
    test: str  # CHI_SQUARE or FISHER
    statistic: float  # chi-square statistic (df 1); NaN when Fisher's test is used
    min_expected: float
    p_value: float
    alpha: float
    method: str

    def summary(self) -> str:
        level = round(100 * (1 - self.alpha), 6)
        stat = "" if math.isnan(self.statistic) else f"chi2(1) = {self.statistic:.4f}, "
        return "\n".join(
            [
                "Two independent proportions (post vs pre)",
                f"  post: {self.successes_post}/{self.n_post} = {self.p_post:.4f}",
                f"  pre:  {self.successes_pre}/{self.n_pre} = {self.p_pre:.4f}",
                f"  difference (post - pre) {self.estimate:.4f}, {level:g}% CI"
                f" {self.ci_low:.4f} to {self.ci_high:.4f} (Newcombe hybrid score)",
                f"  ratio (post / pre) {self.ratio:.4f}, {level:g}% CI {self.ratio_ci_low:.4f}"
                f" to {self.ratio_ci_high:.4f} (Katz log)",
                f"  {self.test}: {stat}p = {_fmt_p(self.p_value)}"
                f" (smallest expected count {self.min_expected:.2f})",
                f"  method: {self.method}",
            ]
        )


def proportions(successes_post, n_post, successes_pre, n_pre, alpha: float = 0.05):
    """Compare two independent proportions: difference (post - pre) and ratio (post / pre).

    Difference: Newcombe's hybrid score interval (his method 10). Ratio: Katz log interval,
    undefined (NaN) when either success count is 0. Test: Pearson chi-square without continuity
    correction when every expected count is >= 5, otherwise Fisher's exact test (two-sided).
    """
    s1 = _count(successes_post, "successes_post")
    s0 = _count(successes_pre, "successes_pre")
    n1 = _count(n_post, "n_post")
    n0 = _count(n_pre, "n_pre")
    alpha = _alpha(alpha)
    for s, n, label in ((s1, n1, "post"), (s0, n0, "pre")):
        if n == 0:
            raise ValueError(f"n_{label} is 0: the {label} group is empty")
        if s > n:
            raise ValueError(f"successes_{label} ({s}) exceeds n_{label} ({n})")

    p1, p0 = s1 / n1, s0 / n0
    diff_low, diff_high = confint_proportions_2indep(
        s1, n1, s0, n0, method="newcomb", compare="diff", alpha=alpha
    )
    if s0 == 0:
        ratio = math.nan if s1 == 0 else math.inf  # 0/0 has no value
    else:
        ratio = p1 / p0
    if s1 == 0 or s0 == 0:
        # Katz's variance has 1/a and 1/c terms: no finite interval with a zero count
        ratio_low = ratio_high = math.nan
        ratio_note = "; Katz interval undefined (zero count), reported as NaN"
    else:
        ratio_low, ratio_high = confint_proportions_2indep(
            s1, n1, s0, n0, method="log", compare="ratio", alpha=alpha
        )
        ratio_note = ""

    table = np.array([[s1, n1 - s1], [s0, n0 - s0]])
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    min_expected = float(expected.min())
    if min_expected >= 5:
        chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
        test, statistic = CHI_SQUARE, float(chi2)
    else:
        test, statistic = FISHER, math.nan
        p_value = stats.fisher_exact(table, alternative="two-sided").pvalue

    return ProportionsResult(
        successes_post=s1,
        n_post=n1,
        successes_pre=s0,
        n_pre=n0,
        p_post=p1,
        p_pre=p0,
        estimate=p1 - p0,
        ci_low=float(diff_low),
        ci_high=float(diff_high),
        ratio=ratio,
        ratio_ci_low=float(ratio_low),
        ratio_ci_high=float(ratio_high),
        test=test,
        statistic=statistic,
        min_expected=min_expected,
        p_value=float(p_value),
        alpha=alpha,
        method=(
            "difference p_post - p_pre with Newcombe (1998) hybrid score interval (Wilson limits"
            " combined); ratio p_post / p_pre with Katz log interval"
            f"{ratio_note}; test: {test} (chi-square when all expected counts >= 5, else"
            " Fisher's exact)"
        ),
    )


# ---------------------------------------------------------------------------------------------
# 3. paired continuous
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedContinuousResult(_Result):
    """Mean within-pair change (after - before) with paired t and Wilcoxon tests."""

    n: int  # complete pairs used
    n_dropped: int  # pairs with a missing value
    mean_before: float
    mean_after: float
    sd_before: float
    sd_after: float
    estimate: float  # mean change, after - before
    sd_change: float
    se: float
    ci_low: float  # t interval
    ci_high: float
    t_statistic: float
    df: int
    t_p_value: float
    wilcoxon_statistic: float  # scipy's two-sided statistic: min(W+, W-)
    wilcoxon_p_value: float
    n_zero_differences: int  # discarded by the Wilcoxon test (zero_method="wilcox")
    d_z: float  # mean change / SD of changes
    d_av: float  # mean change / mean of the before and after SDs
    alpha: float
    method: str

    def summary(self) -> str:
        level = round(100 * (1 - self.alpha), 6)
        return "\n".join(
            [
                "Paired continuous comparison (after - before)",
                f"  pairs used {self.n}, dropped for missing values {self.n_dropped}",
                f"  before mean {self.mean_before:.4f} (SD {self.sd_before:.4f}),"
                f" after mean {self.mean_after:.4f} (SD {self.sd_after:.4f})",
                f"  mean change {self.estimate:.4f} (SD {self.sd_change:.4f}, SE {self.se:.4f}),"
                f" {level:g}% CI {self.ci_low:.4f} to {self.ci_high:.4f}",
                f"  paired t({self.df}) = {self.t_statistic:.4f}, p = {_fmt_p(self.t_p_value)}",
                f"  Wilcoxon signed-rank W = {self.wilcoxon_statistic:g},"
                f" p = {_fmt_p(self.wilcoxon_p_value)}"
                f" ({self.n_zero_differences} zero differences discarded)",
                f"  effect size d_z {self.d_z:.4f}, d_av {self.d_av:.4f}",
                f"  method: {self.method}",
            ]
        )


def paired_continuous(before, after, alpha: float = 0.05) -> PairedContinuousResult:
    """Paired comparison of a continuous measure, change = after - before.

    Pairs with either value missing are dropped. Reports the mean change with its t interval,
    the paired t test, the Wilcoxon signed-rank test (scipy defaults: zero differences
    discarded, zero_method="wilcox"), d_z = mean change / SD of changes and
    d_av = mean change / ((SD before + SD after) / 2).
    """
    alpha = _alpha(alpha)
    x0, x1, n_dropped = _pairs(before, after)
    d = x1 - x0
    n = d.size
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    sd0, sd1 = float(x0.std(ddof=1)), float(x1.std(ddof=1))
    # constant differences (sd = 0) or all-zero differences make t and W degenerate: let the
    # NaN/inf through rather than warn
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        tt = stats.ttest_rel(x1, x0)
        ci = tt.confidence_interval(confidence_level=1 - alpha)
        wx = stats.wilcoxon(d, zero_method="wilcox")
        d_z = mean / sd if sd > 0 else math.copysign(math.inf, mean) if mean else math.nan
        sd_av = (sd0 + sd1) / 2
        d_av = mean / sd_av if sd_av > 0 else math.copysign(math.inf, mean) if mean else math.nan

    return PairedContinuousResult(
        n=n,
        n_dropped=n_dropped,
        mean_before=float(x0.mean()),
        mean_after=float(x1.mean()),
        sd_before=sd0,
        sd_after=sd1,
        estimate=mean,
        sd_change=sd,
        se=sd / math.sqrt(n),
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        t_statistic=float(tt.statistic),
        df=int(tt.df),
        t_p_value=float(tt.pvalue),
        wilcoxon_statistic=float(wx.statistic),
        wilcoxon_p_value=float(wx.pvalue),
        n_zero_differences=int((d == 0).sum()),
        d_z=d_z,
        d_av=d_av,
        alpha=alpha,
        method=(
            "change = after - before over complete pairs; mean change with t interval and"
            " two-sided paired t test (scipy.stats.ttest_rel); two-sided Wilcoxon signed-rank"
            " test (scipy.stats.wilcoxon defaults: zero_method='wilcox' discards zero"
            " differences, method='auto': exact null distribution for n <= 50 without ties or"
            " zeros, permutation distribution for n <= 13 with ties or zeros, otherwise normal"
            " approximation without continuity correction); d_z = mean change / SD of changes;"
            " d_av = mean change / mean of before and after SDs"
        ),
    )


# ---------------------------------------------------------------------------------------------
# 4. paired binary
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedBinaryResult(_Result):
    """McNemar's exact test on paired 0/1 outcomes."""

    n: int  # complete pairs used
    n_dropped: int
    n11: int  # before 1, after 1
    b: int  # before 1, after 0
    c: int  # before 0, after 1
    n00: int  # before 0, after 0
    p_before: float
    p_after: float
    estimate: float  # p_after - p_before = (c - b) / n
    statistic: float  # min(b, c), the exact test's statistic
    p_value: float
    method: str

    def summary(self) -> str:
        return "\n".join(
            [
                "Paired binary comparison (after vs before)",
                f"  pairs used {self.n}, dropped for missing values {self.n_dropped}",
                "                after=1  after=0",
                f"    before=1   {self.n11:>7}  {self.b:>7}",
                f"    before=0   {self.c:>7}  {self.n00:>7}",
                f"  proportion before {self.p_before:.4f}, after {self.p_after:.4f},"
                f" change {self.estimate:+.4f}",
                f"  McNemar exact: discordant b = {self.b}, c = {self.c},"
                f" p = {_fmt_p(self.p_value)}",
                f"  method: {self.method}",
            ]
        )


def _binary_array(values, name: str) -> np.ndarray:
    if isinstance(values, (str, bytes)) or np.ndim(values) != 1:
        raise ValueError(f"{name} must be a one-dimensional sequence of 0/1 values")
    series = pd.Series(values)
    if pd.api.types.is_bool_dtype(series):
        series = series.astype("Float64")  # True/False are legitimate binary values here
    elif series.dtype == object:
        series = series.map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v)
    out = _numeric_array(series, name)
    bad = ~np.isnan(out) & (out != 0) & (out != 1)
    if bad.any():
        raise ValueError(f"{name} must contain only 0, 1 or missing values; found {out[bad][:5]}")
    return out


def paired_binary(before, after) -> PairedBinaryResult:
    """McNemar's exact test for paired 0/1 outcomes (pairs with a missing value are dropped).

    b counts pairs with before = 1 and after = 0, c pairs with before = 0 and after = 1; the
    two-sided p-value is the doubled smaller binomial tail of b on b + c trials at 1/2.
    """
    x0 = _binary_array(before, "before")
    x1 = _binary_array(after, "after")
    if x0.size != x1.size:
        raise ValueError(f"before and after differ in length ({x0.size} vs {x1.size})")
    keep = ~(np.isnan(x0) | np.isnan(x1))
    if keep.sum() < 2:
        raise ValueError(f"need at least 2 complete pairs, got {int(keep.sum())}")
    x0, x1 = x0[keep], x1[keep]
    n11 = int(((x0 == 1) & (x1 == 1)).sum())
    b = int(((x0 == 1) & (x1 == 0)).sum())
    c = int(((x0 == 0) & (x1 == 1)).sum())
    n00 = int(((x0 == 0) & (x1 == 0)).sum())
    n = x0.size
    # statsmodels reads the discordant cells off the off-diagonal; rows = before, cols = after
    res = mcnemar(np.array([[n11, b], [c, n00]]), exact=True)
    return PairedBinaryResult(
        n=n,
        n_dropped=int((~keep).sum()),
        n11=n11,
        b=b,
        c=c,
        n00=n00,
        p_before=(n11 + b) / n,
        p_after=(n11 + c) / n,
        estimate=(c - b) / n,
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        method=(
            "McNemar's exact test (statsmodels mcnemar, exact=True): min(b, c) ~"
            " Binomial(b + c, 1/2), two-sided p = min(1, 2*P(X <= min(b, c))); b = before 1 &"
            " after 0, c = before 0 & after 1; estimate = p_after - p_before"
        ),
    )


# ---------------------------------------------------------------------------------------------
# 5. ordinal outcome, two independent groups: Mann-Whitney
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrdinalTwoGroupsResult(_Result):
    """Mann-Whitney U with the rank-biserial correlation (positive = group 1 higher)."""

    n0: int
    n1: int
    n_dropped: int  # missing values removed from either group
    u1: float  # U of group 1: pairs with group 1 higher, ties counted half
    statistic: float  # same as u1 (the statistic scipy reports for group 1)
    p_value: float
    prob_superiority: float  # U1 / (n0 n1) = P(group1 > group0) + 0.5 P(tie)
    rank_biserial: float  # P(group1 > group0) - P(group1 < group0) = 2 U1 / (n0 n1) - 1
    method: str

    def summary(self) -> str:
        return "\n".join(
            [
                "Two independent groups, ordinal outcome (Mann-Whitney)",
                f"  n0 = {self.n0}, n1 = {self.n1}, missing dropped {self.n_dropped}",
                f"  U1 = {self.u1:g}, p = {_fmt_p(self.p_value)}",
                f"  P(group 1 > group 0) + P(tie)/2 = {self.prob_superiority:.4f}",
                f"  rank-biserial r = {self.rank_biserial:.4f}"
                " (positive: group 1 tends to higher values)",
                f"  method: {self.method}",
            ]
        )


def ordinal_two_groups(group0, group1) -> OrdinalTwoGroupsResult:
    """Mann-Whitney U test (two-sided) of group 1 against group 0, numeric ordinal scores.

    r = P(group1 > group0) - P(group1 < group0) = 2*U1/(n0*n1) - 1, where U1 counts the pairs in
    which the group 1 value is higher, ties counting half; r > 0 means group 1 tends higher.
    Missing values are dropped.
    """
    x0 = _numeric_array(group0, "group0")
    x1 = _numeric_array(group1, "group1")
    n_dropped = int(np.isnan(x0).sum() + np.isnan(x1).sum())
    x0, x1 = x0[~np.isnan(x0)], x1[~np.isnan(x1)]
    if x0.size == 0 or x1.size == 0:
        raise ValueError(
            f"both groups need at least one non-missing value (n0 = {x0.size}, n1 = {x1.size})"
        )
    # scipy reports U for its first sample, so group 1 goes first
    res = stats.mannwhitneyu(x1, x0, alternative="two-sided")
    u1 = float(res.statistic)
    n0, n1 = x0.size, x1.size
    return OrdinalTwoGroupsResult(
        n0=n0,
        n1=n1,
        n_dropped=n_dropped,
        u1=u1,
        statistic=u1,
        p_value=float(res.pvalue),
        prob_superiority=u1 / (n0 * n1),
        rank_biserial=2 * u1 / (n0 * n1) - 1,
        method=(
            "two-sided Mann-Whitney U (scipy.stats.mannwhitneyu defaults: exact when either"
            " group has <= 8 values and there are no ties, else normal approximation with tie"
            " and continuity corrections); U1 = U of group 1 (ties count half); rank-biserial"
            " r = 2*U1/(n0*n1) - 1 = P(group1 > group0) - P(group1 < group0)"
        ),
    )


# ---------------------------------------------------------------------------------------------
# 6. ordinal outcome: proportional-odds logistic regression
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrdinalLogitResult(_Result):
    """Group effect from a proportional-odds (ordered logit) model."""

    n: int  # rows used
    n_dropped: int  # rows with missing outcome, group or covariate
    outcome: str
    group: str
    group0_level: object  # level coded 0
    group1_level: object  # level coded 1
    categories: tuple  # outcome categories, lowest first
    covariates: tuple[str, ...]
    covariate_terms: tuple[str, ...]  # dummy columns entered into the model
    estimate: float  # log odds ratio for group 1 vs 0 (positive = higher categories)
    se: float
    ci_low: float  # Wald interval for the log odds ratio
    ci_high: float
    z_statistic: float
    p_value: float
    odds_ratio: float
    or_ci_low: float
    or_ci_high: float
    log_likelihood: float
    converged: bool
    alpha: float
    method: str

    def summary(self) -> str:
        level = round(100 * (1 - self.alpha), 6)
        cats = ", ".join(map(str, self.categories))
        covs = ", ".join(self.covariates) if self.covariates else "none"
        lines = [
            f"Ordered logit (proportional odds): {self.outcome} ~ {self.group}",
            f"  rows used {self.n}, dropped for missing values {self.n_dropped}",
            f"  outcome categories (low to high): {cats}",
            f"  group 1 = {self.group1_level!r}, group 0 = {self.group0_level!r};"
            f" covariates (categorical): {covs}",
            f"  log odds ratio {self.estimate:.4f} (SE {self.se:.4f}), {level:g}% CI"
            f" {self.ci_low:.4f} to {self.ci_high:.4f}, z = {self.z_statistic:.3f},"
            f" p = {_fmt_p(self.p_value)}",
            f"  odds ratio {self.odds_ratio:.4f}, {level:g}% CI {self.or_ci_low:.4f} to"
            f" {self.or_ci_high:.4f} (>1: group 1 tends to higher categories)",
            f"  log-likelihood {self.log_likelihood:.4f}, converged {self.converged}",
            f"  method: {self.method}",
        ]
        return "\n".join(lines)


def _group_levels(values: pd.Series, group: str, group1) -> tuple[object, object]:
    levels = pd.unique(values)
    if len(levels) != 2:
        raise ValueError(
            f"group column {group!r} must take exactly two values among the rows used,"
            f" found {len(levels)}: {list(levels)[:10]}"
        )
    if group1 is not None:
        if group1 not in set(levels):
            raise ValueError(f"group1={group1!r} is not a value of {group!r}: {list(levels)}")
        other = levels[0] if levels[1] == group1 else levels[1]
        return _scalar(other), _scalar(group1)
    if set(levels) == {0, 1}:  # also matches True/False and 0.0/1.0
        return (
            _scalar(next(v for v in levels if v == 0)),
            _scalar(next(v for v in levels if v == 1)),
        )
    if isinstance(values.dtype, pd.CategoricalDtype):
        # the later category in the column's own order is group 1
        order = [c for c in values.cat.categories if c in set(levels)]
        return _scalar(order[0]), _scalar(order[1])
    try:
        low, high = sorted(levels)
    except TypeError:
        raise ValueError(
            f"cannot order the values of {group!r}; pass group1= to say which is group 1"
        ) from None
    return _scalar(low), _scalar(high)


class _LogitOrderedModel(OrderedModel):
    """OrderedModel with the logistic cdf as `scipy.special.expit`: the same numbers as
    `scipy.stats.logistic.cdf` (whose `_cdf` it is), without the distribution machinery's
    argument checks, which took most of the time of a fit; and the analytic score of its
    log-likelihood, where statsmodels differentiates it numerically (k + 1 likelihoods a
    gradient: 20,000 of them for Appendix 8's eight fits). The standard errors still come from
    statsmodels' numerical Hessian."""

    def cdf(self, x):
        return special.expit(x)

    def score(self, params):
        """The gradient of `loglike` (that of `loglikeobs`: log(prob + 1e-20)) in the model's
        parameters: the exog coefficients, then the lowest threshold and the logs of the
        increments between thresholds (`transform_threshold_params`)."""
        params = np.asarray(params, dtype=float)
        k = self.k_levels - 1
        low, upp = self._bounds(params)
        prob = self.prob(low, upp) + 1e-20
        # The logistic density e(x)e(-x), 0 at the infinite outer thresholds.
        d_upp = special.expit(upp) * special.expit(-upp) / prob  # d loglike_i / d upp_i
        d_low = -special.expit(low) * special.expit(-low) / prob  # d loglike_i / d low_i
        score_exog = -(self.exog.T @ (d_upp + d_low)) if self.k_vars else np.zeros(0)
        # upp_i = thresh[y_i + 1] - xb_i and low_i = thresh[y_i] - xb_i: by threshold 1..k.
        y = np.asarray(self.endog, dtype=int)
        by_threshold = (np.bincount(y + 1, weights=d_upp, minlength=k + 2)
                        + np.bincount(y, weights=d_low, minlength=k + 2))[1:k + 1]  # fmt: skip
        # Threshold j is the lowest plus exp(increments 1..j-1): increment m moves j >= m.
        score_thresh = np.cumsum(by_threshold[::-1])[::-1]
        score_thresh[1:] *= np.exp(params[-k:][1:])
        return np.concatenate([score_exog, score_thresh])


def ordinal_logit(
    data: pd.DataFrame,
    outcome: str,
    group: str,
    covariates: Sequence[str] = (),
    alpha: float = 0.05,
    *,
    group1=None,
) -> OrdinalLogitResult:
    """Proportional-odds logistic model of an ordered outcome on a two-valued group.

    The outcome's order is its categorical order if it is an ordered Categorical, else the
    sorted distinct values. Group 1 is `group1` if given, else 1 for a 0/1 (or boolean) column,
    else the later category / larger sorted value. Covariates enter as categorical dummies
    (first level dropped); there is no constant, the thresholds play its part. The reported
    log odds ratio is positive when group 1 tends to higher outcome categories. Rows with a
    missing outcome, group or covariate are dropped.
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    if isinstance(covariates, str):
        covariates = (covariates,)
    covariates = tuple(covariates)
    alpha = _alpha(alpha)
    columns = [outcome, group, *covariates]
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"columns not in data: {missing}")
    if len(set(columns)) != len(columns):
        raise ValueError("outcome, group and covariates must be distinct columns")

    frame = data[columns].dropna()
    n_dropped = len(data) - len(frame)
    if len(frame) == 0:
        raise ValueError("no complete rows after dropping missing values")

    y = frame[outcome]
    if isinstance(y.dtype, pd.CategoricalDtype):
        if not y.cat.ordered:
            raise ValueError(f"outcome {outcome!r} is an unordered categorical; order it first")
        y = y.cat.remove_unused_categories()
    else:
        try:
            order = sorted(pd.unique(y))
        except TypeError:
            raise ValueError(
                f"cannot order the values of {outcome!r}; pass it as an ordered Categorical"
            ) from None
        y = pd.Series(pd.Categorical(y, categories=order, ordered=True), index=frame.index)
    categories = tuple(_scalar(c) for c in y.cat.categories)
    if len(categories) < 2:
        raise ValueError(f"outcome {outcome!r} has fewer than 2 categories among the rows used")

    level0, level1 = _group_levels(frame[group], group, group1)
    exog = pd.DataFrame({group: (frame[group] == level1).astype(float)}, index=frame.index)
    terms: list[str] = []
    for cov in covariates:
        dummies = pd.get_dummies(
            frame[cov].astype("category"), prefix=cov, prefix_sep="=", drop_first=True, dtype=float
        )
        # a level can disappear with the dropped rows; an all-zero column is not estimable
        dummies = dummies.loc[:, dummies.any(axis=0)]
        terms.extend(dummies.columns)
        exog = exog.join(dummies)
    exog.columns = exog.columns.astype(str)
    if len(set(exog.columns)) != exog.shape[1]:
        raise ValueError("covariate dummy names clash with the group column; rename a column")

    try:
        model = _LogitOrderedModel(y, exog, distr="logit")
    except ValueError as exc:
        # OrderedModel refuses explicit or implicit constants, e.g. dummies that sum to 1
        raise ValueError(f"ordinal model cannot be set up: {exc}") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is reported in the result instead
        fit = model.fit(method="bfgs", maxiter=2000, disp=False, gtol=1e-8)
    converged = bool(fit.mle_retvals.get("converged", False))

    beta = float(fit.params[group])
    se = float(fit.bse[group])
    z_crit = stats.norm.isf(alpha / 2)
    lo, hi = beta - z_crit * se, beta + z_crit * se
    z = beta / se
    return OrdinalLogitResult(
        n=len(frame),
        n_dropped=n_dropped,
        outcome=outcome,
        group=group,
        group0_level=level0,
        group1_level=level1,
        categories=categories,
        covariates=covariates,
        covariate_terms=tuple(terms),
        estimate=beta,
        se=se,
        ci_low=lo,
        ci_high=hi,
        z_statistic=z,
        p_value=float(2 * stats.norm.sf(abs(z))),
        odds_ratio=math.exp(beta),
        or_ci_low=math.exp(lo),
        or_ci_high=math.exp(hi),
        log_likelihood=float(fit.llf),
        converged=converged,
        alpha=alpha,
        method=(
            "proportional-odds logistic regression (statsmodels OrderedModel, distr='logit',"
            " BFGS maximum likelihood, no constant: thresholds instead); group coded 1 for"
            f" {level1!r}, 0 for {level0!r}; covariates as categorical dummies, first level"
            " dropped; Wald z test and interval for the group log odds ratio, exponentiated"
            " for the odds ratio; complete cases only"
        ),
    )
