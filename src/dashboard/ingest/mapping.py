"""Mapping a site's own spreadsheet onto the registry: the mapping file and how it is applied.

A mapping file (TOML, :data:`FORMAT_VERSION`) says, for one source, how its rows become rows
of the canonical tables of ``schema.py``: which source column fills each target column, how
its values are recoded (a value map in any language) and transformed, which values the
source does not hold at all (constants, always reported as *assumed* with the number of
cells they filled), and which wide-to-long rules turn one source row into rows of other
tables (a ``Regrowth date`` column -> an ``onc_event`` row). docs/mapping.md documents the
format; it is generated from the key tables below and from schema.py.

:func:`apply_mapping` turns :class:`~dashboard.ingest.sources.SourceTable`\\ s into canonical
text tables (:class:`MapResult`); :meth:`MapResult.write` writes the canonical folder that
``read_registry`` / ``validate`` / ``import_registry`` accept, so a mapped source passes the
same validator and the same atomic load as any other import.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping as TMapping

import polars as pl

from ..i18n import _, fmt_int, ngettext, pgettext
from ..schema import TABLES_BY_NAME, VOCABULARIES, Column, Table
from ..synonyms import normalise
from .report import ERROR, INFO, WARNING, Problem
from .model import number_references
from .sources import ROW, SourceError, SourceTable, read_source

FORMAT_VERSION = 1
SOURCE_ROW = "__source_row"
SOURCE_FILE = "__source_file"
DEFAULT_MISSING = ("", "NA", "N/A", "n/a", "NULL", "null", "-", ".", "?")
DATE_ORDERS = ("DMY", "MDY")
UNMAPPED = ("warn", "error")
OFFSET_UNITS = {"days": 1.0, "weeks": 7.0, "months": 30.4375}
TRUE_TEXT = ("true", "t", "1", "yes", "y", "是", "有")
FALSE_TEXT = ("false", "f", "0", "no", "n", "否", "无")

# ---- the documented keys (docs/mapping.md is generated from these tables) -------------
MAPPING_KEYS: dict[str, str] = {
    "name": "Name of the mapping (required); recorded with its hash in the store's provenance and the audit trail.",
    "format_version": f"Version of this file format; {FORMAT_VERSION} today (required).",
    "description": "Free text: which source, which site, who wrote the mapping.",
    "unmapped": "`\"warn\"` (default) or `\"error\"`: what happens to source columns the mapping neither uses nor lists in `ignore`.",
    "ignore": "Source columns deliberately left out (names, MRNs, free-text notes); never reported as unmapped.",
}
SOURCE_KEYS: dict[str, tuple[str, str]] = {
    "format": ("auto", "`auto` (from the file name), `csv`, `xlsx`, `xls`, `ods`, `sav`, `dta`, `sas7bdat`, `xpt`, or "
                       "`redcap` for a REDCap records export (see `[redcap]`)."),
    "sheet": ("first visible sheet", "Workbook sheet holding one row per patient."),
    "header_row": ("1", "Row number of the header (rows above it are skipped). With 1, title rows above the real header "
                        "(a hospital's name, a merged banner: fewer filled cells than half the header's) are found, skipped "
                        "and reported (`title_rows`); row numbers in messages stay the sheet's own."),
    "date_order": ("none", "`DMY` or `MDY` for dates written like `03/04/2024`; without it such dates are an error, "
                           "never guessed. ISO dates, `2024/4/3`, `2024年4月3日`, `03-Apr-2024` and Excel dates need no order."),
    "decimal": (".", "Decimal mark of numbers written as text: `.` or `,`."),
    "encoding": ("auto", "CSV text encoding: `auto` tries UTF-8, then GB18030, then Windows-1252; or a Python codec name."),
    "delimiter": ("auto", "CSV delimiter: `auto` (sniffed among `,` `;` tab `|`) or the character."),
    "missing": ("\"\", NA, N/A, NULL, -, ., ?", "Cell texts that mean missing (compared after trimming blanks)."),
    "synthetic": ("false", "`true` only for synthetic test sources (the worked examples): the store is labelled SYNTHETIC."),
}
COLUMN_KEYS: dict[str, str] = {
    "source": "Source column whose value fills the target column. A plain string `col = \"Sex (M/F)\"` is short for `{ source = ... }`.",
    "values": "Value map: source value -> canonical code (any language, e.g. `\"男\" = \"M\"`). Matched exactly, then ignoring "
              "case, width and blanks. `\"\"` as target means missing. A coded value not in the map (nor already a code) is an "
              "`unmapped_value` error naming file, row and column.",
    "split": "Separator: keep one part of the value (`part`, from 1; default 1), e.g. `split = \"/\"` on `cT3/N1`.",
    "part": "Which part after `split` (1 = first; -1 = last).",
    "regex": "Regular expression; the first group (or the whole match) is kept, e.g. `regex = \"(\\\\d+)\"` on `病例001`. No match is an error.",
    "scale": "Multiply a number, e.g. `scale = 0.1` for millimetres -> centimetres.",
    "offset_from": "Source column holding a date; the value (a number) is added to it in `offset_unit`s to give a date.",
    "offset_unit": "`days` (default), `weeks` or `months` (30.4375 days) for `offset_from`.",
    "template": "Text with `{value}` (the value so far) and `{Source column}` placeholders, e.g. `\"PKU-{value}\"`.",
    "value": "A fixed value that the rule itself implies (an `onc_event` row made from a regrowth date is LOCAL_REGROWTH).",
    "assumed": "A fixed value the source does not hold: reported as assumed, with the cells it filled.",
    "number_of": "In a `[[rows]]` rule: the number (`episode_no`, `procedure_no`, ...) that the earlier rule with this "
                 "`id` gave the row it made from the same source row (e.g. a procedure's `episode_no`); empty when it made none.",
}
TRANSFORM_ORDER = ("split", "regex", "values", "scale", "offset_from", "template")
ROW_KEYS: dict[str, str] = {
    "id": "Name of the rule (unique); `number_of` refers to it.",
    "table": "Target table of the rows this rule makes.",
    "when": "Conditions, all of which must hold on the source row: `{ column = \"W&W Y/N\", in = [\"Y\"] }`, "
            "`{ column = \"Surgery date\", present = true }`, `{ column = ..., not_in = [...] }`. Compared after trimming, "
            "ignoring case.",
    "sheet": "Another sheet of the same workbook with one row per target row (e.g. an AE sheet); the rule must then map "
             "`subject_id` itself.",
    "columns": "Target columns, each as in `[tables]`. The table's running number (`event_no`, `episode_no`, ...) is given "
               "per patient in rule order when not mapped.",
}
REDCAP_KEYS: dict[str, str] = {
    "record_id": "Record id field (default `record_id`).",
    "baseline_events": "Event names whose non-repeating rows make the one-row-per-patient tables (e.g. `[\"baseline_arm_1\"]`).",
    "forms": "Form name -> target table for non-repeating forms (e.g. `{ demographics = \"subject\" }`).",
    "repeating": "Repeating instrument or event name -> target table (e.g. `{ adverse_events = \"ae\" }`).",
    "choices": "Per field, choice label -> code maps (`[redcap.choices.sex] Male = \"M\"`); REDCap's own `1, Male` labels "
               "are offered as the value map by the profile.",
}
CONSTANTS_DOC = ("`[constants.<table>]`: `column = \"value\"` for every row of the table where the mapping gives no value "
                 "(registry part, centre, eligibility). Shown as **assumed** on the Data page, in the map report and in the "
                 "store's provenance, with the number of cells each filled.")


class MappingError(ValueError):
    """A mapping file that cannot be used: the message names the file, the key and the reason."""


# ---------------------------------------------------------------------------------------
# The mapping, as data
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnSpec:
    source: str | None = None
    values: tuple[tuple[str, str], ...] = ()
    split: str | None = None
    part: int = 1
    regex: str | None = None
    scale: float | None = None
    offset_from: str | None = None
    offset_unit: str = "days"
    template: str | None = None
    value: str | None = None
    assumed: str | None = None
    number_of: str | None = None

    @property
    def value_map(self) -> dict[str, str]:
        return dict(self.values)

    def to_toml(self) -> dict[str, Any] | str:
        d: dict[str, Any] = {}
        for k in ("source", "split", "regex", "scale", "offset_from", "template", "value", "assumed", "number_of"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.split is not None and self.part != 1:
            d["part"] = self.part
        if self.offset_from is not None and self.offset_unit != "days":
            d["offset_unit"] = self.offset_unit
        if self.values:
            d["values"] = dict(self.values)
        return d["source"] if list(d) == ["source"] else d

    def source_columns(self) -> set[str]:
        out = {c for c in (self.source, self.offset_from) if c}
        if self.template:
            out |= {m for m in re.findall(r"\{([^{}]+)\}", self.template) if m != "value"}
        return out


@dataclass(frozen=True)
class Condition:
    column: str
    present: bool | None = None
    any_of: tuple[str, ...] | None = None
    none_of: tuple[str, ...] | None = None

    def holds(self, row: TMapping[str, str | None]) -> bool:
        v = row.get(self.column)
        if self.present is not None and (v is not None) != self.present:
            return False
        n = normalise(v) if v is not None else None
        if self.any_of is not None and (n is None or n not in {normalise(x) for x in self.any_of}):
            return False
        if self.none_of is not None and n is not None and n in {normalise(x) for x in self.none_of}:
            return False
        return True

    def to_toml(self) -> dict[str, Any]:
        d: dict[str, Any] = {"column": self.column}
        if self.present is not None:
            d["present"] = self.present
        if self.any_of is not None:
            d["in"] = list(self.any_of)
        if self.none_of is not None:
            d["not_in"] = list(self.none_of)
        return d


@dataclass(frozen=True)
class Rule:
    """Rows of one target table made from source rows (``[tables.X]``: every row; ``[[rows]]``: when conditions hold)."""

    id: str
    table: str
    columns: tuple[tuple[str, ColumnSpec], ...]
    when: tuple[Condition, ...] = ()
    sheet: str | None = None
    per_row: bool = False  # declared under [tables]

    @property
    def spec(self) -> dict[str, ColumnSpec]:
        return dict(self.columns)


@dataclass(frozen=True)
class SourceOptions:
    format: str = "auto"
    sheet: str | None = None
    header_row: int = 1
    date_order: str | None = None
    decimal: str = "."
    encoding: str = "auto"
    delimiter: str = "auto"
    missing: tuple[str, ...] = DEFAULT_MISSING
    synthetic: bool = False

    def to_toml(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": self.format}
        if self.sheet is not None:
            d["sheet"] = self.sheet
        d["header_row"] = self.header_row
        if self.date_order:
            d["date_order"] = self.date_order
        d.update(decimal=self.decimal, encoding=self.encoding, delimiter=self.delimiter, missing=list(self.missing))
        if self.synthetic:
            d["synthetic"] = True
        return d


@dataclass(frozen=True)
class RedcapOptions:
    record_id: str = "record_id"
    baseline_events: tuple[str, ...] = ()
    forms: tuple[tuple[str, str], ...] = ()
    repeating: tuple[tuple[str, str], ...] = ()
    choices: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def to_toml(self) -> dict[str, Any]:
        return {"record_id": self.record_id, "baseline_events": list(self.baseline_events), "forms": dict(self.forms),
                "repeating": dict(self.repeating), "choices": {k: dict(v) for k, v in self.choices}}


@dataclass(frozen=True)
class Mapping:
    name: str
    source: SourceOptions = field(default_factory=SourceOptions)
    rules: tuple[Rule, ...] = ()
    constants: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    description: str = ""
    unmapped: str = "warn"
    ignore: tuple[str, ...] = ()
    redcap: RedcapOptions | None = None
    format_version: int = FORMAT_VERSION

    # --- serialisation ---
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mapping": {"name": self.name, "format_version": self.format_version}}
        if self.description:
            d["mapping"]["description"] = self.description
        d["mapping"]["unmapped"] = self.unmapped
        if self.ignore:
            d["mapping"]["ignore"] = list(self.ignore)
        d["source"] = self.source.to_toml()
        if self.constants:
            d["constants"] = {t: dict(cols) for t, cols in self.constants}
        per_row = [r for r in self.rules if r.per_row]
        if per_row:
            d["tables"] = {r.table: {c: s.to_toml() for c, s in r.columns} for r in per_row}
        rows = [r for r in self.rules if not r.per_row]
        if rows:
            d["rows"] = []
            for r in rows:
                item: dict[str, Any] = {"id": r.id, "table": r.table}
                if r.sheet:
                    item["sheet"] = r.sheet
                if r.when:
                    item["when"] = [c.to_toml() for c in r.when]
                item["columns"] = {c: s.to_toml() for c, s in r.columns}
                d["rows"].append(item)
        if self.redcap is not None:
            d["redcap"] = self.redcap.to_toml()
        return d

    def dumps(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    @property
    def sha256(self) -> str:
        """Hash of the mapping's content (its canonical TOML), whatever the file's layout or comments."""
        return hashlib.sha256(self.dumps().encode("utf-8")).hexdigest()

    # --- queries ---
    def constant_map(self) -> dict[str, dict[str, str]]:
        return {t: dict(cols) for t, cols in self.constants}

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def subject_id_spec(self) -> ColumnSpec:
        for r in self.rules:
            if r.per_row and r.table == "subject" and "subject_id" in r.spec:
                return r.spec["subject_id"]
        raise MappingError(_("the mapping has no [tables.subject] subject_id"))

    def sheets(self) -> list[str | None]:
        return [None] + sorted({r.sheet for r in self.rules if r.sheet})

    def used_columns(self, sheet: str | None = None) -> set[str]:
        used: set[str] = set()
        for r in self.rules:
            if r.sheet != sheet and not (sheet is None and r.sheet is None):
                continue
            for _src, s in r.columns:
                used |= s.source_columns()
            used |= {c.column for c in r.when}
        if sheet is None:
            used |= self.subject_id_spec().source_columns()
        return used

    def with_values(self, table: str, column: str, extra: TMapping[str, str]) -> "Mapping":
        """A copy whose value map for ``table.column`` (in every rule) also holds ``extra``."""
        rules = []
        for r in self.rules:
            if r.table == table and column in r.spec:
                spec = r.spec[column]
                merged = {**spec.value_map, **extra}
                cols = tuple((c, replace(s, values=tuple(merged.items())) if c == column else s) for c, s in r.columns)
                r = replace(r, columns=cols)
            rules.append(r)
        return replace(self, rules=tuple(rules))


# ---------------------------------------------------------------------------------------
# Parsing and checking a mapping file
# ---------------------------------------------------------------------------------------
def _err(file: str, where: str, why: str) -> MappingError:
    return MappingError(f"{file}: {where}: {why}")


def _unknown(file: str, where: str, got: Iterable[str], known: Iterable[str]) -> None:
    bad = sorted(set(got) - set(known))
    if bad:
        raise _err(file, where, _("unknown key(s) {bad} (known: {known})").format(bad=', '.join(bad), known=', '.join(known)))


def _column_spec(raw: Any, file: str, where: str, col: Column) -> ColumnSpec:
    if isinstance(raw, str):
        raw = {"source": raw}
    if not isinstance(raw, dict):
        raise _err(file, where, _("expected a source column name or an inline table"))
    _unknown(file, where, raw, COLUMN_KEYS)
    fixed = [k for k in ("source", "value", "assumed", "number_of") if k in raw]
    if len(fixed) != 1 and not (fixed == [] and "template" in raw):
        raise _err(file, where, _("give exactly one of source, value, assumed, number_of (or a template)"))
    values = raw.get("values", {})
    if not isinstance(values, dict):
        raise _err(file, where + ".values", _("expected a table of source value = code"))
    values = {str(k): str(v) for k, v in values.items()}
    if col.type == "code":
        vocab = VOCABULARIES[col.vocab]  # type: ignore[index]
        for k, v in values.items():
            if v != "" and v not in vocab.codes:
                raise _err(file, f"{where}.values.{k!r}", _("{v} is not a code of {name} ({codes})").format(v=repr(v), name=vocab.name, codes=', '.join(vocab.codes)))
        for k in ("value", "assumed"):
            if k in raw and str(raw[k]) not in vocab.codes and not values:
                raise _err(file, f"{where}.{k}", _("{v} is not a code of {name} ({codes})").format(v=repr(raw[k]), name=vocab.name, codes=', '.join(vocab.codes)))
    if "regex" in raw:
        try:
            re.compile(raw["regex"])
        except re.error as exc:
            raise _err(file, where + ".regex", _("not a valid regular expression ({exc})").format(exc=exc)) from None
    unit = raw.get("offset_unit", "days")
    if unit not in OFFSET_UNITS:
        raise _err(file, where + ".offset_unit", _("{unit}: expected one of {units}").format(unit=repr(unit), units=', '.join(OFFSET_UNITS)))
    if "scale" in raw and not isinstance(raw["scale"], (int, float)):
        raise _err(file, where + ".scale", _("expected a number"))
    return ColumnSpec(
        source=raw.get("source"), values=tuple(values.items()), split=raw.get("split"), part=int(raw.get("part", 1)),
        regex=raw.get("regex"), scale=float(raw["scale"]) if "scale" in raw else None, offset_from=raw.get("offset_from"),
        offset_unit=unit, template=raw.get("template"),
        value=None if raw.get("value") is None else str(raw["value"]),
        assumed=None if raw.get("assumed") is None else str(raw["assumed"]), number_of=raw.get("number_of"),
    )


def _columns(raw: Any, file: str, where: str, t: Table) -> tuple[tuple[str, ColumnSpec], ...]:
    if not isinstance(raw, dict):
        raise _err(file, where, _("expected a table of target column = spec"))
    out = []
    for name, spec in raw.items():
        if name not in t.column_names:
            raise _err(file, f"{where}.{name}", _("{table} has no column {column} (columns: {columns})").format(table=t.name, column=repr(name), columns=', '.join(t.column_names)))
        out.append((name, _column_spec(spec, file, f"{where}.{name}", t.column(name))))
    return tuple(sorted(out, key=lambda cs: t.column_names.index(cs[0])))  # schema order: layout never matters


def _table(name: str, file: str, where: str) -> Table:
    if name not in TABLES_BY_NAME:
        raise _err(file, where, _("unknown table {name} (tables: {tables})").format(name=repr(name), tables=', '.join(TABLES_BY_NAME)))
    return TABLES_BY_NAME[name]


def parse_mapping(text: str, file: str = "<mapping>") -> Mapping:
    """Parse and check a mapping file; raises :class:`MappingError` naming the key at fault."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(_("{file}: not valid TOML ({exc})").format(file=file, exc=exc)) from None
    _unknown(file, _("top level"), doc, ("mapping", "source", "constants", "tables", "rows", "redcap"))
    head = doc.get("mapping")
    if not isinstance(head, dict) or not head.get("name"):
        raise _err(file, "[mapping]", _("needs name = \"...\""))
    _unknown(file, "[mapping]", head, MAPPING_KEYS)
    version = head.get("format_version")
    if version != FORMAT_VERSION:
        raise _err(file, "[mapping].format_version", _("{version}: this dashboard reads format_version = {expected}").format(version=repr(version), expected=FORMAT_VERSION))
    unmapped = head.get("unmapped", "warn")
    if unmapped not in UNMAPPED:
        raise _err(file, "[mapping].unmapped", _("{unmapped}: expected \"warn\" or \"error\"").format(unmapped=repr(unmapped)))
    src = doc.get("source", {})
    _unknown(file, "[source]", src, SOURCE_KEYS)
    order = src.get("date_order")
    if order is not None and order not in DATE_ORDERS:
        raise _err(file, "[source].date_order", _("{order}: expected one of {orders}").format(order=repr(order), orders=', '.join(DATE_ORDERS)))
    if src.get("decimal", ".") not in (".", ","):
        raise _err(file, "[source].decimal", _("expected \".\" or \",\""))
    source = SourceOptions(
        format=src.get("format", "auto"), sheet=src.get("sheet"), header_row=int(src.get("header_row", 1)),
        date_order=order, decimal=src.get("decimal", "."), encoding=src.get("encoding", "auto"),
        delimiter=src.get("delimiter", "auto"), missing=tuple(str(m) for m in src.get("missing", DEFAULT_MISSING)),
        synthetic=bool(src.get("synthetic", False)),
    )
    constants = []
    for tname, cols in (doc.get("constants") or {}).items():
        t = _table(tname, file, f"[constants.{tname}]")
        if not isinstance(cols, dict):
            raise _err(file, f"[constants.{tname}]", _("expected column = value"))
        for c, v in cols.items():
            if c not in t.column_names:
                raise _err(file, f"[constants.{tname}].{c}", _("{table} has no column {column}").format(table=tname, column=repr(c)))
            col = t.column(c)
            if col.type == "code" and str(v) not in VOCABULARIES[col.vocab].codes:  # type: ignore[index]
                raise _err(file, f"[constants.{tname}].{c}", _("{v} is not a code of {vocab}").format(v=repr(v), vocab=col.vocab))
        constants.append((tname, tuple(sorted(((c, str(v)) for c, v in cols.items()), key=lambda cv: t.column_names.index(cv[0])))))
    rules: list[Rule] = []
    for tname, cols in (doc.get("tables") or {}).items():
        t = _table(tname, file, f"[tables.{tname}]")
        rules.append(Rule(tname, tname, _columns(cols, file, f"[tables.{tname}]", t), per_row=True))
    ids = {r.id for r in rules}
    for i, item in enumerate(doc.get("rows") or [], start=1):
        where = f"[[rows]] #{i}"
        if not isinstance(item, dict):
            raise _err(file, where, _("expected a table"))
        _unknown(file, where, item, ROW_KEYS)
        rid = item.get("id") or f"rows{i}"
        where = f"[[rows]] {rid!r}"
        if rid in ids:
            raise _err(file, where, _("a second rule with this id"))
        t = _table(item.get("table", ""), file, where + ".table")
        cols = _columns(item.get("columns", {}), file, where + ".columns", t)
        for c, s in cols:
            if s.number_of is not None and s.number_of not in ids:
                raise _err(file, f"{where}.columns.{c}.number_of", _("{number_of} is not an earlier rule's id").format(number_of=repr(s.number_of)))
        when = []
        for j, cond in enumerate(item.get("when") or [], start=1):
            if not isinstance(cond, dict) or "column" not in cond:
                raise _err(file, f"{where}.when #{j}", _("expected { column = ..., present / in / not_in = ... }"))
            _unknown(file, f"{where}.when #{j}", cond, ("column", "present", "in", "not_in"))
            when.append(Condition(cond["column"], cond.get("present"),
                                  tuple(map(str, cond["in"])) if "in" in cond else None,
                                  tuple(map(str, cond["not_in"])) if "not_in" in cond else None))
        if item.get("sheet") and "subject_id" not in dict(cols):
            raise _err(file, where, _("a rule reading another sheet must map subject_id"))
        rules.append(Rule(rid, t.name, cols, tuple(when), item.get("sheet")))
        ids.add(rid)
    redcap = None
    if "redcap" in doc:
        rc = doc["redcap"]
        _unknown(file, "[redcap]", rc, REDCAP_KEYS)
        for k, t in {**(rc.get("forms") or {}), **(rc.get("repeating") or {})}.items():
            _table(str(t), file, f"[redcap] {k!r}")
        redcap = RedcapOptions(rc.get("record_id", "record_id"), tuple(rc.get("baseline_events", ())),
                               tuple((str(k), str(v)) for k, v in (rc.get("forms") or {}).items()),
                               tuple((str(k), str(v)) for k, v in (rc.get("repeating") or {}).items()),
                               tuple((str(f), tuple((str(a), str(b)) for a, b in m.items()))
                                     for f, m in (rc.get("choices") or {}).items()))
    m = Mapping(name=str(head["name"]), source=source, rules=tuple(rules), constants=tuple(constants),
                description=str(head.get("description", "")), unmapped=unmapped,
                ignore=tuple(map(str, head.get("ignore", ()))), redcap=redcap)
    m.subject_id_spec()  # raises if absent
    return m


