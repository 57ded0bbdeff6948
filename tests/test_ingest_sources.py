"""A site's own sheet (the mapping's source) below title rows: the header found under them,
the title rows reported, row numbers kept as the sheet shows them (issue 12)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import polars as pl
import pytest

from dashboard.ingest.mapping import SOURCE_FILE, SOURCE_ROW, load_mapping, map_path
from dashboard.ingest.model import locate_header, title_rows
from dashboard.ingest.sources import ROW, read_source

EX = Path(__file__).resolve().parent.parent / "docs" / "examples"
TITLE = "北京大学肿瘤医院 直肠癌等待观察 数据库 2019-2024"


def _titled(src: Path, out: Path, rows: list[str | None]) -> Path:
    """The workbook with ``rows`` inserted above the first sheet's header (a string = a title
    merged across the table, None = an empty row), as a surgeon's sheet often starts."""
    wb = openpyxl.load_workbook(src)
    ws = wb.worksheets[0]
    width = ws.max_column
    ws.insert_rows(1, len(rows))
    for i, text in enumerate(rows, start=1):
        if text is not None:
            ws.cell(i, 1, text)
            ws.merge_cells(start_row=i, start_column=1, end_row=i, end_column=width)
    wb.save(out)
    return out


@pytest.mark.parametrize("rows", [[TITLE, None], [None, TITLE, "导出日期：2024-06-30", None]], ids=["title", "empty-title-subtitle"])
def test_mapped_sheet_below_title_rows_maps_like_the_original(tmp_path, rows):
    src = EX / "chinese_surgeon_workbook.xlsx"
    mapping = load_mapping(EX / "chinese_surgeon_workbook.mapping.toml")
    titled = _titled(src, tmp_path / "titled.xlsx", rows)
    base, got = map_path(src, mapping), map_path(titled, mapping)
    shift = len(rows)
    first_sheet = f"[{openpyxl.load_workbook(src).sheetnames[0]}]"
    for t, want in base.tables.items():
        have = got.tables[t]
        sheet = pl.col(SOURCE_FILE).str.replace(r"^[^\[]*", "")  # the file names differ, the sheets not
        assert have.drop(SOURCE_ROW).with_columns(sheet).equals(want.drop(SOURCE_ROW).with_columns(sheet)), t
        # rows of the titled sheet move down with it; rows of the other sheets stay
        moved = [shift if f.endswith(first_sheet) else 0 for f in have[SOURCE_FILE]]
        assert (have[SOURCE_ROW] - want[SOURCE_ROW]).to_list() == moved, t
    titles = [p for p in got.problems if p.rule == "title_rows"]
    filled = [i for i, r in enumerate(rows, start=1) if r is not None]
    assert len(titles) == 1 and titles[0].severity == "info" and titles[0].row is None
    assert titles[0].message.startswith(f"row {filled[0]} " if len(filled) == 1 else f"rows {', '.join(map(str, filled))} ")
    assert f"above the header (row {shift + 1})" in titles[0].message and TITLE in titles[0].value
    assert not [p for p in base.problems if p.rule == "title_rows"]
    assert sorted((p.rule, p.severity) for p in got.problems if p.rule != "title_rows") == sorted(
        (p.rule, p.severity) for p in base.problems)


def test_source_rows_are_the_sheet_rows_with_empty_rows_above(tmp_path):
    """calamine drops empty rows above the data; read_source keeps them in the numbering."""
    import xlsxwriter

    p = tmp_path / "s.xlsx"
    wb = xlsxwriter.Workbook(str(p))
    ws = wb.add_worksheet("Sheet1")
    ws.write_row(2, 0, ["病案号", "性别", "年龄"])
    ws.write_row(3, 0, ["P1", "男", "50"])
    ws.write_row(5, 0, ["P2", "女", "61"])
    wb.close()
    st = read_source(p)
    assert st.columns == ["病案号", "性别", "年龄"] and st.header_row == 3 and st.title_rows == []
    assert st.frame.select(ROW, "病案号").rows() == [(4, "P1"), (6, "P2")]
    st2 = read_source(p, header_row=3)
    assert st2.frame.select(ROW, "病案号").rows() == [(4, "P1"), (6, "P2")]


