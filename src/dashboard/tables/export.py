"""Table export: CSV, XLSX, formatted HTML and PNG (great_tables), each with the
provenance footer; small-cell suppression; masking of patient identifiers.

Where the footer goes
---------------------
- CSV: the table first (header + rows, unchanged), then ``# ``-prefixed comment lines
  (title, provenance, notes). ``pl.read_csv(path, comment_prefix="#")`` and
  ``pandas.read_csv(path, comment="#")`` read the table back exactly.
- XLSX: sheet ``table`` holds the table from cell A1 (every cell written as a value,
  never as a formula), then one empty row and the footer lines; sheet ``provenance``
  holds one field per row (data, source, hash, filters, N, app, export time, language,
  title, suppression: code, value, label in the export's language).

Languages
---------
Every export is made in the current language (:mod:`dashboard.i18n`) and says which
(footer line "language: 简体中文", provenance field ``language``, ``<html lang>``).
Display tables arrive with their headers already in that language (the ``format_*``
functions translate them). Headers that are canonical codes (``subject_id``,
``n_risk``, ...) stay the codes, so a script reads every language's file the same way;
their labels in the export's language come with the file:

- CSV: one more comment line at the end, ``# labels: <label 1>,<label 2>,...`` (the
  header's columns in order, CSV-quoted). A comment keeps the file machine-readable:
  the header is still the first row and the readers above skip it. (A second header
  row would turn every numeric column into text for every reader.)
- XLSX: a sheet ``labels`` (its name in the export's language) with one row per
  column: code, label.

Only files with at least one code header carry labels.
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

from ..i18n import LANGUAGES, N_, _, get_language, pgettext
from ..provenance import Provenance, field_label, synthetic_label
from ..render import html_to_png, text_width

FORMATS = ("csv", "xlsx", "html", "png")
MIME = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "html": "text/html", "png": "image/png"}
IDENTIFIER_COLUMNS = ("subject_id", "patient_id", "record_id", "redcap_record_id")

# Canonical column codes that exports keep as headers -> their label (the CSV label row,
# the XLSX labels sheet). A header not here is labelled ``_(header)``.
COLUMN_LABELS: dict[str, str] = {
    "subject_id": N_("Patient ID"), "patient_id": N_("Patient ID"), "record_id": N_("Record"),
    "redcap_record_id": N_("REDCap record"), "group": N_("Group code"), "group_label": N_("Group"),
    "time": N_("Time, months"), "n_risk": N_("Number at risk"), "n_event": N_("Events at this time"),
    "n_censor": N_("Censored at this time"), "survival": N_("Survival probability"),
    "std_err": N_("Standard error"), "lower": N_("Lower 95% confidence limit"),
    "upper": N_("Upper 95% confidence limit"), "cif": N_("Cumulative incidence"), "cause": N_("Cause"),
    "n": N_("Patients"), "month": N_("Month"), "value": N_("Value"), "label": N_("Label"),
}


# ------------------------------------------------------------------ suppression
# "12", "12 (34.5%)", "1,204 (5.0%)"; not "12.0 (8-15)"
_NUM = r"(\d{1,3}(?:,\d{3})+|\d+)"
_N_PCT = re.compile(rf"^\s*{_NUM}\s*(\([^()]*%[^()]*\))?\s*$")
# "3/120", "3 / 120", "3/120 (2.5%)", "3/120 = 2.5%": a count over its denominator
_K_OF_N = re.compile(rf"^\s*{_NUM}\s*/\s*{_NUM}\s*(.*)$")
_PCT_NAMES = ("%", "pct", "percent", "Percent", "%, n")
SECONDARY = "(s)"  # a cell withheld so that a suppressed one cannot be worked out from a total
_TOTAL_WORDS = ("overall", "total", "all patients", "all")


def _cell_count(v) -> int | None:
    """The count a cell carries (``n``, ``n (x%)``, ``k/N ...``), or None."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() else None
    m = _N_PCT.match(v)
    if m:
        return int(m.group(1).replace(",", ""))
    m = _K_OF_N.match(v)
    if m:
        return int(m.group(1).replace(",", ""))
    return None


