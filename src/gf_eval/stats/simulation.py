"""Monte Carlo check of ITS estimators on count series with known effects.

Series like the evaluation's: `n_pre` months before and `n_post` from the start, counts with a
population offset, log-rate trend, seasonality, and AR(1) noise on the log scale (which makes
the counts overdispersed and serially correlated):

    log mu_t = log(offset_t) + b0 + b1*t + b2*X + b3*X*(t - T0) + s*cos(2*pi*month/12) + u_t,
    u_t = rho*u_{t-1} + e_t (stationary, marginal SD sigma),

    counts "poisson":  y_t ~ Poisson(mu_t)
    counts "negbin":   y_t ~ NB2(mu_t, nb_alpha), Var(y_t | mu_t) = mu_t + nb_alpha*mu_t^2
                       (a gamma-Poisson mixture: independent month-to-month extra variation on
                       top of the autocorrelated log-rate noise; nb_alpha = 0.05 by default).

Each estimator is scored on the level change b2 and on the log effect at the last month,
b2 + b3*(n_post - 1) (the scale of the evaluation's targets): bias, RMSE, 95% interval coverage,
mean interval width and the share of intervals that exclude 0 -- the type I error under the
null (b2 = b3 = 0), the power under the effect scenario.

Every (scenario, effect or null) cell draws its series from its own stream, seeded by the
study's seed and the cell's parameters (`cell_seed`), so a cell's series, and so its results,
do not depend on `jobs`, on the order of the cells or on which estimators are run: estimators
can be run in separate batches and the rows put together.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gf_eval.stats.its import ITS

COUNTS = ("poisson", "negbin")


@dataclass(frozen=True)
class Scenario:
    rho: float
    level_change: float = -0.15
    slope_change: float = -0.01
    n_pre: int = 42
    n_post: int = 18
    base: float = 30.0  # expected count per month at t = 0
    trend: float = 0.003
    season: float = 0.08
    sigma: float = 0.10  # marginal SD of the AR(1) log-rate noise
    counts: str = "poisson"
    nb_alpha: float = 0.05  # NB2 overdispersion, used when counts == "negbin"

    def __post_init__(self):
        if self.counts not in COUNTS:
            raise ValueError(f"counts must be one of {COUNTS}, not {self.counts!r}")

    @property
    def end_effect(self) -> float:
        return self.level_change + self.slope_change * (self.n_post - 1)

    def null(self) -> Scenario:
        return dataclasses.replace(self, level_change=0.0, slope_change=0.0)

    @property
    def design(self) -> str:
        return f"{self.n_pre}/{self.n_post}"


def grid(rhos: Sequence[float] = (0.0, 0.3, 0.6), sigmas: Sequence[float] = (0.1, 0.2),
         designs: Sequence[tuple[int, int]] = ((42, 18), (36, 24)),
         counts: Sequence[str] = COUNTS, nb_alpha: float = 0.05) -> list[Scenario]:  # fmt: skip
    """The study's scenarios (issue 13), counts slowest, then design, sigma, rho."""
    return [Scenario(rho, n_pre=pre, n_post=post, sigma=sigma, counts=c, nb_alpha=nb_alpha)
            for c in counts for pre, post in designs for sigma in sigmas for rho in rhos]  # fmt: skip


@dataclass(frozen=True)
class Spec:
    """How an estimator fits: `ITS(..., family=family).fit(se=se, lags=lags)`, on the count with
    the population offset or on the log rate. se "adaptive" is the pre-specified rule in
    `ADAPTIVE_RULE`; `bootstrap` replications are passed to se="bootstrap"."""

    family: str
    se: str
    lags: int | None = None
    outcome: str = "count"  # or "log_rate"
    bootstrap: int = 0


AR1 = "quasi-Poisson, AR(1)+white noise (REML)"
ADAPTIVE = "quasi-Poisson, adaptive (BG lag-1 p < 0.05: AR(1), else model SE)"
BOOTSTRAP = "quasi-Poisson, bootstrap (B = 199)"
ADAPTIVE_RULE = (
    "Fit quasi-Poisson with model-based SEs; if the Breusch-Godfrey test at lag 1 on its Pearson "
    "residuals (all months, as the fit's diagnostics report it) has p < 0.05, use the "
    "AR(1)+white noise (REML) standard errors of the same model, otherwise the model-based ones."
)

ESTIMATORS: dict[str, Spec] = {
    "poisson, model SE": Spec("poisson", "model"),
    "quasi-Poisson, model SE": Spec("quasipoisson", "model"),
    "quasi-Poisson, Newey-West lag 1": Spec("quasipoisson", "newey", 1),
    "quasi-Poisson, Newey-West lag 3": Spec("quasipoisson", "newey", 3),
    "gaussian log rate, Prais-Winsten": Spec("gaussian", "prais", outcome="log_rate"),
    AR1: Spec("quasipoisson", "ar1"),
    ADAPTIVE: Spec("quasipoisson", "adaptive"),
    BOOTSTRAP: Spec("quasipoisson", "bootstrap", bootstrap=199),
}
# Run on the whole grid; the bootstrap, far dearer, on a subset (benchmarks/its_simulation.py).
GRID_ESTIMATORS = tuple(name for name in ESTIMATORS if name != BOOTSTRAP)

