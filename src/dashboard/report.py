"""MDT report: every page's figures and tables under the current filters, as one
self-contained HTML file (figures as inline SVG, tables as great_tables HTML,
no external resource) and as a PDF (Chromium's print to PDF, no network).

Pure: no Streamlit. Pages contribute :class:`ReportSection` objects through the
registry in :mod:`dashboard.ui.report`.
"""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import polars as pl

from .figures.export import figure_bytes
from .i18n import N_, _, fmt_int
from .provenance import Provenance
from .render import cjk_font_face, html_to_pdf
from .tables.export import FONT_STACK, blocks_from_heads, gt_html, html_lang, suppress_small_cells


@dataclass(frozen=True)
class ReportItem:
    """One figure or table of a report section.

    Attributes
    ----------
    title : heading above it.
    content : a plotly ``go.Figure`` or a ``pl.DataFrame`` (the display table).
    caption : one or two sentences under the heading (what is counted, which test).
    bold_rows : table rows set in bold (e.g. Table 1's variable rows).
    count_columns : table columns that hold counts, for small-cell suppression
        (default: detected, see :func:`dashboard.tables.export.suppress_small_cells`).
    patient_level : one patient's data (the case list): no small-cell suppression, which
        is for counts of patients; who may see it is the caller's check.
    """

    title: str
    content: Any
    caption: str = ""
    bold_rows: tuple[int, ...] = ()
    count_columns: tuple[str, ...] | None = None
    patient_level: bool = False

    @property
    def is_table(self) -> bool:
        return isinstance(self.content, pl.DataFrame)


@dataclass(frozen=True)
class ReportSection:
    """A page's part of the report: its name and its items, in page order."""

    page: str
    items: tuple[ReportItem, ...] = field(default_factory=tuple)
    note: str = ""


WIDE_TABLE_COLUMNS = 8  # tables with more columns go on a landscape page
PAGE_SIZES = ("A4", "Letter")
REPORT_TITLE = N_("MDT report")
REGISTRY = N_("NOR-MP registry (NCT07642323)")

# Latin script in Liberation Sans, Chinese in Noto Sans CJK SC (Debian's fonts-noto-cjk,
# embedded by Chromium's print to PDF); great_tables' own font list is overridden.
_CSS = """
body, .gt_table {font-family: FONT_STACK !important;}
/* a Chinese column heading breaks at its punctuation or spaces, not between any two characters */
.gt_col_heading, .gt_column_spanner {word-break: keep-all;}
body {color: #111; margin: 0 auto;
      max-width: 1840px; padding: 16px 32px; background: white;}
h1 {font-size: 26px; margin: 4px 0 8px;} h2 {font-size: 21px; margin: 28px 0 6px; border-bottom: 2px solid #0072B2;
      padding-bottom: 3px; break-after: avoid;} h3 {font-size: 16px; margin: 18px 0 4px; break-after: avoid;}
.synthetic {background: #fff3cd; border-left: 6px solid #e0a800; color: #5c4400; padding: 8px 12px;
      border-radius: 4px; font-size: 15px; margin: 8px 0;}
.imported {background: #e8f1fb; border-left: 6px solid #0072B2; color: #0b3a63; padding: 8px 12px;
      border-radius: 4px; font-size: 15px; margin: 8px 0;}
.prov {font-size: 13px; color: #333; border: 1px solid #ccc; border-radius: 4px; padding: 6px 10px; margin: 8px 0;}
.prov td {padding: 2px 12px 2px 0; vertical-align: baseline; line-height: 1.5;} .prov td:first-child {white-space: nowrap;}
.caption {font-size: 13px; color: #333; margin: 0 0 6px;}
.item {break-inside: avoid; margin-bottom: 14px; min-width: 0;}
.fig svg {max-width: 100%; height: auto; display: block;}
@media screen { .fig svg {width: 100%; max-width: 1100px;} }
.items {display: grid; grid-template-columns: repeat(auto-fill, minmax(860px, 1fr)); gap: 8px 28px; align-items: start;}
.item.table {grid-column: 1 / -1;}
.item.case.table td:first-child {white-space: nowrap;} /* a case's id on one line */
.gt_table {width: 100% !important;}
.toc {font-size: 15px;} .toc ol {padding-left: 22px;} .toc li {margin: 3px 0;}
.toc .pg {float: right;} .toc a {color: #0b3a63; text-decoration: none;}
.title-page .registry {font-size: 15px; color: #333;} .title-page h1 {font-size: 30px; margin-top: 24px;}
.keys {display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; margin: 12px 0;}
.key {border: 1px solid #c9d3dd; border-radius: 6px; padding: 10px 12px;}
.key .v {font-size: 28px; font-weight: bold; color: #0b3a63;} .key .l {font-size: 13px; color: #333;}
.foot {font-size: 11px; color: #555; margin-top: 24px; border-top: 1px solid #ccc;}
@page {size: A4; margin: 18mm 12mm 16mm 12mm;}
@page wide {size: A4 landscape; margin: 16mm 12mm 14mm 12mm;}
@media print {
  body {max-width: none; padding: 0;}
  .items {display: block;}
  .title-page, .toc-page, .keys-page {break-after: page;}
  h2 {break-before: page;}
  .fig svg {max-height: 215mm; width: auto; margin: 0 auto;}
  .wide {page: wide;}
  .wide .gt_table {font-size: 10px !important;}
  .wide .fig svg {max-height: 150mm;}
}
""".replace("FONT_STACK", FONT_STACK)


