"""Data page, data managers: the mapping wizard for a site's own spreadsheet.

Upload the site's file (and, for a later import, its saved mapping) -> how to read it ->
a source column for every target column (suggested, to confirm) -> constants (assumed) ->
rows from columns (wide-to-long) -> a code for every source value (suggested, each column
confirmed; a re-import asks only about values the mapping has not seen) -> preview
(canonical tables, problems by column and rule, diff against the current store) -> save /
download the mapping and load through the same atomic import as every other upload.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import replace
from pathlib import Path

import polars as pl
import streamlit as st

from .. import audit
from ..i18n import N_, _, fmt_int
from ..ingest.mapping import (
    ColumnSpec, Mapping, MappingError, apply_mapping, parse_mapping, read_mapped_source, DATE_ORDERS, DEFAULT_MISSING,
)
from ..ingest.preview import diff_against_store, import_result, preview_result
from ..ingest.profile import profile_table
from ..ingest.report import ImportRejected
from ..ingest.sources import SourceError, read_source
from ..ingest.wizard import (
    CodedTarget, PER_ROW_TABLES, ae_rules, coded_targets, ici_rules, required_gaps, restaging_rules, set_column,
    set_constant, set_rules, set_values, strategy_rules, suggest_mapping, suggest_transform, value_rows, MISSING_CODE,
)
from ..schema import TABLES_BY_NAME, VOCABULARIES
from ..synonyms import suggest_column
from .data_page import MAX_UPLOAD_MB, MB, PROBLEM_HEADERS, UploadRefused, _check_name, _check_xlsx, labelled
from .page import PageContext
from .text import md_text

STATE = "_mapwiz"
DONE = "_mapwiz_done"
SOURCE_TYPES = ["csv", "tsv", "txt", "xlsx", "xls", "ods", "sav", "zsav", "dta", "sas7bdat", "xpt"]
# Option values of the wizard's select boxes (shown through _option_label in the current language).
NONE = "(not in the source)"
CHOOSE = "(choose)"
MISSING = "(missing)"
NOT_SET = "(not set)"
NO_PICK = "(none)"
ASK = "(not needed / ask me)"
OPTION_LABELS = {NONE: N_("(not in the source)"), CHOOSE: N_("(choose)"), MISSING: N_("(missing)"),
                 NOT_SET: N_("(not set)"), NO_PICK: N_("(none)"), ASK: N_("(not needed / ask me)")}
PROFILE_HEADERS = {"column": N_("column"), "type": N_("type"), "empty_pct": N_("empty (%)"),
                   "distinct": N_("distinct values"), "top_values": N_("most frequent values (count)"),
                   "date_patterns": N_("date patterns (count)")}
SHEET_STATES = {"hidden": N_("hidden"), "veryhidden": N_("very hidden")}
DATE_ORDER_NAMES = {"DMY": N_("DMY (day/month/year)"), "MDY": N_("MDY (month/day/year)")}
ASSUMED_HEADERS = {"table": N_("table"), "column": N_("column"), "value": N_("value"), "cells": N_("cells filled"),
                   "by": N_("filled by")}
DIFF_HEADERS = {"table": N_("table"), "rows_now": N_("rows now"), "rows_after": N_("rows after loading"),
                "change": N_("change")}
TRANSFORM_HEADERS = {"column": N_("column"), "source": N_("source column"), "transform": N_("transform")}


def _option_label(value: object) -> str:
    """A wizard option: its own text (a source column, a code), or a marker in the current language."""
    return _(OPTION_LABELS[value]) if value in OPTION_LABELS else str(value)
MAPPINGS_DIR = "mappings"
MODALITIES = VOCABULARIES["modality"].codes


def _k(*parts: object) -> str:
    """A widget key, new for every new file / mapping pair (so each starts from what the mapping says)."""
    gen = (st.session_state.get(STATE) or {}).get("digest", "")[:12]
    return "mw_" + hashlib.sha1("|".join(map(str, (gen, *parts))).encode()).hexdigest()[:12]


def _reset() -> None:
    for k in [k for k in st.session_state if str(k).startswith("mw_")]:
        del st.session_state[k]


def mappings_dir(ctx: PageContext) -> Path:
    """Mappings are kept beside the store, under their names."""
    return Path(ctx.store.path).parent / MAPPINGS_DIR


def _safe_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "mapping"


def save_mapping(ctx: PageContext, m: Mapping) -> Path:
    d = mappings_dir(ctx)
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{_safe_stem(m.name)}.toml"
    p.write_text(m.dumps(), "utf-8")
    return p


def _read(data: bytes, name: str, m: Mapping | None, sheet: str | None, header_row: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="dashboard-map-") as tmp:
        p = Path(tmp) / name
        p.write_bytes(data)
        main = read_source(p, sheet=sheet, header_row=header_row,
                           encoding=m.source.encoding if m else "auto", delimiter=m.source.delimiter if m else "auto")
        sources: dict = {None: main}
        if m is not None:
            for s in m.sheets()[1:]:
                if s in [n for n, _ in main.sheets]:
                    sources[s] = read_source(p, sheet=s)
        others = {}
        for n, _vis in main.sheets:
            if n != main.sheet and n not in sources:
                try:
                    others[n] = read_source(p, sheet=n)
                except SourceError:
                    continue
        return {"sources": sources, "others": others}


# --------------------------------------------------------------------------- steps
def _step_upload(ctx: PageContext) -> dict | None:
    st.markdown(_("**1. The site's file**"))
    c = st.columns([3, 2])
    up = c[0].file_uploader(_("Spreadsheet, CSV, SPSS, Stata or SAS file"), type=SOURCE_TYPES, key="mwu_upload_src")
    mup = c[1].file_uploader(_("Its mapping file, if it has one (.toml)"), type=["toml"], key="mwu_upload_map")
    saved = sorted(mappings_dir(ctx).glob("*.toml")) if mappings_dir(ctx).exists() else []
    pick = c[1].selectbox(_("...or a mapping saved beside the store"), [NO_PICK] + [p.name for p in saved],
                          format_func=_option_label, key="mwu_saved_pick") if saved else NO_PICK
    if up is None:
        st.session_state.pop(STATE, None)
        return None
    try:
        _check_name(up.name)
        if up.size > MAX_UPLOAD_MB * MB:
            raise UploadRefused(_("refused: {file} is larger than {max} MB").format(file=up.name, max=MAX_UPLOAD_MB))
        data = up.getvalue()
        if up.name.lower().endswith((".xlsx", ".ods")):
            _check_xlsx(data, up.name)
    except UploadRefused as exc:
        st.error(md_text(exc, 600), icon=":material/block:")
        return None
    mtext, mname = None, None
    if mup is not None:
        mtext, mname = mup.getvalue().decode("utf-8", errors="replace"), mup.name
    elif pick != NO_PICK:
        mtext, mname = (mappings_dir(ctx) / pick).read_text("utf-8"), pick
    digest = hashlib.sha256(data + b"\0" + (mtext or "").encode()).hexdigest()
    state = st.session_state.get(STATE)
    if state is None or state["digest"] != digest:
        _reset()
        loaded = None
        if mtext is not None:
            try:
                loaded = parse_mapping(mtext, mname or "mapping")
            except MappingError as exc:
                st.error(md_text(_("The mapping file cannot be used: {reason}").format(reason=exc), limit=None),
                         icon=":material/error:")
                return None
        try:
            read = _read(data, up.name, loaded, loaded.source.sheet if loaded else None,
                         loaded.source.header_row if loaded else 1)
        except SourceError as exc:
            st.error(md_text(_("The file cannot be read: {reason}").format(reason=exc), limit=None),
                     icon=":material/error:")
            return None
        main = read["sources"][None]
        profile = profile_table(main)
        m = loaded or suggest_mapping(main, Path(up.name).stem + "-mapping", profile)
        state = {"digest": digest, "file": up.name, "data": data, "mapping": m, "loaded": loaded is not None,
                 "loaded_sha": loaded.sha256 if loaded else None, "profile": profile, **read}
        st.session_state[STATE] = state
        audit.record("validate", ctx.actor, {"kind": "mapping_wizard_upload", "file": up.name,
                                             "sha256": hashlib.sha256(data).hexdigest(),
                                             "mapping": m.name if loaded else None}, role=ctx.role,
                     path=audit.default_audit_path(ctx.store.path))
    main = state["sources"][None]
    msg = _("{file}: {rows} rows, {columns} columns").format(file=md_text(main.file), rows=fmt_int(main.height),
                                                             columns=fmt_int(len(main.columns)))
    if state["loaded"]:
        msg += _("; ") + _("mapping {name} loaded (sha256 {sha})").format(
            name=md_text(repr(state["mapping"].name)), sha=f"`{state['loaded_sha'][:12]}`")
    st.caption(msg)
    with st.expander(_("Profile of the source (type, empty share, values, date patterns)")):
        st.dataframe(labelled(state["profile"].frame(), PROFILE_HEADERS), hide_index=True, width="stretch")
        hidden = [n for n, v in main.sheets if v != "visible"]
        if hidden:
            st.caption(_("Hidden sheets: {sheets}").format(sheets=md_text(", ".join(hidden))))
    return state


def _step_read(state: dict) -> None:
    st.markdown(_("**2. How to read it**"))
    m: Mapping = state["mapping"]
    main = state["sources"][None]
    c = st.columns(4)
    src = m.source
    if main.sheets:
        names = [n for n, _ in main.sheets]
        label = {n: n + ("" if v == "visible" else f" ({_(SHEET_STATES.get(v, v))})") for n, v in main.sheets}
        sheet = c[0].selectbox(_("Sheet with one row per patient"), names, index=names.index(main.sheet),
                               format_func=label.get, key=_k("sheet"))
        if sheet != main.sheet:
            state.update(_read(state["data"], state["file"], m, sheet, src.header_row))
            state["profile"] = profile_table(state["sources"][None])
            state["mapping"] = replace(m, source=replace(src, sheet=sheet))
            st.rerun()
    orders = [ASK] + list(DATE_ORDERS)
    order = c[1].selectbox(_("Dates like 03/04/2024 are"), orders, index=orders.index(src.date_order) if src.date_order else 0,
                           format_func=lambda o: _(DATE_ORDER_NAMES[o]) if o in DATE_ORDER_NAMES else _option_label(o),
                           key=_k("order"), help=_("DMY = day first. Suggested from the dates the profile found (a day "
                                                   "above 12 decides); never guessed per cell."))
    decimal = c[2].selectbox(_("Decimal mark"), [".", ","], index=[".", ","].index(src.decimal), key=_k("decimal"))
    missing = c[3].text_input(_("Cells meaning missing (comma-separated)"), ", ".join(x for x in src.missing if x),
                              key=_k("missing"))
    marks = tuple(dict.fromkeys([""] + [x.strip() for x in missing.split(",") if x.strip()]))
    says = any(_says_synthetic(o) for o in state["others"].values())
    synthetic = st.checkbox(_("This file is synthetic test data: label the store SYNTHETIC"), value=src.synthetic or says,
                            key=_k("synthetic"),
                            help=_("Ticked when a sheet of the file says SYNTHETIC (the worked examples)."))
    state["mapping"] = replace(m, source=replace(src, date_order=None if order == ASK else order,
                                                 decimal=decimal, missing=marks or DEFAULT_MISSING, synthetic=synthetic))


def _says_synthetic(t) -> bool:
    """A sheet of the file declares it synthetic (its header or first rows say so)."""
    text = " ".join(t.columns) + " " + " ".join(str(v) for r in t.frame.head(5).drop("__row").rows() for v in r if v)
    return "SYNTHETIC" in text.upper() or "模拟数据" in text


def _column_help(c) -> str:
    """A registry column's description (the schema's English text) and unit, for a select box's help."""
    return _(c.description) + (f" ({c.unit})" if c.unit else "")


