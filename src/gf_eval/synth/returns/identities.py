"""Made-up identities for the synthetic returns: what the authority's own records would carry.

Every person, family and worker of the synthetic extracts gets a name, and where the real
records would have them a date of birth, a postcode, an NHS number, a UPN and an address. The
names are drawn from common English first names and surnames; the numbers have valid check
digits and the postcodes the real format of Doncaster's DN area, so that the identifier checks
meet what they would meet in real returns. None of it belongs to anyone.

Names are unique per person together with the date of birth, so that a key built from name and
date of birth (as a MARAC spreadsheet allows) tells the synthetic people apart exactly as their
synthetic keys do. The draw has its own random stream, from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FEMALE = ("Olivia Amelia Isla Ava Emily Sophia Grace Mia Poppy Ella Lily Evie Isabella Sophie "
          "Ivy Freya Harper Willow Charlotte Jessica Rosie Daisy Alice Sienna Matilda Evelyn "
          "Florence Millie Phoebe Ruby Chloe Emma Lucy Hannah Megan Holly Amy Laura Rebecca "
          "Sarah Gemma Kelly Nicola Donna Tracey Michelle Joanne Lisa Claire Karen Julie Helen "
          "Jade Leanne Stacey Danielle Natalie Kirsty Zoe Katie Abigail Bethany Courtney").split()
MALE = ("Oliver George Harry Noah Jack Leo Arthur Muhammad Oscar Charlie Jacob Thomas Henry "
        "William Joshua James Alfie Freddie Archie Ethan Isaac Alexander Joseph Edward Samuel "
        "Max Daniel Logan Lucas Mason Dylan Jake Liam Connor Ryan Callum Kyle Lewis Jordan "
        "Adam Ben Luke Matthew Andrew David Paul Mark Richard Steven Christopher Michael Gary "
        "Darren Lee Wayne Craig Dean Shaun Carl Martin Simon Neil Scott Jason Anthony").split()
SURNAMES = ("Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts "
            "Robinson Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke "
            "Patel Jackson Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker "
            "Harrison Morgan Allen James Scott Phillips Watson Davis Parker Price Bennett Young "
            "Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy "
            "Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson "
            "Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews "
            "Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens "
            "Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson Howard "
            "Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West "
            "Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton O'Brien Watts Rose "
            "Booth Perry Ryan Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett "
            "Webster Hunter Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone "
            "Reid Holland Hawkins Harding Porter Robertson Newton Oliver Reed Kennedy Williamson "
            "Bird Gardner Shah Dean Lane Cooke Bates Henderson Parry Burgess Bishop Walton Burns "
            "Nicholson Shepherd Ross Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton").split()
STREETS = ("Station Road|High Street|Church Lane|Thorne Road|Bawtry Road|Balby Road|Carr House "
           "Road|Bentley Road|Cusworth Lane|Sprotbrough Road|Warmsworth Road|Tickhill Road|"
           "Armthorpe Road|Leger Way|Wheatley Hall Road|Selby Road|York Road|Adwick Lane|"
           "Bennetthorpe|Hall Gate|Beckett Road|Zetland Road|Copley Road|Broxholme Lane").split("|")
# Doncaster's postcode districts, and the letters a postcode's last two places may hold.
DISTRICTS = ("DN1", "DN2", "DN3", "DN4", "DN5", "DN6", "DN7", "DN8", "DN9", "DN10", "DN11",
             "DN12")  # fmt: skip
UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
# The check letters of a UPN, by remainder modulo 23 (DfE's UPN specification).
UPN_CHECK = "ABCDEFGHJKLMNPQRTUVWXYZ"
DONCASTER_LA = "371"


@dataclass(frozen=True)
class Identities:
    """children: by synthetic child_id, la_child_id, upn, forename, surname, birth_date,
    postcode, nhs_number, address. families: family_id -> family_ref. people: by victim_key or
    perpetrator_key, forename, surname, birth_date, postcode, nhs_number, address. workers:
    dan_id -> full name. emails: respondent_id -> e-mail address."""

    children: pd.DataFrame
    families: pd.Series
    people: pd.DataFrame
    workers: pd.Series
    emails: pd.Series


def identities(tables: dict[str, pd.DataFrame], seed: int) -> Identities:
    """Identities for the generator's tables (with their internal columns), from `seed`."""
    rng = np.random.default_rng([seed, 0x1D])
    kids = tables["cs_children"]
    n = len(kids)
    children = pd.DataFrame(index=pd.Index(kids["child_id"], name="child_id"))
    children["la_child_id"] = [f"DN{x:07d}" for x in rng.choice(10**7, n, replace=False)]
    children["upn"] = upns(n, rng)
    children["birth_date"] = pd.to_datetime(kids["_birth_date"]).to_numpy()
    sex = kids["gender"].map({"1": "M", "2": "F"}).fillna("U").to_numpy()
    children[["forename", "surname"]] = unique_names(sex, children["birth_date"].to_numpy(), rng)
    children["postcode"] = postcodes(n, rng)
    children["nhs_number"] = nhs_numbers(n, rng)
    children["address"] = addresses(n, rng)

    family_ids = pd.Index(sorted(kids["family_id"].unique()), name="family_id")
    families = pd.Series([f"FAM{x:06d}" for x in rng.choice(10**6, len(family_ids),
                                                           replace=False)],
                         index=family_ids, name="family_ref")  # fmt: skip

    people = _people(tables["marac_cases"], rng)
    dans = pd.Index(sorted(tables["casework"]["dan_id"].unique()), name="dan_id")
    worker_names = unique_names(np.full(len(dans), "U"), np.full(len(dans), None), rng)
    workers = pd.Series([f"{f} {s}" for f, s in worker_names], index=dans, name="worker")
    respondents = tables["survey"]["respondent_id"]
    mail_names = unique_names(np.full(len(respondents), "U"), np.full(len(respondents), None), rng)
    emails = pd.Series([f"{f}.{s}@services.example.org".lower().replace("'", "")
                        for f, s in mail_names],
                       index=pd.Index(respondents, name="respondent_id"), name="email")  # fmt: skip
    return Identities(children, families, people, workers, emails)


