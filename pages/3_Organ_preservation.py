"""Organ preservation (planned)."""

from dashboard.ui.page import page_setup, planned_page

ctx = page_setup("Organ preservation", icon=":material/favorite:")
planned_page(ctx, [
    "Organ-preservation rate up to 3 years: crude proportion with an exact confidence interval and the Kaplan-Meier estimate at 12, 24 and 36 months",
    "Organ preservation by restaging response (cCR vs near-cCR), tumour site and immunotherapy regimen",
    "Sustained cCR at 12 months after the last immunotherapy dose",
    "Timing of regrowths and of organ loss (salvage and completion surgery)",
])
