"""Frequency counts (``freq=``): data collapsed to cells give the numbers of the expanded data.

The pages collapse patients to (group, time, event[, covariates]) cells in DuckDB and pass
the cell size as ``freq``. Two kinds of check:

- R: the R reference data sets are collapsed to cells and compared with the R output for
  the *uncollapsed* data (tests/r/reference.R), rtol 1e-8 as in the other R tests;
- expansion: random tied data with groups, strata, covariates and non-integer weights,
  collapsed with counts, against the same function on the expanded rows (rtol 1e-10),
  which covers the weighted / robust paths R has no frequency option for.
"""

import numpy as np
import polars as pl
import pytest
from numpy.testing import assert_allclose

from dashboard.stats import cox_model, cumulative_incidence, kaplan_meier, logrank_test
from dashboard.stats.logrank import logrank_trend_test
from rref import arr, data, ref

RTOL_R = 1e-8
RTOL = 1e-10


def _collapse(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    out = df.group_by(keys).agg(pl.len().alias("n"))
    assert out.height < df.height  # the test data really have duplicate cells
    # shuffle: nothing may depend on the row order of the cells
    return out.sample(fraction=1.0, shuffle=True, seed=7)


# ----------------------------------------------------------------------------- against R
@pytest.mark.parametrize(("tag", "ct"), [("loglog", "log-log"), ("log", "log"), ("plain", "plain")])
def test_km_on_cells_equals_R_survfit_on_patients(tag, ct):
    # R: survfit(Surv(time, status) ~ grp, data = ties, conf.type = ct) -> km_ties_{tag}.csv
    cells = _collapse(data("ties").select("time", "status", "grp"), ["time", "status", "grp"])
    got = kaplan_meier(cells, "time", "status", group="grp", conf_type=ct, freq="n")
    want = ref(f"km_ties_{tag}")
    assert got.get_column("group").to_list() == want.get_column("strata").to_list()
    for mine, theirs in [("time", "time"), ("n_risk", "n.risk"), ("n_event", "n.event"), ("n_censor", "n.censor"),
                         ("survival", "surv"), ("lower", "lower"), ("upper", "upper")]:
        assert_allclose(arr(got[mine]), arr(want[theirs]), rtol=RTOL_R, err_msg=mine)
    # R's std.err is the SE of log S (Inf once S = 0); ours is the SE of S
    s = arr(got["survival"])
    pos = s > 0
    assert_allclose(arr(got["std_err"])[pos] / s[pos], arr(want["std.err"])[pos], rtol=RTOL_R)
    assert np.all(np.isinf(arr(want["std.err"])[~pos]))


def test_logrank_on_cells_equals_R_survdiff_on_patients():
    # R: survdiff(Surv(time, status) ~ grp, data = ties) -> survdiff_ties.csv
    cells = _collapse(data("ties").select("time", "status", "grp"), ["time", "status", "grp"])
    got = logrank_test(cells, "time", "status", "grp", freq="n")
    want = ref("survdiff_ties")
    assert_allclose(got.statistic, want["chisq"][0], rtol=RTOL_R)
    assert got.df == int(want["df"][0])
    assert_allclose(got.table["n"].to_numpy(), want["n"].to_numpy(), rtol=RTOL_R)
    assert_allclose(got.table["expected"].to_numpy(), want["expected"].to_numpy(), rtol=RTOL_R)


def test_stratified_logrank_on_cells_equals_R():
    # R: survdiff(Surv(time, status) ~ grp + strata(strat), data = ties) -> survdiff_ties_strata.csv
    cells = _collapse(data("ties").select("time", "status", "grp", "strat"), ["time", "status", "grp", "strat"])
    got = logrank_test(cells, "time", "status", "grp", strata="strat", freq="n")
    assert_allclose(got.statistic, ref("survdiff_ties_strata")["chisq"][0], rtol=RTOL_R)


@pytest.mark.parametrize(("robust", "file"), [(False, "coxph_ties_grp_x"), (True, "coxph_ties_robust")])
def test_cox_on_cells_equals_R_coxph_on_patients(robust, file):
    # R: coxph(Surv(time, status) ~ factor(grp) + x, data = ties[, robust = TRUE]) -> {file}.csv
    # (Efron ties: the tied deaths of one cell are still counted one by one)
    cells = _collapse(data("ties").select("time", "status", "grp", "x"), ["time", "status", "grp", "x"])
    got = cox_model(cells, "time", "status", ["grp", "x"], robust=robust, freq="n").table
    want = ref(file)
    assert_allclose(got["coef"].to_numpy(), want["coef"].to_numpy(), rtol=RTOL_R)
    se = want["robust_se"] if robust else want["se"]
    assert_allclose(got["se"].to_numpy(), se.to_numpy(), rtol=RTOL_R)
    assert_allclose(got["p_value"].to_numpy(), want["p"].to_numpy(), rtol=RTOL_R)


def test_cox_cells_keep_loglik_and_counts():
    # R: coxph(Surv(time, status) ~ factor(grp) + x, data = ties)$loglik[2] -> coxph_ties_grp_x.csv
    raw = data("ties").select("time", "status", "grp", "x")
    cells = _collapse(raw, ["time", "status", "grp", "x"])
    fit = cox_model(cells, "time", "status", ["grp", "x"], freq="n")
    assert_allclose(fit.loglik, ref("coxph_ties_grp_x")["loglik"][0], rtol=RTOL_R)
    assert fit.n == raw.height and fit.n_events == raw["status"].sum()


@pytest.mark.parametrize(("weights", "file"), [(None, "aj_small"), ("w", "aj_small_weighted")])
def test_aalen_johansen_on_cells_equals_R(weights, file):
    # R: survfit(Surv(time, factor(event)) ~ 1, data = scr[, weights = w]) -> {file}.csv, cause 1
    raw = data("small_cr")
    keys = ["time", "event"] + ([weights] if weights else [])
    got = cumulative_incidence(_collapse(raw, keys), "time", "event", cause=1, weights=weights, freq="n")
    want = ref(file).filter(pl.col("cause") == 1)
    assert_allclose(arr(got["cif"]), arr(want["pstate"]), rtol=RTOL_R)
    assert_allclose(arr(got["std_err"]), arr(want["std.err"]), rtol=RTOL_R)


# ------------------------------------------------------------------- against expansion
@pytest.fixture(scope="module")
def tied() -> pl.DataFrame:
    rng = np.random.default_rng(11)
    n = 3000
    return pl.DataFrame({
        "time": rng.integers(1, 40, n).astype(float),  # heavy ties
        "status": rng.binomial(1, 0.6, n),
        "cause": rng.choice([0, 1, 2], n, p=[0.4, 0.35, 0.25]),
        "grp": rng.choice(["A", "B", "C"], n),
        "strat": rng.choice(["s1", "s2"], n),
        "sex": rng.choice(["F", "M"], n),
        "w": rng.choice([0.5, 1.0, 2.5], n),  # few distinct weights, so cells repeat
    })


def _expand(cells: pl.DataFrame) -> pl.DataFrame:
    return cells.select(pl.all().exclude("n").repeat_by(pl.col("n")).explode())


def _frames_close(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.columns == b.columns and a.height == b.height
    for c in a.columns:
        if a[c].dtype.is_numeric():
            assert_allclose(arr(a[c]), arr(b[c]), rtol=RTOL, atol=1e-14, err_msg=c)
        else:
            assert a[c].to_list() == b[c].to_list(), c


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("robust", [None, True])
def test_km_cells_equal_expanded(tied, weighted, robust):
    cells = _collapse(tied, ["time", "status", "grp", "w"])
    w = "w" if weighted else None
    got = kaplan_meier(cells, "time", "status", group="grp", weights=w, robust=robust, freq="n")
    want = kaplan_meier(_expand(cells), "time", "status", group="grp", weights=w, robust=robust)
    _frames_close(got, want)


@pytest.mark.parametrize("weighted", [False, True])
def test_logrank_cells_equal_expanded(tied, weighted):
    cells = _collapse(tied, ["time", "status", "grp", "strat", "w"])
    w = "w" if weighted else None
    for strata in (None, "strat"):
        got = logrank_test(cells, "time", "status", "grp", strata=strata, weights=w, freq="n")
        want = logrank_test(_expand(cells), "time", "status", "grp", strata=strata, weights=w)
        assert_allclose(got.statistic, want.statistic, rtol=RTOL)
        assert_allclose(got.variance, want.variance, rtol=RTOL)
        _frames_close(got.table, want.table)
    trend = logrank_trend_test(cells, "time", "status", "grp", weights=w, freq="n")
    assert_allclose(trend.statistic, logrank_trend_test(_expand(cells), "time", "status", "grp", weights=w).statistic,
                    rtol=RTOL)


@pytest.mark.parametrize("weighted", [False, True])
def test_cox_cells_equal_expanded(tied, weighted):
    cells = _collapse(tied, ["time", "status", "grp", "sex", "w"])
    w = "w" if weighted else None
    for robust in (False, True):
        got = cox_model(cells, "time", "status", ["grp", "sex"], weights=w, robust=robust, freq="n")
        want = cox_model(_expand(cells), "time", "status", ["grp", "sex"], weights=w, robust=robust)
        _frames_close(got.table, want.table)
        assert_allclose(got.loglik, want.loglik, rtol=RTOL)
        assert (got.n, got.n_events) == (want.n, pytest.approx(want.n_events))


@pytest.mark.parametrize("weighted", [False, True])
def test_aalen_johansen_cells_equal_expanded(tied, weighted):
    cells = _collapse(tied, ["time", "cause", "grp", "w"])
    w = "w" if weighted else None
    got = cumulative_incidence(cells, "time", "cause", cause=1, group="grp", weights=w, freq="n")
    want = cumulative_incidence(_expand(cells), "time", "cause", cause=1, group="grp", weights=w)
    _frames_close(got, want)


def test_freq_must_be_whole_counts(tied):
    bad = tied.head(50).with_columns(pl.lit(1.5).alias("n"))
    for call in (lambda: kaplan_meier(bad, "time", "status", freq="n"),
                 lambda: logrank_test(bad, "time", "status", "grp", freq="n"),
                 lambda: cox_model(bad, "time", "status", ["grp"], freq="n"),
                 lambda: cumulative_incidence(bad, "time", "cause", cause=1, freq="n")):
        with pytest.raises(ValueError, match="whole numbers"):
            call()
    with pytest.raises(ValueError, match="whole numbers"):
        kaplan_meier(tied.head(5).with_columns(pl.lit(0).alias("n")), "time", "status", freq="n")
