"""The audit trail's tamper evidence: keyed chain (HMAC, key outside the file), anchored
head (newest id, MAC and row count written elsewhere on every append), owner-only files,
``python -m dashboard audit verify`` with its exit code; and refusals that are recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

from dashboard import audit
from dashboard.cli import main


@pytest.fixture()
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_AUDIT_STATE", str(tmp_path / "state"))
    return tmp_path / "state"


def _trail(path: Path, n: int = 6) -> Path:
    for i in range(n):
        audit.record("export", f"user{i}@h.example", {"kind": "table", "i": i}, role="viewer", path=path)
    return path


def _raw(path: Path):
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER IF EXISTS audit_no_update")
    con.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    return con


def _restore_triggers(con):
    con.executescript(audit._DDL)
    con.commit()
    con.close()


def _verify_cli(path: Path, capsys) -> tuple[int, str]:
    code = main(["audit", "verify", "--audit", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_intact_trail_verifies_with_exit_code_0(state, tmp_path, capsys):
    p = _trail(tmp_path / "audit.sqlite3")
    code, text = _verify_cli(p, capsys)
    assert code == 0 and "Intact" in text and "6 row(s)" in text
    head = json.loads(audit.head_path(p).read_text())
    assert head["rows"] == 6 and head["id"] == 6
    assert audit.head_path(p).parent == state  # the anchor is not beside the audit file


def test_files_are_owner_only(state, tmp_path):
    p = _trail(tmp_path / "audit.sqlite3", 1)
    for f in (p, audit.key_path(), audit.head_path(p)):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert audit.key_path().parent == state and not str(audit.key_path()).startswith(str(tmp_path / "audit"))


def test_deleting_the_newest_rows_is_detected(state, tmp_path, capsys):
    p = _trail(tmp_path / "audit.sqlite3")
    con = _raw(p)
    con.execute("DELETE FROM audit WHERE id > 4")  # the chain of rows 1-4 is still perfect
    con.commit()
    _restore_triggers(con)
    code, text = _verify_cli(p, capsys)
    assert code == 1 and "newest rows were deleted" in text


def test_deleting_a_middle_row_and_recomputing_the_chain_is_detected(state, tmp_path, capsys):
    p = _trail(tmp_path / "audit.sqlite3")
    con = _raw(p)
    rows = con.execute("SELECT id, at, actor, role, action, result, detail FROM audit ORDER BY id").fetchall()
    con.execute("DELETE FROM audit")
    con.execute("DELETE FROM sqlite_sequence")
    prev, new_id = "", 0
    forged_key = b"0" * 32  # the attacker does not have the key
    for id_, at, actor, role, action, result, detail in rows:
        if id_ == 3:
            continue
        new_id += 1
        payload = json.dumps([new_id, prev, at, actor, role, action, result, detail], separators=(",", ":"))
        mac = audit.KEYED_PREFIX + hmac.new(forged_key, payload.encode(), hashlib.sha256).hexdigest()
        con.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (new_id, at, actor, role, action, result, detail, prev, mac))
        prev = mac
    con.commit()
    _restore_triggers(con)
    code, text = _verify_cli(p, capsys)
    assert code == 1 and "TAMPERED" in text
    assert audit.verify(p).bad_rows == [1, 2, 3, 4, 5]


def test_a_gap_in_the_ids_is_detected(state, tmp_path):
    p = _trail(tmp_path / "audit.sqlite3")
    con = _raw(p)
    con.execute("DELETE FROM audit WHERE id = 3")
    con.commit()
    _restore_triggers(con)
    found = audit.verify(p)
    assert not found.ok and 4 in found.bad_rows and any("3-3 are missing" in x for x in found.problems)


def test_replacing_the_file_is_detected(state, tmp_path, capsys, monkeypatch):
    p = _trail(tmp_path / "audit.sqlite3")
    # another, internally valid trail (written elsewhere with the same key, e.g. a copy
    # of an older state of this one) put in its place
    other = _trail(tmp_path / "other" / "audit.sqlite3", 6)
    shutil.copy(other, p)
    for suffix in ("-wal", "-shm"):
        Path(f"{p}{suffix}").unlink(missing_ok=True)
        if Path(f"{other}{suffix}").exists():
            shutil.copy(f"{other}{suffix}", f"{p}{suffix}")
    code, text = _verify_cli(p, capsys)
    assert code == 1 and ("replaced" in text or "TAMPERED" in text)


def test_an_older_copy_put_back_is_detected(state, tmp_path, capsys):
    p = _trail(tmp_path / "audit.sqlite3", 3)
    con = sqlite3.connect(p)
    con.execute("PRAGMA wal_checkpoint(FULL)")
    con.close()
    backup = tmp_path / "backup.sqlite3"
    shutil.copy(p, backup)
    _trail(p, 2)  # two more events (an export someone wants to hide)
    con = sqlite3.connect(p)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    shutil.copy(backup, p)
    code, text = _verify_cli(p, capsys)
    assert code == 1 and "newest rows were deleted" in text


def test_a_deleted_trail_is_detected(state, tmp_path, capsys):
    p = _trail(tmp_path / "audit.sqlite3", 2)
    for f in (p, Path(f"{p}-wal"), Path(f"{p}-shm")):
        f.unlink(missing_ok=True)
    code, text = _verify_cli(p, capsys)
    assert code == 1 and "trail is gone" in text


def test_missing_key_refuses_to_write_and_cannot_verify(state, tmp_path, capsys):
    p = _trail(tmp_path / "audit.sqlite3", 2)
    audit.key_path().unlink()
    with pytest.raises(audit.AuditKeyError, match="missing"):
        audit.record("export", "x@h.example", path=p)
    code, text = _verify_cli(p, capsys)
    assert code == 2 and "CANNOT VERIFY" in text


def test_audit_init_creates_the_key_once(state, capsys):
    assert main(["audit", "init"]) == 0
    key = audit.key_path().read_bytes()
    assert stat.S_IMODE(audit.key_path().stat().st_mode) == 0o600 and len(bytes.fromhex(key.decode())) == 32
    assert main(["audit", "init"]) == 0 and audit.key_path().read_bytes() == key
    assert "Kept the existing" in capsys.readouterr().out


def test_legacy_rows_still_verify_then_the_keyed_chain_continues(state, tmp_path):
    p = tmp_path / "audit.sqlite3"
    con = sqlite3.connect(p)
    con.executescript(audit._DDL)
    prev = ""
    for i in range(2):
        det = json.dumps({"i": i})
        h = audit._legacy_hash(prev, "2026-01-01T00:00:00.000+00:00", "old", None, "export", "ok", det)
        con.execute("INSERT INTO audit (at, actor, role, action, result, detail, prev_hash, row_hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", ("2026-01-01T00:00:00.000+00:00", "old", None, "export", "ok",
                                                        det, prev, h))
        prev = h
    con.commit()
    con.close()
    audit.record("export", "new@h.example", path=p)
    found = audit.verify(p)
    assert found.ok, found.report()
    assert any("legacy" in w for w in found.warnings)


# ------------------------------------------------------------------ refusals are recorded
def test_a_crashed_import_is_recorded(state, tmp_path, monkeypatch):
    from dashboard import ingest

    def crash(path, *a, **k):
        raise MemoryError("reader blew up")

    monkeypatch.setattr(ingest, "read_registry", crash)
    served = tmp_path / "served" / "registry.duckdb"
    with pytest.raises(MemoryError):
        ingest.import_registry(tmp_path / "whatever", served, actor="ana@h.example")
    log = audit.read(path=served.parent / "audit.sqlite3")
    assert log.height == 1 and log["result"][0] == "failed" and "reader blew up" in log["detail"][0]


def test_an_anonymous_cache_clear_is_refused_and_recorded(state, tmp_path, monkeypatch):
    import streamlit as st
    from streamlit.runtime.app_session import AppSession

    from dashboard.ui.auth import install_cache_clear_guard

    cfg = tmp_path / "access.toml"
    cfg.write_text('[access]\nsign_in_required = true\n[users]\n"dm@site.example" = "data_manager"\n'
                   '"v@site.example" = "viewer"\n')
    monkeypatch.setenv("DASHBOARD_ACCESS_CONFIG", str(cfg))
    monkeypatch.setenv("DASHBOARD_AUDIT_DB", str(tmp_path / "audit.sqlite3"))
    install_cache_clear_guard()
    calls = []

    @st.cache_data
    def cached(x):
        calls.append(x)
        return x

    class FakeSession:
        def __init__(self, info):
            self._user_info = info
            self._session_state = {}

    cached(1)
    for info in ({"is_logged_in": False}, {"is_logged_in": True, "email": "v@site.example", "email_verified": True},
                 {"is_logged_in": True, "email": "dm@site.example"}):  # unverified e-mail: no role
        AppSession._handle_clear_cache_request(FakeSession(info))
        cached(1)
        assert calls == [1], f"caches cleared by {info}"
    AppSession._handle_clear_cache_request(FakeSession({"is_logged_in": True, "email": "dm@site.example",
                                                        "email_verified": True}))
    cached(1)
    assert calls == [1, 1]  # a data manager may
    log = audit.read(action="access_denied", path=tmp_path / "audit.sqlite3")
    assert log.height == 3 and all("clear_cache_refused" in d for d in log["detail"])


def test_an_unreadable_upload_is_refused_and_recorded(state, tmp_path, monkeypatch):
    """A reader crash while validating a browser upload: a clear refusal on the page (no
    traceback) and a "validate" record with result "refused"."""
    from streamlit.testing.v1 import AppTest

    import dashboard.ingest as ingest
    from dashboard.synth import build_demo

    db = tmp_path / "registry.duckdb"
    build_demo(db, 60, 3, progress=False)
    monkeypatch.setenv("DASHBOARD_DB", str(db))
    monkeypatch.delenv("DASHBOARD_ACCESS_CONFIG", raising=False)
    monkeypatch.delenv("DASHBOARD_AUDIT_DB", raising=False)

    def crash(path, *a, **k):
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(ingest, "validate_path", crash)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / "7_Data.py"), default_timeout=90).run()
    at.file_uploader(key="data_upload").set_value(("subject.csv", b"subject_id\n1\n", "text/csv"))
    at.run()
    assert not at.exception, at.exception
    import re

    errors = re.sub(r"\\(.)", r"\1", "\n".join(e.value for e in at.error)).replace("\u2060", "")
    assert "could not be read (RuntimeError)" in errors
    log = audit.read(action="validate", path=db.parent / "audit.sqlite3")
    assert log.height == 1 and log["result"][0] == "refused" and "could not be read" in log["detail"][0]
