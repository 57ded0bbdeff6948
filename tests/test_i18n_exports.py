"""Exports in Chinese: every report figure as PDF and the MDT report PDF, made with the
language set to Chinese, read back (pdfplumber): Chinese text, no English left outside
kept abbreviations and data values, the synthetic-data label in Chinese, and every font
embedded (pdffonts), so the file does not depend on the reader's fonts (the report's CJK
font as a named subset; a figure's CJK glyphs as Chromium's Type 3 fonts)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import plotly.graph_objects as go
import pytest

from dashboard.filters import CohortFilter
from dashboard.i18n import language
from dashboard.provenance import Provenance
from dashboard.queries.cohort import select_patient_counts
from dashboard.store import Store
from i18n_scan import ALLOWED_WORDS, data_values, words

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no Chromium")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from dashboard.synth import build_demo

    path = tmp_path_factory.mktemp("i18n_exports") / "registry.duckdb"
    build_demo(path, 400, 20260715, progress=False)
    return Store(path)


@pytest.fixture(scope="module")
def allowed(store):
    return ALLOWED_WORDS | data_values(store.path)


def _pdf_text(pdf: bytes) -> str:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        # dedupe: a label drawn with a white halo is the same glyphs three times
        return "\n".join(page.dedupe_chars().extract_text() or "" for page in doc.pages)


def _english(text: str, allowed) -> list[str]:
    return sorted({w for w in words(text) if w not in allowed and not (w.isupper() and len(w) <= 6)})


def _embedded_fonts(pdf: bytes, tmp_path: Path) -> list[tuple[str, bool]]:
    path = tmp_path / "x.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    fonts = []
    for line in out.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 5:
            # name type [encoding...] emb sub uni object ID: emb is 5th from the end
            fonts.append((parts[0], parts[-5] == "yes"))
    return fonts


@pytest.fixture(scope="module")
def figures_zh(store):
    from dashboard.ui.report import collect_sections

    out = {}
    with language("zh"):
        for s in collect_sections(store, CohortFilter()):
            for it in s.items:
                if isinstance(it.content, go.Figure):
                    out[it.title] = it.content
    assert len(out) >= 8
    return out


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="no poppler-utils")
def test_every_report_figure_exports_in_chinese(store, figures_zh, allowed, tmp_path):
    from dashboard.figures.export import figure_bytes

    c = select_patient_counts(store, CohortFilter())
    problems = []
    with language("zh"):
        prov = Provenance.from_meta(store.meta(), CohortFilter(), n=c["n"], m=c["m"])
        for title, fig in figures_zh.items():
            pdf = figure_bytes(fig, "pdf", "double", prov)
            text = _pdf_text(pdf)
            if not CJK.search(text):
                problems.append(f"{title}: no Chinese text in the PDF")
            left = _english(text, allowed)
            if left:
                problems.append(f"{title}: English left: {left[:15]}")
            # Chromium (kaleido) embeds the CJK glyphs of a figure as Type 3 fonts (vector
            # glyphs in the file, no name): every font must be embedded, none left to the
            # reader's machine. The MDT report embeds named TrueType subsets (below).
            fonts = _embedded_fonts(pdf, tmp_path)
            if not fonts or not all(emb for _, emb in fonts):
                problems.append(f"{title}: a font is not embedded ({fonts})")
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="no poppler-utils")
def test_mdt_report_pdf_in_chinese(store, allowed, tmp_path):
    from dashboard.report import report_pdf
    from dashboard.ui.report import report_bytes

    flt = CohortFilter()
    counts = select_patient_counts(store, flt)
    with language("zh"):
        html = report_bytes(store, flt, counts["n"], counts["m"], suppress_below=5)
        pdf = report_pdf(html)
    text = _pdf_text(pdf)
    assert "模拟演示数据" in text  # synthetic data labelled in Chinese
    left = _english(text, allowed)
    assert not left, f"English left in the Chinese MDT report: {left[:40]}"
    fonts = _embedded_fonts(pdf, tmp_path)
    assert any("CJK" in name and emb for name, emb in fonts), fonts
    assert 'lang="zh' in html.decode()
