"""The import corpus (tests/ingest_corpus/corpus.py): realistic inputs as hospitals export
them. Each one either loads, and then every cell equals the registry it encodes, or is
refused with a specific rule and message, the served store byte-for-byte unchanged.
For every input: rows read = rows loaded + rows reported, per file, and nothing printed
carries a control character."""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from ingest_corpus import corpus  # noqa: E402
from ingest_corpus.corpus import CASES, Case  # noqa: E402

from dashboard.ingest import ImportRejected, import_registry, read_registry, validate_path  # noqa: E402
from dashboard.ingest.normalise import Options  # noqa: E402
from dashboard.schema import TABLES  # noqa: E402

CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@pytest.fixture(scope="module")
def typed(tmp_path_factory):
    d = corpus.vr.write_valid(tmp_path_factory.mktemp("valid") / "registry")
    report = validate_path(d)
    assert report.ok
    return report.tables


@pytest.fixture(scope="module")
def served_template(tmp_path_factory, typed):
    d = corpus.vr.write_valid(tmp_path_factory.mktemp("valid2") / "registry")
    db = tmp_path_factory.mktemp("served") / "registry.duckdb"
    import_registry(d, db, derive=False)
    return db


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_corpus_is_large_and_covers_every_format():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    for prefix in ("csv_", "xlsx_", "ods_", "xls_", "redcap_"):
        assert any(c.id.startswith(prefix) for c in CASES), prefix
    assert sum(c.rule is None for c in CASES) >= 30 and sum(c.rule is not None for c in CASES) >= 20


def _same(got: pl.DataFrame, want: pl.DataFrame, table: str) -> None:
    t = next(t for t in TABLES if t.name == table)
    key = list(t.primary_key)
    g, w = got.sort(key, nulls_last=True), want.sort(key, nulls_last=True)
    assert g.height == w.height, f"{table}: {g.height} rows loaded, {w.height} expected"
    for c in t.column_names:
        a, b = g[c].to_list(), w[c].to_list()
        for i, (x, y) in enumerate(zip(a, b)):
            assert x == y, f"{table}.{c} row {i} ({w[key[0]][i]}): loaded {x!r}, expected {y!r}"


def _check_accounting(report, raw) -> None:
    acc = report.accounting
    assert acc is not None
    for r in acc.iter_rows(named=True):
        assert r["unaccounted"] == 0, r
        assert r["read"] == r["loaded"] + r["reported"], r
    assert "row_not_loaded" not in report.frame["rule"].to_list(), "the safety net fired: a reader lost rows silently"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus_case(case: Case, typed, served_template, tmp_path):
    inp = case.build(tmp_path / "in", typed)
    opts = Options(**case.options) if case.options else Options()
    raw = read_registry(inp, options=opts)
    report = validate_path(inp, options=opts)
    text = report.format(max_rows=None) + report.format_grouped(max_rows=None)
    assert not CTRL.search(text), "a control character reaches the terminal"
    _check_accounting(report, raw)
    for w in case.warns:
        hits = [p for p in report.problems if p.rule == w]
        assert hits, f"expected warning {w}; got\n{report.format_grouped()}"
        assert all(p.severity == "warning" for p in hits)
        if case.rule is None and case.says:
            assert any(case.says in p.message for p in hits), [p.message for p in hits]
    for i in case.infos:
        hits = [p for p in report.problems if p.rule == i]
        assert hits and all(p.severity == "info" for p in hits), f"expected info {i}; got\n{report.format_grouped()}"
        if case.says:
            assert any(case.says in p.message for p in hits), [p.message for p in hits]
    if case.rule is None:
        assert report.ok, report.format_grouped()
        want = case.expect(dict(typed)) if case.expect else typed
        for t in TABLES:
            _same(report.tables[t.name], want[t.name], t.name)
        # rows read from each CSV file = rows the generator wrote (+ blank/ghost rows it reported)
        if case.id.startswith("csv_") and "empty_rows" not in case.id and "totals" not in case.id:
            for file, n in corpus.rows_of(typed).items():
                if file in report.accounting["file"].to_list():
                    r = report.accounting.filter(pl.col("file") == file).row(0, named=True)
                    assert r["loaded"] == n, (file, r)
        return
    served = tmp_path / "data" / "registry.duckdb"
    served.parent.mkdir()
    shutil.copy2(served_template, served)
    before = sha(served)
    with pytest.raises(ImportRejected) as exc:
        import_registry(inp, served, derive=False, options=opts)
    assert sha(served) == before, "a refused import changed the served store"
    rep = exc.value.report
    hits = [p for p in rep.problems if p.rule == case.rule and p.severity == "error"]
    assert hits, f"expected {case.rule}; got\n{rep.format_grouped()}"
    if case.says:
        assert any(case.says in p.message for p in hits), [p.message for p in hits]
    assert all(len(p.message) < 2000 for p in rep.problems), "a message quotes too much"


