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

ARM_LABELS = {"OP": "Organ preservation first (NOM or OPFS)", "RO": "Radical surgery (RO)"}
ENDPOINT_NAMES = {"DFS": "DFS: disease-free survival (salvage-adjusted)", "OS": "OS: overall survival",
                  "DMFS": "DMFS: distant-metastasis-free survival", "EFS": "EFS: event-free survival"}
METHOD_LABELS = {"iptw": "IPTW (stabilised, ATE)", "overlap": "Overlap weights (ATO)",
                 "matching": "1:1 matching, caliper"}
LANDMARKS = (0.0, 3.0, 6.0, 12.0)
DEFAULT_COVARIATES = ("age", "sex", "ecog", "tumour_site", "ct", "cn", "regimen_class")
# small-registry minimums of these views (the IPTW / forest minimums are another issue's)
FINEGRAY_MIN_EVENTS = 10  # regrowths needed for Gray's test / Fine-Gray
GRAY_MIN_GROUP = 5  # patients a group needs to enter Gray's test
PATHWAY_MIN_AT_RISK = 10  # each group's areas stop where fewer remain under follow-up
PATHWAY_MIN_GROUP = 10  # groups with fewer patients are not drawn
MMRM_MIN_AT_VISIT = 5  # visits where a group has fewer patients are left out of the model
MMRM_MIN_PAIR = 20  # unstructured: every pair of visits must be seen together in this many patients
AE_LEVELS = {"any": "Any grade", "g3": "Grade ≥3"}
AE_RATE_MIN_PY = 5.0  # groups with less exposure are listed, not drawn


# ------------------------------------------------------------------ target-trial comparison
def comparison_analysis(store: Store, flt: CohortFilter, endpoint: str, covariates: tuple[str, ...],
                        options: ComparisonOptions) -> ComparisonSummary | str:
    """The comparison, or why it is refused (a message). Module level for ``cached_query``."""
    df = landmark_at(select_comparison_data(store, flt, endpoint, covariates), options.landmark)
    counts = dict(df.group_by("group").len().iter_rows())
    op, ro = counts.get("OP", 0), counts.get("RO", 0)
    if op < COMPARISON_MIN_PER_ARM or ro < COMPARISON_MIN_PER_ARM:
        return (f"Too few patients for an adjusted comparison: {op} with organ preservation first and {ro} with "
                f"radical surgery are eligible (at least {COMPARISON_MIN_PER_ARM} in each arm needed).")
    events = int(df.get_column("event").sum())
    if events < COMPARISON_MIN_EVENTS:
        return (f"Too few events for a hazard ratio: {events} {endpoint} events among the eligible patients (at least "
                f"{COMPARISON_MIN_EVENTS} needed).")
    try:
        return summarize_comparison(df, covariates, options)
    except (ValueError, RuntimeError, ArithmeticError) as exc:
        return f"The comparison could not be estimated: {exc}"


def _protocol(store: Store, flt: CohortFilter, endpoint: str, covariates: tuple[str, ...],
              options: ComparisonOptions) -> TargetTrial:
    df = select_comparison_data(store, flt, endpoint, covariates)
    at = landmark_at(df, options.landmark)
    counts = dict(at.group_by("group").len().iter_rows())
    groups = dict(select_t1_groups(store, flt).iter_rows())
    not_el = {"systemic therapy only": groups.get("SYSTEMIC", 0), "no strategy decision yet": groups.get("NONE", 0)}
    if options.landmark:
        not_el[f"event or end of follow-up within {options.landmark:g} months of T1"] = df.height - at.height
    ep = ENDPOINTS_BY_CODE[endpoint]
    return TargetTrial(ENDPOINT_NAMES[endpoint], ep.definition,
                       {ARM_LABELS[g]: counts.get(g, 0) for g in ("OP", "RO")}, not_el,
                       [COVARIATES[c] for c in covariates], options.method, options.landmark, options.trim,
                       options.truncate, options.caliper, options.margin)


def _cov_label(term: str) -> str:
    from .survival import _cov_label as label  # one labelling rule for covariate levels

    return label(term)


