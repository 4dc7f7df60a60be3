"""Error models for regression residuals in time order: AR(1) plus white noise.

The working correlation of the residuals of one series is

    V(c, rho) = (1 - c) I + c R(rho),   R_ij = rho^(|t_i - t_j| / step),

a stationary AR(1) process (share c of the variance) plus white noise (share 1 - c): the
autocorrelated noise of a rate plus, for counts, the independent sampling noise of each
period. Several series (a controlled ITS) give a block-diagonal V with shared (c, rho).

`reml` fits (c, rho) by restricted maximum likelihood to residuals r that live in the
orthogonal complement of a design A (for a GLM: the Pearson residuals and A = W^{1/2} X, W the
fit's working weights), the scale phi profiled out: r ~ N(0, phi V) restricted to the
residual space. The likelihood is computed in O(n) by a Kalman filter of the AR(1) state
(missing periods are longer steps: transition rho^d), on a grid of (c, rho) at once and then
polished by SLSQP (scipy.optimize, bounded) from the three best grid points, within c in [0, 1] and
rho in [-0.99, 0.99].

`sandwich` gives the covariance of the working (GLM or OLS) estimator under that error
model, phi (A'A)^-1 A' V A (A'A)^-1, which with c = 0 is phi (X'WX)^-1, the model-based
(quasi-likelihood) covariance. `ar1_draws` simulates from the error model for a parametric
bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

RHO_BOUND = 0.99
# The starting grid of the REML search: c from 0 to 1, rho across its range.
C_GRID = np.linspace(0.0, 1.0, 11)
RHO_GRID = np.append(np.linspace(-0.9, 0.9, 19), [0.95, 0.99])


@dataclass(frozen=True)
class ErrorModel:
    """A fitted AR(1)-plus-white-noise error model: Cov(r) = scale * V(c, rho)."""

    c: float  # share of the variance in the AR(1) component
    rho: float  # AR(1) correlation per step of the time column
    scale: float  # phi, the REML variance of the residuals
    loglik: float  # the restricted log-likelihood at the estimate (phi profiled out)
    n: int
    rank: int  # columns of the design, removed from the residual space

    def to_dict(self) -> dict:
        return {"c": self.c, "rho": self.rho, "scale": self.scale, "loglik": self.loglik}


def gaps(times: np.ndarray, ids: np.ndarray | None, step: float) -> np.ndarray:
    """For rows sorted by series then time: the distance to the previous row of the same
    series in steps of the time column (a whole number), 0 at the first row of each series."""
    times = np.asarray(times, dtype=float)
    ids = np.zeros(times.size, dtype=int) if ids is None else np.asarray(ids)
    d = np.zeros(times.size)
    if times.size > 1:
        same = ids[1:] == ids[:-1]
        d[1:] = np.where(same, np.round(np.diff(times) / step), 0.0)
    if np.any(d[1:][ids[1:] == ids[:-1]] < 1):
        raise ValueError("times must increase within each series")
    return d


def correlation(d: np.ndarray, c: float, rho: float) -> list[np.ndarray]:
    """The blocks of V(c, rho), one per series, from the gaps `d` of `gaps`."""
    starts = np.flatnonzero(d == 0)
    bounds = list(starts) + [d.size]
    blocks = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        pos = np.concatenate([[0.0], np.cumsum(d[a + 1 : b])])  # time in steps within the series
        lag = np.abs(np.subtract.outer(pos, pos))
        R = np.power(rho, lag) if rho != 0 else (lag == 0).astype(float)
        blocks.append((1 - c) * np.eye(b - a) + c * R)
    return blocks


def _moments(Y: np.ndarray, d: np.ndarray, c: np.ndarray, rho: np.ndarray):
    """Kalman filter of y_t = x_t + e_t (x an AR(1) of variance c per unit scale, e white of
    variance 1 - c) applied to each column of Y, for G parameter pairs at once. Returns
    log|V| (G,) and the cross-products of the whitened columns, (L^-1 Y)'(L^-1 Y) (G, q, q),
    where V = L L' (the innovations form)."""
    n, q = Y.shape
    G = c.size
    logdet = np.zeros(G)
    S = np.zeros((G, q, q))
    m = np.zeros((G, q))
    P = np.zeros(G)
    white = 1.0 - c
    for t in range(n):
        if d[t] == 0:  # the first period of a series: the stationary distribution
            m_pred = np.zeros((G, q))
            P_pred = c.copy()
        else:
            a = np.power(rho, d[t])
            m_pred = a[:, None] * m
            P_pred = a * a * P + c * (1 - a * a)
        F = P_pred + white
        v = Y[t][None, :] - m_pred
        K = P_pred / F
        m = m_pred + K[:, None] * v
        P = P_pred * white / F
        w = v / np.sqrt(F)[:, None]
        S += w[:, :, None] * w[:, None, :]
        logdet += np.log(F)
    return logdet, S


