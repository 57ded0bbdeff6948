"""Derived analysis tables, in the spirit of CDISC ADaM, built inside DuckDB.

``adsl``  one row per registered subject: population flags, T0, T1, restaging response,
          initial / final strategy, organ-lost date, first date of every oncological
          event, last contact, vital status, pCR / MPR, sustained cCR at 12 months.
``adtte`` one row per subject x endpoint x time origin: start date, analysis date, time
          in months (AVAL), CNSR (0 = event, 1 = censored), event description, and for
          competing-risk endpoints the event type (``REGROWTH`` / ``COMPETING``).
``dq_counts`` one row per ``adsl`` subject: the ``adsl`` columns the cohort filters use
          and, for every source table, the subject's rows and the missing (NULL) values of
          every column, so that field completeness under any cohort filter is one SUM over
          the selected subjects (the Data page) instead of a scan of every source table.

Endpoints are declared as data (:data:`ENDPOINTS`); the SQL and docs/endpoints.md are
both generated from the declarations so the rules on screen, in SQL and in the docs are
the same rules. Column names in the generated SQL come only from this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import duckdb

from .i18n import N_
from .filters import FILTER_COLUMNS
from .schema import DAYS_PER_MONTH, LOCAL_PROCEDURES, RADICAL_PROCEDURES, STRATEGY_TO_GROUP, TABLES, Table

# Alive patients without contact for longer than this before the data cut-off
# (the latest last-contact date in the registry) count as lost to follow-up.
LOST_TO_FOLLOW_UP_MONTHS = 12


def _sql_list(values) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


def adsl_sql() -> str:
    """The ``adsl`` statement (constants from schema.py are inlined, no user values)."""
    text = resources.files("dashboard").joinpath("sql/adsl.sql").read_text()
    group_case = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in STRATEGY_TO_GROUP.items())
    return (
        text.replace("{{RADICAL}}", _sql_list(RADICAL_PROCEDURES))
        .replace("{{LOCAL}}", _sql_list(LOCAL_PROCEDURES))
        .replace("{{GROUP_CASE}}", group_case)
        .replace("{{DAYS_PER_MONTH}}", repr(DAYS_PER_MONTH))
        .replace("{{LTFU_MONTHS}}", str(LOST_TO_FOLLOW_UP_MONTHS))
    )


# --------------------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """A dated candidate for ending follow-up: an ``adsl`` column and what it means."""

    column: str
    description: str
    event_type: str = "EVENT"  # EVENT, REGROWTH, COMPETING (ignored for censorings)


@dataclass(frozen=True)
class Endpoint:
    code: str
    label: str
    definition: str
    population: str  # SQL predicate over adsl columns (constant, from this module)
    population_text: str
    events: tuple[Source, ...]
    censor: Source  # where follow-up ends without an event
    censor_early: tuple[Source, ...] = ()  # censorings that end follow-up before `censor`
    origins: tuple[str, ...] = ("T0", "T1")
    competing: bool = False


ORIGINS = {
    "T0": ("t0", N_("first immunotherapy dose")),
    "T1": ("t1", N_("strategy decision at restaging")),
    "INDEX": (
        "index_date",
        N_("Definitive treatment: first resection (local or radical) for patients whose initial "
        "strategy was a resection; T1 for Watch & Wait"),
    ),
}

_ANALYSIS = "analysis_fl"
_CURATIVE = "analysis_fl AND initial_strategy IN ('WW', 'LE', 'ESD', 'EMR', 'RO')"
_LAST_CONTACT = Source("last_contact_date", N_("Last follow-up"))
_DEATH = Source("death_date", N_("Death"))
_LOCAL_RECUR = Source("first_local_recur_date", N_("Local recurrence"))
_NODAL = Source("first_nodal_date", N_("Regional nodal recurrence"))
_UNSALVAGED = Source("first_unsalvaged_regrowth_date", N_("Regrowth not salvaged with R0"))
_PROGRESSION = Source("first_progression_date", N_("Progression"))
_DISTANT = Source("first_distant_date", N_("Distant metastasis"))

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "OPS",
        N_("Organ-preservation survival"),
        N_("Event: the first radical resection for any reason (upfront, salvage or completion) "
        "or death. Local excision, ESD and EMR are not organ loss."),
        _ANALYSIS,
        N_("Full analysis set (eligible, at least one immunotherapy dose)"),
        (Source("organ_lost_date", N_("Radical resection")), _DEATH),
        Source("last_contact_date", N_("Last assessment with the organ in place")),
    ),
    Endpoint(
        "RG",
        N_("Local regrowth (Watch & Wait)"),
        N_("Event: first local regrowth (lumen, wall or regional nodes; biopsy- or MDT-confirmed), "
        "dated at the first diagnostic examination. A regional nodal reappearance under Watch & Wait "
        "before any resection is a local regrowth, whatever event code recorded it. Distant metastasis and death before regrowth are competing "
        "events. Follow-up ends at the last surveillance visit, or earlier at a radical resection "
        "done without a regrowth (e.g. patient choice), after which regrowth cannot be observed. An "
        "organ-sparing excision (local excision / TEM / TAMIS, ESD, EMR) without a regrowth, e.g. a "
        "diagnostic excision of the scar, does not end regrowth follow-up: the organ is in place and "
        "a regrowth remains observable."),
        f"{_ANALYSIS} AND initial_strategy = 'WW'",
        N_("Full analysis set with Watch & Wait as the initial strategy"),
        (
            Source("first_regrowth_date", N_("Local regrowth"), "REGROWTH"),
            Source("first_distant_date", N_("Distant metastasis (competing)"), "COMPETING"),
            Source("death_date", N_("Death (competing)"), "COMPETING"),
        ),
        Source("last_surveillance_date", N_("Last surveillance visit")),
        (Source("organ_lost_date", N_("Radical resection without regrowth")),),
        competing=True,
    ),
    Endpoint(
        "LR",
        N_("Local recurrence after resection"),
        N_("Event: first local recurrence after the first resection (local excision, endoscopic "
        "resection or radical surgery); kept separate from regrowth under Watch & Wait. Death "
        "without local recurrence censors (cause-specific)."),
        f"{_ANALYSIS} AND first_resection_date IS NOT NULL",
        N_("Full analysis set with at least one resection"),
        (Source("first_local_recur_after_resection_date", N_("Local recurrence")),),
        _LAST_CONTACT,
        (Source("death_date", N_("Death without local recurrence")),),
        origins=("T0", "T1", "INDEX"),
    ),
    Endpoint(
        "DMFS",
        N_("Distant-metastasis-free survival"),
        N_("Event: distant metastasis or death."),
        _ANALYSIS,
        N_("Full analysis set"),
        (_DISTANT, _DEATH),
        _LAST_CONTACT,
    ),
    Endpoint(
        "DFS",
        N_("Disease-free survival (salvage-adjusted)"),
        N_("Event: local or regional recurrence, regrowth NOT salvaged with R0, progression, distant "
        "metastasis, death. A regrowth salvaged with R0 (its salvage pathway, the salvage "
        "procedure and any completion surgery after it, ends R0) is not an event; a local or regional "
        "recurrence is an event even when salvaged. This is the default DFS."),
        _CURATIVE,
        N_("Full analysis set with a curative-intent initial strategy (W&W, LE, ESD, EMR, RO)"),
        (_LOCAL_RECUR, _NODAL, _UNSALVAGED, _PROGRESSION, _DISTANT, _DEATH),
        _LAST_CONTACT,
        origins=("T0", "T1", "INDEX"),
    ),
    Endpoint(
        "DFS_STRICT",
        N_("Disease-free survival (strict)"),
        N_("As DFS, but every local regrowth is an event at the regrowth date, salvaged or not."),
        _CURATIVE,
        N_("Full analysis set with a curative-intent initial strategy (W&W, LE, ESD, EMR, RO)"),
        (Source("first_regrowth_date", N_("Local regrowth")), _LOCAL_RECUR, _NODAL, _PROGRESSION, _DISTANT, _DEATH),
        _LAST_CONTACT,
        origins=("T0", "T1", "INDEX"),
    ),
    Endpoint(
        "EFS",
        N_("Event-free survival"),
        N_("Event: progression precluding curative treatment, local or regional recurrence, "
        "regrowth not salvaged with R0, distant metastasis, death."),
        _ANALYSIS,
        N_("Full analysis set"),
        (
            Source("first_progression_date", N_("Progression precluding curative treatment")),
            _LOCAL_RECUR,
            _NODAL,
            _UNSALVAGED,
            _DISTANT,
            _DEATH,
        ),
        _LAST_CONTACT,
    ),
    Endpoint(
        "OS",
        N_("Overall survival"),
        N_("Event: death from any cause."),
        _ANALYSIS,
        N_("Full analysis set"),
        (_DEATH,),
        Source("last_contact_date", N_("Last known alive")),
    ),
)
ENDPOINTS_BY_CODE = {e.code: e for e in ENDPOINTS}


def _endpoint_sql(ep: Endpoint, origin: str) -> str:
    origin_col, _ = ORIGINS[origin]
    cands = []
    for prio, s in enumerate(ep.events):
        cands.append(f"SELECT subject_id, {s.column} AS d, {prio} AS prio, 0 AS cnsr, '{s.description}' AS descr, '{s.event_type}' AS etype FROM base WHERE {s.column} IS NOT NULL")
    for prio, s in enumerate(ep.censor_early, start=len(ep.events)):
        cands.append(f"SELECT subject_id, {s.column}, {prio}, 1, '{s.description}', NULL FROM base WHERE {s.column} IS NOT NULL")
    union = "\n    UNION ALL ".join(cands)
    return f"""
