"""Organ-preservation page body: crude and Kaplan-Meier organ preservation overall and by
subgroup (forest plot), response rates, and a swimmer plot of organ-preserving patients."""

from __future__ import annotations

import polars as pl
import streamlit as st

from ..figures.forest import forest_figure
from ..figures.swimmer import swimmer_figure
from ..filters import CohortFilter, PageOption
from ..i18n import N_, _, fmt_decimal, fmt_int, fmt_percent, ngettext
from ..queries.organ import (
    POPULATIONS,
    SUBGROUPS,
    SWIMMER_EVENTS,
    SWIMMER_SORTS,
    SWIMMER_STRATEGIES,
    SwimmerData,
    select_organ_cells,
    select_rate_cells,
    select_swimmer,
    subgroup_level_label,
)
from ..schema import STRATEGY
from ..stats.proportions import METHODS
from ..stats.summaries import OrganOptions, summarize_organ_cells, summarize_rates
from ..store import Store
from ..tables.survival import NE, format_organ_table, format_pct_ci, format_rates_table, with_labels
from ..report import ReportItem
from .data import cached_query
from .export import csv_button, show_figure, show_table
from .methods import pathway_section
from .page import PageContext, option_control, option_select
from .survival import PLOTLY_CONFIG
from .text import lower_first, sentences

SECTION = PageOption("section", N_("Show"), (("rates", N_("Organ preservation")), ("response", N_("Response rates")),
                                             ("swimmer", N_("Swimmer plot")), ("pathway", N_("Pathway over time"))),
                     "rates")
POPULATION = PageOption("population", N_("Population"), tuple((k, v[0]) for k, v in POPULATIONS.items()), "all")
HORIZON = PageOption("horizon", N_("Crude rate at"), (("12", N_("12 months")), ("24", N_("24 months")),
                                                      ("36", N_("36 months"))), "36")
METHOD = PageOption("method", N_("Exact CI method"), tuple((m, {"clopper-pearson": N_("Clopper-Pearson (exact)"),
                                                                 "wilson": N_("Wilson score"),
                                                                 "jeffreys": "Jeffreys"}[m])
                                                           for m in METHODS), "clopper-pearson")
FOREST = PageOption("forest", N_("Forest plot shows"), (("km", N_("Kaplan-Meier at the horizon")),
                                                        ("crude", N_("Crude rate"))), "km")
SORT = PageOption("sort", N_("Order lanes by"), tuple((k, v[0]) for k, v in SWIMMER_SORTS.items()), "followup")
LANES = PageOption("lanes", N_("Patients per view"), (("50", "50"), ("100", "100"), ("200", "200")), "100")
OPTIONS = (SECTION, POPULATION, HORIZON, METHOD, FOREST, SORT, LANES)

RATE_LABELS = {
    "ccr": ("cCR", N_("FAS patients with a restaging assessment")),
    "near_ccr": ("near-cCR", N_("FAS patients with a restaging assessment")),
    "non_ccr": ("non-cCR", N_("FAS patients with a restaging assessment")),
    "pcr": ("pCR (ypT0N0)", N_("patients with a first resection specimen (ypT and ypN recorded)")),
    "mpr": (N_("Major pathological response (≤10% viable tumour)"), N_("patients with residual tumour % recorded")),
    "sccr12": (N_("Sustained cCR at 12 months"), N_("cCR patients followed 12 months after the last immunotherapy "
                                                    "dose (or failing before); patients who left Watch & Wait for "
                                                    "surgery by their own choice, without a regrowth, before 12 "
                                                    "months are not evaluable")),
}


def rate_labels() -> dict[str, tuple[str, str]]:
    """:data:`RATE_LABELS` in the current language."""
    return {k: (_(name), _(den)) for k, (name, den) in RATE_LABELS.items()}


def _population_name(population: str) -> str:
    return _(POPULATIONS[population][0])
