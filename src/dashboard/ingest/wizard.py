"""What the Data page's mapping wizard needs, without Streamlit: a first suggested mapping,
the grid of source values to code, ready-made wide-to-long rules, and edits of a mapping.

Suggestions come from :mod:`dashboard.synonyms`; none is applied without the data manager's
confirmation (the page asks; a mapping built here carries only what was confirmed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Iterable

import polars as pl

from ..schema import TABLES_BY_NAME, VOCABULARIES
from ..synonyms import SHARED_TARGETS, normalise, suggest_code, suggest_column
from .mapping import (
    ColumnSpec, Condition, Mapping, Rule, SourceOptions, _pre, CellError, needs_value_map,
)
from .profile import SourceProfile
from .sources import SourceTable

PER_ROW_TABLES = ("subject", "follow_up")
BOOL_CODES = ("true", "false")
MISSING_CODE = ""  # a value map entry meaning "missing"


def suggest_date_order(profile: SourceProfile) -> str | None:
    """DMY / MDY when the profile saw an unambiguous day > 12, else None (the page asks)."""
    seen = {k for c in profile.columns for k in c.date_patterns}
    if any(k.startswith("DD/MM") for k in seen) and not any(k.startswith("MM/DD") for k in seen):
        return "DMY"
    if any(k.startswith("MM/DD") for k in seen) and not any(k.startswith("DD/MM") for k in seen):
        return "MDY"
    return None


TNM_PARTS = {"ct": r"(T\d[abAB]?|Tis|TX|Tx)", "cn": r"(N\d|NX|Nx)", "cm": r"(M\d)"}


def suggest_transform(table: str, column: str, source: str, values: Iterable[str]) -> ColumnSpec | None:
    """A spec for a suggested source column, with the transforms its header or values imply
    (millimetres -> cm, a TNM string -> its T / N / M part); None when a TNM column lacks the part."""
    col = TABLES_BY_NAME[table].column(column)
    spec = ColumnSpec(source=source)
    if col.unit == "cm" and re.search(r"\bmm\b|毫米", source, re.I):
        spec = replace(spec, scale=0.1)
    vals = [v for v in values if v]
    if table == "subject" and column in TNM_PARTS and vals and all(re.search(r"T\w+N\w", v) for v in vals):
        if not all(re.search(TNM_PARTS[column], v) for v in vals):
            return None
        spec = replace(spec, regex=TNM_PARTS[column])
    return spec


DAG = "redcap_data_access_group"


def suggest_mapping(st: SourceTable, name: str, profile: SourceProfile | None = None) -> Mapping:
    """A first mapping: every target column of subject and follow_up with its suggested source
    column (synonyms; for ``subject.centre`` of a REDCap export without a centre field, its
    data access group), no constants and no value codes (those the data manager gives)."""
    rules = []
    used: set[str] = set()
    for t in PER_ROW_TABLES:
        table = TABLES_BY_NAME[t]
        cols = []
        for c in table.columns:
            if t == "follow_up" and c.name == "subject_id":
                continue
            shared = f"{t}.{c.name}" in SHARED_TARGETS
            src = suggest_column(f"{t}.{c.name}", [s for s in st.columns if shared or s not in used])
            if src is None and (t, c.name) == ("subject", "centre") and DAG in st.columns and DAG not in used \
                    and st.frame[DAG].drop_nulls().len():
                src = DAG  # a REDCap project without a centre field: its data access groups are the sites
            if src is None:
                continue
            spec = suggest_transform(t, c.name, src, st.frame[src].drop_nulls().head(50).to_list())
            if spec is None:
                continue
            used.add(src)
            cols.append((c.name, spec))
        rules.append(Rule(t, t, tuple(cols), per_row=True))
    fmt = st.format if st.format in ("csv", "xlsx", "xls", "ods", "sav", "dta", "sas7bdat", "xpt") else "auto"
    src = SourceOptions(format=fmt, sheet=st.sheet, date_order=suggest_date_order(profile) if profile else None,
                        encoding=st.encoding or "auto", delimiter=st.delimiter or "auto")
    return Mapping(name=name, source=src, rules=tuple(rules))


# --------------------------------------------------------------------------- edits
def set_column(m: Mapping, table: str, column: str, spec: ColumnSpec | None) -> Mapping:
    """Set (or with None remove) one target column of a ``[tables.X]`` block."""
    rules = list(m.rules)
    for i, r in enumerate(rules):
        if r.per_row and r.table == table:
            cols = [(c, s) for c, s in r.columns if c != column]
            if spec is not None:
                cols.append((column, spec))
            names = TABLES_BY_NAME[table].column_names
            rules[i] = replace(r, columns=tuple(sorted(cols, key=lambda cs: names.index(cs[0]))))
            return replace(m, rules=tuple(rules))
    if spec is None:
        return m
    return replace(m, rules=(*rules, Rule(table, table, ((column, spec),), per_row=True)))


def set_constant(m: Mapping, table: str, column: str, value: str | None) -> Mapping:
    consts = m.constant_map()
    cols = consts.setdefault(table, {})
    if value is None or value == "":
        cols.pop(column, None)
    else:
        cols[column] = value
    names = TABLES_BY_NAME[table].column_names
    out = tuple((t, tuple(sorted(c.items(), key=lambda cv: names.index(cv[0])))) for t, c in consts.items() if c)
    return replace(m, constants=out)


def set_rules(m: Mapping, prefix: str, rules: Iterable[Rule]) -> Mapping:
    """Replace the ``[[rows]]`` rules whose id starts with ``prefix`` by ``rules``."""
    keep = [r for r in m.rules if r.per_row or not r.id.startswith(prefix)]
    return replace(m, rules=(*keep, *rules))


# --------------------------------------------------------------------------- the values grid
@dataclass(frozen=True)
class CodedTarget:
    table: str
    column: str
    source: str
    sheet: str | None
    vocab: str  # vocabulary name, or "bool"

    @property
    def key(self) -> str:
        return f"{self.table}.{self.column}<-{self.source}"

    @property
    def codes(self) -> tuple[str, ...]:
        return BOOL_CODES if self.vocab == "bool" else VOCABULARIES[self.vocab].codes


def coded_targets(m: Mapping) -> list[CodedTarget]:
    """Every (target column, source column) pair whose values need codes; also free-text
    columns the mapping gives a value map (e.g. Chinese drug names -> English)."""
    out: dict[str, CodedTarget] = {}
    for r in m.rules:
        t = TABLES_BY_NAME[r.table]
        for c, s in r.columns:
            col = t.column(c)
            if s.source is None or not (needs_value_map(col) or s.values):
                continue
            if c == "subject_id":
                continue
            vocab = "bool" if col.type == "bool" else (col.vocab or "")
            if not vocab:
                continue
            ct = CodedTarget(r.table, c, s.source, r.sheet, vocab)
            out.setdefault(ct.key, ct)
    return list(out.values())


def _specs_for(m: Mapping, ct: CodedTarget) -> list[ColumnSpec]:
    return [s for r in m.rules if r.table == ct.table for c, s in r.columns if c == ct.column and s.source == ct.source]


def value_rows(m: Mapping, sources: dict[str | None, SourceTable]) -> pl.DataFrame:
    """One row per (coded target, distinct source value): count, the code the mapping gives
    it now (None = not yet), the suggested code, and whether the mapping already knows it."""
    rows = []
    missing = {x.strip() for x in m.source.missing}
    for ct in coded_targets(m):
        st = sources.get(ct.sheet)
        if st is None or ct.source not in st.columns:
            continue
        spec = _specs_for(m, ct)[0]
        known = {k: v for s in _specs_for(m, ct) for k, v in s.values}
        counts: dict[str, int] = {}
        for v in st.frame[ct.source].drop_nulls().to_list():
            v = v.strip()
            if v in missing:
                continue
            try:
                v = _pre(spec, v)
            except CellError:
                pass
            counts[v] = counts.get(v, 0) + 1
        labels = st.value_labels.get(ct.source, {})
        for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            have = None
            if v in known:
                have = known[v]
            else:
                for k, code in known.items():
                    if normalise(k) == normalise(v):
                        have = code
            already_code = v in ct.codes or v.upper() in ct.codes
            label = labels.get(v, "")
            if ct.vocab == "bool":
                n_ = normalise(v)
                sug = "true" if n_ in {"y", "yes", "true", "1", "是", "有", "t"} else (
                    "false" if n_ in {"n", "no", "false", "0", "否", "无", "f"} else None)
            else:
                sug = suggest_code(ct.vocab, label or v, ct.codes)
            rows.append({"key": ct.key, "table": ct.table, "column": ct.column, "source": ct.source, "value": v,
                         "label": label, "count": n, "code": have, "suggested": sug,
                         "known": have is not None or (already_code and not known)})
    schema = {"key": pl.String, "table": pl.String, "column": pl.String, "source": pl.String, "value": pl.String,
              "label": pl.String, "count": pl.Int64, "code": pl.String, "suggested": pl.String, "known": pl.Boolean}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def set_values(m: Mapping, ct: CodedTarget, codes: dict[str, str]) -> Mapping:
    """Give ``ct``'s source values these codes (``""`` = missing) in every rule that maps it."""
    rules = []
    for r in m.rules:
        if r.table == ct.table:
            cols = []
            for c, s in r.columns:
                if c == ct.column and s.source == ct.source:
                    merged = {**s.value_map, **codes}
                    if ct.vocab == "bool":
                        merged = {k: ("true" if v == "true" else "false" if v == "false" else v) for k, v in merged.items()}
                    s = replace(s, values=tuple(merged.items()))
                cols.append((c, s))
            r = replace(r, columns=tuple(cols))
        rules.append(r)
    return replace(m, rules=tuple(rules))


