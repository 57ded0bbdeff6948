"""Watch & Wait surveillance: when the next endoscopy / MRI is due, and which are overdue.

The rule, with the schedule as data (:data:`DEFAULT_SCHEDULE`, from domain.md,
"Surveillance schedules (W&W)"):

- Who: patients whose current (latest) strategy episode is Watch & Wait, with the organ in
  place (no radical resection) and alive at the data cut-off. Everyone else is never listed.
- What: per modality the schedule asks for at the patient's site -- rectum: endoscopy and
  MRI; colon: endoscopy on the rectal intervals (judgement, as in ``calibration.py``);
  stomach and gastro-oesophageal junction (upper GI): endoscopy.
- Due date: date of the last examination of that modality on or after T1 (surveillance or
  unscheduled; T1 itself when there is none since) + the schedule's interval, chosen by
  the time from T1 to that last examination (``months_since_t1``; month =
  ``schema.DAYS_PER_MONTH`` days):

  ========================  ===========  ==============================
  site                      months       interval (months)
  ========================  ===========  ==============================
  rectum / colon endoscopy  0-24 / 24-60 / 60+   3 / 6 / 12 (12 after year 5: judgement)
  rectum MRI                0-24 / 24-60 / 60+   6 / 12 / 12 (domain: 3-6 then 6-12; the longer
                                                 interval is the overdue limit)
  upper GI endoscopy        0-12 / 12-24 / 24-36 / 36+   3 / 4 / 6 / 12
  ========================  ===========  ==============================

  A year boundary belongs to the later year (an examination exactly 12 months after T1
  uses the year-2 interval).
- Overdue: the data cut-off is more than ``grace_days`` (default 28 days, 4 weeks) after
  the due date. ``days_overdue`` = cut-off - due date (days since it fell due, grace
  included).

Pure: Polars in, Polars out; no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import polars as pl

from ..schema import DAYS_PER_MONTH

DEFAULT_GRACE_DAYS = 28
UPPER_GI_SITES = frozenset({"GASTRIC", "GEJ"})

# (from month since T1, interval in months), ascending by "from".
Steps = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class SurveillanceSchedule:
    """Intervals by site group and modality: ``rules[site_group][modality] = steps``.

    ``site_group`` is ``"LOWER_GI"`` (rectum, colon) or ``"UPPER_GI"`` (stomach, GEJ);
    ``steps`` are ``(from_month, interval_months)`` pairs, ascending.
    ``modalities_by_site`` says which modalities each site is followed with.
    """

    rules: Mapping[str, Mapping[str, Steps]]
    modalities_by_site: Mapping[str, tuple[str, ...]]
    grace_days: int = DEFAULT_GRACE_DAYS
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.grace_days, int) or not 0 <= self.grace_days <= 365:
            raise ValueError(f"grace_days must be a whole number of days in 0..365, got {self.grace_days!r}")
        for group, mods in self.rules.items():
            for mod, steps in mods.items():
                if not steps or steps[0][0] != 0:
                    raise ValueError(f"{group}/{mod}: the first step must start at month 0")
                if any(b[0] <= a[0] for a, b in zip(steps, steps[1:])):
                    raise ValueError(f"{group}/{mod}: steps must be in ascending order")
                if any(iv <= 0 for _, iv in steps):
                    raise ValueError(f"{group}/{mod}: intervals must be positive")
        for site, mods in self.modalities_by_site.items():
            group = site_group(site)
            missing = [m for m in mods if m not in self.rules.get(group, {})]
            if missing:
                raise ValueError(f"{site}: no interval for {missing}")


def site_group(site: str) -> str:
    return "UPPER_GI" if site in UPPER_GI_SITES else "LOWER_GI"


DEFAULT_SCHEDULE = SurveillanceSchedule(
    rules=MappingProxyType({
        "LOWER_GI": MappingProxyType({
            "ENDOSCOPY": ((0, 3), (24, 6), (60, 12)),
            "MRI": ((0, 6), (24, 12), (60, 12)),
        }),
        "UPPER_GI": MappingProxyType({
            "ENDOSCOPY": ((0, 3), (12, 4), (24, 6), (36, 12)),
        }),
    }),
    modalities_by_site=MappingProxyType({
        "RECTUM": ("ENDOSCOPY", "MRI"), "COLON": ("ENDOSCOPY",),
        "GASTRIC": ("ENDOSCOPY",), "GEJ": ("ENDOSCOPY",),
    }),
    source="domain.md 'Surveillance schedules (W&W)'; MRI overdue limit = the longer interval; "
           "colon on the rectal endoscopy intervals and 12-monthly after year 5 are judgement",
)


def interval_months(schedule: SurveillanceSchedule, site: str, modality: str, months_since_t1: float) -> float:
    """The interval (months) the schedule asks for after an examination done
    ``months_since_t1`` months after T1 (a boundary belongs to the later step)."""
    steps = schedule.rules[site_group(site)][modality]
    out = steps[0][1]
    for start, iv in steps:
        if months_since_t1 >= start:
            out = iv
    return out


OVERDUE_COLUMNS = {
    "subject_id": pl.String, "tumour_site": pl.String, "modality": pl.String, "t1": pl.Date,
    "last_exam_date": pl.Date, "months_since_t1": pl.Float64, "interval_months": pl.Float64,
    "due_date": pl.Date, "data_cutoff": pl.Date, "days_overdue": pl.Int64, "overdue": pl.Boolean,
}
INPUT_COLUMNS = ("subject_id", "tumour_site", "t1", "current_strategy", "organ_lost_date", "vital_status",
                 "death_date", "data_cutoff", "last_endoscopy_date", "last_mri_date")
_LAST_COLUMN = {"ENDOSCOPY": "last_endoscopy_date", "MRI": "last_mri_date"}


def under_surveillance(row: Mapping) -> bool:
    """Current strategy Watch & Wait, organ in place, alive, T1 known."""
    return (row["current_strategy"] == "WW" and row["organ_lost_date"] is None and row["t1"] is not None
            and row["vital_status"] != "DEAD" and row["death_date"] is None)


def estimate_next_exams(patients: pl.DataFrame, schedule: SurveillanceSchedule = DEFAULT_SCHEDULE) -> pl.DataFrame:
    """Next due endoscopy / MRI of every patient under Watch & Wait surveillance.

    Parameters
    ----------
    patients : pl.DataFrame
        One row per patient with :data:`INPUT_COLUMNS`: ``current_strategy`` (strategy of
        the latest episode), ``organ_lost_date`` (first radical resection or null),
        ``vital_status``, ``death_date``, ``data_cutoff`` (dates), and the dates of the
        last endoscopy / MRI on or before the cut-off (null when none).
    schedule : SurveillanceSchedule
        Intervals and grace period.

    Returns
    -------
    pl.DataFrame
        One row per listed patient and modality (:data:`OVERDUE_COLUMNS`), patients not
        under surveillance left out; ``days_overdue`` = cut-off - due date (negative when
        not yet due), ``overdue`` = ``days_overdue > grace_days``.
    """
    if not isinstance(patients, pl.DataFrame):
        raise TypeError(f"expected a polars DataFrame, got {type(patients).__name__}")
    missing = [c for c in INPUT_COLUMNS if c not in patients.columns]
    if missing:
        raise ValueError(f"column(s) missing: {missing}")
    rows = []
    for r in patients.iter_rows(named=True):
        if not under_surveillance(r):
            continue
        t1: dt.date = r["t1"]
        cutoff: dt.date = r["data_cutoff"]
        for mod in schedule.modalities_by_site.get(r["tumour_site"], ()):
            last = r[_LAST_COLUMN[mod]]
            last = t1 if last is None or last < t1 else last
            since = (last - t1).days / DAYS_PER_MONTH
            iv = interval_months(schedule, r["tumour_site"], mod, since)
            due = last + dt.timedelta(days=round(iv * DAYS_PER_MONTH))
            late = (cutoff - due).days
            rows.append((r["subject_id"], r["tumour_site"], mod, t1, last, since, float(iv), due, cutoff, late,
                         late > schedule.grace_days))
    return pl.DataFrame(rows, schema=OVERDUE_COLUMNS, orient="row")


def estimate_overdue(patients: pl.DataFrame, schedule: SurveillanceSchedule = DEFAULT_SCHEDULE) -> pl.DataFrame:
    """The overdue rows of :func:`estimate_next_exams`, most overdue first."""
    nxt = estimate_next_exams(patients, schedule)
    return nxt.filter(pl.col("overdue")).sort(["days_overdue", "subject_id"], descending=[True, False])
