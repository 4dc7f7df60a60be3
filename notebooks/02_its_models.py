# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The interrupted time series models and their sensitivity
#
# Each target (repeat MARAC cases, DVA re-referrals, children in need with DVA) is modelled on
# the derived monthly series by `gf_eval.analysis.targets`: the primary model is pre-specified
# in `config/config.yaml`, every other fit is a sensitivity analysis. The estimand is the
# relative change in the target's rate at the last month of data against the counterfactual.
#
# Caveats: only the primary model carries a verdict; a variation tried here is exploration,
# not a result. For the DVA targets, months whose DVA status is still too incomplete are left
# out of the primary fit (`docs/derived_data.md`). **Working model outputs
# (`results/<source>/working/models/`) are not for publication**: quote
# `results/<source>/tables/`.

# %%
import dataclasses

import matplotlib.pyplot as plt
import pandas as pd

from gf_eval import explore
from gf_eval.analysis import targets

TARGET = "repeat_marac"  # or any of targets.TARGETS
cfg, cal = explore.config(), explore.calendar()
series = explore.derived("monthly_series")
primary, *sensitivity = targets.plan(cfg)
print("targets:", ", ".join(targets.TARGETS))
print("sensitivity analyses:", *(f"  {a.name}" for a in sensitivity), sep="\n")

# %% [markdown]
# ## The primary model, refitted
#
# `targets.fit` is the workflow's own fit, so the estimate must match the working estimates.

# %%
fit = targets.fit(series, TARGET, primary, cfg)
print(fit.result.summary())
est = explore.model_output("estimates")
row = est[(est["target"] == TARGET) & est["primary"]].iloc[0]
rc = fit.relative_change
print(
    f"relative change at {cal.data_end:%B %Y}: {rc.estimate:+.1%} "
    f"[{rc.ci_low:+.1%}, {rc.ci_high:+.1%}]; workflow: {row['relative_change']:+.1%}, "
    f"verdict: {row['verdict']}"
)

# %% [markdown]
# ## Observed, fitted and counterfactual rates
#
# From the workflow's predictions of the primary fit (rate per 100 of the denominator). Months
# marked as left out of the fit are shown hollow.

# %%
pred = explore.model_output("predictions")
pred = pred[pred["target"] == TARGET]
when = pd.PeriodIndex(pred["month"], freq="M").to_timestamp()
fig, ax = plt.subplots(figsize=(9, 4))
fitted = pred["in_fit"].astype(bool)
ax.scatter(when[fitted], pred["observed"][fitted], s=12, color="0.3", label="observed")
ax.scatter(
    when[~fitted],
    pred["observed"][~fitted],
    s=12,
    facecolors="none",
    edgecolors="0.3",
    label="observed, not fitted",
)
ax.plot(when, pred["fitted"], color="C0", label="fitted")
ax.plot(when, pred["counterfactual"], color="C3", ls="--", label="counterfactual")
ax.fill_between(
    when, pred["counterfactual_low"], pred["counterfactual_high"], color="C3", alpha=0.15, lw=0
)
ax.axvline(cal.intervention_start, color="k", lw=1)
ax.set(ylabel="rate per 100", title=f"{TARGET}: primary ITS model (working data)")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## The published sensitivity analyses
#
# `target_sensitivity` as published: a row that could not be estimated on this authority says
# so in `note` (the negative binomial often fails without overdispersion).

# %%
table, _, meta = explore.published("target_sensitivity")
cols = ["analysis", "relative_change", "ci_low", "ci_high", "verdict", "note"]
print(meta["title"])
print(table.loc[table["target"] == TARGET, cols].to_string(index=False))

# %% [markdown]
# ## Your own variation
#
# Change one field of the primary `Analysis` with `dataclasses.replace` and fit it the same
# way, here two seasonal harmonics. Say so when you report it: it was not pre-specified.

# %%
variant = dataclasses.replace(primary, name="two harmonics", primary=False, harmonics=2)
for a in (primary, variant):
    rc = targets.fit(series, TARGET, a, cfg).relative_change
    print(f"{a.name:>14}: {rc.estimate:+.1%} [{rc.ci_low:+.1%}, {rc.ci_high:+.1%}]")

# %% [markdown]
# On synthetic data the true effect is known: the workflow's `truth_check` sets it against the
# primary estimates (`explore.truth()` is None for real extracts).

# %%
if explore.truth() is not None:
    print(explore.model_output("truth_check").to_string(index=False))
