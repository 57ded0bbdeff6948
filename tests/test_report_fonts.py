"""The MDT report's CJK font cache (converted once, kept on disk, keyed by the font file) and
its one-print PDF (front pages printed again with the contents' page numbers and put in place
by an incremental update)."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
from pathlib import Path

import pytest

from dashboard import render

CHROMIUM = Path("/usr/bin/chromium").exists()
HAS_CJK = os.path.exists(render.CJK_FONT_FILE)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty font cache and a process that has converted nothing yet."""
    monkeypatch.setenv(render.CJK_CACHE_ENV, str(tmp_path / "fonts"))
    monkeypatch.setitem(render._cjk, "key", None)
    monkeypatch.setitem(render._cjk, "chunks", [])
    calls: list[str] = []
    real = render._truetype_subset

    def counting(path, family, text):
        calls.append(text)
        return real(path, family, text)

    monkeypatch.setattr(render, "_truetype_subset", counting)
    return tmp_path / "fonts", calls


def _fonts_of(rules: str) -> list[tuple[int, set[int], str]]:
    """(weight, code points in the font's cmap, unicode-range) of every @font-face rule."""
    from fontTools.ttLib import TTFont

    out = []
    for weight, b64, rng in re.findall(r"font-weight: (\d+); src: url\(data:font/ttf;base64,([^)]+)\) "
                                       r"format\('truetype'\); unicode-range: ([^;]+);", rules):
        font = TTFont(io.BytesIO(base64.b64decode(b64)))
        out.append((int(weight), set(font.getBestCmap()), rng))
    return out


def test_unicode_range_runs():
    assert render._unicode_range("abcx") == "U+61-63, U+78"
    assert render._unicode_range("模") == "U+6A21"


@pytest.mark.skipif(not HAS_CJK, reason="no Noto Sans CJK")
def test_converted_characters_are_kept_on_disk_and_reused_by_the_next_process(cache, monkeypatch):
    folder, calls = cache
    rules = render.cjk_font_face("模拟数据 abc")
    assert calls == ["".join(sorted("模拟数据"))] * 2  # only the CJK characters; regular and bold
    fonts = _fonts_of(rules)
    assert sorted(w for w, _c, _r in fonts) == [400, 700]
    for _w, cmap, rng in fonts:
        assert {ord(c) for c in "模拟数据"} <= cmap
        assert rng == render._unicode_range("模拟数据")
    assert len(list(folder.glob("*.chars"))) == 1 and len(list(folder.glob("*.ttf"))) == 2

    # a new process: nothing in memory, the disk has the characters: no conversion
    monkeypatch.setitem(render._cjk, "key", None)
    monkeypatch.setitem(render._cjk, "chunks", [])
    again = render.cjk_font_face("数据")
    assert len(calls) == 2
    assert all(cmap >= {ord("数"), ord("据")} and ord("模") not in cmap for _w, cmap, _r in _fonts_of(again))

    # a character no piece has: only it is converted, in a piece of its own (disjoint ranges)
    more = render.cjk_font_face("数据真实")
    assert calls[2:] == ["".join(sorted("真实"))] * 2
    ranges = [r for _w, _c, r in _fonts_of(more)]
    assert sorted(set(ranges)) == sorted({render._unicode_range("数据"), render._unicode_range("真实")})


@pytest.mark.skipif(not HAS_CJK, reason="no Noto Sans CJK")
def test_an_updated_font_file_is_converted_again(cache, monkeypatch, tmp_path):
    folder, calls = cache
    regular = tmp_path / "NotoSansCJK-Regular.ttc"
    shutil.copyfile(render.CJK_FONT_FILE, regular)
    monkeypatch.setattr(render, "CJK_FONT_FILE", str(regular))
    monkeypatch.setattr(render, "CJK_BOLD_FILE", str(tmp_path / "no-bold.ttc"))  # regular face only
    render.cjk_font_face("模拟")
    render.cjk_font_face("模拟")
    assert calls == ["".join(sorted("模拟"))]
    st = regular.stat()
    os.utime(regular, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the package was updated
    rules = render.cjk_font_face("模拟")
    assert len(calls) == 2 and calls[0] == calls[1]
    assert [w for w, _c, _r in _fonts_of(rules)] == [400]
    assert len(list(folder.glob("*.chars"))) == 2  # one piece per font version


def test_common_characters_cover_the_catalogs():
    chars = set(render.common_cjk_chars())
    assert len(chars) > 3755  # GB 2312 level 1 and more
    po = (Path(render.__file__).parent / "locale" / "zh_CN" / "LC_MESSAGES" / "ui.po").read_text(encoding="utf-8")
    assert {c for c in po if render._is_cjk(c)} <= chars
    assert "，" in chars and "（" in chars


def test_no_cjk_no_rule(cache):
    assert render.cjk_font_face("Only Latin text: 12 (95% CI)") == ""
    assert cache[1] == []


# ------------------------------------------------------------------ one print
@pytest.fixture(scope="module")
def small_report():
    import polars as pl

    from dashboard.provenance import Provenance
    from dashboard.report import ReportItem, ReportSection, build_report

    rows = pl.DataFrame({"Site": [f"Site {i}" for i in range(40)], "Patients": list(range(40))})
    sections = [ReportSection(f"Part {k}", tuple(ReportItem(f"Table {k}.{j}", rows) for j in range(2)))
                for k in range(3)]
    prov = Provenance.from_meta({"source": "synthetic", "seed": "1", "content_hash": "f" * 64,
                                 "built_at": "2026-11-30T10:00:00Z"})
    return build_report(sections, prov, meta={"cutoff_date": "2026-11-30"})


@pytest.mark.skipif(not CHROMIUM, reason="no Chromium")
def test_report_pdf_contents_numbers_from_one_print(small_report, monkeypatch):
    import pypdf

    from dashboard import report

    prints: list[int] = []
    real = report.html_to_pdf

    def counting(html, **kw):
        prints.append(len(html))
        return real(html, **kw)

    monkeypatch.setattr(report, "html_to_pdf", counting)
    pdf = report.report_pdf(small_report)
    assert len(prints) == 2 and prints[1] < prints[0] / 2  # the whole report once, then the front pages only
    from pdfcheck import analyse_pdf

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    texts = analyse_pdf(pdf).page_texts
    n = len(texts)
    starts = {f"Part {k}": next(i for i, t in enumerate(texts, 1) if f"Table {k}.0" in t) for k in range(3)}
    contents = next(t for t in texts if "Contents" in t)
    for part, page in starts.items():
        assert re.search(rf"{part}\s*{page}\b", contents), (part, page, contents)
    for i, t in enumerate(texts, start=1):
        assert f"Page {i} of {n}" in t  # the reprinted front pages too
    def flat(items):
        for o in items:
            yield from flat(o) if isinstance(o, list) else [o.title]

    marks = list(flat(reader.outline))
    assert [m for m in marks if m.startswith("Part")] == ["Part 0", "Part 1", "Part 2"]
    assert pdf.count(b"%%EOF") == 2  # the first print, then one incremental update


@pytest.mark.skipif(not CHROMIUM, reason="no Chromium")
def test_front_pages_that_moved_are_refused(small_report):
    from dashboard.report import _replace_front_pages, report_pdf
    from dashboard.render import html_to_pdf

    pdf = report_pdf(small_report)
    one_page = html_to_pdf("<html><body><p>x</p></body></html>")
    assert _replace_front_pages(pdf, one_page, 2) is None  # front has 1 page, 2 expected
    assert _replace_front_pages(one_page + b"garbage", one_page, 1) is None  # not a classic xref ending
