"""Organ preservation: crude and Kaplan-Meier rates by subgroup, response rates, swimmer plot."""

from dashboard.ui.organ import OPTIONS, organ_body
from dashboard.ui.page import N_, page_setup

ctx = page_setup(N_("Organ preservation"), icon=":material/favorite:", options=OPTIONS)
organ_body(ctx)