def comparison_section(ctx: PageContext) -> None:
    """Survival page: organ preservation first vs radical surgery as an emulated target trial."""
    st.caption("Organ preservation first (Watch & Wait or local / endoscopic excision) versus radical surgery, as the "
               "emulation of a target trial started at the strategy decision (T1). Strategy was chosen by the MDT, not "
               "randomised: every estimate below is adjusted for the covariates chosen, and for nothing else.")
    c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
    with c1:
        endpoint = st.selectbox("Outcome", COMPARISON_ENDPOINTS, format_func=ENDPOINT_NAMES.get, key="tt_endpoint")
    with c2:
        method = st.selectbox("Adjustment", list(METHOD_LABELS), format_func=METHOD_LABELS.get, key="tt_method")
    with c3:
        landmark = st.selectbox("Time zero", LANDMARKS, key="tt_landmark",
                                format_func=lambda m: "T1" if not m else f"T1 + {m:g} months (landmark)")
    with c4:
        margin = st.number_input("Non-inferiority margin (HR)", min_value=1.05, max_value=2.0, value=DEFAULT_NI_MARGIN,
                                 step=0.01, key="tt_margin",
                                 help=f"Default {DEFAULT_NI_MARGIN:g}: {NI_MARGIN_SOURCE}. A registry is not a "
                                      "trial: set the margin the study protocol states.")
    with st.expander("Propensity model and adjustment options", icon=":material/tune:"):
        if "tt_covs" not in st.session_state:
            st.session_state["tt_covs"] = list(DEFAULT_COVARIATES)
        covs = st.multiselect("Propensity model covariates", options=list(COVARIATES), format_func=COVARIATES.get,
                              key="tt_covs", help="Main-effects logistic model; missing categories form their own level.")
        o1, o2, o3 = st.columns(3)
        trim = o1.checkbox("Trim: keep propensity 0.1-0.9", key="tt_trim",
                           help="Crump's rule of thumb; the score is refitted on the patients kept.")
        truncate = o2.checkbox("Truncate IPT weights at the 99th percentile", key="tt_truncate",
                               disabled=method != "iptw")
        caliper = o3.selectbox("Matching caliper (SD of the score)", (0.2, 0.1, 0.05), key="tt_caliper",
                               disabled=method != "matching", help="0.2 SD: Austin 2011.")
    if not covs:
        st.info("Choose at least one covariate for the propensity model.")
        return
    opts = ComparisonOptions(method=method, trim=trim, truncate=truncate, caliper=float(caliper), margin=float(margin),
                             landmark=float(landmark))
    st.subheader("Target-trial protocol")
    tt = cached_query(_protocol, ctx.store, ctx.filter, endpoint, tuple(covs), opts)
    protocol = format_target_trial(tt)
    st.table(protocol.to_pandas().set_index("Protocol element"))  # wrapped text: one screen, nothing cut off
    table_download(protocol, f"target trial protocol {endpoint}", ctx,
                   title="Target-trial protocol summary (emulation at T1)")
    res = cached_query(comparison_analysis, ctx.store, ctx.filter, endpoint, tuple(covs), opts)
    if isinstance(res, str):
        st.warning(res, icon=":material/group_off:")
        return
    _comparison_results(ctx, res, endpoint, opts)


