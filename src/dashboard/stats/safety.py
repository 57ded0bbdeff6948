"""Counting rules of the safety tables: pure functions, Polars in, Polars out.

Adverse-event table (:func:`summarize_ae_table`):

- each patient is counted once per preferred term (PT), at the worst CTCAE grade of
  that term; once per system organ class (SOC), at the worst grade in the SOC (a SOC row
  counts patients with any event in it, not the sum of its PT rows); once in the
  "any adverse event" row, at the worst grade overall;
- columns: any grade (worst >= 1), grade >= 3 (worst >= 3), grade 5 (worst = 5);
- denominator: the safety population of the group (``denominators``), overall = the
  sum of the groups.

Procedure table (:func:`summarize_procedures`): one row per procedure; the procedures
counted are the first of each class per patient (``first_only=True``) or all of them.
Clavien-Dindo >= III means IIIa or worse, among procedures with a recorded grade, with a
Clopper-Pearson (exact) CI (R ``binom.test(x, n)$conf.int``). 30- and 90-day mortality:
death from any cause within 30 / 90 days of the procedure (day 0 = procedure day); a
procedure enters the denominator when the patient died within the window or was
followed for at least the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..i18n import N_
from ..schema import CLAVIEN_DINDO, LEAK_GRADE, STOMA
from .proportions import proportion_ci

OVERALL = "ALL"
MISSING = "MISSING"
# (code, worst-grade threshold, label): a patient counts when worst >= threshold.
GRADE_LEVELS: tuple[tuple[str, int, str], ...] = (("any", 1, N_("Any grade")), ("g3", 3, N_("Grade ≥3")),
                                                  ("g5", 5, N_("Grade 5")))
GRADE_THRESHOLD = {code: t for code, t, _ in GRADE_LEVELS}
ROW_TYPES = ("ANY", "SOC", "PT")
MAJOR_CD = ("IIIA", "IIIB", "IVA", "IVB", "V")  # Clavien-Dindo >= III
RESOLVED_OUTCOMES = ("RESOLVED", "RESOLVED_SEQUELAE")
MORTALITY_WINDOWS = (30, 90)
EVENT_COLUMNS = ("subject_id", "group", "soc", "term", "grade")


def _check(df: object, columns, name: str) -> pl.DataFrame:
    if not isinstance(df, pl.DataFrame):
        raise TypeError(f"{name}: expected a polars DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")
    nulls = [c for c in columns if df.get_column(c).null_count()]
    if nulls:
        raise ValueError(f"{name}: null values in {nulls}")
    return df


def _check_events(events: pl.DataFrame) -> pl.DataFrame:
    _check(events, EVENT_COLUMNS, "events")
    g = events.get_column("grade")
    if g.len() and (g.min() < 1 or g.max() > 5):
        raise ValueError("events: CTCAE grade must be 1-5")
    return events


def _denominators(denominators: pl.DataFrame) -> dict[str, int]:
    _check(denominators, ("group", "n"), "denominators")
    d = dict(zip(denominators["group"].to_list(), (int(x) for x in denominators["n"].to_list())))
    if OVERALL in d:
        raise ValueError(f"denominators: {OVERALL!r} is reserved for the overall column")
    if any(v < 0 for v in d.values()):
        raise ValueError("denominators: negative count")
    return d


# ------------------------------------------------------------------------ AE table
def worst_per_term(events: pl.DataFrame) -> pl.DataFrame:
    """One row per patient and preferred term: the worst-grade event of that term.

    Ties at the worst grade: the earliest onset, then the lowest event number.

    Parameters
    ----------
    events : one row per event with ``subject_id``, ``group``, ``soc``, ``term``,
        ``grade`` (1-5) and optionally ``onset_date``, ``ae_no`` and any detail columns.

    Returns
    -------
    pl.DataFrame : the columns of ``events`` (details of the worst event) plus
        ``n_events`` (events of that term for that patient), sorted by patient, SOC, term.
    """
    _check_events(events)
    keys = ["subject_id", "soc", "term"]
    order = ["grade"] + [c for c in ("onset_date", "ae_no") if c in events.columns]
    desc = [True] + [False] * (len(order) - 1)
    ranked = events.sort(keys + order, descending=[False] * len(keys) + desc, nulls_last=True)
    # sorted by the keys, each patient and term is a run of rows, the worst event first:
    # keep the first row of each run; its length is the number of events
    first = pl.any_horizontal(pl.col(k).ne_missing(pl.col(k).shift()) for k in keys)
    return (ranked.with_row_index("_i").filter(first)
            .with_columns((pl.col("_i").shift(-1, fill_value=ranked.height) - pl.col("_i")).alias("n_events"))
            .drop("_i"))


@dataclass(frozen=True)
class AeTable:
    """Patients with an event, per row (any AE / SOC / PT) and group.

    ``counts_``: ``row_type`` (ANY / SOC / PT), ``soc`` (null for ANY), ``term`` (null
    for ANY and SOC), ``group`` (a group code or ``ALL``), ``n_any``, ``n_g3``, ``n_g5``
    (patients), ``denominator``. Every (row, group) pair is present, zeros included.
    ``denominators_``: ``group``, ``n`` with ``ALL`` last. ``groups``: the group codes in
    column order (overall excluded).
    """

    counts_: pl.DataFrame
    denominators_: pl.DataFrame
    groups: tuple[str, ...]


def _count(events: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per keys: patients whose worst grade reaches each level of :data:`GRADE_LEVELS`,
    i.e. patients with at least one event at or above the level's threshold (grades are
    1-5, so >= 5 is = 5), each patient once."""
    return events.group_by(keys).agg(
        pl.col("subject_id").filter(pl.col("grade") >= t).n_unique().alias(f"n_{code}") for code, t, _ in GRADE_LEVELS)


