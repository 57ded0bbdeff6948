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

from dashboard.ingest import import_registry, validate_path  # noqa: E402
from dashboard.schema import TABLES  # noqa: E402

FIXTURES = Path(__file__).parent / "libreoffice"
FILES = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".xlsx", ".ods", ".xls"))


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
    for name in FILES:
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