# --------------------------------------------------------------------------- ready-made rules
def ici_rules(start: str, regimen: str | None, cycles: str | None) -> list[Rule]:
    cols = [("start_date", ColumnSpec(source=start))]
    if regimen:
        cols += [("regimen_class", ColumnSpec(source=regimen)), ("drugs", ColumnSpec(source=regimen))]
    if cycles:
        cols.append(("cycles", ColumnSpec(source=cycles)))
    return [Rule("wiz_ici", "ici_exposure", tuple(cols), (Condition(start, present=True),))]


def restaging_rules(date: str, response: str | None, modality: str) -> list[Rule]:
    cols = [("assessment_date", ColumnSpec(source=date)), ("timepoint", ColumnSpec(value="RESTAGING")),
            ("modality", ColumnSpec(assumed=modality))]
    if response:
        cols.append(("overall_response", ColumnSpec(source=response)))
    return [Rule("wiz_restaging", "assessment", tuple(cols), (Condition(date, present=True),))]


def strategy_rules(ww: str, ww_yes: Iterable[str], restaging: str, surgery: str | None, operation: str | None,
                   regrowth: str | None) -> list[Rule]:
    """W&W yes/no + surgery date (+ operation, regrowth date) -> strategy episodes, procedures, regrowth events."""
    yes = tuple(ww_yes)
    is_ww = Condition(ww, any_of=yes)
    not_ww = Condition(ww, present=True, none_of=yes)
    rules = [Rule("wiz_ww", "strategy_episode", (("strategy", ColumnSpec(value="WW")),
                                                 ("decision_date", ColumnSpec(source=restaging)),
                                                 ("start_date", ColumnSpec(source=restaging)),
                                                 ("trigger", ColumnSpec(value="INITIAL"))), (is_ww,))]
    if surgery:
        op = (("procedure_type", ColumnSpec(source=operation)),) if operation else ()
        rules.append(Rule("wiz_upfront", "strategy_episode", (
            ("strategy", ColumnSpec(value="RO")), ("decision_date", ColumnSpec(source=restaging)),
            ("start_date", ColumnSpec(source=surgery)), ("trigger", ColumnSpec(value="INITIAL"))),
            (not_ww, Condition(surgery, present=True))))
        if regrowth:
            rules.append(Rule("wiz_salvage", "strategy_episode", (
                ("strategy", ColumnSpec(value="RO")), ("decision_date", ColumnSpec(source=regrowth)),
                ("start_date", ColumnSpec(source=surgery)), ("trigger", ColumnSpec(value="REGROWTH"))),
                (is_ww, Condition(surgery, present=True))))
        rules.append(Rule("wiz_primary_resection", "procedure", (
            ("episode_no", ColumnSpec(number_of="wiz_upfront")), ("procedure_date", ColumnSpec(source=surgery)),
            *op, ("intent", ColumnSpec(value="PRIMARY"))), (not_ww, Condition(surgery, present=True))))
        if regrowth:
            rules.append(Rule("wiz_salvage_resection", "procedure", (
                ("episode_no", ColumnSpec(number_of="wiz_salvage")), ("procedure_date", ColumnSpec(source=surgery)),
                *op, ("intent", ColumnSpec(value="SALVAGE"))), (is_ww, Condition(surgery, present=True))))
    if regrowth:
        cols = [("event_type", ColumnSpec(value="LOCAL_REGROWTH")), ("event_date", ColumnSpec(source=regrowth))]
        if surgery:
            cols.append(("salvage_procedure_no", ColumnSpec(number_of="wiz_salvage_resection")))
        rules.append(Rule("wiz_regrowth", "onc_event", tuple(cols), (Condition(regrowth, present=True),)))
    return rules


