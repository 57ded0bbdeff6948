"""Table 1 as display cells: n (%), median (IQR), missing counts, p-values, SMDs."""

from __future__ import annotations

import html
import math

import polars as pl

from ..i18n import N_, _
from ..stats.baseline import OVERALL, BaselineSummary, BaselineVariable

ROW_KINDS = ("variable", "level", "missing")
# Test names as the statistics layer writes them (translated in the display table).
TEST_NAMES = (N_("Chi-square"), N_("Fisher exact"), N_("Fisher exact (Monte Carlo)"), N_("Kruskal-Wallis"))


def format_p(p: float) -> str:
    """p-value for display: ``<0.001``, else three decimals; blank when not computed."""
    if p is None or math.isnan(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_smd(smd: float) -> str:
    if smd is None or math.isnan(smd):
        return ""
    return "inf" if math.isinf(smd) else f"{smd:.2f}"


def _num(x: float) -> str:
    if x is None or math.isnan(x):
        return ""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}"


def format_baseline_table(summary: BaselineSummary, variables: tuple[BaselineVariable, ...]) -> pl.DataFrame:
    """Display table: one row per variable, per level and per missing count.

    Returns
    -------
    pl.DataFrame : ``kind`` (variable / level / missing), ``Characteristic``, one column
        per group headed ``"<label> (n=<n>)"`` (overall first), ``p-value``, ``SMD``,
        ``Test``. All cells are strings; headers, variable and level labels in the
        current language (``kind`` is a code).
    """
    groups = summary.groups_.rows(named=True)
    heads = [f"{_(g['label'])} (n={g['n']})" for g in groups]
    cat = {(r["variable"], r["level"], r["group"]): r for r in summary.categorical_.iter_rows(named=True)}
    cont = {(r["variable"], r["group"]): r for r in summary.continuous_.iter_rows(named=True)}
    miss = {(r["variable"], r["group"]): r["n_missing"] for r in summary.missing_.iter_rows(named=True)}
    tests = {r["variable"]: r for r in summary.tests_.iter_rows(named=True)}
    present_levels: dict[str, list[str]] = {}
    for r in summary.categorical_.filter(pl.col("group") == OVERALL).iter_rows(named=True):
        present_levels.setdefault(r["variable"], []).append(r["level"])

    rows: list[list[str]] = []
    for v in variables:
        t = tests[v.column]
        test_name = t["test"] or ""
        stat = [format_p(t["p_value"]), format_smd(t["smd"]), _(test_name) if test_name else ""]
        if v.kind == "categorical":
            rows.append(["variable", _("{variable}, n (%)").format(variable=_(v.label))] + [""] * len(groups) + stat)
            labels = dict(v.levels)
            for lc in present_levels.get(v.column, []):
                cells = []
                for g in groups:
                    r = cat[(v.column, lc, g["group"])]
                    cells.append(f"{r['n']:,} ({r['pct']:.1f}%)" if not math.isnan(r["pct"]) else f"{r['n']:,}")
                if cat[(v.column, lc, OVERALL)]["n"] == 0:  # e.g. other sites after filtering on one
                    continue
                rows.append(["level", _(labels[lc]) if lc in labels else lc] + cells + ["", "", ""])
        else:
            cells = []
            for g in groups:
                r = cont[(v.column, g["group"])]
                cells.append(f"{_num(r['median'])} ({_num(r['q1'])}-{_num(r['q3'])})" if r["n"] else "")
            head = (_("{variable}, {unit}, median (IQR)").format(variable=_(v.label), unit=_(v.unit)) if v.unit
                    else _("{variable}, median (IQR)").format(variable=_(v.label)))
            rows.append(["variable", head] + cells + stat)
        if any(miss[(v.column, g["group"])] for g in groups):
            rows.append(["missing", _("Missing")] + [str(miss[(v.column, g["group"])]) for g in groups] + ["", "", ""])
    columns = ["kind", _("Characteristic"), *heads, _("p-value"), "SMD", _("Test")]
    return pl.DataFrame(rows, schema={c: pl.String for c in columns}, orient="row")


