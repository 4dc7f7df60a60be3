"""One self-contained HTML report of the whole evaluation: the targets table with its verdicts,
then each appendix's tables and figures with their captions, then the validation reports and
the model diagnostics. Figures are embedded, so the file stands alone; nothing in it depends on
the time of the run."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import pandas as pd

from gf_eval import appendix
from gf_eval.appendix.columns import SYMBOLS, columns_json, describe, intervals, number
from gf_eval.config import extract_dir, results_dir, synthetic_data
from gf_eval.extracts import EXTRACTS
from gf_eval.files import sha256, tree_sha256, write_text
from gf_eval.report.provenance import config_sha256

PART_TITLES = {
    "targets": "The three targets: models, sensitivity and placebo tests",
    "5": "Appendix 5: MARAC data",
    "6": "Appendix 6: social care data on children's vulnerability status",
    "7": "Appendix 7: the Domestic Abuse Navigators' casework books",
    "8": "Appendix 8: the professionals' e-survey",
    "vfm": "Value for money: a cost-benefit analysis of the targets' estimates",
}
PLAN_BADGES = {
    "primary": ("primary", "Pre-specified primary analysis (config/config.yaml, analysis)"),
    "sensitivity": ("departs", "Sensitivity analysis: departs from the pre-specified plan on "
                    "purpose; not the basis of any verdict"),  # fmt: skip
}
CSS = """
body{font-family:'DejaVu Sans',Arial,sans-serif;max-width:1100px;margin:2em auto;color:#222;
line-height:1.45;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #1f5fa8;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.6em}h3 .num{color:#1f5fa8;margin-right:.3em}h3 small{font-weight:normal;
color:#666}table{border-collapse:collapse;font-size:.82em;margin:.6em 0;max-width:100%}
table.wide{font-size:.74em}table caption{caption-side:top;text-align:left;color:#555;
font-size:.95em;padding:.2em 0}th,td{border:1px solid #ccc;padding:.2em .4em;text-align:right;
vertical-align:top}th{background:#eef2f7;font-weight:600;vertical-align:bottom;
overflow-wrap:break-word}td.label,th.label,td.text,th.text{text-align:left}tbody th{text-align:left;
font-weight:normal;background:#f5f7fa;vertical-align:top}
th small{font-weight:normal;color:#555}tr.departs td{background:#fff4e5}.ci{white-space:nowrap;
color:#444}.est{white-space:nowrap}td code{overflow-wrap:anywhere;font-size:.92em}
.caption{font-size:.9em;color:#333}.notes{font-size:.85em;color:#555}
.badge{display:inline-block;font-size:.8em;padding:.1em .5em;border-radius:.3em;margin:.2em 0}
.badge.primary{background:#dbe8f7;color:#103c6e}.badge.departs{background:#fde2c4;color:#6b3a00}
.source{font-size:.85em;color:#555}.source code{overflow-wrap:anywhere}pre{font-size:.74em;
background:#f6f6f6;padding:.6em;white-space:pre-wrap;overflow-wrap:anywhere}figure{margin:1em 0}
figure img{max-width:100%;height:auto}
@page{size:A4 portrait;margin:14mm 12mm}
@media print{body{max-width:none;margin:0;padding:0;font-size:9.5pt;color:#000;line-height:1.3}
h1{font-size:15pt}h2{font-size:13pt;break-before:page;break-after:avoid}h3{font-size:10.5pt;
break-after:avoid}table{font-size:7.5pt}table.wide{font-size:6.8pt}th,td{padding:.15em .3em}
thead{display:table-header-group}tr,figure,img{break-inside:avoid}pre{font-size:6.8pt}
.badge{border:1px solid #999}a{color:inherit;text-decoration:none}}
"""


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


# --- formatting published cells by unit (the CSVs keep the numbers as written) --------------

# A table with more display columns than this is transposed (few rows) or split in column
# groups; `LAYOUTS` chooses for the tables where that reads better.
MAX_COLUMNS = 11
WIDE_COLUMNS = 8
LAYOUTS: dict[str, object] = {
    "a5_children": "transpose",
    "a7_outcomes": "transpose",
    "a7_attrition": "transpose",
    "a7_missing_sensitivity": "transpose",
    "a8_scale_scores": "transpose",
    # column groups (by the first column of each display column), each led by the row label
    "a8_item_tests": (("scale", "statement", "n_baseline", "n_follow_up", "median_baseline",
                       "median_follow_up"),
                      ("rank_biserial", "mw_p", "mw_p_adjusted", "log_odds_ratio", "logit_p",
                       "logit_p_adjusted")),
    "a8_item_responses": (("1", "2", "3", "4", "5", "answered", "missing", "respondents"),
                          ("pct_1", "pct_2", "pct_3", "pct_4", "pct_5", "pct_missing", "mean")),
    "vfm_appraisal": (("description", "target_correlation", "verdict", "note"),
                      ("benefit", "cost", "net", "bcr", "p_bcr_above_1", "true_bcr")),
    "vfm_unit_costs": (("event", "unit", "cost", "price_year", "verified", "used", "source"),
                       ("cost_uprated", "low_uprated", "high_uprated", "assumed_range",
                        "location")),
}  # fmt: skip


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value else None  # NaN is not a value to print


def _signed(value: float, decimals: int = 1) -> str:
    text = f"{value:+.{decimals}f}"
    return text[1:] if float(text) == 0 else text  # no sign on zero


def format_cell(text: str, unit: str) -> str:
    """A published cell as the report prints it. Disclosure symbols, blanks and anything that
    is not a number of the column's unit are returned unchanged."""
    text = "" if text is None else str(text)
    if text in SYMBOLS or not text.strip():
        return text
    if unit == "yes_no":
        low = text.strip().lower()
        return {"true": "yes", "false": "no", "yes": "yes", "no": "no"}.get(low, text)
    value = _float(text)
    if value is None:
        return text
    if unit == "relative_change":
        return f"{_signed(100 * value)}%"
    if unit == "percent_change":
        return f"{_signed(value)}%"
    if unit == "p_value":
        return "<0.001" if value < 0.001 else f"{value:.3f}"
    if unit == "share":
        return f"{100 * value:.0f}%"
    if unit == "count":
        return f"{int(value):,}" if value == int(value) and "." not in text else text
    if unit == "pounds":
        return f"-£{-value:,.0f}" if value < 0 else f"£{value:,.0f}"
    if unit == "events":
        return f"{value:,.1f}"
    if unit in ("score", "statistic", "days", "percent") and "." in text:
        decimals = len(text.split(".", 1)[1])
        if decimals > 3:  # unrounded working values
            return f"{value:.{1 if unit == 'percent' else 3}f}"
    return text


def format_interval(estimate: str, low: str, high: str, unit: str) -> str:
    """"-9.3% (-36.2% to +29.0%)": an estimate and its interval in one cell (plain text)."""
    est, lo, hi = (format_cell(v, unit) for v in (estimate, low, high))
    if lo == hi and lo in (*SYMBOLS, "") and est in (*SYMBOLS, ""):
        return est if est == lo or not est else f"{est} ({lo})"
    return f"{est} ({lo} to {hi})"


def _interval_html(estimate: str, low: str, high: str, unit: str) -> str:
    text = format_interval(estimate, low, high, unit)
    if " (" not in text:
        return _esc(text)
    est, rest = text.split(" (", 1)
    return f'<span class="est">{_esc(est)}</span> <span class="ci">({_esc(rest)}</span>'


def _display_columns(frame: pd.DataFrame, columns: dict, table: str) -> list[dict]:
    """Each shown column: its header, unit, the CSV columns it comes from and its cells."""
    names = list(frame.columns)
    triples = {t[0]: t for t in intervals(names[1:], table)}
    inside = {n for t in triples.values() for n in t[1:]}
    shown = []
    for i, name in enumerate(names):
        if name in inside:
            continue
        info = columns.get(name) or describe(name, table).to_json()
        if i and name in triples:
            est, lo, hi = triples[name]
            cells = [_interval_html(e, a, b, info["unit"])
                     for e, a, b in zip(frame[est], frame[lo], frame[hi])]  # fmt: skip
            shown.append({"name": name, "label": f"{info['label']} and 95% CI",
                          "unit": info["unit"], "cells": cells})  # fmt: skip
        else:
            cells = [_esc(format_cell(v, info["unit"])) for v in frame[name]]
            shown.append({"name": name, "label": info["label"], "unit": info["unit"],
                          "cells": cells})  # fmt: skip
    return shown


def _cell_class(shown: dict, i: int) -> str:
    return "label" if i == 0 else ("text" if shown["unit"] in ("text", "period") else "")


def _rows_html(shown: list[dict], departs: list[bool], caption: str = "") -> str:
    head = "".join(f'<th class="{_cell_class(c, i)}">{_esc(c["label"])}</th>'
                   for i, c in enumerate(shown))  # fmt: skip
    rows = []
    for r, flag in enumerate(departs):
        cells = "".join(f'<td class="{_cell_class(c, i)}">{c["cells"][r]}</td>'
                        for i, c in enumerate(shown))  # fmt: skip
        rows.append(f'<tr class="{"departs" if flag else ""}">{cells}</tr>')
    wide = " wide" if len(shown) > WIDE_COLUMNS else ""
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    return (f'<table class="published{wide}">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


# In a transposed table, these columns (when present) head the columns, above the row label.
TRANSPOSED_HEADERS = ("description", "measure_name")


def _transposed_html(shown: list[dict]) -> str:
    """One row per column and one column per row: for tables of a few rows and many columns."""
    first, rest = shown[0], shown[1:]
    heads = list(first["cells"])
    named = next((c for c in rest if c["name"] in TRANSPOSED_HEADERS), None)
    if named is not None:
        rest = [c for c in rest if c is not named]
        heads = [f'{n}<br><small>{h}</small>' for n, h in zip(named["cells"], heads)]
    head = (f'<th class="label">{_esc(first["label"])}</th>'
            + "".join(f"<th>{h}</th>" for h in heads))  # fmt: skip
    rows = []
    for c in rest:
        css = "text" if c["unit"] in ("text", "period") else ""
        cells = "".join(f'<td class="{css}">{v}</td>' for v in c["cells"])
        rows.append(f'<tr class=""><th class="label" scope="row">{_esc(c["label"])}</th>'
                    f"{cells}</tr>")
    wide = " wide" if len(first["cells"]) > WIDE_COLUMNS else ""
    return (f'<table class="published transposed{wide}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


# Row labels that other columns spell out in full: the report leaves the label column out
# when every row's label is exactly the template filled from its row.
REDUNDANT_LABELS = {
    "target_sensitivity": "{target}: {analysis}",
    "target_placebo": "{target}: placebo start {placebo_start}",
}


def _drop_redundant_label(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    template = REDUNDANT_LABELS.get(name)
    if template is None or len(frame.columns) < 2:
        return frame
    try:
        rebuilt = [template.format(**row) for row in frame.to_dict("records")]
    except KeyError:
        return frame
    return frame.iloc[:, 1:] if rebuilt == list(frame.iloc[:, 0]) else frame


def published_table_html(frame: pd.DataFrame, meta: dict) -> str:
    """A published table (all strings, row labels first) with human headers and formatted
    cells, laid out to fit a page: intervals in one cell, and a table that would still be too
    wide transposed or split into column groups that repeat the row label."""
    name = meta.get("name", "")
    frame = _drop_redundant_label(frame, name)
    shown = _display_columns(frame, meta.get("columns") or {}, name)
    departs = [("primary" in frame.columns and v == "sensitivity")
               for v in (frame["primary"] if "primary" in frame.columns else [None] * len(frame))]
    layout = LAYOUTS.get(name)
    if layout is None and len(shown) > MAX_COLUMNS:
        layout = "transpose" if len(frame) <= 6 else tuple(
            tuple(c["name"] for c in shown[i:i + MAX_COLUMNS - 1])
            for i in range(1, len(shown), MAX_COLUMNS - 1))  # fmt: skip
    if layout == "transpose":
        return _transposed_html(shown)
    if layout:
        by_name = {c["name"]: c for c in shown}
        groups = [[by_name[n] for n in group if n in by_name] for group in layout]
        placed = {c["name"] for g in groups for c in g}
        left = [c for c in shown[1:] if c["name"] not in placed]  # never lose a column
        if left:
            groups.append(left)
        number = meta.get("number") or "Table"
        return "".join(_rows_html([shown[0], *g], departs,
                                  f"{number} (continued)" if i else "")
                       for i, g in enumerate(groups) if g)  # fmt: skip
    return _rows_html(shown, departs)


def _table_html(csv: Path, meta: dict | None = None) -> str:
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    if meta is None:  # a working table without a sidecar
        meta = {"name": csv.stem, "columns": columns_json(frame.columns, csv.stem)}
    return published_table_html(frame, meta)


def _frame_html(frame: pd.DataFrame) -> str:
    """A table of strings as HTML; rows of a sensitivity analysis are shaded."""
    head = "".join(f'<th class="{"label" if i == 0 else ""}">{_esc(c)}</th>'
                   for i, c in enumerate(frame.columns))  # fmt: skip
    rows = []
    for _, row in frame.iterrows():
        departs = "primary" in frame.columns and row["primary"] == "sensitivity"
        cells = "".join(
            f'<td class="{"label" if not _numeric(v) else ""}">{_esc(v)}</td>' for v in row
        )
        rows.append(f'<tr class="{"departs" if departs else ""}">{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text in ("c", ":", "z")
    return True


# Notes that describe the CSV's number format, said as the report prints the numbers.
CSV_FORMAT_NOTES = {
    "p-values shown as 0.0000 are below 0.00005.":
        "p-values below 0.001 are shown as <0.001 (in the CSV, 0.0000 is below 0.00005).",
}  # fmt: skip


def _published_numbers() -> dict[str, str]:
    """Every declared table's and figure's number by its name (a table wins a shared name)."""
    found = {}
    for part in appendix.PARTS:
        module = appendix._module(part)
        for kind, names in (("Figure", module.FIGURES), ("Table", module.TABLES)):
            found |= {name: number(kind, part, name) for name in names}
    return found


MACHINE_NAME = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def humanise(text: str, meta: dict) -> str:
    """A caption or note as the report shows it: the table's own column names by their
    headers, and other published tables and figures by their numbers. The sidecar keeps the
    machine names, which are the CSV's."""
    columns = meta.get("columns", {})
    numbers = _published_numbers()

    def swap(match: re.Match) -> str:
        word = match.group(0)
        if word in columns:
            return f"\u201c{columns[word]['label']}\u201d"
        return numbers.get(word) or word

    return MACHINE_NAME.sub(swap, text)


def _notes(meta: dict) -> str:
    items = "".join(f"<li>{_esc(humanise(CSV_FORMAT_NOTES.get(n, n), meta))}</li>"
                    for n in meta.get("notes", []))  # fmt: skip
    return f'<ul class="notes">{items}</ul>' if items else ""


def _badge(meta: dict) -> str:
    if meta.get("plan") not in PLAN_BADGES:
        return ""
    css, text = PLAN_BADGES[meta["plan"]]
    return f'<div class="badge {css}">{_esc(text)}</div>'


def _number(kind: str, meta: dict) -> str:
    """The sidecar's number, or the same number from the declared order for an older one."""
    found = meta.get("number") or number(kind, str(meta.get("appendix", "")), meta["name"])
    return f'<span class="num">{_esc(found)}</span>' if found else ""


def _table_section(tables: Path, name: str) -> str:
    meta = json.loads((tables / f"{name}.json").read_text(encoding="utf-8"))
    meta.setdefault("name", name)
    return (f'<section id="{_esc(name)}"><h3>{_number("Table", meta)}{_esc(meta["title"])} '
            f'<small>({_esc(name)}.csv)</small></h3>{_badge(meta)}'
            f'<p class="caption">{_esc(humanise(meta["caption"], meta))}</p>'
            f"{_table_html(tables / f'{name}.csv', meta)}{_notes(meta)}</section>")  # fmt: skip


def _figure_section(figures: Path, name: str) -> str:
    meta = json.loads((figures / f"{name}.json").read_text(encoding="utf-8"))
    meta.setdefault("name", name)
    data = base64.b64encode((figures / f"{name}.png").read_bytes()).decode("ascii")
    return (f'<figure id="fig-{_esc(name)}">'
            f'<h3>{_number("Figure", meta)}{_esc(meta["title"])} '
            f"<small>({_esc(name)}.png, .svg)</small></h3>"
            f'<img alt="{_esc(meta["title"])}" src="data:image/png;base64,{data}">'
            f'<figcaption class="caption">{_esc(humanise(meta["caption"], meta))}</figcaption>'
            "</figure>")  # fmt: skip


def _source(root: Path, config: dict) -> str:
    if synthetic_data(config):
        syn = config["synthetic"]
        route = " through its raw returns, imported and pseudonymised" if config.get("returns") else ""
        return (f"<p><b>Data source: synthetic data</b> from the gf-eval generator{route} (seed "
                f"{config['seed']}, scenario {_esc(syn['scenario'] or 'null')}, scale "
                f"{syn['scale']}); not real records.</p>")  # fmt: skip
    rows = []
    for name, extract in EXTRACTS.items():
        path = root / extract_dir(config) / extract.filename
        digest = sha256(path) if path.is_file() else "missing"
        rows.append(f"<tr><td class='label'>{_esc(extract.filename)}</td>"
                    f"<td class='label'><code>{digest}</code></td></tr>")  # fmt: skip
    return (f"<p><b>Data source: the extracts in {_esc(extract_dir(config))}</b>, with these "
            "sha256 checksums:</p><table><thead><tr><th class='label'>file</th>"
            f"<th class='label'>sha256</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _validation(results: Path) -> str:
    rows = []
    for name in EXTRACTS:
        rep = json.loads((results / "validation" / f"{name}.json").read_text())
        rows.append(
            f"<tr><td class='label'>{_esc(name)}</td><td>{rep['rows']:,}</td>"
            f"<td class='label'>{'valid' if rep['valid'] else 'FAILED'}</td>"
            f"<td>{rep['n_failures']}</td><td class='label'><code>{rep['sha256']}</code></td></tr>"
        )
    return ("<table><thead><tr><th class='label'>Extract</th><th>Rows</th><th class='label'>"
            "Result</th><th>Failures</th><th class='label'>sha256 of the file checked</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>")  # fmt: skip


def _checksums_and_legend(config: dict) -> str:
    """What the run was made from, where its audit trail is, and the disclosure symbols."""
    import gf_eval

    return f"""<p class="source">Config sha256 <code>{config_sha256(config)}</code>; package
checksum <code>{tree_sha256(Path(gf_eval.__file__).parent)}</code>. The audit trail is in
{results_dir(config)}/provenance.json and {results_dir(config)}/MANIFEST.sha256
(<code>gf-eval audit --results {results_dir(config)}</code>).</p>
<p class="source">Published tables follow disclosure control: <b>c</b> a count from 1 to
{config['disclosure']['threshold']} or a count suppressed to protect one; <b>:</b> not
available; <b>z</b> not applicable.</p>"""


def value_for_money_events(package: str) -> set[str]:
    from gf_eval.analysis.value_for_money import PACKAGES

    return set(PACKAGES[package][1].values())


def _value_intro(working: Path, config: dict) -> str:
    """The value-for-money section's opening: the answer, its assumptions, the sources of its
    unit costs and what it cannot show."""
    vfm = config["value_for_money"]
    appraisal = pd.read_csv(working / "appraisal.csv", keep_default_na=False, na_values=[""])
    costs = pd.read_csv(working / "unit_costs.csv", keep_default_na=False, na_values=[""])
    head = appraisal[appraisal.get("headline", False).astype(bool)
                     & (appraisal["target_correlation"] == vfm["target_correlation"])]
    if head.empty:
        answer = ("<p><strong>No valuation:</strong> none of the packages of avoided events has "
                  "a verified unit cost for each of its events (Table V.4), so the programme "
                  "cannot be valued until the authority supplies its own "
                  "(config value_for_money.unit_costs).</p>")  # fmt: skip
    else:
        h = head.iloc[0]
        answer = (f"<p><strong>Answer ({_esc(h['description'])}): {_esc(h['verdict'])}.</strong> "
                  f"Benefit-cost ratio {h['bcr']:.2f} (95% interval {h['bcr_low']:.2f} to "
                  f"{h['bcr_high']:.2f}); the ratio exceeded 1 in "
                  f"{100 * h['p_bcr_above_1']:.0f}% of {int(h['draws'])} draws from the "
                  "models' uncertainty.")  # fmt: skip
        if "true_bcr" in h and pd.notna(h["true_bcr"]):
            answer += (f" On these synthetic data the generator's true effects give a ratio "
                       f"of {h['true_bcr']:.2f}.")
        answer += "</p>"
        notes = appraisal["note"].astype("string").fillna("")  # all empty: read as float
        unvalued = appraisal[notes.str.startswith("not valued")]
        if len(unvalued):
            answer += ("<p>Not valued for want of a verified unit cost: "
                       + "; ".join(_esc(d) for d in unvalued["description"]) + ".</p>")
    used = costs[costs["used"].astype(str).str.lower() == "true"]
    if not head.empty:  # the events of the packages valued, not every event costed
        valued = appraisal[appraisal["bcr"].notna()]["package"]
        events = {e for name in valued for e in value_for_money_events(name)}
        used = used[used["event"].isin(events)]
    sources = "".join(f"<li>{_esc(r['event'])}: {_esc(r['source'])}"
                      f"{' (' + _esc(r['location']) + ')' if r['location'] else ''}</li>"
                      for _, r in used.iterrows())  # fmt: skip
    y = int(vfm["price_year"])
    return (answer + "<h3>Assumptions</h3><ul>"
            f"<li>Prices of {y}-{str(y + 1)[-2:]}, uprated with the HM Treasury GDP deflators "
            f"({_esc(vfm['deflators_file'])}); discounting at {100 * vfm['discount_rate']:g}% a "
            "year from the start (Green Book), year 0 undiscounted.</li>"
            "<li>Events avoided are the primary models' counterfactual minus fitted counts; the "
            f"effect at the data end is assumed to last {vfm['horizon_months']} months more, "
            "neither growing nor fading.</li>"
            "<li>Uncertainty comes from draws of each model's coefficients; the targets' "
            f"estimation errors are assumed correlated {vfm['target_correlation']:g} "
            "(a package that adds targets is also given at 0, 0.5 and 1).</li>"
            "<li>What is added: services of different agencies (a MARAC's work, a child in "
            "need episode). DVA re-referrals are a subset of the referrals with DVA and the "
            "Home Office's cost per victim is a wider valuation of the same repeat cases, so "
            "both are alternatives, never added.</li>"
            "<li>The programme's cost is from config value_for_money.programme; the figures "
            "shipped there are illustrative, not Growing Futures' accounts.</li></ul>"
            f"<h3>Sources of the unit costs valued</h3><ul>{sources or '<li>none</li>'}</ul>"
            "<h3>What this cannot show</h3><ul>"
            "<li>Benefits the targets do not measure (children's wellbeing, health, police and "
            "justice costs outside the Home Office figure, later child protection plans or "
            "care), and costs the programme moved to other services.</li>"
            "<li>Whether the effect lasts beyond the data: the horizon is an assumption, and "
            "the one-way sensitivity shows how much it matters.</li>"
            "<li>Unit costs are national averages from public sources; only those checked "
            "against their source are used (Table V.4).</li></ul>")  # fmt: skip


def build(root: str | Path, config: dict) -> str:
    """The report's HTML from the files the workflow wrote under `root`."""
    root = Path(root)
    results = root / results_dir(config)
    tables, figures = results / "tables", results / "figures"
    models = results / "working" / "models"
    parts = []
    for part in appendix.PARTS:
        module = appendix._module(part)
        names = [n for n in module.TABLES if not (part == "targets" and n == "targets")]
        body = "".join(_table_section(tables, n) for n in names)
        body += "".join(_figure_section(figures, n) for n in module.FIGURES)
        if part == "vfm":
            body = _value_intro(results / "working" / "value_for_money", config) + body
        parts.append(f'<section id="part-{part}"><h2>{_esc(PART_TITLES[part])}</h2>{body}'
                     "</section>")  # fmt: skip
    toc = "".join(f'<li><a href="#part-{p}">{_esc(t)}</a></li>' for p, t in PART_TITLES.items())
    truth = ""
    if synthetic_data(config) and (models / "truth_check.csv").is_file():
        truth = ("<h3>Estimates against the generator's true effects (working table)</h3>"
                 "<p class='caption'>Each target's primary estimates, of the relative change at "
                 "the data end and of the average relative change over the post-intervention "
                 "months, with their 95% intervals, against the effects the synthetic data were "
                 "generated with; the last column says whether the interval covers it."
                 "</p>" + _table_html(models / "truth_check.csv"))  # fmt: skip
    summaries = (models / "summaries.txt").read_text(encoding="utf-8")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Growing Futures evaluation: quantitative re-run</title><style>{CSS}</style></head><body>
<h1>Growing Futures evaluation: re-run of the quantitative analyses</h1>
{_source(root, config)}
{_checksums_and_legend(config)}
<ol><li><a href="#targets">The targets and the verdicts</a></li>{toc}
<li><a href="#checks">Validation reports and model diagnostics</a></li></ol>
<h2 id="targets">1. The three targets and the verdicts</h2>
{_table_section(tables, "targets")}
{"".join(parts)}
<h2 id="checks">Validation reports and model diagnostics</h2>
<h3>Validation of the extracts</h3>{_validation(results)}
<p class="caption">Each file was checked against its schema (docs/data_dictionary.md); the full
reports are in {results_dir(config)}/validation/.</p>
{truth}
<h3>Primary models: summaries and residual diagnostics</h3>
{_summaries_html(summaries)}
</body></html>
"""


def _summaries_html(text: str) -> str:
    """The models' text summaries, one block per target under its own heading."""
    from gf_eval.appendix.targets_tables import DESCRIPTIONS

    blocks = [b for b in re.split(r"\n\s*\n", text.strip("\n")) if b.strip()]
    out = []
    for block in blocks:
        first, _, rest = block.partition("\n")
        if first.strip() in DESCRIPTIONS and rest.startswith("="):
            out.append(f"<h4>{_esc(DESCRIPTIONS[first.strip()])} <small>({_esc(first.strip())})"
                       f"</small></h4><pre>{_esc(rest)}</pre>")  # fmt: skip
        else:
            out.append(f"<pre>{_esc(block)}</pre>")
    return "".join(out)


def _working_table(csv: Path) -> str:
    """A working CSV of estimates (no sidecar, no counts), numbers to 3 decimals."""
    frame = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    for col in frame.select_dtypes("number").columns:
        frame[col] = frame[col].map(lambda v: "" if pd.isna(v) else f"{v:.3f}".rstrip("0")
                                    .rstrip("."))  # fmt: skip
    return _frame_html(frame.astype(str))


def _sites_source(config: dict, sites: dict[str, dict]) -> str:
    treated = [s for s, info in sites.items() if info["intervention_start"]]
    if config["multisite"].get("sites"):
        rows = "".join(f"<tr><td class='label'>{_esc(s)}</td><td class='label'>"
                       f"{_esc(info['extracts'])}</td><td class='label'>"
                       f"{_esc(info['intervention_start'] or 'comparison')}</td></tr>"
                       for s, info in sites.items())  # fmt: skip
        return (f"<p><b>Data source: the extracts of {len(sites)} sites</b> ({len(treated)} "
                f"treated); the sha256 of every file is in {results_dir(config)}/provenance.json.</p>"
                "<table>"
                "<thead><tr><th class='label'>site</th><th class='label'>extracts</th>"
                f"<th class='label'>programme start</th></tr></thead><tbody>{rows}</tbody></table>")
    panel = config["multisite"]["panel"]
    return (f"<p><b>Data source: a synthetic national panel</b> of {len(sites)} local "
            f"authorities from the gf-eval generator (seed {config['seed']}, scenario "
            f"{_esc(config['synthetic']['scenario'] or 'null')}, size {panel.get('size', 1.0)}); "
            f"{len(treated)} treated from {_esc(panel['first_start'])}, "
            f"{panel['stagger_months']} month(s) apart; not real records.</p>")  # fmt: skip


def _sites_validation(results: Path, sites: dict[str, dict]) -> str:
    rows = []
    for site in sites:
        reports = json.loads((results / "validation" / "sites" / f"{site}.json")
                             .read_text(encoding="utf-8"))  # fmt: skip
        valid = all(r["valid"] for r in reports)
        rows.append(f"<tr><td class='label'>{_esc(site)}</td><td>{len(reports)}</td>"
                    f"<td>{sum(r['rows'] or 0 for r in reports)}</td><td class='label'>"
                    f"{'valid' if valid else 'FAILED'}</td>"
                    f"<td>{sum(r['n_failures'] for r in reports)}</td></tr>")  # fmt: skip
    return ("<table><thead><tr><th class='label'>site</th><th>extracts</th><th>rows</th>"
            "<th class='label'>result</th><th>failures</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")  # fmt: skip


def build_multisite(root: str | Path, config: dict) -> str:
    """The report of a multi-site run: pooled estimates and forest plots, every site's
    estimates, each treated site's own targets, and the validation of every site."""
    from gf_eval.appendix import multisite_figures
    from gf_eval.appendix.targets_tables import FIGURES as TARGET_FIGURES
    from gf_eval.sites import multisite_sites

    root = Path(root)
    out = root / results_dir(config)
    sites = multisite_sites(config)
    horizon = config["multisite"]["horizon_months"]
    treated = [s for s, info in sites.items() if info["intervention_start"]]
    def figs(kind: str) -> str:
        return "".join(_figure_section(out / "figures", n) for n in multisite_figures.FIGURES
                       if n.startswith(f"{kind}_"))  # fmt: skip

    forests = figs("forest")
    truth = ""
    if (out / "truth_check.csv").is_file():
        truth = ("<h3>Pooled estimates against the panel's true effects</h3>"
                 + _working_table(out / "truth_check.csv"))  # fmt: skip
    per_site = []
    for site in treated:
        folder = out / "sites" / site
        body = "".join(_table_section(folder / "tables", n) for n in
                       ("targets", "target_prepost", "target_sensitivity"))  # fmt: skip
        body += "".join(_figure_section(folder / "figures", n) for n in TARGET_FIGURES)
        for part in appendix.SITE_PARTS:
            module = appendix._module(part)
            body += (f"<h3>{_esc(PART_TITLES[part])}</h3>"
                     + "".join(_table_section(folder / "tables", n) for n in module.TABLES)
                     + "".join(_figure_section(folder / "figures", n) for n in module.FIGURES))
        per_site.append(f'<section id="site-{_esc(site)}"><h2>{_esc(site)} (programme from '
                        f"{_esc(sites[site]['intervention_start'])})</h2>{body}</section>")
    toc = "".join(f'<li><a href="#site-{_esc(s)}">{_esc(s)}</a></li>' for s in treated)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Multi-site evaluation: controlled comparisons across local authorities</title>
<style>{CSS}</style></head><body>
<h1>Multi-site evaluation: controlled comparisons across local authorities</h1>
{_sites_source(config, sites)}
{_checksums_and_legend(config)}
<ol><li><a href="#designs">The designs side by side</a></li>
<li><a href="#pooled">Pooled estimates across the treated sites (ITS)</a></li>
<li><a href="#synthetic-control">Synthetic control</a></li>
<li><a href="#staggered">Staggered difference-in-differences</a></li>
<li><a href="#sites">Every treated site's estimates</a></li>{toc}
<li><a href="#checks">Validation of every site</a></li></ol>
<h2 id="designs">The designs side by side</h2>
<p class="caption">Per target, each design's estimate of the treated sites' relative change: the
single-site and controlled ITS pooled by random-effects meta-analysis (change at month
{horizon}), the synthetic control and its augmented (ridge) form averaged over the treated sites,
and the staggered DiD (both over the five months up to month {horizon}). ci: the design's own
95% interval; ri: the 95% randomisation interval and p_permutation the randomisation p-value,
from giving the programme to comparison sites instead (with few treated sites the analytic
p-values of the ITS and the DiD are too small). On synthetic data the true change of each
estimand is beside it, and whether each interval holds it.</p>
{_working_table(out / "methods.csv")}
{figs("designs")}
<h2 id="pooled">Pooled estimates across the treated sites (ITS)</h2>
<p class="caption">For each target and model, the random-effects meta-analysis (REML, modified
Hartung-Knapp interval) of the treated sites' relative change {horizon} months after each
site's own start: the estimate and its 95% interval, the 95% prediction interval for a new
site, and the heterogeneity (tau², I², Q and its p-value). Single-site: each site's own
interrupted time series; controlled: against the comparison sites pooled into one series.</p>
{_working_table(out / "pooled.csv")}
{truth}
{forests}
<h2 id="synthetic-control">Synthetic control</h2>
<p class="caption">For each treated site and target, a synthetic control from the comparison
sites, weighted to track the site's monthly log rate before its start: plain (weights on the
simplex) and augmented (a ridge correction of the remaining pre-period imbalance). The effect is
the mean gap over the five months up to month {horizon}; p_effect ranks it among the comparison
sites' placebo effects, p_ratio the post/pre RMSPE ratio among theirs; the interval inverts the
placebo distribution. pre_rmspe measures the pre-period fit.</p>
{_working_table(out / "synthetic_control.csv")}
{figs("synthetic_control")}
<h2 id="staggered">Staggered difference-in-differences</h2>
<p class="caption">Callaway and Sant'Anna's group-time effects on the monthly log rate, against
the not-yet-treated and never-treated sites, aggregated by event time (figures) and overall
(below), with the placebo-date check: every start moved 12 months earlier, on pre-programme data
only, where a design without problems finds no effect.</p>
{_working_table(out / "placebo_dates.csv")}
{figs("event_study")}
<h2 id="sites">Every treated site's estimates</h2>
<p class="caption">Each treated site and target, single-site and controlled: the relative change
{horizon} months after the start, its 95% interval, the log ratio and its standard error (the
inputs of the pooling), the p-value and the months fitted.</p>
{_working_table(out / "site_estimates.csv")}
{"".join(per_site)}
<h2 id="checks">Validation of every site</h2>{_sites_validation(out, sites)}
<p class="caption">Each site's series extracts were checked against their schemas
(docs/data_dictionary.md); the full reports are in {results_dir(config)}/validation/sites/.</p>
</body></html>
"""


def write(root: str | Path, out: str | Path, config: dict) -> Path:
    """The report of the run `config` describes: multi-site or single-site."""
    from gf_eval.sites import multisite_sites

    multi = bool(multisite_sites(config))
    write_text(out, build_multisite(root, config) if multi else build(root, config))
    return Path(out)