def load_mapping(path: str | Path) -> Mapping:
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(_("{path}: cannot be read ({exc})").format(path=path, exc=exc)) from None
    return parse_mapping(text, path.name)


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------
class CellError(ValueError):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


def parse_date(text: str, order: str | None = None) -> _dt.date:
    """A date written any of the usual ways; raises :class:`CellError` when unreadable or ambiguous."""
    s = text.strip()
    try:
        if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?", s):
            return _dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.fullmatch(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?", s):
            return _dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.fullmatch(r"(\d{4})(\d{2})(\d{2})", s):
            return _dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.fullmatch(r"(\d{1,2})[-/. ]([A-Za-z]{3})[A-Za-z]*[-/. ](\d{4})", s):
            if m[2].lower() in _MONTHS:
                return _dt.date(int(m[3]), _MONTHS[m[2].lower()], int(m[1]))
        if m := re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", s):
            a, b, y = int(m[1]), int(m[2]), int(m[3])
            if order == "DMY":
                return _dt.date(y, b, a)
            if order == "MDY":
                return _dt.date(y, a, b)
            raise CellError("date_order_needed", _("{s} could be day/month or month/day: set source.date_order to DMY or MDY").format(s=repr(s)))
        if m := re.fullmatch(r"(\d{5})(?:\.0+)?", s):  # an Excel serial day number exported as text
            d = _dt.date(1899, 12, 30) + _dt.timedelta(days=int(m[1]))
            if 1990 <= d.year <= 2100:
                return d
    except CellError:
        raise
    except ValueError as exc:
        raise CellError("date_invalid", _("{s} is not a calendar date ({exc})").format(s=repr(s), exc=exc)) from None
    raise CellError("date_unreadable", _("{s} is not a date this mapping can read (write it as YYYY-MM-DD, or fix it with "
                                          "regex/template)").format(s=repr(s)))


def _number(text: str, decimal: str) -> float:
    s = text.strip().replace("\u00a0", "").replace(" ", "")
    if decimal == ",":
        s = s.replace(".", "").replace(",", ".") if "," in s else s
    try:
        return float(s)
    except ValueError:
        raise CellError("not_a_number", _("{text} is not a number").format(text=repr(text))) from None


def _num_text(x: float) -> str:
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.12g}"


