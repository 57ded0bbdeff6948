"""CONSORT-style flow diagram drawn from a :class:`ConsortFlow` (boxes, lines, counts)."""

from __future__ import annotations

import html

import plotly.graph_objects as go

from ..queries.cohort import ConsortFlow, FlowNode
from ._theme import FONT, RESPONSE_COLOURS, STATUS_COLOURS, STRATEGY_COLOURS, rgba

STATUS_SHORT = {
    "ORGAN_PRESERVED": "organ preserved",
    "RESECTED_NED": "resected, disease-free",
    "REGROWTH_SALVAGED": "regrowth, salvaged R0",
    "REGROWTH_NOT_SALVAGED": "regrowth, not salvaged R0",
    "RECURRENCE_SALVAGED": "recurrence, salvaged R0",
    "WITH_DISEASE": "recurrence / metastasis",
    "DEAD": "died",
    "LOST_TO_FU": "lost to follow-up",
}
GREY = "#546e7a"
LINE = dict(color="#78909c", width=1.5)


def _pct(n: int, d: int) -> str:
    return f" ({100 * n / d:.0f}%)" if d else ""


def _wrap(text: str, chars: int) -> str:
    """Escape and break a label over lines of about ``chars`` characters."""
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > chars:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    lines.append(cur)
    return "<br>".join(html.escape(x) for x in lines)


def consort_figure(flow: ConsortFlow, *, title: str | None = None, compact: bool = False) -> go.Figure:
    """Draw the flow: registered -> excluded (reasons) | received immunotherapy ->
    restaging response -> initial strategy -> status at last follow-up.

    Parameters
    ----------
    flow : counts from :func:`dashboard.queries.cohort.select_consort_flow`.
    title : heading above the diagram (e.g. the registry part in side-by-side view).
    compact : smaller type for a half-width diagram.

    Returns
    -------
    go.Figure : boxes are layout shapes with annotations; hovering a box gives its
        breakdown. The y axis runs in pixels from the top.
    """
    fs = 12 if compact else 14
    small = 11 if compact else 13
    line_px = 17 if compact else 19
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
        return f"<b>{_wrap(n.label, chars)}</b><br>n = {n.n:,}{_pct(n.n, denom) if denom is not None else ''}"

    reg, exc, ici = flow.node("registered"), flow.node("excluded"), flow.node("ici")
    reasons = [flow.node(t) for t, _ in flow.children("excluded")]
    responses = flow.stage("response")
    strategies = flow.stage("strategy")
    statuses = {s.id: [flow.node(t) for t, _ in flow.children(s.id)] for s in strategies}

    top = 44 if title else 8
    bh = 50 if compact else 56
    box(0.33, 0.67, top, bh, GREY, label(reg))
    reg_bottom = top + bh
    exc_h = 12 + line_px * (1 + max(1, len(reasons)))
    ici_top = reg_bottom + max(70, exc_h - 10)
    mid = (reg_bottom + ici_top) / 2
    exc_top = mid - exc_h / 2
    exc_lines = [f"<b>Excluded</b>  n = {exc.n:,}"] + [f"{r.n:,}  {html.escape(r.label)}" for r in reasons]
    if not reasons:
        exc_lines.append("none")
    box(0.70, 0.995, exc_top, exc_h, GREY, "<br>".join(exc_lines), align="left")
    line(0.5, reg_bottom, 0.5, ici_top)
    line(0.5, mid, 0.70, mid)
    box(0.33, 0.67, ici_top, bh, GREY, label(ici))
    ici_bottom = ici_top + bh

    def row(nodes, top_y, height, colours, denom):
        k = max(1, len(nodes))
        gap = 0.012
        width = (1 - gap * (k + 1)) / k
        chars = max(6, int(width * (480 if compact else 900) / (fs * 0.6)))
        centres = []
        for i, n in enumerate(nodes):
            x0 = gap + i * (width + gap)
            centres.append(x0 + width / 2)
            hover = None
            if n.stage == "strategy":
                parts = [f"{src.split(':', 1)[1]}: {m}" for src, tgt, m in flow.edges if tgt == n.id]
                by = [f"{flow.node(src).label}: {m:,}" for src, tgt, m in flow.edges if tgt == n.id]
                hover = f"{n.label}: {n.n:,}<br>by restaging response<br>" + "<br>".join(by) if parts else None
            box(x0, x0 + width, top_y, height, colours.get(n.code, GREY), label(n, denom, chars), hover)
        return centres, width

    resp_top = max(ici_bottom, exc_top + exc_h) + 40
    resp_x, _ = row(responses, resp_top, bh, RESPONSE_COLOURS, ici.n)
    bus1 = resp_top - 20
    line(0.5, ici_bottom, 0.5, bus1)
    line(min(resp_x + [0.5]), bus1, max(resp_x + [0.5]), bus1)
    for x in resp_x:
        line(x, bus1, x, resp_top)
    resp_bottom = resp_top + bh

    strat_top = resp_bottom + 46
    strat_h = bh + (line_px if len(strategies) > 4 else 0)
    strat_x, strat_w = row(strategies, strat_top, strat_h, STRATEGY_COLOURS, ici.n)
    bus2 = strat_top - 23
    for x in resp_x:
        line(x, resp_bottom, x, bus2)
    line(min(resp_x + strat_x), bus2, max(resp_x + strat_x), bus2)
    for x in strat_x:
        line(x, bus2, x, strat_top)
    strat_bottom = strat_top + strat_h

    status_top = strat_bottom + 26
    max_lines = max([len(v) for v in statuses.values()] + [1])
    status_h = 12 + line_px * (max_lines + 1)
    for x, s in zip(strat_x, strategies):
        kids = statuses[s.id]
        lines = ["<i>Status at last follow-up</i>"] + [
            f"<b>{k.n:,}</b> {STATUS_SHORT.get(k.code, k.label)}" for k in kids
        ]
        if not kids:
            lines.append("none")
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
        plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)", font=FONT, hoverlabel=dict(font_size=14),
        dragmode=False,
    )
    return fig
