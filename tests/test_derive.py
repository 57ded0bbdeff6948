"""Endpoint and subject-level rules (docs/endpoints.md) on hand-built patients.

Every expected value below is worked out by hand from the patient's dates and the rule
in ../shared/domain.md, not read back from the code.
"""

from __future__ import annotations

import datetime as dt

import pytest

from builders import Registry, d
from dashboard.schema import DAYS_PER_MONTH


@pytest.fixture(scope="module")
def con():
    r = Registry()
    # P01: W&W -> regrowth -> salvage LAR with R0.
    (r.patient("P01").episode("WW", "2022-07-01")
     .assessment("2022-10-01").assessment("2023-01-02")
     .assessment("2023-03-01", result="TUMOUR")
     .episode("RO", "2023-03-20", "2023-04-15", "REGROWTH")
     .procedure("TME_LAR", "2023-04-15", intent="SALVAGE", r="R0")
     .event("LOCAL_REGROWTH", "2023-03-01", salvage_procedure_no=1))
    # P02: same, but the salvage was R1: the regrowth is not salvaged.
    (r.patient("P02").episode("WW", "2022-07-01")
     .assessment("2023-03-01", result="TUMOUR")
     .episode("RO", "2023-03-20", "2023-04-15", "REGROWTH")
     .procedure("TME_LAR", "2023-04-15", intent="SALVAGE", r="R1")
     .event("LOCAL_REGROWTH", "2023-03-01", salvage_procedure_no=1))
    # P03: W&W, no regrowth, dies: death is a competing event for regrowth.
    (r.patient("P03", death="2024-06-01").episode("WW", "2022-07-01")
     .assessment("2023-12-01"))
    # P04: W&W, patient-choice LAR without regrowth: regrowth follow-up ends at surgery.
    (r.patient("P04").episode("WW", "2022-07-01").assessment("2022-12-01")
     .episode("RO", "2023-01-01", "2023-01-10", "PATIENT_CHOICE")
     .procedure("TME_LAR", "2023-01-10").assessment("2024-06-01"))
    # P05: near-cCR -> TEM with ypT2 -> completion LAR.
    (r.patient("P05", response="NEAR_CCR").episode("LE", "2022-07-01", "2022-07-15")
     .procedure("TEM", "2022-07-15").pathology(1, "T2", "NX", 30.0)
     .episode("RO", "2022-08-15", "2022-09-01", "ADVERSE_PATHOLOGY")
     .procedure("TME_LAR", "2022-09-01", intent="COMPLETION").pathology(2, "T0", "N0", 0.0))
    # P06: near-cCR -> ESD, then W&W; organ kept.
    (r.patient("P06", response="NEAR_CCR", site="GASTRIC").episode("ESD", "2022-07-01", "2022-07-10")
     .procedure("ESD", "2022-07-10").pathology(1, "T0", "N0", 0.0)
     .episode("WW", "2022-08-01", trigger="RESPONSE").assessment("2024-10-01"))
    # P07: non-cCR -> upfront LAR, ypT0N1 (not pCR), local recurrence later.
    (r.patient("P07", response="NON_CCR").episode("RO", "2022-07-01", "2022-07-20")
     .procedure("TME_LAR", "2022-07-20").pathology(1, "T0", "N1", 5.0)
     .event("LOCAL_RECUR", "2024-01-01"))
    # P08: excluded at registration.
    r.patient("P08", eligibility="PMMR_MSS").episode("RO", "2022-07-01")
    # P09: registered, never started immunotherapy.
    r.patient("P09", eligibility="NO_ICI", t0=None, response=None)
    # P10: W&W, distant metastasis before a regrowth.
    (r.patient("P10").episode("WW", "2022-07-01").assessment("2023-05-01")
     .event("DISTANT", "2023-06-01").event("LOCAL_REGROWTH", "2023-08-01")
     .episode("SYSTEMIC", "2023-06-10", trigger="DISTANT_MET"))
    # P11: W&W, lost to follow-up (no contact for 2 years before the cut-off).
    (r.patient("P11", last_contact="2023-01-01").episode("WW", "2022-07-01")
     .assessment("2022-12-01"))
    return r.connect()


