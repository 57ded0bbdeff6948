"""Quality-of-life page body: EORTC scales over time, LARS, living with a stoma."""

from __future__ import annotations

import polars as pl
import streamlit as st

from ..figures.qol import lars_categories_figure, meaningful_change_figure, scale_figure, stoma_figure
from ..filters import CohortFilter, PageOption
from ..queries.qol import (
    DEFAULT_MCID,
    INSTRUMENT_SITES,
    select_lars_summary,
    select_scale_summary,
    select_stoma_over_time,
)
from ..report import ReportItem
from ..schema import LARS_CATEGORIES, QOL_INSTRUMENT, QOL_SCALE_INDEX, TUMOUR_SITE
from ..stats.qol import QolOptions, summarize_lars, summarize_scale, summarize_stoma
from ..store import Store
from ..tables.qol import format_lars_table, format_scale_table, format_stoma_table
from .data import cached_query
from .export import show_figure, show_table
from .methods import mmrm_section
from .page import PageContext, option_control

EORTC = ("QLQ_C30", "QLQ_CR29", "QLQ_STO22", "QLQ_OES18")
SECTION = PageOption("section", "Show", (("eortc", "EORTC questionnaires"), ("lars", "Bowel function (LARS)"),
                                         ("stoma", "Living with a stoma"), ("mmrm", "Change from baseline (MMRM)")),
                     "eortc")
SCALE = PageOption("scale", "Scale", tuple(
    (f"{i}.{c}", f"{QOL_INSTRUMENT.label(i).removeprefix('EORTC ')} - {s.label} ({s.kind}, "
                 f"{'higher = better' if s.higher_is_better else 'higher = worse'})")
    for (i, c), s in QOL_SCALE_INDEX.items() if i in EORTC), "QLQ_C30.QL2")
OPTIONS = (SECTION, SCALE)
MIN_N_PLOT = 5  # points from fewer patients are not drawn (their CI spans most of the scale); tables list them
MIN_N_STOMA = 20  # months where a group has fewer patients followed are not drawn
QOL_OPTIONS = QolOptions(conf_level=0.95, mcid=DEFAULT_MCID)

DEFINITIONS = f"""
- **Groups**: initial strategy group decided at T1 (Watch & Wait, local / endoscopic resection, radical surgery,
  systemic therapy only); patients stay in their group whatever happens later. Full analysis set.
- **Timepoints**: baseline, restaging, then 3, 6, 12, 24 and 36 months after the strategy decision (T1).
- **Mean (95% CI)**: mean +- t(0.975, n - 1) x SD / sqrt(n), sample SD; no interval for a single patient.
- **Change from baseline**: each patient's score minus their own baseline score, among patients with both.
- **Meaningful change**: a change of at least {QOL_OPTIONS.mcid:g} points in the better direction (improved) or
  the worse direction (worsened). Higher is better for global health and functional scales, worse for symptom scales.
  Shares with exact (Clopper-Pearson) 95% CIs in the hover.
- **Completion** = answered / expected. **Expected** at a timepoint: patients of the group (for a site module, of the
  sites it is given to) alive and still followed at its target date (T1 + 3, 6, ... months; last contact on or after
  it); at baseline all of them, at restaging those restaged. **Answered**: expected patients with a score.
- Points based on fewer than {MIN_N_PLOT} patients are not drawn; the table lists every timepoint.
"""


DEFINITIONS_SHORT = (
    "Initial strategy group; mean with t-distribution 95% CI; change = score - own baseline; meaningful change >= "
    f"{QOL_OPTIONS.mcid:g} points; completion = answered / expected (alive and followed at the target date)."
)


def _scale_key(value: str) -> tuple[str, str]:
    instrument, scale = value.split(".", 1)
    return instrument, scale


