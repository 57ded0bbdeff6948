"""Text from outside the code (URL parameters, patient ids, registry terms, upload file
names, identity-provider names) put on screen as text, never as markdown or HTML.

Streamlit renders the body of ``st.markdown`` / ``st.caption`` / ``st.warning`` ... as
GitHub-flavoured markdown with its own directives (``:red[...]``, ``:material/icon:``,
emoji shortcodes, ``$...$`` maths). :func:`md_text` escapes every ASCII punctuation
character with a backslash (CommonMark renders an escaped punctuation character
literally, and no link, image, autolink, directive, emphasis or HTML can start from an
escaped one) and folds line breaks, so the value reads exactly as given.

Figures: plotly renders ``<a href>`` in any text; :func:`strip_links` removes links
from every string of a figure before it is shown or exported.
"""

from __future__ import annotations

import re
import string
from typing import Any

_PUNCT = re.compile("([" + re.escape(string.punctuation) + "])")
_WS = re.compile(r"[\r\n\t\f\v\u2028\u2029]+")
_LINK = re.compile(r"<\s*/?\s*a\b[^>]*>", re.IGNORECASE)


def md_text(value: object, limit: int | None = 200) -> str:
    """``value`` as markdown that renders as exactly that text (cut at ``limit``)."""
    s = _WS.sub(" ", str(value))
    if limit is not None and len(s) > limit:
        s = s[:limit] + "…"
    return _PUNCT.sub(r"\\\1", s)


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
    import plotly.graph_objects as go

    d = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else fig
    if not _has_link(d):
        return fig
    return go.Figure(_strip(d))