def _spec_line(s: ColumnSpec) -> str:
    bits = []
    if s.split:
        bits.append(_("split {sep} part {part}").format(sep=repr(s.split), part=s.part))
    if s.regex:
        bits.append(_("regex {regex}").format(regex=s.regex))
    if s.scale is not None:
        bits.append(f"x {s.scale:g}")
    if s.template:
        bits.append(_("template {template}").format(template=s.template))
    return "; ".join(bits)


def _step_columns(state: dict) -> None:
    st.markdown(_("**3. Columns: which source column fills each registry column**"))
    st.caption(_("Suggested from the column names (English and Chinese synonyms). Check each one; choose "
                 "'{none}' where the source has no such column.").format(none=_option_label(NONE)))
    m: Mapping = state["mapping"]
    main = state["sources"][None]
    options = [NONE] + main.columns
    for t in PER_ROW_TABLES:
        table = TABLES_BY_NAME[t]
        spec = next((r.spec for r in m.rules if r.per_row and r.table == t), {})
        cols = [c for c in table.columns if not (t == "follow_up" and c.name == "subject_id")]
        st.markdown(f"*{md_text(t)}*")
        grid = st.columns(4)
        for i, c in enumerate(cols):
            cur = spec.get(c.name)
            default = cur.source if cur is not None and cur.source in main.columns else NONE
            label = f"{c.name}{' *' if c.required else ''}"
            choice = grid[i % 4].selectbox(label, options, index=options.index(default), key=_k("col", t, c.name),
                                           format_func=_option_label,
                                           help=_column_help(c))
            if choice == NONE:
                if cur is not None and cur.source is not None:
                    m = set_column(m, t, c.name, None)
            elif cur is None or cur.source != choice:
                m = set_column(m, t, c.name, suggest_transform(t, c.name, choice,
                                                               main.frame[choice].drop_nulls().head(50).to_list())
                               or ColumnSpec(source=choice))
    used = m.used_columns(None)
    spare = [c for c in main.columns if c not in used]
    ignore = st.multiselect(_("Source columns to leave out on purpose (identifiers, names, free text)"), spare,
                            default=[c for c in m.ignore if c in spare], key=_k("ignore"),
                            help=_("Columns neither mapped nor listed here are reported as unmapped."))
    m = replace(m, ignore=tuple(ignore))
    if not state["loaded"]:
        st.checkbox(_("These column choices are right"), key=_k("cols_ok"),
                    help=_("Suggestions are only used once you confirm them."))
    with st.expander(_("Transforms (regex extract, split, scale, template) of a mapped column")):
        mapped = [(r.table, c, s) for r in m.rules if r.per_row for c, s in r.columns if s.source]
        rows = [{"column": f"{t}.{c}", "source": s.source, "transform": _spec_line(s)} for t, c, s in mapped]
        frame = pl.DataFrame(rows) if rows else pl.DataFrame({"column": []})
        st.dataframe(labelled(frame, TRANSFORM_HEADERS), hide_index=True, width="stretch")
        names = [f"{t}.{c}" for t, c, _s in mapped]
        if names:
            pick = st.selectbox(_("Column"), names, key=_k("tf_pick"))
            t, c, s = mapped[names.index(pick)]
            g = st.columns(5)
            regex = g[0].text_input(_("regex (first group kept)"), s.regex or "", key=_k("tf_re", pick))
            split = g[1].text_input(_("split on"), s.split or "", key=_k("tf_split", pick))
            part = g[2].number_input(_("part"), value=s.part, step=1, key=_k("tf_part", pick))
            scale = g[3].text_input(_("scale (multiply by)"), "" if s.scale is None else f"{s.scale:g}",
                                    key=_k("tf_scale", pick))
            template = g[4].text_input(_("template ({value})").format(value="{value}"), s.template or "",
                                       key=_k("tf_tpl", pick))
            try:
                new = replace(s, regex=regex or None, split=split or None, part=int(part),
                              scale=float(scale) if scale.strip() else None, template=template or None)
            except ValueError:
                st.error(_("scale must be a number"))
                new = s
            if new != s:
                m = set_column(m, t, c, new)
    state["mapping"] = m


