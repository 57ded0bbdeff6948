"""Twenty concurrent sessions at registry scale while imports swap the store (issue 7).

    python bench/bench_concurrency.py [--patients 100000] [--sessions 20] [--swaps 3]

The full-size version of tests/test_concurrency.py. Two synthetic registries of the same
size but different seeds are exported to canonical CSV folders (cached in bench/.stores/);
one is imported into a scratch store. Then ``--sessions`` threads, each a session with
its own cohort filter, run the Survival page's query (patients collapsed to cells, as
``queries.survival.select_tte_cells``) and the sidebar count in a loop on the shared
``Store``, while the main thread imports the other registry over it ``--swaps`` times
through the real import path (validate, build, atomic swap).

Each query reads the registry's seed from ``_meta`` on the same cursor, so every answer is
checked against the truth for the registry it read. Prints errors, wrong answers, how
many sessions saw both registries, query latencies under load and import times; writes
JSON to bench/results/. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_pages import RESULTS, store_for  # noqa: E402

from dashboard.filters import CohortFilter  # noqa: E402
from dashboard.queries.survival import TteRequest, _tte_sql  # noqa: E402
from dashboard.store import Store  # noqa: E402

FILTERS = [
    CohortFilter(), CohortFilter(site=("RECTUM",)), CohortFilter(site=("COLON",)),
    CohortFilter(site=("GASTRIC", "GEJ")), CohortFilter(cohort=("PROSP",)), CohortFilter(cohort=("RETRO",)),
    CohortFilter(response=("CCR",)), CohortFilter(response=("NEAR_CCR", "NON_CCR")), CohortFilter(strategy=("WW",)),
    CohortFilter(strategy=("RO",)), CohortFilter(sex=("F",)), CohortFilter(sex=("M",)), CohortFilter(age=(18, 50)),
    CohortFilter(age=(60, 100)), CohortFilter(biomarker=("DMMR_IHC",)), CohortFilter(biomarker=("POLE", "MSIH_NGS")),
    CohortFilter(ecog=("0",)), CohortFilter(regimen=("PD1",)),
    CohortFilter(site=("RECTUM",), response=("CCR",), strategy=("WW",)),
    CohortFilter(cohort=("RETRO",), sex=("F",), age=(40, 70)),
]
REQUEST = TteRequest("OS", "T1", "initial_group")
SEED = "(SELECT value FROM _meta WHERE key = 'seed') AS seed"


def workload(flt: CohortFilter) -> list[tuple[str, str, dict]]:
    """(name, SQL, parameters) of one session run; every answer starts with the seed."""
    where, params = flt.where_sql()
    columns, source, tparams = _tte_sql(flt, REQUEST)
    cells = f"SELECT {columns}, count(*) AS n {source} GROUP BY ALL"
    return [
        ("count", f"SELECT {SEED}, count(*) FILTER (WHERE {where}) AS n, count(*) AS m FROM adsl", params),
        ("km cells", f"SELECT {SEED}, count(*) AS cells, sum(n) AS patients, sum(n * event) AS events "
                     f"FROM ({cells})", tparams),
    ]


def truth(db: Path) -> tuple[str, dict]:
    """The registry's seed and every (session, query) answer on it, single-threaded."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        seed = con.execute("SELECT value FROM _meta WHERE key = 'seed'").fetchone()[0]
        out = {(i, name): con.execute(sql, params).fetchone()[1:]
               for i, flt in enumerate(FILTERS) for name, sql, params in workload(flt)}
    finally:
        con.close()
    return seed, out


