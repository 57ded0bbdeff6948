"""Pathway rules of the validator (issue 14): refusals naming file, row, column and both
dates, and the warnings for what the derived tables read in a particular way.

Each case edits one cell (or adds one row) of the small valid registry in
tests/malformed/valid_registry.py, so the expected file line is known in advance.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent / "malformed"))
import valid_registry as vr  # noqa: E402

from dashboard.ingest import ImportRejected, import_registry, validate_path  # noqa: E402


@pytest.fixture(scope="module")
def valid_dir(tmp_path_factory) -> Path:
    return vr.write_valid(tmp_path_factory.mktemp("valid") / "registry")


@pytest.fixture
def reg(valid_dir, tmp_path) -> Path:
    return shutil.copytree(valid_dir, tmp_path / "r")


def problems(d: Path):
    report = validate_path(d)
    return report, [p for p in report.problems if p.rule not in ("unknown_file",)]


def test_the_valid_registry_has_no_pathway_findings(reg):
    report, probs = problems(reg)
    assert report.ok and probs == []


def test_last_contact_after_death_is_refused(reg):
    line = vr.set_cell(reg, "follow_up", "S004", "last_contact_date", "2023-10-01")
    report, probs = problems(reg)
    assert not report.ok
    (p,) = probs
    assert (p.file, p.row, p.column, p.rule, p.value, p.severity) == (
        "follow_up.csv", line, "last_contact_date", "last_contact_after_death", "2023-10-01", "error")
    assert "2023-10-01" in p.message and "2023-09-15" in p.message
    # the same day is fine (last contact = death date)
    vr.set_cell(reg, "follow_up", "S004", "last_contact_date", "2023-09-15")
    assert problems(reg)[0].ok


def test_strategy_decision_before_first_dose_is_refused(reg):
    line = vr.set_cell(reg, "strategy_episode", "S001", "decision_date", "2022-01-14")  # first dose 2022-01-15
    report, probs = problems(reg)
    (p,) = probs
    assert (p.file, p.row, p.column, p.rule, p.value) == (
        "strategy_episode.csv", line, "decision_date", "t1_before_first_dose", "2022-01-14")
    assert "2022-01-14" in p.message and "2022-01-15" in p.message and not report.ok
    # on the day of the first dose: allowed
    vr.set_cell(reg, "strategy_episode", "S001", "decision_date", "2022-01-15")
    assert problems(reg)[0].ok


def test_oncological_events_before_first_dose_are_refused(reg):
    l1 = vr.set_cell(reg, "onc_event", "S003", "event_date", "2021-05-09")  # regrowth; first dose 2021-05-10
    l2 = vr.set_cell(reg, "onc_event", "S004", "event_date", "2022-02-01")  # distant; first dose 2022-02-10
    report, probs = problems(reg)
    got = {(p.file, p.row, p.column, p.rule, p.value) for p in probs}
    assert got == {("onc_event.csv", l1, "event_date", "event_before_first_dose", "2021-05-09"),
                   ("onc_event.csv", l2, "event_date", "event_before_first_dose", "2022-02-01")}
    msg = {p.row: p.message for p in probs}
    assert "LOCAL_REGROWTH" in msg[l1] and "2021-05-10" in msg[l1]
    assert "DISTANT" in msg[l2] and "2022-02-10" in msg[l2]


def test_refused_import_leaves_no_store(reg, tmp_path):
    vr.set_cell(reg, "strategy_episode", "S001", "decision_date", "2022-01-01")
    db = tmp_path / "new.duckdb"
    with pytest.raises(ImportRejected) as exc:
        import_registry(reg, db, derive=False)
    assert "t1_before_first_dose" in exc.value.report.errors["rule"].to_list()
    assert not db.exists()


def test_nodal_reappearance_under_ww_is_read_as_regrowth_with_a_warning(reg):
    line = vr.append_row(reg, "onc_event", dict(subject_id="S001", event_no="1", event_type="NODAL",
                                                 event_date="2023-01-10", confirmation="BIOPSY", regrowth_site="NODES"))
    # the same code after a radical resection (S002, initial RO) is a nodal recurrence: no warning
    vr.append_row(reg, "onc_event", dict(subject_id="S002", event_no="1", event_type="NODAL",
                                          event_date="2023-01-10", confirmation="BIOPSY"))
    report, probs = problems(reg)
    assert report.ok
    (p,) = probs
    assert (p.file, p.row, p.column, p.rule, p.severity) == ("onc_event.csv", line, "event_type",
                                                             "nodal_read_as_regrowth", "warning")
    assert "2023-01-10" in p.message and "regrowth" in p.message


def test_missing_salvage_link_is_inferred_with_a_warning(reg, tmp_path):
    line = vr.set_cell(reg, "onc_event", "S003", "salvage_procedure_no", "")
    report, probs = problems(reg)
    assert report.ok
    (p,) = probs
    assert (p.file, p.row, p.column, p.rule, p.severity) == ("onc_event.csv", line, "salvage_procedure_no",
                                                             "salvage_link_inferred", "warning")
    assert "procedure 1" in p.message and "2022-06-10" in p.message and "2022-05-15" in p.message
    # the derived tables read the same link: the regrowth is salvaged (R0)
    db = tmp_path / "inferred.duckdb"
    import_registry(reg, db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT salvage_link_inferred_fl, status_at_last_fu FROM adsl WHERE subject_id = 'S003'"
                           ).fetchone() == (True, "REGROWTH_SALVAGED")
    finally:
        con.close()


def test_two_candidate_salvage_procedures_are_an_error(reg):
    line = vr.set_cell(reg, "onc_event", "S003", "salvage_procedure_no", "")
    vr.append_row(reg, "procedure", dict(subject_id="S003", procedure_no="2", episode_no="2", procedure_date="2022-06-20",
                                          procedure_type="TEM", intent="SALVAGE", approach="TRANSANAL", r_status="R0"))
    report, probs = problems(reg)
    assert not report.ok
    (p,) = probs
    assert (p.file, p.row, p.column, p.rule, p.severity) == ("onc_event.csv", line, "salvage_procedure_no",
                                                             "salvage_link_ambiguous", "error")
    assert "1, 2" in p.message and "salvage_procedure_no" in p.message
    # giving the link resolves it
    vr.set_cell(reg, "onc_event", "S003", "salvage_procedure_no", "1")
    assert problems(reg)[0].ok


def test_a_salvage_after_another_oncological_event_is_not_inferred(reg):
    vr.set_cell(reg, "onc_event", "S003", "salvage_procedure_no", "")
    # distant metastasis between the regrowth (2022-05-15) and the salvage LAR (2022-06-10)
    vr.append_row(reg, "onc_event", dict(subject_id="S003", event_no="2", event_type="DISTANT",
                                          event_date="2022-06-01", confirmation="IMAGING"))
    report, probs = problems(reg)
    assert report.ok and probs == []
