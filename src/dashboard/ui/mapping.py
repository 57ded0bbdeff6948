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
from .data_page import MAX_UPLOAD_MB, MB, UploadRefused, _check_name, _check_xlsx
from .page import PageContext
from .text import md_text

STATE = "_mapwiz"
DONE = "_mapwiz_done"
SOURCE_TYPES = ["csv", "tsv", "txt", "xlsx", "xls", "ods", "sav", "zsav", "dta", "sas7bdat", "xpt"]
NONE = "(not in the source)"
CHOOSE = "(choose)"
MISSING = "(missing)"
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
        for n, _ in main.sheets:
            if n != main.sheet and n not in sources:
                try:
                    others[n] = read_source(p, sheet=n)
                except SourceError:
                    continue
        return {"sources": sources, "others": others}


# --------------------------------------------------------------------------- steps
def _step_upload(ctx: PageContext) -> dict | None:
    st.markdown("**1. The site's file**")
    c = st.columns([3, 2])
    up = c[0].file_uploader("Spreadsheet, CSV, SPSS, Stata or SAS file", type=SOURCE_TYPES, key="mwu_upload_src")
    mup = c[1].file_uploader("Its mapping file, if it has one (.toml)", type=["toml"], key="mwu_upload_map")
    saved = sorted(mappings_dir(ctx).glob("*.toml")) if mappings_dir(ctx).exists() else []
    pick = c[1].selectbox("...or a mapping saved beside the store", ["(none)"] + [p.name for p in saved],
                          key="mwu_saved_pick") if saved else "(none)"
    if up is None:
        st.session_state.pop(STATE, None)
        return None
    try:
        _check_name(up.name)
        if up.size > MAX_UPLOAD_MB * MB:
            raise UploadRefused(f"refused: {up.name} is larger than {MAX_UPLOAD_MB} MB")
        data = up.getvalue()
        if up.name.lower().endswith((".xlsx", ".ods")):
            _check_xlsx(data, up.name)
    except UploadRefused as exc:
        st.error(str(exc), icon=":material/block:")
        return None
    mtext, mname = None, None
    if mup is not None:
        mtext, mname = mup.getvalue().decode("utf-8", errors="replace"), mup.name
    elif pick != "(none)":
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
                st.error(md_text(f"The mapping file cannot be used: {exc}", limit=None), icon=":material/error:")
                return None
        try:
            read = _read(data, up.name, loaded, loaded.source.sheet if loaded else None,
                         loaded.source.header_row if loaded else 1)
        except SourceError as exc:
            st.error(md_text(f"The file cannot be read: {exc}", limit=None), icon=":material/error:")
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
    msg = f"{main.file}: {main.height} rows, {len(main.columns)} columns"
    if state["loaded"]:
        msg += f"; mapping '{state['mapping'].name}' loaded (sha256 {state['loaded_sha'][:12]})"
    st.caption(msg)
    with st.expander("Profile of the source (type, empty share, values, date patterns)"):
        st.dataframe(state["profile"].frame(), hide_index=True, width="stretch")
        hidden = [n for n, v in main.sheets if v != "visible"]
        if hidden:
            st.caption("Hidden sheets: " + ", ".join(hidden))
    return state


def _step_read(state: dict) -> None:
    st.markdown("**2. How to read it**")
    m: Mapping = state["mapping"]
    main = state["sources"][None]
    c = st.columns(4)
    src = m.source
    if main.sheets:
        names = [n for n, _ in main.sheets]
        label = {n: n + ("" if v == "visible" else f" ({v})") for n, v in main.sheets}
        sheet = c[0].selectbox("Sheet with one row per patient", names, index=names.index(main.sheet),
                               format_func=label.get, key=_k("sheet"))
        if sheet != main.sheet:
            state.update(_read(state["data"], state["file"], m, sheet, src.header_row))
            state["profile"] = profile_table(state["sources"][None])
            state["mapping"] = replace(m, source=replace(src, sheet=sheet))
            st.rerun()
    orders = ["(not needed / ask me)"] + list(DATE_ORDERS)
    order = c[1].selectbox("Dates like 03/04/2024 are", orders, index=orders.index(src.date_order) if src.date_order else 0,
                           key=_k("order"), help="DMY = day first. Suggested from the dates the profile found (a day "
                                                "above 12 decides); never guessed per cell.")
    decimal = c[2].selectbox("Decimal mark", [".", ","], index=[".", ","].index(src.decimal), key=_k("decimal"))
    missing = c[3].text_input("Cells meaning missing (comma-separated)", ", ".join(x for x in src.missing if x),
                              key=_k("missing"))
    marks = tuple(dict.fromkeys([""] + [x.strip() for x in missing.split(",") if x.strip()]))
    says = any(_says_synthetic(o) for o in state["others"].values())
    synthetic = st.checkbox("This file is synthetic test data: label the store SYNTHETIC", value=src.synthetic or says,
                            key=_k("synthetic"), help="Ticked when a sheet of the file says SYNTHETIC (the worked examples).")
    state["mapping"] = replace(m, source=replace(src, date_order=None if order.startswith("(") else order,
                                                 decimal=decimal, missing=marks or DEFAULT_MISSING, synthetic=synthetic))


