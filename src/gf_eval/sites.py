"""The sites of a multi-site run: the config's real sites, or its synthetic national panel.

A panel site is a full synthetic authority with its own seed and a size drawn from a lognormal
population (scale 1 is Doncaster-sized, about 300,000 people). The first `treated` sites start
the programme at staggered dates, `stagger_months` apart from `first_start`, with the config's
effects; the others are comparison sites without any effect. An optional national shock
(`synthetic.shock` style: start and level change) hits every site alike.

The Snakefile lists the sites before any job starts, so this module imports only the standard
library at the top; numpy, which draws the panel, is imported when a panel is drawn.
"""

from __future__ import annotations

import copy
import datetime as dt

from gf_eval.config import PANEL_DIR, add_months

POPULATION_MEDIAN = 300_000  # about Doncaster's, the scale-1 authority
POPULATION_LOG_SD = 0.6
POPULATION_RANGE = (40_000, 1_200_000)
# A comparison site's change of trend, log scale a year: capped so that no site's shares leave
# their range by the data end (the DVA share of referrals, 40%, can little more than double).
TREND_CHANGE_CAP = 0.2


def multisite_sites(config: dict) -> dict[str, dict]:
    """site -> {"extracts": folder, "intervention_start": date or None, "settings": generator
    settings or None}: the config's real sites, or else its synthetic panel."""
    multi = config.get("multisite") or {}
    if multi.get("sites"):
        return {name: {"extracts": s["extracts"].rstrip("/"),
                       "intervention_start": s["intervention_start"], "settings": None}
                for name, s in multi["sites"].items()}  # fmt: skip
    if not multi.get("panel"):
        return {}
    return {name: {"extracts": f"{PANEL_DIR}/{name}", **info}
            for name, info in panel_sites(config).items()}  # fmt: skip


def site_names(n: int) -> list[str]:
    return [f"la{i + 1:03d}" for i in range(n)]


def panel_sites(config: dict) -> dict[str, dict]:
    """site -> {"intervention_start": date or None, "population": int, "settings": the
    generator settings (seed, calendar, synthetic) of that site}."""
    import numpy as np

    panel = config["multisite"]["panel"]
    n, treated = int(panel["n_sites"]), int(panel["treated"])
    rng = np.random.default_rng(np.random.SeedSequence([config["seed"], 7]))
    population = np.exp(rng.normal(np.log(POPULATION_MEDIAN), POPULATION_LOG_SD, n))
    population = np.clip(np.round(population, -3), *POPULATION_RANGE).astype(int)
    seeds = np.random.SeedSequence(config["seed"]).spawn(n)
    changes = _trend_changes(panel.get("comparison_trends"), population, treated, config["seed"])
    first = dt.date.fromisoformat(str(panel["first_start"]))
    out = {}
    for i, site in enumerate(site_names(n)):
        start = add_months(first, i * int(panel["stagger_months"])) if i < treated else None
        calendar = dict(config["calendar"])
        if start is not None:
            calendar["intervention_start"] = start.strftime("%Y-%m-%d")
        synthetic = copy.deepcopy(config["synthetic"])
        synthetic["scenario"] = synthetic["scenario"] if start is not None else "null"
        size = float(panel.get("size", 1.0))  # shrinks every site, e.g. for fast tests
        synthetic["scale"] = round(size * float(population[i]) / POPULATION_MEDIAN, 4)
        if panel.get("shock"):
            synthetic["shock"] = dict(panel["shock"])
        if changes[i]:
            synthetic["trend_change"] = {"start": panel["comparison_trends"]["start"],
                                         "slope": round(float(changes[i]), 6)}  # fmt: skip
        out[site] = {
            "intervention_start": None if start is None else start.strftime("%Y-%m-%d"),
            "population": int(population[i]),
            "settings": {"seed": int(seeds[i].generate_state(1)[0]), "calendar": calendar,
                         "synthetic": synthetic},  # fmt: skip
        }
    return out


def _trend_changes(setting: dict | None, population, treated: int, seed: int):
    """Each site's change of trend from `comparison_trends.start`: 0 for treated sites; for
    comparison sites sd * (size_correlation * z + sqrt(1 - size_correlation^2) * e), z the
    standardised log population and e standard normal, capped at +-TREND_CHANGE_CAP and
    centred on 0 over the comparison sites. Their plain mean is then the common trend, so a
    design that weighs sites alike or chooses them by their pre-period fit is unbiased, while
    a comparison pooled by summing counts leans towards the big sites' changed trend."""
    import numpy as np

    changes = np.zeros(len(population))
    if not setting or not setting["sd"]:
        return changes
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    log_pop = np.log(population)
    z = (log_pop - log_pop.mean()) / log_pop.std()
    rho = float(setting["size_correlation"])
    e = rng.normal(size=len(population))
    raw = np.clip(float(setting["sd"]) * (rho * z + np.sqrt(1 - rho**2) * e),
                  -TREND_CHANGE_CAP, TREND_CHANGE_CAP)[treated:]  # fmt: skip
    changes[treated:] = raw - raw.mean()
    return changes