# The default for the appendices, chosen from the study in the README.
DEFAULT_ESTIMATOR = "quasi-Poisson, AR(1)+white noise (REML)"


def simulate(scenario: Scenario, rng: np.random.Generator) -> pd.DataFrame:
    n = scenario.n_pre + scenario.n_post
    t = np.arange(n)
    x = (t >= scenario.n_pre).astype(float)
    u = np.empty(n)
    u[0] = rng.normal(0, scenario.sigma)
    shocks = rng.normal(0, scenario.sigma * np.sqrt(1 - scenario.rho**2), n)
    for i in range(1, n):
        u[i] = scenario.rho * u[i - 1] + shocks[i]
    month = t % 12 + 1
    population = np.linspace(1.0, 1.05, n)
    log_mu = (np.log(population) + np.log(scenario.base) + scenario.trend * t
              + scenario.level_change * x + scenario.slope_change * x * (t - scenario.n_pre)
              + scenario.season * np.cos(2 * np.pi * month / 12) + u)  # fmt: skip
    mu = np.exp(log_mu)
    if scenario.counts == "negbin":  # gamma mixing with mean 1 and variance nb_alpha
        a = scenario.nb_alpha
        mu = mu * rng.gamma(1 / a, a, n)
    y = rng.poisson(mu)
    return pd.DataFrame({"t": t, "y": y, "month": month, "population": population})


