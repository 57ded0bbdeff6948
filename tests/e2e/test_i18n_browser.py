"""End-to-end: the language in a real browser (Debian's Chromium against ``streamlit run``).

The sidebar's page links carry the translated label (also as the link's accessible name);
``lang=zh`` and the filters survive a click on a page link; the language switch keeps the
page and the filters and rewrites ``lang`` in the URL.
"""

from __future__ import annotations

import pytest

from e2e.test_browser import ARGS, CHROMIUM, Server, sync_api  # noqa: F401 - skips without a browser

pytestmark = pytest.mark.browser
LINKS_ZH = ["概览", "队列", "生存分析", "器官保留", "安全性", "生活质量", "患者时间线", "数据"]
LINKS_EN = ["Overview", "Cohort", "Survival", "Organ preservation", "Safety", "Quality of life", "Patient timeline",
            "Data"]


@pytest.fixture(scope="module")
def page(demo_db):
    server = Server(demo_db)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
        pg.server_url = server.url
        yield pg
        browser.close()
    server.stop()


def _ready(page, heading: str) -> None:
    page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=60_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(400)


def _links(page) -> list[str]:
    nav = page.locator("[data-testid='stSidebarNav']")
    return [name for name in LINKS_ZH + LINKS_EN if nav.get_by_role("link", name=name, exact=True).count()]


def test_page_links_language_and_filters_survive_navigation(page):
    page.goto(f"{page.server_url}/Cohort?lang=zh&site=RECTUM")
    _ready(page, "队列")
    assert _links(page) == LINKS_ZH  # the links read (and are named) in Chinese, none in English
    page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="生存分析", exact=True).click()
    _ready(page, "生存分析")
    assert "lang=zh" in page.url and "site=RECTUM" in page.url
    page.locator("[data-testid='stSidebar']").get_by_text("English", exact=True).click()
    _ready(page, "Survival")
    assert "lang=en" in page.url and "site=RECTUM" in page.url and "/Survival" in page.url
    assert _links(page) == LINKS_EN
