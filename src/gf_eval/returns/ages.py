"""Ages at an event from a date of birth: the only use a birth date has here.

Age is in completed years: a child born on 2010-03-01 is 4 on 2015-02-28 and 5 on 2015-03-01.
Someone born on 29 February turns a year older on 1 March in a year without that day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gf_eval.codes import AGE_BANDS

# Lower bound, in years, of each MARAC age band of the contract (codes.AGE_BANDS).
AGE_BAND_LOWS = (16, 18, 25, 35, 45, 55)
assert len(AGE_BAND_LOWS) == len(AGE_BANDS)


def age_in_years(birth: pd.Series, at: pd.Series) -> pd.Series:
    """Completed years from `birth` to `at` (both datetime64, same length); missing where
    either is. The result has a fresh 0..n-1 index."""
    birth = pd.to_datetime(pd.Series(birth)).reset_index(drop=True)
    at = pd.to_datetime(pd.Series(at)).reset_index(drop=True)
    years = (at.dt.year - birth.dt.year).astype("Int64")
    before = (at.dt.month < birth.dt.month) | (
        (at.dt.month == birth.dt.month) & (at.dt.day < birth.dt.day)
    )
    age = years - before.astype("Int64")
    return age.where(birth.notna() & at.notna(), pd.NA).astype("Int64")


def age_band(age: pd.Series) -> pd.Series:
    """The MARAC age band (codes.AGE_BANDS) of each age; None for a missing age or one
    under 16. The result has a fresh 0..n-1 index."""
    values = pd.Series(age, dtype="Float64").reset_index(drop=True)
    known = values.notna().to_numpy()
    idx = np.searchsorted(AGE_BAND_LOWS, values.fillna(-1).to_numpy(float), side="right") - 1
    bands = np.array(AGE_BANDS, dtype=object)[np.clip(idx, 0, None)]
    return pd.Series(np.where(known & (idx >= 0), bands, None), dtype=object)
