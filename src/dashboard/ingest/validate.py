"""Validate a :class:`RawRegistry` against schema.py and return typed tables.

Every problem is listed (not only the first). Checks, by rule name:

file level     ``path_missing``, ``file_empty``, ``file_binary``, ``encoding``, ``csv_parse``,
               ``file_unreadable``, ``missing_table`` (subject and follow_up are required;
               other tables may be absent = no rows), ``no_subjects`` (a subject table with
               no rows), ``unknown_file`` / ``unknown_sheet`` (warnings: ignored).
header         ``missing_column`` (a required column; a missing optional column is read as
               empty), ``unknown_column``, ``duplicate_column``.
cell           ``control_character`` (NUL and other C0/DEL characters), ``formula_injection``
               (text starting with = + - @ tab or CR that is not a number), ``required``,
               ``type_int``, ``type_float``, ``type_bool``, ``date_format`` (not YYYY-MM-DD),
               ``date_invalid`` (no such calendar day), ``date_range`` (before 1990 or after
               today), ``vocabulary``, ``range`` (schema min/max), ``max_length``.
table          ``duplicate_key`` (every row sharing a primary key is named), ``fk_orphan``
               (single and composite foreign keys), ``missing_follow_up``.
cross-table    ``procedure_before_ici``, ``ici_end_before_start``, ``after_death``,
               ``after_last_contact``, ``death_before_last_contact``, ``death_date_not_dead``,
               ``dead_without_date``, ``stoma_closure_not_temporary``,
               ``stoma_closure_before_procedure``, ``ae_resolution_before_onset``,
               ``nodes_positive_gt_examined``, ``trg_grade_without_system``,
               ``trg_grade_invalid``, ``qol_scale_unknown``, ``qol_score_range``,
               ``salvage_procedure_missing``.
pathway        ``last_contact_after_death``, ``t1_before_first_dose``, ``event_before_first_dose``,
               ``salvage_link_ambiguous``; warnings ``nodal_read_as_regrowth``,
               ``salvage_link_inferred`` (see :data:`PATHWAY_RULES`).

All checks are vectorised Polars expressions (no per-row Python), so a million-patient
export validates in seconds; problems are kept as one frame.
"""

from __future__ import annotations

import datetime as _dt

import polars as pl

from ..schema import MAX_TEXT, QOL_SCALES, TABLES, TRG_GRADES, VOCABULARIES, Column, ForeignKey, Table
from .model import ROW, RawRegistry, RawTable
from ..i18n import _, pgettext
from .report import ERROR, PROBLEM_SCHEMA, WARNING, ValidationReport, accounting, message_expr, problems_frame

REQUIRED_TABLES = ("subject", "follow_up")
MIN_DATE = _dt.date(1990, 1, 1)
VALUE_CHARS = 200  # a problem quotes at most this much of the offending cell

TRUE_WORDS = ("true", "1", "yes", "y", "t")
FALSE_WORDS = ("false", "0", "no", "n", "f")
# free text may hold tab and line breaks (a quoted multi-line cell); tab and CR are formula triggers at the start
_CTRL = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"
_CTRL_ANY = r"[\x00-\x1F\x7F]"

POLARS_TYPES = {"str": pl.String, "code": pl.String, "int": pl.Int32, "float": pl.Float64, "date": pl.Date, "bool": pl.Boolean}


def _rule(c: str) -> str:
    return f"__rule__{c}"


def _val(c: str) -> str:
    return f"__typed__{c}"


# --------------------------------------------------------------------------------------
# Problem frames
# --------------------------------------------------------------------------------------
def _emit(df: pl.DataFrame, file: str, column: str | None, rule: str, value: pl.Expr, message: pl.Expr) -> pl.DataFrame:
    """Rows of ``df`` (which must carry ROW) -> problem rows."""
    return df.select(
        pl.lit(file, pl.String).alias("file"),
        pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.lit(column, pl.String).alias("column"),
        value.cast(pl.String).str.slice(0, VALUE_CHARS).alias("value"),
        pl.lit(rule, pl.String).alias("rule"),
        message.cast(pl.String).alias("message"),
        pl.lit(ERROR, pl.String).alias("severity"),
    )


def _one(file: str, row: int | None, column: str | None, value: str | None, rule: str, message: str) -> pl.DataFrame:
    return pl.DataFrame([[file, row, column, value, rule, message, ERROR]], schema=PROBLEM_SCHEMA, orient="row")


