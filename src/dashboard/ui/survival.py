"""Survival page body: Kaplan-Meier by group, regrowth under competing risks, and an
inverse-probability-weighted comparison of organ preservation first versus radical surgery."""

from __future__ import annotations

import dataclasses

import polars as pl
import streamlit as st

from ..derive import ENDPOINTS_BY_CODE
from ..figures.balance import balance_figure, weights_figure
from ..figures.cif import cif_figure
from ..figures.km import CENSOR_MARKS_MAX, colours_for, dashes_for, km_figure, thin_caption
from ..filters import CohortFilter, PageOption
from ..i18n import N_, _, fmt_decimal, fmt_int, ngettext
from ..queries.survival import (
    COVARIATES,
    ENDPOINT_ORDER,
    FACTORS,
    LANDMARK,
    TteRequest,
    covariate_level_label,
    origin_axis_label,
    select_iptw_data,
    select_tte_cells,
)
from ..stats.summaries import (
    CompetingSummary,
    IptwSummary,
    SurvivalOptions,
    SurvivalSummary,
    risk_table,
    summarize_competing,
    summarize_iptw,
    summarize_survival,
    time_grid,
)
from ..stats.cox import MIN_EVENTS_FOR_HR
from ..stats.logrank import SMALL_EXPECTED
from ..store import Store
from ..tables.survival import (
    HR_UNADJUSTED,
    format_balance_table,
    format_competing_table,
    format_cox_table,
    format_p_eq,
    format_pct_ci,
    format_risk_cells,
    format_survival_table,
    km_csv,
    with_labels,
)
from ..report import ReportItem
from .data import cached_query
from .export import csv_button, show_figure, show_table
from .methods import comparison_section, competing_tests
from .page import PageContext, option_control, option_select
from .text import in_language, lower_first, sentences

PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"],
                 "toImageButtonOptions": {"format": "png", "scale": 2}}
# English source strings (N_): shown with _() (ENDPOINT_LABELS[c] keeps the code before ':').
ENDPOINT_LABELS = {"OPS": N_("OPS: organ-preservation survival"), "RG": N_("RG: local regrowth (Watch & Wait)"),
                   "LR": N_("LR: local recurrence after resection"),
                   "DMFS": N_("DMFS: distant-metastasis-free survival"),
                   "DFS": N_("DFS: disease-free survival (salvage-adjusted)"),
                   "DFS_STRICT": N_("DFS: disease-free survival (strict)"),
                   "EFS": N_("EFS: event-free survival"), "OS": N_("OS: overall survival")}
# Endpoint names for report titles ("Overall survival by initial strategy group").
ENDPOINT_NAMES = {"OPS": N_("Organ-preservation survival"), "DFS": N_("Disease-free survival (salvage-adjusted)"),
                  "OS": N_("Overall survival")}
Y_TITLES = {"OPS": N_("Alive with organ in place (%)"), "RG": N_("Free of local regrowth (%)"),
            "LR": N_("Free of local recurrence (%)"), "DMFS": N_("Alive without distant metastasis (%)"),
            "DFS": N_("Disease-free survival (%)"), "DFS_STRICT": N_("Disease-free survival, strict (%)"),
            "EFS": N_("Event-free survival (%)"), "OS": N_("Overall survival (%)")}

VIEW = PageOption("view", N_("Show"), (("km", N_("Kaplan-Meier")), ("cif", N_("Regrowth with competing risks")),
                                       ("iptw", N_("Weighted comparison (IPTW)")),
                                       ("compare", N_("Comparable outcomes (target trial)"))), "km")
ENDPOINT = PageOption("endpoint", N_("Endpoint"), tuple((c, ENDPOINT_LABELS[c]) for c in ENDPOINT_ORDER), "OPS")
ORIGIN = PageOption("origin", N_("Time from"), (("T0", N_("T0: first immunotherapy dose")),
                                                ("T1", N_("T1: strategy decision")),
                                                ("INDEX", N_("Definitive treatment")),
                                                (LANDMARK, N_("Landmark after T0"))), "T1")
LANDMARK_MONTHS = PageOption("landmark", N_("Landmark after T0"),
                             (("3", N_("3 months")), ("6", N_("6 months")), ("9", N_("9 months")),
                              ("12", N_("12 months")), ("18", N_("18 months")), ("24", N_("24 months"))), "6")
FACTOR = PageOption("by", N_("Compare"), tuple((k, f.label) for k, f in FACTORS.items()), "initial_group")
CI = PageOption("ci", N_("Confidence band"), (("log-log", N_("log-log (default)")), ("log", N_("log (R default)")),
                                              ("plain", N_("plain (linear)")), ("none", N_("no band"))), "log-log")
# The band's transformation as named in captions ("log-log" and "log" are kept as written).
CI_METHODS = {"log-log": "log-log", "log": "log", "plain": N_("plain")}
MIN_AT_RISK = PageOption("minrisk", N_("Stop each curve when fewer remain at risk than"),
                         tuple((str(k), str(k) if k else N_("never stop (thin tail, default)"))
                               for k in (0, 5, 10, 20, 30)), "0")
