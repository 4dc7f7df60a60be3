"""Published figures: one date axis, the phase-in statement, survey items by their wording, n
on the paired-change and step-rate figures under disclosure control, and byte-identical files."""

from __future__ import annotations

import re

import matplotlib.dates as mdates
import pandas as pd
import pytest
from matplotlib.text import Text

from gf_eval import codes
from gf_eval.appendix import casework_tables, social_care_tables, survey_tables, targets_tables
from gf_eval.appendix.axes import tick_labels
from gf_eval.appendix.publish import Table, write_figure
from gf_eval.disclosure import TableSpec

THRESHOLD = 5


def _texts(fig) -> list[str]:
    """Every text a reader can see (hidden duplicates such as the top tick labels left out)."""
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def _close(figs) -> None:
    for f in figs:
        f.figure.clear()


@pytest.fixture(scope="module")
def target_figures(pipeline):
    figs = targets_tables.figures(pipeline["derived"]["monthly_series"], pipeline["models"],
                                  pipeline["config"])  # fmt: skip
    yield figs
    _close(figs)


# --- the target figures -----------------------------------------------------------------------


def test_target_figures_share_one_date_axis(target_figures):
    assert [f.name for f in target_figures] == ["target_repeat_marac", "target_dva_rereferrals",
                                                "target_cin_dva"]  # fmt: skip
    axes = [f.figure.axes[0] for f in target_figures]
    first = tick_labels(axes[0])
    for ax in axes[1:]:
        assert tick_labels(ax) == first
        assert ax.get_xlim() == axes[0].get_xlim()
    # The default calendar: April 2012 to March 2017, five financial years.
    lo, hi = axes[0].get_xlim()
    assert mdates.num2date(lo).date() == pd.Timestamp("2012-04-01").date()
    assert mdates.num2date(hi).date() == pd.Timestamp("2017-04-01").date()
    labels = [t for _, t in first if t]
    assert labels == ["2012-13", "2013-14", "2014-15", "2015-16", "2016-17"]
    # Long ticks at each 1 April, short ones at the other quarter starts.
    major = [mdates.num2date(x).strftime("%Y-%m-%d") for x in axes[0].get_xticks()]
    assert major == [f"{y}-04-01" for y in range(2012, 2018)]
    minor = [mdates.num2date(x).strftime("%m-%d") for x in axes[0].get_xticks(minor=True)]
    assert minor == ["07-01", "10-01", "01-01"] * 5


def test_target_figures_say_the_primary_model_fits_through_the_phase_in(target_figures,
                                                                         pipeline):  # fmt: skip
    # The default primary model leaves no month out (its spec_phase_in is 0).
    assert (pipeline["models"]["estimates"].query("primary")["spec_phase_in"] == 0).all()
    for f in target_figures:
        text = " ".join(_texts(f.figure))
        assert "phase-in" in text
        assert "the primary model fits through these months" in text
        assert "fits through" in f.caption


def test_phase_in_statement_follows_the_primary_fit(pipeline):
    models = dict(pipeline["models"])
    est = models["estimates"].copy()
    est.loc[est["primary"], "spec_phase_in"] = 2
    models["estimates"] = est
    figs = targets_tables.figures(pipeline["derived"]["monthly_series"], models,
                                  pipeline["config"])  # fmt: skip
    try:
        for f in figs:
            text = " ".join(_texts(f.figure))
            assert "2-month phase-in" in text
            assert "leaves these months out of its fit" in text
            assert "fits through" not in text
    finally:
        _close(figs)


# --- survey -----------------------------------------------------------------------------------


def test_survey_items_are_labelled_by_their_wording(pipeline):
    figs = survey_tables.figures(pipeline["typed"], pipeline["config"])
    try:
        ax = figs[0].figure.axes[0]
        labels = [t.get_text().replace("\n", " ") for t in ax.get_yticklabels(minor=True)]
        assert labels == [
            "I am confident identifying domestic abuse in the families I work with.",
            "I know what to do when a family discloses domestic abuse.",
            "I am confident talking to a perpetrator about their behaviour.",
            "I am confident assessing the impact of domestic abuse on children.",
            "I know where to refer a family affected by domestic abuse.",
            "Agencies in Doncaster share information on domestic abuse well.",
            "Services for families affected by domestic abuse are joined up.",
            "Whole-family support is available when a family needs it.",
        ]
        # Long statements are wrapped onto more than one line.
        assert all(len(line) <= 34 for t in ax.get_yticklabels(minor=True)
                   for line in t.get_text().split("\n"))  # fmt: skip
        waves = [t.get_text() for t in ax.get_yticklabels()]
        assert waves == ["baseline", "follow-up"] * len(codes.SURVEY_ITEMS)
        assert not any(re.search(r"\bq0\d\b", t) for t in _texts(figs[0].figure))
    finally:
        _close(figs)


# --- n under disclosure control: hand-made published tables -----------------------------------


def _outcomes(n_pairs: dict[str, int]) -> Table:
    frame = pd.DataFrame({"n_pairs": n_pairs})
    frame["mean_change"], frame["ci_low"], frame["ci_high"] = -2.0, -3.0, -1.0
    derived = {c: ("n_pairs",) for c in ("mean_change", "ci_low", "ci_high")}
    spec = TableSpec(counts=("n_pairs",), derived=derived)
    return Table("a7_outcomes", "7", "t", "c", frame, spec)


