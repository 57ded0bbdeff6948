"""CONSORT-style flow diagram drawn from a :class:`ConsortFlow` (boxes, lines, counts)."""

from __future__ import annotations

import html

import plotly.graph_objects as go

from ..i18n import N_, _, pgettext
from ..queries.cohort import ConsortFlow, FlowNode
from ._theme import FONT, RESPONSE_COLOURS, STATUS_COLOURS, STRATEGY_COLOURS, rgba
from .export import Frame, layout_params, register_layout, text_units, with_layout_kind, wrap_lines

STATUS_SHORT = {  # English source texts, shown through _()
    "ORGAN_PRESERVED": N_("organ preserved"),
    "RESECTED_NED": N_("resected, disease-free"),
    "REGROWTH_SALVAGED": N_("regrowth, salvaged R0"),
    "REGROWTH_NOT_SALVAGED": N_("regrowth, not salvaged R0"),
    "RECURRENCE_SALVAGED": N_("recurrence, salvaged R0"),
    "WITH_DISEASE": N_("recurrence / metastasis"),
    "DEAD": N_("died"),
    "LOST_TO_FU": N_("lost to follow-up"),
}
GREY = "#546e7a"
LINE = dict(color="#78909c", width=1.5)


def _pct(n: int, d: int) -> str:
    return f" ({100 * n / d:.0f}%)" if d else ""


def _wrap(text: str, chars: int) -> str:
    """Escape and break a label over lines of about ``chars`` characters."""
    return "<br>".join(html.escape(x) for x in wrap_lines(text, chars))


