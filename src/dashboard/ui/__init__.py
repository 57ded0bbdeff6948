"""Streamlit building blocks shared by the pages (the only layer that imports streamlit)."""
