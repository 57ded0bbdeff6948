"""Provenance of an exported figure, table or report: what data, which filters, how many
patients, which app version, when. Pure (no Streamlit, no plotly); outside the ranked
layers because figures/, tables/ and ui/ all stamp it on what they export."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Mapping

from . import __version__
from .filters import CohortFilter
from .i18n import LANGUAGES, N_, _, fmt_int, get_language

APP_NAME = N_("NOR-MP registry dashboard")
# The data-status banner every export carries for the demonstration registry (both languages).
SYNTHETIC_BANNER = N_("SYNTHETIC DEMONSTRATION DATA - not real patients")
# Its short form, which leads every footer (exports set it in bold: :func:`synthetic_label`).
SYNTHETIC_SHORT = N_("SYNTHETIC DATA - not real patients")


def synthetic_label() -> str:
    """"SYNTHETIC DATA - not real patients" in the current language (the lead of a
    synthetic export's first footer line, to set in bold)."""
    return _(SYNTHETIC_SHORT)


@dataclass(frozen=True)
class Provenance:
    """Everything an export footer states.

    Attributes
    ----------
    source : ``"synthetic"`` or ``"imported"`` (store meta ``source``).
    synthetic : True for the seeded demonstration registry.
    built_at : when the store was built or imported (ISO 8601, UTC).
    content_hash : the store's content hash (hex); footers show its first 12 characters.
    detail : seed and generator for synthetic data, export format for imported data
        (English; :attr:`detail_text` is the same in the current language, from
        ``detail_args``).
    filters : one readable line per active cohort filter (:meth:`CohortFilter.describe`);
        empty for "all registered patients".
    n, m : patients matching the filters, and registered in total.
    app_version : the dashboard version that made the export.
    exported_at : when the export was made (ISO 8601, UTC, seconds).
    """

    source: str
    synthetic: bool
    built_at: str
    content_hash: str
    detail: str = ""
    filters: tuple[str, ...] = ()
    n: int | None = None
    m: int | None = None
    app_version: str = __version__
    exported_at: str = field(default_factory=lambda: now_utc())
    detail_args: tuple = ()

    def __post_init__(self) -> None:
        if not isinstance(self.filters, tuple):
            object.__setattr__(self, "filters", tuple(self.filters))

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], flt: CohortFilter | None = None, *, n: int | None = None,
                  m: int | None = None, exported_at: str | None = None) -> "Provenance":
        """From ``Store.meta()``, the active filter and the patient counts."""
        synthetic = meta.get("source") == "synthetic"
        if synthetic and meta.get("mapping_name"):
            args: tuple = ("site_file",)
        elif synthetic:
            args = ("seed", str(meta.get("seed", "?")), str(meta.get("generator_version", "?")))
        else:
            args = ("import", str(meta.get("import_format", "registry")))
        if meta.get("mapping_name"):
            args += (tuple((k, str(meta.get(k) or "")) for k in ("mapping_name", "mapping_sha256", "mapping_assumed")),)
        with _english():
            detail = _detail(args)
        return cls(
            source="synthetic" if synthetic else str(meta.get("source") or "imported"),
            synthetic=synthetic,
            built_at=str(meta.get("built_at", "")),
            content_hash=str(meta.get("content_hash", "")),
            detail=detail,
            filters=tuple(flt.describe()) if flt is not None else (),
            n=n, m=m,
            exported_at=exported_at or now_utc(),
            detail_args=args,
        )

    @property
    def hash_short(self) -> str:
        return self.content_hash[:12]

    @property
    def detail_text(self) -> str:
        """:attr:`detail` in the current language."""
        return _detail(self.detail_args) if self.detail_args else self.detail

    @property
    def status_text(self) -> str:
        """The data-status line: "SYNTHETIC DEMONSTRATION DATA - not real patients" for the
        demonstration registry, "Imported registry data" otherwise (current language)."""
        return _(SYNTHETIC_BANNER) if self.synthetic else _("Imported registry data")

    @property
    def filter_text(self) -> str:
        return "; ".join(self.filters) if self.filters else _("none (all registered patients)")

    @property
    def n_text(self) -> str:
        if self.n is None:
            return ""
        if self.m is None:
            return _("N = {n}").format(n=fmt_int(self.n))
        return _("N = {n} of {m} registered").format(n=fmt_int(self.n), m=fmt_int(self.m))

    @property
    def app_text(self) -> str:
        return _("{app} v{version}").format(app=_(APP_NAME), version=self.app_version)

    def lines(self) -> list[str]:
        """The footer as sentences in the current language: data source, filters and N,
        app, export time and language. "SYNTHETIC DATA - not real patients" leads the
        first line for the demonstration registry, in every language."""
        if self.synthetic:
            source = _("{synthetic}. Synthetic demonstration registry ({detail}), built {built}, "
                       "content hash {hash}.").format(synthetic=synthetic_label(), detail=self.detail_text,
                                                      built=self.built_at[:10], hash=self.hash_short)
        else:
            source = _("Imported registry data ({detail}), loaded {built}, content hash {hash}.").format(
                detail=self.detail_text, built=self.built_at[:10], hash=self.hash_short)
        if self.n_text:
            who = _("Filters: {filters}. {n}.").format(filters=self.filter_text, n=self.n_text)
        else:
            who = _("Filters: {filters}.").format(filters=self.filter_text)
        app = _("{app}; exported {when}; language: {language}.").format(
            app=self.app_text, when=self.exported_at, language=language_name())
        return [source, who, app]

    def wrapped(self, width: int) -> list[str]:
        """:meth:`lines`, wrapped to ``width`` characters (a CJK character counts as two)."""
        out: list[str] = []
        for line in self.lines():
            out += wrap_text(line, max(20, width))
        return out

    def as_rows(self) -> list[tuple[str, str]]:
        """(field, value) pairs for a provenance sheet or table; the field names are
        codes (the same in every language, see :func:`field_label`), the values are in
        the current language."""
        return [
            ("data", self.status_text),
            ("source", self.source), ("detail", self.detail_text), ("built_at", self.built_at),
            ("content_hash", self.content_hash), ("filters", self.filter_text),
            ("n", "" if self.n is None else str(self.n)), ("m", "" if self.m is None else str(self.m)),
            ("app", self.app_text), ("exported_at", self.exported_at),
            ("language", f"{get_language()} ({language_name()})"),
        ]


