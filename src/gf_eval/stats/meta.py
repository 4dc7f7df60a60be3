"""Random-effects meta-analysis: pooling one effect per site, on a log scale.

``random_effects(estimates, standard_errors)`` returns a frozen `MetaResult` with the fixed-effect
(inverse-variance) estimate, the random-effects estimate, the between-site variance tau^2
(DerSimonian-Laird or REML), Cochran's Q, I^2 and H^2, a prediction interval for a new site, the
per-site weights and ``summary()``. Callers pooling log rate ratios get the pooled relative
change, exp(estimate) - 1, from ``MetaResult.relative_change()``.

References: DerSimonian & Laird (1986); Viechtbauer (2005) for REML; Higgins & Thompson (2002)
for I^2 and H^2; Higgins, Thompson & Spiegelhalter (2009) for the prediction interval; Hartung &
Knapp (2001) and Sidik & Jonkman (2002) for the HKSJ adjustment.
"""

from __future__ import annotations

import math
import numbers
import textwrap
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = ["MetaResult", "RelativeChange", "random_effects", "TAU2_METHODS"]

TAU2_METHODS = ("DL", "REML")


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------


def _vector(values, name: str) -> np.ndarray:
    """1-d finite float array; strings, booleans, missing and infinite values are refused."""
    if isinstance(values, (str, bytes)) or np.ndim(values) != 1:
        raise ValueError(f"{name} must be a one-dimensional sequence of numbers")
    items = list(values)
    for value in items:
        # True/False or "0.3" as an effect is almost surely a mistake, so no silent conversion
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must contain only numbers, found {value!r}")
    out = np.asarray(items, dtype=float)
    if not np.isfinite(out).all():
        bad = int((~np.isfinite(out)).sum())
        raise ValueError(f"{name} contains {bad} missing or infinite value(s)")
    return out


def _alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def _labels(labels, estimates, k: int) -> tuple[str, ...]:
    if labels is None:
        # a pandas Series carries its own site names
        if isinstance(estimates, pd.Series) and not isinstance(estimates.index, pd.RangeIndex):
            return tuple(str(x) for x in estimates.index)
        return tuple(f"site {i + 1}" for i in range(k))
    if isinstance(labels, (str, bytes)) or len(labels) != k:
        raise ValueError(f"labels must be a sequence of {k} names, one per estimate")
    return tuple(str(x) for x in labels)


def _fmt_p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


# ---------------------------------------------------------------------------------------------
# tau^2 estimators
# ---------------------------------------------------------------------------------------------


def _tau2_dl(y: np.ndarray, v: np.ndarray) -> float:
    """DerSimonian-Laird moment estimator, truncated at 0."""
    w = 1 / v
    mu = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu) ** 2)
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    return max(0.0, float((q - (y.size - 1)) / c))


