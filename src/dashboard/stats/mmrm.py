"""Mixed model for repeated measures (MMRM) of change from baseline: generalised least
squares with an unstructured or AR(1) within-patient covariance, fitted by REML. Pure.

Model, per patient ``i`` and post-baseline visit ``j``::

    change_ij = b0 + b_base * baseline_i + visit_j + group_g + (group x visit)_gj + e_ij

with ``e_i ~ N(0, Sigma_i)``, ``Sigma_i`` the rows / columns of the visits patient ``i``
has, of one ``K x K`` matrix ``Sigma``: unstructured (any positive-definite matrix; R
``corSymm`` with ``varIdent`` per visit) or AR(1) (``sigma^2 rho^|j - k|``, visits
numbered 1..K; R ``corAR1``). Missing visits are left out (missing at random, the MMRM
assumption). Same estimates as R::

    nlme::gls(change ~ baseline + visit * group, data, method = "REML",
              correlation = corSymm(form = ~ visit_no | id),      # or corAR1(form = ~ visit_no | id)
              weights = varIdent(form = ~ 1 | visit))               # unstructured only

statsmodels has no GLS with an estimated unstructured covariance for repeated
measures (its ``MixedLM`` fits random effects, not ``Sigma``), so the REML criterion is
maximised here with scipy (BFGS with the analytic gradient).

Least-squares means per group and visit: the model's prediction at the mean baseline
score over the analysed rows (emmeans' default reference grid), SE from
``L (X' V^-1 X)^-1 L'``, CI from the t distribution with ``N - p`` degrees of freedom
(``N`` observations, ``p`` coefficients; nlme's ``summary.gls``; SAS would use
Kenward-Roger, which is not implemented here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.stats import t as t_dist

from dashboard.i18n import gettext
from dashboard.stats import _validate as v

COVARIANCES = ("unstructured", "ar1")
MMRM_MIN_PATIENTS = 10  # per group: fewer and the page refuses the model (too few to estimate Sigma)


@dataclass(frozen=True, eq=False)
class MmrmResult:
    """Result of :func:`mmrm`.

    Attributes
    ----------
    coef : pl.DataFrame
        ``term, estimate, se, t, p_value``.
    lsmeans : pl.DataFrame
        ``group, visit, estimate, se, lower, upper, n`` (patients with that visit).
    differences : pl.DataFrame
        ``group, visit, estimate, se, lower, upper, p_value``: LS-mean difference of each
        non-reference group against ``reference``.
    sigma : np.ndarray
        Estimated ``K x K`` covariance of the visits.
    df : int
        Residual degrees of freedom ``N - p``.
    n_obs, n_patients : int
    reml_loglik : float
        REML log-likelihood (nlme's ``logLik(fit)``).
    converged : bool
    """

    coef: pl.DataFrame
    lsmeans: pl.DataFrame
    differences: pl.DataFrame
    sigma: np.ndarray
    df: int
    n_obs: int
    n_patients: int
    reml_loglik: float
    converged: bool
    covariance: str
    reference: str
    visits: tuple[str, ...]
    groups: tuple[str, ...]


def _design(groups_i: np.ndarray, visits_j: np.ndarray, base: np.ndarray, ng: int, nv: int) -> np.ndarray:
    """R ``model.matrix(~ base + visit * group)`` with treatment contrasts (codes 0 = reference)."""
    cols = [np.ones(base.size), base]
    cols += [(visits_j == j).astype(float) for j in range(1, nv)]
    cols += [(groups_i == g).astype(float) for g in range(1, ng)]
    cols += [((groups_i == g) & (visits_j == j)).astype(float) for g in range(1, ng) for j in range(1, nv)]
    return np.column_stack(cols)


def _sigma(theta: np.ndarray, cov: str, nv: int) -> np.ndarray:
    if cov == "ar1":
        s2, rho = np.exp(theta[0]), np.tanh(theta[1])
        lag = np.abs(np.subtract.outer(np.arange(nv), np.arange(nv)))
        return s2 * rho**lag
    L = np.zeros((nv, nv))
    L[np.tril_indices(nv)] = theta
    d = np.diag_indices(nv)
    L[d] = np.exp(L[d])
    return L @ L.T


def _grad_theta(G: np.ndarray, theta: np.ndarray, cov: str, nv: int) -> np.ndarray:
    """d criterion / d theta from the symmetric gradient ``G`` w.r.t. Sigma."""
    if cov == "ar1":
        s2, rho = np.exp(theta[0]), np.tanh(theta[1])
        lag = np.abs(np.subtract.outer(np.arange(nv), np.arange(nv)))
        sig = s2 * rho**lag
        with np.errstate(divide="ignore", invalid="ignore"):
            dr = np.where(lag > 0, s2 * lag * rho ** np.maximum(lag - 1, 0), 0.0)
        return np.array([(G * sig).sum(), (G * dr).sum() * (1 - rho**2)])
    L = np.zeros((nv, nv))
    L[np.tril_indices(nv)] = theta
    d = np.diag_indices(nv)
    L[d] = np.exp(L[d])
    gl = 2 * G @ L
    gl[d] = gl[d] * L[d]
    return gl[np.tril_indices(nv)]


def _criterion(theta, cov, nv, patterns, p, want=False):
    sig = _sigma(theta, cov, nv)
    xvx = np.zeros((p, p))
    xvy = np.zeros(p)
    logdet = 0.0
    cache = []
    for idx, X, y in patterns:
        s = sig[np.ix_(idx, idx)]
        try:
            c = np.linalg.cholesky(s)
        except np.linalg.LinAlgError:
            return (np.inf, np.zeros_like(theta)) if not want else None
        si = np.linalg.inv(s)
        logdet += X.shape[0] * 2 * np.log(np.diag(c)).sum()
        xvx += np.einsum("nkp,kl,nlq->pq", X, si, X)
        xvy += np.einsum("nkp,kl,nl->p", X, si, y)
        cache.append(si)
    try:
        cxx = np.linalg.cholesky(xvx)
    except np.linalg.LinAlgError:
        return (np.inf, np.zeros_like(theta)) if not want else None
    cinv = np.linalg.inv(xvx)
    beta = cinv @ xvy
    quad = 0.0
    G = np.zeros((nv, nv))
    for (idx, X, y), si in zip(patterns, cache):
        r = y - X @ beta
        quad += np.einsum("nk,kl,nl->", r, si, r)
        rr = r.T @ r
        xcx = np.einsum("nkp,pq,nlq->kl", X, cinv, X)
        G[np.ix_(idx, idx)] += 0.5 * (X.shape[0] * si - si @ rr @ si - si @ xcx @ si)
    crit = 0.5 * (logdet + 2 * np.log(np.diag(cxx)).sum() + quad)
    if want:
        return {"beta": beta, "cinv": cinv, "sigma": sig, "crit": crit}
    return crit, _grad_theta(G, theta, cov, nv)


def _newton_polish(theta: np.ndarray, args: tuple, tol: float = 1e-10, max_iter: int = 20) -> tuple[np.ndarray, bool]:
    """Newton steps on the analytic gradient (Hessian by central differences of it) after
    BFGS, so the REML estimate is accurate to ~1e-10 rather than to BFGS's stopping rule."""
    for _ in range(max_iter):
        f0, g = _criterion(theta, *args)
        if np.max(np.abs(g)) < tol:
            return theta, True
        h = np.empty((theta.size, theta.size))
        eps = 1e-5
        for k in range(theta.size):
            e = np.zeros_like(theta)
            e[k] = eps
            h[:, k] = (_criterion(theta + e, *args)[1] - _criterion(theta - e, *args)[1]) / (2 * eps)
        h = (h + h.T) / 2
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            return theta, False
        for _half in range(30):
            f1, _ = _criterion(theta - step, *args)
            if np.isfinite(f1) and f1 <= f0 + 1e-12 * abs(f0):
                break
            step = step / 2
        theta = theta - step
    return theta, bool(np.max(np.abs(_criterion(theta, *args)[1])) < 1e-6)


def mmrm(
    df: pl.DataFrame,
    *,
    id: str = "subject_id",
    group: str = "group",
    visit: str = "visit",
    baseline: str = "baseline",
    change: str = "change",
    visits: Sequence[str],
    groups: Sequence[str],
    covariance: str = "unstructured",
    conf_level: float = 0.95,
) -> MmrmResult:
    """Fit the MMRM of change from baseline and its least-squares means (see the module).

    Parameters
    ----------
    df : pl.DataFrame
        One row per patient and post-baseline visit with an observed change: ``id``,
        ``group``, ``visit``, ``baseline`` (the patient's baseline score), ``change``.
    visits : sequence of str
        Visit codes in time order (the first is the reference level; AR(1) lags count
        positions in this list).
    groups : sequence of str
        Group codes; the first is the reference of the differences.
    covariance : {"unstructured", "ar1"}

    Returns
    -------
    MmrmResult
    """
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be one of {list(COVARIANCES)}, got {covariance!r}")
    conf_level = v.conf_level_ok(conf_level)
    v.check_frame(df, [id, group, visit, baseline, change])
    visits, groups = [str(x) for x in visits], [str(x) for x in groups]
    vis = df.get_column(visit).cast(pl.String).to_list()
    grp = df.get_column(group).cast(pl.String).to_list()
    bad = sorted({x for x in vis if x not in visits}) + sorted({x for x in grp if x not in groups})
    if bad:
        raise ValueError(f"visit / group values not in the lists given: {bad}")
    present_v = [x for x in visits if x in set(vis)]
    present_g = [x for x in groups if x in set(grp)]
    if len(present_g) < 2:
        raise ValueError(gettext("at least two groups with data are needed"))
    vj = np.array([present_v.index(x) for x in vis])
    gi = np.array([present_g.index(x) for x in grp])
    base = v.numeric(df, baseline)
    y = v.numeric(df, change)
    ids = df.get_column(id).to_numpy()
    key = np.unique(np.column_stack([np.unique(ids, return_inverse=True)[1], vj]), axis=0)
    if key.shape[0] != df.height:
        raise ValueError(gettext("one row per patient and visit expected"))
    nv, ng = len(present_v), len(present_g)
    X = _design(gi, vj, base, ng, nv)
    p = X.shape[1]
    if np.linalg.matrix_rank(X) < p:
        raise ValueError(gettext("the design is not of full rank (a group has no patient at some visit?)"))
    # group patients by their set of visits
    uid, pinv = np.unique(ids, return_inverse=True)
    order = np.lexsort((vj, pinv))
    pats: dict[tuple, list] = {}
    start = 0
    counts = np.bincount(pinv)
    sorted_p = pinv[order]
    bounds = np.concatenate(([0], np.cumsum(counts)))
    for k in range(uid.size):
        rows = order[bounds[k]:bounds[k + 1]]
        pats.setdefault(tuple(vj[rows]), []).append(rows)
    del start, sorted_p
    patterns = []
    for idx, rows in pats.items():
        r = np.array(rows)
        patterns.append((np.array(idx), X[r], y[r]))
    # start: OLS residual variances, no correlation
    b_ols = np.linalg.lstsq(X, y, rcond=None)[0]
    res = y - X @ b_ols
    var0 = np.array([res[vj == j].var() if (vj == j).sum() > 1 else res.var() for j in range(nv)])
    if covariance == "ar1":
        theta0 = np.array([np.log(res.var()), 0.3])
    else:
        L0 = np.diag(np.log(np.sqrt(np.maximum(var0, 1e-8))))
        theta0 = L0[np.tril_indices(nv)]
    args = (covariance, nv, patterns, p)
    opt = minimize(_criterion, theta0, args=args, jac=True, method="BFGS", options={"gtol": 1e-8, "maxiter": 5000})
    theta, converged = _newton_polish(opt.x, args)
    fit = _criterion(theta, covariance, nv, patterns, p, want=True)
    n_obs = df.height
    dfree = n_obs - p
    reml = -fit["crit"] - 0.5 * (n_obs - p) * np.log(2 * np.pi)
    beta, cinv = fit["beta"], fit["cinv"]
    se = np.sqrt(np.diag(cinv))
    names = (["(Intercept)", baseline] + [f"visit={x}" for x in present_v[1:]] + [f"group={g}" for g in present_g[1:]]
             + [f"group={g}:visit={x}" for g in present_g[1:] for x in present_v[1:]])
    tt = beta / se
    coef = pl.DataFrame({"term": names, "estimate": beta, "se": se, "t": tt,
                         "p_value": 2 * t_dist.sf(np.abs(tt), dfree)})
    q = t_dist.ppf(0.5 + conf_level / 2, dfree)
    mb = base.mean()
    npat = {}
    for gg, vv in zip(gi, vj):
        npat[(gg, vv)] = npat.get((gg, vv), 0) + 1
    ls, diff = [], []
    for g in range(ng):
        for j in range(nv):
            lvec = _design(np.array([g]), np.array([j]), np.array([mb]), ng, nv)[0]
            est, s = float(lvec @ beta), float(np.sqrt(lvec @ cinv @ lvec))
            ls.append((present_g[g], present_v[j], est, s, est - q * s, est + q * s, npat.get((g, j), 0)))
            if g > 0:
                l0 = _design(np.array([0]), np.array([j]), np.array([mb]), ng, nv)[0]
                dv = lvec - l0
                de, ds = float(dv @ beta), float(np.sqrt(dv @ cinv @ dv))
                diff.append((present_g[g], present_v[j], de, ds, de - q * ds, de + q * ds,
                             float(2 * t_dist.sf(abs(de / ds), dfree))))
    lsm = pl.DataFrame(ls, schema=["group", "visit", "estimate", "se", "lower", "upper", "n"], orient="row")
    dif = pl.DataFrame(diff, schema=["group", "visit", "estimate", "se", "lower", "upper", "p_value"], orient="row")
    return MmrmResult(coef, lsm, dif, fit["sigma"], int(dfree), int(n_obs), int(uid.size), float(reml),
                      converged, covariance, present_g[0], tuple(present_v), tuple(present_g))
