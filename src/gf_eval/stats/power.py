"""Power and minimum detectable effect of an interrupted time series, by simulation.

Generic: a `Design` describes a count series and knows nothing of any programme.

The data-generating model, for periods t = 0 .. n_pre + n_post - 1 with T0 = n_pre the first
post period:

    log mu_t = log(offset_t) + level + trend*(t - (T0 - 1)) + season_t + u_t - noise_sd^2/2
               + effect_t,
    season_t = sum_k A_k cos(2*pi*k*s_t/period - phi_k),   s_t = season_first + t,
    u_t = rho*u_{t-1} + e_t  (stationary AR(1) on the log rate, marginal SD noise_sd),

so `level` is the log expected count per unit of offset at the last pre period (season and
noise aside; the noise is centred so that exp(level) stays the expected rate). Given mu_t the
count is Poisson (dispersion 1); with dispersion phi > 1 gamma-Poisson with Var = phi*mu
(NB1); with phi < 1 binomial with ceil(mu/(1 - phi)) trials (Var ~ phi*mu, a count bounded by
its denominator); with nb_alpha > 0 gamma-Poisson with Var = mu + alpha*mu^2 (NB2).

The effect is the relative change `effect` at the estimand's period (by default the last
period, T0 + n_post - 1; `horizon` periods after T0), with a shape: ``step``, the same
relative change in every post period; ``ramp``, linear on the log scale from 0 at T0 to
log(1 + effect) at the horizon.

Each simulated series is fitted with the ITS model of `gf_eval.stats.its` (level and slope
change, `harmonics` Fourier pairs, log offset) and the estimand is b2 + b3*horizon, the log
relative change at the horizon. A replication *detects* the effect when the (1 - alpha)
interval of that estimand excludes no change on the side of the alternative:
``reduction``, upper limit < 0 (the verdict rule of `gf_eval.stats.verdict`: "no evidence of
reduction" when the upper limit >= 0, so power is one-sided at alpha/2 = 2.5%); ``increase``,
lower limit > 0; ``two-sided``, either. By default the alternative follows the sign of the
effect (a reduction when the effect is 0). Fits that fail count as non-detections and are
reported.

All randomness comes from the required `seed`; the same seed gives the same draws at every
effect size and post length (common random numbers), so power curves are smooth and the
minimum detectable effect is found by a monotone search on one set of draws. Counts come from
the inverse CDFs of common uniforms, so that a larger effect lowers every draw.

Quasi-Poisson and Poisson with model-based standard errors are fitted by a vectorised IRLS
that reproduces `ITS.fit` (the test checks it to 1e-6); with se "ar1" the same IRLS and a
vectorised REML of the AR(1)-plus-white-noise error model with its sandwich (see `ar1_reml`;
the estimates are ITS.fit's, the standard errors agree with its to a median 0.2%, apart from
the rare series whose likelihood has two nearly equal maxima); every other estimator (`se`
newey, or any type `its.SE_TYPES` lists; negbin; gaussian on the log rate) is fitted by
`ITS.fit` replication by replication.

`fit_design` estimates a design from pre-period data alone; `sites_needed` turns a single-site
simulation into the number of comparable sites a fixed-effect pooled estimate needs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
# The modules themselves, not statsmodels.api, which imports all of statsmodels (0.5 s).
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from scipy import stats

from gf_eval.stats import its as _its
from gf_eval.stats.its import ITS, ITSInputError

SHAPES = ("step", "ramp")
ALTERNATIVES = ("reduction", "increase", "two-sided")
FAST = ("poisson", "quasipoisson")  # families the vectorised IRLS fits
FAST_SE = ("model", "ar1")  # standard errors of the vectorised path
MAX_LOG_EFFECT = math.log(100.0)  # the search stops at a 99% reduction (or a 100-fold rise)


def _real(name: str, value, low: float | None = None, high: float | None = None,
          low_open: bool = False, high_open: bool = False) -> float:  # fmt: skip
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):  # fmt: skip
        raise ITSInputError(f"{name} must be a finite number, not {value!r}")
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise ITSInputError(f"{name} must be {'>' if low_open else '>='} {low:g}, not {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ITSInputError(f"{name} must be {'<' if high_open else '<='} {high:g}, not {value!r}")
    return v


def _int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or not float(value).is_integer() or value < low:  # fmt: skip
        raise ITSInputError(f"{name} must be a whole number >= {low}, not {value!r}")
    return int(value)


def _tuple(value) -> tuple[float, ...]:
    if value is None:
        return ()
    if np.ndim(value) == 0:
        return (float(value),)
    return tuple(float(v) for v in value)


# --- the design ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """A count series to plan for; see the module docstring for the model.

    n_pre, n_post : periods before and from the start (n_post >= 2 for a slope change).
    level : log expected count per unit of offset at the last pre period (season-free).
    trend : change of the log rate per period.
    season_amplitude, season_phase : A_k and phi_k (radians) of each harmonic k = 1, 2, ...
    period, season_first : the seasonal period and the season value of period 0.
    offset_pre : the offset of each pre period (None: no offset, 1 throughout).
    offset_post : the offset of the post periods: a number, or a path (periods beyond its end
        repeat its last value); default the mean of the last 12 pre offsets.
    dispersion : count dispersion phi given mu (1 Poisson, > 1 NB1, < 1 binomial).
    nb_alpha : NB2 alpha (Var = mu + alpha*mu^2); not with dispersion != 1.
    rho, noise_sd : AR(1) correlation and marginal SD of the log-rate noise (0: none).
    horizon : periods after T0 at which the effect is stated and estimated (default
        n_post - 1, the last period); may lie beyond the fitted post periods.
    """

    n_pre: int
    n_post: int
    level: float
    trend: float = 0.0
    season_amplitude: tuple[float, ...] = ()
    season_phase: tuple[float, ...] = ()
    period: float = 12.0
    season_first: float = 1.0
    offset_pre: tuple[float, ...] | None = None
    offset_post: float | tuple[float, ...] | None = None
    dispersion: float = 1.0
    nb_alpha: float = 0.0
    rho: float = 0.0
    noise_sd: float = 0.0
    horizon: int | None = None

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "n_pre", _int("n_pre (pre-period length)", self.n_pre, _its.MIN_PRE))
        set_(self, "n_post", _int("n_post (post-period length)", self.n_post, 2))
        for name in ("level", "trend", "season_first"):
            set_(self, name, _real(name, getattr(self, name)))
        set_(self, "period", _real("period", self.period, 0, low_open=True))
        amp, phase = _tuple(self.season_amplitude), _tuple(self.season_phase)
        if not phase and amp:
            phase = (0.0,) * len(amp)
        if len(amp) != len(phase):
            raise ITSInputError("season_amplitude and season_phase need one value per harmonic")
        for a in amp + phase:
            _real("season amplitude and phase", a)
        set_(self, "season_amplitude", amp)
        set_(self, "season_phase", phase)
        set_(self, "dispersion", _real("dispersion", self.dispersion, 0, low_open=True))
        set_(self, "nb_alpha", _real("nb_alpha", self.nb_alpha, 0))
        if self.nb_alpha > 0 and self.dispersion != 1:
            raise ITSInputError("give the overdispersion as dispersion (NB1) or nb_alpha (NB2), "
                                "not both")  # fmt: skip
        set_(self, "rho", _real("rho", self.rho, -1, 1, low_open=True, high_open=True))
        set_(self, "noise_sd", _real("noise_sd", self.noise_sd, 0))
        if self.offset_pre is not None:
            off = _tuple(self.offset_pre)
            if len(off) != self.n_pre:
                raise ITSInputError(f"offset_pre has {len(off)} values for {self.n_pre} pre "
                                    "periods")  # fmt: skip
            for v in off:
                _real("offset", v, 0, low_open=True)
            set_(self, "offset_pre", off)
        if self.offset_post is not None:
            post = _tuple(self.offset_post)
            if not post:
                raise ITSInputError("offset_post needs at least one value")
            for v in post:
                _real("offset", v, 0, low_open=True)
            set_(self, "offset_post", post[0] if len(post) == 1 else post)
        if self.horizon is not None:
            set_(self, "horizon", _int("horizon", self.horizon, self.n_post - 1))

    @classmethod
    def from_volumes(cls, count: float, n_pre: int, n_post: int, **kw) -> Design:
        """A design without an offset: `count` expected events per period at the last pre
        period (season-free); `kw` are the other fields."""
        return cls(n_pre, n_post, math.log(_real("count", count, 0, low_open=True)), **kw)

    def replace(self, **changes) -> Design:
        return replace(self, **changes)

    @property
    def n(self) -> int:
        return self.n_pre + self.n_post

    @property
    def end(self) -> int:
        """Periods after T0 of the estimand."""
        return self.n_post - 1 if self.horizon is None else self.horizon

    @property
    def count(self) -> float:
        """Expected count at the last pre period (season and noise aside)."""
        off = 1.0 if self.offset_pre is None else self.offset_pre[-1]
        return float(math.exp(self.level) * off)

    def offsets(self) -> np.ndarray | None:
        n_post = self.n_post
        if self.offset_pre is None and self.offset_post is None:
            return None
        pre = np.ones(self.n_pre) if self.offset_pre is None else np.asarray(self.offset_pre)
        post = self.offset_post
        if post is None:
            post = float(pre[-12:].mean())
        post = np.full(n_post, post) if np.ndim(post) == 0 else np.asarray(post, float)
        if post.size < n_post:
            post = np.r_[post, np.full(n_post - post.size, post[-1])]
        return np.r_[pre, post[:n_post]]

    def season_values(self, n: int) -> np.ndarray:
        return self.season_first + np.arange(n, dtype=float)

    def log_mean(self, effect: float, shape: str) -> np.ndarray:
        """log mu_t without the noise, for the n_pre + n_post periods."""
        t = np.arange(self.n, dtype=float)
        off = self.offsets()
        out = (0.0 if off is None else np.log(off)) + self.level + self.trend * (t - (self.n_pre - 1))
        s = self.season_values(self.n)
        for k, (a, ph) in enumerate(zip(self.season_amplitude, self.season_phase), 1):
            out = out + a * np.cos(2 * np.pi * k * s / self.period - ph)
        return out + effect_path(effect, shape, self.n_pre, self.n_post, self.end)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        season = ", ".join(f"A{k}={a:.3g} phi{k}={p:.3g}" for k, (a, p) in
                           enumerate(zip(self.season_amplitude, self.season_phase), 1)) or "none"  # fmt: skip
        count = ("Poisson" if self.dispersion == 1 and self.nb_alpha == 0 else
                 f"NB2 alpha {self.nb_alpha:.4g}" if self.nb_alpha else
                 f"{'NB1' if self.dispersion > 1 else 'binomial'} dispersion {self.dispersion:.4g}")  # fmt: skip
        return (f"{self.n_pre} pre and {self.n_post} post periods (estimand {self.end} periods "
                f"after the start); expected count {self.count:.4g} at the last pre period, "
                f"trend {self.trend:+.4g} per period, season {season}; counts {count}; "
                f"log-rate noise SD {self.noise_sd:.4g}, AR(1) rho {self.rho:.3g}")


def effect_path(effect: float, shape: str, n_pre: int, n_post: int, horizon: int) -> np.ndarray:
    """The log relative change of each period (0 before T0)."""
    if shape not in SHAPES:
        raise ITSInputError(f"shape must be one of {', '.join(SHAPES)}, not {shape!r}")
    d = math.log1p(_real("effect (relative change)", effect, -1, low_open=True))
    k = np.arange(n_post, dtype=float)
    post = np.full(n_post, d) if shape == "step" else d * k / max(horizon, 1)
    return np.r_[np.zeros(n_pre), post]


# --- simulation -----------------------------------------------------------------------------


class _Draws:
    """Common random numbers: uniforms for the counts and the gamma mixing, normals for the
    log-rate noise, `simulations` rows of `n` periods from `seed`."""

    def __init__(self, seed, simulations: int, n: int):
        if seed is None:
            raise ITSInputError("a seed is required (an integer or a sequence of integers)")
        rng = np.random.default_rng(seed)
        tiny = np.finfo(float).tiny
        self.z = rng.standard_normal((simulations, n))
        self.u = np.maximum(rng.random((simulations, n)), tiny)
        self.v = np.maximum(rng.random((simulations, n)), tiny)
        # A search simulates the same draws at many effects: the noise and the pre-period
        # counts, which the effect does not touch, are computed once.
        self._noise: dict = {}
        self._pre: dict = {}

    def noise(self, n: int, rho: float, sd: float) -> np.ndarray:
        """The AR(1) log-rate noise of the first n periods (causal, so any n's is a slice of
        the widest)."""
        if (rho, sd) not in self._noise:
            self._noise[(rho, sd)] = _noise(self.z, rho, sd)
        return self._noise[(rho, sd)][:, :n]


def _noise(z: np.ndarray, rho: float, sd: float) -> np.ndarray:
    u = np.empty_like(z)
    u[:, 0] = sd * z[:, 0]
    scale = sd * math.sqrt(1 - rho * rho)
    for i in range(1, z.shape[1]):
        u[:, i] = rho * u[:, i - 1] + scale * z[:, i]
    return u


def _counts(design: Design, log_mean: np.ndarray, noise: np.ndarray | None, u: np.ndarray,
            v: np.ndarray) -> np.ndarray:  # fmt: skip
    """Counts of some periods (columns) from their log means, noise and uniforms: every step
    is elementwise, so a block of columns gives the same values as the whole."""
    log_mu = log_mean[None, :] + np.zeros((u.shape[0], 1))
    if noise is not None:
        log_mu = log_mu + noise - design.noise_sd**2 / 2
    mu = np.exp(log_mu)
    phi, alpha = design.dispersion, design.nb_alpha
    if alpha > 0:
        mu = mu * stats.gamma.ppf(v, a=1 / alpha, scale=alpha)
    elif phi > 1:
        mu = stats.gamma.ppf(v, a=mu / (phi - 1), scale=phi - 1)
    if phi < 1:
        trials = np.ceil(mu / (1 - phi))
        y = stats.binom.ppf(u, trials, mu / trials)
    else:
        y = stats.poisson.ppf(u, np.maximum(mu, 1e-300))
    return np.asarray(y, dtype=float)


def simulate_counts(design: Design, effect: float, shape: str, draws: _Draws) -> np.ndarray:
    """Counts (simulations x periods) from the design and the first design.n periods of the
    draws."""
    n, k = design.n, design.n_pre
    log_mean = design.log_mean(effect, shape)
    noise = draws.noise(n, design.rho, design.noise_sd) if design.noise_sd > 0 else None
    part = lambda cols: _counts(design, log_mean[cols], None if noise is None else noise[:, cols],
                                draws.u[:, cols], draws.v[:, cols])  # noqa: E731  # fmt: skip
    # The pre-period counts are reused whenever its log means are the same to the bit.
    key = (design.noise_sd, design.rho, design.dispersion, design.nb_alpha, k,
           log_mean[:k].tobytes())  # fmt: skip
    if key not in draws._pre:
        draws._pre[key] = part(slice(0, k))
    return np.concatenate([draws._pre[key], part(slice(k, n))], axis=1)


@dataclass(frozen=True)
class Estimator:
    """How each simulated series is fitted: as `ITS(...).fit(se=se, lags=lags)`."""

    family: str = "quasipoisson"
    se: str = "model"
    lags: int | None = None
    harmonics: int = 1
    alpha: float = 0.05
    slope_change: bool = True  # False: a level change only, the estimand b2

    def __post_init__(self):
        if self.family not in _its.FAMILIES or self.family == "binomial":
            fams = [f for f in _its.FAMILIES if f != "binomial"]
            raise ITSInputError(f"family must be one of {', '.join(fams)}, not {self.family!r}")
        if self.se not in _its.SE_TYPES:  # read at call time: other types may be added
            raise ITSInputError(f"se must be one of {', '.join(_its.SE_TYPES)}, not {self.se!r}")
        _int("harmonics", self.harmonics, 0)
        _real("alpha", self.alpha, 0, 1, low_open=True, high_open=True)

    @property
    def fast(self) -> bool:
        return self.family in FAST and self.se in FAST_SE

    def label(self) -> str:
        lag = f", lag {self.lags}" if self.lags is not None else ""
        seg = "level and slope change" if self.slope_change else "level change only"
        return f"{self.family}, {self.se} SE{lag}, {self.harmonics} Fourier pair(s), {seg}"


def _frame(design: Design, y: np.ndarray, log_rate: bool) -> pd.DataFrame:
    n = design.n
    df = pd.DataFrame({"t": np.arange(n, dtype=float), "y": y,
                       "season": design.season_values(n)})  # fmt: skip
    off = design.offsets()
    if off is not None:
        df["offset"] = off
    if log_rate:
        df["y"] = np.log(np.maximum(y, 0.5) / (1.0 if off is None else off))
    return df


def _its_model(design: Design, est: Estimator, df: pd.DataFrame, log_rate: bool) -> ITS:
    return ITS(df, "y", "t", design.n_pre, family=est.family,
               offset=None if log_rate or "offset" not in df else "offset",
               season="season" if est.harmonics else None, period=design.period,
               harmonics=est.harmonics, slope_change=est.slope_change)  # fmt: skip


def _irls(y: np.ndarray, X: np.ndarray, off: np.ndarray, max_iter: int = 100,
          tol: float = 1e-12):  # fmt: skip
    """Poisson GLM (log link, offset) fitted to every row of y at once; statsmodels' start
    (mu = (y + mean y) / 2). Returns beta (R, p), the unscaled covariance (R, p, p), the
    Pearson chi-square (R,) and whether each row converged."""
    R, n = y.shape
    mu = np.maximum((y + y.mean(axis=1, keepdims=True)) / 2, 1e-8)
    eta = np.log(mu)
    dev_old = np.full(R, np.inf)
    converged = np.zeros(R, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(max_iter):
            z = eta - off + (y - mu) / mu
            A = np.einsum("ni,rn,nj->rij", X, mu, X)
            b = np.einsum("ni,rn->ri", X, mu * z)
            beta = _solve_rows(A, b)
            eta = np.clip(beta @ X.T + off, -700, 700)
            mu = np.exp(eta)
            dev = 2 * np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0) - (y - mu), axis=1)
            converged = np.abs(dev - dev_old) <= tol * (np.abs(dev) + 0.1)
            if converged.all():
                break
            dev_old = dev
        A = np.einsum("ni,rn,nj->rij", X, mu, X)
        cov = _solve_rows(A, np.broadcast_to(np.eye(A.shape[1]), A.shape).copy())
        pearson = np.sum((y - mu) ** 2 / mu, axis=1)
    # A series the model cannot fit (say, no events at all) is a failed fit, not an error.
    converged &= np.isfinite(beta).all(axis=1) & np.isfinite(cov).all(axis=(1, 2))
    return beta, cov, pearson, converged


def _solve_rows(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A^-1 b for a stack of systems; a singular or non-finite system gives NaN in its row."""
    try:
        out = np.linalg.solve(A, b if b.ndim == 3 else b[:, :, None])
        return out if b.ndim == 3 else out[:, :, 0]
    except np.linalg.LinAlgError:
        pass
    out = np.full(b.shape if b.ndim == 3 else (*b.shape,), np.nan)
    for r in range(A.shape[0]):
        try:
            out[r] = np.linalg.solve(A[r], b[r])
        except np.linalg.LinAlgError:
            continue  # stays NaN
    return out


