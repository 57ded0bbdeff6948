"""MDT report: one self-contained HTML file with every registered page's sections, and
its PDF."""

from __future__ import annotations

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
    figures = re.findall(r"<div class='fig' role='img' aria-label='[^']*'>(<svg\b.*?</svg>)</div>", html, re.S)
    assert len(figures) >= 2  # patient flow and strategy transitions
    # inline figures: no id is used by two figures (clip paths of one never clip another)
    ids = [i for svg in figures for i in re.findall(r'\sid="([^"]+)"', svg)]
    assert ids and len(ids) == len(set(ids))
    for svg in figures:
        own = set(re.findall(r'\sid="([^"]+)"', svg))
        assert set(re.findall(r"url\(#([^)]+)\)", svg)) <= own


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


@pytest.fixture(scope="module")
def report_pdf_bytes(report):
    return report_pdf(report[0])


def test_report_pdf_is_a_document(report_pdf_bytes, store):
    """Page numbers on every page, a running header with the data status, nothing outside
    the pages, landscape pages for wide tables, bookmarks and a contents page with page
    numbers, a title page with the data cut-off."""
    import io

    import pypdf

    from pdfcheck import analyse_pdf

    lay = analyse_pdf(report_pdf_bytes)
    assert lay.pages >= 6
    assert not lay.outside, lay.outside[:5]
    assert lay.min_size_pt >= 5.9
    for i, text in enumerate(lay.page_texts, start=1):
        assert f"Page {i} of {lay.pages}" in text
        assert "MDT report - SYNTHETIC DATA, not real patients" in text
    title = lay.page_texts[0]
    assert "Data cut-off" in title and store.meta()["cutoff_date"] in title and "Prepared by" in title
    reader = pypdf.PdfReader(io.BytesIO(report_pdf_bytes))
    sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]
    assert any(w > h for w, h in sizes) and any(h > w for w, h in sizes)  # landscape for wide tables
    # a table wider than WIDE_TABLE_COLUMNS is on landscape pages with its last column there
    from dashboard.report import WIDE_TABLE_COLUMNS

    wide = [it for s in collect_sections(store, FLT) for it in s.items
            if it.is_table and it.content.width > WIDE_TABLE_COLUMNS]
    assert wide
    for it in wide:
        first_col = it.content.columns[0].split(" / ")[0]
        pages = [i for i, t in enumerate(lay.page_texts) if it.title in t or first_col in t.split("\n")[3:6]]
        hit = [i for i in pages if sizes[i][0] > sizes[i][1]]
        assert hit, it.title
    def flat(items):
        for o in items:
            yield from flat(o) if isinstance(o, list) else [o.title]

    marks = list(flat(reader.outline))
    for page, _ in REPORT_PAGES:
        assert page in marks
    contents = next(t for t in lay.page_texts if "Contents" in t)
    survival_page = next(i for i, t in enumerate(lay.page_texts, start=1) if t.lstrip().split("\n")[1:2] and
                         "Survival" in t and "Organ-preservation survival" in t)
    assert re.search(rf"Survival\s+{survival_page}\b", contents), contents


def test_report_figures_fit_on_a_page(report):
    # every figure is at most 234 mm tall and 175 mm wide (the report's column), so one
    # fits a portrait A4 page with its heading
    html = report[0].decode()
    tags = re.findall(r"<svg\b[^>]*>", html)
    assert tags
    for tag in tags:
        assert float(re.search(r'width="([\d.]+)mm"', tag).group(1)) <= 175.5
        assert float(re.search(r'height="([\d.]+)mm"', tag).group(1)) <= 234.5


# ------------------------------------------------------------------ case list
def _case_ids(store, k=2):
    return store.sql("SELECT subject_id FROM adsl WHERE cohort = 'PROSP' ORDER BY subject_id LIMIT $k",
                     {"k": k})["subject_id"].to_list()


def test_case_list_comes_first_with_each_patients_row_and_timeline(store):
    from dashboard.queries.patient import select_patient_record
    from dashboard.tables.cases import format_case_list
    from dashboard.ui.patient import STATUS_TEXT

    ids = _case_ids(store)
    counts = select_patient_counts(store, FLT)
    html = report_bytes(store, FLT, counts["n"], counts["m"], suppress_below=5,
                        cases=[*ids, "NOR-NOT-THERE", ids[0]]).decode()
    assert re.search(r"<h2 id='s0'>Case list</h2>", html)  # first, before the pages' sections
    assert "Patients chosen for this meeting: 2." in html and "1 chosen id is not in the registry" in html
    expected = format_case_list([select_patient_record(store, FLT, i).row for i in ids], STATUS_TEXT)
    assert expected.columns[:2] == ["Case", "Patient"] and expected.width <= 8  # a portrait page
    case_part = html[html.index("<h2 id='s0'>"):html.index("<h2 id='s1'>")]
    for row in expected.iter_rows():
        for cell in row:  # every cell as formatted: no small-cell suppression of patient rows
            assert html_escape(cell) in case_part, cell
    for i in ids:
        assert f"Timeline of {i}" in case_part
    assert case_part.count("<svg") == len(ids)
    # the key numbers still come from the Overview
    assert "Key numbers" in html and "Patients under the filters" in html


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=False)


def test_no_case_list_unless_asked(report):
    assert "Case list" not in report[0].decode()


def test_case_list_needs_patient_level_export(store):
    from dashboard import audit
    from dashboard.ui.report import report_download

    ids = _case_ids(store, 1)
    with pytest.raises(PermissionError):
        report_download(store, FLT, 10, 20, fmt="html", suppress_below=None, actor="v@h.example", role="viewer",
                        cases=ids)
    log = audit.read(action="report", path=audit.default_audit_path(store.path))
    refused = [r for r in log.iter_rows(named=True) if r["actor"] == "v@h.example"]
    assert refused and refused[0]["result"] == "refused" and ids[0] in refused[0]["detail"]
    data = report_download(store, FLT, 10, 20, fmt="html", suppress_below=None, actor="i@h.example",
                           role="investigator", cases=ids).decode()
    assert f"Timeline of {ids[0]}" in data


def test_format_case_list_by_hand():
    import datetime as dt

    from dashboard.tables.cases import format_case_list

    row = {"subject_id": "NOR-0000001", "age": 61, "sex": "F", "tumour_site": "RECTUM", "ct": "T4A", "cn": "N1",
           "cm": "M0", "biomarker_basis": "DMMR_IHC", "regimen_class": "PD1", "ici_cycles": 1,
           "restaging_response": "CCR", "initial_strategy": "WW", "status_at_last_fu": "ORGAN_PRESERVED",
           "t1": dt.date(2025, 1, 1), "last_contact_date": dt.date(2026, 1, 1)}
    out = format_case_list([row, {**row, "subject_id": "NOR-0000002", "t1": None, "ici_cycles": None,
                                  "status_at_last_fu": "NEW_CODE"}], {"ORGAN_PRESERVED": "organ preserved"})
    first, second = out.row(0, named=True), out.row(1, named=True)
    assert first["Case"] == "NOR-0000001" and first["Patient"] == "61 y, Female"
    assert first["Tumour, stage, biomarker"].startswith("Rectum cT4a cN1; ")  # cM0 not written
    assert first["Immunotherapy"].endswith(", 1 cycle") and first["Now"] == "organ preserved"
    assert first["Months since T1"] == "12.0"
    assert second["Months since T1"] == "-" and second["Now"] == "NEW_CODE" and "cycle" not in second["Immunotherapy"]
