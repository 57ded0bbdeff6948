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

The one export door
-------------------
Every byte that leaves the app goes through :func:`download` (the only
``st.download_button`` of the code base; tests/test_export_door.py checks both the
source and every rendered page). It

- shows the button only to a role with the permission (``export_aggregates`` or
  ``export_patient_level``), and checks the role again when the file is built: the
  access file is re-read then, so a role removed since the page was drawn gets no file;
- hands the builder the provenance of the view (data source and hash, filters, N, app
  version, export time), which the builders put in the file's footer; suppression of
  small cells is on by default for imported data (:func:`suppress_default`);
- records the export in the audit trail (kind, name, format, filters, N, role, bytes),
  and a refused or failed one too (``result`` = ``refused`` / ``failed``).

Streamlit's own table toolbar download is switched off (``client.disableDataExport``,
set by :func:`disable_builtin_export` and in ``.streamlit/config.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

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
from ..access import allowed
from ..filters import CohortFilter
from ..i18n import N_, _, get_language, language
from .auth import IDENTITY_STATE, Identity, role_now
from .text import in_language, strip_links

if TYPE_CHECKING:  # page.py imports the MDT report control, which exports through this module
    from ..store import Store
    from .page import PageContext

PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d", "zoom2d", "pan2d", "toImage"]}
SUPPRESS_THRESHOLD = 5
# Option labels: English source strings, shown with _() (format names stay as they are).
FIG_LABELS = {"png": "PNG", "svg": "SVG", "pdf": "PDF", "tiff": "TIFF (LZW)", "eps": "EPS"}
FOOTER_LABELS = {"on": N_("On the figure"), "caption": N_("Beside it (caption file)"), "off": N_("Off")}
TABLE_WIDTH_LABELS = {None: N_("As on screen"), "single": "85 mm", "double": "175 mm", "page": N_("Page (257 mm)")}
TABLE_LABELS = {"csv": "CSV", "xlsx": "Excel (XLSX)", "html": N_("HTML (formatted)"), "png": N_("PNG (formatted)")}


def _label_from(labels: Mapping[Any, str]) -> Callable[[Any], str]:
    """A ``format_func`` that shows ``labels[value]`` in the current language."""
    return in_language(lambda value: _(labels.get(value, str(value))))


DOOR_KEYS = "_export_door_keys"  # session state: keys of the download buttons the door drew (for tests)


def disable_builtin_export() -> None:
    """Switch off Streamlit's own CSV download / copy in the table toolbar: tables leave
    the app only through :func:`download`. Also set in ``.streamlit/config.toml`` so the
    first run of a server has it too."""
    if not st.get_option("client.disableDataExport"):
        st.set_option("client.disableDataExport", True)


@dataclass(frozen=True)
class ExportScope:
    """What an export records and carries, captured when the page is drawn (the click's
    callback runs outside the script run and must not call ``st.*``)."""

    actor: str
    role: str | None
    identity: Identity | None
    meta: Mapping[str, Any]
    filter: CohortFilter
    n: int | None
    m: int | None
    audit_path: Path
    synthetic: bool
    hide_identifiers: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, store: "Store", flt: CohortFilter, n: int | None, m: int | None, *, actor: str, role: str | None,
           hide_identifiers: bool = False) -> "ExportScope":
        identity = st.session_state.get(IDENTITY_STATE)
        return cls(actor=actor, role=role, identity=identity if isinstance(identity, Identity) else None,
                   meta=store.meta(), filter=flt, n=n, m=m, audit_path=audit.default_audit_path(store.path),
                   synthetic=store.is_synthetic(), hide_identifiers=hide_identifiers)

    @classmethod
    def from_ctx(cls, ctx: "PageContext") -> "ExportScope":
        return cls.of(ctx.store, ctx.filter, ctx.counts.get("n"), ctx.counts.get("m"), actor=ctx.actor, role=ctx.role,
                      hide_identifiers=ctx.hide_identifiers)

    def provenance(self) -> Provenance:
        return Provenance.from_meta(self.meta, self.filter, n=self.n, m=self.m)


