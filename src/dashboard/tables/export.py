"""Table export: CSV, XLSX, formatted HTML and PNG (great_tables), each with the
provenance footer; small-cell suppression; masking of patient identifiers.

Where the footer goes
---------------------
- CSV: the table first (header + rows, unchanged), then ``# ``-prefixed comment lines
  (title, provenance, notes). ``pl.read_csv(path, comment_prefix="#")`` and
  ``pandas.read_csv(path, comment="#")`` read the table back exactly.
- XLSX: sheet ``table`` holds the table from cell A1 (every cell written as a value,
  never as a formula), then one empty row and the footer lines; sheet ``provenance``
  holds one field per row (data, source, hash, filters, N, app, export time, title,
  suppression).
- HTML: a self-contained page: great_tables' table with the title as header and the
  footer as source notes ("SYNTHETIC DATA" first, in bold, for synthetic data).
- PNG: that HTML rendered by Chromium (:mod:`dashboard.render`) at 300 dpi.
"""

from __future__ import annotations

import html as _html
import io
import re
from typing import Iterable, Mapping, Sequence

import polars as pl

from ..provenance import Provenance
from ..render import html_to_png

FORMATS = ("csv", "xlsx", "html", "png")
MIME = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "html": "text/html", "png": "image/png"}
IDENTIFIER_COLUMNS = ("subject_id", "patient_id", "record_id", "redcap_record_id")
# "12", "12 (34.5%)", "1,204 (5.0%)"; not "12.0 (8-15)"
_N_PCT = re.compile(r"^\s*(\d{1,3}(?:,\d{3})+|\d+)\s*(\([^()]*%[^()]*\))?\s*$")
_PCT_NAMES = ("%", "pct", "percent", "Percent", "%, n")