def figure_svg(item: ReportItem, presentation: bool = False, suppress_below: int | None = None) -> str:
    """A report figure as SVG markup at double-column size (the layout step for that size)."""
    # fonts not embedded per figure: the report names Liberation Sans, which the server
    # prints with; a reader's browser without it falls back to Arial (same metrics)
    return figure_bytes(item.content, "svg", "double", None, presentation=presentation, suppress_below=suppress_below,
                        embed_fonts=False).decode("utf-8")


def _figure_html(svg: str, title: str, index: int) -> str:
    """The figure as inline SVG markup: the document's own ``@font-face`` rules (Liberation
    Sans named, Noto Sans CJK SC inlined as one TrueType subset for the whole report) reach
    its text, so no figure carries a font of its own. Element ids get a per-figure prefix
    (two figures never share a clip path)."""
    return f"<div class='fig' role='img' aria-label='{html.escape(title, quote=True)}'>{_inline_svg(svg, index)}</div>"


def _inline_svg(svg: str, index: int) -> str:
    """SVG markup for a place inside an HTML body: no XML prolog, ids (and the references
    to them) prefixed with ``f<index>-``."""
    svg = svg[svg.index("<svg"):]
    prefix = f"f{index}-"
    svg = re.sub(r'\sid="([^"]+)"', lambda m: f' id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)
    return re.sub(r'(xlink:href|href)="#([^"]+)"', lambda m: f'{m.group(1)}="#{prefix}{m.group(2)}"', svg)


def _table_html(item: ReportItem, suppress_below: int | None) -> str:
    df = item.content
    if suppress_below is not None and not item.patient_level:
        df = suppress_small_cells(df, suppress_below, list(item.count_columns) if item.count_columns else None,
                                  blocks=blocks_from_heads(df.height, item.bold_rows))
    return gt_html(df, item.title, [], bold_rows=item.bold_rows, font_px=13)


def _key_numbers(sections: Sequence[ReportSection], provenance: Provenance) -> list[tuple[str, str]]:
    """Key numbers for the summary page: the first two-column (label, count) table of the
    first section (the Overview's "Registry at a glance"), and N under the filters."""
    keys: list[tuple[str, str]] = []
    if provenance.n is not None:
        keys.append((_("Patients under the filters"), fmt_int(provenance.n)))
    for s in [x for x in sections if not any(i.patient_level for i in x.items)][:1]:
        for item in s.items:
            if item.is_table and item.content.width == 2 and item.content.height <= 12:
                for label, value in item.content.iter_rows():
                    keys.append((str(label), f"{value:,}" if isinstance(value, int) else str(value)))
                break
    return keys


def build_report(sections: Sequence[ReportSection], provenance: Provenance, *, title: str | None = None,
                 suppress_below: int | None = None, presentation: bool = False,
                 meta: Mapping[str, Any] | None = None, meeting_date: str | None = None,
                 prepared_by: str | None = None, registry: str | None = None,
                 render_figure: Callable[[ReportItem], str] | None = None) -> bytes:
    """The report as one self-contained HTML file (UTF-8 bytes), laid out as a document.

    A title page (registry, data status synthetic or imported with the data cut-off
    date, filters, N, meeting date, prepared by), a contents page (page numbers filled in
    by :func:`report_pdf`), a page of key numbers, then one section per page of the app.
    Tables with more than :data:`WIDE_TABLE_COLUMNS` columns go on a landscape page;
    figures are never taller than a page, so never split. On screen the figures sit two
    abreast on a 1920-wide display.

    Parameters
    ----------
    sections : one per page, in page order.
    provenance : the data, filters and N the report was made under (stated at the top
        and at the bottom; "SYNTHETIC DATA" banner for the demonstration registry).
    suppress_below : small-cell suppression threshold for every table and for the counts
        figures write (at-risk numbers, box counts).
    presentation : figures in the presentation look.
    meta : the store's meta (``cutoff_date``); meeting_date, prepared_by: for the title page.
    title, registry : default "MDT report" and the registry's name, in the current language.
    render_figure : item -> its SVG (default :func:`figure_svg` with ``presentation`` and
        ``suppress_below``); lets a caller render figures while it still builds sections.

    Everything the report writes itself (title page, contents, key numbers, captions it
    adds, running header, page numbers, footer) is in the current language
    (:mod:`dashboard.i18n`); the sections bring their own titles, tables and figures,
    made in the same language. ``<html lang>`` says which.
    """
    if not isinstance(provenance, Provenance):
        raise TypeError("provenance must be a Provenance")
    meta = meta or {}
    title = title or _(REPORT_TITLE)
    registry = registry or _(REGISTRY)
    cutoff = str(meta.get("cutoff_date") or meta.get("data_cutoff") or _("not recorded"))
    detail, built = provenance.detail_text, provenance.built_at[:10]
    status = (_("{status} ({detail})").format(status=provenance.status_text, detail=detail) if provenance.synthetic
              else _("Imported registry data ({detail}), loaded {built}").format(detail=detail, built=built))
    banner = ("<div class='synthetic'><b>" + html.escape(_("{status}.").format(status=provenance.status_text))
              + "</b> " + html.escape(_("{detail}, built {built}.").format(detail=detail, built=built)) + "</div>"
              if provenance.synthetic else
              "<div class='imported'><b>" + html.escape(_("Imported registry data.")) + "</b> "
              + html.escape(_("Data cut-off {cutoff}.").format(cutoff=cutoff)) + "</div>")
    rows = [(_("Registry"), registry), (_("Data"), status), (_("Data cut-off"), cutoff),
            (_("Content hash"), provenance.hash_short), (_("Filters"), provenance.filter_text),
            (_("Patients"), provenance.n_text or "-"),
            (_("Meeting date"), meeting_date or provenance.exported_at[:10]),
            (_("Prepared by"), prepared_by or "-"), (_("Made with"), provenance.lines()[2])]
    if suppress_below:
        rows.append((_("Suppression"), _(
            "counts from 1 to {last} shown as <{threshold} in tables and figures; percentages of suppressed cells "
            "blank; (s): withheld so that a suppressed count cannot be worked out from a total").format(
            last=suppress_below - 1, threshold=suppress_below)))
    parts = ["<div class='title-page'>", f"<p class='registry'>{html.escape(registry)}</p>",
             f"<h1>{html.escape(title)}</h1>", banner,
             "<table class='prov'>" + "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>"
                                              for k, v in rows) + "</table></div>"]
    parts.append("<div class='toc-page'><div class='toc'><b>" + html.escape(_("Contents")) + "</b><ol>" + "".join(
        f"<li><a href='#s{i}'>{html.escape(s.page)}</a><span class='pg' data-sec='s{i}'></span></li>"
        for i, s in enumerate(sections)) + "</ol></div></div>")
    keys = _key_numbers(sections, provenance)
    if keys:
        parts.append("<div class='keys-page'><h3>" + html.escape(_("Key numbers")) + "</h3><div class='keys'>" + "".join(
            f"<div class='key'><div class='v'>{html.escape(v)}</div><div class='l'>{html.escape(k)}</div></div>"
            for k, v in keys) + "</div><p class='caption'>" + html.escape(
            _("{filters}. {status}. Data cut-off {cutoff}.").format(filters=provenance.filter_text, status=status,
                                                                   cutoff=cutoff)) + "</p></div>")
    figure_no = itertools.count()
    render = render_figure or (lambda item: figure_svg(item, presentation,
                                                       None if item.patient_level else suppress_below))
    for i, section in enumerate(sections):
        parts.append(f"<h2 id='s{i}'>{html.escape(section.page)}</h2>")
        if section.note:
            parts.append(f"<p class='caption'>{html.escape(section.note)}</p>")
        if not section.items:
            parts.append("<p class='caption'>" + html.escape(_("Nothing to show for these filters.")) + "</p>")
        block: list[str] = []
        for item in section.items:
            wide = item.is_table and item.content.width > WIDE_TABLE_COLUMNS
            body = (_table_html(item, suppress_below) if item.is_table
                    else _figure_html(render(item), item.title, next(figure_no)))
            head = "" if item.is_table else f"<h3>{html.escape(item.title)}</h3>"
            caption = item.caption
            meta = None if item.is_table else item.content.layout.meta
            note = meta.get("censor_note") if isinstance(meta, dict) else None
            if note and ("censor" in caption.lower() or _("censored") in caption):  # the caption says how; add only where marks are left out
                note = note.split(". ", 1)[1] if ". " in note else ""
            if note and note not in caption:
                caption = f"{caption} {note}".strip()
            cap = f"<p class='caption'>{html.escape(caption)}</p>" if caption else ""
            kind = (" table" if item.is_table else "") + (" case" if item.patient_level else "")
            piece = f"<div class='item{kind}'>{head}{cap}{body}</div>"
            if wide:
                if block:
                    parts.append("<div class='items'>" + "".join(block) + "</div>")
                    block = []
                parts.append(f"<div class='wide'>{piece}</div>")
            else:
                block.append(piece)
        if block:
            parts.append("<div class='items'>" + "".join(block) + "</div>")
    parts.append("<div class='foot'>" + "<br>".join(html.escape(x) for x in provenance.lines()) + "</div>")
    running = (_("MDT report - SYNTHETIC DATA, not real patients") if provenance.synthetic
               else _("MDT report - imported registry data, cut-off {cutoff}").format(cutoff=cutoff))
    body = "".join(parts)
    # Chinese glyphs inlined once for the document and its inline figures: embedded as a
    # named font in the PDF
    fonts = cjk_font_face(title + body + running + _("Page {page} of {pages}"))
    doc = (f'<!DOCTYPE html><html lang="{html_lang()}">' "<head><meta charset='utf-8'>"
           f"<meta name='running-header' content='{html.escape(running, quote=True)}'>"
           f"<meta name='running-footer' content='{html.escape(provenance.hash_short + ' - ' + provenance.exported_at, quote=True)}'>"
           f"<title>{html.escape(title)}</title><style>{fonts}{_CSS}</style></head><body>{body}</body></html>")
    return doc.encode("utf-8")


