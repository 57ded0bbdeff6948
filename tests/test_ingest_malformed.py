"""The malformed-input corpus: every case must be rejected with a specific problem
(rule + file + row + column) and leave the served store byte-for-byte unchanged.

Inputs are generated from the valid registry in tests/malformed/valid_registry.py by one
small edit each, so every case differs from a valid registry in exactly one way.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import sys
from pathlib import Path
from typing import Callable, NamedTuple

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent / "malformed"))
import valid_registry as vr  # noqa: E402
from valid_registry import append_row, line_of, read_rows, set_cell, write_rows  # noqa: E402

from dashboard.ingest import ImportRejected, import_registry, validate_path, write_redcap, write_xlsx  # noqa: E402


class Case(NamedTuple):
    id: str
    make: Callable[[Path, dict], Path]  # (copy of the valid folder, typed tables) -> input path
    rule: str
    file: str
    row: int | None
    column: str | None
    says: str = ""  # a phrase the message must contain


def cell(table: str, subject: str, column: str, value: str, nth: int = 0):
    def make(d: Path, _t) -> Path:
        set_cell(d, table, subject, column, value, nth)
        return d

    return make


def header_edit(table: str, fn):
    def make(d: Path, _t) -> Path:
        header, rows = read_rows(d, table)
        header, rows = fn(header, rows)
        write_rows(d, table, header, rows)
        return d

    return make


def drop_col(col):
    def fn(h, rows):
        i = h.index(col)
        return h[:i] + h[i + 1 :], [r[:i] + r[i + 1 :] for r in rows]

    return fn


def add_col(col, value="x"):
    return lambda h, rows: (h + [col], [r + [value] for r in rows])


def raw_bytes(table: str, data: bytes):
    def make(d: Path, _t) -> Path:
        (d / f"{table}.csv").write_bytes(data)
        return d

    return make


def latin1(d: Path, _t) -> Path:
    text = (d / "subject.csv").read_text("utf-8").replace("PKUCH", "Zürich", 1).replace("北京-PKUCH", "PKUCH")
    (d / "subject.csv").write_bytes(text.encode("latin-1"))
    return d


def add_row(table: str, **values):
    def make(d: Path, _t) -> Path:
        append_row(d, table, values)
        return d

    return make


def duplicate_subject(d: Path, _t) -> Path:
    header, rows = read_rows(d, "subject")
    write_rows(d, "subject", header, rows + [list(rows[0])])
    return d


def header_only(table: str):
    def make(d: Path, _t) -> Path:
        header, _ = read_rows(d, table)
        write_rows(d, table, header, [])
        return d

    return make


def remove(table: str):
    def make(d: Path, _t) -> Path:
        (d / f"{table}.csv").unlink()
        return d

    return make


def two(*edits):
    def make(d: Path, t) -> Path:
        for e in edits:
            e(d, t)
        return d

    return make


def xlsx_missing_sheet(d: Path, tables: dict) -> Path:
    return write_xlsx({k: v for k, v in tables.items() if k != "follow_up"}, d.parent / "registry.xlsx")


def xlsx_corrupt(d: Path, tables: dict) -> Path:
    p = write_xlsx(tables, d.parent / "registry.xlsx")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def xlsx_formula(d: Path, tables: dict) -> Path:
    import xlsxwriter

    p = write_xlsx(tables, d.parent / "registry.xlsx")
    # rewrite the ae sheet with a live formula in the term of the first row
    wb = xlsxwriter.Workbook(str(p))
    for name, df in tables.items():
        ws = wb.add_worksheet(name)
        ws.write_row(0, 0, df.columns)
        for i, row in enumerate(df.with_columns(pl.all().cast(pl.String)).iter_rows(), start=1):
            for j, v in enumerate(row):
                if v is not None:
                    ws.write_string(i, j, v)
        if name == "ae":
            ws.write_formula(1, df.columns.index("term"), '=HYPERLINK("http://evil.example","click")')
    wb.close()
    return p


def redcap(edit):
    def make(d: Path, tables: dict) -> Path:
        rec, _ = write_redcap(tables, d.parent / "rc")
        df = pl.read_csv(rec, infer_schema=False)
        df = edit(df)
        df.write_csv(rec, null_value="")
        return rec.parent

    return make


def rc_set_sex(df: pl.DataFrame) -> pl.DataFrame:
    base = (pl.col("record_id") == "S002") & pl.col("redcap_repeat_instrument").is_null()
    return df.with_columns(pl.when(base).then(pl.lit("7")).otherwise(pl.col("sex")).alias("sex"))


def rc_drop_baseline(df: pl.DataFrame) -> pl.DataFrame:
    return df.filter(~((pl.col("record_id") == "S006") & pl.col("redcap_repeat_instrument").is_null()))


BIG = "x" * 10_240
RNG = random.Random(20240601)

CASES = [
    # files
    Case("empty_file", raw_bytes("subject", b""), "file_empty", "subject.csv", None, None, "0 bytes"),
    Case("header_only_subject", header_only("subject"), "no_subjects", "subject.csv", None, None, "zero patients"),
    Case("binary_garbage", raw_bytes("ae", RNG.randbytes(4000)), "file_binary", "ae.csv", None, None, "binary"),
    Case("zip_named_csv", raw_bytes("qol", b"PK\x03\x04" + b"\x00" * 100), "file_binary", "qol.csv", None, None, "ZIP"),
    Case("ragged_csv", raw_bytes("follow_up", b"subject_id,last_contact_date,vital_status\nS001,2024-01-01,ALIVE,extra,more\n"),
         "csv_parse", "follow_up.csv", None, None, "well-formed"),
    Case("missing_subject_csv", remove("subject"), "missing_table", "subject.csv", None, None, "subject.csv not found"),
    Case("missing_follow_up_csv", remove("follow_up"), "missing_table", "follow_up.csv", None, None, "follow_up"),
    # header
    Case("missing_column", header_edit("subject", drop_col("sex")), "missing_column", "subject.csv", 1, "sex", "required column 'sex'"),
    Case("unknown_column", header_edit("subject", add_col("", "x")), "unknown_column", "subject.csv", 1, "(blank)"),
    Case("duplicate_column", header_edit("subject", add_col("age", "54")), "duplicate_column", "subject.csv", 1, "age", "more than once"),
    # cells
    Case("wrong_type_int", cell("subject", "S001", "age", "sixty"), "type_int", "subject.csv", 2, "age", "not an integer"),
    Case("wrong_type_float", cell("subject", "S001", "cea_baseline", "3.2 ng/ml"), "type_float", "subject.csv", 2, "cea_baseline", "not a number"),
    Case("wrong_type_bool", cell("ae", "S001", "immune_related", "maybe"), "type_bool", "ae.csv", 2, "immune_related", "true/false"),
    Case("impossible_date", cell("ici_exposure", "S002", "start_date", "2023-02-30"), "date_invalid", "ici_exposure.csv", 3, "start_date",
         "calendar date"),
    Case("bad_date_format", cell("subject", "S003", "registration_date", "March 4th 2022"), "date_format", "subject.csv", 4,
         "registration_date", "YYYY-MM-DD"),
    Case("future_date", cell("follow_up", "S006", "last_contact_date", "2099-01-01"), "date_range", "follow_up.csv", 7,
         "last_contact_date", "after today"),
    Case("date_before_1990", cell("subject", "S001", "registration_date", "1985-01-01"), "date_range", "subject.csv", 2,
         "registration_date", "before 1990"),
    Case("unknown_code", cell("subject", "S002", "sex", "X"), "vocabulary", "subject.csv", 3, "sex", "allowed: F, M"),
    Case("required_empty", cell("subject", "S001", "cohort", ""), "required", "subject.csv", 2, "cohort", "empty"),
    Case("age_150", cell("subject", "S001", "age", "150"), "range", "subject.csv", 2, "age", "18 to 100"),
    Case("huge_field", cell("ae", "S002", "term", BIG), "max_length", "ae.csv", 3, "term", "10240 characters"),
    Case("formula_hyperlink", cell("ae", "S001", "term", '=HYPERLINK("http://evil.example","click")'), "formula_injection", "ae.csv", 2,
         "term", "formula"),
    Case("formula_plus_cmd", cell("subject", "S001", "centre", "+cmd|' /C calc'!A0"), "formula_injection", "subject.csv", 2, "centre"),
    Case("formula_at_sum", cell("ae", "S004", "term", "@SUM(1+1)*cmd|' /C calc'!A0"), "formula_injection", "ae.csv", 5, "term"),
    Case("formula_minus", cell("ici_exposure", "S001", "drugs", "-2+3+cmd|' /C calc'!A0"), "formula_injection", "ici_exposure.csv", 2,
         "drugs"),
    Case("nul_byte", cell("subject", "S003", "centre", "PK\x00UCH"), "control_character", "subject.csv", 4, "centre", "character 3"),
    # keys
    Case("duplicate_id", duplicate_subject, "duplicate_key", "subject.csv", 8, "subject_id", "rows 2, 8"),
    Case("duplicate_composite_key", cell("ae", "S002", "ae_no", "1", nth=1), "duplicate_key", "ae.csv", 4, "subject_id, ae_no",
         "rows 3, 4"),
    Case("orphan_row", add_row("ae", subject_id="S999", ae_no="1", term="Rash", soc="SKIN", grade="1", onset_date="2022-01-01",
                               immune_related="true", attribution="ICI"),
         "fk_orphan", "ae.csv", 6, "subject_id", "no subject row with (subject_id) = (S999)"),
    Case("composite_fk_orphan", cell("procedure", "S002", "episode_no", "7"), "fk_orphan", "procedure.csv", 2, "subject_id, episode_no",
         "no strategy_episode row"),
    Case("pathology_without_procedure", cell("pathology", "S002", "procedure_no", "3"), "fk_orphan", "pathology.csv", 2,
         "subject_id, procedure_no", "no procedure row"),
    Case("subject_without_follow_up", add_row("subject", subject_id="S007", cohort="PROSP", centre="PKUCH", registration_date="2023-05-01",
                                              eligibility="ELIGIBLE", age="50", sex="M", tumour_site="COLON", biomarker_basis="DMMR_IHC"),
         "missing_follow_up", "subject.csv", 8, "subject_id", "no follow_up row"),
    # cross-table logic
    Case("surgery_before_first_ici", cell("procedure", "S002", "procedure_date", "2022-03-01"), "procedure_before_ici", "procedure.csv", 2,
         "procedure_date", "surgery before first ICI dose"),
    Case("ici_end_before_start", cell("ici_exposure", "S001", "end_date", "2022-01-01"), "ici_end_before_start", "ici_exposure.csv", 2,
         "end_date", "before its start"),
    Case("visit_after_death", cell("assessment", "S004", "assessment_date", "2023-10-01"), "after_death", "assessment.csv", 8,
         "assessment_date", "after the death date 2023-09-15"),
    Case("visit_after_last_contact", cell("assessment", "S001", "assessment_date", "2024-07-01", nth=2), "after_last_contact",
         "assessment.csv", 4, "assessment_date", "last contact"),
    Case("ae_after_death", cell("ae", "S004", "onset_date", "2023-12-01"), "after_death", "ae.csv", 5, "onset_date"),
    Case("death_after_last_contact", cell("follow_up", "S004", "last_contact_date", "2023-09-01"), "death_before_last_contact",
         "follow_up.csv", 5, "last_contact_date"),
    Case("death_date_with_alive", cell("follow_up", "S001", "death_date", "2024-06-01"), "death_date_not_dead", "follow_up.csv", 2,
         "death_date", "ALIVE"),
    Case("dead_without_death_date", cell("follow_up", "S004", "death_date", ""), "dead_without_date", "follow_up.csv", 5, "death_date"),
    Case("stoma_closure_without_temporary", cell("procedure", "S002", "stoma_closure_date", "2022-09-01"), "stoma_closure_not_temporary",
         "procedure.csv", 2, "stoma_closure_date", "NONE"),
    Case("stoma_closed_before_procedure", cell("procedure", "S003", "stoma_closure_date", "2022-06-01"), "stoma_closure_before_procedure",
         "procedure.csv", 3, "stoma_closure_date"),
    Case("ae_resolution_before_onset", cell("ae", "S002", "resolution_date", "2022-06-01"), "ae_resolution_before_onset", "ae.csv", 3,
         "resolution_date"),
    Case("nodes_positive_gt_examined", cell("pathology", "S002", "nodes_positive", "30"), "nodes_positive_gt_examined", "pathology.csv", 2,
         "nodes_positive", "more than nodes_examined 22"),
    Case("invalid_trg_grade", cell("pathology", "S004", "trg_grade", "4"), "trg_grade_invalid", "pathology.csv", 4, "trg_grade",
         "allowed: 1A, 1B, 2, 3"),
    Case("lars_score_50", cell("qol", "S001", "score", "50", nth=1), "qol_score_range", "qol.csv", 3, "score", "0 to 42"),
    Case("qol_unknown_scale", cell("qol", "S001", "scale", "XYZ"), "qol_scale_unknown", "qol.csv", 2, "scale", "not a scale of QLQ_C30"),
    Case("salvage_procedure_missing", cell("onc_event", "S003", "salvage_procedure_no", "5"), "salvage_procedure_missing",
         "onc_event.csv", 2, "salvage_procedure_no"),
    # other formats
    Case("xlsx_missing_sheet", xlsx_missing_sheet, "missing_table", "registry.xlsx", None, None, "no sheet named 'follow_up'"),
    Case("xlsx_corrupt", xlsx_corrupt, "file_unreadable", "registry.xlsx", None, None, "not a readable .xlsx"),
    Case("xlsx_formula_cell", xlsx_formula, "formula_unsaved", "registry.xlsx[ae]", 2, "term", "no saved value"),
    Case("redcap_unknown_choice", redcap(rc_set_sex), "redcap_unknown_choice", "REGISTRY_DATA.csv", None, "sex",
         "choices of field 'sex'"),
    Case("redcap_record_without_baseline", redcap(rc_drop_baseline), "redcap_no_baseline", "REGISTRY_DATA.csv", None,
         "redcap_event_name", "record 'S006'"),
]


@pytest.fixture(scope="module")
def valid_dir(tmp_path_factory) -> Path:
    return vr.write_valid(tmp_path_factory.mktemp("valid") / "registry")


@pytest.fixture(scope="module")
def typed(valid_dir) -> dict:
    report = validate_path(valid_dir)
    assert report.ok
    return report.tables


@pytest.fixture(scope="module")
def served_template(tmp_path_factory, valid_dir) -> Path:
    db = tmp_path_factory.mktemp("served") / "registry.duckdb"
    import_registry(valid_dir, db, derive=False)
    return db


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_corpus_is_large_and_ids_unique():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_rejected(case: Case, valid_dir, typed, served_template, tmp_path):
    work = shutil.copytree(valid_dir, tmp_path / "input")
    inp = case.make(work, typed)
    served = tmp_path / "data" / "registry.duckdb"
    served.parent.mkdir()
    shutil.copy2(served_template, served)
    before = sha(served)
    listing = _store_files(served.parent)

    with pytest.raises(ImportRejected) as exc:
        import_registry(inp, served, derive=False)

    assert sha(served) == before, "a rejected import changed the served store"
    assert _store_files(served.parent) == listing, "a rejected import left files behind"
    assert "audit.sqlite3" in {p.name for p in served.parent.iterdir()}, "the rejection is audited"
    report = exc.value.report
    assert not report.ok and report.tables == {}
    matches = [p for p in report.problems if p.rule == case.rule and p.file == case.file and p.column == case.column]
    if case.row is not None:
        matches = [p for p in matches if p.row == case.row]
    assert matches, f"expected {case.rule} at {case.file}:{case.row}:{case.column}; got\n{report.format()}"
    assert case.says in matches[0].message, matches[0].message
    assert case.rule in report.format(max_rows=None)


def test_redcap_problem_rows_are_records_file_lines(valid_dir, typed, tmp_path):
    work = shutil.copytree(valid_dir, tmp_path / "input")
    rc = redcap(rc_set_sex)(work, typed)
    rec = pl.read_csv(rc / "REGISTRY_DATA.csv", infer_schema=False).with_row_index("line", offset=2)
    line = rec.filter((pl.col("record_id") == "S002") & pl.col("redcap_repeat_instrument").is_null())["line"][0]
    report = validate_path(rc)
    (p,) = [p for p in report.problems if p.severity == "error"]
    assert (p.rule, p.row, p.column, p.value) == ("redcap_unknown_choice", line, "sex", "7")


def test_duplicate_key_names_both_rows(valid_dir, tmp_path):
    work = shutil.copytree(valid_dir, tmp_path / "input")
    duplicate_subject(work, None)
    report = validate_path(work)
    dup = [p for p in report.problems if p.rule == "duplicate_key"]
    assert [p.row for p in dup] == [2, 8]
    assert all("rows 2, 8" in p.message for p in dup)


def test_encoding_problem_gives_byte_offset(valid_dir, tmp_path):
    """A Windows-1252 file is read as such, and the report says so, with the first byte."""
    work = shutil.copytree(valid_dir, tmp_path / "input")
    latin1(work, None)
    data = (work / "subject.csv").read_bytes()
    offset = data.index("ü".encode("latin-1"))
    report = validate_path(work)
    assert report.ok, report.format()
    (p,) = [p for p in report.problems if p.rule == "encoding_used"]
    assert f"byte offset {offset}" in p.message and "Windows-1252" in p.message and p.severity == "warning"
    assert report.tables["subject"].filter(pl.col("subject_id") == "S001")["centre"][0] == "Zürich"


def _store_files(folder):
    """Files of the store folder, less the audit log (which records the rejection)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("audit.sqlite3"))
