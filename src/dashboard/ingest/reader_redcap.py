"""Reader for a REDCap export: a records CSV ("CSV / Microsoft Excel (raw data)") with
the project's data dictionary, as sites really build the project from ours.

* The record id is the dictionary's first field, whatever its name (``record_id``,
  ``study_id``...); it becomes ``subject_id``.
* Forms: form name = table name (compared ignoring case and separators). Fields map to
  columns by name, or ``<table>_<column>`` / ``<alias>_<column>`` (see
  :data:`dashboard.ingest.redcap.ALIASES`). Fields the site added (on our forms or on
  instruments of its own; notes, calculated, file, descriptive fields), survey
  bookkeeping (``redcap_survey_identifier``, ``*_timestamp``), ``redcap_data_access_group``
  and ``*_complete`` are ignored with one warning listing them (``redcap_ignored_fields``).
  When the dictionary has no centre field, the data access group becomes ``subject.centre``
  (warning ``redcap_dag_as_centre``).
* Events: ordered as the project defines them when its definition comes with the export
  (the events CSV of "Define My Events", the instrument-event mapping CSV or the project
  XML, told by content: :func:`metadata_kind`); an event the definition does not know is
  refused (``redcap_event_unknown``). Without a definition, the order rows come in
  (REDCap sorts a record's rows by event), with a warning (``redcap_event_order_rows``).
  Baseline is the first event of each arm (``event_1_arm_1``, ``enrolment_arm_1``...; with
  an instrument-event mapping, the first one designated for ``subject``).
  ``subject`` is read from the baseline row (``redcap_no_baseline`` when a record has none).
  ``follow_up`` may be filled in several events or repeat: the latest is used, and each
  earlier row is reported (``redcap_follow_up_latest``).
* Repeating tables are read wherever their fields are filled: as a repeating instrument
  (``redcap_repeat_instrument`` = form), in a repeating event (instrument empty, instance
  set) or in plain events. When the rows come from more than one event, REDCap's
  instance numbers restart per event and are not keys: the row number column
  (``assessment_no``...) is renumbered 1..n per record in event then instance order
  (warning ``redcap_renumbered``), unless the site keeps that number as a field.
* Values: radio/dropdown codes through the dictionary's choices (``redcap_unknown_choice``,
  ``redcap_unmapped_choice``); yes/no, true/false, and yes/no built as a radio
  (``1, Yes | 2, No``) become booleans; checkboxes ``drugs___<n>`` are joined with '+';
  datetime fields keep the date part (warning); number fields with a decimal-comma
  validation accept ``5,5``; REDCap Missing Data Codes (``UNK``, ``NA``, ``NASK``...) are
  missing values, counted (``redcap_missing_code``).
* A "labels" export (field labels as headers) is refused: export raw data
  (``redcap_labels_export``).
* A row from which nothing is loaded (an empty event, a form of the site's own) is
  reported (``redcap_row_without_data``): rows read = rows loaded + rows reported.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..i18n import _, fmt_int
from ..schema import TABLE_NAMES, TABLES, TABLES_BY_NAME, VOCABULARIES, Table
from .model import ROW, SKIP, RawRegistry, RawTable, number_references, printable, sha256_bytes, table_key
from .redcap import F_CHOICES, F_FORM, F_NAME, F_TYPE, INSTANCE_COLUMNS, _column_for, _order, _parse_choices, _vocab_lookup
from .report import ERROR, WARNING, Problem, message_expr
from .text import decode_bytes, parse_text

F_LABEL = "Field Label"
F_VALIDATION = "Text Validation Type OR Show Slider Number"
META = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance")
BOOKKEEPING = ("redcap_data_access_group", "redcap_survey_identifier")
# REDCap's built-in Missing Data Codes (Project setup > Additional customizations)
MISSING_CODES = ("NI", "INV", "UNK", "NASK", "ASKU", "NAV", "NAVU", "MSK", "NA", "NP", "QS", "QI", "TRC", "UNC",
                 "DER", "PINF", "NINF", "OTH")
TRUE_LABELS = {"yes", "true", "y", "1", "是", "有"}
FALSE_LABELS = {"no", "false", "n", "0", "否", "无"}
_FORMS = {table_key(t): t for t in TABLE_NAMES}
_ARM = re.compile(r"_arm_(\d+)$")


@dataclass
class Field:
    name: str
    table: str  # "" when ignored
    column: str
    ftype: str
    choices: dict[str, str]
    line: int
    validation: str = ""
    label: str = ""


def read_dictionary(path: Path, reg: RawRegistry) -> tuple[dict[str, Field], str | None, list[str]]:
    """(fields by name, record-id field, ignored field names) of a data dictionary."""
    data = path.read_bytes()
    reg.input_sha256[path.name] = sha256_bytes(data)
    body, enc, probs = decode_bytes(data, path.name)
    reg.problems.extend(probs)
    if body is None:
        return {}, None, []
    rt, probs = parse_text(body, path.name, "dictionary")
    reg.problems.extend(probs)
    if rt is None:
        return {}, None, []
    df = rt.frame
    missing = [c for c in (F_NAME, F_FORM, F_TYPE) if c not in df.columns]
    if missing:
        reg.problems.append(Problem(path.name, 1, ", ".join(missing), None, "redcap_dictionary",
                                    _("not a REDCap data dictionary: missing column(s) {missing}").format(missing=', '.join(repr(m) for m in missing))))
        return {}, None, []
    fields: dict[str, Field] = {}
    ignored: list[str] = []
    record_id = None
    for r in df.iter_rows(named=True):  # a dictionary has hundreds of rows, not millions
        name, form = (r[F_NAME] or "").strip(), (r[F_FORM] or "").strip()
        ftype = (r[F_TYPE] or "").strip().lower()
        line = r[ROW]
        if not name:
            continue
        if record_id is None:
            record_id = name
            fields[name] = Field(name, "subject", "subject_id", ftype, {}, line, label=r.get(F_LABEL) or "")
            continue
        validation = (r.get(F_VALIDATION) or "").strip().lower()
        label = r.get(F_LABEL) or ""
        t = _FORMS.get(table_key(form))
        col = _column_for(TABLES_BY_NAME[t], name) if t else None
        if t is None or col is None or ftype in ("descriptive", "file", "sql") or col == "subject_id":
            ignored.append(name)
            fields[name] = Field(name, "", "", ftype, {}, line, label=label)
            continue
        fields[name] = Field(name, t, col, ftype, _parse_choices(r.get(F_CHOICES) or ""), line, validation, label)
    for f in fields.values():  # dictionary-level: choice labels that map to no code
        if f.table and f.ftype in ("radio", "dropdown"):
            c = TABLES_BY_NAME[f.table].column(f.column)
            for code, label in f.choices.items():
                if c.type == "code" and label.strip().lower() not in _vocab_lookup(c):
                    reg.problems.append(Problem(path.name, f.line, F_CHOICES, printable(f"{code}, {label}", 80), "redcap_unmapped_choice",
                                                _("choice '{code}, {label}' of field '{name}' matches no code or label of vocabulary "
                                                   "'{vocab}'").format(code=printable(code), label=printable(label, 60), name=f.name, vocab=c.vocab), WARNING))
                elif c.type == "bool" and label.strip().lower() not in TRUE_LABELS | FALSE_LABELS:
                    reg.problems.append(Problem(path.name, f.line, F_CHOICES, printable(f"{code}, {label}", 80), "redcap_unmapped_choice",
                                                _("choice '{code}, {label}' of yes/no field '{name}' is neither yes nor no").format(code=printable(code), label=printable(label, 60), name=f.name), WARNING))
    return fields, record_id, ignored


@dataclass
class EventDefinition:
    """The project's events in their defined order (from its events / instrument-event
    mapping CSV or its project XML): unique event name -> arm, and where ``subject`` is
    designated (empty when the file does not say)."""

    source: str  # the file it came from
    events: list[str]
    arms: dict[str, str]
    subject_events: list[str]


def metadata_kind(path: Path) -> str | None:
    """``events`` / ``mapping`` / ``arms`` CSV or ``xml`` project file of a REDCap project,
    told by content (the header, the XML root), not by name; None for anything else."""
    try:
        with path.open("rb") as fh:
            head = fh.read(65536)
    except OSError:
        return None
    if path.suffix.lower() == ".xml":
        return "xml" if b"<ODM" in head and (b"StudyEventDef" in head or b"redcap:" in head) else None
    if path.suffix.lower() != ".csv":
        return None
    import csv
    import io

    text = head.decode("utf-8-sig", "replace").lstrip("\ufeff")
    try:
        header = next(csv.reader(io.StringIO(text.splitlines()[0] if text else "")), [])
    except (csv.Error, IndexError):
        return None
    cols = {h.strip().lower() for h in header}
    if "unique_event_name" in cols and "form" in cols:
        return "mapping"
    if "unique_event_name" in cols or {"event_name", "arm_num"} <= cols:
        return "events"
    if cols == {"arm_num", "name"} or cols == {"arm_num", "arm_name"}:
        return "arms"
    return None


def _unique_name(event_name: str, arm: str) -> str:
    """REDCap's unique event name of an event defined without one (an uploaded events file)."""
    base = re.sub(r"[^a-z0-9]+", "_", event_name.strip().lower()).strip("_")
    return f"{base}_arm_{arm or '1'}"


