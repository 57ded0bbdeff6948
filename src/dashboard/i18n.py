"""The translation layer: every user-facing string goes through here.

Messages live in standard gettext catalogs, one per layer of the package (``DOMAINS``),
under ``src/dashboard/locale/<locale>/LC_MESSAGES/<domain>.po`` and compiled to ``.mo``
at install (``python -m dashboard i18n compile``). A third language is a new set of
catalogs (``python -m dashboard i18n init <locale>``) plus a line in ``LANGUAGES``, not
code.

Use:

- ``_("Text")`` (alias of :func:`gettext`) for a string shown now; placeholders are
  ``{name}`` filled with ``.format(name=...)`` *after* translation, so a translator can
  move them: ``_("{n} of {m} patients").format(n=..., m=...)``.
- ``ngettext("{n} patient", "{n} patients", n).format(n=n)`` for counts.
- ``pgettext("filter", "All")`` where one English word needs two translations.
- ``N_("Text")`` marks a module-level constant for extraction without translating it;
  the code that shows it calls ``_(value)`` at display time (vocabulary labels, option
  labels, column titles).

The current language is a :class:`contextvars.ContextVar`: each Streamlit script run
(its own thread) sets it in ``ui.page.page_setup``; exports, the MDT report and the CLI
set it with :func:`language`. English is the source language and needs no catalog.

Numbers and dates are formatted for the language with Babel (:func:`fmt_int`,
:func:`fmt_decimal`, :func:`fmt_percent`, :func:`fmt_date`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import io
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCALE_DIR = Path(__file__).resolve().parent / "locale"

# Interface language code (URL ``lang=``) -> (gettext locale directory, Babel locale, name in itself).
LANGUAGES: dict[str, tuple[str, str, str]] = {
    "en": ("en", "en_GB", "English"),
    "zh": ("zh_CN", "zh_Hans_CN", "简体中文"),
}
SOURCE_LANGUAGE = "en"
# The language switch's label is in both languages on purpose: whoever cannot read the
# current one still finds it.
SWITCH_LABEL = "Language · 语言"
# One catalog per layer (a file belongs to the first domain whose path prefix it has).
DOMAINS: dict[str, tuple[str, ...]] = {
    "ui_data": tuple(f"src/dashboard/ui/{m}.py" for m in ("data_page", "mapping", "auth", "patient", "methods", "prefs")),
    "ui": ("app.py", "pages/", "src/dashboard/ui/"),
    "figures": ("src/dashboard/figures/",),
    "tables": ("src/dashboard/tables/", "src/dashboard/report.py", "src/dashboard/provenance.py",
               "src/dashboard/render.py"),
    "ingest": ("src/dashboard/ingest/", "src/dashboard/synonyms.py"),
    "core": ("src/dashboard/",),
}
# Abbreviations Chinese clinical writing keeps in Latin script (a translation keeps them).
KEPT_ABBREVIATIONS: tuple[str, ...] = (
    "cCR", "near-cCR", "non-cCR", "pCR", "MPR", "TRG", "OPS", "OPFS", "DFS", "DMFS", "EFS", "OS", "HR", "CI",
    "CTCAE", "irAE", "AE", "SOC", "PT", "ECOG", "dMMR", "pMMR", "MSI-H", "MSS", "POLE", "TME", "LAR", "APR",
    "TEM", "TAMIS", "ESD", "EMR", "IHC", "PCR", "NGS", "MDT", "QoL", "LARS", "IPTW", "SMD", "ctDNA", "NOM",
    "W&W", "LE", "RO", "GEJ", "ICI", "PD-1", "PD-L1", "CTLA-4", "BRAF", "KM", "CSV", "XLSX", "PDF", "PNG",
    "SVG", "HTML", "REDCap", "EORTC", "QLQ-C30", "CR29", "STO22", "TNM", "AJCC", "ASA", "BMI",
)

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("dashboard_language", default=None)
# Where a run that did not set the language (a Streamlit fragment rerun, which runs in a new
# thread without page_setup) finds it: ui.page registers the session's choice.
_provider: list = []


def set_language_provider(fn) -> None:
    """``fn()`` -> language code or None, asked when no language was set in this context."""
    _provider[:] = [fn]


# ----------------------------------------------------------------------------- language
def normalise_language(value: object) -> str | None:
    """An interface language code from a URL value, a browser locale (``zh-CN``,
    ``zh_Hans_CN``, ``en-US``) or an Accept-Language header; None when not offered."""
    if not isinstance(value, str):
        return None
    for part in value.split(","):
        tag = part.split(";")[0].strip().replace("_", "-").lower()
        base = tag.split("-")[0]
        if base in LANGUAGES:
            return base
    return None


def get_language() -> str:
    """The language of the current script run / export."""
    lang = _current.get()
    if lang is None:
        try:
            lang = normalise_language(_provider[0]()) if _provider else None
        except Exception:  # noqa: BLE001 - no session in this thread
            lang = None
    return lang or SOURCE_LANGUAGE


def set_language(code: str | None) -> str:
    """Make ``code`` the current language (unknown codes: the source language)."""
    lang = normalise_language(code) or SOURCE_LANGUAGE
    _current.set(lang)
    return lang


@contextmanager
def language(code: str | None) -> Iterator[str]:
    """``with language("zh"): ...`` for an export, report or test in one language."""
    token = _current.set(normalise_language(code) or SOURCE_LANGUAGE)
    try:
        yield get_language()
    finally:
        _current.reset(token)


def babel_locale(lang: str | None = None) -> str:
    return LANGUAGES[lang or get_language()][1]


# ----------------------------------------------------------------------------- catalogs
def _compile_po(po: Path) -> bytes:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as fh:
        catalog = read_po(fh)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def _translations(lang: str):
    """All domains of one language merged into one catalog. A ``.mo`` older than its
    ``.po`` (a catalog edited since install) is compiled again in memory."""
    from babel.support import NullTranslations, Translations

    merged = None
    folder = LOCALE_DIR / LANGUAGES[lang][0] / "LC_MESSAGES"
    for domain in DOMAINS:
        po, mo = folder / f"{domain}.po", folder / f"{domain}.mo"
        if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
            data = mo.read_bytes()
        elif po.exists():
            data = _compile_po(po)
        else:
            continue
        t = Translations(io.BytesIO(data), domain=domain)
        if merged is None:
            merged = t
        else:
            merged.merge(t)
    if merged is None:
        return NullTranslations()
    return merged


def gettext(message: str) -> str:
    """``message`` in the current language (itself when untranslated or English)."""
    lang = get_language()
    if lang == SOURCE_LANGUAGE or not message:
        return message
    return _translations(lang).gettext(message)


_ = gettext


def ngettext(singular: str, plural: str, n: int) -> str:
    lang = get_language()
    if lang == SOURCE_LANGUAGE:
        return singular if n == 1 else plural
    return _translations(lang).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    lang = get_language()
    if lang == SOURCE_LANGUAGE:
        return message
    return _translations(lang).pgettext(context, message)


def N_(message: str) -> str:
    """Mark ``message`` for extraction; translate it later with ``_(value)``."""
    return message


# ----------------------------------------------------------------------------- formatting
def fmt_int(n: int | float | None) -> str:
    """An integer with the locale's grouping (``1,234``)."""
    from babel.numbers import format_decimal

    if n is None:
        return ""
    return format_decimal(int(n), format="#,##0", locale=babel_locale())


def fmt_decimal(x: float | None, digits: int = 1) -> str:
    """A number with exactly ``digits`` decimals in the locale's symbols."""
    from babel.numbers import format_decimal

    if x is None:
        return ""
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(x, format=pattern, locale=babel_locale(), decimal_quantization=True)


def fmt_percent(fraction: float | None, digits: int = 1) -> str:
    """A fraction (0.123) as a percentage (``12.3%``)."""
    if fraction is None:
        return ""
    return fmt_decimal(100 * fraction, digits) + "%"


def fmt_date(value: dt.date | None, style: str = "medium") -> str:
    """A date in the locale's form (``1 Dec 2026`` / ``2026年12月1日``); ``style="iso"``
    gives ``2026-12-01`` in every language (tables and file names)."""
    from babel.dates import format_date

    if value is None:
        return ""
    if style == "iso":
        return value.isoformat()
    return format_date(value, format=style, locale=babel_locale())


_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def placeholders(text: str) -> list[str]:
    """The ``{name}`` placeholders of a message, sorted (a translation must keep them)."""
    return sorted(_PLACEHOLDER.findall(text))
