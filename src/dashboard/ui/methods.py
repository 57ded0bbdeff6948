"""Methods views that pages call with a one-line hook: the target-trial comparison
(Survival), Gray's test and Fine-Gray (Survival, regrowth), the pathway state occupation
(Organ preservation), AE rates per patient-year (Safety), the QoL MMRM (Quality of life),
and the target-trial section of the MDT report."""

from __future__ import annotations

import numpy as np
import polars as pl
import streamlit as st

from ..derive import ENDPOINTS_BY_CODE
from ..figures.balance import balance_figure
from ..figures.km import colours_for, dashes_for, km_figure
from ..figures.methods import lsmeans_figure, ni_figure, overlap_figure, rates_figure, state_occupation_figure
from ..filters import CohortFilter
from ..i18n import N_, _, fmt_decimal, fmt_int, fmt_percent
from ..queries.methods import (
    COMPARISON_ENDPOINTS,
    QOL_VISITS,
    select_ae_exposure,
    select_comparison_data,
    select_pathway,
    select_qol_change,
    select_t1_groups,
)
from ..queries.safety import SAFETY_GROUP, select_ici_ae_events
from ..queries.survival import COVARIATES, FACTORS, TteRequest, origin_axis_label, select_tte
from ..report import ReportItem
from ..schema import QOL_INSTRUMENT, QOL_SCALE_INDEX, QOL_TIMEPOINT
from ..stats.comparative import (
    COMPARISON_MIN_EVENTS,
    COMPARISON_MIN_PER_ARM,
    ComparisonOptions,
    ComparisonSummary,
    landmark_at,
    summarize_comparison,
)
from ..stats.finegray import fine_gray, gray_test
from ..stats.matching import EQUIPOISE
from ..stats.mmrm import MMRM_MIN_PATIENTS, MmrmResult, mmrm
from ..stats.multistate import PATHWAY_STATES, occupation_at, pathway_intervals, state_occupation
from ..stats.noninferiority import DEFAULT_NI_MARGIN, NI_MARGIN_SOURCE
from ..stats.rates import summarize_event_rates
from ..stats.summaries import risk_table, time_grid
from ..store import Store
from ..tables.methods import (
    TargetTrial,
    format_comparison_table,
    format_gray_finegray,
    format_lsmeans_table,
    format_ni_summary,
    format_rate_table,
    format_target_trial,
)
from ..tables.survival import format_p_eq, format_pct_ci, format_risk_cells, with_labels
from .data import cached_query
from .export import show_figure, show_table, table_download
from .page import PageContext

# Labels are English source strings (N_); ``_t`` gives them in the current language.
ARM_LABELS = {"OP": N_("Organ preservation first (NOM or OPFS)"), "RO": N_("Radical surgery (RO)")}
ENDPOINT_NAMES = {"DFS": N_("DFS: disease-free survival (salvage-adjusted)"), "OS": N_("OS: overall survival"),
                  "DMFS": N_("DMFS: distant-metastasis-free survival"), "EFS": N_("EFS: event-free survival")}
# the endpoint's name in a subheader ("Disease-free survival (salvage-adjusted): comparison")
ENDPOINT_TITLES = {"DFS": N_("Disease-free survival (salvage-adjusted): comparison"),
                   "OS": N_("Overall survival: comparison"),
                   "DMFS": N_("Distant-metastasis-free survival: comparison"),
                   "EFS": N_("Event-free survival: comparison")}
METHOD_LABELS = {"iptw": N_("IPTW (stabilised, ATE)"), "overlap": N_("Overlap weights (ATO)"),
                 "matching": N_("1:1 matching, caliper")}
LANDMARKS = (0.0, 3.0, 6.0, 12.0)
DEFAULT_COVARIATES = ("age", "sex", "ecog", "tumour_site", "ct", "cn", "regimen_class")
# small-registry minimums of these views (the IPTW / forest minimums are another issue's)
FINEGRAY_MIN_EVENTS = 10  # regrowths needed for Gray's test / Fine-Gray
GRAY_MIN_GROUP = 5  # patients a group needs to enter Gray's test
PATHWAY_MIN_AT_RISK = 10  # each group's areas stop where fewer remain under follow-up
PATHWAY_MIN_GROUP = 10  # groups with fewer patients are not drawn
MMRM_MIN_AT_VISIT = 5  # visits where a group has fewer patients are left out of the model
MMRM_MIN_PAIR = 20  # unstructured: every pair of visits must be seen together in this many patients
AE_LEVELS = {"any": N_("Any grade"), "g3": N_("Grade ≥3")}
AE_RATE_MIN_PY = 5.0  # groups with less exposure are listed, not drawn


