"""Benchmark static export: first export (starts kaleido's Chromium) and later ones.

Usage: python bench/bench_export.py [--patients 2000] [--repeat 5]

Targets (issue 5): first export under 3 s, later ones under 0.5 s. Also times the table
PNG (Playwright's Chromium, started on first use), the MDT report HTML and its PDF.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from statistics import median

from dashboard.figures import consort_figure, sankey_figure
from dashboard.figures.export import figure_bytes, with_design_width
from dashboard.filters import CohortFilter
from dashboard.provenance import Provenance
from dashboard.queries.cohort import select_consort_flow, select_patient_counts, select_strategy_transitions
from dashboard.report import report_pdf
from dashboard.store import Store
from dashboard.synth import build_demo
from dashboard.tables.export import table_bytes
from dashboard.ui.report import report_bytes


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "registry.duckdb"
        build_demo(path, args.patients, 20260715, progress=False)
        store = Store(path)
        flt = CohortFilter()
        counts = select_patient_counts(store, flt)
        prov = Provenance.from_meta(store.meta(), flt, n=counts["n"], m=counts["m"])
        consort = with_design_width(consort_figure(select_consort_flow(store, flt)), 1300)  # as the Cohort page
        sankey = with_design_width(sankey_figure(select_strategy_transitions(store, flt)), 1000)
        rows = []
        _, first = timed(lambda: figure_bytes(consort, "png", "double", prov))
        rows.append(("first export (consort PNG, double column; starts Chromium)", first, 3.0))
        for name, fig in (("consort", consort), ("sankey", sankey)):
            for fmt in ("png", "svg", "pdf"):
                for size in ("single", "double", "slide"):
                    t = median(timed(lambda: figure_bytes(fig, fmt, size, prov))[1] for _ in range(args.repeat))
                    rows.append((f"later export: {name} {fmt.upper()} {size}", t, 0.5))
        import polars as pl

        df = pl.DataFrame({"Site": ["Rectum", "Colon"], "Patients": [10, 3], "%": [77.0, 23.0]})
        _, t = timed(lambda: table_bytes(df, "png", "t", prov))
        rows.append(("first table PNG (starts Playwright's Chromium)", t, None))
        t = median(timed(lambda: table_bytes(df, "png", "t", prov))[1] for _ in range(args.repeat))
        rows.append(("later table PNG", t, None))
        html, t = timed(lambda: report_bytes(store, flt, counts["n"], counts["m"]))
        rows.append((f"MDT report HTML ({len(html) // 1024} KiB)", t, None))
        pdf, t = timed(lambda: report_pdf(html))
        rows.append((f"MDT report PDF ({len(pdf) // 1024} KiB)", t, None))
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'seconds':>8}  target")
    for name, t, target in rows:
        verdict = "" if target is None else f"< {target:g} s {'ok' if t < target else 'MISSED'}"
        print(f"{name:<{width}}  {t:8.3f}  {verdict}")


if __name__ == "__main__":
    main()
