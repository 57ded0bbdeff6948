"""Display tables of the methods views (pure: results in, formatted frames out)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from ..i18n import N_, _
from ..stats.comparative import ComparisonSummary
from ..stats.finegray import FineGrayResult, GrayTest
from ..stats.mmrm import MmrmResult
from ..stats.noninferiority import NI_MARGIN_SOURCE
from .survival import DASH, format_hr, format_p, format_p_eq

# Message ids (English): shown through ``_()``.
METHOD_TEXT = {
    "iptw": N_("inverse-probability-of-treatment weights (stabilised, average treatment effect)"),
    "overlap": N_("overlap weights (Li, Morgan & Zaslavsky 2018; the population in clinical equipoise)"),
    "matching": N_("1:1 nearest-neighbour propensity-score matching without replacement"),
}
VERDICT_TEXT = {
    "superior": N_("superior (upper limit below 1)"),
    "non-inferior": N_("non-inferior (upper limit below the margin)"),
    "inconclusive": N_("not shown non-inferior (the interval crosses the margin)"),
    "inferior": N_("inferior beyond the margin (lower limit above the margin)"),
}
# The protocol table's first column keeps this English name (the page code indexes it);
# the display and export doors translate it.
PROTOCOL_COLUMN = N_("Protocol element")


@dataclass(frozen=True)
class TargetTrial:
    """What the protocol summary states (all plain values, filled in by the page)."""

    endpoint_label: str
    endpoint_definition: str
    eligible: Mapping[str, int]  # arm label -> patients eligible at time zero
    not_eligible: Mapping[str, int]  # reason -> patients
    covariates: Sequence[str]  # labels
    method: str
    landmark: float
    trim: bool
    truncate: bool
    caliper: float
    margin: float


def format_target_trial(tt: TargetTrial) -> pl.DataFrame:
    """One-screen target-trial protocol summary (Hernán & Robins 2016): protocol element,
    the trial one would run, and how this registry emulates it."""
    zero = (_("the strategy decision (T1)") if not tt.landmark
            else _("{landmark} months after the strategy decision (landmark); patients with the event or "
                   "without follow-up by then are not eligible").format(landmark=f"{tt.landmark:g}"))
    elig = "; ".join(f"{k}: {v:,}" for k, v in tt.eligible.items())
    excl = "; ".join(f"{k}: {v:,}" for k, v in tt.not_eligible.items() if v)
    adjust = _(METHOD_TEXT[tt.method])
    if tt.method == "matching":
        adjust = _("{method}, caliper {caliper} SD of the propensity score").format(method=adjust,
                                                                                  caliper=f"{tt.caliper:g}")
    if tt.trim:
        adjust = _("{method}; patients with a propensity score outside 0.1-0.9 excluded (Crump's rule of "
                   "thumb)").format(method=adjust)
    if tt.truncate and tt.method == "iptw":
        adjust = _("{method}; weights truncated at their 99th percentile").format(method=adjust)
    emulated = _("Full analysis set under the sidebar filters with an organ-preserving or radical first strategy at "
                 "T1 ({eligible})").format(eligible=elig)
    if excl:
        emulated = _("{eligibility}. Not in the comparison: {excluded}").format(eligibility=emulated, excluded=excl)
    rows = [
        (_("Eligibility"), _("Full analysis set with a strategy decision after neoadjuvant immunotherapy, fit for "
                             "either strategy"), emulated),
        (_("Treatment strategies"), _("Organ preservation first (Watch & Wait or local / endoscopic excision, with "
                                      "salvage surgery on regrowth) versus radical surgery"),
         _("Initial strategy group recorded at T1: NOM or OPFS versus RO")),
        (_("Assignment"), _("Randomised"), _(
            "Chosen by the MDT, not randomised: the arms are made comparable on {covariates} by {method}, and on "
            "nothing else (no adjustment for unmeasured confounding; see the E-values)").format(
            covariates=", ".join(tt.covariates), method=adjust)),
        (_("Outcome"), tt.endpoint_label, tt.endpoint_definition),
        (_("Follow-up start (time zero)"), _("Randomisation"),
         _("At {zero}; the strategy is known at time zero, so there is no immortal time").format(zero=zero)),
        (_("Follow-up end"), _("Event, loss to follow-up or end of study"),
         _("Event, last contact or data cut-off (censored)")),
        (_("Causal contrast"), _("Intention-to-treat effect"), _(
            "Observational analogue of the intention-to-treat effect: strategy as assigned at time zero, whatever "
            "happened later (salvage surgery stays in the organ-preservation arm)")),
        (_("Analysis"), _("Cox hazard ratio"), _(
            "Cox model of the arm, weighted with the robust SE (matched: SE clustered on pairs); non-inferiority if "
            "the upper 95% limit is below the margin {margin} ({source}; the margin is the user's choice)").format(
            margin=f"{tt.margin:g}", source=_(NI_MARGIN_SOURCE))),
    ]
    return pl.DataFrame(rows, schema=[PROTOCOL_COLUMN, _("Target trial"), _("Emulation in this registry")],
                        orient="row")


def format_comparison_table(c: ComparisonSummary, labels: Mapping[str, str]) -> pl.DataFrame:
    """Patients eligible / analysed / with events per arm."""
    rows = []
    for r in c.counts_.iter_rows(named=True):
        rows.append({_("Arm"): labels.get(r["group"], r["group"]), _("Eligible"): f"{r['eligible']:,}",
                     _("Analysed"): f"{r['analysed']:,}", _("Events (analysed)"): f"{r['events']:,}"})
    return pl.DataFrame(rows)


def format_ni_summary(c: ComparisonSummary) -> pl.DataFrame:
    """HR, CI, margin, verdict and E-values in one table."""
    ni, ev = c.noninferiority_, c.evalue_
    return pl.DataFrame({
        _("Quantity"): [_("Hazard ratio (95% CI), organ preservation first vs radical surgery"),
                        _("Non-inferiority margin"), _("One-sided p (H0: HR ≥ margin)"), _("Conclusion"),
                        _("E-value, point estimate"), _("E-value, confidence limit closest to 1")],
        _("Value"): [format_hr(ni.hr, ni.lower, ni.upper), f"{ni.margin:g}", format_p(ni.p_value),
                     _(VERDICT_TEXT[ni.verdict]), f"{ev.estimate:.2f}", f"{ev.limit:.2f}"],
    })


def format_gray_finegray(gray: GrayTest | None, fg: FineGrayResult | None, label: Callable[[str], str],
                         term_label: Callable[[str], str]) -> pl.DataFrame:
    """Gray's test and the Fine-Gray subdistribution hazard ratios in one table."""
    rows = []
    comp, est = _("Comparison"), _("Estimate (95% CI)")
    if gray is not None:
        rows.append({comp: _("Gray's test, {k} groups").format(k=len(gray.groups)),
                     est: f"χ² = {gray.statistic:.2f}, df = {gray.df}", "p": format_p(gray.p_value)})
    if fg is not None:
        for r in fg.table.iter_rows(named=True):
            rows.append({comp: _("Fine-Gray sHR: {term}").format(term=term_label(r["term"])),
                         est: format_hr(r["hr"], r["lower"], r["upper"]), "p": format_p(r["p_value"])})
    return pl.DataFrame(rows, schema={comp: pl.String, est: pl.String, "p": pl.String})