def _role_at_click(scope: ExportScope) -> str | None:
    """The role now (access file re-read); the render-time role when the session has no
    identity object (a unit test drawing one control)."""
    return role_now(scope.identity) if scope.identity is not None else scope.role


def download(scope: "ExportScope | PageContext", *, kind: str, name: str, label: str,
             build: Callable[[Provenance], bytes], file_name: str, mime: str, key: str,
             permission: str = "export_aggregates", action: str = "export",
             detail: Callable[[], Mapping[str, Any]] | Mapping[str, Any] | None = None,
             container: Any = None, **button: Any) -> bool:
    """THE download door: the only ``st.download_button`` of the app.

    ``build(provenance)`` makes the file's bytes (with ``provenance`` in its footer); it
    runs only on click, outside the script run (no ``st.*``). ``detail`` (a mapping, or a
    callable read at click time, e.g. the chosen format) goes to the audit record beside
    kind, name, filters, N and role. Returns False (and draws nothing) when the role may
    not export this (``permission``). The file is built in the language the page is shown in
    (captured now: the click's callback runs outside the script run).
    """
    if not isinstance(scope, ExportScope):
        scope = ExportScope.from_ctx(scope)
    if not allowed(scope.role, permission):
        return False
    if action not in ("export", "report"):
        raise ValueError(f"an export is audited as 'export' or 'report', not {action!r}")

    def record(result: str, **more: Any) -> None:
        extra = detail() if callable(detail) else dict(detail or {})
        audit.record(action, scope.actor, {"kind": kind, "name": name, "filters": scope.filter.to_query_params(),
                                           "n": scope.n, "m": scope.m, "file": file_name, **extra, **more},
                     result=result, role=role, path=scope.audit_path)

    def data() -> bytes:
        nonlocal role
        role = _role_at_click(scope)
        with language(lang):
            if not allowed(role, permission):
                record("refused", reason=f"role {role or 'none'} lacks {permission} at click time")
                return (_("Export refused: your role ({role}) may not export this. The attempt is recorded in the "
                          "audit trail.").format(role=role or _("no access")) + "\n").encode()
            return _built()

    def _built() -> bytes:
        try:
            out = build(scope.provenance())
        except Exception as exc:
            record("failed", error=f"{type(exc).__name__}: {exc}"[:300])
            raise
        record("ok", bytes=len(out))
        return out

    role, lang = scope.role, get_language()
    (container or st).download_button(label, data=data, file_name=file_name, mime=mime, on_click="ignore", key=key,
                                      **{"icon": ":material/download:", **button})
    try:
        st.session_state.setdefault(DOOR_KEYS, set()).add(key)
    except Exception:  # no session (bare call)
        pass
    return True


COUNT_NAMES = frozenset({"n", "n_risk", "n_event", "n_events", "n_censor", "events", "at_risk", "patients",
                         "regrowths", "evaluable", "preserved", "x"})


def count_columns_of(frame: pl.DataFrame) -> list[str]:
    """The columns of the data behind a figure that hold patient counts: integer columns,
    and float columns with a count's name (``n_risk``, ``n_event`` ...) holding whole
    numbers only (a weighted at-risk sum, with fractions, is not a count)."""
    out = []
    for c, t in frame.schema.items():
        if t.is_integer():
            out.append(c)
        elif t.is_float() and c.lower() in COUNT_NAMES:
            v = frame[c].drop_nulls()
            if v.len() and bool((v == v.round(0)).all()):
                out.append(c)
    return out