def exported(n: int, seed: int) -> tuple[Path, str, dict]:
    from dashboard.ingest import export_registry

    db = store_for(n, seed)
    folder = db.parent / f"export-{n}-{seed}"
    if not (folder / "manifest.json").exists():
        t = time.perf_counter()
        export_registry(db, folder)
        print(f"exported {db.name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    s, answers = truth(db)
    return folder, s, answers


def run(n: int, sessions: int, swaps: int) -> dict:
    from dashboard.ingest import import_registry

    regs = [exported(n, seed) for seed in (1, 2)]
    right = {s: answers for _, s, answers in regs}
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp:
        served = Path(tmp) / "served.duckdb"
        import_registry(regs[0][0], served, actor="bench")
        store = Store(served)
        stop = threading.Event()
        errors: list[str] = []
        wrong: list[str] = []
        seen: list[set[str]] = [set() for _ in range(sessions)]
        lat: dict[str, list[float]] = {"count": [], "km cells": []}
        lock = threading.Lock()

        def session(i: int) -> None:
            flt = FILTERS[i % len(FILTERS)]
            jobs = workload(flt)
            while not stop.is_set():
                for name, sql, params in jobs:
                    try:
                        t0 = time.perf_counter()
                        _, cur = store.snapshot()
                        try:
                            row = cur.execute(sql, params).fetchone()
                        finally:
                            cur.close()
                        dt = time.perf_counter() - t0
                    except Exception as exc:  # noqa: BLE001 - counted and reported
                        with lock:
                            errors.append(f"session {i} {name}: {type(exc).__name__}: {exc}")
                        return
                    seed, got = row[0], row[1:]
                    with lock:
                        lat[name].append(dt)
                        seen[i].add(seed)
                        if got != right[seed][(i % len(FILTERS), name)]:
                            wrong.append(f"session {i} {name} on registry {seed}: {got}")

        threads = [threading.Thread(target=session, args=(i,), daemon=True) for i in range(sessions)]
        for t in threads:
            t.start()
        imports, visible = [], []
        try:
            time.sleep(2.0)
            for k in range(swaps):
                folder, seed, _ = regs[(k + 1) % 2]
                t0 = time.perf_counter()
                import_registry(folder, served, actor="bench")
                imports.append(time.perf_counter() - t0)
                # a new run after the swap reads the new registry
                visible.append(store.sql("SELECT value FROM _meta WHERE key = 'seed'")["value"][0] == seed)
                time.sleep(2.0)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=120)

    def pct(xs: list[float], q: float) -> float:
        return statistics.quantiles(xs, n=100)[q - 1] if len(xs) >= 2 else (xs[0] if xs else float("nan"))

    return {
        "patients": n, "sessions": sessions, "swaps": swaps, "errors": errors[:10], "n_errors": len(errors),
        "wrong_answers": wrong[:10], "n_wrong": len(wrong),
        "sessions_that_saw_both": sum(len(s) == 2 for s in seen),
        "new_data_visible_after_each_import": all(visible), "import_s": imports,
        "queries": {k: {"n": len(v), "p50_s": pct(v, 50), "p95_s": pct(v, 95), "max_s": max(v, default=float("nan"))}
                    for k, v in lat.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--swaps", type=int, default=3)
    args = ap.parse_args(argv)
    res = run(args.patients, args.sessions, args.swaps)
    print(f"\n{res['sessions']} sessions, {res['patients']:,} patients, {res['swaps']} imports swapping the store")
    print(f"errors: {res['n_errors']}   wrong answers: {res['n_wrong']}   "
          f"sessions that read both registries: {res['sessions_that_saw_both']}/{res['sessions']}   "
          f"new data visible to the next run after every import: {res['new_data_visible_after_each_import']}")
    print("imports (validate + build + swap): " + ", ".join(f"{s:.1f} s" for s in res["import_s"]))
    print(f"{'query':10} {'runs':>7} {'p50 (s)':>8} {'p95 (s)':>8} {'max (s)':>8}   (under load: all sessions + imports)")
    for k, q in res["queries"].items():
        print(f"{k:10} {q['n']:7,} {q['p50_s']:8.3f} {q['p95_s']:8.3f} {q['max_s']:8.3f}")
    for e in res["errors"] + res["wrong_answers"]:
        print("  ", e)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"concurrency-{args.patients}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(res, indent=2))
    print(f"written {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
