"""Safety counting rules on hand-built registries (each patient written out), and the
Safety page on a small synthetic store: it renders, the filter changes the safety
denominator, and the numbers on screen are the query + stats result."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import polars as pl
import pytest
from builders import ConStore, Registry, d, served_demo
from scipy.stats import binomtest
from streamlit.testing.v1 import AppTest

from dashboard.filters import CohortFilter
from dashboard.provenance import Provenance
from dashboard.queries.safety import (
    PROCEDURE_CLASS,
    SAFETY_GROUP,
    select_ae_exclusions,
    select_ici_ae_events,
    select_procedures,
    select_safety_denominators,
)
from dashboard.stats.safety import (
    OVERALL,
    ae_cell_patients,
    procedure_cell_filter,
    summarize_ae_table,
    summarize_irae,
    summarize_procedures,
    summarize_surgery_impact,
    worst_per_term,
)
from dashboard.schema import (
    AE_OUTCOME,
    AE_SURGERY_IMPACT,
    CLAVIEN_DINDO,
    LEAK_GRADE,
    PROCEDURE_INTENT,
    PROCEDURE_TYPE,
    SOC,
    STOMA,
)
from dashboard.store import Store
from dashboard.tables.safety import (
    ANY_AE_LABEL,
    format_ae_listing,
    format_ae_table,
    format_event_listing,
    format_procedure_listing,
    format_procedure_table,
    format_rate_ci,
)
from dashboard.ui import safety as safety_ui

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "4_Safety.py")


def _ae(reg: Registry, sid: str, no: int, term: str, soc: str, grade: int, onset: str, *, attribution: str = "ICI",
        immune: bool = True, steroids: bool | None = False, outcome: str = "RESOLVED", resolution: str | None = None,
        impact: str | None = "NONE") -> None:
    reg.rows["ae"].append(dict(
        subject_id=sid, ae_no=no, term=term, soc=soc, grade=grade, onset_date=d(onset),
        resolution_date=d(resolution) if resolution else None, immune_related=immune, serious=grade >= 3,
        attribution=attribution, steroids=steroids, outcome=outcome, surgery_impact=impact))


# ------------------------------------------------------------------------ AE registry
@pytest.fixture(scope="module")
def ae_store() -> ConStore:
    """P1-P7 (t0 2022-01-01 unless stated):

    - P1 NOM, rectum: Colitis grade 1 then grade 3 (same PT twice), Diarrhoea grade 2 (same SOC, GI).
    - P2 NOM, rectum: Rash grade 2 and Pruritus grade 1 (two PTs in SKIN).
    - P3 RO, rectum: Pneumonitis grade 5 (fatal), steroids; delayed surgery.
    - P4 no immunotherapy dose (not in the safety population), an ICI-attributed event anyway.
    - P5 NOM, rectum: no adverse event (in the denominator only).
    - P6 RO, rectum: ICI-attributed event before T0 (not treatment-emergent), a surgical
      complication (not an ICI event).
    - P7 NOM, colon: Hypothyroidism grade 2 (drops out with site = rectum).
    """
    reg = Registry()
    reg.patient("P1").episode("WW", "2022-07-01")
    _ae(reg, "P1", 1, "Colitis", "GI", 1, "2022-02-01", resolution="2022-02-20")
    _ae(reg, "P1", 2, "Colitis", "GI", 3, "2022-03-01", steroids=True, resolution="2022-04-01")
    _ae(reg, "P1", 3, "Diarrhoea", "GI", 2, "2022-02-15", resolution="2022-03-01")
    reg.patient("P2").episode("WW", "2022-07-01")
    _ae(reg, "P2", 1, "Rash", "SKIN", 2, "2022-02-10")
    _ae(reg, "P2", 2, "Pruritus", "SKIN", 1, "2022-03-10", outcome="ONGOING")
    reg.patient("P3", death="2022-05-01").episode("RO", "2022-04-01")
    _ae(reg, "P3", 1, "Pneumonitis", "RESPIRATORY", 5, "2022-04-10", steroids=True, outcome="FATAL",
        impact="DELAYED")
    reg.patient("P4", t0=None, eligibility="NO_ICI", response=None)
    _ae(reg, "P4", 1, "Rash", "SKIN", 3, "2022-02-10")
    reg.patient("P5").episode("WW", "2022-07-01")
    reg.patient("P6").episode("RO", "2022-07-01").procedure("TME_LAR", "2022-08-01")
    _ae(reg, "P6", 1, "Rash", "SKIN", 3, "2021-12-20")
    _ae(reg, "P6", 2, "Anastomotic leak", "INJURY", 3, "2022-08-10", attribution="SURGERY", immune=False, impact=None)
    reg.patient("P7", site="COLON").episode("WW", "2022-07-01")
    _ae(reg, "P7", 1, "Hypothyroidism", "ENDOCRINE", 2, "2022-03-01", outcome="ONGOING")
    return ConStore(reg.connect())


def _table(store, flt=CohortFilter()):
    events = select_ici_ae_events(store, flt)
    den = select_safety_denominators(store, flt)
    return events, den, summarize_ae_table(events, den, SAFETY_GROUP.codes)


def _cell(table, row_type, soc=None, term=None, group=OVERALL) -> dict:
    c = table.counts_.filter((pl.col("row_type") == row_type) & (pl.col("group") == group))
    c = c.filter(pl.col("soc").is_null() if soc is None else pl.col("soc") == soc)
    c = c.filter(pl.col("term").is_null() if term is None else pl.col("term") == term)
    assert c.height == 1, c
    return c.row(0, named=True)


def test_denominator_is_the_safety_population(ae_store):
    _, den, table = _table(ae_store)
    assert dict(den.iter_rows()) == {"NOM": 4, "RO": 2}  # P4 (no dose) is not in it; P5 (no AE) is
    assert _cell(table, "ANY")["denominator"] == 6
    assert _cell(table, "ANY", group="NOM")["denominator"] == 4
    assert table.groups == ("NOM", "RO")


def test_events_outside_the_rules_are_left_out(ae_store):
    events, _, _ = _table(ae_store)
    assert "P4" not in events["subject_id"].to_list()  # no dose
    assert "P6" not in events["subject_id"].to_list()  # before T0, and the surgical complication
    assert "Anastomotic leak" not in events["term"].to_list()
    assert select_ae_exclusions(ae_store, CohortFilter()) == {"before_t0": 1, "no_dose": 1}


def test_same_term_twice_counts_once_at_worst_grade(ae_store):
    _, _, table = _table(ae_store)
    colitis = _cell(table, "PT", "GI", "Colitis")
    assert (colitis["n_any"], colitis["n_g3"], colitis["n_g5"]) == (1, 1, 0)
    events, _, _ = _table(ae_store)
    worst = worst_per_term(events).filter(pl.col("term") == "Colitis")
    assert worst.height == 1 and worst["grade"][0] == 3 and worst["n_events"][0] == 2
    assert worst["onset_date"][0] == dt.date(2022, 3, 1)  # details of the worst event


def test_two_terms_in_one_soc_count_once_in_the_soc_row(ae_store):
    _, _, table = _table(ae_store)
    skin = _cell(table, "SOC", "SKIN")
    assert (skin["n_any"], skin["n_g3"]) == (1, 0)  # P2 only; not Rash + Pruritus = 2
    assert _cell(table, "PT", "SKIN", "Rash")["n_any"] == 1
    assert _cell(table, "PT", "SKIN", "Pruritus")["n_any"] == 1
    gi = _cell(table, "SOC", "GI")
    assert (gi["n_any"], gi["n_g3"]) == (1, 1)  # P1 at the worst grade in the SOC (Colitis 3)


def test_any_row_and_grade_5(ae_store):
    _, _, table = _table(ae_store)
    anyr = _cell(table, "ANY")
    assert (anyr["n_any"], anyr["n_g3"], anyr["n_g5"]) == (4, 2, 1)  # P1 P2 P3 P7; P1 P3; P3
    ro = _cell(table, "ANY", group="RO")
    assert (ro["n_any"], ro["n_g3"], ro["n_g5"], ro["denominator"]) == (1, 1, 1, 2)
    pn = _cell(table, "PT", "RESPIRATORY", "Pneumonitis", group="RO")
    assert (pn["n_any"], pn["n_g3"], pn["n_g5"]) == (1, 1, 1)
    # zero cells are present: Pneumonitis in NOM
    assert _cell(table, "PT", "RESPIRATORY", "Pneumonitis", group="NOM")["n_any"] == 0


def test_the_filter_changes_the_counts(ae_store):
    _, den, table = _table(ae_store, CohortFilter(site=("RECTUM",)))
    assert dict(den.iter_rows()) == {"NOM": 3, "RO": 2}
    anyr = _cell(table, "ANY")
    assert (anyr["n_any"], anyr["denominator"]) == (3, 5)  # P7 (colon) gone from both
    assert table.counts_.filter(pl.col("soc") == "ENDOCRINE").height == 0


def test_display_cells_and_order(ae_store):
    _, _, table = _table(ae_store)
    disp = format_ae_table(table, SAFETY_GROUP.labels, sort="frequency", levels=("any", "g3", "g5"))
    labels = disp["System organ class / preferred term"].to_list()
    assert labels[0] == ANY_AE_LABEL
    # every SOC row is followed by its own terms
    assert labels.index("Gastrointestinal disorders") + 1 == labels.index("Colitis")
    overall_any = next(c for c in disp.columns if c.startswith("All patients (N=6)") and c.endswith("Any grade"))
    assert disp[overall_any][0] == "4 (66.7%)"
    g5 = next(c for c in disp.columns if c.startswith("Radical surgery (N=2)") and c.endswith("Grade 5"))
    assert disp.filter(pl.col("term") == "Pneumonitis")[g5][0] == "1 (50.0%)"
    alpha = format_ae_table(table, SAFETY_GROUP.labels, sort="soc")
    socs = alpha.filter(pl.col("row_type") == "SOC")["System organ class / preferred term"].to_list()
    assert socs == sorted(socs)


def test_cell_listing_is_the_cell_count(ae_store):
    events, _, table = _table(ae_store)
    for row in table.counts_.iter_rows(named=True):
        for level in ("any", "g3", "g5"):
            got = ae_cell_patients(events, soc=row["soc"], term=row["term"], group=row["group"], level=level)
            assert got["subject_id"].n_unique() == row[f"n_{level}"], (row, level)
    gi3 = ae_cell_patients(events, soc="GI", level="g3")
    assert gi3.select("subject_id", "term", "grade").rows() == [("P1", "Colitis", 3)]  # Diarrhoea 2 left out


def test_irae_and_surgery_impact(ae_store):
    events, den, _ = _table(ae_store)
    ir = summarize_irae(events.filter(pl.col("immune_related")), 6)
    anyr = ir.row(0, named=True)
    assert anyr["term"].startswith("Any") and anyr["patients"] == 4 and anyr["events"] == 7
    assert anyr["events_steroids"] == 2 and anyr["patients_g3"] == 2
    colitis = ir.filter(pl.col("term") == "Colitis").row(0, named=True)
    assert colitis["onset_median"] == 31  # first Colitis onset, 2022-02-01, is day 31 from T0
    assert colitis["events_resolved"] == 2 and colitis["resolution_median"] == pytest.approx((19 + 31) / 2)
    imp = {r["group"]: r for r in summarize_surgery_impact(events, den).iter_rows(named=True)}
    assert (imp["RO"]["delayed"], imp["RO"]["denominator"], imp[OVERALL]["either"]) == (1, 2, 1)


def test_input_validation():
    ev = pl.DataFrame({"subject_id": ["A"], "group": ["NOM"], "soc": ["GI"], "term": ["Colitis"], "grade": [6]})
    den = pl.DataFrame({"group": ["NOM"], "n": [1]})
    with pytest.raises(ValueError, match="grade"):
        summarize_ae_table(ev, den)
    with pytest.raises(ValueError, match="denominator"):
        summarize_ae_table(ev.with_columns(pl.lit(2).alias("grade"), pl.lit("RO").alias("group")), den)
    with pytest.raises(ValueError, match="level"):
        ae_cell_patients(ev.with_columns(pl.lit(2).alias("grade")), level="g4")
    two = pl.concat([ev, ev.with_columns(pl.lit("RO").alias("group"))]).with_columns(pl.lit(2).alias("grade"))
    with pytest.raises(ValueError, match="more than one group"):
        summarize_ae_table(two, pl.DataFrame({"group": ["NOM", "RO"], "n": [1, 1]}))


# ------------------------------------------------------------------------ listings
# The listings as they were first written, one Python row at a time: the vectorised
# format_*_listing must give exactly these frames (values, dtypes, order, labels).
def _yes_no(v):
    return "Not recorded" if v is None else ("Yes" if v else "No")


def _ref_ae_listing(rows: pl.DataFrame, labels) -> pl.DataFrame:
    out = [(r["subject_id"], labels.get(r["group"], r["group"]), SOC.label(r["soc"]), r["term"], int(r["grade"]),
            r["onset_date"], r["days_from_t0"], int(r.get("n_events") or 1), _yes_no(r.get("steroids")),
            AE_OUTCOME.label(r.get("outcome")), r.get("resolution_date"))
           for r in rows.sort(["subject_id", "soc", "term"]).iter_rows(named=True)]
    schema = {"Patient": pl.String, "Strategy group": pl.String, "System organ class": pl.String,
              "Preferred term": pl.String, "Worst grade": pl.Int64, "Onset": pl.Date, "Days from T0": pl.Int64,
              "Events of this term": pl.Int64, "Steroids": pl.String, "Outcome": pl.String, "Resolved on": pl.Date}
    return pl.DataFrame(out, schema=schema, orient="row")


def _ref_event_listing(events: pl.DataFrame, labels) -> pl.DataFrame:
    out = [(r["subject_id"], labels.get(r["group"], r["group"]), r["term"], int(r["grade"]), r["onset_date"],
            r["days_from_t0"], _yes_no(r["steroids"]), AE_OUTCOME.label(r["outcome"]), r["days_to_resolution"],
            AE_SURGERY_IMPACT.label(r["surgery_impact"]))
           for r in events.sort(["subject_id", "onset_date", "ae_no"]).iter_rows(named=True)]
    schema = {"Patient": pl.String, "Strategy group": pl.String, "Preferred term": pl.String, "Grade": pl.Int64,
              "Onset": pl.Date, "Days from T0": pl.Int64, "Steroids": pl.String, "Outcome": pl.String,
              "Days to resolution": pl.Int64, "Effect on surgery": pl.String}
    return pl.DataFrame(out, schema=schema, orient="row")


def _ref_procedure_listing(procs: pl.DataFrame, labels) -> pl.DataFrame:
    def rec(v, vocab):
        return vocab.label(v) if v else "Not recorded"

    out = [(r["subject_id"], labels.get(r["group"], r["group"]), PROCEDURE_TYPE.label(r["procedure_type"]),
            PROCEDURE_INTENT.label(r["intent"]), r["procedure_date"], rec(r["clavien_dindo"], CLAVIEN_DINDO),
            rec(r["leak_grade"], LEAK_GRADE), r["length_of_stay_days"], rec(r["stoma"], STOMA),
            r["stoma_closure_date"], r["days_to_death"])
           for r in procs.sort(["subject_id", "procedure_no"]).iter_rows(named=True)]
    schema = {"Patient": pl.String, "Strategy group": pl.String, "Procedure": pl.String, "Intent": pl.String,
              "Date": pl.Date, "Clavien-Dindo": pl.String, "Leak": pl.String, "Length of stay (days)": pl.Int64,
              "Stoma": pl.String, "Stoma closed on": pl.Date, "Days to death": pl.Int64}
    return pl.DataFrame(out, schema=schema, orient="row")


def _same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    assert got.schema == want.schema
    assert got.equals(want), (got, want)


def test_listings_of_hand_built_registry(ae_store):
    events, _, _ = _table(ae_store)
    got = format_ae_listing(ae_cell_patients(events, soc="GI"), SAFETY_GROUP.labels)
    assert got.rows() == [
        ("P1", "Watch & Wait", "Gastrointestinal disorders", "Colitis", 3, dt.date(2022, 3, 1), 59, 2, "Yes",
         "Resolved", dt.date(2022, 4, 1)),
        ("P1", "Watch & Wait", "Gastrointestinal disorders", "Diarrhoea", 2, dt.date(2022, 2, 15), 45, 1, "No",
         "Resolved", dt.date(2022, 3, 1))]
    ev = format_event_listing(events.filter(pl.col("subject_id") == "P3"), SAFETY_GROUP.labels)
    assert ev.rows() == [("P3", "Radical surgery", "Pneumonitis", 5, dt.date(2022, 4, 10), 99, "Yes", "Fatal", None,
                          "Surgery delayed")]


def test_listing_labels_for_missing_and_unknown_values():
    ae = pl.DataFrame({
        "subject_id": ["B", "A", "A"], "group": ["NOM", "ODD", None], "soc": ["GI", "NEW_SOC", "SKIN"],
        "term": ["Colitis", "X", "Rash"], "grade": [2, 1, 3],
        "onset_date": [dt.date(2022, 1, 2), None, dt.date(2022, 1, 1)], "days_from_t0": [1, None, 0],
        "n_events": [None, 3, 0], "steroids": [None, True, False], "outcome": [None, "ONGOING", "ODD"],
        "resolution_date": [None, None, dt.date(2022, 2, 1)], "ae_no": [1, 2, 3],
        "days_to_resolution": [None, None, 31],
        "surgery_impact": [None, "CANCELLED", "NONE"]})
    for rows in (ae, ae.drop("n_events", "steroids", "outcome", "resolution_date")):
        _same(format_ae_listing(rows, SAFETY_GROUP.labels), _ref_ae_listing(rows, SAFETY_GROUP.labels))
        _same(format_ae_listing(rows, {}, limit=2), _ref_ae_listing(rows, {}).head(2))
    _same(format_event_listing(ae, SAFETY_GROUP.labels), _ref_event_listing(ae, SAFETY_GROUP.labels))
    procs = pl.DataFrame({
        "subject_id": ["A", "A", "B"], "group": ["RO", "RO", "LE"], "procedure_no": [2, 1, 1],
        "procedure_type": ["TME_LAR", None, "ODD"], "intent": [None, "SALVAGE", "PRIMARY"],
        "procedure_date": [dt.date(2022, 1, 1)] * 3, "clavien_dindo": ["IIIA", "", None],
        "leak_grade": [None, "C", ""], "length_of_stay_days": [5, None, 2], "stoma": ["", None, "TEMPORARY"],
        "stoma_closure_date": [None, None, dt.date(2022, 3, 1)], "days_to_death": [None, 40, None]})
    _same(format_procedure_listing(procs, SAFETY_GROUP.labels), _ref_procedure_listing(procs, SAFETY_GROUP.labels))
    empty = ae.head(0)
    _same(format_ae_listing(empty, SAFETY_GROUP.labels), _ref_ae_listing(empty, SAFETY_GROUP.labels))
    with pytest.raises(ValueError, match="limit"):
        format_ae_listing(ae, {}, limit=-1)


# ------------------------------------------------------------------------ procedures
@pytest.fixture(scope="module")
def proc_store() -> ConStore:
    """Radical resections on 2022-08-01 (day 0) with known Clavien-Dindo grades and
    deaths; one local excision and one ESD.

    R1 NONE; R2 I; R3 II; R4 IIIa; R5 IIIb, leak C, died day 31; R6 IVa, temporary stoma
    closed 2022-11-01; R7 V, died day 30; R8 grade not recorded, alive but followed 19
    days only; R9 II, died day 75, then a completion... (R9's second radical procedure on
    2022-12-01, CD IIIb, counted only with every procedure); L1 TEM; E1 ESD IIIa.
    """
    reg = Registry()
    specs = [("R1", "NONE", None, {}), ("R2", "I", None, {}), ("R3", "II", None, {}),
             ("R4", "IIIA", None, {}), ("R5", "IIIB", "2022-09-01", {"leak_grade": "C"}),
             ("R6", "IVA", None, {"stoma": "TEMPORARY", "stoma_closure_date": d("2022-11-01")}),
             ("R7", "V", "2022-08-31", {}), ("R8", None, None, {}), ("R9", "II", "2022-10-15", {})]
    for sid, cd, death, extra in specs:
        kwargs = {"death": death} if death else {}
        if sid == "R8":
            kwargs["last_contact"] = "2022-08-20"
        pb = reg.patient(sid, **kwargs).episode("RO", "2022-07-15")
        extra = {"leak_grade": "NONE", "stoma": "NONE", "length_of_stay_days": 8, **extra}
        pb.procedure("TME_LAR", "2022-08-01", clavien_dindo=cd, **extra)
        if sid == "R9":
            pb.procedure("TME_APR", "2022-09-01", intent="COMPLETION", clavien_dindo="IIIB", leak_grade="NA",
                         stoma="PERMANENT", length_of_stay_days=12)
    reg.patient("L1").episode("LE", "2022-07-15").procedure("TEM", "2022-08-01", clavien_dindo="I", leak_grade="NA",
                                                            stoma="NONE", length_of_stay_days=2)
    reg.patient("E1").episode("ESD", "2022-07-15").procedure("ESD", "2022-08-01", clavien_dindo="IIIA",
                                                             leak_grade="NA", stoma="NONE", length_of_stay_days=4)
    reg.patient("X1", site="COLON").episode("RO", "2022-07-15").procedure(
        "COLECTOMY", "2022-08-01", clavien_dindo="IVB", leak_grade="B", stoma="NONE", length_of_stay_days=20)
    return ConStore(reg.connect())


def _proc(store, flt=CohortFilter(), first_only=True):
    return summarize_procedures(select_procedures(store, flt), PROCEDURE_CLASS.codes, first_only=first_only)


def _row(frame: pl.DataFrame, **eq) -> dict:
    for k, v in eq.items():
        frame = frame.filter(pl.col(k) == v)
    assert frame.height == 1, frame
    return frame.row(0, named=True)


def test_procedure_classes_and_first_of_class(proc_store):
    procs = select_procedures(proc_store, CohortFilter())
    r9 = procs.filter(pl.col("subject_id") == "R9").sort("procedure_no")
    assert r9["proc_class"].to_list() == ["RO", "RO"] and r9["first_of_class"].to_list() == [True, False]
    assert _row(procs, subject_id="L1")["proc_class"] == "LE"
    assert _row(procs, subject_id="E1")["proc_class"] == "ESD_EMR"
    s = _proc(proc_store)
    assert _row(s.counts_, proc_class="RO") == {"proc_class": "RO", "procedures": 10, "patients": 10}
    s_all = _proc(proc_store, first_only=False)
    assert _row(s_all.counts_, proc_class="RO")["procedures"] == 11


def test_clavien_dindo_major_rate_and_exact_ci(proc_store):
    s = _proc(proc_store)
    m = _row(s.major_, proc_class="RO")
    # recorded grades: R1-R7, R9, X1 = 9; IIIa or worse: R4 R5 R6 R7 X1 = 5; R8 not recorded
    assert (m["x"], m["n"], m["missing"]) == (5, 9, 1)
    ref = binomtest(5, 9).proportion_ci(confidence_level=0.95, method="exact")
    assert m["estimate"] == pytest.approx(5 / 9)
    assert (m["lower"], m["upper"]) == (pytest.approx(ref.low, abs=1e-10), pytest.approx(ref.high, abs=1e-10))
    e = _row(s.major_, proc_class="ESD_EMR")
    ref1 = binomtest(1, 1).proportion_ci(method="exact")
    assert (e["x"], e["n"], e["lower"], e["upper"]) == (1, 1, pytest.approx(ref1.low), 1.0)
    dist = {r["grade"]: r["n"] for r in s.clavien_.filter(pl.col("proc_class") == "RO").iter_rows(named=True)}
    assert dist == {"NONE": 1, "I": 1, "II": 2, "IIIA": 1, "IIIB": 1, "IVA": 1, "IVB": 1, "V": 1, "MISSING": 1}
    # every procedure: R9's completion (IIIb) joins: 6 of 10
    m_all = _row(_proc(proc_store, first_only=False).major_, proc_class="RO")
    assert (m_all["x"], m_all["n"]) == (6, 10)


def test_30_and_90_day_mortality_on_hand_built_dates(proc_store):
    s = _proc(proc_store)
    d30 = _row(s.mortality_, proc_class="RO", days=30)
    d90 = _row(s.mortality_, proc_class="RO", days=90)
    # deaths: R7 day 30 (in both windows), R5 day 31 (90 only), R9 day 75 (90 only)
    # R8 alive, followed 19 days: evaluable for neither window
    assert (d30["deaths"], d30["n"], d30["not_evaluable"]) == (1, 9, 1)
    assert (d90["deaths"], d90["n"], d90["not_evaluable"]) == (3, 9, 1)
    ref = binomtest(3, 9).proportion_ci(method="exact")
    assert (d90["lower"], d90["upper"]) == (pytest.approx(ref.low), pytest.approx(ref.high))
    procs = select_procedures(proc_store, CohortFilter())
    assert sorted(procs.filter(procedure_cell_filter("died30"))["subject_id"].to_list()) == ["R7"]
    assert sorted(procs.filter(procedure_cell_filter("died90"))["subject_id"].unique().to_list()) == ["R5", "R7", "R9"]


def test_leak_stoma_and_stay(proc_store):
    s = _proc(proc_store)
    leak = {r["grade"]: (r["n"], r["pct"]) for r in s.leak_.filter(pl.col("proc_class") == "RO").iter_rows(named=True)}
    assert leak["C"] == (1, pytest.approx(1 / 10)) and leak["B"] == (1, pytest.approx(1 / 10))
    assert _row(s.leak_, proc_class="LE", grade="NA")["n"] == 1
    c = _row(s.closure_, proc_class="RO")
    assert (c["temporary"], c["closed"], c["median_days"]) == (1, 1, 92)  # 2022-08-01 -> 2022-11-01
    los = _row(s.los_, proc_class="RO")
    assert (los["n"], los["median"]) == (10, 8)


def test_procedure_filter_and_display(proc_store):
    s = _proc(proc_store, CohortFilter(site=("RECTUM",)))
    m = _row(s.major_, proc_class="RO")
    assert (m["x"], m["n"]) == (4, 8)  # X1 (colon, IVb) gone
    disp = format_procedure_table(s, PROCEDURE_CLASS.labels)
    major = _row(disp, cell="cd_major")
    assert major[next(c for c in disp.columns if c.startswith("Radical resection"))] == format_rate_ci(
        4, 8, m["estimate"], m["lower"], m["upper"]) == "4/8, 50.0% (15.7-84.3)"


# ------------------------------------------------------------------------ page
@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "safety", 800, 41)


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if query:
        at.query_params = query
    return at.run()


def _shown_population(at: AppTest) -> int:
    for c in at.caption:
        m = re.search(r"Safety population: \*\*([\d,]+)\*\*", c.value)
        if m:
            return int(m.group(1).replace(",", ""))
    raise AssertionError("no safety population on the page")


def _html(at: AppTest) -> str:
    return " ".join(str(h.proto.body) for h in at.get("html"))


@pytest.mark.parametrize("query", [{}, {"section": "irae"}, {"section": "procedures"},
                                   {"section": "procedures", "procs": "all"}, {"sort": "soc"}])
def test_page_renders(db, query):
    at = _app(query)
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1
    assert at.dataframe  # a patient listing


def test_filter_changes_the_safety_denominator(db):
    store = Store(db)
    full = int(select_safety_denominators(store, CohortFilter())["n"].sum())
    rectum = int(select_safety_denominators(store, CohortFilter(site=("RECTUM",)))["n"].sum())
    assert rectum < full
    assert _shown_population(_app()) == full
    at = _app({"site": "RECTUM"})
    assert _shown_population(at) == rectum
    at = _app()
    at.multiselect(key="flt_site").set_value(["RECTUM"]).run()
    assert _shown_population(at) == rectum


def test_numbers_on_screen_are_query_plus_stats(db):
    store = Store(db)
    flt = CohortFilter(site=("RECTUM",))
    events = select_ici_ae_events(store, flt)
    table = summarize_ae_table(events, select_safety_denominators(store, flt), SAFETY_GROUP.codes)
    want = format_ae_table(table, SAFETY_GROUP.labels)
    at = _app({"site": "RECTUM"})
    html = _html(at)
    row = re.search(r"<tr class='sf-ANY'>(.*?)</tr>", html).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert tuple(cells) == want.drop("row_type", "soc", "term").row(0)
    assert "All patients (N=" + f"{int(table.denominators_['n'][-1]):,})" in html
    # the listing behind the most frequent term, overall, grade >= 3
    top = want.filter(pl.col("row_type") == "PT").row(0, named=True)
    idx = want["term"].to_list().index(top["term"])
    at.selectbox(key="ae_row").set_value(idx).run()
    at.selectbox(key="ae_level").set_value("g3").run()
    shown = at.dataframe[0].value
    n_g3 = _cell(table, "PT", top["soc"], top["term"])["n_g3"]
    assert shown["Patient"].nunique() == n_g3 == len(shown)
    assert all(shown["Preferred term"] == top["term"]) and all(shown["Worst grade"] >= 3)


def test_procedure_numbers_on_screen(db):
    store = Store(db)
    s = summarize_procedures(select_procedures(store, CohortFilter()), PROCEDURE_CLASS.codes)
    m = _row(s.major_, proc_class="RO")
    at = _app({"section": "procedures"})
    assert not at.exception
    assert format_rate_ci(m["x"], m["n"], m["estimate"], m["lower"], m["upper"]) in _html(at)
    at.selectbox(key="proc_cell").set_value("cd_major").run()
    assert len(at.dataframe[0].value) == m["x"]
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert any(t.get("name") == "Clavien-Dindo ≥ III" for t in fig["data"])


def test_presentation_mode_masks_patient_ids(db):
    at = _app({"present": "1"})
    assert not at.exception
    ids = at.dataframe[0].value["Patient"].tolist()
    assert ids and not any(str(i).startswith("NOR-") for i in ids)


def test_listings_equal_the_per_row_reference_on_demo_data(db):
    store, labels = Store(db), SAFETY_GROUP.labels
    events = select_ici_ae_events(store, CohortFilter())
    table = summarize_ae_table(events, select_safety_denominators(store, CohortFilter()), SAFETY_GROUP.codes)
    cells = {(r["soc"], r["term"], r["group"]) for r in table.counts_.iter_rows(named=True)}
    for soc, term, group in sorted(cells, key=str)[:40] + [(None, None, OVERALL)]:
        for level in ("any", "g3"):
            rows = ae_cell_patients(events, soc=soc, term=term, group=group, level=level)
            want = _ref_ae_listing(rows, labels)
            _same(format_ae_listing(rows, labels), want)
            _same(format_ae_listing(rows, labels, limit=7), want.head(7))
    assert format_ae_listing(ae_cell_patients(events), labels).height > 100
    ir = events.filter(pl.col("immune_related"))
    _same(format_event_listing(ir, labels), _ref_event_listing(ir, labels))
    _same(format_event_listing(ir, labels, limit=10), _ref_event_listing(ir, labels).head(10))
    procs = select_procedures(store, CohortFilter())
    assert procs.height and procs["clavien_dindo"].null_count()
    _same(format_procedure_listing(procs, labels), _ref_procedure_listing(procs, labels))


def test_long_listing_shows_the_first_rows_and_downloads_all(db, monkeypatch):
    monkeypatch.setattr(safety_ui, "LISTING_ROWS", 5)
    store = Store(db)
    events = select_ici_ae_events(store, CohortFilter())
    table = summarize_ae_table(events, select_safety_denominators(store, CohortFilter()), SAFETY_GROUP.codes)
    cell = ae_cell_patients(events)  # the default cell: any AE, all patients, any grade
    at = _app()
    assert not at.exception, at.exception
    shown = at.dataframe[0].value
    assert len(shown) == 5
    assert list(shown["Patient"]) == format_ae_listing(cell, SAFETY_GROUP.labels, limit=5)["Patient"].to_list()
    n = _cell(table, "ANY")["n_any"]
    assert any(m.value.startswith(f"**{n:,} patients**") for m in at.markdown)  # the cell count, not the rows shown
    assert any(f"Showing the first 5 of {cell.height:,} rows" in c.value for c in at.caption)
    buttons = [b.proto for b in at.get("download_button") if b.proto.label.startswith("Full listing")]
    assert len(buttons) == 1 and buttons[0].label == f"Full listing ({cell.height:,} rows, CSV)"
    assert buttons[0].deferred_file_id  # the CSV is built when clicked, not in the script run
    at = _app({"present": "1"})
    assert not at.exception
    assert not any(str(i).startswith("NOR-") for i in at.dataframe[0].value["Patient"])


def test_listing_csv_is_the_whole_listing_labelled_synthetic(db):
    store = Store(db)
    events = select_ici_ae_events(store, CohortFilter())
    cell = ae_cell_patients(events)
    prov = Provenance.from_meta(store.meta(), CohortFilter(), n=1, m=1)
    csv = safety_ui.listing_csv(cell, format_ae_listing, "Patient listing: any AE", prov,
                                hide_identifiers=False).decode()
    body = [line for line in csv.splitlines() if not line.startswith("#")]
    assert len(body) == 1 + cell.height
    assert "# SYNTHETIC DATA - not real patients" in csv
    assert body[1].startswith(format_ae_listing(cell, SAFETY_GROUP.labels)["Patient"][0] + ",")
    masked = safety_ui.listing_csv(cell, format_ae_listing, "t", prov, hide_identifiers=True).decode()
    ids = [line.split(",")[0] for line in masked.splitlines()[1:] if not line.startswith("#")]
    assert len(ids) == cell.height and ids[0] == "Patient 1" and not any(i.startswith("NOR-") for i in ids)


@pytest.mark.parametrize("n_patients", [400, 5000])
def test_irae_onset_figure_boxes_at_any_scale(n_patients):
    """Up to ONSET_POINTS_MAX patient-terms: raw points and a box plotly computes; above:
    precomputed boxes only (linear quartiles, Tukey whiskers to the furthest point within
    1.5 IQR, as plotly draws them), checked against numpy."""
    import numpy as np

    from dashboard.figures.safety import ONSET_POINTS_MAX, irae_onset_figure

    rng = np.random.default_rng(3)
    terms = np.where(np.arange(n_patients) % 3 == 0, "Colitis", "Hepatitis")
    days = rng.gamma(2.0, 40.0, n_patients).round().astype(int)
    days[:3] = [900, 1000, 1200]  # outliers beyond the upper fence
    events = pl.DataFrame({"subject_id": [f"P{i}" for i in range(n_patients)], "term": terms,
                           "days_from_t0": days, "steroids": rng.random(n_patients) < 0.3})
    events = pl.concat([events, events.with_columns(pl.col("days_from_t0") + 50)])  # a later event: not the first
    fig = irae_onset_figure(events)
    boxes = [t for t in fig.data if t.type == "box"]
    points = [t for t in fig.data if t.type == "scatter"]
    if n_patients <= ONSET_POINTS_MAX:
        assert len(points) == 2 and sum(len(t.x) for t in points) == n_patients
        return
    assert not points and len(boxes) == 1
    b = boxes[0]
    for i, term in enumerate(b.y):
        x = days[terms == term].astype(float)
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        assert (b.q1[i], b.median[i], b.q3[i]) == pytest.approx((q1, med, q3))
        assert b.lowerfence[i] == x[x >= q1 - 1.5 * (q3 - q1)].min()
        assert b.upperfence[i] == x[x <= q3 + 1.5 * (q3 - q1)].max() < 900
