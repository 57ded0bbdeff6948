"""Import / validate / export: round trips through every format, reports, template."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent / "malformed"))
import valid_registry as vr  # noqa: E402

from dashboard import ingest  # noqa: E402
from dashboard.ingest import ImportRejected, export_registry, import_registry, validate_path, write_template  # noqa: E402
from dashboard.ingest.export import read_store_tables, template_readme  # noqa: E402
from dashboard.ingest.redcap import dictionary_rows, field_names  # noqa: E402
from dashboard.schema import TABLE_NAMES, TABLES, VOCABULARIES  # noqa: E402
from dashboard.store import build_store, read_meta  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def valid_dir(tmp_path_factory) -> Path:
    return vr.write_valid(tmp_path_factory.mktemp("valid") / "registry")


@pytest.fixture(scope="module")
def valid_store(tmp_path_factory, valid_dir) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("store") / "registry.duckdb"
    meta = import_registry(valid_dir, db, derive=False)
    return db, meta["content_hash"]


def test_valid_registry_validates_and_types(valid_dir):
    report = validate_path(valid_dir)
    assert report.ok, report.format()
    assert report.frame.height == 0
    assert report.format() == "OK: no problems found."
    assert set(report.tables) == set(TABLE_NAMES)
    subj = report.tables["subject"]
    assert subj.schema["age"] == pl.Int32 and subj.schema["registration_date"] == pl.Date
    assert subj.schema["distance_av_cm"] == pl.Float64
    assert report.tables["ae"].schema["immune_related"] == pl.Boolean
    assert report.tables["ae"].filter(pl.col("ae_no") == 2)["term"].to_list() == ['Diarrhoea, "watery"']
    assert "北京-PKUCH" in subj["centre"].to_list()


def test_import_records_provenance(valid_dir, valid_store):
    db, _ = valid_store
    meta = read_meta(db)
    assert meta["source"] == "imported"
    assert meta["import_format"] == "csv"
    shas = json.loads(meta["input_sha256"])
    assert shas["subject.csv"] == sha(valid_dir / "subject.csv")
    assert json.loads(meta["table_counts"])["subject"] == 6


def test_import_with_default_derive(valid_dir, tmp_path):
    pytest.importorskip("dashboard.derive")
    meta = import_registry(valid_dir, tmp_path / "d.duckdb")  # derive=True, as the CLI does
    con = duckdb.connect(str(tmp_path / "d.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM subject").fetchone()[0] == 6
    finally:
        con.close()
    assert meta["source"] == "imported"


def test_export_then_import_gives_same_content(valid_store, tmp_path):
    db, chash = valid_store
    out = tmp_path / "export"
    manifest = export_registry(db, out)
    assert manifest["content_hash"] == chash and manifest["synthetic"] is False
    assert not (out / "SYNTHETIC_DATA.txt").exists()
    assert sorted(p.name for p in out.glob("*.csv")) == sorted(f"{n}.csv" for n in TABLE_NAMES)
    meta = import_registry(out, tmp_path / "again.duckdb", derive=False)
    assert meta["content_hash"] == chash
    # export is stable: exporting the re-imported store gives byte-identical tables
    export_registry(tmp_path / "again.duckdb", tmp_path / "export2")
    for n in TABLE_NAMES:
        assert (out / f"{n}.csv").read_bytes() == (tmp_path / "export2" / f"{n}.csv").read_bytes()


def test_export_formats(valid_store, tmp_path):
    db, _ = valid_store
    export_registry(db, tmp_path / "e")
    subject = (tmp_path / "e" / "subject.csv").read_text("utf-8").splitlines()
    assert subject[0] == ",".join(TABLES[0].column_names)
    assert subject[1].startswith("S001,RETRO,PKUCH,2022-01-10,ELIGIBLE,54,F,0,")
    ae = (tmp_path / "e" / "ae.csv").read_text("utf-8")
    assert ",true,false,ICI,false,ONGOING,NONE" in ae and '"Diarrhoea, ""watery"""' in ae
    qol = (tmp_path / "e" / "qol.csv").read_text("utf-8")
    assert "83.33333333333333" in qol


def test_synthetic_store_is_labelled_in_every_export(valid_dir, tmp_path):
    report = validate_path(valid_dir)

    def fill(con):
        from dashboard.store import insert_frame

        for n, df in report.tables.items():
            insert_frame(con, n, df)

    db = tmp_path / "synth.duckdb"
    build_store(db, fill, {"source": "synthetic", "seed": 1}, derive=False)
    out = tmp_path / "exp"
    manifest = export_registry(db, out)
    assert manifest["synthetic"] is True and manifest["source"] == "synthetic"
    assert "SYNTHETIC" in (out / "SYNTHETIC_DATA.txt").read_text()
    assert (out / "README.md").read_text().startswith("# SYNTHETIC DATA")
    # the label survives a re-import of the export
    meta = import_registry(out, tmp_path / "re.duckdb", derive=False)
    assert meta["source"] == "synthetic"
    rc = tmp_path / "rc"
    ingest.export_redcap(db, rc)
    assert (rc / "SYNTHETIC_DATA.txt").exists()


