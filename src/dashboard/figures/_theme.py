"""Colours, fonts and the presentation (MDT screen) look shared by every figure.

One place, so every page and every export agrees. Colours are the Okabe-Ito
colour-blind-safe palette (Okabe & Ito 2008), with ONE FIXED COLOUR PER STRATEGY and per
strategy group, used in normal mode, in presentation mode and in exports alike. A strategy
and its group share a colour (WW = NOM, LE = OPFS, RO, SYSTEMIC).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from ..i18n import N_, _
from ..schema import STRATEGY_GROUP

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
    "grey": "#999999",
}
_O = OKABE_ITO

# Chinese text falls through the Latin fonts (which have no CJK glyphs) to Noto Sans CJK SC
# (Debian's fonts-noto-cjk, installed by scripts/system-deps.sh), then to the CJK fonts of
# the viewer's system; Latin text keeps the Latin font's metrics.
CJK_FONTS = "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei"
FONT = dict(family=f"Source Sans Pro, Arial, {CJK_FONTS}, sans-serif", size=14, color="#1f2933")
# Exports: the fonts the project installs (scripts/system-deps.sh), metric-compatible with
# Arial / Helvetica, and Noto Sans CJK for Chinese text; embedded in PDF, EPS and SVG.
FONT_FAMILY = "Liberation Sans, Arial, Helvetica, Noto Sans CJK SC, sans-serif"


def white_template(fig: go.Figure) -> go.Figure:
    """Give ``fig`` plotly's "plotly_white" template, as ``template="plotly_white"`` would.

    Naming the template makes plotly validate a deep copy of it, 17-20 ms per figure (a
    page run of Quality of life draws three). This assigns the registered, already
    validated template with validation off, which is what plotly itself does for the
    default template (``BaseFigure._initialize_layout_template``): the same figure JSON
    (tests/test_figures_theme.py) in ~1 ms; the registered template is not shared.
    """
    layout = fig.layout
    validate, layout._validate = layout._validate, False
    try:
        layout.template = pio.templates["plotly_white"]
    finally:
        layout._validate = validate
    return fig


STRATEGY_COLOURS = {
    "WW": _O["bluish_green"], "LE": _O["blue"], "ESD": _O["sky_blue"], "EMR": _O["reddish_purple"],
    "ESD_EMR": _O["sky_blue"], "RO": _O["vermillion"], "SYSTEMIC": _O["orange"], "NONE": _O["grey"],
}
# Strategy groups compared in the study (schema.STRATEGY_GROUP); "OP" = organ preservation first.
GROUP_COLOURS = {
    "NOM": STRATEGY_COLOURS["WW"], "OPFS": STRATEGY_COLOURS["LE"], "RO": STRATEGY_COLOURS["RO"],
    "SYSTEMIC": STRATEGY_COLOURS["SYSTEMIC"], "OP": STRATEGY_COLOURS["WW"], "MISSING": _O["grey"],
}
# Categories that are not strategies get their own colours, never a strategy's (Paul Tol's
# muted colour-blind-safe scheme; LARS a sequential scale from none to major).
TOL_MUTED = {"indigo": "#332288", "cyan": "#88CCEE", "teal": "#44AA99", "green": "#117733", "olive": "#999933",
             "sand": "#DDCC77", "rose": "#CC6677", "wine": "#882255", "purple": "#AA4499", "grey": "#DDDDDD"}
_T = TOL_MUTED
STATUS_COLOURS = {
    "ORGAN_PRESERVED": _T["teal"], "RESECTED_NED": _T["cyan"], "REGROWTH_SALVAGED": _T["sand"],
    "REGROWTH_NOT_SALVAGED": _T["rose"], "RECURRENCE_SALVAGED": _T["green"], "WITH_DISEASE": _T["wine"],
    "DEAD": "#222222",
    "LOST_TO_FU": "#BBBBBB",
}
RESPONSE_COLOURS = {"CCR": _T["indigo"], "NEAR_CCR": _T["purple"], "NON_CCR": _T["olive"],
                    "NOT_ASSESSED": "#999999"}
LARS_COLOURS = {"NO_LARS": "#C6DBEF", "MINOR": "#6BAED6", "MAJOR": "#08306B"}  # sequential blues

# One label per strategy group everywhere (long where there is room, short in a tight
# legend); a patient without a recorded strategy is "No strategy recorded". These are the
# English source texts: :func:`group_label` gives them in the current language.
GROUP_LABELS = {"NOM": "Watch & Wait (NOM)", "OPFS": "Local excision / endoscopic resection (OPFS)",
                "RO": "Radical surgery (RO)", "SYSTEMIC": "Systemic therapy only"}
GROUP_SHORT = {"NOM": N_("Watch & Wait"), "OPFS": N_("Local / endoscopic resection"), "RO": N_("Radical surgery"),
               "SYSTEMIC": N_("Systemic therapy only")}
NO_STRATEGY = N_("No strategy recorded")


def group_label(code: str | None, *, short: bool = False) -> str:
    """The one display label of a strategy group in the current language (``None`` /
    ``"NONE"``: no strategy)."""
    if code in (None, "NONE", "MISSING"):
        return _(NO_STRATEGY)
    if not short and code in GROUP_LABELS:
        return STRATEGY_GROUP.label(code)  # the schema's label, translated with the vocabulary
    return _((GROUP_SHORT if short else GROUP_LABELS).get(code, str(code)))


def _luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    rgb = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str = "#ffffff") -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def readable(colour: str, bg: str = "#ffffff", ratio: float = 4.5) -> str:
    """``colour`` darkened (mixed with black, hue kept) until its text on ``bg`` meets
    ``ratio`` (WCAG AA: 4.5:1); colours that already do are returned as they are."""
    if not (isinstance(colour, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", colour)):
        return colour
    h = colour.lstrip("#")
    rgb = [int(h[i:i + 2], 16) for i in (0, 2, 4)]
    k = 1.0
    out = colour
    while contrast(out, bg) < ratio and k > 0:
        k -= 0.05
        out = "#" + "".join(f"{max(0, round(c * k)):02x}" for c in rgb)
    return out


# Default colour sequence for traces that are not a strategy, status or response.
COLORWAY = [_O[k] for k in ("blue", "orange", "bluish_green", "reddish_purple", "sky_blue", "vermillion",
                            "black", "yellow")]

# Presentation mode: readable from the back of an MDT room on a 1920x1080 shared screen.
PRESENT_FONT = dict(family=f"Source Sans Pro, Arial, {CJK_FONTS}, sans-serif", size=22, color="#000000")
PRESENT_FONT_SCALE = 1.4  # explicit font sizes in a figure grow by this factor (min PRESENT_MIN_FONT)
PRESENT_MIN_FONT = 18
PRESENT_LINE_SCALE = 2.0  # explicit line widths grow by this factor (min PRESENT_MIN_LINE)
PRESENT_MIN_LINE = 2.5
PRESENT_HEIGHT_SCALE = 1.35  # a pixel height grows with the type (text lines need about 0.9 x the font scale)

_FONT_KEYS = {"font", "textfont", "tickfont", "insidetextfont", "outsidetextfont", "titlefont"}


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _scale(node: Any, parent: str | None) -> None:
    """In place: grow font sizes under font-like keys and widths under line-like keys."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "size" and parent in _FONT_KEYS and isinstance(value, (int, float)):
                node[key] = max(PRESENT_MIN_FONT, round(value * PRESENT_FONT_SCALE))
            elif key == "size" and parent in _FONT_KEYS and isinstance(value, list):
                node[key] = [max(PRESENT_MIN_FONT, round(v * PRESENT_FONT_SCALE)) if isinstance(v, (int, float))
                             else v for v in value]
            elif key == "width" and parent in {"line", "error_y", "error_x"} and isinstance(value, (int, float)):
                if value > 0:
                    node[key] = max(PRESENT_MIN_LINE, value * PRESENT_LINE_SCALE)
            else:
                _scale(value, key)
    elif isinstance(node, list):
        for item in node:
            _scale(item, parent)