def _hide(v, label: str):
    """The cell with its count replaced by ``label``: ``n``/``n (x%)`` -> ``<5``;
    ``k/N ...`` -> ``<5/N`` (the denominator stays; a percentage after it goes)."""
    if isinstance(v, str):
        m = _K_OF_N.match(v)
        if m and not _N_PCT.match(v):
            return f"{label}/{m.group(2)}"
    return label


def suppress_small_cells(df: pl.DataFrame, threshold: int = 5, count_columns: Sequence[str] | None = None,
                         *, percent_of: Mapping[str, str] | None = None, complementary: bool = True,
                         blocks: Sequence[object] | None = None) -> pl.DataFrame:
    """Hide small counts before a table leaves the app.

    Primary suppression: a count from 1 to ``threshold - 1`` is replaced by
    ``"<threshold"`` (``"<5"``): a whole ``n`` or ``n (x%)`` cell, or the numerator of a
    ``k/N`` cell (``"3/120 = 2.5%"`` -> ``"<5/120"``, also ``answered / expected``); 0,
    counts of ``threshold`` or more and missing cells are unchanged.

    Complementary suppression (``complementary=True``): a suppressed cell must not be
    recoverable from a total. Within each column, per block of rows that add up to a
    known total (``blocks``: one key per row, e.g. Table 1's variable; None: no column
    totals), and along each row
    when the table has a total column ("Overall", "Total", "All"), a lone suppressed cell
    takes the smallest other non-zero count of the same block / row with it, shown as
    ``"(s)"``.

    Which cells are counts
    ----------------------
    ``count_columns`` (default: every integer column, and every string column in which
    at least half of the filled cells read as counts) -- never the first column, which
    holds the row labels (an ECOG category "1" is a label, not a count).

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
    if blocks is not None and len(blocks) != df.height:
        raise ValueError("blocks needs one key per row")
    if count_columns is None:
        count_columns = [c for i, (c, t) in enumerate(df.schema.items())
                         if t.is_integer() or (t == pl.String and _is_count_text(df[c], every=i == 0))]
        count_columns = [c for c in count_columns if c not in (percent_of or {}) and c not in _PCT_NAMES]
    missing = [c for c in count_columns if c not in df.columns]
    if missing:
        raise ValueError(f"count columns not in the table: {missing}")
    if percent_of is None:
        pct = [c for c in df.columns if c in _PCT_NAMES]
        percent_of = {pct[0]: count_columns[0]} if len(pct) == 1 and len(count_columns) == 1 else {}
    label = f"<{threshold}"
    values = {c: df[c].to_list() for c in count_columns}
    counts = {c: [_cell_count(v) for v in values[c]] for c in count_columns}
    hidden = {c: [n is not None and 0 < n < threshold for n in counts[c]] for c in count_columns}
    second = {c: [False] * df.height for c in count_columns}

    def lone(cells: list[tuple[str, int]]) -> None:
        """``cells`` (column, row) add up to a total: one hidden cell takes another with it."""
        shown = [(counts[c][i], c, i) for c, i in cells
                 if not hidden[c][i] and not second[c][i] and counts[c][i] is not None and counts[c][i] > 0]
        n_hidden = sum(hidden[c][i] or second[c][i] for c, i in cells)
        if n_hidden == 1 and shown:
            _, c, i = min(shown)
            second[c][i] = True

    if complementary and count_columns:
        keys = list(blocks) if blocks is not None else None
        for _pass in range(2):  # a cell withheld for a row can leave a column with a lone one
            for c in count_columns if keys is not None else ():
                for key in dict.fromkeys(keys):
                    lone([(c, i) for i in range(df.height) if keys[i] == key])
            totals = [c for c in count_columns if c.strip().lower().split(" (")[0] in _TOTAL_WORDS]
            if totals:
                parts = [c for c in count_columns if c not in totals]
                for i in range(df.height):
                    lone([(c, i) for c in parts])
    out = df.with_columns(
        pl.Series(c, [_hide(v, label) if h else (SECONDARY if s else (None if v is None else str(v)))
                      for v, h, s in zip(values[c], hidden[c], second[c])], dtype=pl.String)
        for c in count_columns
    )
    for pct_col, count_col in percent_of.items():
        if pct_col not in df.columns or count_col not in hidden:
            raise ValueError(f"percent_of: {pct_col!r} -> {count_col!r} is not a column pair of the table")
        gone = [h or s for h, s in zip(hidden[count_col], second[count_col])]
        out = out.with_columns(pl.Series(pct_col, [None if g else v for v, g in zip(df[pct_col].to_list(), gone)],
                                         dtype=df.schema[pct_col]))
    return out


def _is_count_text(s: pl.Series, every: bool = False) -> bool:
    """At least half the filled cells read as counts (all of them for the first column,
    which otherwise holds row labels)."""
    filled = [v for v in s.to_list() if v not in (None, "")]
    hits = sum(_cell_count(v) is not None for v in filled)
    return bool(filled) and (hits == len(filled) if every else hits >= len(filled) / 2)


def suppress_count_text(text: str, threshold: int = 5) -> str:
    """A figure label's counts: every ``n = k`` / trailing count from 1 to
    ``threshold - 1`` in ``text`` becomes ``<threshold`` (with a percentage after it
    dropped); at-risk numbers are whole cells (:func:`suppress_cell`)."""
    def sub(m: re.Match) -> str:
        k = int(m.group(2).replace(",", ""))
        return f"{m.group(1)}<{threshold}" if 0 < k < threshold else m.group(0)

    text = re.sub(r"(n\s*=\s*)(\d[\d,]*)(?:\s*\(\d+(?:\.\d+)?%\))?", lambda m: sub(m) if 0 < int(
        m.group(2).replace(",", "")) < threshold else m.group(0), text)
    return re.sub(r"(\s)(\d[\d,]*)$", sub, text)


def suppress_cell(text: str, threshold: int = 5) -> str:
    """One cell that is a count (an at-risk number): ``"3"`` -> ``"<5"``."""
    n = _cell_count(text) if isinstance(text, str) else text
    return f"<{threshold}" if isinstance(n, int) and 0 < n < threshold else text


def blocks_from_heads(height: int, heads: Sequence[int]) -> list[int] | None:
    """Row blocks for complementary suppression: each heading row (Table 1's variable
    rows, set in bold) starts a block of the categories under it; None without headings."""
    if not heads:
        return None
    start, out = set(heads), []
    key = 0
    for i in range(height):
        key += i in start
        out.append(key)
    return out


# ------------------------------------------------------------------ identifiers
def mask_identifiers(df: pl.DataFrame, columns: Iterable[str] = IDENTIFIER_COLUMNS) -> pl.DataFrame:
    """Patient identifiers replaced by a running number (``Patient 1``, ``Patient 2`` ...,
    in order of first appearance; the same id gets the same number). For presentation
    mode, where no patient identifier may be on screen.

    A column is found by its name or by that name in the current language (a listing's
    "Patient" column is "患者" in Chinese), so a caller naming the English header still
    masks the translated table."""
    out = df
    names = dict.fromkeys(n for c in columns for n in (c, _(c)))
    for c in names:
        if c in df.columns:
            codes: dict = {}
            word = _("Patient {n}")
            out = out.with_columns(pl.Series(c, [None if v is None else word.format(n=codes.setdefault(v, len(codes) + 1))
                                                 for v in df[c].to_list()], dtype=pl.String))
    return out


def translate_headers(df: pl.DataFrame) -> pl.DataFrame:
    """Display headers in the current language (a header that is a message id, e.g. a
    column the page code names in English); canonical codes (:data:`COLUMN_LABELS`) and
    headers already translated stay as they are."""
    rename = {c: _(c) for c in df.columns if c not in COLUMN_LABELS and _(c) != c}
    if not rename or len(set(df.columns) - set(rename) | set(rename.values())) < df.width:
        return df
    return df.rename(rename)


def column_labels(columns: Sequence[str]) -> list[str]:
    """The label of each header in the current language (:data:`COLUMN_LABELS` for
    canonical codes, else the header translated, else itself)."""
    return [_(COLUMN_LABELS[c]) if c in COLUMN_LABELS else _(c) for c in columns]


def _needs_labels(columns: Sequence[str]) -> bool:
    return any(label != c for c, label in zip(columns, column_labels(columns)))


# ------------------------------------------------------------------ formats
def _footer(provenance: Provenance | None, suppress_below: int | None, notes: Sequence[str]) -> list[str]:
    lines = list(provenance.lines()) if provenance is not None else []
    if suppress_below:
        lines.append(suppression_text(suppress_below))
    return lines + list(notes)


def suppression_text(threshold: int) -> str:
    """The footer line saying how small cells were suppressed (current language)."""
    return _("Small-cell suppression: counts from 1 to {last} shown as <{threshold}; percentages of suppressed "
             "cells left blank; {secondary}: withheld so that a suppressed count cannot be worked out from a "
             "total.").format(last=threshold - 1, threshold=threshold, secondary=SECONDARY)


def _csv(df: pl.DataFrame, title: str, footer: list[str]) -> bytes:
    body = df.write_csv()
    tail = "".join(f"# {line}\n" for line in [title, *footer] if line)
    if _needs_labels(df.columns):
        labels = pl.DataFrame([column_labels(df.columns)], schema=df.columns, orient="row")
        tail += "# labels: " + labels.write_csv(include_header=False)
    return (body + tail).encode("utf-8")


_INT = re.compile(r"^\s*-?(\d{1,3}(?:,\d{3})+|\d+)\s*$")
_FLOAT = re.compile(r"^\s*-?\d+\.\d+\s*$")
_N_PCT_SPLIT = re.compile(r"^\s*(\d{1,3}(?:,\d{3})+|\d+)\s*\(\s*(-?\d+(?:\.\d+)?)\s*%\s*\)\s*$")


def _number(v: str) -> float | int | None:
    if _INT.match(v):
        return int(v.replace(",", ""))
    if _FLOAT.match(v):
        return float(v)
    return None


def xlsx_columns(df: pl.DataFrame) -> list[tuple[str, list, str | None]]:
    """The table as spreadsheet columns: ``(header, values, number_format)``.

    A text column whose cells read ``n`` or ``n (x%)`` (and blanks, or ``"<5"`` after
    suppression) becomes two numeric columns, ``<name>: n`` and ``<name>: %``; a text
    column of plain numbers becomes numeric; everything else stays text (medians with
    IQR, p-values such as ``<0.001``, labels)."""
    out = []
    for name in df.columns:
        col = df[name]
        if col.dtype.is_numeric():
            fmt = "#,##0" if col.dtype.is_integer() else "0.0##"
            out.append((name, col.to_list(), fmt))
            continue
        if col.dtype != pl.String:
            out.append((name, [None if v is None else str(v) for v in col.to_list()], None))
            continue
        values = col.to_list()
        filled = [v for v in values if v not in (None, "") and not str(v).startswith("<")]
        if filled and any(_N_PCT_SPLIT.match(v) for v in filled) and all(
                _N_PCT_SPLIT.match(v) or _INT.match(v) for v in filled):
            ns, pcts = [], []
            for v in values:
                m = _N_PCT_SPLIT.match(v) if isinstance(v, str) else None
                if m:
                    ns.append(int(m.group(1).replace(",", "")))
                    pcts.append(float(m.group(2)))
                elif isinstance(v, str) and _INT.match(v):
                    ns.append(int(v.replace(",", "")))
                    pcts.append(None)
                else:
                    ns.append(v if v not in ("",) else None)  # "<5" stays text
                    pcts.append(None)
            out.append((f"{name}: n", ns, "#,##0"))
            out.append((f"{name}: %", pcts, "0.0"))
        elif filled and all(_number(v) is not None for v in filled):
            nums = [(_number(v) if isinstance(v, str) and _number(v) is not None else (v or None)) for v in values]
            out.append((name, nums, "#,##0" if all(isinstance(_number(v), int) for v in filled) else "0.0##"))
        else:
            out.append((name, values, None))
    return out


def _xlsx(df: pl.DataFrame, title: str, footer: list[str], provenance: Provenance | None,
          suppress_below: int | None) -> bytes:
    """Sheet ``table``: the title in A1, the header in row 3 (frozen, with the first
    column), numbers as numbers with number formats (``n (x%)`` split into an n and a
    % column), column widths from their content, then the footer lines."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                   "strings_to_numbers": False})
    wb.set_properties({"title": title, "comments": " ".join(footer)})
    bold = wb.add_format({"bold": True})
    head = wb.add_format({"bold": True, "text_wrap": True, "valign": "bottom", "bottom": 1})
    big = wb.add_format({"bold": True, "font_size": 13})
    small = wb.add_format({"italic": True, "font_color": "#444444"})
    formats = {f: wb.add_format({"num_format": f}) for f in ("#,##0", "0.0", "0.0##")}
    ws = wb.add_worksheet(pgettext("sheet", "table"))
    ws.write_string(0, 0, title, big)
    cols = xlsx_columns(df)
    top = TABLE_HEADER_ROW
    for j, (name, values, fmt) in enumerate(cols):
        ws.write_string(top, j, str(name), head)
        widest = max([text_width(str(name)) * 0.8] + [text_width(f"{v:,}" if isinstance(v, int) else str(v))
                                                       for v in values if v is not None])
        ws.set_column(j, j, min(60, max(8, widest + 2)))
        for i, v in enumerate(values, start=top + 1):
            if v is None or v == "":
                continue
            if isinstance(v, bool):
                ws.write_boolean(i, j, v)
            elif isinstance(v, (int, float)):
                ws.write_number(i, j, v, formats.get(fmt) if fmt else None)
            else:
                ws.write_string(i, j, str(v))
    ws.freeze_panes(top + 1, 1)
    r = top + df.height + 2
    for line in footer:
        ws.write_string(r, 0, line, small)
        r += 1
    ps = wb.add_worksheet(pgettext("sheet", "provenance"))
    ps.set_column(0, 0, 16)
    ps.set_column(1, 1, 100)
    ps.set_column(2, 2, 24)
    rows = [("title", title)] + (provenance.as_rows() if provenance is not None else [])
    rows.append(("suppression", _("counts 1-{last} shown as <{threshold}").format(
        last=suppress_below - 1, threshold=suppress_below) if suppress_below else _("none")))
    for i, (k, v) in enumerate(rows):
        ps.write_string(i, 0, k, bold)
        ps.write_string(i, 1, v)
        ps.write_string(i, 2, field_label(k), small)
    if _needs_labels(df.columns):  # canonical code headers: their labels in the export's language
        ls = wb.add_worksheet(pgettext("sheet", "labels"))
        ls.set_column(0, 1, 28)
        ls.write_string(0, 0, _("Column"), head)
        ls.write_string(0, 1, _("Label ({language})").format(language=LANGUAGES[get_language()][2]), head)
        for i, (c, label) in enumerate(zip(df.columns, column_labels(df.columns)), start=1):
            ls.write_string(i, 0, c)
            ls.write_string(i, 1, label)
    wb.close()
    return buf.getvalue()


