"""`gf-eval its` and the ITS engine refuse what they cannot fit: one line, exit status 2, and
the same ITSInputError from the Python API. Also what they must still accept."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gf_eval.cli import main
from gf_eval.stats.its import ITS, MIN_POST, MIN_PRE, ITSInputError

SICILY = Path(__file__).resolve().parent / "data" / "its" / "sicily.csv"
# The Sicily model M4 on the command line and through the API (tests/data/its/README.md).
SICILY_CLI = ["--outcome", "aces", "--time", "time", "--start", "37", "--family", "quasipoisson",
              "--offset", "stdpop"]  # fmt: skip
SICILY_API = {"outcome": "aces", "time": "time", "start": 37, "family": "quasipoisson",
              "offset": "stdpop"}  # fmt: skip


@pytest.fixture(scope="module")
def sicily() -> pd.DataFrame:
    return pd.read_csv(SICILY)


def line(n=30, start=20, seed=1) -> pd.DataFrame:
    """A small gaussian series: a line with a level drop at `start`, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 5 + 0.2 * t - 3 * (t >= start) + rng.normal(0, 0.5, n)
    return pd.DataFrame({"t": t, "y": y, "month": t % 12 + 1})


def run(capsys, path, args) -> tuple[int, str, str]:
    code = main(["its", str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, path, args, pattern) -> str:
    code, out, err = run(capsys, path, args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gf-eval its: "), err
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in err and out == ""
    return lines[0]


def csv(tmp_path, df: pd.DataFrame) -> Path:
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    return path


# --- faults on the Sicily data: the command and the API refuse the same things ----------------

# (id, change to the data, extra CLI flags, extra API arguments, fit() arguments, message)
SICILY_FAULTS = [
    ("negative lags", None, ["--se", "newey", "--lags", "-1"], {}, {"se": "newey", "lags": -1},
     r"lags must be a whole number >= 0, not -1"),
    ("lags beyond the data", None, ["--se", "newey", "--lags", "59"], {},
     {"se": "newey", "lags": 59}, r"lags of 59 are too many: the fit has 59 periods"),
    ("one post point", None, ["--start", "59"], {"start": 59}, {},
     r"start 59 leaves 1 post-intervention periods.*at least 2 .*choose an earlier start"),
    ("one pre point", None, ["--start", "2"], {"start": 2}, {},
     r"start 2 leaves 1 pre-intervention periods.*at least 3 .*choose a later start"),
    ("harmonics beyond the period", None, ["--season", "month", "--harmonics", "7"],
     {"season": "month", "harmonics": 7}, {},
     r"rank-deficient .*sin6 is zero.*at most 5 harmonics with a period of 12"),
    ("phase-in eats the post period", None, ["--exclude", "22"], {"exclude": 22}, {},
     r"leaves 1 post-intervention periods in the fit after the 22-period phase-in.*shorter "
     r"phase-in"),
    ("constant covariate", lambda d: d.assign(z=4.0), ["--covariate", "z"],
     {"covariates": ["z"]}, {},
     r"rank-deficient .*z is a linear combination.*drop the covariate z"),
    ("covariate collinear with time", lambda d: d.assign(z=3 * d.time - 1), ["--covariate", "z"],
     {"covariates": ["z"]}, {}, r"rank-deficient .*z is a linear combination"),
    ("non-whole counts", lambda d: d.assign(aces=d.aces + 0.5 * (d.time % 10 == 0)), [], {}, {},
     r"column aces: 5 counts are not whole numbers"),
    ("gaps in time", lambda d: d[~d.time.isin([10, 30, 31])], [], {}, {},
     r"column time is not equally spaced: 2 gaps \(3 missing periods of step 1\), the first "
     r"from 9 to 11; .*--allow-gaps"),
    ("uneven time", lambda d: d.assign(time=d.time.where(d.time != 10, 10.5)), [], {}, {},
     r"column time is not equally spaced: 2 differences are not the step of 1"),
    ("repeated time", lambda d: d.assign(time=d.time.where(d.time != 10, 11)), [], {}, {},
     r"column time: 1 repeated time values within a series, the first 11"),
    ("missing time", lambda d: d.assign(time=d.time.where(d.time != 10)), [], {}, {},
     r"missing values in time \(1 rows\)"),
    ("text in time", lambda d: d.assign(time=d.time.astype(str).where(d.time != 10, "Oct")), [],
     {}, {}, r"column time: 1 non-numeric values"),
    ("missing outcome", lambda d: d.assign(aces=d.aces.where(d.time != 10)), [], {}, {},
     r"missing values in aces \(1 rows\)"),
    ("missing offset", lambda d: d.assign(stdpop=d.stdpop.where(d.time > 2)), [], {}, {},
     r"missing values in stdpop \(2 rows\)"),
    ("non-positive offset", lambda d: d.assign(stdpop=d.stdpop.where(d.time != 4, 0)), [], {}, {},
     r"column stdpop: 1 values are not positive"),
    ("start before the data", None, ["--start", "1"], {"start": 1}, {},
     r"no observations before the start 1"),
    ("start after the data", None, ["--start", "60"], {"start": 60}, {},
     r"no observations from the start 60"),
    ("missing column", None, ["--covariate", "nope"], {"covariates": ["nope"]}, {},
     r"column not found: nope"),
]  # fmt: skip


@pytest.mark.parametrize("case", SICILY_FAULTS, ids=[c[0] for c in SICILY_FAULTS])
def test_the_command_refuses_in_one_line(capsys, tmp_path, sicily, case):
    _, change, flags, _, _, pattern = case
    data = change(sicily) if change else sicily
    args = list(SICILY_CLI)
    for flag in flags:  # a flag given twice: argparse keeps the last one
        args.append(flag)
    refused(capsys, csv(tmp_path, data), args, pattern)


@pytest.mark.parametrize("case", SICILY_FAULTS, ids=[c[0] for c in SICILY_FAULTS])
def test_the_api_refuses_the_same(sicily, case):
    _, change, _, kwargs, fit_kwargs, pattern = case
    data = change(sicily) if change else sicily
    with pytest.raises(ITSInputError, match=pattern) as info:
        ITS(data, **{**SICILY_API, **kwargs}).fit(**fit_kwargs)
    assert "\n" not in str(info.value)


# --- numbers on the command line --------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, pattern",
    [(["--start", "1983-02"], r"--start '1983-02' is not a number"),
     (["--start", "nan"], r"--start 'nan' is not a number"),
     (["--slope-origin", "x"], r"--slope-origin 'x' is not a number"),
     (["--placebo", "12", "abc"], r"--placebo 'abc' is not a number")],
)  # fmt: skip
def test_a_start_that_is_not_a_number_exits_2(capsys, flags, pattern):
    refused(capsys, SICILY, [*SICILY_CLI, *flags], pattern)


def test_the_api_refuses_a_start_that_is_not_a_number(sicily):
    with pytest.raises(ITSInputError, match="start must be a finite number, not '1983-02'"):
        ITS(sicily, **{**SICILY_API, "start": "1983-02"})


def test_a_placebo_start_with_too_few_pre_points_names_the_placebo(capsys, sicily):
    pattern = r"placebo start 3 \(pre-period data only\): start 3 leaves 2 pre-intervention"
    refused(capsys, SICILY, [*SICILY_CLI, "--placebo", "3"], pattern)


# --- counts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["poisson", "quasipoisson", "negbin"])
def test_count_families_refuse_fractions(capsys, tmp_path, family):
    df = line().assign(y=lambda d: d.y.abs().round() + 0.25 * (d.t == 7))
    pattern = r"column y: 1 counts are not whole numbers"
    refused(capsys, csv(tmp_path, df), ["--outcome", "y", "--time", "t", "--start", "20",
                                        "--family", family], pattern)  # fmt: skip
    with pytest.raises(ITSInputError, match=pattern):
        ITS(df, "y", "t", 20, family=family)


@pytest.mark.parametrize(
    "change, pattern",
    [(lambda d: d.assign(k=d.k + 0.5 * (d.t == 3)), r"column k: 1 counts are not whole numbers"),
     (lambda d: d.assign(k=d.k.where(d.t != 3, -1)), r"column k: 1 negative counts"),
     (lambda d: d.assign(k=d.k.where(d.t > 1, d.n + 1)), r"successes exceed n in 2 rows"),
     (lambda d: d.assign(n=d.n.where(d.t != 5, 40.5)), r"column n: 1 trials are not whole"),
     (lambda d: d.assign(n=d.n.where(d.t != 5, 0), k=d.k.where(d.t != 5, 0)),
      r"column n: 1 trials are not whole numbers >= 1")],
)  # fmt: skip
def test_binomial_successes_are_whole_numbers_within_the_trials(capsys, tmp_path, change, pattern):
    rng = np.random.default_rng(3)
    t = np.arange(30)
    n = rng.integers(40, 60, 30)
    df = change(pd.DataFrame({"t": t, "k": rng.binomial(n, 0.3), "n": n}))
    args = ["--outcome", "k", "--time", "t", "--start", "20", "--family", "binomial",
            "--trials", "n"]  # fmt: skip
    refused(capsys, csv(tmp_path, df), args, pattern)
    with pytest.raises(ITSInputError, match=pattern):
        ITS(df, "k", "t", 20, family="binomial", trials="n")


# --- controlled ITS ---------------------------------------------------------------------------


def two_sites() -> pd.DataFrame:
    return pd.concat([line(seed=1).assign(site="A"), line(seed=2).assign(site="B")])


@pytest.mark.parametrize(
    "change, flags, pattern",
    [(lambda d: d[~((d.site == "B") & d.t.isin([4, 5]))], [],
      r"column t is not equally spaced \(series B\): 1 gaps \(2 missing periods of step 1\), "
      r"the first from 3 to 6"),
     (lambda d: d[~((d.site == "B") & (d.t >= 2) & (d.t < 20))], ["--allow-gaps"],
      r"start 20 leaves 2 pre-intervention periods in the fit \(series B\)"),
     (None, ["--treated", "C"], r"treated value 'C' not found in site"),
     (None, ["--se", "newey", "--lags", "30"], r"lags of 30 are too many: the shortest series "
      r"has 30 periods \(at most 29 lags\)")],
)  # fmt: skip
def test_each_series_is_checked(capsys, tmp_path, change, flags, pattern):
    df = change(two_sites()) if change else two_sites()
    args = ["--outcome", "y", "--time", "t", "--start", "20", "--group", "site", "--treated", "A"]
    refused(capsys, csv(tmp_path, df), [*args, *flags], pattern)
    treated = flags[flags.index("--treated") + 1] if "--treated" in flags else "A"
    fit = {"se": "newey", "lags": 30} if "--lags" in flags else {}
    with pytest.raises(ITSInputError, match=pattern):
        ITS(df, "y", "t", 20, group="site", treated=treated,
            allow_gaps="--allow-gaps" in flags).fit(**fit)  # fmt: skip


# --- the thresholds, from both sides ----------------------------------------------------------


def _ols(df: pd.DataFrame, columns: list[np.ndarray]):
    X = np.column_stack([np.ones(len(df)), *columns]).astype(float)
    beta, rss, *_ = np.linalg.lstsq(X, df.y.to_numpy(), rcond=None)
    return X, beta


def test_the_fewest_pre_and_post_points_are_accepted_and_one_fewer_is_not():
    df = line()
    assert MIN_PRE == 3 and MIN_POST == {True: 2, False: 1}  # what README and the docstring say
    t = df.t.to_numpy()
    # 3 pre points: the fit is the least-squares line of the hand-made design.
    res = ITS(df, "y", "t", 3).fit()
    _, beta = _ols(df, [t, t >= 3, (t >= 3) * (t - 3)])
    assert res.terms["pre_slope"].estimate == pytest.approx(beta[1], rel=1e-9)
    with pytest.raises(ITSInputError, match="leaves 2 pre-intervention periods"):
        ITS(df, "y", "t", 2)
    # 2 post points with a slope change; 1 without one: the level change is then the last point
    # against the extrapolated pre-period line.
    assert ITS(df, "y", "t", 28).fit().nobs == 30
    with pytest.raises(ITSInputError, match="leaves 1 post-intervention periods"):
        ITS(df, "y", "t", 29)
    res = ITS(df, "y", "t", 29, slope_change=False).fit()
    pre = df[df.t < 29]
    b = np.polyfit(pre.t, pre.y, 1)
    assert res.terms["level_change"].estimate == pytest.approx(
        df.y.iloc[-1] - np.polyval(b, 29), rel=1e-9)  # fmt: skip


def test_too_few_residual_degrees_of_freedom():
    df = line(n=10, start=5)
    # 10 points, 4 segment terms and 2 harmonic pairs: 8 parameters, 2 residual df.
    with pytest.raises(ITSInputError, match="10 observations for 8 parameters"):
        ITS(df, "y", "t", 5, season="month", harmonics=2)
    assert ITS(df, "y", "t", 5, season="month", harmonics=1).fit().df_resid == 4


def test_gaps_are_accepted_when_allowed_and_the_fit_uses_the_time_values():
    df = line(n=40)
    gapped = df[~df.t.isin([5, 6, 25])]
    with pytest.raises(ITSInputError, match="2 gaps"):
        ITS(gapped, "y", "t", 20)
    res = ITS(gapped, "y", "t", 20, allow_gaps=True).fit()
    t = gapped.t.to_numpy()
    _, beta = _ols(gapped, [t, t >= 20, (t >= 20) * (t - 20)])
    for i, name in enumerate(["intercept", "pre_slope", "level_change", "slope_change"]):
        assert res.terms[name].estimate == pytest.approx(beta[i], rel=1e-9)
    # The phase-in counts periods of the time column, not rows: 25 is missing, so 3 periods
    # from 24 leave out 24 and 26 only.
    res = ITS(gapped, "y", "t", 24, allow_gaps=True, exclude=3).fit()
    assert res.nobs == len(gapped) - 2


def test_the_command_accepts_gaps_with_allow_gaps(capsys, tmp_path):
    path = csv(tmp_path, line(n=40)[lambda d: ~d.t.isin([5, 6])])
    args = ["--outcome", "y", "--time", "t", "--start", "20"]
    refused(capsys, path, args, r"1 gaps \(2 missing periods")
    code, out, _ = run(capsys, path, [*args, "--allow-gaps"])
    assert code == 0 and "observations: 38" in out


def test_a_valid_phase_in_and_newey_west_lag_are_still_accepted(sicily):
    res = ITS(sicily, **SICILY_API, exclude=3, season="month", harmonics=2).fit(se="newey", lags=55)
    assert res.nobs == 56 and res.lags == 55  # the largest lag the 56 fitted periods allow


# --- the summary's intervals ------------------------------------------------------------------

INTERVAL = re.compile(r"^(\w+)\s+\S+\s+\S+\s+\S+\s+\[(\S+), (\S+)\]$")


def test_summary_intervals_have_a_separator_and_match_the_hand_calculation(capsys, tmp_path):
    # Values near zero of both signs: the case where the old columns ran together.
    df = line(n=40)
    df["y"] = df["y"] / 1000
    code, out, _ = run(capsys, csv(tmp_path, df), ["--outcome", "y", "--time", "t", "--start",
                                                   "20"])  # fmt: skip
    assert code == 0
    rows = {m[1]: (float(m[2]), float(m[3])) for m in map(INTERVAL.match, out.splitlines()) if m}
    t = df.t.to_numpy()
    X, beta = _ols(df, [t, t >= 20, (t >= 20) * (t - 20)])
    resid = df.y.to_numpy() - X @ beta
    cov = resid @ resid / (40 - 4) * np.linalg.inv(X.T @ X)
    q = stats.t.ppf(0.975, 36)
    for i, name in enumerate(["intercept", "pre_slope", "level_change", "slope_change"]):
        low, high = rows[name]
        se = np.sqrt(cov[i, i])
        assert (low, high) == pytest.approx((beta[i] - q * se, beta[i] + q * se), rel=1e-4)
    assert rows["level_change"][0] < rows["level_change"][1]
    # The relative changes print their interval in brackets too.
    relative = [x for x in out.splitlines() if x.startswith("relative change")]
    assert len(relative) == 2
    assert all(re.search(r"\[[-+][\d.]+%, [-+][\d.]+%\]$", x) for x in relative)