def _then(first: str, second: str) -> str:
    """Two sentences in a row, spaced as the current language spaces sentences."""
    return _("{sentence} {next}").format(sentence=first, next=second)


def _t(labels: dict[str, str]) -> dict[str, str]:
    """A label dict in the current language."""
    return {k: _(v) for k, v in labels.items()}


# ------------------------------------------------------------------ target-trial comparison
def comparison_analysis(store: Store, flt: CohortFilter, endpoint: str, covariates: tuple[str, ...],
                        options: ComparisonOptions) -> ComparisonSummary | str:
    """The comparison, or why it is refused (a message). Module level for ``cached_query``."""
    df = landmark_at(select_comparison_data(store, flt, endpoint, covariates), options.landmark)
    counts = dict(df.group_by("group").len().iter_rows())
    op, ro = counts.get("OP", 0), counts.get("RO", 0)
    if op < COMPARISON_MIN_PER_ARM or ro < COMPARISON_MIN_PER_ARM:
        return _("Too few patients for an adjusted comparison: {op} with organ preservation first and {ro} with "
                 "radical surgery are eligible (at least {min} in each arm needed).").format(
            op=fmt_int(op), ro=fmt_int(ro), min=COMPARISON_MIN_PER_ARM)
    events = int(df.get_column("event").sum())
    if events < COMPARISON_MIN_EVENTS:
        return _("Too few events for a hazard ratio: {n} {endpoint} events among the eligible patients (at least "
                 "{min} needed).").format(n=fmt_int(events), endpoint=endpoint, min=COMPARISON_MIN_EVENTS)
    try:
        return summarize_comparison(df, covariates, options)
    except (ValueError, RuntimeError, ArithmeticError) as exc:
        return _("The comparison could not be estimated: {reason}").format(reason=exc)


def _protocol(store: Store, flt: CohortFilter, endpoint: str, covariates: tuple[str, ...],
              options: ComparisonOptions) -> TargetTrial:
    df = select_comparison_data(store, flt, endpoint, covariates)
    at = landmark_at(df, options.landmark)
    counts = dict(at.group_by("group").len().iter_rows())
    groups = dict(select_t1_groups(store, flt).iter_rows())
    not_el = {_("systemic therapy only"): groups.get("SYSTEMIC", 0),
              _("no strategy decision yet"): groups.get("NONE", 0)}
    if options.landmark:
        not_el[_("event or end of follow-up within {months} months of T1").format(months=f"{options.landmark:g}")] = \
            df.height - at.height
    ep = ENDPOINTS_BY_CODE[endpoint]
    return TargetTrial(_(ENDPOINT_NAMES[endpoint]), _(ep.definition),
                       {_(ARM_LABELS[g]): counts.get(g, 0) for g in ("OP", "RO")}, not_el,
                       [_(COVARIATES[c]) for c in covariates], options.method, options.landmark, options.trim,
                       options.truncate, options.caliper, options.margin)


def _cov_label(term: str) -> str:
    from .survival import _cov_label as label  # one labelling rule for covariate levels

    return label(term)