def _step_constants(state: dict) -> None:
    st.markdown(_("**4. Constants: values the source does not hold**"))
    st.caption(_("Each is shown as ASSUMED in the preview, on the Data page and in every export's provenance, with "
                 "the number of cells it filled. Nothing is filled unless you enter it here."))
    m: Mapping = state["mapping"]
    gaps = set(required_gaps(m))
    consts = m.constant_map()
    wanted = [("subject", "cohort"), ("subject", "centre"), ("subject", "eligibility")]
    wanted += [tuple(g.split(".")) for g in sorted(gaps) if tuple(g.split(".")) not in wanted]
    grid = st.columns(4)
    for i, (t, c) in enumerate(wanted):
        col = TABLES_BY_NAME[t].column(c)
        cur = consts.get(t, {}).get(c)
        spec = next((r.spec for r in m.rules if r.per_row and r.table == t), {})
        if c in spec:
            grid[i % 4].caption(_("{column}: from column {source}").format(
                column=f"`{t}.{c}`", source=md_text(repr(spec[c].source))))
            continue
        if col.vocab:
            opts = [NOT_SET] + list(VOCABULARIES[col.vocab].codes)
            v = grid[i % 4].selectbox(f"{t}.{c}", opts, index=opts.index(cur) if cur in opts else 0, key=_k("const", t, c),
                                      format_func=lambda x, vv=col.vocab: _option_label(x) if x == NOT_SET
                                      else f"{x} - {VOCABULARIES[vv].label(x)}")
            v = None if v == NOT_SET else v
        else:
            v = grid[i % 4].text_input(f"{t}.{c}", cur or "", key=_k("const", t, c)) or None
        m = set_constant(m, t, c, v)
    state["mapping"] = m
    left = required_gaps(m)
    if left:
        st.warning(_("Required columns still without a source column or constant: {columns}").format(
            columns=", ".join(f"`{x}`" for x in left)))


