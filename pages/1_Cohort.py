"""Cohort: patient flow, strategy transitions, baseline characteristics."""

from dashboard.ui.cohort import OPTIONS, cohort_body
from dashboard.ui.page import N_, page_setup

ctx = page_setup(N_("Cohort"), icon=":material/groups:", options=OPTIONS)
cohort_body(ctx)
