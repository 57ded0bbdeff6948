"""The registry data model: the single source of truth.

Every source table, column, type, controlled vocabulary, key and reference between
tables is declared here. The DuckDB DDL, the import validator, the synthetic generator,
the CSV template and docs/data-dictionary.md are all derived from these declarations.

Dates are ISO ``YYYY-MM-DD``. Codes are upper-case ASCII; each vocabulary maps a code
to the label shown on screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from .i18n import N_, gettext

SCHEMA_VERSION = "1.0"

# --------------------------------------------------------------------------------------
# Logical types -> DuckDB types
# --------------------------------------------------------------------------------------
DUCKDB_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "str": "VARCHAR",
        "code": "VARCHAR",
        "int": "INTEGER",
        "float": "DOUBLE",
        "date": "DATE",
        "bool": "BOOLEAN",
    }
)


@dataclass(frozen=True)
class Vocabulary:
    """A controlled vocabulary: ordered codes with display labels."""

    name: str
    items: tuple[tuple[str, str], ...]
    description: str = ""

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.items)

    @property
    def labels(self) -> dict[str, str]:
        """Code -> label in the current language (``dashboard.i18n``)."""
        return {code: gettext(label) for code, label in self.items}

    @property
    def source_labels(self) -> dict[str, str]:
        """Code -> English label (the catalogs' source; for matching, never for display)."""
        return dict(self.items)

    def label(self, code: str | None) -> str:
        """The label of ``code`` in the current language (an unknown code as itself)."""
        if code is None:
            return gettext("Missing")
        label = self.source_labels.get(code)
        return code if label is None else gettext(label)


def _vocab(name: str, description: str, *items: tuple[str, str]) -> Vocabulary:
    return Vocabulary(name=name, items=tuple(items), description=description)


# --------------------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------------------
VOCABULARIES: dict[str, Vocabulary] = {}


def _register(v: Vocabulary) -> Vocabulary:
    VOCABULARIES[v.name] = v
    return v


COHORT = _register(_vocab("cohort", "Registry part", ("RETRO", "Retrospective"), ("PROSP", "Prospective")))
SEX = _register(_vocab("sex", "Sex", ("F", "Female"), ("M", "Male")))
ECOG = _register(_vocab("ecog", "ECOG performance status", ("0", "ECOG 0"), ("1", "ECOG 1")))
TUMOUR_SITE = _register(
    _vocab(
        "tumour_site",
        "Primary tumour site",
        ("RECTUM", "Rectum"),
        ("COLON", "Colon"),
        ("GASTRIC", "Stomach"),
        ("GEJ", "Gastro-oesophageal junction"),
    )
)
HISTOLOGY = _register(
    _vocab(
        "histology",
        "Histology",
        ("ADENO", "Adenocarcinoma"),
        ("MUCINOUS", "Mucinous adenocarcinoma"),
        ("SRCC", "Signet-ring cell carcinoma"),
        ("SCC", "Squamous cell carcinoma"),
    )
)
BIOMARKER_BASIS = _register(
    _vocab(
        "biomarker_basis",
        "Basis of eligibility biomarker",
        ("DMMR_IHC", "dMMR by IHC"),
        ("MSIH_PCR", "MSI-H by PCR"),
        ("MSIH_NGS", "MSI-H by NGS"),
        ("POLE", "POLE exonuclease-domain mutation"),
    )
)
MMR_LOSS = _register(
    _vocab(
        "mmr_loss",
        "MMR protein loss on IHC",
        ("MLH1_PMS2", "MLH1/PMS2 loss"),
        ("MSH2_MSH6", "MSH2/MSH6 loss"),
        ("MSH6", "Isolated MSH6 loss"),
        ("PMS2", "Isolated PMS2 loss"),
        ("RETAINED", "Retained expression"),
    )
)
YES_NO_UNK = _register(_vocab("yes_no_unknown", "Yes / no / unknown", ("YES", "Yes"), ("NO", "No"), ("UNKNOWN", "Unknown")))
BRAF = _register(_vocab("braf", "BRAF V600E status", ("MUT", "BRAF V600E mutant"), ("WT", "BRAF wild-type"), ("UNKNOWN", "Not tested")))
CT_STAGE = _register(
    _vocab(
        "ct_stage",
        "Clinical T stage (AJCC 8th)",
        ("T1", "cT1"),
        ("T2", "cT2"),
        ("T3", "cT3"),
        ("T4A", "cT4a"),
        ("T4B", "cT4b"),
        ("TX", "cTx"),
    )
)
CN_STAGE = _register(_vocab("cn_stage", "Clinical N stage", ("N0", "cN0"), ("N1", "cN1"), ("N2", "cN2"), ("NX", "cNx")))
CM_STAGE = _register(_vocab("cm_stage", "Clinical M stage", ("M0", "cM0"), ("M1", "cM1 (treatable oligometastasis)")))
CTDNA = _register(_vocab("ctdna", "ctDNA result", ("POS", "Detected"), ("NEG", "Not detected"), ("NOT_DONE", "Not done")))
ELIGIBILITY = _register(
    _vocab(
        "eligibility",
        "Eligibility at registration; anything but ELIGIBLE is an exclusion reason",
        ("ELIGIBLE", "Eligible"),
        ("PMMR_MSS", "pMMR/MSS on central review"),
        ("NO_ICI", "Did not start immunotherapy"),
        ("CONSENT_WITHDRAWN", "Consent withdrawn"),
        ("OTHER_MALIGNANCY", "Other active malignancy"),
        ("UNTREATABLE_MET", "Untreatable distant metastasis"),
    )
)
REGIMEN_CLASS = _register(
    _vocab(
        "regimen_class",
        "Immunotherapy regimen class",
        ("PD1", "Anti-PD-1 alone"),
        ("PDL1", "Anti-PD-L1 alone"),
        ("PD1_CTLA4", "Anti-PD-1 + anti-CTLA-4"),
        ("PDL1_CTLA4", "Anti-PD-L1 + anti-CTLA-4"),
        ("PD1_LAG3", "Anti-PD-1 + anti-LAG-3"),
        ("PD1_CHEMO", "Anti-PD-1 + chemotherapy"),
    )
)
ICI_STOP = _register(
    _vocab(
        "ici_stop",
        "Reason immunotherapy ended",
        ("COMPLETED", "Completed as planned"),
        ("TOXICITY", "Toxicity"),
        ("PROGRESSION", "Progression"),
        ("PATIENT_CHOICE", "Patient choice"),
        ("SURGERY", "Proceeded to surgery"),
        ("OTHER", "Other"),
    )
)
TIMEPOINT = _register(
    _vocab(
        "assessment_timepoint",
        "Assessment timepoint",
        ("BASELINE", "Baseline"),
        ("RESTAGING", "Restaging"),
        ("SURVEILLANCE", "Surveillance"),
        ("UNSCHEDULED", "Unscheduled"),
    )
)
MODALITY = _register(
    _vocab(
        "modality",
        "Assessment modality",
        ("ENDOSCOPY", "Endoscopy"),
        ("MRI", "MRI (with DWI)"),
        ("CT", "CT chest/abdomen/pelvis"),
        ("PET_CT", "PET-CT"),
        ("EUS", "Endoscopic ultrasound"),
        ("DRE", "Digital rectal examination"),
        ("BIOPSY", "Biopsy"),
        ("CTDNA", "ctDNA"),
        ("CEA", "CEA"),
    )
)
EXAM_RESULT = _register(
    _vocab(
        "exam_result",
        "Result of one examination",
        ("NED", "No evidence of disease"),
        ("EQUIVOCAL", "Equivocal"),
        ("TUMOUR", "Tumour present"),
        ("NOT_EVALUABLE", "Not evaluable"),
    )
)
RESPONSE = _register(
    _vocab(
        "response",
        "Clinical response (OPRA / MSKCC three-tier)",
        ("CCR", "cCR"),
        ("NEAR_CCR", "near-cCR"),
        ("NON_CCR", "non-cCR"),
    )
)
STRATEGY = _register(
    _vocab(
        "strategy",
        "Treatment strategy of an episode",
        ("WW", "Watch & Wait"),
        ("LE", "Local excision (TEM/TAMIS)"),
        ("ESD", "Endoscopic submucosal dissection"),
        ("EMR", "Endoscopic mucosal resection"),
        ("RO", "Radical operation"),
        ("SYSTEMIC", "Systemic therapy"),
    )
)
STRATEGY_GROUP = _register(
    _vocab(
        "strategy_group",
        "Strategy group compared in the study",
        ("NOM", "Watch & Wait (NOM)"),
        ("OPFS", "Local excision / endoscopic resection (OPFS)"),
        ("RO", "Radical surgery (RO)"),
        ("SYSTEMIC", "Systemic therapy only"),
    )
)
TRIGGER = _register(
    _vocab(
        "episode_trigger",
        "What started a strategy episode",
        ("INITIAL", "Initial strategy at restaging"),
        ("REGROWTH", "Local regrowth"),
        ("ADVERSE_PATHOLOGY", "Adverse pathology after local excision"),
        ("PATIENT_CHOICE", "Patient choice"),
        ("DISTANT_MET", "Distant metastasis"),
        ("RECURRENCE", "Local or regional recurrence"),
        ("RESPONSE", "Response after local excision"),
    )
)
PROCEDURE_TYPE = _register(
    _vocab(
        "procedure_type",
        "Procedure",
        ("TME_LAR", "Low anterior resection (TME)"),
        ("TME_APR", "Abdominoperineal resection"),
        ("COLECTOMY", "Colectomy"),
        ("GASTRECTOMY_TOTAL", "Total gastrectomy"),
        ("GASTRECTOMY_DISTAL", "Distal gastrectomy"),
        ("OESOPHAGECTOMY", "Oesophagectomy / oesophagogastrectomy"),
        ("TEM", "Transanal endoscopic microsurgery"),
        ("TAMIS", "Transanal minimally invasive surgery"),
        ("ESD", "Endoscopic submucosal dissection"),
        ("EMR", "Endoscopic mucosal resection"),
    )
)
# Procedures that remove the organ: the organ is lost at the first of these.
RADICAL_PROCEDURES: frozenset[str] = frozenset(
    {"TME_LAR", "TME_APR", "COLECTOMY", "GASTRECTOMY_TOTAL", "GASTRECTOMY_DISTAL", "OESOPHAGECTOMY"}
)
LOCAL_PROCEDURES: frozenset[str] = frozenset({"TEM", "TAMIS", "ESD", "EMR"})
PROCEDURE_INTENT = _register(
    _vocab(
        "procedure_intent",
        "Why the procedure was done",
        ("PRIMARY", "Primary treatment"),
        ("SALVAGE", "Salvage for regrowth or recurrence"),
        ("COMPLETION", "Completion after adverse pathology"),
    )
)
APPROACH = _register(
    _vocab(
        "approach",
        "Surgical approach",
        ("OPEN", "Open"),
        ("LAPAROSCOPIC", "Laparoscopic"),
        ("ROBOTIC", "Robotic"),
        ("TRANSANAL", "Transanal"),
        ("ENDOSCOPIC", "Endoscopic"),
    )
)
R_STATUS = _register(_vocab("r_status", "Resection margin", ("R0", "R0"), ("R1", "R1"), ("R2", "R2"), ("RX", "Rx")))
STOMA = _register(_vocab("stoma", "Stoma", ("NONE", "No stoma"), ("TEMPORARY", "Temporary stoma"), ("PERMANENT", "Permanent stoma")))
CLAVIEN_DINDO = _register(
    _vocab(
        "clavien_dindo",
        "Worst complication within 90 days (Clavien-Dindo)",
        ("NONE", "No complication"),
        ("I", "I"),
        ("II", "II"),
        ("IIIA", "IIIa"),
        ("IIIB", "IIIb"),
        ("IVA", "IVa"),
        ("IVB", "IVb"),
        ("V", "V (death)"),
    )
)
COMPLICATION = _register(
    _vocab(
        "complication",
        "Main complication",
        ("NONE", "None"),
        ("ANASTOMOTIC_LEAK", "Anastomotic leak"),
        ("BLEEDING", "Bleeding"),
        ("PERFORATION", "Perforation"),
        ("SSI", "Surgical site infection"),
        ("ILEUS", "Ileus"),
        ("PNEUMONIA", "Pneumonia"),
        ("STRICTURE", "Stricture"),
        ("OTHER", "Other"),
    )
)
LEAK_GRADE = _register(
    _vocab(
        "leak_grade",
        "Anastomotic leak (ISREC)",
        ("NONE", "No leak"),
        ("A", "Grade A"),
        ("B", "Grade B"),
        ("C", "Grade C"),
        ("NA", "No anastomosis"),
    )
)
YPT = _register(
    _vocab(
        "ypt",
        "Pathological T after therapy",
        ("T0", "ypT0"),
        ("TIS", "ypTis"),
        ("T1", "ypT1"),
        ("T2", "ypT2"),
        ("T3", "ypT3"),
        ("T4A", "ypT4a"),
        ("T4B", "ypT4b"),
    )
)
YPN = _register(_vocab("ypn", "Pathological N after therapy", ("N0", "ypN0"), ("N1", "ypN1"), ("N2", "ypN2"), ("NX", "ypNx")))
TRG_SYSTEM = _register(
    _vocab(
        "trg_system",
        "Tumour regression grading system",
        ("BECKER", "Becker (gastric): 1a, 1b, 2, 3"),
        ("AJCC_CAP", "AJCC/CAP: 0-3"),
        ("MANDARD", "Mandard: 1-5"),
    )
)
TRG_GRADES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"BECKER": ("1A", "1B", "2", "3"), "AJCC_CAP": ("0", "1", "2", "3"), "MANDARD": ("1", "2", "3", "4", "5")}
)
SOC = _register(
    _vocab(
        "soc",
        "MedDRA system organ class",
        ("BLOOD", "Blood and lymphatic system disorders"),
        ("CARDIAC", "Cardiac disorders"),
        ("ENDOCRINE", "Endocrine disorders"),
        ("GI", "Gastrointestinal disorders"),
        ("GENERAL", "General disorders and administration site conditions"),
        ("HEPATOBILIARY", "Hepatobiliary disorders"),
        ("INFECTIONS", "Infections and infestations"),
        ("INVESTIGATIONS", "Investigations"),
        ("METABOLISM", "Metabolism and nutrition disorders"),
        ("MUSCULOSKELETAL", "Musculoskeletal and connective tissue disorders"),
        ("NERVOUS", "Nervous system disorders"),
        ("RENAL", "Renal and urinary disorders"),
        ("RESPIRATORY", "Respiratory, thoracic and mediastinal disorders"),
        ("SKIN", "Skin and subcutaneous tissue disorders"),
        ("INJURY", "Injury, poisoning and procedural complications"),
    )
)
AE_ATTRIBUTION = _register(
    _vocab(
        "ae_attribution",
        "What the adverse event is attributed to",
        ("ICI", "Immunotherapy"),
        ("SURGERY", "Surgery"),
        ("ENDOSCOPY", "Endoscopic procedure"),
        ("CHEMO", "Chemotherapy"),
        ("UNRELATED", "Unrelated"),
    )
)
AE_OUTCOME = _register(
    _vocab(
        "ae_outcome",
        "Adverse event outcome",
        ("RESOLVED", "Resolved"),
        ("RESOLVED_SEQUELAE", "Resolved with sequelae"),
        ("ONGOING", "Ongoing"),
        ("FATAL", "Fatal"),
        ("UNKNOWN", "Unknown"),
    )
)
AE_SURGERY_IMPACT = _register(
    _vocab(
        "ae_surgery_impact",
        "Effect of the adverse event on planned surgery",
        ("NONE", "None"),
        ("DELAYED", "Surgery delayed"),
        ("CANCELLED", "Surgery cancelled"),
    )
)
ONC_EVENT = _register(
    _vocab(
        "onc_event_type",
        "Oncological event",
        ("LOCAL_REGROWTH", "Local regrowth (W&W)"),
        ("LOCAL_RECUR", "Local recurrence (after resection)"),
        ("NODAL", "Regional nodal recurrence"),
        ("DISTANT", "Distant metastasis"),
        ("PROGRESSION", "Progression precluding curative treatment"),
        ("SECOND_PRIMARY", "Second primary cancer"),
    )
)
CONFIRMATION = _register(
    _vocab(
        "confirmation",
        "How an event was confirmed",
        ("BIOPSY", "Biopsy"),
        ("MDT", "MDT consensus"),
        ("IMAGING", "Imaging only"),
    )
)
REGROWTH_SITE = _register(
    _vocab(
        "regrowth_site",
        "Where a regrowth was found",
        ("LUMEN", "Lumen / mucosa"),
        ("WALL", "Bowel or gastric wall"),
        ("NODES", "Regional nodes"),
    )
)
VITAL_STATUS = _register(_vocab("vital_status", "Vital status at last contact", ("ALIVE", "Alive"), ("DEAD", "Dead")))
DEATH_CAUSE = _register(
    _vocab(
        "death_cause",
        "Cause of death",
        ("CANCER", "This cancer"),
        ("TREATMENT", "Treatment-related"),
        ("OTHER", "Other cause"),
        ("UNKNOWN", "Unknown"),
    )
)
QOL_INSTRUMENT = _register(
    _vocab(
        "qol_instrument",
        "Quality-of-life instrument",
        ("QLQ_C30", "EORTC QLQ-C30"),
        ("QLQ_CR29", "EORTC QLQ-CR29"),
        ("QLQ_STO22", "EORTC QLQ-STO22"),
        ("QLQ_OES18", "EORTC QLQ-OES18"),
        ("LARS", "LARS score"),
        ("WEXNER", "Wexner incontinence score"),
    )
)
QOL_TIMEPOINT = _register(
    _vocab(
        "qol_timepoint",
        "Quality-of-life timepoint (months after T1 from M3 on)",
        ("BASELINE", "Baseline"),
        ("RESTAGING", "Restaging"),
        ("M3", "3 months"),
        ("M6", "6 months"),
        ("M12", "12 months"),
        ("M24", "24 months"),
        ("M36", "36 months"),
    )
)


