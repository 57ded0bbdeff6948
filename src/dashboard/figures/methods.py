"""Figures of the methods views: propensity overlap, hazard ratio against a
non-inferiority margin, state occupation (stacked areas), MMRM least-squares means, and
event rates per patient-year. Pure: results in, plotly figures out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from ..i18n import _, fmt_int
from ._theme import FONT, GROUP_COLOURS, OKABE_ITO, STRATEGY_COLOURS, rgba
from .export import Frame, register_layout, text_units, with_layout_kind, wrap_text

_O = OKABE_ITO
STATE_COLOURS = {"ORGAN": _O["bluish_green"], "EXCISED": _O["sky_blue"], "RADICAL": _O["vermillion"],
                 "DISTANT": _O["reddish_purple"], "DEAD": "#555555"}


def _axes(fig: go.Figure) -> go.Figure:
    fig.update_xaxes(showline=True, linecolor="#444", gridcolor="#e6e6e6", title_font_color=FONT["color"],
                     tickfont_color=FONT["color"])
    fig.update_yaxes(gridcolor="#e6e6e6", title_font_color=FONT["color"], tickfont_color=FONT["color"])
    fig.update_layout(font=FONT, plot_bgcolor="white", paper_bgcolor="rgba(0,0,0,0)",
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, xanchor="left"))
    return fig


def _colour(g: str) -> str:
    return GROUP_COLOURS.get(g, STRATEGY_COLOURS.get(g, "#1f4e79"))


def overlap_figure(units: pl.DataFrame, *, labels: Mapping[str, str], column: str = "propensity",
                   band: tuple[float, float] | None = None) -> go.Figure:
    """Distribution of the propensity (or preference) score by arm, as the share of each
    arm's patients per 0.05-wide bin (so arms of different size compare); ``band`` shades
    the equipoise region of the preference score.

    Parameters
    ----------
    units : ``group`` and ``column`` (values in (0, 1)), one row per patient.
    labels : arm code -> legend label, in drawing order.
    """
    edges = np.linspace(0, 1, 21)
    mids = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    if band:
        fig.add_vrect(x0=band[0], x1=band[1], fillcolor="#f2f2f2", line_width=0, layer="below")
    for g, label in labels.items():
        x = units.filter(pl.col("group") == g).get_column(column).to_numpy()
        if x.size == 0:
            continue
        h, _edges = np.histogram(x, bins=edges)
        fig.add_trace(go.Bar(x=mids, y=100 * h / x.size, width=0.05, name=f"{label} (n={fmt_int(x.size)})",
                             marker=dict(color=rgba(_colour(g), 0.55), line=dict(color=_colour(g), width=1.5)),
                             hovertemplate=_("%{x:.3f}: %{y:.1f}% of the arm") + "<extra>" + label + "</extra>"))
    title = (_("Preference score") if column == "preference"
             else _("Propensity score (probability of organ preservation first)"))
    fig.update_layout(barmode="overlay", height=320, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title=title, range=[0, 1], dtick=0.1), yaxis=dict(title=_("Patients of the arm (%)")))
    return _axes(fig)


def ni_figure(rows: pl.DataFrame, *, margin: float, conf_level: float = 0.95) -> go.Figure:
    """Hazard ratios with CIs on a log axis against the null (1) and the non-inferiority
    margin (dashed); ``rows``: ``label, hr, lower, upper`` (top to bottom)."""
    labels = rows.get_column("label").to_list()
    hr, lo, hi = (rows.get_column(c).to_numpy() for c in ("hr", "lower", "upper"))
    fig = go.Figure(go.Scatter(
        x=hr, y=labels, mode="markers", marker=dict(symbol="square", size=12, color="#1f4e79"),
        error_x=dict(type="data", symmetric=False, array=hi - hr, arrayminus=hr - lo, thickness=2.2, width=6,
                     color="#1f4e79"),
        text=[f"HR {a:.2f} ({b:.2f}-{c:.2f})" for a, b, c in zip(hr, lo, hi)],
        hovertemplate="%{y}: %{text}<extra></extra>", showlegend=False))
    lo_x = min(0.2, float(np.nanmin(lo)) * 0.8)
    hi_x = max(margin * 1.6, float(np.nanmax(hi)) * 1.25)
    fig.add_vline(x=1, line=dict(color="#444", width=1.2))
    fig.add_vline(x=margin, line=dict(color=_O["vermillion"], dash="dash", width=2))
    ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10) if lo_x <= t <= hi_x]
    fig.update_layout(
        height=170 + 50 * len(labels), margin=dict(l=10, r=10, t=60, b=10),
        annotations=[dict(x=np.log10(margin), y=1.0, yref="paper", xref="x", text=_("margin {margin}").format(margin=f"{margin:g}"), name="margin",
                          showarrow=False, yanchor="bottom", font=dict(color=_O["vermillion"], size=13)),
                     # at the plot's edges (not at HR 1), so neither runs off the page at any width
                     dict(x=0, y=1.18, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
                          text=_("← favours organ preservation"), showarrow=False, name="favours", font=dict(size=12, color="#444")),
                     dict(x=1, y=1.18, xref="paper", yref="paper", xanchor="right", yanchor="bottom",
                          text=_("favours radical surgery →"), showarrow=False, name="favours", font=dict(size=12, color="#444"))])
    fig.update_xaxes(type="log", range=[np.log10(lo_x), np.log10(hi_x)], tickvals=ticks,
                     ticktext=[f"{t:g}" for t in ticks],
                     title=_("Hazard ratio, organ preservation first vs radical surgery ({level}% CI)").format(
                         level=f"{100 * conf_level:g}"))
    fig.update_yaxes(autorange="reversed")
    return with_layout_kind(_axes(fig), "ni", labels=[str(x) for x in labels])


@register_layout("ni")
def fit_ni(spec: dict, frame: Frame) -> None:
    """Export layout of :func:`ni_figure`: the two "favours ..." labels over the plot's
    left and right halves, each wrapped to its half, above the margin label; the top
    margin holds them at the export's type size (the figure grows by what it adds)."""
    layout = spec["layout"]
    notes = layout.get("annotations") or []
    base = (layout.get("font") or {}).get("size") or 14
    labels = ((layout.get("meta") or {}).get("layout") or {}).get("labels") or []
    # y labels are Latin-heavy ("DFS, IPTW (stabilised, ATE)"): ~0.52 em a character
    label_px = max((text_units(x) * max(frame.min_font, base) * 0.52 for x in labels), default=0) + 24
    half = max(60.0, (frame.width - label_px - 20) / 2 - 10)
    size = lambda n: max(frame.min_font, (n.get("font") or {}).get("size") or base)  # noqa: E731
    margin_h = max((size(n) * 1.35 for n in notes if n.get("name") == "margin"), default=0)
    lines = 1
    for n in notes:
        if n.get("name") == "favours":
            n["text"] = wrap_text(str(n["text"]).replace("<br>", " "), max(8, int(half / (0.58 * size(n)))))
            n["y"], n["yanchor"], n["yshift"] = 1.0, "bottom", int(margin_h + 4)
            lines = max(lines, n["text"].count("<br>") + 1)
    fav_h = max((size(n) * 1.3 * lines for n in notes if n.get("name") == "favours"), default=0)
    plot_w = max(120.0, frame.width - label_px - 20)
    xa = layout.get("xaxis") or {}
    rng = xa.get("range") or [0, 1]
    for n in notes:  # the margin's label stays over the plot: it ends at its line when centring would overflow
        if n.get("name") == "margin" and isinstance(n.get("x"), (int, float)) and rng[1] > rng[0]:
            frac = (float(n["x"]) - rng[0]) / (rng[1] - rng[0])
            half_text = frame.text_px(str(n.get("text", "")), size(n)) / 2
            if frac * plot_w + half_text > plot_w:
                n["xanchor"] = "right"
            elif frac * plot_w - half_text < 0:
                n["xanchor"] = "left"
    title = xa.get("title") if isinstance(xa.get("title"), dict) else None
    if title and title.get("text") and "<br>" not in str(title["text"]):
        tf = max(frame.min_font, ((title.get("font") or {}).get("size") or base * 1.2))
        # centred under the plot: it may reach a little past the plot's ends
        title["text"] = wrap_text(title["text"], max(12, int((plot_w + 30) / (0.56 * tf))))
    m = layout.setdefault("margin", {})
    old = m.get("t") or 60
    m["t"] = int(margin_h + 4 + fav_h + 10)
    if isinstance(layout.get("height"), (int, float)):
        layout["height"] = int(layout["height"] + max(0, m["t"] - old))


