"""Seeded synthetic registry: realistic, internally consistent, fully vectorised.

Patients are generated in chunks of :data:`CHUNK_SIZE`; chunk ``k`` draws from
``numpy.random.SeedSequence(seed, spawn_key=(k,))`` so the same ``(n_patients, seed,
calibration)`` gives the same rows whatever the machine. Every parameter lives in
:mod:`dashboard.calibration`.

The pathway per patient (domain.md): immunotherapy -> restaging (clinical response) ->
MDT strategy (episode 1 at T1) -> transitions: W&W regrowth -> salvage; local excision
with adverse pathology -> completion surgery; local excision -> W&W; patient choice
surgery; distant metastasis -> systemic therapy; progression; death; loss to follow-up.
Everything is truncated at the patient's last contact (or death) and the data cut-off.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl
import pyarrow as pa

from . import schema as S
from . import store
from .calibration import DEFAULT, Calibration

GENERATOR_VERSION = "1.0"
CHUNK_SIZE = 50_000  # fixed: results depend on (n, seed, calibration) only
DPM = S.DAYS_PER_MONTH
NA = 10**8  # "never" for day numbers
_EPOCH = _dt.date(1970, 1, 1)

# --------------------------------------------------------------------------------------
# code helpers
# --------------------------------------------------------------------------------------
_IDX = {name: {c: i for i, c in enumerate(v.codes)} for name, v in S.VOCABULARIES.items()}


def _c(vocab: str, code: str) -> int:
    return _IDX[vocab][code]


SITES = S.TUMOUR_SITE.codes
RESP = S.RESPONSE.codes  # CCR, NEAR_CCR, NON_CCR
REGS = S.REGIMEN_CLASS.codes
STRATS = S.STRATEGY.codes
RECT, COLON, GASTRIC, GEJ = (_c("tumour_site", s) for s in ("RECTUM", "COLON", "GASTRIC", "GEJ"))
CCR, NEAR, NON = (_c("response", s) for s in RESP)
WW, LE, ESD, EMR, RO, SYST = (_c("strategy", s) for s in ("WW", "LE", "ESD", "EMR", "RO", "SYSTEMIC"))
PT = {c: _c("procedure_type", c) for c in S.PROCEDURE_TYPE.codes}
YPT = {c: _c("ypt", c) for c in S.YPT.codes}
MOD = {c: _c("modality", c) for c in S.MODALITY.codes}
RES = {c: _c("exam_result", c) for c in S.EXAM_RESULT.codes}
GROUP_OF_STRATEGY = np.array([_c("strategy_group", S.STRATEGY_TO_GROUP[s]) for s in STRATS])
GRP = {c: _c("strategy_group", c) for c in S.STRATEGY_GROUP.codes}

PROC_TERM = {  # complication -> (soc, MedDRA PT)
    "ANASTOMOTIC_LEAK": ("INJURY", "Anastomotic leak"),
    "BLEEDING": ("INJURY", "Post procedural haemorrhage"),
    "PERFORATION": ("GI", "Gastrointestinal perforation"),
    "SSI": ("INFECTIONS", "Wound infection"),
    "ILEUS": ("GI", "Ileus"),
    "PNEUMONIA": ("INFECTIONS", "Pneumonia"),
    "STRICTURE": ("INJURY", "Anastomotic stenosis"),
    "OTHER": ("INJURY", "Procedural complication"),
}


def _day(d: _dt.date) -> int:
    return (d - _EPOCH).days


def _probs(dist: Mapping[str, float], codes: Sequence[str]) -> np.ndarray:
    unknown = set(dist) - set(codes)
    if unknown:
        raise ValueError(f"calibration codes not in the vocabulary: {sorted(unknown)}")
    p = np.array([float(dist.get(c, 0.0)) for c in codes])
    if p.sum() <= 0:
        raise ValueError("a calibration distribution has no positive weight")
    return p / p.sum()


def _cat(rng: np.random.Generator, n: int, dist: Mapping[str, float], codes: Sequence[str]) -> np.ndarray:
    cum = np.cumsum(_probs(dist, codes))
    return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(codes) - 1)


def _cat_by(rng, group: np.ndarray, dists: Mapping[str, Mapping[str, float]], group_codes, codes) -> np.ndarray:
    cum = np.cumsum(np.stack([_probs(dists[g], codes) for g in group_codes]), axis=1)
    u = rng.random(group.shape[0])
    return np.minimum((u[:, None] >= cum[group]).sum(1), len(codes) - 1)


def _ud(rng, n, lo_hi) -> np.ndarray:
    lo, hi = lo_hi
    return rng.integers(int(lo), int(hi) + 1, n)


def _weib_days(rng, n, shape_scale) -> np.ndarray:
    shape, scale = shape_scale
    return np.round(scale * rng.weibull(shape, n) * DPM).astype(np.int64)


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    return math.log(p / (1 - p))


class _Rows:
    """Row blocks of one table: dicts of equal-length numpy arrays, concatenated later."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, mask: np.ndarray, **cols: Any) -> None:
        m = np.asarray(mask, dtype=bool)
        k = int(m.sum())
        if k == 0:
            return
        part = {}
        for name, v in cols.items():
            a = np.asarray(v)
            part[name] = np.full(k, a) if a.ndim == 0 else a[m]
        self.parts.append(part)

    def cat(self) -> dict[str, np.ndarray]:
        if not self.parts:
            return {}
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


def _number(pid: np.ndarray) -> np.ndarray:
    """1-based position within runs of equal (sorted) pid."""
    n = pid.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(pid)) + 1]
    run = np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.arange(n) - run + 1


def _sort(cols: dict[str, np.ndarray], *keys: str) -> dict[str, np.ndarray]:
    order = np.lexsort(tuple(cols[k] for k in reversed(keys)))
    return {k: v[order] for k, v in cols.items()}


def _filter(cols: dict[str, np.ndarray], m: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[m] for k, v in cols.items()}


# --------------------------------------------------------------------------------------
# frame building
# --------------------------------------------------------------------------------------
def _series(col: S.Column, v: np.ndarray, strs: Mapping[str, Sequence[str]]) -> pl.Series:
    if col.type == "code" or col.name in strs:
        values = S.VOCABULARIES[col.vocab].codes if col.type == "code" else strs[col.name]
        idx = pa.array(v.astype(np.int64), mask=v < 0)
        return pl.Series(col.name, list(values), dtype=pl.String).gather(pl.from_arrow(idx))
    if col.type == "date":
        return pl.from_arrow(pa.array(v.astype(np.int32), mask=v >= NA, type=pa.int32()).cast(pa.date32())).alias(col.name)
    if col.type == "int":
        return pl.from_arrow(pa.array(v.astype(np.int64), mask=v < 0)).alias(col.name)
    if col.type == "float":
        return pl.from_arrow(pa.array(v.astype(np.float64), mask=np.isnan(v))).alias(col.name)
    if col.type == "bool":
        return pl.from_arrow(pa.array(v > 0, mask=v < 0)).alias(col.name)
    raise TypeError(col.type)


def _frame(name: str, cols: dict[str, np.ndarray], sid: pl.Series, strs: Mapping[str, Sequence[str]] | None = None) -> pl.DataFrame:
    t = S.table(name)
    strs = strs or {}
    out = []
    for col in t.columns:
        if col.name == "subject_id":
            out.append(sid.gather(pl.Series(cols["pid"].astype(np.int64))).alias("subject_id"))
        elif col.name in cols:
            out.append(_series(col, cols[col.name], strs))
    return pl.DataFrame(out)