def test_xlsx_round_trip(valid_store, tmp_path):
    db, chash = valid_store
    tables, _, _ = read_store_tables(db)
    wb = ingest.write_xlsx(tables, tmp_path / "registry.xlsx")
    report = validate_path(wb)
    assert report.ok, report.format()
    assert report.source_format == "xlsx"
    meta = import_registry(wb, tmp_path / "x.duckdb", derive=False)
    assert meta["content_hash"] == chash
    assert read_meta(tmp_path / "x.duckdb")["import_format"] == "xlsx"


def test_xlsx_typed_cells_become_text(tmp_path):
    """Numbers typed as floats, dates as Excel dates, and text all read back as canonical text."""
    import xlsxwriter

    from dashboard.ingest.readers import read_xlsx

    p = tmp_path / "w.xlsx"
    wb = xlsxwriter.Workbook(str(p))
    ws = wb.add_worksheet("follow_up")
    ws.write_row(0, 0, ["subject_id", "last_contact_date", "vital_status"])
    import datetime as dt

    ws.write_string(1, 0, "S1")
    ws.write_datetime(1, 1, dt.datetime(2023, 4, 5), wb.add_format({"num_format": "yyyy-mm-dd"}))
    ws.write_string(1, 2, "ALIVE")
    ws.write_number(2, 0, 7.0)
    wb.close()
    raw = read_xlsx(p)
    df = raw.tables["follow_up"].frame
    assert df["last_contact_date"].to_list() == ["2023-04-05", None]
    assert df["subject_id"].to_list() == ["S1", "7"]
    assert df["__row"].to_list() == [2, 3]


def test_redcap_round_trip(valid_store, tmp_path):
    db, chash = valid_store
    rec, dic = ingest.export_redcap(db, tmp_path / "rc")
    assert rec.name == "REGISTRY_DATA.csv" and dic.name == "REGISTRY_DataDictionary.csv"
    report = validate_path(tmp_path / "rc")
    assert report.ok, report.format()
    assert report.source_format == "redcap"
    meta = import_registry(tmp_path / "rc", tmp_path / "r.duckdb", derive=False)
    assert meta["content_hash"] == chash
    # the records file alone finds its dictionary beside it
    assert validate_path(rec).ok


def test_redcap_records_use_integer_codes_and_checkboxes(valid_store, tmp_path):
    db, _ = valid_store
    rec, dic = ingest.export_redcap(db, tmp_path / "rc")
    df = pl.read_csv(rec, infer_schema=False)
    s001 = df.filter((pl.col("record_id") == "S001") & pl.col("redcap_repeat_instrument").is_null())
    assert s001.height == 1 and s001["sex"][0] == "1" and s001["vital_status"][0] == "1"
    ici = df.filter((pl.col("record_id") == "S002") & (pl.col("redcap_repeat_instrument") == "ici_exposure"))
    assert ici["drugs___1"][0] == "1" and ici["drugs___13"][0] == "1"  # nivolumab, ipilimumab
    assert "exposure_no" not in df.columns  # supplied by redcap_repeat_instance
    d = pl.read_csv(dic, infer_schema=False)
    assert d.columns[:6] == ["Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
                             "Choices, Calculations, OR Slider Labels"]
    assert d["Variable / Field Name"][0] == "record_id"
    assert d["Variable / Field Name"].n_unique() == d.height  # REDCap needs unique field names


def test_redcap_hand_written_export_labels_and_codes(tmp_path):
    """A REDCap project whose choice labels are our codes or labels in any case, and whose
    repeating forms carry their own number fields, maps onto the schema."""
    rows = dictionary_rows()
    for r in rows:
        if r["Variable / Field Name"] == "sex":
            r["Choices, Calculations, OR Slider Labels"] = "0, female | 1, MALE"
    from dashboard.ingest.redcap import DICTIONARY_COLUMNS, _write_csv

    _write_csv(tmp_path / "data_dictionary.csv", DICTIONARY_COLUMNS, ([r[k] for k in DICTIONARY_COLUMNS] for r in rows))
    rec = (
        "record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,cohort,centre,registration_date,"
        "eligibility,age,sex,tumour_site,biomarker_basis,last_contact_date,vital_status,subject_complete\n"
        "R1,baseline_arm_1,,,1,C1,2022-01-01,1,50,0,1,1,2023-01-01,1,2\n"
        "R2,baseline_arm_1,,,2,C1,2022-01-01,1,60,1,2,4,2023-01-01,1,2\n"
    )
    (tmp_path / "records.csv").write_text(rec, encoding="utf-8")
    report = validate_path(tmp_path)
    assert report.ok, report.format()
    s = report.tables["subject"]
    assert s["sex"].to_list() == ["F", "M"]
    assert s["cohort"].to_list() == ["RETRO", "PROSP"]
    assert s["biomarker_basis"].to_list() == ["DMMR_IHC", "POLE"]