# --- AR(1)-plus-white-noise standard errors, vectorised ----------------------------------------
#
# `ITS.fit(se="ar1")` for every simulated series at once: REML of (c, rho) in the working
# correlation V(c, rho) = (1 - c) I + c R(rho) of the Pearson residuals r = (y - mu)/sqrt(mu),
# in the orthogonal complement of A = W^{1/2} X (W = diag(mu), each series its own), the scale
# profiled out, as `gf_eval.stats.errors.reml`; then the sandwich of `errors.sandwich`.
#
# The search starts at the best point of a grid of (c, rho) on which the likelihood of every
# series is cheap because the design is taken as common, A0 = W0^{1/2} X with W0 the mean of
# the series' fitted means (for each rho of the grid R(rho) = U diag(lam) U' is shared, and
# V(c, rho) has the same eigenvectors with eigenvalues (1 - c) + c*lam). From there the search
# is exact, each series with its own A: rounds of the likelihood on a 3 x 3 stencil about the
# best point so far (a Kalman filter, as `errors._moments`, for all series and points at once)
# and at the maximum of the stencil's quadratic fit, the stencil halved when that maximum lies
# inside it. The likelihood and scale at the estimate are `errors.profile`'s.

# The start grid (c by 0.05; rho evenly spaced in atanh(rho) from -0.9 to 0.99, as errors.reml's
# grid spans) and the first stencil's step in c and atanh(rho).
AR1_C_GRID = np.linspace(0.0, 1.0, 21)
AR1_RHO_GRID = np.tanh(np.linspace(np.arctanh(-0.9), np.arctanh(0.99), 40))
AR1_STEP = (0.05, 0.1)
_AR1_RHO_BOUND = 0.99