def test_synthetic_manifest_trusted_only_when_hashes_match(typed, tmp_path):
    intact = next(c for c in CASES if c.id == "csv_manifest_synthetic_intact").build(tmp_path / "a", typed)
    edited = next(c for c in CASES if c.id == "csv_manifest_synthetic_but_edited").build(tmp_path / "b", typed)
    assert read_registry(intact).declared_source == "synthetic"
    assert read_registry(edited).declared_source is None
    meta = import_registry(edited, tmp_path / "s.duckdb", derive=False)
    assert meta.get("source", "imported") == "imported" or "synthetic" not in str(meta.get("source"))


def test_report_states_encoding_and_date_order(typed, tmp_path):
    c = next(c for c in CASES if c.id == "csv_utf16_excel_unicode_text")
    r = validate_path(c.build(tmp_path / "u", typed))
    assert set(r.encodings.values()) == {"utf-16"}
    c = next(c for c in CASES if c.id == "csv_dates_dmy_detected")
    r = validate_path(c.build(tmp_path / "d", typed))
    assert r.date_orders == {"ici_exposure.csv": "DMY"}


def test_grouped_messages_one_line_per_file_column_rule(typed, tmp_path):
    """A column of 6 bad dates is one group with a count, the first rows, cause and fix."""
    c = next(c for c in CASES if c.id == "xlsx_text_dates_ambiguous_refused")
    r = validate_path(c.build(tmp_path / "g", typed))
    g = r.grouped()
    assert g.height < r.frame.height or r.frame.height <= g.height
    amb = g.filter(pl.col("rule") == "date_order_ambiguous")
    assert amb.height >= 1 and amb["hint"][0] and "--date-order" in amb["hint"][0]
    # knock-on problems (a date that failed, then a cross-table rule) are marked or absent
    assert not g.filter((pl.col("severity") == "error") & ~pl.col("follows") & pl.col("rule").is_in(["dead_without_date", "after_death"])).height


def test_knock_on_problem_is_marked_as_following(typed, tmp_path):
    """A death date that is no calendar day fails; 'dead but no death date' follows from it."""
    frames = corpus.text(typed)
    frames = corpus.set_cell(frames, "follow_up", "S001", "vital_status", "DEAD")
    frames = corpus.set_cell(frames, "follow_up", "S001", "death_date", "31/02/2024")
    frames = corpus.set_cell(frames, "follow_up", "S002", "last_contact_date", "15/05/2024")  # DMY detectable
    folder = corpus.write_csv_folder(tmp_path / "k", frames)
    g = validate_path(folder).grouped()
    first = g.row(0, named=True)
    assert first["rule"] == "date_invalid" and not first["follows"]
    dead = g.filter(pl.col("rule") == "dead_without_date")
    assert dead.height == 1 and dead["follows"][0]


