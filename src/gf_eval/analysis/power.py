"""Power of the primary ITS to detect each target's change, planned from the pre-period alone.

For each target the design is fitted (`gf_eval.stats.power.fit_design`) to the months before
the calendar's intervention_start of the primary model's frame (`targets.model_frame`: the
same count, denominator and months as the primary fit), with the primary model's family and
seasonality. The post period is the primary fit's: the post months the fit uses (for the DVA
targets, the months whose DVA status is complete) and the estimand at data_end, which may lie
beyond them (`horizon`). The denominator after the start is held at the mean of the last 12 pre
months. Each target's power to detect its config `targets` change, and the minimum detectable
effect at 80% power, are simulated with the primary estimator (family and standard errors)
under the verdict rule (the 95% upper limit below 0: one-sided at 2.5%), seeded from
config["seed"].

Suggested config keys (not read yet): analysis.power.simulations, analysis.power.effect_shape,
analysis.power.power (the keyword arguments below).
"""

from __future__ import annotations

import pandas as pd

from gf_eval.config import Calendar
from gf_eval.parallel import map_forked
from gf_eval.stats import power as spower
from gf_eval.stats.its import ITSInputError

COLUMNS = ("target", "target_change", "effect_shape", "power", "power_mc_se", "mde",
           "mde_mc_se", "mde_ci_low", "mde_ci_high", "power_at_mde", "target_power",
           "pre_months", "post_months", "horizon", "mean_count", "mean_denominator",
           "dispersion", "count_dispersion", "rho", "noise_sd", "trend", "error_model",
           "family", "se", "harmonics", "simulations", "seed", "note")  # fmt: skip


def target_row(series: pd.DataFrame, target: str, config: dict, simulations: int = 500,
               effect_shape: str = "step", power: float = 0.8) -> dict:  # fmt: skip
    """One target's row of `target_power`."""
    from gf_eval.analysis import targets as tg

    cal = Calendar.from_config(config)
    primary = tg.plan(config)[0]
    seed = config["seed"]
    frame = tg.model_frame(series, target, primary, config)
    pre = frame[frame["t"] < cal.t0]
    post = frame[frame["t"] >= cal.t0]
    change = float(config["targets"][target])
    try:
        fitted = spower.fit_design(
            pre, "y", "t", n_post=max(len(post), 2), offset="n",
            season="calendar_month" if primary.harmonics else None,
            harmonics=primary.harmonics, family=primary.family, horizon=cal.t_end - cal.t0,
        )  # fmt: skip
    except ITSInputError as err:
        # A pre-period the design cannot be fitted to (too short, months without a
        # denominator) gives no power, said so, rather than stopping the run.
        return {"target": target, "target_change": change, "effect_shape": effect_shape,
                "pre_months": len(pre), "note": f"not estimable: {err}"}  # fmt: skip
    design = fitted.design
    kw = dict(seed=seed, simulations=simulations, shape=effect_shape, family=primary.family,
              se=primary.se, lags=primary.lags, harmonics=primary.harmonics)  # fmt: skip
    res = spower.power(design, change, **kw)
    # The power at the target change is a point of the MDE's search (the same draws).
    mde = spower.minimum_detectable_effect(design, power, probe=res if change < 0 else None, **kw)
    return {
        "target": target, "target_change": change, "effect_shape": effect_shape,
        "power": res.power, "power_mc_se": res.mc_se, "mde": mde.mde,
        "mde_mc_se": mde.mc_se, "mde_ci_low": mde.ci_low, "mde_ci_high": mde.ci_high,
        "power_at_mde": mde.power_at_mde, "target_power": power,
        "pre_months": fitted.nobs, "post_months": design.n_post, "horizon": design.end,
        "mean_count": fitted.mean_count, "mean_denominator": float(pre["n"].mean()),
        "dispersion": fitted.dispersion, "count_dispersion": design.dispersion,
        "rho": design.rho, "noise_sd": design.noise_sd, "trend": design.trend,
        "error_model": fitted.error_method, "family": primary.family, "se": primary.se,
        "harmonics": primary.harmonics, "simulations": simulations, "seed": seed,
        "note": "",
    }  # fmt: skip


def target_power(series: pd.DataFrame, config: dict, simulations: int = 500,
                 effect_shape: str = "step", power: float = 0.8,
                 targets: tuple[str, ...] | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per target: the power to detect the target change at the study's post length,
    the MDE at `power`, and the inputs used (from the pre-period months alone)."""
    from gf_eval.analysis import targets as tg

    # Each target's simulations are independent (the same seed, their own design): side by
    # side when there are cores to spare, in the targets' order.
    rows = map_forked(lambda t: target_row(series, t, config, simulations, effect_shape, power),
                      list(targets or tg.TARGETS))  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))
