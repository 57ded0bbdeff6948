"""Cumulative incidence under competing risks (Aalen-Johansen), no tie jitter."""

from __future__ import annotations

import numpy as np
import polars as pl

from dashboard.stats import _validate as v
from dashboard.stats._ci import confint
from dashboard.stats.km import _group_codes, _segments

CIF_COLUMNS = ("group", "time", "n_risk", "n_event", "cif", "std_err", "lower", "upper")


def _aj_one(t: np.ndarray, is_any: np.ndarray, is_cause: np.ndarray, w: np.ndarray, f: np.ndarray | None = None):
    """Aalen-Johansen CIF and its infinitesimal-jackknife SE for one group (sorted output).

    Notation at the distinct times t_j (events or censorings): n_j at risk, d_j events of
    any cause, c_j events of the cause, S_j all-cause KM, F_j the CIF. Subject i leaves at
    index e(i). The influence of subject i's weight on F at t_m is

    - ``G(m) = sum_{j<=m} S_{j-1} (c_j/n_j) (B_{j-1} - 1/n_j)`` while i is still at risk
      (m < e(i)), with ``B_j = sum_{l<=j} d_l / (n_l (n_l - d_l))``;
    - ``a_i + b_i (F_m - F_e(i))`` afterwards, with
      ``a_i = G(e) + [i has the cause] S_{e-1} / n_e`` and
      ``b_i = B_e - [i has any event] / (n_e - d_e)``.

    The IJ variance ``sum_i (w_i U_i(m))^2`` then needs only cumulative sums over exit
    times: O(n log n) for the sort, O(n_times) afterwards.
    """
    fw = w if f is None else f * w
    frame = pl.DataFrame({"t": t, "w": fw, "d": fw * is_any, "c": fw * is_cause})
    # per (time, status-class) sums of w^2 are needed because subjects leaving at the same
    # time with a different status have different influence; a row standing for f subjects
    # adds f w and f w^2 (the sums over the expanded data)
    w2 = w * w if f is None else f * w * w
    frame = frame.with_columns(w2=w2, d2=w2 * is_any, c2=w2 * is_cause)
    agg = frame.group_by("t").agg(pl.all().sum()).sort("t")
    tt = agg.get_column("t").to_numpy()
    leave = agg.get_column("w").to_numpy()
    d = agg.get_column("d").to_numpy()
    c = agg.get_column("c").to_numpy()
    w2, d2, c2 = (agg.get_column(x).to_numpy() for x in ("w2", "d2", "c2"))
    n = np.cumsum(leave[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - d / n)
        s_prev = np.concatenate(([1.0], surv[:-1]))
        inc = s_prev * c / n
        cif = np.cumsum(inc)
        # n_j == d_j only at the last time (everyone left with an event): B_j would be
        # infinite there, but it only multiplies F_m - F_e(i) = 0, so it is set to 0
        gw = np.where((d > 0) & (n > d), d / (n * (n - d)), 0.0)
        b = np.cumsum(gw)
        b_prev = np.concatenate(([0.0], b[:-1]))
        g = np.cumsum(np.where(c > 0, inc * (b_prev - 1.0 / n), 0.0))
        # classes of subjects leaving at t_j: (cause), (other event), (censored)
        # a = G_j + S_{j-1}/n_j [cause]; b = B_j - 1/(n_j - d_j) [any event]
        inv_nd = np.where(n - d > 0, 1.0 / (n - d), 0.0)
        a_c, a_o = g + s_prev / n, g
        b_e, b_0 = b - inv_nd, b
        # gamma = a - b F_j, U(m) = gamma + b F_m
        gam_c, gam_o, gam_0 = a_c - b_e * cif, a_o - b_e * cif, a_o - b_0 * cif
        wc, wo, w0 = c2, d2 - c2, w2 - d2
        s_gg = np.cumsum(wc * gam_c**2 + wo * gam_o**2 + w0 * gam_0**2)
        s_gb = np.cumsum(wc * gam_c * b_e + wo * gam_o * b_e + w0 * gam_0 * b_0)
        s_bb = np.cumsum((wc + wo) * b_e**2 + w0 * b_0**2)
        still = np.cumsum(w2[::-1])[::-1] - w2  # sum w^2 of subjects leaving after t_j
        var = still * g**2 + s_gg + 2 * cif * s_gb + cif**2 * s_bb
    se = np.sqrt(np.maximum(var, 0.0))
    return tt, n, c, cif, se


def cumulative_incidence(
    df: pl.DataFrame,
    time: str,
    event_type: str,
    cause: object,
    group: str | None = None,
    weights: str | None = None,
    censor_code: object = 0,
    conf_level: float = 0.95,
    conf_type: str = "log",
    freq: str | None = None,
) -> pl.DataFrame:
    """Cumulative incidence of one cause in the presence of competing events.

    Aalen-Johansen estimate ``F(t) = sum_{t_j <= t} S(t_j-) c_j / n_j`` with ``S`` the
    all-cause Kaplan-Meier; tied times are kept tied (no random jitter, unlike lifelines'
    ``AalenJohansenFitter``). Equals ``pstate[, cause]`` of R
    ``survfit(Surv(time, factor(event_type)) ~ 1, weights = w)`` (survival 3.5), one row
    per distinct time (event or censoring), no time-0 row.

    ``std_err`` is the infinitesimal-jackknife standard error, which is R's default for
    multi-state curves (``std.err[, cause]``); it is computed in closed form from cumulative
    sums (see ``_aj_one``), not from an n x times influence matrix. ``lower``/``upper``
    follow R's default for multi-state fits, ``conf_type="log"``:
    ``F exp(+-z se / F)`` capped at 1 (R ``survfit_confint(logse = FALSE)``); ``"plain"``
    and ``"log-log"`` are applied to F in the same way as R does.

    Parameters
    ----------
    time : str
        Time to the first event or censoring (data unit, e.g. months), >= 0.
    event_type : str
        Column coding the outcome: ``censor_code`` for censored, any other value an event
        type (the cause of interest or a competing event).
    cause : object
        Value of ``event_type`` whose incidence is estimated.
    group : str, optional
        Separate curves per group, in sorted label order (``"all"`` without it).
    weights : str, optional
        Case weights; ``n_risk`` and ``n_event`` are then sums of weights (R's multi-state
        ``survfit`` prints unweighted counts there, but uses the weights in ``pstate``
        and ``std.err`` exactly as here).
    freq : str, optional
        Frequency counts: each row stands for that many identical subjects (data collapsed
        to cells in the database); the result, variance included, equals the one on the
        expanded data.

    Returns
    -------
    pl.DataFrame
        ``group, time, n_risk, n_event, cif, std_err, lower, upper``; ``n_event`` counts
        events of ``cause`` only.
    """
    v.check_frame(df, [time, event_type, group, weights, freq])
    t = v.numeric(df, time, nonnegative=True)
    w = v.weights_array(df, weights)
    f = v.freq_array(df, freq)
    conf_level = v.conf_level_ok(conf_level)
    conf_type = v.conf_type_ok(conf_type)
    et = df.get_column(event_type)
    values = set(et.unique().to_list())
    if cause == censor_code:
        raise ValueError(f"cause {cause!r} is the censoring code")
    if cause not in values:
        raise ValueError(f"cause {cause!r} does not occur in {event_type!r} (values: {sorted(values, key=str)})")
    is_cause = (et == cause).to_numpy().astype(float)
    is_any = (et != censor_code).to_numpy().astype(float)
    ww = np.ones_like(t) if w is None else w
    codes, labels = _group_codes(df, group)
    order = np.argsort(codes, kind="stable")
    bounds = _segments(codes[order])
    pieces = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        ix = order[a:b]
        tt, n, c, cif, se = _aj_one(t[ix], is_any[ix], is_cause[ix], ww[ix], None if f is None else f[ix])
        with np.errstate(divide="ignore", invalid="ignore"):
            se_log = np.where(se == 0, 0.0, se / cif)
        lower, upper = confint(cif, se_log, conf_level, conf_type)
        pieces.append(
            pl.DataFrame(
                {"time": tt, "n_risk": n, "n_event": c, "cif": cif,
                 "std_err": pl.Series(se, nan_to_null=True),
                 "lower": pl.Series(lower, nan_to_null=True),
                 "upper": pl.Series(upper, nan_to_null=True)}
            ).with_columns(pl.lit(labels[int(codes[ix[0]])]).cast(labels.dtype).alias("group"))
        )
    return pl.concat(pieces).select(CIF_COLUMNS)
