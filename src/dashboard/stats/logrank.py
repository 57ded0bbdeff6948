"""Log-rank tests: k-sample, stratified, weighted, and the test for trend."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import chi2

from dashboard.i18n import fmt_int, gettext
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
    method = (gettext("survdiff (hypergeometric variance)") if weights is None
              else gettext("coxph score test, Breslow ties (weighted)"))
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


# --------------------------------------------------------------------------------------
# Small samples: exact / permutation log-rank
# --------------------------------------------------------------------------------------
# Below this expected number of events in any group the chi-square approximation of the
# log-rank statistic is not trusted and the permutation distribution is used instead.
SMALL_EXPECTED = 5.0
# Two-group label assignments enumerated in full up to this many; beyond, Monte Carlo.
MAX_EXACT_ASSIGNMENTS = 200_000
# Permutation tests are run on at most this many patients (beyond, the chi-square
# approximation is used and the result says why).
MAX_PERMUTATION_N = 1_000
PERMUTATION_RESAMPLES = 20_000
PERMUTATION_SEED = 20260715


def logrank_scores(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Log-rank scores ``a_i = d_i - H(t_i)``, ``H`` the pooled Nelson-Aalen cumulative
    hazard including the events at ``t_i`` (a subject censored at an event time is at risk
    then). ``sum_{i in g} a_i = O_g - E_g`` of :func:`logrank_test` for every group."""
    order = np.argsort(time, kind="stable")
    ts, es = time[order], event[order].astype(float)
    uniq, first, inv = np.unique(ts, return_index=True, return_inverse=True)
    n = ts.size
    at_risk = n - first
    d = np.bincount(inv, weights=es, minlength=uniq.size)
    h = np.cumsum(d / at_risk)
    out = np.empty(n)
    out[order] = es - h[inv]
    return out


def _quadratic(s: np.ndarray, v_inv: np.ndarray) -> np.ndarray:
    """Row-wise ``s' V^-1 s`` for the (k-1) first group sums ``s`` (rows = assignments)."""
    return np.einsum("bi,ij,bj->b", s, v_inv, s)


