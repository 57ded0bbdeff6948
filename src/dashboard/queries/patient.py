"""One patient's record for the timeline, the patients comparable to them, and the Watch &
Wait surveillance candidates. Pseudonymised ids only: the registry holds no names, record
numbers or birth dates, and nothing here selects centre or free text. Every value (the
patient id included) is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..filters import CohortFilter
from ..schema import SUBJECT
from ..store import Store

MAX_ID_LENGTH = SUBJECT.column("subject_id").max_length or 40
# adsl columns shown about the patient (no direct identifiers exist in the registry).
PATIENT_COLUMNS = (
    "subject_id", "cohort", "eligibility", "analysis_fl", "age", "sex", "ecog", "tumour_site", "histology",
    "biomarker_basis", "mmr_loss", "lynch", "braf", "ct", "cn", "cm", "distance_av_cm", "regimen_class",
    "ici_cycles", "t0", "ici_end_date", "restaging_response", "restaging_date", "t1", "initial_strategy",
    "initial_group", "final_strategy", "organ_lost_date", "first_regrowth_date", "first_distant_date",
    "last_contact_date", "vital_status", "death_date", "death_cause", "status_at_last_fu", "data_cutoff",
)


def _where(flt: CohortFilter, alias: str | None = None) -> tuple[str, dict]:
    if not isinstance(flt, CohortFilter):
        raise TypeError(f"expected a CohortFilter, got {type(flt).__name__}")
    return flt.where_sql(alias)


def valid_patient_id(value: object) -> bool:
    """A plausible id to look up (a string of printable characters, not too long)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable()


def select_patient_ids(store: Store, flt: CohortFilter, limit: int | None = None) -> tuple[str, ...]:
    """Ids of the registered patients matching the filter, sorted (the first ``limit``)."""
    where, params = _where(flt)
    if limit is None:
        return tuple(store.sql(f"SELECT subject_id FROM adsl WHERE {where} ORDER BY subject_id", params)["subject_id"])
    if not (isinstance(limit, int) and limit >= 1):
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    return tuple(store.sql(f"SELECT subject_id FROM adsl WHERE {where} ORDER BY subject_id LIMIT $lim",
                           {**params, "lim": limit})["subject_id"])


def select_patient_exists(store: Store, flt: CohortFilter, patient_id: str) -> bool:
    """Whether ``patient_id`` is a registered patient matching ``flt`` (``CohortFilter()``:
    anywhere in the registry)."""
    if not valid_patient_id(patient_id):
        return False
    where, params = _where(flt)
    return store.sql(f"SELECT count(*) AS n FROM adsl WHERE subject_id = $pid AND {where}",
                     {**params, "pid": patient_id}).item() > 0


@dataclass(frozen=True)
class PatientRecord:
    """Everything recorded about one patient, one frame per source table (``adsl`` as
    ``patient``, a one-row frame of :data:`PATIENT_COLUMNS`), each ordered by date."""

    patient: pl.DataFrame
    ici: pl.DataFrame
    assessments: pl.DataFrame
    episodes: pl.DataFrame
    procedures: pl.DataFrame
    aes: pl.DataFrame
    events: pl.DataFrame
    qol: pl.DataFrame

    @property
    def row(self) -> dict:
        return self.patient.row(0, named=True)


