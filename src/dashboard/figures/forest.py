"""Forest plot of organ preservation (or any proportion) by subgroup."""

from __future__ import annotations

import html

import plotly.graph_objects as go
import polars as pl

from ._theme import FONT

MARK = "#1f4e79"


def forest_figure(rows: pl.DataFrame, *, x_title: str, overall: float | None = None,
                  value_title: str = "% (95% CI)", n_title: str = "Patients") -> go.Figure:
    """One line per subgroup level: point estimate and CI in %, grouped under bold
    subgroup headings, with the patient count and the estimate written on the right.

    Parameters
    ----------
    rows : ``heading`` (bool: a subgroup title row), ``label``, ``n`` (patients),
        ``estimate``, ``lower``, ``upper`` (proportions, null when not estimable) and
        ``text`` (the formatted estimate), top to bottom.
    x_title : axis title, e.g. "Organ-preservation survival at 36 months (%)".
    overall : the overall estimate (proportion), drawn as a dashed reference line.
    value_title, n_title : headings of the two text columns on the right.
    """
    need = {"heading", "label", "n", "estimate", "lower", "upper", "text"}
    if not need <= set(rows.columns):
        raise ValueError(f"rows need columns {sorted(need)}")
    k = rows.height
    shift2 = 10 + 8 * max(len(n_title), 7) + 12  # second text column after the widest count / heading
    y = list(range(k))
    ticks = [f"<b>{html.escape(r['label'])}</b>" if r["heading"] else f"   {html.escape(r['label'])}"
             for r in rows.iter_rows(named=True)]
    pts = rows.with_row_index("y").filter(~pl.col("heading") & pl.col("estimate").is_not_null())
    est = [100 * v for v in pts.get_column("estimate").to_list()]
    lo = [100 * v if v is not None else None for v in pts.get_column("lower").to_list()]
    hi = [100 * v if v is not None else None for v in pts.get_column("upper").to_list()]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=est, y=pts.get_column("y").to_list(), mode="markers",
        marker=dict(symbol="square", size=10, color=MARK),
        error_x=dict(type="data", symmetric=False, array=[(h - e) if h is not None else 0 for e, h in zip(est, hi)],
                     arrayminus=[(e - lw) if lw is not None else 0 for e, lw in zip(est, lo)], color=MARK,
                     thickness=1.8, width=5),
        customdata=list(zip(pts.get_column("label").to_list(), pts.get_column("text").to_list(),
                            pts.get_column("n").to_list())),
        hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}<br>%{customdata[2]:,} patients<extra></extra>",
        showlegend=False, name="estimate",
    ))
    # every annotation and the reference line in one layout update: plotly validates the
    # whole layout on each add_annotation / add_vline call, which costs ~5 ms apiece
    notes = []
    for r in rows.with_row_index("y").iter_rows(named=True):
        if r["heading"]:
            continue
        notes.append(dict(x=1.0, xref="paper", y=r["y"], yref="y", xanchor="left", showarrow=False,
                          text=f"{r['n']:,}", xshift=10, font=dict(size=13)))
        notes.append(dict(x=1.0, xref="paper", y=r["y"], yref="y", xanchor="left", showarrow=False,
                          text=html.escape(r["text"]), xshift=shift2, font=dict(size=13)))
    for text, shift in ((f"<b>{html.escape(n_title)}</b>", 10), (f"<b>{html.escape(value_title)}</b>", shift2)):
        notes.append(dict(x=1.0, xref="paper", y=-1, yref="y", xanchor="left", showarrow=False, text=text,
                          xshift=shift, font=dict(size=13)))
    shapes = [] if overall is None else [dict(type="line", xref="x", yref="y domain", x0=100 * overall,
                                              x1=100 * overall, y0=0, y1=1,
                                              line=dict(color="#888", dash="dash", width=1.2))]
    fig.update_layout(annotations=notes, shapes=shapes)
    fig.update_yaxes(tickvals=y, ticktext=ticks, range=[k - 0.4, -1.6], showgrid=False, zeroline=False,
                     fixedrange=True, tickfont=dict(size=13))
    fig.update_xaxes(range=[0, 100], title=x_title, ticksuffix="%", gridcolor="#e6e6e6", zeroline=False,
                     showline=True, linecolor="#444", dtick=20)
    fig.update_layout(height=max(300, 60 + 24 * (k + 2)), font=FONT, margin=dict(l=10, r=300, t=10, b=10),
                      plot_bgcolor="white", paper_bgcolor="rgba(0,0,0,0)")
    # explicit text colour: Streamlit's chart theme would grey out axis titles and ticks otherwise
    fig.update_xaxes(title_font_color=FONT["color"], tickfont_color=FONT["color"])
    fig.update_yaxes(title_font_color=FONT["color"], tickfont_color=FONT["color"])
    return fig