def _meta(text: str, name: str) -> str:
    m = re.search(rf"<meta name='{name}' content='([^']*)'>", text)
    return m.group(1) if m else ""


def report_pdf(report_html: bytes | str, *, page_format: str = "A4") -> bytes:
    """The report printed to PDF by Chromium (nothing fetched): A4 (or Letter) portrait,
    landscape pages for wide tables, a running header with the data status, page
    numbers ("Page n of N") in the footer, PDF bookmarks from the headings, and the
    contents page with each section's page number.

    One print of the whole report; the section page numbers are read from its bookmarks,
    and only the pages before the first section (title, contents, key numbers) are printed
    again with the numbers filled in and put in place of the first print's (their layout
    does not change: the contents page reserves the numbers' space). Should the front
    pages come out differently, the whole report is printed a second time instead."""
    if page_format not in PAGE_SIZES:
        raise ValueError(f"page_format must be one of {PAGE_SIZES}")
    text = report_html.decode("utf-8") if isinstance(report_html, bytes) else report_html
    if page_format != "A4":
        text = text.replace("size: A4;", f"size: {page_format};").replace("size: A4 landscape;",
                                                                           f"size: {page_format} landscape;")
    header, footer = _meta(text, "running-header"), _meta(text, "running-footer")
    first = html_to_pdf(text, header=header, footer=footer)
    heads = [(sid, html.unescape(t)) for sid, t in re.findall(r"<h2 id='(s\d+)'>(.*?)</h2>", text)]
    pages = _section_pages(first, heads)
    if not pages:
        return first

    def fill(m: re.Match) -> str:
        return f"<span class='pg' data-sec='{m.group(1)}'>{pages.get(m.group(1), '')}</span>"

    filled = re.sub(r"<span class='pg' data-sec='(s\d+)'></span>", fill, text)
    cut = filled.find("<h2 id='s0'>")
    front_pages = min(pages.values()) - 1
    if cut > 0 and front_pages > 0:
        total = _page_count(first)
        front = html_to_pdf(filled[:cut] + "</body></html>", header=header, footer=footer, total_pages=total)
        spliced = _replace_front_pages(first, front, front_pages)
        if spliced is not None:
            return spliced
    return html_to_pdf(filled, header=header, footer=footer)


