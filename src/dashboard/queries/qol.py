"""Quality-of-life queries under the global filter, aggregated in DuckDB per strategy group
and timepoint: questionnaire scales (n, mean, SD, change from baseline, meaningful
change, completion), LARS categories, and the share of patients living with a stoma.

Definitions (shown on the page too):

- Group: initial strategy group (``adsl.initial_group``, decided at T1); patients stay in
  it whatever happens later. Full analysis set, patients with a strategy recorded.
- Timepoints (``schema.QOL_TIMEPOINT``): baseline, restaging, then 3, 6, 12, 24, 36
  months after T1. The target date of ``Mk`` is T1 + k months (k x ``DAYS_PER_MONTH`` days).
- Expected at a timepoint: patients of the group (and, for a site module, of the sites the
  module is for: :data:`INSTRUMENT_SITES`) who were alive and still followed at the target
  date, i.e. ``last_contact_date`` (the death date for the dead) on or after it. Baseline:
  every such patient; restaging: those with a restaging date.
- Answered: expected patients with a score on that scale at that timepoint.
  Completion = answered / expected.
- Change from baseline: score - the patient's own baseline score, among patients with both.
  Meaningful improvement: change >= ``mcid`` points in the better direction
  (``Scale.higher_is_better``); meaningful worsening: >= ``mcid`` in the worse direction.
- LARS: LARS rows only; a row dated while the patient had a permanent stoma, or a
  temporary stoma not yet closed, is excluded (no bowel continuity) and counted in
  ``n_excluded_stoma``. Categories from ``schema.LARS_CATEGORIES`` (upper bounds
  inclusive: <= 20 no LARS, <= 29 minor, else major).

Every user value is a bound parameter; instrument / scale names are checked against
``schema.QOL_SCALE_INDEX`` before use.
"""

from __future__ import annotations

import polars as pl

from ..filters import CohortFilter
from ..schema import DAYS_PER_MONTH, LARS_CATEGORIES, QOL_SCALE_INDEX, QOL_TIMEPOINT, STRATEGY_GROUP, Scale
from ..store import Store

GROUPS = STRATEGY_GROUP.codes
TIMEPOINTS = QOL_TIMEPOINT.codes
# timepoint -> months after T1 of the target date (None: baseline / restaging).
TIMEPOINT_MONTHS: dict[str, int | None] = {c: (int(c[1:]) if c.startswith("M") else None) for c in TIMEPOINTS}
# Which sites each instrument is given to (site modules; LARS / Wexner rectal).
INSTRUMENT_SITES: dict[str, tuple[str, ...]] = {
    "QLQ_C30": ("RECTUM", "COLON", "GASTRIC", "GEJ"),
    "QLQ_CR29": ("RECTUM", "COLON"),
    "QLQ_STO22": ("GASTRIC",),
    "QLQ_OES18": ("GEJ",),
    "LARS": ("RECTUM",),
    "WEXNER": ("RECTUM",),
}
DEFAULT_MCID = 10.0
STOMA_MAX_MONTHS = 60


def scale_of(instrument: str, scale: str) -> Scale:
    """The schema's scale, or ``ValueError`` for a pair not in the whitelist."""
    try:
        return QOL_SCALE_INDEX[(instrument, scale)]
    except (KeyError, TypeError):
        raise ValueError(f"unknown QoL scale {instrument!r}/{scale!r}") from None


def _where(flt: CohortFilter) -> tuple[str, dict]:
    if not isinstance(flt, CohortFilter):
        raise TypeError(f"expected a CohortFilter, got {type(flt).__name__}")
    return flt.where_sql("a")


def _population(flt: CohortFilter, instrument: str) -> tuple[str, dict]:
    """CTE ``pop``: analysis-set patients with a group, of the instrument's sites."""
    where, params = _where(flt)
    sites = INSTRUMENT_SITES[instrument]
    names = []
    for i, s in enumerate(sites):
        params[f"q_site_{i}"] = s
        names.append(f"$q_site_{i}")
    sql = f"""
      pop AS (
        SELECT a.subject_id, a.initial_group AS grp, a.t1, a.restaging_date, a.last_contact_date
        FROM adsl a
        WHERE a.analysis_fl AND a.initial_group IS NOT NULL AND a.tumour_site IN ({', '.join(names)}) AND {where}
      )"""
    return sql, params


def _timepoints_sql() -> str:
    """Constant VALUES list of (timepoint, order, target offset in days); from the schema."""
    rows = []
    for i, c in enumerate(TIMEPOINTS):
        m = TIMEPOINT_MONTHS[c]
        rows.append(f"('{c}', {i}, {'NULL' if m is None else round(m * DAYS_PER_MONTH)})")
    return "tp(timepoint, ord, offset_days) AS (VALUES " + ", ".join(rows) + ")"


_STOMA_CTE = """
      stoma_iv AS (
        -- periods with a stoma: permanent from creation on; temporary until closure (open while unclosed)
        SELECT subject_id, procedure_date AS s_from,
               CASE WHEN stoma = 'TEMPORARY' THEN stoma_closure_date END AS s_to
        FROM procedure WHERE stoma IN ('PERMANENT', 'TEMPORARY')
      )"""