@dataclass(frozen=True)
class Scale:
    """One score of a QoL instrument, with its range and direction."""

    instrument: str
    code: str
    label: str
    kind: str  # "global", "functional", "symptom", "total"
    low: float
    high: float
    higher_is_better: bool


QOL_SCALES: tuple[Scale, ...] = (
    Scale("QLQ_C30", "QL2", "Global health status", "global", 0, 100, True),
    Scale("QLQ_C30", "PF2", "Physical functioning", "functional", 0, 100, True),
    Scale("QLQ_C30", "RF2", "Role functioning", "functional", 0, 100, True),
    Scale("QLQ_C30", "EF", "Emotional functioning", "functional", 0, 100, True),
    Scale("QLQ_C30", "CF", "Cognitive functioning", "functional", 0, 100, True),
    Scale("QLQ_C30", "SF", "Social functioning", "functional", 0, 100, True),
    Scale("QLQ_C30", "FA", "Fatigue", "symptom", 0, 100, False),
    Scale("QLQ_C30", "PA", "Pain", "symptom", 0, 100, False),
    Scale("QLQ_C30", "DI", "Diarrhoea", "symptom", 0, 100, False),
    Scale("QLQ_CR29", "BI", "Body image", "functional", 0, 100, True),
    Scale("QLQ_CR29", "SF_STOOL", "Stool frequency", "symptom", 0, 100, False),
    Scale("QLQ_STO22", "EAT", "Eating restrictions", "symptom", 0, 100, False),
    Scale("QLQ_STO22", "DYS", "Dysphagia", "symptom", 0, 100, False),
    Scale("QLQ_OES18", "EAT", "Eating", "symptom", 0, 100, False),
    Scale("QLQ_OES18", "DYS", "Dysphagia", "symptom", 0, 100, False),
    Scale("LARS", "TOTAL", "LARS score", "total", 0, 42, False),
    Scale("WEXNER", "TOTAL", "Wexner score", "total", 0, 20, False),
)
QOL_SCALE_INDEX: Mapping[tuple[str, str], Scale] = MappingProxyType({(s.instrument, s.code): s for s in QOL_SCALES})

