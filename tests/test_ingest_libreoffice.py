"""Workbooks written by real LibreOffice Calc (7.4, headless; tests/libreoffice/make_fixtures.py
made them from two workbooks of the import corpus) import exactly like the CSV folder they
encode: same typed tables, same store content hash.

One property of LibreOffice shows here and is kept on purpose: it writes numbers with 15
significant digits in .ods and .xlsx (83.33333333333333 is saved as 83.3333333333333;
Excel and .xls keep the full double). Those files are compared at that precision for
decimal columns; everything else (codes, text, Chinese text, dates, integers, booleans)
must be identical.
"""

from __future__ import annotations

import math
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent / "malformed"))
import valid_registry as vr  # noqa: E402

from dashboard.ingest import ImportRejected, import_registry, read_registry, validate_path  # noqa: E402
from dashboard.ingest.model import ROW  # noqa: E402
from dashboard.schema import TABLES  # noqa: E402

FIXTURES = Path(__file__).parent / "libreoffice"
ALL_FILES = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".xlsx", ".ods", ".xls"))
FILES = [f for f in ALL_FILES if not f.startswith("title_rows")]  # the registry, loadable
TITLED = [f for f in ALL_FILES if f.startswith("title_rows")]  # the same, below a title, with one bad cell


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory) -> Path:
    return vr.write_valid(tmp_path_factory.mktemp("csv") / "registry")


@pytest.fixture(scope="module")
def csv_tables(csv_dir):
    report = validate_path(csv_dir)
    assert report.ok
    return report.tables


def test_the_fixtures_were_written_by_libreoffice():
    assert len(FILES) == 6 and {Path(f).suffix for f in FILES} == {".xlsx", ".ods", ".xls"}
    assert len(TITLED) == 3 and {Path(f).suffix for f in TITLED} == {".xlsx", ".ods", ".xls"}
    for name in ALL_FILES:
        data = (FIXTURES / name).read_bytes()
        if name.endswith(".xlsx"):
            app = zipfile.ZipFile(FIXTURES / name).read("docProps/app.xml")
            assert b"<Application>LibreOffice/7" in app, name
        elif name.endswith(".ods"):
            meta = zipfile.ZipFile(FIXTURES / name).read("meta.xml")
            assert b"<meta:generator>LibreOffice/7" in meta, name
        else:
            assert data.startswith(b"\xd0\xcf\x11\xe0") and b"Calc" in data, name  # OLE2 BIFF8 from Calc


def _fifteen(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.15g}")


@pytest.mark.parametrize("name", FILES)
def test_libreoffice_workbook_imports_like_its_csv(name, csv_tables):
    report = validate_path(FIXTURES / name)
    assert report.ok, report.format_grouped()
    rules = {p.rule for p in report.problems}
    # text dates are read day-first (detected from a day above 12); nothing else is reported:
    # no formula warning for the TRUE()/FALSE() formulas LibreOffice writes for booleans in .xlsx
    assert rules == ({"date_order"} if name.startswith("text_dates_dmy") else set()), report.format_grouped()
    if name.startswith("text_dates_dmy"):
        assert all("day/month/year" in p.message for p in report.problems)
    fifteen_digits = not name.endswith(".xls")
    for t in TABLES:
        got, want = report.tables[t.name], csv_tables[t.name]
        assert got.schema == want.schema, t.name
        floats = [c for c, d in want.schema.items() if d == pl.Float64]
        assert got.drop(floats).equals(want.drop(floats)), t.name
        for c in floats:
            g, w = got[c].to_list(), want[c].to_list()
            if fifteen_digits:
                assert [_fifteen(x) for x in g] == [_fifteen(x) for x in w], (t.name, c)
            else:
                assert g == w, (t.name, c)
    assert "北京-PKUCH" in report.tables["subject"]["centre"].to_list()
    assert report.tables["ae"].filter(pl.col("ae_no") == 2)["term"].to_list() == ['Diarrhoea, "watery"']


@pytest.mark.parametrize("name", ["typed.xls", "text_dates_dmy.xls"])
def test_libreoffice_xls_gives_the_same_store_as_the_csv(name, csv_dir, tmp_path):
    a = import_registry(csv_dir, tmp_path / "a.duckdb", derive=False)
    b = import_registry(FIXTURES / name, tmp_path / "b.duckdb", derive=False)
    assert a["content_hash"] == b["content_hash"]
    assert a["table_counts"] == b["table_counts"]


def test_fifteen_digit_rounding_is_the_only_difference():
    """The .ods holds 83.3333333333333 where the CSV holds 83.33333333333333: LibreOffice's
    precision, not the reader's (the reader takes the number stored in the cell)."""
    content = zipfile.ZipFile(FIXTURES / "typed.ods").read("content.xml")
    assert b'office:value="83.3333333333333"' in content
    got = validate_path(FIXTURES / "typed.ods").tables["qol"]["score"].to_list()
    assert 83.3333333333333 in got and math.isclose(max(got), 83.3333333333333, rel_tol=0, abs_tol=0)


def test_titled_fixture_shows_its_rows_where_libreoffice_does():
    """What a user sees in LibreOffice (read independently with openpyxl): row 1 empty, the
    merged title in row 2, the header in row 4, S002's age 'fifty' in F6."""
    import openpyxl

    ws = openpyxl.load_workbook(FIXTURES / "title_rows.xlsx")["subject"]
    assert ws["A1"].value is None and ws["A2"].value.startswith("北京大学肿瘤医院") and ws["A4"].value == "subject_id"
    assert "A2:T2" in {str(r) for r in ws.merged_cells.ranges}
    assert ws["A6"].value == "S002" and ws["F6"].value == "fifty"


@pytest.mark.parametrize("name", TITLED)
def test_libreoffice_title_rows_skipped_and_rows_numbered_as_the_sheet(name, csv_tables, tmp_path):
    report = validate_path(FIXTURES / name)
    bad = [p for p in report.problems if p.severity == "error"]
    assert [(p.file, p.row, p.column, p.rule, p.value) for p in bad] == [(f"{name}[subject]", 6, "age", "type_int", "fifty")]
    titles = [p for p in report.problems if p.rule == "title_rows"]
    # one line for the workbook (every sheet has the same banner), naming the rows and the sheets
    assert [(p.file, p.row, p.severity) for p in titles] == [(name, None, "info")]
    assert titles[0].message == "row 2 above the header (row 4) is a title and is skipped (sheets " + ", ".join(t.name for t in TABLES) + ")"
    assert titles[0].value == "北京大学肿瘤医院 直肠癌等待观察 数据库 2019-2024"
    # every table's rows carry the sheet's own row numbers: the first data row is row 5
    raw = read_registry(FIXTURES / name)
    for t in TABLES:
        assert raw.tables[t.name].frame[ROW][0] == 5 and raw.tables[t.name].header_row == 4, t.name
    subj = raw.tables["subject"].frame
    assert subj.filter(pl.col(ROW) == 6)["subject_id"].to_list() == ["S002"]
    assert subj["subject_id"].to_list() == csv_tables["subject"]["subject_id"].to_list()
    with pytest.raises(ImportRejected):
        import_registry(FIXTURES / name, tmp_path / "x.duckdb", derive=False)
    assert not (tmp_path / "x.duckdb").exists()