WITH base AS (
  SELECT *, {origin_col} AS origin_date,
         coalesce({ep.censor.column}, {origin_col}) AS end_date
  FROM adsl WHERE ({ep.population}) AND {origin_col} IS NOT NULL
),
cand AS (
    {union}
),
first_cand AS (
  SELECT c.subject_id, arg_min(c, (c.d, c.prio)) AS f
  FROM cand c JOIN base b USING (subject_id)
  -- an event counts while under follow-up; a censoring only if it ends follow-up early
  WHERE c.d <= b.last_contact_date AND (c.cnsr = 0 OR c.d < b.end_date)
  GROUP BY c.subject_id
)
SELECT b.subject_id,
       '{ep.code}' AS paramcd,
       '{ep.label}' AS param,
       '{origin}' AS origin,
       b.origin_date AS startdt,
       CASE WHEN fc.f IS NOT NULL AND (fc.f.cnsr = 0 OR fc.f.d < b.end_date) THEN fc.f.d ELSE b.end_date END AS adt,
       CASE WHEN fc.f IS NOT NULL AND fc.f.cnsr = 0 THEN 0 ELSE 1 END AS cnsr,
       CASE WHEN fc.f IS NOT NULL THEN fc.f.descr ELSE '{ep.censor.description}' END AS evntdesc,
       CASE WHEN fc.f IS NOT NULL AND fc.f.cnsr = 0 THEN fc.f.etype END AS evnt_type
