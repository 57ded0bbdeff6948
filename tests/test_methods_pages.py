"""The issue-19 methods views on their pages (AppTest), their small-registry refusals, the
data they are built from, and the MDT report section."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from builders import served_demo
from dashboard.filters import CohortFilter
from dashboard.queries.methods import select_ae_exposure, select_pathway, select_qol_change
from dashboard.queries.safety import select_ici_ae_events
from dashboard.store import Store
from dashboard.ui import methods
from dashboard.ui.report import collect_sections

ROOT = Path(__file__).resolve().parents[1]
VIEWS = [
    ("pages/2_Survival.py", {"view": "compare"}, "Target-trial protocol"),
    ("pages/2_Survival.py", {"view": "cif", "by": "restaging_response"}, "Groups compared under competing risks"),
    ("pages/3_Organ_preservation.py", {"section": "pathway"}, None),
    ("pages/4_Safety.py", {"section": "rates"}, None),
    ("pages/5_Quality_of_life.py", {"section": "mmrm"}, None),
]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "methods", 800, 11)


def _run(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    at.query_params = query
    return at.run()


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.main.markdown] + [c.value for c in at.main.caption]
    parts += [w.value for w in at.main.warning] + [i.value for i in at.main.info] + [s.value for s in at.main.subheader]
    return "\n".join(parts)


@pytest.mark.parametrize("page,query,heading", VIEWS, ids=lambda x: str(x))
def test_methods_views_render(db, page, query, heading):
    at = _run(page, query)
    assert not at.exception, at.exception
    text = _texts(at)
    if heading:
        assert heading in text
    assert "SYNTHETIC DEMONSTRATION DATA" in text


def test_comparison_view_shows_margin_and_evalues(db):
    at = _run("pages/2_Survival.py", {"view": "compare"})
    text = _texts(at)
    assert "E-value" in text and "1.29" in text
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    # overlap, balance, KM and the non-inferiority plot with the margin line at 1.29
    assert len(charts) >= 4
    shapes = [s for c in charts for s in c["layout"].get("shapes", [])]
    assert any(s.get("x0") == 1.29 for s in shapes)


def test_small_registry_refusals_are_stated(tmp_path_factory):
    gen = served_demo(tmp_path_factory, "methods22", 22, 20260715)
    next(gen)
    try:
        at = _run("pages/2_Survival.py", {"view": "compare"})
        assert not at.exception
        assert any("Too few patients for an adjusted comparison" in w.value for w in at.main.warning)
        assert "Target-trial protocol" in _texts(at)  # the protocol is still stated
        at = _run("pages/5_Quality_of_life.py", {"section": "mmrm"})
        assert not at.exception
        assert any("Too few" in w.value for w in at.main.warning)
    finally:
        gen.close()


def test_exposure_and_events_match_the_store(db):
    store, flt = Store(db), CohortFilter()
    ex = select_ae_exposure(store, flt)
    raw = store.sql("""SELECT subject_id, date_diff('day', t0, coalesce(death_date, last_contact_date)) AS d
                       FROM adsl WHERE safety_fl ORDER BY subject_id""", {})
    assert ex.height == raw.height
    assert ex["years"].to_list() == pytest.approx([max(d, 0) / 365.25 for d in raw["d"].to_list()])
    rates = methods.ae_rates_analysis(store, flt)
    ev = select_ici_ae_events(store, flt)
    overall = rates.filter((pl.col("group") == "ALL") & (pl.col("level") == "any")).row(0, named=True)
    assert overall["n_events"] == ev.height
    assert overall["patient_years"] == pytest.approx(ex["years"].sum())


def test_pathway_and_qol_change_inputs(db):
    store, flt = Store(db), CohortFilter()
    pw = select_pathway(store, flt)
    assert set(pw["group"].unique()) <= {"NOM", "OPFS", "RO"}
    assert (pw["last"] >= 0).all()
    ro = pw.filter(pl.col("group") == "RO")
    assert ro["radical"].null_count() < ro.height  # radical surgery patients lose the organ
    q = select_qol_change(store, flt, "QLQ_C30", "QL2")
    assert "BASELINE" not in q["visit"].to_list()
    base = store.sql("""SELECT q.subject_id, q.score FROM qol q WHERE instrument = 'QLQ_C30' AND scale = 'QL2'
                        AND timepoint = 'BASELINE'""", {})
    b = dict(base.iter_rows())
    assert all(b[s] == pytest.approx(v) for s, v in q.select("subject_id", "baseline").iter_rows())


def test_report_has_target_trial_section(db):
    sections = {s.page: s for s in collect_sections(Store(db), CohortFilter())}
    tt = sections["Target-trial comparison"]
    assert not tt.note, tt.note
    titles = [i.title for i in tt.items]
    assert titles[0].startswith("Target-trial protocol summary")
    protocol = tt.items[0].content
    assert protocol["Protocol element"].to_list()[:2] == ["Eligibility", "Treatment strategies"]
