"""Safety page body: immunotherapy adverse events, immune-related events, procedure
complications; a figure and a patient listing behind each table."""

from __future__ import annotations

from typing import Callable

import polars as pl
import streamlit as st

from ..figures.safety import ae_bars_figure, irae_onset_figure, procedure_figure
from ..filters import CohortFilter, PageOption
from ..provenance import Provenance, slug
from ..queries.safety import (
    PROCEDURE_CLASS,
    SAFETY_GROUP,
    select_ae_exclusions,
    select_ici_ae_events,
    select_procedures,
    select_safety_denominators,
)
from ..report import ReportItem
from ..schema import SOC
from ..stats.safety import (
    GRADE_LEVELS,
    IRAE_ANY,
    OVERALL,
    ae_cell_patients,
    procedure_cell_filter,
    procedures_counted,
    summarize_ae_table,
    summarize_irae,
    summarize_procedures,
    summarize_surgery_impact,
)
from ..store import Store
from ..tables.export import mask_identifiers, table_bytes
from ..tables.safety import (
    OVERALL_LABEL,
    ae_levels,
    format_ae_html,
    format_ae_listing,
    format_ae_table,
    format_event_listing,
    format_impact_table,
    format_irae_table,
    format_procedure_listing,
    format_procedure_table,
    format_simple_html,
)
from .data import cached_query
from .export import download, show_figure, table_download
from .methods import ae_rates_section
from .page import PageContext, option_control
from .text import md_text

SECTION = PageOption("section", "Show", (("ae", "Immunotherapy adverse events"), ("irae", "Immune-related events"),
                                         ("procedures", "Procedure complications"),
                                         ("rates", "AE rates per patient-year")), "ae")
SORT = PageOption("sort", "Order rows", (("frequency", "Rows by frequency"), ("soc", "Rows alphabetical")),
                  "frequency")
PROCS = PageOption("procs", "Procedures counted", (("first", "First procedure of each type per patient"),
                                                   ("all", "Every procedure")), "first")
OPTIONS = (SECTION, SORT, PROCS)
AE_NOTE = (
    "Adverse events attributed to immunotherapy (CTCAE v5, MedDRA), treatment-emergent: onset on or after the first "
    "dose (T0). Each patient is counted once per preferred term at the worst grade, once per system organ class (a "
    "class row counts patients with any event in it, not the sum of its terms) and once in the first row. n (%) of "
    "the group's safety population (at least one immunotherapy dose). Most events precede the strategy decision: the "
    "groups describe, they do not compare treatments.")
IRAE_NOTE = (
    "Immune-related adverse events (flagged immune-related, attributed to immunotherapy, onset on or after T0). "
    "Patients: n (%) of the safety population; a patient counts once per term. Onset: days from T0 to the patient's "
    "first event of the term (first row: to the first immune-related event). Steroids: systemic corticosteroids. "
    "Resolved: outcome resolved, with or without sequelae; days from onset to resolution.")
IMPACT_NOTE = ("Immunotherapy adverse events (immune-related or not) recorded as delaying or cancelling a planned "
               "operation; patients, n (%) of the group's safety population.")
PROC_NOTE = (
    "Resections of the safety population, by type: radical resection, local excision (TEM/TAMIS), endoscopic "
    "resection (ESD/EMR), whatever the strategy group or intent (primary, salvage, completion). {unit} Clavien-Dindo: "
    "worst complication within 90 days, % of procedures with a recorded grade; grade ≥ III = IIIa or worse, with an "
    "exact (Clopper-Pearson) 95% CI. Leak: % of procedures with an anastomosis. Mortality: death from any cause on "
    "days 0-30 / 0-90 after the procedure; procedures of patients alive but followed for less than the window are "
    "not evaluable and left out of that denominator.")
PROC_UNIT = {True: "Each patient's first procedure of each type is counted (a later salvage or completion of the "
                   "same type is not).",
             False: "Every procedure is counted (a patient can contribute several)."}
