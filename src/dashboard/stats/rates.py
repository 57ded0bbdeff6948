"""Event rates per exposure time with exact Poisson confidence limits. Pure.

The rate of ``x`` events over ``T`` units of exposure is ``x / T``; its exact
(Garwood) two-sided limits are the gamma quantiles

    lower = qgamma(a / 2, x) / T      (0 when x = 0)
    upper = qgamma(1 - a / 2, x + 1) / T

with ``a = 1 - conf_level``: the limits of R ``poisson.test(x, T)$conf.int``
(equivalently ``qchisq(a/2, 2x) / 2T`` and ``qchisq(1 - a/2, 2(x + 1)) / 2T``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.special import gammaincinv

from dashboard.stats import _validate as v

PER_PATIENT_YEARS = 100.0
RATE_COLUMNS = ("group", "level", "n_patients", "patient_years", "n_events", "n_patients_with_event",
                "rate", "lower", "upper")


@dataclass(frozen=True)
class PoissonRate:
    """A rate with its exact limits (per ``per`` units of exposure)."""

    events: int
    exposure: float
    rate: float
    lower: float
    upper: float
    per: float


def poisson_rate_ci(events: int, exposure: float, conf_level: float = 0.95, per: float = 1.0) -> PoissonRate:
    """Rate ``events / exposure * per`` with exact Poisson (Garwood) limits.

    Equals R ``poisson.test(events, exposure, conf.level = conf_level)`` (``estimate``
    and ``conf.int``), multiplied by ``per``.

    Parameters
    ----------
    events : int
        Number of events, a whole number >= 0.
    exposure : float
        Total exposure time (> 0), in the unit the rate is expressed in (e.g. patient-years).
    conf_level : float
        Two-sided confidence level.
    per : float
        Multiplier of the rate, e.g. 100 for "per 100 patient-years".

    Returns
    -------
    PoissonRate
    """
    conf_level = v.conf_level_ok(conf_level)
    if isinstance(events, bool) or not float(events).is_integer() or events < 0:
        raise ValueError(f"events must be a whole number >= 0, got {events!r}")
    if not (np.isfinite(exposure) and exposure > 0):
        raise ValueError(f"exposure must be > 0, got {exposure!r}")
    if not per > 0:
        raise ValueError(f"per must be > 0, got {per!r}")
    a = 1 - conf_level
    x = int(events)
    lower = 0.0 if x == 0 else float(gammaincinv(x, a / 2))
    upper = float(gammaincinv(x + 1, 1 - a / 2))
    return PoissonRate(x, float(exposure), x / exposure * per, lower / exposure * per, upper / exposure * per, per)


def summarize_event_rates(
    exposure: pl.DataFrame,
    events: pl.DataFrame,
    levels: Sequence[tuple[str, int]] = (("any", 1), ("g3", 3)),
    *,
    group_order: Sequence[str] | None = None,
    conf_level: float = 0.95,
    per: float = PER_PATIENT_YEARS,
) -> pl.DataFrame:
    """Event rates per ``per`` patient-years by group, all events counted.

    Every event counts (a patient with three episodes adds three), as in teal's
    "events per patient-year" table; ``n_patients_with_event`` says how many patients
    they came from. The overall row (group ``"ALL"``) sums the groups.

    Parameters
    ----------
    exposure : pl.DataFrame
        One row per patient: ``subject_id``, ``group``, ``years`` (exposure time in
        years, >= 0).
    events : pl.DataFrame
        One row per event: ``subject_id``, ``group``, ``grade`` (CTCAE 1-5).
    levels : sequence of (code, threshold)
        Event classes: an event counts in a class when ``grade >= threshold``.
    group_order : sequence of str, optional
        Order of the group rows (groups present, in this order; others after, sorted).
    conf_level : float
        Exact Poisson CI level (:func:`poisson_rate_ci`).
    per : float
        Patient-years the rate is expressed per (default 100).

    Returns
    -------
    pl.DataFrame
        ``group, level, n_patients, patient_years, n_events, n_patients_with_event,
        rate, lower, upper``; rates are null for a group without exposure time.
    """
    v.check_frame(exposure, ["subject_id", "group", "years"])
    if not isinstance(events, pl.DataFrame):
        raise TypeError(f"expected a polars DataFrame of events, got {type(events).__name__}")
    missing = [c for c in ("subject_id", "group", "grade") if c not in events.columns]
    if missing:
        raise ValueError(f"events: missing column(s) {missing}")
    v.numeric(exposure, "years", nonnegative=True)
    if exposure.get_column("subject_id").is_duplicated().any():
        raise ValueError("exposure: one row per patient expected (duplicated subject_id)")
    unknown = set(events.get_column("subject_id").to_list()) - set(exposure.get_column("subject_id").to_list())
    if unknown:
        raise ValueError(f"events of {len(unknown)} patient(s) without exposure time, e.g. {sorted(unknown)[:3]}")
    groups = exposure.get_column("group").unique().to_list()
    order = [g for g in (group_order or []) if g in groups] + sorted(g for g in groups if g not in (group_order or []))
    rows = []
    for g in [*order, "ALL"]:
        ex = exposure if g == "ALL" else exposure.filter(pl.col("group") == g)
        ev = events if g == "ALL" else events.filter(pl.col("group") == g)
        py = float(ex.get_column("years").sum())
        for code, threshold in levels:
            e = ev.filter(pl.col("grade") >= threshold)
            n_ev = e.height
            if py > 0:
                r = poisson_rate_ci(n_ev, py, conf_level, per)
                rate, lo, hi = r.rate, r.lower, r.upper
            else:
                rate = lo = hi = None
            rows.append((g, code, ex.height, py, n_ev, e.get_column("subject_id").n_unique(), rate, lo, hi))
    return pl.DataFrame(rows, schema={"group": pl.String, "level": pl.String, "n_patients": pl.Int64,
                                      "patient_years": pl.Float64, "n_events": pl.Int64,
                                      "n_patients_with_event": pl.Int64, "rate": pl.Float64,
                                      "lower": pl.Float64, "upper": pl.Float64}, orient="row")
