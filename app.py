"""Organ-preservation registry dashboard: home page with the registry at a glance."""

import streamlit as st

from dashboard.queries.overview import select_counts_by, select_population_counts
from dashboard.schema import BIOMARKER_BASIS, COHORT, STRATEGY_GROUP, TUMOUR_SITE
from dashboard.ui.data import store_or_stop
from dashboard.ui.provenance import data_source_banner

st.set_page_config(page_title="Organ-preservation registry", page_icon=":material/monitoring:", layout="wide")

store = store_or_stop()
st.title("Organ preservation after neoadjuvant immunotherapy")
st.caption("dMMR/MSI-H or POLE-mutated colorectal, gastric and gastro-oesophageal junction cancer")
data_source_banner(store)

counts = select_population_counts(store)
c = st.columns(5)
c[0].metric("Registered", f"{counts['registered']:,}")
c[1].metric("Eligible", f"{counts['eligible']:,}")
c[2].metric("Received immunotherapy", f"{counts['treated']:,}")
c[3].metric("Full analysis set", f"{counts['analysis']:,}")
c[4].metric("Organ in place at last contact", f"{counts['organ_in_place']:,}")

cols = st.columns(4)
for col, (title, column, vocab) in zip(
    cols,
    [
        ("Registry part", "cohort", COHORT),
        ("Tumour site", "tumour_site", TUMOUR_SITE),
        ("Biomarker", "biomarker_basis", BIOMARKER_BASIS),
        ("Initial strategy", "initial_group", STRATEGY_GROUP),
    ],
):
    df = select_counts_by(store, column)
    col.subheader(title)
    col.dataframe(
        {"": [vocab.label(v) for v in df["value"]], "Patients": df["n"].to_list()},
        hide_index=True,
        use_container_width=True,
    )
