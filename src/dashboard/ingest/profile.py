"""Profile a source before mapping it (in the spirit of OHDSI's WhiteRabbit).

Per column: detected type, share empty, distinct values with counts (top 20), the date
patterns found; per file: encoding and delimiter (CSV), sheets and which are hidden
(workbooks), value labels (SPSS/Stata/SAS), and for a REDCap records export the arms,
events and repeating instruments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..i18n import N_, _, pgettext
from .sources import ROW, SourceTable, read_source

TOP = 20
DATE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("YYYY-MM-DD", r"\d{4}-\d{1,2}-\d{1,2}"),
    ("YYYY-MM-DD hh:mm", r"\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?"),
    ("YYYY/M/D", r"\d{4}[/.]\d{1,2}[/.]\d{1,2}"),
    ("YYYY年M月D日", r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*[日号]?"),
    (N_("DD/MM/YYYY (day > 12 seen)"), r"(1[3-9]|2\d|3[01])[/.-]\d{1,2}[/.-]\d{4}"),
    (N_("MM/DD/YYYY (day > 12 seen)"), r"\d{1,2}[/.-](1[3-9]|2\d|3[01])[/.-]\d{4}"),
    (N_("D/M/YYYY or M/D/YYYY"), r"\d{1,2}[/.-]\d{1,2}[/.-]\d{4}"),
    ("DD-Mon-YYYY", r"\d{1,2}[-/ ][A-Za-z]{3,9}[-/ ]\d{4}"),
    ("YYYYMMDD", r"(19|20)\d{6}"),
)  # pattern names are keys (wizard.py reads them); shown with _()
def _type_label(code: str) -> str:
    labels = {"empty": pgettext("import", "empty"), "date": pgettext("import", "date"),
              "int": pgettext("import", "whole number"), "float": pgettext("import", "number"),
              "bool": pgettext("import", "yes/no"), "text": pgettext("import", "text")}
    return labels.get(code, code)


def _redcap_label(key: str) -> str:
    labels = {"events": pgettext("import", "events"), "arms": pgettext("import", "arms"),
              "repeating instruments": pgettext("import", "repeating instruments")}
    return labels.get(key, key)


def visibility_label(state: str) -> str:
    """A sheet's state (``hidden`` / ``veryhidden``) in the current language."""
    labels = {"hidden": pgettext("import", "hidden"), "veryhidden": pgettext("import", "very hidden")}
    return labels.get(state, state)


@dataclass
class ColumnProfile:
    name: str
    detected: str  # empty | date | int | float | bool | text
    filled: int
    empty_share: float
    distinct: int
    top: list[tuple[str, int]]
    date_patterns: dict[str, int]
    value_labels: dict[str, str] = field(default_factory=dict)
    label: str = ""


@dataclass
class SourceProfile:
    file: str
    format: str
    rows: int
    columns: list[ColumnProfile]
    encoding: str | None = None
    delimiter: str | None = None
    sheets: list[tuple[str, str]] = field(default_factory=list)
    redcap: dict[str, list[str]] = field(default_factory=dict)

    def frame(self) -> pl.DataFrame:
        """The profile as a table to show, in the current language (headers and types)."""
        return pl.DataFrame({
            pgettext("import", "column"): [c.name for c in self.columns],
            pgettext("import", "type"): [_type_label(c.detected) for c in self.columns],
            pgettext("import", "empty %"): [round(100 * c.empty_share, 1) for c in self.columns],
            pgettext("import", "distinct values"): [c.distinct for c in self.columns],
            pgettext("import", "top values"): [", ".join(f"{v} ({n})" for v, n in c.top[:8]) for c in self.columns],
            pgettext("import", "date patterns"): [", ".join(f"{_(k)} ({n})" for k, n in c.date_patterns.items()) for c in self.columns],
        })

    def format_text(self) -> str:
        out = [_("{file}: {format}, {rows} data rows, {n} columns").format(file=self.file, format=self.format, rows=self.rows, n=len(self.columns))]
        if self.encoding:
            out.append(_("encoding {encoding}, delimiter {delimiter}").format(encoding=self.encoding, delimiter=repr(self.delimiter)))
        if self.sheets:
            out.append(_("sheets: {sheets}").format(sheets=", ".join(
                n + ("" if v == "visible" else f" ({visibility_label(v)})") for n, v in self.sheets)))
        for k, v in self.redcap.items():
            out.append(f"REDCap {_redcap_label(k)}: {', '.join(v) if v else '-'}")
        for c in self.columns:
            out.append("")
            out.append(f"[{c.name}]" + ("  " + _("label: {label}").format(label=c.label) if c.label else ""))
            out.append(_("  type {detected}; {n}% empty; {distinct} distinct value(s)").format(
                detected=_type_label(c.detected), n=format(100 * c.empty_share, '.0f'), distinct=c.distinct))
            if c.date_patterns:
                out.append(_("  date patterns: ") + ", ".join(f"{_(k)} x{n}" for k, n in c.date_patterns.items()))
            if c.value_labels:
                out.append(_("  value labels: ") + ", ".join(f"{k} = {v}" for k, v in c.value_labels.items()))
            if c.top:
                out.append(_("  top values: ") + ", ".join(f"{v!r} x{n}" for v, n in c.top))
        return "\n".join(out)


