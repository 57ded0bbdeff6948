"""State occupation probabilities of a multi-state process (Aalen-Johansen). Pure.

Input is counting-process data: one row per interval ``(start, stop]`` a subject spends
in ``from_state``, ending in a transition to ``to_state`` or censored (``to_state`` =
the censoring code). :func:`state_occupation` reproduces R (survival 3.5)

    survfit(Surv(start, stop, factor(to_state, c(censor, states))) ~ group,
            data, id = id, istate = from_state)

``pstate`` and ``std.err`` (infinitesimal-jackknife standard errors, R's default for
multi-state curves). :func:`pathway_intervals` turns per-patient pathway dates into such
intervals for the registry's pathway after the strategy decision (T1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from dashboard.i18n import N_
from dashboard.stats import _validate as v
from dashboard.stats._ci import confint

CENSORED = "censored"
# The registry pathway after T1 (codes, English labels marked for translation: show ``_(label)``), in stacking order.
PATHWAY_STATES: tuple[tuple[str, str], ...] = (
    ("ORGAN", N_("Organ in place, no resection yet (Watch & Wait or awaiting resection)")),
    ("EXCISED", N_("After organ-sparing excision (local / endoscopic), organ in place")),
    ("RADICAL", N_("After radical surgery (organ removed)")),
    ("DISTANT", N_("Distant disease")),
    ("DEAD", N_("Dead")),
)
MS_COLUMNS = ("group", "time", "state", "n_risk", "pstate", "std_err", "lower", "upper")


def pathway_intervals(df: pl.DataFrame) -> pl.DataFrame:
    """Counting-process intervals of the pathway states after T1, one patient per row in.

    Parameters
    ----------
    df : pl.DataFrame
        ``subject_id, group`` and, in months from T1 (null when it did not happen):
        ``excision`` (first local / endoscopic resection), ``radical`` (first radical
        resection), ``distant`` (first distant metastasis), ``death``, and ``last``
        (last contact, > 0 unless the patient died at T1).

    Rules: everyone starts at T1 with the organ in place (``ORGAN``); a local excision
    moves to ``EXCISED``, a radical resection to ``RADICAL`` (from either), distant
    metastasis to ``DISTANT`` (from any living state; later resections are then not
    states of their own), death to ``DEAD``. Events on the same day: the later state in
    this order wins (radical over excision, distant over resection). Events at T1 itself
    (time 0) set the starting state. Follow-up ends at death or last contact; events
    after last contact are ignored.

    Returns
    -------
    pl.DataFrame
        ``subject_id, group, start, stop, from_state, to_state`` (``to_state`` =
        :data:`CENSORED` at the end of follow-up alive), and ``istate0`` the state at T1.
    """
    v.check_frame(df, ["subject_id", "group", "last"])
    for c in ("excision", "radical", "distant", "death"):
        if c not in df.columns:
            raise ValueError(f"column {c!r} missing")
    rank = {s: i for i, (s, _) in enumerate(PATHWAY_STATES)}
    rows = []
    for r in df.iter_rows(named=True):
        end = r["death"] if r["death"] is not None else r["last"]
        if end is None or end < 0:
            raise ValueError(f"patient {r['subject_id']}: follow-up end missing or before T1")
        ev = [(t, s) for s, t in (("EXCISED", r["excision"]), ("RADICAL", r["radical"]),
                                  ("DISTANT", r["distant"]), ("DEAD", r["death"]))
              if t is not None and t <= end]
        ev.sort(key=lambda e: (max(e[0], 0.0), rank[e[1]]))
        state, start, path = "ORGAN", 0.0, []
        for t, s in ev:
            t = max(t, 0.0)
            if rank[s] <= rank[state] or (state == "DISTANT" and s != "DEAD"):
                continue
            if t <= start:  # same time as the previous step (or at T1): the later state wins
                if path:
                    path[-1] = (path[-1][0], path[-1][1], path[-1][2], s)
                state = s
                continue
            path.append((start, t, state, s))
            state, start = s, t
        if state != "DEAD" and end > start:
            path.append((start, end, state, CENSORED))
        istate0 = path[0][2] if path else state
        for a, b, f, to in path:
            rows.append((r["subject_id"], r["group"], a, b, f, to, istate0))
    return pl.DataFrame(rows, schema={"subject_id": df.schema["subject_id"], "group": df.schema["group"],
                                      "start": pl.Float64, "stop": pl.Float64, "from_state": pl.String,
                                      "to_state": pl.String, "istate0": pl.String}, orient="row")


def _aj_one(start, stop, frm, to, ids, w, n_states):
    """AJ state occupation and IJ standard errors for one group; all distinct stop times."""
    times = np.unique(stop)
    uid, idx = np.unique(ids, return_inverse=True)
    nid = uid.size
    # starting distribution: the state of each subject's earliest interval (R's p0:
    # subjects at risk at the first time, weighted)
    t_first = times[0]
    at0 = (start < t_first) & (stop >= t_first)
    w0 = np.bincount(frm[at0], weights=w[at0], minlength=n_states)
    tot0 = w0.sum()
    p = w0 / tot0
    # the starting distribution is treated as known (no influence term), as R does
    u = np.zeros((nid, n_states))
    wid = np.zeros(nid)
    wid[idx] = w  # one weight per subject (constant over its intervals)
    trans = to >= 0
    event_times = np.unique(stop[trans])
    # intervals sorted by stop for the event rows; at-risk sets by scanning start/stop
    out_p = np.empty((times.size, n_states))
    out_se = np.empty((times.size, n_states))
    out_n = np.empty((times.size, n_states))
    ev_pos = np.searchsorted(times, event_times)
    ev_set = np.zeros(times.size, bool)
    ev_set[ev_pos] = True
    order_start = np.argsort(start, kind="stable")
    order_stop = np.argsort(stop, kind="stable")
    ss, st = start[order_start], stop[order_stop]
    # numbers at risk per state at every time (start < t <= stop), without scanning subjects
    for h in range(n_states):
        in_h = frm == h
        st_h, sp_h = np.sort(start[in_h]), np.sort(stop[in_h])
        out_n[:, h] = np.searchsorted(st_h, times, side="left") - np.searchsorted(sp_h, times, side="left")
    se = np.zeros(n_states)
    for j, t in enumerate(times):
        if ev_set[j]:
            lo = np.searchsorted(ss, t, side="left")  # intervals with start < t: order_start[:lo]
            cand = order_start[:lo]
            risk = cand[stop[cand] >= t]
            n_h = np.bincount(frm[risk], weights=w[risk], minlength=n_states)
            a = np.searchsorted(st, t, side="left")
            b = np.searchsorted(st, t, side="right")
            ending = order_stop[a:b]
            ev = ending[to[ending] >= 0]
            dn = np.zeros((n_states, n_states))
            np.add.at(dn, (frm[ev], to[ev]), w[ev])
            with np.errstate(divide="ignore", invalid="ignore"):
                da = np.where(n_h[:, None] > 0, dn / n_h[:, None], 0.0)
            np.fill_diagonal(da, 0.0)
            np.fill_diagonal(da, -da.sum(1))
            p_prev = p
            p = p_prev + p_prev @ da
            # IJ: U(t) = U(t-) (I + dA) + p(t-) dA/dw_i
            u = u + u @ da
            h = frm[risk]
            coef = np.where(n_h[h] > 0, p_prev[h] / np.where(n_h[h] > 0, n_h[h], 1.0), 0.0)
            # a subject is at risk in one interval at a time: the indices are unique
            u[idx[risk]] -= coef[:, None] * da[h]
            e_i = ev[to[ev] >= 0]
            ce = p_prev[frm[e_i]] / n_h[frm[e_i]]
            u[idx[e_i], to[e_i]] += ce
            u[idx[e_i], frm[e_i]] -= ce
            se = np.sqrt(((wid[:, None] * u) ** 2).sum(0))
        out_p[j] = p
        out_se[j] = se
    return times, out_n, out_p, out_se


def state_occupation(
    intervals: pl.DataFrame,
    states: Sequence[str],
    *,
    start: str = "start",
    stop: str = "stop",
    from_state: str = "from_state",
    to_state: str = "to_state",
    id: str = "subject_id",
    group: str | None = None,
    weights: str | None = None,
    censor_code: str = CENSORED,
    conf_level: float = 0.95,
    conf_type: str = "log",
) -> pl.DataFrame:
    """Aalen-Johansen probabilities of being in each state over time, with IJ SEs.

    ``p(t) = p(t-) (I + dA(t))`` with ``dA_hk = dN_hk / n_h`` (transitions h -> k at t
    over the number in state h at risk just before t); ``p(0)`` is the distribution of
    the starting states. Standard errors are the infinitesimal jackknife, per subject
    ``U_i(t) = U_i(t-) (I + dA) + p(t-) dA / dw_i``, ``se^2 = sum_i (w_i U_i)^2``, as R's
    multi-state ``survfit`` (``std.err``); like R, the starting distribution ``p(0)`` is
    treated as known (``U_i(0) = 0``) when subjects start in different states. CI: ``conf_type`` on ``p`` as R
    (``log`` default: ``p exp(+-z se / p)`` capped at 1).

    Parameters
    ----------
    intervals : pl.DataFrame
        Counting-process rows (see :func:`pathway_intervals`): ``start < stop``,
        ``from_state`` in ``states``, ``to_state`` in ``states`` or ``censor_code``.
    states : sequence of str
        All states, in output order.
    group : str, optional
        Separate estimates per group (sorted labels; ``"all"`` without it).
    weights : str, optional
        Case weights, constant within a subject.

    Returns
    -------
    pl.DataFrame
        Long: ``group, time, state, n_risk, pstate, std_err, lower, upper``, one row per
        distinct stop time and state, in time then ``states`` order. ``n_risk`` is the
        unweighted number in that state at risk just before ``time``.
    """
    v.check_frame(intervals, [start, stop, from_state, to_state, id, group, weights])
    conf_level = v.conf_level_ok(conf_level)
    conf_type = v.conf_type_ok(conf_type)
    states = list(states)
    if len(set(states)) != len(states) or censor_code in states:
        raise ValueError("states must be distinct and must not contain the censoring code")
    a = v.numeric(intervals, start)
    b = v.numeric(intervals, stop)
    if (b <= a).any():
        raise ValueError(f"every interval needs {start} < {stop}")
    code = {s: i for i, s in enumerate(states)}
    fr = intervals.get_column(from_state).cast(pl.String).to_list()
    tt = intervals.get_column(to_state).cast(pl.String).to_list()
    bad = sorted({s for s in fr if s not in code} | {s for s in tt if s not in code and s != censor_code})
    if bad:
        raise ValueError(f"unknown state(s) {bad}; states are {states} (censored: {censor_code!r})")
    frm = np.array([code[s] for s in fr], dtype=np.int64)
    to = np.array([code.get(s, -1) for s in tt], dtype=np.int64)
    if ((to >= 0) & (to == frm)).any():
        raise ValueError("a transition must change the state")
    w = np.ones(intervals.height) if weights is None else v.weights_array(intervals, weights)
    ids = intervals.get_column(id).to_numpy()
    labels = ["all"] if group is None else intervals.get_column(group).cast(pl.String).unique().sort().to_list()
    gcol = None if group is None else intervals.get_column(group).cast(pl.String).to_numpy()
    pieces = []
    for g in labels:
        sel = np.ones(intervals.height, bool) if gcol is None else gcol == g
        times, n, pst, se = _aj_one(a[sel], b[sel], frm[sel], to[sel], ids[sel], w[sel], len(states))
        pf, sef = pst.ravel(), se.ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            se_log = np.where(sef == 0, 0.0, sef / pf)
        lo, hi = confint(pf, se_log, conf_level, conf_type)
        pieces.append(pl.DataFrame({
            "group": [g] * pf.size, "time": np.repeat(times, len(states)),
            "state": states * times.size, "n_risk": n.ravel(), "pstate": pf, "std_err": sef,
            "lower": pl.Series(lo, nan_to_null=True), "upper": pl.Series(hi, nan_to_null=True)}))
    return pl.concat(pieces).select(MS_COLUMNS)


def occupation_at(so: pl.DataFrame, times: Sequence[float]) -> pl.DataFrame:
    """State occupation at given times (step function: the last row at or before each
    time). Times before a group's first row (the starting distribution is not in ``so``)
    or after its last row (no longer estimated) are left out. Returns ``so``'s columns
    with ``time`` = the asked time."""
    out = []
    for (g,), part in so.group_by(["group"], maintain_order=True):
        ts = np.unique(part.get_column("time").to_numpy())
        for t in times:
            k = np.searchsorted(ts, t, side="right") - 1
            if k < 0 or t > ts[-1]:
                continue
            out.append(part.filter(pl.col("time") == ts[k]).with_columns(pl.lit(float(t)).alias("time")))
    return pl.concat(out) if out else so.head(0)
