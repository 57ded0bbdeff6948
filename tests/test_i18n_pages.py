"""Every page in Chinese: no English left outside the kept abbreviations and data values
(tests/i18n_scan.py reads everything the run drew, figures and tables included), in
normal and presentation mode; switching language keeps the page, filters and options;
``lang`` is in the URL; the browser's language is the first visit's default; a
signed-in user's choice is remembered."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from builders import served_demo
from i18n_scan import PAGES, data_values, untranslated

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "i18n", 400, 11)


@pytest.fixture(scope="module")
def allowed(db):
    return data_values(db)


def _app(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    if query:
        at.query_params = query
    return at.run()


@pytest.mark.parametrize("present", ["0", "1"], ids=["normal", "presentation"])
@pytest.mark.parametrize("page", PAGES)
def test_page_has_no_english_left_in_chinese(db, allowed, page, present):
    at = _app(page, {"lang": "zh", "present": present})
    assert not at.exception, at.exception
    left = untranslated(at, allowed)
    assert not left, f"{len(left)} text(s) still in English on {page}:\n" + "\n".join(map(str, left[:40]))


def test_language_is_in_the_url_and_switching_keeps_filters_and_options(db):
    at = _app("app.py")
    at.switch_page("pages/1_Cohort.py").run()
    assert at.query_params.get("lang") in ("en", ["en"])
    at.multiselect(key="flt_site").set_value(["RECTUM"]).run()
    at.segmented_control(key="view").set_value("split").run()
    before = {k: v for k, v in at.query_params.items() if k != "lang"}
    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception
    assert at.query_params.get("lang") in ("zh", ["zh"])
    assert {k: v for k, v in at.query_params.items() if k != "lang"} == before
    assert at.multiselect(key="flt_site").value == ["RECTUM"]
    assert at.segmented_control(key="view").value == "split"
    assert at.title[0].value == "队列"
    at.switch_page("pages/2_Survival.py").run()  # the language follows to the next page
    assert at.title[0].value == "生存分析"


def test_link_with_lang_opens_in_that_language(db):
    at = _app("pages/4_Safety.py", {"lang": "zh"})
    assert at.title[0].value == "安全性"
    at = _app("pages/4_Safety.py", {"lang": "xx"})  # unknown: a notice, English
    assert at.title[0].value == "Safety"
    assert any("lang" in w.value for w in at.warning)


def test_browser_language_is_the_default(db, monkeypatch):
    import dashboard.ui.page as page

    monkeypatch.setattr(page, "_browser_language", lambda: "zh")
    at = _app("app.py")
    assert not at.exception, at.exception
    assert at.title[0].value == "登记概览"
    assert at.query_params.get("lang") in ("zh", ["zh"])
    at = _app("app.py", {"lang": "en"})  # the link beats the browser
    assert at.title[0].value == "Registry overview"


def test_signed_in_user_language_is_remembered(db, tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_AUDIT_STATE", str(tmp_path))
    from dashboard.ui.prefs import load_preference, preferences_path, save_preference

    save_preference("Dr.Wang@Example.org", "lang", "zh")
    assert load_preference("dr.wang@example.org", "lang") == "zh"
    assert "example.org" not in preferences_path().read_text()
    assert oct(preferences_path().stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ValueError):
        save_preference("x@y", "role", "admin")