class _Fits:
    """The fits of one simulated series, each model and SE option fitted once (the adaptive
    rule reuses the model-SE and AR(1) fits)."""

    def __init__(self, df: pd.DataFrame, scenario: Scenario, boot_seed: int):
        self.df, self.scenario, self.boot_seed = df, scenario, boot_seed
        self.models: dict = {}
        self.results: dict = {}

    def model(self, family: str, outcome: str) -> ITS:
        key = (family, outcome)
        if key not in self.models:
            data, kwargs = self.df, {"offset": "population"}
            if outcome == "log_rate":
                data = self.df.assign(
                    log_rate=np.log(np.maximum(self.df["y"], 0.5) / self.df["population"])
                )
                kwargs = {}
            name = "y" if outcome == "count" else "log_rate"
            self.models[key] = ITS(data, name, "t", self.scenario.n_pre, family=family,
                                   season="month", harmonics=1, **kwargs)  # fmt: skip
        return self.models[key]

    def result(self, spec: Spec):
        if spec.se == "adaptive":
            base = self.result(Spec(spec.family, "model", outcome=spec.outcome))
            p = base.diagnostics.breusch_godfrey[0].p
            return self.result(Spec(spec.family, "ar1", outcome=spec.outcome)) if p < 0.05 else base
        if spec not in self.results:
            kwargs = {"bootstrap": spec.bootstrap, "seed": self.boot_seed} if spec.bootstrap else {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.results[spec] = self.model(spec.family, spec.outcome).fit(
                    se=spec.se, lags=spec.lags, **kwargs
                )
        return self.results[spec]

    def estimate(self, estimator: str) -> dict[str, float]:
        res = self.result(ESTIMATORS[estimator])
        end = res.lincom({"level_change": 1.0, "slope_change": self.scenario.n_post - 1})
        level = res.terms["level_change"]
        return {"level": level.estimate, "level_low": level.ci_low,
                "level_high": level.ci_high, "end": end.estimate, "end_low": end.ci_low,
                "end_high": end.ci_high}  # fmt: skip


def estimate(df: pd.DataFrame, scenario: Scenario, estimator: str,
             boot_seed: int = 0) -> dict[str, float]:  # fmt: skip
    """One estimator's level change and last-month effect, with their 95% intervals."""
    return _Fits(df, scenario, boot_seed).estimate(estimator)


def cell_seed(scenario: Scenario, kind: str, seed: int) -> list[int]:
    """The entropy of a cell's stream: the study seed and the cell's own parameters."""
    return [seed, round(scenario.rho * 1000), round(scenario.sigma * 1000), scenario.n_pre,
            scenario.n_post, COUNTS.index(scenario.counts),
            round(scenario.nb_alpha * 1000) if scenario.counts == "negbin" else 0,
            int(kind == "null")]  # fmt: skip


def cell_data(scenario: Scenario, kind: str, replications: int, seed: int) -> list[pd.DataFrame]:
    """A cell's simulated series; the first k of n replications are the k of a shorter run."""
    truth = scenario if kind == "effect" else scenario.null()
    rng = np.random.default_rng(cell_seed(scenario, kind, seed))
    return [simulate(truth, rng) for _ in range(replications)]


def run(scenarios: Iterable[Scenario], replications: int, seed: int,
        estimators: Iterable[str] = GRID_ESTIMATORS, jobs: int = 1,
        progress: bool = False) -> pd.DataFrame:  # fmt: skip
    """One row per scenario, effect or null, estimator and quantity: bias, RMSE, coverage,
    mean width, rejection rate (interval excludes 0), and fits that failed.

    Each (scenario, effect or null) cell has its own seeded stream, so results do not depend
    on `jobs` or on the order of the cells."""
    estimators = tuple(estimators)
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimators: {unknown}")
    cells = [(sc, kind, replications, seed, estimators, progress)
             for sc in scenarios for kind in ("effect", "null")]  # fmt: skip
    if jobs > 1:
        from multiprocessing import Pool

        with Pool(jobs) as pool:
            parts = pool.map(_run_cell, cells, chunksize=1)
    else:
        parts = [_run_cell(cell) for cell in cells]
    return pd.DataFrame([row for part in parts for row in part])


def _run_cell(cell) -> list[dict]:
    import time

    scenario, kind, replications, seed, estimators, progress = cell
    start = time.perf_counter()
    truth_scenario = scenario if kind == "effect" else scenario.null()
    data = cell_data(scenario, kind, replications, seed)
    boot_seeds = np.random.SeedSequence(cell_seed(scenario, kind, seed) + [1]).generate_state(
        replications
    )
    records: dict[str, list[dict]] = {e: [] for e in estimators}
    failures: dict[str, int] = {e: 0 for e in estimators}
    for d, boot_seed in zip(data, boot_seeds):
        fits = _Fits(d, truth_scenario, int(boot_seed))
        for estimator in estimators:
            try:
                records[estimator].append(fits.estimate(estimator))
            except Exception:  # noqa: BLE001 - a failed fit is counted, not fatal
                failures[estimator] += 1
    rows = []
    for estimator in estimators:
        fits = pd.DataFrame(records[estimator], columns=["level", "level_low", "level_high",
                                                         "end", "end_low", "end_high"])  # fmt: skip
        for quantity, truth in (("level", truth_scenario.level_change),
                                ("end", truth_scenario.end_effect)):  # fmt: skip
            low, high = fits[f"{quantity}_low"], fits[f"{quantity}_high"]
            err = fits[quantity] - truth
            rows.append({
                "rho": scenario.rho, "sigma": scenario.sigma, "design": scenario.design,
                "counts": scenario.counts,
                "nb_alpha": scenario.nb_alpha if scenario.counts == "negbin" else 0.0,
                "scenario": kind, "estimator": estimator, "quantity": quantity,
                "truth": truth, "bias": err.mean(), "rmse": float(np.sqrt((err**2).mean())),
                "coverage": ((low <= truth) & (truth <= high)).mean(),
                "rejection_rate": ((low > 0) | (high < 0)).mean(),
                "mean_width": (high - low).mean(), "replications": len(fits),
                "failures": failures[estimator], "seed": seed,
            })  # fmt: skip
    if progress:
        print(f"{scenario.design} {scenario.counts} sigma {scenario.sigma:g} rho "
              f"{scenario.rho:g} {kind}: {time.perf_counter() - start:.0f} s", file=sys.stderr,
              flush=True)  # fmt: skip
    return rows


CELL = ["counts", "design", "sigma", "rho"]


def summary_table(results: pd.DataFrame, quantity: str = "end") -> pd.DataFrame:
    """Bias, RMSE, coverage, mean width and power under the effect scenario, type I error
    (interval excludes 0) under the null; one row per cell and estimator."""
    part = results[results["quantity"] == quantity]
    keys = [k for k in CELL if k in part.columns] + ["estimator"]
    effect = part[part["scenario"] == "effect"].set_index(keys)
    null = part[part["scenario"] == "null"].set_index(keys)
    table = effect[["bias", "rmse", "coverage", "mean_width"]].join(
        null["rejection_rate"].rename("type_I_error")
    )
    table["power"] = effect["rejection_rate"]
    table["replications"] = effect["replications"]
    table["failures"] = effect["failures"] + null["failures"]
    return table.reset_index()


def meets_goal(table: pd.DataFrame, low: float = 0.93, high: float = 0.97,
               max_type_I: float = 0.06) -> pd.Series:  # fmt: skip
    """Whether each row keeps coverage in [low, high] and type I error at most max_type_I."""
    return table["coverage"].between(low, high) & (table["type_I_error"] <= max_type_I + 1e-12)


def mc_se(p: float, n: int) -> float:
    """Binomial Monte Carlo standard error of a proportion p from n replications."""
    return math.sqrt(p * (1 - p) / n)
