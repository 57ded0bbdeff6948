"""Banner saying what data is on screen."""

from __future__ import annotations

import html

import streamlit as st

from ..provenance import mapping_text
from ..store import Store


def data_source_banner(store: Store) -> None:
    """Synthetic data is always labelled as such, on every page."""
    meta = store.meta()
    if meta.get("source") == "synthetic":
        if meta.get("mapping_name"):
            detail = html.escape(f"A synthetic site file, loaded {str(meta.get('built_at', ''))[:10]}, "
                                 f"{mapping_text(meta)}.")
        else:
            detail = html.escape(f"Seed {meta.get('seed')}, generator {meta.get('generator_version')}, "
                                 f"built {str(meta.get('built_at', ''))[:10]}.")
        st.markdown(
            "<div style='background:#fff3cd;border-left:6px solid #e0a800;color:#5c4400;padding:6px 12px;"
            "border-radius:4px;font-size:0.95rem;margin-bottom:4px'>"
            f"<b>SYNTHETIC DEMONSTRATION DATA - not real patients.</b> {detail}</div>",
            unsafe_allow_html=True,
        )
    else:
        st.caption(
            f"Imported registry data - {meta.get('import_format', '')} export, loaded {meta.get('built_at')}, "
            f"content hash {meta.get('content_hash', '')[:12]}"
            + (f"; {mapping_text(meta)}" if meta.get("mapping_name") else "")
        )
