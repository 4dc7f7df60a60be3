"""Many sites: the controlled and pooled estimates recover the truth, and a national shock that
hits every site is absorbed by the controlled model but not by the single-site one."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import copy_project, snakemake
from gf_eval.appendix.publish import read_published
from gf_eval.disclosure import check
from gf_eval import synth
from gf_eval.analysis import multisite
from gf_eval.derive.site import multisite_sites, site_series

PANEL = {"n_sites": 8, "treated": 3, "first_start": "2015-09-01", "stagger_months": 2,
         "size": 1.0}  # fmt: skip
SHOCK = {"start": "2016-06-01", "level_change": -0.4}


def _panel_run(config: dict, panel: dict, work) -> dict:
    config = copy.deepcopy(config)
    config["multisite"] = {"horizon_months": 12, "panel": panel, "sites": {}}
    sites = multisite_sites(config)
    series = {}
    for name, info in sites.items():
        raw = work / name
        synth.write(*synth.generate(info["settings"]), raw)
        cfg = (multisite.site_config(config, info["intervention_start"])
               if info["intervention_start"] else config)  # fmt: skip
        site_series(raw, work / f"{name}.parquet", work / f"{name}.json", cfg)
        series[name] = pd.read_parquet(work / f"{name}.parquet")
    starts = {name: info["intervention_start"] for name, info in sites.items()}
    return {"config": config, "sites": sites, **multisite.run(series, starts, config),
            "truth": multisite.panel_truth(config)}  # fmt: skip


@pytest.fixture(scope="module")
def shocked(config, tmp_path_factory):
    return _panel_run(config, {**PANEL, "shock": SHOCK}, tmp_path_factory.mktemp("shocked"))


def test_panel_sites_scale_with_population_and_stagger_their_starts(shocked):
    sites = shocked["sites"]
    starts = [s["intervention_start"] for s in sites.values()]
    assert starts[:3] == ["2015-09-01", "2015-11-01", "2016-01-01"] and starts[3:] == [None] * 5
    for info in sites.values():
        scale = info["settings"]["synthetic"]["scale"]
        assert scale == pytest.approx(PANEL["size"] * info["population"] / 300_000, rel=1e-3)
        assert info["settings"]["synthetic"]["shock"] == SHOCK
    assert len({s["settings"]["seed"] for s in sites.values()}) == len(sites)


def _pooled(run, model):
    p = run["pooled"]
    return p[p["model"] == model].set_index("target")


def test_controlled_pooled_estimates_recover_the_truth_despite_a_national_shock(shocked):
    pooled = _pooled(shocked, "controlled")
    for target, truth in shocked["truth"].items():
        row = pooled.loc[target]
        assert row["ci_low"] <= truth <= row["ci_high"], (target, truth, row.to_dict())
        assert row["sites"] == 3


def test_the_single_site_model_mistakes_the_shock_for_the_programme(shocked):
    # The shock (-0.4 on the log scale from June 2016) falls inside every treated site's first
    # 12 months, so a model without comparison sites adds it to the programme's effect.
    single, controlled = _pooled(shocked, "single-site"), _pooled(shocked, "controlled")
    biases = []
    for target, truth in shocked["truth"].items():
        bias_single = np.log1p(single.loc[target, "relative_change"]) - np.log1p(truth)
        bias_controlled = np.log1p(controlled.loc[target, "relative_change"]) - np.log1p(truth)
        assert bias_single < -0.1, (target, bias_single)
        assert abs(bias_controlled) < abs(bias_single), target
        biases.append(bias_single)
    # on average the single-site estimates carry most of the shock
    assert np.mean(biases) < -0.2


def test_site_estimates_hold_both_models_for_every_treated_site_and_target(shocked):
    est = shocked["estimates"]
    assert len(est) == 3 * 3 * 2 and (est["note"] == "").all()
    assert set(est["site"]) == {"la001", "la002", "la003"}
    assert (est["ci_low"] < est["relative_change"]).all()
    assert (est["relative_change"] < est["ci_high"]).all()


@pytest.mark.workflow
def test_the_multisite_workflow_runs_per_site_and_leaves_the_default_alone(tmp_path):
    project = copy_project(tmp_path / "project")
    small = {"multisite": {"horizon_months": 12, "panel": {**PANEL, "n_sites": 5, "treated": 2},
                           "sites": {}}}  # fmt: skip
    (project / "config" / "small.yaml").write_text(yaml.safe_dump(small))
    run = snakemake(project, "--configfile", "config/small.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    for site in ("la001", "la002", "la003", "la004", "la005"):
        assert (project / "data" / "interim" / "sites" / f"{site}.parquet").is_file()
        assert (project / "results" / "validation" / "sites" / f"{site}.json").is_file()
        assert (project / "logs" / "sites" / f"{site}.log").is_file()
    pooled = pd.read_csv(project / "results" / "multisite" / "pooled.csv")
    assert set(pooled["model"]) == {"single-site", "controlled"} and (pooled["sites"] == 2).all()
    assert (project / "results" / "multisite" / "truth_check.csv").is_file()
    # each treated site's own targets tables, under disclosure control
    for site in ("la001", "la002"):
        for name in ("targets", "target_prepost", "target_sensitivity"):
            frame, spec, meta = read_published(
                project / "results" / "multisite" / "sites" / site / f"{name}.csv")
            assert check(frame, spec) == [] and "synthetic" in meta["source"]
        assert list(frame["target"].unique()) == ["repeat_marac", "dva_rereferrals", "cin_dva"]
    assert not (project / "results" / "multisite" / "sites" / "la003").exists()
    # The default run is untouched: it plans the single-site workflow, not the panel.
    plan = snakemake(project, "-n")
    assert "panel_synthesise" not in plan.stdout and "synthesise" in plan.stdout
