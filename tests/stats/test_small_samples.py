"""Small-sample tests (issue 14): exact / permutation log-rank against R ``coin`` and an
independent enumeration, Fisher's exact test against R ``fisher.test``, and the rule that
picks the exact log-rank test when expected counts are small.

R 4.2, coin 1.4-2 (Debian r-cran-coin), survival 3.5; the R calls are beside the numbers.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import polars as pl
import pytest

from dashboard.stats.baseline import categorical_test
from dashboard.stats.logrank import (
    logrank_for_sample,
    logrank_permutation_test,
    logrank_scores,
    logrank_test,
)

# d16 <- data.frame(time = c(2.1, 3.5, 3.5, 4.0, 6.2, 7.7, 8.1, 9.0, 12.5, 14.0, 1.2, 1.9, 2.5, 3.5, 5.0, 5.5),
#                   event = c(1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0),
#                   group = factor(c(rep("A", 10), rep("B", 6))))
D16 = pl.DataFrame({"time": [2.1, 3.5, 3.5, 4.0, 6.2, 7.7, 8.1, 9.0, 12.5, 14.0, 1.2, 1.9, 2.5, 3.5, 5.0, 5.5],
                    "event": [1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0],
                    "group": ["A"] * 10 + ["B"] * 6})
# d3 <- data.frame(time = c(1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 2, 3, 3, 5, 9, 1, 1, 2, 4, 6),
#                  event = c(1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1),
#                  group = factor(c(rep("A", 10), rep("B", 5), rep("C", 5))))
D3 = pl.DataFrame({"time": [1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 2, 3, 3, 5, 9, 1, 1, 2, 4, 6],
                   "event": [1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1],
                   "group": ["A"] * 10 + ["B"] * 5 + ["C"] * 5}).with_columns(pl.col("time").cast(pl.Float64))
# d30: 22 "W" and 8 "S" (factor levels W, S)
D30 = pl.DataFrame({
    "time": [5.1, 7.3, 8.0, 9.9, 10.4, 12.0, 13.3, 15.0, 16.1, 18.2, 19.0, 20.5, 22.2, 24.0, 25.1,
             26.3, 28.0, 30.0, 31.2, 33.0, 35.5, 36.0, 1.5, 2.0, 3.1, 4.4, 6.0, 8.0, 11.0, 14.2],
    "event": [0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 1, 0],
    "group": ["W"] * 22 + ["S"] * 8})


def test_logrank_scores_sum_to_observed_minus_expected():
    for d in (D16, D3, D30):
        a = logrank_scores(d["time"].to_numpy().astype(float), d["event"].to_numpy())
        lr = logrank_test(d, "time", "event", "group")
        tab = lr.table.sort("group")
        by = d.with_columns(pl.Series("a", a)).group_by("group").agg(pl.col("a").sum()).sort("group")
        np.testing.assert_allclose(by["a"].to_numpy(), (tab["observed"] - tab["expected"]).to_numpy(), atol=1e-12)


def test_logrank_scores_against_coin():
    # -logrank_trafo(Surv(d3$time, d3$event), ties.method = "mid-ranks")  (coin's sign is H - d)
    coin = [-0.85, -0.73235, 0.26765, -0.57851, 0.62149, -0.37851, -0.23565, 0.96435, 0.96435, 0.46435,
            -0.73235, -0.57851, 0.42149, 0.76435, 1.46435, -0.85, -0.85, 0.26765, -0.37851, -0.03565]
    a = logrank_scores(D3["time"].to_numpy(), D3["event"].to_numpy())
    np.testing.assert_allclose(a, [-c for c in coin], atol=5e-6)


def test_exact_logrank_against_coin_two_groups():
    # lt <- logrank_test(Surv(time, event) ~ group, data = d16, distribution = "exact")
    # statistic(lt) = 1.4239484139; pvalue(lt) = 0.1548451548 (8,008 assignments)
    r = logrank_permutation_test(D16, "time", "event", "group")
    assert r.method.startswith("exact permutation")
    assert np.sqrt(r.statistic) == pytest.approx(1.4239484139, abs=1e-9)
    assert r.p_value == pytest.approx(0.1548451548, abs=1e-9)
    assert r.p_value == pytest.approx(1240 / 8008, abs=1e-12)  # an exact count over C(16, 6)


def test_exact_logrank_against_independent_enumeration():
    """Brute force through an independent code path: for every one of the C(16, 6) splits,
    O - E of group B from :func:`logrank_test` (risk sets and expected counts recomputed per
    split). For two groups the permutation statistic is (O - E)^2 times a constant, so the
    exact p-value is the share of splits with |O - E| at least the observed one. (D16 without
    four of its rows, so the 495 splits run in a second.)"""
    d = D16[[0, 1, 2, 3, 5, 7, 8, 9, 10, 11, 13, 14]]
    n, n1 = d.height, 4

    def o_minus_e(frame):
        t = logrank_test(frame, "time", "event", "group").table.filter(pl.col("group") == "B")
        return float(t["observed"][0] - t["expected"][0])

    obs = abs(o_minus_e(d))
    base = d.drop("group")
    hits = total = 0
    for idx in combinations(range(n), n1):
        g = np.array(["A"] * n)
        g[list(idx)] = "B"
        total += 1
        hits += abs(o_minus_e(base.with_columns(pl.Series("group", g)))) >= obs - 1e-9
    assert total == 495 and 0 < hits < total
    assert logrank_permutation_test(d, "time", "event", "group").p_value == pytest.approx(hits / total, abs=1e-12)


def test_exact_logrank_enumerates_large_splits_when_asked():
    # logrank_test(Surv(time, event) ~ group, data = d30, distribution = "exact")
    # statistic = 2.6587077199; p = 0.0060315142 (choose(30, 8) = 5,852,925 assignments)
    mc = logrank_permutation_test(D30, "time", "event", "group")
    assert mc.method.startswith("Monte Carlo")  # over MAX_EXACT_ASSIGNMENTS: resampled
    assert np.sqrt(mc.statistic) == pytest.approx(2.6587077199, abs=1e-9)
    se = np.sqrt(0.006 * 0.994 / 20_000)
    assert mc.p_value == pytest.approx(0.0060315142, abs=4 * se)


def test_permutation_logrank_three_groups_against_coin():
    # logrank_test(Surv(time, event) ~ group, data = d3, distribution = approximate(nresample = 200000))
    # statistic = 2.0751101246 (quadratic form); p = 0.371235
    r = logrank_permutation_test(D3, "time", "event", "group")
    assert r.df == 2 and r.statistic == pytest.approx(2.0751101246, abs=1e-9)
    se = np.sqrt(0.37 * 0.63 / 20_000) + np.sqrt(0.37 * 0.63 / 200_000)
    assert r.p_value == pytest.approx(0.371235, abs=4 * se)
    # seeded: the same p every run
    assert logrank_permutation_test(D3, "time", "event", "group").p_value == r.p_value


def test_permutation_logrank_with_frequency_counts_equals_expanded():
    cells = D16.group_by("time", "event", "group").len("n")
    a = logrank_permutation_test(cells, "time", "event", "group", freq="n")
    b = logrank_permutation_test(D16, "time", "event", "group")
    assert (a.statistic, a.p_value) == pytest.approx((b.statistic, b.p_value), abs=1e-12)


def test_small_expected_counts_switch_to_the_permutation_test():
    small = logrank_for_sample(D16, "time", "event", "group")  # B expects 2.02 events
    assert small.method.startswith("exact permutation")
    rng = np.random.default_rng(3)
    big = pl.DataFrame({"time": rng.exponential(10, 200), "event": (rng.random(200) < 0.7).astype(int),
                        "group": np.repeat(["A", "B"], 100)})
    assert logrank_for_sample(big, "time", "event", "group").method.startswith("survdiff")


def test_fisher_exact_against_r():
    # fisher.test(matrix(c(3, 1, 1, 3), 2))$p.value = 0.485714285714
    assert categorical_test(np.array([[3, 1], [1, 3]])) == ("Fisher exact", pytest.approx(0.485714285714, abs=1e-10))
    # fisher.test(matrix(c(2, 7, 8, 2), 2))$p.value = 0.0230141375652
    assert categorical_test(np.array([[2, 8], [7, 2]]))[1] == pytest.approx(0.0230141375652, abs=1e-10)
    # fisher.test(matrix(c(3, 0, 2, 1, 4, 5), 2))$p.value = 0.471328671329 (exact 2 x 3);
    # the app's Monte Carlo p over 10,000 tables agrees within 4 standard errors
    name, p = categorical_test(np.array([[3, 2, 4], [0, 1, 5]]))
    assert name == "Fisher exact (Monte Carlo)"
    assert p == pytest.approx(0.471328671329, abs=4 * np.sqrt(0.47 * 0.53 / 10_000))