def row(con, sid, paramcd, origin="T1"):
    rows = con.execute(
        "SELECT startdt, adt, aval, cnsr, evntdesc, evnt_type FROM adtte WHERE subject_id = ? AND paramcd = ? AND origin = ?",
        [sid, paramcd, origin],
    ).fetchall()
    assert len(rows) <= 1
    return rows[0] if rows else None


def adsl(con, sid, col):
    return con.execute(f"SELECT {col} FROM adsl WHERE subject_id = ?", [sid]).fetchone()[0]


def months(a: str, b: str) -> float:
    return (d(b) - d(a)).days / DAYS_PER_MONTH


def test_ww_regrowth_salvaged_r0(con):
    # OPS: event at the salvage resection; strict DFS: event at the regrowth;
    # salvage-adjusted DFS: no event (censored at last contact).
    start, adt, aval, cnsr, desc, _ = row(con, "P01", "OPS")
    assert (start, adt, cnsr, desc) == (d("2022-07-01"), d("2023-04-15"), 0, "Radical resection")
    assert aval == pytest.approx(months("2022-07-01", "2023-04-15"), abs=1e-12)
    assert row(con, "P01", "DFS_STRICT")[1:4:2] == (d("2023-03-01"), 0)
    assert row(con, "P01", "DFS")[1:4:2] == (d("2025-01-01"), 1)
    assert row(con, "P01", "EFS", "T0")[3] == 1
    rg = row(con, "P01", "RG")
    assert (rg[1], rg[3], rg[5]) == (d("2023-03-01"), 0, "REGROWTH")
    assert adsl(con, "P01", "status_at_last_fu") == "REGROWTH_SALVAGED"
    assert adsl(con, "P01", "organ_lost_intent") == "SALVAGE"


def test_regrowth_salvaged_r1_is_a_dfs_event(con):
    assert row(con, "P02", "DFS")[1:4:2] == (d("2023-03-01"), 0)
    assert row(con, "P02", "EFS", "T0")[1:4:2] == (d("2023-03-01"), 0)
    assert row(con, "P02", "DFS")[4] == "Regrowth not salvaged with R0"
    # the status at last follow-up agrees with DFS: a regrowth salvaged R1 is not salvaged
    assert adsl(con, "P02", "status_at_last_fu") == "REGROWTH_NOT_SALVAGED"


def test_death_competes_with_regrowth(con):
    rg = row(con, "P03", "RG")
    assert (rg[1], rg[3], rg[5]) == (d("2024-06-01"), 0, "COMPETING")
    ops = row(con, "P03", "OPS")
    assert (ops[1], ops[3], ops[4]) == (d("2024-06-01"), 0, "Death")
    assert row(con, "P03", "OS", "T0")[1:4:2] == (d("2024-06-01"), 0)
    assert row(con, "P03", "OS", "T0")[2] == pytest.approx(months("2022-01-01", "2024-06-01"), abs=1e-12)


def test_resection_without_regrowth_censors_regrowth_followup(con):
    rg = row(con, "P04", "RG")
    assert (rg[1], rg[3], rg[4], rg[5]) == (d("2023-01-10"), 1, "Radical resection without regrowth", None)
    assert row(con, "P04", "OPS")[1:4:2] == (d("2023-01-10"), 0)


def test_completion_surgery_after_local_excision_is_organ_loss(con):
    assert row(con, "P05", "OPS")[1:4:2] == (d("2022-09-01"), 0)
    assert adsl(con, "P05", "organ_lost_intent") == "COMPLETION"
    # pCR/MPR come from the first specimen (the TEM: ypT2, 30 %)
    assert adsl(con, "P05", "pcr_fl") is False
    assert adsl(con, "P05", "mpr_fl") is False
    assert adsl(con, "P05", "path_response_fl") is True
    # DFS from INDEX = first resection (TEM) date
    assert row(con, "P05", "DFS", "INDEX")[0] == d("2022-07-15")


