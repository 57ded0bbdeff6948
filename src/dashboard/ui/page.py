"""What every page calls first: page config, data banner, the global cohort filters in
the sidebar (kept in the URL), "N of M patients", a reset, presentation mode and the
MDT report.

Presentation mode (``present=1`` in the URL, a sidebar toggle, on every page): larger
type and thicker lines for a 1920x1080 shared screen, high contrast, sidebar collapsed,
no patient identifiers on screen. Pages get it by drawing figures and tables with
:func:`dashboard.ui.export.show_figure` / :func:`~dashboard.ui.export.show_table`; a page
that shows patient-level rows any other way must check ``ctx.hide_identifiers`` first
and then show a masked id (``tables.export.mask_identifiers``) or nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping

import streamlit as st

from ..filters import (
    CHOICE_FIELDS,
    FILTER_FIELDS,
    CohortFilter,
    Notice,
    PageOption,
    build_query_params,
    parse_query_params,
)
from ..i18n import (
    LANGUAGES,
    SOURCE_LANGUAGE,
    SWITCH_LABEL,
    N_,
    _,
    fmt_int,
    normalise_language,
    pgettext,
    set_language,
    set_language_provider,
)
from ..queries.cohort import select_patient_counts, select_t0_bounds
from ..store import Store
from .auth import Identity, identity_sidebar, open_mode_notice, require_sign_in
from .data import cached_query, store_or_stop
from .export import disable_builtin_export
from .text import in_language, md_text
from .provenance import data_source_banner
from .prefs import load_preference, save_preference
from .report import report_control
from .warm import warm_in_background

# The page files mark their titles with N_ from here (pages import dashboard.ui only).
__all__ = ["N_", "PageContext", "option_control", "option_label", "option_select", "page_setup"]

FILTER_STATE = "_cohort_filter"
LAST_URL = "_last_url"
NOTICES = "_url_notices"
WIDGET_PREFIX = "flt_"
T0_SEEDED = "_t0_seeded_bounds"  # the T0 span the date widget was last given (the store's then)
PATIENT_FIELDS = ("cohort", "site", "histology", "biomarker", "lynch", "ct", "cn", "ecog", "sex")
TREATMENT_FIELDS = ("regimen", "response", "strategy")
# Page-independent option: presentation mode for an MDT screen.
PRESENT = PageOption("present", N_("Presentation mode"), (("0", N_("Off")), ("1", N_("On"))), "0")
PRESENT_TOGGLE = "present_toggle"
# Interface language (``lang=zh`` / ``lang=en``, always in the URL); its label (i18n.SWITCH_LABEL) is in both
# languages on purpose: a user who cannot read the current one still finds it.
LANG_KEY = "lang"
LANG_LABEL = SWITCH_LABEL
LANG_SOURCE = "_lang_source"
# The sidebar's page links (file stem -> label); Streamlit names them after the files.
NAV_LABELS: dict[str, str] = {
    "": N_("Overview"),
    "Cohort": N_("Cohort"),
    "Survival": N_("Survival"),
    "Organ_preservation": N_("Organ preservation"),
    "Safety": N_("Safety"),
    "Quality_of_life": N_("Quality of life"),
    "Patient_timeline": N_("Patient timeline"),
    "Data": N_("Data"),
}


# Tighter header (the page links' labels come from _nav_css).
_CSS = """<style>
[data-testid='stSidebarUserContent'] {padding-top: 0.5rem;}
.block-container {padding-top: 2.2rem;}
h1 {padding-bottom: 0.3rem;}
</style>"""

# Presentation mode: everything larger and darker (Streamlit sizes in rem, so the root
# font size scales the page); the interactive grid is replaced by HTML tables there.
_PRESENT_CSS = """<style>
html {font-size: 21px;}
.stApp, .stMarkdown, p, li, label, .stCaption, [data-testid='stCaptionContainer'] {color: #000 !important;}
[data-testid='stCaptionContainer'] {font-size: 0.95rem !important; opacity: 1 !important;}
h1 {font-size: 2.3rem !important;}
[data-testid='stMetricValue'] {font-size: 2.6rem !important; font-weight: 700;}
[data-testid='stMetricLabel'] p {font-size: 1.1rem !important; font-weight: 600;}
[data-testid='stTable'] table, [data-testid='stTable'] th, [data-testid='stTable'] td {font-size: 1.05rem !important;
  color: #000 !important; border-color: #555 !important;}
.block-container {max-width: 1880px; padding-left: 2rem; padding-right: 2rem;}
.t1 .t1-n, .t1 tr.t1-missing td {color: #222 !important;}
</style>"""


@dataclass(frozen=True)
class PageContext:
    """What a page needs after the shared setup."""

    store: Store
    filter: CohortFilter
    options: Mapping[str, str] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    identity: Identity | None = None

    @property
    def role(self) -> str | None:
        """The user's role (open demo mode: data_manager)."""
        return self.identity.role if self.identity else None

    @property
    def actor(self) -> str:
        """Who to name in the audit trail."""
        return self.identity.actor if self.identity else "unknown"

    def can(self, permission: str) -> bool:
        """Whether the user's role has ``permission`` (``dashboard.access.PERMISSIONS``);
        patient-level parts of a page check ``ctx.can("view_patient_level")``."""
        return self.identity is not None and self.identity.can(permission)

    @property
    def presentation(self) -> bool:
        """Presentation mode is on (``present=1``): large type, no identifiers on screen."""
        return self.options.get(PRESENT.key) == "1"

    @property
    def hide_identifiers(self) -> bool:
        """True when no patient identifier may be shown (presentation mode): show a masked
        id (``tables.export.mask_identifiers``) or leave the column out. Also True for a
        signed-in role without ``view_patient_level`` (a viewer)."""
        return self.presentation or (self.identity is not None and not self.can("view_patient_level"))


def _css_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("<", "\\3C ") + "'"


def _nav_css() -> str:
    """The sidebar's page links in the current language (Streamlit labels them after the
    page files; CSS puts the translated label in their place, the link stays the same)."""
    rules = []
    for stem, label in NAV_LABELS.items():
        sel = ("[data-testid='stSidebarNav'] li:first-child [data-testid='stSidebarNavLink']" if not stem
               else f"[data-testid='stSidebarNavLink'][href$='/{stem}']")
        # the file-named text is taken out (display: none, so screen readers and the link's
        # accessible name get the label only) and the label is drawn in its place
        box = f"{sel} [data-testid='stMarkdownContainer']"
        rules.append(f"{sel} * {{overflow: visible;}}\n{box} p {{display: none;}}\n"
                     f"{box}::after {{content: {_css_string(_(label))}; font-size: 0.875rem; line-height: 1.6;}}")
    return "<style>\n" + "\n".join(rules) + "\n</style>"


def _session_language() -> str | None:
    """The language this session's last page run used (for a run that did not call
    :func:`page_setup`, e.g. a fragment rerun in its own thread); None outside a session."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    return st.session_state.get("_lang_last")


set_language_provider(_session_language)


def _browser_language() -> str | None:
    try:
        return normalise_language(st.context.locale)
    except Exception:  # noqa: BLE001 - no browser context (AppTest, bare script)
        return None


def _language_requested() -> tuple[str, str]:
    """(language, where it came from) for this run, before anything is drawn: a new URL
    wins (``lang=``), then the session's choice, then the browser's language, then English."""
    raw = _read_url()
    last = st.session_state.get(LAST_URL)
    if last is None or (raw and raw != last):
        url = normalise_language((raw.get(LANG_KEY) or [""])[-1])
        if url:
            return url, "url"
    chosen = st.session_state.get(LANG_KEY)
    if chosen in LANGUAGES:
        return chosen, st.session_state.get(LANG_SOURCE, "session")
    return (_browser_language() or SOURCE_LANGUAGE), "browser"


def _language_changed() -> None:
    st.session_state[LANG_SOURCE] = "session"
    lang = st.session_state.get(LANG_KEY)
    if lang not in LANGUAGES:  # the segmented control was clicked off: keep the language
        lang = st.session_state[LANG_KEY] = st.session_state.get("_lang_last", SOURCE_LANGUAGE)
    identity = st.session_state.get("_identity")
    if lang in LANGUAGES and identity is not None and getattr(identity, "signed_in", False):
        save_preference(identity.actor, "lang", lang)


def _lang_option(default: str) -> PageOption:
    return PageOption(LANG_KEY, LANG_LABEL, tuple((code, LANGUAGES[code][2]) for code in LANGUAGES), default)


def _wkey(key: str) -> str:
    return WIDGET_PREFIX + key


def _t0_bounds(store: Store) -> tuple[dt.date, dt.date] | None:
    return cached_query(_select_t0_bounds, store, CohortFilter())


def _select_t0_bounds(store: Store, _flt: CohortFilter):
    return select_t0_bounds(store)


def _read_url() -> dict[str, list[str]]:
    qp = st.query_params
    return {k: list(qp.get_all(k)) for k in qp.keys()}


def _seed_widgets(flt: CohortFilter, bounds: tuple[dt.date, dt.date] | None) -> None:
    """Put the filter into the widgets' session state (before they are drawn)."""
    for f in CHOICE_FIELDS:
        st.session_state[_wkey(f.key)] = list(getattr(flt, f.key))
    age = FILTER_FIELDS["age"]
    st.session_state[_wkey("age")] = flt.age or (age.lo, age.hi)
    if bounds is not None:
        st.session_state[_wkey("t0")] = flt.t0 or bounds
        st.session_state[T0_SEEDED] = tuple(bounds)


def _filter_from_widgets(previous: CohortFilter, bounds: tuple[dt.date, dt.date] | None) -> CohortFilter:
    """The filter the widgets now show; a field without a usable widget value keeps
    its previous value (e.g. a date range with only its start picked so far)."""
    kwargs: dict[str, Any] = {}
    for f in CHOICE_FIELDS:
        v = st.session_state.get(_wkey(f.key))
        kwargs[f.key] = tuple(c for c in v if c in f.codes) if isinstance(v, (list, tuple)) else getattr(previous, f.key)
    age = FILTER_FIELDS["age"]
    v = st.session_state.get(_wkey("age"))
    if isinstance(v, (list, tuple)) and len(v) == 2:
        lo, hi = int(v[0]), int(v[1])
        kwargs["age"] = None if (lo, hi) == (age.lo, age.hi) else (lo, hi)
    else:
        kwargs["age"] = previous.age
    v = st.session_state.get(_wkey("t0"))
    if bounds is not None and isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, dt.date) for x in v):
        # the full range of this store, or of the store before an import swap (an untouched
        # range), is no filter: it follows the new store's span
        untouched = (tuple(bounds), st.session_state.get(T0_SEEDED))
        kwargs["t0"] = None if tuple(v) in untouched else (v[0], v[1])
    else:
        kwargs["t0"] = previous.t0
    try:
        return CohortFilter(**kwargs)
    except (TypeError, ValueError):
        return previous


def _reset() -> None:
    st.session_state[FILTER_STATE] = CohortFilter()
    st.session_state[NOTICES] = []
    for key in list(st.session_state.keys()):
        if str(key).startswith(WIDGET_PREFIX):
            del st.session_state[key]
    st.session_state["_reset_pending"] = True


def sync_state(store: Store, options: tuple[PageOption, ...]) -> tuple[CohortFilter, dict[str, str]]:
    """Reconcile URL, session and widgets; write the URL that reproduces this view.

    The URL wins on the first run of a session (a deep link) and whenever it differs
    from the last URL this session wrote (a link pasted or followed); otherwise the
    widgets win (a user change, or a page switch, which empties the URL).
    """
    bounds = _t0_bounds(store)
    raw = _read_url()
    last = st.session_state.get(LAST_URL)
    previous = st.session_state.get(FILTER_STATE, CohortFilter())
    if st.session_state.pop("_reset_pending", False):
        flt, values = CohortFilter(), {o.key: o.default for o in options}
    elif last is None or (raw and raw != last):
        flt, chosen, notices = parse_query_params(raw, options, t0_bounds=bounds)
        st.session_state[NOTICES] = notices
        values = {o.key: chosen.get(o.key, o.default) for o in options}
    else:
        flt = _filter_from_widgets(previous, bounds)
        if flt != previous:
            st.session_state[NOTICES] = []
        values = {}
        for o in options:
            v = st.session_state.get(o.key)
            values[o.key] = v if v in o.values else o.default
    st.session_state[FILTER_STATE] = flt
    _seed_widgets(flt, bounds)
    for o in options:
        st.session_state[o.key] = values[o.key]
    wanted = build_query_params(flt, values, options)
    if LANG_KEY in values:  # the language is always in the link, so a shared link opens in it
        wanted[LANG_KEY] = [values[LANG_KEY]]
    if wanted != raw:
        st.query_params.from_dict(wanted)
    st.session_state[LAST_URL] = wanted
    return flt, values


def _present_changed() -> None:
    st.session_state[PRESENT.key] = "1" if st.session_state.get(PRESENT_TOGGLE) else "0"


def _presentation_requested() -> bool:
    """Presentation mode for this run, known before the page config is set (same rule
    as :func:`sync_state`: a new URL wins, otherwise the session's toggle)."""
    raw = _read_url()
    last = st.session_state.get(LAST_URL)
    if last is None or (raw and raw != last):
        return "1" in raw.get(PRESENT.key, [])[-1:]
    return st.session_state.get(PRESENT.key) == "1"


SECTIONS_OPEN = "_flt_sections_open"  # session state: (page, patient section open, treatment section open)


def _sections_open(page: str, active: set[str]) -> tuple[bool, bool]:
    """Which sidebar filter sections start open on ``page``: those holding an active filter
    when the page is entered (a shared link, another page's filters). Held for the page's
    later runs: when ``expanded`` followed every run, picking the first option of a closed-
    by-default section closed the section under the user's hand (its menu with it), and
    clearing its last filter snapped it shut (seen in the browser benchmark, issue 18)."""
    held = st.session_state.get(SECTIONS_OPEN)
    if not (isinstance(held, tuple) and len(held) == 3 and held[0] == page):
        held = (page, bool(active & set(PATIENT_FIELDS + ("age",))), bool(active & set(TREATMENT_FIELDS + ("t0",))))
        st.session_state[SECTIONS_OPEN] = held
    return held[1], held[2]


def _sidebar(flt: CohortFilter, counts: Mapping[str, int], bounds, present: bool = False, page: str = "") -> None:
    sb = st.sidebar
    sb.segmented_control(LANG_LABEL, options=list(LANGUAGES), format_func=lambda c: LANGUAGES[c][2], key=LANG_KEY,
                         selection_mode="single", on_change=_language_changed)
    st.session_state[PRESENT_TOGGLE] = present
    sb.toggle(_("Presentation mode"), key=PRESENT_TOGGLE, on_change=_present_changed,
              help=_("For an MDT screen: large type, thick lines, no patient identifiers; kept in the link."))
    n_of_m = _("{n} of {m} patients").format(n="<b>" + fmt_int(counts["n"]) + "</b>", m=fmt_int(counts["m"]))
    eligible = _("{n} received immunotherapy and are eligible").format(n=fmt_int(counts["analysis"]))
    sb.markdown(
        f"<div style='font-size:1.35rem;line-height:1.2;word-break:keep-all'>{n_of_m}</div>"
        f"<div style='font-size:0.9rem;opacity:0.8;word-break:keep-all'>{eligible}</div>",
        unsafe_allow_html=True,
    )
    sb.button(_("Reset all filters"), on_click=_reset, icon=":material/restart_alt:", disabled=flt.is_empty,
              width="stretch", key="flt_reset_button")

    def multi(container, key: str) -> None:
        f = FILTER_FIELDS[key]
        container.multiselect(_(f.label), options=list(f.codes), format_func=in_language(lambda c: _(f.label_of(c))),
                              key=_wkey(key), placeholder=pgettext("filter", "All"))

    patient_open, treatment_open = _sections_open(page, set(flt.to_query_params()))
    with sb.expander(_("Patient and tumour"), expanded=patient_open, icon=":material/person:"):
        for key in PATIENT_FIELDS:
            multi(st, key)
        age = FILTER_FIELDS["age"]
        st.slider(_(age.label), min_value=age.lo, max_value=age.hi, key=_wkey("age"))
    with sb.expander(_("Treatment and response"), expanded=treatment_open, icon=":material/medication:"):
        for key in TREATMENT_FIELDS:
            multi(st, key)
        if bounds is not None:
            cur = st.session_state.get(_wkey("t0"))
            if isinstance(cur, (tuple, list)) and len(cur) == 2 and all(isinstance(d, dt.date) for d in cur):
                lo, hi = max(cur[0], bounds[0]), min(cur[1], bounds[1])  # a new store (import) may have other bounds
                st.session_state[_wkey("t0")] = (lo, hi) if lo <= hi else bounds
            t0 = FILTER_FIELDS["t0"]
            st.date_input(_(t0.label), min_value=bounds[0], max_value=bounds[1], key=_wkey("t0"),
                          format="YYYY-MM-DD")


def _notice_md(n: Notice) -> str:
    """One notice as markdown in which the URL's text is only text (escaped)."""
    if not isinstance(n, Notice):
        return md_text(n, 300)
    value = n.value if len(n.value) <= 80 else n.value[:80] + "..."
    return _("**{setting}** ignored: {reason}").format(
        setting=f"{md_text(n.param, 120)}={md_text(value, 120)}", reason=md_text(_(n.reason), 200))


def _notices(notices: list[Notice]) -> None:
    if notices:
        st.warning(_("Some settings in the link were not recognised and were left out:") + "\n\n"
                   + "\n".join(f"- {_notice_md(n)}" for n in notices), icon=":material/link_off:")


def _page_name(title: str) -> str:
    """The calling page's name in ``access.PAGE_PERMISSIONS`` (from its file: ``6_Patient_timeline.py``
    -> ``Patient_timeline``; the entry script -> ``Overview``)."""
    frame = sys._getframe(2)
    stem = re.sub(r"^\d+_", "", frame.f_code.co_filename.rsplit("/", 1)[-1].removesuffix(".py"))
    return "Overview" if stem == "app" else (stem or title.replace(" ", "_"))


def page_setup(title: str, *, icon: str = ":material/monitoring:", subtitle: str | None = None,
               options: tuple[PageOption, ...] = ()) -> PageContext:
    """Call first on every page: language, sign-in gate, config, filters (sidebar + URL),
    banner, title, N of M. ``title`` and ``subtitle`` are English source strings marked
    with ``N_`` by the page; they are shown translated."""
    lang, source = _language_requested()
    set_language(lang)
    st.session_state["_lang_last"] = lang
    present = _presentation_requested()
    st.set_page_config(page_title=_("{title} - organ-preservation registry").format(title=_(title)), page_icon=icon,
                       layout="wide", initial_sidebar_state="collapsed" if present else "auto")
    st.html(_CSS + _nav_css() + (_PRESENT_CSS if present else ""))
    disable_builtin_export()  # tables leave the app only through the audited export door
    identity = require_sign_in(_page_name(title))  # before any query: stops the page if not allowed
    if source == "browser" and identity is not None and identity.signed_in:
        saved = load_preference(identity.actor, "lang")
        if saved in LANGUAGES and saved != lang:  # the signed-in user's own choice beats the browser's
            st.session_state[LANG_KEY] = saved
            st.session_state[LANG_SOURCE] = "preference"
            st.rerun()
    identity_sidebar(identity)
    store = store_or_stop()  # one snapshot for the whole run
    warm_in_background(store, lang)  # once per process, store version and language: every page's default view
    flt, values = sync_state(store, (*options, PRESENT, _lang_option(lang)))
    st.session_state.setdefault(LANG_SOURCE, source)
    counts = cached_query(select_patient_counts, store, flt)
    _sidebar(flt, counts, _t0_bounds(store), values[PRESENT.key] == "1", page=title)
    if identity is None or identity.can("export_aggregates"):
        report_control(store, flt, counts, actor=identity.actor if identity else "unknown",
                       role=identity.role if identity else None, presentation=values[PRESENT.key] == "1")
    st.title(_(title))
    data_source_banner(store)
    open_mode_notice(identity)
    _notices(st.session_state.get(NOTICES, []))
    described = flt.describe()
    st.markdown(
        "**" + _("{n} of {m} patients").format(n=fmt_int(counts["n"]), m=fmt_int(counts["m"])) + "** "
        + (_("(all registered patients)") if not described else "· " + " · ".join(described))
    )
    if subtitle:
        st.caption(_(subtitle))
    return PageContext(store=store, filter=flt, options=values, counts=counts, identity=identity)


def option_label(option: PageOption):
    """A ``format_func`` showing an option's values in the current language (their labels are
    English source strings marked with ``N_`` where the option is defined)."""
    return in_language(lambda value: _(option.label_of(value)))


def option_control(option: PageOption, *, label_visibility: str = "visible") -> str:
    """A page option as a segmented control, kept in the URL by :func:`page_setup`."""
    value = st.segmented_control(_(option.label), options=list(option.values), format_func=option_label(option),
                                 key=option.key, selection_mode="single", label_visibility=label_visibility)
    return value if value in option.values else option.default


def planned_page(ctx: PageContext, holds: list[str]) -> None:
    """Placeholder for a page not built yet: what it will hold."""
    st.info(_("This page is not built yet. It will show, for the {n} patients selected in the sidebar:")
            .format(n=fmt_int(ctx.counts["n"])), icon=":material/construction:")
    st.markdown("\n".join(f"- {h}" for h in holds))


def option_select(option: PageOption, *, disabled: bool = False, help: str | None = None) -> str:
    """A page option as a select box (kept in the URL by ``page_setup``)."""
    value = st.selectbox(_(option.label), options=list(option.values), format_func=option_label(option), key=option.key,
                         disabled=disabled, help=help)
    return value if value in option.values else option.default