def _lags(n: int) -> np.ndarray:
    i = np.arange(n)
    return np.abs(i[:, None] - i[None, :])


_EIGEN_CACHE: dict = {}


def _ar1_eigen(n: int, rho_grid: np.ndarray):
    """The eigendecomposition of R(rho) (n x n) for each rho of the grid (cached)."""
    key = (n, rho_grid.tobytes())
    if key not in _EIGEN_CACHE:
        if len(_EIGEN_CACHE) > 16:
            _EIGEN_CACHE.clear()
        lag = _lags(n)
        _EIGEN_CACHE[key] = [np.linalg.eigh(np.power(rho, lag)) for rho in rho_grid]
    return _EIGEN_CACHE[key]


def _reml_from_moments(S: np.ndarray, logdet_v, logdet_ata: np.ndarray, n: int):
    """The restricted log-likelihood and REML scale (as `errors.profile`, in the units of r)
    from S = Z'V^-1 Z (..., q, q) with Z = [A, r], log|V| and log|A'A| (broadcast): the last
    diagonal element of the Cholesky factor of S is sqrt(r'V^-1 r - b'M^-1 b), the REML
    residual sum of squares (M = A'V^-1 A, b = A'V^-1 r), the others give log|M|."""
    k = S.shape[-1] - 1
    dfr = n - k
    with np.errstate(invalid="ignore", divide="ignore"):
        try:
            diag = np.diagonal(np.linalg.cholesky(S), axis1=-2, axis2=-1)
            logdet_m = 2 * np.log(diag[..., :k]).sum(axis=-1)
            rss = diag[..., k] ** 2
            good = np.isfinite(logdet_m)
        except np.linalg.LinAlgError:  # some S not positive definite (an exact fit): slowly
            M, b, rr = S[..., :k, :k], S[..., :k, k], S[..., k, k]
            sign, logdet_m = np.linalg.slogdet(M)
            rss = rr - np.einsum("...i,...i->...", b, _solve_rows_nd(M, b))
            good = sign > 0
        scale = np.maximum(rss, 1e-300) / dfr
        ll = -0.5 * (logdet_v + logdet_m - logdet_ata + dfr * np.log(scale) + dfr)
    return np.where(good & np.isfinite(ll), ll, -np.inf), scale


def _solve_rows_nd(M: np.ndarray, b: np.ndarray) -> np.ndarray:
    shape = b.shape
    out = _solve_rows(M.reshape(-1, *M.shape[-2:]), b.reshape(-1, shape[-1]))
    return out.reshape(shape)