# Provenance field codes -> their label (translated where shown).
FIELD_LABELS = {
    "title": N_("Title"), "data": N_("Data"), "source": N_("Source"), "detail": N_("Detail"),
    "built_at": N_("Built or loaded at"), "content_hash": N_("Content hash"), "filters": N_("Filters"),
    "n": N_("Patients under the filters"), "m": N_("Patients registered"), "app": N_("Made with"),
    "exported_at": N_("Exported at (UTC)"), "language": N_("Language"), "suppression": N_("Small-cell suppression"),
}


def field_label(code: str) -> str:
    """The label of a provenance field code in the current language."""
    return _(FIELD_LABELS[code]) if code in FIELD_LABELS else code


def language_name(lang: str | None = None) -> str:
    """The current language's name in itself ("English", "简体中文")."""
    return LANGUAGES[lang or get_language()][2]


@contextmanager
def _english():
    from .i18n import language

    with language("en"):
        yield


def _detail(args: tuple) -> str:
    kind = args[0] if args else ""
    mapping = dict(args[-1]) if len(args) > 1 and isinstance(args[-1], tuple) else None
    if kind == "site_file":
        text = _("a synthetic site file")
    elif kind == "seed":
        text = _("seed {seed}, generator {generator}").format(seed=args[1], generator=args[2])
    elif kind == "import":
        text = _("{format} export").format(format=args[1])
    else:
        text = ""
    if mapping is not None:
        text = _("{detail}; {mapping}").format(detail=text, mapping=mapping_text(mapping))
    return text


def _cell_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def wrap_text(text: str, width: int) -> list[str]:
    """``text`` wrapped to ``width`` columns: at spaces for Latin script, anywhere between
    CJK characters (which count as two columns); long words are broken."""
    if not any(_cell_width(c) == 2 for c in text):
        return textwrap.wrap(text, width=width, break_long_words=True) or [""]
    lines: list[str] = []
    line, used = "", 0
    for token in re.findall(r"[\u2E80-\u9FFF\uF900-\uFAFF\uFF00-\uFFEF\u3000-\u303F]|[^\s\u2E80-\u9FFF\uF900-\uFAFF\uFF00-\uFFEF\u3000-\u303F]+|\s+", text):
        w = sum(_cell_width(c) for c in token)
        if token.isspace():
            if line and used + w <= width:
                line, used = line + " ", used + 1
            continue
        if used + w > width and line:
            lines.append(line.rstrip())
            line, used = "", 0
        while w > width:  # a word longer than the line
            cut, cw = 0, 0
            while cut < len(token) and cw + _cell_width(token[cut]) <= width:
                cw += _cell_width(token[cut])
                cut += 1
            lines.append(token[:cut])
            token = token[cut:]
            w = sum(_cell_width(c) for c in token)
        line, used = line + token, used + w
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


def mapping_text(meta: Mapping[str, Any]) -> str:
    """"mapped with 'name' (sha256 abc..., N assumed constants)" for a store loaded through a mapping file."""
    import json

    try:
        assumed = json.loads(meta.get("mapping_assumed") or "[]")
    except ValueError:
        assumed = []
    name, sha = meta.get("mapping_name"), str(meta.get("mapping_sha256", ""))[:12]
    if not assumed:
        return _("mapped with '{name}' (mapping sha256 {sha})").format(name=name, sha=sha)
    cells = ", ".join(_("{table}.{column}={value} ({cells} cells)").format(
        table=a["table"], column=a["column"], value=a["value"], cells=a["cells"]) for a in assumed)
    return _("mapped with '{name}' (mapping sha256 {sha}; assumed: {assumed})").format(name=name, sha=sha,
                                                                                          assumed=cells)


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def slug(text: str) -> str:
    """A file-name-safe version of a title."""
    keep = "".join(c.lower() if c.isalnum() else "_" for c in text)
    return "_".join(p for p in keep.split("_") if p)[:60] or "export"
