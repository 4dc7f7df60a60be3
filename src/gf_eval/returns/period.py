"""The extract as it stood at the calendar's data_end (docs/data_dictionary.md, section 1.2).

Returns run past the study: a 2017-18 census knows closures of 2017 and referrals of 2018. This
cuts imported tables to the extract period, from history_start to data_end, the way section 1.2
asks an analyst preparing an extract by hand to do:
- records that start outside the period go (referrals, with their assessments, factors and
  plans; MARAC cases; looked-after starts; casework cases; survey responses);
- a closure, authorisation or end after data_end is left blank, with what goes with it: the
  closure reason, the factors of an assessment not yet authorised, a casework case's closure
  measures;
- a MARAC case not yet discussed at a meeting by data_end goes.
Children and families stay whether or not they have a record in the period.
"""

from __future__ import annotations

import pandas as pd

from gf_eval.config import Calendar

CLOSURE_MEASURES = ("dash_close", "swemwbs_close", "safety_close", "sdq_close")


def as_at(tables: dict[str, pd.DataFrame], cal: Calendar) -> dict[str, pd.DataFrame]:
    """The tables cut to the extract period of `cal`; any subset of the extracts."""
    start, end = cal.history_start, cal.data_end
    out = dict(tables)

    def within(s: pd.Series) -> pd.Series:
        return s.notna() & (s >= start) & (s <= end)

    def after_end(s: pd.Series) -> pd.Series:
        return s.notna() & (s > end)

    if "marac_cases" in out:
        m = out["marac_cases"]
        out["marac_cases"] = m[within(m["referral_date"]) & within(m["meeting_date"])]
    if "cs_referrals" in out:
        r = out["cs_referrals"].copy()
        r = r[within(r["referral_date"])]
        late = after_end(r["closure_date"])
        r.loc[late, ["closure_date", "closure_reason"]] = None
        out["cs_referrals"] = r
        kept = set(r["referral_id"])
        for name in ("cs_assessments", "cs_cp_plans"):
            if name in out:
                t = out[name]
                out[name] = t[t["referral_id"].isin(kept) & within(t["start_date"])].copy()
    if "cs_assessments" in out:
        a = out["cs_assessments"].copy()
        a.loc[after_end(a["authorised_date"]), "authorised_date"] = pd.NaT
        out["cs_assessments"] = a
        if "cs_factors" in out:
            authorised = set(a.loc[a["authorised_date"].notna(), "assessment_id"])
            f = out["cs_factors"]
            out["cs_factors"] = f[f["assessment_id"].isin(authorised)]
    if "cs_cp_plans" in out:
        p = out["cs_cp_plans"].copy()
        p.loc[after_end(p["end_date"]), "end_date"] = pd.NaT
        out["cs_cp_plans"] = p
    if "cs_looked_after" in out:
        la = out["cs_looked_after"]
        out["cs_looked_after"] = la[within(la["became_looked_after"])]
    if "casework" in out:
        c = out["casework"].copy()
        c = c[within(c["referral_date"]) & within(c["allocation_date"])]
        late = after_end(c["closure_date"])
        c.loc[late, ["closure_reason", *CLOSURE_MEASURES]] = None
        c.loc[late, "closure_date"] = pd.NaT
        out["casework"] = c
    if "survey" in out:
        s = out["survey"]
        out["survey"] = s[within(s["response_date"])]
    return {name: df.reset_index(drop=True) for name, df in out.items()}