def _ar1_meat(A: np.ndarray, c: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """A'V(c_r, rho_r)A for every series (R, p, p), A (R, n, p), without forming V: with
    V = (1 - c) I + c R(rho), R(rho)A = f + b - A for the forward and backward filters
    f_t = A_t + rho f_(t-1) and b_t = A_t + rho b_(t+1)."""
    At = np.ascontiguousarray(A.transpose(1, 2, 0))  # (n, p, R): each step runs along series
    f, b = np.empty_like(At), np.empty_like(At)
    f[0], b[-1] = At[0], At[-1]
    for t in range(1, At.shape[0]):
        np.add(At[t], rho * f[t - 1], out=f[t])
        np.add(At[-1 - t], rho * b[-t], out=b[-1 - t])
    RA = (f + b - At).transpose(2, 0, 1)  # (R, n, p)
    ata = np.matmul(A.transpose(0, 2, 1), A)
    return c[:, None, None] * np.matmul(A.transpose(0, 2, 1), RA) + (1 - c)[:, None, None] * ata


def _ar1_grid_common(r: np.ndarray, A0: np.ndarray, c_grid: np.ndarray, rho_grid: np.ndarray):
    """The restricted log-likelihood of every series' residuals r (R, n) on the grid, with
    the design A0 = W0^{1/2} X common to all series (W0 the mean fitted means): the start of
    the exact search, (R, len(c_grid), len(rho_grid))."""
    R, n = r.shape
    k = A0.shape[1]
    C = c_grid.size
    dfr = n - k
    _, logdet_ata = np.linalg.slogdet(A0.T @ A0)
    ll = np.empty((C, rho_grid.size, R))
    eigen = _ar1_eigen(n, rho_grid)
    # U'r for every rho in one product (many mid-sized BLAS calls are slow when threaded).
    Ur_all = (np.concatenate([U.T for _, U in eigen]) @ r.T).reshape(len(eigen), n, R)
    for j, (lam, U) in enumerate(eigen):
        Ur, Ua = Ur_all[j], U.T @ A0  # (n, R), (n, k)
        inv = 1.0 / ((1 - c_grid)[:, None] + c_grid[:, None] * np.maximum(lam, 0.0)[None, :])
        M = np.einsum("nk,cn,nl->ckl", Ua, inv, Ua)
        # One product for every c, and M^-1 b through M^-1: a stacked solve with 500
        # right-hand sides was half of this function's time.
        b = ((Ua.T[None] * inv[:, None, :]).reshape(C * k, n) @ Ur).reshape(C, k, R)
        rr = inv @ (Ur * Ur)  # (C, R)
        sign, logdet_m = np.linalg.slogdet(M)
        rss = rr - np.einsum("ckr,ckr->cr", b, np.linalg.inv(M) @ b)
        scale = np.maximum(rss, 1e-300) / dfr
        ll[:, j] = -0.5 * (-np.log(inv).sum(axis=1)[:, None] + (logdet_m - logdet_ata)[:, None]
                           + dfr * np.log(scale) + dfr)  # fmt: skip
    return np.where(np.isfinite(ll), ll, -np.inf).transpose(2, 0, 1)


def _ar1_kalman(Z: np.ndarray, logdet_ata: np.ndarray, c: np.ndarray, rho: np.ndarray):
    """The exact restricted log-likelihood and scale of each series (rows of Z = [A, r]) at
    K points each, c and rho (R, K): the Kalman filter of `errors._moments` (no gaps)."""
    R, n, q = Z.shape
    K = c.shape[1]
    # Laid out (column, point, series), so that every step's operations run along the series
    # (numpy is slow over a short innermost axis such as the q columns).
    cT, rT = np.ascontiguousarray(c.T), np.ascontiguousarray(rho.T)  # (K, R)
    white = 1.0 - cT
    r2 = rT * rT
    Zt = np.ascontiguousarray(Z.transpose(1, 2, 0))[:, :, None, :]  # (n, q, 1, R)
    W = np.empty((n, q, K, R))
    m = np.empty((q, K, R))
    v = np.empty((q, K, R))
    logdet = np.zeros((K, R))
    with np.errstate(invalid="ignore", divide="ignore"):
        for t in range(n):
            if t == 0:
                P_pred = cT
                v[...] = Zt[0]
            else:
                P_pred = r2 * P + cT * (1 - r2)
                np.subtract(Zt[t], np.multiply(rT, m, out=v), out=v)
            F = P_pred + white
            # m = (Z_t - v) + (P_pred / F) v
            np.subtract(Zt[t], np.multiply(1 - P_pred / F, v, out=m), out=m)
            P = P_pred * white / F
            np.multiply(v, 1 / np.sqrt(F), out=W[t])
            logdet += np.log(F)
        # S = W'W for every series and point: one product per pair of columns, along time.
        Wf = W.reshape(n, q, K * R)
        S = np.empty((q, q, K * R))
        for a in range(q):
            for b in range(a, q):
                S[a, b] = S[b, a] = np.einsum("tg,tg->g", Wf[:, a], Wf[:, b])
        S = S.reshape(q, q, K, R).transpose(3, 2, 0, 1)
    return _reml_from_moments(S, logdet.T, logdet_ata[:, None], n)


# The 3 x 3 stencil of the refinement and its least-squares quadratic fit.
_STENCIL = np.array([(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)], dtype=float)
_QUAD = np.linalg.pinv(np.column_stack([np.ones(9), _STENCIL[:, 0], _STENCIL[:, 1],
                                        _STENCIL[:, 0] ** 2, _STENCIL[:, 1] ** 2,
                                        _STENCIL[:, 0] * _STENCIL[:, 1]]))  # fmt: skip


def _box_max(coef: np.ndarray):
    """The maximum over the square [-1, 1]^2 of the quadratic a + b x + c z + d x^2 + e z^2 +
    f x z (coefficients per row): the interior stationary point when it is a maximum, each
    edge's best point, the corners."""
    b1, b2, d2, e2, f2 = (coef[:, k] for k in range(1, 6))
    one = np.ones_like(b1)
    with np.errstate(invalid="ignore", divide="ignore"):
        det = 4 * d2 * e2 - f2 * f2
        concave = (d2 < 0) & (e2 < 0) & (det > 0)
        cands = [(0 * one, 0 * one),
                 (np.where(concave, (f2 * b2 - 2 * e2 * b1) / det, 0.0),
                  np.where(concave, (f2 * b1 - 2 * d2 * b2) / det, 0.0))]  # fmt: skip
        for e in (-one, one):
            cands += [(e, np.where(e2 < 0, -(b2 + f2 * e) / (2 * e2), -one)), (e, one),
                      (np.where(d2 < 0, -(b1 + f2 * e) / (2 * d2), -one), e)]  # fmt: skip
    xs = np.clip(np.nan_to_num(np.stack([x for x, _ in cands], 1)), -1, 1)
    zs = np.clip(np.nan_to_num(np.stack([z for _, z in cands], 1)), -1, 1)
    value = (b1[:, None] * xs + b2[:, None] * zs + d2[:, None] * xs * xs
             + e2[:, None] * zs * zs + f2[:, None] * xs * zs)  # fmt: skip
    pick = np.nan_to_num(value, nan=-np.inf).argmax(axis=1)
    rows = np.arange(coef.shape[0])
    return xs[rows, pick], zs[rows, pick]


def ar1_reml(y: np.ndarray, X: np.ndarray, mu: np.ndarray, rounds: int = 3):
    """REML (c, rho, scale) of the AR(1)-plus-white-noise working correlation for every row of
    y (fitted means mu, design X), as `errors.reml(r, W^{1/2} X, d)` of each series' Poisson
    fit. The start is the best point of a grid with a common weight matrix; then `rounds`
    of an exact local search: the likelihood on a 3 x 3 stencil about the best point so far
    (in c and atanh(rho), moved inside the bounds), the maximum of its quadratic fit over the
    stencil's square, the step halved. Returns c, rho, scale, loglik (R,) and A = W^{1/2} X
    (R, n, p)."""
    R, n = y.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        sw = np.sqrt(mu)
        r = (y - mu) / sw
    A = sw[:, :, None] * X[None, :, :]
    Z = np.concatenate([A, r[:, :, None]], axis=2)
    _, logdet_ata = np.linalg.slogdet(np.matmul(A.transpose(0, 2, 1), A))
    A0 = np.sqrt(np.nanmean(np.where(np.isfinite(mu), mu, np.nan), axis=0))[:, None] * X
    grid = _ar1_grid_common(np.nan_to_num(r), A0, AR1_C_GRID, AR1_RHO_GRID)
    i, j = np.unravel_index(grid.reshape(R, -1).argmax(axis=1), grid.shape[1:])
    c, z = AR1_C_GRID[i], np.arctanh(AR1_RHO_GRID[j])
    zb = np.arctanh(_AR1_RHO_BOUND)
    hc, hz = np.full(R, AR1_STEP[0]), np.full(R, AR1_STEP[1])
    best = np.full(R, -np.inf)
    phi = np.full(R, np.nan)
    rows = np.arange(R)
    for _ in range(rounds):
        cc = np.clip(c, hc, 1 - hc)
        zc = np.clip(z, -zb + hz, zb - hz)
        sc = np.clip(cc[:, None] + hc[:, None] * _STENCIL[None, :, 0], 0, 1)
        sz = zc[:, None] + hz[:, None] * _STENCIL[None, :, 1]
        ll, scale = _ar1_kalman(Z, logdet_ata, sc, np.tanh(sz))
        top = ll.argmax(axis=1)
        up = ll[rows, top] > best
        c, z = np.where(up, sc[rows, top], c), np.where(up, sz[rows, top], z)
        best, phi = np.where(up, ll[rows, top], best), np.where(up, scale[rows, top], phi)
        f = np.where(np.isfinite(ll), ll - ll[:, 4:5], -1e6)
        x, w = _box_max(f @ _QUAD.T)
        nc = np.clip(cc + hc * x, 0, 1)
        nz = np.clip(zc + hz * w, -zb, zb)
        ll1, scale1 = _ar1_kalman(Z, logdet_ata, nc[:, None], np.tanh(nz)[:, None])
        up = ll1[:, 0] > best
        c, z = np.where(up, nc, c), np.where(up, nz, z)
        best, phi = np.where(up, ll1[:, 0], best), np.where(up, scale1[:, 0], phi)
        # A maximum inside the stencil: a finer stencil next; on its edge: the same, moved.
        inside = (np.abs(x) < 0.999) & (np.abs(w) < 0.999)
        hc, hz = np.where(inside, hc / 2, hc), np.where(inside, hz / 2, hz)
    return c, np.tanh(z), phi, best, A


def _ar1_cov(y: np.ndarray, X: np.ndarray, off: np.ndarray, beta: np.ndarray,
             bread: np.ndarray) -> np.ndarray:  # fmt: skip
    """The sandwich covariance phi (A'A)^-1 A'VA (A'A)^-1 of every series (`errors.sandwich`),
    with `bread` = (X'WX)^-1 from `_irls`."""
    with np.errstate(over="ignore", invalid="ignore"):
        mu = np.exp(np.clip(beta @ X.T + off, -700, 700))
    bad = ~np.isfinite(mu).all(axis=1) | ~np.isfinite(bread).all(axis=(1, 2))
    mu = np.where(bad[:, None], 1.0, mu)
    c, rho, phi, _, A = ar1_reml(y, X, mu)
    meat = _ar1_meat(A, c, rho)
    b = np.where(bad[:, None, None], np.nan, bread)
    cov = phi[:, None, None] * np.matmul(b, np.matmul(meat, b))
    return (cov + cov.transpose(0, 2, 1)) / 2


def estimate(design: Design, est: Estimator, y: np.ndarray) -> pd.DataFrame:
    """Fit every simulated series (rows of y): the log relative change at the design's
    horizon, its standard error and interval, and whether the fit succeeded."""
    h = float(design.end)
    log_rate = est.family == "gaussian"
    R = y.shape[0]
    out = {k: np.full(R, np.nan) for k in ("estimate", "se", "ci_low", "ci_high")}
    if est.fast:
        # The design matrix of ITS itself, from a placeholder outcome.
        model = _its_model(design, est, _frame(design, np.arange(y.shape[1]) % 7, False), False)
        X = model.exog.to_numpy(dtype=float)
        off = np.zeros(X.shape[0]) if model.log_offset is None else model.log_offset
        beta, cov, pearson, ok = _irls(y, X, off)
        df_resid = X.shape[0] - X.shape[1]
        scale = pearson / df_resid if est.family == "quasipoisson" else np.ones(R)
        w = np.zeros(X.shape[1])
        w[list(model.exog.columns).index("level_change")] = 1.0
        if est.slope_change:
            w[list(model.exog.columns).index("slope_change")] = h
        e = beta @ w
        if est.se == "ar1":
            cov = _ar1_cov(y, X, off, beta, cov)
            se = np.sqrt(np.einsum("i,rij,j->r", w, cov, w))
            q = stats.t.ppf(1 - est.alpha / 2, df_resid - 2)
        else:
            se = np.sqrt(scale * np.einsum("i,rij,j->r", w, cov, w))
            q = stats.norm.ppf(1 - est.alpha / 2)
        ok &= np.isfinite(e) & np.isfinite(se) & (np.ptp(y, axis=1) > 0)
        out = {"estimate": e, "se": se, "ci_low": e - q * se, "ci_high": e + q * se}
        out = {k: np.where(ok, v, np.nan) for k, v in out.items()}
    else:
        for r in range(R):
            try:
                model = _its_model(design, est, _frame(design, y[r], log_rate), log_rate)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = model.fit(se=est.se, lags=est.lags, alpha=est.alpha)
                term = res.lincom({"level_change": 1.0, **({"slope_change": h} if est.slope_change else {})})
            except (ITSInputError, np.linalg.LinAlgError, ValueError):
                continue
            for k in out:
                out[k][r] = getattr(term, k)
    frame = pd.DataFrame(out)
    frame["ok"] = np.isfinite(frame[["estimate", "ci_low", "ci_high"]]).all(axis=1)
    return frame


def _alternative(alternative: str | None, effect: float) -> str:
    if alternative is None:
        return "increase" if effect > 0 else "reduction"
    if alternative not in ALTERNATIVES:
        raise ITSInputError(f"alternative must be one of {', '.join(ALTERNATIVES)}, not "
                            f"{alternative!r}")  # fmt: skip
    return alternative


def _detected(fits: pd.DataFrame, alternative: str) -> np.ndarray:
    low, high = fits["ci_low"].to_numpy(), fits["ci_high"].to_numpy()
    with np.errstate(invalid="ignore"):
        hit = {"reduction": high < 0, "increase": low > 0,
               "two-sided": (high < 0) | (low > 0)}[alternative]  # fmt: skip
    return hit & fits["ok"].to_numpy()


# --- results ------------------------------------------------------------------------------


@dataclass
class PowerResults:
    """Simulated power of one design, effect and estimator (statsmodels style: fields and
    `summary()`). `power` is the share of simulations whose interval detects the effect
    (failed fits count as not detecting it); `mc_se` its Monte Carlo standard error. On the
    log scale: `mean_estimate`, `sd_estimate` (the single-site sampling SD, which
    `sites_needed` uses) and `mean_se` (the mean model standard error)."""

    design: Design
    effect: float
    shape: str
    alternative: str
    estimator: Estimator
    simulations: int
    seed: object
    power: float
    mc_se: float
    n_failed: int
    mean_estimate: float
    sd_estimate: float
    mean_se: float
    fits: pd.DataFrame = field(repr=False)

    @property
    def log_effect(self) -> float:
        return math.log1p(self.effect)

    def conf_int(self, alpha: float = 0.05) -> tuple[float, float]:
        """Wilson interval for the power (Monte Carlo error)."""
        return _wilson(self.power * self.simulations, self.simulations, alpha)

    def to_dict(self) -> dict:
        return {"effect": self.effect, "shape": self.shape, "alternative": self.alternative,
                "estimator": asdict(self.estimator), "simulations": self.simulations,
                "seed": _jsonable(self.seed), "power": self.power, "mc_se": self.mc_se,
                "n_failed": self.n_failed, "mean_estimate": self.mean_estimate,
                "sd_estimate": self.sd_estimate, "mean_se": self.mean_se,
                "design": self.design.to_dict()}  # fmt: skip

    def summary(self) -> str:
        lo, hi = self.conf_int()
        width = 78
        return "\n".join([
            "ITS power by simulation".center(width, "="),
            self.design.summary(),
            f"estimator: {self.estimator.label()}; alpha {self.estimator.alpha:g}; "
            f"alternative: {self.alternative} ({_rule(self.alternative, self.estimator.alpha)})",
            f"effect: {self.effect:+.1%} at {self.design.end} periods after the start "
            f"({self.shape})",
            "-" * width,
            f"power {self.power:.3f} (MC SE {self.mc_se:.3f}; 95% [{lo:.3f}, {hi:.3f}]) from "
            f"{self.simulations} simulations, seed {self.seed}"
            + (f"; {self.n_failed} fits failed (counted as not detecting)" if self.n_failed else ""),
            f"log estimate: mean {self.mean_estimate:+.4f} (true {self.log_effect:+.4f}), SD "
            f"{self.sd_estimate:.4f}, mean model SE {self.mean_se:.4f}",
            "=" * width,
        ])  # fmt: skip


@dataclass
class MDEResults:
    """The smallest relative change (in the direction searched) whose simulated power reaches
    `target_power`, found by bisection on the log scale over one set of draws (common random
    numbers), with its Monte Carlo standard error by the delta method (the power's binomial
    SE over the slope of the power curve near the MDE) and a 95% interval. `curve` holds every
    (effect, power) evaluated; `power_at_mde` the simulated power at the reported MDE.
    `mde` is NaN when even a 99% reduction (100-fold rise) falls short."""

    design: Design
    target_power: float
    shape: str
    alternative: str
    estimator: Estimator
    simulations: int
    seed: object
    mde: float
    mc_se: float
    ci_low: float
    ci_high: float
    power_at_mde: float
    curve: pd.DataFrame = field(repr=False)
    at_mde: PowerResults | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"mde": self.mde, "mc_se": self.mc_se, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "power_at_mde": self.power_at_mde,
                "target_power": self.target_power, "shape": self.shape,
                "alternative": self.alternative, "estimator": asdict(self.estimator),
                "simulations": self.simulations, "seed": _jsonable(self.seed),
                "design": self.design.to_dict()}  # fmt: skip

    def summary(self) -> str:
        width = 78
        if math.isfinite(self.mde):
            text = (f"minimum detectable effect at {self.target_power:.0%} power: "
                    f"{self.mde:+.1%} (MC SE {self.mc_se:.1%}; 95% [{self.ci_low:+.1%}, "
                    f"{self.ci_high:+.1%}]); simulated power there {self.power_at_mde:.3f}")  # fmt: skip
        else:
            text = f"no effect up to a 99% reduction or 100-fold rise reaches {self.target_power:.0%} power"
        return "\n".join([
            "ITS minimum detectable effect by simulation".center(width, "="),
            self.design.summary(),
            f"estimator: {self.estimator.label()}; alternative: {self.alternative} "
            f"({_rule(self.alternative, self.estimator.alpha)}); shape {self.shape}",
            "-" * width, text,
            f"{self.simulations} simulations, seed {self.seed}, {len(self.curve)} effect sizes "
            "searched on common random numbers",
            "=" * width,
        ])  # fmt: skip


