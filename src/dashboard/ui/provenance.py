"""Banner and footer saying what data is on screen."""

from __future__ import annotations

import streamlit as st

from ..store import Store


def data_source_banner(store: Store) -> None:
    """Synthetic data is always labelled as such, on every page."""
    meta = store.meta()
    if meta.get("source") == "synthetic":
        st.warning(
            f"**Synthetic demonstration data** - not real patients. Generated with seed {meta.get('seed')} "
            f"(generator {meta.get('generator_version')}, built {meta.get('built_at')}).",
            icon=":material/science:",
        )
    else:
        st.caption(
            f"Imported registry data - {meta.get('import_format', '')} export, loaded {meta.get('built_at')}, "
            f"content hash {meta.get('content_hash', '')[:12]}"
        )
