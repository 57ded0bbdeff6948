"""Patient timeline: one patient's course, comparable patients, overdue W&W surveillance."""

from dashboard.ui.page import N_, page_setup
from dashboard.ui.patient import OPTIONS, patient_body, take_patient_param

url_patient = take_patient_param()  # before page_setup, which drops URL parameters it does not know
ctx = page_setup(N_("Patient timeline"), icon=":material/timeline:", options=OPTIONS)
patient_body(ctx, url_patient)
