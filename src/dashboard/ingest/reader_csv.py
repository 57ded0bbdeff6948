"""Reader for the canonical CSV folder: one ``<table>.csv`` per source table.

``README.md``, ``manifest.json``, other non-CSV files and a REDCap data dictionary are
ignored; a ``.csv`` whose name is not a table is a warning (``unknown_file``). File names
match tables case-, space- and separator-insensitively (``Follow up.csv``). A symbolic
link that leads out of the folder is not followed (``symlink``). ``manifest.json``'s
``"source": "synthetic"`` is trusted only when every data file's SHA-256 matches the
manifest; otherwise the input is imported as real data, with a warning. Title rows above
the header (the header = the first of the first 10 lines naming two registry columns) are
skipped and reported (info ``title_rows``); row numbers stay the file's own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from ..i18n import _, ngettext
from ..schema import TABLE_NAMES
from .model import ROW, RawRegistry, printable, sha256_bytes, table_key, title_rows
from .report import ERROR, INFO, WARNING, Problem
from .text import decode_bytes, parse_text

NON_TABLE_FILES = {"readme.md", "manifest.json", "synthetic_data.txt"}
DICT_RE = re.compile(r"(data[_ ]?dictionary|datadictionary)", re.I)
_KEYS = {table_key(t): t for t in TABLE_NAMES}


def inside(folder: Path, p: Path) -> bool:
    """Whether ``p`` (a symlink perhaps) resolves inside ``folder``."""
    try:
        p.resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False


def _title_row(body: bytes, name: str) -> int | None:
    """The line (2..10) holding the column names when line 1 holds none of them (a title)."""
    import csv
    import io

    from ..schema import TABLES_BY_NAME
    from .text import sniff_delimiter

    keys = {table_key(c) for c in TABLES_BY_NAME[name].column_names}
    lines = body[:65536].decode("utf-8", errors="replace").splitlines()[:10]
    hits = []
    for line in lines:
        try:
            cells = next(csv.reader(io.StringIO(line), delimiter=sniff_delimiter(line.encode())), [])
        except csv.Error:
            cells = []
        hits.append(sum(1 for c in cells if table_key(re.sub(r"\(.*?\)|\[.*?\]", "", c)) in keys))
    if hits and hits[0] == 0:
        for i, h in enumerate(hits[1:], start=2):
            if h >= 2:
                return i
    return None


def _first_rows(body: bytes, n: int) -> list[list[str]]:
    """The cells of the first ``n`` lines (title rows and the header)."""
    import csv
    import io

    from .text import sniff_delimiter

    lines = body[:65536].decode("utf-8", errors="replace").splitlines()[:n]
    out = []
    for line in lines:
        try:
            out.append([c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=sniff_delimiter(line.encode())), [])])
        except csv.Error:
            out.append([line])
    return out


def _file_sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def read_csv_table(path: Path, name: str, reg: RawRegistry) -> None:
    data = path.read_bytes()
    if path.name not in reg.input_sha256:
        reg.input_sha256[path.name] = sha256_bytes(data)
    body, enc, probs = decode_bytes(data, path.name)
    if body is not None:
        reg.encodings[path.name] = enc
        line = _title_row(body, name)
        skipped = 0
        if line is not None:
            cells = _first_rows(body, line)
            titles, only_titles = title_rows(cells, line - 1)
            if not only_titles:
                reg.problems.extend(probs)
                reg.problems.append(Problem(printable(path.name), titles[0] if titles else 1, None, None, "header_row",
                                            _("the column names are in row {line}, but row(s) {rows} above them hold data, not a "
                                              "title: delete the rows above the header").format(line=line, rows=", ".join(map(str, titles)))))
                reg.unreadable.add(name)
                return
            pos = 0
            for _i in range(line - 1):  # the title lines (no quoted line breaks in a title)
                pos = body.index(b"\n", pos) + 1
            body, skipped = body[pos:], line - 1
            if titles:
                shown = "; ".join(printable(" ".join(c for c in cells[r - 1] if c), 80) for r in titles[:3])
                probs.append(Problem(printable(path.name), None, None, shown, "title_rows",
                                     ngettext("row {rows} above the header (row {line}) is a title and is skipped",
                                              "rows {rows} above the header (row {line}) are titles and are skipped",
                                              len(titles)).format(rows=", ".join(map(str, titles)), line=line), INFO))
        rt, more = parse_text(body, path.name, name)
        probs += more
        if rt is not None and skipped:
            rt.frame = rt.frame.with_columns(pl.col(ROW) + skipped)
            rt.header_row = skipped + 1
        if rt is not None:
            reg.tables[name] = rt
            reg.note_rows(path.name, rt.frame["__row"])
    if name not in reg.tables:
        reg.unreadable.add(name)
    reg.problems.extend(probs)


def read_csv_folder(path: Path, *, deferred: bool = False) -> RawRegistry:
    """Read the folder's tables; ``deferred``: only hash the files now and leave each table to
    be read when the validator comes to it (:attr:`RawRegistry.deferred`)."""
    reg = RawRegistry("csv", path)
    claimed: dict[str, str] = {}
    for p in sorted(path.iterdir()):
        if p.is_symlink() and not inside(path, p):
            reg.problems.append(Problem(p.name, None, None, None, "symlink",
                                        _("'{name}' is a symbolic link to outside the folder: not followed").format(name=printable(p.name))))
            name = _KEYS.get(table_key(p.stem))
            if name:
                reg.unreadable.add(name)
            continue
        if not p.is_file() or p.name.lower() in NON_TABLE_FILES or p.suffix.lower() != ".csv":
            continue
        if DICT_RE.search(p.stem):
            continue  # a REDCap data dictionary (shipped with the template) is not a table
        name = _KEYS.get(table_key(p.stem))
        if name is None:
            reg.problems.append(
                Problem(printable(p.name), None, None, None, "unknown_file",
                        _("ignored: '{name}' is not a registry table (tables: {tables})").format(name=printable(p.name), tables=', '.join(TABLE_NAMES)), WARNING)
            )
            continue
        if name in claimed:
            for f in (claimed[name], p.name):
                reg.problems.append(Problem(printable(f), None, None, None, "duplicate_file",
                                            _("'{claimed}' and '{name}' are both table '{table}': keep one").format(claimed=printable(claimed[name]), name=printable(p.name), table=name), ERROR))
            reg.tables.pop(name, None)
            reg.deferred.pop(name, None)
            reg.unreadable.add(name)
            continue
        claimed[name] = p.name
        if deferred:
            reg.input_sha256[p.name] = _file_sha256(p)
            reg.deferred[name] = lambda p=p, name=name: read_csv_table(p, name, reg)
        else:
            read_csv_table(p, name, reg)
    _read_manifest(path, reg)
    return reg


def _read_manifest(path: Path, reg: RawRegistry) -> None:
    manifest = path / "manifest.json"
    if not manifest.is_file() or (manifest.is_symlink() and not inside(path, manifest)):
        return
    try:
        doc = json.loads(manifest.read_text("utf-8"))
        source = doc.get("source")
        meta = {str(k): str(v) for k, v in (doc.get("store_meta") or {}).items()}
        listed = {str(k): str(v) for k, v in (doc.get("files_sha256") or {}).items()}
    except (ValueError, UnicodeDecodeError, AttributeError):
        reg.problems.append(Problem("manifest.json", None, None, None, "manifest", _("manifest.json is not valid JSON; ignored"), WARNING))
        return
    if source != "synthetic":
        reg.declared_meta = meta
        return
    changed = sorted(f for f, h in listed.items() if reg.input_sha256.get(f) not in (None, h))
    unlisted = sorted(f for f in reg.input_sha256 if f not in listed)
    missing = sorted(f for f in listed if f not in reg.input_sha256)
    if not listed or changed or unlisted or missing:
        why = (_("it lists no file hashes") if not listed else
               "; ".join(x for x in (_("changed since export: {changed}").format(changed=', '.join(changed)) if changed else "",
                                     _("not in the manifest: {unlisted}").format(unlisted=', '.join(unlisted)) if unlisted else "",
                                     f"missing: {', '.join(missing)}" if missing else "") if x))
        reg.problems.append(Problem("manifest.json", None, None, "synthetic", "manifest_mismatch",
                                    _("manifest.json says the data are synthetic but {why}: the data are imported as real "
                                       "(source 'imported'), not labelled synthetic").format(why=why), WARNING))
        return
    reg.declared_source = "synthetic"
    reg.declared_meta = meta
