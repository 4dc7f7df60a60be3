"""Cost-benefit arithmetic: uprating to a price year, discounting, and the appraisal of a
programme's simulated benefits against its cost (HM Treasury Green Book conventions).

Generic: prices are indexed by a deflator series (year -> index), flows by the year since the
start of the appraisal (year 0 undiscounted, year t divided by (1 + r)^t), and uncertainty comes
in as draws of the benefit (from the sampling distribution of the model that estimated it).

    appraisal = Appraisal(benefit=point, draws=benefit_draws, cost=cost).fit()
    appraisal.bcr, appraisal.bcr_ci, appraisal.p_bcr_above_1, appraisal.summary()
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

GREEN_BOOK_RATE = 0.035  # the social time preference rate for the first 30 years


def uprate(cost: float | np.ndarray, price_year: int | np.ndarray, to_year: int,
           deflators: Mapping[int, float]) -> np.ndarray:  # fmt: skip
    """Costs in `price_year` prices restated in `to_year` prices: cost * D[to] / D[from]."""
    years = np.atleast_1d(np.asarray(price_year, dtype=int))
    missing = sorted({int(y) for y in years} - set(deflators)) + (
        [] if to_year in deflators else [to_year])  # fmt: skip
    if missing:
        raise ValueError(f"no deflator for year(s) {', '.join(map(str, missing))} "
                         f"(the series covers {min(deflators)} to {max(deflators)})")  # fmt: skip
    base = np.array([deflators[int(y)] for y in years], dtype=float)
    out = np.asarray(cost, dtype=float) * deflators[to_year] / base
    return out


def discount_factors(years: np.ndarray, rate: float) -> np.ndarray:
    """1 / (1 + rate)^t for whole years t since the start (the Green Book's annual
    discounting: year 0, the first twelve months, is not discounted)."""
    if rate <= -1:
        raise ValueError(f"a discount rate must exceed -100%, got {rate}")
    years = np.asarray(years)
    if np.any(years < 0):
        raise ValueError("discounting needs years from the start of the appraisal, not before it")
    return 1.0 / (1.0 + rate) ** np.floor(years)


def break_even(cost: float, value_at_risk: float) -> float:
    """The relative reduction that pays for `cost` when a reduction r avoids r * `value_at_risk`
    (the present value of the events expected without the programme): cost / value."""
    if value_at_risk <= 0:
        return float("inf")
    return float(cost / value_at_risk)


@dataclass
class AppraisalResults:
    """Gross benefit, net benefit (benefit - cost) and benefit-cost ratio with percentile
    intervals from the draws, and the share of draws in which the ratio exceeds 1."""

    benefit: float
    benefit_ci: tuple[float, float]
    cost: float
    net: float
    net_ci: tuple[float, float]
    bcr: float
    bcr_ci: tuple[float, float]
    p_bcr_above_1: float
    draws: int
    alpha: float

    def to_dict(self) -> dict:
        return {"benefit": self.benefit, "benefit_low": self.benefit_ci[0],
                "benefit_high": self.benefit_ci[1], "cost": self.cost, "net": self.net,
                "net_low": self.net_ci[0], "net_high": self.net_ci[1], "bcr": self.bcr,
                "bcr_low": self.bcr_ci[0], "bcr_high": self.bcr_ci[1],
                "p_bcr_above_1": self.p_bcr_above_1, "draws": self.draws}  # fmt: skip

    def summary(self) -> str:
        lo, hi = self.bcr_ci
        level = round(100 * (1 - self.alpha))
        return (f"benefit {self.benefit:,.0f} [{self.benefit_ci[0]:,.0f}, "
                f"{self.benefit_ci[1]:,.0f}], cost {self.cost:,.0f}, net {self.net:,.0f}; "
                f"benefit-cost ratio {self.bcr:.2f} [{lo:.2f}, {hi:.2f}] ({level}%), "
                f"P(ratio > 1) = {self.p_bcr_above_1:.2f} over {self.draws} draws")  # fmt: skip


class Appraisal:
    """A programme's benefit (a point estimate and draws from its sampling distribution,
    present values in one price year) against its cost (present value, known)."""

    def __init__(self, benefit: float, draws: np.ndarray, cost: float):
        draws = np.asarray(draws, dtype=float)
        if cost <= 0 or not np.isfinite(cost):
            raise ValueError(f"a programme cost must be positive, got {cost}")
        if draws.ndim != 1 or draws.size < 2 or not np.all(np.isfinite(draws)):
            raise ValueError("benefit draws must be a 1-d array of at least 2 finite values")
        self.benefit, self.draws, self.cost = float(benefit), draws, float(cost)

    def fit(self, alpha: float = 0.05) -> AppraisalResults:
        q = [alpha / 2, 1 - alpha / 2]
        ratio = self.draws / self.cost
        b_lo, b_hi = np.quantile(self.draws, q)
        r_lo, r_hi = np.quantile(ratio, q)
        return AppraisalResults(
            benefit=self.benefit, benefit_ci=(float(b_lo), float(b_hi)), cost=self.cost,
            net=self.benefit - self.cost, net_ci=(float(b_lo - self.cost), float(b_hi - self.cost)),
            bcr=self.benefit / self.cost, bcr_ci=(float(r_lo), float(r_hi)),
            p_bcr_above_1=float(np.mean(ratio > 1)), draws=int(self.draws.size), alpha=alpha,
        )