def _col_pick(label: str, cols: list[str], target: str | None, key: str, container) -> str | None:
    opts = [NONE] + cols
    sug = suggest_column(target, cols) if target else None
    v = container.selectbox(label, opts, index=opts.index(sug) if sug in opts else 0, key=key,
                            format_func=_option_label)
    return None if v == NONE else v


def _step_rows(state: dict) -> None:
    st.markdown(_("**5. Rows from columns (one patient row -> rows of other tables)**"))
    m: Mapping = state["mapping"]
    main = state["sources"][None]
    cols = main.columns
    if state["loaded"]:  # a saved mapping's rules are kept as they are (their value maps included)
        own = [r for r in m.rules if not r.per_row]
        if own:
            st.caption(_("From the loaded mapping: {n} rule(s) - {rules}").format(
                n=len(own), rules=", ".join(f"`{r.id}` -> `{r.table}`" for r in own)))
            if not st.toggle(_("Rebuild these rules here"), value=False, key=_k("rows_more")):
                return
    own = [r for r in m.rules if not r.per_row and not r.id.startswith("wiz_")]
    with st.expander(_("Immunotherapy ({table})").format(table="ici_exposure"), expanded=not own):
        g = st.columns(3)
        start = _col_pick(_("First dose date"), cols, "ici_exposure.start_date", _k("ici", "start"), g[0])
        regimen = _col_pick(_("Regimen / drug"), cols, "ici_exposure.regimen_class", _k("ici", "reg"), g[1])
        cycles = _col_pick(_("Cycles"), cols, "ici_exposure.cycles", _k("ici", "cyc"), g[2])
        m = set_rules(m, "wiz_ici", ici_rules(start, regimen, cycles) if start else [])
    with st.expander(_("Restaging response ({table})").format(table="assessment"), expanded=not own):
        g = st.columns(3)
        date = _col_pick(_("Restaging date"), cols, "assessment.assessment_date", _k("rs", "date"), g[0])
        resp = _col_pick(_("Response"), cols, "assessment.overall_response", _k("rs", "resp"), g[1])
        modality = g[2].selectbox(_("Modality (ASSUMED: the source does not say)"), MODALITIES, key=_k("rs", "mod"),
                                  format_func=lambda x: f"{x} - {VOCABULARIES['modality'].label(x)}")
        m = set_rules(m, "wiz_restaging", restaging_rules(date, resp, modality) if date else [])
    with st.expander(_("Strategy: Watch & Wait, surgery, regrowth ({tables})").format(
            tables="strategy_episode, procedure, onc_event"), expanded=not own):
        g = st.columns(5)
        ww = _col_pick(_("Watch & Wait yes/no"), cols, "strategy_episode.strategy", _k("st", "ww"), g[0])
        surgery = _col_pick(_("Surgery date"), cols, "procedure.procedure_date", _k("st", "surg"), g[1])
        op = _col_pick(_("Operation"), cols, "procedure.procedure_type", _k("st", "op"), g[2])
        regrowth = _col_pick(_("Regrowth date"), cols, "onc_event.event_date", _k("st", "rg"), g[3])
        restaging = _col_pick(_("Decision (restaging) date"), cols, "assessment.assessment_date", _k("st", "dec"), g[4])
        yes: list[str] = []
        if ww:
            vals = sorted(set(main.frame[ww].drop_nulls().to_list()))
            sug = [v for v in vals if v.strip().lower() in {"y", "yes", "是", "w&w", "true", "1"}]
            yes = st.multiselect(_("Values of {column} that mean Watch & Wait").format(column=repr(ww)), vals,
                                 default=sug, key=_k("st", "yes", ww))
        ok = ww and yes and restaging
        for pref in ("wiz_ww", "wiz_upfront", "wiz_salvage", "wiz_primary_resection", "wiz_regrowth"):
            m = set_rules(m, pref, [])
        if ok:
            m = set_rules(m, "wiz_ww", strategy_rules(ww, yes, restaging, surgery, op, regrowth))
    extra = [n for n in state["others"]]
    with st.expander(_("Adverse events on another sheet ({table})").format(table="ae"), expanded=False):
        if not extra:
            st.caption(_("The source has no other sheet."))
        else:
            sheet = st.selectbox(_("Sheet"), [NO_PICK] + extra, key=_k("ae", "sheet"), format_func=_option_label)
            if sheet != NO_PICK:
                sc = state["others"][sheet].columns
                g = st.columns(6)
                sid = _col_pick(_("Patient id"), sc, "subject.subject_id", _k("ae", "id", sheet), g[0])
                term = _col_pick(_("Term"), sc, None, _k("ae", "term", sheet), g[1])
                grade = _col_pick(_("Grade"), sc, None, _k("ae", "grade", sheet), g[2])
                onset = _col_pick(_("Onset date"), sc, None, _k("ae", "onset", sheet), g[3])
                irae = _col_pick(_("Immune-related (yes/no)"), sc, None, _k("ae", "ir", sheet), g[4])
                ster = _col_pick(_("Steroids (yes/no)"), sc, None, _k("ae", "st", sheet), g[5])
                attr = st.selectbox(_("Attributed to (ASSUMED)"), VOCABULARIES["ae_attribution"].codes,
                                    key=_k("ae", "attr"),
                                    format_func=lambda x: f"{x} - {VOCABULARIES['ae_attribution'].label(x)}")
                subj = m.subject_id_spec() if _has_subject_id(m) else ColumnSpec(source=sid)
                if sid and term and grade and onset:
                    m = set_rules(m, "wiz_ae", ae_rules(sheet, replace(subj, source=sid), term, grade, onset, irae, ster, attr))
                    state["sources"][sheet] = state["others"][sheet]
                else:
                    m = set_rules(m, "wiz_ae", [])
    state["mapping"] = m


