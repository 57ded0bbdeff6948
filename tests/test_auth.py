"""Sign-in gate and roles on every page (AppTest; ``at.user`` stands in for st.user).

The real OIDC round trip in a browser is in tests/e2e/test_auth_browser.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import audit
from dashboard.ui.auth import OPEN_NOTICE, is_loopback
from builders import SIGN_IN_SECRETS, served_demo, use_access_file

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["app.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))]
SECRETS = SIGN_IN_SECRETS
ACCESS = """
[access]
sign_in_required = true
[users]
"dm@site.example" = "data_manager"
"inv@site.example" = "investigator"
[groups]
"registry-viewers" = "viewer"
"""
USERS = {
    "viewer": {"is_logged_in": True, "email": "someone@site.example", "groups": ["registry-viewers"]},
    "investigator": {"is_logged_in": True, "email": "inv@site.example", "email_verified": True},
    "data_manager": {"is_logged_in": True, "email": "DM@site.example", "email_verified": True, "name": "Dana Manager"},
    "nobody": {"is_logged_in": True, "email": "stranger@else.example", "email_verified": True},
    "anonymous": {"is_logged_in": False},
}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "auth", 300, 7)


@pytest.fixture()
def configured(db, tmp_path, monkeypatch):
    use_access_file(tmp_path, monkeypatch, ACCESS)
    return tmp_path / "audit.sqlite3"


def _app(page: str, user: str | None, query: dict | None = None, secrets: bool = True) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=60)
    if secrets:
        at.secrets = SECRETS
    if user is not None:
        at.user = dict(USERS[user])
    if query:
        at.query_params = query
    return at.run()


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.title] + [m.value for m in at.caption]
    parts += [m.value for m in at.error] + [m.value for m in at.info] + [m.value for m in at.warning]
    return "\n".join(str(p) for p in parts)


def _shows_data(at: AppTest) -> bool:
    text = _text(at)
    return ("patients**" in text or "SYNTHETIC" in text or len(at.get("plotly_chart")) > 0
            or len(at.dataframe) > 0 or len(at.get("arrow_data_frame")) > 0 or len(at.table) > 0)


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_sees_only_sign_in(configured, page):
    at = _app(page, "anonymous")
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not _shows_data(at), _text(at)
    assert len(at.sidebar.multiselect) == 0


def test_sign_in_screen_has_the_language_switch(configured):
    """Before signing in, a Chinese-speaking clinician can switch the screen to Chinese."""
    at = _app("app.py", "anonymous")
    assert at.segmented_control(key="lang").value == "en"
    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["登录"]
    assert at.query_params.get("lang") in ("zh", ["zh"])
    assert not _shows_data(at)


def test_anonymous_deep_link_with_parameters(configured):
    at = _app("pages/1_Cohort.py", "anonymous", {"site": "RECTUM", "section": "table1"})
    assert not _shows_data(at)
    assert [b.label for b in at.button] == ["Sign in"]


@pytest.mark.parametrize("page", PAGES)
def test_viewer_pages(configured, page):
    at = _app(page, "viewer")
    assert not at.exception, at.exception
    if "Patient_timeline" in page:
        assert "not available for your role" in _text(at)
        assert not _shows_data(at)
        denied = audit.read(action="access_denied", path=configured)
        assert denied.height == 1 and json.loads(denied["detail"][0])["page"] == "Patient_timeline"
    else:
        assert _shows_data(at), _text(at)
        assert "Viewer" in "\n".join(c.value for c in at.sidebar.caption)
    assert OPEN_NOTICE not in _text(at)
    # the nav link of the forbidden page is hidden
    assert any("Patient_timeline" in str(h.proto.body) for h in at.get("html"))


def test_investigator_sees_patient_timeline(configured):
    at = _app("pages/6_Patient_timeline.py", "investigator")
    assert not at.exception
    assert _shows_data(at)
    assert "not available" not in _text(at)


def test_data_page_by_role(configured):
    viewer = _app("pages/7_Data.py", "viewer")
    assert [s.value for s in viewer.subheader] == ["Current dataset", "Data quality"]
    assert len(viewer.file_uploader) == 0
    inv = _app("pages/7_Data.py", "investigator")
    assert len(inv.file_uploader) == 0 and "Audit trail" not in [s.value for s in inv.subheader]
    dm = _app("pages/7_Data.py", "data_manager")
    assert not dm.exception
    assert [s.value for s in dm.subheader] == ["Current dataset", "Data quality", "Import a registry export",
                                               "Import a site's own spreadsheet (mapping wizard)", "Audit trail"]
    assert len(dm.file_uploader) == 3  # the registry export; the mapping wizard's source file and mapping file


def test_sign_in_audited_once_per_session(configured):
    at = _app("app.py", "data_manager")
    at.run()
    at.switch_page("pages/4_Safety.py").run()
    ins = audit.read(action="sign_in", path=configured)
    assert ins.height == 1
    assert ins["actor"][0] == "dm@site.example" and ins["role"][0] == "data_manager"
    assert audit.verify_chain(configured) == []


def test_signed_in_without_role_has_no_access(configured):
    at = _app("app.py", "nobody")
    assert "No access" in _text(at)
    assert not _shows_data(at)
    refused = audit.read(action="sign_in_refused", path=configured)
    assert refused.height == 1 and refused["actor"][0] == "stranger@else.example"


def test_unverified_email_is_not_trusted(configured):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets = SECRETS
    at.user = {"is_logged_in": True, "email": "dm@site.example", "email_verified": False}
    at.run()
    assert "No access" in _text(at) and not _shows_data(at)


def test_configured_without_identity_provider_fails_closed(configured):
    at = _app("app.py", "data_manager", secrets=False)
    assert "no identity provider is configured" in _text(at)
    assert not _shows_data(at)


def test_malformed_access_file_fails_closed(db, tmp_path, monkeypatch):
    cfg = tmp_path / "access.toml"
    cfg.write_text('[users]\n"a@b.c" = "superuser"\n')
    monkeypatch.setenv("DASHBOARD_ACCESS_CONFIG", str(cfg))
    at = _app("app.py", "data_manager")
    assert "access configuration is invalid" in _text(at)
    assert not _shows_data(at)


def test_open_mode_says_so(db, monkeypatch, tmp_path):
    monkeypatch.delenv("DASHBOARD_ACCESS_CONFIG", raising=False)
    monkeypatch.setenv("DASHBOARD_AUDIT_DB", str(tmp_path / "audit.sqlite3"))
    at = AppTest.from_file(str(ROOT / "pages/7_Data.py"), default_timeout=60).run()
    assert not at.exception
    assert any(OPEN_NOTICE in w.value for w in at.sidebar.warning)
    assert OPEN_NOTICE in _text(at)
    assert len(at.file_uploader) == 3  # every permission in the demo (registry export + the mapping wizard's two)


@pytest.mark.parametrize("address,ok", [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
                                        ("", False), (None, False), ("0.0.0.0", False), ("10.1.2.3", False),
                                        ("example.org", False)])
def test_loopback(address, ok):
    assert is_loopback(address) is ok
