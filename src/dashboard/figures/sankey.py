"""Sankey (alluvial) diagram of strategy transitions over follow-up."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from ..queries.cohort import STATUS, STRATEGY_SHORT, TRANSITION_STAGES
from ._theme import FONT, STATUS_COLOURS, STRATEGY_COLOURS, rgba


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
        fig.add_annotation(text="No patients with a recorded strategy match the filters", showarrow=False,
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
        labels.append(f"{(STATUS if k[0] == 3 else STRATEGY_SHORT).label(k[1])}  {n:,}")
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
                  hovertemplate="%{source.label} → %{target.label}: %{value} patients<extra></extra>"),
        textfont=dict(size=14, color="#1f2933", shadow="0 0 3px white, 0 0 2px white"),
    ))
    for s in stages_used:
        fig.add_annotation(x=xpos[s], y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False,
                           text=f"<b>{TRANSITION_STAGES[s]}</b>", font=dict(size=14),
                           xanchor="left" if xpos[s] == 0 else "right" if xpos[s] == 1 else "center")
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=34, b=8), font=FONT,
                      paper_bgcolor="rgba(0,0,0,0)")
    return fig