def _says_synthetic(t) -> bool:
    """A sheet of the file declares it synthetic (its header or first rows say so)."""
    text = " ".join(t.columns) + " " + " ".join(str(v) for r in t.frame.head(5).drop("__row").rows() for v in r if v)
    return "SYNTHETIC" in text.upper() or "模拟数据" in text


def _spec_line(s: ColumnSpec) -> str:
    bits = []
    if s.split:
        bits.append(f"split {s.split!r} part {s.part}")
    if s.regex:
        bits.append(f"regex {s.regex}")
    if s.scale is not None:
        bits.append(f"x {s.scale:g}")
    if s.template:
        bits.append(f"template {s.template}")
    return "; ".join(bits)


def _step_columns(state: dict) -> None:
    st.markdown("**3. Columns: which source column fills each registry column**")
    st.caption("Suggested from the column names (English and Chinese synonyms). Check each one; choose "
               f"'{NONE}' where the source has no such column.")
    m: Mapping = state["mapping"]
    main = state["sources"][None]
    options = [NONE] + main.columns
    for t in PER_ROW_TABLES:
        table = TABLES_BY_NAME[t]
        spec = next((r.spec for r in m.rules if r.per_row and r.table == t), {})
        cols = [c for c in table.columns if not (t == "follow_up" and c.name == "subject_id")]
        st.markdown(f"*{t}*")
        grid = st.columns(4)
        for i, c in enumerate(cols):
            cur = spec.get(c.name)
            default = cur.source if cur is not None and cur.source in main.columns else NONE
            label = f"{c.name}{' *' if c.required else ''}"
            choice = grid[i % 4].selectbox(label, options, index=options.index(default), key=_k("col", t, c.name),
                                           help=c.description + (f" ({c.unit})" if c.unit else ""))
            if choice == NONE:
                if cur is not None and cur.source is not None:
                    m = set_column(m, t, c.name, None)
            elif cur is None or cur.source != choice:
                m = set_column(m, t, c.name, suggest_transform(t, c.name, choice,
                                                               main.frame[choice].drop_nulls().head(50).to_list())
                               or ColumnSpec(source=choice))
    used = m.used_columns(None)
    spare = [c for c in main.columns if c not in used]
    ignore = st.multiselect("Source columns to leave out on purpose (identifiers, names, free text)", spare,
                            default=[c for c in m.ignore if c in spare], key=_k("ignore"),
                            help="Columns neither mapped nor listed here are reported as unmapped.")
    m = replace(m, ignore=tuple(ignore))
    if not state["loaded"]:
        st.checkbox("These column choices are right", key=_k("cols_ok"),
                    help="Suggestions are only used once you confirm them.")
    with st.expander("Transforms (regex extract, split, scale, template) of a mapped column"):
        mapped = [(r.table, c, s) for r in m.rules if r.per_row for c, s in r.columns if s.source]
        rows = [{"column": f"{t}.{c}", "source": s.source, "transform": _spec_line(s)} for t, c, s in mapped]
        st.dataframe(pl.DataFrame(rows) if rows else pl.DataFrame({"column": []}), hide_index=True, width="stretch")
        names = [f"{t}.{c}" for t, c, _ in mapped]
        if names:
            pick = st.selectbox("Column", names, key=_k("tf_pick"))
            t, c, s = mapped[names.index(pick)]
            g = st.columns(5)
            regex = g[0].text_input("regex (first group kept)", s.regex or "", key=_k("tf_re", pick))
            split = g[1].text_input("split on", s.split or "", key=_k("tf_split", pick))
            part = g[2].number_input("part", value=s.part, step=1, key=_k("tf_part", pick))
            scale = g[3].text_input("scale (multiply by)", "" if s.scale is None else f"{s.scale:g}", key=_k("tf_scale", pick))
            template = g[4].text_input("template ({value})", s.template or "", key=_k("tf_tpl", pick))
            try:
                new = replace(s, regex=regex or None, split=split or None, part=int(part),
                              scale=float(scale) if scale.strip() else None, template=template or None)
            except ValueError:
                st.error("scale must be a number")
                new = s
            if new != s:
                m = set_column(m, t, c, new)
    state["mapping"] = m


