"""Data quality of the served registry (the Data page, issue 8).

- completeness of every field of every source table, per registry part (cohort), for the
  patients selected by the sidebar filters: one SUM over the selected subjects' rows of
  ``dq_counts`` (per-subject row and NULL counts, built with the store by ``derive``),
  or, on a store built before it existed, a count over every source table;
- follow-up: the rows behind the reverse Kaplan-Meier of follow-up time (computed in
  ``ui.data_page`` with ``stats.kaplan_meier``) and the patients alive without contact
  for more than 6 months before the data cut-off;
- the validator's findings (warnings) on the served data, re-run on its canonical export.

Every ``select_*`` takes ``(store, flt)`` so the page can cache it per store version.
"""

from __future__ import annotations

import tempfile

import polars as pl

from ..derive import (
    DQ_COUNTS,
    dq_count_columns,
    dq_counted_columns,
    dq_filter_columns,
    dq_null_column,
    dq_rows_column,
)
from ..filters import CohortFilter
from ..schema import TABLES
from ..store import Store

NO_CONTACT_MONTHS = 6
DAYS_PER_MONTH = 365.25 / 12


def _subjects_sql(flt: CohortFilter) -> tuple[str, dict]:
    where, params = flt.where_sql()
    return f"SELECT subject_id, cohort FROM adsl WHERE {where}", params


def _has_dq_counts(cur) -> bool:
    """Whether the store holds ``dq_counts`` in the layout this code expects (a store
    built before it existed, or with another schema, has not)."""
    got = cur.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'main' "
        "AND table_name = $t ORDER BY column_index",
        {"t": DQ_COUNTS},
    ).fetchall()
    return [r[0] for r in got] == ["subject_id", *dq_filter_columns(), *dq_count_columns()]


def _counts_from_dq(cur, flt: CohortFilter) -> list[tuple[str, pl.DataFrame]]:
    """Per table, one row per registry part with rows in it: ``_part``, ``_rows`` and the
    filled count of every column -- one SUM of ``dq_counts`` over the selected subjects
    (it carries the ``adsl`` columns the filter reads, so no join)."""
    where, params = flt.where_sql("c")
    sums = ", ".join(f'sum(c."{n}")::BIGINT AS "{n}"' for n in dq_count_columns())
    wide = cur.sql(
        f"SELECT c.cohort AS _part, {sums} FROM {DQ_COUNTS} c WHERE {where} GROUP BY c.cohort",
        params=params or None,
    ).pl()
    out = []
    for table in TABLES:
        rows = dq_rows_column(table.name)
        out.append((table.name, wide.select(
            pl.col("_part"), pl.col(rows).alias("_rows"),
            *[(pl.col(rows) - pl.col(dq_null_column(table.name, c))).alias(c) for c in dq_counted_columns(table)],
        ).filter(pl.col("_rows") > 0)))
    return out


def _counts_from_sources(cur, flt: CohortFilter) -> list[tuple[str, pl.DataFrame]]:
    """As :func:`_counts_from_dq`, counted on the source tables (one scan of each): for a
    store built before ``dq_counts`` existed, and as the reference in the tests."""
    subjects, params = _subjects_sql(flt)
    out = []
    for table in TABLES:
        cols = dq_counted_columns(table)
        if not cols:
            continue
        counts = ", ".join(f'count(t."{c}") AS "{c}"' for c in cols)
        out.append((table.name, cur.sql(
            f"SELECT s.cohort AS _part, count(*) AS _rows, {counts} FROM {table.name} t "
            f"JOIN ({subjects}) s USING (subject_id) GROUP BY s.cohort",
            params=params or None,
        ).pl()))
    return out


