"""Home page body: the filtered registry at a glance."""

from __future__ import annotations

from typing import Any, Callable

import polars as pl
import streamlit as st

from ..filters import CohortFilter
from ..i18n import N_, _, fmt_int
from ..queries.cohort import ConsortFlow, select_counts_by_column, select_consort_flow
from ..report import ReportItem
from ..schema import BIOMARKER_BASIS, COHORT, STRATEGY_GROUP, TUMOUR_SITE
from ..store import Store
from .data import cached_query
from .export import show_table
from .page import PageContext
from .text import sentences

# (column title, column, vocabulary, table title); the titles are translated where shown.
BREAKDOWNS = ((N_("Registry part"), "cohort", COHORT, N_("Full analysis set by registry part")),
              (N_("Tumour site"), "tumour_site", TUMOUR_SITE, N_("Full analysis set by tumour site")),
              (N_("Biomarker"), "biomarker_basis", BIOMARKER_BASIS, N_("Full analysis set by biomarker")),
              (N_("Initial strategy"), "initial_group", STRATEGY_GROUP, N_("Full analysis set by initial strategy")))
NOTE = N_("Counts are of the full analysis set (eligible, at least one immunotherapy dose) matching the filters.")


def _headline(flow: ConsortFlow) -> list[tuple[str, int]]:
    return [(_("Registered"), flow.node("registered").n), (_("Excluded"), flow.node("excluded").n),
            (_("Full analysis set"), flow.node("ici").n), (_("cCR at restaging"), flow.node("response:CCR").n)]


def _count_table(df: pl.DataFrame, title: str, vocab) -> pl.DataFrame:
    """Patients and % of the full analysis set, one row per value."""
    total = max(1, int(df["n"].sum()))
    return pl.DataFrame({
        title: [vocab.label(v) if v is not None else _("No strategy recorded") for v in df["value"]],
        _("Patients"): df["n"].cast(pl.Int64).to_list(),
        "%": [round(100 * n / total, 1) for n in df["n"]],
    })


def _tables(fetch: Callable[..., Any], store: Store, flt: CohortFilter) -> list[tuple[str, str, pl.DataFrame]]:
    """(column title, table title, table) per breakdown, in the current language."""
    return [(_(title), _(long_title), _count_table(fetch(select_counts_by_column, store, flt, column), _(title), vocab))
            for title, column, vocab, long_title in BREAKDOWNS]


def overview_body(ctx: PageContext) -> None:
    """Headline counts and the analysis set by registry part, site, biomarker, strategy."""
    flow = cached_query(select_consort_flow, ctx.store, ctx.filter)
    c = st.columns(4)
    for col, (label, n) in zip(c, _headline(flow)):
        col.metric(label, fmt_int(n))
    small = flow.node("ici").n <= SMALL_REGISTRY
    if small:  # at this size the patient-level views come first
        _patient_views(ctx, flow.node("ici").n)
    cols = [c for _ in range(2) for c in st.columns(2, gap="large")]
    for col, (title, long_title, table), (en_title, *_rest) in zip(cols, _tables(cached_query, ctx.store, ctx.filter),
                                                                  BREAKDOWNS):
        with col:
            st.markdown(f"**{title}**")
            show_table(table, f"patients by {en_title.lower()}", ctx, title=long_title)
    st.caption(sentences(_(NOTE), _("Use the pages in the sidebar for the flow diagram, survival, organ preservation, "
                                    "safety and quality of life.")))
    if not small:
        _patient_views(ctx, flow.node("ici").n)


# Patient-level views: at a registry's size (tens of patients) the most informative pages,
# linked at the top of the Overview up to this many patients in the analysis set.
SMALL_REGISTRY = 100
PATIENT_VIEWS = (
    ("pages/3_Organ_preservation.py", N_("Swimmer plot: every Watch & Wait and local-excision patient's course"),
     ":material/view_timeline:", {"section": "swimmer"}, "view_aggregates"),
    ("pages/6_Patient_timeline.py", N_("Patient timeline: one patient's full course, and who is overdue for surveillance"),
     ":material/person_search:", None, "view_patient_level"),
)


def _patient_views(ctx: PageContext, n: int) -> None:
    """Links to the swimmer plot and the patient timeline (those the user's role may open)."""
    st.markdown(_("**Follow the patients** — with {n} patients in the analysis set, each course can be read one by one")
                .format(n=fmt_int(n)) if n <= SMALL_REGISTRY else _("**Follow the patients**"))
    cols = st.columns(len(PATIENT_VIEWS))
    for col, (page, label, icon, query, permission) in zip(cols, PATIENT_VIEWS):
        with col:
            if ctx.can(permission):
                st.page_link(page, label=_(label), icon=icon, query_params=query)
            else:
                st.caption(_("{view} (needs the investigator role)").format(view=_(label)))


def report_section(store: Store, flt: CohortFilter) -> list[ReportItem]:
    """Overview in the MDT report: headline counts and the four breakdowns."""
    flow = select_consort_flow(store, flt)
    head = pl.DataFrame({_("Patients"): [k for k, _v in _headline(flow)], "n": [v for _k, v in _headline(flow)]})
    items = [ReportItem(_("Registry at a glance"), head, caption=_(NOTE))]
    items += [ReportItem(long_title, table) for _title, long_title, table in _tables(lambda fn, *a: fn(*a), store, flt)]
    return items
