"""Issue-19 methods against R: every reference number comes from tests/r/methods.R (R 4.2,
survival 3.5, cmprsk 2.2, MatchIt 4.5, nlme 3.1); the R call is written beside each test."""

import math
import shutil
import subprocess

import numpy as np
import polars as pl
import pytest
from numpy.testing import assert_allclose
from polars.testing import assert_frame_equal

from dashboard.stats import cox_model, propensity_weights
from dashboard.stats.comparative import ComparisonOptions, cox_cluster_robust, summarize_comparison
from dashboard.stats.finegray import fine_gray, gray_test
from dashboard.stats.matching import (
    balance_table,
    nearest_neighbour_match,
    overlap_weights,
    preference_score,
    trim_mask,
    truncate_weights,
)
from dashboard.stats.mmrm import mmrm
from dashboard.stats.multistate import PATHWAY_STATES, occupation_at, pathway_intervals, state_occupation
from dashboard.stats.noninferiority import evalue_hr, non_inferiority_hr
from dashboard.stats.rates import poisson_rate_ci, summarize_event_rates
from rref import R_DIR

M = R_DIR / "methods"
STATES = [s for s, _ in PATHWAY_STATES]


def rd(name: str) -> pl.DataFrame:
    return pl.read_csv(M / name, null_values="NA")


# ---------------------------------------------------------------- 1. Poisson rates
@pytest.mark.parametrize("row", list(rd("poisson.csv").iter_rows(named=True)),
                         ids=lambda r: f"{r['x']:g}/{r['exposure']:g}@{r['conf']:g}")
def test_poisson_rate_against_R_poisson_test(row):
    # R: poisson.test(x, T, conf.level = conf)$estimate / $conf.int
    r = poisson_rate_ci(int(row["x"]), row["exposure"], row["conf"])
    assert_allclose([r.rate, r.lower, r.upper], [row["rate"], row["lower"], row["upper"]], rtol=1e-12, atol=1e-300)


def test_rates_per_100_patient_years_by_group():
    exposure = pl.DataFrame({"subject_id": ["a", "b", "c", "d"], "group": ["NOM", "NOM", "RO", "RO"],
                             "years": [1.5, 2.0, 0.5, 3.0]})
    events = pl.DataFrame({"subject_id": ["a", "a", "c", "d"], "group": ["NOM", "NOM", "RO", "RO"],
                           "grade": [1, 3, 2, 4]})
    out = summarize_event_rates(exposure, events, group_order=["RO", "NOM"])
    assert out["group"].unique(maintain_order=True).to_list() == ["RO", "NOM", "ALL"]
    nom = out.filter((pl.col("group") == "NOM") & (pl.col("level") == "any")).row(0, named=True)
    assert (nom["n_events"], nom["n_patients_with_event"], nom["patient_years"]) == (2, 1, 3.5)
    ref = poisson_rate_ci(2, 3.5, per=100)
    assert_allclose([nom["rate"], nom["lower"], nom["upper"]], [ref.rate, ref.lower, ref.upper])
    g3 = out.filter((pl.col("group") == "ALL") & (pl.col("level") == "g3")).row(0, named=True)
    assert (g3["n_events"], g3["n_patients_with_event"]) == (2, 2)
    assert g3["rate"] == pytest.approx(2 / 7 * 100)
    with pytest.raises(ValueError, match="without exposure"):
        summarize_event_rates(exposure, events.with_columns(pl.lit("zz").alias("subject_id")))
    with pytest.raises(ValueError, match="whole number"):
        poisson_rate_ci(1.5, 2.0)


# ---------------------------------------------------------------- 2. Gray's test and Fine-Gray
@pytest.mark.parametrize("data,group,ref", [("cr_mgus2.csv", "sex", "gray_mgus2_sex.csv"),
                                            ("cr_small.csv", "grp", "gray_small_grp.csv")])
def test_gray_test_against_R_cuminc(data, group, ref):
    # R: cuminc(time, event, group, cencode = 0)$Tests
    d = rd(data)
    for row in rd(ref).iter_rows(named=True):
        g = gray_test(d, "time", "event", int(row["cause"]), group)
        assert g.df == int(row["df"])
        assert_allclose([g.statistic, g.p_value], [row["stat"], row["pv"]], rtol=1e-10)