def comparison_section(ctx: PageContext) -> None:
    """Survival page: organ preservation first vs radical surgery as an emulated target trial."""
    st.caption(_("Organ preservation first (Watch & Wait or local / endoscopic excision) versus radical surgery, as "
                 "the emulation of a target trial started at the strategy decision (T1). Strategy was chosen by the "
                 "MDT, not randomised: every estimate below is adjusted for the covariates chosen, and for nothing "
                 "else."))
    c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
    with c1:
        endpoint = st.selectbox(_("Outcome"), COMPARISON_ENDPOINTS, format_func=lambda e: _(ENDPOINT_NAMES[e]),
                                key="tt_endpoint")
    with c2:
        method = st.selectbox(_("Adjustment"), list(METHOD_LABELS), format_func=lambda m: _(METHOD_LABELS[m]),
                              key="tt_method")
    with c3:
        landmark = st.selectbox(_("Time zero"), LANDMARKS, key="tt_landmark",
                                format_func=lambda m: "T1" if not m else _("T1 + {months} months (landmark)").format(
                                    months=f"{m:g}"))
    with c4:
        margin = st.number_input(_("Non-inferiority margin (HR)"), min_value=1.05, max_value=2.0,
                                 value=DEFAULT_NI_MARGIN, step=0.01, key="tt_margin",
                                 help=_("Default {margin}: {source}. A registry is not a trial: set the margin the "
                                        "study protocol states.").format(margin=f"{DEFAULT_NI_MARGIN:g}",
                                                                         source=_(NI_MARGIN_SOURCE)))
    with st.expander(_("Propensity model and adjustment options"), icon=":material/tune:"):
        if "tt_covs" not in st.session_state:
            st.session_state["tt_covs"] = list(DEFAULT_COVARIATES)
        covs = st.multiselect(_("Propensity model covariates"), options=list(COVARIATES),
                              format_func=lambda c: _(COVARIATES[c]), key="tt_covs",
                              help=_("Main-effects logistic model; missing categories form their own level."))
        o1, o2, o3 = st.columns(3)
        trim = o1.checkbox(_("Trim: keep propensity 0.1-0.9"), key="tt_trim",
                           help=_("Crump's rule of thumb; the score is refitted on the patients kept."))
        truncate = o2.checkbox(_("Truncate IPT weights at the 99th percentile"), key="tt_truncate",
                               disabled=method != "iptw")
        caliper = o3.selectbox(_("Matching caliper (SD of the score)"), (0.2, 0.1, 0.05), key="tt_caliper",
                               disabled=method != "matching", help=_("0.2 SD: Austin 2011."))
    if not covs:
        st.info(_("Choose at least one covariate for the propensity model."))
        return
    opts = ComparisonOptions(method=method, trim=trim, truncate=truncate, caliper=float(caliper), margin=float(margin),
                             landmark=float(landmark))
    st.subheader(_("Target-trial protocol"))
    tt = cached_query(_protocol, ctx.store, ctx.filter, endpoint, tuple(covs), opts)
    protocol = format_target_trial(tt)
    st.table(protocol.to_pandas().set_index(protocol.columns[0]))  # wrapped text: one screen, nothing cut off
    table_download(protocol, f"target trial protocol {endpoint}", ctx,
                   title=_("Target-trial protocol summary (emulation at T1)"))
    res = cached_query(comparison_analysis, ctx.store, ctx.filter, endpoint, tuple(covs), opts)
    if isinstance(res, str):
        st.warning(res, icon=":material/group_off:")
        return
    _comparison_results(ctx, res, endpoint, opts)