def ae_rules(sheet: str, subject: ColumnSpec, term: str, grade: str, onset: str, immune: str | None,
             steroids: str | None, attribution: str) -> list[Rule]:
    cols = [("subject_id", subject), ("term", ColumnSpec(source=term)), ("soc", ColumnSpec(source=term)),
            ("grade", ColumnSpec(source=grade)), ("onset_date", ColumnSpec(source=onset)),
            ("attribution", ColumnSpec(assumed=attribution))]
    if immune:
        cols.append(("immune_related", ColumnSpec(source=immune)))
    if steroids:
        cols.append(("steroids", ColumnSpec(source=steroids)))
    names = TABLES_BY_NAME["ae"].column_names
    return [Rule("wiz_ae", "ae", tuple(sorted(cols, key=lambda cs: names.index(cs[0]))), (), sheet)]


def required_gaps(m: Mapping) -> list[str]:
    """Required target columns of subject / follow_up that neither a source column nor a constant fills."""
    consts = m.constant_map()
    out = []
    for t in PER_ROW_TABLES:
        spec = next((r.spec for r in m.rules if r.per_row and r.table == t), {})
        for c in TABLES_BY_NAME[t].required_columns:
            if t == "follow_up" and c == "subject_id":
                continue
            if c not in spec and c not in consts.get(t, {}):
                out.append(f"{t}.{c}")
    return out
