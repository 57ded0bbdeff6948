"""Command line: ``python -m dashboard <command>``.

demo      build the seeded synthetic registry
import    validate and load a registry export (CSV folder, XLSX, REDCap); with --mapping FILE a site's own file
profile   profile a site's own spreadsheet / CSV / SPSS / Stata / SAS file before mapping it
map       apply a mapping file to a site's own file: write the canonical folder and a report
validate  check an export without loading it
export    write the served store in the canonical CSV format
template  write header-only CSV templates and a README of the import format
docs      regenerate docs/data-dictionary.md and docs/endpoints.md (--check: fail if stale)
info      provenance and row counts of the served store
audit     init: create the audit key (install); verify: check the keyed chain and its anchored head (exit code)
bench     benchmark every page and the statistics at 10k / 100k / 1M patients
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .store import default_db_path


def _db(args: argparse.Namespace) -> Path:
    return Path(args.db).resolve() if args.db else default_db_path()


def cmd_demo(args: argparse.Namespace) -> int:
    from .synth import build_demo

    db = _db(args)
    if args.if_missing and db.exists():
        print(f"{db} exists; not rebuilding (drop --if-missing to rebuild).")
        return 0
    meta = build_demo(db, args.patients, args.seed, progress=not args.quiet)
    print(f"Built synthetic registry: {args.patients} patients, seed {args.seed} -> {db}")
    print(f"content hash {meta['content_hash']}")
    return 0


def _ingest_options(args: argparse.Namespace):
    from .ingest import DEFAULT_MISSING, Options

    missing = DEFAULT_MISSING if args.missing is None else tuple(m for m in args.missing.split("|") if m != "")
    return Options(date_order=args.date_order, missing=missing)


def _print_report(report, args: argparse.Namespace, out=sys.stderr) -> None:
    """Grouped (one line per file, column and rule) unless --all; the row accounting;
    the full per-cell list as CSV with --problems-csv."""
    from .ingest.model import printable

    if report.frame.height:
        text = report.format(max_rows=args.max_rows) if args.all else report.format_grouped(max_rows=args.max_rows)
        print(text, file=out)
    if report.accounting is not None and report.accounting.height:
        print(("\n" if report.frame.height else "") + "rows per file (read = loaded + reported):", file=out)
        for r in report.accounting.iter_rows(named=True):
            extra = f", {r['unaccounted']} unaccounted" if r["unaccounted"] else ""
            print(f"  {printable(r['file'])}: {r['read']:,} read = {r['loaded']:,} loaded + {r['reported']:,} reported{extra}", file=out)
    if args.problems_csv:
        report.write_csv(args.problems_csv)
        print(f"full list of {report.frame.height:,} problem(s) written to {args.problems_csv}", file=out)


def cmd_import(args: argparse.Namespace) -> int:
    from .ingest import ImportRejected, import_registry

    db = _db(args)
    try:
        if args.mapping:
            from .ingest.mapping import MappingError, load_mapping
            from .ingest.preview import import_mapped
            from .ingest.sources import SourceError

            try:
                mapping = load_mapping(args.mapping)
                meta = import_mapped(Path(args.path), mapping, db, actor=args.actor)
            except (MappingError, SourceError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                print(f"Import rejected. The store at {db} was not changed.", file=sys.stderr)
                return 1
            print(f"mapping {mapping.name} (sha256 {mapping.sha256[:12]})")
            for a in json.loads(meta.get("mapping_assumed") or "[]"):
                print(f"ASSUMED {a['table']}.{a['column']} = {a['value']!r}: {a['cells']} cell(s) ({a['by']})")
        else:
            opts = _ingest_options(args)
            meta = import_registry(Path(args.path), db, actor=args.actor, options=opts)
    except ImportRejected as exc:
        _print_report(exc.report, args)
        print(f"\nImport rejected: {exc.report.errors.height:,} error(s). The store at {db} was not changed.", file=sys.stderr)
        return 1
    print(f"Imported {args.path} -> {db}")
    print(f"rows: {meta['table_counts']}")
    if meta.get("backup"):
        print(f"previous store kept as {meta['backup']}")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from .ingest.profile import profile_path
    from .ingest.sources import SourceError

    try:
        profiles = profile_path(Path(args.path), sheet=args.sheet, header_row=args.header_row, encoding=args.encoding,
                                delimiter=args.delimiter)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n\n".join(p.format_text() for p in profiles))
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    from .ingest.mapping import MappingError, load_mapping
    from .ingest.preview import diff_against_store, preview_path
    from .ingest.sources import SourceError

    try:
        mapping = load_mapping(args.mapping)
        pv = preview_path(Path(args.path), mapping)
    except (MappingError, SourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    res = pv.result
    out = res.write(Path(args.to))
    print(f"mapping {mapping.name} (sha256 {mapping.sha256[:12]}) applied to {args.path} -> {out}")
    print("rows: " + ", ".join(f"{t}={n}" for t, n in res.row_counts().items() if n))
    for a in res.assumed:
        print(f"ASSUMED {a['table']}.{a['column']} = {a['value']!r}: {a['cells']} cell(s) ({a['by']})")
    for u in res.unseen:
        print(f"UNSEEN value {u['value']!r} in {u['source']!r} ({u['count']}x): no code for {u['table']}.{u['column']}")
    if pv.ok:
        db = _db(args)
        if db.exists():
            d = diff_against_store(pv.tables, db)
            print(f"against {db}: {d.summary()}")
            print("  " + ", ".join(f"{r['table']} {r['rows_now']}->{r['rows_after']}" for r in d.rows.iter_rows(named=True)))
    if pv.report.frame.height:
        grouped = pv.by_column_and_rule()
        print("\nproblems by column and rule:")
        for r in grouped.iter_rows(named=True):
            print(f"  {r['severity']:7} {r['column']:32} {r['rule']:24} {r['problems']:>4}  rows {r['rows']}  e.g. {r['message']}")
        print()
        print(pv.report.format(max_rows=args.max_rows), file=sys.stderr)
    print(f"report: {out / 'mapping_report.json'}")
    if not pv.ok:
        print(f"{pv.report.errors.height} error(s): this would not import.", file=sys.stderr)
        return 1
    print("valid: `python -m dashboard import PATH --mapping FILE` would load it.")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .ingest import validate_path

    report = validate_path(Path(args.path), options=_ingest_options(args))
    if report.ok and report.frame.height == 0:
        print(f"{args.path}: no problems found.")
        _print_report(report, args, out=sys.stdout)
        return 0
    if report.ok:
        _print_report(report, args, out=sys.stdout)
        print(f"\n{args.path}: valid ({report.frame.height:,} warning(s)).")
        return 0
    _print_report(report, args)
    print(f"\n{report.errors.height:,} error(s).", file=sys.stderr)
    return 1


def cmd_export(args: argparse.Namespace) -> int:
    from .ingest import export_registry

    from .audit import default_audit_path, record
    from .ingest import default_actor

    out = Path(args.to)
    manifest = export_registry(_db(args), out)
    record("export", args.actor or default_actor(), {"kind": "canonical_csv", "to": str(out.resolve()),
                                            "content_hash": manifest.get("content_hash")},
           path=default_audit_path(_db(args)))
    print(f"Exported {_db(args)} -> {out}")
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    from .ingest import write_template

    write_template(Path(args.to))
    print(f"Template written to {args.to}")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from .docs import stale_docs, write_docs

    if args.check:
        stale = stale_docs()
        if stale:
            print(f"Stale generated docs: {', '.join(stale)}. Run 'python -m dashboard docs'.", file=sys.stderr)
            return 1
        print("Generated docs are current.")
        return 0
    for p in write_docs():
        print(f"wrote {p}")
    return 0


def cmd_bench(rest: list[str]) -> int:
    import runpy

    script = Path(__file__).resolve().parents[2] / "bench" / "bench_pages.py"
    if not script.exists():
        print("bench/bench_pages.py not found: run from a clone of the repository.", file=sys.stderr)
        return 1
    return int(runpy.run_path(str(script))["main"](rest) or 0)


def cmd_info(args: argparse.Namespace) -> int:
    from .store import read_meta

    meta = read_meta(_db(args))
    for k in sorted(meta):
        v = meta[k]
        if k == "table_counts":
            v = ", ".join(f"{t}={n}" for t, n in json.loads(v).items())
        print(f"{k:18} {v}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """``audit init``: create the audit key (owner-only), at install; ``audit verify``: check
    the keyed chain and the anchored head, print what was found; exit 0 intact, 1 tampered,
    2 cannot verify (key missing)."""
    from . import audit

    path = Path(args.audit).expanduser().resolve() if args.audit else audit.default_audit_path(_db(args))
    if args.audit_command == "init":
        key, created = audit.init_key()
        print(f"{'Created' if created else 'Kept the existing'} audit key {key} (mode 0600); anchored heads in "
              f"{audit.state_dir()}.")
        return 0
    result = audit.verify(path)
    print(result.report(), file=sys.stdout if result.ok else sys.stderr)
    return result.exit_code


def cmd_fonts(args: argparse.Namespace) -> int:
    """``fonts``: convert the Chinese characters documents use into the font cache (the MDT
    report's TrueType subset of Noto Sans CJK SC), so no process pays it on its first
    Chinese report; ``make install`` runs it."""
    from . import render

    n = render.prepare_cjk_fonts()
    print(f"Font cache {render.font_cache_dir()}: {n} characters converted now"
          f"{'' if n else ' (already prepared, or no Noto Sans CJK installed)'}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def db_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--db", help="database file (default: $DASHBOARD_DB or data/registry.duckdb)")

    sp = sub.add_parser("demo", help="build the seeded synthetic registry")
    sp.add_argument("--patients", type=int, default=2000)
    sp.add_argument("--seed", type=int, default=20260715)
    sp.add_argument("--if-missing", action="store_true", help="do nothing if the database exists")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    db_arg(sp)
    sp.set_defaults(func=cmd_demo)

    def ingest_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--max-rows", type=int, default=200, help="problem groups (or problems with --all) to print; all are counted")
        sp.add_argument("--date-order", choices=["YMD", "DMY", "MDY"], type=str.upper,
                        help="order of dates written as text (15/03/2021 = DMY, 3/15/2021 = MDY); default: detect when unambiguous")
        sp.add_argument("--missing", help="cell values read as missing, separated by '|' (default: 'NA|N/A|n/a|-|.|不详'; '' = none)")
        sp.add_argument("--all", action="store_true", help="print one line per problem cell instead of one per file, column and rule")
        sp.add_argument("--problems-csv", help="write every problem (one row per cell) to this CSV file")

    sp = sub.add_parser("import", help="validate and load a registry export")
    sp.add_argument("path", help="CSV folder, workbook (.xlsx/.ods/.xls), or REDCap export folder; "
                                 "with --mapping: the site's own file")
    sp.add_argument("--mapping", help="mapping file (TOML, docs/mapping.md) for a site's own file")
    ingest_args(sp)
    sp.add_argument("--actor", help="who is importing, for the audit trail (default: cli:<OS user>)")
    db_arg(sp)
    sp.set_defaults(func=cmd_import)

    sp = sub.add_parser("profile", help="profile a site's own file before mapping it")
    sp.add_argument("path", help=".csv, .xlsx, .xls, .ods, .sav, .dta, .sas7bdat or .xpt")
    sp.add_argument("--sheet", help="only this sheet (default: every sheet)")
    sp.add_argument("--header-row", type=int, default=1)
    sp.add_argument("--encoding", default="auto")
    sp.add_argument("--delimiter", default="auto")
    sp.set_defaults(func=cmd_profile)

    sp = sub.add_parser("map", help="apply a mapping file: write the canonical folder and a report")
    sp.add_argument("path", help="the site's own file")
    sp.add_argument("--mapping", required=True, help="mapping file (TOML, docs/mapping.md)")
    sp.add_argument("--to", required=True, help="folder for the canonical CSVs and mapping_report.json")
    sp.add_argument("--max-rows", type=int, default=200)
    db_arg(sp)
    sp.set_defaults(func=cmd_map)

    sp = sub.add_parser("validate", help="check an export without loading it")
    sp.add_argument("path")
    ingest_args(sp)
    sp.set_defaults(func=cmd_validate)

    sp = sub.add_parser("export", help="write the store in the canonical CSV format")
    sp.add_argument("--to", required=True)
    sp.add_argument("--actor", help="who is exporting, for the audit trail")
    db_arg(sp)
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("template", help="write header-only CSV templates")
    sp.add_argument("--to", required=True)
    sp.set_defaults(func=cmd_template)

    sp = sub.add_parser("docs", help="regenerate the generated docs")
    sp.add_argument("--check", action="store_true")
    sp.set_defaults(func=cmd_docs)

    # handled before parsing (its options belong to bench/bench_pages.py); listed for --help
    sub.add_parser("bench", help="benchmark every page and the statistics (options: bench/bench_pages.py --help)")
    sub.add_parser("i18n", help="translation catalogs: extract, compile, check, todo, apply (options: i18n --help)")

    sp = sub.add_parser("audit", help="the audit trail: init (create its key at install) or verify (exit code)")
    sp.add_argument("audit_command", choices=("init", "verify"))
    sp.add_argument("--audit", help="audit file (default: $DASHBOARD_AUDIT_DB or audit.sqlite3 beside the database)")
    db_arg(sp)
    sp.set_defaults(func=cmd_audit)

    sp = sub.add_parser("info", help="provenance and counts of the store")
    db_arg(sp)
    sp.set_defaults(func=cmd_info)

    sp = sub.add_parser("fonts", help="convert the Chinese font for PDF documents ahead (make install does it)")
    sp.set_defaults(func=cmd_fonts)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return cmd_bench(argv[1:])
    if argv[:1] == ["i18n"]:
        from .i18n_catalog import main as i18n_main

        return i18n_main(argv[1:])
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
