"""Readers for the R reference files in tests/r (data/ and reference/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

R_DIR = Path(__file__).resolve().parents[1] / "r"
DATA = R_DIR / "data"
REF = R_DIR / "reference"
TEXT = {"strata", "group", "term", "covariate", "x_label"}


def data(name: str) -> pl.DataFrame:
    """Input data exactly as R read it (``read.csv``); NA -> null."""
    return pl.read_csv(DATA / f"{name}.csv", null_values="NA")


def ref(name: str) -> pl.DataFrame:
    """An R output file; numeric columns as Float64 (``Inf`` kept), NA -> null."""
    raw = pl.read_csv(REF / f"{name}.csv", infer_schema_length=0, null_values="NA")
    return raw.with_columns(
        pl.col(c).cast(pl.Float64) for c in raw.columns if c not in TEXT
    )


def arr(s: pl.Series) -> np.ndarray:
    """Series -> float array, null -> NaN (so NA positions are compared too)."""
    return s.cast(pl.Float64).fill_null(np.nan).to_numpy()
