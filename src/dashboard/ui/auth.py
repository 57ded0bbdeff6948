"""Sign-in gate and roles for every page (issue 8).

:func:`require_sign_in` runs at the start of :func:`dashboard.ui.page.page_setup`, before
any query:

- **Open demo mode** (no site access file, see :mod:`dashboard.access`): everyone is an
  anonymous local user with every permission, and every page says so. The app refuses
  to run open unless the server listens on a loopback address only (``--server.address
  127.0.0.1``), so an unconfigured deployment never exposes data to a network.
- **Sign-in configured**: an anonymous visitor sees only a sign-in button (Streamlit's
  OIDC ``st.login``, configured in ``[auth]`` of ``.streamlit/secrets.toml``); a
  signed-in user without a role sees "no access"; a page the role may not open says so
  and stops (and the attempt is audited). Sign-ins are audited once per session.

Pages a role may not open are hidden from the sidebar navigation and refused by URL.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlparse

import streamlit as st
from streamlit import config as _st_config

from .. import audit
from ..i18n import LANGUAGES, SWITCH_LABEL, N_, _, get_language
from .text import md_text
from ..access import (ROLE_LABELS, AccessConfig, AccessConfigError, PAGE_PERMISSIONS, allowed, load_access_config,
                      page_allowed, role_for, verified_email)

OPEN_NOTICE = N_("Open demo mode: no sign-in configured")
IDENTITY_STATE = "_identity"
_AUDITED = "_audit_logged"
LOCAL_ACTOR = "local-demo-user"


@dataclass(frozen=True)
class Identity:
    """Who is using this session and what they may do."""

    email: str | None
    name: str | None
    role: str | None
    groups: tuple[str, ...] = ()
    open_mode: bool = False
    signed_in: bool = False

    @property
    def actor(self) -> str:
        """The name written to the audit trail."""
        return self.email or (LOCAL_ACTOR if self.open_mode else "anonymous")

    def can(self, permission: str) -> bool:
        return allowed(self.role, permission)

    @property
    def role_label(self) -> str:
        """The role's name in the current language."""
        return _(ROLE_LABELS[self.role]) if self.role in ROLE_LABELS else _("no role")


def is_loopback(address: str | None) -> bool:
    """True only for an address that accepts connections from this machine alone.
    An empty address means every interface (Streamlit's default): not loopback."""
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_host(host: str | None) -> bool:
    """True for a ``Host`` header naming this machine only (``localhost``, 127.0.0.0/8,
    ``[::1]``, any port). A page on another site that rebinds its DNS name to 127.0.0.1
    sends its own name here, so the check refuses it (DNS rebinding)."""
    if not host:
        return False
    try:
        parsed = urlparse(f"//{host.strip()}")
        name, _port = parsed.hostname, parsed.port  # .port validates a given port
    except ValueError:
        return False
    if not name or parsed.username is not None or parsed.path or parsed.query:
        return False
    return is_loopback(name.rstrip("."))


def _served_to_a_browser() -> bool:
    """Whether this run serves an HTTP client. True under a real Streamlit server (its
    runtime is a real ``Runtime``) and whenever the run has request headers; False only
    for AppTest's mocked runtime without headers. Streamlit's test flags
    (``global.appTest``, ``STREAMLIT_GLOBAL_APP_TEST``) do not change this."""
    try:
        if dict(st.context.headers):
            return True
    except Exception:
        return True
    from streamlit.runtime import Runtime

    instance = Runtime._instance
    return instance is None or isinstance(type(instance), type) and issubclass(type(instance), Runtime)


def _request_host() -> str | None:
    try:
        return st.context.headers.get("Host")
    except Exception:
        return None


def _auth_secrets_present() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _user() -> dict:
    try:
        return dict(st.user.to_dict())
    except Exception:
        return {}


def _claims_groups(user: dict) -> tuple[str, ...]:
    groups = user.get("groups") or ()
    if isinstance(groups, str):
        groups = [groups]
    return tuple(str(g) for g in groups if isinstance(g, (str, int)))


def _audit_once(key: str, action: str, identity: Identity, detail: dict, result: str = "ok") -> None:
    """Record ``action`` once per session and key (reruns do not repeat it)."""
    done = st.session_state.setdefault(_AUDITED, set())
    if key in done:
        return
    try:
        audit.record(action, identity.actor, detail, result=result, role=identity.role)
    except Exception as exc:  # the audit trail must work: refuse rather than run unaudited
        st.error(_("The audit trail cannot be written ({error}); the page is not shown.").format(
            error=type(exc).__name__))
        st.stop()
    done.add(key)


def role_now(identity: Identity) -> str | None:
    """The identity's role under the access file as it is now (re-read; no ``st.*``, so it
    can run in a download's click callback). None when the file is unreadable or no
    longer gives this identity a role, or when open mode and sign-in have swapped."""
    try:
        config = load_access_config()
    except (AccessConfigError, OSError):
        return None
    if config.open_mode != identity.open_mode:
        return None
    return role_for(config, identity.email, identity.groups)