def csv_download(ctx: "PageContext", frame: pl.DataFrame, *, label: str, name: str, file_name: str, key: str,
                 patient_level: bool = False, title: str | None = None,
                 count_columns: Sequence[str] | None = None) -> bool:
    """The data behind a figure as CSV through :func:`download`: provenance footer
    (``SYNTHETIC DATA`` first for the demonstration registry), small cells suppressed when
    :func:`suppress_default`, identifiers masked when the view hides them, ``synthetic_``
    file name for the demonstration registry. ``patient_level`` rows (one per patient)
    need ``export_patient_level``."""
    if ctx.hide_identifiers:
        frame = mask_identifiers(frame)
    suppress = suppress_default(ctx)

    def build(prov: Provenance) -> bytes:
        return table_bytes(frame, "csv", title or name, prov, suppress_below=SUPPRESS_THRESHOLD if suppress else None,
                           count_columns=count_columns if count_columns is not None else count_columns_of(frame))

    prefix = "synthetic_" if ctx.store.is_synthetic() else ""
    return download(ctx, kind="patient_level_csv" if patient_level else "table_csv", name=name, label=label,
                    build=build, file_name=prefix + file_name, mime="text/csv", key=key,
                    permission="export_patient_level" if patient_level else "export_aggregates",
                    detail={"format": "csv", "rows": frame.height, "suppressed": suppress,
                            "masked": ctx.hide_identifiers})


def provenance(ctx: PageContext) -> Callable[[], Provenance]:
    """Provenance of what the page shows now, as a factory called at export time (so the
    export time is the click's; nothing in it touches Streamlit)."""
    meta, flt, n, m = ctx.store.meta(), ctx.filter, ctx.counts.get("n"), ctx.counts.get("m")
    return lambda: Provenance.from_meta(meta, flt, n=n, m=m)


def export_audit(ctx: PageContext, kind: str, name: str) -> Callable[..., None]:
    """An audit recorder (who, what kind, filters, N), captured at render time. Kept for
    callers outside the app's pages; every download of the app goes through
    :func:`download`, which records itself."""
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


# The export popovers are drawn closed and empty: their controls are drawn only while one is open,
# in a fragment, so a filter change does not send every popover's controls again (issue 18) and
# opening one reruns only that popover. The choices are kept per control across closing and a
# language switch (which gives the controls new labels, i.e. new widgets).
CHOICES = "_export_choices"
OPEN_SUFFIX = "_open"  # session-state key of a popover's open state: f"{exp key}_open"


def _remember(key: str) -> None:
    st.session_state.setdefault(CHOICES, {})[key] = st.session_state.get(key)


def _kept(key: str, default: Any) -> Any:
    return st.session_state.get(CHOICES, {}).get(key, default)


def _radio(label: str, options: Sequence[Any], key: str, default: Any = None, **kw: Any) -> Any:
    """A radio whose choice survives the popover closing and a language switch."""
    options = list(options)
    kept = _kept(key, default)
    index = options.index(kept) if kept in options else (options.index(default) if default in options else 0)
    return st.radio(label, options, index=index, key=key, on_change=_remember, args=(key,), **kw)


def _checkbox(label: str, key: str, default: bool, **kw: Any) -> bool:
    return st.checkbox(label, value=bool(_kept(key, default)), key=key, on_change=_remember, args=(key,), **kw)


def _export_popover(label: str, key: str):
    """A closed export popover; ``.open`` says whether to draw its controls (lazy: opening it
    reruns the fragment it is drawn in)."""
    return st.popover(label, icon=":material/download:", key=key + OPEN_SUFFIX, on_change="rerun")


def figure_download(fig: Any, name: str, ctx: PageContext, *, label: str | None = None) -> None:
    """An "Export" popover: format, size, look, and a download button (bytes built on click).
    Its controls are drawn only while it is open (:func:`_figure_export`)."""
    warm_up_async()  # Chromium starts while the user looks at the page, not when they click
    _figure_export(fig, name, ctx, label or _("Export figure"))


@st.fragment
def _figure_export(fig: Any, name: str, ctx: PageContext, label: str) -> None:
    key = f"exp_fig_{slug(name)}"
    with _export_popover(label, key) as pop:
        if pop.open:
            _figure_controls(fig, name, ctx, key)