TABLE_HEADER_ROW = 2  # 0-based: title in row 1, an empty row, the header in row 3


SPANNER_SEP = " · "  # "Watch & Wait (N=1,158) · Any grade": spanner, then column label
TABLE_WIDTHS_MM = {"single": 85.0, "double": 175.0, "page": 257.0}  # page: A4 landscape less margins


def gt_html(df: pl.DataFrame, title: str, footer: Sequence[str], *, synthetic: bool = False,
            bold_rows: Sequence[int] = (), font_px: int = 14, width_px: int | None = None) -> str:
    """The table as great_tables HTML (a fragment) with the screen's structure: the title
    as header, column names ``"<group> · <column>"`` grouped under a spanner per group,
    the rows under a bold heading row (a system organ class, a Table 1 variable)
    indented, the footer as source notes, and, with ``width_px``, a fixed table width
    with wrapping column labels."""
    from great_tables import GT, html as gt_raw, loc, style

    df = translate_headers(df)
    table = GT(df).tab_header(title=title).sub_missing(missing_text="")
    if df.width > 1:
        table = table.cols_align("center", columns=df.columns[1:])
    groups: dict[str, list[str]] = {}
    for c in df.columns[1:]:
        if SPANNER_SEP in c:
            groups.setdefault(c.split(SPANNER_SEP, 1)[0], []).append(c)
    if groups:
        for label, cols in groups.items():
            table = table.tab_spanner(label=label, columns=cols)
        table = table.cols_label(**{c: c.split(SPANNER_SEP, 1)[1] for cols in groups.values() for c in cols})
    lead = _html.escape(synthetic_label())
    for i, line in enumerate(footer):
        text = _html.escape(line)
        if i == 0 and synthetic:
            text = text.replace(lead, f"<b>{lead}</b>", 1)
        table = table.tab_source_note(gt_raw(text))
    if bold_rows:
        table = table.tab_style(style=style.text(weight="bold"), locations=loc.body(rows=list(bold_rows)))
        rest = [i for i in range(df.height) if i not in set(bold_rows)]
    if width_px and df.width > 1:  # "1,037 (52.3%)" on one line; the labels wrap instead
        table = table.tab_style(style=style.css("white-space: nowrap"), locations=loc.body(columns=df.columns[1:]))
    if bold_rows:
        if rest and df.width > 1:
            table = table.tab_style(style=style.css("padding-left: 1.6em"),
                                    locations=loc.body(columns=df.columns[0], rows=rest))
    opts = dict(table_font_size=f"{font_px}px", source_notes_font_size=f"{max(10, font_px - 3)}px",
                heading_title_font_size=f"{font_px + 4}px", table_font_color="#111111")
    if width_px:
        opts["table_width"] = f"{int(width_px)}px"
    table = table.tab_options(**opts)
    return table.as_raw_html()