def _comparison_results(ctx: PageContext, res: ComparisonSummary, endpoint: str, opts: ComparisonOptions) -> None:
    arms = _t(ARM_LABELS)
    method_label = _(METHOD_LABELS[opts.method])
    st.subheader(_("Overlap of the arms"))
    lo, hi = EQUIPOISE
    t1, t2 = st.tabs([_("Propensity score"), _("Preference score")])
    with t1:
        show_figure(overlap_figure(res.units_, labels=arms), "propensity overlap", ctx, key="tt_ps_fig")
    with t2:
        show_figure(overlap_figure(res.units_, labels=arms, column="preference", band=EQUIPOISE),
                    "preference score overlap", ctx, key="tt_pref_fig")
    st.caption(_("Share of each arm's patients per 0.05 of the score. Preference score (Walker 2013): the propensity "
                 "score with the arms' sizes taken out; **{share}** of the patients lie in empirical equipoise "
                 "({lo}-{hi}, shaded), where a comparison rests on data rather than on the model.").format(
        share=fmt_percent(res.equipoise_, 0), lo=lo, hi=hi))
    st.subheader(_("Covariate balance"))
    bl = with_labels(res.balance_, _cov_label, "covariate", "label")
    fig = balance_figure(bl)
    after = _("After matching") if opts.method == "matching" else _("After weighting")
    fig.data[0].name, fig.data[1].name = _("Before adjustment"), after
    show_figure(fig, "target trial balance", ctx, key="tt_balance_fig")
    worst = bl.select(pl.col("smd_after").abs().max()).item()
    balanced = worst is not None and worst < 0.1
    text = (_("Largest |SMD| after matching: {smd} (dashed line: 0.1, the usual limit for balance).")
            if opts.method == "matching" else
            _("Largest |SMD| after weighting: {smd} (dashed line: 0.1, the usual limit for balance).")).format(
        smd=fmt_decimal(worst, 3) if worst is not None else "-")
    if opts.method == "overlap":
        text = _then(text, _("Overlap weights balance the means of the model's covariates exactly."))
    if not balanced:
        text = _then(text, _("Balance is not reached on every covariate: the hazard ratio below is only as comparable "
                             "as this; try another adjustment or propensity model."))
    (st.success if balanced else st.warning)(text)
    show_table(format_comparison_table(res, arms), f"target trial counts {endpoint}", ctx,
               title=_("Patients eligible, analysed and with events"))
    if opts.method == "matching":
        st.caption(_("Caliper {caliper} SD of the propensity score = {width}; treated patients without a control "
                     "within it are not analysed.").format(caliper=f"{opts.caliper:g}",
                                                          width=fmt_decimal(res.caliper_width, 4)))
    st.subheader(_(ENDPOINT_TITLES[endpoint]))
    grid = time_grid(float(res.km_.get_column("time").max() or 12.0))
    risk = format_risk_cells(risk_table(res.km_, grid), False)
    n = dict(res.counts_.select("group", "analysed").iter_rows())
    groups = ["OP", "RO"]
    req = TteRequest(endpoint, "T1", "initial_group")
    x_title = origin_axis_label(req) if not opts.landmark else \
        _("Months from the landmark (T1 + {months} months)").format(months=f"{opts.landmark:g}")
    km = km_figure(res.km_, risk, groups=groups, label=arms.get, n=n, colours=colours_for("iptw", groups),
                   dashes=dashes_for("iptw", groups), x_title=x_title, y_title=f"{endpoint} (%)", grid=grid,
                   min_at_risk=0,
                   risk_title=_("Weighted number at risk") if opts.method != "matching" else _("Number at risk"))
    show_figure(km, f"target trial KM {endpoint} {opts.method}", ctx, key="tt_km_fig")
    st.caption(_("Weighted Kaplan-Meier, log-log 95% band.") if opts.method != "matching"
               else _("Matched-sample Kaplan-Meier, log-log 95% band."))
    rows = pl.DataFrame({"label": [f"{endpoint}, {method_label}"], "hr": [res.hr_["hr"]],
                         "lower": [res.hr_["lower"]], "upper": [res.hr_["upper"]]})
    show_figure(ni_figure(rows, margin=opts.margin), f"non-inferiority {endpoint}", ctx, key="tt_ni_fig")
    show_table(format_ni_summary(res), f"non-inferiority {endpoint}", ctx, title=_("Non-inferiority and E-values"))
    ev = res.evalue_
    margin_note = (_("default from {source}").format(source=_(NI_MARGIN_SOURCE)) if endpoint == "DFS" else
                   _("default from {source}; applied here to {endpoint}").format(source=_(NI_MARGIN_SOURCE),
                                                                                endpoint=endpoint))
    st.caption(_then(_("Non-inferior when the upper 95% limit of the hazard ratio is below the margin ({margin}; {note}). "
                 "An adjusted observational comparison, not a trial. **E-value** (VanderWeele & Ding 2017): an "
                 "unmeasured confounder associated with both the strategy and the outcome by a risk ratio of "
                 "{estimate} each, above the covariates adjusted for, could explain the estimate away; {limit} for "
                 "the confidence limit closest to 1 (1 = the interval already includes no difference).").format(
        margin=f"{opts.margin:g}", note=margin_note, estimate=fmt_decimal(ev.estimate, 2),
        limit=fmt_decimal(ev.limit, 2)),
        _("The outcome is treated as rare (< 15% with the event), the HR taken as a risk ratio.")
        if res.rare_outcome else
        _("The outcome is treated as common (≥ 15% with the event): the HR is converted to a risk ratio "
          "first (VanderWeele 2020).")))


# ------------------------------------------------------------------ Gray's test and Fine-Gray
def competing_tests_analysis(store: Store, flt: CohortFilter, req: TteRequest):
    """Gray's test and the Fine-Gray model of regrowth by the factor (and adjustment
    covariates), or a message."""
    df = select_tte(store, flt, req)
    covs = list(req.covariates)
    n0 = df.height
    df = df.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in covs)) if covs else df
    sizes = dict(df.group_by("group").len().iter_rows())
    keep = [g for g, k in sizes.items() if k >= GRAY_MIN_GROUP]
    dropped = sorted(g for g in sizes if g not in keep)
    df = df.filter(pl.col("group").is_in(keep))
    regrowths = int((df.get_column("event_type") == "REGROWTH").sum()) if df.height else 0
    if len(keep) < 2:
        return _("Gray's test needs at least two groups with {min} or more patients (here: {groups}).").format(
            min=GRAY_MIN_GROUP,
            groups=", ".join(f"{_(FACTORS[req.factor].label_of(g))} {fmt_int(k)}" for g, k in sorted(sizes.items())))
    if regrowths < FINEGRAY_MIN_EVENTS:
        return _("Too few regrowths for Gray's test and a Fine-Gray model: {n} (at least {min} needed).").format(
            n=fmt_int(regrowths), min=FINEGRAY_MIN_EVENTS)
    g = gray_test(df, "time", "event_type", "REGROWTH", "group", censor_code="CENSORED")
    ref = FACTORS[req.factor].reference
    reference = {"group": ref} if ref in keep else None
    try:
        fg = fine_gray(df, "time", "event_type", "REGROWTH", ["group", *covs], censor_code="CENSORED",
                       reference=reference)
    except (ValueError, np.linalg.LinAlgError) as exc:
        fg = None
        note = _("Fine-Gray model not estimable: {reason}").format(reason=exc)
    else:
        note = None
    return {"gray": g, "fg": fg, "dropped": dropped, "missing": n0 - df.height if covs else 0, "note": note,
            "reference": fg.reference_levels.get("group") if fg else None}


