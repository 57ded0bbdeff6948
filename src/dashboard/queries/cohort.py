"""Cohort queries under the global filter: N of M, the CONSORT flow, strategy paths,
baseline characteristics. Every query reads ``adsl`` (and ``strategy_episode`` for the
paths) with the filter's bound parameters; no user value reaches the SQL text.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

import polars as pl

from ..i18n import N_, gettext
from ..filters import CohortFilter
from ..schema import ELIGIBILITY, RESPONSE, Vocabulary
from ..store import Store

# Display vocabularies for derived codes (candidates for schema.py).
CONSORT_RESPONSE = Vocabulary(
    "consort_response", description="Restaging response as drawn in the flow diagram",
    items=RESPONSE.items + (("NOT_ASSESSED", N_("Not assessed")),),
)
CONSORT_STRATEGY = Vocabulary(
    "consort_strategy", description="Initial strategy as drawn in the flow diagram (ESD and EMR together)",
    items=(("WW", N_("Watch & Wait")), ("LE", N_("Local excision")), ("ESD_EMR", N_("ESD / EMR")), ("RO", N_("Radical surgery")),
     ("SYSTEMIC", N_("Systemic therapy only")), ("NONE", N_("No strategy recorded"))),
)
STATUS = Vocabulary(
    "status_at_last_fu", description="Status at last follow-up (adsl.status_at_last_fu)",
    items=(("ORGAN_PRESERVED", N_("Organ preserved, disease-free")),
     ("RESECTED_NED", N_("Organ resected, disease-free")),
     ("REGROWTH_SALVAGED", N_("Regrowth, salvaged with R0")),
     ("REGROWTH_NOT_SALVAGED", N_("Regrowth, not salvaged with R0")),
     ("RECURRENCE_SALVAGED", N_("Recurrence, salvaged with R0")),
     ("WITH_DISEASE", N_("Recurrence or metastasis")),
     ("DEAD", N_("Died")),
     ("LOST_TO_FU", N_("Lost to follow-up"))),
)
NO_ICI_REASON = ("ELIGIBLE_NO_ICI", N_("Eligible, no immunotherapy dose recorded"))
EXCLUSION = Vocabulary("exclusion", description="Why a registered patient is not in the flow",
                       items=tuple(i for i in ELIGIBILITY.items if i[0] != "ELIGIBLE") + (NO_ICI_REASON,))
ALWAYS_SHOWN_STRATEGIES = ("WW", "LE", "ESD_EMR", "RO")
# Strategy labels short enough for a Sankey node.
STRATEGY_SHORT = Vocabulary(
    "strategy_short", description="Short strategy labels",
    items=(("WW", N_("Watch & Wait")), ("LE", N_("Local excision")), ("ESD", "ESD"), ("EMR", "EMR"),
     ("RO", N_("Radical surgery")), ("SYSTEMIC", N_("Systemic therapy"))),
)
TRANSITION_STAGES = (N_("Initial strategy"), N_("Second strategy"), N_("Third or later"), N_("Status at last follow-up"))


def _where(flt: CohortFilter, alias: str | None = None) -> tuple[str, dict]:
    if not isinstance(flt, CohortFilter):
        raise TypeError(f"expected a CohortFilter, got {type(flt).__name__}")
    return flt.where_sql(alias)


# ------------------------------------------------------------------------- counts
def select_patient_counts(store: Store, flt: CohortFilter) -> dict[str, int]:
    """Registered patients matching the filter (``n``), in the registry (``m``), and in
    the full analysis set among the matches (``analysis``)."""
    where, params = _where(flt)
    row = store.sql(
        f"""
        SELECT count(*) FILTER (WHERE {where}) AS n,
               count(*) AS m,
               count(*) FILTER (WHERE analysis_fl AND {where}) AS analysis
        FROM adsl
        """,
        params,
    ).row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


def select_t0_bounds(store: Store) -> tuple[dt.date, dt.date] | None:
    """Earliest and latest first immunotherapy dose in the registry (None when empty)."""
    row = store.sql("SELECT min(t0) AS lo, max(t0) AS hi FROM adsl").row(0)
    return None if row[0] is None else (row[0], row[1])


# ------------------------------------------------------------------------- CONSORT
@dataclass(frozen=True)
class FlowNode:
    """One box of the flow diagram."""

    id: str
    stage: str  # registered, excluded, reason, ici, response, strategy, status
    code: str
    label: str
    n: int
    parent: str | None = None  # for reason and status boxes: the box they belong to


@dataclass(frozen=True)
class ConsortFlow:
    """Boxes and the patient counts flowing between them.

    Every box with outgoing edges holds exactly the sum of its outgoing counts, and
    every box with incoming edges the sum of its incoming counts.
    """

    nodes: tuple[FlowNode, ...]
    edges: tuple[tuple[str, str, int], ...]

    def node(self, node_id: str) -> FlowNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def stage(self, stage: str) -> tuple[FlowNode, ...]:
        return tuple(n for n in self.nodes if n.stage == stage)

    def children(self, node_id: str) -> tuple[tuple[str, int], ...]:
        return tuple((t, n) for s, t, n in self.edges if s == node_id)


def select_consort_flow(store: Store, flt: CohortFilter) -> ConsortFlow:
    """CONSORT-style flow of the registered patients matching the filter.

    registered -> excluded (by reason) | received neoadjuvant immunotherapy (full
    analysis set) -> restaging response -> initial strategy -> status at last follow-up.
    Response to strategy edges carry the cross-counts.

    Returns
    -------
    ConsortFlow : boxes with counts and the edges between them.
    """
    where, params = _where(flt)
    df = store.sql(
        f"""
        SELECT CASE WHEN analysis_fl THEN 'ICI'
                    WHEN eligibility <> 'ELIGIBLE' THEN eligibility
                    ELSE '{NO_ICI_REASON[0]}' END AS branch,
               coalesce(restaging_response, 'NOT_ASSESSED') AS response,
               CASE WHEN initial_strategy IN ('ESD', 'EMR') THEN 'ESD_EMR'
                    ELSE coalesce(initial_strategy, 'NONE') END AS strategy,
               status_at_last_fu AS status,
               count(*) AS n
        FROM adsl WHERE {where}
        GROUP BY ALL
        """,
        params,
    )
    rows = df.rows(named=True)
    total = sum(r["n"] for r in rows)
    treated = [r for r in rows if r["branch"] == "ICI"]
    excluded = [r for r in rows if r["branch"] != "ICI"]
    n_ici = sum(r["n"] for r in treated)
    reasons = Counter()
    for r in excluded:
        reasons[r["branch"]] += r["n"]
    resp = Counter()
    strat = Counter()
    cross = Counter()
    status = Counter()
    for r in treated:
        resp[r["response"]] += r["n"]
        strat[r["strategy"]] += r["n"]
        cross[(r["response"], r["strategy"])] += r["n"]
        status[(r["strategy"], r["status"])] += r["n"]

    nodes = [FlowNode("registered", "registered", "REGISTERED", gettext("Registered"), total),
             FlowNode("excluded", "excluded", "EXCLUDED", gettext("Excluded"), total - n_ici)]
    edges = [("registered", "excluded", total - n_ici), ("registered", "ici", n_ici)]
    for code in EXCLUSION.codes:
        if reasons[code]:
            nodes.append(FlowNode(f"reason:{code}", "reason", code, EXCLUSION.label(code), reasons[code], "excluded"))
            edges.append(("excluded", f"reason:{code}", reasons[code]))
    nodes.append(FlowNode("ici", "ici", "ICI", gettext("Received neoadjuvant immunotherapy"), n_ici))
    for code in CONSORT_RESPONSE.codes:
        nodes.append(FlowNode(f"response:{code}", "response", code, CONSORT_RESPONSE.label(code), resp[code]))
        edges.append(("ici", f"response:{code}", resp[code]))
    for code in CONSORT_STRATEGY.codes:
        if code not in ALWAYS_SHOWN_STRATEGIES and not strat[code]:
            continue
        nodes.append(FlowNode(f"strategy:{code}", "strategy", code, CONSORT_STRATEGY.label(code), strat[code]))
        for rc in CONSORT_RESPONSE.codes:
            if cross[(rc, code)]:
                edges.append((f"response:{rc}", f"strategy:{code}", cross[(rc, code)]))
        for sc in STATUS.codes:
            k = status[(code, sc)]
            if k:
                nodes.append(FlowNode(f"status:{code}:{sc}", "status", sc, STATUS.label(sc), k, f"strategy:{code}"))
                edges.append((f"strategy:{code}", f"status:{code}:{sc}", k))
    return ConsortFlow(tuple(nodes), tuple(edges))


# ------------------------------------------------------------------------- transitions
def select_strategy_paths(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """One row per full-analysis-set patient with an initial strategy: the ordered list
    of strategies (``strategies``, list of codes by episode number) and the status at
    last follow-up."""
    where, params = _where(flt, "a")
    return store.sql(
        f"""
        SELECT a.subject_id,
               list(e.strategy ORDER BY e.episode_no) AS strategies,
               any_value(a.status_at_last_fu) AS status
        FROM adsl a JOIN strategy_episode e USING (subject_id)
        WHERE a.analysis_fl AND {where}
        GROUP BY a.subject_id
        ORDER BY a.subject_id
        """,
        params,
    )


def select_strategy_transitions(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Patient counts between consecutive stages of the strategy sequence.

    Stages (:data:`TRANSITION_STAGES`): initial strategy, second strategy, the last
    strategy when there were three or more, status at last follow-up. A patient whose
    strategy never changed flows from the initial strategy straight to the status.
    Consecutive episodes with the same strategy count as one.

    Returns
    -------
    pl.DataFrame : ``source_stage``, ``source``, ``target_stage``, ``target`` (codes;
        stage = index into TRANSITION_STAGES) and ``n`` patients.
    """
    paths = select_strategy_paths(store, flt)
    counts: Counter = Counter()
    for strategies, status in zip(paths["strategies"].to_list(), paths["status"].to_list()):
        seq: list[str] = []
        for s in strategies:
            if not seq or seq[-1] != s:
                seq.append(s)
        steps = [(0, seq[0])]
        if len(seq) >= 2:
            steps.append((1, seq[1]))
        if len(seq) >= 3:
            steps.append((2, seq[-1]))
        steps.append((3, status))
        for (a_stage, a), (b_stage, b) in zip(steps, steps[1:]):
            counts[(a_stage, a, b_stage, b)] += 1
    schema = {"source_stage": pl.Int64, "source": pl.String, "target_stage": pl.Int64, "target": pl.String, "n": pl.Int64}
    if not counts:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(
        [(*k, v) for k, v in counts.items()], schema=schema, orient="row"
    ).sort(["source_stage", "source", "target_stage", "target"])


