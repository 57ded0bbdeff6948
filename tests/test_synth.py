"""Synthetic registry: determinism, keys, references, date logic and calibration."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from dashboard import schema as S
from dashboard import store, synth
from dashboard.calibration import Calibration

N_SMALL = 1500
N_CAL = 6000


def _generate(n: int, seed: int, **kw) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    store.create_source_tables(con)
    synth.generate(con, n, seed, **kw)
    return con


def _rows(con, sql: str, params=None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def _one(con, sql: str):
    return con.execute(sql).fetchone()[0]


@pytest.fixture(scope="module")
def con():
    c = _generate(N_SMALL, 11)
    yield c
    c.close()


@pytest.fixture(scope="module")
def big():
    c = _generate(N_CAL, 5)
    yield c
    c.close()


def _tables(con) -> dict[str, list[tuple]]:
    out = {}
    for t in S.TABLES:
        keys = ", ".join(t.primary_key)
        out[t.name] = con.execute(f"SELECT * FROM {t.name} ORDER BY {keys}").fetchall()
    return out


# ------------------------------------------------------------------------------ determinism
def test_same_seed_same_content(con):
    again = _generate(N_SMALL, 11)
    assert store.content_hash(again) == store.content_hash(con)
    a, b = _tables(con), _tables(again)
    for name in S.TABLE_NAMES:
        assert a[name] == b[name], name


def test_different_seed_differs(con):
    other = _generate(N_SMALL, 12)
    assert store.content_hash(other) != store.content_hash(con)


def test_chunks_are_independent_of_total_size(monkeypatch):
    """Chunk k always draws from SeedSequence(seed, spawn_key=(k,)): with a small chunk size the
    first chunks of a larger registry are the same patients as a smaller registry."""
    monkeypatch.setattr(synth, "CHUNK_SIZE", 200)
    small, large = _generate(400, 3), _generate(600, 3)
    q = "SELECT * FROM subject WHERE subject_id <= 'NOR-0000400' ORDER BY subject_id"
    assert _rows(small, q) == _rows(large, q)


def test_all_tables_filled_and_provenance(tmp_path):
    meta = synth.build_demo(tmp_path / "r.duckdb", 400, 7, derive=False)
    assert meta["source"] == "synthetic"
    assert meta["seed"] == "7" and meta["generator_version"] == synth.GENERATOR_VERSION
    m = store.read_meta(tmp_path / "r.duckdb")
    assert m["source"] == "synthetic" and m["seed"] == "7" and m["n_patients"] == "400"
    assert m["generator_version"] == synth.GENERATOR_VERSION and m["cutoff_date"] == "2026-11-01"


def test_every_table_has_rows(con):
    counts = store.table_counts(con)
    assert all(counts[t] > 0 for t in S.TABLE_NAMES), counts
    assert counts["subject"] == counts["follow_up"] == N_SMALL


def test_input_validation():
    c = duckdb.connect()
    store.create_source_tables(c)
    with pytest.raises(ValueError):
        synth.generate(c, 0, 1)
    with pytest.raises(ValueError):
        synth.generate(c, 10, -1)
    bad = dataclasses.replace(Calibration(), site={"RECTUM": 1.0, "LIVER": 1.0})
    with pytest.raises(ValueError):
        synth.generate(c, 10, 1, calibration=bad)


# ------------------------------------------------------------------------------ schema conformance
def test_required_columns_and_vocabularies(con):
    for t in S.TABLES:
        for c in t.columns:
            if c.required:
                assert _one(con, f"SELECT count(*) FROM {t.name} WHERE {c.name} IS NULL") == 0, f"{t.name}.{c.name}"
            if c.type == "code":
                codes = S.VOCABULARIES[c.vocab].codes
                bad = _rows(con, f"SELECT DISTINCT {c.name} FROM {t.name} WHERE {c.name} IS NOT NULL AND {c.name} NOT IN ?", [list(codes)])
                assert bad == [], f"{t.name}.{c.name}: {bad}"
            if c.min is not None:
                assert _one(con, f"SELECT count(*) FROM {t.name} WHERE {c.name} < {c.min} OR {c.name} > {c.max}") == 0, c.name
            if c.max_length is not None:
                assert _one(con, f"SELECT coalesce(max(length({c.name})), 0) FROM {t.name}") <= c.max_length


def test_primary_keys_unique_and_numbered_from_one(con):
    for t in S.TABLES:
        keys = ", ".join(t.primary_key)
        dup = _one(con, f"SELECT count(*) FROM (SELECT {keys} FROM {t.name} GROUP BY {keys} HAVING count(*) > 1)")
        assert dup == 0, t.name
    for tname, col in [("ici_exposure", "exposure_no"), ("assessment", "assessment_no"), ("strategy_episode", "episode_no"),
                       ("procedure", "procedure_no"), ("ae", "ae_no"), ("onc_event", "event_no")]:
        gaps = _one(con, f"SELECT count(*) FROM (SELECT subject_id, max({col}) m, count(*) c, min({col}) lo FROM {tname} "
                         f"GROUP BY subject_id) WHERE m <> c OR lo <> 1")
        assert gaps == 0, tname


def test_foreign_keys_resolve(con):
    for t in S.TABLES:
        for fk in t.foreign_keys:
            on = " AND ".join(f"a.{c} = b.{r}" for c, r in zip(fk.columns, fk.ref_columns))
            n = _one(con, f"SELECT count(*) FROM {t.name} a ANTI JOIN {fk.table} b ON {on}")
            assert n == 0, f"{t.name} -> {fk.table}"
    orphan = _one(con, """SELECT count(*) FROM onc_event e WHERE salvage_procedure_no IS NOT NULL AND NOT EXISTS
                          (SELECT 1 FROM procedure p WHERE p.subject_id = e.subject_id AND p.procedure_no = e.salvage_procedure_no)""")
    assert orphan == 0


# ------------------------------------------------------------------------------ date logic: each query must return 0 rows
T0 = "(SELECT subject_id, min(start_date) t0 FROM ici_exposure GROUP BY subject_id)"
END = "(SELECT s.subject_id, f.last_contact_date lc, f.death_date dd FROM subject s JOIN follow_up f USING (subject_id))"
DATED = [("assessment", "assessment_date"), ("strategy_episode", "start_date"), ("strategy_episode", "decision_date"),
         ("procedure", "procedure_date"), ("procedure", "stoma_closure_date"), ("ae", "onset_date"), ("ae", "resolution_date"),
         ("onc_event", "event_date"), ("qol", "qol_date"), ("ici_exposure", "start_date"), ("ici_exposure", "end_date")]

INVARIANTS = {
    "registration after first dose + 0": f"SELECT * FROM subject s JOIN {T0} t USING (subject_id) WHERE s.registration_date > t.t0",
    "ici end before start": "SELECT * FROM ici_exposure WHERE end_date < start_date",
    "second regimen overlaps first": """SELECT * FROM ici_exposure a JOIN ici_exposure b USING (subject_id)
        WHERE b.exposure_no = a.exposure_no + 1 AND (a.end_date IS NULL OR b.start_date <= a.end_date)""",
    "restaging before first dose": f"SELECT * FROM assessment a JOIN {T0} t USING (subject_id) WHERE a.timepoint = 'RESTAGING' AND a.assessment_date <= t.t0",
    "restaging without one overall response": """SELECT subject_id FROM assessment WHERE timepoint = 'RESTAGING'
        GROUP BY subject_id HAVING count(overall_response) <> 1""",
    "T1 not after restaging": """SELECT * FROM strategy_episode e JOIN (SELECT subject_id, max(assessment_date) rs FROM assessment
        WHERE timepoint = 'RESTAGING' GROUP BY subject_id) r USING (subject_id) WHERE e.episode_no = 1 AND e.decision_date <= r.rs""",
    "episode without restaging": """SELECT * FROM strategy_episode e WHERE NOT EXISTS (SELECT 1 FROM assessment a
        WHERE a.subject_id = e.subject_id AND a.timepoint = 'RESTAGING')""",
    "episode 1 not INITIAL": "SELECT * FROM strategy_episode WHERE (episode_no = 1) <> (trigger = 'INITIAL')",
    "episode starts before decision": "SELECT * FROM strategy_episode WHERE start_date < decision_date",
    "episodes out of order": """SELECT * FROM strategy_episode a JOIN strategy_episode b USING (subject_id)
        WHERE b.episode_no = a.episode_no + 1 AND b.decision_date < a.decision_date""",
    "procedure before first dose": f"SELECT * FROM procedure p JOIN {T0} t USING (subject_id) WHERE p.procedure_date <= t.t0",
    "procedure date is not its episode start": """SELECT * FROM procedure p JOIN strategy_episode e USING (subject_id, episode_no)
        WHERE e.start_date <> p.procedure_date OR e.strategy IN ('WW', 'SYSTEMIC')""",
    "dead without death date or dates differ": """SELECT * FROM follow_up WHERE (vital_status = 'DEAD') <> (death_date IS NOT NULL)
        OR (vital_status = 'DEAD' AND death_date <> last_contact_date) OR (vital_status = 'ALIVE' AND death_cause IS NOT NULL)""",
    "last contact after cut-off or before registration": """SELECT * FROM follow_up JOIN subject USING (subject_id)
        WHERE last_contact_date > DATE '2026-11-01' OR last_contact_date < registration_date""",
    "stoma closure without a temporary stoma": """SELECT * FROM procedure WHERE stoma_closure_date IS NOT NULL
        AND (stoma <> 'TEMPORARY' OR stoma_closure_date <= procedure_date)""",
    "pathology for a missing procedure or wrong TRG system": """SELECT * FROM pathology p JOIN subject s USING (subject_id)
        WHERE (s.tumour_site IN ('GASTRIC', 'GEJ') AND p.trg_system <> 'BECKER')
           OR (s.tumour_site IN ('RECTUM', 'COLON') AND p.trg_system NOT IN ('AJCC_CAP', 'MANDARD'))""",
    "nodes positive > examined": "SELECT * FROM pathology WHERE nodes_positive > nodes_examined",
    "pCR inconsistent with residual tumour": "SELECT * FROM pathology WHERE ypt = 'T0' AND residual_viable_pct > 0",
    "fatal complication without death": """SELECT * FROM procedure p JOIN follow_up f USING (subject_id)
        WHERE p.clavien_dindo = 'V' AND (f.vital_status <> 'DEAD' OR f.death_date > p.procedure_date + 90)""",
    "AE resolved before onset": "SELECT * FROM ae WHERE resolution_date < onset_date",
    "ICI AE before first dose": f"SELECT * FROM ae JOIN {T0} t USING (subject_id) WHERE attribution = 'ICI' AND onset_date < t.t0",
    "LARS outside rectal bowel continuity": """SELECT * FROM qol q JOIN subject s USING (subject_id) WHERE q.instrument IN ('LARS', 'WEXNER')
        AND (s.tumour_site <> 'RECTUM' OR EXISTS (SELECT 1 FROM procedure p WHERE p.subject_id = q.subject_id AND p.procedure_date <= q.qol_date
             AND (p.stoma = 'PERMANENT' OR (p.stoma = 'TEMPORARY' AND (p.stoma_closure_date IS NULL OR p.stoma_closure_date > q.qol_date)))))""",
    "LARS not an integer in 0-42": "SELECT * FROM qol WHERE instrument = 'LARS' AND (score <> round(score) OR score < 0 OR score > 42)",
    "QoL module does not match the site": """SELECT * FROM qol q JOIN subject s USING (subject_id) WHERE
        (q.instrument = 'QLQ_CR29' AND s.tumour_site NOT IN ('RECTUM', 'COLON')) OR (q.instrument = 'QLQ_STO22' AND s.tumour_site <> 'GASTRIC')
        OR (q.instrument = 'QLQ_OES18' AND s.tumour_site <> 'GEJ')""",
    "QoL month timepoint not after T1": """SELECT * FROM qol q JOIN strategy_episode e ON e.subject_id = q.subject_id AND e.episode_no = 1
        WHERE q.timepoint LIKE 'M%' AND q.qol_date <= e.decision_date""",
    "QoL month timepoint without T1": """SELECT * FROM qol q WHERE q.timepoint LIKE 'M%' AND NOT EXISTS
        (SELECT 1 FROM assessment a WHERE a.subject_id = q.subject_id AND a.timepoint = 'RESTAGING')""",
    "regrowth outside W&W or without a salvage episode link": """SELECT * FROM onc_event e WHERE e.event_type = 'LOCAL_REGROWTH' AND
        NOT EXISTS (SELECT 1 FROM strategy_episode w WHERE w.subject_id = e.subject_id AND w.strategy = 'WW' AND w.start_date < e.event_date)""",
    "salvage link to a non-salvage procedure or before the event": """SELECT * FROM onc_event e JOIN procedure p
        ON p.subject_id = e.subject_id AND p.procedure_no = e.salvage_procedure_no WHERE p.intent <> 'SALVAGE' OR p.procedure_date <= e.event_date""",
    "completion surgery without a prior local excision": """SELECT * FROM procedure p WHERE p.intent = 'COMPLETION' AND NOT EXISTS
        (SELECT 1 FROM procedure l WHERE l.subject_id = p.subject_id AND l.procedure_type IN ('TEM', 'TAMIS', 'ESD', 'EMR') AND l.procedure_date < p.procedure_date)""",
    "procedure after the organ was removed": """SELECT * FROM procedure p JOIN (SELECT subject_id, min(procedure_date) ol FROM procedure
        WHERE procedure_type NOT IN ('TEM', 'TAMIS', 'ESD', 'EMR') GROUP BY subject_id) o USING (subject_id) WHERE p.procedure_date > o.ol""",
    "surveillance while the organ is removed": """SELECT * FROM assessment a JOIN (SELECT subject_id, min(procedure_date) ol FROM procedure
        WHERE procedure_type NOT IN ('TEM', 'TAMIS', 'ESD', 'EMR') GROUP BY subject_id) o USING (subject_id)
        WHERE a.timepoint = 'SURVEILLANCE' AND a.assessment_date >= o.ol""",
    "LE on a non-rectal tumour / transanal procedure off the rectum": """SELECT * FROM procedure p JOIN subject s USING (subject_id)
        WHERE p.procedure_type IN ('TEM', 'TAMIS', 'TME_LAR', 'TME_APR') AND s.tumour_site <> 'RECTUM'""",
    "distance from the anal verge off the rectum": "SELECT * FROM subject WHERE distance_av_cm IS NOT NULL AND tumour_site <> 'RECTUM'",
    "NO_ICI patient with immunotherapy or clinical data": """SELECT * FROM subject s WHERE s.eligibility = 'NO_ICI' AND (
        EXISTS (SELECT 1 FROM ici_exposure i WHERE i.subject_id = s.subject_id) OR EXISTS (SELECT 1 FROM assessment a WHERE a.subject_id = s.subject_id))""",
    "excluded patient with a strategy": """SELECT * FROM strategy_episode e JOIN subject s USING (subject_id) WHERE s.eligibility <> 'ELIGIBLE'""",
    "subject id not a pseudonym": "SELECT * FROM subject WHERE NOT regexp_full_match(subject_id, 'NOR-[0-9]{7}')",
}
for _t, _c in DATED:
    INVARIANTS[f"{_t}.{_c} after last contact"] = f"SELECT * FROM {_t} x JOIN {END} e USING (subject_id) WHERE x.{_c} > e.lc"


@pytest.mark.parametrize("name", sorted(INVARIANTS))
def test_invariant_returns_no_rows(con, name):
    n = _one(con, f"SELECT count(*) FROM ({INVARIANTS[name]})")
    assert n == 0, f"{name}: {n} rows"


def test_trg_grade_in_system(con):
    for system, grades in S.TRG_GRADES.items():
        bad = _rows(con, "SELECT DISTINCT trg_grade FROM pathology WHERE trg_system = ? AND trg_grade NOT IN ?", [system, list(grades)])
        assert bad == [], system


def test_qol_scales_from_schema_and_in_range(con):
    got = _rows(con, "SELECT DISTINCT instrument, scale FROM qol")
    assert {tuple(r) for r in got} <= set(S.QOL_SCALE_INDEX)
    for (inst, code), sc in S.QOL_SCALE_INDEX.items():
        bad = _one(con, f"SELECT count(*) FROM qol WHERE instrument = '{inst}' AND scale = '{code}' AND (score < {sc.low} OR score > {sc.high})")
        assert bad == 0, (inst, code)


def test_pathways_are_all_present(big):
    triggers = {r[0] for r in _rows(big, "SELECT DISTINCT trigger FROM strategy_episode")}
    assert {"INITIAL", "REGROWTH", "ADVERSE_PATHOLOGY", "PATIENT_CHOICE", "DISTANT_MET", "RESPONSE", "RECURRENCE"} <= triggers
    events = {r[0] for r in _rows(big, "SELECT DISTINCT event_type FROM onc_event")}
    assert {"LOCAL_REGROWTH", "LOCAL_RECUR", "NODAL", "DISTANT", "PROGRESSION"} <= events
    intents = {r[0] for r in _rows(big, "SELECT DISTINCT intent FROM procedure")}
    assert intents == {"PRIMARY", "SALVAGE", "COMPLETION"}
    assert _one(big, "SELECT count(*) FROM follow_up WHERE vital_status = 'DEAD'") > 0
    assert _one(big, "SELECT count(*) FROM follow_up WHERE last_contact_date < DATE '2025-11-01' AND vital_status = 'ALIVE'") > 0
    assert _one(big, "SELECT count(*) FROM ici_exposure WHERE end_date IS NULL") > 0  # still on treatment at cut-off
    assert _one(big, "SELECT count(*) FROM ae WHERE surgery_impact IN ('DELAYED', 'CANCELLED')") > 0


# ------------------------------------------------------------------------------ calibration (generous statistical bounds, n = 6000)
def _ratio(con, sql: str) -> float:
    num, den = con.execute(sql).fetchone()
    assert den > 50, sql
    return num / den


def test_response_rates(big):
    r = _ratio(big, """SELECT count(*) FILTER (WHERE a.overall_response = 'CCR'), count(*) FROM assessment a JOIN subject s USING (subject_id)
                       WHERE a.timepoint = 'RESTAGING' AND a.overall_response IS NOT NULL AND s.tumour_site = 'RECTUM'""")
    assert r > 0.85
    nr = _ratio(big, """SELECT count(*) FILTER (WHERE a.overall_response = 'CCR'), count(*) FROM assessment a JOIN subject s USING (subject_id)
                        WHERE a.timepoint = 'RESTAGING' AND a.overall_response IS NOT NULL AND s.tumour_site <> 'RECTUM'""")
    assert 0.5 < nr < 0.8  # Cercek 2025: 35/54 = 65%


def test_strategy_follows_response(big):
    q = """SELECT count(*) FILTER (WHERE e.strategy = '{s}'), count(*) FROM strategy_episode e JOIN assessment a USING (subject_id)
           WHERE e.episode_no = 1 AND a.timepoint = 'RESTAGING' AND a.overall_response = '{r}'"""
    assert _ratio(big, q.format(s="WW", r="CCR")) > 0.8
    assert _ratio(big, q.format(s="RO", r="NON_CCR")) > 0.6
    assert _ratio(big, q.format(s="WW", r="NON_CCR")) < 0.02


def _cuminc_2y(con, sites: str) -> tuple[float, float]:
    """Crude 2-year cumulative incidence of regrowth among W&W patients followed >= 2 years or with a regrowth,
    and the share of all regrowths that happened within 2 years."""
    rows = con.execute(f"""
        SELECT e.subject_id, e.start_date, f.last_contact_date, r.event_date
        FROM strategy_episode e JOIN subject s USING (subject_id) JOIN follow_up f USING (subject_id)
        LEFT JOIN onc_event r ON r.subject_id = e.subject_id AND r.event_type = 'LOCAL_REGROWTH'
        WHERE e.episode_no = 1 AND e.strategy = 'WW' AND s.tumour_site IN ({sites})""").fetchall()
    two = 730
    events_2y = sum(1 for _, t1, lc, rg in rows if rg is not None and (rg - t1).days <= two)
    at_risk = sum(1 for _, t1, lc, rg in rows if (rg is not None and (rg - t1).days <= two) or (lc - t1).days >= two)
    return events_2y / at_risk, at_risk


def test_regrowth_cumulative_incidence(big):
    rect, n_rect = _cuminc_2y(big, "'RECTUM'")
    assert n_rect > 300 and 0.02 < rect < 0.15, rect
    upper, n_up = _cuminc_2y(big, "'GASTRIC', 'GEJ'")
    assert n_up > 80 and 0.10 < upper < 0.40, upper
    within = _ratio(big, """SELECT count(*) FILTER (WHERE r.event_date - e.start_date <= 730), count(*) FROM onc_event r
        JOIN strategy_episode e ON e.subject_id = r.subject_id AND e.episode_no = 1
        JOIN follow_up f ON f.subject_id = r.subject_id
        WHERE r.event_type = 'LOCAL_REGROWTH' AND f.last_contact_date - e.start_date >= 1460""")
    assert within > 0.75  # 88-94% within 2 years (IWWD, OPRA)


def test_salvage_mostly_r0(big):
    r0 = _ratio(big, """SELECT count(*) FILTER (WHERE p.r_status = 'R0'), count(*) FROM onc_event e JOIN procedure p
        ON p.subject_id = e.subject_id AND p.procedure_no = e.salvage_procedure_no WHERE e.event_type = 'LOCAL_REGROWTH' AND p.r_status IS NOT NULL""")
    assert r0 > 0.8


def test_irae_grade3_by_regimen(big):
    q = """SELECT count(DISTINCT a.subject_id) FILTER (WHERE a.grade >= 3), count(DISTINCT i.subject_id)
           FROM ici_exposure i LEFT JOIN ae a ON a.subject_id = i.subject_id AND a.attribution = 'ICI'
           WHERE i.exposure_no = 1 AND i.regimen_class = '{r}'"""
    pd1 = _ratio(big, q.format(r="PD1"))
    ctla4 = _ratio(big, q.format(r="PD1_CTLA4"))
    assert 0.01 < pd1 < 0.12, pd1
    assert 0.08 < ctla4 < 0.30, ctla4
    assert ctla4 > pd1
    any_pd1 = _ratio(big, q.replace("grade >= 3", "grade >= 1").format(r="PD1"))
    assert 0.4 < any_pd1 < 0.8  # anti-PD-1 any grade 66% (Wang 2019)


def test_leak_after_anterior_resection(big):
    leak = _ratio(big, "SELECT count(*) FILTER (WHERE leak_grade IN ('A', 'B', 'C')), count(*) FROM procedure WHERE procedure_type = 'TME_LAR' AND leak_grade <> 'NA'")
    assert 0.03 < leak < 0.16  # 8.6% (Cong 2013)


def test_major_lars_after_lar(big):
    major = _ratio(big, """SELECT count(*) FILTER (WHERE q.score >= 30), count(*) FROM qol q WHERE q.instrument = 'LARS' AND q.timepoint LIKE 'M%'
        AND EXISTS (SELECT 1 FROM procedure p WHERE p.subject_id = q.subject_id AND p.procedure_type = 'TME_LAR' AND p.procedure_date < q.qol_date)""")
    assert 0.35 < major < 0.7  # ~53% (population study, BJS)
    ww = _ratio(big, """SELECT count(*) FILTER (WHERE q.score >= 30), count(*) FROM qol q WHERE q.instrument = 'LARS' AND q.timepoint LIKE 'M%'
        AND NOT EXISTS (SELECT 1 FROM procedure p WHERE p.subject_id = q.subject_id)""")
    assert ww < major / 2


def test_exclusions_and_missed_visits(big):
    excl = _ratio(big, "SELECT count(*) FILTER (WHERE eligibility <> 'ELIGIBLE'), count(*) FROM subject")
    assert 0.03 < excl < 0.08
    pole = _ratio(big, "SELECT count(*) FILTER (WHERE biomarker_basis = 'POLE'), count(*) FROM subject")
    assert 0.005 < pole < 0.06
    braf_unknown = _ratio(big, "SELECT count(*) FILTER (WHERE braf = 'UNKNOWN'), count(*) FROM subject")
    assert braf_unknown > 0.3