def summarize_ae_table(events: pl.DataFrame, denominators: pl.DataFrame,
                       group_order: tuple[str, ...] = ()) -> AeTable:
    """Patients with adverse events by SOC and PT, per group and overall.

    Parameters
    ----------
    events : one row per event (or already one per patient and term): ``subject_id``,
        ``group``, ``soc``, ``term``, ``grade``. Every patient must belong to one group.
    denominators : ``group``, ``n``: the safety population per group (patients with at
        least one dose, with or without an event).
    group_order : column order of the groups; groups not listed follow in sorted order.

    Returns
    -------
    AeTable
    """
    _check_events(events)
    denom = _denominators(denominators)
    unknown = set(events["group"].unique().to_list()) - {g for g, n in denom.items() if n > 0}
    if unknown:
        raise ValueError(f"events in groups without a denominator: {sorted(unknown)}")
    groups = tuple(g for g in group_order if g in denom) + tuple(sorted(g for g in denom if g not in group_order))
    total = sum(denom.values())
    ev = events.select(EVENT_COLUMNS).with_columns(pl.col("soc", "term").cast(pl.String),
                                                   pl.col("grade").cast(pl.Int64))

    pt = _count(ev, ["group", "soc", "term"]).with_columns(pl.lit("PT").alias("row_type"))
    soc = _count(ev, ["group", "soc"]).with_columns(pl.lit("SOC").alias("row_type"),
                                                    pl.lit(None, pl.String).alias("term"))
    anyr = _count(ev, ["group"]).with_columns(pl.lit("ANY").alias("row_type"), pl.lit(None, pl.String).alias("soc"),
                                              pl.lit(None, pl.String).alias("term"))
    # the groups' patients add up to all patients only when no patient is in two groups
    if anyr["n_any"].sum() != ev["subject_id"].n_unique():
        raise ValueError("events: a patient belongs to more than one group")
    levels = [f"n_{code}" for code, _, _ in GRADE_LEVELS]
    cols = ["row_type", "soc", "term", "group", *levels]
    by_group = pl.concat([x.select(cols) for x in (anyr, soc, pt)])
    # each patient is in one group (checked): overall = the sum of the groups
    overall = (by_group.group_by(["row_type", "soc", "term"]).agg(pl.col(levels).sum())
               .with_columns(pl.lit(OVERALL).alias("group")).select(cols))
    found = pl.concat([by_group, overall])

    # every row in every group, zeros included
    rows = pl.concat([
        pl.DataFrame({"row_type": ["ANY"], "soc": [None], "term": [None]}, schema={"row_type": pl.String,
                                                                                   "soc": pl.String, "term": pl.String}),
        soc.select("row_type", "soc", "term").unique(),
        pt.select("row_type", "soc", "term").unique(),
    ])
    den = pl.DataFrame({"group": [*groups, OVERALL], "denominator": [*(denom[g] for g in groups), total]},
                       schema={"group": pl.String, "denominator": pl.Int64})
    counts = (rows.join(den, how="cross")
              .join(found, on=["row_type", "soc", "term", "group"], how="left", nulls_equal=True)
              .with_columns(pl.col("n_any", "n_g3", "n_g5").fill_null(0).cast(pl.Int64))
              .select(cols + ["denominator"]))
    if counts.filter(pl.col("n_any") > pl.col("denominator")).height:
        raise ValueError("more patients with an event than in the denominator: check the safety population")
    return AeTable(counts, den.rename({"denominator": "n"}), groups)