# ------------------------------------------------------------------ suppression
def suppress_small_cells(df: pl.DataFrame, threshold: int = 5, count_columns: Sequence[str] | None = None,
                         *, percent_of: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Hide small counts before a table leaves the app.

    A count from 1 to ``threshold - 1`` becomes ``"<threshold"`` (``"<5"``); 0, counts of
    ``threshold`` or more and missing cells are unchanged. Nothing else is recomputed:
    totals and other cells stay as they are (so a suppressed cell can sometimes be
    worked out from a total; secondary suppression is not done).

    Which cells are counts
    ----------------------
    ``count_columns`` (default: every integer column, plus every string column with a
    cell that reads ``n`` or ``n (x%)``, such as Table 1's ``"12 (34.5%)"``). In string
    columns only such cells are counts (a median "3.0 (1.0-5.0)" is not). In an
    ``n (x%)`` cell the whole cell becomes ``"<5"``: the percentage in brackets is
    derived from the suppressed count and goes with it.

    Percentages in their own column are blanked (null) in every row whose count was
    suppressed: ``percent_of`` maps a percentage column to its count column; by
    default a column named ``%``, ``pct`` or ``percent`` belongs to the single count
    column (when there is exactly one).

    Returns
    -------
    pl.DataFrame : count columns as strings (``"<5"`` is text), other columns as given.
    """
    if not isinstance(df, pl.DataFrame):
        raise TypeError("df must be a polars DataFrame")
    if not isinstance(threshold, int) or threshold < 2:
        raise ValueError("threshold must be an integer of at least 2")
    if count_columns is None:
        count_columns = [c for c, t in df.schema.items() if t.is_integer() or (t == pl.String and _is_count_text(df[c]))]
        count_columns = [c for c in count_columns if c not in (percent_of or {}) and c not in _PCT_NAMES]
    missing = [c for c in count_columns if c not in df.columns]
    if missing:
        raise ValueError(f"count columns not in the table: {missing}")
    if percent_of is None:
        pct = [c for c in df.columns if c in _PCT_NAMES]
        percent_of = {pct[0]: count_columns[0]} if len(pct) == 1 and len(count_columns) == 1 else {}
    label = f"<{threshold}"

    def small(v) -> bool:
        if v is None:
            return False
        if isinstance(v, str):
            m = _N_PCT.match(v)
            return bool(m) and 0 < int(m.group(1).replace(",", "")) < threshold
        return 0 < v < threshold

    hidden = {c: [small(v) for v in df[c].to_list()] for c in count_columns}
    out = df.with_columns(
        pl.Series(c, [label if h else (None if v is None else str(v)) for v, h in zip(df[c].to_list(), hidden[c])],
                  dtype=pl.String)
        for c in count_columns
    )
    for pct_col, count_col in percent_of.items():
        if pct_col not in df.columns or count_col not in hidden:
            raise ValueError(f"percent_of: {pct_col!r} -> {count_col!r} is not a column pair of the table")
        values = df[pct_col].to_list()
        out = out.with_columns(pl.Series(pct_col, [None if h else v for v, h in zip(values, hidden[count_col])],
                                         dtype=df.schema[pct_col]))
    return out


def _is_count_text(s: pl.Series) -> bool:
    return any(v is not None and _N_PCT.match(v) for v in s.to_list())


# ------------------------------------------------------------------ identifiers
def mask_identifiers(df: pl.DataFrame, columns: Iterable[str] = IDENTIFIER_COLUMNS) -> pl.DataFrame:
    """Patient identifiers replaced by a running number (``Patient 1``, ``Patient 2`` ...,
    in order of first appearance; the same id gets the same number). For presentation
    mode, where no patient identifier may be on screen."""
    out = df
    for c in columns:
        if c in df.columns:
            codes: dict = {}
            out = out.with_columns(pl.Series(c, [None if v is None else f"Patient {codes.setdefault(v, len(codes) + 1)}"
                                                 for v in df[c].to_list()], dtype=pl.String))
    return out


# ------------------------------------------------------------------ formats
def _footer(provenance: Provenance | None, suppress_below: int | None, notes: Sequence[str]) -> list[str]:
    lines = list(provenance.lines()) if provenance is not None else []
    if suppress_below:
        lines.append(f"Small-cell suppression: counts from 1 to {suppress_below - 1} shown as <{suppress_below}; "
                     "percentages of suppressed cells left blank.")
    return lines + list(notes)


def _csv(df: pl.DataFrame, title: str, footer: list[str]) -> bytes:
    body = df.write_csv()
    tail = "".join(f"# {line}\n" for line in [title, *footer] if line)
    return (body + tail).encode("utf-8")


def _xlsx(df: pl.DataFrame, title: str, footer: list[str], provenance: Provenance | None,
          suppress_below: int | None) -> bytes:
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"title": title, "comments": " ".join(footer)})
    bold = wb.add_format({"bold": True})
    small = wb.add_format({"italic": True, "font_color": "#444444"})
    ws = wb.add_worksheet("table")
    for j, name in enumerate(df.columns):
        ws.write_string(0, j, str(name), bold)
        ws.set_column(j, j, min(60, max(10, len(str(name)) + 2)))
    for i, row in enumerate(df.iter_rows(), start=1):
        for j, v in enumerate(row):
            if v is None:
                continue
            if isinstance(v, bool):
                ws.write_boolean(i, j, v)
            elif isinstance(v, (int, float)):
                ws.write_number(i, j, v)
            else:
                ws.write_string(i, j, str(v))
    r = df.height + 2
    for line in footer:
        ws.write_string(r, 0, line, small)
        r += 1
    ps = wb.add_worksheet("provenance")
    ps.set_column(0, 0, 16)
    ps.set_column(1, 1, 100)
    rows = [("title", title)] + (provenance.as_rows() if provenance is not None else [])
    rows.append(("suppression", f"counts 1-{suppress_below - 1} shown as <{suppress_below}" if suppress_below else "none"))
    for i, (k, v) in enumerate(rows):
        ps.write_string(i, 0, k, bold)
        ps.write_string(i, 1, v)
    wb.close()
    return buf.getvalue()


def gt_html(df: pl.DataFrame, title: str, footer: Sequence[str], *, synthetic: bool = False,
            bold_rows: Sequence[int] = (), font_px: int = 14) -> str:
    """The table as great_tables HTML (a fragment): title header, footer source notes."""
    from great_tables import GT, html as gt_raw, loc, style

    table = GT(df).tab_header(title=title).sub_missing(missing_text="")
    if df.width > 1:
        table = table.cols_align("center", columns=df.columns[1:])
    for i, line in enumerate(footer):
        text = _html.escape(line)
        if i == 0 and synthetic:
            text = text.replace("SYNTHETIC DATA", "<b>SYNTHETIC DATA</b>", 1)
        table = table.tab_source_note(gt_raw(text))
    if bold_rows:
        table = table.tab_style(style=style.text(weight="bold"), locations=loc.body(rows=list(bold_rows)))
    table = table.tab_options(table_font_size=f"{font_px}px", source_notes_font_size=f"{max(10, font_px - 3)}px",
                              heading_title_font_size=f"{font_px + 4}px", table_font_color="#111111")
    return table.as_raw_html()


def html_document(body: str, title: str) -> str:
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_html.escape(title)}</title></head><body style='margin:8px;background:white'>"
            f"{body}</body></html>")


def table_bytes(df: pl.DataFrame, fmt: str, title: str, provenance: Provenance | None = None, *,
                suppress_below: int | None = None, count_columns: Sequence[str] | None = None,
                percent_of: Mapping[str, str] | None = None, notes: Sequence[str] = (),
                bold_rows: Sequence[int] = ()) -> bytes:
    """A table as a CSV, XLSX, HTML or PNG file with the provenance footer.

    Parameters
    ----------
    df : the display table (what the page shows; identifiers already masked or dropped
        when they must not leave the app).
    fmt : ``"csv"``, ``"xlsx"``, ``"html"`` or ``"png"`` (300 dpi).
    title : the table's title (header in HTML/PNG, first comment line in CSV).
    provenance : data source, filters, N, app version, export time.
    suppress_below : when set (e.g. 5), :func:`suppress_small_cells` with this threshold
        first, and a footer line saying so. ``count_columns`` / ``percent_of`` go to it.
    notes : extra footer lines (e.g. the tests used).
    bold_rows : row indices set in bold in HTML/PNG (e.g. Table 1's variable rows).
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    if not isinstance(df, pl.DataFrame):
        raise TypeError("df must be a polars DataFrame")
    if suppress_below is not None:
        df = suppress_small_cells(df, suppress_below, count_columns, percent_of=percent_of)
    footer = _footer(provenance, suppress_below, notes)
    if fmt == "csv":
        return _csv(df, title, footer)
    if fmt == "xlsx":
        return _xlsx(df, title, footer, provenance, suppress_below)
    synthetic = bool(provenance and provenance.synthetic)
    body = gt_html(df, title, footer, synthetic=synthetic, bold_rows=bold_rows)
    if fmt == "html":
        return html_document(body, title).encode("utf-8")
    doc = html_document(f"<div id='export' style='display:inline-block;max-width:1100px'>{body}</div>", title)
    return html_to_png(doc, selector="#export table", width=1200)
