"""Proportion CIs (binom.test, prop.test, qbeta) and IPTW helpers (glm) against R."""

import numpy as np
import polars as pl
import pytest
from numpy.testing import assert_allclose

from dashboard.stats import proportion_ci, propensity_weights, standardized_mean_difference
from rref import arr, data, ref

ROWS = ref("proportions").iter_rows(named=True)


@pytest.mark.parametrize("row", list(ROWS), ids=lambda r: f"{int(r['x'])}of{int(r['n'])}")
def test_proportion_ci_against_R(row):
    x, n = int(row["x"]), int(row["n"])
    cp = proportion_ci(x, n)  # R: binom.test(x, n)$conf.int
    assert_allclose([cp.lower, cp.upper], [row["cp_lower"], row["cp_upper"]], rtol=1e-8, atol=1e-15)
    wi = proportion_ci(x, n, "wilson")  # R: prop.test(x, n, correct = FALSE)$conf.int
    assert_allclose([wi.lower, wi.upper], [row["wilson_lower"], row["wilson_upper"]], rtol=1e-8, atol=1e-15)
    je = proportion_ci(x, n, "jeffreys")  # R: qbeta(c(.025, .975), x + .5, n - x + .5), 0 / 1 at x = 0 / n
    assert_allclose([je.lower, je.upper], [row["jeffreys_lower"], row["jeffreys_upper"]], rtol=1e-8, atol=1e-15)
    assert cp.estimate == x / n


@pytest.mark.parametrize("args", [(3, 0), (5, 4), (-1, 3), (1.5, 3)])
def test_proportion_ci_rejects(args):
    with pytest.raises(ValueError):
        proportion_ci(*args)


def test_proportion_ci_rejects_method():
    with pytest.raises(ValueError, match="method"):
        proportion_ci(1, 2, method="wald")


def test_propensity_against_R_glm():
    # R: glm(trt ~ x + age, family = binomial, data = ties); weights written out explicitly
    df = data("ties")
    r = ref("propensity_ties")
    ate_s = propensity_weights(df, "trt", ["x", "age"])
    assert_allclose(arr(ate_s["propensity"]), arr(r["ps"]), rtol=1e-8)
    assert_allclose(arr(ate_s["weight"]), arr(r["w_ate_stabilized"]), rtol=1e-8)
    ate = propensity_weights(df, "trt", ["x", "age"], stabilized=False)
    assert_allclose(arr(ate["weight"]), arr(r["w_ate"]), rtol=1e-8)
    att = propensity_weights(df, "trt", ["x", "age"], estimand="ATT")
    assert_allclose(arr(att["weight"]), arr(r["w_att"]), rtol=1e-8)


def test_smd_against_R_formula():
    # R: (weighted.mean1 - weighted.mean0) / sqrt((var1 + var0) / 2), unweighted variances;
    #    binary: p(1 - p)
    df = data("ties").with_columns((pl.col("strat") == "s2").cast(pl.Int64).alias("s2"))
    df = df.with_columns(propensity_weights(df, "trt", ["x", "age"])["weight"].alias("iptw"))
    r = ref("smd_ties")
    un = standardized_mean_difference(df, "trt", ["x", "age", "s2"])
    assert_allclose(arr(un["smd"]), arr(r["smd_unweighted"]), rtol=1e-8)
    wt = standardized_mean_difference(df, "trt", ["x", "age", "s2"], weights="iptw")
    assert_allclose(arr(wt["smd"]), arr(r["smd_weighted"]), rtol=1e-8)


def test_propensity_errors():
    df = data("ties")
    with pytest.raises(ValueError, match="estimand"):
        propensity_weights(df, "trt", ["x"], estimand="ATO")
    with pytest.raises(ValueError, match="0 .censored."):
        propensity_weights(df, "age", ["x"])
