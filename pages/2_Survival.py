"""Survival: Kaplan-Meier by group, regrowth with competing risks, weighted comparison."""

from dashboard.ui.page import N_, page_setup
from dashboard.ui.survival import OPTIONS, survival_body

ctx = page_setup(N_("Survival"), icon=":material/show_chart:", options=OPTIONS)
survival_body(ctx)