def test_local_excision_is_not_organ_loss(con):
    start, adt, aval, cnsr, desc, _ = row(con, "P06", "OPS", "T0")
    assert (start, adt, cnsr) == (d("2022-01-01"), d("2025-01-01"), 1)
    assert desc == "Last assessment with the organ in place"
    assert adsl(con, "P06", "status_at_last_fu") == "ORGAN_PRESERVED"
    assert adsl(con, "P06", "pcr_fl") is True
    assert adsl(con, "P06", "initial_group") == "OPFS"
    assert adsl(con, "P06", "final_strategy") == "WW"


def test_upfront_radical_and_local_recurrence(con):
    assert row(con, "P07", "OPS")[1:4:2] == (d("2022-07-20"), 0)
    assert adsl(con, "P07", "pcr_fl") is False  # ypT0N+ is not pCR
    assert adsl(con, "P07", "mpr_fl") is True
    lr = row(con, "P07", "LR", "INDEX")
    assert (lr[0], lr[1], lr[3]) == (d("2022-07-20"), d("2024-01-01"), 0)
    assert lr[2] == pytest.approx(months("2022-07-20", "2024-01-01"), abs=1e-12)
    assert row(con, "P07", "DFS", "INDEX")[1:4:2] == (d("2024-01-01"), 0)
    assert adsl(con, "P07", "status_at_last_fu") == "WITH_DISEASE"
    # LR only for resected patients; RG only for initial W&W
    assert row(con, "P01", "LR") is not None and row(con, "P03", "LR") is None
    assert row(con, "P07", "RG") is None


def test_population_flags(con):
    assert [adsl(con, "P08", c) for c in ("eligible_fl", "safety_fl", "analysis_fl")] == [False, True, False]
    assert [adsl(con, "P09", c) for c in ("eligible_fl", "safety_fl", "analysis_fl")] == [False, False, False]
    n = con.execute("SELECT count(*) FROM adtte WHERE subject_id IN ('P08', 'P09')").fetchone()[0]
    assert n == 0


def test_distant_metastasis_before_regrowth_is_competing(con):
    rg = row(con, "P10", "RG")
    assert (rg[1], rg[3], rg[5]) == (d("2023-06-01"), 0, "COMPETING")
    assert row(con, "P10", "DMFS", "T0")[1:4:2] == (d("2023-06-01"), 0)
    assert row(con, "P10", "DFS_STRICT")[1:4:2] == (d("2023-06-01"), 0)
    assert adsl(con, "P10", "final_group") == "SYSTEMIC"


def test_regrowth_censored_at_last_surveillance_visit(con):
    rg = row(con, "P11", "RG")
    assert (rg[1], rg[3], rg[4]) == (d("2022-12-01"), 1, "Last surveillance visit")
    assert row(con, "P11", "OS", "T0")[1:4:2] == (d("2023-01-01"), 1)
    assert adsl(con, "P11", "status_at_last_fu") == "LOST_TO_FU"


def test_sustained_ccr_at_12_months(con):
    # ICI ends 2022-06-01, so the 12-month mark is 2023-06-01.
    assert (adsl(con, "P01", "sccr12_evaluable_fl"), adsl(con, "P01", "sccr12_fl")) == (True, False)  # regrowth 2023-03
    assert (adsl(con, "P03", "sccr12_evaluable_fl"), adsl(con, "P03", "sccr12_fl")) == (True, True)  # death 2024-06
    # P04 left W&W for a LAR by their own choice (2023-01-10), no regrowth: not evaluable
    assert (adsl(con, "P04", "sccr12_evaluable_fl"), adsl(con, "P04", "sccr12_fl")) == (False, None)
    assert adsl(con, "P04", "sccr12_choice_exit_fl") is True
    assert adsl(con, "P01", "sccr12_choice_exit_fl") is False
    assert (adsl(con, "P11", "sccr12_evaluable_fl"), adsl(con, "P11", "sccr12_fl")) == (False, None)  # lost 2023-01
    assert (adsl(con, "P05", "sccr12_evaluable_fl"), adsl(con, "P05", "sccr12_fl")) == (False, None)  # near-cCR


def test_t0_t1_and_response(con):
    assert adsl(con, "P01", "t0") == d("2022-01-01")
    assert adsl(con, "P01", "t1") == d("2022-07-01")
    assert adsl(con, "P05", "restaging_response") == "NEAR_CCR"
    assert adsl(con, "P01", "initial_group") == "NOM"
    assert adsl(con, "P01", "final_group") == "RO"


