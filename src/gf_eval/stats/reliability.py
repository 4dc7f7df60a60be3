"""Measurement reliability: the Jacobson-Truax reliable change index and Cronbach's alpha.

- `reliable_change`: RC = (after - before) / S_diff with S_diff = sqrt(2 * SE^2) and
  SE = SD_before * sqrt(1 - reliability) (Jacobson & Truax, 1991). A change is reliable when
  |RC| exceeds the normal quantile (1.96 for 95%); its direction is an improvement or a
  deterioration according to which end of the measure is better.
- `cronbach_alpha`: alpha = k / (k - 1) * (1 - sum of item variances / variance of the total),
  on complete cases, with Feldt's F-based confidence interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ReliableChangeResult", "AlphaResult", "reliable_change", "cronbach_alpha"]


@dataclass(frozen=True)
class ReliableChangeResult:
    """Per-pair indices and the shares of reliable improvement and deterioration."""

    rci: np.ndarray  # per complete pair, in input order
    category: np.ndarray  # "improved", "deteriorated" or "no reliable change"
    n: int
    sd_before: float
    reliability: float
    se_measurement: float
    s_diff: float
    critical: float
    threshold_change: float  # the smallest raw change that is reliable: critical * s_diff
    n_improved: int
    n_deteriorated: int

    @property
    def share_improved(self) -> float:
        return self.n_improved / self.n if self.n else math.nan

    @property
    def share_deteriorated(self) -> float:
        return self.n_deteriorated / self.n if self.n else math.nan

    def summary(self) -> str:
        return (
            f"Reliable change (Jacobson-Truax): n = {self.n}, SD before = {self.sd_before:.4g}, "
            f"reliability = {self.reliability:g}, SE = {self.se_measurement:.4g}, "
            f"S_diff = {self.s_diff:.4g}; a change of {self.threshold_change:.4g} or more is "
            f"reliable. Improved {self.n_improved} ({self.share_improved:.1%}), deteriorated "
            f"{self.n_deteriorated} ({self.share_deteriorated:.1%})."
        )


def reliable_change(before, after, reliability: float, better: str = "higher",
                    sd_before: float | None = None, alpha: float = 0.05) -> ReliableChangeResult:  # fmt: skip
    """The reliable change index of each complete (before, after) pair.

    `reliability` is the measure's reliability (0 < r < 1); `better` says which end of the
    scale is better ("higher" or "lower"); `sd_before` defaults to the SD (n - 1) of the
    complete pairs' before scores. Pairs with a missing value are dropped.
    """
    if not 0 < reliability < 1:
        raise ValueError(f"reliability must lie strictly between 0 and 1, got {reliability!r}")
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', got {better!r}")
    b = pd.to_numeric(pd.Series(before), errors="raise").to_numpy(dtype=float, na_value=np.nan)
    a = pd.to_numeric(pd.Series(after), errors="raise").to_numpy(dtype=float, na_value=np.nan)
    if b.shape != a.shape:
        raise ValueError(f"before and after differ in length: {b.size} and {a.size}")
    ok = ~(np.isnan(b) | np.isnan(a))
    b, a = b[ok], a[ok]
    if sd_before is None:
        if b.size < 2:
            raise ValueError("need at least 2 complete pairs to estimate the SD before")
        sd_before = float(np.std(b, ddof=1))
    if not sd_before > 0:
        raise ValueError(f"the SD before must be positive, got {sd_before!r}")
    se = sd_before * math.sqrt(1 - reliability)
    s_diff = math.sqrt(2) * se
    critical = float(stats.norm.ppf(1 - alpha / 2))
    rci = (a - b) / s_diff
    sign = 1.0 if better == "higher" else -1.0
    improved = sign * rci > critical
    worse = sign * rci < -critical
    category = np.where(improved, "improved", np.where(worse, "deteriorated", "no reliable change"))
    return ReliableChangeResult(rci, category, int(b.size), float(sd_before), float(reliability),
                                se, s_diff, critical, critical * s_diff, int(improved.sum()),
                                int(worse.sum()))  # fmt: skip


@dataclass(frozen=True)
class AlphaResult:
    alpha: float
    ci_low: float
    ci_high: float
    n: int  # complete cases
    k: int  # items
    alpha_if_dropped: dict[str, float]

    def summary(self) -> str:
        return (f"Cronbach's alpha = {self.alpha:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}] "
                f"(Feldt), {self.k} items, {self.n} complete cases")  # fmt: skip


def _alpha(x: np.ndarray) -> float:
    k = x.shape[1]
    item_var = x.var(axis=0, ddof=1).sum()
    total_var = x.sum(axis=1).var(ddof=1)
    return float(k / (k - 1) * (1 - item_var / total_var)) if total_var > 0 else math.nan


def cronbach_alpha(items: pd.DataFrame, level: float = 0.95) -> AlphaResult:
    """Cronbach's alpha of the item columns on complete rows, with Feldt's interval:
    (1 - alpha) * F follows an F distribution with (n - 1) and (n - 1)(k - 1) df."""
    x = items.apply(pd.to_numeric, errors="raise").dropna().to_numpy(dtype=float)
    n, k = x.shape
    if k < 2:
        raise ValueError(f"alpha needs at least 2 items, got {k}")
    if n < 3:
        raise ValueError(f"alpha needs at least 3 complete cases, got {n}")
    alpha = _alpha(x)
    df1, df2 = n - 1, (n - 1) * (k - 1)
    q = (1 - level) / 2
    low = 1 - (1 - alpha) * stats.f.ppf(1 - q, df1, df2)
    high = 1 - (1 - alpha) * stats.f.ppf(q, df1, df2)
    dropped = {} if k < 3 else {
        str(c): _alpha(np.delete(x, i, axis=1)) for i, c in enumerate(items.columns)
    }  # fmt: skip
    return AlphaResult(alpha, float(low), float(high), n, k, dropped)
