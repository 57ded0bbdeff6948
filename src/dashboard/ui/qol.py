"""Quality-of-life page body: EORTC scales over time, LARS, living with a stoma."""

from __future__ import annotations

import polars as pl
import streamlit as st

from ..figures.qol import lars_categories_figure, meaningful_change_figure, scale_figure, stoma_figure
from ..filters import CohortFilter, PageOption
from ..i18n import N_, _, fmt_int
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
from .text import in_language, lower_first, sentences

EORTC = ("QLQ_C30", "QLQ_CR29", "QLQ_STO22", "QLQ_OES18")
SECTION = PageOption("section", N_("Show"), (("eortc", N_("EORTC questionnaires")), ("lars", N_("Bowel function (LARS)")),
                                             ("stoma", N_("Living with a stoma")),
                                             ("mmrm", N_("Change from baseline (MMRM)"))), "eortc")
SCALE = PageOption("scale", N_("Scale"), tuple(
    (f"{i}.{c}", f"{QOL_INSTRUMENT.source_labels[i].removeprefix('EORTC ')} - {s.label}")
    for (i, c), s in QOL_SCALE_INDEX.items() if i in EORTC), "QLQ_C30.QL2")
# The scales' names and kinds (schema.QOL_SCALES holds them as data), marked for the catalog.
SCALE_TEXTS = (
    N_("Global health status"), N_("Physical functioning"), N_("Role functioning"), N_("Emotional functioning"),
    N_("Cognitive functioning"), N_("Social functioning"), N_("Fatigue"), N_("Pain"), N_("Diarrhoea"),
    N_("Body image"), N_("Stool frequency"), N_("Eating restrictions"), N_("Dysphagia"), N_("Eating"),
    N_("LARS score"), N_("Wexner score"),
)
SCALE_KINDS = {"global": N_("global"), "functional": N_("functional"), "symptom": N_("symptom"), "total": N_("total")}
LARS_CATEGORY_NAMES = {"NO_LARS": N_("no LARS"), "MINOR": N_("minor LARS"), "MAJOR": N_("major LARS")}


def scale_label(value: str) -> str:
    """A scale choice as shown: instrument - scale (kind, direction), in the current language."""
    instrument, scale = _scale_key(value)
    sc = QOL_SCALE_INDEX[(instrument, scale)]
    return _("{instrument} - {scale} ({kind}, {direction})").format(
        instrument=QOL_INSTRUMENT.label(instrument).removeprefix("EORTC "), scale=_(sc.label),
        kind=_(SCALE_KINDS.get(sc.kind, sc.kind)),
        direction=_("higher = better") if sc.higher_is_better else _("higher = worse"))
OPTIONS = (SECTION, SCALE)
MIN_N_PLOT = 5  # points from fewer patients are not drawn (their CI spans most of the scale); tables list them
MIN_N_STOMA = 20  # months where a group has fewer patients followed are not drawn
QOL_OPTIONS = QolOptions(conf_level=0.95, mcid=DEFAULT_MCID)

DEFINITIONS = N_("""
- **Groups**: initial strategy group decided at T1 (Watch & Wait, local / endoscopic resection, radical surgery,
  systemic therapy only); patients stay in their group whatever happens later. Full analysis set.
- **Timepoints**: baseline, restaging, then 3, 6, 12, 24 and 36 months after the strategy decision (T1).
- **Mean (95% CI)**: mean +- t(0.975, n - 1) x SD / sqrt(n), sample SD; no interval for a single patient.
- **Change from baseline**: each patient's score minus their own baseline score, among patients with both.
- **Meaningful change**: a change of at least {mcid} points in the better direction (improved) or
  the worse direction (worsened). Higher is better for global health and functional scales, worse for symptom scales.
  Shares with exact (Clopper-Pearson) 95% CIs in the hover.
- **Completion** = answered / expected. **Expected** at a timepoint: patients of the group (for a site module, of the
  sites it is given to) alive and still followed at its target date (T1 + 3, 6, ... months; last contact on or after
  it); at baseline all of them, at restaging those restaged. **Answered**: expected patients with a score.
- Points based on fewer than {min_n} patients are not drawn; the table lists every timepoint.
""")


