"""The sidebar "MDT report" control and the registry of report sections.

How a page adds its part to the MDT report
------------------------------------------
1. In the page's ui module (e.g. ``dashboard/ui/survival.py``) write a function

   .. code-block:: python

       def report_section(store: Store, flt: CohortFilter) -> list[ReportItem | tuple]:
           '''This page's figures and tables for the MDT report, under ``flt``.'''
           km = select_tte(store, flt, ...)             # call queries directly
           return [("Overall survival", km_figure(...)),  # (title, go.Figure)
                   ReportItem("Survival at 1, 2, 3 years", table_df, caption="KM, log-log CI")]

   Items are ``(title, figure_or_dataframe)``, ``(title, obj, caption)`` or
   :class:`dashboard.report.ReportItem`. The function runs when the user clicks the
   download button, outside the Streamlit script run: it must not call ``st.*``
   (no widgets, no ``st.session_state``); call the ``select_*`` / ``summarize_*`` /
   ``*_figure`` / ``format_*`` functions directly (``cached_query`` works too). Use the
   page's default options (the report shows every page's default view). Never put a
   patient identifier column in a report table (``tables.export.mask_identifiers``).
2. Add one line to :data:`REPORT_PAGES` below: ``("Survival", "dashboard.ui.survival:report_section")``.
   Order = order in the report. A page whose function raises gets a one-line note in
   the report instead of its section; the rest of the report is still built.
"""

from __future__ import annotations

import contextvars
import importlib
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Sequence

import streamlit as st

from .. import audit
from ..filters import CohortFilter
from ..i18n import N_, _, get_language
from ..provenance import Provenance
from ..report import ReportItem, ReportSection, build_report, figure_svg, report_pdf
from ..store import Store
from .export import ExportScope, download

# (page title in the report, "module:function"); imported on use, so pages never import each other.
# Titles are English source strings, shown in the report's language.
REPORT_PAGES: list[tuple[str, str]] = [
    (N_("Overview"), "dashboard.ui.overview:report_section"),
    (N_("Cohort"), "dashboard.ui.cohort:report_section"),
    (N_("Survival"), "dashboard.ui.survival:report_section"),
    (N_("Target-trial comparison"), "dashboard.ui.methods:report_section"),
    (N_("Organ preservation"), "dashboard.ui.organ:report_section"),
    (N_("Safety"), "dashboard.ui.safety:report_section"),
    (N_("Quality of life"), "dashboard.ui.qol:report_section"),
    # Patient timeline stays out: it is patient-level.
]
SUPPRESS_THRESHOLD = 5


def _item(obj: Any) -> ReportItem:
    if isinstance(obj, ReportItem):
        return obj
    if isinstance(obj, tuple) and len(obj) in (2, 3):
        return ReportItem(*obj)
    raise TypeError(f"a report item is a ReportItem or (title, figure_or_table[, caption]), not {type(obj)}")


def _resolve(target: str | Callable) -> Callable:
    if callable(target):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def collect_sections(store: Store, flt: CohortFilter,
                     pages: Sequence[tuple[str, str | Callable]] | None = None) -> list[ReportSection]:
    """Every registered page's section under ``flt`` (pure: no ``st.*``), in the current
    language (``with dashboard.i18n.language(...)``)."""
    out = []
    for title, target in (REPORT_PAGES if pages is None else pages):
        try:
            result = _resolve(target)(store, flt)
            if isinstance(result, ReportSection):
                out.append(result)
            else:
                out.append(ReportSection(_(title), tuple(_item(x) for x in result)))
        except Exception as exc:  # noqa: BLE001 - one broken page must not sink the report
            out.append(ReportSection(_(title), (), note=_("This section could not be built ({error}).").format(
                error=f"{type(exc).__name__}: {exc}")))
    return out


# The HTML of the last few reports, so the PDF of a report just downloaded as HTML (or the
# other way round) is printed from it instead of building every section again.
REUSE_SECONDS = 600
_BUILT: "OrderedDict[tuple, tuple[float, bytes]]" = OrderedDict()
_BUILT_MAX = 4
_built_lock = threading.Lock()


