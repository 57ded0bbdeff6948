"""Forest plot of organ preservation (or any proportion) by subgroup."""

from __future__ import annotations

import html

import plotly.graph_objects as go
import polars as pl

from ..i18n import _, fmt_int
from ._theme import FONT
from .export import Frame, layout_params, register_layout, text_units, with_layout_kind, wrap_lines

MARK = "#1f4e79"


def forest_figure(rows: pl.DataFrame, *, x_title: str, overall: float | None = None,
                  value_title: str | None = None, n_title: str | None = None) -> go.Figure:
    """One line per subgroup level: point estimate and CI in %, grouped under bold
    subgroup headings, with the patient count and the estimate written on the right.

    Parameters
    ----------
    rows : ``heading`` (bool: a subgroup title row), ``label``, ``n`` (patients),
        ``estimate``, ``lower``, ``upper`` (proportions, null when not estimable) and
        ``text`` (the formatted estimate), top to bottom.
    x_title : axis title, e.g. "Organ-preservation survival at 36 months (%)".
    overall : the overall estimate (proportion), drawn as a dashed reference line.
    value_title, n_title : headings of the two text columns on the right (default
        "% (95% CI)" and "Patients" in the current language).
    """
    value_title = _("% (95% CI)") if value_title is None else value_title
    n_title = _("Patients") if n_title is None else n_title
    need = {"heading", "label", "n", "estimate", "lower", "upper", "text"}
    if not need <= set(rows.columns):
        raise ValueError(f"rows need columns {sorted(need)}")
    k = rows.height
    shift2 = 10 + 8 * max(text_units(n_title), 7) + 12  # second text column after the widest count / heading
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
        hovertemplate=("<b>%{customdata[0]}</b><br>%{customdata[1]}<br>" + _("%{customdata[2]:,} patients")
                       + "<extra></extra>"),
        showlegend=False,
    ))
    # every annotation and the reference line in one layout update: plotly validates the
    # whole layout on each add_annotation / add_vline call, which costs ~5 ms apiece
    notes = []
    for r in rows.with_row_index("y").iter_rows(named=True):
        if r["heading"]:
            continue
        notes.append(dict(x=1.0, xref="paper", y=r["y"], yref="y", xanchor="left", showarrow=False,
                          text=fmt_int(r["n"]), xshift=10, font=dict(size=13), name="n"))
        notes.append(dict(x=1.0, xref="paper", y=r["y"], yref="y", xanchor="left", showarrow=False,
                          text=html.escape(r["text"]), xshift=shift2, font=dict(size=13), name="EST"))
    for text, shift, name in ((f"<b>{html.escape(n_title)}</b>", 10, "n"), (f"<b>{html.escape(value_title)}</b>", shift2, "EST")):
        notes.append(dict(x=1.0, xref="paper", y=-1, yref="y", xanchor="left", showarrow=False, text=text,
                          xshift=shift, font=dict(size=13), name=name))
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
    return with_layout_kind(fig, "forest", labels=rows["label"].to_list(), headings=rows["heading"].to_list(),
                            n=[None if h else int(v) for h, v in zip(rows["heading"].to_list(), rows["n"].to_list())],
                            x_title=x_title)


@register_layout("forest")
def fit_forest(spec: dict, frame: Frame) -> None:
    """Export layout of a :func:`forest_figure`: the text columns on the right as wide as
    their widest entry (at single / 1.5 column the patient count joins the label, e.g.
    "Rectum (789)"), subgroup labels wrapped into what is left beside a plot of at least
    a quarter of the width, rows as tall as their wrapped labels; when that is taller
    than the frame allows, the type steps down (never below ``frame.min_font``)."""
    p = layout_params(spec)
    layout = spec["layout"]
    ya = layout.get("yaxis") or {}
    start = max(frame.min_font, (ya.get("tickfont") or {}).get("size") or 13, (layout.get("font") or {}).get("size") or 12)
    notes = layout.get("annotations") or []
    labels, heads, counts = p.get("labels") or [], p.get("headings") or [], p.get("n") or []
    if frame.narrow and len(counts) == len(labels):
        notes = [n for n in notes if n.get("name") != "n"]
        labels = [lb if h or c is None else f"{lb} ({fmt_int(c)})" for lb, h, c in zip(labels, heads, counts)]
        layout["annotations"] = notes
    cols = {name: [n for n in notes if n.get("name") == name] for name in ("n", "EST")}
    k = len(labels)

    def plan(font: int):
        width = {c: max((frame.text_px(n.get("text", ""), font) for n in v), default=0) for c, v in cols.items()}
        right = (font + width["n"] if width["n"] else 0) + font + width["EST"] + 8
        plot_min = max(110, 0.24 * frame.width)
        chars = max(12, int((frame.width - right - plot_min - 24) / (0.56 * font)))
        wrapped = [wrap_lines(lb, chars - (0 if h else 3)) for lb, h in zip(labels, heads)]
        n_lines = max((len(w) for w in wrapped), default=1)
        row_px = max(22, n_lines * font * 1.25 + 8)
        return width, right, plot_min, wrapped, row_px, 30 + row_px * (k + 1.6) + 4.5 * font + 40

    font = start
    while True:
        width, right, plot_min, wrapped, row_px, need = plan(font)
        if need <= frame.max_height or font <= frame.min_font:
            break
        font -= 1
    ticks = []
    for lines, h in zip(wrapped, heads):
        esc = [html.escape(x) for x in lines]
        ticks.append("<br>".join(f"<b>{x}</b>" for x in esc) if h else "<br>".join(f"   {x}" for x in esc))
    if ticks:
        ya["ticktext"] = ticks
    ya["tickfont"] = {**(ya.get("tickfont") or {}), "size": font}
    label_px = max((frame.text_px(x, font) for w in wrapped for x in w), default=0) + 3 * font * 0.56
    plot_w = max(plot_min, frame.width - right - label_px - 24)
    xa = layout.setdefault("xaxis", {})
    xa["tickfont"] = {**(xa.get("tickfont") or {}), "size": font}
    title = p.get("x_title") or ""
    if title:
        tf = font + 1
        xa["title"] = {**(xa.get("title") or {}), "font": {**((xa.get("title") or {}).get("font") or {}), "size": tf},
                       "text": "<br>".join(html.escape(x) for x in
                                           wrap_lines(title, max(14, int((plot_w + label_px * 0.8) / (0.56 * tf)))))}
    xa["tickangle"] = 0
    for n in notes:
        n["font"] = {**(n.get("font") or {}), "size": font}
    for n in cols["n"]:
        n["xshift"] = font
    for n in cols["EST"]:
        n["xshift"] = (font + width["n"] if width["n"] else 0) + font
    margin = layout.setdefault("margin", {})
    margin["r"] = int(right)
    margin["l"] = 10
    margin["t"] = max(margin.get("t") or 10, 10)
    layout["height"] = int(min(frame.max_height, 30 + row_px * (k + 1.6)))
    ya["automargin"] = True
    layout["yaxis"] = ya
    xa["dtick"] = 20 if plot_w > 260 else 25
