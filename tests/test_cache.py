"""The query cache of the pages (ui/data.cached_query): keyed by store version and filter;
results that grow with the registry live in a small cache so memory stays bounded."""

from __future__ import annotations

import pytest

from builders import served_demo
from dashboard.filters import CohortFilter
from dashboard.store import Store
from dashboard.ui.data import cached_query

CALLS: list[CohortFilter] = []


def count_calls(store: Store, flt: CohortFilter) -> int:
    """A stand-in query: records each real call."""
    CALLS.append(flt)
    return len(CALLS)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    for path in served_demo(tmp_path_factory, "cache", 60, 5):
        yield Store(path)


@pytest.mark.parametrize("large, kept", [(True, 8), (False, 512)])
def test_large_results_keep_only_the_most_recent_filters(store, large, kept):
    CALLS.clear()
    filters = [CohortFilter(age=(18 + i, 99)) for i in range(10)]
    for f in filters:
        cached_query(count_calls, store, f, large=large)
    assert len(CALLS) == 10
    cached_query(count_calls, store, filters[-1], large=large)  # recent: served from the cache
    assert len(CALLS) == 10
    cached_query(count_calls, store, filters[0], large=large)  # oldest: evicted from the small cache only
    assert len(CALLS) == (11 if 10 > kept else 10)
