"""Pointwise confidence limits for a probability, exactly as R ``survival:::survfit_confint``."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def z_value(conf_level: float) -> float:
    """Two-sided normal quantile, ``qnorm(1 - (1 - conf_level) / 2)``."""
    return float(norm.ppf(1 - (1 - conf_level) / 2))


def confint(
    p: np.ndarray, se_log: np.ndarray, conf_level: float, conf_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """Confidence limits for probabilities ``p`` given ``se_log`` = SE of log(p).

    Mirrors ``survfit_confint(p, se, logse=TRUE, conf.type, conf.int)`` from survival 3.5
    (``ulimit=TRUE``):

    - ``plain``:   p -/+ z * se_log * p, clipped to [0, 1];
    - ``log``:     exp(log p -/+ z * se_log), upper clipped at 1;
    - ``log-log``: exp(-exp(log(-log p) -/+ z * se_log / log p)).

    Where R returns NA (p = 0 for ``log``; p = 0 or 1 for ``log-log``; undefined ``se``)
    the result is NaN.
    """
    z = z_value(conf_level)
    p = np.asarray(p, dtype=float)
    se = np.asarray(se_log, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            se2 = se * p * z
            lower = np.maximum(p - se2, 0.0)
            upper = np.minimum(p + se2, 1.0)
            bad = np.isnan(se2)
            lower[bad] = np.nan
            upper[bad] = np.nan
        elif conf_type == "log":
            xx = np.where(p == 0, np.nan, p)
            se2 = z * se
            lower = np.exp(np.log(xx) - se2)
            upper = np.minimum(np.exp(np.log(xx) + se2), 1.0)
            upper[np.isnan(xx) | np.isnan(se2)] = np.nan
        elif conf_type == "log-log":
            xx = np.where((p == 0) | (p == 1), np.nan, p)
            se2 = z * se / np.log(xx)
            lower = np.exp(-np.exp(np.log(-np.log(xx)) - se2))
            upper = np.exp(-np.exp(np.log(-np.log(xx)) + se2))
        else:  # pragma: no cover - validated by callers
            raise ValueError(conf_type)
    return lower, upper
