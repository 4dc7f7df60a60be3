"""Shared matplotlib set-up: one house style for every figure.

Figures are made with matplotlib's object interface (`matplotlib.figure.Figure`), not pyplot:
they need no display and never touch the backend, so the workflow runs headless on a cluster
while an analyst's notebook keeps its inline plots.
"""

from __future__ import annotations

import matplotlib
from matplotlib.figure import Figure

STYLE = {
    "font.family": "DejaVu Sans",  # shipped with matplotlib, so every machine draws the same
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
}
COLOURS = {"observed": "#4d4d4d", "fitted": "#1f5fa8", "counterfactual": "#c0392b",
           "pre": "#7f8c8d", "post": "#1f5fa8", "dan": "#1f5fa8", "comparison": "#e67e22"}  # fmt: skip


def new_figure(width: float = 8.0, height: float = 4.5, ncols: int = 1):
    """A figure and its axes in the house style, with room at the bottom for the source."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, height))
        axes = fig.subplots(1, ncols, squeeze=False)
    fig.subplots_adjust(bottom=0.18)
    for ax in axes.ravel():
        for key in ("top", "right"):
            ax.spines[key].set_visible(False)
    return fig, (axes[0, 0] if ncols == 1 else axes[0])