@pytest.mark.parametrize("data,covs,cause,ref", [
    ("cr_mgus2.csv", ["sex", "age"], 1, "crr_mgus2_cause1.csv"),
    ("cr_mgus2.csv", ["sex", "age"], 2, "crr_mgus2_cause2.csv"),
    ("cr_small.csv", ["grp", "x"], 1, "crr_small_cause1.csv"),
])
def test_fine_gray_against_R_crr(data, covs, cause, ref):
    # R: crr(time, event, model.matrix(~ covs)[, -1], failcode = cause, cencode = 0, gtol = 1e-12)
    # (crr reports converged = FALSE at gtol 1e-12, a criterion below double precision; its
    # coefficients are then stable to ~1e-9, and at the default gtol 1e-6 they differ by ~3e-8)
    r = rd(ref)
    fit = fine_gray(rd(data), "time", "event", cause, covs)
    assert fit.converged
    assert_allclose(fit.table["coef"].to_numpy(), r["coef"].to_numpy(), rtol=1e-7)
    assert_allclose(fit.table["se"].to_numpy(), r["se"].to_numpy(), rtol=1e-7)
    assert fit.loglik == pytest.approx(r["loglik"][0], rel=1e-10)


def test_fine_gray_errors():
    d = rd("cr_small.csv")
    with pytest.raises(ValueError, match="censoring code"):
        fine_gray(d, "time", "event", 0, ["x"])
    with pytest.raises(ValueError, match="does not occur"):
        fine_gray(d, "time", "event", 9, ["x"])
    with pytest.raises(ValueError, match="at least two groups"):
        gray_test(d.with_columns(pl.lit("A").alias("grp")), "time", "event", 1, "grp")


# ---------------------------------------------------------------- 3. multi-state Aalen-Johansen
@pytest.mark.parametrize("data,ref", [("ms_pathway.csv", "ms_pathway_pstate.csv"),
                                      ("ms_pathway_istate.csv", "ms_pathway_istate_pstate.csv")])
def test_state_occupation_against_R_multistate_survfit(data, ref):
    # R: survfit(Surv(start, stop, factor(to, c("censored", states))) ~ grp, data, id = id,
    #            istate = factor(from, states))$pstate / $std.err (infinitesimal jackknife)
    so = state_occupation(rd(data), STATES, from_state="from", to_state="to", id="id", group="grp")
    r = rd(ref).rename({"strata": "group"})
    assert so.height == r.height
    j = so.join(r, on=["group", "time", "state"], how="inner")
    assert j.height == r.height
    assert_allclose(j["pstate"].to_numpy(), j["pstate_right"].to_numpy(), rtol=1e-10, atol=1e-14)
    assert_allclose(j["std_err"].to_numpy(), j["std.err"].to_numpy(), rtol=1e-10, atol=1e-14)
    sums = so.group_by("group", "time").agg(pl.col("pstate").sum())
    assert_allclose(sums["pstate"].to_numpy(), 1.0, rtol=1e-12)


