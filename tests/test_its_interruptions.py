"""ITS with more than one interruption (a programme that starts and later ends, say): each
start adds its own level and slope change; a single start, as a number or a one-item list,
fits the model it always did."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gf_eval.cli import main
from gf_eval.stats.its import ITS, ITSInputError

from test_its_cli import csv, refused  # the command-line helpers of the ITS tests

SICILY = Path(__file__).resolve().parent / "data" / "its" / "sicily.csv"
STARTS = (30, 45)
# intercept, pre_slope, level_change, slope_change, level_change_2, slope_change_2
TRUTH = (10.0, 0.2, -3.0, 0.1, 2.0, -0.35)
# Noise-free series fit exactly: statsmodels warns that it cannot norm zero residuals.
pytestmark = pytest.mark.filterwarnings("ignore:All residuals are 0")
NAMES = ("intercept", "pre_slope", "level_change", "slope_change", "level_change_2",
         "slope_change_2")  # fmt: skip


def mean(t, b=TRUTH, starts=STARTS):
    """The segmented line: the first change from the first start, the second from the
    second, each slope change zero at its own start."""
    t = np.asarray(t, dtype=float)
    x1, x2 = (t >= starts[0]).astype(float), (t >= starts[1]).astype(float)
    return (b[0] + b[1] * (t - t.min()) + b[2] * x1 + b[3] * x1 * (t - starts[0]) + b[4] * x2
            + b[5] * x2 * (t - starts[1]))  # fmt: skip


def exact(n=60, b=TRUTH, starts=STARTS) -> pd.DataFrame:
    t = np.arange(n)
    return pd.DataFrame({"t": t, "y": mean(t, b, starts), "month": t % 12 + 1})


def noisy(n=60, seed=1) -> pd.DataFrame:
    df = exact(n)
    df["y"] += np.random.default_rng(seed).normal(0, 0.5, n)
    return df


def counts(n=90, b=(9.0, 0.004, -0.3, 0.01, 0.2, -0.02), starts=(40, 70), seed=3):
    """Poisson means near 10^4 * e^9 with a population offset: the counts are the means to
    a relative 1e-10 or so, so the estimates are exact to about that."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    pop = rng.uniform(0.9, 1.1, n) * 1e4
    mu = np.exp(mean(t, b, starts) + np.log(pop))
    return pd.DataFrame({"t": t, "y": np.round(mu), "pop": pop})


# --- the design -------------------------------------------------------------------------------


def test_design_columns_by_hand():
    df = pd.DataFrame({"t": np.arange(1, 11), "y": np.r_[0:10] ** 1.5})
    model = ITS(df, "y", "t", [4, 7])
    want = pd.DataFrame({
        "intercept": [1.0] * 10,
        "pre_slope": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],  # from 0 at the first observation
        "level_change": [0, 0, 0, 1, 1, 1, 1, 1, 1, 1],
        "slope_change": [0, 0, 0, 0, 1, 2, 3, 4, 5, 6],  # zero at the first start, 4
        "level_change_2": [0, 0, 0, 0, 0, 0, 1, 1, 1, 1],
        "slope_change_2": [0, 0, 0, 0, 0, 0, 0, 1, 2, 3],  # zero at its own start, 7
    }, dtype=float)  # fmt: skip
    pd.testing.assert_frame_equal(model.exog, want)
    assert model.starts == (4, 7) and model.start == 4
    # slope_origin moves the first slope-change term only; later ones keep their own start.
    moved = ITS(df, "y", "t", [4, 7], slope_origin=3).exog
    assert list(moved["slope_change"]) == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert list(moved["slope_change_2"]) == list(want["slope_change_2"])
    # Level changes only.
    assert list(ITS(df, "y", "t", [4, 7], slope_change=False).exog.columns) == [
        "intercept", "pre_slope", "level_change", "level_change_2"]  # fmt: skip
    # Three interruptions.
    three = ITS(df, "y", "t", [4, 7, 9], slope_change=False).exog
    assert list(three.columns)[2:] == ["level_change", "level_change_2", "level_change_3"]
    assert list(three["level_change_3"]) == [0] * 8 + [1, 1]


