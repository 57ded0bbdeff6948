"""Reader for workbooks: ``.xlsx`` / ``.xlsm`` (Excel, LibreOffice), ``.ods``, ``.xls``.

One sheet per table. Sheet names match tables case-, space- and separator-insensitively
(``'Follow up'``, ``'follow_up '``, ``'SUBJECT'``); two sheets that match the same table are
refused, naming both (``duplicate_sheet``); a hidden sheet that is read is reported
(``hidden_sheet``). Cells are read with calamine (:mod:`fastexcel`): formula cells as
their saved values, Excel dates as ISO text, booleans as ``true``/``false``; typing is
left to normalisation and validation. Empty rows above the data are kept, so a row
number in a message is the row Excel, WPS or LibreOffice show. Title rows above the header
(a hospital's name, a merged banner) are skipped and reported (info ``title_rows``); the
header is the first row naming two registry columns. Rows above it that hold data rather
than a title are refused (``header_row``).

A workbook is a zip of XML: one that declares a DTD (XML entities: external entities,
entity expansion bombs) is refused before it is parsed (``file_unsafe``).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import polars as pl

from ..i18n import _, fmt_int, ngettext, pgettext
from ..schema import TABLE_NAMES, TABLES_BY_NAME
from .model import HEADER_SCAN_ROWS, ROW, RawRegistry, RawTable, dedupe_header, locate_header, printable, sha256_bytes, table_key, title_rows
from .report import ERROR, INFO, WARNING, Problem
from .text import MAX_COLUMNS, MAX_HEADER_NAME

WORKBOOK_SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsx", ".ods": "ods", ".xls": "xls"}
_KEYS = {table_key(t): t for t in TABLE_NAMES}
_DTD = re.compile(rb"<!DOCTYPE|<!ENTITY", re.I)
MAX_XML_SCAN = 64 << 20  # bytes of each XML part scanned for a DTD


def _unsafe_xml(data: bytes) -> str | None:
    """The name of a zip part declaring a DTD, or None (not a zip: calamine will say)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return None
    with zf:
        for info in zf.infolist():
            if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
                continue
            with zf.open(info) as fh:
                head = fh.read(MAX_XML_SCAN)
            if _DTD.search(head):
                return info.filename
    return None


_CELL_F = re.compile(rb'<c r="([A-Z]+)(\d+)"[^>]*?>\s*<f(?:\s[^>]*)?(?:/>|>(.*?)</f>)\s*(<v>.*?</v>|<v/>|<is>.*?</is>)?', re.S)


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n - 1


_CONSTANT_FORMULAS = (b"TRUE()", b"FALSE()")


def xlsx_formulas(data: bytes) -> dict[str, tuple[int, list[tuple[int, int, str]]]]:
    """Per sheet name: (formula cells, [(row, column index, formula) of those without a
    saved value]). calamine reads saved values; a formula never calculated (written by a
    script: no value, or a placeholder in a workbook marked ``fullCalcOnLoad``) has none,
    and its cell would silently read as empty or 0."""
    import defusedxml.ElementTree as ET

    out: dict[str, tuple[int, list[tuple[int, int, str]]]] = {}
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
              "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships"}
        wb_xml = zf.read("xl/workbook.xml")
        never_calculated = re.search(rb'fullCalcOnLoad="(1|true)"', wb_xml) is not None  # values are placeholders
        wbx = ET.fromstring(wb_xml)
        rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
        target = {r.get("Id"): r.get("Target") for r in rels}
        for sh in wbx.iterfind("m:sheets/m:sheet", ns):
            t = target.get(sh.get(f"{{{ns['r']}}}id"), "")
            part = t.lstrip("/") if t.startswith("/") else "xl/" + t
            if part not in zf.namelist():
                continue
            xml = zf.read(part)
            if b"<f" not in xml:
                continue
            n, unsaved = 0, []
            for m in _CELL_F.finditer(xml):
                saved = bool(m.group(4)) and m.group(4) not in (b"<v/>", b"<v></v>")
                if saved and (m.group(3) or b"").strip() in _CONSTANT_FORMULAS:
                    continue  # LibreOffice writes a boolean cell as the formula TRUE() / FALSE() with its value
                n += 1
                if never_calculated or not saved:
                    unsaved.append((int(m.group(2)), _col_index(m.group(1)), (m.group(3) or b"").decode("utf-8", "replace")))
            if n:
                out[sh.get("name")] = (n, unsaved)
    except Exception:  # noqa: BLE001 - a workbook we cannot scan is left to calamine
        return {}
    return out


def _fail(reg: RawRegistry, file: str, rule: str, msg: str) -> RawRegistry:
    reg.problems.append(Problem(file, None, None, None, rule, msg))
    reg.unreadable.update(TABLE_NAMES)
    return reg


