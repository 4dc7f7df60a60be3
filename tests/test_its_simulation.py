"""A fast version of the simulation study (benchmarks/its_simulation.py), and checks of the
simulation model that need no ITS fit: the configured effect, the NB2 overdispersion, and
cells seeded independently of the jobs and of their order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gf_eval.stats.simulation import (
    ADAPTIVE, DEFAULT_ESTIMATOR, Scenario, cell_data, cell_seed, grid, run, simulate, summary_table,
)  # fmt: skip

# The goal of the study (issue 13): coverage 0.93 to 0.97 and type I error at most 0.06 in
# every cell. With N replications a check fails only when the observed share lies beyond the
# binomial 0.5% tail of an estimator sitting exactly on the goal's boundary: the 8 checks below
# (2 cells x 2 quantities x coverage and type I error) then fail an estimator that just meets
# the goal with probability at most 4%, and one at the nominal 0.95 / 0.05 far less often.
N = 200
COVERAGE_LOW = stats.binom.ppf(0.005, N, 0.93) / N  # 0.880
COVERAGE_HIGH = stats.binom.ppf(0.995, N, 0.97) / N  # 0.995
TYPE_I_HIGH = stats.binom.ppf(0.995, N, 0.06) / N  # 0.105
SEED = 11


# Estimators known to miss the goal in a cell of this test (benchmarks/results/
# its_simulation_grid.md): the test is expected to fail there while one of them is the default.
# Seed 11 at rho 0.6 (end effect, level change), coverage / type I error: quasi-Poisson model
# SE 0.850 / 0.125, 0.830 / 0.135; the adaptive rule 0.850 / 0.125, 0.845 / 0.135 (the lag-1
# test rarely detects AR(1) noise diluted by the counts' own Poisson noise). The AR(1)+white
# noise SEs pass: 0.925 / 0.045, 0.905 / 0.070 (rho 0: 0.965 / 0.040, 0.940 / 0.050).
KNOWN_MISSES = {
    ("quasi-Poisson, model SE", 0.6): "model SEs ignore the autocorrelation",
    (ADAPTIVE, 0.6): "the lag-1 pre-test seldom switches to the AR(1) SEs",
}


def _rho(rho: float):
    reason = KNOWN_MISSES.get((DEFAULT_ESTIMATOR, rho))
    return pytest.param(rho, marks=pytest.mark.xfail(strict=True, reason=reason) if reason else ())


@pytest.mark.parametrize("rho", [_rho(0.0), _rho(0.6)])
def test_default_estimator_coverage_and_type_I_error(rho):
    # 200 series of 42 + 18 months (Poisson counts, log-rate noise SD 0.1) at rho 0 and at
    # rho 0.6, under the effect (coverage) and under the null (type I error), for both the
    # level change and the last month's log effect; the two cells in 2 processes.
    results = run([Scenario(rho)], N, seed=SEED, estimators=[DEFAULT_ESTIMATOR], jobs=2)
    for quantity in ("end", "level"):
        row = summary_table(results, quantity).iloc[0]
        assert row["failures"] == 0
        what = f"{DEFAULT_ESTIMATOR}, rho {rho}, {quantity}: {row.to_dict()}"
        assert COVERAGE_LOW <= row["coverage"] <= COVERAGE_HIGH, what
        assert row["type_I_error"] <= TYPE_I_HIGH, what


def test_simulated_series_have_the_configured_effect():
    # Independent of any model: with no noise, the log of the mean counts after the start
    # departs from the trend by exactly level + slope * (t - T0).
    scenario = Scenario(0.0, sigma=1e-9, season=0.0)
    rng = np.random.default_rng(1)
    means = np.mean([simulate(scenario, rng)["y"] for _ in range(2000)], axis=0)
    n, t0 = scenario.n_pre + scenario.n_post, scenario.n_pre
    t = np.arange(n)
    baseline = np.log(30) + 0.003 * t + np.log(np.linspace(1.0, 1.05, n))
    effect = np.log(means[t0:]) - baseline[t0:]
    expected = -0.15 - 0.01 * (t[t0:] - t0)
    assert effect == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize("counts, alpha", [("negbin", 0.05), ("negbin", 0.2), ("poisson", 0.0)])
def test_negative_binomial_counts_are_overdispersed_by_alpha(counts, alpha):
    # Without log-rate noise the counts of a month are NB2: mean mu and variance mu + alpha*mu^2
    # (Poisson: alpha 0). Estimated from the mean and variance of each month across 4,000
    # series, alpha_hat = (var - mean) / mean^2 averaged over the 60 months has a Monte Carlo
    # SE of about 0.0003 at alpha 0.05 and 0.0005 at 0.2 (measured over 8 seeds); the
    # tolerance of 0.002 is 4 or more SEs, and a gamma mixing of the wrong scale misses by 10x.
    scenario = Scenario(0.0, sigma=1e-9, counts=counts, nb_alpha=alpha or 0.05)
    rng = np.random.default_rng(7)
    y = np.array([simulate(scenario, rng)["y"].to_numpy() for _ in range(4000)], dtype=float)
    n = scenario.n_pre + scenario.n_post
    t = np.arange(n)
    x = (t >= scenario.n_pre).astype(float)
    season = 0.08 * np.cos(2 * np.pi * (t % 12 + 1) / 12)
    mu = np.exp(np.log(np.linspace(1.0, 1.05, n)) + np.log(30) + 0.003 * t - 0.15 * x
                - 0.01 * x * (t - scenario.n_pre) + season)  # fmt: skip
    mean, var = y.mean(axis=0), y.var(axis=0, ddof=1)
    assert mean == pytest.approx(mu, rel=0.03)  # each month's mean within ~6 SE
    alpha_hat = ((var - mean) / mean**2).mean()
    assert alpha_hat == pytest.approx(alpha, abs=0.002)


def test_cells_are_seeded_independently_of_jobs_and_order():
    scenarios = [Scenario(0.0), Scenario(0.6, sigma=0.2, n_pre=36, n_post=24, counts="negbin")]
    one = run(scenarios, 4, seed=3, estimators=[DEFAULT_ESTIMATOR], jobs=1)
    two = run(scenarios[::-1], 4, seed=3, estimators=[DEFAULT_ESTIMATOR], jobs=2)
    keys = ["counts", "design", "sigma", "rho", "scenario", "quantity"]
    pd.testing.assert_frame_equal(one.sort_values(keys).reset_index(drop=True),
                                  two.sort_values(keys).reset_index(drop=True))  # fmt: skip
    # A cell's series are the same alone or in a grid, and a shorter run is a prefix of a
    # longer one (the bootstrap subset uses the first series of its grid cells).
    short, long = cell_data(scenarios[1], "null", 3, 3), cell_data(scenarios[1], "null", 5, 3)
    for a, b in zip(short, long):
        pd.testing.assert_frame_equal(a, b)
    # Every cell of the grid has its own stream, and the seed changes every stream.
    seeds = [tuple(cell_seed(s, k, 3)) for s in grid() for k in ("effect", "null")]
    assert len(set(seeds)) == len(seeds) == 48
    first = [cell_data(s, k, 1, 3)[0]["y"].sum() for s in grid()[:6] for k in ("effect", "null")]
    other = [cell_data(s, k, 1, 4)[0]["y"].sum() for s in grid()[:6] for k in ("effect", "null")]
    assert first != other
