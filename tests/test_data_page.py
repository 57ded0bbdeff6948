"""Data page: current dataset, data quality (completeness, reverse-KM follow-up,
no-contact patients, validator findings), export audit hook."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from lifelines import KaplanMeierFitter
from streamlit.testing.v1 import AppTest

from dashboard import audit
from dashboard.filters import CohortFilter
from dashboard.queries import quality
from dashboard.queries.quality import select_completeness, select_followup, select_lost_contact, select_validator_findings
from dashboard.store import Store, read_meta
from dashboard.ui.auth import Identity
from dashboard.ui.data_page import select_followup_summary, select_reverse_km
from dashboard.ui.export import export_audit
from dashboard.ui.page import PageContext

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from dashboard.synth import build_demo

    path = tmp_path_factory.mktemp("dq") / "registry.duckdb"
    build_demo(path, 400, 11, progress=False)
    return path


@pytest.fixture(scope="module")
def store(db):
    return Store(db)


def test_completeness_counts_match_sql(store):
    comp = select_completeness(store, CohortFilter())
    age = comp.filter((pl.col("table") == "subject") & (pl.col("column") == "age"))
    assert age["rows"].sum() == 400 and age["pct"].to_list() == [100.0] * age.height
    # a nullable column, checked against a direct count
    want = store.sql("SELECT count(death_date) AS n FROM follow_up")["n"][0]
    got = comp.filter((pl.col("table") == "follow_up") & (pl.col("column") == "death_date"))["filled"].sum()
    assert got == want
    rows = json.loads(read_meta(store.path)["table_counts"])
    for table, n in rows.items():
        part = comp.filter(pl.col("table") == table)
        if part.height:
            assert part.group_by("cohort").agg(pl.col("rows").first())["rows"].sum() == n, table


def test_completeness_follows_the_filter(store):
    flt = CohortFilter(cohort=("PROSP",))
    comp = select_completeness(store, flt)
    assert set(comp["cohort"]) == {"PROSP"}


COMPLETENESS_FILTERS = [
    CohortFilter(),
    CohortFilter(site=("RECTUM",)),
    CohortFilter(cohort=("PROSP",), strategy=("WW", "MISSING")),
    CohortFilter(histology=("MISSING",), sex=("F",)),
    CohortFilter(age=(40, 60), t0=(dt.date(2018, 1, 1), dt.date(2022, 12, 31))),
    CohortFilter(response=("CCR",), regimen=("PD1", "MISSING")),
    CohortFilter(age=(18, 18), site=("GASTRIC",), cohort=("PROSP",)),  # (almost) nobody
]


@pytest.mark.parametrize("flt", COMPLETENESS_FILTERS, ids=lambda f: "; ".join(f.describe()) or "all")
def test_completeness_from_dq_counts_equals_direct_count(store, flt):
    """The per-subject counts of dq_counts give exactly what counting the source tables
    gives (the only path before dq_counts existed, and the fallback for old stores)."""
    with store.query_cursor() as cur:
        assert quality._has_dq_counts(cur)
    fast = select_completeness(store, flt)
    direct = select_completeness(store, flt, source_scan=True)
    assert_frame_equal(fast, direct)
    assert fast.height == 0 or (fast["filled"] <= fast["rows"]).all()


@pytest.mark.parametrize("damage", ["DROP TABLE dq_counts", "ALTER TABLE dq_counts DROP COLUMN n__qol",
                                    "ALTER TABLE dq_counts DROP COLUMN t0"])
def test_completeness_on_a_store_without_dq_counts(db, store, tmp_path, damage):
    """A store built before dq_counts (or with another layout) is counted on the sources."""
    old = tmp_path / "old.duckdb"
    shutil.copy(db, old)
    con = duckdb.connect(str(old))
    con.execute(damage)
    con.close()
    old_store = Store(old)
    try:
        with old_store.query_cursor() as cur:
            assert not quality._has_dq_counts(cur)
        for flt in COMPLETENESS_FILTERS[:3]:
            assert_frame_equal(select_completeness(old_store, flt), select_completeness(store, flt))
    finally:
        old_store.close()


def test_reverse_km_matches_lifelines(store):
    df = select_followup(store, CohortFilter())
    summary = select_followup_summary(store, CohortFilter())
    for row in summary.iter_rows(named=True):
        part = df.filter(pl.col("cohort") == row["cohort"])
        kmf = KaplanMeierFitter().fit(part["followup_months"].clip(lower_bound=0).to_numpy(),
                                      (part["vital_status"] != "DEAD").to_numpy())
        want = kmf.median_survival_time_
        if row["median_followup_months"] is None:
            assert want == float("inf")
        else:
            assert row["median_followup_months"] == pytest.approx(round(want, 1), abs=0.051)
    km = select_reverse_km(store, CohortFilter())
    assert km["survival"].is_between(0, 1).all()


def test_no_contact_listing_matches_summary(store):
    summary = select_followup_summary(store, CohortFilter())
    lost = select_lost_contact(store, CohortFilter())
    assert lost.height == summary["alive_no_contact_6m"].sum()
    assert (lost["months_since_contact"] > 6).all()


@pytest.mark.parametrize("flt", COMPLETENESS_FILTERS[:4], ids=lambda f: "; ".join(f.describe()) or "all")
def test_no_contact_listing_is_the_filtered_followup(store, flt):
    """select_lost_contact selects in SQL exactly the rows filtering select_followup keeps."""
    df = select_followup(store, flt)
    want = (df.filter((pl.col("vital_status") != "DEAD") & (pl.col("months_since_contact") > 6))
            .select("subject_id", "cohort", "centre", "last_contact_date", pl.col("months_since_contact").round(1)))
    got = select_lost_contact(store, flt)
    assert_frame_equal(got.sort("subject_id"), want.sort("subject_id"))
    assert got["months_since_contact"].is_sorted(descending=True)


def test_validator_findings_on_synthetic_data(store):
    findings = select_validator_findings(store, CohortFilter())
    assert set(findings.columns) == {"file", "rule", "severity", "n", "example"}
    assert findings.filter(pl.col("severity") == "error").height == 0


def test_export_is_audited(store, tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_AUDIT_DB", str(tmp_path / "audit.sqlite3"))
    ident = Identity(email="inv@site.example", name=None, role="investigator", signed_in=True)
    ctx = PageContext(store=store, filter=CohortFilter(site=("RECTUM",)), counts={"n": 12, "m": 400}, identity=ident)
    assert ctx.can("view_patient_level") and not ctx.can("import_data") and ctx.actor == "inv@site.example"
    export_audit(ctx, "table", "table1")(format="csv", rows=30)
    log = audit.read(action="export", path=tmp_path / "audit.sqlite3")
    assert log.height == 1 and log["actor"][0] == "inv@site.example" and log["role"][0] == "investigator"
    detail = json.loads(log["detail"][0])
    assert detail == {"kind": "table", "name": "table1", "filters": {"site": ["RECTUM"]}, "n": 12, "m": 400,
                      "format": "csv", "rows": 30}


def test_data_page_open_mode(db, monkeypatch):
    monkeypatch.setenv("DASHBOARD_DB", str(db))
    monkeypatch.delenv("DASHBOARD_ACCESS_CONFIG", raising=False)
    at = AppTest.from_file(str(ROOT / "pages" / "7_Data.py"), default_timeout=90).run()
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader] == ["Current dataset", "Data quality", "Import a registry export",
                                               "Import a site's own spreadsheet (mapping wizard)", "Audit trail"]
    assert any(m.value == "Synthetic (demo)" for m in at.metric)
    assert any(read_meta(db)["content_hash"] in m.value for m in at.markdown)
    counts = [d.value for d in at.dataframe if "table" in d.value.columns and "rows" in d.value.columns][0]
    assert dict(zip(counts["table"], counts["rows"]))["subject"] == 400


def test_identifiers_hidden_for_roles_without_patient_level(store):
    def ctx(role):
        return PageContext(store=store, filter=CohortFilter(),
                           identity=Identity(email="x@y.z", name=None, role=role, signed_in=True))

    assert ctx("viewer").hide_identifiers and not ctx("viewer").can("view_patient_level")
    assert not ctx("investigator").hide_identifiers and not ctx("data_manager").hide_identifiers
    assert not PageContext(store=store, filter=CohortFilter()).hide_identifiers  # no identity: unchanged behaviour


def test_validator_runs_only_on_request_and_once_per_store(db, monkeypatch):
    """The full re-validation is costly: not on every page run, and not per filter."""
    import dashboard.queries.quality as quality

    calls = []
    real = quality.select_validator_findings

    def counting(store, flt):
        calls.append(flt)
        return real(store, flt)

    monkeypatch.setattr(quality, "select_validator_findings", counting)
    monkeypatch.setenv("DASHBOARD_DB", str(db))
    monkeypatch.delenv("DASHBOARD_ACCESS_CONFIG", raising=False)
    from dashboard.ui.data import _cached

    _cached.clear()
    at = AppTest.from_file(str(ROOT / "pages" / "7_Data.py"), default_timeout=120).run()
    assert not at.exception and calls == []
    at.button(key="dq_validator_button").click().run()
    assert not at.exception and len(calls) == 1
    at.query_params["site"] = "RECTUM"  # a filter change reuses the cached result
    at.run()
    assert not at.exception and len(calls) == 1


def test_no_contact_listing_shows_its_first_rows_and_exports_them_all(db, store, monkeypatch):
    """Only the first LISTING_ROWS rows go to the browser (at 1M patients the whole listing
    was 954 kB per filter change); the caption says so and the export holds every row."""
    from dashboard.ui import data_page, export

    monkeypatch.setenv("DASHBOARD_DB", str(db))
    monkeypatch.delenv("DASHBOARD_ACCESS_CONFIG", raising=False)
    monkeypatch.setattr(data_page, "LISTING_ROWS", 3)
    exported = {}
    real = export._table_export

    def spy(df, name, *args, **kwargs):
        exported[name] = df.height
        return real(df, name, *args, **kwargs)

    monkeypatch.setattr(export, "_table_export", spy)
    lost = select_lost_contact(store, CohortFilter())
    assert lost.height > 3
    at = AppTest.from_file(str(ROOT / "pages" / "7_Data.py"), default_timeout=90).run()
    assert not at.exception, at.exception
    shown = [d.value for d in at.dataframe if "Months since contact" in d.value.columns]
    assert [len(t) for t in shown] == [3]
    grid = [d.proto for d in at.dataframe if "Months since contact" in d.value.columns][0]
    config = json.loads(grid.columns)  # a date, not a timestamp at 00:00:00
    assert config["Last contact"]["type_config"] == {"type": "date", "format": "YYYY-MM-DD"}
    assert any(f"first 3 of {lost.height:,} rows" in c.value for c in at.caption)
    assert exported["no_contact_6m"] == lost.height


def test_followup_table_says_what_an_empty_cell_means(db, store, monkeypatch):
    """The prospective part is young: its 12/24/36-month shares are not estimable (None in
    the grid), and a caption says what that None means."""
    monkeypatch.setenv("DASHBOARD_DB", str(db))
    monkeypatch.delenv("DASHBOARD_ACCESS_CONFIG", raising=False)
    summary = select_followup_summary(store, CohortFilter())
    assert summary.filter(pl.col("cohort") == "PROSP")["followed_36m_pct"].is_null().all()
    at = AppTest.from_file(str(ROOT / "pages" / "7_Data.py"), default_timeout=90).run()
    assert any(c.value.startswith("None / –: not estimable") for c in at.caption)
    at = AppTest.from_file(str(ROOT / "pages" / "7_Data.py"), default_timeout=90)
    at.query_params = {"cohort": "RETRO"}  # old enough: every share estimable, no caption
    at.run()
    assert not select_followup_summary(store, CohortFilter(cohort=("RETRO",))).select(
        pl.col("^followed_.*$").null_count()).sum_horizontal().item()
    assert not any(c.value.startswith("None / –: not estimable") for c in at.caption)
