"""Organ-preservation queries under the global filter: per-patient outcomes for the rates
and the forest plot, and the swimmer-plot timelines of Watch & Wait and local /
endoscopic resection patients. Column names come from constants here; values are bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..i18n import N_, gettext
from ..filters import CohortFilter
from ..schema import (
    BIOMARKER_BASIS,
    COHORT,
    DAYS_PER_MONTH,
    LOCAL_PROCEDURES,
    RADICAL_PROCEDURES,
    REGIMEN_CLASS,
    RESPONSE,
    TUMOUR_SITE,
    Vocabulary,
)
from ..store import Store

MISSING = "MISSING"
POPULATIONS = {
    "all": (N_("Full analysis set"), "TRUE"),
    "op": (N_("Organ-preserving initial strategy (Watch & Wait, local excision, ESD, EMR)"),
           "a.initial_strategy IN ('WW', 'LE', 'ESD', 'EMR')"),
}
GROUP_VOCAB = Vocabulary("initial_group", (("NOM", N_("Watch & Wait (NOM)")), ("OPFS", N_("Local / endoscopic resection")),
                                            ("RO", N_("Radical surgery")), ("SYSTEMIC", N_("Systemic therapy only"))))
# Forest-plot subgroups: adsl column -> (label, vocabulary).
SUBGROUPS: dict[str, tuple[str, Vocabulary]] = {
    "tumour_site": (N_("Tumour site"), TUMOUR_SITE),
    "restaging_response": (N_("Restaging response"), RESPONSE),
    "biomarker_basis": (N_("Biomarker basis"), BIOMARKER_BASIS),
    "regimen_class": (N_("Immunotherapy regimen"), REGIMEN_CLASS),
    "cohort": (N_("Registry part"), COHORT),
    "initial_group": (N_("Initial strategy group"), GROUP_VOCAB),
}
NOT_RECORDED = N_("Not recorded")
SUBGROUP_MISSING = {"restaging_response": N_("Not assessed"), "regimen_class": N_("Not recorded"),
                    "initial_group": N_("No strategy recorded")}


def subgroup_level_label(column: str, code: str) -> str:
    if code == MISSING:
        return gettext(SUBGROUP_MISSING.get(column, NOT_RECORDED))
    return SUBGROUPS[column][1].label(code)


def _where(flt: CohortFilter) -> tuple[str, dict]:
    if not isinstance(flt, CohortFilter):
        raise TypeError(f"expected a CohortFilter, got {type(flt).__name__}")
    return flt.where_sql("a")


def _population(population: str) -> str:
    if population not in POPULATIONS:
        raise ValueError(f"unknown population {population!r}")
    return POPULATIONS[population][1]


def select_organ_outcomes(store: Store, flt: CohortFilter, population: str = "all") -> pl.DataFrame:
    """One row per full-analysis-set patient matching the filter (and ``population``).

    Returns
    -------
    pl.DataFrame
        ``subject_id``; OPS from T0: ``time`` (months), ``event`` (1 = radical resection or
        death); the subgroup columns of :data:`SUBGROUPS` (codes, ``MISSING`` when not
        recorded); and booleans for the response rates: ``assessed``, ``ccr``,
        ``near_ccr``, ``non_ccr``, ``path_evaluable`` (a first resection specimen with
        ypT/ypN), ``pcr``, ``mpr_evaluable`` (residual tumour % recorded), ``mpr``,
        ``sccr12_evaluable``, ``sccr12``.
    """
    where, params = _where(flt)
    subgroup_cols = ", ".join(f"coalesce(a.{c}, '{MISSING}') AS {c}" for c in SUBGROUPS)
    return store.sql(
        f"""
        SELECT a.subject_id, t.aval AS time, (1 - t.cnsr)::INTEGER AS event, {subgroup_cols},
               a.restaging_response IS NOT NULL AS assessed,
               coalesce(a.restaging_response = 'CCR', false) AS ccr,
               coalesce(a.restaging_response = 'NEAR_CCR', false) AS near_ccr,
               coalesce(a.restaging_response = 'NON_CCR', false) AS non_ccr,
               a.pcr_fl IS NOT NULL AS path_evaluable, coalesce(a.pcr_fl, false) AS pcr,
               a.mpr_fl IS NOT NULL AS mpr_evaluable, coalesce(a.mpr_fl, false) AS mpr,
               a.sccr12_evaluable_fl AS sccr12_evaluable, coalesce(a.sccr12_fl, false) AS sccr12
        FROM adsl a JOIN adtte t ON t.subject_id = a.subject_id AND t.paramcd = 'OPS' AND t.origin = 'T0'
        WHERE a.analysis_fl AND {_population(population)} AND {where}
        ORDER BY a.subject_id
        """,
        params,
    )


RATE_FLAGS = ("assessed", "ccr", "near_ccr", "non_ccr", "path_evaluable", "pcr", "mpr_evaluable", "mpr",
              "sccr12_evaluable", "sccr12")


def select_organ_cells(store: Store, flt: CohortFilter, population: str = "all") -> pl.DataFrame:
    """OPS from T0 of the patients of :func:`select_organ_outcomes`, collapsed in the
    database to cells per subgroup: all patients (``subgroup = 'overall'``, ``level =
    'ALL'``) and each level of each :data:`SUBGROUPS` column, by ``time`` and ``event``.

    One scan (``GROUPING SETS``) instead of a million patient rows leaving the store.

    Returns
    -------
    pl.DataFrame
        ``subgroup, level, time, event, n`` (``n`` patients in the cell), sorted.
    """
    where, params = _where(flt)
    cols = list(SUBGROUPS)
    inner = ", ".join(f"coalesce(a.{c}, '{MISSING}') AS {c}" for c in cols)
    which = " ".join(f"WHEN GROUPING({c}) = 0 THEN '{c}'" for c in cols)
    sets = ", ".join(["(time, event)", *(f"({c}, time, event)" for c in cols)])
    return store.sql(
        f"""
        SELECT CASE {which} ELSE 'overall' END AS subgroup, coalesce({", ".join(cols)}, 'ALL') AS level,
               time, event, count(*) AS n
        FROM (SELECT t.aval AS time, (1 - t.cnsr)::INTEGER AS event, {inner}
              FROM adsl a JOIN adtte t ON t.subject_id = a.subject_id AND t.paramcd = 'OPS' AND t.origin = 'T0'
              WHERE a.analysis_fl AND {_population(population)} AND {where})
        GROUP BY GROUPING SETS ({sets})
        ORDER BY subgroup, level, time, event
        """,
        params,
    )


def select_rate_cells(store: Store, flt: CohortFilter, population: str = "all") -> pl.DataFrame:
    """The response-rate flags of :func:`select_organ_outcomes` (:data:`RATE_FLAGS`),
    collapsed to cells of identical flags with their size ``n`` (a few dozen rows)."""
    where, params = _where(flt)
    return store.sql(
        f"""
        SELECT a.restaging_response IS NOT NULL AS assessed,
               coalesce(a.restaging_response = 'CCR', false) AS ccr,
               coalesce(a.restaging_response = 'NEAR_CCR', false) AS near_ccr,
               coalesce(a.restaging_response = 'NON_CCR', false) AS non_ccr,
               a.pcr_fl IS NOT NULL AS path_evaluable, coalesce(a.pcr_fl, false) AS pcr,
               a.mpr_fl IS NOT NULL AS mpr_evaluable, coalesce(a.mpr_fl, false) AS mpr,
               a.sccr12_evaluable_fl AS sccr12_evaluable, coalesce(a.sccr12_fl, false) AS sccr12,
               a.sccr12_choice_exit_fl AS sccr12_choice_exit,
               count(*) AS n
        FROM adsl a JOIN adtte t ON t.subject_id = a.subject_id AND t.paramcd = 'OPS' AND t.origin = 'T0'
        WHERE a.analysis_fl AND {_population(population)} AND {where}
        GROUP BY ALL ORDER BY ALL
        """,
        params,
    )


# ------------------------------------------------------------------------ swimmer
SWIMMER_SORTS = {
    "followup": (N_("Longest follow-up first"), "followup DESC, subject_id"),
    "first_event": (N_("Earliest regrowth or organ loss first"),
                    "least(coalesce(regrowth, 1e9), coalesce(organ_lost, 1e9)), followup DESC, subject_id"),
    "strategy": (N_("Initial strategy, then follow-up"), "strategy_rank, followup DESC, subject_id"),
    "subject": (N_("Patient identifier"), "subject_id"),
}
SWIMMER_EVENTS = (
    ("SURVEILLANCE", N_("Surveillance visit")),
    ("REGROWTH", N_("Local regrowth")),
    ("LOCAL_EXCISION", N_("Local excision / endoscopic resection")),
    ("RADICAL", N_("Radical (salvage or completion) surgery")),
    ("DISTANT", N_("Distant metastasis")),
    ("LAST_CONTACT", N_("Last contact, alive")),
    ("DEATH", N_("Death")),
)
SWIMMER_STRATEGIES = ("WW", "LE", "ESD", "EMR")


@dataclass(frozen=True, eq=False)
class SwimmerData:
    """One page of swimmer lanes.

    patients : ``subject_id, initial_strategy, followup`` (months from T1 to last
        contact), ``dead``, ``regrowth``, ``organ_lost`` (months from T1 or null), in
        display order (``lane`` 0 = top).
    events : ``subject_id, kind`` (code of :data:`SWIMMER_EVENTS`), ``month`` from T1.
    total : patients matching the filter (all pages).
    """

    patients: pl.DataFrame
    events: pl.DataFrame
    total: int


def select_swimmer(store: Store, flt: CohortFilter, sort: str = "followup", page: int = 0,
                   page_size: int = 100) -> SwimmerData:
    """Timelines from T1 of full-analysis-set patients whose initial strategy was Watch &
    Wait, local excision, ESD or EMR, matching the filter: ``page_size`` lanes starting at
    ``page * page_size`` in the order ``sort`` (a key of :data:`SWIMMER_SORTS`).
    """
    if sort not in SWIMMER_SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    if not (isinstance(page, int) and page >= 0 and isinstance(page_size, int) and 1 <= page_size <= 500):
        raise ValueError("page must be >= 0 and page_size in 1..500")
    where, params = _where(flt)
    m = repr(DAYS_PER_MONTH)
    strategies = ", ".join(f"'{s}'" for s in SWIMMER_STRATEGIES)
    rank = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SWIMMER_STRATEGIES))
    base = f"""
        WITH p AS (
          SELECT a.subject_id, a.initial_strategy, a.t1,
                 CASE a.initial_strategy {rank} END AS strategy_rank,
                 greatest(date_diff('day', a.t1, a.last_contact_date), 0) / {m} AS followup,
                 a.vital_status = 'DEAD' AS dead,
                 date_diff('day', a.t1, a.first_regrowth_date) / {m} AS regrowth,
                 date_diff('day', a.t1, a.organ_lost_date) / {m} AS organ_lost
          FROM adsl a
          WHERE a.analysis_fl AND a.initial_strategy IN ({strategies}) AND a.t1 IS NOT NULL AND {where}
        )"""
    total = int(store.sql(base + " SELECT count(*) AS n FROM p", params).item())
    page_params = {**params, "lim": page_size, "off": page * page_size}
    patients = store.sql(
        base + f" SELECT * EXCLUDE (t1, strategy_rank) FROM p ORDER BY {SWIMMER_SORTS[sort][1]} LIMIT $lim OFFSET $off",
        page_params,
    ).with_row_index("lane")
    local = ", ".join(f"'{x}'" for x in sorted(LOCAL_PROCEDURES))
    radical = ", ".join(f"'{x}'" for x in sorted(RADICAL_PROCEDURES))
    events = store.sql(
        base + f""",
        pg AS (SELECT subject_id, t1 FROM p ORDER BY {SWIMMER_SORTS[sort][1]} LIMIT $lim OFFSET $off),
        ev AS (
          SELECT DISTINCT s.subject_id, 'SURVEILLANCE' AS kind, s.assessment_date AS d
          FROM assessment s JOIN pg USING (subject_id)
          WHERE s.timepoint IN ('SURVEILLANCE', 'UNSCHEDULED') AND s.assessment_date >= pg.t1
          UNION ALL
          SELECT o.subject_id, CASE o.event_type WHEN 'LOCAL_REGROWTH' THEN 'REGROWTH' ELSE 'DISTANT' END, o.event_date
          FROM onc_event o JOIN pg USING (subject_id) WHERE o.event_type IN ('LOCAL_REGROWTH', 'DISTANT')
          UNION ALL
          SELECT r.subject_id, CASE WHEN r.procedure_type IN ({radical}) THEN 'RADICAL' ELSE 'LOCAL_EXCISION' END,
                 r.procedure_date
          FROM procedure r JOIN pg USING (subject_id) WHERE r.procedure_type IN ({radical}, {local})
          UNION ALL
          SELECT f.subject_id, CASE WHEN f.vital_status = 'DEAD' THEN 'DEATH' ELSE 'LAST_CONTACT' END,
                 f.last_contact_date
          FROM follow_up f JOIN pg USING (subject_id)
        )
        SELECT ev.subject_id, ev.kind, date_diff('day', pg.t1, ev.d) / {m} AS month
        FROM ev JOIN pg USING (subject_id)
        ORDER BY ev.subject_id, month""",
        page_params,
    )
    return SwimmerData(patients, events, total)