# ------------------------------------------------------------------------- Table 1
BASELINE_COLUMNS = (
    "cohort", "age", "sex", "ecog", "tumour_site", "histology", "biomarker_basis", "lynch", "braf",
    "ct", "cn", "cm", "distance_av_cm", "cea_baseline", "ctdna_baseline", "regimen_class", "ici_cycles",
    "restaging_response",
)


def select_baseline(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Baseline characteristics of the full-analysis-set patients matching the filter,
    one row per patient, with ``initial_group`` (strategy group code, NULL when no
    strategy was recorded)."""
    where, params = _where(flt)
    cols = ", ".join(f"CAST(ici_cycles AS DOUBLE) AS ici_cycles" if c == "ici_cycles" else c for c in BASELINE_COLUMNS)
    return store.sql(
        f"SELECT subject_id, initial_group, {cols} FROM adsl WHERE analysis_fl AND {where} ORDER BY subject_id",
        params,
    )


# ------------------------------------------------------------------------- overview
COUNT_COLUMNS = frozenset({"cohort", "tumour_site", "initial_group", "restaging_response", "biomarker_basis"})


def select_counts_by_column(store: Store, flt: CohortFilter, column: str) -> pl.DataFrame:
    """Full-analysis-set patients matching the filter by one ``adsl`` column.

    Parameters
    ----------
    column : one of :data:`COUNT_COLUMNS` (a whitelist; never a user string).

    Returns
    -------
    pl.DataFrame : ``value`` (code, NULL for missing) and ``n``, largest first.
    """
    if column not in COUNT_COLUMNS:
        raise ValueError(f"not a summary column: {column!r}")
    where, params = _where(flt)
    return store.sql(
        f"SELECT {column} AS value, count(*) AS n FROM adsl WHERE analysis_fl AND {where} "
        f"GROUP BY ALL ORDER BY n DESC, value",
        params,
    )
