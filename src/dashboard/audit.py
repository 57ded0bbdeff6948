"""Append-only audit trail: sign-ins, imports, exports.

The registry database is rebuilt and swapped on every import and every app process holds
it read-only, so the audit trail cannot live inside it. It lives beside it, in an SQLite
file (``data/audit.sqlite3``, or ``$DASHBOARD_AUDIT_DB``): safe for several processes to
append to at once, and made append-only by triggers that abort any UPDATE or DELETE.
Each row also carries a SHA-256 chained over the previous row, so an edit made outside
the application (with the triggers dropped) is detectable with :func:`verify_chain`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from .store import default_db_path

AUDIT_ENV = "DASHBOARD_AUDIT_DB"
ACTIONS = ("sign_in", "sign_in_refused", "import", "validate", "export", "report", "access_denied")

_DDL = """
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  role TEXT,
  action TEXT NOT NULL,
  result TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  row_hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""


def default_audit_path(db_path: Path | str | None = None) -> Path:
    """``$DASHBOARD_AUDIT_DB``, else ``audit.sqlite3`` beside the store (the served one by default)."""
    env = os.environ.get(AUDIT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path(db_path or default_db_path()).resolve().parent / "audit.sqlite3"


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(_DDL)
    return con


def _row_hash(prev: str, at: str, actor: str, role: str | None, action: str, result: str, detail: str) -> str:
    payload = json.dumps([prev, at, actor, role, action, result, detail], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def record(
    action: str,
    actor: str,
    detail: Mapping[str, Any] | None = None,
    *,
    result: str = "ok",
    role: str | None = None,
    path: Path | None = None,
) -> int:
    """Append one event; returns its id. ``detail`` is stored as JSON (keys sorted)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; known: {', '.join(ACTIONS)}")
    if not actor:
        raise ValueError("an audit event needs an actor")
    at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
    det = json.dumps(dict(detail or {}), sort_keys=True, default=str)
    con = _connect(path or default_audit_path())
    try:
        con.execute("BEGIN IMMEDIATE")  # serialise writers so the hash chain stays linear
        prev = con.execute("SELECT row_hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        prev_hash = prev[0] if prev else ""
        h = _row_hash(prev_hash, at, actor, role, action, result, det)
        cur = con.execute(
            "INSERT INTO audit (at, actor, role, action, result, detail, prev_hash, row_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (at, actor, role, action, result, det, prev_hash, h),
        )
        con.execute("COMMIT")
        return int(cur.lastrowid)
    except BaseException:
        con.execute("ROLLBACK") if con.in_transaction else None
        raise
    finally:
        con.close()


def read(*, action: str | None = None, limit: int = 500, path: Path | None = None) -> pl.DataFrame:
    """The newest events first (``limit`` rows), optionally of one action."""
    p = path or default_audit_path()
    schema = {"id": pl.Int64, "at": pl.String, "actor": pl.String, "role": pl.String, "action": pl.String,
              "result": pl.String, "detail": pl.String}
    if not p.exists():
        return pl.DataFrame(schema=schema)
    con = _connect(p)
    try:
        sql = "SELECT id, at, actor, role, action, result, detail FROM audit"
        params: list[Any] = []
        if action is not None:
            sql += " WHERE action = ?"
            params.append(action)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(int(limit))
        rows = con.execute(sql, params).fetchall()
    finally:
        con.close()
    return pl.DataFrame(rows, schema=schema, orient="row")


def verify_chain(path: Path | None = None) -> list[int]:
    """Ids of rows whose hash does not follow from the previous row (empty = intact)."""
    p = path or default_audit_path()
    if not p.exists():
        return []
    con = _connect(p)
    try:
        rows = con.execute("SELECT id, at, actor, role, action, result, detail, prev_hash, row_hash FROM audit ORDER BY id").fetchall()
    finally:
        con.close()
    bad, prev = [], ""
    for id_, at, actor, role, action, result, detail, prev_hash, row_hash in rows:
        if prev_hash != prev or _row_hash(prev_hash, at, actor, role, action, result, detail) != row_hash:
            bad.append(id_)
        prev = row_hash
    return bad