# Dense Cholesky factors for series of at most 300 points when (parameter points) x (longest
# series)^2 is at most this, else
# the Kalman filter (equal results; the faster of the two for the size).
DENSE_MAX = 4_000_000


def _moments_dense(Y: np.ndarray, d: np.ndarray, c: np.ndarray, rho: np.ndarray):
    """As `_moments`, from the Cholesky factors of each block of V (faster for short series)."""
    G, q = c.size, Y.shape[1]
    logdet = np.zeros(G)
    S = np.zeros((G, q, q))
    starts = np.flatnonzero(d == 0)
    for a, b in zip(starts, list(starts[1:]) + [d.size]):
        pos = np.concatenate([[0.0], np.cumsum(d[a + 1 : b])])
        lag = np.abs(np.subtract.outer(pos, pos)).astype(np.int64)
        powers = np.power(rho[:, None], np.arange(lag.max() + 1)[None, :])  # rho^k, k = 0..max
        V = c[:, None, None] * powers[:, lag]
        V += (1 - c)[:, None, None] * np.eye(b - a)[None]
        L = np.linalg.cholesky(V)
        W = np.linalg.solve(L, np.broadcast_to(Y[a:b], (G, b - a, q)))
        logdet += 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
        S += np.einsum("gni,gnj->gij", W, W)
    return logdet, S


def _restricted_loglik(Y: np.ndarray, d: np.ndarray, c: np.ndarray, rho: np.ndarray):
    """The REML log-likelihood with the scale profiled out (up to a constant), and the REML
    scale, for each (c, rho); Y = [r, Q] with Q an orthonormal basis of the design."""
    n, q = Y.shape
    k = q - 1
    longest = np.diff(np.append(np.flatnonzero(d == 0), d.size)).max()
    if longest <= 300 and c.size * longest**2 <= DENSE_MAX:
        parts = [_moments_dense(Y, d, c[i : i + 32], rho[i : i + 32]) for i in range(0, c.size, 32)]
        logdet, S = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    else:
        logdet, S = _moments(Y, d, c, rho)
    M, b, rr = S[:, 1:, 1:], S[:, 1:, 0], S[:, 0, 0]
    sign, logdet_M = np.linalg.slogdet(M)
    rss = rr - np.einsum("gi,gi->g", b, np.linalg.solve(M, b[:, :, None])[:, :, 0])
    rss = np.maximum(rss, 1e-300)
    dfr = n - k
    scale = rss / dfr
    ll = -0.5 * (logdet + logdet_M + dfr * np.log(scale) + dfr)
    return np.where(sign > 0, ll, -np.inf), scale


def _prepared(resid: np.ndarray, design: np.ndarray):
    """[r / unit, Q]: the residuals in units of their RMS and an orthonormal basis Q of the
    design's column space (numerical rank), and that unit."""
    r = np.asarray(resid, dtype=float)
    Q, Rq = np.linalg.qr(np.asarray(design, dtype=float))
    diag = np.abs(np.diag(Rq))
    Q = Q[:, diag > 1e-10 * max(diag.max(), 1e-300)]
    unit = float(np.sqrt(r @ r / r.size)) or 1.0  # the likelihood does not depend on the units
    return np.column_stack([r / unit, Q]), unit


