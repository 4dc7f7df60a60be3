"""Monthly latent rates: trend, seasonality, AR(1) noise and segmented intervention effects.

Every simulated monthly quantity is exp(log-rate) with
    log-rate(t) = log(base) + trend * t + season(month) + u(t) + effect(t),
u an AR(1) process and effect(t) = X(t) * (level + slope * (t - T0)), X(t) = 1 from T0 onwards.
The true relative change at month t against the counterfactual is exp(effect(t)) - 1.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Effect:
    """A segmented change on the log scale: a level change at T0 and a slope change after it."""

    level_change: float = 0.0
    slope_change: float = 0.0

    def path(self, t: np.ndarray, t0: int) -> np.ndarray:
        return np.where(t >= t0, self.level_change + self.slope_change * (t - t0), 0.0)

    def relative_change(self, t: int, t0: int) -> float:
        """True relative change at month t against the counterfactual (0 before T0)."""
        return float(np.expm1(self.path(np.array([t]), t0)[0]))


@dataclass(frozen=True)
class WithShock:
    """A programme effect plus a shock from another date that hits every site alike (a
    national change), for testing whether a model tells the two apart."""

    effect: Effect
    shock: Effect
    shock_t0: int

    def path(self, t: np.ndarray, t0: int) -> np.ndarray:
        return self.effect.path(t, t0) + self.shock.path(t, self.shock_t0)


@dataclass(frozen=True)
class Rate:
    """A monthly log-rate: base value, trend per month, one seasonal harmonic, AR(1) noise, and
    an optional change of trend: `trend_change` a year more on the log scale from month
    `change_t` on (a kink, so the trend itself changes)."""

    base: float
    trend: float = 0.0
    season_amplitude: float = 0.0
    peak_month: int = 7
    ar_rho: float = 0.0
    ar_sd: float = 0.0
    trend_change: float = 0.0
    change_t: int = 0

    def expected_log(self, months: pd.PeriodIndex, t: np.ndarray) -> np.ndarray:
        """The noise-free log-rate, before any intervention effect."""
        phase = 2 * np.pi * (np.asarray(months.month) - self.peak_month) / 12
        kink = self.trend_change * np.maximum(np.asarray(t) - self.change_t, 0) / 12
        return np.log(self.base) + self.trend * t + kink + self.season_amplitude * np.cos(phase)

    def draw_log(
        self, months: pd.PeriodIndex, t: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        return self.expected_log(months, t) + ar1(len(t), self.ar_rho, self.ar_sd, rng)


def ar1(n: int, rho: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    """A stationary AR(1) series with marginal standard deviation `sd`."""
    shocks = rng.normal(0.0, sd * np.sqrt(1 - rho**2), size=n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + shocks[i]
    return out


def cumulative_relative_change(weights: np.ndarray, effect_path: np.ndarray) -> float:
    """Relative change of the post-period total: sum(w * exp(effect)) / sum(w) - 1.

    `weights` are the counterfactual expected counts of the post months.
    """
    return float(np.sum(weights * np.exp(effect_path)) / np.sum(weights) - 1)


def random_dates(
    months: pd.PeriodIndex, counts: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """`counts[i]` uniformly random days within `months[i]`, sorted, as datetime64[D]."""
    starts = months.to_timestamp().values.astype("datetime64[D]")
    lengths = np.asarray(months.days_in_month)
    month_of = np.repeat(np.arange(len(months)), counts)
    days = (rng.random(month_of.size) * lengths[month_of]).astype(int)
    return np.sort(starts[month_of] + days.astype("timedelta64[D]"))


def pseudo_keys(prefix: str, n: int, rng: np.random.Generator, width: int = 7) -> np.ndarray:
    """`n` distinct random keys like 'V0382915': pseudonyms that carry no order or meaning."""
    return numbered(prefix, rng.choice(10**width, size=n, replace=False), width)


def numbered(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """[f"{prefix}{x:0{width}d}" for x in numbers] as an object array, built by pyarrow (a
    third of the time) for numbers that are not negative (whose sign zero-padding puts first)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if numbers.size and numbers.min() < 0:
        return np.array([f"{prefix}{x:0{width}d}" for x in numbers], dtype=object)
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "").to_numpy(zero_copy_only=False)


def choose(rng: np.random.Generator, table: dict[str, float], size: int) -> np.ndarray:
    """Draw `size` codes from a {code: probability} table (probabilities renormalised)."""
    return np.array(list(table), dtype=object)[choose_index(rng, table, size)]


def choose_index(rng: np.random.Generator, table: dict[str, float], size: int) -> np.ndarray:
    """The positions in `table` of the codes `choose` draws (the same draws of `rng`)."""
    p = np.array(list(table.values()), dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum())


def choose_from_uniforms(table: dict[str, float], u: np.ndarray) -> np.ndarray:
    """The codes `choose(rng, table, len(u))` draws when the generator's next uniforms are `u`:
    numpy's Generator.choice takes one uniform per draw and looks it up in this cdf."""
    codes = np.array(list(table), dtype=object)
    p = np.array(list(table.values()), dtype=float)
    cdf = (p / p.sum()).cumsum()
    cdf /= cdf[-1]
    return codes[cdf.searchsorted(u, side="right")]


def uniforms_ahead(rng: np.random.Generator, n: int) -> np.ndarray:
    """The next `n` uniforms of `rng` (what `rng.random(n)` would return), drawn from a copy so
    that `rng` is left as it is: for a loop whose number of draws depends on their values,
    which then takes from `rng` just the `used` it read, with `rng.random(used)` (the same
    stream as that many calls of `rng.random()`)."""
    return copy.deepcopy(rng).random(n)
