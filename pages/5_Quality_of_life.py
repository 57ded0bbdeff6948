"""Quality of life (planned)."""

from dashboard.ui.page import page_setup, planned_page

ctx = page_setup("Quality of life", icon=":material/self_improvement:")
planned_page(ctx, [
    "LARS score categories (no / minor / major) for patients with bowel continuity",
    "EORTC QLQ-C30 and site modules (CR29, STO22, OES18) over time from baseline to 36 months, by strategy group, with the 10-point meaningful-change band",
    "Wexner incontinence score",
])
