"""Non-inferiority on the hazard-ratio scale and E-values for unmeasured confounding. Pure.

Non-inferiority (:func:`non_inferiority_hr`): the hazard ratio of organ preservation
versus radical surgery for a harmful event (recurrence or death; HR > 1 = worse with
organ preservation) is non-inferior when the upper limit of its two-sided
``conf_level`` CI lies below the margin (one-sided test at ``(1 - conf_level) / 2``).

Default margin: :data:`DEFAULT_NI_MARGIN` = 1.29, the upper CI limit for the DFS hazard
ratio used by the PROSPECT trial (Schrag D et al. Preoperative treatment of locally
advanced rectal cancer. N Engl J Med 2023;389:322-334), a non-inferiority trial of
de-escalated rectal-cancer treatment. A registry is not a trial: the margin is the
user's choice, and the page says so.

E-values (:func:`evalue_hr`): VanderWeele TJ, Ding P. Sensitivity analysis in
observational research: introducing the E-value. Ann Intern Med 2017;167:268-274. For a
risk ratio ``RR >= 1``, ``E = RR + sqrt(RR (RR - 1))`` (for RR < 1 use 1 / RR); for the CI,
the same for the limit closest to 1, and E = 1 when the CI includes 1. A hazard ratio is
taken as a risk ratio when the outcome is rare (< 15% by the end of follow-up);
otherwise it is first converted with ``RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1 / HR))``
(VanderWeele 2020, Biometrics 76:746-752), as R ``EValue::evalues.HR(rare = FALSE)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

from dashboard.i18n import N_
from dashboard.stats import _validate as v
from dashboard.stats._ci import z_value

DEFAULT_NI_MARGIN = 1.29
NI_MARGIN_SOURCE = N_("PROSPECT trial (Schrag et al., N Engl J Med 2023;389:322-334): non-inferiority of DFS when the "
                       "upper confidence limit of the hazard ratio stays below 1.29")
RARE_OUTCOME = 0.15


def _positive(name: str, x: float) -> float:
    if not (isinstance(x, (int, float)) and math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {x!r}")
    return float(x)


def evalue_rr(rr: float) -> float:
    """E-value of a risk ratio: ``RR + sqrt(RR (RR - 1))`` after taking ``1 / RR`` when
    RR < 1 (VanderWeele & Ding 2017, eq. 1). ``E(1) = 1``."""
    rr = _positive("rr", rr)
    if rr < 1:
        rr = 1 / rr
    return rr + math.sqrt(rr * (rr - 1))


def hr_to_rr(hr: float, rare: bool) -> float:
    """Risk ratio a hazard ratio stands for: the HR itself for a rare outcome, else
    VanderWeele's (2020) conversion ``(1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))``."""
    hr = _positive("hr", hr)
    if rare:
        return hr
    return (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))


@dataclass(frozen=True)
class EValue:
    """E-values of an estimate and of its confidence limit closest to the null.

    ``estimate``: the E-value of the point estimate; ``limit``: of the CI limit closest
    to 1 (1 when the CI includes 1); ``rare``: whether the HR was taken as an RR.
    """

    estimate: float
    limit: float
    rare: bool


def evalue_hr(hr: float, lower: float, upper: float, *, rare: bool) -> EValue:
    """E-values of a hazard ratio and its CI (VanderWeele & Ding 2017).

    Equals R ``EValue::evalues.HR(hr, lower, upper, rare = rare)`` (row "E-values"):
    the point estimate and the limit closest to 1 are converted to risk ratios
    (:func:`hr_to_rr`), then :func:`evalue_rr`; the limit's E-value is 1 when the CI
    includes 1.

    Parameters
    ----------
    hr, lower, upper : float
        Hazard ratio and its confidence limits (> 0, ``lower <= hr <= upper``).
    rare : bool
        Whether the outcome is rare (< 15% by the end of follow-up, :data:`RARE_OUTCOME`).
    """
    hr, lower, upper = (_positive(n, x) for n, x in (("hr", hr), ("lower", lower), ("upper", upper)))
    if not lower <= hr <= upper:
        raise ValueError(f"need lower <= hr <= upper, got {lower}, {hr}, {upper}")
    est = evalue_rr(hr_to_rr(hr, rare))
    if lower <= 1 <= upper:
        lim = 1.0
    else:
        lim = evalue_rr(hr_to_rr(lower if hr > 1 else upper, rare))
    return EValue(est, lim, rare)


@dataclass(frozen=True)
class NonInferiority:
    """Result of :func:`non_inferiority_hr`.

    Attributes
    ----------
    hr, lower, upper : float
        Hazard ratio and its two-sided ``conf_level`` CI.
    margin : float
    p_value : float
        One-sided p of ``H0: HR >= margin`` (Wald, ``Phi((log HR - log margin) / se)``).
    verdict : str
        ``"superior"`` (upper < 1), ``"non-inferior"`` (upper < margin),
        ``"inconclusive"`` (lower < margin <= upper) or ``"inferior"`` (lower >= margin).
    """

    hr: float
    lower: float
    upper: float
    margin: float
    conf_level: float
    p_value: float
    verdict: str


def non_inferiority_hr(coef: float, se: float, margin: float = DEFAULT_NI_MARGIN,
                       conf_level: float = 0.95) -> NonInferiority:
    """Non-inferiority of a hazard ratio ``exp(coef)`` (SE ``se`` of the log HR) against
    ``margin`` (> 1), with a two-sided ``conf_level`` Wald CI ``exp(coef +- z se)``.

    R: ``exp(coef + c(-1, 1) * qnorm(1 - (1 - conf_level) / 2) * se)`` and
    ``pnorm((coef - log(margin)) / se)``.
    """
    if not (isinstance(coef, (int, float)) and math.isfinite(coef)):
        raise ValueError(f"coef must be finite, got {coef!r}")
    se = _positive("se", se)
    margin = _positive("margin", margin)
    if margin <= 1:
        raise ValueError(f"the margin of a harmful-event HR must be > 1, got {margin!r}")
    conf_level = v.conf_level_ok(conf_level)
    z = z_value(conf_level)
    hr, lower, upper = math.exp(coef), math.exp(coef - z * se), math.exp(coef + z * se)
    p = float(norm.cdf((coef - math.log(margin)) / se))
    if upper < 1:
        verdict = "superior"
    elif upper < margin:
        verdict = "non-inferior"
    elif lower < margin:
        verdict = "inconclusive"
    else:
        verdict = "inferior"
    return NonInferiority(hr, lower, upper, margin, conf_level, p, verdict)
