"""Static figure export: PNG (300 dpi), SVG and PDF at journal and slide sizes, with a
provenance footer, through kaleido and Debian's Chromium (one browser kept alive).

Sizes
-----
Each :data:`SIZES` entry has a physical width and a *layout width*: the figure is laid
out on a canvas that many CSS pixels wide and then scaled to the physical width, so
type set at 14 px on screen comes out at about 7 pt in a journal column. A figure that
needs a wider canvas says so with :func:`with_design_width` (e.g. the CONSORT diagram):
it is laid out that wide and scaled down further. The height is
the figure's own ``layout.height`` (in layout pixels; 0.62 x width when unset) plus the
footer; the slide size is always 16:9 (the canvas grows when the figure is taller).

- PNG: 300 dpi (pixel width = mm / 25.4 x 300), with a pHYs chunk saying so.
- SVG: ``width``/``height`` in mm, ``viewBox`` in layout pixels.
- PDF: one page exactly the figure's size (MediaBox in points = mm / 25.4 x 72).

A figure with a number-at-risk table (``figures.km``) carries the table as subplots,
so it exports with it.
"""

from __future__ import annotations

import copy
import io
import math
import os
import re
import subprocess
import tempfile
import threading
import unicodedata
from html import unescape as html_unescape
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import plotly.graph_objects as go

from ..i18n import N_, _, pgettext
from ..provenance import Provenance
from ..render import set_png_dpi
from ._theme import _FONT_KEYS, FONT_FAMILY, PRESENT_MIN_FONT, presentation_spec

FORMATS = ("png", "svg", "pdf", "tiff", "eps")
MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "tiff": "image/tiff",
        "eps": "application/postscript"}
DPI = 300
DPIS = (300, 600, 1200)  # PNG / TIFF resolutions journals ask for
FOOTERS = ("on", "caption", "off")  # footer on the figure, beside it as a caption file, or none
HEIGHT_CAP_MM = 234.0  # Springer's full-page figure height; Nature's is 170 mm
HEIGHT_CAPS = {"234 mm (Springer)": 234.0, "170 mm (Nature)": 170.0}
MIN_PT = 6.0  # smallest text at print size (journal sizes)
SLIDE_MIN_SCREEN_PX = 18  # smallest text on the slide shown on a 1920-px-wide screen
SLIDE_SCREEN_WIDTH = 1920
CSS_DPI = 96
FOOTER_FONT = 12  # layout px: 6 pt at the journal sizes
PRESENT_JOURNAL_MAX_FONT = 17  # presentation look in a journal column: type up to ~8.5 pt
FOOTER_LINE = 1.3


@dataclass(frozen=True)
class FigureSize:
    """A named output size: physical width (mm) and the canvas width it is laid out on;
    ``label`` in the current language (``source_label``: the English)."""

    key: str
    source_label: str
    width_mm: float
    layout_width: int
    height_mm: float | None = None  # fixed (slide); None = from the figure

    @property
    def label(self) -> str:
        return _(self.source_label)

    @property
    def aspect(self) -> float | None:
        return self.height_mm / self.width_mm if self.height_mm else None


SIZES: dict[str, FigureSize] = {s.key: s for s in (
    FigureSize("single", N_("Single column (85 mm)"), 85.0, 480),
    FigureSize("one_half", N_("1.5 column (120 mm)"), 120.0, 680),
    FigureSize("double", N_("Double column (175 mm)"), 175.0, 960),
    FigureSize("slide", N_("Slide 16:9 (339 x 190.5 mm)"), 338.67, 1280, 190.5),
)}


@dataclass(frozen=True)
class Geometry:
    """Canvas (layout px) and physical size of one export."""

    layout_width: int
    layout_height: int
    footer_height: int
    width_mm: float
    height_mm: float

    def pixels(self, dpi: float = DPI) -> tuple[int, int]:
        return round(self.width_mm / 25.4 * dpi), round(self.height_mm / 25.4 * dpi)

    def points(self) -> tuple[float, float]:
        return self.width_mm / 25.4 * 72, self.height_mm / 25.4 * 72


@dataclass(frozen=True)
class Frame:
    """What a figure's layout step is told about the canvas it is laid out on.

    Attributes
    ----------
    size : the :data:`SIZES` key.
    width : canvas width in layout px.
    min_font : the smallest font size (layout px) allowed: 6 pt at print size for the
        journal sizes, 18 px on a 1920-wide screen for the slide (larger in the
        presentation look).
    max_height : the tallest the figure may be (layout px, the footer excluded), from
        the height cap (journal sizes) or the 16:9 slide.
    presentation : the presentation look.
    """

    size: str
    width: int
    min_font: int
    max_height: int
    presentation: bool = False

    @property
    def narrow(self) -> bool:
        """Single or 1.5 column: long labels are abbreviated or replaced by symbols."""
        return self.width < 800

    def text_px(self, text: str, font: float) -> float:
        """Rough width of a one-line text (Liberation Sans averages ~0.55 em a glyph, a
        CJK glyph of Noto Sans CJK is a full em: :func:`text_units`)."""
        return text_units(_strip_tags(text)) * font * 0.58


