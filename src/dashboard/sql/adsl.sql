-- Subject-level analysis table (ADSL-like). Placeholders {{...}} are constants from
-- schema.py / derive.py, never user input.
CREATE TABLE adsl AS
WITH ici AS (
  SELECT subject_id,
         min(start_date) AS t0,
         max(coalesce(end_date, start_date)) AS ici_end_date,
         arg_min(regimen_class, (start_date, exposure_no)) AS regimen_class,
         sum(cycles) AS ici_cycles,
         count(*) AS n_regimens
  FROM ici_exposure GROUP BY subject_id
),
ep AS (
  SELECT subject_id,
         arg_min(strategy, episode_no) AS initial_strategy,
         arg_min(decision_date, episode_no) AS t1,
         arg_max(strategy, episode_no) AS final_strategy,
         count(*) AS n_episodes,
         bool_or(strategy = 'WW') AS ever_ww_fl
  FROM strategy_episode GROUP BY subject_id
),
resp AS (
  -- the response the MDT decided on: last restaging response on or before T1
  SELECT a.subject_id,
         arg_max(a.overall_response, (a.assessment_date, a.assessment_no)) AS restaging_response,
         max(a.assessment_date) AS restaging_date
  FROM assessment a LEFT JOIN ep USING (subject_id)
  WHERE a.timepoint = 'RESTAGING' AND a.overall_response IS NOT NULL
    AND (ep.t1 IS NULL OR a.assessment_date <= ep.t1)
  GROUP BY a.subject_id
),
surv AS (
  SELECT subject_id, max(assessment_date) AS last_assessment_date
  FROM assessment GROUP BY subject_id
),
proc AS (
  SELECT subject_id,
         min(procedure_date) AS first_resection_date,
         min(procedure_date) FILTER (WHERE procedure_type IN ({{RADICAL}})) AS organ_lost_date,
         arg_min(intent, (procedure_date, procedure_no)) FILTER (WHERE procedure_type IN ({{RADICAL}})) AS organ_lost_intent,
         arg_min(episode_no, (procedure_date, procedure_no)) FILTER (WHERE procedure_type IN ({{RADICAL}})) AS organ_lost_episode_no,
         min(procedure_date) FILTER (WHERE procedure_type IN ({{LOCAL}})) AS first_local_resection_date,
         bool_or(stoma = 'PERMANENT') AS permanent_stoma_fl
  FROM procedure GROUP BY subject_id
),
path1 AS (
  -- the first resection specimen
  SELECT p.subject_id,
         arg_min(struct_pack(ypt := pa.ypt, ypn := pa.ypn, res := pa.residual_viable_pct),
                 (p.procedure_date, p.procedure_no)) AS s
  FROM pathology pa JOIN procedure p USING (subject_id, procedure_no)
  GROUP BY p.subject_id
),
ev AS (
  -- every oncological event as the rules read it (``kind``): a regional nodal
  -- reappearance under Watch & Wait before any resection is a local regrowth, whatever
  -- event code recorded it (NODAL, or a local code with regrowth_site NODES)
  SELECT o.subject_id, o.event_no, o.event_type, o.event_date, o.salvage_procedure_no,
         CASE WHEN o.event_type <> 'LOCAL_REGROWTH' AND ep.initial_strategy = 'WW'
                   AND (proc.first_resection_date IS NULL OR o.event_date < proc.first_resection_date)
                   AND (o.event_type = 'NODAL' OR (o.event_type = 'LOCAL_RECUR' AND o.regrowth_site = 'NODES'))
              THEN 'LOCAL_REGROWTH' ELSE o.event_type END AS kind,
         (SELECT min(o2.event_date) FROM onc_event o2
           WHERE o2.subject_id = o.subject_id AND o2.event_date > o.event_date) AS next_event_date
  FROM onc_event o LEFT JOIN ep USING (subject_id) LEFT JOIN proc USING (subject_id)
),
salvage_cand AS (
  -- a SALVAGE-intent procedure on or after a regrowth that has no salvage link, before any
  -- other oncological event: the regrowth's salvage (inferred link; two candidates are a
  -- validation error, so the first is taken only for data that bypassed validation)
  SELECT e.subject_id, e.event_no,
         arg_min(p.procedure_no, (p.procedure_date, p.procedure_no)) AS inferred_no
  FROM ev e JOIN procedure p
    ON p.subject_id = e.subject_id AND p.intent = 'SALVAGE' AND p.procedure_date >= e.event_date
       AND (e.next_event_date IS NULL OR p.procedure_date < e.next_event_date)
  WHERE e.kind = 'LOCAL_REGROWTH' AND e.salvage_procedure_no IS NULL
  GROUP BY e.subject_id, e.event_no
),
linked AS (
  SELECT e.*, coalesce(e.salvage_procedure_no, c.inferred_no) AS link_no,
         (e.salvage_procedure_no IS NULL AND c.inferred_no IS NOT NULL) AS link_inferred_fl
  FROM ev e LEFT JOIN salvage_cand c USING (subject_id, event_no)
),
pathway AS (
  -- the salvage pathway of an event: its salvage procedure and every later completion or
  -- salvage procedure before the next oncological event; it ends with the last one's margin
  SELECT l.subject_id, l.event_no,
         arg_max(q.r_status, (q.procedure_date, q.procedure_no)) AS final_r_status
  FROM linked l
  JOIN procedure sp ON sp.subject_id = l.subject_id AND sp.procedure_no = l.link_no
  JOIN procedure q ON q.subject_id = l.subject_id
       AND (q.procedure_no = sp.procedure_no
            OR (q.intent IN ('COMPLETION', 'SALVAGE')
                AND (q.procedure_date > sp.procedure_date
                     OR (q.procedure_date = sp.procedure_date AND q.procedure_no > sp.procedure_no))
                AND (l.next_event_date IS NULL OR q.procedure_date < l.next_event_date)))
  GROUP BY l.subject_id, l.event_no
),
onc AS (
  SELECT l.subject_id,
         min(l.event_date) FILTER (WHERE l.kind = 'LOCAL_REGROWTH') AS first_regrowth_date,
         min(l.event_date) FILTER (WHERE l.kind = 'LOCAL_REGROWTH'
                                    AND pw.final_r_status IS DISTINCT FROM 'R0') AS first_unsalvaged_regrowth_date,
         min(l.event_date) FILTER (WHERE l.kind = 'LOCAL_RECUR') AS first_local_recur_date,
         min(l.event_date) FILTER (WHERE l.kind = 'NODAL') AS first_nodal_date,
         min(l.event_date) FILTER (WHERE l.kind IN ('LOCAL_RECUR', 'NODAL')
                                    AND pw.final_r_status IS DISTINCT FROM 'R0') AS first_unsalvaged_recur_date,
         min(l.event_date) FILTER (WHERE l.kind = 'DISTANT') AS first_distant_date,
         min(l.event_date) FILTER (WHERE l.kind = 'PROGRESSION') AS first_progression_date,
         min(l.event_date) FILTER (WHERE l.kind = 'SECOND_PRIMARY') AS first_second_primary_date,
         bool_or(l.kind = 'LOCAL_REGROWTH' AND l.link_no IS NOT NULL) AS regrowth_salvaged_fl,
         bool_or(l.kind = 'LOCAL_REGROWTH' AND l.event_type <> 'LOCAL_REGROWTH') AS nodal_regrowth_fl,
         bool_or(l.link_inferred_fl) AS salvage_link_inferred_fl
  FROM linked l LEFT JOIN pathway pw USING (subject_id, event_no)
  GROUP BY l.subject_id
),
choice AS (
  -- radical resections in an episode the patient chose (trigger PATIENT_CHOICE)
  SELECT p.subject_id, min(p.procedure_date) AS choice_radical_date
  FROM procedure p JOIN strategy_episode e USING (subject_id, episode_no)
  WHERE e.trigger = 'PATIENT_CHOICE' AND p.procedure_type IN ({{RADICAL}})
  GROUP BY p.subject_id
),
cutoff AS (SELECT max(last_contact_date) AS data_cutoff FROM follow_up),
joined AS (
  SELECT s.*,
         (s.eligibility = 'ELIGIBLE') AS eligible_fl,
         (ici.t0 IS NOT NULL) AS safety_fl,
         (s.eligibility = 'ELIGIBLE' AND ici.t0 IS NOT NULL) AS analysis_fl,
         ici.t0, ici.ici_end_date, ici.regimen_class, ici.ici_cycles, ici.n_regimens,
         resp.restaging_response, resp.restaging_date,
         ep.t1, ep.initial_strategy,
         CASE ep.initial_strategy {{GROUP_CASE}} END AS initial_group,
         ep.final_strategy,
         CASE ep.final_strategy {{GROUP_CASE}} END AS final_group,
         coalesce(ep.n_episodes, 0) AS n_episodes,
         coalesce(ep.ever_ww_fl, false) AS ever_ww_fl,
         proc.first_resection_date, proc.first_local_resection_date,
         proc.organ_lost_date, proc.organ_lost_intent,
         coalesce(proc.permanent_stoma_fl, false) AS permanent_stoma_fl,
         CASE WHEN ep.initial_strategy IN ('LE', 'ESD', 'EMR', 'RO') THEN proc.first_resection_date
              WHEN ep.initial_strategy = 'WW' THEN ep.t1 END AS index_date,
         onc.first_regrowth_date, onc.first_unsalvaged_regrowth_date,
         (SELECT min(o2.event_date) FROM ev o2
           WHERE o2.subject_id = s.subject_id AND o2.kind = 'LOCAL_RECUR'
             AND o2.event_date >= proc.first_resection_date) AS first_local_recur_after_resection_date,
         onc.first_local_recur_date, onc.first_nodal_date, onc.first_distant_date,
         onc.first_progression_date, onc.first_second_primary_date, onc.first_unsalvaged_recur_date,
         coalesce(onc.regrowth_salvaged_fl, false) AS regrowth_salvaged_fl,
         coalesce(onc.nodal_regrowth_fl, false) AS nodal_regrowth_fl,
         coalesce(onc.salvage_link_inferred_fl, false) AS salvage_link_inferred_fl,
         -- left Watch & Wait for a radical resection by their own choice, with nothing
         -- (regrowth, recurrence, metastasis, progression, death) before it
         coalesce(choice.choice_radical_date = proc.organ_lost_date
                  AND NOT coalesce(least(onc.first_regrowth_date, onc.first_local_recur_date, onc.first_nodal_date,
                                         onc.first_distant_date, onc.first_progression_date, f.death_date)
                                   <= proc.organ_lost_date, false), false) AS choice_exit_fl,
         least(coalesce(surv.last_assessment_date, resp.restaging_date, ep.t1), f.last_contact_date) AS last_surveillance_date,
         f.last_contact_date, f.vital_status, f.death_date, f.death_cause,
         cutoff.data_cutoff,
         path1.s.ypt AS first_ypt, path1.s.ypn AS first_ypn, path1.s.res AS first_residual_viable_pct
  FROM subject s
  LEFT JOIN ici USING (subject_id)
  LEFT JOIN ep USING (subject_id)
  LEFT JOIN resp USING (subject_id)
  LEFT JOIN surv USING (subject_id)
  LEFT JOIN proc USING (subject_id)
  LEFT JOIN path1 USING (subject_id)
  LEFT JOIN onc USING (subject_id)
  LEFT JOIN choice USING (subject_id)
  LEFT JOIN follow_up f USING (subject_id)
  CROSS JOIN cutoff
)
SELECT * EXCLUDE (fail12, reached12, choice12),
       CASE WHEN first_ypt IS NULL THEN NULL ELSE (first_ypt = 'T0' AND first_ypn = 'N0') END AS pcr_fl,
       CASE WHEN first_residual_viable_pct IS NULL THEN NULL ELSE first_residual_viable_pct <= 10 END AS mpr_fl,
       CASE WHEN first_residual_viable_pct IS NULL THEN NULL ELSE first_residual_viable_pct <= 50 END AS path_response_fl,
       date_diff('day', t0, last_contact_date) / {{DAYS_PER_MONTH}} AS followup_months,
       -- sustained cCR at 12 months after the last immunotherapy dose; a patient who left
       -- Watch & Wait for surgery by their own choice before that date is not evaluable
       CASE WHEN restaging_response = 'CCR' AND NOT choice12 AND (fail12 OR reached12) THEN NOT fail12 END AS sccr12_fl,
       coalesce(restaging_response = 'CCR' AND NOT choice12 AND (fail12 OR reached12), false) AS sccr12_evaluable_fl,
       coalesce(restaging_response = 'CCR' AND choice12, false) AS sccr12_choice_exit_fl,
       CASE
         WHEN vital_status = 'DEAD' THEN 'DEAD'
         WHEN last_contact_date < data_cutoff - INTERVAL {{LTFU_MONTHS}} MONTH THEN 'LOST_TO_FU'
         -- metastasis, progression, or a local / regional recurrence not salvaged with R0
         WHEN coalesce(first_distant_date, first_progression_date, first_unsalvaged_recur_date) IS NOT NULL
           THEN 'WITH_DISEASE'
         WHEN first_unsalvaged_regrowth_date IS NOT NULL THEN 'REGROWTH_NOT_SALVAGED'
         WHEN coalesce(first_local_recur_date, first_nodal_date) IS NOT NULL THEN 'RECURRENCE_SALVAGED'
         WHEN first_regrowth_date IS NOT NULL THEN 'REGROWTH_SALVAGED'
         WHEN organ_lost_date IS NULL THEN 'ORGAN_PRESERVED'
         ELSE 'RESECTED_NED'
       END AS status_at_last_fu
FROM (
  SELECT *,
         coalesce(least(first_regrowth_date, first_local_recur_date, first_nodal_date, first_distant_date,
                        first_progression_date, organ_lost_date, death_date)
                  < ici_end_date + INTERVAL 12 MONTH, false) AS fail12,
         coalesce(last_contact_date >= ici_end_date + INTERVAL 12 MONTH, false) AS reached12,
         coalesce(choice_exit_fl AND organ_lost_date < ici_end_date + INTERVAL 12 MONTH, false) AS choice12
  FROM joined
)
ORDER BY subject_id