def select_completeness(store: Store, flt: CohortFilter, *, source_scan: bool = False) -> pl.DataFrame:
    """One row per table, column and registry part: rows, filled, percent filled.

    Summed from the per-subject counts of ``dq_counts`` (built with the store); counted on
    the source tables when the store has none (or ``source_scan``), with the same result."""
    with store.query_cursor() as cur:
        if not source_scan and _has_dq_counts(cur):
            counts = _counts_from_dq(cur, flt)
        else:
            counts = _counts_from_sources(cur, flt)
    by_name = {t.name: t for t in TABLES}
    frames = []
    for name, df in counts:
        cols = [c for c in by_name[name].columns if c.name != "subject_id"]
        if not cols or df.height == 0:
            continue
        long = df.unpivot(index=["_part", "_rows"], on=[c.name for c in cols], variable_name="column",
                          value_name="filled").rename({"_part": "cohort", "_rows": "rows"})
        required = {c.name: bool(c.required) for c in cols}
        frames.append(long.with_columns(
            pl.lit(name).alias("table"),
            pl.col("column").replace_strict(required, return_dtype=pl.Boolean).alias("required"),
        ))
    if not frames:
        return pl.DataFrame(schema={"table": pl.String, "column": pl.String, "required": pl.Boolean,
                                    "cohort": pl.String, "rows": pl.Int64, "filled": pl.Int64, "pct": pl.Float64})
    out = pl.concat(frames, how="vertical_relaxed").with_columns(
        pl.col("rows").cast(pl.Int64), pl.col("filled").cast(pl.Int64))
    out = out.with_columns((100.0 * pl.col("filled") / pl.col("rows")).round(1).alias("pct"))
    order = {t.name: i for i, t in enumerate(TABLES)}
    return (out.select("table", "column", "required", "cohort", "rows", "filled", "pct")
            .sort(pl.col("table").replace_strict(order, return_dtype=pl.Int64), "column", "cohort"))


def _followup_sql(flt: CohortFilter, only_lost_contact: bool = False) -> tuple[str, dict]:
    where, params = flt.where_sql("a")
    months_since = f"date_diff('day', a.last_contact_date, a.data_cutoff) / {DAYS_PER_MONTH}"
    lost = f" AND a.vital_status <> 'DEAD' AND {months_since} > {NO_CONTACT_MONTHS}" if only_lost_contact else ""
    return f"""
        SELECT a.subject_id, a.cohort, a.centre, a.t0, a.last_contact_date, a.vital_status, a.data_cutoff,
               a.followup_months,
               {months_since} AS months_since_contact
        FROM adsl a WHERE a.analysis_fl AND a.t0 IS NOT NULL AND a.last_contact_date IS NOT NULL AND {where}{lost}
        """, params


def select_followup(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """One row per full-analysis-set patient: follow-up months from first dose, vital
    status, months without contact before the data cut-off (for the reverse
    Kaplan-Meier and the no-contact count, computed by the page with ``stats``)."""
    return store.sql(*_followup_sql(flt))


def select_lost_contact(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Patient-level listing: alive patients without contact for over 6 months."""
    # the same rows as filtering select_followup, selected in SQL (not 1M rows to Polars)
    df = store.sql(*_followup_sql(flt, only_lost_contact=True))
    return (df.filter((pl.col("vital_status") != "DEAD") & (pl.col("months_since_contact") > NO_CONTACT_MONTHS))
            .select("subject_id", "cohort", "centre", "last_contact_date",
                    pl.col("months_since_contact").round(1))
            .sort("months_since_contact", descending=True))


def select_validator_findings(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """What the import validator finds on the served data (re-run on its canonical
    export): logical inconsistencies kept as warnings, counted per file and rule.
    Not filtered (the validator works on whole tables)."""
    from ..ingest import export_registry, validate_path

    with tempfile.TemporaryDirectory(prefix="dq-") as tmp:
        export_registry(store.path, tmp)
        frame = validate_path(tmp).to_frame()
    if frame.height == 0:
        return pl.DataFrame(schema={"file": pl.String, "rule": pl.String, "severity": pl.String, "n": pl.UInt32,
                                    "example": pl.String})
    return (frame.group_by("file", "rule", "severity")
            .agg(pl.len().alias("n"), pl.col("message").first().alias("example"))
            .sort("n", descending=True))
