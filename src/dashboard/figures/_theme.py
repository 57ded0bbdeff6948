"""Colours and fonts shared by the figures (one place, so every page agrees)."""

FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=14, color="#1f2933")
STRATEGY_COLOURS = {
    "WW": "#2e7d32", "LE": "#00897b", "ESD": "#0288d1", "EMR": "#3949ab", "ESD_EMR": "#0288d1",
    "RO": "#c62828", "SYSTEMIC": "#6a1b9a", "NONE": "#9e9e9e",
}
STATUS_COLOURS = {
    "ORGAN_PRESERVED": "#2e7d32", "RESECTED_NED": "#607d8b", "REGROWTH_SALVAGED": "#f9a825",
    "REGROWTH_NOT_SALVAGED": "#ef6c00", "WITH_DISEASE": "#c62828", "DEAD": "#212121", "LOST_TO_FU": "#bdbdbd",
}
RESPONSE_COLOURS = {"CCR": "#2e7d32", "NEAR_CCR": "#9e9d24", "NON_CCR": "#c62828", "NOT_ASSESSED": "#9e9e9e"}


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