def _step_constants(state: dict) -> None:
    st.markdown("**4. Constants: values the source does not hold**")
    st.caption("Each is shown as ASSUMED in the preview, on the Data page and in every export's provenance, with the "
               "number of cells it filled. Nothing is filled unless you enter it here.")
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
            grid[i % 4].caption(f"{t}.{c}: from column '{spec[c].source}'")
            continue
        if col.vocab:
            opts = ["(not set)"] + list(VOCABULARIES[col.vocab].codes)
            v = grid[i % 4].selectbox(f"{t}.{c}", opts, index=opts.index(cur) if cur in opts else 0, key=_k("const", t, c),
                                      format_func=lambda x, vv=col.vocab: x if x.startswith("(") else f"{x} - {VOCABULARIES[vv].label(x)}")
            v = None if v.startswith("(") else v
        else:
            v = grid[i % 4].text_input(f"{t}.{c}", cur or "", key=_k("const", t, c)) or None
        m = set_constant(m, t, c, v)
    state["mapping"] = m
    left = required_gaps(m)
    if left:
        st.warning("Required columns still without a source column or constant: " + ", ".join(left))


def _col_pick(label: str, cols: list[str], target: str | None, key: str, container) -> str | None:
    opts = [NONE] + cols
    sug = suggest_column(target, cols) if target else None
    v = container.selectbox(label, opts, index=opts.index(sug) if sug in opts else 0, key=key)
    return None if v == NONE else v


def _step_rows(state: dict) -> None:
    st.markdown("**5. Rows from columns (one patient row -> rows of other tables)**")
    m: Mapping = state["mapping"]
    main = state["sources"][None]
    cols = main.columns
    if state["loaded"]:  # a saved mapping's rules are kept as they are (their value maps included)
        own = [r for r in m.rules if not r.per_row]
        if own:
            st.caption(f"From the loaded mapping: {len(own)} rule(s) - " + ", ".join(f"{r.id} -> {r.table}" for r in own))
            if not st.toggle("Rebuild these rules here", value=False, key=_k("rows_more")):
                return
    own = [r for r in m.rules if not r.per_row and not r.id.startswith("wiz_")]
    with st.expander("Immunotherapy (ici_exposure)", expanded=not own):
        g = st.columns(3)
        start = _col_pick("First dose date", cols, "ici_exposure.start_date", _k("ici", "start"), g[0])
        regimen = _col_pick("Regimen / drug", cols, "ici_exposure.regimen_class", _k("ici", "reg"), g[1])
        cycles = _col_pick("Cycles", cols, "ici_exposure.cycles", _k("ici", "cyc"), g[2])
        m = set_rules(m, "wiz_ici", ici_rules(start, regimen, cycles) if start else [])
    with st.expander("Restaging response (assessment)", expanded=not own):
        g = st.columns(3)
        date = _col_pick("Restaging date", cols, "assessment.assessment_date", _k("rs", "date"), g[0])
        resp = _col_pick("Response", cols, "assessment.overall_response", _k("rs", "resp"), g[1])
        modality = g[2].selectbox("Modality (ASSUMED: the source does not say)", MODALITIES, key=_k("rs", "mod"))
        m = set_rules(m, "wiz_restaging", restaging_rules(date, resp, modality) if date else [])
    with st.expander("Strategy: Watch & Wait, surgery, regrowth (strategy_episode, procedure, onc_event)", expanded=not own):
        g = st.columns(5)
        ww = _col_pick("Watch & Wait yes/no", cols, "strategy_episode.strategy", _k("st", "ww"), g[0])
        surgery = _col_pick("Surgery date", cols, "procedure.procedure_date", _k("st", "surg"), g[1])
        op = _col_pick("Operation", cols, "procedure.procedure_type", _k("st", "op"), g[2])
        regrowth = _col_pick("Regrowth date", cols, "onc_event.event_date", _k("st", "rg"), g[3])
        restaging = _col_pick("Decision (restaging) date", cols, "assessment.assessment_date", _k("st", "dec"), g[4])
        yes: list[str] = []
        if ww:
            vals = sorted(set(main.frame[ww].drop_nulls().to_list()))
            sug = [v for v in vals if v.strip().lower() in {"y", "yes", "是", "w&w", "true", "1"}]
            yes = st.multiselect(f"Values of '{ww}' that mean Watch & Wait", vals, default=sug, key=_k("st", "yes", ww))
        ok = ww and yes and restaging
        for pref in ("wiz_ww", "wiz_upfront", "wiz_salvage", "wiz_primary_resection", "wiz_regrowth"):
            m = set_rules(m, pref, [])
        if ok:
            m = set_rules(m, "wiz_ww", strategy_rules(ww, yes, restaging, surgery, op, regrowth))
    extra = [n for n in state["others"]]
    with st.expander("Adverse events on another sheet (ae)", expanded=False):
        if not extra:
            st.caption("The source has no other sheet.")
        else:
            sheet = st.selectbox("Sheet", ["(none)"] + extra, key=_k("ae", "sheet"))
            if sheet != "(none)":
                sc = state["others"][sheet].columns
                g = st.columns(6)
                sid = _col_pick("Patient id", sc, "subject.subject_id", _k("ae", "id", sheet), g[0])
                term = _col_pick("Term", sc, None, _k("ae", "term", sheet), g[1])
                grade = _col_pick("Grade", sc, None, _k("ae", "grade", sheet), g[2])
                onset = _col_pick("Onset date", sc, None, _k("ae", "onset", sheet), g[3])
                irae = _col_pick("Immune-related (yes/no)", sc, None, _k("ae", "ir", sheet), g[4])
                ster = _col_pick("Steroids (yes/no)", sc, None, _k("ae", "st", sheet), g[5])
                attr = st.selectbox("Attributed to (ASSUMED)", VOCABULARIES["ae_attribution"].codes, key=_k("ae", "attr"))
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
        return code
    if ct.vocab == "bool":
        return {"true": "yes (true)", "false": "no (false)"}[code]
    return f"{code} - {VOCABULARIES[ct.vocab].label(code)}"