def consort_figure(flow: ConsortFlow, *, title: str | None = None, compact: bool = False,
                   width: int | None = None, font: int | None = None) -> go.Figure:
    """Draw the flow: registered -> excluded (reasons) | received immunotherapy ->
    restaging response -> initial strategy -> status at last follow-up.

    Parameters
    ----------
    flow : counts from :func:`dashboard.queries.cohort.select_consort_flow`.
    title : heading above the diagram (e.g. the registry part in side-by-side view).
    compact : smaller type for a half-width diagram.
    width, font : the canvas width and the type size (px) to lay the boxes out for
        (default: the screen's, 900 px / 14 px; 480 / 12 when compact). The export
        layout step draws the diagram again for the column it goes into.

    Returns
    -------
    go.Figure : boxes are layout shapes with annotations; hovering a box gives its
        breakdown. The y axis runs in pixels from the top.
    """
    canvas = width or (480 if compact else 900)
    fs = font or (12 if compact else 14)
    small = fs if font else fs - 1
    line_px = round(fs * 1.36)
    CH = 0.58 * fs  # average glyph width (px)
    shapes: list[dict] = []
    notes: list[dict] = []
    hover_x, hover_y, hover_text = [], [], []

    def box(x0, x1, top, h, colour, text, hover=None, align="center"):
        shapes.append(dict(type="rect", x0=x0, x1=x1, y0=top, y1=top + h, line=dict(color=colour, width=1.6),
                           fillcolor=rgba(colour, 0.10), layer="below"))
        notes.append(dict(x=(x0 + x1) / 2 if align == "center" else x0 + 0.008, y=top + h / 2, text=text,
                          showarrow=False, xanchor="center" if align == "center" else "left", yanchor="middle",
                          align=align, font=dict(size=fs if align == "center" else small)))
        if hover:
            hover_x.append((x0 + x1) / 2)
            hover_y.append(top + h / 2)
            hover_text.append(hover)

    def line(x0, y0, x1, y1):
        shapes.append(dict(type="line", x0=x0, y0=y0, x1=x1, y1=y1, line=LINE, layer="below"))

    def label(n: FlowNode, denom: int | None = None, chars: int = 40) -> str:
        pct = _pct(n.n, denom) if denom is not None else ""
        count = f"n = {n.n:,}"
        # the count line is not wrapped: the percentage goes below it when both do not fit
        sep = "<br>" if pct and text_units(count + pct) > chars + 1 else ""
        return f"<b>{_wrap(n.label, chars)}</b><br>{count}{sep}{pct.strip() if sep else pct}"

    reg, exc, ici = flow.node("registered"), flow.node("excluded"), flow.node("ici")
    reasons = [flow.node(t) for t, _ in flow.children("excluded")]
    responses = flow.stage("response")
    strategies = flow.stage("strategy")
    statuses = {s.id: [flow.node(t) for t, _ in flow.children(s.id)] for s in strategies}

    def lines_of(text: str) -> int:
        return text.count("<br>") + 1

    top = round(fs * 3.1) if title else 8
    centre_chars = max(10, int(0.34 * canvas / CH) - 2)
    reg_text, ici_text = label(reg, chars=centre_chars), label(ici, chars=centre_chars)
    bh = max(50 if compact else 56, 12 + line_px * max(lines_of(reg_text), lines_of(ici_text)))
    box(0.33, 0.67, top, bh, GREY, reg_text)
    reg_bottom = top + bh
    exc_chars = max(10, int(0.28 * canvas / (0.6 * small)) - 1)
    exc_lines = ["<b>" + html.escape(_("Excluded")) + f"</b>  n = {exc.n:,}"] + [
        _wrap(f"{r.n:,}  {r.label}", exc_chars) for r in reasons]
    if not reasons:
        exc_lines.append(html.escape(pgettext("no boxes", "none")))
    exc_h = 12 + line_px * sum(lines_of(x) for x in exc_lines)
    ici_top = reg_bottom + max(70, exc_h - 10)
    mid = (reg_bottom + ici_top) / 2
    exc_top = mid - exc_h / 2
    box(0.70, 0.995, exc_top, exc_h, GREY, "<br>".join(exc_lines), align="left")
    line(0.5, reg_bottom, 0.5, ici_top)
    line(0.5, mid, 0.70, mid)
    box(0.33, 0.67, ici_top, bh, GREY, ici_text)
    ici_bottom = ici_top + bh

    def row_plan(nodes, denom):
        k = max(1, len(nodes))
        gap = 0.012
        w = (1 - gap * (k + 1)) / k
        chars = max(6, int(w * canvas / CH) - 1)
        texts = [label(n, denom, chars) for n in nodes]
        return chars, max([lines_of(t) for t in texts] + [3])

    def row(nodes, top_y, height, colours, denom):
        k = max(1, len(nodes))
        gap = 0.012
        width = (1 - gap * (k + 1)) / k
        chars = max(6, int(width * canvas / CH) - 1)
        centres = []
        for i, n in enumerate(nodes):
            x0 = gap + i * (width + gap)
            centres.append(x0 + width / 2)
            hover = None
            if n.stage == "strategy":
                parts = [f"{src.split(':', 1)[1]}: {m}" for src, tgt, m in flow.edges if tgt == n.id]
                by = [f"{flow.node(src).label}: {m:,}" for src, tgt, m in flow.edges if tgt == n.id]
                hover = (f"{n.label}: {n.n:,}<br>" + html.escape(_("by restaging response")) + "<br>"
                         + "<br>".join(by)) if parts else None
            box(x0, x0 + width, top_y, height, colours.get(n.code, GREY), label(n, denom, chars), hover)
        return centres, width

    resp_top = max(ici_bottom, exc_top + exc_h) + 40
    resp_h = max(bh, 12 + line_px * row_plan(responses, ici.n)[1])
    resp_x, _w = row(responses, resp_top, resp_h, RESPONSE_COLOURS, ici.n)
    bus1 = resp_top - 20
    line(0.5, ici_bottom, 0.5, bus1)
    line(min(resp_x + [0.5]), bus1, max(resp_x + [0.5]), bus1)
    for x in resp_x:
        line(x, bus1, x, resp_top)
    resp_bottom = resp_top + resp_h

    strat_top = resp_bottom + 46
    strat_chars, strat_lines = row_plan(strategies, ici.n)
    strat_h = max(bh + (line_px if len(strategies) > 4 else 0), 12 + line_px * strat_lines)
    strat_x, strat_w = row(strategies, strat_top, strat_h, STRATEGY_COLOURS, ici.n)
    bus2 = strat_top - 23
    for x in resp_x:
        line(x, resp_bottom, x, bus2)
    line(min(resp_x + strat_x), bus2, max(resp_x + strat_x), bus2)
    for x in strat_x:
        line(x, bus2, x, strat_top)
    strat_bottom = strat_top + strat_h

    status_top = strat_bottom + 26
    status_chars = max(6, int(strat_w * canvas / (0.56 * small)) - 1)
    blocks = {}
    for s in strategies:
        kids = statuses[s.id]
        head = _("Status at last follow-up") if status_chars >= 24 else _("Status at last FU")
        lines = [f"<i>{_wrap(head, status_chars)}</i>"] + [
            _wrap(f"{k.n:,} {_(STATUS_SHORT[k.code]) if k.code in STATUS_SHORT else k.label}", status_chars)
            .replace(f"{k.n:,}", f"<b>{k.n:,}</b>", 1)
            for k in kids]
        if not kids:
            lines.append(html.escape(pgettext("no boxes", "none")))
        blocks[s.id] = lines
    max_lines = max([sum(lines_of(x) for x in v) for v in blocks.values()] + [2])
    status_h = 12 + line_px * max_lines
    for x, s in zip(strat_x, strategies):
        lines = blocks[s.id]
        x0 = x - strat_w / 2
        shapes.append(dict(type="rect", x0=x0, x1=x0 + strat_w, y0=status_top, y1=status_top + status_h,
                           line=dict(color="#b0bec5", width=1), fillcolor="rgba(255,255,255,0)", layer="below"))
        notes.append(dict(x=x0 + 0.006, y=status_top + 8, text="<br>".join(lines), showarrow=False, xanchor="left",
                          yanchor="top", align="left", font=dict(size=small)))
        line(x, strat_bottom, x, status_top)
    height = status_top + status_h + 8
    if title:
        notes.append(dict(x=0.0, y=6, text=f"<b>{html.escape(title)}</b>", showarrow=False, xanchor="left",
                          yanchor="top", font=dict(size=fs + 2)))

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=hover_x, y=hover_y, mode="markers", marker=dict(size=28, opacity=0),
                             hovertext=hover_text, hoverinfo="text", showlegend=False))
    fig.update_layout(
        shapes=shapes, annotations=notes, height=int(height), margin=dict(l=4, r=4, t=4, b=4),
        xaxis=dict(range=[0, 1], visible=False, fixedrange=True),
        yaxis=dict(range=[height, 0], visible=False, fixedrange=True),
        plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)", font={**FONT, "size": fs},
        hoverlabel=dict(font_size=14), dragmode=False,
    )
    return with_layout_kind(fig, "consort", title=title, compact=compact,
                            nodes=[[n.id, n.stage, n.code, n.label, n.n, n.parent] for n in flow.nodes],
                            edges=[list(e) for e in flow.edges])


@register_layout("consort")
def fit_consort(spec: dict, frame: Frame) -> None:
    """Export layout of a :func:`consort_figure`: drawn again for the column's width with
    type at the frame's size (the boxes grow to hold their wrapped labels), so a
    single-column diagram keeps 6-pt type instead of being a scaled-down screen figure."""
    p = layout_params(spec)
    flow = ConsortFlow(tuple(FlowNode(*n) for n in p["nodes"]), tuple(tuple(e) for e in p["edges"]))
    font = frame.min_font + (2 if frame.size == "slide" else 0)
    if frame.presentation:
        font = max(font, round(frame.min_font * 1.3), 18 if frame.size == "slide" else 0)
    while True:  # the type steps down until the diagram fits the frame's height
        fig = consort_figure(flow, title=p.get("title"), compact=bool(p.get("compact")), width=frame.width, font=font)
        if fig.layout.height <= frame.max_height - 8 or font <= frame.min_font:
            break
        font -= 1
    new = fig.to_plotly_json()
    keep_meta = spec["layout"].get("meta")
    spec["data"] = new["data"]
    spec["layout"] = {**new["layout"], "meta": keep_meta}
    if frame.presentation:
        spec["layout"]["font"] = {**spec["layout"]["font"], "color": "#000000"}
