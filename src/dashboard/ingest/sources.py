"""A site's own source file -> :class:`SourceTable` (text cells, row numbers), for mapping.

Reads CSV (encoding and delimiter detected or given), XLSX / XLS / ODS (calamine through
fastexcel; hidden sheets are reported), and SPSS / Stata / SAS through
:mod:`dashboard.ingest.statfiles`. Nothing is interpreted here: every cell is text, or
None when empty; the mapping (:mod:`dashboard.ingest.mapping`) gives it meaning.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..i18n import _
from .model import HEADER_SCAN_ROWS, locate_header, title_rows
from .statfiles import STAT_SUFFIXES, StatFileError, read_stat_file

ROW = "__row"  # the row's number in the source (header row = header_row; a sheet's row number)
EXCEL_SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".ods": "ods"}
CSV_ENCODINGS = ("utf-8-sig", "gb18030", "cp1252")  # tried in this order when encoding = "auto"
SOURCE_FORMATS = ("auto", "csv", "xlsx", "xls", "ods", "sav", "dta", "sas7bdat", "xpt")


class SourceError(ValueError):
    """A source that cannot be read at all: the message names the file and the reason."""


@dataclass
class SourceTable:
    """One sheet or file of a source, as text."""

    path: Path
    file: str  # how messages name it: "workbook.xlsx[Sheet]" or "file.csv"
    format: str
    sheet: str | None
    columns: list[str]
    frame: pl.DataFrame  # one String column per source column, plus ROW
    sha256: str
    encoding: str | None = None
    delimiter: str | None = None
    sheets: list[tuple[str, str]] = field(default_factory=list)  # (name, "visible" | "hidden" | "veryhidden")
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # SPSS/Stata/SAS value labels
    variable_labels: dict[str, str] = field(default_factory=dict)
    header_row: int = 1  # the row holding the header
    title_rows: list[tuple[int, str]] = field(default_factory=list)  # (row, text) of title rows skipped above it

    @property
    def height(self) -> int:
        return self.frame.height


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return EXCEL_SUFFIXES[suffix]
    if suffix in STAT_SUFFIXES:
        return STAT_SUFFIXES[suffix]
    if suffix in {".csv", ".tsv", ".txt"}:
        return "csv"
    raise SourceError(_("{name}: cannot tell the format from the name; expected .csv, .xlsx, .xls, .ods, .sav, "
                         ".dta, .sas7bdat or .xpt (or set source.format)").format(name=path.name))


def _unique(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(header):
        h = h.strip() or f"column_{i + 1}"
        k = seen.get(h, 0) + 1
        seen[h] = k
        out.append(h if k == 1 else f"{h}#{k}")
    return out


def _decode(data: bytes, name: str, encoding: str) -> tuple[str, str]:
    if encoding and encoding != "auto":
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise SourceError(_("{name}: cannot be read as {encoding} ({exc}); set source.encoding").format(name=name, encoding=encoding, exc=exc)) from None
    for enc in CSV_ENCODINGS:
        try:
            return data.decode(enc), ("utf-8" if enc == "utf-8-sig" else enc)
        except UnicodeDecodeError:
            continue
    raise SourceError(_("{name}: not UTF-8, GB18030 or Windows-1252 text; set source.encoding").format(name=name))  # pragma: no cover


def pick_header(top: list[list[object]], header_row: int) -> tuple[int, list[tuple[int, str]]]:
    """(0-based index of the header row, title rows skipped above it). ``header_row`` > 1 is
    taken as given. With the default 1, a sheet whose first rows are titles (a hospital's
    name, a merged banner: fewer filled cells than half the header's) has its header found
    below them (:func:`~.model.locate_header`); a row 1 that may be a header stays the header."""
    if header_row != 1:
        return header_row - 1, []
    h = locate_header(top)
    if not h:
        return 0, []
    titles, only_titles = title_rows(top, h)
    if not only_titles:
        return 0, []
    return h, [(r, " ".join(str(v).strip() for v in top[r - 1] if v is not None and str(v).strip())[:200]) for r in titles]


def read_csv_source(path: Path, *, encoding: str = "auto", delimiter: str = "auto", header_row: int = 1) -> SourceTable:
    data = path.read_bytes()
    if not data.strip():
        raise SourceError(_("{name}: the file is empty").format(name=path.name))
    if data[:4] in (b"PK\x03\x04", b"\xd0\xcf\x11\xe0"):
        raise SourceError(_("{name}: this is a workbook saved with a text name; rename it .xlsx/.xls").format(name=path.name))
    text, enc = _decode(data, path.name, encoding)
    text = text.lstrip("\ufeff")
    if delimiter == "auto":
        try:
            delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    delimiter = "\t" if delimiter in ("\\t", "tab") else delimiter
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if len(rows) < header_row:
        raise SourceError(_("{name}: no header in row {header_row}").format(name=path.name, header_row=header_row))
    h, titles = pick_header(rows[:HEADER_SCAN_ROWS], header_row)
    header_row = h + 1
    header = _unique(rows[header_row - 1])
    body = rows[header_row:]
    cols: list[list[str | None]] = [[] for _ in header]
    rownums = []
    for i, r in enumerate(body, start=header_row + 1):
        if not any(c.strip() for c in r):
            continue
        if len(r) > len(header) and any(c.strip() for c in r[len(header):]):
            raise SourceError(_("{name}: row {i} has {n} cells but the header has {columns}").format(name=path.name, i=i, n=len(r), columns=len(header)))
        r = r + [""] * (len(header) - len(r))
        for c, v in zip(cols, r):
            c.append(v if v.strip() != "" else None)
        rownums.append(i)
    frame = pl.DataFrame({h: pl.Series(h, c, dtype=pl.String) for h, c in zip(header, cols)})
    frame = frame.with_columns(pl.Series(ROW, rownums, dtype=pl.Int64))
    return SourceTable(path, path.name, "csv", None, header, frame, hashlib.sha256(data).hexdigest(), enc, delimiter,
                       header_row=header_row, title_rows=titles)


def workbook_sheets(path: Path) -> list[tuple[str, str]]:
    """(sheet name, visibility) of a workbook, in order."""
    import fastexcel

    try:
        reader = fastexcel.read_excel(str(path))
    except Exception as exc:  # noqa: BLE001 - calamine raises several kinds; all mean unreadable
        raise SourceError(_("{name}: not a readable workbook ({error}: {exc})").format(name=path.name, error=type(exc).__name__, exc=str(exc)[:200])) from None
    out = []
    for name in reader.sheet_names:
        try:
            vis = str(reader.load_sheet(name, n_rows=0).visible)
        except Exception:  # noqa: BLE001
            vis = "visible"
        out.append((name, vis))
    return out


def read_excel_source(path: Path, *, sheet: str | None = None, header_row: int = 1) -> SourceTable:
    import fastexcel

    data = path.read_bytes()
    sheets = workbook_sheets(path)
    visible = [n for n, v in sheets if v == "visible"] or [n for n, _ in sheets]
    if sheet is None:
        if not visible:
            raise SourceError(_("{name}: the workbook has no sheet").format(name=path.name))
        sheet = visible[0]
    if sheet not in [n for n, _ in sheets]:
        raise SourceError(_("{name}: no sheet named {sheet} (sheets: {sheets})").format(name=path.name, sheet=repr(sheet), sheets=', '.join(n for n, _ in sheets)))
    reader = fastexcel.read_excel(str(path))
    try:
        # skip_rows=0: empty rows above the data are kept (calamine drops them otherwise), so
        # frame row k is sheet row k + 1, as Excel / WPS / LibreOffice number it
        ws = reader.load_sheet(sheet, header_row=None, skip_rows=0, dtypes="string")
        raw = ws.to_polars()
    except Exception as exc:  # noqa: BLE001
        raise SourceError(_("{name}[{sheet}]: cannot be read ({error}: {exc})").format(name=path.name, sheet=sheet, error=type(exc).__name__, exc=str(exc)[:200])) from None
    top = [list(raw.row(k)) for k in range(min(raw.height, HEADER_SCAN_ROWS))]
    h, titles = pick_header(top, header_row)
    if raw.height <= h:
        raise SourceError(_("{name}: no header in row {header_row}").format(name=f"{path.name}[{sheet}]", header_row=h + 1))
    header_row = h + 1
    header = _unique(["" if v is None else str(v) for v in raw.row(h)])
    df = raw.slice(h + 1)
    df.columns = header
    df = df.with_columns(pl.col(c).cast(pl.String).str.strip_chars().replace("", None) for c in header)
    df = df.with_columns(pl.int_range(header_row + 1, header_row + 1 + df.height, dtype=pl.Int64).alias(ROW))
    df = df.filter(~pl.all_horizontal(pl.col(c).is_null() for c in header)) if header else df
    fmt = EXCEL_SUFFIXES.get(path.suffix.lower(), "xlsx")
    return SourceTable(path, f"{path.name}[{sheet}]", fmt, sheet, header, df, hashlib.sha256(data).hexdigest(),
                       sheets=sheets, header_row=header_row, title_rows=titles)


def read_source(path: str | Path, *, format: str = "auto", sheet: str | None = None, header_row: int = 1,
                encoding: str = "auto", delimiter: str = "auto") -> SourceTable:
    """Read one sheet / file of a source as text; raises :class:`SourceError` naming the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise SourceError(_("{path}: no such file").format(path=path))
    fmt = detect_format(path) if format == "auto" else format
    if fmt not in SOURCE_FORMATS:
        raise SourceError(_("{name}: unknown source format {fmt} (known: {known})").format(name=path.name, fmt=repr(fmt), known=', '.join(SOURCE_FORMATS)))
    if header_row < 1:
        raise SourceError(_("{name}: header_row must be 1 or more").format(name=path.name))
    if fmt == "csv":
        return read_csv_source(path, encoding=encoding, delimiter=delimiter, header_row=header_row)
    if fmt in {"xlsx", "xls", "ods"}:
        return read_excel_source(path, sheet=sheet, header_row=header_row)
    try:
        frame, labels, var_labels = read_stat_file(path, None if encoding == "auto" else encoding)
    except StatFileError as exc:
        raise SourceError(str(exc)) from None
    header = _unique(frame.columns)
    frame.columns = header
    frame = frame.with_columns(pl.int_range(2, 2 + frame.height, dtype=pl.Int64).alias(ROW))
    return SourceTable(path, path.name, fmt, None, header, frame, hashlib.sha256(path.read_bytes()).hexdigest(),
                       value_labels=labels, variable_labels=var_labels)


# --------------------------------------------------------------------------------------
# REDCap records exports (a site's own project: its own field names, forms and events)
# --------------------------------------------------------------------------------------
REDCAP_EVENT = "redcap_event_name"
REDCAP_INSTRUMENT = "redcap_repeat_instrument"
REDCAP_INSTANCE = "redcap_repeat_instance"


def find_dictionary(records: Path) -> Path | None:
    """A REDCap data dictionary beside the records file (``*DataDictionary*.csv`` / ``*data_dictionary*.csv``)."""
    for p in sorted(records.parent.glob("*.csv")):
        if p != records and ("datadictionary" in p.stem.lower().replace("_", "").replace(" ", "")):
            return p
    return None


def read_redcap_dictionary(path: Path) -> dict[str, dict[str, str]]:
    """{field: {raw code: choice label}} from a REDCap data dictionary (radio, dropdown, checkbox, yesno, truefalse)."""
    st = read_csv_source(path)
    cols = st.columns
    if len(cols) < 6:
        raise SourceError(_("{name}: not a REDCap data dictionary (expected its 18 columns)").format(name=path.name))
    field_col, type_col, choice_col = cols[0], cols[3], cols[5]
    out: dict[str, dict[str, str]] = {}
    for r in st.frame.iter_rows(named=True):
        name, kind, choices = r[field_col], (r[type_col] or "").lower(), r[choice_col]
        if not name:
            continue
        if kind == "yesno":
            out[name] = {"1": "Yes", "0": "No"}
        elif kind == "truefalse":
            out[name] = {"1": "True", "0": "False"}
        elif kind in ("radio", "dropdown", "checkbox") and choices:
            m = {}
            for part in choices.split("|"):
                code, _sep, label = part.partition(",")
                if code.strip():
                    m[code.strip()] = label.strip()
            out[name] = m
    return out


def read_redcap_source(path: str | Path, *, record_id: str = "record_id", baseline_events: tuple[str, ...] = (),
                       dictionary: str | Path | None = None, encoding: str = "auto",
                       delimiter: str = "auto") -> dict[str | None, SourceTable]:
    """A REDCap records export as tables: key None = one row per record (its non-repeating rows
    of the baseline events, merged), and one table per repeating instrument or repeating event
    (named after it), which ``[[rows]]`` rules read with ``sheet = "<name>"``."""
    path = Path(path)
    rec = read_csv_source(path, encoding=encoding, delimiter=delimiter)
    if record_id not in rec.columns:
        raise SourceError(_("{name}: no record id column {record_id} (columns: {columns}, ...)").format(name=path.name, record_id=repr(record_id), columns=', '.join(rec.columns[:10])))
    dpath = Path(dictionary) if dictionary else find_dictionary(path)
    labels = read_redcap_dictionary(dpath) if dpath is not None and dpath.is_file() else {}
    f = rec.frame
    instr = pl.col(REDCAP_INSTRUMENT) if REDCAP_INSTRUMENT in f.columns else pl.lit(None, pl.String)
    event = pl.col(REDCAP_EVENT) if REDCAP_EVENT in f.columns else pl.lit(None, pl.String)
    inst = pl.col(REDCAP_INSTANCE) if REDCAP_INSTANCE in f.columns else pl.lit(None, pl.String)
    plain = f.filter(instr.is_null() & inst.is_null())
    if baseline_events and REDCAP_EVENT in f.columns:
        plain = plain.filter(event.is_in(list(baseline_events)))
    data_cols = [c for c in rec.columns if c not in (REDCAP_EVENT, REDCAP_INSTRUMENT, REDCAP_INSTANCE)]
    main = (plain.group_by(record_id, maintain_order=True)
            .agg(*[pl.col(c).drop_nulls().first() for c in data_cols if c != record_id], pl.col(ROW).min()))
    main = main.select(*data_cols, ROW)
    out: dict[str | None, SourceTable] = {None: SourceTable(path, path.name, "redcap", None, data_cols, main, rec.sha256,
                                                           rec.encoding, rec.delimiter, value_labels=labels)}
    names = set()
    if REDCAP_INSTRUMENT in f.columns:
        names |= set(f[REDCAP_INSTRUMENT].drop_nulls().to_list())
    for name in sorted(names):
        sub = f.filter(instr == name)
        keep = [c for c in rec.columns if sub[c].drop_nulls().len() or c in (record_id, REDCAP_INSTANCE)]
        out[name] = SourceTable(path, f"{path.name}[{name}]", "redcap", name, [c for c in keep if c != ROW],
                                sub.select(*[c for c in keep if c != ROW], ROW), rec.sha256, rec.encoding, rec.delimiter,
                                value_labels=labels)
    if REDCAP_EVENT in f.columns:
        rep_events = set(f.filter(instr.is_null() & inst.is_not_null())[REDCAP_EVENT].drop_nulls().to_list())
        for name in sorted(rep_events - names):
            sub = f.filter(instr.is_null() & inst.is_not_null() & (event == name))
            out[name] = SourceTable(path, f"{path.name}[{name}]", "redcap", name, [c for c in rec.columns],
                                    sub, rec.sha256, rec.encoding, rec.delimiter, value_labels=labels)
    return out