# Written on the Kaplan-Meier figure (screen and export) when asked; kept in the URL.
P_ON_PLOT = PageOption("pplot", N_("Log-rank p on the plot"), (("0", N_("Off")), ("1", N_("On"))), "0")
MEDIAN_LINES = PageOption("medians", N_("Median guide lines"), (("0", N_("Off")), ("1", N_("On"))), "0")
# The table under the Kaplan-Meier curves: KMunicate (Morris et al., BMJ Open 2019: at risk, then the
# cumulative censored and events rows per group), the number at risk only, or at risk with the cumulative
# counts in brackets in one cell.
RISK_TABLE = PageOption("risktable", N_("Table under the curves"),
                        (("kmunicate", N_("KMunicate: at risk, censored, events")),
                         ("risk", N_("Number at risk only")),
                         ("cells", N_("At risk (cumulative events/censored) in one cell"))), "kmunicate")
OPTIONS = (VIEW, ENDPOINT, ORIGIN, LANDMARK_MONTHS, FACTOR, CI, MIN_AT_RISK, P_ON_PLOT, MEDIAN_LINES, RISK_TABLE)

DEFAULT_PS_COVARIATES = ["age", "sex", "ecog", "tumour_site", "ct", "cn", "regimen_class"]
# Comparisons that are degenerate by definition: (endpoint, factor) -> the groups left out
# and why. Radical surgery removes the organ, so OPS of a group defined by radical surgery
# is 0 from that surgery on; a test against it only restates the definition.
DEGENERATE = {
    ("OPS", "initial_group"): (("RO",), N_("radical surgery as the initial strategy removes the organ at the first "
                                           "operation, so its OPS falls to 0 by definition")),
    ("OPS", "initial_strategy"): (("RO",), N_("radical surgery as the initial strategy removes the organ at the first "
                                              "operation, so its OPS falls to 0 by definition")),
    ("OPS", "final_group"): (("RO",), N_("a patient whose last strategy is radical surgery has lost the organ by "
                                         "definition (the group is defined by the outcome)")),
}


def degenerate(req: TteRequest) -> tuple[tuple[str, ...], str] | None:
    """The groups a comparison leaves out because comparing them is degenerate by definition,
    and why (None when the comparison is meaningful)."""
    return DEGENERATE.get((req.endpoint, req.factor))
IPTW_LABELS = {"OP": N_("Organ preservation first (NOM or OPFS)"), "RO": N_("Radical surgery (RO)")}


def iptw_label(group: str) -> str:
    """An IPTW arm's label in the current language."""
    return _(IPTW_LABELS[group])
IPTW_MIN_PER_ARM = 20  # patients per arm below which no weighted comparison is computed
IPTW_PATIENTS_PER_COVARIATE = 5  # in the smaller arm, per propensity covariate


# ------------------------------------------------------------------ shared UI helpers
# ------------------------------------------------------------------ cached analyses
def km_analysis(store: Store, flt: CohortFilter, req: TteRequest, opts: SurvivalOptions) -> SurvivalSummary | None:
    """Query + :func:`summarize_survival` (module level, so ``cached_query`` can cache it)."""
    cells = select_tte_cells(store, flt, req)  # collapsed in the database; same numbers
    left_out = degenerate(req)
    if left_out:  # never compute a test that only restates the endpoint's definition
        cells = cells.filter(~pl.col("group").is_in(list(left_out[0])))
    if cells.height == 0:
        return None
    return summarize_survival(cells, opts, group_order=FACTORS[req.factor].codes, freq="n")


def competing_analysis(store: Store, flt: CohortFilter, req: TteRequest, conf_level: float) -> CompetingSummary | None:
    cells = select_tte_cells(store, flt, req)
    if cells.height == 0:
        return None
    return summarize_competing(cells, conf_level=conf_level, group_order=FACTORS[req.factor].codes, freq="n")


