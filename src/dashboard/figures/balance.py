"""Propensity-score weighting diagnostics: covariate balance (love plot) and weights."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from ..i18n import _, fmt_int
from ._theme import FONT
from .km import GROUP_COLOURS


def balance_figure(balance: pl.DataFrame, *, threshold: float = 0.1) -> go.Figure:
    """Absolute standardised mean differences before (open circle) and after (filled)
    weighting, one row per covariate level.

    Parameters
    ----------
    balance : ``label, smd_before, smd_after``.
    threshold : reference line (0.1 is the usual limit for acceptable balance).
    """
    k = balance.height
    labels = balance.get_column("label").to_list()
    fig = go.Figure()
    for col, name, sym, colour in (("smd_before", _("Before weighting"), "circle-open", "#c62828"),
                                   ("smd_after", _("After weighting"), "circle", "#1f4e79")):
        fig.add_trace(go.Scatter(x=[abs(v) if v is not None else None for v in balance.get_column(col).to_list()],
                                 y=labels, mode="markers", name=name,
                                 marker=dict(symbol=sym, size=10, color=colour, line=dict(width=2, color=colour)),
                                 hovertemplate="%{y}: |SMD| %{x:.3f}<extra>" + name + "</extra>"))
    fig.add_vline(x=threshold, line=dict(color="#888", dash="dash", width=1.2))
    fig.update_yaxes(autorange="reversed", showgrid=True, gridcolor="#f0f0f0", tickfont=dict(size=13))
    fig.update_xaxes(title=_("Absolute standardised mean difference"), rangemode="tozero", gridcolor="#e6e6e6",
                     showline=True, linecolor="#444")
    fig.update_layout(height=max(280, 90 + 24 * k), font=FONT, plot_bgcolor="white", paper_bgcolor="rgba(0,0,0,0)",
                      margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, xanchor="left"))
    # explicit text colour: Streamlit's chart theme would grey out axis titles and ticks otherwise
    fig.update_xaxes(title_font_color=FONT["color"], tickfont_color=FONT["color"])
    fig.update_yaxes(title_font_color=FONT["color"], tickfont_color=FONT["color"])
    return fig


def weights_figure(weights: pl.DataFrame, *, labels: dict[str, str]) -> go.Figure:
    """Histogram of the IPT weights per arm (``group, weight``)."""
    fig = go.Figure()
    for g, label in labels.items():
        w = weights.filter(pl.col("group") == g).get_column("weight").to_list()
        if w:
            fig.add_trace(go.Histogram(x=w, name=f"{label} (n={fmt_int(len(w))})", opacity=0.6, nbinsx=40,
                                       marker_color=GROUP_COLOURS.get(g, "#1f4e79"),
                                       hovertemplate=_("weight %{x}") + "<br>" + _("%{y} patients") + "<extra></extra>"))
    fig.update_layout(barmode="overlay", height=300, font=FONT, plot_bgcolor="white", paper_bgcolor="rgba(0,0,0,0)",
                      margin=dict(l=10, r=10, t=30, b=10), xaxis_title=_("Weight"), yaxis_title=_("Patients"),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, xanchor="left"))
    fig.update_xaxes(showline=True, linecolor="#444", gridcolor="#e6e6e6")
    fig.update_yaxes(gridcolor="#e6e6e6")
    # explicit text colour: Streamlit's chart theme would grey out axis titles and ticks otherwise
    fig.update_xaxes(title_font_color=FONT["color"], tickfont_color=FONT["color"])
    fig.update_yaxes(title_font_color=FONT["color"], tickfont_color=FONT["color"])
    return fig
