# Inputs and reference numbers for the methods of issue 19 (tests/stats/test_methods_*.py):
# Poisson rates, Gray's test and Fine-Gray (cmprsk), multi-state Aalen-Johansen (survival),
# E-values (VanderWeele & Ding 2017, written out), propensity matching (MatchIt), MMRM (nlme).
# R 4.2, survival 3.5, cmprsk 2.2, MatchIt 4.5, nlme 3.1 (Debian packages, scripts/system-deps.sh).
# Run from the repository root:  Rscript tests/r/methods.R [outdir]
# Synthetic inputs use set.seed(), so every file is reproducible; numbers as sprintf("%.17g").
suppressPackageStartupMessages({library(survival); library(cmprsk); library(MatchIt); library(nlme)})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else "tests/r/methods"
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)
num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
wcsv <- function(df, name) {
  for (v in names(df)) if (is.numeric(df[[v]])) df[[v]] <- num(df[[v]])
  write.csv(df, file.path(outdir, name), row.names = FALSE, quote = FALSE, na = "NA")
}

# ---- 1. exact Poisson rates: poisson.test(x, T, conf.level = cl) ----
grid <- expand.grid(x = c(0, 1, 3, 10, 57), exposure = c(0.7, 12.5, 340.25), conf = c(0.95, 0.9))
pr <- t(apply(grid, 1, function(r) {
  p <- poisson.test(r[["x"]], r[["exposure"]], conf.level = r[["conf"]])
  c(p$estimate, p$conf.int)
}))
wcsv(data.frame(grid, rate = pr[, 1], lower = pr[, 2], upper = pr[, 3]), "poisson.csv")

# ---- 2. competing risks: cuminc(...)$Tests and crr(...) ----
etime <- with(mgus2, ifelse(pstat == 0, futime, ptime))
event <- with(mgus2, ifelse(pstat == 0, 2L * death, 1L))
mg <- data.frame(time = etime, event = event, sex = as.character(mgus2$sex), age = mgus2$age)
wcsv(mg, "cr_mgus2.csv")
set.seed(1919)
n <- 240
grp <- sample(c("A", "B", "C"), n, replace = TRUE)
x <- round(rnorm(n), 2)
t1 <- rexp(n, 0.04 * exp(0.5 * (grp == "B") + 0.9 * (grp == "C") + 0.4 * x))
t2 <- rexp(n, 0.03)
cc <- runif(n, 5, 60)
tt <- ceiling(pmin(t1, t2, cc))  # whole months: heavy ties across causes and censoring
ev <- ifelse(tt == ceiling(cc) & cc <= pmin(t1, t2), 0L, ifelse(t1 <= t2, 1L, 2L))
cr <- data.frame(time = tt, event = ev, grp = grp, x = x)
wcsv(cr, "cr_small.csv")

gray_out <- function(d, g, name) {
  ci <- cuminc(d$time, d$event, d[[g]], cencode = 0)
  wcsv(data.frame(cause = as.numeric(rownames(ci$Tests)), stat = ci$Tests[, "stat"], pv = ci$Tests[, "pv"],
                  df = ci$Tests[, "df"]), name)
}
gray_out(mg, "sex", "gray_mgus2_sex.csv")
gray_out(cr, "grp", "gray_small_grp.csv")
crr_out <- function(fit, name) {
  wcsv(data.frame(term = names(fit$coef), coef = fit$coef, se = sqrt(diag(fit$var)), loglik = fit$loglik,
                  converged = as.numeric(fit$converged)), name)
}
cov_mg <- model.matrix(~ sex + age, mg)[, -1, drop = FALSE]
for (cause in 1:2) {
  crr_out(crr(mg$time, mg$event, cov_mg, failcode = cause, cencode = 0, gtol = 1e-12),
          sprintf("crr_mgus2_cause%d.csv", cause))
}
cov_cr <- model.matrix(~ grp + x, cr)[, -1, drop = FALSE]
crr_out(crr(cr$time, cr$event, cov_cr, failcode = 1, cencode = 0, gtol = 1e-12), "crr_small_cause1.csv")