def iptw_analysis(store: Store, flt: CohortFilter, endpoint: str, covariates: tuple[str, ...], estimand: str,
                  opts: SurvivalOptions) -> IptwSummary | str:
    """The weighted comparison, or why it cannot be done (a message)."""
    df = select_iptw_data(store, flt, endpoint, covariates)
    counts = dict(df.group_by("group").len().iter_rows())
    events = dict(df.group_by("group").agg(pl.col("event").sum()).iter_rows())
    if counts.get("OP", 0) < IPTW_MIN_PER_ARM or counts.get("RO", 0) < IPTW_MIN_PER_ARM:
        return _("Not computed: too few patients for a weighted comparison: {op} with organ preservation first, "
                 "{ro} with radical surgery. A propensity model needs at least {min_arm} patients in each arm (and "
                 "{per_cov} per covariate in the smaller arm), otherwise the weights are unstable and balance cannot "
                 "be judged.").format(op=counts.get("OP", 0), ro=counts.get("RO", 0), min_arm=IPTW_MIN_PER_ARM,
                                      per_cov=IPTW_PATIENTS_PER_COVARIATE)
    if min(counts.values()) < IPTW_PATIENTS_PER_COVARIATE * len(covariates):
        return _("Not computed: {n} patients in the smaller arm for {k} propensity covariates; at least {per_cov} per "
                 "covariate are needed ({needed}). Choose fewer covariates.").format(
            n=min(counts.values()), k=len(covariates), per_cov=IPTW_PATIENTS_PER_COVARIATE,
            needed=IPTW_PATIENTS_PER_COVARIATE * len(covariates))
    if sum(events.values()) < MIN_EVENTS_FOR_HR * 2:
        return _("Not computed: {n} {endpoint} events in the two arms together; a weighted hazard ratio needs at least "
                 "{min_events} in each arm.").format(n=int(sum(events.values())),
                                                     endpoint=ENDPOINT_LABELS[endpoint].split(":")[0],
                                                     min_events=MIN_EVENTS_FOR_HR)
    try:
        return summarize_iptw(df, covariates, estimand=estimand, options=opts)
    except (ValueError, RuntimeError) as exc:
        return _("The propensity model could not be fitted: {error}").format(error=exc)


# ------------------------------------------------------------------ figures (page and report)
def logrank_plot_text(lr) -> str | None:
    """The log-rank p as written on the plot ("log-rank p = 0.012"; the permutation test
    named when it replaced the chi-square); None without a test."""
    if lr is None or lr.p_value is None:
        return None
    if lr.method.startswith(("exact permutation", "Monte Carlo permutation")):
        return _("Log-rank (permutation) {p}").format(p=format_p_eq(lr.p_value))
    return _("Log-rank {p}").format(p=format_p_eq(lr.p_value))


def km_view(s: SurvivalSummary, req: TteRequest, *, show_ci: bool = True, min_at_risk: int = 0,
            cumulative: bool = False, p_on_plot: bool = False, median_lines: bool = False, kmunicate: bool = False):
    """The Kaplan-Meier figure (curves over the number-at-risk table) and its at-risk cells;
    ``p_on_plot`` writes the log-rank p on it, ``median_lines`` draws dashed guides from 50%
    to each median reached; ``kmunicate`` adds the cumulative censored and events rows under
    each group's number at risk; ``cumulative`` puts them into the at-risk cell instead."""
    label = _label_fn(req.factor)
    groups = s.groups_.get_column("group").to_list()
    grid = time_grid(float(s.km_.get_column("time").max() or 12.0))
    risk = format_risk_cells(risk_table(s.km_, grid), cumulative and not kmunicate, kmunicate=kmunicate)
    if kmunicate:
        risk_title = _("Number at risk, censored and events (cumulative)")
    elif cumulative:
        risk_title = _("Number at risk (cumulative events/censored)")
    else:
        risk_title = _("Number at risk")
    fig = km_figure(
        s.km_, risk, groups=groups, label=label, n=dict(s.groups_.select("group", "n").iter_rows()),
        colours=colours_for(req.factor, groups), dashes=dashes_for(req.factor, groups), x_title=origin_axis_label(req),
        y_title=_(Y_TITLES[req.endpoint]), grid=grid, show_ci=show_ci, min_at_risk=min_at_risk,
        risk_title=risk_title, p_text=logrank_plot_text(s.logrank_) if p_on_plot else None,
        median_lines=median_lines, kmunicate=kmunicate,
    )
    return fig, risk


def cif_view(c: CompetingSummary, req: TteRequest, *, show_ci: bool = True, min_at_risk: int = 0):
    """Cumulative incidence of regrowth (and competing events) over the at-risk table."""
    label = _label_fn(req.factor)
    groups = c.groups_.get_column("group").to_list()
    grid = time_grid(float(c.cif_.get_column("time").max() or 12.0))
    reg = c.cif_.filter(pl.col("cause") == "REGROWTH")
    risk = format_risk_cells(risk_table(reg, grid), False)
    return cif_figure(c.cif_, risk, groups=groups, label=label, n=dict(c.groups_.select("group", "n").iter_rows()),
                      colours=colours_for(req.factor, groups), x_title=origin_axis_label(req), grid=grid,
                      show_ci=show_ci, min_at_risk=min_at_risk)