def _page_count(pdf: bytes) -> int:
    import io

    import pypdf

    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


def _replace_front_pages(pdf: bytes, front: bytes, n: int) -> bytes | None:
    """``pdf`` with the content of its first ``n`` pages taken from ``front`` (the same
    pages printed again with the contents' page numbers), written as an incremental
    update (PDF 32000-1, 7.5.6): the page objects get ``front``'s content stream and
    resources, everything else (bookmarks, links, tags, the other pages) is untouched and
    not even parsed. None when ``front`` does not have exactly ``n`` pages of the same
    sizes, or ``pdf`` is not laid out as Chromium writes it (classic cross-reference
    table): the caller then prints the whole report again."""
    import io

    import pypdf
    from pypdf.generic import (ArrayObject, DictionaryObject, IndirectObject, NameObject, NumberObject,
                               StreamObject)

    old, new = pypdf.PdfReader(io.BytesIO(pdf)), pypdf.PdfReader(io.BytesIO(front))
    tail = pdf[-1024:]
    m = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", tail)
    if m is None or b"/XRefStm" in pdf[int(m.group(1)):] or len(new.pages) != n or len(old.pages) < n:
        return None
    if not pdf[int(m.group(1)):].startswith(b"xref"):
        return None
    for i in range(n):
        a, b = old.pages[i].mediabox, new.pages[i].mediabox
        if (round(float(a.width)), round(float(a.height))) != (round(float(b.width)), round(float(b.height))):
            return None
    size = int(old.trailer["/Size"])
    numbers: dict[int, int] = {}
    queue: list[tuple[int, object]] = []

    def number(ref: IndirectObject) -> IndirectObject:
        if ref.idnum not in numbers:
            numbers[ref.idnum] = size + len(numbers)
            queue.append((numbers[ref.idnum], ref.get_object()))
        return IndirectObject(numbers[ref.idnum], 0, None)

    def copy(obj):
        if isinstance(obj, IndirectObject):
            return number(obj)
        if isinstance(obj, StreamObject):
            out = obj.__class__()
            out.update({k: copy(v) for k, v in obj.items() if k != "/Length"})
            out._data = obj._data  # noqa: SLF001 - the encoded bytes, as they are
            return out
        if isinstance(obj, DictionaryObject):
            return DictionaryObject({k: copy(v) for k, v in obj.items()})
        if isinstance(obj, ArrayObject):
            return ArrayObject(copy(v) for v in obj)
        return obj

    body, offsets = io.BytesIO(), {}
    base = len(pdf) + 1

    def emit(num: int, obj) -> None:
        offsets[num] = base + body.tell()
        body.write(f"{num} 0 obj\n".encode())
        obj.write_to_stream(body)
        body.write(b"\nendobj\n")

    for i in range(n):
        page, src = old.pages[i], new.pages[i]
        updated = DictionaryObject(dict(page.items()))
        updated[NameObject("/Contents")] = copy(src.raw_get("/Contents")) if "/Contents" in src else ArrayObject()
        updated[NameObject("/Resources")] = copy(src.raw_get("/Resources")) if "/Resources" in src else DictionaryObject()
        emit(page.indirect_reference.idnum, updated)
    while queue:
        num, obj = queue.pop(0)
        emit(num, copy(obj))
    xref_at = base + body.tell()
    body.write(b"xref\n0 1\n0000000000 65535 f \n")
    for num in sorted(offsets):
        body.write(f"{num} 1\n{offsets[num]:010d} 00000 n \n".encode())
    trailer = DictionaryObject({NameObject("/Size"): NumberObject(size + len(numbers)),
                                NameObject("/Prev"): NumberObject(int(m.group(1)))})
    for key in ("/Root", "/Info", "/ID"):
        if key in old.trailer:
            trailer[NameObject(key)] = old.trailer.raw_get(key)
    body.write(b"trailer\n")
    trailer.write_to_stream(body)
    body.write(f"\nstartxref\n{xref_at}\n%%EOF\n".encode())
    return pdf + b"\n" + body.getvalue()


def _section_pages(pdf: bytes, heads: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Section id -> page number (1-based), from the PDF's bookmarks, matched to the
    section headings in order (the contents page fills in at most two digits, so the
    second print does not move a heading)."""
    import io

    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    marks: list[tuple[str, int]] = []

    def walk(items) -> None:
        for o in items:
            if isinstance(o, list):
                walk(o)
                continue
            try:
                marks.append((str(o.title).strip(), reader.get_destination_page_number(o) + 1))
            except Exception:  # noqa: BLE001 - a bookmark without a page
                continue

    walk(reader.outline)
    marks.sort(key=lambda m: m[1])
    out: dict[str, int] = {}
    pos = 0
    for sid, title in heads:
        for j in range(pos, len(marks)):
            if marks[j][0] == title.strip():
                out[sid] = marks[j][1]
                pos = j + 1
                break
    return out