def test_pathway_intervals_rules():
    df = pl.DataFrame({
        "subject_id": ["p1", "p2", "p3", "p4", "p5"], "group": ["NOM", "NOM", "OPFS", "RO", "NOM"],
        "excision": [None, 4.0, 1.0, None, None], "radical": [None, 9.0, 1.0, 0.5, None],
        "distant": [None, 12.0, None, 20.0, 6.0], "death": [None, 15.0, None, None, None],
        "last": [24.0, 15.0, 30.0, 10.0, 18.0]})
    iv = pathway_intervals(df)
    rows = {s: iv.filter(pl.col("subject_id") == s).select("start", "stop", "from_state", "to_state").rows()
            for s in df["subject_id"]}
    assert rows["p1"] == [(0.0, 24.0, "ORGAN", "censored")]
    assert rows["p2"] == [(0.0, 4.0, "ORGAN", "EXCISED"), (4.0, 9.0, "EXCISED", "RADICAL"),
                          (9.0, 12.0, "RADICAL", "DISTANT"), (12.0, 15.0, "DISTANT", "DEAD")]
    assert rows["p3"] == [(0.0, 1.0, "ORGAN", "RADICAL"), (1.0, 30.0, "RADICAL", "censored")]  # same day: radical
    assert rows["p4"] == [(0.0, 0.5, "ORGAN", "RADICAL"), (0.5, 10.0, "RADICAL", "censored")]  # distant after last contact
    assert rows["p5"] == [(0.0, 6.0, "ORGAN", "DISTANT"), (6.0, 18.0, "DISTANT", "censored")]
    so = state_occupation(iv, STATES)
    at4 = dict(so.filter(pl.col("time") == 4.0).select("state", "pstate").iter_rows())
    # by hand: p3, p4 leave ORGAN at 1 and 0.5 (0.2 each); at 4, 1 of the 3 in ORGAN moves: 0.6 / 3
    assert at4["EXCISED"] == pytest.approx(0.2) and at4["RADICAL"] == pytest.approx(0.4)
    assert at4["ORGAN"] == pytest.approx(0.4)


def test_occupation_at_does_not_extrapolate():
    so = state_occupation(rd("ms_pathway.csv"), STATES, from_state="from", to_state="to", id="id", group="grp")
    last = so.group_by("group").agg(pl.col("time").max()).sort("group")
    at = occupation_at(so, (6.0, 1e6))
    assert at["time"].unique().to_list() == [6.0]  # nothing reported past a group's last time
    six = at.filter((pl.col("group") == "G1") & (pl.col("state") == "ORGAN"))["pstate"].item()
    step = so.filter((pl.col("group") == "G1") & (pl.col("state") == "ORGAN") & (pl.col("time") <= 6.0))
    assert six == step.sort("time")["pstate"][-1]
    assert last.height == 2


# ---------------------------------------------------------------- 4. non-inferiority and E-values
@pytest.mark.parametrize("row", list(rd("evalues.csv").iter_rows(named=True)),
                         ids=lambda r: f"hr{r['hr']}-rare{r['rare']}")
def test_evalue_against_published_formula_in_R(row):
    # R (EValue::evalues.HR written out, VanderWeele & Ding 2017; VanderWeele 2020 for common outcomes):
    #   rr <- if (rare) hr else (1 - 0.5^sqrt(hr)) / (1 - 0.5^sqrt(1/hr)); rr <- max(rr, 1/rr)
    #   E = rr + sqrt(rr * (rr - 1)); CI limit closest to 1, E = 1 when the CI includes 1
    e = evalue_hr(row["hr"], row["lower"], row["upper"], rare=bool(row["rare"]))
    assert_allclose([e.estimate, e.limit], [row["e_est"], row["e_lim"]], rtol=1e-12)


def test_evalue_published_example():
    # VanderWeele & Ding 2017 (Ann Intern Med 167:268), breastfeeding example: RR 3.9 -> E-value 7.26,
    # lower limit 1.8 -> 3.0
    e = evalue_hr(3.9, 1.8, 8.7, rare=True)
    assert round(e.estimate, 2) == 7.26 and round(e.limit, 2) == 3.0


@pytest.mark.parametrize("row", list(rd("noninferiority.csv").iter_rows(named=True)), ids=lambda r: f"{r['coef']}")
def test_non_inferiority_against_R(row):
    # R: exp(coef + c(-1, 1) * qnorm(0.975) * se); pnorm((coef - log(margin)) / se)
    ni = non_inferiority_hr(row["coef"], row["se"], row["margin"])
    assert_allclose([ni.lower, ni.upper], [row["lower"], row["upper"]], rtol=1e-12)
    assert_allclose(ni.p_value, row["p"], rtol=1e-10)
    expected = ("superior" if row["upper"] < 1 else "non-inferior" if row["upper"] < row["margin"]
                else "inconclusive" if row["lower"] < row["margin"] else "inferior")
    assert ni.verdict == expected


def test_non_inferiority_rejects_bad_margin():
    with pytest.raises(ValueError, match="margin"):
        non_inferiority_hr(0.1, 0.1, margin=0.9)