def state_occupation_figure(so: pl.DataFrame, *, states: Sequence[tuple[str, str]], groups: Sequence[str],
                            group_label: Callable[[str], str], x_title: str, max_time: float | None = None) -> go.Figure:
    """Stacked areas of the state occupation probabilities (0-100%) over time, one panel
    per group: at each month, where the patients are. ``so``: ``group, time, state,
    pstate`` (:func:`dashboard.stats.multistate.state_occupation`); steps drawn as steps,
    starting from the distribution at time 0 (everyone in the first state when the rows
    start later)."""
    groups = [g for g in groups if g in set(so.get_column("group").to_list())]
    fig = make_subplots(rows=1, cols=max(1, len(groups)), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[group_label(g) for g in groups])
    for k, g in enumerate(groups, start=1):
        part = so.filter(pl.col("group") == g)
        if max_time is not None:
            part = part.filter(pl.col("time") <= max_time)
        times = np.unique(part.get_column("time").to_numpy())
        for code, label in states:
            y = part.filter(pl.col("state") == code).sort("time").get_column("pstate").to_numpy()
            y0 = 1.0 if code == states[0][0] else 0.0
            x = np.concatenate(([0.0], times))
            yy = 100 * np.concatenate(([y0], y))
            fig.add_trace(go.Scatter(x=x, y=yy, mode="lines", stackgroup=f"g{k}", line=dict(width=0.6, shape="hv",
                                     color=STATE_COLOURS.get(code, "#999")), fillcolor=rgba(STATE_COLOURS.get(code, "#999"), 0.8),
                                     name=label, legendgroup=code, showlegend=k == 1,
                                     hovertemplate=_("month %{x:.1f}: %{y:.1f}%") + "<extra>" + label + "</extra>"),
                          row=1, col=k)
        fig.update_xaxes(title_text=x_title if k == (len(groups) + 1) // 2 else None, row=1, col=k)
    fig.update_yaxes(title_text=_("Patients (%)"), range=[0, 100], row=1, col=1)
    fig.update_layout(height=430, margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(orientation="h", y=-0.25, yanchor="top", x=0, xanchor="left", traceorder="normal"))
    _axes(fig)
    fig.update_layout(legend=dict(orientation="h", y=-0.22, yanchor="top", x=0, xanchor="left"))
    return fig


def lsmeans_figure(lsmeans: pl.DataFrame, *, visits: Sequence[str], visit_label: Callable[[str], str],
                   labels: Mapping[str, str], y_title: str) -> go.Figure:
    """Least-squares mean change from baseline with CI per group over the visits (groups
    dodged a little so the intervals do not hide each other); zero line = no change."""
    fig = go.Figure()
    k = len(labels)
    for i, (g, label) in enumerate(labels.items()):
        part = lsmeans.filter(pl.col("group") == g)
        if part.height == 0:
            continue
        pos = {v: j for j, v in enumerate(visits)}
        x = np.array([pos[v] for v in part.get_column("visit").to_list()]) + (i - (k - 1) / 2) * 0.08
        est, lo, hi = (part.get_column(c).to_numpy() for c in ("estimate", "lower", "upper"))
        fig.add_trace(go.Scatter(x=x, y=est, mode="lines+markers", name=label,
                                 line=dict(color=_colour(g), width=2.2), marker=dict(size=8, color=_colour(g)),
                                 error_y=dict(type="data", symmetric=False, array=hi - est, arrayminus=est - lo,
                                              thickness=1.6, width=4, color=_colour(g)),
                                 customdata=np.column_stack([lo, hi]),
                                 hovertemplate=_("%{y:.1f} (%{customdata[0]:.1f} to %{customdata[1]:.1f})")
                                 + "<extra>" + label + "</extra>"))
    fig.add_hline(y=0, line=dict(color="#444", width=1))
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(tickmode="array", tickvals=list(range(len(visits))),
                                 ticktext=[visit_label(v) for v in visits], title=_("Visit")),
                      yaxis=dict(title=y_title))
    return _axes(fig)


