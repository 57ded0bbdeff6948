"""Benchmark every page at registry scale, and the statistics layer against lifelines.

    python -m dashboard bench --patients 10000,100000,1000000 [--repeats 5] [--out FILE]
    (or: python bench/bench_pages.py ...)

For each size it builds (or reuses, in bench/.stores/) a synthetic store, then in a
fresh child process per size (so peak memory is that size's own):
  - runs every page with Streamlit's AppTest (the server-side script run, no browser):
    first load with empty caches, then the median of several runs each after a
    different filter change (a cache miss, as when a user changes a filter);
  - records the child's peak RSS (and, separately, the figure-export Chromium's, which
    is started before timing as a running server has it already);
  - times KM with CI, log-rank by initial strategy group, Aalen-Johansen with
    variance (regrowth with competing events) and Cox on the store's own OS / RG data,
    ours and lifelines', with the largest difference between the two.
Prints a table and writes JSON to bench/results/. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORES = ROOT / "bench" / ".stores"
RESULTS = ROOT / "bench" / "results"
TARGETS = {  # issue 7, on a 2-core machine
    "filter_change_s": {100_000: 0.3, 1_000_000: 1.0},
    "first_load_s": {100_000: 3.0},
    "peak_rss_mb": {1_000_000: 2048},
}
# one filter per repeat, all different, so every timed run misses the cache
FILTER_STEPS = [["RECTUM"], ["COLON"], ["GASTRIC"], ["GEJ"], ["RECTUM", "COLON"], ["GASTRIC", "GEJ"], ["COLON", "GEJ"]]


def store_for(n: int, seed: int) -> Path:
    STORES.mkdir(parents=True, exist_ok=True)
    db = STORES / f"registry-{n}-{seed}.duckdb"
    if db.exists() and not _current_layout(db):
        print(f"{db.name} was built by an older version (analysis tables differ): rebuilding", file=sys.stderr)
        db.unlink()
    if not db.exists():
        from dashboard.synth import build_demo

        t = time.perf_counter()
        build_demo(db, n, seed, progress=True)
        print(f"built {db.name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return db


def _current_layout(db: Path) -> bool:
    """Whether ``db`` holds every analysis table the current build creates."""
    import duckdb

    from dashboard.derive import DQ_COUNTS

    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}
    finally:
        con.close()
    return {"adsl", "adtte", DQ_COUNTS} <= tables


def page_files() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]


def bench_pages(repeats: int) -> list[dict]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    out = []
    for page in page_files():
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(page), default_timeout=900)
        t = time.perf_counter()
        at.run()
        first = time.perf_counter() - t
        errors = [e.message for e in at.exception]
        changes = []
        for step in FILTER_STEPS[:repeats]:
            try:
                widget = at.multiselect(key="flt_site")
            except (KeyError, IndexError):
                break
            widget.set_value(step)
            t = time.perf_counter()
            at.run()
            changes.append(time.perf_counter() - t)
            errors += [e.message for e in at.exception]
        out.append({
            "page": page.stem,
            "first_load_s": first,
            "filter_change_median_s": statistics.median(changes) if changes else None,
            "filter_change_max_s": max(changes) if changes else None,
            "errors": errors[:3],
        })
    return out


def bench_stats_on_store(db: Path, skip_cox: bool) -> list[dict]:
    import duckdb
    import polars as pl

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_stats import compare

    from dashboard.schema import DAYS_PER_MONTH

    con = duckdb.connect(str(db), read_only=True)
    df = con.sql(
        """
        SELECT o.aval AS time, round(o.aval * $dpm)::DOUBLE AS days, 1 - o.cnsr AS status,
               CASE WHEN r.evnt_type = 'REGROWTH' THEN 1 WHEN r.evnt_type = 'COMPETING' THEN 2 ELSE 0 END AS cause,
               coalesce(a.initial_group, 'NONE') AS grp,
               CASE WHEN a.sex = 'M' THEN 1.0 ELSE 0.0 END AS x, a.age::DOUBLE AS age
        FROM adtte o JOIN adsl a USING (subject_id)
        LEFT JOIN adtte r ON r.subject_id = o.subject_id AND r.paramcd = 'RG' AND r.origin = 'T0'
        WHERE o.paramcd = 'OS' AND o.origin = 'T0'
        """, params={"dpm": DAYS_PER_MONTH},
    ).pl()
    con.close()
    df = df.with_columns(pl.col("status").cast(pl.Int64), pl.col("cause").cast(pl.Int64))
    # months (aval, fractional) is what the pages use; days (the dates' own resolution,
    # whole numbers) is what an analyst in R would pass: both are reported
    assert (df["days"] / DAYS_PER_MONTH - df["time"]).abs().max() < 1e-9
    return compare(df, skip_cox=skip_cox, km_times={"time in days": "days"})


def _pss_mb(pid: int) -> float:
    """Proportional set size of a process (shared pages split between their users, so
    a multi-process browser is not counted several times over); RSS if unavailable."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def _descendants_pss_mb() -> float:
    """Memory (PSS) of this process's descendants: the figure-export Chromium."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d.name))
    total, todo = 0.0, list(kids.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        total += _pss_mb(pid)
        todo += kids.get(pid, [])
    return total


def child(db: Path, repeats: int, skip_cox: bool) -> None:
    os.environ["DASHBOARD_DB"] = str(db)
    # a running server starts the export browser once (figures.export.warm_up_async);
    # start it before timing so no page pays that one-off cost
    from dashboard.figures.export import warm_up

    warm_up()
    pages = bench_pages(repeats)
    rss_pages = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    browser = _descendants_pss_mb()
    stats = bench_stats_on_store(db, skip_cox)
    print(json.dumps({"pages": pages, "peak_rss_mb_pages": rss_pages, "export_browser_pss_mb": browser,
                      "stats": stats}))


def run_size(n: int, seed: int, repeats: int, skip_cox: bool) -> dict:
    db = store_for(n, seed)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(db), "--repeats", str(repeats)] + (["--skip-cox"] if skip_cox else []),
        capture_output=True, text=True, cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed for n={n}:\n{proc.stderr[-4000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["patients"] = n
    res["store_mb"] = db.stat().st_size / 1e6
    return res


def _target(kind: str, n: int) -> float | None:
    return TARGETS[kind].get(n)


def print_results(results: list[dict]) -> None:
    print("\nPages (server-side script run with AppTest; seconds)")
    print(f"{'patients':>10} {'page':24} {'first load':>10} {'filter chg':>10} {'max chg':>8}  target  errors")
    for r in results:
        n = r["patients"]
        for p in r["pages"]:
            tgt = _target("filter_change_s", n)
            med = p["filter_change_median_s"]
            flag = "" if tgt is None or med is None else ("ok" if med < tgt else "MISS")
            ftgt = _target("first_load_s", n)
            if ftgt is not None and p["first_load_s"] >= ftgt:
                flag += " first-load MISS"
            fmt = lambda v: f"{v:10.3f}" if v is not None else f"{'-':>10}"  # noqa: E731
            print(f"{n:>10,} {p['page']:24} {p['first_load_s']:10.3f} {fmt(med)} "
                  f"{fmt(p['filter_change_max_s'])[2:]}  {flag:6}  {'; '.join(p['errors'])[:60]}")
    print("\nMemory")
    for r in results:
        tgt = _target("peak_rss_mb", r["patients"])
        print(f"{r['patients']:>10,} patients: peak RSS {r['peak_rss_mb_pages']:.0f} MB after all pages"
              f"{'' if tgt is None else f' (target < {tgt} MB)'}; export browser (Chromium, PSS) "
              f"{r.get('export_browser_pss_mb', 0):.0f} MB besides; store file {r['store_mb']:.0f} MB")
    print("\nStatistics on the store's OS / RG data, ours vs lifelines")
    for r in results:
        print(f"-- {r['patients']:,} patients")
        sys.path.insert(0, str(ROOT / "bench"))
        from bench_stats import print_table

        print_table(r["stats"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", default="10000,100000,1000000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-cox", action="store_true", help="lifelines' Cox takes ~20 s at 1M")
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(Path(args.child), args.repeats, args.skip_cox)
        return 0
    sizes = [int(x.replace("_", "")) for x in args.patients.split(",") if x]
    results = [run_size(n, args.seed, args.repeats, args.skip_cox) for n in sizes]
    print_results(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                               "targets": {k: {str(n): v for n, v in t.items()} for k, t in TARGETS.items()},
                               "results": results}, indent=2))
    print(f"\nwritten {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
