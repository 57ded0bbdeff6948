"""The ui layer in Chinese: page controls, captions and report sections follow the
language; a download is built in the language the page was shown in (its callback runs
outside the script run); the ui catalog's bold spans still render as bold next to
Chinese punctuation (CommonMark's flanking rules)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from streamlit.testing.v1 import AppTest

from builders import served_demo
from dashboard.ui.export import OPEN_SUFFIX
from dashboard import i18n
from dashboard.i18n import _, language

ROOT = Path(__file__).resolve().parents[1]
UI_PO = ROOT / "src/dashboard/locale/zh_CN/LC_MESSAGES/ui.po"


# ----------------------------------------------------------------------------- bold spans
def _space(c: str | None) -> bool:
    return c is None or c.isspace()


def _punct(c: str | None) -> bool:
    return c is not None and unicodedata.category(c)[0] in "PS"


def broken_bold(text: str) -> list[str]:
    """``**`` runs that CommonMark (Streamlit's markdown) will not read as the opener or
    closer they pair as: a closer after punctuation must be followed by space or
    punctuation ("**标题：**正文" shows its asterisks; "**标题**：正文" is bold)."""
    runs = [m.start() for m in re.finditer(r"(?<!\\)\*\*", text)]
    bad = []
    for i, pos in enumerate(runs):
        before = text[pos - 1] if pos else None
        after = text[pos + 2] if pos + 2 < len(text) else None
        opener = not _space(after) and (not _punct(after) or _space(before) or _punct(before))
        closer = not _space(before) and (not _punct(before) or _space(after) or _punct(after))
        if not (opener if i % 2 == 0 else closer):
            bad.append(text[max(0, pos - 10):pos + 12])
    return bad


@pytest.mark.parametrize("text,ok", [
    ("**Small groups:** A (3 patients).", True),
    ("**小样本组**：A（3 例患者）。", True),
    ("**小样本组：**A（3 例患者）。", False),
    ("安全性分析集：所选患者中 **1,982** 例。", True),
    ("不算器官丧失。**Kaplan-Meier OPS** 纳入", True),
    ("不算器官丧失**。Kaplan-Meier OPS** 纳入", False),
])
def test_the_bold_check_knows_commonmark(text, ok):
    assert (broken_bold(text) == []) is ok


def test_ui_translations_keep_their_bold_spans():
    """Each translation as drawn: placeholders filled with Chinese, a number or a
    parenthesised label; a Chinese full stop before it and text after it (pages run
    Chinese sentences together with :func:`dashboard.ui.text.sentences`)."""
    with UI_PO.open("rb") as fh:
        catalog = read_po(fh)
    bad = {}
    for m in catalog:
        if not m.id:
            continue
        for s in [m.string] if isinstance(m.string, str) else list(m.string):
            for value in ("字", "1", "（X）"):
                found = broken_bold("。" + re.sub(r"\{[^{}]*\}", value, s or "") + "字")
                if found:
                    bad[m.id if isinstance(m.id, str) else m.id[0]] = found
    assert not bad, bad


# ----------------------------------------------------------------------------- the export door
class _Capture:
    """Stands in for ``st`` as the download's container: keeps the ``data`` callable."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def download_button(self, label, **kwargs):
        self.calls.append({"label": label, **kwargs})


def test_a_download_is_built_in_the_language_the_page_was_shown_in(tmp_path):
    from dashboard.filters import CohortFilter
    from dashboard.ui.export import ExportScope, download

    scope = ExportScope(actor="tester", role="data_manager", identity=None, meta={"source": "synthetic"},
                        filter=CohortFilter(), n=10, m=12, audit_path=tmp_path / "audit.sqlite3", synthetic=True)
    seen = []

    def build(prov) -> bytes:
        seen.append(i18n.get_language())
        return _("Survival").encode()

    box = _Capture()
    with language("zh"):
        assert download(scope, kind="table", name="t", label=_("Export table"), build=build, file_name="t.csv",
                        mime="text/csv", key="k", container=box)
    assert box.calls[0]["label"] == "导出表格"
    assert i18n.get_language() == "en"  # the click comes later, outside the page's run
    assert box.calls[0]["data"]().decode() == "生存分析"
    assert seen == ["zh"]
    box = _Capture()
    download(scope, kind="table", name="t", label="x", build=build, file_name="t.csv", mime="text/csv", key="k2",
             container=box)
    assert box.calls[0]["data"]() == b"Survival" and seen == ["zh", "en"]


def test_a_refused_download_says_so_in_the_page_language(tmp_path, monkeypatch):
    from dashboard.filters import CohortFilter
    from dashboard.ui import export

    scope = export.ExportScope(actor="tester", role="data_manager", identity=None, meta={}, filter=CohortFilter(),
                               n=1, m=1, audit_path=tmp_path / "audit.sqlite3", synthetic=True)
    box = _Capture()
    with language("zh"):
        export.download(scope, kind="table", name="t", label="x", build=lambda prov: b"", file_name="t.csv",
                        mime="text/csv", key="k", container=box)
    monkeypatch.setattr(export, "_role_at_click", lambda scope: None)  # role removed since the page was drawn
    refused = box.calls[0]["data"]().decode()
    assert refused.startswith("导出被拒绝") and "审计追踪" in refused


# ----------------------------------------------------------------------------- pages
@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "i18n_ui", 300, 17)


