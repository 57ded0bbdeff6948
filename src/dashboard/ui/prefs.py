"""Per-user preferences kept on the server (the interface language), so a signed-in
investigator finds the dashboard in their language on any browser.

One small JSON file in the dashboard's state directory (the same private folder as the
audit key, ``$DASHBOARD_AUDIT_STATE``), mode 0600, keyed by a SHA-256 of the account (no
e-mail address stored), written atomically. Only an offered interface language is saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

from ..audit import state_dir
from ..i18n import LANGUAGES

_LOCK = threading.Lock()
ALLOWED = {"lang"}


def preferences_path() -> Path:
    return state_dir() / "preferences.json"


def _key(actor: str) -> str:
    return hashlib.sha256(actor.strip().lower().encode("utf-8")).hexdigest()


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_preference(actor: str, name: str) -> str | None:
    """The saved value of ``name`` for ``actor`` (None when none or unreadable)."""
    entry = _read(preferences_path()).get(_key(actor))
    value = entry.get(name) if isinstance(entry, dict) else None
    return value if isinstance(value, str) else None


def save_preference(actor: str, name: str, value: str) -> None:
    """Remember ``name=value`` for ``actor``; a failure to write is not the user's problem."""
    if name not in ALLOWED:
        raise ValueError(f"not a preference: {name}")
    if name == "lang" and value not in LANGUAGES:
        raise ValueError(f"not an interface language: {value!r}")
    path = preferences_path()
    with _LOCK:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            data = _read(path)
            data.setdefault(_key(actor), {})[name] = value
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".prefs-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except OSError:
            pass
