# Reference numbers for tests/stats, computed with R 4.2 / survival 3.5 from tests/r/data/.
# Run from the repository root:  Rscript tests/r/reference.R [outdir]
# Every output file is named after the R call that produced it; numbers are written with
# sprintf("%.17g") so Python can compare at rtol=1e-8 or tighter.
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else "tests/r/reference"
datadir <- if (length(args) >= 2) args[2] else "tests/r/data"
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
wcsv <- function(df, name) {
  for (v in names(df)) if (is.numeric(df[[v]])) df[[v]] <- num(df[[v]])
  write.csv(df, file.path(outdir, name), row.names = FALSE, quote = FALSE, na = "NA")
}
rd <- function(name) read.csv(file.path(datadir, name), stringsAsFactors = FALSE)

aml <- rd("aml.csv"); lung <- rd("lung.csv"); ties <- rd("ties.csv")
mg <- rd("mgus2_cr.csv"); scr <- rd("small_cr.csv")

strata_col <- function(fit) {
  if (is.null(fit$strata)) rep("all", length(fit$time))
  else sub("^[^=]*=", "", rep(names(fit$strata), fit$strata))
}

# ---- Kaplan-Meier: survfit(Surv(time, status) ~ g, conf.type = ct[, weights = w]) ----
km_out <- function(fit, name) {
  wcsv(data.frame(strata = strata_col(fit), time = fit$time, n.risk = fit$n.risk,
                  n.event = fit$n.event, n.censor = fit$n.censor, surv = fit$surv,
                  std.err = fit$std.err, lower = fit$lower, upper = fit$upper), name)
}
q_out <- function(fit, name) {  # quantile(fit, probs = c(.25, .5, .75))
  q <- quantile(fit, probs = c(0.25, 0.5, 0.75))
  s <- if (is.null(fit$strata)) "all" else sub("^[^=]*=", "", names(fit$strata))
  mk <- function(m) if (is.matrix(m)) m else matrix(m, nrow = 1)
  qq <- mk(q$quantile); lo <- mk(q$lower); up <- mk(q$upper)
  wcsv(data.frame(strata = rep(s, times = 3), prob = rep(c(0.25, 0.5, 0.75), each = length(s)),
                  quantile = c(qq), lower = c(lo), upper = c(up)), name)
}
at_out <- function(fit, times, name) {  # summary(fit, times = times)
  sm <- summary(fit, times = times)
  st <- if (is.null(sm$strata)) rep("all", length(sm$time)) else sub("^[^=]*=", "", as.character(sm$strata))
  wcsv(data.frame(strata = st, time = sm$time, n.risk = sm$n.risk, n.event = sm$n.event,
                  surv = sm$surv, std.err = sm$std.err, lower = sm$lower, upper = sm$upper), name)
}
for (ct in c("log", "log-log", "plain")) {
  tag <- gsub("-", "", ct)
  f <- survfit(Surv(time, status) ~ x, data = aml, conf.type = ct)
  km_out(f, sprintf("km_aml_%s.csv", tag)); q_out(f, sprintf("quantile_aml_%s.csv", tag))
  f <- survfit(Surv(time, status) ~ sex, data = lung, conf.type = ct)
  km_out(f, sprintf("km_lung_%s.csv", tag)); q_out(f, sprintf("quantile_lung_%s.csv", tag))
  at_out(f, c(90, 180, 365, 730, 1000), sprintf("survat_lung_%s.csv", tag))
  f <- survfit(Surv(time, status) ~ grp, data = ties, conf.type = ct)
  km_out(f, sprintf("km_ties_%s.csv", tag)); q_out(f, sprintf("quantile_ties_%s.csv", tag))
  at_out(f, c(6, 12, 24, 36), sprintf("survat_ties_%s.csv", tag))
  f <- survfit(Surv(time, status) ~ grp, data = ties, weights = w, conf.type = ct)
  km_out(f, sprintf("km_tiesw_%s.csv", tag)); q_out(f, sprintf("quantile_tiesw_%s.csv", tag))
  at_out(f, c(6, 12, 24, 36), sprintf("survat_tiesw_%s.csv", tag))
}
f <- survfit(Surv(time, status) ~ 1, data = lung, conf.type = "log-log", conf.int = 0.90)
km_out(f, "km_lung_all_loglog_90.csv"); q_out(f, "quantile_lung_all_loglog_90.csv")
# print(survfit) median and CI (the summary table)
f <- survfit(Surv(time, status) ~ x, data = aml)
tb <- summary(f)$table
wcsv(data.frame(strata = sub("^[^=]*=", "", rownames(tb)), median = tb[, "median"],
                lcl = tb[, "0.95LCL"], ucl = tb[, "0.95UCL"]), "median_table_aml_log.csv")

