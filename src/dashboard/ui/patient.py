"""Patient timeline page body: one patient's course, the patient against comparable
patients, and the list of Watch & Wait patients overdue for surveillance.

The patient is kept in the URL as ``?patient=<pseudonymised id>``. ``page_setup`` only
knows page options with a fixed list of values, so the page takes ``patient`` out of the
URL before ``page_setup`` runs (:func:`take_patient_param`) and writes it back after;
the id is checked against the store and only ever used as a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import streamlit as st

from ..figures.timeline import comparable_figure, months_between, timeline_figure
from ..filters import CohortFilter, PageOption
from ..i18n import N_, _, fmt_decimal, fmt_int, ngettext
from ..queries.patient import (
    PatientRecord,
    select_comparable_tte,
    select_patient_exists,
    select_patient_ids,
    select_patient_record,
    select_surveillance_candidates,
    valid_patient_id,
)
from ..schema import BIOMARKER_BASIS, MODALITY, REGIMEN_CLASS, RESPONSE, STRATEGY, TUMOUR_SITE
from ..stats import add_time_zero, cumulative_incidence, kaplan_meier
from ..stats.surveillance import DEFAULT_SCHEDULE, estimate_next_exams
from .data import cached_query
from .export import show_figure, table_download
from .page import PageContext, option_control
from .text import md_text

PATIENT_PARAM = "patient"
PICK = "patient_pick"
PICK_LIMIT = 1000  # ids offered in the picker list
LAST_URL_PATIENT = "_patient_url_last"
URL_NOTICE = "_patient_url_notice"
VIEW = PageOption("view", N_("Show"), (("patient", N_("One patient")), ("overdue", N_("Overdue surveillance list"))),
                  "patient")
OPTIONS = (VIEW,)
MIN_COMPARABLE = 5
STATUS_TEXT = {"ORGAN_PRESERVED": N_("organ preserved, disease-free"), "RESECTED_NED": N_("organ resected, disease-free"),
               "REGROWTH_SALVAGED": N_("regrowth, salvaged R0"),
               "REGROWTH_NOT_SALVAGED": N_("regrowth, not salvaged with R0"),
               "RECURRENCE_SALVAGED": N_("recurrence, salvaged R0"),
               "WITH_DISEASE": N_("recurrence or metastasis"), "DEAD": N_("died"), "LOST_TO_FU": N_("lost to follow-up")}
SCHEDULE_TEXT = N_(
    "Rectum: endoscopy every 3 months and MRI every 6 months in years 1-2, endoscopy every 6 and MRI every 12 months "
    "in years 3-5, both yearly after. Colon: endoscopy on the rectal intervals. Stomach / gastro-oesophageal "
    "junction: endoscopy every 3 months in year 1, 4 in year 2, 6 in year 3, then yearly."
)


def rule_text() -> str:
    """Who is on the overdue list and when an exam is due, in the current language."""
    rule = _("Patients whose current strategy is Watch & Wait, with the organ in place, alive. Next examination due = "
             "last endoscopy (or MRI) since T1, or T1 when none, + the interval for the time from T1 to that "
             "examination. Overdue when the data cut-off is more than {days} days (4 weeks' grace) past the due "
             "date; days overdue are counted from the due date.").format(days=DEFAULT_SCHEDULE.grace_days)
    return _("{sentence} {next}").format(sentence=rule, next=_(SCHEDULE_TEXT))


def _modality_short(code: str | None) -> str:
    """An examination's name without its parenthesis (``Endoscopy``), in the current language."""
    label = MODALITY.label(code)
    return label.split(" (")[0].split("（")[0]


def take_patient_param() -> str | None:
    """Remove ``patient`` from the URL (before ``page_setup``) and return its value."""
    qp = st.query_params
    if PATIENT_PARAM not in qp:
        return None
    values = qp.get_all(PATIENT_PARAM)
    del qp[PATIENT_PARAM]
    return values[-1] if values else None