def test_redcap_field_names_unique_and_mappable():
    names = field_names()
    assert len(set(names.values())) == len(names)
    from dashboard.ingest.redcap import _column_for
    from dashboard.schema import TABLES_BY_NAME

    for (t, c), f in names.items():
        if f != "record_id":
            assert _column_for(TABLES_BY_NAME[t], f) == c


def test_vocabulary_labels_do_not_collide_with_other_codes():
    """REDCap choice labels are matched to a code or a label case-insensitively: this must be unambiguous."""
    for v in VOCABULARIES.values():
        codes = {c.lower(): c for c in v.codes}
        for code, label in v.items:
            assert codes.get(label.lower(), code) == code, (v.name, label)
        assert len({label.lower() for _, label in v.items}) == len(v.items), v.name


def test_unknown_csv_file_is_a_warning_not_an_error(valid_dir, tmp_path):
    d = shutil.copytree(valid_dir, tmp_path / "r")
    (d / "notes.csv").write_text("a,b\n1,2\n")
    (d / "README.md").write_text("ignored")
    report = validate_path(d)
    assert report.ok
    (p,) = report.problems
    assert (p.rule, p.file, p.severity) == ("unknown_file", "notes.csv", "warning")
    assert "1 warning(s)" in report.format()


def test_optional_tables_may_be_absent(valid_dir, tmp_path):
    d = tmp_path / "min"
    d.mkdir()
    for n in ("subject", "follow_up"):
        shutil.copy(valid_dir / f"{n}.csv", d)
    report = validate_path(d)
    assert report.ok, report.format()
    assert report.tables["ae"].height == 0


