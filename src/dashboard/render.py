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
import hashlib
import io
import os
import re
import struct
import tempfile
import threading
import unicodedata
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable

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
                footer: str = "", total_pages: int | None = None) -> bytes:
    """Chromium's print to PDF: the page size and margins of the document's CSS
    ``@page`` rules (named pages for landscape sections), backgrounds printed, PDF
    bookmarks from the headings, tagged PDF. With ``header`` / ``footer``: a running
    header line, and a footer line with "Page n of N" (in the current language:
    "第 n 页，共 N 页"). ``total_pages``: N written as given (a part of a longer
    document printed on its own)."""
    from .i18n import _

    # Chromium fills the spans; the words around them are translated as one sentence
    page_of = _html_page_of(_("Page {page} of {pages}"), total_pages)
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


def _html_page_of(sentence: str, total_pages: int | None = None) -> str:
    """"Page {page} of {pages}" with Chromium's page-number spans in the placeholders."""
    pages = "<span class='totalPages'></span>" if total_pages is None else str(int(total_pages))
    return _esc(sentence).replace("{page}", "<span class='pageNumber'></span>").replace("{pages}", pages)


def text_width(text: str) -> int:
    """Display width in character cells: a CJK (wide) character counts as two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


# ------------------------------------------------------------------ CJK font for documents
# Converted fonts are kept on disk, keyed by the font file (path, size, modification time),
# so only the first process ever to need a character pays its conversion; `make install`
# converts the characters documents use (python -m dashboard fonts).
CJK_CACHE_ENV = "DASHBOARD_FONT_CACHE"
_CJK_FORMAT = 1  # bump when the conversion changes: old cache files are then ignored
_CJK_MAX_CHUNKS = 12  # more converted pieces than this are converted again as one
_cjk: dict = {"key": None, "chunks": []}  # chunks: [(chars, {weight: ttf bytes}, file stem)]
_cjk_lock = threading.Lock()


def _is_cjk(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F") and not ch.isspace()


def _cjk_chars(text: str) -> frozenset[str]:
    return frozenset(c for c in set(text) if _is_cjk(c))


def font_cache_dir() -> Path:
    """Where converted fonts are kept: ``$DASHBOARD_FONT_CACHE``, else
    ``$XDG_CACHE_HOME/nor-mp-dashboard/fonts`` (``~/.cache/...``)."""
    if os.environ.get(CJK_CACHE_ENV):
        return Path(os.environ[CJK_CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nor-mp-dashboard" / "fonts"


def _cjk_faces() -> dict[int, str]:
    return {w: f for w, f in ((400, CJK_FONT_FILE), (700, CJK_BOLD_FILE)) if os.path.exists(f)}


def _cjk_key(faces: dict[int, str]) -> str:
    """The font files as they are now: a new or updated font gets new cache files."""
    parts = [str(_CJK_FORMAT), CJK_FAMILY]
    for weight, path in sorted(faces.items()):
        st = os.stat(path)
        parts += [str(weight), os.path.realpath(path), str(st.st_size), str(st.st_mtime_ns)]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:16]


def _load_chunks(key: str, faces: dict[int, str]) -> list:
    """The converted pieces on disk for ``key``: ``cjk-<key>-<n>.chars`` (the characters)
    with one ``.<weight>.ttf`` per face; a piece missing a face is ignored."""
    out = []
    folder = font_cache_dir()
    for chars_file in sorted(folder.glob(f"cjk-{key}-*.chars")) if folder.is_dir() else []:
        stem = chars_file.name[: -len(".chars")]
        try:
            chars = frozenset(chars_file.read_text(encoding="utf-8"))
            fonts = {w: (folder / f"{stem}.{w}.ttf").read_bytes() for w in faces}
        except (OSError, UnicodeDecodeError):
            continue
        if chars and all(fonts.values()):
            out.append((chars, fonts, stem))
    return out


def _save_chunk(key: str, chars: frozenset[str], fonts: dict[int, bytes]) -> str | None:
    """Write a converted piece (fonts first, the ``.chars`` file last and atomically, so a
    reader never sees a piece without its fonts); None when the cache cannot be written."""
    folder = font_cache_dir()
    stem = f"cjk-{key}-{hashlib.sha256(''.join(sorted(chars)).encode('utf-8')).hexdigest()[:12]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in [*((f"{stem}.{w}.ttf", b) for w, b in fonts.items()),
                           (f"{stem}.chars", "".join(sorted(chars)).encode("utf-8"))]:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, folder / name)
    except OSError:
        return None
    return stem


def _remove_chunk(stem: str) -> None:
    for f in font_cache_dir().glob(f"{stem}.*"):
        try:
            f.unlink()
        except OSError:
            pass


def _covered(chunks: list) -> frozenset[str]:
    return frozenset().union(*(c for c, _f, _s in chunks))


def _cjk_chunks(chars: frozenset[str]) -> list:
    """Converted pieces covering ``chars``: from this process, else from disk, else
    converted now (only the characters no piece has yet) and written to disk."""
    faces = _cjk_faces()
    key = _cjk_key(faces)
    with _cjk_lock:
        if _cjk["key"] != key:
            _cjk["key"], _cjk["chunks"] = key, _load_chunks(key, faces)
        missing = chars - _covered(_cjk["chunks"])
        if missing:  # another process may have converted them meanwhile (kept: pieces not on disk)
            _cjk["chunks"] = _load_chunks(key, faces) + [c for c in _cjk["chunks"] if c[2] is None]
            missing = chars - _covered(_cjk["chunks"])
        if missing:
            if len(_cjk["chunks"]) >= _CJK_MAX_CHUNKS:  # many small pieces: the small ones as one
                keep, *small = sorted(_cjk["chunks"], key=lambda c: -len(c[0]))
                missing |= _covered(small)
                _cjk["chunks"] = [keep]
                for _c, _f, stem in small:
                    if stem:
                        _remove_chunk(stem)
            text = "".join(sorted(missing))
            fonts = {w: _truetype_subset(f, CJK_FAMILY, text) for w, f in faces.items()}
            stem = _save_chunk(key, missing, fonts)
            _cjk["chunks"].append((missing, fonts, stem))
        return list(_cjk["chunks"])


def _unicode_range(chars: Iterable[str]) -> str:
    """A CSS ``unicode-range`` value for ``chars`` (runs of code points as ranges)."""
    points = sorted(ord(c) for c in chars)
    runs: list[list[int]] = []
    for p in points:
        if runs and p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return ", ".join(f"U+{a:X}" if a == b else f"U+{a:X}-{b:X}" for a, b in runs)


def cjk_font_face(text: str) -> str:
    """CSS ``@font-face`` rules that define :data:`CJK_FAMILY` as a subset of Noto Sans
    CJK SC holding exactly the wide (CJK) characters of ``text``, with TrueType outlines,
    inlined as ``data:`` URIs; "" when ``text`` has no CJK character or the font is
    missing. Regular and bold (a bold synthesised from the regular face would be Type 3
    again); one rule per weight and converted piece, each with its ``unicode-range``.

    Why: Chromium's PDF writer embeds a CFF-outline font (Noto Sans CJK as Debian ships
    it) as anonymous Type 3 glyph procedures; a TrueType font it embeds as a named CID
    font subset (``pdffonts``: ``NotoSansCJKsc-Regular  CID TrueType  emb yes sub yes``),
    which every PDF reader and print shop handles. The HTML version of a document carries
    the same rules, so it shows the same glyphs on a computer without the font.

    Converting outlines is slow (~3.5 ms a character), so converted characters are kept
    on disk (:func:`font_cache_dir`, keyed by the font files' size and modification time)
    and each rule is cut from them (fontTools' subsetter, a fraction of a second);
    :func:`prepare_cjk_fonts` (``make install``) converts the common characters ahead."""
    chars = _cjk_chars(text)
    if not chars or not os.path.exists(CJK_FONT_FILE):
        return ""
    rules = []
    for piece, fonts, _stem in _cjk_chunks(chars):
        use = chars & piece
        if not use:
            continue
        for weight, master in sorted(fonts.items()):
            data = master if use == piece else _subset_bytes(master, "".join(sorted(use)))
            b64 = base64.b64encode(data).decode("ascii")
            rules.append(f"@font-face {{font-family: '{CJK_FAMILY}'; font-style: normal; font-weight: {weight}; "
                         f"src: url(data:font/ttf;base64,{b64}) format('truetype'); "
                         f"unicode-range: {_unicode_range(use)};}}")
    return "".join(rules)


def common_cjk_chars() -> str:
    """The characters :func:`prepare_cjk_fonts` converts ahead: every wide character of
    the translation catalogs, GB 2312's level-1 hanzi (the 3,755 most used), CJK and
    full-width punctuation."""
    from .i18n import LOCALE_DIR

    chars: set[str] = set()
    for po in Path(LOCALE_DIR).glob("*/LC_MESSAGES/*.po"):
        chars |= _cjk_chars(po.read_text(encoding="utf-8"))
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    chars |= {chr(c) for c in [*range(0x3001, 0x3020), *range(0xFF01, 0xFF5F)]}
    return "".join(sorted(c for c in chars if _is_cjk(c)))


def prepare_cjk_fonts() -> int:
    """Convert :func:`common_cjk_chars` into the font cache now (once per font version;
    ~15 s a face); returns the number of characters converted now (0: already there)."""
    chars = _cjk_chars(common_cjk_chars())
    if not os.path.exists(CJK_FONT_FILE):
        return 0
    with _cjk_lock:
        _cjk["key"] = None  # read the disk again
    before = _covered(_cjk_chunks(frozenset()))
    _cjk_chunks(chars)
    return len(chars - before)


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
