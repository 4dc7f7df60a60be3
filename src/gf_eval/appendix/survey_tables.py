"""Appendix 8: the professionals' e-survey that benchmarked services and practice.

Two independent waves (baseline, follow-up) of Likert items (1 = strongly disagree to 5 =
strongly agree) in two scales. Tables: respondents, item distributions, item-by-item tests and
scale scores; figures drawn only from what those tables show after disclosure control. The
analyses are in `gf_eval.analysis.survey`; only the wave, date, agency, role and item columns
are read, never the free-text comment.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from gf_eval import codes
from gf_eval.analysis import survey as sv
from gf_eval.appendix.build import TOTAL, counts_by
from gf_eval.appendix.marac_tables import shown_values
from gf_eval.appendix.plotting import COLOURS, new_figure
from gf_eval.appendix.publish import Figure, Table
from gf_eval.appendix.linked import WITHHELD_NOTE, protect_linked
from gf_eval.disclosure import TableSpec, suppression_mask
from gf_eval.layout import PART_FIGURES, PART_TABLES

APPENDIX = "8"
TABLES, FIGURES = PART_TABLES["8"], PART_FIGURES["8"]
WAVES = codes.SURVEY_WAVES
WAVE_LABELS = {"baseline": "Baseline", "follow_up": "Follow-up"}
RESPONSES = tuple(str(k) for k in range(codes.LIKERT_MIN, codes.LIKERT_MAX + 1))
NEUTRAL = RESPONSES[len(RESPONSES) // 2]
SCALE = "1 = strongly disagree to 5 = strongly agree"
# Disagree (red) to agree (blue) with a grey midpoint.
LIKERT_COLOURS = dict(zip(RESPONSES, (COLOURS["counterfactual"], "#e6a198", "#cfcfcf",
                                      "#93b4dd", COLOURS["post"])))  # fmt: skip

INDEPENDENT = ("The waves are independent samples: responses are not linked across waves, so a "
               "professional who answered both counts once in each and the comparisons are "
               "between the two groups of respondents, not changes within people.")  # fmt: skip
ASSOCIATION = ("Differences between the waves are associations, not effects of the programme: "
               "who chose to respond, and anything else that changed between the waves, is not "
               "controlled (the ordinal model adjusts for agency only).")  # fmt: skip
NO_COMMENTS = "The survey's free-text comments are not analysed and are not published."


def _wave_text(survey: pd.DataFrame) -> str:
    """The fieldwork dates of each wave, from the response dates."""
    dates = pd.to_datetime(survey["response_date"])
    parts = []
    for wave in WAVES:
        d = dates[(survey["wave"] == wave).to_numpy()]
        if len(d):
            first, last = d.min(), d.max()
            parts.append(f"{wave} = responses {first.day} {first:%B %Y} to {last.day} {last:%B %Y}")
    return "; ".join(parts)


def _adjustment(config: dict) -> tuple[str, str]:
    method = config["analysis"]["survey_adjustment"]
    return method, sv.ADJUSTMENTS[method]


def _table(short: str, title: str, caption: str, frame: pd.DataFrame, spec: TableSpec,
           notes) -> Table:  # fmt: skip
    frame.index = frame.index.map(str)
    return Table(f"a8_{short}", APPENDIX, title, caption, frame, spec, tuple(notes))


# --- tables -----------------------------------------------------------------------------------


def _respondents(survey: pd.DataFrame, ans: pd.DataFrame) -> Table:
    """Agency and role stacked in one table over the same Total, so that neither can give away
    a count the other suppresses."""
    parts, frames, spec = [], [], None
    for col, names, what in (("agency", codes.SURVEY_AGENCIES, "Agency"),
                             ("role", codes.SURVEY_ROLES, "Role")):  # fmt: skip
        row_names = {c: f"{what}: {label}" for c, label in names.items()}
        row_names["Not recorded"] = f"{what}: not recorded"
        frame, spec = counts_by(ans, col, "wave", row_order=list(names), col_order=WAVES,
                                row_names=row_names)  # fmt: skip
        frames.append(frame.drop(index=TOTAL))
        parts.append(tuple(frames[-1].index))
    frame = pd.concat([*frames, frame.loc[[TOTAL]]])
    frame.index.name = "respondents"
    spec = dataclasses.replace(spec, row_totals=tuple((TOTAL, p) for p in parts))
    return _table(
        "respondents", "E-survey respondents by agency and by role, per wave",
        f"Responses to the professionals' e-survey per wave ({_wave_text(survey)}), by the "
        "respondent's agency and, separately, by role; Total = all responses of the wave "
        "(each block of rows adds up to it). pct_<column> = the row's responses per 100 "
        "responses in the column.", frame, spec, [INDEPENDENT, NO_COMMENTS])  # fmt: skip


def _row(item: str, wave: str) -> str:
    return f"{item} {wave}"


def _distributions(ans: pd.DataFrame) -> Table:
    rows = {}
    for item in sv.ITEMS:
        for wave in WAVES:
            x = ans.loc[(ans["wave"] == wave).to_numpy(), item]
            counts = x.value_counts().reindex([float(r) for r in RESPONSES], fill_value=0)
            row = dict(zip(RESPONSES, counts.astype(int)))
            row["answered"] = int(x.notna().sum())
            row["missing"] = int(x.isna().sum())
            row["respondents"] = len(x)
            rows[_row(item, wave)] = row
    frame = pd.DataFrame.from_dict(rows, orient="index").astype("int64")
    frame.index.name = "item_wave"
    derived = {}
    # Shares of all responses, so a suppressed missing count does not hide a whole row.
    for col in (*RESPONSES, "missing"):
        respondents = frame["respondents"].where(frame["respondents"] > 0)
        frame[f"pct_{col}"] = 100 * frame[col] / respondents
        derived[f"pct_{col}"] = (col, "respondents")
    # The mean rests on every count of its row: with the counts shown it adds one more
    # equation, so it is suppressed whenever any of them is.
    frame["mean"] = sum(int(r) * frame[r] for r in RESPONSES) / frame["answered"].where(
        frame["answered"] > 0)
    derived["mean"] = (*RESPONSES, "answered", "missing", "respondents")
    totals = (("answered", RESPONSES), ("respondents", ("answered", "missing")))
    spec = TableSpec(counts=(*RESPONSES, "answered", "missing", "respondents"), derived=derived,
                     column_totals=totals, decimals={"mean": 2})  # fmt: skip
    wording = "; ".join(f"{i} ({s}): {w}" for i, (s, w) in codes.SURVEY_ITEMS.items())
    return _table(
        "item_responses", "E-survey item responses per wave",
        f"For each item and wave: the number of responses at each point of the scale ({SCALE}), "
        "answered = their sum, missing = responses that skipped the item, respondents = "
        "answered + missing (all responses of the wave); pct_<column> = per 100 respondents, "
        "so pct_1 to pct_5 and pct_missing add up to 100; mean = the mean answer (1 to 5) of "
        "those who answered, suppressed with any count of its row.", frame, spec,
        [f"Items: {wording}", INDEPENDENT])  # fmt: skip


# Means are published in a8_item_responses, where they are suppressed with their counts; the
# mean difference is left out here because with those counts it could pin a suppressed one.
TEST_DECIMALS = {"median_baseline": 1, "median_follow_up": 1, "rank_biserial": 3, "rb_ci_low": 3, "rb_ci_high": 3, "mw_p": 4,
                 "mw_p_adjusted": 4, "log_odds_ratio": 3, "lor_ci_low": 3, "lor_ci_high": 3,
                 "logit_p": 4, "logit_p_adjusted": 4}  # fmt: skip


def _tests(ans: pd.DataFrame, config: dict) -> Table:
    method, name = _adjustment(config)
    res = sv.item_tests(ans, method)
    counts = ("n_baseline", "n_follow_up")
    frame = res[list(counts)].astype("int64").join(res[list(TEST_DECIMALS)])
    frame.insert(0, "scale", res["scale"].astype(object))
    frame.insert(1, "statement", [codes.SURVEY_ITEMS[i][1] for i in frame.index])
    # model results and summaries: derived from no count, so never suppressed with one
    spec = TableSpec(counts=counts, derived={c: () for c in TEST_DECIMALS},
                     decimals=TEST_DECIMALS, labels=("scale", "statement"))  # fmt: skip
    return _table(
        "item_tests", "E-survey items, follow-up against baseline",
        f"Per item ({SCALE}): n = responses answering it per wave; median per wave (means "
        "per wave are in a8_item_responses); rank_biserial = P(follow-up > baseline) - P(follow-up < baseline) over all pairs of "
        "responses, ties counting half, with a 95% interval (DeLong variance on the Fisher z "
        "scale; rb_ci_*); mw_p = two-sided Mann-Whitney U test, the primary item test; "
        "log_odds_ratio = proportional-odds (ordered logit) model of the item on wave adjusted "
        "for agency (positive: follow-up answers tend to be higher), with its Wald 95% interval "
        f"and p (logit_p). mw_p_adjusted and logit_p_adjusted: each family of {len(sv.ITEMS)} "
        f"p-values adjusted across the items, separately, by the {name} method "
        f"(analysis.survey_adjustment = {method} in config/config.yaml).", frame, spec,
        ["The ordinal model has no term for the respondent's general disposition, which "
         "responses within a wave share across items, so it estimates a shift averaged over "
         "respondents, smaller than the shift for a given person.",
         "'z': the ordinal model could not be fitted or did not converge.", ASSOCIATION,
         INDEPENDENT])  # fmt: skip


SCALE_COUNTS = tuple(f"{k}_{w}" for w in WAVES for k in ("respondents", "scored", "not_scored"))
SCALE_DECIMALS = {**{f"mean_{w}{s}": 2 for w in WAVES for s in ("", "_ci_low", "_ci_high")},
                  "difference": 2, "difference_ci_low": 2, "difference_ci_high": 2,
                  "welch_p": 4, "alpha": 2, "alpha_ci_low": 2, "alpha_ci_high": 2,
                  **{f"alpha_{w}": 2 for w in WAVES}}  # fmt: skip


def _scales(ans: pd.DataFrame) -> Table:
    res = sv.scale_scores(ans)
    for w in WAVES:
        res[f"not_scored_{w}"] = res[f"respondents_{w}"] - res[f"scored_{w}"]
    frame = res[list(SCALE_COUNTS)].astype("int64").join(res[list(SCALE_DECIMALS)].astype(float))
    spec = TableSpec(counts=SCALE_COUNTS, derived={c: () for c in SCALE_DECIMALS},
                     column_totals=tuple((f"respondents_{w}", (f"scored_{w}", f"not_scored_{w}"))
                                         for w in WAVES),
                     decimals=SCALE_DECIMALS)  # fmt: skip
    scales = "; ".join(f"{s}: {', '.join(items)} (scored with at least {len(items) - 1} answered)"
                       for s, items in sv.SCALES.items())  # fmt: skip
    return _table(
        "scale_scores", "E-survey scale scores, follow-up against baseline",
        f"A response's scale score is the mean of the scale's items it answered ({SCALE}), "
        f"given when it skipped at most {sv.MAX_SKIPPED} of them ({scales}); not_scored = "
        "responses that skipped more. mean_<wave> with its t 95% interval; difference = "
        "follow-up minus baseline with Welch's 95% interval and p (welch_p, not adjusted). "
        "alpha = Cronbach's alpha of the scale's items on responses answering all of them, "
        "both waves together, with Feldt's 95% interval; alpha_<wave> per wave.", frame, spec,
        [ASSOCIATION, INDEPENDENT])  # fmt: skip


def _links(t: dict[str, Table]) -> list[tuple]:
    """Cells equal across tables: each wave's responses, and the answers to each item."""
    resp, dist, tests, scales = (t[n] for n in TABLES)
    links = []
    for w in WAVES:
        total = (resp.name, TOTAL, w)
        for item in sv.ITEMS:
            row = _row(item, w)
            links.append((total, (dist.name, row, "respondents")))
            links.append(((dist.name, row, "answered"), (tests.name, item, f"n_{w}")))
        links += [(total, (scales.name, s, f"respondents_{w}")) for s in sv.SCALES]
    return links


