"""Organ-preservation page: the crude-rate definition on hand-built patients, and that the
rates, KM estimates, response rates and swimmer lanes on screen equal what the statistics
layer returns for the same filtered data."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from builders import ConStore, Registry, served_demo
from dashboard.filters import CohortFilter
from dashboard.queries.organ import (
    SUBGROUPS,
    select_organ_cells,
    select_organ_outcomes,
    select_rate_cells,
    select_swimmer,
)
from dashboard.stats import kaplan_meier, proportion_ci, survival_at
from dashboard.stats.summaries import (
    OrganOptions,
    crude_preservation,
    organ_cells,
    summarize_organ_cells,
    summarize_organ_preservation,
    summarize_rates,
)
from dashboard.ui.organ import RATE_DEFINITIONS
from dashboard.store import Store
from dashboard.tables.survival import format_pct_ci

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "3_Organ_preservation.py")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "organ", 800, 47)


@pytest.fixture(scope="module")
def con(db):
    c = duckdb.connect(str(db), read_only=True)
    yield c
    c.close()


def _app(query: dict) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.query_params = query
    return at.run()


def _table(at: AppTest, col: str):
    for df in at.dataframe:
        if any(col in c for c in df.value.columns):
            return df.value
    raise AssertionError(f"no table with column {col!r}")


# ------------------------------------------------------------------ the crude-rate definition
def _crude_registry() -> ConStore:
    reg = Registry()  # T0 = 2022-01-01 for everyone
    reg.patient("P1").episode("RO", "2022-06-20").procedure("TME_LAR", "2022-07-01")      # organ lost at 6 months
    reg.patient("P2", last_contact="2025-06-01").episode("WW", "2022-06-20")              # organ in place at 41 months
    reg.patient("P3", last_contact="2023-01-01").episode("WW", "2022-06-20")              # followed 12 months only
    reg.patient("P4", death="2023-06-01").episode("WW", "2022-06-20")                     # died at 17 months
    (reg.patient("P5", last_contact="2025-06-01").episode("WW", "2022-06-20")
     .event("LOCAL_REGROWTH", "2025-03-01").episode("RO", "2025-04-01").procedure("TME_LAR", "2025-05-01", "SALVAGE"))
    reg.patient("P6", last_contact="2025-06-01").episode("LE", "2022-06-20").procedure("TEM", "2022-07-01")  # LE: not lost
    reg.patient("X", eligibility="MMR_PROFICIENT")                                        # not in the FAS
    return ConStore(reg.connect())


def test_crude_rate_definition():
    df = select_organ_outcomes(_crude_registry(), CohortFilter())
    assert sorted(df.get_column("subject_id").to_list()) == ["P1", "P2", "P3", "P4", "P5", "P6"]
    # at 36 months: P2, P5 (organ lost at 40 months) and P6 (local excision only) preserved;
    # P1 and P4 failed; P3 not evaluable
    assert crude_preservation(df, 36.0) == (3, 5, 1)
    # at 12 months P4 (died at 17) counts as preserved; P3, followed 365 days = 11.99 months,
    # is still not evaluable
    assert crude_preservation(df, 12.0) == (4, 5, 1)
    s = summarize_organ_preservation(df, {"tumour_site": ["RECTUM"]}, OrganOptions(horizon=36))
    overall = s.row(0, named=True)
    ci = proportion_ci(3, 5)
    assert (overall["preserved"], overall["evaluable"], overall["not_evaluable"]) == (3, 5, 1)
    assert (overall["crude"], overall["crude_lower"], overall["crude_upper"]) == (ci.estimate, ci.lower, ci.upper)
    assert select_organ_outcomes(_crude_registry(), CohortFilter(), "op").height == 5  # P1 (RO first) left out


# ------------------------------------------------------------------ the page (AppTest)
def _ops(con, where: str) -> pl.DataFrame:
    return con.sql(f"""SELECT t.aval AS time, CAST(1 - t.cnsr AS INTEGER) AS event
                       FROM adtte t JOIN adsl a USING (subject_id)
                       WHERE t.paramcd = 'OPS' AND t.origin = 'T0' AND a.analysis_fl AND {where}
                       ORDER BY t.subject_id""").pl()


@pytest.mark.parametrize("query, where", [
    ({}, "TRUE"),
    ({"site": "RECTUM", "horizon": "24", "method": "wilson"}, "a.tumour_site = 'RECTUM'"),
])
def test_rates_equal_the_statistics_layer(db, con, query, where):
    at = _app(query)
    assert not at.exception, at.exception
    horizon = float(query.get("horizon", 36))
    method = query.get("method", "clopper-pearson")
    df = _ops(con, where)
    fail = df.filter((pl.col("event") == 1) & (pl.col("time") <= horizon)).height
    ok = df.filter(~((pl.col("event") == 1) & (pl.col("time") <= horizon)) & (pl.col("time") >= horizon)).height
    ci = proportion_ci(ok, ok + fail, method)
    row = _table(at, "Crude").to_dict("records")[0]
    assert row["Level"] == "All patients" and row["Patients"] == f"{df.height:,}"
    assert row[f"Crude, {horizon:g} months (95% CI)"] == f"{ok}/{ok + fail} = " + format_pct_ci(ci.estimate, ci.lower, ci.upper)
    km = kaplan_meier(df, "time", "event", conf_type="log-log")
    for r in survival_at(km, [12, 24, 36]).iter_rows(named=True):
        assert row[f"KM {r['time']:g} months (95% CI)"] == format_pct_ci(r["survival"], r["lower"], r["upper"])
    assert at.metric[0].value == f"{100 * ci.estimate:.1f}%"
    # the forest plot draws the KM estimate at the horizon for the overall row
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    pts = spec["data"][0]
    at_h = survival_at(km, [horizon]).row(0, named=True)
    assert pts["x"][0] == pytest.approx(100 * at_h["survival"])


def test_forest_subgroups_follow_the_data(db, con):
    at = _app({"forest": "crude"})
    assert not at.exception
    table = _table(at, "Crude")
    rect = [r for r in table.to_dict("records") if r["Level"] == "Rectum"][0]
    df = _ops(con, "a.tumour_site = 'RECTUM'")
    s, n, _ = crude_preservation(df, 36.0)
    ci = proportion_ci(s, n)
    assert rect["Crude, 36 months (95% CI)"] == f"{s}/{n} = " + format_pct_ci(ci.estimate, ci.lower, ci.upper)
    assert any("Crude organ-preservation rate at 36 months" in c.value for c in at.caption)


def test_response_rates(db, con):
    at = _app({"section": "response", "cohort": "PROSP"})
    assert not at.exception, at.exception
    r = con.sql("""SELECT count(*) FILTER (WHERE restaging_response = 'CCR') AS x,
                          count(*) FILTER (WHERE restaging_response IS NOT NULL) AS n,
                          count(*) FILTER (WHERE pcr_fl) AS p, count(*) FILTER (WHERE pcr_fl IS NOT NULL) AS pn,
                          count(*) FILTER (WHERE sccr12_fl AND sccr12_evaluable_fl) AS s,
                          count(*) FILTER (WHERE sccr12_evaluable_fl) AS sn
                   FROM adsl WHERE analysis_fl AND cohort = 'PROSP'""").fetchall()[0]
    rows = {row["Outcome"]: row for row in _table(at, "Outcome").to_dict("records")}
    for name, (x, n) in {"cCR": r[0:2], "pCR (ypT0N0)": r[2:4], "Sustained cCR at 12 months": r[4:6]}.items():
        assert rows[name]["n / N"] == f"{x:,} / {n:,}"
        if n == 0:  # e.g. no prospective patient followed 12 months yet
            assert rows[name]["% (95% CI)"] == "NE"
            continue
        ci = proportion_ci(x, n)
        assert rows[name]["% (95% CI)"] == format_pct_ci(ci.estimate, ci.lower, ci.upper)


def test_swimmer_lanes_and_paging(db, con):
    at = _app({"section": "swimmer", "lanes": "200", "sort": "first_event"})
    assert not at.exception, at.exception
    total = con.sql("""SELECT count(*) FROM adsl WHERE analysis_fl AND t1 IS NOT NULL
                       AND initial_strategy IN ('WW', 'LE', 'ESD', 'EMR')""").fetchall()[0][0]
    assert any(f"of {total:,}**" in m.value for m in at.markdown)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    lanes = {y for t in spec["data"] if t["type"] == "bar" for y in t["y"]}
    assert len(lanes) == min(200, total)
    data = select_swimmer(Store(db), CohortFilter(), "first_event", 0, 200)
    regrowth_markers = sum(len(t["x"]) for t in spec["data"] if t.get("name") == "Local regrowth")
    assert regrowth_markers == data.events.filter(pl.col("kind") == "REGROWTH").height
    # the next view starts where the first ended
    nxt = select_swimmer(Store(db), CohortFilter(), "first_event", 1, 200)
    assert not set(nxt.patients["subject_id"]) & set(data.patients["subject_id"])
    if total > 200:
        at.number_input(key="swim_page").set_value(2).run()
        assert not at.exception
        assert any("Patients 201–" in m.value for m in at.markdown)


@pytest.mark.parametrize("flt, population", [(CohortFilter(), "all"), (CohortFilter(site=("RECTUM",)), "op")])
def test_cells_from_the_store_give_the_patient_level_numbers(db, flt, population):
    """The page reads cells collapsed in DuckDB (GROUPING SETS); they are the patient rows
    collapsed, and every summary equals the one on the patient rows."""
    store = Store(db)
    patients = select_organ_outcomes(store, flt, population)
    cells = select_organ_cells(store, flt, population)
    subgroups = {c: v[1].codes for c, v in SUBGROUPS.items()}
    assert cells.equals(organ_cells(patients, list(subgroups)).select(cells.columns).cast(cells.schema))
    opts = OrganOptions(horizon=24, method="wilson")
    want = summarize_organ_preservation(patients, subgroups, opts)
    got = summarize_organ_cells(cells, subgroups, opts)
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-12)
    rates = summarize_rates(select_rate_cells(store, flt, population), RATE_DEFINITIONS, "wilson", freq="n")
    assert rates.equals(summarize_rates(patients, RATE_DEFINITIONS, "wilson"))