GROUP_LABELS = SAFETY_GROUP.labels
LISTING_ROWS = 500  # rows of a patient listing on screen; the download has them all
Formatter = Callable[..., pl.DataFrame]  # tables.safety.format_*_listing(rows, group_labels, *, limit=None)
LEVEL_LABELS = {code: label for code, _, label in GRADE_LEVELS}


def _label(group: str) -> str:
    return OVERALL_LABEL if group == OVERALL else GROUP_LABELS.get(group, group)


def _population(ctx: PageContext) -> tuple[pl.DataFrame, int]:
    den = cached_query(select_safety_denominators, ctx.store, ctx.filter)
    return den, int(den["n"].sum()) if den.height else 0


LISTINGS_RESERVED = ("Patient listings (who, when, which grade) are for investigators and above; your role "
                     "sees the aggregate tables and figures.")


def _may_list(ctx: PageContext) -> bool:
    """Patient-level listings need ``view_patient_level`` (investigators and above)."""
    return ctx.can("view_patient_level")


def _listing(rows: pl.DataFrame, fmt: Formatter, key: str, name: str, ctx: PageContext) -> None:
    """A patient listing: its first :data:`LISTING_ROWS` rows on screen (only those are
    formatted); when there are more, a caption saying so and the whole listing as CSV."""
    df = fmt(rows, GROUP_LABELS, limit=LISTING_ROWS)
    if ctx.hide_identifiers:
        df = mask_identifiers(df, ("Patient",))
    dates = {c: st.column_config.DateColumn(c, format="YYYY-MM-DD") for c, t in df.schema.items() if t == pl.Date}
    st.dataframe(df, hide_index=True, width="stretch", height=min(420, 38 + 35 * max(df.height, 1)), key=key,
                 column_config=dates)
    if rows.height <= LISTING_ROWS:
        return
    may_export = ctx.identity is None or ctx.can("export_patient_level")
    st.caption(f"Showing the first {LISTING_ROWS:,} of {rows.height:,} rows, by patient"
               + ("; download the full listing as CSV." if may_export else "."))
    if may_export:
        _listing_download(rows, fmt, key, name, ctx)


def listing_csv(rows: pl.DataFrame, fmt: Formatter, title: str, prov: Provenance, *,
                hide_identifiers: bool) -> bytes:
    """The whole listing as CSV with the provenance footer (``SYNTHETIC DATA`` first for
    the demonstration registry); patient ids masked when ``hide_identifiers``."""
    df = fmt(rows, GROUP_LABELS)
    if hide_identifiers:
        df = mask_identifiers(df, ("Patient",))
    return table_bytes(df, "csv", title, prov)


def _listing_download(rows: pl.DataFrame, fmt: Formatter, key: str, name: str, ctx: PageContext) -> None:
    """Download of :func:`listing_csv` through the export door (built on click, audited,
    ``export_patient_level``); ``synthetic_`` file name for the demonstration registry."""
    hide = ctx.hide_identifiers

    def build(prov: Provenance) -> bytes:
        return listing_csv(rows, fmt, f"Patient listing. {name}", prov, hide_identifiers=hide)

    file_name = ("synthetic_" if ctx.store.is_synthetic() else "") + slug(f"listing {name}") + ".csv"
    download(ctx, kind="patient_listing", name=name, label=f"Full listing ({rows.height:,} rows, CSV)", build=build,
             file_name=file_name, mime="text/csv", key=f"{key}_csv", permission="export_patient_level",
             detail={"format": "csv", "rows": rows.height, "masked": hide})


