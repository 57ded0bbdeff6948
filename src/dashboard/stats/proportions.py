"""Confidence intervals for a binomial proportion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta, norm

METHODS = ("clopper-pearson", "wilson", "jeffreys")


@dataclass(frozen=True)
class ProportionCI:
    """``estimate = successes / n`` with ``lower``/``upper`` limits from ``method``."""

    successes: int
    n: int
    estimate: float
    lower: float
    upper: float
    method: str
    conf_level: float


def proportion_ci(
    successes: int, n: int, method: str = "clopper-pearson", conf_level: float = 0.95
) -> ProportionCI:
    """Two-sided confidence interval for a binomial proportion.

    - ``clopper-pearson`` (exact): ``qbeta(a/2, x, n-x+1)``, ``qbeta(1-a/2, x+1, n-x)``,
      0 at x = 0 and 1 at x = n; equals R ``binom.test(x, n)$conf.int``.
    - ``wilson`` (score, no continuity correction): equals R
      ``prop.test(x, n, correct = FALSE)$conf.int``.
    - ``jeffreys``: equal-tailed ``Beta(x + 1/2, n - x + 1/2)`` quantiles, with the
      Brown-Cai-DasGupta (2001) boundary convention lower = 0 at x = 0 and upper = 1 at
      x = n (R: ``qbeta(c(a/2, 1-a/2), x + .5, n - x + .5)`` then those two overrides).
    """
    if isinstance(successes, bool) or isinstance(n, bool):
        raise TypeError("successes and n must be integers")
    if int(successes) != successes or int(n) != n:
        raise ValueError(f"successes and n must be whole numbers, got {successes!r}, {n!r}")
    x, n = int(successes), int(n)
    if n <= 0 or not 0 <= x <= n:
        raise ValueError(f"need n > 0 and 0 <= successes <= n, got {x}/{n}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level!r}")
    a = 1 - conf_level
    p = x / n
    if method == "clopper-pearson":
        lo = 0.0 if x == 0 else float(beta.ppf(a / 2, x, n - x + 1))
        hi = 1.0 if x == n else float(beta.ppf(1 - a / 2, x + 1, n - x))
    elif method == "wilson":
        z = float(norm.ppf(1 - a / 2))
        z2 = z * z
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
        lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    else:
        lo = 0.0 if x == 0 else float(beta.ppf(a / 2, x + 0.5, n - x + 0.5))
        hi = 1.0 if x == n else float(beta.ppf(1 - a / 2, x + 0.5, n - x + 0.5))
    return ProportionCI(x, n, p, lo, hi, method, conf_level)
