"""Quality of life: EORTC scales over time, LARS, living with a stoma, by strategy group."""

from dashboard.ui.page import N_, page_setup
from dashboard.ui.qol import OPTIONS, qol_body

ctx = page_setup(N_("Quality of life"), icon=":material/self_improvement:", options=OPTIONS)
qol_body(ctx)