def select_scale_summary(store: Store, flt: CohortFilter, instrument: str, scale: str,
                         mcid: float = DEFAULT_MCID) -> pl.DataFrame:
    """Per strategy group and timepoint: completion, score and change-from-baseline
    sufficient statistics for one questionnaire scale.

    Parameters
    ----------
    instrument, scale : a pair in ``schema.QOL_SCALE_INDEX``.
    mcid : points of change counted as clinically meaningful (default 10).

    Returns
    -------
    pl.DataFrame
        ``group, timepoint, n_expected, n_answered`` (answered among expected),
        ``n, mean, sd`` (all scores at that timepoint), ``n_change, mean_change,
        sd_change, n_improved, n_worsened`` (patients with a baseline score; null at
        baseline). Sample SD (n - 1). One row per group x timepoint with any expected or
        answering patient, in schema order.
    """
    sc = scale_of(instrument, scale)
    if not (isinstance(mcid, (int, float)) and 0 < mcid <= sc.high - sc.low):
        raise ValueError(f"mcid must be in (0, {sc.high - sc.low}], got {mcid!r}")
    pop, params = _population(flt, instrument)
    params.update(q_instrument=instrument, q_scale=scale, q_mcid=float(mcid), q_sign=1.0 if sc.higher_is_better else -1.0)
    return store.sql(
        f"""
        WITH {pop},
        {_timepoints_sql()},
        sc AS (
          SELECT q.subject_id, q.timepoint, q.score
          FROM qol q JOIN pop USING (subject_id)
          WHERE q.instrument = $q_instrument AND q.scale = $q_scale
        ),
        base AS (SELECT subject_id, score AS baseline FROM sc WHERE timepoint = 'BASELINE'),
        expected AS (
          SELECT pop.grp, tp.timepoint, count(*) AS n_expected, count(sc.subject_id) AS n_answered
          FROM pop CROSS JOIN tp
          LEFT JOIN sc ON sc.subject_id = pop.subject_id AND sc.timepoint = tp.timepoint
          WHERE CASE WHEN tp.timepoint = 'BASELINE' THEN TRUE
                     WHEN tp.timepoint = 'RESTAGING' THEN pop.restaging_date <= pop.last_contact_date
                     ELSE pop.t1 + CAST(tp.offset_days AS INTEGER) <= pop.last_contact_date END
          GROUP BY ALL
        ),
        agg AS (
          SELECT pop.grp, sc.timepoint, count(*) AS n, avg(sc.score) AS mean, stddev_samp(sc.score) AS sd,
                 count(b.baseline) FILTER (WHERE sc.timepoint <> 'BASELINE') AS n_change,
                 avg(sc.score - b.baseline) FILTER (WHERE sc.timepoint <> 'BASELINE') AS mean_change,
                 stddev_samp(sc.score - b.baseline) FILTER (WHERE sc.timepoint <> 'BASELINE') AS sd_change,
                 count(*) FILTER (WHERE sc.timepoint <> 'BASELINE' AND $q_sign * (sc.score - b.baseline) >= $q_mcid) AS n_improved,
                 count(*) FILTER (WHERE sc.timepoint <> 'BASELINE' AND -$q_sign * (sc.score - b.baseline) >= $q_mcid) AS n_worsened
          FROM sc JOIN pop USING (subject_id) LEFT JOIN base b USING (subject_id)
          GROUP BY ALL
        )
        SELECT coalesce(e.grp, g.grp) AS "group", tp.timepoint,
               coalesce(e.n_expected, 0)::BIGINT AS n_expected, coalesce(e.n_answered, 0)::BIGINT AS n_answered,
               coalesce(g.n, 0)::BIGINT AS n, g.mean, g.sd,
               CASE WHEN tp.timepoint <> 'BASELINE' THEN coalesce(g.n_change, 0) END::BIGINT AS n_change,
               g.mean_change, g.sd_change,
               CASE WHEN tp.timepoint <> 'BASELINE' THEN coalesce(g.n_improved, 0) END::BIGINT AS n_improved,
               CASE WHEN tp.timepoint <> 'BASELINE' THEN coalesce(g.n_worsened, 0) END::BIGINT AS n_worsened
        FROM expected e FULL JOIN agg g ON e.grp = g.grp AND e.timepoint = g.timepoint
        JOIN tp ON tp.timepoint = coalesce(e.timepoint, g.timepoint)
        ORDER BY CASE coalesce(e.grp, g.grp) {' '.join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(GROUPS))} END, tp.ord
        """,
        params,
    )


def _lars_case(col: str) -> str:
    """CASE over ``schema.LARS_CATEGORIES`` (constants; upper bounds inclusive)."""
    whens = " ".join(f"WHEN {col} <= {hi!r} THEN '{code}'" for code, _, hi in LARS_CATEGORIES[:-1])
    return f"CASE {whens} ELSE '{LARS_CATEGORIES[-1][0]}' END"


