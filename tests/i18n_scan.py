"""Find English left on a page rendered in another language.

``untranslated(at, allowed)`` walks every element an AppTest run drew (markdown, alerts,
widget labels, options and help, metrics, expander and tab labels, dataframes' headers
and cells, plotly figures' titles, axes, legends, annotations and hover templates) and
returns the Latin-script words that are neither kept abbreviations, allowed terms nor
data values. Used by tests/test_i18n_pages.py and by hand:

    PYTHONPATH=src:tests python tests/i18n_scan.py pages/2_Survival.py [--present]
"""

from __future__ import annotations

import html
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from dashboard.i18n import KEPT_ABBREVIATIONS

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["app.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))]

# Words Chinese clinical writing keeps in Latin script besides the abbreviations: names,
# units, statistical terms used as names, the language switch itself.
ALLOWED_WORDS = frozenset(
    set(KEPT_ABBREVIATIONS)
    | {
        "Kaplan", "Meier", "Kaplan-Meier", "Cox", "Clavien", "Dindo", "Clavien-Dindo", "Fine", "Gray", "Fine-Gray",
        "log-rank", "Aalen", "Johansen", "Aalen-Johansen", "Wilson", "Clopper", "Pearson", "Clopper-Pearson",
        "Newcombe", "Greenwood", "Lynch", "NOR-MP", "NOR", "MP", "English", "vs", "mg", "kg", "mm", "cm", "px",
        "dpi", "pt", "MMRM", "EORTC", "QLQ", "C30", "CR29", "STO22", "LARS", "TIFF", "EPS", "JSON", "ZIP", "SAS",
        "SPSS", "Stata", "Excel", "REDCap", "DuckDB", "SHA", "OIDC", "URL", "ID", "IDs", "MedDRA", "Nature",
        "Springer", "Lancet", "NEJM", "KMunicate", "RMST", "IQR", "SD", "BH", "FDR", "OR", "RR", "RD", "NI",
        "PROSPECT", "WCAG", "AA", "A4", "Letter", "GB", "MB", "KB", "mL", "Gy", "TNM", "cT", "cN", "ypT", "ypN",
        "MLH1", "PMS2", "MSH2", "MSH6", "V600E", "T0", "T1", "T2", "T3", "T4", "N0", "N1", "N2", "Tis",
        "PD-1", "PD-L1", "CTLA-4", "LAG-3", "FOLFOX", "CAPOX", "XELOX", "nivolumab", "pembrolizumab",
        "dostarlimab", "sintilimab", "toripalimab", "tislelizumab", "camrelizumab", "ipilimumab", "relatlimab",
        "cadonilimab", "envafolimab", "UTF-8", "GB18030", "GBK", "CSV", "XLSX", "XLS", "ODS", "DTA", "SAV",
        "sas7bdat", "xpt", "p", "n", "N", "k", "m", "x", "i", "e.g",
    }
)
# More words a layer's translators allow (one per line, ``#`` comments): tests/i18n_allowed/*.txt
ALLOWED_WORDS = ALLOWED_WORDS | frozenset(
    w.strip()
    for f in sorted((Path(__file__).parent / "i18n_allowed").glob("*.txt"))
    for w in f.read_text(encoding="utf-8").splitlines()
    if w.strip() and not w.lstrip().startswith("#")
)
# Canonical table and column names (the import format's codes) stay as they are.
def _schema_names() -> frozenset[str]:
    from dashboard.schema import TABLES

    return frozenset({t.name for t in TABLES} | {c.name for t in TABLES for c in t.columns})


ALLOWED_WORDS = ALLOWED_WORDS | _schema_names()
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*")
_SKIP = [
    re.compile(r"https?://\S+"),
    re.compile(r":material/[a-z_]+:"),
    re.compile(r"<[^>]+>"),  # markup
    re.compile(r"&[a-z]+;"),
    re.compile(r"%\{[^}]*\}"),  # plotly hover placeholders
    re.compile(r"\b[\w.-]+\.(?:csv|xlsx|xls|zip|pdf|png|svg|html|json|txt|tiff?|eps|duckdb)\b", re.I),
    re.compile(r"\b[A-Z]{2,}[-_]\d+[\w-]*\b"),  # patient and record ids (NORMP-0001)
    re.compile(r"`[^`]*`"),  # code spans (column names, commands)
    re.compile(r"\b[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+\b"),  # snake_case: canonical column and table names
    re.compile(r"#[0-9a-fA-F]{3,8}\b"),  # colours
    re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{7,64}\b"),  # hashes (content hash, file SHA-256)
]
# Proto fields that hold text a person reads.
TEXT_FIELDS = {"body", "label", "help", "options", "placeholder", "caption", "text", "title", "value", "default_text"}
SKIP_TYPES = {"html", "code", "json", "exception", "empty", "page_link_icon"}


@dataclass(frozen=True)
class Leftover:
    where: str
    words: tuple[str, ...]
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {' '.join(self.words[:8])!r} in {self.text[:160]!r}"


def _strings_of_figure(spec: str) -> list[tuple[str, str]]:
    fig = json.loads(spec)
    out: list[tuple[str, str]] = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("bdata", "dtype", "shape", "font", "color", "colorscale", "template"):
                    continue
                if k == "title" and isinstance(v, dict):
                    v = v.get("text", "")
                if k in ("text", "title", "name", "hovertemplate", "texttemplate", "label", "ticktext",
                         "header", "cells", "values", "legendgrouptitle"):
                    for s in _flatten(v):
                        out.append((f"figure.{path}.{k}", s))
                elif isinstance(v, (dict, list)):
                    walk(v, f"{path}.{k}" if path else k)
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk([{k: v for k, v in trace.items() if k not in ("customdata", "ids", "meta")} for trace in fig.get("data", [])]
         if isinstance(fig.get("data"), list) else [], "data")
    walk(fig.get("layout", {}), "layout")
    return out


def _flatten(v) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        return [s for k, x in v.items() if k not in ("bdata", "dtype", "shape", "font", "color") for s in _flatten(x)]
    if isinstance(v, list):
        return [s for x in v for s in _flatten(x)]
    return []


def _strings_of_arrow(data: bytes) -> list[tuple[str, str]]:
    import pyarrow as pa

    try:
        table = pa.ipc.open_stream(data).read_all()
    except Exception:  # noqa: BLE001
        return []
    out = [("dataframe.header", str(n)) for n in table.column_names]
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            out += [(f"dataframe[{name}]", s) for s in col.to_pylist() if isinstance(s, str)]
    return out


def page_strings(at) -> list[tuple[str, str]]:
    """(where, text) for every text the run drew."""
    out: list[tuple[str, str]] = []

    def from_proto(msg, where: str):
        for field, value in msg.ListFields():
            name = field.name
            if name == "spec" and isinstance(value, str):
                out.extend(_strings_of_figure(value))
            elif name == "data" and isinstance(value, bytes):
                out.extend(_strings_of_arrow(value))
            elif field.type == field.TYPE_MESSAGE:
                items = [value] if hasattr(value, "ListFields") else list(value)
                for item in items:
                    from_proto(item, f"{where}.{name}")
            elif field.type == field.TYPE_STRING and name in TEXT_FIELDS:
                items = [value] if isinstance(value, str) else list(value)
                out.extend((f"{where}.{name}", s) for s in items)

    def walk(node):
        proto = getattr(node, "proto", None)
        kind = getattr(node, "type", "") or ""
        if proto is not None and kind not in SKIP_TYPES:
            from_proto(proto, kind or type(node).__name__)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return out


def words(text: str) -> list[str]:
    text = html.unescape(text)
    for pat in _SKIP:
        text = pat.sub(" ", text)
    return _WORD.findall(text)


def data_values(db_path) -> set[str]:
    """Every word in the store's text columns (data values stay as recorded)."""
    import duckdb

    out: set[str] = set()
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        for (table,) in con.execute("select table_name from information_schema.tables").fetchall():
            cols = con.execute(
                "select column_name from information_schema.columns where table_name = ? and data_type = 'VARCHAR'",
                [table],
            ).fetchall()
            for (col,) in cols:
                rows = con.execute(f'select distinct "{col}" from "{table}" limit 2000').fetchall()
                for (v,) in rows:
                    if isinstance(v, str) and not v.isupper():
                        out.update(words(v))
    finally:
        con.close()
    return out


def untranslated(at, allowed: set[str] | frozenset[str] = frozenset()) -> list[Leftover]:
    """One :class:`Leftover` per drawn text that still holds English words."""
    seen: set[tuple[str, str]] = set()
    found = []
    ok = ALLOWED_WORDS | set(allowed)
    for where, text in page_strings(at):
        left = tuple(w for w in words(text) if not (w in ok or (w.upper() == w and len(w) <= 6)))
        if left and (where, text) not in seen:
            seen.add((where, text))
            found.append(Leftover(where, left, text))
    return found


def main(argv: list[str]) -> int:
    import argparse
    import os

    from streamlit.testing.v1 import AppTest

    p = argparse.ArgumentParser()
    p.add_argument("pages", nargs="*", default=PAGES)
    p.add_argument("--present", action="store_true")
    p.add_argument("--lang", default="zh")
    args = p.parse_args(argv)
    allowed = data_values(os.environ["DASHBOARD_DB"]) if os.environ.get("DASHBOARD_DB") else set()
    total = 0
    for page in args.pages:
        at = AppTest.from_file(str(ROOT / page), default_timeout=120)
        at.query_params = {"lang": args.lang, **({"present": "1"} if args.present else {})}
        at.run()
        if at.exception:
            print(f"{page}: EXCEPTION {at.exception}")
            continue
        left = untranslated(at, allowed)
        total += len(left)
        print(f"== {page}: {len(left)} untranslated")
        for item in left:
            print("  ", item)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
