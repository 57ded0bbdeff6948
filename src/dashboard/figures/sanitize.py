"""Figures without live links: plotly renders ``<a href>`` in any text of a figure (tick
labels, hover text, titles, annotations), and registry text such as an AE term ends up
there. The app's own figures never link anywhere, so every link tag goes."""

from __future__ import annotations

import re
from typing import Any

import plotly.graph_objects as go

_LINK = re.compile(r"<\s*/?\s*a\b[^>]*>", re.IGNORECASE)


def _has_link(obj: Any) -> bool:
    if isinstance(obj, str):
        return bool(_LINK.search(obj))
    if isinstance(obj, dict):
        return any(_has_link(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_has_link(v) for v in obj)
    return False


def _strip(obj: Any) -> Any:
    if isinstance(obj, str):
        return _LINK.sub("", obj)
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_strip(v) for v in obj)
    return obj


def strip_links(fig: Any) -> Any:
    """The figure without any ``<a ...>`` / ``</a>`` tag in its text (the app's own
    figures never link anywhere; a registry term could try). Returns ``fig`` itself when
    there is nothing to strip (no copy, no re-validation)."""
    d = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else fig
    if not _has_link(d):
        return fig
    return go.Figure(_strip(d))