# figure kind (layout.meta["layout"]["kind"]) -> its layout step, registered by the figure modules
LAYOUTS: dict[str, Callable[[dict, Frame], None]] = {}


def register_layout(kind: str) -> Callable:
    """Decorator: ``fn(spec, frame)`` fits a figure of ``kind`` to a :class:`Frame`, in
    place, on the figure's JSON spec (``{"data": [...], "layout": {...}}``)."""
    def deco(fn: Callable[[dict, Frame], None]) -> Callable[[dict, Frame], None]:
        LAYOUTS[kind] = fn
        return fn

    return deco


def with_layout_kind(fig: go.Figure, kind: str, **params: Any) -> go.Figure:
    """Mark ``fig`` (in place, returned) as a figure of ``kind`` for the export layout
    step; ``params`` (JSON values) are handed to it in ``meta["layout"]``."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    fig.layout.meta = {**meta, "layout": {"kind": kind, **params}}
    return fig


def layout_params(spec: dict) -> dict:
    meta = spec.get("layout", {}).get("meta")
    value = meta.get("layout") if isinstance(meta, dict) else None
    return value if isinstance(value, dict) else {}


def min_font_px(size: str, presentation: bool = False) -> int:
    """The smallest font size (layout px) an export at ``size`` may use."""
    s = SIZES[size]
    if s.height_mm:  # slide: 18 px when the slide fills a 1920-px-wide screen
        px = SLIDE_MIN_SCREEN_PX * s.layout_width / SLIDE_SCREEN_WIDTH
        return round(px)  # the presentation look starts larger and may step down to this
    pt_per_px = s.width_mm / 25.4 * 72 / s.layout_width
    return math.ceil(MIN_PT / pt_per_px - 1e-6)


def _footer_font(size: str, presentation: bool) -> int:
    return max(min_font_px(size, presentation), FOOTER_FONT) + (4 if presentation and size == "slide" else 0)


def _footer_lines(prov: Provenance | None, width: int, font: int) -> list[str]:
    if prov is None:
        return []
    chars = int((width - 16) / (font * 0.56))
    lines = prov.lines()
    if any(has_wide(x) for x in lines):  # a translated footer: CJK glyphs are a full em wide
        return [y for x in lines for y in wrap_lines(x, max(20, chars))]
    return prov.wrapped(chars)


def _footer_height(lines: list[str], font: int) -> int:
    return int(len(lines) * font * FOOTER_LINE + font * 0.9 + 8) if lines else 0


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]+>", "", str(text or "")).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")


# A full-width (CJK) glyph is one em; an average Latin glyph of Liberation Sans ~0.56 em.
WIDE_UNITS = 1.8
# Chinese line breaking (GB/T 15834 and the usual kinsoku rules): a line never starts with
# closing punctuation and never ends with opening punctuation.
_NO_LINE_START = set("，。、；：？！）》」』】〉”’·…%,.;:!?)]}")
_NO_LINE_END = set("（《「『【〈“‘([{")


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def has_wide(text: str) -> bool:
    """Whether ``text`` holds full-width (CJK) characters."""
    return any(_wide(ch) for ch in str(text or ""))


def text_units(text: str) -> float:
    """Width of plain ``text`` in average Latin glyphs: a full-width (CJK) character
    counts :data:`WIDE_UNITS`, every other character 1 (``len`` for Latin text)."""
    text = str(text or "")
    wide = sum(1 for ch in text if _wide(ch))
    return len(text) + wide * (WIDE_UNITS - 1)


def list_text(items: Sequence[str]) -> str:
    """Items joined with the language's list separator (", " / "、")."""
    return pgettext("list separator", ", ").join(str(x) for x in items)


