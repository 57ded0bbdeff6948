"""MDT report: every page's figures and tables under the current filters, as one
self-contained HTML file (figures inlined as base64 SVG, tables as great_tables HTML,
no external resource) and as a PDF (Chromium's print to PDF, no network).

Pure: no Streamlit. Pages contribute :class:`ReportSection` objects through the
registry in :mod:`dashboard.ui.report`.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from typing import Any, Sequence

import polars as pl

from .figures.export import figure_bytes
from .provenance import Provenance
from .render import html_to_pdf
from .tables.export import blocks_from_heads, gt_html, suppress_small_cells


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
    """

    title: str
    content: Any
    caption: str = ""
    bold_rows: tuple[int, ...] = ()
    count_columns: tuple[str, ...] | None = None

    @property
    def is_table(self) -> bool:
        return isinstance(self.content, pl.DataFrame)


@dataclass(frozen=True)
class ReportSection:
    """A page's part of the report: its name and its items, in page order."""

    page: str
    items: tuple[ReportItem, ...] = field(default_factory=tuple)
    note: str = ""


_CSS = """
body {font-family: 'Source Sans Pro', Arial, sans-serif; color: #111; margin: 0 auto; max-width: 1000px;
      padding: 16px 24px; background: white;}
h1 {font-size: 26px; margin: 4px 0 8px;} h2 {font-size: 21px; margin: 28px 0 6px; border-bottom: 2px solid #0072B2;
      padding-bottom: 3px; break-after: avoid;} h3 {font-size: 16px; margin: 18px 0 4px; break-after: avoid;}
.synthetic {background: #fff3cd; border-left: 6px solid #e0a800; color: #5c4400; padding: 8px 12px;
      border-radius: 4px; font-size: 15px; margin: 8px 0;}
.prov {font-size: 13px; color: #333; border: 1px solid #ccc; border-radius: 4px; padding: 6px 10px; margin: 8px 0;}
.prov td {padding: 1px 10px 1px 0; vertical-align: top;}
.caption {font-size: 13px; color: #333; margin: 0 0 6px;}
.item {break-inside: avoid; margin-bottom: 14px;}
.fig img {width: 100%; height: auto; display: block;}
.toc {font-size: 14px;} .foot {font-size: 11px; color: #555; margin-top: 24px; border-top: 1px solid #ccc;}
@media print { body {max-width: none; padding: 0;} h2 {break-before: page;} h2.first {break-before: avoid;} }
"""


def _figure_html(item: ReportItem, presentation: bool) -> str:
    svg = figure_bytes(item.content, "svg", "double", None, presentation=presentation)
    b64 = base64.b64encode(svg).decode("ascii")
    return f"<div class='fig'><img alt='{html.escape(item.title)}' src='data:image/svg+xml;base64,{b64}'></div>"


def _table_html(item: ReportItem, suppress_below: int | None) -> str:
    df = item.content
    if suppress_below is not None:
        df = suppress_small_cells(df, suppress_below, list(item.count_columns) if item.count_columns else None,
                                  blocks=blocks_from_heads(df.height, item.bold_rows))
    return gt_html(df, item.title, [], bold_rows=item.bold_rows, font_px=13)


def build_report(sections: Sequence[ReportSection], provenance: Provenance, *, title: str = "MDT report",
                 suppress_below: int | None = None, presentation: bool = False) -> bytes:
    """The report as one self-contained HTML file (UTF-8 bytes).

    Parameters
    ----------
    sections : one per page, in page order.
    provenance : the data, filters and N the report was made under (stated at the top
        and at the bottom; "SYNTHETIC DATA" banner for the demonstration registry).
    suppress_below : small-cell suppression threshold for every table (figures are
        drawn as on screen; the header says so).
    presentation : figures in the presentation look.
    """
    if not isinstance(provenance, Provenance):
        raise TypeError("provenance must be a Provenance")
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if provenance.synthetic:
        parts.append("<div class='synthetic'><b>SYNTHETIC DEMONSTRATION DATA - not real patients.</b> "
                     f"{html.escape(provenance.detail)}, built {html.escape(provenance.built_at[:10])}.</div>")
    rows = [("Data", provenance.lines()[0]), ("Filters", provenance.filter_text),
            ("Patients", provenance.n_text or "-"), ("Made with", f"{provenance.lines()[2]}")]
    if suppress_below:
        rows.append(("Suppression", f"table counts from 1 to {suppress_below - 1} shown as <{suppress_below}; "
                                    "percentages of suppressed cells blank; figures unchanged"))
    parts.append("<table class='prov'>" + "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>"
                                                   for k, v in rows) + "</table>")
    parts.append("<div class='toc'><b>Contents</b><ol>" + "".join(
        f"<li><a href='#s{i}'>{html.escape(s.page)}</a></li>" for i, s in enumerate(sections)) + "</ol></div>")
    for i, section in enumerate(sections):
        parts.append(f"<h2 id='s{i}' class='{'first' if i == 0 else ''}'>{html.escape(section.page)}</h2>")
        if section.note:
            parts.append(f"<p class='caption'>{html.escape(section.note)}</p>")
        if not section.items:
            parts.append("<p class='caption'>Nothing to show for these filters.</p>")
        for item in section.items:
            body = _table_html(item, suppress_below) if item.is_table else _figure_html(item, presentation)
            head = "" if item.is_table else f"<h3>{html.escape(item.title)}</h3>"
            cap = f"<p class='caption'>{html.escape(item.caption)}</p>" if item.caption else ""
            parts.append(f"<div class='item'>{head}{cap}{body}</div>")
    parts.append("<div class='foot'>" + "<br>".join(html.escape(x) for x in provenance.lines()) + "</div>")
    doc = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>{''.join(parts)}</body></html>")
    return doc.encode("utf-8")


def report_pdf(report_html: bytes | str) -> bytes:
    """The report printed to PDF by Chromium (A4 portrait; nothing fetched)."""
    text = report_html.decode("utf-8") if isinstance(report_html, bytes) else report_html
    return html_to_pdf(text)