# --------------------------------------------------------------------------------------
# Header and cells
# --------------------------------------------------------------------------------------
def _check_header(t: Table, rt: RawTable) -> list[pl.DataFrame]:
    out = []
    seen: set[str] = set()
    for h in rt.header:
        if h in seen:
            out.append(_one(rt.file, rt.header_row, h, h, "duplicate_column", _("column '{column}' appears more than once in the header").format(column=h)))
        seen.add(h)
    known = set(t.column_names)
    for h in dict.fromkeys(rt.header):
        if h not in known:
            shown = h if h else _("(blank)")
            out.append(
                _one(rt.file, rt.header_row, shown, h, "unknown_column",
                     _("column '{column}' is not a column of table '{table}' (columns: {columns})").format(
                         column=shown, table=t.name, columns=", ".join(t.column_names)))
            )
    for c in t.required_columns:
        if c not in seen:
            out.append(_one(rt.file, rt.header_row, c, None, "missing_column", _("required column '{column}' is missing from the header of '{table}'").format(column=c, table=t.name)))
    return out


def _n(c: str) -> str:
    return f"__norm__{c}"


def _rules(c: Column) -> list[tuple[pl.Expr, str, pl.Expr]]:
    """(condition, rule, message) for one column; the first true condition wins.

    Conditions read the materialised raw (``c``), normalised (``__norm__c``) and typed
    (``__typed__c``) columns; messages are evaluated only on rows that failed.
    """
    raw, s, v = pl.col(c.name), pl.col(_n(c.name)), pl.col(_val(c.name))
    out: list[tuple[pl.Expr, str, pl.Expr]] = []
    if c.type == "str":
        out.append(
            (
                s.str.contains(r"^[=+\-@\t\r]") & s.cast(pl.Float64, strict=False).is_null(),
                "formula_injection",
                pl.lit(_("text starts with =, +, -, @, tab or CR and is not a number: a spreadsheet would run it "
                         "as a formula; remove the leading character")),
            )
        )
    ctrl = _CTRL if c.type == "str" else _CTRL_ANY
    out.append(
        (
            raw.str.contains(ctrl),
            "control_character",
            message_expr(_("control character (NUL or other non-printing character) at character {position}; remove it"),
                         position=raw.str.find(ctrl) + 1),
        )
    )
    if c.required:
        out.append((s.is_null(), "required", pl.lit(_("required value '{column}' is empty").format(column=c.name))))
    bad_type = s.is_not_null() & v.is_null()
    if c.type == "int":
        out.append((bad_type, "type_int", pl.lit(_("not an integer"))))
    elif c.type == "float":
        out.append((bad_type | ~v.is_finite(), "type_float", pl.lit(_("not a number (use a dot as decimal separator)"))))
    elif c.type == "date":
        out.append((bad_type & ~s.str.contains(r"^\d{4}-\d{2}-\d{2}$"), "date_format", pl.lit(_("date must be written YYYY-MM-DD (e.g. 2023-04-03)"))))
        out.append((bad_type, "date_invalid", pl.lit(_("not a real calendar date"))))
        today = _dt.date.today()
        out.append(
            ((v < MIN_DATE) | (v > today), "date_range",
             pl.lit(_("date is before {first} or after today ({today})").format(first=MIN_DATE.isoformat(), today=today.isoformat())))
        )
    elif c.type == "bool":
        out.append((bad_type, "type_bool", pl.lit(_("not a boolean: use true/false (1/0 and yes/no are accepted)"))))
    elif c.type == "code":
        voc = VOCABULARIES[c.vocab]  # type: ignore[index]
        out.append((bad_type, "vocabulary", pl.lit(_("unknown code for vocabulary '{vocabulary}'; allowed: {codes}").format(vocabulary=voc.name, codes=", ".join(voc.codes)))))
    else:
        limit = c.max_length or MAX_TEXT
        out.append(
            (s.str.len_chars() > limit, "max_length",
             message_expr(_("text of {n} characters is longer than the {limit} allowed"), n=s.str.len_chars(), limit=str(limit)))
        )
    if c.type in ("int", "float") and (c.min is not None or c.max is not None):
        lo = c.min if c.min is not None else float("-inf")
        hi = c.max if c.max is not None else float("inf")
        fmt = lambda x: str(int(x)) if float(x).is_integer() else str(x)  # noqa: E731
        out.append(
            ((v < lo) | (v > hi), "range",
             pl.lit(_("{column} outside the allowed range {low} to {high}").format(
                 column=c.name, low=fmt(lo), high=fmt(hi)) + (" " + c.unit if c.unit else "")))
        )
    return out


def _norm_expr(c: Column) -> pl.Expr:
    raw = pl.col(c.name)
    s = raw.str.strip_chars(" ") if c.type == "str" else raw.str.strip_chars()
    return pl.when(s.str.len_bytes() > 0).then(s)


def _typed_expr(c: Column) -> pl.Expr:
    s = pl.col(_n(c.name))
    if c.type == "int":
        return s.cast(pl.Int64, strict=False)
    if c.type == "float":
        return s.cast(pl.Float64, strict=False)
    if c.type == "date":
        return pl.when(s.str.len_bytes() == 10).then(s.str.to_date("%Y-%m-%d", strict=False))
    if c.type == "bool":
        low = s.str.to_lowercase()
        return pl.when(low.is_in(TRUE_WORDS)).then(True).when(low.is_in(FALSE_WORDS)).then(False)
    if c.type == "code":
        return pl.when(s.is_in(VOCABULARIES[c.vocab].codes)).then(s)  # type: ignore[index]
    return s


