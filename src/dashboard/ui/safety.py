"""Safety page body: immunotherapy adverse events, immune-related events, procedure
complications; a figure and a patient listing behind each table."""

from __future__ import annotations

from typing import Callable

import polars as pl
import streamlit as st

from ..figures.safety import ae_bars_figure, irae_onset_figure, procedure_figure
from ..filters import CohortFilter, PageOption
from ..i18n import N_, _, fmt_int, ngettext
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
from .export import LISTING_ROWS, date_columns, download, show_figure, table_download
from .methods import ae_rates_section
from .page import PageContext, option_control
from .text import in_language, lower_first, md_text, sentences

SECTION = PageOption("section", N_("Show"), (("ae", N_("Immunotherapy adverse events")),
                                             ("irae", N_("Immune-related events")),
                                             ("procedures", N_("Procedure complications")),
                                             ("rates", N_("AE rates per patient-year"))), "ae")
SORT = PageOption("sort", N_("Order rows"), (("frequency", N_("Rows by frequency")),
                                             ("soc", N_("Rows alphabetical"))), "frequency")
PROCS = PageOption("procs", N_("Procedures counted"), (("first", N_("First procedure of each type per patient")),
                                                       ("all", N_("Every procedure"))), "first")
OPTIONS = (SECTION, SORT, PROCS)
AE_NOTE = N_(
    "Adverse events attributed to immunotherapy (CTCAE v5, MedDRA), treatment-emergent: onset on or after the first "
    "dose (T0). Each patient is counted once per preferred term at the worst grade, once per system organ class (a "
    "class row counts patients with any event in it, not the sum of its terms) and once in the first row. n (%) of "
    "the group's safety population (at least one immunotherapy dose). Most events precede the strategy decision: the "
    "groups describe, they do not compare treatments.")
IRAE_NOTE = N_(
    "Immune-related adverse events (flagged immune-related, attributed to immunotherapy, onset on or after T0). "
    "Patients: n (%) of the safety population; a patient counts once per term. Onset: days from T0 to the patient's "
    "first event of the term (first row: to the first immune-related event). Steroids: systemic corticosteroids. "
    "Resolved: outcome resolved, with or without sequelae; days from onset to resolution.")
IMPACT_NOTE = N_("Immunotherapy adverse events (immune-related or not) recorded as delaying or cancelling a planned "
               "operation; patients, n (%) of the group's safety population.")
PROC_NOTE = N_(
    "Resections of the safety population, by type: radical resection, local excision (TEM/TAMIS), endoscopic "
    "resection (ESD/EMR), whatever the strategy group or intent (primary, salvage, completion). {unit} Clavien-Dindo: "
    "worst complication within 90 days, % of procedures with a recorded grade; grade ≥ III = IIIa or worse, with an "
    "exact (Clopper-Pearson) 95% CI. Leak: % of procedures with an anastomosis. Mortality: death from any cause on "
    "days 0-30 / 0-90 after the procedure; procedures of patients alive but followed for less than the window are "
    "not evaluable and left out of that denominator.")
PROC_UNIT = {True: N_("Each patient's first procedure of each type is counted (a later salvage or completion of the "
                      "same type is not)."),
             False: N_("Every procedure is counted (a patient can contribute several).")}


def proc_note(first_only: bool) -> str:
    """:data:`PROC_NOTE` with its counting rule, in the current language."""
    return _(PROC_NOTE).format(unit=_(PROC_UNIT[first_only]))


def _groups() -> dict[str, str]:
    """Strategy-group labels of the safety tables, in the current language."""
    return SAFETY_GROUP.labels


Formatter = Callable[..., pl.DataFrame]  # tables.safety.format_*_listing(rows, group_labels, *, limit=None)
LEVEL_LABELS = {code: label for code, _t, label in GRADE_LEVELS}


def _level(code: str) -> str:
    return _(LEVEL_LABELS.get(code, code))


def _label(group: str) -> str:
    return _(OVERALL_LABEL) if group == OVERALL else _groups().get(group, group)