def _tokens(text: str) -> list[tuple[str, bool]]:
    """``text`` (plotly markup allowed) as unbreakable pieces, each with whether a space
    precedes it: a Latin word, or one CJK character with the punctuation that may not be
    parted from it; tags and entities stay inside their piece."""
    out: list[list] = []
    cur, space, i, n = "", False, 0, len(text)

    def push():
        nonlocal cur, space
        if cur:
            out.append([cur, space])
            cur, space = "", False

    while i < n:
        ch = text[i]
        if ch == "<" and ">" in text[i:]:
            j = text.index(">", i) + 1
            cur += text[i:j]
            i = j
            continue
        if ch == "&" and re.match(r"&[#a-zA-Z0-9]+;", text[i:]):
            j = text.index(";", i) + 1
            if cur and _wide(cur[-1]) and _strip_tags(cur) and _strip_tags(cur)[-1] not in _NO_LINE_END:
                push()
            cur += text[i:j]
            i = j
            continue
        if ch.isspace():
            push()
            space = True
            i += 1
            continue
        plain = _strip_tags(cur)
        if ch in _NO_LINE_START:
            if not cur and out:  # after a space: still kept with what comes before
                out[-1][0] += ch
            else:
                cur += ch
        elif plain and plain[-1] in _NO_LINE_END:
            cur += ch
        elif _wide(ch) or (plain and _wide(plain[-1])):
            push()
            cur = ch
        else:
            cur += ch
        i += 1
    push()
    return [(t, s) for t, s in out]


def _wrap_cjk(text: str, chars: float) -> list[str]:
    lines: list[str] = []
    cur, cur_w = "", 0.0
    for piece, space in _tokens(text):
        w = text_units(_strip_tags(piece))
        sep = " " if (space and cur) else ""
        if cur and cur_w + len(sep) + w > chars:
            lines.append(cur)
            cur, cur_w = piece, w
        else:
            cur, cur_w = cur + sep + piece, cur_w + len(sep) + w
    lines.append(cur)
    # no lone CJK character on the last line (a widow): one more character comes down with it
    last = _strip_tags(lines[-1])
    if len(lines) > 1 and len(last) == 1 and _wide(last):
        prev = _tokens(lines[-2])
        if len(prev) >= 3:
            head, (tail, space) = prev[:-1], prev[-1]
            lines[-2] = "".join((" " if sp and i else "") + t for i, (t, sp) in enumerate(head))
            lines[-1] = tail + (" " if space else "") + lines[-1]
    return lines


def _floor_fonts(node: Any, floor: int, parent: str | None = None) -> None:
    """In place: every explicit font size under a font-like key at least ``floor``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "size" and parent in _FONT_KEYS:
                if isinstance(value, (int, float)) and value < floor:
                    node[key] = floor
                elif isinstance(value, list):
                    node[key] = [max(floor, v) if isinstance(v, (int, float)) else v for v in value]
            else:
                _floor_fonts(value, floor, key)
    elif isinstance(node, list):
        for item in node:
            _floor_fonts(item, floor, parent)


def _cap_fonts(node: Any, cap: int, parent: str | None = None) -> None:
    """In place: every explicit font size under a font-like key at most ``cap``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "size" and parent in _FONT_KEYS:
                if isinstance(value, (int, float)) and value > cap:
                    node[key] = cap
                elif isinstance(value, list):
                    node[key] = [min(cap, v) if isinstance(v, (int, float)) else v for v in value]
            else:
                _cap_fonts(value, cap, key)
    elif isinstance(node, list):
        for item in node:
            _cap_fonts(item, cap, parent)


def _font_size(layout: dict, *path: str, default: float | None = None) -> float:
    node: Any = layout
    for p in path:
        node = node.get(p) if isinstance(node, dict) else None
    base = (layout.get("font") or {}).get("size") or 12
    return float(node) if isinstance(node, (int, float)) else float(default or base)


def wrap_lines(text: str, chars: int) -> list[str]:
    """Plain ``text`` broken at whitespace into lines of at most about ``chars`` characters
    (words kept whole; an empty text is one empty line). Text with CJK characters is
    also broken between them (never before closing or after opening punctuation), a CJK
    character counting :data:`WIDE_UNITS` characters."""
    if has_wide(text):
        return [x for x in _wrap_cjk(" ".join(str(text).split()), chars)]
    lines, cur = [], ""
    for word in str(text).split():
        if cur and len(cur) + 1 + len(word) > chars:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    return lines + [cur]


def wrap_text(text: str, chars: int) -> str:
    """``text`` (plotly markup allowed, words kept whole) broken with ``<br>`` into lines
    of at most about ``chars`` characters (CJK text: see :func:`wrap_lines`)."""
    if has_wide(_strip_tags(text)):
        return "<br>".join(line for part in str(text).split("<br>") for line in _wrap_cjk(part, chars))
    lines, cur = [], ""
    for word in str(text).split(" "):
        if cur and len(_strip_tags(cur)) + 1 + len(_strip_tags(word)) > chars:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    return "<br>".join(lines + [cur])