CHECK_ROWS = 1 << 18  # rows typed and checked at once (a slice of 262,144 rows: ~100 MB of temporaries)


def _check_cells(t: Table, rt: RawTable) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Type every cell and find every bad one (normalise -> type -> rule, one lazy query
    that keeps only the typed values and the rule names); messages are built afterwards,
    for the failing rows only, so memory stays near the size of the typed table."""
    present = [c for c in t.columns if c.name in rt.frame.columns]
    skips = {c.name: f"__skip__{c.name}" for c in present if f"__skip__{c.name}" in rt.frame.columns}

    def staged(frame: pl.DataFrame) -> pl.LazyFrame:
        lf = frame.lazy().select(ROW, *[c.name for c in present], *skips.values())
        lf = lf.with_columns(_norm_expr(c).alias(_n(c.name)) for c in present)
        lf = lf.with_columns(_typed_expr(c).alias(_val(c.name)) for c in present)
        rule_exprs = []
        for c in present:
            rules = _rules(c)
            r = pl.when(rules[0][0].fill_null(False)).then(pl.lit(rules[0][1]))
            for cond, name, _msg in rules[1:]:
                r = r.when(cond.fill_null(False)).then(pl.lit(name))
            r = r.otherwise(pl.lit(None, pl.String))
            if c.name in skips:  # already reported by a reader or the normaliser
                r = pl.when(pl.col(skips[c.name])).then(pl.lit(None, pl.String)).otherwise(r)
            rule_exprs.append(r.alias(_rule(c.name)))
        return lf.with_columns(rule_exprs)

    rule_cols = [_rule(c.name) for c in present]

    def check(chunk: pl.DataFrame) -> pl.DataFrame:
        return staged(chunk).select(
            ROW,
            *[pl.when(pl.col(_rule(c.name)).is_null()).then(pl.col(_val(c.name))).cast(POLARS_TYPES[c.type]).alias(c.name)
              for c in present],
            (pl.any_horizontal(pl.col(rule_cols).is_not_null()) if rule_cols else pl.lit(False)).alias("__bad"),
        ).collect()

    # in slices of CHECK_ROWS rows: the normalised copy of the text and the rule names exist
    # for one slice at a time, not for the whole table (24M assessment rows at 1M patients)
    slices = list(rt.frame.iter_slices(CHECK_ROWS)) if rt.frame.height > CHECK_ROWS else [rt.frame]
    checked = pl.concat([check(chunk) for chunk in slices], rechunk=False) if len(slices) > 1 else check(slices[0])
    del slices
    problems = []
    if rule_cols:
        bad_rows = checked.filter(pl.col("__bad")).select(ROW)
        if bad_rows.height:
            bad = staged(rt.frame.join(bad_rows, on=ROW, how="semi")).collect()
            for i, c in enumerate(present):
                sub = bad.filter(pl.col(_rule(c.name)).is_not_null())
                if sub.height == 0:
                    continue
                rules = _rules(c)
                msg = pl.when(pl.col(_rule(c.name)) == rules[0][1]).then(rules[0][2])
                for _cond, name, m in rules[1:]:
                    msg = msg.when(pl.col(_rule(c.name)) == name).then(m)
                p = _emit(sub, rt.file, c.name, "", pl.col(c.name), msg)
                problems.append(p.with_columns(sub[_rule(c.name)].alias("rule"), pl.lit(i).alias("__ci")))
    if problems:
        problems = [pl.concat(problems).sort("row", "__ci").drop("__ci")]
    typed = checked.select(
        ROW,
        *[pl.col(c.name) if c in present else pl.lit(None, POLARS_TYPES[c.type]).alias(c.name) for c in t.columns],
    )
    return typed, problems


def empty_typed(t: Table) -> pl.DataFrame:
    return pl.DataFrame(schema={ROW: pl.Int64, **{c.name: POLARS_TYPES[c.type] for c in t.columns}})


# --------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------
def _key_text(cols: tuple[str, ...]) -> pl.Expr:
    return pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in cols], separator=", ")


def _check_primary_key(t: Table, df: pl.DataFrame, file: str) -> list[pl.DataFrame]:
    pk = list(t.primary_key)
    # candidates first, from a 64-bit hash of the key (8 bytes a row, not a copy of the key's
    # text: 24M assessment rows at 1M patients), then the exact check on the candidates only
    nonnull = pl.all_horizontal(pl.col(pk).is_not_null())
    h = df.select(pl.when(nonnull).then(pl.struct(pk).hash(seed=20260715)).alias("h"))["h"]
    hs = h.drop_nulls().sort()
    twice = hs.filter(hs == hs.shift(1)).unique()  # a sort, not a hash table of every key
    del hs
    if twice.len() == 0:
        return []
    keyed = df.select(ROW, *pk).filter(h.is_in(twice.implode()))
    dupe = pl.col(pk[0]).is_duplicated() if len(pk) == 1 else pl.struct(pk).is_duplicated()
    dup = (
        keyed.filter(dupe)
        .group_by(pk)
        .agg(pl.col(ROW).sort().alias("__rows"))
        .filter(pl.col("__rows").list.len() > 1)
    )
    if dup.height == 0:
        return []
    dup = dup.with_columns(pl.col("__rows").cast(pl.List(pl.String)).list.join(", ").alias("__all")).explode("__rows").rename({"__rows": ROW})
    names = ", ".join(pk)
    key = _key_text(t.primary_key)
    return [
        _emit(
            dup.sort(ROW), file, names, "duplicate_key", key,
            message_expr(_("duplicate primary key ({columns}) = ({key}): rows {rows} share it"), columns=names, key=key,
                         rows=pl.col("__all")),
        )
    ]


def _foreign_keys(t: Table) -> list[ForeignKey]:
    fks = list(t.foreign_keys)
    for c in t.columns:
        if c.references and not any(fk.columns == (c.name,) for fk in fks):
            fks.append(ForeignKey((c.name,), c.references[0], (c.references[1],)))
    return fks


def _check_foreign_keys(t: Table, typed: dict[str, pl.DataFrame], file: str, untrusted: set[str]) -> list[pl.DataFrame]:
    """Orphan rows. A parent already reported as unreadable, missing (required) or keyless
    is skipped: every child row would be an orphan, and that is one problem, not thousands."""
    out = []
    df = typed[t.name]
    for fk in _foreign_keys(t):
        if fk.table in untrusted:
            continue
        cols = list(fk.columns)
        parent = typed[fk.table].select([pl.col(rc).alias(c) for c, rc in zip(fk.columns, fk.ref_columns)]).drop_nulls().unique()
        child = df.filter(pl.all_horizontal(pl.col(cols).is_not_null()))
        orphan = child.join(parent, on=cols, how="anti").sort(ROW)
        if orphan.height:
            names = ", ".join(fk.ref_columns)
            key = _key_text(fk.columns)
            out.append(
                _emit(orphan, file, ", ".join(cols), "fk_orphan", key,
                      message_expr(_("orphan row: no {table} row with ({columns}) = ({key})"), table=fk.table, columns=names, key=key))
            )
    return out


# --------------------------------------------------------------------------------------
# Cross-table logic
# --------------------------------------------------------------------------------------
def _date_columns(t: Table) -> list[str]:
    return [c.name for c in t.columns if c.type == "date"]


def _check_cross(typed: dict[str, pl.DataFrame], files: dict[str, str], untrusted: set[str]) -> list[pl.DataFrame]:
    out: list[pl.DataFrame] = []

    def add(table: str, frame: pl.DataFrame, column: str, rule: str, value: pl.Expr, message: pl.Expr) -> None:
        if frame.height:
            out.append(_emit(frame.sort(ROW), files[table], column, rule, value, message))

    d = lambda c: pl.col(c).cast(pl.String)  # noqa: E731
    ici = typed["ici_exposure"]
    proc = typed["procedure"]
    fu = typed["follow_up"].unique("subject_id", keep="first", maintain_order=True)

    # immunotherapy before any procedure; end after start
    first = ici.group_by("subject_id").agg(pl.col("start_date").min().alias("__first_ici"))
    bad = proc.join(first, on="subject_id").filter(pl.col("procedure_date") < pl.col("__first_ici"))
    add("procedure", bad, "procedure_date", "procedure_before_ici", d("procedure_date"),
        message_expr(_("procedure on {date} is before the first ICI dose on {first_dose} (surgery before first ICI dose)"),
                     date=d("procedure_date"), first_dose=d("__first_ici")))
    bad = ici.filter(pl.col("end_date") < pl.col("start_date"))
    add("ici_exposure", bad, "end_date", "ici_end_before_start", d("end_date"),
        message_expr(_("ICI end {end} is before its start {start}"), end=d("end_date"), start=d("start_date")))

    # follow_up consistency
    f = typed["follow_up"]
    add("follow_up", f.filter(pl.col("death_date").is_not_null() & (pl.col("vital_status") != "DEAD")), "death_date",
        "death_date_not_dead", d("death_date"), message_expr(_("death_date {date} given but vital_status is {status}"), date=d("death_date"), status=d("vital_status")))
    add("follow_up", f.filter(pl.col("death_date").is_null() & (pl.col("vital_status") == "DEAD")), "death_date",
        "dead_without_date", pl.lit(None), pl.lit(_("vital_status is DEAD but death_date is empty")))
    add("follow_up", f.filter(pl.col("death_date") > pl.col("last_contact_date")), "last_contact_date",
        "death_before_last_contact", d("last_contact_date"),
        message_expr(_("last_contact_date {last_contact} is before death_date {death} (last contact must not precede any dated record)"),
                     last_contact=d("last_contact_date"), death=d("death_date")))

    # every dated record before death and before last contact
    dates = fu.select("subject_id", pl.col("last_contact_date").alias("__lc"), pl.col("death_date").alias("__dd"))
    for t in TABLES:
        if t.name == "follow_up":
            continue
        cols = _date_columns(t)
        if not cols:
            continue
        # streamed: the join of a 24M-row table with the patients' dates never exists whole, only its late rows
        late = (typed[t.name].lazy().select(ROW, "subject_id", *cols).join(dates.lazy(), on="subject_id")
                .filter(pl.any_horizontal([(pl.col(c) > pl.col("__lc")) | (pl.col(c) > pl.col("__dd")) for c in cols]))
                .collect(engine="streaming"))
        for c in cols:
            j = late.filter(pl.col(c).is_not_null())
            add(t.name, j.filter(pl.col(c) > pl.col("__dd")), c, "after_death", d(c),
                message_expr(_("{table}.{column} {date} is after the death date {death}"), table=t.name, column=c, date=d(c),
                             death=d("__dd")))
            add(t.name, j.filter((pl.col("__dd").is_null() | (pl.col(c) <= pl.col("__dd"))) & (pl.col(c) > pl.col("__lc"))),
                c, "after_last_contact", d(c),
                message_expr(_("{table}.{column} {date} is after the last contact date {last_contact}"), table=t.name, column=c,
                             date=d(c), last_contact=d("__lc")))

    # every subject has follow-up (unless follow_up itself is missing: reported once)
    subj = typed["subject"] if "follow_up" not in untrusted else typed["subject"].head(0)
    miss = subj.filter(pl.col("subject_id").is_not_null()).join(f.select("subject_id").drop_nulls(), on="subject_id", how="anti")
    add("subject", miss, "subject_id", "missing_follow_up", d("subject_id"),
        message_expr(_("subject {subject} has no follow_up row (last contact and vital status are required)"), subject=d("subject_id")))

    # procedures
    add("procedure", proc.filter(pl.col("stoma_closure_date").is_not_null() & (pl.col("stoma").fill_null("") != "TEMPORARY")),
        "stoma_closure_date", "stoma_closure_not_temporary", d("stoma_closure_date"),
        message_expr(_("stoma_closure_date given but stoma is {stoma} (only a TEMPORARY stoma is closed)"),
                     stoma=d("stoma").fill_null(pgettext("import", "empty"))))
    add("procedure", proc.filter(pl.col("stoma_closure_date") < pl.col("procedure_date")), "stoma_closure_date",
        "stoma_closure_before_procedure", d("stoma_closure_date"),
        message_expr(_("stoma closed on {closure} before the procedure on {procedure}"), closure=d("stoma_closure_date"),
                     procedure=d("procedure_date")))

    ae = typed["ae"]
    add("ae", ae.filter(pl.col("resolution_date") < pl.col("onset_date")), "resolution_date", "ae_resolution_before_onset",
        d("resolution_date"), message_expr(_("AE resolved on {resolution} before its onset on {onset}"), resolution=d("resolution_date"),
                                  onset=d("onset_date")))

    path = typed["pathology"]
    add("pathology", path.filter(pl.col("nodes_positive") > pl.col("nodes_examined")), "nodes_positive",
        "nodes_positive_gt_examined", d("nodes_positive"),
        message_expr(_("nodes_positive {positive} is more than nodes_examined {examined}"), positive=d("nodes_positive"),
                     examined=d("nodes_examined")))
    add("pathology", path.filter(pl.col("trg_grade").is_not_null() & pl.col("trg_system").is_null()), "trg_grade",
        "trg_grade_without_system", d("trg_grade"), pl.lit(_("trg_grade given without trg_system")))
    grades = pl.DataFrame(
        [(s, g) for s, gs in TRG_GRADES.items() for g in gs], schema={"trg_system": pl.String, "trg_grade": pl.String}, orient="row"
    )
    allowed = pl.DataFrame(
        {"trg_system": list(TRG_GRADES), "__allowed": [", ".join(g) for g in TRG_GRADES.values()]}
    )
    bad = (
        path.filter(pl.col("trg_grade").is_not_null() & pl.col("trg_system").is_not_null())
        .join(grades, on=["trg_system", "trg_grade"], how="anti")
        .join(allowed, on="trg_system", how="left")
    )
    add("pathology", bad, "trg_grade", "trg_grade_invalid", d("trg_grade"),
        message_expr(_("trg_grade {grade} is not a grade of {system} (allowed: {allowed})"), grade=d("trg_grade"),
                     system=d("trg_system"), allowed=d("__allowed")))

    qol = typed["qol"]
    scales = pl.DataFrame(
        [(s.instrument, s.code, float(s.low), float(s.high)) for s in QOL_SCALES],
        schema={"instrument": pl.String, "scale": pl.String, "__low": pl.Float64, "__high": pl.Float64}, orient="row",
    )
    known = (
        scales.group_by("instrument", maintain_order=True)
        .agg(pl.col("scale").str.join(", ").alias("__scales"))
    )
    q = qol.lazy().select(ROW, "instrument", "scale", "score").filter(pl.col("instrument").is_not_null() & pl.col("scale").is_not_null())
    bad = q.join(scales.lazy(), on=["instrument", "scale"], how="anti").join(known.lazy(), on="instrument", how="left").collect(engine="streaming")
    add("qol", bad, "scale", "qol_scale_unknown", d("scale"),
        message_expr(_("scale {scale} is not a scale of {instrument} (scales: {scales})"), scale=d("scale"),
                     instrument=d("instrument"), scales=d("__scales")))
    j = (q.join(scales.lazy(), on=["instrument", "scale"]).filter((pl.col("score") < pl.col("__low")) | (pl.col("score") > pl.col("__high")))
         .collect(engine="streaming"))  # streamed: only the rows out of range are ever materialised
    add("qol", j, "score", "qol_score_range", d("score"),
        message_expr(_("{instrument} {scale} score {score} is outside {low} to {high}"), instrument=d("instrument"),
                     scale=d("scale"), score=d("score"), low=pl.col("__low").cast(pl.Int64),
                     high=pl.col("__high").cast(pl.Int64)))

    onc = typed["onc_event"]
    procs = proc.select("subject_id", pl.col("procedure_no").alias("salvage_procedure_no")).drop_nulls()
    bad = onc.filter(pl.col("salvage_procedure_no").is_not_null() & pl.col("subject_id").is_not_null()).join(
        procs, on=["subject_id", "salvage_procedure_no"], how="anti"
    )
    add("onc_event", bad, "salvage_procedure_no", "salvage_procedure_missing", d("salvage_procedure_no"),
        message_expr(_("salvage_procedure_no {procedure} is not a procedure of subject {subject}"),
                     procedure=d("salvage_procedure_no"), subject=d("subject_id")))
    return out


def _unaccounted(raw: RawRegistry, report: ValidationReport) -> pl.DataFrame:
    """The safety net: a source row neither in a table nor named by any problem is
    reported here (it should never happen; a test asserts it does not)."""
    acc = accounting(raw, report)
    out = []
    for file in acc.filter(pl.col("unaccounted") > 0)["file"].to_list():
        read = raw.rows_read[file].unique()
        got = [rt.frame[ROW] for rt in raw.tables.values() if rt.file == file]
        named = report.frame.filter(pl.col("file") == file)["row"].drop_nulls().unique()
        rest = read.filter(~read.is_in(pl.concat(got).implode()) & ~read.is_in(named.implode())) if got else read.filter(~read.is_in(named.implode()))
        out.append(pl.DataFrame({ROW: rest}).pipe(
            _emit, file, None, "row_not_loaded", pl.lit(None),
            pl.lit(_("this row was read but belongs to no table that is loaded (e.g. a REDCap row whose filled fields are "
                     "all ignored)"))).with_columns(pl.lit(WARNING).alias("severity")))
    return pl.concat(out) if out else problems_frame()


# --------------------------------------------------------------------------------------
# Pathway rules (issue 14): a self-contained block of rule functions, each taking the typed
# tables and returning problem frames; ``_check_pathway`` runs them all. The derived tables
# (sql/adsl.sql) read the same situations the same way: see docs/endpoints.md.
# --------------------------------------------------------------------------------------
def _as_warning(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.lit(WARNING, pl.String).alias("severity"))


def _date_text(column: str) -> pl.Expr:
    """A date column as ISO text, for a message or a problem's value."""
    return pl.col(column).cast(pl.String)