FROM base b LEFT JOIN first_cand fc USING (subject_id)
"""


def adtte_sql() -> str:
    parts = [_endpoint_sql(ep, o) for ep in ENDPOINTS for o in ep.origins]
    body = "\nUNION ALL\n".join(f"SELECT * FROM ({p})" for p in parts)
    return f"""
CREATE TABLE adtte AS
SELECT subject_id, paramcd, param, origin, startdt, adt,
       greatest(date_diff('day', startdt, adt), 0) / {DAYS_PER_MONTH!r} AS aval,
       cnsr::TINYINT AS cnsr, evntdesc, evnt_type
FROM ({body})
ORDER BY paramcd, origin, subject_id
"""


# --------------------------------------------------------------------------------------
# Completeness counts (the Data page)
# --------------------------------------------------------------------------------------
DQ_COUNTS = "dq_counts"
# A subject's row / NULL count in one table. UINTEGER cannot overflow (USMALLINT would fail
# the build for a subject with over 65,535 rows in one table); DuckDB bit-packs integer
# columns on disk, so it measured no larger and no slower to sum than USMALLINT. NULL
# counts rather than filled counts: mostly zeros, they compress to almost nothing
# (+8 MB rather than +29 MB at 1M patients).
DQ_COUNT_TYPE = "UINTEGER"


def dq_rows_column(table_name: str) -> str:
    """``dq_counts`` column: the subject's rows in ``table_name``."""
    return f"n__{table_name}"