def report_html(store: Store, flt: CohortFilter, n: int | None, m: int | None, *,
                suppress_below: int | None = None, prepared_by: str | None = None,
                meeting_date: str | None = None) -> bytes:
    """The MDT report's HTML, built once for its HTML and its PDF: the same store version,
    filters, language and options within :data:`REUSE_SECONDS` give the same document
    (its export time is that of the first build)."""
    key = (str(store.path), store.version, flt, get_language(),
           n, m, suppress_below, prepared_by, meeting_date)
    now = time.monotonic()
    with _built_lock:
        hit = _BUILT.get(key)
        if hit and now - hit[0] < REUSE_SECONDS:
            _BUILT.move_to_end(key)
            return hit[1]
    meta = store.meta()
    prov = Provenance.from_meta(meta, flt, n=n, m=m)
    # each page's figures are rendered (Chromium) while the next pages' queries and
    # statistics run (Python): one worker, in this language
    renders: dict[int, Future] = {}
    sections: list[ReportSection] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-figures") as pool:
        for page in REPORT_PAGES:
            section = collect_sections(store, flt, [page])[0]
            for item in section.items:
                if not item.is_table:
                    renders[id(item)] = pool.submit(contextvars.copy_context().run, figure_svg, item, False,
                                                    suppress_below)
            sections.append(section)
        html = build_report(sections, prov, suppress_below=suppress_below,
                            title=_("MDT report - organ-preservation registry"), meta=meta, prepared_by=prepared_by,
                            meeting_date=meeting_date, render_figure=lambda item: renders[id(item)].result())
    with _built_lock:
        _BUILT[key] = (now, html)
        _BUILT.move_to_end(key)
        while len(_BUILT) > _BUILT_MAX:
            _BUILT.popitem(last=False)
    return html


def report_bytes(store: Store, flt: CohortFilter, n: int | None, m: int | None, *, fmt: str = "html",
                 suppress_below: int | None = None, prepared_by: str | None = None,
                 page_format: str = "A4", meeting_date: str | None = None) -> bytes:
    """The MDT report of every registered page as HTML or PDF (A4 or Letter) bytes; the
    PDF is printed from :func:`report_html`'s document."""
    html = report_html(store, flt, n, m, suppress_below=suppress_below, prepared_by=prepared_by,
                       meeting_date=meeting_date)
    return html if fmt == "html" else report_pdf(html, page_format=page_format)


def report_download(store: Store, flt: CohortFilter, n: int | None, m: int | None, *, fmt: str,
                    suppress_below: int | None, actor: str, role: str | None, page_format: str = "A4",
                    meeting_date: str | None = None) -> bytes:
    """The report's bytes, recorded in the audit trail as a ``report`` export (no ``st.*``:
    it runs in the download button's callback)."""
    data = report_bytes(store, flt, n, m, fmt=fmt, suppress_below=suppress_below, prepared_by=actor,
                        page_format=page_format, meeting_date=meeting_date)
    audit.record("report", actor, {"format": fmt, "filters": flt.to_query_params(), "n": n, "m": m,
                                   "suppress_below": suppress_below}, role=role,
                 path=audit.default_audit_path(store.path))
    return data


def report_control(store: Store, flt: CohortFilter, counts: dict, *, actor: str = "unknown",
                   role: str | None = None) -> None:
    """Sidebar: one click builds the MDT report (HTML or PDF) of every page under the filters.
    Each download is recorded in the audit trail (who, format, filters, N)."""
    with st.sidebar.expander(_("MDT report"), icon=":material/summarize:"):
        st.caption(_("Every page's figures and tables under the current filters, in one file, in the language "
                     "shown."))
        suppress = st.checkbox(_("Suppress small cells (<{k})").format(k=SUPPRESS_THRESHOLD),
                               value=not store.is_synthetic(), key="report_suppress")
        paper = st.radio(_("Paper"), ("A4", "Letter"),
                         horizontal=True, key="report_paper")
        meeting = st.date_input(_("Meeting date"), key="report_meeting", format="YYYY-MM-DD")
        meeting_text = meeting.isoformat() if hasattr(meeting, "isoformat") else None
        below = SUPPRESS_THRESHOLD if suppress else None
        n, m = counts.get("n"), counts.get("m")

        # through the one export door (role check at click, audit record as a "report")
        scope = ExportScope.of(store, flt, n, m, actor=actor, role=role)
        c1, c2 = st.columns(2)
        for col, fmt, mime in ((c1, "html", "text/html"), (c2, "pdf", "application/pdf")):
            download(scope, kind="mdt_report", name="MDT report", label=fmt.upper(),
                     build=lambda _prov, fmt=fmt: report_bytes(store, flt, n, m, fmt=fmt, suppress_below=below,
                                                          prepared_by=actor, page_format=paper,
                                                          meeting_date=meeting_text),
                     file_name=f"mdt_report.{fmt}", mime=mime, key=f"report_{fmt}", action="report",
                     detail={"format": fmt, "suppress_below": below, "paper": paper}, container=col, width="stretch")
