"""Data: the current dataset, data quality, import (data managers) and the audit trail."""

from dashboard.ui.data_page import data_page
from dashboard.ui.page import N_, page_setup

ctx = page_setup(N_("Data"), icon=":material/table:")
data_page(ctx)