def _has_subject_id(m: Mapping) -> bool:
    try:
        m.subject_id_spec()
        return True
    except MappingError:
        return False


def _code_label(ct: CodedTarget, code: str) -> str:
    if code in (CHOOSE, MISSING):
        return _option_label(code)
    if ct.vocab == "bool":
        return {"true": _("yes (true)"), "false": _("no (false)")}[code]
    return f"{code} - {VOCABULARIES[ct.vocab].label(code)}"


def _step_values(state: dict) -> bool:
    """Returns True when every coded column is confirmed."""
    st.markdown(_("**6. Codes: what each source value means**"))
    m: Mapping = state["mapping"]
    grid = value_rows(m, state["sources"])
    if grid.height == 0:
        st.caption(_("No coded column is mapped yet."))
        return True
    targets = {ct.key: ct for ct in coded_targets(m)}
    all_ok = True
    unseen_total = 0
    for key in grid["key"].unique(maintain_order=True).to_list():
        ct = targets[key]
        rows = grid.filter(pl.col("key") == key)
        ask = rows.filter(~pl.col("known")) if state["loaded"] else rows
        unseen_total += ask.height if state["loaded"] else 0
        title = f"{ct.table}.{ct.column} <- '{ct.source}' (" + (
            _("{n} value(s), {new} new").format(n=rows.height, new=ask.height) if state["loaded"]
            else _("{n} value(s)").format(n=rows.height)) + ")"
        confirmed = st.session_state.get(_k("conf", key), False)
        if confirmed:
            title += " - " + _("confirmed")
        if ask.height == 0:
            st.caption(_("{title}: every value is already in the mapping.").format(title=md_text(title)))
            continue
        with st.expander(title, expanded=not confirmed):
            opts = [CHOOSE] + list(ct.codes) + [MISSING]
            codes: dict[str, str] = {}
            g = st.columns(3)
            for i, r in enumerate(ask.iter_rows(named=True)):
                default = r["code"] if r["code"] is not None else r["suggested"]
                default = MISSING if default == MISSING_CODE else default
                lab = f"'{r['value']}'" + (f" = {r['label']}" if r["label"] else "") + f"  ({r['count']}x)"
                v = g[i % 3].selectbox(lab, opts, index=opts.index(default) if default in opts else 0,
                                       key=_k("val", key, r["value"]), format_func=lambda x, c=ct: _code_label(c, x),
                                       help=_("suggested") if r["code"] is None and r["suggested"] else None)
                if v != CHOOSE:
                    codes[r["value"]] = MISSING_CODE if v == MISSING else v
            chosen_all = len(codes) == ask.height
            st.checkbox(_("These codes are right") if chosen_all
                        else _("These codes are right (choose a code for every value first)"),
                        key=_k("conf", key), disabled=not chosen_all)
            if codes:
                m = set_values(m, ct, codes)
        if not (st.session_state.get(_k("conf", key), False) and len(codes) == ask.height):
            all_ok = False
    state["mapping"] = m
    if state["loaded"]:
        st.caption(_("Values the loaded mapping has not seen: {n}. Only those are asked.").format(n=fmt_int(unseen_total)))
    return all_ok


