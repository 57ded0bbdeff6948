"""Competing risks compared between groups: Gray's test of cumulative incidence curves and
the Fine-Gray proportional subdistribution-hazards model. Pure (numpy / Polars).

- :func:`gray_test` is Gray's (1988) K-sample test, the ``Tests`` of R
  ``cmprsk::cuminc(ftime, fstatus, group, rho = 0)``.
- :func:`fine_gray` is Fine and Gray's (1999) model, R
  ``cmprsk::crr(ftime, fstatus, cov1, failcode, cencode)``: the subdistribution risk set
  keeps subjects who failed from a competing cause, weighted by ``G(t-) / G(T_i-)``
  (``G`` the Kaplan-Meier estimate of the censoring distribution, IPCW), Breslow handling
  of ties, and the robust variance ``A^-1 (sum (eta_i + psi_i)(eta_i + psi_i)') A^-1``
  whose ``psi_i`` term accounts for estimating ``G`` (this is why the weighted Cox model
  with a plain sandwich variance, e.g. ``survival::finegray`` + ``coxph``, gives a
  slightly different SE). lifelines has no Fine-Gray model.

Everything is computed from cumulative sums over the sorted times: O(n log n), no n x n
matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import chi2, norm

from dashboard.i18n import gettext
from dashboard.stats import _validate as v
from dashboard.stats._ci import z_value
from dashboard.stats.cox import design_matrix


@dataclass(frozen=True)
class GrayTest:
    """Gray's test for one cause.

    Attributes
    ----------
    statistic : float
        ``s' V^-1 s`` (chi-square with ``df`` degrees of freedom under equal curves).
    df : int
        Groups minus one.
    p_value : float
    groups : tuple of str
        Groups compared, sorted (R's factor order).
    score : tuple of float
        Scores ``s`` of the first ``df`` groups.
    """

    statistic: float
    df: int
    p_value: float
    groups: tuple[str, ...]
    score: tuple[float, ...]


def _codes(df: pl.DataFrame, event_type: str, cause: object, censor_code: object) -> np.ndarray:
    et = df.get_column(event_type)
    values = set(et.unique().to_list())
    if cause == censor_code:
        raise ValueError(f"cause {cause!r} is the censoring code")
    if cause not in values:
        raise ValueError(f"cause {cause!r} does not occur in {event_type!r} (values: {sorted(values, key=str)})")
    # 0 censored, 1 the cause, 2 a competing event
    return np.where(et == cause, 1, np.where(et == censor_code, 0, 2)).astype(np.int64)


def gray_test(df: pl.DataFrame, time: str, event_type: str, cause: object, group: str,
              censor_code: object = 0, rho: float = 0.0) -> GrayTest:
    """Gray's test that the cumulative incidence of ``cause`` is equal in every group.

    Reproduces ``cmprsk::cuminc(time, event_type, group, cencode = censor_code,
    rho = rho)$Tests[cause, ]`` (one stratum): at each distinct event time the score of
    group ``k`` gains ``(1 - F(t-))^rho (d1_k - d1 R_k / R)`` with ``R_k`` the group's
    subdistribution "risk set" ``n_k (1 - F_k(t-)) / S_k(t-)``; the variance is Gray's
    (1988) estimator. Groups in sorted order, as R's ``factor``.

    Parameters
    ----------
    time : str
        Time to the first event or censoring (>= 0).
    event_type : str
        ``censor_code`` for censored, the cause of interest, or any other (competing) value.
    group : str
        Groups to compare (at least two).

    Returns
    -------
    GrayTest
    """
    v.check_frame(df, [time, event_type, group])
    t = v.numeric(df, time, nonnegative=True)
    m = _codes(df, event_type, cause, censor_code)
    labels = df.get_column(group).cast(pl.String).unique().sort().to_list()
    ng = len(labels)
    if ng < 2:
        raise ValueError(gettext("Gray's test needs at least two groups in {column}, found {groups}").format(
            column=repr(group), groups=labels))
    g = np.searchsorted(np.array(labels, dtype=object), df.get_column(group).cast(pl.String).to_numpy())
    ut, tinv = np.unique(t, return_inverse=True)
    nt = ut.size
    d = np.zeros((3, nt, ng))
    np.add.at(d, (m, tinv, g), 1.0)
    leave = d.sum(0)  # subjects leaving at each time, per group
    rs = np.cumsum(leave[::-1], axis=0)[::-1]  # at risk (time >= t) per group
    ng1 = ng - 1
    s = np.zeros(ng1)
    vv = np.zeros((ng1, ng1))
    v2 = np.zeros((ng1, ng))
    v3 = np.zeros(ng)
    c = np.zeros((ng, ng))
    f1m = np.zeros(ng)
    skmm = np.ones(ng)
    fm = 0.0
    for j in np.flatnonzero((d[1] + d[2]).sum(1) > 0):
        r = rs[j]
        d1, d2 = d[1, j], d[2, j]
        nd1 = d1.sum()
        on = r > 0
        skm, f1 = skmm.copy(), f1m.copy()
        skm[on] = skmm[on] * (r[on] - d1[on] - d2[on]) / r[on]
        f1[on] = f1m[on] + skmm[on] * d1[on] / r[on]
        tvec = np.where(on, r / np.where(on, skmm, 1.0), 0.0)
        tr = tvec.sum()
        tq = (tvec * (1 - f1m)).sum()
        f = fm + nd1 / tr
        fb = (1 - fm) ** rho
        a = fb * (np.diag(tvec) - np.outer(tvec, tvec) / tr)
        c += a * nd1 / (tr * (1 - fm))
        s += np.where(on, fb * (d1 - nd1 * tvec * (1 - f1m) / tq), 0.0)[:ng1]
        if nd1 > 0:
            for k in np.flatnonzero(on):
                t4 = 1 - (1 - f) / skm[k] if skm[k] > 0 else 1.0
                t5 = 1 - (nd1 - 1) / (tr * skmm[k] - 1) if nd1 > 1 else 1.0
                t3 = t5 * skmm[k] * nd1 / (tr * r[k])
                v3[k] += t4 * t4 * t3
                t1 = a[:ng1, k] - t4 * c[:ng1, k]
                v2[:, k] += t1 * t4 * t3
                vv += np.outer(t1, t1) * t3
        if d2.sum() > 0:
            for k in np.flatnonzero((skm > 0) & (d2 > 0)):
                t4 = (1 - f) / skm[k]
                t5 = 1 - (d2[k] - 1) / (r[k] - 1) if d2[k] > 1 else 1.0
                t3 = t5 * skmm[k] ** 2 * d2[k] / r[k] ** 2
                v3[k] += t4 * t4 * t3
                t1 = t4 * c[:ng1, k]
                v2[:, k] -= t1 * t4 * t3
                vv += np.outer(t1, t1) * t3
        fm, f1m, skmm = f, f1, skm
    cc = c[:ng1]
    vv += (cc * v3) @ cc.T + cc @ v2.T + v2 @ cc.T
    stat = float(s @ np.linalg.solve(vv, s))
    return GrayTest(stat, ng1, float(chi2.sf(stat, ng1)), tuple(labels), tuple(float(x) for x in s))


@dataclass(frozen=True, eq=False)
class FineGrayResult:
    """Result of :func:`fine_gray`.

    Attributes
    ----------
    table : pl.DataFrame
        ``term, coef, se, hr, lower, upper, z, p_value``: ``hr`` is the subdistribution
        hazard ratio ``exp(coef)``, ``se`` the Fine-Gray robust SE, Wald CI and p.
    n : int
    n_events : int
        Failures from the cause of interest.
    n_competing : int
    loglik : float
        Log pseudo-likelihood at the estimate (crr ``loglik``).
    converged : bool
    reference_levels : dict
    """

    table: pl.DataFrame
    n: int
    n_events: int
    n_competing: int
    loglik: float
    converged: bool
    reference_levels: dict


def _censoring_km_left(t: np.ndarray, cens: np.ndarray) -> np.ndarray:
    """Kaplan-Meier of the censoring distribution just before each ``t`` (``G(t-)``; at
    ``t = 0``, ``G(0)``, as crr's ``approx(..., xout = t (1 - 100 eps))``)."""
    ut, tinv = np.unique(t, return_inverse=True)
    nc = np.bincount(tinv, weights=cens, minlength=ut.size)
    leave = np.bincount(tinv, minlength=ut.size).astype(float)
    risk = np.cumsum(leave[::-1])[::-1]
    g = np.cumprod(1 - nc / risk)
    g_left = np.concatenate(([1.0], g[:-1]))
    out = g_left[tinv]
    return np.where(t == 0, g[tinv], out)


def _fg_parts(order: dict, beta: np.ndarray, want_var: bool = False) -> dict:
    x, ts, m, gm = order["x"], order["t"], order["m"], order["gm"]
    uf, dk = order["uf"], order["dk"]
    n, p = x.shape
    eta = x @ beta
    e = np.exp(eta)
    ex = e[:, None] * x
    exx = ex[:, :, None] * x[:, None, :]
    comp = (m == 2).astype(float)
    # at failure time t_k: subjects with T >= t_k (weight 1) and competing failures with
    # T < t_k (weight G_k / G(T-)); sorted t, so both are cumulative sums
    first_ge = np.searchsorted(ts, uf, side="left")  # first index with T >= t_k
    suf0 = np.concatenate((np.cumsum(e[::-1])[::-1], [0.0]))
    suf1 = np.concatenate((np.cumsum(ex[::-1], 0)[::-1], np.zeros((1, p))))
    suf2 = np.concatenate((np.cumsum(exx[::-1], 0)[::-1], np.zeros((1, p, p))))
    wc = comp / gm
    pre0 = np.concatenate(([0.0], np.cumsum(wc * e)))
    pre1 = np.concatenate((np.zeros((1, p)), np.cumsum(wc[:, None] * ex, 0)))
    pre2 = np.concatenate((np.zeros((1, p, p)), np.cumsum(wc[:, None, None] * exx, 0)))
    gk = order["gk"]
    s0 = suf0[first_ge] + gk * pre0[first_ge]
    s1 = suf1[first_ge] + gk[:, None] * pre1[first_ge]
    s2 = suf2[first_ge] + gk[:, None, None] * pre2[first_ge]
    ebar = s1 / s0[:, None]
    fail = m == 1
    loglik = float(eta[fail].sum() - (dk * np.log(s0)).sum())
    u = x[fail].sum(0) - (dk[:, None] * ebar).sum(0)
    info = (dk[:, None, None] * (s2 / s0[:, None, None] - ebar[:, :, None] * ebar[:, None, :])).sum(0)
    out = {"loglik": loglik, "u": u, "info": info}
    if not want_var:
        return out
    # eta_i: dN part for failures, minus the d Lambda_1 part over the failure times at
    # which i is in the risk set (t_k <= T_i with weight 1; competing: t_k > T_i with G_k / G_i)
    h0 = dk / s0
    h1 = h0[:, None] * ebar
    c0 = np.concatenate(([0.0], np.cumsum(h0)))
    c1 = np.concatenate((np.zeros((1, p)), np.cumsum(h1, 0)))
    upto = np.searchsorted(uf, ts, side="right")  # failure times t_k <= T_i
    d0 = np.concatenate((np.cumsum((gk * h0)[::-1])[::-1], [0.0]))
    d1 = np.concatenate((np.cumsum((gk[:, None] * h1)[::-1], 0)[::-1], np.zeros((1, p))))
    eta_i = -(e[:, None] * (x * c0[upto][:, None] - c1[upto]))
    eta_i -= (comp * e / gm)[:, None] * (x * d0[upto][:, None] - d1[upto])
    own = np.searchsorted(uf, ts, side="left")
    eta_i[fail] += x[fail] - ebar[own[fail]]
    # psi_i: estimating G. q(u) = sum_{t_k >= u} d_k G_k / S0_k (B1(u) - Ebar_k B0(u)),
    # B(u) = sum over competing failures with T < u of e x / G(T-)
    ut, ui, uinv = np.unique(ts, return_index=True, return_inverse=True)
    b0 = pre0[ui]
    b1 = pre1[ui]
    gh0 = gk * h0
    gh1 = gk[:, None] * h1
    r0 = np.concatenate((np.cumsum(gh0[::-1])[::-1], [0.0]))
    r1 = np.concatenate((np.cumsum(gh1[::-1], 0)[::-1], np.zeros((1, p))))
    kk = np.searchsorted(uf, ut, side="left")  # first failure time >= u
    q = b1 * r0[kk][:, None] - b0[:, None] * r1[kk]
    cens = np.bincount(uinv, weights=(m == 0).astype(float), minlength=ut.size)
    risk = np.cumsum(np.bincount(uinv, minlength=ut.size)[::-1])[::-1].astype(float)
    dlam = np.cumsum(-(q * (cens / risk**2)[:, None]), 0)
    psi = dlam[uinv] + np.where(m == 0, 1.0, 0.0)[:, None] * (q / risk[:, None])[uinv]
    infl = eta_i + psi
    out["v2"] = infl.T @ infl
    return out


def fine_gray(
    df: pl.DataFrame,
    time: str,
    event_type: str,
    cause: object,
    covariates: Sequence[str],
    censor_code: object = 0,
    reference: Mapping[str, object] | None = None,
    conf_level: float = 0.95,
    tol: float = 1e-12,
    max_iter: int = 50,
) -> FineGrayResult:
    """Fine-Gray proportional subdistribution-hazards model for ``cause``.

    Same estimate and variance as R ``cmprsk::crr(ftime = time, fstatus = event_type,
    cov1 = model.matrix(~ covariates)[, -1], failcode = cause, cencode = censor_code)``
    (one censoring group). The estimate maximises the IPCW-weighted partial likelihood
    (Breslow ties) by Newton-Raphson with step halving from 0, until the step is below
    ``tol``; crr stops on its own gradient criterion (``gtol = 1e-6``), so its default
    estimate can differ from this one in the 7th digit: tests use ``gtol = 1e-12``.

    Parameters
    ----------
    time : str
        Time to the first event or censoring (>= 0).
    event_type : str
        ``censor_code`` (censored), ``cause`` (event of interest) or another value
        (competing event).
    covariates : sequence of str
        Model terms; categorical ones dummy-coded as in
        :func:`dashboard.stats.cox.design_matrix` (``reference`` per column).

    Returns
    -------
    FineGrayResult
    """
    if isinstance(covariates, str) or not covariates:
        raise ValueError("covariates must be a non-empty list of column names")
    v.check_frame(df, [time, event_type, *covariates])
    conf_level = v.conf_level_ok(conf_level)
    t = v.numeric(df, time, nonnegative=True)
    m = _codes(df, event_type, cause, censor_code)
    x_df, refs = design_matrix(df, covariates, reference)
    const = [c for c in x_df.columns if np.ptp(x_df.get_column(c).to_numpy()) == 0]
    if const:
        raise ValueError(gettext("covariate column(s) without variation: {columns}").format(columns=const))
    if (m == 1).sum() == 0:
        raise ValueError(gettext("no events of cause {cause}: the model cannot be fitted").format(cause=repr(cause)))
    names = list(x_df.columns)
    o = np.argsort(t, kind="stable")
    ts, ms = t[o], m[o]
    x = x_df.to_numpy().astype(float)[o]
    gm = _censoring_km_left(ts, (ms == 0).astype(float))
    uf, first = np.unique(ts[ms == 1], return_index=True)
    dk = np.bincount(np.searchsorted(uf, ts[ms == 1]), minlength=uf.size).astype(float)
    gk = gm[np.searchsorted(ts, uf, side="left")]
    data = {"x": x, "t": ts, "m": ms, "gm": gm, "uf": uf, "dk": dk, "gk": gk}
    beta = np.zeros(x.shape[1])
    cur = _fg_parts(data, beta)
    converged = False
    for _ in range(max_iter):
        step = np.linalg.solve(cur["info"], cur["u"])
        for _half in range(30):
            new = _fg_parts(data, beta + step)
            if np.isfinite(new["loglik"]) and new["loglik"] >= cur["loglik"] - 1e-12 * abs(cur["loglik"]):
                break
            step = step / 2
        beta, cur = beta + step, new
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    fin = _fg_parts(data, beta, want_var=True)
    h = np.linalg.inv(fin["info"])
    var = h @ fin["v2"] @ h.T
    se = np.sqrt(np.diag(var))
    zv = z_value(conf_level)
    z = beta / se
    table = pl.DataFrame({"term": names, "coef": beta, "se": se, "hr": np.exp(beta),
                          "lower": np.exp(beta - zv * se), "upper": np.exp(beta + zv * se), "z": z,
                          "p_value": 2 * norm.sf(np.abs(z))})
    return FineGrayResult(table, int(t.size), int((m == 1).sum()), int((m == 2).sum()), float(fin["loglik"]),
                          converged, refs)
