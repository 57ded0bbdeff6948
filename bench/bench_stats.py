"""Benchmark dashboard.stats against lifelines on the same synthetic data.

Usage: python bench/bench_stats.py --n 1000000 [--times 4800] [--skip-cox]

Prints one row per analysis: our time, lifelines' time, their ratio and the largest
absolute difference between the two estimates (AJ compared on tie-free data subsets is
not possible at scale, so lifelines' jittered AJ differs by up to the jitter effect).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import polars as pl

from dashboard.stats import cox_model, cumulative_incidence, kaplan_meier, logrank_test


def timed(fn, repeats: int = 5):
    """Result and the best of ``repeats`` wall times (as timeit: the least disturbed run;
    the first call of a process also pays one-off warm-up costs)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def make_data(n: int, n_times: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    grp = rng.integers(0, 3, n)
    x = rng.normal(size=n)
    age = rng.uniform(30, 80, n)
    t_ev = rng.exponential(30 / np.exp(0.2 * grp + 0.3 * x), n)
    t_c = rng.uniform(0, 60, n)
    t = np.minimum(t_ev, t_c)
    if n_times:
        t = np.ceil(t / t.max() * n_times)  # n_times distinct values: realistic ties
    cause = np.where(t_ev <= t_c, rng.integers(1, 3, n), 0)
    return pl.DataFrame({
        "time": t, "status": (cause > 0).astype(np.int64), "cause": cause,
        "grp": np.array(["A", "B", "C"])[grp], "x": x, "age": age,
    })


def compare(df: pl.DataFrame, *, skip_cox: bool = False, km_times: dict[str, str] | None = None) -> list[dict]:
    """Time our statistics and lifelines' on ``df`` (columns time, status, cause, grp,
    x, age) and report the speed-up and the largest difference between the estimates.
    ``km_times``: label -> column of the same follow-up in another unit, for extra KM rows
    (whole-number times, e.g. days, take a counting path; fractional ones a hash group-by)."""
    warnings.simplefilter("ignore")
    from lifelines import AalenJohansenFitter, CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    pdf = df.to_pandas()
    t, e = pdf["time"].to_numpy(), pdf["status"].to_numpy()
    rows = []

    for label, col in (("", "time"), *((f" ({k})", c) for k, c in (km_times or {}).items())):
        tk = pdf[col].to_numpy()
        km, a = timed(lambda: kaplan_meier(df, col, "status"))
        kmf, b = timed(lambda: KaplanMeierFitter().fit(tk, e))
        times = km["time"].to_numpy()  # align on time: lifelines adds a t=0 row unless 0 is a data time
        diff = np.max(np.abs(km["survival"].to_numpy() - kmf.survival_function_.loc[times].iloc[:, 0].to_numpy()))
        ci = kmf.confidence_interval_.loc[times].iloc[:, 0].to_numpy()
        lo = km["lower"].fill_null(np.nan).to_numpy()
        ok = ~np.isnan(lo)
        diff = max(diff, np.max(np.abs(lo[ok] - ci[ok])))
        rows.append((f"KM with log-log CI{label}", a, b, diff))

    lr, a = timed(lambda: logrank_test(df, "time", "status", "grp"))
    ll, b = timed(lambda: multivariate_logrank_test(t, pdf["grp"].to_numpy(), e))
    rows.append((f"log-rank, {df['grp'].n_unique()} groups", a, b, abs(lr.statistic - ll.test_statistic)))

    cif, a = timed(lambda: cumulative_incidence(df, "time", "cause", 1))
    ajf = AalenJohansenFitter(calculate_variance=True, seed=1)
    _, b = timed(lambda: ajf.fit(t, pdf["cause"].to_numpy(), event_of_interest=1))
    # lifelines jitters ties, so compare at our time points by step lookup
    ll_t = ajf.cumulative_density_.index.to_numpy()
    ll_v = ajf.cumulative_density_.iloc[:, 0].to_numpy()
    ours_t = cif["time"].to_numpy()
    idx = np.searchsorted(ll_t, ours_t + 1e-6, side="right") - 1
    rows.append(("Aalen-Johansen + variance", a, b, np.max(np.abs(cif["cif"].to_numpy() - ll_v[idx]))))

    if not skip_cox:
        cx, a = timed(lambda: cox_model(df, "time", "status", ["x", "age"]), 1)
        cph = CoxPHFitter()
        _, b = timed(lambda: cph.fit(pdf[["time", "status", "x", "age"]], "time", "status"), 1)
        rows.append(("Cox, 2 covariates (Efron)", a, b,
                     np.max(np.abs(cx.table["coef"].to_numpy() - cph.params_.to_numpy()))))
    return [{"analysis": name, "ours_s": a, "lifelines_s": b, "speedup": b / a, "max_abs_diff": float(d)}
            for name, a, b, d in rows]


def print_table(rows: list[dict]) -> None:
    print(f"{'analysis':38s} {'ours (s)':>9s} {'lifelines (s)':>14s} {'speed-up':>9s} {'max |diff|':>11s}")
    for r in rows:
        print(f"{r['analysis']:38s} {r['ours_s']:9.3f} {r['lifelines_s']:14.3f} {r['speedup']:8.1f}x {r['max_abs_diff']:11.2e}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--times", type=int, default=4800, help="distinct times (0 = all distinct)")
    ap.add_argument("--skip-cox", action="store_true")
    args = ap.parse_args()
    rows = compare(make_data(args.n, args.times), skip_cox=args.skip_cox)
    print(f"n = {args.n:,}, distinct times = {args.times or 'all'}")
    print_table(rows)


if __name__ == "__main__":
    main()
