"""Patient timeline (planned)."""

from dashboard.ui.page import page_setup, planned_page

ctx = page_setup("Patient timeline", icon=":material/timeline:")
planned_page(ctx, [
    "One patient's course on a time axis from the first immunotherapy dose: immunotherapy cycles, restaging and surveillance examinations, strategy episodes, procedures, oncological events and last follow-up",
    "A swimmer plot of the selected patients",
])
