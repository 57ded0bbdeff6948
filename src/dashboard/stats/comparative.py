"""Organ preservation first versus radical surgery as an emulated target trial at T1:
propensity overlap, confounding adjustment (IPTW with trimming / truncation, overlap
weights, or 1:1 caliper matching), balance, the hazard ratio, its non-inferiority against
a margin and its E-values. Pure; composed only of the validated functions of
:mod:`dashboard.stats` (nothing is re-estimated here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import norm

from ..i18n import gettext
from dashboard.stats import _validate as v
from dashboard.stats._ci import z_value
from dashboard.stats.cox import _efron_parts, cox_model, efron_fit
from dashboard.stats.km import kaplan_meier
from dashboard.stats.matching import (
    DEFAULT_CALIPER,
    EQUIPOISE,
    balance_table,
    nearest_neighbour_match,
    overlap_weights,
    preference_score,
    trim_mask,
    truncate_weights,
)
from dashboard.stats.noninferiority import (
    DEFAULT_NI_MARGIN,
    RARE_OUTCOME,
    EValue,
    NonInferiority,
    evalue_hr,
    non_inferiority_hr,
)
from dashboard.stats.weighting import propensity_weights

METHODS = ("iptw", "overlap", "matching")
COMPARISON_MIN_PER_ARM = 20  # patients per arm below which the comparison is refused on screen
COMPARISON_MIN_EVENTS = 10  # events (both arms) below which the hazard ratio is refused


@dataclass(frozen=True)
class ComparisonOptions:
    """How the two arms are made comparable (validated; a cache key).

    method : ``iptw`` (stabilised ATE weights), ``overlap`` (overlap weights, ATO) or
        ``matching`` (1:1 nearest neighbour on the score, caliper ``caliper`` SD).
    trim : keep only patients with a score in [0.1, 0.9] (Crump's rule of thumb) before
        weighting or matching.
    truncate : cap IPT weights at their 99th percentile (IPTW only).
    margin : non-inferiority margin of the hazard ratio (default 1.29, PROSPECT).
    landmark : months after T1 at which follow-up starts (0 = at T1).
    """

    method: str = "iptw"
    trim: bool = False
    truncate: bool = False
    caliper: float = DEFAULT_CALIPER
    margin: float = DEFAULT_NI_MARGIN
    conf_level: float = 0.95
    landmark: float = 0.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        if not self.margin > 1:
            raise ValueError(f"margin must be > 1, got {self.margin!r}")
        if not self.caliper > 0:
            raise ValueError(f"caliper must be > 0, got {self.caliper!r}")
        if not 0 <= self.landmark <= 60:
            raise ValueError(f"landmark must be 0-60 months, got {self.landmark!r}")


@dataclass(frozen=True, eq=False)
class ComparisonSummary:
    """Result of :func:`summarize_comparison` (estimated quantities end in ``_``).

    units_ : per patient of the eligible set: ``treated, group, propensity, preference,
        kept`` (in the analysis after trimming / matching), ``weight`` (0 when not kept),
        ``pair`` (matching only, else 0).
    balance_ : ``covariate, smd_before, smd_after``.
    km_ : weighted (or matched) Kaplan-Meier by ``group``.
    hr_ : ``hr, lower, upper, coef, se, p_value`` of treated vs control (robust SE).
    noninferiority_, evalue_ : against the margin; E-values of the HR.
    counts_ : ``group, eligible, analysed, events`` per arm.
    equipoise_ : share of patients with a preference score in [0.3, 0.7].
    """

    units_: pl.DataFrame
    balance_: pl.DataFrame
    km_: pl.DataFrame
    hr_: dict
    noninferiority_: NonInferiority
    evalue_: EValue
    counts_: pl.DataFrame
    equipoise_: float
    rare_outcome: bool
    options: ComparisonOptions
    caliper_width: float | None


def cox_cluster_robust(df: pl.DataFrame, time: str, event: str, covariate: str, cluster: str,
                       weights: str | None = None) -> tuple[float, float]:
    """Cox coefficient of one numeric covariate with the cluster-robust (grouped sandwich)
    SE: R ``coxph(Surv(time, event) ~ covariate, weights, cluster = cluster)`` (Efron
    ties). The fit is :func:`dashboard.stats.cox.efron_fit`; the dfbeta residuals are
    summed within each cluster (matched pair) before the outer product.

    Returns ``(coef, se)``.
    """
    v.check_frame(df, [time, event, covariate, cluster, weights])
    t = v.numeric(df, time, nonnegative=True)
    e = v.event_indicator(df, event)
    x = v.numeric(df, covariate)[:, None]
    w = np.ones(df.height) if weights is None else v.weights_array(df, weights)
    fit = efron_fit(t, e, x, w)
    # the same sorted, centred data efron_fit builds, for the score residuals at the estimate
    order = np.argsort(t, kind="stable")
    _, first, tinv = np.unique(t[order], return_index=True, return_inverse=True)
    xs = x[order] - x.mean(0)
    data = {"x": xs, "w": w[order], "event": e[order], "count": np.ones(t.size), "first": first, "tinv": tinv}
    res = _efron_parts(data, fit["coef"], want_resid=True)["resid"]
    dfb = (data["w"][:, None] * res) @ fit["var"]
    groups = df.get_column(cluster).to_numpy()[order]
    _, g = np.unique(groups, return_inverse=True)
    summed = np.zeros((g.max() + 1, 1))
    np.add.at(summed, g, dfb)
    return float(fit["coef"][0]), float(np.sqrt((summed.T @ summed)[0, 0]))


def landmark_at(df: pl.DataFrame, months: float) -> pl.DataFrame:
    """Patients still event-free and followed ``months`` after T1, time counted from there
    (``time > months``; ``time - months``). ``months = 0`` returns ``df``."""
    if months == 0:
        return df
    return df.filter(pl.col("time") > months).with_columns(pl.col("time") - months)


def summarize_comparison(df: pl.DataFrame, covariates: Sequence[str],
                         options: ComparisonOptions = ComparisonOptions()) -> ComparisonSummary:
    """The comparison of ``treated`` (1) with control (0) under ``options``.

    ``df``: one row per eligible patient, time from time zero (T1 or the landmark):
    ``time, event, treated, group`` and the covariate columns. The propensity score is
    the main-effects logistic model (:func:`propensity_weights`); the hazard ratio is the
    (weighted) Cox model of ``treated`` with robust SE (:func:`cox_model`); for matching,
    the matched patients with the SE clustered on pairs (:func:`cox_cluster_robust`).
    E-values treat the outcome as rare when fewer than 15% of the analysed patients had it.
    """
    covs = [c for c in covariates if df.get_column(c).n_unique() > 1]
    if not covs:
        raise ValueError(gettext("none of the chosen covariates varies in these patients"))
    df = df.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in covs))
    ps = propensity_weights(df, "treated", covs)["propensity"].to_numpy()
    tr = df.get_column("treated").to_numpy()
    pref = preference_score(ps, tr)
    keep = trim_mask(ps) if options.trim else np.ones(df.height, bool)
    pair = np.zeros(df.height, dtype=np.int64)
    width = None
    if options.method == "iptw":
        sub = df.filter(pl.Series(keep))
        e = propensity_weights(sub, "treated", covs)["propensity"].to_numpy() if options.trim else ps
        ts = sub.get_column("treated").to_numpy()
        pt = ts.mean()
        w_sub = np.where(ts == 1, pt / e, (1 - pt) / (1 - e))
        if options.truncate:
            w_sub = truncate_weights(w_sub, 0.99)
        w = np.zeros(df.height)
        w[keep] = w_sub
    elif options.method == "overlap":
        w = np.where(keep, overlap_weights(ps, tr), 0.0)
    else:
        idx = np.flatnonzero(keep)
        m = nearest_neighbour_match(ps[idx], tr[idx], options.caliper)
        pair[idx] = m.pair
        width = m.caliper_width
        keep = pair > 0
        w = keep.astype(float)
    kept = w > 0
    before = balance_table(df, "treated", covs)
    after = balance_table(df, "treated", covs, keep=kept, weights=w)
    balance = before.select("covariate", pl.col("smd").alias("smd_before")).join(
        after.select("covariate", pl.col("smd").alias("smd_after")), on="covariate", maintain_order="left")
    d = df.with_columns(pl.Series("_w", w), pl.Series("pair", pair)).filter(pl.Series(kept))
    if d.filter(pl.col("treated") == 1).height == 0 or d.filter(pl.col("treated") == 0).height == 0:
        raise ValueError(gettext("no patient of one arm is left after trimming / matching"))
    km = kaplan_meier(d, "time", "event", group="group", weights="_w", conf_level=options.conf_level,
                      conf_type="log-log")
    fit = cox_model(d, "time", "event", ["treated"], weights="_w", robust=True, conf_level=options.conf_level)
    row = fit.table.row(0, named=True)
    if options.method == "matching":  # matched pairs: cluster-robust SE (Austin 2014)
        coef, se = cox_cluster_robust(d, "time", "event", "treated", "pair")
        z = z_value(options.conf_level)
        zz = coef / se
        row = {"coef": coef, "se": se, "hr": float(np.exp(coef)), "lower": float(np.exp(coef - z * se)),
               "upper": float(np.exp(coef + z * se)), "p_value": float(2 * norm.sf(abs(zz)))}
    ni = non_inferiority_hr(row["coef"], row["se"], options.margin, options.conf_level)
    rare = float(d.get_column("event").mean()) < RARE_OUTCOME
    ev = evalue_hr(row["hr"], row["lower"], row["upper"], rare=rare)
    counts = (df.with_columns(pl.Series("_kept", kept))
              .group_by("group").agg(pl.len().alias("eligible"), pl.col("_kept").sum().alias("analysed"),
                                     pl.col("event").filter(pl.col("_kept")).sum().alias("events"))
              .sort("group"))
    lo, hi = EQUIPOISE
    units = df.select("treated", "group").with_columns(
        pl.Series("propensity", ps), pl.Series("preference", pref), pl.Series("kept", kept),
        pl.Series("weight", w), pl.Series("pair", pair))
    return ComparisonSummary(
        units_=units, balance_=balance, km_=km,
        hr_={k: row[k] for k in ("hr", "lower", "upper", "coef", "se", "p_value")},
        noninferiority_=ni, evalue_=ev, counts_=counts,
        equipoise_=float(((pref >= lo) & (pref <= hi)).mean()), rare_outcome=rare, options=options,
        caliper_width=width)
