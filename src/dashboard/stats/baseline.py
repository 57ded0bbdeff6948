"""Baseline characteristics (Table 1): counts, medians, tests and standardised
mean differences by group. Pure: Polars in, Polars frames out.

Conventions (as R's ``tableone::CreateTableOne`` with ``smd = TRUE``):

- categories: n (%) with the percentage of the patients with a recorded value; missing
  values are counted separately and left out of tests and SMDs;
- continuous: median (IQR), quartiles by linear interpolation (R ``quantile`` type 7);
- categorical test: Pearson chi-square (Yates-corrected for 2x2, as R ``chisq.test``)
  when every expected count is at least 5, otherwise Fisher's exact test (exact for 2x2;
  for larger tables a Monte Carlo p-value over 10,000 tables with a fixed seed, as R
  ``fisher.test(simulate.p.value = TRUE)``);
- continuous test: Kruskal-Wallis rank-sum test (R ``kruskal.test``);
- SMD: the largest absolute pairwise SMD between the compared groups with at least
  ``min_smd_group`` patients. Continuous:
  ``|m1 - m2| / sqrt((s1^2 + s2^2) / 2)``; categorical: Yang & Dalton (2012)
  Mahalanobis form over the levels, which reduces to
  ``|p1 - p2| / sqrt((p1(1-p1) + p2(1-p2)) / 2)`` for two levels.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats as sps

from ..i18n import N_, gettext

OVERALL = "__overall__"
NO_GROUP = "__none__"
MONTE_CARLO_RESAMPLES = 10_000
MONTE_CARLO_SEED = 20260715


@dataclass(frozen=True)
class BaselineVariable:
    """One row block of Table 1."""

    column: str
    label: str
    kind: str  # "categorical" or "continuous"
    levels: tuple[tuple[str, str], ...] = ()  # (code, label), in display order
    unit: str = ""

    def __post_init__(self) -> None:
        if self.kind not in {"categorical", "continuous"}:
            raise ValueError(f"{self.column}: kind must be categorical or continuous, got {self.kind!r}")
        if self.kind == "categorical" and not self.levels:
            raise ValueError(f"{self.column}: a categorical variable needs levels")


@dataclass(frozen=True)
class BaselineOptions:
    """Which column defines the groups and how they are shown."""

    group_column: str
    groups: tuple[tuple[str, str], ...]  # (code, label), in column order
    no_group_label: str | None = N_("No strategy recorded")  # column for NULL group (English source); None = leave out
    min_smd_group: int = 10  # groups smaller than this are left out of the SMD (one patient gives SMDs of 5+)

    def __post_init__(self) -> None:
        if not self.groups:
            raise ValueError("at least one group is needed")


@dataclass(frozen=True)
class BaselineSummary:
    """Table 1 numbers.

    Attributes
    ----------
    groups_ : frame ``group``, ``label``, ``n`` (patients per column, overall first).
    categorical_ : frame ``variable``, ``level``, ``group``, ``n``, ``pct`` (0-100 of
        the non-missing values in that group; NaN when there are none).
    continuous_ : frame ``variable``, ``group``, ``n``, ``median``, ``q1``, ``q3``,
        ``mean``, ``sd``.
    missing_ : frame ``variable``, ``group``, ``n_missing``.
    tests_ : frame ``variable``, ``test``, ``p_value``, ``smd`` (NaN when not computable).
    """

    groups_: pl.DataFrame
    categorical_: pl.DataFrame
    continuous_: pl.DataFrame
    missing_: pl.DataFrame
    tests_: pl.DataFrame


# --------------------------------------------------------------------------- pieces
def smd_continuous(a: np.ndarray, b: np.ndarray) -> float:
    """Absolute standardised mean difference of two samples (sample SDs, ddof = 1)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    pooled = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    diff = abs(a.mean() - b.mean())
    if pooled == 0:
        return 0.0 if diff == 0 else math.inf
    return diff / pooled


