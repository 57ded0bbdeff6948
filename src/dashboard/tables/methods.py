"""Display tables of the methods views (pure: results in, formatted frames out)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from ..stats.comparative import ComparisonSummary
from ..stats.finegray import FineGrayResult, GrayTest
from ..stats.mmrm import MmrmResult
from ..stats.noninferiority import NI_MARGIN_SOURCE
from .survival import DASH, format_hr, format_p, format_p_eq

METHOD_TEXT = {
    "iptw": "inverse-probability-of-treatment weights (stabilised, average treatment effect)",
    "overlap": "overlap weights (Li, Morgan & Zaslavsky 2018; the population in clinical equipoise)",
    "matching": "1:1 nearest-neighbour propensity-score matching without replacement",
}
VERDICT_TEXT = {
    "superior": "superior (upper limit below 1)",
    "non-inferior": "non-inferior (upper limit below the margin)",
    "inconclusive": "not shown non-inferior (the interval crosses the margin)",
    "inferior": "inferior beyond the margin (lower limit above the margin)",
}


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
    zero = ("the strategy decision (T1)" if not tt.landmark
            else f"{tt.landmark:g} months after the strategy decision (landmark); patients with the event or "
                 "without follow-up by then are not eligible")
    elig = "; ".join(f"{k}: {v:,}" for k, v in tt.eligible.items())
    excl = "; ".join(f"{k}: {v:,}" for k, v in tt.not_eligible.items() if v)
    adjust = METHOD_TEXT[tt.method]
    if tt.method == "matching":
        adjust += f", caliper {tt.caliper:g} SD of the propensity score"
    if tt.trim:
        adjust += "; patients with a propensity score outside 0.1-0.9 excluded (Crump's rule of thumb)"
    if tt.truncate and tt.method == "iptw":
        adjust += "; weights truncated at their 99th percentile"
    rows = [
        ("Eligibility", "Full analysis set with a strategy decision after neoadjuvant immunotherapy, fit for either strategy",
         f"Full analysis set under the sidebar filters with an organ-preserving or radical first strategy at T1 "
         f"({elig})" + (f". Not in the comparison: {excl}" if excl else "")),
        ("Treatment strategies", "Organ preservation first (Watch & Wait or local / endoscopic excision, with salvage "
         "surgery on regrowth) versus radical surgery", "Initial strategy group recorded at T1: NOM or OPFS versus RO"),
        ("Assignment", "Randomised", "Chosen by the MDT, not randomised: the arms are made comparable on "
         f"{', '.join(tt.covariates)} by {adjust}, and on nothing else (no adjustment for unmeasured confounding; "
         "see the E-values)"),
        ("Outcome", tt.endpoint_label, tt.endpoint_definition),
        ("Follow-up start (time zero)", "Randomisation", f"At {zero}; the strategy is known at time zero, so there "
         "is no immortal time"),
        ("Follow-up end", "Event, loss to follow-up or end of study", "Event, last contact or data cut-off (censored)"),
        ("Causal contrast", "Intention-to-treat effect", "Observational analogue of the intention-to-treat effect: "
         "strategy as assigned at time zero, whatever happened later (salvage surgery stays in the organ-preservation "
         "arm)"),
        ("Analysis", "Cox hazard ratio", "Cox model of the arm, weighted with the robust SE (matched: SE clustered on pairs); "
         f"non-inferiority if the upper 95% limit is below the margin {tt.margin:g} ({NI_MARGIN_SOURCE}; the margin "
         "is the user's choice)"),
    ]
    return pl.DataFrame(rows, schema=["Protocol element", "Target trial", "Emulation in this registry"], orient="row")


def format_comparison_table(c: ComparisonSummary, labels: Mapping[str, str]) -> pl.DataFrame:
    """Patients eligible / analysed / with events per arm."""
    rows = []
    for r in c.counts_.iter_rows(named=True):
        rows.append({"Arm": labels.get(r["group"], r["group"]), "Eligible": f"{r['eligible']:,}",
                     "Analysed": f"{r['analysed']:,}", "Events (analysed)": f"{r['events']:,}"})
    return pl.DataFrame(rows)


def format_ni_summary(c: ComparisonSummary) -> pl.DataFrame:
    """HR, CI, margin, verdict and E-values in one table."""
    ni, ev = c.noninferiority_, c.evalue_
    return pl.DataFrame({
        "Quantity": ["Hazard ratio (95% CI), organ preservation first vs radical surgery",
                     "Non-inferiority margin", "One-sided p (H0: HR ≥ margin)", "Conclusion",
                     "E-value, point estimate", "E-value, confidence limit closest to 1"],
        "Value": [format_hr(ni.hr, ni.lower, ni.upper), f"{ni.margin:g}", format_p(ni.p_value),
                  VERDICT_TEXT[ni.verdict], f"{ev.estimate:.2f}", f"{ev.limit:.2f}"],
    })


def format_gray_finegray(gray: GrayTest | None, fg: FineGrayResult | None, label: Callable[[str], str],
                         term_label: Callable[[str], str]) -> pl.DataFrame:
    """Gray's test and the Fine-Gray subdistribution hazard ratios in one table."""
    rows = []
    if gray is not None:
        rows.append({"Comparison": f"Gray's test, {len(gray.groups)} groups",
                     "Estimate (95% CI)": f"χ² = {gray.statistic:.2f}, df = {gray.df}", "p": format_p(gray.p_value)})
    if fg is not None:
        for r in fg.table.iter_rows(named=True):
            rows.append({"Comparison": f"Fine-Gray sHR: {term_label(r['term'])}",
                         "Estimate (95% CI)": format_hr(r["hr"], r["lower"], r["upper"]), "p": format_p(r["p_value"])})
    return pl.DataFrame(rows, schema={"Comparison": pl.String, "Estimate (95% CI)": pl.String, "p": pl.String})


def format_rate_table(rates: pl.DataFrame, labels: Mapping[str, str], level_labels: Mapping[str, str]) -> pl.DataFrame:
    """One row per group: patients, patient-years, then per event class events (patients)
    and the rate per 100 patient-years with its exact CI."""
    out = []
    for g in rates.get_column("group").unique(maintain_order=True).to_list():
        part = rates.filter(pl.col("group") == g)
        first = part.row(0, named=True)
        row = {"Group": labels.get(g, g), "Patients": f"{first['n_patients']:,}",
               "Patient-years": f"{first['patient_years']:,.1f}"}
        for r in part.iter_rows(named=True):
            lev = level_labels.get(r["level"], r["level"])
            row[f"{lev}: events (patients)"] = f"{r['n_events']:,} ({r['n_patients_with_event']:,})"
            row[f"{lev}: per 100 PY (95% CI)"] = ("NE" if r["rate"] is None else
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
            "Visit": visit_label(r["visit"]), "Group": labels.get(r["group"], r["group"]), "Patients": r["n"],
            "LS mean change (95% CI)": f"{r['estimate']:.1f} ({r['lower']:.1f} to {r['upper']:.1f})",
            f"Difference vs {labels.get(fit.reference, fit.reference)} (95% CI)":
                "reference" if d is None else f"{d['estimate']:.1f} ({d['lower']:.1f} to {d['upper']:.1f})",
            "p": "" if d is None else format_p(d["p_value"]),
        })
    return pl.DataFrame(rows)


__all__ = ["TargetTrial", "format_target_trial", "format_comparison_table", "format_ni_summary",
           "format_gray_finegray", "format_rate_table", "format_lsmeans_table", "format_p_eq"]