def test_every_analysis_patient_has_one_row_per_endpoint_origin(con):
    dup = con.execute(
        "SELECT subject_id, paramcd, origin, count(*) FROM adtte GROUP BY ALL HAVING count(*) > 1"
    ).fetchall()
    assert dup == []
    n_os = con.execute("SELECT count(*) FROM adtte WHERE paramcd = 'OS' AND origin = 'T0'").fetchone()[0]
    n_fas = con.execute("SELECT count(*) FROM adsl WHERE analysis_fl").fetchone()[0]
    assert n_os == n_fas == 9
    bad = con.execute("SELECT count(*) FROM adtte WHERE aval < 0 OR cnsr NOT IN (0, 1)").fetchone()[0]
    assert bad == 0


def test_dq_counts_match_the_source_tables(con):
    """dq_counts: one row per adsl subject; per table, the subject's rows and NULLs of
    every column, as counted directly on the source table (zero without rows)."""
    from dashboard.derive import DQ_COUNTS, dq_counted_columns, dq_filter_columns, dq_null_column, dq_rows_column
    from dashboard.filters import FILTER_COLUMNS
    from dashboard.schema import TABLES

    n, distinct = con.execute(f"SELECT count(*), count(DISTINCT subject_id) FROM {DQ_COUNTS}").fetchone()
    assert n == distinct == con.execute("SELECT count(*) FROM adsl").fetchone()[0] == 11
    # the filters' adsl columns, copied as they are (a filter applies to dq_counts unchanged)
    assert set(dq_filter_columns()) >= FILTER_COLUMNS | {"cohort"}
    cols = ", ".join(f'"{c}"' for c in dq_filter_columns())
    assert con.execute(f"SELECT subject_id, {cols} FROM {DQ_COUNTS} EXCEPT SELECT subject_id, {cols} FROM adsl").fetchall() == []
    for t in TABLES:
        cols = dq_counted_columns(t)
        direct = ", ".join(["count(*)"] + [f'count(*) - count(x."{c}")' for c in cols])
        stored = ", ".join([f'"{dq_rows_column(t.name)}"'] + [f'"{dq_null_column(t.name, c)}"' for c in cols])
        zeros = ", ".join(["0"] * (len(cols) + 1))
        diff = con.execute(f"""
            (SELECT a.subject_id, {stored} FROM {DQ_COUNTS} a
             EXCEPT
             (SELECT a.subject_id, {direct} FROM adsl a JOIN {t.name} x USING (subject_id) GROUP BY a.subject_id
              UNION ALL
              SELECT a.subject_id, {zeros} FROM adsl a ANTI JOIN {t.name} x USING (subject_id)))
        """).fetchall()
        assert diff == [], t.name
    # the hand-built patients have missing values to count: P09 has no immunotherapy row,
    # P03 has a death date and everyone else none
    assert con.execute(f'SELECT "{dq_rows_column("ici_exposure")}" FROM {DQ_COUNTS} WHERE subject_id = \'P09\'').fetchone() == (0,)
    nulls = con.execute(f'SELECT sum("{dq_null_column("follow_up", "death_date")}") FROM {DQ_COUNTS}').fetchone()[0]
    assert nulls == 11 - 1


