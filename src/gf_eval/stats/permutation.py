"""Randomisation (permutation) inference, for designs with few treated units.

With a handful of treated units, cluster-robust standard errors are too small (a cohort of one
unit contributes no variance of its own) and tests based on them reject a true null far more
often than their nominal level. Randomisation inference instead asks: had the programme gone
to other units, keeping everything else fixed, how often would the statistic have been as
extreme as the one observed? Under the sharp null of no effect for any unit, and an assignment
that is exchangeable across units, the p-value

    p = (1 + #{draws as extreme as observed}) / (1 + n)

is valid in finite samples whatever the outcome's distribution or serial correlation. With a
non-random assignment it remains a useful yardstick: how unusual the observed estimate is among
the estimates the same method gives for units that were not treated.

`permutation_test` is generic: any statistic of an assignment (a callable), any way of drawing
assignments (a callable of a numpy Generator, or a `Reassignment`, which permutes start dates
across units and can enumerate every distinct assignment for an exact test).
`staggered_permutation_test` applies it to a `StaggeredDiD` (the overall ATT or theta(e)),
through the estimator's vectorised path; `staggered_placebo` builds the placebo-date model
(every start date moved k periods earlier, pre-programme data only).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gf_eval.stats.staggered import StaggeredDiD

__all__ = ["PermutationResult", "Reassignment", "permutation_test", "staggered_permutation_test",
           "placebo_dates", "staggered_placebo", "ALTERNATIVES"]  # fmt: skip

ALTERNATIVES = ("two-sided", "less", "greater")
_TIE = 1e-9  # relative tolerance for "as extreme": recomputed statistics differ in the last bits


@dataclass(frozen=True)
class PermutationResult:
    """A randomisation test; `distribution` holds the statistic under each draw (or, when
    exact, under every distinct assignment, the observed one included)."""

    statistic: float
    distribution: np.ndarray = field(repr=False, compare=False)
    p: float
    mc_se: float  # Monte Carlo SE of p, sqrt(p (1 - p) / n); 0 when exact
    n: int  # draws, or distinct assignments when exact
    exact: bool
    alternative: str
    n_extreme: int  # draws (assignments) at least as extreme as the observed statistic

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("statistic", "p", "mc_se", "n", "exact",
                                              "alternative", "n_extreme")}  # fmt: skip

    def summary(self) -> str:
        how = f"exact, all {self.n} assignments" if self.exact else \
            f"{self.n} random draws, Monte Carlo SE {self.mc_se:.4f}"  # fmt: skip
        return (f"permutation test ({self.alternative}): statistic {self.statistic:.5g}, "
                f"p = {self.p:.4f} ({how}; {self.n_extreme} as extreme)")

    def __str__(self) -> str:
        return self.summary()


class Reassignment:
    """Reassign which units are treated, keeping the set of start dates: a uniformly random
    permutation of `observed` (one start date per unit; NaN/inf = never treated) across the
    units. `count()` is the number of distinct assignments, n! / prod(m_k!) for the
    multiplicities m_k of the start dates, and `enumerate()` lists them all."""

    def __init__(self, observed):
        obs = np.asarray(observed, dtype=float)
        if obs.ndim != 1 or obs.size < 2:
            raise ValueError("observed must be one start date per unit, for at least 2 units")
        self.observed = np.where(np.isnan(obs) | np.isinf(obs), np.inf, obs)
        self.values, self.counts = np.unique(self.observed, return_counts=True)
        if self.values.size < 2:
            raise ValueError("every unit has the same start date: there is nothing to permute")

    def count(self) -> int:
        total, left = 1, int(self.observed.size)
        for m in self.counts:
            total *= math.comb(left, int(m))
            left -= int(m)
        return total

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(self.observed)

    def draw_many(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.permuted(np.tile(self.observed, (n, 1)), axis=1)

    def enumerate(self) -> np.ndarray:
        """Every distinct assignment, one per row (count() rows: call only when it is small)."""
        n = self.observed.size
        rows = []

        def fill(free: tuple, k: int, row: np.ndarray):
            if k == self.values.size - 1:
                row = row.copy()
                row[list(free)] = self.values[k]
                rows.append(row)
                return
            for chosen in itertools.combinations(free, int(self.counts[k])):
                r = row.copy()
                r[list(chosen)] = self.values[k]
                fill(tuple(i for i in free if i not in chosen), k + 1, r)

        fill(tuple(range(n)), 0, np.empty(n))
        return np.array(rows)


def _extreme(dist: np.ndarray, obs: float, alternative: str) -> np.ndarray:
    tol = _TIE * max(1.0, abs(obs))
    if alternative == "greater":
        return dist >= obs - tol
    if alternative == "less":
        return dist <= obs + tol
    return np.abs(dist) >= abs(obs) - tol


def permutation_test(
    statistic: Callable,
    observed_assignment,
    draw: Callable[[np.random.Generator], object] | Reassignment | None = None,
    n: int = 999,
    seed: int | np.random.Generator | None = None,
    alternative: str = "two-sided",
    vectorized: bool = False,
    exact: bool | None = None,
) -> PermutationResult:
    """Randomisation test of `statistic` against its distribution over re-drawn assignments.

    Parameters
    ----------
    statistic : assignment -> float; with vectorized=True, a (P, ...) stack of assignments ->
        P floats (one call for all the draws: much faster for an estimator with a batch path).
    observed_assignment : the assignment that happened (for a `Reassignment`, the start dates).
    draw : rng -> a new assignment, or a `Reassignment`; default `Reassignment(observed)`.
    n : number of random draws.
    seed : for the draws (an int, or a numpy Generator).
    alternative : "greater" (large statistics are extreme), "less", or "two-sided", which
        compares |statistic|: it suits statistics centred at 0 under the null, such as an ATT.
    exact : with a `Reassignment`, enumerate every distinct assignment instead of drawing;
        default (None) when their number is at most n. The exact p is then
        #{assignments as extreme} / #{assignments}, the observed one among them; a plain
        callable `draw` cannot be enumerated.

    The Monte Carlo p is (1 + #{draws as extreme}) / (1 + n), which counts the observed
    assignment as one of the draws and so keeps the test valid at every n; its Monte Carlo
    SE is sqrt(p (1 - p) / n). "As extreme" allows a relative tolerance of 1e-9 so that a
    draw equal to the observed assignment counts despite rounding. A statistic that is not
    finite for some draw raises ValueError.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, "
                         f"not {alternative!r}")  # fmt: skip
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a whole number >= 1, not {n!r}")
    if draw is None:
        draw = Reassignment(observed_assignment)
    if not (callable(draw) or isinstance(draw, Reassignment)):
        raise ValueError("draw must be a callable of a numpy Generator, or a Reassignment")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    if exact is None:
        exact = isinstance(draw, Reassignment) and draw.count() <= n
    if exact and not isinstance(draw, Reassignment):
        raise ValueError("exact enumeration needs a Reassignment, not a plain draw callable")

    if exact:
        assignments = list(draw.enumerate())
    elif isinstance(draw, Reassignment):
        assignments = list(draw.draw_many(rng, int(n)))
    else:
        assignments = [draw(rng) for _ in range(int(n))]

    def evaluate(items: list) -> np.ndarray:
        if vectorized:
            out = np.asarray(statistic(np.stack([np.asarray(a) for a in items])), dtype=float)
        else:
            out = np.array([float(statistic(a)) for a in items])
        if out.shape != (len(items),):
            raise ValueError(f"statistic returned shape {out.shape} for {len(items)} assignments")
        return out

    obs = float(evaluate([observed_assignment])[0])
    if not math.isfinite(obs):
        raise ValueError(f"the statistic is not finite for the observed assignment ({obs})")
    dist = evaluate(assignments)
    bad = np.flatnonzero(~np.isfinite(dist))
    if bad.size:
        raise ValueError(f"the statistic is not finite for {bad.size} of the {dist.size} "
                         f"assignments (the first: number {bad[0]})")  # fmt: skip
    k = int(np.sum(_extreme(dist, obs, alternative)))
    if exact:
        p, se = k / dist.size, 0.0
    else:
        p = (1 + k) / (1 + dist.size)
        se = math.sqrt(p * (1 - p) / dist.size)
    return PermutationResult(obs, dist, float(p), float(se), int(dist.size), bool(exact),
                             alternative, k)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# staggered adoption