def test_controlled_design_has_control_and_diff_columns_for_every_interruption():
    df = pd.concat([exact(12).assign(site=s) for s in ("A", "B")], ignore_index=True)
    exog = ITS(df, "y", "t", [4, 8], group="site", treated="A").exog
    base = ["intercept", "pre_slope", "level_change", "slope_change", "level_change_2",
            "slope_change_2"]  # fmt: skip
    assert list(exog.columns) == [f"control_{k}" for k in base] + [f"diff_{k}" for k in base]
    z = (df.site == "A").to_numpy(dtype=float)
    x2 = (df.t >= 8).to_numpy(dtype=float)
    assert np.array_equal(exog["control_slope_change_2"], x2 * (df.t - 8))
    assert np.array_equal(exog["diff_slope_change_2"], z * x2 * (df.t - 8))


# --- known changes recovered ------------------------------------------------------------------


def test_two_interruptions_recovered_exactly_through_the_api():
    res = ITS(exact(), "y", "t", list(STARTS)).fit()
    for name, value in zip(NAMES, TRUTH):
        assert res.terms[name].estimate == pytest.approx(value, abs=1e-8), name
    b = dict(zip(NAMES, TRUTH))
    # post_slope_1 between the starts, post_slope after the last.
    assert res.terms["post_slope_1"].estimate == pytest.approx(
        b["pre_slope"] + b["slope_change"], abs=1e-8)  # fmt: skip
    assert res.terms["post_slope"].estimate == pytest.approx(
        b["pre_slope"] + b["slope_change"] + b["slope_change_2"], abs=1e-8)  # fmt: skip
    assert "post_slope_2" not in res.terms
    assert list(res.terms)[:8] == [*NAMES, "post_slope_1", "post_slope"]