def logrank_permutation_test(
    df: pl.DataFrame,
    time: str,
    event: str,
    group: str,
    freq: str | None = None,
    *,
    max_exact: int = MAX_EXACT_ASSIGNMENTS,
    n_resamples: int = PERMUTATION_RESAMPLES,
    seed: int = PERMUTATION_SEED,
) -> LogrankResult:
    """Exact (permutation) log-rank test for two or more groups, for small samples.

    The statistic is the log-rank linear statistic ``S_g = sum_{i in g} a_i = O_g - E_g``
    (:func:`logrank_scores`), standardised by its permutation covariance
    ``V = sum(a^2) / (n (n-1)) (n diag(n_g) - n_g n_g')``: ``Q = S' V^- S`` over the groups
    but the first (for two groups ``Q = Z^2``, a two-sided test). Its null distribution is
    the distribution of ``Q`` over every reassignment of the group labels to the observed
    (time, event) pairs, which is exact whatever the number of events. Two groups with at
    most ``max_exact`` assignments are enumerated in full (``method`` says "exact");
    otherwise ``n_resamples`` random permutations (seeded, ``p = (1 + #{Q* >= Q}) /
    (1 + B)``) are drawn. This is R ``coin::logrank_test(..., distribution = "exact")``
    (two groups) / ``approximate(nresample = B)`` with coin's default ``ties.method =
    "mid-ranks"``, whose scores are these with the sign reversed (the survdiff O - E).

    ``statistic``/``df`` are ``Q`` and k - 1 (``Q`` is the chi-square of the permutation
    variance, close to but not equal to :func:`logrank_test`'s); ``table`` holds O and E.
    ``freq`` rows are expanded to one row per subject first.
    """
    from itertools import combinations
    from math import comb

    v.check_frame(df, [time, event, group, freq])
    t = v.numeric(df, time, nonnegative=True)
    e = v.event_indicator(df, event)
    codes, labels = _group_codes(df, group)
    f = v.freq_array(df, freq)
    if f is not None:
        reps = f.astype(np.int64)
        if not np.allclose(reps, f):
            raise ValueError("freq must hold whole numbers for a permutation test")
        t, e, codes = np.repeat(t, reps), np.repeat(e, reps), np.repeat(codes, reps)
    k = labels.len()
    if k < 2:
        raise ValueError(f"column {group!r} has a single group; a log-rank test needs two or more")
    n = t.size
    a = logrank_scores(t, e)
    n_g = np.bincount(codes, minlength=k).astype(float)
    s_obs = np.bincount(codes, weights=a, minlength=k)
    observed = np.bincount(codes, weights=e.astype(float), minlength=k)
    table = pl.DataFrame({"group": labels, "n": n_g, "observed": observed, "expected": observed - s_obs})
    ssq = float((a * a).sum())
    var = ssq / (n * (n - 1)) * (n * np.diag(n_g) - np.outer(n_g, n_g)) if n > 1 else np.zeros((k, k))
    sub = np.arange(1, k)
    if ssq == 0 or e.sum() == 0:
        return LogrankResult(0.0, k - 1, 1.0, table, var, gettext("exact permutation log-rank (no events: p = 1)"))
    v_inv = np.linalg.pinv(var[np.ix_(sub, sub)])
    q_obs = float(_quadratic(s_obs[sub][None, :], v_inv)[0])
    tol = 1e-9 * max(1.0, q_obs)
    if k == 2 and comb(n, int(n_g[1])) <= max_exact:
        # every choice of the n_1 subjects of the second group, equally likely under H0
        idx = np.array(list(combinations(range(n), int(n_g[1]))), dtype=np.int64)
        s1 = a[idx].sum(axis=1)
        q = s1 * s1 * v_inv[0, 0]
        p = float((q >= q_obs - tol).mean())
        method = gettext("exact permutation log-rank ({n} label assignments enumerated)").format(n=fmt_int(idx.shape[0]))
    else:
        rng = np.random.default_rng(seed)
        # permuting the scores over fixed labels is the same as permuting the labels over
        # fixed (time, event) pairs; group sums are then one matrix product
        x = (codes[:, None] == sub[None, :]).astype(float)
        hits, done, chunk = 0, 0, max(1, 4_000_000 // max(n, 1))
        while done < n_resamples:
            b = min(chunk, n_resamples - done)
            perm = rng.permuted(np.broadcast_to(a, (b, n)), axis=1)
            hits += int((_quadratic(perm @ x, v_inv) >= q_obs - tol).sum())
            done += b
        p = (1 + hits) / (1 + n_resamples)
        method = gettext("Monte Carlo permutation log-rank ({n} resamples, seed {seed})").format(n=fmt_int(n_resamples),
                                                                                            seed=seed)
    return LogrankResult(q_obs, k - 1, p, table, var, method)


def small_expected(result: LogrankResult, threshold: float = SMALL_EXPECTED) -> bool:
    """Whether any group of a log-rank result expects fewer than ``threshold`` events."""
    exp = result.table.get_column("expected").to_numpy()
    return bool((exp < threshold).any())


def logrank_for_sample(
    df: pl.DataFrame, time: str, event: str, group: str, freq: str | None = None,
) -> LogrankResult:
    """The log-rank test valid for this sample: :func:`logrank_test` (chi-square) when every
    group expects at least :data:`SMALL_EXPECTED` events, otherwise
    :func:`logrank_permutation_test` (for up to :data:`MAX_PERMUTATION_N` patients, i.e. a registry of a few hundred; beyond
    that the chi-square result is kept and its ``method`` says the approximation is poor)."""
    res = logrank_test(df, time, event, group, freq=freq)
    if not small_expected(res):
        return res
    n = int(res.table.get_column("n").sum())
    if n > MAX_PERMUTATION_N:
        return dataclasses.replace(res, method=res.method + gettext("; expected events < {k} in a group, chi-square approximation "
                                                         "unreliable").format(k=f"{SMALL_EXPECTED:g}"))
    return logrank_permutation_test(df, time, event, group, freq=freq)
