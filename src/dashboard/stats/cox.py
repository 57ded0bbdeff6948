"""Cox proportional-hazards model (Efron ties), a port of R ``coxph``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import norm

from ..i18n import gettext, ngettext
from dashboard.stats import _validate as v
from dashboard.stats._ci import z_value

COX_COLUMNS = ("term", "coef", "se", "hr", "lower", "upper", "z", "p_value")

# A group hazard ratio is reported only when both the group and the reference group have at
# least this many events; below it the estimate is shown as "not estimable: k events"
# (with fewer than a handful of events the Wald interval is meaningless and the partial
# likelihood is nearly flat).
MIN_EVENTS_FOR_HR = 5


def not_estimable_text(events: float, group_label: str | None = None) -> str:
    """``"not estimable: 2 events"`` (optionally naming the group that has them)."""
    k = int(round(events))
    if group_label:
        return ngettext("not estimable: {n} event in {group}", "not estimable: {n} events in {group}", k).format(
            n=k, group=group_label)
    return ngettext("not estimable: {n} event", "not estimable: {n} events", k).format(n=k)


@dataclass(frozen=True, eq=False)
class CoxResult:
    """Result of :func:`cox_model`.

    Attributes
    ----------
    table : pl.DataFrame
        ``term, coef, se, hr, lower, upper, z, p_value``; ``se`` is the robust (sandwich)
        SE when ``robust`` is true, and CI / z / p use that SE, as R's ``summary(coxph)``.
    n : int
        Subjects used.
    n_events : float
        Events (sum of weights when weighted).
    loglik : float
        Partial log-likelihood at the estimate (Efron), R's ``fit$loglik[2]``.
    robust : bool
        Whether ``se`` is the robust SE.
    reference_levels : dict
        Reference level of every categorical covariate.
    """

    table: pl.DataFrame
    n: int
    n_events: float
    loglik: float
    robust: bool
    reference_levels: dict


def design_matrix(
    df: pl.DataFrame, covariates: Sequence[str], reference: Mapping[str, object] | None = None
) -> tuple[pl.DataFrame, dict]:
    """Numeric design matrix: numeric columns as they are, others dummy-coded.

    String / Categorical / Enum / Boolean columns get one 0/1 column per non-reference
    level, named ``"{column}={level}"``. The reference level is ``reference[column]``
    when given, otherwise the first level in sorted order (False for booleans; the first
    category for Enum), i.e. R's default ``factor()`` treatment contrasts.
    """
    reference = dict(reference or {})
    unknown = set(reference) - set(covariates)
    if unknown:
        raise ValueError(f"reference given for columns that are not covariates: {sorted(unknown)}")
    cols: dict[str, np.ndarray] = {}
    refs: dict[str, object] = {}
    for c in covariates:
        s = df.get_column(c)
        if s.dtype.is_numeric():
            cols[c] = v.numeric(df, c)
            continue
        if isinstance(s.dtype, pl.Enum):
            levels = [x for x in s.dtype.categories.to_list() if x in set(s.unique().to_list())]
        elif s.dtype in (pl.String, pl.Categorical, pl.Boolean):
            levels = s.unique().sort().to_list()
        else:
            raise TypeError(f"covariate {c!r} has unsupported dtype {s.dtype}")
        ref = reference.get(c, levels[0])
        if ref not in levels:
            raise ValueError(f"reference level {ref!r} not found in {c!r} (levels: {levels})")
        if len(levels) < 2:
            raise ValueError(gettext("covariate {name} has a single level {levels}").format(name=repr(c), levels=levels))
        refs[c] = ref
        for lev in levels:
            if lev != ref:
                cols[f"{c}={lev}"] = (s == lev).to_numpy().astype(float)
    return pl.DataFrame(cols), refs


def cox_model(
    df: pl.DataFrame,
    time: str,
    event: str,
    covariates: Sequence[str],
    weights: str | None = None,
    robust: bool | None = None,
    ties: str = "efron",
    reference: Mapping[str, object] | None = None,
    conf_level: float = 0.95,
    freq: str | None = None,
) -> CoxResult:
    """Fit a Cox proportional-hazards model.

    Equals R ``coxph(Surv(time, event) ~ covariates, ties = "efron")``; with
    ``weights`` and ``robust=True``, ``coxph(..., weights = w, robust = TRUE)`` (sandwich
    variance from the dfbeta residuals). Categorical covariates are dummy-coded against
    a reference level (see :func:`design_matrix`). Hazard-ratio CI:
    ``exp(coef +- z se)``; p-value: Wald, ``2 (1 - Phi(|coef / se|))``.

    Fitted by :func:`efron_fit`, a vectorised port of R's ``coxfit6`` Newton-Raphson
    (same start at 0, step halving and stopping rule ``|1 - ll_old / ll_new| <= 1e-9``,
    ``iter.max = 20``), so the estimates are R's iterates, not merely close to them.
    lifelines' ``CoxPHFitter`` gives the same coefficients but a different robust SE with
    tied times, and is ~10x slower; it is used only as a cross-check in the tests.

    Parameters
    ----------
    time : str
        Follow-up time (any unit; the model only uses its order).
    covariates : sequence of str
        Columns entering the model.
    weights : str, optional
        Case weights (> 0).
    robust : bool, optional
        Robust (sandwich) SE. Default: True when ``weights`` is given, else False.
    ties : {"efron"}
        Only Efron's method is available.
    reference : mapping, optional
        Reference level per categorical covariate.
    freq : str, optional
        Frequency counts: each row stands for that many identical subjects (same time,
        event, covariates and weight). Estimates, model and robust variances, and the
        Efron handling of ties equal those on the expanded data, so data can be collapsed
        to cells in the database first.
    """
    if isinstance(covariates, str) or not covariates:
        raise ValueError("covariates must be a non-empty list of column names")
    v.check_frame(df, [time, event, weights, freq, *covariates])
    if ties != "efron":
        raise ValueError(f"only ties='efron' is supported, got {ties!r}")
    conf_level = v.conf_level_ok(conf_level)
    t = v.numeric(df, time, nonnegative=True)
    e = v.event_indicator(df, event)
    w = v.weights_array(df, weights)
    f = v.freq_array(df, freq)
    robust = (w is not None) if robust is None else bool(robust)
    x, refs = design_matrix(df, covariates, reference)
    const = [c for c in x.columns if np.ptp(x.get_column(c).to_numpy()) == 0]
    if const:
        raise ValueError(gettext("covariate column(s) without variation: {columns}").format(columns=const))
    if e.sum() == 0:
        raise ValueError(gettext("no events: a Cox model cannot be fitted"))
    names = list(x.columns)
    fit = efron_fit(t, e, x.to_numpy().astype(float), np.ones_like(t) if w is None else w, f)
    coef = fit["coef"]
    var = fit["robust_var"] if robust else fit["var"]
    se = np.sqrt(np.diag(var))
    zv = z_value(conf_level)
    z = coef / se
    table = pl.DataFrame(
        {
            "term": names,
            "coef": coef,
            "se": se,
            "hr": np.exp(coef),
            "lower": np.exp(coef - zv * se),
            "upper": np.exp(coef + zv * se),
            "z": z,
            "p_value": 2 * norm.sf(np.abs(z)),
        }
    )
    return CoxResult(
        table=table,
        n=df.height if f is None else int(f.sum()),
        n_events=float((e * (1.0 if w is None else w) * (1.0 if f is None else f)).sum()),
        loglik=float(fit["loglik"]),
        robust=robust,
        reference_levels=refs,
    )


def _efron_parts(order_data: dict, beta: np.ndarray, want_resid: bool = False) -> dict:
    """Efron log-likelihood, score and information at ``beta`` (R ``coxfit6``)."""
    x, w, dl, c = order_data["x"], order_data["w"], order_data["event"], order_data["count"]
    first, tinv = order_data["first"], order_data["tinv"]
    n, p = x.shape
    eta = x @ beta
    risk = np.exp(eta) * w * c  # a row standing for c subjects adds c times its risk
    rx = risk[:, None] * x
    rxx = rx[:, :, None] * x[:, None, :]
    # risk-set sums at each distinct time: reverse cumulative sums at the first index
    s0 = np.cumsum(risk[::-1])[::-1][first]
    s1 = np.cumsum(rx[::-1], axis=0)[::-1][first]
    s2 = np.cumsum(rxx[::-1], axis=0)[::-1][first]
    m = first.size
    dead = dl > 0
    cnt = np.bincount(tinv, weights=c * dead, minlength=m)  # deaths (subjects) at each time
    dwt = np.bincount(tinv, weights=c * w * dead, minlength=m)
    e0 = np.bincount(tinv, weights=risk * dead, minlength=m)
    e1 = np.stack([np.bincount(tinv, weights=rx[:, j] * dead, minlength=m) for j in range(p)], 1)
    e2 = np.zeros((m, p, p))
    for a in range(p):
        for b in range(a, p):
            e2[:, a, b] = e2[:, b, a] = np.bincount(tinv, weights=rxx[:, a, b] * dead, minlength=m)
    ev = np.flatnonzero(cnt > 0)
    dcount = cnt[ev].astype(np.int64)
    jj = np.repeat(ev, dcount)
    offs = np.repeat(np.cumsum(dcount) - dcount, dcount)
    k = np.arange(jj.size) - offs
    frac = k / cnt[jj]
    meanwt = (dwt / np.where(cnt > 0, cnt, 1.0))[jj]
    d2 = s0[jj] - frac * e0[jj]
    num = s1[jj] - frac[:, None] * e1[jj]
    mean = num / d2[:, None]
    loglik = float((c * w * dl * eta).sum() - (meanwt * np.log(d2)).sum())
    u = (c * w * dl) @ x - (meanwt[:, None] * mean).sum(0)
    imat = (meanwt[:, None, None] * ((s2[jj] - frac[:, None, None] * e2[jj]) / d2[:, None, None]
            - mean[:, :, None] * mean[:, None, :])).sum(0)
    out = {"loglik": loglik, "u": u, "imat": imat}
    if want_resid:
        # score residuals (R residuals.coxph type "score", Efron):
        # L_i = d_i (x_i - mbar_j) - exp(eta_i) sum_{t_j <= t_i} sum_k c_ik meanwt/d2 (x_i - mean_jk)
        # with c_ik = 1 - k/d_j when i dies at t_j, else 1; mbar_j = mean over k of mean_jk
        hz = meanwt / d2
        hzx = hz[:, None] * mean
        hz2 = (1 - frac) * hz
        hzx2 = hz2[:, None] * mean
        H = np.bincount(jj, weights=hz, minlength=m)
        HX = np.stack([np.bincount(jj, weights=hzx[:, j], minlength=m) for j in range(p)], 1)
        H2 = np.bincount(jj, weights=hz2, minlength=m)
        HX2 = np.stack([np.bincount(jj, weights=hzx2[:, j], minlength=m) for j in range(p)], 1)
        mbar = np.stack([np.bincount(jj, weights=mean[:, j], minlength=m) for j in range(p)], 1)
        mbar = mbar / np.where(cnt > 0, cnt, 1.0)[:, None]
        cH, cHX = np.cumsum(H), np.cumsum(HX, axis=0)
        # cumulative up to the subject's own time: full increments for the at-risk,
        # the (1 - k/d) increment at the own time for those who die then
        own_h = np.where(dead, H2[tinv], H[tinv])
        own_hx = np.where(dead[:, None], HX2[tinv], HX[tinv])
        prev_h = cH[tinv] - H[tinv]
        prev_hx = cHX[tinv] - HX[tinv]
        hh = prev_h + own_h
        hx = prev_hx + own_hx
        resid = dl[:, None] * (x - mbar[tinv]) - np.exp(eta)[:, None] * (x * hh[:, None] - hx)
        out["resid"] = resid
    return out


def efron_fit(
    time: np.ndarray, event: np.ndarray, x: np.ndarray, w: np.ndarray, count: np.ndarray | None = None,
    eps: float = 1e-9, iter_max: int = 20,
) -> dict:
    """Newton-Raphson for the Efron partial likelihood, step for step as R ``coxfit6``.

    Returns ``coef``, ``var`` (inverse information), ``robust_var`` (``D' D`` with
    ``D = w * dfbeta``, R's ``robust = TRUE`` without clusters), ``loglik``, ``iter``.
    Vectorised: O(n p^2) per iteration, no Python loop over subjects or times.
    ``count``: how many identical subjects each row stands for (default 1); the fit, its
    variances and the Efron terms are those of the expanded data.
    """
    order = np.argsort(time, kind="stable")
    ts = time[order]
    _, first, tinv = np.unique(ts, return_index=True, return_inverse=True)
    xs = x[order]
    cs = np.ones(time.size) if count is None else np.asarray(count, dtype=float)[order]
    xs = xs - (cs @ xs) / cs.sum()  # centring, as coxph does; changes nothing but rounding
    data = {"x": xs, "w": w[order], "event": event[order], "count": cs, "first": first, "tinv": tinv}
    p = x.shape[1]
    beta = np.zeros(p)
    cur = _efron_parts(data, beta)
    loglik = cur["loglik"]
    newbeta = beta + np.linalg.solve(cur["imat"], cur["u"])
    halving = False
    it = 0
    for it in range(1, iter_max + 1):
        new = _efron_parts(data, newbeta)
        newlk = new["loglik"]
        if abs(1 - loglik / newlk) <= eps and not halving:
            beta, cur, loglik = newbeta, new, newlk
            break
        if it == iter_max:
            beta, cur, loglik = newbeta, new, newlk
            break
        if newlk < loglik:
            halving = True
            newbeta = (newbeta + beta) / 2
        else:
            halving = False
            loglik, cur, beta = newlk, new, newbeta
            newbeta = beta + np.linalg.solve(cur["imat"], cur["u"])
    var = np.linalg.inv(cur["imat"])
    res = _efron_parts(data, beta, want_resid=True)["resid"]
    dfb = (data["w"][:, None] * res) @ var
    return {"coef": beta, "var": var, "robust_var": dfb.T @ (cs[:, None] * dfb), "loglik": loglik, "iter": it}
