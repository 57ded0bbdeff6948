"""Append-only audit trail: sign-ins, imports, exports, refusals.

The registry database is rebuilt and swapped on every import and every app process holds
it read-only, so the audit trail cannot live inside it. It lives beside it, in an SQLite
file (``data/audit.sqlite3``, or ``$DASHBOARD_AUDIT_DB``): safe for several processes to
append to at once, and made append-only by triggers that abort any UPDATE or DELETE.

Tamper evidence that does not rely on the triggers (anyone who can write the file can
drop them):

- **Keyed chain.** Each row carries an HMAC-SHA256 over its id, its fields and the
  previous row's MAC, keyed with a secret kept *outside* the audit file
  (``audit.key`` in the audit state directory, ``$DASHBOARD_AUDIT_STATE``, default
  ``~/.local/state/nor-mp-dashboard``; created owner-only by ``python -m dashboard audit
  init`` at install, or on first use when the trail is still empty). Deleting or editing
  a row, even with the chain recomputed, cannot produce valid MACs without the key.
- **Anchored head.** Every append also writes the newest row's id, MAC and the row count
  to a second place: ``head-<trail id>.json`` in the state directory, and a line on the
  ``dashboard.audit`` logger (the server's log). Deleting the newest rows, or replacing
  the whole file by another valid-looking one, no longer matches the head.
- :func:`verify` (``python -m dashboard audit verify``, exit code 0 / 1 / 2) checks both.

The audit file, its WAL and the key are created with owner-only permissions (0600).
Rows written before the keyed chain existed (plain SHA-256) are checked as such and
reported as legacy rows.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import logging
import os
import secrets
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from .i18n import fmt_int
from .i18n import gettext as _
from .store import default_db_path

AUDIT_ENV = "DASHBOARD_AUDIT_DB"
STATE_ENV = "DASHBOARD_AUDIT_STATE"
ACTIONS = ("sign_in", "sign_in_refused", "import", "validate", "export", "report", "access_denied")
KEY_BYTES = 32
LOG = logging.getLogger("dashboard.audit")

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
KEYED_PREFIX = "hmac1:"  # row_hash of a keyed row; legacy rows hold a bare SHA-256 hex digest


class AuditKeyError(RuntimeError):
    """The audit key is missing (with a non-empty trail) or unreadable: refuse to write."""


def default_audit_path(db_path: Path | str | None = None) -> Path:
    """``$DASHBOARD_AUDIT_DB``, else ``audit.sqlite3`` beside the store (the served one by default)."""
    env = os.environ.get(AUDIT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path(db_path or default_db_path()).resolve().parent / "audit.sqlite3"


def state_dir() -> Path:
    """Where the audit key and the anchored heads live (not beside the audit file)."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "nor-mp-dashboard"


def key_path() -> Path:
    return state_dir() / "audit.key"


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def _trail_id(path: Path) -> str:
    return hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:16]


def head_path(path: Path) -> Path:
    """The anchored head of the trail at ``path`` (in the state directory)."""
    return state_dir() / f"head-{_trail_id(path)}.json"


def init_key() -> tuple[Path, bool]:
    """Create the audit key (owner-only) if there is none; returns (path, created)."""
    kp = key_path()
    _private_dir(kp.parent)
    try:
        fd = os.open(kp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return kp, False
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(KEY_BYTES).hex().encode())
    return kp, True


def _read_key() -> bytes | None:
    kp = key_path()
    try:
        text = kp.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditKeyError(_("{path}: audit key unreadable ({error})").format(path=kp, error=exc)) from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise AuditKeyError(_("{path}: audit key is not hex").format(path=kp)) from None
    if len(key) < 16:
        raise AuditKeyError(_("{path}: audit key too short").format(path=kp))
    return key