def format_baseline_html(table: pl.DataFrame) -> str:
    """The display table as a self-contained HTML table (all text escaped)."""
    test, p_col = table.columns[-1], table.columns[-3]  # "Test", "p-value" in the table's language
    cols = [c for c in table.columns if c not in ("kind", test)]  # the test is the p-value's tooltip

    def th(c: str) -> str:  # "Watch & Wait (n=315)" -> two lines, so narrow screens keep every column
        label, sep, n = c.rpartition(" (n=")
        return f"<th>{html.escape(label)}<br><span class='t1-n'>n={html.escape(n[:-1])}</span></th>" if sep else \
            f"<th>{html.escape(c)}</th>"

    head = "".join(th(c) for c in cols)
    body = []
    for row in table.iter_rows(named=True):
        cells = "".join(
            f'<td title="{html.escape(row.get(test) or "")}">{html.escape(row[c])}</td>' if c == p_col
            else f"<td>{html.escape(row[c])}</td>" for c in cols)
        body.append(f'<tr class="t1-{html.escape(row["kind"])}">{cells}</tr>')
    style = """
<style>
.t1 {border-collapse: collapse; font-size: 0.92rem; width: 100%;}
.t1 th {text-align: right; padding: 6px 8px; border-bottom: 2px solid #444; position: sticky; top: 0;
        background: #fff; font-weight: 600; vertical-align: bottom; line-height: 1.25;}
.t1 .t1-n {font-weight: 400; color: #555;}
.t1 th:first-child, .t1 td:first-child {text-align: left;}
.t1 td {text-align: right; padding: 3px 8px; border-bottom: 1px solid rgba(128,128,128,0.18); white-space: nowrap;}
.t1 tr.t1-variable td {font-weight: 600; padding-top: 9px;}
.t1 tr.t1-level td:first-child, .t1 tr.t1-missing td:first-child {padding-left: 26px;}
.t1 tr.t1-missing td {color: #777; font-style: italic;}
.t1 td:nth-last-child(-n+3) {color: #333;}
.t1-wrap {overflow-x: auto; max-height: 70vh; overflow-y: auto;}
@media (max-width: 1400px) {.t1 {font-size: 0.85rem;} .t1 td, .t1 th {padding-left: 5px; padding-right: 5px;}}
</style>"""
    return f'{style}<div class="t1-wrap"><table class="t1"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _levels(vocab) -> tuple[tuple[str, str], ...]:
    return vocab.items


def table1_variables() -> tuple[BaselineVariable, ...]:
    """Table 1 rows for this registry (labels from the schema vocabularies; variable
    labels and units are message ids, translated by :func:`format_baseline_table`)."""
    from ..schema import (BIOMARKER_BASIS, BRAF, CM_STAGE, CN_STAGE, COHORT, CT_STAGE, CTDNA, ECOG, HISTOLOGY,
                          REGIMEN_CLASS, RESPONSE, SEX, TUMOUR_SITE, YES_NO_UNK)

    C, N = "categorical", "continuous"
    return (
        BaselineVariable("cohort", N_("Registry part"), C, _levels(COHORT)),
        BaselineVariable("age", N_("Age"), N, unit=N_("years")),
        BaselineVariable("sex", N_("Sex"), C, _levels(SEX)),
        BaselineVariable("ecog", N_("ECOG performance status"), C, (("0", "0"), ("1", "1"))),
        BaselineVariable("tumour_site", N_("Tumour site"), C, _levels(TUMOUR_SITE)),
        BaselineVariable("histology", N_("Histology"), C, _levels(HISTOLOGY)),
        BaselineVariable("biomarker_basis", N_("Biomarker basis"), C, _levels(BIOMARKER_BASIS)),
        BaselineVariable("lynch", N_("Lynch syndrome"), C, _levels(YES_NO_UNK)),
        BaselineVariable("braf", "BRAF V600E", C, (("MUT", N_("Mutant")), ("WT", N_("Wild-type")), ("UNKNOWN", N_("Not tested")))),
        BaselineVariable("ct", N_("Clinical T"), C, _levels(CT_STAGE)),
        BaselineVariable("cn", N_("Clinical N"), C, _levels(CN_STAGE)),
        BaselineVariable("cm", N_("Clinical M"), C, _levels(CM_STAGE)),
        BaselineVariable("distance_av_cm", N_("Distance from anal verge (rectum)"), N, unit="cm"),
        BaselineVariable("cea_baseline", N_("CEA"), N, unit="ng/mL"),
        BaselineVariable("ctdna_baseline", "ctDNA", C, _levels(CTDNA)),
        BaselineVariable("regimen_class", N_("Immunotherapy regimen"), C, _levels(REGIMEN_CLASS)),
        BaselineVariable("ici_cycles", N_("Immunotherapy cycles"), N),
        BaselineVariable("restaging_response", N_("Restaging response"), C, _levels(RESPONSE)),
    )


def table1_options():
    """Columns of Table 1: the strategy groups compared in the study."""
    from ..schema import STRATEGY_GROUP
    from ..stats.baseline import BaselineOptions

    labels = {"NOM": N_("Watch & Wait"), "OPFS": N_("Local / endoscopic resection"), "RO": N_("Radical surgery"),
              "SYSTEMIC": N_("Systemic therapy only")}
    # translated now: the labels head the columns (a call per script run, in its language)
    return BaselineOptions("initial_group", tuple((c, _(labels.get(c, l))) for c, l in STRATEGY_GROUP.items),
                           no_group_label=_("No strategy recorded"))