def _record_refusal(what: str, detail: dict) -> None:
    """A refused request in the audit trail (never raises: the refusal stands anyway)."""
    try:
        audit.record("access_denied", LOCAL_ACTOR if what == "host_refused" else "browser-session",
                     {"what": what, **detail}, result="refused")
    except Exception:
        pass


def may_clear_caches(user_info: dict) -> bool:
    """Whether a browser session may clear the app's shared caches (Streamlit's "Clear
    cache", a WebSocket message any client can send): in open demo mode yes (loopback
    only); with sign-in required, only a signed-in data manager."""
    try:
        config = load_access_config()
    except (AccessConfigError, OSError):
        return False
    if config.open_mode:
        return True
    if not user_info.get("is_logged_in"):
        return False
    return role_for(config, verified_email(user_info, config), _claims_groups(user_info)) == "data_manager"


def install_cache_clear_guard() -> None:
    """Refuse (and record) a "clear cache" request from a session that may not clear the
    shared caches (:func:`may_clear_caches`). Streamlit handles that message without
    asking the app, so this wraps its handler (``AppSession._handle_clear_cache_request``,
    a private API: tests/test_security.py fails if it moves). Idempotent."""
    from streamlit.runtime.app_session import AppSession

    original = AppSession._handle_clear_cache_request
    if getattr(original, "_dashboard_guard", False):
        return

    def guarded(self) -> None:
        info = dict(getattr(self, "_user_info", None) or {})
        if may_clear_caches(info):
            return original(self)
        _record_refusal("clear_cache_refused", {"signed_in": bool(info.get("is_logged_in"))})
        return None

    guarded._dashboard_guard = True  # type: ignore[attr-defined]
    AppSession._handle_clear_cache_request = guarded


def _load_config() -> AccessConfig:
    try:
        return load_access_config()
    except AccessConfigError as exc:
        st.error(_("The site's access configuration is invalid, so nothing is shown: {reason}").format(
            reason=md_text(exc, 500)))
        st.stop()
        raise  # unreachable (st.stop raises)


def current_identity() -> Identity:
    """The session's identity; stops the page when nobody may see anything."""
    config = _load_config()
    if config.open_mode:
        address = st.get_option("server.address")
        if _served_to_a_browser():
            host = _request_host()
            if not is_loopback(address):
                st.error(
                    _("No sign-in is configured (no site access file), so this app only runs on a loopback address "
                      "for the demo, but the server listens on {address}. Restart it with `--server.address "
                      "127.0.0.1`, or configure sign-in and roles (README: Sign-in and roles).").format(
                        address=address or _("every network interface"))
                )
                st.stop()
            if not is_loopback_host(host):
                # DNS rebinding: a web page elsewhere resolved its own name to 127.0.0.1
                if not st.session_state.get("_host_refusal_logged"):
                    st.session_state["_host_refusal_logged"] = True
                    _record_refusal("host_refused", {"host": (host or "")[:200], "reason": "open demo mode: Host "
                                                     "is not a loopback name or address"})
                st.error(_("This open demo only answers requests addressed to localhost / 127.0.0.1. Open it as "
                           "http://127.0.0.1:PORT/ on this machine."))
                st.stop()
        return Identity(email=None, name="Local demo user", role=role_for(config, None), open_mode=True)
    if not _auth_secrets_present():
        st.error(
            _("Sign-in is required by {source}, but no identity provider is configured "
              "([auth] in .streamlit/secrets.toml). Nothing is shown.").format(source=md_text(config.source))
        )
        st.stop()
    user = _user()
    if not user.get("is_logged_in"):
        return Identity(email=None, name=None, role=None)
    if sign_in_expired(user, config):
        st.session_state[EXPIRED_STATE] = config.session_hours
        return Identity(email=None, name=None, role=None)
    email = verified_email(user, config)
    groups = _claims_groups(user)
    return Identity(email=email, name=user.get("name"), role=role_for(config, email, groups), groups=groups,
                    signed_in=True)


_HIDE_NAV = "<style>[data-testid='stSidebarNav'], [data-testid='stSidebarCollapsedControl'] {display: none;}</style>"


def sign_in_expired(user: dict, config: AccessConfig, now: float | None = None) -> bool:
    """True when the ID token was issued (``iat``) more than ``session_hours`` ago. A token
    without ``iat`` (OIDC requires it; AppTest's stand-in has none) is not expired here."""
    import time

    iat = user.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        return False
    return (time.time() if now is None else now) - float(iat) > config.session_hours * 3600


EXPIRED_STATE = "_sign_in_expired"


