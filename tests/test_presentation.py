"""Presentation mode (``present=1``): kept in the URL, larger type and thicker lines in
every figure, tables as large HTML, no patient identifiers; one colour-blind-safe colour
per strategy everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.figures import _theme
from dashboard.figures._theme import (GROUP_COLOURS, OKABE_ITO, PRESENT_MIN_FONT, STRATEGY_COLOURS,
                                      presentation_figure)
from dashboard.schema import STRATEGY_GROUP, STRATEGY_TO_GROUP
from builders import served_demo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "present", 500, 7)


def _app(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=60)
    if query:
        at.query_params = query
    return at.run()


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _annotation_sizes(spec: dict) -> list[float]:
    return [a["font"]["size"] for a in spec["layout"].get("annotations", []) if a.get("font", {}).get("size")]


# ------------------------------------------------------------------------ the app
def test_cohort_in_presentation_mode(db):
    normal = _specs(_app("pages/1_Cohort.py"))[0]
    at = _app("pages/1_Cohort.py", {"present": "1"})
    assert not at.exception, at.exception
    assert at.toggle(key="present_toggle").value is True
    assert at.query_params.get("present") in ("1", ["1"])
    spec = _specs(at)[0]
    assert spec["layout"]["font"]["size"] >= 22 > normal["layout"]["font"]["size"]
    assert spec["layout"]["meta"]["presentation"] is True
    assert min(_annotation_sizes(spec)) >= PRESENT_MIN_FONT > min(_annotation_sizes(normal))
    assert not any("Some settings in the link" in w.value for w in at.warning)


def test_toggle_sets_the_url_and_survives_a_page_switch(db):
    at = _app("app.py")
    assert len(at.dataframe) == 4 and not at.table
    assert at.toggle(key="present_toggle").value is False and "present" not in at.query_params
    at.toggle(key="present_toggle").set_value(True).run()
    assert at.query_params.get("present") in ("1", ["1"])
    assert len(at.table) == 4 and not at.dataframe  # large HTML tables, not the grid
    at.switch_page("pages/1_Cohort.py").run()
    assert not at.exception and at.toggle(key="present_toggle").value is True
    assert _specs(at)[0]["layout"]["font"]["size"] >= 22
    at.toggle(key="present_toggle").set_value(False).run()
    assert "present" not in at.query_params
    assert _specs(at)[0]["layout"]["font"]["size"] == 14


def test_present_with_filters_in_a_copied_link(db):
    at = _app("pages/1_Cohort.py", {"present": "1", "site": "RECTUM", "section": "transitions"})
    assert not at.exception
    assert at.multiselect(key="flt_site").value == ["RECTUM"]
    assert _specs(at)[0]["layout"]["meta"]["presentation"] is True
    bad = _app("pages/1_Cohort.py", {"present": "yes"})
    assert bad.toggle(key="present_toggle").value is False
    assert any("present=yes" in w.value for w in bad.warning)


def _listing_script():
    import polars as pl

    from dashboard.filters import CohortFilter
    from dashboard.ui.export import show_table
    from dashboard.ui.page import PageContext

    for present in ("0", "1"):
        ctx = PageContext(store=None, filter=CohortFilter(), options={"present": present})
        df = pl.DataFrame({"subject_id": ["NOR-0012", "NOR-0007"], "Event": ["regrowth", "death"]})
        show_table(df, f"listing {present}", ctx, export=False)


def test_no_patient_identifiers_on_screen_in_presentation_mode():
    at = AppTest.from_function(_listing_script).run()
    assert not at.exception, at.exception
    normal = at.dataframe[0].value
    assert "NOR-0012" in normal["subject_id"].to_list()
    shown = at.table[0].value
    text = shown.to_string() + " ".join(map(str, shown.index))
    assert "NOR-" not in text and "Patient 1" in text


# ------------------------------------------------------------------------ the theme
def test_one_okabe_ito_colour_per_strategy_and_group():
    palette = set(OKABE_ITO.values())
    strategies = ["WW", "LE", "ESD", "EMR", "RO", "SYSTEMIC"]
    assert all(STRATEGY_COLOURS[s] in palette for s in strategies)
    assert len({STRATEGY_COLOURS[s] for s in strategies}) == len(strategies)
    groups = list(STRATEGY_GROUP.codes)
    assert len({GROUP_COLOURS[g] for g in groups}) == len(groups)
    for strategy, group in STRATEGY_TO_GROUP.items():
        if strategy in ("WW", "LE", "RO", "SYSTEMIC"):
            assert STRATEGY_COLOURS[strategy] == GROUP_COLOURS[group]
    assert not hasattr(_theme, "PRESENT_STRATEGY_COLOURS")  # no second palette for presentation mode


def test_presentation_figure_scales_type_and_lines_without_touching_the_original():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[1, 2], line=dict(width=1.5, color="#0072B2")))
    fig.add_trace(go.Scatter(x=[1, 2], y=[2, 1]))
    fig.add_annotation(text="n = 12", font=dict(size=12), showarrow=False, x=1, y=1)
    fig.update_layout(font=dict(size=14), height=400, xaxis=dict(tickfont=dict(size=11)))
    big = presentation_figure(fig)
    assert big.layout.font.size >= 22 and big.layout.height == 540
    assert big.layout.annotations[0].font.size >= 18 and big.layout.xaxis.tickfont.size >= 18
    assert big.data[0].line.width >= 3 and big.data[1].line.width >= 2.5
    assert big.data[0].line.color == "#0072B2"
    assert fig.layout.font.size == 14 and fig.data[0].line.width == 1.5 and fig.layout.annotations[0].font.size == 12