def _eortc(ctx: PageContext) -> None:
    c1, c2 = st.columns([2, 3])
    with c1:
        value = st.selectbox(SCALE.label, options=list(SCALE.values), format_func=SCALE.label_of, key=SCALE.key)
    instrument, scale = _scale_key(value if value in SCALE.values else SCALE.default)
    sc = QOL_SCALE_INDEX[(instrument, scale)]
    sites = ", ".join(TUMOUR_SITE.label(s).lower() for s in INSTRUMENT_SITES[instrument])
    with c2:
        st.caption(f"{QOL_INSTRUMENT.label(instrument)}, given to patients with cancer of the {sites}. Scores 0-100; "
                   + ("higher = better." if sc.higher_is_better else "higher = more symptoms (worse).")
                   + f" Meaningful change: {QOL_OPTIONS.mcid:g} points.")
    agg = cached_query(select_scale_summary, ctx.store, ctx.filter, instrument, scale, QOL_OPTIONS.mcid)
    if agg.height == 0 or int(agg["n"].sum()) == 0:
        st.info(f"No {QOL_INSTRUMENT.label(instrument)} scores among the selected patients"
                + (f" (given only to patients with cancer of the {sites})." if instrument != "QLQ_C30" else "."))
        return
    summary = summarize_scale(agg, QOL_OPTIONS)
    base = summary.filter(pl.col("timepoint") == "BASELINE")
    st.markdown(f"**{int(summary['n'].sum()):,} questionnaires** on this scale; at baseline "
                f"**{int(base['n_answered'].sum()):,} of {int(base['n_expected'].sum()):,}** expected patients answered.")
    left, right = st.columns(2)
    with left:
        show_figure(scale_figure(summary, measure="mean", y_label=f"{sc.label} (mean, 95% CI)", y_range=(0, 100),
                                 min_n=MIN_N_PLOT, title=f"{sc.label}: mean score"),
                    f"QoL {instrument} {scale} mean", ctx, key="qol_mean")
    with right:
        show_figure(scale_figure(summary, measure="change", y_label="Change from baseline (points, 95% CI)",
                                 band=QOL_OPTIONS.mcid, min_n=MIN_N_PLOT,
                                 title=f"{sc.label}: change from baseline ({'up = better' if sc.higher_is_better else 'up = worse'})"),
                    f"QoL {instrument} {scale} change", ctx, key="qol_change")
    show_figure(meaningful_change_figure(summary, mcid=QOL_OPTIONS.mcid, min_n=MIN_N_PLOT,
                                         title=f"{sc.label}: patients with a meaningful change from their baseline"),
                f"QoL {instrument} {scale} meaningful change", ctx, key="qol_mcid")
    st.markdown("**Completion, mean and change by group and timepoint**")
    show_table(format_scale_table(summary, mcid=QOL_OPTIONS.mcid), f"QoL {instrument} {scale} summary", ctx,
               title=f"{QOL_INSTRUMENT.label(instrument)} {sc.label}: completion, mean and change from baseline",
               notes=(DEFINITIONS_SHORT,))


def _lars(ctx: PageContext) -> None:
    cats = ", ".join(f"{lo:g}-{hi:g} {c.replace('_', ' ').lower()}" for c, lo, hi in LARS_CATEGORIES)
    st.caption(f"LARS score (0-42; {cats}), rectal cancer patients with bowel continuity only. Questionnaires dated "
               "while a permanent stoma or a not-yet-closed temporary stoma was in place are excluded (counted in the "
               "table). The LARS score is meant to be measured 6-12 months or more after a stoma is closed. Bars and points "
               f"are left out where fewer than {MIN_N_PLOT} patients answered; the table lists every timepoint.")
    agg = cached_query(select_lars_summary, ctx.store, ctx.filter)
    if agg.height == 0 or int(agg["n"].sum()) == 0:
        st.info("No LARS scores among the selected patients (LARS is asked of rectal cancer patients only).")
        return
    summary = summarize_lars(agg, QOL_OPTIONS)
    st.markdown(f"**{int(summary['n'].sum()):,} LARS questionnaires** from the selected patients.")
    show_figure(lars_categories_figure(summary, min_n=MIN_N_PLOT), "LARS categories", ctx, key="lars_cats")
    show_figure(scale_figure(summary, measure="mean", y_label="LARS score (mean, 95% CI)", y_range=(0, 42),
                             thresholds=((20.5, "minor LARS above"), (29.5, "major LARS above")), min_n=MIN_N_PLOT,
                             title="Mean LARS score (higher = worse bowel function)"),
                "LARS mean", ctx, key="lars_mean")
    show_table(format_lars_table(summary), "LARS summary", ctx, title="LARS score by strategy group and timepoint")