def _rule(alternative: str, alpha: float) -> str:
    level = f"{1 - alpha:.0%} interval"
    return {"reduction": f"{level} upper limit < 0", "increase": f"{level} lower limit > 0",
            "two-sided": f"{level} excludes 0"}[alternative]  # fmt: skip


def _wilson(x: float, n: int, alpha: float) -> tuple[float, float]:
    z = stats.norm.ppf(1 - alpha / 2)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _jsonable(seed):
    return list(seed) if isinstance(seed, (tuple, list, np.ndarray)) else seed


# --- the public functions -----------------------------------------------------------------


class _Simulator:
    def __init__(self, design: Design, est: Estimator, seed, simulations: int, max_post=None):
        self.design, self.est, self.seed = design, est, seed
        self.simulations = _int("simulations", simulations, 2)
        self.draws = _Draws(seed, self.simulations, design.n_pre + max(design.n_post, max_post or 0))
        # The specification is checked once, on the expected counts, so that an estimator
        # that cannot fit this design fails here and not silently in every replication.
        y = np.round(np.exp(design.log_mean(0.0, "step")))
        y[0] += 1  # never constant
        log_rate = est.family == "gaussian"
        model = _its_model(design, est, _frame(design, y, log_rate), log_rate)
        if not est.fast:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(se=est.se, lags=est.lags, alpha=est.alpha)

    def run(self, effect: float, shape: str, alternative: str | None,
            n_post: int | None = None) -> PowerResults:  # fmt: skip
        d = self.design if n_post is None else self.design.replace(n_post=n_post, horizon=None)
        alt = _alternative(alternative, effect)
        y = simulate_counts(d, effect, shape, self.draws)
        fits = estimate(d, self.est, y)
        hit = _detected(fits, alt)
        ok = fits["ok"].to_numpy()
        p = float(hit.mean())
        e = fits["estimate"].to_numpy()[ok]
        return PowerResults(d, float(effect), shape, alt, self.est, self.simulations, self.seed, p,
                            math.sqrt(p * (1 - p) / self.simulations), int((~ok).sum()),
                            float(e.mean()) if e.size else math.nan,
                            float(e.std(ddof=1)) if e.size > 1 else math.nan,
                            float(fits["se"].to_numpy()[ok].mean()) if e.size else math.nan, fits)  # fmt: skip