# ---- log-rank: survdiff(Surv(time, status) ~ g [+ strata(s)]) ----
sd_out <- function(sd, name) {
  o <- if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs
  e <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp
  df <- sum(e > 0) - 1
  wcsv(data.frame(group = sub("^[^=]*=", "", names(sd$n)), n = as.numeric(sd$n), observed = o,
                  expected = e, chisq = sd$chisq, df = df,
                  p = pchisq(sd$chisq, df, lower.tail = FALSE)), name)
  sd
}
invisible(sd_out(survdiff(Surv(time, status) ~ x, data = aml), "survdiff_aml.csv"))
invisible(sd_out(survdiff(Surv(time, status) ~ sex, data = lung), "survdiff_lung.csv"))
sdt <- sd_out(survdiff(Surv(time, status) ~ grp, data = ties), "survdiff_ties.csv")
sds <- sd_out(survdiff(Surv(time, status) ~ grp + strata(strat), data = ties), "survdiff_ties_strata.csv")
invisible(sd_out(survdiff(Surv(time, status) ~ sex + strata(inst), data = lung), "survdiff_lung_strata_inst.csv"))
# test for trend, scores 1..4 for A..D, written explicitly from survdiff's O, E and V:
#   U = s'(O - E), chisq = U^2 / (s' V s), df = 1
trend <- function(sd, s) {
  o <- if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs
  e <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp
  u <- sum(s * (o - e)); v <- drop(t(s) %*% sd$var %*% s)
  data.frame(u = u, var = v, chisq = u^2 / v, p = pchisq(u^2 / v, 1, lower.tail = FALSE))
}
wcsv(trend(sdt, 1:4), "trend_ties.csv")
wcsv(trend(sds, 1:4), "trend_ties_strata.csv")
wcsv(trend(sdt, c(0, 1, 2, 5)), "trend_ties_scores0125.csv")
# weighted log-rank: score test of coxph(..., weights = w, ties = "breslow") at beta = 0
cf <- coxph(Surv(time, status) ~ factor(grp), data = ties, weights = w, ties = "breslow",
            robust = FALSE)
sc <- summary(cf)$sctest
wcsv(data.frame(chisq = sc[["test"]], df = sc[["df"]], p = sc[["pvalue"]]), "coxph_score_breslow_ties_weighted.csv")

# ---- Cox: coxph(..., ties = "efron") ----
cox_out <- function(fit, name) {
  s <- summary(fit)$coefficients
  rob <- "robust se" %in% colnames(s)
  wcsv(data.frame(term = rownames(s), coef = s[, "coef"], se = s[, "se(coef)"],
                  robust_se = if (rob) s[, "robust se"] else NA,
                  hr = exp(s[, "coef"]), lower = summary(fit)$conf.int[, "lower .95"],
                  upper = summary(fit)$conf.int[, "upper .95"], p = s[, "Pr(>|z|)"],
                  loglik = fit$loglik[2]), name)
}
cox_out(coxph(Surv(time, status) ~ age + sex + ph_ecog, data = lung), "coxph_lung.csv")
cox_out(coxph(Surv(time, status) ~ factor(grp) + x, data = ties), "coxph_ties_grp_x.csv")
cox_out(coxph(Surv(time, status) ~ x + age, data = ties, weights = w, robust = TRUE),
        "coxph_ties_weighted_robust.csv")
cox_out(coxph(Surv(time, status) ~ factor(grp) + x, data = ties, robust = TRUE),
        "coxph_ties_robust.csv")

# ---- cumulative incidence: survfit(Surv(time, factor(event)) ~ 1), IJ std.err ----
ms_out <- function(fit, name) {
  st <- fit$states
  out <- NULL
  for (k in 2:length(st)) {
    out <- rbind(out, data.frame(cause = st[k], time = fit$time, n.risk = fit$n.risk[, 1],
                                 n.event = fit$n.event[, k], pstate = fit$pstate[, k],
                                 std.err = fit$std.err[, k], lower = fit$lower[, k],
                                 upper = fit$upper[, k]))
  }
  wcsv(out, name)
}
ms_out(survfit(Surv(time, factor(event)) ~ 1, data = mg), "aj_mgus2.csv")
ms_out(survfit(Surv(time, factor(event)) ~ 1, data = scr), "aj_small.csv")