def _step_preview(ctx: PageContext, state: dict, codes_ok: bool) -> None:
    st.markdown(_("**7. Preview, save and load**"))
    m: Mapping = state["mapping"]
    name = st.text_input(_("Mapping name"), m.name, key=_k("name"))
    m = replace(m, name=name.strip() or m.name)
    state["mapping"] = m
    cols_ok = state["loaded"] or st.session_state.get(_k("cols_ok"), False)
    if not (codes_ok and cols_ok):
        st.info(_("Confirm the column choices (step 3) and the codes of every coded column (step 6) to preview."),
                icon=":material/pending:")
        return
    try:
        checked = parse_mapping(m.dumps(), "wizard")
    except MappingError as exc:
        st.error(md_text(_("The mapping is not complete: {reason}").format(reason=exc), limit=None))
        return
    result = apply_mapping(checked, state["sources"])
    pv = preview_result(result)
    assumed = result.assumed_frame()
    c = st.columns(3)
    c[0].metric(_("Patients"), fmt_int(result.tables["subject"].height))
    c[1].metric(_("Errors"), fmt_int(pv.report.errors.height))
    c[2].metric(_("Mapping sha256"), checked.sha256[:12])
    tabs = st.tabs([_("Problems by column and rule"), _("Against the current store"),
                    _("ASSUMED values ({n})").format(n=fmt_int(assumed.height)), _("Canonical tables")])
    with tabs[2]:
        if assumed.height:
            st.caption(_("Values the source does not hold, filled in by the mapping: shown on the Data page and in "
                         "every export's provenance once loaded."))
            st.dataframe(labelled(assumed, ASSUMED_HEADERS), hide_index=True, width="stretch")
        else:
            st.caption(_("None: every value comes from the source."))
    with tabs[3]:
        names = [t for t, df in result.canonical().items() if df.height]
        if names:
            t = st.selectbox(_("Table"), names, key=_k("pv_table"),
                             format_func=lambda x: _("{table} ({n} rows)").format(table=x, n=fmt_int(result.tables[x].height)))
            st.dataframe(result.canonical()[t], hide_index=True, width="stretch")  # canonical codes as headers
    with tabs[0]:
        if pv.report.frame.height:
            st.dataframe(labelled(pv.by_column_and_rule(), PROBLEM_HEADERS), hide_index=True, width="stretch")
            with st.expander(_("Every problem (file, row, column, value, rule)")):
                st.dataframe(labelled(pv.report.frame, PROBLEM_HEADERS), hide_index=True, width="stretch")
        else:
            st.success(_("No problem found."))
    with tabs[1]:
        if pv.ok:
            d = diff_against_store(pv.tables, ctx.store.path)
            st.markdown(md_text(d.summary(), None) + ".")
            st.dataframe(labelled(d.rows, DIFF_HEADERS), hide_index=True, width="stretch")
            if d.removed:
                st.warning(_("{n} patient(s) of the current store are not in this file and would be removed: {ids}")
                           .format(n=fmt_int(len(d.removed)), ids=md_text(", ".join(d.removed[:20]))))
        else:
            st.caption(_("Shown once the file maps without errors."))
    from .export import file_download

    g = st.columns(3)
    with g[0]:
        file_download(lambda: checked.dumps().encode("utf-8"), f"{_safe_stem(checked.name)}.toml", ctx,
                      kind="mapping", label=_("Download the mapping"), mime="application/toml", key=_k("dl"),
                      mapping_sha256=checked.sha256)
    if g[1].button(_("Save beside the store"), key=_k("save"), icon=":material/save:"):
        p = save_mapping(ctx, checked)
        st.success(_("Saved as {file} in {folder}.").format(file=f"`{p.name}`", folder=f"`{p.parent.name}/`"))
    if not pv.ok:
        st.error(_("The file does not map without errors; nothing can be loaded until they are fixed."),
                 icon=":material/error:")
        return
    confirm = st.checkbox(_("Replace the current dataset with this mapped file (the current one is kept as a backup)"),
                          key=_k("confirm"))
    if st.button(_("Load"), type="primary", disabled=not confirm, key=_k("load"), icon=":material/upload:"):
        try:
            meta = import_result(result, ctx.store.path, actor=ctx.actor)
        except ImportRejected as exc:
            st.error(_("Rejected on load: {n} problem(s).").format(n=fmt_int(len(exc.report.problems))))
            return
        save_mapping(ctx, checked)
        st.session_state.pop(STATE, None)
        st.session_state[DONE] = _(
            "Loaded {file} with mapping {mapping} (sha256 {sha}); the mapping is saved beside the store. Content "
            "hash {hash}; rows per table: {counts}.").format(
            file=md_text(state["file"]), mapping=md_text(repr(checked.name)), sha=f"`{checked.sha256[:12]}`",
            hash=f"`{meta.get('content_hash', '')[:12]}`", counts=md_text(meta.get("table_counts"), None))
        st.rerun()  # every section of the page now shows the new store


