"""Validation problems and the report that carries them.

Problems are kept as one Polars frame (``file, row, column, value, rule, message,
severity``) so a systematic error in a million-row file costs a frame, not a million
Python objects; :attr:`ValidationReport.problems` turns them into :class:`Problem`\\ s on
demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

import polars as pl

ERROR = "error"
WARNING = "warning"

PROBLEM_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String,
    "row": pl.Int64,
    "column": pl.String,
    "value": pl.String,
    "rule": pl.String,
    "message": pl.String,
    "severity": pl.String,
}
DEFAULT_MAX_ROWS = 200


class Problem(NamedTuple):
    """One thing wrong with the input.

    ``row`` is the 1-based line of the file counting the header as line 1 (for a CSV
    record spanning several physical lines: the record number + 1), the sheet row for a
    workbook, the records-file line for REDCap; ``None`` when the problem is not about
    one row (a missing file or column).
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    rule: str
    message: str
    severity: str = ERROR


def problems_frame(problems: Iterable[Problem] = ()) -> pl.DataFrame:
    rows = [p._asdict() for p in problems]
    return pl.DataFrame(rows, schema=PROBLEM_SCHEMA, orient="row") if rows else pl.DataFrame(schema=PROBLEM_SCHEMA)


@dataclass
class ValidationReport:
    """Everything :func:`dashboard.ingest.validate` found.

    ``tables`` holds the typed source tables (dtypes ready for ``store.insert_frame``);
    it is filled only when :attr:`ok`.
    """

    frame: pl.DataFrame = field(default_factory=problems_frame)
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    source_format: str | None = None
    input_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> pl.DataFrame:
        return self.frame.filter(pl.col("severity") == ERROR)

    @property
    def ok(self) -> bool:
        return self.errors.height == 0

    @property
    def problems(self) -> list[Problem]:
        return [Problem(**r) for r in self.frame.iter_rows(named=True)]

    def to_frame(self) -> pl.DataFrame:
        return self.frame

    def counts(self) -> pl.DataFrame:
        """Number of problems per file and rule."""
        return self.frame.group_by("severity", "file", "rule").len().sort("severity", "file", "rule")

    def format(self, max_rows: int | None = DEFAULT_MAX_ROWS) -> str:
        """A plain-text table of the problems (the first ``max_rows``; ``None`` = all)."""
        n_err = self.errors.height
        n_warn = self.frame.height - n_err
        if self.frame.height == 0:
            return "OK: no problems found."
        shown = self.frame if max_rows is None else self.frame.head(max_rows)
        header = ("severity", "file", "row", "column", "rule", "value", "message")
        body = [
            (
                r["severity"],
                r["file"],
                "" if r["row"] is None else str(r["row"]),
                r["column"] or "",
                r["rule"],
                _short(r["value"]),
                r["message"],
            )
            for r in shown.iter_rows(named=True)
        ]
        widths = [min(max(len(h), *(len(b[i]) for b in body)), 40 if i < 6 else 10_000) for i, h in enumerate(header)]
        lines = [
            "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
            "  ".join("-" * w for w in widths),
        ]
        for b in body:
            lines.append("  ".join(_clip(v, w).ljust(w) for v, w in zip(b, widths)).rstrip())
        if shown.height < self.frame.height:
            lines.append(f"... and {self.frame.height - shown.height} more (see to_frame() for all)")
        lines.append(f"{n_err} error(s), {n_warn} warning(s).")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.format()


def _short(value: str | None, n: int = 40) -> str:
    if value is None:
        return ""
    r = repr(value)[1:-1] if any(ord(ch) < 32 or ord(ch) == 127 for ch in value) else value
    return r if len(r) <= n else r[: n - 3] + "..."


def _clip(v: str, w: int) -> str:
    return v if len(v) <= w else v[: w - 3] + "..."


class ImportRejected(Exception):
    """Raised by ``import_registry`` when the input does not validate; carries the report."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        n = report.errors.height
        super().__init__(f"import rejected: {n} problem(s)\n{report.format(max_rows=20)}")
