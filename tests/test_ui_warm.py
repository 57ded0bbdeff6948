"""Warming the caches in the background (issue 18): after the first run on a store version,
every page's default view is computed off the request path, so the next page's first load
(and the first load after an import) finds its analyses cached."""

from __future__ import annotations

import pytest

from builders import served_demo
from dashboard.filters import CohortFilter
from dashboard.queries.survival import FACTORS, TteRequest
from dashboard.stats.summaries import SurvivalOptions
from dashboard.ui import data as ui_data
from dashboard.ui import warm


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "warm", 300, 11)


def test_warm_up_fills_the_default_views_and_runs_once_per_version(db, monkeypatch):
    from dashboard.ui import survival

    monkeypatch.setenv("DASHBOARD_WARM", "1")
    store = ui_data.store_or_stop()
    thread = warm.warm_in_background(store, "en")
    assert thread is not None
    assert warm.warm_in_background(store, "en") is None  # once per process, version and language
    warm.wait_for_warm_up()
    assert not thread.is_alive()

    def refuse(*_a, **_k):
        raise AssertionError("the Survival page's default view was not warmed: it queried the store again")

    # the page's default view (OPS from T1 by initial strategy group, log-log band) is a cache hit now
    monkeypatch.setattr(survival, "select_tte_cells", refuse)
    req = TteRequest("OPS", "T1", "initial_group", (), 0.0)
    opts = SurvivalOptions(conf_type="log-log", reference=FACTORS["initial_group"].reference, adjust=())
    s = ui_data.cached_query(survival.km_analysis, store, CohortFilter(), req, opts)
    assert s is not None and int(s.groups_["n"].sum()) > 0
    # a view that was not warmed still reaches the store (the check above can fail)
    with pytest.raises(AssertionError, match="not warmed"):
        ui_data.cached_query(survival.km_analysis, store, CohortFilter(site=("COLON",)), req, opts)


def test_switched_off_by_the_environment(db, monkeypatch):
    monkeypatch.setenv("DASHBOARD_WARM", "0")
    assert warm.warm_in_background(ui_data.store_or_stop(), "zh") is None


@pytest.mark.parametrize("switch, frozen", [("1", True), ("0", False)])
def test_a_server_freezes_its_warmed_heap_once(switch, frozen):
    """After the first warm-up a server moves what is alive out of the cyclic collector's
    reach (gc.freeze), once per process; DASHBOARD_GC_FREEZE=0 (tests) leaves it alone."""
    import os
    import subprocess
    import sys

    code = (
        "import gc\n"
        "from dashboard.ui import warm\n"
        "warm._freeze_once(); first = gc.get_freeze_count()\n"
        "kept = [[] for _ in range(1000)]\n"  # new objects after the first freeze
        "warm._freeze_once(); print(first, gc.get_freeze_count())\n"
    )
    env = {**os.environ, "DASHBOARD_GC_FREEZE": switch}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    first, second = map(int, out.stdout.split())
    if frozen:
        assert first > 1000 and second == first  # frozen once; the second call froze nothing more
    else:
        assert first == second == 0
