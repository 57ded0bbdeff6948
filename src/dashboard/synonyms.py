"""Synonyms of the registry's columns and codes, in English and Chinese: what a site's own
spreadsheet calls them. Kept beside schema.py (the names it lists must exist there; a test
checks it) and used by the mapping wizard to *suggest* a source column for every target
column and a code for every source value. A suggestion is never applied silently: the data
manager confirms it.

Matching is on normalised text (:func:`normalise`): lower case, full-width characters folded,
punctuation and spaces dropped. Chinese terms follow /work/shared/glossary-zh.md; terms added
here beyond it are listed in :data:`ADDED_ZH_TERMS` for a clinician to review.
"""

from __future__ import annotations

import re
import unicodedata
from types import MappingProxyType
from typing import Mapping

_TNM = ("ctnm", "tnm", "clinical stage", "临床分期", "cTNM分期")  # one column holding T, N and M: each takes its part
SHARED_TARGETS = frozenset({"subject.ct", "subject.cn", "subject.cm"})  # may share one source column

# table.column -> names a source column may carry (besides the column's own name)
COLUMN_SYNONYMS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "subject.subject_id": ("pt id", "patient id", "patient", "study id", "id", "record id", "case id", "subject",
                           "病例号", "病例编号", "患者编号", "编号", "研究编号", "ID"),
    "subject.cohort": ("registry part", "cohort", "part", "登记部分", "队列"),
    "subject.centre": ("centre", "center", "centre code", "treating centre", "中心", "研究中心"),
    "subject.registration_date": ("registration date", "date of registration", "enrolment date", "enrollment date",
                                  "consent date", "登记日期", "入组日期"),
    "subject.eligibility": ("eligibility", "eligible", "exclusion reason", "入组资格", "排除原因"),
    "subject.age": ("age", "age at treatment", "age (years)", "年龄", "年龄(岁)"),
    "subject.sex": ("sex", "sex (m/f)", "gender", "性别"),
    "subject.ecog": ("ecog", "ecog ps", "performance status", "ps", "ECOG评分", "体能状态"),
    "subject.tumour_site": ("tumour location", "tumor location", "tumour site", "tumor site", "primary site",
                            "site of primary", "location", "肿瘤部位", "原发部位", "部位"),
    "subject.histology": ("histology", "histological type", "pathology type", "病理类型", "组织学类型"),
    "subject.biomarker_basis": ("mmr status", "mmr/msi status", "msi status", "biomarker", "mmr", "错配修复状态",
                                "MMR状态", "MSI状态", "分子分型"),
    "subject.mmr_loss": ("mmr protein loss", "ihc loss", "lost proteins", "MMR蛋白缺失"),
    "subject.lynch": ("lynch", "lynch syndrome", "林奇综合征", "Lynch综合征"),
    "subject.braf": ("braf", "braf v600e", "BRAF突变"),
    "subject.ct": ("ct", "ct stage", "clinical t", "临床T分期", "cT分期", *_TNM),
    "subject.cn": ("cn", "cn stage", "clinical n", "临床N分期", "cN分期", *_TNM),
    "subject.cm": ("cm", "cm stage", "clinical m", "临床M分期", "cM分期", *_TNM),
    "subject.distance_av_cm": ("distance from av", "distance from anal verge", "distance from av (mm)",
                               "distance from av (cm)", "height", "距肛缘距离", "距肛缘距离(cm)", "距肛缘(cm)"),
    "subject.cea_baseline": ("cea", "baseline cea", "cea (ng/ml)", "基线CEA", "CEA"),
    "subject.ctdna_baseline": ("ctdna", "baseline ctdna", "基线ctDNA"),
    "follow_up.last_contact_date": ("last fu date", "date of last fu", "last follow-up", "last follow up date",
                                    "date last seen", "last contact", "末次随访日期", "最后随访日期", "随访日期"),
    "follow_up.vital_status": ("status at last fu", "vital status", "status", "alive/dead", "生存状态", "随访状态",
                               "末次随访状态"),
    "follow_up.death_date": ("date of death", "death date", "died", "死亡日期"),
    "follow_up.death_cause": ("cause of death", "死亡原因"),
    "ici_exposure.start_date": ("date of 1st pd-1", "date of first pd-1", "first dose", "first dose date",
                                "ici start", "immunotherapy start", "首次免疫治疗日期", "免疫治疗开始日期", "首次用药日期"),
    "ici_exposure.end_date": ("last dose", "ici end", "免疫治疗结束日期", "末次用药日期"),
    "ici_exposure.drugs": ("drug", "drugs", "agent", "pd-1 agent", "药物", "免疫治疗药物"),
    "ici_exposure.regimen_class": ("regimen", "ici regimen", "免疫治疗方案", "方案"),
    "ici_exposure.cycles": ("cycles", "no. of cycles", "number of cycles", "周期数", "疗程数"),
    "assessment.assessment_date": ("restaging date", "date of restaging", "再分期日期", "疗效评估日期"),
    "assessment.overall_response": ("response", "clinical response", "restaging response", "疗效", "疗效评估",
                                    "临床疗效"),
    "strategy_episode.strategy": ("w&w y/n", "watch and wait", "w&w", "nom", "strategy", "观察等待", "治疗策略"),
    "procedure.procedure_date": ("surgery date", "date of surgery", "operation date", "手术日期"),
    "procedure.procedure_type": ("operation", "surgery", "procedure", "type of surgery", "手术方式", "术式"),
    "onc_event.event_date": ("regrowth date", "date of regrowth", "recurrence date", "复发日期", "再生长日期"),
})

