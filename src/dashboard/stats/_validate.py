"""Input validation shared by the statistics functions (checked at the door)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

CONF_TYPES = ("log-log", "log", "plain")


def check_frame(df: object, columns: Sequence[str | None]) -> pl.DataFrame:
    """Check that ``df`` is a Polars DataFrame holding every named column, without nulls."""
    if isinstance(df, pl.LazyFrame):
        raise TypeError("expected a polars DataFrame; call .collect() on the LazyFrame first")
    if not isinstance(df, pl.DataFrame):
        raise TypeError(f"expected a polars DataFrame, got {type(df).__name__}")
    wanted = [c for c in columns if c is not None]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) not in the frame: {missing}; available: {df.columns}")
    if len(set(wanted)) != len(wanted):
        raise ValueError(f"the same column is used twice: {wanted}")
    if df.height == 0:
        raise ValueError("the frame has no rows")
    nulls = {c: n for c in wanted if (n := df.get_column(c).null_count())}
    if nulls:
        raise ValueError(f"null values in {nulls}; drop or impute them before the analysis")
    return df


def numeric(df: pl.DataFrame, col: str, *, nonnegative: bool = False) -> np.ndarray:
    """Return a float64 array of a numeric column; reject NaN / infinity."""
    s = df.get_column(col)
    if not (s.dtype.is_numeric() or s.dtype == pl.Boolean):
        raise TypeError(f"column {col!r} must be numeric, got {s.dtype}")
    a = s.cast(pl.Float64).to_numpy()
    if not np.all(np.isfinite(a)):
        raise ValueError(f"column {col!r} has NaN or infinite values")
    if nonnegative and a.min() < 0:
        raise ValueError(f"column {col!r} has negative values")
    return a


def event_indicator(df: pl.DataFrame, col: str) -> np.ndarray:
    """Return the event column as float 0/1; anything else is an error."""
    a = numeric(df, col)
    bad = ~((a == 0) | (a == 1))
    if bad.any():
        raise ValueError(
            f"event column {col!r} must be 0 (censored) / 1 (event) or boolean; "
            f"found {np.unique(a[bad])[:5].tolist()}"
        )
    return a


def weights_array(df: pl.DataFrame, col: str | None) -> np.ndarray | None:
    """Return case weights (strictly positive) or None."""
    if col is None:
        return None
    w = numeric(df, col)
    if (w <= 0).any():
        raise ValueError(f"weights in {col!r} must be > 0")
    return w


def freq_array(df: pl.DataFrame, col: str | None) -> np.ndarray | None:
    """Return frequency counts (whole numbers >= 1) or None.

    A frequency column says how many identical subjects a row stands for (data collapsed
    to cells in the database); results then equal those on the expanded data."""
    if col is None:
        return None
    f = numeric(df, col)
    if (f < 1).any() or (f != np.floor(f)).any():
        raise ValueError(f"frequencies in {col!r} must be whole numbers >= 1")
    return f


def conf_level_ok(conf_level: float) -> float:
    if not isinstance(conf_level, (int, float)) or not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level!r}")
    return float(conf_level)


def conf_type_ok(conf_type: str, allowed: Sequence[str] = CONF_TYPES) -> str:
    if conf_type not in allowed:
        raise ValueError(f"conf_type must be one of {list(allowed)}, got {conf_type!r}")
    return conf_type