def _step_values(state: dict) -> bool:
    """Returns True when every coded column is confirmed."""
    st.markdown("**6. Codes: what each source value means**")
    m: Mapping = state["mapping"]
    grid = value_rows(m, state["sources"])
    if grid.height == 0:
        st.caption("No coded column is mapped yet.")
        return True
    targets = {ct.key: ct for ct in coded_targets(m)}
    all_ok = True
    unseen_total = 0
    for key in grid["key"].unique(maintain_order=True).to_list():
        ct = targets[key]
        rows = grid.filter(pl.col("key") == key)
        ask = rows.filter(~pl.col("known")) if state["loaded"] else rows
        unseen_total += ask.height if state["loaded"] else 0
        title = f"{ct.table}.{ct.column} <- '{ct.source}' ({rows.height} value(s)"
        title += f", {ask.height} new)" if state["loaded"] else ")"
        confirmed = st.session_state.get(_k("conf", key), False)
        if confirmed:
            title += " - confirmed"
        if ask.height == 0:
            st.caption(f"{title}: every value is already in the mapping.")
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
                                       help="suggested" if r["code"] is None and r["suggested"] else None)
                if v != CHOOSE:
                    codes[r["value"]] = MISSING_CODE if v == MISSING else v
            chosen_all = len(codes) == ask.height
            st.checkbox("These codes are right" + ("" if chosen_all else " (choose a code for every value first)"),
                        key=_k("conf", key), disabled=not chosen_all)
            if codes:
                m = set_values(m, ct, codes)
        if not (st.session_state.get(_k("conf", key), False) and len(codes) == ask.height):
            all_ok = False
    state["mapping"] = m
    if state["loaded"]:
        st.caption(f"Values the loaded mapping has not seen: {unseen_total}. Only those are asked.")
    return all_ok


