"""Readers: a canonical CSV folder, an XLSX workbook or a REDCap export -> :class:`RawRegistry`.

Readers never interpret values: every cell arrives as text (``None`` when empty) with the
line it came from, and problems that stop a file being read at all (empty, not UTF-8,
binary, unparseable, corrupt workbook) are recorded, not raised. Typing and every rule
live in :mod:`dashboard.ingest.validate`.

Formats (detected by :func:`read_registry`):

``csv``
    A directory with one ``<table>.csv`` per source table (UTF-8, BOM tolerated, header
    row = schema column names). ``README.md``, ``manifest.json``, other non-CSV files and
    a REDCap data dictionary are ignored; a ``.csv`` whose name is not a table is reported as a warning
    (``unknown_file``) and ignored.
``xlsx``
    A ``.xlsx`` workbook with one sheet per table (sheet name = table name, header in row
    1). Other sheets are a warning (``unknown_sheet``).
``redcap``
    See :mod:`dashboard.ingest.redcap`: a directory without ``subject.csv`` holding a REDCap data dictionary
    (``*DataDictionary*.csv`` or ``data_dictionary.csv``) and a records export (the other
    CSV whose header starts with ``record_id``: typically ``*_DATA_*.csv`` or
    ``records.csv``); or the records CSV itself with the dictionary beside it.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..schema import TABLE_NAMES
from .report import ERROR, WARNING, Problem

ROW = "__row"  # 1-based line number of a data row (header = line 1)
NON_TABLE_FILES = {"readme.md", "manifest.json", "synthetic_data.txt"}
_BINARY_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook saved with a .csv name?)",
    b"\xd0\xcf\x11\xe0": "a legacy Excel/OLE file (.xls)",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\x1f\x8b": "a gzip archive",
}


@dataclass
class RawTable:
    """One table as read: text cells, header as written, where it came from."""

    name: str
    file: str
    header: list[str]  # as in the file (duplicates kept)
    frame: pl.DataFrame  # String columns named like header (duplicates renamed), plus ROW


@dataclass
class RawRegistry:
    """All tables of one input, untyped, with the problems met while reading."""

    format: str  # "csv" | "xlsx" | "redcap"
    path: Path
    tables: dict[str, RawTable] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    input_sha256: dict[str, str] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)  # tables whose file exists but could not be read
    declared_source: str | None = None  # "synthetic" when the folder's manifest says so
    declared_meta: dict[str, str] = field(default_factory=dict)  # the exporting store's provenance

    def location(self, table_name: str) -> tuple[str, str]:
        """(file, phrase) naming where a table is expected, for messages."""
        if self.format == "csv":
            return f"{table_name}.csv", f"file {table_name}.csv not found in {self.path}"
        if self.format == "xlsx":
            return self.path.name, f"workbook {self.path.name} has no sheet named '{table_name}'"
        return self.path.name, f"REDCap export has no form '{table_name}'"


def dedupe_header(header: list[str]) -> list[str]:
    """Unique frame column names for a header; the n-th repeat of ``x`` becomes ``x#n``."""
    seen: dict[str, int] = {}
    out = []
    for h in header:
        k = seen.get(h, 0) + 1
        seen[h] = k
        out.append(h if k == 1 else f"{h}#{k}")
    return out


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------
def decode_csv_bytes(data: bytes, file: str) -> tuple[bytes | None, list[Problem]]:
    """Check a CSV file is non-empty UTF-8 text; return its bytes without BOM, or problems."""
    if len(data) == 0:
        return None, [Problem(file, None, None, None, "file_empty", "the file is empty (0 bytes); expected a header row")]
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            return None, [Problem(file, None, None, None, "file_binary", f"not a CSV file: it looks like {what}")]
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    body = data[bom:]
    sample = body[:8192]
    if sample.count(b"\x00") > max(8, len(sample) // 100):
        return None, [Problem(file, None, None, None, "file_binary", "not a CSV file: binary content (many NUL bytes)")]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        off = e.start + bom
        line = body[: e.start].count(b"\n") + 1
        bad = body[e.start : e.start + 4]
        nonprint = sum(1 for b in sample if b < 9 or 13 < b < 32)
        if nonprint > len(sample) // 20:
            return None, [Problem(file, None, None, None, "file_binary",
                                  f"not a CSV file: binary content (invalid UTF-8 at byte offset {off}, "
                                  f"{nonprint} control bytes in the first {len(sample)})")]
        hint = "re-save it as UTF-8 (it may be latin-1, Windows-1252 or GBK)"
        return None, [
            Problem(
                file, line, None, repr(bad), "encoding",
                f"not valid UTF-8: byte 0x{body[e.start]:02x} at byte offset {off} (line {line}); {hint}",
            )
        ]
    if not text.strip():
        return None, [Problem(file, None, None, None, "file_empty", "the file has no header row (only blank space)")]
    return body, []


def parse_csv_bytes(body: bytes, file: str, name: str) -> tuple[RawTable | None, list[Problem]]:
    """Parse UTF-8 CSV bytes into a :class:`RawTable` of text cells."""
    head_text = body[:65536].decode("utf-8", errors="replace")
    try:
        header = next(csv.reader(io.StringIO(head_text)))
    except (StopIteration, csv.Error) as e:
        return None, [Problem(file, 1, None, None, "csv_parse", f"cannot read the header row: {e}")]
    header = [h.strip() for h in header]
    cols = dedupe_header(header)
    try:
        df = pl.read_csv(
            io.BytesIO(body),
            has_header=True,
            infer_schema=False,
            new_columns=cols,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, [Problem(file, None, None, None, "csv_parse", f"not a well-formed CSV file: {msg}")]
    if df.width != len(cols):
        return None, [Problem(file, 1, None, None, "csv_parse", f"header has {len(cols)} columns but rows have {df.width}")]
    df = df.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))
    return RawTable(name, file, header, df), []


