"""The core layer in Chinese: vocabulary labels, filter descriptions, URL notices, page
options, strategy labels, endpoint texts, statistics notes, store and audit messages.
English (the default) stays as it was; Chinese comes from core.po."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3

import pytest

from dashboard import audit
from dashboard.access import ROLE_LABELS, role_label
from dashboard.derive import ENDPOINTS, ORIGINS
from dashboard.filters import CHOICE_FIELDS, CohortFilter, Notice, PageOption, parse_query_params
from dashboard.i18n import language
from dashboard.queries.cohort import CONSORT_STRATEGY, EXCLUSION, STATUS
from dashboard.queries.organ import GROUP_VOCAB, subgroup_level_label
from dashboard.queries.safety import SAFETY_GROUP
from dashboard.queries.survival import FACTORS, GROUP_LABELS, TteRequest, origin_axis_label
from dashboard.schema import STRATEGY_GROUP, VOCABULARIES
from dashboard.stats.baseline import categorical_test, continuous_test
from dashboard.stats.cox import not_estimable_text
from dashboard.store import Store, StoreError

CJK = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")  # Han and CJK punctuation


def test_every_vocabulary_label_is_translated_and_keeps_its_code_form():
    """Each label has Chinese, except labels that are themselves codes clinicians write
    in Latin script (stages, grades, instrument names), which stay exactly as they are."""
    latin_only = re.compile(r"^[A-Za-z0-9 ./+()\-]+$")
    with language("zh"):
        for v in VOCABULARIES.values():
            for code, english in v.items:
                zh = v.label(code)
                if CJK.search(zh):
                    continue
                assert zh == english and latin_only.match(english), (v.name, code, english, zh)
        assert VOCABULARIES["strategy"].label("WW") == "观察等待"
        assert VOCABULARIES["sex"].labels == {"F": "女", "M": "男"}
        assert VOCABULARIES["sex"].label(None) == "缺失"
    assert VOCABULARIES["strategy"].label("WW") == "Watch & Wait"
    assert VOCABULARIES["sex"].source_labels == {"F": "Female", "M": "Male"}


def test_one_chinese_label_per_strategy_group_in_every_layer():
    """Issue 15: the long strategy-group labels of the schema, the survival factors, the
    forest subgroups, the safety columns and the CONSORT boxes name each group the same way."""
    with language("zh"):
        schema = STRATEGY_GROUP.labels
        assert schema["NOM"] == "观察等待（NOM）" and schema["RO"] == "根治性手术（RO）"
        factor = FACTORS["initial_group"]
        for code, _ in GROUP_LABELS:
            assert factor.label_of(code) == schema[code]
        short = {"NOM": "观察等待", "OPFS": "局部切除 / 内镜切除", "RO": "根治性手术", "SYSTEMIC": "仅全身治疗"}
        for code, want in short.items():
            assert SAFETY_GROUP.label(code) == want
            assert schema[code].startswith(want)
        assert GROUP_VOCAB.label("NOM") == schema["NOM"]
        assert CONSORT_STRATEGY.label("WW") == VOCABULARIES["strategy"].label("WW")
        # the missing-group label is one text wherever it appears
        assert (FACTORS["initial_group"].label_of(None) == SAFETY_GROUP.label("NONE") == CONSORT_STRATEGY.label("NONE")
                == subgroup_level_label("initial_group", "MISSING"))


def test_filter_description_in_both_languages():
    flt = CohortFilter(site=("RECTUM",), strategy=("WW", "MISSING"), age=(30, 80),
                       t0=(dt.date(2021, 1, 1), dt.date(2022, 6, 30)))
    assert flt.describe() == ["Tumour site: Rectum", "Initial strategy: Watch & Wait, No strategy recorded",
                              "Age 30-80 years", "T0 2021-01-01 to 2022-06-30"]
    with language("zh"):
        assert flt.describe() == ["肿瘤部位：直肠", "初始治疗策略：观察等待、未记录治疗策略", "年龄 30-80 岁",
                                  "T0 2021-01-01 至 2022-06-30"]
        for f in CHOICE_FIELDS:
            assert CJK.search(f.title) or f.title == f.label == "ECOG", f.key
            for code in f.codes:
                assert f.label_of(code)
    # .label stays the English source (the catalog's msgid) in every language
    with language("zh"):
        assert [f.label for f in CHOICE_FIELDS][:2] == ["Registry part", "Tumour site"]


def test_url_notices_follow_the_language_they_are_read_in():
    _, _, notices = parse_query_params({"site": ["NOPE"], "age": ["10", "300"], "foo": "1"})
    by = {n.param: n for n in notices}
    assert by["site"].reason == "not a known tumour site code"
    assert str(by["age"]) == "`age=10&300` ignored: outside 18-100"
    assert by["foo"].reason == "unknown parameter"
    with language("zh"):  # the same notice objects, read after a switch to Chinese
        assert by["site"].reason == "不是已知的肿瘤部位代码"
        assert by["age"].reason == "超出 18-100"
        assert str(by["foo"]) == "已忽略 `foo=1`：未知参数"
        _, _, zh = parse_query_params({"t0": ["2020-01-01", "x"]})
        assert zh[0].reason == "不是有效的日期（格式 `YYYY-MM-DD`）"
    # a notice made from plain English text (an older caller) still reads as that text
    assert Notice("x", "1", "some reason").reason == "some reason"


def test_page_option_labels_translate_and_keep_the_english_source():
    opt = PageOption("split", "Cohorts", (("combined", "All patients"), ("by_part", "Registry part")), "combined")
    assert opt.label_of("combined") == "All patients" and opt.label_of("weird") == "weird"
    with language("zh"):
        assert opt.label_of("combined") == "全部患者" and opt.label_of("by_part") == "登记部分"
        assert opt.label == "Cohorts" and opt.options[0][1] == "All patients"


def test_endpoint_texts_origins_and_axes_in_chinese():
    with language("zh"):
        from dashboard.i18n import gettext as _

        for ep in ENDPOINTS:
            for text in (ep.label, ep.definition, ep.population_text):
                assert CJK.search(_(text)), (ep.code, text)
            for src in (*ep.events, ep.censor, *ep.censor_early):
                assert CJK.search(_(src.description)), (ep.code, src.description)
        for _column, text in ORIGINS.values():
            assert CJK.search(_(text))
        assert _(ENDPOINTS[0].label) == "器官保留生存"
        assert origin_axis_label(TteRequest(origin="T1")) == "自 T1（治疗策略决策）起的月数"
        assert origin_axis_label(TteRequest(origin="LANDMARK", landmark=6)) == "自界标时间点（首次免疫治疗后 6 个月）起的月数"
        assert FACTORS["pcr"].label_of("AFTER_LANDMARK") == "界标时间点时尚未知"
    assert origin_axis_label(TteRequest(origin="T1")) == "Months from T1 (strategy decision)"


def test_derived_display_vocabularies_have_chinese():
    with language("zh"):
        for vocab in (STATUS, EXCLUSION, CONSORT_STRATEGY, SAFETY_GROUP):
            for code in vocab.codes:
                assert CJK.search(vocab.label(code)) or vocab.label(code) in ("ESD", "EMR", "ESD / EMR"), (vocab.name, code)


def test_statistics_notes_in_chinese():
    assert not_estimable_text(1) == "not estimable: 1 event"
    assert not_estimable_text(3, "Watch & Wait") == "not estimable: 3 events in Watch & Wait"
    with language("zh"):
        assert not_estimable_text(3) == "无法估计：3 个事件"
        assert not_estimable_text(1, "观察等待") == "无法估计：观察等待中 1 个事件"


def test_baseline_test_names_follow_the_language():
    import numpy as np

    table = np.array([[10, 20], [30, 15]])
    name, p = categorical_test(table)
    assert name == "Chi-square" and 0 < p < 1
    with language("zh"):
        assert categorical_test(table) == ("卡方检验", p)
        assert categorical_test(np.array([[1, 2], [3, 0]]))[0] == "Fisher 精确检验"
        assert continuous_test([np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0])])[0] == "Kruskal-Wallis 检验"


def test_roles_and_store_errors_in_chinese(tmp_path):
    assert role_label("data_manager") == "Data manager" and role_label(None) == "no role"
    with language("zh"):
        assert [role_label(r) for r in ROLE_LABELS] == ["查看者", "研究者", "数据管理员"]
        with pytest.raises(StoreError, match="没有登记数据库"):
            Store(tmp_path / "none.duckdb").cursor()


def test_audit_report_in_chinese_keeps_its_status_words(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_AUDIT_STATE", str(tmp_path / "state"))
    p = tmp_path / "audit.sqlite3"
    for i in range(4):
        audit.record("export", f"user{i}@h.example", {"i": i}, role="viewer", path=p)
    with language("zh"):
        report = audit.verify(p).report()
    assert report.startswith(f"审计追踪 {p}：4 行。") and "Intact: " in report and "每一行的 MAC" in report
    con = sqlite3.connect(p)
    con.execute("DROP TRIGGER audit_no_delete")
    con.execute("DELETE FROM audit WHERE id = 2")
    con.commit()
    con.close()
    with language("zh"):
        found = audit.verify(p)
        text = found.report()
    assert not found.ok and "TAMPERED: " in text and "缺少行号 2-2（行被删除）" in text
    assert "仅追加触发器已被删除" in text
