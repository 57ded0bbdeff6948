"""Cohort queries on a filtered synthetic store: the CONSORT flow adds up at every box,
and its counts match an independent computation from ``adsl``."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from dashboard.figures import consort_figure, sankey_figure
from dashboard.filters import MISSING, CohortFilter
from dashboard.queries.cohort import (
    select_baseline,
    select_consort_flow,
    select_counts_by_column,
    select_patient_counts,
    select_strategy_transitions,
)
from dashboard.store import Store

FILTERS = [
    CohortFilter(),
    CohortFilter(site=("RECTUM",)),
    CohortFilter(cohort=("PROSP",)),
    CohortFilter(response=("NEAR_CCR", MISSING), age=(40, 75)),
    CohortFilter(site=("GASTRIC", "GEJ"), biomarker=("DMMR_IHC", "MSIH_NGS"), ecog=("0",)),
    CohortFilter(t0=(dt.date(2020, 1, 1), dt.date(2023, 12, 31)), strategy=("WW", "RO")),
    CohortFilter(site=("RECTUM",), strategy=("SYSTEMIC",), sex=("F",), ct=("T1",)),  # tiny or empty
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from dashboard.synth import build_demo

    path = tmp_path_factory.mktemp("cohort") / "registry.duckdb"
    build_demo(path, 600, 11, progress=False)
    s = Store(path)
    yield s
    s.close()


def _adsl(store: Store, flt: CohortFilter) -> pl.DataFrame:
    where, params = flt.where_sql()
    return store.sql(f"SELECT * FROM adsl WHERE {where}", params)


@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: "; ".join(f.describe()) or "all")
def test_every_box_is_the_sum_of_its_children(store, flt):
    flow = select_consort_flow(store, flt)
    ids = {n.id for n in flow.nodes}
    assert len(ids) == len(flow.nodes)
    for n in flow.nodes:
        out = [k for s, _, k in flow.edges if s == n.id]
        into = [k for _, t, k in flow.edges if t == n.id]
        if out:
            assert n.n == sum(out), f"{n.id}: {n.n} != sum of children {out}"
        if into:
            assert n.n == sum(into), f"{n.id}: {n.n} != sum of parents {into}"
    for s, t, _ in flow.edges:
        assert s in ids and t in ids
    # each stage partitions the treated patients
    ici = flow.node("ici").n
    for stage in ("response", "strategy", "status"):
        assert sum(n.n for n in flow.stage(stage)) == ici
    assert flow.node("registered").n == flow.node("excluded").n + ici
    assert sum(n.n for n in flow.stage("reason")) == flow.node("excluded").n


@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: "; ".join(f.describe()) or "all")
def test_flow_matches_an_independent_count(store, flt):
    df = _adsl(store, flt)
    flow = select_consort_flow(store, flt)
    counts = select_patient_counts(store, flt)
    assert flow.node("registered").n == df.height == counts["n"]
    fas = df.filter(pl.col("analysis_fl"))
    assert flow.node("ici").n == fas.height == counts["analysis"]
    assert flow.node("response:CCR").n == fas.filter(pl.col("restaging_response") == "CCR").height
    assert flow.node("response:NOT_ASSESSED").n == fas["restaging_response"].null_count()
    assert flow.node("strategy:ESD_EMR").n == fas.filter(pl.col("initial_strategy").is_in(["ESD", "EMR"])).height
    ww = fas.filter(pl.col("initial_strategy") == "WW")
    preserved = ww.filter(pl.col("status_at_last_fu") == "ORGAN_PRESERVED").height
    got = [n.n for n in flow.stage("status") if n.id == "status:WW:ORGAN_PRESERVED"]
    assert (got[0] if got else 0) == preserved
    excl = df.filter(~pl.col("analysis_fl"))
    pmmr = [n.n for n in flow.stage("reason") if n.code == "PMMR_MSS"]
    assert (pmmr[0] if pmmr else 0) == excl.filter(pl.col("eligibility") == "PMMR_MSS").height
    assert counts["m"] == store.sql("SELECT count(*) AS n FROM adsl")["n"][0]


def test_filter_changes_every_count(store):
    a, b = select_consort_flow(store, CohortFilter()), select_consort_flow(store, CohortFilter(site=("RECTUM",)))
    assert b.node("registered").n < a.node("registered").n
    assert b.node("ici").n < a.node("ici").n
    assert select_baseline(store, CohortFilter(site=("RECTUM",)))["tumour_site"].unique().to_list() == ["RECTUM"]
    by_site = select_counts_by_column(store, CohortFilter(site=("RECTUM",)), "tumour_site")
    assert by_site["value"].to_list() == ["RECTUM"] and by_site["n"][0] == b.node("ici").n
    with pytest.raises(ValueError):
        select_counts_by_column(store, CohortFilter(), "subject_id; DROP TABLE adsl")


@pytest.mark.parametrize("flt", FILTERS[:4], ids=lambda f: "; ".join(f.describe()) or "all")
def test_transitions_conserve_patients(store, flt):
    links = select_strategy_transitions(store, flt)
    fas = _adsl(store, flt).filter(pl.col("analysis_fl") & pl.col("initial_strategy").is_not_null())
    assert links.filter(pl.col("source_stage") == 0)["n"].sum() == fas.height
    assert links.filter(pl.col("target_stage") == 3)["n"].sum() == fas.height
    # flow through the middle stages is conserved
    for stage in (1, 2):
        into = links.filter(pl.col("target_stage") == stage).group_by("target").agg(pl.col("n").sum())
        out = links.filter(pl.col("source_stage") == stage).group_by("source").agg(pl.col("n").sum())
        assert dict(into.iter_rows()) == dict(out.iter_rows())
    first = links.filter(pl.col("source_stage") == 0).group_by("source").agg(pl.col("n").sum())
    want = fas.group_by("initial_strategy").len()
    assert dict(first.iter_rows()) == dict(want.iter_rows())


def test_figures_draw(store):
    flow = select_consort_flow(store, CohortFilter())
    fig = consort_figure(flow)
    text = " ".join(a.text for a in fig.layout.annotations)
    assert f"n = {flow.node('registered').n:,}" in text and "Watch &amp; Wait" in text
    empty = select_consort_flow(store, CohortFilter(site=("RECTUM",), sex=("F",), age=(18, 18)))
    consort_figure(empty, title="Prospective", compact=True)
    sk = sankey_figure(select_strategy_transitions(store, CohortFilter()))
    assert len(sk.data[0].node.label) > 3
    sankey_figure(select_strategy_transitions(store, CohortFilter(age=(18, 18), sex=("F",), site=("GEJ",))))
