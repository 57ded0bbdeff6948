"""What every reader produces: tables of text cells with their source rows.

A reader turns one input (a CSV folder, a workbook, a REDCap export) into a
:class:`RawRegistry`: per table a :class:`RawTable` whose frame holds text cells (``None``
when empty) plus :data:`ROW`, the row of the source file each came from. It also keeps,
per source file, every data row it read (:attr:`RawRegistry.rows_read`), so the pipeline
can prove that every row was either loaded or reported (:func:`dashboard.ingest.report.accounting`).

This module imports nothing from the readers: they all import it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl

ROW = "__row"  # 1-based row of the source (header = row 1); for REDCap the records-file record
SKIP = "__skip__"  # prefix of boolean columns: cells already reported by a reader/normaliser


@dataclass
class RawTable:
    """One table as read: text cells, header as written, where it came from."""

    name: str
    file: str
    header: list[str]  # as in the file (duplicates kept)
    frame: pl.DataFrame  # String columns named like header (duplicates renamed), plus ROW
    origin: str = "table"  # "table" (header = column names, normalised) or "redcap" (already mapped)
    sep: str = ","  # the CSV delimiter the file used (decimal-comma detection)
    header_row: int = 1  # the row of the file holding the header (below title rows)


@dataclass
class RawRegistry:
    """All tables of one input, untyped, with the problems met while reading."""

    format: str  # "csv" | "xlsx" | "ods" | "xls" | "redcap"
    path: Path
    tables: dict[str, RawTable] = field(default_factory=dict)
    problems: list = field(default_factory=list)  # list[Problem]
    problem_frames: list = field(default_factory=list)  # list[pl.DataFrame] of problems (many rows at once)
    input_sha256: dict[str, str] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)  # tables whose file exists but could not be read
    declared_source: str | None = None  # "synthetic" when the folder's manifest says so (and its hashes match)
    declared_meta: dict[str, str] = field(default_factory=dict)  # the exporting store's provenance
    rows_read: dict[str, pl.Series] = field(default_factory=dict)  # file -> every data row read (ROW values)
    encodings: dict[str, str] = field(default_factory=dict)  # file -> text encoding used
    date_orders: dict[str, str] = field(default_factory=dict)  # file -> date order used (YMD/DMY/MDY)
    # table -> reads (and normalises) it into ``tables`` when called: the validator reads,
    # types and frees one table at a time, so a large folder is never all text at once
    deferred: dict[str, Callable[[], None]] = field(default_factory=dict)

    def load_all(self) -> "RawRegistry":
        """Read every deferred table now (for callers that look at ``tables`` themselves)."""
        for name in list(self.deferred):
            self.deferred.pop(name)()
        return self

    def location(self, table_name: str) -> tuple[str, str]:
        """(file, phrase) naming where a table is expected, for messages."""
        from ..i18n import _

        if self.format == "csv":
            return f"{table_name}.csv", _("file {file} not found in {folder}").format(file=f"{table_name}.csv", folder=self.path)
        if self.format in ("xlsx", "ods", "xls"):
            return self.path.name, _("workbook {workbook} has no sheet named '{sheet}'").format(workbook=self.path.name, sheet=table_name)
        return self.path.name, _("REDCap export has no form '{form}'").format(form=table_name)

    def note_rows(self, file: str, rows: pl.Series | list[int]) -> None:
        s = rows if isinstance(rows, pl.Series) else pl.Series(ROW, rows, dtype=pl.Int64)
        s = s.cast(pl.Int64).alias(ROW)
        self.rows_read[file] = pl.concat([self.rows_read[file], s]) if file in self.rows_read else s


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


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def printable(text: object, limit: int | None = None) -> str:
    """``text`` safe to print on a terminal or a page: control characters (ESC, CR, NUL,
    C1, bidirectional overrides) written as ``\\xNN`` / ``\\uNNNN``; cut to ``limit``."""
    s = "" if text is None else str(text)
    if limit is not None and len(s) > limit:
        from ..i18n import _, fmt_int

        s = s[:limit] + _("... ({n} characters)").format(n=fmt_int(len(s)))
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", s)


def table_key(name: str) -> str:
    """Case-, space- and separator-insensitive key of a sheet or header name:
    ``' Follow up '`` and ``'follow-up'`` -> ``'follow_up'``."""
    s = re.sub(r"[\s\-./]+", "_", str(name).strip().lower())
    return re.sub(r"_+", "_", s).strip("_")


HEADER_SCAN_ROWS = 20  # rows searched for the header below title rows
_NUMBERLIKE = re.compile(r"^[\s+\-]*[\d.,:/\-\s%]+$")


def locate_header(rows: list[list[object]], known: set[str] | None = None) -> int | None:
    """Index of the header row among the first rows of a sheet (title rows above it), or
    None when no row qualifies.

    With ``known`` (the table_key of the registry columns) the header is the first row
    naming at least two of them. Without it (a site's own sheet), the first row whose cells
    look like a header: at least two cells and most of the table's width filled, every
    filled cell text (not a number or a date), no two alike, and a filled row below it.
    """
    cells = [[("" if v is None else str(v)).strip() for v in r] for r in rows[:HEADER_SCAN_ROWS]]
    filled = [[c for c in r if c] for r in cells]
    if known is not None:
        for i, r in enumerate(cells):
            if sum(1 for c in r if c and table_key(re.sub(r"\(.*?\)|\[.*?\]", "", c)) in known) >= min(2, len(known)):
                return i
        return None
    width = max((len(f) for f in filled), default=0)
    for i, f in enumerate(filled):
        if len(f) < max(2, (width + 1) // 2):
            continue
        if any(_NUMBERLIKE.match(c) for c in f) or len(set(f)) < len(f):
            continue
        if any(filled[j] for j in range(i + 1, len(filled))) or i + 1 >= len(rows):
            return i
    return None


def title_rows(rows: list[list[object]], header: int) -> tuple[list[int], bool]:
    """(1-based numbers of the filled rows above ``header``, whether they all look like
    titles: fewer filled cells than half the header's)."""
    cells = [[("" if v is None else str(v)).strip() for v in r] for r in rows[:header + 1]]
    head = sum(1 for c in cells[header] if c)
    above = [(i + 1, sum(1 for c in r if c)) for i, r in enumerate(cells[:header])]
    filled = [(i, n) for i, n in above if n]
    return [i for i, _n in filled], all(n <= max(1, head // 2) for _i, n in filled)


def number_references() -> tuple[tuple[str, str, str], ...]:
    """(table, column, referenced table) for every column holding another table's row number
    (``procedure.episode_no``, ``pathology.procedure_no``, ``onc_event.salvage_procedure_no``):
    the composite foreign keys on ``(subject_id, <number>)`` of schema.py, and the salvage
    link, which validate.py checks itself. A reader or mapping that renumbers a table must
    carry its old -> new numbers into these columns."""
    from ..schema import TABLES, TABLES_BY_NAME

    out = []
    for t in TABLES:
        for fk in t.foreign_keys:
            if (len(fk.columns) == 2 and fk.columns[0] == "subject_id" and fk.ref_columns[0] == "subject_id"
                    and TABLES_BY_NAME[fk.table].primary_key == fk.ref_columns):
                out.append((t.name, fk.columns[1], fk.table))
    out.append(("onc_event", "salvage_procedure_no", "procedure"))
    return tuple(out)
