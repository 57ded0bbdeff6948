"""Quality-of-life figures: scale means and change from baseline over time, meaningful
change, LARS categories, living with a stoma. Pure: summary frames in, figures out.

Strategy groups keep the fixed colours of their defining strategies (``_theme``) and a
dash each, so curves stay apart in grey print too. Points of different groups at one
timepoint are shifted slightly sideways so their intervals do not hide each other.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from ..i18n import N_, _
from ..schema import LARS_CATEGORIES, QOL_TIMEPOINT, STRATEGY_GROUP
from ._theme import FONT, GROUP_COLOURS, LARS_COLOURS, OKABE_ITO, rgba, white_template
from ._theme import GROUP_SHORT as _THEME_SHORT

GROUP_DASH = {"NOM": "solid", "OPFS": "dash", "RO": "dot", "SYSTEMIC": "dashdot"}
GROUP_SHORT = dict(_THEME_SHORT)  # the theme's one short label per strategy group (English: shown through _())
TIMEPOINT_SHORT = {"BASELINE": N_("Baseline"), "RESTAGING": N_("Restaging"), "M3": N_("3 mo"), "M6": N_("6 mo"),
                   "M12": N_("12 mo"), "M24": N_("24 mo"), "M36": N_("36 mo")}
LARS_LABELS = {"NO_LARS": N_("No LARS (0-20)"), "MINOR": N_("Minor LARS (21-29)"), "MAJOR": N_("Major LARS (30-42)")}
IMPROVED, WORSENED = OKABE_ITO["bluish_green"], OKABE_ITO["vermillion"]
_DODGE = 0.09


def _g(code: str) -> str:
    """The short label of a strategy group in the current language."""
    return _(GROUP_SHORT.get(code, code))


def _layout(fig: go.Figure, height: int, title: str | None = None) -> go.Figure:
    white_template(fig)
    fig.update_layout(font=FONT, height=height, margin=dict(l=60, r=20, t=95 if title else 40, b=50),
                      legend=dict(orientation="h", yanchor="bottom", y=1.03, x=0, title_text="", font=dict(size=12),
                                  itemwidth=30),
                      title=dict(text=title, x=0, xref="paper", y=0.98, yref="container", yanchor="top",
                                 font=dict(size=16)) if title else None, hovermode="closest")
    return fig


def _groups(df: pl.DataFrame) -> list[str]:
    have = set(df["group"].to_list()) if df.height else set()
    return [g for g in STRATEGY_GROUP.codes if g in have]


def _x_axis(fig: go.Figure, timepoints: Sequence[str], row: int | None = None, col: int | None = None) -> None:
    kw = dict(row=row, col=col) if row else {}
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(timepoints))),
                     ticktext=[_(TIMEPOINT_SHORT[t]) if t in TIMEPOINT_SHORT else t for t in timepoints],
                     range=[-0.5, len(timepoints) - 0.5], showgrid=False, **kw)


def _timepoints(df: pl.DataFrame) -> list[str]:
    have = set(df["timepoint"].to_list()) if df.height else set()
    return [t for t in QOL_TIMEPOINT.codes if t in have]


def _fmt(v, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def scale_figure(summary: pl.DataFrame, *, measure: str = "mean", y_label: str, y_range: tuple[float, float] | None = None,
                 band: float | None = None, thresholds: Sequence[tuple[float, str]] = (), min_n: int = 1,
                 title: str | None = None, height: int = 420) -> go.Figure:
    """Mean (``measure="mean"``) or mean change from baseline (``"change"``) with CI
    error bars per strategy group and timepoint.

    Parameters
    ----------
    summary : output of :func:`dashboard.stats.qol.summarize_scale` (or ``summarize_lars``
        for ``"mean"``).
    band : draw a shaded band of +-``band`` around 0 (the meaningful-change threshold).
    thresholds : horizontal reference lines ``(y, label)`` (e.g. LARS category bounds).
    min_n : points based on fewer patients are left out.
    """
    if measure not in ("mean", "change"):
        raise ValueError(f"measure must be 'mean' or 'change', got {measure!r}")
    n_col, m_col, lo_col, hi_col = (("n", "mean", "lower", "upper") if measure == "mean"
                                    else ("n_change", "mean_change", "change_lower", "change_upper"))
    tps = [t for t in _timepoints(summary) if measure == "mean" or t != "BASELINE"]
    if measure == "change":
        tps = ["BASELINE"] + tps
    fig = go.Figure()
    if band:
        fig.add_hrect(y0=-band, y1=band, fillcolor="rgba(120,120,120,0.10)", line_width=0,
                      annotation_text=_("within +-{band} points").format(band=f"{band:g}"), annotation_position="top left",
                      annotation_font=dict(size=11, color="#666"))
        fig.add_hline(y=0, line=dict(color="#888", width=1))
    for y, label in thresholds:
        fig.add_hline(y=y, line=dict(color="#999", width=1, dash="dot"), annotation_text=label,
                      annotation_position="top left", annotation_font=dict(size=11, color="#666"))
    groups = _groups(summary)
    for k, g in enumerate(groups):
        d = summary.filter((pl.col("group") == g) & (pl.col(n_col) >= min_n))
        shift = (k - (len(groups) - 1) / 2) * _DODGE
        xs, ys, lo, hi, texts = [], [], [], [], []
        if measure == "change":
            xs.append(shift), ys.append(0.0), lo.append(0.0), hi.append(0.0)
            texts.append(f"{_g(g)}<br>" + _("Baseline: reference (change 0)"))
        for r in d.iter_rows(named=True):
            if r["timepoint"] not in tps or (measure == "change" and r["timepoint"] == "BASELINE") or r[m_col] is None:
                continue
            xs.append(tps.index(r["timepoint"]) + shift)
            ys.append(r[m_col])
            lo.append(r[lo_col] if r[lo_col] is not None else r[m_col])
            hi.append(r[hi_col] if r[hi_col] is not None else r[m_col])
            ci = (_("no CI (n < 2)") if r[lo_col] is None
                  else _("95% CI {lower} to {upper}").format(lower=_fmt(r[lo_col]), upper=_fmt(r[hi_col])))
            value = (_("mean {value} ({ci})") if measure == "mean" else _("mean change {value} ({ci})")).format(
                value=_fmt(r[m_col]), ci=ci)
            texts.append(f"{_g(g)} - {QOL_TIMEPOINT.label(r['timepoint'])}<br>{value}<br>n = {r[n_col]}")
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", name=_g(g),
            line=dict(color=GROUP_COLOURS.get(g, "#777"), dash=GROUP_DASH.get(g, "solid"), width=2),
            marker=dict(size=7), hovertext=texts, hoverinfo="text",
            error_y=dict(type="data", symmetric=False, array=[h - y for h, y in zip(hi, ys)],
                         arrayminus=[y - lo_ for y, lo_ in zip(ys, lo)], thickness=1.2, width=3,
                         color=GROUP_COLOURS.get(g, "#777")),
        ))
    _x_axis(fig, tps)
    fig.update_yaxes(title_text=y_label, range=list(y_range) if y_range else None, zeroline=False)
    return _layout(fig, height, title)


def meaningful_change_figure(summary: pl.DataFrame, *, mcid: float, min_n: int = 1, title: str | None = None,
                             height: int = 380) -> go.Figure:
    """Share of patients with a meaningful improvement (up) and worsening (down) from their
    baseline, per timepoint and strategy group (bars; hover for counts and exact CIs)."""
    d0 = summary.filter((pl.col("timepoint") != "BASELINE") & (pl.col("n_change") >= min_n))
    tps = _timepoints(d0)
    fig = go.Figure()
    groups = _groups(d0)
    for k, g in enumerate(groups):
        d = d0.filter(pl.col("group") == g)
        x = [tps.index(t) for t in d["timepoint"]]
        for col, sign, opacity in (("improved", 1, 0.95), ("worsened", -1, 0.45)):
            line = (_("improved by >= {mcid} points: {k} of {n} ({pct}%, 95% CI {lower}-{upper}%)") if sign == 1 else
                    _("worsened by >= {mcid} points: {k} of {n} ({pct}%, 95% CI {lower}-{upper}%)"))
            texts = [f"{_g(g)} - {QOL_TIMEPOINT.label(r['timepoint'])}<br>" + line.format(
                         mcid=f"{mcid:g}", k=r["n_" + col], n=r["n_change"], pct=f"{100 * r[col]:.0f}",
                         lower=f"{100 * r[col + '_lower']:.0f}", upper=f"{100 * r[col + '_upper']:.0f}")
                     for r in d.iter_rows(named=True)]
            fig.add_trace(go.Bar(
                x=x, y=[sign * 100 * v for v in d[col]], name=_g(g), legendgroup=g,
                showlegend=sign == 1, offsetgroup=g, marker=dict(color=GROUP_COLOURS.get(g, "#777"), opacity=opacity,
                                                                  pattern=dict(shape="" if sign == 1 else "/")),
                hovertext=texts, hoverinfo="text",
            ))
    fig.add_hline(y=0, line=dict(color="#555", width=1))
    _x_axis(fig, tps)
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(title_text=_("% of patients with a baseline"), ticksuffix="%",
                     tickvals=[-100, -75, -50, -25, 0, 25, 50, 75, 100],
                     ticktext=["100%", "75%", "50%", "25%", "0", "25%", "50%", "75%", "100%"])
    fig.add_annotation(text=_("<b>Improved</b> by >= {mcid} points").format(mcid=f"{mcid:g}"), xref="paper", yref="paper", x=1, y=0.98,
                       showarrow=False, xanchor="right", font=dict(size=12, color=IMPROVED))
    fig.add_annotation(text=_("<b>Worsened</b> by >= {mcid} points (hatched)").format(mcid=f"{mcid:g}"), xref="paper", yref="paper", x=1, y=0.02,
                       showarrow=False, xanchor="right", font=dict(size=12, color=WORSENED))
    return _layout(fig, height, title)


def lars_categories_figure(summary: pl.DataFrame, *, min_n: int = 1, height: int = 400) -> go.Figure:
    """Stacked shares of no / minor / major LARS per timepoint, one panel per strategy
    group; the number of patients above each bar."""
    d0 = summary.filter(pl.col("n") >= min_n)
    groups = _groups(d0)
    tps = _timepoints(d0)
    fig = make_subplots(rows=1, cols=max(len(groups), 1), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[_g(g) for g in groups] or [""])
    codes = [c for c, _, _ in LARS_CATEGORIES]
    for j, g in enumerate(groups, start=1):
        d = d0.filter(pl.col("group") == g)
        x = [tps.index(t) for t in d["timepoint"]]
        for c in codes:
            texts = [f"{_g(g)} - {QOL_TIMEPOINT.label(r['timepoint'])}<br>" + _("{category}: {k} of {n} ({pct}%)").format(
                         category=_(LARS_LABELS[c]), k=r["n_" + c], n=r["n"], pct=f"{100 * r['share_' + c]:.0f}")
                     for r in d.iter_rows(named=True)]
            fig.add_trace(go.Bar(x=x, y=[100 * v for v in d[f"share_{c}"]], name=_(LARS_LABELS[c]), legendgroup=c,
                                 showlegend=j == 1, marker_color=LARS_COLOURS[c], hovertext=texts, hoverinfo="text"),
                          row=1, col=j)
        fig.add_trace(go.Scatter(x=x, y=[103] * len(x), mode="text", text=[f"n={n}" for n in d["n"]],
                                 textfont=dict(size=10, color="#555"), showlegend=False, hoverinfo="skip"), row=1, col=j)
        _x_axis(fig, tps, row=1, col=j)
    fig.update_layout(barmode="stack", bargap=0.2)
    fig.update_annotations(yshift=4)
    fig.update_yaxes(range=[0, 108], ticksuffix="%", tickvals=[0, 25, 50, 75, 100])
    fig.update_yaxes(title_text=_("% of patients answering"), row=1, col=1)
    fig.update_xaxes(tickangle=-45)
    _layout(fig, height)
    fig.update_layout(margin=dict(t=90), legend=dict(y=1.13))
    return fig


def stoma_figure(summary: pl.DataFrame, *, title: str | None = None, height: int = 400) -> go.Figure:
    """Share of followed patients living with a stoma by month after T1 and strategy group,
    with the exact 95% CI as a band."""
    fig = go.Figure()
    for g in _groups(summary):
        d = summary.filter(pl.col("group") == g).sort("month")
        colour = GROUP_COLOURS.get(g, "#777")
        m = d["month"].to_list()
        fig.add_trace(go.Scatter(x=m + m[::-1], y=[100 * v for v in d["share_upper"]] + [100 * v for v in d["share_lower"]][::-1],
                                 fill="toself", fillcolor=rgba(colour, 0.12), line=dict(width=0), hoverinfo="skip",
                                 showlegend=False, legendgroup=g))
        texts = [_("{group} - month {month}<br>with a stoma: {k} of {n} followed ({pct}%, 95% CI {lower}-{upper}%)").format(
                     group=_g(g), month=r["month"], k=r["n_stoma"], n=r["n"], pct=f"{100 * r['share']:.1f}",
                     lower=f"{100 * r['share_lower']:.1f}", upper=f"{100 * r['share_upper']:.1f}")
                 for r in d.iter_rows(named=True)]
        fig.add_trace(go.Scatter(x=m, y=[100 * v for v in d["share"]], mode="lines", name=_g(g),
                                 legendgroup=g, line=dict(color=colour, dash=GROUP_DASH.get(g, "solid"), width=2, shape="hv"),
                                 hovertext=texts, hoverinfo="text"))
    fig.update_xaxes(title_text=_("Months after the strategy decision (T1)"), dtick=6, showgrid=True)
    fig.update_yaxes(title_text=_("% living with a stoma"), ticksuffix="%", rangemode="tozero")
    return _layout(fig, height, title)
