"""The shared figure theme: plotly_white assigned without plotly's deep copy (issue 18)."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import plotly.io as pio

from dashboard.figures import qol
from dashboard.figures._theme import FONT, white_template


def _figure() -> go.Figure:
    fig = go.Figure(go.Scatter(x=[0, 3, 6], y=[100, 80, 75], mode="lines", line_shape="hv"))
    return fig.update_layout(font=FONT, height=320, margin=dict(l=60, r=20, t=40, b=50))


def test_white_template_gives_the_same_figure_as_naming_the_template():
    named = json.loads(pio.to_json(_figure().update_layout(template="plotly_white"), validate=False))
    ours = json.loads(pio.to_json(white_template(_figure()), validate=False))
    assert ours == named
    assert ours["layout"]["template"]["layout"]["plot_bgcolor"] == "white"


def test_changing_a_figures_template_leaves_the_registered_one_alone():
    before = pio.templates["plotly_white"].to_plotly_json()
    fig = white_template(_figure())
    fig.layout.template.layout.font.size = 99  # as a presentation look might
    fig.layout.template.layout.plot_bgcolor = "black"
    assert pio.templates["plotly_white"].to_plotly_json() == before
    assert white_template(_figure()).layout.template.layout.plot_bgcolor == "white"
    assert fig.layout._validate  # validation is back on for the figure's later updates


def test_qol_figures_carry_plotly_white():
    fig = qol._layout(go.Figure(), 300)
    assert fig.layout.template.to_plotly_json() == pio.templates["plotly_white"].to_plotly_json()
