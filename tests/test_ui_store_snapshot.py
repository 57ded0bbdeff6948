"""One store snapshot per page run (issue 18): a swap during a run never mixes two builds.

``ui.data.store_or_stop`` pins the store to the version served when the run starts
(``Store.pinned``); every ``cached_query`` of the run computes on, and is keyed by, that
version. The next run sees the new build.
"""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from builders import small_fill
from dashboard.filters import CohortFilter
from dashboard.store import PinnedStore, Store, build_store
from dashboard.ui import data as ui_data


# module-level query functions, looked up by name as cached_query requires
def select_subjects(store: Store, _flt: CohortFilter) -> int:
    return int(store.sql("SELECT count(*) AS n FROM subject")["n"][0])


def select_subjects_again(store: Store, _flt: CohortFilter) -> int:
    with store.query_cursor() as cur:
        return int(cur.execute("SELECT count(*) FROM subject").fetchone()[0])


@pytest.fixture()
def served(tmp_path, monkeypatch):
    db = tmp_path / "registry.duckdb"
    build_store(db, small_fill(2), {"source": "synthetic"})
    monkeypatch.setenv("DASHBOARD_DB", str(db))
    ui_data.get_store.clear()
    yield db
    ui_data.get_store.clear()


def _swap(db, n: int) -> None:
    time.sleep(0.01)  # a new mtime even on a coarse clock
    build_store(db, small_fill(n), {"source": "imported"})


def test_a_swap_mid_run_does_not_mix_two_builds(served):
    run = ui_data.store_or_stop()  # what page_setup does first
    assert isinstance(run, PinnedStore)
    v = run.version
    assert ui_data.cached_query(select_subjects, run, CohortFilter()) == 2
    _swap(served, 5)  # an import lands while the page is still drawing
    # every later query of the same run reads the build the run started on ...
    assert ui_data.cached_query(select_subjects_again, run, CohortFilter()) == 2
    assert run.version == v and run.meta()["source"] == "synthetic"
    assert select_subjects(run, CohortFilter()) == 2
    # ... and the next run sees the new one, with its own cache entries (keyed by version)
    nxt = ui_data.store_or_stop()
    assert nxt.version != v and nxt.meta()["source"] == "imported"
    assert ui_data.cached_query(select_subjects_again, nxt, CohortFilter()) == 5
    assert ui_data.cached_query(select_subjects, nxt, CohortFilter()) == 5
    # the old run's entry is still the old build's number, never the new one under the old key
    assert ui_data.cached_query(select_subjects, run, CohortFilter()) == 2


def test_a_store_that_is_not_pinned_is_pinned_per_query(served):
    store = ui_data.get_store(str(served))
    assert ui_data.cached_query(select_subjects, store, CohortFilter()) == 2
    _swap(served, 3)
    assert ui_data.cached_query(select_subjects, store, CohortFilter()) == 3


PAGE = """
from dashboard.filters import CohortFilter
from dashboard.store import build_store
from dashboard.ui import data as ui_data
import test_ui_store_snapshot as t
from builders import small_fill
import streamlit as st, time

run = ui_data.store_or_stop()
st.write("before", ui_data.cached_query(t.select_subjects, run, CohortFilter()))
if not st.session_state.get("swapped"):
    st.session_state["swapped"] = True
    time.sleep(0.01)
    build_store(run.path, small_fill(7), {"source": "imported"})
st.write("after", ui_data.cached_query(t.select_subjects_again, run, CohortFilter()))
st.write("source", run.meta()["source"])
"""


def test_a_page_run_reads_one_build_and_the_next_run_the_new_one(served, tmp_path):
    at = AppTest.from_string(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert [m.value for m in at.markdown] == ["before `2`", "after `2`", "source synthetic"]
    at.run()
    assert [m.value for m in at.markdown] == ["before `7`", "after `7`", "source imported"]
