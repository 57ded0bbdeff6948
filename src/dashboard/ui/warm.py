"""Warm the caches in the background: once per server process, store version and language,
every page's default view (no filter) is computed while the user looks at the first page.

Where a first load goes (issue 18, 100k patients, 2 cores): the page modules' imports
(scipy.stats alone ~0.5-1.8 s depending on load) and the first queries and statistics of
each page (0.3-1 s a page); with a new store after an import, every cache misses again.
:func:`warm_in_background` pays both off the request path: it imports every page module
and runs each page's MDT-report section (:func:`dashboard.ui.report.collect_sections`),
which computes the page's default analyses through the same ``cached_query`` keys as the
page itself. It runs in one daemon thread at low OS priority, starts after the run that
triggered it has had a head start, and never raises (a failure only means a cold cache).
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import threading
import time

from ..filters import CohortFilter
from ..i18n import language
from ..store import Store

log = logging.getLogger(__name__)

PAGE_MODULES = ("overview", "cohort", "survival", "organ", "safety", "qol", "patient", "data_page", "methods")
START_DELAY_S = 0.5  # the run that triggered the warm-up draws its own page first
_lock = threading.Lock()
_seen: set[tuple[str, tuple, str]] = set()
_threads: list[threading.Thread] = []


def _enabled() -> bool:
    return os.environ.get("DASHBOARD_WARM", "1") != "0"


def warm_in_background(store: Store, lang: str) -> threading.Thread | None:
    """Start warming ``store`` (pinned to its version) in ``lang``, unless this process
    already did for that version and language. Returns the thread (None when nothing
    was started)."""
    if not _enabled():
        return None
    key = (str(store.path), tuple(store.version), lang)
    with _lock:
        if key in _seen:
            return None
        _seen.add(key)
        pinned = store.pinned()
        thread = threading.Thread(target=_warm, args=(pinned, lang), name="dashboard-warm", daemon=True)
        _threads.append(thread)
    thread.start()
    return thread


def _warm(store: Store, lang: str) -> None:
    t0 = time.perf_counter()
    try:
        try:  # a lower priority than the sessions' own script threads (Linux: per thread)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        time.sleep(START_DELAY_S)
        for name in PAGE_MODULES:
            importlib.import_module(f"{__package__}.{name}")
        from .report import collect_sections

        with language(lang):
            collect_sections(store, CohortFilter())
        log.log(logging.INFO, "caches warmed for %s (%s) in %.1f s", store.path.name, lang, time.perf_counter() - t0)
        _freeze_once()
    except Exception:  # noqa: BLE001 - a failed warm-up only leaves the caches cold
        log.log(logging.ERROR, "warming the caches failed", exc_info=True)


_frozen = False


def _freeze_once() -> None:
    """Once per process, after the first warm-up: collect, then move every object alive
    now (the modules, plotly's validators, the warmed caches) out of the cyclic garbage
    collector's reach (:func:`gc.freeze`). Python's automatic full collections then scan
    only what sessions create since: 100-280 ms each before, holding the GIL for every
    session of the process (issue 18). Frozen objects are still freed when their last
    reference goes; only a reference cycle among them would outlive it."""
    global _frozen
    if os.environ.get("DASHBOARD_GC_FREEZE", "1") == "0":  # tests: their process outlives many stores
        return
    with _lock:
        if _frozen:
            return
        _frozen = True
    gc.collect()
    gc.freeze()


def wait_for_warm_up(timeout: float = 120.0) -> None:
    """Wait for the warm-up threads started so far (tests, benchmarks)."""
    with _lock:
        threads = list(_threads)
    for t in threads:
        t.join(timeout)
