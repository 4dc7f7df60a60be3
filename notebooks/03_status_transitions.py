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
# # Children's status transitions
#
# The status cohort (`docs/derived_data.md`) holds the children of families the Domestic Abuse
# Navigators (DANs) worked with, and a comparison group of children whose family's DVA became
# known to children's social care in the programme window without a DAN case. Each child's
# status (none < child in need < CP plan < looked after) is taken at the index date and 6 and
# 12 months later by `gf_eval.derive.status`.
#
# Caveats: the groups are not randomised and their index dates mean different things, so any
# difference is descriptive, not an effect; children indexed late cannot be observed at 12
# months; looked-after periods are assumed to last while their episode is open. **Working
# data are not for publication**: quote the published `a6_status_*` tables.

# %%
import matplotlib.pyplot as plt
import pandas as pd

from gf_eval import explore
from gf_eval.derive import status

cohort = explore.derived("status_cohort")
# The horizons the workflow derived (status_6, status_12). Importing them from the appendix
# modules would switch matplotlib to Agg and hide the plots in Jupyter.
HORIZONS = [int(c[7:]) for c in cohort if c.startswith("status_") and c != "status_0"]
print("Working counts, not for publication:")
print(
    cohort.groupby("group", observed=False)
    .agg(
        children=("child_id", "size"),
        families=("family_id", "nunique"),
        first_index=("index_date", "min"),
        last_index=("index_date", "max"),
    )
    .to_string()
)

# %% [markdown]
# ## Transitions, from the working cohort
#
# `status.transitions` counts children by status at the index date (rows) and after the
# horizon (columns), for children observed at both dates.

# %%
for h in HORIZONS:
    tr = status.transitions(cohort, h)
    for group, part in tr.groupby("group", observed=False):
        grid = part.pivot_table(
            index="status_at_index",
            columns="status_after",
            values="children",
            aggfunc="sum",
            observed=False,
        )
        print(f"\n{group}, {h} months (working counts, not for publication):")
        print(grid.to_string())

# %% [markdown]
# ## Stepping up and down
#
# `status.step_rates` gives, per group, the children who moved to a more (up) or less (down)
# intensive status, and those not yet observable at the horizon. The percentages are
# undefined (NaN) where no child of a row was observed.

# %%
steps = status.step_rates(cohort, HORIZONS[0])
print(steps[steps["status_at_index"] == status.ALL].to_string(index=False))

# %% [markdown]
# ## The published tables and their notes
#
# Suppressed cells show as `c`; the plot leaves them out rather than drawing them as zero.

# %%
for h in HORIZONS:
    print(explore.published(f"a6_status_transitions_{h}m")[0].to_string(), end="\n\n")
table, _, meta = explore.published("a6_status_step_rates")
print(table.to_string())
print("\nNotes:", *(f"- {n}" for n in meta["notes"]), sep="\n")

# %%
pct = table[["pct_stepped_up", "pct_stepped_down", "pct_unchanged"]]
pct = pct.apply(pd.to_numeric, errors="coerce")  # "c" (suppressed) becomes NaN: not drawn
ax = pct.plot.barh(figsize=(8, 4), color=["C3", "C2", "0.6"])
ax.set(
    xlabel="% of children observed",
    ylabel="",
    title="Status 6 and 12 months after the index date (published)",
)
ax.invert_yaxis()
ax.legend(fontsize=8)
plt.tight_layout()
