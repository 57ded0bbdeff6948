"""Who may see and do what: roles from a site configuration file.

A site maps identities (e-mail addresses, or groups its identity provider sends in the
ID token's ``groups`` claim) to roles in a TOML file (``config/access.toml`` or
``$DASHBOARD_ACCESS_CONFIG``)::

    [access]
    sign_in_required = true          # nothing renders before sign-in (st.login / OIDC)
    # trust_unverified_email = false # only for an IdP that never sends email_verified

    [users]
    "ana.lopez@hospital.example" = "data_manager"
    "li.wei@hospital.example" = "investigator"

    [groups]
    "registry-team" = "viewer"

An e-mail address counts only when the ID token says ``email_verified: true``; a token
without the claim (or with null) is not verified, so an identity provider that lets
users type their own address cannot hand out roles. A site whose provider never sends
the claim can set ``trust_unverified_email = true``; the Data page then warns about it.

A sign-in is good for ``session_hours`` (default 12) from the ID token's ``iat``:
Streamlit's sign-in cookie lives 30 days and sign-out does not revoke a copied cookie,
so the app asks for a fresh sign-in after that. Roles are read from this file on every
page run, never from the cookie: removing someone here takes effect on their next click.

A person with several matches gets the highest role. Someone signed in but not listed
has no access. Without a file the app runs open for the demo (every permission, on
127.0.0.1 only) and says so on every page.

Roles are cumulative: viewer < investigator < data_manager.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

from .i18n import N_
from .i18n import gettext as _

ACCESS_ENV = "DASHBOARD_ACCESS_CONFIG"
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "access.toml"

ROLES: tuple[str, ...] = ("viewer", "investigator", "data_manager")
# English source labels (catalog msgids): show them with ``_(ROLE_LABELS[role])`` or :func:`role_label`.
ROLE_LABELS = MappingProxyType({"viewer": N_("Viewer"), "investigator": N_("Investigator"),
                                "data_manager": N_("Data manager")})

# permission -> the lowest role that has it
PERMISSIONS: Mapping[str, str] = MappingProxyType(
    {
        "view_aggregates": "viewer",  # every page's aggregate figures and tables
        "export_aggregates": "viewer",  # downloads of aggregate figures/tables, the MDT report
        "view_patient_level": "investigator",  # patient timeline, listings, swimmer plot ids
        "export_patient_level": "investigator",
        "import_data": "data_manager",
        "view_audit": "data_manager",
    }
)

# permission -> what it lets a user do (English source; show with :func:`permission_label`)
PERMISSION_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "view_aggregates": N_("See every page's aggregate figures and tables"),
        "export_aggregates": N_("Download aggregate figures and tables, and the MDT report"),
        "view_patient_level": N_("See patient-level data: timeline, listings, swimmer plot identifiers"),
        "export_patient_level": N_("Download patient-level listings"),
        "import_data": N_("Import a registry export"),
        "view_audit": N_("See the audit trail"),
    }
)


def role_label(role: str | None) -> str:
    """A role's name in the current language (``no role`` for None or an unknown role)."""
    return _(ROLE_LABELS[role]) if role in ROLE_LABELS else _("no role")


def permission_label(permission: str) -> str:
    """What ``permission`` allows, in the current language."""
    return _(PERMISSION_LABELS[permission]) if permission in PERMISSION_LABELS else permission


# page (file stem without its number) -> permission needed to open it
PAGE_PERMISSIONS: Mapping[str, str] = MappingProxyType(
    {
        "Overview": "view_aggregates",
        "Cohort": "view_aggregates",
        "Survival": "view_aggregates",
        "Organ_preservation": "view_aggregates",
        "Safety": "view_aggregates",
        "Quality_of_life": "view_aggregates",
        "Patient_timeline": "view_patient_level",
        "Data": "view_aggregates",
    }
)


class AccessConfigError(ValueError):
    """The site's access file is malformed: the app refuses to start rather than guess."""


@dataclass(frozen=True)
class AccessConfig:
    sign_in_required: bool
    users: Mapping[str, str] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    trust_unverified_email: bool = False
    session_hours: float = 12.0

    @property
    def open_mode(self) -> bool:
        return not self.sign_in_required