DEFINITIONS_SHORT = N_(
    "Initial strategy group; mean with t-distribution 95% CI; change = score - own baseline; meaningful change >= "
    "{mcid} points; completion = answered / expected (alive and followed at the target date)."
)


def definitions() -> str:
    """How the numbers are computed (markdown list), in the current language."""
    return _(DEFINITIONS).format(mcid=f"{QOL_OPTIONS.mcid:g}", min_n=MIN_N_PLOT)


def definitions_short() -> str:
    return _(DEFINITIONS_SHORT).format(mcid=f"{QOL_OPTIONS.mcid:g}")


def _scale_key(value: str) -> tuple[str, str]:
    instrument, scale = value.split(".", 1)
    return instrument, scale


def _eortc(ctx: PageContext) -> None:
    c1, c2 = st.columns([2, 3])
    with c1:
        value = st.selectbox(_(SCALE.label), options=list(SCALE.values), format_func=in_language(scale_label), key=SCALE.key)
    instrument, scale = _scale_key(value if value in SCALE.values else SCALE.default)
    sc = QOL_SCALE_INDEX[(instrument, scale)]
    sites = _(", ").join(lower_first(TUMOUR_SITE.label(s)) for s in INSTRUMENT_SITES[instrument])
    name, label = QOL_INSTRUMENT.label(instrument), _(sc.label)
    with c2:
        st.caption(sentences(
            _("{instrument}, given to patients with cancer of the {sites}.").format(instrument=name, sites=sites),
            _("Scores 0-100; higher = better.") if sc.higher_is_better else
            _("Scores 0-100; higher = more symptoms (worse)."),
            _("Meaningful change: {mcid} points.").format(mcid=f"{QOL_OPTIONS.mcid:g}")))
    agg = cached_query(select_scale_summary, ctx.store, ctx.filter, instrument, scale, QOL_OPTIONS.mcid)
    if agg.height == 0 or int(agg["n"].sum()) == 0:
        st.info((_("No {instrument} scores among the selected patients (given only to patients with cancer of the "
                   "{sites}).") if instrument != "QLQ_C30" else
                 _("No {instrument} scores among the selected patients.")).format(instrument=name, sites=sites))
        return
    summary = summarize_scale(agg, QOL_OPTIONS)
    base = summary.filter(pl.col("timepoint") == "BASELINE")
    st.markdown(_("**{n} questionnaires** on this scale; at baseline **{k} of {m}** expected patients answered.").format(
        n=fmt_int(summary["n"].sum()), k=fmt_int(base["n_answered"].sum()), m=fmt_int(base["n_expected"].sum())))
    left, right = st.columns(2)
    with left:
        show_figure(scale_figure(summary, measure="mean", y_label=_("{scale} (mean, 95% CI)").format(scale=label),
                                 y_range=(0, 100), min_n=MIN_N_PLOT,
                                 title=_("{scale}: mean score").format(scale=label)),
                    f"QoL {instrument} {scale} mean", ctx, key="qol_mean")
    with right:
        change_title = (_("{scale}: change from baseline (up = better)") if sc.higher_is_better
                        else _("{scale}: change from baseline (up = worse)")).format(scale=label)
        show_figure(scale_figure(summary, measure="change", y_label=_("Change from baseline (points, 95% CI)"),
                                 band=QOL_OPTIONS.mcid, min_n=MIN_N_PLOT, title=change_title),
                    f"QoL {instrument} {scale} change", ctx, key="qol_change")
    show_figure(meaningful_change_figure(summary, mcid=QOL_OPTIONS.mcid, min_n=MIN_N_PLOT,
                                         title=_("{scale}: patients with a meaningful change from their baseline")
                                         .format(scale=label)),
                f"QoL {instrument} {scale} meaningful change", ctx, key="qol_mcid")
    st.markdown(_("**Completion, mean and change by group and timepoint**"))
    show_table(format_scale_table(summary, mcid=QOL_OPTIONS.mcid), f"QoL {instrument} {scale} summary", ctx,
               title=_("{instrument} {scale}: completion, mean and change from baseline").format(instrument=name,
                                                                                                scale=label),
               notes=(definitions_short(),))