# ------------------------------------------------------------------ cached analyses
@dataclass(frozen=True)
class Comparable:
    ops: pl.DataFrame | None
    rg: pl.DataFrame | None
    n_ops: int
    n_rg: int


def comparable_analysis(store, flt: CohortFilter) -> Comparable:
    """KM of OPS and Aalen-Johansen CIF of RG (from T1) for the patients matching ``flt``."""
    df = select_comparable_tte(store, flt)
    ops = df.filter(pl.col("paramcd") == "OPS").with_columns((1 - pl.col("cnsr")).alias("event"))
    rg = df.filter(pl.col("paramcd") == "RG").with_columns(
        pl.when(pl.col("cnsr") == 1).then(0).when(pl.col("evnt_type") == "REGROWTH").then(1).otherwise(2).alias("etype"))
    km = add_time_zero(kaplan_meier(ops, "aval", "event")) if ops.height >= MIN_COMPARABLE else None
    cif = None
    if rg.height >= MIN_COMPARABLE:
        if (rg["etype"] == 1).any():
            cif = cumulative_incidence(rg, "aval", "etype", cause=1)
            zero = cif.head(1).with_columns(pl.lit(0.0).alias("time"), pl.lit(0.0).alias("cif"),
                                            pl.lit(0.0).alias("lower"), pl.lit(0.0).alias("upper"))
            cif = pl.concat([zero, cif]) if cif["time"][0] > 0 else cif
        else:  # no regrowth among them: a flat line at 0 to the longest follow-up
            tmax = float(rg["aval"].max())
            cif = pl.DataFrame({"time": [0.0, tmax], "n_risk": [float(rg.height), None], "cif": [0.0, 0.0],
                                "lower": [0.0, 0.0], "upper": [0.0, 0.0]})
    return Comparable(km, cif, ops.height, rg.height)


def next_exams_for(store, flt: CohortFilter, patient_id: str) -> pl.DataFrame:
    """Next due endoscopy / MRI of one patient (empty when not under W&W surveillance)."""
    cand = select_surveillance_candidates(store, flt)
    return estimate_next_exams(cand.filter(pl.col("subject_id") == patient_id))


def overdue_list(store, flt: CohortFilter) -> pl.DataFrame:
    cand = select_surveillance_candidates(store, flt)
    nxt = estimate_next_exams(cand)
    extra = cand.select("subject_id", "restaging_response", "last_contact_date", "lost_to_fu_fl")
    return (nxt.filter(pl.col("overdue")).join(extra, on="subject_id", how="left")
            .sort(["days_overdue", "subject_id"], descending=[True, False]))


