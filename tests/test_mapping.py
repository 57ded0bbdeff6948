"""Mapping a site's own spreadsheet (issue 16): the mapping file, transforms, sources, the two
worked examples checked cell by cell, map -> export -> import hash property, unseen values,
provenance, audit and the command line."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from dashboard import audit
from dashboard.cli import main as cli
from dashboard.ingest import ImportRejected, export_registry, import_registry
from dashboard.ingest.examples import (
    N_EN, N_ZH, SEED_EN, SEED_ZH, chinese_update, expected_tables, make_patients, write_chinese, write_english,
)
from dashboard.ingest.mapping import (
    MappingError, apply_mapping, load_mapping, map_path, parse_date, parse_mapping, CellError,
)
from dashboard.ingest.preview import diff_against_store, import_mapped, import_result, preview_path, preview_result
from dashboard.ingest.profile import profile_path
from dashboard.ingest.sources import SourceError, read_source
from dashboard.provenance import Provenance
from dashboard.schema import TABLES, TABLES_BY_NAME, VOCABULARIES
from dashboard.store import read_meta
from dashboard.synonyms import COLUMN_SYNONYMS, VALUE_SYNONYMS, suggest_code, suggest_column

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "docs" / "examples"
EN_MAP = EX / "english_surgeon_workbook.mapping.toml"
ZH_MAP = EX / "chinese_surgeon_workbook.mapping.toml"

MINIMAL = """
[mapping]
name = "t"
format_version = 1
[source]
date_order = "DMY"
[constants.subject]
cohort = "RETRO"
centre = "X"
eligibility = "ELIGIBLE"
biomarker_basis = "DMMR_IHC"
tumour_site = "RECTUM"
[tables.subject]
subject_id = { source = "id", regex = "(\\\\d+)", template = "S-{value}" }
registration_date = "d0"
age = "age"
sex = { source = "sex", values = { "男" = "M", "女" = "F" } }
distance_av_cm = { source = "mm", scale = 0.1 }
[tables.follow_up]
last_contact_date = { source = "days", offset_from = "d0" }
vital_status = { source = "status", split = "/", part = 1, values = { alive = "ALIVE", dead = "DEAD" } }
"""


def _csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ",") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def _store_text(db: Path, out: Path) -> dict[str, list[dict[str, str | None]]]:
    """The store's source tables as canonical text (through the canonical export)."""
    export_registry(db, out)
    got = {}
    for t in TABLES:
        df = pl.read_csv(out / f"{t.name}.csv", infer_schema=False)
        got[t.name] = df.to_dicts()
    return got


# ---------------------------------------------------------------------------- the file format
def test_minimal_mapping_applies_every_transform(tmp_path):
    m = parse_mapping(MINIMAL)
    src = _csv(tmp_path / "s.csv", ["id", "d0", "age", "sex", "mm", "days", "status"],
               [["病例7", "03/04/2024", "61", "男", "57", "30", "Alive / NED"],
                ["病例8", "2024年5月6日", "70", "女", "", "10", "dead/x"]])
    r = map_path(src, m)
    assert r.ok, r.problems
    s = r.canonical()["subject"].to_dicts()
    assert [x["subject_id"] for x in s] == ["S-7", "S-8"]
    assert [x["registration_date"] for x in s] == ["2024-04-03", "2024-05-06"]  # DMY, and 年月日
    assert [x["sex"] for x in s] == ["M", "F"]
    assert [x["distance_av_cm"] for x in s] == ["5.7", None]
    f = r.canonical()["follow_up"].to_dicts()
    assert [x["last_contact_date"] for x in f] == ["2024-05-03", "2024-05-16"]
    assert [x["vital_status"] for x in f] == ["ALIVE", "DEAD"]
    assert {(a["column"], a["cells"]) for a in r.assumed} == {("cohort", 2), ("centre", 2), ("eligibility", 2),
                                                            ("biomarker_basis", 2), ("tumour_site", 2)}


