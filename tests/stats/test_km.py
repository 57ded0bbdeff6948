"""Kaplan-Meier, quantiles and survival-at-times against R survival 3.5 (tests/r/reference.R)."""

import numpy as np
import polars as pl
import pytest
from numpy.testing import assert_allclose

from dashboard.stats import (
    add_time_zero,
    kaplan_meier,
    median_survival,
    survival_at,
    survival_quantile,
)
from rref import arr, data, ref

RTOL = 1e-8
CASES = {
    # name: (data file, group column, weights column, R call)
    "aml": ("aml", "x", None, "survfit(Surv(time, status) ~ x, data = aml, conf.type = ct)"),
    "lung": ("lung", "sex", None, "survfit(Surv(time, status) ~ sex, data = lung, conf.type = ct)"),
    "ties": ("ties", "grp", None, "survfit(Surv(time, status) ~ grp, data = ties, conf.type = ct)"),
    "tiesw": ("ties", "grp", "w",
              "survfit(Surv(time, status) ~ grp, data = ties, weights = w, conf.type = ct)"),
}
CONF = {"log": "log", "loglog": "log-log", "plain": "plain"}


def _fit(case, tag, **kw):
    file, group, weights, _ = CASES[case]
    df = data(file)
    return kaplan_meier(df, "time", "status", group=group, weights=weights,
                        conf_type=CONF[tag], **kw)


@pytest.mark.parametrize("tag", CONF)
@pytest.mark.parametrize("case", CASES)
def test_km_against_R_survfit(case, tag):
    # R: see CASES[case]; reference file km_{case}_{tag}.csv
    km = _fit(case, tag)
    r = ref(f"km_{case}_{tag}")
    assert km.get_column("group").cast(pl.String).to_list() == r.get_column("strata").to_list()
    for ours, theirs in [("time", "time"), ("n_risk", "n.risk"), ("n_event", "n.event"),
                         ("n_censor", "n.censor"), ("survival", "surv"),
                         ("lower", "lower"), ("upper", "upper")]:
        assert_allclose(arr(km[ours]), arr(r[theirs]), rtol=RTOL, atol=1e-14, err_msg=ours)
    if case == "tiesw":
        # non-integer weights: R uses the IJ (robust) variance and then fit$logse is FALSE,
        # i.e. fit$std.err is already the SE of S, like our std_err
        assert_allclose(arr(km["std_err"]), arr(r["std.err"]), rtol=RTOL)
        return
    # our std_err is the SE of S; R's fit$std.err is the SE of log S = std_err / S
    s = arr(km["survival"])
    pos = s > 0
    assert_allclose(arr(km["std_err"])[pos] / s[pos], arr(r["std.err"])[pos], rtol=RTOL)
    assert np.all(np.isinf(arr(r["std.err"])[~pos]))


def test_km_loglog_90_against_R_survfit_lung_overall():
    # R: survfit(Surv(time, status) ~ 1, data = lung, conf.type = "log-log", conf.int = 0.90)
    km = kaplan_meier(data("lung"), "time", "status", conf_level=0.90)
    r = ref("km_lung_all_loglog_90")
    assert_allclose(arr(km["lower"]), arr(r["lower"]), rtol=RTOL)
    assert_allclose(arr(km["upper"]), arr(r["upper"]), rtol=RTOL)
    q = survival_quantile(km)
    rq = ref("quantile_lung_all_loglog_90")
    for c in ("quantile", "lower", "upper"):
        assert_allclose(arr(q[c]), arr(rq[c]), rtol=RTOL)


@pytest.mark.parametrize("tag", CONF)
@pytest.mark.parametrize("case", CASES)
def test_quantiles_against_R_quantile_survfit(case, tag):
    # R: quantile(fit, probs = c(.25, .5, .75)) with fit as in CASES[case]
    q = survival_quantile(_fit(case, tag), [0.25, 0.5, 0.75])
    r = ref(f"quantile_{case}_{tag}").sort("strata", "prob")
    q = q.sort("group", "prob")
    for c in ("quantile", "lower", "upper"):
        assert_allclose(arr(q[c]), arr(r[c]), rtol=RTOL, err_msg=c)


def test_median_against_R_print_survfit_aml():
    # R: summary(survfit(Surv(time, status) ~ x, data = aml))$table[, c("median", "0.95LCL", "0.95UCL")]
    m = median_survival(_fit("aml", "log"))
    r = ref("median_table_aml_log")
    assert_allclose(arr(m["median"]), arr(r["median"]), rtol=RTOL)
    assert_allclose(arr(m["lower"]), arr(r["lcl"]), rtol=RTOL)
    assert_allclose(arr(m["upper"]), arr(r["ucl"]), rtol=RTOL)  # NA = not reached


@pytest.mark.parametrize("tag", CONF)
@pytest.mark.parametrize("case,times", [("lung", [90, 180, 365, 730, 1000]),
                                        ("ties", [6, 12, 24, 36]), ("tiesw", [6, 12, 24, 36])])
def test_survival_at_against_R_summary_times(case, times, tag):
    # R: summary(fit, times = times) with fit as in CASES[case]
    s = survival_at(_fit(case, tag), times)
    r = ref(f"survat_{case}_{tag}")
    assert s.get_column("group").cast(pl.String).to_list() == r.get_column("strata").to_list()
    for ours, theirs in [("time", "time"), ("n_risk", "n.risk"), ("n_event", "n.event"),
                         ("survival", "surv"), ("std_err", "std.err"), ("lower", "lower"),
                         ("upper", "upper")]:
        assert_allclose(arr(s[ours]), arr(r[theirs]), rtol=RTOL, err_msg=ours)


