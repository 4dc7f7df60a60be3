"""Many sites: the controlled and pooled estimates recover the truth, and a national shock that
hits every site is absorbed by the controlled model but not by the single-site one."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import copy_project, snakemake
from gf_eval.appendix import SITE_PARTS, outputs
from gf_eval.appendix.multisite_figures import FIGURES
from gf_eval.appendix.publish import read_published
from gf_eval.disclosure import check
from gf_eval import synth
from gf_eval.analysis import multisite
from gf_eval.config import site_config
from gf_eval.derive.site import site_series
from gf_eval.sites import multisite_sites

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
        cfg = (site_config(config, info["intervention_start"])
               if info["intervention_start"] else config)  # fmt: skip
        site_series(raw, work / f"{name}.parquet", work / f"{name}.json", cfg)
        series[name] = pd.read_parquet(work / f"{name}.parquet")
    starts = {name: info["intervention_start"] for name, info in sites.items()}
    return {"config": config, "sites": sites, **multisite.run(series, starts, config),
            "truth": multisite.panel_truth(config)}  # fmt: skip


@pytest.fixture(scope="module")
def shocked(config, tmp_path_factory):
    return _panel_run(config, {**PANEL, "shock": SHOCK}, tmp_path_factory.mktemp("shocked"))


@pytest.mark.slow
def test_panel_sites_scale_with_population_and_stagger_their_starts(shocked):
    sites = shocked["sites"]
    starts = [s["intervention_start"] for s in sites.values()]
    assert starts[:3] == ["2015-09-01", "2015-11-01", "2016-01-01"] and starts[3:] == [None] * 5
    for info in sites.values():
        scale = info["settings"]["synthetic"]["scale"]
        assert scale == pytest.approx(PANEL["size"] * info["population"] / 300_000, rel=1e-3)
        assert info["settings"]["synthetic"]["shock"] == SHOCK
    assert len({s["settings"]["seed"] for s in sites.values()}) == len(sites)


def test_comparison_trends_change_with_size_centred_and_capped(config):
    from gf_eval.sites import TREND_CHANGE_CAP, panel_sites

    config = copy.deepcopy(config)
    trends = {"sd": 0.15, "size_correlation": 0.9, "start": "2014-12-01"}
    config["multisite"] = {"panel": {**PANEL, "n_sites": 60, "comparison_trends": trends}}
    sites = panel_sites(config)
    change = [s["settings"]["synthetic"].get("trend_change") for s in sites.values()]
    assert change[:3] == [None] * 3  # treated sites keep the common trend
    slopes = np.array([c["slope"] for c in change[3:]])
    assert {c["start"] for c in change[3:]} == {"2014-12-01"}
    assert abs(slopes.mean()) < 1e-5  # centred: a plain mean over comparisons has no change
    assert np.abs(slopes).max() <= 2 * TREND_CHANGE_CAP
    size = np.log([s["population"] for s in sites.values()][3:])
    assert np.corrcoef(size, slopes)[0, 1] > 0.7
    # weighted by size, as a pool of summed counts is, the change is not zero
    weights = np.exp(size)
    assert (weights * slopes).sum() / weights.sum() > 0.03
    config["multisite"]["panel"].pop("comparison_trends")
    assert all("trend_change" not in s["settings"]["synthetic"] for s in panel_sites(config).values())


def test_a_trend_change_is_a_kink_in_the_latent_log_rate():
    from gf_eval.synth.series import Rate

    months = pd.period_range("2012-04", periods=24, freq="M")
    t = np.arange(24)
    flat = Rate(base=0.4, trend=0.01)
    kinked = Rate(base=0.4, trend=0.01, trend_change=0.24, change_t=6)
    gap = kinked.expected_log(months, t) - flat.expected_log(months, t)
    np.testing.assert_allclose(gap[:7], 0.0)
    np.testing.assert_allclose(gap[7:], 0.02 * (t[7:] - 6))  # 0.24 a year, 0.02 a month


def _pooled(run, model):
    p = run["pooled"]
    return p[p["model"] == model].set_index("target")


@pytest.mark.slow
def test_controlled_pooled_estimates_recover_the_truth_despite_a_national_shock(shocked):
    pooled = _pooled(shocked, "controlled")
    for target, truth in shocked["truth"].items():
        row = pooled.loc[target]
        assert row["ci_low"] <= truth <= row["ci_high"], (target, truth, row.to_dict())
        assert row["sites"] == 3


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.workflow
def test_the_multisite_workflow_runs_per_site_and_leaves_the_default_alone(tmp_path):
    project = copy_project(tmp_path / "project")
    small = {"multisite": {"horizon_months": 12, "panel": {**PANEL, "n_sites": 5, "treated": 2},
                           "sites": {}}}  # fmt: skip
    (project / "config" / "small.yaml").write_text(yaml.safe_dump(small))
    run = snakemake(project, "--configfile", "config/small.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    for site in ("la001", "la002", "la003", "la004", "la005"):
        assert (project / "data" / "interim" / "multisite" / "sites" / f"{site}.parquet").is_file()
        assert (project / "results" / "multisite" / "validation" / "sites" / f"{site}.json").is_file()
        assert (project / "logs" / "multisite" / "sites" / f"{site}.log").is_file()
    pooled = pd.read_csv(project / "results" / "multisite" / "pooled.csv")
    assert set(pooled["model"]) == {"single-site", "controlled"} and (pooled["sites"] == 2).all()
    # every design for every target, each with a randomisation p-value in [0, 1]
    methods = pd.read_csv(project / "results" / "multisite" / "methods.csv")
    assert len(methods) == 3 * 5 and methods.groupby("target").size().eq(5).all()
    assert methods["p_permutation"].dropna().between(0, 1).all()
    sc = pd.read_csv(project / "results" / "multisite" / "synthetic_control.csv")
    assert set(sc["site"]) == {"la001", "la002"} and set(sc["method"]) == {"synthetic", "augmented"}
    assert (project / "results" / "multisite" / "truth_check.csv").is_file()
    # each treated site's own targets tables, under disclosure control
    for site in ("la001", "la002"):
        for name in ("targets", "target_prepost", "target_sensitivity"):
            frame, spec, meta = read_published(
                project / "results" / "multisite" / "sites" / site / "tables" / f"{name}.csv")
            assert check(frame, spec) == [] and "synthetic" in meta["source"]
        assert list(frame["target"].unique()) == ["repeat_marac", "dva_rereferrals", "cin_dva"]
        # and its whole evaluation: every table of Appendices 5 to 8, under disclosure control
        for part in SITE_PARTS:
            for name in outputs(part)["tables"]:
                if name.endswith(".csv"):
                    frame, spec, meta = read_published(
                        project / "results" / "multisite" / "sites" / site / "tables" / name)
                    assert check(frame, spec) == [], (site, name)
                    assert "synthetic" in meta["source"]
            for name in outputs(part)["figures"]:
                assert (project / "results" / "multisite" / "sites" / site / "figures"
                        / name).is_file()  # fmt: skip
        # and a figure per target that names the site and draws no Doncaster funding line
        for target in ("repeat_marac", "dva_rereferrals", "cin_dva"):
            for ext in ("png", "svg"):
                assert (project / "results" / "multisite" / "sites" / site / "figures"
                        / f"target_{target}.{ext}").stat().st_size > 10_000  # fmt: skip
            meta = json.loads((project / "results" / "multisite" / "sites" / site / "figures"
                               / f"target_{target}.json").read_text())  # fmt: skip
            assert f"the programme at {site}" in meta["caption"]
            assert "funding" not in meta["caption"] and "synthetic" in meta["source"]
    assert not (project / "results" / "multisite" / "sites" / "la003").exists()
    for target in ("repeat_marac", "dva_rereferrals", "cin_dva"):
        assert (project / "results" / "multisite" / "figures" / f"forest_{target}.png").is_file()
    _check_multisite_report(project, pooled, treated=["la001", "la002"])
    _check_multisite_audit_trail(project, ["la001", "la002", "la003", "la004", "la005"])
    # The default run is untouched: it plans the single-site workflow, not the panel.
    plan = snakemake(project, "-n")
    assert "panel_synthesise" not in plan.stdout and "synthesise" in plan.stdout


def _audit(project, *configs):
    options = [arg for c in configs for arg in ("--config", str(project / c))]
    return subprocess.run([sys.executable, "-m", "gf_eval", "audit", "--root", str(project),
                           "--results", "results/multisite", *options],
                          capture_output=True, text=True)  # fmt: skip


def _check_multisite_audit_trail(project, sites):
    """provenance.json records every site's inputs and seed, the manifest checks with
    sha256sum, and the audit compares against both config files of the run."""
    prov = json.loads((project / "results" / "multisite" / "provenance.json").read_text())
    expected = {f"data/raw/panel/{s}/{name}" for s in sites
                for name in ("marac_cases.csv", "cs_referrals.csv", "truth.json")}  # fmt: skip
    expected |= {"data/raw/panel/la001/casework.csv", "data/raw/panel/la001/survey.csv"}
    assert expected <= set(prov["inputs"])
    for rel, digest in prov["inputs"].items():
        assert hashlib.sha256((project / rel).read_bytes()).hexdigest() == digest
    truth = json.loads((project / "data" / "raw" / "panel" / "la002" / "truth.json").read_text())
    assert prov["sites"]["la002"]["seed"] == truth["seed"]
    assert prov["sites"]["la002"]["intervention_start"] == "2015-11-01"
    assert prov["sites"]["la004"]["intervention_start"] is None
    check = subprocess.run(["sha256sum", "--quiet", "-c", "results/multisite/MANIFEST.sha256"],
                           cwd=project, capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    manifest = (project / "results" / "multisite" / "MANIFEST.sha256").read_text()
    assert "results/multisite/pooled.csv" in manifest
    assert "results/multisite/sites/la001/figures/target_cin_dva.png" in manifest
    assert "results/multisite/sites/la001/tables/a7_outcomes.csv" in manifest
    both = _audit(project, "config/config.yaml", "config/small.yaml")
    assert both.returncode == 0, both.stderr
    recorded = _audit(project)  # the config files the run recorded
    assert recorded.returncode == 0, recorded.stderr
    assert "config compared: config/config.yaml + config/small.yaml" in recorded.stderr
    alone = _audit(project, "config/config.yaml")  # the panel's config left out
    assert alone.returncode == 1 and "config differs from the run's in: multisite" in alone.stderr
    raw = project / "data" / "raw" / "panel" / "la003" / "cs_referrals.csv"
    raw.write_text(raw.read_text() + "\n")
    changed = _audit(project, "config/config.yaml", "config/small.yaml")
    assert changed.returncode == 1
    assert "raw input changed since the run: data/raw/panel/la003/cs_referrals.csv" in changed.stderr


def test_forest_plot_draws_each_given_estimate_where_it_belongs(config):
    from matplotlib.container import ErrorbarContainer

    from gf_eval.appendix.multisite_figures import forest

    config = {**config, "multisite": {"horizon_months": 12}}
    rows = [("s1", "single-site", -0.2, -0.4, 0.1), ("s1", "controlled", -0.3, -0.5, -0.05),
            ("s2", "single-site", 0.5, 0.1, 1.0), ("s2", "controlled", np.nan, np.nan, np.nan)]
    estimates = pd.DataFrame(rows, columns=["site", "model", "relative_change", "ci_low", "ci_high"])
    estimates["target"] = "cin_dva"
    pooled = pd.DataFrame([{"target": "cin_dva", "model": "single-site", "relative_change": 0.1,
                            "ci_low": -0.5, "ci_high": 1.2, "pi_low": -0.8, "pi_high": 3.0}])
    ax = forest(estimates, pooled, "cin_dva", config).figure.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["pooled (random effects)", "s2", "s1"]
    bars = {c.get_label(): c for c in ax.containers if isinstance(c, ErrorbarContainer)}
    single = bars["single-site ITS"].lines[0]
    assert np.allclose(single.get_xdata(), [0.8, 1.5]) and np.allclose(single.get_ydata(), [2.15, 1.15])
    controlled = bars["controlled ITS"].lines[0]  # s2's controlled model was not estimable
    assert np.allclose(controlled.get_xdata(), [0.7]) and np.allclose(controlled.get_ydata(), [1.85])
    diamond = ax.patches[0].get_xy()[:, 0]
    assert np.allclose(sorted(set(np.round(diamond, 9))), [0.5, 1.1, 2.2])
    low, high = ax.get_xlim()
    assert low < 0.2 and high > 4.0  # the prediction interval is inside the axis


def _check_multisite_report(project, pooled, treated):
    """One self-contained report: pooled estimates as in pooled.csv, a forest plot per target,
    a section per treated site with its tables and figures, and no comparison site's section."""
    report = (project / "results" / "multisite" / "report.html").read_text()
    per_site = 3 + sum(f.endswith(".png") for part in SITE_PARTS for f in outputs(part)["figures"])
    assert report.count("data:image/png;base64,") == len(FIGURES) + per_site * len(treated)
    for section in ("designs", "pooled", "synthetic-control", "staggered"):
        assert f'<h2 id="{section}">' in report
    for site in treated:
        assert f'<section id="site-{site}">' in report
    assert 'id="site-la003"' not in report and "synthetic national panel" in report
    for _, row in pooled.iterrows():
        shown = f"{row['relative_change']:.3f}".rstrip("0").rstrip(".")
        assert f"<td class=\"label\">{row['target']}</td><td class=\"label\">{row['model']}</td>" \
            f"<td class=\"\">{row['sites']}</td><td class=\"\">{shown}</td>" in report
    assert "http" not in report.replace("http-equiv", "")  # self-contained: nothing to fetch