def competing_tests(ctx: PageContext, req: TteRequest) -> None:
    """Survival page, regrowth view: Gray's test and Fine-Gray subdistribution HRs."""
    if req.factor == "none":
        return
    st.subheader(_("Groups compared under competing risks"))
    out = cached_query(competing_tests_analysis, ctx.store, ctx.filter, req)
    if isinstance(out, str):
        st.info(out, icon=":material/group_off:")
        return

    def label(code: str) -> str:
        return _(FACTORS[req.factor].label_of(code))

    def term_label(term: str) -> str:
        col, _sep, level = term.partition("=")
        if col == "group":
            return _("{level} vs {reference}").format(level=label(level), reference=label(out["reference"]))
        return _cov_label(term)

    show_table(format_gray_finegray(out["gray"], out["fg"], label, term_label), f"Gray Fine-Gray regrowth {req.factor}",
               ctx, title=_("Regrowth: Gray's test and Fine-Gray subdistribution hazard ratios"))
    notes = [_("Gray's test (cmprsk::cuminc) compares the cumulative incidence curves of regrowth; the Fine-Gray "
               "model (cmprsk::crr) gives subdistribution hazard ratios (IPCW risk set, robust SE): how the "
               "incidence of regrowth differs, death and distant metastasis being competing events")]
    if out["dropped"]:
        notes.append(_("left out (fewer than {min} patients): {groups}").format(
            min=GRAY_MIN_GROUP, groups=", ".join(label(g) for g in out["dropped"])))
    if out["missing"]:
        notes.append(_("{n} patients without a value of an adjustment covariate left out").format(
            n=fmt_int(out["missing"])))
    if out["note"]:
        notes.append(out["note"])
    st.caption(_("{notes}.").format(notes="; ".join(notes)))


# ------------------------------------------------------------------ pathway over time
PATHWAY_GROUPS = {"NOM": N_("Watch & Wait (NOM)"), "OPFS": N_("Local / endoscopic resection (OPFS)"),
                  "RO": N_("Radical surgery (RO)")}


def pathway_analysis(store: Store, flt: CohortFilter) -> pl.DataFrame | None:
    df = select_pathway(store, flt)
    if df.height == 0:
        return None
    sizes = dict(df.group_by("group").len().iter_rows())
    df = df.filter(pl.col("group").is_in([g for g, k in sizes.items() if k >= PATHWAY_MIN_GROUP]))
    if df.height == 0:
        return pl.DataFrame({"group": list(sizes), "n": list(sizes.values())})
    iv = pathway_intervals(df)
    so = state_occupation(iv, [s for s, _ in PATHWAY_STATES], group="group")
    alive = so.group_by("group", "time").agg(pl.col("n_risk").sum().alias("_at_risk"))
    so = so.join(alive, on=["group", "time"])
    return so.join(pl.DataFrame({"group": list(sizes), "n_group": list(sizes.values())}), on="group", how="left")