# LARS categories (domain.md): 0-20 no LARS, 21-29 minor, 30-42 major.
LARS_CATEGORIES: tuple[tuple[str, float, float], ...] = (("NO_LARS", 0, 20), ("MINOR", 21, 29), ("MAJOR", 30, 42))


# --------------------------------------------------------------------------------------
# Columns and tables
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """One column of a source table."""

    name: str
    type: str  # key of DUCKDB_TYPES
    description: str
    required: bool = False
    vocab: str | None = None  # name in VOCABULARIES, for type "code"
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    unit: str | None = None
    references: tuple[str, str] | None = None  # (table, column) for single-column FKs

    def __post_init__(self) -> None:
        if self.type not in DUCKDB_TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")
        if self.type == "code" and self.vocab not in VOCABULARIES:
            raise ValueError(f"column {self.name}: code column needs a known vocabulary, got {self.vocab!r}")

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """One source table of the registry."""

    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = field(default_factory=tuple)
    repeating: bool = False  # one row per subject or several (REDCap repeating instrument)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name}.{name}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def create_sql(self, name: str | None = None) -> str:
        """``CREATE TABLE`` statement; names come from this schema only, never from users."""
        cols = ",\n  ".join(
            f"{c.name} {c.duckdb_type}{' NOT NULL' if c.required else ''}" for c in self.columns
        )
        pk = ", ".join(self.primary_key)
        return f"CREATE TABLE {name or self.name} (\n  {cols},\n  PRIMARY KEY ({pk})\n)"


