"""A fast version of the simulation study: the default estimator covers the true effect."""

from __future__ import annotations

import numpy as np
import pytest

from gf_eval.stats.simulation import DEFAULT_ESTIMATOR, Scenario, run, simulate


def test_default_estimator_coverage_is_near_nominal():
    # 200 replications at rho 0 and 0.3 (the residual autocorrelation of monthly counts like
    # ours): the 95% intervals of the level change and of the last month's log effect must
    # cover the true values between 90% and 98% of the time.
    results = run([Scenario(0.0), Scenario(0.3)], 200, seed=11, estimators=[DEFAULT_ESTIMATOR])
    effect = results[results["scenario"] == "effect"]
    coverage = effect["coverage"].mean()
    assert 0.90 <= coverage <= 0.98, effect
    null = results[results["scenario"] == "null"]
    assert null["rejection_rate"].mean() < 0.10


def test_simulated_series_have_the_configured_effect():
    # Independent of any model: with no noise and no Poisson draw, the log of the expected
    # counts after the start departs from the trend by exactly level + slope * (t - T0).
    scenario = Scenario(0.0, sigma=1e-9, season=0.0)
    rng = np.random.default_rng(1)
    means = np.mean([simulate(scenario, rng)["y"] for _ in range(2000)], axis=0)
    t = np.arange(60)
    baseline = np.log(30) + 0.003 * t + np.log(np.linspace(1.0, 1.05, 60))
    effect = np.log(means[40:]) - baseline[40:]
    expected = -0.15 - 0.01 * (t[40:] - 40)
    assert effect == pytest.approx(expected, abs=0.05)
