"""Time-to-event data under the global filter: one row per patient for one endpoint, time
origin and stratification factor, ready for :mod:`dashboard.stats`.

Reads ``adtte`` joined to ``adsl``; endpoint, origin, factor and covariate names come only
from the whitelists below (:data:`FACTORS`, :data:`COVARIATES`), values are bound as
parameters. Time is in months (``adtte.aval``).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..i18n import N_, gettext
from ..derive import ENDPOINTS_BY_CODE
from ..filters import CohortFilter
from ..schema import (
    BIOMARKER_BASIS,
    CN_STAGE,
    COHORT,
    CT_STAGE,
    DAYS_PER_MONTH,
    ECOG,
    HISTOLOGY,
    REGIMEN_CLASS,
    RESPONSE,
    SEX,
    STRATEGY,
    STRATEGY_GROUP,
    TUMOUR_SITE,
    YES_NO_UNK,
)
from ..store import Store

MISSING = "MISSING"
AFTER_LANDMARK = "AFTER_LANDMARK"
LANDMARK = "LANDMARK"
ORIGIN_LABELS = {
    "T0": N_("first immunotherapy dose (T0)"),
    "T1": N_("strategy decision (T1)"),
    "INDEX": N_("definitive treatment"),
    LANDMARK: N_("landmark"),
}
# Endpoints in the order offered on screen.
ENDPOINT_ORDER = ("OPS", "RG", "LR", "DMFS", "DFS", "DFS_STRICT", "EFS", "OS")


@dataclass(frozen=True)
class Factor:
    """A stratification factor: an expression over ``adsl`` aliased ``a`` (constant, never user input).

    ``defined_at``: ``T0`` for baseline / treatment-start factors, ``T1`` for factors known
    at the strategy decision (restaging response, initial strategy), ``LATER`` for factors
    that depend on follow-up after T1 (final strategy, pathology of a later resection).
    ``date_column``: the ``adsl`` date on which the factor becomes known (for landmarks).
    """

    key: str
    label: str
    expr: str
    levels: tuple[tuple[str, str], ...]
    defined_at: str = "T0"
    date_column: str | None = None
    missing_label: str = N_("Not recorded")
    reference: str | None = None  # reference level for hazard ratios

    @property
    def title(self) -> str:
        """The factor's label in the current language."""
        return gettext(self.label)

    def label_of(self, code: str | None) -> str:
        """A level's label in the current language (an unknown code as itself)."""
        if code is None or code == MISSING:
            return gettext(self.missing_label)
        if code == AFTER_LANDMARK:
            return gettext("Not yet known at the landmark")
        label = dict(self.levels).get(code)
        return code if label is None else gettext(label)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.levels) + (AFTER_LANDMARK, MISSING)


GROUP_LABELS = (("NOM", N_("Watch & Wait (NOM)")), ("OPFS", N_("Local / endoscopic resection (OPFS)")),
                ("RO", N_("Radical surgery (RO)")), ("SYSTEMIC", N_("Systemic therapy only")))
assert tuple(c for c, _ in GROUP_LABELS) == STRATEGY_GROUP.codes

FACTORS: dict[str, Factor] = {f.key: f for f in (
    Factor("none", N_("No stratification (all patients)"), "'ALL'", (("ALL", N_("All patients")),)),
    Factor("initial_group", N_("Initial strategy group"), "a.initial_group", GROUP_LABELS, "T1", "t1",
           N_("No strategy recorded"), "RO"),
    Factor("initial_strategy", N_("Initial strategy"), "a.initial_strategy", STRATEGY.items, "T1", "t1",
           N_("No strategy recorded"), "RO"),
    Factor("restaging_response", N_("Restaging response"), "a.restaging_response", RESPONSE.items, "T1",
           "restaging_date", N_("Not assessed"), "CCR"),
    Factor("final_group", N_("Strategy group at last follow-up"), "a.final_group", GROUP_LABELS, "LATER", None,
           N_("No strategy recorded"), "RO"),
    Factor("pcr", N_("pCR on the first resection specimen"),
           "CASE WHEN a.pcr_fl THEN 'PCR' WHEN NOT a.pcr_fl THEN 'NO_PCR' END",
           (("PCR", N_("pCR (ypT0N0)")), ("NO_PCR", N_("No pCR"))), "LATER", "first_resection_date",
           N_("No resection specimen"), "NO_PCR"),
    Factor("tumour_site", N_("Tumour site"), "a.tumour_site", TUMOUR_SITE.items, reference="RECTUM"),
    Factor("cohort", N_("Registry part"), "a.cohort", COHORT.items),
    Factor("biomarker_basis", N_("Biomarker basis"), "a.biomarker_basis", BIOMARKER_BASIS.items),
    Factor("regimen_class", N_("Immunotherapy regimen"), "a.regimen_class", REGIMEN_CLASS.items, reference="PD1"),
    Factor("age_group", N_("Age group"),
           "CASE WHEN a.age < 50 THEN 'LT50' WHEN a.age < 65 THEN '50_64' WHEN a.age IS NOT NULL THEN 'GE65' END",
           (("LT50", N_("Under 50 years")), ("50_64", N_("50-64 years")), ("GE65", N_("65 years or older")))),
    Factor("sex", N_("Sex"), "a.sex", SEX.items),
    Factor("ecog", N_("ECOG performance status"), "a.ecog", ECOG.items),
    Factor("histology", N_("Histology"), "a.histology", HISTOLOGY.items),
    Factor("ct", N_("Clinical T"), "a.ct", CT_STAGE.items),
    Factor("cn", N_("Clinical N"), "a.cn", CN_STAGE.items),
    Factor("lynch", N_("Lynch syndrome"), "a.lynch", YES_NO_UNK.items),
)}