MAX_TEXT = 500  # longest free-text field accepted on import

_SUBJ_FK = ForeignKey(("subject_id",), "subject", ("subject_id",))


def _sid(description: str = N_("Pseudonymised subject id")) -> Column:
    return Column("subject_id", "str", description, required=True, max_length=40, references=("subject", "subject_id"))


SUBJECT = Table(
    "subject",
    N_("One row per registered patient: demographics, tumour, biomarkers, baseline staging."),
    (
        Column("subject_id", "str", N_("Pseudonymised subject id (never a name, MRN or date of birth)"), required=True, max_length=40),
        Column("cohort", "code", N_("Registry part"), required=True, vocab="cohort"),
        Column("centre", "str", N_("Treating centre code"), required=True, max_length=40),
        Column("registration_date", "date", N_("Date of registry enrolment"), required=True),
        Column("eligibility", "code", N_("ELIGIBLE or the exclusion reason"), required=True, vocab="eligibility"),
        Column("age", "int", N_("Age at first immunotherapy dose"), required=True, min=18, max=100, unit="years"),
        Column("sex", "code", N_("Sex"), required=True, vocab="sex"),
        Column("ecog", "code", N_("ECOG performance status at baseline"), vocab="ecog"),
        Column("tumour_site", "code", N_("Primary tumour site"), required=True, vocab="tumour_site"),
        Column("histology", "code", N_("Histology"), vocab="histology"),
        Column("biomarker_basis", "code", N_("Biomarker that made the patient eligible"), required=True, vocab="biomarker_basis"),
        Column("mmr_loss", "code", N_("MMR protein(s) lost on IHC"), vocab="mmr_loss"),
        Column("lynch", "code", N_("Lynch syndrome (germline MMR variant)"), vocab="yes_no_unknown"),
        Column("braf", "code", N_("BRAF V600E"), vocab="braf"),
        Column("ct", "code", N_("Clinical T stage"), vocab="ct_stage"),
        Column("cn", "code", N_("Clinical N stage"), vocab="cn_stage"),
        Column("cm", "code", N_("Clinical M stage"), vocab="cm_stage"),
        Column("distance_av_cm", "float", N_("Distance of the tumour from the anal verge (rectal only)"), min=0, max=20, unit="cm"),
        Column("cea_baseline", "float", N_("Baseline CEA"), min=0, max=10000, unit="ng/mL"),
        Column("ctdna_baseline", "code", N_("Baseline ctDNA"), vocab="ctdna"),
    ),
    ("subject_id",),
)

