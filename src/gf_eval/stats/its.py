"""Interrupted time series (segmented regression), single or controlled (multiple-group).

The model, on the scale of the family's link:

    outcome ~ b0 + b1*T + b2*X + b3*X*(T - T0) [+ seasonality] [+ covariates] [+ offset]

T counts periods from 0 at the first observation, X is 1 from the first post-intervention
period T0 on, and X*(T - T0) is 0 at T0 (the convention of Linden's `itsa` for Stata). With a
group column, one treated series is set against control series with Linden's model, which adds
Z, Z*T, Z*X and Z*X*(T - T0); the Z terms are the treated-minus-control differences. Further
interruptions T_2 < T_3 ... each add X_k = 1[T >= T_k] and X_k*(T - T_k) (and their Z terms);
see `ITS` for their names.

Usage follows statsmodels: ``ITS(data, ...).fit(se=...)`` returns an `ITSResults` with
estimates, standard errors, intervals, p-values, derived effects and ``summary()``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
# The modules themselves, not statsmodels.api, which imports all of statsmodels (0.5 s).
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.regression.linear_model import OLS
from scipy import optimize, stats

from gf_eval.stats import errors
from gf_eval.stats.autocorr import Diagnostics, diagnose

FAMILIES = ("gaussian", "poisson", "quasipoisson", "negbin", "binomial")
COUNT_FAMILIES = ("poisson", "quasipoisson", "negbin", "binomial")
SE_TYPES = ("model", "newey", "prais", "ar1", "bootstrap")
# What the data must hold (each series apart, counting only the periods in the fit):
MIN_PRE = 3  # before the start: a level and a slope, and one point to spare
MIN_POST = {True: 2, False: 1}  # from the start, with and without a slope change
MIN_RESID_DF = 3  # observations minus parameters (the NB2 alpha included)


class ITSInputError(ValueError):
    """The data or the specification cannot support the model; the message says why."""


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ITSInputError(f"{name} must be a finite number, not {value!r}")
    return float(value)


def _whole(name: str, value: object, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and float(value).is_integer() and value >= low):  # fmt: skip
        raise ITSInputError(f"{name} must be a whole number >= {low}, not {value!r}")
    return int(value)


def _starts(value: object) -> tuple:
    """The interruption start(s): one number, or a non-empty sequence of numbers (kept as
    given, so that messages print them as the user wrote them)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray, pd.Series)):
        _finite("start", value)
        return (value,)
    values = tuple(value.tolist() if isinstance(value, (np.ndarray, pd.Series)) else value)
    if not values:
        raise ITSInputError("start must be a number or a non-empty sequence of numbers, not []")
    for v in values:
        _finite("start", v)
    return values


def _suffixed(name: str, k: int) -> str:
    """The name of a term of interruption k (0 the first): level_change, level_change_2, ..."""
    return name if k == 0 else f"{name}_{k + 1}"


def _is_whole(x: np.ndarray) -> np.ndarray:
    return np.abs(x - np.round(x)) <= 1e-9 * np.maximum(1.0, np.abs(x))


