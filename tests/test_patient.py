"""Patient timeline: the record query on a hand-built patient (ids are bound parameters),
the timeline and comparable-patient figures, and the page (AppTest): renders, the
``patient`` URL parameter selects that patient, an unknown id gives a notice, no exception,
and no patient id on screen in presentation mode."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from builders import ConStore, Registry, d, served_demo
from dashboard.figures.timeline import comparable_figure, timeline_figure
from dashboard.filters import CohortFilter
from dashboard.ui.text import md_text  # the id is shown as escaped markdown (issue 13)
from dashboard.queries.patient import (
    select_comparable_tte,
    select_patient_exists,
    select_patient_ids,
    select_patient_record,
    valid_patient_id,
)
from dashboard.stats.surveillance import estimate_next_exams
from dashboard.store import Store

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "6_Patient_timeline.py")


@pytest.fixture(scope="module")
def store():
    reg = Registry()
    p = reg.patient("NOR-A", restaging="2022-06-15", last_contact="2024-06-01")
    p.episode("WW", "2022-07-01").assessment("2022-10-01").assessment("2022-10-01", modality="MRI")
    p.assessment("2023-01-05", result="TUMOUR").event("LOCAL_REGROWTH", "2023-01-05", salvage_procedure_no=1)
    p.episode("RO", "2023-01-20", "2023-02-01").procedure("TME_LAR", "2023-02-01", intent="SALVAGE", stoma="TEMPORARY",
                                                           stoma_closure_date=d("2023-06-01"), clavien_dindo="IIIA")
    reg.rows["ae"].append(dict(subject_id="NOR-A", ae_no=1, term="Colitis", soc="GI", grade=3, onset_date=d("2022-03-01"),
                               resolution_date=d("2022-04-01"), immune_related=True, attribution="ICI"))
    reg.rows["qol"].append(dict(subject_id="NOR-A", instrument="QLQ_C30", scale="QL2", timepoint="BASELINE",
                                qol_date=d("2021-12-20"), score=66.7))
    q = reg.patient("NOR-B", site="GASTRIC", last_contact="2024-06-01")
    q.episode("WW", "2022-07-01").assessment("2022-10-01")
    reg.patient("NOR-C", eligibility="PMMR_MSS", response=None)
    con = reg.connect()
    yield ConStore(con)
    con.close()


def test_record_holds_every_table(store):
    rec = select_patient_record(store, CohortFilter(), "NOR-A")
    assert rec.row["subject_id"] == "NOR-A" and rec.row["organ_lost_date"] == d("2023-02-01")
    assert rec.episodes["strategy"].to_list() == ["WW", "RO"]
    assert rec.assessments.height == 4 and rec.procedures["clavien_dindo"].to_list() == ["IIIA"]
    assert rec.aes["grade"].to_list() == [3] and rec.events["event_type"].to_list() == ["LOCAL_REGROWTH"]
    assert rec.qol.height == 1 and rec.ici.height == 1
    assert not {"name", "mrn", "date_of_birth", "centre"} & set(rec.patient.columns)


@pytest.mark.parametrize("bad", ["NOPE", "NOR-A' OR '1'='1", "", "x" * 200, None, 42, "NOR-A\n"])
def test_unknown_or_malformed_ids_find_nobody(store, bad):
    assert select_patient_record(store, CohortFilter(), bad) is None
    assert select_patient_exists(store, CohortFilter(), bad) is False


def test_ids_follow_the_filter(store):
    assert select_patient_ids(store, CohortFilter()) == ("NOR-A", "NOR-B", "NOR-C")
    assert select_patient_ids(store, CohortFilter(), limit=2) == ("NOR-A", "NOR-B")
    assert select_patient_exists(store, CohortFilter(site=("GASTRIC",)), "NOR-B")
    assert not select_patient_exists(store, CohortFilter(site=("GASTRIC",)), "NOR-A")
    assert select_patient_ids(store, CohortFilter(site=("GASTRIC",))) == ("NOR-B",)
    assert valid_patient_id("NOR-0000001") and not valid_patient_id("a\x00b")


def test_timeline_figure_lanes(store):
    rec = select_patient_record(store, CohortFilter(), "NOR-A")
    fig = timeline_figure(rec)
    ticks = set(fig.layout.yaxis.ticktext)
    assert {"Immunotherapy", "Strategy", "Clinical response", "Endoscopy", "MRI", "Procedures", "Stoma",
            "Adverse events", "Oncological events", "Questionnaires"} <= ticks
    text = json.dumps(fig.to_plotly_json(), default=str)
    assert "Clavien-Dindo IIIa" in text and "Colitis - grade 3" in text and "organ removed" in text
    assert "NOR-A" not in text  # the figure itself never carries the id


def test_timeline_marks_an_overdue_exam(store):
    rec = select_patient_record(store, CohortFilter(), "NOR-B")
    cand = pl.DataFrame([dict(subject_id="NOR-B", tumour_site="GASTRIC", t1=d("2022-07-01"), current_strategy="WW",
                              organ_lost_date=None, vital_status="ALIVE", death_date=None, data_cutoff=d("2024-06-01"),
                              last_endoscopy_date=d("2022-10-01"), last_mri_date=None)])
    due = estimate_next_exams(cand)
    assert due["overdue"].to_list() == [True]
    text = json.dumps(timeline_figure(rec, due).to_plotly_json(), default=str)
    assert "OVERDUE" in text and f"overdue {due['days_overdue'][0]} d" in text


def test_timeline_labels_stay_inside_the_plot_and_off_short_bars(store):
    """A next exam due after the cut-off is drawn with its label inside the x range (it was
    cut off at the right edge), and a bar too short for its label (a few immunotherapy cycles,
    a short adverse event) has the label after its end rather than over it and beyond."""
    rec = select_patient_record(store, CohortFilter(), "NOR-A")
    cand = pl.DataFrame([dict(subject_id="NOR-A", tumour_site="RECTUM", t1=d("2022-06-15"), current_strategy="WW",
                              organ_lost_date=None, vital_status="ALIVE", death_date=None, data_cutoff=d("2024-06-01"),
                              last_endoscopy_date=d("2024-05-20"), last_mri_date=d("2024-05-20"))])
    due = estimate_next_exams(cand)
    assert due.height and not any(due["overdue"].to_list())
    fig = timeline_figure(rec, due)
    lo, hi = fig.layout.xaxis.range
    due_x = [x for tr in fig.data if tr.text and "next due" in tr.text for x in tr.x]
    assert due_x and all(x < hi - 0.08 * (hi - lo) for x in due_x), (due_x, hi)  # room for "next due" on the right
    bars = 0
    for before, tr in zip(fig.data, fig.data[1:]):
        if tr.mode == "text" and before.fill == "toself":
            x0, x1 = min(before.x), max(before.x)
            if x1 - x0 < 0.25 * (hi - lo):
                assert tr.x[0] == x1, (tr.text, x0, x1, tr.x)
                bars += 1
            else:
                assert tr.x[0] == x0, (tr.text, x0, x1, tr.x)
    assert bars >= 1  # the fixture's adverse event is such a bar


def test_comparable_tte_and_figure(store):
    tte = select_comparable_tte(store, CohortFilter(site=("RECTUM",)))
    assert set(tte["subject_id"]) == {"NOR-A"} and set(tte["paramcd"]) == {"OPS", "RG"}
    ops = tte.filter(pl.col("paramcd") == "OPS").row(0, named=True)
    assert ops["cnsr"] == 0 and ops["aval"] == pytest.approx((d("2023-02-01") - d("2022-07-01")).days / 30.4375)
    fig = comparable_figure(None, None, patient_months=10.0, patient_marks={}, n_ops=1, n_rg=1)
    assert "too few comparable patients" in json.dumps(fig.to_plotly_json())


# ------------------------------------------------------------------ the page
@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "patient", 800, 73)


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90)
    if query:
        at.query_params = query
    return at.run()


def _rich_patient(db) -> str:
    return Store(db).sql("""SELECT subject_id FROM adsl WHERE initial_strategy = 'WW' AND first_regrowth_date IS NOT NULL
                            AND organ_lost_date IS NOT NULL ORDER BY subject_id LIMIT 1""")["subject_id"][0]


def test_page_renders(db):
    at = _app()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 2  # timeline + comparable patients


def test_url_selects_the_patient(db):
    pid = _rich_patient(db)
    at = _app({"patient": pid})
    assert not at.exception, at.exception
    assert at.selectbox(key="patient_pick").value == pid
    assert any(m.value.startswith(f"**{md_text(pid)}**") for m in at.main.markdown)
    assert at.query_params["patient"] in (pid, [pid])
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    ticks = spec["layout"]["yaxis"]["ticktext"]
    assert "Oncological events" in ticks and "Procedures" in ticks
    # a filter that leaves the patient out keeps them on screen, with a note
    other = "GASTRIC" if Store(db).sql("SELECT tumour_site FROM adsl WHERE subject_id = $p", {"p": pid}).item() != "GASTRIC" else "RECTUM"
    at.multiselect(key="flt_site").set_value([other]).run()
    assert not at.exception and at.selectbox(key="patient_pick").value == pid
    assert any("not among those selected" in i.value for i in at.info)


def test_picker_offers_a_capped_list_and_accepts_a_typed_id(db, monkeypatch):
    """A national registry's ids are not all sent to the browser: the list holds the first
    PICK_LIMIT ids of the selection; any other id can be typed and is checked."""
    import dashboard.ui.patient as patient_ui

    monkeypatch.setattr(patient_ui, "PICK_LIMIT", 25)
    ids = Store(db).sql("SELECT subject_id FROM adsl ORDER BY subject_id")["subject_id"].to_list()
    at = _app()
    box = at.selectbox(key="patient_pick")
    assert list(box.options) == ids[:25]
    assert "first 25 ids" in box.help
    # an id beyond the list (typed, or from a link: AppTest's set_value only takes listed
    # options, so the link stands in for typing; both end in the same session state)
    beyond = ids[500]
    at = _app({"patient": beyond})
    assert not at.exception, at.exception
    assert at.selectbox(key="patient_pick").value == beyond
    assert any(m.value.startswith(f"**{md_text(beyond)}**") for m in at.main.markdown)
    assert not any("not among those selected" in i.value for i in at.info)  # it is in the selection


@pytest.mark.parametrize("bad", ["NOR-9999999", "'; DROP TABLE adsl; --", "<script>x</script>"])
def test_unknown_patient_gives_a_notice(db, bad):
    at = _app({"patient": bad})
    assert not at.exception, at.exception
    assert any("No patient with the id" in w.value for w in at.warning)
    assert at.selectbox(key="patient_pick").value is None
    assert Store(db).sql("SELECT count(*) AS n FROM adsl")["n"][0] == 800


def test_overdue_list_renders_and_opens_a_patient(db):
    at = _app({"view": "overdue"})
    assert not at.exception, at.exception
    assert any("overdue examinations" in m.value for m in at.main.markdown) or any(
        "No Watch & Wait patient" in s.value for s in at.success)


def test_presentation_mode_hides_the_id(db):
    pid = _rich_patient(db)
    at = _app({"patient": pid, "present": "1"})
    assert not at.exception, at.exception
    shown = " ".join(m.value for m in at.main.markdown) + " ".join(c.value for c in at.main.caption)
    assert pid not in shown
    assert "patient" not in dict(at.query_params)
    assert len(at.get("plotly_chart")) == 2