def _step_preview(ctx: PageContext, state: dict, codes_ok: bool) -> None:
    st.markdown("**7. Preview, save and load**")
    m: Mapping = state["mapping"]
    name = st.text_input("Mapping name", m.name, key=_k("name"))
    m = replace(m, name=name.strip() or m.name)
    state["mapping"] = m
    cols_ok = state["loaded"] or st.session_state.get(_k("cols_ok"), False)
    if not (codes_ok and cols_ok):
        st.info("Confirm the column choices (step 3) and the codes of every coded column (step 6) to preview.",
                icon=":material/pending:")
        return
    try:
        checked = parse_mapping(m.dumps(), "wizard")
    except MappingError as exc:
        st.error(md_text(f"The mapping is not complete: {exc}", limit=None))
        return
    result = apply_mapping(checked, state["sources"])
    pv = preview_result(result)
    assumed = result.assumed_frame()
    c = st.columns(3)
    c[0].metric("Patients", f"{result.tables['subject'].height:,}")
    c[1].metric("Errors", f"{pv.report.errors.height:,}")
    c[2].metric("Mapping sha256", checked.sha256[:12])
    tabs = st.tabs(["Problems by column and rule", "Against the current store", f"ASSUMED values ({assumed.height})",
                    "Canonical tables"])
    with tabs[2]:
        if assumed.height:
            st.caption("Values the source does not hold, filled in by the mapping: shown on the Data page and in every "
                       "export's provenance once loaded.")
            st.dataframe(assumed, hide_index=True, width="stretch")
        else:
            st.caption("None: every value comes from the source.")
    with tabs[3]:
        names = [t for t, df in result.canonical().items() if df.height]
        if names:
            t = st.selectbox("Table", names, key=_k("pv_table"),
                             format_func=lambda x: f"{x} ({result.tables[x].height} rows)")
            st.dataframe(result.canonical()[t], hide_index=True, width="stretch")
    with tabs[0]:
        if pv.report.frame.height:
            st.dataframe(pv.by_column_and_rule(), hide_index=True, width="stretch")
            with st.expander("Every problem (file, row, column, value, rule)"):
                st.dataframe(pv.report.frame, hide_index=True, width="stretch")
        else:
            st.success("No problem found.")
    with tabs[1]:
        if pv.ok:
            d = diff_against_store(pv.tables, ctx.store.path)
            st.markdown(d.summary() + ".")
            st.dataframe(d.rows, hide_index=True, width="stretch")
            if d.removed:
                st.warning(f"{len(d.removed)} patient(s) of the current store are not in this file and would be "
                           "removed: " + md_text(", ".join(d.removed[:20])))
        else:
            st.caption("Shown once the file maps without errors.")
    from .export import file_download

    g = st.columns(3)
    with g[0]:
        file_download(lambda: checked.dumps().encode("utf-8"), f"{_safe_stem(checked.name)}.toml", ctx,
                      kind="mapping", label="Download the mapping", mime="application/toml", key=_k("dl"),
                      mapping_sha256=checked.sha256)
    if g[1].button("Save beside the store", key=_k("save"), icon=":material/save:"):
        p = save_mapping(ctx, checked)
        st.success(f"Saved as {p.name} in {p.parent.name}/.")
    if not pv.ok:
        st.error("The file does not map without errors; nothing can be loaded until they are fixed.", icon=":material/error:")
        return
    confirm = st.checkbox("Replace the current dataset with this mapped file (the current one is kept as a backup)",
                          key=_k("confirm"))
    if st.button("Load", type="primary", disabled=not confirm, key=_k("load"), icon=":material/upload:"):
        try:
            meta = import_result(result, ctx.store.path, actor=ctx.actor)
        except ImportRejected as exc:
            st.error(f"Rejected on load: {len(exc.report.problems)} problem(s).")
            return
        save_mapping(ctx, checked)
        st.session_state.pop(STATE, None)
        st.session_state[DONE] = (f"Loaded {state['file']} with mapping '{checked.name}' (sha256 {checked.sha256[:12]}); "
                                  f"the mapping is saved beside the store. Content hash "
                                  f"{meta.get('content_hash', '')[:12]}; rows per table: {meta.get('table_counts')}.")
        st.rerun()  # every section of the page now shows the new store


def mapping_wizard(ctx: PageContext) -> None:
    """The wizard (data managers)."""
    st.subheader("Import a site's own spreadsheet (mapping wizard)")
    st.caption("For a workbook, CSV, SPSS, Stata or SAS file with the site's own columns and codes. Nothing is "
               "loaded until the preview is clean and you confirm; the mapping can be saved and reused, and a later "
               "import with it asks only about values it has not seen. Format: docs/mapping.md.")
    if st.session_state.get(DONE):
        st.success(st.session_state[DONE], icon=":material/check_circle:")
        if st.button("Map another file", key="mwu_again"):
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
    st.markdown(f"Loaded from the site's own file with mapping **{md_text(meta['mapping_name'])}** "
                f"(sha256 `{meta.get('mapping_sha256', '')[:12]}`).")
    try:
        sources = json.loads(meta.get("mapping_sources") or "{}")
    except ValueError:
        sources = {}
    if sources:
        st.caption("Source file(s), SHA-256: " + "; ".join(f"{k}: {v[:16]}..." for k, v in sources.items()))
    assumed = assumed_from_meta(meta)
    if assumed:
        st.markdown("ASSUMED values (the source did not hold them; the mapping filled them in):")
        st.dataframe(pl.DataFrame(assumed), hide_index=True, width="stretch")