@dataclass(frozen=True)
class Term:
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class ITS:
    """An interrupted time series model; see the module docstring for the terms.

    Parameters
    ----------
    data : the observations, one row per period (and per series with `group`).
    outcome, time : column names; time must be numeric and equally spaced, without repeats
        within a series.
    start : the value of `time` at the first post-intervention period; or an increasing
        sequence of them, one per interruption (a programme that starts and later ends, say).
        Interruption k >= 2 at T_k adds X_k = 1[T >= T_k] (term `level_change_k`) and
        X_k*(T - T_k) (`slope_change_k`, zero at T_k: each later interruption is its own slope
        origin). The first keeps the names `level_change` and `slope_change` (and
        `slope_origin`), so one start given as a number or as a one-item list fits the same
        model with the same names. The results add `post_slope_k`, the slope between
        interruptions k and k + 1 (pre_slope plus the first k slope changes), and
        `post_slope`, the slope after the last one (pre_slope plus every slope change); with
        groups every one of these has its control_ and diff_ terms as well. "Post" periods
        (the phase-in, `relative_change_cumulative`, `effect_at`) are those from the first
        start, and the counterfactual is the pre-period trend with no interruption at all, so
        the relative change at the last period includes every level and slope change.
    family : gaussian, poisson, quasipoisson, negbin or binomial.
    offset : column whose log is the offset (population, or cases at risk).
    trials : the binomial denominator column (outcome = successes).
    season, period, harmonics : K Fourier pairs sin/cos(2*pi*k*season/period).
    season_dummies : use indicators of the season values instead of Fourier terms.
    covariates : further numeric columns.
    slope_change : include b3 (default True); with several starts, True or False for all, or
        one flag per interruption (a level change alone after a late start, say).
    group, treated : the series column and the treated series' value (controlled ITS).
    exclude : periods from T0 (the first start) left out of the fit (a phase-in window).
    slope_origin : the time value at which the first slope-change term is 0 (default: the
        first start).
    allow_gaps : accept missing periods (time values a whole number of steps apart, the step
        being the smallest difference); by default a series must have every period.

    Raises `ITSInputError`, with a one-line message naming what to change, for data or a
    specification the model cannot support: missing columns or values; non-numeric, missing,
    repeated, unevenly spaced or (unless `allow_gaps`) gapped times; counts that are negative or
    not whole numbers (binomial: successes outside 0..trials); a non-positive offset; a start
    with no observations before or from it, or fewer than `MIN_PRE` points before it in the fit
    of any series (each start is checked on its own first); starts that are not increasing;
    fewer than `MIN_POST` points in the fit of any series from each start to the next (or to
    the end of the data after the last); fewer
    than `MIN_RESID_DF` residual degrees of freedom; a rank-deficient design (numerical rank of
    the fitted rows); and, in `fit()`, Newey-West lags that are negative or not shorter than the
    shortest series in the fit.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        outcome: str,
        time: str,
        start: float | Sequence[float],
        family: str = "gaussian",
        offset: str | None = None,
        trials: str | None = None,
        season: str | None = None,
        period: float = 12,
        harmonics: int = 0,
        season_dummies: bool = False,
        covariates: Sequence[str] = (),
        slope_change: bool | Sequence[bool] = True,
        group: str | None = None,
        treated: object = None,
        exclude: int = 0,
        slope_origin: float | None = None,
        allow_gaps: bool = False,
    ):
        if family not in FAMILIES:
            raise ITSInputError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
        self.starts = _starts(start)  # every interruption; `start` is the first
        self.outcome, self.time, self.start, self.family = outcome, time, self.starts[0], family
        self.offset, self.trials, self.group, self.treated = offset, trials, group, treated
        self.exclude = _whole("exclude", exclude)
        flags = [bool(slope_change)] * len(self.starts) if np.ndim(slope_change) == 0 \
            else [bool(f) for f in slope_change]
        if len(flags) != len(self.starts):
            raise ITSInputError(f"slope_change has {len(flags)} flags for {len(self.starts)} "
                                "starts: give one per start, or one for all")  # fmt: skip
        # slope_changes: one flag per interruption; slope_change: whether any has a slope.
        self.slope_changes, self.slope_change = tuple(flags), any(flags)
        self.season, self.period, self.harmonics = season, period, _whole("harmonics", harmonics)
        self.season_dummies, self.covariates = season_dummies, tuple(covariates)
        self.slope_origin = self.start if slope_origin is None else slope_origin
        self.allow_gaps = bool(allow_gaps)
        _finite("slope_origin", self.slope_origin)
        if season and self.harmonics and not season_dummies:
            if _finite("period", period) <= 0:
                raise ITSInputError(f"period must be positive, not {period!r}")
        self.data = self._checked(data)
        self.exog = self._design(self.data)
        self.fit_mask = self._fit_mask()
        self._check_fit_size()

    # --- input checks -------------------------------------------------------------------------

    def _checked(self, data: pd.DataFrame) -> pd.DataFrame:
        roles = {"outcome": self.outcome, "time": self.time, "offset": self.offset,
                 "trials": self.trials, "season": self.season, "group": self.group,
                 **{f"covariate {c}": c for c in self.covariates}}  # fmt: skip
        roles = {role: col for role, col in roles.items() if col}
        needed = list(dict.fromkeys(roles.values()))
        missing = [c for c in needed if c not in data.columns]
        if missing:
            raise ITSInputError(f"column not found: {', '.join(map(str, missing))}")
        if len(needed) < len(roles):
            twice = [c for c in needed if list(roles.values()).count(c) > 1][0]
            uses = [r for r, c in roles.items() if c == twice]
            raise ITSInputError(f"column {twice} is given for more than one role: "
                                f"{', '.join(uses)}")  # fmt: skip
        df = data[needed].copy()
        for col in [c for c in needed if c != self.group]:
            if not pd.api.types.is_numeric_dtype(df[col]):
                converted = pd.to_numeric(df[col], errors="coerce")
                bad = int((converted.isna() & df[col].notna()).sum())
                if bad:
                    raise ITSInputError(f"column {col}: {bad} non-numeric values")
                df[col] = converted
        holes = {c: int(n) for c, n in df.isna().sum().items() if n}
        if holes:
            text = ", ".join(f"{c} ({n} rows)" for c, n in holes.items())
            raise ITSInputError(f"missing values in {text}")
        for col in [c for c in needed if c != self.group]:
            infinite = int(np.isinf(df[col].to_numpy(dtype=float)).sum())
            if infinite:
                raise ITSInputError(f"column {col}: {infinite} infinite values")
        y = df[self.outcome].to_numpy(dtype=float)
        if self.family in COUNT_FAMILIES:
            if (y < 0).any():
                raise ITSInputError(f"column {self.outcome}: {(y < 0).sum()} negative counts")
            fraction = int((~_is_whole(y)).sum())
            if fraction:
                raise ITSInputError(
                    f"column {self.outcome}: {fraction} counts are not whole numbers (the "
                    f"{self.family} family models counts; use gaussian for other outcomes)"
                )
        if self.family == "binomial":
            if not self.trials:
                raise ITSInputError("the binomial family needs --trials (the denominator)")
            n = df[self.trials].to_numpy(dtype=float)
            bad = int(((n < 1) | ~_is_whole(n)).sum())
            if bad:
                raise ITSInputError(f"column {self.trials}: {bad} trials are not whole "
                                    "numbers >= 1")  # fmt: skip
            over = int((y > n).sum())
            if over:
                raise ITSInputError(f"column {self.outcome}: successes exceed {self.trials} "
                                    f"in {over} rows")  # fmt: skip
        if self.offset and self.family == "gaussian":
            raise ITSInputError("an offset needs a count family (the gaussian model has none)")
        if self.offset and (df[self.offset] <= 0).any():
            raise ITSInputError(f"column {self.offset}: {int((df[self.offset] <= 0).sum())} "
                                "values are not positive (the offset is their log)")  # fmt: skip
        if np.ptp(y) == 0:
            raise ITSInputError(f"column {self.outcome}: the series is constant")
        if self.group:
            groups = df[self.group].unique()
            if self.treated not in groups:
                raise ITSInputError(f"treated value {self.treated!r} not found in {self.group}")
            if len(groups) < 2:
                raise ITSInputError(f"column {self.group}: no control series")
        keys = [self.group, self.time] if self.group else [self.time]
        repeats = int(df.duplicated(keys).sum())
        if repeats:
            first = df.loc[df.duplicated(keys), self.time].iloc[0]
            raise ITSInputError(f"column {self.time}: {repeats} repeated time values within a "
                                f"series, the first {first:g}")  # fmt: skip
        df = df.sort_values(keys).reset_index(drop=True)
        self.step = self._check_spacing(df)
        series = df.groupby(self.group) if self.group else [(None, df)]
        for name, part in series:
            label = f" (series {name})" if self.group else ""
            t = part[self.time]
            for start in self.starts:
                if (t < start).sum() == 0 or (t >= start).sum() == 0:
                    raise ITSInputError(
                        f"no observations {'before' if (t < start).sum() == 0 else 'from'} "
                        f"the start {start}{label}"
                    )
        return df

    def _check_spacing(self, df: pd.DataFrame) -> float:
        """The step between periods: the most common difference of times within a series (the
        smallest if tied). Every difference must be one step, or with allow_gaps a whole number
        of steps."""
        series = df.groupby(self.group, sort=False) if self.group else [(None, df)]
        times = {name: part[self.time].to_numpy(dtype=float) for name, part in series}
        diffs = np.concatenate([np.diff(t) for t in times.values()])
        if not diffs.size:
            return 1.0
        values, counts = np.unique(np.round(diffs, 9), return_counts=True)
        step = float(values[np.argmax(counts)])
        for name, t in times.items():
            label = f" (series {name})" if self.group else ""
            steps = np.diff(t) / step
            whole = np.abs(steps - np.round(steps)) <= 1e-6
            bad = np.flatnonzero(~whole if self.allow_gaps else ~whole | (np.round(steps) != 1))
            if not bad.size:
                continue
            i = bad[0]
            first = f"the first from {t[i]:g} to {t[i + 1]:g}"
            if whole.all():  # only missing periods
                lost = int((np.round(steps[bad]) - 1).sum())
                raise ITSInputError(
                    f"column {self.time} is not equally spaced{label}: {bad.size} gaps ({lost} "
                    f"missing periods of step {step:g}), {first}; add the missing periods, or "
                    "allow gaps (--allow-gaps, allow_gaps=True) if leaving them out is intended"
                )
            raise ITSInputError(
                f"column {self.time} is not equally spaced{label}: {bad.size} differences are "
                f"not {'a whole number of steps' if self.allow_gaps else 'the step'} of "
                f"{step:g} (the most common difference), {first}"
            )
        return step

    def _check_fit_size(self) -> None:
        m, t = self.fit_mask, self.data[self.time].to_numpy(dtype=float)
        ids = self.data[self.group].to_numpy() if self.group else np.zeros(len(t))
        # Each start on its own (enough fitted points before it), then the starts together
        # (increasing, and enough fitted points in each segment they bound).
        for name in pd.unique(ids):
            rows = (ids == name) & m
            label = f" (series {name})" if self.group else ""
            for start in self.starts:
                pre = int((t[rows] < start).sum())
                if pre < MIN_PRE:
                    raise ITSInputError(
                        f"start {start} leaves {pre} pre-intervention periods in the fit{label}; "
                        f"at least {MIN_PRE} are needed (a level and a slope, and one to spare): "
                        "choose a later start"
                    )
        starts = self.starts
        if any(b <= a for a, b in zip(starts, starts[1:])):
            raise ITSInputError(f"the starts must be increasing, not {', '.join(map(str, starts))}")
        for name in pd.unique(ids):
            series = ids == name
            label = f" (series {name})" if self.group else ""
            for k, start in enumerate(starts):
                slope = self.slope_changes[k]
                need = MIN_POST[slope]
                what = "a level and a slope change" if slope else "a level change"
                end = starts[k + 1] if k + 1 < len(starts) else math.inf
                segment = series & (t >= start) & (t < end)
                post = int((segment & m).sum())
                if post >= need:
                    continue
                # The phase-in starts in the first segment and may reach into later ones.
                phased = bool(self.exclude) and (k == 0 or bool((segment & ~m).any()))
                window = f" after the {self.exclude}-period phase-in" if phased else ""
                fixes = (["a shorter phase-in"] if phased else []) \
                    + (["no slope change"] if slope else [])
                if end == math.inf:
                    raise ITSInputError(
                        f"start {start} leaves {post} post-intervention periods in the fit"
                        f"{window}{label}; at least {need} are needed for {what}: choose "
                        + " or ".join(["an earlier start", *fixes])
                    )
                raise ITSInputError(
                    f"starts {start} and {end} leave {post} periods between them in the fit"
                    f"{window}{label}; at least {need} are needed for {what}: choose "
                    + " or ".join(["starts further apart", *fixes])
                )
        n, k = int(m.sum()), self.exog.shape[1] + (self.family == "negbin")
        if n - k < MIN_RESID_DF:
            raise ITSInputError(
                f"too few points for the model: {n} observations for {k} parameters (at least "
                f"{MIN_RESID_DF} residual degrees of freedom are needed): use fewer terms "
                "(harmonics, season indicators, covariates) or more data"
            )
        X = self.exog[m].to_numpy(dtype=float, copy=True)
        # The rank of unit columns, whatever their scale; a column of rounding noise (sin(pi*k)
        # with a harmonic at half the period) counts as zero.
        X[:, np.abs(X).max(axis=0) <= 1e-10 * max(np.abs(X).max(), 1.0)] = 0.0
        norms = np.linalg.norm(X, axis=0)
        X = X / np.where(norms > 0, norms, 1.0)
        rank = int(np.linalg.matrix_rank(X))
        if rank < X.shape[1]:
            j = next(j for j in range(X.shape[1]) if np.linalg.matrix_rank(X[:, : j + 1]) <= j)
            col = self.exog.columns[j]
            how = "zero" if norms[j] == 0 else "a linear combination of the terms before it"
            raise ITSInputError(
                f"the design is rank-deficient (rank {rank} of {X.shape[1]} columns): {col} is "
                f"{how} in the fitted rows; {self._rank_fix(col)}"
            )

    def _rank_fix(self, col: str) -> str:
        if col in self.covariates:
            return f"drop the covariate {col} (constant, or collinear with the other terms)"
        if col.startswith(("sin", "cos")):
            most = math.ceil(self.period / 2) - 1
            if self.harmonics > most:
                return (f"use at most {most} harmonics with a period of {self.period:g} and "
                        f"whole-number seasons ({self.harmonics} given)")  # fmt: skip
            return f"use fewer harmonics ({self.harmonics} given) or more data"
        if col.startswith("season_"):
            return "use harmonics instead of season indicators, or more data"
        return ("the segments are not identified: move the start, shorten the phase-in, fit no "
                "slope change, or check the time and group columns")  # fmt: skip

    # --- design -------------------------------------------------------------------------------

    def _design(self, df: pd.DataFrame) -> pd.DataFrame:
        first = df.groupby(self.group)[self.time].transform("min") if self.group else df[self.time].min()
        t = (df[self.time] - first).astype(float)
        terms = {"intercept": np.ones(len(df)), "pre_slope": t}
        for k, start in enumerate(self.starts):
            x = (df[self.time] >= start).astype(float)
            terms[_suffixed("level_change", k)] = x
            if self.slope_changes[k]:  # later interruptions are their own slope origin
                origin = self.slope_origin if k == 0 else start
                terms[_suffixed("slope_change", k)] = x * (df[self.time] - origin)
        if self.group:
            z = (df[self.group] == self.treated).astype(float)
            terms = {
                **{f"control_{k}": v for k, v in terms.items()},
                **{f"diff_{k}": z * v for k, v in terms.items()},
            }
        exog = pd.DataFrame(terms)
        if self.season and self.season_dummies:
            dummies = pd.get_dummies(df[self.season], prefix="season", drop_first=True, dtype=float)
            exog = exog.join(dummies)
        elif self.season and self.harmonics:
            angle = 2 * np.pi * df[self.season].to_numpy(dtype=float) / self.period
            for k in range(1, self.harmonics + 1):
                exog[f"sin{k}"] = np.sin(k * angle)
                exog[f"cos{k}"] = np.cos(k * angle)
        for col in self.covariates:
            exog[col] = df[col].astype(float)
        return exog

    @property
    def change_terms(self) -> list[str]:
        """The level- and slope-change terms of every interruption, in design order (without
        the control_/diff_ prefixes of a controlled ITS); zero in the counterfactual."""
        names = []
        for k in range(len(self.starts)):
            names.append(_suffixed("level_change", k))
            if self.slope_changes[k]:
                names.append(_suffixed("slope_change", k))
        return names

    @property
    def segment_terms(self) -> list[str]:
        """The segment terms of the design (intercept, pre_slope and the change terms)."""
        return ["intercept", "pre_slope", *self.change_terms]

    def _fit_mask(self) -> np.ndarray:
        t = self.data[self.time]
        # The phase-in is `exclude` steps of the time column from the start.
        phase_in = (t >= self.start) & (t < self.start + self.exclude * self.step)
        return ~phase_in.to_numpy()

    @property
    def endog(self) -> np.ndarray:
        y = self.data[self.outcome].to_numpy(dtype=float)
        if self.family == "binomial":
            trials = self.data[self.trials].to_numpy(dtype=float)
            return np.column_stack([y, trials - y])
        return y

    @property
    def log_offset(self) -> np.ndarray | None:
        return np.log(self.data[self.offset].to_numpy(dtype=float)) if self.offset else None

    @property
    def treated_rows(self) -> np.ndarray:
        if not self.group:
            return np.ones(len(self.data), dtype=bool)
        return (self.data[self.group] == self.treated).to_numpy()

    # --- fitting ------------------------------------------------------------------------------

    def fit(self, se: str = "model", lags: int | None = None, alpha: float = 0.05,
            max_lag: int = 12, bootstrap: int = 499, seed: int | None = None) -> ITSResults:  # fmt: skip
        """Fit with model-based, Newey-West (`lags`; default the suggested lag),
        Prais-Winsten AR(1), "ar1" (AR(1) plus white noise by REML, sandwich) or "bootstrap"
        (parametric, `bootstrap` replications from that error model; `seed` required)
        standard errors. See `_fit_errors` for the last two."""
        if se not in SE_TYPES:
            raise ITSInputError(f"se must be one of {', '.join(SE_TYPES)}, not {se!r}")
        if se == "bootstrap":
            if seed is None:
                raise ITSInputError("bootstrap standard errors need a seed (--seed, seed=) so "
                                    "that the results can be reproduced")  # fmt: skip
            seed = _whole("seed", seed)
            bootstrap = _whole("bootstrap", bootstrap, low=20)
        if se == "prais" and self.family != "gaussian":
            raise ITSInputError("Prais-Winsten standard errors are for the gaussian family only")
        if lags is not None:
            lags = _whole("lags", lags)
        m = self.fit_mask
        if se == "newey" and lags is not None:
            self._check_lags(lags)
        base = self._fit_statsmodels(m, "model", None)
        # The residual diagnostics are 40% of a fit's time and a placebo or permutation fit
        # reads only its estimates: computed when first read, unless Newey-West needs the lag.
        diagnostics: Diagnostics | Callable[[], Diagnostics] = (
            lambda: self._diagnostics(base, m, max_lag))  # fmt: skip
        if se == "newey" and lags is None:
            diagnostics = diagnostics()
        rho = error_model = None
        if se == "model":
            result = base
        elif se in ("ar1", "bootstrap"):
            result, error_model = self._fit_errors(base, m, se, bootstrap, seed)
        elif se == "newey":
            lags = diagnostics.suggested_lag if lags is None else lags
            result = self._fit_statsmodels(m, "newey", lags)
        else:
            result, rho = prais_winsten(
                self.endog[m], self.exog[m], self.data[self.group][m] if self.group else None
            )
        res = ITSResults(self, result, se, lags if se == "newey" else None, alpha, diagnostics, rho)
        if self.family == "quasipoisson":  # Pearson chi-square / df, whatever the SE choice
            res.dispersion = float(base.pearson_chi2 / base.df_resid)
        res.error_model = error_model
        res.notes = tuple(n for n in (getattr(base, "nb_note", None),) if n)
        return res

    def _fit_errors(self, base, mask: np.ndarray, se: str, bootstrap: int, seed: int | None):
        """Standard errors under an AR(1)-plus-white-noise error model (gf_eval.stats.errors).

        The point estimates are the family's (GLM, or OLS for gaussian). The working
        correlation V(c, rho) of the Pearson residuals r = W^{1/2} z (z the working residuals,
        W the fit's working weights; gaussian: the ordinary residuals) is fitted by REML in the
        orthogonal complement of W^{1/2} X, the scale phi profiled out, one block per series
        with shared (c, rho), gaps in time as longer steps.

        "ar1": Cov(b) = phi (X'WX)^-1 X'W^{1/2} V W^{1/2} X (X'WX)^-1 (c = 0 gives the
        quasi-likelihood model-based covariance).

        "bootstrap": `bootstrap` series simulated from the fitted mean and error model, then
        refitted with the same model; Cov(b) is the covariance of the refitted coefficients.
        Gaussian: y* = fitted + e, e ~ N(0, phi V). Count families, on the scale of the link
        (the log rate; binomial: log odds): eta* = eta + u, u an AR(1) of variance
        s1^2 = phi c / mean(w) plus white noise of variance s0^2 = max(phi (1 - c) - 1, 0) /
        mean(w) (the family's own sampling noise has Pearson variance 1), log-link means
        shifted by -(s1^2 + s0^2)/2 so that they keep the fitted mean; then y* ~ Poisson
        (NB2 with the fitted alpha; binomial with the trials) given eta*.

        Both: t intervals and p-values on the residual df less 2 (the estimated c and rho);
        `df_resid` of the results is that reduced df."""
        X = self.exog[mask].to_numpy(dtype=float)
        ids = self.data[self.group].to_numpy()[mask] if self.group else None
        d = errors.gaps(self.data[self.time].to_numpy(dtype=float)[mask], ids, self.step)
        if self.family == "gaussian":
            w = np.ones(X.shape[0])
            r = np.asarray(base.resid, dtype=float)
        else:
            glm, mu = base.model, np.asarray(base.mu, dtype=float)
            w = glm.iweights * glm.n_trials * glm.family.weights(mu)
            r = np.sqrt(w) * glm.family.link.deriv(mu) * (glm.endog - mu)
        A = np.sqrt(w)[:, None] * X
        model = errors.reml(r, A, d)
        summary = {"c": model.c, "rho": model.rho, "scale": model.scale}
        if se == "ar1":
            cov = errors.sandwich(A, d, model)
            return _ErrorFit(base, cov, base.df_resid - 2), summary
        rng = np.random.default_rng(seed)
        x = errors.ar1_draws(rng, d, model.rho, bootstrap)
        white = rng.standard_normal(x.shape)
        if self.family == "gaussian":  # the AR(1) and white components' SDs, then y*
            sd1, sd0 = math.sqrt(model.scale * model.c), math.sqrt(model.scale * (1 - model.c))
            draws = np.asarray(base.fittedvalues)[None, :] + sd1 * x + sd0 * white
        else:  # on the scale of the link (log rate, log odds)
            s1 = model.scale * model.c / w.mean()
            s0 = max(model.scale * (1 - model.c) - 1, 0.0) / w.mean()
            sd1, sd0 = math.sqrt(s1), math.sqrt(s0)
            eta = glm.family.link(mu)[None, :] + sd1 * x + sd0 * white
            if self.family == "binomial":
                n = glm.n_trials
                k = rng.binomial(n.astype(np.int64), 1 / (1 + np.exp(-eta)))
                draws = np.stack([k, n - k], axis=-1)
            else:
                rate = np.exp(eta - (s1 + s0) / 2)
                nb_alpha = getattr(base, "nb_alpha", 0.0)
                if nb_alpha > 0:  # NB2: a gamma-Poisson mixture of variance m + alpha m^2
                    rate = rate * rng.gamma(1 / nb_alpha, nb_alpha, rate.shape)
                draws = rng.poisson(rate).astype(float)
        params = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for y in draws:
                try:
                    fit = self._fit_statsmodels(mask, "model", None, endog=y)
                except (ITSInputError, ValueError, np.linalg.LinAlgError):
                    continue
                b = np.asarray(fit.params, dtype=float)
                if np.all(np.isfinite(b)):
                    params.append(b)
        if len(params) < 0.9 * bootstrap:
            raise ITSInputError(f"the bootstrap refits failed in {bootstrap - len(params)} of "
                                f"{bootstrap} replications; use se='ar1'")  # fmt: skip
        cov = np.cov(np.array(params), rowvar=False)
        summary.update({"replications": len(params), "seed": seed, "sd_ar1": sd1,
                        "sd_white": sd0})  # fmt: skip
        return _ErrorFit(base, cov, base.df_resid - 2), summary

    def _check_lags(self, lags: int) -> None:
        """Newey-West lags must be shorter than every series in the fit."""
        rows = self.data[self.fit_mask]
        n = int(rows.groupby(self.group).size().min()) if self.group else len(rows)
        if lags >= n:
            which = "the shortest series has" if self.group else "the fit has"
            raise ITSInputError(f"Newey-West lags of {lags} are too many: {which} {n} periods "
                                f"(at most {n - 1} lags)")  # fmt: skip

    def _fit_statsmodels(self, mask: np.ndarray, se: str, lags: int | None,
                         endog: np.ndarray | None = None):  # fmt: skip
        y, X = (self.endog[mask] if endog is None else endog), self.exog[mask]
        offset = None if self.log_offset is None else self.log_offset[mask]
        fit_kw: dict = {}
        if se == "newey":
            if self.group:
                groups = pd.factorize(self.data[self.group][mask])[0]
                fit_kw = {"cov_type": "hac-panel", "use_t": True,
                          "cov_kwds": {"groups": groups, "maxlags": lags, "use_correction": "hac"}}  # fmt: skip
            else:
                fit_kw = {"cov_type": "HAC", "use_t": True,
                          "cov_kwds": {"maxlags": lags, "use_correction": True}}  # fmt: skip
        if self.family == "gaussian":
            return OLS(y, X).fit(**fit_kw)
        if self.family == "negbin":
            return _fit_negbin(y, X, offset, fit_kw)
        family = families.Binomial() if self.family == "binomial" else families.Poisson()
        model = GLM(y, X, family=family, offset=offset)
        scale = "X2" if self.family == "quasipoisson" and se == "model" else None
        return model.fit(scale=scale, **fit_kw)

    def _diagnostics(self, result, mask: np.ndarray, max_lag: int) -> Diagnostics:
        resid = np.asarray(
            result.resid_pearson if hasattr(result, "resid_pearson") else result.resid
        )
        treated = self.treated_rows[mask]
        return diagnose(resid[treated], self.exog[mask].to_numpy()[treated], max_lag)

    # --- falsification ------------------------------------------------------------------------

    def placebo(self, starts: Sequence[float], se: str = "model", lags: int | None = None,
                alpha: float = 0.05, bootstrap: int = 499,
                seed: int | None = None) -> pd.DataFrame:  # fmt: skip
        """Refit on the pre-intervention data with an interruption at each placebo start."""
        pre = self.data[self.data[self.time] < self.start]
        rows = []
        for start in starts:
            if _finite("placebo start", start) >= self.start:
                raise ITSInputError(f"placebo start {start} is not before the real start")
            try:
                model = ITS(pre, self.outcome, self.time, start, self.family, self.offset,
                            self.trials, self.season, self.period, self.harmonics,
                            self.season_dummies, self.covariates, self.slope_changes[0],
                            self.group, self.treated, allow_gaps=self.allow_gaps)  # fmt: skip
                res = model.fit(se=se, lags=lags, alpha=alpha, bootstrap=bootstrap, seed=seed)
            except ITSInputError as err:
                raise ITSInputError(
                    f"placebo start {start} (pre-period data only): {err}"
                ) from None
            for name in ("level_change", "slope_change"):
                if name in res.terms:
                    rows.append({"start": start, "term": name, **res.terms[name].to_dict()})
        return pd.DataFrame(rows)


NB_ALPHA_MAX = 100.0  # the upper bound of the NB2 alpha in its profile likelihood


def _fit_negbin(y, X, offset, fit_kw):
    """NB2 by profile likelihood: alpha maximises the log-likelihood of the GLM fitted with
    NegativeBinomial(alpha) (bounded search of log alpha in [1e-8, NB_ALPHA_MAX]); the
    coefficients' covariance is that GLM's (NB2 alpha and coefficients are asymptotically
    orthogonal). At alpha = 0 NB2 is Poisson: when the profile slope at 0,
    (1/2) sum((y - mu)^2 - y) at the Poisson fit, is not positive, or the best alpha gains no
    likelihood over Poisson, the Poisson fit is returned with alpha = 0 and a note. The result
    carries `nb_alpha` and `nb_note`."""
    poisson = GLM(y, X, family=families.Poisson(), offset=offset).fit()
    start = np.asarray(poisson.params)

    def nb(alpha, **kw):
        family = families.NegativeBinomial(alpha=alpha)
        return GLM(y, X, family=family, offset=offset).fit(start_params=start, **kw)

    def boundary():
        res = GLM(y, X, family=families.Poisson(), offset=offset).fit(**fit_kw)
        res.nb_alpha = 0.0
        res.nb_note = ("NB2 alpha at its boundary of 0 (no overdispersion beyond Poisson): "
                       "the NB2 fit is the Poisson fit")  # fmt: skip
        return res

    mu = np.asarray(poisson.mu)
    if 0.5 * np.sum((y - mu) ** 2 - y) <= 0:
        return boundary()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = optimize.minimize_scalar(lambda s: -nb(math.exp(s)).llf,
                                         bounds=(math.log(1e-8), math.log(NB_ALPHA_MAX)),
                                         method="bounded", options={"xatol": 1e-6})  # fmt: skip
        alpha = math.exp(found.x)
        res = nb(alpha, **fit_kw)
    if not res.converged or not np.all(np.isfinite(np.asarray(res.params))):
        raise ITSInputError("the negative binomial model did not converge; try quasipoisson")
    if res.llf <= poisson.llf + 1e-9:
        return boundary()
    res.nb_alpha, res.nb_note = alpha, None
    if alpha >= 0.999 * NB_ALPHA_MAX:
        res.nb_note = f"NB2 alpha at its upper bound of {NB_ALPHA_MAX:g}"
    return res


class _ErrorFit:
    """A fit's coefficients with another covariance and t inference on `df_resid` degrees of
    freedom, read by ITSResults like a statsmodels result (other attributes: the fit's)."""

    use_t = True

    def __init__(self, base, cov: np.ndarray, df_resid: float):
        self._base, self._cov, self.df_resid = base, np.asarray(cov), float(df_resid)

    def cov_params(self) -> np.ndarray:
        return self._cov

    def __getattr__(self, name):
        return getattr(self._base, name)


def prais_winsten(y: np.ndarray, X: pd.DataFrame, groups: pd.Series | None = None,
                  tol: float = 1e-8, max_iter: int = 200):  # fmt: skip
    """Iterated Prais-Winsten AR(1) regression, keeping the first observation of each series
    (scaled by sqrt(1 - rho^2)) as Stata's `prais` does; rho from the regression of the
    residual on its lag. Returns the OLS results of the transformed model, and rho."""
    columns, X = list(X.columns), X.to_numpy(dtype=float)
    ids = np.zeros(len(y), dtype=int) if groups is None else pd.factorize(groups)[0]
    first = np.r_[True, ids[1:] != ids[:-1]]
    rho = 0.0
    for _ in range(max_iter):
        ys, Xs = _pw_transform(y, X, first, rho)
        beta = np.linalg.lstsq(Xs, ys, rcond=None)[0]
        e = y - X @ beta
        lagged, current = e[:-1][~first[1:]], e[1:][~first[1:]]
        new = float(lagged @ current / (lagged @ lagged))
        new = min(max(new, -0.999), 0.999)
        if abs(new - rho) < tol:
            rho = new
            break
        rho = new
    ys, Xs = _pw_transform(y, X, first, rho)
    return OLS(ys, pd.DataFrame(Xs, columns=columns)).fit(), rho


def _pw_transform(y, X, first, rho):
    ys, Xs = y.astype(float).copy(), X.copy()
    ys[~first] = y[~first] - rho * y[np.flatnonzero(~first) - 1]
    Xs[~first] = X[~first] - rho * X[np.flatnonzero(~first) - 1]
    scale = np.sqrt(1 - rho**2)
    ys[first], Xs[first] = y[first] * scale, X[first] * scale
    return ys, Xs


class ITSResults:
    """Estimates of an ITS fit, in the style of statsmodels results.

    Attributes: params, bse, pvalues (Series by design column), cov_params(), conf_int(),
    df_resid, nobs, dispersion, use_t, diagnostics, rho (Prais-Winsten), and `terms`: the named
    segment terms (intercept, pre_slope, level_change, slope_change, post_slope, for further
    interruptions level_change_k, slope_change_k and post_slope_k, and with groups the control_
    and diff_ terms) on the link scale. With se "ar1" or "bootstrap", `error_model` holds the
    fitted AR(1)-plus-white-noise model ({"c", "rho", "scale"}, and for the bootstrap
    "replications", "seed", "sd_ar1", "sd_white") and df_resid is the residual df less 2;
    `notes` lists remarks on the fit (an NB2 alpha at its boundary).
    """

    error_model: dict | None = None
    notes: tuple[str, ...] = ()

    def __init__(self, model: ITS, result, se: str, lags: int | None, alpha: float,
                 diagnostics: Diagnostics | Callable[[], Diagnostics],
                 rho: float | None):  # fmt: skip
        self.model, self.result, self.se, self.lags, self.alpha = model, result, se, lags, alpha
        self._diagnostics, self.rho = diagnostics, rho
        names = list(model.exog.columns)
        params = np.asarray(result.params)[: len(names)]
        cov = np.asarray(result.cov_params())[: len(names), : len(names)]
        self.params = pd.Series(params, index=names)
        self._cov = pd.DataFrame(cov, index=names, columns=names)
        self.bse = pd.Series(np.sqrt(np.diag(cov)), index=names)
        self.nobs = int(model.fit_mask.sum())
        self.df_resid = float(result.df_resid)
        self.use_t = bool(getattr(result, "use_t", False)) or model.family == "gaussian"
        self.dispersion = float(getattr(result, "scale", 1.0))
        if model.family == "negbin":
            self.dispersion = float(result.nb_alpha)  # NB2 alpha
        # lincom's arrays, as pandas' Series.dot aligns them (the same bits as `w @ params` and
        # `w @ cov @ w` on the Series and DataFrame, at a fraction of the cost: a multi-site
        # run makes tens of thousands of these).
        self._position = {name: i for i, name in enumerate(names)}
        self._params_values = self.params.reindex(index=self.params.index).values
        self._cov_values = self._cov.reindex(index=self.params.index).values
        self._quantile = None
        self.terms = {name: self.lincom(w) for name, w in self._term_weights().items()}
        self.terms.update(
            {c: self.lincom({c: 1.0}) for c in names if c not in self._segment_names()}
        )
        self.pvalues = pd.Series({c: self.lincom({c: 1.0}).p for c in names})

    @property
    def diagnostics(self) -> Diagnostics:
        """The residual diagnostics of the model-based fit (computed when first read)."""
        if not isinstance(self._diagnostics, Diagnostics):
            self._diagnostics = self._diagnostics()
        return self._diagnostics

    # --- inference helpers --------------------------------------------------------------------

    def cov_params(self) -> pd.DataFrame:
        return self._cov.copy()

    def quantile(self) -> float:
        if self._quantile is None:
            q = 1 - self.alpha / 2
            self._quantile = float(stats.t.ppf(q, self.df_resid) if self.use_t
                                   else stats.norm.ppf(q))  # fmt: skip
        return self._quantile

    def _p(self, z: float) -> float:
        sf = stats.t.sf(abs(z), self.df_resid) if self.use_t else stats.norm.sf(abs(z))
        return float(2 * sf)

    def conf_int(self) -> pd.DataFrame:
        q = self.quantile()
        return pd.DataFrame({"lower": self.params - q * self.bse, "upper": self.params + q * self.bse})

    def lincom(self, weights: dict[str, float]) -> Term:
        """A linear combination of the coefficients, with its exact standard error."""
        w = np.zeros(len(self._position))
        for k, v in weights.items():
            if k not in self._position:
                raise ValueError(f"lincom: {k!r} is not a coefficient of the model")
            w[self._position[k]] = v
        est = float(np.dot(w, self._params_values))
        se = float(np.sqrt(np.dot(np.dot(w, self._cov_values), w)))
        q = self.quantile()
        p = self._p(est / se) if se > 0 else float("nan")
        return Term(est, se, est - q * se, est + q * se, p)

    def _segment_names(self) -> list[str]:
        segment = self.model.segment_terms
        return [c for c in self.params.index if c in segment or c.split("_", 1)[-1] in segment]

    def _slope_sums(self) -> dict[str, list[str]]:
        """The slopes after each interruption as sums of terms: post_slope_k between
        interruptions k and k + 1 (with more than one), post_slope after the last."""
        model = self.model
        if not model.slope_change:
            return {"post_slope": ["pre_slope"]}
        n = len(model.starts)
        names = [f"post_slope_{k + 1}" for k in range(n - 1)] + ["post_slope"]
        return {name: ["pre_slope", *(_suffixed("slope_change", j) for j in range(k + 1)
                                      if model.slope_changes[j])]
                for k, name in enumerate(names)}  # fmt: skip

    def _term_weights(self) -> dict[str, dict[str, float]]:
        if not self.model.group:
            out = {k: {k: 1.0} for k in self.model.segment_terms}
            out.update({name: {k: 1.0 for k in cols} for name, cols in self._slope_sums().items()})
            return out
        out = {}
        for k in self.model.segment_terms:
            out[k] = {f"control_{k}": 1.0, f"diff_{k}": 1.0}
            out[f"control_{k}"] = {f"control_{k}": 1.0}
            out[f"diff_{k}"] = {f"diff_{k}": 1.0}
        for name, cols in self._slope_sums().items():
            out[name] = {f"{p}_{k}": 1.0 for k in cols for p in ("control", "diff")}
            out[f"control_{name}"] = {f"control_{k}": 1.0 for k in cols}
        return out

    def _counterfactual_columns(self) -> list[int]:
        """The design columns set to 0 for the counterfactual: every interruption's level and
        slope changes (of the treated-minus-control differences with groups)."""
        m = self.model
        names = [f"diff_{k}" if m.group else k for k in m.change_terms]
        return [m.exog.columns.get_loc(c) for c in names]

    # --- derived quantities on the response scale ---------------------------------------------

    def _eta(self, params: np.ndarray, rows: np.ndarray, counterfactual: bool) -> np.ndarray:
        X = self.model.exog.to_numpy(dtype=float)[rows].copy()
        if counterfactual:
            X[:, self._counterfactual_columns()] = 0.0
        eta = X @ params
        if self.model.log_offset is not None:
            eta = eta + self.model.log_offset[rows]
        return eta

    def _mean(self, eta: np.ndarray) -> np.ndarray:
        family = self.model.family
        if family == "gaussian":
            return eta
        if family == "binomial":
            return 1 / (1 + np.exp(-eta))  # a proportion of the trials
        return np.exp(eta)

    def _delta(self, func: Callable[[np.ndarray], float]) -> tuple[float, float]:
        """A smooth function of the coefficients and its delta-method standard error."""
        b = self.params.to_numpy()
        value = func(b)
        grad = np.empty_like(b)
        for i in range(b.size):
            h = 1e-6 * max(1.0, abs(b[i]))
            up, down = b.copy(), b.copy()
            up[i] += h
            down[i] -= h
            grad[i] = (func(up) - func(down)) / (2 * h)
        return float(value), float(np.sqrt(grad @ self._cov.to_numpy() @ grad))

    def _post_rows(self) -> np.ndarray:
        m = self.model
        return self.model.treated_rows & (m.data[m.time] >= m.start).to_numpy()

    def _ratio_term(self, rows: np.ndarray) -> Term:
        """Relative change sum(fitted) / sum(counterfactual) - 1 over `rows`, with the interval
        from the log scale (delta method) so that it respects the ratio's skew."""

        def log_ratio(b):
            return float(np.log(self._mean(self._eta(b, rows, False)).sum())
                         - np.log(self._mean(self._eta(b, rows, True)).sum()))  # fmt: skip

        est, se = self._delta(log_ratio)
        q = self.quantile()
        p = self._p(est / se) if se > 0 else float("nan")
        return Term(float(np.expm1(est)), se, float(np.expm1(est - q * se)),
                    float(np.expm1(est + q * se)), p)  # fmt: skip

    def effect_at(self, time_value: float) -> dict[str, Term]:
        """At a post period: the absolute effect (fitted minus counterfactual, response scale)
        and the relative effect (fitted / counterfactual - 1), both with delta-method intervals.
        Post periods are those from the first start; the counterfactual (as for every derived
        effect and `predictions`) is the pre-period trend without any of the interruptions."""
        m = self.model
        rows = self.model.treated_rows & (m.data[m.time] == time_value).to_numpy()
        if rows.sum() != 1 or time_value < m.start:
            raise ITSInputError(f"{time_value} is not a post-intervention period of the series")

        def absolute(b):
            return float((self._mean(self._eta(b, rows, False)) - self._mean(self._eta(b, rows, True))).sum())

        est, se = self._delta(absolute)
        q = self.quantile()
        p = self._p(est / se) if se > 0 else float("nan")
        return {"absolute": Term(est, se, est - q * se, est + q * se, p),
                "relative": self._ratio_term(rows)}  # fmt: skip

    def draw_params(self, n: int | None = None, rng: np.random.Generator | None = None,
                    z: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        """Draws of the coefficients (draws x params) from their estimated sampling
        distribution, normal with this fit's covariance (Krinsky and Robb): from `rng` (n
        draws), or from given standard normals `z` (draws x params), so that draws of several
        fits can be correlated."""
        p = len(self.params)
        if z is None:
            if rng is None or n is None:
                raise ValueError("draw_params needs n and rng, or z")
            z = rng.standard_normal((n, p))
        z = np.asarray(z, dtype=float)
        if z.ndim != 2 or z.shape[1] != p:
            raise ValueError(f"z must be draws x {p}, got shape {z.shape}")
        # eigh, not Cholesky: a covariance at the edge of positive definite still draws
        values, vectors = np.linalg.eigh(self._cov.to_numpy())
        root = vectors * np.sqrt(np.clip(values, 0, None))
        return self.params.to_numpy() + z @ root.T

    def simulate(self, draws: np.ndarray) -> pd.DataFrame:
        """The treated series' post-period fitted and counterfactual means (response scale,
        offset kept: counts when the offset is a denominator) under each row of coefficient
        `draws` (from `draw_params`): a long frame of draw, time, fitted, counterfactual."""
        m = self.model
        rows = self._post_rows()
        times = m.data.loc[rows, m.time].to_numpy()
        out = {}
        for label, cf in (("fitted", False), ("counterfactual", True)):
            X = m.exog.to_numpy(dtype=float)[rows].copy()
            if cf:
                X[:, self._counterfactual_columns()] = 0.0
            eta = draws @ X.T
            if m.log_offset is not None:
                eta = eta + m.log_offset[rows]
            mean = self._mean(eta)
            if m.family == "binomial":  # a proportion of the trials: back to counts
                mean = mean * m.data.loc[rows, m.trials].to_numpy(dtype=float)
            out[label] = mean.ravel()
        k = len(draws)
        return pd.DataFrame({"draw": np.repeat(np.arange(k), len(times)),
                             "time": np.tile(times, k), **out})  # fmt: skip

    def relative_change_end(self) -> Term:
        """The relative effect at the last post period against the counterfactual."""
        m = self.model
        last = m.data.loc[self.model.treated_rows, m.time].max()
        return self.effect_at(last)["relative"]

    def relative_change_cumulative(self) -> Term:
        """The relative effect on the total over the post period (phase-in included)."""
        return self._ratio_term(self._post_rows())

    def predictions(self) -> pd.DataFrame:
        """Fitted and counterfactual means of the treated series with pointwise intervals
        (on the link scale, then transformed), keeping the offset."""
        m = self.model
        rows = self.model.treated_rows
        X = m.exog.to_numpy(dtype=float)[rows]
        q = self.quantile()
        cov = self._cov.to_numpy()
        out = pd.DataFrame({"time": m.data.loc[rows, m.time].to_numpy(),
                            "observed": m.data.loc[rows, m.outcome].to_numpy(dtype=float),
                            "in_fit": m.fit_mask[rows]})  # fmt: skip
        for label, cf in (("fitted", False), ("counterfactual", True)):
            Xc = X.copy()
            if cf:
                Xc[:, self._counterfactual_columns()] = 0.0
            eta = self._eta(self.params.to_numpy(), rows, cf)
            se = np.sqrt(np.einsum("ij,jk,ik->i", Xc, cov, Xc))
            out[label] = self._mean(eta)
            out[f"{label}_low"] = self._mean(eta - q * se)
            out[f"{label}_high"] = self._mean(eta + q * se)
        if m.family == "binomial":
            out["observed"] = out["observed"] / m.data.loc[rows, m.trials].to_numpy(dtype=float)
        return out

    # --- reporting ----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "terms": {k: v.to_dict() for k, v in self.terms.items()},
            "n_obs": self.nobs,
            "df_resid": self.df_resid,
            "dispersion": self.dispersion,
            "family": self.model.family,
            "se": self.se,
            "lags": self.lags,
            "rho": self.rho,
            "error_model": self.error_model,
            "notes": list(self.notes),
            "alpha": self.alpha,
            "inference": "t" if self.use_t else "normal",
            "relative_change_end": self.relative_change_end().to_dict(),
            "relative_change_cumulative": self.relative_change_cumulative().to_dict(),
            "diagnostics": self.diagnostics.to_dict(),
        }

    def _error_lines(self) -> list[str]:
        lines = list(self.notes)
        e = self.error_model
        if e:
            lines.append(f"error model: AR(1) share c = {e['c']:.4f}, rho = {e['rho']:.4f}, "
                         f"scale = {e['scale']:.4g}; t on df {self.df_resid:g}")  # fmt: skip
            if "replications" in e:
                lines.append(f"bootstrap: {e['replications']} replications, seed {e['seed']}; "
                             f"link-scale SD AR(1) {e['sd_ar1']:.4g}, white {e['sd_white']:.4g}")  # fmt: skip
        return lines

    def summary(self) -> str:
        m = self.model
        se_text = {"model": "model-based", "newey": f"Newey-West, lag {self.lags}",
                   "prais": f"Prais-Winsten AR(1), rho = {self.rho or 0:.4f}",
                   "ar1": "AR(1) plus white noise (REML), sandwich",
                   "bootstrap": "parametric bootstrap, AR(1) plus white noise"}[self.se]  # fmt: skip
        width = 78
        lines = [
            "Interrupted time series".center(width, "="),
            f"outcome: {m.outcome}   family: {m.family}   standard errors: {se_text}",
            f"observations: {self.nobs}   residual df: {self.df_resid:g}   dispersion: "
            f"{self.dispersion:.4g}   "
            + (f"start: {m.time} = {m.start}" if len(m.starts) == 1
               else f"starts: {m.time} = {', '.join(map(str, m.starts))}")
            + (f"   phase-in excluded: {m.exclude}" if m.exclude else ""),
            *self._error_lines(),
            "-" * width,
            f"{'term':<24}{'estimate':>11}{'se':>11}{'p':>9}   {1 - self.alpha:.0%} CI",
        ]
        for name, t in self.terms.items():
            lines.append(f"{name:<24}{t.estimate:>11.5g}{t.se:>11.4g}{t.p:>9.4f}   "
                         f"[{t.ci_low:.5g}, {t.ci_high:.5g}]")  # fmt: skip
        lines.append("-" * width)
        for label, t in (("relative change, last period", self.relative_change_end()),
                         ("relative change, post total", self.relative_change_cumulative())):  # fmt: skip
            lines.append(f"{label:<32}{t.estimate:>+9.1%}   [{t.ci_low:+.1%}, {t.ci_high:+.1%}]")
        lines += ["-" * width, self.diagnostics.summary(), "=" * width]
        return "\n".join(lines)
