"""REDCap: the data dictionary of our schema and the writer of records exports.

The reader of a site's export is :mod:`dashboard.ingest.reader_redcap`; this module holds
what both share (dictionary columns, field names, aliases, choice parsing).

What :func:`write_redcap_dictionary` and :func:`write_redcap` write (the project a site
starts from; :mod:`.reader_redcap` reads this and the ways sites adapt it):

* One instrument (form) per source table, form name = table name.
* Field name = schema column name. Where two tables share a column name (REDCap needs
  project-wide unique names) the field carries a prefix: ``<table>_<column>`` or
  ``<alias>_<column>`` with the aliases in :data:`ALIASES` (``ici_start_date``,
  ``qol_timepoint``...).
* ``record_id`` (first field, on form ``subject``) is ``subject_id``.
* ``subject`` and ``follow_up`` are non-repeating, on the ``baseline_arm_1`` row; every
  other table is a repeating instrument whose row number (:data:`INSTANCE_COLUMNS`:
  ``exposure_no``, ``assessment_no``...) is ``redcap_repeat_instance``.
* Code columns are radio / dropdown fields (choices ``n, label``); booleans ``yesno``;
  ``drugs`` a checkbox (``drugs___<n>`` columns).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import polars as pl

from ..schema import TABLE_NAMES, TABLES, TABLES_BY_NAME, VOCABULARIES, Column, Table

DICTIONARY_COLUMNS = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
F_NAME, F_FORM, F_TYPE, F_CHOICES = DICTIONARY_COLUMNS[0], DICTIONARY_COLUMNS[1], DICTIONARY_COLUMNS[3], DICTIONARY_COLUMNS[5]
REDCAP_META = ("record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance", "redcap_data_access_group")
BASELINE_EVENT = "baseline_arm_1"

# Row-number column filled from redcap_repeat_instance when it is not a field.
INSTANCE_COLUMNS: Mapping[str, str] = {
    "ici_exposure": "exposure_no",
    "assessment": "assessment_no",
    "strategy_episode": "episode_no",
    "procedure": "procedure_no",
    "ae": "ae_no",
    "onc_event": "event_no",
}
ALIASES: Mapping[str, str] = {
    "ici_exposure": "ici",
    "assessment": "asmt",
    "strategy_episode": "se",
    "procedure": "proc",
    "pathology": "path",
    "onc_event": "onc",
    "follow_up": "fu",
    "qol": "qol",
    "ae": "ae",
    "subject": "subj",
}
# Drug choices of the ``drugs`` checkbox, in the order they are joined (PD-1/PD-L1 first).
DRUGS: tuple[str, ...] = (
    "nivolumab", "pembrolizumab", "dostarlimab", "toripalimab", "sintilimab", "tislelizumab",
    "camrelizumab", "serplulimab", "penpulimab", "durvalumab", "atezolizumab", "envafolimab",
    "ipilimumab", "tremelimumab", "cadonilimab", "relatlimab", "celecoxib", "oxaliplatin",
    "capecitabine", "fluorouracil", "irinotecan", "docetaxel", "nab-paclitaxel", "S-1",
)
CHECKBOX_COLUMNS = {("ici_exposure", "drugs")}


# --------------------------------------------------------------------------------------
# Writing a dictionary
# --------------------------------------------------------------------------------------
def _shared_columns() -> set[str]:
    seen: dict[str, int] = {}
    for t in TABLES:
        for c in t.columns:
            if c.name != "subject_id" and INSTANCE_COLUMNS.get(t.name) != c.name:
                seen[c.name] = seen.get(c.name, 0) + 1
    return {n for n, k in seen.items() if k > 1}


def field_names() -> dict[tuple[str, str], str]:
    """(table, column) -> REDCap field name for every column we put in the dictionary."""
    shared = _shared_columns()
    out = {}
    for t in TABLES:
        for c in t.columns:
            if c.name == "subject_id":
                if t.name == "subject":
                    out[(t.name, c.name)] = "record_id"
                continue
            if INSTANCE_COLUMNS.get(t.name) == c.name:
                continue
            out[(t.name, c.name)] = f"{ALIASES[t.name]}_{c.name}" if c.name in shared else c.name
    return out


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else str(x)


def dictionary_rows(drugs: Iterable[str] = ()) -> list[dict[str, str]]:
    """The data dictionary of our schema, as REDCap's CSV rows."""
    drug_list = list(DRUGS) + [d for d in dict.fromkeys(drugs) if d not in DRUGS]
    names = field_names()
    rows = []
    for t in TABLES:
        first = True
        for c in t.columns:
            if (t.name, c.name) not in names:
                continue
            r = dict.fromkeys(DICTIONARY_COLUMNS, "")
            r[F_NAME] = names[(t.name, c.name)]
            r[F_FORM] = t.name
            r["Section Header"] = t.description if first else ""
            first = False
            r["Field Label"] = c.description if c.name != "subject_id" else "Record ID (pseudonymised subject id)"
            r["Required Field?"] = "y" if c.required else ""
            if c.unit:
                r["Field Note"] = c.unit
            if (t.name, c.name) in CHECKBOX_COLUMNS:
                r[F_TYPE] = "checkbox"
                r[F_CHOICES] = " | ".join(f"{i}, {d}" for i, d in enumerate(drug_list, start=1))
            elif c.type == "code":
                v = VOCABULARIES[c.vocab]  # type: ignore[index]
                r[F_TYPE] = "radio" if len(v.items) <= 8 else "dropdown"
                r[F_CHOICES] = " | ".join(f"{i}, {label}" for i, (_, label) in enumerate(v.items, start=1))
            elif c.type == "bool":
                r[F_TYPE] = "yesno"
            else:
                r[F_TYPE] = "text"
                r["Text Validation Type OR Show Slider Number"] = {"int": "integer", "float": "number", "date": "date_ymd"}.get(c.type, "")
                if c.type in ("int", "float"):
                    r["Text Validation Min"], r["Text Validation Max"] = _num(c.min), _num(c.max)
            rows.append(r)
    return rows