RATE_DEFINITIONS = (("ccr", "ccr", "assessed"), ("near_ccr", "near_ccr", "assessed"), ("non_ccr", "non_ccr", "assessed"),
                    ("pcr", "pcr", "path_evaluable"), ("mpr", "mpr", "mpr_evaluable"),
                    ("sccr12", "sccr12", "sccr12_evaluable"))


def organ_analysis(store: Store, flt: CohortFilter, population: str, opts: OrganOptions) -> pl.DataFrame | None:
    """Query + :func:`summarize_organ_cells` (cached by ``cached_query``)."""
    cells = select_organ_cells(store, flt, population)  # collapsed in the database; same numbers
    if cells.height == 0:
        return None
    return summarize_organ_cells(cells, {c: v[1].codes for c, v in SUBGROUPS.items()}, opts)


def rates_analysis(store: Store, flt: CohortFilter, population: str, method: str) -> pl.DataFrame | None:
    cells = select_rate_cells(store, flt, population)
    if cells.height == 0:
        return None
    return summarize_rates(cells, RATE_DEFINITIONS, method, freq="n")


def swimmer_page(store: Store, flt: CohortFilter, sort: str, page: int, size: int) -> SwimmerData:
    return select_swimmer(store, flt, sort, page, size)


def definition_text(horizon: float, population: str) -> str:
    """The crude-rate definition shown on the page."""
    return _("**Crude organ-preservation rate at {months} months**: among {population} patients who can be judged at "
             "{months} months after the first immunotherapy dose (T0), the share alive with the organ in place at "
             "{months} months. Patients with a radical resection or who died by then count as failures; patients "
             "followed less than {months} months without either are *not evaluable* and left out (their number is "
             "shown). Local excision, ESD and EMR are not organ loss. **Kaplan-Meier OPS** uses every patient, "
             "censored at last contact with the organ in place.").format(
        months=f"{horizon:g}", population=lower_first(_population_name(population)))


def _ci(lower: float | None, upper: float | None) -> str:
    return (f"{fmt_decimal(100 * lower, 1)}–{fmt_decimal(100 * upper, 1)}%" if lower is not None and upper is not None
            else NE)


# Subgroup levels with fewer patients get no estimate in the forest plot (the row stays,
# with its count and the reason), since a rate or KM estimate on a handful is noise.
FOREST_MIN_N = 10


def _forest_rows(summary: pl.DataFrame, horizon: float, which: str) -> pl.DataFrame:
    rows = []
    col = "crude" if which == "crude" else f"km{horizon:g}"
    for r in summary.iter_rows(named=True):
        if r["subgroup"] != "overall" and (not rows or rows[-1]["_sub"] != r["subgroup"]):
            heading = SUBGROUPS[r["subgroup"]][0]
            rows.append({"_sub": r["subgroup"], "heading": True, "label": _(heading), "n": 0,
                         "estimate": None, "lower": None, "upper": None, "text": ""})
        est, lo, hi = r.get(col), r.get(col + "_lower"), r.get(col + "_upper")
        text = format_pct_ci(est, lo, hi) if which != "crude" else (
            format_pct_ci(est, lo, hi) if r["evaluable"] else NE)
        if r["subgroup"] != "overall" and r["n"] < FOREST_MIN_N:  # refused: too few for an estimate
            est = lo = hi = None
            text = _("not estimated (< {n})").format(n=FOREST_MIN_N)
        rows.append({"_sub": r["subgroup"], "heading": False,
                     "label": _level_label(r["subgroup"], r["level"]),
                     "n": r["n"], "estimate": est, "lower": lo, "upper": hi, "text": text})
    return pl.DataFrame(rows, schema={"_sub": pl.String, "heading": pl.Boolean, "label": pl.String, "n": pl.Int64,
                                      "estimate": pl.Float64, "lower": pl.Float64, "upper": pl.Float64,
                                      "text": pl.String}).drop("_sub")


