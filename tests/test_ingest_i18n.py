"""Import messages in Chinese: the reason is translated, the file, row, column and value stay
as data; placeholders are filled whatever order the translation puts them in."""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent / "malformed"))
import valid_registry as vr  # noqa: E402

from dashboard.i18n import language  # noqa: E402
from dashboard.ingest import ImportRejected, import_registry, validate_path  # noqa: E402
from dashboard.ingest.mapping import MappingError, parse_mapping  # noqa: E402
from dashboard.ingest.report import message_expr  # noqa: E402

CJK = re.compile(r"[\u4e00-\u9fff]")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def valid_dir(tmp_path_factory) -> Path:
    return vr.write_valid(tmp_path_factory.mktemp("valid") / "registry")


@pytest.fixture()
def broken(valid_dir, tmp_path) -> tuple[Path, dict[str, int]]:
    """The valid registry with one bad cell of each kind (cell, cross-table, key rule)."""
    d = tmp_path / "broken"
    shutil.copytree(valid_dir, d)
    rows = {
        "age": vr.set_cell(d, "subject", "S002", "age", "abc"),
        "sex": vr.set_cell(d, "subject", "S003", "sex", "X"),
        "end_date": vr.set_cell(d, "ici_exposure", "S001", "end_date", "2022-01-01"),  # before its start 2022-01-15
    }
    return d, rows


def _one(report, rule: str, column: str):
    hits = [p for p in report.problems if p.rule == rule and p.column == column]
    assert len(hits) == 1, report.format_grouped()
    return hits[0]


def test_refused_import_in_chinese_names_file_row_column(broken, valid_dir, tmp_path):
    folder, rows = broken
    db = tmp_path / "served.duckdb"
    import_registry(valid_dir, db, derive=False)
    before = sha(db)
    with language("zh"), pytest.raises(ImportRejected) as exc:
        import_registry(folder, db, derive=False)
    assert sha(db) == before, "a refused import changed the store"
    report = exc.value.report
    age = _one(report, "type_int", "age")
    assert (age.file, age.row, age.value) == ("subject.csv", rows["age"], "abc")
    assert age.message == "不是整数"
    sex = _one(report, "vocabulary", "sex")
    assert sex.row == rows["sex"] and sex.value == "X"
    assert sex.message.startswith("不是词表 'sex' 中的代码；允许：") and "F" in sex.message
    end = _one(report, "ici_end_before_start", "end_date")
    assert (end.file, end.row) == ("ici_exposure.csv", rows["end_date"])
    assert end.message == "ICI 结束日期 2022-01-01 早于开始日期 2022-01-15"
    # the exception text (what the CLI prints) is Chinese around the same file / row / column
    text = str(exc.value)
    assert text.startswith("导入被拒绝：3 个问题")
    assert f"subject.csv 列 age: type_int 第 {rows['age']} 行" in text
    assert "-> 只写整数（不写单位，不带小数）" in text
    assert "3 个错误，0 个警告，共 3 组。" in text
    assert report.language == "zh"


def test_same_problems_in_english_and_chinese(broken):
    folder, _ = broken
    en = validate_path(folder)
    with language("zh"):
        zh = validate_path(folder)
    cols = ["file", "row", "column", "value", "rule", "severity"]
    assert en.frame.select(cols).equals(zh.frame.select(cols))
    assert "not an integer" in en.frame["message"].to_list()
    for msg in zh.frame["message"]:
        assert CJK.search(msg), msg
        assert "{" not in msg and "}" not in msg, msg  # every placeholder filled
    assert en.language == "en"


def test_hints_and_labels_follow_the_viewer_not_the_report(broken):
    folder, _ = broken
    with language("zh"):
        report = validate_path(folder)
    hints_en = report.grouped()["hint"].to_list()  # shown later to an English reader
    assert "write whole numbers only (no units, no decimals)" in hints_en
    with language("zh"):
        g = report.grouped()
        assert "只写整数（不写单位，不带小数）" in g["hint"].to_list()
        assert "请核对两个日期：末次给药不能早于首次给药" in g["hint"].to_list()  # ici_end_before_start
        table = report.format()
        assert table.splitlines()[0].split()[:3] == ["严重程度", "文件", "行"]
        assert "错误" in table.splitlines()[2]


