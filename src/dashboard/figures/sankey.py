"""Sankey (alluvial) diagram of strategy transitions over follow-up."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from ..i18n import _, fmt_int
from ..queries.cohort import STATUS, STRATEGY_SHORT, TRANSITION_STAGES
from ._theme import FONT, STATUS_COLOURS, STRATEGY_COLOURS, rgba
from .export import Frame, has_wide, register_layout, text_units, with_layout_kind, wrap_text


NODE_FONT = 14  # node label size (px) on screen and in the normal look


def sankey_figure(transitions: pl.DataFrame, *, height: int = 520) -> go.Figure:
    """Patients flowing from the initial strategy through later strategies to their
    status at last follow-up.

    Parameters
    ----------
    transitions : from :func:`dashboard.queries.cohort.select_strategy_transitions`
        (``source_stage``, ``source``, ``target_stage``, ``target``, ``n``).
    height : figure height in pixels.

    Returns
    -------
    go.Figure : one column per stage, headed with the stage name; node labels carry
        the patient count.
    """
    need = {"source_stage", "source", "target_stage", "target", "n"}
    if not need <= set(transitions.columns):
        raise ValueError(f"transitions need columns {sorted(need)}")
    fig = go.Figure()
    if transitions.height == 0:
        fig.add_annotation(text=_("No patients with a recorded strategy match the filters"), showarrow=False,
                           font=dict(size=16), x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(height=200, xaxis=dict(visible=False), yaxis=dict(visible=False), font=FONT)
        return fig
    inflow: dict[tuple[int, str], int] = {}
    outflow: dict[tuple[int, str], int] = {}
    for r in transitions.iter_rows(named=True):
        outflow[(r["source_stage"], r["source"])] = outflow.get((r["source_stage"], r["source"]), 0) + r["n"]
        inflow[(r["target_stage"], r["target"])] = inflow.get((r["target_stage"], r["target"]), 0) + r["n"]
    order_strat = {c: i for i, c in enumerate(STRATEGY_SHORT.codes)}
    order_status = {c: i for i, c in enumerate(STATUS.codes)}
    keys = sorted(set(inflow) | set(outflow),
                  key=lambda k: (k[0], (order_status if k[0] == 3 else order_strat).get(k[1], 99), k[1]))
    index = {k: i for i, k in enumerate(keys)}
    stages_used = sorted({k[0] for k in keys})
    xpos = {s: i / max(1, len(stages_used) - 1) for i, s in enumerate(stages_used)}

    # plotly places nodes in columns by link depth (sinks at the right), which matches the stages
    labels, colours = [], []
    for k in keys:
        n = max(inflow.get(k, 0), outflow.get(k, 0))
        labels.append(f"{(STATUS if k[0] == 3 else STRATEGY_SHORT).label(k[1])}  {fmt_int(n)}")
        colours.append((STATUS_COLOURS if k[0] == 3 else STRATEGY_COLOURS).get(k[1], "#9e9e9e"))
    src = [index[(r["source_stage"], r["source"])] for r in transitions.iter_rows(named=True)]
    tgt = [index[(r["target_stage"], r["target"])] for r in transitions.iter_rows(named=True)]
    fig.add_trace(go.Sankey(
        arrangement="snap",
        node=dict(label=labels, color=colours, pad=14, thickness=18,
                  line=dict(color="white", width=0.5),
                  hovertemplate="%{label}<extra></extra>"),
        link=dict(source=src, target=tgt, value=transitions["n"].to_list(),
                  color=[rgba(colours[s], 0.35) for s in src],
                  hovertemplate=_("%{source.label} → %{target.label}: %{value} patients") + "<extra></extra>"),
        textfont=dict(size=NODE_FONT, color="#1f2933", shadow="0 0 3px white, 0 0 2px white"),
    ))
    for s in stages_used:
        fig.add_annotation(x=xpos[s], y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False,
                           text=f"<b>{_(TRANSITION_STAGES[s])}</b>", font=dict(size=14),
                           xanchor="left" if xpos[s] == 0 else "right" if xpos[s] == 1 else "center")
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=34, b=8), font=FONT,
                      paper_bgcolor="rgba(0,0,0,0)")
    per_stage = [sum(1 for k in keys if k[0] == s) for s in stages_used]
    return with_layout_kind(fig, "sankey", stages=len(stages_used), most_nodes=max(per_stage))


def _wrap_label(label: str, chars: int) -> str:
    """A node label (``"name  count"``) wrapped to ``chars``; a Chinese name is kept on
    one line when it nearly fits (a term broken inside reads badly) with the count below."""
    if not has_wide(label):
        return wrap_text(label, chars)
    name, sep, count = label.rpartition("  ")
    if not sep:
        return wrap_text(label, chars)
    wrapped = wrap_text(name, int(chars * 1.25))
    last = wrapped.split("<br>")[-1]
    if text_units(last) + 1 + len(count) <= chars:
        return f"{wrapped} {count}"
    return f"{wrapped}<br>{count}"


@register_layout("sankey")
def fit_sankey(spec: dict, frame: Frame) -> None:
    """Export layout of :func:`sankey_figure`: stage headings wrapped to their column,
    node labels on two lines when the columns are narrow, the space between nodes of a
    column at least the height of their labels, and the figure as tall as that needs.

    Where the figure cannot grow enough (the 16:9 slide, the height cap), the node labels
    get fewer lines: first a smaller type (never below the size's minimum), then more of
    the column's width, until the column with the most nodes keeps its gaps (plotly would
    otherwise shrink them and neighbouring labels would run into each other). At single and
    1.5 column the node labels keep the normal look's size in the presentation look too: a
    right-facing label of the third stage and the status label facing it share a gap of a
    fifth of the width."""
    layout = spec["layout"]
    p = (layout.get("meta") or {}).get("layout") or {}
    stages, most = max(1, p.get("stages", 4)), max(1, p.get("most_nodes", 6))
    trace = next((t for t in spec["data"] if t.get("type") == "sankey"), None)
    if trace is None:
        return
    start = max(frame.min_font, (trace.get("textfont") or {}).get("size") or 14)
    if frame.narrow:  # a quarter of 85 or 120 mm holds no larger node labels than the normal look's
        start = min(start, max(frame.min_font, NODE_FONT))
    column = frame.width / stages
    node = trace.setdefault("node", {})
    labels = [str(x) for x in node.get("label") or []]
    base_pad = node.get("pad") or 14
    head_lines = 1
    for note in layout.get("annotations") or []:
        hf = max(frame.min_font, (note.get("font") or {}).get("size") or start)
        note["text"] = wrap_text(note["text"], max(8, int(column * 0.95 / (0.58 * hf))))
        head_lines = max(head_lines, note["text"].count("<br>") + 1)

    def plan(font: int, share: float) -> tuple[list[str], int, int, int]:
        chars = max(8, int(column * share / (0.58 * font)))  # labels of neighbouring columns face each other
        wrapped = [_wrap_label(x, chars) for x in labels] if any(text_units(x) > chars for x in labels) else labels
        lines = max([x.count("<br>") + 1 for x in wrapped] or [1])
        pad = int(max(base_pad, lines * font * 1.3 + 6))
        top = int(head_lines * font * 1.35 + 12 + lines * font * 0.75)
        return wrapped, lines, pad, top

    def fits(pad: int, top: int) -> bool:
        return (most - 1) * pad <= 0.7 * (frame.max_height - top - 8)

    choice = None
    # at single / 1.5 column a right-facing label (third stage) and the left-facing status
    # label beside it share one narrow gap: each gets less than half of it
    shares = (0.42, 0.5, 0.62) if frame.narrow else (0.5, 0.62, 0.75)
    for share in shares:
        for font in range(int(start), int(frame.min_font) - 1, -1):
            wrapped, lines, pad, top = plan(font, share)
            if fits(pad, top):
                choice = (font, wrapped, lines, pad, top)
                break
        if choice:
            break
    if choice is None:  # nothing fits: the smallest type at the widest labels
        font = int(frame.min_font)
        choice = (font, *plan(font, shares[-1]))
    font, wrapped, lines, pad, top = choice
    trace["textfont"] = {**(trace.get("textfont") or {}), "size": font}
    node["label"] = wrapped
    node["pad"] = pad
    # a small node at the top of a column has its label's upper half above the plot
    lift = int(lines * font * 0.75)
    for note in layout.get("annotations") or []:
        note["yshift"] = lift
    layout.setdefault("margin", {})["t"] = top
    need = layout["margin"]["t"] + most * (node["pad"] + 14) + 200
    layout["height"] = int(min(frame.max_height, max(layout.get("height") or 0, need)))
