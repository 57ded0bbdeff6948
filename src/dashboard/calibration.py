"""Every parameter of the synthetic registry, in one documented place.

Each value says where it comes from: a source quoted in ``/work/shared/domain.md``
("Calibration figures") or "judgement" (a plausible value chosen for the generator).
Probabilities are per patient unless a comment says otherwise; times are in months
(``schema.DAYS_PER_MONTH`` days) unless the name ends in ``_days``.

A distribution over codes is a mapping ``code -> weight``; weights are normalised by the
generator, so they need not sum to 1. A distribution that depends on a category (site,
response, regimen) is a mapping ``category -> {code: weight}``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


def _m(d: dict) -> Mapping:
    """Read-only mapping (nested dicts too), so a Calibration stays immutable."""
    return MappingProxyType({k: _m(v) if isinstance(v, dict) else v for k, v in d.items()})


def _f(d: dict):
    return field(default_factory=lambda: _m(d))


SITES = ("RECTUM", "COLON", "GASTRIC", "GEJ")
REGIMENS = ("PD1", "PDL1", "PD1_CTLA4", "PDL1_CTLA4", "PD1_LAG3", "PD1_CHEMO")


@dataclass(frozen=True)
class Calibration:
    """Parameters of :func:`dashboard.synth.generate`. All fields have defaults."""

    # ---------------------------------------------------------------- accrual, cohort
    # NOR-MP: retrospective Part 1, prospective Part 2 from 2026-07-15 (NCT07642323).
    retro_start: dt.date = dt.date(2018, 1, 1)  # judgement: neoadjuvant ICI in dMMR from ~2018
    prospective_start: dt.date = dt.date(2026, 7, 15)  # NCT07642323 start date
    cutoff: dt.date = dt.date(2026, 11, 1)  # data cut-off (brief); nothing is dated after it
    prospective_fraction: float = 0.06  # judgement: 3.5 prospective months of ~9 years
    accrual_shape: float = 2.0  # judgement: retro accrual density ~ t^(shape-1), rising with uptake
    registration_before_t0_days: tuple[int, int] = (0, 21)  # judgement: registered 0-3 weeks before dose 1

    centres: Mapping[str, float] = _f({"PKU": 0.45, "C02": 0.15, "C03": 0.12, "C04": 0.10, "C05": 0.10, "C06": 0.08})  # judgement

    # ~5% of registered patients are not ELIGIBLE (brief); split: judgement
    eligibility: Mapping[str, float] = _f(
        {"ELIGIBLE": 0.95, "PMMR_MSS": 0.015, "NO_ICI": 0.013, "CONSENT_WITHDRAWN": 0.008, "OTHER_MALIGNANCY": 0.007, "UNTREATABLE_MET": 0.007}
    )

    # ---------------------------------------------------------------- demographics
    age_mean: float = 58.0  # judgement (dMMR GI series median age high 50s)
    age_sd: float = 12.0  # judgement
    lynch_age_shift: float = -12.0  # judgement: Lynch carriers younger
    male_fraction: float = 0.58  # judgement
    ecog: Mapping[str, float] = _f({"0": 0.72, "1": 0.28})  # judgement; ECOG 0-1 is an inclusion criterion
    ecog_missing: float = 0.03  # judgement

    # ---------------------------------------------------------------- tumour
    # Cercek 2025: 49 rectal, 54 non-rectal of 103; PKU series colon 16/36. Split: judgement.
    site: Mapping[str, float] = _f({"RECTUM": 0.42, "COLON": 0.30, "GASTRIC": 0.20, "GEJ": 0.08})
    histology: Mapping[str, Mapping[str, float]] = _f(  # judgement (mucinous common in dMMR colon)
        {
            "RECTUM": {"ADENO": 0.84, "MUCINOUS": 0.14, "SRCC": 0.02, "SCC": 0.0},
            "COLON": {"ADENO": 0.74, "MUCINOUS": 0.23, "SRCC": 0.03, "SCC": 0.0},
            "GASTRIC": {"ADENO": 0.86, "MUCINOUS": 0.06, "SRCC": 0.08, "SCC": 0.0},
            "GEJ": {"ADENO": 0.88, "MUCINOUS": 0.02, "SRCC": 0.02, "SCC": 0.08},
        }
    )
    histology_missing: float = 0.03  # judgement
    # POLE EDM ~1% of CRC and mutually exclusive with dMMR (Domingo 2016): a few % of a dMMR/POLE registry.
    biomarker_basis: Mapping[str, float] = _f({"DMMR_IHC": 0.70, "MSIH_PCR": 0.12, "MSIH_NGS": 0.15, "POLE": 0.03})
    mmr_loss: Mapping[str, float] = _f({"MLH1_PMS2": 0.64, "MSH2_MSH6": 0.25, "MSH6": 0.06, "PMS2": 0.05})  # judgement
    mmr_loss_missing_non_ihc: float = 0.55  # judgement: MSI by PCR/NGS often without IHC detail
    pole_mmr_retained: float = 0.7  # judgement: POLE patients with IHC reported as RETAINED, else missing
    lynch_by_mmr: Mapping[str, float] = _f({"MLH1_PMS2": 0.15, "MSH2_MSH6": 0.75, "MSH6": 0.60, "PMS2": 0.60, "OTHER": 0.20})  # judgement
    lynch_upper_gi_factor: float = 0.4  # judgement: gastric dMMR mostly sporadic (MLH1 methylation)
    lynch_unknown: float = 0.25  # judgement: germline testing not done / not reported
    braf_mut_in_sporadic_mlh1_colon: float = 0.35  # judgement (BRAF V600E marks sporadic MLH1 loss)
    braf_unknown: float = 0.40  # judgement ("BRAF often UNKNOWN")
    ct: Mapping[str, Mapping[str, float]] = _f(  # judgement (locally advanced cohorts)
        {
            "RECTUM": {"T1": 0.01, "T2": 0.12, "T3": 0.62, "T4A": 0.12, "T4B": 0.10, "TX": 0.03},
            "COLON": {"T1": 0.0, "T2": 0.04, "T3": 0.50, "T4A": 0.30, "T4B": 0.13, "TX": 0.03},
            "GASTRIC": {"T1": 0.0, "T2": 0.08, "T3": 0.45, "T4A": 0.35, "T4B": 0.08, "TX": 0.04},
            "GEJ": {"T1": 0.0, "T2": 0.10, "T3": 0.60, "T4A": 0.20, "T4B": 0.06, "TX": 0.04},
        }
    )
    cn: Mapping[str, float] = _f({"N0": 0.28, "N1": 0.42, "N2": 0.27, "NX": 0.03})  # judgement
    cm1: float = 0.05  # judgement: treatable oligometastasis
    distance_av_cm: tuple[float, float, float] = (1.0, 5.5, 15.0)  # judgement: triangular(min, mode, max), rectal only
    distance_missing: float = 0.05  # judgement
    cea_median: float = 3.5  # judgement, ng/mL (log-normal)
    cea_log_sd: float = 1.0  # judgement
    cea_missing: float = 0.15  # judgement ("CEA some missing")
    ctdna: Mapping[str, float] = _f({"NOT_DONE": 0.72, "POS": 0.22, "NEG": 0.06})  # judgement ("ctDNA often NOT_DONE")

    # ---------------------------------------------------------------- immunotherapy
    regimen: Mapping[str, Mapping[str, float]] = _f(  # judgement (dostarlimab/PD-1 rectal; NICHE colon; NEONIPIGA/INFINITY gastric)
        {
            "RECTUM": {"PD1": 0.72, "PDL1": 0.04, "PD1_CTLA4": 0.10, "PDL1_CTLA4": 0.02, "PD1_LAG3": 0.02, "PD1_CHEMO": 0.10},
            "COLON": {"PD1": 0.45, "PDL1": 0.04, "PD1_CTLA4": 0.30, "PDL1_CTLA4": 0.02, "PD1_LAG3": 0.07, "PD1_CHEMO": 0.12},
            "GASTRIC": {"PD1": 0.35, "PDL1": 0.05, "PD1_CTLA4": 0.20, "PDL1_CTLA4": 0.12, "PD1_LAG3": 0.03, "PD1_CHEMO": 0.25},
            "GEJ": {"PD1": 0.35, "PDL1": 0.05, "PD1_CTLA4": 0.22, "PDL1_CTLA4": 0.08, "PD1_LAG3": 0.03, "PD1_CHEMO": 0.27},
        }
    )
    drugs: Mapping[str, Mapping[str, float]] = _f(  # judgement: agents used in China and in the cited trials
        {
            "PD1": {"dostarlimab": 0.2, "pembrolizumab": 0.15, "nivolumab": 0.1, "toripalimab": 0.15, "sintilimab": 0.2, "tislelizumab": 0.12, "camrelizumab": 0.08},
            "PDL1": {"durvalumab": 0.4, "atezolizumab": 0.3, "envafolimab": 0.3},
            "PD1_CTLA4": {"nivolumab+ipilimumab": 0.8, "cadonilimab": 0.2},
            "PDL1_CTLA4": {"durvalumab+tremelimumab": 1.0},
            "PD1_LAG3": {"nivolumab+relatlimab": 1.0},
            "PD1_CHEMO": {"sintilimab+oxaliplatin+capecitabine": 0.4, "toripalimab+oxaliplatin+capecitabine": 0.3, "tislelizumab+oxaliplatin+capecitabine": 0.3},
        }
    )
    # planned cycles (mean, sd, min, max) and dosing interval in days: dostarlimab q3w x 9 = 6 months
    # (Cercek 2022); NICHE-2/3 short course (Chalabi 2024, de Gooyer 2024); judgement otherwise.
    cycles: Mapping[str, tuple[float, float, int, int]] = _f(
        {"PD1": (8.0, 2.5, 2, 16), "PDL1": (6.0, 2.0, 2, 12), "PD1_CTLA4": (4.0, 2.0, 1, 10), "PDL1_CTLA4": (4.0, 1.5, 1, 8), "PD1_LAG3": (3.0, 1.5, 1, 8), "PD1_CHEMO": (5.0, 1.5, 2, 8)}
    )
    cycle_interval_days: Mapping[str, int] = _f({"PD1": 21, "PDL1": 21, "PD1_CTLA4": 21, "PDL1_CTLA4": 28, "PD1_LAG3": 14, "PD1_CHEMO": 21})
    stop_toxicity_given_g3_during: float = 0.7  # judgement: grade>=3 irAE during ICI ends it
    second_exposure_after_toxicity: float = 0.35  # judgement: rechallenge with PD-(L)1 alone after a combination
    stop_patient_choice: float = 0.02  # judgement
    stop_other: float = 0.01  # judgement
    stop_progression_non_ccr: float = 0.25  # judgement: among non-cCR
    restaging_after_ici_days: tuple[int, int] = (14, 42)  # judgement
    mdt_after_restaging_days: tuple[int, int] = (3, 14)  # judgement

    # ---------------------------------------------------------------- response at restaging
    # Reference probabilities (cCR, near-cCR) under anti-PD-1 alone, stage T3N+.
    # Rectal: 12/12 and 49/49 cCR (Cercek 2022, 2025) -> 0.91 allowing real-world shortfall (judgement).
    # Non-rectal cCR 35/54 = 65% (Cercek 2025); gastric cCR 13/17 (INFINITY) with CTLA-4.
    response: Mapping[str, tuple[float, float]] = _f(
        {"RECTUM": (0.91, 0.06), "COLON": (0.66, 0.18), "GASTRIC": (0.60, 0.20), "GEJ": (0.56, 0.22)}
    )
    # log-odds shifts of the latent response (positive = better); judgement guided by
    # NICHE-2/3 (pCR 68%, 68%), NEONIPIGA (pCR 59%), PICC (pCR 65-88%).
    response_regimen_logodds: Mapping[str, float] = _f({"PD1": 0.0, "PDL1": -0.3, "PD1_CTLA4": 0.4, "PDL1_CTLA4": 0.3, "PD1_LAG3": 0.3, "PD1_CHEMO": 0.2})
    response_t4_logodds: float = -0.5  # judgement
    response_n2_logodds: float = -0.3  # judgement
    response_pole_logodds: float = 0.5  # judgement: POLE ultramutated tumours respond well
    response_short_course_logodds: float = -0.3  # judgement: <=2 cycles

    # ---------------------------------------------------------------- initial strategy (MDT)
    # cCR -> mostly W&W; near-cCR -> W&W or LE/ESD; non-cCR -> RO mostly (brief, domain.md).
    # NOM 82/103 = 80% overall (Cercek 2025); PKU 6 of 7 cCR to W&W (Li 2023). Split: judgement.
    strategy: Mapping[str, Mapping[str, Mapping[str, float]]] = _f(
        {
            "RECTUM": {
                "CCR": {"WW": 0.95, "LE": 0.01, "ESD": 0.0, "EMR": 0.0, "RO": 0.04, "SYSTEMIC": 0.0},
                "NEAR_CCR": {"WW": 0.55, "LE": 0.28, "ESD": 0.02, "EMR": 0.0, "RO": 0.15, "SYSTEMIC": 0.0},
                "NON_CCR": {"WW": 0.0, "LE": 0.05, "ESD": 0.0, "EMR": 0.0, "RO": 0.80, "SYSTEMIC": 0.15},
            },
            "COLON": {
                "CCR": {"WW": 0.78, "LE": 0.0, "ESD": 0.0, "EMR": 0.0, "RO": 0.22, "SYSTEMIC": 0.0},
                "NEAR_CCR": {"WW": 0.35, "LE": 0.0, "ESD": 0.10, "EMR": 0.05, "RO": 0.50, "SYSTEMIC": 0.0},
                "NON_CCR": {"WW": 0.0, "LE": 0.0, "ESD": 0.0, "EMR": 0.0, "RO": 0.85, "SYSTEMIC": 0.15},
            },
            "GASTRIC": {
                "CCR": {"WW": 0.80, "LE": 0.0, "ESD": 0.0, "EMR": 0.0, "RO": 0.20, "SYSTEMIC": 0.0},
                "NEAR_CCR": {"WW": 0.35, "LE": 0.0, "ESD": 0.22, "EMR": 0.05, "RO": 0.38, "SYSTEMIC": 0.0},
                "NON_CCR": {"WW": 0.0, "LE": 0.0, "ESD": 0.0, "EMR": 0.0, "RO": 0.80, "SYSTEMIC": 0.20},
            },
            "GEJ": {
                "CCR": {"WW": 0.78, "LE": 0.0, "ESD": 0.0, "EMR": 0.0, "RO": 0.22, "SYSTEMIC": 0.0},
                "NEAR_CCR": {"WW": 0.35, "LE": 0.0, "ESD": 0.20, "EMR": 0.05, "RO": 0.40, "SYSTEMIC": 0.0},
                "NON_CCR": {"WW": 0.0, "LE": 0.0, "ESD": 0.0, "EMR": 0.0, "RO": 0.78, "SYSTEMIC": 0.22},
            },
        }
    )
    cm1_systemic_non_ccr: float = 0.5  # judgement: cM1 non-responders more often systemic
    surgery_after_mdt_days: tuple[int, int] = (14, 42)  # judgement
    local_after_mdt_days: tuple[int, int] = (7, 28)  # judgement

    # ---------------------------------------------------------------- W&W regrowth
    # Lifetime regrowth probability under W&W (cure fraction 1 - p) and the time among those
    # who regrow: Weibull(shape, scale months). Rectal 5-10% and gastric 15-25% at 2 years
    # (judgement, domain.md); 88-94% of regrowths within 2 years (IWWD van der Valk 2018;
    # OPRA Verheij 2024): shape 1.5, scale 13.4 -> 91% within 24 months.
    regrowth_p: Mapping[str, Mapping[str, float]] = _f(
        {
            "RECTUM": {"CCR": 0.075, "NEAR_CCR": 0.30},
            "COLON": {"CCR": 0.10, "NEAR_CCR": 0.32},
            "GASTRIC": {"CCR": 0.21, "NEAR_CCR": 0.42},
            "GEJ": {"CCR": 0.22, "NEAR_CCR": 0.42},
        }
    )
    regrowth_weibull: tuple[float, float] = (1.5, 13.4)
    regrowth_unscheduled: float = 0.15  # judgement: found at an unscheduled (symptom) visit
    regrowth_site: Mapping[str, float] = _f({"WALL": 0.55, "LUMEN": 0.40, "NODES": 0.05})  # IWWD: 97% in the bowel wall
    regrowth_confirmation: Mapping[str, float] = _f({"BIOPSY": 0.75, "MDT": 0.20, "IMAGING": 0.05})  # judgement
    # salvage after regrowth: radical / local / none (unsalvageable -> systemic). judgement
    salvage_kind: Mapping[str, float] = _f({"RO": 0.82, "LOCAL": 0.12, "NONE": 0.06})
    salvage_decision_days: tuple[int, int] = (10, 35)  # judgement
    salvage_r0_radical: float = 0.92  # judgement (IWWD: salvage R0 ~90%+)
    near_ccr_deepening: float = 0.6  # judgement: near-cCR on W&W first reported NEAR_CCR, cCR by month 6
    patient_choice_surgery: float = 0.03  # judgement: W&W patients opting for surgery
    patient_choice_window: tuple[float, float] = (3.0, 30.0)  # months after T1, judgement

    # ---------------------------------------------------------------- local excision / ESD
    # ypT after local excision of near-cCR / cCR: judgement; adverse = ypT>=2 or R1/R2.
    local_ypt: Mapping[str, Mapping[str, float]] = _f(
        {
            "CCR": {"T0": 0.70, "TIS": 0.05, "T1": 0.18, "T2": 0.06, "T3": 0.01},
            "NEAR_CCR": {"T0": 0.45, "TIS": 0.07, "T1": 0.28, "T2": 0.15, "T3": 0.05},
            "NON_CCR": {"T0": 0.15, "TIS": 0.05, "T1": 0.35, "T2": 0.30, "T3": 0.15},
        }
    )
    local_r_status: Mapping[str, float] = _f({"R0": 0.90, "R1": 0.08, "RX": 0.02})  # judgement
    completion_given_adverse: float = 0.80  # judgement
    response_ww_after_local: float = 0.5  # judgement: MDT records a W&W episode after good pathology
    local_recurrence_p: float = 0.06  # judgement (organ in place after LE/ESD, good pathology)
    local_recurrence_p_adverse: float = 0.20  # judgement: adverse pathology, no completion
    local_recurrence_weibull: tuple[float, float] = (1.4, 16.0)  # judgement

    # ---------------------------------------------------------------- after radical resection
    radical_local_recur_p: float = 0.025  # judgement (2-y RFS rectal 96%, Cercek 2025)
    radical_nodal_p: float = 0.02  # judgement
    recur_weibull: tuple[float, float] = (1.3, 20.0)  # judgement

    # ---------------------------------------------------------------- distant metastasis, progression, death
    # 2-year RFS 92% overall, rectal 96%, non-rectal 85% (Cercek 2025): lifetime DM probability
    # by response (judgement, calibrated to those figures), time Weibull(shape, scale).
    dm_p: Mapping[str, Mapping[str, float]] = _f(
        {
            "RECTUM": {"CCR": 0.02, "NEAR_CCR": 0.05, "NON_CCR": 0.15},
            "COLON": {"CCR": 0.04, "NEAR_CCR": 0.08, "NON_CCR": 0.18},
            "GASTRIC": {"CCR": 0.07, "NEAR_CCR": 0.12, "NON_CCR": 0.25},
            "GEJ": {"CCR": 0.08, "NEAR_CCR": 0.13, "NON_CCR": 0.27},
        }
    )
    dm_cm1_factor: float = 2.5  # judgement
    dm_weibull: tuple[float, float] = (1.3, 20.0)  # judgement
    progression_p_systemic: float = 0.55  # judgement: initial SYSTEMIC (non-resectable non-responders)
    progression_weibull: tuple[float, float] = (1.2, 8.0)  # judgement
    cancer_death_after_dm: float = 0.55  # judgement
    cancer_death_after_progression: float = 0.75  # judgement
    cancer_death_weibull: tuple[float, float] = (1.3, 26.0)  # judgement, months after DM / progression
    background_mortality_per_year_at_60: float = 0.008  # judgement (other-cause)
    background_mortality_doubling_years: float = 8.0  # judgement (Gompertz)
    death_cause_unknown: float = 0.05  # judgement
    second_primary_per_year_lynch: float = 0.015  # judgement
    second_primary_per_year_other: float = 0.002  # judgement

    # ---------------------------------------------------------------- follow-up
    ltfu_per_year: float = 0.03  # judgement: loss to follow-up hazard after T1
    last_contact_lag_days: int = 75  # judgement: alive patients last seen 0-75 days before cut-off
    excluded_follow_days: tuple[int, int] = (0, 90)  # judgement: follow-up of excluded patients

    # ---------------------------------------------------------------- surveillance (domain.md)
    # Rectal (and colon, judgement): every 3 months years 1-2, then 6-monthly; CT yearly.
    # Upper GI (SANO-like): 3-monthly year 1, 4-monthly year 2, 6-monthly year 3, then yearly.
    schedule_rectal_months: tuple[float, ...] = tuple([3.0 * k for k in range(1, 9)] + [24.0 + 6.0 * k for k in range(1, 17)])
    schedule_upper_gi_months: tuple[float, ...] = (3, 6, 9, 12, 16, 20, 24, 30, 36, 48, 60, 72, 84, 96, 108, 120)
    visit_jitter_days: int = 21  # +-3 weeks (domain.md: +-2-4 weeks)
    visit_missed: float = 0.07  # domain.md: 5-10% missed
    ctdna_surveillance: float = 0.20  # judgement: patients followed with ctDNA
    pet_ct_upper_gi_visit: float = 0.5  # judgement
    exam_equivocal: float = 0.04  # judgement: equivocal result at a fine visit
    exam_not_evaluable: float = 0.01  # judgement

    # ---------------------------------------------------------------- procedures
    rectal_apr_below_cm: float = 4.0  # judgement: APR for low tumours
    rectal_apr_p_low: float = 0.6  # judgement
    rectal_apr_p_other: float = 0.05  # judgement
    gastric_total: float = 0.4  # judgement: total vs distal gastrectomy
    gej_oesophagectomy: float = 0.7  # judgement
    rectal_local: Mapping[str, float] = _f({"TEM": 0.4, "TAMIS": 0.6})  # judgement
    approach_radical: Mapping[str, float] = _f({"LAPAROSCOPIC": 0.58, "ROBOTIC": 0.27, "OPEN": 0.15})  # judgement
    radical_r_status: Mapping[str, float] = _f({"R0": 0.97, "R1": 0.025, "R2": 0.005})  # judgement
    lar_stoma: Mapping[str, float] = _f({"TEMPORARY": 0.70, "NONE": 0.25, "PERMANENT": 0.05})  # judgement
    colectomy_stoma: Mapping[str, float] = _f({"NONE": 0.95, "TEMPORARY": 0.04, "PERMANENT": 0.01})  # judgement
    stoma_closed: float = 0.88  # judgement: temporary stomas eventually closed
    stoma_closure_months: tuple[float, float] = (2.5, 7.0)  # judgement
    # leak probabilities (any, grade B, grade C) by procedure; anterior resection 8.6% with
    # grade C 5.4% (Cong 2013); others judgement.
    leak: Mapping[str, tuple[float, float, float]] = _f(
        {"TME_LAR": (0.086, 0.020, 0.054), "COLECTOMY": (0.04, 0.015, 0.02), "GASTRECTOMY_TOTAL": (0.05, 0.02, 0.02),
         "GASTRECTOMY_DISTAL": (0.03, 0.01, 0.01), "OESOPHAGECTOMY": (0.10, 0.04, 0.04)}
    )
    # probability of a non-leak complication and its Clavien-Dindo distribution; gastric
    # 90-day morbidity 55% in NEONIPIGA (Andre 2023); ESD perforation 4.2%, delayed bleeding
    # 2.1% (Akintoye 2016); others judgement.
    other_complication: Mapping[str, float] = _f(
        {"TME_LAR": 0.28, "TME_APR": 0.38, "COLECTOMY": 0.22, "GASTRECTOMY_TOTAL": 0.45, "GASTRECTOMY_DISTAL": 0.40,
         "OESOPHAGECTOMY": 0.48, "TEM": 0.10, "TAMIS": 0.10, "ESD": 0.0, "EMR": 0.0}
    )
    esd_perforation: float = 0.042  # Akintoye 2016
    esd_bleeding: float = 0.021  # Akintoye 2016
    emr_perforation: float = 0.01  # judgement
    emr_bleeding: float = 0.02  # judgement
    other_cd: Mapping[str, float] = _f({"I": 0.35, "II": 0.40, "IIIA": 0.12, "IIIB": 0.08, "IVA": 0.035, "IVB": 0.005, "V": 0.01})  # judgement
    length_of_stay_median: Mapping[str, float] = _f(
        {"TME_LAR": 8, "TME_APR": 9, "COLECTOMY": 7, "GASTRECTOMY_TOTAL": 10, "GASTRECTOMY_DISTAL": 9, "OESOPHAGECTOMY": 13,
         "TEM": 3, "TAMIS": 3, "ESD": 4, "EMR": 2}
    )  # judgement, days
    procedure_field_missing: float = 0.03  # judgement: optional procedure fields left blank
    pathology_missing: float = 0.03  # judgement: no pathology report
    # radical pathology by clinical response: pCR 68% NICHE-2 / 59% NEONIPIGA; judgement otherwise.
    radical_ypt: Mapping[str, Mapping[str, float]] = _f(
        {
            "CCR": {"T0": 0.85, "TIS": 0.02, "T1": 0.06, "T2": 0.04, "T3": 0.03, "T4A": 0.0},
            "NEAR_CCR": {"T0": 0.55, "TIS": 0.03, "T1": 0.15, "T2": 0.15, "T3": 0.10, "T4A": 0.02},
            "NON_CCR": {"T0": 0.25, "TIS": 0.02, "T1": 0.10, "T2": 0.20, "T3": 0.33, "T4A": 0.10},
            "SALVAGE": {"T0": 0.05, "TIS": 0.02, "T1": 0.15, "T2": 0.33, "T3": 0.38, "T4A": 0.07},
        }
    )
    node_positive_if_residual: float = 0.25  # judgement
    nodes_examined_mean: Mapping[str, float] = _f({"RECTUM": 16, "COLON": 24, "GASTRIC": 32, "GEJ": 26})  # judgement

    # ---------------------------------------------------------------- immune-related AEs
    # Per-PT incidence (any grade) under anti-PD-1 alone and the fraction of those that are
    # grade >= 3. Wang 2019 (anti-PD-1): fatigue 18%, pruritus 11%, diarrhoea 9%,
    # hypothyroidism ~6%; CheckMate-142 (nivo+ipi) organ mix; rest judgement.
    # (soc, pt, incidence, frac_g3, immune_related_p, steroid_p_g2plus)
    irae: tuple[tuple[str, str, float, float, float, float], ...] = (
        ("GENERAL", "Fatigue", 0.18, 0.02, 0.10, 0.05),
        ("SKIN", "Pruritus", 0.11, 0.02, 0.85, 0.30),
        ("SKIN", "Rash", 0.09, 0.05, 0.95, 0.60),
        ("GI", "Diarrhoea", 0.09, 0.08, 0.80, 0.60),
        ("GI", "Colitis", 0.02, 0.35, 1.0, 0.95),
        ("ENDOCRINE", "Hypothyroidism", 0.065, 0.01, 1.0, 0.05),
        ("ENDOCRINE", "Hyperthyroidism", 0.03, 0.02, 1.0, 0.10),
        ("ENDOCRINE", "Adrenal insufficiency", 0.01, 0.25, 1.0, 0.90),
        ("ENDOCRINE", "Hypophysitis", 0.005, 0.30, 1.0, 0.95),
        ("HEPATOBILIARY", "Hepatitis", 0.015, 0.40, 1.0, 0.95),
        ("INVESTIGATIONS", "Alanine aminotransferase increased", 0.06, 0.06, 0.70, 0.50),
        ("INVESTIGATIONS", "Aspartate aminotransferase increased", 0.05, 0.05, 0.70, 0.50),
        ("RESPIRATORY", "Pneumonitis", 0.02, 0.20, 1.0, 0.95),
        ("RENAL", "Nephritis", 0.01, 0.20, 1.0, 0.90),
        ("MUSCULOSKELETAL", "Arthralgia", 0.06, 0.02, 0.70, 0.30),
        ("METABOLISM", "Type 1 diabetes mellitus", 0.003, 0.60, 1.0, 0.0),
        ("CARDIAC", "Myocarditis", 0.002, 0.60, 1.0, 1.0),
        ("NERVOUS", "Myasthenia gravis", 0.001, 0.50, 1.0, 1.0),
    )
    # any-grade incidence multiplier and grade>=3 multiplier by regimen. Judgement guided by:
    # PD-1 grade>=3 irAE 0-10%, CTLA-4 combinations 10-20% (domain.md); NICHE-2 grade 3-4
    # 4%; NICHE-3 any 80%, grade 3-4 10%; NEONIPIGA grade 3-4 19%.
    irae_incidence_mult: Mapping[str, float] = _f({"PD1": 1.0, "PDL1": 0.85, "PD1_CTLA4": 1.6, "PDL1_CTLA4": 1.5, "PD1_LAG3": 1.6, "PD1_CHEMO": 1.1})
    irae_severity_mult: Mapping[str, float] = _f({"PD1": 1.0, "PDL1": 0.9, "PD1_CTLA4": 1.7, "PDL1_CTLA4": 1.6, "PD1_LAG3": 1.2, "PD1_CHEMO": 1.2})
    irae_grade2_given_low: float = 0.35  # judgement: P(grade 2 | grade 1-2)
    irae_grade4_given_g3plus: float = 0.10  # judgement (no grade-5 irAE generated)
    irae_onset_after_last_dose_months: float = 3.0  # judgement: irAEs up to 3 months after the last dose
    irae_resolution_median_days: float = 35.0  # judgement
    irae_endocrine_ongoing: float = 0.7  # judgement: thyroid/adrenal/pituitary often permanent
    ae_outcome_unknown: float = 0.03  # judgement
    # chemotherapy AEs with PD1_CHEMO (attribution CHEMO): (soc, pt, incidence, frac_g3)
    chemo_ae: tuple[tuple[str, str, float, float], ...] = (
        ("BLOOD", "Neutrophil count decreased", 0.30, 0.30),
        ("BLOOD", "Anaemia", 0.20, 0.05),
        ("GI", "Nausea", 0.35, 0.03),
        ("NERVOUS", "Peripheral sensory neuropathy", 0.35, 0.03),
        ("BLOOD", "Platelet count decreased", 0.15, 0.10),
    )  # judgement (CAPOX)
    surgery_impact_delayed_g3: float = 0.5  # judgement: grade>=3 irAE before planned surgery
    surgery_impact_cancelled_g3: float = 0.08  # judgement

    # ---------------------------------------------------------------- quality of life
    qol_completion_prosp: float = 0.85  # judgement, per timepoint
    qol_completion_retro: float = 0.30  # judgement: retrospective patients rarely have questionnaires
    qol_completion_decline_per_year: float = 0.04  # judgement
    qol_window_days: int = 14  # judgement: +- days around the target date
    qol_wexner: float = 0.6  # judgement: rectal patients also completing Wexner
    # baseline mean, sd, item step (score granularity from the number of items x range)
    qol_baseline: Mapping[str, tuple[float, float, float]] = _f(
        {
            "QLQ_C30/QL2": (68, 20, 100 / 12), "QLQ_C30/PF2": (86, 14, 100 / 15), "QLQ_C30/RF2": (80, 24, 100 / 6),
            "QLQ_C30/EF": (74, 20, 100 / 12), "QLQ_C30/CF": (86, 17, 100 / 6), "QLQ_C30/SF": (78, 24, 100 / 6),
            "QLQ_C30/FA": (26, 20, 100 / 9), "QLQ_C30/PA": (18, 22, 100 / 6), "QLQ_C30/DI": (18, 25, 100 / 3),
            "QLQ_CR29/BI": (82, 20, 100 / 9), "QLQ_CR29/SF_STOOL": (28, 25, 100 / 6),
            "QLQ_STO22/EAT": (24, 20, 100 / 12), "QLQ_STO22/DYS": (14, 20, 100 / 9),
            "QLQ_OES18/EAT": (26, 22, 100 / 12), "QLQ_OES18/DYS": (20, 28, 100 / 3),
        }
    )  # judgement (EORTC reference values for GI cancer)
    # change from baseline at M3 by strategy group, recovering by `qol_recovery` per year
    # after; positive = higher score. ~10 points is a meaningful change (domain.md).
    qol_change_m3: Mapping[str, Mapping[str, float]] = _f(
        {
            "NOM": {"QL2": 6, "PF2": 3, "RF2": 6, "EF": 6, "SF": 5, "FA": -6, "DI": -6, "SF_STOOL": -8, "BI": 3, "EAT": -6, "DYS": -6},
            "OPFS": {"QL2": 2, "PF2": 0, "RF2": 0, "EF": 4, "SF": 0, "FA": -2, "DI": 0, "SF_STOOL": 0, "BI": 0, "EAT": 0, "DYS": -2},
            "RO": {"QL2": -10, "PF2": -12, "RF2": -18, "EF": 0, "SF": -14, "FA": 12, "DI": 12, "SF_STOOL": 14, "BI": -12, "EAT": 18, "DYS": 10},
            "SYSTEMIC": {"QL2": -8, "PF2": -8, "RF2": -10, "EF": -5, "SF": -8, "FA": 12, "DI": 5, "SF_STOOL": 0, "BI": -3, "EAT": 5, "DYS": 5},
        }
    )
    qol_recovery_per_year: float = 0.5  # judgement: fraction of the M3 change recovered per year
    qol_stoma_bi: float = -15.0  # judgement: body image with a stoma
    qol_noise_sd: float = 10.0  # judgement: within-patient noise
    # LARS total (mean, sd) by state; major LARS ~53%, any 77% after LAR (population study, BJS)
    lars: Mapping[str, tuple[float, float]] = _f({"BASELINE": (12, 9), "WW": (9, 8), "LOCAL": (17, 10), "LAR": (30.5, 12)})
    wexner: Mapping[str, tuple[float, float]] = _f({"BASELINE": (3, 3), "WW": (2.5, 3), "LOCAL": (4.5, 4), "LAR": (8, 5)})
    lars_after_closure_months: float = 6.0  # domain.md: measure >= 6-12 months after closure


DEFAULT = Calibration()
