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
# # Casework outcomes
#
# The DANs' casework books record four measures at allocation and at closure: the DASH risk
# checklist, SWEMWBS wellbeing, the victim's feeling of safety and the index child's SDQ (only
# where the children engaged). `gf_eval.analysis.casework` computes every result below, as for
# the published Appendix 7 tables.
#
# Caveats: there is no comparison group, so a change from allocation to closure is not an
# effect of the service (regression to the mean, time and other services all play a part);
# families who disengage often lack a closure measure, so complete pairs may flatter the work;
# whole-family engagement is chosen, not allocated, so its link with change is an association.
# **Working data are not for publication**: quote the published `a7_*` tables.

# %%
import matplotlib.pyplot as plt

from gf_eval import explore
from gf_eval.analysis import casework as cw

cfg = explore.config()
book = explore.typed("casework")
print(f"{len(book)} cases; closed: {book['closure_date'].notna().sum()}")
print("\nEngagement patterns (working counts, not for publication):")
print(cw.engagement_pattern(book).map(cw.PATTERNS).value_counts().to_string())

# %% [markdown]
# ## Change in complete pairs
#
# Mean change (closure minus allocation, in each measure's units; `better` says which way is an
# improvement), its 95% interval, and reliable change (Jacobson-Truax).

# %%
paired = cw.paired_outcomes(book)
print(
    paired[
        ["better", "n_pairs", "mean_alloc", "mean_close", "mean_change", "ci_low", "ci_high", "d_z"]
    ]
    .round(2)
    .to_string()
)

# %%
fig, axes = plt.subplots(1, len(paired), figsize=(10, 3))
for ax, (measure, r) in zip(axes, paired.iterrows()):
    ax.errorbar(
        [0],
        [r["mean_change"]],
        yerr=[[r["mean_change"] - r["ci_low"]], [r["ci_high"] - r["mean_change"]]],
        fmt="o",
        capsize=4,
    )
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(title=f"{measure} ({r['better']} is better)", xticks=[])
axes[0].set_ylabel("mean change, complete pairs")
fig.suptitle("Change from allocation to closure, 95% intervals (working data)")
fig.tight_layout()

# %% [markdown]
# ## Who lost the closure measure
#
# `attrition` compares completers and non-completers at allocation; `ipw_outcomes` reweights
# the completers for missing closure scores (with the workflow's seed, so it matches
# `a7_missing_sensitivity`) and gives simple bounds. On a small authority a bootstrap refit can
# fail (e.g. perfect separation) and leave a measure's interval NaN.

# %%
att = cw.attrition(book)
print(att[["cases", "open", "closed", "completers", "noncompleters"]].to_string())
ipw = cw.ipw_outcomes(book, cfg["seed"])
print(
    ipw[
        ["cc_mean_change", "ipw_mean_change", "ipw_ci_low", "ipw_ci_high", "bound_p10", "bound_p90"]
    ]
    .round(2)
    .to_string()
)

# %% [markdown]
# ## Whole-family engagement: an association
#
# Change for whole-family against the reference pattern, adjusted for the allocation score.

# %%
print(cw.engagement_regression(book).round(3).to_string())

# %% [markdown]
# ## The published tables

# %%
for name in ("a7_outcomes", "a7_missing_sensitivity", "a7_engagement_outcomes"):
    table, _, meta = explore.published(name)
    print(f"{name}: {meta['title']}\n{table.to_string()}\n")

# %% [markdown]
# On synthetic data the true mean changes are known (over every case, missing ones included).

# %%
truth = explore.truth()
if truth is not None:
    for measure in paired.index:
        true = truth["casework"][measure]["mean_change_all_cases"]
        seen = paired.at[measure, "mean_change"]
        print(f"{measure}: true {true:+.2f}, complete pairs {seen:+.2f}")
