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
# # The MARAC extract
#
# One row per MARAC case, with the derived 12-month repeat rule (`docs/derived_data.md`):
# cases per month, the rule against the coordinator's own repeat flag, referral routes and
# DASH scores. Everything is loaded through `gf_eval.explore` from a finished `snakemake` run.
#
# **Working data are not for publication.** `data/interim/<source>/` holds pseudonymised keys
# and small counts; quote only the disclosure-controlled tables of `results/<source>/tables/`.
#
# Caveats: the history year (April 2011 to March 2012) is only there to look back for
# repeats; the last month is incomplete (cases referred then but not yet discussed are missing);
# pre/post differences are associations, not effects of the DAN service.

# %%
import matplotlib.pyplot as plt
import pandas as pd

from gf_eval import codes, explore
from gf_eval.derive.marac import repeat_reconciliation

cal = explore.calendar()
cases = explore.derived("marac_cases")
series = explore.derived("monthly_series")
reported = cases[cases["referral_date"].between(cal.data_start, cal.data_end)]
print(
    f"{len(cases)} cases in the extract, {len(reported)} referred "
    f"{cal.data_start:%B %Y} to {cal.data_end:%B %Y}"
)

# %% [markdown]
# ## Cases and repeats per month
#
# From the derived monthly series, so the counts are the ones the models use. A small
# authority has months without any repeat: the rate is then 0, or undefined without cases.

# %%
month = pd.PeriodIndex(series["month"], freq="M").to_timestamp()
fig, ax = plt.subplots(figsize=(9, 3.5))
ax.bar(month, series["marac_cases"], width=25, color="0.75", label="cases")
ax.bar(month, series["marac_repeats"], width=25, color="C3", label="repeats (12-month rule)")
ax.axvline(cal.intervention_start, color="k", ls="--", lw=1, label="DAN service starts")
ax.set(ylabel="MARAC cases per month", title="MARAC cases by referral month (working data)")
ax.legend(loc="upper left", fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## The repeat rule against the coordinator's flag
#
# The analysis counts repeats by the rule (within 12 months of the pair's previous referral);
# the coordinator's flag is reconciled with it by the package's `repeat_reconciliation`, the
# same function behind the published `a5_repeat_reconciliation`. Neither is taken as the truth.

# %%
working = repeat_reconciliation(cases, cal.data_start).set_index("gap_since_previous_referral")
print("Working counts, not for publication:")
print(working.to_string())
table, _, meta = explore.published("a5_repeat_reconciliation")
print(f"\nPublished: {meta['title']}")
print(table.to_string())

# %% [markdown]
# ## Referral routes and DASH scores
#
# The route is the referrer's own account ("repeat" is their word, not the rule). The cross
# table is small working counts; the published tables compare the pre and post windows.

# %%
routes = pd.crosstab(
    reported["referral_route"].fillna("not recorded"),
    reported["repeat"].map({True: "rule repeat", False: "not repeat"}),
)
print("Working counts, not for publication:")
print(routes.to_string())
print()
print(explore.published("a5_referral_route")[0].to_string())

# %%
scores = reported["dash_score"].dropna().astype(int)
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.hist(scores, bins=range(codes.DASH_MAX + 2), color="C0", align="left")
ax.axvline(
    codes.DASH_HIGH_RISK - 0.5,
    color="k",
    ls="--",
    lw=1,
    label=f"visible high risk ({codes.DASH_HIGH_RISK}+)",
)
ax.set(
    xlabel="DASH score ('yes' answers of 24)",
    ylabel="cases",
    title="DASH scores of MARAC cases (working data)",
)
ax.legend(fontsize=8)
fig.tight_layout()
print(f"no DASH score recorded: {reported['dash_score'].isna().sum()} cases")
print(explore.published("a5_dash")[0].to_string())