def html_lang() -> str:
    """The ``<html lang>`` of an export in the current language (``en``, ``zh-CN``)."""
    return LANGUAGES[get_language()][0].replace("_", "-")


def html_document(body: str, title: str) -> str:
    """A self-contained page in the current language, with the CJK font named for Chinese."""
    return (f'<!DOCTYPE html><html lang="{html_lang()}">' "<head><meta charset='utf-8'>"
            f"<title>{_html.escape(title)}</title><style>body, .gt_table {{font-family: {FONT_STACK} !important;}}"
            ".gt_col_heading, .gt_column_spanner {word-break: keep-all;}"
            "</style></head><body style='margin:8px;background:white'>"
            f"{body}</body></html>")


# Latin text in Liberation Sans (Arial metrics), Chinese in Noto Sans CJK SC (Debian's fonts-noto-cjk).
FONT_STACK = "'Liberation Sans', Arial, 'Noto Sans CJK SC', 'Noto Sans SC', sans-serif"


def table_bytes(df: pl.DataFrame, fmt: str, title: str, provenance: Provenance | None = None, *,
                suppress_below: int | None = None, count_columns: Sequence[str] | None = None,
                percent_of: Mapping[str, str] | None = None, notes: Sequence[str] = (),
                bold_rows: Sequence[int] = (), width: str | None = None) -> bytes:
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
    bold_rows : row indices set in bold in HTML/PNG (e.g. Table 1's variable rows); the
        rows under each are indented, and they delimit the blocks of complementary
        suppression.
    width : HTML/PNG at a print width: ``"single"`` (85 mm), ``"double"`` (175 mm) or
        ``"page"`` (257 mm), 7.5-pt type, wrapping headers; None: the screen's layout.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    if not isinstance(df, pl.DataFrame):
        raise TypeError("df must be a polars DataFrame")
    if suppress_below is not None:
        df = suppress_small_cells(df, suppress_below, count_columns, percent_of=percent_of,
                                  blocks=blocks_from_heads(df.height, bold_rows))
    df = translate_headers(df)
    footer = _footer(provenance, suppress_below, notes)
    if fmt == "csv":
        return _csv(df, title, footer)
    if fmt == "xlsx":
        return _xlsx(df, title, footer, provenance, suppress_below)
    synthetic = bool(provenance and provenance.synthetic)
    if width is None:
        body = gt_html(df, title, footer, synthetic=synthetic, bold_rows=bold_rows)
        if fmt == "html":
            return html_document(body, title).encode("utf-8")
        doc = html_document(f"<div id='export' style='display:inline-block;max-width:1100px'>{body}</div>", title)
        return html_to_png(doc, selector="#export table", width=1200)
    if width not in TABLE_WIDTHS_MM:
        raise ValueError(f"width must be one of {sorted(TABLE_WIDTHS_MM)} or None, not {width!r}")
    # at print width: 96 CSS px per inch, type 7.5 pt (10 px), the PNG at 300 dpi
    px = round(TABLE_WIDTHS_MM[width] / 25.4 * 96)
    body = gt_html(df, title, footer, synthetic=synthetic, bold_rows=bold_rows, font_px=10, width_px=px)
    if fmt == "html":
        return html_document(body, title).encode("utf-8")
    doc = html_document(f"<div id='export' style='width:{px}px'>{body}</div>", title)
    return html_to_png(doc, selector="#export table", width=px + 16)