def select_lars_summary(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """LARS score per strategy group and timepoint (rectal patients with bowel continuity).

    Returns
    -------
    pl.DataFrame
        ``group, timepoint, n, mean, sd``, one ``n_<category>`` column per
        ``schema.LARS_CATEGORIES`` code (``n_NO_LARS, n_MINOR, n_MAJOR``), and
        ``n_excluded_stoma`` (LARS rows dated while a stoma was in place, left out of
        everything else). Groups and timepoints without any row are absent.
    """
    pop, params = _population(flt, "LARS")
    cats = ", ".join(f"count(*) FILTER (WHERE NOT with_stoma AND cat = '{c}') AS n_{c}" for c, _, _ in LARS_CATEGORIES)
    return store.sql(
        f"""
        WITH {pop},
        {_timepoints_sql()},
        {_STOMA_CTE},
        rows AS (
          SELECT q.subject_id, pop.grp, q.timepoint, q.score, {_lars_case('q.score')} AS cat,
                 EXISTS (SELECT 1 FROM stoma_iv s WHERE s.subject_id = q.subject_id AND s.s_from <= q.qol_date
                         AND (s.s_to IS NULL OR s.s_to > q.qol_date)) AS with_stoma
          FROM qol q JOIN pop USING (subject_id)
          WHERE q.instrument = 'LARS' AND q.scale = 'TOTAL'
        )
        SELECT r.grp AS "group", r.timepoint,
               count(*) FILTER (WHERE NOT with_stoma) AS n,
               avg(score) FILTER (WHERE NOT with_stoma) AS mean,
               stddev_samp(score) FILTER (WHERE NOT with_stoma) AS sd,
               {cats},
               count(*) FILTER (WHERE with_stoma) AS n_excluded_stoma
        FROM rows r JOIN tp USING (timepoint)
        GROUP BY r.grp, r.timepoint
        ORDER BY CASE r.grp {' '.join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(GROUPS))} END, min(tp.ord)
        """,
        params,
    )


def select_stoma_over_time(store: Store, flt: CohortFilter, step_months: int = 1,
                           max_months: int = STOMA_MAX_MONTHS) -> pl.DataFrame:
    """Patients living with a stoma at each month after T1, by strategy group.

    At month m (date T1 + m x ``DAYS_PER_MONTH`` days), among full-analysis-set patients
    alive and followed then (``last_contact_date`` on or after that date): those with a
    permanent stoma created on or before it, or a temporary stoma created on or before it
    and not closed by then (closed on that date counts as closed).

    Returns
    -------
    pl.DataFrame
        ``group, month, n`` (followed), ``n_stoma``, ordered by group then month.
    """
    if not (isinstance(step_months, int) and isinstance(max_months, int) and 1 <= step_months <= max_months <= 240):
        raise ValueError("need whole months with 1 <= step_months <= max_months <= 240")
    where, params = _where(flt)
    params.update(q_step=step_months, q_max=max_months)
    return store.sql(
        f"""
        WITH pop AS (
          SELECT a.subject_id, a.initial_group AS grp, a.t1, a.last_contact_date
          FROM adsl a WHERE a.analysis_fl AND a.initial_group IS NOT NULL AND a.t1 IS NOT NULL AND {where}
        ),
        {_STOMA_CTE.strip()},
        grid AS (SELECT unnest(range(0, $q_max + 1, $q_step)) AS month),
        pt AS (
          SELECT pop.subject_id, pop.grp, g.month,
                 pop.t1 + CAST(round(g.month * {DAYS_PER_MONTH!r}) AS INTEGER) AS d
          FROM pop CROSS JOIN grid g
          WHERE pop.t1 + CAST(round(g.month * {DAYS_PER_MONTH!r}) AS INTEGER) <= pop.last_contact_date
        ),
        flagged AS (
          SELECT pt.grp, pt.month, pt.subject_id,
                 bool_or(s.subject_id IS NOT NULL) AS with_stoma
          FROM pt LEFT JOIN stoma_iv s
            ON s.subject_id = pt.subject_id AND s.s_from <= pt.d AND (s.s_to IS NULL OR s.s_to > pt.d)
          GROUP BY ALL
        )
        SELECT grp AS "group", month::BIGINT AS month, count(*) AS n, count(*) FILTER (WHERE with_stoma) AS n_stoma
        FROM flagged GROUP BY grp, month
        ORDER BY CASE grp {' '.join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(GROUPS))} END, month
        """,
        params,
    )


def select_available_scales(store: Store, flt: CohortFilter) -> tuple[tuple[str, str], ...]:
    """(instrument, scale) pairs with at least one score among the filtered full-analysis-set
    patients, in schema order."""
    where, params = _where(flt)
    got = store.sql(
        f"""SELECT DISTINCT q.instrument, q.scale FROM qol q JOIN adsl a USING (subject_id)
            WHERE a.analysis_fl AND {where}""",
        params,
    )
    have = set(got.iter_rows())
    return tuple(k for k in QOL_SCALE_INDEX if k in have)