def _comparison_results(ctx: PageContext, res: ComparisonSummary, endpoint: str, opts: ComparisonOptions) -> None:
    st.subheader("Overlap of the arms")
    lo, hi = EQUIPOISE
    t1, t2 = st.tabs(["Propensity score", "Preference score"])
    with t1:
        show_figure(overlap_figure(res.units_, labels=ARM_LABELS), "propensity overlap", ctx, key="tt_ps_fig")
    with t2:
        show_figure(overlap_figure(res.units_, labels=ARM_LABELS, column="preference", band=EQUIPOISE),
                    "preference score overlap", ctx, key="tt_pref_fig")
    st.caption(f"Share of each arm's patients per 0.05 of the score. Preference score (Walker 2013): the propensity "
               f"score with the arms' sizes taken out; **{100 * res.equipoise_:.0f}%** of the patients lie in "
               f"empirical equipoise ({lo}-{hi}, shaded), where a comparison rests on data rather than on the model.")
    st.subheader("Covariate balance")
    bl = with_labels(res.balance_, _cov_label, "covariate", "label")
    fig = balance_figure(bl)
    after = "After matching" if opts.method == "matching" else "After weighting"
    fig.data[0].name, fig.data[1].name = "Before adjustment", after
    show_figure(fig, "target trial balance", ctx, key="tt_balance_fig")
    worst = bl.select(pl.col("smd_after").abs().max()).item()
    (st.success if worst is not None and worst < 0.1 else st.warning)(
        f"Largest |SMD| {after.lower()}: {worst:.3f} (dashed line: 0.1, the usual limit for balance)."
        + ("" if opts.method != "overlap" else " Overlap weights balance the means of the model's covariates exactly.")
        + ("" if worst is not None and worst < 0.1 else " Balance is not reached on every covariate: the hazard ratio "
           "below is only as comparable as this; try another adjustment or propensity model."))
    show_table(format_comparison_table(res, ARM_LABELS), f"target trial counts {endpoint}", ctx,
               title="Patients eligible, analysed and with events")
    if opts.method == "matching":
        st.caption(f"Caliper {opts.caliper:g} SD of the propensity score = {res.caliper_width:.4f}; treated patients "
                   "without a control within it are not analysed.")
    st.subheader(f"{ENDPOINT_NAMES[endpoint].split(': ', 1)[1].capitalize()}: comparison")
    grid = time_grid(float(res.km_.get_column("time").max() or 12.0))
    risk = format_risk_cells(risk_table(res.km_, grid), False)
    n = dict(res.counts_.select("group", "analysed").iter_rows())
    groups = ["OP", "RO"]
    req = TteRequest(endpoint, "T1", "initial_group")
    x_title = origin_axis_label(req) if not opts.landmark else f"Months from the landmark (T1 + {opts.landmark:g} months)"
    km = km_figure(res.km_, risk, groups=groups, label=ARM_LABELS.get, n=n, colours=colours_for("iptw", groups),
                   dashes=dashes_for("iptw", groups), x_title=x_title, y_title=f"{endpoint} (%)", grid=grid,
                   min_at_risk=0, risk_title="Weighted number at risk" if opts.method != "matching" else "Number at risk")
    show_figure(km, f"target trial KM {endpoint} {opts.method}", ctx, key="tt_km_fig")
    st.caption(("Weighted " if opts.method != "matching" else "Matched-sample ") + "Kaplan-Meier, log-log 95% band.")
    rows = pl.DataFrame({"label": [f"{endpoint}, {METHOD_LABELS[opts.method]}"], "hr": [res.hr_["hr"]],
                         "lower": [res.hr_["lower"]], "upper": [res.hr_["upper"]]})
    show_figure(ni_figure(rows, margin=opts.margin), f"non-inferiority {endpoint}", ctx, key="tt_ni_fig")
    show_table(format_ni_summary(res), f"non-inferiority {endpoint}", ctx, title="Non-inferiority and E-values")
    ev = res.evalue_
    st.caption(f"Non-inferior when the upper 95% limit of the hazard ratio is below the margin ({opts.margin:g}; "
               f"default from {NI_MARGIN_SOURCE}" + ("" if endpoint == "DFS" else f"; applied here to {endpoint}")
               + "). An adjusted observational comparison, not a trial. **E-value** (VanderWeele & Ding 2017): an unmeasured confounder "
               f"associated with both the strategy and the outcome by a risk ratio of {ev.estimate:.2f} each, above the "
               f"covariates adjusted for, could explain the estimate away; {ev.limit:.2f} for the confidence limit "
               "closest to 1 (1 = the interval already includes no difference). The outcome is treated as "
               + ("rare (< 15% with the event), the HR taken as a risk ratio." if res.rare_outcome else
                  "common (≥ 15% with the event): the HR is converted to a risk ratio first (VanderWeele 2020)."))


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
        return (f"Gray's test needs at least two groups with {GRAY_MIN_GROUP} or more patients (here: "
                + ", ".join(f"{FACTORS[req.factor].label_of(g)} {k}" for g, k in sorted(sizes.items())) + ").")
    if regrowths < FINEGRAY_MIN_EVENTS:
        return (f"Too few regrowths for Gray's test and a Fine-Gray model: {regrowths} (at least "
                f"{FINEGRAY_MIN_EVENTS} needed).")
    g = gray_test(df, "time", "event_type", "REGROWTH", "group", censor_code="CENSORED")
    ref = FACTORS[req.factor].reference
    reference = {"group": ref} if ref in keep else None
    try:
        fg = fine_gray(df, "time", "event_type", "REGROWTH", ["group", *covs], censor_code="CENSORED",
                       reference=reference)
    except (ValueError, np.linalg.LinAlgError) as exc:
        fg = None
        note = f"Fine-Gray model not estimable: {exc}"
    else:
        note = None
    return {"gray": g, "fg": fg, "dropped": dropped, "missing": n0 - df.height if covs else 0, "note": note,
            "reference": fg.reference_levels.get("group") if fg else None}


