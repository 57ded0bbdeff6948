"""Validation problems and the report that carries them.

Problems are kept as one Polars frame (``file, row, column, value, rule, message,
severity``) so a systematic error in a million-row file costs a frame, not a million
Python objects; :attr:`ValidationReport.problems` turns them into :class:`Problem`\\ s on
demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

import re

import polars as pl

from ..i18n import N_, _, fmt_int, get_language, pgettext
from .model import printable

ERROR = "error"
WARNING = "warning"
INFO = "info"  # a decision taken on the way that needs no action (title rows skipped)

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


_NAMED = re.compile(r"\{(\w+)\}")


def message_expr(template: str, **values: pl.Expr | str) -> pl.Expr:
    """A per-row message from a translated ``template`` with named ``{placeholders}``
    filled by expressions (or plain text), in the order the translation puts them:
    ``message_expr(_("ICI end {end} is before its start {start}"), end=..., start=...)``.
    Like ``pl.format``, a null value gives a null message."""
    parts: list[pl.Expr] = []
    pos = 0
    for m in _NAMED.finditer(template):
        if m.start() > pos:
            parts.append(pl.lit(template[pos:m.start()], pl.String))
        v = values[m.group(1)]
        parts.append(pl.lit(v, pl.String) if isinstance(v, str) else v.cast(pl.String))
        pos = m.end()
    if pos < len(template):
        parts.append(pl.lit(template[pos:], pl.String))
    if not parts:
        return pl.lit("", pl.String)
    return pl.concat_str(parts) if len(parts) > 1 else parts[0]


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
    accounting: pl.DataFrame | None = None  # per file: read, loaded, reported, unaccounted (see accounting())
    encodings: dict[str, str] = field(default_factory=dict)  # file -> encoding used
    date_orders: dict[str, str] = field(default_factory=dict)  # file -> date order used
    language: str = field(default_factory=get_language)  # the language the messages were written in

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
        n_info = self.frame.filter(pl.col("severity") == INFO).height
        n_warn = self.frame.height - n_err - n_info
        if self.frame.height == 0:
            return _("OK: no problems found.")
        shown = self.frame if max_rows is None else self.frame.head(max_rows)
        header = (pgettext("import", "severity"), pgettext("import", "file"), pgettext("import", "row"),
                  pgettext("import", "column"), pgettext("import", "rule"), pgettext("import", "value"),
                  pgettext("import", "message"))
        body = [
            (
                severity_label(r["severity"]),
                printable(r["file"]),
                "" if r["row"] is None else str(r["row"]),
                printable(r["column"] or ""),
                r["rule"],
                _short(r["value"]),
                printable(r["message"]),
            )
            for r in shown.iter_rows(named=True)
        ]
        widths = [min(max(_width(h), *(_width(b[i]) for b in body)), 40 if i < 6 else 10_000) for i, h in enumerate(header)]
        lines = [
            "  ".join(_ljust(h, w) for h, w in zip(header, widths)).rstrip(),
            "  ".join("-" * w for w in widths),
        ]
        for b in body:
            lines.append("  ".join(_ljust(_clip(v, w), w) for v, w in zip(b, widths)).rstrip())
        if shown.height < self.frame.height:
            lines.append(_("... and {n} more (see to_frame() for all)").format(n=fmt_int(self.frame.height - shown.height)))
        if n_info:
            lines.append(_("{errors} error(s), {warnings} warning(s), {infos} note(s).").format(
                errors=fmt_int(n_err), warnings=fmt_int(n_warn), infos=fmt_int(n_info)))
        else:
            lines.append(_("{errors} error(s), {warnings} warning(s).").format(errors=fmt_int(n_err), warnings=fmt_int(n_warn)))
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.format()

    def grouped(self) -> pl.DataFrame:
        """One line per (severity, file, column, rule): how many, the first rows, an
        example value, the first message, the likely cause and fix, and whether the
        problem only follows from an earlier one in the same rows (``follows``)."""
        return group_problems(self.frame)

    def format_grouped(self, max_rows: int | None = DEFAULT_MAX_ROWS) -> str:
        """The grouped report as text, errors first; control characters escaped."""
        g = self.grouped()
        if g.height == 0:
            return _("OK: no problems found.")
        lines = []
        shown = g if max_rows is None else g.head(max_rows)
        for r in shown.iter_rows(named=True):
            where = printable(r["file"])
            if r["column"]:
                where = _("{file} column {column}").format(file=where, column=printable(r["column"]))
            rows = " " + _("rows {rows}").format(rows=r["rows"]) if r["rows"] else ""
            count = _("{n} x ").format(n=fmt_int(r["count"])) if r["count"] > 1 else ""
            follows = " " + _("[follows from an earlier problem in the same rows]") if r["follows"] else ""
            lines.append(_ljust(severity_label(r["severity"]).upper(), 7) + f" {where}: {count}{r['rule']}{rows}{follows}")
            example = _(" (e.g. '{value}')").format(value=_short(r["value"], 60)) if r["value"] else ""
            lines.append(f"        {printable(r['message'])}" + example)
            if r["hint"]:
                lines.append(f"        -> {r['hint']}")
        if shown.height < g.height:
            lines.append(_("... and {n} more groups").format(n=fmt_int(g.height - shown.height)))
        n_err = self.errors.height
        n_info = self.frame.filter(pl.col("severity") == INFO).height
        if n_info:
            lines.append(_("{errors} error(s), {warnings} warning(s), {infos} note(s) in {groups} group(s).").format(
                errors=fmt_int(n_err), warnings=fmt_int(self.frame.height - n_err - n_info), infos=fmt_int(n_info), groups=fmt_int(g.height)))
        else:
            lines.append(_("{errors} error(s), {warnings} warning(s) in {groups} group(s).").format(
                errors=fmt_int(n_err), warnings=fmt_int(self.frame.height - n_err), groups=fmt_int(g.height)))
        return "\n".join(lines)

    def write_csv(self, path) -> None:
        """The full per-cell list (every problem) as CSV."""
        self.frame.write_csv(path)


def _short(value: str | None, n: int = 40) -> str:
    if value is None:
        return ""
    r = printable(value)
    return r if len(r) <= n else r[: n - 3] + "..."


def _clip(v: str, w: int) -> str:
    return v if _width(v) <= w else v[: w - 3] + "..."


def _width(text: str) -> int:
    """Terminal columns of ``text`` (a Chinese character takes two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _ljust(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def severity_label(severity: str | None) -> str:
    """``error`` / ``warning`` in the current language (the frame keeps the code)."""
    labels = {ERROR: pgettext("import", "error"), WARNING: pgettext("import", "warning"), INFO: pgettext("import", "info")}
    return labels.get(severity or "", severity or "")


# Likely cause and fix, in plain words, per rule (shown under each group).
HINTS: dict[str, str] = {
    "encoding": N_("save the file from Excel as 'CSV UTF-8 (comma delimited)'"),
    "encoding_used": N_("nothing to do if names with accents or Chinese characters look right; else save as 'CSV UTF-8'"),
    "delimiter": N_("nothing to do: the file was read with this delimiter"),
    "date_format": N_("write dates as YYYY-MM-DD, or as day/month/year text with --date-order DMY"),
    "date_order_ambiguous": N_("pass --date-order DMY (15/03/2021) or --date-order MDY (3/15/2021); in the browser choose 'Date order'"),
    "date_order_mixed": N_("one file must use one date order: correct the dates that are written the other way"),
    "date_order": N_("check that this order is right for this file; declare another with --date-order"),
    "date_invalid": N_("the day does not exist (31 April, 29 February of a non-leap year) or the date order is wrong"),
    "type_float": N_("write numbers with a dot or a comma as decimal separator and nothing else (no units)"),
    "type_int": N_("write whole numbers only (no units, no decimals)"),
    "vocabulary": N_("use one of the codes listed in the template README (the REDCap labels are accepted through the dictionary)"),
    "required": N_("fill the value, or write NA if it is truly unknown and the column is optional"),
    "unknown_column": N_("rename the column to a registry column name or delete it"),
    "missing_column": N_("add the column (name as in the template) or check the header row is row 1"),
    "duplicate_key": N_("each key must occur once: delete the repeated row or give it the next number"),
    "fk_orphan": N_("add the parent row (e.g. the subject) or correct the id"),
    "duplicate_sheet": N_("delete the stale sheet (hidden sheets count too) or rename it"),
    "hidden_sheet": N_("unhide and check the sheet, or delete it if it is a stale copy"),
    "header_row": N_("delete the rows above the header, or make them a title (one cell, e.g. merged across the table)"),
    "title_rows": N_("nothing to do: title rows above the header are not data"),
    "header_too_large": N_("this is not a registry table: check you chose the right file"),
    "redcap_labels_export": N_("export again from REDCap choosing 'CSV / Microsoft Excel (raw data)'"),
    "redcap_unknown_choice": N_("the records were exported with another version of the data dictionary: export both again"),
    "redcap_no_baseline": N_("fill the subject form in the first event of the record's arm"),
    "redcap_renumbered": N_("nothing to do: numbers follow the event order"),
    "redcap_reference_renumbered": N_("nothing to do: the link follows the procedure or episode it named"),
    "redcap_reference_ambiguous": N_("fill the link in the same event as the form it names, or give that form its number as a field"),
    "redcap_reference_missing": N_("correct the number: it must be the instance number of a form of the same record"),
    "redcap_dag_as_centre": N_("nothing to do if the data access groups are the treating centres"),
    "redcap_event_order_rows": N_("add the project's events CSV (Project Setup > Define My Events > Download) to the folder"),
    "redcap_event_unknown": N_("export the records and the event definition of the same project again"),
    "redcap_follow_up_latest": N_("nothing to do if the latest follow-up is the right one"),
    "manifest_mismatch": N_("nothing to do: edited data are imported as real data"),
    "symlink": N_("copy the file into the folder instead of linking to it"),
    "file_unsafe": N_("open and re-save the workbook in Excel or LibreOffice"),
    "file_unreadable": N_("open the file in Excel or LibreOffice and save it again as .xlsx"),
    "control_character": N_("remove the invisible character (often pasted from another program)"),
    "formula_injection": N_("remove the leading =, +, - or @ (a spreadsheet would run it as a formula)"),
    "dead_without_date": N_("fill death_date (or check vital_status)"),
    "extra_columns": N_("nothing to do if these columns are not needed"),
    "missing_marker": N_("nothing to do: these cells are read as empty"),
    "redcap_ignored_fields": N_("nothing to do if these fields are not registry data"),
    "redcap_missing_code": N_("nothing to do: Missing Data Codes are read as empty"),
    "redcap_datetime": N_("nothing to do: only the date is kept"),
    "header_renamed": N_("nothing to do if the columns were matched correctly"),
    "empty_row": N_("nothing to do: empty rows are dropped"),
    "totals_row": N_("nothing to do: a totals row is not a patient"),
    "ghost_columns": N_("nothing to do: empty columns are dropped"),
    "decimal_comma": N_("nothing to do: 5,5 is read as 5.5"),
    "excel_serial_date": N_("check a few dates: they were stored as numbers"),
    "formula_values": N_("nothing to do: the values Excel saved are read"),
    "formula_unsaved": N_("open the workbook in Excel or LibreOffice, save it, and upload again"),
    "type_bool": N_("write true or false (1/0 and yes/no are accepted)"),
    "range": N_("check the value and its unit (the allowed range is in the message)"),
    "date_range": N_("check the year: a date before 1990 or in the future is a typing error"),
    "missing_table": N_("add the table (file or sheet) named in the message"),
    "missing_follow_up": N_("add a follow_up row for the patient (last contact date and vital status)"),
    "ici_end_before_start": N_("check both dates: the last dose cannot come before the first"),
    "after_death": N_("check the date and death_date: nothing is recorded after death"),
    "after_last_contact": N_("set last_contact_date to the patient's latest dated record"),
    "death_before_last_contact": N_("for a patient who died, last_contact_date is the death date"),
    "death_date_not_dead": N_("set vital_status to DEAD, or remove death_date"),
    "stoma_closure_not_temporary": N_("set stoma to TEMPORARY, or remove stoma_closure_date"),
    "stoma_closure_before_procedure": N_("check both dates: a stoma is closed after the operation that made it"),
    "ae_resolution_before_onset": N_("check both dates: an AE resolves after its onset"),
    "nodes_positive_gt_examined": N_("check both counts: the positive nodes are among the nodes examined"),
    "trg_grade_without_system": N_("fill trg_system (the grading system the grade belongs to)"),
    "salvage_procedure_missing": N_("give the procedure_no of a procedure of the same patient"),
}
CELL_RULES = frozenset({"control_character", "formula_injection", "required", "type_int", "type_float", "type_bool", "date_format",
                        "date_invalid", "date_range", "vocabulary", "range", "max_length", "redcap_unknown_choice",
                        "redcap_unmapped_choice", "date_order_ambiguous", "date_order_mixed"})
MAX_LISTED_ROWS = 5


def group_problems(frame: pl.DataFrame) -> pl.DataFrame:
    """See :meth:`ValidationReport.grouped`."""
    schema = {"severity": pl.String, "file": pl.String, "column": pl.String, "rule": pl.String, "count": pl.Int64,
              "rows": pl.String, "value": pl.String, "message": pl.String, "hint": pl.String, "follows": pl.Boolean}
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    f = frame.with_row_index("__i")
    bad_cells = f.filter(pl.col("rule").is_in(list(CELL_RULES)) & (pl.col("severity") == ERROR) & pl.col("row").is_not_null())
    bad_cells = bad_cells.select("file", "row").unique().with_columns(pl.lit(True).alias("__cell"))
    f = f.join(bad_cells, on=["file", "row"], how="left").with_columns(
        (pl.col("__cell").fill_null(False) & ~pl.col("rule").is_in(list(CELL_RULES))).alias("__follows"))
    g = (
        f.sort("__i")
        .group_by("severity", "file", "column", "rule", maintain_order=True)
        .agg(
            pl.len().alias("count"),
            pl.col("row").drop_nulls().head(MAX_LISTED_ROWS).cast(pl.String).str.join(", ").alias("__rows"),
            pl.col("row").drop_nulls().n_unique().alias("__nrows"),
            pl.col("value").drop_nulls().first().alias("value"),
            pl.col("message").first().alias("message"),
            pl.col("__follows").all().alias("follows"),
            pl.col("__i").min().alias("__first"),
        )
    )
    g = g.with_columns(
        pl.when(pl.col("__nrows") > MAX_LISTED_ROWS).then(
            message_expr(_("{rows}, ... ({n} rows)"), rows=pl.col("__rows"), n=pl.col("__nrows")))
        .otherwise(pl.col("__rows")).alias("rows"),
        pl.col("rule").replace_strict({k: _(v) for k, v in HINTS.items()}, default=None, return_dtype=pl.String).alias("hint"),
        pl.col("count").cast(pl.Int64),
    )
    return g.sort([pl.col("severity") != ERROR, "follows", "__first"]).select(list(schema))


def accounting(raw, report: "ValidationReport") -> pl.DataFrame:
    """Per source file: rows read, rows loaded (in a table), rows reported (dropped, with a
    problem naming the row), rows unaccounted (must be 0). When the import is refused
    nothing is loaded: ``loaded`` counts the rows that would be."""
    ROW = "__row"
    out = []
    loaded_by: dict[str, list[pl.Series]] = {}
    for rt in raw.tables.values():
        loaded_by.setdefault(rt.file, []).append(rt.frame[ROW])
    for file, rows in raw.rows_read.items():
        read = rows.unique()
        got = pl.concat(loaded_by[file]).unique() if file in loaded_by else pl.Series(ROW, [], pl.Int64)
        rest = read.filter(~read.is_in(got.implode()))
        mine = report.frame.filter(pl.col("file") == file)
        named = mine["row"].drop_nulls().unique()
        whole = mine.filter(pl.col("row").is_null() & (pl.col("severity") == ERROR)).height > 0  # the file itself is refused
        reported = rest if whole else rest.filter(rest.is_in(named.implode()))
        out.append({"file": file, "read": read.len(), "loaded": got.filter(got.is_in(read.implode())).len(),
                    "reported": reported.len(), "unaccounted": rest.len() - reported.len()})
    schema = {"file": pl.String, "read": pl.Int64, "loaded": pl.Int64, "reported": pl.Int64, "unaccounted": pl.Int64}
    return pl.DataFrame(out, schema=schema, orient="row") if out else pl.DataFrame(schema=schema)


class ImportRejected(Exception):
    """Raised by ``import_registry`` when the input does not validate; carries the report."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        n = report.errors.height
        super().__init__(_("import rejected: {n} problem(s)").format(n=fmt_int(n)) + "\n" + report.format_grouped(max_rows=20))
