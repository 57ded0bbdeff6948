"""The two worked examples of docs/examples/: synthetic surgeons' workbooks, as sites keep them.

:func:`make_patients` draws seeded synthetic patients (the *truth*, in canonical codes);
:func:`write_english` and :func:`write_chinese` write them the way a surgeon's own workbook
would (own headers, own codes, dates typed or written as text, a hidden list sheet, an
identifier column that must not be imported); :func:`expected_tables` gives the canonical
rows the shipped mapping files must produce, computed from the truth and not from the
mapping code, so tests can check the imported registry cell by cell.

SYNTHETIC DATA: none of these are real patients. Regenerate with
``python docs/examples/make_examples.py``.
"""

from __future__ import annotations

import datetime as _dt
import random
from dataclasses import dataclass
from pathlib import Path

SEED_EN, SEED_ZH = 20260716, 20260717
N_EN, N_ZH = 30, 30
SYNTHETIC_NOTE = "SYNTHETIC DATA - not real patients (NOR-MP dashboard worked example)"

SITE_EN = {"RECTUM": "Rectum", "COLON": "Colon", "GASTRIC": "Stomach", "GEJ": "GOJ"}
SITE_ZH = {"RECTUM": "直肠", "COLON": "结肠", "GASTRIC": "胃", "GEJ": "食管胃结合部"}
MMR_EN = {"DMMR_IHC": "dMMR (IHC)", "MSIH_PCR": "MSI-H (PCR)", "POLE": "POLE"}
MMR_ZH = {"DMMR_IHC": "dMMR", "MSIH_PCR": "MSI-H", "POLE": "POLE突变"}
REGIMEN_EN = {"PD1": ("Dostarlimab", "dostarlimab"), "PD1_CTLA4": ("Nivolumab + Ipilimumab", "nivolumab+ipilimumab")}
REGIMEN_ZH = {"PD1": ("信迪利单抗", "sintilimab"), "PD1_CTLA4": ("卡度尼利单抗", "cadonilimab")}
RESP_EN = {"CCR": "cCR", "NEAR_CCR": "near-cCR", "NON_CCR": "Incomplete"}
RESP_ZH = {"CCR": "cCR", "NEAR_CCR": "near-cCR", "NON_CCR": "非cCR"}
OP = {"RECTUM": ("TME_LAR", "LAR", "低位前切除术"), "COLON": ("COLECTOMY", "Right hemicolectomy", "右半结肠切除术"),
      "GASTRIC": ("GASTRECTOMY_DISTAL", "Distal gastrectomy", "远端胃切除术"),
      "GEJ": ("OESOPHAGECTOMY", "Ivor Lewis", "食管切除术")}
APR = ("TME_APR", "APR", "腹会阴联合切除术")
AES = (("Diarrhoea", "GI", "腹泻"), ("Hypothyroidism", "ENDOCRINE", "甲状腺功能减退"), ("Rash", "SKIN", "皮疹"),
       ("Fatigue", "GENERAL", "乏力"), ("Hepatitis", "HEPATOBILIARY", "肝炎"))
CUTOFF = _dt.date(2026, 6, 30)


@dataclass
class Patient:
    no: int
    sex: str
    age: int
    site: str
    biomarker: str
    ct: str
    cn: str
    distance_cm: float | None
    cea: float | None
    t0: _dt.date
    regimen: str
    cycles: int
    restaging: _dt.date
    response: str
    ww: bool
    regrowth: _dt.date | None
    surgery: _dt.date | None
    procedure: str | None
    last_fu: _dt.date
    dead: bool
    aes: list[tuple[int, int, _dt.date, bool, bool]]  # (AE index, grade, onset, immune related, steroids)


