"""Sign-in in a real browser: ``streamlit run`` configured for OIDC against a fake
provider on 127.0.0.1 (tests/e2e/fake_oidc.py), driven by Debian's Chromium.

Proves: an anonymous visitor sees no data on any page or deep link (only a sign-in
button); a signed-in viewer sees data but not the Patient timeline (neither its link nor
its URL); a data manager gets the Data page's import and the audit trail; a hostile
upload through the browser is refused with nothing stored; an unconfigured app refuses
to run open on a non-loopback address.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from dashboard import audit
from dashboard.store import read_meta

from .fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOIDC
from .test_browser import PAGES, Server, _free_port, browser, sync_api  # noqa: F401 (browser: fixture)

pytestmark = pytest.mark.browser
T = 30_000
ACCESS = """
[access]
sign_in_required = true
[users]
"dana@site.example" = "data_manager"
[groups]
"registry-viewers" = "viewer"
"""


class AuthServer(Server):
    """``streamlit run app.py`` with sign-in configured (secrets file + access file), or
    without any access file when ``idp`` is None."""

    def __init__(self, db: Path, tmp: Path, idp: FakeOIDC | None, address: str = "127.0.0.1") -> None:
        port = _free_port()
        env = {"DASHBOARD_AUDIT_DB": str(tmp / "audit.sqlite3")}
        args: tuple[str, ...] = ()
        if idp is not None:
            secrets = tmp / "secrets.toml"
            secrets.write_text(
                "[auth]\n"
                f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
                f'cookie_secret = "{"c" * 48}"\n'
                f'client_id = "{CLIENT_ID}"\n'
                f'client_secret = "{CLIENT_SECRET}"\n'
                f'server_metadata_url = "{idp.metadata_url}"\n'
            )
            (tmp / "access.toml").write_text(ACCESS)
            env["DASHBOARD_ACCESS_CONFIG"] = str(tmp / "access.toml")
            args = ("--secrets.files", str(secrets))
        super().__init__(db, env=env, unset=() if idp is not None else ("DASHBOARD_ACCESS_CONFIG",), args=args,
                         cwd=tmp, address=address, port=port)


@pytest.fixture(scope="module")
def idp():
    with FakeOIDC() as provider:
        yield provider


@pytest.fixture(scope="module")
def server(demo_db, idp, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("auth_server")
    s = AuthServer(demo_db, tmp, idp)
    s.tmp = tmp
    yield s
    s.stop()


def _idle(page) -> None:
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=T)
    page.wait_for_timeout(500)


def _main_text(page) -> str:
    # outside text (e-mail, names) carries invisible word joiners that stop GFM autolinks
    return page.locator("[data-testid='stApp']").inner_text().replace("\u2060", "")


def _sign_in(browser, server, idp, user: dict):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(server.url + "/")
    idp.user = user
    page.get_by_role("button", name="Sign in").click(timeout=T)
    page.get_by_role("heading", name="Registry overview", exact=True).wait_for(timeout=T)
    _idle(page)
    return ctx, page


def test_anonymous_sees_no_data_anywhere(browser, server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    paths = [p for _, p, _ in PAGES] + ["Cohort?site=RECTUM&section=table1", "Patient_timeline?patient=NOR-0000001",
                                         "Data?present=1"]
    for path in paths:
        page.goto(f"{server.url}/{path}")
        page.get_by_role("button", name="Sign in").wait_for(timeout=T)
        _idle(page)
        text = _main_text(page)
        assert "Sign in with your site account" in text
        assert not re.search(r"[\d,]+ of [\d,]+ patients", text), path
        assert "SYNTHETIC" not in text and "NOR-" not in text, path
        assert page.locator("[data-testid='stDataFrame'], [data-testid='stPlotlyChart'], "
                            "[data-testid='stFileUploader'], [data-testid='stSidebarNav'] a:visible").count() == 0, path
    ctx.close()


def test_viewer_sees_data_but_not_patient_level(browser, server, idp):
    ctx, page = _sign_in(browser, server, idp, {"email": "val@site.example", "name": "Val Viewer",
                                                "groups": ["registry-viewers"]})
    text = _main_text(page)
    assert re.search(r"[\d,]+ of [\d,]+ patients", text)
    assert "val@site.example" in text and "Viewer" in text
    nav = page.locator("[data-testid='stSidebarNav']")
    assert nav.get_by_role("link", name="Cohort", exact=True).is_visible()
    assert not nav.get_by_role("link", name="Patient timeline", exact=True).is_visible()
    page.goto(server.url + "/Patient_timeline")  # the deep link: refused
    page.get_by_text("not available for your role").wait_for(timeout=T)
    _idle(page)
    assert "NOR-" not in _main_text(page)
    page.goto(server.url + "/Data")
    page.get_by_role("heading", name="Current dataset").wait_for(timeout=T)
    _idle(page)
    assert page.locator("[data-testid='stFileUploader']").count() == 0
    assert "Audit trail" not in _main_text(page)
    ctx.close()
    log = audit.read(path=server.tmp / "audit.sqlite3")
    ours = log.filter(log["actor"] == "val@site.example")
    assert set(ours["action"]) >= {"sign_in", "access_denied"}


def test_data_manager_imports_and_hostile_upload_refused(browser, server, idp, demo_db):
    before = read_meta(demo_db)["content_hash"]
    ctx, page = _sign_in(browser, server, idp, {"email": "Dana@site.example", "name": "Dana"})
    page.goto(server.url + "/Data")
    page.get_by_role("heading", name="Import a registry export").wait_for(timeout=T)
    page.get_by_role("heading", name="Audit trail").wait_for(timeout=T)
    _idle(page)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("subject.csv", b"0" * (200 * 1024 * 1024))
    page.locator("[data-testid='stFileUploader'] input[type=file]").first.set_input_files(
        files=[{"name": "bomb.zip", "mimeType": "application/zip", "buffer": buf.getvalue()}])
    page.get_by_text("zip bomb").first.wait_for(timeout=T)
    _idle(page)
    assert page.get_by_role("button", name="Load", exact=True).count() == 0
    ctx.close()
    assert read_meta(demo_db)["content_hash"] == before
    log = audit.read(path=server.tmp / "audit.sqlite3")
    mine = log.filter(log["actor"] == "dana@site.example")
    assert "sign_in" in set(mine["action"])
    assert mine.filter(mine["action"] == "validate")["result"].to_list() == ["refused"]


def test_open_mode_refuses_non_loopback_address(browser, demo_db, tmp_path):
    s = AuthServer(demo_db, tmp_path, None, address="0.0.0.0")
    try:
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(s.url + "/Cohort")
        page.get_by_text("only runs on a loopback address").wait_for(timeout=T)
        _idle(page)
        assert not re.search(r"[\d,]+ of [\d,]+ patients", _main_text(page))
        ctx.close()
    finally:
        s.stop()