def rates_figure(rates: pl.DataFrame, *, labels: Mapping[str, str], level_labels: Mapping[str, str]) -> go.Figure:
    """Event rates per 100 patient-years with exact CIs, one row per group, the event
    classes side by side within it (``group, level, rate, lower, upper``)."""
    fig = go.Figure()
    groups = rates.get_column("group").unique(maintain_order=True).to_list()
    pos = {g: i for i, g in enumerate(groups)}
    k = len(level_labels)
    for j, (lev, lev_label) in enumerate(level_labels.items()):
        part = rates.filter((pl.col("level") == lev) & pl.col("rate").is_not_null())
        ys = np.array([pos[g] for g in part.get_column("group").to_list()]) + (j - (k - 1) / 2) * 0.22
        r, lo, hi = (part.get_column(c).to_numpy() for c in ("rate", "lower", "upper"))
        names = [labels.get(g, g) for g in part.get_column("group").to_list()]
        fig.add_trace(go.Scatter(x=r, y=ys, mode="markers", name=lev_label, text=names,
                                 marker=dict(size=10, symbol=("circle", "diamond")[j % 2], color=COLOURS[j % 2]),
                                 error_x=dict(type="data", symmetric=False, array=hi - r, arrayminus=r - lo,
                                              thickness=2, width=4, color=COLOURS[j % 2]),
                                 hovertemplate=_("%{text}: %{x:.1f} per 100 patient-years") + "<extra>" + lev_label
                                 + "</extra>"))
    fig.update_yaxes(autorange="reversed", tickmode="array", tickvals=list(range(len(groups))),
                     ticktext=[labels.get(g, g) for g in groups], zeroline=False)
    fig.update_layout(height=140 + 55 * len(groups), margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title=_("Events per 100 patient-years (exact 95% CI)"), rangemode="tozero"))
    return _axes(fig)


COLOURS = ("#1f4e79", _O["vermillion"])