def test_bom_crlf_and_alternative_booleans_accepted(valid_dir, tmp_path):
    d = shutil.copytree(valid_dir, tmp_path / "r")
    text = (d / "ae.csv").read_text("utf-8").replace(",true,", ",yes,").replace(",false,", ",0,")
    (d / "ae.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    report = validate_path(d)
    assert report.ok, report.format()
    assert report.tables["ae"]["immune_related"].to_list() == [True, False, True, True]


def test_many_problems_reported_in_one_run(valid_dir, tmp_path):
    d = shutil.copytree(valid_dir, tmp_path / "r")
    vr.set_cell(d, "subject", "S001", "age", "150")
    vr.set_cell(d, "subject", "S002", "sex", "X")
    vr.set_cell(d, "subject", "S003", "registration_date", "2023-02-30")
    vr.set_cell(d, "ae", "S001", "term", "=1+1")
    vr.set_cell(d, "qol", "S001", "score", "50", nth=1)
    vr.set_cell(d, "follow_up", "S004", "death_date", "")
    report = validate_path(d)
    got = {(p.rule, p.file, p.row, p.column) for p in report.problems}
    assert {
        ("range", "subject.csv", 2, "age"),
        ("vocabulary", "subject.csv", 3, "sex"),
        ("date_invalid", "subject.csv", 4, "registration_date"),
        ("formula_injection", "ae.csv", 2, "term"),
        ("qol_score_range", "qol.csv", 3, "score"),
        ("dead_without_date", "follow_up.csv", 5, "death_date"),
    } <= got
    assert len(report.errors) == len(got) == 6
    text = report.format(max_rows=3)
    assert "... and 3 more" in text and "6 error(s)" in text
    frame = report.to_frame()
    assert frame.columns == ["file", "row", "column", "value", "rule", "message", "severity"]
    assert report.tables == {}


def test_every_row_is_reported_not_only_the_first(valid_dir, tmp_path):
    d = shutil.copytree(valid_dir, tmp_path / "r")
    header, rows = vr.read_rows(d, "assessment")
    for r in rows:
        r[header.index("modality")] = "XRAY"
    vr.write_rows(d, "assessment", header, rows)
    report = validate_path(d)
    assert [p.row for p in report.problems] == list(range(2, 2 + len(rows)))


def test_rejected_import_carries_the_report(valid_dir, tmp_path):
    d = shutil.copytree(valid_dir, tmp_path / "r")
    vr.set_cell(d, "subject", "S001", "age", "150")
    with pytest.raises(ImportRejected) as exc:
        import_registry(d, tmp_path / "new.duckdb", derive=False)
    assert not (tmp_path / "new.duckdb").exists()
    assert exc.value.report.problems[0].rule == "range"
    assert "subject.csv" in str(exc.value)


def test_validation_of_many_rows(valid_dir, tmp_path):
    """20k copies of the six patients' subject and follow_up rows validate and type every row
    (speed is measured in bench/bench_ingest.py, never in a timed test)."""
    n = 20_000
    raw_sub = pl.read_csv(valid_dir / "subject.csv", infer_schema=False)
    raw_fu = pl.read_csv(valid_dir / "follow_up.csv", infer_schema=False)
    big = tmp_path / "big"
    big.mkdir()
    rep = pl.DataFrame({"k": range(n)})
    for name, df in (("subject", raw_sub), ("follow_up", raw_fu)):
        out = rep.join(df, how="cross").with_columns(
            pl.concat_str(pl.col("subject_id"), pl.lit("-"), pl.col("k").cast(pl.String)).alias("subject_id")
        ).drop("k")
        out.write_csv(big / f"{name}.csv")
    report = validate_path(big)
    assert report.ok, report.format(10)
    assert report.tables["subject"].height == 6 * n
    assert report.tables["follow_up"].height == 6 * n


# --------------------------------------------------------------------------------------
# Template
# --------------------------------------------------------------------------------------
TEMPLATE = REPO / "docs" / "import-template"


def test_template_is_generated_from_schema(tmp_path):
    write_template(tmp_path)
    for t in TABLES:
        assert (tmp_path / f"{t.name}.csv").read_text() == ",".join(t.column_names) + "\n"
    readme = (tmp_path / "README.md").read_text()
    assert "| sex | code | yes | `F`, `M` |" in readme
    assert "LARS | TOTAL | LARS score | 0 to 42" in readme
    # an empty template (headers only) is rejected for having zero patients, nothing else
    report = validate_path(tmp_path)
    assert [p.rule for p in report.problems if p.severity == "error"] == ["no_subjects"]


def test_committed_template_is_not_stale(tmp_path):
    """Regenerate with: python -c "from dashboard.ingest import write_template; write_template('docs/import-template')"."""
    write_template(tmp_path)
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in TEMPLATE.iterdir()} if TEMPLATE.is_dir() else {}
    assert committed == fresh, "docs/import-template is stale: regenerate it with write_template()"
    assert template_readme() == (TEMPLATE / "README.md").read_text("utf-8")


def test_synthetic_generator_output_validates_and_round_trips(tmp_path):
    """Integration with the seeded generator (skipped while synth.py is absent)."""
    synth = pytest.importorskip("dashboard.synth")
    db = tmp_path / "demo.duckdb"
    synth.build_demo(db, 300, 11, derive=False)
    manifest = export_registry(db, tmp_path / "exp")
    report = validate_path(tmp_path / "exp")
    assert report.ok, report.format(50)
    meta = import_registry(tmp_path / "exp", tmp_path / "back.duckdb", derive=False)
    assert meta["content_hash"] == manifest["content_hash"]
    assert meta["source"] == "synthetic"


def test_tables_checked_in_slices_give_the_same_report(valid_dir, tmp_path, monkeypatch):
    """Cells are typed and checked CHECK_ROWS rows at a time (bounded memory at 1M patients):
    slices of 2 rows give the same typed tables and the same problems as one slice."""
    V = sys.modules["dashboard.ingest.validate"]

    d = shutil.copytree(valid_dir, tmp_path / "r")
    vr.set_cell(d, "subject", "S003", "age", "150")
    vr.set_cell(d, "assessment", "S001", "modality", "XRAY", nth=2)
    header, rows = vr.read_rows(d, "assessment")
    rows.append(list(rows[0]))  # a duplicate key across slices
    vr.write_rows(d, "assessment", header, rows)
    whole = validate_path(d)
    monkeypatch.setattr(V, "CHECK_ROWS", 2)
    sliced = validate_path(d)
    assert sliced.frame.equals(whole.frame)
    assert {(p.rule, p.row) for p in whole.problems} >= {("range", 4), ("vocabulary", 4), ("duplicate_key", 2)}
    clean = validate_path(valid_dir)
    monkeypatch.setattr(V, "CHECK_ROWS", 1 << 18)
    for t in TABLES:
        assert clean.tables[t.name].equals(validate_path(valid_dir).tables[t.name]), t.name
