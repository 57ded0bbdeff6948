"""Per-user language preference (ui/prefs.py) through the app: a signed-in user's choice
in the sidebar is saved and opens the next session in that language when the URL has no
``lang``; a link's ``lang`` still wins; another account and open demo mode are untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from builders import SIGN_IN_SECRETS, served_demo, use_access_file
from dashboard.ui.prefs import load_preference, preferences_path, save_preference

ROOT = Path(__file__).resolve().parents[1]
PAGE = "pages/4_Safety.py"
SECRETS = SIGN_IN_SECRETS
ACCESS = """
[access]
sign_in_required = true
[users]
"dm@site.example" = "data_manager"
"inv@site.example" = "investigator"
"""
INVESTIGATOR = {"is_logged_in": True, "email": "Inv@Site.example", "email_verified": True, "name": "Dr Inv"}
DATA_MANAGER = {"is_logged_in": True, "email": "dm@site.example", "email_verified": True}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "prefs", 200, 5)


@pytest.fixture()
def state(db, tmp_path, monkeypatch):
    use_access_file(tmp_path, monkeypatch, ACCESS)
    monkeypatch.setenv("DASHBOARD_AUDIT_STATE", str(tmp_path / "state"))
    return tmp_path / "state"


def _session(user: dict | None, query: dict | None = None) -> AppTest:
    """A new browser session (nothing in session state) on the Safety page."""
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
    at.secrets = SECRETS
    if user is not None:
        at.user = dict(user)
    if query:
        at.query_params = query
    return at.run()


def _lang(at: AppTest) -> str | None:
    value = at.query_params.get("lang")
    return value[-1] if isinstance(value, list) else value


def test_signed_in_choice_is_saved_and_used_next_session(state):
    at = _session(INVESTIGATOR)
    assert not at.exception, at.exception
    assert at.title[0].value == "Safety" and _lang(at) == "en"  # no URL, no browser language, nothing saved
    assert load_preference("inv@site.example", "lang") is None

    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "安全性"
    assert load_preference("inv@site.example", "lang") == "zh"  # saved for the account, any case of the address
    assert "site.example" not in preferences_path().read_text(encoding="utf-8")

    nxt = _session(INVESTIGATOR)  # a new session, the URL without lang
    assert not nxt.exception, nxt.exception
    assert nxt.title[0].value == "安全性"
    assert _lang(nxt) == "zh"  # and the URL now says so, so a copied link keeps it
    assert any("退出登录" == b.label for b in nxt.sidebar.button)  # the identity sidebar follows too

    nxt.segmented_control(key="lang").set_value("en").run()  # changing back is saved as well
    assert load_preference("inv@site.example", "lang") == "en"
    assert _session(INVESTIGATOR).title[0].value == "Safety"


def test_link_language_beats_the_saved_choice(state):
    at = _session(INVESTIGATOR)
    at.segmented_control(key="lang").set_value("zh").run()
    assert load_preference("inv@site.example", "lang") == "zh"
    link = _session(INVESTIGATOR, {"lang": "en"})
    assert not link.exception, link.exception
    assert link.title[0].value == "Safety"
    assert load_preference("inv@site.example", "lang") == "zh"  # opening a link does not change the preference


def test_choice_is_per_account(state):
    at = _session(INVESTIGATOR)
    at.segmented_control(key="lang").set_value("zh").run()
    other = _session(DATA_MANAGER)
    assert not other.exception, other.exception
    assert other.title[0].value == "Safety"
    assert load_preference("dm@site.example", "lang") is None


def test_open_demo_mode_saves_nothing(db, tmp_path, monkeypatch):
    monkeypatch.delenv("DASHBOARD_ACCESS_CONFIG", raising=False)
    monkeypatch.setenv("DASHBOARD_AUDIT_STATE", str(tmp_path / "state"))
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120).run()
    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "安全性"
    assert not preferences_path().exists()


def test_only_offered_languages_are_saved(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_AUDIT_STATE", str(tmp_path))
    with pytest.raises(ValueError):
        save_preference("inv@site.example", "lang", "<script>")
    assert not preferences_path().exists()
    save_preference("inv@site.example", "lang", "zh")
    assert load_preference("INV@site.example", "lang") == "zh"