# ------------------------------------------------------------------ patient choice
def _choose_patient(ctx: PageContext, url_patient: str | None) -> str | None:
    """The patient picker; a link (``?patient=``) selects the patient when it names one."""
    if url_patient is not None and url_patient != st.session_state.get(LAST_URL_PATIENT):
        st.session_state[LAST_URL_PATIENT] = url_patient
        if valid_patient_id(url_patient) and cached_query(select_patient_exists, ctx.store, CohortFilter(), url_patient):
            st.session_state[PICK] = url_patient
            st.session_state[URL_NOTICE] = None
        else:
            shown = url_patient if len(url_patient) <= 40 else url_patient[:40] + "..."
            st.session_state[URL_NOTICE] = shown
            st.session_state[PICK] = None
    # the list offers the first PICK_LIMIT ids of the selection; any other id can be typed
    # (accept_new_options) and is checked against the registry: a national registry's
    # million ids are never shipped to the browser
    ids = cached_query(select_patient_ids, ctx.store, ctx.filter, PICK_LIMIT)
    n_selected = int(ctx.counts.get("n", len(ids))) if ctx.counts else len(ids)
    chosen = st.session_state.get(PICK)
    if chosen is not None and not (valid_patient_id(chosen)
                                   and cached_query(select_patient_exists, ctx.store, CohortFilter(), chosen)):
        if chosen not in ids:
            st.session_state[URL_NOTICE] = chosen if len(chosen) <= 40 else chosen[:40] + "..."
        chosen = st.session_state[PICK] = None
    options = list(ids) if chosen is None or chosen in ids else [chosen, *ids]
    notice = st.session_state.get(URL_NOTICE)
    if notice:
        st.warning(_("No patient with the id {id} in this registry. Choose a patient below.").format(
            id=md_text(notice, 40)), icon=":material/person_off:")
    if ctx.hide_identifiers:
        st.caption(_("Presentation mode: the patient's id is hidden. Switch presentation mode off to choose another "
                     "patient."))
        return chosen if chosen is None or valid_patient_id(chosen) else None
    c1, c2 = st.columns([1, 2])
    more = n_selected > len(ids)
    with c1:
        st.selectbox(_("Patient (pseudonymised id; {n} selected in the sidebar)").format(n=fmt_int(n_selected)),
                     options, key=PICK,
                     placeholder=_("Type an id to search or enter it in full") if more else _("Type an id to search"),
                     accept_new_options=True,
                     help=_("The list shows the first {n} ids of the selection in order; type any other id in full "
                            "and press Enter.").format(n=fmt_int(len(ids))) if more else None,
                     on_change=lambda: st.session_state.update({URL_NOTICE: None}))
    chosen = st.session_state.get(PICK)
    if chosen is not None and not (valid_patient_id(chosen)
                                   and cached_query(select_patient_exists, ctx.store, CohortFilter(), chosen)):
        st.session_state[URL_NOTICE] = None
        with c2:
            st.warning(_("No patient with the id {id} in this registry.").format(id=md_text(chosen, 40)),
                       icon=":material/person_off:")
        return None
    in_selection = chosen is not None and (chosen in ids or (more and cached_query(
        select_patient_exists, ctx.store, ctx.filter, chosen)))
    if chosen is not None and not in_selection:
        with c2:
            st.info(_("This patient is not among those selected by the sidebar filters; shown because the link or an "
                      "earlier choice names them."), icon=":material/filter_alt_off:")
    if chosen is not None:
        st.session_state[LAST_URL_PATIENT] = chosen
        st.query_params[PATIENT_PARAM] = chosen
    return chosen


# ------------------------------------------------------------------ sections
def _summary_line(p: dict, hide_id: bool = False) -> str:
    def lab(v, vocab) -> str:
        return vocab.label(v) if v else _("not recorded")

    fu = months_between(p["t1"], p["last_contact_date"]) if p["t1"] else None
    status = p["status_at_last_fu"]
    regimen = lab(p["regimen_class"], REGIMEN_CLASS)
    if p["ici_cycles"]:
        regimen = ngettext("{regimen}, {n} cycle", "{regimen}, {n} cycles", int(p["ici_cycles"])).format(
            regimen=regimen, n=p["ici_cycles"])
    parts = [
        "**" + _("This patient") + "**" if hide_id else f"**{md_text(p['subject_id'], 40)}**",
        lab(p["tumour_site"], TUMOUR_SITE),
        lab(p["biomarker_basis"], BIOMARKER_BASIS),
        f"c{(p['ct'] or 'Tx').replace('T4A', 'T4a').replace('T4B', 'T4b')} c{p['cn'] or 'Nx'}",
        regimen,
        _("restaging: {response}").format(response=lab(p["restaging_response"], RESPONSE)),
        _("initial strategy: {strategy}").format(strategy=lab(p["initial_strategy"], STRATEGY)),
        _("now: {status}").format(status=_(STATUS_TEXT[status]) if status in STATUS_TEXT else (status or "-")),
    ]
    if fu is not None:
        parts.append(_("{months} months since T1").format(months=fmt_decimal(fu, 1)))
    return " · ".join(parts)