def test_reader_errors_in_chinese(valid_dir, tmp_path):
    d = tmp_path / "bin"
    shutil.copytree(valid_dir, d)
    (d / "ae.csv").write_bytes(b"%PDF-1.7 not a table")
    text = (d / "subject.csv").read_text(encoding="utf-8").replace("北京-PKUCH", "北京大学肿瘤医院")
    (d / "subject.csv").write_bytes(text.encode("gb18030"))  # a Chinese Excel's "CSV"
    with language("zh"):
        report = validate_path(d)
    pdf = [p for p in report.problems if p.file == "ae.csv" and p.rule == "file_binary"]
    assert pdf and pdf[0].message == "不是 CSV 文件：看起来是PDF 文档"
    enc = [p for p in report.problems if p.file == "subject.csv" and p.rule == "encoding_used"]
    assert enc and enc[0].message.startswith("该文件是 GB18030/GBK（中文版 Excel） 编码，不是 UTF-8（第一个非 UTF-8 字节位于字节偏移")
    assert "第 3 行）" in enc[0].message


def test_date_order_messages_in_chinese(valid_dir, tmp_path):
    d = tmp_path / "dates"
    shutil.copytree(valid_dir, d)
    line = vr.set_cell(d, "subject", "S001", "registration_date", "03/04/2022")
    with language("zh"):
        report = validate_path(d)
    amb = [p for p in report.problems if p.rule == "date_order_ambiguous"]
    assert amb and amb[0].file == "subject.csv" and amb[0].column == "registration_date"
    assert amb[0].message.startswith("1 个日期（如 '03/04/2022'）既可能是日/月/年")
    assert line == 2


def test_message_expr_fills_reordered_placeholders():
    df = pl.DataFrame({"a": ["1", None, "3"], "b": ["x", "y", "z"]})
    out = df.select(message_expr("{b} 在 {a} 之前（{a}）", a=pl.col("a"), b=pl.col("b"), c="unused")).to_series()
    assert out.to_list() == ["x 在 1 之前（1）", None, "z 在 3 之前（3）"]
    assert df.select(message_expr("no placeholder")).item() == "no placeholder"


def test_mapping_errors_in_chinese():
    with language("zh"), pytest.raises(MappingError) as exc:
        parse_mapping("[mapping\nname = 1", file="site.toml")
    assert str(exc.value).startswith("site.toml：不是有效的 TOML（")
    with pytest.raises(MappingError) as exc:
        parse_mapping("[mapping\nname = 1", file="site.toml")
    assert str(exc.value).startswith("site.toml: not valid TOML (")


# ---------------------------------------------------------------------------------------
# Every input of the import corpus (tests/ingest_corpus) validated in Chinese: the same
# problems as in English (file, row, column, rule, severity), every reason translated and
# every placeholder filled; the text report the CLI prints is built without error.
# ---------------------------------------------------------------------------------------
sys.path.insert(0, str(Path(__file__).parent))
from ingest_corpus import corpus  # noqa: E402
from ingest_corpus.corpus import CASES  # noqa: E402

from dashboard.ingest.normalise import Options  # noqa: E402

# English left inside a Chinese message on purpose: column names, codes, file names,
# options and the values quoted from the file.
_LATIN_OK = re.compile(r"[A-Za-z0-9_.\-/]+")


@pytest.fixture(scope="module")
def corpus_typed(tmp_path_factory):
    d = corpus.vr.write_valid(tmp_path_factory.mktemp("valid") / "registry")
    return validate_path(d).tables


