import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import os

import pytest

# The app warms every page's caches in a background thread after its first run
# (dashboard.ui.warm); in tests that would only compete for the CPU with the test itself.
# tests/test_ui_warm.py switches it on where it is the subject.
os.environ.setdefault("DASHBOARD_WARM", "0")
os.environ.setdefault("DASHBOARD_GC_FREEZE", "0")  # gc.freeze() once warmed: for servers, not a test process


@pytest.fixture(scope="session", autouse=True)
def _audit_state(tmp_path_factory):
    """The audit key and anchored heads of the whole test run in a temporary directory
    (never the service user's ~/.local/state); a test may point it elsewhere."""
    old = os.environ.get("DASHBOARD_AUDIT_STATE")
    os.environ["DASHBOARD_AUDIT_STATE"] = str(tmp_path_factory.mktemp("audit_state"))
    yield
    if old is None:
        os.environ.pop("DASHBOARD_AUDIT_STATE", None)
    else:
        os.environ["DASHBOARD_AUDIT_STATE"] = old