# ------------------------------------------------------------------ page sections
def _controls(ctx: PageContext) -> tuple[str, TteRequest, SurvivalOptions, dict]:
    view = option_control(VIEW, label_visibility="collapsed")
    if view == "compare":  # dashboard.ui.methods draws its own controls
        return view, None, None, {}
    c1, c2, c3, c4 = st.columns([3, 3, 2, 3])
    with c1:
        if view == "cif":
            rg_label = ENDPOINT_LABELS["RG"]
            st.selectbox(_(ENDPOINT.label), [_(rg_label)], disabled=True, key="cif_endpoint",
                         help=_("Competing risks are shown for local regrowth under Watch & Wait."))
            endpoint = "RG"
        else:
            endpoint = option_select(ENDPOINT)
    ep = ENDPOINTS_BY_CODE[endpoint]
    with c2:
        origin = option_select(ORIGIN, disabled=view == "iptw",
                               help=_("T0 for everyone; T1 or a landmark to compare groups formed after T0."))
    with c3:
        landmark = float(option_select(LANDMARK_MONTHS, disabled=origin != LANDMARK or view == "iptw"))
    with c4:
        factor = option_select(FACTOR, disabled=view == "iptw")
    notes = {}
    if view == "iptw":
        origin, factor = "T1", "initial_group"
    if origin != LANDMARK and origin not in ep.origins:
        notes["origin"] = _("{endpoint} has no origin '{origin}'; time is counted from T1 (strategy decision).").format(
            endpoint=_(ENDPOINT_LABELS[endpoint]), origin=_(ORIGIN.label_of(origin)))
        origin = "T1"
    with st.expander(_("Display and model options"), icon=":material/tune:"):
        o1, o2, o3 = st.columns(3)
        with o1:
            ci = option_select(CI)
        with o2:
            min_at_risk = int(option_select(MIN_AT_RISK))
        with o3:
            risk_style = option_select(RISK_TABLE, disabled=view != "km",
                                       help=_("KMunicate (Morris et al., BMJ Open 2019): under each group's number at "
                                              "risk, how many have been censored and how many have had the event by "
                                              "each time; the three add up to the group's patients."))
        p_on_plot = median_lines = False
        if view == "km":  # written on the Kaplan-Meier figure only
            o4, o5, _o6 = st.columns(3)
            with o4:
                p_on_plot = option_control(P_ON_PLOT) == "1"
            with o5:
                median_lines = option_control(MEDIAN_LINES) == "1"
        adjust = st.multiselect(
            _("Adjust the hazard ratios for"), options=[c for c in COVARIATES if c != factor],
            format_func=in_language(_covariate_name), key="surv_adjust", placeholder=_("No adjustment (choose covariates)"),
            help=_("Cox model with the compared groups plus these covariates; missing categories form their own "
                   "level."))
    req = TteRequest(endpoint, origin, factor, tuple(adjust), landmark if origin == LANDMARK else 0.0)
    opts = SurvivalOptions(conf_type="log-log" if ci == "none" else ci, reference=FACTORS[factor].reference,
                           adjust=tuple(adjust))
    notes.update(show_ci=ci != "none", min_at_risk=min_at_risk, cumulative=risk_style == "cells",
                 kmunicate=risk_style == "kmunicate",
                 p_on_plot=p_on_plot, median_lines=median_lines)
    return view, req, opts, notes


def _definition(req: TteRequest) -> None:
    ep = ENDPOINTS_BY_CODE[req.endpoint]
    extra = ""
    if req.origin == LANDMARK:
        extra = _("**Landmark at {months} months:** only patients alive, under follow-up and free of the event "
                  "{months} months after T0 are included; time is counted from the landmark, and groups are what was "
                  "known at the landmark.").format(months=f"{req.landmark:g}")
    st.caption(sentences(_("**{endpoint}.**").format(endpoint=_(ep.label)), _(ep.definition),
                         _("Population: {population}; the sidebar filters apply.").format(
                             population=_(ep.population_text)), extra))


def _warnings(req: TteRequest, summary_groups: pl.DataFrame, small: tuple[str, ...], label) -> None:
    f = FACTORS[req.factor]
    if req.origin == "T0" and f.defined_at in ("T1", "LATER"):
        st.warning(_("**Immortal-time bias.** {factor} is known only after the first immunotherapy dose, but time is "
                     "counted from T0: patients are credited with event-free time before their group existed. Count "
                     "time from T1 or use a landmark.").format(factor=_(f.label)), icon=":material/warning:")
    elif f.defined_at == "LATER" and req.origin != LANDMARK:
        st.warning(_("**Immortal-time bias.** {factor} depends on what happened after the time origin ({origin}); use "
                     "a landmark after it is known.").format(factor=_(f.label), origin=req.origin),
                   icon=":material/warning:")
    if small:
        groups = _("; ").join(
            _("{group} ({patients}, {events})").format(
                group=label(g), patients=ngettext("{n} patient", "{n} patients", r["n"]).format(n=fmt_int(r["n"])),
                events=ngettext("{n} event", "{n} events", r["events"]).format(n=fmt_int(r["events"])))
            for r in summary_groups.iter_rows(named=True) if (g := r["group"]) in small)
        st.warning(_("**Small groups:** {groups}. Estimates for these groups are imprecise.").format(groups=groups),
                   icon=":material/group_off:")


