"""Preview and load a mapped source: validation by column and rule, diff against the store.

A mapped source is written as a canonical folder and then goes through the very same
``read_registry`` -> ``validate`` -> ``import_registry`` path as every other import (one
door); this module only adds what the mapping knows: which source row each canonical row
came from, the assumed constants, and the mapping's name and hash in the provenance.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..i18n import _, fmt_int
from .. import audit
from ..schema import TABLES, TABLES_BY_NAME
from .mapping import SOURCE_FILE, SOURCE_ROW, MapResult, Mapping, map_path
from .report import PROBLEM_SCHEMA, ImportRejected, ValidationReport


@dataclass
class Preview:
    """Everything shown before a mapped source is loaded."""

    result: MapResult
    report: ValidationReport  # mapping problems + validator problems, each naming the source row
    tables: dict[str, pl.DataFrame]  # typed canonical tables (only when valid), as they would be loaded

    @property
    def ok(self) -> bool:
        return self.report.ok

    def by_column_and_rule(self) -> pl.DataFrame:
        """Problems grouped by (severity, table/column, rule): count, example value, rows."""
        f = self.report.frame
        if f.height == 0:
            return pl.DataFrame(schema={"severity": pl.String, "column": pl.String, "rule": pl.String, "problems": pl.UInt32,
                                        "example": pl.String, "rows": pl.String, "message": pl.String})
        return (f.with_columns(pl.col("column").fill_null("(file)"))
                .group_by("severity", "column", "rule", maintain_order=True)
                .agg(pl.len().alias("problems"), pl.col("value").drop_nulls().first().alias("example"),
                     pl.col("row").drop_nulls().unique().sort().head(10).cast(pl.String).str.join(", ").alias("rows"),
                     pl.col("message").first())
                .sort("severity", "column", "rule"))


def _source_frame(result: MapResult, frame: pl.DataFrame) -> pl.DataFrame:
    """Validator problems name ``<table>.csv`` line N: point them at the source row instead."""
    if frame.height == 0:
        return frame
    parts = []
    for t, df in result.tables.items():
        sub = frame.filter(pl.col("file") == f"{t}.csv")
        if sub.height == 0:
            continue
        lookup = df.select(pl.int_range(2, 2 + df.height, dtype=pl.Int64).alias("row"), pl.col(SOURCE_FILE),
                           pl.col(SOURCE_ROW))
        sub = sub.join(lookup, on="row", how="left", maintain_order="left")
        sub = sub.with_columns(
            pl.col(SOURCE_FILE).fill_null(pl.col("file")).alias("file"),
            pl.col(SOURCE_ROW).alias("row"),
            (pl.lit(f"{t}.") + pl.col("column").fill_null("")).alias("column"),
            (pl.lit(f"{t}: ") + pl.col("message")).alias("message"),
        ).select(list(PROBLEM_SCHEMA))
        parts.append(sub)
    rest = frame.filter(~pl.col("file").is_in([f"{t}.csv" for t in result.tables]))
    return pl.concat([*parts, rest.select(list(PROBLEM_SCHEMA))]) if parts else frame


def preview_result(result: MapResult) -> Preview:
    """Validate a :class:`MapResult` with the import validator (nothing is stored)."""
    from . import read_registry, validate

    tmp = Path(tempfile.mkdtemp(prefix="dashboard-map-"))
    try:
        result.write(tmp)
        report = validate(read_registry(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mapped = result.problems_frame()
    checked = _source_frame(result, report.frame)
    if mapped.height and checked.height:  # a cell the mapping could not fill is reported once, by the mapping
        flagged = mapped.select("file", "row", pl.col("message").str.extract(r"^([a-z_]+\.[a-z_0-9]+):", 1).alias("column"))
        checked = checked.join(flagged.drop_nulls(), on=["file", "row", "column"], how="anti", nulls_equal=False)
    frame = pl.concat([mapped, checked])
    combined = ValidationReport(frame=frame, tables=report.tables if report.ok and result.ok else {},
                                source_format=f"mapped {result.source_format}", input_sha256=dict(result.sources))
    return Preview(result, combined, combined.tables)


def preview_path(path: str | Path, mapping: Mapping) -> Preview:
    return preview_result(map_path(path, mapping))


# ---------------------------------------------------------------------------------------
# Diff against the served store
# ---------------------------------------------------------------------------------------
def _patient_digests(tables: dict[str, pl.DataFrame]) -> dict[str, str]:
    """subject_id -> digest of all of that patient's rows in every table."""
    acc: dict[str, list[str]] = {}
    for t in TABLES:
        df = tables.get(t.name)
        if df is None or df.height == 0:
            continue
        df = df.select(t.column_names)
        line = pl.concat_str([pl.col(c).cast(pl.String).fill_null("\u2400") for c in t.column_names], separator="\x1f")
        rows = df.select(pl.col("subject_id"), line.alias("line")).sort("line")
        for sid, text in rows.group_by("subject_id", maintain_order=True).agg(pl.col("line").str.join("\x1e")).iter_rows():
            acc.setdefault(sid, []).append(f"{t.name}\x1d{text}")
    return {sid: hashlib.sha256("\x1c".join(parts).encode()).hexdigest() for sid, parts in acc.items()}