def test_dump_and_parse_round_trip_keeps_the_hash():
    for path in (EN_MAP, ZH_MAP):
        m = load_mapping(path)
        again = parse_mapping(m.dumps())
        assert again == m and again.sha256 == m.sha256
        assert len(m.sha256) == 64


@pytest.mark.parametrize("edit, where", [
    (("format_version = 1", "format_version = 2"), "format_version"),
    (('"男" = "M"', '"男" = "MALE"'), "values"),
    (("[tables.follow_up]", "[tables.followup]"), "followup"),
    (('age = "age"', 'age = { source = "age", frobnicate = 1 }'), "frobnicate"),
    (('date_order = "DMY"', 'date_order = "DDMM"'), "date_order"),
    (('centre = "X"', 'centre = "X"\nshoe_size = "9"'), "shoe_size"),
])
def test_bad_mapping_names_the_key(edit, where):
    with pytest.raises(MappingError) as e:
        parse_mapping(MINIMAL.replace(*edit), "site.toml")
    assert "site.toml" in str(e.value) and where in str(e.value)


def test_dates_need_an_order_when_ambiguous():
    assert parse_date("2024-03-05 00:00:00") == dt.date(2024, 3, 5)
    assert parse_date("05-Mar-2024") == dt.date(2024, 3, 5)
    assert parse_date("45000") == dt.date(2023, 3, 15)  # Excel day number
    assert parse_date("05/03/2024", "MDY") == dt.date(2024, 5, 3)
    with pytest.raises(CellError) as e:
        parse_date("05/03/2024")
    assert e.value.rule == "date_order_needed"
    with pytest.raises(CellError) as e:
        parse_date("31/02/2024", "DMY")
    assert e.value.rule == "date_invalid"


def test_unmapped_value_names_file_row_and_column(tmp_path):
    m = parse_mapping(MINIMAL)
    src = _csv(tmp_path / "s.csv", ["id", "d0", "age", "sex", "mm", "days", "status"],
               [["1", "03/04/2024", "61", "男", "", "30", "alive"], ["2", "03/04/2024", "61", "unknown-x", "", "30", "alive"]])
    r = map_path(src, m)
    assert not r.ok
    p = [p for p in r.problems if p.rule == "unmapped_value"]
    assert [(p[0].file, p[0].row, p[0].column, p[0].value)] == [("s.csv", 3, "sex", "unknown-x")]
    assert r.unseen == [{"table": "subject", "column": "sex", "source": "sex", "value": "unknown-x", "count": 1}]


def test_unmapped_columns_warn_or_refuse(tmp_path):
    src = _csv(tmp_path / "s.csv", ["id", "d0", "age", "sex", "mm", "days", "status", "MRN"],
               [["1", "03/04/2024", "61", "男", "", "30", "alive", "123"]])
    r = map_path(src, parse_mapping(MINIMAL))
    assert r.ok and [(p.column, p.severity) for p in r.problems] == [("MRN", "warning")]
    strict = parse_mapping(MINIMAL.replace('format_version = 1', 'format_version = 1\nunmapped = "error"'))
    assert not map_path(src, strict).ok
    ignored = parse_mapping(MINIMAL.replace('format_version = 1', 'format_version = 1\nunmapped = "error"\nignore = ["MRN"]'))
    assert map_path(src, ignored).problems == []


# ---------------------------------------------------------------------------- sources
def test_csv_in_gb18030_with_semicolons(tmp_path):
    p = _csv(tmp_path / "zh.csv", ["病例号", "性别"], [["病例001", "男"], ["病例002", "女"]], encoding="gb18030", delimiter=";")
    st = read_source(p)
    assert (st.encoding, st.delimiter, st.columns) == ("gb18030", ";", ["病例号", "性别"])
    assert st.frame["性别"].to_list() == ["男", "女"]
    prof = profile_path(p)[0]
    assert prof.encoding == "gb18030" and prof.columns[1].top == [("女", 1), ("男", 1)] or prof.columns[1].top == [("男", 1), ("女", 1)]


