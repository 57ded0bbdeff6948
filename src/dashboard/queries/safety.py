"""Safety data under the global filter: the safety population, immunotherapy adverse
events and resections with their complications, ready for :mod:`dashboard.stats.safety`.

Rules applied here (stated once, shown on the page):

- Safety population: ``adsl.safety_fl`` (at least one immunotherapy dose) among the
  patients matching the filter; grouped by initial strategy group (``NONE`` when no
  strategy has been recorded yet).
- Immunotherapy adverse events: ``ae.attribution = 'ICI'``, treatment-emergent, i.e.
  onset on or after T0 (first immunotherapy dose); no upper time limit. Procedure
  complications (attribution SURGERY / ENDOSCOPY) are not in these tables.
- Procedures: every resection of a safety-population patient, with its class (radical
  resection, local excision, endoscopic resection), a flag for the first procedure of
  each class per patient, and the days from the procedure to death and to last contact.

Table names and codes come from ``schema.py``; user values are bound parameters only.
"""

from __future__ import annotations

import polars as pl

from ..i18n import N_
from ..filters import CohortFilter
from ..schema import LOCAL_PROCEDURES, RADICAL_PROCEDURES, Vocabulary
from ..store import Store

NO_GROUP = "NONE"
# Display vocabulary for the strategy-group columns of the safety tables.
SAFETY_GROUP = Vocabulary(
    "safety_group", description="Initial strategy group (columns of the safety tables)",
    items=(("NOM", N_("Watch & Wait")), ("OPFS", N_("Local / endoscopic resection")), ("RO", N_("Radical surgery")),
           ("SYSTEMIC", N_("Systemic therapy only")), (NO_GROUP, N_("No strategy recorded"))),
)
LE_PROCEDURES = frozenset({"TEM", "TAMIS"})
ENDOSCOPIC_PROCEDURES = frozenset({"ESD", "EMR"})
assert LE_PROCEDURES | ENDOSCOPIC_PROCEDURES == LOCAL_PROCEDURES
PROCEDURE_CLASS = Vocabulary(
    "procedure_class", description="Procedure class of a resection",
    items=(("RO", N_("Radical resection")), ("LE", N_("Local excision (TEM/TAMIS)")),
           ("ESD_EMR", N_("Endoscopic resection (ESD/EMR)"))),
)


def _codes(codes: frozenset[str]) -> str:
    # constants from schema.py only (upper-case ASCII codes), never user input
    assert all(c.replace("_", "").isalnum() for c in codes)
    return ", ".join(f"'{c}'" for c in sorted(codes))


CLASS_CASE = (f"CASE WHEN p.procedure_type IN ({_codes(RADICAL_PROCEDURES)}) THEN 'RO' "
              f"WHEN p.procedure_type IN ({_codes(LE_PROCEDURES)}) THEN 'LE' "
              f"WHEN p.procedure_type IN ({_codes(ENDOSCOPIC_PROCEDURES)}) THEN 'ESD_EMR' END")


def _where(flt: CohortFilter) -> tuple[str, dict]:
    if not isinstance(flt, CohortFilter):
        raise TypeError(f"expected a CohortFilter, got {type(flt).__name__}")
    return flt.where_sql("a")


