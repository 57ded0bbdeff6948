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
from ..access import allowed
from ..i18n import N_, _, get_language, ngettext
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


CASE_LIMIT = 20  # patients in one meeting's case list
CASES_KEY = "report_cases"


def case_section(store: Store, flt: CohortFilter, cases: Sequence[str]) -> ReportSection:
    """The case list: the patients chosen for this meeting (pseudonymised registry ids, in
    the order chosen), a table of one row each, then each patient's timeline (the Patient
    timeline page's figure, next surveillance exams included). Patient-level: the caller
    checks the role (``export_patient_level``); never in presentation mode. Ids that are
    not registry ids are left out (the note says how many)."""
    from ..figures.timeline import timeline_figure
    from ..queries.patient import select_patient_record, valid_patient_id
    from ..tables.cases import format_case_list
    from .patient import STATUS_TEXT, next_exams_for

    records = []
    for pid in dict.fromkeys(cases):  # each once, in the order chosen
        record = select_patient_record(store, flt, pid) if valid_patient_id(pid) else None
        if record is not None:
            records.append(record)
    missing = len(dict.fromkeys(cases)) - len(records)
    note = _("Patients chosen for this meeting: {n}. Pseudonymised registry ids; patient-level data, for the "
             "meeting's members (investigators and above). Small-cell suppression applies to the counts of the "
             "other sections, not to these rows.").format(n=len(records))
    if missing:
        note += " " + ngettext("{n} chosen id is not in the registry and is left out.",
                               "{n} chosen ids are not in the registry and are left out.", missing).format(n=missing)
    if not records:
        return ReportSection(_("Case list"), (), note=note)
    items = [ReportItem(_("Cases for this meeting"), format_case_list([r.row for r in records], STATUS_TEXT),
                        patient_level=True)]
    for record in records:
        pid = record.row["subject_id"]
        try:
            due = next_exams_for(store, flt, pid)
        except Exception:  # noqa: BLE001 - the timeline without the next exams
            due = None
        items.append(ReportItem(_("Timeline of {case}").format(case=pid), timeline_figure(record, due),
                                caption=_("Months from the first immunotherapy dose (T0); every recorded "
                                          "treatment, assessment, event and adverse event."), patient_level=True))
    return ReportSection(_("Case list"), tuple(items), note=note)


# The HTML of the last few reports, so the PDF of a report just downloaded as HTML (or the
# other way round) is printed from it instead of building every section again.
REUSE_SECONDS = 600
_BUILT: "OrderedDict[tuple, tuple[float, bytes]]" = OrderedDict()
_BUILT_MAX = 4
_built_lock = threading.Lock()


def report_html(store: Store, flt: CohortFilter, n: int | None, m: int | None, *,
                suppress_below: int | None = None, prepared_by: str | None = None,
                meeting_date: str | None = None, cases: Sequence[str] = ()) -> bytes:
    """The MDT report's HTML, built once for its HTML and its PDF: the same store version,
    filters, language and options within :data:`REUSE_SECONDS` give the same document
    (its export time is that of the first build). ``cases``: patient ids for the case
    list (:func:`case_section`, first after the key numbers); the caller has checked that
    the role may export patient-level data."""
    cases = tuple(cases)[:CASE_LIMIT]
    key = (str(store.path), store.version, flt, get_language(),
           n, m, suppress_below, prepared_by, meeting_date, cases)
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
        def add(section: ReportSection) -> None:
            for item in section.items:
                if not item.is_table:
                    renders[id(item)] = pool.submit(contextvars.copy_context().run, figure_svg, item, False,
                                                    None if item.patient_level else suppress_below)
            sections.append(section)

        if cases:
            add(case_section(store, flt, cases))
        for page in REPORT_PAGES:
            add(collect_sections(store, flt, [page])[0])
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
                 page_format: str = "A4", meeting_date: str | None = None, cases: Sequence[str] = ()) -> bytes:
    """The MDT report of every registered page as HTML or PDF (A4 or Letter) bytes; the
    PDF is printed from :func:`report_html`'s document."""
    html = report_html(store, flt, n, m, suppress_below=suppress_below, prepared_by=prepared_by,
                       meeting_date=meeting_date, cases=cases)
    return html if fmt == "html" else report_pdf(html, page_format=page_format)