# Covariates for adjusted Cox models and propensity scores: adsl column -> label.
# Categorical ones enter with a "MISSING" level (missing-indicator coding).
COVARIATES: dict[str, str] = {
    "age": N_("Age (years)"),
    "sex": N_("Sex"),
    "ecog": N_("ECOG performance status"),
    "tumour_site": N_("Tumour site"),
    "histology": N_("Histology"),
    "biomarker_basis": N_("Biomarker basis"),
    "ct": N_("Clinical T"),
    "cn": N_("Clinical N"),
    "regimen_class": N_("Immunotherapy regimen"),
    "restaging_response": N_("Restaging response"),
    "cohort": N_("Registry part"),
}
NUMERIC_COVARIATES = frozenset({"age"})
COVARIATE_VOCABS = {
    "sex": SEX, "ecog": ECOG, "tumour_site": TUMOUR_SITE, "histology": HISTOLOGY,
    "biomarker_basis": BIOMARKER_BASIS, "ct": CT_STAGE, "cn": CN_STAGE, "regimen_class": REGIMEN_CLASS,
    "restaging_response": RESPONSE, "cohort": COHORT,
}


def covariate_level_label(column: str, code: str) -> str:
    """Display label of a covariate level (``MISSING`` -> "Not recorded")."""
    if code == MISSING:
        return gettext("Not recorded")
    vocab = COVARIATE_VOCABS.get(column)
    return vocab.label(code) if vocab else code


@dataclass(frozen=True)
class TteRequest:
    """Which time-to-event data to fetch (also a cache key).

    endpoint : ``adtte.paramcd`` (see :data:`ENDPOINT_ORDER`).
    origin : ``T0``, ``T1``, ``INDEX`` (where the endpoint has it) or ``LANDMARK``
        (``landmark`` months after T0).
    factor : key of :data:`FACTORS`.
    covariates : keys of :data:`COVARIATES` to include as columns.
    landmark : months after T0 (only with ``origin="LANDMARK"``).
    """

    endpoint: str = "OPS"
    origin: str = "T0"
    factor: str = "none"
    covariates: tuple[str, ...] = ()
    landmark: float = 0.0

    def __post_init__(self) -> None:
        ep = ENDPOINTS_BY_CODE.get(self.endpoint)
        if ep is None:
            raise ValueError(f"unknown endpoint {self.endpoint!r}")
        if self.origin != LANDMARK and self.origin not in ep.origins:
            raise ValueError(f"endpoint {self.endpoint} has no origin {self.origin!r} (has {ep.origins})")
        if self.factor not in FACTORS:
            raise ValueError(f"unknown factor {self.factor!r}")
        bad = [c for c in self.covariates if c not in COVARIATES]
        if bad:
            raise ValueError(f"unknown covariates {bad}")
        if not isinstance(self.covariates, tuple):
            raise TypeError("covariates must be a tuple")
        if self.origin == LANDMARK and not (0 < float(self.landmark) <= 120):
            raise ValueError(f"landmark must be in (0, 120] months, got {self.landmark!r}")

    @property
    def base_origin(self) -> str:
        return "T0" if self.origin == LANDMARK else self.origin


AXIS_LABELS = {"T0": N_("Months from T0 (first immunotherapy dose)"), "T1": N_("Months from T1 (strategy decision)"),
               "INDEX": N_("Months from definitive treatment")}


def origin_axis_label(req: TteRequest) -> str:
    """x-axis title, e.g. "Months from T1 (strategy decision)"."""
    if req.origin == LANDMARK:
        return gettext("Months from the landmark ({months} months after the first immunotherapy dose)").format(
            months=f"{req.landmark:g}")
    return gettext(AXIS_LABELS[req.origin])


def _where(flt: CohortFilter) -> tuple[str, dict]:
    if not isinstance(flt, CohortFilter):
        raise TypeError(f"expected a CohortFilter, got {type(flt).__name__}")
    return flt.where_sql("a")


def _covariate_sql(cols: tuple[str, ...]) -> str:
    out = []
    for c in cols:
        if c in NUMERIC_COVARIATES:
            out.append(f"CAST(a.{c} AS DOUBLE) AS {c}")
        else:
            out.append(f"coalesce(CAST(a.{c} AS VARCHAR), '{MISSING}') AS {c}")
    return "".join(", " + s for s in out)