def _population(ctx: PageContext) -> tuple[pl.DataFrame, int]:
    den = cached_query(select_safety_denominators, ctx.store, ctx.filter)
    return den, int(den["n"].sum()) if den.height else 0


LISTINGS_RESERVED = N_("Patient listings (who, when, which grade) are for investigators and above; your role "
                     "sees the aggregate tables and figures.")


def _may_list(ctx: PageContext) -> bool:
    """Patient-level listings need ``view_patient_level`` (investigators and above)."""
    return ctx.can("view_patient_level")


def _listing(rows: pl.DataFrame, fmt: Formatter, key: str, name: str, ctx: PageContext) -> None:
    """A patient listing: its first :data:`LISTING_ROWS` rows on screen (only those are
    formatted); when there are more, a caption saying so and the whole listing as CSV."""
    df = fmt(rows, _groups(), limit=LISTING_ROWS)
    if ctx.hide_identifiers:
        df = mask_identifiers(df, ("Patient",))
    st.dataframe(df, hide_index=True, width="stretch", height=min(420, 38 + 35 * max(df.height, 1)), key=key,
                 column_config=date_columns(df))
    if rows.height <= LISTING_ROWS:
        return
    may_export = ctx.identity is None or ctx.can("export_patient_level")
    st.caption((_("Showing the first {k} of {n} rows, by patient; download the full listing as CSV.") if may_export
                else _("Showing the first {k} of {n} rows, by patient.")).format(k=fmt_int(LISTING_ROWS),
                                                                                 n=fmt_int(rows.height)))
    if may_export:
        _listing_download(rows, fmt, key, name, ctx)


def listing_csv(rows: pl.DataFrame, fmt: Formatter, title: str, prov: Provenance, *,
                hide_identifiers: bool) -> bytes:
    """The whole listing as CSV with the provenance footer (``SYNTHETIC DATA`` first for
    the demonstration registry); patient ids masked when ``hide_identifiers``."""
    df = fmt(rows, _groups())
    if hide_identifiers:
        df = mask_identifiers(df, ("Patient",))
    return table_bytes(df, "csv", title, prov)


def _listing_download(rows: pl.DataFrame, fmt: Formatter, key: str, name: str, ctx: PageContext) -> None:
    """Download of :func:`listing_csv` through the export door (built on click, audited,
    ``export_patient_level``); ``synthetic_`` file name for the demonstration registry."""
    hide = ctx.hide_identifiers
    title = _("Patient listing. {name}").format(name=name)

    def build(prov: Provenance) -> bytes:
        return listing_csv(rows, fmt, title, prov, hide_identifiers=hide)

    file_name = ("synthetic_" if ctx.store.is_synthetic() else "") + slug(f"listing {name}") + ".csv"
    download(ctx, kind="patient_listing", name=name,
             label=_("Full listing ({n} rows, CSV)").format(n=fmt_int(rows.height)), build=build,
             file_name=file_name, mime="text/csv", key=f"{key}_csv", permission="export_patient_level",
             detail={"format": "csv", "rows": rows.height, "masked": hide})