# ---- 3. multi-state pathway: survfit(Surv(start, stop, to) ~ grp, id = id, istate = from) ----
states <- c("ORGAN", "EXCISED", "RADICAL", "DISTANT", "DEAD")
rates <- list(ORGAN = c(EXCISED = 0.03, RADICAL = 0.02, DISTANT = 0.01, DEAD = 0.005),
              EXCISED = c(RADICAL = 0.02, DISTANT = 0.01, DEAD = 0.005),
              RADICAL = c(DISTANT = 0.015, DEAD = 0.008),
              DISTANT = c(DEAD = 0.06))
sim_ms <- function(n, start_states, seed) {
  set.seed(seed)
  rows <- list()
  for (i in seq_len(n)) {
    g <- if (i %% 2 == 0) "G1" else "G2"
    s <- sample(start_states, 1)
    t <- 0
    cens <- runif(1, 6, 48)
    mult <- if (g == "G2") 1.5 else 1
    repeat {
      if (s == "DEAD") break
      r <- rates[[s]] * mult
      w <- rexp(length(r), r)
      k <- which.min(w)
      tn <- ceiling((t + w[k]) * 2) / 2  # half-month grid: tied transition times
      if (tn <= t) tn <- t + 0.5
      if (tn > cens) {
        cs <- ceiling(cens * 2) / 2
        if (cs > t) rows[[length(rows) + 1]] <- data.frame(id = i, grp = g, start = t, stop = cs, from = s, to = "censored")
        break
      }
      rows[[length(rows) + 1]] <- data.frame(id = i, grp = g, start = t, stop = tn, from = s, to = names(r)[k])
      s <- names(r)[k]
      t <- tn
    }
  }
  do.call(rbind, rows)
}
ms_out <- function(d, name) {
  d$to <- factor(d$to, c("censored", states))
  d$from <- factor(d$from, states)
  fit <- survfit(Surv(start, stop, to) ~ grp, data = d, id = id, istate = from)
  st <- sub("^[^=]*=", "", rep(names(fit$strata), fit$strata))
  ps <- fit$pstate; se <- fit$std.err
  colnames(ps) <- colnames(se) <- fit$states
  out <- do.call(rbind, lapply(states, function(s) data.frame(strata = st, time = fit$time, state = s,
                                                               pstate = ps[, s], std.err = se[, s])))
  wcsv(out, name)
}
ms1 <- sim_ms(160, "ORGAN", 20261)
wcsv(ms1, "ms_pathway.csv")
ms_out(ms1, "ms_pathway_pstate.csv")
ms2 <- sim_ms(120, c("ORGAN", "ORGAN", "EXCISED", "RADICAL"), 20262)  # starting states vary
wcsv(ms2, "ms_pathway_istate.csv")
ms_out(ms2, "ms_pathway_istate_pstate.csv")

# ---- 4. E-values, VanderWeele & Ding 2017 (EValue::evalues.HR written out) ----
ev_rr <- function(rr) { rr <- ifelse(rr < 1, 1 / rr, rr); rr + sqrt(rr * (rr - 1)) }
hr_rr <- function(hr, rare) if (rare) hr else (1 - 0.5^sqrt(hr)) / (1 - 0.5^sqrt(1 / hr))
eg <- data.frame(hr = c(0.62, 0.62, 1.45, 1.45, 0.88, 2.9, 1.0), lower = c(0.45, 0.45, 1.08, 1.08, 0.61, 1.7, 0.7),
                 upper = c(0.85, 0.85, 1.95, 1.95, 1.27, 4.95, 1.43), rare = c(1, 0, 1, 0, 1, 0, 1))
eg$e_est <- mapply(function(h, r) ev_rr(hr_rr(h, r == 1)), eg$hr, eg$rare)
eg$e_lim <- mapply(function(h, l, u, r) {
  if (l <= 1 && u >= 1) 1 else ev_rr(hr_rr(if (h > 1) l else u, r == 1))
}, eg$hr, eg$lower, eg$upper, eg$rare)
wcsv(eg, "evalues.csv")
# non-inferiority: Wald CI and one-sided p against the margin
ni <- data.frame(coef = c(-0.1, 0.05, 0.2, 0.45), se = c(0.08, 0.1, 0.12, 0.09), margin = c(1.29, 1.29, 1.25, 1.29))
z <- qnorm(0.975)
ni$lower <- exp(ni$coef - z * ni$se); ni$upper <- exp(ni$coef + z * ni$se)
ni$p <- pnorm((ni$coef - log(ni$margin)) / ni$se)
wcsv(ni, "noninferiority.csv")