def presentation_figure(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` for a shared screen: larger type, thicker lines, black text.

    Works on any figure (today's and future ones) without knowing how it was built:
    the layout font becomes :data:`PRESENT_FONT`, every explicit font size (annotations,
    tick labels, legends, Sankey node labels, ...) is multiplied by
    :data:`PRESENT_FONT_SCALE` and every explicit line width by
    :data:`PRESENT_LINE_SCALE`; scatter traces without a line width get
    :data:`PRESENT_MIN_LINE`. A pixel ``height`` grows by :data:`PRESENT_HEIGHT_SCALE`;
    Sankey nodes get more space between them so their larger labels do not collide.
    Colours are not changed: they are already the colour-blind-safe palette of this module.

    Parameters
    ----------
    fig : the figure as shown in normal mode (not modified).

    Returns
    -------
    go.Figure : a new figure; ``layout.meta["presentation"]`` is True.
    """
    return go.Figure(presentation_spec(copy.deepcopy(fig.to_plotly_json())))


def _readable_text(node: Any, parent: str | None = None) -> None:
    """In place: every text colour under a font-like key meets WCAG AA on white."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "color" and parent in _FONT_KEYS and isinstance(value, str):
                node[key] = readable(value)
            else:
                _readable_text(value, key)
    elif isinstance(node, list):
        for item in node:
            _readable_text(item, parent)


def presentation_spec(spec: dict) -> dict:
    """:func:`presentation_figure` on a plotly JSON spec, in place (and returned); text
    colours (at-risk numbers in a stratum's colour, annotations) are darkened where
    needed to meet WCAG AA contrast (4.5:1) on white."""
    _scale(spec, None)
    _readable_text(spec)
    layout = spec.setdefault("layout", {})
    font = dict(layout.get("font") or {})
    font.update(family=PRESENT_FONT["family"], color=PRESENT_FONT["color"],
                size=max(PRESENT_FONT["size"], round((font.get("size") or 14) * PRESENT_FONT_SCALE)))
    layout["font"] = font
    if isinstance(layout.get("height"), (int, float)):
        layout["height"] = int(layout["height"] * PRESENT_HEIGHT_SCALE)
    layout.setdefault("hoverlabel", {}).setdefault("font", {})["size"] = 20
    meta = layout.get("meta") if isinstance(layout.get("meta"), dict) else {}
    layout["meta"] = {**meta, "presentation": True}
    for axis in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        ax = layout[axis]
        if isinstance(ax, dict):
            ax.setdefault("linewidth", 2)
            ax.setdefault("gridwidth", 1.5)
            ax.setdefault("tickwidth", 2)
    for trace in spec.get("data", []):
        if trace.get("type", "scatter") == "scatter" and "lines" in (trace.get("mode") or "lines"):
            line = trace.setdefault("line", {})
            if line.get("width") is None:
                line["width"] = PRESENT_MIN_LINE
        elif trace.get("type") == "sankey":
            node = trace.setdefault("node", {})
            node["pad"] = max(28, (node.get("pad") or 20) * 2)
            node["thickness"] = max(24, (node.get("thickness") or 20) * 1.4)
    return spec
