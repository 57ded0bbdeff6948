"""Safety (planned)."""

from dashboard.ui.page import page_setup, planned_page

ctx = page_setup("Safety", icon=":material/health_and_safety:")
planned_page(ctx, [
    "Immunotherapy adverse events (CTCAE v5) by system organ class and preferred term, any grade and grade 3 or higher, per strategy group, each patient counted once at the worst grade",
    "Immune-related events, steroid use and effect on planned surgery",
    "Procedure complications (Clavien-Dindo), anastomotic leak (ISREC), 30- and 90-day mortality, length of stay, stomas and closure",
])