def _estimator(family, se, lags, harmonics, alpha, slope_change=True) -> Estimator:
    return Estimator(family, se, None if lags is None else _int("lags", lags, 0),
                     _int("harmonics", harmonics, 0), alpha, bool(slope_change))  # fmt: skip


def power(design: Design, effect: float, *, seed, simulations: int = 500, shape: str = "step",
          alternative: str | None = None, alpha: float = 0.05, family: str = "quasipoisson",
          se: str = "model", lags: int | None = None, harmonics: int = 1,
          slope_change: bool = True) -> PowerResults:  # fmt: skip
    """Simulated power to detect a relative change `effect` at the design's horizon."""
    effect_path(effect, shape, 1, 2, 1)  # checks the effect and shape
    est = _estimator(family, se, lags, harmonics, alpha, slope_change)
    return _Simulator(design, est, seed, simulations).run(effect, shape, alternative)


def minimum_detectable_effect(design: Design, power: float = 0.8, *, seed,
                              simulations: int = 500, shape: str = "step",
                              alternative: str = "reduction", alpha: float = 0.05,
                              family: str = "quasipoisson", se: str = "model",
                              lags: int | None = None, harmonics: int = 1,
                              slope_change: bool = True, tol: float = 0.002,
                              mc_share: float = 0.25,
                              probe: PowerResults | None = None) -> MDEResults:  # fmt: skip
    """The relative change with `power` (default 80%) by a monotone (bisection) search on the
    log scale over one set of seeded draws. The search stops within 10 `tol` and within the
    wider of `tol` and `mc_share` of the MDE's Monte Carlo standard error (estimated on the
    way): its own error then adds at most mc_share^2 / 12 (0.5% at 0.25) to the variance the
    Monte Carlo error already has, and a finer search would only place the MDE more exactly
    within that error. `mc_share=0` searches to `tol`. The reduction side is searched for
    alternative reduction and two-sided, the increase side for increase. The search starts
    from the sampling SD of one simulated effect: `probe`, a result of `power` on the same
    draws (the same design, estimator, seed, simulations and shape, an effect on the side
    searched), such as the power at a planned change; without it, a 10% change."""
    target = _real("power", power, 0, 1, low_open=True, high_open=True)
    alternative = _alternative(alternative, -1.0)
    effect_path(-0.1, shape, 1, 2, 1)
    est = _estimator(family, se, lags, harmonics, alpha, slope_change)
    tol = _real("tol", tol, 0, low_open=True)
    mc_share = _real("mc_share", mc_share, 0, 1)
    sim = _Simulator(design, est, seed, simulations)
    sign = 1.0 if alternative == "increase" else -1.0
    cache: dict[float, PowerResults] = {}

    def at(d: float) -> PowerResults:
        d = round(float(d), 12)
        if d not in cache:
            cache[d] = sim.run(math.expm1(sign * d), shape, alternative)
        return cache[d]

    def curve() -> pd.DataFrame:
        return pd.DataFrame(sorted(((math.expm1(sign * d), r.power, r.mc_se) for d, r in cache.items()),
                                   key=lambda row: abs(row[0])), columns=["effect", "power", "mc_se"])  # fmt: skip

    def bisect(lo: float, hi: float, width: float) -> tuple[float, float]:
        while hi - lo > width:
            mid = (lo + hi) / 2
            if at(mid).power >= target:
                hi = mid
            else:
                lo = mid
        return lo, hi

    def mc_se_log(hi: float) -> float:
        """The MDE's Monte Carlo SE on the log scale: the power's binomial SE over the slope of
        the power curve at hi, from a central difference."""
        step = max(0.1 * hi, 5 * tol)
        low = max(hi - step, 0.0)
        slope = (at(hi + step).power - at(low).power) / (hi + step - low)
        return math.sqrt(target * (1 - target) / sim.simulations) / slope if slope > 0 else math.nan

    if probe is not None:
        d = sign * probe.log_effect
        if (probe.design, probe.estimator, probe.simulations, probe.shape) != \
                (design, est, sim.simulations, shape) or _jsonable(probe.seed) != _jsonable(seed) \
                or probe.alternative != alternative or not d > 0:  # fmt: skip
            raise ITSInputError("probe must be a power result on the same draws (design, "
                                "estimator, seed, simulations, shape and alternative) for an "
                                "effect on the side searched")  # fmt: skip
        cache[round(d, 12)] = probe
    else:
        probe = at(0.1)
    # A normal-approximation guess from the sampling SD at a moderate effect, then bracket.
    sd = probe.sd_estimate if math.isfinite(probe.sd_estimate) else 0.2
    guess = min(max((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(target)) * sd, tol), MAX_LOG_EFFECT)
    lo, hi = 0.0, guess
    if at(guess / 2).power < target:
        lo = guess / 2
    while at(hi).power < target and hi < MAX_LOG_EFFECT:
        lo, hi = hi, min(hi * 2, MAX_LOG_EFFECT)
    if at(hi).power < target:
        return MDEResults(design, target, shape, alternative, est, sim.simulations, seed,
                          math.nan, math.nan, math.nan, math.nan, math.nan, curve())  # fmt: skip
    # Bisect to 10 tol, estimate the Monte Carlo SE there, then bisect to the width it allows.
    lo, hi = bisect(lo, hi, 10 * tol)
    se_log = mc_se_log(hi)
    width = max(tol, mc_share * se_log) if math.isfinite(se_log) else tol
    lo, hi = bisect(lo, hi, width)
    if lo == 0.0 and at(0.0).power >= target:  # even no effect is "detected" that often
        hi = 0.0
    best = at(hi)
    z = stats.norm.ppf(0.975)
    mde = math.expm1(sign * hi)
    ends = sorted([math.expm1(sign * max(hi - z * se_log, 0.0)), math.expm1(sign * (hi + z * se_log))]) \
        if math.isfinite(se_log) else [math.nan, math.nan]  # fmt: skip
    mc_se = se_log * math.exp(sign * hi)  # |d effect / d log effect|
    return MDEResults(design, target, shape, alternative, est, sim.simulations, seed, mde, mc_se,
                      ends[0], ends[1], best.power, curve(), best)  # fmt: skip