# --------------------------------------------------------------------------------------
# one chunk
# --------------------------------------------------------------------------------------
def _chunk(cal: Calibration, rng: np.random.Generator, first: int, n: int, lists: dict) -> dict[str, pl.DataFrame]:
    cut = _day(cal.cutoff)
    pid = np.arange(n)
    rnd = rng.random

    # ---------------------------------------------------------------- subject
    site = _cat(rng, n, cal.site, SITES)
    rect, colon, upper = site == RECT, site == COLON, (site == GASTRIC) | (site == GEJ)
    elig = _cat(rng, n, cal.eligibility, S.ELIGIBILITY.codes)
    eligible = elig == _c("eligibility", "ELIGIBLE")
    has_ici = elig != _c("eligibility", "NO_ICI")
    prosp = rnd(n) < cal.prospective_fraction
    rs0, ps0 = _day(cal.retro_start), _day(cal.prospective_start)
    t0_retro = rs0 + np.floor((ps0 - 1 - rs0) * rnd(n) ** (1.0 / cal.accrual_shape)).astype(np.int64)
    reg_prosp = ps0 + np.floor((cut - 14 - ps0) * rnd(n)).astype(np.int64)
    lag_reg = _ud(rng, n, cal.registration_before_t0_days)
    reg = np.where(prosp, reg_prosp, t0_retro - lag_reg)
    t0 = np.minimum(np.where(prosp, reg_prosp + lag_reg, t0_retro), cut - 1)

    basis = _cat(rng, n, cal.biomarker_basis, S.BIOMARKER_BASIS.codes)
    pole = basis == _c("biomarker_basis", "POLE")
    ihc = basis == _c("biomarker_basis", "DMMR_IHC")
    mmr = _cat(rng, n, cal.mmr_loss, S.MMR_LOSS.codes)
    retained = _c("mmr_loss", "RETAINED")
    mmr = np.where(~ihc & ~pole & (rnd(n) < cal.mmr_loss_missing_non_ihc), -1, mmr)
    mmr = np.where(pole, np.where(rnd(n) < cal.pole_mmr_retained, retained, -1), mmr)
    mmr = np.where(elig == _c("eligibility", "PMMR_MSS"), retained, mmr)
    p_lynch = np.array([cal.lynch_by_mmr.get(c, cal.lynch_by_mmr["OTHER"]) for c in S.MMR_LOSS.codes] + [cal.lynch_by_mmr["OTHER"]])
    pl_ = p_lynch[mmr] * np.where(upper, cal.lynch_upper_gi_factor, 1.0)
    pl_ = np.where(pole | (mmr == retained), 0.0, pl_)
    lynch_yes = rnd(n) < pl_
    lynch = np.where(lynch_yes, _c("yes_no_unknown", "YES"), _c("yes_no_unknown", "NO"))
    lynch = np.where(rnd(n) < cal.lynch_unknown, _c("yes_no_unknown", "UNKNOWN"), lynch)
    braf_mut = (~upper) & (mmr == _c("mmr_loss", "MLH1_PMS2")) & ~lynch_yes & (rnd(n) < cal.braf_mut_in_sporadic_mlh1_colon * np.where(rect, 0.3, 1.0))
    braf = np.where(braf_mut, _c("braf", "MUT"), _c("braf", "WT"))
    braf = np.where(rnd(n) < np.where(upper, 0.75, cal.braf_unknown), _c("braf", "UNKNOWN"), braf)
    age = np.clip(np.round(rng.normal(cal.age_mean, cal.age_sd, n) + np.where(lynch_yes, cal.lynch_age_shift, 0.0)), 18, 90).astype(np.int64)
    sex = np.where(rnd(n) < cal.male_fraction, _c("sex", "M"), _c("sex", "F"))
    ecog = np.where(rnd(n) < cal.ecog_missing, -1, _cat(rng, n, cal.ecog, S.ECOG.codes))
    hist = _cat_by(rng, site, cal.histology, SITES, S.HISTOLOGY.codes)
    hist = np.where(rnd(n) < cal.histology_missing, -1, hist)
    ct = _cat_by(rng, site, cal.ct, SITES, S.CT_STAGE.codes)
    cn = _cat(rng, n, cal.cn, S.CN_STAGE.codes)
    m1 = (rnd(n) < cal.cm1) | (elig == _c("eligibility", "UNTREATABLE_MET"))
    cm = np.where(m1, _c("cm_stage", "M1"), _c("cm_stage", "M0"))
    lo, mode, hi = cal.distance_av_cm
    dist_raw = np.round(rng.triangular(lo, mode, hi, n) * 2) / 2
    dist_av = np.where(rect & (rnd(n) >= cal.distance_missing), dist_raw, np.nan)
    cea = np.round(np.exp(rng.normal(math.log(cal.cea_median), cal.cea_log_sd, n)), 1)
    cea = np.where(rnd(n) < cal.cea_missing, np.nan, np.clip(cea, 0, 10000))
    ctdna = _cat(rng, n, cal.ctdna, S.CTDNA.codes)
    centre = _cat(rng, n, cal.centres, lists["centres"])

    # ---------------------------------------------------------------- immunotherapy
    reg_cls = _cat_by(rng, site, cal.regimen, SITES, REGS)
    drug = np.zeros(n, dtype=np.int64)
    for r, rc in enumerate(REGS):
        m = reg_cls == r
        names = list(cal.drugs[rc])
        offs = np.array([lists["drug_index"][d] for d in names])
        drug[m] = offs[_cat(rng, int(m.sum()), cal.drugs[rc], names)]
    cyc_par = np.array([cal.cycles[rc] for rc in REGS])
    cyc = np.clip(np.round(rng.normal(cyc_par[reg_cls, 0], cyc_par[reg_cls, 1])), cyc_par[reg_cls, 2], cyc_par[reg_cls, 3]).astype(np.int64)
    interval = np.array([cal.cycle_interval_days[rc] for rc in REGS])[reg_cls]
    planned_end = t0 + (cyc - 1) * interval

    # immune-related AEs (one per PT at most), drawn before the ICI end (toxicity stops it)
    J = len(cal.irae)
    inc = np.array([x[2] for x in cal.irae])
    frac3 = np.array([x[3] for x in cal.irae])
    inc_mult = np.array([cal.irae_incidence_mult[rc] for rc in REGS])[reg_cls]
    sev_mult = np.array([cal.irae_severity_mult[rc] for rc in REGS])[reg_cls]
    occ = (rnd((n, J)) < np.minimum(inc[None, :] * inc_mult[:, None], 0.9)) & has_ici[:, None]
    g3 = rnd((n, J)) < np.minimum(frac3[None, :] * sev_mult[:, None], 0.9)
    endo = np.array([x[0] == "ENDOCRINE" for x in cal.irae])
    grade = np.where(g3, np.where(rnd((n, J)) < cal.irae_grade4_given_g3plus, 4, 3),
                     np.where(rnd((n, J)) < np.where(endo, 0.6, cal.irae_grade2_given_low)[None, :], 2, 1))
    window = (cyc * interval + int(cal.irae_onset_after_last_dose_months * DPM))[:, None]
    onset = t0[:, None] + 7 + np.floor(rnd((n, J)) * np.maximum(window - 7, 1)).astype(np.int64)
    g3_during = np.where(occ & (grade >= 3) & (onset <= planned_end[:, None]), onset, NA).min(1)
    stop_tox = (g3_during < NA) & (rnd(n) < cal.stop_toxicity_given_g3_during)
    end1 = np.where(stop_tox, t0 + ((g3_during - t0) // interval) * interval, planned_end)
    cyc1 = (end1 - t0) // interval + 1
    occ &= onset <= (end1 + int(cal.irae_onset_after_last_dose_months * DPM))[:, None]
    combo = np.isin(reg_cls, [_c("regimen_class", c) for c in ("PD1_CTLA4", "PDL1_CTLA4", "PD1_LAG3", "PD1_CHEMO")])
    exp2 = stop_tox & combo & (rnd(n) < cal.second_exposure_after_toxicity)
    start2 = end1 + _ud(rng, n, (28, 56))
    cyc2 = _ud(rng, n, (2, 6))
    end2 = start2 + (cyc2 - 1) * 21
    pd1_names = list(cal.drugs["PD1"])
    drug2 = np.array([lists["drug_index"][d] for d in pd1_names])[_cat(rng, n, cal.drugs["PD1"], pd1_names)]
    ici_end = np.where(exp2, end2, end1)

    # ---------------------------------------------------------------- response, strategy
    base = np.array([cal.response[s] for s in SITES])
    shift = (np.array([cal.response_regimen_logodds[rc] for rc in REGS])[reg_cls]
             + np.isin(ct, [_c("ct_stage", "T4A"), _c("ct_stage", "T4B")]) * cal.response_t4_logodds
             + (cn == _c("cn_stage", "N2")) * cal.response_n2_logodds + pole * cal.response_pole_logodds
             + (cyc1 <= 2) * cal.response_short_course_logodds)
    lo1 = np.array([_logit(b[0]) for b in base])[site]
    lo2 = np.array([_logit(min(b[0] + b[1], 0.999)) for b in base])[site]
    u = rnd(n)
    resp = np.where(u < _expit(lo1 + shift), CCR, np.where(u < _expit(lo2 + shift), NEAR, NON))
    grp_idx = site * 3 + resp
    sdists = {f"{s}/{r}": cal.strategy[s][r] for s in SITES for r in RESP}
    s1 = _cat_by(rng, grp_idx, sdists, [f"{s}/{r}" for s in SITES for r in RESP], STRATS)
    s1 = np.where(m1 & (resp == NON) & (rnd(n) < cal.cm1_systemic_non_ccr), SYST, s1)
    s1 = np.where((s1 == LE) & ~rect, ESD, s1)  # transanal excision is rectal only

    rs_date = ici_end + _ud(rng, n, cal.restaging_after_ici_days)
    t1 = rs_date + _ud(rng, n, cal.mdt_after_restaging_days)

    # ---------------------------------------------------------------- follow-up frame
    lc_cut = cut - _ud(rng, n, (0, cal.last_contact_lag_days))
    ltfu = t1 + np.round(rng.exponential(365.25 / cal.ltfu_per_year, n)).astype(np.int64)
    ex_end = np.where(has_ici, t0, reg) + _ud(rng, n, (30, 270))
    lc_alive = np.where(eligible & has_ici, np.minimum(lc_cut, ltfu), np.minimum(lc_cut, ex_end))
    lc_alive = np.where(~has_ici, np.minimum(lc_cut, reg + _ud(rng, n, cal.excluded_follow_days)), lc_alive)
    lc_alive = np.minimum(np.maximum(lc_alive, np.where(has_ici, t0, reg)), cut)
    main = eligible & has_ici
    has_rs = main & (rs_date <= lc_alive)
    has_t1 = main & (t1 <= lc_alive)

    h0 = cal.background_mortality_per_year_at_60 * 2.0 ** ((age - 60) / cal.background_mortality_doubling_years)
    b = math.log(2) / cal.background_mortality_doubling_years
    bg_years = np.log1p(b * rng.exponential(1.0, n) / h0) / b
    bg_death = np.where(has_t1, t1 + np.round(bg_years * 365.25).astype(np.int64), NA)

    dm_p = np.array([[cal.dm_p[s][r] for r in RESP] for s in SITES])[site, resp] * np.where(m1, cal.dm_cm1_factor, 1.0)
    D = np.where(has_t1 & (rnd(n) < np.minimum(dm_p, 0.9)), t1 + _weib_days(rng, n, cal.dm_weibull), NA)
    PR = np.where(has_t1 & (s1 == SYST) & (rnd(n) < cal.progression_p_systemic), t1 + _weib_days(rng, n, cal.progression_weibull), NA)
    cd_dm = np.where((D < NA) & (rnd(n) < cal.cancer_death_after_dm), D + 1 + _weib_days(rng, n, cal.cancer_death_weibull), NA)
    cd_pr = np.where((PR < NA) & (rnd(n) < cal.cancer_death_after_progression), PR + 1 + _weib_days(rng, n, cal.cancer_death_weibull), NA)
    c_death = np.minimum(cd_dm, cd_pr)
    death0 = np.minimum(bg_death, c_death)
    cause = np.where(c_death < bg_death, _c("death_cause", "CANCER"), _c("death_cause", "OTHER"))
    end0 = np.minimum(lc_alive, death0)

    # ---------------------------------------------------------------- episode 1
    start1 = np.where(s1 == WW, t1, np.where(s1 == SYST, t1 + _ud(rng, n, (7, 21)),
                      np.where(s1 == RO, t1 + _ud(rng, n, cal.surgery_after_mdt_days), t1 + _ud(rng, n, cal.local_after_mdt_days))))
    ep1 = has_t1 & (start1 <= end0)
    local1 = ep1 & np.isin(s1, [LE, ESD, EMR])
    ww1 = ep1 & (s1 == WW)

    # radical / local procedure type per patient
    low = np.where(np.isnan(dist_av), 6.0, dist_av) < cal.rectal_apr_below_cm
    apr = rnd(n) < np.where(low, cal.rectal_apr_p_low, cal.rectal_apr_p_other)
    rad_type = np.select(
        [rect, colon, site == GASTRIC],
        [np.where(apr, PT["TME_APR"], PT["TME_LAR"]), PT["COLECTOMY"],
         np.where(rnd(n) < cal.gastric_total, PT["GASTRECTOMY_TOTAL"], PT["GASTRECTOMY_DISTAL"])],
        np.where(rnd(n) < cal.gej_oesophagectomy, PT["OESOPHAGECTOMY"], PT["GASTRECTOMY_TOTAL"]),
    )
    tem = np.where(_cat(rng, n, cal.rectal_local, ("TEM", "TAMIS")) == 0, PT["TEM"], PT["TAMIS"])
    local_type = np.select([s1 == LE, s1 == EMR], [tem, PT["EMR"]], PT["ESD"])

    # surveillance schedule matrix (offset days from the anchor; padded with NA)
    rs_m, ug_m = np.array(cal.schedule_rectal_months), np.array(cal.schedule_upper_gi_months)
    K = max(len(rs_m), len(ug_m))
    pad = lambda a: np.r_[np.round(a * DPM), np.full(K - len(a), NA)].astype(np.int64)  # noqa: E731
    month_mat = np.where(upper[:, None], np.r_[ug_m, np.full(K - len(ug_m), 0)][None, :], np.r_[rs_m, np.full(K - len(rs_m), 0)][None, :])
    off = np.where(upper[:, None], pad(ug_m)[None, :], pad(rs_m)[None, :])
    off = off + rng.integers(-cal.visit_jitter_days, cal.visit_jitter_days + 1, (n, K))
    missed = rnd((n, K)) < cal.visit_missed

    def detect(anchor, latent):
        vis = anchor[:, None] + off
        cand = np.where(~missed & (vis >= latent[:, None]), vis, NA).min(1)
        uns = (rnd(n) < cal.regrowth_unscheduled) | (cand >= NA)
        return np.where(latent >= NA, NA, np.where(uns, latent + _ud(rng, n, (0, 30)), cand)), uns

    # ---------------------------------------------------------------- W&W branch
    rg_p = np.array([[cal.regrowth_p[s].get(r, 0.0) for r in RESP] for s in SITES])[site, resp]
    G = np.where(ww1 & (rnd(n) < rg_p), t1 + _weib_days(rng, n, cal.regrowth_weibull), NA)
    Gd, G_uns = detect(t1, G)
    lo_pc, hi_pc = cal.patient_choice_window
    P = np.where(ww1 & (rnd(n) < cal.patient_choice_surgery), t1 + np.round(rng.uniform(lo_pc, hi_pc, n) * DPM).astype(np.int64), NA)
    rg = ww1 & (Gd <= P) & (Gd <= D) & (Gd <= end0)
    pc = ww1 & ~rg & (P < D) & (P <= end0)
    sal_kind = _cat(rng, n, cal.salvage_kind, ("RO", "LOCAL", "NONE"))
    sal_dec = Gd + _ud(rng, n, cal.salvage_decision_days)
    sal_strat = np.select([sal_kind == 0, sal_kind == 1], [RO, np.where(rect, LE, ESD)], SYST)
    sal_start = sal_dec + np.select([sal_kind == 0, sal_kind == 1],
                                    [_ud(rng, n, cal.surgery_after_mdt_days), _ud(rng, n, cal.local_after_mdt_days)], _ud(rng, n, (7, 21)))
    e5 = rg & (sal_start <= end0)
    sal_type = np.where(sal_kind == 0, rad_type, np.where(rect, tem, PT["ESD"]))
    pc_start = P + _ud(rng, n, cal.surgery_after_mdt_days)
    e4 = pc & (pc_start <= end0)
    ww_hi = np.select([rg, pc], [np.where(G_uns, Gd - 1, Gd), P], np.minimum(D, NA))
    ww_hi = np.where(ww1, np.minimum(ww_hi, end0), -1)
    ww2_lo = np.where(e5 & (sal_kind == 1), sal_start + 60, NA)
    ww2_hi = np.where(e5 & (sal_kind == 1), np.minimum(D, end0), -1)

    # ---------------------------------------------------------------- local-excision branch
    ypt1 = _cat_by(rng, resp, cal.local_ypt, RESP, S.YPT.codes)
    r1 = _cat(rng, n, cal.local_r_status, S.R_STATUS.codes)
    adverse = (ypt1 >= YPT["T2"]) | (r1 == _c("r_status", "R1")) | (r1 == _c("r_status", "R2"))
    comp_dec = start1 + _ud(rng, n, (21, 42))
    comp_start = comp_dec + _ud(rng, n, (14, 35))
    e3 = local1 & adverse & (rnd(n) < cal.completion_given_adverse) & (comp_start <= end0)
    e2_dec = start1 + _ud(rng, n, (21, 42))
    e2 = local1 & ~adverse & (rnd(n) < cal.response_ww_after_local) & (e2_dec <= end0)
    L = np.where(local1 & ~e3 & (rnd(n) < np.where(adverse, cal.local_recurrence_p_adverse, cal.local_recurrence_p)),
                 start1 + _weib_days(rng, n, cal.local_recurrence_weibull), NA)
    Ld, L_uns = detect(start1, L)
    lr = local1 & ~e3 & (Ld <= D) & (Ld <= end0)
    e6_dec = Ld + _ud(rng, n, cal.salvage_decision_days)
    e6_start = e6_dec + _ud(rng, n, cal.surgery_after_mdt_days)
    e6 = lr & (e6_start <= end0)
    loc_hi = np.select([e3, lr], [comp_start - 1, np.where(L_uns, Ld - 1, Ld)], np.minimum(D, NA))
    loc_hi = np.where(local1, np.minimum(loc_hi, end0), -1)

    # distant metastasis -> systemic episode; progression
    e7_start = D + _ud(rng, n, (14, 28))
    e7 = ep1 & (s1 != SYST) & ~(e5 & (sal_strat == SYST)) & (e7_start <= end0)

    # ---------------------------------------------------------------- episodes
    ep = _Rows()
    ep.add(ep1, pid=pid, slot=0, strategy=s1, decision_date=t1, start_date=start1, trigger=_c("episode_trigger", "INITIAL"))
    ep.add(e2, pid=pid, slot=1, strategy=WW, decision_date=e2_dec, start_date=e2_dec, trigger=_c("episode_trigger", "RESPONSE"))
    ep.add(e3, pid=pid, slot=2, strategy=RO, decision_date=comp_dec, start_date=comp_start, trigger=_c("episode_trigger", "ADVERSE_PATHOLOGY"))
    ep.add(e4, pid=pid, slot=3, strategy=RO, decision_date=P, start_date=pc_start, trigger=_c("episode_trigger", "PATIENT_CHOICE"))
    ep.add(e5, pid=pid, slot=4, strategy=sal_strat, decision_date=sal_dec, start_date=sal_start, trigger=_c("episode_trigger", "REGROWTH"))
    ep.add(e6, pid=pid, slot=5, strategy=RO, decision_date=e6_dec, start_date=e6_start, trigger=_c("episode_trigger", "RECURRENCE"))
    ep.add(e7, pid=pid, slot=6, strategy=SYST, decision_date=e7_start - _ud(rng, n, (3, 10)), start_date=e7_start, trigger=_c("episode_trigger", "DISTANT_MET"))

    # ---------------------------------------------------------------- procedures
    I = {c: _c("procedure_intent", c) for c in S.PROCEDURE_INTENT.codes}
    pr = _Rows()
    p1 = ep1 & np.isin(s1, [RO, LE, ESD, EMR])
    pr.add(p1, pid=pid, slot=0, eslot=0, procedure_date=start1, procedure_type=np.where(s1 == RO, rad_type, local_type),
           intent=I["PRIMARY"], pcat=resp, ypt=np.where(s1 == RO, -1, ypt1), r=np.where(s1 == RO, -1, r1))
    pr.add(e3, pid=pid, slot=1, eslot=2, procedure_date=comp_start, procedure_type=rad_type, intent=I["COMPLETION"], pcat=NEAR, ypt=-1, r=-1)
    pr.add(e4, pid=pid, slot=2, eslot=3, procedure_date=pc_start, procedure_type=rad_type, intent=I["PRIMARY"], pcat=CCR, ypt=-1, r=-1)
    pr.add(e5 & (sal_kind < 2), pid=pid, slot=3, eslot=4, procedure_date=sal_start, procedure_type=sal_type, intent=I["SALVAGE"], pcat=3, ypt=-1, r=-1)
    pr.add(e6, pid=pid, slot=4, eslot=5, procedure_date=e6_start, procedure_type=rad_type, intent=I["SALVAGE"], pcat=3, ypt=-1, r=-1)
    proc = pr.cat()
    m_ = proc["pid"].shape[0]
    ptype = proc["procedure_type"]
    ptcodes = np.array(S.PROCEDURE_TYPE.codes)
    is_local = np.isin(ptype, [PT[c] for c in S.LOCAL_PROCEDURES])
    is_endo = np.isin(ptype, [PT["ESD"], PT["EMR"]])
    approach = np.where(is_endo, _c("approach", "ENDOSCOPIC"), np.where(is_local, _c("approach", "TRANSANAL"),
                        _cat(rng, m_, cal.approach_radical, S.APPROACH.codes)))
    rr = _cat(rng, m_, cal.radical_r_status, S.R_STATUS.codes)
    salv = proc["intent"] == I["SALVAGE"]
    rr = np.where(salv & ~is_local, np.where(rnd(m_) < cal.salvage_r0_radical, _c("r_status", "R0"), _c("r_status", "R1")), rr)
    rr = np.where(is_local, _cat(rng, m_, cal.local_r_status, S.R_STATUS.codes), rr)
    rr = np.where(proc["r"] >= 0, proc["r"], rr)
    # stoma
    st = {c: _c("stoma", c) for c in S.STOMA.codes}
    stoma = np.full(m_, st["NONE"])
    stoma = np.where(ptype == PT["TME_LAR"], _cat(rng, m_, cal.lar_stoma, S.STOMA.codes), stoma)
    stoma = np.where(ptype == PT["COLECTOMY"], _cat(rng, m_, cal.colectomy_stoma, S.STOMA.codes), stoma)
    stoma = np.where(ptype == PT["TME_APR"], st["PERMANENT"], stoma)
    lo_c, hi_c = cal.stoma_closure_months
    closure = np.where((stoma == st["TEMPORARY"]) & (rnd(m_) < cal.stoma_closed),
                       proc["procedure_date"] + np.round(rng.uniform(lo_c, hi_c, m_) * DPM).astype(np.int64), NA)
    # complications
    CDc = {c: _c("clavien_dindo", c) for c in S.CLAVIEN_DINDO.codes}
    CO = {c: _c("complication", c) for c in S.COMPLICATION.codes}
    LG = {c: _c("leak_grade", c) for c in S.LEAK_GRADE.codes}
    leak_par = np.array([cal.leak.get(c, (0.0, 0.0, 0.0)) for c in ptcodes])[ptype]
    anastomosis = np.isin(ptype, [PT[c] for c in ("TME_LAR", "COLECTOMY", "GASTRECTOMY_TOTAL", "GASTRECTOMY_DISTAL", "OESOPHAGECTOMY")])
    anastomosis &= ~((ptype == PT["TME_LAR"]) & (stoma == st["PERMANENT"]) & (rnd(m_) < 0.5))
    ul = rnd(m_)
    leak = np.select([ul < leak_par[:, 2], ul < leak_par[:, 2] + leak_par[:, 1], ul < leak_par[:, 0]], [LG["C"], LG["B"], LG["A"]], LG["NONE"])
    leak = np.where(anastomosis, leak, LG["NA"])
    uc = rnd(m_)
    cd_leak = np.select([leak == LG["A"], leak == LG["B"], leak == LG["C"]],
                        [np.where(uc < 0.5, CDc["I"], CDc["II"]), np.where(uc < 0.4, CDc["II"], CDc["IIIA"]),
                         np.select([uc < 0.8, uc < 0.96], [CDc["IIIB"], CDc["IVA"]], CDc["V"])], CDc["NONE"])
    has_leak = np.isin(leak, [LG["A"], LG["B"], LG["C"]])
    p_other = np.array([cal.other_complication.get(c, 0.0) for c in ptcodes])[ptype]
    other = ~has_leak & (rnd(m_) < p_other)
    other_cd = _cat(rng, m_, cal.other_cd, S.CLAVIEN_DINDO.codes)
    other_kind = np.where(is_local, np.array([CO["BLEEDING"], CO["STRICTURE"], CO["OTHER"]])[rng.integers(0, 3, m_)],
                          np.array([CO["SSI"], CO["ILEUS"], CO["BLEEDING"], CO["PNEUMONIA"], CO["OTHER"]])[rng.integers(0, 5, m_)])
    ue = rnd(m_)
    perf_p = np.where(ptype == PT["ESD"], cal.esd_perforation, np.where(ptype == PT["EMR"], cal.emr_perforation, 0.0))
    bleed_p = np.where(ptype == PT["ESD"], cal.esd_bleeding, np.where(ptype == PT["EMR"], cal.emr_bleeding, 0.0))
    perf, bleed = is_endo & (ue < perf_p), is_endo & (ue >= perf_p) & (ue < perf_p + bleed_p)
    u2 = rnd(m_)
    cd = np.select([has_leak, other, perf, bleed], [cd_leak, other_cd,
                   np.where(u2 < 0.7, CDc["IIIA"], CDc["IIIB"]), np.where(u2 < 0.4, CDc["II"], CDc["IIIA"])], CDc["NONE"])
    compl = np.select([has_leak, other, perf, bleed], [CO["ANASTOMOTIC_LEAK"], other_kind, CO["PERFORATION"], CO["BLEEDING"]], CO["NONE"])
    los_med = np.array([cal.length_of_stay_median[c] for c in ptcodes])[ptype]
    extra = np.select([cd == CDc["II"], np.isin(cd, [CDc["IIIA"], CDc["IIIB"]]), np.isin(cd, [CDc["IVA"], CDc["IVB"]])], [3, 9, 18], 0)
    los = np.clip(np.round(los_med * np.exp(rng.normal(0, 0.3, m_)) + extra), 1, 365).astype(np.int64)
    ae_off = np.where(compl == CO["ANASTOMOTIC_LEAK"], _ud(rng, m_, (4, 10)), _ud(rng, m_, (0, 7)))
    death_tr = proc["procedure_date"] + ae_off + _ud(rng, m_, (1, 50))
    cd = np.where((cd == CDc["V"]) & (death_tr > cut), CDc["IVB"], cd)  # a death after the cut-off is not known
    fatal = cd == CDc["V"]
    death_tr = np.where(fatal, death_tr, NA)
    los = np.where(fatal, np.minimum(los, death_tr - proc["procedure_date"]), los)
    miss = lambda: rnd(m_) < cal.procedure_field_missing  # noqa: E731
    proc.update(approach=np.where(miss(), -1, approach), r_status=np.where(miss(), -1, rr), stoma=stoma, stoma_closure_date=closure,
                clavien_dindo=np.where(miss() & ~fatal, -1, cd), complication=compl, leak_grade=leak, length_of_stay_days=np.where(miss(), -1, los),
                death_tr=death_tr, ae_off=ae_off, r_true=rr)

    # treatment-related deaths move the end of follow-up
    dtr = np.full(n, NA, dtype=np.int64)
    np.minimum.at(dtr, proc["pid"], proc["death_tr"])
    cause = np.where(dtr < NA, _c("death_cause", "TREATMENT"), cause)
    death = np.where(dtr < NA, dtr, death0)  # a postoperative death is always known
    dead = (dtr < NA) | (death0 <= lc_alive)
    end = np.where(dead, death, lc_alive)
    cause = np.where(dead & (rnd(n) < cal.death_cause_unknown), _c("death_cause", "UNKNOWN"), cause)

    proc = _filter(proc, proc["procedure_date"] <= end[proc["pid"]])
    proc = _sort(proc, "pid", "procedure_date", "slot")
    proc["procedure_no"] = _number(proc["pid"])
    proc_no = np.full((n, 5), -1, dtype=np.int64)
    proc_no[proc["pid"], proc["slot"]] = proc["procedure_no"]
    proc["stoma_closure_date"] = np.where(proc["stoma_closure_date"] <= end[proc["pid"]], proc["stoma_closure_date"], NA)

    epi = ep.cat()
    epi = _filter(epi, epi["start_date"] <= end[epi["pid"]])
    epi = _sort(epi, "pid", "decision_date", "slot")
    epi["episode_no"] = _number(epi["pid"])
    ep_no = np.full((n, 7), -1, dtype=np.int64)
    ep_no[epi["pid"], epi["slot"]] = epi["episode_no"]
    proc["episode_no"] = ep_no[proc["pid"], proc["eslot"]]
    assert (proc["episode_no"] >= 1).all(), "procedure without its episode"

    # organ loss (first radical procedure) and its stoma, for QoL
    rad = ~np.isin(proc["procedure_type"], [PT[c] for c in S.LOCAL_PROCEDURES])
    OL = np.full(n, NA, dtype=np.int64)
    np.minimum.at(OL, proc["pid"][rad], proc["procedure_date"][rad])
    first_rad = rad & (proc["procedure_date"] == OL[proc["pid"]])
    ol_type = np.full(n, -1)
    ol_stoma = np.full(n, st["NONE"])
    ol_close = np.full(n, NA, dtype=np.int64)
    ol_type[proc["pid"][first_rad]] = proc["procedure_type"][first_rad]
    ol_stoma[proc["pid"][first_rad]] = proc["stoma"][first_rad]
    ol_close[proc["pid"][first_rad]] = proc["stoma_closure_date"][first_rad]
    first_local = np.full(n, NA, dtype=np.int64)
    lm = ~rad
    np.minimum.at(first_local, proc["pid"][lm], proc["procedure_date"][lm])

    # ---------------------------------------------------------------- pathology
    pm = rnd(proc["pid"].shape[0]) >= cal.pathology_missing
    path = _filter(proc, pm)
    k = path["pid"].shape[0]
    psite = site[path["pid"]]
    ypt_cat = _cat_by(rng, path["pcat"], cal.radical_ypt, ("CCR", "NEAR_CCR", "NON_CCR", "SALVAGE"), S.YPT.codes)
    ypt = np.where(path["ypt"] >= 0, path["ypt"], ypt_cat)
    plocal = np.isin(path["procedure_type"], [PT[c] for c in S.LOCAL_PROCEDURES])
    nodepos = np.where(ypt == YPT["T0"], rnd(k) < 0.03, rnd(k) < cal.node_positive_if_residual * np.where(ypt >= YPT["T3"], 2.0, 1.0))
    n2 = rnd(k) < 0.3
    ypn = np.where(plocal, _c("ypn", "NX"), np.where(nodepos, np.where(n2, _c("ypn", "N2"), _c("ypn", "N1")), _c("ypn", "N0")))
    nmean = np.array([cal.nodes_examined_mean[s] for s in SITES])[psite]
    nex = np.maximum(rng.poisson(nmean), 4)
    npos = np.where(ypn == _c("ypn", "N1"), rng.integers(1, 4, k), np.where(ypn == _c("ypn", "N2"), rng.integers(4, 12, k), 0))
    nex = np.maximum(nex, npos)
    resid = np.select([ypt == YPT["T0"], ypt <= YPT["T1"], ypt == YPT["T2"]],
                      [0.0, rng.uniform(1, 10, k), rng.uniform(5, 50, k)], rng.uniform(20, 90, k))
    resid = np.where(rnd(k) < 0.05, np.nan, np.round(resid))
    becker = (psite == GASTRIC) | (psite == GEJ)
    trg_sys = np.where(becker, _c("trg_system", "BECKER"), np.where(rnd(k) < 0.7, _c("trg_system", "AJCC_CAP"), _c("trg_system", "MANDARD")))
    rv = np.where(np.isnan(resid), np.select([ypt == YPT["T0"], ypt <= YPT["T1"]], [0.0, 5.0], 40.0), resid)
    trg_list = lists["trg"]
    tb = np.select([rv == 0, rv < 10, rv <= 50], [trg_list.index("B1A"), trg_list.index("B1B"), trg_list.index("B2")], trg_list.index("B3"))
    ta = np.select([rv == 0, rv < 10, rv <= 50], [trg_list.index("A0"), trg_list.index("A1"), trg_list.index("A2")], trg_list.index("A3"))
    tm = np.select([rv == 0, rv < 10, rv <= 50, rv <= 80], [trg_list.index("M1"), trg_list.index("M2"), trg_list.index("M3"), trg_list.index("M4")], trg_list.index("M5"))
    trg = np.select([trg_sys == _c("trg_system", "BECKER"), trg_sys == _c("trg_system", "AJCC_CAP")], [tb, ta], tm)
    trg_missing = rnd(k) < 0.04
    pathology = dict(pid=path["pid"], procedure_no=path["procedure_no"], ypt=ypt, ypn=ypn, residual_viable_pct=resid,
                     trg_system=np.where(trg_missing, -1, trg_sys), trg_grade=np.where(trg_missing, -1, trg),
                     nodes_examined=np.where(plocal, -1, nex), nodes_positive=np.where(plocal, -1, npos))

    # ---------------------------------------------------------------- oncological events
    E = {c: _c("onc_event_type", c) for c in S.ONC_EVENT.codes}
    conf_rg = _cat(rng, n, cal.regrowth_confirmation, S.CONFIRMATION.codes)
    conf_dm = _cat(rng, n, {"IMAGING": 0.6, "BIOPSY": 0.3, "MDT": 0.1}, S.CONFIRMATION.codes)
    conf_lr = _cat(rng, n, {"BIOPSY": 0.7, "MDT": 0.2, "IMAGING": 0.1}, S.CONFIRMATION.codes)
    OLr = OL  # radical resection date after truncation
    lr_rad = np.where((OLr < NA) & (rnd(n) < cal.radical_local_recur_p), OLr + _weib_days(rng, n, cal.recur_weibull), NA)
    nod_rad = np.where((OLr < NA) & (rnd(n) < cal.radical_nodal_p), OLr + _weib_days(rng, n, cal.recur_weibull), NA)
    sp_rate = np.where(lynch_yes, cal.second_primary_per_year_lynch, cal.second_primary_per_year_other)
    SP = np.where(main, t0 + np.round(rng.exponential(365.25 / sp_rate)).astype(np.int64), NA)
    ev = _Rows()
    ev.add(rg, pid=pid, event_type=E["LOCAL_REGROWTH"], event_date=Gd, confirmation=conf_rg,
           regrowth_site=_cat(rng, n, cal.regrowth_site, S.REGROWTH_SITE.codes), sslot=3)
    ev.add(lr, pid=pid, event_type=E["LOCAL_RECUR"], event_date=Ld, confirmation=conf_lr, regrowth_site=-1, sslot=4)
    ev.add(lr_rad < NA, pid=pid, event_type=E["LOCAL_RECUR"], event_date=lr_rad, confirmation=conf_lr, regrowth_site=-1, sslot=-1)
    ev.add(nod_rad < NA, pid=pid, event_type=E["NODAL"], event_date=nod_rad, confirmation=conf_dm, regrowth_site=-1, sslot=-1)
    ev.add(D < NA, pid=pid, event_type=E["DISTANT"], event_date=D, confirmation=conf_dm, regrowth_site=-1, sslot=-1)
    ev.add(ep1 & (PR < NA), pid=pid, event_type=E["PROGRESSION"], event_date=PR, confirmation=_c("confirmation", "IMAGING"), regrowth_site=-1, sslot=-1)
    ev.add(SP < NA, pid=pid, event_type=E["SECOND_PRIMARY"], event_date=SP, confirmation=_c("confirmation", "BIOPSY"), regrowth_site=-1, sslot=-1)
    onc = ev.cat()
    onc = _filter(onc, onc["event_date"] <= end[onc["pid"]])
    onc = _sort(onc, "pid", "event_date", "event_type")
    onc["event_no"] = _number(onc["pid"])
    onc["salvage_procedure_no"] = np.where(onc["sslot"] >= 0, proc_no[onc["pid"], np.maximum(onc["sslot"], 0)], -1)

    # ---------------------------------------------------------------- adverse events
    ae = _Rows()
    terms = lists["terms"]
    soc_of_term = lists["soc_of_term"]
    t_idx = np.array([terms.index(x[1]) for x in cal.irae])
    imm_p = np.array([x[4] for x in cal.irae])
    ster_p = np.array([x[5] for x in cal.irae])
    pidm = np.broadcast_to(pid[:, None], (n, J))
    res_days = np.round(rng.lognormal(math.log(cal.irae_resolution_median_days), 0.7, (n, J))).astype(np.int64)
    ongoing = (endo[None, :] & (rnd((n, J)) < cal.irae_endocrine_ongoing))
    outc = np.where(ongoing, _c("ae_outcome", "ONGOING"), np.where(rnd((n, J)) < 0.08, _c("ae_outcome", "RESOLVED_SEQUELAE"), _c("ae_outcome", "RESOLVED")))
    outc = np.where(rnd((n, J)) < cal.ae_outcome_unknown, _c("ae_outcome", "UNKNOWN"), outc)
    resol = np.where(np.isin(outc, [_c("ae_outcome", "RESOLVED"), _c("ae_outcome", "RESOLVED_SEQUELAE")]), onset + res_days, NA)
    steroid = np.where(grade >= 2, rnd((n, J)) < ster_p[None, :], rnd((n, J)) < 0.03)
    surg_planned = (ep1 & (s1 == RO))[:, None]
    imp = np.where((grade >= 3) & surg_planned & (onset < start1[:, None]) & (rnd((n, J)) < cal.surgery_impact_delayed_g3), _c("ae_surgery_impact", "DELAYED"),
                   np.where((grade >= 3) & np.isin(s1, [WW, SYST])[:, None] & (rnd((n, J)) < cal.surgery_impact_cancelled_g3),
                            _c("ae_surgery_impact", "CANCELLED"), _c("ae_surgery_impact", "NONE")))
    ae.add(occ.ravel(), pid=pidm.ravel(), src=0, term=np.broadcast_to(t_idx[None, :], (n, J)).ravel(),
           grade=grade.ravel(), onset_date=onset.ravel(), resolution_date=resol.ravel(),
           immune_related=(rnd((n, J)) < imm_p[None, :]).astype(np.int8).ravel(), serious=((grade >= 3) | (rnd((n, J)) < 0.03)).astype(np.int8).ravel(),
           attribution=_c("ae_attribution", "ICI"), steroids=steroid.astype(np.int8).ravel(), outcome=outc.ravel(), surgery_impact=imp.ravel())
    chemo = has_ici & (reg_cls == _c("regimen_class", "PD1_CHEMO"))
    for soc_, term_, inc_, f3 in cal.chemo_ae:
        m = chemo & (rnd(n) < inc_)
        g = np.where(rnd(n) < f3, 3, np.where(rnd(n) < 0.4, 2, 1))
        on = t0 + 5 + np.floor(rnd(n) * np.maximum(end1 - t0, 1)).astype(np.int64)
        ae.add(m, pid=pid, src=1, term=terms.index(term_), grade=g, onset_date=on, resolution_date=on + _ud(rng, n, (5, 40)),
               immune_related=0, serious=(g >= 3).astype(np.int8), attribution=_c("ae_attribution", "CHEMO"), steroids=0,
               outcome=_c("ae_outcome", "RESOLVED"), surgery_impact=_c("ae_surgery_impact", "NONE"))
    cdv = proc["clavien_dindo"]
    cd_true = np.where(cdv < 0, 0, cdv)
    pm_ = proc["complication"] != CO["NONE"]
    gmap = np.array([0, 1, 2, 3, 3, 4, 4, 5])  # NONE, I, II, IIIA, IIIB, IVA, IVB, V -> CTCAE
    pg = gmap[cd_true]
    pg = np.where((cdv < 0) & pm_, 2, pg)
    co_terms = np.array([terms.index(PROC_TERM[c][1]) if c in PROC_TERM else 0 for c in S.COMPLICATION.codes])
    ponset = proc["procedure_date"] + proc["ae_off"]
    pfatal = pg == 5
    pendo = np.isin(proc["procedure_type"], [PT["ESD"], PT["EMR"]])
    ae.add(pm_ & (pg >= 1), pid=proc["pid"], src=2, term=co_terms[proc["complication"]], grade=pg, onset_date=ponset,
           resolution_date=np.where(pfatal, NA, ponset + _ud(rng, pm_.shape[0], (5, 45))), immune_related=0,
           serious=(pg >= 3).astype(np.int8), attribution=np.where(pendo, _c("ae_attribution", "ENDOSCOPY"), _c("ae_attribution", "SURGERY")),
           steroids=0, outcome=np.where(pfatal, _c("ae_outcome", "FATAL"), _c("ae_outcome", "RESOLVED")), surgery_impact=-1)
    aes = ae.cat()
    aes = _filter(aes, aes["onset_date"] <= end[aes["pid"]])
    late = aes["resolution_date"] > end[aes["pid"]]
    aes["outcome"] = np.where(late & (aes["resolution_date"] < NA), _c("ae_outcome", "ONGOING"), aes["outcome"])
    aes["resolution_date"] = np.where(late, NA, aes["resolution_date"])
    aes = _sort(aes, "pid", "onset_date", "src", "term")
    aes["ae_no"] = _number(aes["pid"])
    aes["soc"] = soc_of_term[aes["term"]]

    # ---------------------------------------------------------------- ICI exposure rows
    ongoing1 = end1 > end
    c1 = np.where(ongoing1, (end - t0) // interval + 1, cyc1)
    stop = np.full(n, _c("ici_stop", "COMPLETED"))
    stop = np.where((resp == NON) & (rnd(n) < cal.stop_progression_non_ccr), _c("ici_stop", "PROGRESSION"), stop)
    stop = np.where((s1 == RO) & combo & (cyc <= 4) & (rnd(n) < 0.6), _c("ici_stop", "SURGERY"), stop)
    us = rnd(n)
    stop = np.where(us < cal.stop_patient_choice, _c("ici_stop", "PATIENT_CHOICE"), np.where(us < cal.stop_patient_choice + cal.stop_other, _c("ici_stop", "OTHER"), stop))
    stop = np.where(stop_tox, _c("ici_stop", "TOXICITY"), stop)
    ic = _Rows()
    ic.add(has_ici, pid=pid, exposure_no=1, regimen_class=reg_cls, drugs=drug, start_date=t0, end_date=np.where(ongoing1, NA, end1),
           cycles=c1, stop_reason=np.where(ongoing1, -1, stop))
    ongoing2 = end2 > end
    ic.add(has_ici & exp2 & (start2 <= end), pid=pid, exposure_no=2, regimen_class=_c("regimen_class", "PD1"), drugs=drug2, start_date=start2,
           end_date=np.where(ongoing2, NA, end2), cycles=np.where(ongoing2, (end - start2) // 21 + 1, cyc2),
           stop_reason=np.where(ongoing2, -1, _c("ici_stop", "COMPLETED")))
    ici = ic.cat()

    # ---------------------------------------------------------------- assessments
    asr = _Rows()
    TP = {c: _c("assessment_timepoint", c) for c in S.TIMEPOINT.codes}
    bdate = t0 - _ud(rng, n, (7, 28))
    base_mods = [("ENDOSCOPY", np.ones(n, bool)), ("BIOPSY", np.ones(n, bool)), ("CT", np.ones(n, bool)),
                 ("MRI", rect), ("DRE", rect & (rnd(n) < 0.5)), ("EUS", upper), ("PET_CT", upper & (rnd(n) < 0.4)), ("CEA", ~np.isnan(cea))]
    for mname, inc_m in base_mods:
        res = np.full(n, RES["TUMOUR"])
        if mname == "CT":
            res = np.where(m1, RES["TUMOUR"], RES["NED"])
        if mname == "CEA":
            res = np.where(cea > 5.0, RES["TUMOUR"], RES["NED"])
        asr.add(main & inc_m, pid=pid, assessment_date=bdate, timepoint=TP["BASELINE"], modality=MOD[mname], result=res, overall_response=-1)
    rs_res_p = np.array([[0.92, 0.05, 0.03], [0.30, 0.60, 0.10], [0.02, 0.18, 0.80]])  # NED, EQUIVOCAL, TUMOUR by response
    ctdna_done = ctdna != _c("ctdna", "NOT_DONE")
    rs_mods = [("ENDOSCOPY", np.ones(n, bool)), ("CT", np.ones(n, bool)), ("CEA", np.ones(n, bool)), ("MRI", rect), ("DRE", rect),
               ("BIOPSY", upper | (rnd(n) < 0.4)), ("EUS", upper), ("PET_CT", upper & (rnd(n) < 0.5)), ("CTDNA", ctdna_done)]
    for mname, inc_m in rs_mods:
        cum = np.cumsum(rs_res_p[resp], axis=1)
        r_ = np.array([RES["NED"], RES["EQUIVOCAL"], RES["TUMOUR"]])[np.minimum((rnd(n)[:, None] >= cum).sum(1), 2)]
        if mname in ("CT", "CEA"):
            r_ = np.where(m1 & (rnd(n) < 0.5), RES["TUMOUR"], RES["NED"])
        d_ = rs_date if mname == "ENDOSCOPY" else np.maximum(rs_date - _ud(rng, n, (0, 7)), ici_end + 1)
        asr.add(has_rs & inc_m, pid=pid, assessment_date=d_, timepoint=TP["RESTAGING"], modality=MOD[mname],
                result=np.where(rnd(n) < 0.02, -1, r_), overall_response=resp if mname == "ENDOSCOPY" else -1)

    # surveillance visits: W&W from T1 (+ after a local salvage), organ in place after LE/ESD
    anchor = np.where(ww1, t1, np.where(local1, start1, NA))
    vis = anchor[:, None] + off
    lo_w = anchor[:, None]
    in1 = (vis > lo_w) & (vis <= np.maximum(ww_hi, loc_hi)[:, None])
    in2 = (vis >= ww2_lo[:, None]) & (vis <= ww2_hi[:, None])
    keep = ~missed & (in1 | in2) & (anchor[:, None] < NA)
    det_flag = np.where(ww1, rg & ~G_uns, lr & ~L_uns)
    det_date = np.where(ww1, Gd, Ld)
    is_det = keep & det_flag[:, None] & (vis == det_date[:, None])
    deepen = (resp == NEAR) & (rnd(n) < cal.near_ccr_deepening)
    vr = np.where(is_det, NON, np.where(deepen[:, None] & ((vis - anchor[:, None]) < 183) & ww1[:, None], NEAR, CCR))
    vp, vk = np.nonzero(keep)
    vdate, vresp, vdet, vmonth = vis[vp, vk], vr[vp, vk], is_det[vp, vk], month_mat[vp, vk]
    nv = vp.shape[0]
    vsite = site[vp]
    v_rect, v_col, v_up = vsite == RECT, vsite == COLON, (vsite == GASTRIC) | (vsite == GEJ)
    yearly = np.isclose(np.mod(vmonth, 12), 0)
    ct_fu = (rnd(n) < cal.ctdna_surveillance)[vp]
    surv_mods = [("ENDOSCOPY", np.ones(nv, bool)), ("DRE", v_rect), ("CEA", ~v_up), ("MRI", v_rect),
                 ("CT", yearly | (v_col & np.isclose(np.mod(vmonth, 6), 0))), ("BIOPSY", v_up | vdet), ("EUS", v_up),
                 ("PET_CT", v_up & (rnd(nv) < cal.pet_ct_upper_gi_visit)), ("CTDNA", ct_fu)]
    base_res = lambda: np.select([rnd(nv) < cal.exam_not_evaluable, rnd(nv) < cal.exam_equivocal], [RES["NOT_EVALUABLE"], RES["EQUIVOCAL"]], RES["NED"])  # noqa: E731
    det_p = {"ENDOSCOPY": 1.0, "BIOPSY": 0.85, "MRI": 0.6, "DRE": 0.5, "EUS": 0.7, "PET_CT": 0.5, "CTDNA": 0.5, "CT": 0.1, "CEA": 0.2}
    for mname, inc_m in surv_mods:
        r_ = np.where(vdet & (rnd(nv) < det_p[mname]), RES["TUMOUR"], base_res())
        if mname == "ENDOSCOPY":
            r_ = np.where(vdet, RES["TUMOUR"], r_)
        asr.add(inc_m, pid=vp, assessment_date=vdate, timepoint=TP["SURVEILLANCE"], modality=MOD[mname], result=r_,
                overall_response=vresp if mname == "ENDOSCOPY" else np.full(nv, -1))
    # unscheduled visits at which a regrowth / local recurrence was found
    uns = np.where(ww1, rg & G_uns, lr & L_uns)
    for mname, inc_m in [("ENDOSCOPY", np.ones(n, bool)), ("BIOPSY", rnd(n) < 0.85), ("MRI", rect)]:
        asr.add(uns & inc_m, pid=pid, assessment_date=det_date, timepoint=TP["UNSCHEDULED"], modality=MOD[mname],
                result=RES["TUMOUR"], overall_response=NON if mname == "ENDOSCOPY" else -1)
    del vis, in1, in2, keep, vr, is_det
    asm = asr.cat()
    asm = _filter(asm, asm["assessment_date"] <= end[asm["pid"]])
    asm = _sort(asm, "pid", "assessment_date", "modality")
    asm["assessment_no"] = _number(asm["pid"])

    # ---------------------------------------------------------------- QoL
    QT = {c: _c("qol_timepoint", c) for c in S.QOL_TIMEPOINT.codes}
    tps = [("BASELINE", reg, main), ("RESTAGING", rs_date, has_rs)]
    for m in (3, 6, 12, 24, 36):
        tps.append((f"M{m}", t1 + int(round(m * DPM)) + _ud(rng, n, (-cal.qol_window_days, cal.qol_window_days)), has_t1))
    comp_p = np.where(prosp, cal.qol_completion_prosp, cal.qol_completion_retro)
    qr = _Rows()
    for name, d_, m in tps:
        yrs = np.maximum(d_ - t0, 0) / 365.25
        ok = m & (d_ <= end) & (rnd(n) < comp_p - cal.qol_completion_decline_per_year * yrs)
        qr.add(ok, pid=pid, tp=QT[name], qol_date=d_)
    q = qr.cat()
    qp, qd, qtp = q["pid"], q["qol_date"], q["tp"]
    nq = qp.shape[0]
    after = qtp >= QT["M3"]
    lost = OL[qp] <= qd
    sys_now = (s1[qp] == SYST) | (np.where(e7, e7_start, NA)[qp] <= qd)
    grp = np.where(lost, GRP["RO"], np.where(sys_now, GRP["SYSTEMIC"], GROUP_OF_STRATEGY[np.where(ep1, s1, WW)][qp]))
    since = np.where(lost, (qd - OL[qp]) / 365.25, (qd - t1[qp]) / 365.25)
    fade = np.where(grp == GRP["RO"], np.maximum(0.3, 1 - cal.qol_recovery_per_year * np.maximum(since - 0.25, 0)), 1.0)
    grp_codes = S.STRATEGY_GROUP.codes
    perm = lost & (ol_stoma[qp] == st["PERMANENT"])
    temp_open = lost & (ol_stoma[qp] == st["TEMPORARY"]) & (qd < ol_close[qp])
    stoma_now = perm | temp_open
    qsite = site[qp]
    out_parts = []
    for sc in S.QOL_SCALES:
        if sc.instrument in ("LARS", "WEXNER"):
            continue
        mod_ok = {"QLQ_C30": np.ones(nq, bool), "QLQ_CR29": (qsite == RECT) | (qsite == COLON),
                  "QLQ_STO22": qsite == GASTRIC, "QLQ_OES18": qsite == GEJ}[sc.instrument]
        mean, sd, step = cal.qol_baseline[f"{sc.instrument}/{sc.code}"]
        re = rng.normal(0, sd * 0.6, n)[qp]
        chg = np.zeros(nq)
        for gi, g in enumerate(grp_codes):
            chg = np.where(grp == gi, cal.qol_change_m3[g].get(sc.code, 0.0), chg)
        chg = np.where(after, chg * fade, 0.0)
        if sc.code == "BI":
            chg = chg + np.where(stoma_now, cal.qol_stoma_bi, 0.0)
        x = mean + re + chg + rng.normal(0, cal.qol_noise_sd, nq)
        score = np.clip(np.round(x / step) * step, sc.low, sc.high)
        out_parts.append((mod_ok, lists["scale_index"][(sc.instrument, sc.code)], score))
    # LARS / Wexner: rectal, bowel continuity, >= 6 months after a stoma closure
    cont = (qsite == RECT) & ~stoma_now & ~(lost & (ol_stoma[qp] == st["TEMPORARY"]) & (qd < ol_close[qp] + int(cal.lars_after_closure_months * DPM)))
    state = np.where(~after, 0, np.where(lost & (ol_type[qp] == PT["TME_LAR"]), 3, np.where(first_local[qp] <= qd, 2, 1)))
    wex = (rnd(n) < cal.qol_wexner)[qp]
    for inst, par, hi_, m_ok in (("LARS", cal.lars, 42, cont), ("WEXNER", cal.wexner, 20, cont & wex)):
        mu = np.array([par[s_][0] for s_ in ("BASELINE", "WW", "LOCAL", "LAR")])[state]
        sdv = np.array([par[s_][1] for s_ in ("BASELINE", "WW", "LOCAL", "LAR")])[state]
        x = mu + rng.normal(0, 1, n)[qp] * sdv * 0.5 + rng.normal(0, 1, nq) * sdv * 0.85
        out_parts.append((m_ok, lists["scale_index"][(inst, "TOTAL")], np.clip(np.round(x), 0, hi_)))
    qcols = dict(
        pid=np.concatenate([qp[m] for m, _, _ in out_parts]),
        sidx=np.concatenate([np.full(int(m.sum()), si) for m, si, _ in out_parts]),
        timepoint=np.concatenate([qtp[m] for m, _, _ in out_parts]),
        qol_date=np.concatenate([qd[m] for m, _, _ in out_parts]),
        score=np.concatenate([s_[m] for m, _, s_ in out_parts]),
    )
    qcols["instrument"] = lists["scale_instr"][qcols["sidx"]]
    qcols["scale"] = lists["scale_code"][qcols["sidx"]]

    # ---------------------------------------------------------------- subject + follow-up rows
    subj = dict(pid=pid, cohort=np.where(prosp, _c("cohort", "PROSP"), _c("cohort", "RETRO")), centre=centre, registration_date=reg,
                eligibility=elig, age=age, sex=sex, ecog=ecog, tumour_site=site, histology=hist, biomarker_basis=basis, mmr_loss=mmr,
                lynch=lynch, braf=braf, ct=ct, cn=cn, cm=cm, distance_av_cm=dist_av, cea_baseline=cea, ctdna_baseline=ctdna)
    fu = dict(pid=pid, last_contact_date=end, vital_status=np.where(dead, _c("vital_status", "DEAD"), _c("vital_status", "ALIVE")),
              death_date=np.where(dead, death, NA), death_cause=np.where(dead, cause, -1))

    sid = ("NOR-" + pl.Series("subject_id", np.arange(first + 1, first + n + 1)).cast(pl.String).str.zfill(7)).alias("subject_id")
    strs = {"centre": lists["centres"], "drugs": lists["drugs"], "term": terms, "trg_grade": lists["trg_out"], "scale": lists["scale_codes_u"]}
    return {
        "subject": _frame("subject", subj, sid, strs),
        "ici_exposure": _frame("ici_exposure", ici, sid, strs),
        "assessment": _frame("assessment", asm, sid, strs),
        "strategy_episode": _frame("strategy_episode", epi, sid, strs),
        "procedure": _frame("procedure", proc, sid, strs),
        "pathology": _frame("pathology", pathology, sid, strs),
        "ae": _frame("ae", aes, sid, strs),
        "onc_event": _frame("onc_event", onc, sid, strs),
        "qol": _frame("qol", qcols, sid, strs),
        "follow_up": _frame("follow_up", fu, sid, strs),
    }


def _lists(cal: Calibration) -> dict:
    drugs: list[str] = []
    for rc in REGS:
        for d in cal.drugs[rc]:
            if d not in drugs:
                drugs.append(d)
    terms = [x[1] for x in cal.irae] + [x[1] for x in cal.chemo_ae] + [v[1] for v in PROC_TERM.values()]
    socs = [x[0] for x in cal.irae] + [x[0] for x in cal.chemo_ae] + [v[0] for v in PROC_TERM.values()]
    if len(set(terms)) != len(terms):
        raise ValueError("duplicate MedDRA preferred term in the calibration")
    trg = ["B1A", "B1B", "B2", "B3", "A0", "A1", "A2", "A3", "M1", "M2", "M3", "M4", "M5"]
    trg_out = [t[1:] for t in trg]
    assert set(trg_out[:4]) <= set(S.TRG_GRADES["BECKER"]) and set(trg_out[4:8]) <= set(S.TRG_GRADES["AJCC_CAP"])
    assert set(trg_out[8:]) <= set(S.TRG_GRADES["MANDARD"])
    scale_codes_u = sorted({s.code for s in S.QOL_SCALES})
    return {
        "centres": tuple(cal.centres),
        "drugs": drugs,
        "drug_index": {d: i for i, d in enumerate(drugs)},
        "terms": terms,
        "soc_of_term": np.array([_c("soc", s) for s in socs]),
        "trg": trg,
        "trg_out": trg_out,
        "scale_index": {(s.instrument, s.code): i for i, s in enumerate(S.QOL_SCALES)},
        "scale_instr": np.array([_c("qol_instrument", s.instrument) for s in S.QOL_SCALES]),
        "scale_code": np.array([scale_codes_u.index(s.code) for s in S.QOL_SCALES]),
        "scale_codes_u": scale_codes_u,
    }


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------
def generate(con, n_patients: int, seed: int, *, calibration: Calibration | None = None, progress: bool = False) -> dict:
    """Insert a synthetic registry of ``n_patients`` into the (empty) source tables of ``con``.

    Returns the provenance extras to record in ``_meta``.
    """
    if not isinstance(n_patients, int) or n_patients < 1:
        raise ValueError("n_patients must be a positive integer")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError("seed must be a non-negative integer")
    cal = calibration or DEFAULT
    lists = _lists(cal)
    n_chunks = -(-n_patients // CHUNK_SIZE)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_patients, unit="patients", desc="synthetic registry")
    try:
        for k in range(n_chunks):
            first = k * CHUNK_SIZE
            size = min(CHUNK_SIZE, n_patients - first)
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
            frames = _chunk(cal, rng, first, size, lists)
            for name in S.TABLE_NAMES:
                store.insert_frame(con, name, frames[name])
            del frames
            if bar is not None:
                bar.update(size)
    finally:
        if bar is not None:
            bar.close()
    return {
        "seed": seed,
        "n_patients": n_patients,
        "generator_version": GENERATOR_VERSION,
        "cutoff_date": cal.cutoff.isoformat(),
        "calibration": "default" if calibration is None or calibration == DEFAULT else "custom",
    }


def build_demo(db_path: Path | str, n_patients: int, seed: int, progress: bool = False, *, derive: bool = True,
               calibration: Calibration | None = None) -> dict:
    """Build a synthetic store at ``db_path`` (atomic swap; see :func:`store.build_store`)."""
    cal = calibration or DEFAULT
    provenance: dict[str, Any] = {
        "source": "synthetic",
        "seed": seed,
        "n_patients": n_patients,
        "generator_version": GENERATOR_VERSION,
        "cutoff_date": cal.cutoff.isoformat(),
        "calibration": "default" if calibration is None or calibration == DEFAULT else "custom",
    }

    def fill(con) -> None:
        generate(con, n_patients, seed, calibration=cal, progress=progress)

    return store.build_store(db_path, fill, provenance, derive=derive)