# ---- 5. propensity overlap and matching: matchit(method = "nearest", caliper) ----
set.seed(1920)
n <- 300
x1 <- round(rnorm(n, 60, 10), 1)
x2 <- rnorm(n)
f <- sample(c("a", "b", "c"), n, replace = TRUE)
trt <- rbinom(n, 1, plogis(-4.2 + 0.055 * x1 + 0.8 * x2 + 0.5 * (f == "c")))
md <- data.frame(trt = trt, x1 = x1, x2 = x2, f = f)
wcsv(md, "match_data.csv")
# MatchIt 4.5.1 (Debian) ignores `caliper` on its vectorised propensity path (MatchIt issue #163,
# "Caliper not working as intended on versions 4.5.1 - 4.5.3"), so the reference goes through its
# distance-matrix path: |ps_t - ps_c| with the glm score, treated rows first in decreasing score and
# m.order = "data" (= "largest"), caliper = c x sd(ps) on the score scale (std.caliper = FALSE).
ps <- fitted(glm(trt ~ x1 + x2 + f, family = binomial, data = md))
ord <- order(-md$trt, -ps)
mdo <- md[ord, ]; pso <- ps[ord]
D <- abs(outer(pso[mdo$trt == 1], pso[mdo$trt == 0], "-"))
match_out <- function(cal, name) {
  m <- if (is.na(cal)) matchit(trt ~ x1, data = mdo, method = "nearest", distance = D, m.order = "data")
       else matchit(trt ~ x1, data = mdo, method = "nearest", distance = D, m.order = "data",
                    caliper = cal * sd(ps), std.caliper = FALSE)
  pair <- integer(nrow(md))
  mm <- m$match.matrix
  ok <- !is.na(mm[, 1])
  tr_rows <- as.integer(rownames(mm)[ok]); ct_rows <- as.integer(mm[ok, 1])
  pair[tr_rows] <- seq_along(tr_rows); pair[ct_rows] <- seq_along(tr_rows)
  wcsv(data.frame(ps = ps, pair = pair, weight = m$weights[order(ord)]), name)
}
# matched-pair Cox model with the cluster-robust SE: coxph(Surv(time, status) ~ trt, cluster = pair)
set.seed(1922)
md$time <- round(rexp(n, 0.03 * exp(-0.3 * md$trt + 0.02 * (md$x1 - 60))) + 0.5, 1)
md$status <- rbinom(n, 1, 0.75)
m02 <- matchit(trt ~ x1, data = mdo, method = "nearest", distance = D, m.order = "data", caliper = 0.2 * sd(ps),
               std.caliper = FALSE)
pair <- integer(n); mm2 <- m02$match.matrix; ok2 <- !is.na(mm2[, 1])
pair[as.integer(rownames(mm2)[ok2])] <- seq_len(sum(ok2)); pair[as.integer(mm2[ok2, 1])] <- seq_len(sum(ok2))
wcsv(data.frame(time = md$time, status = md$status), "match_outcome.csv")
mdm <- cbind(md, pair = pair)[pair > 0, ]
fc <- coxph(Surv(time, status) ~ trt, data = mdm, cluster = pair)
fr <- coxph(Surv(time, status) ~ trt, data = mdm, robust = TRUE)
wcsv(data.frame(coef = coef(fc), se_cluster = sqrt(diag(vcov(fc))), se_robust = sqrt(diag(vcov(fr)))),
     "match_cox_cluster.csv")
# the whole comparison: weighted Cox, robust SE, for stabilised IPTW and overlap weights
pt <- mean(md$trt)
w_iptw <- ifelse(md$trt == 1, pt / ps, (1 - pt) / (1 - ps))
w_ow <- ifelse(md$trt == 1, 1 - ps, ps)
ci <- function(f) c(coef = unname(coef(f)), se = unname(sqrt(diag(vcov(f)))))
wcsv(data.frame(method = c("iptw", "overlap"),
                rbind(ci(coxph(Surv(time, status) ~ trt, data = md, weights = w_iptw, robust = TRUE)),
                      ci(coxph(Surv(time, status) ~ trt, data = md, weights = w_ow, robust = TRUE)))),
     "comparison_cox.csv")
