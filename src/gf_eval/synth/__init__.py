"""The deterministic synthetic generator: Doncaster-like extracts whose true effects are known.

`generate(settings)` returns every extract as a DataFrame plus the truth; `write(...)` saves them
as CSV files and truth.json. The same settings give byte-identical files.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

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
            if (text := csv_bytes(public)) is not None:
                tmp.write_bytes(text)
            else:
                public.to_csv(tmp, index=False, date_format="%Y-%m-%d", lineterminator="\n")
        written.append(path)
    write_text(outdir / "truth.json", json.dumps(truth, indent=2, sort_keys=True) + "\n")
    return [*written, outdir / "truth.json"]


NEEDS_QUOTES = '[,"\r\n]'  # what to_csv's minimal quoting can quote
PER_DAY = {"D": 1, "h": 24, "m": 24 * 60, "s": 86_400, "ms": 86_400 * 10**3,
           "us": 86_400 * 10**6, "ns": 86_400 * 10**9}  # fmt: skip
# Days from 1970 of the years 1000-9999, which %Y writes with four digits, as pyarrow does.
MIN_DAY, MAX_DAY = (int(np.datetime64(d).astype(np.int64)) for d in ("1000-01-01", "9999-12-31"))


def csv_bytes(df: pd.DataFrame) -> bytes | None:
    """The bytes of df.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\\n"),
    written by pyarrow (a third of the time for the series extracts); None for a frame it
    cannot promise to write alike: a column other than text, whole numbers or dates, a date
    outside the years 1000-9999, a value or name that would be quoted, or one column (whose
    empty value pandas quotes)."""
    names = list(df.columns)
    plain = all(isinstance(c, str) and not re.search(NEEDS_QUOTES, c) for c in names)
    if len(names) < 2 or not plain:
        return None
    arrays = []
    for name in names:
        text = _csv_column(df[name])
        if text is None:
            return None
        arrays.append(text)
    out = pa.BufferOutputStream()
    out.write((",".join(names) + "\n").encode())
    # No quotes at all: every value was checked to need none. Nulls are empty, as in pandas.
    pa_csv.write_csv(pa.table(arrays, names=names), out,
                     pa_csv.WriteOptions(include_header=False, quoting_style="none"))  # fmt: skip
    return out.getvalue().to_pybytes()


def _csv_column(col: pd.Series) -> pa.Array | None:
    """A column's cells as strings (null where to_csv writes nothing), or None (see csv_bytes)."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        unit, count = np.datetime_data(dtype)
        if unit not in PER_DAY or count != 1:
            return None
        values = col.to_numpy()
        missing = np.isnat(values)
        # The date %Y-%m-%d writes: whole days, floored (numpy's own cast to days overflows
        # near the earliest nanosecond times).
        days = np.floor_divide(values.view(np.int64), PER_DAY[unit])
        present = days[~missing]
        if present.size and not (MIN_DAY <= present.min() and present.max() <= MAX_DAY):
            return None
        dates = pa.array(days.astype("datetime64[D]"), mask=missing)
        return pc.cast(dates, pa.string())  # ISO: YYYY-MM-DD
    if isinstance(dtype, pd.Int64Dtype) or (isinstance(dtype, np.dtype) and dtype.kind == "i"):
        return pc.cast(pa.array(col, type=pa.int64()), pa.string())
    if isinstance(dtype, pd.StringDtype) or (
        dtype == object and pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty")
    ):
        try:
            text = pa.array(col, type=pa.string())
        except (pa.ArrowException, TypeError):  # not all text
            return None
        return None if pc.any(pc.match_substring_regex(text, NEEDS_QUOTES)).as_py() else text
    return None

