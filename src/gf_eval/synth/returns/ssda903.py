"""The synthetic SSDA903 return: header and episodes CSVs per collection year, DfE format.

From the generator's `cs_looked_after` (child_id, became_looked_after) and `cs_children`
(child_id, gender, ethnicity), with the children's made-up identities (`ids.children`:
la_child_id, upn, birth_date, postcode), `write_ssda903` writes for each collection year (the
year ending 31 March, named by the year it ends in) from the one containing
`calendar.history_start` to the one containing `calendar.data_end`:

  SSDA903_<year>_header.csv    CHILD, SEX, DOB, ETHNIC, UPN, MOTHER, MC_DOB: one row per child
                               with an episode in the year's file
  SSDA903_<year>_episodes.csv  CHILD, DECOM, RNE, LS, CIN, PLACE, PLACE_PROVIDER, DEC, REC,
                               REASON_PLACE_CHANGE, HOME_POST, PL_POST, URN

Dates are DD/MM/YYYY, files UTF-8 with a header line, "\\n" line ends, rows sorted by CHILD and
DECOM. CHILD is the child's `la_child_id`, the same value the census return carries as
LAchildID, as in most authorities' systems.

The generator knows only when a period of care starts, so the rest is made up, deterministically
from a hash of the child's key and the start date (no random stream, so the files depend on
nothing but their inputs):
  - the period lasts 30 to 929 days, and ends the day before the child's next start if that is
    sooner; it may run past `data_end`.
  - a period of more than 120 days has a change of placement a third of the way through: the
    first episode (RNE S) ends with REC X1 and a second (RNE P, with a REASON_PLACE_CHANGE)
    runs to the end of the period; a shorter period is one RNE S episode.
  - LS (legal status), CIN (category of need), PLACE, PLACE_PROVIDER and the REC of a period's
    end are drawn from the codes of the 903 lists (2017 to 2024 schemas) below.
An episode appears in each year's file in which it is open on some day up to the year's end
(or `data_end`, for the last year); its DEC and REC are blank where it ends after that. So an
episode open at 31 March appears again in the next year's file, as in the real return.
HOME_POST is the child's postcode; PL_POST is the child's own postcode when placed with
parents (P1), otherwise another synthetic child's postcode standing in for the carer's. URN is
an Ofsted URN of the form SC123456 for a children's home (K2), XXXXXXX otherwise.
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from gf_eval.config import Calendar
from gf_eval.files import atomic_path
from gf_eval.returns.ssda903 import TABLES

if TYPE_CHECKING:
    from gf_eval.synth.returns.identities import Identities

PLACE_CHANGE_AFTER = 120  # days: a longer period has one change of placement
# Legal status, category of need, placement (with its provider) at the start of a period,
# the placement after a change, reasons for the change and for the end of the period:
# (code, weight) from the 903 code lists.
LEGAL_STATUS = (("V2", 40), ("C1", 25), ("C2", 10), ("L1", 10), ("L2", 5), ("E1", 5), ("J2", 5))
NEED = (("N1", 55), ("N2", 5), ("N3", 5), ("N4", 20), ("N5", 10), ("N6", 3), ("N8", 2))
FIRST_PLACE = (("U6", 40), ("U3", 15), ("U1", 10), ("K2", 10), ("P1", 10), ("U4", 15))
LATER_PLACE = (("U4", 45), ("U5", 20), ("U2", 10), ("K2", 15), ("P1", 10))
PROVIDER = {"K2": "PR4", "P1": "PR0", "U1": "PR1", "U2": "PR1", "U3": "PR1", "U4": "PR1",
            "U5": "PR1", "U6": "PR1"}  # fmt: skip
PLACE_CHANGE = (("CARPL", 60), ("CREQB", 10), ("LAREQ", 15), ("PLACE", 10), ("OTHER", 5))
CEASED = (("E4A", 35), ("E13", 15), ("E41", 15), ("E11", 10), ("E8", 25))
STAYS_LOOKED_AFTER = "X1"
NO_URN = "XXXXXXX"
# 903 SEX has 1 and 2 only; the census's 0 (not known) and 9 (indeterminate) become one of them.
SEX = {"1": "1", "2": "2"}


def collection_year(day: pd.Timestamp) -> int:
    """The 903 collection year holding `day`: the year ending 31 March, by the year it ends."""
    return day.year + 1 if day.month >= 4 else day.year


def write_ssda903(
    tables: dict[str, pd.DataFrame], ids: Identities, calendar: Calendar, outdir: str | Path
) -> list[Path]:
    """Write the header and episodes CSVs of every collection year into `outdir`; return the
    paths (year by year, header then episodes). Byte-identical for the same inputs."""
    outdir = Path(outdir)
    kids = tables["cs_children"].set_index("child_id")
    people = ids.children
    episodes = _episodes(tables["cs_looked_after"], people, calendar)
    written: list[Path] = []
    first, last = collection_year(calendar.history_start), collection_year(calendar.data_end)
    for year in range(first, last + 1):
        start = pd.Timestamp(year - 1, 4, 1)
        cutoff = min(pd.Timestamp(year, 3, 31), calendar.data_end)
        open_ = episodes[(episodes["decom"] <= cutoff) & (episodes["dec"] >= start)]
        ep_rows = []
        for e in open_.itertuples(index=False):
            ended = e.dec <= cutoff
            ep_rows.append([
                e.CHILD, _d(e.decom), e.RNE, e.LS, e.CIN, e.PLACE, e.PLACE_PROVIDER,
                _d(e.dec) if ended else "", e.REC if ended else "", e.REASON_PLACE_CHANGE,
                e.HOME_POST, e.PL_POST, e.URN,
            ])  # fmt: skip
        head_rows = []
        for child_id in sorted(set(open_["child_id"]), key=lambda c: people.at[c, "la_child_id"]):
            sex = SEX.get(str(kids.at[child_id, "gender"]), "12"[_hash(child_id, "sex") % 2])
            ethnic = kids.at[child_id, "ethnicity"]
            head_rows.append([
                people.at[child_id, "la_child_id"], sex, _d(people.at[child_id, "birth_date"]),
                "NOBT" if pd.isna(ethnic) else ethnic, people.at[child_id, "upn"],
                "0" if sex == "2" else "", "",
            ])  # fmt: skip
        head_rows.sort(key=lambda r: r[0])
        for table, rows in (("header", head_rows), ("episodes", ep_rows)):
            path = outdir / f"SSDA903_{year}_{table}.csv"
            _write_csv(path, TABLES[table], rows)
            written.append(path)
    return written


def _episodes(la: pd.DataFrame, people: pd.DataFrame, calendar: Calendar) -> pd.DataFrame:
    """Every episode of every period of care, with its true end `dec` (not cut at a year)."""
    la = la[["child_id", "became_looked_after"]].drop_duplicates()
    la = la.assign(became_looked_after=pd.to_datetime(la["became_looked_after"]))
    la = la.sort_values(["child_id", "became_looked_after"], kind="mergesort")
    pool = people["postcode"].sort_index().to_numpy()
    rows = []
    for child_id, group in la.groupby("child_id", sort=True):
        starts = list(group["became_looked_after"])
        for k, begin in enumerate(starts):
            key = f"{child_id}|{begin:%Y-%m-%d}"
            end = begin + pd.Timedelta(days=30 + _hash(key, "days") % 900)
            if k + 1 < len(starts):
                end = min(end, starts[k + 1] - pd.Timedelta(days=1))
            home = people.at[child_id, "postcode"]
            common = {"child_id": child_id, "CHILD": people.at[child_id, "la_child_id"],
                      "LS": _pick(LEGAL_STATUS, key, "ls"), "CIN": _pick(NEED, key, "cin"),
                      "HOME_POST": home}  # fmt: skip
            place = _pick(FIRST_PLACE, key, "place")
            change = begin + pd.Timedelta(days=(end - begin).days // 3)
            if (end - begin).days > PLACE_CHANGE_AFTER:
                rows.append({**common, **_placement(place, key, "1", home, pool),
                             "RNE": "S", "decom": begin, "dec": change, "REC": STAYS_LOOKED_AFTER,
                             "REASON_PLACE_CHANGE": ""})  # fmt: skip
                later = _pick(tuple((c, w) for c, w in LATER_PLACE if c != place), key, "later")
                rows.append({**common, **_placement(later, key, "2", home, pool),
                             "RNE": "P", "decom": change, "dec": end,
                             "REC": _pick(CEASED, key, "rec"),
                             "REASON_PLACE_CHANGE": _pick(PLACE_CHANGE, key, "why")})  # fmt: skip
            else:
                rows.append({**common, **_placement(place, key, "1", home, pool),
                             "RNE": "S", "decom": begin, "dec": end,
                             "REC": _pick(CEASED, key, "rec"), "REASON_PLACE_CHANGE": ""})  # fmt: skip
    columns = ["child_id", "CHILD", "decom", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER",
               "dec", "REC", "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"]  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["CHILD", "decom"], kind="mergesort").reset_index(drop=True)


def _placement(place: str, key: str, which: str, home: str, pool) -> dict[str, str]:
    if place == "P1":
        post = home
    else:
        post = pool[_hash(key, "post" + which) % len(pool)]
    urn = f"SC{_hash(key, 'urn' + which) % 10**6:06d}" if place == "K2" else NO_URN
    return {"PLACE": place, "PLACE_PROVIDER": PROVIDER[place], "PL_POST": post, "URN": urn}


def _hash(key: str, salt: str) -> int:
    return zlib.crc32(f"{salt}|{key}".encode())


def _pick(weighted: tuple[tuple[str, int], ...], key: str, salt: str) -> str:
    total = sum(w for _, w in weighted)
    u = _hash(key, salt) % total
    for code, w in weighted:
        if u < w:
            return code
        u -= w
    raise AssertionError("unreachable")


def _d(day) -> str:
    return "" if pd.isna(day) else pd.Timestamp(day).strftime("%d/%m/%Y")


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[list[str]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