ICI_EXPOSURE = Table(
    "ici_exposure",
    N_("One row per immunotherapy regimen a patient received (neoadjuvant / conversion)."),
    (
        _sid(),
        Column("exposure_no", "int", N_("Regimen number within the patient, from 1"), required=True, min=1, max=20),
        Column("regimen_class", "code", N_("Regimen class"), required=True, vocab="regimen_class"),
        Column("drugs", "str", N_("Drug names, '+'-separated (e.g. nivolumab+ipilimumab)"), required=True, max_length=200),
        Column("start_date", "date", N_("First dose"), required=True),
        Column("end_date", "date", N_("Last dose")),
        Column("cycles", "int", N_("Cycles given"), min=1, max=60),
        Column("stop_reason", "code", N_("Why immunotherapy ended"), vocab="ici_stop"),
    ),
    ("subject_id", "exposure_no"),
    (_SUBJ_FK,),
    repeating=True,
)

ASSESSMENT = Table(
    "assessment",
    N_("One row per examination: restaging and surveillance (long format)."),
    (
        _sid(),
        Column("assessment_no", "int", N_("Examination number within the patient, from 1"), required=True, min=1, max=100000),
        Column("assessment_date", "date", N_("Date of the examination"), required=True),
        Column("timepoint", "code", N_("Timepoint"), required=True, vocab="assessment_timepoint"),
        Column("modality", "code", N_("Modality"), required=True, vocab="modality"),
        Column("result", "code", N_("Result of this examination"), vocab="exam_result"),
        Column("overall_response", "code", N_("Overall clinical response decided at this visit (restaging, surveillance)"), vocab="response"),
    ),
    ("subject_id", "assessment_no"),
    (_SUBJ_FK,),
    repeating=True,
)

