"""Patient-level data for the methods views (target-trial comparison, pathway states,
AE exposure time, QoL change from baseline), under the global filter.

Every user value is a bound parameter; instrument / scale names are checked against the
schema whitelist, endpoints and covariates against :mod:`dashboard.queries.survival`.
Times are months from T1 (``schema.DAYS_PER_MONTH`` days per month) unless stated.
"""

from __future__ import annotations

import polars as pl

from ..filters import CohortFilter
from ..schema import DAYS_PER_MONTH
from ..store import Store
from .qol import TIMEPOINTS, _population, scale_of
from .survival import select_iptw_data

DAYS_PER_YEAR = 365.25
COMPARISON_ENDPOINTS = ("DFS", "OS", "DMFS", "EFS")


def _where(flt: CohortFilter) -> tuple[str, dict]:
    if not isinstance(flt, CohortFilter):
        raise TypeError(f"expected a CohortFilter, got {type(flt).__name__}")
    return flt.where_sql("a")


def select_comparison_data(store: Store, flt: CohortFilter, endpoint: str, covariates: tuple[str, ...]) -> pl.DataFrame:
    """Eligible set of the target trial at T1: organ preservation first (NOM / OPFS,
    ``treated`` = 1) versus radical surgery (RO), strategy as assigned at T1, time from T1
    for ``endpoint`` (one of :data:`COMPARISON_ENDPOINTS`), with the covariates.

    Returns ``subject_id, time, event, treated, group`` (``OP`` / ``RO``) and the covariates.
    """
    if endpoint not in COMPARISON_ENDPOINTS:
        raise ValueError(f"endpoint must be one of {COMPARISON_ENDPOINTS}, got {endpoint!r}")
    return select_iptw_data(store, flt, endpoint, tuple(covariates))


def select_t1_groups(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Analysis-set patients matching the filter by initial strategy group (``NONE``
    without a decision yet): who is eligible at T1 and who is not. ``group, n``."""
    where, params = _where(flt)
    return store.sql(f"""SELECT coalesce(a.initial_group, 'NONE') AS "group", count(*) AS n
                         FROM adsl a WHERE a.analysis_fl AND {where} GROUP BY ALL ORDER BY 1""", params)


def select_pathway(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Pathway dates after T1 of analysis-set patients with a non-systemic first strategy.

    Returns
    -------
    pl.DataFrame
        ``subject_id, group`` (initial strategy group NOM / OPFS / RO), and months from
        T1 (null when it did not happen): ``excision`` (first local / endoscopic
        resection), ``radical`` (first radical resection: organ lost), ``distant``
        (first distant metastasis), ``death``, ``last`` (last contact).
    """
    where, params = _where(flt)
    m = repr(DAYS_PER_MONTH)
    return store.sql(
        f"""SELECT a.subject_id, a.initial_group AS "group",
                   date_diff('day', a.t1, a.first_local_resection_date) / {m} AS excision,
                   date_diff('day', a.t1, a.organ_lost_date) / {m} AS radical,
                   date_diff('day', a.t1, a.first_distant_date) / {m} AS distant,
                   date_diff('day', a.t1, a.death_date) / {m} AS death,
                   date_diff('day', a.t1, coalesce(a.death_date, a.last_contact_date)) / {m} AS last
            FROM adsl a
            WHERE a.analysis_fl AND a.t1 IS NOT NULL AND a.initial_group IN ('NOM', 'OPFS', 'RO')
              AND coalesce(a.death_date, a.last_contact_date) >= a.t1 AND {where}
            ORDER BY a.subject_id""", params)


def select_ae_exposure(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Exposure time of the safety population: years from the first immunotherapy dose
    (T0) to last contact or death, by initial strategy group (``NONE`` without one).

    Returns ``subject_id, group, years``.
    """
    where, params = _where(flt)
    return store.sql(
        f"""SELECT a.subject_id, coalesce(a.initial_group, 'NONE') AS "group",
                   greatest(date_diff('day', a.t0, coalesce(a.death_date, a.last_contact_date)), 0)
                     / {DAYS_PER_YEAR!r} AS years
            FROM adsl a WHERE a.safety_fl AND {where} ORDER BY a.subject_id""", params)


def select_qol_change(store: Store, flt: CohortFilter, instrument: str, scale: str) -> pl.DataFrame:
    """Change from baseline of one scale, one row per patient and post-baseline visit
    with both scores (population as the QoL page: analysis set with an initial strategy,
    sites the instrument is given to).

    Returns ``subject_id, group, visit, baseline, change`` (score - own baseline).
    """
    scale_of(instrument, scale)
    pop, params = _population(flt, instrument)
    params.update(q_instrument=instrument, q_scale=scale)
    return store.sql(
        f"""WITH {pop},
            sc AS (SELECT q.subject_id, q.timepoint, q.score FROM qol q JOIN pop USING (subject_id)
                   WHERE q.instrument = $q_instrument AND q.scale = $q_scale)
            SELECT pop.subject_id, pop.grp AS "group", s.timepoint AS visit, b.score AS baseline,
                   s.score - b.score AS change
            FROM sc s JOIN sc b ON b.subject_id = s.subject_id AND b.timepoint = 'BASELINE'
            JOIN pop ON pop.subject_id = s.subject_id
            WHERE s.timepoint <> 'BASELINE'
            ORDER BY pop.subject_id, s.timepoint""", params)


QOL_VISITS = tuple(t for t in TIMEPOINTS if t != "BASELINE")
