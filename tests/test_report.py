"""MDT report: one self-contained HTML file with every registered page's sections, and
its PDF."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from dashboard.filters import CohortFilter
from dashboard.provenance import Provenance
from dashboard.queries.cohort import select_patient_counts
from dashboard.report import ReportItem, ReportSection, build_report, report_pdf
from dashboard.store import Store
from dashboard.ui.report import REPORT_PAGES, collect_sections, report_bytes

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no Chromium")
FLT = CohortFilter(cohort=("PROSP",))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from dashboard.synth import build_demo

    path = tmp_path_factory.mktemp("report") / "registry.duckdb"
    build_demo(path, 600, 12, progress=False)
    return Store(path)


@pytest.fixture(scope="module")
def report(store):
    counts = select_patient_counts(store, FLT)
    return report_bytes(store, FLT, counts["n"], counts["m"], suppress_below=5), counts


def test_report_is_self_contained(report):
    html = report[0].decode()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html)
    assert "<script" not in html
    images = re.findall(r"src='data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) >= 2  # patient flow and strategy transitions
    assert all(base64.b64decode(i).lstrip().startswith(b"<svg") for i in images)


def test_report_has_every_section_banner_and_provenance(store, report):
    html, counts = report[0].decode(), report[1]
    for page, _ in REPORT_PAGES:
        assert f">{page}</h2>" in html
    for title in ["Registry at a glance", "Full analysis set by tumour site", "Patient flow", "Strategy transitions",
                  "Table 1. Baseline characteristics by initial strategy"]:
        assert title in html
    assert "SYNTHETIC DEMONSTRATION DATA" in html
    assert store.meta()["content_hash"][:12] in html
    assert "Registry part: Prospective" in html or "Registry part:" in html
    assert f"N = {counts['n']:,}" in html
    assert "Small-cell suppression" in html or "shown as &lt;5" in html
    assert "could not be built" not in html


def test_report_pdf_has_pages(report):
    pdf = report_pdf(report[0])
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 2


def test_a_broken_page_does_not_sink_the_report(store):
    def broken(store, flt):
        raise RuntimeError("not built yet")

    sections = collect_sections(store, FLT, [("Overview", "dashboard.ui.overview:report_section"),
                                            ("Safety", broken)])
    assert sections[0].items and not sections[1].items and "not built yet" in sections[1].note
    prov = Provenance.from_meta(store.meta(), FLT, n=1, m=2)
    html = build_report(sections, prov).decode()
    assert ">Safety</h2>" in html and "could not be built" in html


def test_items_as_tuples(store):
    import polars as pl

    sections = collect_sections(store, FLT, [("X", lambda s, f: [("A table", pl.DataFrame({"n": [1, 7]}), "cap")])])
    assert sections[0].items == (ReportItem("A table", sections[0].items[0].content, "cap"),)
    html = build_report([ReportSection("X", sections[0].items)], Provenance.from_meta(store.meta()),
                        suppress_below=5).decode()
    assert "&lt;5" in html and "cap" in html


def test_report_download_is_audited(store):
    from dashboard import audit
    from dashboard.ui.report import report_download

    flt = CohortFilter(site=("RECTUM",))
    data = report_download(store, flt, 10, 20, fmt="html", suppress_below=5, actor="li@h.example", role="viewer")
    assert data.startswith(b"<!DOCTYPE html") or b"<html" in data[:200]
    log = audit.read(action="report", path=audit.default_audit_path(store.path))
    assert log.height >= 1
    row = log.row(0, named=True)
    assert row["actor"] == "li@h.example" and row["role"] == "viewer"
    assert '"site": ["RECTUM"]' in row["detail"] and '"format": "html"' in row["detail"]