def report_download(store: Store, flt: CohortFilter, n: int | None, m: int | None, *, fmt: str,
                    suppress_below: int | None, actor: str, role: str | None, page_format: str = "A4",
                    meeting_date: str | None = None, cases: Sequence[str] = ()) -> bytes:
    """The report's bytes, recorded in the audit trail as a ``report`` export (no ``st.*``:
    it runs in the download button's callback). A case list needs ``export_patient_level``."""
    if cases and not allowed(role, "export_patient_level"):
        audit.record("report", actor, {"format": fmt, "cases": list(cases), "reason": "case list needs "
                                       "export_patient_level"}, result="refused", role=role,
                     path=audit.default_audit_path(store.path))
        raise PermissionError(f"role {role or 'none'} may not export a case list")
    data = report_bytes(store, flt, n, m, fmt=fmt, suppress_below=suppress_below, prepared_by=actor,
                        page_format=page_format, meeting_date=meeting_date, cases=cases)
    audit.record("report", actor, {"format": fmt, "filters": flt.to_query_params(), "n": n, "m": m,
                                   "suppress_below": suppress_below, "cases": list(cases)}, role=role,
                 path=audit.default_audit_path(store.path))
    return data


def _case_picker(store: Store, flt: CohortFilter) -> tuple[str, ...]:
    """Patients for the case list: the first ids of the selection offered, any other id
    typed in full (checked against the registry when the report is built)."""
    from ..queries.patient import select_patient_ids, valid_patient_id
    from .data import cached_query
    from .patient import PICK_LIMIT

    ids = cached_query(select_patient_ids, store, flt, PICK_LIMIT)
    chosen = [c for c in st.session_state.get(CASES_KEY) or [] if isinstance(c, str)]
    st.multiselect(_("Case list (patients for this meeting)"), list(dict.fromkeys([*chosen, *ids])), key=CASES_KEY,
                   max_selections=CASE_LIMIT, accept_new_options=True,
                   placeholder=_("Type a pseudonymised id"),
                   help=_("Each chosen patient gets a row in the report's case list and their timeline. "
                          "Patient-level: investigators and above; not offered in presentation mode."))
    return tuple(c for c in st.session_state.get(CASES_KEY) or [] if isinstance(c, str) and valid_patient_id(c))


def report_control(store: Store, flt: CohortFilter, counts: dict, *, actor: str = "unknown",
                   role: str | None = None, presentation: bool = False) -> None:
    """Sidebar: one click builds the MDT report (HTML or PDF) of every page under the filters,
    with a case list of chosen patients for roles that may export patient-level data (not in
    presentation mode). Each download is recorded in the audit trail (who, format, filters,
    N, the case list's ids)."""
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
        cases = _case_picker(store, flt) if allowed(role, "export_patient_level") and not presentation else ()
        # a case list is patient-level: the door checks that permission again at click time
        permission = "export_patient_level" if cases else "export_aggregates"

        # through the one export door (role check at click, audit record as a "report")
        scope = ExportScope.of(store, flt, n, m, actor=actor, role=role)
        c1, c2 = st.columns(2)
        for col, fmt, mime in ((c1, "html", "text/html"), (c2, "pdf", "application/pdf")):
            download(scope, kind="mdt_report", name="MDT report", label=fmt.upper(),
                     build=lambda _prov, fmt=fmt: report_bytes(store, flt, n, m, fmt=fmt, suppress_below=below,
                                                          prepared_by=actor, page_format=paper,
                                                          meeting_date=meeting_text, cases=cases),
                     file_name=f"mdt_report.{fmt}", mime=mime, key=f"report_{fmt}", action="report",
                     permission=permission, detail={"format": fmt, "suppress_below": below, "paper": paper,
                                                    "cases": list(cases)}, container=col, width="stretch")