def test_spss_and_stata_value_labels(tmp_path):
    import pandas as pd
    import pyreadstat

    df = pd.DataFrame({"id": [1.0, 2.0, 3.0], "sex": [1.0, 2.0, 1.0], "first_dose": [dt.date(2023, 1, 2)] * 3})
    labels = {"sex": {1.0: "Male", 2.0: "Female"}}
    pyreadstat.write_sav(df, tmp_path / "s.sav", variable_value_labels=labels)
    pyreadstat.write_dta(df, tmp_path / "s.dta", variable_value_labels=labels)
    for name in ("s.sav", "s.dta"):
        st = read_source(tmp_path / name)
        assert st.frame["sex"].to_list() == ["1", "2", "1"], name
        assert st.frame["id"].to_list() == ["1", "2", "3"]
        assert st.value_labels["sex"] == {"1": "Male", "2": "Female"}
        assert st.frame["first_dose"][0] == "2023-01-02"
        prof = profile_path(tmp_path / name)[0]
        assert prof.columns[1].value_labels == {"1": "Male", "2": "Female"}
    assert suggest_code("sex", "Male", VOCABULARIES["sex"].codes) == "M"
    pyreadstat.write_xport(df.assign(first_dose=pd.to_datetime(df["first_dose"])), tmp_path / "s.xpt")
    st = read_source(tmp_path / "s.xpt")
    assert st.format == "xpt" and st.frame["sex"].to_list() == ["1", "2", "1"] and st.frame["id"][2] == "3"