def _create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 when it does not exist (SQLite then gives its
    WAL and shared-memory files the same mode)."""
    _private_dir(path.parent) if not path.parent.exists() else None
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _tighten(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if p.exists() and stat.S_IMODE(p.stat().st_mode) & 0o077:
                os.chmod(p, 0o600)
        except OSError:  # not ours: verify reports the mode
            pass


def _connect(path: Path) -> sqlite3.Connection:
    _create_private_file(path)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(_DDL)
    _tighten(path)
    return con


def _legacy_hash(prev: str, at: str, actor: str, role: str | None, action: str, result: str, detail: str) -> str:
    payload = json.dumps([prev, at, actor, role, action, result, detail], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _mac(key: bytes, id_: int, prev: str, at: str, actor: str, role: str | None, action: str, result: str,
         detail: str) -> str:
    payload = json.dumps([id_, prev, at, actor, role, action, result, detail], separators=(",", ":"))
    return KEYED_PREFIX + hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def _key_for_writing(con: sqlite3.Connection) -> bytes:
    key = _read_key()
    if key is not None:
        return key
    if con.execute("SELECT 1 FROM audit WHERE row_hash LIKE ? LIMIT 1", (KEYED_PREFIX + "%",)).fetchone():
        raise AuditKeyError(_("the audit key {path} is missing but the trail has keyed rows: it cannot be extended "
                              "(restore the key; `python -m dashboard audit verify` says what it finds)").format(
                                  path=key_path()))
    init_key()  # first use of an empty trail (or of one with legacy, unkeyed rows only)
    key = _read_key()
    assert key is not None
    return key


def _write_head(path: Path, id_: int, mac: str, rows: int, at: str) -> None:
    """The anchored head: newest id, MAC and row count, atomically replaced, owner-only;
    and the same on the ``dashboard.audit`` logger."""
    hp = head_path(path)
    _private_dir(hp.parent)
    tmp = hp.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"trail": str(Path(path).resolve()), "id": id_, "mac": mac, "rows": rows, "at": at}, f)
    os.replace(tmp, hp)
    LOG.info("audit head %s id=%d rows=%d mac=%s", Path(path).name, id_, rows, mac)


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
    p = path or default_audit_path()
    con = _connect(p)
    try:
        con.execute("BEGIN IMMEDIATE")  # serialise writers so the chain and its head stay linear
        key = _key_for_writing(con)
        prev = con.execute("SELECT id, row_hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        prev_hash = prev[1] if prev else ""
        seq = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
        id_ = max(int(seq[0]) if seq else 0, int(prev[0]) if prev else 0) + 1
        mac = _mac(key, id_, prev_hash, at, actor, role, action, result, det)
        con.execute(
            "INSERT INTO audit (id, at, actor, role, action, result, detail, prev_hash, row_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (id_, at, actor, role, action, result, det, prev_hash, mac),
        )
        rows = con.execute("SELECT count(*) FROM audit").fetchone()[0]
        _write_head(p, id_, mac, int(rows), at)  # under the write lock: heads follow the chain's order
        con.execute("COMMIT")
        return id_
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


@dataclass
class Verification:
    """What :func:`verify` found. ``ok`` is True only when nothing was wrong."""

    path: Path
    rows: int = 0
    bad_rows: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    key_missing: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and not self.bad_rows and not self.key_missing

    @property
    def exit_code(self) -> int:
        """0 intact, 1 tampering found, 2 cannot be verified (no key)."""
        if self.problems or self.bad_rows:
            return 1
        return 2 if self.key_missing else 0

    def report(self) -> str:
        """The findings as text in the current language (the status words TAMPERED,
        CANNOT VERIFY and Intact stay as they are: scripts and tests look for them)."""
        lines = [_("Audit trail {path}: {n} row(s).").format(path=self.path, n=fmt_int(self.rows))]
        if self.bad_rows:
            shown = ", ".join(map(str, self.bad_rows[:20])) + (" ..." if len(self.bad_rows) > 20 else "")
            lines.append("TAMPERED: " + _("{n} row(s) whose MAC does not follow from the previous row: {rows}.").format(
                n=fmt_int(len(self.bad_rows)), rows=shown))
        lines += ["TAMPERED: " + p for p in self.problems]
        if self.key_missing:
            lines.append("CANNOT VERIFY: " + _("the audit key {path} is missing; keyed rows cannot be checked.").format(
                path=key_path()))
        lines += [_("warning: {text}").format(text=w) for w in self.warnings]
        if self.ok:
            lines.append("Intact: " + _("every row's MAC follows from the previous one and the head matches the anchor."))
        return "\n".join(lines)


def verify(path: Path | None = None) -> Verification:
    """Check the keyed chain, the ids' continuity and the anchored head."""
    p = Path(path or default_audit_path())
    out = Verification(path=p)
    hp = head_path(p)
    anchor = None
    if hp.exists():
        try:
            anchor = json.loads(hp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            out.problems.append(_("the anchored head {path} is unreadable").format(path=hp))
    if not p.exists():
        if anchor:
            out.problems.append(_("the trail is gone, but its anchored head says it had {n} row(s)").format(n=anchor.get("rows")))
        return out
    for f in (p, Path(f"{p}-wal")):
        if f.exists() and stat.S_IMODE(f.stat().st_mode) & 0o077:
            out.warnings.append(_("{path} is readable by others (mode {mode}); use 0600").format(
                path=f, mode=oct(stat.S_IMODE(f.stat().st_mode))))
    try:
        key = _read_key()
    except AuditKeyError as exc:
        out.problems.append(str(exc))
        key = None
    con = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute("SELECT id, at, actor, role, action, result, detail, prev_hash, row_hash FROM audit "
                           "ORDER BY id").fetchall()
        triggers = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    except sqlite3.DatabaseError as exc:
        out.problems.append(_("not a readable audit trail ({error})").format(error=exc))
        return out
    finally:
        con.close()
    out.rows = len(rows)
    if not {"audit_no_update", "audit_no_delete"} <= triggers:
        out.problems.append(_("the append-only triggers were dropped"))
    prev, prev_id, keyed_seen, legacy = "", 0, False, 0
    for id_, at, actor, role, action, result, detail, prev_hash, row_hash in rows:
        if row_hash.startswith(KEYED_PREFIX):
            keyed_seen = True
            if key is None:
                out.key_missing = True
                good = prev_hash == prev
            else:
                good = prev_hash == prev and hmac.compare_digest(
                    _mac(key, id_, prev_hash, at, actor, role, action, result, detail), row_hash)
        else:
            legacy += 1
            good = not keyed_seen and prev_hash == prev and _legacy_hash(prev_hash, at, actor, role, action, result,
                                                                         detail) == row_hash
        if not good:
            out.bad_rows.append(id_)
        if id_ != prev_id + 1:
            out.problems.append(_("row id(s) {first}-{last} are missing (rows deleted)").format(first=prev_id + 1, last=id_ - 1))
        prev, prev_id = row_hash, id_
    if legacy:
        out.warnings.append(_("{n} legacy row(s) from before the keyed chain (plain SHA-256: an edit with the "
                              "chain recomputed would not show there)").format(n=legacy))
    if anchor is None:
        if rows and keyed_seen:
            out.problems.append(_("the anchored head {path} is missing although the trail has keyed rows").format(path=hp))
        elif rows:
            out.warnings.append(_("no anchored head yet ({path}); the next event writes one").format(path=hp))
    else:
        last_id, last_mac = (rows[-1][0], rows[-1][8]) if rows else (0, "")
        if anchor.get("rows", 0) > out.rows or anchor.get("id", 0) > last_id:
            out.problems.append(_("the newest rows were deleted: the anchored head says {anchored} row(s) up to id "
                                  "{anchored_id}, the file has {rows} up to id {last_id}").format(
                anchored=anchor.get("rows"), anchored_id=anchor.get("id"), rows=out.rows, last_id=last_id))
        elif anchor.get("id") == last_id and anchor.get("mac") != last_mac:
            out.problems.append(_("the newest row (id {last_id}) is not the one anchored: the file was replaced or "
                                  "rewritten").format(last_id=last_id))
        elif anchor.get("id") == last_id and anchor.get("rows") != out.rows:
            out.problems.append(_("{anchored} row(s) anchored, {rows} in the file").format(anchored=anchor.get("rows"),
                                                                                        rows=out.rows))
        elif anchor.get("id", 0) < last_id:
            out.problems.append(_("rows after id {id} were added outside the application (no anchor)").format(
                id=anchor.get("id")))
        elif anchor.get("id") and not any(r[0] == anchor.get("id") and r[8] == anchor.get("mac") for r in rows):
            out.problems.append(_("the anchored head is not in the file: the file was replaced"))
    return out


def verify_chain(path: Path | None = None) -> list[int]:
    """Ids of rows whose MAC does not follow from the previous row (empty = intact).
    :func:`verify` also checks deletions, the anchored head and the key."""
    return verify(path).bad_rows
