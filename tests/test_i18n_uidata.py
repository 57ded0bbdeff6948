"""The ui_data layer in Chinese (Data page, patient timeline, overdue list, methods views):
nothing its catalog holds is left in English on the page, in normal and presentation
mode, and the page's own headings and table headers are the catalog's Chinese. (The
whole-page check of every layer is tests/test_i18n_pages.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from streamlit.testing.v1 import AppTest

from builders import served_demo
from dashboard.i18n_catalog import po_path
from i18n_scan import page_strings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "i18n_uidata", 300, 13)


def _fragments() -> list[str]:
    """The English text of every ui_data message up to its first placeholder (long enough
    to be a sentence of ours, not a short label another layer may use too)."""
    with po_path("zh", "ui_data").open("rb") as fh:
        catalog = read_po(fh)
    out = set()
    for m in catalog:
        msgid = m.id if isinstance(m.id, str) else (m.id[0] if m.id else "")
        head = msgid.split("{")[0].strip(" *(:")
        if len(head) >= 22:
            out.add(head)
    return sorted(out)


def _app(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=180)
    at.query_params = {"lang": "zh", **query}
    return at.run()


VIEWS = [
    ("pages/7_Data.py", {}),
    ("pages/6_Patient_timeline.py", {"patient": "NOR-0000001"}),
    ("pages/6_Patient_timeline.py", {"view": "overdue"}),
    ("pages/4_Safety.py", {"section": "rates"}),
    ("pages/3_Organ_preservation.py", {"section": "pathway"}),
]


@pytest.mark.parametrize("present", ["0", "1"], ids=["normal", "presentation"])
@pytest.mark.parametrize("page,query", VIEWS, ids=lambda v: str(v))
def test_no_ui_data_message_left_in_english(db, page, query, present):
    at = _app(page, {**query, "present": present})
    assert not at.exception, at.exception
    texts = [text for _, text in page_strings(at)]
    assert len(texts) > 20  # the page was drawn
    fragments = _fragments()
    left = sorted({f for f in fragments for t in texts if f in t})
    assert not left, f"ui_data messages still in English on {page} {query}: {left[:20]}"


def test_data_page_headings_and_tables_in_chinese(db):
    at = _app("pages/7_Data.py", {})
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader] == ["当前数据集", "数据质量", "导入登记数据",
                                               "导入中心自有的电子表格（映射向导）", "审计追踪"]
    assert any(m.value == "模拟（演示）" for m in at.metric)
    counts = [d.value for d in at.dataframe if "表" in d.value.columns and "行数" in d.value.columns][0]
    assert dict(zip(counts["表"], counts["行数"]))["subject"] == 300  # table names stay canonical codes
    audit_tables = [d.value for d in at.dataframe if "操作" in d.value.columns]
    assert audit_tables and "detail" not in audit_tables[0].columns


def test_overdue_list_in_chinese_keeps_ids_and_masks_them_when_presenting(db):
    at = _app("pages/6_Patient_timeline.py", {"view": "overdue"})
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table.columns)[:3] == ["患者", "肿瘤部位", "检查"] and "逾期天数" in table.columns
    assert table["患者"].str.startswith("NOR-").all()
    shown = _app("pages/6_Patient_timeline.py", {"view": "overdue", "present": "1"})
    text = " ".join(str(t) for _, t in page_strings(shown))
    assert "NOR-" not in text
