"""Results -> plotly figures (``*_figure``): pure, no I/O, no Streamlit. The only layer
that imports plotly."""

from dashboard.figures.consort import consort_figure
from dashboard.figures.sankey import sankey_figure

__all__ = ["consort_figure", "sankey_figure"]