def pathway_section(ctx: PageContext) -> None:
    """Organ-preservation page: where patients are at each month after T1 (Aalen-Johansen)."""
    st.caption(_("State occupation probabilities (Aalen-Johansen, multi-state): the share of each initial strategy "
                 "group organ in place without resection, after an organ-sparing excision, after radical surgery, "
                 "with distant disease, or dead, at each month after the strategy decision (T1). Censoring is "
                 "accounted for; the areas are estimates, not counts."))
    groups_shown = _t(PATHWAY_GROUPS)
    so = cached_query(pathway_analysis, ctx.store, ctx.filter)
    if so is None:
        st.info(_("No patients with a strategy decision match the filters."))
        return
    if "state" not in so.columns:
        st.warning(_("Too few patients per group for the pathway (at least {min} needed): {groups}").format(
            min=PATHWAY_MIN_GROUP, groups=", ".join(f"{groups_shown.get(g, g)} {fmt_int(n)}" for g, n in so.iter_rows())),
            icon=":material/group_off:")
        return
    sizes = dict(so.select("group", "n_group").unique().iter_rows())
    small = [g for g in PATHWAY_GROUPS if g not in sizes]
    cut = so.filter(pl.col("_at_risk") >= PATHWAY_MIN_AT_RISK)
    groups = [g for g in PATHWAY_GROUPS if g in sizes]
    states = [(code, _(lab)) for code, lab in PATHWAY_STATES]
    fig = state_occupation_figure(cut, states=states, groups=groups,
                                  group_label=lambda g: f"{groups_shown[g]} (n={fmt_int(sizes[g])})",
                                  x_title=_("Months from T1 (strategy decision)"))
    show_figure(fig, "pathway state occupation", ctx, key="pathway_fig")
    caption = _("Each panel stops where fewer than {n} of its patients remain under follow-up. Rules: everyone "
                "starts with the organ in place at T1; local excision, radical resection, distant metastasis and "
                "death move a patient on (same day: the later state); distant disease stays distant.").format(
        n=PATHWAY_MIN_AT_RISK)
    if small:
        caption = _then(caption, _("Not drawn (fewer than {n} patients): {groups}.").format(
            n=PATHWAY_MIN_GROUP, groups=", ".join(groups_shown[g] for g in small)))
    st.caption(caption)
    at = occupation_at(cut, (12.0, 24.0, 36.0))
    rows = []
    group_col, month_col = _("Group"), _("Month")
    for (g, t), part in at.group_by(["group", "time"], maintain_order=True):
        row = {group_col: groups_shown.get(g, g), month_col: f"{t:g}"}
        for code, lab in states:
            r = part.filter(pl.col("state") == code).row(0, named=True)
            exact = r["std_err"] == 0 and r["pstate"] in (0.0, 1.0)  # nobody / everybody: no interval
            row[_state_column(lab)] = (fmt_percent(r["pstate"], 0) if exact else
                                       format_pct_ci(r["pstate"], r["lower"], r["upper"]))
        rows.append(row)
    if not rows:
        st.info(_("No group has {n} patients under follow-up at 12 months: no estimates at 12, 24 or 36 months.")
                .format(n=PATHWAY_MIN_AT_RISK))
    else:
        show_table(pl.DataFrame(rows), "pathway at 12 24 36 months", ctx,
                   title=_("State occupation at 12, 24 and 36 months after T1 (95% CI, infinitesimal jackknife)"))


def _state_column(label: str) -> str:
    """A pathway state's label cut to a column title (before its parenthesis or comma, either script)."""
    for sep in (" (", "（", ",", "，"):
        label = label.split(sep)[0]
    return label


# ------------------------------------------------------------------ AE rates per patient-year
def ae_rates_analysis(store: Store, flt: CohortFilter) -> pl.DataFrame | None:
    exposure = select_ae_exposure(store, flt)
    if exposure.height == 0:
        return None
    events = select_ici_ae_events(store, flt).select("subject_id", "group", "grade")
    return summarize_event_rates(exposure, events, tuple((k, t) for k, t in (("any", 1), ("g3", 3))),
                                 group_order=SAFETY_GROUP.codes)


def ae_rates_section(ctx: PageContext) -> None:
    """Safety page: immunotherapy AEs per 100 patient-years by strategy group."""
    rates = cached_query(ae_rates_analysis, ctx.store, ctx.filter)
    if rates is None:
        st.info(_("No safety-population patients match the filters."))
        return
    labels = {**SAFETY_GROUP.labels, "ALL": _("All patients")}
    levels = _t(AE_LEVELS)
    short = rates.filter(pl.col("patient_years") < AE_RATE_MIN_PY).get_column("group").unique(maintain_order=True)
    drawn = rates.filter(pl.col("patient_years") >= AE_RATE_MIN_PY)
    if drawn.height:
        show_figure(rates_figure(drawn, labels=labels, level_labels=levels), "AE rates per 100 patient-years", ctx,
                    key="ae_rates_fig")
    if short.len():
        st.caption(_("Not drawn (under {py} patient-years of exposure, the interval spans most of the axis): {groups}; "
                     "the table lists them.").format(py=f"{AE_RATE_MIN_PY:g}",
                                                     groups=", ".join(labels.get(g, g) for g in short.to_list())))
    show_table(format_rate_table(rates, labels, levels), "AE rates per 100 patient-years", ctx,
               title=_("Immunotherapy adverse events per 100 patient-years"))
    st.caption(_("Every treatment-emergent immunotherapy adverse event counts (a patient with three episodes adds "
                 "three; patients with an event in brackets). Exposure: years from the first immunotherapy dose (T0) "
                 "to last contact or death. Rate = events / patient-years x 100 with the exact Poisson 95% CI (R "
                 "poisson.test). A rate assumes events spread evenly over follow-up: immunotherapy AEs cluster in the "
                 "first months, so a group followed briefly (e.g. no strategy yet) shows a high rate. Groups: initial "
                 "strategy group; most events precede the strategy decision, so the groups describe, they do not "
                 "compare treatments."))


