"""Safety: immunotherapy adverse events, immune-related events, procedure complications."""

from dashboard.i18n import N_
from dashboard.ui.page import page_setup
from dashboard.ui.safety import OPTIONS, safety_body

ctx = page_setup(N_("Safety"), icon=":material/health_and_safety:", options=OPTIONS)
safety_body(ctx)
