"""Survival and organ-preservation results as display cells (strings) and CSV frames.

One formatting rule per quantity, used by every table and figure label, so the number on
screen, in hover text and in the test that checks it are the same string.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import polars as pl

from ..i18n import N_, _
from ..stats.summaries import CompetingSummary, CoxFit, IptwSummary, SurvivalSummary
from ..stats.cox import not_estimable_text

DASH = "–"  # en dash between CI limits
NE = "NE"  # not estimable / not reached (kept in Latin script in Chinese tables too, as papers do)
# A column the page code reads by this English name: the frame keeps it, the export and
# display doors translate it (tables.export.translate_headers).
HR_UNADJUSTED = N_("HR (95% CI), unadjusted")


def _ok(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def format_pct(x: float | None, digits: int = 1) -> str:
    """A probability as a percentage: ``0.8234`` -> ``"82.3%"``; ``NE`` when missing."""
    return f"{100 * x:.{digits}f}%" if _ok(x) else NE


def format_pct_ci(est: float | None, lower: float | None, upper: float | None, digits: int = 1) -> str:
    """``"82.3% (78.1–86.0)"``; the CI is ``NE`` where a limit is not estimable."""
    if not _ok(est):
        return NE
    ci = f"{100 * lower:.{digits}f}{DASH}{100 * upper:.{digits}f}" if _ok(lower) and _ok(upper) else NE
    return f"{100 * est:.{digits}f}% ({ci})"


def format_months(x: float | None) -> str:
    return f"{x:.1f}" if _ok(x) else NE


def format_median_ci(median: float | None, lower: float | None, upper: float | None) -> str:
    """Median months with CI: ``"24.3 (18.0–NE)"``; ``"Not reached (30.1–NE)"``."""
    head = format_months(median) if _ok(median) else _("Not reached")
    if not _ok(lower) and not _ok(upper):
        return head
    return f"{head} ({format_months(lower)}{DASH}{format_months(upper)})"


def format_p(p: float | None) -> str:
    """``<0.001`` or three decimals."""
    if not _ok(p):
        return NE
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_p_eq(p: float | None) -> str:
    """``"p < 0.001"`` or ``"p = 0.012"`` for running text."""
    text = format_p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def format_hr(hr: float | None, lower: float | None, upper: float | None) -> str:
    """``"0.58 (0.37–0.91)"``."""
    if not _ok(hr):
        return NE
    return f"{hr:.2f} ({lower:.2f}{DASH}{upper:.2f})"


def format_count(x: float) -> str:
    """A count, or a summed weight rounded to a whole number."""
    return f"{x:,.0f}" if _ok(x) else ""


# ------------------------------------------------------------------ survival
def format_survival_table(s: SurvivalSummary, label: Callable[[str], str]) -> pl.DataFrame:
    """One row per group: ``Group``, ``Patients``, ``Events``, ``Median, months (95% CI)``
    and ``{t} months (95% CI)`` per reporting time. Strings only."""
    lvl = f"{100 * s.options.conf_level:g}% CI"
    med_col = _("Median, months ({level})").format(level=lvl)
    med = {r["group"]: r for r in s.median_.iter_rows(named=True)}
    at = {(r["group"], r["time"]): r for r in s.at_times_.iter_rows(named=True)}
    rows = []
    for g in s.groups_.iter_rows(named=True):
        m = med.get(g["group"], {})
        row = {_("Group"): label(g["group"]), _("Patients"): f"{g['n']:,}", _("Events"): f"{g['events']:,}",
               med_col: format_median_ci(m.get("median"), m.get("lower"), m.get("upper"))}
        for t in s.options.times:
            r = at.get((g["group"], float(t)))
            row[_("{t} months ({level})").format(t=f"{t:g}", level=lvl)] = (
                format_pct_ci(r["survival"], r["lower"], r["upper"]) if r else NE)
        rows.append(row)
    return pl.DataFrame(rows)


def _hr_cell(r: dict, fit: CoxFit, label: Callable[[str], str]) -> tuple[str, str]:
    """HR and p cells of one comparison; "not estimable: k events" where a side has too few."""
    if r["hr"] is None and r.get("events") is not None:
        few_ref, few_own = r["ref_events"] < fit.min_events, r["events"] < fit.min_events
        if few_own and few_ref:
            k = int(round(r["ref_events"]))
            return _("{text} ({k} in {reference})").format(text=not_estimable_text(r["events"]), k=k,
                                                            reference=label(r["reference"])), ""
        if few_ref:
            return not_estimable_text(r["ref_events"], label(r["reference"])), ""
        if few_own:
            return not_estimable_text(r["events"]), ""
    return format_hr(r["hr"], r["lower"], r["upper"]), format_p(r["p_value"])


def format_cox_table(unadj: CoxFit, adj: CoxFit | None, label: Callable[[str], str]) -> pl.DataFrame | None:
    """Hazard ratios vs the reference group: ``Comparison``, ``HR (95% CI)``, ``p``, and the
    adjusted pair when an adjusted model was fitted. A comparison where the group or the
    reference has fewer than ``MIN_EVENTS_FOR_HR`` events reads "not estimable: k events".
    The unadjusted HR column keeps its English name (:data:`HR_UNADJUSTED`, read by the
    page code); the other headers are in the current language."""
    if unadj.table is None:
        return None
    adj_rows = {r["term"]: r for r in adj.table.iter_rows(named=True)} if adj is not None and adj.table is not None else {}
    rows = []
    for r in unadj.table.iter_rows(named=True):
        hr, p = _hr_cell(r, unadj, label)
        row = {_("Comparison"): _("{group} vs {reference}").format(group=label(r["term"]),
                                                                   reference=label(r["reference"])),
               HR_UNADJUSTED: hr, _("p, unadjusted"): p}
        if adj is not None:
            a = adj_rows.get(r["term"])
            ahr, ap = _hr_cell(a, adj, label) if a else (NE, NE)
            row[_("HR (95% CI), adjusted")] = ahr
            row[_("p, adjusted")] = ap
        rows.append(row)
    return pl.DataFrame(rows)


def with_labels(frame: pl.DataFrame, label: Callable[[str], str], column: str = "group",
                out: str = "group_label") -> pl.DataFrame:
    """Add a display-label column for the codes in ``column``."""
    codes = frame.get_column(column).unique().to_list()
    return frame.with_columns(pl.col(column).replace_strict({c: label(c) for c in codes}, return_dtype=pl.String)
                              .alias(out))


def km_csv(km: pl.DataFrame, label: Callable[[str], str]) -> pl.DataFrame:
    """The KM step table behind a figure, with group labels (one row per distinct time)."""
    return with_labels(km, label).select(
        "group", "group_label", "time", "n_risk", "n_event", "n_censor", "survival", "std_err", "lower", "upper")


def format_risk_cells(risk: pl.DataFrame, with_events: bool, kmunicate: bool = False) -> pl.DataFrame:
    """At-risk table cells: ``"120"`` or, with events, ``"120 (5/3)"`` = at risk
    (cumulative events / cumulative censored). ``kmunicate`` adds the KMunicate rows'
    cells: ``censored_text`` and ``events_text`` (cumulative counts at each time)."""
    def cell(r: dict) -> str:
        base = format_count(r["n_risk"])
        if not with_events:
            return base
        cens = format_count(r["cum_censored"]) if _ok(r["cum_censored"]) else "-"
        return f"{base} ({format_count(r['cum_events'])}/{cens})"

    out = risk.with_columns(pl.Series("text", [cell(r) for r in risk.iter_rows(named=True)], dtype=pl.String))
    if kmunicate:
        out = out.with_columns(
            pl.Series("censored_text", [format_count(x) if _ok(x) else "-" for x in risk["cum_censored"]], dtype=pl.String),
            pl.Series("events_text", [format_count(x) for x in risk["cum_events"]], dtype=pl.String))
    return out


# ------------------------------------------------------------------ competing risks
def format_competing_table(c: CompetingSummary, label: Callable[[str], str], times: Sequence[float]) -> pl.DataFrame:
    """Per group: patients, regrowths, competing events and CIF of regrowth (and of the
    competing events) at each time, ``"5.6% (4.3–7.3)"``."""
    at = {(r["cause"], r["group"], r["time"]): r for r in c.at_times_.iter_rows(named=True)}
    rows = []
    for g in c.groups_.iter_rows(named=True):
        row = {_("Group"): label(g["group"]), _("Patients"): f"{g['n']:,}", _("Regrowths"): f"{g['regrowths']:,}",
               _("Distant metastasis or death first"): f"{g['competing']:,}"}
        for cause, name in (("REGROWTH", N_("Regrowth, {t} months")), ("COMPETING", N_("Competing, {t} months"))):
            for t in times:
                r = at.get((cause, g["group"], float(t)))
                row[_(name).format(t=f"{t:g}")] = format_pct_ci(r["cif"], r["lower"], r["upper"]) if r else NE
        rows.append(row)
    return pl.DataFrame(rows)


# ------------------------------------------------------------------ IPTW
def format_balance_table(iptw: IptwSummary, label: Callable[[str], str]) -> pl.DataFrame:
    """``Covariate``, ``SMD before``, ``SMD after`` (two decimals, absolute values)."""
    return pl.DataFrame({
        _("Covariate"): [label(c) for c in iptw.balance_.get_column("covariate")],
        _("|SMD| before weighting"): [f"{abs(x):.3f}" if _ok(x) else NE for x in iptw.balance_.get_column("smd_before")],
        _("|SMD| after weighting"): [f"{abs(x):.3f}" if _ok(x) else NE for x in iptw.balance_.get_column("smd_after")],
    })


# ------------------------------------------------------------------ organ preservation
def format_organ_table(summary: pl.DataFrame, subgroup_label: Mapping[str, str],
                       level_label: Callable[[str, str], str], times: Sequence[float], horizon: float) -> pl.DataFrame:
    """Display rows of :func:`~dashboard.stats.summaries.summarize_organ_preservation`."""
    rows = []
    for r in summary.iter_rows(named=True):
        row = {
            _("Subgroup"): _("Overall") if r["subgroup"] == "overall" else subgroup_label[r["subgroup"]],
            _("Level"): _("All patients") if r["subgroup"] == "overall" else level_label(r["subgroup"], r["level"]),
            _("Patients"): f"{r['n']:,}",
            _("Crude, {horizon} months (95% CI)").format(horizon=f"{horizon:g}"): (
                f"{r['preserved']}/{r['evaluable']} = " + format_pct_ci(r["crude"], r["crude_lower"], r["crude_upper"])
                if r["evaluable"] else NE),
            _("Not evaluable"): f"{r['not_evaluable']:,}",
        }
        for t in times:
            k = f"km{t:g}"
            row[_("KM {t} months (95% CI)").format(t=f"{t:g}")] = format_pct_ci(r[k], r[k + "_lower"], r[k + "_upper"])
        rows.append(row)
    return pl.DataFrame(rows)


def format_rates_table(rates: pl.DataFrame, labels: Mapping[str, tuple[str, str]]) -> pl.DataFrame:
    """``Outcome``, ``Among``, ``n/N``, ``% (95% CI)`` for :func:`summarize_rates` output;
    ``labels[key] = (outcome, denominator description)``."""
    rows = []
    for r in rates.iter_rows(named=True):
        what, among = labels[r["key"]]
        rows.append({_("Outcome"): what, _("Among"): among, "n / N": f"{r['successes']:,} / {r['n']:,}",
                     "% (95% CI)": format_pct_ci(r["estimate"], r["lower"], r["upper"]) if r["n"] else NE})
    return pl.DataFrame(rows)
