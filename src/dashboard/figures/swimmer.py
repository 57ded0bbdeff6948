"""Swimmer plot: one lane per Watch & Wait or local / endoscopic resection patient, from
the strategy decision (T1) to last contact, with the events along the way."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from ..i18n import _, fmt_int, pgettext
from ._theme import FONT, STRATEGY_COLOURS, rgba

# Marker outlines in the marker's own colour: presentation mode thickens every line
# (a white outline would then swallow the small markers).
EVENT_STYLE = {
    "SURVEILLANCE": dict(symbol="line-ns-open", size=6, color="#546e7a", line=dict(width=1)),
    "REGROWTH": dict(symbol="triangle-up", size=10, color="#ef6c00", line=dict(width=0.5, color="#ef6c00")),
    "LOCAL_EXCISION": dict(symbol="diamond", size=9, color="#00897b", line=dict(width=0.5, color="#00897b")),
    "RADICAL": dict(symbol="square", size=8, color="#c62828", line=dict(width=0.5, color="#c62828")),
    "DISTANT": dict(symbol="star", size=11, color="#6a1b9a", line=dict(width=0.5, color="#6a1b9a")),
    "LAST_CONTACT": dict(symbol="arrow-right", size=8, color="#1f2933"),
    "DEATH": dict(symbol="x-thin-open", size=9, color="#000000", line=dict(width=2)),
}


def swimmer_figure(patients: pl.DataFrame, events: pl.DataFrame, *, event_labels: dict[str, str],
                   strategy_labels: dict[str, str], x_title: str | None = None,
                   show_ids: bool | None = None, hide_ids: bool = False, first_lane: int = 0) -> go.Figure:
    """Lanes (bars from 0 to follow-up, coloured by initial strategy) and event markers.

    Parameters
    ----------
    patients : ``lane`` (0 = top), ``subject_id``, ``initial_strategy``, ``followup`` and
        ``organ_lost`` (months from T1; the lane turns grey after organ loss).
    events : ``subject_id``, ``kind`` (key of ``event_labels``), ``month``.
    show_ids : write patient identifiers on the y axis (default: up to 60 lanes).
    hide_ids : presentation mode: no patient identifier anywhere in the figure (axis or
        hover); lanes are called "Patient k", numbered from ``first_lane + 1``.
    first_lane : number of lanes in earlier views (paging), for the masked names.
    x_title : axis title (default "Months from T1 (strategy decision)" in the current language).
    """
    x_title = _("Months from T1 (strategy decision)") if x_title is None else x_title
    fig = go.Figure()
    n = patients.height
    if n == 0:
        fig.add_annotation(text=_("No Watch & Wait or local / endoscopic resection patients match the filters"),
                           showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=15))
        fig.update_layout(height=200, xaxis=dict(visible=False), yaxis=dict(visible=False), font=FONT)
        return fig
    show_ids = n <= 60 if show_ids is None else show_ids
    if hide_ids:  # every subject_id below is replaced by a lane name before it reaches the figure
        patient_k = _("Patient {k}")
        masked = {sid: patient_k.format(k=first_lane + lane + 1) for sid, lane in
                  zip(patients.get_column("subject_id").to_list(), patients.get_column("lane").to_list())}
        patients = patients.with_columns(pl.col("subject_id").replace_strict(masked, return_dtype=pl.String))
        events = (events.filter(pl.col("subject_id").is_in(list(masked)))
                  .with_columns(pl.col("subject_id").replace_strict(masked, return_dtype=pl.String)))
    bar_w = 0.62
    for code, label in strategy_labels.items():
        p = patients.filter(pl.col("initial_strategy") == code)
        if p.height == 0:
            continue
        fig.add_trace(go.Bar(
            x=p.get_column("followup").to_list(), y=p.get_column("lane").to_list(), base=0, orientation="h",
            width=bar_w, marker=dict(color=rgba(STRATEGY_COLOURS.get(code, "#9e9e9e"), 0.35), line=dict(width=0)),
            name=_("{strategy} (lane)").format(strategy=label), legendgroup="lanes",
            legendgrouptitle_text=_("Initial strategy"), customdata=p.get_column("subject_id").to_list(),
            hovertemplate="%{customdata}<br>" + _("Followed %{x:.1f} months from T1") + "<extra>" + label + "</extra>",
        ))
    lost = patients.filter(pl.col("organ_lost").is_not_null() & (pl.col("organ_lost") < pl.col("followup")))
    if lost.height:
        fig.add_trace(go.Bar(
            x=(lost.get_column("followup") - lost.get_column("organ_lost").clip(lower_bound=0)).to_list(),
            y=lost.get_column("lane").to_list(), base=lost.get_column("organ_lost").clip(lower_bound=0).to_list(),
            orientation="h", width=bar_w, marker=dict(color="#cfd8dc", line=dict(width=0)),
            name=_("After radical surgery (organ lost)"), legendgroup="lanes",
            customdata=lost.get_column("subject_id").to_list(),
            hovertemplate="%{customdata}<br>" + _("Organ lost at month %{base:.1f}") + "<extra></extra>",
        ))
    lane = dict(zip(patients.get_column("subject_id").to_list(), patients.get_column("lane").to_list()))
    ev = events.filter(pl.col("subject_id").is_in(list(lane)))
    for kind, label in event_labels.items():
        e = ev.filter(pl.col("kind") == kind)
        if e.height == 0:
            continue
        fig.add_trace(go.Scatter(
            x=e.get_column("month").to_list(), y=[lane[s] for s in e.get_column("subject_id").to_list()],
            mode="markers", marker=EVENT_STYLE.get(kind, dict(size=7)), name=label, legendgroup="events",
            legendgrouptitle_text=pgettext("legend", "Events"), customdata=e.get_column("subject_id").to_list(),
            hovertemplate="%{customdata}<br>" + _("{event} at month %{x:.1f}").replace("{event}", label)
                          + "<extra></extra>",
        ))
    pitch = 9 if n > 120 else 14 if n > 60 else 20
    ids = patients.get_column("subject_id").to_list()
    fig.update_yaxes(range=[n - 0.5, -0.5], tickvals=list(range(n)) if show_ids else [],
                     ticktext=ids if show_ids else [],
                     title="" if show_ids else _("{n} patients (one lane each)").format(n=fmt_int(n)),
                     showgrid=False, zeroline=False, tickfont=dict(size=11))
    xmax = float(max(patients.get_column("followup").max() or 0, ev.get_column("month").max() or 0))
    fig.update_xaxes(title=x_title, range=[-1, xmax * 1.03 + 1], dtick=6 if xmax <= 48 else 12, gridcolor="#e6e6e6",
                     zeroline=True, zerolinecolor="#444", showline=True, linecolor="#444")
    fig.update_layout(height=int(120 + pitch * n), font=FONT, barmode="overlay", plot_bgcolor="white",
                      margin=dict(l=10, r=10, t=10, b=10), paper_bgcolor="rgba(0,0,0,0)",
                      legend=dict(orientation="v", x=1.01, xanchor="left", y=1, yanchor="top", font=dict(size=13),
                                  groupclick="toggleitem"),
                      bargap=0)
    # explicit text colour: Streamlit's chart theme would grey out axis titles and ticks otherwise
    fig.update_xaxes(title_font_color=FONT["color"], tickfont_color=FONT["color"])
    fig.update_yaxes(title_font_color=FONT["color"], tickfont_color=FONT["color"])
    return fig
