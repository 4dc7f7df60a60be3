"""Synthetic children's social care extracts, shaped like the Children in Need census.

Referrals arrive as family events (a police notification often refers every child in the home).
Each event has one of four types, with monthly shares that carry the intervention effects:
  A  re-referral with a DVA factor   (share p_A: target dva_rereferrals)
  B  first referral with a DVA factor (p_AB - p_A, so DVA episodes A+B have share p_AB: cin_dva)
  C  re-referral without DVA
  D  first referral without DVA
A re-referral event re-refers the children of a family referred 7 to 365 days earlier, so the
12-month re-referral rule recovers types A and C. The total volume carries no effect, so a
target's count and its rate per referral change by the same proportion.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from gf_eval import codes
from gf_eval.config import Calendar
from gf_eval.frames import sort_rows
from gf_eval.returns.ages import age_in_years
from gf_eval.synth.series import Effect, Rate, choose, choose_from_uniforms, pseudo_keys
from gf_eval.synth.series import numbered, random_dates, uniforms_ahead

EVENTS = Rate(base=220.0, trend=0.002, season_amplitude=0.07, peak_month=11, ar_rho=0.5, ar_sd=0.07)
SHARE_A = Rate(base=0.075, trend=0.0005, ar_rho=0.3, ar_sd=0.08)  # DVA re-referrals
SHARE_AB = Rate(base=0.40, trend=0.001, season_amplitude=0.03, peak_month=1, ar_rho=0.3, ar_sd=0.04)
SHARE_C = Rate(base=0.15, ar_rho=0.3, ar_sd=0.05)  # re-referrals without DVA
CHILDREN_PER_EVENT = [0.65, 0.22, 0.09, 0.04]  # 1, 2, 3, 4 children
CHILDREN_MEAN = float(np.dot(CHILDREN_PER_EVENT, [1, 2, 3, 4]))
OLD_FAMILY = 0.15  # first-type events from a family last referred more than 12 months ago

# No 5D (early help): the census's schemas to 2022 have no such source, so the study years'
# returns could not carry one; those referrals count as 5B (other LA services).
SOURCES_DVA = {
    "6": 0.50, "2A": 0.08, "2B": 0.01, "3A": 0.02, "3B": 0.03, "3C": 0.01, "3D": 0.01, "3E": 0.02,
    "3F": 0.01, "5A": 0.03, "5B": 0.04, "5C": 0.01, "1A": 0.05, "1B": 0.01, "1C": 0.01,
    "1D": 0.01, "4": 0.02, "7": 0.02, "8": 0.04, "9": 0.02, "10": 0.05,
}  # fmt: skip
SOURCES_OTHER = {
    "6": 0.18, "2A": 0.20, "2B": 0.03, "3A": 0.04, "3B": 0.04, "3C": 0.02, "3D": 0.02, "3E": 0.02,
    "3F": 0.02, "5A": 0.04, "5B": 0.06, "5C": 0.02, "1A": 0.05, "1B": 0.02, "1C": 0.02,
    "1D": 0.01, "4": 0.03, "7": 0.03, "8": 0.07, "9": 0.03, "10": 0.05,
}  # fmt: skip
NEEDS_DVA = {"N1": 0.55, "N4": 0.2, "N5": 0.2, "N3": 0.02, "N8": 0.01, "N0": 0.01, "N9": 0.01}
NEEDS_OTHER = {
    "N1": 0.45, "N2": 0.05, "N3": 0.05, "N4": 0.15, "N5": 0.12, "N6": 0.05, "N7": 0.01,
    "N8": 0.02, "N9": 0.08, "N0": 0.02,
}  # fmt: skip
CLOSURES = {"RC7": 0.8, "RC5": 0.07, "RC6": 0.03, "RC3": 0.05, "RC4": 0.03, "RC1": 0.015, "RC2": 0.005}
PLAN_CATEGORY_DVA = {"EMO": 0.55, "NEG": 0.25, "MUL": 0.1, "PHY": 0.07, "SAB": 0.03}
PLAN_CATEGORY_OTHER = {"NEG": 0.5, "EMO": 0.2, "PHY": 0.12, "SAB": 0.06, "MUL": 0.12}
ETHNICITY = {
    "WBRI": 0.82, "WIRI": 0.003, "WIRT": 0.005, "WOTH": 0.03, "WROM": 0.01, "MWBC": 0.02,
    "MWBA": 0.007, "MWAS": 0.007, "MOTH": 0.01, "AIND": 0.005, "APKN": 0.015, "ABAN": 0.002,
    "AOTH": 0.007, "BCRB": 0.003, "BAFR": 0.012, "BOTH": 0.003, "CHNE": 0.002, "OOTH": 0.012,
    "REFU": 0.005, "NOBT": 0.02,
}  # fmt: skip
# Other factors recorded alongside (probability each, per assessment).
OTHER_FACTORS_DVA = {"1B": 0.2, "2B": 0.12, "4B": 0.35, "16A": 0.12, "17A": 0.25, "18A": 0.05}
OTHER_FACTORS = {
    "1B": 0.08, "2B": 0.07, "4A": 0.06, "4B": 0.18, "5B": 0.03, "6A": 0.04, "7A": 0.02, "10A": 0.04,
    "11A": 0.02, "14A": 0.05, "15A": 0.04, "16A": 0.15, "17A": 0.08, "18A": 0.08, "19A": 0.04, "20": 0.1,
}  # fmt: skip


def simulate_social_care(
    cal: Calendar, dva_rereferral: Effect, cin_dva: Effect, scale: float, rng: np.random.Generator,
    share_a: Rate = SHARE_A, share_ab: Rate = SHARE_AB,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, dict]:
    """Return the linked tables, the internal event list (for the casework books), and truth.
    `share_a` and `share_ab` are the latent shares of referrals that are DVA re-referrals and
    DVA referrals (their noise can be set)."""
    months = cal.months(cal.history_start)
    t = np.arange(len(months)) + cal.month_index(cal.history_start)
    counts = rng.poisson(np.exp(EVENTS.draw_log(months, t, rng) + np.log(scale)))
    p_a = np.exp(share_a.draw_log(months, t, rng) + dva_rereferral.path(t, cal.t0))
    p_ab = np.exp(share_ab.draw_log(months, t, rng) + cin_dva.path(t, cal.t0))
    p_c = np.exp(SHARE_C.draw_log(months, t, rng))
    if np.any(p_ab - p_a < 0.05) or np.any(p_ab + p_c > 0.95):
        raise ValueError("synthetic effects push referral-type shares out of range")
    dates = random_dates(months, counts, rng)
    month = np.repeat(np.arange(len(months)), counts)
    u = rng.random(dates.size)
    event_type = np.select(
        [u < p_a[month], u < p_ab[month], u < p_ab[month] + p_c[month]], ["A", "B", "C"], "D"
    )
    events, children = _families(dates, event_type, rng)
    referrals = _referrals(events, children, cal, rng)
    tables = _episodes(referrals, cal, rng)
    tables["cs_children"] = _children_table(children, rng)
    _assign_keys(tables, events, len(children), rng)
    truth = {
        "referrals_per_month_at_data_start": EVENTS.base * scale * CHILDREN_MEAN,
        "dva_rereferral_share_pre": SHARE_A.base,
        "dva_share_pre": SHARE_AB.base,
        "rereferral_share_pre": SHARE_A.base + SHARE_C.base,
    }
    return tables, events, truth


SHIFT = 6  # a bucket of the pools' counts holds 2**SHIFT families
# Weight of a recent family in a re-referral's choice, by its pool class (1: no DVA referral
# yet, 2: one), for a type A and a type C event.
WEIGHTS = {True: np.array([0, 1, 4]), False: np.array([0, 4, 1])}
A_WEIGHT, C_WEIGHT = tuple(WEIGHTS[True].tolist()), tuple(WEIGHTS[False].tolist())
MARGIN = 1.0  # tests set it huge, to take numpy's own steps at every re-referral


class Pools:
    """The families an event on some day can re-refer: `recent` ones, last referred 7 to 365
    days before (class 2 when one of their referrals had DVA, else 1), and `old` ones, 366 to
    1500 days before. They are counted by bucket of 2**SHIFT families, so that the k-th of
    them in family order is found from the counts and one bucket, not from every family (a
    year's families, thousands at a large site, at each re-referral). `last` and `dva` are
    the generator's lists, read as it updates them."""

    def __init__(self, n: int, last: list[int], dva: list[bool]):
        buckets = (n >> SHIFT) + 1
        self.last, self.dva = last, dva
        self.recent = np.zeros(n, dtype=np.int8)
        self.old = np.zeros(n, dtype=np.int8)
        # Summed weights of the recent families in each bucket, for type A and type C events.
        self.weight = {True: np.zeros(buckets, np.int64), False: np.zeros(buckets, np.int64)}
        self.old_count = np.zeros(buckets, np.int64)
        # The same arrays as memoryviews, for the one-element reads and writes of every event
        # (a third of numpy's time each); numpy does the sums and searches.
        self._recent_of, self._old_of = memoryview(self.recent), memoryview(self.old)
        self._a, self._c = memoryview(self.weight[True]), memoryview(self.weight[False])
        self._old_n = memoryview(self.old_count)
        self.referred: dict[int, list[int]] = defaultdict(list)  # day: families referred then
        self.day: int | None = None

    def advance(self, day: int) -> None:
        """Move the families whose windows open or close by `day` in or out of the pools."""
        if day == self.day:
            return
        start = day if self.day is None else self.day + 1
        last = self.last
        for d in range(start, day + 1):
            for f in self.referred.get(d - 7, ()):
                if last[f] == d - 7:  # not referred again since
                    self._recent(f, 2 if self.dva[f] else 1)
            for f in self.referred.get(d - 366, ()):
                if last[f] == d - 366:
                    self._recent(f, 0)
                    self._old(f, 1)
            for f in self.referred.pop(d - 1501, ()):
                if last[f] == d - 1501:
                    self._old(f, 0)
        self.day = day

    def referral(self, family: int, day: int) -> None:
        """`family` was referred on `day` (its `last`): it leaves both pools until its windows
        open again."""
        if self._recent_of[family]:
            self._recent(family, 0)
        if self._old_of[family]:
            self._old(family, 0)
        self.referred[day].append(family)

    def _recent(self, f: int, cls: int) -> None:
        was, b = self._recent_of[f], f >> SHIFT
        self._recent_of[f] = cls
        self._a[b] += A_WEIGHT[cls] - A_WEIGHT[was]
        self._c[b] += C_WEIGHT[cls] - C_WEIGHT[was]

    def _old(self, f: int, member: int) -> None:
        self._old_n[f >> SHIFT] += member - self._old_of[f]
        self._old_of[f] = member

    def pick_recent(self, rng: np.random.Generator, type_a: bool, n_families: int) -> int:
        """The family a type A (or C) event re-refers, or -1 when there is none (drawing
        nothing). It is what rng.choice(recent, p=weight / weight.sum()) picks, `recent` the
        pool in family order: numpy draws one uniform u and takes the first family whose
        cumulative share exceeds u. The shares are integer prefix sums C over S, so that is the
        first C > u * S, found in the counts, unless u * S is so near an integer that numpy's
        rounding of the shares could decide (bounded below; then it is numpy's own steps)."""
        cum = self.weight[type_a][: (n_families >> SHIFT) + 1].cumsum()
        total = int(cum[-1])
        if not total:
            return -1
        u = rng.random()
        t = u * total
        # numpy's cumulative shares are within 3 (k + 2) 2**-53 of C / S for k families (k <= S),
        # and u * S is rounded once: an integer farther than this from t decides alike.
        if abs(t - round(t)) <= (4 * total + 8) * 2.0**-53 * total * MARGIN:
            return self._numpy_choice(u, type_a, n_families)
        target = int(t) + 1  # the first family whose prefix sum reaches it
        b = int(cum.searchsorted(target))
        lo = b << SHIFT
        within = WEIGHTS[type_a][self.recent[lo : lo + (1 << SHIFT)]].cumsum()
        return lo + int(within.searchsorted(target - (int(cum[b - 1]) if b else 0)))

    def _numpy_choice(self, u: float, type_a: bool, n_families: int) -> int:
        """rng.choice(recent, p=weight / weight.sum()) with its uniform `u`: numpy's steps."""
        recent = np.flatnonzero(self.recent[:n_families])
        weight = np.where((self.recent[recent] == 2) == type_a, 4.0, 1.0)
        cdf = (weight / weight.sum()).cumsum()
        cdf /= cdf[-1]
        return int(recent[cdf.searchsorted(u, side="right")])

    def pick_old(self, rng: np.random.Generator, n_families: int) -> int:
        """The old family an event re-refers, rng.choice(old) (one integer drawn), or -1."""
        cum = self.old_count[: (n_families >> SHIFT) + 1].cumsum()
        total = int(cum[-1])
        if not total:
            return -1
        target = int(rng.integers(0, total)) + 1
        b = int(cum.searchsorted(target))
        lo = b << SHIFT
        within = self.old[lo : lo + (1 << SHIFT)].cumsum()
        return lo + int(within.searchsorted(target - (int(cum[b - 1]) if b else 0)))


def _families(dates: np.ndarray, event_type: np.ndarray, rng: np.random.Generator):
    """Assign each event to a family and its children, keeping the 12-month rule exact."""
    days = dates.astype("int64")
    n = days.size
    size = rng.choice(4, size=n, p=CHILDREN_PER_EVENT) + 1
    old = rng.random(n) < OLD_FAMILY
    last = [0] * n  # last event day per family (families <= events)
    dva_history = [False] * n
    pools = Pools(n, last, dva_history)
    family_children: list[list[int]] = []
    child_birth: list[int] = []
    child_family: list[int] = []
    event_family: list[int] = []
    event_children: list[list[int]] = []
    # The loop reads Python lists, not numpy arrays element by element (the same values, a
    # third of the time); the event types it changes are written back at the end.
    day_list, types = days.tolist(), event_type.tolist()
    old_list, size_list = old.tolist(), size.tolist()
    for i in range(n):
        d, kind, nf = day_list[i], types[i], len(family_children)
        pools.advance(d)
        fam = -1
        if kind in ("A", "C"):
            fam = pools.pick_recent(rng, kind == "A", nf)
            if fam < 0:  # no family to re-refer (only in the first weeks of history)
                types[i] = "B" if kind == "A" else "D"
        elif old_list[i]:
            fam = pools.pick_old(rng, nf)
        kids = [] if fam < 0 else [c for c in family_children[fam] if d - child_birth[c] < 18 * 365]
        if not kids:
            if kind in ("A", "C"):  # every child has aged out: a first referral after all
                types[i] = "B" if kind == "A" else "D"
            fam = nf
            first, count = len(child_birth), size_list[i]
            kids = list(range(first, first + count))
            # One draw each: rng.integers(size=count) gives the same values, slower (6 us a call).
            child_birth.extend([d - int(rng.integers(0, 17 * 365)) for _ in range(count)])
            child_family.extend([fam] * count)
            family_children.append(kids)
        last[fam] = d
        if types[i] in ("A", "B"):
            dva_history[fam] = True
        pools.referral(fam, d)
        event_family.append(fam)
        event_children.append(kids)
    event_type[:] = types
    events = pd.DataFrame(
        {
            "date": pd.to_datetime(dates),
            "family": np.array(event_family, dtype=np.int64),
            "type": event_type,
        }
    )
    events["children"] = event_children
    children = pd.DataFrame({"family": child_family, "birth_day": child_birth})
    return events, children


def _referrals(events: pd.DataFrame, children: pd.DataFrame, cal: Calendar, rng) -> pd.DataFrame:
    ev = events.reset_index(names="event").explode("children").rename(columns={"children": "child"})
    ev["child"] = ev["child"].astype(int)
    n_events = len(events)
    source = np.where(
        np.isin(events["type"], ["A", "B"]),
        choose(rng, SOURCES_DVA, n_events),
        choose(rng, SOURCES_OTHER, n_events),
    ).astype(object)
    # The census requires a source, so an unrecorded one is "10" (unknown), not a blank.
    source[rng.random(n_events) < 0.005] = "10"
    ev["referral_source"] = source[ev["event"]]
    ev["dva"] = ev["type"].isin(["A", "B"]).to_numpy()
    # Age in completed years, as the census counts it from the date of birth.
    birth = pd.to_datetime(children.loc[ev["child"], "birth_day"].to_numpy(), unit="D")
    ev["age"] = age_in_years(pd.Series(birth), ev["date"]).to_numpy()
    return ev.reset_index(drop=True)


def _episodes(ref: pd.DataFrame, cal: Calendar, rng) -> dict[str, pd.DataFrame]:
    n = len(ref)
    end = cal.data_end
    dva = ref["dva"].to_numpy()
    referral_date = ref["date"]
    need = np.where(dva, choose(rng, NEEDS_DVA, n), choose(rng, NEEDS_OTHER, n)).astype(object)
    need[rng.random(n) < 0.005] = None
    assessed = dva | (rng.random(n) > 0.06)  # a few referrals close before any assessment
    a_start = referral_date + pd.to_timedelta(rng.integers(0, 6, n), unit="D")
    a_done = a_start + pd.to_timedelta(np.round(rng.gamma(4.0, 6.5, n)).astype(int) + 3, unit="D")
    nfa = rng.random(n) < np.where(dva, 0.25, 0.35)
    stay = pd.to_timedelta(np.round(rng.exponential(240, n)).astype(int) + 30, unit="D")
    closure = np.where(nfa, a_done + pd.to_timedelta(rng.integers(0, 15, n), unit="D"), a_done + stay)
    closure = pd.Series(pd.to_datetime(closure))
    reason = np.where(nfa, "RC8", choose(rng, CLOSURES, n)).astype(object)
    closure[~assessed] = referral_date[~assessed] + pd.to_timedelta(rng.integers(0, 6, n), unit="D")[~assessed]
    reason[~assessed] = "RC7"
    cin = assessed & ~nfa

    # Child protection plans and looked-after starts happen inside open CIN episodes.
    has_plan = cin & (rng.random(n) < np.where(dva, 0.18, 0.08))
    p_start = a_done + pd.to_timedelta(rng.integers(3, 31, n), unit="D")
    p_end = p_start + pd.to_timedelta(rng.integers(90, 541, n), unit="D")
    closure = closure.where(~has_plan, np.maximum(closure, p_end + pd.Timedelta(days=14)))
    category = np.where(
        dva, choose(rng, PLAN_CATEGORY_DVA, n), choose(rng, PLAN_CATEGORY_OTHER, n)
    )
    looked_after = cin & (rng.random(n) < 0.04)
    la_date = a_done + pd.to_timedelta(rng.integers(0, 301, n), unit="D")
    looked_after &= la_date < closure

    ref_ids = numbered("R", np.arange(1, n + 1), 7)
    authorised = a_done.where(a_done <= end)
    referrals = pd.DataFrame(
        {
            "referral_id": ref_ids,
            "referral_date": referral_date,
            "referral_source": ref["referral_source"],
            "primary_need": need,
            "age_at_referral": ref["age"].astype("Int64"),
            "closure_date": closure.where(closure <= end),
            "closure_reason": np.where(closure <= end, reason, None),
            "_type": ref["type"],
            "_child": ref["child"],
            "_family": ref["family"],
        }
    )
    first = pd.DataFrame(
        {"referral_id": ref_ids, "start_date": a_start, "authorised_date": authorised, "dva": dva}
    )[assessed & (a_start <= end)]
    # A few open CIN episodes are re-assessed some months later.
    again = cin & (rng.random(n) < 0.03)
    r_start = a_done + pd.to_timedelta(rng.integers(60, 201, n), unit="D")
    r_done = r_start + pd.to_timedelta(rng.integers(10, 46, n), unit="D")
    again &= (r_start <= end) & (r_done < closure)
    second = pd.DataFrame(
        {
            "referral_id": ref_ids,
            "start_date": r_start,
            "authorised_date": r_done.where(r_done <= end),
            "dva": dva,
        }
    )[again]
    assessments = sort_rows(pd.concat([first, second]), ["start_date", "referral_id"])
    assessments.insert(0, "assessment_id", numbered("A", np.arange(1, len(assessments) + 1), 7))
    # As in the census, factors exist only for assessments completed from April 2013.
    recorded = assessments["authorised_date"] >= pd.Timestamp(codes.FACTORS_COLLECTED_FROM)
    factors = _factors(assessments[recorded], rng)
    plans = pd.DataFrame(
        {
            "referral_id": ref_ids,
            "start_date": p_start,
            "end_date": p_end.where(p_end <= end),
            "category": category,
        }
    )[has_plan & (p_start <= end)]
    plans.insert(0, "plan_id", numbered("P", np.arange(1, len(plans) + 1), 7))
    la = pd.DataFrame({"_child": ref["child"], "became_looked_after": la_date})[
        looked_after & (la_date <= end)
    ].drop_duplicates()
    return {
        "cs_referrals": referrals,
        "cs_assessments": assessments.drop(columns="dva").reset_index(drop=True),
        "cs_factors": factors,
        "cs_cp_plans": plans.reset_index(drop=True),
        "cs_looked_after": la.reset_index(drop=True),
    }


def _factors(assessments: pd.DataFrame, rng) -> pd.DataFrame:
    """The factors of each assessment, in order. A DVA assessment draws one uniform for each
    DVA factor (3B when none is found) and one for each factor of OTHER_FACTORS_DVA; another
    draws one for having no factors (code 21), else one for each factor of OTHER_FACTORS and,
    when it has none of them, one to choose one. The draws are those of a loop over the
    assessments, one `rng.random` call each, but made at once and read with numpy."""
    aid = assessments["assessment_id"].to_numpy()
    dva = assessments["dva"].to_numpy(dtype=bool)
    found_p = np.array([0.25, 0.85, 0.1])
    dva_codes = np.array([*codes.DVA_FACTORS, *OTHER_FACTORS_DVA], dtype=object)
    dva_p = np.array([*found_p, *OTHER_FACTORS_DVA.values()])
    other_codes = np.array(list(OTHER_FACTORS), dtype=object)
    other_p = np.array(list(OTHER_FACTORS.values()))
    n_dva, n_other = dva_p.size, 1 + other_p.size  # uniforms an assessment draws (at most)
    u = uniforms_ahead(rng, int(dva.sum()) * n_dva + int((~dva).sum()) * (n_other + 1))
    # For every position q: would an other assessment whose draws start there find a factor?
    hit = np.zeros(max(u.size - other_p.size, 0), dtype=bool)
    for j, p in enumerate(other_p):
        hit |= u[1 + j : hit.size + 1 + j] < p
    # Where each assessment's draws start, and which of four kinds it is (a sequential walk:
    # how many an assessment draws depends on its draws).
    none, hit_l = (u[: hit.size] < 0.2).tolist(), hit.tolist()
    start, kind, q = [], [], 0
    for is_dva in dva.tolist():
        start.append(q)
        if is_dva:
            kind.append(0)
            q += n_dva
        elif none[q]:
            kind.append(1)
            q += 1
        elif hit_l[q]:
            kind.append(2)
            q += n_other
        else:
            kind.append(3)
            q += n_other + 1
    rng.random(q)  # the uniforms read, taken from the real stream
    start, kind = np.array(start, dtype=np.int64), np.array(kind, dtype=np.int8)
    rows, found = [], []
    # DVA: the DVA factors drawn (3B when none), then the other factors drawn.
    at = np.flatnonzero(kind == 0)
    drawn = u[start[at, None] + np.arange(n_dva)] < dva_p
    drawn[~drawn[:, : found_p.size].any(axis=1), codes.DVA_FACTORS.index("3B")] = True
    i, j = np.nonzero(drawn)
    rows.append(at[i])
    found.append(dva_codes[j])
    at = np.flatnonzero(kind == 1)
    rows.append(at)
    found.append(np.full(at.size, codes.NO_FACTORS, dtype=object))
    at = np.flatnonzero(kind == 2)
    i, j = np.nonzero(u[start[at, None] + 1 + np.arange(other_p.size)] < other_p)
    rows.append(at[i])
    found.append(other_codes[j])
    at = np.flatnonzero(kind == 3)
    rows.append(at)
    found.append(choose_from_uniforms(OTHER_FACTORS, u[start[at] + n_other]))
    # Back into assessment order; each assessment's factors stay in the order drawn.
    rows_all = np.concatenate(rows)
    if not rows_all.size:  # as the frame of no rows was, columns of no type
        return pd.DataFrame([], columns=["assessment_id", "factor"])
    order = np.argsort(rows_all, kind="stable")
    return pd.DataFrame(
        {"assessment_id": aid[rows_all[order]], "factor": np.concatenate(found)[order]}
    )


def _assign_keys(tables: dict[str, pd.DataFrame], events: pd.DataFrame, n_children: int, rng):
    """Give children and families pseudonymised keys, in every table that refers to them."""
    child_keys = pseudo_keys("C", n_children, rng)
    family_keys = pseudo_keys("F", int(events["family"].max()) + 1, rng)
    events["family_id"] = family_keys[events["family"]]
    kids = tables["cs_children"]
    kids.insert(0, "child_id", child_keys[kids["_child"]])
    kids.insert(1, "family_id", family_keys[kids["_family"]])
    tables["cs_referrals"].insert(1, "child_id", child_keys[tables["cs_referrals"]["_child"]])
    tables["cs_looked_after"].insert(0, "child_id", child_keys[tables["cs_looked_after"]["_child"]])


def _children_table(children: pd.DataFrame, rng) -> pd.DataFrame:
    n = len(children)
    ethnicity = choose(rng, ETHNICITY, n).astype(object)
    # The census requires an ethnicity: one not yet obtained is NOBT, not a blank.
    ethnicity[rng.random(n) < 0.01] = "NOBT"
    return pd.DataFrame(
        {
            "_child": np.arange(n),
            "_family": children["family"].to_numpy(),
            "_birth_date": pd.to_datetime(children["birth_day"].to_numpy(), unit="D"),
            "gender": choose(rng, {"1": 0.505, "2": 0.485, "0": 0.009, "9": 0.001}, n),
            "ethnicity": ethnicity,
        }
    )
