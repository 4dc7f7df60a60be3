"""Every published table and figure, on the default data and on a deliberately tiny authority:
disclosure control holds, and the outputs are complete, captioned and reproducible."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_pipeline, with_synthetic
from gf_eval import appendix
from gf_eval.appendix.publish import read_published, write_figure, write_tables, source_note
from gf_eval.disclosure import check

THRESHOLD = 5


def _write_all(run: dict, out) -> dict:
    """Build and write every part from an in-memory pipeline run."""
    from gf_eval.appendix import (casework_tables, marac_tables, social_care_tables,
                                  survey_tables, targets_tables)  # fmt: skip

    config, derived, typed, models = run["config"], run["derived"], run["typed"], run["models"]
    parts = {
        "targets": (targets_tables.tables(derived["monthly_series"], models, config),
                    targets_tables.figures(derived["monthly_series"], models, config)),
        "5": (marac_tables.tables(derived, config), marac_tables.figures(derived, config)),
        "6": (social_care_tables.tables(derived, typed, config),
              social_care_tables.figures(derived, typed, config)),
        "7": (casework_tables.tables(typed, config), casework_tables.figures(typed, config)),
        "8": (survey_tables.tables(typed, config), survey_tables.figures(typed, config)),
    }  # fmt: skip
    built = {}
    for part, (tables, figures) in parts.items():
        write_tables(tables, out / "tables", config)
        for fig in figures:
            write_figure(fig, out / "figures", source_note(config))
        built[part] = (tables, figures)
    return built


@pytest.fixture(scope="module")
def default_outputs(pipeline, tmp_path_factory):
    out = tmp_path_factory.mktemp("published")
    return out, _write_all(pipeline, out)


@pytest.fixture(scope="module")
def tiny_outputs(settings, config, tmp_path_factory):
    """An authority a twentieth of Doncaster's size: most cells are small counts."""
    work = tmp_path_factory.mktemp("tiny")
    run = run_pipeline(with_synthetic(settings, scale=0.05), config, work)
    return work, _write_all(run, work)


def _visible_small_counts(frame: pd.DataFrame, spec) -> list:
    bad = []
    for col in spec.counts:
        values = pd.to_numeric(frame[col], errors="coerce")
        hits = values[(values >= 1) & (values <= THRESHOLD)]
        bad += [(r, col, v) for r, v in hits.items()]
    return bad


@pytest.mark.parametrize("which", ["default_outputs",
                                   pytest.param("tiny_outputs", marks=pytest.mark.slow)])
def test_no_published_table_shows_a_small_count(which, request):
    out, _ = request.getfixturevalue(which)
    csvs = sorted((out / "tables").glob("*.csv"))
    assert len(csvs) >= 20
    suppressed = 0
    for csv in csvs:
        frame, spec, meta = read_published(csv)
        assert _visible_small_counts(frame, spec) == [], csv.name
        assert check(frame, spec, THRESHOLD) == [], csv.name
        assert meta["caption"] and meta["title"] and "synthetic" in meta["source"]
        suppressed += int((frame == "c").to_numpy().sum())
    if which == "tiny_outputs":
        assert suppressed > 100, "a tiny authority must need suppression"


def _column_sums(frame: pd.DataFrame, counts: list[str]) -> set[tuple[str, frozenset]]:
    """Every count column that equals the sum of two or more other count columns in all rows."""
    found = set()
    values = frame[counts].apply(pd.to_numeric).to_numpy(dtype=float)
    for i, total in enumerate(counts):
        others = [j for j in range(len(counts)) if j != i]
        for k in range(2, min(len(others), 8) + 1):
            for combo in itertools.combinations(others, k):
                s = values[:, list(combo)].sum(axis=1)
                if np.array_equal(s, values[:, i]) and values[:, i].any():
                    found.add((total, frozenset(counts[j] for j in combo)))
    return found