# ------------------------------------------------------------------ QoL MMRM
MMRM_SCALES = tuple(f"{i}.{c}" for (i, c) in QOL_SCALE_INDEX if i.startswith("QLQ"))
MMRM_GROUPS = ("RO", "NOM", "OPFS")
MMRM_LABELS = {"RO": N_("Radical surgery"), "NOM": N_("Watch & Wait"), "OPFS": N_("Local / endoscopic resection")}


def mmrm_scale_label(value: str) -> str:
    """``QLQ-C30.GHS`` as ``QLQ-C30 - Global health status`` in the current language."""
    i, c = value.split(".", 1)
    return f"{QOL_INSTRUMENT.label(i).removeprefix('EORTC ')} - {_(QOL_SCALE_INDEX[(i, c)].label)}"


def mmrm_analysis(store: Store, flt: CohortFilter, instrument: str, scale: str, covariance: str) -> MmrmResult | str:
    df = select_qol_change(store, flt, instrument, scale).filter(pl.col("group").is_in(MMRM_GROUPS))
    if df.height == 0:
        return _("No patient has both a baseline and a later score on this scale.")
    pats = dict(df.group_by("group").agg(pl.col("subject_id").n_unique()).iter_rows())
    groups = [g for g in MMRM_GROUPS if pats.get(g, 0) >= MMRM_MIN_PATIENTS]
    if len(groups) < 2 or "RO" not in groups:
        return _("Too few patients for the model: {groups} with a change from baseline (at least {min} in radical "
                 "surgery and one other group).").format(
            groups=", ".join(f"{_(MMRM_LABELS[g])} {fmt_int(pats.get(g, 0))}" for g in MMRM_GROUPS),
            min=MMRM_MIN_PATIENTS)
    cells = dict(((g, v), k) for g, v, k in df.group_by("group", "visit").len().iter_rows())

    def enough(g: str, v: str) -> bool:
        return cells.get((g, v), 0) >= MMRM_MIN_AT_VISIT

    # visits where radical surgery and another group are measured; then the groups measured at all of them
    visits = [v for v in QOL_VISITS if enough("RO", v) and any(enough(g, v) for g in groups if g != "RO")]
    groups = [g for g in groups if all(enough(g, v) for v in visits)]
    if len(visits) < 2 or len(groups) < 2:
        return _("Too few repeated scores: fewer than two visits with at least {min} patients in radical surgery and "
                 "in another group.").format(min=MMRM_MIN_AT_VISIT)
    df = df.filter(pl.col("group").is_in(groups) & pl.col("visit").is_in(visits))
    if covariance == "unstructured":
        # a covariance between two visits needs patients seen at both: drop the latest visits until it has them
        while len(visits) > 2:
            pairs = (df.select("subject_id", "visit").join(df.select("subject_id", "visit"), on="subject_id")
                     .filter(pl.col("visit") != pl.col("visit_right")).group_by("visit", "visit_right").len())
            seen = {(a, b): k for a, b, k in pairs.iter_rows()}
            if all(seen.get((a, b), 0) >= MMRM_MIN_PAIR for a in visits for b in visits if a != b):
                break
            visits = visits[:-1]
            df = df.filter(pl.col("visit").is_in(visits))
    try:
        return mmrm(df, visits=visits, groups=groups, covariance=covariance)
    except (ValueError, np.linalg.LinAlgError) as exc:
        return _("The model could not be fitted: {reason}").format(reason=exc)


