"""Step-curve figures with a number-at-risk table aligned under the time axis: Kaplan-Meier
survival (this module) and cumulative incidence (:mod:`.cif`). Pure: frames in, figure out.

Curves are drawn from the estimator's step table, never one point per patient, and only
through the points where the curve or its band changes (:func:`step_points`: event times,
the start of a thin tail, the last follow-up time): a censoring time changes nothing that is
drawn, and at 100k patients most distinct times are censorings. Every point sent keeps its
exact time, estimate and number at risk for the hover; bands and censor ticks, never
hovered, go in single precision. Under the curves: the number at risk, or the KMunicate
table (Morris et al., BMJ Open 2019: at risk, cumulative censored, cumulative events). Colours: one fixed colour per strategy group and response, taken
from :mod:`._theme`; other factors use the Okabe-Ito colour-blind-safe palette. Strategy
groups also differ by line dash, so the curves stay apart without colour.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from ..i18n import _, fmt_int
from ._theme import FONT, RESPONSE_COLOURS, STRATEGY_COLOURS, readable, rgba
from .export import Frame, layout_params, list_text, register_layout, with_layout_kind

# Strategy groups -> colours of their defining strategies in the shared theme.
GROUP_COLOURS = {"NOM": STRATEGY_COLOURS["WW"], "OPFS": STRATEGY_COLOURS["LE"], "RO": STRATEGY_COLOURS["RO"],
                 "SYSTEMIC": STRATEGY_COLOURS["SYSTEMIC"], "OP": STRATEGY_COLOURS["WW"]}
GROUP_DASH = {"NOM": "solid", "OPFS": "dash", "RO": "dot", "SYSTEMIC": "dashdot", "OP": "solid"}
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
GREY = "#8a8a8a"
CENSOR_MARKS_MAX = 400  # censoring times per curve above which no ticks are drawn
# Curve tails: every curve is drawn to its last time; where fewer than THIN_MIN_AT_RISK
# patients or fewer than THIN_SHARE of the group remain at risk it is drawn thin and faint,
# without its confidence band (the estimate there rests on a handful of patients).
THIN_MIN_AT_RISK = 5
THIN_SHARE = 0.10
THIN_WIDTH = 1.1
INK = "#1f2933"  # explicit text colour: Streamlit's chart theme would grey out axis titles otherwise


def colours_for(factor: str, codes: Sequence[str]) -> dict[str, str]:
    """Fixed colours for strategy groups / strategies / responses, Okabe-Ito otherwise
    (in the order given; "missing" and "not yet known" groups grey)."""
    fixed = {"initial_group": GROUP_COLOURS, "final_group": GROUP_COLOURS, "iptw": GROUP_COLOURS,
             "initial_strategy": STRATEGY_COLOURS, "restaging_response": RESPONSE_COLOURS}.get(factor, {})
    out, k = {}, 0
    for c in codes:
        if c in fixed:
            out[c] = fixed[c]
        elif c in ("MISSING", "AFTER_LANDMARK"):
            out[c] = GREY
        elif c == "ALL":
            out[c] = "#1f4e79"
        else:
            out[c] = OKABE_ITO[k % len(OKABE_ITO)]
            k += 1
    return out


def dashes_for(factor: str, codes: Sequence[str]) -> dict[str, str]:
    if factor in ("initial_group", "final_group", "iptw"):
        return {c: GROUP_DASH.get(c, "solid") for c in codes}
    return {c: "solid" for c in codes}


@dataclass(frozen=True)
class CurveSpec:
    """One drawn curve: ``data`` has ``time, estimate, lower, upper, n_risk`` (and
    ``n_censor`` for censor marks), sorted by time, starting after time 0."""

    key: str
    label: str
    colour: str
    data: pl.DataFrame
    dash: str = "solid"
    show_ci: bool = True
    censor_marks: bool = True
    legend: bool = True
    thin_below: float = 0.0  # drawn thin (no band) where fewer than this remain at risk


def thin_threshold(n: float) -> float:
    """At-risk count below which a curve of a group of ``n`` patients is drawn thin:
    ``max(THIN_MIN_AT_RISK, THIN_SHARE * n)``."""
    return max(float(THIN_MIN_AT_RISK), THIN_SHARE * float(n))


def thin_caption(min_at_risk: float = 0.0, uncut: Sequence[str] = ()) -> str:
    """How the tails were drawn, for the figure caption (in the current language)."""
    share = f"{100 * THIN_SHARE:g}%"
    if not min_at_risk:
        return _("every curve is drawn to its last follow-up; a thin, faint line without confidence band marks the "
                 "stretch where fewer than {n} patients (or fewer than {share} of the group) remain at risk"
                 ).format(n=THIN_MIN_AT_RISK, share=share)
    if not uncut:
        return _("every curve is drawn to its last follow-up; a thin, faint line without confidence band marks the "
                 "stretch where fewer than {n} patients (or fewer than {share} of the group) remain at risk; curves "
                 "stop where fewer than {k} remain at risk").format(n=THIN_MIN_AT_RISK, share=share, k=f"{min_at_risk:g}")
    return _("every curve is drawn to its last follow-up; a thin, faint line without confidence band marks the "
             "stretch where fewer than {n} patients (or fewer than {share} of the group) remain at risk; curves "
             "stop where fewer than {k} remain at risk, except groups that never had {k} at risk ({groups}), drawn "
             "in full rather than left out").format(n=THIN_MIN_AT_RISK, share=share, k=f"{min_at_risk:g}",
                                                    groups=list_text(uncut))


@dataclass(frozen=True)
class RiskRow:
    """One row of the at-risk table: label, colour, and ``time, text`` cells. ``kind`` is
    ``"risk"`` (number at risk, labelled with the group) or, in the KMunicate table,
    ``"censored"`` / ``"events"`` (cumulative counts, labelled with what they count)."""

    label: str
    colour: str
    cells: pl.DataFrame
    kind: str = "risk"


def _cut(data: pl.DataFrame, min_at_risk: float) -> pl.DataFrame:
    """Rows up to the last time with at least ``min_at_risk`` at risk; a curve that never
    had that many at risk is kept whole (a group is never dropped from a figure)."""
    if min_at_risk <= 0 or data.height == 0:
        return data
    ok = (data.get_column("n_risk") >= min_at_risk).to_list()
    last = max((i for i, v in enumerate(ok) if v), default=-1)
    return data if last < 0 else data.head(last + 1)


def _split_thin(d: pl.DataFrame, thin_below: float) -> int:
    """Index of the first row of the thin tail (``d.height`` when there is none)."""
    if thin_below <= 0 or d.height == 0:
        return d.height
    ok = (d.get_column("n_risk") >= thin_below).to_list()
    last = max((i for i, v in enumerate(ok) if v), default=-1)
    return last + 1


def step_points(est: np.ndarray, lower: np.ndarray, upper: np.ndarray, split: int) -> np.ndarray:
    """Indices of the points a step curve (``shape="hv"``) needs: the first, every point
    where the estimate or a band limit changes, point ``split`` (where a thin tail
    starts) and the last (the curve runs flat to the last follow-up time).

    A Kaplan-Meier or cumulative-incidence table has a row per distinct time, most of
    them censoring times where nothing drawn changes; leaving those out draws the same
    figure. A NaN limit that becomes a number (or back) counts as a change.
    """
    n = est.size
    if n <= 2:
        return np.arange(n)
    change = np.zeros(n, dtype=bool)
    change[0] = change[-1] = True
    for a in (est, lower, upper):
        nan = np.isnan(a)
        diff = (a[1:] != a[:-1]) & ~(nan[1:] & nan[:-1])
        change[1:] |= diff | (nan[1:] != nan[:-1])
    change[min(max(split, 0), n - 1)] = True
    return np.flatnonzero(change)


def _compact_counts(n_risk: np.ndarray) -> np.ndarray:
    """Numbers at risk as integers when they are whole (plotly then ships the smallest
    integer type); weighted sums (fractions) stay as they are."""
    if n_risk.size and np.all(np.isfinite(n_risk)) and np.all(n_risk == np.round(n_risk)):
        return n_risk.astype(np.int64)
    return n_risk


def step_figure(
    curves: Sequence[CurveSpec],
    risk_rows: Sequence[RiskRow],
    *,
    x_title: str,
    y_title: str,
    grid: Sequence[float],
    start: float = 1.0,
    y_range: tuple[float, float] = (0.0, 100.0),
    min_at_risk: float = 0.0,
    risk_title: str | None = None,
    title: str | None = None,
    p_text: str | None = None,
    median_lines: bool = False,
) -> go.Figure:
    """Curves (in %) on top, the at-risk table underneath on the same time axis.

    Parameters
    ----------
    curves : what to draw; estimates are proportions, shown as percentages.
    risk_rows : at-risk table rows (top to bottom), cells at the ``grid`` times.
    x_title, y_title : axis titles (with units).
    grid : tick positions of the time axis (months), also the at-risk columns.
    risk_title : heading of the at-risk table (default "Number at risk" in the current
        language).
    start : value of every curve at time 0 (1 for survival, 0 for incidence).
    min_at_risk : each curve stops at the last time with at least this many at risk.
    p_text : written on the plot, bottom left (e.g. "Log-rank p = 0.012").
    median_lines : dashed guide lines from 50% to each curve that reaches it and down to
        the time axis (the median), as survminer's ``surv.median.line = "hv"``.

    The figure's ``layout.meta["censor_note"]`` says how censoring is marked and on which
    curves the ticks are left out (:func:`censor_note`), for captions.
    """
    risk_title = _("Number at risk") if risk_title is None else risk_title
    n_rows = max(1, len(risk_rows))
    table_px = 30 + 26 * n_rows
    plot_px = 440
    gap_px = 78  # tick labels and the axis title between the curves and the table
    area = plot_px + gap_px + table_px
    top_px = 70 if title else 46
    height = area + top_px + 12
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=gap_px / area,
                        row_heights=[plot_px / (plot_px + table_px), table_px / (plot_px + table_px)])
    xmax = max(grid) if grid else 1.0
    medians: list[tuple[float, str]] = []
    left_out: list[str] = []
    traces: list[tuple[go.Scatter, int]] = []  # (trace, subplot row), added in one call: plotly's per-call
    # bookkeeping (subplot lookup, layout re-validation) was most of the figure's build time
    for c in curves:
        d = _cut(c.data, min_at_risk).filter(pl.col("time") <= xmax)
        # numpy arrays, not lists: plotly validates lists element by element and ships
        # arrays base64-encoded, which matters with thousands of steps per curve
        t = np.concatenate(([0.0], d.get_column("time").to_numpy()))
        est = 100 * np.concatenate(([start], d.get_column("estimate").to_numpy()))
        n_risk = np.concatenate(([0.0], d.get_column("n_risk").cast(pl.Float64).to_numpy()))
        if d.height:
            n_risk[0] = n_risk[1]
        lo, hi = (100 * np.concatenate(([start], d.get_column(col).cast(pl.Float64).fill_null(np.nan).to_numpy()))
                  for col in ("lower", "upper"))
        # points 0..k are drawn full (k = last row with enough at risk), k..end thin
        k = _split_thin(d, c.thin_below)  # rows of d before the thin tail; point index k ends the full part
        # only the points where the step curve (or its band) changes, plus the split and the last time:
        # what is drawn is the same, and every kept point keeps its exact values for the hover
        keep = step_points(est, lo, hi, k)
        n_full = int(np.searchsorted(keep, k)) + 1  # kept points 0..k
        full, tail = keep[:n_full], keep[n_full - 1:]
        counts = _compact_counts(n_risk)
        if c.show_ci and k > 0:
            # the band is drawn, never hovered: single precision is far below a pixel
            bx = t[full].astype(np.float32)
            traces.append((go.Scatter(x=bx, y=lo[full].astype(np.float32), mode="lines",
                                     line=dict(width=0, shape="hv"), hoverinfo="skip",
                                     showlegend=False, legendgroup=c.key, connectgaps=True), 1))
            traces.append((go.Scatter(x=bx, y=hi[full].astype(np.float32), mode="lines",
                                     line=dict(width=0, shape="hv"), fill="tonexty",
                                     fillcolor=rgba(c.colour, 0.14), hoverinfo="skip", showlegend=False,
                                     legendgroup=c.key, connectgaps=True), 1))
        # plotly's %{...} placeholders stay inside the messages, unchanged
        few = _("{label} (few at risk)").format(label=c.label)
        hover_rest = ("</b><br>" + _("Month %{x:.1f}: %{y:.1f}%") + "<br>" + _("At risk: %{customdata:,.0f}")
                      + "<extra></extra>")
        hover = "<b>" + c.label + hover_rest
        traces.append((go.Scatter(
            x=t[full], y=est[full], mode="lines", name=c.label, legendgroup=c.key, showlegend=c.legend,
            line=dict(color=c.colour, width=2.6, shape="hv", dash=c.dash),
            customdata=counts[full], hovertemplate=hover,
        ), 1))
        if k < d.height:  # the thin tail, from the last full point on
            traces.append((go.Scatter(
                x=t[tail], y=est[tail], mode="lines", name=few, legendgroup=c.key,
                showlegend=False, opacity=0.65,
                line=dict(color=c.colour, width=THIN_WIDTH, shape="hv", dash=c.dash),
                customdata=counts[tail], hovertemplate="<b>" + few + hover_rest,
            ), 1))
        if median_lines and start == 1.0 and d.height:
            below = d.filter(pl.col("estimate") <= 0.5)
            if below.height:
                m = float(below.get_column("time")[0])
                medians.append((m, c.colour))
        if c.censor_marks and "n_censor" in d.columns:
            cm = d.filter(pl.col("n_censor") > 0)
            if cm.height > CENSOR_MARKS_MAX:
                left_out.append(re.split(r" \(|（", c.label)[0])
            if 0 < cm.height <= CENSOR_MARKS_MAX:  # beyond that the ticks merge into a band over the curve
                traces.append((go.Scatter(
                    x=cm.get_column("time").to_numpy().astype(np.float32),
                    y=(100 * cm.get_column("estimate").to_numpy()).astype(np.float32),
                    mode="markers", marker=dict(symbol="line-ns-open", size=6, color=c.colour, line=dict(width=1), opacity=0.7),
                    legendgroup=c.key, showlegend=False, hoverinfo="skip",
                    name=_("{label} censored").format(label=c.label),
                ), 1))
    labels = []
    for i, r in enumerate(risk_rows):
        cells = r.cells.filter(pl.col("time") <= xmax)
        traces.append((go.Scatter(
            x=cells.get_column("time").to_list(), y=[i] * cells.height, mode="text",
            text=cells.get_column("text").to_list(), textfont=dict(size=13, color=r.colour),
            showlegend=False, hoverinfo="skip", name=_("at risk: {label}").format(label=r.label), cliponaxis=False,
            meta="risk",
        ), 2))
        labels.append(r.label)
    fig.add_traces([t for t, _r in traces], rows=[r for _t, r in traces], cols=[1] * len(traces))
    pad = 0.03 * xmax
    lo, hi = y_range
    # one layout update (each update_*axes / add_annotation call re-validates the layout)
    annotations = [dict(text=f"<b>{risk_title}</b>", xref="paper", yref="y2 domain", x=0, xanchor="left", y=1.0,
                        yanchor="bottom", showarrow=False, font=dict(size=13, color=INK), yshift=2)]
    if p_text:
        annotations.append(dict(text=p_text, xref="x domain", yref="y domain", x=0.02, y=0.03, xanchor="left",
                                yanchor="bottom", showarrow=False, font=dict(size=14, color=INK), name="p"))
    shapes = []
    if medians:
        guide = dict(color="#555555", width=1, dash="dash")
        shapes = [dict(type="line", xref="x", yref="y", x0=0, x1=max(m for m, _ in medians), y0=50, y1=50,
                       line=guide, layer="below")]
        shapes += [dict(type="line", xref="x", yref="y", x0=m, x1=m, y0=y_range[0], y1=50, line=guide, layer="below")
                   for m, _ in medians]
    fig.update_layout(
        xaxis=dict(range=[-pad, xmax + pad], tickvals=list(grid), showgrid=True, gridcolor="#e6e6e6",
                   zeroline=False, showline=True, linecolor="#444", ticks="outside", tickfont=dict(size=13, color=INK),
                   title=dict(text=x_title, standoff=6, font=dict(size=15, color=INK)), showticklabels=True),
        xaxis2=dict(range=[-pad, xmax + pad], tickvals=list(grid), showgrid=False, showticklabels=False,
                    zeroline=False, showline=False, ticks=""),
        yaxis=dict(range=[lo - 1, hi + 2], title=dict(text=y_title, font=dict(size=15, color=INK)), ticksuffix="%",
                   gridcolor="#e6e6e6", zeroline=False, tickfont=dict(size=13, color=INK), showline=True,
                   linecolor="#444"),
        yaxis2=dict(range=[n_rows - 0.5, -0.5], tickvals=list(range(len(labels))), ticktext=labels,
                    showgrid=False, zeroline=False, showline=False, ticks="", fixedrange=True,
                    tickfont=dict(size=13, color=INK)),
        annotations=annotations, **({"shapes": shapes} if shapes else {}),
        height=height, font=FONT, margin=dict(l=10, r=20, t=top_px, b=12),
        legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0, xanchor="left", font=dict(size=14)),
        title=dict(text=title, x=0, font=dict(size=16)) if title else None,
        plot_bgcolor="white", paper_bgcolor="rgba(0,0,0,0)", hovermode="closest",
    )
    with_layout_kind(fig, "km", risk_colours=[r.colour for r in risk_rows], risk_kinds=[r.kind for r in risk_rows],
                     grid=[float(g) for g in grid],
                     plot_px=plot_px, gap_px=gap_px, row_px=26, head_px=30, top_px=top_px)
    fig.layout.meta = {**fig.layout.meta, "censor_note": censor_note(left_out)}
    return fig


def censor_note(left_out: Sequence[str]) -> str:
    """The caption's sentence on censor marks: ticks mark censored follow-up, and on
    which curves they are left out (more than :data:`CENSOR_MARKS_MAX` censoring times,
    where they would merge into a band)."""
    if not left_out:
        return _("Tick marks: censored follow-up.")
    return _("Tick marks: censored follow-up. Not drawn on {groups} (more than {n} censoring times: the ticks "
             "would merge into a band).").format(groups=list_text(left_out), n=CENSOR_MARKS_MAX)


STRATUM_SYMBOL = "\u25A0"  # a filled square in the stratum's colour (ggsurvfit's add_risktable_strata_symbol)


@register_layout("km")
def fit_km(spec: dict, frame: Frame) -> None:
    """Export layout of a :func:`step_figure`: at single / 1.5 column the at-risk rows are
    labelled with coloured symbols (the legend names them) instead of long labels; the
    time grid (ticks and at-risk columns together) is thinned until the widest at-risk
    number fits its column; row spacing follows the type size; the risk numbers are
    never clipped at the axis ends."""
    p = layout_params(spec)
    layout = spec["layout"]
    font = max(frame.min_font, (layout.get("font") or {}).get("size") or 14)
    risk = [t for t in spec["data"] if t.get("meta") == "risk"]
    for t in risk:  # at-risk numbers in the stratum's colour, darkened to WCAG AA on white
        tf = t.setdefault("textfont", {})
        tf["color"] = readable(tf.get("color") or "#1f2933")
    risk_font = max(frame.min_font, *(((t.get("textfont") or {}).get("size") or 13) for t in risk)) if risk else font
    y2 = layout.get("yaxis2") or {}
    labels = [str(x) for x in (y2.get("ticktext") or [])]
    colours = p.get("risk_colours") or []
    kinds = p.get("risk_kinds") or ["risk"] * len(colours)
    if frame.narrow and labels and len(colours) == len(labels) == len(kinds):
        # the group rows get the coloured symbol; KMunicate's censored / events rows keep their word
        y2["ticktext"] = [f"<span style='color:{c}'>{STRATUM_SYMBOL}</span>" if k == "risk" else x
                          for c, k, x in zip(colours, kinds, labels)]
        label_px = max([font * 1.2] + [frame.text_px(x, risk_font) for k, x in zip(kinds, labels) if k != "risk"])
    else:
        label_px = max((frame.text_px(x, risk_font) for x in labels), default=0)
    y_label_px = frame.text_px("100%", font) + font * 1.6  # tick labels and the rotated title of the curves
    left = max(label_px, y_label_px) + 16
    plot_w = frame.width - left - 24
    grid = [float(g) for g in (p.get("grid") or [])]
    texts = [str(x) for t in risk for x in (t.get("text") or [])]
    widest = max((frame.text_px(x, risk_font) for x in texts), default=0)
    step = 1
    if len(grid) > 1:
        span = (max(grid) - min(grid)) * 1.06 or 1.0
        col = plot_w * (grid[1] - grid[0]) / span
        while widest + 8 > col * step and step < len(grid):
            step += 1
    if step > 1:
        keep = set(grid[::step])
        for t in risk:
            pairs = [(x, s) for x, s in zip(t.get("x") or [], t.get("text") or []) if float(x) in keep]
            t["x"], t["text"] = [x for x, _ in pairs], [s for _, s in pairs]
            t["y"] = (t.get("y") or [0])[:1] * len(pairs)
        for name in ("xaxis", "xaxis2"):
            if isinstance(layout.get(name), dict):
                layout[name]["tickvals"] = sorted(keep)
    if len(grid) > 1:  # room for half the widest number left of time 0 and right of the last column
        lo_g, hi_g = min(grid), max(grid)
        pad = (widest / 2 + 6) / max(1.0, plot_w) * (hi_g - lo_g)
        for name in ("xaxis", "xaxis2"):
            if isinstance(layout.get(name), dict):
                layout[name]["range"] = [lo_g - max(pad, 0.03 * hi_g), hi_g + max(pad, 0.03 * hi_g)]
    layout.setdefault("margin", {})["l"] = max(10, int(left - max(label_px, y_label_px)))
    # rows and gaps in px follow the type: at-risk rows 1.9 lines apart, the gap holds the
    # tick labels and the axis title of the curves
    n_rows = max(1, len(labels))
    row_px = max(22, risk_font * 1.6)
    table_px = risk_font * 2.4 + row_px * n_rows
    xt = (((layout.get("xaxis") or {}).get("title") or {}).get("font") or {}).get("size") or font
    gap_px = max(56, font * 1.3 + xt * 1.3 + 18 + risk_font * 1.2)
    plot_px = p.get("plot_px", 440) * (1.0 if frame.size != "slide" else 0.8)
    top = layout.get("margin", {}).get("t", 46)
    legend_rows = 1
    names = [str(t.get("name")) for t in spec["data"] if t.get("showlegend", True) and t.get("name")
             and t.get("meta") != "risk" and t.get("mode") == "lines"]
    if names:
        per_row = max(1, int((frame.width - 20) // (max(frame.text_px(x, font) for x in names) + 50)))
        legend_rows = math.ceil(len(names) / per_row)
    top = int(max(top, legend_rows * font * 1.45 + 16))
    layout["margin"]["t"] = top
    height = top + plot_px + gap_px + table_px + 12
    avail = frame.max_height - bottom_room(layout)
    if height > avail:  # the curves give way first; the table and the gap keep their size
        plot_px = max(160, plot_px - (height - avail))
        height = top + plot_px + gap_px + table_px + 12
    area = plot_px + gap_px + table_px
    layout["height"] = int(height)
    layout["yaxis"]["domain"] = [(table_px + gap_px) / area, 1.0]
    y2["domain"] = [0.0, table_px / area]
    layout["yaxis2"] = y2
    for note in layout.get("annotations") or []:
        if "risk" in str(note.get("text", "")).lower() or note.get("yref") == "y2 domain":
            note["yshift"] = 2


def bottom_room(layout: dict) -> int:
    """The bottom margin a step figure keeps below its at-risk table."""
    return int((layout.get("margin") or {}).get("b") or 12)


def km_curve_data(km: pl.DataFrame, group: str) -> pl.DataFrame:
    """The rows of one group of a :func:`~dashboard.stats.kaplan_meier` table, as a curve."""
    return (km.filter(pl.col("group") == group)
            .select("time", pl.col("survival").alias("estimate"), "lower", "upper", "n_risk", "n_censor"))


def km_figure(
    km: pl.DataFrame,
    risk: pl.DataFrame,
    *,
    groups: Sequence[str],
    label: Callable[[str], str],
    n: dict[str, int],
    colours: dict[str, str],
    dashes: dict[str, str] | None = None,
    x_title: str,
    y_title: str,
    grid: Sequence[float],
    show_ci: bool = True,
    min_at_risk: float = 0.0,
    risk_title: str | None = None,
    n_word: str = "n",
    thin: bool = True,
    p_text: str | None = None,
    median_lines: bool = False,
    kmunicate: bool = False,
) -> go.Figure:
    """Kaplan-Meier curves with CI bands, censor marks and the at-risk table.

    Parameters
    ----------
    km : :func:`~dashboard.stats.kaplan_meier` output (months).
    risk : cells per ``group, time`` with a ``text`` column
        (:func:`dashboard.tables.survival.format_risk_cells`).
    groups : group codes in display order; ``label`` maps a code to its display label.
    n : patients per group for the legend (``"label (n=…)"``).
    min_at_risk : a curve stops where fewer remain at risk (a group that never had that many
        is drawn whole, never left out).
    thin : draw the stretch where fewer than :func:`thin_threshold` remain at risk thin and
        faint, without its band (default).
    p_text, median_lines : see :func:`step_figure` (log-rank p on the plot, median guide lines).
    kmunicate : the KMunicate table (Morris et al., BMJ Open 2019): under each group's
        number at risk, a row of the cumulative number censored and one of the cumulative
        number of events at each tick (``risk`` then needs ``censored_text`` and
        ``events_text`` columns: :func:`dashboard.tables.survival.format_risk_cells`).
    """
    dashes = dashes or {}
    legend = _("{label} ({n_word}={n})")
    specs = [CurveSpec(g, legend.format(label=label(g), n_word=n_word, n=fmt_int(n.get(g, 0))), colours[g], km_curve_data(km, g),
                       dashes.get(g, "solid"), show_ci, thin_below=thin_threshold(n.get(g, 0)) if thin else 0.0)
             for g in groups]
    rows = []
    for g in groups:
        cells = risk.filter(pl.col("group") == g)
        rows.append(RiskRow(label(g), colours[g], cells))
        if kmunicate:
            rows += [RiskRow(_("Censored"), colours[g], cells.select("time", text="censored_text"), "censored"),
                     RiskRow(_("Events"), colours[g], cells.select("time", text="events_text"), "events")]
    return step_figure(specs, rows, x_title=x_title, y_title=y_title, grid=grid, min_at_risk=min_at_risk,
                       risk_title=risk_title, p_text=p_text, median_lines=median_lines)