def ae_cell_patients(events: pl.DataFrame, *, soc: str | None = None, term: str | None = None,
                     group: str = OVERALL, level: str = "any") -> pl.DataFrame:
    """The patients counted in one cell of the AE table, one row per patient and term.

    Parameters
    ----------
    soc, term : the table row: both None = any adverse event; ``soc`` only = the SOC row
        (every term of the SOC); both = one preferred term.
    group : a group code or ``ALL``.
    level : ``any``, ``g3`` or ``g5`` (:data:`GRADE_LEVELS`).

    Returns
    -------
    pl.DataFrame : rows of :func:`worst_per_term` whose worst grade reaches the level,
        restricted to the row and group; the distinct patients are the cell count (for a
        SOC or any-AE row, a patient's terms below the level are left out).
    """
    if level not in GRADE_THRESHOLD:
        raise ValueError(f"level must be one of {list(GRADE_THRESHOLD)}, got {level!r}")
    if term is not None and soc is None:
        raise ValueError("a preferred term needs its SOC")
    # the row and group select whole (patient, term) sets of events: filter before collapsing
    if group != OVERALL:
        events = events.filter(pl.col("group") == group)
    if soc is not None:
        events = events.filter(pl.col("soc") == soc)
    if term is not None:
        events = events.filter(pl.col("term") == term)
    return worst_per_term(events).filter(pl.col("grade") >= GRADE_THRESHOLD[level])


# ------------------------------------------------------------------------ irAEs
# A data key (compared by the pages): translate on display with ``_(IRAE_ANY)``.
IRAE_ANY = N_("Any immune-related adverse event")