def _people(marac: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Victims (birth dates from the generator) and perpetrators (aged 18 to 60 at their first
    case), one row per key."""
    first = marac.sort_values(["referral_date", "case_id"])
    victims = first.drop_duplicates("victim_key").set_index("victim_key")
    perps = first.drop_duplicates("perpetrator_key").set_index("perpetrator_key")
    perp_age = (18 + rng.random(len(perps)) * 42) * 365.25
    perp_birth = perps["referral_date"] - pd.to_timedelta(np.floor(perp_age), unit="D")
    people = pd.DataFrame(
        {
            "sex": np.concatenate([victims["victim_sex"], perps["perpetrator_sex"]]),
            "birth_date": np.concatenate([pd.to_datetime(victims["_victim_birth_date"]).to_numpy(),
                                          perp_birth.to_numpy()]),  # fmt: skip
        },
        index=pd.Index([*victims.index, *perps.index], name="person_key"),
    )
    people[["forename", "surname"]] = unique_names(people["sex"].to_numpy(),
                                                   people["birth_date"].to_numpy(), rng)  # fmt: skip
    people["postcode"] = postcodes(len(people), rng)
    people["nhs_number"] = nhs_numbers(len(people), rng)
    people["address"] = addresses(len(people), rng)
    return people.drop(columns="sex")


def unique_names(sex: np.ndarray, birth: np.ndarray, rng: np.random.Generator) -> list[tuple]:
    """(forename, surname) per person, sex F, M or U (either list), with no two people sharing
    both name and date of birth (an unknown date counts as one value)."""
    out: list[tuple[str, str]] = []
    seen: set[tuple] = set()
    for i in range(len(sex)):
        pool = FEMALE if sex[i] == "F" else MALE if sex[i] == "M" else FEMALE + MALE
        born = "" if pd.isna(birth[i]) else str(birth[i])[:10]
        while True:
            name = (pool[rng.integers(len(pool))], SURNAMES[rng.integers(len(SURNAMES))])
            if (*name, born) not in seen:
                break
        seen.add((*name, born))
        out.append(name)
    return out


def upns(n: int, rng: np.random.Generator) -> list[str]:
    """UPNs of valid format: check letter, Doncaster's LA number, a school number, a year and
    a serial number, the check letter computed as the DfE specifies."""
    serials = rng.choice(10**9, n, replace=False)
    out = []
    for s in serials:
        body = f"{DONCASTER_LA}{s:09d}"
        total = sum(int(d) * w for d, w in zip(body, range(2, 14)))
        out.append(UPN_CHECK[total % 23] + body)
    return out


def nhs_numbers(n: int, rng: np.random.Generator) -> list[str]:
    """Ten-digit NHS numbers with a valid modulus-11 check digit, written 3-3-4."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        digits = rng.integers(0, 10, 9)
        check = 11 - int(np.dot(digits, np.arange(10, 1, -1))) % 11
        if check == 10:
            continue
        s = "".join(map(str, digits)) + str(0 if check == 11 else check)
        if s not in seen:
            seen.add(s)
            out.append(f"{s[:3]} {s[3:6]} {s[6:]}")
    return out


def postcodes(n: int, rng: np.random.Generator) -> list[str]:
    """Postcodes of the real format of Doncaster's districts, such as DN4 7QJ."""
    district = np.array(DISTRICTS)[rng.integers(0, len(DISTRICTS), n)]
    sector = rng.integers(0, 10, n)
    unit = UNIT_LETTERS[rng.integers(0, len(UNIT_LETTERS), (n, 2))]
    return [f"{d} {s}{u[0]}{u[1]}" for d, s, u in zip(district, sector, unit)]


def addresses(n: int, rng: np.random.Generator) -> list[str]:
    """A house number and street in Doncaster."""
    numbers = rng.integers(1, 200, n)
    streets = np.array(STREETS)[rng.integers(0, len(STREETS), n)]
    return [f"{k} {s}, Doncaster" for k, s in zip(numbers, streets)]
