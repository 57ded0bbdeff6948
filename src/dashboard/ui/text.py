"""Text from outside the code (URL parameters, patient ids, registry terms, upload file
names, identity-provider names) put on screen as text, never as markdown or HTML.

Streamlit renders the body of ``st.markdown`` / ``st.caption`` / ``st.warning`` ... as
GitHub-flavoured markdown with its own directives (``:red[...]``, ``:material/icon:``,
emoji shortcodes, ``$...$`` maths). :func:`md_text` escapes every ASCII punctuation
character with a backslash (CommonMark renders an escaped punctuation character
literally, and no link, image, autolink, directive, emphasis or HTML can start from an
escaped one) and folds line breaks, so the value reads exactly as given. Streamlit's
GFM "autolink literal" step still turns ``https://...``, ``www.`` and e-mail addresses
into links after escapes are resolved, so an invisible WORD JOINER (U+2060) follows
every ``:`` and ``@`` and the ``www`` of ``www.``: the text looks the same and no link
is recognised (a copy of it carries the joiners).

Figures: plotly renders ``<a href>`` in any text; :func:`strip_links` removes links
from every string of a figure before it is shown or exported.
"""

from __future__ import annotations

import re
import string

from ..figures.sanitize import strip_links  # noqa: F401 - re-exported: the ui's one place for outside text

_PUNCT = re.compile("([" + re.escape(string.punctuation) + "])")
_WS = re.compile(r"[\r\n\t\f\v\u2028\u2029]+")
_AUTOLINK = re.compile(r"([:@])|(?i:(www)(?=\.))")
WJ = "\u2060"  # WORD JOINER: invisible, breaks GFM autolinks


def md_text(value: object, limit: int | None = 200) -> str:
    """``value`` as markdown that renders as exactly that text (cut at ``limit``)."""
    s = _WS.sub(" ", str(value))
    if limit is not None and len(s) > limit:
        s = s[:limit] + "…"
    s = _AUTOLINK.sub(lambda m: (m.group(1) or m.group(2)) + WJ, s)
    return _PUNCT.sub(r"\\\1", s)


def sentences(*parts: str) -> str:
    """Translated sentences run together as prose: a space between them in English, none
    in Chinese (its full stop ends a sentence without one). Empty parts are skipped."""
    from ..i18n import get_language

    sep = "" if get_language() == "zh" else " "
    return sep.join(p.strip() for p in parts if p and p.strip())


def in_language(fn):
    """``fn`` bound to the language of this run: a widget's ``format_func`` that translates
    keeps the page's language when Streamlit (or AppTest) calls it again later, from
    another thread, to match a value to its label."""
    from ..i18n import get_language, language

    lang = get_language()

    def call(*args, **kwargs):
        with language(lang):
            return fn(*args, **kwargs)

    return call


def lower_first(label: str) -> str:
    """A label run into a sentence: its first letter in lower case ("Full analysis set" ->
    "full analysis set"), abbreviations and the rest as written ("ESD, EMR", "ECOG ...");
    Chinese unchanged."""
    if len(label) > 1 and label[0].isupper() and not label[1].isupper():
        return label[0].lower() + label[1:]
    return label
