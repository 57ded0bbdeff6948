"""Open demo mode against DNS rebinding, in a real browser.

Chromium resolves ``evil.example`` to 127.0.0.1 (``--host-resolver-rules``), as a page
on an attacker's site would after rebinding its DNS name: the browser then talks to the
demo server on loopback, but sends ``Host: evil.example:PORT``.

- With the shipped server settings (``.streamlit/config.toml``: ``server.allowedHosts``)
  Streamlit refuses the WebSocket: nothing of the registry renders.
- Text from the URL is text: a crafted parameter name shows no live link or image in the
  app's notice (Streamlit's markdown, GFM autolinks included, rendered by the browser).
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


def _open(browser, url: str, until: str | None = None, wait_ms: int = 6000) -> str:
    """The page's text once ``until`` (a text) shows, or after ``wait_ms`` when nothing
    is expected to render (a refused WebSocket)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(url)
    if until:
        page.get_by_text(until).first.wait_for(timeout=T)
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=T)
    page.wait_for_timeout(wait_ms if not until else 500)
    text = page.locator("body").inner_text()
    ctx.close()
    return text


def _server(demo_db, tmp, *args):
    return Server(demo_db, env={"DASHBOARD_AUDIT_DB": str(tmp / "audit.sqlite3")}, unset=("DASHBOARD_ACCESS_CONFIG",),
                  args=args, cwd=ROOT)


def test_shipped_settings_refuse_a_rebound_host(rebinding_browser, demo_db, tmp_path):
    s = _server(demo_db, tmp_path)
    try:
        ok = _open(rebinding_browser, s.url + "/", until="of 1,000 patients")
        assert "patients" in ok and "Open demo mode" in ok
        evil = _open(rebinding_browser, f"http://evil.example:{s.port}/")
        assert "patients" not in evil and "SYNTHETIC" not in evil.upper()
    finally:
        s.stop()


def test_a_crafted_url_parameter_renders_as_text(rebinding_browser, demo_db, tmp_path):
    s = _server(demo_db, tmp_path)
    crafted = ("%5BSession%20expired%3A%20sign%20in%5D(https%3A%2F%2Fevil.example%2Flogin)=1"
               "&site=!%5Bx%5D(http%3A%2F%2F127.0.0.1%3A1%2Fp.png)&www.evil.example=1&a%40evil.example=2")
    try:
        ctx = rebinding_browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.goto(f"{s.url}/Cohort?{crafted}")
        alert = page.locator("[data-testid='stAlert']").filter(has_text="not recognised").first
        alert.wait_for(timeout=T)
        page.wait_for_timeout(1000)
        text = alert.inner_text().replace("\u2060", "")
        assert "[Session expired: sign in](https://evil.example/login)" in text
        assert "![x](http://127.0.0.1:1/p.png)" in text and "www.evil.example" in text
        assert alert.locator("a").count() == 0 and alert.locator("img").count() == 0
        ctx.close()
    finally:
        s.stop()


def test_app_refuses_a_rebound_host_even_with_test_flags(rebinding_browser, demo_db, tmp_path):
    s = _server(demo_db, tmp_path, "--server.allowedHosts", "*", "--global.appTest", "true")
    try:
        evil = _open(rebinding_browser, f"http://evil.example:{s.port}/Safety?section=irae",
                     until="only answers requests addressed to localhost")
        assert "only answers requests addressed to localhost" in evil
        assert "patients" not in evil and "NOR-" not in evil
        ok = _open(rebinding_browser, s.url + "/", until="of 1,000 patients")
        assert "patients" in ok
    finally:
        s.stop()
    log = audit.read(action="access_denied", path=tmp_path / "audit.sqlite3")
    assert log.height >= 1 and "evil.example" in log["detail"][0] and log["result"][0] == "refused"
