"""Analyses for the Survival and Organ-preservation pages, composed from the validated
statistics functions of this package. Pure: Polars frames in, frozen results out.

Every number a page shows comes from one of the ``summarize_*`` functions here, which
only call :func:`~dashboard.stats.kaplan_meier`, :func:`~dashboard.stats.survival_at`,
:func:`~dashboard.stats.median_survival`, :func:`~dashboard.stats.logrank_test`,
:func:`~dashboard.stats.cox_model`, :func:`~dashboard.stats.cumulative_incidence`,
:func:`~dashboard.stats.proportion_ci`, :func:`~dashboard.stats.propensity_weights` and
:func:`~dashboard.stats.standardized_mean_difference`; nothing is re-estimated here.
Times are in months.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ..i18n import gettext, ngettext
from dashboard.stats._validate import CONF_TYPES
from dashboard.stats.competing import cumulative_incidence
from dashboard.stats.cox import MIN_EVENTS_FOR_HR, cox_model
from dashboard.stats.km import kaplan_meier, median_survival, survival_at
from dashboard.stats.logrank import LogrankResult, logrank_for_sample, logrank_test
from dashboard.stats.proportions import METHODS, ProportionCI, proportion_ci
from dashboard.stats.weighting import propensity_weights, standardized_mean_difference

LANDMARK_TIMES = (12.0, 24.0, 36.0)


@dataclass(frozen=True)
class SurvivalOptions:
    """Options of one survival analysis (validated; hashable, so also a cache key).

    conf_level, conf_type : pointwise CI of the KM curve, inherited by medians and by
        survival at fixed times (``log-log`` default, as lifelines / SAS).
    times : months at which survival is reported.
    reference : reference group of the hazard ratios (first group present if absent).
    adjust : covariate columns of the adjusted Cox model (the group is always in it).
    small_n, small_events : a group with fewer patients or events is flagged as small.
    """

    conf_level: float = 0.95
    conf_type: str = "log-log"
    times: tuple[float, ...] = LANDMARK_TIMES
    reference: str | None = None
    adjust: tuple[str, ...] = ()
    small_n: int = 10
    small_events: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.conf_level < 1:
            raise ValueError(f"conf_level must be in (0, 1), got {self.conf_level!r}")
        if self.conf_type not in CONF_TYPES:
            raise ValueError(f"conf_type must be one of {list(CONF_TYPES)}, got {self.conf_type!r}")
        if not self.times or any(t < 0 for t in self.times):
            raise ValueError(f"times must be non-negative months, got {self.times!r}")
        if not isinstance(self.adjust, tuple):
            raise TypeError("adjust must be a tuple of column names")


@dataclass(frozen=True, eq=False)
class CoxFit:
    """Hazard ratios of the group (other covariates dropped) or why there are none."""

    table: pl.DataFrame | None  # term (group code), reference, hr, lower, upper, p_value, events, ref_events
    n: int = 0
    n_events: float = 0.0
    note: str | None = None
    no_events: tuple[str, ...] = ()  # groups left out: no events
    not_estimable: tuple[str, ...] = ()  # groups whose estimate diverged (complete separation)
    few_events: tuple[tuple[str, float], ...] = ()  # (group, events) below MIN_EVENTS_FOR_HR: no HR
    min_events: int = MIN_EVENTS_FOR_HR


@dataclass(frozen=True, eq=False)
class SurvivalSummary:
    """Result of :func:`summarize_survival` (estimated quantities end in ``_``).

    km_ : :func:`kaplan_meier` table (one row per distinct time per group).
    groups_ : ``group, n, events`` in display order.
    median_ : :func:`median_survival`.
    at_times_ : :func:`survival_at` at ``options.times`` (``extend=True``, kept past the last
        follow-up only where the curve has reached 0).
    logrank_ : :func:`logrank_test` over the groups (None with one group).
    cox_, cox_adjusted_ : group hazard ratios, unadjusted and adjusted.
    small_groups_ : groups below ``small_n`` patients or ``small_events`` events.
    """

    km_: pl.DataFrame
    groups_: pl.DataFrame
    median_: pl.DataFrame
    at_times_: pl.DataFrame
    logrank_: LogrankResult | None
    cox_: CoxFit
    cox_adjusted_: CoxFit | None
    small_groups_: tuple[str, ...]
    options: SurvivalOptions = field(default_factory=SurvivalOptions)


def _count(freq: str | None) -> pl.Expr:
    """Patients in a frame or group: rows, or the sum of ``freq`` when rows are cells."""
    return pl.len() if freq is None else pl.col(freq).sum()


def _total(expr: pl.Expr, freq: str | None) -> pl.Expr:
    """Sum of a per-patient 0/1 (or count) expression over patients, cells weighted by ``freq``."""
    return expr.sum() if freq is None else (expr * pl.col(freq)).sum()


def _patients(df: pl.DataFrame, freq: str | None) -> int:
    return int(df.select(_count(freq)).item())


def _check_tte(df: pl.DataFrame, cols: Sequence[str]) -> None:
    if not isinstance(df, pl.DataFrame):
        raise TypeError(f"expected a polars DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in the frame ({df.columns})")


def order_groups(groups: Sequence[str], order: Sequence[str]) -> list[str]:
    """``groups`` in the order of ``order`` (codes not in it last, sorted)."""
    rank = {c: i for i, c in enumerate(order)}
    return sorted(groups, key=lambda g: (rank.get(g, len(rank)), g))


def _cox_groups(df: pl.DataFrame, time: str, event: str, group: str, covariates: Sequence[str],
                reference: str | None, weights: str | None = None, freq: str | None = None,
                min_events: int = MIN_EVENTS_FOR_HR) -> CoxFit:
    """Cox model of ``group`` (+ covariates): hazard ratios of each group vs the reference.

    Groups with fewer than ``min_events`` events (weighted when ``weights``) get no hazard
    ratio: they stay in the model but their row of ``table`` has ``hr`` null and their event
    count, shown as "not estimable: k events"; when the reference group itself has too few
    events, no group has a hazard ratio. Groups without events cannot be estimated at all
    (infinite partial likelihood): they are left out of the model (named in ``no_events``)
    and keep a row with 0 events.
    """
    w = pl.col(event) if weights is None else pl.col(event) * pl.col(weights)
    ev = df.group_by(group).agg(_total(w, freq).cast(pl.Float64).alias("e"))
    events = dict(ev.iter_rows())
    empty = sorted(g for g, e in events.items() if e == 0)
    few = {g: e for g, e in events.items() if e < min_events}
    present = sorted(events)
    ref = reference if reference in present else (present[0] if present else None)
    few_t = tuple(sorted(few.items()))

    def rows_only(note: str | None) -> CoxFit:
        others = [g for g in present if g != ref]
        tab = pl.DataFrame({"term": others, "reference": [ref] * len(others), "hr": [None] * len(others),
                            "lower": [None] * len(others), "upper": [None] * len(others),
                            "p_value": [None] * len(others), "events": [events[g] for g in others],
                            "ref_events": [events.get(ref, 0.0)] * len(others)},
                           schema={"term": pl.String, "reference": pl.String, "hr": pl.Float64, "lower": pl.Float64,
                                   "upper": pl.Float64, "p_value": pl.Float64, "events": pl.Float64,
                                   "ref_events": pl.Float64}) if others else None
        return CoxFit(tab, note=note, no_events=tuple(empty), few_events=few_t, min_events=min_events)

    if len(present) < 2:
        return CoxFit(None, note=gettext("fewer than two groups with events"), no_events=tuple(empty), few_events=few_t,
                      min_events=min_events)
    if ref in few:
        return rows_only(None)
    # groups with too few events stay in the model (they still inform the baseline hazard and
    # the covariates), only their own hazard ratio is withheld; groups without events cannot
    use = df.filter(~pl.col(group).is_in(empty)) if empty else df
    groups = use.get_column(group).unique().to_list()
    notes: list[str] = []
    if len(groups) < 2:
        return rows_only(None)
    covs = [c for c in covariates if c != group]
    # covariates without variation in the analysed patients carry no information
    covs = [c for c in covs if use.get_column(c).n_unique() > 1]
    # numeric covariates with missing values: complete cases
    dropped = 0
    for c in covs:
        if use.get_column(c).null_count():
            before = _patients(use, freq)
            use = use.filter(pl.col(c).is_not_null())
            dropped += before - _patients(use, freq)
    if dropped:
        notes.append(ngettext("{n} patient with a missing covariate left out", "{n} patients with a missing covariate left out",
                               dropped).format(n=dropped))
    try:
        with np.errstate(over="ignore"):  # diverging terms are reported as not estimable below
            res = cox_model(use, time, event, [group, *covs], weights=weights, reference={group: ref}, freq=freq)
    except (ValueError, np.linalg.LinAlgError, RuntimeError) as exc:
        return CoxFit(None, note="; ".join(notes + [gettext("model not estimable ({reason})").format(reason=exc)]), no_events=tuple(empty),
                      few_events=few_t, min_events=min_events)
    prefix = f"{group}="
    full = res.table.filter(pl.col("term").str.starts_with(prefix))
    # complete separation (e.g. every patient of a group has the event at once): the
    # estimate runs off to +-infinity; report such terms as not estimable
    bad = full.filter(~pl.col("upper").is_finite() | ~pl.col("lower").is_finite() | (pl.col("se") > 10))
    terms: list[str] = []
    if bad.height:
        terms = [t[len(prefix):] for t in bad.get_column("term").to_list()]
        full = full.with_columns(
            [pl.when(pl.col("term").is_in(bad.get_column("term").to_list())).then(None).otherwise(pl.col(c)).alias(c)
             for c in ("hr", "lower", "upper", "p_value")])
    tab = (
        full
        .with_columns(pl.col("term").str.slice(len(prefix)).alias("term"))
        .with_columns(pl.lit(ref).alias("reference"))
        .select("term", "reference", "hr", "lower", "upper", "p_value")
    )
    tab = tab.with_columns(pl.col("term").replace_strict(events, return_dtype=pl.Float64).alias("events"),
                           pl.lit(events[ref], pl.Float64).alias("ref_events"))
    if few:
        withheld = pl.col("term").is_in(list(few))
        tab = tab.with_columns([pl.when(withheld).then(None).otherwise(pl.col(c)).alias(c)
                                for c in ("hr", "lower", "upper", "p_value")])
        extra = rows_only(None).table.filter(pl.col("term").is_in(empty))  # left out of the model
        tab = pl.concat([tab, extra]).join(pl.DataFrame({"term": present, "_o": range(len(present))}), on="term") \
            .sort("_o").drop("_o")
    return CoxFit(tab, res.n, res.n_events, "; ".join(notes) or None, tuple(empty), tuple(terms), few_t, min_events)


def summarize_survival(
    df: pl.DataFrame, options: SurvivalOptions = SurvivalOptions(), *, group_order: Sequence[str] = (),
    freq: str | None = None,
) -> SurvivalSummary:
    """KM curves, medians, survival at fixed times, log-rank test and Cox hazard ratios by
    group.

    Parameters
    ----------
    df : pl.DataFrame
        ``time`` (months), ``event`` (0/1), ``group`` (code; one value for no
        stratification) and the ``options.adjust`` covariate columns; one row per patient,
        or one row per cell of identical patients with ``freq`` naming the cell size.
    options : SurvivalOptions
    group_order : codes in display order (e.g. the vocabulary order).
    freq : column of cell sizes (frequency counts), when ``df`` is collapsed to cells.

    Returns
    -------
    SurvivalSummary
    """
    _check_tte(df, ["time", "event", "group", *options.adjust] + ([freq] if freq else []))
    if df.height == 0:
        raise ValueError(gettext("no patients to analyse"))
    km = kaplan_meier(df, "time", "event", group="group", conf_level=options.conf_level,
                      conf_type=options.conf_type, freq=freq)
    counts = df.group_by("group").agg(_count(freq).cast(pl.Int64).alias("n"),
                                      _total(pl.col("event"), freq).cast(pl.Int64).alias("events"))
    order = order_groups(counts.get_column("group").to_list(), group_order)
    counts = counts.join(pl.DataFrame({"group": order, "_o": range(len(order))}), on="group").sort("_o").drop("_o")
    small = tuple(r["group"] for r in counts.iter_rows(named=True)
                  if r["n"] < options.small_n or r["events"] < options.small_events)
    # the chi-square log-rank test, or the exact permutation test when a group expects few events
    logrank = logrank_for_sample(df, "time", "event", "group", freq=freq) if len(order) > 1 else None
    if len(order) > 1:
        cox = _cox_groups(df, "time", "event", "group", (), options.reference, freq=freq)
        cox_adj = (_cox_groups(df, "time", "event", "group", options.adjust, options.reference, freq=freq)
                   if options.adjust else None)
    else:
        cox, cox_adj = CoxFit(None, note=gettext("one group: nothing to compare")), None
    return SurvivalSummary(
        km_=km, groups_=counts, median_=median_survival(km), at_times_=_survival_at(km, options.times),
        logrank_=logrank, cox_=cox, cox_adjusted_=cox_adj, small_groups_=small, options=options,
    )


def _survival_at(km: pl.DataFrame, times: Sequence[float]) -> pl.DataFrame:
    """:func:`survival_at` with ``extend=True``, keeping times after a group's last
    follow-up only where its curve has reached 0 (it stays 0; otherwise unknown)."""
    at = survival_at(km, times, extend=True)
    last = km.group_by("group").agg(pl.col("time").max().alias("_last"), pl.col("survival").last().alias("_s"))
    return (at.join(last, on="group", how="left", maintain_order="left")
            .filter((pl.col("time") <= pl.col("_last")) | (pl.col("_s") == 0))
            .drop("_last", "_s"))


def risk_table(curve: pl.DataFrame, grid: Sequence[float]) -> pl.DataFrame:
    """Numbers at risk, cumulative events and cumulative censored at the ``grid`` times.

    ``curve`` is a :func:`kaplan_meier` (or :func:`cumulative_incidence`) table with
    ``group, time, n_risk, n_event`` (and ``n_censor`` when present). At risk at t: the
    ``n_risk`` of the first row at or after t (0 past the last follow-up); cumulative
    counts: sums over rows with ``time <= t``. Weighted curves give summed weights.

    Returns ``group, time, n_risk, cum_events, cum_censored``.
    """
    g = np.asarray(sorted(set(float(x) for x in grid)), dtype=float)
    out = []
    for (grp,), part in curve.group_by("group", maintain_order=True):
        t = part.get_column("time").to_numpy()
        nr = np.concatenate((part.get_column("n_risk").to_numpy(), [0.0]))
        i = np.searchsorted(t, g, side="left")
        ce = np.concatenate(([0.0], np.cumsum(part.get_column("n_event").to_numpy())))
        cc = np.concatenate(([0.0], np.cumsum(part.get_column("n_censor").to_numpy()))) if "n_censor" in part.columns \
            else np.full(t.size + 1, np.nan)
        j = np.searchsorted(t, g, side="right")
        out.append(pl.DataFrame({"group": [grp] * g.size, "time": g, "n_risk": nr[i], "cum_events": ce[j],
                                 "cum_censored": cc[j]}))
    return pl.concat(out) if out else pl.DataFrame(
        schema={"group": pl.String, "time": pl.Float64, "n_risk": pl.Float64, "cum_events": pl.Float64,
                "cum_censored": pl.Float64})


def time_grid(max_time: float) -> list[float]:
    """Ticks for the time axis and the at-risk table: every 6 months up to 4 years,
    every 12 months beyond."""
    step = 6.0 if max_time <= 48 else 12.0
    return [step * k for k in range(int(np.floor(max_time / step)) + 1)]


# ------------------------------------------------------------------ competing risks
@dataclass(frozen=True, eq=False)
class CompetingSummary:
    """Cumulative incidence of regrowth and of the competing events (Aalen-Johansen).

    cif_ : ``cause`` (``REGROWTH`` / ``COMPETING``) + the :func:`cumulative_incidence`
        columns, per group.
    at_times_ : CIF of both causes at ``times`` (last step at or before t).
    groups_ : ``group, n, regrowths, competing``.
    """

    cif_: pl.DataFrame
    at_times_: pl.DataFrame
    groups_: pl.DataFrame


def summarize_competing(df: pl.DataFrame, *, times: Sequence[float] = LANDMARK_TIMES,
                        conf_level: float = 0.95, conf_type: str = "log",
                        group_order: Sequence[str] = (), freq: str | None = None) -> CompetingSummary:
    """Cumulative incidence of local regrowth with distant metastasis and death competing.

    ``df``: ``time``, ``event_type`` (``REGROWTH`` / ``COMPETING`` / ``CENSORED``),
    ``group`` (and ``freq``, the cell size, when ``df`` is collapsed to cells). CIs as R's
    multi-state ``survfit`` (``conf_type="log"`` by default).
    """
    _check_tte(df, ["time", "event_type", "group"] + ([freq] if freq else []))
    present = set(df.get_column("event_type").unique().to_list())
    pieces = []
    for cause in ("REGROWTH", "COMPETING"):
        if cause in present:
            c = cumulative_incidence(df, "time", "event_type", cause, group="group", censor_code="CENSORED",
                                     conf_level=conf_level, conf_type=conf_type, freq=freq)
        else:  # no such event at all: incidence 0 throughout
            c = (df.group_by("group").agg(pl.col("time").max(), _count(freq).cast(pl.Float64).alias("n_risk"))
                 .with_columns(pl.lit(0.0).alias("n_event"), pl.lit(0.0).alias("cif"), pl.lit(0.0).alias("std_err"),
                               pl.lit(None, pl.Float64).alias("lower"), pl.lit(None, pl.Float64).alias("upper")))
        pieces.append(c.with_columns(pl.lit(cause).alias("cause")))
    cif = pl.concat([p.select("cause", "group", "time", "n_risk", "n_event", "cif", "std_err", "lower", "upper")
                     for p in pieces])
    rows = []
    ts = np.asarray(sorted(times), dtype=float)
    for (cause, grp), part in cif.group_by("cause", "group", maintain_order=True):
        t = part.get_column("time").to_numpy()
        for x in ts[ts <= t.max()]:
            i = np.searchsorted(t, x, side="right") - 1
            r = part.row(int(i), named=True) if i >= 0 else {"cif": 0.0, "lower": None, "upper": None}
            rows.append({"cause": cause, "group": grp, "time": float(x), "cif": r["cif"], "lower": r["lower"],
                         "upper": r["upper"]})
    at = pl.DataFrame(rows, schema={"cause": pl.String, "group": pl.String, "time": pl.Float64, "cif": pl.Float64,
                                    "lower": pl.Float64, "upper": pl.Float64})
    counts = df.group_by("group").agg(
        _count(freq).cast(pl.Int64).alias("n"),
        _total(pl.col("event_type") == "REGROWTH", freq).cast(pl.Int64).alias("regrowths"),
        _total(pl.col("event_type") == "COMPETING", freq).cast(pl.Int64).alias("competing"),
    )
    order = order_groups(counts.get_column("group").to_list(), group_order)
    counts = counts.join(pl.DataFrame({"group": order, "_o": range(len(order))}), on="group").sort("_o").drop("_o")
    return CompetingSummary(cif, at, counts)


# ------------------------------------------------------------------ IPTW
@dataclass(frozen=True, eq=False)
class IptwSummary:
    """Inverse-probability-of-treatment weighted comparison (treated = 1 vs 0).

    weights_ : ``treated, propensity, weight`` per patient (row order of the input).
    balance_ : ``covariate, smd_before, smd_after`` (treated minus control).
    km_ : weighted :func:`kaplan_meier` by ``group``; ``n_risk`` are summed weights.
    at_times_, median_ : from the weighted curve.
    cox_ : weighted Cox hazard ratio of treated vs control, robust (sandwich) SE.
    cox_crude_ : the same model without weights.
    logrank_ : weighted log-rank (Cox score) test.
    ess_ : ``group, n, ess`` (Kish effective sample size ``(sum w)^2 / sum w^2``).
    """

    weights_: pl.DataFrame
    balance_: pl.DataFrame
    km_: pl.DataFrame
    at_times_: pl.DataFrame
    median_: pl.DataFrame
    cox_: CoxFit
    cox_crude_: CoxFit
    logrank_: LogrankResult | None
    ess_: pl.DataFrame
    estimand: str
    stabilized: bool


def summarize_iptw(df: pl.DataFrame, covariates: Sequence[str], *, estimand: str = "ATE",
                   stabilized: bool = True, options: SurvivalOptions = SurvivalOptions()) -> IptwSummary:
    """Propensity model (main-effects logistic) of ``treated`` on ``covariates``, IPT
    weights, covariate balance before and after weighting, and the weighted KM, log-rank
    and Cox comparison.

    ``df``: ``time``, ``event``, ``treated`` (0/1), ``group`` (label code per arm) and the
    covariate columns (numeric without nulls, or categorical).
    """
    covs = list(covariates)
    _check_tte(df, ["time", "event", "treated", "group", *covs])
    if not covs:
        raise ValueError(gettext("choose at least one covariate for the propensity model"))
    # covariates that do not vary cannot enter the model
    covs = [c for c in covs if df.get_column(c).n_unique() > 1]
    if not covs:
        raise ValueError(gettext("none of the chosen covariates varies in these patients"))
    df = df.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in covs))
    pw = propensity_weights(df, "treated", covs, estimand=estimand, stabilized=stabilized)
    d = df.with_columns(pw.get_column("propensity"), pw.get_column("weight").alias("_w"))
    before = standardized_mean_difference(d, "treated", covs)
    after = standardized_mean_difference(d, "treated", covs, weights="_w")
    balance = before.select("covariate", pl.col("smd").alias("smd_before")).join(
        after.select("covariate", pl.col("smd").alias("smd_after")), on="covariate", how="left", maintain_order="left")
    km = kaplan_meier(d, "time", "event", group="group", weights="_w", conf_level=options.conf_level,
                      conf_type=options.conf_type)
    ref = d.filter(pl.col("treated") == 0).get_column("group").first()
    cox = _cox_groups(d, "time", "event", "group", (), ref, weights="_w")
    crude = _cox_groups(d, "time", "event", "group", (), ref)
    lr = logrank_test(d, "time", "event", "group", weights="_w") if d.get_column("group").n_unique() > 1 else None
    ess = d.group_by("group").agg(pl.len().alias("n"),
                                  (pl.col("_w").sum() ** 2 / (pl.col("_w") ** 2).sum()).alias("ess"),
                                  pl.col("_w").max().alias("max_weight"))
    return IptwSummary(
        weights_=d.select("treated", "group", "propensity", pl.col("_w").alias("weight")),
        balance_=balance, km_=km, at_times_=_survival_at(km, options.times), median_=median_survival(km),
        cox_=cox, cox_crude_=crude, logrank_=lr, ess_=ess.sort("group"), estimand=estimand, stabilized=stabilized,
    )


# ------------------------------------------------------------------ organ preservation
@dataclass(frozen=True)
class OrganOptions:
    """Options of the organ-preservation summaries.

    horizon : months for the crude rate (patients evaluable at the horizon).
    method : exact-CI method for proportions (:data:`~dashboard.stats.proportions.METHODS`).
    times : months of the KM estimates.
    """

    horizon: float = 36.0
    method: str = "clopper-pearson"
    conf_level: float = 0.95
    conf_type: str = "log-log"
    times: tuple[float, ...] = LANDMARK_TIMES

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        if not self.horizon > 0:
            raise ValueError("horizon must be > 0 months")
        SurvivalOptions(self.conf_level, self.conf_type, self.times)


def crude_preservation(df: pl.DataFrame, horizon: float, freq: str | None = None) -> tuple[int, int, int]:
    """Crude organ preservation at ``horizon`` months from OPS (time from T0).

    A patient fails if the OPS event (radical resection or death) happened at or before
    the horizon (``event == 1 and time <= horizon``), succeeds if followed beyond it with
    the organ in place (``time >= horizon`` without failing), and is *not evaluable*
    otherwise (censored before the horizon). Returns ``(preserved, evaluable, not_evaluable)``.
    ``freq``: column of cell sizes when ``df`` is collapsed to cells of identical patients.
    """
    fail = (pl.col("event") == 1) & (pl.col("time") <= horizon)
    ok = ~fail & (pl.col("time") >= horizon)
    r = df.select(_total(fail, freq).alias("f"), _total(ok, freq).alias("s"), _count(freq).alias("n")).row(0)
    f, s, n = int(r[0]), int(r[1]), int(r[2])
    return s, s + f, n - s - f


def _organ_row(df: pl.DataFrame, o: OrganOptions, freq: str | None = None) -> dict:
    s, n_eval, n_not = crude_preservation(df, o.horizon, freq)
    events = int(df.select(_total(pl.col("event"), freq)).item())
    row = {"n": _patients(df, freq), "events": events, "preserved": s, "evaluable": n_eval, "not_evaluable": n_not}
    if n_eval:
        ci = proportion_ci(s, n_eval, o.method, o.conf_level)
        row.update(crude=ci.estimate, crude_lower=ci.lower, crude_upper=ci.upper)
    else:
        row.update(crude=None, crude_lower=None, crude_upper=None)
    km = kaplan_meier(df, "time", "event", conf_level=o.conf_level, conf_type=o.conf_type, freq=freq)
    at = {r["time"]: r for r in _survival_at(km, o.times).iter_rows(named=True)}
    for t in o.times:
        r = at.get(float(t))
        k = f"km{t:g}"
        row[k], row[k + "_lower"], row[k + "_upper"], row[k + "_n_risk"] = (
            (r["survival"], r["lower"], r["upper"], r["n_risk"]) if r else (None, None, None, None))
    return row


def organ_cells(df: pl.DataFrame, subgroups: Sequence[str]) -> pl.DataFrame:
    """Patient rows -> the cells :func:`summarize_organ_cells` reads: ``subgroup, level,
    time, event, n`` for all patients (``overall`` / ``ALL``) and per level of each
    subgroup column (what ``queries.organ.select_organ_cells`` returns from the store)."""
    _check_tte(df, ["time", "event", *subgroups])
    parts = [df.group_by("time", "event").agg(pl.len().alias("n"))
             .select(pl.lit("overall").alias("subgroup"), pl.lit("ALL").alias("level"), "time", "event", "n")]
    for col in subgroups:
        parts.append(df.group_by(col, "time", "event").agg(pl.len().alias("n"))
                     .select(pl.lit(col).alias("subgroup"), pl.col(col).cast(pl.String).alias("level"),
                             "time", "event", "n"))
    return pl.concat(parts, how="vertical_relaxed").sort("subgroup", "level", "time", "event")


def summarize_organ_cells(
    cells: pl.DataFrame, subgroups: Mapping[str, Sequence[str]], options: OrganOptions = OrganOptions()
) -> pl.DataFrame:
    """:func:`summarize_organ_preservation` from cells (``subgroup, level, time, event, n``,
    see :func:`organ_cells`), e.g. collapsed in the database; the numbers are those of the
    patient rows."""
    _check_tte(cells, ["subgroup", "level", "time", "event", "n"])
    parts = {k: part for k, part in cells.partition_by("subgroup", "level", as_dict=True).items()}
    if ("overall", "ALL") not in parts:
        raise ValueError(gettext("no patients to analyse"))
    rows = [{"subgroup": "overall", "level": "ALL", **_organ_row(parts["overall", "ALL"], options, "n")}]
    for col, levels in subgroups.items():
        present = {lev for (sub, lev) in parts if sub == col}
        for lev in [*levels, *sorted(present - set(levels))]:
            if lev in present:
                rows.append({"subgroup": col, "level": lev, **_organ_row(parts[col, lev], options, "n")})
    return pl.DataFrame(rows, infer_schema_length=None)


def summarize_organ_preservation(
    df: pl.DataFrame, subgroups: Mapping[str, Sequence[str]], options: OrganOptions = OrganOptions()
) -> pl.DataFrame:
    """Crude rate (with exact CI) and KM organ-preservation survival at ``options.times``,
    overall and per level of each subgroup column.

    Parameters
    ----------
    df : OPS from T0, one row per patient: ``time``, ``event`` and the subgroup columns.
    subgroups : column -> level codes in display order (levels absent from ``df`` skipped).

    Returns
    -------
    pl.DataFrame
        ``subgroup`` (column name, ``overall``), ``level``, ``n``, ``events``,
        ``preserved``, ``evaluable``, ``not_evaluable``, ``crude``, ``crude_lower``,
        ``crude_upper`` and ``km{t}``, ``km{t}_lower``, ``km{t}_upper``, ``km{t}_n_risk``
        per time (proportions in [0, 1]; null where not estimable).
    """
    return summarize_organ_cells(organ_cells(df, list(subgroups)), subgroups, options)


def summarize_rates(df: pl.DataFrame, definitions: Sequence[tuple[str, str, str]],
                    method: str = "clopper-pearson", conf_level: float = 0.95, freq: str | None = None) -> pl.DataFrame:
    """Proportions with CIs: one row per ``(key, numerator column, denominator column)``.

    Both columns are boolean; nulls in the numerator count as not a success. ``freq``:
    column of cell sizes when ``df`` is collapsed to cells of identical patients.
    Returns ``key, successes, n, estimate, lower, upper`` (no CI where n = 0).
    """
    rows = []
    for key, num, den in definitions:
        _check_tte(df, [num, den] + ([freq] if freq else []))
        r = df.select(
            _total(pl.col(num).fill_null(False) & pl.col(den).fill_null(False), freq).alias("x"),
            _total(pl.col(den).fill_null(False), freq).alias("n"),
        ).row(0)
        x, n = int(r[0]), int(r[1])
        ci: ProportionCI | None = proportion_ci(x, n, method, conf_level) if n else None
        rows.append({"key": key, "successes": x, "n": n, "estimate": ci.estimate if ci else None,
                     "lower": ci.lower if ci else None, "upper": ci.upper if ci else None})
    return pl.DataFrame(rows, schema={"key": pl.String, "successes": pl.Int64, "n": pl.Int64,
                                      "estimate": pl.Float64, "lower": pl.Float64, "upper": pl.Float64})