# vocabulary -> code -> source values that mean it (English and Chinese)
VALUE_SYNONYMS: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "sex": {"M": ("m", "male", "man", "男", "男性"), "F": ("f", "female", "woman", "女", "女性")},
    "cohort": {"RETRO": ("retrospective", "retro", "回顾性"), "PROSP": ("prospective", "prosp", "前瞻性")},
    "tumour_site": {
        "RECTUM": ("rectum", "rectal", "直肠", "直肠癌"),
        "COLON": ("colon", "colonic", "caecum", "sigmoid", "结肠", "结肠癌"),
        "GASTRIC": ("stomach", "gastric", "胃", "胃癌"),
        "GEJ": ("gej", "goj", "egj", "gastro-oesophageal junction", "gastroesophageal junction", "oesophagogastric junction", "食管胃结合部", "贲门"),
    },
    "biomarker_basis": {
        "DMMR_IHC": ("dmmr", "dmmr (ihc)", "dmmr ihc", "mmr deficient", "错配修复缺陷"),
        "MSIH_PCR": ("msi-h", "msi-h (pcr)", "msi high", "微卫星高度不稳定"),
        "MSIH_NGS": ("msi-h (ngs)", "msi-h ngs"),
        "POLE": ("pole", "pole mutation", "pole mut", "POLE突变"),
    },
    "histology": {"ADENO": ("adenocarcinoma", "adeno", "腺癌"), "MUCINOUS": ("mucinous", "黏液腺癌", "粘液腺癌"),
                  "SRCC": ("signet ring", "signet-ring", "印戒细胞癌"), "SCC": ("squamous", "鳞癌", "鳞状细胞癌")},
    "yes_no_unknown": {"YES": ("yes", "y", "是", "有"), "NO": ("no", "n", "否", "无"), "UNKNOWN": ("unknown", "不详", "未知")},
    "response": {"CCR": ("ccr", "complete", "clinical complete response", "临床完全缓解"),
                 "NEAR_CCR": ("near-ccr", "near ccr", "ncr", "接近临床完全缓解", "近cCR"),
                 "NON_CCR": ("non-ccr", "incomplete", "partial", "pr", "sd", "非cCR", "非临床完全缓解")},
    "vital_status": {"ALIVE": ("alive", "alive, ned", "alive with disease", "awd", "ned", "存活", "生存", "无瘤生存",
                               "带瘤生存"),
                     "DEAD": ("dead", "died", "deceased", "死亡")},
    "regimen_class": {"PD1": ("pd-1", "anti-pd-1", "dostarlimab", "pembrolizumab", "nivolumab", "toripalimab",
                              "sintilimab", "tislelizumab", "camrelizumab", "PD-1单抗", "信迪利单抗", "特瑞普利单抗",
                              "替雷利珠单抗", "卡瑞利珠单抗", "帕博利珠单抗", "纳武利尤单抗"),
                      "PD1_CTLA4": ("pd-1+ctla-4", "nivo+ipi", "nivolumab+ipilimumab", "PD-1+CTLA-4", "cadonilimab",
                                    "卡度尼利单抗"),
                      "PDL1": ("pd-l1", "durvalumab", "atezolizumab", "envafolimab"),
                      "PDL1_CTLA4": ("pd-l1+ctla-4", "treme+durva"),
                      "PD1_LAG3": ("pd-1+lag-3", "nivo+relatlimab"),
                      "PD1_CHEMO": ("pd-1+chemo", "pd-1+chemotherapy", "PD-1+化疗")},
    "procedure_type": {
        "TME_LAR": ("lar", "low anterior resection", "anterior resection", "tme", "低位前切除术", "低位前切除"),
        "TME_APR": ("apr", "abdominoperineal resection", "腹会阴联合切除术", "腹会阴联合切除"),
        "COLECTOMY": ("colectomy", "right hemicolectomy", "left hemicolectomy", "sigmoid colectomy", "结肠切除术",
                      "右半结肠切除术", "左半结肠切除术"),
        "GASTRECTOMY_TOTAL": ("total gastrectomy", "全胃切除术"),
        "GASTRECTOMY_DISTAL": ("distal gastrectomy", "远端胃切除术"),
        "OESOPHAGECTOMY": ("oesophagectomy", "esophagectomy", "ivor lewis", "oesophagogastrectomy", "食管切除术"),
        "TEM": ("tem", "经肛门内镜显微手术"), "TAMIS": ("tamis", "经肛门微创手术"),
        "ESD": ("esd", "内镜黏膜下剥离术"), "EMR": ("emr", "内镜黏膜切除术"),
    },
    "soc": {"GI": ("diarrhoea", "diarrhea", "colitis", "nausea", "vomiting", "腹泻", "结肠炎"),
            "ENDOCRINE": ("hypothyroidism", "hyperthyroidism", "thyroiditis", "hypophysitis", "adrenal insufficiency",
                          "甲状腺功能减退", "甲状腺功能亢进"),
            "SKIN": ("rash", "pruritus", "dermatitis", "皮疹", "瘙痒"),
            "GENERAL": ("fatigue", "fever", "pyrexia", "乏力", "发热"),
            "HEPATOBILIARY": ("hepatitis", "immune-mediated hepatitis", "肝炎"),
            "RESPIRATORY": ("pneumonitis", "肺炎")},
    "ct_stage": {"T1": ("t1", "ct1"), "T2": ("t2", "ct2"), "T3": ("t3", "ct3"), "T4A": ("t4a", "ct4a"),
                 "T4B": ("t4b", "ct4b"), "TX": ("tx", "ctx")},
    "cn_stage": {"N0": ("n0", "cn0"), "N1": ("n1", "cn1"), "N2": ("n2", "cn2"), "NX": ("nx", "cnx")},
    "ecog": {"0": ("0", "ecog 0"), "1": ("1", "ecog 1")},
    "strategy": {"WW": ("w&w", "watch and wait", "watch & wait", "nom", "观察等待"),
                 "RO": ("radical", "radical surgery", "surgery", "根治性手术"),
                 "LE": ("local excision", "局部切除")},
})