# ------------------------------------------------------------------------ ICI AEs
def _ae_section(ctx: PageContext, sort: str) -> None:
    den, total = _population(ctx)
    events = cached_query(select_ici_ae_events, ctx.store, ctx.filter, large=True)
    excluded = cached_query(select_ae_exclusions, ctx.store, ctx.filter)
    st.caption(f"Safety population: **{total:,}** patients of the selection. " + AE_NOTE
               + " Surgical and endoscopic complications are under *Procedure complications*."
               + (f" Left out: {excluded['before_t0']} event(s) with onset before T0." if excluded["before_t0"] else ""))
    if total == 0:
        st.info("No patient in the selection received immunotherapy.")
        return
    table = summarize_ae_table(events, den, SAFETY_GROUP.codes)
    levels = ae_levels(table)
    if "g5" not in levels:
        st.caption("No grade 5 (fatal) immunotherapy adverse event in this selection: no grade 5 columns.")
    display = format_ae_table(table, GROUP_LABELS, sort=sort, levels=levels)
    tab_table, tab_fig = st.tabs(["Table and patient listing" if _may_list(ctx) else "Table", "Figure"])
    with tab_table:
        st.html(format_ae_html(display))
        table_download(display.drop("row_type", "soc", "term"), "immunotherapy adverse events", ctx,
                       title="Immunotherapy adverse events by system organ class and preferred term", notes=(AE_NOTE,),
                       bold_rows=_bold(display["row_type"], ("ANY", "SOC")))
        _ae_listing(events, display, table, ctx)
    with tab_fig:
        show_figure(ae_bars_figure(table, GROUP_LABELS), "immunotherapy adverse events", ctx, key="ae_bars")