def _withhold_answered(dist: Table, tests: Table, threshold: int) -> Table:
    """a8_item_tests with each n withheld where a8_item_responses suppresses the same count
    (answered): found directly, so that protect_linked only has to confirm it."""
    mask = suppression_mask(dist.frame, dist.spec, threshold)
    cells = tuple((item, f"n_{w}") for item in sv.ITEMS for w in WAVES
                  if mask.at[_row(item, w), "answered"])  # fmt: skip
    if not cells:
        return tests
    spec = dataclasses.replace(tests.spec, suppress=cells)
    return dataclasses.replace(tests, spec=spec, notes=(*tests.notes, WITHHELD_NOTE))


def tables(typed: dict[str, pd.DataFrame], config: dict) -> list[Table]:
    """Appendix 8's tables from the typed survey, protected together against cross-table
    disclosure."""
    threshold = config["disclosure"]["threshold"]
    survey = typed["survey"]
    ans = sv.answers(survey)  # the comment column is dropped here, before anything else
    dist = _distributions(ans)
    built = [_respondents(survey[["wave", "response_date"]], ans), dist,
             _withhold_answered(dist, _tests(ans, config), threshold), _scales(ans)]  # fmt: skip
    return protect_linked(built, _links({t.name: t for t in built}), threshold)