def _figure_controls(fig: Any, name: str, ctx: PageContext, key: str) -> None:
    fmt = _radio(_("Format"), FIG_FORMATS, f"{key}_fmt", format_func=FIG_LABELS.get, horizontal=True)
    size = _radio(_("Size"), list(SIZES), f"{key}_size", "slide" if ctx.presentation else "double",
                  format_func=in_language(lambda k: _(SIZES[k].label)))
    large = _checkbox(_("Presentation look (large type, thick lines)"), f"{key}_present", ctx.presentation)
    with st.expander(_("Journal options")):  # footer, resolution, height cap, suppression
        footer = _radio(_("Provenance footer"), FOOTERS, f"{key}_footer", format_func=_label_from(FOOTER_LABELS),
                        horizontal=True)
        dpi = _radio(_("Resolution (PNG, TIFF)"), DPIS, f"{key}_dpi", format_func=lambda d: f"{d} dpi",
                     horizontal=True)
        cap = _radio(_("Height at most"), list(HEIGHT_CAPS), f"{key}_cap", horizontal=True)
        hide = _checkbox(_("Suppress small counts (at-risk numbers, box counts under 5)"), f"{key}_sup",
                         suppress_default(ctx))
    below = SUPPRESS_THRESHOLD if hide else None

    def build(prov: Provenance) -> bytes:
        return figure_bytes(strip_links(fig), fmt, size, prov, presentation=large, footer=footer, dpi=dpi,
                            height_cap_mm=HEIGHT_CAPS[cap], suppress_below=below)

    download(ctx, kind="figure", name=name, label=_("Download {format}").format(format=fmt.upper()), build=build,
             file_name=f"{slug(name)}_{size}.{fmt}", mime=FIG_MIME[fmt], key=f"{key}_dl",
             detail={"format": fmt, "size": size, "footer": footer, "dpi": dpi, "suppressed": bool(below)},
             type="primary")
    if footer == "caption":
        download(ctx, kind="figure_caption", name=name, label=_("Download caption (TXT)"),
                 build=lambda prov: caption_text(prov, title=name).encode("utf-8"),
                 file_name=f"{slug(name)}_caption.txt", mime="text/plain", key=f"{key}_cap_dl",
                 detail={"format": "caption", "size": size})
    st.caption(_("Footer: data source and content hash, filters, N, app version, export time."))


def table_download(df: pl.DataFrame, name: str, ctx: PageContext, *, title: str | None = None,
                   count_columns: Sequence[str] | None = None, percent_of: Mapping[str, str] | None = None,
                   notes: Sequence[str] = (), bold_rows: Sequence[int] = (), label: str | None = None) -> None:
    """An "Export" popover: format, small-cell suppression, and a download button. Its
    controls are drawn only while it is open (as :func:`figure_download`)."""
    if ctx.hide_identifiers:
        df = mask_identifiers(df)
    _table_export(df, name, ctx, label or _("Export table"), title, count_columns, percent_of, tuple(notes),
                  tuple(bold_rows))