STRATEGY_EPISODE = Table(
    "strategy_episode",
    N_("One row per treatment-strategy episode: the initial MDT strategy and every later change."),
    (
        _sid(),
        Column("episode_no", "int", N_("Episode number, 1 = initial strategy at restaging"), required=True, min=1, max=50),
        Column("strategy", "code", N_("Strategy"), required=True, vocab="strategy"),
        Column("decision_date", "date", N_("MDT decision date (T1 for episode 1)"), required=True),
        Column("start_date", "date", N_("Date the episode began (surgery date for procedures)"), required=True),
        Column("trigger", "code", N_("What started the episode"), required=True, vocab="episode_trigger"),
    ),
    ("subject_id", "episode_no"),
    (_SUBJ_FK,),
    repeating=True,
)

PROCEDURE = Table(
    "procedure",
    N_("One row per resection (radical or local), with its worst complication within 90 days."),
    (
        _sid(),
        Column("procedure_no", "int", N_("Procedure number within the patient, from 1"), required=True, min=1, max=50),
        Column("episode_no", "int", N_("Strategy episode this procedure belongs to"), required=True, min=1, max=50),
        Column("procedure_date", "date", N_("Date of the procedure"), required=True),
        Column("procedure_type", "code", N_("Procedure"), required=True, vocab="procedure_type"),
        Column("intent", "code", N_("Primary, salvage or completion"), required=True, vocab="procedure_intent"),
        Column("approach", "code", N_("Approach"), vocab="approach"),
        Column("r_status", "code", N_("Resection margin"), vocab="r_status"),
        Column("stoma", "code", N_("Stoma created"), vocab="stoma"),
        Column("stoma_closure_date", "date", N_("Date a temporary stoma was closed")),
        Column("clavien_dindo", "code", N_("Worst complication within 90 days"), vocab="clavien_dindo"),
        Column("complication", "code", N_("Main complication"), vocab="complication"),
        Column("leak_grade", "code", N_("Anastomotic leak, ISREC grade"), vocab="leak_grade"),
        Column("length_of_stay_days", "int", N_("Length of hospital stay"), min=0, max=365, unit="days"),
    ),
    ("subject_id", "procedure_no"),
    (_SUBJ_FK, ForeignKey(("subject_id", "episode_no"), "strategy_episode", ("subject_id", "episode_no"))),
    repeating=True,
)

