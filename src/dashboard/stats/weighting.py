"""Inverse-probability-of-treatment weights and covariate balance."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy.special import expit

from ..i18n import gettext
from dashboard.stats import _validate as v
from dashboard.stats.cox import design_matrix

ESTIMANDS = ("ATE", "ATT")


def _logistic(x: np.ndarray, y: np.ndarray, tol: float = 1e-12, max_iter: int = 100) -> np.ndarray:
    """Maximum-likelihood logistic regression by IRLS (R ``glm(family = binomial)``)."""
    beta = np.zeros(x.shape[1])
    dev_old = np.inf
    for _ in range(max_iter):
        mu = expit(x @ beta)
        wt = np.maximum(mu * (1 - mu), 1e-300)
        beta = np.linalg.solve((x * wt[:, None]).T @ x, x.T @ (wt * (x @ beta) + (y - mu)))
        mu = np.clip(expit(x @ beta), 1e-300, 1 - 1e-16)
        dev = -2 * np.sum(y * np.log(mu) + (1 - y) * np.log1p(-mu))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
            break
        dev_old = dev
    else:
        raise RuntimeError(gettext("logistic regression did not converge (separation?)"))
    return beta


def propensity_weights(
    df: pl.DataFrame,
    treatment: str,
    covariates: Sequence[str],
    estimand: str = "ATE",
    stabilized: bool = True,
) -> pl.DataFrame:
    """Propensity scores from a main-effects logistic model, and IPT weights.

    The score ``e = P(treatment = 1 | covariates)`` is fitted by maximum likelihood
    (same estimate as R ``glm(treatment ~ covariates, family = binomial)``; categorical
    covariates dummy-coded as in :func:`dashboard.stats.cox.design_matrix`). Weights:

    - ATE: ``1/e`` (treated), ``1/(1-e)`` (control); stabilised: multiplied by the
      marginal ``P(T=1)`` resp. ``P(T=0)``;
    - ATT: 1 (treated), ``e/(1-e)`` (control); ``stabilized`` is ignored.

    Returns a frame ``propensity, weight`` aligned with the rows of ``df``.
    """
    if estimand not in ESTIMANDS:
        raise ValueError(f"estimand must be one of {list(ESTIMANDS)}, got {estimand!r}")
    if isinstance(covariates, str) or not covariates:
        raise ValueError("covariates must be a non-empty list of column names")
    v.check_frame(df, [treatment, *covariates])
    y = v.event_indicator(df, treatment)
    if y.min() == y.max():
        raise ValueError(gettext("treatment {name} has a single value").format(name=repr(treatment)))
    x, _ = design_matrix(df, covariates)
    xm = np.column_stack([np.ones(df.height), x.to_numpy().astype(float)])
    e = expit(xm @ _logistic(xm, y))
    if estimand == "ATE":
        w = np.where(y == 1, 1 / e, 1 / (1 - e))
        if stabilized:
            pt = y.mean()
            w = w * np.where(y == 1, pt, 1 - pt)
    else:
        w = np.where(y == 1, 1.0, e / (1 - e))
    return pl.DataFrame({"propensity": e, "weight": w})


def standardized_mean_difference(
    df: pl.DataFrame, group: str, covariates: Sequence[str], weights: str | None = None
) -> pl.DataFrame:
    """Standardised mean differences between two groups (treated = 1 minus control = 0).

    ``SMD = (m1 - m0) / sqrt((s1^2 + s0^2) / 2)``: means ``m`` are weighted when
    ``weights`` is given; the denominator always uses the **unweighted** groups (so
    weighting cannot move it), as in cobalt (``s.d.denom = "pooled"``) and tableone:
    sample variances (n - 1) for numeric covariates, ``p (1 - p)`` for binary (0/1 or
    boolean) ones. Categorical covariates are expanded to one row per non-reference level.

    Returns ``covariate, mean_treated, mean_control, smd``.
    """
    if isinstance(covariates, str) or not covariates:
        raise ValueError("covariates must be a non-empty list of column names")
    v.check_frame(df, [group, weights, *covariates])
    g = v.event_indicator(df, group)
    w = np.ones(df.height) if weights is None else v.weights_array(df, weights)
    x, _ = design_matrix(df, covariates)
    t1, t0 = g == 1, g == 0
    if t1.sum() < 2 or t0.sum() < 2:
        raise ValueError(gettext("each group needs at least two rows"))
    return smd_rows(x, t1, t0, w)


def smd_rows(x: pl.DataFrame, t1: np.ndarray, t0: np.ndarray, w: np.ndarray) -> pl.DataFrame:
    """Standardised mean differences of the design columns ``x`` between the rows ``t1`` and
    ``t0`` (boolean masks), means weighted by ``w``, denominator from the unweighted groups
    (``p (1 - p)`` for 0/1 columns). Returns ``covariate, mean_treated, mean_control, smd``."""
    rows = []
    for name in x.columns:
        a = x.get_column(name).to_numpy().astype(float)
        m1 = np.average(a[t1], weights=w[t1])
        m0 = np.average(a[t0], weights=w[t0])
        if np.isin(a, (0.0, 1.0)).all():
            p1, p0 = a[t1].mean(), a[t0].mean()
            s = np.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)
        else:
            s = np.sqrt((a[t1].var(ddof=1) + a[t0].var(ddof=1)) / 2)
        rows.append((name, m1, m0, (m1 - m0) / s if s > 0 else np.nan))
    return pl.DataFrame(rows, schema=["covariate", "mean_treated", "mean_control", "smd"], orient="row")
