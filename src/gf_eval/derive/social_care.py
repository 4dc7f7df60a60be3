"""Children's social care episodes with the 12-month re-referral rule and their DVA status.

Factors are recorded when an assessment is authorised, so an episode's DVA status is one of:
  dva            an authorised assessment of the episode records 3A, 3B or 3C;
  not_dva        an authorised assessment records factors but none of those, or the episode
                 closed without an authorised assessment (no factors were identified);
  pending        still open at the data end with no authorised assessment: not yet known;
  not_collected  assessed, but only before factors were collected (April 2013).
"""

from __future__ import annotations

import pandas as pd

from gf_eval import codes
from gf_eval.derive.rules import days_since_previous, within_window
from gf_eval.frames import lookup, sort_rows

STATUSES = ("dva", "not_dva", "pending", "not_collected")


def episodes(
    referrals: pd.DataFrame,
    children: pd.DataFrame,
    assessments: pd.DataFrame,
    factors: pd.DataFrame,
) -> pd.DataFrame:
    """One row per referral (episode): the referral, `family_id`, `gap_days` since the child's
    previous referral, `rereferral`, `dva_status` (see module docstring), the DVA factor flags
    `f3A`..`f3C`, `assessed` (has an authorised assessment) and `first_authorised` (the date
    its status became known)."""
    out = sort_rows(referrals, ["referral_date", "referral_id"]).reset_index(drop=True)
    family = lookup(out["child_id"], children, "child_id", "family_id")
    if family is None:
        out = out.merge(children[["child_id", "family_id"]], on="child_id", how="left")
    else:
        out["family_id"] = family
    out["month"] = out["referral_date"].dt.to_period("M")
    out["gap_days"] = days_since_previous(out["referral_date"], out["child_id"])
    out["rereferral"] = within_window(out["gap_days"])

    done = assessments[assessments["authorised_date"].notna()]
    first = done.groupby("referral_id")["authorised_date"].min()
    with_factors = factors.merge(assessments[["assessment_id", "referral_id"]], on="assessment_id")
    recorded = with_factors["referral_id"].astype(object)  # not a set: a loop over Arrow strings
    # Membership tested on Python strings: pandas' isin on Arrow strings turns every value
    # looked for into an Arrow scalar one by one, most of a site's derivation time.
    ids = out["referral_id"].astype(object)
    for code in codes.DVA_FACTORS:
        has = with_factors.loc[with_factors["factor"] == code, "referral_id"]
        out[f"f{code}"] = ids.isin(has.astype(object)).to_numpy()
    dva = out[[f"f{c}" for c in codes.DVA_FACTORS]].any(axis=1)
    out["assessed"] = ids.isin(first.index.astype(object))
    out = out.merge(first.rename("first_authorised"), left_on="referral_id", right_index=True,
                    how="left")
    ids = out["referral_id"].astype(object)
    status = pd.Series("not_collected", index=out.index, dtype="object")
    status[out["assessed"] & ids.isin(recorded)] = "not_dva"
    status[~out["assessed"] & out["closure_date"].notna()] = "not_dva"
    status[~out["assessed"] & out["closure_date"].isna()] = "pending"
    status[dva] = "dva"
    out["dva_status"] = pd.Categorical(status, categories=STATUSES)
    return out


def dva_known_from(start: pd.Timestamp) -> pd.Timestamp:
    """First referral month whose episodes can all carry factors: factors are recorded only
    for assessments authorised from April 2013, and no assessment precedes its referral."""
    return max(pd.Timestamp(codes.FACTORS_COLLECTED_FROM), start)