def format_rate_table(rates: pl.DataFrame, labels: Mapping[str, str], level_labels: Mapping[str, str]) -> pl.DataFrame:
    """One row per group: patients, patient-years, then per event class events (patients)
    and the rate per 100 patient-years with its exact CI."""
    out = []
    for g in rates.get_column("group").unique(maintain_order=True).to_list():
        part = rates.filter(pl.col("group") == g)
        first = part.row(0, named=True)
        row = {_("Group"): labels.get(g, g), _("Patients"): f"{first['n_patients']:,}",
               _("Patient-years"): f"{first['patient_years']:,.1f}"}
        for r in part.iter_rows(named=True):
            lev = level_labels.get(r["level"], r["level"])
            row[_("{level}: events (patients)").format(level=lev)] = (
                f"{r['n_events']:,} ({r['n_patients_with_event']:,})")
            row[_("{level}: per 100 PY (95% CI)").format(level=lev)] = ("NE" if r["rate"] is None else
                                                  f"{r['rate']:.1f} ({r['lower']:.1f}{DASH}{r['upper']:.1f})")
        out.append(row)
    return pl.DataFrame(out)


def format_lsmeans_table(fit: MmrmResult, labels: Mapping[str, str], visit_label: Callable[[str], str]) -> pl.DataFrame:
    """LS mean change per visit and group, and the difference against the reference group."""
    diff = {(r["group"], r["visit"]): r for r in fit.differences.iter_rows(named=True)}
    rows = []
    for r in fit.lsmeans.iter_rows(named=True):
        d = diff.get((r["group"], r["visit"]))
        rows.append({
            _("Visit"): visit_label(r["visit"]), _("Group"): labels.get(r["group"], r["group"]), _("Patients"): r["n"],
            _("LS mean change (95% CI)"): _ci_to(r["estimate"], r["lower"], r["upper"]),
            _("Difference vs {reference} (95% CI)").format(reference=labels.get(fit.reference, fit.reference)):
                _("reference") if d is None else _ci_to(d["estimate"], d["lower"], d["upper"]),
            "p": "" if d is None else format_p(d["p_value"]),
        })
    return pl.DataFrame(rows)


def _ci_to(est: float, lower: float, upper: float) -> str:
    """``"-3.2 (-5.0 to -1.4)"`` in the current language."""
    return _("{value} ({lower} to {upper})").format(value=f"{est:.1f}", lower=f"{lower:.1f}", upper=f"{upper:.1f}")


__all__ = ["TargetTrial", "format_target_trial", "format_comparison_table", "format_ni_summary",
           "format_gray_finegray", "format_rate_table", "format_lsmeans_table", "format_p_eq"]
