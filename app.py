"""Organ-preservation registry dashboard: home page (registry at a glance)."""

from dashboard.ui.overview import overview_body
from dashboard.ui.page import N_, page_setup

ctx = page_setup(
    N_("Registry overview"),
    icon=":material/monitoring:",
    subtitle=N_("NOR-MP: organ preservation after neoadjuvant immunotherapy for dMMR/MSI-H or POLE-mutated colorectal, gastric and gastro-oesophageal junction cancer"),
)
overview_body(ctx)
