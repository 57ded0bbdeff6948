"""Benchmark: `python -m dashboard validate` and `import` on a canonical export, and
validation of a REDCap export full of bad values, each in a fresh subprocess.

    python bench/bench_ingest.py --patients 100000,1000000 [--redcap-bad-mb 5] [--out bench/results/ingest.json]

For each size: build a synthetic store (no derived tables), export it as the canonical
CSV folder, then time the command line's validate and import on that folder. Prints
seconds and peak RSS (MB) of each child process (os.wait4: the child's own peak).
``--redcap-bad-mb`` writes a REDCap export of about that size whose every record has a
code that is not a choice of a 2,000-choice dropdown (the case that once grew to GBs:
each problem quoted the whole choice list) and measures its validation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def child(args: list[str], cwd: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t = time.perf_counter()
    with (cwd / "out.txt").open("w") as so, (cwd / "err.txt").open("w") as se:
        proc = subprocess.Popen([sys.executable, *args], stdout=so, stderr=se, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    return {"seconds": round(time.perf_counter() - t, 1), "peak_mb": round(usage.ru_maxrss / 1024),
            "exit": os.waitstatus_to_exitcode(status), "stderr_tail": (cwd / "err.txt").read_text()[-300:]}


def canonical(n: int, tmp: Path) -> dict:
    db, folder = tmp / "src.duckdb", tmp / "export"
    build = child(["-c", "import sys; from dashboard import synth; synth.build_demo(sys.argv[1], int(sys.argv[2]), 1, derive=False)",
                   str(db), str(n)], tmp)
    child(["-m", "dashboard", "export", "--db", str(db), "--to", str(folder)], tmp)
    size = sum(p.stat().st_size for p in folder.glob("*.csv")) / 1e6
    val = child(["-m", "dashboard", "validate", str(folder)], tmp)
    imp = child(["-m", "dashboard", "import", str(folder), "--db", str(tmp / "imported.duckdb")], tmp)
    return {"patients": n, "export_mb": round(size), "build_s": build["seconds"], "validate": val, "import": imp}


BAD_REDCAP = r"""
import sys, csv, io, polars as pl
from pathlib import Path
from dashboard import synth
from dashboard.ingest.redcap import DICTIONARY_COLUMNS, registry_to_redcap
from dashboard.ingest.export import read_store_tables
out, mb = Path(sys.argv[1]), float(sys.argv[2])
n = 200
while True:
    db = out / f"s{n}.duckdb"
    synth.build_demo(db, n, 1, derive=False)
    tables, _, _ = read_store_tables(db)
    rec, rows = registry_to_redcap(tables)
    size = len(rec.write_csv())
    if size >= mb * 1e6 or n > 200000:
        break
    n = int(n * mb * 1e6 / size) + 1
for r in rows:
    if r["Variable / Field Name"] == "sex":
        r["Choices, Calculations, OR Slider Labels"] = "1, Female | 2, Male | " + " | ".join(f"{i}, choice {i} " + "x" * 200 for i in range(3, 2001))
rec = rec.with_columns(pl.when(pl.col("sex").is_not_null()).then(pl.lit("9999")).alias("sex"))
rc = out / "rc"; rc.mkdir()
rec.write_csv(rc / "BAD_DATA.csv")
buf = io.StringIO(); w = csv.writer(buf); w.writerow(DICTIONARY_COLUMNS); w.writerows([[r[k] for k in DICTIONARY_COLUMNS] for r in rows])
(rc / "BAD_DataDictionary.csv").write_text(buf.getvalue())
print(n, (rc / "BAD_DATA.csv").stat().st_size)
"""


def bad_redcap(mb: float, tmp: Path) -> dict:
    child(["-c", BAD_REDCAP, str(tmp), str(mb)], tmp)
    size = (tmp / "rc" / "BAD_DATA.csv").stat().st_size / 1e6
    val = child(["-m", "dashboard", "validate", str(tmp / "rc"), "--max-rows", "20"], tmp)
    return {"records_mb": round(size, 1), "validate": val}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", default="100000")
    ap.add_argument("--redcap-bad-mb", type=float, default=0)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    results = []
    print(f"{'input':28} {'MB':>6} {'validate s':>10} {'peak MB':>8} {'import s':>9} {'peak MB':>8}")
    for n in [int(x) for x in a.patients.split(",") if x]:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            r = canonical(n, Path(tmp))
        results.append(r)
        print(f"{'canonical ' + format(n, ','):28} {r['export_mb']:>6} {r['validate']['seconds']:>10} {r['validate']['peak_mb']:>8} "
              f"{r['import']['seconds']:>9} {r['import']['peak_mb']:>8}", flush=True)
    if a.redcap_bad_mb:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            r = bad_redcap(a.redcap_bad_mb, Path(tmp))
        results.append(r)
        print(f"{'REDCap, every sex bad':28} {r['records_mb']:>6} {r['validate']['seconds']:>10} {r['validate']['peak_mb']:>8}", flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
