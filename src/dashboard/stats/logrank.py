"""Log-rank tests: k-sample, stratified, weighted, and the test for trend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import chi2

from dashboard.stats import _validate as v
from dashboard.stats.km import _group_codes, _sorted_keys, many_ties


@dataclass(frozen=True, eq=False)
class LogrankResult:
    """Result of :func:`logrank_test` / :func:`logrank_trend_test`.

    Attributes
    ----------
    statistic : float
        Chi-square statistic.
    df : int
        Degrees of freedom (groups with expected > 0, minus 1; 1 for the trend test).
    p_value : float
        Upper tail of the chi-square distribution.
    table : pl.DataFrame
        ``group, n, observed, expected`` (summed over strata; weighted if weights given).
    variance : np.ndarray
        Variance-covariance matrix of ``observed - expected`` (groups x groups).
    method : str
        Which computation produced the numbers.
    """

    statistic: float
    df: int
    p_value: float
    table: pl.DataFrame
    variance: np.ndarray
    method: str


def _o_e_v(
    df: pl.DataFrame, time: str, event: str, group: str, strata: str | None, weights: str | None,
    freq: str | None = None,
):
    v.check_frame(df, [time, event, group, strata, weights, freq])
    t = v.numeric(df, time, nonnegative=True)
    e = v.event_indicator(df, event)
    w = v.weights_array(df, weights)
    f = v.freq_array(df, freq)
    codes, labels = _group_codes(df, group)
    k = labels.len()
    if k < 2:
        raise ValueError(f"column {group!r} has a single group; a log-rank test needs two or more")
    s_codes = np.zeros(df.height, dtype=np.int64) if strata is None else _group_codes(df, strata)[0]
    ww = np.ones_like(t) if w is None else w
    if f is not None:  # a row stands for f subjects: sums over the expanded data
        ww = ww * f
    # with many tied times, first collapse subjects to (stratum, time, group) cells with a
    # hash group-by (no sort of every subject); then a dense (stratum, time) index
    if many_ties(t):
        cells = (pl.DataFrame({"s": s_codes, "t": t, "g": codes, "w": ww, "d": ww * e})
                 .group_by("s", "t", "g").agg(pl.col("w").sum(), pl.col("d").sum()))
        s_in, t_in, g_in, w_in, d_in = (cells.get_column(c).to_numpy() for c in ("s", "t", "g", "w", "d"))
    else:
        s_in, t_in, g_in, w_in, d_in = s_codes, t, codes, ww, ww * e
    (s_sorted, _), idx = _sorted_keys(s_in, t_in)
    m = s_sorted.size
    flat = idx.astype(np.int64) * k + g_in
    at = np.bincount(flat, weights=w_in, minlength=m * k).reshape(m, k)  # leaving at t
    dd = np.bincount(flat, weights=d_in, minlength=m * k).reshape(m, k)  # events at t
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(s_sorted)) + 1, [m]))
    nrisk = np.empty_like(at)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        nrisk[a:b] = np.cumsum(at[a:b][::-1], axis=0)[::-1]
    d = dd.sum(axis=1)
    keep = d > 0
    nrisk, dd, d = nrisk[keep], dd[keep], d[keep]
    n = nrisk.sum(axis=1)
    p = nrisk / n[:, None]
    expected = (p * d[:, None]).sum(axis=0)
    observed = dd.sum(axis=0)
    if w is None:
        # survdiff: hypergeometric variance d (n - d) / (n - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    else:
        # coxph score test, Breslow ties: multinomial variance d
        f = d
    var = np.diag((f[:, None] * p).sum(axis=0)) - (p * f[:, None]).T @ p
    table = pl.DataFrame(
        {"group": labels, "n": np.bincount(codes, weights=ww, minlength=k),
         "observed": observed, "expected": expected}
    )
    return observed, expected, var, table


def logrank_test(
    df: pl.DataFrame,
    time: str,
    event: str,
    group: str,
    strata: str | None = None,
    weights: str | None = None,
    freq: str | None = None,
) -> LogrankResult:
    """Log-rank test for two or more groups, optionally stratified.

    Unweighted, this is R ``survdiff(Surv(time, event) ~ group)`` and, with ``strata``,
    ``survdiff(Surv(time, event) ~ group + strata(s))``: O - E and its hypergeometric
    variance (``d (n - d) / (n - 1)`` per distinct event time) summed over strata;
    ``chisq = (O - E)' V^- (O - E)`` over the groups with E > 0 (first group dropped),
    ``df`` = their number - 1.

    With ``weights`` (``survdiff`` has none), O, E and V use summed weights and V is the
    multinomial (Breslow) variance, so the statistic equals the score test of
    ``coxph(Surv(time, event) ~ factor(group) [+ strata(s)], weights = w,
    ties = "breslow")`` (``summary(fit)$sctest``); without ties it equals ``survdiff``.

    ``freq``: frequency counts, each row standing for that many identical subjects (data
    collapsed to cells in the database); the result equals the one on the expanded data.

    Times are in any unit; only their order matters.
    """
    o, e, var, table = _o_e_v(df, time, event, group, strata, weights, freq)
    use = np.flatnonzero(e > 0)
    dof = use.size - 1
    if dof < 1:
        stat = 0.0
    else:
        sub = use[1:]
        u = (o - e)[sub]
        stat = float(u @ np.linalg.solve(var[np.ix_(sub, sub)], u))
    method = "survdiff (hypergeometric variance)" if weights is None else "coxph score test, Breslow ties (weighted)"
    return LogrankResult(stat, dof, float(chi2.sf(stat, dof)) if dof else float("nan"), table, var, method)


def logrank_trend_test(
    df: pl.DataFrame,
    time: str,
    event: str,
    group: str,
    scores: Sequence[float] | Mapping[object, float] | None = None,
    strata: str | None = None,
    weights: str | None = None,
    freq: str | None = None,
) -> LogrankResult:
    """Log-rank test for trend across ordered groups (1 df).

    ``U = sum_g s_g (O_g - E_g)``, ``chisq = U^2 / (s' V s)`` with O, E, V exactly as in
    :func:`logrank_test` (so stratified and weighted versions follow). This is the
    standard formula (Collett, *Modelling Survival Data*, 3rd ed., sec. 2.6.4); the
    R reference computes it explicitly from ``survdiff``'s ``obs``, ``exp`` and ``var``.
    Without tied event times it equals the score test of ``coxph`` with the numeric
    score as covariate.

    Parameters
    ----------
    scores : sequence or mapping, optional
        Score per group, in the sorted group order (sequence) or by label (mapping).
        Default 1, 2, ..., k in sorted label order.
    """
    o, e, var, table = _o_e_v(df, time, event, group, strata, weights, freq)
    labels = table.get_column("group").to_list()
    if scores is None:
        s = np.arange(1, len(labels) + 1, dtype=float)
    elif isinstance(scores, Mapping):
        missing = [g for g in labels if g not in scores]
        if missing:
            raise ValueError(f"no score for group(s) {missing}")
        s = np.array([float(scores[g]) for g in labels])
    else:
        s = np.asarray(scores, dtype=float)
        if s.shape != (len(labels),):
            raise ValueError(f"need {len(labels)} scores (groups {labels}), got {len(s)}")
    if np.ptp(s) == 0:
        raise ValueError("scores must not all be equal")
    u = float(s @ (o - e))
    stat = u * u / float(s @ var @ s)
    return LogrankResult(
        stat, 1, float(chi2.sf(stat, 1)), table.with_columns(pl.Series("score", s)), var,
        "log-rank test for trend",
    )