def make_patients(n: int, seed: int, *, gej: bool = True, start: int = 1) -> list[Patient]:
    """Seeded synthetic patients, consistent with the validator's date rules (``gej=False``: no
    gastro-oesophageal junction tumours)."""
    rng = random.Random(seed)
    out = []
    for i in range(start, start + n):
        site = rng.choices(["RECTUM", "COLON", "GASTRIC", "GEJ"], [5, 3, 2, 1 if gej else 0])[0]
        t0 = _dt.date(2021, 1, 4) + _dt.timedelta(days=rng.randrange(0, 1200))
        cycles = rng.choice([4, 6, 8, 9, 12])
        restaging = t0 + _dt.timedelta(days=21 * cycles + rng.randrange(7, 28))
        response = rng.choices(["CCR", "NEAR_CCR", "NON_CCR"], [6, 2, 2])[0]
        ww = response == "CCR" or (response == "NEAR_CCR" and rng.random() < 0.5)
        regrowth = surgery = None
        procedure = None
        if ww and rng.random() < 0.2:
            regrowth = restaging + _dt.timedelta(days=rng.randrange(90, 600))
            surgery = regrowth + _dt.timedelta(days=rng.randrange(14, 45))
        elif not ww:
            surgery = restaging + _dt.timedelta(days=rng.randrange(14, 40))
        if surgery is not None:
            procedure = OP[site][0] if not (site == "RECTUM" and rng.random() < 0.25) else APR[0]
        last = max(d for d in (restaging, regrowth, surgery) if d is not None)
        last_fu = max(last + _dt.timedelta(days=30), min(CUTOFF, last + _dt.timedelta(days=rng.randrange(60, 900))))
        dead = rng.random() < 0.08
        aes = []
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            onset = t0 + _dt.timedelta(days=rng.randrange(7, max(8, (restaging - t0).days)))
            aes.append((rng.randrange(len(AES)), rng.choices([1, 2, 3], [5, 3, 1])[0], onset, rng.random() < 0.8,
                        rng.random() < 0.3))
        out.append(Patient(
            no=i, sex=rng.choice("MF"), age=rng.randrange(28, 82), site=site,
            biomarker=rng.choices(["DMMR_IHC", "MSIH_PCR", "POLE"], [7, 2, 1])[0],
            ct=rng.choice(["T2", "T3", "T3", "T4A"]), cn=rng.choice(["N0", "N1", "N2"]),
            distance_cm=round(rng.uniform(2, 12), 1) if site == "RECTUM" else None,
            cea=round(rng.uniform(0.5, 40), 1) if rng.random() < 0.9 else None,
            t0=t0, regimen=rng.choices(["PD1", "PD1_CTLA4"], [3, 1])[0], cycles=cycles, restaging=restaging,
            response=response, ww=ww, regrowth=regrowth, surgery=surgery, procedure=procedure, last_fu=last_fu,
            dead=dead, aes=aes))
    return out


def _dmy(d: _dt.date | None) -> str | None:
    return None if d is None else f"{d.day:02d}/{d.month:02d}/{d.year}"


def _zh(d: _dt.date | None) -> str | None:
    return None if d is None else f"{d.year}年{d.month}月{d.day}日"


def _slash(d: _dt.date | None) -> str | None:
    return None if d is None else f"{d.year}/{d.month}/{d.day}"


def _op_text(p: Patient, lang: int) -> str | None:
    if p.procedure is None:
        return None
    for code, en, zh in (*OP.values(), APR):
        if code == p.procedure:
            return en if lang == 1 else zh
    raise AssertionError(p.procedure)


def _save(wb, path: Path) -> None:
    wb.properties.creator = "NOR-MP dashboard worked example (synthetic)"
    wb.properties.created = wb.properties.modified = _dt.datetime(2026, 7, 16)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def english_rows(patients: list[Patient]) -> tuple[list[str], list[list]]:
    header = ["Pt ID", "Hospital number", "Sex (M/F)", "Age", "Tumour location", "MMR status", "cTNM",
              "Distance from AV (mm)", "CEA", "Date of 1st PD-1", "Regimen", "Cycles", "Restaging date", "Response",
              "W&W Y/N", "Regrowth date", "Surgery date", "Operation", "Status at last FU", "Last FU date",
              "Date of death", "Notes"]
    rows = []
    for p in patients:
        status = "Dead" if p.dead else ("Alive - NED" if p.no % 3 else "Alive with disease")
        rows.append([f"P-{p.no:03d}", f"H{900000 + p.no * 37}", p.sex, p.age, SITE_EN[p.site], MMR_EN[p.biomarker],
                     f"{p.ct.replace('A', 'a')}{p.cn}", None if p.distance_cm is None else int(round(p.distance_cm * 10)),
                     p.cea, p.t0, REGIMEN_EN[p.regimen][0], p.cycles, _dmy(p.restaging), RESP_EN[p.response],
                     "Y" if p.ww else "N", p.regrowth, p.surgery, _op_text(p, 1), status, p.last_fu,
                     p.last_fu if p.dead else None, "seen in clinic" if p.no % 7 == 0 else None])
    return header, rows


