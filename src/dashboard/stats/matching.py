"""Propensity-score overlap, trimming, truncation, overlap weights and 1:1 nearest-neighbour
matching with a caliper. Pure (numpy / Polars).

The propensity score ``e = P(treated | covariates)`` comes from
:func:`dashboard.stats.propensity_weights` (main-effects logistic model, R ``glm``).

- Preference score (Walker AM et al. Comp Eff Res 2013;3:11-20):
  ``logit(F) = logit(e) - logit(P)``, ``P`` the share treated; the usual reading is that
  the groups are in empirical equipoise where 0.3 <= F <= 0.7.
- Trimming: keep ``lower <= e <= upper``; default 0.1-0.9, the rule of thumb of Crump RK
  et al. (Biometrika 2009;96:187-199).
- Truncation: weights above their ``q``-th percentile (R ``quantile(w, q)``, type 7) are
  set to it.
- Overlap weights (Li F, Morgan KL, Zaslavsky AM. JASA 2018;113:390-400): ``1 - e``
  for the treated, ``e`` for the controls (the ATO estimand).
- Matching: greedy 1:1 nearest neighbour on the propensity score without replacement,
  treated units taken from the largest score down, caliper ``caliper x SD(e)`` (sample SD
  over all units): R ``MatchIt::matchit(treat ~ covs, method = "nearest",
  distance = "glm", caliper = caliper)`` (MatchIt 4.5, ``m.order = "largest"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.special import logit

from dashboard.i18n import gettext
from dashboard.stats import _validate as v
from dashboard.stats.cox import design_matrix
from dashboard.stats.weighting import smd_rows

EQUIPOISE = (0.3, 0.7)
DEFAULT_CALIPER = 0.2  # SD of the propensity score (Austin PC. Pharm Stat 2011;10:150-161)


def _ps_treat(ps: np.ndarray, treated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ps = np.asarray(ps, dtype=float)
    tr = np.asarray(treated)
    if ps.shape != tr.shape or ps.ndim != 1:
        raise ValueError("propensity and treatment must be 1-d arrays of the same length")
    if not np.all((ps > 0) & (ps < 1)):
        raise ValueError("propensity scores must lie strictly between 0 and 1")
    if not np.isin(tr, (0, 1)).all():
        raise ValueError("treatment must be 0 / 1")
    tr = tr.astype(bool)
    if tr.all() or not tr.any():
        raise ValueError(gettext("both groups are needed"))
    return ps, tr


def preference_score(ps: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Walker's preference score ``F = expit(logit(e) - logit(P))`` with ``P`` the share
    treated (R: ``plogis(qlogis(ps) - qlogis(mean(treat)))``)."""
    ps, tr = _ps_treat(ps, treated)
    z = logit(ps) - logit(tr.mean())
    return 1 / (1 + np.exp(-z))