def smd_categorical(p1: np.ndarray, p2: np.ndarray) -> float:
    """Yang & Dalton SMD for level proportions ``p1``, ``p2`` (each summing to 1)."""
    p1, p2 = np.asarray(p1, float), np.asarray(p2, float)
    if len(p1) < 2:
        return math.nan
    t, c = p1[1:], p2[1:]  # drop the first level: the proportions are linearly dependent
    s = np.empty((len(t), len(t)))
    for k in range(len(t)):
        for l in range(len(t)):
            s[k, l] = (t[k] * (1 - t[k]) + c[k] * (1 - c[k])) / 2 if k == l else -(t[k] * t[l] + c[k] * c[l]) / 2
    d = t - c
    if not np.any(d):
        return 0.0
    value = float(d @ np.linalg.pinv(s) @ d)
    return math.sqrt(max(value, 0.0))


def categorical_test(table: np.ndarray) -> tuple[str, float]:
    """Test of independence for a levels x groups count table.

    Rows or columns that are all zero are dropped first. Returns ``(test name, p)``;
    ``("", nan)`` when fewer than two levels or groups remain.
    """
    t = np.asarray(table, dtype=np.int64)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0] if t.size else t
    if t.ndim != 2 or t.shape[0] < 2 or t.shape[1] < 2:
        return "", math.nan
    expected = sps.contingency.expected_freq(t)
    if (expected >= 5).all():
        return gettext("Chi-square"), float(sps.chi2_contingency(t).pvalue)
    if t.shape == (2, 2):
        return gettext("Fisher exact"), float(sps.fisher_exact(t).pvalue)
    method = sps.MonteCarloMethod(n_resamples=MONTE_CARLO_RESAMPLES, rng=np.random.default_rng(MONTE_CARLO_SEED))
    return gettext("Fisher exact (Monte Carlo)"), float(sps.fisher_exact(t, method=method).pvalue)


def continuous_test(samples: list[np.ndarray]) -> tuple[str, float]:
    """Kruskal-Wallis across the non-empty samples; ``("", nan)`` if fewer than two."""
    samples = [np.asarray(s, float) for s in samples if len(s) > 0]
    if len(samples) < 2:
        return "", math.nan
    try:
        return gettext("Kruskal-Wallis"), float(sps.kruskal(*samples).pvalue)
    except ValueError:  # all values identical
        return gettext("Kruskal-Wallis"), math.nan


