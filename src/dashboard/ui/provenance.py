"""Banner saying what data is on screen."""

from __future__ import annotations

import html

import streamlit as st

from ..i18n import _
from ..provenance import mapping_text
from ..store import Store
from .text import md_text


def data_source_banner(store: Store) -> None:
    """Synthetic data is always labelled as such, on every page (in the page's language)."""
    meta = store.meta()
    built = str(meta.get("built_at", ""))[:10]
    if meta.get("source") == "synthetic":
        if meta.get("mapping_name"):
            detail = _("A synthetic site file, loaded {date}, {mapping}.").format(date=built, mapping=mapping_text(meta))
        else:
            detail = _("Seed {seed}, generator {version}, built {date}.").format(
                seed=meta.get("seed"), version=meta.get("generator_version"), date=built)
        headline = _("SYNTHETIC DEMONSTRATION DATA - not real patients.")
        st.markdown(
            "<div style='background:#fff3cd;border-left:6px solid #e0a800;color:#5c4400;padding:6px 12px;"
            "border-radius:4px;font-size:0.95rem;margin-bottom:4px'>"
            f"<b>{html.escape(headline)}</b> {html.escape(detail)}</div>",
            unsafe_allow_html=True,
        )
    else:
        text = _("Imported registry data - {format} export, loaded {loaded}, content hash {hash}").format(
            format=meta.get("import_format", ""), loaded=meta.get("built_at"), hash=meta.get("content_hash", "")[:12])
        if meta.get("mapping_name"):
            text = _("{imported}; {mapping}").format(imported=text, mapping=mapping_text(meta))
        st.caption(md_text(text, None))