def degenerate_text(req: TteRequest, left_out: tuple[tuple[str, ...], str]) -> str:
    groups, why = left_out
    f = FACTORS[req.factor]
    names = _(", ").join(_(f.label_of(g)) for g in groups)
    return _("**{groups} is left out of this comparison, and no test is computed for it:** {why}. A log-rank test "
             "against it would only restate the endpoint's definition (a huge chi-square that says nothing about "
             "outcomes). The curves compare the organ-preserving strategies; compare radical surgery on DFS, EFS or "
             "OS, or use the weighted comparison.").format(groups=names, why=_(why))


def logrank_text(lr, label) -> str:
    """The log-rank line under the estimates: chi-square, or the exact test and why."""
    if lr.method.startswith(("exact permutation", "Monte Carlo permutation")):
        exp = _(", ").join(f"{label(r['group'])} {fmt_decimal(r['expected'], 1)}" for r in lr.table.iter_rows(named=True))
        detail = lr.method.split(" (", 1)[1].rstrip(")") if " (" in lr.method else lr.method
        msg = (_("**Log-rank test, exact permutation p-value:** {p}. A group expects fewer than {k} events (expected: "
                 "{expected}), so the chi-square approximation is not used ({detail}).")
               if lr.method.startswith("exact") else
               _("**Log-rank test, Monte Carlo permutation p-value:** {p}. A group expects fewer than {k} events "
                 "(expected: {expected}), so the chi-square approximation is not used ({detail})."))
        return msg.format(p=format_p_eq(lr.p_value), k=f"{SMALL_EXPECTED:g}", expected=exp, detail=_(detail))
    extra = f" ({_(lr.method.split('; ', 1)[1])})" if "; " in lr.method else ""
    return _("**Log-rank test:** χ² = {chi2}, df = {df}, {p}").format(
        chi2=fmt_decimal(lr.statistic, 2), df=lr.df, p=format_p_eq(lr.p_value)) + extra


def km_caption(s: SurvivalSummary, req: TteRequest, opts: SurvivalOptions, show_ci: bool, min_at_risk: int) -> str:
    """What the KM figure shows, including how the curve tails were drawn."""
    label = _label_fn(req.factor)
    # a group smaller than the stop rule never has that many at risk: drawn whole, not dropped
    small = [label(r["group"]) for r in s.groups_.iter_rows(named=True) if r["n"] < min_at_risk]
    cap = [_("Kaplan-Meier estimate with pointwise {level}% confidence band ({method})").format(
               level=f"{100 * opts.conf_level:g}", method=_(CI_METHODS.get(opts.conf_type, opts.conf_type)))
           if show_ci else _("Kaplan-Meier estimate"),
           _("ticks mark censored follow-up (not drawn on a curve with more than {k} censoring times)").format(
               k=fmt_int(CENSOR_MARKS_MAX)),
           thin_caption(min_at_risk, small)]
    return _("; ").join(cap) + _(".")


def _label_fn(factor: str):
    """Group code -> label in the current language."""
    of = FACTORS[factor].label_of
    return lambda code: _(of(code))


def _covariate_name(column: str) -> str:
    return _(COVARIATES.get(column, column))