def _lars(ctx: PageContext) -> None:
    cats = _(", ").join(f"{lo:g}-{hi:g} {_(LARS_CATEGORY_NAMES[c])}" for c, lo, hi in LARS_CATEGORIES)
    st.caption(_("LARS score (0-42; {categories}), rectal cancer patients with bowel continuity only. Questionnaires "
                 "dated while a permanent stoma or a not-yet-closed temporary stoma was in place are excluded (counted "
                 "in the table). The LARS score is meant to be measured 6-12 months or more after a stoma is closed. "
                 "Bars and points are left out where fewer than {min_n} patients answered; the table lists every "
                 "timepoint.").format(categories=cats, min_n=MIN_N_PLOT))
    agg = cached_query(select_lars_summary, ctx.store, ctx.filter)
    if agg.height == 0 or int(agg["n"].sum()) == 0:
        st.info(_("No LARS scores among the selected patients (LARS is asked of rectal cancer patients only)."))
        return
    summary = summarize_lars(agg, QOL_OPTIONS)
    st.markdown(_("**{n} LARS questionnaires** from the selected patients.").format(n=fmt_int(summary["n"].sum())))
    show_figure(lars_categories_figure(summary, min_n=MIN_N_PLOT), "LARS categories", ctx, key="lars_cats")
    show_figure(scale_figure(summary, measure="mean", y_label=_("LARS score (mean, 95% CI)"), y_range=(0, 42),
                             thresholds=((20.5, _("minor LARS above")), (29.5, _("major LARS above"))),
                             min_n=MIN_N_PLOT, title=_("Mean LARS score (higher = worse bowel function)")),
                "LARS mean", ctx, key="lars_mean")
    show_table(format_lars_table(summary), "LARS summary", ctx, title=_("LARS score by strategy group and timepoint"))


def _stoma(ctx: PageContext) -> None:
    st.caption(_("At each month after the strategy decision (T1), among patients alive and still followed then: the "
                 "share with a permanent stoma, or a temporary stoma created and not yet closed. Exact 95% CI band. A "
                 "group's curve stops when fewer than {min_n} of its patients are still followed.").format(
        min_n=MIN_N_STOMA))
    agg = cached_query(select_stoma_over_time, ctx.store, ctx.filter)
    if agg.height == 0:
        st.info(_("No patients with a strategy decision among the selected patients."))
        return
    summary = summarize_stoma(agg, QOL_OPTIONS, min_n=MIN_N_STOMA)
    show_figure(stoma_figure(summary), "Living with a stoma", ctx, key="stoma_fig")
    show_table(format_stoma_table(summarize_stoma(agg, QOL_OPTIONS)), "Living with a stoma", ctx,
               title=_("Patients living with a stoma / patients followed, by months after T1"))


def qol_body(ctx: PageContext) -> None:
    """The Quality-of-life page below the shared header."""
    section = option_control(SECTION, label_visibility="collapsed")
    with st.expander(_("How these numbers are computed"), icon=":material/info:"):
        st.markdown(definitions())
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
        label = _(sc.label)
        items += [ReportItem(_("{scale}: mean score by initial strategy group").format(scale=label),
                             scale_figure(summary, measure="mean",
                                          y_label=_("{scale} (mean, 95% CI)").format(scale=label),
                                          y_range=(0, 100), min_n=MIN_N_PLOT),
                             caption=sentences(_("{instrument}, 0-100, higher = better.").format(
                                 instrument=QOL_INSTRUMENT.label(instrument)), definitions_short())),
                  ReportItem(_("{scale}: completion, mean and change from baseline").format(scale=label),
                             format_scale_table(summary, mcid=QOL_OPTIONS.mcid), caption=definitions_short())]
    lars = cached_query(select_lars_summary, store, flt)
    if lars.height and int(lars["n"].sum()):
        summary = summarize_lars(lars, QOL_OPTIONS)
        items.append(ReportItem(_("Bowel function: LARS categories by initial strategy group"),
                                lars_categories_figure(summary, min_n=MIN_N_PLOT),
                                caption=_("LARS score (0-42), rectal cancer patients with bowel continuity; "
                                          "questionnaires dated while a stoma was in place excluded. Bars from fewer "
                                          "than {min_n} patients left out.").format(min_n=MIN_N_PLOT)))
    return items
