"""AppTest for every page: renders, filters change N and the counts that depend on it,
URL state round-trips, untrusted URL values are dropped with a notice."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.filters import CohortFilter
from dashboard.queries.cohort import select_consort_flow, select_patient_counts
from dashboard.store import Store
from builders import served_demo

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["app.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))]
N_OF_M = re.compile(r"\*\*([\d,]+) of ([\d,]+) patients\*\*")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "app", 600, 5)


@pytest.fixture(scope="module")
def store(db):
    return Store(db)


def _app(page: str = "app.py", query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=60)
    if query:
        at.query_params = query
    return at.run()


def _n(at: AppTest) -> tuple[int, int]:
    for md in at.main.markdown:
        m = N_OF_M.search(md.value)
        if m:
            return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))
    raise AssertionError("no 'N of M patients' on the page")


def _consort_registered(at: AppTest) -> int:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    text = " ".join(a["text"] for a in spec["layout"]["annotations"])
    return int(re.search(r"Registered</b><br>n = ([\d,]+)", text).group(1).replace(",", ""))


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_banner_and_n(db, store, page):
    at = _app(page)
    assert not at.exception, at.exception
    total = select_patient_counts(store, CohortFilter())["m"]
    assert _n(at) == (total, total)
    assert any("SYNTHETIC DEMONSTRATION DATA" in m.value for m in at.main.markdown)
    assert at.multiselect(key="flt_site").value == []


@pytest.mark.parametrize("section", ["flow", "transitions", "table1"])
@pytest.mark.parametrize("view", ["combined", "split"])
def test_cohort_sections_render(db, section, view):
    at = _app("pages/1_Cohort.py", {"section": section, "view": view})
    assert not at.exception, at.exception
    if section != "table1":
        assert len(at.get("plotly_chart")) == (2 if view == "split" else 1)
    else:
        assert any("<table" in str(h.proto) for h in at.get("html"))


@pytest.mark.parametrize("page", PAGES)
def test_filter_change_changes_n(db, store, page):
    at = _app(page)
    at.multiselect(key="flt_site").set_value(["RECTUM"]).run()
    assert not at.exception
    want = select_patient_counts(store, CohortFilter(site=("RECTUM",)))
    assert _n(at) == (want["n"], want["m"])
    assert at.query_params["site"] in ("RECTUM", ["RECTUM"])
    assert any(f"{want['analysis']:,} received immunotherapy" in m.value for m in at.sidebar.markdown)


def test_cohort_counts_follow_the_filter(db, store):
    at = _app("pages/1_Cohort.py")
    assert _consort_registered(at) == select_patient_counts(store, CohortFilter())["n"]
    at.slider(key="flt_age").set_range(40, 60).run()
    at.multiselect(key="flt_response").set_value(["CCR"]).run()
    flt = CohortFilter(age=(40, 60), response=("CCR",))
    assert _consort_registered(at) == select_consort_flow(store, flt).node("registered").n == _n(at)[0]
    at.segmented_control(key="section").set_value("table1").run()
    html = " ".join(str(h.proto) for h in at.get("html"))
    assert f"n={select_consort_flow(store, flt).node('ici').n}" in html
    at.button(key="flt_reset_button").click().run()
    assert _n(at)[0] == _n(at)[1] and at.multiselect(key="flt_response").value == []
    assert at.slider(key="flt_age").value == (18, 100)


def test_url_round_trip(db, store):
    at = _app("pages/1_Cohort.py")
    at.multiselect(key="flt_site").set_value(["RECTUM", "COLON"]).run()
    at.multiselect(key="flt_strategy").set_value(["WW", "MISSING"]).run()
    at.slider(key="flt_age").set_range(35, 65).run()
    at.segmented_control(key="view").set_value("split").run()
    url = dict(at.query_params)
    assert url["view"] == "split" and url["age"] == ["35", "65"]
    again = _app("pages/1_Cohort.py", url)  # a copied link, in a new session
    assert not again.exception
    assert _n(again) == _n(at)
    assert again.multiselect(key="flt_site").value == ["RECTUM", "COLON"]
    assert again.multiselect(key="flt_strategy").value == ["WW", "MISSING"]
    assert again.slider(key="flt_age").value == (35, 65)
    assert again.segmented_control(key="view").value == "split"
    assert dict(again.query_params) == url


def test_filter_survives_a_page_switch(db, store):
    at = _app("app.py")
    at.switch_page("pages/1_Cohort.py").run()
    at.multiselect(key="flt_cohort").set_value(["PROSP"]).run()
    n = _n(at)
    assert n[0] < n[1]
    at.switch_page("pages/4_Safety.py").run()
    assert not at.exception and _n(at) == n
    assert at.multiselect(key="flt_cohort").value == ["PROSP"]
    assert at.query_params.get("cohort") in ("PROSP", ["PROSP"])


@pytest.mark.parametrize("query, named", [
    ({"site": ["RECTUM", "PLUTO"]}, ["site=PLUTO"]),
    ({"age": ["ten", "x"], "zzz": "1"}, ["age=ten&x", "zzz=1"]),
    ({"site": "'; DROP TABLE adsl; --", "t0": ["2021-13-01", "2022-01-01"]}, ["site='; DROP TABLE adsl; --", "t0="]),
    ({"section": "<script>alert(1)</script>"}, ["section=<script>"]),
])
def test_untrusted_url_is_dropped_with_a_notice(db, store, query, named):
    at = _app("pages/1_Cohort.py", query)
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    shown = re.sub(r"\\(.)", r"\1", warning).replace("\u2060", "")  # URL text is escaped markdown (issue 13)
    for text in named:
        assert text in shown
    keep = CohortFilter(site=("RECTUM",)) if "RECTUM" in str(query.get("site")) else CohortFilter()
    assert _n(at)[0] == select_patient_counts(store, keep)["n"]
    assert Store(db).sql("SELECT count(*) AS n FROM adsl")["n"][0] > 0


def _sections(at: AppTest) -> dict[str, bool]:
    """The sidebar filter sections: label -> whether it is drawn open."""
    return {e.label: e.proto.expanded for e in at.sidebar.expander
            if e.label in ("Patient and tumour", "Treatment and response")}


def test_filter_sections_keep_their_state_while_the_user_filters(db):
    """A section holding an active filter when the page is entered starts open; after that
    its drawn state does not follow the filters, so picking the first option of a closed
    section does not close it under the user's hand, nor clearing its last option."""
    at = _app("pages/1_Cohort.py")
    assert _sections(at) == {"Patient and tumour": False, "Treatment and response": False}
    at.multiselect(key="flt_site").set_value(["RECTUM"]).run()
    at.multiselect(key="flt_response").set_value(["CCR"]).run()
    assert set(_sections(at).values()) == {False}  # as entered (the old code redrew both open)
    at.multiselect(key="flt_site").set_value([]).run()
    assert set(_sections(at).values()) == {False}
    entered = _app("pages/2_Survival.py", {"site": "RECTUM"})  # a shared link with a filter
    assert _sections(entered) == {"Patient and tumour": True, "Treatment and response": False}