# --------------------------------------------------------------------------------------
# Issue 14: the pathway's hard cases. Defaults as above: T0 2022-01-01, last ICI dose
# 2022-06-01 (12-month mark 2023-06-01), cCR at restaging 2022-06-15, last contact
# 2025-01-01 (also the data cut-off), T1 = first episode's decision date.
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hard():
    r = Registry()
    # rule 1: organ-sparing excisions during W&W do not end regrowth follow-up
    # H01: diagnostic TEM of the scar (no regrowth), later a regrowth salvaged by LAR R0.
    (r.patient("H01").episode("WW", "2022-07-01").assessment("2022-10-01")
     .procedure("TEM", "2023-02-01", episode=1).pathology(1, "T0", "N0", 0.0)
     .assessment("2023-09-01", result="TUMOUR")
     .episode("RO", "2023-09-15", "2023-10-01", "REGROWTH")
     .procedure("TME_LAR", "2023-10-01", intent="SALVAGE", r="R0")
     .event("LOCAL_REGROWTH", "2023-09-01", salvage_procedure_no=2))
    # H02: ESD during W&W, never a regrowth: RG runs to the last surveillance visit.
    (r.patient("H02").episode("WW", "2022-07-01")
     .procedure("ESD", "2023-02-01", episode=1).assessment("2024-10-01"))
    # H03: W&W, patient-choice LAR then a later regrowth-like event is not observable:
    # RG censored at the radical resection (event after it is a recurrence).
    (r.patient("H03").episode("WW", "2022-07-01").assessment("2022-12-01")
     .episode("RO", "2023-01-01", "2023-01-10", "PATIENT_CHOICE")
     .procedure("TME_LAR", "2023-01-10").assessment("2024-06-01").event("NODAL", "2023-08-01"))
    # rule 2: nodal regrowth under W&W before any resection
    # H04: NODAL event under W&W, salvaged by LAR R0 (linked).
    (r.patient("H04").episode("WW", "2022-07-01").assessment("2023-03-01")
     .episode("RO", "2023-04-10", "2023-05-01", "REGROWTH")
     .procedure("TME_LAR", "2023-05-01", intent="SALVAGE", r="R0")
     .event("NODAL", "2023-04-01", salvage_procedure_no=1, regrowth_site="NODES"))
    # H05: recorded as LOCAL_RECUR with site NODES under W&W, no salvage.
    (r.patient("H05").episode("WW", "2022-07-01").assessment("2023-03-01")
     .event("LOCAL_RECUR", "2023-04-01", regrowth_site="NODES"))
    # H06: nodal event after a local excision (initial LE): a nodal recurrence.
    (r.patient("H06", response="NEAR_CCR").episode("LE", "2022-07-01", "2022-07-15")
     .procedure("TEM", "2022-07-15").event("NODAL", "2023-06-01"))
    # rule 3: salvage pathway and inferred links
    # H07: regrowth -> TEM R1 (linked) -> completion LAR R0: salvaged R0.
    (r.patient("H07").episode("WW", "2022-07-01").assessment("2023-03-01", result="TUMOUR")
     .episode("LE", "2023-03-10", "2023-03-20", "REGROWTH")
     .procedure("TEM", "2023-03-20", intent="SALVAGE", r="R1")
     .episode("RO", "2023-04-10", "2023-05-01", "ADVERSE_PATHOLOGY")
     .procedure("TME_LAR", "2023-05-01", intent="COMPLETION", r="R0")
     .event("LOCAL_REGROWTH", "2023-03-01", salvage_procedure_no=1))
    # H08: regrowth without a link; one SALVAGE LAR R0 after it: inferred salvage.
    (r.patient("H08").episode("WW", "2022-07-01").assessment("2023-03-01", result="TUMOUR")
     .episode("RO", "2023-03-10", "2023-04-01", "REGROWTH")
     .procedure("TME_LAR", "2023-04-01", intent="SALVAGE", r="R0")
     .event("LOCAL_REGROWTH", "2023-03-01"))
    # H09: regrowth without a link, distant metastasis, then a SALVAGE LAR: not inferred
    # (the procedure comes after another oncological event).
    (r.patient("H09").episode("WW", "2022-07-01").assessment("2023-03-01", result="TUMOUR")
     .episode("RO", "2023-03-20", "2023-04-01", "REGROWTH")
     .procedure("TME_LAR", "2023-04-01", intent="SALVAGE", r="R0")
     .event("LOCAL_REGROWTH", "2023-03-01").event("DISTANT", "2023-03-15"))
    # H10: regrowth -> TEM R0 (linked) -> completion LAR R1: the pathway ends R1.
    (r.patient("H10").episode("WW", "2022-07-01").assessment("2023-03-01", result="TUMOUR")
     .episode("LE", "2023-03-10", "2023-03-20", "REGROWTH")
     .procedure("TEM", "2023-03-20", intent="SALVAGE", r="R0")
     .episode("RO", "2023-04-10", "2023-05-01", "ADVERSE_PATHOLOGY")
     .procedure("TME_LAR", "2023-05-01", intent="COMPLETION", r="R1")
     .event("LOCAL_REGROWTH", "2023-03-01", salvage_procedure_no=1))
    # H11: two regrowths: the first salvaged by TEM R0, the second never salvaged.
    (r.patient("H11").episode("WW", "2022-07-01").assessment("2023-03-01", result="TUMOUR")
     .episode("LE", "2023-03-10", "2023-03-20", "REGROWTH")
     .procedure("TEM", "2023-03-20", intent="SALVAGE", r="R0")
     .episode("WW", "2023-04-01", trigger="RESPONSE").assessment("2024-02-01", result="TUMOUR")
     .event("LOCAL_REGROWTH", "2023-03-01", salvage_procedure_no=1).event("LOCAL_REGROWTH", "2024-02-01"))
    # H12: regrowth without a link followed by a PRIMARY-intent LAR: not a salvage.
    (r.patient("H12").episode("WW", "2022-07-01").assessment("2023-03-01", result="TUMOUR")
     .episode("RO", "2023-03-10", "2023-04-01", "REGROWTH")
     .procedure("TME_LAR", "2023-04-01", intent="PRIMARY", r="R0")
     .event("LOCAL_REGROWTH", "2023-03-01"))
    # rule 4: sustained cCR at 12 months and patient-choice surgery
    # H13: patient-choice LAR after the 12-month mark: evaluable and sustained.
    (r.patient("H13").episode("WW", "2022-07-01").assessment("2023-05-01")
     .episode("RO", "2023-08-15", "2023-09-01", "PATIENT_CHOICE").procedure("TME_LAR", "2023-09-01"))
    # H14: regrowth, then a LAR recorded as patient choice: the regrowth is a failure.
    (r.patient("H14").episode("WW", "2022-07-01").assessment("2023-01-01", result="TUMOUR")
     .episode("RO", "2023-01-20", "2023-02-01", "PATIENT_CHOICE").procedure("TME_LAR", "2023-02-01")
     .event("LOCAL_REGROWTH", "2023-01-01"))
    # H15: a local excision by patient choice before 12 months keeps the organ: evaluable.
    (r.patient("H15").episode("WW", "2022-07-01")
     .episode("LE", "2022-12-20", "2023-01-05", "PATIENT_CHOICE").procedure("TEM", "2023-01-05")
     .assessment("2024-06-01"))
    # H16: patient-choice LAR before the mark, but the patient died the day of surgery.
    (r.patient("H16", death="2023-01-10").episode("WW", "2022-07-01")
     .episode("RO", "2023-01-01", "2023-01-10", "PATIENT_CHOICE").procedure("TME_LAR", "2023-01-10"))
    # rule 5: status at last follow-up
    # H17: local excision, local recurrence salvaged by LAR R0 (linked).
    (r.patient("H17", response="NEAR_CCR").episode("LE", "2022-07-01", "2022-07-15")
     .procedure("TEM", "2022-07-15")
     .episode("RO", "2023-06-20", "2023-07-01", "RECURRENCE")
     .procedure("TME_LAR", "2023-07-01", intent="SALVAGE", r="R0")
     .event("LOCAL_RECUR", "2023-06-01", salvage_procedure_no=2))
    # H18: the same salvaged R1.
    (r.patient("H18", response="NEAR_CCR").episode("LE", "2022-07-01", "2022-07-15")
     .procedure("TEM", "2022-07-15")
     .episode("RO", "2023-06-20", "2023-07-01", "RECURRENCE")
     .procedure("TME_LAR", "2023-07-01", intent="SALVAGE", r="R1")
     .event("LOCAL_RECUR", "2023-06-01", salvage_procedure_no=2))
    return r.connect()


