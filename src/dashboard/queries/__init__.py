"""Parameterised SQL over the store, returning Polars frames (``select_*``)."""