match_out(0.2, "match_nearest_cal02.csv")
match_out(0.05, "match_nearest_cal005.csv")
match_out(NA, "match_nearest_nocal.csv")
w_ate <- ifelse(trt == 1, 1 / ps, 1 / (1 - ps))
wcsv(data.frame(ps = ps, preference = plogis(qlogis(ps) - qlogis(mean(trt))),
                overlap = ifelse(trt == 1, 1 - ps, ps), w_ate = w_ate,
                w_trunc99 = pmin(w_ate, quantile(w_ate, 0.99)),
                w_trunc95_05 = pmax(pmin(w_ate, quantile(w_ate, 0.95)), quantile(w_ate, 0.05))), "ps_overlap.csv")

# ---- 6. MMRM: gls(change ~ baseline + visit * group, REML, corSymm + varIdent / corAR1) ----
set.seed(1921)
np_ <- 150
vis <- c("M3", "M6", "M12", "M24")
grp <- sample(c("RO", "NOM", "OPFS"), np_, replace = TRUE)
base <- round(rnorm(np_, 62, 16), 1)
S <- matrix(c(140, 90, 70, 50, 90, 160, 100, 80, 70, 100, 190, 120, 50, 80, 120, 230), 4)
e <- matrix(rnorm(np_ * 4), np_) %*% chol(S)
eff <- c(RO = -6, NOM = 4, OPFS = 1)
rows <- list()
for (i in seq_len(np_)) for (j in 1:4) {
  y <- 20 - 0.3 * base[i] + eff[[grp[i]]] + 1.5 * j * (grp[i] != "RO") + e[i, j]
  if (runif(1) < 0.12 + 0.04 * j) next  # visits missing at random, more later
  rows[[length(rows) + 1]] <- data.frame(id = i, group = grp[i], visit = vis[j], visit_no = j, baseline = base[i],
                                         change = round(y, 2))
}
mm <- do.call(rbind, rows)
wcsv(mm, "mmrm_data.csv")
mm$visit <- factor(mm$visit, vis)
mm$group <- factor(mm$group, c("RO", "NOM", "OPFS"))
# nlminb (the default) stops ~1e-7 short of the REML maximum for corSymm here; optim BFGS gets there
ctrl_un <- glsControl(opt = "optim", optimMethod = "BFGS", tolerance = 1e-12, msTol = 1e-12, maxIter = 500, msMaxIter = 500)
ctrl_ar <- glsControl(tolerance = 1e-12, msTol = 1e-12, maxIter = 500, msMaxIter = 500)  # optim fails for corAR1 here
mmrm_out <- function(fit, tag) {
  grid <- expand.grid(visit = factor(vis, vis), group = factor(c("RO", "NOM", "OPFS"), c("RO", "NOM", "OPFS")))
  grid$baseline <- mean(mm$baseline)
  L <- model.matrix(~ baseline + visit * group, grid)
  est <- drop(L %*% coef(fit)); se <- sqrt(diag(L %*% vcov(fit) %*% t(L)))
  dfree <- nrow(mm) - length(coef(fit))
  q <- qt(0.975, dfree)
  wcsv(data.frame(group = as.character(grid$group), visit = as.character(grid$visit), estimate = est, se = se,
                  lower = est - q * se, upper = est + q * se), sprintf("mmrm_%s_lsmeans.csv", tag))
  V <- getVarCov(fit, individual = as.character(mm$id[match(TRUE, table(mm$id)[as.character(mm$id)] == 4)]))
  wcsv(data.frame(row = rep(1:4, 4), col = rep(1:4, each = 4), value = c(V)), sprintf("mmrm_%s_sigma.csv", tag))
  wcsv(data.frame(term = names(coef(fit)), estimate = coef(fit), se = sqrt(diag(vcov(fit))),
                  loglik = as.numeric(logLik(fit))), sprintf("mmrm_%s_coef.csv", tag))
}
mmrm_out(gls(change ~ baseline + visit * group, data = mm, method = "REML",
             correlation = corSymm(form = ~ visit_no | id), weights = varIdent(form = ~ 1 | visit), control = ctrl_un),
         "un")
mmrm_out(gls(change ~ baseline + visit * group, data = mm, method = "REML",
             correlation = corAR1(form = ~ visit_no | id), control = ctrl_ar), "ar1")