def select_safety_denominators(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Safety-population patients matching the filter, by initial strategy group.

    Returns
    -------
    pl.DataFrame : ``group`` (strategy group code, ``NONE`` without a strategy) and
        ``n`` patients; groups with no patient are absent.
    """
    where, params = _where(flt)
    return store.sql(
        f"""
        SELECT coalesce(a.initial_group, '{NO_GROUP}') AS "group", count(*) AS n
        FROM adsl a WHERE a.safety_fl AND {where}
        GROUP BY ALL ORDER BY 1
        """,
        params,
    )


def select_ici_ae_events(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Treatment-emergent immunotherapy adverse events of the safety population.

    One row per event (``attribution = 'ICI'``, onset on or after T0).

    Returns
    -------
    pl.DataFrame : ``subject_id``, ``group``, ``t0``, ``ae_no``, ``soc`` (code),
        ``term``, ``grade`` (CTCAE 1-5), ``onset_date``, ``days_from_t0`` (onset - T0,
        days), ``resolution_date``, ``days_to_resolution`` (days, null when unresolved),
        ``immune_related``, ``serious``, ``steroids``, ``outcome``, ``surgery_impact``.
    """
    where, params = _where(flt)
    return store.sql(
        f"""
        SELECT a.subject_id, coalesce(a.initial_group, '{NO_GROUP}') AS "group", a.t0,
               e.ae_no, e.soc, e.term, CAST(e.grade AS BIGINT) AS grade, e.onset_date,
               CAST(date_diff('day', a.t0, e.onset_date) AS BIGINT) AS days_from_t0,
               e.resolution_date,
               CAST(date_diff('day', e.onset_date, e.resolution_date) AS BIGINT) AS days_to_resolution,
               e.immune_related, e.serious, e.steroids, e.outcome, e.surgery_impact
        FROM ae e JOIN adsl a USING (subject_id)
        WHERE a.safety_fl AND e.attribution = 'ICI' AND e.onset_date >= a.t0 AND {where}
        ORDER BY a.subject_id, e.ae_no
        """,
        params,
    )


def select_ae_exclusions(store: Store, flt: CohortFilter) -> dict[str, int]:
    """Immunotherapy-attributed events left out of the tables, for the caption:
    ``before_t0`` (onset before the first dose) and ``no_dose`` (patient outside the
    safety population)."""
    where, params = _where(flt)
    row = store.sql(
        f"""
        SELECT count(*) FILTER (WHERE a.safety_fl AND e.onset_date < a.t0) AS before_t0,
               count(*) FILTER (WHERE NOT a.safety_fl) AS no_dose
        FROM ae e JOIN adsl a USING (subject_id)
        WHERE e.attribution = 'ICI' AND {where}
        """,
        params,
    ).row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


def select_procedures(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Resections of the safety-population patients matching the filter.

    Returns
    -------
    pl.DataFrame : one row per procedure: ``subject_id``, ``group``, ``procedure_no``,
        ``procedure_date``, ``procedure_type``, ``proc_class`` (RO / LE / ESD_EMR),
        ``first_of_class`` (first procedure of its class for the patient, by date then
        number), ``intent``, ``approach``, ``clavien_dindo``, ``complication``,
        ``leak_grade``, ``length_of_stay_days``, ``stoma``, ``stoma_closure_date``,
        ``days_to_closure``, ``death_date``, ``days_to_death`` (procedure to death,
        days; null when alive), ``days_followed`` (procedure to last contact, days).
    """
    where, params = _where(flt)
    return store.sql(
        f"""
        SELECT p.subject_id, coalesce(a.initial_group, '{NO_GROUP}') AS "group", p.procedure_no,
               p.procedure_date, p.procedure_type, {CLASS_CASE} AS proc_class,
               row_number() OVER (PARTITION BY p.subject_id, {CLASS_CASE}
                                  ORDER BY p.procedure_date, p.procedure_no) = 1 AS first_of_class,
               p.intent, p.approach, p.clavien_dindo, p.complication, p.leak_grade,
               CAST(p.length_of_stay_days AS BIGINT) AS length_of_stay_days,
               p.stoma, p.stoma_closure_date,
               CAST(date_diff('day', p.procedure_date, p.stoma_closure_date) AS BIGINT) AS days_to_closure,
               a.death_date,
               CAST(date_diff('day', p.procedure_date, a.death_date) AS BIGINT) AS days_to_death,
               CAST(date_diff('day', p.procedure_date, a.last_contact_date) AS BIGINT) AS days_followed
        FROM procedure p JOIN adsl a USING (subject_id)
        WHERE a.safety_fl AND {where}
        ORDER BY p.subject_id, p.procedure_no
        """,
        params,
    )
