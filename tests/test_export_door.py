"""One export door: every download goes through ``dashboard.ui.export.download``.

- In the source: ``download_button`` appears once, inside that function.
- On screen: every page, for every role, is run (AppTest) and every download-capable
  element is checked: each download button is one the door drew (its key is in the
  session's door registry), each interactive table is drawn with Streamlit's own toolbar
  export switched off (``client.disableDataExport``, set by the app itself), and each
  figure's plotly config has no "download as PNG" button.
- At click time (the door's data callable, captured): the role is checked again against
  the access file as it is now, the provenance footer is in the file, small cells are
  suppressed for real data, and the audit trail gets one record per download, refused
  and failed ones included.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import polars as pl
import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from builders import SIGN_IN_SECRETS, served_demo, use_access_file
from dashboard import audit
from dashboard.filters import CohortFilter
from dashboard.store import Store
from dashboard.ui import export as door
from dashboard.ui.auth import Identity

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "dashboard"
SECRETS = SIGN_IN_SECRETS
ACCESS = """
[access]
sign_in_required = true
[users]
"dm@site.example" = "data_manager"
"inv@site.example" = "investigator"
"view@site.example" = "viewer"
"""
EMAILS = {"viewer": "view@site.example", "investigator": "inv@site.example", "data_manager": "dm@site.example"}
VIEWS = [
    ("app.py", {}), ("pages/1_Cohort.py", {}), ("pages/1_Cohort.py", {"section": "table1"}),
    ("pages/2_Survival.py", {}), ("pages/2_Survival.py", {"view": "cif"}), ("pages/2_Survival.py", {"view": "iptw"}),
    ("pages/3_Organ_preservation.py", {}), ("pages/3_Organ_preservation.py", {"section": "response"}),
    ("pages/3_Organ_preservation.py", {"section": "swimmer"}),
    ("pages/4_Safety.py", {}), ("pages/4_Safety.py", {"section": "irae"}), ("pages/4_Safety.py", {"section": "procedures"}),
    ("pages/5_Quality_of_life.py", {}), ("pages/6_Patient_timeline.py", {}), ("pages/7_Data.py", {}),
]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "door", 300, 7)


@pytest.fixture()
def access(db, tmp_path, monkeypatch):
    return use_access_file(tmp_path, monkeypatch, ACCESS)


# ------------------------------------------------------------------ the source
def test_download_button_only_inside_the_door():
    calls = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))] + [tree]:
            body = fn.body if fn is not tree else [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))]
            for node in (x for stmt in body for x in ast.walk(stmt)):
                if isinstance(node, ast.Attribute) and node.attr == "download_button":
                    calls.append((str(path.relative_to(SRC)), getattr(fn, "name", "<module>")))
    calls = sorted(set(calls))
    assert calls == [("ui/export.py", "download")], calls


# ------------------------------------------------------------------ every page, every role
@pytest.mark.parametrize("role", ["viewer", "investigator", "data_manager", None], ids=str)
@pytest.mark.parametrize("page,query", VIEWS, ids=str)
def test_every_download_capable_element_is_the_audited_kind(access, monkeypatch, page, query, role):
    if role is None:
        monkeypatch.delenv("DASHBOARD_ACCESS_CONFIG")
        monkeypatch.setattr("dashboard.access.DEFAULT_CONFIG", access.parent / "absent.toml")
    st_config.set_option("client.disableDataExport", False)  # as on a server started without our config file
    at = AppTest.from_file(str(ROOT / page), default_timeout=90)
    if role is not None:
        at.secrets = SECRETS
        at.user = {"is_logged_in": True, "email": EMAILS[role], "email_verified": True}
    at.query_params = query
    at.run()
    assert not at.exception, at.exception
    if role in (None, "viewer"):  # the export popovers draw their controls only when open (issue 18): open them all
        pops = [p.proto.id.split("-", 2)[-1] for p in at.get("popover") if p.proto.id.endswith(door.OPEN_SUFFIX)]
        for key in pops:
            at.session_state[key] = True
        if pops:
            at.run()
            assert not at.exception, at.exception
            assert any(b.proto.id.split("-", 2)[-1].endswith("_dl") for b in at.get("download_button")), page
    drawn = at.session_state[door.DOOR_KEYS] if door.DOOR_KEYS in at.session_state else set()
    buttons = at.get("download_button")
    for b in buttons:
        key = b.proto.id.split("-", 2)[-1]
        assert key in drawn, f"{page} {query} as {role}: download button {b.proto.label!r} ({key}) bypasses the door"
    tables = at.dataframe
    if tables:
        assert st_config.get_option("client.disableDataExport") is True, \
            f"{page}: {len(tables)} table(s) with Streamlit's own CSV download switched on"
    for chart in at.get("plotly_chart"):
        cfg = json.loads(chart.proto.config or "{}")
        assert "toImage" in cfg.get("modeBarButtonsToRemove", []), f"{page}: a figure keeps plotly's PNG download"


def test_viewer_gets_no_patient_level_download(access, monkeypatch):
    def run(role, page, query):
        at = AppTest.from_file(str(ROOT / page), default_timeout=90)
        at.secrets = SECRETS
        at.user = {"is_logged_in": True, "email": EMAILS[role], "email_verified": True}
        at.query_params = query
        return {b.proto.label for b in at.run().get("download_button")}

    assert "Weights (CSV)" in run("investigator", "pages/2_Survival.py", {"view": "iptw"})
    assert "Weights (CSV)" not in run("viewer", "pages/2_Survival.py", {"view": "iptw"})
    assert "Curve data (CSV)" in run("viewer", "pages/2_Survival.py", {})
    assert "Events of these patients (CSV)" not in run("viewer", "pages/3_Organ_preservation.py", {"section": "swimmer"})


# ------------------------------------------------------------------ at click time
class _Capture:
    def __init__(self):
        self.calls = []

    def download_button(self, label, **kw):
        self.calls.append((label, kw))


def _ctx(store, identity, n=12, m=300):
    from dashboard.ui.page import PageContext

    return PageContext(store=store, filter=CohortFilter(site=("RECTUM",)), counts={"n": n, "m": m}, identity=identity)


def test_click_is_audited_with_provenance_and_rechecks_the_role(access, db, tmp_path):
    store = Store(db)
    inv = Identity(email="inv@site.example", name=None, role="investigator", signed_in=True)
    scope = door.ExportScope.from_ctx(_ctx(store, inv))
    scope = door.ExportScope(**{**scope.__dict__, "identity": inv})
    cap = _Capture()
    frame = pl.DataFrame({"group": ["A", "B"], "n_risk": [3, 40]})
    shown = door.download(scope, kind="table_csv", name="curve", label="CSV", key="k",
                          build=lambda prov: door.table_bytes(frame, "csv", "curve", prov, suppress_below=5),
                          file_name="curve.csv", mime="text/csv", permission="export_patient_level", container=cap)
    assert shown and len(cap.calls) == 1
    data = cap.calls[0][1]["data"]()
    text = data.decode()
    assert "# SYNTHETIC DATA" in text and "Tumour site: Rectum" in text and "N = 12 of 300" in text
    assert "content hash" in text and "exported" in text
    assert "A,<5" in text and "B,40" in text  # small cell suppressed, the other kept
    log = audit.read(action="export", path=tmp_path / "audit.sqlite3")
    row = log.row(0, named=True)
    detail = json.loads(row["detail"])
    assert row["result"] == "ok" and row["actor"] == "inv@site.example" and row["role"] == "investigator"
    assert detail["kind"] == "table_csv" and detail["filters"] == {"site": ["RECTUM"]} and detail["n"] == 12
    assert detail["bytes"] == len(data)

    # the access file changes after the page was drawn: the click gets no file
    access.write_text(ACCESS.replace('"inv@site.example" = "investigator"', '"inv@site.example" = "viewer"'))
    refused = cap.calls[0][1]["data"]()
    assert refused.startswith(b"Export refused")
    row = audit.read(action="export", path=tmp_path / "audit.sqlite3").row(0, named=True)
    assert row["result"] == "refused" and row["role"] == "viewer"


def test_failed_build_is_audited(access, db, tmp_path):
    store = Store(db)
    dm = Identity(email="dm@site.example", name=None, role="data_manager", signed_in=True)
    scope = door.ExportScope(**{**door.ExportScope.from_ctx(_ctx(store, dm)).__dict__, "identity": dm})
    cap = _Capture()

    def boom(prov):
        raise RuntimeError("chromium gone")

    door.download(scope, kind="figure", name="km", label="PNG", key="k2", build=boom, file_name="km.png",
                  mime="image/png", container=cap)
    with pytest.raises(RuntimeError):
        cap.calls[0][1]["data"]()
    row = audit.read(action="export", path=tmp_path / "audit.sqlite3").row(0, named=True)
    assert row["result"] == "failed" and "chromium gone" in row["detail"]


def test_a_role_without_the_permission_gets_no_button(access, db):
    store = Store(db)
    viewer = Identity(email="view@site.example", name=None, role="viewer", signed_in=True)
    cap = _Capture()
    shown = door.download(_ctx(store, viewer), kind="patient_listing", name="x", label="CSV", key="k3",
                          build=lambda prov: b"", file_name="x.csv", mime="text/csv",
                          permission="export_patient_level", container=cap)
    assert shown is False and cap.calls == []


def test_figure_data_csv_suppresses_float_counts_for_real_data(access, db, tmp_path, monkeypatch):
    """The Survival page's curve data holds n_risk / n_event as floats: with suppression on
    (imported data) they are suppressed like integer counts; a weighted sum is not a count."""
    store = Store(db)
    dm = Identity(email="dm@site.example", name=None, role="data_manager", signed_in=True)
    ctx = _ctx(store, dm)
    monkeypatch.setattr(door, "suppress_default", lambda ctx: True)
    captured = {}
    monkeypatch.setattr(door.st, "download_button", lambda label, **kw: captured.update(kw))
    frame = pl.DataFrame({"group": ["A", "A", "B"], "time": [1.5, 2.5, 3.0], "n_risk": [40.0, 3.0, 12.0],
                          "n_event": [1.0, 0.0, 2.0], "weighted_n": [2.5, 1.2, 7.7]})
    assert door.count_columns_of(frame) == ["n_risk", "n_event"]
    door.csv_download(ctx, frame, label="Curve data (CSV)", name="curve", file_name="km.csv", key="km_csv")
    text = captured["data"]().decode()
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body[1] == "A,1.5,40.0,<5,2.5" and body[2] == "A,2.5,<5,0.0,1.2" and body[3] == "B,3.0,12.0,<5,7.7"
    assert "Small-cell suppression" in text and captured["file_name"] == "synthetic_km.csv"
