"""Open demo mode's Host rule, ``email_verified``, and text from URLs / the registry shown
as text (never markdown or HTML)."""

from __future__ import annotations

import re
import string
from pathlib import Path

import plotly.graph_objects as go
import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from builders import SIGN_IN_SECRETS, served_demo
from dashboard.access import AccessConfigError, parse_access_config, verified_email
from dashboard.ui import auth
from dashboard.ui.text import md_text, strip_links

ROOT = Path(__file__).resolve().parents[1]
SECRETS = SIGN_IN_SECRETS
ACCESS = '[access]\nsign_in_required = true\n{extra}\n[users]\n"dm@site.example" = "data_manager"\n'


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "security", 120, 3)


@pytest.fixture()
def access(db, tmp_path, monkeypatch):
    def write(extra: str = ""):
        cfg = tmp_path / "access.toml"
        cfg.write_text(ACCESS.format(extra=extra))
        monkeypatch.setenv("DASHBOARD_ACCESS_CONFIG", str(cfg))
        return cfg
    monkeypatch.setenv("DASHBOARD_AUDIT_DB", str(tmp_path / "audit.sqlite3"))
    return write


# ------------------------------------------------------------------ Host header (DNS rebinding)
@pytest.mark.parametrize("host,ok", [
    ("127.0.0.1:8501", True), ("localhost:8501", True), ("localhost", True), ("[::1]:8501", True),
    ("127.9.9.9", True), ("LOCALHOST.:80", True),
    ("evil.example:8501", False), ("localhost.evil.example", False), ("127.0.0.1.evil.example", False),
    ("0.0.0.0:8501", False), ("192.168.1.5:8501", False), ("", False), (None, False),
    ("user@127.0.0.1", False), ("127.0.0.1:99999", False), ("127.0.0.1/x", False),
])
def test_loopback_host(host, ok):
    assert auth.is_loopback_host(host) is ok


def test_test_flags_do_not_switch_the_loopback_rule_off(monkeypatch):
    """Under a real server runtime the rule applies whatever ``global.appTest`` says; it is
    skipped only for AppTest's mocked runtime without request headers."""
    from unittest.mock import MagicMock

    from streamlit.runtime import Runtime

    real = object.__new__(Runtime)  # a real (not mocked) runtime object, as `streamlit run` has
    monkeypatch.setattr(Runtime, "_instance", real)
    monkeypatch.setenv("STREAMLIT_GLOBAL_APP_TEST", "true")
    old = st_config.get_option("global.appTest")
    st_config.set_option("global.appTest", True)
    try:
        assert auth._served_to_a_browser() is True
        monkeypatch.setattr(Runtime, "_instance", MagicMock(spec=Runtime))
        assert auth._served_to_a_browser() is False  # AppTest: nothing is served
    finally:
        st_config.set_option("global.appTest", old)


# ------------------------------------------------------------------ email_verified
@pytest.mark.parametrize("claims,trust,expected", [
    ({"email": "A@x.example", "email_verified": True}, False, "a@x.example"),
    ({"email": "a@x.example"}, False, None),  # missing: not verified
    ({"email": "a@x.example", "email_verified": None}, False, None),  # null: not verified
    ({"email": "a@x.example", "email_verified": "true"}, False, None),  # not the JSON true
    ({"email": "a@x.example", "email_verified": False}, False, None),
    ({"email": "a@x.example"}, True, "a@x.example"),  # the site opted in
    ({"email": "a@x.example", "email_verified": False}, True, None),  # an explicit false is never trusted
    ({"email_verified": True}, False, None),
])
def test_verified_email(claims, trust, expected):
    cfg = parse_access_config(ACCESS.format(extra=f"trust_unverified_email = {'true' if trust else 'false'}"))
    assert cfg.trust_unverified_email is trust
    assert verified_email(claims, cfg) == expected


def test_trust_option_must_be_boolean_and_known():
    with pytest.raises(AccessConfigError, match="trust_unverified_email must be true or false"):
        parse_access_config(ACCESS.format(extra='trust_unverified_email = "yes"'))
    with pytest.raises(AccessConfigError, match="unknown \\[access\\] key"):
        parse_access_config(ACCESS.format(extra="trust_everyone = true"))


def _run(page: str, user: dict, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=90)
    at.secrets = SECRETS
    at.user = user
    if query:
        at.query_params = query
    return at.run()


@pytest.mark.parametrize("verified", [None, "absent"])
def test_missing_or_null_email_verified_gives_no_role(access, verified):
    access()
    user = {"is_logged_in": True, "email": "dm@site.example"}
    if verified is None:
        user["email_verified"] = None
    at = _run("app.py", user)
    assert any("No access" in t.value for t in at.title)
    assert not at.dataframe