def _lookup(values: TMapping[str, str], v: str) -> str | None:
    if v in values:
        return values[v]
    n = normalise(v)
    for k, code in values.items():
        if normalise(k) == n:
            return code
    return None


def _as_code(col: Column, v: str) -> str | None:
    codes = VOCABULARIES[col.vocab].codes  # type: ignore[index]
    if v in codes:
        return v
    up = v.strip().upper()
    if up in codes:
        return up
    return None


def _pre(spec: ColumnSpec, v: str) -> str:
    """split and regex: the part of the cell the value map sees."""
    if spec.split is not None:
        parts = v.split(spec.split)
        i = spec.part - 1 if spec.part > 0 else spec.part
        try:
            v = parts[i].strip()
        except IndexError:
            raise CellError("split_part_missing", _("{v} has no part {part} after splitting on {split}").format(v=repr(v), part=spec.part, split=repr(spec.split))) from None
    if spec.regex is not None:
        m = re.search(spec.regex, v)
        if not m:
            raise CellError("regex_no_match", _("{v} does not match {regex}").format(v=repr(v), regex=repr(spec.regex)))
        v = (m.group(1) if m.groups() else m.group(0)).strip()
    return v


def needs_value_map(col: Column) -> bool:
    return col.type in ("code", "bool")


