"""Cox model against R coxph (Efron ties), plain, categorical, robust and weighted."""

import polars as pl
import pytest
from numpy.testing import assert_allclose

from dashboard.stats import cox_model
from rref import arr, data, ref

RTOL = 1e-8


def _check(res, r):
    se = r["robust_se"] if res.robust else r["se"]
    assert_allclose(arr(res.table["coef"]), arr(r["coef"]), rtol=RTOL)
    assert_allclose(arr(res.table["se"]), arr(se), rtol=RTOL)
    assert_allclose(arr(res.table["hr"]), arr(r["hr"]), rtol=RTOL)
    assert_allclose(arr(res.table["lower"]), arr(r["lower"]), rtol=RTOL)
    assert_allclose(arr(res.table["upper"]), arr(r["upper"]), rtol=RTOL)
    assert_allclose(arr(res.table["p_value"]), arr(r["p"]), rtol=1e-7)
    assert_allclose(res.loglik, r["loglik"][0], rtol=1e-12)


def test_cox_against_R_coxph_lung():
    # R: coxph(Surv(time, status) ~ age + sex + ph_ecog, data = lung)  (ties = "efron")
    df = data("lung").drop_nulls("ph_ecog")
    _check(cox_model(df, "time", "status", ["age", "sex", "ph_ecog"]), ref("coxph_lung"))


def test_cox_categorical_against_R_coxph_ties():
    # R: coxph(Surv(time, status) ~ factor(grp) + x, data = ties); reference level "A"
    res = cox_model(data("ties"), "time", "status", ["grp", "x"])
    assert res.table["term"].to_list() == ["grp=B", "grp=C", "grp=D", "x"]
    assert res.reference_levels == {"grp": "A"}
    _check(res, ref("coxph_ties_grp_x"))


def test_cox_robust_against_R_coxph_robust():
    # R: coxph(Surv(time, status) ~ factor(grp) + x, data = ties, robust = TRUE)
    _check(cox_model(data("ties"), "time", "status", ["grp", "x"], robust=True),
           ref("coxph_ties_robust"))


def test_cox_weighted_robust_against_R_coxph():
    # R: coxph(Surv(time, status) ~ x + age, data = ties, weights = w, robust = TRUE)
    res = cox_model(data("ties"), "time", "status", ["x", "age"], weights="w")
    assert res.robust
    _check(res, ref("coxph_ties_weighted_robust"))


def test_cox_coefficients_against_lifelines():
    from lifelines import CoxPHFitter

    df = data("lung").drop_nulls("ph_ecog").select("time", "status", "age", "sex", "ph_ecog")
    res = cox_model(df, "time", "status", ["age", "sex", "ph_ecog"])
    cph = CoxPHFitter().fit(df.to_pandas(), "time", "status")
    assert_allclose(arr(res.table["coef"]), cph.params_.to_numpy(), rtol=1e-5)
    assert_allclose(arr(res.table["se"]), cph.standard_errors_.to_numpy(), rtol=1e-5)


def test_cox_reference_level_and_errors():
    df = data("ties")
    res = cox_model(df, "time", "status", ["grp"], reference={"grp": "D"})
    assert res.table["term"].to_list() == ["grp=A", "grp=B", "grp=C"]
    with pytest.raises(ValueError, match="not found"):
        cox_model(df, "time", "status", ["grp"], reference={"grp": "Z"})
    with pytest.raises(ValueError, match="efron"):
        cox_model(df, "time", "status", ["x"], ties="breslow")
    with pytest.raises(ValueError, match="without variation"):
        cox_model(df.with_columns(pl.lit(1.0).alias("k")), "time", "status", ["k"])
    with pytest.raises(ValueError, match="non-empty"):
        cox_model(df, "time", "status", "x")