def _km_section(ctx: PageContext, req: TteRequest, opts: SurvivalOptions, notes: dict) -> None:
    _definition(req)
    s = cached_query(km_analysis, ctx.store, ctx.filter, req, opts)
    if s is None:
        st.info(_("No patients in this endpoint's population match the filters."))
        return
    label = _label_fn(req.factor)
    _warnings(req, s.groups_, s.small_groups_, label)
    if int(s.groups_["events"].sum()) == 0:
        st.info(_("**No {endpoint} event has been observed** among the {n} patients: every curve stays at 100%, and no "
                  "test or hazard ratio can be computed.").format(endpoint=ENDPOINT_LABELS[req.endpoint].split(":")[0],
                                                                  n=fmt_int(s.groups_["n"].sum())),
                icon=":material/info:")
    left_out = degenerate(req)
    if left_out:
        st.info(degenerate_text(req, left_out), icon=":material/block:")
    if req.endpoint == "RG":
        st.info(_("Kaplan-Meier for regrowth censors distant metastasis and death (cause-specific). The cumulative "
                  "incidence under competing risks is under *Regrowth with competing risks*."),
                icon=":material/info:")
    fig, risk = km_view(s, req, show_ci=notes["show_ci"], min_at_risk=notes["min_at_risk"],
                        cumulative=notes["cumulative"], p_on_plot=notes["p_on_plot"],
                        median_lines=notes["median_lines"], kmunicate=notes["kmunicate"])
    show_figure(fig, f"KM {req.endpoint} from {req.origin} by {req.factor}", ctx, key="km_chart", config=PLOTLY_CONFIG)
    st.caption(km_caption(s, req, opts, notes["show_ci"], notes["min_at_risk"]))
    b1, b2 = st.columns(2)
    with b1:
        csv_button(_("Curve data (CSV)"), km_csv(s.km_, label), f"km_{req.endpoint}_{req.origin}_{req.factor}.csv",
                   ctx, "km_csv")
    with b2:
        csv_button(_("Number-at-risk table (CSV)"),
                   with_labels(risk, label),
                   f"at_risk_{req.endpoint}_{req.origin}_{req.factor}.csv", ctx, "risk_csv")
    st.subheader(_("Estimates"))
    show_table(format_survival_table(s, label), f"KM estimates {req.endpoint} from {req.origin} by {req.factor}", ctx,
               title=_("{endpoint}: Kaplan-Meier estimates by {factor}").format(
                   endpoint=_(ENDPOINT_LABELS[req.endpoint]), factor=lower_first(_(FACTORS[req.factor].label))))
    if s.logrank_ is not None:
        st.markdown(logrank_text(s.logrank_, label))
    cox = format_cox_table(s.cox_, s.cox_adjusted_, label)
    if cox is not None and HR_UNADJUSTED in cox.columns:  # kept in English for code that reads it; shown translated
        cox = cox.rename({HR_UNADJUSTED: _(HR_UNADJUSTED)})
    if cox is not None:
        adj = _(", ").join(_covariate_name(c) for c in opts.adjust)
        st.markdown(_("**Cox proportional-hazards model** (Efron ties, Wald CI); adjusted for {covariates}").format(
            covariates=adj) if adj else _("**Cox proportional-hazards model** (Efron ties, Wald CI)"))
        show_table(cox, f"Cox {req.endpoint} from {req.origin} by {req.factor}", ctx,
                   title=_("{endpoint}: Cox proportional-hazards model").format(
                       endpoint=_(ENDPOINT_LABELS[req.endpoint])))
    for fit in (s.cox_, s.cox_adjusted_):
        if fit is not None:
            _cox_notes(fit, label)
    st.caption(_("Medians and their CIs from the same confidence band (Brookmeyer-Crowley); NE = not estimable (the "
                 "curve or its limit does not reach 50%, or no one is followed that long)."))


def _cox_notes(fit, label) -> None:
    parts = []
    if fit.no_events:
        parts.append(_("no events in {groups}, left out of the model").format(
            groups=_(", ").join(label(g) for g in fit.no_events)))
    if fit.not_estimable:
        parts.append(_("hazard ratio not estimable for {groups}: the groups separate completely (e.g. every patient "
                       "of one group has the event at once)").format(
            groups=_(", ").join(label(g) for g in fit.not_estimable)))
    if fit.note:
        parts.append(_(fit.note))
    if parts:
        st.caption(_("Cox model: {notes}.").format(notes=_("; ").join(parts)))


def _cif_section(ctx: PageContext, req: TteRequest, notes: dict) -> None:
    _definition(req)
    c = cached_query(competing_analysis, ctx.store, ctx.filter, req, 0.95)
    if c is None:
        st.info(_("No Watch & Wait patients match the filters."))
        return
    label = _label_fn(req.factor)
    small = tuple(r["group"] for r in c.groups_.iter_rows(named=True) if r["n"] < 10 or r["regrowths"] < 5)
    _warnings(req, c.groups_.rename({"regrowths": "events"}), small, label)
    n_rg, n_pat = int(c.groups_["regrowths"].sum()), int(c.groups_["n"].sum())
    if n_rg == 0:
        st.info(_("**No local regrowth has been observed** among the {n} Watch & Wait patients matching the filters: "
                  "the cumulative incidence stays at 0% over their follow-up (the at-risk table shows how many are "
                  "still followed). Zero events in a small group does not mean a regrowth risk of zero.").format(
                    n=fmt_int(n_pat)), icon=":material/info:")
    fig = cif_view(c, req, show_ci=notes["show_ci"], min_at_risk=notes["min_at_risk"])
    show_figure(fig, f"CIF regrowth from {req.origin} by {req.factor}", ctx, key="cif_chart", config=PLOTLY_CONFIG)
    st.caption(_("Aalen-Johansen cumulative incidence of local regrowth (solid, 95% log confidence band) with distant "
                 "metastasis and death before regrowth as competing events (dotted). Follow-up ends at the last "
                 "surveillance visit, or at a resection without regrowth."))
    csv_button(_("Curve data (CSV)"), with_labels(c.cif_, label), f"cif_regrowth_{req.origin}_{req.factor}.csv", ctx,
               "cif_csv")
    st.subheader(_("Cumulative incidence"))
    show_table(format_competing_table(c, label, (12.0, 24.0, 36.0)), f"CIF regrowth estimates from {req.origin}", ctx,
               title=_("Cumulative incidence of local regrowth (Watch & Wait)"))
    competing_tests(ctx, req)