def test_organ_sparing_excision_under_ww_does_not_censor_regrowth(hard):
    rg = row(hard, "H01", "RG")
    assert (rg[1], rg[3], rg[4], rg[5]) == (d("2023-09-01"), 0, "Local regrowth", "REGROWTH")
    # RG and strict DFS now agree on the same regrowth
    assert row(hard, "H01", "DFS_STRICT")[1:4:2] == (d("2023-09-01"), 0)
    assert row(hard, "H01", "OPS")[1:4:2] == (d("2023-10-01"), 0)  # the TEM was not organ loss
    rg = row(hard, "H02", "RG")
    assert (rg[1], rg[3], rg[4]) == (d("2024-10-01"), 1, "Last surveillance visit")
    assert row(hard, "H02", "OPS")[1:4:2] == (d("2025-01-01"), 1)


def test_radical_resection_without_regrowth_still_censors_regrowth(hard):
    rg = row(hard, "H03", "RG")
    assert (rg[1], rg[3], rg[4]) == (d("2023-01-10"), 1, "Radical resection without regrowth")
    # a nodal event after the resection is a regional recurrence, not a regrowth
    assert adsl(hard, "H03", "first_regrowth_date") is None
    assert row(hard, "H03", "DFS")[1:5] == (d("2023-08-01"), months("2022-07-01", "2023-08-01"), 0,
                                            "Regional nodal recurrence")


