"""Many logistic regressions of the same shape at once, by statsmodels' IRLS.

A bootstrap that refits a logistic model to each resample spends its time in statsmodels'
per-fit machinery (a model, a results object, a least-squares solve per iteration), not in
the arithmetic. `logit_irls` takes every fit through the same steps as
GLM(y, x, family=Binomial()).fit(start_params=start) - the same start, the same probability
clipping, the same deviance stopping rule and so the same number of iterations - in one numpy
pass per iteration over all of them. Its coefficients agree with statsmodels' to rounding
(the weighted least squares is solved by its normal equations, not by SVD; about 1e-13 on a
casework book).

A fit whose result could differ by more than rounding is not vouched for (`exact` False), and
the caller should redo it one at a time: one that did not converge, a singular or
ill-conditioned weighted design (a covariate without its cases; quasi-separation, where some
weights go to 0), a fitted probability at the clipping bounds, or a stopping decision that
rounding could have turned the other way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LogitFits", "logit_irls"]

_EPS = np.finfo(float).eps  # statsmodels' clipping bound for probabilities
_MAX_COND = 1e7  # normal equations lose cond * eps: beyond this, rounding is no longer ~1e-9
_MARGIN = 1e-2  # a deviance change within 1% of tol could be stopped on either side of it


@dataclass(frozen=True)
class LogitFits:
    """`params` (fits x k), the `iterations` each took (as statsmodels counts them) and
    whether each is `exact` (agrees with statsmodels to rounding; if not, refit it alone)."""

    params: np.ndarray
    iterations: np.ndarray
    exact: np.ndarray


def _deviance(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    # statsmodels' Binomial deviance term for term (its 1e-20 guards and eps floor), the term
    # that y in {0, 1} zeroes left out
    ratio = np.where(y, 1.0 / (mu + 1e-20), 1.0 / (1.0 - mu + 1e-20))
    return 2 * np.log(np.maximum(ratio, _EPS)).sum(axis=-1)


def logit_irls(x: np.ndarray, y: np.ndarray, start: np.ndarray, maxiter: int = 100,
               tol: float = 1e-8) -> LogitFits:  # fmt: skip
    """Fit y[f] ~ x[f] (x: fits x n x k, y: fits x n of 0/1) for every fit f from `start` (k,
    or fits x k), as statsmodels' GLM Binomial (logit link) IRLS with `maxiter` and `tol`."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=bool)
    fits, _n, k = x.shape
    params = np.broadcast_to(np.asarray(start, dtype=float), (fits, k)).copy()
    iterations = np.zeros(fits, dtype=int)
    exact = np.ones(fits, dtype=bool)
    live = np.arange(fits)  # the fits still iterating; xs, ys, lin, mu, dev are theirs
    xs, ys = x, y
    with np.errstate(all="ignore"):
        lin = (xs @ params[:, :, None])[:, :, 0]
        mu = 1.0 / (1.0 + np.exp(-lin))
        dev = _deviance(ys, mu)
        for it in range(1, maxiter + 1):
            if not live.size:
                break
            p = np.minimum(np.maximum(mu, _EPS), 1 - _EPS)  # statsmodels' clipping
            w = p * (1 - p)
            z = lin + (ys - mu) / w
            xw = xs * w[:, :, None]
            gram = np.swapaxes(xw, 1, 2) @ xs
            # A singular or ill-conditioned weighted design (a covariate without its cases,
            # separation) has no solution, or none the normal equations find to rounding.
            ok = np.isfinite(gram).all(axis=(1, 2))
            if ok.any():
                eig = np.linalg.eigvalsh(gram[ok])
                ok[ok] = eig[:, 0] > eig[:, -1] / _MAX_COND
            beta = np.zeros((live.size, k))
            if ok.any():
                rhs = (z[ok][:, None, :] @ xw[ok])[:, 0, :, None]
                beta[ok] = np.linalg.solve(gram[ok], rhs)[:, :, 0]
            lin = (xs @ beta[:, :, None])[:, :, 0]
            mu = 1.0 / (1.0 + np.exp(-lin))
            new = _deviance(ys, mu)
            change = np.abs(new - dev)
            ok &= np.isfinite(new)
            # statsmodels clips probabilities at eps from 0 and 1 (and warns of separation)
            ok &= ((mu > 2 * _EPS) & (mu < 1 - 2 * _EPS)).all(axis=1)
            ok &= np.abs(change - tol) > _MARGIN * tol  # a stop rounding could not reverse
            params[live], iterations[live] = beta, it
            exact[live[~ok]] = False
            keep = ok & (change > tol)  # statsmodels: np.allclose(dev, new, rtol=0, atol=tol)
            if not keep.all():
                live, xs, ys = live[keep], xs[keep], ys[keep]
                lin, mu, new = lin[keep], mu[keep], new[keep]
            dev = new
    exact[live] = False  # not converged in maxiter iterations
    return LogitFits(params, iterations, exact)