def read_event_definition(paths: list[Path], reg: RawRegistry) -> EventDefinition | None:
    """The event order of the project from the metadata files beside the export: the events
    CSV first, else the project XML, else the instrument-event mapping (which also says
    where ``subject`` is filled)."""
    kinds: dict[str, Path] = {}
    for p in paths:
        k = metadata_kind(p)
        if k and k not in kinds:
            kinds[k] = p
    designations: dict[str, list[str]] = {}
    found: EventDefinition | None = None
    for kind in ("events", "xml", "mapping"):
        p = kinds.get(kind)
        if p is None:
            continue
        data = p.read_bytes()
        reg.input_sha256[p.name] = sha256_bytes(data)
        try:
            got = _read_xml_events(data, p.name) if kind == "xml" else _read_csv_events(data, p.name, kind, reg)
        except ValueError as e:
            reg.problems.append(Problem(p.name, None, None, None, "redcap_event_definition",
                                        _("the REDCap event definition {file} cannot be read ({reason}); the events are "
                                          "ordered as the rows of the export come").format(file=printable(p.name), reason=printable(e, 200)), WARNING))
            continue
        if got is None:
            continue
        events, arms, forms = got
        for e, fs in forms.items():
            designations.setdefault(e, []).extend(fs)
        if found is None and events:
            found = EventDefinition(p.name, events, arms, [])
    if found is None:
        return None
    found.subject_events = [e for e in found.events if any(table_key(f) == "subject" for f in designations.get(e, []))]
    return found


