"""Home page body: the filtered registry at a glance."""

from __future__ import annotations

import streamlit as st

from ..queries.cohort import select_counts_by_column, select_consort_flow
from ..schema import BIOMARKER_BASIS, COHORT, STRATEGY_GROUP, TUMOUR_SITE
from .data import cached_query
from .page import PageContext


def overview_body(ctx: PageContext) -> None:
    """Headline counts and the analysis set by registry part, site, biomarker, strategy."""
    flow = cached_query(select_consort_flow, ctx.store, ctx.filter)
    n_ici = flow.node("ici").n
    c = st.columns(4)
    c[0].metric("Registered", f"{flow.node('registered').n:,}")
    c[1].metric("Excluded", f"{flow.node('excluded').n:,}")
    c[2].metric("Full analysis set", f"{n_ici:,}")
    c[3].metric("cCR at restaging", f"{flow.node('response:CCR').n:,}")
    cols = [c for _ in range(2) for c in st.columns(2, gap="large")]
    for col, (title, column, vocab) in zip(
        cols,
        [("Registry part", "cohort", COHORT), ("Tumour site", "tumour_site", TUMOUR_SITE),
         ("Biomarker", "biomarker_basis", BIOMARKER_BASIS), ("Initial strategy", "initial_group", STRATEGY_GROUP)],
    ):
        df = cached_query(select_counts_by_column, ctx.store, ctx.filter, column)
        total = max(1, int(df["n"].sum()))
        col.markdown(f"**{title}**")
        col.dataframe(
            {title: [vocab.label(v) if v is not None else "Not yet assigned" for v in df["value"]],
             "Patients": df["n"].to_list(),
             "%": [round(100 * n / total, 1) for n in df["n"]]},
            hide_index=True, width="stretch",
        )
    st.caption("Counts are of the full analysis set (eligible, at least one immunotherapy dose) matching the "
               "filters. Use the pages in the sidebar for the flow diagram, survival, organ preservation, safety "
               "and quality of life.")
