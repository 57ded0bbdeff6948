"""Command line: ``python -m dashboard <command>``.

demo      build the seeded synthetic registry
import    validate and load a registry export (CSV folder, XLSX, REDCap)
validate  check an export without loading it
export    write the served store in the canonical CSV format
template  write header-only CSV templates and a README of the import format
docs      regenerate docs/data-dictionary.md and docs/endpoints.md (--check: fail if stale)
info      provenance and row counts of the served store
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
    sp.add_argument("path", help="CSV folder, workbook (.xlsx/.ods/.xls), or REDCap export folder")
    ingest_args(sp)
    sp.add_argument("--actor", help="who is importing, for the audit trail (default: cli:<OS user>)")
    db_arg(sp)
    sp.set_defaults(func=cmd_import)

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

    sp = sub.add_parser("info", help="provenance and counts of the store")
    db_arg(sp)
    sp.set_defaults(func=cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return cmd_bench(argv[1:])
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