def _read_csv_events(data: bytes, file: str, kind: str, reg: RawRegistry) -> tuple[list[str], dict[str, str], dict[str, list[str]]] | None:
    body, _enc, probs = decode_bytes(data, file)
    if body is None:
        raise ValueError(probs[0].message if probs else file)
    rt, probs = parse_text(body, file, "events")
    if rt is None:
        raise ValueError(probs[0].message if probs else file)
    df = rt.frame.rename({c: c.strip().lower() for c in rt.frame.columns if c != ROW})
    events: list[str] = []
    arms: dict[str, str] = {}
    forms: dict[str, list[str]] = {}
    for r in df.iter_rows(named=True):  # a project has tens of events, not millions
        arm = (r.get("arm_num") or "1").strip()
        name = (r.get("unique_event_name") or "").strip() or (_unique_name(r["event_name"], arm) if r.get("event_name") else "")
        if not name:
            continue
        if name not in arms:
            events.append(name)
            arms[name] = arm
        if kind == "mapping" and r.get("form"):
            forms.setdefault(name, []).append(r["form"].strip())
    return events, arms, forms


def _read_xml_events(data: bytes, file: str) -> tuple[list[str], dict[str, str], dict[str, list[str]]]:
    import defusedxml.ElementTree as ET
    from defusedxml import DefusedXmlException

    try:
        root = ET.fromstring(data)
    except (ET.ParseError, DefusedXmlException) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from None

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    def attr(el, name: str) -> str:
        for k, v in el.attrib.items():
            if local(k) == name:
                return v
        return ""

    order = {attr(el, "StudyEventOID"): float(attr(el, "OrderNumber") or i) for i, el in enumerate(root.iter()) if local(el.tag) == "StudyEventRef"}
    defs = [el for el in root.iter() if local(el.tag) == "StudyEventDef"]
    defs = sorted(enumerate(defs), key=lambda x: (order.get(attr(x[1], "OID"), float("inf")), x[0]))
    events: list[str] = []
    arms: dict[str, str] = {}
    forms: dict[str, list[str]] = {}
    for _i, el in defs:
        name = attr(el, "UniqueEventName") or attr(el, "OID").removeprefix("Event.")
        if not name or name in arms:
            continue
        events.append(name)
        arms[name] = attr(el, "ArmNum") or ((_ARM.search(name).group(1)) if _ARM.search(name) else "1")
        forms[name] = [attr(f, "FormName") or attr(f, "FormOID").removeprefix("Form.") for f in el if local(f.tag) == "FormRef"]
    return events, arms, forms


def event_order(df: pl.DataFrame, rid: str) -> list[str]:
    """Events in project order, merged from each record's row order (REDCap exports a
    record's rows sorted by event); ties by first appearance."""
    ev = df.select(rid, "redcap_event_name", ROW).drop_nulls("redcap_event_name")
    if ev.height == 0:
        return []
    firsts = ev.group_by("redcap_event_name").agg(pl.col(ROW).min()).sort(ROW)["redcap_event_name"].to_list()
    per = ev.unique([rid, "redcap_event_name"], keep="first", maintain_order=True)
    pairs = per.with_columns(pl.col("redcap_event_name").shift(-1).over(rid).alias("__next")).drop_nulls("__next")
    pairs = pairs.filter(pl.col("__next") != pl.col("redcap_event_name")).unique(["redcap_event_name", "__next"])
    after: dict[str, set[str]] = defaultdict(set)
    indeg = dict.fromkeys(firsts, 0)
    for a, b in pairs.select("redcap_event_name", "__next").iter_rows():
        if b not in after[a]:
            after[a].add(b)
            indeg[b] += 1
    rank = {e: i for i, e in enumerate(firsts)}
    out: list[str] = []
    ready = sorted((e for e, d in indeg.items() if d == 0), key=rank.get)
    while ready:
        e = ready.pop(0)
        out.append(e)
        for b in after[e]:
            indeg[b] -= 1
            if indeg[b] == 0:
                ready.append(b)
        ready.sort(key=rank.get)
    out += [e for e in firsts if e not in out]  # a cycle (inconsistent exports): first appearance
    return out