def _detect(values: list[str]) -> tuple[str, dict[str, int]]:
    if not values:
        return "empty", {}
    pats: dict[str, int] = {}
    dates = 0
    for v in values:
        for name, rx in DATE_PATTERNS:
            if re.fullmatch(rx, v.strip()):
                pats[name] = pats.get(name, 0) + 1
                dates += 1
                break
    if dates >= 0.8 * len(values):
        return "date", pats
    nums = 0
    ints = 0
    for v in values:
        try:
            x = float(v.replace(",", "."))
        except ValueError:
            continue
        nums += 1
        ints += x.is_integer()
    if nums == len(values):
        return ("int" if ints == nums else "float"), pats
    low = {v.strip().lower() for v in values}
    if low <= {"y", "n", "yes", "no", "true", "false", "0", "1", "是", "否"}:
        return "bool", pats
    return "text", pats


def profile_table(st: SourceTable) -> SourceProfile:
    cols = []
    n = st.frame.height
    for c in st.columns:
        s = st.frame[c]
        vals = [v for v in s.to_list() if v is not None]
        counts = (s.drop_nulls().value_counts(sort=True, name="n").head(TOP)) if vals else None
        top = [(str(r[c]), int(r["n"])) for r in counts.iter_rows(named=True)] if counts is not None else []
        detected, pats = _detect(vals)
        cols.append(ColumnProfile(c, detected, len(vals), 1 - len(vals) / n if n else 1.0, s.drop_nulls().n_unique(),
                                  top, pats, st.value_labels.get(c, {}), st.variable_labels.get(c, "")))
    redcap: dict[str, list[str]] = {}
    if "redcap_event_name" in st.columns:
        events = sorted(set(st.frame["redcap_event_name"].drop_nulls().to_list()))
        redcap["events"] = events
        redcap["arms"] = sorted({m.group(1) for e in events if (m := re.search(r"_(arm_\d+)$", e))})
    if "redcap_repeat_instrument" in st.columns:
        redcap["repeating instruments"] = sorted(set(st.frame["redcap_repeat_instrument"].drop_nulls().to_list()))
    return SourceProfile(st.file, st.format, n, cols, st.encoding, st.delimiter, st.sheets, redcap)


def profile_path(path: str | Path, *, sheet: str | None = None, header_row: int = 1, encoding: str = "auto",
                 delimiter: str = "auto") -> list[SourceProfile]:
    """Profile a file: every visible and hidden sheet of a workbook (``sheet`` = only that one)."""
    st = read_source(path, sheet=sheet, header_row=header_row, encoding=encoding, delimiter=delimiter)
    out = [profile_table(st)]
    if st.sheets and sheet is None:
        for name, _vis in st.sheets:
            if name != st.sheet:
                try:
                    out.append(profile_table(read_source(path, sheet=name)))
                except Exception:  # noqa: BLE001 - an empty or odd extra sheet is shown as listed only
                    continue
    return out


__all__ = ["ColumnProfile", "SourceProfile", "profile_path", "profile_table", "ROW"]
