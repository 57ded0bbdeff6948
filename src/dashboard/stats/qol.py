"""Quality-of-life summaries from per-group, per-timepoint sufficient statistics
(:mod:`dashboard.queries.qol`): confidence intervals and shares. Pure.

- Mean with a two-sided ``conf_level`` CI from the t distribution:
  ``mean +- t(1 - a/2, n - 1) * sd / sqrt(n)`` with the sample SD (R:
  ``t.test(x)$conf.int``); no interval when n < 2.
- Shares (completion, meaningful improvement / worsening, LARS categories, living with a
  stoma) with exact Clopper-Pearson limits (:func:`dashboard.stats.proportion_ci`; R
  ``binom.test(x, n)$conf.int``); null when the denominator is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import t as t_dist

from ..schema import LARS_CATEGORIES
from .proportions import proportion_ci


@dataclass(frozen=True)
class QolOptions:
    """Options of the QoL analyses: CI level and the meaningful-change threshold (points)."""

    conf_level: float = 0.95
    mcid: float = 10.0

    def __post_init__(self) -> None:
        if not (isinstance(self.conf_level, float) and 0.5 <= self.conf_level < 1):
            raise ValueError(f"conf_level must be a float in [0.5, 1), got {self.conf_level!r}")
        if not (isinstance(self.mcid, (int, float)) and 0 < self.mcid <= 100):
            raise ValueError(f"mcid must be in (0, 100], got {self.mcid!r}")


def mean_ci(n: np.ndarray, mean: np.ndarray, sd: np.ndarray, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """t-distribution limits of a mean from ``n``, ``mean`` and sample ``sd`` (arrays;
    NaN where n < 2 or the inputs are missing)."""
    n = np.asarray(n, dtype=float)
    mean = np.asarray(mean, dtype=float)
    sd = np.asarray(sd, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = t_dist.ppf(0.5 + conf_level / 2, np.where(n >= 2, n - 1, np.nan))
        half = q * sd / np.sqrt(n)
    ok = n >= 2
    return np.where(ok, mean - half, np.nan), np.where(ok, mean + half, np.nan)


def _share(x: pl.Series, n: pl.Series, conf_level: float, name: str) -> list[pl.Series]:
    est, lo, hi = [], [], []
    for xi, ni in zip(x.to_list(), n.to_list()):
        if xi is None or not ni:
            est.append(None), lo.append(None), hi.append(None)
            continue
        ci = proportion_ci(int(xi), int(ni), conf_level=conf_level)
        est.append(ci.estimate), lo.append(ci.lower), hi.append(ci.upper)
    return [pl.Series(name, est, pl.Float64), pl.Series(f"{name}_lower", lo, pl.Float64),
            pl.Series(f"{name}_upper", hi, pl.Float64)]


def _with_mean_ci(df: pl.DataFrame, n: str, mean: str, sd: str, prefix: str, conf_level: float) -> pl.DataFrame:
    lo, hi = mean_ci(df[n].fill_null(0).to_numpy(), df[mean].fill_null(np.nan).to_numpy(),
                     df[sd].fill_null(np.nan).to_numpy(), conf_level)
    return df.with_columns(pl.Series(f"{prefix}lower", lo, nan_to_null=True),
                           pl.Series(f"{prefix}upper", hi, nan_to_null=True))


def _need(df: pl.DataFrame, cols: tuple[str, ...]) -> None:
    if not isinstance(df, pl.DataFrame):
        raise TypeError(f"expected a polars DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) missing: {missing}")


SCALE_INPUT = ("group", "timepoint", "n_expected", "n_answered", "n", "mean", "sd", "n_change", "mean_change",
               "sd_change", "n_improved", "n_worsened")


def summarize_scale(agg: pl.DataFrame, options: QolOptions = QolOptions()) -> pl.DataFrame:
    """Add CIs and shares to :func:`~dashboard.queries.qol.select_scale_summary` output.

    Returns
    -------
    pl.DataFrame
        The input plus ``lower, upper`` (mean score), ``change_lower, change_upper``,
        ``completion`` (= n_answered / n_expected) with ``completion_lower/_upper``,
        ``improved`` and ``worsened`` (shares of ``n_change``) with their limits.
    """
    _need(agg, SCALE_INPUT)
    out = _with_mean_ci(agg, "n", "mean", "sd", "", options.conf_level)
    out = _with_mean_ci(out, "n_change", "mean_change", "sd_change", "change_", options.conf_level)
    cols = (_share(out["n_answered"], out["n_expected"], options.conf_level, "completion")
            + _share(out["n_improved"], out["n_change"], options.conf_level, "improved")
            + _share(out["n_worsened"], out["n_change"], options.conf_level, "worsened"))
    return out.with_columns(cols)


LARS_CODES = tuple(c for c, _, _ in LARS_CATEGORIES)


def lars_category(score: float) -> str:
    """LARS category code of a total score (``schema.LARS_CATEGORIES``; upper bounds
    inclusive: 20 -> no LARS, 21 -> minor, 29 -> minor, 30 -> major)."""
    if score is None or not (LARS_CATEGORIES[0][1] <= score <= LARS_CATEGORIES[-1][2]):
        raise ValueError(f"LARS score must be in {LARS_CATEGORIES[0][1]}..{LARS_CATEGORIES[-1][2]}, got {score!r}")
    for code, _, hi in LARS_CATEGORIES:
        if score <= hi:
            return code
    return LARS_CATEGORIES[-1][0]


def summarize_lars(agg: pl.DataFrame, options: QolOptions = QolOptions()) -> pl.DataFrame:
    """Add the mean CI and category shares to
    :func:`~dashboard.queries.qol.select_lars_summary` output.

    Returns
    -------
    pl.DataFrame
        The input plus ``lower, upper`` (mean) and, per category code, ``share_<code>``
        (n_<code> / n) with ``share_<code>_lower/_upper``.
    """
    _need(agg, ("group", "timepoint", "n", "mean", "sd", *(f"n_{c}" for c in LARS_CODES)))
    out = _with_mean_ci(agg, "n", "mean", "sd", "", options.conf_level)
    cols = []
    for c in LARS_CODES:
        cols += _share(out[f"n_{c}"], out["n"], options.conf_level, f"share_{c}")
    return out.with_columns(cols)


def summarize_stoma(agg: pl.DataFrame, options: QolOptions = QolOptions(), min_n: int = 1) -> pl.DataFrame:
    """Share living with a stoma (``n_stoma / n``) with exact limits, from
    :func:`~dashboard.queries.qol.select_stoma_over_time`; months with fewer than
    ``min_n`` followed patients in a group are dropped."""
    _need(agg, ("group", "month", "n", "n_stoma"))
    if not (isinstance(min_n, int) and min_n >= 1):
        raise ValueError(f"min_n must be a whole number >= 1, got {min_n!r}")
    out = agg.filter(pl.col("n") >= min_n)
    return out.with_columns(_share(out["n_stoma"], out["n"], options.conf_level, "share"))
