"""Registry-level counts for the home page."""

from __future__ import annotations

import polars as pl

from ..store import Store


def select_population_counts(store: Store) -> dict[str, int]:
    """Registered, eligible, treated (>= 1 immunotherapy dose) and full-analysis-set counts."""
    row = store.sql(
        """
        SELECT count(*) AS registered,
               count(*) FILTER (WHERE eligible_fl) AS eligible,
               count(*) FILTER (WHERE safety_fl) AS treated,
               count(*) FILTER (WHERE analysis_fl) AS analysis,
               count(*) FILTER (WHERE analysis_fl AND organ_lost_date IS NULL) AS organ_in_place
        FROM adsl
        """
    ).row(0, named=True)
    return {k: int(v) for k, v in row.items()}


def select_counts_by(store: Store, column: str) -> pl.DataFrame:
    """Full-analysis-set patients by one ADSL column (a whitelisted name)."""
    if column not in {"cohort", "tumour_site", "initial_group", "restaging_response", "biomarker_basis"}:
        raise ValueError(f"not a summary column: {column!r}")
    return store.sql(
        f"SELECT {column} AS value, count(*) AS n FROM adsl WHERE analysis_fl GROUP BY ALL ORDER BY n DESC"
    )