# ------------------------------------------------------------------------ ICI AEs
def _ae_section(ctx: PageContext, sort: str) -> None:
    den, total = _population(ctx)
    events = cached_query(select_ici_ae_events, ctx.store, ctx.filter, large=True)
    excluded = cached_query(select_ae_exclusions, ctx.store, ctx.filter)
    st.caption(sentences(
        _("Safety population: **{n}** patients of the selection.").format(n=fmt_int(total)), _(AE_NOTE),
        _("Surgical and endoscopic complications are under *Procedure complications*."),
        ngettext("Left out: {n} event with onset before T0.", "Left out: {n} events with onset before T0.",
                 excluded["before_t0"]).format(n=fmt_int(excluded["before_t0"])) if excluded["before_t0"] else ""))
    if total == 0:
        st.info(_("No patient in the selection received immunotherapy."))
        return
    table = summarize_ae_table(events, den, SAFETY_GROUP.codes)
    levels = ae_levels(table)
    if "g5" not in levels:
        st.caption(_("No grade 5 (fatal) immunotherapy adverse event in this selection: no grade 5 columns."))
    display = format_ae_table(table, _groups(), sort=sort, levels=levels)
    tab_table, tab_fig = st.tabs([_table_tab(ctx), _("Figure")])
    with tab_table:
        st.html(format_ae_html(display))
        table_download(display.drop("row_type", "soc", "term"), "immunotherapy adverse events", ctx,
                       title=_("Immunotherapy adverse events by system organ class and preferred term"),
                       notes=(_(AE_NOTE),),
                       bold_rows=_bold(display["row_type"], ("ANY", "SOC")))
        _ae_listing(events, display, table, ctx)
    with tab_fig:
        show_figure(ae_bars_figure(table, _groups()), "immunotherapy adverse events", ctx, key="ae_bars")


def _table_tab(ctx: PageContext) -> str:
    return _("Table and patient listing") if _may_list(ctx) else _("Table")