def select_patient_record(store: Store, flt: CohortFilter, patient_id: str) -> PatientRecord | None:
    """The record of one patient, or None when the id is not in the registry.

    ``flt`` is accepted for the cache signature and not applied (a patient opened by
    link is shown even when the sidebar filter would leave them out)."""
    _where(flt)
    if not valid_patient_id(patient_id):
        return None
    p = {"pid": patient_id}
    patient = store.sql(f"SELECT {', '.join(PATIENT_COLUMNS)} FROM adsl WHERE subject_id = $pid", p)
    if patient.height == 0:
        return None
    return PatientRecord(
        patient=patient,
        ici=store.sql("SELECT exposure_no, regimen_class, drugs, start_date, end_date, cycles, stop_reason "
                      "FROM ici_exposure WHERE subject_id = $pid ORDER BY start_date, exposure_no", p),
        assessments=store.sql("SELECT assessment_no, assessment_date, timepoint, modality, result, overall_response "
                              "FROM assessment WHERE subject_id = $pid ORDER BY assessment_date, assessment_no", p),
        episodes=store.sql("SELECT episode_no, strategy, decision_date, start_date, trigger "
                           "FROM strategy_episode WHERE subject_id = $pid ORDER BY episode_no", p),
        procedures=store.sql("SELECT procedure_no, episode_no, procedure_date, procedure_type, intent, approach, r_status, "
                             "stoma, stoma_closure_date, clavien_dindo, complication, leak_grade, length_of_stay_days "
                             "FROM procedure WHERE subject_id = $pid ORDER BY procedure_date, procedure_no", p),
        aes=store.sql("SELECT ae_no, term, soc, grade, onset_date, resolution_date, immune_related, serious, attribution, "
                      "steroids, outcome FROM ae WHERE subject_id = $pid ORDER BY onset_date, ae_no", p),
        events=store.sql("SELECT event_no, event_type, event_date, confirmation, regrowth_site, salvage_procedure_no "
                         "FROM onc_event WHERE subject_id = $pid ORDER BY event_date, event_no", p),
        qol=store.sql("SELECT instrument, scale, timepoint, qol_date, score FROM qol WHERE subject_id = $pid "
                      "ORDER BY qol_date, instrument, scale", p),
    )


def select_comparable_tte(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """OPS and RG from T1 (``adtte``) for full-analysis-set patients matching ``flt``
    (the page builds it from the patient's own site / response / biomarker / strategy).

    Returns
    -------
    pl.DataFrame
        ``subject_id, paramcd`` (OPS or RG), ``aval`` (months from T1), ``cnsr``
        (0 event, 1 censored), ``evnt_type`` (RG: REGROWTH / COMPETING).
    """
    where, params = _where(flt, "a")
    return store.sql(
        f"""SELECT t.subject_id, t.paramcd, t.aval, t.cnsr, t.evnt_type
            FROM adtte t JOIN adsl a USING (subject_id)
            WHERE a.analysis_fl AND t.origin = 'T1' AND t.paramcd IN ('OPS', 'RG') AND {where}
            ORDER BY t.paramcd, t.subject_id""",
        params,
    )


def select_surveillance_candidates(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Full-analysis-set patients matching the filter who were ever under Watch & Wait,
    with what the overdue rule (:mod:`dashboard.stats.surveillance`) needs.

    ``current_strategy`` is the strategy of the latest episode; ``last_endoscopy_date`` /
    ``last_mri_date`` the latest such examination on or before the data cut-off (any
    timepoint; the rule ignores those before T1).
    """
    where, params = _where(flt, "a")
    return store.sql(
        f"""
        WITH last_exam AS (
          SELECT s.subject_id,
                 max(s.assessment_date) FILTER (WHERE s.modality = 'ENDOSCOPY') AS last_endoscopy_date,
                 max(s.assessment_date) FILTER (WHERE s.modality = 'MRI') AS last_mri_date
          FROM assessment s JOIN adsl a USING (subject_id)
          WHERE s.assessment_date <= a.data_cutoff
          GROUP BY s.subject_id
        )
        SELECT a.subject_id, a.tumour_site, a.restaging_response, a.t1, a.final_strategy AS current_strategy,
               a.organ_lost_date, a.vital_status, a.death_date, a.last_contact_date, a.data_cutoff,
               a.status_at_last_fu = 'LOST_TO_FU' AS lost_to_fu_fl,
               e.last_endoscopy_date, e.last_mri_date
        FROM adsl a LEFT JOIN last_exam e USING (subject_id)
        WHERE a.analysis_fl AND a.ever_ww_fl AND {where}
        ORDER BY a.subject_id
        """,
        params,
    )