# ---------------------------------------------------------------------------------------
# Applying a mapping
# ---------------------------------------------------------------------------------------
@dataclass
class MapResult:
    """The canonical text tables a mapping makes from a source, and what it met on the way."""

    mapping: Mapping
    tables: dict[str, pl.DataFrame]  # canonical columns as text + SOURCE_FILE + SOURCE_ROW
    problems: list[Problem]
    assumed: list[dict[str, Any]]  # {table, column, value, cells, by}
    unmapped_columns: list[str]
    unseen: list[dict[str, Any]]  # {table, column, source, value, count}
    sources: dict[str, str]  # source file -> sha256
    source_format: str = ""

    @property
    def ok(self) -> bool:
        return not any(p.severity == ERROR for p in self.problems)

    def canonical(self) -> dict[str, pl.DataFrame]:
        return {t: df.drop(SOURCE_FILE, SOURCE_ROW) for t, df in self.tables.items()}

    def problems_frame(self) -> pl.DataFrame:
        from .report import problems_frame

        return problems_frame(self.problems)

    def assumed_frame(self) -> pl.DataFrame:
        schema = {"table": pl.String, "column": pl.String, "value": pl.String, "cells": pl.Int64, "by": pl.String}
        return pl.DataFrame(self.assumed, schema=schema, orient="row") if self.assumed else pl.DataFrame(schema=schema)

    def row_counts(self) -> dict[str, int]:
        return {t: df.height for t, df in self.tables.items()}

    def provenance(self) -> dict[str, str]:
        """What the store records about the mapping (keys ``mapping_*``)."""
        return {
            "mapping_name": self.mapping.name,
            "mapping_sha256": self.mapping.sha256,
            "mapping_format_version": str(self.mapping.format_version),
            "mapping_sources": json.dumps(self.sources, ensure_ascii=False),
            "mapping_assumed": json.dumps(self.assumed, ensure_ascii=False),
        }

    def write(self, out_dir: str | Path) -> Path:
        """Write the canonical folder (``<table>.csv``, ``manifest.json``) and ``mapping_report.json``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, str] = {}
        for t, df in self.canonical().items():
            if df.height or t in ("subject", "follow_up"):
                df.write_csv(out / f"{t}.csv", null_value="", quote_style="necessary", line_terminator="\n")
                written[f"{t}.csv"] = hashlib.sha256((out / f"{t}.csv").read_bytes()).hexdigest()
        # the readers trust "synthetic" only when every file hash matches (an edited folder is real data)
        manifest: dict[str, Any] = {"source": "synthetic" if self.mapping.source.synthetic else "imported",
                                    "files_sha256": written, "mapping": self.provenance()}
        if self.mapping.source.synthetic:
            manifest["store_meta"] = {"seed": "-", "generator_version": "synthetic site file",
                                      "n_patients": str(self.tables["subject"].height)}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")
        report = {"mapping": self.mapping.name, "mapping_sha256": self.mapping.sha256, "sources": self.sources,
                  "rows": self.row_counts(), "assumed": self.assumed, "unmapped_columns": self.unmapped_columns,
                  "unseen_values": self.unseen, "problems": [p._asdict() for p in self.problems]}
        (out / "mapping_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), "utf-8")
        return out


def read_mapped_source(path: str | Path, mapping: Mapping) -> dict[str | None, SourceTable]:
    """The main sheet (key None) and every other sheet a rule reads."""
    o = mapping.source
    if o.format == "redcap":
        from .sources import read_redcap_source

        rc = mapping.redcap or RedcapOptions()
        got = read_redcap_source(path, record_id=rc.record_id, baseline_events=rc.baseline_events,
                                 encoding=o.encoding, delimiter=o.delimiter)
        missing = [s for s in mapping.sheets()[1:] if s not in got]
        if missing:
            raise SourceError(_("{name}: the mapping reads repeating instrument/event {missing}, which the export does not "
                                 "hold (it has: {present})").format(name=Path(path).name, missing=repr(missing[0]), present=', '.join(str(k) for k in got if k) or pgettext("import", "none")))
        return got
    main = read_source(path, format=o.format, sheet=o.sheet, header_row=o.header_row, encoding=o.encoding,
                       delimiter=o.delimiter)
    out: dict[str | None, SourceTable] = {None: main}
    for sheet in mapping.sheets()[1:]:
        out[sheet] = read_source(path, format=o.format, sheet=sheet, header_row=1)
    return out


class _Applier:
    def __init__(self, mapping: Mapping) -> None:
        self.m = mapping
        self.missing = {s.strip() for s in mapping.source.missing}
        self.problems: list[Problem] = []
        self.assumed: dict[tuple[str, str, str, str], int] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES_BY_NAME}
        self.counters: dict[tuple[str, str], int] = {}
        self.unseen: dict[tuple[str, str, str, str], int] = {}
        self.choices = {f: dict(m) for f, m in (mapping.redcap.choices if mapping.redcap else ())}

    def clean(self, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip()
        return None if v in self.missing else v

    def problem(self, st: SourceTable, row: int, column: str | None, value: str | None, rule: str, message: str,
                severity: str = ERROR) -> None:
        self.problems.append(Problem(st.file, row, column, None if value is None else value[:200], rule, message, severity))

    def cell(self, st: SourceTable, rownum: int, row: dict[str, str | None], table: str, col: Column, spec: ColumnSpec,
             numbers: dict[str, int], rule_id: str) -> str | None:
        where = f"{table}.{col.name}"
        src_col = spec.source
        if spec.number_of is not None:
            n = numbers.get(spec.number_of)  # empty when that rule made no row from this source row
            return None if n is None else str(n)
        if spec.value is not None:
            v: str | None = spec.value
        elif spec.assumed is not None:
            v = spec.assumed
            key = (table, col.name, spec.assumed, f"rule {rule_id}")
            self.assumed[key] = self.assumed.get(key, 0) + 1
        elif spec.source is not None:
            v = row.get(spec.source)
        else:
            v = ""
        if v is None and spec.template is None:
            return None
        values = spec.value_map
        if spec.source is not None and spec.source in self.choices:  # REDCap choice label -> code
            ch = self.choices[spec.source]
            labels = st.value_labels.get(spec.source, {})
            values = {**{raw: code for raw, lab in labels.items() if (code := _lookup(ch, lab) or _lookup(ch, raw))},
                      **ch, **values}
        try:
            if v is not None and spec.source is not None:
                v = _pre(spec, v)
            if v is not None and values:
                mapped = _lookup(values, v)
                if mapped is not None:
                    v = mapped if mapped != "" else None
                elif needs_value_map(col) and not (col.type == "code" and _as_code(col, v)):
                    key = (table, col.name, src_col or "", v)
                    self.unseen[key] = self.unseen.get(key, 0) + 1
                    raise CellError("unmapped_value", _("{v} has no code in the value map of {where}").format(v=repr(v), where=where))
                if v is None:
                    return None
            if spec.scale is not None and v is not None:
                v = _num_text(_number(v, self.m.source.decimal) * spec.scale)
            if spec.offset_from is not None and v is not None:
                base_text = row.get(spec.offset_from)
                if base_text is None:
                    return None
                base = parse_date(base_text, self.m.source.date_order)
                v = (base + _dt.timedelta(days=round(_number(v, self.m.source.decimal) * OFFSET_UNITS[spec.offset_unit]))).isoformat()
            if spec.template is not None:
                def sub(mo: re.Match) -> str:
                    k = mo.group(1)
                    got = v if k == "value" else row.get(k)
                    return "" if got is None else str(got)
                v = re.sub(r"\{([^{}]+)\}", sub, spec.template)
            if v is None or v == "":
                return None
            return self.typed(col, v, spec, table, src_col)
        except CellError as exc:
            self.problem(st, rownum, src_col or spec.offset_from, row.get(src_col) if src_col else None, exc.rule,
                         f"{where}: {exc}")
            return None

    def typed(self, col: Column, v: str, spec: ColumnSpec, table: str, src_col: str | None) -> str:
        if col.type == "date":
            return parse_date(v, self.m.source.date_order).isoformat()
        if col.type == "int":
            x = _number(v, self.m.source.decimal)
            if not x.is_integer():
                raise CellError("not_an_integer", _("{v} is not a whole number").format(v=repr(v)))
            return str(int(x))
        if col.type == "float":
            return _num_text(_number(v, self.m.source.decimal))
        if col.type == "bool":
            n = normalise(v)
            if n in {normalise(x) for x in TRUE_TEXT}:
                return "true"
            if n in {normalise(x) for x in FALSE_TEXT}:
                return "false"
            key = (table, col.name, src_col or "", v)
            self.unseen[key] = self.unseen.get(key, 0) + 1
            raise CellError("unmapped_value", _("{v} is not yes/no; add it to the value map").format(v=repr(v)))
        if col.type == "code":
            code = _as_code(col, v)
            if code is None:
                key = (table, col.name, src_col or "", v)
                self.unseen[key] = self.unseen.get(key, 0) + 1
                raise CellError("unmapped_value", _("{v} is not a code of {vocab} and has no entry in the value map").format(v=repr(v), vocab=col.vocab))
            return code
        return v

    def emit(self, st: SourceTable, rownum: int, row: dict[str, str | None], rule: Rule, sid: str,
             numbers: dict[str, int]) -> None:
        t = TABLES_BY_NAME[rule.table]
        spec = rule.spec
        out: dict[str, Any] = {c: None for c in t.column_names}
        out["subject_id"] = sid
        for c, s in rule.columns:
            if c == "subject_id":
                continue
            out[c] = self.cell(st, rownum, row, rule.table, t.column(c), s, numbers, rule.id)
        for c, v in self.m.constant_map().get(rule.table, {}).items():
            if c not in spec and out[c] is None:
                out[c] = v
                key = (rule.table, c, v, "constant")
                self.assumed[key] = self.assumed.get(key, 0) + 1
        auto = [c for c in t.primary_key if c != "subject_id" and c.endswith("_no") and c not in spec]
        if auto:
            key = (rule.table, sid)
            self.counters[key] = self.counters.get(key, 0) + 1
            out[auto[0]] = str(self.counters[key])
            numbers[rule.id] = self.counters[key]
        else:
            no = [c for c in t.primary_key if c.endswith("_no")]
            if no and out[no[0]] is not None:
                numbers[rule.id] = int(out[no[0]])
        out[SOURCE_FILE] = st.file
        out[SOURCE_ROW] = rownum
        self.rows[rule.table].append(out)

    def run(self, sources: TMapping[str | None, SourceTable]) -> None:
        sid_spec = self.m.subject_id_spec()
        subj_col = TABLES_BY_NAME["subject"].column("subject_id")
        for sheet in self.m.sheets():
            st = sources[sheet]
            rules = [r for r in self.m.rules if r.sheet == sheet]
            cols = [c for c in st.columns]
            for rec in st.frame.iter_rows(named=True):
                rownum = int(rec[ROW])
                row = {c: self.clean(rec.get(c)) for c in cols}
                numbers: dict[str, int] = {}
                if sheet is None:
                    sid = self.cell(st, rownum, row, "subject", subj_col, sid_spec, numbers, "subject")
                    if sid is None:
                        self.problem(st, rownum, sid_spec.source, None, "no_subject_id",
                                     "subject.subject_id: " + _("the row has no patient id; none of its cells were mapped"))
                        continue
                for rule in rules:
                    if not all(c.holds(row) for c in rule.when):
                        continue
                    if sheet is not None:
                        sid = self.cell(st, rownum, row, rule.table, subj_col, rule.spec["subject_id"], numbers, rule.id)
                        if sid is None:
                            self.problem(st, rownum, rule.spec["subject_id"].source, None, "no_subject_id",
                                         f"{rule.table}.subject_id: " + _("the row has no patient id"))
                            continue
                    self.emit(st, rownum, row, rule, sid, numbers)


def apply_mapping(mapping: Mapping, sources: TMapping[str | None, SourceTable]) -> MapResult:
    """Map source rows onto the canonical tables (text), collecting every problem."""
    for sheet in mapping.sheets():
        if sheet not in sources:
            raise SourceError(_("the mapping reads sheet {sheet}, which was not read").format(sheet=repr(sheet)))
    a = _Applier(mapping)
    a.run(sources)
    main = sources[None]
    for sheet in mapping.sheets():
        st = sources[sheet]
        used = mapping.used_columns(sheet)
        missing = sorted(c for c in used if c not in st.columns)
        for c in missing:
            a.problem(st, None, c, None, "source_column_missing",  # type: ignore[arg-type]
                      _("the mapping uses column {c}, which {file} does not have (columns: {columns})").format(c=repr(c), file=st.file, columns=', '.join(st.columns)))
    auto = {r.table for r in mapping.rules
            if (no := [c for c in TABLES_BY_NAME[r.table].primary_key if c != "subject_id" and c.endswith("_no")]) and no[0] not in r.spec}
    for table, col, target in number_references():
        if target not in auto:
            continue
        for r in mapping.rules:
            spec = r.spec.get(col) if r.table == table else None
            if spec is not None and spec.source is not None:
                num = next(c for c in TABLES_BY_NAME[target].primary_key if c.endswith("_no"))
                a.problem(sources[r.sheet], None, spec.source, None, "number_link_renumbered",  # type: ignore[arg-type]
                          _("{table}.{column} is read from source column {source}, but {target}.{num} is numbered by the "
                            "mapping (1, 2, ... per patient in row order), not taken from the source: the source's numbers "
                            "may name other rows. Map {target}.{num} from the source's own number, or link the rows with "
                            "number_of").format(table=table, column=col, source=repr(spec.source), target=target, num=num), WARNING)
    for st in {id(sources[s]): sources[s] for s in mapping.sheets()}.values():
        if st.title_rows:
            rows = ", ".join(str(r) for r, _t in st.title_rows)
            a.problem(st, None, None, "; ".join(t for _r, t in st.title_rows[:3]), "title_rows",
                      ngettext("row {rows} above the header (row {line}) is a title and is skipped",
                               "rows {rows} above the header (row {line}) are titles and are skipped",
                               len(st.title_rows)).format(rows=rows, line=st.header_row), INFO)
    used_any = set().union(*(mapping.used_columns(s) for s in mapping.sheets()))
    filled_in = {c: main.frame[c].drop_nulls().len() for c in main.columns if c in main.frame.columns}
    unmapped = [c for c in main.columns if c not in used_any and c not in mapping.ignore and filled_in.get(c, 0)]
    for c in unmapped:  # an empty column loses nothing and is not reported
        filled = filled_in[c]
        a.problem(main, None, c, None, "unmapped_column",  # type: ignore[arg-type]
                  _("source column {c} ({filled} filled cells) is not mapped; map it or list it in "
                     "mapping.ignore").format(c=repr(c), filled=fmt_int(filled)),
                  ERROR if mapping.unmapped == "error" else WARNING)
    tables = {}
    for t in TABLES_BY_NAME.values():
        schema = {c: pl.String for c in t.column_names} | {SOURCE_FILE: pl.String, SOURCE_ROW: pl.Int64}
        rows = a.rows[t.name]
        tables[t.name] = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    assumed = [{"table": k[0], "column": k[1], "value": k[2], "cells": n, "by": k[3]} for k, n in sorted(a.assumed.items())]
    unseen = [{"table": k[0], "column": k[1], "source": k[2], "value": k[3], "count": n} for k, n in sorted(a.unseen.items())]
    return MapResult(mapping, tables, a.problems, assumed, unmapped, unseen,
                     {st.file: st.sha256 for st in sources.values()}, main.format)


def map_path(path: str | Path, mapping: Mapping) -> MapResult:
    """Read a source file as the mapping's ``[source]`` says and apply the mapping."""
    return apply_mapping(mapping, read_mapped_source(path, mapping))