def _surveillance_line(due: pl.DataFrame) -> None:
    if due.height == 0:
        return
    bits = []
    for r in due.iter_rows(named=True):
        mod = _modality_short(r["modality"])
        if r["overdue"]:
            bits.append(":red[**" + ngettext("{exam} overdue by {n} day", "{exam} overdue by {n} days",
                                             int(r["days_overdue"])).format(exam=mod, n=fmt_int(r["days_overdue"]))
                        + "**] " + _("(due {date})").format(date=r["due_date"]))
        else:
            bits.append(_("{exam} next due {date}").format(exam=mod, date=r["due_date"]))
    st.markdown(_("Watch & Wait surveillance at the data cut-off: {exams}.").format(exams=_("; ").join(bits)),
                help=rule_text())


# Criteria given up first, one at a time, when too few patients share all of them (a small
# registry): biomarker basis, then site, then response; the initial strategy is kept.
RELAX_ORDER = ("biomarker", "site", "response")


def _default_criteria(ctx: PageContext, p: dict, crit) -> list[str]:
    """Tick the comparison criteria for a newly shown patient: all of them, less those given
    up (in :data:`RELAX_ORDER`) until at least ``MIN_COMPARABLE`` patients match. Returns the
    labels of the criteria given up; a user's own ticks are kept while the patient stays."""
    if st.session_state.get("cmp_for") == p["subject_id"]:
        return st.session_state.get("cmp_relaxed", [])
    on = {key: True for key, *_ in crit}
    values = {key: (p[column] if p[column] else "MISSING",) for key, column, *_ in crit}
    labels = {key: label for key, _, label, _ in crit}
    relaxed: list[str] = []
    for key in (None, *RELAX_ORDER):
        if key is not None:
            on[key] = False
            relaxed.append(labels[key])
        flt = CohortFilter(**{k: values[k] for k, v in on.items() if v})
        if cached_query(comparable_analysis, ctx.store, flt).n_ops >= MIN_COMPARABLE:
            break
    for key, v in on.items():
        st.session_state[f"cmp_{key}"] = v
    st.session_state["cmp_for"], st.session_state["cmp_relaxed"] = p["subject_id"], relaxed
    return relaxed


def _comparable(ctx: PageContext, record: PatientRecord) -> None:
    p = record.row
    st.subheader(_("This patient against comparable patients"))
    crit = [("site", "tumour_site", _("Site"), TUMOUR_SITE), ("response", "restaging_response", _("Response"), RESPONSE),
            ("biomarker", "biomarker_basis", _("Biomarker"), BIOMARKER_BASIS),
            ("strategy", "initial_strategy", _("Initial strategy"), STRATEGY)]
    relaxed = _default_criteria(ctx, p, crit)
    st.markdown(_("Comparable patients share this patient's (untick to relax):"))
    if relaxed:
        st.caption(_("Unticked to reach at least {n} comparable patients in this registry: {criteria}.").format(
            n=MIN_COMPARABLE, criteria=", ".join(relaxed)))
    cols = st.columns(len(crit))
    kwargs = {}
    for col, (key, column, label, vocab) in zip(cols, crit):
        value = p[column]
        with col:
            short = {"DMMR_IHC": "dMMR (IHC)", "MSIH_PCR": "MSI-H (PCR)", "MSIH_NGS": "MSI-H (NGS)", "POLE": "POLE",
                     "GEJ": "GEJ"}.get(value)
            on = st.checkbox(_("{criterion}: {value}").format(
                criterion=label, value=short or (vocab.label(value) if value else _("not recorded"))), key=f"cmp_{key}")
        if on:
            kwargs[key] = (value if value else "MISSING",)
    flt = CohortFilter(**kwargs)
    res: Comparable = cached_query(comparable_analysis, ctx.store, flt)
    if p["t1"] is None:
        st.info(_("This patient has no strategy decision (T1), so there is no time from T1 to compare."))
    fu = months_between(p["t1"], p["last_contact_date"]) if p["t1"] else None
    ol = months_between(p["t1"], p["organ_lost_date"]) if p["t1"] and p["organ_lost_date"] else None
    rg = months_between(p["t1"], p["first_regrowth_date"]) if p["t1"] and p["first_regrowth_date"] else None
    rg_mark = _("regrowth at {months} mo").format(months=fmt_decimal(rg, 1)) if rg is not None else _("no regrowth")
    marks = {"OPS": _("organ removed at {months} mo").format(months=fmt_decimal(ol, 1)) if ol is not None else
             (_("died, organ in place") if p["vital_status"] == "DEAD" else _("organ in place")),
             "RG": rg_mark if p["initial_strategy"] == "WW" else _("{mark} (not W&W from T1)").format(mark=rg_mark)}
    st.caption(_("Full analysis set (whole registry, not the sidebar selection) matching the ticked criteria. "
                 "Organ preservation: Kaplan-Meier, log-log 95% CI; event = radical resection or death. Local "
                 "regrowth: Aalen-Johansen cumulative incidence with distant metastasis and death as competing "
                 "events, Watch & Wait patients only, log 95% CI. Both from T1. Red line: this patient's follow-up "
                 "so far; red cross: their own event."))
    show_figure(comparable_figure(res.ops, res.rg, patient_months=fu, patient_marks=marks,
                                  patient_events={"OPS": ol, "RG": rg}, n_ops=res.n_ops, n_rg=res.n_rg),
                "Patient against comparable patients", ctx, key="cmp_fig")


