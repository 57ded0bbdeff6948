"""End-to-end: presentation mode and exports in Debian's Chromium against ``streamlit run``.

Screenshots at 1920x1080 of Overview and Cohort (flow, transitions, Table 1), normal and
presentation, under tests/artifacts/presentation/; a figure export and the MDT report
downloaded through the real buttons.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from e2e.test_browser import ARGS, CHROMIUM, Server, _wait_ready, sync_api  # noqa: F401 - skips without a browser

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "presentation"
VIEWS = [("Home", "", "Registry overview"), ("Cohort-flow", "Cohort", "Cohort"),
         ("Cohort-transitions", "Cohort?section=transitions", "Cohort"),
         ("Cohort-table1", "Cohort?section=table1", "Cohort")]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(demo_db):
    s = Server(demo_db)
    yield s
    s.stop()


def _url(server, path: str, present: bool) -> str:
    if not present:
        return f"{server.url}/{path}"
    return f"{server.url}/{path}{'&' if '?' in path else '?'}present=1"


@pytest.mark.parametrize("present", [False, True], ids=["normal", "presentation"])
def test_screenshots_1920x1080(browser, server, present):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = ctx.new_page()
    for name, path, heading in VIEWS:
        page.goto(_url(server, path, present))
        _wait_ready(page, heading)
        page.wait_for_timeout(600)
        sidebar = page.locator("[data-testid='stSidebar']")
        collapsed = sidebar.get_attribute("data-collapsed")
        if present:
            assert collapsed == "true", "the sidebar starts collapsed in presentation mode"
            assert "present=1" in page.url
        else:
            assert collapsed == "false"
        page.screenshot(path=str(ARTIFACTS / f"{name}-{'present' if present else 'normal'}-1920x1080.png"))
    ctx.close()


def test_toggle_collapses_the_sidebar_and_enlarges_type(browser, server):
    """Switching presentation mode on from the sidebar: the URL gets present=1, the
    sidebar collapses and the type grows (the root font size); off again: back."""
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = ctx.new_page()
    page.goto(server.url + "/Cohort")
    _wait_ready(page, "Cohort")
    before = page.evaluate("() => getComputedStyle(document.documentElement).fontSize")
    page.locator("[data-testid='stSidebar']").get_by_text("Presentation mode").click()
    page.wait_for_url(re.compile(r"present=1"), timeout=15_000)
    _wait_ready(page, "Cohort")
    page.wait_for_timeout(500)
    after = page.evaluate("() => getComputedStyle(document.documentElement).fontSize")
    assert float(after.rstrip("px")) > float(before.rstrip("px"))
    sidebar = page.locator("[data-testid='stSidebar']")
    assert sidebar.get_attribute("data-collapsed") == "true"
    page.locator("[data-testid='stExpandSidebarButton']").click()
    sidebar.get_by_text("Presentation mode").click()
    page.wait_for_function("() => !location.search.includes('present=1')", timeout=15_000)
    _wait_ready(page, "Cohort")
    assert sidebar.get_attribute("data-collapsed") == "false"
    assert page.evaluate("() => getComputedStyle(document.documentElement).fontSize") == before
    ctx.close()


def test_figure_export_and_mdt_report_download(browser, server, tmp_path):
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, accept_downloads=True)
    page = ctx.new_page()
    page.goto(server.url + "/Cohort")
    _wait_ready(page, "Cohort")
    page.get_by_role("button", name=re.compile("Export figure")).first.click()
    pop = page.locator("[data-testid='stPopoverBody']")
    pop.get_by_text("SVG", exact=True).click()
    _wait_ready(page, "Cohort")
    if not pop.is_visible():
        page.get_by_role("button", name=re.compile("Export figure")).first.click()
    with page.expect_download(timeout=60_000) as dl:
        pop.get_by_role("button", name=re.compile("Download SVG")).click()
    path = tmp_path / "fig.svg"
    dl.value.save_as(path)
    svg = path.read_text()
    assert svg.lstrip().startswith("<svg") and 'width="175.00mm"' in svg and "SYNTHETIC DATA" in svg
    page.screenshot(path=str(ARTIFACTS / "Cohort-export-popover-1920x1080.png"))

    page.keyboard.press("Escape")
    side = page.locator("[data-testid='stSidebar']")
    side.get_by_text("MDT report").click()
    with page.expect_download(timeout=120_000) as dl:
        side.get_by_role("button", name=re.compile("HTML")).click()
    report = tmp_path / "report.html"
    dl.value.save_as(report)
    html = report.read_text()
    assert "SYNTHETIC DEMONSTRATION DATA" in html and ">Cohort</h2>" in html and ">Overview</h2>" in html
    # the report, as a reader sees it
    view = ctx.new_page()
    view.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
    view.goto(report.as_uri())
    view.screenshot(path=str(ARTIFACTS / "mdt-report-1920x1080.png"), full_page=False)
    ctx.close()