def dq_null_column(table_name: str, column: str) -> str:
    """``dq_counts`` column: the subject's rows in ``table_name`` with ``column`` NULL."""
    return f"null__{table_name}__{column}"


def dq_counted_columns(t: Table) -> list[str]:
    """The columns of source table ``t`` whose completeness is counted (all but the key)."""
    return [c.name for c in t.columns if c.name != "subject_id"]


def dq_filter_columns() -> list[str]:
    """The ``adsl`` columns copied into ``dq_counts``: the cohort filters' (and the registry
    part), so a filter's ``WHERE`` applies to ``dq_counts`` as it is, without a join."""
    return sorted(FILTER_COLUMNS | {"cohort"})


def dq_count_columns() -> list[str]:
    """The count columns of ``dq_counts``, in table order."""
    out = []
    for t in TABLES:
        out.append(dq_rows_column(t.name))
        out += [dq_null_column(t.name, c) for c in dq_counted_columns(t)]
    return out


def dq_counts_sql() -> str:
    """The ``dq_counts`` statement, generated from schema.py (constant identifiers only)."""
    select, joins = ["a.subject_id", *(f'a."{c}"' for c in dq_filter_columns())], []
    for i, t in enumerate(TABLES):
        cols = dq_counted_columns(t)
        aggs = "".join(f', count(*) - count("{c}") AS "{c}"' for c in cols)
        joins.append(f'LEFT JOIN (SELECT subject_id, count(*) AS "_rows"{aggs} FROM "{t.name}" GROUP BY subject_id) '
                     f"t{i} USING (subject_id)")
        select.append(f'coalesce(t{i}."_rows", 0)::{DQ_COUNT_TYPE} AS "{dq_rows_column(t.name)}"')
        select += [f'coalesce(t{i}."{c}", 0)::{DQ_COUNT_TYPE} AS "{dq_null_column(t.name, c)}"' for c in cols]
    body = ",\n       ".join(select)
    return f"CREATE TABLE {DQ_COUNTS} AS\nSELECT {body}\nFROM adsl a\n" + "\n".join(joins) + "\n"