def _patient(ctx: PageContext, url_patient: str | None) -> None:
    chosen = _choose_patient(ctx, url_patient)
    if chosen is None:
        st.info(_("Choose a patient above (type part of the id to search), or open one from the overdue "
                  "surveillance list."), icon=":material/person_search:")
        return
    record: PatientRecord | None = cached_query(select_patient_record, ctx.store, CohortFilter(), chosen)
    if record is None:
        st.warning(_("This patient is no longer in the registry."))
        return
    st.markdown(_summary_line(record.row, ctx.hide_identifiers))
    due = cached_query(next_exams_for, ctx.store, CohortFilter(), chosen)
    _surveillance_line(due)
    st.caption(_("Hover any bar or point for dates and details. Exams are coloured by result (green no evidence of "
                 "disease, orange equivocal, red tumour, grey not evaluable); procedures by worst Clavien-Dindo grade "
                 "(grey none, orange I-II, red IIIa or worse); adverse events by CTCAE grade (yellow 1, orange 2, "
                 "red 3, purple 4, black 5). Open circles: next surveillance exam due; a red cross marks an overdue "
                 "one."))
    show_figure(timeline_figure(record, due), "Patient timeline", ctx, key="timeline_fig")
    _comparable(ctx, record)


def _select_from_list() -> None:
    """Open the patient of the selected row of the overdue list."""
    state = st.session_state.get("overdue_table")
    table = st.session_state.get("_overdue_ids", [])
    try:
        row = state["selection"]["rows"][0]
    except (KeyError, IndexError, TypeError):
        return
    if 0 <= row < len(table):
        st.session_state[PICK] = table[row]
        st.session_state[URL_NOTICE] = None
        st.session_state[VIEW.key] = "patient"


OVERDUE_HEADERS = {
    "subject_id": N_("Patient"), "tumour_site": N_("Site"), "modality": N_("Exam"),
    "last_exam_date": N_("Last exam (or T1)"), "months_since_t1": N_("Months from T1 at last exam"),
    "interval_months": N_("Interval (months)"), "due_date": N_("Due"), "days_overdue": N_("Days overdue"),
    "last_contact_date": N_("Last contact"), "lost_to_fu_fl": N_("Lost to follow-up"),
}