def test_rg_and_strict_dfs_agree_on_every_regrowth(hard):
    """Whenever RG ends in a regrowth, strict DFS has an event on that date or earlier."""
    bad = hard.execute("""
        SELECT r.subject_id FROM adtte r JOIN adtte s USING (subject_id, origin)
        WHERE r.paramcd = 'RG' AND s.paramcd = 'DFS_STRICT' AND r.evnt_type = 'REGROWTH'
          AND NOT (s.cnsr = 0 AND s.adt <= r.adt)""").fetchall()
    assert bad == []
    n = hard.execute("SELECT count(*) FROM adtte WHERE paramcd = 'RG' AND origin = 'T1' AND evnt_type = 'REGROWTH'").fetchone()[0]
    assert n == 10  # H01, H04, H05, H07-H12, H14


def test_nodal_reappearance_under_ww_is_a_regrowth(hard):
    rg = row(hard, "H04", "RG")
    assert (rg[1], rg[3], rg[5]) == (d("2023-04-01"), 0, "REGROWTH")
    assert (adsl(hard, "H04", "first_regrowth_date"), adsl(hard, "H04", "first_nodal_date")) == (d("2023-04-01"), None)
    assert adsl(hard, "H04", "nodal_regrowth_fl") is True
    # salvage rules apply: salvaged R0, so no salvage-adjusted DFS / EFS event
    assert row(hard, "H04", "DFS")[1:4:2] == (d("2025-01-01"), 1)
    assert row(hard, "H04", "EFS", "T0")[1:4:2] == (d("2025-01-01"), 1)
    assert row(hard, "H04", "DFS_STRICT")[1:4:2] == (d("2023-04-01"), 0)
    assert adsl(hard, "H04", "status_at_last_fu") == "REGROWTH_SALVAGED"
    # whatever code recorded it: LOCAL_RECUR at the nodes, unsalvaged
    assert row(hard, "H05", "RG")[1:4:2] == (d("2023-04-01"), 0)
    assert row(hard, "H05", "DFS")[1:5:3] == (d("2023-04-01"), "Regrowth not salvaged with R0")
    assert adsl(hard, "H05", "first_local_recur_date") is None
    assert adsl(hard, "H05", "status_at_last_fu") == "REGROWTH_NOT_SALVAGED"
    assert row(hard, "H05", "LR") is None  # never resected
    # not under W&W (initial local excision): a nodal recurrence
    assert row(hard, "H06", "RG") is None
    assert adsl(hard, "H06", "nodal_regrowth_fl") is False
    assert row(hard, "H06", "DFS", "INDEX")[1:5:3] == (d("2023-06-01"), "Regional nodal recurrence")
    assert adsl(hard, "H06", "status_at_last_fu") == "WITH_DISEASE"


