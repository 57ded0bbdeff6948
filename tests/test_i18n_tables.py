"""The tables layer in Chinese: display tables, the provenance footer and data-status
banner, export files (CSV label line, XLSX labels sheet, language stamp) and the MDT
report PDF (CJK font embedded, running header and page numbers in Chinese). English
behaviour is covered by test_export.py / test_report.py / the table tests."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from dashboard.i18n import language
from dashboard.provenance import Provenance, wrap_text
from dashboard.render import text_width
from dashboard.tables.export import column_labels, mask_identifiers, table_bytes, translate_headers

META = {"source": "synthetic", "seed": 20260715, "generator_version": "3", "built_at": "2026-11-30T08:00:00Z",
        "content_hash": "0123456789abcdef0123"}
CODES = pl.DataFrame({"subject_id": ["NORMP-0001", "NORMP-0002"], "time": [3.5, 12.0], "n_risk": [120, 80],
                      "survival": [0.95, 0.81]})
needs_chromium = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no Chromium")


@pytest.fixture()
def prov():
    return Provenance.from_meta(META, n=40, m=2000)


# ------------------------------------------------------------------ provenance
def test_provenance_footer_is_in_the_export_language_and_stays_labelled_synthetic(prov):
    en = prov.lines()
    assert en[0].startswith("SYNTHETIC DATA - not real patients. Synthetic demonstration registry (seed 20260715")
    assert en[2].endswith("language: English.")
    with language("zh"):
        zh = prov.lines()
        rows = dict(prov.as_rows())
    assert zh[0].startswith("模拟数据——非真实患者。模拟演示登记库（随机种子 20260715，生成器 3）")
    assert "0123456789ab" in zh[0] and "2026-11-30" in zh[0]
    assert zh[1] == "筛选条件：无（全部登记患者）。N = 40（登记总数 2,000）。"
    assert zh[2].endswith("语言：简体中文。")
    assert rows["data"] == "模拟演示数据——非真实患者" and rows["language"] == "zh (简体中文)"
    assert prov.detail == "seed 20260715, generator 3"  # the stored English detail is unchanged


def test_imported_data_is_not_called_synthetic_in_chinese():
    p = Provenance.from_meta({**META, "source": "imported", "import_format": "REDCap"})
    with language("zh"):
        assert p.lines()[0].startswith("导入的登记数据（REDCap 导出）")
        assert "模拟" not in " ".join(p.lines())


def test_cjk_text_wraps_between_characters_at_double_width():
    text = "模拟数据——非真实患者。模拟演示登记库（随机种子 20260715，生成器 3），构建于 2026-11-30。"
    lines = wrap_text(text, 24)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert len(lines) > 2 and all(text_width(line) <= 24 for line in lines)
    latin = "Filters: none (all registered patients)."
    assert wrap_text(latin, 20) == ["Filters: none (all", "registered", "patients)."]  # as textwrap, at spaces


# ------------------------------------------------------------------ display tables
def test_table1_headers_and_labels_follow_the_language():
    from dashboard.stats.baseline import summarize_baseline
    from dashboard.tables.baseline import format_baseline_html, format_baseline_table, table1_options

    from dashboard.stats.baseline import BaselineVariable

    df = pl.DataFrame({"initial_group": ["NOM", "NOM", "RO", "RO", "RO"], "age": [55.0, 61.0, 70.0, 48.0, None],
                       "sex": ["F", "M", "M", "F", "M"]})
    variables = (BaselineVariable("age", "Age", "continuous", unit="years"),
                 BaselineVariable("sex", "Sex", "categorical", (("F", "Female"), ("M", "Male"))))
    en = format_baseline_table(summarize_baseline(df, variables, table1_options()), variables)
    with language("zh"):
        zh = format_baseline_table(summarize_baseline(df, variables, table1_options()), variables)
        page = format_baseline_html(zh)
    assert en.columns[1] == "Characteristic" and en.columns[-3:] == ["p-value", "SMD", "Test"]
    assert zh.columns[1] == "特征" and zh.columns[-3:] == ["p 值", "SMD", "检验方法"]
    assert any(c.startswith("观察等待 (n=2)") for c in zh.columns)
    assert zh["特征"].to_list()[:3] == ["年龄，岁，中位数（IQR）", "缺失", "性别，n（%）"]
    assert zh["kind"].to_list() == en["kind"].to_list()  # codes stay codes
    assert "特征" in page and "Characteristic" not in page


def test_ae_table_keeps_the_column_the_page_reads_and_shows_it_translated():
    from dashboard.stats.safety import summarize_ae_table
    from dashboard.tables.safety import AE_LABEL_COLUMN, format_ae_html, format_ae_table

    events = pl.DataFrame({"subject_id": ["A", "B"], "group": ["NOM", "RO"], "soc": ["GI", "GI"],
                           "term": ["Diarrhoea", "Colitis"], "grade": [2, 3]})
    den = pl.DataFrame({"group": ["NOM", "RO"], "n": [10, 12]})
    table = summarize_ae_table(events, den, ("NOM", "RO"))
    with language("zh"):
        display = format_ae_table(table, {"NOM": "观察等待", "RO": "根治性手术"})
        page = format_ae_html(display)
        exported = translate_headers(display.drop("row_type", "soc", "term"))
    assert AE_LABEL_COLUMN in display.columns  # the page code selects it by this name
    assert display[AE_LABEL_COLUMN][0] == "任何免疫治疗不良事件"
    assert any(c.startswith("全部患者 (N=22) · 任意级别") for c in display.columns)
    assert "系统器官分类（SOC）<br>/ 首选术语（PT）" in page and "System organ class" not in page
    assert exported.columns[0] == "系统器官分类（SOC） / 首选术语（PT）"  # what the export door writes


def test_listing_identifiers_are_masked_under_their_translated_header():
    with language("zh"):
        listing = pl.DataFrame({"患者": ["NORMP-0007", "NORMP-0003", "NORMP-0007"], "分级": [3, 2, 1]})
        masked = mask_identifiers(listing, ("Patient",))  # the page names the English header
    assert masked["患者"].to_list() == ["患者 1", "患者 2", "患者 1"]
    assert mask_identifiers(pl.DataFrame({"Patient": ["X"]}), ("Patient",))["Patient"].to_list() == ["Patient 1"]


# ------------------------------------------------------------------ export files
def test_csv_keeps_code_headers_and_adds_a_label_line_in_the_export_language(prov):
    with language("zh"):
        data = table_bytes(CODES, "csv", "生存估计", prov)
    text = data.decode("utf-8")
    assert text.splitlines()[0] == "subject_id,time,n_risk,survival"
    assert pl.read_csv(io.BytesIO(data), comment_prefix="#").equals(CODES)  # still machine-readable
    comments = [x for x in text.splitlines() if x.startswith("#")]
    assert comments[0] == "# 生存估计"
    assert comments[1].startswith("# 模拟数据——非真实患者。")
    assert comments[-1] == "# labels: 患者编号,时间，月,风险人数,生存率"
    assert any("语言：简体中文" in c for c in comments)
    # display headers need no label line; in English a display table's file is as before
    english = table_bytes(pl.DataFrame({"Site": ["Rectum"], "Patients": [3]}), "csv", "t", prov).decode()
    assert "# labels:" not in english


def test_xlsx_in_chinese_has_translated_sheets_labels_and_language(prov):
    import openpyxl

    with language("zh"):
        wb = openpyxl.load_workbook(io.BytesIO(table_bytes(CODES, "xlsx", "生存估计", prov, suppress_below=5)))
    assert wb.sheetnames == ["表格", "数据来源", "列标签"]
    rows = list(wb["表格"].iter_rows(values_only=True))
    assert rows[0][0] == "生存估计" and list(rows[2]) == CODES.columns
    labels = list(wb["列标签"].iter_rows(values_only=True))
    assert labels[0] == ("列", "标签（简体中文）")
    assert labels[1:] == [("subject_id", "患者编号"), ("time", "时间，月"), ("n_risk", "风险人数"), ("survival", "生存率")]
    meta = {r[0]: (r[1], r[2]) for r in wb["数据来源"].iter_rows(values_only=True)}
    assert meta["data"] == ("模拟演示数据——非真实患者", "数据")
    assert meta["language"] == ("zh (简体中文)", "语言")
    assert meta["suppression"][0] == "计数 1-4 显示为 <5"


def test_html_export_declares_its_language_and_bolds_the_synthetic_label(prov):
    with language("zh"):
        page = table_bytes(pl.DataFrame({"部位": ["直肠"], "患者数": [3]}), "html", "按部位", prov,
                           suppress_below=5).decode()
    assert '<html lang="zh-CN">' in page and "Noto Sans CJK SC" in page
    assert "<b>模拟数据——非真实患者</b>" in page
    assert "小样本单元格隐藏" in page and "&lt;5" in page


def test_column_labels_fall_back_to_the_header():
    with language("zh"):
        assert column_labels(["n_risk", "Patients", "unknown_code"]) == ["风险人数", "患者数", "unknown_code"]


# ------------------------------------------------------------------ MDT report
@pytest.fixture(scope="module")
def zh_report_pdf():
    from dashboard.report import ReportItem, ReportSection, build_report, report_pdf

    prov = Provenance.from_meta(META, n=40, m=2000)
    table = pl.DataFrame({"组别": ["观察等待（W&W）", "根治性手术（RO）"], "患者数": ["21", "19"],
                          "事件数": ["3", "6"]})
    sections = [ReportSection("生存分析", (ReportItem("总生存（OS）", table, caption="Kaplan-Meier 法估计。"),))]
    with language("zh"):
        html = build_report(sections, prov, meta={"cutoff_date": "2026-11-30"}).decode()
        pdf = report_pdf(html)
    return html, pdf


@needs_chromium
def test_chinese_report_html_is_chinese_and_labelled_synthetic(zh_report_pdf):
    html, _ = zh_report_pdf
    assert '<html lang="zh-CN">' in html and "'Noto Sans CJK SC'" in html
    assert "<h1>MDT 报告</h1>" in html and "<b>目录</b>" in html
    assert "<b>模拟演示数据——非真实患者。</b>" in html
    assert "数据截止日期" in html and "2026-11-30" in html
    assert "content='MDT 报告——模拟数据，非真实患者'" in html
    import html as html_lib

    body = html_lib.unescape(re.sub(r"<style>.*?</style>|<[^>]+>", " ", html, flags=re.S))
    left = set(re.findall(r"[A-Za-z]{3,}", body)) - {"MDT", "NOR", "NCT", "Kaplan", "Meier"}
    assert not left, left  # no English words the report writes itself


@needs_chromium
@pytest.mark.skipif(not shutil.which("pdffonts") or not shutil.which("pdftotext"), reason="no poppler-utils")
def test_chinese_report_pdf_embeds_noto_cjk_and_numbers_pages_in_chinese(zh_report_pdf, tmp_path):
    _, pdf = zh_report_pdf
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    cjk = [line for line in fonts.splitlines() if "NotoSansCJKsc" in line]
    assert cjk and all(re.search(r"CID TrueType\s+Identity-H\s+yes\s+yes\s+yes", line) for line in cjk), fonts
    flags = [re.search(r"(yes|no)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+\s*$", line) for line in fonts.splitlines()[2:]]
    assert flags and all(f and f.group(1) == "yes" for f in flags), fonts  # every font embedded
    assert "Type 3" not in fonts, fonts  # body, bold, running header and footer: all named TrueType fonts
    assert any("NotoSansCJKsc-Bold" in line for line in fonts.splitlines())  # bold CJK is the bold face
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    pages = [re.sub(r" {2,}", " ", re.sub(r"(?<=[^\x00-\x7f]) +(?=[^\x00-\x7f])", "", p)) for p in text.split("\f")]
    text = "\f".join(pages)
    assert "第 1 页，共" in pages[0] and "MDT 报告——模拟数据，非真实患者" in pages[0]
    assert "模拟演示数据——非真实患者" in text and "观察等待" in text
    assert "Page 1 of" not in text
