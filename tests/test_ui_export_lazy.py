"""Export popovers are drawn closed and empty (issue 18): their controls are sent only while
one is open (a fragment reruns only that popover), the choices survive closing it and a
language switch, and every download still goes through the one audited door."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from builders import served_demo
from dashboard.ui import export as door

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "export_lazy", 300, 5)


def _pop_keys(at) -> list[str]:
    return [p.proto.id.split("-", 2)[-1] for p in at.get("popover") if p.proto.id.endswith(door.OPEN_SUFFIX)]


def _fig_key(at) -> str:
    return next(k for k in _pop_keys(at) if k.startswith("exp_fig_"))


def test_closed_popovers_send_no_controls_and_open_one_draws_them(db):
    at = AppTest.from_file(str(ROOT / "pages" / "1_Cohort.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    keys = _pop_keys(at)
    assert any(k.startswith("exp_fig_") for k in keys)
    assert not at.main.radio and not [b for b in at.get("download_button") if b.proto.id.endswith("_dl")]
    fig = _fig_key(at)
    at.session_state[fig] = True
    at.run()
    base = fig.removesuffix(door.OPEN_SUFFIX)
    assert [r.key for r in at.main.radio if r.key.startswith(base)] == [f"{base}_fmt", f"{base}_size", f"{base}_footer",
                                                                   f"{base}_dpi", f"{base}_cap"]
    drawn = at.session_state[door.DOOR_KEYS]
    assert f"{base}_dl" in drawn  # the download button is the door's
    # only the opened popover has controls
    assert {r.key.rsplit("_", 1)[0] for r in at.main.radio} == {base}


def test_choices_survive_closing_and_a_language_switch(db):
    at = AppTest.from_file(str(ROOT / "pages" / "1_Cohort.py"), default_timeout=120)
    at.run()
    fig = _fig_key(at)
    base = fig.removesuffix(door.OPEN_SUFFIX)
    at.session_state[fig] = True
    at.run()
    at.main.radio(key=f"{base}_fmt").set_value("svg")
    at.main.radio(key=f"{base}_size").set_value("single")
    at.run()
    assert at.main.radio(key=f"{base}_fmt").value == "svg"
    at.session_state[fig] = False  # closed: nothing drawn, the choice is kept
    at.run()
    assert not at.main.radio
    at.segmented_control(key="lang").set_value("zh").run()  # new labels: new widgets
    assert not at.exception, at.exception
    fig_zh = _fig_key(at)
    at.session_state[fig_zh] = True
    at.run()
    fmt = at.main.radio(key=f"{base}_fmt")
    assert fmt.label == "格式" and fmt.value == "svg"
    assert at.main.radio(key=f"{base}_size").value == "single"
    assert any(b.label == "下载 SVG" for b in at.get("download_button")), [b.label for b in at.get("download_button")]
