"""Data quality of the served registry (the Data page, issue 8).

- completeness of every field of every source table, per registry part (cohort), for the
  patients selected by the sidebar filters;
- follow-up: the rows behind the reverse Kaplan-Meier of follow-up time (computed in
  ``ui.data_page`` with ``stats.kaplan_meier``) and the patients alive without contact
  for more than 6 months before the data cut-off;
- the validator's findings (warnings) on the served data, re-run on its canonical export.

Every ``select_*`` takes ``(store, flt)`` so the page can cache it per store version.
"""

from __future__ import annotations

import tempfile

import polars as pl

from ..filters import CohortFilter
from ..schema import TABLES
from ..store import Store

NO_CONTACT_MONTHS = 6
DAYS_PER_MONTH = 365.25 / 12


def _subjects_sql(flt: CohortFilter) -> tuple[str, dict]:
    where, params = flt.where_sql()
    return f"SELECT subject_id, cohort FROM adsl WHERE {where}", params


def select_completeness(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """One row per table, column and registry part: rows, filled, percent filled."""
    subjects, params = _subjects_sql(flt)
    frames = []
    for table in TABLES:
        cols = [c for c in table.columns if c.name != "subject_id"]
        if not cols:
            continue
        counts = ", ".join(f'count(t."{c.name}") AS "{c.name}"' for c in cols)
        df = store.sql(
            f"SELECT s.cohort AS _part, count(*) AS _rows, {counts} FROM {table.name} t "
            f"JOIN ({subjects}) s USING (subject_id) GROUP BY s.cohort",
            params,
        )
        if df.height == 0:
            continue
        long = df.unpivot(index=["_part", "_rows"], on=[c.name for c in cols], variable_name="column",
                          value_name="filled").rename({"_part": "cohort", "_rows": "rows"})
        required = {c.name: bool(c.required) for c in cols}
        frames.append(long.with_columns(
            pl.lit(table.name).alias("table"),
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


def select_followup(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """One row per full-analysis-set patient: follow-up months from first dose, vital
    status, months without contact before the data cut-off (for the reverse
    Kaplan-Meier and the no-contact count, computed by the page with ``stats``)."""
    where, params = flt.where_sql("a")
    return store.sql(
        f"""
        SELECT a.subject_id, a.cohort, a.centre, a.t0, a.last_contact_date, a.vital_status, a.data_cutoff,
               a.followup_months,
               date_diff('day', a.last_contact_date, a.data_cutoff) / {DAYS_PER_MONTH} AS months_since_contact
        FROM adsl a WHERE a.analysis_fl AND a.t0 IS NOT NULL AND a.last_contact_date IS NOT NULL AND {where}
        """,
        params,
    )


def select_lost_contact(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Patient-level listing: alive patients without contact for over 6 months."""
    df = select_followup(store, flt)
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
