"""Showing and exporting figures and tables: the one way pages put them on screen.

A page calls :func:`show_figure` / :func:`show_table` instead of ``st.plotly_chart`` /
``st.dataframe``; both respect presentation mode (large type, no patient identifiers)
and put an "Export" popover under the object (PNG 300 dpi / SVG / PDF at journal and
slide sizes; CSV / XLSX / HTML / PNG with optional small-cell suppression). Every file
carries the provenance footer. Bytes are built only when the user clicks (the
download button gets a callable, run by Streamlit outside the script run: it must not
call ``st.*``).

To add only the download control to something drawn another way, use
:func:`figure_download` / :func:`table_download`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import polars as pl
import streamlit as st

from ..figures._theme import presentation_figure
from ..figures.export import FORMATS as FIG_FORMATS
from ..figures.export import MIME as FIG_MIME
from ..figures.export import DPIS, FOOTERS, HEIGHT_CAPS, SIZES, caption_text, figure_bytes, warm_up_async
from ..figures.export import with_design_width  # noqa: F401 - re-exported for pages
from ..provenance import Provenance, slug
from ..tables.export import FORMATS as TABLE_FORMATS
from ..tables.export import MIME as TABLE_MIME
from ..tables.export import mask_identifiers, table_bytes
from .. import audit
from .page import PageContext

PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d", "zoom2d", "pan2d"],
                 "toImageButtonOptions": {"format": "png", "scale": 2}}
SUPPRESS_THRESHOLD = 5
FIG_LABELS = {"png": "PNG", "svg": "SVG", "pdf": "PDF", "tiff": "TIFF (LZW)", "eps": "EPS"}
FOOTER_LABELS = {"on": "On the figure", "caption": "Beside it (caption file)", "off": "Off"}
TABLE_WIDTH_LABELS = {None: "As on screen", "single": "85 mm", "double": "175 mm", "page": "Page (257 mm)"}
TABLE_LABELS = {"csv": "CSV", "xlsx": "Excel (XLSX)", "html": "HTML (formatted)", "png": "PNG (formatted)"}


def provenance(ctx: PageContext) -> Callable[[], Provenance]:
    """Provenance of what the page shows now, as a factory called at export time (so the
    export time is the click's; nothing in it touches Streamlit)."""
    meta, flt, n, m = ctx.store.meta(), ctx.filter, ctx.counts.get("n"), ctx.counts.get("m")
    return lambda: Provenance.from_meta(meta, flt, n=n, m=m)


def export_audit(ctx: PageContext, kind: str, name: str) -> Callable[..., None]:
    """An audit recorder for one download (who, what kind, filters, N), captured at render
    time and called from the click's callback (no ``st.*`` there)."""
    actor, role = ctx.actor, ctx.role
    filters, n, m = ctx.filter.to_query_params(), ctx.counts.get("n"), ctx.counts.get("m")
    log = audit.default_audit_path(ctx.store.path)

    def log_export(**extra: Any) -> None:
        audit.record("export", actor, {"kind": kind, "name": name, "filters": filters, "n": n, "m": m, **extra},
                     role=role, path=log)

    return log_export


def suppress_default(ctx: PageContext) -> bool:
    """Small-cell suppression is on by default for imported (real) data."""
    return not ctx.store.is_synthetic()


def figure_download(fig: Any, name: str, ctx: PageContext, *, label: str = "Export figure") -> None:
    """An "Export" popover: format, size, look, and a download button (bytes built on click)."""
    key = f"exp_fig_{slug(name)}"
    warm_up_async()  # Chromium starts while the user looks at the page, not when they click
    with st.popover(label, icon=":material/download:"):
        fmt = st.radio("Format", FIG_FORMATS, format_func=FIG_LABELS.get, horizontal=True, key=f"{key}_fmt")
        size = st.radio("Size", list(SIZES), format_func=lambda k: SIZES[k].label, key=f"{key}_size",
                        index=list(SIZES).index("slide" if ctx.presentation else "double"))
        large = st.checkbox("Presentation look (large type, thick lines)", value=ctx.presentation,
                            key=f"{key}_present")
        with st.expander("Journal options"):  # issue 15: footer, resolution, height cap, suppression
            footer = st.radio("Provenance footer", FOOTERS, format_func=FOOTER_LABELS.get, horizontal=True,
                              key=f"{key}_footer")
            dpi = st.radio("Resolution (PNG, TIFF)", DPIS, format_func=lambda d: f"{d} dpi", horizontal=True,
                           key=f"{key}_dpi")
            cap = st.radio("Height at most", list(HEIGHT_CAPS), horizontal=True, key=f"{key}_cap")
            hide = st.checkbox("Suppress small counts (at-risk numbers, box counts under 5)",
                               value=suppress_default(ctx), key=f"{key}_sup")
        prov = provenance(ctx)
        log_export = export_audit(ctx, "figure", name)
        below = SUPPRESS_THRESHOLD if hide else None

        def build() -> bytes:
            data = figure_bytes(fig, fmt, size, prov(), presentation=large, footer=footer, dpi=dpi,
                                height_cap_mm=HEIGHT_CAPS[cap], suppress_below=below)
            log_export(format=fmt, size=size, footer=footer, dpi=dpi, suppressed=bool(below))
            return data

        st.download_button(f"Download {fmt.upper()}", data=build, file_name=f"{slug(name)}_{size}.{fmt}",
                           mime=FIG_MIME[fmt], on_click="ignore", icon=":material/download:", key=f"{key}_dl",
                           type="primary")
        if footer == "caption":
            def build_caption() -> bytes:
                log_export(format="caption", size=size)
                return caption_text(prov(), title=name).encode("utf-8")

            st.download_button("Download caption (TXT)", data=build_caption, file_name=f"{slug(name)}_caption.txt",
                               mime="text/plain", on_click="ignore", key=f"{key}_cap_dl")
        st.caption("Footer: data source and content hash, filters, N, app version, export time.")


def table_download(df: pl.DataFrame, name: str, ctx: PageContext, *, title: str | None = None,
                   count_columns: Sequence[str] | None = None, percent_of: Mapping[str, str] | None = None,
                   notes: Sequence[str] = (), bold_rows: Sequence[int] = (), label: str = "Export table") -> None:
    """An "Export" popover: format, small-cell suppression, and a download button."""
    key = f"exp_tab_{slug(name)}"
    if ctx.hide_identifiers:
        df = mask_identifiers(df)
    with st.popover(label, icon=":material/download:"):
        fmt = st.radio("Format", TABLE_FORMATS, format_func=TABLE_LABELS.get, horizontal=True, key=f"{key}_fmt")
        suppress = st.checkbox(f"Suppress small cells (counts under {SUPPRESS_THRESHOLD} shown as "
                               f"<{SUPPRESS_THRESHOLD})", value=suppress_default(ctx), key=f"{key}_sup")
        width = None
        if fmt in ("html", "png"):
            width = st.radio("Width", list(TABLE_WIDTH_LABELS), format_func=TABLE_WIDTH_LABELS.get, horizontal=True,
                             key=f"{key}_width")
        prov = provenance(ctx)
        log_export = export_audit(ctx, "table", name)

        def build() -> bytes:
            data = table_bytes(df, fmt, title or name, prov(), suppress_below=SUPPRESS_THRESHOLD if suppress else None,
                               count_columns=count_columns, percent_of=percent_of, notes=notes, bold_rows=bold_rows,
                               width=width)
            log_export(format=fmt, rows=df.height, suppressed=bool(suppress))
            return data

        st.download_button(f"Download {fmt.upper()}", data=build, file_name=f"{slug(name)}.{fmt}",
                           mime=TABLE_MIME[fmt], on_click="ignore", icon=":material/download:", key=f"{key}_dl",
                           type="primary")
        st.caption("With a footer: data source and content hash, filters, N, app version, export time.")


def show_figure(fig: Any, name: str, ctx: PageContext, *, key: str | None = None,
                config: Mapping[str, Any] | None = None, export: bool = True) -> None:
    """The figure (presentation look when presentation mode is on) and its export popover.

    ``name`` titles the exported file; ``key`` must be unique on the page (default: from name).
    """
    shown = presentation_figure(fig) if ctx.presentation else fig
    st.plotly_chart(shown, config=dict(config or PLOTLY_CONFIG), key=key or f"fig_{slug(name)}")
    if export:
        figure_download(fig, name, ctx)


def show_table(df: pl.DataFrame | Mapping[str, Sequence[Any]], name: str, ctx: PageContext, *,
               title: str | None = None, export: bool = True, **download: Any) -> None:
    """A table on screen and its export popover.

    Patient identifier columns (:data:`dashboard.tables.export.IDENTIFIER_COLUMNS`) are
    masked in presentation mode; the table is drawn as HTML there (the interactive grid
    cannot grow its type). ``download`` goes to :func:`table_download`.
    """
    frame = df if isinstance(df, pl.DataFrame) else pl.DataFrame(dict(df))
    if ctx.hide_identifiers:
        frame = mask_identifiers(frame)
    if ctx.presentation:
        st.table(frame.to_pandas().style.format(precision=1).hide(axis="index"))
    else:
        st.dataframe(frame, hide_index=True, width="stretch")
    if export:
        table_download(frame, name, ctx, title=title, **download)