def competing_tests(ctx: PageContext, req: TteRequest) -> None:
    """Survival page, regrowth view: Gray's test and Fine-Gray subdistribution HRs."""
    if req.factor == "none":
        return
    st.subheader("Groups compared under competing risks")
    out = cached_query(competing_tests_analysis, ctx.store, ctx.filter, req)
    if isinstance(out, str):
        st.info(out, icon=":material/group_off:")
        return
    label = FACTORS[req.factor].label_of

    def term_label(term: str) -> str:
        col, _, level = term.partition("=")
        if col == "group":
            return f"{label(level)} vs {label(out['reference'])}"
        return _cov_label(term)

    show_table(format_gray_finegray(out["gray"], out["fg"], label, term_label), f"Gray Fine-Gray regrowth {req.factor}",
               ctx, title="Regrowth: Gray's test and Fine-Gray subdistribution hazard ratios")
    notes = ["Gray's test (cmprsk::cuminc) compares the cumulative incidence curves of regrowth; the Fine-Gray model "
             "(cmprsk::crr) gives subdistribution hazard ratios (IPCW risk set, robust SE): how the incidence of "
             "regrowth differs, death and distant metastasis being competing events"]
    if out["dropped"]:
        notes.append(f"left out (fewer than {GRAY_MIN_GROUP} patients): {', '.join(label(g) for g in out['dropped'])}")
    if out["missing"]:
        notes.append(f"{out['missing']} patients without a value of an adjustment covariate left out")
    if out["note"]:
        notes.append(out["note"])
    st.caption("; ".join(notes) + ".")


# ------------------------------------------------------------------ pathway over time
PATHWAY_GROUPS = {"NOM": "Watch & Wait (NOM)", "OPFS": "Local / endoscopic resection (OPFS)", "RO": "Radical surgery (RO)"}


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
    st.caption("State occupation probabilities (Aalen-Johansen, multi-state): the share of each initial strategy "
               "group organ in place without resection, after an organ-sparing excision, after radical surgery, "
               "with distant disease, or dead, at each month after the strategy decision (T1). Censoring is "
               "accounted for; the areas are estimates, not counts.")
    so = cached_query(pathway_analysis, ctx.store, ctx.filter)
    if so is None:
        st.info("No patients with a strategy decision match the filters.")
        return
    if "state" not in so.columns:
        st.warning(f"Too few patients per group for the pathway (at least {PATHWAY_MIN_GROUP} needed): "
                   + ", ".join(f"{PATHWAY_GROUPS.get(g, g)} {n}" for g, n in so.iter_rows()), icon=":material/group_off:")
        return
    sizes = dict(so.select("group", "n_group").unique().iter_rows())
    small = [g for g in PATHWAY_GROUPS if g not in sizes]
    cut = so.filter(pl.col("_at_risk") >= PATHWAY_MIN_AT_RISK)
    groups = [g for g in PATHWAY_GROUPS if g in sizes]
    fig = state_occupation_figure(cut, states=PATHWAY_STATES, groups=groups,
                                  group_label=lambda g: f"{PATHWAY_GROUPS[g]} (n={sizes[g]:,})",
                                  x_title="Months from T1 (strategy decision)")
    show_figure(fig, "pathway state occupation", ctx, key="pathway_fig")
    st.caption(f"Each panel stops where fewer than {PATHWAY_MIN_AT_RISK} of its patients remain under follow-up. "
               "Rules: everyone starts with the organ in place at T1; local excision, radical resection, distant "
               "metastasis and death move a patient on (same day: the later state); distant disease stays distant."
               + (f" Not drawn (fewer than {PATHWAY_MIN_GROUP} patients): "
                  + ", ".join(PATHWAY_GROUPS[g] for g in small) + "." if small else ""))
    at = occupation_at(cut, (12.0, 24.0, 36.0))
    rows = []
    for (g, t), part in at.group_by(["group", "time"], maintain_order=True):
        row = {"Group": PATHWAY_GROUPS.get(g, g), "Month": f"{t:g}"}
        for code, lab in PATHWAY_STATES:
            r = part.filter(pl.col("state") == code).row(0, named=True)
            exact = r["std_err"] == 0 and r["pstate"] in (0.0, 1.0)  # nobody / everybody: no interval
            row[lab.split(" (")[0].split(",")[0]] = (f"{100 * r['pstate']:.0f}%" if exact else
                                                     format_pct_ci(r["pstate"], r["lower"], r["upper"]))
        rows.append(row)
    if not rows:
        st.info(f"No group has {PATHWAY_MIN_AT_RISK} patients under follow-up at 12 months: no estimates at "
                "12, 24 or 36 months.")
    else:
        show_table(pl.DataFrame(rows), "pathway at 12 24 36 months", ctx,
                   title="State occupation at 12, 24 and 36 months after T1 (95% CI, infinitesimal jackknife)")


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
        st.info("No safety-population patients match the filters.")
        return
    labels = {**SAFETY_GROUP.labels, "ALL": "All patients"}
    short = rates.filter(pl.col("patient_years") < AE_RATE_MIN_PY).get_column("group").unique(maintain_order=True)
    drawn = rates.filter(pl.col("patient_years") >= AE_RATE_MIN_PY)
    if drawn.height:
        show_figure(rates_figure(drawn, labels=labels, level_labels=AE_LEVELS), "AE rates per 100 patient-years", ctx,
                    key="ae_rates_fig")
    if short.len():
        st.caption(f"Not drawn (under {AE_RATE_MIN_PY:g} patient-years of exposure, the interval spans most of the "
                   "axis): " + ", ".join(labels.get(g, g) for g in short.to_list()) + "; the table lists them.")
    show_table(format_rate_table(rates, labels, AE_LEVELS), "AE rates per 100 patient-years", ctx,
               title="Immunotherapy adverse events per 100 patient-years")
    st.caption("Every treatment-emergent immunotherapy adverse event counts (a patient with three episodes adds "
               "three; patients with an event in brackets). Exposure: years from the first immunotherapy dose (T0) to "
               "last contact or death. Rate = events / patient-years x 100 with the exact Poisson 95% CI (R "
               "poisson.test). A rate assumes events spread evenly over follow-up: immunotherapy AEs cluster in the first "
               "months, so a group followed briefly (e.g. no strategy yet) shows a high rate. Groups: initial strategy "
               "group; most events precede the strategy decision, so the groups describe, they do not compare "
               "treatments.")


