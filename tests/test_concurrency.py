"""Concurrent sessions while imports swap the store (issue 7, the small version).

Twenty threads, each a "session" with its own cohort filter, query the shared Store in a
loop while the main thread imports two different registries over it, again and again.
Every query must succeed, and its count must be the right one for the registry it read
(each registry knows its seed in ``_meta``, read on the same cursor as the count).
"""

from __future__ import annotations

import threading

import duckdb
import pytest

from dashboard.filters import CohortFilter
from dashboard.ingest import export_registry, import_registry
from dashboard.store import Store
from dashboard.synth import build_demo

FILTERS = [
    CohortFilter(),
    CohortFilter(site=("RECTUM",)),
    CohortFilter(site=("COLON",)),
    CohortFilter(site=("GASTRIC", "GEJ")),
    CohortFilter(cohort=("PROSP",)),
    CohortFilter(cohort=("RETRO",)),
    CohortFilter(response=("CCR",)),
    CohortFilter(response=("NEAR_CCR", "NON_CCR")),
    CohortFilter(strategy=("WW",)),
    CohortFilter(strategy=("RO",)),
    CohortFilter(sex=("F",)),
    CohortFilter(sex=("M",)),
    CohortFilter(age=(18, 50)),
    CohortFilter(age=(60, 100)),
    CohortFilter(biomarker=("DMMR_IHC",)),
    CohortFilter(biomarker=("POLE", "MSIH_NGS")),
    CohortFilter(ecog=("0",)),
    CohortFilter(regimen=("PD1",)),
    CohortFilter(site=("RECTUM",), response=("CCR",), strategy=("WW",)),
    CohortFilter(cohort=("RETRO",), sex=("F",), age=(40, 70)),
]

QUERY = "SELECT (SELECT value FROM _meta WHERE key = 'seed') AS seed, count(*) FILTER (WHERE {w}) AS n, count(*) AS m FROM adsl"


@pytest.fixture(scope="module")
def registries(tmp_path_factory):
    base = tmp_path_factory.mktemp("concurrency")
    out = {}
    for seed, n in ((11, 500), (22, 700)):
        db = base / f"src{seed}.duckdb"
        build_demo(db, n, seed, progress=False)
        folder = base / f"export{seed}"
        export_registry(db, folder)
        con = duckdb.connect(str(db), read_only=True)
        truth = {}
        for i, flt in enumerate(FILTERS):
            w, params = flt.where_sql()
            truth[i] = con.execute(QUERY.format(w=w), params).fetchone()[1:]
        con.close()
        out[str(seed)] = (folder, truth)
    return base, out


def test_twenty_sessions_while_imports_swap_the_store(registries):
    base, regs = registries
    served = base / "served.duckdb"
    import_registry(regs["11"][0], served)
    store = Store(served)
    stop = threading.Event()
    errors: list[str] = []
    seen: list[set[str]] = [set() for _ in FILTERS]
    n_queries = [0] * len(FILTERS)

    def session(i: int) -> None:
        w, params = FILTERS[i].where_sql()
        sql = QUERY.format(w=w)
        while not stop.is_set():
            try:
                _, cur = store.snapshot()
                try:
                    seed, n, m = cur.execute(sql, params).fetchone()
                finally:
                    cur.close()
                if (n, m) != regs[seed][1][i]:
                    errors.append(f"session {i}: registry {seed} gave {(n, m)}, expected {regs[seed][1][i]}")
                seen[i].add(seed)
                n_queries[i] += 1
            except Exception as exc:  # any failure is a test failure
                errors.append(f"session {i}: {type(exc).__name__}: {exc}")
                return

    threads = [threading.Thread(target=session, args=(i,), daemon=True) for i in range(len(FILTERS))]
    for t in threads:
        t.start()
    try:
        for seed in ("22", "11", "22", "11", "22"):
            import_registry(regs[seed][0], served)
            # after the swap, a new run sees the new registry
            assert store.sql("SELECT value FROM _meta WHERE key = 'seed'")["value"][0] == seed
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not errors, errors[:5]
    assert all(q > 0 for q in n_queries)
    assert sum(len(s) == 2 for s in seen) >= len(FILTERS) // 2, "most sessions read both registries"