def _missing(completers: dict[str, int], noncompleters: dict[str, int]) -> Table:
    frame = pd.DataFrame({"completers": completers, "noncompleters": noncompleters})
    frame["ipw_mean_change"], frame["ipw_ci_low"], frame["ipw_ci_high"] = -2.5, -3.5, -1.5
    derived = {c: ("completers", "noncompleters")
               for c in ("ipw_mean_change", "ipw_ci_low", "ipw_ci_high")}  # fmt: skip
    spec = TableSpec(counts=("completers", "noncompleters"), derived=derived)
    return Table("a7_missing_sensitivity", "7", "t", "c", frame, spec)


def _shown_ns(texts: list[str]) -> list[str]:
    return re.findall(r"n = (\S+)", " ".join(texts))


def test_paired_change_gives_n_per_measure_and_estimate_without_small_counts():
    outcomes = _outcomes({"dash": 40, "sdq": 4})
    missing = _missing({"dash": 40, "sdq": 4}, {"dash": 3, "sdq": 12})
    fig = casework_tables._change_figure(outcomes, missing, THRESHOLD)
    try:
        axes = fig.figure.axes
        ticks = [[t.get_text().replace("\n", " ") for t in ax.get_xticklabels()] for ax in axes]
        assert ticks == [
            ["complete cases n = 40", "weighted (IPW) n = 40 + c unscored"],
            ["complete cases n = c", "weighted (IPW) n = c + 12 unscored"],
        ]
        shown = _shown_ns(_texts(fig.figure))
        assert shown == ["40", "40", "c", "c"]
        numbers = re.findall(r"\b\d+\b", " ".join(" ".join(t) for t in ticks))
        assert all(not 1 <= int(n) <= THRESHOLD for n in numbers)
        # The weighted DASH estimate rests on 3 noncompleters: suppressed, marked, not drawn.
        assert [t.get_text() for t in axes[0].texts] == ["c"]
    finally:
        fig.figure.clear()


def _step_table(observed: dict[tuple[str, int], tuple[int, int, int]]) -> Table:
    rows = {}
    for (g, h), (up, down, same) in observed.items():
        rows[f"{social_care_tables.GROUP_LABELS[g]}, {h} months"] = {
            "children_observed": up + down + same, "stepped_up": up, "stepped_down": down,
            "unchanged": same}  # fmt: skip
    frame = pd.DataFrame.from_dict(rows, orient="index")
    derived = {}
    for col in ("stepped_up", "stepped_down"):
        frame[f"pct_{col}"] = 100 * frame[col] / frame["children_observed"]
        derived[f"pct_{col}"] = (col, "children_observed")
    spec = TableSpec(counts=("children_observed", "stepped_up", "stepped_down", "unchanged"),
                     derived=derived,
                     column_totals=(("children_observed",
                                     ("stepped_up", "stepped_down", "unchanged")),))  # fmt: skip
    return Table("a6_status_step_rates", "6", "t", "c", frame, spec)


def test_step_rates_give_n_per_group_without_small_counts():
    table = _step_table({("dan", 6): (10, 20, 30), ("comparison", 6): (40, 50, 60),
                         ("dan", 12): (1, 1, 2), ("comparison", 12): (7, 8, 9)})  # fmt: skip
    fig = social_care_tables._step_figure(table, THRESHOLD)
    try:
        legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.figure.axes]
        assert legends == [["DAN, n = 60", "Comparison, n = 150"],
                           ["DAN, n = c", "Comparison, n = 24"]]  # fmt: skip
        shown = _shown_ns(_texts(fig.figure))
        assert sorted(shown) == sorted(["60", "150", "c", "24"])
        assert all(n == "c" or int(n) > THRESHOLD for n in shown)
    finally:
        fig.figure.clear()


def test_synthetic_paired_change_and_step_rates_show_n_for_every_group(pipeline):
    config = pipeline["config"]
    a7 = casework_tables.figures(pipeline["typed"], config)
    a6 = social_care_tables.figures(pipeline["derived"], pipeline["typed"], config)
    try:
        change = next(f for f in a7 if f.name == "a7_paired_change")
        for ax in change.figure.axes:
            ticks = [t.get_text() for t in ax.get_xticklabels()]
            assert len(ticks) == 2 and all("n = " in t for t in ticks)
        steps = next(f for f in a6 if f.name == "a6_status_step_rates")
        for ax in steps.figure.axes:
            texts = [t.get_text() for t in ax.get_legend().get_texts()]
            assert [t.split(",")[0] for t in texts] == ["DAN", "Comparison"]
            assert all("n = " in t for t in texts)
        for f in (change, steps):
            shown = _shown_ns(_texts(f.figure))
            assert shown and all(n == "c" or int(n) > THRESHOLD for n in shown)
    finally:
        _close(a7 + a6)


# --- reproducible files -----------------------------------------------------------------------


def test_target_figures_are_byte_identical_across_builds(pipeline, tmp_path):
    args = (pipeline["derived"]["monthly_series"], pipeline["models"], pipeline["config"])
    out = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        figs = targets_tables.figures(*args)
        out.append({p.name: p.read_bytes() for f in figs
                    for p in write_figure(f, tmp_path / run, "Source: test.")})  # fmt: skip
        _close(figs)
    assert out[0].keys() == out[1].keys() and len(out[0]) == 9
    assert out[0] == out[1]
