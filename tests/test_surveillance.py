"""The Watch & Wait overdue rule on hand-built patients: on time, overdue by endoscopy,
rectal overdue by MRI only, organ removed / dead / no longer W&W never listed, upper-GI
intervals switching at years 1, 2 and 3, the grace period boundary; then the same rule fed
by the query on a hand-built registry."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from builders import ConStore, Registry, d
from dashboard.filters import CohortFilter
from dashboard.queries.patient import select_surveillance_candidates
from dashboard.schema import DAYS_PER_MONTH
from dashboard.stats.surveillance import (
    DEFAULT_SCHEDULE,
    INPUT_COLUMNS,
    SurveillanceSchedule,
    estimate_next_exams,
    estimate_overdue,
    interval_months,
)

CUTOFF = d("2026-11-01")
T1 = d("2025-06-01")  # 17 months before the cut-off: year 2


def _days(months: float) -> dt.timedelta:
    return dt.timedelta(days=round(months * DAYS_PER_MONTH))


def _patient(sid, site="RECTUM", endo=None, mri=None, t1=T1, strategy="WW", organ_lost=None, dead=False):
    return dict(subject_id=sid, tumour_site=site, t1=t1, current_strategy=strategy, organ_lost_date=organ_lost,
                vital_status="DEAD" if dead else "ALIVE", death_date=d("2026-05-01") if dead else None,
                data_cutoff=CUTOFF, last_endoscopy_date=endo, last_mri_date=mri)


def _frame(rows) -> pl.DataFrame:
    schema = {c: pl.Date if c.endswith("date") or c in ("t1", "data_cutoff") else pl.String for c in INPUT_COLUMNS}
    return pl.DataFrame(rows, schema=schema)


PATIENTS = _frame([
    _patient("ON_TIME", endo=d("2026-09-15"), mri=d("2026-07-01")),
    _patient("LATE_ENDO", endo=d("2026-06-01"), mri=d("2026-09-01")),
    _patient("LATE_MRI", endo=d("2026-10-01"), mri=d("2026-03-01")),
    _patient("RESECTED", endo=d("2025-09-01"), mri=d("2025-09-01"), organ_lost=d("2025-10-01")),
    _patient("DEAD", endo=d("2025-09-01"), mri=d("2025-09-01"), dead=True),
    _patient("NOW_RO", endo=d("2025-09-01"), mri=d("2025-09-01"), strategy="RO"),
    _patient("COLON", site="COLON", endo=d("2026-09-20"), mri=None),
])


def test_who_is_listed_and_why():
    nxt = estimate_next_exams(PATIENTS)
    assert set(nxt["subject_id"]) == {"ON_TIME", "LATE_ENDO", "LATE_MRI", "COLON"}
    assert nxt.filter(pl.col("subject_id") == "COLON")["modality"].to_list() == ["ENDOSCOPY"]  # no MRI for colon
    over = estimate_overdue(PATIENTS)
    assert sorted(zip(over["subject_id"], over["modality"])) == [("LATE_ENDO", "ENDOSCOPY"), ("LATE_MRI", "MRI")]


def test_due_dates_and_days_overdue():
    nxt = {(r["subject_id"], r["modality"]): r for r in estimate_next_exams(PATIENTS).iter_rows(named=True)}
    r = nxt[("LATE_ENDO", "ENDOSCOPY")]  # endoscopy 12 months after T1: year 2, every 3 months
    assert r["interval_months"] == 3
    assert r["due_date"] == d("2026-06-01") + _days(3)
    assert r["days_overdue"] == (CUTOFF - r["due_date"]).days > 28 and r["overdue"]
    r = nxt[("LATE_MRI", "MRI")]  # MRI 9 months after T1: every 6 months
    assert r["interval_months"] == 6 and r["due_date"] == d("2026-03-01") + _days(6) and r["overdue"]
    assert not nxt[("LATE_MRI", "ENDOSCOPY")]["overdue"]
    on = nxt[("ON_TIME", "ENDOSCOPY")]
    assert on["days_overdue"] < 0 and not on["overdue"]


@pytest.mark.parametrize("months, want", [(0, 3), (11.99, 3), (12, 4), (23.99, 4), (24, 6), (35.9, 6), (36, 12), (80, 12)])
def test_upper_gi_intervals_switch_by_year(months, want):
    assert interval_months(DEFAULT_SCHEDULE, "GASTRIC", "ENDOSCOPY", months) == want
    assert interval_months(DEFAULT_SCHEDULE, "GEJ", "ENDOSCOPY", months) == want


@pytest.mark.parametrize("months, endo, mri", [(0, 3, 6), (23.9, 3, 6), (24, 6, 12), (59.9, 6, 12), (60, 12, 12)])
def test_rectal_intervals(months, endo, mri):
    assert interval_months(DEFAULT_SCHEDULE, "RECTUM", "ENDOSCOPY", months) == endo
    assert interval_months(DEFAULT_SCHEDULE, "RECTUM", "MRI", months) == mri


def test_upper_gi_switch_through_the_rule():
    t1 = d("2024-06-01")
    rows = _frame([
        _patient("Y1", site="GASTRIC", t1=t1, endo=t1 + _days(11)),  # year 1: 3 months
        _patient("Y2", site="GASTRIC", t1=t1, endo=t1 + _days(13)),  # year 2: 4 months
        _patient("Y3", site="GEJ", t1=t1, endo=t1 + _days(25)),  # year 3: 6 months
    ])
    nxt = {r["subject_id"]: r for r in estimate_next_exams(rows).iter_rows(named=True)}
    assert [nxt[k]["interval_months"] for k in ("Y1", "Y2", "Y3")] == [3, 4, 6]
    assert nxt["Y2"]["due_date"] == t1 + _days(13) + _days(4)
    assert all(r["modality"] == "ENDOSCOPY" for r in nxt.values())


@pytest.mark.parametrize("late, overdue", [(27, False), (28, False), (29, True)])
def test_grace_period_boundary(late, overdue):
    endo = CUTOFF - dt.timedelta(days=late) - _days(3)
    rows = _frame([_patient("G", site="COLON", endo=endo)])
    r = estimate_next_exams(rows).row(0, named=True)
    assert r["days_overdue"] == late and r["overdue"] is overdue


def test_no_exam_since_t1_counts_from_t1():
    rows = _frame([_patient("NONE", site="COLON", endo=T1 - dt.timedelta(days=10))])  # restaging only, before T1
    r = estimate_next_exams(rows).row(0, named=True)
    assert r["last_exam_date"] == T1 and r["due_date"] == T1 + _days(3) and r["overdue"]


def test_schedule_is_validated():
    with pytest.raises(ValueError):
        SurveillanceSchedule(rules={"LOWER_GI": {"ENDOSCOPY": ((3, 3),)}}, modalities_by_site={"RECTUM": ("ENDOSCOPY",)})
    with pytest.raises(ValueError):
        SurveillanceSchedule(rules={"LOWER_GI": {"ENDOSCOPY": ((0, 3),)}}, modalities_by_site={"RECTUM": ("MRI",)})
    with pytest.raises(ValueError):
        estimate_next_exams(PATIENTS.drop("t1"))


# ------------------------------------------------------------------ through the query
def test_rule_on_a_hand_built_registry():
    reg = Registry()
    # the data cut-off is the latest last contact: 2026-11-01
    on = reg.patient("P_ON", t0="2024-11-01", ici_end="2025-04-01", restaging="2025-05-20", last_contact="2026-11-01")
    on.episode("WW", "2025-06-01").assessment("2026-09-15").assessment("2026-07-01", modality="MRI")
    late = reg.patient("P_ENDO", t0="2024-11-01", ici_end="2025-04-01", restaging="2025-05-20",
                       last_contact="2026-10-20")
    late.episode("WW", "2025-06-01").assessment("2026-06-01").assessment("2026-09-01", modality="MRI")
    mri = reg.patient("P_MRI", t0="2024-11-01", ici_end="2025-04-01", restaging="2025-05-20", last_contact="2026-10-20")
    mri.episode("WW", "2025-06-01").assessment("2026-10-01").assessment("2026-03-01", modality="MRI")
    res = reg.patient("P_RESECTED", t0="2024-11-01", ici_end="2025-04-01", restaging="2025-05-20",
                      last_contact="2026-10-20")
    res.episode("WW", "2025-06-01").assessment("2025-09-01").event("LOCAL_REGROWTH", "2025-09-01")
    res.episode("RO", "2025-09-20", "2025-10-01").procedure("TME_LAR", "2025-10-01", intent="SALVAGE")
    dead = reg.patient("P_DEAD", t0="2024-11-01", ici_end="2025-04-01", restaging="2025-05-20", death="2026-05-01")
    dead.episode("WW", "2025-06-01").assessment("2025-09-01")
    gi = reg.patient("P_GASTRIC", site="GASTRIC", t0="2024-11-01", ici_end="2025-04-01", restaging="2025-05-20",
                     last_contact="2026-10-20")
    gi.episode("WW", "2025-06-01").assessment("2026-07-01")  # 13 months after T1: 4-monthly, due ~2026-10-31
    con = reg.connect()
    try:
        cand = select_surveillance_candidates(ConStore(con), CohortFilter())
        assert set(cand["subject_id"]) == {"P_ON", "P_ENDO", "P_MRI", "P_RESECTED", "P_DEAD", "P_GASTRIC"}
        assert cand["data_cutoff"].unique().to_list() == [CUTOFF]
        over = estimate_overdue(cand)
        assert sorted(zip(over["subject_id"], over["modality"])) == [("P_ENDO", "ENDOSCOPY"), ("P_MRI", "MRI")]
        nxt = estimate_next_exams(cand)
        assert "P_RESECTED" not in set(nxt["subject_id"]) and "P_DEAD" not in set(nxt["subject_id"])
        g = nxt.filter(pl.col("subject_id") == "P_GASTRIC").row(0, named=True)
        assert g["interval_months"] == 4 and not g["overdue"]
        rect_only = select_surveillance_candidates(ConStore(con), CohortFilter(site=("GASTRIC",)))
        assert rect_only["subject_id"].to_list() == ["P_GASTRIC"]
    finally:
        con.close()