def _tte_sql(flt: CohortFilter, req: TteRequest) -> tuple[str, str, dict]:
    """Column list and FROM/WHERE clause of the endpoint's population (see :func:`select_tte`)."""
    if not isinstance(req, TteRequest):
        raise TypeError(f"expected a TteRequest, got {type(req).__name__}")
    where, params = _where(flt)
    f = FACTORS[req.factor]
    group = f"coalesce(CAST(({f.expr}) AS VARCHAR), '{MISSING}')"
    time = "t.aval"
    keep = "TRUE"
    if req.origin == LANDMARK:
        params = {**params, "landmark": float(req.landmark)}
        time = "t.aval - $landmark"
        keep = "t.aval > $landmark"
        if f.defined_at != "T0":
            known = (f"a.{f.date_column} IS NOT NULL AND date_diff('day', a.t0, a.{f.date_column}) / "
                     f"{DAYS_PER_MONTH!r} <= $landmark") if f.date_column else "FALSE"
            group = f"CASE WHEN {known} THEN {group} ELSE '{AFTER_LANDMARK}' END"
    params = {**params, "paramcd": req.endpoint, "origin": req.base_origin}
    columns = f"""{time} AS time,
               CASE WHEN t.cnsr = 0 AND coalesce(t.evnt_type, 'EVENT') IN ('EVENT', 'REGROWTH') THEN 1 ELSE 0 END AS event,
               CASE WHEN t.cnsr = 1 THEN 'CENSORED' ELSE coalesce(t.evnt_type, 'EVENT') END AS event_type,
               {group} AS "group"{_covariate_sql(req.covariates)}"""
    source = f"""FROM adtte t JOIN adsl a USING (subject_id)
        WHERE t.paramcd = $paramcd AND t.origin = $origin AND {keep} AND {where}"""
    return columns, source, params


def select_tte(store: Store, flt: CohortFilter, req: TteRequest) -> pl.DataFrame:
    """One row per patient of the endpoint's population matching the filter.

    Landmark rule (``origin="LANDMARK"``, L months): only patients still under follow-up
    and free of the event at L (``aval > L`` from T0) are kept, and time is counted from
    L (``time = aval - L``). A factor that becomes known after L (its ``date_column`` more
    than L months after T0, or unknown) is set to ``AFTER_LANDMARK``: patients are
    classified by what was known at the landmark.

    Returns
    -------
    pl.DataFrame
        ``subject_id``, ``time`` (months, >= 0), ``event`` (1 = event, 0 = censored; for RG
        1 = regrowth only), ``event_type`` (``REGROWTH`` / ``COMPETING`` / ``EVENT`` /
        ``CENSORED``), ``group`` (factor code, ``MISSING`` when not recorded), then the
        requested covariates (numeric ones may hold nulls; categorical ones use ``MISSING``).
    """
    columns, source, params = _tte_sql(flt, req)
    return store.sql(f"SELECT t.subject_id, {columns} {source} ORDER BY t.subject_id", params)


def select_tte_cells(store: Store, flt: CohortFilter, req: TteRequest) -> pl.DataFrame:
    """The rows of :func:`select_tte` collapsed in the database to cells of identical
    ``time, event, event_type, group`` (and covariates), with their size ``n``.

    What the survival pages analyse (``freq="n"`` in :mod:`dashboard.stats`, which gives
    the numbers of the patient-level data): at a million patients this is tens of
    thousands of cells instead of a million rows leaving the store. Sorted by every key,
    so the result does not depend on the database's hash order.
    """
    columns, source, params = _tte_sql(flt, req)
    return store.sql(f"SELECT {columns}, count(*) AS n {source} GROUP BY ALL ORDER BY ALL", params)


def select_iptw_data(store: Store, flt: CohortFilter, endpoint: str, covariates: tuple[str, ...]) -> pl.DataFrame:
    """Organ-preserving first strategy (NOM or OPFS, ``treated`` = 1) versus radical surgery
    (RO, ``treated`` = 0), time from T1 for ``endpoint``, with the propensity covariates.

    Returns
    -------
    pl.DataFrame
        ``subject_id, time, event, treated, group`` (``OP`` / ``RO``) and the covariates.
    """
    req = TteRequest(endpoint, "T1", "initial_group", tuple(covariates))
    df = select_tte(store, flt, req)
    return (
        df.filter(pl.col("group").is_in(["NOM", "OPFS", "RO"]))
        .with_columns((pl.col("group") != "RO").cast(pl.Int64).alias("treated"),
                      pl.when(pl.col("group") == "RO").then(pl.lit("RO")).otherwise(pl.lit("OP")).alias("group"))
    )


def select_endpoint_counts(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Patients and events per endpoint and origin under the filter (for the selector)."""
    where, params = _where(flt)
    return store.sql(
        f"""SELECT t.paramcd, t.origin, count(*) AS n, sum(1 - t.cnsr) AS events
            FROM adtte t JOIN adsl a USING (subject_id) WHERE {where} GROUP BY ALL ORDER BY ALL""",
        params,
    )