def _overdue(ctx: PageContext) -> None:
    rule = rule_text()
    st.caption(rule)
    df = cached_query(overdue_list, ctx.store, ctx.filter)
    n_ltfu = df.filter(pl.col("lost_to_fu_fl"))["subject_id"].n_unique()
    with_ltfu = st.checkbox(ngettext("Include {n} patient lost to follow-up (no contact for more than 12 months "
                                     "before the cut-off)",
                                     "Include {n} patients lost to follow-up (no contact for more than 12 months "
                                     "before the cut-off)", n_ltfu).format(n=fmt_int(n_ltfu)),
                            value=False, key="overdue_ltfu")
    if not with_ltfu:
        df = df.filter(~pl.col("lost_to_fu_fl"))
    if df.height == 0:
        st.success(_("No Watch & Wait patient among those selected is overdue for an endoscopy or MRI."))
        return
    n_pat = df["subject_id"].n_unique()
    cutoff = df["data_cutoff"][0]
    st.markdown(_("**{patients}** with **{exams}** at the data cut-off {cutoff}. Click a row to open the patient's "
                  "timeline; click a column header to sort.").format(
        patients=ngettext("{n} patient", "{n} patients", n_pat).format(n=fmt_int(n_pat)),
        exams=ngettext("{n} overdue examination", "{n} overdue examinations", df.height).format(n=fmt_int(df.height)),
        cutoff=cutoff))
    if ctx.hide_identifiers:
        df = df.with_columns(pl.col("subject_id").replace_strict(
            {v: _("Patient {n}").format(n=i + 1) for i, v in enumerate(df["subject_id"].unique(maintain_order=True))}))
    h = {k: _(v) for k, v in OVERDUE_HEADERS.items()}
    show = df.select(
        pl.col("subject_id").alias(h["subject_id"]),
        pl.col("tumour_site").replace_strict(TUMOUR_SITE.labels, default=None).alias(h["tumour_site"]),
        pl.col("modality").replace_strict({k: _modality_short(k) for k in MODALITY.codes}, default=None)
        .alias(h["modality"]),
        pl.col("last_exam_date").alias(h["last_exam_date"]),
        pl.col("months_since_t1").round(1).alias(h["months_since_t1"]),
        pl.col("interval_months").alias(h["interval_months"]),
        pl.col("due_date").alias(h["due_date"]),
        pl.col("days_overdue").alias(h["days_overdue"]),
        pl.col("last_contact_date").alias(h["last_contact_date"]),
        pl.col("lost_to_fu_fl").alias(h["lost_to_fu_fl"]),
    )
    st.session_state["_overdue_ids"] = [] if ctx.hide_identifiers else show[h["subject_id"]].to_list()
    dates = {h[c]: st.column_config.DateColumn(h[c], format="YYYY-MM-DD")
             for c in ("last_exam_date", "due_date", "last_contact_date")}
    st.dataframe(show, hide_index=True, width="stretch", key="overdue_table", on_select=_select_from_list,
                 selection_mode="single-row", height=min(600, 38 + 35 * show.height),
                 column_config={**dates,
                                h["days_overdue"]: st.column_config.NumberColumn(h["days_overdue"], format="%d"),
                                h["lost_to_fu_fl"]: st.column_config.CheckboxColumn(h["lost_to_fu_fl"])})
    table_download(show.rename({h["subject_id"]: "subject_id"}), f"Overdue surveillance {cutoff}", ctx,
                   title=_("Watch & Wait patients overdue for surveillance at the data cut-off {cutoff}").format(
                       cutoff=cutoff),
                   notes=(rule,), count_columns=(), label=_("Export the list"))


def patient_body(ctx: PageContext, url_patient: str | None) -> None:
    """The Patient-timeline page below the shared header."""
    view = option_control(VIEW, label_visibility="collapsed")
    if view == "overdue":
        chosen = st.session_state.get(PICK)
        if url_patient is not None and valid_patient_id(url_patient):
            chosen = url_patient
        if chosen:
            st.query_params[PATIENT_PARAM] = chosen
        _overdue(ctx)
    else:
        _patient(ctx, url_patient)
