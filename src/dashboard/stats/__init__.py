"""Pure statistics layer: Polars in, Polars frames or small frozen dataclasses out.

No Streamlit, plotting or DuckDB here. Every public function states the R call it
reproduces; ``tests/stats`` checks each against numbers produced by ``tests/r/*.R``.
"""

from dashboard.stats.competing import cumulative_incidence
from dashboard.stats.cox import CoxResult, cox_model
from dashboard.stats.km import (
    add_time_zero,
    kaplan_meier,
    median_survival,
    survival_at,
    survival_quantile,
)
from dashboard.stats.logrank import LogrankResult, logrank_test, logrank_trend_test
from dashboard.stats.proportions import ProportionCI, proportion_ci
from dashboard.stats.weighting import propensity_weights, standardized_mean_difference

__all__ = [
    "CoxResult",
    "LogrankResult",
    "ProportionCI",
    "add_time_zero",
    "cox_model",
    "cumulative_incidence",
    "kaplan_meier",
    "logrank_test",
    "logrank_trend_test",
    "median_survival",
    "propensity_weights",
    "proportion_ci",
    "standardized_mean_difference",
    "survival_at",
    "survival_quantile",
]