def _reml_score(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    """Derivative of the restricted log-likelihood with respect to tau^2 (times 2)."""
    w = 1 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    # d/dtau2 of -1/2 [sum log(v+tau2) + log sum w + sum w (y - mu)^2]
    return float(np.sum(w**2 * (y - mu) ** 2) - np.sum(w) + np.sum(w**2) / np.sum(w))


def _tau2_reml(y: np.ndarray, v: np.ndarray) -> float:
    """REML estimate: the root of the restricted score equation, or 0 where the score at 0 is
    not positive (the likelihood then falls from the boundary)."""
    if _reml_score(0.0, y, v) <= 0:
        return 0.0
    # the score is negative for tau2 large against the spread of y; widen until it is
    high = max(1.0, 10 * float(np.var(y)))
    for _ in range(200):
        if _reml_score(high, y, v) < 0:
            break
        high *= 2
    else:  # pragma: no cover - would need an unbounded likelihood
        raise RuntimeError("REML: could not bracket the root of the score equation")
    return float(optimize.brentq(_reml_score, 0.0, high, args=(y, v), xtol=1e-14, rtol=1e-12))


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelativeChange:
    """A log-scale estimate back-transformed: exp(x) - 1 (-0.25 = a 25% reduction)."""

    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float  # prediction interval for a new site; NaN when k < 3 or for the fixed effect
    pi_high: float


@dataclass(frozen=True)
class MetaResult:
    """Fixed- and random-effects pooling of k site estimates; see `random_effects`."""

    labels: tuple[str, ...]
    estimates: tuple[float, ...]
    standard_errors: tuple[float, ...]
    k: int
    # fixed effect (inverse-variance), always z-based
    fixed_estimate: float
    fixed_se: float
    fixed_ci_low: float
    fixed_ci_high: float
    fixed_p: float
    # random effects; with hksj the se, interval and p are the HKSJ ones (t, k - 1 df)
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float  # z, or t with hksj
    df: float  # k - 1 with hksj, inf (normal reference) without
    p_value: float
    se_unadjusted: float  # sqrt(1 / sum of random-effects weights), whatever hksj says
    # heterogeneity
    tau2: float
    tau: float
    q: float
    q_df: int
    q_p: float
    i2: float  # max(0, (Q - df) / Q), a proportion
    i2_tau2: float  # tau2 / (tau2 + s2), s2 the typical within-site variance (metafor's I^2)
    h2: float  # Q / df
    # prediction interval for the true effect in a new site (t, k - 2 df); NaN when k < 3
    pi_low: float
    pi_high: float
    # per-site weights, as proportions summing to 1
    weights_fixed: tuple[float, ...]
    weights: tuple[float, ...]
    tau2_method: str
    hksj: bool | str
    alpha: float
    method: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return self.summary()

    def relative_change(self, fixed: bool = False) -> RelativeChange:
        """The pooled estimate and interval as exp(x) - 1, for effects on a log scale."""
        if fixed:
            values = (self.fixed_estimate, self.fixed_ci_low, self.fixed_ci_high, math.nan,
                      math.nan)  # fmt: skip
        else:
            values = (self.estimate, self.ci_low, self.ci_high, self.pi_low, self.pi_high)
        # expm1 keeps precision for small effects; NaN passes through
        return RelativeChange(*(float(np.expm1(x)) for x in values))

    def summary(self) -> str:
        level = f"{1 - self.alpha:.0%}"
        width = 78
        lines = [
            "Random-effects meta-analysis".center(width, "="),
            f"sites: {self.k}   tau^2 estimator: {self.tau2_method}   random-effects inference: "
            + (f"HKSJ, t({self.k - 1})" if self.hksj else "normal (z)"),
            "-" * width,
            f"{'site':<24}{'estimate':>11}{'se':>11}{'weight FE':>12}{'weight RE':>12}",
        ]
        for row in zip(self.labels, self.estimates, self.standard_errors, self.weights_fixed,
                       self.weights):  # fmt: skip
            name, y, s, wf, wr = row
            lines.append(f"{name[:23]:<24}{y:>11.5g}{s:>11.4g}{wf:>12.1%}{wr:>12.1%}")
        rc = self.relative_change()
        lines += [
            "-" * width,
            f"{'model':<16}{'estimate':>11}{'se':>11}{'p':>10}{f'[{level} CI':>14}{']':>11}",
            f"{'fixed effect':<16}{self.fixed_estimate:>11.5g}{self.fixed_se:>11.4g}"
            f"{_fmt_p(self.fixed_p):>10}{self.fixed_ci_low:>14.5g}{self.fixed_ci_high:>11.5g}",
            f"{'random effects':<16}{self.estimate:>11.5g}{self.se:>11.4g}"
            f"{_fmt_p(self.p_value):>10}{self.ci_low:>14.5g}{self.ci_high:>11.5g}",
            f"relative change exp(x) - 1: {rc.estimate:+.1%}   [{rc.ci_low:+.1%}, "
            f"{rc.ci_high:+.1%}]",
        ]
        if math.isnan(self.pi_low):
            lines.append("prediction interval: not available with fewer than 3 sites")
        else:
            lines.append(
                f"{level} prediction interval (t, {self.k - 2} df): {self.pi_low:.5g} to "
                f"{self.pi_high:.5g}   relative change [{rc.pi_low:+.1%}, {rc.pi_high:+.1%}]"
            )
        lines += [
            "-" * width,
            f"tau^2 = {self.tau2:.4g} (tau = {self.tau:.4g})   Q = {self.q:.4f} on {self.q_df} df,"
            f" p = {_fmt_p(self.q_p)}",
            f"I^2 = {self.i2:.2%}   H^2 = {self.h2:.4g}   I^2 from tau^2 = {self.i2_tau2:.2%}",
            textwrap.fill(f"method: {self.method}", width, subsequent_indent="  "),
            "=" * width,
        ]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------------------------


def random_effects(
    estimates,
    standard_errors,
    labels: Sequence[str] | None = None,
    method: str = "DL",
    alpha: float = 0.05,
    hksj: bool | str = False,
) -> MetaResult:
    """Pool k site estimates (e.g. log rate ratios) with their standard errors.

    Parameters
    ----------
    estimates, standard_errors : 1-d array-likes of equal length k >= 2; finite, SEs > 0.
        A single site (k = 1) raises ValueError: there is nothing to pool and tau^2 is
        undefined, so the caller should report that site's own estimate instead.
    labels : site names; default the index of a pandas Series, else "site 1", "site 2", ...
    method : tau^2 estimator, "DL" (DerSimonian-Laird) or "REML" (restricted maximum
        likelihood, found by solving the score equation with Brent's method).
    alpha : 1 - confidence level for the intervals (the prediction interval too).
    hksj : Hartung-Knapp-Sidik-Jonkman inference for the random-effects estimate: variance
        sum(w (y - mu)^2) / ((k - 1) sum w) and t with k - 1 df. True: no truncation, so
        near-identical estimates give a near-zero-width interval; "modified": the variance is
        never below the unadjusted one (Knapp & Hartung's ad hoc rule), which keeps the
        interval honest when a few sites happen to agree.

    The prediction interval is mu +/- t(k - 2) sqrt(tau^2 + SE^2) (Higgins et al. 2009) with the
    unadjusted SE, and is NaN when k < 3.
    """
    y = _vector(estimates, "estimates")
    s = _vector(standard_errors, "standard_errors")
    if y.size != s.size:
        raise ValueError(f"estimates and standard_errors differ in length ({y.size} vs {s.size})")
    k = int(y.size)
    if k < 2:
        raise ValueError(
            f"need at least 2 sites to pool, got {k}: with one site tau^2 is undefined; "
            "report that site's own estimate instead"
        )
    if (s <= 0).any():
        raise ValueError(f"standard_errors must all be positive, got {s[s <= 0].tolist()}")
    if method not in TAU2_METHODS:
        raise ValueError(f"method must be one of {TAU2_METHODS}, got {method!r}")
    alpha = _alpha(alpha)
    names = _labels(labels, estimates, k)
    v = s**2

    # fixed effect and Cochran's Q
    w = 1 / v
    fixed = float(np.sum(w * y) / np.sum(w))
    fixed_se = float(math.sqrt(1 / np.sum(w)))
    z = stats.norm.ppf(1 - alpha / 2)
    q = float(np.sum(w * (y - fixed) ** 2))
    q_df = k - 1
    i2 = 0.0 if q <= 0 else max(0.0, (q - q_df) / q)
    # typical within-site variance (Higgins & Thompson 2002), for the tau2-based I^2
    s2 = q_df * np.sum(w) / (np.sum(w) ** 2 - np.sum(w**2))

    tau2 = _tau2_dl(y, v) if method == "DL" else _tau2_reml(y, v)

    # random effects
    w_re = 1 / (v + tau2)
    mu = float(np.sum(w_re * y) / np.sum(w_re))
    se_unadj = float(math.sqrt(1 / np.sum(w_re)))
    if hksj not in (False, True, "modified"):
        raise ValueError(f"hksj must be False, True or 'modified', got {hksj!r}")
    if hksj:
        se = float(math.sqrt(np.sum(w_re * (y - mu) ** 2) / (q_df * np.sum(w_re))))
        if hksj == "modified":
            se = max(se, se_unadj)
        df, crit = float(q_df), stats.t.ppf(1 - alpha / 2, q_df)
    else:
        se, df, crit = se_unadj, math.inf, z
    # identical estimates make the HKSJ variance 0: report a zero-width interval, p undefined
    statistic = mu / se if se > 0 else math.copysign(math.inf, mu) if mu else math.nan
    if math.isnan(statistic):
        p = math.nan
    elif hksj:
        p = float(2 * stats.t.sf(abs(statistic), df))
    else:
        p = float(2 * stats.norm.sf(abs(statistic)))

    if k >= 3:
        half = stats.t.ppf(1 - alpha / 2, k - 2) * math.sqrt(tau2 + se_unadj**2)
        pi_low, pi_high = mu - half, mu + half
    else:
        pi_low = pi_high = math.nan

    description = (
        "inverse-variance fixed effect; random effects with tau^2 by "
        + ("DerSimonian-Laird (moments, truncated at 0)" if method == "DL" else "REML")
        + (f"; HKSJ variance and t({q_df}) inference" if hksj else "; normal (z) inference")
        + (f"; prediction interval t({k - 2}), Higgins et al. 2009" if k >= 3 else "")
    )
    return MetaResult(
        labels=names,
        estimates=tuple(float(x) for x in y),
        standard_errors=tuple(float(x) for x in s),
        k=k,
        fixed_estimate=fixed,
        fixed_se=fixed_se,
        fixed_ci_low=fixed - z * fixed_se,
        fixed_ci_high=fixed + z * fixed_se,
        fixed_p=float(2 * stats.norm.sf(abs(fixed / fixed_se))),
        estimate=mu,
        se=se,
        ci_low=mu - crit * se,
        ci_high=mu + crit * se,
        statistic=float(statistic),
        df=df,
        p_value=p,
        se_unadjusted=se_unadj,
        tau2=tau2,
        tau=math.sqrt(tau2),
        q=q,
        q_df=q_df,
        q_p=float(stats.chi2.sf(q, q_df)),
        i2=i2,
        i2_tau2=float(tau2 / (tau2 + s2)),
        h2=q / q_df,
        pi_low=float(pi_low),
        pi_high=float(pi_high),
        weights_fixed=tuple(float(x) for x in w / np.sum(w)),
        weights=tuple(float(x) for x in w_re / np.sum(w_re)),
        tau2_method=method,
        hksj=hksj if hksj == "modified" else bool(hksj),
        alpha=alpha,
        method=description,
    )