def build_analysis_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``adsl``, ``adtte`` and ``dq_counts`` from the source tables in ``con``."""
    con.execute(adsl_sql())
    con.execute(adtte_sql())
    con.execute(dq_counts_sql())


# --------------------------------------------------------------------------------------
# docs/endpoints.md
# --------------------------------------------------------------------------------------
def endpoints_markdown() -> str:
    """docs/endpoints.md, generated from :data:`ENDPOINTS` (a test keeps it current)."""
    out = [
        "# Endpoint definitions",
        "",
        "Generated from `src/dashboard/derive.py` by `python -m dashboard docs`; do not edit by hand.",
        "The definitions follow ../shared/domain.md (OPRA, IWWD, INFINITY conventions).",
        "",
        "## Conventions",
        "",
        f"- Time is in months: days / {DAYS_PER_MONTH} (365.25 / 12).",
        "- `CNSR` 0 = event, 1 = censored. The earliest qualifying date ends follow-up; on the same "
        "day an event outranks a censoring, and events rank in the order listed.",
        "- An event counts only if dated on or before the patient's last-contact date.",
        "- Follow-up that would end before the origin is counted as 0 months.",
        "- Time origins:",
    ]
    for code, (_, text) in ORIGINS.items():
        out.append(f"  - `{code}`: {text}.")
    out += [
        "- Comparing groups defined after T0 (response, strategy) with time from T0 introduces "
        "immortal-time bias: compare from T1 or use a landmark.",
        f"- Lost to follow-up: alive with no contact for more than {LOST_TO_FOLLOW_UP_MONTHS} months "
        "before the data cut-off (the latest last-contact date in the registry).",
        "",
    ]
    for ep in ENDPOINTS:
        out += [
            f"## {ep.code}: {ep.label}",
            "",
            ep.definition,
            "",
            f"- Population: {ep.population_text}.",
            f"- Origins: {', '.join(f'`{o}`' for o in ep.origins)}.",
            "- Events, in order of precedence: "
            + "; ".join(f"{s.description} (`{s.column}`{', ' + s.event_type if ep.competing else ''})" for s in ep.events)
            + ".",
        ]
        if ep.censor_early:
            out.append("- Censored early at: " + "; ".join(f"{s.description} (`{s.column}`)" for s in ep.censor_early) + ".")
        out.append(f"- Otherwise censored at: {ep.censor.description} (`{ep.censor.column}`).")
        if ep.competing:
            out.append(
                "- Reported as cumulative incidence (Aalen-Johansen) with `evnt_type` = `REGROWTH` "
                "for the event of interest and `COMPETING` for competing events."
            )
        out.append("")
    out += [
        "## The pathway's hard cases (how ../shared/domain.md is read)",
        "",
        "1. **Excision under Watch & Wait.** An organ-sparing excision (local excision / TEM / TAMIS, ESD, "
        "EMR) during Watch & Wait without a regrowth (e.g. a diagnostic excision of the scar) does not end "
        "RG follow-up; only a radical resection without regrowth censors RG. RG and strict DFS therefore "
        "count the same regrowth.",
        "2. **Nodal regrowth.** A regional nodal reappearance under Watch & Wait before any resection is a "
        "local regrowth (domain.md: lumen, bowel wall or regional nodes), whatever event code recorded it: "
        "an RG event, subject to the salvage rules, and not a nodal recurrence in DFS / EFS. The import "
        "warns that it was read so.",
        "3. **Salvage.** A regrowth is salvaged with R0 when its salvage pathway ends R0 (an R1 local "
        "excision followed by a completion radical resection R0 is salvaged R0). A SALVAGE-intent procedure "
        "after a regrowth, before any other oncological event, is that regrowth's salvage even without a "
        "link (the import warns); two candidates are an import error asking for the link.",
        "4. **Sustained cCR at 12 months.** A cCR patient who leaves Watch & Wait for a radical resection by "
        "their own choice, without a regrowth, before 12 months is not evaluable (left out of the "
        "denominator and counted as such), not a failure.",
        "5. **Status at last follow-up** agrees with DFS: a regrowth salvaged R1 is `REGROWTH_NOT_SALVAGED`, "
        "a local recurrence salvaged R0 is `RECURRENCE_SALVAGED` (a DFS event, now disease-free); see the "
        "table below.",
        "",
        "## Subject-level derivations (`adsl`)",
        "",
        "- `t0`: first immunotherapy dose. `t1`: decision date of strategy episode 1.",
        "- `restaging_response`: the overall response of the last restaging assessment on or before T1.",
        "- `initial_strategy` / `final_strategy`: strategy of the first / last episode; groups: "
        + ", ".join(f"{k} -> {v}" for k, v in STRATEGY_TO_GROUP.items())
        + ".",
        "- `organ_lost_date`: first radical resection (" + ", ".join(sorted(RADICAL_PROCEDURES)) + ").",
        "- Oncological events are read by kind. A regional nodal reappearance (event `NODAL`, or "
        "`LOCAL_RECUR` with `regrowth_site` = `NODES`) in a patient whose initial strategy is Watch & "
        "Wait, dated before any resection, is a local regrowth (`first_regrowth_date`, RG event, "
        "salvage rules apply), not a nodal recurrence; `nodal_regrowth_fl` marks such patients and "
        "the import warns (`nodal_read_as_regrowth`).",
        "- `first_regrowth_date`: the first local regrowth (including nodal regrowths as above).",
        "- Salvage of a regrowth: the procedure its `salvage_procedure_no` names; without a link, the "
        "one SALVAGE-intent procedure dated on or after the regrowth and before the patient's next "
        "oncological event (inferred link, `salvage_link_inferred_fl`; the import warns "
        "`salvage_link_inferred`, and refuses `salvage_link_ambiguous` when two procedures qualify).",
        "- Salvage pathway: the salvage procedure and every later COMPLETION or SALVAGE procedure "
        "before the next oncological event; the regrowth (or recurrence) is salvaged with R0 when the "
        "last procedure of the pathway is R0 (an R1 local excision followed by a completion radical "
        "resection R0 is salvaged R0; an R0 excision followed by an R1 completion is not).",
        "- `first_unsalvaged_regrowth_date`: the first local regrowth without a salvage, or whose "
        "salvage pathway does not end R0. `first_unsalvaged_recur_date`: the same for local and "
        "regional recurrences (explicit `salvage_procedure_no` links only).",
        "- `organ_lost_date`: first radical resection; RG follow-up is censored there when it comes "
        "before a regrowth. An organ-sparing excision never censors RG.",
        "- `pcr_fl`: ypT0 and ypN0 on the first resection specimen (ypT0N+ is not pCR); `mpr_fl`: "
        "residual viable tumour <= 10%; `path_response_fl`: <= 50%.",
        "- `sccr12_evaluable_fl` / `sccr12_fl` (sustained cCR at 12 months): among patients with cCR at "
        "restaging, evaluable if followed to 12 months after the last immunotherapy dose or failed "
        "before; sustained if no regrowth, recurrence, progression, distant metastasis, radical "
        "resection or death before that date. A cCR patient who left Watch & Wait for a radical "
        "resection by their own choice (episode trigger PATIENT_CHOICE), with no regrowth, recurrence, "
        "metastasis, progression or death on or before it, before the 12-month date is not evaluable "
        "(left out of the denominator, not a failure) and counted in `sccr12_choice_exit_fl`.",
        "- `status_at_last_fu`, the first that applies, agreeing with DFS (salvage-adjusted):",
        "",
        "| status | when | DFS (salvage-adjusted) | DFS strict |",
        "|---|---|---|---|",
        "| `DEAD` | died | event | event |",
        f"| `LOST_TO_FU` | alive, no contact for more than {LOST_TO_FOLLOW_UP_MONTHS} months before the "
        "cut-off | as the events say | as the events say |",
        "| `WITH_DISEASE` | distant metastasis, progression, or a local / regional recurrence not "
        "salvaged with R0 | event | event |",
        "| `REGROWTH_NOT_SALVAGED` | a local regrowth without salvage or whose salvage pathway does not "
        "end R0 (e.g. salvaged R1) | event | event |",
        "| `RECURRENCE_SALVAGED` | a local / regional recurrence salvaged with R0, nothing worse | "
        "event (a recurrence counts even when salvaged) | event |",
        "| `REGROWTH_SALVAGED` | every regrowth salvaged with R0, nothing worse | no event | event |",
        "| `ORGAN_PRESERVED` | none of the above, organ in place | no event | no event |",
        "| `RESECTED_NED` | none of the above, after a radical resection | no event | no event |",
        "",
    ]
    return "\n".join(out)
