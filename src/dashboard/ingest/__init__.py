"""Import, validate and export registry data: a pipeline read in order.

1. read (:mod:`.readers` picks the reader: :mod:`.reader_csv` for a canonical CSV folder,
   :mod:`.reader_workbook` for .xlsx/.ods/.xls, :mod:`.reader_redcap` for a REDCap export;
   :mod:`.text` decodes and splits delimited text) -> a :class:`RawRegistry` of text cells
   that remembers every source row it read;
2. normalise (:mod:`.normalise`: headers, empty and totals rows, missing markers, decimal
   commas, dates with one date order per file) — a mapping stage would follow here;
3. validate (:mod:`.validate`: every rule, typed tables) -> :class:`ValidationReport`, with
   the row accounting (read = loaded + reported) and grouped messages (:mod:`.report`);
4. load: :func:`import_registry` builds a new store atomically (``store.build_store``) only
   when there is no error, else raises :class:`ImportRejected` and the served store is
   untouched. ``export_registry`` writes the canonical folder back out.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import duckdb

from .. import audit
from ..store import build_store, insert_frame
from .export import export_redcap, export_registry, write_template, write_xlsx
from .model import RawRegistry, RawTable
from .normalise import DATE_ORDERS, DEFAULT_MISSING, Options
from .readers import read_registry, read_source
from .redcap import write_redcap, write_redcap_dictionary
from .report import ImportRejected, Problem, ValidationReport
from .validate import validate


def _options(options: Options | None, date_order: str | None, missing: tuple[str, ...] | None) -> Options:
    if options is not None:
        return options
    return Options(date_order=date_order, missing=DEFAULT_MISSING if missing is None else tuple(missing))


def validate_path(path: str | Path, *, options: Options | None = None, date_order: str | None = None,
                  missing: tuple[str, ...] | None = None) -> ValidationReport:
    """Read, normalise and validate; never touches a store."""
    return validate(read_registry(path, options=_options(options, date_order, missing), deferred=True))


SYNTHETIC_PROVENANCE_KEYS = ("seed", "n_patients", "generator_version", "cutoff_date", "calibration")


def import_registry(path: str | Path, db_path: str | Path, *, derive: bool = True, actor: str | None = None,
                    extra_provenance: dict[str, str] | None = None,
                    options: Options | None = None, date_order: str | None = None,
                    missing: tuple[str, ...] | None = None, role: str | None = None) -> dict:
    """Validate ``path`` and, only if it is valid, build a new store at ``db_path``.

    Raises :class:`ImportRejected` (carrying the report) before touching the store when
    any error is found. Returns the store metadata written by ``build_store``.
    Provenance ``source`` is ``"imported"``, unless the input is an export whose
    manifest says it is synthetic: then it stays ``"synthetic"`` so the label survives.
    ``extra_provenance`` (e.g. the ``mapping_*`` keys of a mapped source) is added to the
    store's provenance and to the audit record.
    """
    opts = _options(options, date_order, missing)
    who = actor or default_actor()
    log = audit.default_audit_path(db_path)
    try:
        raw = read_registry(path, options=opts, deferred=True)  # each table read, typed and freed in turn
        report = validate(raw)
    except BaseException as exc:  # a reader or validator crash leaves a trace too, never a silent failure
        audit.record("import", who, {"path": str(Path(path).expanduser().resolve()), "db": str(Path(db_path).resolve()),
                                     "error": f"{type(exc).__name__}: {exc}"[:500]}, result="failed", role=role, path=log)
        raise
    detail = {"path": str(Path(path).expanduser().resolve()), "format": raw.format, "files_sha256": raw.input_sha256,
              "db": str(Path(db_path).resolve()), "encodings": raw.encodings, "date_orders": raw.date_orders,
              "date_order_declared": opts.date_order, "missing_markers": list(opts.missing)}
    if report.accounting is not None:
        detail["rows"] = {r["file"]: {k: r[k] for k in ("read", "loaded", "reported")} for r in report.accounting.iter_rows(named=True)}
    if extra_provenance:
        detail.update({k: v for k, v in extra_provenance.items() if k in ("mapping_name", "mapping_sha256", "mapping_sources")})
    if not report.ok:
        first = report.grouped().head(5)
        audit.record("import", who, {**detail, "problems": len(report.problems),
                                     "first_problems": [f"{r['file']}: {r['rule']} x{r['count']}" for r in first.iter_rows(named=True)]},
                     result="rejected", role=role, path=log)
        raise ImportRejected(report)
    tables, report.tables = report.tables, {}

    def fill(con: duckdb.DuckDBPyConnection) -> None:
        for name in list(tables):  # each typed table is freed once DuckDB holds it (before the derived tables are built)
            insert_frame(con, name, tables.pop(name))

    provenance = {
        "source": "synthetic" if raw.declared_source == "synthetic" else "imported",
        "import_path": str(Path(path).expanduser().resolve()),
        "import_format": raw.format,
        "input_sha256": raw.input_sha256,
        "imported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    provenance.update(extra_provenance or {})
    if raw.encodings and set(raw.encodings.values()) - {"utf-8", "utf-8-sig"}:
        provenance["import_encodings"] = raw.encodings
    if raw.date_orders:
        provenance["import_date_orders"] = raw.date_orders
    if raw.declared_source == "synthetic":
        provenance["imported_from_synthetic_export"] = "true"
        for key in SYNTHETIC_PROVENANCE_KEYS:  # keep what the synthetic-data label shows
            if key in raw.declared_meta:
                provenance[key] = raw.declared_meta[key]
    try:
        meta = build_store(db_path, fill, provenance, derive=derive)
    except BaseException as exc:
        audit.record("import", who, {**detail, "error": f"{type(exc).__name__}: {exc}"[:500]}, result="failed", role=role, path=log)
        raise
    audit.record("import", who, {**detail, "table_counts": meta.get("table_counts"), "content_hash": meta.get("content_hash")},
                 role=role, path=log)
    return meta


def default_actor() -> str:
    """Who runs a command-line import or export: ``cli:<operating-system user>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in a bare container
        return "cli:unknown"


__all__ = [
    "DATE_ORDERS",
    "ImportRejected",
    "Options",
    "Problem",
    "RawRegistry",
    "RawTable",
    "ValidationReport",
    "export_redcap",
    "export_registry",
    "import_registry",
    "read_registry",
    "read_source",
    "validate",
    "validate_path",
    "write_redcap",
    "write_redcap_dictionary",
    "write_template",
    "write_xlsx",
]