# ---------------------------------------------------------------- 5. overlap and matching
def test_overlap_quantities_against_R():
    # R: ps <- fitted(glm(trt ~ x1 + x2 + f, binomial)); plogis(qlogis(ps) - qlogis(mean(trt)));
    #    ifelse(trt == 1, 1 - ps, ps); pmin(w, quantile(w, .99)); pmax(pmin(w, quantile(w, .95)), quantile(w, .05))
    md, r = rd("match_data.csv"), rd("ps_overlap.csv")
    ps = propensity_weights(md, "trt", ["x1", "x2", "f"])["propensity"].to_numpy()
    tr = md["trt"].to_numpy()
    assert_allclose(ps, r["ps"].to_numpy(), rtol=1e-8)  # IRLS to its own tolerance, as glm
    ps = r["ps"].to_numpy()
    assert_allclose(preference_score(ps, tr), r["preference"].to_numpy(), rtol=1e-12)
    assert_allclose(overlap_weights(ps, tr), r["overlap"].to_numpy(), rtol=1e-12)
    w = r["w_ate"].to_numpy()
    assert_allclose(truncate_weights(w, 0.99), r["w_trunc99"].to_numpy(), rtol=1e-12)
    assert_allclose(truncate_weights(w, 0.95, 0.05), r["w_trunc95_05"].to_numpy(), rtol=1e-12)
    keep = trim_mask(ps)
    assert keep.sum() == ((ps >= 0.1) & (ps <= 0.9)).sum() and keep.sum() < ps.size


@pytest.mark.parametrize("ref,caliper", [("match_nearest_cal02.csv", 0.2), ("match_nearest_cal005.csv", 0.05),
                                         ("match_nearest_nocal.csv", None)])
def test_matching_against_R_matchit(ref, caliper):
    # R: matchit(trt ~ ., method = "nearest", distance = |ps_t - ps_c| matrix, m.order = "data" on rows
    #    in decreasing score (= m.order "largest"), caliper = c * sd(ps), std.caliper = FALSE); see
    #    methods.R for why (MatchIt 4.5.1 ignores the caliper on its vector path, MatchIt issue #163).
    # Exact: same pairs, same pair numbers. Scores are distinct here: ties are not exercised.
    md, r = rd("match_data.csv"), rd(ref)
    ps = r["ps"].to_numpy()
    m = nearest_neighbour_match(ps, md["trt"].to_numpy(), caliper)
    assert np.array_equal(m.pair, r["pair"].to_numpy())
    assert np.array_equal(m.matched.astype(float), r["weight"].to_numpy())
    if caliper is not None:
        t = np.flatnonzero(md["trt"].to_numpy() == 1)
        for i in t[m.pair[t] > 0]:
            j = np.flatnonzero((m.pair == m.pair[i]) & (md["trt"].to_numpy() == 0))[0]
            assert abs(ps[i] - ps[j]) <= m.caliper_width


def _greedy_reference(ps, tr, width):
    """The matching rule written the slow, obvious way (O(n^2)): treated from the largest
    score (ties: data order), each takes the closest unused control (ties: data order)."""
    pair = np.zeros(ps.size, dtype=np.int64)
    used = np.zeros(ps.size, bool)
    k = 0
    for t in sorted(np.flatnonzero(tr == 1), key=lambda i: (-ps[i], i)):
        free = [c for c in np.flatnonzero(tr == 0) if not used[c]]
        if not free:
            break
        c = min(free, key=lambda c: (abs(ps[t] - ps[c]), c))
        if width is not None and abs(ps[t] - ps[c]) > width:
            continue
        used[c] = True
        k += 1
        pair[t] = pair[c] = k
    return pair


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matching_equals_the_greedy_rule_with_heavy_ties(seed):
    # scores on a coarse grid: many ties between treated and controls and among controls
    rng = np.random.default_rng(seed)
    n = 400
    ps = np.round(rng.uniform(0.05, 0.95, n), 2)
    tr = (rng.uniform(size=n) < ps).astype(int)
    for cal in (None, 0.2, 0.02):
        m = nearest_neighbour_match(ps, tr, cal)
        assert np.array_equal(m.pair, _greedy_reference(ps, tr, m.caliper_width)), cal


