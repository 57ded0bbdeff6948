"""Table 1 statistics against scipy called independently here and hand-written SMDs."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from dashboard.stats.baseline import (
    NO_GROUP,
    OVERALL,
    BaselineOptions,
    BaselineVariable,
    categorical_test,
    smd_categorical,
    smd_continuous,
    summarize_baseline,
)
from dashboard.tables.baseline import format_baseline_html, format_baseline_table, format_p

GROUPS = (("A", "Group A"), ("B", "Group B"), ("C", "Group C"))
VARS = (
    BaselineVariable("sex", "Sex", "categorical", (("F", "Female"), ("M", "Male"))),
    BaselineVariable("site", "Site", "categorical", (("R", "Rectum"), ("C", "Colon"), ("G", "Stomach"))),
    BaselineVariable("rare", "Rare", "categorical", (("Y", "Yes"), ("N", "No"))),
    BaselineVariable("age", "Age", "continuous", unit="years"),
)


@pytest.fixture(scope="module")
def df():
    rng = np.random.default_rng(3)
    n = 240
    group = rng.choice(["A", "B", "C", None], n, p=[0.4, 0.3, 0.2, 0.1])
    sex = rng.choice(["F", "M", None], n, p=[0.45, 0.5, 0.05])
    site = np.where(group == "A", rng.choice(["R", "C", "G"], n, p=[0.7, 0.2, 0.1]), rng.choice(["R", "C", "G"], n))
    rare = rng.choice(["Y", "N"], n, p=[0.03, 0.97])
    age = np.round(rng.normal(60, 10, n) + (group == "B") * 5)
    age[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame({"g": list(group), "sex": list(sex), "site": list(site), "rare": list(rare),
                         "age": age}, strict=False).with_columns(pl.col("age").fill_nan(None))


@pytest.fixture(scope="module")
def summary(df):
    return summarize_baseline(df, VARS, BaselineOptions("g", GROUPS))


def _pairs_smd_cont(a, b):  # written out: |m1 - m2| / sqrt((s1^2 + s2^2) / 2)
    return abs(np.mean(a) - np.mean(b)) / math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)


def _smd_cat(p, q):  # Yang & Dalton (2012), written independently with numpy.linalg.inv
    t, c = np.asarray(p[1:]), np.asarray(q[1:])
    k = len(t)
    s = np.array([[(t[i] * (1 - t[i]) + c[i] * (1 - c[i])) / 2 if i == j else -(t[i] * t[j] + c[i] * c[j]) / 2
                   for j in range(k)] for i in range(k)])
    d = t - c
    return math.sqrt(d @ np.linalg.inv(s) @ d)


def test_smd_formulas():
    a, b = np.array([1.0, 2, 3, 4, 10]), np.array([2.0, 5, 6, 7])
    assert smd_continuous(a, b) == pytest.approx(_pairs_smd_cont(a, b), rel=1e-12)
    p1, p2 = 0.3, 0.55
    assert smd_categorical([1 - p1, p1], [1 - p2, p2]) == pytest.approx(
        abs(p1 - p2) / math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2), rel=1e-12)
    p, q = [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]
    assert smd_categorical(p, q) == pytest.approx(_smd_cat(p, q), rel=1e-10)
    assert smd_categorical(p, p) == 0


def test_categorical_test_choice_against_scipy():
    big = np.array([[30, 20, 25], [25, 30, 20]])
    assert categorical_test(big) == ("Chi-square", pytest.approx(sps.chi2_contingency(big).pvalue))
    small = np.array([[1, 9], [8, 2]])  # expected 4.5 < 5
    assert categorical_test(small) == ("Fisher exact", pytest.approx(sps.fisher_exact(small).pvalue))
    two_by_two = np.array([[40, 30], [20, 35]])  # Yates-corrected, as R chisq.test
    assert categorical_test(two_by_two)[1] == pytest.approx(sps.chi2_contingency(two_by_two, correction=True).pvalue)
    sparse = np.array([[1, 0, 4], [6, 2, 1], [0, 3, 5]])
    name, p = categorical_test(sparse)
    ref = sps.fisher_exact(sparse, method=sps.MonteCarloMethod(n_resamples=10_000, rng=np.random.default_rng(20260715)))
    assert name == "Fisher exact (Monte Carlo)" and p == pytest.approx(ref.pvalue)
    assert categorical_test(np.array([[5, 0], [0, 0]]))[0] == ""


def test_counts_percentages_and_missing(df, summary):
    groups = summary.groups_.rows(named=True)
    assert [g["group"] for g in groups] == [OVERALL, "A", "B", "C", NO_GROUP]
    assert groups[0]["n"] == df.height
    for g in groups[1:4]:
        assert g["n"] == df.filter(pl.col("g") == g["group"]).height
    cat = summary.categorical_
    for gcode in ("A", "B", "C"):
        sub = df.filter(pl.col("g") == gcode)
        known = sub["sex"].drop_nulls()
        for level in ("F", "M"):
            row = cat.filter((pl.col("variable") == "sex") & (pl.col("group") == gcode) & (pl.col("level") == level))
            k = int((known == level).sum())
            assert row["n"][0] == k
            assert row["pct"][0] == pytest.approx(100 * k / known.len())
        miss = summary.missing_.filter((pl.col("variable") == "sex") & (pl.col("group") == gcode))["n_missing"][0]
        assert miss == sub["sex"].null_count()


def test_continuous_median_iqr(df, summary):
    for gcode in ("A", "B"):
        vals = df.filter(pl.col("g") == gcode)["age"].drop_nulls().to_numpy()
        row = summary.continuous_.filter((pl.col("variable") == "age") & (pl.col("group") == gcode)).row(0, named=True)
        q1, med, q3 = np.percentile(vals, [25, 50, 75])  # numpy "linear" = R quantile type 7
        assert (row["q1"], row["median"], row["q3"]) == pytest.approx((q1, med, q3))


def test_p_values_and_smd_against_independent_computation(df, summary):
    tests = {r["variable"]: r for r in summary.tests_.iter_rows(named=True)}
    grouped = df.filter(pl.col("g").is_not_null())
    ages = [grouped.filter(pl.col("g") == g)["age"].drop_nulls().to_numpy() for g, _ in GROUPS]
    assert tests["age"]["test"] == "Kruskal-Wallis"
    assert tests["age"]["p_value"] == pytest.approx(sps.kruskal(*ages).pvalue, rel=1e-10)
    assert tests["age"]["smd"] == pytest.approx(max(_pairs_smd_cont(a, b) for i, a in enumerate(ages)
                                                    for b in ages[i + 1:]), rel=1e-10)
    # site: every expected count >= 5 -> chi-square
    table = np.array([[grouped.filter((pl.col("g") == g) & (pl.col("site") == s)).height for g, _ in GROUPS]
                      for s in ("R", "C", "G")])
    assert sps.contingency.expected_freq(table).min() >= 5
    assert tests["site"]["test"] == "Chi-square"
    assert tests["site"]["p_value"] == pytest.approx(sps.chi2_contingency(table).pvalue, rel=1e-10)
    props = [table[:, j] / table[:, j].sum() for j in range(3)]
    assert tests["site"]["smd"] == pytest.approx(max(_smd_cat(props[i], props[j]) for i in range(3)
                                                     for j in range(i + 1, 3)), rel=1e-8)
    # rare: small expected counts -> Fisher (Monte Carlo for 2 x 3)
    assert tests["rare"]["test"].startswith("Fisher exact")


def test_format_table(summary):
    table = format_baseline_table(summary, VARS)
    assert table.columns[:3] == ["kind", "Characteristic", "Overall (n=240)"]
    age = table.filter(pl.col("Characteristic") == "Age, years, median (IQR)").row(0, named=True)
    assert age["Test"] == "Kruskal-Wallis" and age["p-value"] == format_p(
        summary.tests_.filter(pl.col("variable") == "age")["p_value"][0])
    assert "Missing" in table["Characteristic"].to_list()
    html = format_baseline_html(table)
    assert "<table" in html and "Group A" in html
    assert format_p(0.0004) == "<0.001" and format_p(0.04567) == "0.046" and format_p(float("nan")) == ""


def test_validation():
    with pytest.raises(ValueError):
        BaselineVariable("x", "X", "ordinal")
    with pytest.raises(ValueError):
        summarize_baseline(pl.DataFrame({"g": ["Z"], "sex": ["F"]}), VARS[:1], BaselineOptions("g", GROUPS))