# Chinese terms used above that /work/shared/glossary-zh.md does not list (for clinical review).
ADDED_ZH_TERMS: tuple[str, ...] = ("病例号", "病例编号", "患者编号", "入组日期", "登记日期", "性别", "男", "女", "年龄",
                                   "肿瘤部位", "原发部位", "错配修复状态", "周期数", "再分期日期", "疗效评估", "复发日期",
                                   "手术日期", "手术方式", "末次随访日期", "生存状态", "存活", "死亡", "死亡日期",
                                   "首次免疫治疗日期", "是", "否", "贲门", "近cCR", "非cCR", "PD-1单抗", "信迪利单抗", "特瑞普利单抗",
                                   "替雷利珠单抗", "卡瑞利珠单抗", "帕博利珠单抗", "纳武利尤单抗", "卡度尼利单抗", "腹泻",
                                   "结肠炎", "甲状腺功能减退", "甲状腺功能亢进", "皮疹", "瘙痒", "乏力", "发热", "肝炎",
                                   "肺炎", "食管切除术")

_DROP = re.compile(r"[\s\-_./\\()\[\]{}:：（）【】,，;；'\"`?？!！*#+]+")


def normalise(text: str) -> str:
    """Lower case, full-width folded (NFKC), punctuation and blanks removed."""
    return _DROP.sub("", unicodedata.normalize("NFKC", str(text)).casefold())


def suggest_column(target: str, source_columns: list[str]) -> str | None:
    """The source column that best names ``target`` (``"table.column"``), or None.

    Exact normalised match with the column's own name or a synonym first, then a source
    name that contains a synonym of 3+ characters (the longest wins)."""
    table, column = target.split(".", 1)
    names = (column, column.replace("_", " "), *COLUMN_SYNONYMS.get(target, ()))
    wanted = {normalise(n) for n in names if normalise(n)}
    norm = {s: normalise(s) for s in source_columns}
    for s, n in norm.items():
        if n in wanted:
            return s
    best, best_len = None, 0
    for s, n in norm.items():
        for w in wanted:
            if len(w) >= 3 and w in n and len(w) > best_len:
                best, best_len = s, len(w)
    return best


def suggest_code(vocab: str, value: str, codes: tuple[str, ...]) -> str | None:
    """The code a source value most likely means, or None (the data manager decides)."""
    n = normalise(value)
    if not n:
        return None
    for code in codes:
        if normalise(code) == n:
            return code
    for code, words in VALUE_SYNONYMS.get(vocab, {}).items():
        if n in {normalise(w) for w in words}:
            return code
    for code, words in VALUE_SYNONYMS.get(vocab, {}).items():  # "Dostarlimab 500 mg" -> PD1
        if any(len(normalise(w)) >= 3 and normalise(w) in n for w in words):
            return code
    return None