RATES_NOTE = N_("Clinical response at the restaging on which the strategy was decided (OPRA / MSKCC three-tier); "
              "pathology of the first resection specimen (local or radical). Sustained cCR: no regrowth, recurrence, "
              "progression, metastasis, radical resection or death within 12 months after the last immunotherapy dose.")


def organ_forest(summary: pl.DataFrame, horizon: float, which: str):
    """Forest plot of organ preservation by subgroup (crude rate or KM OPS at the horizon)."""
    overall = summary.row(0, named=True)
    label = (_("Crude organ preservation at {months} months (%)") if which == "crude"
             else _("Kaplan-Meier organ-preservation survival at {months} months (%)")).format(months=f"{horizon:g}")
    return forest_figure(_forest_rows(summary, horizon, which), x_title=label,
                         overall=overall["crude"] if which == "crude" else overall[f"km{horizon:g}"],
                         value_title=_("Crude % (95% CI)") if which == "crude" else _("KM % (95% CI)"))


def forest_caption(which: str, method: str) -> str:
    return _("Squares: point estimates; bars: 95% CI ({method}). Dashed line: all patients. Time from T0; OPS event = "
             "radical resection or death.").format(
        method=_(METHOD.label_of(method)) if which == "crude" else _("Kaplan-Meier, log-log"))


def _level_label(subgroup: str, level: str | None) -> str:
    """A forest / table row's label in the current language."""
    return _("All patients") if subgroup == "overall" else _(subgroup_level_label(subgroup, level))


def organ_table(summary: pl.DataFrame, opts: OrganOptions) -> pl.DataFrame:
    return format_organ_table(summary, {c: _(v[0]) for c, v in SUBGROUPS.items()},
                              lambda sub, level: _(subgroup_level_label(sub, level)), opts.times, opts.horizon)


def rates_forest(rates: pl.DataFrame):
    """Response rates as a forest plot (one line per outcome)."""
    rows = pl.DataFrame({
        "heading": [False] * rates.height,
        "label": [_(RATE_LABELS[k][0]) for k in rates.get_column("key")],
        "n": rates.get_column("n"), "estimate": rates.get_column("estimate"),
        "lower": rates.get_column("lower"), "upper": rates.get_column("upper"),
        "text": format_rates_table(rates, rate_labels())[:, -1],  # the "% (95% CI)" column
    })
    return forest_figure(rows, x_title=_("Patients with the response (%)"), value_title=_("% (95% CI)"),
                         n_title=_("Denominator"))