@st.fragment
def _table_export(df: pl.DataFrame, name: str, ctx: PageContext, label: str, title: str | None,
                  count_columns: Sequence[str] | None, percent_of: Mapping[str, str] | None, notes: Sequence[str],
                  bold_rows: Sequence[int]) -> None:
    key = f"exp_tab_{slug(name)}"
    with _export_popover(label, key) as pop:
        if not pop.open:
            return
        fmt = _radio(_("Format"), TABLE_FORMATS, f"{key}_fmt", format_func=_label_from(TABLE_LABELS), horizontal=True)
        suppress = _checkbox(_("Suppress small cells (counts under {k} shown as <{k})").format(k=SUPPRESS_THRESHOLD),
                             f"{key}_sup", suppress_default(ctx))
        width = None
        if fmt in ("html", "png"):
            width = _radio(_("Width"), list(TABLE_WIDTH_LABELS), f"{key}_width",
                           format_func=_label_from(TABLE_WIDTH_LABELS), horizontal=True)

        def build(prov: Provenance) -> bytes:
            return table_bytes(df, fmt, title or name, prov, suppress_below=SUPPRESS_THRESHOLD if suppress else None,
                               count_columns=count_columns, percent_of=percent_of, notes=notes, bold_rows=bold_rows,
                               width=width)

        download(ctx, kind="table", name=name, label=_("Download {format}").format(format=fmt.upper()), build=build,
                 file_name=f"{slug(name)}.{fmt}", mime=TABLE_MIME[fmt], key=f"{key}_dl",
                 detail={"format": fmt, "rows": df.height, "suppressed": bool(suppress), "width": width},
                 type="primary")
        st.caption(_("With a footer: data source and content hash, filters, N, app version, export time."))


def screen_config(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A figure's on-screen plotly config without plotly's own "download as PNG" button
    (a figure leaves the app through the export popover, i.e. :func:`download`)."""
    out = {k: v for k, v in dict(config or PLOTLY_CONFIG).items() if k != "toImageButtonOptions"}
    out["modeBarButtonsToRemove"] = [*dict.fromkeys([*out.get("modeBarButtonsToRemove", []), "toImage"])]
    return out


def show_figure(fig: Any, name: str, ctx: PageContext, *, key: str | None = None,
                config: Mapping[str, Any] | None = None, export: bool = True) -> None:
    """The figure (presentation look when presentation mode is on) and its export popover.

    ``name`` titles the exported file; ``key`` must be unique on the page (default: from name).
    """
    fig = strip_links(fig)  # no live link from registry text inside our figures
    shown = presentation_figure(fig) if ctx.presentation else fig
    st.plotly_chart(shown, config=screen_config(config), key=key or f"fig_{slug(name)}")
    if export:
        figure_download(fig, name, ctx)


LISTING_ROWS = 500  # rows of a patient listing on screen; its download / export has them all


def date_columns(frame: pl.DataFrame) -> dict[str, Any]:
    """Grid column configs that show ``frame``'s Date columns as dates (Streamlit's grid
    would show them as timestamps at 00:00:00)."""
    return {c: st.column_config.DateColumn(c, format="YYYY-MM-DD") for c, t in frame.schema.items() if t == pl.Date}


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
        st.table(frame.to_pandas().style.format(precision=1, na_rep="–").hide(axis="index"))  # not "nan" on the MDT screen
    else:
        st.dataframe(frame, hide_index=True, width="stretch", column_config=date_columns(frame) or None)
    if export:
        table_download(frame, name, ctx, title=title, **download)


def file_download(build: Callable[[], bytes], file_name: str, ctx: PageContext, *, kind: str, label: str,
                  mime: str = "application/octet-stream", key: str | None = None,
                  permission: str = "export_aggregates", **audit_detail: Any) -> bool:
    """A download of a file that is neither a figure nor a table (e.g. a mapping file), through
    :func:`download`: role check at render and at click, audit record (kind, name, who)."""
    return download(ctx, kind=kind, name=file_name, label=label, build=lambda _prov: build(), file_name=file_name,
                    mime=mime, key=key or f"exp_file_{slug(file_name)}", permission=permission,
                    detail=audit_detail)


def csv_button(label: str, frame: pl.DataFrame, file_name: str, ctx: PageContext, key: str, *,
               patient_level: bool = False) -> None:
    """Download the data behind a figure (CSV) through the export door
    (:func:`csv_download`: role check, provenance footer, small-cell
    suppression for real data, audit record; identifiers masked when the view hides them).
    ``patient_level``: one row per patient (investigators and above)."""
    csv_download(ctx, frame, label=label, name=label.removesuffix(" (CSV)"), file_name=file_name, key=key,
                 patient_level=patient_level)