@dataclass(frozen=True)
class StoreDiff:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: int
    rows: pl.DataFrame  # table, rows_now, rows_after, change

    def summary(self) -> str:
        return (_("{added} patient(s) added, {changed} changed, {removed} removed, {unchanged} unchanged").format(
            added=fmt_int(len(self.added)), changed=fmt_int(len(self.changed)), removed=fmt_int(len(self.removed)),
            unchanged=fmt_int(self.unchanged)))


def diff_against_store(new_tables: dict[str, pl.DataFrame], db_path: str | Path | None) -> StoreDiff:
    """Patients added / changed / removed and rows per table, new vs the served store."""
    from .export import read_store_tables

    old: dict[str, pl.DataFrame] = {}
    if db_path is not None and Path(db_path).exists():
        old, _meta, _log = read_store_tables(db_path)
    a, b = _patient_digests(old), _patient_digests(new_tables)
    added = tuple(sorted(set(b) - set(a)))
    removed = tuple(sorted(set(a) - set(b)))
    changed = tuple(sorted(s for s in set(a) & set(b) if a[s] != b[s]))
    unchanged = len(set(a) & set(b)) - len(changed)
    rows = pl.DataFrame({"table": [t.name for t in TABLES],
                         "rows_now": [old[t.name].height if t.name in old else 0 for t in TABLES],
                         "rows_after": [new_tables[t.name].height if t.name in new_tables else 0 for t in TABLES]})
    rows = rows.with_columns((pl.col("rows_after") - pl.col("rows_now")).alias("change"))
    return StoreDiff(added, removed, changed, unchanged, rows)


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------
def import_result(result: MapResult, db_path: str | Path, *, actor: str | None = None, derive: bool = True) -> dict:
    """Load a mapped source through ``import_registry`` (the atomic swap); the mapping's name,
    hash, sources and assumed constants go into the store's provenance and the audit trail.
    Raises :class:`ImportRejected` (store untouched) when the mapping or the validator finds an error."""
    from . import default_actor, import_registry

    if not result.ok:
        who = actor or default_actor()
        audit.record("import", who, {"format": f"mapped {result.source_format}", "mapping_name": result.mapping.name,
                                     "mapping_sha256": result.mapping.sha256, "files_sha256": result.sources,
                                     "problems": sum(1 for p in result.problems if p.severity == "error")},
                     result="rejected", path=audit.default_audit_path(db_path))
        raise ImportRejected(ValidationReport(frame=result.problems_frame(), source_format=f"mapped {result.source_format}"))
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-map-"))
    try:
        result.write(tmp)
        extra = {**result.provenance(), "import_format": f"mapped {result.source_format}"}
        try:
            return import_registry(tmp, db_path, actor=actor, derive=derive, extra_provenance=extra)
        except ImportRejected as exc:
            raise ImportRejected(ValidationReport(frame=_source_frame(result, exc.report.frame),
                                                  source_format=f"mapped {result.source_format}")) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def import_mapped(path: str | Path, mapping: Mapping, db_path: str | Path, *, actor: str | None = None,
                  derive: bool = True) -> dict:
    """Map ``path`` with ``mapping`` and load it (see :func:`import_result`)."""
    return import_result(map_path(path, mapping), db_path, actor=actor, derive=derive)


def assumed_from_meta(meta: dict[str, str]) -> list[dict]:
    """The assumed constants recorded in a store's provenance."""
    try:
        return list(json.loads(meta.get("mapping_assumed") or "[]"))
    except ValueError:
        return []


__all__ = ["Preview", "StoreDiff", "assumed_from_meta", "diff_against_store", "import_mapped", "import_result",
           "preview_path", "preview_result", "TABLES_BY_NAME"]
