"""Quality-of-life summaries -> display tables (strings), one row per strategy group and
timepoint. Pure: frames in, frames out."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from ..i18n import N_, _
from ..schema import LARS_CATEGORIES, QOL_TIMEPOINT, STRATEGY_GROUP

LARS_SHORT = {"NO_LARS": N_("No LARS"), "MINOR": N_("Minor LARS"), "MAJOR": N_("Major LARS")}


def _ci(v, lo, hi, digits: int = 1) -> str:
    if v is None:
        return "-"
    if lo is None or hi is None:
        return f"{v:.{digits}f}"
    return _("{value} ({lower} to {upper})").format(value=f"{v:.{digits}f}", lower=f"{lo:.{digits}f}",
                                                    upper=f"{hi:.{digits}f}")


def _count_pct(x, n) -> str:
    if x is None or not n:
        return "-"
    return f"{x:,} ({100 * x / n:.0f}%)"


def format_scale_table(summary: pl.DataFrame, *, mcid: float) -> pl.DataFrame:
    """Completion, mean (95% CI), change from baseline (95% CI), meaningful improvement
    and worsening per group and timepoint, from ``summarize_scale``."""
    rows = []
    for r in summary.iter_rows(named=True):
        base = r["timepoint"] == "BASELINE"
        rows.append({
            _("Strategy group"): STRATEGY_GROUP.label(r["group"]),
            _("Timepoint"): QOL_TIMEPOINT.label(r["timepoint"]),
            _("Answered / expected"): f"{r['n_answered']} / {r['n_expected']}",
            _("Completion"): "-" if r["completion"] is None else f"{100 * r['completion']:.0f}%",
            "n": r["n"],
            _("Mean (95% CI)"): _ci(r["mean"], r["lower"], r["upper"]),
            _("Change from baseline (95% CI)"): _("reference") if base else _ci(r["mean_change"], r["change_lower"],
                                                                                r["change_upper"]),
            _("n with baseline"): "" if base else str(r["n_change"]),
            _("Improved >= {mcid}").format(mcid=f"{mcid:g}"): "" if base else _count_pct(r["n_improved"], r["n_change"]),
            _("Worsened >= {mcid}").format(mcid=f"{mcid:g}"): "" if base else _count_pct(r["n_worsened"], r["n_change"]),
        })
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def format_lars_table(summary: pl.DataFrame) -> pl.DataFrame:
    """n, mean (95% CI) and n (%) per LARS category per group and timepoint, from
    ``summarize_lars``."""
    rows = []
    for r in summary.iter_rows(named=True):
        row = {_("Strategy group"): STRATEGY_GROUP.label(r["group"]),
               _("Timepoint"): QOL_TIMEPOINT.label(r["timepoint"]),
               "n": r["n"], _("Mean LARS score (95% CI)"): _ci(r["mean"], r["lower"], r["upper"])}
        for c, lo, hi in LARS_CATEGORIES:
            row[f"{_(LARS_SHORT[c])} ({lo:g}-{hi:g})"] = _count_pct(r[f"n_{c}"], r["n"])
        row[_("Excluded: stoma in place")] = r.get("n_excluded_stoma", 0)
        rows.append(row)
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def format_stoma_table(summary: pl.DataFrame, months: Sequence[int] = (0, 3, 6, 12, 24, 36)) -> pl.DataFrame:
    """One row per group, one column per month: ``with stoma / followed (%)``."""
    rows = []
    for g in STRATEGY_GROUP.codes:
        d = summary.filter(pl.col("group") == g)
        if d.height == 0:
            continue
        by_month = {r["month"]: r for r in d.iter_rows(named=True)}
        row = {_("Strategy group"): STRATEGY_GROUP.label(g)}
        for m in months:
            r = by_month.get(m)
            row[_("Month {m}").format(m=m)] = "-" if r is None else f"{r['n_stoma']:,} / {r['n']:,} ({100 * r['share']:.0f}%)"
        rows.append(row)
    return pl.DataFrame(rows) if rows else pl.DataFrame()