OPEN = AccessConfig(sign_in_required=False, source="no access configuration (open demo mode)")


def _check_role(role: object, where: str) -> str:
    if role not in ROLES:
        raise AccessConfigError(_("{where}: unknown role {role}; roles are {roles}").format(
            where=where, role=repr(role), roles=", ".join(ROLES)))
    return str(role)


def parse_access_config(text: str, source: str = "<string>") -> AccessConfig:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AccessConfigError(_("{source}: not valid TOML: {error}").format(source=source, error=exc)) from None
    unknown = set(doc) - {"access", "users", "groups"}
    if unknown:
        raise AccessConfigError(_("{source}: unknown section(s) {sections}; expected [access], [users], [groups]").format(
            source=source, sections=sorted(unknown)))
    access = doc.get("access", {})
    sign_in = access.get("sign_in_required", True)
    if not isinstance(sign_in, bool):
        raise AccessConfigError(_("{source}: [access] sign_in_required must be true or false").format(source=source))
    users = {str(k).strip().lower(): _check_role(v, f"{source} [users] {k}") for k, v in doc.get("users", {}).items()}
    groups = {str(k).strip(): _check_role(v, f"{source} [groups] {k}") for k, v in doc.get("groups", {}).items()}
    unknown_keys = set(access) - {"sign_in_required", "trust_unverified_email", "session_hours"}
    if unknown_keys:
        raise AccessConfigError(_("{source}: unknown [access] key(s) {keys}; expected sign_in_required, "
                                  "trust_unverified_email, session_hours").format(source=source, keys=sorted(unknown_keys)))
    hours = access.get("session_hours", 12)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= 720:
        raise AccessConfigError(_("{source}: [access] session_hours must be a number of hours from 0 to 720").format(
            source=source))
    trust = access.get("trust_unverified_email", False)
    if not isinstance(trust, bool):
        raise AccessConfigError(_("{source}: [access] trust_unverified_email must be true or false").format(source=source))
    if sign_in and not users and not groups:
        raise AccessConfigError(_("{source}: sign-in is required but no user or group is given a role").format(
            source=source))
    return AccessConfig(sign_in_required=sign_in, users=MappingProxyType(users), groups=MappingProxyType(groups),
                        source=source, trust_unverified_email=trust, session_hours=float(hours))


def verified_email(claims: Mapping[str, object], config: AccessConfig) -> str | None:
    """The ID token's e-mail address when it may be matched against ``[users]``: only with
    ``email_verified`` exactly true (missing or null is not verified), unless the site
    opted in with ``trust_unverified_email``. Lower-cased, stripped."""
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        return None
    if claims.get("email_verified") is True or (config.trust_unverified_email and claims.get("email_verified") is not False):
        return email.strip().lower()
    return None


def load_access_config(path: Path | None = None) -> AccessConfig:
    """The site's configuration, or :data:`OPEN` when there is none."""
    if path is None:
        env = os.environ.get(ACCESS_ENV)
        path = Path(env) if env else DEFAULT_CONFIG
        if not env and not path.exists():
            return OPEN
    if not path.exists():
        raise AccessConfigError(_("{path}: access configuration file not found (set by ${env})").format(
            path=path, env=ACCESS_ENV))
    return parse_access_config(path.read_text(encoding="utf-8"), str(path))


def role_for(config: AccessConfig, email: str | None, groups: Iterable[str] = ()) -> str | None:
    """The highest role this identity has, or None (no access)."""
    if config.open_mode:
        return "data_manager"
    found = []
    if email and email.strip().lower() in config.users:
        found.append(config.users[email.strip().lower()])
    found += [config.groups[g] for g in groups if g in config.groups]
    return max(found, key=ROLES.index) if found else None


def allowed(role: str | None, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return role is not None and ROLES.index(role) >= ROLES.index(PERMISSIONS[permission])


def page_allowed(role: str | None, page: str) -> bool:
    return allowed(role, PAGE_PERMISSIONS.get(page, "view_aggregates"))