def _stoma(ctx: PageContext) -> None:
    st.caption("At each month after the strategy decision (T1), among patients alive and still followed then: "
               "the share with a permanent stoma, or a temporary stoma created and not yet closed. Exact 95% CI band. "
               f"A group's curve stops when fewer than {MIN_N_STOMA} of its patients are still followed.")
    agg = cached_query(select_stoma_over_time, ctx.store, ctx.filter)
    if agg.height == 0:
        st.info("No patients with a strategy decision among the selected patients.")
        return
    summary = summarize_stoma(agg, QOL_OPTIONS, min_n=MIN_N_STOMA)
    show_figure(stoma_figure(summary), "Living with a stoma", ctx, key="stoma_fig")
    show_table(format_stoma_table(summarize_stoma(agg, QOL_OPTIONS)), "Living with a stoma", ctx,
               title="Patients living with a stoma / patients followed, by months after T1")


def qol_body(ctx: PageContext) -> None:
    """The Quality-of-life page below the shared header."""
    section = option_control(SECTION, label_visibility="collapsed")
    with st.expander("How these numbers are computed", icon=":material/info:"):
        st.markdown(DEFINITIONS)
    if section == "lars":
        _lars(ctx)
    elif section == "stoma":
        _stoma(ctx)
    elif section == "mmrm":
        mmrm_section(ctx)
    else:
        _eortc(ctx)


def report_section(store: Store, flt: CohortFilter) -> list[ReportItem]:
    """Quality of life in the MDT report: EORTC QLQ-C30 global health status (mean over
    time, with the completion table) and the LARS categories."""
    items: list[ReportItem] = []
    instrument, scale = _scale_key(SCALE.default)
    sc = QOL_SCALE_INDEX[(instrument, scale)]
    agg = cached_query(select_scale_summary, store, flt, instrument, scale, QOL_OPTIONS.mcid)
    if agg.height and int(agg["n"].sum()):
        summary = summarize_scale(agg, QOL_OPTIONS)
        items += [ReportItem(f"{sc.label}: mean score by initial strategy group",
                             scale_figure(summary, measure="mean", y_label=f"{sc.label} (mean, 95% CI)",
                                          y_range=(0, 100), min_n=MIN_N_PLOT),
                             caption=f"{QOL_INSTRUMENT.label(instrument)}, 0-100, higher = better. " + DEFINITIONS_SHORT),
                  ReportItem(f"{sc.label}: completion, mean and change from baseline",
                             format_scale_table(summary, mcid=QOL_OPTIONS.mcid), caption=DEFINITIONS_SHORT)]
    lars = cached_query(select_lars_summary, store, flt)
    if lars.height and int(lars["n"].sum()):
        summary = summarize_lars(lars, QOL_OPTIONS)
        items.append(ReportItem("Bowel function: LARS categories by initial strategy group",
                                lars_categories_figure(summary, min_n=MIN_N_PLOT),
                                caption="LARS score (0-42), rectal cancer patients with bowel continuity; "
                                        "questionnaires dated while a stoma was in place excluded. Bars from fewer "
                                        f"than {MIN_N_PLOT} patients left out."))
    return items
