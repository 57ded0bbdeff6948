"""The translation layer: catalogs complete and fresh, placeholders and kept
abbreviations preserved, glossary terms used, no literal text reaching Streamlit
without the layer, the language switch (URL, session, browser, per-user preference)."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from dashboard import i18n, i18n_catalog
from dashboard.i18n import _, fmt_date, fmt_decimal, fmt_int, language, ngettext

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- catalogs
@pytest.mark.parametrize("domain", list(i18n.DOMAINS))
def test_catalog_is_complete_and_fresh(domain):
    """Fails on a message in the code but not in the catalog (or the reverse), an
    untranslated or fuzzy entry, a placeholder that differs between languages, a kept
    abbreviation lost or a glossary term not used. Fix: ``python -m dashboard i18n
    extract``, translate (``i18n todo`` / ``i18n apply``), ``i18n check``."""
    problems = i18n_catalog.check(domains=[domain])
    assert not problems, f"{len(problems)} catalog problem(s):\n" + "\n".join(map(str, problems[:60]))


def test_one_translation_per_message_across_catalogs():
    """The catalogs are merged at run time: a msgid translated two ways shows only one."""
    problems = i18n_catalog.conflicts()
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize(
    "msgid,msgstr,reason",
    [
        ("{n} of {m} patients", "{m} 例患者中的 {n} 例", None),
        ("{n} of {m} patients", "{m} 例患者中的例", "placeholders differ"),
        ("{n} of {m} patients", "{m} 例患者中的 {k} 例", "placeholders differ"),
        ("cCR at restaging", "再分期评估时 cCR", None),
        ("cCR at restaging", "再分期评估时临床完全缓解", "abbreviation 'cCR'"),
        ("Watch & Wait (NOM)", "观察等待（NOM）", None),
        ("Watch & Wait (NOM)", "等待观察（NOM）", "glossary term 'Watch & Wait'"),
        ("Hazard ratio (95% CI)", "风险比（95% CI）", None),
        ("Hazard ratio (95% CI)", "危险比（95% CI）", "glossary term 'hazard ratio'"),
        ("Export", "", "no translation"),
        ("**Note:** read this", "**注意：**请阅读", "Markdown shows the asterisks"),
        ("**Note:** read this", "**注意**：请阅读", None),
        ("Survival **(OPS)**", "生存**（OPS）**", "Markdown shows the asterisks"),
        ("Survival **(OPS)**", "生存 **（OPS）**", None),
    ],
)
def test_message_rules(msgid, msgstr, reason):
    problems = i18n_catalog.message_problems(msgid, msgstr, "zh")
    if reason is None:
        assert problems == []
    else:
        assert any(reason in p for p in problems), problems


def test_stale_catalog_is_caught(tmp_path, monkeypatch):
    """A msgid added to the code but not extracted is reported (the check can fail)."""
    template = i18n_catalog.extract("ui")
    real_extract = i18n_catalog.extract

    def with_new_message(domain):
        cat = real_extract(domain)
        if domain == "ui":
            cat.add("A message nobody has extracted yet", locations=[("src/dashboard/ui/x.py", None)])
        return cat

    monkeypatch.setattr(i18n_catalog, "extract", with_new_message)
    problems = i18n_catalog.check(domains=["ui"])
    assert any("nobody has extracted" in p.msgid and "not in the catalog" in p.reason for p in problems)
    assert len(template)  # the real template is not empty


def test_translation_and_fallback():
    with language("zh"):
        assert _("Survival") == "生存分析"
        assert _("A sentence that is not in any catalog") == "A sentence that is not in any catalog"
        assert i18n.get_language() == "zh"
    assert i18n.get_language() == "en"
    assert _("Survival") == "Survival"


def test_vocabulary_labels_follow_the_language():
    from dashboard.schema import COHORT

    assert COHORT.label("RETRO") == "Retrospective"
    with language("zh"):
        assert COHORT.label("RETRO") == "回顾性"
        assert COHORT.labels["PROSP"] == "前瞻性"
        assert COHORT.source_labels["PROSP"] == "Prospective"
        assert COHORT.label("NOT_A_CODE") == "NOT_A_CODE"


def test_plurals():
    assert ngettext("{n} patient", "{n} patients", 1).format(n=1) == "1 patient"
    assert ngettext("{n} patient", "{n} patients", 3).format(n=3) == "3 patients"


@pytest.mark.parametrize(
    "value,expected",
    [("zh", "zh"), ("zh-CN", "zh"), ("zh_Hans_CN", "zh"), ("zh-TW", "zh"), ("en-US", "en"), ("EN", "en"),
     ("fr-FR,zh;q=0.8", "zh"), ("fr", None), ("", None), (None, None), ("<script>", None)],
)
def test_normalise_language(value, expected):
    assert i18n.normalise_language(value) == expected


def test_locale_formatting():
    """Babel's CLDR data for both locales (the reference for grouping and dates)."""
    assert fmt_int(1234567) == "1,234,567"
    assert fmt_decimal(0.125, 2) == "0.12" or fmt_decimal(0.125, 2) == "0.13"
    assert fmt_decimal(12.0, 1) == "12.0"
    with language("zh"):
        assert fmt_int(1234567) == "1,234,567"
        assert fmt_date(dt.date(2026, 12, 1), "long") == "2026年12月1日"
    assert fmt_date(dt.date(2026, 12, 1), "long") == "1 December 2026"
    assert fmt_date(dt.date(2026, 12, 1), "iso") == "2026-12-01"


# ----------------------------------------------------------------------------- the door
# Streamlit calls whose text argument a person reads.
TEXT_CALLS = {
    "title", "header", "subheader", "markdown", "caption", "write", "info", "warning", "error", "success", "toast",
    "button", "toggle", "checkbox", "radio", "selectbox", "multiselect", "slider", "select_slider",
    "segmented_control", "pills", "text_input", "text_area", "number_input", "date_input", "file_uploader",
    "expander", "metric", "popover", "page_link", "form_submit_button", "link_button", "spinner", "status",
    "tabs", "set_page_config", "dialog", "exception",
}
TEXT_KEYWORDS = {"label", "help", "placeholder", "page_title", "caption", "title"}


def _literal_text(node: ast.AST) -> str | None:
    """The text of a string literal or f-string with words in it (None otherwise)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal_text(node.left) or _literal_text(node.right)
    elif isinstance(node, (ast.List, ast.Tuple)):
        return next((t for t in map(_literal_text, node.elts) if t), None)
    else:
        return None
    import re

    stripped = re.sub(r"<[^>]*>|:material/[a-z_]+:|\{[^}]*\}", " ", text)
    return text if re.search(r"[A-Za-z]{2,}", stripped) else None


def _ui_files() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "src/dashboard/ui").glob("*.py"))]


@pytest.mark.parametrize("path", _ui_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_literal_text_reaches_streamlit(path):
    """Every text a Streamlit call shows comes through ``_()`` (or a variable): a literal
    English string passed straight to ``st.markdown`` & co. is a second, quieter door."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in TEXT_CALLS):
            continue
        args = list(node.args[:1]) + [kw.value for kw in node.keywords if kw.arg in TEXT_KEYWORDS]
        if node.func.attr == "tabs":
            args = list(node.args[:1])
        for arg in args:
            text = _literal_text(arg)
            if text:
                bad.append(f"line {node.lineno}: {node.func.attr}({text[:70]!r})")
    assert not bad, "literal text outside the translation layer:\n" + "\n".join(bad)