def _sign_in_language_changed() -> None:
    lang = st.session_state.get("lang")
    if lang in LANGUAGES:
        st.query_params["lang"] = lang  # the sign-in gate stops before the URL is synchronised


def _sign_in_screen() -> None:
    st.html(_HIDE_NAV)
    if st.session_state.get("lang") not in LANGUAGES:
        st.session_state["lang"] = get_language()
    st.segmented_control(SWITCH_LABEL, options=list(LANGUAGES), format_func=lambda c: LANGUAGES[c][2], key="lang",
                         selection_mode="single", on_change=_sign_in_language_changed)
    st.title(_("Organ-preservation registry"))
    hours = st.session_state.pop(EXPIRED_STATE, None)
    if hours is not None:
        st.warning(_("Your sign-in is older than {hours} hours (the site's limit): sign in again.").format(
            hours=f"{hours:g}"), icon=":material/schedule:")
    st.info(_("Sign in with your site account to see the registry."), icon=":material/lock:")
    if st.button(_("Sign in"), type="primary", icon=":material/login:", key="auth_sign_in"):
        st.login()
    st.stop()


def _hide_pages_css(role: str | None) -> str:
    """CSS that removes the navigation links of pages this role may not open."""
    hidden = [p for p in PAGE_PERMISSIONS if p != "Overview" and not page_allowed(role, p)]
    if not hidden:
        return ""
    sel = ", ".join(f"[data-testid='stSidebarNav'] li:has(a[href$='/{p}'])" for p in hidden)
    return f"<style>{sel} {{display: none;}}</style>"


def require_sign_in(page: str) -> Identity:
    install_cache_clear_guard()
    return _require_sign_in(page)


def _require_sign_in(page: str) -> Identity:
    """The gate every page passes first (called by ``page_setup`` before any query).

    ``page`` is the page's name in :data:`dashboard.access.PAGE_PERMISSIONS`.
    """
    identity = current_identity()
    if identity.open_mode:
        st.session_state[IDENTITY_STATE] = identity
        return identity
    if not identity.signed_in:
        _sign_in_screen()
    if identity.role is None:
        _audit_once(f"refused:{identity.actor}", "sign_in_refused", identity,
                    {"groups": list(identity.groups), "page": page}, result="refused")
        st.html(_HIDE_NAV)
        st.title(_("No access"))
        st.error(_("You are signed in as {account}, but this site has not given that account access to the "
                   "registry. Ask the registry's data manager to add you.").format(account=md_text(identity.actor)),
                 icon=":material/block:")
        if st.button(_("Sign out"), key="auth_sign_out_noaccess"):
            st.logout()
        st.stop()
    _audit_once(f"sign_in:{identity.actor}", "sign_in", identity, {"groups": list(identity.groups), "page": page})
    if page == "Data":
        unverified_email_warning()
    st.session_state[IDENTITY_STATE] = identity
    css = _hide_pages_css(identity.role)
    if css:
        st.html(css)
    if not page_allowed(identity.role, page):
        _audit_once(f"denied:{identity.actor}:{page}", "access_denied", identity,
                    {"page": page, "needs": PAGE_PERMISSIONS.get(page)}, result="refused")
        st.title(_("Not available"))
        st.error(_("This page is not available for your role ({role}).").format(role=identity.role_label),
                 icon=":material/block:")
        st.stop()
    return identity


UNVERIFIED_WARNING = N_("The access file trusts e-mail addresses the identity provider has not verified "
                      "(trust_unverified_email = true): anyone who can set their own address at the provider to a "
                      "listed one gets that role. Use it only for a provider that checks addresses itself and never "
                      "sends email_verified.")


def unverified_email_warning() -> None:
    """The warning on the Data page when the site trusts unverified e-mail addresses."""
    try:
        config = load_access_config()
    except AccessConfigError:
        return
    if config.sign_in_required and config.trust_unverified_email:
        st.warning(_(UNVERIFIED_WARNING), icon=":material/warning:")


def identity_sidebar(identity: Identity) -> None:
    """Who is signed in, their role and a sign-out button (or the open-mode notice)."""
    sb = st.sidebar
    if identity.open_mode:
        sb.warning(_("{notice} (local use on this machine only).").format(notice=_(OPEN_NOTICE)),
                   icon=":material/lock_open:")
        return
    sb.caption(_("Signed in as **{name}** ({account}) · {role}").format(
        name=md_text(identity.name or identity.actor, 80), account=md_text(identity.actor), role=identity.role_label))
    if sb.button(_("Sign out"), icon=":material/logout:", key="auth_sign_out"):
        st.logout()


def open_mode_notice(identity: Identity) -> None:
    """The open-mode notice on the page itself."""
    if identity.open_mode:
        st.caption(":material/lock_open: " + _("**{notice}.** Anyone who can reach this machine's loopback address "
                                               "has every permission; configure sign-in before serving it to a "
                                               "network.").format(notice=_(OPEN_NOTICE)))
