"""Everything an AppTest run would have sent to the browser, as bytes to search.

Walks the whole element tree of a finished run (every block and element, whatever its
kind: text, widgets and their options, Arrow tables, figure JSON, expander and tab
labels) and serialises each protobuf, so a test can look for identifiers anywhere in
the delta stream, not only in the element kinds it thought of.
"""

from __future__ import annotations

import re
import string
from typing import Iterator

from streamlit.testing.v1 import AppTest


def _nodes(node) -> Iterator[object]:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def delta_blobs(at: AppTest) -> list[tuple[str, bytes]]:
    """``(element type, serialised protobuf)`` for every node of the run's tree."""
    out = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "SerializeToString"):
            out.append((getattr(node, "type", type(node).__name__), proto.SerializeToString()))
    # the URL the app writes (sent to the browser as page info, outside the element tree)
    out.append(("query_params", repr(sorted((k, at.query_params.get_all(k) if hasattr(at.query_params, "get_all")
                                                else at.query_params[k]) for k in at.query_params)).encode()))
    return out


def ids_found(at: AppTest, ids: set[str]) -> dict[str, set[str]]:
    """Which of ``ids`` occur in which element types of the run (empty: none)."""
    found: dict[str, set[str]] = {}
    punct = re.compile("([" + re.escape(string.punctuation) + "])")
    # as given, and as markdown-escaped text (dashboard.ui.text.md_text: "NOR\\-0000001")
    encoded = [(i, (i.encode(), punct.sub(r"\\\1", i).encode())) for i in ids]
    for kind, blob in delta_blobs(at):
        for i, forms in encoded:
            if any(b in blob for b in forms):
                found.setdefault(kind, set()).add(i)
    return found
