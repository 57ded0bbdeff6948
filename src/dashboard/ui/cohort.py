"""Cohort page body: flow diagram, strategy transitions, Table 1."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from ..figures import consort_figure, sankey_figure
from ..filters import CohortFilter, PageOption
from ..i18n import N_, _
from ..queries.cohort import select_baseline, select_consort_flow, select_strategy_transitions
from ..report import ReportItem
from ..schema import COHORT
from ..stats.baseline import summarize_baseline
from ..store import Store
from ..tables.baseline import format_baseline_html, format_baseline_table, table1_options, table1_variables
from .data import cached_query
from .export import show_figure, table_download, with_design_width
from .page import PageContext, option_control
from .text import sentences

SECTION = PageOption("section", N_("Show"), (("flow", N_("Patient flow")), ("transitions", N_("Strategy transitions")),
                                             ("table1", N_("Baseline characteristics (Table 1)"))), "flow")
VIEW = PageOption("view", N_("Registry parts"), (("combined", N_("Combined")),
                                                ("split", N_("By registry part"))), "combined")
OPTIONS = (SECTION, VIEW)
FLOW_NOTE = N_("Boxes count patients; each box equals the sum of the boxes it splits into. Status at last follow-up "
             "from the subject-level table.")
TRANSITIONS_NOTE = N_("Full analysis set with a recorded strategy. Each band is a group of patients moving from one "
                    "strategy to the next (repeated episodes of the same strategy count once) and on to their status "
                    "at last follow-up; patients whose strategy never changed go straight to their status.")
TABLE1_NOTE = N_(
    "Full analysis set (eligible, at least one immunotherapy dose), by initial strategy group. n (%) of patients "
    "with a recorded value; median (IQR). p: chi-square, or Fisher's exact test when an expected count is below 5 "
    "(Monte Carlo for tables larger than 2x2); Kruskal-Wallis for continuous values. SMD: largest pairwise "
    "standardised mean difference between strategy groups of 10 or more patients (above 0.1 is usually read as "
    "imbalance). Patients without a strategy yet are in Overall but not in the tests.")


def _consort(flow, **kwargs):
    """The flow diagram; exports lay it out at least 1300 px wide (six strategy boxes)."""
    return with_design_width(consort_figure(flow, **kwargs), 1300)


def _sankey(links, **kwargs):
    """The transitions diagram; exports lay it out at least 1000 px wide (four labelled stages)."""
    return with_design_width(sankey_figure(links, **kwargs), 1000)


def _parts(ctx: PageContext) -> list[tuple[str, object]]:
    """(heading, filter) per registry part the user has not filtered out."""
    codes = ctx.filter.cohort or COHORT.codes
    return [(COHORT.label(c), replace(ctx.filter, cohort=(c,))) for c in codes]


def _flow(ctx: PageContext, split: bool) -> None:
    st.caption(sentences(_(FLOW_NOTE), _("Hover a strategy box for its restaging responses.")))
    if not split:
        flow = cached_query(select_consort_flow, ctx.store, ctx.filter)
        show_figure(_consort(flow), "patient flow", ctx, key="consort_combined")
        return
    # One above the other: two diagrams side by side were unreadable on a 1280-pixel screen.
    for heading, flt in _parts(ctx):
        flow = cached_query(select_consort_flow, ctx.store, flt)
        show_figure(_consort(flow, title=_("{part} cohort").format(part=heading)), f"patient flow {heading}", ctx,
                    key=f"consort_{heading}")


def _transitions(ctx: PageContext, split: bool) -> None:
    st.caption(_(TRANSITIONS_NOTE))
    parts = _parts(ctx) if split else [(None, ctx.filter)]
    for heading, flt in parts:
        if heading:
            st.subheader(_("{part} cohort").format(part=heading))
        links = cached_query(select_strategy_transitions, ctx.store, flt)
        show_figure(_sankey(links, height=460 if split else 560),
                    "strategy transitions" + (f" {heading}" if heading else ""), ctx, key=f"sankey_{heading}")


def _table1(ctx: PageContext) -> None:
    variables, options = table1_variables(), table1_options()
    df = cached_query(select_baseline, ctx.store, ctx.filter)
    if df.height == 0:
        st.info(_("No patients in the full analysis set match the filters."))
        return
    summary = summarize_baseline(df, variables, options)
    table = format_baseline_table(summary, variables)
    st.caption(sentences(_(TABLE1_NOTE), _("Hover a p-value for its test; the exports list them.")))
    st.html(format_baseline_html(table))
    table_download(table.drop("kind"), "table1", ctx, title=_("Table 1. Baseline characteristics by initial strategy"),
                   notes=(_(TABLE1_NOTE),), bold_rows=_variable_rows(table))


def _variable_rows(table) -> tuple[int, ...]:
    return tuple(i for i, k in enumerate(table["kind"].to_list()) if k == "variable")


def report_section(store: Store, flt: CohortFilter) -> list[ReportItem]:
    """Cohort in the MDT report: patient flow, strategy transitions, Table 1 (default views)."""
    items = [ReportItem(_("Patient flow"), _consort(select_consort_flow(store, flt)), caption=_(FLOW_NOTE)),
             ReportItem(_("Strategy transitions"), _sankey(select_strategy_transitions(store, flt)),
                        caption=_(TRANSITIONS_NOTE))]
    df = select_baseline(store, flt)
    if df.height:
        variables = table1_variables()
        table = format_baseline_table(summarize_baseline(df, variables, table1_options()), variables)
        items.append(ReportItem(_("Table 1. Baseline characteristics by initial strategy"), table.drop("kind"),
                                caption=_(TABLE1_NOTE), bold_rows=_variable_rows(table)))
    return items


def cohort_body(ctx: PageContext) -> None:
    """The Cohort page below the shared header."""
    c1, c2 = st.columns([3, 2])
    with c1:
        section = option_control(SECTION, label_visibility="collapsed")
    with c2:
        split = option_control(VIEW, label_visibility="collapsed") == "split" if section != "table1" else False
    if section == "flow":
        _flow(ctx, split)
    elif section == "transitions":
        _transitions(ctx, split)
    else:
        _table1(ctx)
