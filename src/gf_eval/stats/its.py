"""Interrupted time series (segmented regression), single or controlled (multiple-group).

The model, on the scale of the family's link:

    outcome ~ b0 + b1*T + b2*X + b3*X*(T - T0) [+ seasonality] [+ covariates] [+ offset]

T counts periods from 0 at the first observation, X is 1 from the first post-intervention
period T0 on, and X*(T - T0) is 0 at T0 (the convention of Linden's `itsa` for Stata). With a
group column, one treated series is set against control series with Linden's model, which adds
Z, Z*T, Z*X and Z*X*(T - T0); the Z terms are the treated-minus-control differences.

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
import statsmodels.api as sm
from scipy import stats

from gf_eval.stats.autocorr import Diagnostics, diagnose

FAMILIES = ("gaussian", "poisson", "quasipoisson", "negbin", "binomial")
COUNT_FAMILIES = ("poisson", "quasipoisson", "negbin", "binomial")
SE_TYPES = ("model", "newey", "prais")
SEGMENT = ("intercept", "pre_slope", "level_change", "slope_change")
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
    start : the value of `time` at the first post-intervention period.
    family : gaussian, poisson, quasipoisson, negbin or binomial.
    offset : column whose log is the offset (population, or cases at risk).
    trials : the binomial denominator column (outcome = successes).
    season, period, harmonics : K Fourier pairs sin/cos(2*pi*k*season/period).
    season_dummies : use indicators of the season values instead of Fourier terms.
    covariates : further numeric columns.
    slope_change : include b3 (default True).
    group, treated : the series column and the treated series' value (controlled ITS).
    exclude : periods from T0 left out of the fit (a phase-in window).
    slope_origin : the time value at which the slope-change term is 0 (default: start).
    allow_gaps : accept missing periods (time values a whole number of steps apart, the step
        being the smallest difference); by default a series must have every period.

    Raises `ITSInputError`, with a one-line message naming what to change, for data or a
    specification the model cannot support: missing columns or values; non-numeric, missing,
    repeated, unevenly spaced or (unless `allow_gaps`) gapped times; counts that are negative or
    not whole numbers (binomial: successes outside 0..trials); a non-positive offset; fewer than
    `MIN_PRE` points before or `MIN_POST` points from the start in the fit of any series; fewer
    than `MIN_RESID_DF` residual degrees of freedom; a rank-deficient design (numerical rank of
    the fitted rows); and, in `fit()`, Newey-West lags that are negative or not shorter than the
    shortest series in the fit.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        outcome: str,
        time: str,
        start: float,
        family: str = "gaussian",
        offset: str | None = None,
        trials: str | None = None,
        season: str | None = None,
        period: float = 12,
        harmonics: int = 0,
        season_dummies: bool = False,
        covariates: Sequence[str] = (),
        slope_change: bool = True,
        group: str | None = None,
        treated: object = None,
        exclude: int = 0,
        slope_origin: float | None = None,
        allow_gaps: bool = False,
    ):
        if family not in FAMILIES:
            raise ITSInputError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
        self.outcome, self.time, self.start, self.family = outcome, time, start, family
        self.offset, self.trials, self.group, self.treated = offset, trials, group, treated
        self.exclude, self.slope_change = _whole("exclude", exclude), slope_change
        self.season, self.period, self.harmonics = season, period, _whole("harmonics", harmonics)
        self.season_dummies, self.covariates = season_dummies, tuple(covariates)
        self.slope_origin = start if slope_origin is None else slope_origin
        self.allow_gaps = bool(allow_gaps)
        _finite("start", start)
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
            if (t < self.start).sum() == 0 or (t >= self.start).sum() == 0:
                raise ITSInputError(
                    f"no observations {'before' if (t < self.start).sum() == 0 else 'from'} "
                    f"the start {self.start}{label}"
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
        window = f" after the {self.exclude}-period phase-in" if self.exclude else ""
        for name in pd.unique(ids):
            rows = (ids == name) & m
            label = f" (series {name})" if self.group else ""
            pre, post = int((t[rows] < self.start).sum()), int((t[rows] >= self.start).sum())
            if pre < MIN_PRE:
                raise ITSInputError(
                    f"start {self.start} leaves {pre} pre-intervention periods in the fit{label}; "
                    f"at least {MIN_PRE} are needed (a level and a slope, and one to spare): "
                    "choose a later start"
                )
            need = MIN_POST[bool(self.slope_change)]
            if post < need:
                what = "a level and a slope change" if self.slope_change else "a level change"
                fixes = ["an earlier start"] + (["a shorter phase-in"] if self.exclude else []) \
                    + (["no slope change"] if self.slope_change else [])
                raise ITSInputError(
                    f"start {self.start} leaves {post} post-intervention periods in the fit"
                    f"{window}{label}; at least {need} are needed for {what}: choose "
                    + " or ".join(fixes)
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
        x = (df[self.time] >= self.start).astype(float)
        terms = {"intercept": np.ones(len(df)), "pre_slope": t, "level_change": x}
        if self.slope_change:
            terms["slope_change"] = x * (df[self.time] - self.slope_origin)
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
            max_lag: int = 12) -> ITSResults:  # fmt: skip
        """Fit with model-based, Newey-West (`lags`; default the suggested lag) or
        Prais-Winsten AR(1) standard errors."""
        if se not in SE_TYPES:
            raise ITSInputError(f"se must be one of {', '.join(SE_TYPES)}, not {se!r}")
        if se == "prais" and self.family != "gaussian":
            raise ITSInputError("Prais-Winsten standard errors are for the gaussian family only")
        if lags is not None:
            lags = _whole("lags", lags)
        m = self.fit_mask
        if se == "newey" and lags is not None:
            self._check_lags(lags)
        base = self._fit_statsmodels(m, "model", None)
        diagnostics = self._diagnostics(base, m, max_lag)
        rho = None
        if se == "model":
            result = base
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
        return res

    def _check_lags(self, lags: int) -> None:
        """Newey-West lags must be shorter than every series in the fit."""
        rows = self.data[self.fit_mask]
        n = int(rows.groupby(self.group).size().min()) if self.group else len(rows)
        if lags >= n:
            which = "the shortest series has" if self.group else "the fit has"
            raise ITSInputError(f"Newey-West lags of {lags} are too many: {which} {n} periods "
                                f"(at most {n - 1} lags)")  # fmt: skip

    def _fit_statsmodels(self, mask: np.ndarray, se: str, lags: int | None):
        y, X = self.endog[mask], self.exog[mask]
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
            return sm.OLS(y, X).fit(**fit_kw)
        if self.family == "negbin":
            return _fit_negbin(y, X, offset, fit_kw)
        family = sm.families.Binomial() if self.family == "binomial" else sm.families.Poisson()
        model = sm.GLM(y, X, family=family, offset=offset)
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
                alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
        """Refit on the pre-intervention data with an interruption at each placebo start."""
        pre = self.data[self.data[self.time] < self.start]
        rows = []
        for start in starts:
            if _finite("placebo start", start) >= self.start:
                raise ITSInputError(f"placebo start {start} is not before the real start")
            try:
                model = ITS(pre, self.outcome, self.time, start, self.family, self.offset,
                            self.trials, self.season, self.period, self.harmonics,
                            self.season_dummies, self.covariates, self.slope_change, self.group,
                            self.treated, allow_gaps=self.allow_gaps)  # fmt: skip
                res = model.fit(se=se, lags=lags, alpha=alpha)
            except ITSInputError as err:
                raise ITSInputError(
                    f"placebo start {start} (pre-period data only): {err}"
                ) from None
            for name in ("level_change", "slope_change"):
                if name in res.terms:
                    rows.append({"start": start, "term": name, **res.terms[name].to_dict()})
        return pd.DataFrame(rows)


def _fit_negbin(y, X, offset, fit_kw):
    """NB2 by maximum likelihood from the Poisson estimates; Newton first, then the more
    robust Nelder-Mead and BFGS when alpha sits near its boundary of 0."""
    poisson = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset).fit()
    model = sm.NegativeBinomial(y, X, offset=offset)
    start = np.append(poisson.params, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-convergence is checked below, not warned about
        for method in ("newton", "nm", "bfgs"):
            res = model.fit(start_params=start, method=method, maxiter=5000, disp=0, **fit_kw)
            if res.mle_retvals.get("converged") and np.all(np.isfinite(res.params)):
                try:  # alpha at its boundary of 0 leaves a singular information matrix
                    if np.all(np.isfinite(np.asarray(res.cov_params()))):
                        return res
                except (ValueError, np.linalg.LinAlgError):
                    pass
            if np.all(np.isfinite(res.params)):
                start = np.asarray(res.params)
    raise ITSInputError(
        "the negative binomial model did not converge or has no covariance (often alpha near 0: "
        "no overdispersion); try quasipoisson"
    )


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
    return sm.OLS(ys, pd.DataFrame(Xs, columns=columns)).fit(), rho


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
    segment terms (intercept, pre_slope, level_change, slope_change, post_slope, and with groups
    the control_ and diff_ terms) on the link scale.
    """

    def __init__(self, model: ITS, result, se: str, lags: int | None, alpha: float,
                 diagnostics: Diagnostics, rho: float | None):  # fmt: skip
        self.model, self.result, self.se, self.lags, self.alpha = model, result, se, lags, alpha
        self.diagnostics, self.rho = diagnostics, rho
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
            self.dispersion = float(np.asarray(result.params)[-1])  # NB2 alpha
        self.terms = {name: self.lincom(w) for name, w in self._term_weights().items()}
        self.terms.update(
            {c: self.lincom({c: 1.0}) for c in names if c not in self._segment_names()}
        )
        self.pvalues = pd.Series({c: self.lincom({c: 1.0}).p for c in names})

    # --- inference helpers --------------------------------------------------------------------

    def cov_params(self) -> pd.DataFrame:
        return self._cov.copy()

    def quantile(self) -> float:
        q = 1 - self.alpha / 2
        return float(stats.t.ppf(q, self.df_resid) if self.use_t else stats.norm.ppf(q))

    def _p(self, z: float) -> float:
        dist = stats.t(self.df_resid) if self.use_t else stats.norm
        return float(2 * dist.sf(abs(z)))

    def conf_int(self) -> pd.DataFrame:
        q = self.quantile()
        return pd.DataFrame({"lower": self.params - q * self.bse, "upper": self.params + q * self.bse})

    def lincom(self, weights: dict[str, float]) -> Term:
        """A linear combination of the coefficients, with its exact standard error."""
        w = pd.Series(0.0, index=self.params.index)
        for k, v in weights.items():
            w[k] = v
        est = float(w @ self.params)
        se = float(np.sqrt(w @ self._cov @ w))
        q = self.quantile()
        p = self._p(est / se) if se > 0 else float("nan")
        return Term(est, se, est - q * se, est + q * se, p)

    def _segment_names(self) -> list[str]:
        return [c for c in self.params.index if c.split("_", 1)[-1] in SEGMENT or c in SEGMENT]

    def _term_weights(self) -> dict[str, dict[str, float]]:
        has_slope = self.model.slope_change
        if not self.model.group:
            out = {k: {k: 1.0} for k in SEGMENT if k in self.params.index}
            out["post_slope"] = {"pre_slope": 1.0, **({"slope_change": 1.0} if has_slope else {})}
            return out
        out = {}
        for k in SEGMENT:
            if f"control_{k}" in self.params.index:
                out[k] = {f"control_{k}": 1.0, f"diff_{k}": 1.0}
                out[f"control_{k}"] = {f"control_{k}": 1.0}
                out[f"diff_{k}"] = {f"diff_{k}": 1.0}
        post = ["pre_slope", "slope_change"] if has_slope else ["pre_slope"]
        out["post_slope"] = {f"{p}_{k}": 1.0 for k in post for p in ("control", "diff")}
        out["control_post_slope"] = {f"control_{k}": 1.0 for k in post}
        return out

    # --- derived quantities on the response scale ---------------------------------------------

    def _eta(self, params: np.ndarray, rows: np.ndarray, counterfactual: bool) -> np.ndarray:
        X = self.model.exog.to_numpy(dtype=float)[rows].copy()
        if counterfactual:
            for name in ("level_change", "slope_change"):
                for col in (name, f"diff_{name}"):
                    if col in self.model.exog.columns:
                        X[:, self.model.exog.columns.get_loc(col)] = 0.0
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
        and the relative effect (fitted / counterfactual - 1), both with delta-method intervals."""
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
                for col in ("level_change", "slope_change", "diff_level_change", "diff_slope_change"):
                    if col in m.exog.columns:
                        Xc[:, m.exog.columns.get_loc(col)] = 0.0
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
            "alpha": self.alpha,
            "inference": "t" if self.use_t else "normal",
            "relative_change_end": self.relative_change_end().to_dict(),
            "relative_change_cumulative": self.relative_change_cumulative().to_dict(),
            "diagnostics": self.diagnostics.to_dict(),
        }

    def summary(self) -> str:
        m = self.model
        se_text = {"model": "model-based", "newey": f"Newey-West, lag {self.lags}",
                   "prais": f"Prais-Winsten AR(1), rho = {self.rho or 0:.4f}"}[self.se]  # fmt: skip
        width = 78
        lines = [
            "Interrupted time series".center(width, "="),
            f"outcome: {m.outcome}   family: {m.family}   standard errors: {se_text}",
            f"observations: {self.nobs}   residual df: {self.df_resid:g}   dispersion: "
            f"{self.dispersion:.4g}   start: {m.time} = {m.start}"
            + (f"   phase-in excluded: {m.exclude}" if m.exclude else ""),
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
