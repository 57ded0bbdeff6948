"""Data (planned)."""

from dashboard.ui.page import page_setup, planned_page

ctx = page_setup("Data", icon=":material/table:")
planned_page(ctx, [
    "Provenance of the data on screen (source, build date, content hash) and row counts per table",
    "The data dictionary and endpoint definitions",
    "Downloads of the filtered subject-level and time-to-event tables",
])
