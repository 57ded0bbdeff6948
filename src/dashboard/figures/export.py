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

import os
import re
import threading
from dataclasses import dataclass

import plotly.graph_objects as go

from ..provenance import Provenance
from ..render import set_png_dpi
from ._theme import PRESENT_HEIGHT_SCALE, presentation_figure

FORMATS = ("png", "svg", "pdf")
MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
DPI = 300
CSS_DPI = 96
FOOTER_FONT = 11  # layout px (about 5.5 pt at journal sizes)
FOOTER_LINE = 1.35


@dataclass(frozen=True)
class FigureSize:
    """A named output size: physical width (mm) and the canvas width it is laid out on."""

    key: str
    label: str
    width_mm: float
    layout_width: int
    height_mm: float | None = None  # fixed (slide); None = from the figure

    @property
    def aspect(self) -> float | None:
        return self.height_mm / self.width_mm if self.height_mm else None


SIZES: dict[str, FigureSize] = {s.key: s for s in (
    FigureSize("single", "Single column (85 mm)", 85.0, 480),
    FigureSize("one_half", "1.5 column (120 mm)", 120.0, 680),
    FigureSize("double", "Double column (175 mm)", 175.0, 960),
    FigureSize("slide", "Slide 16:9 (339 x 190.5 mm)", 338.67, 1280, 190.5),
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


def _footer_font(size: FigureSize, presentation: bool) -> int:
    return 16 if presentation else (14 if size.key == "slide" else FOOTER_FONT)


def _footer_lines(prov: Provenance | None, width: int, font: int) -> list[str]:
    if prov is None:
        return []
    return prov.wrapped(int((width - 16) / (font * 0.56)))


def geometry(fig: go.Figure, size: str, provenance: Provenance | None = None, *,
             presentation: bool = False) -> Geometry:
    """Where :func:`figure_bytes` lays the figure out and how big the file comes out.

    Parameters
    ----------
    fig : the figure (its ``layout.height``, in px, sets the height when given).
    size : a key of :data:`SIZES`.
    provenance : adds the footer's height.
    presentation : the presentation look (taller type, taller figure).
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, not {size!r}")
    s = SIZES[size]
    width = max(s.layout_width, design_width(fig))
    font = _footer_font(s, presentation)
    lines = _footer_lines(provenance, width, font)
    footer = int((len(lines) + 1) * font * FOOTER_LINE + 6) if lines else 0
    fig_h = fig.layout.height
    if presentation and fig_h:
        fig_h = int(fig_h * PRESENT_HEIGHT_SCALE)
    if s.aspect is not None:
        height = round(width * s.aspect)
        if fig_h and fig_h + footer > height:  # a tall figure: widen the canvas, keep 16:9
            height = fig_h + footer
            width = round(height / s.aspect)
            lines = _footer_lines(provenance, width, font)
            footer = int((len(lines) + 1) * font * FOOTER_LINE + 6) if lines else 0
        return Geometry(width, height, footer, s.width_mm, s.height_mm)
    height = int(fig_h or round(width * 0.62)) + footer
    return Geometry(width, height, footer, s.width_mm, s.width_mm * height / width)


def design_width(fig: go.Figure) -> int:
    """The narrowest canvas (px) the figure reads well on: ``layout.meta["design_width"]``
    (0 when unset). Exports lay such a figure out at least this wide and scale it down
    to the column, so a wide diagram keeps its layout in a narrow column (with smaller
    type) instead of overflowing its boxes."""
    meta = fig.layout.meta
    value = meta.get("design_width") if isinstance(meta, dict) else None
    return int(value) if isinstance(value, (int, float)) and value > 0 else 0


def with_design_width(fig: go.Figure, width: int) -> go.Figure:
    """``fig`` (modified in place, and returned) marked with its :func:`design_width`."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    fig.layout.meta = {**meta, "design_width": int(width)}
    return fig


def with_footer(fig: go.Figure, provenance: Provenance | None, geo: Geometry, *,
                presentation: bool = False, size: str = "double") -> go.Figure:
    """A copy of ``fig`` on the export canvas, the provenance footer below it.

    The footer is placed in extra bottom margin, anchored to the canvas; synthetic data
    puts "SYNTHETIC DATA" in bold at its start. ``layout.meta["provenance"]`` holds the
    footer lines (for tests and for anyone reading the file's JSON)."""
    out = go.Figure(fig)
    # Streamlit's chart theme turns axis automargin on; plotly's default is off, which
    # clips tick labels of figures drawn for the app with a thin margin (e.g. KM).
    for name in [k for k in out.layout if k.startswith(("xaxis", "yaxis"))]:
        if out.layout[name].automargin is None:
            out.layout[name].automargin = True
    margin = out.layout.margin
    base_b = margin.b if margin.b is not None else 80
    layout = dict(width=geo.layout_width, height=geo.layout_height, paper_bgcolor="white",
                  autosize=False)
    if provenance is not None:
        font = _footer_font(SIZES[size], presentation)
        lines = _footer_lines(provenance, geo.layout_width, font)
        text = "<br>".join(_escape(x) for x in lines)
        if provenance.synthetic:
            text = text.replace("SYNTHETIC DATA", "<b>SYNTHETIC DATA</b>", 1)
        layout["margin"] = dict(b=base_b + geo.footer_height)
        # The footer is the layout title, anchored to the canvas ("container"), so axis
        # automargins cannot push it; one empty line above it keeps it clear of ticks
        # below the plot. A title the figure had becomes an annotation.
        title = out.layout.title
        if title.text:
            out.add_annotation(text=title.text, xref="paper", yref="paper", x=0, y=1, xanchor="left",
                               yanchor="bottom", yshift=8, showarrow=False,
                               font=title.font.to_plotly_json() if title.font else None)
        layout["title"] = dict(text=text, xref="container", yref="container", x=8 / geo.layout_width,
                               y=(geo.footer_height - font * FOOTER_LINE) / geo.layout_height, xanchor="left", yanchor="top", font=dict(size=font, color="#333333"),
                               automargin=False, pad=dict(t=0, b=0, l=0, r=0))
        meta = out.layout.meta if isinstance(out.layout.meta, dict) else {}
        layout["meta"] = {**meta, "provenance": lines}
    out.update_layout(**layout)
    return out


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
        kaleido.start_sync_server(mathjax=False, silence_warnings=True)  # no MathJax CDN: no network
        _started = True


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
                 presentation: bool = False) -> bytes:
    """The figure as a PNG, SVG or PDF file.

    Parameters
    ----------
    fig : any plotly figure (not modified).
    fmt : ``"png"`` (300 dpi), ``"svg"`` or ``"pdf"``.
    size : ``"single"`` (85 mm), ``"one_half"`` (120 mm), ``"double"`` (175 mm) or
        ``"slide"`` (16:9, 338.67 x 190.5 mm); see :data:`SIZES`.
    provenance : stamped as a footer (data source and hash, filters, N, app version,
        export time; "SYNTHETIC DATA" for the demonstration registry). None: no footer.
    presentation : the large-type, thick-line look of presentation mode.

    Returns
    -------
    bytes : the file; its size is :func:`geometry` (``.pixels()`` for PNG, mm for SVG,
        ``.points()`` for the PDF page).
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    if not isinstance(fig, go.Figure):
        raise TypeError("fig must be a plotly Figure")
    base = presentation_figure(fig) if presentation else fig
    geo = geometry(fig, size, provenance, presentation=presentation)
    out = with_footer(base, provenance, geo, presentation=presentation, size=size)
    spec = out.to_plotly_json()
    w, h = geo.layout_width, geo.layout_height
    if fmt == "png":
        px_w, _ = geo.pixels()
        data = _kaleido(spec, dict(format="png", width=w, height=h, scale=px_w / w))
        return set_png_dpi(data, DPI)
    if fmt == "pdf":
        pt_w, _ = geo.points()
        return _kaleido(spec, dict(format="pdf", width=w, height=h, scale=pt_w / (w * 0.75)))
    svg = _kaleido(spec, dict(format="svg", width=w, height=h, scale=1)).decode("utf-8")
    return _svg_physical(svg, geo).encode("utf-8")


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
