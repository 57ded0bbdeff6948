"""End-to-end: the Data page's mapping wizard in Chromium, as a data manager uses it.

The Chinese worked example goes from upload to loaded registry with the wizard alone;
then the updated workbook, with the mapping saved beside the store, asks about its one
new value only, and its diff shows the two added patients.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from dashboard.store import read_meta

from .test_browser import ARGS, CHROMIUM, ROOT, UI_TIMEOUT_MS, Server, sync_api

pytestmark = pytest.mark.browser
EX = ROOT / "docs" / "examples"


def _settle(page) -> None:
    """Until the rerun a click started has finished."""
    time.sleep(0.3)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=UI_TIMEOUT_MS)
    time.sleep(0.2)


def _choose(page, label: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label, exact=True)
    box.scroll_into_view_if_needed()
    box.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).first.click()
    _settle(page)


def _confirm_all(page) -> int:
    n = 0
    for _ in range(40):
        boxes = page.get_by_role("checkbox", name=re.compile("^These codes are right$"))
        todo = [boxes.nth(i) for i in range(boxes.count()) if not boxes.nth(i).is_checked()]
        if not todo:
            return n
        todo[0].scroll_into_view_if_needed()
        todo[0].check(force=True)
        n += 1
        _settle(page)
    return n


def _load(page) -> None:
    expect = sync_api.expect
    page.get_by_role("checkbox", name=re.compile("^Replace the current dataset with this mapped file")).check(force=True)
    _settle(page)
    page.get_by_role("button", name=re.compile("Load$")).click()
    try:
        expect(page.get_by_role("button", name="Map another file")).to_be_visible(timeout=120_000)
    except AssertionError:
        page.screenshot(path="/tmp/shots-16/e2e-fail.png")
        raise


def test_chinese_workbook_through_the_wizard_then_an_update(demo_db, tmp_path):
    import shutil

    db = tmp_path / "registry.duckdb"
    shutil.copy(demo_db, db)
    server = Server(db)
    expect = sync_api.expect
    try:
        with sync_api.sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = b.new_page(viewport={"width": 1500, "height": 1300})
            page.goto(server.url + "/Data")
            expect(page.get_by_text("Import a site's own spreadsheet")).to_be_visible(timeout=60_000)
            page.locator("input[type=file]").nth(1).set_input_files(str(EX / "chinese_surgeon_workbook.xlsx"))
            expect(page.get_by_text("3. Columns: which source column fills each registry column")).to_be_visible(
                timeout=60_000)
            _settle(page)
            _choose(page, "registration_date *", "首次免疫治疗日期")
            page.get_by_role("checkbox", name="These column choices are right").check(force=True)
            _settle(page)
            _choose(page, "subject.cohort", "RETRO - Retrospective")
            centre = page.get_by_role("textbox", name="subject.centre", exact=True)
            centre.fill("PKU")
            centre.press("Enter")
            _settle(page)
            _choose(page, "subject.eligibility", "ELIGIBLE - Eligible")
            assert _confirm_all(page) == 10  # every coded column is confirmed by hand, none silently
            page.get_by_role("tab", name="Against the current store").click()
            expect(page.get_by_text("30 patient(s) added")).to_be_visible(timeout=UI_TIMEOUT_MS)
            _load(page)
            meta = read_meta(db)
            assert meta["mapping_name"] == "chinese_surgeon_workbook-mapping" and meta["source"] == "synthetic"
            saved = db.parent / "mappings" / "chinese_surgeon_workbook-mapping.toml"
            assert saved.is_file()

            # the update, with the saved mapping: one question only
            page.get_by_role("button", name="Map another file").click()
            _settle(page)
            page.goto(server.url + "/Data")
            expect(page.get_by_text("Import a site's own spreadsheet")).to_be_visible(timeout=60_000)
            page.locator("input[type=file]").nth(1).set_input_files(str(EX / "chinese_surgeon_workbook_update.xlsx"))
            expect(page.get_by_text("2. How to read it")).to_be_visible(timeout=60_000)
            _settle(page)
            _choose(page, "...or a mapping saved beside the store", saved.name)
            expect(page.get_by_text("Values the loaded mapping has not seen: 1.")).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(page.get_by_role("combobox", name=re.compile("食管胃结合部"))).to_be_visible()
            assert _confirm_all(page) == 1
            page.get_by_role("tab", name="Against the current store").click()
            expect(page.get_by_text("2 patient(s) added, 0 changed, 0 removed, 30 unchanged")).to_be_visible(
                timeout=UI_TIMEOUT_MS)
            _load(page)
            b.close()
        assert json.loads(read_meta(db)["table_counts"])["subject"] == 32
    finally:
        server.stop()