# --- figures ----------------------------------------------------------------------------------


def _draw_side(ax, y: float, values: dict[str, float], order: tuple[str, ...], start: float,
               sign: int) -> None:  # fmt: skip
    """Segments outward from `start`; a suppressed one stops the side, since drawing past it
    would show its width."""
    edge = start
    for r in order:
        v = values[r]
        if np.isnan(v):
            ax.annotate("c", (edge, y), xytext=(sign * 4, 0), textcoords="offset points",
                        ha="center", va="center", fontsize=7)  # fmt: skip
            return
        ax.barh(y, sign * v, left=edge, height=0.8, color=LIKERT_COLOURS[r])
        edge += sign * v


def _responses_figure(table: Table, threshold: int) -> Figure:
    import textwrap

    shown = shown_values(table, threshold)
    rows = list(shown.index)
    fig, ax = new_figure(10.0, 8.0)
    gap = 0.6  # between items
    ys = [i + gap * (i // len(WAVES)) for i in range(len(rows))]
    mid = RESPONSES.index(NEUTRAL)
    for y, row in zip(ys, rows, strict=True):
        v = {r: float(shown.at[row, f"pct_{r}"]) for r in RESPONSES}
        if np.isnan(v[NEUTRAL]):  # nothing can be centred
            ax.annotate("c", (0, y), ha="center", va="center", fontsize=7)
            continue
        ax.barh(y, v[NEUTRAL], left=-v[NEUTRAL] / 2, height=0.8, color=LIKERT_COLOURS[NEUTRAL])
        _draw_side(ax, y, v, RESPONSES[:mid][::-1], -v[NEUTRAL] / 2, -1)
        _draw_side(ax, y, v, RESPONSES[mid + 1 :], v[NEUTRAL] / 2, 1)
    # One tick per bar, labelled by its wave; each item by its wording (codes.SURVEY_ITEMS),
    # wrapped, once for its pair of bars (minor ticks, without marks), left of the waves'
    # labels. The item codes appear only in the tables.
    ax.set_yticks(ys, [WAVE_LABELS[r.split()[1]].lower() for r in rows], fontsize=6.5)
    items = list(dict.fromkeys(r.split()[0] for r in rows))
    centres = [np.mean([y for y, r in zip(ys, rows, strict=True) if r.split()[0] == i])
               for i in items]  # fmt: skip
    ax.set_yticks(centres, [textwrap.fill(codes.SURVEY_ITEMS[i][1], 34) for i in items],
                  minor=True, fontsize=7)  # fmt: skip
    ax.tick_params(axis="y", which="minor", length=0, pad=48)
    ax.invert_yaxis()
    ax.axvline(0, color="0.3", linewidth=0.6)
    ax.set_xlim(-100, 100)
    ticks = np.arange(-100, 101, 25)
    ax.set_xticks(ticks, [f"{abs(t)}" for t in ticks])
    ax.set_xlabel("% of the wave's responses (disagree to the left, agree to the right; "
                  "the midpoint 3 is centred on 0)")  # fmt: skip
    ax.set_ylabel("item (statement rated) and wave")
    title = "E-survey item responses at baseline and follow-up"
    ax.set_title(title)
    handles = [Patch(color=LIKERT_COLOURS[r]) for r in RESPONSES]
    names = ["1 strongly disagree", "2", "3 midpoint", "4", "5 strongly agree"]
    ax.legend(handles, names, ncols=5, frameon=False, fontsize=7, loc="upper center",
              bbox_to_anchor=(0.5, -0.09))  # fmt: skip
    fig.subplots_adjust(bottom=0.16, left=0.33)
    return Figure(
        "a8_item_responses", APPENDIX, title,
        "Diverging stacked bars of each item's responses per wave, as percentages of the "
        "wave's responses, from table a8_item_responses (pct_1 to pct_5; skipped items, "
        "pct_missing, are not drawn, so a bar spans 100 minus that). Percentages suppressed in "
        "the table are not drawn, nor any segment beyond them on the same side (its position "
        "would show the suppressed width); 'c' marks where. Each item is labelled by its "
        "statement; the table's rows use the item codes q01 to q08, listed with the statements "
        "in its notes.", fig)  # fmt: skip


def _scale_figure(table: Table, threshold: int) -> Figure:
    shown = shown_values(table, threshold)
    fig, ax = new_figure(6.5, 4.5)
    x = np.arange(len(shown))
    for i, (w, colour) in enumerate(zip(WAVES, (COLOURS["pre"], COLOURS["post"]), strict=True)):
        mean = shown[f"mean_{w}"].to_numpy()
        low, high = shown[f"mean_{w}_ci_low"].to_numpy(), shown[f"mean_{w}_ci_high"].to_numpy()
        keep = ~(np.isnan(mean) | np.isnan(low) | np.isnan(high))  # never a suppressed value
        pos = x[keep] + (i - 0.5) * 0.25
        ax.errorbar(pos, mean[keep], yerr=[mean[keep] - low[keep], high[keep] - mean[keep]],
                    fmt="o", capsize=4, color=colour, label=WAVE_LABELS[w])  # fmt: skip
    ax.set_xticks(x, [s.capitalize() for s in shown.index])
    ax.set_xlim(-0.6, len(x) - 0.4)
    ax.set_ylim(codes.LIKERT_MIN, codes.LIKERT_MAX)
    ax.set_xlabel("scale")
    ax.set_ylabel("mean scale score (points, 1 to 5)")
    title = "E-survey scale scores at baseline and follow-up"
    ax.set_title(title)
    ax.legend(frameon=False)
    return Figure(
        "a8_scale_means", APPENDIX, title,
        "Mean scale score per wave with its 95% interval, from table a8_scale_scores (the "
        f"score is the mean of the scale's items a response answered, {SCALE}). Values "
        "suppressed in "
        "the table would be left out. Differences between the waves are associations, not "
        "effects of the programme.", fig)  # fmt: skip


def figures(typed: dict[str, pd.DataFrame], config: dict,
            published: list[Table] | None = None) -> list[Figure]:  # fmt: skip
    """Appendix 8's figures, drawn only from values the published tables show (`published`,
    else built again)."""
    threshold = config["disclosure"]["threshold"]
    # The tables already built for publication, when given: they cost seconds to build.
    published = {x.name: x for x in (tables(typed, config) if published is None else published)}
    return [_responses_figure(published["a8_item_responses"], threshold),
            _scale_figure(published["a8_scale_scores"], threshold)]  # fmt: skip