def read_csv_table(path: Path, name: str, reg: RawRegistry) -> None:
    data = path.read_bytes()
    reg.input_sha256[path.name] = sha256_bytes(data)
    body, probs = decode_csv_bytes(data, path.name)
    if body is not None:
        rt, more = parse_csv_bytes(body, path.name, name)
        probs += more
        if rt is not None:
            reg.tables[name] = rt
    if name not in reg.tables:
        reg.unreadable.add(name)
    reg.problems.extend(probs)


def read_csv_folder(path: Path) -> RawRegistry:
    reg = RawRegistry("csv", path)
    for p in sorted(path.iterdir()):
        if not p.is_file() or p.name.lower() in NON_TABLE_FILES or p.suffix.lower() != ".csv":
            continue
        if _DICT_RE.search(p.stem):
            continue  # a REDCap data dictionary (shipped with the template) is not a table
        name = p.stem if p.stem in TABLE_NAMES else p.stem.lower()
        if name not in TABLE_NAMES:
            reg.problems.append(
                Problem(p.name, None, None, None, "unknown_file",
                        f"ignored: '{p.name}' is not a registry table (tables: {', '.join(TABLE_NAMES)})", WARNING)
            )
            continue
        if name in reg.tables or name in reg.unreadable:
            reg.problems.append(Problem(p.name, None, None, None, "duplicate_file", f"a second file for table '{name}'"))
            continue
        read_csv_table(p, name, reg)
    manifest = path / "manifest.json"
    if manifest.is_file():
        try:
            doc = json.loads(manifest.read_text("utf-8"))
            reg.declared_source = doc.get("source")
            reg.declared_meta = {str(k): str(v) for k, v in (doc.get("store_meta") or {}).items()}
        except (ValueError, UnicodeDecodeError, AttributeError):
            reg.problems.append(Problem("manifest.json", None, None, None, "manifest", "manifest.json is not valid JSON; ignored", WARNING))
    return reg


# --------------------------------------------------------------------------------------
# XLSX
# --------------------------------------------------------------------------------------
def _cell_text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, _dt.datetime):
        return v.date().isoformat() if v.time() == _dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, (_dt.date, _dt.time)):
        return v.isoformat()
    s = str(v)
    return s if s != "" else None