def _first_dose(typed: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return (typed["ici_exposure"].filter(pl.col("subject_id").is_not_null() & pl.col("start_date").is_not_null())
            .group_by("subject_id").agg(pl.col("start_date").min().alias("__first_dose")))


def _rule_last_contact_after_death(typed, files) -> list[pl.DataFrame]:
    """``last_contact_after_death``: a last contact dated after the death date."""
    f = typed["follow_up"].filter(pl.col("last_contact_date") > pl.col("death_date"))
    if f.height == 0:
        return []
    return [_emit(f.sort(ROW), files["follow_up"], "last_contact_date", "last_contact_after_death", _date_text("last_contact_date"),
                  message_expr(_("last_contact_date {last_contact} is after death_date {death}: a patient cannot be seen "
                                 "after death (last contact is the death date for patients who died)"),
                               last_contact=_date_text("last_contact_date"), death=_date_text("death_date")))]


def _rule_t1_before_first_dose(typed, files) -> list[pl.DataFrame]:
    """``t1_before_first_dose``: the strategy decision (T1, episode 1) before the first ICI dose."""
    ep = typed["strategy_episode"].filter(pl.col("episode_no") == 1).join(_first_dose(typed), on="subject_id")
    bad = ep.filter(pl.col("decision_date") < pl.col("__first_dose"))
    if bad.height == 0:
        return []
    return [_emit(bad.sort(ROW), files["strategy_episode"], "decision_date", "t1_before_first_dose", _date_text("decision_date"),
                  message_expr(_("strategy decision (T1, episode 1) on {decision} is before the first immunotherapy dose "
                                 "on {first_dose}: the strategy is decided at restaging after immunotherapy"),
                               decision=_date_text("decision_date"), first_dose=_date_text("__first_dose")))]


def _rule_event_before_first_dose(typed, files) -> list[pl.DataFrame]:
    """``event_before_first_dose``: a regrowth or other oncological event before the first ICI dose."""
    ev = typed["onc_event"].join(_first_dose(typed), on="subject_id")
    bad = ev.filter(pl.col("event_date") < pl.col("__first_dose"))
    if bad.height == 0:
        return []
    return [_emit(bad.sort(ROW), files["onc_event"], "event_date", "event_before_first_dose", _date_text("event_date"),
                  message_expr(_("{event} dated {date} is before the first immunotherapy dose on {first_dose}: regrowth, "
                                 "recurrence and metastasis are events after treatment start"),
                               event=_date_text("event_type"), date=_date_text("event_date"), first_dose=_date_text("__first_dose")))]


def _events_read(typed) -> pl.DataFrame:
    """Oncological events with ``__kind`` (a regional nodal reappearance under Watch & Wait
    before any resection is a LOCAL_REGROWTH) and ``__next`` (the patient's next event date)."""
    onc = typed["onc_event"].filter(pl.col("subject_id").is_not_null() & pl.col("event_date").is_not_null())
    initial = (typed["strategy_episode"].filter(pl.col("episode_no") == 1)
               .select("subject_id", pl.col("strategy").alias("__initial")).unique("subject_id"))
    first_res = (typed["procedure"].filter(pl.col("subject_id").is_not_null())
                 .group_by("subject_id").agg(pl.col("procedure_date").min().alias("__first_res")))
    nodal = (pl.col("event_type") == "NODAL") | ((pl.col("event_type") == "LOCAL_RECUR") & (pl.col("regrowth_site") == "NODES"))
    read = (onc.join(initial, on="subject_id", how="left").join(first_res, on="subject_id", how="left")
            .with_columns(
                pl.when(nodal & (pl.col("__initial") == "WW")
                        & (pl.col("__first_res").is_null() | (pl.col("event_date") < pl.col("__first_res"))))
                .then(pl.lit("LOCAL_REGROWTH")).otherwise(pl.col("event_type")).alias("__kind")))
    later = (read.select("subject_id", pl.col("event_no").alias("__e"), pl.col("event_date").alias("__d"))
             .join(onc.select("subject_id", pl.col("event_date").alias("__d2")), on="subject_id")
             .filter(pl.col("__d2") > pl.col("__d")).group_by("subject_id", "__e").agg(pl.col("__d2").min().alias("__next")))
    return read.join(later, left_on=["subject_id", "event_no"], right_on=["subject_id", "__e"], how="left")


def _rule_nodal_read_as_regrowth(typed, files) -> list[pl.DataFrame]:
    """``nodal_read_as_regrowth`` (warning): a nodal reappearance under W&W read as a local regrowth."""
    ev = _events_read(typed).filter((pl.col("__kind") == "LOCAL_REGROWTH") & (pl.col("event_type") != "LOCAL_REGROWTH"))
    if ev.height == 0:
        return []
    return [_as_warning(_emit(
        ev.sort(ROW), files["onc_event"], "event_type", "nodal_read_as_regrowth", _date_text("event_type"),
        message_expr(_("{event} on {date} (regional nodes) under Watch & Wait before any resection is read as a local "
                       "regrowth: it is an RG event and the regrowth salvage rules apply; record it as LOCAL_REGROWTH "
                       "with regrowth_site NODES to silence this warning"), event=_date_text("event_type"), date=_date_text("event_date"))))]


def _rule_salvage_links(typed, files) -> list[pl.DataFrame]:
    """``salvage_link_inferred`` (warning) / ``salvage_link_ambiguous`` (error): a regrowth without
    ``salvage_procedure_no`` and one / several SALVAGE-intent procedures on or after it, before the
    patient's next oncological event."""
    ev = _events_read(typed).filter((pl.col("__kind") == "LOCAL_REGROWTH") & pl.col("salvage_procedure_no").is_null())
    sp = (typed["procedure"].filter((pl.col("intent") == "SALVAGE") & pl.col("procedure_date").is_not_null())
          .select("subject_id", pl.col("procedure_no").alias("__pno"), pl.col("procedure_date").alias("__pdate")))
    cand = (ev.join(sp, on="subject_id")
            .filter((pl.col("__pdate") >= pl.col("event_date"))
                    & (pl.col("__next").is_null() | (pl.col("__pdate") < pl.col("__next"))))
            .sort("__pdate", "__pno")
            .group_by(ROW, maintain_order=True)
            .agg(pl.col("__pno"), pl.col("__pdate"), pl.first("event_date"), pl.first("event_type")))
    if cand.height == 0:
        return []
    cand = cand.with_columns(
        pl.col("__pno").cast(pl.List(pl.String)).list.join(", ").alias("__nos"),
        pl.col("__pdate").cast(pl.List(pl.String)).list.join(", ").alias("__dates"))
    out = []
    one = cand.filter(pl.col("__pno").list.len() == 1)
    if one.height:
        out.append(_as_warning(_emit(
            one.sort(ROW), files["onc_event"], "salvage_procedure_no", "salvage_link_inferred", pl.lit(None),
            message_expr(_("regrowth on {date} has no salvage_procedure_no; procedure {procedures} (SALVAGE, {dates}) is "
                           "read as its salvage (the only salvage procedure after it and before any other oncological "
                           "event); fill in salvage_procedure_no to confirm"),
                         date=_date_text("event_date"), procedures=_date_text("__nos"), dates=_date_text("__dates")))))
    many = cand.filter(pl.col("__pno").list.len() > 1)
    if many.height:
        out.append(_emit(
            many.sort(ROW), files["onc_event"], "salvage_procedure_no", "salvage_link_ambiguous", pl.lit(None),
            message_expr(_("regrowth on {date} has no salvage_procedure_no and procedures {procedures} (SALVAGE, on "
                           "{dates}) all qualify as its salvage: fill in salvage_procedure_no with the procedure that "
                           "salvaged it"), date=_date_text("event_date"), procedures=_date_text("__nos"), dates=_date_text("__dates"))))
    return out


PATHWAY_RULES = (
    _rule_last_contact_after_death,
    _rule_t1_before_first_dose,
    _rule_event_before_first_dose,
    _rule_nodal_read_as_regrowth,
    _rule_salvage_links,
)


def _check_pathway(typed: dict[str, pl.DataFrame], files: dict[str, str]) -> list[pl.DataFrame]:
    out: list[pl.DataFrame] = []
    for rule in PATHWAY_RULES:
        out += rule(typed, files)
    return out


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------
def validate(raw: RawRegistry) -> ValidationReport:
    """Check every rule (see the module docstring) and type the tables.

    Returns a :class:`ValidationReport`; ``report.tables`` holds the typed frames (schema
    column order, dtypes for ``store.insert_frame``) only when ``report.ok``.
    """
    parts: list[pl.DataFrame] = []
    typed: dict[str, pl.DataFrame] = {}
    files: dict[str, str] = {}
    for t in TABLES:
        load = raw.deferred.pop(t.name, None)
        if load is not None:  # read (and normalise) this table only now: one table's text at a time
            load()
        rt = raw.tables.get(t.name)
        files[t.name] = rt.file if rt else raw.location(t.name)[0]
        if rt is None:
            typed[t.name] = empty_typed(t)
            if t.name in REQUIRED_TABLES and t.name not in raw.unreadable:
                file, where = raw.location(t.name)
                parts.append(_one(file, None, None, None, "missing_table", _("required table '{table}' is missing: {where}").format(table=t.name, where=where)))
            continue
        parts += _check_header(t, rt)
        df, probs = _check_cells(t, rt)
        parts += probs
        typed[t.name] = df
        rt.frame = rt.frame.select(ROW)  # the text cells are no longer needed: free them (only rows are accounted)
    untrusted = set(raw.unreadable) | {n for n in REQUIRED_TABLES if n not in raw.tables}
    for t in TABLES:
        rt = raw.tables.get(t.name)
        if rt is not None and not set(t.primary_key) <= set(rt.header):
            untrusted.add(t.name)
    if "subject" in raw.tables and typed["subject"].height == 0:
        untrusted.add("subject")
        parts.append(_one(files["subject"], None, None, None, "no_subjects", _("the subject table has no rows (zero patients)")))
    for t in TABLES:
        if t.name in raw.tables:
            parts += _check_primary_key(t, typed[t.name], files[t.name])
            parts += _check_foreign_keys(t, typed, files[t.name], untrusted)
    parts += _check_cross(typed, files, untrusted)
    parts += _check_pathway(typed, files)
    parts = [problems_frame(raw.problems), *raw.problem_frames, *parts]  # what reading met comes first
    frame = pl.concat([p.select(list(PROBLEM_SCHEMA)).cast(PROBLEM_SCHEMA) for p in parts], how="vertical")
    report = ValidationReport(frame=frame, source_format=raw.format, input_sha256=dict(raw.input_sha256),
                              encodings=dict(raw.encodings), date_orders=dict(raw.date_orders))
    report.frame = pl.concat([report.frame, _unaccounted(raw, report)])
    report.accounting = accounting(raw, report)
    if report.ok:
        report.tables = {name: df.drop(ROW) for name, df in typed.items()}
    return report
