"""Roles from the site file, and the append-only audit trail."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from dashboard import audit
from dashboard.access import (
    OPEN,
    AccessConfigError,
    allowed,
    load_access_config,
    page_allowed,
    parse_access_config,
    role_for,
)

SITE = """
[access]
sign_in_required = true
[users]
"Ana.Lopez@hospital.example" = "data_manager"
"li.wei@hospital.example" = "investigator"
[groups]
"registry-team" = "viewer"
"surgeons" = "investigator"
"""


def test_roles_from_site_file():
    cfg = parse_access_config(SITE)
    assert role_for(cfg, "ana.lopez@HOSPITAL.example") == "data_manager"  # e-mail case-insensitive
    assert role_for(cfg, "li.wei@hospital.example", ["registry-team"]) == "investigator"  # highest wins
    assert role_for(cfg, "someone@else.example", ["registry-team"]) == "viewer"
    assert role_for(cfg, "someone@else.example", ["surgeons", "registry-team"]) == "investigator"
    assert role_for(cfg, "stranger@else.example", ["other"]) is None
    assert role_for(cfg, None) is None


def test_permissions_are_cumulative_and_pages_gated():
    assert allowed("viewer", "view_aggregates") and not allowed("viewer", "view_patient_level")
    assert allowed("investigator", "view_patient_level") and not allowed("investigator", "import_data")
    assert allowed("data_manager", "import_data") and allowed("data_manager", "view_audit")
    assert not allowed(None, "view_aggregates")
    assert not page_allowed("viewer", "Patient_timeline") and page_allowed("investigator", "Patient_timeline")
    with pytest.raises(KeyError):
        allowed("viewer", "drop_tables")


@pytest.mark.parametrize(
    "text, message",
    [
        ("[users]\n'a@b.c' = 'admin'", "unknown role 'admin'"),
        ("[access]\nsign_in_required = 'yes'", "must be true or false"),
        ("[access]\nsign_in_required = true", "no user or group"),
        ("[roles]\nx = 1", "unknown section"),
        ("users = [", "not valid TOML"),
    ],
)
def test_malformed_site_file_is_refused(text, message):
    with pytest.raises(AccessConfigError, match=message):
        parse_access_config(text)


def test_no_file_means_open_demo_mode(tmp_path, monkeypatch):
    monkeypatch.delenv("DASHBOARD_ACCESS_CONFIG", raising=False)
    monkeypatch.setattr("dashboard.access.DEFAULT_CONFIG", tmp_path / "absent.toml")
    cfg = load_access_config()
    assert cfg is OPEN and cfg.open_mode and role_for(cfg, None) == "data_manager"
    monkeypatch.setenv("DASHBOARD_ACCESS_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(AccessConfigError, match="not found"):
        load_access_config()  # a configured but missing file is an error, never open mode


def test_audit_is_append_only_and_chained(tmp_path):
    p = tmp_path / "audit.sqlite3"
    audit.record("sign_in", "ana@h.example", {"page": "Cohort"}, role="data_manager", path=p)
    audit.record("import", "ana@h.example", {"files": ["subject.csv"], "rows": 10}, result="rejected", path=p)
    audit.record("export", "li@h.example", {"kind": "km_figure", "n": 120}, path=p)
    df = audit.read(path=p)
    assert df["action"].to_list() == ["export", "import", "sign_in"]
    assert audit.read(action="import", path=p)["result"].to_list() == ["rejected"]
    con = sqlite3.connect(p)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE audit SET actor = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM audit")
    assert audit.verify_chain(p) == []
    # tampering with the triggers dropped is detected by the hash chain
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("UPDATE audit SET actor = 'mallory' WHERE id = 2")
    con.commit()
    assert audit.verify_chain(p) == [2]
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record("delete_everything", "x", path=p)


def test_audit_concurrent_writers_keep_one_chain(tmp_path):
    p = tmp_path / "audit.sqlite3"
    threads = [threading.Thread(target=lambda i=i: [audit.record("export", f"u{i}", {"k": j}, path=p) for j in range(10)])
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert audit.read(limit=1000, path=p).height == 80
    assert audit.verify_chain(p) == []


def test_imports_are_audited_beside_the_store(tmp_path, monkeypatch):
    monkeypatch.delenv("DASHBOARD_AUDIT_DB", raising=False)
    from dashboard.ingest import ImportRejected, export_registry, import_registry
    from dashboard.synth import build_demo

    src = tmp_path / "src.duckdb"
    build_demo(src, 60, 3, progress=False)
    export_registry(src, tmp_path / "exp")
    served = tmp_path / "served" / "registry.duckdb"
    import_registry(tmp_path / "exp", served, actor="ana@h.example")
    (tmp_path / "exp" / "subject.csv").write_text("subject_id\n")  # broken on purpose
    with pytest.raises(ImportRejected):
        import_registry(tmp_path / "exp", served, actor="ana@h.example")
    log = audit.read(path=served.parent / "audit.sqlite3")
    assert log["result"].to_list() == ["rejected", "ok"]
    assert set(log["actor"]) == {"ana@h.example"} and set(log["action"]) == {"import"}
    assert '"subject.csv"' in log["detail"][1]  # file names and their sha256 are recorded
