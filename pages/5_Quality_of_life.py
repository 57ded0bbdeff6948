"""Quality of life: EORTC scales over time, LARS, living with a stoma, by strategy group."""

from dashboard.ui.page import page_setup
from dashboard.ui.qol import OPTIONS, qol_body

ctx = page_setup("Quality of life", icon=":material/self_improvement:", options=OPTIONS)
qol_body(ctx)
