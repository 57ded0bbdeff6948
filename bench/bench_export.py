"""Benchmark static export: first export (starts kaleido's Chromium) and later ones.

Usage: python bench/bench_export.py [--patients 2000] [--repeat 5] [--cold-fonts]

Targets (issue 5, issue 15): first export under 3 s, later ones under 0.5 s; the MDT report
(HTML + PDF) under 10 s at 2,000 patients. Later exports: every figure of the MDT report
(CONSORT, Sankey, KM, CIF, forests, AE bars, procedures, QoL) at single, double and slide
size, PDF / PNG / SVG, each through the per-size layout step. Also the table PNG (Playwright's
Chromium, started on first use). The MDT report is timed as the sidebar builds it: the HTML,
then the PDF of the same report (printed from the HTML just built), in English and then in
Chinese (the first Chinese document of the process: its CJK font comes from the font cache
that ``make install`` prepares; ``--cold-fonts`` starts from an empty cache instead, which
is what a process paid before the cache). Prints the machine's load average: the numbers
are only comparable at a similar load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from statistics import median

from dashboard.figures.export import figure_bytes
from dashboard.filters import CohortFilter
from dashboard.provenance import Provenance
from dashboard.queries.cohort import select_patient_counts
from dashboard.i18n import language
from dashboard.render import prepare_cjk_fonts
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
    ap.add_argument("--cold-fonts", action="store_true", help="time the Chinese report with an empty font cache")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.cold_fonts:
            os.environ["DASHBOARD_FONT_CACHE"] = str(Path(tmp) / "fonts")
        else:
            prepare_cjk_fonts()  # what `make install` does (nothing when already prepared)
        path = Path(tmp) / "registry.duckdb"
        build_demo(path, args.patients, 20260715, progress=False)
        store = Store(path)
        flt = CohortFilter()
        counts = select_patient_counts(store, flt)
        prov = Provenance.from_meta(store.meta(), flt, n=counts["n"], m=counts["m"])
        from dashboard.ui.report import collect_sections
        import plotly.graph_objects as go

        sections, t_sections = timed(lambda: collect_sections(store, flt))
        figs = {it.title: it.content for s in sections for it in s.items if isinstance(it.content, go.Figure)}
        first_name = next(t for t in figs if "survival" in t.lower())
        rows = []
        _, first = timed(lambda: figure_bytes(figs[first_name], "png", "double", prov))
        rows.append((f"first export ({first_name[:30]} PNG, double; starts Chromium)", first, 3.0))
        worst = []
        for name, fig in figs.items():
            for fmt in ("pdf", "png", "svg"):
                for size in ("single", "double", "slide"):
                    t = median(timed(lambda: figure_bytes(fig, fmt, size, prov))[1] for _ in range(args.repeat))
                    worst.append((t, f"{name[:34]} {fmt.upper()} {size}"))
        worst.sort(reverse=True)
        ts = [t for t, _ in worst]
        rows.append((f"later exports: median of {len(ts)} (figure x format x size)", median(ts), 0.5))
        rows.append((f"later exports: slowest ({worst[0][1]})", worst[0][0], 0.5))
        rows.append(("later exports: share under 0.5 s", sum(t < 0.5 for t in ts) / len(ts), None))
        rows.append(("MDT report sections (queries + statistics, all pages)", t_sections, None))
        import polars as pl

        df = pl.DataFrame({"Site": ["Rectum", "Colon"], "Patients": [10, 3], "%": [77.0, 23.0]})
        _, t = timed(lambda: table_bytes(df, "png", "t", prov))
        rows.append(("first table PNG (starts Playwright's Chromium)", t, None))
        t = median(timed(lambda: table_bytes(df, "png", "t", prov))[1] for _ in range(args.repeat))
        rows.append(("later table PNG", t, None))
        for lang, label in (("en", "English"), ("zh", "Chinese")):
            with language(lang):
                html, t_html = timed(lambda: report_bytes(store, flt, counts["n"], counts["m"], fmt="html"))
                pdf, t_pdf = timed(lambda: report_bytes(store, flt, counts["n"], counts["m"], fmt="pdf"))
            extra = ("" if lang == "en" else
                     f"; first Chinese document, font cache {'empty' if args.cold_fonts else 'prepared'}")
            rows.append((f"MDT report {label} HTML ({len(html) // 1024} KiB; all sections{extra})", t_html, None))
            rows.append((f"MDT report {label} PDF ({len(pdf) // 1024} KiB; from that HTML: one print + front pages)",
                         t_pdf, None))
            rows.append((f"MDT report {label} HTML + PDF", t_html + t_pdf, 10.0))
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'seconds':>8}  target")
    for name, t, target in rows:
        verdict = "" if target is None else f"< {target:g} s {'ok' if t < target else 'MISSED'}"
        print(f"{name:<{width}}  {t:8.3f}  {verdict}")


if __name__ == "__main__":
    main()
