"""Provenance of an exported figure, table or report: what data, which filters, how many
patients, which app version, when. Pure (no Streamlit, no plotly); outside the ranked
layers because figures/, tables/ and ui/ all stamp it on what they export."""

from __future__ import annotations

import datetime as dt
import textwrap
from dataclasses import dataclass, field
from typing import Any, Mapping

from . import __version__
from .filters import CohortFilter

APP_NAME = "NOR-MP registry dashboard"


@dataclass(frozen=True)
class Provenance:
    """Everything an export footer states.

    Attributes
    ----------
    source : ``"synthetic"`` or ``"imported"`` (store meta ``source``).
    synthetic : True for the seeded demonstration registry.
    built_at : when the store was built or imported (ISO 8601, UTC).
    content_hash : the store's content hash (hex); footers show its first 12 characters.
    detail : seed and generator for synthetic data, export format for imported data.
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

    def __post_init__(self) -> None:
        if not isinstance(self.filters, tuple):
            object.__setattr__(self, "filters", tuple(self.filters))

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], flt: CohortFilter | None = None, *, n: int | None = None,
                  m: int | None = None, exported_at: str | None = None) -> "Provenance":
        """From ``Store.meta()``, the active filter and the patient counts."""
        synthetic = meta.get("source") == "synthetic"
        if synthetic and meta.get("mapping_name"):
            detail = "a synthetic site file"
        elif synthetic:
            detail = f"seed {meta.get('seed', '?')}, generator {meta.get('generator_version', '?')}"
        else:
            detail = f"{meta.get('import_format', 'registry')} export"
        if meta.get("mapping_name"):
            detail += f"; {mapping_text(meta)}"
        return cls(
            source="synthetic" if synthetic else str(meta.get("source") or "imported"),
            synthetic=synthetic,
            built_at=str(meta.get("built_at", "")),
            content_hash=str(meta.get("content_hash", "")),
            detail=detail,
            filters=tuple(flt.describe()) if flt is not None else (),
            n=n, m=m,
            exported_at=exported_at or now_utc(),
        )

    @property
    def hash_short(self) -> str:
        return self.content_hash[:12]

    @property
    def filter_text(self) -> str:
        return "; ".join(self.filters) if self.filters else "none (all registered patients)"

    @property
    def n_text(self) -> str:
        if self.n is None:
            return ""
        return f"N = {self.n:,}" + (f" of {self.m:,} registered" if self.m is not None else "")

    def lines(self) -> list[str]:
        """The footer as sentences: data source, filters and N, app and export time."""
        if self.synthetic:
            source = (f"SYNTHETIC DATA - not real patients. Synthetic demonstration registry ({self.detail}), "
                      f"built {self.built_at[:10]}, content hash {self.hash_short}")
        else:
            source = f"Imported registry data ({self.detail}), loaded {self.built_at[:10]}, content hash {self.hash_short}"
        who = f"Filters: {self.filter_text}" + (f". {self.n_text}" if self.n_text else "")
        app = f"{APP_NAME} v{self.app_version}; exported {self.exported_at}"
        return [source + ".", who + ".", app + "."]

    def wrapped(self, width: int) -> list[str]:
        """:meth:`lines`, wrapped to ``width`` characters."""
        out: list[str] = []
        for line in self.lines():
            out += textwrap.wrap(line, width=max(20, width), break_long_words=True) or [""]
        return out

    def as_rows(self) -> list[tuple[str, str]]:
        """(field, value) pairs for a provenance sheet or table."""
        return [
            ("data", "SYNTHETIC demonstration data - not real patients" if self.synthetic else "imported registry data"),
            ("source", self.source), ("detail", self.detail), ("built_at", self.built_at),
            ("content_hash", self.content_hash), ("filters", self.filter_text),
            ("n", "" if self.n is None else str(self.n)), ("m", "" if self.m is None else str(self.m)),
            ("app", f"{APP_NAME} v{self.app_version}"), ("exported_at", self.exported_at),
        ]


def mapping_text(meta: Mapping[str, Any]) -> str:
    """"mapped with 'name' (sha256 abc..., N assumed constants)" for a store loaded through a mapping file."""
    import json

    try:
        assumed = json.loads(meta.get("mapping_assumed") or "[]")
    except ValueError:
        assumed = []
    what = f"mapped with '{meta.get('mapping_name')}' (mapping sha256 {str(meta.get('mapping_sha256', ''))[:12]}"
    if assumed:
        what += "; assumed: " + ", ".join(f"{a['table']}.{a['column']}={a['value']} ({a['cells']} cells)" for a in assumed)
    return what + ")"


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def slug(text: str) -> str:
    """A file-name-safe version of a title."""
    keep = "".join(c.lower() if c.isalnum() else "_" for c in text)
    return "_".join(p for p in keep.split("_") if p)[:60] or "export"
