"""Safety results as display tables: n (%) cells, SOC/PT ordering, rates with CIs,
patient listings. Pure: no I/O, no Streamlit."""

from __future__ import annotations

import html
import math
from typing import Mapping

import polars as pl

from ..i18n import N_, _
from ..schema import (
    AE_OUTCOME,
    AE_SURGERY_IMPACT,
    CLAVIEN_DINDO,
    LEAK_GRADE,
    PROCEDURE_INTENT,
    PROCEDURE_TYPE,
    SOC,
    STOMA,
    Vocabulary,
)
from ..stats.safety import GRADE_LEVELS, MISSING, OVERALL, AeTable, ProcedureSummary

SORTS = ("frequency", "soc")
# Message ids (English); shown through ``_()``.
ANY_AE_LABEL = N_("Any immunotherapy adverse event")
OVERALL_LABEL = N_("All patients")
HEAD_SEP = " · "  # "<group head> · <grade level>" in the AE table's column names
NOT_RECORDED = N_("Not recorded")
# Grade levels as the statistics layer names them (dashboard.stats.safety.GRADE_LEVELS).
GRADE_LABELS = (N_("Any grade"), N_("Grade ≥3"), N_("Grade 5"))
# Columns the page code reads by these English names: the frames keep them, the display
# and export doors translate them (format_ae_html / format_simple_html, tables.export).
AE_LABEL_COLUMN = N_("System organ class / preferred term")
MEASURE_COLUMN = N_("Measure")
ANASTOMOSIS = ("NONE", "A", "B", "C")  # leak grades recorded for a procedure with an anastomosis


def format_n_pct(n: int, d: int) -> str:
    """``n (p%)`` with one decimal and thousands separators; ``0`` for none; ``-``
    without a denominator."""
    if not d:
        return "-"
    return "0" if n == 0 else f"{n:,} ({100 * n / d:.1f}%)"


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.0f}" if float(x).is_integer() or abs(x) >= 10 else f"{x:.1f}"


def format_median_iqr(median: float | None, q1: float | None, q3: float | None) -> str:
    """``median (q1-q3)``; ``-`` when there is no value."""
    if median is None or (isinstance(median, float) and math.isnan(median)):
        return "-"
    return f"{_num(median)} ({_num(q1)}-{_num(q3)})"


def format_rate_ci(x: int, n: int, estimate: float | None, lower: float | None, upper: float | None) -> str:
    """``x/n, p% (lo-hi)``; ``-`` without a denominator."""
    if not n or estimate is None:
        return "-"
    return f"{x:,}/{n:,}, {100 * estimate:.1f}% ({100 * lower:.1f}-{100 * upper:.1f})"


def group_head(label: str, n: int) -> str:
    return f"{_(label)} (N={n:,})"


def ae_levels(table: AeTable, *, always_g5: bool = False) -> tuple[str, ...]:
    """Grade columns to show: any grade and grade >= 3, plus grade 5 when any patient
    has a grade-5 event (or ``always_g5``)."""
    has5 = table.counts_.filter(pl.col("row_type") == "ANY")["n_g5"].sum() > 0
    return tuple(code for code, _t, _l in GRADE_LEVELS if code != "g5" or has5 or always_g5)