def _rates_section(ctx: PageContext) -> None:
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
    with c1:
        population = option_select(POPULATION)
    with c2:
        horizon = float(option_select(HORIZON))
    with c3:
        method = option_select(METHOD)
    with c4:
        which = option_select(FOREST)
    opts = OrganOptions(horizon=horizon, method=method)
    summary = cached_query(organ_analysis, ctx.store, ctx.filter, population, opts)
    if summary is None:
        st.info(_("No patients in the full analysis set match the filters."))
        return
    overall = summary.row(0, named=True)
    m = st.columns(1 + len(opts.times))
    m[0].metric(_("Crude, {months} months").format(months=f"{horizon:g}"),
                fmt_percent(overall["crude"], 1) if overall["crude"] is not None else NE,
                help=_("Exact binomial CI; definition below."))
    m[0].caption(_("{k} of {n} evaluable · 95% CI {ci}").format(
        k=fmt_int(overall["preserved"]), n=fmt_int(overall["evaluable"]),
        ci=_ci(overall["crude_lower"], overall["crude_upper"]) if overall["evaluable"] else NE))
    for i, t in enumerate(opts.times, start=1):
        k = f"km{t:g}"
        m[i].metric(_("Kaplan-Meier OPS, {months} months").format(months=f"{t:g}"),
                    fmt_percent(overall[k], 1) if overall[k] is not None else NE)
        m[i].caption(_("95% CI {ci} · {n} at risk").format(ci=_ci(overall[k + "_lower"], overall[k + "_upper"]),
                                                          n=fmt_int(round(overall[k + "_n_risk"] or 0))))
    st.caption(definition_text(horizon, population))
    st.subheader(_("By subgroup"))
    small = [r for r in summary.iter_rows(named=True) if r["subgroup"] != "overall" and r["n"] < FOREST_MIN_N]
    if small:
        st.warning(_("**Subgroups with fewer than {n} patients get no estimate in the forest plot** (their rows keep "
                     "the count; a rate or a Kaplan-Meier estimate on so few patients is noise): {subgroups}. The "
                     "table below still lists their numbers.").format(
            n=FOREST_MIN_N, subgroups=_(", ").join(f"{_level_label(r['subgroup'], r['level'])} ({r['n']})"
                                                   for r in small)), icon=":material/group_off:")
    show_figure(organ_forest(summary, horizon, which), f"organ preservation forest {which} {horizon:g}m {population}",
                ctx, key="forest_chart", config=PLOTLY_CONFIG)
    st.caption(forest_caption(which, method))
    table = organ_table(summary, opts)
    level_labels = [_level_label(r["subgroup"], r["level"])
                    for r in summary.select("subgroup", "level").iter_rows(named=True)]
    csv_button(_("Subgroup estimates (CSV)"), summary.with_columns(pl.Series("level_label", level_labels)),
               f"organ_preservation_{population}.csv", ctx, "forest_csv")
    show_table(table, f"organ preservation by subgroup {horizon:g}m {population}", ctx,
               title=_("Organ preservation by subgroup ({population} patients)").format(
                   population=lower_first(_population_name(population))),
               notes=(definition_text(horizon, population).replace("*", ""),))


def _response_section(ctx: PageContext) -> None:
    c1, c2 = st.columns([3, 2])
    with c1:
        population = option_select(POPULATION)
    with c2:
        method = option_select(METHOD)
    rates = cached_query(rates_analysis, ctx.store, ctx.filter, population, method)
    if rates is None:
        st.info(_("No patients in the full analysis set match the filters."))
        return
    cells = cached_query(select_rate_cells, ctx.store, ctx.filter, population)
    exits = int(cells.filter(pl.col("sccr12_choice_exit")).get_column("n").sum())
    exit_note = ngettext(
        "Sustained cCR at 12 months: {n} cCR patient left Watch & Wait for surgery by their own choice, without a "
        "regrowth, before 12 months; they are not evaluable (left out of the denominator, not counted as failures).",
        "Sustained cCR at 12 months: {n} cCR patients left Watch & Wait for surgery by their own choice, without a "
        "regrowth, before 12 months; they are not evaluable (left out of the denominator, not counted as failures).",
        exits).format(n=fmt_int(exits))
    st.caption(sentences(_("Proportions with {method} 95% confidence intervals.").format(method=_(METHOD.label_of(method))),
                         _(RATES_NOTE), exit_note))
    show_table(format_rates_table(rates, rate_labels()), f"response rates {population}", ctx,
               title=_("Response rates ({population} patients)").format(
                   population=lower_first(_population_name(population))), notes=(_(RATES_NOTE),))
    show_figure(rates_forest(rates), f"response rates forest {population}", ctx, key="rates_chart",
                config=PLOTLY_CONFIG)
    csv_button(_("Response rates (CSV)"), with_labels(rates, lambda k: _(RATE_LABELS[k][0]), "key", "outcome"),
        f"response_rates_{population}.csv", ctx, "rates_csv")