@dataclass
class PostLengthResults:
    """The fewest post periods (2 to `max_post`) at which the simulated power reaches
    `target_power`, the effect stated at the last post period; `n_post` is None when no length
    up to `max_post` reaches it. Every length is evaluated (on one set of draws), because the
    power of the effect at the last period need not rise with the post length: a longer post
    period fits the post segment better but projects the counterfactual trend further.
    `curve` holds (n_post, power, mc_se) for every length; `best` the length of highest power."""

    target_power: float
    max_post: int
    n_post: int | None
    power_at: float
    best: int
    best_power: float
    curve: pd.DataFrame

    def summary(self) -> str:
        top = f"highest power {self.best_power:.3f} at {self.best} post periods"
        if self.n_post is None:
            return f"post periods for {self.target_power:.0%} power: none up to {self.max_post} ({top})"
        return (f"post periods for {self.target_power:.0%} power: {self.n_post} (simulated power "
                f"{self.power_at:.3f}; {top})")  # fmt: skip


def post_periods_needed(design: Design, effect: float, power: float = 0.8, *, seed,
                        simulations: int = 500, max_post: int = 60, shape: str = "step",
                        alternative: str | None = None, alpha: float = 0.05,
                        family: str = "quasipoisson", se: str = "model",
                        lags: int | None = None, harmonics: int = 1,
                        slope_change: bool = True) -> PostLengthResults:  # fmt: skip
    """The number of post periods needed for `power` to detect `effect` at the last post
    period, scanning every length from 2 to `max_post`; the design's own n_post and horizon
    are ignored. The draws are common to all lengths (a longer series extends a shorter)."""
    target = _real("power", power, 0, 1, low_open=True, high_open=True)
    max_post = _int("max_post", max_post, 2)
    effect_path(effect, shape, 1, 2, 1)
    est = _estimator(family, se, lags, harmonics, alpha, slope_change)
    sim = _Simulator(design.replace(n_post=2, horizon=None), est, seed, simulations, max_post)
    rows = []
    for n in range(2, max_post + 1):
        r = sim.run(effect, shape, alternative, n_post=n)
        rows.append((n, r.power, r.mc_se))
    curve = pd.DataFrame(rows, columns=["n_post", "power", "mc_se"])
    reach = curve[curve["power"] >= target]
    best = curve.loc[curve["power"].idxmax()]
    found = int(reach["n_post"].iloc[0]) if len(reach) else None
    return PostLengthResults(target, max_post, found,
                             float(reach["power"].iloc[0]) if len(reach) else math.nan,
                             int(best["n_post"]), float(best["power"]), curve)  # fmt: skip


def pooled_power(result: PowerResults, sites: int) -> float:
    """Power of the inverse-variance (fixed-effect) pooled estimate of `sites` comparable,
    independent sites with the same effect: SE_k = SD_1/sqrt(k), SD_1 the simulated sampling SD
    of the single-site log estimate, normal test as the single-site rule."""
    k = _int("sites", sites, 1)
    d, sd = result.log_effect, result.sd_estimate
    z = stats.norm.ppf(1 - result.estimator.alpha / 2)
    ratio = d * math.sqrt(k) / sd  # the pooled estimate's expected z statistic
    low, high = stats.norm.cdf(-ratio - z), stats.norm.cdf(ratio - z)  # below -z, above +z
    return float({"reduction": low, "increase": high, "two-sided": low + high}[result.alternative])


def sites_needed(result: PowerResults, power: float = 0.8, max_sites: int = 10**6) -> int | None:
    """The fewest comparable sites whose fixed-effect pooled estimate has `power` (see
    `pooled_power`: homogeneous effects, independent sites, each like the simulated one);
    None for no effect or more than `max_sites`."""
    target = _real("power", power, 0, 1, low_open=True, high_open=True)
    if result.effect == 0 or not math.isfinite(result.sd_estimate) or result.sd_estimate <= 0:
        return None
    z = stats.norm.ppf(1 - result.estimator.alpha / 2)
    k = max(1, math.ceil(((z + stats.norm.ppf(target)) * result.sd_estimate / abs(result.log_effect)) ** 2))
    while k > 1 and pooled_power(result, k - 1) >= target:
        k -= 1
    while pooled_power(result, k) < target:
        k += 1
        if k > max_sites:
            return None
    return k


# --- a design from pre-period data ----------------------------------------------------------


@dataclass
class DesignFit:
    """A design fitted to pre-period data: the ITS family model with no interruption (level,
    trend, season, dispersion), and the error model from its Pearson residuals.

    `dispersion` is the fit's Pearson chi-square / df; `error_method` names how the residual
    variance was split between count noise (the design's dispersion) and AR(1) log-rate noise
    (noise_sd, rho): "reml" (`gf_eval.stats.errors.reml`: AR(1) plus white noise), "moments",
    or "counts" (all of it count dispersion, no log-rate noise)."""

    design: Design
    params: pd.Series
    dispersion: float
    mean_count: float
    error_method: str
    ar1_share: float  # share of the Pearson residual variance in the AR(1) component
    residual_rho: float  # lag-1 autocorrelation of the Pearson residuals
    nobs: int
    family: str
    note: str = ""

    def summary(self) -> str:
        width = 78
        lines = ["ITS design from pre-period data".center(width, "="),
                 f"{self.nobs} pre periods, family {self.family}; mean count {self.mean_count:.4g}; "
                 f"Pearson dispersion {self.dispersion:.4g}; residual lag-1 autocorrelation "
                 f"{self.residual_rho:+.3f}",
                 "-" * width]  # fmt: skip
        for name, v in self.params.items():
            lines.append(f"{name:<24}{v:>12.5g}")
        lines += ["-" * width,
                  f"error model ({self.error_method}): AR(1) share {self.ar1_share:.3f} of the "
                  f"residual variance -> log-rate noise SD {self.design.noise_sd:.4g}, rho "
                  f"{self.design.rho:.3f}; count dispersion {self.design.dispersion:.4g}"
                  + (f" (NB2 alpha {self.design.nb_alpha:.4g})" if self.design.nb_alpha else ""),
                  *([self.note] if self.note else []), self.design.summary(), "=" * width]  # fmt: skip
        return "\n".join(lines)


ERROR_METHODS = ("auto", "reml", "moments", "counts")


def _reml():
    try:
        from gf_eval.stats import errors
    except ImportError:  # pragma: no cover - the module is part of the package
        return None
    return errors if hasattr(errors, "reml") and hasattr(errors, "gaps") else None


