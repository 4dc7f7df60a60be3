"""The synthetic returns' made-up identities have the formats real ones have."""

import re

import numpy as np
import pandas as pd
import pytest

from gf_eval.returns.ages import age_band, age_in_years
from gf_eval.synth.returns import identities as ident


def test_nhs_numbers_pass_the_modulus_11_check():
    for number in ident.nhs_numbers(200, np.random.default_rng(1)):
        assert re.fullmatch(r"\d{3} \d{3} \d{4}", number)
        d = [int(c) for c in number.replace(" ", "")]
        total = sum(x * w for x, w in zip(d[:9], range(10, 1, -1)))
        assert (11 - total % 11) % 11 == d[9]


def test_upns_carry_the_dfe_check_letter():
    letters = "ABCDEFGHJKLMNPQRTUVWXYZ"  # I, O and S are never used
    for upn in ident.upns(200, np.random.default_rng(2)):
        assert re.fullmatch(r"[A-Z]371\d{9}", upn)
        total = sum(int(c) * w for c, w in zip(upn[1:], range(2, 14)))
        assert upn[0] == letters[total % 23]


def test_postcodes_have_the_dn_format():
    for pc in ident.postcodes(200, np.random.default_rng(3)):
        assert re.fullmatch(r"DN([1-9]|1[0-2]) \d[ABD-HJLNP-UW-Z]{2}", pc)


def test_name_and_birth_date_tell_people_apart():
    rng = np.random.default_rng(4)
    birth = np.array(["1980-01-01"] * 3000 + [None] * 3000, dtype=object)
    names = ident.unique_names(np.array(["F"] * 6000), birth, rng)
    assert len(set(zip(names, birth))) == 6000


@pytest.mark.parametrize(
    "birth, at, years",
    [("2010-03-01", "2015-02-28", 4), ("2010-03-01", "2015-03-01", 5),
     ("2000-02-29", "2001-02-28", 0), ("2000-02-29", "2001-03-01", 1),
     ("1999-12-31", "2000-01-01", 0)],
)  # fmt: skip
def test_age_in_completed_years(birth, at, years):
    got = age_in_years(pd.Series(pd.to_datetime([birth])), pd.Series(pd.to_datetime([at])))
    assert got.tolist() == [years]


def test_age_bands_and_unknowns():
    got = age_band(pd.Series([15, 16, 17, 18, 24, 25, 34, 35, 54, 55, 80, None]))
    assert got.tolist() == [None, "16-17", "16-17", "18-24", "18-24", "25-34", "25-34",
                            "35-44", "45-54", "55+", "55+", None]  # fmt: skip
    missing = age_in_years(pd.Series(pd.to_datetime([None])), pd.Series(pd.to_datetime(["2015-01-01"])))
    assert missing.isna().all()