def write_english(path: Path, patients: list[Patient]) -> Path:
    """An English surgeon's workbook: sheet "Patients" (one row each), "AEs", hidden "Lists"."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Patients"
    header, rows = english_rows(patients)
    ws.append(header)
    for r in rows:
        ws.append(r)
    for col in ("J", "P", "Q", "T", "U"):
        for cell in ws[col][1:]:
            cell.number_format = "DD/MM/YYYY"
    ae = wb.create_sheet("AEs")
    ae.append(["Pt ID", "AE", "CTCAE grade", "Onset", "irAE?", "Steroids"])
    for p in patients:
        for k, grade, onset, irae, steroids in p.aes:
            ae.append([f"P-{p.no:03d}", AES[k][0], grade, onset, "Y" if irae else "N", "Y" if steroids else "N"])
    for cell in ae["D"][1:]:
        cell.number_format = "DD/MM/YYYY"
    lists = wb.create_sheet("Lists")
    lists.append(["Response", "Status"])
    for a, b in zip(RESP_EN.values(), ("Alive - NED", "Alive with disease", "Dead")):
        lists.append([a, b])
    lists.sheet_state = "hidden"
    readme = wb.create_sheet("README")
    readme.append([SYNTHETIC_NOTE])
    _save(wb, path)
    return path


def chinese_rows(patients: list[Patient]) -> tuple[list[str], list[list]]:
    header = ["病例号", "住院号", "性别", "年龄", "肿瘤部位", "错配修复状态", "临床分期", "距肛缘距离(cm)", "基线CEA",
              "首次免疫治疗日期", "免疫治疗方案", "周期数", "再分期日期", "疗效评估", "观察等待", "复发日期", "手术日期",
              "手术方式", "生存状态", "末次随访日期", "死亡日期", "备注"]
    rows = []
    for p in patients:
        rows.append([f"病例{p.no:03d}", f"ZY{700000 + p.no * 53}", "男" if p.sex == "M" else "女", p.age, SITE_ZH[p.site],
                     MMR_ZH[p.biomarker], f"c{p.ct.replace('A', 'a')}{p.cn}M0", p.distance_cm, p.cea, _zh(p.t0),
                     REGIMEN_ZH[p.regimen][0], p.cycles, _slash(p.restaging), RESP_ZH[p.response], "是" if p.ww else "否",
                     _zh(p.regrowth), _zh(p.surgery), _op_text(p, 2), "死亡" if p.dead else "存活", _zh(p.last_fu),
                     _zh(p.last_fu) if p.dead else None, "失访风险" if p.no % 9 == 0 else None])
    return header, rows


def write_chinese(path: Path, patients: list[Patient]) -> Path:
    """A Chinese surgeon's workbook: sheet "病例登记" (dates written as 2023年3月5日 text), hidden "说明"."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "病例登记"
    header, rows = chinese_rows(patients)
    ws.append(header)
    for r in rows:
        ws.append(r)
    note = wb.create_sheet("说明")
    note.append(["模拟数据——非真实患者"])
    note.append([SYNTHETIC_NOTE])
    note.sheet_state = "hidden"
    _save(wb, path)
    return path


def _iso(d: _dt.date | None) -> str | None:
    return None if d is None else d.isoformat()