def test_cli_prints_grouped_report_escaped_with_row_accounting(typed, tmp_path):
    import subprocess

    c = next(c for c in CASES if c.id == "csv_terminal_escape_in_header")
    inp = c.build(tmp_path / "e", typed)
    out = subprocess.run([sys.executable, "-m", "dashboard", "validate", str(inp), "--problems-csv", str(tmp_path / "p.csv")],
                         capture_output=True, text=True, env={**__import__("os").environ,
                                                               "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    assert out.returncode == 1
    assert "\x1b" not in out.stderr and "\x07" not in out.stderr and "\\x1b[2J" in out.stderr
    assert "ae.csv: 4 read = 4 loaded + 0 reported" in out.stderr
    assert "-> add the column" in out.stderr  # the likely fix
    assert pl.read_csv(tmp_path / "p.csv").height >= 2


def test_ingest_modules_import_without_a_circle():
    """The pipeline reads in order: model <- text/report <- readers <- normalise <- validate;
    no reader imports another reader or the dispatcher."""
    import ast

    pkg = Path(__file__).parents[1] / "src" / "dashboard" / "ingest"
    deps = {}
    for p in pkg.glob("*.py"):
        mods = set()
        for node in ast.walk(ast.parse(p.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                mods.add(node.module.split(".")[0])
        deps[p.stem] = mods
    for reader in ("reader_csv", "reader_workbook", "reader_redcap"):
        assert not deps[reader] & {"readers", "reader_csv", "reader_workbook", "reader_redcap", "validate", "normalise"} - {reader}

    def visit(m, path):
        assert m not in path, f"import circle: {' -> '.join(path + [m])}"
        for d in deps.get(m, ()):
            if d != "__init__":
                visit(d, path + [m])

    for m in deps:
        visit(m, [])


def _typed_equal(report, typed) -> None:
    for t in TABLES:
        _same(report.tables[t.name], typed[t.name], t.name)


def test_redcap_event_order_from_the_definition_not_the_rows(typed, tmp_path):
    """Shuffled rows: with the project's events CSV the export loads exactly; without it the
    row order decides (and is said to), and here it picks a wrong baseline event."""
    with_def = corpus.redcap_case(corpus.rc_links_renumbered, meta=corpus.rc_events_csv, shuffle=True)(tmp_path / "a", typed)
    rep = validate_path(with_def)
    assert rep.ok, rep.format_grouped()
    assert "redcap_event_order_rows" not in rep.frame["rule"].to_list()
    _typed_equal(rep, typed)
    without = corpus.redcap_case(corpus.rc_links_renumbered, shuffle=True)(tmp_path / "b", typed)
    rep = validate_path(without)
    warn = [p for p in rep.problems if p.rule == "redcap_event_order_rows"]
    assert warn and warn[0].severity == "warning" and "ordered as the rows come" in warn[0].message
    assert not rep.ok and "redcap_no_baseline" in rep.frame["rule"].to_list()


def test_redcap_instrument_mapping_names_the_baseline_event(typed, tmp_path):
    """The subject form designated in the second event only: that event is the baseline,
    though another event comes first in the project."""
    def meta(d, records):
        events = corpus._defined_events(records)
        with (d / "REGISTRY_InstrumentDesignations.csv").open("w", encoding="utf-8") as fh:
            fh.write("arm_num,unique_event_name,form\n1,screening_arm_1,ae\n")
            fh.write("".join(f"1,{e},{t.name}\n" for e in events if e != "screening_arm_1" for t in TABLES))

    def screening(df):  # an event before the baseline holding only the site's own screening form: nothing read from it
        return pl.concat([df.filter(pl.col("redcap_repeat_instrument").is_null()).select("record_id").with_columns(
            pl.lit("screening_arm_1").alias("redcap_event_name")), df], how="diagonal")

    inp = corpus.redcap_case(screening, meta=meta, shuffle=True)(tmp_path / "a", typed)
    rep = validate_path(inp)
    assert rep.ok, rep.format_grouped()
    _typed_equal(rep, typed)
    assert "redcap_row_without_data" in rep.frame["rule"].to_list()


def test_redcap_links_follow_renumbering_by_value(typed, tmp_path):
    """The report names every rewritten link with its old and new number."""
    inp = corpus.redcap_case(corpus.rc_links_renumbered)(tmp_path / "a", typed)
    rep = validate_path(inp)
    got = {(p.column, p.value) for p in rep.problems if p.rule == "redcap_reference_renumbered"}
    assert got == {("salvage_procedure_no", "2 -> 1"), ("procedure_no", "2 -> 1"), ("procedure_no", "1 -> 2"), ("episode_no", "1 -> 2")}, got
    assert rep.tables["onc_event"].filter(pl.col("subject_id") == "S003")["salvage_procedure_no"].to_list() == [1]
    assert rep.tables["pathology"].filter(pl.col("subject_id") == "S006").sort("procedure_no")["ypt"].to_list() == ["T2", "T0"]
    msg = next(p.message for p in rep.problems if p.rule == "redcap_renumbered" and p.column == "procedure_no")
    assert "onc_event.salvage_procedure_no" in msg and "pathology.procedure_no" in msg


def test_workbook_rows_numbered_as_the_sheet_shows_them(typed, tmp_path):
    """calamine drops empty rows above the data; the reader keeps them, so the row of a
    problem is the row Excel shows (two empty rows, header in row 3, S002 in row 5)."""
    p = corpus.xlsx_case(above=(None, None), cells={"subject": {(4, 5): "fifty"}})(tmp_path / "a", typed)
    rep = validate_path(p)
    bad = [(p.row, p.column, p.rule) for p in rep.problems if p.severity == "error"]
    assert bad == [(5, "age", "type_int")], rep.format_grouped()
    assert "title_rows" not in rep.frame["rule"].to_list()  # empty rows are not titles


def test_csv_title_rows_skipped_rows_keep_the_file_numbers(typed, tmp_path):
    def edit(d):
        corpus.title_row(d)
        p = d / "follow_up.csv"
        lines = p.read_text("utf-8").split("\n")
        assert lines[3].startswith("S001,")
        lines[3] = lines[3].replace("ALIVE", "ALIVEX").replace("DEAD", "DEADX")
        p.write_text("\n".join(lines), encoding="utf-8")

    inp = corpus.raw_folder(edit)(tmp_path / "a", typed)
    rep = validate_path(inp)
    bad = [(p.file, p.row, p.column, p.rule) for p in rep.problems if p.severity == "error"]
    assert bad == [("follow_up.csv", 4, "vital_status", "vocabulary")], rep.format_grouped()
    info = [p for p in rep.problems if p.rule == "title_rows"]
    assert [(p.row, p.severity, p.value) for p in info] == [(None, "info", "Follow-up export, Hospital A, 2024-06-30")]


@pytest.mark.parametrize("meta", ["rc_events_csv", "rc_instrument_mapping_csv", "rc_project_xml"])
def test_redcap_event_definitions_are_read_in_project_order(typed, tmp_path, meta):
    """Each kind of definition is recognised by content and gives the project's order (the
    XML lists its events backwards; the Protocol's OrderNumber orders them)."""
    from dashboard.ingest.model import RawRegistry
    from dashboard.ingest.reader_redcap import metadata_kind, read_event_definition
    from dashboard.ingest.readers import find_redcap_files, find_redcap_metadata

    d = corpus.redcap_case(corpus.rc_follow_up_several, meta=getattr(corpus, meta), shuffle=True)(tmp_path / "a", typed)
    files = find_redcap_metadata(d)
    assert len(files) == 1 and metadata_kind(files[0]) == {"rc_events_csv": "events", "rc_instrument_mapping_csv": "mapping",
                                                            "rc_project_xml": "xml"}[meta]
    assert find_redcap_files(d)[0].name.startswith("REGISTRY_DATA")  # never taken for the records
    definition = read_event_definition(files, RawRegistry("redcap", d))
    assert definition.events[:2] == ["baseline_arm_1", "month_24_arm_1"]
    rep = validate_path(d)
    assert rep.ok and "redcap_event_order_rows" not in rep.frame["rule"].to_list()
