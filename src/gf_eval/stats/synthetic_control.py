"""Synthetic control for one treated unit and J donor units, on the outcomes alone.

The synthetic control (Abadie, Diamond & Hainmueller 2010) is a weighted average of donor units
that tracks the treated unit before the intervention; after it, the gap treated - synthetic is
the estimated effect. Here the predictors are the pre-period outcomes themselves, so the weights
solve

    min_w || y_pre - D_pre w ||^2   subject to   w >= 0, sum(w) = 1,

an ordinary least-squares fit on the simplex (no V matrix: every pre period counts equally).

How the weights are found (they are solved thousands of times: once per placebo, for each treated
unit and outcome): `scipy.optimize.nnls` on the system augmented with a heavily weighted row
``M * 1'w = M`` (M = 1e4 after scaling the problem to unit size), which gives the active set
(which donors get weight); then the equality-constrained least squares on that set is solved
exactly from its KKT system, and kept if its weights are non-negative and its fit no worse than
the renormalised nnls answer (otherwise the nnls weights, clipped and renormalised, are kept).
This is exact, not a penalty approximation, and takes well under a millisecond for 150 donors
and 40 pre periods, against about 2 s for the general-purpose SLSQP; a test checks it against
``scipy.optimize.minimize(method="SLSQP")``. With more donors than pre periods the weights may
not be unique (several combinations fit equally well); the fit and the synthetic path are.

The augmented variant (Ben-Michael, Feller & Rothstein 2021, ridge ASCM) corrects the
synthetic control for its pre-period imbalance with a ridge outcome model:

    synthetic_aug = D (w + w_ridge),
    w_ridge = (y_pre - D_pre w)' (X X' + lambda I)^-1 X,

X being the donors' pre outcomes centred at the donor mean of each period (T0 x J). In the
brief's words this is synthetic + (y_pre - D_pre w)' eta with eta the ridge regression of the
donors' (centred) outcomes on their centred pre outcomes; w_ridge sums to 0, so the augmented
weights still sum to 1 but may be negative (extrapolation beyond the donors' convex hull, which
is what removes the bias when the treated unit lies outside it). The penalty, unless given, is
chosen as in the augsynth R package and pysyncon's AugSynth: leave one pre period out (each of
the first T0 - 1 in turn; the simplex weights refitted without it), over the grid
lambda_k = s1^2 * r^(k - 1), k = 0..20, r = 1e-8^(1/20), s1 the largest singular value of X;
the error is the squared miss of the held-out period, and the penalty is the largest lambda
whose mean error is within one standard error of the smallest mean ("1-SE rule"). It is
deterministic. It needs at least 3 pre periods.

Inference is by placebos in space: each donor in turn is treated as if it were the treated
unit and refitted (same method and penalty rule) with the other donors as its pool, the treated
unit left out of it unless asked (Abadie et al. leave it out). The p-value of the treated unit
is the rank of its post/pre RMSPE ratio among the placebos', (1 + #{ratio_j >= ratio}) /
(1 + J); for the mean effect over given post periods, (1 + #{|effect_j| >= |effect|}) / (1 + J).
Placebos whose pre-period fit is poor can be left out (`max_pre_rmspe=k`: pre-RMSPE more than k
times the treated's), J then counting only those kept. NB Abadie et al. (2010) stated their
cut-offs 20, 5 and 2 on the *MSPE* (squared) scale; on the RMSPE scale used here they are
k = sqrt(20) = 4.47, sqrt(5) = 2.24 and sqrt(2) = 1.41. With J placebos the smallest attainable
p-value is 1 / (1 + J). A perfect pre-fit (pre-RMSPE 0) has an infinite ratio (NaN, and a NaN
p-value, if the post gap is 0 too); ties count against the treated unit.

The interval for the effect inverts the placebo distribution under a constant additive effect:
if the treated's estimate is tau + e, e distributed as the placebos' effects (the placebo
estimates are estimates of a zero effect), then [effect - q(1 - alpha/2), effect - q(alpha/2)],
q the quantiles (numpy's linear interpolation) of the placebo effects, covers tau with
probability about 1 - alpha. Its limits: it assumes the treated unit's estimation error is
exchangeable with the donors' (similar fit, similar noise), which a treated unit at the edge of
the donor pool need not satisfy; it takes the effect as constant over the periods and units; and
with few placebos the quantiles are close to the most extreme placebo effects, so it cannot
reach nominal coverage when J + 1 < 2 / alpha (39 placebos for 95%) and is coarse near it.

Usage follows statsmodels: ``SyntheticControl(treated, donors, pre).fit(method=...)`` returns a
`SyntheticControlResults` with the weights, paths, RMSPEs, ``effect()``, ``placebos()``,
``p_value()``, ``effect_p_value()``, ``conf_int()`` and ``summary()``.

The maintained library pysyncon (1.7.0) was evaluated and not chosen. It installs beside our
pins, works with pandas 3.1, and offers ridge-augmented SCM (AugSynth, the same CV rule as
here), but its weights come from a general SLSQP solve (about 1.8 s per fit with 150 donors and
40 pre periods, so hours for the placebo runs), plain `Synth` also optimises a V matrix in a
nested Nelder-Mead loop rather than the outcome-only fit, and it goes through a long-format
pandas `Dataprep` for every fit. It served as an independent check instead: reference numbers
from it for a small constructed panel are in tests/test_synthetic_control.py.
"""

