"""The report's cell formatting (hand-made cells) and the published columns' data dictionary
(gf_eval.appendix.columns): every column of every table has an entry, the sidecars carry the
entries and the table numbers, and docs/published_columns.md is in step."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from gf_eval.appendix import columns
from gf_eval.appendix.columns import SYMBOLS, lookup, number
from gf_eval.report.html import format_cell, format_interval, published_table_html

ROOT = Path(__file__).resolve().parents[1]


# --- cells ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "shown"), [
    ("-0.093", "-9.3%"), ("0.290", "+29.0%"), ("-0.08971723776", "-9.0%"), ("0", "0.0%"),
    ("-0.0004", "0.0%"), ("47.830", "+4783.0%"), ("-0.25", "-25.0%"),
])  # fmt: skip
def test_relative_changes_are_signed_percentages_with_one_decimal(text, shown):
    assert format_cell(text, "relative_change") == shown


@pytest.mark.parametrize(("text", "shown"), [
    ("0.0000", "<0.001"), ("0.0004", "<0.001"), ("0.0009", "<0.001"), ("0.0010", "0.001"),
    ("0.0490", "0.049"), ("0.049", "0.049"), ("0.0495", "0.050"), ("1.0000", "1.000"),
    ("0.2058", "0.206"),
])  # fmt: skip
def test_p_values_below_0_001_are_shown_as_such_else_three_decimals(text, shown):
    assert format_cell(text, "p_value") == shown


def test_percent_changes_counts_and_yes_no():
    assert format_cell("-10.7", "percent_change") == "-10.7%"
    assert format_cell("58.8", "percent_change") == "+58.8%"
    assert format_cell("1294", "count") == "1,294" and format_cell("28", "count") == "28"
    assert format_cell("42.5", "percent") == "42.5"
    assert format_cell("True", "yes_no") == "yes" and format_cell("False", "yes_no") == "no"
    assert format_cell("3.21", "score") == "3.21"
    assert format_cell("0.377", "statistic") == "0.377"
    assert format_cell("no evidence of reduction", "text") == "no evidence of reduction"


@pytest.mark.parametrize("unit", sorted(columns.UNITS))
@pytest.mark.parametrize("symbol", [*SYMBOLS, ""])
def test_disclosure_symbols_and_blanks_are_never_reformatted(symbol, unit):
    assert format_cell(symbol, unit) == symbol


def test_text_in_a_number_column_is_left_alone():
    assert format_cell("left out", "count") == "left out"
    assert format_cell("2012-04 to 2017-03", "relative_change") == "2012-04 to 2017-03"


def test_intervals_print_in_one_cell():
    assert format_interval("-0.093", "-0.362", "0.290", "relative_change") == \
        "-9.3% (-36.2% to +29.0%)"
    assert format_interval("-3.21", "-4.08", "-2.33", "score") == "-3.21 (-4.08 to -2.33)"
    assert format_interval("-10.7", "-50.1", "58.8", "percent_change") == \
        "-10.7% (-50.1% to +58.8%)"
    assert format_interval("z", "z", "z", "relative_change") == "z"
    assert format_interval("c", "c", "c", "score") == "c"
    assert format_interval("0.31", "c", "c", "score") == "0.31 (c to c)"


def test_a_published_frame_gets_labels_intervals_and_formats():
    frame = pd.DataFrame({"target": ["repeat_marac"], "relative_change": ["-0.323"],
                          "ci_low": ["-0.667"], "ci_high": ["0.378"], "mw_p": ["0.0000"],
                          "pre_count": ["c"]})  # fmt: skip
    meta = {"name": "targets", "columns": columns.columns_json(frame.columns, "targets")}
    text = published_table_html(frame, meta)
    assert "Relative change at data end (%) and 95% CI" in text
    assert "-32.3%" in text and "(-66.7% to +37.8%)" in text
    assert "&lt;0.001" in text and ">c</td>" in text
    assert "relative_change" not in text and "ci_low" not in text


def test_a_table_too_wide_for_a_page_is_transposed_or_split():
    wide = {f"dan_{i}": ["1", "2"] for i in range(1, 16)}
    frame = pd.DataFrame({"month_end": ["2015-09", "2015-10"], **wide})
    text = published_table_html(frame, {"name": "a7_open_caseload"})
    assert "transposed" in text and text.count("<table") == 1
    long = pd.DataFrame({"month_end": [f"m{i}" for i in range(20)],
                         **{f"dan_{i}": ["1"] * 20 for i in range(1, 16)}})  # fmt: skip
    text = published_table_html(long, {"name": "a7_open_caseload", "number": "Table 7.2"})
    assert text.count("<table") == 2 and "Table 7.2 (continued)" in text
    assert all(f">DAN {i}<" in text for i in range(1, 16))  # every column shown once


# --- the data dictionary and numbers -------------------------------------------------------------


def test_docs_published_columns_is_in_step_with_the_module():
    on_disk = (ROOT / "docs" / "published_columns.md").read_text(encoding="utf-8")
    assert on_disk == columns.markdown(), (
        "regenerate: python -c \"from gf_eval.appendix.columns import markdown; "
        "open('docs/published_columns.md', 'w').write(markdown())\"")


def test_numbers_follow_the_declared_order():
    from gf_eval.appendix import marac_tables, targets_tables

    assert number("Table", "targets", "targets") == "Table T.1"
    assert number("Table", "5", marac_tables.TABLES[2]) == "Table 5.3"
    assert number("Figure", "targets", targets_tables.FIGURES[0]) == "Figure T.1"
    assert number("Table", "5", "not_declared") is None
    assert number("Table", "elsewhere", "targets") is None


def _all_tables(run: dict) -> list:
    from gf_eval.appendix import (casework_tables, marac_tables, social_care_tables,
                                  survey_tables, targets_tables)  # fmt: skip

    config, derived, typed, models = run["config"], run["derived"], run["typed"], run["models"]
    return [*targets_tables.tables(derived["monthly_series"], models, config),
            *marac_tables.tables(derived, config),
            *social_care_tables.tables(derived, typed, config),
            *casework_tables.tables(typed, config), *survey_tables.tables(typed, config)]


def test_every_published_column_has_a_dictionary_entry(pipeline, tmp_path):
    from gf_eval.analysis import truth_check
    from gf_eval.appendix.publish import write_tables

    tables = _all_tables(pipeline)
    missing = [(t.name, c) for t in tables for c in [t.frame.index.name, *t.frame.columns]
               if lookup(str(c), t.name) is None]  # fmt: skip
    truth = truth_check(pipeline["models"]["estimates"], pipeline["truth"])
    missing += [("truth_check", c) for c in truth.columns if lookup(c, "truth_check") is None]
    assert missing == [], "add these to gf_eval/appendix/columns.py"
    # the sidecars carry the entries and the numbers
    write_tables(tables, tmp_path, pipeline["config"])
    for t in tables:
        meta = json.loads((tmp_path / f"{t.name}.json").read_text())
        csv_columns = pd.read_csv(tmp_path / f"{t.name}.csv", nrows=0).columns
        assert set(meta["columns"]) == set(csv_columns), t.name
        assert all(v["label"] and v["unit"] in columns.UNITS for v in meta["columns"].values())
        assert meta["number"] == number("Table", t.appendix, t.name) is not None


def test_captions_name_columns_by_their_headers_and_tables_by_their_numbers():
    from gf_eval.report.html import humanise

    meta = {"columns": {"mw_p_adjusted": {"label": "p, Mann-Whitney, Holm-adjusted",
                                          "unit": "p_value"}}}  # fmt: skip
    text = ("mw_p_adjusted: adjusted (analysis.survey_adjustment = holm); means are in "
            "a8_item_responses; rb_ci_* as in gf_eval.stats; target_sensitivity too.")
    assert humanise(text, meta) == (
        "\u201cp, Mann-Whitney, Holm-adjusted\u201d: adjusted (analysis.survey_adjustment = "
        "holm); means are in Table 8.2; rb_ci_* as in gf_eval.stats; Table T.3 too.")