def _is_labels_export(header: list[str], fields: dict[str, Field], rid: str | None) -> bool:
    if rid in header:
        return False
    labels = {(f.label or "").strip().lower() for f in fields.values() if f.label}
    hits = sum(1 for h in header if h.strip().lower() in labels)
    return hits >= max(2, len(header) // 4) or any(h in ("Event Name", "Repeat Instrument", "Repeat Instance") for h in header)


def read_redcap(records_path: str | Path, dictionary_path: str | Path, metadata: list[Path] | tuple[Path, ...] = ()) -> RawRegistry:
    """Read a REDCap records CSV with its data dictionary into per-table text frames.

    ``metadata``: the project's events CSV, instrument-event mapping CSV or project XML
    (:func:`metadata_kind`), which give the event order; without them the order of the
    rows is used, with a warning. Problems about values are reported against the records
    file and its row numbers.
    """
    records_path, dictionary_path = Path(records_path), Path(dictionary_path)
    reg = RawRegistry("redcap", records_path)
    definition = read_event_definition([Path(p) for p in metadata], reg) if metadata else None
    if not dictionary_path.is_file():
        reg.problems.append(Problem(dictionary_path.name, None, None, None, "missing_dictionary", _("data dictionary {path} not found").format(path=dictionary_path)))
        reg.unreadable.update(TABLE_NAMES)
        return reg
    fields, rid, ignored = read_dictionary(dictionary_path, reg)
    if not records_path.is_file():
        reg.problems.append(Problem(records_path.name, None, None, None, "missing_table", _("REDCap records file {path} not found").format(path=records_path)))
        reg.unreadable.update(TABLE_NAMES)
        return reg
    data = records_path.read_bytes()
    file = records_path.name
    reg.input_sha256[file] = sha256_bytes(data)
    body, enc, probs = decode_bytes(data, file)
    reg.problems.extend(probs)
    rt = None
    if body is not None:
        reg.encodings[file] = enc
        rt, probs = parse_text(body, file, "records")
        reg.problems.extend(probs)
    if rt is None or not fields or rid is None:
        reg.unreadable.update(TABLE_NAMES)
        return reg
    df = rt.frame
    reg.note_rows(file, df[ROW])
    if rid not in df.columns:
        if _is_labels_export(rt.header, fields, rid):
            msg = (_("this is a labels export (column headers are field labels, values are choice labels): in REDCap choose "
                   "Data Exports > 'CSV / Microsoft Excel (raw data)' and import that file"))
            reg.problems.append(Problem(file, None, None, printable(rt.header[0], 60), "redcap_labels_export", msg))
        else:
            reg.problems.append(Problem(file, None, rid, printable(rt.header[0] if rt.header else "", 60), "missing_column",
                                        _("the records file has no column '{rid}' (the first field of the data dictionary, the "
                                           "record id); its first column is '{header}': is this the dictionary of another project?").format(rid=rid, header=printable(rt.header[0] if rt.header else '', 60))))
        reg.unreadable.update(TABLE_NAMES)
        return reg
    for h in META:
        if h not in df.columns:
            df = df.with_columns(pl.lit(None, pl.String).alias(h))
    df = df.with_columns(pl.col(c).str.strip_chars() for c in (rid, *META))
    df = df.with_columns(pl.when(pl.col(c).str.len_bytes() > 0).then(pl.col(c)).alias(c) for c in (rid, *META))
    df = df.with_columns(pl.col("redcap_repeat_instrument").map_elements(lambda v: _FORMS.get(table_key(v), v), return_dtype=pl.String)
                         if df["redcap_repeat_instrument"].null_count() < df.height else pl.col("redcap_repeat_instrument"))

    # columns of the records file -> fields
    checkbox: dict[str, list[tuple[str, str]]] = {}
    by_table: dict[str, list[tuple[str, Field]]] = {t.name: [] for t in TABLES}
    seen: set[str] = set()
    extra: list[str] = []
    for h in rt.header:
        if h in seen:
            reg.problems.append(Problem(file, 1, printable(h, 60), None, "duplicate_column",
                                        _("column '{column}' appears more than once in the header").format(column=printable(h, 60))))
            continue
        seen.add(h)
        if h == rid or h in META:
            continue
        if h.endswith("_complete") and table_key(h[: -len("_complete")]) in _FORMS:
            continue  # the form status of a registry form
        if h in BOOKKEEPING or h.endswith(("_complete", "_timestamp")):
            extra.append(h)
            continue
        if "___" in h and h.split("___")[0] in fields:
            base, code = h.split("___", 1)
            if fields[base].table:
                checkbox.setdefault(base, []).append((h, code))
            continue
        f = fields.get(h)
        if f is None:
            extra.append(h)
        elif f.table:
            by_table[f.table].append((h, f))
    for base in checkbox:
        by_table[fields[base].table].append((base, fields[base]))
    dag = BOOKKEEPING[0]
    if dag in seen and not any(f.column == "centre" for _h, f in by_table["subject"]) and df[dag].str.strip_chars().str.len_bytes().max():
        # no centre field: the data access groups (one per site in a multi-centre project) are the centres
        by_table["subject"].append((dag, Field(dag, "subject", "centre", "text", {}, 0)))
        extra.remove(dag)
        reg.problems.append(Problem(file, None, dag, None, "redcap_dag_as_centre",
                                    _("the dictionary has no centre field: subject.centre is read from "
                                      "redcap_data_access_group (the record's data access group)"), WARNING))
    ignored_all = list(dict.fromkeys([printable(x, 60) for x in ignored + extra]))
    if ignored_all:
        shown = ", ".join(ignored_all[:40]) + (_(" and {n} more").format(n=fmt_int(len(ignored_all) - 40)) if len(ignored_all) > 40 else "")
        reg.problems.append(Problem(file, 1, None, None, "redcap_ignored_fields",
                                    _("{n} field(s) that are not registry columns are ignored (fields the site added, other "
                                       "instruments, survey and data-access-group bookkeeping): {shown}").format(n=fmt_int(len(ignored_all)), shown=shown), WARNING))

    # events: in the project's defined order when its definition came with the export
    present = df["redcap_event_name"].drop_nulls().unique(maintain_order=True).to_list()
    if definition is not None:
        unknown = [e for e in present if e not in definition.arms]
        if unknown:
            first = df.filter(pl.col("redcap_event_name").is_in(unknown)).select(ROW).min().item()
            reg.problems.append(Problem(file, first, "redcap_event_name", printable(unknown[0], 60), "redcap_event_unknown",
                                        _("{n} event(s) of the records file are not defined in {source} ({events}): the "
                                          "definition belongs to another project or an older version of it; export the "
                                          "records and the events again").format(n=fmt_int(len(unknown)), source=printable(definition.source),
                                                                                 events=", ".join(printable(e, 40) for e in unknown[:10]))))
        events = [e for e in definition.events if e in present] + unknown
        arm_of = {e: definition.arms.get(e, "") for e in events}
    else:
        events = event_order(df, rid)
        arm_of = {e: (m.group(1) if (m := _ARM.search(e)) else "") for e in events}
        if len(events) > 1:
            reg.problems.append(Problem(file, None, "redcap_event_name", None, "redcap_event_order_rows",
                                        _("no event definition came with the export (the project's events CSV, instrument-"
                                          "event mapping CSV or project XML), so the {n} events are ordered as the rows come: "
                                          "{events}; add one of those files to the folder to order them as the project "
                                          "defines").format(n=fmt_int(len(events)), events=", ".join(printable(e, 40) for e in events[:12])
                                                            + (", ..." if len(events) > 12 else "")), WARNING))
    erank = {e: i for i, e in enumerate(events)}
    baseline = {}
    subject_events = set(definition.subject_events) if definition is not None else set()
    for e in events:  # the first event of each arm (where the subject form is designated, when known)
        if subject_events and e not in subject_events:
            continue
        baseline.setdefault(arm_of[e], e)
    df = df.with_columns(
        pl.col("redcap_event_name").replace_strict(erank, default=-1, return_dtype=pl.Int64).alias("__erank"),
        pl.col("redcap_repeat_instance").cast(pl.Int64, strict=False).alias("__inst"),
    )
    if events:
        is_base = pl.col("redcap_event_name").is_in(list(baseline.values()))
    else:
        is_base = pl.lit(True)
    is_base = is_base & pl.col("redcap_repeat_instrument").is_null() & pl.col("__inst").is_null()
    recs = df.filter(pl.col(rid).is_not_null())
    no_base = recs.group_by(rid).agg(pl.col(ROW).min().alias(ROW), is_base.any().alias("__has")).filter(~pl.col("__has")).sort(ROW)
    first_events = ", ".join(baseline.values()) or "(none)"
    for r, row in no_base.select(rid, ROW).iter_rows():
        reg.problems.append(Problem(file, row, "redcap_event_name", printable(r, 60), "redcap_no_baseline",
                                    _("record '{r}' has no row in the baseline event ({first_events}, the first event of its "
                                       "arm) holding the subject form").format(r=printable(r, 60), first_events=first_events)))

    # values
    renumbered: dict[str, pl.DataFrame] = {}
    missing_counts: dict[str, int] = {}
    mc = list(MISSING_CODES)
    for t in TABLES:
        entries = by_table[t.name]
        if not entries and t.name != "subject":
            continue
        exprs: list[pl.Expr] = []
        checks: list[pl.Expr] = []
        header = ["subject_id"]
        plain: list[str] = []
        for h, f in entries:
            c = t.column(f.column)
            if f.column == "subject_id":
                continue
            header.append(f.column)
            if f.name in checkbox:
                parts = [pl.when(pl.col(col) == "1").then(pl.lit(f.choices.get(code, code)))
                         for col, code in sorted(checkbox[f.name], key=lambda x: _order(f.choices, x[1]))]
                joined = pl.concat_list(parts).list.drop_nulls().list.join("+")
                exprs.append(pl.when(joined.str.len_bytes() > 0).then(joined).alias(f.column))
                plain += [col for col, _ in checkbox[f.name]]
                continue
            plain.append(h)
            raw = pl.col(h).str.strip_chars()
            n_missing = df.select(raw.is_in(mc).sum()).item()
            if n_missing:
                missing_counts[f.name] = n_missing
            raw = pl.when(raw.is_in(mc)).then(None).otherwise(raw)
            if f.ftype in ("radio", "dropdown") and f.choices:
                if c.type == "code":
                    look = _vocab_lookup(c)
                    mapping = {code: look.get(label.strip().lower()) for code, label in f.choices.items()}
                elif c.type == "bool":
                    mapping = {code: ("true" if label.strip().lower() in TRUE_LABELS else "false" if label.strip().lower() in FALSE_LABELS else None)
                               for code, label in f.choices.items()}
                else:
                    mapping = {code: label for code, label in f.choices.items()}
                good = {k: v for k, v in mapping.items() if v is not None}
                exprs.append(raw.replace_strict(good, default=None, return_dtype=pl.String).alias(f.column))
                exprs.append(raw.alias(f"__raw__{f.column}"))
                unknown = raw.is_not_null() & ~raw.is_in(list(f.choices))
                unmapped = raw.is_in([k for k, v in mapping.items() if v is None])
                nchoice = len(f.choices)
                checks.append(
                    pl.when(unknown).then(pl.lit("redcap_unknown_choice\x1f" + f.name + "\x1f" + _(
                        "code is not one of the {n} choices of field '{field}' in the data dictionary").format(
                            n=nchoice, field=f.name)))
                    .when(unmapped).then(pl.lit("redcap_unmapped_choice\x1f" + f.name + "\x1f" + _(
                        "the choice label of field '{field}' matches no code or label of vocabulary '{vocabulary}'").format(
                            field=f.name, vocabulary=c.vocab or c.type)))
                    .otherwise(None).alias(f"__chk__{f.column}")
                )
            elif f.ftype in ("yesno", "truefalse"):
                exprs.append(pl.when(raw == "1").then(pl.lit("true")).when(raw == "0").then(pl.lit("false")).otherwise(raw).alias(f.column))
            elif "comma_decimal" in f.validation:
                exprs.append(raw.str.replace(",", ".", literal=True).alias(f.column))
            elif f.validation.startswith("datetime"):
                exprs.append(raw.str.slice(0, 10).alias(f.column))
            else:
                exprs.append(raw.alias(f.column))
        dt_fields = [f.name for _, f in entries if f.validation.startswith("datetime")]
        if dt_fields:
            reg.problems.append(Problem(file, None, ", ".join(dt_fields), None, "redcap_datetime",
                                        _("datetime field(s) {fields} of form '{name}': the date part is used, the time of day is "
                                           "dropped").format(fields=', '.join(dt_fields), name=t.name), WARNING))
        filled = pl.any_horizontal([pl.col(h).str.strip_chars().str.len_bytes() > 0 for h in plain]) if plain else pl.lit(False)
        num = INSTANCE_COLUMNS.get(t.name)
        if t.name == "subject":
            sel = df.filter(is_base & pl.col(rid).is_not_null())
        else:
            form_row = pl.col("redcap_repeat_instrument") == t.name
            sel = df.filter(pl.col(rid).is_not_null() & (form_row | (pl.col("redcap_repeat_instrument").is_null() & filled)))
        out = sel.select(pl.col(rid).alias("subject_id"), *exprs, *checks, ROW, "__erank", "__inst", "redcap_event_name")
        if t.repeating:
            out = _instance_numbers(reg, file, t, out, header, num, renumbered)
        elif t.name != "subject":
            out = _latest(reg, file, t, out)
        for chk in [c for c in out.columns if c.startswith("__chk__")]:
            col = chk[len("__chk__"):]
            bad = out.filter(pl.col(chk).is_not_null())
            for row, raw_v, spec in bad.select(ROW, f"__raw__{col}", chk).head(100_000).iter_rows():
                rule, fname, msg = spec.split("\x1f")
                reg.problems.append(Problem(file, row, fname, printable(raw_v, 200), rule, msg))
            out = out.with_columns(pl.col(chk).is_not_null().alias(f"{SKIP}{col}")).drop(chk)
        out = out.drop([c for c in out.columns if c.startswith("__raw__")] + ["__erank", "__inst", "redcap_event_name"])
        reg.tables[t.name] = RawTable(t.name, file, list(dict.fromkeys(header)), out, origin="redcap", sep=rt.sep)
    _rewrite_references(reg, file, df, renumbered, {(t, f.column): h for t, entries in by_table.items() for h, f in entries})
    used = pl.concat([rt.frame.select(ROW) for rt in reg.tables.values()]).unique() if reg.tables else pl.DataFrame({ROW: []}, schema={ROW: pl.Int64})
    unused = df.join(used, on=ROW, how="anti")
    if unused.height:
        from .report import PROBLEM_SCHEMA

        reg.problem_frames.append(unused.select(
            pl.lit(file).alias("file"), pl.col(ROW).alias("row"), pl.lit("redcap_event_name").alias("column"),
            pl.format("{} / {}", pl.col(rid).fill_null(_("(no record id)")), pl.col("redcap_event_name").fill_null("-")).str.slice(0, 200).alias("value"),
            pl.lit("redcap_row_without_data").alias("rule"),
            pl.lit(_("this row (record / event) fills no registry field in a form read from it (an empty event, a form "
                   "of the site's own, or subject fields outside the baseline event): nothing is loaded from it")).alias("message"),
            pl.lit(WARNING).alias("severity")).cast(PROBLEM_SCHEMA))
    if missing_counts:
        total = sum(missing_counts.values())
        reg.problems.append(Problem(file, None, ", ".join(missing_counts), None, "redcap_missing_code",
                                    _("{total} cell(s) hold a REDCap Missing Data Code ({codes}...) and are read as "
                                       "missing: ").format(total=fmt_int(total), codes=', '.join(MISSING_CODES[:6])) + ", ".join(f"{k} {v:,}" for k, v in missing_counts.items()), WARNING))
    return reg


def _instance_numbers(reg: RawRegistry, file: str, t: Table, out: pl.DataFrame, header: list[str], num: str | None,
                      renumbered: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The row-number column of a repeating table: the site's own field when it has one,
    else REDCap's instance; renumbered per record when rows come from several events
    (the old -> new numbers per record and event go into ``renumbered[table]``)."""
    if num is None:
        return out
    has_field = num in out.columns
    inst = pl.col("__inst").cast(pl.String).fill_null("1")
    several = out.select(pl.col("redcap_event_name").n_unique()).item() > 1 if out.height else False
    if has_field:
        return out.with_columns(pl.coalesce(pl.col(num), inst).alias(num))
    if num not in header:
        header.append(num)
    if not several:
        return out.with_columns(inst.alias(num))
    out = out.sort(["subject_id", "__erank", "__inst", ROW], nulls_last=False)
    out = out.with_columns(pl.int_range(1, pl.len() + 1).over("subject_id").cast(pl.String).alias(num)).sort(ROW)
    renumbered[t.name] = out.select("subject_id", pl.col("redcap_event_name").alias("__ev"),
                                    pl.col("__inst").fill_null(1).alias("__old"), pl.col(num).alias("__new"))
    n_ev = out["redcap_event_name"].n_unique()
    refs = [f"{rt}.{rc}" for rt, rc, target in NUMBER_REFERENCES if target == t.name]
    extra = _("; the columns that refer to these numbers ({columns}) are rewritten with the same old -> new numbers, per "
              "record").format(columns=", ".join(refs)) if refs else ""
    reg.problems.append(Problem(file, None, num, None, "redcap_renumbered",
                                _("form '{name}' is filled in {events} events (a repeating event or an instrument used in "
                                   "several events); REDCap restarts the instance number in every event, so {num} is "
                                   "renumbered 1, 2, ... per record in event order, then instance{extra}").format(name=t.name, events=fmt_int(n_ev), num=num, extra=extra), WARNING))
    return out


NUMBER_REFERENCES = number_references()


def _rewrite_references(reg: RawRegistry, file: str, df: pl.DataFrame, renumbered: dict[str, pl.DataFrame],
                        field_of: dict[tuple[str, str], str]) -> None:
    """Apply each renumbering to the columns that refer to it, per record.

    A reference holds the number the site saw in REDCap (the instance). When that number
    occurs in one event of the record only, it maps to that row's new number; when it
    occurs in several, the row of the referring row's own event is taken (a pathology
    form beside its procedure); otherwise the reference is ambiguous (error). A number no
    row of the record had is an error too: left alone, it could name another procedure
    after renumbering. Every rewritten cell is reported (warning ``redcap_reference_renumbered``)."""
    from .report import PROBLEM_SCHEMA

    events = df.select(ROW, pl.col("redcap_event_name").alias("__ev"))
    for tname, col, target in NUMBER_REFERENCES:
        m = renumbered.get(target)
        rt = reg.tables.get(tname)
        if m is None or rt is None or col not in rt.frame.columns:
            continue
        ref = (rt.frame.select(ROW, "subject_id", pl.col(col).str.strip_chars().cast(pl.Int64, strict=False).alias("__old"))
               .filter(pl.col("__old").is_not_null() & pl.col("subject_id").is_not_null()).join(events, on=ROW, how="left"))
        if ref.height == 0:
            continue
        cand = ref.join(m.rename({"__ev": "__tev"}), on=["subject_id", "__old"], how="left")
        same = pl.col("__tev").eq_missing(pl.col("__ev"))
        res = cand.group_by(ROW, maintain_order=True).agg(
            pl.col("subject_id").first(), pl.col("__old").first(), pl.col("__ev").first(),
            pl.col("__new").drop_nulls().len().alias("__n"), same.sum().alias("__same"),
            pl.col("__new").first().alias("__only"), pl.col("__tev").first().alias("__only_ev"),
            pl.col("__new").filter(same).first().alias("__mine"),
            pl.col("__tev").drop_nulls().unique().sort().str.join(", ").alias("__events"))
        one, mine = pl.col("__n") == 1, (pl.col("__n") > 1) & (pl.col("__same") == 1)
        res = res.with_columns(pl.when(one).then(pl.col("__only")).when(mine).then(pl.col("__mine")).alias("__to"),
                               pl.when(one).then(pl.col("__only_ev")).when(mine).then(pl.col("__ev")).fill_null("-").alias("__to_ev"))
        field = field_of.get((tname, col), col)
        where = f"{tname}.{col}"
        num = INSTANCE_COLUMNS[target]
        frames = []
        moved = res.filter(pl.col("__to").is_not_null() & (pl.col("__to") != pl.col("__old").cast(pl.String)))
        if moved.height:
            frames.append(moved.select(
                pl.lit(file).alias("file"), pl.col(ROW).alias("row"), pl.lit(field).alias("column"),
                pl.format("{} -> {}", pl.col("__old"), pl.col("__to")).alias("value"),
                pl.lit("redcap_reference_renumbered").alias("rule"),
                message_expr(_("{column} {old} of record {record} becomes {new}: it names instance {old} of form '{form}' in "
                               "event {event}, now {target} {new}"), column=where, old=pl.col("__old"),
                             record=pl.col("subject_id"), target=f"{target}.{num}", new=pl.col("__to"), form=target,
                             event=pl.col("__to_ev")).alias("message"),
                pl.lit(WARNING).alias("severity")))
        ambiguous = res.filter((pl.col("__n") > 1) & pl.col("__to").is_null())
        if ambiguous.height:
            frames.append(ambiguous.select(
                pl.lit(file).alias("file"), pl.col(ROW).alias("row"), pl.lit(field).alias("column"),
                pl.col("__old").cast(pl.String).alias("value"), pl.lit("redcap_reference_ambiguous").alias("rule"),
                message_expr(_("{column} {old} of record {record} is ambiguous: REDCap instance {old} of form '{target}' "
                               "exists in events {events}, which get different {num} values; record the "
                               "reference in the same event as the {target} it names, or keep {num} as a field"),
                             column=where, old=pl.col("__old"), record=pl.col("subject_id"), target=target, events=pl.col("__events"),
                             num=num).alias("message"),
                pl.lit(ERROR).alias("severity")))
        dangling = res.filter(pl.col("__n") == 0)
        if dangling.height:
            frames.append(dangling.select(
                pl.lit(file).alias("file"), pl.col(ROW).alias("row"), pl.lit(field).alias("column"),
                pl.col("__old").cast(pl.String).alias("value"), pl.lit("redcap_reference_missing").alias("rule"),
                message_expr(_("{column} {old} of record {record} names no '{target}' of the record: no event holds "
                               "instance {old} of that form (after renumbering the number would point at another row)"),
                             column=where, old=pl.col("__old"), record=pl.col("subject_id"), target=target).alias("message"),
                pl.lit(ERROR).alias("severity")))
        for f in frames:
            reg.problem_frames.append(f.cast(PROBLEM_SCHEMA))
        upd = res.select(ROW, "__to", (pl.col("__to").is_null()).alias("__bad"))
        skip = f"{SKIP}{col}"
        frame = rt.frame.join(upd, on=ROW, how="left")
        bad = pl.col("__bad").fill_null(False)
        frame = frame.with_columns(pl.when(bad).then(None).when(pl.col("__to").is_not_null()).then(pl.col("__to"))
                                   .otherwise(pl.col(col)).alias(col),
                                   ((bad | pl.col(skip)) if skip in frame.columns else bad).alias(skip))
        rt.frame = frame.drop("__to", "__bad")


def _latest(reg: RawRegistry, file: str, t: Table, out: pl.DataFrame) -> pl.DataFrame:
    """One row per record of a non-repeating table filled in several events: the latest."""
    if out.height == 0:
        return out
    out = out.sort(["subject_id", "__erank", "__inst", ROW], nulls_last=False)
    last = pl.col(ROW).last().over("subject_id")
    dropped = out.filter(pl.col(ROW) != last)
    if dropped.height:
        keep = out.filter(pl.col(ROW) == last).select("subject_id", pl.col(ROW).alias("__kept"), pl.col("redcap_event_name").alias("__kev"))
        d = dropped.join(keep, on="subject_id")
        for sid, row, ev, kept, kev in d.select("subject_id", ROW, "redcap_event_name", "__kept", "__kev").head(100_000).iter_rows():
            reg.problems.append(Problem(file, row, t.name, printable(sid, 60), "redcap_follow_up_latest",
                                        _("'{name}' of record '{sid}' is filled in several events or instances: the latest (row "
                                           "{kept}, event {kept_event}) is used, this earlier one (event {event}) is ignored").format(name=t.name, sid=printable(sid, 60), kept=kept, kept_event=printable(kev or '-', 40), event=printable(ev or '-', 40)), WARNING))
    return out.filter(pl.col(ROW) == last).sort(ROW)