def overlap_weights(ps: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Overlap weights: ``1 - e`` (treated), ``e`` (control)."""
    ps, tr = _ps_treat(ps, treated)
    return np.where(tr, 1 - ps, ps)


def trim_mask(ps: np.ndarray, lower: float = 0.1, upper: float = 0.9) -> np.ndarray:
    """Units kept by propensity trimming: ``lower <= e <= upper``."""
    ps = np.asarray(ps, dtype=float)
    if not 0 <= lower < upper <= 1:
        raise ValueError(f"need 0 <= lower < upper <= 1, got {lower}, {upper}")
    return (ps >= lower) & (ps <= upper)


def truncate_weights(w: np.ndarray, upper_quantile: float = 0.99, lower_quantile: float | None = None) -> np.ndarray:
    """Weights capped at their ``upper_quantile`` (and floored at ``lower_quantile``)
    percentile, R ``pmin(w, quantile(w, q))`` (type 7, numpy's default)."""
    w = np.asarray(w, dtype=float)
    if not 0.5 < upper_quantile <= 1:
        raise ValueError(f"upper_quantile must be in (0.5, 1], got {upper_quantile!r}")
    out = np.minimum(w, np.quantile(w, upper_quantile))
    if lower_quantile is not None:
        if not 0 <= lower_quantile < 0.5:
            raise ValueError(f"lower_quantile must be in [0, 0.5), got {lower_quantile!r}")
        out = np.maximum(out, np.quantile(w, lower_quantile))
    return out


@dataclass(frozen=True, eq=False)
class MatchResult:
    """1:1 matching result.

    ``pair``: pair number (1, 2, ... in matching order) per unit, 0 when unmatched;
    ``caliper_width``: caliper on the PS scale; ``n_treated_matched``,
    ``n_treated_unmatched``, ``n_control_unused``.
    """

    pair: np.ndarray
    caliper_width: float | None
    n_treated_matched: int
    n_treated_unmatched: int
    n_control_unused: int

    @property
    def matched(self) -> np.ndarray:
        return self.pair > 0


def nearest_neighbour_match(ps: np.ndarray, treated: np.ndarray, caliper: float | None = DEFAULT_CALIPER) -> MatchResult:
    """Greedy 1:1 nearest-neighbour matching on the propensity score, no replacement.

    Treated units in decreasing order of ``e`` (ties: data order) each take the unused
    control with the closest score, if within ``caliper x sd(e)`` (sample SD over all
    units; ``caliper=None``: no caliper); ties between equally close controls go to the
    first in data order. Same pairs as R ``MatchIt::matchit(..., method = "nearest",
    distance = <ps>, caliper = caliper)`` with distinct scores (MatchIt's own tie rule
    between equidistant controls is not documented; tests use distinct scores).
    """
    ps, tr = _ps_treat(ps, treated)
    width = None if caliper is None else float(caliper) * float(np.std(ps, ddof=1))
    if caliper is not None and not caliper > 0:
        raise ValueError(f"caliper must be > 0, got {caliper!r}")
    ti = np.flatnonzero(tr)
    ci = np.flatnonzero(~tr)
    order = ti[np.argsort(-ps[ti], kind="stable")]
    cps = ps[ci]
    corder = np.argsort(cps, kind="stable")  # equal scores stay in data order
    sorted_ps = cps[corder]
    m = ci.size
    # nearest unused position to the left / right of a sorted position: skip pointers with
    # path compression, so the whole matching is O(n log n) however many controls are used
    left = np.arange(m)
    right = np.arange(m + 1)

    def find(ptr: np.ndarray, i: int) -> int:
        root = i
        while 0 <= root < len(ptr) and ptr[root] != root:
            root = ptr[root]
        while 0 <= i < len(ptr) and ptr[i] != i:
            ptr[i], i = root, ptr[i]
        return root

    def first_unused_equal(j: int) -> int:
        # among unused controls with the same score as sorted position j, the first in data order
        a = int(np.searchsorted(sorted_ps, sorted_ps[j], side="left"))
        b = int(np.searchsorted(sorted_ps, sorted_ps[j], side="right"))
        best = -1
        q = find(right, a)
        while q < b:
            if best < 0 or corder[q] < corder[best]:
                best = q
            q = find(right, q + 1)
        return best

    pair = np.zeros(ps.size, dtype=np.int64)
    k = 0
    for t in order:
        pos = int(np.searchsorted(sorted_ps, ps[t]))
        lo = find(left, pos - 1) if pos > 0 else -1
        hi = find(right, pos)
        cands = [j for j in (lo, hi) if 0 <= j < m]
        if not cands:
            break
        dists = [abs(ps[t] - sorted_ps[j]) for j in cands]
        best_d = min(dists)
        if width is not None and best_d > width:
            continue
        picks = [first_unused_equal(j) for j, d in zip(cands, dists) if d == best_d]
        c = min(picks, key=lambda j: corder[j])
        left[c] = c - 1
        right[c] = c + 1
        k += 1
        pair[t] = pair[ci[corder[c]]] = k
    return MatchResult(pair, width, k, int(ti.size - k), int(ci.size - k))


def balance_table(df: pl.DataFrame, group: str, covariates: Sequence[str], keep: np.ndarray | None = None,
                  weights: np.ndarray | None = None) -> pl.DataFrame:
    """SMDs of ``covariates`` (treated = 1 minus control = 0) after matching / trimming
    (``keep``: units kept) and weighting (``weights``, >= 0), with the denominator of the
    full unweighted sample (``sqrt((s1^2 + s0^2) / 2)``, ``p (1 - p)`` for binary columns)
    so that it cannot move: as :func:`dashboard.stats.standardized_mean_difference`.

    Returns ``covariate, mean_treated, mean_control, smd``.
    """
    v.check_frame(df, [group, *covariates])
    g = v.event_indicator(df, group)
    x, _ = design_matrix(df, list(covariates))
    keep = np.ones(df.height, bool) if keep is None else np.asarray(keep, bool)
    w = np.ones(df.height) if weights is None else np.asarray(weights, dtype=float)
    if (w < 0).any():
        raise ValueError("weights must be >= 0")
    w = np.where(keep, w, 0.0)
    t1, t0 = g == 1, g == 0
    if w[t1].sum() <= 0 or w[t0].sum() <= 0:
        raise ValueError(gettext("no unit of one group is left"))
    return smd_rows(x, t1, t0, w)
