"""Kaplan-Meier estimation, survival quantiles and survival at fixed times.

All times are in the unit of the input ``time`` column (the registry uses months);
nothing here rescales them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from dashboard.stats import _validate as v
from dashboard.stats._ci import confint

KM_COLUMNS = (
    "group", "time", "n_risk", "n_event", "n_censor", "survival", "std_err", "lower", "upper",
)
ALL_GROUP = "all"


def _group_codes(df: pl.DataFrame, group: str | None) -> tuple[np.ndarray, pl.Series]:
    """Integer codes 0..G-1 in sorted label order, and the sorted unique labels."""
    if group is None:
        return np.zeros(df.height, dtype=np.int64), pl.Series("group", [ALL_GROUP])
    s = df.get_column(group)
    labels = s.unique().sort()
    lookup = pl.DataFrame({"k": labels, "c": np.arange(labels.len(), dtype=np.int64)})
    codes = (
        pl.DataFrame({"k": s})
        .join(lookup, on="k", how="left", maintain_order="left")
        .get_column("c")
    )
    return codes.to_numpy(), labels.rename("group")


def _segments(codes: np.ndarray) -> np.ndarray:
    """Start index of each run of equal codes in a sorted code array (plus the end)."""
    starts = np.flatnonzero(np.diff(codes)) + 1
    return np.concatenate(([0], starts, [codes.size]))


def _grouped_cumsum(x: np.ndarray, bounds: np.ndarray, reverse: bool = False) -> np.ndarray:
    """Cumulative sum restarting at each segment (``bounds`` from :func:`_segments`)."""
    out = np.empty_like(x)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        seg = x[a:b][::-1] if reverse else x[a:b]
        c = np.cumsum(seg)
        out[a:b] = c[::-1] if reverse else c
    return out


def _grouped_cumprod(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        out[a:b] = np.cumprod(x[a:b])
    return out


def _sorted_keys(codes: np.ndarray, time: np.ndarray):
    """Distinct (code, time) pairs sorted by code then time, and each row's pair index."""
    ut, tinv = np.unique(time, return_inverse=True)
    if codes.size and codes.min() == codes.max():
        return (np.full(ut.size, codes[0]), ut), tinv
    key = codes.astype(np.int64) * ut.size + tinv
    uk, kinv = np.unique(key, return_inverse=True)
    return (uk // ut.size, ut[uk % ut.size]), kinv


def many_ties(time: np.ndarray) -> bool:
    """Whether ``time`` has few distinct values relative to its size (then a hash
    group-by beats a sort). Judged on an evenly spaced sample of ~2,000: with D distinct
    values a sample of m holds about D (1 - exp(-m / D)) of them, so fewer than 90%
    distinct in the sample means D is below ~10 m; only the path depends on it."""
    sample = time[:: max(1, time.size // 2_000)]
    return np.unique(sample).size < 0.9 * sample.size


def _whole_number_span(time: np.ndarray, n_groups: int) -> int:
    """``max + 1`` when every time is a whole number and a dense count over
    ``n_groups x (max + 1)`` cells is cheap (at most 4 cells per subject, or 4,096), else 0."""
    if time.size == 0:
        return 0
    head = time[:256]
    if not np.array_equal(head, np.floor(head)):  # cheap early exit for fractional times
        return 0
    top = float(time.max())
    span = int(top) + 1
    if top >= 2**31 or n_groups * span > max(4 * time.size, 4096):
        return 0
    return span if np.array_equal(time, np.floor(time)) else 0


def risk_table(
    time: np.ndarray, event: np.ndarray, weights: np.ndarray | None, codes: np.ndarray,
    freq: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Collapse subjects to one row per (group code, distinct time).

    Returns sorted arrays ``code``, ``time``, ``n_risk``, ``n_event``, ``n_censor`` (weighted
    when ``weights`` is given; a row stands for ``freq`` subjects when given). O(n log n)
    for the sort, no Python loop over subjects.
    """
    fw = None
    if weights is not None or freq is not None:
        w = np.ones_like(time) if weights is None else weights
        f = np.ones_like(time) if freq is None else freq
        fw, fw2 = f * w, f * w * w  # sums over the expanded subjects: sum w, sum w^2
    n_groups = int(codes.max()) + 1 if codes.size else 1
    span = _whole_number_span(time, n_groups)
    if span:
        # whole-number times (e.g. days) over a modest range: counting sort, O(n), exact
        key = codes.astype(np.int64) * span + time.astype(np.int64)
        m = n_groups * span
        if fw is None:
            wsum = np.bincount(key, minlength=m).astype(float)
            d = np.bincount(key, weights=event, minlength=m)
        else:
            wsum = np.bincount(key, weights=fw, minlength=m)
            d = np.bincount(key, weights=fw * event, minlength=m)
        pos = np.flatnonzero(np.bincount(key, minlength=m))
        g, t, wsum, d = pos // span, (pos % span).astype(float), wsum[pos], d[pos]
        w2 = d2 = None
        if fw is not None:
            w2 = np.bincount(key, weights=fw2, minlength=m)[pos]
            d2 = np.bincount(key, weights=fw2 * event, minlength=m)[pos]
    elif many_ties(time):
        # many ties: hash group-by (Polars) beats a full sort
        keys = ["t"] if n_groups == 1 else ["g", "t"]
        if fw is None:  # counts only: the fewer columns aggregated, the faster
            agg = (pl.LazyFrame({"g": codes, "t": time, "d": event}).select(*keys, "d").group_by(keys)
                   .agg(pl.len().cast(pl.Float64).alias("w"), pl.col("d").sum().cast(pl.Float64)).sort(keys)
                   .collect())
            w2 = d2 = None
        else:
            agg = (pl.LazyFrame({"g": codes, "t": time, "w": fw, "d": fw * event, "w2": fw2, "d2": fw2 * event})
                   .select(*keys, "w", "d", "w2", "d2").group_by(keys).agg(pl.all().sum()).sort(keys).collect())
            w2, d2 = agg.get_column("w2").to_numpy(), agg.get_column("d2").to_numpy()
        g = agg.get_column("g").to_numpy() if n_groups > 1 else np.zeros(agg.height, dtype=np.int64)
        t, wsum, d = (agg.get_column(c).to_numpy() for c in ("t", "w", "d"))
    else:
        (g, t), kinv = _sorted_keys(codes, time)
        m = t.size
        if fw is None:
            wsum = np.bincount(kinv, minlength=m).astype(float)
            d = np.bincount(kinv, weights=event, minlength=m)
            w2 = d2 = None
        else:
            wsum = np.bincount(kinv, weights=fw, minlength=m)
            d = np.bincount(kinv, weights=fw * event, minlength=m)
            w2 = np.bincount(kinv, weights=fw2, minlength=m)
            d2 = np.bincount(kinv, weights=fw2 * event, minlength=m)
    bounds = _segments(g)
    n_risk = _grouped_cumsum(wsum, bounds, reverse=True)
    out = {"code": g, "time": t, "n_risk": n_risk, "n_event": d, "n_censor": wsum - d,
           "bounds": bounds}
    if fw is not None:
        out["w2"], out["d2"] = w2, d2
    return out


def kaplan_meier(
    df: pl.DataFrame,
    time: str,
    event: str,
    group: str | None = None,
    weights: str | None = None,
    conf_level: float = 0.95,
    conf_type: str = "log-log",
    robust: bool | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Kaplan-Meier survival curves with pointwise confidence limits.

    Matches R ``survfit(Surv(time, event) ~ group, weights = w, conf.type = conf_type,
    conf.int = conf_level)`` (survival 3.5) row for row: one row per distinct time
    (event or censoring) per group, **no row at time 0** (use :func:`add_time_zero`
    before plotting; it mirrors ``survfit0``).

    Parameters
    ----------
    df : pl.DataFrame
        One row per subject; no nulls in the used columns.
    time : str
        Follow-up time (>= 0), in the data's unit (months in the registry).
    event : str
        1/True = event, 0/False = censored.
    group : str, optional
        Grouping column; groups come out in sorted label order. Without it the
        ``group`` column holds ``"all"``.
    weights : str, optional
        Case weights (> 0). ``n_risk``, ``n_event`` and ``n_censor`` are then sums of
        weights.
    robust : bool, optional
        Variance of log S. False: Greenwood, ``sum d / (n (n - d))`` (on weighted counts).
        True: infinitesimal jackknife ``sum_i (w_i dlogS/dw_i)^2`` (closed form, O(n_times)).
        Default as R's ``survfitKM``: True when some weight is not a whole number
        (e.g. IPT weights), else False.
    conf_level : float
        Confidence level of the pointwise interval.
    conf_type : {"log-log", "log", "plain"}
        Transformation used for the interval, computed as R's ``survfit_confint``:
        ``log-log`` (the default here, as in lifelines and SAS; R's default is ``log``):
        ``S^exp(+-z se / log S)``; ``log``: ``S exp(+-z se)`` capped at 1;
        ``plain``: ``S +- z se S`` clipped to [0, 1]; ``se`` is R's ``std.err``.
    freq : str, optional
        Frequency counts (whole numbers >= 1): each row stands for that many subjects with
        the same time, event, group (and weight). The result equals the one on the
        expanded data, so data can be collapsed to (group, time, event) cells in the
        database first. Counts, unlike ``weights``, never switch to the robust variance.

    Returns
    -------
    pl.DataFrame
        Columns ``group, time, n_risk, n_event, n_censor, survival, std_err, lower,
        upper``. ``std_err`` is the standard error **of S(t)** (Greenwood:
        ``S * sqrt(sum d / (n (n - d)))``), i.e. what ``summary(fit)`` prints;
        R's ``fit$std.err`` (SE of the cumulative hazard / of log S) is
        ``std_err / survival`` (with the robust/IJ variance R stores the SE of S,
        ``logse = FALSE``, which is ``std_err`` itself). Limits that R reports as NA
        (S = 0; S = 1 for log-log) are null, and so is the Greenwood ``std_err`` when
        S = 0 after a last event (R: ``Inf`` on the log scale); the IJ one is 0 there.
    """
    v.check_frame(df, [time, event, group, weights, freq])
    t = v.numeric(df, time, nonnegative=True)
    e = v.event_indicator(df, event)
    w = v.weights_array(df, weights)
    f = v.freq_array(df, freq)
    conf_level = v.conf_level_ok(conf_level)
    conf_type = v.conf_type_ok(conf_type)
    codes, labels = _group_codes(df, group)
    if robust is None:
        robust = w is not None and bool(np.any(w != np.floor(w)))
    return _km_from_arrays(t, e, w, codes, labels, conf_level, conf_type, bool(robust), f)


def _km_from_arrays(t, e, w, codes, labels, conf_level, conf_type, robust=False, f=None) -> pl.DataFrame:
    if robust and w is None:
        w = np.ones_like(t)
    rt = risk_table(t, e, w, codes, f)
    n, d, bounds = rt["n_risk"], rt["n_event"], rt["bounds"]
    surv = _grouped_cumprod(1.0 - d / n, bounds)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(d > 0, d / (n * (n - d)), 0.0)
        term[(d > 0) & (n - d <= 0)] = np.inf
    if not robust:
        se_log = np.sqrt(_grouped_cumsum(term, bounds))
    else:
        # IJ: subject i leaving at t_e contributes B_m (still at risk, m < e) or
        # B_e - [event] / (n_e - d_e) (m >= e) to dlogS_m/dw_i, B = cumsum of Greenwood terms
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            b = _grouped_cumsum(np.where(np.isinf(term), 0.0, term), bounds)
            w2, d2 = rt["w2"], rt["d2"]
            still = _grouped_cumsum(w2, bounds, reverse=True) - w2
            inv = np.where(n > d, 1.0 / (n - d), 0.0)
            gone = _grouped_cumsum((w2 - d2) * b**2 + d2 * (b - inv) ** 2, bounds)
            var = b**2 * still + gone
            # R (logse = FALSE for the IJ) reports std.err 0 once S = 0
            var[surv == 0] = 0.0
        se_log = np.sqrt(var)
    lower, upper = confint(surv, se_log, conf_level, conf_type)
    with np.errstate(invalid="ignore"):
        se_surv = surv * se_log
    return pl.DataFrame(
        {
            "group": labels.gather(rt["code"]),
            "time": rt["time"],
            "n_risk": n,
            "n_event": d,
            "n_censor": rt["n_censor"],
            "survival": surv,
            "std_err": pl.Series(se_surv, nan_to_null=True),
            "lower": pl.Series(lower, nan_to_null=True),
            "upper": pl.Series(upper, nan_to_null=True),
        }
    )


def _check_km(km: object) -> pl.DataFrame:
    if not isinstance(km, pl.DataFrame) or any(c not in km.columns for c in KM_COLUMNS):
        raise TypeError(f"expected the frame returned by kaplan_meier() with columns {KM_COLUMNS}")
    return km


def add_time_zero(km: pl.DataFrame) -> pl.DataFrame:
    """Prepend a time-0 row to each curve (as R ``survfit0``), for step plots.

    The new row has ``survival = lower = upper = 1``, ``std_err = 0``, no events or
    censorings, and ``n_risk`` equal to the group's first ``n_risk``. Groups whose
    first time is already 0 are left unchanged.
    """
    _check_km(km)
    first = km.group_by("group", maintain_order=True).first()
    first = first.filter(pl.col("time") != 0)
    zero = first.with_columns(
        pl.lit(0.0).alias("time"),
        pl.lit(0.0).alias("n_event"),
        pl.lit(0.0).alias("n_censor"),
        pl.lit(1.0).alias("survival"),
        pl.lit(0.0).alias("std_err"),
        pl.lit(1.0).alias("lower"),
        pl.lit(1.0).alias("upper"),
    ).select(km.columns)
    order = km.select("group").unique(maintain_order=True).with_row_index("_g")
    return (
        pl.concat([zero.cast(km.schema), km])
        .join(order, on="group", how="left", maintain_order="left")
        .with_row_index("_r")
        .sort("_g", "time", "_r")
        .drop("_g", "_r")
    )


def _findq(x: np.ndarray, y: np.ndarray, probs: np.ndarray, tol: float) -> np.ndarray:
    """Port of ``survival:::findq`` (survival 3.5): first time 1 - S >= p, with the
    midpoint rule when the curve is flat at exactly 1 - p."""
    out = np.full(probs.size, np.nan)
    if np.all(np.isnan(y)) or np.nanmax(y) < probs.min():
        return out
    xmax = x[-1]
    # duplicated(y): keep first occurrence, NaN counts as a value
    keep = np.ones(y.size, dtype=bool)
    seen: set = set()
    for i, val in enumerate(y):
        key = "nan" if np.isnan(val) else val
        if key in seen:
            keep[i] = False
        seen.add(key)
    x, y = x[keep], y[keep]
    idx = np.arange(y.size)
    ok = ~np.isnan(y)
    yv, iv = y[ok], idx[ok]
    order = np.argsort(yv, kind="stable")
    yv, iv = yv[order], iv[order]

    def approx_const_f1(knots: np.ndarray) -> np.ndarray:
        # approx(knots, idx, p, method = "constant", f = 1, rule = 1)
        res = np.full(probs.size, -1)
        j = np.searchsorted(knots, probs, side="left")
        inside = (probs >= knots[0]) & (j < knots.size)
        res[inside] = iv[j[inside]]
        return res

    i1 = approx_const_f1(yv + tol)
    i2 = approx_const_f1(yv - tol)
    good = (i1 >= 0) & (i2 >= 0)
    out[good] = (x[i1[good]] + x[i2[good]]) / 2
    out[probs == 0] = x[0]
    if not np.isnan(y[-1]):
        last = (np.abs(probs - y[-1]) < tol) & (i1 >= 0)
        out[last] = (x[i1[last]] + xmax) / 2
    return out


def survival_quantile(
    km: pl.DataFrame, probs: Sequence[float] = (0.25, 0.5, 0.75), tol: float = 1.4901161193847656e-08
) -> pl.DataFrame:
    """Quantiles of the survival time with confidence limits, as R ``quantile(fit, probs)``.

    The ``p`` quantile is the first time at which ``1 - S(t) >= p``; where the curve is flat
    at exactly ``1 - p`` it is the midpoint between the start of the flat part and the next
    time the curve drops (or the last follow-up time). The confidence limits are the same
    rule applied to the pointwise confidence band: the lower limit is where the ``lower``
    curve crosses, the upper limit where the ``upper`` curve crosses (Brookmeyer-Crowley
    style, inheriting the band's ``conf_type`` and ``conf_level``). Identical to ``quantile.survfit`` (survival 3.5, tolerance
    ``sqrt(.Machine$double.eps)``). Null where the curve or band never gets there.

    Parameters
    ----------
    km : pl.DataFrame
        Output of :func:`kaplan_meier` (without the added time-0 row or with it).
    probs : sequence of float
        Probabilities in [0, 1]; 0.5 gives the median.

    Returns
    -------
    pl.DataFrame
        ``group, prob, quantile, lower, upper`` in the time unit of ``km``.
    """
    _check_km(km)
    p = np.asarray(probs, dtype=float)
    if p.ndim != 1 or p.size == 0 or np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"probs must be values in [0, 1], got {probs!r}")
    pieces = []
    for (g,), part in km.group_by("group", maintain_order=True):
        part = part.filter(~((pl.col("time") == 0) & (pl.col("n_event") == 0) & (pl.col("survival") == 1)))
        x = np.concatenate(([0.0], part.get_column("time").to_numpy()))

        def curve(col: str) -> np.ndarray:
            s = part.get_column(col).cast(pl.Float64).fill_null(np.nan).to_numpy()
            return np.concatenate(([0.0], 1.0 - s))

        q = _findq(x, curve("survival"), p, tol)
        lo = _findq(x, curve("lower"), p, tol)
        hi = _findq(x, curve("upper"), p, tol)
        pieces.append(
            pl.DataFrame({"prob": p, "quantile": q, "lower": lo, "upper": hi}, nan_to_null=True)
            .with_columns(pl.lit(g).cast(km.schema["group"]).alias("group"))
        )
    return pl.concat(pieces).select("group", "prob", "quantile", "lower", "upper")


def median_survival(km: pl.DataFrame) -> pl.DataFrame:
    """Median survival with its confidence interval, per group.

    The numbers R prints with ``print(survfit(...))`` (``median``, ``0.95LCL``,
    ``0.95UCL``), for the ``conf_level`` and ``conf_type`` the curve was estimated with.
    Returns ``group, median, lower, upper``; null when not reached.
    """
    q = survival_quantile(km, [0.5])
    return q.select("group", pl.col("quantile").alias("median"), "lower", "upper")


def survival_at(
    km: pl.DataFrame, times: Sequence[float] = (12, 24, 36), extend: bool = False
) -> pl.DataFrame:
    """Survival at fixed times, as R ``summary(fit, times = times, extend = extend)``.

    For each time ``t``: ``survival``, ``std_err`` (SE of S), ``lower`` and ``upper`` of
    the last curve step at or before ``t`` (1, 0, 1, 1 before the first step);
    ``n_risk`` = number (weight) at risk at ``t``; ``n_event`` = events in
    ``(previous t, t]``. Times after a group's last follow-up are dropped unless
    ``extend=True`` (then ``n_risk`` is 0 and the last value is carried forward), as in R.

    Returns
    -------
    pl.DataFrame
        ``group, time, n_risk, n_event, survival, std_err, lower, upper``.
    """
    _check_km(km)
    ts = np.sort(np.asarray(times, dtype=float))
    if ts.ndim != 1 or ts.size == 0 or not np.all(np.isfinite(ts)) or ts.min() < 0:
        raise ValueError(f"times must be finite values >= 0, got {times!r}")
    km0 = add_time_zero(km)
    pieces = []
    for (g,), part in km0.group_by("group", maintain_order=True):
        tt = part.get_column("time").to_numpy()
        pt = ts if extend else ts[ts <= tt.max()]
        if pt.size == 0:
            continue
        i1 = np.maximum(np.searchsorted(tt, pt, side="right") - 1, 0)
        i2 = np.searchsorted(tt, pt, side="left")
        nr = np.concatenate((part.get_column("n_risk").to_numpy(), [0.0]))[i2]
        cum_ev = np.cumsum(part.get_column("n_event").to_numpy())[i1]
        nev = np.diff(np.concatenate(([0.0], cum_ev)))
        sel = part[i1]
        pieces.append(
            pl.DataFrame({"time": pt, "n_risk": nr, "n_event": nev})
            .with_columns(sel.select("survival", "std_err", "lower", "upper"))
            .with_columns(pl.lit(g).cast(km.schema["group"]).alias("group"))
        )
    cols = ["group", "time", "n_risk", "n_event", "survival", "std_err", "lower", "upper"]
    if not pieces:
        return pl.DataFrame(schema={c: (km.schema["group"] if c == "group" else pl.Float64) for c in cols})
    return pl.concat(pieces).select(cols)