# ---------------------------------------------------------------------------------------------


def staggered_permutation_test(
    model: StaggeredDiD,
    target: str | int = "overall",
    kind: str = "simple",
    n: int = 999,
    seed: int | np.random.Generator | None = None,
    alternative: str = "two-sided",
    exact: bool | None = None,
) -> PermutationResult:
    """Permute the start dates (the `group` column, unit by unit, keeping their multiset)
    across the units of a `StaggeredDiD` and re-estimate `target`: "overall" (with `kind`
    "simple" or "group", see `StaggeredDiDResults.overall`) or an event time e (theta(e)).
    The panel, the cells and the control rule stay as they are; only who is in which cohort
    changes. The observed statistic equals the fitted model's estimate."""
    design = Reassignment(model.unit_groups)

    def stat(groups):
        return model.estimate_for_groups(groups, target=target, kind=kind)

    return permutation_test(stat, model.unit_groups, design, n=n, seed=seed,
                            alternative=alternative, vectorized=True, exact=exact)  # fmt: skip


def placebo_dates(data: pd.DataFrame, unit: str, time: str, group: str, k: int,
                  anticipation: int = 0) -> pd.DataFrame:  # fmt: skip
    """The placebo-date panel: pre-programme data only, every start date moved k periods
    earlier.

    The idea: the estimator should find nothing before a programme began; an "effect" at a
    fake start date signals a design problem (diverging trends, anticipation, a selected
    start) rather than the programme. Each treated unit keeps only its rows before its real
    start date minus `anticipation` (never-treated units keep every row; NaN, None, 0 and inf
    in `group` mean never treated), and its start date becomes start - k. Units whose shifted
    start leaves no earlier period in the panel are dropped. Works for any method that takes a
    long panel with a start-date column.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a whole number >= 1, not {k!r}")
    for c in (unit, time, group):
        if c not in data.columns:
            raise ValueError(f"column {c!r} not in the data")
    g = pd.to_numeric(data[group], errors="coerce").astype(float)
    never = g.isna() | (g == 0) | np.isinf(g)
    t = pd.to_numeric(data[time], errors="coerce")
    keep = never | (t < g - anticipation)
    out = data[keep].copy()
    gs = g[keep] - k
    out[group] = np.where(never[keep], np.nan, gs)
    first = t.min()
    drop = ~never[keep] & (gs - 1 - anticipation < first)
    out = out[~drop.to_numpy()]
    if out[group].notna().sum() == 0:
        raise ValueError(f"no treated unit has a pre-period before its start date moved "
                         f"{k} period(s) earlier: use a smaller k")  # fmt: skip
    return out


def staggered_placebo(model: StaggeredDiD, data: pd.DataFrame, k: int) -> StaggeredDiD:
    """The `StaggeredDiD` of `model` (same columns, control, base and anticipation) on the
    placebo-date panel of `data` (see `placebo_dates`), estimated only for event times up to
    k - 1 - anticipation, which stay before each unit's real start date (so k must exceed
    the anticipation). Fit it, or pass it to
    `staggered_permutation_test`, as the real model."""
    if isinstance(k, numbers.Integral) and not isinstance(k, bool) and k <= model.anticipation:
        raise ValueError(f"k must exceed the anticipation ({model.anticipation}), not {k!r}")
    panel = placebo_dates(data, model.unit, model.time, model.group, k, model.anticipation)
    return StaggeredDiD(panel, model.unit, model.time, model.outcome, model.group,
                        control=model.control, base=model.base,
                        anticipation=model.anticipation, horizon=k - 1 - model.anticipation)  # fmt: skip