def read_workbook(path: Path) -> RawRegistry:
    import fastexcel

    fmt = WORKBOOK_SUFFIXES.get(path.suffix.lower(), "xlsx")
    reg = RawRegistry(fmt, path)
    data = path.read_bytes()
    reg.input_sha256[path.name] = sha256_bytes(data)
    if len(data) == 0:
        return _fail(reg, path.name, "file_empty", _("the workbook is empty (0 bytes)"))
    part = _unsafe_xml(data) if fmt in ("xlsx", "ods") else None
    if part:
        return _fail(reg, path.name, "file_unsafe",
                     _("refused: part '{part}' of the workbook declares XML entities (a DTD), which Excel never "
                        "writes; an external entity or an entity bomb could read files or exhaust memory. Re-save "
                        "the workbook in Excel or LibreOffice").format(part=printable(part)))
    try:
        wb = fastexcel.read_excel(data)
        names = list(wb.sheet_names)
    except Exception as e:  # noqa: BLE001 - any failure of the parser = unreadable, never a traceback
        return _fail(reg, path.name, "file_unreadable",
                     _("not a readable .{fmt} workbook ({error}: {detail})").format(fmt=fmt, error=type(e).__name__, detail=printable(str(e).splitlines()[0] if str(e) else '', 200)))
    formulas = xlsx_formulas(data) if fmt == "xlsx" else {}
    claimed: dict[str, str] = {}
    sheets: list[tuple[int, str, str]] = []
    for i, sname in enumerate(names):
        key = table_key(sname)
        t = _KEYS.get(key)
        shown = printable(sname)
        if t is None:
            reg.problems.append(Problem(f"{path.name}[{shown}]", None, None, None, "unknown_sheet",
                                        _("ignored: sheet '{shown}' is not a registry table").format(shown=shown), WARNING))
            continue
        if t in claimed:
            reg.problems.append(Problem(path.name, None, None, None, "duplicate_sheet",
                                        _("sheets '{claimed}' and '{shown}' both match table '{table}' (names compared ignoring case, "
                                           "spaces and separators; hidden sheets count): delete or rename one").format(claimed=printable(claimed[t]), shown=shown, table=t)))
            reg.unreadable.add(t)
            continue
        claimed[t] = sname
        sheets.append((i, sname, t))
    titled: list[tuple[str, str, tuple[int, ...], int, str]] = []
    for i, sname, t in sheets:
        if t in reg.unreadable:
            continue
        file = f"{path.name}[{printable(sname)}]"
        try:
            # skip_rows=0: keep empty rows above the data (calamine drops them otherwise), so
            # frame row k is the sheet's row k + 1, the number Excel / WPS / LibreOffice show
            sheet = wb.load_sheet(i, header_row=None, skip_rows=0, dtypes="string")
            df = sheet.to_polars()
            visible = str(getattr(sheet, "visible", "visible"))
        except Exception as e:  # noqa: BLE001
            reg.problems.append(Problem(file, None, None, None, "file_unreadable",
                                        _("sheet '{sheet}' cannot be read ({error}: {detail})").format(sheet=printable(sname), error=type(e).__name__, detail=printable(str(e), 200))))
            reg.unreadable.add(t)
            continue
        if visible != "visible":
            reg.problems.append(Problem(file, None, None, visible, "hidden_sheet",
                                        _("sheet '{sheet}' is {visibility} in the workbook and is read as table '{table}': check it is not a "
                                           "stale copy").format(sheet=printable(sname), visibility=pgettext("import", "very hidden") if visible == "veryhidden" else pgettext("import", "hidden"), table=t), WARNING))
        _read_sheet(reg, file, sname, t, df, lambda h, i=i, df=df: _exact_numbers(wb, i, df, h), titled)
        if sname in formulas and t in reg.tables:
            n, unsaved = formulas[sname]
            header = reg.tables[t].header
            reg.problems.append(Problem(file, None, None, None, "formula_values",
                                        _("{n} formula cell(s) read as the values Excel saved with them").format(n=fmt_int(n)), WARNING))
            for row, j, f in unsaved[:10_000]:
                col = header[j] if j < len(header) else None
                reg.problems.append(Problem(file, row, col, printable("=" + f, 80), "formula_unsaved",
                                            _("a formula cell with no saved value (the workbook was written by a program and "
                                            "never opened in Excel): open it in Excel or LibreOffice, save, and import again, "
                                            "or type the value")))
    _report_titles(reg, path.name, titled)
    return reg


def _exact_numbers(wb, i: int, df: pl.DataFrame, header: int = 0) -> pl.DataFrame:
    """calamine's text of a number keeps ~11 digits (83.333333333); where a column holds
    only numbers, take the numbers themselves (shortest exact text, integers without .0).
    ``header``: the frame row of the header (rows above it are titles or empty)."""
    try:
        typed = wb.load_sheet(i, header_row=header).to_polars()
    except Exception:  # noqa: BLE001 - keep the text reading
        return df
    if typed.height != df.height - header - 1 or typed.width != df.width:
        return df
    fix = {}
    for j, (name, dtype) in enumerate(typed.schema.items()):
        if dtype == pl.Float64:
            x = typed[name]
            whole = (x == x.round(0)) & (x.abs() < 1e15)
            text = pl.select(pl.when(whole).then(x.cast(pl.Int64, strict=False).cast(pl.String)).otherwise(x.cast(pl.String))).to_series()
            fix[df.columns[j]] = pl.concat([df[df.columns[j]].head(header + 1), text.alias(df.columns[j])])
    return df.with_columns(**fix) if fix else df