# ---- proportions ----
xs <- c(0, 1, 3, 7, 10, 21, 22, 5)
ns <- c(10, 1, 10, 22, 10, 22, 22, 40)
pr <- NULL
for (i in seq_along(xs)) {
  x <- xs[i]; n <- ns[i]
  bt <- binom.test(x, n)$conf.int                                   # Clopper-Pearson
  pt <- suppressWarnings(prop.test(x, n, correct = FALSE))$conf.int # Wilson
  jl <- if (x == 0) 0 else qbeta(0.025, x + 0.5, n - x + 0.5)       # Jeffreys, BCD 2001
  ju <- if (x == n) 1 else qbeta(0.975, x + 0.5, n - x + 0.5)
  pr <- rbind(pr, data.frame(x = x, n = n, cp_lower = bt[1], cp_upper = bt[2],
                             wilson_lower = pt[1], wilson_upper = pt[2],
                             jeffreys_lower = jl, jeffreys_upper = ju))
}
wcsv(pr, "proportions.csv")

# ---- propensity weights and SMD ----
g <- glm(trt ~ x + age, family = binomial, data = ties, control = glm.control(epsilon = 1e-14, maxit = 100))
e <- fitted(g)
pt <- mean(ties$trt)
w_ate_s <- ifelse(ties$trt == 1, pt / e, (1 - pt) / (1 - e))
w_ate <- ifelse(ties$trt == 1, 1 / e, 1 / (1 - e))
w_att <- ifelse(ties$trt == 1, 1, e / (1 - e))
wcsv(data.frame(ps = e, w_ate_stabilized = w_ate_s, w_ate = w_ate, w_att = w_att), "propensity_ties.csv")
# SMD = (weighted mean1 - weighted mean0) / sqrt((var1 + var0) / 2), var = unweighted
# sample variance (n - 1) of each group; binary covariates use p(1 - p) of the unweighted groups
smd <- function(v, t, wt, binary) {
  m1 <- weighted.mean(v[t == 1], wt[t == 1]); m0 <- weighted.mean(v[t == 0], wt[t == 0])
  if (binary) { p1 <- mean(v[t == 1]); p0 <- mean(v[t == 0]); s <- sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2) }
  else s <- sqrt((var(v[t == 1]) + var(v[t == 0])) / 2)
  (m1 - m0) / s
}
ones <- rep(1, nrow(ties)); hi <- as.integer(ties$strat == "s2")
wcsv(data.frame(covariate = c("x", "age", "s2"),
                smd_unweighted = c(smd(ties$x, ties$trt, ones, FALSE), smd(ties$age, ties$trt, ones, FALSE), smd(hi, ties$trt, ones, TRUE)),
                smd_weighted = c(smd(ties$x, ties$trt, w_ate_s, FALSE), smd(ties$age, ties$trt, w_ate_s, FALSE), smd(hi, ties$trt, w_ate_s, TRUE))),
     "smd_ties.csv")

# weighted Aalen-Johansen (IJ variance with case weights)
ms_out(survfit(Surv(time, factor(event)) ~ 1, data = scr, weights = w), "aj_small_weighted.csv")

# ---- KMunicate risk table: summary(fit, times = grid, extend = TRUE), n.risk and the
# cumulative n.event / n.censor per stratum (the events and censored rows under "at risk") ----
risk_out <- function(fit, times, name) {
  sm <- summary(fit, times = times, extend = TRUE)
  st <- if (is.null(sm$strata)) rep("all", length(sm$time)) else sub("^[^=]*=", "", as.character(sm$strata))
  wcsv(data.frame(strata = st, time = sm$time, n.risk = sm$n.risk,
                  cum.event = ave(sm$n.event, st, FUN = cumsum),
                  cum.censor = ave(sm$n.censor, st, FUN = cumsum)), name)
}
risk_out(survfit(Surv(time, status) ~ sex, data = lung), seq(0, 1080, by = 180), "risktable_lung.csv")
risk_out(survfit(Surv(time, status) ~ grp, data = ties), seq(0, 48, by = 6), "risktable_ties.csv")