def mapping_wizard(ctx: PageContext) -> None:
    """The wizard (data managers)."""
    st.subheader(_("Import a site's own spreadsheet (mapping wizard)"))
    st.caption(_("For a workbook, CSV, SPSS, Stata or SAS file with the site's own columns and codes. Nothing is "
                 "loaded until the preview is clean and you confirm; the mapping can be saved and reused, and a later "
                 "import with it asks only about values it has not seen. Format: {doc}.").format(doc="`docs/mapping.md`"))
    if st.session_state.get(DONE):
        st.success(st.session_state[DONE], icon=":material/check_circle:")
        if st.button(_("Map another file"), key="mwu_again"):
            st.session_state.pop(DONE, None)
            st.rerun()
        return
    state = _step_upload(ctx)
    if state is None:
        return
    _step_read(state)
    _step_columns(state)
    _step_constants(state)
    _step_rows(state)
    ok = _step_values(state)
    _step_preview(ctx, state, ok)


def mapping_provenance(ctx: PageContext) -> None:
    """For a store loaded through a mapping: its name and hash, and every ASSUMED value with the cells it filled."""
    from ..ingest.preview import assumed_from_meta

    meta = ctx.store.meta()
    if not meta.get("mapping_name"):
        return
    st.markdown(_("Loaded from the site's own file with mapping **{name}** (sha256 {sha}).").format(
        name=md_text(meta["mapping_name"]), sha=f"`{meta.get('mapping_sha256', '')[:12]}`"))
    try:
        sources = json.loads(meta.get("mapping_sources") or "{}")
    except ValueError:
        sources = {}
    if sources:
        st.caption(_("Source file(s), SHA-256: {files}").format(
            files="; ".join(f"{md_text(k)}: `{v[:16]}...`" for k, v in sources.items())))
    assumed = assumed_from_meta(meta)
    if assumed:
        st.markdown(_("ASSUMED values (the source did not hold them; the mapping filled them in):"))
        st.dataframe(labelled(pl.DataFrame(assumed), ASSUMED_HEADERS), hide_index=True, width="stretch")