def _iptw_section(ctx: PageContext, req: TteRequest, opts: SurvivalOptions, notes: dict) -> None:
    st.caption(_("Organ preservation first (Watch & Wait or local / endoscopic resection as the first strategy) "
                 "versus radical surgery, time from T1 (strategy decision). Strategy was chosen, not randomised: the "
                 "weights make the two arms comparable on the covariates of the propensity model, and on nothing "
                 "else."))
    if req.endpoint in ("OPS", "RG"):
        st.info(_("{endpoint} cannot compare these arms (OPS counts radical surgery itself as the event; RG exists only "
                  "under Watch & Wait), so this comparison shows DFS (salvage-adjusted). Pick DMFS, DFS, EFS or OS "
                  "above to change it.").format(endpoint=req.endpoint), icon=":material/info:")
        req = dataclasses.replace(req, endpoint="DFS")
    c1, c2 = st.columns([4, 1])
    with c1:
        if "iptw_covs" not in st.session_state:
            st.session_state["iptw_covs"] = DEFAULT_PS_COVARIATES
        covs = st.multiselect(_("Propensity model covariates"), options=list(COVARIATES), format_func=in_language(_covariate_name),
                              key="iptw_covs",
                              help=_("Main-effects logistic model; missing categories form their own level."))
    with c2:
        estimand = st.selectbox(_("Estimand"), ["ATE", "ATT"], key="iptw_estimand",
                                help=_("ATE: stabilised weights for the whole population; ATT: weights for the "
                                       "organ-preservation patients."))
    if not covs:
        st.info(_("Choose at least one covariate for the propensity model."))
        return
    res = cached_query(iptw_analysis, ctx.store, ctx.filter, req.endpoint, tuple(covs), estimand, opts)
    if isinstance(res, str):
        st.warning(res)
        return
    label = iptw_label
    groups = ["OP", "RO"]
    ess = {r["group"]: r for r in res.ess_.iter_rows(named=True)}
    grid = time_grid(float(res.km_.get_column("time").max() or 12.0))
    risk = format_risk_cells(risk_table(res.km_, grid), False)
    fig = km_figure(res.km_, risk, groups=groups, label=label, n={g: ess[g]["n"] for g in groups},
                    colours=colours_for("iptw", groups), dashes=dashes_for("iptw", groups),
                    x_title=origin_axis_label(req), y_title=_(Y_TITLES[req.endpoint]), grid=grid,
                    show_ci=notes["show_ci"], min_at_risk=0, risk_title=_("Weighted number at risk"))
    show_figure(fig, f"IPTW KM {req.endpoint} {estimand}", ctx, key="iptw_km_chart", config=PLOTLY_CONFIG)
    st.caption((_("Weighted Kaplan-Meier ({estimand}, stabilised weights; robust confidence band). The at-risk table "
                  "shows summed weights.") if res.stabilized and estimand == "ATE" else
                _("Weighted Kaplan-Meier ({estimand} weights; robust confidence band). The at-risk table shows summed "
                  "weights.")).format(estimand=estimand))
    csv_button(_("Weighted curve data (CSV)"), km_csv(res.km_, iptw_label), f"iptw_km_{req.endpoint}.csv",
               ctx, "iptw_km_csv")
    rows = []
    at = {(r["group"], r["time"]): r for r in res.at_times_.iter_rows(named=True)}
    for g in groups:
        row = {_("Arm"): iptw_label(g), _("Patients"): fmt_int(ess[g]["n"]),
               _("Effective sample size"): fmt_decimal(ess[g]["ess"], 0),
               _("Largest weight"): fmt_decimal(ess[g]["max_weight"], 2)}
        for t in opts.times:
            r = at.get((g, float(t)))
            row[_("{months} months (95% CI)").format(months=f"{t:g}")] = (
                format_pct_ci(r["survival"], r["lower"], r["upper"]) if r else "NE")
        rows.append(row)
    show_table(pl.DataFrame(rows), f"IPTW estimates {req.endpoint} {estimand}", ctx,
               title=_("{endpoint}: weighted Kaplan-Meier ({estimand})").format(
                   endpoint=_(ENDPOINT_LABELS[req.endpoint]), estimand=estimand))
    hr = format_cox_table(res.cox_crude_, None, label)
    hw = format_cox_table(res.cox_, None, label)
    if hr is not None and hw is not None:
        # the unadjusted "HR (95% CI)" cell is the second column (its header may be translated)
        args = dict(unweighted=hr[:, 1][0], p_unweighted=format_p_eq(res.cox_crude_.table["p_value"][0]),
                    weighted=hw[:, 1][0], p_weighted=format_p_eq(res.cox_.table["p_value"][0]))
        if res.logrank_:
            text = _("**Hazard ratio, organ preservation first vs radical surgery:** unweighted {unweighted} "
                     "({p_unweighted}); **weighted {weighted}** ({p_weighted}, robust SE); weighted log-rank "
                     "{p_logrank}.").format(p_logrank=format_p_eq(res.logrank_.p_value), **args)
        else:
            text = _("**Hazard ratio, organ preservation first vs radical surgery:** unweighted {unweighted} "
                     "({p_unweighted}); **weighted {weighted}** ({p_weighted}, robust SE).").format(**args)
        st.markdown(text)
    st.subheader(_("Covariate balance"))
    bl = with_labels(res.balance_, _cov_label, "covariate", "label")
    b1, b2 = st.columns([3, 2])
    with b1:
        show_figure(balance_figure(bl), "IPTW covariate balance", ctx, key="balance_chart", config=PLOTLY_CONFIG)
        csv_button(_("Balance data (CSV)"), bl, "iptw_balance.csv", ctx, "balance_csv")
    with b2:
        show_table(format_balance_table(res, _cov_label), "IPTW balance table", ctx,
                   title=_("Covariate balance before and after weighting"))
    worst = bl.select(pl.col("smd_after").abs().max()).item()
    (st.success if worst is not None and worst < 0.1 else st.warning)(
        _("Largest |SMD| after weighting: {smd} (below 0.1 is usually read as balanced).").format(
            smd=fmt_decimal(worst, 3) if worst is not None else "NE"))
    st.subheader(_("Distribution of the weights"))
    show_figure(weights_figure(res.weights_, labels={g: iptw_label(g) for g in IPTW_LABELS}), "IPTW weights", ctx,
                key="weights_chart", config=PLOTLY_CONFIG)
    csv_button(_("Weights (CSV)"), res.weights_.select("group", "propensity", "weight"), "iptw_weights.csv", ctx,
               "weights_csv", patient_level=True)


