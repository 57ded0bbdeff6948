"""Aalen-Johansen cumulative incidence against R multi-state survfit (IJ std.err)."""

import numpy as np
import polars as pl
import pytest
from numpy.testing import assert_allclose

from dashboard.stats import cumulative_incidence
from rref import arr, data, ref

RTOL = 1e-8


@pytest.mark.parametrize("cause", [1, 2])
@pytest.mark.parametrize(
    "file,name,weights",
    [
        ("mgus2_cr", "aj_mgus2", None),  # survfit(Surv(time, factor(event)) ~ 1, data = mg)
        ("small_cr", "aj_small", None),  # survfit(Surv(time, factor(event)) ~ 1, data = scr)
        # survfit(Surv(time, factor(event)) ~ 1, data = scr, weights = w)
        ("small_cr", "aj_small_weighted", "w"),
    ],
)
def test_cif_against_R_multistate_survfit(file, name, weights, cause):
    res = cumulative_incidence(data(file), "time", "event", cause, weights=weights)
    r = ref(name).filter(pl.col("cause") == float(cause))
    assert_allclose(arr(res["time"]), arr(r["time"]), rtol=RTOL)
    assert_allclose(arr(res["cif"]), arr(r["pstate"]), rtol=RTOL, atol=1e-15)
    assert_allclose(arr(res["std_err"]), arr(r["std.err"]), rtol=RTOL, atol=1e-15)
    assert_allclose(arr(res["lower"]), arr(r["lower"]), rtol=RTOL)  # R default conf.type "log"
    assert_allclose(arr(res["upper"]), arr(r["upper"]), rtol=RTOL)
    if weights is None:  # R prints unweighted counts for weighted multi-state fits
        assert_allclose(arr(res["n_risk"]), arr(r["n.risk"]), rtol=RTOL)
        assert_allclose(arr(res["n_event"]), arr(r["n.event"]), rtol=RTOL)


def test_cif_against_lifelines_without_ties():
    from lifelines import AalenJohansenFitter

    rng = np.random.default_rng(1)
    n = 300
    df = pl.DataFrame({"time": rng.exponential(10, n), "event": rng.integers(0, 3, n)})
    res = cumulative_incidence(df, "time", "event", 1)
    ajf = AalenJohansenFitter(calculate_variance=False, seed=1)
    ajf.fit(df["time"].to_numpy(), df["event"].to_numpy(), event_of_interest=1)
    ll = ajf.cumulative_density_.iloc[1:, 0].to_numpy()
    assert_allclose(arr(res["cif"]), ll, rtol=1e-10, atol=1e-14)


def test_cif_grouped_and_errors():
    df = data("mgus2_cr")
    res = cumulative_incidence(df, "time", "event", 1, group="sex")
    assert res["group"].unique().sort().to_list() == ["F", "M"]
    with pytest.raises(ValueError, match="does not occur"):
        cumulative_incidence(df, "time", "event", 7)
    with pytest.raises(ValueError, match="censoring code"):
        cumulative_incidence(df, "time", "event", 0)
