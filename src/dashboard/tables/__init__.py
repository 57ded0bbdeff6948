"""Results -> display tables (``format_*``): pure, no I/O, no Streamlit."""