def _bold(kinds: pl.Series, bold: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(i for i, k in enumerate(kinds.to_list()) if k in bold)


def _ae_listing(events: pl.DataFrame, display: pl.DataFrame, table, ctx: PageContext) -> None:
    if not _may_list(ctx):
        st.caption(LISTINGS_RESERVED)
        return
    st.subheader("Patients behind a table cell", divider="gray")
    rows = display.select("row_type", "soc", "term", "System organ class / preferred term").rows()
    c1, c2, c3 = st.columns([3, 2, 1])
    with c1:
        i = st.selectbox("Row", range(len(rows)), key="ae_row",
                         format_func=lambda k: rows[k][3] if rows[k][0] != "PT" else f"    {rows[k][3]}  ({SOC.label(rows[k][1])})")
    groups = [OVERALL, *table.groups]
    with c2:
        g = st.selectbox("Group", groups, format_func=_label, key="ae_group")
    levels = ae_levels(table)
    with c3:
        lv = st.selectbox("Grade", levels, format_func=LEVEL_LABELS.get, key="ae_level")
    row_type, soc, term, label = rows[i]
    cell = ae_cell_patients(events, soc=soc, term=term, group=g, level=lv)
    n = cell["subject_id"].n_unique()
    st.markdown(f"**{n:,} patient{'s' if n != 1 else ''}**: {md_text(label)}, {_label(g)}, {LEVEL_LABELS[lv].lower()}. "
                "One row per patient and preferred term, at the worst grade (the event shown is the worst one).")
    _listing(cell, format_ae_listing, "ae_listing",
             f"Immunotherapy adverse events: {label}, {_label(g)}, {LEVEL_LABELS[lv].lower()}", ctx)


# ------------------------------------------------------------------------ irAEs
def _irae_section(ctx: PageContext) -> None:
    den, total = _population(ctx)
    events = cached_query(select_ici_ae_events, ctx.store, ctx.filter, large=True)
    if total == 0:
        st.info("No patient in the selection received immunotherapy.")
        return
    groups = [OVERALL, *(g for g in SAFETY_GROUP.codes if g in den["group"].to_list())]
    dens = dict(zip(den["group"], den["n"]))
    g = st.columns([2, 3])[0].selectbox("Strategy group", groups, key="irae_group",
                                        format_func=lambda x: f"{_label(x)} (N={dens.get(x, total):,})")
    n_den = total if g == OVERALL else int(dens[g])
    ir = events.filter(pl.col("immune_related") & ((pl.lit(g == OVERALL)) | (pl.col("group") == g)))
    st.caption(IRAE_NOTE + f" Safety population of this group: {n_den:,}.")
    summary = summarize_irae(ir, n_den)
    tab_table, tab_fig = st.tabs(["Table and patient listing" if _may_list(ctx) else "Table", "Figure: time to onset"])
    with tab_table:
        if summary.height == 0:
            st.info("No immune-related adverse events in this selection.")
        else:
            display = format_irae_table(summary, n_den)
            st.html(format_simple_html(display, ["head"] + ["item"] * (display.height - 1)))
            table_download(display, f"immune-related events {g.lower()}", ctx, notes=(IRAE_NOTE,), bold_rows=(0,),
                           title=f"Immune-related adverse events: {_label(g)} (N={n_den:,})")
            _irae_listing(ir, summary, g, ctx)
    with tab_fig:
        show_figure(irae_onset_figure(ir), f"immune-related events onset {g.lower()}", ctx, key="irae_onset")
    _impact(events, den, ctx)


def _irae_listing(ir: pl.DataFrame, summary: pl.DataFrame, g: str, ctx: PageContext) -> None:
    if not _may_list(ctx):
        st.caption(LISTINGS_RESERVED)
        return
    st.subheader("Patients behind a row", divider="gray")
    terms = summary["term"].to_list()
    t = st.selectbox("Immune-related event", terms, key="irae_term")
    rows = ir if t == IRAE_ANY else ir.filter(pl.col("term") == t)
    st.markdown(f"**{rows['subject_id'].n_unique():,} patients, {rows.height:,} events**: {md_text(t)}, {_label(g)}. "
                "One row per event.")
    _listing(rows, format_event_listing, "irae_listing",
             f"Immune-related adverse events: {t}, {_label(g)}", ctx)


def _impact(events: pl.DataFrame, den: pl.DataFrame, ctx: PageContext) -> None:
    st.subheader("Adverse events that delayed or cancelled planned surgery", divider="gray")
    st.caption(IMPACT_NOTE)
    impact = summarize_surgery_impact(events, den, SAFETY_GROUP.codes)
    st.html(format_simple_html(format_impact_table(impact, GROUP_LABELS),
                               ["item"] * (impact.height - 1) + ["value"], full_width=False))
    if not _may_list(ctx):
        return
    rows = events.filter(pl.col("surgery_impact").is_in(("DELAYED", "CANCELLED")))
    with st.expander(f"Patient listing: {rows.height} event(s) in {rows['subject_id'].n_unique()} patient(s)",
                     icon=":material/list:"):
        _listing(rows, format_event_listing, "impact_listing", "Adverse events that delayed or cancelled surgery", ctx)


# ------------------------------------------------------------------------ procedures
def _procedure_section(ctx: PageContext, first_only: bool) -> None:
    procs = cached_query(select_procedures, ctx.store, ctx.filter, large=True)
    st.caption(PROC_NOTE.format(unit=PROC_UNIT[first_only]))
    if procs.height == 0:
        st.info("No resections in this selection.")
        return
    summary = summarize_procedures(procs, PROCEDURE_CLASS.codes, first_only=first_only)
    display = format_procedure_table(summary, PROCEDURE_CLASS.labels)
    tab_table, tab_fig = st.tabs(["Table and patient listing" if _may_list(ctx) else "Table", "Figure"])
    with tab_table:
        st.html(format_simple_html(display.drop("kind", "cell"), display["kind"].to_list(), full_width=False))
        table_download(display.drop("kind", "cell"), "procedure complications", ctx,
                       title="Complications by procedure type", notes=(PROC_NOTE.format(unit=PROC_UNIT[first_only]),),
                       bold_rows=_bold(display["kind"], ("head", "value")))
        if _may_list(ctx):
            _procedure_listing(procs, display, first_only, ctx)
        else:
            st.caption(LISTINGS_RESERVED)
    with tab_fig:
        show_figure(procedure_figure(summary, PROCEDURE_CLASS.labels), "procedure complications", ctx, key="proc_fig")


def _procedure_listing(procs: pl.DataFrame, display: pl.DataFrame, first_only: bool, ctx: PageContext) -> None:
    st.subheader("Patients behind a table cell", divider="gray")
    cells, head = [], ""
    for kind, cell, measure in display.select("kind", "cell", "Measure").rows():
        if kind == "head":
            head = measure.split(",")[0] + ": "
        elif kind == "value":
            head = ""
        if cell:
            cells.append((cell, head + measure.split(", n (")[0] if kind in ("item", "missing")
                          else measure.split(":")[0]))
    c1, c2 = st.columns([1, 2])
    with c1:
        k = st.selectbox("Procedure type", PROCEDURE_CLASS.codes, format_func=PROCEDURE_CLASS.label, key="proc_class")
    with c2:
        cell = st.selectbox("Row", [c for c, _ in cells], format_func=dict(cells).get, key="proc_cell")
    rows = (procedures_counted(procs, first_only).filter(pl.col("proc_class") == k)
            .filter(procedure_cell_filter(cell)))
    st.markdown(f"**{rows.height:,} procedure(s) in {rows['subject_id'].n_unique():,} patient(s)**: "
                f"{md_text(PROCEDURE_CLASS.label(k))}, {md_text(dict(cells)[cell])}.")
    _listing(rows, format_procedure_listing, "proc_listing", f"{PROCEDURE_CLASS.label(k)}: {dict(cells)[cell]}",
             ctx)


def safety_body(ctx: PageContext) -> None:
    """The Safety page below the shared header."""
    section = option_control(SECTION, label_visibility="collapsed")
    if section == "irae":
        _irae_section(ctx)
    elif section == "rates":
        ae_rates_section(ctx)
    elif section == "procedures":
        _procedure_section(ctx, option_control(PROCS, label_visibility="collapsed") == "first")
    else:
        _ae_section(ctx, option_control(SORT, label_visibility="collapsed"))


def report_section(store: Store, flt: CohortFilter) -> list[ReportItem]:
    """Safety in the MDT report: the AE table and figure, irAEs, procedure complications
    (default views; no patient listings)."""
    den = select_safety_denominators(store, flt)
    total = int(den["n"].sum()) if den.height else 0
    if total == 0:
        return []
    events = select_ici_ae_events(store, flt)
    table = summarize_ae_table(events, den, SAFETY_GROUP.codes)
    display = format_ae_table(table, GROUP_LABELS, levels=ae_levels(table))
    items = [ReportItem("Immunotherapy adverse events by system organ class and preferred term",
                        display.drop("row_type", "soc", "term"), caption=AE_NOTE,
                        bold_rows=_bold(display["row_type"], ("ANY", "SOC"))),
             ReportItem("Immunotherapy adverse events by preferred term and strategy group",
                        ae_bars_figure(table, GROUP_LABELS), caption=AE_NOTE)]
    ir = events.filter(pl.col("immune_related"))
    if ir.height:
        items.append(ReportItem("Immune-related adverse events", format_irae_table(summarize_irae(ir, total), total),
                                caption=IRAE_NOTE, bold_rows=(0,)))
    procs = select_procedures(store, flt)
    if procs.height:
        summary = summarize_procedures(procs, PROCEDURE_CLASS.codes)
        proc = format_procedure_table(summary, PROCEDURE_CLASS.labels)
        note = PROC_NOTE.format(unit=PROC_UNIT[True])
        items += [ReportItem("Complications by procedure type", proc.drop("kind", "cell"), caption=note,
                             bold_rows=_bold(proc["kind"], ("head", "value"))),
                  ReportItem("Clavien-Dindo grade, major complications and mortality by procedure type",
                             procedure_figure(summary, PROCEDURE_CLASS.labels), caption=note)]
    return items