def test_two_interruptions_recovered_exactly_through_the_command(capsys, tmp_path):
    out = tmp_path / "its.json"
    code = main(["its", str(csv(tmp_path, exact())), "--outcome", "y", "--time", "t",
                 "--start", "30", "--start", "45", "--json", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    got = json.loads(out.read_text())["terms"]
    for name, value in zip(NAMES, TRUTH):
        assert got[name]["estimate"] == pytest.approx(value, abs=1e-8), name
    assert got["post_slope"]["estimate"] == pytest.approx(0.2 + 0.1 - 0.35, abs=1e-8)
    # The summary names both starts and lists every interruption's terms.
    assert "starts: t = 30, 45" in printed
    for name in (*NAMES, "post_slope_1", "post_slope"):
        assert re.search(rf"^{name}\s", printed, re.M), name


def test_noisy_fit_is_least_squares_on_the_hand_design():
    df = noisy()
    res = ITS(df, "y", "t", STARTS).fit()
    t = df.t.to_numpy(dtype=float)
    x1, x2 = t >= 30, t >= 45
    X = np.column_stack([np.ones(60), t, x1, x1 * (t - 30), x2, x2 * (t - 45)]).astype(float)
    beta, rss, *_ = np.linalg.lstsq(X, df.y.to_numpy(), rcond=None)
    cov = rss[0] / (60 - 6) * np.linalg.inv(X.T @ X)
    for i, name in enumerate(NAMES):
        assert res.terms[name].estimate == pytest.approx(beta[i], rel=1e-9)
        assert res.terms[name].se == pytest.approx(np.sqrt(cov[i, i]), rel=1e-9)
    w = np.array([0, 1, 0, 1, 0, 0.0])
    assert res.terms["post_slope_1"].se == pytest.approx(np.sqrt(w @ cov @ w), rel=1e-9)
    assert res.df_resid == 54
    # Other standard errors run on the same design.
    assert set(ITS(df, "y", "t", STARTS).fit(se="newey", lags=2).terms) == set(res.terms)
    assert ITS(df, "y", "t", STARTS).fit(se="prais").rho is not None


def test_poisson_counts_recover_the_changes_and_the_counterfactual_has_none():
    b = (9.0, 0.004, -0.3, 0.01, 0.2, -0.02)
    df = counts(b=b)
    res = ITS(df, "y", "t", [40, 70], family="poisson", offset="pop").fit()
    for name, value in zip(NAMES, b):
        assert res.terms[name].estimate == pytest.approx(value, abs=1e-7), name
    p = res.params
    # The counterfactual is the pre-period trend with neither interruption (offset kept).
    t = df.t.to_numpy(dtype=float)
    cf = np.exp(p["intercept"] + p["pre_slope"] * t + np.log(df["pop"]))
    pred = res.predictions()
    assert pred["counterfactual"].to_numpy() == pytest.approx(cf, rel=1e-10)
    # At the last period the relative change includes every level and slope change.
    end = (p["level_change"] + p["slope_change"] * (89 - 40) + p["level_change_2"]
           + p["slope_change_2"] * (89 - 70))  # fmt: skip
    assert res.relative_change_end().estimate == pytest.approx(np.expm1(end), rel=1e-9)
    # Between the starts only the first interruption acts.
    mid = res.effect_at(50)["relative"].estimate
    assert mid == pytest.approx(np.expm1(p["level_change"] + p["slope_change"] * 10), rel=1e-9)
    fitted = pred["fitted"].to_numpy()
    post = t >= 40  # post periods are those from the first start
    total = fitted[post].sum() / cf[post].sum() - 1
    assert res.relative_change_cumulative().estimate == pytest.approx(total, rel=1e-9)
    assert res.effect_at(60)["absolute"].estimate == pytest.approx(fitted[60] - cf[60], rel=1e-8)
    with pytest.raises(ITSInputError, match="39 is not a post-intervention period"):
        res.effect_at(39)


def test_level_changes_only():
    b = (10.0, 0.2, -3.0, 0.0, 2.0, 0.0)
    res = ITS(exact(b=b), "y", "t", STARTS, slope_change=False).fit()
    assert res.terms["level_change"].estimate == pytest.approx(-3.0, abs=1e-8)
    assert res.terms["level_change_2"].estimate == pytest.approx(2.0, abs=1e-8)
    assert "slope_change_2" not in res.terms and "post_slope_1" not in res.terms
    assert res.terms["post_slope"].estimate == pytest.approx(0.2, abs=1e-8)
    # One point is enough between two starts when there is no slope change.
    assert ITS(exact(), "y", "t", [30, 31], slope_change=False).fit().nobs == 60


def test_controlled_its_recovers_the_differences_for_both_interruptions():
    treated_b = (10.0, 0.2, -3.0, 0.1, 2.0, -0.35)
    control_b = (8.0, 0.1, -1.0, 0.05, 0.5, -0.1)
    df = pd.concat([exact(b=treated_b).assign(site="A"), exact(b=control_b).assign(site="B")],
                   ignore_index=True)  # fmt: skip
    res = ITS(df, "y", "t", STARTS, group="site", treated="A").fit()
    for name, tr, co in zip(NAMES, treated_b, control_b):
        assert res.terms[f"diff_{name}"].estimate == pytest.approx(tr - co, abs=1e-8), name
        assert res.terms[f"control_{name}"].estimate == pytest.approx(co, abs=1e-8), name
        assert res.terms[name].estimate == pytest.approx(tr, abs=1e-8), name
    assert res.terms["post_slope_1"].estimate == pytest.approx(0.2 + 0.1, abs=1e-8)
    assert res.terms["control_post_slope_1"].estimate == pytest.approx(0.1 + 0.05, abs=1e-8)
    assert res.terms["post_slope"].estimate == pytest.approx(0.2 + 0.1 - 0.35, abs=1e-8)
    assert res.terms["control_post_slope"].estimate == pytest.approx(0.1 + 0.05 - 0.1, abs=1e-8)
    # The treated counterfactual: its own pre-period line plus the control series' changes.
    pred = res.predictions()
    b = tuple(treated_b[:2]) + tuple(control_b[2:])
    assert pred["counterfactual"].to_numpy() == pytest.approx(mean(np.arange(60), b), abs=1e-8)


def test_controlled_its_through_the_command(capsys, tmp_path):
    treated_b = (10.0, 0.2, -3.0, 0.1, 2.0, -0.35)
    control_b = (8.0, 0.1, -1.0, 0.05, 0.5, -0.1)
    df = pd.concat([exact(b=treated_b).assign(site="A"), exact(b=control_b).assign(site="B")])
    out = tmp_path / "its.json"
    code = main(["its", str(csv(tmp_path, df)), "--outcome", "y", "--time", "t", "--start",
                 "30", "--start", "45", "--group", "site", "--treated", "A", "--json",
                 str(out)])  # fmt: skip
    capsys.readouterr()
    assert code == 0
    got = json.loads(out.read_text())["terms"]
    assert got["diff_level_change_2"]["estimate"] == pytest.approx(1.5, abs=1e-8)
    assert got["diff_slope_change_2"]["estimate"] == pytest.approx(-0.25, abs=1e-8)


def test_phase_in_after_the_first_start_is_left_out():
    df = exact()
    df.loc[df.t.isin([30, 31, 32]), "y"] += [50.0, -20.0, 7.0]  # garbage in the phase-in
    res = ITS(df, "y", "t", STARTS, exclude=3).fit()
    assert res.nobs == 57
    for name, value in zip(NAMES, TRUTH):
        assert res.terms[name].estimate == pytest.approx(value, abs=1e-8), name
    assert "phase-in excluded: 3" in res.summary()


def test_placebo_uses_the_data_before_the_first_start():
    df = noisy(seed=5)
    model = ITS(df, "y", "t", STARTS)
    table = model.placebo([15])
    alone = ITS(df[df.t < 30], "y", "t", 15).fit()
    level = table.set_index("term").loc["level_change"]
    assert level["estimate"] == pytest.approx(alone.terms["level_change"].estimate, rel=1e-12)
    with pytest.raises(ITSInputError, match="placebo start 35 is not before the real start"):
        model.placebo([35])


# --- one start, as a number or a list ---------------------------------------------------------


@pytest.mark.parametrize("start", [[37], (37,), np.array([37]), pd.Series([37])],
                         ids=["list", "tuple", "array", "series"])  # fmt: skip
def test_one_start_as_a_list_is_the_scalar_model(start):
    sicily = pd.read_csv(SICILY)
    kw = {"family": "quasipoisson", "offset": "stdpop", "season": "month", "harmonics": 2}
    scalar = ITS(sicily, "aces", "time", 37, **kw).fit()
    listed = ITS(sicily, "aces", "time", start, **kw).fit()
    assert listed.to_dict() == scalar.to_dict()
    assert listed.summary() == scalar.summary()
    pd.testing.assert_frame_equal(listed.predictions(), scalar.predictions())
    assert list(listed.terms) == list(scalar.terms)
    assert listed.effect_at(50) == scalar.effect_at(50)
    pd.testing.assert_frame_equal(listed.model.placebo([20]), scalar.model.placebo([20]))


def test_one_start_in_the_summary_reads_as_before():
    sicily = pd.read_csv(SICILY)
    text = ITS(sicily, "aces", "time", [37], family="poisson", offset="stdpop").fit().summary()
    assert "start: time = 37" in text and "starts:" not in text


# --- refusals ---------------------------------------------------------------------------------

# (id, starts, extra API arguments, extra CLI flags, message)
FAULTS = [
    ("decreasing", [45, 30], {}, [], r"the starts must be increasing, not 45, 30"),
    ("repeated", [30, 30], {}, [], r"the starts must be increasing, not 30, 30"),
    ("after the data", [30, 70], {}, [], r"no observations from the start 70"),
    ("before the data", [-5, 30], {}, [], r"no observations before the start -5"),
    ("too close", [30, 31], {}, [],
     r"starts 30 and 31 leave 1 periods between them in the fit; at least 2 are needed for a "
     r"level and a slope change: choose starts further apart or no slope change"),
    ("too close to the end", [30, 59], {}, [],
     r"start 59 leaves 1 post-intervention periods in the fit; at least 2 .*choose an earlier "
     r"start"),
    ("no point between, no slope change", [30.2, 30.6], {"slope_change": False},
     ["--no-slope-change"], r"starts 30.2 and 30.6 leave 0 periods between them .*at least 1 .*"
     r"for a level change: choose starts further apart$"),
    ("phase-in across the second start", [30, 33], {"exclude": 4}, ["--exclude", "4"],
     r"starts 30 and 33 leave 0 periods between them in the fit after the 4-period phase-in; "
     r".*a shorter phase-in"),
    ("three starts, the last two too close", [20, 30, 31], {}, [],
     r"starts 30 and 31 leave 1 periods between them"),
    ("three starts, out of order", [20, 40, 30], {}, [],
     r"the starts must be increasing, not 20, 40, 30"),
    ("covariate equal to the second level change", [30, 45], {"covariates": ["z"]},
     ["--covariate", "z"], r"rank-deficient .*z is a linear combination"),
]  # fmt: skip


@pytest.mark.parametrize("case", FAULTS, ids=[c[0] for c in FAULTS])
def test_the_api_refuses_bad_starts_in_one_line(case):
    _, starts, kwargs, _, pattern = case
    df = exact().assign(z=lambda d: (d.t >= 45).astype(float))
    with pytest.raises(ITSInputError, match=pattern) as info:
        ITS(df, "y", "t", starts, **kwargs).fit()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("case", FAULTS, ids=[c[0] for c in FAULTS])
def test_the_command_refuses_bad_starts_with_exit_2(capsys, tmp_path, case):
    _, starts, _, flags, pattern = case
    df = exact().assign(z=lambda d: (d.t >= 45).astype(float))
    args = ["--outcome", "y", "--time", "t", *[x for s in starts for x in ("--start", str(s))]]
    refused(capsys, csv(tmp_path, df), [*args, *flags], pattern)


def test_the_segments_of_each_series_are_checked():
    a = exact().assign(site="A")
    b = exact().assign(site="B")
    b = b[~b.t.isin([31, 32])]  # series B has one point between the starts
    df = pd.concat([a, b], ignore_index=True)
    with pytest.raises(ITSInputError, match=r"starts 30 and 33 leave 1 periods between them in "
                                            r"the fit \(series B\)"):  # fmt: skip
        ITS(df, "y", "t", [30, 33], group="site", treated="A", allow_gaps=True)


@pytest.mark.parametrize(
    "start, pattern",
    [([], r"start must be a number or a non-empty sequence of numbers"),
     ([30, "x"], r"start must be a finite number, not 'x'"),
     ([30, float("nan")], r"start must be a finite number, not nan")],
)  # fmt: skip
def test_starts_that_are_not_numbers(start, pattern):
    with pytest.raises(ITSInputError, match=pattern):
        ITS(exact(), "y", "t", start)


def test_a_second_start_that_is_not_a_number_exits_2(capsys, tmp_path):
    refused(capsys, csv(tmp_path, exact()), ["--outcome", "y", "--time", "t", "--start", "30",
                                             "--start", "June"],
            r"--start 'June' is not a number")  # fmt: skip


def test_a_level_change_alone_after_a_late_start():
    # slope_change=(True, False): a level and a slope change from 24, a level change alone
    # from 35, the last point (too few for a slope too); recovered exactly.
    t = np.arange(36, dtype=float)
    a, b = (t >= 24).astype(float), (t >= 35).astype(float)
    y = 5 + 0.1 * t - 2 * a - 0.3 * a * (t - 24) + 1.5 * b
    res = ITS(pd.DataFrame({"t": t, "y": y}), "y", "t", [24, 35],
              slope_change=(True, False)).fit()  # fmt: skip
    assert "slope_change_2" not in res.params.index
    assert res.params["level_change"] == pytest.approx(-2, abs=1e-8)
    assert res.params["slope_change"] == pytest.approx(-0.3, abs=1e-8)
    assert res.params["level_change_2"] == pytest.approx(1.5, abs=1e-8)
    assert res.terms["post_slope"].estimate == pytest.approx(0.1 - 0.3, abs=1e-8)
    with pytest.raises(ITSInputError, match="leaves 1 post-intervention periods"):
        ITS(pd.DataFrame({"t": t, "y": y}), "y", "t", [24, 35]).fit()
    with pytest.raises(ITSInputError, match="slope_change has 3 flags for 2 starts"):
        ITS(pd.DataFrame({"t": t, "y": y}), "y", "t", [24, 35], slope_change=(True,) * 3)
