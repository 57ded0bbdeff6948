"""Open demo mode against DNS rebinding, in a real browser.

Chromium resolves ``evil.example`` to 127.0.0.1 (``--host-resolver-rules``), as a page
on an attacker's site would after rebinding its DNS name: the browser then talks to the
demo server on loopback, but sends ``Host: evil.example:PORT``.

- With the shipped server settings (``.streamlit/config.toml``: ``server.allowedHosts``)
  Streamlit refuses the WebSocket: nothing of the registry renders.
- With every Host allowed and Streamlit's test flag on (``--server.allowedHosts '*'
  --global.appTest true``), the app's own check still refuses (and records it); the
  same server answers ``127.0.0.1`` normally.
"""

from __future__ import annotations

import pytest

from dashboard import audit

from .test_browser import ARGS, CHROMIUM, ROOT, Server, sync_api

pytestmark = pytest.mark.browser
T = 30_000


@pytest.fixture(scope="module")
def rebinding_browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"])
        yield b
        b.close()


def _open(browser, url: str, wait_ms: int = 6000) -> str:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_timeout(wait_ms)
    text = page.locator("body").inner_text()
    ctx.close()
    return text


def _server(demo_db, tmp, *args):
    return Server(demo_db, env={"DASHBOARD_AUDIT_DB": str(tmp / "audit.sqlite3")}, unset=("DASHBOARD_ACCESS_CONFIG",),
                  args=args, cwd=ROOT)


def test_shipped_settings_refuse_a_rebound_host(rebinding_browser, demo_db, tmp_path):
    s = _server(demo_db, tmp_path)
    try:
        ok = _open(rebinding_browser, s.url + "/")
        assert "patients" in ok and "Open demo mode" in ok
        evil = _open(rebinding_browser, f"http://evil.example:{s.port}/")
        assert "patients" not in evil and "SYNTHETIC" not in evil.upper()
    finally:
        s.stop()


def test_app_refuses_a_rebound_host_even_with_test_flags(rebinding_browser, demo_db, tmp_path):
    s = _server(demo_db, tmp_path, "--server.allowedHosts", "*", "--global.appTest", "true")
    try:
        evil = _open(rebinding_browser, f"http://evil.example:{s.port}/Safety?section=irae")
        assert "only answers requests addressed to localhost" in evil
        assert "patients" not in evil and "NOR-" not in evil
        ok = _open(rebinding_browser, s.url + "/")
        assert "patients" in ok
    finally:
        s.stop()
    log = audit.read(action="access_denied", path=tmp_path / "audit.sqlite3")
    assert log.height >= 1 and "evil.example" in log["detail"][0] and log["result"][0] == "refused"
