"""A national panel of synthetic local authorities for the multi-site workflow.

Each site is a full synthetic authority with its own seed and a size drawn from a lognormal
population (scale 1 is Doncaster-sized, about 300,000 people). The first `treated` sites start
the programme at staggered dates, `stagger_months` apart from `first_start`, with the config's
effects; the others are comparison sites without any effect. An optional national shock
(`synthetic.shock` style: start and level change) hits every site alike.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

POPULATION_MEDIAN = 300_000  # about Doncaster's, the scale-1 authority
POPULATION_LOG_SD = 0.6
POPULATION_RANGE = (40_000, 1_200_000)
BEND_RANGE = (-0.06, 0.012)  # a comparison site's trend bend, log scale per year squared


def site_names(n: int) -> list[str]:
    return [f"la{i + 1:03d}" for i in range(n)]


def panel_sites(config: dict) -> dict[str, dict]:
    """site -> {"intervention_start": date or None, "population": int, "settings": the
    generator settings (seed, calendar, synthetic) of that site}."""
    panel = config["multisite"]["panel"]
    n, treated = int(panel["n_sites"]), int(panel["treated"])
    rng = np.random.default_rng(np.random.SeedSequence([config["seed"], 7]))
    population = np.exp(rng.normal(np.log(POPULATION_MEDIAN), POPULATION_LOG_SD, n))
    population = np.clip(np.round(population, -3), *POPULATION_RANGE).astype(int)
    seeds = np.random.SeedSequence(config["seed"]).spawn(n)
    bends = _comparison_bends(panel.get("comparison_trends"), population, treated, config["seed"])
    first = pd.Timestamp(panel["first_start"])
    out = {}
    for i, site in enumerate(site_names(n)):
        start = first + pd.DateOffset(months=i * int(panel["stagger_months"])) if i < treated else None
        calendar = dict(config["calendar"])
        if start is not None:
            calendar["intervention_start"] = start.strftime("%Y-%m-%d")
        synthetic = copy.deepcopy(config["synthetic"])
        synthetic["scenario"] = synthetic["scenario"] if start is not None else "null"
        size = float(panel.get("size", 1.0))  # shrinks every site, e.g. for fast tests
        synthetic["scale"] = round(size * float(population[i]) / POPULATION_MEDIAN, 4)
        if panel.get("shock"):
            synthetic["shock"] = dict(panel["shock"])
        if bends[i]:
            synthetic["trend_bend"] = round(float(bends[i]), 6)
        out[site] = {
            "intervention_start": None if start is None else start.strftime("%Y-%m-%d"),
            "population": int(population[i]),
            "settings": {"seed": int(seeds[i].generate_state(1)[0]), "calendar": calendar,
                         "synthetic": synthetic},  # fmt: skip
        }
    return out


def _comparison_bends(setting: dict | None, population: np.ndarray, treated: int,
                      seed: int) -> np.ndarray:  # fmt: skip
    """Each site's trend bend: 0 for treated sites; for comparison sites, with the panel's
    `comparison_trends`, correlated with size, so that a comparison pooled by summing counts
    (weighted towards the big sites) bends away from the treated sites' trend."""
    bends = np.zeros(len(population))
    if not setting or not setting["sd"]:
        return bends
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    log_pop = np.log(population)
    z = (log_pop - log_pop.mean()) / log_pop.std()
    rho = float(setting["size_correlation"])
    e = rng.normal(size=len(population))
    bends[treated:] = float(setting["sd"]) * (rho * z + np.sqrt(1 - rho**2) * e)[treated:]
    # Capped so that no site's shares leave their range by the data end: the DVA shares (40% of
    # referrals) have more room below than above.
    return np.clip(bends, *BEND_RANGE)
