"""The deterministic synthetic generator: Doncaster-like extracts whose true effects are known.

`generate(settings)` returns every extract as a DataFrame plus the truth; `write(...)` saves them
as CSV files and truth.json. The same settings give byte-identical files.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from gf_eval.parallel import map_forked
from gf_eval.config import Calendar
from gf_eval.extracts import EXTRACTS
from gf_eval.files import atomic_path, write_text
from gf_eval.synth.casework import simulate_casework
from gf_eval.synth.marac import CASES, REPEAT_SHARE, simulate_marac
from gf_eval.synth.series import Effect, Rate, WithShock, cumulative_relative_change
from gf_eval.synth.social_care import EVENTS, SHARE_A, SHARE_AB, simulate_social_care
from gf_eval.synth.survey import simulate_survey

TARGET_ESTIMANDS = {
    "repeat_marac": (
        "Monthly repeat MARAC cases under the 12-month rule, by referral month. Total cases "
        "carry no effect, so the repeat rate per case changes by the same proportion."
    ),
    "dva_rereferrals": (
        "Monthly re-referrals (12-month rule) whose episode has a DVA factor (3A, 3B or 3C), by "
        "referral month. Total referrals carry no effect, so the rate per referral changes by "
        "the same proportion."
    ),
    "cin_dva": (
        "Monthly referrals (children in need episodes) with a DVA factor, by referral month; the "
        "rate per referral changes by the same proportion."
    ),
}


def generate(settings: dict, extracts=None) -> tuple[dict[str, pd.DataFrame], dict]:
    """All extracts (internal columns start with '_') and the truth, from the config subset
    {seed, calendar, synthetic}; with `extracts` (names), only those. Each family of extracts
    has its own random stream, so leaving out the casework books or the survey (a panel's
    comparison sites need neither) changes nothing in the others; the truth then has no
    section for what was left out."""
    wanted = set(EXTRACTS if extracts is None else extracts)
    unknown = sorted(wanted - set(EXTRACTS))
    if unknown:
        raise ValueError(f"unknown extracts {unknown}; choose from {', '.join(EXTRACTS)}")
    cal = Calendar.from_config(settings)
    syn = settings["synthetic"]
    null = syn["scenario"] in (None, "null")
    effects = syn["effects"]
    its = {
        k: Effect() if null else Effect(effects[k]["level_change"], effects[k]["slope_change"])
        for k in TARGET_ESTIMANDS
    }
    casework_effects = {
        m: {k: 0.0 if null else v for k, v in e.items()} for m, e in effects["casework"].items()
    }
    survey_shifts = {s: 0.0 if null else v for s, v in effects["survey"].items()}
    # One independent stream per extract family: changing one generator leaves the others alone.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(settings["seed"]).spawn(4)]
    scale = float(syn["scale"])

    # An optional national shock moves the three target rates at every site alike.
    shock = syn.get("shock")
    paths = dict(its)
    if shock:
        t_shock = cal.month_index(pd.Timestamp(shock["start"]))
        paths = {k: WithShock(e, Effect(shock["level_change"], 0.0), t_shock) for k, e in its.items()}
    change = syn.get("trend_change") or {"slope": 0.0, "start": settings["calendar"]["data_start"]}
    kink = (float(change["slope"]), cal.month_index(pd.Timestamp(change["start"])))
    noisy = partial(target_noise, syn.get("target_noise"), kink)
    def social_and_casework():
        social, events, social_truth = simulate_social_care(
            cal, paths["dva_rereferrals"], paths["cin_dva"], scale, streams[1], noisy(SHARE_A),
            noisy(SHARE_AB),
        )
        tables, parts = dict(social), {"social_care": social_truth}
        if "casework" in wanted:
            tables["casework"], parts["casework"] = simulate_casework(
                cal, events, social["cs_children"], casework_effects, scale, streams[2]
            )
        return tables, parts

    def marac_and_survey():
        marac, marac_truth = simulate_marac(cal, paths["repeat_marac"], scale, streams[0],
                                            noisy(REPEAT_SHARE))  # fmt: skip
        tables, parts = {"marac_cases": marac}, {"marac": marac_truth}
        if "survey" in wanted:
            tables["survey"], parts["survey"] = simulate_survey(cal, survey_shifts, scale, streams[3])
            parts["survey"]["respondents"] = tables["survey"]["wave"].value_counts().sort_index().to_dict()
        return tables, parts

    # The families' streams are independent: the two halves side by side when there are
    # cores to spare (the whole run waits for this job), put together in a fixed order.
    (social_tables, social_parts), (marac_tables, marac_parts) = map_forked(
        lambda half: half(), [social_and_casework, marac_and_survey])
    tables = {"marac_cases": marac_tables["marac_cases"], **social_tables,
              **{k: v for k, v in marac_tables.items() if k != "marac_cases"}}  # fmt: skip
    parts = {"marac": marac_parts["marac"], **social_parts,
             **{k: v for k, v in marac_parts.items() if k != "marac"}}  # fmt: skip
    tables = {name: df for name, df in tables.items() if name in wanted}

    truth = {
        "scenario": "null" if null else "effects",
        "seed": settings["seed"],
        "scale": scale,
        "calendar": settings["calendar"],
        "t0": cal.t0,
        "t_end": cal.t_end,
        "shock": shock or None,
        "targets": _target_truth(cal, its),
        "other_series": {
            name: {"level_change": 0.0, "slope_change": 0.0}
            for name in ("marac_cases", "referrals", "cp_plans_dva", "looked_after_starts")
        },
        **parts,
        "rows": {name: int(len(df)) for name, df in tables.items()},
    }
    return tables, truth


def target_noise(setting: dict | None, kink: tuple[float, int], rate: Rate) -> Rate:
    """A target's latent share with the config's `synthetic.target_noise`: its AR(1)
    coefficient `rho` and marginal SD `sd` on the log scale, each keeping the built-in value
    when absent or null; and `kink`, (change of trend a year, from month), from the site's
    `synthetic.trend_change`."""
    setting = setting or {}
    return replace(rate, ar_rho=rate.ar_rho if setting.get("rho") is None else setting["rho"],
                   ar_sd=rate.ar_sd if setting.get("sd") is None else setting["sd"],
                   trend_change=kink[0], change_t=kink[1])  # fmt: skip


def _target_truth(cal: Calendar, its: dict[str, Effect]) -> dict:
    months = cal.months()
    t = np.arange(len(months))
    post = t >= cal.t0
    # Counterfactual expected counts weight the cumulative change over the post period.
    weights = {
        "repeat_marac": np.exp(CASES.expected_log(months, t) + REPEAT_SHARE.expected_log(months, t)),
        "dva_rereferrals": np.exp(EVENTS.expected_log(months, t) + SHARE_A.expected_log(months, t)),
        "cin_dva": np.exp(EVENTS.expected_log(months, t) + SHARE_AB.expected_log(months, t)),
    }
    out = {}
    for name, effect in its.items():
        out[name] = {
            "estimand": TARGET_ESTIMANDS[name],
            "level_change": effect.level_change,
            "slope_change": effect.slope_change,
            "months_post": int(post.sum()),
            "relative_change_end": effect.relative_change(cal.t_end, cal.t0),
            # The mean over the post months of the relative change of the rate, start to end.
            "relative_change_average": float(np.mean(np.expm1(effect.path(t[post], cal.t0)))),
            "relative_change_cumulative": cumulative_relative_change(
                weights[name][post], effect.path(t[post], cal.t0)
            ),
        }
    return out


def write(tables: dict[str, pd.DataFrame], truth: dict, outdir: str | Path) -> list[Path]:
    """Write each extract of `tables` as CSV (public columns only) and truth.json; return the
    paths."""
    outdir = Path(outdir)
    written = []
    for name, extract in EXTRACTS.items():
        if name not in tables:
            continue
        df = tables[name]
        public = df[[c for c in df.columns if not c.startswith("_")]]
        path = outdir / extract.filename
        with atomic_path(path) as tmp:
            public.to_csv(tmp, index=False, date_format="%Y-%m-%d", lineterminator="\n")
        written.append(path)
    write_text(outdir / "truth.json", json.dumps(truth, indent=2, sort_keys=True) + "\n")
    return [*written, outdir / "truth.json"]
