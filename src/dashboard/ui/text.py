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

from ..figures.sanitize import strip_links  # noqa: F401 - re-exported: the ui's one place for outside text

_PUNCT = re.compile("([" + re.escape(string.punctuation) + "])")
_WS = re.compile(r"[\r\n\t\f\v\u2028\u2029]+")


def md_text(value: object, limit: int | None = 200) -> str:
    """``value`` as markdown that renders as exactly that text (cut at ``limit``)."""
    s = _WS.sub(" ", str(value))
    if limit is not None and len(s) > limit:
        s = s[:limit] + "…"
    return _PUNCT.sub(r"\\\1", s)
