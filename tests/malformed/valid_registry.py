"""A small hand-built valid registry (6 patients, every table) and helpers to break it.

Used by tests/test_ingest*.py. Rows are written as canonical CSV; line numbers in the
files are row index + 2 (header = line 1).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dashboard.schema import TABLES, TABLES_BY_NAME

T = True
ROWS: dict[str, list[dict[str, str]]] = {
    "subject": [
        dict(subject_id="S001", cohort="RETRO", centre="PKUCH", registration_date="2022-01-10", eligibility="ELIGIBLE", age="54", sex="F",
             ecog="0", tumour_site="RECTUM", histology="ADENO", biomarker_basis="DMMR_IHC", mmr_loss="MLH1_PMS2", lynch="NO", braf="WT",
             ct="T3", cn="N1", cm="M0", distance_av_cm="5.5", cea_baseline="3.2", ctdna_baseline="POS"),
        dict(subject_id="S002", cohort="RETRO", centre="北京-PKUCH", registration_date="2022-03-01", eligibility="ELIGIBLE", age="38", sex="M",
             ecog="1", tumour_site="COLON", histology="MUCINOUS", biomarker_basis="MSIH_PCR", mmr_loss="MSH2_MSH6", lynch="YES", braf="UNKNOWN",
             ct="T4A", cn="N2", cm="M0", cea_baseline="12.75"),
        dict(subject_id="S003", cohort="RETRO", centre="PKUCH", registration_date="2021-05-01", eligibility="ELIGIBLE", age="61", sex="M",
             tumour_site="RECTUM", biomarker_basis="MSIH_NGS", ct="T2", cn="N0", cm="M0", distance_av_cm="3", ctdna_baseline="NOT_DONE"),
        dict(subject_id="S004", cohort="RETRO", centre="PKUCH", registration_date="2022-02-01", eligibility="ELIGIBLE", age="71", sex="F",
             ecog="1", tumour_site="GASTRIC", histology="SRCC", biomarker_basis="DMMR_IHC", mmr_loss="PMS2", ct="T3", cn="N1", cm="M0"),
        dict(subject_id="S005", cohort="PROSP", centre="PKUCH", registration_date="2023-01-05", eligibility="NO_ICI", age="66", sex="M",
             tumour_site="GEJ", biomarker_basis="POLE"),
        dict(subject_id="S006", cohort="PROSP", centre="PKUCH", registration_date="2023-02-01", eligibility="ELIGIBLE", age="45", sex="F",
             ecog="0", tumour_site="RECTUM", histology="ADENO", biomarker_basis="DMMR_IHC", mmr_loss="MSH6", lynch="UNKNOWN", braf="WT",
             ct="T2", cn="N1", cm="M0", distance_av_cm="8.25", cea_baseline="0.1", ctdna_baseline="NEG"),
    ],
    "ici_exposure": [
        dict(subject_id="S001", exposure_no="1", regimen_class="PD1", drugs="dostarlimab", start_date="2022-01-15", end_date="2022-07-01", cycles="9", stop_reason="COMPLETED"),
        dict(subject_id="S002", exposure_no="1", regimen_class="PD1_CTLA4", drugs="nivolumab+ipilimumab", start_date="2022-03-05", end_date="2022-05-01", cycles="4", stop_reason="SURGERY"),
        dict(subject_id="S003", exposure_no="1", regimen_class="PD1", drugs="toripalimab+celecoxib", start_date="2021-05-10", end_date="2021-11-01", cycles="8", stop_reason="COMPLETED"),
        dict(subject_id="S004", exposure_no="1", regimen_class="PD1", drugs="sintilimab", start_date="2022-02-10", end_date="2022-06-01", cycles="6", stop_reason="TOXICITY"),
        dict(subject_id="S006", exposure_no="1", regimen_class="PD1", drugs="dostarlimab", start_date="2023-02-05", end_date="2023-08-01", cycles="9", stop_reason="COMPLETED"),
    ],
    "assessment": [
        dict(subject_id="S001", assessment_no="1", assessment_date="2022-01-05", timepoint="BASELINE", modality="MRI", result="TUMOUR"),
        dict(subject_id="S001", assessment_no="2", assessment_date="2022-07-20", timepoint="RESTAGING", modality="ENDOSCOPY", result="NED", overall_response="CCR"),
        dict(subject_id="S001", assessment_no="3", assessment_date="2022-10-20", timepoint="SURVEILLANCE", modality="MRI", result="NED", overall_response="CCR"),
        dict(subject_id="S002", assessment_no="1", assessment_date="2022-05-10", timepoint="RESTAGING", modality="CT", result="EQUIVOCAL", overall_response="NON_CCR"),
        dict(subject_id="S003", assessment_no="1", assessment_date="2021-11-15", timepoint="RESTAGING", modality="MRI", result="NED", overall_response="CCR"),
        dict(subject_id="S003", assessment_no="2", assessment_date="2022-05-15", timepoint="SURVEILLANCE", modality="ENDOSCOPY", result="TUMOUR", overall_response="NON_CCR"),
        dict(subject_id="S004", assessment_no="1", assessment_date="2022-06-20", timepoint="RESTAGING", modality="ENDOSCOPY", result="EQUIVOCAL", overall_response="NEAR_CCR"),
        dict(subject_id="S006", assessment_no="1", assessment_date="2023-08-10", timepoint="RESTAGING", modality="MRI", result="EQUIVOCAL", overall_response="NEAR_CCR"),
    ],
    "strategy_episode": [
        dict(subject_id="S001", episode_no="1", strategy="WW", decision_date="2022-07-25", start_date="2022-07-25", trigger="INITIAL"),
        dict(subject_id="S002", episode_no="1", strategy="RO", decision_date="2022-05-12", start_date="2022-06-01", trigger="INITIAL"),
        dict(subject_id="S003", episode_no="1", strategy="WW", decision_date="2021-11-20", start_date="2021-11-20", trigger="INITIAL"),
        dict(subject_id="S003", episode_no="2", strategy="RO", decision_date="2022-05-20", start_date="2022-06-10", trigger="REGROWTH"),
        dict(subject_id="S004", episode_no="1", strategy="ESD", decision_date="2022-06-25", start_date="2022-07-05", trigger="INITIAL"),
        dict(subject_id="S006", episode_no="1", strategy="LE", decision_date="2023-08-12", start_date="2023-09-01", trigger="INITIAL"),
        dict(subject_id="S006", episode_no="2", strategy="RO", decision_date="2023-09-20", start_date="2023-10-05", trigger="ADVERSE_PATHOLOGY"),
    ],
    "procedure": [
        dict(subject_id="S002", procedure_no="1", episode_no="1", procedure_date="2022-06-01", procedure_type="COLECTOMY", intent="PRIMARY", approach="LAPAROSCOPIC",
             r_status="R0", stoma="NONE", clavien_dindo="II", complication="SSI", leak_grade="NONE", length_of_stay_days="7"),
        dict(subject_id="S003", procedure_no="1", episode_no="2", procedure_date="2022-06-10", procedure_type="TME_LAR", intent="SALVAGE", approach="ROBOTIC",
             r_status="R0", stoma="TEMPORARY", stoma_closure_date="2022-10-01", clavien_dindo="IIIA", complication="ANASTOMOTIC_LEAK", leak_grade="B", length_of_stay_days="12"),
        dict(subject_id="S004", procedure_no="1", episode_no="1", procedure_date="2022-07-05", procedure_type="ESD", intent="PRIMARY", approach="ENDOSCOPIC",
             r_status="R0", stoma="NONE", clavien_dindo="NONE", complication="NONE", leak_grade="NA", length_of_stay_days="3"),
        dict(subject_id="S006", procedure_no="1", episode_no="1", procedure_date="2023-09-01", procedure_type="TAMIS", intent="PRIMARY", approach="TRANSANAL",
             r_status="R1", stoma="NONE", clavien_dindo="I", complication="BLEEDING", leak_grade="NA", length_of_stay_days="2"),
        dict(subject_id="S006", procedure_no="2", episode_no="2", procedure_date="2023-10-05", procedure_type="TME_APR", intent="COMPLETION", approach="OPEN",
             r_status="R0", stoma="PERMANENT", clavien_dindo="IVA", complication="PNEUMONIA", leak_grade="NA", length_of_stay_days="21"),
    ],
    "pathology": [
        dict(subject_id="S002", procedure_no="1", ypt="T0", ypn="N0", residual_viable_pct="0", trg_system="AJCC_CAP", trg_grade="0", nodes_examined="22", nodes_positive="0"),
        dict(subject_id="S003", procedure_no="1", ypt="T2", ypn="N0", residual_viable_pct="20.5", trg_system="MANDARD", trg_grade="2", nodes_examined="15", nodes_positive="0"),
        dict(subject_id="S004", procedure_no="1", ypt="T1", ypn="NX", residual_viable_pct="5", trg_system="BECKER", trg_grade="1B"),
        dict(subject_id="S006", procedure_no="1", ypt="T2", ypn="NX", residual_viable_pct="30", trg_system="MANDARD", trg_grade="3"),
        dict(subject_id="S006", procedure_no="2", ypt="T0", ypn="N0", residual_viable_pct="0", trg_system="MANDARD", trg_grade="1", nodes_examined="18", nodes_positive="0"),
    ],
    "ae": [
        dict(subject_id="S001", ae_no="1", term="Hypothyroidism", soc="ENDOCRINE", grade="2", onset_date="2022-03-01", immune_related="true", serious="false",
             attribution="ICI", steroids="false", outcome="ONGOING", surgery_impact="NONE"),
        dict(subject_id="S002", ae_no="1", term="Wound infection", soc="INFECTIONS", grade="2", onset_date="2022-06-08", resolution_date="2022-06-20",
             immune_related="false", serious="false", attribution="SURGERY", steroids="false", outcome="RESOLVED"),
        dict(subject_id="S002", ae_no="2", term='Diarrhoea, "watery"', soc="GI", grade="1", onset_date="2022-04-01", resolution_date="2022-04-10",
             immune_related="true", attribution="ICI", outcome="RESOLVED", surgery_impact="DELAYED"),
        dict(subject_id="S004", ae_no="1", term="Pneumonitis", soc="RESPIRATORY", grade="3", onset_date="2022-05-01", resolution_date="2022-05-20",
             immune_related="true", serious="true", attribution="ICI", steroids="true", outcome="RESOLVED", surgery_impact="DELAYED"),
    ],
    "onc_event": [
        dict(subject_id="S003", event_no="1", event_type="LOCAL_REGROWTH", event_date="2022-05-15", confirmation="BIOPSY", regrowth_site="WALL", salvage_procedure_no="1"),
        dict(subject_id="S004", event_no="1", event_type="DISTANT", event_date="2023-03-01", confirmation="IMAGING"),
    ],
    "qol": [
        dict(subject_id="S001", instrument="QLQ_C30", scale="QL2", timepoint="BASELINE", qol_date="2022-01-10", score="83.33333333333333"),
        dict(subject_id="S001", instrument="LARS", scale="TOTAL", timepoint="M12", qol_date="2023-07-30", score="12"),
        dict(subject_id="S003", instrument="LARS", scale="TOTAL", timepoint="M12", qol_date="2023-10-01", score="31"),
        dict(subject_id="S003", instrument="QLQ_CR29", scale="BI", timepoint="M6", qol_date="2023-01-01", score="66.66666666666667"),
        dict(subject_id="S006", instrument="WEXNER", scale="TOTAL", timepoint="M6", qol_date="2024-04-01", score="4"),
    ],
    "follow_up": [
        dict(subject_id="S001", last_contact_date="2024-06-01", vital_status="ALIVE"),
        dict(subject_id="S002", last_contact_date="2024-05-01", vital_status="ALIVE"),
        dict(subject_id="S003", last_contact_date="2024-04-01", vital_status="ALIVE"),
        dict(subject_id="S004", last_contact_date="2023-09-15", vital_status="DEAD", death_date="2023-09-15", death_cause="CANCER"),
        dict(subject_id="S005", last_contact_date="2023-02-01", vital_status="ALIVE"),
        dict(subject_id="S006", last_contact_date="2024-10-01", vital_status="ALIVE"),
    ],
}


def csv_text(table: str, rows: list[dict[str, str]], header: list[str] | None = None) -> str:
    header = header or list(TABLES_BY_NAME[table].column_names)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([r.get(h, "") for h in header])
    return buf.getvalue()


def write_valid(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t in TABLES:
        (folder / f"{t.name}.csv").write_text(csv_text(t.name, ROWS[t.name]), encoding="utf-8")
    return folder


def read_rows(folder: Path, table: str) -> tuple[list[str], list[list[str]]]:
    with (folder / f"{table}.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write_rows(folder: Path, table: str, header: list[str], rows: list[list[str]]) -> None:
    with (folder / f"{table}.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def set_cell(folder: Path, table: str, subject: str, column: str, value: str, nth: int = 0) -> int:
    """Set one cell of the nth row of a subject; returns the file line number of that row."""
    header, rows = read_rows(folder, table)
    idx = [i for i, r in enumerate(rows) if r[0] == subject][nth]
    rows[idx][header.index(column)] = value
    write_rows(folder, table, header, rows)
    return idx + 2


def append_row(folder: Path, table: str, values: dict[str, str]) -> int:
    header, rows = read_rows(folder, table)
    rows.append([values.get(h, "") for h in header])
    write_rows(folder, table, header, rows)
    return len(rows) + 1


def line_of(table: str, subject: str, nth: int = 0) -> int:
    idx = [i for i, r in enumerate(ROWS[table]) if r["subject_id"] == subject][nth]
    return idx + 2
