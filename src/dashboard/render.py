"""HTML -> PNG / PDF with Debian's Chromium (through Playwright), one browser per process.

Used for table PNGs (great_tables HTML) and the MDT report PDF. great_tables' own
``GT.save`` needs selenium and a chromedriver, which the project does not install;
Playwright is already a dependency (browser tests) and drives the same Chromium.

The browser is started lazily on the first call and kept alive in one worker thread
(Playwright's sync API is bound to the thread that started it; Streamlit runs every
session in its own thread). Pages may load nothing from the network: every request
that is not ``data:`` / ``about:`` is aborted.
"""

from __future__ import annotations

import atexit
import base64
import io
import os
import re
import struct
import threading
import unicodedata
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

CHROMIUM = os.environ.get("BROWSER_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
TIMEOUT_MS = 60_000
# Header/footer lines of a printed PDF: Latin in Liberation Sans, Chinese in Noto Sans CJK SC.
PRINT_FONTS = "'Liberation Sans', Arial, 'Noto Sans CJK SC', sans-serif"
# Debian's fonts-noto-cjk (scripts/system-deps.sh): an OpenType collection with CFF outlines.
CJK_FONT_FILE = os.environ.get("DASHBOARD_CJK_FONT", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CJK_BOLD_FILE = os.environ.get("DASHBOARD_CJK_BOLD_FONT", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
CJK_FAMILY = "Noto Sans CJK SC"

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium-render")
_state: dict[str, Any] = {}


def _browser():
    """The worker thread's browser (started on first use, restarted if it died)."""
    browser = _state.get("browser")
    if browser is not None and browser.is_connected():
        return browser
    from playwright.sync_api import sync_playwright

    if "pw" not in _state:
        _state["pw"] = sync_playwright().start()
    _state["browser"] = _state["pw"].chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    return _state["browser"]


def _offline(route) -> None:
    if route.request.url.startswith(("data:", "about:")):
        route.continue_()
    else:
        route.abort()


def _with_page(fn: Callable, html: str, width: int, scale: float) -> bytes:
    context = _browser().new_context(viewport={"width": width, "height": 800}, device_scale_factor=scale,
                                     java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.route("**/*", _offline)
        page.set_content(html, wait_until="load")
        return fn(page)
    finally:
        context.close()


def _run(fn: Callable, *args: Any) -> bytes:
    return _executor.submit(fn, *args).result(timeout=TIMEOUT_MS / 1000 * 2)


def html_to_png(html: str, *, selector: str | None = None, width: int = 1000, dpi: int = 300) -> bytes:
    """Screenshot of ``selector`` (or the whole page) at ``dpi`` (CSS px are 1/96 in).

    The PNG carries a pHYs chunk with the resolution."""
    def shot(page) -> bytes:
        target = page.locator(selector).first if selector else page
        kwargs = {} if selector else {"full_page": True}
        return target.screenshot(type="png", **kwargs)

    return set_png_dpi(_run(_with_page, shot, html, width, dpi / 96), dpi)


def html_to_pdf(html: str, *, landscape: bool = False, page_format: str = "A4", header: str = "",
                footer: str = "") -> bytes:
    """Chromium's print to PDF: the page size and margins of the document's CSS
    ``@page`` rules (named pages for landscape sections), backgrounds printed, PDF
    bookmarks from the headings, tagged PDF. With ``header`` / ``footer``: a running
    header line, and a footer line with "Page n of N" (in the current language:
    "第 n 页，共 N 页")."""
    from .i18n import _

    # Chromium fills the spans; the words around them are translated as one sentence
    page_of = _html_page_of(_("Page {page} of {pages}"))
    # the header and footer are documents of their own: the document's own CJK rules again
    # (the same data: URI is already decoded, so Chromium uses it at once; a new font would
    # still be loading when the header is drawn), so their Chinese is a named font too
    fonts = "".join(re.findall(r"@font-face \{font-family: '" + re.escape(CJK_FAMILY) + r"';[^}]*\}", html))
    fonts = f"<style>{fonts}</style>" if fonts else ""

    def pdf(page) -> bytes:
        page.emulate_media(media="print")
        kwargs: dict = {}
        if header or footer:
            style = f"font-family:{PRINT_FONTS};font-size:8px;color:#444;width:100%;padding:0 12mm"
            kwargs = dict(display_header_footer=True,
                          header_template=f'{fonts}<div style="{style}">{_esc(header)}</div>',
                          footer_template=(f'{fonts}<div style="{style};display:flex;justify-content:space-between">'
                                           f"<span>{_esc(footer)}</span><span>{page_of}</span></div>"))
        return page.pdf(format=page_format, landscape=landscape, print_background=True, prefer_css_page_size=True,
                        outline=True, tagged=True,
                        margin={"top": "18mm", "bottom": "16mm", "left": "12mm", "right": "12mm"}, **kwargs)

    return _run(_with_page, pdf, html, 1100, 1.0)


def _html_page_of(sentence: str) -> str:
    """"Page {page} of {pages}" with Chromium's page-number spans in the placeholders."""
    return (_esc(sentence).replace("{page}", "<span class='pageNumber'></span>")
            .replace("{pages}", "<span class='totalPages'></span>"))


def text_width(text: str) -> int:
    """Display width in character cells: a CJK (wide) character counts as two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


# ------------------------------------------------------------------ CJK font for documents
_cjk: dict = {"chars": frozenset(), "ttf": {}}
_cjk_lock = threading.Lock()


def _is_cjk(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F") and not ch.isspace()


def cjk_font_face(text: str, *, prepare: str = "") -> str:
    """A CSS ``@font-face`` rule that defines :data:`CJK_FAMILY` as a subset of Noto Sans
    CJK SC holding exactly the wide (CJK) characters of ``text``, with TrueType outlines,
    inlined as a ``data:`` URI; "" when ``text`` has no CJK character or the font is
    missing.

    Why: Chromium's PDF writer embeds a CFF-outline font (Noto Sans CJK as Debian ships
    it) as anonymous Type 3 glyph procedures; a TrueType font it embeds as a named CID
    font subset (``pdffonts``: ``NotoSansCJKsc-Regular  CID TrueType  emb yes sub yes``),
    which every PDF reader and print shop handles. The HTML version of a document carries
    the same rule, so it shows the same glyphs on a computer without the font.

    Converting outlines is slow (~4 s for a report's few hundred characters), so each
    process keeps one converted font of every character asked for so far and cuts each
    rule from it (milliseconds). ``prepare``: more text whose characters to convert in the
    same pass (a document's figures, before their rules are asked for one by one).
    Regular and bold (a bold synthesised from the regular face would be Type 3 again)."""
    chars = frozenset(c for c in text if _is_cjk(c))
    if not chars or not os.path.exists(CJK_FONT_FILE):
        return ""
    faces = {w: f for w, f in ((400, CJK_FONT_FILE), (700, CJK_BOLD_FILE)) if os.path.exists(f)}
    with _cjk_lock:
        if not chars <= _cjk["chars"]:
            want = "".join(sorted(chars | _cjk["chars"] | {c for c in prepare if _is_cjk(c)}))
            _cjk["ttf"] = {w: _truetype_subset(f, CJK_FAMILY, want) for w, f in faces.items()}
            _cjk["chars"] = frozenset(want)
        masters, covered = dict(_cjk["ttf"]), _cjk["chars"]
    rules = []
    for weight, master in masters.items():
        data = master if chars == covered else _subset_bytes(master, "".join(sorted(chars)))
        b64 = base64.b64encode(data).decode("ascii")
        rules.append(f"@font-face {{font-family: '{CJK_FAMILY}'; font-style: normal; font-weight: {weight}; "
                     f"src: url(data:font/ttf;base64,{b64}) format('truetype');}}")
    return "".join(rules)


def _subset_bytes(font_bytes: bytes, text: str) -> bytes:
    """A TrueType font cut down to the glyphs of ``text`` (fontTools' subsetter)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(font_bytes))
    opts = subset.Options()
    opts.layout_features, opts.name_IDs, opts.notdef_outline, opts.hinting = [], ["*"], True, False
    sub = subset.Subsetter(opts)
    sub.populate(text=text)
    sub.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def _truetype_subset(path: str, family: str, text: str) -> bytes:
    """The glyphs of ``text`` from the face ``family`` of a font file or collection, as a
    TrueType font (CFF cubic outlines converted to quadratic with fontTools' cu2qu)."""
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTCollection, TTFont, newTable

    index = 0
    if path.lower().endswith((".ttc", ".otc")):
        names = [f["name"].getDebugName(1) for f in TTCollection(path, lazy=True).fonts]
        index = names.index(family) if family in names else 0
    font = TTFont(path, fontNumber=index, lazy=True)
    opts = subset.Options()
    opts.layout_features, opts.name_IDs, opts.notdef_outline = [], ["*"], True
    opts.desubroutinize, opts.hinting = False, False
    sub = subset.Subsetter(opts)
    sub.populate(text=text)
    sub.subset(font)
    if "CFF " in font:
        order, glyphs = font.getGlyphOrder(), font.getGlyphSet()
        glyf = newTable("glyf")
        glyf.glyphOrder, glyf.glyphs = order, {}
        for name in order:
            pen = TTGlyphPen(glyphs)
            glyphs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
            glyf.glyphs[name] = pen.glyph()
        font["glyf"], font["loca"] = glyf, newTable("loca")
        maxp = font["maxp"] = newTable("maxp")
        maxp.tableVersion = 0x00010000
        for attr in ("maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                     "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
            setattr(maxp, attr, 0)
        maxp.maxZones = 1
        post = font["post"]
        post.formatType, post.extraNames, post.mapping = 2.0, [], {}
        font["head"].glyphDataFormat = 0
        for table in ("CFF ", "VORG"):
            if table in font:
                del font[table]
        font.sfntVersion = "\x00\x01\x00\x00"
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def set_png_dpi(png: bytes, dpi: float) -> bytes:
    """The same PNG with a pHYs chunk saying ``dpi`` (replacing one already there)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    ppm = int(round(dpi / 0.0254))
    data = struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", len(data)) + b"pHYs" + data + struct.pack(">I", zlib.crc32(b"pHYs" + data) & 0xFFFFFFFF)
    out, pos = [png[:8]], 8
    inserted = False
    while pos < len(png):
        length = struct.unpack(">I", png[pos:pos + 4])[0]
        kind = png[pos + 4:pos + 8]
        end = pos + 12 + length
        if kind != b"pHYs":
            out.append(png[pos:end])
        if kind == b"IHDR" and not inserted:
            out.append(chunk)
            inserted = True
        pos = end
    return b"".join(out)


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels, from the IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">II", png[16:24])


def png_dpi(png: bytes) -> float | None:
    """Resolution from the pHYs chunk, in dots per inch (None when absent)."""
    pos = 8
    while pos < len(png):
        length = struct.unpack(">I", png[pos:pos + 4])[0]
        if png[pos + 4:pos + 8] == b"pHYs":
            ppm_x, _, unit = struct.unpack(">IIB", png[pos + 8:pos + 17])
            return ppm_x * 0.0254 if unit == 1 else None
        pos += 12 + length
    return None


def _shutdown() -> None:
    def close() -> None:
        for key in ("browser", "pw"):
            obj = _state.pop(key, None)
            try:
                obj and (obj.close() if key == "browser" else obj.stop())
            except Exception:  # noqa: BLE001 - best effort at exit
                pass

    try:
        _executor.submit(close).result(timeout=10)
    except Exception:  # noqa: BLE001
        pass
    _executor.shutdown(wait=False)


atexit.register(_shutdown)