def read_xlsx(path: Path) -> RawRegistry:
    """Read a workbook: one sheet per table; cells typed by Excel are turned back into text
    (dates -> ISO, integral numbers -> integers, booleans -> true/false, formulas -> their
    ``=...`` text so the validator can reject them)."""
    import zipfile

    import openpyxl

    reg = RawRegistry("xlsx", path)
    data = path.read_bytes()
    reg.input_sha256[path.name] = sha256_bytes(data)
    if len(data) == 0:
        reg.problems.append(Problem(path.name, None, None, None, "file_empty", "the workbook is empty (0 bytes)"))
        reg.unreadable.update(TABLE_NAMES)
        return reg
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, Exception) as e:  # noqa: BLE001 - any failure = unreadable
        reg.problems.append(
            Problem(path.name, None, None, None, "file_unreadable",
                    f"not a readable .xlsx workbook ({type(e).__name__}: {str(e)[:200]})")
        )
        reg.unreadable.update(TABLE_NAMES)
        return reg
    try:
        for ws in wb.worksheets:
            name = ws.title.strip()
            file = f"{path.name}[{ws.title}]"
            if name not in TABLE_NAMES:
                reg.problems.append(Problem(file, None, None, None, "unknown_sheet", f"ignored: sheet '{ws.title}' is not a registry table", WARNING))
                continue
            rows = ws.iter_rows(values_only=True)
            first = next(rows, None)
            if first is None or all(v is None for v in first):
                reg.problems.append(Problem(file, None, None, None, "file_empty", f"sheet '{ws.title}' is empty; expected a header row"))
                reg.unreadable.add(name)
                continue
            header = [("" if v is None else str(v)).strip() for v in first]
            while header and header[-1] == "":
                header.pop()
            cols = dedupe_header(header)
            columns: list[list[str | None]] = [[] for _ in cols]
            rownums: list[int] = []
            for i, r in enumerate(rows, start=2):
                vals = [_cell_text(v) for v in r[: len(cols)]]
                if all(v is None for v in vals):
                    continue
                vals += [None] * (len(cols) - len(vals))
                for c, v in zip(columns, vals):
                    c.append(v)
                rownums.append(i)
            df = pl.DataFrame({c: pl.Series(c, v, dtype=pl.String) for c, v in zip(cols, columns)})
            df = df.with_columns(pl.Series(ROW, rownums, dtype=pl.Int64))
            reg.tables[name] = RawTable(name, file, header, df)
    finally:
        wb.close()
    return reg


# --------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------
_DICT_RE = re.compile(r"(data[_ ]?dictionary|datadictionary)", re.I)


def find_redcap_files(folder: Path) -> tuple[Path, Path] | None:
    """(records, dictionary) in a folder, or None if it holds no REDCap data dictionary."""
    csvs = [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() == ".csv"]
    dicts = [p for p in csvs if _DICT_RE.search(p.stem)]
    if not dicts:
        return None
    others = [p for p in csvs if p not in dicts]
    preferred = [p for p in others if p.stem.lower() == "records" or "_data_" in p.name.lower() or p.stem.upper().endswith("_DATA")]
    for p in preferred + others:
        with p.open("rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf").lstrip(b'"')
        if head.lower().startswith(b"record_id"):
            return p, dicts[0]
    return (preferred or others or [folder / "records.csv"])[0], dicts[0]


def detect_format(path: Path) -> str:
    if path.is_dir():
        if (path / "subject.csv").exists():  # a canonical folder (the template ships a REDCap dictionary too)
            return "csv"
        return "redcap" if find_redcap_files(path) is not None else "csv"
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return "xlsx"
    if path.suffix.lower() == ".csv":
        return "redcap"
    raise ValueError(f"cannot tell the format of {path}: expected a folder of CSVs, an .xlsx workbook or a REDCap export")


def read_registry(path: str | Path, *, dictionary: str | Path | None = None) -> RawRegistry:
    """Read a registry export of any supported format (see the module docstring).

    Parameters
    ----------
    path : a folder of ``<table>.csv``; an ``.xlsx`` workbook; a folder with a REDCap
        records CSV and data dictionary; or a REDCap records CSV (its dictionary found
        beside it, or given as ``dictionary``).
    """
    path = Path(path).expanduser().resolve()
    if not path.exists():
        reg = RawRegistry("csv", path)
        reg.problems.append(Problem(str(path), None, None, None, "path_missing", f"{path} does not exist"))
        reg.unreadable.update(TABLE_NAMES)
        return reg
    fmt = "redcap" if dictionary is not None else detect_format(path)
    if fmt == "csv":
        return read_csv_folder(path)
    if fmt == "xlsx":
        return read_xlsx(path)
    from .redcap import read_redcap

    if path.is_dir():
        found = find_redcap_files(path)
        assert found is not None
        records, dict_path = found
    else:
        records = path
        if dictionary is not None:
            dict_path = Path(dictionary)
        else:
            near = [p for p in sorted(path.parent.glob("*.csv")) if _DICT_RE.search(p.stem)]
            if not near:
                reg = RawRegistry("redcap", path)
                reg.problems.append(
                    Problem(path.name, None, None, None, "missing_dictionary",
                            "a REDCap records CSV needs its data dictionary (*DataDictionary*.csv or data_dictionary.csv) beside it")
                )
                reg.unreadable.update(TABLE_NAMES)
                return reg
            dict_path = near[0]
    return read_redcap(records, dict_path)


__all__ = ["RawRegistry", "RawTable", "read_registry", "ROW", "ERROR", "WARNING"]