def mmrm_section(ctx: PageContext) -> None:
    """QoL page: change from baseline by strategy over visits, MMRM LS means."""
    c1, c2 = st.columns([3, 2])
    with c1:
        value = st.selectbox(_("Scale"), list(MMRM_SCALES), format_func=mmrm_scale_label, key="mmrm_scale")
    with c2:
        covariance = st.selectbox(_("Within-patient covariance"), ("unstructured", "ar1"), key="mmrm_cov",
                                  format_func=lambda c: _("Unstructured") if c == "unstructured" else "AR(1)")
    instrument, scale = value.split(".", 1)
    sc = QOL_SCALE_INDEX[(instrument, scale)]
    res = cached_query(mmrm_analysis, ctx.store, ctx.filter, instrument, scale, covariance)
    if isinstance(res, str):
        st.warning(res, icon=":material/group_off:")
        return
    labels = {g: _(MMRM_LABELS[g]) for g in res.groups}
    vl = QOL_TIMEPOINT.label
    scale_label = _(sc.label)
    st.markdown(_("**{scale}: least-squares mean change from baseline, 95% CI** ({direction}; 0 = no change)").format(
        scale=scale_label, direction=_("up = better") if sc.higher_is_better else _("up = worse")))
    show_figure(lsmeans_figure(res.lsmeans, visits=res.visits, visit_label=vl, labels=labels,
                               y_title=_("Change from baseline (points)")),
                f"MMRM {instrument} {scale}", ctx, key="mmrm_fig")
    show_table(format_lsmeans_table(res, labels, vl), f"MMRM {instrument} {scale}", ctx,
               title=_("{scale}: least-squares mean change from baseline by strategy group").format(scale=scale_label))
    left_out = [v for v in QOL_VISITS if v not in res.visits]
    left_groups = [_(MMRM_LABELS[g]) for g in MMRM_GROUPS if g not in res.groups]
    text = _("Mixed model for repeated measures, {patients} patients, {scores} post-baseline scores: change ~ "
             "baseline score + visit x group, {covariance} within-patient covariance, REML (as R nlme::gls); LS "
             "means at the mean baseline score, t-based 95% CI ({df} df, no Kenward-Roger correction). Missing "
             "visits assumed missing at random. Groups: initial strategy. Left out: groups with fewer than {min} "
             "patients or fewer than {min_visit} at a modelled visit").format(
        patients=fmt_int(res.n_patients), scores=fmt_int(res.n_obs),
        covariance=_("unstructured") if res.covariance == "unstructured" else "AR(1)", df=res.df,
        min=MMRM_MIN_PATIENTS, min_visit=MMRM_MIN_AT_VISIT)
    if left_groups:
        text += _(" ({groups})").format(groups=_(", ").join(left_groups))
    if left_out:
        text += _("; ") + _("visits {visits}: fewer than {min} patients in radical surgery and another group").format(
            visits=_(", ").join(vl(v) for v in left_out), min=MMRM_MIN_AT_VISIT)
        if res.covariance == "unstructured":
            text += _(", or, for the unstructured covariance, not seen together with another visit in {n} patients "
                      "(AR(1) keeps more visits)").format(n=MMRM_MIN_PAIR)
    text += _(".")
    if not res.converged:
        text = _then(text, _("**The REML fit did not converge to the set tolerance.**"))
    st.caption(text)


# ------------------------------------------------------------------ MDT report
def report_section(store: Store, flt: CohortFilter) -> list[ReportItem]:
    """Target-trial protocol summary and the DFS / OS comparison against the default margin
    (IPTW, time zero T1, default covariates) for the MDT report."""
    opts = ComparisonOptions()
    covs = DEFAULT_COVARIATES
    items = [ReportItem(_("Target-trial protocol summary (emulation at T1)"),
                        format_target_trial(_protocol(store, flt, "DFS", covs, opts)),
                        caption=_("Organ preservation first versus radical surgery; strategy chosen by the MDT, "
                                  "adjusted by propensity-score weighting."))]
    rows, notes = [], []
    for endpoint in ("DFS", "OS"):
        res = cached_query(comparison_analysis, store, flt, endpoint, covs, opts)
        if isinstance(res, str):
            notes.append(f"{endpoint}: {res}")
            continue
        rows.append({"label": f"{endpoint}, {_(METHOD_LABELS[opts.method])}",
                     **{k: res.hr_[k] for k in ("hr", "lower", "upper")}})
        source = _(NI_MARGIN_SOURCE)
        margin = (_("Margin {margin} ({source}; the DFS margin applied to OS).") if endpoint == "OS"
                  else _("Margin {margin} ({source}).")).format(margin=f"{opts.margin:g}", source=source)
        items.append(ReportItem(_("{endpoint}: non-inferiority and E-values").format(endpoint=endpoint),
                                format_ni_summary(res),
                                caption=_then(margin, _("Weighted Cox model, robust SE; {p} one-sided against the "
                                                        "margin.").format(p=format_p_eq(res.noninferiority_.p_value)))))
    if rows:
        items.insert(1, ReportItem(_("Hazard ratios against the non-inferiority margin"),
                                   ni_figure(pl.DataFrame(rows), margin=opts.margin),
                                   caption="; ".join(notes) if notes else _("IPTW-weighted Cox models, 95% CI.")))
    elif notes:
        items.append(ReportItem(_("Comparison not estimated"), pl.DataFrame({_("Reason"): notes})))
    return items

