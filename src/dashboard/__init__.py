"""Organ-preservation registry dashboard (dMMR/MSI-H and POLE gastrointestinal cancer)."""

__version__ = "0.1.0"
