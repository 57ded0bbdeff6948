"""Import from the browser (Data page) and hostile uploads: a clear refusal, nothing stored.

The page is driven with AppTest (``file_uploader.set_value``) as a data manager in open
demo mode; :func:`stage_upload` is also tested directly for each zip trick.
"""

from __future__ import annotations

import io
import re
import json
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import audit
from dashboard.ingest import export_registry, write_xlsx
from dashboard.store import BACKUP_DIR, read_meta
from dashboard.ui import data_page
from dashboard.ui.data_page import Upload, UploadRefused, stage_upload

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "7_Data.py")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A valid canonical CSV export of another synthetic registry."""
    from dashboard.synth import build_demo

    base = tmp_path_factory.mktemp("upload_src")
    build_demo(base / "other.duckdb", 150, 99, progress=False)
    export_registry(base / "other.duckdb", base / "export")
    return base / "export"


@pytest.fixture()
def db(tmp_path, monkeypatch):
    from dashboard.synth import build_demo

    path = tmp_path / "registry.duckdb"
    build_demo(path, 120, 3, progress=False)
    monkeypatch.setenv("DASHBOARD_DB", str(path))
    monkeypatch.delenv("DASHBOARD_ACCESS_CONFIG", raising=False)
    monkeypatch.delenv("DASHBOARD_AUDIT_DB", raising=False)
    return path


def _zip(files: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _folder_zip(folder: Path, edit: dict[str, str] | None = None, prefix: str = "export/") -> bytes:
    files = {prefix + p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    for name, text in (edit or {}).items():
        files[prefix + name] = text.encode()
    return _zip(files)


def _staging_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("dashboard-upload-*")}


def _page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=90).run()


def _upload(at: AppTest, name: str, data: bytes, mime: str = "application/zip") -> AppTest:
    at.file_uploader(key="data_upload").set_value((name, data, mime))
    return at.run()


def _unchanged(db: Path, before: dict) -> None:
    assert read_meta(db)["content_hash"] == before["content_hash"]
    assert not (db.parent / BACKUP_DIR).exists() or not any((db.parent / BACKUP_DIR).iterdir())


def _problems(at: AppTest):
    frames = [d.value for d in at.dataframe if "rule" in d.value.columns and "row" in d.value.columns]
    assert frames, "no problems table"
    return frames[0]


def _errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def test_valid_zip_validates_then_loads_on_confirmation(db, source):
    before = read_meta(db)
    at = _upload(_page(), "export.zip", _folder_zip(source))
    assert not at.exception, at.exception
    assert not _errors(at)
    assert any("Valid" in s.value for s in at.success)
    load = at.button(key="data_load")
    assert load.disabled  # confirmation first
    _unchanged(db, before)
    at.checkbox(key="data_confirm").check().run()
    at.button(key="data_load").click().run()
    assert not at.exception, at.exception
    after = read_meta(db)
    assert after["content_hash"] != before["content_hash"]
    assert json.loads(after["table_counts"])["subject"] == 150
    assert any((db.parent / BACKUP_DIR).iterdir())  # the previous version is kept
    imports = audit.read(action="import", path=audit.default_audit_path(db))
    assert imports.height == 1 and imports["result"][0] == "ok" and imports["actor"][0] == "local-demo-user"
    assert json.loads(imports["detail"][0])["content_hash"] == after["content_hash"]
    validations = audit.read(action="validate", path=audit.default_audit_path(db))
    assert validations["result"].to_list() == ["ok"]


def test_a_skipped_title_row_is_a_note_not_a_warning(db, source):
    """A title row above a CSV's header is a decision taken (info), so the Valid line counts
    it as a note; it would read as a warning to act on otherwise."""
    def valid_line(edit):  # without the manifest, which would (rightly) warn that the data changed since export
        files = {p.name: p.read_bytes() for p in sorted(source.iterdir()) if p.is_file() and p.name != "manifest.json"}
        at = _upload(_page(), "export.zip", _zip({**files, **{k: v.encode() for k, v in (edit or {}).items()}}))
        assert not at.exception, at.exception
        assert not _errors(at)
        valid = [s.value for s in at.success if "Valid" in s.value]
        assert len(valid) == 1, valid
        return valid[0]

    text = (source / "follow_up.csv").read_text("utf-8")
    plain = valid_line(None)
    titled = valid_line({"follow_up.csv": "Follow-up export, Hospital A\n" + text})
    assert "note" not in plain, plain
    assert titled == plain + " (1 note on decisions taken)", (plain, titled)


def test_xlsx_workbook_upload_validates(db, source, tmp_path):
    from dashboard.ingest import read_registry, validate

    tables = validate(read_registry(source)).tables
    write_xlsx(tables, tmp_path / "registry.xlsx")
    at = _upload(_page(), "registry.xlsx", (tmp_path / "registry.xlsx").read_bytes(),
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert not at.exception, at.exception
    assert not _errors(at), _errors(at)
    assert any("Valid" in s.value for s in at.success)


def test_invalid_upload_lists_every_problem_and_loads_nothing(db, source):
    before = read_meta(db)
    subject = (source / "subject.csv").read_text().splitlines()
    header = subject[0].split(",")
    row = subject[1].split(",")
    row[header.index("sex")] = "X"  # not a code
    bad = "\n".join([subject[0], ",".join(row), *subject[2:]]) + "\n"
    at = _upload(_page(), "export.zip", _folder_zip(source, {"subject.csv": bad}))
    assert not at.exception
    assert "nothing can be loaded" in _errors(at)
    problems = _problems(at)
    assert list(problems.columns)[:5] == ["file", "row", "column", "value", "rule"]
    hit = problems[(problems["column"] == "sex") & (problems["value"] == "X")]
    assert len(hit) == 1 and hit.iloc[0]["file"] == "subject.csv" and hit.iloc[0]["row"] == 2
    assert len(at.button) == 0 or all(b.key != "data_load" for b in at.button)
    _unchanged(db, before)


def test_formula_injection_refused_through_upload(db, source):
    before = read_meta(db)
    subject = (source / "subject.csv").read_text().splitlines()
    header = subject[0].split(",")
    row = subject[1].split(",")
    row[header.index("centre")] = '=HYPERLINK("http://evil.example","x")'.replace(",", ";")
    bad = "\n".join([subject[0], ",".join(row), *subject[2:]]) + "\n"
    at = _upload(_page(), "export.zip", _folder_zip(source, {"subject.csv": bad}))
    problems = _problems(at)
    assert "formula_injection" in set(problems["rule"])
    _unchanged(db, before)


def test_sql_text_in_a_field_is_data_not_code(db, source):
    """SQL in a text cell is refused by the validator or stored as text: never run."""
    before = read_meta(db)
    subject = (source / "subject.csv").read_text().splitlines()
    header = subject[0].split(",")
    row = subject[1].split(",")
    row[header.index("subject_id")] = "x'); DROP TABLE subject; --"
    bad = "\n".join([subject[0], ",".join(row), *subject[2:]]) + "\n"
    at = _upload(_page(), "export.zip", _folder_zip(source, {"subject.csv": bad}))
    assert not at.exception
    assert "nothing can be loaded" in _errors(at)  # the id breaks the id format and the references
    _unchanged(db, before)
    from dashboard.store import Store

    assert Store(db).sql("SELECT count(*) AS n FROM subject")["n"][0] == 120


def test_sql_in_url_parameter_on_data_page(db):
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.query_params = {"site": "RECTUM' OR 1=1 --", "cohort": "x'; DROP TABLE adsl; --"}
    at.run()
    assert not at.exception
    assert any("not recognised" in w.value for w in at.warning)
    from dashboard.store import Store

    assert Store(db).sql("SELECT count(*) AS n FROM adsl")["n"][0] == 120


@pytest.mark.parametrize("name", ["../../etc/subject.csv", "/tmp/subject.csv", "C:\\temp\\subject.csv",
                                  "sub\x00ject.csv", "..", "dir/subject.csv"])
def test_path_in_file_name_refused(db, name):
    before = read_meta(db)
    dirs = _staging_dirs()
    at = _upload(_page(), name, b"subject_id\n", "text/csv")
    if at.exception:  # Streamlit refuses these itself, before the page runs
        assert any(m in at.exception[0].message for m in ("null bytes", "Invalid file extension"))
    else:
        assert "not a plain file name" in _errors(at)
        refused = audit.read(action="validate", path=audit.default_audit_path(db))
        assert refused["result"].to_list() == ["refused"]
    _unchanged(db, before)
    assert _staging_dirs() == dirs


def test_zip_bomb_refused(db):
    before = read_meta(db)
    dirs = _staging_dirs()
    bomb = _zip({"subject.csv": b"0" * (300 * 1024 * 1024)})  # 300 MB of zeros -> ~300 kB
    assert len(bomb) < 1024 * 1024
    at = _upload(_page(), "bomb.zip", bomb)
    assert "zip bomb" in _errors(at)
    _unchanged(db, before)
    assert _staging_dirs() == dirs


def test_oversized_upload_refused(db, monkeypatch):
    monkeypatch.setattr(data_page, "MAX_UPLOAD_MB", 1)
    before = read_meta(db)
    at = _upload(_page(), "subject.csv", b"a" * (2 * 1024 * 1024), "text/csv")
    assert "larger than 1 MB" in _errors(at)
    _unchanged(db, before)


# ---- stage_upload directly: each zip trick


def _stage(files: dict[str, bytes] | bytes, name: str = "up.zip"):
    data = files if isinstance(files, bytes) else _zip(files)
    with stage_upload([Upload(name, data)]) as path:
        return sorted(p.name for p in (path.iterdir() if path.is_dir() else [path]))


@pytest.mark.parametrize("entry", ["../subject.csv", "/etc/subject.csv", "a/../../subject.csv", "C:/subject.csv"])
def test_zip_entry_with_path_refused(entry):
    with pytest.raises(UploadRefused, match="absolute path"):
        _stage({entry: b"x"})


def test_zip_symlink_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("subject.csv")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UploadRefused, match="symbolic link"):
        _stage(buf.getvalue())


def test_zip_other_types_and_nesting_refused():
    with pytest.raises(UploadRefused, match="not a .csv"):
        _stage({"subject.csv": b"x", "run.sh": b"rm -rf /"})
    with pytest.raises(UploadRefused, match="not a .csv"):
        _stage({"inner.zip": _zip({"a.csv": b"x"})})


def test_zip_too_many_entries_refused():
    with pytest.raises(UploadRefused, match="entries"):
        _stage({f"t{i}.csv": b"x" for i in range(data_page.MAX_FILES + 1)})


def test_zip_lying_about_size_refused():
    data = bytearray(_zip({"subject.csv": b"0" * 100_000}))
    # shrink the declared uncompressed size in the central directory: extraction must stop
    i = data.rfind(b"PK\x01\x02")
    data[i + 24:i + 28] = (10).to_bytes(4, "little")
    with pytest.raises((UploadRefused, zipfile.BadZipFile)):
        _stage(bytes(data))


def test_xlsx_bomb_refused():
    with pytest.raises(UploadRefused, match="zip bomb"):
        _stage(_zip({"xl/worksheets/sheet1.xml": b"<" * (50 * 1024 * 1024)}), name="book.xlsx")


def test_not_a_zip_refused():
    with pytest.raises(UploadRefused, match="not a valid zip"):
        _stage(b"not a zip at all", "up.zip")


def test_valid_zip_is_flattened_and_cleaned(source):
    data = _folder_zip(source)
    with stage_upload([Upload("export.zip", data)]) as path:
        staged = path
        assert (path / "subject.csv").is_file() and (path / "manifest.json").is_file()
        assert not (path / "README.md").exists()
    assert not staged.exists()


@pytest.mark.parametrize("records,dictionary", [
    ("REDCap 导出_DATA_2024-06-30.csv", "数据字典 DataDictionary.csv"),
    ("site A & B, export (v2)_DATA.csv", "[site] data_dictionary, final.csv"),
])
def test_any_file_name_is_accepted_stored_safely_and_shown_as_given(records, dictionary, tmp_path):
    """Chinese characters, spaces, &, commas and brackets: accepted, stored under a
    generated ASCII name, and the report names the file as the user gave it."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from ingest_corpus import corpus

    from dashboard.ingest import validate_path
    from dashboard.ui.data_page import shown_as_uploaded, staged_names

    valid = corpus.vr.write_valid(tmp_path / "v")
    typed = validate_path(valid).tables
    rc = corpus.redcap_case(corpus._unknown_choice)(tmp_path / "w", typed)
    rec = next(p for p in rc.iterdir() if "_DATA_" in p.name)
    dic = next(p for p in rc.iterdir() if "Dictionary" in p.name)
    files = [Upload(records, rec.read_bytes()), Upload(dictionary, dic.read_bytes())]
    names = staged_names([f.name for f in files])
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", n) for n in names), names
    with stage_upload(files) as path:
        assert sorted(p.name for p in path.iterdir()) == sorted(names)
        report = validate_path(path)
    shown = shown_as_uploaded(report.to_frame(), names)
    bad = shown.filter(pl.col("rule") == "redcap_unknown_choice")
    assert bad.height == 1 and bad["file"][0] == records


def test_names_with_a_path_or_control_character_still_refused():
    for name in ("a/b.csv", "..\\x.csv", "x\x1b[2J.csv", "C:x.csv"):
        with pytest.raises(UploadRefused):
            with stage_upload([Upload(name, b"subject_id\n")]):
                pass