def _report_titles(reg: RawRegistry, workbook: str, titled: list[tuple[str, str, tuple[int, ...], int, str]]) -> None:
    """One info line per layout of title rows (a workbook whose sheets all start with the same
    banner gets one line naming the sheets, not one per sheet)."""
    groups: dict[tuple, list[tuple[str, str]]] = {}
    for file, sheet, rows, line, shown in titled:
        groups.setdefault((rows, line, shown), []).append((file, sheet))
    for (rows, line, shown), sheets in groups.items():
        msg = ngettext("row {rows} above the header (row {line}) is a title and is skipped",
                       "rows {rows} above the header (row {line}) are titles and are skipped",
                       len(rows)).format(rows=", ".join(map(str, rows)), line=line)
        if len(sheets) > 1:
            msg += _(" (sheets {sheets})").format(sheets=", ".join(s for _f, s in sheets))
        reg.problems.append(Problem(sheets[0][0] if len(sheets) == 1 else workbook, None, None, shown, "title_rows", msg, INFO))


def _read_sheet(reg: RawRegistry, file: str, sname: str, t: str, df: pl.DataFrame, exact=None, titled: list | None = None) -> None:
    if df.height == 0 or df.width == 0 or df.null_count().sum_horizontal().item() == df.height * df.width:
        reg.problems.append(Problem(file, None, None, None, "file_empty", _("sheet '{sheet}' is empty; expected a header row").format(sheet=printable(sname))))
        reg.unreadable.add(t)
        return
    if df.width > MAX_COLUMNS:
        reg.problems.append(Problem(file, 1, None, None, "header_too_large", _("the sheet has {width} columns (at most {limit})").format(width=fmt_int(df.width), limit=fmt_int(MAX_COLUMNS))))
        reg.unreadable.add(t)
        return
    top = [list(df.row(k)) for k in range(min(df.height, HEADER_SCAN_ROWS))]
    keys = {table_key(c) for c in TABLES_BY_NAME[t].column_names}
    h = locate_header(top, keys)
    if h is None:  # no row names registry columns: the first filled row is the header (validation says what is missing)
        filled = df.with_row_index("__k").filter(pl.any_horizontal(pl.col(c).str.strip_chars().str.len_bytes() > 0 for c in df.columns))
        h = int(filled["__k"][0]) if filled.height else 0
    titles, only_titles = title_rows(top, h) if h < len(top) else ([], True)
    if titles and not only_titles:
        reg.problems.append(Problem(file, titles[0], None, printable(next((str(v) for v in top[titles[0] - 1] if v), ""), 60), "header_row",
                                    _("the column names are in row {line}, but row(s) {rows} above them hold data, not a "
                                      "title: delete the rows above the header").format(line=h + 1, rows=", ".join(map(str, titles)))))
        reg.unreadable.add(t)
        return
    if titles and titled is not None:
        shown = "; ".join(printable(" ".join(str(v).strip() for v in top[r - 1] if v is not None and str(v).strip()), 80) for r in titles[:3])
        titled.append((file, printable(sname), tuple(titles), h + 1, shown))
    if exact is not None:
        df = exact(h)
    first = [("" if v is None else str(v)).strip() for v in df.row(h)]
    while first and first[-1] == "":
        first.pop()
    long = [x for x in first if len(x) > MAX_HEADER_NAME]
    if long:
        reg.problems.append(Problem(file, h + 1, printable(long[0], 40), None, "header_too_large",
                                    _("a header name of {n} characters (at most {limit})").format(n=fmt_int(len(long[0])), limit=MAX_HEADER_NAME)))
        reg.unreadable.add(t)
        return
    header = first
    names = dedupe_header(header)
    body = df.slice(h + 1).select(df.columns[: len(header)])
    body = body.rename(dict(zip(body.columns, names)))
    body = body.with_columns(pl.col(c).cast(pl.String) for c in names)
    body = body.with_row_index(ROW, offset=h + 2).with_columns(pl.col(ROW).cast(pl.Int64))
    rt = RawTable(t, file, header, body, header_row=h + 1)
    reg.tables[t] = rt
    reg.note_rows(file, rt.frame[ROW])
    extra = df.slice(h + 1).select(df.columns[len(header):]) if df.width > len(header) else None
    if extra is not None and extra.width:
        filled = extra.select(pl.any_horizontal(pl.col(c).is_not_null() for c in extra.columns).alias("x"))["x"]
        if filled.any():
            reg.problems.append(Problem(file, h + 1, None, None, "unknown_column",
                                        _("{n} row(s) have values in columns to the right of the last header cell (no column "
                                           "name): add a header or delete them").format(n=fmt_int(int(filled.sum())))))