def _order(table: AeTable, sort: str) -> pl.DataFrame:
    """Rows in display order: the any-AE row, then SOC rows each followed by its PTs."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}, got {sort!r}")
    c = table.counts_.filter(pl.col("group") == OVERALL)
    soc_rank = {code: i for i, code in enumerate(SOC.codes)}
    socs = c.filter(pl.col("row_type") == "SOC").with_columns(
        pl.col("soc").replace_strict(soc_rank, default=len(soc_rank)).alias("_rank"),
        pl.col("soc").map_elements(SOC.label, return_dtype=pl.String).alias("_label"))
    pts = c.filter(pl.col("row_type") == "PT")
    if sort == "frequency":
        socs = socs.sort(["n_any", "n_g3", "_label"], descending=[True, True, False])
        pts = pts.sort(["n_any", "n_g3", "term"], descending=[True, True, False])
    else:
        socs = socs.sort(["_label"])
        pts = pts.sort(["term"])
    parts = [c.filter(pl.col("row_type") == "ANY").select("row_type", "soc", "term")]
    for soc in socs["soc"].to_list():
        parts.append(socs.filter(pl.col("soc") == soc).select("row_type", "soc", "term"))
        parts.append(pts.filter(pl.col("soc") == soc).select("row_type", "soc", "term"))
    return pl.concat(parts).with_row_index("_pos")


def format_ae_table(table: AeTable, group_labels: Mapping[str, str], *, sort: str = "frequency",
                    levels: tuple[str, ...] | None = None) -> pl.DataFrame:
    """The AE table for display and download.

    Returns
    -------
    pl.DataFrame : ``row_type``, ``soc``, ``term`` (codes, for the listing), ``System
        organ class / preferred term`` (:data:`AE_LABEL_COLUMN`, English name, labels in
        the current language), then one column per group (overall last) and grade level
        (overall first), named ``"<group> (N=n) · <level>"`` in the current language,
        holding ``n (%)`` strings.
    """
    levels = levels or ae_levels(table)
    level_label = {code: _(label) for code, _t, label in GRADE_LEVELS}
    order = _order(table, sort)
    den = dict(zip(table.denominators_["group"], table.denominators_["n"]))
    groups = [OVERALL, *table.groups]
    wide = order.join(table.counts_, on=["row_type", "soc", "term"], how="left", nulls_equal=True)
    cols: dict[str, list] = {"row_type": [], "soc": [], "term": [], AE_LABEL_COLUMN: []}
    heads = {(g, lv): f"{group_head(group_labels.get(g, OVERALL_LABEL if g == OVERALL else g), den[g])}"
                      f"{HEAD_SEP}{level_label[lv]}" for g in groups for lv in levels}
    for h in heads.values():
        cols[h] = []
    for key, rows in wide.sort("_pos").group_by("_pos", maintain_order=True):
        first = rows.row(0, named=True)
        cols["row_type"].append(first["row_type"])
        cols["soc"].append(first["soc"])
        cols["term"].append(first["term"])
        label = _(ANY_AE_LABEL) if first["row_type"] == "ANY" else (
            SOC.label(first["soc"]) if first["row_type"] == "SOC" else first["term"])
        cols[AE_LABEL_COLUMN].append(label)
        by_group = {r["group"]: r for r in rows.iter_rows(named=True)}
        for g in groups:
            r = by_group[g]
            for lv in levels:
                cols[heads[(g, lv)]].append(format_n_pct(r[f"n_{lv}"], r["denominator"]))
    return pl.DataFrame(cols, schema={c: pl.String for c in cols})


_CSS = """
<style>
.sf {border-collapse: separate; border-spacing: 0; font-size: 0.9rem; width: 100%;}
.sf.sf-auto {width: auto; min-width: 60%;}
.sf thead {position: sticky; top: 0; z-index: 2; background: #fff;}
.sf th {padding: 5px 7px; border-bottom: 1px solid #999; background: #fff; font-weight: 600; text-align: right;
        vertical-align: bottom; line-height: 1.2;}
.sf thead tr:last-child th {border-bottom: 2px solid #444;}
.sf thead tr:nth-child(2) th {font-weight: 400; color: #444;}
.sf th.sf-group {text-align: center; border-bottom: 1px solid #bbb;}
.sf th.sf-first, .sf td:first-child {text-align: left;}
.sf td {text-align: right; padding: 3px 7px; border-bottom: 1px solid rgba(128,128,128,0.18); white-space: nowrap;}
.sf td:first-child, .sf th.sf-first {position: sticky; left: 0; background: #fff; z-index: 1;
        white-space: normal; min-width: 13em; max-width: 24em;}
.sf td.sf-gap, .sf th.sf-gap {border-left: 1px solid rgba(128,128,128,0.35);}
.sf tr.sf-ANY td, .sf tr.sf-SOC td, .sf tr.sf-head td, .sf tr.sf-value td {font-weight: 600;}
.sf tr.sf-SOC td {padding-top: 8px;}
.sf tr.sf-PT td:first-child, .sf tr.sf-item td:first-child, .sf tr.sf-missing td:first-child {padding-left: 24px;}
.sf tr.sf-missing td {color: #777; font-style: italic;}
.sf-wrap {overflow-x: auto; max-height: 72vh; overflow-y: auto;}
@media (max-width: 1400px) {.sf {font-size: 0.82rem;} .sf td, .sf th {padding-left: 4px; padding-right: 4px;}}
</style>"""


def format_ae_html(display: pl.DataFrame) -> str:
    """The AE display table as HTML: group heads spanning their grade columns, SOC rows
    bold, PT rows indented (all text escaped)."""
    value_cols = [c for c in display.columns if HEAD_SEP in c]
    groups: list[tuple[str, list[str]]] = []
    for c in value_cols:
        g, lv = c.split(HEAD_SEP)
        if groups and groups[-1][0] == g:
            groups[-1][1].append(lv)
        else:
            groups.append((g, [lv]))
    top = f"<th class='sf-first' rowspan='2'>{html.escape(_(AE_LABEL_COLUMN)).replace(' / ', '<br>/ ')}</th>" + "".join(
        f"<th class='sf-group sf-gap' colspan='{len(lvs)}'>{html.escape(g)}</th>" for g, lvs in groups)
    sub = "".join(f"<th class='{'sf-gap' if i == 0 else ''}'>{html.escape(lv)}</th>"
                  for _g, lvs in groups for i, lv in enumerate(lvs))
    starts = set()
    i = 0
    for _g, lvs in groups:
        starts.add(i)
        i += len(lvs)
    body = []
    for row in display.iter_rows(named=True):
        cells = [f"<td>{html.escape(row[AE_LABEL_COLUMN])}</td>"]
        cells += [f"<td class='{'sf-gap' if j in starts else ''}'>{html.escape(row[c])}</td>"
                  for j, c in enumerate(value_cols)]
        body.append(f"<tr class='sf-{html.escape(row['row_type'])}'>{''.join(cells)}</tr>")
    return (f"{_CSS}<div class='sf-wrap'><table class='sf'><thead><tr>{top}</tr><tr>{sub}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def format_simple_html(display: pl.DataFrame, kinds: list[str] | None = None, *, full_width: bool = True) -> str:
    """A display frame (string cells, first column = row label) as an HTML table;
    ``kinds`` gives a CSS row class per row (``head`` / ``value`` bold, ``item`` indented,
    ``missing`` grey). Headers are shown in the current language (a header kept in
    English for the page code, such as :data:`MEASURE_COLUMN`, is translated here)."""
    cols = display.columns
    head = "".join(f"<th class='{'sf-first' if i == 0 else ''}'>{html.escape(_(c))}</th>" for i, c in enumerate(cols))
    body = []
    for k, row in enumerate(display.iter_rows()):
        cls = f"sf-{kinds[k]}" if kinds else ""
        body.append(f"<tr class='{cls}'>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>")
    cls = "sf" if full_width else "sf sf-auto"
    return (f"{_CSS}<div class='sf-wrap'><table class='{cls}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


# ------------------------------------------------------------------------ irAEs
IRAE_COLUMNS = (N_("Immune-related adverse event"), N_("Patients, n (%)"), N_("Patients with grade ≥3"), N_("Events"),
                N_("Onset, days from T0: median (IQR)"), N_("Events treated with steroids, n (%)"),
                N_("Events resolved, n (%)"), N_("Days to resolution: median (IQR)"))


def format_irae_table(summary: pl.DataFrame, denominator: int) -> pl.DataFrame:
    """Display rows of :func:`dashboard.stats.safety.summarize_irae` (string cells)."""
    rows = []
    for r in summary.iter_rows(named=True):
        ev = int(r["events"])
        rows.append((r["term"], format_n_pct(int(r["patients"]), denominator), f"{int(r['patients_g3']):,}", f"{ev:,}",
                     format_median_iqr(r["onset_median"], r["onset_q1"], r["onset_q3"]),
                     format_n_pct(int(r["events_steroids"]), ev), format_n_pct(int(r["events_resolved"]), ev),
                     format_median_iqr(r["resolution_median"], r["resolution_q1"], r["resolution_q3"])))
    return pl.DataFrame(rows, schema={_(c): pl.String for c in IRAE_COLUMNS}, orient="row")


def format_impact_table(impact: pl.DataFrame, group_labels: Mapping[str, str]) -> pl.DataFrame:
    """Patients whose immunotherapy AE delayed or cancelled planned surgery, per group."""
    rows = []
    for r in impact.iter_rows(named=True):
        g = r["group"]
        label = _(OVERALL_LABEL) if g == OVERALL else group_labels.get(g, g)
        d = r["denominator"]
        rows.append((label, f"{d:,}", format_n_pct(r["delayed"], d), format_n_pct(r["cancelled"], d),
                     format_n_pct(r["either"], d)))
    cols = (_("Initial strategy group"), _("Safety population"), _("Surgery delayed, n (%)"),
            _("Surgery cancelled, n (%)"), _("Delayed or cancelled, n (%)"))
    return pl.DataFrame(rows, schema={c: pl.String for c in cols}, orient="row")


# ------------------------------------------------------------------------ procedures
def format_procedure_table(s: ProcedureSummary, class_labels: Mapping[str, str]) -> pl.DataFrame:
    """One row per measure, one column per procedure class.

    Returns
    -------
    pl.DataFrame : ``kind`` (head / item / missing / value), ``cell`` (listing key for
        :func:`dashboard.stats.safety.procedure_cell_filter`, empty when none),
        ``Measure`` (:data:`MEASURE_COLUMN`, English name, labels in the current language),
        one column per class headed ``"<label> (n=<procedures>)"``.
    """
    counts = {r["proc_class"]: r for r in s.counts_.iter_rows(named=True)}
    heads = {k: f"{class_labels.get(k, k)} (n={counts[k]['procedures']})" for k in s.classes}
    rows: list[tuple] = []

    def add(kind: str, cell: str, label: str, values: Mapping[str, str]) -> None:
        rows.append((kind, cell, label, *(values.get(k, "") for k in s.classes)))

    def by(frame: pl.DataFrame, **eq) -> dict[str, dict]:
        f = frame
        for col, v in eq.items():
            f = f.filter(pl.col(col) == v)
        return {r["proc_class"]: r for r in f.iter_rows(named=True)}

    add("value", "all", _("Procedures (patients)"),
        {k: f"{counts[k]['procedures']} ({counts[k]['patients']})" for k in s.classes})
    add("head", "", _("Clavien-Dindo, worst within 90 days, n (%)"), {})
    for g in (*CLAVIEN_DINDO.codes, MISSING):
        r = by(s.clavien_, grade=g)
        if g == MISSING:
            if any(r[k]["n"] for k in s.classes):
                add("missing", f"cd:{g}", _(NOT_RECORDED), {k: f"{r[k]['n']:,}" for k in s.classes})
            continue
        rec = {k: int(s.major_.filter(pl.col("proc_class") == k)["n"][0]) for k in s.classes}
        add("item", f"cd:{g}", CLAVIEN_DINDO.label(g), {k: format_n_pct(r[k]["n"], rec[k]) for k in s.classes})
    m = by(s.major_)
    add("value", "cd_major", _("Clavien-Dindo ≥ III (IIIa or worse): n/N, % (95% CI)"),
        {k: format_rate_ci(m[k]["x"], m[k]["n"], m[k]["estimate"], m[k]["lower"], m[k]["upper"]) for k in s.classes})
    add("head", "", _("Anastomotic leak (ISREC), n (% of anastomoses)"), {})
    anast = {k: sum(x["n"] for x in s.leak_.filter((pl.col("proc_class") == k) & pl.col("grade").is_in(ANASTOMOSIS))
                    .iter_rows(named=True)) for k in s.classes}
    for g in (*LEAK_GRADE.codes, MISSING):
        r = by(s.leak_, grade=g)
        if not any(r[k]["n"] for k in s.classes):
            continue
        vals = {k: format_n_pct(r[k]["n"], anast[k]) if g in ANASTOMOSIS else f"{r[k]['n']:,}" for k in s.classes}
        add("missing" if g == MISSING else "item", f"leak:{g}", _(NOT_RECORDED) if g == MISSING else LEAK_GRADE.label(g),
            vals)
    add("head", "", _("Mortality, any cause: deaths/evaluable, % (95% CI)"), {})
    for days in (30, 90):
        r = by(s.mortality_, days=days)
        add("item", f"died{days}", _("Within {days} days").format(days=days),
            {k: format_rate_ci(r[k]["deaths"], r[k]["n"], r[k]["estimate"], r[k]["lower"], r[k]["upper"])
             for k in s.classes})
    r = by(s.los_)
    add("value", "", _("Length of stay, days: median (IQR)"),
        {k: format_median_iqr(r[k]["median"], r[k]["q1"], r[k]["q3"]) for k in s.classes})
    add("head", "", _("Stoma, n (%)"), {})
    for g in (*STOMA.codes, MISSING):
        r = by(s.stoma_, stoma=g)
        if g == MISSING and not any(r[k]["n"] for k in s.classes):
            continue
        rec = {k: sum(x["n"] for x in s.stoma_.filter((pl.col("proc_class") == k) & (pl.col("stoma") != MISSING))
                      .iter_rows(named=True)) for k in s.classes}
        add("missing" if g == MISSING else "item", f"stoma:{g}", _(NOT_RECORDED) if g == MISSING else STOMA.label(g),
            {k: f"{r[k]['n']:,}" if g == MISSING else format_n_pct(r[k]["n"], rec[k]) for k in s.classes})
    c = by(s.closure_)
    add("item", "stoma_closed", _("Temporary stoma closed, n (% of temporary)"),
        {k: format_n_pct(c[k]["closed"], c[k]["temporary"]) for k in s.classes})
    add("item", "", _("Days to closure: median (IQR)"),
        {k: format_median_iqr(c[k]["median_days"], c[k]["q1_days"], c[k]["q3_days"]) for k in s.classes})
    cols = ["kind", "cell", MEASURE_COLUMN, *heads.values()]
    return pl.DataFrame(rows, schema={c: pl.String for c in cols}, orient="row")


# ------------------------------------------------------------------------ listings
# Listings are built with Polars expressions (no per-row Python): a cell can hold
# hundreds of thousands of rows at registry scale. ``limit`` formats only the first rows
# in listing order (what the page shows); ``None`` formats them all (the download).
AE_LISTING_ORDER = ("subject_id", "soc", "term")
EVENT_LISTING_ORDER = ("subject_id", "onset_date", "ae_no")
PROCEDURE_LISTING_ORDER = ("subject_id", "procedure_no")


def _col(df: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    """``name`` as ``dtype``; all null when ``df`` has no such column."""
    return pl.col(name).cast(dtype) if name in df.columns else pl.lit(None, dtype)


def _vocab_label(expr: pl.Expr, vocab: Vocabulary, missing: str = N_("Missing"), *,
                 empty_missing: bool = False) -> pl.Expr:
    """:meth:`Vocabulary.label` as an expression: the code's label, an unknown code as
    itself, ``missing`` for null (and for ``""`` with ``empty_missing``)."""
    absent = expr.is_null() | (expr == "") if empty_missing else expr.is_null()
    return pl.when(absent).then(pl.lit(_(missing))).otherwise(expr.replace(vocab.labels))


def _yes_no(expr: pl.Expr) -> pl.Expr:
    return (pl.when(expr.is_null()).then(pl.lit(_(NOT_RECORDED))).when(expr).then(pl.lit(_("Yes")))
            .otherwise(pl.lit(_("No"))))


def _group_label(group_labels: Mapping[str, str]) -> pl.Expr:
    return pl.col("group").cast(pl.String).replace(dict(group_labels))


def _first(df: pl.DataFrame, order: tuple[str, ...], limit: int | None) -> pl.LazyFrame:
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    lf = df.lazy().sort(list(order))
    return lf if limit is None else lf.head(limit)


def format_ae_listing(rows: pl.DataFrame, group_labels: Mapping[str, str], *, limit: int | None = None) -> pl.DataFrame:
    """Patients behind an AE-table cell: one row per patient and term (worst event),
    sorted by patient, SOC, term; the first ``limit`` rows (all when None).

    Pseudonymised subject ids only; labels, not codes.
    """
    n_events = _col(rows, "n_events", pl.Int64)
    return _first(rows, AE_LISTING_ORDER, limit).select(
        pl.col("subject_id").cast(pl.String).alias(_("Patient")),
        _group_label(group_labels).alias(_("Strategy group")),
        _vocab_label(pl.col("soc").cast(pl.String), SOC).alias(_("System organ class")),
        pl.col("term").cast(pl.String).alias(_("Preferred term")),
        pl.col("grade").cast(pl.Int64).alias(_("Worst grade")),
        pl.col("onset_date").cast(pl.Date).alias(_("Onset")),
        pl.col("days_from_t0").cast(pl.Int64).alias(_("Days from T0")),
        pl.when(n_events.is_null() | (n_events == 0)).then(pl.lit(1, pl.Int64)).otherwise(n_events)
        .alias(_("Events of this term")),
        _yes_no(_col(rows, "steroids", pl.Boolean)).alias(_("Steroids")),
        _vocab_label(_col(rows, "outcome", pl.String), AE_OUTCOME).alias(_("Outcome")),
        _col(rows, "resolution_date", pl.Date).alias(_("Resolved on")),
    ).collect()


def format_event_listing(events: pl.DataFrame, group_labels: Mapping[str, str], *,
                         limit: int | None = None) -> pl.DataFrame:
    """Adverse events, one row per event (irAE and surgery-impact listings), sorted by
    patient, onset, event number; the first ``limit`` rows (all when None)."""
    return _first(events, EVENT_LISTING_ORDER, limit).select(
        pl.col("subject_id").cast(pl.String).alias(_("Patient")),
        _group_label(group_labels).alias(_("Strategy group")),
        pl.col("term").cast(pl.String).alias(_("Preferred term")),
        pl.col("grade").cast(pl.Int64).alias(_("Grade")),
        pl.col("onset_date").cast(pl.Date).alias(_("Onset")),
        pl.col("days_from_t0").cast(pl.Int64).alias(_("Days from T0")),
        _yes_no(pl.col("steroids")).alias(_("Steroids")),
        _vocab_label(pl.col("outcome").cast(pl.String), AE_OUTCOME).alias(_("Outcome")),
        pl.col("days_to_resolution").cast(pl.Int64).alias(_("Days to resolution")),
        _vocab_label(pl.col("surgery_impact").cast(pl.String), AE_SURGERY_IMPACT).alias(_("Effect on surgery")),
    ).collect()


def format_procedure_listing(procs: pl.DataFrame, group_labels: Mapping[str, str], *,
                             limit: int | None = None) -> pl.DataFrame:
    """Procedures behind a procedure-table cell, one row per procedure, sorted by
    patient and procedure number; the first ``limit`` rows (all when None)."""
    def recorded(col: str, vocab: Vocabulary) -> pl.Expr:
        return _vocab_label(pl.col(col).cast(pl.String), vocab, NOT_RECORDED, empty_missing=True)

    return _first(procs, PROCEDURE_LISTING_ORDER, limit).select(
        pl.col("subject_id").cast(pl.String).alias(_("Patient")),
        _group_label(group_labels).alias(_("Strategy group")),
        _vocab_label(pl.col("procedure_type").cast(pl.String), PROCEDURE_TYPE).alias(_("Procedure")),
        _vocab_label(pl.col("intent").cast(pl.String), PROCEDURE_INTENT).alias(_("Intent")),
        pl.col("procedure_date").cast(pl.Date).alias(_("Date")),
        recorded("clavien_dindo", CLAVIEN_DINDO).alias(_("Clavien-Dindo")),
        recorded("leak_grade", LEAK_GRADE).alias(_("Leak")),
        pl.col("length_of_stay_days").cast(pl.Int64).alias(_("Length of stay (days)")),
        recorded("stoma", STOMA).alias(_("Stoma")),
        pl.col("stoma_closure_date").cast(pl.Date).alias(_("Stoma closed on")),
        pl.col("days_to_death").cast(pl.Int64).alias(_("Days to death")),
    ).collect()
