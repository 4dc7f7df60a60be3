"""Synthetic DAN casework books: one row per family case, linked to social care by family key.

Families are drawn from social-care families with a DVA referral shortly before allocation.
Outcome measures follow a true-score model: observed = true + error, with the error variance
set by each measure's reliability (codes.CASEWORK_MEASURES). The true change from allocation to
closure is the configured change, plus the whole-family extra when victim, perpetrator and
children all engaged, halved for families that disengaged. Closure measures go missing more
often for disengaged families and for higher-risk families, so complete cases are not a random
subset: the attrition analysis has something to find.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gf_eval import codes
from gf_eval.config import Calendar
from gf_eval.synth.series import choose, pseudo_keys

CASES_PER_MONTH = 20.0
N_DANS = 6
ROUTES = {"marac": 0.3, "social_care": 0.42, "police": 0.1, "early_help": 0.1, "health": 0.04,
          "self": 0.02, "other": 0.02}  # fmt: skip
CLOSURES = {"planned_completion": 0.72, "moved_area": 0.06, "escalated": 0.12, "other": 0.1}
# Allocation mean and SD of the true score, and SD of individual true change, per measure.
TRUE_SCORE = {"dash": (13.0, 3.5, 2.5), "swemwbs": (20.0, 4.5, 3.0), "safety": (4.5, 1.8, 1.3),
              "sdq": (16.0, 5.5, 3.0)}  # fmt: skip
TRUTH_DRAWS = 400_000


def simulate_casework(
    cal: Calendar,
    events: pd.DataFrame,
    children: pd.DataFrame,
    effects: dict[str, dict[str, float]],
    scale: float,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict]:
    """Return the casework extract and the true mean changes it was drawn with."""
    months = (cal.funding_end.to_period("M") - cal.intervention_start.to_period("M")).n + 1
    n_target = rng.poisson(CASES_PER_MONTH * scale * months)
    pool = events[
        events["type"].isin(["A", "B"])
        & (events["date"] >= cal.intervention_start - pd.Timedelta(days=30))
        & (events["date"] <= cal.funding_end - pd.Timedelta(days=45))
    ].drop_duplicates("family_id")
    picked = pool.iloc[np.sort(rng.choice(len(pool), size=min(n_target, len(pool)), replace=False))]
    n = len(picked)
    referral = picked["date"].to_numpy() + pd.to_timedelta(rng.integers(0, 15, n), unit="D")
    allocation = referral + pd.to_timedelta(np.round(rng.gamma(2.0, 5.0, n)).astype(int), unit="D")
    keep = (allocation >= cal.intervention_start) & (allocation <= cal.funding_end)
    picked, referral, allocation = picked[keep], referral[keep], allocation[keep]
    n = len(picked)

    cases = _draw_cases(n, effects, rng)
    duration = np.where(cases["disengaged"], rng.integers(14, 90, n), rng.gamma(3.0, 50.0, n) + 30)
    closure = pd.Series(allocation + pd.to_timedelta(np.round(duration).astype(int), unit="D"))
    open_case = (closure > cal.data_end).to_numpy()
    reason = np.where(cases["disengaged"], "disengaged", choose(rng, CLOSURES, n)).astype(object)
    reason[open_case] = None
    engaged_members = 1 + cases["perpetrator"] + cases["children"]
    contacts = rng.poisson(np.maximum(duration, 14) / 30 * (1.5 + engaged_members)) + 1
    kids = children.groupby("family_id").size()

    df = pd.DataFrame(
        {
            "family_id": picked["family_id"].to_numpy(),
            "dan_id": pseudo_keys("N", N_DANS, rng, width=3)[rng.integers(0, N_DANS, n)],
            "referral_date": pd.Series(referral),
            "allocation_date": pd.Series(allocation),
            "closure_date": closure.where(~open_case),
            "referral_route": choose(rng, ROUTES, n),
            "victim_engaged": np.where(cases["victim"], "Y", "N"),
            "perpetrator_engaged": np.where(cases["perpetrator"], "Y", "N"),
            "children_engaged": np.where(cases["children"], "Y", "N"),
            "n_children": kids.reindex(picked["family_id"]).to_numpy(),
            "contacts": contacts,
            "closure_reason": reason,
        }
    )
    for measure in codes.CASEWORK_MEASURES:
        alloc, close = cases[f"{measure}_alloc"].copy(), cases[f"{measure}_close"].copy()
        close[open_case] = np.nan
        df[f"{measure}_alloc"] = pd.array(np.round(alloc), dtype="Float64").astype("Int64")
        df[f"{measure}_close"] = pd.array(np.round(close), dtype="Float64").astype("Int64")
    truth = _truth(effects, np.random.default_rng(rng.integers(2**32)))
    df = df.sort_values(["allocation_date", "family_id"]).reset_index(drop=True)
    df.insert(0, "case_id", [f"DC{i + 1:05d}" for i in range(n)])
    return df, truth


def _draw_cases(n: int, effects: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Engagement, disengagement and observed measures for n cases (also used for the truth)."""
    victim = rng.random(n) < 0.92
    perpetrator = rng.random(n) < 0.35
    kids = rng.random(n) < 0.65
    whole = victim & perpetrator & kids
    out: dict[str, np.ndarray] = {"victim": victim, "perpetrator": perpetrator, "children": kids}
    out["whole_family"] = whole
    out["victim_only"] = victim & ~perpetrator & ~kids
    dash_z = rng.normal(size=n)  # shared risk: higher DASH families disengage more
    out["disengaged"] = rng.random(n) < 1 / (1 + np.exp(-(-1.7 + 0.5 * dash_z - 0.8 * whole)))
    for measure, (low, high, _better, reliability) in codes.CASEWORK_MEASURES.items():
        mean, sd, sd_change = TRUE_SCORE[measure]
        true = mean + sd * (dash_z if measure == "dash" else rng.normal(size=n))
        effect = effects[measure]
        change = effect["change"] + effect["whole_family_extra"] * whole
        change = np.where(out["disengaged"], change / 2, change) + rng.normal(0, sd_change, n)
        error_sd = sd * np.sqrt((1 - reliability) / reliability)
        alloc = np.clip(true + rng.normal(0, error_sd, n), low, high)
        close = np.clip(true + change + rng.normal(0, error_sd, n), low, high)
        alloc[rng.random(n) < 0.03] = np.nan
        missing = rng.random(n) < np.where(out["disengaged"], 0.8, 0.08 + 0.05 * (dash_z > 1))
        close[missing] = np.nan
        if measure == "sdq":  # a child measure: only where children engaged
            alloc[~kids], close[~kids] = np.nan, np.nan
        out[f"{measure}_alloc"], out[f"{measure}_close"] = alloc, close
        out[f"{measure}_true_change"] = np.clip(true + change, low, high) - np.clip(true, low, high)
    return out


def _truth(effects: dict, rng: np.random.Generator) -> dict:
    """True mean changes, by Monte Carlo over the same process (clipping at the scale ends
    makes the configured change slightly larger than the expected observed change)."""
    sim = _draw_cases(TRUTH_DRAWS, effects, rng)
    result = {}
    for measure, (_low, _high, better, reliability) in codes.CASEWORK_MEASURES.items():
        change = sim[f"{measure}_true_change"]
        base = np.ones(TRUTH_DRAWS, dtype=bool) if measure != "sdq" else sim["children"]
        result[measure] = {
            "better": better,
            "reliability": reliability,
            "configured_change": effects[measure]["change"],
            "configured_whole_family_extra": effects[measure]["whole_family_extra"],
            "mean_change_all_cases": _mean(change[base]),
            "mean_change_whole_family": _mean(change[base & sim["whole_family"]]),
            "mean_change_victim_only": _mean(change[base & sim["victim_only"]]),
        }
    result["note"] = (
        "Mean true-score change from allocation to closure over all cases, including those "
        "whose closure measure is missing; sdq only where children engaged (so it has no "
        "victim-only value)."
    )
    return result


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None