def _run(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    at.query_params = query
    at.run()
    assert not at.exception, at.exception
    return at


def test_survival_controls_and_text_follow_the_language(db):
    zh = _run("pages/2_Survival.py", {"lang": "zh"})
    assert "加权比较（IPTW）" in zh.segmented_control(key="view").options
    assert zh.selectbox(key="endpoint").label == "终点"
    assert "OS：总生存" in zh.selectbox(key="endpoint").options
    assert "估计值" in [s.value for s in zh.subheader]
    assert any("Brookmeyer-Crowley 法" in c.value for c in zh.caption)
    en = _run("pages/2_Survival.py", {"lang": "en"})
    assert "Weighted comparison (IPTW)" in en.segmented_control(key="view").options
    assert "OS: overall survival" in en.selectbox(key="endpoint").options
    assert "Estimates" in [s.value for s in en.subheader]


def test_sidebar_and_export_popover_in_chinese(db):
    at = _run("app.py", {"lang": "zh"})
    assert at.button(key="flt_reset_button").label == "重置全部筛选"
    assert [e.label for e in at.sidebar.expander][:2] == ["患者与肿瘤", "治疗与疗效"]
    assert at.sidebar.multiselect(key="flt_site").placeholder == "全部"
    assert any("例接受免疫治疗且符合入组条件" in m.value for m in at.sidebar.markdown)
    assert any("模拟演示数据——非真实患者。" in m.value for m in at.main.markdown)
    assert {"已登记", "已排除", "全分析集", "再分期评估时 cCR"} <= {m.label for m in at.metric}
    # the export popovers are drawn closed and empty (issue 18): open one, its controls are Chinese
    pops = [p for p in at.get("popover") if p.proto.id.endswith(OPEN_SUFFIX)]
    assert pops and not any(r.label == "格式" for r in at.radio)
    at.session_state[pops[0].proto.id.rsplit("-", 1)[-1]] = True
    at.run()
    formats = [r for r in at.radio if r.label == "格式"]  # the export popover's first control
    assert formats and "HTML（带格式）" in formats[0].options


def test_report_sections_are_titled_in_the_report_language(db):
    from dashboard.filters import CohortFilter
    from dashboard.store import Store
    from dashboard.ui.report import collect_sections

    store = Store(db)
    pages = [("Overview", "dashboard.ui.overview:report_section"), ("Safety", "dashboard.ui.safety:report_section")]
    with language("zh"):
        zh = collect_sections(store, CohortFilter(), pages)
    en = collect_sections(store, CohortFilter(), pages)
    assert [s.page for s in zh] == ["概览", "安全性"] and [s.page for s in en] == ["Overview", "Safety"]
    assert zh[0].items[0].title == "登记概况" and en[0].items[0].title == "Registry at a glance"
    assert zh[1].items[0].title == "按系统器官分类和首选术语的免疫治疗不良事件"


def test_a_format_func_keeps_the_language_it_was_made_in():
    """Streamlit and AppTest call a widget's ``format_func`` again later (to match the
    value sent back to a label), from a thread where the page's language is not set."""
    from dashboard.filters import PageOption
    from dashboard.ui.page import option_label

    option = PageOption("x_test", "Show", (("a", "Survival"), ("b", "Safety")), "a")
    with language("zh"):
        fmt = option_label(option)
    assert i18n.get_language() == "en"
    assert [fmt("a"), fmt("b")] == ["生存分析", "安全性"]