from __future__ import annotations

import math
import numbers
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize

__all__ = [
    "METHODS",
    "PlaceboResults",
    "SyntheticControl",
    "SyntheticControlResults",
    "placebo",
    "simplex_weights",
]

METHODS = ("synthetic", "augmented")
MIN_PRE = 2  # pre periods for the plain fit (a fit of one point says nothing of the path)
MIN_PRE_CV = 3  # for the cross-validated ridge penalty: at least two held-out folds
MIN_DONORS = 2  # each placebo then still has a donor
N_LAMBDA, LAMBDA_MIN_RATIO = 20, 1e-8  # the augsynth grid


# ---------------------------------------------------------------------------------------------
# the weights
# ---------------------------------------------------------------------------------------------


def _sse(A: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    r = A @ w - b
    return float(r @ r)


def simplex_weights(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The weights w >= 0, sum(w) = 1 that minimise ||A w - b||^2 (A: periods x donors).

    nnls on the system with a heavily weighted sum-to-one row finds the active set; the
    equality-constrained least squares on that set (its KKT system) then gives the exact
    optimum. See the module docstring.
    """
    A, b = np.asarray(A, dtype=float), np.asarray(b, dtype=float)
    J = A.shape[1]
    if J == 1:
        return np.ones(1)
    scale = max(float(np.abs(A).max()), float(np.abs(b).max()), 1e-300)
    As, bs = A / scale, b / scale
    big = 1e4 * max(1.0, math.sqrt(As.shape[0]))
    w, _ = optimize.nnls(np.vstack([As, np.full((1, J), big)]), np.append(bs, big),
                         maxiter=50 * J)  # fmt: skip
    if w.sum() <= 0:  # cannot happen with the sum row, but never divide by zero
        w = np.full(J, 1.0 / J)
    w = np.clip(w, 0.0, None)
    best = w / w.sum()
    support = np.flatnonzero(w > 0)
    k = support.size
    S = As[:, support]
    kkt = np.zeros((k + 1, k + 1))
    kkt[:k, :k] = S.T @ S
    kkt[:k, k] = kkt[k, :k] = 1.0
    rhs = np.append(S.T @ bs, 1.0)
    sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:k]
    if np.all(sol >= -1e-12) and abs(sol.sum() - 1) < 1e-9:
        exact = np.zeros(J)
        exact[support] = np.clip(sol, 0.0, None)
        exact /= exact.sum()
        if _sse(As, bs, exact) <= _sse(As, bs, best) * (1 + 1e-12) + 1e-300:
            best = exact
    return best


def _ridge_adjustment(X: np.ndarray, x1: np.ndarray, w: np.ndarray, lams) -> np.ndarray:
    """w_ridge = (x1 - X w)' (X X' + lambda I)^-1 X for each lambda (rows), X centred."""
    # X = U S V': (X X' + lambda I)^-1 X = U diag(s / (s^2 + lambda)) V' (the directions of X X'
    # with eigenvalue 0 meet X in zero, so the thin SVD suffices; LAPACK's syevd can be slow here)
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    left = U.T @ (x1 - X @ w)
    lams = np.atleast_1d(np.asarray(lams, dtype=float))
    return (left * s / (s**2 + lams[:, None])) @ Vt


def _lambda_grid(X: np.ndarray) -> np.ndarray:
    s1 = np.linalg.svd(X, compute_uv=False)[0]
    ratio = LAMBDA_MIN_RATIO ** (1 / N_LAMBDA)
    return s1**2 * ratio ** (np.arange(N_LAMBDA + 1) - 1.0)


def _cv_lambda(X: np.ndarray, x1: np.ndarray) -> float:
    """The ridge penalty by leave-one-pre-period-out and the 1-SE rule (module docstring)."""
    t0 = X.shape[0]
    lams = _lambda_grid(X)
    if not np.isfinite(lams).all() or lams[0] <= 0:  # donors identical in every pre period
        return 1.0
    errors = np.empty((t0 - 1, lams.size))
    for i in range(t0 - 1):
        keep = np.arange(t0) != i
        Xt, xt = X[keep], x1[keep]
        w = simplex_weights(Xt, xt)
        aug = w + _ridge_adjustment(Xt, xt, w, lams)  # (n_lambda, J)
        errors[i] = (x1[i] - aug @ X[i]) ** 2
    means = errors.mean(axis=0)
    ses = errors.std(axis=0, ddof=1) / math.sqrt(t0 - 1)
    best = int(np.argmin(means))
    return float(lams[means <= means[best] + ses[best]].max())


def _fit_arrays(y: np.ndarray, D: np.ndarray, pre: np.ndarray, method: str, ridge):
    """(weights, simplex weights, lambda) for treated y (T,) and donors D (T, J)."""
    w = simplex_weights(D[pre], y[pre])
    if method == "synthetic":
        return w, w, None
    X = D[pre] - D[pre].mean(axis=1, keepdims=True)
    x1 = y[pre] - D[pre].mean(axis=1)
    lam = _cv_lambda(X, x1) if ridge is None else float(ridge)
    return w + _ridge_adjustment(X, x1, w, lam)[0], w, lam


def _rmspe(gap: np.ndarray) -> float:
    return float(np.sqrt(np.mean(gap**2)))


def _ratio(post: float, pre: float) -> float:
    if pre > 0:
        return post / pre
    return math.inf if post > 0 else math.nan


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------


def _numeric(values, name: str, ndim: int) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be numbers, not a string")
    try:
        out = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must contain only numbers") from None
    if np.asarray(values).dtype == bool:
        raise ValueError(f"{name} must contain numbers, not booleans")
    if out.ndim != ndim:
        shape = "(T,) one value per period" if ndim == 1 else "(T, J) one column per donor"
        raise ValueError(f"{name} must be {ndim}-dimensional, shape {shape}; got shape "
                         f"{out.shape}")  # fmt: skip
    bad = int((~np.isfinite(out)).sum())
    if bad:
        raise ValueError(f"{name} contains {bad} missing or infinite value(s)")
    return out


def _pre_mask(pre, T: int) -> np.ndarray:
    if isinstance(pre, (bool, np.bool_)):
        raise ValueError("pre must be the number of pre periods or a boolean mask, not a bool")
    if isinstance(pre, numbers.Integral):
        n = int(pre)
        if not 0 <= n <= T:
            raise ValueError(f"pre = {n} pre periods, but the series have {T} periods")
        mask = np.arange(T) < n
    else:
        mask = np.asarray(pre)
        if mask.dtype != bool or mask.ndim != 1:
            raise ValueError("pre must be a whole number of leading pre periods or a "
                             "one-dimensional boolean mask")  # fmt: skip
        if mask.size != T:
            raise ValueError(f"the pre mask has {mask.size} entries for {T} periods")
    n_pre, n_post = int(mask.sum()), int((~mask).sum())
    if n_pre < MIN_PRE:
        raise ValueError(f"{n_pre} pre period(s): at least {MIN_PRE} are needed to fit the weights")
    if n_post < 1:
        raise ValueError("no post periods: every period is a pre period")
    return mask.copy()


def _names(values, n: int, what: str, default) -> pd.Index:
    if values is None:
        return pd.Index(default)
    idx = pd.Index(list(values))
    if len(idx) != n:
        raise ValueError(f"{what} has {len(idx)} entries for {n}")
    if idx.has_duplicates:
        raise ValueError(f"{what} has repeated entries: {list(idx[idx.duplicated()])[:3]}")
    return idx


def _check_method(method: str, ridge, n_pre: int) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if ridge is not None:
        if method != "augmented":
            raise ValueError("ridge is the penalty of method='augmented'; plain synthetic "
                             "control has none")  # fmt: skip
        if isinstance(ridge, bool) or not isinstance(ridge, numbers.Real) \
                or not math.isfinite(ridge) or ridge <= 0:  # fmt: skip
            raise ValueError(f"ridge must be a positive finite number (or None to choose it "
                             f"by cross-validation), not {ridge!r}")  # fmt: skip
    elif method == "augmented" and n_pre < MIN_PRE_CV:
        raise ValueError(f"{n_pre} pre periods are too few to choose the ridge penalty by "
                         f"cross-validation (at least {MIN_PRE_CV}): give ridge=")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------


class SyntheticControl:
    """A synthetic control model for one treated unit; see the module docstring.

    Parameters
    ----------
    treated : the treated unit's outcome, shape (T,).
    donors : the donor units' outcomes, shape (T, J), one column per donor (a DataFrame's
        columns name the donors and its index the periods, unless given below).
    pre : the number of leading pre-intervention periods, or a boolean mask of them (length T);
        every other period is a post period. At least `MIN_PRE` pre periods and one post period.
    donor_names : J labels for the donors (default: a DataFrame's columns, else 0..J-1).
    index : T labels for the periods (default: a Series' or DataFrame's index, else 0..T-1);
        `periods` arguments name periods by these labels.

    Raises ValueError for missing or infinite values, shapes that disagree, fewer than 3
    periods or `MIN_DONORS` donors, too short a pre period or no post period, and repeated
    labels.
    """

    def __init__(self, treated, donors, pre, donor_names=None, index=None):
        y = _numeric(treated, "treated", 1)
        D = _numeric(donors, "donors", 2)
        T, J = D.shape
        if y.size != T:
            raise ValueError(f"treated has {y.size} periods but donors have {T} rows (periods); "
                             "donors must be (T, J), one column per donor")  # fmt: skip
        if T < MIN_PRE + 1:
            raise ValueError(f"{T} periods: at least {MIN_PRE + 1} are needed "
                             f"({MIN_PRE} pre and 1 post)")  # fmt: skip
        if J < MIN_DONORS:
            raise ValueError(f"{J} donor(s): at least {MIN_DONORS} are needed (and more for "
                             "placebo inference: the smallest p-value is 1/(1 + J))")  # fmt: skip
        default_index = donors.index if isinstance(donors, pd.DataFrame) else (
            treated.index if isinstance(treated, pd.Series) else range(T))  # fmt: skip
        default_names = donors.columns if isinstance(donors, pd.DataFrame) else range(J)
        self.treated, self.donors = y, D
        self.pre = _pre_mask(pre, T)
        self.donor_names = _names(donor_names, J, "donor_names", default_names)
        self.index = _names(index, T, "index", default_index)

    @property
    def n_periods(self) -> int:
        return self.donors.shape[0]

    @property
    def n_donors(self) -> int:
        return self.donors.shape[1]

    def fit(self, method: str = "synthetic", ridge: float | None = None) -> SyntheticControlResults:
        """Fit the weights. method: "synthetic" (weights on the simplex) or "augmented" (ridge
        ASCM; ridge = the penalty lambda, or None to choose it by cross-validation)."""
        _check_method(method, ridge, int(self.pre.sum()))
        w, w_sc, lam = _fit_arrays(self.treated, self.donors, self.pre, method, ridge)
        return SyntheticControlResults(model=self, method=method, ridge_rule=ridge, weights=w,
                                       simplex_weights=w_sc, ridge=lam)  # fmt: skip


def _period_mask(model: SyntheticControl, periods) -> np.ndarray:
    """The post periods named by `periods` (labels of the index, or a boolean mask; None: every
    post period) as a boolean mask."""
    T = model.n_periods
    if periods is None:
        return ~model.pre
    arr = np.asarray(periods)
    if arr.dtype == bool:
        if arr.shape != (T,):
            raise ValueError(f"a periods mask must have {T} entries, not {arr.size}")
        mask = arr.copy()
    else:
        labels = list(arr.ravel()) if arr.ndim else [periods]
        pos = model.index.get_indexer(labels)
        if (pos < 0).any():
            missing = [lab for lab, p in zip(labels, pos) if p < 0]
            raise ValueError(f"periods not in the index: {missing[:5]}")
        mask = np.zeros(T, dtype=bool)
        mask[pos] = True
    if not mask.any():
        raise ValueError("periods selects no period")
    if (mask & model.pre).any():
        first = model.index[np.flatnonzero(mask & model.pre)[0]]
        raise ValueError(f"periods must be post periods; {first!r} is a pre period")
    return mask


@dataclass(eq=False)
class PlaceboResults:
    """Placebo-in-space refits: each kept donor j treated as if treated, its gap path (column j
    of `gaps`, shape (T, K)) and RMSPEs, set against the treated unit's. Donors left out for a
    poor pre-fit are in `excluded`."""

    results: SyntheticControlResults = field(repr=False)
    names: tuple
    gaps: np.ndarray = field(repr=False)
    pre_rmspe: np.ndarray = field(repr=False)
    post_rmspe: np.ndarray = field(repr=False)
    ratio: np.ndarray = field(repr=False)
    excluded: tuple
    include_treated: bool
    max_pre_rmspe: float | None

    @property
    def n(self) -> int:
        """The number of placebos kept (J in the p-value)."""
        return len(self.names)

    def effects(self, periods=None) -> np.ndarray:
        """Each placebo's mean gap over the given post periods."""
        mask = _period_mask(self.results.model, periods)
        return self.gaps[mask].mean(axis=0)

    def p_value(self) -> float:
        """(1 + #{placebo ratio >= treated ratio}) / (1 + K), the post/pre RMSPE ratio rank."""
        r = self.results.ratio
        if math.isnan(r):
            return math.nan
        return (1 + int(np.sum(self.ratio >= r))) / (1 + self.n)

    def effect_p_value(self, periods=None) -> float:
        """(1 + #{|placebo effect| >= |effect|}) / (1 + K) over the given post periods."""
        e = abs(self.results.effect(periods))
        return (1 + int(np.sum(np.abs(self.effects(periods)) >= e))) / (1 + self.n)

    def conf_int(self, periods=None, alpha: float = 0.05) -> tuple[float, float]:
        """[effect - q(1 - alpha/2), effect - q(alpha/2)] of the placebo effects: test inversion
        under a constant additive effect (see the module docstring for its limits)."""
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
            raise ValueError(f"alpha must be a number strictly between 0 and 1, not {alpha!r}")
        if self.n < 2:
            raise ValueError(f"{self.n} placebo(s) kept: at least 2 are needed for an interval")
        e = self.results.effect(periods)
        lo, hi = np.quantile(self.effects(periods), [alpha / 2, 1 - alpha / 2])
        return float(e - hi), float(e - lo)


@dataclass(eq=False)
class SyntheticControlResults:
    """A fitted synthetic control: weights (J,), the synthetic and gap paths (T,), the pre and
    post RMSPEs and their ratio; effects, placebos, p-values and intervals on demand."""

    model: SyntheticControl = field(repr=False)
    method: str
    ridge_rule: float | None
    weights: np.ndarray
    simplex_weights: np.ndarray  # the plain SC weights (equal to `weights` for "synthetic")
    ridge: float | None  # the penalty used (augmented only)
    _placebos: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        m = self.model
        self.synthetic = m.donors @ self.weights
        self.gap = m.treated - self.synthetic
        self.pre_rmspe = _rmspe(self.gap[m.pre])
        self.post_rmspe = _rmspe(self.gap[~m.pre])
        self.ratio = _ratio(self.post_rmspe, self.pre_rmspe)

    @property
    def weights_series(self) -> pd.Series:
        return pd.Series(self.weights, index=self.model.donor_names, name="weight")

    @property
    def paths(self) -> pd.DataFrame:
        """treated, synthetic and gap by period, with a pre flag."""
        m = self.model
        return pd.DataFrame({"treated": m.treated, "synthetic": self.synthetic, "gap": self.gap,
                             "pre": m.pre}, index=m.index)  # fmt: skip

    def effect(self, periods=None) -> float:
        """The mean gap over the given post periods (labels of the index, or a boolean mask;
        default every post period)."""
        return float(self.gap[_period_mask(self.model, periods)].mean())

    def placebos(self, include_treated: bool = False,
                 max_pre_rmspe: float | None = None) -> PlaceboResults:  # fmt: skip
        """Refit with each donor as the treated unit (same method and penalty rule), the other
        donors as its pool, plus the treated unit if `include_treated`. Placebos whose pre-RMSPE
        exceeds `max_pre_rmspe` times the treated's are left out (None: keep all). Cached."""
        if max_pre_rmspe is not None and (
                isinstance(max_pre_rmspe, bool) or not isinstance(max_pre_rmspe, numbers.Real)
                or not max_pre_rmspe > 0 or math.isnan(max_pre_rmspe)):  # fmt: skip
            raise ValueError(f"max_pre_rmspe must be a positive number (a multiple of the "
                             f"treated's pre-RMSPE) or None, not {max_pre_rmspe!r}")  # fmt: skip
        key = (bool(include_treated), None if max_pre_rmspe is None else float(max_pre_rmspe))
        if key not in self._placebos:
            self._placebos[key] = self._run_placebos(*key)
        return self._placebos[key]

    def _run_placebos(self, include_treated: bool, max_pre_rmspe) -> PlaceboResults:
        m = self.model
        J = m.n_donors
        pre = m.pre
        if self.method == "augmented" and self.ridge_rule is None and pre.sum() < MIN_PRE_CV:
            raise ValueError("too few pre periods to cross-validate the placebos' penalty")
        gaps = np.empty((m.n_periods, J))
        for j in range(J):
            pool = np.delete(m.donors, j, axis=1)
            if include_treated:
                pool = np.column_stack([pool, m.treated])
            y = m.donors[:, j]
            w, _, _ = _fit_arrays(y, pool, pre, self.method, self.ridge_rule)
            gaps[:, j] = y - pool @ w
        pre_r = np.sqrt(np.mean(gaps[pre] ** 2, axis=0))
        post_r = np.sqrt(np.mean(gaps[~pre] ** 2, axis=0))
        keep = np.ones(J, dtype=bool) if max_pre_rmspe is None \
            else pre_r <= max_pre_rmspe * self.pre_rmspe  # fmt: skip
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(pre_r > 0, post_r / np.where(pre_r > 0, pre_r, 1.0),
                             np.where(post_r > 0, np.inf, np.nan))  # fmt: skip
        names = tuple(m.donor_names)
        return PlaceboResults(
            results=self, names=tuple(n for n, k in zip(names, keep) if k), gaps=gaps[:, keep],
            pre_rmspe=pre_r[keep], post_rmspe=post_r[keep], ratio=ratio[keep],
            excluded=tuple(n for n, k in zip(names, keep) if not k),
            include_treated=bool(include_treated), max_pre_rmspe=max_pre_rmspe,
        )  # fmt: skip

    def p_value(self, include_treated: bool = False, max_pre_rmspe: float | None = None) -> float:
        """The placebo rank p-value of the post/pre RMSPE ratio (see `placebos`)."""
        return self.placebos(include_treated, max_pre_rmspe).p_value()

    def effect_p_value(self, periods=None, include_treated: bool = False,
                       max_pre_rmspe: float | None = None) -> float:  # fmt: skip
        """The placebo rank p-value of |mean gap| over the given post periods."""
        return self.placebos(include_treated, max_pre_rmspe).effect_p_value(periods)

    def conf_int(self, periods=None, alpha: float = 0.05, include_treated: bool = False,
                 max_pre_rmspe: float | None = None) -> tuple[float, float]:  # fmt: skip
        """The placebo interval for the mean effect over the given post periods (test inversion
        under a constant additive effect; module docstring for its limits)."""
        return self.placebos(include_treated, max_pre_rmspe).conf_int(periods, alpha)

    def summary(self, alpha: float = 0.05, inference: bool = True) -> str:
        """A text report: weights, fit, the mean post effect and (unless inference=False, which
        skips the J placebo refits) its placebo p-values and interval."""
        width = 78
        m = self.model
        title = "Synthetic control" if self.method == "synthetic" else "Augmented synthetic control"
        lines = [
            title.center(width, "="),
            f"periods: {m.n_periods} ({int(m.pre.sum())} pre, {int((~m.pre).sum())} post)   "
            f"donors: {m.n_donors}" + ("" if self.ridge is None else f"   ridge: {self.ridge:.4g}"),
            "-" * width,
            f"{'donor':<40}{'weight':>12}" + ("" if self.ridge is None else f"{'SC weight':>12}"),
        ]
        order = np.argsort(-np.abs(self.weights), kind="stable")
        shown = [j for j in order if abs(self.weights[j]) >= 1e-4][:15]
        for j in shown:
            row = f"{str(m.donor_names[j])[:39]:<40}{self.weights[j]:>12.4f}"
            if self.ridge is not None:
                row += f"{self.simplex_weights[j]:>12.4f}"
            lines.append(row)
        rest = int((np.abs(self.weights) >= 1e-4).sum()) - len(shown)
        if rest > 0:
            lines.append(f"... and {rest} more donors with weight")
        lines += [
            "-" * width,
            f"pre-RMSPE {self.pre_rmspe:.5g}   post-RMSPE {self.post_rmspe:.5g}   "
            f"ratio {self.ratio:.4g}",
            f"mean effect over the post periods: {self.effect():.5g}",
        ]
        if inference:
            pl = self.placebos()
            lo, hi = pl.conf_int(None, alpha) if pl.n >= 2 else (math.nan, math.nan)
            lines += [
                f"placebos: {pl.n}   p (RMSPE ratio) = {pl.p_value():.4f}   p (|effect|) = "
                f"{pl.effect_p_value():.4f}",
                f"{1 - alpha:.0%} placebo interval for the effect: {lo:.5g} to {hi:.5g}",
                textwrap.fill("inference: placebos in space (each donor refitted as if treated); "
                              "rank p-values (1 + #placebos as extreme) / (1 + placebos); the "
                              "interval inverts the placebo effects under a constant additive "
                              "effect", width, subsequent_indent="  "),  # fmt: skip
            ]
        lines.append("=" * width)
        return "\n".join(lines)


def placebo(treated, donors, pre, method: str = "synthetic", ridge: float | None = None,
            include_treated: bool = False, max_pre_rmspe: float | None = None,
            donor_names=None, index=None) -> PlaceboResults:  # fmt: skip
    """Fit the model and run its placebos in one call; the treated fit is `.results`."""
    model = SyntheticControl(treated, donors, pre, donor_names=donor_names, index=index)
    return model.fit(method=method, ridge=ridge).placebos(include_treated, max_pre_rmspe)
