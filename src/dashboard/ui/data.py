"""The process-wide store handle and cached query results (one read-only connection
per server process and database file)."""

from __future__ import annotations

import importlib
from typing import Any, Callable

import streamlit as st

from ..filters import CohortFilter
from ..i18n import get_language
from ..store import Store, StoreError, default_db_path


@st.cache_resource(show_spinner=False)
def get_store(path: str | None = None) -> Store:
    """One Store per database path (tests that point ``DASHBOARD_DB`` elsewhere get
    their own store, never a stale one)."""
    return Store(path or default_db_path())


def store_or_stop() -> Store:
    """The store pinned to the version served now (:meth:`Store.pinned`), or a clear message
    and a stopped page when there is none.

    :func:`dashboard.ui.page.page_setup` calls it once per page run and every section
    queries the :class:`~dashboard.ui.page.PageContext`'s store: one snapshot per run, so a
    swap during the run (an import) never mixes two builds on one page, and the next run
    sees the new build."""
    store = get_store(str(default_db_path()))
    try:
        return store.pinned()
    except StoreError as exc:
        st.error(str(exc))
        st.stop()


# ``_store`` (not hashed: a leading underscore) is the store the caller holds, pinned to
# ``version``: a miss computes on exactly the version in the key.
@st.cache_data(max_entries=512, show_spinner=False)
def _cached(module: str, name: str, path: str, version: tuple, flt: CohortFilter, args: tuple, lang: str,
            _store: Store | None = None) -> Any:
    fn = getattr(importlib.import_module(module), name)
    return fn(_store if _store is not None else get_store(path), flt, *args)


@st.cache_data(max_entries=8, show_spinner=False)
def _cached_large(module: str, name: str, path: str, version: tuple, flt: CohortFilter, args: tuple,
                  lang: str, _store: Store | None = None) -> Any:
    fn = getattr(importlib.import_module(module), name)
    return fn(_store if _store is not None else get_store(path), flt, *args)


def cached_query(fn: Callable[..., Any], store: Store, flt: CohortFilter, *args: Any, large: bool = False) -> Any:
    """``fn(store, flt, *args)`` cached per database version and filter.

    ``fn`` must be a module-level ``select_*`` function (looked up again by name).
    ``large=True`` for results that grow with the registry (event-level frames: ~130 MB
    at a million patients): they go to a cache of 8 entries instead of 512, so server
    memory stays bounded however many filters the users try."""
    cache = _cached_large if large else _cached
    # The language is part of the key: a result may hold labels (vocabulary, row titles). The
    # version and the data come from one snapshot (a store that is not pinned is pinned here).
    pinned = store.pinned()
    return cache(fn.__module__, fn.__qualname__, str(pinned.path), pinned.version, flt, tuple(args), get_language(),
                 _store=pinned)
