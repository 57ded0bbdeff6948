"""End-to-end: Debian's Chromium (Playwright) against ``streamlit run`` on 127.0.0.1.

Opens every page, changes a filter, follows a copied deep link in a fresh browser
context, checks that a deep link as the very first request to a fresh server renders
that page with its filters, and saves screenshots (1280x800 and 1920x1080) under
tests/artifacts/screens/.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

try:
    from playwright.sync_api import expect as _expect
except ImportError:  # the browser tests skip without playwright
    _expect = None

UI_TIMEOUT_MS = 30_000  # generous: CI machines have 2 cores

from builders import free_ports
from dashboard.filters import CohortFilter
from dashboard.queries.cohort import select_patient_counts
from dashboard.store import Store

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("BROWSER_PATH", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "screens"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = [  # (nav link text, URL path, heading)
    ("app", "", "Registry overview"),
    ("Cohort", "Cohort", "Cohort"),
    ("Survival", "Survival", "Survival"),
    ("Organ preservation", "Organ_preservation", "Organ preservation"),
    ("Safety", "Safety", "Safety"),
    ("Quality of life", "Quality_of_life", "Quality of life"),
    ("Patient timeline", "Patient_timeline", "Patient timeline"),
    ("Data", "Data", "Data"),
]
N_OF_M = re.compile(r"([\d,]+) of ([\d,]+) patients")

if not Path(CHROMIUM).exists():
    pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium, or set BROWSER_PATH)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


def _free_port() -> int:
    return free_ports(1)[0]


class Server:
    """``streamlit run app.py`` in its own process group; always stopped."""

    def __init__(self, db: Path, *, env: dict[str, str] | None = None, unset: tuple[str, ...] = (),
                 args: tuple[str, ...] = (), cwd: Path = ROOT, address: str = "127.0.0.1",
                 port: int | None = None) -> None:
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {k: v for k, v in os.environ.items() if k not in unset}
        full_env.update(DASHBOARD_DB=str(db), **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.address", address,
             "--server.port", str(self.port), "--server.headless", "true", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false", *args],
            cwd=cwd, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("streamlit did not become healthy within 30 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def server(demo_db):
    s = Server(demo_db)
    yield s
    s.stop()


def _nav(page, link: str):
    nav = page.locator("[data-testid='stSidebarNav']")
    if link == "app":  # the entry page: shown as "Overview" (CSS), named after app.py in the DOM
        return nav.locator("a[data-testid='stSidebarNavLink']").first
    return nav.get_by_role("link", name=link, exact=True)


def _n_of_m(page) -> tuple[int, int]:
    text = page.locator("[data-testid='stMain']").get_by_text(N_OF_M).first.inner_text()
    m = N_OF_M.search(text)
    return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))


def _wait_ready(page, heading: str) -> None:
    page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=30_000)
    page.locator("[data-testid='stMain']").get_by_text(N_OF_M).first.wait_for(timeout=30_000)
    # the app is idle when the status widget no longer says it is running
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
    page.wait_for_timeout(400)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def test_deep_link_is_the_first_request(browser, server, demo_db):
    """A deep link opened first on a fresh server renders that page with its filters."""
    want = select_patient_counts(Store(demo_db), CohortFilter(site=("RECTUM",), age=(30, 70)))["n"]
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(f"{server.url}/Cohort?site=RECTUM&age=30&age=70&section=table1&site=NOPE")
    _wait_ready(page, "Cohort")
    assert _n_of_m(page)[0] == want
    page.wait_for_url(re.compile(r"site=RECTUM"), timeout=15_000)
    _expect(page.get_by_text("Baseline characteristics", exact=False).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    _expect(page.get_by_text("site=NOPE").first).to_be_visible(timeout=UI_TIMEOUT_MS)  # the dropped value is named
    assert "NOPE" not in page.url and "site=RECTUM" in page.url
    ctx.close()


def test_pages_filter_and_copied_link(browser, server, demo_db):
    store = Store(demo_db)
    total = select_patient_counts(store, CohortFilter())["m"]
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(server.url + "/")
    _wait_ready(page, PAGES[0][2])
    assert _n_of_m(page) == (total, total)
    for link, path, heading in PAGES:
        _nav(page, link).click()
        _wait_ready(page, heading)
        _expect(page.get_by_text("SYNTHETIC DEMONSTRATION DATA").first).to_be_visible(timeout=UI_TIMEOUT_MS)
        page.wait_for_url(re.compile(rf"127\.0\.0\.1:{server.port}/{path}(\?.*)?$"), timeout=15_000)
        _shot(page, f"{path or 'Home'}-1280x800")
    # change a filter on the Cohort page: N and the flow diagram follow
    _nav(page, "Cohort").click()
    _wait_ready(page, "Cohort")
    page.get_by_text("Patient and tumour").click()
    side = page.locator("[data-testid='stSidebar']")
    site = side.locator("[data-testid='stMultiSelect']").filter(has_text="Tumour site").locator("input")
    option = page.locator("[role=listbox] [role=option]").filter(has_text=re.compile(r"^Rectum$")).first
    for _ in range(3):  # a rerun finishing just then can close the dropdown: open it again
        site.click()
        try:
            option.click(timeout=5_000)
            break
        except sync_api.TimeoutError:
            page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    want = select_patient_counts(store, CohortFilter(site=("RECTUM",)))["n"]
    page.wait_for_function(
        f"() => document.querySelector('[data-testid=\"stMain\"]').innerText.includes('{want:,} of {total:,} patients')",
        timeout=15_000)
    _wait_ready(page, "Cohort")
    assert "site=RECTUM" in page.url
    page.get_by_text("Baseline characteristics (Table 1)").click()
    page.wait_for_url(re.compile(r"section=table1"), timeout=15_000)
    _wait_ready(page, "Cohort")
    copied = page.url
    # the filter survives a page switch (and is written back to the URL)
    _nav(page, "Safety").click()
    _wait_ready(page, "Safety")
    page.wait_for_function(
        f"() => document.querySelector('[data-testid=\"stMain\"]').innerText.includes('{want:,} of {total:,} patients')",
        timeout=15_000)
    page.wait_for_url(re.compile(r"site=RECTUM"), timeout=15_000)
    ctx.close()
    # the copied link in a fresh context reproduces the view
    for w, h in [(1280, 800), (1920, 1080)]:
        ctx = browser.new_context(viewport={"width": w, "height": h})
        page = ctx.new_page()
        page.goto(copied)
        _wait_ready(page, "Cohort")
        assert _n_of_m(page)[0] == want
        _expect(page.get_by_text("Baseline characteristics (Table 1)").first).to_be_visible(timeout=UI_TIMEOUT_MS)
        _expect(page.locator("table.t1").first).to_be_visible(timeout=UI_TIMEOUT_MS)
        _shot(page, f"Cohort-table1-rectum-{w}x{h}")
        ctx.close()


def test_screenshots_1920(browser, server):
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = ctx.new_page()
    for _, path, heading in PAGES:
        page.goto(f"{server.url}/{path}")
        _wait_ready(page, heading)
        _shot(page, f"{path or 'Home'}-1920x1080")
    for section in ("transitions", "flow"):
        for view in ("combined", "split"):
            for w, h in [(1280, 800), (1920, 1080)]:
                page.set_viewport_size({"width": w, "height": h})
                page.goto(f"{server.url}/Cohort?section={section}&view={view}")
                _wait_ready(page, "Cohort")
                page.wait_for_selector(".js-plotly-plot", timeout=15_000)
                page.wait_for_timeout(300)
                _shot(page, f"Cohort-{section}-{view}-{w}x{h}")
    ctx.close()
