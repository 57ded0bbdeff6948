"""Survival (planned)."""

from dashboard.ui.page import page_setup, planned_page

ctx = page_setup("Survival", icon=":material/show_chart:")
planned_page(ctx, [
    "Kaplan-Meier curves with numbers at risk for organ-preservation survival (OPS), event-free (EFS), disease-free (DFS, salvage-adjusted and strict), distant-metastasis-free (DMFS) and overall survival (OS)",
    "Estimates at 12, 24 and 36 months with confidence intervals, medians, and log-rank comparisons by initial strategy, restaging response and tumour site",
    "A choice of time origin: first immunotherapy dose (T0) or strategy decision (T1), with a warning when groups defined after T0 are compared from T0 (immortal-time bias)",
    "Cumulative incidence of local regrowth under Watch & Wait, with distant metastasis and death as competing events",
])
