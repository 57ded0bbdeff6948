"""Safety: immunotherapy adverse events, immune-related events, procedure complications."""

from dashboard.ui.page import N_, page_setup
from dashboard.ui.safety import OPTIONS, safety_body

ctx = page_setup(N_("Safety"), icon=":material/health_and_safety:", options=OPTIONS)
safety_body(ctx)
