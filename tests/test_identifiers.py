"""No patient identifier reaches the browser of a viewer or of presentation mode.

Every page (and every section of the pages that have them) is run as each role that must
not see identifiers, and as each role in presentation mode (``present=1``); the whole
delta stream of the run (every element and block, every widget's options, Arrow tables,
figure JSON including ``customdata`` and hover text) is searched for every ``subject_id``
of the registry (tests/delta.py). A sanity run as an investigator shows the scan finds
ids where they are allowed, so it cannot pass by finding nothing anywhere.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from builders import SIGN_IN_SECRETS, served_demo
from delta import ids_found

ROOT = Path(__file__).resolve().parents[1]
SECRETS = SIGN_IN_SECRETS
ACCESS = """
[access]
sign_in_required = true
[users]
"dm@site.example" = "data_manager"
"inv@site.example" = "investigator"
"view@site.example" = "viewer"
"""
USERS = {"viewer": "view@site.example", "investigator": "inv@site.example", "data_manager": "dm@site.example"}

# every page, and each section of pages with sections (the default view of each)
VIEWS = [
    ("app.py", {}),
    ("pages/1_Cohort.py", {}), ("pages/1_Cohort.py", {"section": "transitions"}),
    ("pages/1_Cohort.py", {"section": "table1"}),
    ("pages/2_Survival.py", {}), ("pages/2_Survival.py", {"view": "cif"}), ("pages/2_Survival.py", {"view": "iptw"}),
    ("pages/3_Organ_preservation.py", {}), ("pages/3_Organ_preservation.py", {"section": "response"}),
    ("pages/3_Organ_preservation.py", {"section": "swimmer"}),
    ("pages/4_Safety.py", {}), ("pages/4_Safety.py", {"section": "irae"}),
    ("pages/4_Safety.py", {"section": "procedures"}),
    ("pages/5_Quality_of_life.py", {}), ("pages/5_Quality_of_life.py", {"section": "lars"}),
    ("pages/5_Quality_of_life.py", {"section": "stoma"}),
    ("pages/6_Patient_timeline.py", {}),
    ("pages/7_Data.py", {}),
]
# (role, presentation): who must not see any identifier; None = open demo mode
MODES = [("viewer", False), ("viewer", True), ("investigator", True), ("data_manager", True), (None, True)]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "identifiers", 300, 7)


@pytest.fixture(scope="module")
def registry_ids(db) -> set[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        ids = {r[0] for r in con.execute("SELECT subject_id FROM subject").fetchall()}
    finally:
        con.close()
    assert len(ids) == 300
    return ids


@pytest.fixture()
def access(db, tmp_path, monkeypatch):
    cfg = tmp_path / "access.toml"
    cfg.write_text(ACCESS)
    monkeypatch.setenv("DASHBOARD_AUDIT_DB", str(tmp_path / "audit.sqlite3"))
    return cfg


def run_as(page: str, query: dict, role: str | None, present: bool, cfg: Path, monkeypatch) -> AppTest:
    if role is None:
        monkeypatch.delenv("DASHBOARD_ACCESS_CONFIG", raising=False)
        monkeypatch.setattr("dashboard.access.DEFAULT_CONFIG", cfg.parent / "absent.toml")
    else:
        monkeypatch.setenv("DASHBOARD_ACCESS_CONFIG", str(cfg))
    at = AppTest.from_file(str(ROOT / page), default_timeout=90)
    if role is not None:
        at.secrets = SECRETS
        at.user = {"is_logged_in": True, "email": USERS[role], "email_verified": True}
    at.query_params = {**query, **({"present": "1"} if present else {})}
    return at.run()


@pytest.mark.parametrize("role,present", MODES, ids=lambda v: str(v))
@pytest.mark.parametrize("page,query", VIEWS, ids=lambda v: str(v))
def test_no_identifier_in_the_delta_stream(access, registry_ids, monkeypatch, page, query, role, present):
    at = run_as(page, query, role, present, access, monkeypatch)
    assert not at.exception, at.exception
    leaks = ids_found(at, registry_ids)
    assert not leaks, f"{page} {query} as {role or 'open mode'} (present={present}): ids in {leaks}"


@pytest.mark.parametrize("page,query", [("pages/4_Safety.py", {"section": "irae"}),
                                        ("pages/6_Patient_timeline.py", {})])
def test_the_scan_finds_ids_where_investigators_may_see_them(access, registry_ids, monkeypatch, page, query):
    at = run_as(page, query, "investigator", False, access, monkeypatch)
    assert not at.exception, at.exception
    assert ids_found(at, registry_ids), "the scan must see the ids an investigator is shown"


@pytest.mark.parametrize("section", ["ae", "irae", "procedures"])
def test_viewers_get_no_patient_listing_on_safety(access, monkeypatch, section):
    at = run_as("pages/4_Safety.py", {"section": section}, "viewer", False, access, monkeypatch)
    assert not at.exception, at.exception
    assert not at.dataframe and not at.table, "a viewer sees the aggregate tables only"
    assert not [s for s in at.subheader if "Patients behind" in s.value]
    assert any("for investigators and above" in c.value for c in at.caption)
    inv = run_as("pages/4_Safety.py", {"section": section}, "investigator", False, access, monkeypatch)
    assert inv.dataframe, "an investigator gets the listing"