def _max(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return max(finite) if finite else math.nan


# --------------------------------------------------------------------------- Table 1
def summarize_baseline(
    df: pl.DataFrame, variables: tuple[BaselineVariable, ...], options: BaselineOptions
) -> BaselineSummary:
    """Table 1 numbers for ``df`` (one row per patient) by ``options.group_column``.

    Patients whose group code is not in ``options.groups`` and not NULL are an error;
    NULL-group patients form their own column when ``options.no_group_label`` is set
    (counted in the overall column, left out of tests and SMDs).
    """
    if options.group_column not in df.columns:
        raise ValueError(f"no column {options.group_column!r}")
    for v in variables:
        if v.column not in df.columns:
            raise ValueError(f"no column {v.column!r}")
    codes = [c for c, _ in options.groups]
    g = df[options.group_column]
    unknown = set(g.drop_nulls().unique().to_list()) - set(codes)
    if unknown:
        raise ValueError(f"unknown group codes {sorted(unknown)}")
    group_of = g.fill_null(NO_GROUP).to_numpy()
    columns: list[tuple[str, str, np.ndarray]] = [(OVERALL, "Overall", np.ones(df.height, bool))]
    columns += [(c, label, group_of == c) for c, label in options.groups]
    if options.no_group_label is not None and (group_of == NO_GROUP).any():
        columns.append((NO_GROUP, gettext(options.no_group_label), group_of == NO_GROUP))
    compared = [(c, m) for c, _, m in columns if c not in (OVERALL, NO_GROUP) and m.any()]
    smd_ok = [int(m.sum()) >= options.min_smd_group for _, m in compared]

    cat_rows, cont_rows, miss_rows, test_rows = [], [], [], []
    for v in variables:
        col = df[v.column]
        if v.kind == "categorical":
            level_codes = [c for c, _ in v.levels]
            present = set(col.drop_nulls().cast(pl.String).unique().to_list())
            level_codes += sorted(present - set(level_codes))  # unexpected codes are shown, never hidden
            cross = pl.DataFrame({"g": group_of, "v": col.cast(pl.String)}).group_by(["g", "v"]).len()
            count = {(r[0], r[1]): int(r[2]) for r in cross.iter_rows()}
            overall = {}
            for (gc, lc), k in count.items():
                overall[lc] = overall.get(lc, 0) + k

            def n_of(gcode: str, lc: str | None, mask: np.ndarray) -> int:
                if gcode == OVERALL:
                    return overall.get(lc, 0)
                return count.get((gcode, lc), 0)

            for gcode, _, mask in columns:
                n_missing = n_of(gcode, None, mask)
                nonmissing = int(mask.sum()) - n_missing
                miss_rows.append((v.column, gcode, n_missing))
                for lc in level_codes:
                    k = n_of(gcode, lc, mask)
                    cat_rows.append((v.column, lc, gcode, k, 100.0 * k / nonmissing if nonmissing else math.nan))
            table = np.array([[count.get((gc, lc), 0) for gc, _ in compared] for lc in level_codes], dtype=np.int64)
            test, p = categorical_test(table) if len(compared) >= 2 else ("", math.nan)
            props = []
            for j in range(len(compared)):
                tot = table[:, j].sum() if table.size else 0
                props.append(table[:, j] / tot if tot else None)
            props = [p for p, ok in zip(props, smd_ok) if ok]
            smd = _max([smd_categorical(a, b) for a, b in itertools.combinations(props, 2) if a is not None and b is not None])
        else:
            values = col.cast(pl.Float64).to_numpy()
            samples = []
            for gcode, _, mask in columns:
                vals = values[mask]
                vals = vals[~np.isnan(vals)]
                miss_rows.append((v.column, gcode, int(mask.sum() - len(vals))))
                if len(vals):
                    q1, med, q3 = np.quantile(vals, [0.25, 0.5, 0.75])
                    cont_rows.append((v.column, gcode, len(vals), float(med), float(q1), float(q3), float(vals.mean()),
                                      float(vals.std(ddof=1)) if len(vals) > 1 else math.nan))
                else:
                    cont_rows.append((v.column, gcode, 0) + (math.nan,) * 5)
                if gcode in dict(compared):
                    samples.append(vals)
            test, p = continuous_test(samples)
            smd = _max([smd_continuous(a, b) for a, b in itertools.combinations(
                [x for x, ok in zip(samples, smd_ok) if ok], 2)])
        test_rows.append((v.column, test, p, smd))

    return BaselineSummary(
        groups_=pl.DataFrame([(c, label, int(m.sum())) for c, label, m in columns],
                             schema={"group": pl.String, "label": pl.String, "n": pl.Int64}, orient="row"),
        categorical_=pl.DataFrame(cat_rows, schema={"variable": pl.String, "level": pl.String, "group": pl.String,
                                                    "n": pl.Int64, "pct": pl.Float64}, orient="row"),
        continuous_=pl.DataFrame(cont_rows, schema={"variable": pl.String, "group": pl.String, "n": pl.Int64,
                                                    "median": pl.Float64, "q1": pl.Float64, "q3": pl.Float64,
                                                    "mean": pl.Float64, "sd": pl.Float64}, orient="row"),
        missing_=pl.DataFrame(miss_rows, schema={"variable": pl.String, "group": pl.String, "n_missing": pl.Int64},
                              orient="row"),
        tests_=pl.DataFrame(test_rows, schema={"variable": pl.String, "test": pl.String, "p_value": pl.Float64,
                                               "smd": pl.Float64}, orient="row"),
    )