def profile(resid: np.ndarray, design: np.ndarray, d: np.ndarray, c: float,
            rho: float) -> ErrorModel:  # fmt: skip
    """The error model at a given (c, rho): the REML scale r'P r / (n - k), with
    P = V^-1 - V^-1 A (A'V^-1 A)^-1 A'V^-1, and the restricted log-likelihood
    -1/2 [log|V| + log|Q'V^-1 Q| + (n - k) log(scale) + (n - k)], Q an orthonormal basis of
    the design A (log|A'V^-1 A| less the constant log|A'A|)."""
    Y, unit = _prepared(resid, design)
    ll, scale = _restricted_loglik(Y, np.asarray(d, dtype=float), np.array([float(c)]),
                                   np.array([float(rho)]))  # fmt: skip
    k = Y.shape[1] - 1
    dfr = Y.shape[0] - k
    # Back to the units of r: the scale by unit^2, the log-likelihood by -(n - k) log(unit).
    return ErrorModel(float(c), float(rho), float(scale[0] * unit**2),
                      float(ll[0] - dfr * np.log(unit)), Y.shape[0], k)  # fmt: skip


def reml(resid: np.ndarray, design: np.ndarray, d: np.ndarray) -> ErrorModel:
    """Fit V(c, rho) by REML to residuals `resid` of a fit with design `design` (both in the
    metric of the fit's weights: the Pearson residuals and W^{1/2} X), rows in time order
    within series with gaps `d` (from `gaps`)."""
    Y, _ = _prepared(resid, design)
    d = np.asarray(d, dtype=float)

    cc, rr = np.meshgrid(C_GRID, RHO_GRID, indexing="ij")
    grid_ll, _ = _restricted_loglik(Y, d, cc.ravel(), rr.ravel())

    def objective(x):
        # The value and a central-difference gradient (one-sided at a bound) from one
        # vectorised filter pass over five points.
        h = 1e-5
        lo_c, hi_c = max(x[0] - h, 0.0), min(x[0] + h, 1.0)
        lo_r, hi_r = max(x[1] - h, -RHO_BOUND), min(x[1] + h, RHO_BOUND)
        ll, _ = _restricted_loglik(Y, d, np.array([x[0], lo_c, hi_c, x[0], x[0]]),
                                   np.array([x[1], x[1], x[1], lo_r, hi_r]))  # fmt: skip
        ll = np.where(np.isfinite(ll), ll, -1e300)
        grad = [(ll[2] - ll[1]) / (hi_c - lo_c), (ll[4] - ll[3]) / (hi_r - lo_r)]
        return -ll[0], -np.array(grad)

    # SLSQP within the bounds from the three best grid points; the best end point wins
    # (never one worse than the grid's best).
    best = (grid_ll.max(), np.array([cc.ravel()[grid_ll.argmax()], rr.ravel()[grid_ll.argmax()]]))
    bounds = [(0.0, 1.0), (-RHO_BOUND, RHO_BOUND)]
    for i in np.argsort(-grid_ll)[:3]:
        start = np.array([cc.ravel()[i], rr.ravel()[i]])
        res = optimize.minimize(objective, start, jac=True, method="SLSQP", bounds=bounds,
                                options={"maxiter": 200, "ftol": 1e-12})  # fmt: skip
        if np.isfinite(res.fun) and -res.fun > best[0]:
            best = (-res.fun, np.asarray(res.x))
    return profile(resid, design, d, *(float(v) for v in best[1]))


def sandwich(design: np.ndarray, d: np.ndarray, model: ErrorModel) -> np.ndarray:
    """Cov(b) = phi (A'A)^-1 A' V A (A'A)^-1 for the working estimator b with design
    A = W^{1/2} X (OLS: A = X) when Cov(W^{1/2} working residual) = phi V(c, rho)."""
    A = np.asarray(design, dtype=float)
    bread = np.linalg.inv(A.T @ A)
    meat = np.zeros((A.shape[1], A.shape[1]))
    row = 0
    for V in correlation(d, model.c, model.rho):
        Ab = A[row : row + V.shape[0]]
        meat += Ab.T @ V @ Ab
        row += V.shape[0]
    cov = model.scale * bread @ meat @ bread
    return (cov + cov.T) / 2


def ar1_draws(rng: np.random.Generator, d: np.ndarray, rho: float, size: int) -> np.ndarray:
    """`size` draws (rows) of a stationary AR(1) of unit variance with correlation rho per
    step, at rows with gaps `d` (restarting at each series)."""
    n = d.size
    e = rng.standard_normal((size, n))
    x = np.empty((size, n))
    for t in range(n):
        if d[t] == 0:
            x[:, t] = e[:, t]
        else:
            a = rho ** d[t]
            x[:, t] = a * x[:, t - 1] + np.sqrt(1 - a * a) * e[:, t]
    return x
