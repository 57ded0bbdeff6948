# Writes the input data sets used by the statistics tests to tests/r/data/.
# Run from the repository root:  Rscript tests/r/make_data.R [outdir]
# R 4.2, survival 3.5 (Debian r-cran-survival). Synthetic data use set.seed(), so the
# files are reproducible; the committed CSVs are what the Python tests read.
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else "tests/r/data"
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
wcsv <- function(df, name) {
  for (v in names(df)) if (is.numeric(df[[v]])) df[[v]] <- num(df[[v]])
  write.csv(df, file.path(outdir, name), row.names = FALSE, quote = FALSE, na = "NA")
}

# 1. survival::aml (weeks); x = Maintained / Nonmaintained
wcsv(data.frame(time = aml$time, status = aml$status, x = as.character(aml$x)), "aml.csv")

# 2. survival::lung (days); status recoded 1/2 -> 0/1
wcsv(data.frame(time = lung$time, status = lung$status - 1L, sex = lung$sex,
                age = lung$age, ph_ecog = lung$ph.ecog, inst = lung$inst), "lung.csv")

# 3. heavy ties, 4 groups, 2 strata, case weights, covariates, treatment (months)
set.seed(20240611)
n <- 400
grp <- sample(c("A", "B", "C", "D"), n, replace = TRUE)
strat <- sample(c("s1", "s2"), n, replace = TRUE)
x <- round(rnorm(n), 3)
age <- round(runif(n, 30, 80))
rate <- 0.05 * exp(0.3 * (match(grp, c("A", "B", "C", "D")) - 1) + 0.4 * x + 0.3 * (strat == "s2"))
t_event <- rexp(n, rate)
t_cens <- runif(n, 2, 40)
time <- pmax(1, ceiling(pmin(t_event, t_cens) / 3) * 3)     # multiples of 3 months: heavy ties
status <- as.integer(t_event <= t_cens)
w <- round(runif(n, 0.3, 3), 2)
trt <- rbinom(n, 1, plogis(-0.5 + 0.8 * x + 0.02 * (age - 55)))
wcsv(data.frame(time = time, status = status, grp = grp, strat = strat, x = x, age = age,
                w = w, trt = trt), "ties.csv")

# 4. competing risks from survival::mgus2 (months): 0 censored, 1 PCM, 2 death
etime <- with(mgus2, ifelse(pstat == 0, futime, ptime))
event <- with(mgus2, ifelse(pstat == 0, 2L * death, 1L))
wcsv(data.frame(time = etime, event = event, sex = as.character(mgus2$sex)), "mgus2_cr.csv")

# 5. small competing-risks set with ties across causes and a tie at the last time
set.seed(7)
m <- 60
ct <- sample(1:12, m, replace = TRUE)
ce <- sample(0:2, m, replace = TRUE, prob = c(0.3, 0.4, 0.3))
cw <- round(runif(m, 0.5, 2.5), 2)
wcsv(data.frame(time = ct, event = ce, w = cw), "small_cr.csv")
