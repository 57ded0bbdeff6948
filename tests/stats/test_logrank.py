"""Log-rank tests against R survdiff / coxph score test (tests/r/reference.R)."""

import numpy as np
import polars as pl
import pytest
from numpy.testing import assert_allclose

from dashboard.stats import logrank_test, logrank_trend_test
from rref import arr, data, ref

RTOL = 1e-8


@pytest.mark.parametrize(
    "name,file,group,strata",
    [
        ("survdiff_aml", "aml", "x", None),  # survdiff(Surv(time, status) ~ x, data = aml)
        ("survdiff_lung", "lung", "sex", None),  # survdiff(Surv(time, status) ~ sex, data = lung)
        ("survdiff_ties", "ties", "grp", None),  # survdiff(Surv(time, status) ~ grp, data = ties)
        # survdiff(Surv(time, status) ~ grp + strata(strat), data = ties)
        ("survdiff_ties_strata", "ties", "grp", "strat"),
        # survdiff(Surv(time, status) ~ sex + strata(inst), data = lung)  (1 NA inst dropped)
        ("survdiff_lung_strata_inst", "lung", "sex", "inst"),
    ],
)
def test_logrank_against_R_survdiff(name, file, group, strata):
    df = data(file)
    if strata:
        df = df.drop_nulls(strata)
    res = logrank_test(df, "time", "status", group, strata=strata)
    r = ref(name)
    assert_allclose(res.statistic, r["chisq"][0], rtol=RTOL)
    assert res.df == int(r["df"][0])
    assert_allclose(res.p_value, r["p"][0], rtol=RTOL)
    assert_allclose(arr(res.table["observed"]), arr(r["observed"]), rtol=RTOL)
    assert_allclose(arr(res.table["expected"]), arr(r["expected"]), rtol=RTOL)
    assert_allclose(arr(res.table["n"]), arr(r["n"]), rtol=RTOL)


def test_weighted_logrank_against_R_coxph_breslow_score_test():
    # R: summary(coxph(Surv(time, status) ~ factor(grp), data = ties, weights = w,
    #                  ties = "breslow", robust = FALSE))$sctest
    res = logrank_test(data("ties"), "time", "status", "grp", weights="w")
    r = ref("coxph_score_breslow_ties_weighted")
    assert_allclose(res.statistic, r["chisq"][0], rtol=RTOL)
    assert res.df == int(r["df"][0])
    assert_allclose(res.p_value, r["p"][0], rtol=RTOL)


@pytest.mark.parametrize(
    "name,strata,scores",
    [
        ("trend_ties", None, None),  # s = 1:4 on survdiff(Surv(time, status) ~ grp)
        ("trend_ties_strata", "strat", None),  # ... ~ grp + strata(strat)
        ("trend_ties_scores0125", None, {"A": 0, "B": 1, "C": 2, "D": 5}),
    ],
)
def test_trend_against_R_survdiff_formula(name, strata, scores):
    # R: U = s'(O - E); chisq = U^2 / (s' V s) from survdiff's obs, exp, var
    res = logrank_trend_test(data("ties"), "time", "status", "grp", scores=scores, strata=strata)
    r = ref(name)
    assert_allclose(res.statistic, r["chisq"][0], rtol=RTOL)
    assert_allclose(res.p_value, r["p"][0], rtol=RTOL)
    assert res.df == 1


def test_logrank_against_lifelines():
    from lifelines.statistics import multivariate_logrank_test

    df = data("ties")
    res = logrank_test(df, "time", "status", "grp")
    ll = multivariate_logrank_test(df["time"].to_numpy(), df["grp"].to_numpy(), df["status"].to_numpy())
    assert_allclose(res.statistic, ll.test_statistic, rtol=1e-10)


def test_logrank_input_errors():
    df = data("aml")
    with pytest.raises(ValueError, match="single group"):
        logrank_test(df.with_columns(pl.lit("a").alias("x")), "time", "status", "x")
    with pytest.raises(ValueError, match="null"):
        logrank_test(data("lung"), "time", "status", "sex", strata="inst")
    with pytest.raises(ValueError, match="scores"):
        logrank_trend_test(df, "time", "status", "x", scores=[1, 2, 3])
    with pytest.raises(ValueError, match="equal"):
        logrank_trend_test(df, "time", "status", "x", scores=[1, 1])
    assert np.isfinite(logrank_test(df, "time", "status", "x").statistic)