def test_a_header_in_row_one_stays_and_data_is_never_taken_for_a_title():
    rows = [["ID", "Sex", "Age"], ["P1", "M", "50"], ["P2", "F", "61"]]
    assert locate_header(rows) == 0
    titled = [[TITLE, None, None], [None, None, None], *rows]
    assert locate_header(titled) == 2 and title_rows(titled, 2) == ([1], True)
    # a first row of data above a second header-like row: not titles, the header stays in row 1
    data_first = [["P0", "M", "44"], *rows]
    h = locate_header(data_first)
    assert h == 1 and title_rows(data_first, h) == ([1], False)
    # numbers and dates are never a header
    assert locate_header([["2019", "2020", "2021"], ["1", "2", "3"]]) is None


def test_wizard_offers_the_data_access_group_as_centre_only_without_a_centre_column(tmp_path):
    from dashboard.ingest.sources import read_redcap_source
    from dashboard.ingest.wizard import suggest_mapping

    p = tmp_path / "SITE_DATA.csv"
    p.write_text("record_id,redcap_event_name,redcap_data_access_group,sex,age\n"
                 "1,baseline_arm_1,pkuch,1,50\n2,baseline_arm_1,tianjin,2,61\n", encoding="utf-8")
    st = read_redcap_source(p)[None]
    spec = suggest_mapping(st, "site").rules[0].spec
    assert spec["centre"].source == "redcap_data_access_group"
    p.write_text("record_id,redcap_event_name,redcap_data_access_group,中心,sex,age\n"
                 "1,baseline_arm_1,pkuch,PKUCH,1,50\n", encoding="utf-8")
    assert suggest_mapping(read_redcap_source(p)[None], "site").rules[0].spec["centre"].source == "中心"
    p.write_text("record_id,redcap_event_name,redcap_data_access_group,sex,age\n1,baseline_arm_1,,1,50\n", encoding="utf-8")
    assert "centre" not in suggest_mapping(read_redcap_source(p)[None], "site").rules[0].spec  # an empty DAG is no centre


LINKED = """
[mapping]
name = "links"
format_version = 1
[constants.subject]
cohort = "RETRO"
centre = "X"
eligibility = "ELIGIBLE"
biomarker_basis = "DMMR_IHC"
tumour_site = "RECTUM"
sex = "F"
age = "50"
[tables.subject]
subject_id = "id"
registration_date = "d0"
[tables.follow_up]
last_contact_date = "d0"
vital_status = { value = "ALIVE" }
[[rows]]
id = "salvage"
table = "procedure"
when = [{ column = "surgery", present = true }]
[rows.columns]
{number}
episode_no = { value = "1" }
procedure_date = "surgery"
procedure_type = { value = "TME_LAR" }
intent = { value = "SALVAGE" }
[[rows]]
id = "regrowth"
table = "onc_event"
when = [{ column = "regrowth", present = true }]
[rows.columns]
event_type = { value = "LOCAL_REGROWTH" }
event_date = "regrowth"
salvage_procedure_no = {salvage}
"""


@pytest.mark.parametrize("number, salvage, warned", [
    ("", '"salvage no"', True),  # procedure_no numbered by the mapping, the link read from the sheet: warned
    ('procedure_no = "proc no"', '"salvage no"', False),  # both the sheet's numbers
    ("", '{ number_of = "salvage" }', False),  # both the mapping's numbers
])
def test_mapping_warns_when_a_link_reads_source_numbers_of_a_renumbered_table(tmp_path, number, salvage, warned):
    from dashboard.ingest.mapping import parse_mapping

    m = parse_mapping(LINKED.replace("{number}", number).replace("{salvage}", salvage))
    src = tmp_path / "s.csv"
    src.write_text("id,d0,surgery,regrowth,proc no,salvage no\nS1,2024-01-01,2024-05-01,2024-04-01,2,2\n", encoding="utf-8")
    r = map_path(src, m)
    hits = [p for p in r.problems if p.rule == "number_link_renumbered"]
    assert bool(hits) == warned, r.problems
    if warned:
        assert hits[0].severity == "warning" and hits[0].column == "salvage no"
        assert "procedure.procedure_no is numbered by the mapping" in hits[0].message
