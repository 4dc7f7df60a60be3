"""Staggered-adoption difference-in-differences (Callaway & Sant'Anna 2021), no covariates.

Units adopt a programme at different periods; cohort g is the set of units first treated in
period g. Two-way fixed-effects regressions mix already-treated units into the controls and
can give weights of the wrong sign when effects change over time, so this estimator instead
builds every comparison from clean 2x2 DiDs, one per cohort and period:

    ATT(g, t) = E[Y_t - Y_b | G = g] - E[Y_t - Y_b | control for (g, t)],

with base period b = g - 1 - anticipation for t >= g (the last period before any effect), and
for pre-periods t < g either b = t - 1 ("varying", CS's default: period-on-period placebo
effects) or b = g - 1 - anticipation ("universal": every cell against one reference period,
whose own cell is 0 by construction). Controls are the never-treated units ("never"), or the
never-treated plus units first treated after max(t, b) + anticipation, other than cohort g
("notyet"). Sample means replace the expectations.

Inference is analytic, from unit-level influence functions (CS 2021, section 4; the `did`
package for R with bstrap=FALSE): for n units, the influence of unit i on ATT(g, t) is

    psi_i = n * [ D_i (dY_i - mean_D dY) / N_D  -  C_i (dY_i - mean_C dY) / N_C ],

D and C the cohort and control indicators among units observed in both periods, so that
SE = sqrt(sum psi_i^2) / n (= sqrt(s_D^2 / N_D + s_C^2 / N_C) with divisor-N variances).
Aggregations (`event_study`, `overall`) are weighted averages of the ATT(g, t) with weights
proportional to cohort shares P(G = g); their influence functions are the weighted sums of the
cells' plus, by default, the influence of estimating the weights (CS's "wif"), so their SEs
allow for the cohort shares being sample estimates, as the R package does. Intervals and
p-values use the normal distribution. With few treated units these analytic SEs are too
small (a cohort of one unit contributes no variance of its own); `gf_eval.stats.permutation`
gives randomisation inference for that case.

Usage follows statsmodels: ``StaggeredDiD(data, ...).fit()`` returns a `StaggeredDiDResults`
with ``att_gt`` (a DataFrame), ``event_study()``, ``overall()`` and ``summary()``.

Reference: Callaway, B. & Sant'Anna, P. H. C. (2021), Difference-in-differences with multiple
time periods, Journal of Econometrics 225(2), 200-230.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["StaggeredDiD", "StaggeredDiDResults", "Aggregate", "EventStudy",
           "StaggeredInputError", "CONTROLS", "BASES", "OVERALL_KINDS"]  # fmt: skip

CONTROLS = ("never", "notyet")
BASES = ("varying", "universal")
OVERALL_KINDS = ("simple", "group")
NEVER = math.inf  # the start date of a never-treated unit, internally


class StaggeredInputError(ValueError):
    """The data or the specification cannot support the estimator; the message says why."""


def _alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def _label(value) -> str:
    """A unit label for a message: quoted if a string, else as printed (no numpy repr)."""
    return repr(value) if isinstance(value, str) else str(value)


def _fmt_p(p: float) -> str:
    return "" if math.isnan(p) else "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _inference(estimate: float, se: float, alpha: float) -> tuple[float, float, float]:
    """Normal interval and two-sided p; NaN where the SE is 0 or undefined (a reference cell)."""
    if not (se > 0 and math.isfinite(se)):
        return math.nan, math.nan, math.nan
    z = stats.norm.ppf(1 - alpha / 2)
    return (float(estimate - z * se), float(estimate + z * se),
            float(2 * stats.norm.sf(abs(estimate / se))))


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregate:
    """One aggregated parameter (an overall ATT, or theta(e) of the event study).

    `influence` holds the unit-level influence function (in `StaggeredDiDResults.units` order),
    so that further linear combinations of aggregates can be given SEs.
    """

    name: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p: float
    alpha: float
    n_cells: int  # ATT(g, t) cells averaged
    weights_uncertainty: bool  # whether the SE includes the estimation of the cohort shares
    influence: np.ndarray = field(repr=False, compare=False)

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("name", "estimate", "se", "ci_low", "ci_high", "p",
                                              "alpha", "n_cells", "weights_uncertainty")}

    def summary(self) -> str:
        level = f"{1 - self.alpha:.0%}"
        return (f"{self.name}: {self.estimate:.5g} (se {self.se:.4g}), {level} CI "
                f"[{self.ci_low:.5g}, {self.ci_high:.5g}], p = {_fmt_p(self.p) or 'n/a'}")

    def __str__(self) -> str:
        return self.summary()


@dataclass(frozen=True)
class EventStudy:
    """theta(e) for each event time e = t - g: the average of ATT(g, g + e) over the cohorts
    observed at e, weighted by cohort size. `table` has one row per e."""

    terms: tuple[Aggregate, ...]
    event_times: tuple[int, ...]
    alpha: float
    weights_uncertainty: bool

    @property
    def estimate(self) -> np.ndarray:
        return np.array([a.estimate for a in self.terms])

    @property
    def se(self) -> np.ndarray:
        return np.array([a.se for a in self.terms])

    @property
    def ci_low(self) -> np.ndarray:
        return np.array([a.ci_low for a in self.terms])

    @property
    def ci_high(self) -> np.ndarray:
        return np.array([a.ci_high for a in self.terms])

    @property
    def ci(self) -> np.ndarray:
        return np.column_stack([self.ci_low, self.ci_high])

    @property
    def p(self) -> np.ndarray:
        return np.array([a.p for a in self.terms])

    @property
    def table(self) -> pd.DataFrame:
        rows = [{"event_time": e, **a.to_dict()} for e, a in zip(self.event_times, self.terms)]
        return pd.DataFrame(rows).drop(columns=["name", "alpha", "weights_uncertainty"])

    def theta(self, e: int) -> Aggregate:
        if e not in self.event_times:
            raise ValueError(f"event time {e!r} is not estimated; have {list(self.event_times)}")
        return self.terms[self.event_times.index(e)]

    def summary(self) -> str:
        level = f"{1 - self.alpha:.0%}"
        lines = [f"{'e':>5}{'estimate':>12}{'se':>11}{'p':>10}{f'[{level} CI':>13}{']':>11}"
                 f"{'cohorts':>9}"]  # fmt: skip
        for e, a in zip(self.event_times, self.terms):
            lines.append(f"{e:>5}{a.estimate:>12.5g}{a.se:>11.4g}{_fmt_p(a.p):>10}"
                         f"{a.ci_low:>13.5g}{a.ci_high:>11.5g}{a.n_cells:>9}")  # fmt: skip
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@dataclass(frozen=True)
class StaggeredDiDResults:
    """The fitted group-time ATTs and their influence functions; see `StaggeredDiD`.

    att_gt columns: group, time, event_time (t - g), base (the base period b), post (t >= g),
    reference (the universal base's own cell, 0 by construction, no SE), estimate, se, ci_low,
    ci_high, p, n_treated and n_control (units observed in both t and b).
    """

    att_gt: pd.DataFrame
    units: pd.Index  # unit labels, the row order of `influence`
    unit_groups: np.ndarray  # each unit's start date (inf = never treated)
    cohorts: dict  # start date -> number of units
    n_units: int
    control: str
    base: str
    anticipation: int
    alpha: float
    influence: np.ndarray = field(repr=False, compare=False)  # n_units x cells

    def _weights_if(self, cells: np.ndarray, c: np.ndarray, uncertainty: bool):
        """Weights c_k pg_k / sum(c pg) over `cells`, and (optionally) their influence."""
        groups = self.att_gt["group"].to_numpy()[cells]
        pg = np.array([self.cohorts[g] for g in groups]) / self.n_units
        s = float(np.sum(c * pg))
        w = c * pg / s
        if not uncertainty:
            return w, None
        # psi of pg_k: 1[G_i = g_k] - pg_k; of w_k: c_k psi_k / s - c_k pg_k sum_j c_j psi_j / s^2
        psi = (self.unit_groups[:, None] == groups[None, :]).astype(float) - pg[None, :]
        wif = c * psi / s - np.outer(psi @ c, c * pg) / s**2
        return w, wif

    def _aggregate(self, name: str, cells: np.ndarray, c: np.ndarray, alpha, uncertainty):
        alpha = self.alpha if alpha is None else _alpha(alpha)
        att = self.att_gt["estimate"].to_numpy()[cells]
        w, wif = self._weights_if(cells, c, uncertainty)
        inf = self.influence[:, cells] @ w
        if wif is not None:
            inf = inf + wif @ att
        est = float(w @ att)
        se = float(np.sqrt(np.sum(inf**2)) / self.n_units)
        if se <= 1e-12 * max(1.0, abs(est)):  # only reference cells: 0 by construction
            se = math.nan
        lo, hi, p = _inference(est, se, alpha)
        return Aggregate(name, est, se, lo, hi, p, alpha, int(cells.size), bool(uncertainty), inf)

    def event_study(self, alpha: float | None = None, weights_uncertainty: bool = True
                    ) -> EventStudy:  # fmt: skip
        """theta(e) = sum_g 1[g + e observed] P(G = g) ATT(g, g + e) / sum_g (the same weights),
        for every event time e estimated (pre-periods included: with base="varying" they are
        period-on-period placebo effects, with "universal" differences from the reference
        period e = -1 - anticipation, reported as 0 with no SE).

        weights_uncertainty=True (the default, as CS and R's `did`) adds to the SE the
        influence of estimating the cohort shares; False treats the cohort sizes as fixed.
        """
        ev = self.att_gt["event_time"].to_numpy()
        terms, times = [], []
        for e in np.unique(ev):
            cells = np.flatnonzero(ev == e)
            terms.append(self._aggregate(f"theta({int(e)})", cells, np.ones(cells.size), alpha,
                                         weights_uncertainty))  # fmt: skip
            times.append(int(e))
        alpha = self.alpha if alpha is None else _alpha(alpha)
        return EventStudy(tuple(terms), tuple(times), alpha, bool(weights_uncertainty))

    def overall(self, kind: str = "simple", alpha: float | None = None,
                weights_uncertainty: bool = True) -> Aggregate:  # fmt: skip
        """One overall ATT from the post-treatment cells (t >= g).

        kind="simple" (the default): the average of all post-treatment ATT(g, t) weighted by
        cohort size, so a cohort observed for more post periods counts more (CS's "simple").
        kind="group": each cohort's average over its post periods, theta(g), then the average
        of theta(g) weighted by cohort size (CS's "group", their recommended summary; every
        cohort counts by its size whatever its exposure). See `event_study` for
        `weights_uncertainty`.
        """
        if kind not in OVERALL_KINDS:
            raise ValueError(f"kind must be one of {', '.join(OVERALL_KINDS)}, not {kind!r}")
        post = np.flatnonzero(self.att_gt["post"].to_numpy())
        if kind == "simple":
            c = np.ones(post.size)
        else:
            groups = self.att_gt["group"].to_numpy()[post]
            m = pd.Series(groups).map(pd.Series(groups).value_counts()).to_numpy()
            c = 1.0 / m
        return self._aggregate(f"overall ATT ({kind})", post, c, alpha, weights_uncertainty)

    def summary(self) -> str:
        width = 80
        level = f"{1 - self.alpha:.0%}"
        never = int(np.sum(np.isinf(self.unit_groups)))
        cohorts = ", ".join(f"{g:g}: {k}" for g, k in self.cohorts.items())
        lines = [
            "Staggered DiD (Callaway & Sant'Anna 2021), no covariates".center(width, "="),
            f"units: {self.n_units}   never treated: {never}   cohorts (start: units): {cohorts}",
            f"control: {self.control}   base period: {self.base}   anticipation: "
            f"{self.anticipation}   SEs: analytic (influence functions, clustered by unit)",
            "-" * width,
            f"{'group':>7}{'time':>7}{'base':>6}{'estimate':>11}{'se':>10}{'p':>9}"
            f"{f'[{level} CI':>12}{']':>10}{'n_D':>5}{'n_C':>5}",
        ]
        for r in self.att_gt.itertuples():
            lines.append(f"{r.group:>7g}{r.time:>7}{r.base:>6}{r.estimate:>11.5g}{r.se:>10.4g}"
                         f"{_fmt_p(r.p):>9}{r.ci_low:>12.5g}{r.ci_high:>10.5g}{r.n_treated:>5}"
                         f"{r.n_control:>5}" + ("  (reference)" if r.reference else ""))  # fmt: skip
        lines += ["-" * width, "event study (weights: cohort size; SE includes their estimation):",
                  self.event_study().summary(), "-" * width]  # fmt: skip
        lines += [self.overall("simple").summary(), self.overall("group").summary(), "=" * width]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------


class StaggeredDiD:
    """Callaway & Sant'Anna's group-time ATTs for a panel with staggered adoption.

    Parameters
    ----------
    data : a long panel, one row per unit and period.
    unit, time, outcome, group : column names. `time` holds whole-number periods, consecutive
        over the panel (every period between the first and last observed for some unit).
        `group` is each unit's first treated period, the same on all its rows; NaN, None, 0
        or +/-inf mean never treated (so period 0 cannot be a start date: number the periods
        so that no cohort starts at 0). A start date after the last period plus
        `anticipation` is treated as never treated within the panel (as R's `did` does).
    control : "never" (never-treated units only) or "notyet" (never treated plus not yet
        treated: first treated after max(t, b) + anticipation, cohort g itself excluded).
    base : "varying" (pre-period cells against t - 1, CS's default) or "universal" (every
        cell against g - 1 - anticipation).
    anticipation : periods before the start date in which units may already react; the base
        of post-period cells moves back by as many periods.
    horizon : if given, only cells with t - g <= horizon are estimated (a placebo analysis
        uses this to stay within the pre-programme data; see
        `gf_eval.stats.permutation.staggered_placebo`).

    Missing data: a unit with a missing outcome (a NaN, or no row) in period t or in the base
    b is left out of that ATT(g, t), as a treated or a control unit alike, and counts in the
    others; this assumes the outcomes are missing independently of the potential trends.
    Units with no observed outcome at all are dropped. Cohort sizes (the aggregation weights)
    count every unit of the cohort.

    Raises `StaggeredInputError` (a ValueError) naming the problem for: missing columns;
    missing unit or time values; non-integer times or start dates; repeated (unit, time) rows;
    periods with no observation for any unit (a panel that cannot be repaired by treating
    the gaps as missing); infinite outcomes; a unit whose start date changes between rows; a
    cohort treated in the first period (no pre-period base; with anticipation, too early for
    its base g - 1 - anticipation); no treated cohort; and any ATT(g, t) with no observed
    cohort-g unit or no observed control unit (e.g. control="notyet" with no never-treated
    units leaves the last cohort's post periods without controls: add never-treated units,
    or drop those periods).
    """

    def __init__(
        self,
        data: pd.DataFrame,
        unit: str,
        time: str,
        outcome: str,
        group: str,
        control: str = "never",
        base: str = "varying",
        anticipation: int = 0,
        horizon: int | None = None,
    ):
        if control not in CONTROLS:
            raise StaggeredInputError(f"control must be one of {', '.join(CONTROLS)}, "
                                      f"not {control!r}")  # fmt: skip
        if base not in BASES:
            raise StaggeredInputError(f"base must be one of {', '.join(BASES)}, not {base!r}")
        if isinstance(anticipation, bool) or not isinstance(anticipation, numbers.Integral) \
                or anticipation < 0:  # fmt: skip
            raise StaggeredInputError(f"anticipation must be a whole number >= 0, "
                                      f"not {anticipation!r}")  # fmt: skip
        if horizon is not None and (isinstance(horizon, bool)
                                    or not isinstance(horizon, numbers.Integral)):  # fmt: skip
            raise StaggeredInputError(f"horizon must be a whole number or None, not {horizon!r}")
        self.unit, self.time, self.outcome, self.group = unit, time, outcome, group
        self.control, self.base, self.anticipation = control, base, int(anticipation)
        self.horizon = None if horizon is None else int(horizon)
        self._prepare(data)
        self._cells = self._make_cells()
        self._check_cells()

    # --- input checks and the wide panel ------------------------------------------------------

    def _prepare(self, data: pd.DataFrame) -> None:
        cols = {"unit": self.unit, "time": self.time, "outcome": self.outcome,
                "group": self.group}  # fmt: skip
        if not isinstance(data, pd.DataFrame):
            raise StaggeredInputError("data must be a pandas DataFrame (a long panel)")
        missing = [f"{role} {c!r}" for role, c in cols.items() if c not in data.columns]
        if missing:
            raise StaggeredInputError(f"columns not in the data: {', '.join(missing)}")
        if data.empty:
            raise StaggeredInputError("data has no rows")
        df = data[list(dict.fromkeys(cols.values()))].copy()
        if df[self.unit].isna().any():
            raise StaggeredInputError(f"unit column {self.unit!r} has missing values")
        times = pd.to_numeric(df[self.time], errors="coerce")
        if times.isna().any():
            raise StaggeredInputError(f"time column {self.time!r} has missing or non-numeric "
                                      "values")  # fmt: skip
        tv = times.to_numpy(dtype=float)
        if not (np.isfinite(tv).all() and np.all(tv == np.round(tv))):
            bad = tv[~(np.isfinite(tv) & (tv == np.round(tv)))][0]
            raise StaggeredInputError(f"time column {self.time!r} must hold whole-number periods"
                                      f" (non-integer times such as {bad!r}): renumber the "
                                      "periods 1, 2, ...")  # fmt: skip
        df[self.time] = tv.astype(np.int64)
        dup = df.duplicated([self.unit, self.time])
        if dup.any():
            r = df[dup].iloc[0]
            raise StaggeredInputError(f"repeated (unit, time) rows, e.g. unit {_label(r[self.unit])} in "
                                      f"period {r[self.time]}: one row per unit and period")  # fmt: skip
        y = pd.to_numeric(df[self.outcome], errors="coerce")
        if (y.isna() & df[self.outcome].notna()).any():
            raise StaggeredInputError(f"outcome column {self.outcome!r} has non-numeric values")
        if np.isinf(y.to_numpy(dtype=float)).any():
            raise StaggeredInputError(f"outcome column {self.outcome!r} has infinite values")
        df[self.outcome] = y.astype(float)

        # start dates: NaN/None/0/inf are never treated
        g = pd.to_numeric(df[self.group], errors="coerce")
        if (g.isna() & df[self.group].notna()).any():
            raise StaggeredInputError(f"group column {self.group!r} has non-numeric values")
        gv = g.to_numpy(dtype=float)
        gv = np.where(np.isnan(gv) | (gv == 0) | np.isinf(gv), NEVER, gv)
        fin = np.isfinite(gv)
        if np.any(gv[fin] != np.round(gv[fin])):
            bad = gv[fin][gv[fin] != np.round(gv[fin])][0]
            raise StaggeredInputError(f"group column {self.group!r} must hold whole-number start "
                                      f"periods (found {bad!r})")  # fmt: skip
        df[self.group] = gv
        changes = df.groupby(self.unit, sort=False)[self.group].nunique()
        if (changes > 1).any():
            u = changes.index[changes > 1][0]
            raise StaggeredInputError(f"unit {_label(u)} has more than one start date in {self.group!r}"
                                      ": a unit's group (first treated period) must not "
                                      "change")  # fmt: skip

        periods = np.arange(df[self.time].min(), df[self.time].max() + 1)
        absent = np.setdiff1d(periods, df[self.time].unique())
        if absent.size:
            raise StaggeredInputError(f"no unit is observed in period(s) {absent.tolist()}: the "
                                      "periods must be consecutive integers (renumber them, or "
                                      "drop the gap)")  # fmt: skip
        wide = df.pivot(index=self.unit, columns=self.time, values=self.outcome)
        wide = wide.reindex(columns=periods)
        seen = wide.notna().any(axis=1)
        wide = wide[seen]
        if wide.shape[0] == 0:
            raise StaggeredInputError(f"outcome column {self.outcome!r} has no observed values")
        ug = df.groupby(self.unit, sort=False)[self.group].first().reindex(wide.index).to_numpy()
        # a start after the panel (plus anticipation) is never treated within it
        ug = np.where(ug - self.anticipation > periods[-1], NEVER, ug)
        early = np.unique(ug[ug - 1 - self.anticipation < periods[0]])
        if early.size:
            g0 = early[0]
            what = "in or before the first period" if g0 <= periods[0] else \
                f"too early for its base period {g0 - 1 - self.anticipation:g} " \
                f"(anticipation {self.anticipation})"  # fmt: skip
            raise StaggeredInputError(f"cohort {g0:g} is treated {what}, so it has no "
                                      f"pre-treatment period in the panel (which starts in "
                                      f"period {periods[0]}): drop those units")  # fmt: skip
        cohorts = np.unique(ug[np.isfinite(ug)])
        if cohorts.size == 0:
            raise StaggeredInputError("no unit is ever treated within the panel")
        self.periods = periods
        self.units = wide.index
        self.unit_groups = ug.astype(float)
        self.cohorts = {float(c): int(np.sum(ug == c)) for c in cohorts}
        self.n_units = int(wide.shape[0])
        self._y = wide.to_numpy(dtype=float)

    def _make_cells(self) -> list[tuple[float, int, int]]:
        """(g, t, b) for every cell estimated, cohort by cohort in time order."""
        a, first = self.anticipation, self.periods[0]
        cells = []
        for g in self.cohorts:
            ref = int(g) - 1 - a
            for t in self.periods:
                if self.horizon is not None and t - g > self.horizon:
                    continue
                if t >= g or self.base == "universal":
                    b = ref
                else:
                    b = int(t) - 1
                    if b < first:
                        continue
                cells.append((g, int(t), b))
        return cells

    def _masks(self, groups: np.ndarray, g: float, t: int, b: int):
        """Cohort and control indicators (before the missing-outcome filter) for cell (g, t, b);
        `groups` is one start date per unit, or a (P, n) stack of them."""
        treat = groups == g
        if self.control == "never":
            ctrl = np.isinf(groups)
        else:
            ctrl = np.isinf(groups) | ((groups > max(t, b) + self.anticipation) & (groups != g))
        return treat, ctrl

    def _check_cells(self) -> None:
        for g, t, b in self._cells:
            if t == b:
                continue
            ok = np.isfinite(self._y[:, t - self.periods[0]] - self._y[:, b - self.periods[0]])
            treat, ctrl = self._masks(self.unit_groups, g, t, b)
            if not (treat & ok).any():
                raise StaggeredInputError(f"ATT(g={g:g}, t={t}): no unit of cohort {g:g} has the "
                                          f"outcome observed in both period {t} and base {b}")  # fmt: skip
            if not (ctrl & ok).any():
                kind = "never-treated" if self.control == "never" else \
                    "never-treated or not-yet-treated"  # fmt: skip
                raise StaggeredInputError(f"ATT(g={g:g}, t={t}): no {kind} control unit has the "
                                          f"outcome observed in both period {t} and base {b}"
                                          + (": use control='notyet', or add never-treated units"
                                             if self.control == "never" else
                                             ": add never-treated units, or drop the periods "
                                             "after the last cohort starts"))  # fmt: skip

    # --- estimation ---------------------------------------------------------------------------

    def _att_batch(self, groups: np.ndarray, influence: bool = False):
        """ATT(g, t) for every cell under each row of `groups` (P x n start dates); with
        influence=True (P = 1) also the n x cells influence functions."""
        groups = np.atleast_2d(groups)
        p0 = self.periods[0]
        att = np.empty((groups.shape[0], len(self._cells)))
        inf = np.zeros((self.n_units, len(self._cells))) if influence else None
        ns = np.zeros((2, len(self._cells)), dtype=int)
        for k, (g, t, b) in enumerate(self._cells):
            if t == b:  # the universal base's own cell
                att[:, k] = 0.0
                continue
            d = self._y[:, t - p0] - self._y[:, b - p0]
            ok = np.isfinite(d)
            d0 = np.where(ok, d, 0.0)
            treat, ctrl = self._masks(groups, g, t, b)
            treat, ctrl = treat & ok, ctrl & ok
            n1, n0 = treat.sum(axis=1), ctrl.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                m1, m0 = (treat @ d0) / n1, (ctrl @ d0) / n0
            att[:, k] = m1 - m0
            if influence:
                t1, c1 = treat[0], ctrl[0]
                inf[:, k] = self.n_units * (t1 * (d0 - m1[0]) / n1[0] - c1 * (d0 - m0[0]) / n0[0])
                ns[:, k] = n1[0], n0[0]
        return att, inf, ns

    def fit(self, alpha: float = 0.05) -> StaggeredDiDResults:
        alpha = _alpha(alpha)
        att, inf, ns = self._att_batch(self.unit_groups[None, :], influence=True)
        rows = []
        for k, (g, t, b) in enumerate(self._cells):
            est = float(att[0, k])
            ref = t == b
            se = math.nan if ref else float(np.sqrt(np.sum(inf[:, k] ** 2)) / self.n_units)
            lo, hi, p = _inference(est, se, alpha)
            rows.append({"group": g, "time": t, "event_time": int(t - g), "base": b,
                         "post": t >= g, "reference": ref, "estimate": est, "se": se,
                         "ci_low": lo, "ci_high": hi, "p": p, "n_treated": int(ns[0, k]),
                         "n_control": int(ns[1, k])})  # fmt: skip
        return StaggeredDiDResults(
            att_gt=pd.DataFrame(rows), units=self.units, unit_groups=self.unit_groups.copy(),
            cohorts=dict(self.cohorts), n_units=self.n_units, control=self.control,
            base=self.base, anticipation=self.anticipation, alpha=alpha, influence=inf,
        )  # fmt: skip

    # --- the fast path for randomisation inference --------------------------------------------

    def estimate_for_groups(self, groups, target: str | int = "overall", kind: str = "simple"
                            ) -> np.ndarray:  # fmt: skip
        """The point estimate of `target` with the units' start dates replaced by each row of
        `groups` (a (P, n_units) array, or one vector, aligned with `units`; inf = never),
        the panel and the cells unchanged: target "overall" (with `kind` "simple" or
        "group") or an event time e (theta(e)). Vectorised over the P rows, for permutation
        tests; the rows should hold the same multiset of start dates as the data (as a
        permutation does), so that every cell has its cohort. Returns P estimates (NaN where
        a cell had no observed cohort or control unit).
        """
        groups = np.atleast_2d(np.asarray(groups, dtype=float))
        if groups.shape[1] != self.n_units:
            raise ValueError(f"groups must have {self.n_units} columns (one per unit), "
                             f"not {groups.shape[1]}")  # fmt: skip
        groups = np.where(np.isnan(groups) | (groups == 0) | np.isinf(groups), NEVER, groups)
        att, _, _ = self._att_batch(groups)
        g = np.array([c[0] for c in self._cells])
        t = np.array([c[1] for c in self._cells])
        if isinstance(target, str):
            if target != "overall":
                raise ValueError(f"target must be 'overall' or an event time, not {target!r}")
            if kind not in OVERALL_KINDS:
                raise ValueError(f"kind must be one of {', '.join(OVERALL_KINDS)}, not {kind!r}")
            keep = t >= g
            c = np.ones(keep.sum()) if kind == "simple" else \
                1.0 / pd.Series(g[keep]).map(pd.Series(g[keep]).value_counts()).to_numpy()  # fmt: skip
        else:
            keep = (t - g) == target
            if not keep.any():
                raise ValueError(f"event time {target!r} is not estimated")
            c = np.ones(keep.sum())
        # cohort shares under each assignment
        pg = (groups[:, None, :] == g[keep][None, :, None]).sum(axis=2) / self.n_units
        w = c[None, :] * pg
        w = w / w.sum(axis=1, keepdims=True)
        return np.sum(w * att[:, keep], axis=1)
