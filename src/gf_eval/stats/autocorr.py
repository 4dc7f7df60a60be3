"""Autocorrelation diagnostics for regression residuals in time order.

Durbin-Watson, Breusch-Godfrey (LM = n R^2 of the residuals on the regressors and their own
lags, missing initial lags set to zero as Stata's `estat bgodfrey` does) and Ljung-Box, plus a
suggested Newey-West lag: the largest lag whose sample autocorrelation lies outside the
approximate 95% bounds +-1.96 / sqrt(n), or 0 when none does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.diagnostic import acorr_ljungbox
from statsmodels.stats.stattools import durbin_watson
from statsmodels.tsa.stattools import acf


@dataclass(frozen=True)
class LagTest:
    lag: int
    statistic: float
    df: int
    p: float


@dataclass(frozen=True)
class Diagnostics:
    n: int
    durbin_watson: float
    breusch_godfrey: tuple[LagTest, ...]
    ljung_box: tuple[LagTest, ...]
    acf: tuple[float, ...]  # lags 1..max_lag
    suggested_lag: int

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "durbin_watson": self.durbin_watson,
            "breusch_godfrey": [t.__dict__ for t in self.breusch_godfrey],
            "ljung_box": [t.__dict__ for t in self.ljung_box],
            "acf": list(self.acf),
            "suggested_lag": self.suggested_lag,
        }

    def summary(self) -> str:
        lines = [f"Durbin-Watson: {self.durbin_watson:.3f}   suggested Newey-West lag: "
                 f"{self.suggested_lag}", "lag   ACF     BG chi2    BG p    LB Q      LB p"]  # fmt: skip
        for bg, lb, r in zip(self.breusch_godfrey, self.ljung_box, self.acf):
            lines.append(
                f"{bg.lag:>3} {r:>6.3f} {bg.statistic:>9.3f} {bg.p:>7.4f} {lb.statistic:>8.3f} {lb.p:>7.4f}"
            )
        return "\n".join(lines)


def breusch_godfrey(resid: np.ndarray, exog: np.ndarray, lag: int) -> LagTest:
    """LM test of no autocorrelation up to `lag` (chi-square with `lag` df)."""
    n = resid.size
    lagged = np.column_stack([np.concatenate([np.zeros(k), resid[:-k]]) for k in range(1, lag + 1)])
    design = np.column_stack([exog, lagged])
    beta, *_ = np.linalg.lstsq(design, resid, rcond=None)
    fitted = design @ beta
    r2 = 1 - np.sum((resid - fitted) ** 2) / np.sum((resid - resid.mean()) ** 2)
    statistic = n * r2
    return LagTest(lag, float(statistic), lag, float(stats.chi2.sf(statistic, lag)))


def diagnose(resid: np.ndarray, exog: np.ndarray, max_lag: int = 12) -> Diagnostics:
    """All diagnostics for residuals in time order and the regressors that produced them."""
    resid = np.asarray(resid, dtype=float)
    n = resid.size
    max_lag = max(1, min(max_lag, n // 4))
    bg = tuple(breusch_godfrey(resid, exog, k) for k in range(1, max_lag + 1))
    lb_table = acorr_ljungbox(resid, lags=max_lag)
    lb = tuple(
        LagTest(k, float(q), k, float(p))
        for k, q, p in zip(range(1, max_lag + 1), lb_table["lb_stat"], lb_table["lb_pvalue"])
    )
    r = acf(resid, nlags=max_lag, fft=False)[1:]
    outside = np.flatnonzero(np.abs(r) > 1.96 / np.sqrt(n))
    suggested = int(outside.max() + 1) if outside.size else 0
    return Diagnostics(n, float(durbin_watson(resid)), bg, lb, tuple(map(float, r)), suggested)