def fit_design(data: pd.DataFrame, outcome: str, time: str, *, n_post: int,
               offset: str | None = None, season: str | None = None, period: float = 12,
               harmonics: int = 1, family: str = "quasipoisson", horizon: int | None = None,
               offset_post: float | None = None, error: str = "auto",
               max_rho: float = 0.95) -> DesignFit:  # fmt: skip
    """Fit a Design to pre-period observations (every row is a pre period; times equally
    spaced without gaps; the season column, if any, advances by one per period).

    The family model (poisson, quasipoisson or negbin) has an intercept, a trend and
    `harmonics` Fourier pairs, and the input checks of `ITS`. Its Pearson residuals r_t, with
    Var(r_t) = phi0 + mu_t*(exp(sigma^2) - 1) under the design's model, give the error model:
    ``reml`` fits AR(1) + white noise to them by REML (`gf_eval.stats.errors.reml`), the white
    share being the count dispersion phi0 and the AR(1) share c*phi the log-rate noise,
    sigma^2 = log(1 + c*phi/mean mu), with the REML rho (when phi > 1 the count dispersion is at
    least 1, Poisson, the AR(1) part then keeping the REML lag-1 autocovariance); ``moments`` puts every excess over
    Poisson into the log-rate noise, sigma^2 = log(1 + (phi - 1)/mean mu) with phi the Pearson
    dispersion (count dispersion phi when phi < 1), and rho from the residuals' lag-1
    autocorrelation r1, exp(sigma^2*rho) - 1 = r1*phi/mean mu (biased towards 0 in short
    series); ``counts`` makes it all count dispersion (NB2 alpha for negbin), with no log-rate
    noise. ``auto`` is reml when `gf_eval.stats.errors` offers it, else moments. rho is kept
    within +-max_rho."""
    if family not in ("poisson", "quasipoisson", "negbin"):
        raise ITSInputError(f"family must be poisson, quasipoisson or negbin, not {family!r}")
    if error not in ERROR_METHODS:
        raise ITSInputError(f"error must be one of {', '.join(ERROR_METHODS)}, not {error!r}")
    n_post = _int("n_post", n_post, 2)
    if time not in data.columns:
        raise ITSInputError(f"column not found: {time}")
    times = pd.to_numeric(data[time], errors="coerce")
    if times.isna().any() or len(data) < _its.MIN_PRE:
        if times.isna().any():
            raise ITSInputError(f"column {time}: missing or non-numeric values")
        raise ITSInputError(f"{len(data)} pre-period rows; at least {_its.MIN_PRE} are needed")
    # ITS's own checks and design, with one placeholder post period after the last row (a
    # level change that fits it alone and is then dropped).
    order = np.argsort(times.to_numpy(), kind="stable")
    pre = data.iloc[order].reset_index(drop=True)
    t_sorted = times.to_numpy()[order]
    diffs = np.diff(t_sorted)
    step = float(pd.Series(np.round(diffs, 9)).mode().min()) if diffs.size else 1.0
    if step <= 0:
        raise ITSInputError(f"column {time}: repeated time values")
    extra = pre.iloc[[-1]].copy()
    extra[time] = t_sorted[-1] + step
    model = ITS(pd.concat([pre, extra], ignore_index=True), outcome, time, t_sorted[-1] + step,
                family="poisson" if family == "quasipoisson" else family, offset=offset,
                season=season if harmonics else None, period=period, harmonics=harmonics,
                slope_change=False)  # fmt: skip
    rows = model.data[time].to_numpy() < model.start
    cols = [c for c in model.exog.columns if c != "level_change"]
    X = model.exog.loc[rows, cols]
    y = model.endog[rows]
    off = None if model.log_offset is None else model.log_offset[rows]
    n = int(rows.sum())
    if n - X.shape[1] - (family == "negbin") < _its.MIN_RESID_DF:
        raise ITSInputError(f"too few pre periods for the model: {n} for {X.shape[1]} "
                            "parameters; use fewer harmonics or more data")  # fmt: skip
    s_all = model.data[season].to_numpy(dtype=float)[rows] if season and harmonics else None
    if s_all is not None:
        advance = (s_all - s_all[0]) - (model.data[time].to_numpy()[rows] - t_sorted[0]) / step
        if np.any(np.abs(np.mod(advance + period / 2, period) - period / 2) > 1e-6):
            raise ITSInputError(f"column {season} must advance by one per period of {time} "
                                f"(modulo the period {period:g}) to be projected")  # fmt: skip
    alpha_nb = 0.0
    if family == "negbin":
        res = _its._fit_negbin(y, X, off, {})
        params = pd.Series(np.asarray(res.params)[: X.shape[1]], index=cols)
        alpha_nb = float(np.asarray(res.params)[-1])
    else:
        res = GLM(y, X, family=families.Poisson(), offset=off).fit()
        params = res.params
    eta = X.to_numpy() @ params.to_numpy() + (0 if off is None else off)
    mu = np.exp(eta)
    r = (y - mu) / np.sqrt(mu)
    df_resid = n - X.shape[1]
    phi = float(r @ r / df_resid)
    m_bar = float(mu.mean())
    r1 = float(r[1:] @ r[:-1] / (r @ r)) if n > 2 else 0.0
    method = error if error != "auto" else ("reml" if _reml() is not None else "moments")
    note = ""
    share = 0.0
    disp, nb_alpha, sd, rho = 1.0, 0.0, 0.0, 0.0
    if method == "reml" and _reml() is None:
        raise ITSInputError("the REML error model (gf_eval.stats.errors) is not available")
    if method == "counts":
        if family == "negbin":
            nb_alpha = alpha_nb
        else:
            disp = phi if family == "quasipoisson" else 1.0
    elif method == "reml":
        errors = _reml()
        w = np.sqrt(mu)[:, None] * X.to_numpy()
        gap = errors.gaps(np.arange(n, dtype=float), None, 1.0)
        em = errors.reml(r, w, gap)
        share, total = float(em.c), float(em.scale)
        white = (1 - share) * total
        if total > 1 and white < 1:
            # Counts given their rate vary at least as Poisson counts do (unless the series
            # as a whole is underdispersed); the rest is the AR(1) part, whose rho is rescaled
            # to keep the REML lag-1 autocovariance c*phi*rho.
            white = 1.0
        ar = total - white
        ar_rho = em.rho * share * total / ar if ar > 0 else 0.0
        disp = max(white, 1e-3)
        sd = math.sqrt(math.log1p(ar / m_bar)) if ar > 0 else 0.0
        if sd > 0:
            # corr of exp(u) - 1 is (exp(sigma^2 rho) - 1) / (exp(sigma^2) - 1)
            arg = 1 + float(np.clip(ar_rho, -max_rho, max_rho)) * math.expm1(sd * sd)
            rho = math.log(arg) / (sd * sd)
        share = ar / total if total > 0 else 0.0
        note = (f"REML (gf_eval.stats.errors): residual variance {total:.4g}, of which "
                f"{em.c:.1%} AR(1) with rho {em.rho:+.3f}"
                + ("; count dispersion raised to 1 (Poisson) and the AR(1) part rescaled"
                   if white == 1.0 and (1 - em.c) * total < 1 else ""))  # fmt: skip
    else:  # moments
        excess = (alpha_nb * m_bar + 1 if family == "negbin" else phi) - 1
        if excess <= 0:
            disp = phi if family != "negbin" else 1.0
            note = "underdispersed or Poisson: no log-rate noise (moment estimate)"
        else:
            sd = math.sqrt(math.log1p(excess / m_bar))
            arg = 1 + r1 * (1 + excess) / m_bar
            rho = math.log(arg) / (sd * sd) if arg > 0 else -max_rho
            share = excess / (1 + excess)
            note = ("moment estimate: all extra-Poisson variance as AR(1) log-rate noise, rho "
                    "from the residuals' lag-1 autocorrelation (biased towards 0)")  # fmt: skip
    rho = float(np.clip(rho, -max_rho, max_rho))
    if not math.isfinite(rho):
        rho = 0.0
    # The level at the last pre period (season-free), the trend per period, the season.
    span = t_sorted[-1] - t_sorted[0]
    trend_unit = float(params.get("pre_slope", 0.0))
    amps, phases = [], []
    for k in range(1, (harmonics if season else 0) + 1):
        bs, bc = float(params[f"sin{k}"]), float(params[f"cos{k}"])
        amps.append(math.hypot(bs, bc))
        phases.append(math.atan2(bs, bc))
    offsets = tuple(model.data[offset].to_numpy(dtype=float)[rows]) if offset else None
    design = Design(
        n_pre=int(round(span / step)) + 1, n_post=n_post,
        level=float(params["intercept"] + trend_unit * span), trend=trend_unit * step,
        season_amplitude=tuple(amps), season_phase=tuple(phases), period=period,
        season_first=float(s_all[0]) if s_all is not None else 1.0,
        offset_pre=offsets, offset_post=offset_post, dispersion=disp, nb_alpha=nb_alpha,
        rho=rho, noise_sd=sd, horizon=horizon,
    )  # fmt: skip
    if design.n_pre != n:
        raise ITSInputError(f"column {time}: the pre period has gaps ({n} rows over "
                            f"{design.n_pre} periods)")  # fmt: skip
    return DesignFit(design, params, phi if family != "negbin" else alpha_nb, float(y.mean()),
                     method, share, r1, n, family, note)  # fmt: skip