def test_km_against_lifelines():
    from lifelines import KaplanMeierFitter

    df = data("lung")
    km = kaplan_meier(df, "time", "status")  # log-log = lifelines' "Greenwood exponential"
    kmf = KaplanMeierFitter().fit(df["time"].to_numpy(), df["status"].to_numpy())
    sf = kmf.survival_function_.iloc[1:, 0].to_numpy()  # lifelines has a t=0 row
    ci = kmf.confidence_interval_.iloc[1:].to_numpy()
    assert_allclose(arr(km["survival"]), sf, rtol=1e-12)
    ok = ~np.isnan(arr(km["lower"]))
    assert_allclose(arr(km["lower"])[ok], ci[ok, 0], rtol=1e-10)
    assert_allclose(arr(km["upper"])[ok], ci[ok, 1], rtol=1e-10)


def test_add_time_zero_like_R_survfit0():
    km = _fit("aml", "loglog")
    k0 = add_time_zero(km)
    assert k0.height == km.height + 2
    first = k0.group_by("group", maintain_order=True).first()
    assert first["time"].to_list() == [0.0, 0.0]
    assert first["survival"].to_list() == [1.0, 1.0]
    assert first["n_risk"].to_list() == [11.0, 12.0]
    assert add_time_zero(k0).height == k0.height  # idempotent


def test_km_without_group_is_labelled_all():
    km = kaplan_meier(data("aml"), "time", "status")
    assert set(km["group"].to_list()) == {"all"}


@pytest.mark.parametrize(
    "kwargs,err",
    [
        (dict(time="nope", event="status"), ValueError),
        (dict(time="time", event="x"), TypeError),
        (dict(time="time", event="status", conf_type="logit"), ValueError),
        (dict(time="time", event="status", conf_level=95), ValueError),
    ],
)
def test_km_rejects_bad_input(kwargs, err):
    with pytest.raises(err):
        kaplan_meier(data("aml"), **kwargs)


def test_km_rejects_nulls_and_bad_events():
    df = data("lung")
    with pytest.raises(ValueError, match="null"):
        kaplan_meier(df, "time", "status", group="ph_ecog")
    with pytest.raises(ValueError, match="0 .censored."):
        kaplan_meier(df.with_columns(pl.col("status") + 1), "time", "status")
    with pytest.raises(TypeError, match="LazyFrame"):
        kaplan_meier(df.lazy(), "time", "status")
    with pytest.raises(ValueError, match="negative"):
        kaplan_meier(df.with_columns(-pl.col("time")), "time", "status")


@pytest.mark.parametrize("case", ["aml", "lung", "ties", "tiesw"])
def test_km_paths_for_fractional_times_against_R(case):
    # R: see CASES[case] (conf.type = "log-log"); the same data with time in months
    # (days / 30.4375). Whole-number times take a counting path, fractional ones the
    # sort / hash paths: all must give R's curve.
    file, group, weights, _ = CASES[case]
    df = data(file).with_columns((pl.col("time") / 30.4375).alias("time"))
    km = kaplan_meier(df, "time", "status", group=group, weights=weights, conf_type="log-log")
    r = ref(f"km_{case}_loglog")
    assert_allclose(arr(km["time"]) * 30.4375, arr(r["time"]), rtol=1e-12)
    for ours, theirs in [("n_risk", "n.risk"), ("n_event", "n.event"), ("survival", "surv"), ("lower", "lower"),
                         ("upper", "upper")]:
        assert_allclose(arr(km[ours]), arr(r[theirs]), rtol=RTOL, atol=1e-14, err_msg=ours)


@pytest.mark.parametrize("case,grid,group", [("lung", list(range(0, 1081, 180)), "sex"),
                                             ("ties", list(range(0, 49, 6)), "grp")])
def test_kmunicate_risk_table_against_R_summary_times(case, grid, group):
    # R: s <- summary(survfit(Surv(time, status) ~ g, data = d), times = grid, extend = TRUE)
    #    n.risk = s$n.risk; cum.event = ave(s$n.event, strata, FUN = cumsum);
    #    cum.censor = ave(s$n.censor, strata, FUN = cumsum)   (tests/r/reference.R: risk_out)
    from dashboard.stats.summaries import risk_table

    km = kaplan_meier(data(case), "time", "status", group=group)
    ours = risk_table(km, grid)
    r = ref(f"risktable_{case}")
    assert ours.get_column("group").cast(pl.String).to_list() == r.get_column("strata").to_list()
    for mine, theirs in [("time", "time"), ("n_risk", "n.risk"), ("cum_events", "cum.event"),
                         ("cum_censored", "cum.censor")]:
        assert_allclose(arr(ours[mine]), arr(r[theirs]), rtol=0, atol=0, err_msg=mine)
    # every patient is at risk, has had the event or is censored at the last tick (past follow-up)
    last = ours.filter(pl.col("time") == max(grid))
    n = data(case).group_by(group).len().sort(group)
    assert (last.get_column("cum_events") + last.get_column("cum_censored")).to_list() == n.get_column("len").to_list()
