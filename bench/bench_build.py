"""Benchmark: build synthetic stores of several sizes, each in a fresh subprocess.

    python bench/bench_build.py --patients 10000,100000,1000000 [--seed 1] [--no-derive] [--out bench/results/build.json]

Prints patients, total rows, seconds, peak RSS (MB, of the child process) and file size.
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

CHILD = r"""
import json, sys, time
from pathlib import Path
from dashboard import synth, store
db, n, seed, derive = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
t = time.perf_counter()
meta = synth.build_demo(db, n, seed, derive=derive)
secs = time.perf_counter() - t
print(json.dumps({"seconds": secs, "table_counts": json.loads(meta["table_counts"])}))
"""


def run_one(n: int, seed: int, derive: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        db = Path(tmp) / "registry.duckdb"
        t = time.perf_counter()
        out_f, err_f = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with out_f.open("w") as so, err_f.open("w") as se:
            proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(n), str(seed), "1" if derive else "0"], stdout=so, stderr=se)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: peak RSS per build
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t
        stdout, stderr = out_f.read_text(), err_f.read_text()
        if proc.returncode != 0:
            raise RuntimeError(f"build of {n} patients failed:\n{stderr[-4000:]}")
        peak_kb = usage.ru_maxrss
        out = json.loads(stdout.strip().splitlines()[-1])
        size = db.stat().st_size
        return {
            "patients": n,
            "rows_total": sum(out["table_counts"].values()),
            "table_counts": out["table_counts"],
            "build_seconds": round(out["seconds"], 2),
            "wall_seconds": round(wall, 2),
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "file_mb": round(size / 2**20, 1),
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", default="10000,100000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-derive", dest="derive", action="store_false", help="skip the analysis tables (adsl, adtte)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    sizes = sorted(int(x) for x in args.patients.split(","))
    results = []
    print(f"{'patients':>10} {'rows':>12} {'seconds':>9} {'peak RSS MB':>12} {'file MB':>9}", flush=True)
    for n in sizes:
        r = run_one(n, args.seed, args.derive)
        results.append(r)
        print(f"{r['patients']:>10,} {r['rows_total']:>12,} {r['build_seconds']:>9.1f} {r['peak_rss_mb']:>12.0f} {r['file_mb']:>9.1f}", flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"cpu_count": os.cpu_count(), "derive": args.derive, "seed": args.seed, "results": results}
        args.out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