def test_salvage_pathway_that_ends_r0_is_salvaged_r0(hard):
    assert row(hard, "H07", "DFS")[1:4:2] == (d("2025-01-01"), 1)
    assert row(hard, "H07", "DFS_STRICT")[1:4:2] == (d("2023-03-01"), 0)
    assert row(hard, "H07", "OPS")[1:4:2] == (d("2023-05-01"), 0)
    assert adsl(hard, "H07", "status_at_last_fu") == "REGROWTH_SALVAGED"
    # an R0 excision followed by an R1 completion does not end R0
    assert row(hard, "H10", "DFS")[1:5:3] == (d("2023-03-01"), "Regrowth not salvaged with R0")
    assert adsl(hard, "H10", "status_at_last_fu") == "REGROWTH_NOT_SALVAGED"


def test_salvage_link_inferred_from_a_salvage_procedure(hard):
    assert row(hard, "H08", "DFS")[1:4:2] == (d("2025-01-01"), 1)
    assert adsl(hard, "H08", "salvage_link_inferred_fl") is True
    assert adsl(hard, "H08", "status_at_last_fu") == "REGROWTH_SALVAGED"
    assert adsl(hard, "H07", "salvage_link_inferred_fl") is False  # linked explicitly
    # after another oncological event the procedure is no longer this regrowth's salvage
    assert adsl(hard, "H09", "salvage_link_inferred_fl") is False
    assert row(hard, "H09", "DFS")[1:5:3] == (d("2023-03-01"), "Regrowth not salvaged with R0")
    assert adsl(hard, "H09", "status_at_last_fu") == "WITH_DISEASE"
    # a PRIMARY-intent procedure is not inferred as a salvage
    assert row(hard, "H12", "DFS")[1:4:2] == (d("2023-03-01"), 0)
    assert adsl(hard, "H12", "salvage_link_inferred_fl") is False


def test_second_unsalvaged_regrowth_is_the_dfs_event(hard):
    assert row(hard, "H11", "DFS")[1:5:3] == (d("2024-02-01"), "Regrowth not salvaged with R0")
    assert row(hard, "H11", "DFS_STRICT")[1:4:2] == (d("2023-03-01"), 0)
    assert adsl(hard, "H11", "status_at_last_fu") == "REGROWTH_NOT_SALVAGED"
    assert row(hard, "H11", "OPS")[3] == 1  # only local excisions: organ kept


def test_sustained_ccr_and_patient_choice_surgery(hard):
    def s(sid):
        return tuple(adsl(hard, sid, c) for c in ("sccr12_evaluable_fl", "sccr12_fl", "sccr12_choice_exit_fl"))
    assert s("H13") == (True, True, False)  # choice LAR after the 12-month mark
    assert s("H14") == (True, False, False)  # regrowth first: a failure, not a choice
    assert s("H15") == (True, True, False)  # choice TEM keeps the organ
    assert s("H16") == (True, False, False)  # died the day of surgery: a failure
    assert s("H03") == (False, None, True)  # choice LAR 2023-01-10, no regrowth before
    n = hard.execute("SELECT count(*) FILTER (WHERE sccr12_evaluable_fl), count(*) FILTER (WHERE sccr12_choice_exit_fl) "
                     "FROM adsl").fetchone()
    assert n == (14, 1)  # 15 cCR patients: H03 left out of the denominator, counted separately


def test_status_at_last_follow_up_agrees_with_dfs(hard):
    assert adsl(hard, "H17", "status_at_last_fu") == "RECURRENCE_SALVAGED"
    assert row(hard, "H17", "DFS", "INDEX")[1:5:3] == (d("2023-06-01"), "Local recurrence")  # still a DFS event
    assert adsl(hard, "H18", "status_at_last_fu") == "WITH_DISEASE"
    # every status is consistent with the salvage-adjusted DFS row
    rows = hard.execute("""
        SELECT a.subject_id, a.status_at_last_fu, t.cnsr FROM adsl a JOIN adtte t USING (subject_id)
        WHERE t.paramcd = 'DFS' AND t.origin = 'T1'""").fetchall()
    for sid, status, cnsr in rows:
        if status in ("WITH_DISEASE", "REGROWTH_NOT_SALVAGED", "RECURRENCE_SALVAGED", "DEAD"):
            assert cnsr == 0, sid
        elif status in ("REGROWTH_SALVAGED", "ORGAN_PRESERVED", "RESECTED_NED"):
            assert cnsr == 1, sid