def _write_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[str]]) -> None:
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(list(header))
        w.writerows(rows)


def write_redcap_dictionary(path: str | Path, drugs: Iterable[str] = ()) -> Path:
    """Write a REDCap data dictionary CSV for the schema (``drugs`` adds checkbox choices)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(path, DICTIONARY_COLUMNS, ([r[k] for k in DICTIONARY_COLUMNS] for r in dictionary_rows(drugs)))
    return path


# --------------------------------------------------------------------------------------
# Writing records
# --------------------------------------------------------------------------------------
def _as_text(s: pl.Series) -> pl.Series:
    if s.dtype == pl.Boolean:
        return s.replace_strict({True: "1", False: "0"}, return_dtype=pl.String)
    if s.dtype == pl.Date:
        return s.dt.strftime("%Y-%m-%d")
    return s.cast(pl.String)


def registry_to_redcap(tables: Mapping[str, pl.DataFrame]) -> tuple[pl.DataFrame, list[dict[str, str]]]:
    """Typed source tables -> (REDCap records frame of text, dictionary rows)."""
    drugs_seen: list[str] = []
    if "ici_exposure" in tables and tables["ici_exposure"].height:
        for v in tables["ici_exposure"]["drugs"].drop_nulls().to_list():
            drugs_seen += v.split("+")
    dict_rows = dictionary_rows(drugs_seen)
    names = field_names()
    choices = {r[F_NAME]: _parse_choices(r[F_CHOICES]) for r in dict_rows if r[F_CHOICES]}
    header = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]
    for t in TABLES:
        for c in t.columns:
            f = names.get((t.name, c.name))
            if f is None or f == "record_id":
                continue
            if (t.name, c.name) in CHECKBOX_COLUMNS:
                header += [f"{f}___{code}" for code in choices[f]]
            else:
                header.append(f)
        header.append(f"{t.name}_complete")
    parts = []
    for t in TABLES:
        df = tables.get(t.name)
        if df is None or df.height == 0:
            continue
        cols: dict[str, pl.Series | pl.Expr] = {}
        out = pl.DataFrame({"record_id": df["subject_id"].cast(pl.String)})
        out = out.with_columns(pl.lit(BASELINE_EVENT).alias("redcap_event_name"))
        if t.repeating:
            num = INSTANCE_COLUMNS.get(t.name)
            inst = df[num].cast(pl.String) if num else pl.Series([str(i) for i in _instances(df["subject_id"])])
            out = out.with_columns(pl.lit(t.name).alias("redcap_repeat_instrument"), inst.alias("redcap_repeat_instance"))
        for c in t.columns:
            f = names.get((t.name, c.name))
            if f is None or f == "record_id":
                continue
            s = df[c.name]
            if (t.name, c.name) in CHECKBOX_COLUMNS:
                for code, lab in choices[f].items():
                    cols[f"{f}___{code}"] = s.map_elements(
                        lambda v, lab=lab: "1" if v is not None and lab in v.split("+") else "0", return_dtype=pl.String
                    )
            elif c.type == "code":
                codes = {code: str(i) for i, code in enumerate(VOCABULARIES[c.vocab].codes, start=1)}  # type: ignore[index]
                cols[f] = s.replace_strict(codes, default=None, return_dtype=pl.String)
            else:
                cols[f] = _as_text(s)
        out = out.with_columns(**{k: v for k, v in cols.items()}, **{f"{t.name}_complete": pl.lit("2")})
        parts.append(out)
    if not parts:
        return pl.DataFrame(schema={h: pl.String for h in header}), dict_rows
    records = pl.concat(parts, how="diagonal_relaxed")
    for h in header:
        if h not in records.columns:
            records = records.with_columns(pl.lit(None, pl.String).alias(h))
    # subject and follow_up share the baseline row
    base = records.filter(pl.col("redcap_repeat_instrument").is_null())
    if base.height:
        base = base.group_by("record_id", maintain_order=True).agg(pl.all().drop_nulls().first())
    rep = records.filter(pl.col("redcap_repeat_instrument").is_not_null())
    records = pl.concat([base.select(header), rep.select(header)])
    order = {n: i for i, n in enumerate(TABLE_NAMES)}
    records = records.with_columns(
        pl.col("redcap_repeat_instrument").replace_strict(order, default=-1, return_dtype=pl.Int32).alias("__o"),
        pl.col("redcap_repeat_instance").cast(pl.Int64).alias("__i"),
    ).sort("record_id", "__o", "__i", nulls_last=False).drop("__o", "__i")
    return records, dict_rows


def _instances(ids: pl.Series) -> list[int]:
    counts: dict[str, int] = {}
    out = []
    for v in ids.to_list():
        counts[v] = counts.get(v, 0) + 1
        out.append(counts[v])
    return out


def write_redcap(tables: Mapping[str, pl.DataFrame], out_dir: str | Path, *, stem: str = "REGISTRY") -> tuple[Path, Path]:
    """Write ``<stem>_DATA.csv`` and ``<stem>_DataDictionary.csv`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records, rows = registry_to_redcap(tables)
    rec_path = out_dir / f"{stem}_DATA.csv"
    dict_path = out_dir / f"{stem}_DataDictionary.csv"
    records.write_csv(rec_path, null_value="", line_terminator="\n")
    _write_csv(dict_path, DICTIONARY_COLUMNS, ([r[k] for k in DICTIONARY_COLUMNS] for r in rows))
    return rec_path, dict_path


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------
_CHOICE_RE = re.compile(r"^\s*([^,]+?)\s*,\s*(.*?)\s*$", re.S)


def _parse_choices(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (text or "").split("|"):
        m = _CHOICE_RE.match(part)
        if m:
            out[m.group(1)] = m.group(2)
    return out


@dataclass
class _Field:
    name: str
    table: str
    column: str
    ftype: str
    choices: dict[str, str]
    line: int


def _column_for(table: Table, fieldname: str) -> str | None:
    if fieldname in table.column_names:
        return fieldname
    for prefix in (table.name, ALIASES.get(table.name, "")):
        if prefix and fieldname.startswith(prefix + "_") and fieldname[len(prefix) + 1 :] in table.column_names:
            return fieldname[len(prefix) + 1 :]
    return None


def _vocab_lookup(c: Column) -> dict[str, str]:
    v = VOCABULARIES[c.vocab]  # type: ignore[index]
    m = {label.strip().lower(): code for code, label in v.items}
    m.update({code.lower(): code for code in v.codes})  # a code wins over a label
    return m


def _order(choices: dict[str, str], code: str) -> int:
    keys = list(choices)
    return keys.index(code) if code in keys else len(keys)