def expected_tables(patients: list[Patient], prefix: str, lang: int) -> dict[str, list[dict[str, str | None]]]:
    """The canonical rows (text, as in the canonical CSV) the shipped mapping must produce."""
    centre = {1: "LDN", 2: "PKU"}[lang]
    regimen = REGIMEN_EN if lang == 1 else REGIMEN_ZH
    t: dict[str, list[dict[str, str | None]]] = {k: [] for k in ("subject", "follow_up", "ici_exposure", "assessment",
                                                                "strategy_episode", "procedure", "onc_event", "ae")}
    for p in patients:
        sid = f"{prefix}-{p.no:03d}"
        t["subject"].append({"subject_id": sid, "cohort": "RETRO", "centre": centre, "registration_date": _iso(p.t0),
                             "eligibility": "ELIGIBLE", "age": str(p.age), "sex": p.sex, "tumour_site": p.site,
                             "biomarker_basis": p.biomarker, "ct": p.ct, "cn": p.cn,
                             "cm": "M0" if lang == 2 else None,
                             "distance_av_cm": None if p.distance_cm is None else repr(float(p.distance_cm)),
                             "cea_baseline": None if p.cea is None else repr(float(p.cea))})
        t["follow_up"].append({"subject_id": sid, "last_contact_date": _iso(p.last_fu),
                               "vital_status": "DEAD" if p.dead else "ALIVE", "death_date": _iso(p.last_fu) if p.dead else None})
        t["ici_exposure"].append({"subject_id": sid, "exposure_no": "1", "regimen_class": p.regimen,
                                  "drugs": regimen[p.regimen][1] if lang == 2 else regimen[p.regimen][0],
                                  "start_date": _iso(p.t0), "cycles": str(p.cycles)})
        t["assessment"].append({"subject_id": sid, "assessment_no": "1", "assessment_date": _iso(p.restaging),
                                "timepoint": "RESTAGING", "modality": "ENDOSCOPY", "overall_response": p.response})
        ep = 0
        if p.ww:
            ep += 1
            t["strategy_episode"].append({"subject_id": sid, "episode_no": str(ep), "strategy": "WW",
                                          "decision_date": _iso(p.restaging), "start_date": _iso(p.restaging),
                                          "trigger": "INITIAL"})
        if p.surgery is not None:
            ep += 1
            t["strategy_episode"].append({"subject_id": sid, "episode_no": str(ep), "strategy": "RO",
                                          "decision_date": _iso(p.regrowth if p.ww else p.restaging),
                                          "start_date": _iso(p.surgery), "trigger": "REGROWTH" if p.ww else "INITIAL"})
            t["procedure"].append({"subject_id": sid, "procedure_no": "1", "episode_no": str(ep),
                                   "procedure_date": _iso(p.surgery), "procedure_type": p.procedure,
                                   "intent": "SALVAGE" if p.ww else "PRIMARY"})
        if p.regrowth is not None:
            t["onc_event"].append({"subject_id": sid, "event_no": "1", "event_type": "LOCAL_REGROWTH",
                                   "event_date": _iso(p.regrowth), "salvage_procedure_no": "1" if p.surgery else None})
        if lang == 1:
            for k, (i, grade, onset, irae, steroids) in enumerate(p.aes, start=1):
                t["ae"].append({"subject_id": sid, "ae_no": str(k), "term": AES[i][0], "soc": AES[i][1],
                                "grade": str(grade), "onset_date": _iso(onset), "immune_related": "true" if irae else "false",
                                "attribution": "ICI", "steroids": "true" if steroids else "false"})
    return t


def chinese_update(patients: list[Patient]) -> list[Patient]:
    """The Chinese workbook a few months later: two more patients, one of them with a
    gastro-oesophageal junction tumour (食管胃结合部), a value the first mapping never saw."""
    new = make_patients(2, SEED_ZH + 1, start=len(patients) + 1)
    new[0].site = "GEJ"
    if new[0].procedure is not None:
        new[0].procedure = OP["GEJ"][0]
    new[0].distance_cm = None
    for p in new[1:]:
        if p.site == "GEJ":
            p.site, p.procedure = "GASTRIC", (OP["GASTRIC"][0] if p.procedure else None)
    return patients + new


def write_examples(directory: Path) -> list[Path]:
    """Write both worked examples and the Chinese update into ``directory``."""
    zh = make_patients(N_ZH, SEED_ZH, gej=False)
    return [write_english(directory / "english_surgeon_workbook.xlsx", make_patients(N_EN, SEED_EN)),
            write_chinese(directory / "chinese_surgeon_workbook.xlsx", zh),
            write_chinese(directory / "chinese_surgeon_workbook_update.xlsx", chinese_update(zh))]