PATHOLOGY = Table(
    "pathology",
    N_("One row per resected specimen."),
    (
        _sid(),
        Column("procedure_no", "int", N_("Procedure the specimen came from"), required=True, min=1, max=50),
        Column("ypt", "code", N_("ypT"), vocab="ypt"),
        Column("ypn", "code", N_("ypN"), vocab="ypn"),
        Column("residual_viable_pct", "float", N_("Residual viable tumour"), min=0, max=100, unit="%"),
        Column("trg_system", "code", N_("Regression grading system"), vocab="trg_system"),
        Column("trg_grade", "str", N_("Regression grade in that system (1A/1B/2/3, 0-3, 1-5)"), max_length=4),
        Column("nodes_examined", "int", N_("Lymph nodes examined"), min=0, max=200),
        Column("nodes_positive", "int", N_("Lymph nodes with tumour"), min=0, max=200),
    ),
    ("subject_id", "procedure_no"),
    (_SUBJ_FK, ForeignKey(("subject_id", "procedure_no"), "procedure", ("subject_id", "procedure_no"))),
    repeating=True,
)

AE = Table(
    "ae",
    N_("One row per adverse event (CTCAE v5), immunotherapy-related or procedural."),
    (
        _sid(),
        Column("ae_no", "int", N_("Event number within the patient, from 1"), required=True, min=1, max=1000),
        Column("term", "str", N_("MedDRA preferred term"), required=True, max_length=200),
        Column("soc", "code", N_("MedDRA system organ class"), required=True, vocab="soc"),
        Column("grade", "int", N_("CTCAE v5 grade"), required=True, min=1, max=5),
        Column("onset_date", "date", N_("Onset"), required=True),
        Column("resolution_date", "date", N_("Resolution")),
        Column("immune_related", "bool", N_("Immune-related adverse event"), required=True),
        Column("serious", "bool", N_("Serious adverse event")),
        Column("attribution", "code", N_("Attributed to"), required=True, vocab="ae_attribution"),
        Column("steroids", "bool", N_("Treated with systemic corticosteroids")),
        Column("outcome", "code", N_("Outcome"), vocab="ae_outcome"),
        Column("surgery_impact", "code", N_("Effect on planned surgery"), vocab="ae_surgery_impact"),
    ),
    ("subject_id", "ae_no"),
    (_SUBJ_FK,),
    repeating=True,
)

