"""Import, validate and export registry data.

``read_registry(path)`` reads a canonical CSV folder, an XLSX workbook or a REDCap export
into text frames; ``validate(raw)`` checks every rule and types the tables;
``import_registry(path, db_path)`` loads a valid input into a new store (atomically, via
``store.build_store``) and raises :class:`ImportRejected` otherwise, leaving the served
store untouched; ``export_registry`` writes the canonical folder back out.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import duckdb

from .. import audit
from ..store import build_store, insert_frame
from .export import export_redcap, export_registry, write_template, write_xlsx
from .readers import RawRegistry, RawTable, read_registry
from .redcap import write_redcap, write_redcap_dictionary
from .report import ImportRejected, Problem, ValidationReport
from .validate import validate


def validate_path(path: str | Path) -> ValidationReport:
    """Read and validate; never touches a store."""
    return validate(read_registry(path))


SYNTHETIC_PROVENANCE_KEYS = ("seed", "n_patients", "generator_version", "cutoff_date", "calibration")


def import_registry(path: str | Path, db_path: str | Path, *, derive: bool = True, actor: str | None = None,
                    extra_provenance: dict[str, str] | None = None) -> dict:
    """Validate ``path`` and, only if it is valid, build a new store at ``db_path``.

    Raises :class:`ImportRejected` (carrying the report) before touching the store when
    any error is found. Returns the store metadata written by ``build_store``.
    Provenance ``source`` is ``"imported"``, unless the input is an export whose
    manifest says it is synthetic: then it stays ``"synthetic"`` so the label survives.
    ``extra_provenance`` (e.g. the ``mapping_*`` keys of a mapped source) is added to the
    store's provenance and to the audit record.
    """
    who = actor or default_actor()
    log = audit.default_audit_path(db_path)
    try:
        raw = read_registry(path)
        report = validate(raw)
    except BaseException as exc:  # a reader or validator crash leaves a trace too (issue 13)
        audit.record("import", who, {"path": str(Path(path).expanduser().resolve()), "db": str(Path(db_path).resolve()),
                                     "error": f"{type(exc).__name__}: {exc}"[:500]}, result="failed", path=log)
        raise
    detail = {"path": str(Path(path).expanduser().resolve()), "format": raw.format, "files_sha256": raw.input_sha256,
              "db": str(Path(db_path).resolve())}
    if extra_provenance:
        detail.update({k: v for k, v in extra_provenance.items() if k in ("mapping_name", "mapping_sha256", "mapping_sources")})
    if not report.ok:
        audit.record("import", who, {**detail, "problems": len(report.problems)}, result="rejected", path=log)
        raise ImportRejected(report)
    tables = report.tables

    def fill(con: duckdb.DuckDBPyConnection) -> None:
        for name, df in tables.items():
            insert_frame(con, name, df)

    provenance = {
        "source": "synthetic" if raw.declared_source == "synthetic" else "imported",
        "import_path": str(Path(path).expanduser().resolve()),
        "import_format": raw.format,
        "input_sha256": raw.input_sha256,
        "imported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    provenance.update(extra_provenance or {})
    if raw.declared_source == "synthetic":
        provenance["imported_from_synthetic_export"] = "true"
        for key in SYNTHETIC_PROVENANCE_KEYS:  # keep what the synthetic-data label shows
            if key in raw.declared_meta:
                provenance[key] = raw.declared_meta[key]
    try:
        meta = build_store(db_path, fill, provenance, derive=derive)
    except BaseException as exc:
        audit.record("import", who, {**detail, "error": f"{type(exc).__name__}: {exc}"[:500]}, result="failed", path=log)
        raise
    audit.record("import", who, {**detail, "table_counts": meta.get("table_counts"), "content_hash": meta.get("content_hash")},
                 path=log)
    return meta


def default_actor() -> str:
    """Who runs a command-line import or export: ``cli:<operating-system user>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in a bare container
        return "cli:unknown"


__all__ = [
    "ImportRejected",
    "Problem",
    "RawRegistry",
    "RawTable",
    "ValidationReport",
    "export_redcap",
    "export_registry",
    "import_registry",
    "read_registry",
    "validate",
    "validate_path",
    "write_redcap",
    "write_redcap_dictionary",
    "write_template",
    "write_xlsx",
]