@pytest.mark.parametrize("case", [c for c in CASES if c.rule is not None or c.warns], ids=lambda c: c.id)
def test_corpus_case_in_chinese(case, corpus_typed, tmp_path):
    inp = case.build(tmp_path / "in", corpus_typed)
    opts = Options(**case.options) if case.options else Options()
    en = validate_path(inp, options=opts)
    with language("zh"):
        zh = validate_path(inp, options=opts)
        zh.format(max_rows=None)
        grouped = zh.format_grouped(max_rows=None)
    cols = ["file", "row", "column", "rule", "severity"]
    cut = pl.col("column").str.replace(r"(\.\.\.|……).*$", "")  # a long header name is cut with a translated note
    assert en.frame.select(cols).with_columns(cut).equals(zh.frame.select(cols).with_columns(cut)), case.id
    for en_msg, zh_msg in zip(en.frame["message"], zh.frame["message"]):
        assert zh_msg is not None and "{" not in zh_msg.replace("{ column", ""), zh_msg
        assert CJK.search(zh_msg), f"untranslated: {zh_msg!r} (English: {en_msg!r})"
    assert grouped.rstrip().endswith("组。")


# ---------------------------------------------------------------------------- mapping
MINIMAL_MAPPING = """
[mapping]
name = "t"
format_version = 1
[source]
date_order = "DMY"
[constants.subject]
cohort = "RETRO"
centre = "X"
eligibility = "ELIGIBLE"
biomarker_basis = "DMMR_IHC"
tumour_site = "RECTUM"
[tables.subject]
subject_id = { source = "id", template = "S-{value}" }
registration_date = "d0"
age = "age"
sex = { source = "sex", values = { "男" = "M", "女" = "F" } }
[tables.follow_up]
last_contact_date = "d1"
vital_status = { source = "status", values = { alive = "ALIVE", dead = "DEAD" } }
"""


def test_mapped_source_problems_in_chinese(tmp_path):
    from dashboard.ingest.mapping import map_path
    from dashboard.ingest.preview import preview_result

    src = tmp_path / "site.csv"
    src.write_text("id,d0,age,sex,d1,status,MRN\n1,03/04/2024,61,男,01/05/2024,alive,123\n"
                   "2,31/02/2024,61,unknown-x,01/05/2024,alive,456\n3,03/04/2024,abc,女,01/03/2024,alive,789\n",
                   encoding="utf-8")
    mapping = parse_mapping(MINIMAL_MAPPING, "site.toml")
    with language("zh"):
        result = map_path(src, mapping)
        preview = preview_result(result)
    by_rule = {p.rule: p for p in result.problems}
    sex = by_rule["unmapped_value"]
    assert (sex.file, sex.row, sex.column, sex.value) == ("site.csv", 3, "sex", "unknown-x")
    assert sex.message == "subject.sex: 'unknown-x' 在 subject.sex 的值映射中没有代码"
    date = by_rule["date_invalid"]
    assert (date.row, date.column) == (3, "d0") and date.message.startswith("subject.registration_date: '31/02/2024' 不是真实存在的日期")
    mrn = by_rule["unmapped_column"]
    assert mrn.severity == "warning" and mrn.message == "源列 'MRN'（3 个非空单元格）未被映射；请映射它或将其列入 mapping.ignore"
    # the validator's problems on the mapped rows are named at the source row, in Chinese
    late = [p for p in preview.report.problems if p.rule == "after_last_contact"]
    assert [(p.file, p.row) for p in late] == [("site.csv", 4)]
    assert late[0].message == "subject: subject.registration_date 2024-04-03 晚于末次联系日期 2024-03-01"
    with language("zh"):
        table = preview.report.format()
    assert table.splitlines()[0].split() == ["严重程度", "文件", "行", "列", "规则", "值", "说明"]


@pytest.mark.parametrize("edit, where", [
    (("format_version = 1", "format_version = 2"), "format_version"),
    (('"男" = "M"', '"男" = "MALE"'), "values"),
    (("[tables.follow_up]", "[tables.followup]"), "followup"),
    (('age = "age"', 'age = { source = "age", frobnicate = 1 }'), "frobnicate"),
    (('date_order = "DMY"', 'date_order = "DDMM"'), "date_order"),
])
def test_bad_mapping_in_chinese_names_the_file_and_key(edit, where):
    with language("zh"), pytest.raises(MappingError) as e:
        parse_mapping(MINIMAL_MAPPING.replace(*edit), "site.toml")
    text = str(e.value)
    assert "site.toml" in text and where in text and CJK.search(text), text