def _swimmer_section(ctx: PageContext) -> None:
    c1, c2, c3 = st.columns([3, 2, 2])
    with c1:
        sort = option_select(SORT)
    with c2:
        size = int(option_select(LANES))
    first = cached_query(swimmer_page, ctx.store, ctx.filter, sort, 0, size)
    pages = max(1, -(-first.total // size))
    with c3:
        page = st.number_input(_("View (1-{pages})").format(pages=pages), min_value=1, max_value=pages, value=1, step=1, key="swim_page")
    page = min(int(page), pages) - 1
    data = first if page == 0 else cached_query(swimmer_page, ctx.store, ctx.filter, sort, page, size)
    if data.total == 0:
        st.info(_("No Watch & Wait or local / endoscopic resection patients match the filters."))
        return
    lo, hi = page * size + 1, min((page + 1) * size, data.total)
    st.markdown(_("**Patients {lo}–{hi} of {total}** whose first strategy was Watch & Wait, local excision, ESD or EMR, "
                  "ordered by {order}. At most {size} lanes per view; use *View* for the next ones.").format(
        lo=fmt_int(lo), hi=fmt_int(hi), total=fmt_int(data.total), order=lower_first(_(SWIMMER_SORTS[sort][0])), size=size))
    hide = ctx.hide_identifiers
    event_labels = {k: _(v) for k, v in SWIMMER_EVENTS}
    fig = swimmer_figure(data.patients, data.events, event_labels=event_labels,
                         strategy_labels={s: STRATEGY.label(s) for s in SWIMMER_STRATEGIES},
                         hide_ids=hide, first_lane=page * size)
    show_figure(fig, f"swimmer view {page + 1}", ctx, key="swimmer_chart", config=PLOTLY_CONFIG)
    st.caption(sentences(_("Each lane runs from the strategy decision (T1) to last contact; lane colour = first "
                           "strategy."),
                         _("Patient identifiers are hidden (presentation mode, or a role without patient-level "
                           "access): lanes are numbered.") if hide else
                         _("Hover a lane or a marker for the patient identifier.")))
    events = (data.events.join(data.patients.select("subject_id", "lane", "initial_strategy"), on="subject_id")
              .with_columns(pl.col("kind").replace_strict(event_labels).alias("event")).sort("lane", "month"))
    csv_button(_("Events of these patients (CSV)"), events, f"swimmer_view{page + 1}.csv", ctx, "swimmer_csv",
               patient_level=True)


def organ_body(ctx: PageContext) -> None:
    """The Organ-preservation page below the shared header."""
    section = option_control(SECTION, label_visibility="collapsed")
    if section == "rates":
        _rates_section(ctx)
    elif section == "response":
        _response_section(ctx)
    elif section == "pathway":
        pathway_section(ctx)
    else:
        _swimmer_section(ctx)


def report_section(store: Store, flt: CohortFilter) -> list[ReportItem]:
    """Organ preservation in the MDT report (the page's default view: all FAS patients,
    36 months, Clopper-Pearson, KM forest): overall crude and KM rates, the forest plot and
    subgroup table, response rates."""
    population, method = POPULATION.default, METHOD.default
    opts = OrganOptions(horizon=float(HORIZON.default), method=method)
    summary = cached_query(organ_analysis, store, flt, population, opts)
    if summary is None:
        return []
    horizon = opts.horizon
    table = organ_table(summary, opts)
    note = definition_text(horizon, population).replace("*", "")
    items = [ReportItem(_("Organ preservation, all patients"), table.head(1), caption=note),
             ReportItem(_("Kaplan-Meier organ-preservation survival at {months} months by subgroup").format(
                 months=f"{horizon:g}"), organ_forest(summary, horizon, FOREST.default),
                 caption=forest_caption(FOREST.default, method)),
             ReportItem(_("Organ preservation by subgroup"), table, caption=note)]
    rates = cached_query(rates_analysis, store, flt, population, method)
    if rates is not None:
        cap = sentences(_("Proportions with {method} 95% confidence intervals.").format(
            method=_(METHOD.label_of(method))), _(RATES_NOTE))
        items += [ReportItem(_("Response rates"), format_rates_table(rates, rate_labels()), caption=cap),
                  ReportItem(_("Response rates (forest plot)"), rates_forest(rates), caption=cap)]
    return items