def summarize_irae(events: pl.DataFrame, denominator: int) -> pl.DataFrame:
    """Immune-related adverse events per preferred term, and any irAE.

    Parameters
    ----------
    events : immune-related events of one population: ``subject_id``, ``soc``, ``term``,
        ``grade``, ``days_from_t0``, ``steroids`` (null = not recorded), ``outcome``,
        ``days_to_resolution`` (null when not resolved or not recorded).
    denominator : safety-population patients of that population.

    Returns
    -------
    pl.DataFrame : one row per term (``row_type`` PT) plus the ``ANY`` row first:
        ``soc``, ``term``, ``patients``, ``pct`` (of ``denominator``), ``patients_g3``
        (worst grade >= 3), ``events``, ``onset_median`` / ``onset_q1`` / ``onset_q3``
        (days from T0 to the patient's first event of the term; for ANY, to the first
        irAE), ``events_steroids``, ``events_resolved`` (outcome resolved, with or
        without sequelae), ``resolution_median`` / ``_q1`` / ``_q3`` (days from onset to
        resolution, resolved events with a date). Sorted by patients, descending.
    """
    cols = ("subject_id", "soc", "term", "grade", "days_from_t0", "outcome", "steroids", "days_to_resolution")
    if not isinstance(events, pl.DataFrame) or any(c not in events.columns for c in cols):
        raise ValueError(f"events need columns {cols}")
    _check(events, ("subject_id", "soc", "term", "grade", "days_from_t0"), "events")
    if int(denominator) <= 0 and events.height:
        raise ValueError("denominator must be positive when there are events")

    def block(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
        per_patient = df.group_by(keys + ["subject_id"]).agg(pl.col("grade").max(), pl.col("days_from_t0").min())
        pats = per_patient.group_by(keys).agg(
            pl.len().alias("patients"), (pl.col("grade") >= 3).sum().alias("patients_g3"),
            pl.col("days_from_t0").median().alias("onset_median"),
            pl.col("days_from_t0").quantile(0.25, "linear").alias("onset_q1"),
            pl.col("days_from_t0").quantile(0.75, "linear").alias("onset_q3"))
        ev = df.group_by(keys).agg(
            pl.len().alias("events"), pl.col("steroids").fill_null(False).sum().alias("events_steroids"),
            pl.col("outcome").is_in(RESOLVED_OUTCOMES).sum().alias("events_resolved"),
            pl.col("days_to_resolution").filter(pl.col("outcome").is_in(RESOLVED_OUTCOMES)).median().alias("resolution_median"),
            pl.col("days_to_resolution").filter(pl.col("outcome").is_in(RESOLVED_OUTCOMES))
            .quantile(0.25, "linear").alias("resolution_q1"),
            pl.col("days_to_resolution").filter(pl.col("outcome").is_in(RESOLVED_OUTCOMES))
            .quantile(0.75, "linear").alias("resolution_q3"))
        return pats.join(ev, on=keys) if keys else pl.concat([pats, ev], how="horizontal")

    out_cols = ["row_type", "soc", "term", "patients", "pct", "patients_g3", "events", "onset_median", "onset_q1",
                "onset_q3", "events_steroids", "events_resolved", "resolution_median", "resolution_q1", "resolution_q3"]
    if events.height == 0:
        return pl.DataFrame(schema={c: (pl.String if c in ("row_type", "soc", "term") else pl.Float64)
                                    for c in out_cols})
    df = events.with_columns(pl.col("grade").cast(pl.Int64), pl.col("days_from_t0").cast(pl.Float64),
                             pl.col("days_to_resolution").cast(pl.Float64))
    df = df.with_columns(pl.lit(1).alias("_all"))
    anyr = block(df, ["_all"]).drop("_all").with_columns(pl.lit("ANY").alias("row_type"),
                                                         pl.lit(None, pl.String).alias("soc"),
                                                         pl.lit(IRAE_ANY).alias("term"))
    pt = block(df, ["soc", "term"]).with_columns(pl.lit("PT").alias("row_type"))
    out = pl.concat([anyr.select(pt.columns), pt.sort(["patients", "term"], descending=[True, False])])
    return out.with_columns((pl.col("patients") / int(denominator)).alias("pct")).select(out_cols)


def summarize_surgery_impact(events: pl.DataFrame, denominators: pl.DataFrame,
                             group_order: tuple[str, ...] = ()) -> pl.DataFrame:
    """Patients with an adverse event that delayed or cancelled planned surgery.

    Parameters
    ----------
    events : ``subject_id``, ``group``, ``surgery_impact`` (NONE / DELAYED / CANCELLED /
        null).
    denominators : ``group``, ``n`` (safety population).
    group_order : row order of the groups; groups not listed follow in sorted order.

    Returns
    -------
    pl.DataFrame : ``group`` (each group, then ``ALL``), ``denominator``, ``delayed``,
        ``cancelled``, ``either`` (patients; a patient with both counts in each and once
        in ``either``).
    """
    _check(events, ("subject_id", "group"), "events")
    if "surgery_impact" not in events.columns:
        raise ValueError("events: missing column surgery_impact")
    denom = _denominators(denominators)
    rows = []
    groups = [g for g in group_order if g in denom] + sorted(g for g in denom if g not in group_order)
    for g in [*groups, OVERALL]:
        sub = events if g == OVERALL else events.filter(pl.col("group") == g)
        imp = sub.filter(pl.col("surgery_impact").is_in(("DELAYED", "CANCELLED")))
        rows.append((g, sum(denom.values()) if g == OVERALL else denom[g],
                     imp.filter(pl.col("surgery_impact") == "DELAYED")["subject_id"].n_unique(),
                     imp.filter(pl.col("surgery_impact") == "CANCELLED")["subject_id"].n_unique(),
                     imp["subject_id"].n_unique()))
    return pl.DataFrame(rows, schema={"group": pl.String, "denominator": pl.Int64, "delayed": pl.Int64,
                                      "cancelled": pl.Int64, "either": pl.Int64}, orient="row")


# ------------------------------------------------------------------------ procedures
@dataclass(frozen=True)
class ProcedureSummary:
    """Complications of resections, per procedure class.

    Every frame has ``proc_class`` first.
    ``counts_``: ``procedures``, ``patients``.
    ``clavien_``: ``grade`` (Clavien-Dindo code or ``MISSING``), ``n``, ``pct`` (of
    procedures with a recorded grade; null for MISSING).
    ``major_``: ``x`` (IIIa or worse), ``n`` (recorded), ``estimate``, ``lower``,
    ``upper`` (Clopper-Pearson), ``missing``.
    ``leak_``: ``grade`` (ISREC code or ``MISSING``), ``n``, ``pct`` (of procedures with
    an anastomosis: leak grade NONE, A, B or C).
    ``mortality_``: ``days`` (30 / 90), ``deaths``, ``n`` (evaluable), ``estimate``,
    ``lower``, ``upper`` (Clopper-Pearson), ``not_evaluable`` (alive, followed less).
    ``los_``: ``n``, ``median``, ``q1``, ``q3`` (days), ``missing``.
    ``stoma_``: ``stoma`` (code or ``MISSING``), ``n``, ``pct`` (of recorded).
    ``closure_``: ``temporary``, ``closed``, ``median_days``, ``q1_days``, ``q3_days``
    (procedure to closure).
    """

    counts_: pl.DataFrame
    clavien_: pl.DataFrame
    major_: pl.DataFrame
    leak_: pl.DataFrame
    mortality_: pl.DataFrame
    los_: pl.DataFrame
    stoma_: pl.DataFrame
    closure_: pl.DataFrame
    classes: tuple[str, ...]
    first_only: bool
    conf_level: float


PROCEDURE_COLUMNS = ("subject_id", "proc_class", "first_of_class", "clavien_dindo", "leak_grade",
                     "length_of_stay_days", "stoma", "days_to_closure", "days_to_death", "days_followed")


def procedures_counted(procedures: pl.DataFrame, first_only: bool = True) -> pl.DataFrame:
    """The procedures a summary counts: the first of each class per patient, or all."""
    _check(procedures, ("subject_id", "proc_class", "first_of_class"), "procedures")
    return procedures.filter(pl.col("first_of_class")) if first_only else procedures


def _ci(x: int, n: int, conf_level: float) -> tuple[float | None, float | None, float | None]:
    if n == 0:
        return None, None, None
    ci = proportion_ci(x, n, "clopper-pearson", conf_level)
    return ci.estimate, ci.lower, ci.upper


def died_within(days: int) -> pl.Expr:
    """Death from any cause on days 0..``days`` after the procedure."""
    return pl.col("days_to_death").is_not_null() & (pl.col("days_to_death") <= days)


def evaluable_for(days: int) -> pl.Expr:
    """Died within the window, or followed for at least the window."""
    return died_within(days) | (pl.col("days_followed") >= days)


def summarize_procedures(procedures: pl.DataFrame, classes: tuple[str, ...], *, first_only: bool = True,
                         conf_level: float = 0.95) -> ProcedureSummary:
    """Clavien-Dindo distribution, grade >= III rate, leak grade, 30/90-day mortality,
    length of stay and stomas per procedure class.

    Parameters
    ----------
    procedures : one row per procedure with :data:`PROCEDURE_COLUMNS` (codes as in the
        schema; nulls allowed in the clinical columns = not recorded).
    classes : procedure-class codes, in display order (every class gets its rows).
    first_only : count the first procedure of each class per patient only (default) or
        every procedure.
    conf_level : for the Clopper-Pearson intervals.

    Returns
    -------
    ProcedureSummary
    """
    if not isinstance(procedures, pl.DataFrame) or any(c not in procedures.columns for c in PROCEDURE_COLUMNS):
        raise ValueError(f"procedures need columns {PROCEDURE_COLUMNS}")
    _check(procedures, ("subject_id", "proc_class", "first_of_class"), "procedures")
    if not 0 < conf_level < 1:
        raise ValueError("conf_level must be in (0, 1)")
    df = procedures_counted(procedures, first_only)
    counts, clav, major, leak, mort, los, stoma, closure = ([] for _ in range(8))
    for k in classes:
        p = df.filter(pl.col("proc_class") == k)
        counts.append((k, p.height, p["subject_id"].n_unique()))
        cd = p["clavien_dindo"]
        recorded = int(cd.is_not_null().sum())
        for g in (*CLAVIEN_DINDO.codes, MISSING):
            n = int(cd.is_null().sum()) if g == MISSING else int((cd == g).sum())
            clav.append((k, g, n, None if g == MISSING or not recorded else n / recorded))
        x = int(cd.is_in(MAJOR_CD).sum())
        major.append((k, x, recorded, *_ci(x, recorded, conf_level), p.height - recorded))
        lg = p["leak_grade"]
        anast = int(lg.is_in(("NONE", "A", "B", "C")).sum())
        for g in (*LEAK_GRADE.codes, MISSING):
            n = int(lg.is_null().sum()) if g == MISSING else int((lg == g).sum())
            leak.append((k, g, n, n / anast if anast and g in ("NONE", "A", "B", "C") else None))
        for days in MORTALITY_WINDOWS:
            ev = p.filter(evaluable_for(days))
            deaths = ev.filter(died_within(days)).height
            mort.append((k, days, deaths, ev.height, *_ci(deaths, ev.height, conf_level), p.height - ev.height))
        l_ = p["length_of_stay_days"].drop_nulls().cast(pl.Float64)
        los.append((k, l_.len(), l_.median(), l_.quantile(0.25, "linear"), l_.quantile(0.75, "linear"),
                    p.height - l_.len()))
        sm = p["stoma"]
        srec = int(sm.is_not_null().sum())
        for g in (*STOMA.codes, MISSING):
            n = int(sm.is_null().sum()) if g == MISSING else int((sm == g).sum())
            stoma.append((k, g, n, None if g == MISSING or not srec else n / srec))
        tmp = p.filter(pl.col("stoma") == "TEMPORARY")
        dc = tmp["days_to_closure"].drop_nulls().cast(pl.Float64)
        closure.append((k, tmp.height, dc.len(), dc.median(), dc.quantile(0.25, "linear"),
                        dc.quantile(0.75, "linear")))
    F, I, S = pl.Float64, pl.Int64, pl.String

    def frame(rows, schema):
        return pl.DataFrame(rows, schema=schema, orient="row")

    return ProcedureSummary(
        counts_=frame(counts, {"proc_class": S, "procedures": I, "patients": I}),
        clavien_=frame(clav, {"proc_class": S, "grade": S, "n": I, "pct": F}),
        major_=frame(major, {"proc_class": S, "x": I, "n": I, "estimate": F, "lower": F, "upper": F, "missing": I}),
        leak_=frame(leak, {"proc_class": S, "grade": S, "n": I, "pct": F}),
        mortality_=frame(mort, {"proc_class": S, "days": I, "deaths": I, "n": I, "estimate": F, "lower": F,
                                "upper": F, "not_evaluable": I}),
        los_=frame(los, {"proc_class": S, "n": I, "median": F, "q1": F, "q3": F, "missing": I}),
        stoma_=frame(stoma, {"proc_class": S, "stoma": S, "n": I, "pct": F}),
        closure_=frame(closure, {"proc_class": S, "temporary": I, "closed": I, "median_days": F, "q1_days": F,
                                 "q3_days": F}),
        classes=tuple(classes), first_only=first_only, conf_level=conf_level,
    )


def procedure_cell_filter(cell: str) -> pl.Expr:
    """Rows behind one procedure-table cell. ``cell``: ``all``, ``cd:<code>``,
    ``cd_major``, ``leak:<code>``, ``died30``, ``died90``, ``stoma:<code>``,
    ``stoma_closed``."""
    if cell == "all":
        return pl.lit(True)
    if cell == "cd_major":
        return pl.col("clavien_dindo").is_in(MAJOR_CD)
    if cell in ("died30", "died90"):
        return died_within(int(cell[4:]))
    if cell == "stoma_closed":
        return (pl.col("stoma") == "TEMPORARY") & pl.col("days_to_closure").is_not_null()
    kind, _, code = cell.partition(":")
    col = {"cd": "clavien_dindo", "leak": "leak_grade", "stoma": "stoma"}.get(kind)
    if col is None or not code:
        raise ValueError(f"unknown procedure-table cell {cell!r}")
    return pl.col(col).is_null() if code == MISSING else pl.col(col) == code