def test_opt_in_trusts_unverified_email_and_the_data_page_warns(access):
    access()
    at = _run("pages/7_Data.py", {"is_logged_in": True, "email": "dm@site.example", "email_verified": True})
    assert not [w for w in at.warning if "trusts e-mail addresses" in w.value]
    access("trust_unverified_email = true")
    at = _run("pages/7_Data.py", {"is_logged_in": True, "email": "dm@site.example"})
    assert not at.exception and not any("No access" in t.value for t in at.title)
    assert [w for w in at.warning if "trusts e-mail addresses the identity provider has not verified" in w.value]


# ------------------------------------------------------------------ text, not markdown


@pytest.mark.parametrize("text", [
    "[Session expired: sign in](https://evil.example/login)", "![x](http://127.0.0.1:1/pixel.png)",
    "<img src=http://evil.example/x.png>", ":red[ALERT] :material/lock:", "$\\frac{1}{2}$", "*bold* `code`",
    "line\n\n# heading", "https://evil.example", "www.evil.example",
])
def test_md_text_escapes_every_markup_character(text):
    out = md_text(text, None)
    assert "\n" not in out
    bare = re.sub(r"\\.", "", out)  # drop every escape pair: no markup character may remain
    assert not re.search("[" + re.escape(string.punctuation) + "]", bare), out
    assert re.sub(r"\\(.)", r"\1", out).replace("\u2060", "") == re.sub(r"\n+", " ", text)  # reads as given


def test_a_crafted_parameter_name_is_shown_as_text(db, monkeypatch):
    monkeypatch.delenv("DASHBOARD_ACCESS_CONFIG", raising=False)
    monkeypatch.setattr("dashboard.access.DEFAULT_CONFIG", ROOT / "config" / "absent.toml")
    crafted = "[Session expired: sign in](https://evil.example/login)"
    at = AppTest.from_file(str(ROOT / "pages/1_Cohort.py"), default_timeout=90)
    at.query_params = {crafted: "1", "site": "![x](http://127.0.0.1:1/pixel.png)"}
    at.run()
    body = "\n".join(w.value for w in at.warning if "not recognised" in w.value)
    assert "evil" in body, body  # the notice is there ...
    bare = re.sub(r"\\.", "", body)  # without the escaped characters: no link or image syntax is left
    assert "](" not in bare and "[" not in bare and "!" not in bare and "http" in body
    assert "\\[Session expired\\: sign in\\]\\(https\\:\\/\\/evil\\.example\\/login\\)" in body.replace("\u2060", "")
    assert "https\\:\u2060" in body  # the joiner that stops GFM's autolink literal


def test_registry_text_in_figures_loses_its_links():
    fig = go.Figure(go.Bar(y=['<a href="https://evil.example">Colitis</a>', "Rash"], x=[3, 4],
                           hovertext=["<A HREF='x'>x</a>", "ok"]))
    fig.update_layout(title="<b>AE</b> <a href='https://e'>t</a>")
    clean = strip_links(fig)
    assert list(clean.data[0].y) == ["Colitis", "Rash"] and list(clean.data[0].hovertext) == ["x", "ok"]
    assert clean.layout.title.text == "<b>AE</b> t"
    plain = go.Figure(go.Bar(y=["Rash"], x=[1]))
    assert strip_links(plain) is plain


# ------------------------------------------------------------------ sign-in lifetime
def test_an_old_sign_in_must_be_renewed(access):
    import time

    access("session_hours = 2")
    fresh = {"is_logged_in": True, "email": "dm@site.example", "email_verified": True, "iat": int(time.time()) - 600}
    at = _run("app.py", fresh)
    assert at.dataframe and not at.exception
    old = {**fresh, "iat": int(time.time()) - 3 * 3600}
    at = _run("app.py", old)
    assert any("older than 2 hours" in w.value for w in at.warning)
    assert not at.dataframe and any(b.label == "Sign in" for b in at.button)


def test_roles_are_read_from_the_access_file_on_every_run(access):
    cfg = access()
    at = AppTest.from_file(str(ROOT / "pages/7_Data.py"), default_timeout=90)
    at.secrets = SECRETS
    at.user = {"is_logged_in": True, "email": "dm@site.example", "email_verified": True}
    at.run()
    assert any("Import" in s.value for s in at.subheader)
    cfg.write_text(cfg.read_text().replace('"dm@site.example" = "data_manager"', '"dm@site.example" = "viewer"'))
    at.run()  # same session, same cookie: the new role applies at once
    assert not any("Import" in s.value for s in at.subheader)


@pytest.mark.parametrize("bad", ["session_hours = 0", "session_hours = 1000", 'session_hours = "12"'])
def test_session_hours_is_checked(bad):
    with pytest.raises(AccessConfigError, match="session_hours"):
        parse_access_config(ACCESS.format(extra=bad))