def _bold(kinds: pl.Series, bold: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(i for i, k in enumerate(kinds.to_list()) if k in bold)


def _ae_listing(events: pl.DataFrame, display: pl.DataFrame, table, ctx: PageContext) -> None:
    if not _may_list(ctx):
        st.caption(_(LISTINGS_RESERVED))
        return
    st.subheader(_("Patients behind a table cell"), divider="gray")
    rows = display.select("row_type", "soc", "term", display.columns[3]).rows()  # the row label column
    c1, c2, c3 = st.columns([3, 2, 1])
    with c1:
        i = st.selectbox(_("Row"), range(len(rows)), key="ae_row",
                         format_func=in_language(
                             lambda k: rows[k][3] if rows[k][0] != "PT" else f"    {rows[k][3]}  ({SOC.label(rows[k][1])})"))
    groups = [OVERALL, *table.groups]
    with c2:
        g = st.selectbox(_("Group"), groups, format_func=in_language(_label), key="ae_group")
    levels = ae_levels(table)
    with c3:
        lv = st.selectbox(_("Grade"), levels, format_func=in_language(_level), key="ae_level")
    row_type, soc, term, label = rows[i]
    cell = ae_cell_patients(events, soc=soc, term=term, group=g, level=lv)
    n = cell["subject_id"].n_unique()
    st.markdown(sentences(
        ngettext("**{n} patient**: {row}, {group}, {grade}.", "**{n} patients**: {row}, {group}, {grade}.", n).format(
            n=fmt_int(n), row=md_text(label), group=_label(g), grade=lower_first(_level(lv))),
        _("One row per patient and preferred term, at the worst grade (the event shown is the worst one).")))
    _listing(cell, format_ae_listing, "ae_listing",
             _("Immunotherapy adverse events: {row}, {group}, {grade}").format(row=label, group=_label(g),
                                                                               grade=lower_first(_level(lv))), ctx)


# ------------------------------------------------------------------------ irAEs
def _irae_section(ctx: PageContext) -> None:
    den, total = _population(ctx)
    events = cached_query(select_ici_ae_events, ctx.store, ctx.filter, large=True)
    if total == 0:
        st.info(_("No patient in the selection received immunotherapy."))
        return
    groups = [OVERALL, *(g for g in SAFETY_GROUP.codes if g in den["group"].to_list())]
    dens = dict(zip(den["group"], den["n"]))
    g = st.columns([2, 3])[0].selectbox(_("Strategy group"), groups, key="irae_group",
                                        format_func=in_language(lambda x: f"{_label(x)} (N={dens.get(x, total):,})"))
    n_den = total if g == OVERALL else int(dens[g])
    ir = events.filter(pl.col("immune_related") & ((pl.lit(g == OVERALL)) | (pl.col("group") == g)))
    st.caption(sentences(_(IRAE_NOTE), _("Safety population of this group: {n}.").format(n=fmt_int(n_den))))
    summary = summarize_irae(ir, n_den)
    tab_table, tab_fig = st.tabs([_table_tab(ctx), _("Figure: time to onset")])
    with tab_table:
        if summary.height == 0:
            st.info(_("No immune-related adverse events in this selection."))
        else:
            display = format_irae_table(_irae_shown(summary), n_den)
            st.html(format_simple_html(display, ["head"] + ["item"] * (display.height - 1)))
            table_download(display, f"immune-related events {g.lower()}", ctx, notes=(_(IRAE_NOTE),), bold_rows=(0,),
                           title=_("Immune-related adverse events: {group} (N={n})").format(group=_label(g),
                                                                                            n=fmt_int(n_den)))
            _irae_listing(ir, summary, g, ctx)
    with tab_fig:
        show_figure(irae_onset_figure(ir), f"immune-related events onset {g.lower()}", ctx, key="irae_onset")
    _impact(events, den, ctx)


def _irae_listing(ir: pl.DataFrame, summary: pl.DataFrame, g: str, ctx: PageContext) -> None:
    if not _may_list(ctx):
        st.caption(_(LISTINGS_RESERVED))
        return
    st.subheader(_("Patients behind a row"), divider="gray")
    terms = summary["term"].to_list()
    t = st.selectbox(_("Immune-related event"), terms, key="irae_term", format_func=in_language(_irae_term))
    rows = ir if t == IRAE_ANY else ir.filter(pl.col("term") == t)
    st.markdown(sentences(
        _("**{patients}, {events}**: {term}, {group}.").format(
            patients=ngettext("{n} patient", "{n} patients", rows["subject_id"].n_unique()).format(
                n=fmt_int(rows["subject_id"].n_unique())),
            events=ngettext("{n} event", "{n} events", rows.height).format(n=fmt_int(rows.height)),
            term=md_text(_irae_term(t)), group=_label(g)),
        _("One row per event.")))
    _listing(rows, format_event_listing, "irae_listing",
             _("Immune-related adverse events: {term}, {group}").format(term=_irae_term(t), group=_label(g)), ctx)


def _irae_shown(summary: pl.DataFrame) -> pl.DataFrame:
    """The irAE summary with its "any immune-related event" row named in the current language
    (the recorded preferred terms stay as recorded)."""
    return summary.with_columns(pl.col("term").replace(IRAE_ANY, _(IRAE_ANY)))


def _irae_term(term: str) -> str:
    """A term of the irAE table: the "any immune-related event" row in the current language,
    a recorded preferred term as recorded."""
    return _(term) if term == IRAE_ANY else term


def _impact(events: pl.DataFrame, den: pl.DataFrame, ctx: PageContext) -> None:
    st.subheader(_("Adverse events that delayed or cancelled planned surgery"), divider="gray")
    st.caption(_(IMPACT_NOTE))
    impact = summarize_surgery_impact(events, den, SAFETY_GROUP.codes)
    st.html(format_simple_html(format_impact_table(impact, _groups()),
                               ["item"] * (impact.height - 1) + ["value"], full_width=False))
    if not _may_list(ctx):
        return
    rows = events.filter(pl.col("surgery_impact").is_in(("DELAYED", "CANCELLED")))
    with st.expander(_("Patient listing: {events} in {patients}").format(
            events=ngettext("{n} event", "{n} events", rows.height).format(n=fmt_int(rows.height)),
            patients=ngettext("{n} patient", "{n} patients", rows["subject_id"].n_unique()).format(
                n=fmt_int(rows["subject_id"].n_unique()))), icon=":material/list:"):
        _listing(rows, format_event_listing, "impact_listing", _("Adverse events that delayed or cancelled surgery"),
                 ctx)


# ------------------------------------------------------------------------ procedures
def _procedure_section(ctx: PageContext, first_only: bool) -> None:
    procs = cached_query(select_procedures, ctx.store, ctx.filter, large=True)
    st.caption(proc_note(first_only))
    if procs.height == 0:
        st.info(_("No resections in this selection."))
        return
    summary = summarize_procedures(procs, PROCEDURE_CLASS.codes, first_only=first_only)
    display = format_procedure_table(summary, PROCEDURE_CLASS.labels)
    tab_table, tab_fig = st.tabs([_table_tab(ctx), _("Figure")])
    with tab_table:
        st.html(format_simple_html(display.drop("kind", "cell"), display["kind"].to_list(), full_width=False))
        table_download(display.drop("kind", "cell"), "procedure complications", ctx,
                       title=_("Complications by procedure type"), notes=(proc_note(first_only),),
                       bold_rows=_bold(display["kind"], ("head", "value")))
        if _may_list(ctx):
            _procedure_listing(procs, display, first_only, ctx)
        else:
            st.caption(_(LISTINGS_RESERVED))
    with tab_fig:
        show_figure(procedure_figure(summary, PROCEDURE_CLASS.labels), "procedure complications", ctx, key="proc_fig")


def _procedure_listing(procs: pl.DataFrame, display: pl.DataFrame, first_only: bool, ctx: PageContext) -> None:
    st.subheader(_("Patients behind a table cell"), divider="gray")
    cells, head = [], ""
    for kind, cell, measure in display.select("kind", "cell", display.columns[2]).rows():  # the "Measure" column
        if kind == "head":
            head = measure.split(",")[0] + ": "
        elif kind == "value":
            head = ""
        if cell:
            cells.append((cell, head + measure.split(", n (")[0] if kind in ("item", "missing")
                          else measure.split(":")[0]))
    c1, c2 = st.columns([1, 2])
    with c1:
        k = st.selectbox(_("Procedure type"), PROCEDURE_CLASS.codes, format_func=in_language(PROCEDURE_CLASS.label), key="proc_class")
    with c2:
        cell = st.selectbox(_("Row"), [c for c, _m in cells], format_func=dict(cells).get, key="proc_cell")
    rows = (procedures_counted(procs, first_only).filter(pl.col("proc_class") == k)
            .filter(procedure_cell_filter(cell)))
    st.markdown(_("**{procedures} in {patients}**: {kind}, {row}.").format(
        procedures=ngettext("{n} procedure", "{n} procedures", rows.height).format(n=fmt_int(rows.height)),
        patients=ngettext("{n} patient", "{n} patients", rows["subject_id"].n_unique()).format(
            n=fmt_int(rows["subject_id"].n_unique())),
        kind=md_text(PROCEDURE_CLASS.label(k)), row=md_text(dict(cells)[cell])))
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
    display = format_ae_table(table, _groups(), levels=ae_levels(table))
    items = [ReportItem(_("Immunotherapy adverse events by system organ class and preferred term"),
                        display.drop("row_type", "soc", "term"), caption=_(AE_NOTE),
                        bold_rows=_bold(display["row_type"], ("ANY", "SOC"))),
             ReportItem(_("Immunotherapy adverse events by preferred term and strategy group"),
                        ae_bars_figure(table, _groups()), caption=_(AE_NOTE))]
    ir = events.filter(pl.col("immune_related"))
    if ir.height:
        items.append(ReportItem(_("Immune-related adverse events"),
                                format_irae_table(_irae_shown(summarize_irae(ir, total)), total),
                                caption=_(IRAE_NOTE), bold_rows=(0,)))
    procs = select_procedures(store, flt)
    if procs.height:
        summary = summarize_procedures(procs, PROCEDURE_CLASS.codes)
        proc = format_procedure_table(summary, PROCEDURE_CLASS.labels)
        note = proc_note(True)
        items += [ReportItem(_("Complications by procedure type"), proc.drop("kind", "cell"), caption=note,
                             bold_rows=_bold(proc["kind"], ("head", "value"))),
                  ReportItem(_("Clavien-Dindo grade, major complications and mortality by procedure type"),
                             procedure_figure(summary, PROCEDURE_CLASS.labels), caption=note)]
    return items