def _cov_label(term: str) -> str:
    """``"tumour_site=GASTRIC"`` -> ``"Tumour site: Stomach"``."""
    col, sep, level = term.partition("=")
    if not sep:
        return _covariate_name(col)
    return _("{covariate}: {level}").format(covariate=_covariate_name(col), level=_(covariate_level_label(col, level)))


def survival_body(ctx: PageContext) -> None:
    """The Survival page below the shared header."""
    view, req, opts, notes = _controls(ctx)
    if view == "compare":
        return comparison_section(ctx)
    if "origin" in notes:
        st.info(notes["origin"], icon=":material/info:")
    if view == "km":
        _km_section(ctx, req, opts, notes)
    elif view == "cif":
        _cif_section(ctx, req, notes)
    else:
        _iptw_section(ctx, req, opts, notes)


# ------------------------------------------------------------------ MDT report
REPORT_ENDPOINTS = ("OPS", "DFS", "OS")
def km_note() -> str:
    """The caption of the report's KM figures, in the current language."""
    return _("Kaplan-Meier estimate with pointwise 95% log-log confidence band, time from the strategy decision (T1), "
             "by initial strategy group; ticks mark censored follow-up; {tail}. Medians (Brookmeyer-Crowley); NE = "
             "not estimable.").format(tail=thin_caption())


CIF_NOTE = N_("Aalen-Johansen cumulative incidence of local regrowth under Watch & Wait (solid, 95% band) with distant "
              "metastasis and death before regrowth as competing events (dotted); time from T1.")


def report_section(store: Store, flt: CohortFilter) -> list[ReportItem]:
    """Survival in the MDT report (the page's default view): OPS of the organ-preserving
    strategies, DFS and OS by initial strategy group from T1 (KM with the at-risk table, and
    the estimates), regrowth under competing risks. No degenerate comparison: radical surgery
    is left out of OPS, with the reason in the caption."""
    items: list[ReportItem] = []
    for endpoint in REPORT_ENDPOINTS:
        req = TteRequest(endpoint, "T1", "initial_group")
        opts = SurvivalOptions(conf_type="log-log", reference=FACTORS["initial_group"].reference)
        s = cached_query(km_analysis, store, flt, req, opts)
        if s is None:
            continue
        name = _(ENDPOINT_NAMES[endpoint])
        left_out = degenerate(req)
        title = (_("{endpoint} by initial strategy group (organ-preserving strategies)") if left_out
                 else _("{endpoint} by initial strategy group")).format(endpoint=name)
        note = sentences(km_note(), degenerate_text(req, left_out).replace("**", "") if left_out else "")
        fig, _risk = km_view(s, req)
        lr = logrank_text(s.logrank_, _label_fn(req.factor)).replace("**", "") if s.logrank_ else ""
        items += [ReportItem(title, fig, caption=note),
                  ReportItem(_("{endpoint}: Kaplan-Meier estimates").format(endpoint=name),
                             format_survival_table(s, _label_fn(req.factor)), caption=lr)]
    req = TteRequest("RG", "T1", "initial_group")
    c = cached_query(competing_analysis, store, flt, req, 0.95)
    if c is not None:
        items += [ReportItem(_("Local regrowth under Watch & Wait, with competing risks"), cif_view(c, req),
                             caption=_(CIF_NOTE)),
                  ReportItem(_("Cumulative incidence of local regrowth"),
                             format_competing_table(c, _label_fn(req.factor), (12.0, 24.0, 36.0)),
                             caption=_(CIF_NOTE))]
    return items