def test_unreadable_sources_say_why(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(SourceError, match="empty.csv: the file is empty"):
        read_source(tmp_path / "empty.csv")
    (tmp_path / "bad.sav").write_bytes(b"not spss")
    with pytest.raises(SourceError, match="bad.sav: not a readable sav file"):
        read_source(tmp_path / "bad.sav")
    with pytest.raises(SourceError, match="no sheet named 'Nope'"):
        read_source(EX / "english_surgeon_workbook.xlsx", sheet="Nope")


def test_profile_reports_hidden_sheets_and_date_patterns():
    profs = profile_path(EX / "english_surgeon_workbook.xlsx")
    main = profs[0]
    assert ("Lists", "hidden") in main.sheets and ("Patients", "visible") in main.sheets
    cols = {c.name: c for c in main.columns}
    assert cols["Restaging date"].detected == "date" and "D/M/YYYY or M/D/YYYY" in "".join(cols["Restaging date"].date_patterns) \
        or any("DD/MM" in k for k in cols["Restaging date"].date_patterns)
    assert cols["Sex (M/F)"].distinct == 2 and sum(n for _, n in cols["Sex (M/F)"].top) == N_EN
    assert cols["Regrowth date"].empty_share > 0.5
    assert [p.file for p in profs][1:] == ["english_surgeon_workbook.xlsx[AEs]", "english_surgeon_workbook.xlsx[Lists]",
                                           "english_surgeon_workbook.xlsx[README]"]


# ---------------------------------------------------------------------------- synonyms
def test_synonyms_name_real_columns_and_codes():
    for key in COLUMN_SYNONYMS:
        table, column = key.split(".")
        assert column in TABLES_BY_NAME[table].column_names, key
    for vocab, codes in VALUE_SYNONYMS.items():
        assert set(codes) <= set(VOCABULARIES[vocab].codes), vocab


def test_suggestions_for_both_workbooks():
    en = read_source(EX / "english_surgeon_workbook.xlsx").columns
    zh = read_source(EX / "chinese_surgeon_workbook.xlsx").columns
    want = {"subject.subject_id": ("Pt ID", "病例号"), "subject.sex": ("Sex (M/F)", "性别"),
            "subject.tumour_site": ("Tumour location", "肿瘤部位"), "subject.age": ("Age", "年龄"),
            "follow_up.vital_status": ("Status at last FU", "生存状态"),
            "follow_up.last_contact_date": ("Last FU date", "末次随访日期"), "follow_up.death_date": ("Date of death", "死亡日期")}
    for target, (e, z) in want.items():
        assert suggest_column(target, en) == e, target
        assert suggest_column(target, zh) == z, target
    site = VOCABULARIES["tumour_site"].codes
    assert [suggest_code("tumour_site", v, site) for v in ("直肠", "结肠", "胃", "Stomach", "食管胃结合部", "Liver")] == \
        ["RECTUM", "COLON", "GASTRIC", "GASTRIC", "GEJ", None]


# ---------------------------------------------------------------------------- worked examples
def test_shipped_examples_are_what_the_generator_writes(tmp_path):
    write_english(tmp_path / "en.xlsx", make_patients(N_EN, SEED_EN))
    write_chinese(tmp_path / "zh.xlsx", make_patients(N_ZH, SEED_ZH, gej=False))
    for shipped, fresh in ((EX / "english_surgeon_workbook.xlsx", tmp_path / "en.xlsx"),
                           (EX / "chinese_surgeon_workbook.xlsx", tmp_path / "zh.xlsx")):
        a, b = read_source(shipped), read_source(fresh)
        assert a.frame.equals(b.frame), f"{shipped.name} is stale: run python docs/examples/make_examples.py"


@pytest.mark.parametrize("lang", [1, 2], ids=["english", "chinese"])
def test_worked_example_imports_cell_by_cell(tmp_path, lang):
    if lang == 1:
        src, mpath, patients, prefix = EX / "english_surgeon_workbook.xlsx", EN_MAP, make_patients(N_EN, SEED_EN), "LDN"
    else:
        src, mpath, patients, prefix = (EX / "chinese_surgeon_workbook.xlsx", ZH_MAP,
                                        make_patients(N_ZH, SEED_ZH, gej=False), "PKU")
    mapping = load_mapping(mpath)
    db = tmp_path / "registry.duckdb"
    meta = import_mapped(src, mapping, db, actor="test:dm", derive=False)
    got = _store_text(db, tmp_path / "out")
    want = expected_tables(patients, prefix, lang)
    for t in TABLES:
        rows = want.get(t.name, [])
        assert len(got[t.name]) == len(rows), t.name
        key = list(t.primary_key)
        order = sorted(range(len(rows)), key=lambda i: tuple(
            (int(rows[i][k]) if k.endswith("_no") else rows[i][k]) for k in key))
        for i, g in zip(order, got[t.name]):
            exp = {c: rows[i].get(c) for c in t.column_names}
            assert g == exp, (t.name, g["subject_id"])
    # provenance: mapping name + hash, assumed constants with cells, still labelled synthetic
    stored = read_meta(db)
    assert stored["mapping_name"] == mapping.name and stored["mapping_sha256"] == mapping.sha256
    assert stored["source"] == "synthetic"
    assumed = {(a["table"], a["column"]): a["cells"] for a in json.loads(stored["mapping_assumed"])}
    assert assumed[("subject", "centre")] == len(patients) and assumed[("assessment", "modality")] == len(patients)
    footer = " ".join(Provenance.from_meta(stored).lines())
    assert f"'{mapping.name}'" in footer and mapping.sha256[:12] in footer and "SYNTHETIC" in footer
    assert "subject.centre=" in footer
    log = audit.read(limit=5, path=audit.default_audit_path(db))
    detail = json.loads(log.filter(pl.col("action") == "import")["detail"][0])
    assert detail["mapping_name"] == mapping.name and detail["mapping_sha256"] == mapping.sha256
    assert meta["content_hash"] == stored["content_hash"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_map_export_import_keeps_the_content_hash(tmp_path, seed):
    """Property over seeded random workbooks: mapped store == its export re-imported."""
    patients = make_patients(8 + 5 * seed, seed)
    src = write_english(tmp_path / "wb.xlsx", patients)
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    res = map_path(src, load_mapping(EN_MAP))
    assert res.ok, res.problems
    meta_a = import_result(res, a, derive=False)
    export_registry(a, tmp_path / "export")
    meta_b = import_registry(tmp_path / "export", b, derive=False)
    assert meta_a["content_hash"] == meta_b["content_hash"]
    # and the canonical folder the mapping writes imports to the same hash
    res.write(tmp_path / "canon")
    assert import_registry(tmp_path / "canon", tmp_path / "c.duckdb", derive=False)["content_hash"] == meta_a["content_hash"]


def test_update_asks_only_about_the_new_code_and_diff(tmp_path):
    patients = make_patients(N_ZH, SEED_ZH, gej=False)
    first = write_chinese(tmp_path / "v1.xlsx", patients)
    update = write_chinese(tmp_path / "v2.xlsx", chinese_update(patients))
    mapping = load_mapping(ZH_MAP)
    db = tmp_path / "registry.duckdb"
    import_mapped(first, mapping, db, derive=False)
    before = db.read_bytes()
    res = map_path(update, mapping)
    assert [(u["column"], u["value"], u["count"]) for u in res.unseen] == [("tumour_site", "食管胃结合部", 1)]
    with pytest.raises(ImportRejected):
        import_result(res, db, derive=False)
    assert db.read_bytes() == before  # a refused import leaves the store as it was
    fixed = mapping.with_values("subject", "tumour_site", {"食管胃结合部": "GEJ"})
    pv = preview_result(map_path(update, fixed))
    assert pv.ok and pv.result.unseen == []
    d = diff_against_store(pv.tables, db)
    assert d.added == ("PKU-031", "PKU-032") and d.removed == () and d.changed == () and d.unchanged == N_ZH
    rows = {r["table"]: (r["rows_now"], r["rows_after"]) for r in d.rows.iter_rows(named=True)}
    assert rows["subject"] == (N_ZH, N_ZH + 2)
    assert fixed.sha256 != mapping.sha256


def test_preview_groups_validator_problems_at_the_source_row(tmp_path):
    patients = make_patients(6, 9)
    patients[2].last_fu = patients[2].t0 - dt.timedelta(days=5)  # follow-up before the first dose
    src = write_english(tmp_path / "wb.xlsx", patients)
    pv = preview_path(src, load_mapping(EN_MAP))
    assert not pv.ok
    errs = pv.report.errors
    assert set(errs["file"].to_list()) == {"wb.xlsx[Patients]"} and set(errs["row"].to_list()) == {4}
    grouped = pv.by_column_and_rule()
    assert grouped.height >= 1 and grouped["problems"].sum() == pv.report.frame.height


# ---------------------------------------------------------------------------- command line
def test_cli_profile_map_import(tmp_path, capsys):
    db = tmp_path / "registry.duckdb"
    src = str(EX / "english_surgeon_workbook.xlsx")
    assert cli(["profile", src]) == 0
    out = capsys.readouterr().out
    assert "Lists (hidden)" in out and "[W&W Y/N]" in out
    assert cli(["map", src, "--mapping", str(EN_MAP), "--to", str(tmp_path / "canon"), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "ASSUMED subject.centre = 'LDN': 30 cell(s)" in out
    assert (tmp_path / "canon" / "subject.csv").exists() and (tmp_path / "canon" / "mapping_report.json").exists()
    assert cli(["import", src, "--mapping", str(EN_MAP), "--db", str(db)]) == 0
    assert read_meta(db)["mapping_name"] == "english-surgeon-workbook"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    bad = tmp_path / "bad.toml"
    bad.write_text(EN_MAP.read_text().replace("format_version = 1", "format_version = 9"))
    assert cli(["import", src, "--mapping", str(bad), "--db", str(db)]) == 1
    assert "format_version" in capsys.readouterr().err
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


# ---------------------------------------------------------------------------- REDCap (a site's own project)
REDCAP_MAP = """
[mapping]
name = "site-redcap"
format_version = 1
ignore = ["demographics_complete"]
[source]
format = "redcap"
[redcap]
record_id = "study_id"
baseline_events = ["baseline_arm_1"]
repeating = { adverse_events = "ae" }
[redcap.choices.gender]
Male = "M"
Female = "F"
[constants.subject]
cohort = "PROSP"
centre = "S1"
eligibility = "ELIGIBLE"
tumour_site = "RECTUM"
biomarker_basis = "DMMR_IHC"
[tables.subject]
subject_id = "study_id"
registration_date = "consent_date"
age = "age"
sex = "gender"
[tables.follow_up]
last_contact_date = "last_seen"
vital_status = { source = "alive", values = { "1" = "ALIVE", "0" = "DEAD" } }
[[rows]]
id = "aes"
table = "ae"
sheet = "adverse_events"
[rows.columns]
subject_id = "study_id"
term = "ae_name"
soc = { source = "ae_name", values = { Rash = "SKIN", Colitis = "GI" } }
grade = "ae_grade"
onset_date = "ae_onset"
immune_related = { value = "true" }
attribution = { assumed = "ICI" }
"""


def test_redcap_records_export_with_events_and_repeating_instrument(tmp_path):
    header = ["study_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance", "consent_date",
              "age", "gender", "demographics_complete", "last_seen", "alive", "ae_name", "ae_grade", "ae_onset",
              "adverse_events_complete"]
    rows = [["101", "baseline_arm_1", "", "", "2025-01-10", "54", "2", "2", "", "", "", "", "", ""],
            ["101", "followup_arm_1", "", "", "", "", "", "", "2025-09-01", "1", "", "", "", ""],
            ["101", "baseline_arm_1", "adverse_events", "1", "", "", "", "", "", "", "Rash", "1", "2025-02-01", "2"],
            ["101", "baseline_arm_1", "adverse_events", "2", "", "", "", "", "", "", "Colitis", "3", "2025-03-01", "2"],
            ["102", "baseline_arm_1", "", "", "2025-02-11", "61", "1", "2", "2025-08-01", "0", "", "", "", ""],
            ["102", "baseline_arm_1", "adverse_events", "1", "", "", "", "", "", "", "Rash", "2", "2025-04-01", "2"]]
    rec = _csv(tmp_path / "SITE_DATA_2025.csv", header, rows)
    dd = ["Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
          "Choices, Calculations, OR Slider Labels"]
    _csv(tmp_path / "SITE_DataDictionary.csv", dd, [["study_id", "demographics", "", "text", "ID", ""],
                                                     ["gender", "demographics", "", "radio", "Sex", "1, Male | 2, Female"],
                                                     ["alive", "follow_up", "", "yesno", "Alive", ""]])
    prof = profile_path(rec)[0]
    assert prof.redcap["events"] == ["baseline_arm_1", "followup_arm_1"] and prof.redcap["arms"] == ["arm_1"]
    assert prof.redcap["repeating instruments"] == ["adverse_events"]
    m = parse_mapping(REDCAP_MAP)
    r = map_path(rec, m)
    assert r.ok and r.problems == [], r.problems
    # follow-up fields live on a non-baseline event: merged only from baseline_events, so 101 has none here
    subj = {d["subject_id"]: d for d in r.canonical()["subject"].to_dicts()}
    assert {k: v["sex"] for k, v in subj.items()} == {"101": "F", "102": "M"}
    assert subj["101"]["registration_date"] == "2025-01-10"
    ae = r.canonical()["ae"].sort("subject_id", "ae_no").select("subject_id", "ae_no", "term", "soc", "grade").rows()
    assert ae == [("101", "1", "Rash", "SKIN", "1"), ("101", "2", "Colitis", "GI", "3"), ("102", "1", "Rash", "SKIN", "2")]
    fu = {d["subject_id"]: d["last_contact_date"] for d in r.canonical()["follow_up"].to_dicts()}
    assert fu == {"101": None, "102": "2025-08-01"}
    # with the follow-up event among the merged events, 101's last contact is found
    m2 = parse_mapping(REDCAP_MAP.replace('["baseline_arm_1"]', '["baseline_arm_1", "followup_arm_1"]'))
    fu2 = {d["subject_id"]: d["last_contact_date"] for d in map_path(rec, m2).canonical()["follow_up"].to_dicts()}
    assert fu2 == {"101": "2025-09-01", "102": "2025-08-01"}
    bad = parse_mapping(REDCAP_MAP.replace('sheet = "adverse_events"', 'sheet = "ae_form"'))
    with pytest.raises(SourceError, match="ae_form"):
        map_path(rec, bad)
