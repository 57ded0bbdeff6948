"""The process-wide store handle (one read-only connection per server process)."""

from __future__ import annotations

import streamlit as st

from ..store import Store, StoreError


@st.cache_resource
def get_store() -> Store:
    return Store()


def store_or_stop() -> Store:
    """The store, or a clear message and a stopped page when there is none."""
    store = get_store()
    try:
        store.version
    except StoreError as exc:
        st.error(str(exc))
        st.stop()
    return store