# ------------------------------------------------------------------ QoL MMRM
MMRM_SCALES = tuple((f"{i}.{c}", f"{QOL_INSTRUMENT.label(i).removeprefix('EORTC ')} - {s.label}")
                    for (i, c), s in QOL_SCALE_INDEX.items() if i.startswith("QLQ"))
MMRM_GROUPS = ("RO", "NOM", "OPFS")
MMRM_LABELS = {"RO": "Radical surgery", "NOM": "Watch & Wait", "OPFS": "Local / endoscopic resection"}


def mmrm_analysis(store: Store, flt: CohortFilter, instrument: str, scale: str, covariance: str) -> MmrmResult | str:
    df = select_qol_change(store, flt, instrument, scale).filter(pl.col("group").is_in(MMRM_GROUPS))
    if df.height == 0:
        return "No patient has both a baseline and a later score on this scale."
    pats = dict(df.group_by("group").agg(pl.col("subject_id").n_unique()).iter_rows())
    groups = [g for g in MMRM_GROUPS if pats.get(g, 0) >= MMRM_MIN_PATIENTS]
    if len(groups) < 2 or "RO" not in groups:
        return ("Too few patients for the model: " + ", ".join(f"{MMRM_LABELS[g]} {pats.get(g, 0)}" for g in MMRM_GROUPS)
                + f" with a change from baseline (at least {MMRM_MIN_PATIENTS} in radical surgery and one other group).")
    cells = dict(((g, v), k) for g, v, k in df.group_by("group", "visit").len().iter_rows())

    def enough(g: str, v: str) -> bool:
        return cells.get((g, v), 0) >= MMRM_MIN_AT_VISIT

    # visits where radical surgery and another group are measured; then the groups measured at all of them
    visits = [v for v in QOL_VISITS if enough("RO", v) and any(enough(g, v) for g in groups if g != "RO")]
    groups = [g for g in groups if all(enough(g, v) for v in visits)]
    if len(visits) < 2 or len(groups) < 2:
        return (f"Too few repeated scores: fewer than two visits with at least {MMRM_MIN_AT_VISIT} patients in radical "
                "surgery and in another group.")
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
        return f"The model could not be fitted: {exc}"