# ---------------------------------------------------------------------------------------
# docs/mapping.md
# ---------------------------------------------------------------------------------------
def _md(s: str) -> str:
    return s.replace("|", "\\|")


def mapping_markdown() -> str:
    """docs/mapping.md, generated from the key tables above, schema.py and synonyms.py."""
    from ..schema import SCHEMA_VERSION, TABLES
    from ..synonyms import COLUMN_SYNONYMS

    out = [
        "# Mapping a site's own spreadsheet",
        "",
        f"Mapping file format version {FORMAT_VERSION} (schema {SCHEMA_VERSION}). Generated from "
        "`src/dashboard/ingest/mapping.py`, `schema.py` and `synonyms.py` by `python -m dashboard docs`; do not edit by hand.",
        "",
        "A mapping file (TOML, UTF-8) tells the dashboard how one source -- a surgeon's workbook, a research office's "
        "SPSS file, a CSV -- becomes the canonical registry tables of [the data dictionary](data-dictionary.md). "
        "One file per source; keep it with the source and reuse it for every later export of the same source.",
        "",
        "```bash",
        "python -m dashboard profile SOURCE                              # columns, types, values, date patterns, sheets",
        "python -m dashboard map SOURCE --mapping FILE --to DIR          # canonical folder + mapping_report.json; nothing loaded",
        "python -m dashboard import SOURCE --mapping FILE [--db PATH]    # map, validate, load atomically",
        "```",
        "",
        "The canonical folder that `map` writes is what `python -m dashboard import DIR` reads, so a mapped source passes "
        "the same validator and the same atomic load as every other import. The mapping's name and hash (of its content, "
        "not of its layout or comments) go into the store's provenance -- on screen and in every export's footer -- and "
        "into the audit trail, with every **assumed** value and the number of cells it filled. On the Data page, data "
        "managers build the same file with a wizard (suggested columns and codes to confirm), preview, then load.",
        "",
        "Worked examples (synthetic patients): `docs/examples/english_surgeon_workbook.xlsx` with "
        "`english_surgeon_workbook.mapping.toml`, and `docs/examples/chinese_surgeon_workbook.xlsx` with "
        "`chinese_surgeon_workbook.mapping.toml` (`chinese_surgeon_workbook_update.xlsx` is the same sheet later, with "
        "a value the mapping has not seen). Regenerate them with `python docs/examples/make_examples.py`.",
        "",
        "## File layout",
        "",
        "```toml",
        "[mapping]            # name, format_version, unmapped, ignore",
        "[source]             # how to read the file",
        "[constants.subject]  # values the source does not hold (assumed)",
        "[tables.subject]     # one row of the table per source row: target column = spec",
        "[tables.follow_up]",
        "[[rows]]             # wide-to-long: rows of another table, made when conditions hold",
        "[redcap]             # REDCap records exports only",
        "```",
        "",
        "## `[mapping]`",
        "",
        "| key | meaning |",
        "|---|---|",
    ]
    out += [f"| `{k}` | {_md(v)} |" for k, v in MAPPING_KEYS.items()]
    out += ["", "## `[source]`", "", "| key | default | meaning |", "|---|---|---|"]
    out += [f"| `{k}` | {_md(d)} | {_md(v)} |" for k, (d, v) in SOURCE_KEYS.items()]
    out += ["", "## `[constants.<table>]`", "", CONSTANTS_DOC, "",
            "## `[tables.<table>]`: target columns", "",
            "One row of `<table>` per source row (use it for `subject` and `follow_up`). Each key is a target column; "
            "its value is a spec. The steps run in this order: " + " -> ".join(f"`{k}`" for k in TRANSFORM_ORDER)
            + ", then the value is checked and written in the target column's type (dates ISO, numbers with a `.`, "
            "booleans `true`/`false`; yes/no, Y/N, 1/0, 是/否 are read as booleans without a map).", "",
            "| key | meaning |", "|---|---|"]
    out += [f"| `{k}` | {_md(v)} |" for k, v in COLUMN_KEYS.items()]
    out += ["", "## `[[rows]]`: one source row -> rows of other tables", "", "| key | meaning |", "|---|---|"]
    out += [f"| `{k}` | {_md(v)} |" for k, v in ROW_KEYS.items()]
    out += ["", "The patient's `subject_id` is the one `[tables.subject]` gives the row. Typical rules:", "",
            "```toml",
            "[[rows]]                      # a Regrowth date column -> an onc_event row",
            "id = \"regrowth\"",
            "table = \"onc_event\"",
            "when = [{ column = \"Regrowth date\", present = true }]",
            "[rows.columns]",
            "event_type = { value = \"LOCAL_REGROWTH\" }",
            "event_date = \"Regrowth date\"",
            "",
            "[[rows]]                      # W&W Y/N = Y -> a Watch & Wait episode from the restaging date",
            "id = \"ww\"",
            "table = \"strategy_episode\"",
            "when = [{ column = \"W&W Y/N\", in = [\"Y\"] }]",
            "[rows.columns]",
            "strategy = { value = \"WW\" }",
            "decision_date = \"Restaging date\"",
            "start_date = \"Restaging date\"",
            "trigger = { value = \"INITIAL\" }",
            "",
            "[[rows]]                      # Response at restaging -> an assessment row",
            "id = \"restaging\"",
            "table = \"assessment\"",
            "when = [{ column = \"Restaging date\", present = true }]",
            "[rows.columns]",
            "assessment_date = \"Restaging date\"",
            "timepoint = { value = \"RESTAGING\" }",
            "modality = { assumed = \"ENDOSCOPY\" }",
            "overall_response = { source = \"Response\", values = { cCR = \"CCR\", \"near-cCR\" = \"NEAR_CCR\", Incomplete = \"NON_CCR\" } }",
            "```",
            "",
            "## `[redcap]`", "",
            "With `source.format = \"redcap\"` the source is a REDCap records export (raw codes) of the site's own "
            "project, with its data dictionary beside it (`*DataDictionary*.csv`). The record's non-repeating rows of "
            "the baseline events are merged into one row per record, which `[tables]` and `[[rows]]` map as any sheet; "
            "each repeating instrument or repeating event becomes a table of its own, read by a `[[rows]]` rule with "
            "`sheet = \"<instrument or event name>\"` (that rule maps `subject_id` from the record id). The "
            "dictionary's choice labels are offered as value labels, and `[redcap.choices.<field>]` maps a label "
            "(or a raw code) to the registry's code for every column the field fills. (A REDCap project built on "
            "the registry's own dictionary needs no mapping: `python -m dashboard import` reads it.)", "",
            "| key | meaning |", "|---|---|"]
    out += [f"| `{k}` | {_md(v)} |" for k, v in REDCAP_KEYS.items()]
    out += ["", "## Problems a mapping reports", "",
            "Every problem names the source file (and sheet), the source row, the source column and the value.", "",
            "| rule | meaning |", "|---|---|"]
    out += [f"| `{k}` | {_md(v)} |" for k, v in MAP_RULES.items()]
    out += ["", "Then the canonical tables are validated by the import validator; its problems are reported at the "
            "source row they came from.", "",
            "## Target columns and the source names the wizard recognises", "",
            "The wizard suggests a source column for every target column whose normalised name (case, width, blanks and "
            "punctuation ignored) matches the column or one of these synonyms (`src/dashboard/synonyms.py`); a suggestion "
            "is only used once the data manager confirms it.", ""]
    for t in TABLES:
        out += [f"### `{t.name}`", "", "| column | type | required | codes | recognised source names |", "|---|---|---|---|---|"]
        for c in t.columns:
            codes = ", ".join(f"`{x}`" for x in VOCABULARIES[c.vocab].codes) if c.vocab else ""
            syn = ", ".join(COLUMN_SYNONYMS.get(f"{t.name}.{c.name}", ()))
            out.append(f"| `{c.name}` | {c.type} | {'yes' if c.required else ''} | {codes} | {_md(syn)} |")
        out.append("")
    return "\n".join(out)


MAP_RULES: dict[str, str] = {
    "unmapped_value": "A coded (or yes/no) value with no entry in the column's value map and not itself a code.",
    "date_order_needed": "A date like 03/04/2024 while `source.date_order` is not set.",
    "date_unreadable": "A date in a form the mapping cannot read.",
    "date_invalid": "No such calendar day.",
    "not_a_number": "A number column whose cell is not a number.",
    "not_an_integer": "A whole-number column whose cell has a fraction.",
    "regex_no_match": "The cell does not match the column's `regex`.",
    "split_part_missing": "The cell has fewer parts than `part` after `split`.",
    "no_subject_id": "A row without a patient id: none of its cells are mapped.",
    "title_rows": "Information: title rows above the header were skipped (their row numbers are named).",
    "number_link_renumbered": "A link to another table's number (`salvage_procedure_no`, `pathology.procedure_no`, "
                              "`procedure.episode_no`) read from a source column while that table is numbered by the mapping.",
    "source_column_missing": "The mapping names a source column the file does not have.",
    "unmapped_column": "A source column the mapping neither uses nor ignores (a warning, or an error with `unmapped = \"error\"`).",
}
