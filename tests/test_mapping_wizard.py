"""The mapping wizard's logic (no Streamlit): suggestions, the values grid, ready-made rules,
and a mapping built the way the Data page builds it, for both worked examples."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dashboard.ingest.examples import N_ZH, SEED_ZH, chinese_update, make_patients, write_chinese
from dashboard.ingest.mapping import apply_mapping, parse_mapping, read_mapped_source
from dashboard.ingest.preview import preview_result
from dashboard.ingest.profile import profile_table
from dashboard.ingest.sources import read_source
from dashboard.ingest.wizard import (
    ae_rules, coded_targets, ici_rules, required_gaps, restaging_rules, set_column, set_constant, set_rules,
    set_values, strategy_rules, suggest_mapping, value_rows,
)

EX = Path(__file__).resolve().parents[1] / "docs" / "examples"


def _confirm_suggestions(m, sources):
    """What the data manager does in step 6 when every suggestion is right."""
    grid = value_rows(m, sources)
    assert grid.filter(pl.col("suggested").is_null()).height == 0, grid.filter(pl.col("suggested").is_null())
    for ct in coded_targets(m):
        rows = grid.filter(pl.col("key") == ct.key)
        m = set_values(m, ct, dict(zip(rows["value"], rows["suggested"])))
    return m


def _wizard_chinese(path: Path):
    st = read_source(path)
    m = suggest_mapping(st, "zh-wizard", profile_table(st))
    assert required_gaps(m) == ["subject.cohort", "subject.centre", "subject.registration_date", "subject.eligibility"]
    m = set_column(m, "subject", "registration_date", m.rule("subject").spec["subject_id"].__class__(source="首次免疫治疗日期"))
    for c, v in (("cohort", "RETRO"), ("centre", "PKU"), ("eligibility", "ELIGIBLE")):
        m = set_constant(m, "subject", c, v)
    assert required_gaps(m) == []
    m = set_rules(m, "wiz_ici", ici_rules("首次免疫治疗日期", "免疫治疗方案", "周期数"))
    m = set_rules(m, "wiz_restaging", restaging_rules("再分期日期", "疗效评估", "ENDOSCOPY"))
    m = set_rules(m, "wiz_ww", strategy_rules("观察等待", ["是"], "再分期日期", "手术日期", "手术方式", "复发日期"))
    return _confirm_suggestions(m, {None: st}), st


def test_wizard_builds_a_valid_mapping_for_the_chinese_workbook(tmp_path):
    m, st = _wizard_chinese(EX / "chinese_surgeon_workbook.xlsx")
    m = parse_mapping(m.dumps(), "wizard")  # what the page does before preview
    pv = preview_result(apply_mapping(m, {None: st}))
    errors = pv.report.errors
    assert errors.height == 0, errors
    counts = pv.result.row_counts()
    assert counts["subject"] == N_ZH and counts["strategy_episode"] == 35 and counts["onc_event"] == 5
    codes = pv.tables["subject"].group_by("tumour_site").len().sort("tumour_site")
    truth = pl.DataFrame({"tumour_site": [p.site for p in make_patients(N_ZH, SEED_ZH, gej=False)]})
    assert codes.equals(truth.group_by("tumour_site").len().sort("tumour_site").cast({"len": codes["len"].dtype}))


def test_a_saved_mapping_asks_only_about_unseen_values(tmp_path):
    m, _ = _wizard_chinese(EX / "chinese_surgeon_workbook.xlsx")
    saved = parse_mapping(m.dumps())
    update = write_chinese(tmp_path / "v2.xlsx", chinese_update(make_patients(N_ZH, SEED_ZH, gej=False)))
    grid = value_rows(saved, read_mapped_source(update, saved))
    new = grid.filter(~pl.col("known"))
    assert new.select("column", "value", "suggested").rows() == [("tumour_site", "食管胃结合部", "GEJ")]


def test_english_suggestions_and_ae_sheet():
    st = read_source(EX / "english_surgeon_workbook.xlsx")
    m = suggest_mapping(st, "en", profile_table(st))
    subj = m.rule("subject").spec
    assert subj["distance_av_cm"].scale == 0.1 and subj["ct"].regex and subj["cn"].regex
    assert "cm" not in subj  # "T3N1" has no M part: not suggested
    assert "centre" not in subj  # "Hospital number" is an identifier, never a centre
    assert m.source.date_order == "DMY"  # a restaging date with day > 12 decided it
    ae = read_source(EX / "english_surgeon_workbook.xlsx", sheet="AEs")
    m = set_rules(m, "wiz_ae", ae_rules("AEs", subj["subject_id"], "AE", "CTCAE grade", "Onset", "irAE?", "Steroids", "ICI"))
    grid = value_rows(m, {None: st, "AEs": ae})
    soc = grid.filter(pl.col("column") == "soc")
    assert dict(zip(soc["value"], soc["suggested"])) == {"Diarrhoea": "GI", "Hypothyroidism": "ENDOCRINE", "Rash": "SKIN",
                                                         "Fatigue": "GENERAL", "Hepatitis": "HEPATOBILIARY"}
    assert set(grid.filter(pl.col("column") == "immune_related")["suggested"]) == {"true", "false"}