def test_matched_pairs_cox_cluster_robust_against_R():
    # R: coxph(Surv(time, status) ~ trt, data = matched, cluster = pair)  [and robust = TRUE for the per-patient SE]
    md = rd("match_data.csv").hstack(rd("match_outcome.csv"))
    pair = rd("match_nearest_cal02.csv")["pair"]
    d = md.with_columns(pair).filter(pl.col("pair") > 0)
    r = rd("match_cox_cluster.csv").row(0, named=True)
    coef, se = cox_cluster_robust(d, "time", "status", "trt", "pair")
    assert_allclose([coef, se], [r["coef"], r["se_cluster"]], rtol=1e-8)
    per_patient = cox_model(d, "time", "status", ["trt"], robust=True).table["se"][0]
    assert_allclose(per_patient, r["se_robust"], rtol=1e-8)


@pytest.mark.parametrize("method", ["iptw", "overlap", "matching"])
def test_summarize_comparison_against_R(method):
    # R: coxph(Surv(time, status) ~ trt, weights = w, robust = TRUE), w = stabilised IPTW
    #    (mean(trt) / ps, (1 - mean(trt)) / (1 - ps)) or overlap weights (1 - ps, ps);
    #    matching: coxph(..., cluster = pair) in the caliper-0.2 matched sample (see methods.R)
    md = rd("match_data.csv").hstack(rd("match_outcome.csv")).rename({"status": "event", "trt": "treated"})
    md = md.with_columns(pl.when(pl.col("treated") == 1).then(pl.lit("OP")).otherwise(pl.lit("RO")).alias("group"))
    res = summarize_comparison(md, ["x1", "x2", "f"], ComparisonOptions(method=method))
    if method == "matching":
        r = rd("match_cox_cluster.csv").row(0, named=True)
        coef, se = r["coef"], r["se_cluster"]
        assert res.counts_["analysed"].to_list() == [int((rd("match_nearest_cal02.csv")["pair"] > 0).sum() / 2)] * 2
    else:
        r = rd("comparison_cox.csv").filter(pl.col("method") == method).row(0, named=True)
        coef, se = r["coef"], r["se"]
    assert_allclose([res.hr_["coef"], res.hr_["se"]], [coef, se], rtol=1e-7)
    ni = non_inferiority_hr(coef, se)
    assert res.noninferiority_.verdict == ni.verdict
    assert res.evalue_.estimate == pytest.approx(evalue_hr(ni.hr, ni.lower, ni.upper, rare=res.rare_outcome).estimate)


def test_overlap_weights_balance_the_model_covariates_exactly():
    # Li, Morgan & Zaslavsky 2018: with a logistic score, overlap weights give exact mean balance on
    # every covariate of the model (the logistic score equations), so every SMD is 0
    md = rd("match_data.csv")
    ps = propensity_weights(md, "trt", ["x1", "x2", "f"])["propensity"].to_numpy()
    w = overlap_weights(ps, md["trt"].to_numpy())
    bal = balance_table(md, "trt", ["x1", "x2", "f"], weights=w)
    assert np.abs(bal["smd"].to_numpy()).max() < 1e-8


def test_matched_balance_improves_and_uses_full_sample_sd():
    md, r = rd("match_data.csv"), rd("match_nearest_cal02.csv")
    keep = r["pair"].to_numpy() > 0
    before = balance_table(md, "trt", ["x1", "x2", "f"])
    after = balance_table(md, "trt", ["x1", "x2", "f"], keep=keep)
    assert after["smd"].abs().max() < before["smd"].abs().max()
    # denominator from the full sample: SMD * sd_full == difference of matched means
    a = md.filter(pl.Series(keep))
    diff = a.filter(pl.col("trt") == 1)["x1"].mean() - a.filter(pl.col("trt") == 0)["x1"].mean()
    s = math.sqrt((md.filter(pl.col("trt") == 1)["x1"].var() + md.filter(pl.col("trt") == 0)["x1"].var()) / 2)
    assert after.filter(pl.col("covariate") == "x1")["smd"].item() == pytest.approx(diff / s, rel=1e-12)


