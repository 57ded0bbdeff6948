"""Every page's figures and tables go through the shared export / presentation layer:
the MDT report holds the Survival, Organ-preservation, Safety and QoL sections under the
current filter; a KM figure exports with its number-at-risk table; presentation mode
shows no patient identifier on the Organ-preservation and Survival pages."""

from __future__ import annotations

import json
from pathlib import Path

import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.filters import CohortFilter
from dashboard.store import Store
from dashboard.ui.report import REPORT_PAGES, collect_sections
from builders import served_demo

ROOT = Path(__file__).resolve().parents[1]
ORGAN = str(ROOT / "pages" / "3_Organ_preservation.py")
SURVIVAL = str(ROOT / "pages" / "2_Survival.py")
CHROMIUM = Path("/usr/bin/chromium").exists()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "report_pages", 500, 23)


def _app(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(page, default_timeout=90)
    at.query_params = query
    return at.run()


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


# ------------------------------------------------------------------ MDT report
@pytest.mark.parametrize("flt", [CohortFilter(), CohortFilter(site=("RECTUM",))])
def test_report_has_every_analysis_page(db, flt):
    pages = [p for p, _ in REPORT_PAGES]
    for page in ("Survival", "Organ preservation", "Safety", "Quality of life"):
        assert page in pages
    assert not any("timeline" in p.lower() or "patient" in p.lower() for p in pages)  # patient-level: left out
    sections = {s.page: s for s in collect_sections(Store(db), flt)}
    for page in ("Survival", "Organ preservation", "Safety", "Quality of life"):
        assert sections[page].items and not sections[page].note, (page, sections[page].note)
    titles = {page: [i.title for i in sections[page].items] for page in sections}
    assert "Organ-preservation survival by initial strategy group (organ-preserving strategies)" in titles["Survival"]
    assert "Disease-free survival (salvage-adjusted) by initial strategy group" in titles["Survival"]
    assert "Overall survival by initial strategy group" in titles["Survival"]
    assert "Local regrowth under Watch & Wait, with competing risks" in titles["Survival"]
    assert "Organ preservation by subgroup" in titles["Organ preservation"]
    assert "Response rates" in titles["Organ preservation"]
    assert any("Global health" in t for t in titles["Quality of life"])
    for s in sections.values():  # never a patient identifier in the report
        for item in s.items:
            if item.is_table:
                assert "subject_id" not in item.content.columns
                assert not any("NOR-" in str(v) for col in item.content.iter_columns() for v in col.to_list())
            else:
                assert "NOR-" not in json.dumps(item.content.to_plotly_json(), default=str)


def test_report_km_equals_the_statistics_layer(db):
    from dashboard.queries.survival import FACTORS, TteRequest, select_tte
    from dashboard.stats.summaries import SurvivalOptions, summarize_survival
    from dashboard.tables.survival import format_survival_table

    store = Store(db)
    sec = {s.page: s for s in collect_sections(store, CohortFilter())}["Survival"]
    table = [i for i in sec.items if i.title == "Overall survival: Kaplan-Meier estimates"][0].content
    req = TteRequest("OS", "T1", "initial_group")
    s = summarize_survival(select_tte(store, CohortFilter(), req), SurvivalOptions(reference="RO"),
                           group_order=FACTORS["initial_group"].codes)
    assert table.equals(format_survival_table(s, FACTORS["initial_group"].label_of))


@pytest.mark.skipif(not CHROMIUM, reason="no Chromium")
def test_km_export_carries_the_number_at_risk_table(db):
    from dashboard.figures.export import figure_bytes

    sec = {s.page: s for s in collect_sections(Store(db), CohortFilter())}["Survival"]
    fig = sec.items[0].content
    assert isinstance(fig, go.Figure)
    at_risk = [t for t in fig.data if (t.name or "").startswith("at risk: ")]
    assert len(at_risk) >= 2 and all(t.yaxis == "y2" for t in at_risk)
    svg = figure_bytes(fig, "svg", "double", None).decode()
    assert "Number at risk" in svg
    assert all(t.text[0] in svg for t in at_risk)  # the at-risk counts at time 0


# ------------------------------------------------------------------ presentation mode
def test_swimmer_shows_no_subject_id_in_presentation_mode(db):
    normal = _app(ORGAN, {"section": "swimmer", "lanes": "50"})
    assert not normal.exception, normal.exception
    assert "NOR-" in json.dumps(_specs(normal)[0])  # ids on the axis and in the hover normally
    at = _app(ORGAN, {"section": "swimmer", "lanes": "50", "present": "1"})
    assert not at.exception, at.exception
    spec = _specs(at)[0]
    text = json.dumps(spec)
    assert "NOR-" not in text and "Patient 1" in text
    assert spec["layout"]["meta"]["presentation"] is True
    assert len({y for t in spec["data"] if t["type"] == "bar" for y in t["y"]}) == \
        len({y for t in _specs(normal)[0]["data"] if t["type"] == "bar" for y in t["y"]})
    assert not any("NOR-" in (m.value or "") for m in [*at.markdown, *at.caption])


@pytest.mark.parametrize("query", [{}, {"section": "response"}])
def test_organ_page_in_presentation_mode(db, query):
    at = _app(ORGAN, {**query, "present": "1"})
    assert not at.exception, at.exception
    assert at.table and not at.dataframe  # large HTML tables
    assert all(s["layout"]["meta"]["presentation"] for s in _specs(at))
    assert len(at.get("popover")) >= 2  # export of each figure and table


@pytest.mark.parametrize("query", [{}, {"view": "cif"}])
def test_survival_page_in_presentation_mode(db, query):
    at = _app(SURVIVAL, {**query, "present": "1"})
    assert not at.exception, at.exception
    assert at.table and not at.dataframe
    specs = _specs(at)
    assert specs and all(s["layout"]["meta"]["presentation"] for s in specs)
    assert any(t.get("name", "").startswith("at risk: ") for t in specs[0]["data"])
    assert len(at.get("popover")) >= 2


def test_case_list_picker_only_outside_presentation_mode(db):
    normal = _app(ORGAN, {})
    assert not normal.exception, normal.exception
    assert "report_cases" in [w.key for w in normal.multiselect]  # open demo mode: every permission
    present = _app(ORGAN, {"present": "1"})
    assert not present.exception, present.exception
    assert "report_cases" not in [w.key for w in present.multiselect]  # no patient id on a shared screen