def mmrm_section(ctx: PageContext) -> None:
    """QoL page: change from baseline by strategy over visits, MMRM LS means."""
    c1, c2 = st.columns([3, 2])
    with c1:
        value = st.selectbox("Scale", [v for v, _ in MMRM_SCALES], format_func=dict(MMRM_SCALES).get, key="mmrm_scale")
    with c2:
        covariance = st.selectbox("Within-patient covariance", ("unstructured", "ar1"), key="mmrm_cov",
                                  format_func={"unstructured": "Unstructured", "ar1": "AR(1)"}.get)
    instrument, scale = value.split(".", 1)
    sc = QOL_SCALE_INDEX[(instrument, scale)]
    res = cached_query(mmrm_analysis, ctx.store, ctx.filter, instrument, scale, covariance)
    if isinstance(res, str):
        st.warning(res, icon=":material/group_off:")
        return
    labels = {g: MMRM_LABELS[g] for g in res.groups}
    vl = QOL_TIMEPOINT.label
    st.markdown(f"**{sc.label}: least-squares mean change from baseline, 95% CI** "
                f"({'up = better' if sc.higher_is_better else 'up = worse'}; 0 = no change)")
    show_figure(lsmeans_figure(res.lsmeans, visits=res.visits, visit_label=vl, labels=labels,
                               y_title="Change from baseline (points)"),
                f"MMRM {instrument} {scale}", ctx, key="mmrm_fig")
    show_table(format_lsmeans_table(res, labels, vl), f"MMRM {instrument} {scale}", ctx,
               title=f"{sc.label}: least-squares mean change from baseline by strategy group")
    left_out = [v for v in QOL_VISITS if v not in res.visits]
    left_groups = [MMRM_LABELS[g] for g in MMRM_GROUPS if g not in res.groups]
    st.caption(f"Mixed model for repeated measures, {res.n_patients:,} patients, {res.n_obs:,} post-baseline scores: "
               f"change ~ baseline score + visit x group, {'unstructured' if res.covariance == 'unstructured' else 'AR(1)'} "
               "within-patient covariance, REML (as R nlme::gls); LS means at the mean baseline score, t-based 95% CI "
               f"({res.df} df, no Kenward-Roger correction). Missing visits assumed missing at random. Groups: initial "
               f"strategy. Left out: groups with fewer than {MMRM_MIN_PATIENTS} patients or fewer than "
               f"{MMRM_MIN_AT_VISIT} at a modelled visit"
               + (f" ({', '.join(left_groups)})" if left_groups else "")
               + (f"; visits {', '.join(vl(v) for v in left_out)}: fewer than {MMRM_MIN_AT_VISIT} patients in radical "
                  "surgery and another group"
                  + (f", or, for the unstructured covariance, not seen together with another visit in {MMRM_MIN_PAIR} "
                     "patients (AR(1) keeps more visits)" if res.covariance == "unstructured" else "")
                  if left_out else "") + "."
               + ("" if res.converged else " **The REML fit did not converge to the set tolerance.**"))


# ------------------------------------------------------------------ MDT report
def report_section(store: Store, flt: CohortFilter) -> list[ReportItem]:
    """Target-trial protocol summary and the DFS / OS comparison against the default margin
    (IPTW, time zero T1, default covariates) for the MDT report."""
    opts = ComparisonOptions()
    covs = DEFAULT_COVARIATES
    items = [ReportItem("Target-trial protocol summary (emulation at T1)",
                        format_target_trial(_protocol(store, flt, "DFS", covs, opts)),
                        caption="Organ preservation first versus radical surgery; strategy chosen by the MDT, "
                                "adjusted by propensity-score weighting.")]
    rows, notes = [], []
    for endpoint in ("DFS", "OS"):
        res = cached_query(comparison_analysis, store, flt, endpoint, covs, opts)
        if isinstance(res, str):
            notes.append(f"{endpoint}: {res}")
            continue
        rows.append({"label": f"{endpoint}, {METHOD_LABELS[opts.method]}", **{k: res.hr_[k] for k in ("hr", "lower", "upper")}})
        items.append(ReportItem(f"{endpoint}: non-inferiority and E-values", format_ni_summary(res),
                                caption=f"Margin {opts.margin:g} ({NI_MARGIN_SOURCE}"
                                        + ("; the DFS margin applied to OS" if endpoint == "OS" else "") + "). "
                                        f"Weighted Cox model, robust SE; {format_p_eq(res.noninferiority_.p_value)} "
                                        "one-sided against the margin."))
    if rows:
        items.insert(1, ReportItem("Hazard ratios against the non-inferiority margin",
                                   ni_figure(pl.DataFrame(rows), margin=opts.margin),
                                   caption="; ".join(notes) if notes else "IPTW-weighted Cox models, 95% CI."))
    elif notes:
        items.append(ReportItem("Comparison not estimated", pl.DataFrame({"Reason": notes})))
    return items