ONC_EVENT_TABLE = Table(
    "onc_event",
    N_("One row per oncological event (deaths live in follow_up)."),
    (
        _sid(),
        Column("event_no", "int", N_("Event number within the patient, from 1"), required=True, min=1, max=100),
        Column("event_type", "code", N_("Event"), required=True, vocab="onc_event_type"),
        Column("event_date", "date", N_("Date of the first diagnostic examination"), required=True),
        Column("confirmation", "code", N_("How it was confirmed"), vocab="confirmation"),
        Column("regrowth_site", "code", N_("Where a regrowth was found"), vocab="regrowth_site"),
        Column("salvage_procedure_no", "int", N_("Procedure that salvaged this event, if any"), min=1, max=50),
    ),
    ("subject_id", "event_no"),
    (_SUBJ_FK,),
    repeating=True,
)

QOL = Table(
    "qol",
    N_("One row per questionnaire score (long format); scales transformed as the instrument's manual says."),
    (
        _sid(),
        Column("instrument", "code", N_("Instrument"), required=True, vocab="qol_instrument"),
        Column("scale", "str", N_("Scale code within the instrument (see the scale list)"), required=True, max_length=20),
        Column("timepoint", "code", N_("Timepoint"), required=True, vocab="qol_timepoint"),
        Column("qol_date", "date", N_("Date completed"), required=True),
        Column("score", "float", N_("Score"), required=True, min=0, max=100),
    ),
    ("subject_id", "instrument", "scale", "timepoint"),
    (_SUBJ_FK,),
    repeating=True,
)

FOLLOW_UP = Table(
    "follow_up",
    N_("One row per patient: last contact and vital status."),
    (
        _sid(),
        Column("last_contact_date", "date", N_("Last date the patient was known alive (or date of death)"), required=True),
        Column("vital_status", "code", N_("Vital status"), required=True, vocab="vital_status"),
        Column("death_date", "date", N_("Date of death")),
        Column("death_cause", "code", N_("Cause of death"), vocab="death_cause"),
    ),
    ("subject_id",),
    (_SUBJ_FK,),
)

TABLES: tuple[Table, ...] = (
    SUBJECT,
    ICI_EXPOSURE,
    ASSESSMENT,
    STRATEGY_EPISODE,
    PROCEDURE,
    PATHOLOGY,
    AE,
    ONC_EVENT_TABLE,
    QOL,
    FOLLOW_UP,
)
TABLES_BY_NAME: Mapping[str, Table] = MappingProxyType({t.name: t for t in TABLES})
TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in TABLES)


def table(name: str) -> Table:
    """Look a source table up by name (the whitelist for any table name in SQL)."""
    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLE_NAMES)}") from None


# Strategy -> strategy group (NOM = Watch & Wait, OPFS = local / endoscopic, RO = radical).
STRATEGY_TO_GROUP: Mapping[str, str] = MappingProxyType(
    {"WW": "NOM", "LE": "OPFS", "ESD": "OPFS", "EMR": "OPFS", "RO": "RO", "SYSTEMIC": "SYSTEMIC"}
)

# Days per month used for every time in months (365.25 / 12).
DAYS_PER_MONTH = 30.4375