def legend_rows(names: Sequence[str], width: float, font: float) -> int:
    """Rows a horizontal legend of ``names`` takes on ``width`` px (symbol + gap ~40 px an entry)."""
    if not names:
        return 0
    # plotly gives every entry of a wrapped horizontal legend the widest entry's width
    widest = max(text_units(_strip_tags(n)) for n in names) * font * 0.6 + 50
    per_row = max(1, int(width // widest))
    return math.ceil(len(names) / per_row)


def _wrap_long_titles(layout: dict, width: int) -> None:
    """Axis titles and paper-anchored annotations wider than the canvas wrapped onto
    more lines (they would leave the page)."""
    base = _font_size(layout)
    for name in [k for k in layout if k.startswith("xaxis")]:
        ax = layout[name]
        title = ax.get("title") if isinstance(ax, dict) else None
        if isinstance(title, dict) and title.get("text") and "<br>" not in str(title["text"]):
            tf = _font_size(title, "font", "size", default=1.2 * base)
            # centred under the plot area, which starts right of the y-axis labels
            if text_units(_strip_tags(title["text"])) * tf * 0.56 > 0.6 * width:
                title["text"] = wrap_text(title["text"], int(0.6 * width / (tf * 0.56)))
    for note in layout.get("annotations") or []:
        text = note.get("text")
        if text and note.get("xref", "paper") == "paper" and "<br>" not in str(text):
            f = _font_size(note, "font", "size", default=base)
            if text_units(_strip_tags(text)) * f * 0.56 > 0.95 * width:
                note["text"] = wrap_text(text, int(0.9 * width / (f * 0.56)))


def bottom_needed(spec: dict) -> int:
    """Layout px the bottom x axis needs below the plot area (ticks, tick labels, title):
    the footer goes below that, so the two never meet."""
    layout = spec.get("layout", {})
    need = 0.0
    axes = [k for k in layout if k.startswith("xaxis")] or ["xaxis"]

    def low(name: str) -> float:  # where the axis sits: the bottom of the y axis it is anchored to
        ax = layout.get(name) or {}
        anchor = ax.get("anchor") or ("y" + name[5:])
        y = layout.get("yaxis" + anchor[1:]) or {}
        return float((y.get("domain") or [0, 1])[0]) if anchor != "free" else float(ax.get("position") or 0)

    lowest = min(low(a) for a in axes)
    for name in axes:
        ax = layout.get(name) or {}
        if ax.get("visible") is False or ax.get("side") == "top" or ax.get("overlaying") or low(name) > lowest + 1e-6:
            continue
        h = 0.0
        if ax.get("showticklabels", True):
            tf = _font_size(ax, "tickfont", "size", default=_font_size(layout))
            angle = abs(float(ax.get("tickangle") or 0)) if isinstance(ax.get("tickangle"), (int, float)) else 0
            labels = [str(t) for t in (ax.get("ticktext") or [])] or ["0000"]
            longest = max(text_units(_strip_tags(t)) for t in labels)
            h += tf * 1.3 + (longest * tf * 0.56 * math.sin(math.radians(angle)) if angle else 0)
            h += ax.get("ticklen", 5) if ax.get("ticks") in ("outside", None) else 0
        title = ax.get("title")
        text = title.get("text") if isinstance(title, dict) else title
        if text:
            # an axis title without its own size is set at 1.2 x the layout font
            tf = _font_size(title if isinstance(title, dict) else {}, "font", "size", default=1.2 * _font_size(layout))
            h += (str(text).count("<br>") + 1) * tf * 1.3 + 18
        need = max(need, h)
    return int(need + 8)


def fit(fig: go.Figure, size: str, provenance: Provenance | None = None, *, presentation: bool = False,
        footer: str = "on", height_cap_mm: float = HEIGHT_CAP_MM,
        suppress_below: int | None = None) -> tuple[dict, Geometry]:
    """The layout step: ``fig`` fitted to an export at ``size``, as a plotly JSON spec,
    and the export's :class:`Geometry`.

    In order: the presentation look (when asked); the figure's own layout step
    (:data:`LAYOUTS`, by ``meta["layout"]["kind"]``: risk-table symbols, wrapping,
    legend placement); every font raised to :func:`min_font_px`; the height capped at
    ``height_cap_mm`` (or the slide's 16:9); the bottom margin made room for the x axis
    with the footer below it (footer ``"on"``; ``"caption"`` / ``"off"``: none).
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, not {size!r}")
    if footer not in FOOTERS:
        raise ValueError(f"footer must be one of {FOOTERS}, not {footer!r}")
    if not isinstance(fig, go.Figure):
        raise TypeError("fig must be a plotly Figure")
    s = SIZES[size]
    spec = copy.deepcopy(fig.to_plotly_json())
    if presentation:
        spec = presentation_spec(spec)
        if s.aspect is None:  # in a journal column the large look stays within 9 pt type
            _cap_fonts(spec, PRESENT_JOURNAL_MAX_FONT)
    width = s.layout_width
    min_font = min_font_px(size, presentation)
    ffont = _footer_font(size, presentation)
    lines = _footer_lines(provenance, width, ffont) if footer == "on" else []
    fh = _footer_height(lines, ffont)
    if s.aspect is not None:
        total_max = round(width * s.aspect)
    else:
        total_max = int(height_cap_mm / s.width_mm * width)
    frame = Frame(size, width, min_font, total_max - fh, presentation)
    layout = spec.setdefault("layout", {})
    kind = layout_params(spec).get("kind")
    if suppress_below:
        params = layout_params(spec)
        if "nodes" in params:  # a diagram drawn again from its counts
            params["suppress_below"] = int(suppress_below)
    if kind in LAYOUTS:
        LAYOUTS[kind](spec, frame)
    if suppress_below:
        suppress_figure_counts(spec, int(suppress_below))
    layout = spec["layout"]
    font = dict(layout.get("font") or {})
    font["family"] = FONT_FAMILY
    font["size"] = max(min_font, font.get("size") or 12)
    layout["font"] = font
    _floor_fonts(spec, min_font)
    layout.setdefault("uniformtext", {"minsize": min_font, "mode": "hide"})  # bar labels hide, never shrink
    _wrap_long_titles(layout, width)
    # Streamlit's chart theme turns axis automargin on; plotly's default is off, which
    # clips tick labels of figures drawn for the app with a thin margin (e.g. KM).
    for name in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        if isinstance(layout[name], dict) and layout[name].get("automargin") is None:
            layout[name]["automargin"] = True
    fig_h = layout.get("height") or round(width * 0.62)
    if s.aspect is not None:
        fig_h = total_max - fh
    fig_h = int(min(fig_h, frame.max_height))
    margin = dict(layout.get("margin") or {})
    base_b = max(margin.get("b", 80) if margin.get("b") is not None else 80, bottom_needed(spec))
    margin["b"] = base_b + fh
    layout.update(width=width, height=fig_h + fh, paper_bgcolor="white", autosize=False, margin=margin)
    title = layout.get("title") or {}
    if isinstance(title, dict) and title.get("text") and fh:
        # the figure's own title becomes an annotation: the layout title is the footer
        notes = list(layout.get("annotations") or [])
        notes.append(dict(text=title["text"], xref="paper", yref="paper", x=0, y=1, xanchor="left",
                          yanchor="bottom", yshift=8, showarrow=False, font=title.get("font")))
        layout["annotations"] = notes
    if fh:
        text = "<br>".join(_escape(x) for x in lines)
        if provenance is not None and provenance.synthetic:
            word = _escape(_("SYNTHETIC DATA"))
            text = text.replace(word, f"<b>{word}</b>", 1)
        # anchored to the canvas ("container"), so axis automargins cannot push it
        layout["title"] = dict(text=text, xref="container", yref="container", x=8 / width,
                               y=(fh - ffont * 0.9) / (fig_h + fh), xanchor="left", yanchor="top",
                               font=dict(size=ffont, color="#333333", family=FONT_FAMILY),
                               automargin=False, pad=dict(t=0, b=0, l=0, r=0))
    meta = layout.get("meta") if isinstance(layout.get("meta"), dict) else {}
    layout["meta"] = {**meta, "provenance": lines, "export": {"size": size, "min_font": min_font}}
    height_mm = s.height_mm if s.height_mm else s.width_mm * (fig_h + fh) / width
    return spec, Geometry(width, fig_h + fh, fh, s.width_mm, height_mm)


def geometry(fig: go.Figure, size: str, provenance: Provenance | None = None, *,
             presentation: bool = False, footer: str = "on", height_cap_mm: float = HEIGHT_CAP_MM) -> Geometry:
    """Where :func:`figure_bytes` lays the figure out and how big the file comes out
    (see :func:`fit`)."""
    return fit(fig, size, provenance, presentation=presentation, footer=footer, height_cap_mm=height_cap_mm)[1]


def design_width(fig: go.Figure) -> int:
    """Kept for callers of the former scale-down: the canvas width a figure asked for
    (``layout.meta["design_width"]``, 0 when unset). Exports no longer lay a figure out
    wider than its column: each figure's layout step fits it to the column instead."""
    meta = fig.layout.meta
    value = meta.get("design_width") if isinstance(meta, dict) else None
    return int(value) if isinstance(value, (int, float)) and value > 0 else 0


def with_design_width(fig: go.Figure, width: int) -> go.Figure:
    """``fig`` (modified in place, and returned) marked with its :func:`design_width`
    (used on screen only)."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    fig.layout.meta = {**meta, "design_width": int(width)}
    return fig


def _small(k: str, threshold: int) -> bool:
    n = k.replace(",", "")
    return n.isdigit() and 0 < int(n) < threshold


def suppress_figure_counts(spec: dict, threshold: int) -> None:
    """In place: counts a figure writes, from 1 to ``threshold - 1``, become
    ``"<threshold"``: at-risk cells (traces marked ``meta="risk"``), count annotations
    (``name="n"``), ``n = k`` in box labels (a percentage after it goes too), a bold
    count opening a status line, and the count ending a Sankey node label."""
    label = f"&lt;{threshold}"  # plotly text is markup: "<5" would open a tag
    for t in spec.get("data", []):
        if t.get("meta") == "risk" and t.get("text"):
            t["text"] = [label if _small(str(x), threshold) else x for x in t["text"]]
        if t.get("type") == "sankey":
            node = t.get("node") or {}
            node["label"] = [re.sub(r"(\s)(\d[\d,]*)$", lambda m: m.group(1) + label
                                    if _small(m.group(2), threshold) else m.group(0), str(x))
                             for x in node.get("label") or []]
    for note in spec.get("layout", {}).get("annotations") or []:
        text = str(note.get("text", ""))
        if note.get("name") == "n" and _small(_strip_tags(text), threshold):
            note["text"] = label
            continue
        text = re.sub(r"(n\s*=\s*)(\d[\d,]*)(\s*\(\d+(?:\.\d+)?%\))?",
                      lambda m: m.group(1) + label if _small(m.group(2), threshold) else m.group(0), text)
        text = re.sub(r"<b>(\d[\d,]*)</b>", lambda m: f"<b>{label}</b>" if _small(m.group(1), threshold)
                      else m.group(0), text)
        text = re.sub(r"(^|<br>)(\d[\d,]*)(\s\s)", lambda m: m.group(1) + label + m.group(3)
                      if _small(m.group(2), threshold) else m.group(0), text)
        note["text"] = text


def caption_text(provenance: Provenance | None, *, title: str = "", notes: Sequence[str] = ()) -> str:
    """The footer as a caption text file (journal option "footer beside the figure")."""
    lines = ([title] if title else []) + list(notes) + (provenance.lines() if provenance is not None else [])
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ------------------------------------------------------------------ the kaleido server
_server_lock = threading.Lock()
_call_lock = threading.Lock()
_started = False
_warming = False


def _ensure_server() -> None:
    """Start kaleido's sync server once per process (Debian's Chromium; kaleido's
    browser layer, choreographer, passes ``--no-sandbox`` itself, so root is fine)."""
    global _started
    with _server_lock:
        if _started:
            return
        import kaleido

        if "BROWSER_PATH" not in os.environ and os.path.exists("/usr/bin/chromium"):
            os.environ["BROWSER_PATH"] = "/usr/bin/chromium"
        _zero_pdf_margins()
        kaleido.start_sync_server(mathjax=False, silence_warnings=True)  # no MathJax CDN: no network
        _started = True


def _zero_pdf_margins() -> None:
    """kaleido 1.5 prints PDFs with 0.1-inch margins and shrinks the figure into them
    (text came out 5.6% smaller than set at single column, with a white border). The same
    DevTools call with no margins, so the figure fills its page at the size it was set."""
    try:
        from kaleido._kaleido_tab import _devtools_utils as dt
    except ImportError:  # another kaleido layout: keep its own printing
        return
    if getattr(dt.print_pdf, "_dashboard_zero_margins", False):
        return

    async def print_pdf(tab) -> str:
        response = await tab.send_command("Page.printToPDF", params={
            "printBackground": True, "marginTop": 0, "marginBottom": 0, "marginLeft": 0, "marginRight": 0,
            "preferCSSPageSize": True, "pageRanges": "1"})
        dt._raise_error(response)
        return response.get("result", {}).get("data")

    print_pdf._dashboard_zero_margins = True
    dt.print_pdf = print_pdf


def _restart_server() -> None:
    global _started
    import kaleido

    with _server_lock:
        kaleido.stop_sync_server(silence_warnings=True)
        _started = False
    _ensure_server()


def warm_up() -> None:
    """Start the browser now."""
    _ensure_server()


def warm_up_async() -> None:
    """Start the browser in the background (once per process), so that the first export
    a user asks for does not wait for Chromium to start (~2 s). Set
    ``DASHBOARD_EXPORT_WARMUP=0`` to start it only on the first export."""
    global _warming
    if _started or _warming or os.environ.get("DASHBOARD_EXPORT_WARMUP", "1") == "0":
        return
    _warming = True
    threading.Thread(target=_quiet_warm_up, name="kaleido-warm-up", daemon=True).start()


def _quiet_warm_up() -> None:
    try:
        _ensure_server()
    except Exception:  # noqa: BLE001 - the first real export reports the problem
        pass


def _kaleido(spec: dict, opts: dict) -> bytes:
    import kaleido

    _ensure_server()
    with _call_lock:  # the sync server answers one request at a time through shared queues
        try:
            return kaleido.calc_fig_sync(spec, opts=opts)
        except (ValueError, TypeError):
            raise
        except Exception:  # noqa: BLE001 - a dead browser: start a new one, try once more
            _restart_server()
            return kaleido.calc_fig_sync(spec, opts=opts)


def figure_bytes(fig: go.Figure, fmt: str, size: str = "double", provenance: Provenance | None = None, *,
                 presentation: bool = False, footer: str = "on", dpi: int = DPI,
                 height_cap_mm: float = HEIGHT_CAP_MM, suppress_below: int | None = None,
                 embed_fonts: bool = True) -> bytes:
    """The figure as a PNG, SVG, PDF, TIFF or EPS file.

    Parameters
    ----------
    fig : any plotly figure (not modified).
    fmt : ``"png"``, ``"svg"``, ``"pdf"``, ``"tiff"`` (LZW) or ``"eps"``.
    size : ``"single"`` (85 mm), ``"one_half"`` (120 mm), ``"double"`` (175 mm) or
        ``"slide"`` (16:9, 338.67 x 190.5 mm); see :data:`SIZES`.
    provenance : stamped as a footer (data source and hash, filters, N, app version,
        export time; "SYNTHETIC DATA" for the demonstration registry). None: no footer.
    presentation : the large-type, thick-line look of presentation mode.
    footer : ``"on"`` (on the figure), ``"caption"`` or ``"off"`` (not on the figure;
        :func:`caption_text` gives the caption file).
    dpi : PNG / TIFF resolution, one of :data:`DPIS`.
    height_cap_mm : the tallest the figure may come out (234 mm Springer, 170 mm Nature).
    suppress_below : small-cell suppression of the counts the figure writes: at-risk
        numbers, the forest's patient counts, CONSORT and Sankey box counts from 1 to
        ``suppress_below - 1`` become ``"<5"`` (:func:`suppress_figure_counts`).
    embed_fonts : SVG only: embed Liberation Sans (False where the SVG goes into a
        document that has the font, e.g. the MDT report printed on the server).

    Returns
    -------
    bytes : the file; its size is :func:`geometry` (``.pixels(dpi)`` for PNG/TIFF, mm
        for SVG, ``.points()`` for the PDF page and the EPS bounding box). Text is set in
        Liberation Sans (metric-compatible with Arial), CJK in Noto Sans CJK; PDF and EPS
        embed the fonts, SVG embeds the glyphs used (:func:`embed_svg_fonts`).
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    if dpi not in DPIS:
        raise ValueError(f"dpi must be one of {DPIS}, not {dpi!r}")
    spec, geo = fit(fig, size, provenance, presentation=presentation, footer=footer, height_cap_mm=height_cap_mm,
                    suppress_below=suppress_below)
    w, h = geo.layout_width, geo.layout_height
    if fmt in ("png", "tiff"):
        px_w, _h = geo.pixels(dpi)
        data = _kaleido(spec, dict(format="png", width=w, height=h, scale=px_w / w))
        return set_png_dpi(data, dpi) if fmt == "png" else _tiff(data, dpi)
    if fmt in ("pdf", "eps"):
        pt_w, _h = geo.points()
        pdf = _kaleido(spec, dict(format="pdf", width=w, height=h, scale=pt_w / (w * 0.75)))
        return pdf if fmt == "pdf" else _eps(pdf)
    svg = _kaleido(spec, dict(format="svg", width=w, height=h, scale=1)).decode("utf-8")
    svg = _svg_physical(svg, geo)
    return (embed_svg_fonts(svg) if embed_fonts else svg).encode("utf-8")


def _tiff(png: bytes, dpi: int) -> bytes:
    """PNG -> RGB TIFF with LZW compression and the resolution tag (Pillow)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        out = io.BytesIO()
        im.convert("RGB").save(out, format="TIFF", compression="tiff_lzw", dpi=(dpi, dpi))
        return out.getvalue()


def _eps(pdf: bytes) -> bytes:
    """PDF -> EPS with poppler's ``pdftops -eps`` (fonts embedded, vector kept)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "f.pdf"), os.path.join(tmp, "f.eps")
        with open(src, "wb") as fh:
            fh.write(pdf)
        subprocess.run(["pdftops", "-eps", "-level3", src, dst], check=True, capture_output=True, timeout=60)
        with open(dst, "rb") as fh:
            return fh.read()


# Fonts the exports use, shipped through the project's setup (scripts/system-deps.sh:
# fonts-liberation, fonts-noto-cjk), found by fontconfig.
FONT_FILES = {
    "Liberation Sans": ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
                        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
    "Noto Sans CJK SC": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                         "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
}
CJK_FAMILY = "Noto Sans CJK SC"


# Glyphs embedded in every SVG: Latin (ASCII, Latin-1, Latin Extended-A), punctuation,
# arrows, the comparison signs and the risk table's square. Subset once per process.
SVG_FONT_CHARS = ("".join(chr(c) for c in range(0x20, 0x7F)) + "".join(chr(c) for c in range(0xA0, 0x100))
                  + "\u2013\u2014\u2018\u2019\u201C\u201D\u2022\u2026\u2030\u2190\u2192\u2212\u2264\u2265"
                  + "\u00B1\u00D7\u00B5\u25A0\u25CF\u2020\u2021\u2122\u20AC")
_font_faces: list[str] | None = None
_font_lock = threading.Lock()


def _font_face(path: str, chars: str, family: str, weight: str, *, font_number: int = 0,
               features: tuple[str, ...] = ("kern", "liga"), mime: str = "font/ttf", fmt: str = "truetype") -> str:
    """One ``@font-face`` rule: the font at ``path`` subset to ``chars`` (fontTools),
    inlined as base64."""
    import base64
    import logging

    from fontTools import subset

    logging.getLogger("fontTools").setLevel(logging.ERROR)
    opts = subset.Options()
    opts.layout_features = list(features)
    opts.font_number = font_number
    opts.drop_tables += ["FFTM"]
    font = subset.load_font(path, opts)
    sub = subset.Subsetter(opts)
    sub.populate(text=chars)
    sub.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"@font-face{{font-family:'{family}';font-weight:{weight};src:url(data:{mime};base64,{b64}) format('{fmt}');}}"


def _svg_font_faces() -> list[str]:
    """``@font-face`` rules for Liberation Sans regular and bold, subset to
    :data:`SVG_FONT_CHARS` (fontTools), built once per process."""
    global _font_faces
    with _font_lock:
        if _font_faces is not None:
            return _font_faces
        regular, bold = FONT_FILES["Liberation Sans"]
        _font_faces = [_font_face(path, SVG_FONT_CHARS, "Liberation Sans", weight)
                       for path, weight in ((regular, "normal"), (bold, "bold")) if os.path.exists(path)]
        return _font_faces


def _collection_index(path: str, family: str) -> int:
    """The index of ``family`` in a TrueType/OpenType collection (0 when not found)."""
    from fontTools.ttLib import TTCollection

    with TTCollection(path, lazy=True) as ttc:
        for i, font in enumerate(ttc.fonts):
            if font["name"].getDebugName(1) == family:
                return i
    return 0


def _svg_cjk_faces(chars: str) -> list[str]:
    """``@font-face`` rules for Noto Sans CJK SC regular and bold, subset to ``chars``
    (the CJK and full-width characters an SVG uses), so Chinese text in an exported SVG
    shows without the font installed where it is opened."""
    return [_font_face(path, chars, CJK_FAMILY, weight, font_number=_collection_index(path, CJK_FAMILY),
                       features=("kern", "liga", "vert"), mime="font/otf", fmt="opentype")
            for path, weight in zip(FONT_FILES[CJK_FAMILY], ("normal", "bold")) if os.path.exists(path)]


def embed_svg_fonts(svg: str) -> str:
    """The SVG with ``@font-face`` rules for Liberation Sans (regular and bold, the
    Latin glyphs of :data:`SVG_FONT_CHARS`) and, when it holds Chinese text, for Noto
    Sans CJK SC subset to the characters used, so it looks the same on a machine without
    the fonts."""
    try:
        rules = list(_svg_font_faces())
        text = "".join(re.findall(r">([^<]+)<", svg))
        wide = "".join(sorted({ch for ch in html_unescape(text) if ch not in SVG_FONT_CHARS and ord(ch) > 0x7F}))
        if has_wide(wide):
            rules += _svg_cjk_faces(wide)
    except ImportError:  # pragma: no cover - fontTools comes with the project's requirements
        return svg
    if not rules:
        return svg
    m = re.search(r"<svg\b[^>]*>", svg)
    return svg[: m.end()] + "<style>" + "".join(rules) + "</style>" + svg[m.end():] if m else svg


def _svg_physical(svg: str, geo: Geometry) -> str:
    """Root ``width``/``height`` in mm, the layout pixels kept as the viewBox."""
    m = re.search(r"<svg\b[^>]*>", svg)
    if not m:
        raise ValueError("kaleido returned no SVG")
    tag = m.group(0)
    new = re.sub(r'\s(width|height|viewBox)="[^"]*"', "", tag)
    new = new[:-1] + (f' width="{geo.width_mm:.2f}mm" height="{geo.height_mm:.2f}mm"'
                      f' viewBox="0 0 {geo.layout_width} {geo.layout_height}">')
    return svg[: m.start()] + new + svg[m.end():]


def figure_file_name(name: str, fmt: str, size: str) -> str:
    return f"{name}_{size}.{fmt}"
