"""Synthetic MARAC cases: one row per case discussed, with repeats that follow the 12-month rule.

Each month's case count is Poisson around a latent rate (trend, summer peak, AR(1) noise). Each
case is a repeat with the month's repeat share, which carries the intervention effect; a repeat
re-refers a victim-perpetrator pair whose last referral was 7 to 365 days earlier, so the
SafeLives rule recovers exactly the simulated repeats. Non-repeats are new pairs, a victim with a
new perpetrator, or a pair returning more than 365 days after its last referral.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gf_eval.config import Calendar
from gf_eval.returns.ages import AGE_BAND_LOWS, age_band, age_in_years
from gf_eval.synth.series import Effect, Rate, choose, numbered, pseudo_keys, random_dates

CASES = Rate(base=27.0, trend=0.004, season_amplitude=0.08, peak_month=7, ar_rho=0.4, ar_sd=0.08)
REPEAT_SHARE = Rate(base=0.27, trend=0.0, season_amplitude=0.03, peak_month=12, ar_rho=0.3, ar_sd=0.06)

# Shares of non-repeat cases: a pair returning after more than 12 months; a known victim with a
# new perpetrator; otherwise a new victim.
RETURNING, NEW_PERPETRATOR = 0.10, 0.08
AGENCIES = {
    "police": 0.64, "idva": 0.09, "health": 0.06, "childrens_social_care": 0.06,
    "adult_social_care": 0.01, "probation": 0.03, "housing": 0.03, "mental_health": 0.02,
    "substance_misuse": 0.02, "education": 0.01, "voluntary_sector": 0.02, "other": 0.01,
}  # fmt: skip
AGE_BANDS = {"16-17": 0.013, "18-24": 0.22, "25-34": 0.33, "35-44": 0.23, "45-54": 0.13, "55+": 0.077}
ETHNIC = {"white": 0.885, "mixed": 0.025, "asian": 0.04, "black": 0.03, "other": 0.02}
MEETING_EVERY_DAYS, MEETING_NOTICE_DAYS = 14, 5
COORDINATOR_ERROR = 0.02  # share of coordinator flags flipped at random


def simulate_marac(
    cal: Calendar, effect: Effect, scale: float, rng: np.random.Generator,
    repeat_share: Rate = REPEAT_SHARE,
) -> tuple[pd.DataFrame, dict]:
    """Return the MARAC extract (internal columns start with '_') and its true parameters.
    `repeat_share` is the latent share of cases that are repeats (its noise can be set)."""
    months = cal.months(cal.history_start)
    t = np.arange(len(months)) + cal.month_index(cal.history_start)
    counts = rng.poisson(np.exp(CASES.draw_log(months, t, rng) + np.log(scale)))
    p_repeat = np.minimum(np.exp(repeat_share.draw_log(months, t, rng) + effect.path(t, cal.t0)), 0.95)
    dates = random_dates(months, counts, rng)
    case_month = np.repeat(np.arange(len(months)), counts)
    days = dates.astype("int64")
    n = days.size
    wants_repeat = rng.random(n) < p_repeat[case_month]
    branch = rng.random(n)

    pair_victim: list[int] = []
    pair_last = np.full(n, np.iinfo(np.int64).min // 2, dtype=np.int64)
    victim_of_case = np.empty(n, dtype=np.int64)
    pair_of_case = np.empty(n, dtype=np.int64)
    is_repeat = np.zeros(n, dtype=bool)
    gap = np.full(n, -1, dtype=np.int64)
    n_victims = 0
    for i in range(n):
        d = days[i]
        known = pair_last[: len(pair_victim)]
        pair = -1
        if wants_repeat[i]:
            eligible = np.flatnonzero((known >= d - 365) & (known <= d - 7))
            if eligible.size:
                pair, is_repeat[i] = int(rng.choice(eligible)), True
        elif branch[i] < RETURNING:
            eligible = np.flatnonzero((known < d - 365) & (known >= d - 1100))
            if eligible.size:
                pair = int(rng.choice(eligible))
        if pair < 0:
            if branch[i] < RETURNING + NEW_PERPETRATOR and n_victims:
                victim = int(rng.integers(n_victims))
            else:
                victim, n_victims = n_victims, n_victims + 1
            pair = len(pair_victim)
            pair_victim.append(victim)
        else:
            gap[i] = d - pair_last[pair]
        pair_last[pair] = d
        pair_of_case[i], victim_of_case[i] = pair, pair_victim[pair]

    victims = _victims(n_victims, rng)
    perp_of_pair = np.arange(len(pair_victim))
    perp_keys = pseudo_keys("P", len(pair_victim), rng)
    victim_keys = pseudo_keys("V", n_victims, rng)
    v = victims.iloc[victim_of_case].reset_index(drop=True)

    dash = _dash(n, is_repeat, rng)
    route = _route(dash, is_repeat, rng)
    children = rng.choice(6, size=n, p=[0.35, 0.25, 0.2, 0.12, 0.05, 0.03]).astype(float)
    referral = pd.to_datetime(dates)
    in_programme = (referral >= cal.intervention_start) & (referral <= cal.funding_end)
    dan = in_programme & (children > 0) & (rng.random(n) < 0.35)
    # Coordinators mostly agree with the rule, but count "12 months" loosely near the boundary.
    loose = (gap > 365) & (gap <= 400) & (rng.random(n) < 0.5)
    flag = is_repeat ^ (rng.random(n) < COORDINATOR_ERROR) | loose
    meeting = _meeting_dates(referral, cal, rng)

    df = pd.DataFrame(
        {
            "case_id": numbered("MC", np.arange(1, n + 1), 6),
            "victim_key": victim_keys[victim_of_case],
            "perpetrator_key": perp_keys[perp_of_pair[pair_of_case]],
            "referral_date": referral,
            "meeting_date": meeting,
            "referring_agency": choose(rng, AGENCIES, n),
            "referral_route": route,
            "dash_score": _with_missing(dash, 0.03, rng),
            "children_in_household": _with_missing(children, 0.05, rng),
            "victim_sex": v["sex"].to_numpy(),
            "victim_age_band": v["age_band"].to_numpy(),
            "victim_ethnic_group": v["ethnic_group"].to_numpy(),
            "victim_disabled": v["disabled"].to_numpy(),
            "victim_lgbt": v["lgbt"].to_numpy(),
            "perpetrator_sex": _perpetrator_sex(v, rng),
            "coordinator_repeat": np.where(flag, "Y", "N"),
            "dan_involved": np.where(dan, "Y", "N"),
            "_repeat": is_repeat,
        }
    )
    for col in ("dash_score", "children_in_household"):
        df[col] = df[col].astype("Int64")
    # A victim's age band follows from one date of birth, so it can move up between cases.
    birth = _birth_dates(victims["age_band"], referral, victim_of_case, rng)
    df["_victim_birth_date"] = birth[victim_of_case]
    df["victim_age_band"] = age_band(age_in_years(df["_victim_birth_date"], referral)).to_numpy()
    # Cases whose meeting falls after the extract date are not yet recorded.
    df = df[df["meeting_date"] <= cal.data_end].reset_index(drop=True)
    truth = {
        "repeat_share_pre": REPEAT_SHARE.base,
        "cases_per_month_at_data_start": CASES.base * scale,
        "coordinator_flag_error_rate": COORDINATOR_ERROR,
    }
    return df, truth


def _victims(n: int, rng: np.random.Generator) -> pd.DataFrame:
    sex = choose(rng, {"F": 0.93, "M": 0.065, "U": 0.005}, n)
    eth = choose(rng, ETHNIC, n).astype(object)
    eth[rng.random(n) < 0.025] = None
    disabled = np.where(rng.random(n) < 0.10, "Y", "N").astype(object)
    disabled[rng.random(n) < 0.15] = None
    lgbt = np.where(rng.random(n) < 0.016, "Y", "N").astype(object)
    lgbt[rng.random(n) < 0.30] = None
    age = choose(rng, AGE_BANDS, n).astype(object)
    age[rng.random(n) < 0.01] = None
    return pd.DataFrame(
        {"sex": sex, "age_band": age, "ethnic_group": eth, "disabled": disabled, "lgbt": lgbt}
    )


def _birth_dates(bands: pd.Series, referral: pd.DatetimeIndex, victim_of_case: np.ndarray,
                 rng: np.random.Generator) -> pd.DatetimeIndex:  # fmt: skip
    """Each victim's date of birth: an age inside the victim's band at their first referral
    (55+ taken as 55 to 74); unknown (NaT) where the band is."""
    first = pd.Series(referral).groupby(victim_of_case).min().reindex(range(len(bands)))
    lows = dict(zip(AGE_BANDS, AGE_BAND_LOWS))
    width = dict(zip(AGE_BANDS, np.diff([*AGE_BAND_LOWS, 75])))
    lo = bands.map(lows).astype(float).to_numpy()
    span = bands.map(width).astype(float).to_numpy()
    years = lo + rng.random(len(bands)) * span
    days = np.floor(years * 365.25).astype("float")
    birth = first.to_numpy() - pd.to_timedelta(np.nan_to_num(days), unit="D").to_numpy()
    return pd.DatetimeIndex(np.where(np.isnan(lo), np.datetime64("NaT"), birth))


def _perpetrator_sex(v: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    n = len(v)
    same = (v["lgbt"] == "Y").to_numpy() | (rng.random(n) < 0.03)
    opposite = np.where(v["sex"].to_numpy() == "M", "F", "M")
    sex = np.where(same & (v["sex"].to_numpy() != "U"), v["sex"].to_numpy(), opposite)
    return np.where(rng.random(n) < 0.01, "U", sex)


def _dash(n: int, is_repeat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    high = rng.random(n) < np.where(is_repeat, 0.6, 0.72)
    return np.where(high, 14 + rng.binomial(10, 0.3, n), rng.binomial(13, 0.72, n))


def _route(dash: np.ndarray, is_repeat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = dash.size
    below = choose(rng, {"professional_judgement": 0.6, "potential_escalation": 0.4}, n)
    below = np.where(is_repeat & (rng.random(n) < 0.5), "repeat", below)
    high = np.where(rng.random(n) < 0.95, "visible_high_risk", "professional_judgement")
    return np.where(dash >= 14, high, below)


def _meeting_dates(referral: pd.DatetimeIndex, cal: Calendar, rng: np.random.Generator) -> pd.Series:
    first = cal.history_start + pd.offsets.Week(weekday=3)  # fortnightly, on Thursdays
    days_in = (referral + pd.Timedelta(days=MEETING_NOTICE_DAYS) - first).days.to_numpy()
    k = np.ceil(days_in / MEETING_EVERY_DAYS).astype(int) + (rng.random(len(referral)) < 0.1)
    return pd.Series(first + pd.to_timedelta(k * MEETING_EVERY_DAYS, unit="D"))


def _with_missing(values: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    out = values.astype(float)
    out[rng.random(out.size) < share] = np.nan
    return out