def test_every_additive_relation_between_columns_is_declared(default_outputs):
    # Secondary suppression only protects the totals it is told about: an undeclared column
    # that sums others would let a reader recover a suppressed cell by subtraction. Searched on
    # the default data, where large counts make chance equalities unlikely (a chance equality
    # is no risk anyway: a reader cannot know it holds).
    _, built = default_outputs
    for tables, _figures in built.values():
        for t in tables:
            counts = list(t.spec.counts)
            if len(counts) < 3:
                continue
            declared = {(tot, frozenset(parts)) for tot, parts in t.spec.column_totals}
            undeclared = _column_sums(t.frame, counts) - declared
            # a relation implied by declared ones (e.g. nested totals) is also protected
            left = [u for u in undeclared if not _implied(u, declared, t.frame)]
            assert not left, (t.name, left)
            for label in t.frame.index:
                if "total" in str(label).lower():
                    assert label in {tot for tot, _ in t.spec.row_totals}, (t.name, label)


def _implied(relation, declared, frame) -> bool:
    """A relation follows from the declared ones when its vector over the columns (+1 total,
    -1 parts) lies in their span, together with the columns that are zero in every row."""
    cols = list(frame.columns)

    def vector(total, parts):
        v = np.zeros(len(cols))
        v[cols.index(total)] += 1
        for p in parts:
            v[cols.index(p)] -= 1
        return v

    basis = [vector(t, ps) for t, ps in declared]
    values = frame[[c for c in cols if c in frame]].apply(pd.to_numeric, errors="coerce")
    basis += [np.eye(len(cols))[i] for i, c in enumerate(cols) if (values[c] == 0).all()]
    if not basis:
        return False
    a = np.array(basis)
    return np.linalg.matrix_rank(np.vstack([a, vector(*relation)])) == np.linalg.matrix_rank(a)


def test_every_output_has_a_title_caption_and_source(default_outputs):
    out, built = default_outputs
    for tables, figures in built.values():
        for f in figures:
            meta = json.loads((out / "figures" / f"{f.name}.json").read_text())
            assert meta["title"] and meta["caption"] and "synthetic" in meta["source"]
            for ext in ("png", "svg"):
                assert (out / "figures" / f"{f.name}.{ext}").stat().st_size > 1000


def test_declared_outputs_match_what_is_built(default_outputs):
    _, built = default_outputs
    for part, (tables, figures) in built.items():
        declared = appendix.outputs(part)
        assert sorted(declared["tables"]) == sorted(f"{t.name}.{e}" for t in tables
                                                    for e in ("csv", "json"))  # fmt: skip
        assert sorted(declared["figures"]) == sorted(f"{f.name}.{e}" for f in figures
                                                     for e in ("png", "svg", "json"))  # fmt: skip


def test_targets_table_has_the_required_columns_and_matches_the_series(default_outputs, pipeline):
    out, _ = default_outputs
    frame, _, _ = read_published(out / "tables" / "targets.csv")
    assert list(frame.index) == ["repeat_marac", "dva_rereferrals", "cin_dva"]
    for col in ("pre_count", "post_count", "prepost_change_pct", "relative_change", "ci_low",
                "ci_high", "target_change", "verdict"):  # fmt: skip
        assert col in frame.columns
    # pre and post counts by hand from the monthly series and the config windows
    s, w = pipeline["derived"]["monthly_series"], pipeline["config"]["windows"]
    pre = s[(s["month"] >= w["pre"]["start"][:7]) & (s["month"] <= w["pre"]["end"][:7])]
    post = s[(s["month"] >= w["post"]["start"][:7]) & (s["month"] <= w["post"]["end"][:7])]
    assert len(pre) == len(post) == 12
    assert int(frame.loc["repeat_marac", "pre_count"]) == pre["marac_repeats"].sum()
    assert int(frame.loc["cin_dva", "post_count"]) == post["dva_referrals"].sum()
    change = 100 * (post["dva_rereferrals"].sum() / pre["dva_rereferrals"].sum() - 1)
    assert float(frame.loc["dva_rereferrals", "prepost_change_pct"]) == pytest.approx(change, abs=0.05)
    assert frame["target_change"].tolist() == ["-0.25", "-0.30", "-0.10"]


def test_survey_free_text_never_reaches_the_published_files(default_outputs, pipeline):
    from gf_eval.synth.survey import COMMENTS

    comments = pipeline["typed"]["survey"]["comment"].dropna()
    assert len(comments) > 10  # the extract does carry free text
    out, _ = default_outputs
    files = [p for p in out.rglob("*") if p.is_file() and p.suffix in (".csv", ".json", ".svg")]
    assert len(files) > 50
    for path in files:
        text = path.read_text(encoding="utf-8")
        for comment in COMMENTS:
            assert comment not in text, path.name