# ---------------------------------------------------------------- 6. MMRM
@pytest.mark.parametrize("cov,tag,rtol", [("ar1", "ar1", 1e-7), ("unstructured", "un", 2e-6)])
def test_mmrm_against_R_gls(cov, tag, rtol):
    # R: gls(change ~ baseline + visit * group, method = "REML", correlation = corSymm(~ visit_no | id),
    #        weights = varIdent(~ 1 | visit))      [unstructured; opt = "optim", BFGS]
    #    gls(..., correlation = corAR1(~ visit_no | id))   [AR(1)]
    #    LS means: L %*% coef(fit), sqrt(diag(L %*% vcov(fit) %*% t(L))), L at mean(baseline), t(N - p) CI.
    # Tolerance: AR(1) agrees to ~1e-9. For the unstructured model (10 correlations + 4 variances) R's
    # optimiser stops ~2e-10 short of the REML maximum (its logLik is below ours, also with
    # optimMethod "Nelder-Mead" / "CG" / "L-BFGS-B" and msTol 1e-16), which moves the estimates by up
    # to ~4e-6 points: there SEs and Sigma at rtol 2e-6 / 6e-6, LS means within 1e-5 of their SE
    # (a relative tolerance is meaningless for an LS mean near 0), and our REML log-likelihood must
    # not be below R's.
    d = rd("mmrm_data.csv").rename({"id": "subject_id"})
    fit = mmrm(d, visits=["M3", "M6", "M12", "M24"], groups=["RO", "NOM", "OPFS"], covariance=cov)
    assert fit.converged
    ls = fit.lsmeans.join(rd(f"mmrm_{tag}_lsmeans.csv"), on=["group", "visit"])
    assert ls.height == 12
    assert_allclose(ls["se"].to_numpy(), ls["se_right"].to_numpy(), rtol=rtol)
    for c in ("estimate", "lower", "upper"):
        if cov == "ar1":
            assert_allclose(ls[c].to_numpy(), ls[f"{c}_right"].to_numpy(), rtol=rtol)
        else:
            assert np.all(np.abs(ls[c].to_numpy() - ls[f"{c}_right"].to_numpy()) <= 1e-5 * ls["se_right"].to_numpy())
    sig = rd(f"mmrm_{tag}_sigma.csv")
    ref = np.zeros((4, 4))
    for row in sig.iter_rows(named=True):
        ref[row["row"] - 1, row["col"] - 1] = row["value"]
    assert_allclose(fit.sigma, ref, rtol=3 * rtol)
    co = rd(f"mmrm_{tag}_coef.csv")
    assert_allclose(fit.coef["estimate"][1], co["estimate"][1], rtol=rtol)  # baseline slope
    assert_allclose(fit.coef["se"][1], co["se"][1], rtol=rtol)
    assert fit.reml_loglik >= co["loglik"][0] - 1e-9
    assert fit.reml_loglik == pytest.approx(co["loglik"][0], abs=1e-6)
    assert fit.df == d.height - 13  # 1 + baseline + 3 visits + 2 groups + 6 interactions


def test_mmrm_errors():
    d = rd("mmrm_data.csv").rename({"id": "subject_id"})
    with pytest.raises(ValueError, match="covariance"):
        mmrm(d, visits=["M3", "M6", "M12", "M24"], groups=["RO", "NOM", "OPFS"], covariance="cs")
    with pytest.raises(ValueError, match="not in the lists"):
        mmrm(d, visits=["M3", "M6"], groups=["RO", "NOM", "OPFS"])


# ---------------------------------------------------------------- the committed R files are current
@pytest.mark.r
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not on PATH")
def test_methods_reference_files_are_current(tmp_path):
    subprocess.run([shutil.which("Rscript"), str(R_DIR / "methods.R"), str(tmp_path)], check=True,
                   capture_output=True, cwd=R_DIR.parents[1], timeout=300)
    names = sorted(p.name for p in M.glob("*.csv"))
    assert names == sorted(p.name for p in tmp_path.glob("*.csv"))
    for name in names:
        assert_frame_equal(pl.read_csv(M / name, infer_schema_length=0),
                           pl.read_csv(tmp_path / name, infer_schema_length=0), check_exact=True)
